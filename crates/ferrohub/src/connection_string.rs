//! IoT Hub connection strings: `HostName=…;SharedAccessKeyName=…;SharedAccessKey=…` and the
//! device form. Split on `;`, then on the first `=`, as the SDKs do.

use anyhow::{Context, bail};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceConnectionString {
    pub host_name: String,
    pub key_name: String,
    pub key: String,
}

impl ServiceConnectionString {
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let mut host = None;
        let mut name = None;
        let mut key = None;
        for part in text.trim().split(';').filter(|p| !p.is_empty()) {
            let (k, v) = part
                .split_once('=')
                .with_context(|| format!("connection string part {part:?} has no '='"))?;
            match k {
                "HostName" => host = Some(v.to_owned()),
                "SharedAccessKeyName" => name = Some(v.to_owned()),
                "SharedAccessKey" => key = Some(v.to_owned()),
                _ => {}
            }
        }
        match (host, name, key) {
            (Some(host_name), Some(key_name), Some(key)) => Ok(Self {
                host_name,
                key_name,
                key,
            }),
            _ => bail!(
                "a service connection string needs HostName, SharedAccessKeyName and SharedAccessKey"
            ),
        }
    }

    pub fn to_text(&self) -> String {
        format!(
            "HostName={};SharedAccessKeyName={};SharedAccessKey={}",
            self.host_name, self.key_name, self.key
        )
    }
}

/// A device (or module) connection string.
pub fn device_connection_string(
    host: &str,
    device: &str,
    module: Option<&str>,
    key: &str,
) -> String {
    match module {
        Some(m) => format!("HostName={host};DeviceId={device};ModuleId={m};SharedAccessKey={key}"),
        None => format!("HostName={host};DeviceId={device};SharedAccessKey={key}"),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn service_connection_strings_round_trip() {
        let cs = ServiceConnectionString::parse(
            "HostName=h;SharedAccessKeyName=iothubowner;SharedAccessKey=a2V5PQ==",
        )
        .unwrap();
        assert_eq!(cs.key, "a2V5PQ==");
        assert_eq!(ServiceConnectionString::parse(&cs.to_text()).unwrap(), cs);
        assert!(ServiceConnectionString::parse("HostName=h").is_err());
    }
}
