//! `ferrohub ca list|show|upload|verification-code|verify|delete`: the hub's CA
//! certificates through `/ferrohub/certificates`.

use std::path::Path;

use anyhow::Context as _;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use hyper::Method;
use serde_json::json;

use super::context::Context;
use crate::cli::CaCommand;
use crate::client::{ApiClient, collect, segment};

fn path(name: &str) -> String {
    format!("/ferrohub/certificates/{}", segment(name))
}

/// A certificate file as the API takes it: text (PEM, or DER already in base64) as is,
/// binary DER as base64. DER never reads as UTF-8 (its second byte is a length byte such as
/// 0x82, which cannot start a UTF-8 character).
fn read_certificate(file: &Path) -> anyhow::Result<String> {
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    Ok(match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(binary) => BASE64.encode(binary.as_bytes()),
    })
}

/// Sends a request with headers and fails on a non-2xx answer with the API's message.
async fn call_with_headers(
    client: &ApiClient,
    method: Method,
    path: &str,
    body: Option<serde_json::Value>,
    headers: &[(&str, String)],
) -> anyhow::Result<serde_json::Value> {
    let response = collect(
        client
            .send_with_headers(method, path, body, headers)
            .await?,
    )
    .await?;
    if !response.status.is_success() {
        anyhow::bail!("{}", response.error_line());
    }
    if response.body.is_empty() {
        return Ok(serde_json::Value::Null);
    }
    response.json()
}

pub async fn run(ctx: &Context, cmd: CaCommand) -> anyhow::Result<()> {
    let client = ctx.client().await?;
    match cmd {
        CaCommand::List => {
            let list = client
                .call_ok(Method::GET, "/ferrohub/certificates", None)
                .await?
                .json()?;
            for c in list["value"].as_array().into_iter().flatten() {
                let p = &c["properties"];
                println!(
                    "{}\t{}\t{}\t{}\t{}",
                    c["name"].as_str().unwrap_or_default(),
                    if p["isVerified"].as_bool().unwrap_or(false) {
                        "verified"
                    } else {
                        "unverified"
                    },
                    p["thumbprint"].as_str().unwrap_or_default(),
                    p["expiry"].as_str().unwrap_or_default(),
                    p["subject"].as_str().unwrap_or_default(),
                );
            }
        }
        CaCommand::Show { name } => {
            let c = client.call_ok(Method::GET, &path(&name), None).await?;
            println!("{}", serde_json::to_string_pretty(&c.json()?)?);
        }
        CaCommand::Upload {
            name,
            file,
            verified,
            replace,
        } => {
            let body = json!({
                "properties": { "certificate": read_certificate(&file)?, "isVerified": verified },
            });
            // Without If-Match the API only creates; `*` replaces too.
            let headers = if replace {
                vec![("if-match", "*".to_owned())]
            } else {
                Vec::new()
            };
            let c =
                call_with_headers(&client, Method::PUT, &path(&name), Some(body), &headers).await?;
            println!("{}", serde_json::to_string_pretty(&c)?);
        }
        CaCommand::VerificationCode { name } => {
            let path = format!("{}/generateVerificationCode", path(&name));
            let c = call_with_headers(&client, Method::POST, &path, None, &[]).await?;
            let code = c["properties"]["verificationCode"]
                .as_str()
                .context("the server's answer has no verification code")?;
            println!("{code}");
        }
        CaCommand::Verify { name, file } => {
            let path = format!("{}/verify", path(&name));
            let body = json!({ "certificate": read_certificate(&file)? });
            call_with_headers(&client, Method::POST, &path, Some(body), &[]).await?;
            println!("verified {name}");
        }
        CaCommand::Delete { name } => {
            client.call_ok(Method::DELETE, &path(&name), None).await?;
            println!("deleted {name}");
        }
    }
    Ok(())
}
