//! `ferrohub sas-token --device ID [--module M] [--ttl S]`: a device or module token signed
//! with its primary key, for clients that take a token rather than a key.

use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context as _;

use super::context::Context;
use super::device::primary_key;
use crate::cli::SasTokenArgs;

pub async fn run(ctx: &Context, args: SasTokenArgs) -> anyhow::Result<()> {
    let client = ctx.client().await?;
    let key = primary_key(&client, &args.device, args.module.as_deref()).await?;
    let mut resource = format!("{}/devices/{}", client.credentials.host_name, args.device);
    if let Some(m) = &args.module {
        resource.push_str(&format!("/modules/{m}"));
    }
    let expiry = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs() + args.ttl;
    let token = ferrohub_protocol::sas::sign(&resource, &key, expiry, None)
        .context("the device key is not base64")?;
    println!("{token}");
    Ok(())
}
