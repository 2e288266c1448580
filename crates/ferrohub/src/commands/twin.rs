//! `ferrohub twin show|update|replace DEVICE [--module M] [--desired JSON] [--tags JSON]`.

use anyhow::Context as _;
use hyper::Method;
use serde_json::{Map, Value};

use super::context::Context;
use crate::cli::{TwinCommand, TwinWriteArgs};
use crate::client::segment;

fn twin_path(device: &str, module: Option<&str>) -> String {
    match module {
        Some(m) => format!("/twins/{}/modules/{}", segment(device), segment(m)),
        None => format!("/twins/{}", segment(device)),
    }
}

fn object(text: Option<&str>, flag: &str) -> anyhow::Result<Option<Value>> {
    let Some(text) = text else { return Ok(None) };
    let v: Value =
        serde_json::from_str(text).with_context(|| format!("{flag} must be a JSON object"))?;
    anyhow::ensure!(v.is_object(), "{flag} must be a JSON object");
    Ok(Some(v))
}

fn body(args: &TwinWriteArgs) -> anyhow::Result<Value> {
    let mut body = Map::new();
    if let Some(tags) = object(args.tags.as_deref(), "--tags")? {
        body.insert("tags".into(), tags);
    }
    if let Some(desired) = object(args.desired.as_deref(), "--desired")? {
        body.insert(
            "properties".into(),
            serde_json::json!({ "desired": desired }),
        );
    }
    Ok(Value::Object(body))
}

pub async fn run(ctx: &Context, cmd: TwinCommand) -> anyhow::Result<()> {
    let client = ctx.client().await?;
    let response = match cmd {
        TwinCommand::Show { device, module } => {
            client
                .call_ok(Method::GET, &twin_path(&device, module.as_deref()), None)
                .await?
        }
        TwinCommand::Update(args) | TwinCommand::Replace(args)
            if args.desired.is_none() && args.tags.is_none() =>
        {
            anyhow::bail!("give --desired and/or --tags (device {})", args.device)
        }
        TwinCommand::Update(args) => write(&client, Method::PATCH, &args).await?,
        TwinCommand::Replace(args) => write(&client, Method::PUT, &args).await?,
    };
    println!("{}", serde_json::to_string_pretty(&response.json()?)?);
    Ok(())
}

async fn write(
    client: &crate::client::ApiClient,
    method: Method,
    args: &TwinWriteArgs,
) -> anyhow::Result<crate::client::ApiResponse> {
    let path = twin_path(&args.device, args.module.as_deref());
    let headers: Vec<(&str, String)> = args
        .etag
        .iter()
        .map(|e| ("if-match", format!("\"{e}\"")))
        .collect();
    let response = client
        .send_with_headers(method, &path, Some(body(args)?), &headers)
        .await?;
    let r = crate::client::collect(response).await?;
    if !r.status.is_success() {
        anyhow::bail!("{}", r.error_line());
    }
    Ok(r)
}
