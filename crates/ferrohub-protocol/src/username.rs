//! The CONNECT username: `{HostName}/{clientId}/?{query}`.
//!
//! The client id is the anchor: device ids may contain `?`, so the username is split by
//! matching the client id the device sent, not by searching for `?`. The query is split on
//! `&`, then on the first `=`, then percent-decoded; Node leaves `model-id` raw while Python
//! encodes everything, and both forms must parse. Unknown parameters are kept, not refused.

use crate::sas::decode_component;

/// A parsed username.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username {
    /// The hub host name the device addressed (routes the connection to a hub).
    pub host: String,
    /// Decoded query parameters in order (`api-version`, `DeviceClientType`, `model-id`, ...).
    pub params: Vec<(String, String)>,
}

/// Why a username was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UsernameError {
    #[error("the username must be '{{host}}/{{client id}}/?api-version=...'")]
    Shape,
    #[error("the username names a different client id than the CONNECT packet")]
    ClientIdMismatch,
    #[error("the username's query string is not valid URL encoding")]
    BadEncoding,
}

impl Username {
    pub fn parse(text: &str, client_id: &str) -> Result<Self, UsernameError> {
        let (host, rest) = text.split_once('/').ok_or(UsernameError::Shape)?;
        if host.is_empty() {
            return Err(UsernameError::Shape);
        }
        let after_id = rest
            .strip_prefix(client_id)
            .ok_or(UsernameError::ClientIdMismatch)?;
        let query = match after_id {
            "" | "/" => "",
            _ => {
                let q = after_id
                    .strip_prefix('/')
                    .ok_or(UsernameError::ClientIdMismatch)?;
                q.strip_prefix('?').unwrap_or(q)
            }
        };
        let mut params = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let key = decode_component(k).ok_or(UsernameError::BadEncoding)?;
            // Node sends model-id raw, which may hold characters that are not escapes;
            // fall back to the raw text rather than refusing the device.
            let value = decode_component(v).unwrap_or_else(|| v.to_owned());
            params.push((key, value));
        }
        Ok(Self {
            host: host.to_owned(),
            params,
        })
    }

    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn python_username_with_encoded_user_agent_parses() {
        let u = Username::parse(
            "localhost/dev1/?api-version=2019-10-01&DeviceClientType=azure-iot-device-iothub-py%2F2.14.0%283.11.7%3BLinux%29",
            "dev1",
        )
        .unwrap();
        assert_eq!(u.host, "localhost");
        assert_eq!(u.param("api-version"), Some("2019-10-01"));
        assert_eq!(
            u.param("DeviceClientType"),
            Some("azure-iot-device-iothub-py/2.14.0(3.11.7;Linux)")
        );
    }

    #[test]
    fn node_username_with_raw_model_id_parses() {
        let u = Username::parse(
            "hub.local/dev1/mod1/?api-version=2021-04-12&model-id=dtmi:com:example;1&DeviceClientType=azure-iot-device%2F1.18.4%20(node)",
            "dev1/mod1",
        )
        .unwrap();
        assert_eq!(u.param("model-id"), Some("dtmi:com:example;1"));
        assert_eq!(
            u.param("DeviceClientType"),
            Some("azure-iot-device/1.18.4 (node)")
        );
    }

    #[test]
    fn device_ids_containing_a_question_mark_are_anchored_on_the_client_id() {
        let u = Username::parse("h/x?y/?api-version=1", "x?y").unwrap();
        assert_eq!(u.param("api-version"), Some("1"));
        assert_eq!(Username::parse("h/x?y", "x?y").unwrap().params, vec![]);
    }

    #[test]
    fn a_username_for_another_device_is_refused() {
        assert_eq!(
            Username::parse("h/dev2/?api-version=1", "dev1"),
            Err(UsernameError::ClientIdMismatch)
        );
        assert_eq!(
            Username::parse("h/dev10/?api-version=1", "dev1"),
            Err(UsernameError::ClientIdMismatch)
        );
        assert_eq!(Username::parse("nohost", "dev1"), Err(UsernameError::Shape));
    }
}
