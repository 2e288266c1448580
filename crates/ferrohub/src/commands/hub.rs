//! `ferrohub hub connection-string|create`.

use hyper::Method;
use serde_json::json;

use super::context::Context;
use crate::cli::HubCommand;

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
            println!(
                "(with the generated certificate, restart `ferrohub serve` so it also covers {hostname})"
            );
            println!("{}", cs.to_text());
        }
    }
    Ok(())
}
