//! Where the simulated devices connect and who they are.
//!
//! For ferrohub each device is created through the REST API (the server generates its keys)
//! and signs in like an IoT Hub device: client id = device id, the IoT Hub user name, a SAS
//! token as password. For a plain broker the identities are just names.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use bytes::Bytes;
use ferrohub::client::{ApiClient, segment};
use ferrohub::connection_string::ServiceConnectionString;
use hyper::Method;
use rustls::client::Resumption;
use rustls_pki_types::ServerName;
use serde_json::json;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::cli::TargetArgs;

/// REST calls in progress at once while creating or deleting devices.
const REST_CONCURRENCY: usize = 8;

/// The MQTT endpoint, with a TLS configuration built once for every connection.
pub struct Endpoint {
    pub address: String,
    pub server_name: ServerName<'static>,
    pub tls: Arc<rustls::ClientConfig>,
}

/// One simulated device's credentials and telemetry topic.
#[derive(Debug, Clone)]
pub struct Identity {
    pub client_id: String,
    pub username: Option<String>,
    pub password: Option<Bytes>,
    pub topic: String,
}

/// The server being measured.
pub enum Target {
    Hub {
        api: Arc<ApiClient>,
        keep_devices: bool,
    },
    Broker {
        username: Option<String>,
        password: Option<String>,
    },
}

impl Target {
    pub fn from_args(args: &TargetArgs) -> anyhow::Result<(Target, Endpoint)> {
        let mut tls = (*ferrohub::client::tls_config(&args.ca)?).clone();
        // Every simulated device is a different client; resuming sessions would make
        // their handshakes cheaper than real devices' are.
        tls.resumption = Resumption::disabled();
        let (target, default_name) = match (&args.hub_connection_string, &args.api_address) {
            (Some(cs), Some(api)) if !args.broker => {
                let credentials = ServiceConnectionString::parse(cs)?;
                let host = credentials.host_name.clone();
                let api = ApiClient::new(credentials, api.clone(), &args.ca)?;
                let target = Target::Hub {
                    api: Arc::new(api),
                    keep_devices: args.keep_devices,
                };
                (target, host)
            }
            _ => {
                let target = Target::Broker {
                    username: args.username.clone(),
                    password: args.password.clone(),
                };
                (target, host_of(&args.mqtt_address).to_owned())
            }
        };
        let name = args.tls_server_name.clone().unwrap_or(default_name);
        let server_name = ServerName::try_from(name.clone())
            .with_context(|| format!("{name} is not a valid TLS server name"))?;
        let endpoint = Endpoint {
            address: args.mqtt_address.clone(),
            server_name,
            tls: Arc::new(tls),
        };
        Ok((target, endpoint))
    }

    pub fn name(&self) -> &'static str {
        match self {
            Target::Hub { .. } => "ferrohub",
            Target::Broker { .. } => "broker",
        }
    }

    /// Creates (for ferrohub) the devices and returns their identities. Tokens stay valid
    /// for `lifetime`.
    pub async fn provision(
        &self,
        count: usize,
        lifetime: Duration,
    ) -> anyhow::Result<Vec<Identity>> {
        match self {
            Target::Broker { username, password } => Ok((0..count)
                .map(|i| Identity {
                    client_id: format!("bench-{i}"),
                    username: username.clone(),
                    password: password.clone().map(Bytes::from),
                    topic: format!("bench/{i}/telemetry"),
                })
                .collect()),
            Target::Hub { api, .. } => {
                let run = run_id()?;
                let expiry =
                    SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs() + lifetime.as_secs();
                let ids = (0..count).map(|i| format!("bench-{run}-{i}")).collect();
                let keys = for_each_device(api, ids, create_device).await?;
                let host = &api.credentials.host_name;
                keys.into_iter()
                    .map(|(id, key)| {
                        let token = ferrohub_protocol::sas::sign(
                            &format!("{host}/devices/{id}"),
                            &key,
                            expiry,
                            None,
                        )
                        .context("the server returned a key that is not base64")?;
                        Ok(Identity {
                            username: Some(format!("{host}/{id}/?api-version=2021-04-12")),
                            password: Some(Bytes::from(token)),
                            topic: format!("devices/{id}/messages/events/"),
                            client_id: id,
                        })
                    })
                    .collect()
            }
        }
    }

    /// Deletes the devices `provision` created, unless asked to keep them.
    pub async fn cleanup(&self, identities: &[Identity]) -> anyhow::Result<()> {
        if let Target::Hub {
            api,
            keep_devices: false,
        } = self
        {
            let ids = identities.iter().map(|d| d.client_id.clone()).collect();
            for_each_device(api, ids, delete_device).await?;
        }
        Ok(())
    }
}

/// The host part of `host:port` (brackets of an IPv6 literal removed).
fn host_of(address: &str) -> &str {
    let host = address.rsplit_once(':').map_or(address, |(h, _)| h);
    host.trim_start_matches('[').trim_end_matches(']')
}

/// Distinguishes this run's devices from leftovers of another run.
fn run_id() -> anyhow::Result<String> {
    let millis = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis();
    Ok(format!(
        "{:x}{:x}",
        millis % 0x1_0000_0000,
        std::process::id()
    ))
}

async fn create_device(api: Arc<ApiClient>, id: String) -> anyhow::Result<(String, String)> {
    let body = json!({
        "deviceId": id,
        "status": "enabled",
        "authentication": {
            "type": "sas",
            // Empty keys ask the server to generate them.
            "symmetricKey": { "primaryKey": "", "secondaryKey": "" },
        },
    });
    let r = api
        .call_ok(
            Method::PUT,
            &format!("/devices/{}", segment(&id)),
            Some(body),
        )
        .await
        .with_context(|| format!("cannot create device {id}"))?;
    let answer = r.json()?;
    let Some(key) = answer["authentication"]["symmetricKey"]["primaryKey"].as_str() else {
        bail!("the server's answer for {id} has no primaryKey");
    };
    Ok((id, key.to_owned()))
}

async fn delete_device(api: Arc<ApiClient>, id: String) -> anyhow::Result<(String, String)> {
    api.call_ok(Method::DELETE, &format!("/devices/{}", segment(&id)), None)
        .await
        .with_context(|| format!("cannot delete device {id}"))?;
    Ok((id, String::new()))
}

/// Runs `call` for every id with a few in progress at once; results keep the ids' order.
async fn for_each_device<F, Fut>(
    api: &Arc<ApiClient>,
    ids: Vec<String>,
    call: F,
) -> anyhow::Result<Vec<(String, String)>>
where
    F: Fn(Arc<ApiClient>, String) -> Fut,
    Fut: Future<Output = anyhow::Result<(String, String)>> + Send + 'static,
{
    let permits = Arc::new(Semaphore::new(REST_CONCURRENCY));
    let mut tasks = JoinSet::new();
    for (i, id) in ids.into_iter().enumerate() {
        let permit = permits.clone().acquire_owned().await?;
        let work = call(api.clone(), id);
        tasks.spawn(async move {
            let result = work.await;
            drop(permit);
            result.map(|r| (i, r))
        });
    }
    let mut results = Vec::with_capacity(tasks.len());
    while let Some(joined) = tasks.join_next().await {
        results.push(joined??);
    }
    results.sort_by_key(|(i, _)| *i);
    Ok(results.into_iter().map(|(_, r)| r).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_host_is_the_address_without_its_port() {
        assert_eq!(host_of("127.0.0.1:8883"), "127.0.0.1");
        assert_eq!(host_of("localhost:8883"), "localhost");
        assert_eq!(host_of("[::1]:8883"), "::1");
        assert_eq!(host_of("localhost"), "localhost");
    }
}
