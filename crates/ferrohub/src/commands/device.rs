//! `ferrohub device create|show|delete|list|connection-string`.

use anyhow::Context as _;
use hyper::Method;
use serde_json::json;

use super::context::Context;
use crate::cli::DeviceCommand;
use crate::client::{ApiClient, segment};
use crate::connection_string::device_connection_string;

pub async fn run(ctx: &Context, cmd: DeviceCommand) -> anyhow::Result<()> {
    let client = ctx.client().await?;
    match cmd {
        DeviceCommand::Create {
            id,
            primary_key,
            secondary_key,
            disabled,
        } => {
            let body = json!({
                "deviceId": id,
                "status": if disabled { "disabled" } else { "enabled" },
                "authentication": {
                    "type": "sas",
                    "symmetricKey": { "primaryKey": primary_key.unwrap_or_default(), "secondaryKey": secondary_key.unwrap_or_default() },
                },
            });
            let r = client
                .call_ok(
                    Method::PUT,
                    &format!("/devices/{}", segment(&id)),
                    Some(body),
                )
                .await?;
            println!("{}", serde_json::to_string_pretty(&r.json()?)?);
        }
        DeviceCommand::Show { id } => {
            let r = client
                .call_ok(Method::GET, &format!("/devices/{}", segment(&id)), None)
                .await?;
            println!("{}", serde_json::to_string_pretty(&r.json()?)?);
        }
        DeviceCommand::Delete { id } => {
            client
                .call_ok(Method::DELETE, &format!("/devices/{}", segment(&id)), None)
                .await?;
            println!("deleted {id}");
        }
        DeviceCommand::List => {
            let r = client.call_ok(Method::GET, "/devices", None).await?;
            let list = r.json()?;
            for d in list.as_array().into_iter().flatten() {
                println!(
                    "{}\t{}\t{}",
                    d["deviceId"].as_str().unwrap_or_default(),
                    d["status"].as_str().unwrap_or_default(),
                    d["connectionState"].as_str().unwrap_or_default()
                );
            }
        }
        DeviceCommand::ConnectionString { id } => {
            let key = primary_key(&client, &id, None).await?;
            println!(
                "{}",
                device_connection_string(&client.credentials.host_name, &id, None, &key)
            );
        }
    }
    Ok(())
}

/// The identity's primary key, read from the registry.
pub async fn primary_key(
    client: &ApiClient,
    device: &str,
    module: Option<&str>,
) -> anyhow::Result<String> {
    let path = match module {
        Some(m) => format!("/devices/{}/modules/{}", segment(device), segment(m)),
        None => format!("/devices/{}", segment(device)),
    };
    let r = client.call_ok(Method::GET, &path, None).await?;
    r.json()?["authentication"]["symmetricKey"]["primaryKey"]
        .as_str()
        .map(str::to_owned)
        .context("the identity has no symmetric key (it uses certificates)")
}
