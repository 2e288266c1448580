//! `ferrohub hub connection-string|create|show|update`.

use hyper::Method;
use serde_json::json;

use super::context::Context;
use crate::cli::HubCommand;
use crate::client::segment;

pub async fn run(ctx: &Context, cmd: HubCommand) -> anyhow::Result<()> {
    match cmd {
        HubCommand::ConnectionString { policy, hub } => {
            let cs = ctx
                .connection_string_from_data_dir(hub.as_deref(), &policy)
                .await?;
            println!("{}", cs.to_text());
        }
        HubCommand::Create { name, hostname } => {
            let client = ctx.client().await?;
            client
                .call_ok(
                    Method::POST,
                    "/ferrohub/hubs",
                    Some(json!({ "name": name, "hostname": hostname })),
                )
                .await?;
            let cs = ctx
                .connection_string_from_data_dir(Some(&name), "iothubowner")
                .await?;
            println!("created hub {name} at {hostname}");
            println!("{}", cs.to_text());
        }
        HubCommand::Show { name } => {
            let client = ctx.client_for_hub(&name).await?;
            let r = client
                .call_ok(
                    Method::GET,
                    &format!("/ferrohub/hubs/{}", segment(&name)),
                    None,
                )
                .await?;
            println!("{}", serde_json::to_string_pretty(&r.json()?)?);
        }
        HubCommand::Update {
            name,
            disable_device_sas,
            disable_module_sas,
        } => {
            let mut body = json!({});
            if let Some(disabled) = disable_device_sas {
                body["disableDeviceSAS"] = json!(disabled);
            }
            if let Some(disabled) = disable_module_sas {
                body["disableModuleSAS"] = json!(disabled);
            }
            let client = ctx.client_for_hub(&name).await?;
            let r = client
                .call_ok(
                    Method::PATCH,
                    &format!("/ferrohub/hubs/{}", segment(&name)),
                    Some(body),
                )
                .await?;
            println!("{}", serde_json::to_string_pretty(&r.json()?)?);
        }
    }
    Ok(())
}
