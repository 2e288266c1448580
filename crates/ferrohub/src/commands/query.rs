//! `ferrohub query "SELECT ..."`: every page of a twin query, as one JSON array.

use hyper::Method;
use serde_json::{Value, json};

use super::context::Context;

pub async fn run(ctx: &Context, query: &str, page_size: usize) -> anyhow::Result<()> {
    let client = ctx.client().await?;
    let mut rows = Vec::new();
    let mut continuation: Option<String> = None;
    loop {
        let mut headers = vec![("x-ms-max-item-count", page_size.to_string())];
        if let Some(token) = &continuation {
            headers.push(("x-ms-continuation", token.clone()));
        }
        let response = client
            .send_with_headers(
                Method::POST,
                "/devices/query",
                Some(json!({ "query": query })),
                &headers,
            )
            .await?;
        let next = response
            .headers()
            .get("x-ms-continuation")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let page = crate::client::collect(response).await?;
        if !page.status.is_success() {
            anyhow::bail!("{}", page.error_line());
        }
        if let Value::Array(items) = page.json()? {
            rows.extend(items);
        }
        match next {
            Some(token) => continuation = Some(token),
            None => break,
        }
    }
    println!("{}", serde_json::to_string_pretty(&Value::Array(rows))?);
    Ok(())
}
