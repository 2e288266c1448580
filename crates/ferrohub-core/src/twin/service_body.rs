//! The shape of a back end's twin write (`PATCH`/`PUT /twins/{id}`): which parts it may
//! write, which it may carry but are ignored, and which are refused.
//!
//! SDKs send more than `tags` and `properties.desired`: Python's `update_twin`/`replace_twin`
//! serialize a whole `Twin` model, which users typically fetched with `get_twin`. So:
//! - the identity fields the service view prints (deviceId, etag, version, status...) are
//!   ignored in both modes; `If-Match` carries concurrency, not the body's `etag`;
//! - `$version` at the root of `properties.desired` is ignored in both modes (SDKs echo it);
//! - a PUT carries a whole twin, so `properties.reported` and the desired root `$metadata` are
//!   ignored there; a PATCH that names them is trying to write them and is refused;
//! - `null` for `tags` or `properties.desired` means "empty" in a PUT and is refused in a
//!   PATCH (as a merge patch it would wipe the section, which IoT Hub does not offer);
//! - anything else (unknown fields, `$`-fields at the top) is refused.

use serde_json::{Map, Value};

use super::TwinError;

/// Top-level twin fields that are not the back end's to write; the service view prints them.
const IGNORED_FIELDS: &[&str] = &[
    "deviceId",
    "moduleId",
    "etag",
    "deviceEtag",
    "version",
    "status",
    "statusReason",
    "statusUpdateTime",
    "connectionState",
    "connectionStateUpdatedTime",
    "lastActivityTime",
    "cloudToDeviceMessageCount",
    "authenticationType",
    "x509Thumbprint",
    "capabilities",
    "modelId",
    "deviceScope",
    "parentScopes",
    "configurations",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Patch,
    Replace,
}

/// What a service write asks for, borrowed from the body: nothing is copied before the limits
/// are checked. `None` is "absent" in a PATCH and "empty" in a PUT.
#[derive(Debug, Default)]
pub struct ServiceBody<'a> {
    pub tags: Option<&'a Map<String, Value>>,
    pub desired: Option<&'a Map<String, Value>>,
}

/// Keys at the root of `properties.desired` that are dropped rather than written.
pub fn ignored_desired_keys(mode: Mode) -> &'static [&'static str] {
    match mode {
        Mode::Patch => &["$version"],
        Mode::Replace => &["$version", "$metadata"],
    }
}

pub fn parse(body: &Value, mode: Mode) -> Result<ServiceBody<'_>, TwinError> {
    let Value::Object(top) = body else {
        return Err(TwinError::InvalidJson(
            "the twin body must be a JSON object".to_owned(),
        ));
    };
    let mut out = ServiceBody::default();
    for (key, value) in top {
        match key.as_str() {
            "tags" => out.tags = section(value, "tags", mode)?,
            "properties" => out.desired = properties(value, mode)?,
            k if IGNORED_FIELDS.contains(&k) => {}
            k if k.starts_with('$') => return Err(TwinError::ReadOnlyProperty(short(k))),
            k => {
                return Err(TwinError::InvalidJson(format!(
                    "unknown twin field '{}'; a back end writes only tags and properties.desired",
                    short(k)
                )));
            }
        }
    }
    Ok(out)
}

fn properties(value: &Value, mode: Mode) -> Result<Option<&Map<String, Value>>, TwinError> {
    let props = match value {
        Value::Object(props) => props,
        Value::Null if mode == Mode::Replace => return Ok(None),
        _ => {
            return Err(TwinError::InvalidJson(
                "properties must be a JSON object".to_owned(),
            ));
        }
    };
    let mut desired = None;
    for (key, value) in props {
        match key.as_str() {
            "desired" => desired = section(value, "properties.desired", mode)?,
            "reported" if mode == Mode::Replace => {}
            "reported" => {
                return Err(TwinError::ReadOnlyProperty(
                    "properties.reported".to_owned(),
                ));
            }
            k => {
                return Err(TwinError::InvalidJson(format!(
                    "unknown field 'properties.{}'; only properties.desired can be written",
                    short(k)
                )));
            }
        }
    }
    Ok(desired)
}

fn section<'a>(
    value: &'a Value,
    name: &str,
    mode: Mode,
) -> Result<Option<&'a Map<String, Value>>, TwinError> {
    match value {
        Value::Object(map) => Ok(Some(map)),
        Value::Null if mode == Mode::Replace => Ok(None),
        _ => Err(TwinError::InvalidJson(format!(
            "{name} must be a JSON object"
        ))),
    }
}

fn short(key: &str) -> String {
    super::limits::shorten(key)
}
