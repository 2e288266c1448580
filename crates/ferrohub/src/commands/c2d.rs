//! `ferrohub c2d send|purge|feedback`.

use anyhow::Context as _;
use hyper::Method;
use serde_json::{Map, Value, json};

use super::context::Context;
use crate::cli::{C2dCommand, C2dSendArgs};
use crate::client::segment;

fn send_body(args: &C2dSendArgs) -> anyhow::Result<Value> {
    let mut properties = Map::new();
    for p in &args.properties {
        let (k, v) = p
            .split_once('=')
            .with_context(|| format!("--property {p:?} must be K=V"))?;
        properties.insert(k.to_owned(), Value::String(v.to_owned()));
    }
    let mut body = json!({ "body": args.data, "properties": properties, "ack": args.ack });
    for (field, value) in [
        ("messageId", &args.message_id),
        ("correlationId", &args.correlation_id),
        ("contentType", &args.content_type),
        ("contentEncoding", &args.content_encoding),
    ] {
        if let Some(v) = value {
            body[field] = json!(v);
        }
    }
    if let Some(ttl) = args.ttl {
        body["ttlSeconds"] = json!(ttl);
    }
    Ok(body)
}

pub async fn run(ctx: &Context, cmd: C2dCommand) -> anyhow::Result<()> {
    let client = ctx.client().await?;
    match cmd {
        C2dCommand::Send(args) => {
            let path = format!(
                "/ferrohub/devices/{}/messages/devicebound",
                segment(&args.device)
            );
            let r = client
                .call_ok(Method::POST, &path, Some(send_body(&args)?))
                .await?;
            println!("{}", r.json()?["messageId"].as_str().unwrap_or_default());
        }
        C2dCommand::Purge { device } => {
            let r = client
                .call_ok(
                    Method::DELETE,
                    &format!("/devices/{}/commands", segment(&device)),
                    None,
                )
                .await?;
            println!("purged {} message(s)", r.json()?["totalMessagesPurged"]);
        }
        C2dCommand::Feedback { peek } => {
            let r = client
                .call_ok(Method::GET, "/messages/serviceBound/feedback", None)
                .await?;
            if r.status == hyper::StatusCode::NO_CONTENT {
                return Ok(());
            }
            let records = r.json()?;
            for record in records.as_array().into_iter().flatten() {
                println!("{}", serde_json::to_string(record)?);
            }
            let lock = r
                .etag()
                .context("the feedback answer carries no lock token")?;
            let path = if peek {
                format!("/messages/serviceBound/feedback/{}/abandon", segment(&lock))
            } else {
                format!("/messages/serviceBound/feedback/{}", segment(&lock))
            };
            let method = if peek { Method::POST } else { Method::DELETE };
            client.call_ok(method, &path, None).await?;
        }
    }
    Ok(())
}
