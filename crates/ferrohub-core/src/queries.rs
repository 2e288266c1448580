//! `POST /devices/query`: IoT Hub's twin query language over the registry and twins.
//!
//! The query is parsed into an AST and evaluated in memory over twin documents built exactly
//! as `GET /twins/{id}` returns them, so a field a client can read is a field it can query.
//! Nothing is ever pasted into SQL. Results are paged with an opaque continuation token.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ferrohub_protocol::{DeviceId, HubName};
use serde_json::Value;

use crate::error::HubError;
use crate::hub::Hub;
use crate::query::{self, Source};
use crate::twin::TwinDocument;

/// IoT Hub's page size limit.
pub const MAX_PAGE_SIZE: usize = 100;
/// Registry rows read per store call while collecting documents.
const LIST_BATCH: usize = 1000;

/// One page of results.
#[derive(Debug, Clone)]
pub struct QueryPage {
    pub items: Vec<Value>,
    /// `x-ms-item-type`: `twin` for `SELECT *`, `raw` for projections and aggregates.
    pub item_type: &'static str,
    /// Present only when another page exists.
    pub continuation: Option<String>,
}

fn encode_offset(offset: usize) -> String {
    URL_SAFE_NO_PAD.encode(format!("offset:{offset}"))
}

fn decode_offset(token: &str) -> Result<usize, HubError> {
    URL_SAFE_NO_PAD
        .decode(token.trim().as_bytes())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|t| t.strip_prefix("offset:").and_then(|n| n.parse().ok()))
        .ok_or_else(|| HubError::InvalidArgument("The continuation token is not valid".into()))
}

impl Hub {
    /// Runs a query and returns the page starting at `continuation`.
    pub async fn query(
        &self,
        hub: &HubName,
        text: &str,
        page_size: Option<usize>,
        continuation: Option<&str>,
    ) -> Result<QueryPage, HubError> {
        let parsed = query::parse(text)
            .map_err(|e| HubError::InvalidArgument(format!("The query is invalid: {e}")))?;
        let documents = match parsed.source() {
            Source::Devices => self.twin_documents(hub, false).await?,
            Source::Modules => self.twin_documents(hub, true).await?,
            Source::Jobs => {
                return Err(HubError::InvalidArgument(
                    "Queries over devices.jobs are not supported by this ferrohub version".into(),
                ));
            }
        };
        let rows = query::execute(&parsed, documents.iter())
            .map_err(|e| HubError::InvalidArgument(format!("The query is invalid: {e}")))?;
        let size = page_size.unwrap_or(MAX_PAGE_SIZE).clamp(1, MAX_PAGE_SIZE);
        let start = continuation.map(decode_offset).transpose()?.unwrap_or(0);
        let end = start.saturating_add(size).min(rows.len());
        let items = rows
            .get(start..end)
            .map(<[Value]>::to_vec)
            .unwrap_or_default();
        Ok(QueryPage {
            items,
            item_type: if parsed.is_select_star() {
                "twin"
            } else {
                "raw"
            },
            continuation: (end < rows.len()).then(|| encode_offset(end)),
        })
    }

    /// Every device (or every module) twin of the hub, in registry order.
    async fn twin_documents(&self, hub: &HubName, modules: bool) -> Result<Vec<Value>, HubError> {
        let mut stored: std::collections::HashMap<(String, Option<String>), TwinDocument> =
            std::collections::HashMap::new();
        for record in self.store().list_twins(hub.clone(), modules).await? {
            if let Ok(doc) = serde_json::from_value::<TwinDocument>(record.document) {
                stored.insert(
                    (
                        record.identity.device_id.to_string(),
                        record.identity.module_id.map(|m| m.to_string()),
                    ),
                    doc,
                );
            }
        }
        let mut documents = Vec::new();
        let mut after: Option<DeviceId> = None;
        loop {
            let devices = self
                .store()
                .list_devices(hub.clone(), after.clone(), LIST_BATCH)
                .await?;
            let Some(last) = devices.last() else { break };
            after = Some(last.device_id.clone());
            for device in &devices {
                let identities = if modules {
                    self.store()
                        .list_modules(hub.clone(), device.device_id.clone())
                        .await?
                } else {
                    vec![device.clone()]
                };
                for record in identities {
                    let key = (
                        record.device_id.to_string(),
                        record.module_id.as_ref().map(|m| m.to_string()),
                    );
                    let doc = stored
                        .remove(&key)
                        .unwrap_or_else(|| TwinDocument::new(self.now()));
                    documents.push(doc.service_view(self.twin_identity_fields(hub, &record)));
                }
            }
            if devices.len() < LIST_BATCH {
                break;
            }
        }
        Ok(documents)
    }
}
