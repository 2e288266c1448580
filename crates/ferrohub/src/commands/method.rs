//! `ferrohub method invoke DEVICE NAME [--payload JSON] [--timeout S] [--module M]`.

use anyhow::Context as _;
use hyper::Method;
use serde_json::json;

use super::context::Context;
use crate::cli::MethodCommand;
use crate::client::segment;

pub async fn run(ctx: &Context, cmd: MethodCommand) -> anyhow::Result<()> {
    let MethodCommand::Invoke {
        device,
        name,
        payload,
        timeout,
        connect_timeout,
        module,
    } = cmd;
    let payload: serde_json::Value = match payload {
        Some(text) => serde_json::from_str(&text)
            .context("--payload must be JSON (quote strings: '\"text\"')")?,
        None => serde_json::Value::Null,
    };
    let path = match &module {
        Some(m) => format!("/twins/{}/modules/{}/methods", segment(&device), segment(m)),
        None => format!("/twins/{}/methods", segment(&device)),
    };
    let body = json!({
        "methodName": name,
        "payload": payload,
        "responseTimeoutInSeconds": timeout,
        "connectTimeoutInSeconds": connect_timeout,
    });
    let client = ctx.client().await?;
    let r = client.call_ok(Method::POST, &path, Some(body)).await?;
    println!("{}", serde_json::to_string_pretty(&r.json()?)?);
    Ok(())
}
