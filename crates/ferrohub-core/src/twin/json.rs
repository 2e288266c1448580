//! The twin as each audience sees it on the wire: the device's GET reply, the desired-property
//! notification, and the REST API's twin JSON.
//!
//! The device view leaves `$metadata` out. The MQTT guide allows it, but no device SDK reads
//! it (Python and Node read only the properties and `$version`), and it roughly doubles the
//! reply. `desired.$version` is always present: Python's SDK fails without it.

use serde_json::{Map, Value};

use super::patch::{LAST_UPDATED, LAST_UPDATED_VERSION};
use super::{Section, ServiceUpdate, TwinDocument};

impl TwinDocument {
    /// The body of `$iothub/twin/res/200`:
    /// `{"desired":{…,"$version":N},"reported":{…,"$version":M}}`.
    pub fn device_view(&self) -> Value {
        let mut out = Map::new();
        out.insert("desired".to_owned(), device_section(&self.desired));
        out.insert("reported".to_owned(), device_section(&self.reported));
        Value::Object(out)
    }

    /// The body of `$iothub/twin/PATCH/properties/desired/?$version=N`: the desired patch with
    /// `"$version": N` inside. `None` when the write did not touch desired.
    pub fn desired_notification(update: &ServiceUpdate) -> Option<Value> {
        let Some(Value::Object(patch)) = &update.desired_patch else {
            return None;
        };
        let mut body = patch.clone();
        body.insert("$version".to_owned(), Value::from(update.desired_version));
        Some(Value::Object(body))
    }

    /// The REST twin JSON: the caller's identity fields (deviceId, moduleId, status,
    /// connectionState, deviceEtag, modelId…, in the caller's order) followed by `etag`,
    /// `version`, `tags` and `properties` with `$metadata` and `$version`. Those four are the
    /// document's: if `identity_fields` has them, the document's values win.
    pub fn service_view(&self, identity_fields: Map<String, Value>) -> Value {
        let mut out = identity_fields;
        out.insert("etag".to_owned(), Value::String(self.etag.clone()));
        out.insert("version".to_owned(), Value::from(self.version));
        out.insert("tags".to_owned(), Value::Object(self.tags.clone()));
        let mut properties = Map::new();
        properties.insert("desired".to_owned(), service_section(&self.desired, true));
        properties.insert(
            "reported".to_owned(),
            service_section(&self.reported, false),
        );
        out.insert("properties".to_owned(), Value::Object(properties));
        Value::Object(out)
    }
}

fn device_section(section: &Section) -> Value {
    let mut out = section.properties.clone();
    out.insert("$version".to_owned(), Value::from(section.version));
    Value::Object(out)
}

/// A section with `$metadata` (root stamp first, then the per-key tree) and `$version`.
/// `with_version` puts `$lastUpdatedVersion` on the root stamp, as desired has it.
fn service_section(section: &Section, with_version: bool) -> Value {
    let mut metadata = Map::new();
    metadata.insert(
        LAST_UPDATED.to_owned(),
        Value::String(section.last_updated.clone()),
    );
    if with_version {
        metadata.insert(
            LAST_UPDATED_VERSION.to_owned(),
            Value::from(section.version),
        );
    }
    for (key, value) in &section.metadata {
        metadata.insert(key.clone(), value.clone());
    }
    let mut out = section.properties.clone();
    out.insert("$metadata".to_owned(), Value::Object(metadata));
    out.insert("$version".to_owned(), Value::from(section.version));
    Value::Object(out)
}
