//! A device-to-cloud message as the session hands it to the hub, before the hub stamps it.
//!
//! System properties arrive as `$.`-prefixed bag keys and are translated once, here, into
//! the names IoT Hub's event stream uses (`$.mid` becomes `message-id`). Keys a device must
//! not set (the identity the hub stamps, such as `$.cdid`) are dropped here, so a device can
//! never claim another identity (hostile case D4).

use bytes::Bytes;

use crate::property_bag::{Property, PropertyBagError, decode};

/// Bag keys a device may set, and the event-stream names they become.
const SYSTEM_PROPERTY_NAMES: &[(&str, &str)] = &[
    ("$.mid", "message-id"),
    ("$.cid", "correlation-id"),
    ("$.uid", "user-id"),
    ("$.ct", "content-type"),
    ("$.ce", "content-encoding"),
    ("$.exp", "absolute-expiry-time"),
    ("$.to", "to"),
    ("$.sub", "dt-subject"),
    ("$.ifid", "iothub-interface-id"),
    ("$.on", "iothub-outputname"),
    ("$.ctime", "iothub-creation-time-utc"),
    ("$.schema", "dt-dataschema"),
];

/// A device-to-cloud message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TelemetryMessage {
    pub body: Bytes,
    /// Application properties, in the order sent.
    pub properties: Vec<(String, String)>,
    /// Device-settable system properties, already under their event-stream names.
    pub system_properties: Vec<(&'static str, String)>,
    pub kind: MessageKind,
}

/// Why the message exists: a normal publish, or a Will sent on the device's behalf.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKind {
    Telemetry,
    Will,
}

impl TelemetryMessage {
    /// Builds a message from a topic's property bag (the text after `messages/events/`).
    pub fn from_bag(
        bag: &str,
        body: Bytes,
        retain: bool,
        kind: MessageKind,
    ) -> Result<Self, PropertyBagError> {
        let mut properties = Vec::new();
        let mut system_properties = Vec::new();
        for Property { key, value } in decode(bag)? {
            let value = value.unwrap_or_default();
            if let Some(rest) = key.strip_prefix("$.") {
                if let Some((_, name)) = SYSTEM_PROPERTY_NAMES.iter().find(|(k, _)| k[2..] == *rest)
                {
                    system_properties.push((*name, value));
                }
                // Unknown and hub-owned `$.` keys (`$.cdid`, `$.cmid`, ...) are dropped.
                continue;
            }
            if key.starts_with("iothub-") {
                // The hub stamps its own `iothub-*` properties; a device may not forge them.
                continue;
            }
            properties.push((key, value));
        }
        // IoT Hub's documented behaviour: RETAIN is not stored but forwarded as a property.
        if retain {
            properties.push(("x-opt-retain".to_owned(), "true".to_owned()));
        }
        Ok(Self {
            body,
            properties,
            system_properties,
            kind,
        })
    }

    pub fn system_property(&self, name: &str) -> Option<&str> {
        self.system_properties
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn system_properties_are_renamed_and_application_properties_kept_in_order() {
        let m = TelemetryMessage::from_bag(
            "%24.mid=m1&%24.cid=c1&%24.ct=application%2Fjson&%24.ce=utf-8&%24.sub=thermostat1&z=1&a=2",
            Bytes::from_static(b"{}"),
            false,
            MessageKind::Telemetry,
        )
        .unwrap();
        assert_eq!(m.system_property("message-id"), Some("m1"));
        assert_eq!(m.system_property("correlation-id"), Some("c1"));
        assert_eq!(m.system_property("content-type"), Some("application/json"));
        assert_eq!(m.system_property("dt-subject"), Some("thermostat1"));
        assert_eq!(
            m.properties,
            vec![("z".into(), "1".into()), ("a".into(), "2".into())]
        );
    }

    #[test]
    fn a_device_cannot_forge_the_identity_the_hub_stamps() {
        let m = TelemetryMessage::from_bag(
            "%24.cdid=victim&iothub-connection-device-id=victim&ok=1",
            Bytes::new(),
            false,
            MessageKind::Telemetry,
        )
        .unwrap();
        assert_eq!(m.properties, vec![("ok".into(), "1".into())]);
        assert!(m.system_properties.is_empty());
    }

    #[test]
    fn retain_becomes_the_x_opt_retain_property() {
        let m = TelemetryMessage::from_bag("", Bytes::new(), true, MessageKind::Telemetry).unwrap();
        assert_eq!(m.properties, vec![("x-opt-retain".into(), "true".into())]);
    }
}
