//! `ferrohub monitor`: print telemetry as it arrives, like `az iot hub monitor-events`.
//!
//! Reads the server's NDJSON stream; `--timeout` ends after that many seconds without an
//! event (heartbeat lines do not count). With `--consumer-group`, the group's checkpoints are
//! committed when the command ends, so the next run continues where this one stopped.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::bail;
use http_body_util::BodyExt;
use hyper::Method;
use serde_json::{Value, json};
use tokio::time::Instant;

use super::context::Context;
use crate::cli::MonitorArgs;
use crate::client::{ApiClient, segment};

pub async fn run(ctx: &Context, args: MonitorArgs) -> anyhow::Result<()> {
    let client = ctx.client().await?;
    let from = args.from.clone().unwrap_or_else(|| {
        if args.consumer_group.is_some() {
            "checkpoint"
        } else {
            "latest"
        }
        .to_owned()
    });
    let mut path = format!("/ferrohub/telemetry?from={}", segment(&from));
    if let Some(g) = &args.consumer_group {
        path.push_str(&format!("&consumerGroup={}", segment(g)));
    }
    if let Some(d) = &args.device {
        path.push_str(&format!("&deviceId={}", segment(d)));
    }
    if args.include_events {
        path.push_str("&events=true");
    }
    let response = client.send(Method::GET, &path, None).await?;
    let status = response.status();
    if !status.is_success() {
        let _ = status;
        bail!("{}", crate::client::collect(response).await?.error_line());
    }
    let mut body = response.into_body();
    let idle = args.timeout.map(Duration::from_secs);
    let mut deadline = idle.map(|d| Instant::now() + d);
    let mut pending = Vec::new();
    let mut next_sequence: BTreeMap<u64, u64> = BTreeMap::new();
    loop {
        let frame = match deadline {
            Some(d) => match tokio::time::timeout_at(d, body.frame()).await {
                Ok(f) => f,
                Err(_) => break,
            },
            None => body.frame().await,
        };
        let Some(frame) = frame else { break };
        let Ok(data) = frame?.into_data() else {
            continue;
        };
        pending.extend_from_slice(&data);
        while let Some(pos) = pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = pending.drain(..=pos).collect();
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let event: Value = serde_json::from_slice(&line)?;
            if let (Some(p), Some(s)) = (
                event["partition"].as_u64(),
                event["sequenceNumber"].as_u64(),
            ) {
                next_sequence.insert(p, s + 1);
            }
            print_event(&event, args.json)?;
            deadline = idle.map(|d| Instant::now() + d);
        }
    }
    if let Some(group) = &args.consumer_group {
        commit(&client, group, &next_sequence).await?;
    }
    Ok(())
}

async fn commit(client: &ApiClient, group: &str, next: &BTreeMap<u64, u64>) -> anyhow::Result<()> {
    if next.is_empty() {
        return Ok(());
    }
    let body: Vec<Value> = next
        .iter()
        .map(|(p, s)| json!({ "partition": p, "nextSequenceNumber": s }))
        .collect();
    client
        .call_ok(
            Method::POST,
            &format!("/ferrohub/consumer-groups/{}/checkpoints", segment(group)),
            Some(Value::Array(body)),
        )
        .await?;
    Ok(())
}

/// The body as JSON when the content type says so (and it parses), else as text.
fn decoded_body(event: &Value) -> Value {
    let text = event["body"].as_str();
    let is_json = event["systemProperties"]["content-type"]
        .as_str()
        .is_some_and(|ct| ct.to_ascii_lowercase().contains("json"));
    match text {
        Some(t) if is_json => {
            serde_json::from_str(t).unwrap_or_else(|_| Value::String(t.to_owned()))
        }
        Some(t) => Value::String(t.to_owned()),
        None => json!({ "base64": event["bodyBase64"] }),
    }
}

fn print_event(event: &Value, as_json: bool) -> anyhow::Result<()> {
    let system = &event["systemProperties"];
    let device = system["iothub-connection-device-id"].clone();
    let module = system["iothub-connection-module-id"].clone();
    if as_json {
        let line = json!({
            "deviceId": device,
            "moduleId": module,
            "body": decoded_body(event),
            "properties": event["properties"],
            "systemProperties": system,
            "enqueuedTime": event["enqueuedTime"],
            "partition": event["partition"],
            "sequenceNumber": event["sequenceNumber"],
            "messageSource": system["iothub-message-source"],
        });
        println!("{}", serde_json::to_string(&line)?);
    } else {
        let shown = json!({
            "event": {
                "origin": device,
                "module": module.as_str().unwrap_or_default(),
                "component": system["dt-subject"].as_str().unwrap_or_default(),
                "payload": decoded_body(event),
                "properties": { "application": event["properties"], "system": system },
            }
        });
        println!("{}", serde_json::to_string_pretty(&shown)?);
    }
    Ok(())
}
