//! Topic names and filters, parsed once into typed enums and checked against the identity.
//!
//! IoT Hub is not a general broker: only the documented topics of the authenticated identity
//! exist. Anything else, including another device's topics and wildcards, is `NotAllowed`, and
//! the session closes the connection. Ids in topics are compared raw (the SDKs never encode
//! them).

use std::fmt;

use crate::ids::Identity;
use crate::sas::decode_component;

/// Longest `$rid` accepted; request ids are echoed back, so they are bounded.
pub const MAX_REQUEST_ID_LEN: usize = 256;

/// Longest PUBLISH or Will topic accepted. MQTT allows 64 KiB, but an IoT Hub topic is an id
/// and a property bag, and every message carries its bag into storage: half of that is far
/// beyond any real bag (at most 256 properties), and a longer topic closes (hostile A14).
pub const MAX_TOPIC_LEN: usize = 32 * 1024;

/// A twin or method request id (`$rid` on the wire).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RequestId(String);

impl RequestId {
    pub fn new(raw: impl Into<String>) -> Option<Self> {
        let raw = raw.into();
        (!raw.is_empty() && raw.len() <= MAX_REQUEST_ID_LEN).then_some(Self(raw))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A PUBLISH topic a device may use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceTopic<'a> {
    /// `devices/{d}[/modules/{m}]/messages/events/{bag}`; `bag` may be empty.
    Telemetry { bag: &'a str },
    /// `$iothub/twin/GET/?$rid={rid}`
    TwinGet { request_id: RequestId },
    /// `$iothub/twin/PATCH/properties/reported/?$rid={rid}`
    TwinPatchReported { request_id: RequestId },
    /// `$iothub/methods/res/{status}/?$rid={rid}`
    MethodResponse { status: u16, request_id: RequestId },
}

/// A topic filter a device may subscribe to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Subscription {
    /// `devices/{d}/messages/devicebound/#`
    CloudToDevice,
    /// `devices/{d}/modules/{m}/inputs/#`
    ModuleInputs,
    /// `$iothub/twin/res/#`
    TwinResponses,
    /// `$iothub/twin/PATCH/properties/desired/#`
    DesiredPatches,
    /// `$iothub/methods/POST/#`
    MethodRequests,
}

impl Subscription {
    /// The filter text for `identity`, as the SDKs subscribe to it.
    pub fn filter(self, identity: &Identity) -> String {
        match self {
            Self::CloudToDevice => format!("devices/{}/messages/devicebound/#", identity.device_id),
            Self::ModuleInputs => format!("{}/inputs/#", identity.resource_path()),
            Self::TwinResponses => "$iothub/twin/res/#".to_owned(),
            Self::DesiredPatches => "$iothub/twin/PATCH/properties/desired/#".to_owned(),
            Self::MethodRequests => "$iothub/methods/POST/#".to_owned(),
        }
    }

    /// Parses a SUBSCRIBE/UNSUBSCRIBE filter; `None` when it is not documented for `identity`.
    pub fn parse(filter: &str, identity: &Identity) -> Option<Self> {
        match filter {
            "$iothub/twin/res/#" => Some(Self::TwinResponses),
            "$iothub/twin/PATCH/properties/desired/#" => Some(Self::DesiredPatches),
            "$iothub/methods/POST/#" => Some(Self::MethodRequests),
            _ => [Self::CloudToDevice, Self::ModuleInputs]
                .into_iter()
                .filter(|s| {
                    // C2D is device-only; inputs are module-only.
                    (*s == Self::CloudToDevice) == identity.module_id.is_none()
                })
                .find(|s| s.filter(identity) == filter),
        }
    }
}

/// The topic is not one this identity may publish to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the topic {0:?} is not a documented IoT Hub topic for this identity")]
pub struct TopicNotAllowed(pub String);

/// Parses a PUBLISH topic for `identity`.
pub fn parse_publish<'a>(
    topic: &'a str,
    identity: &Identity,
) -> Result<DeviceTopic<'a>, TopicNotAllowed> {
    if topic.len() > MAX_TOPIC_LEN {
        // Name only the start: the reason is logged, and the topic may be 64 KiB.
        let start = &topic[..topic.floor_char_boundary(64)];
        return Err(TopicNotAllowed(format!(
            "{start}... ({} bytes, above {MAX_TOPIC_LEN})",
            topic.len()
        )));
    }
    let refuse = || TopicNotAllowed(topic.to_owned());
    if let Some(rest) = topic.strip_prefix("$iothub/") {
        return parse_iothub_topic(rest).ok_or_else(refuse);
    }
    let own = identity.resource_path();
    let rest = topic
        .strip_prefix(own.as_str())
        .and_then(|r| r.strip_prefix("/messages/events"))
        .ok_or_else(refuse)?;
    match rest {
        "" => Ok(DeviceTopic::Telemetry { bag: "" }),
        _ => rest
            .strip_prefix('/')
            .map(|bag| DeviceTopic::Telemetry { bag })
            .ok_or_else(refuse),
    }
}

fn parse_iothub_topic(rest: &str) -> Option<DeviceTopic<'_>> {
    if let Some(query) = rest.strip_prefix("twin/GET/?") {
        return Some(DeviceTopic::TwinGet {
            request_id: request_id(query)?,
        });
    }
    if let Some(query) = rest.strip_prefix("twin/PATCH/properties/reported/?") {
        return Some(DeviceTopic::TwinPatchReported {
            request_id: request_id(query)?,
        });
    }
    let rest = rest.strip_prefix("methods/res/")?;
    let (status, query) = rest.split_once("/?")?;
    if status.is_empty() || status.len() > 3 || !status.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(DeviceTopic::MethodResponse {
        status: status.parse().ok()?,
        request_id: request_id(query)?,
    })
}

fn request_id(query: &str) -> Option<RequestId> {
    query
        .split('&')
        .filter_map(|p| p.split_once('='))
        .find(|(k, _)| *k == "$rid")
        .and_then(|(_, v)| decode_component(v))
        .and_then(RequestId::new)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn dev(id: &str) -> Identity {
        Identity::from_client_id(id).unwrap()
    }

    #[test]
    fn own_telemetry_topics_parse_with_and_without_a_bag() {
        let d = dev("dev1");
        assert_eq!(
            parse_publish("devices/dev1/messages/events/", &d),
            Ok(DeviceTopic::Telemetry { bag: "" })
        );
        assert_eq!(
            parse_publish("devices/dev1/messages/events", &d),
            Ok(DeviceTopic::Telemetry { bag: "" })
        );
        assert_eq!(
            parse_publish("devices/dev1/messages/events/a=1&b=2", &d),
            Ok(DeviceTopic::Telemetry { bag: "a=1&b=2" })
        );
        let m = dev("dev1/mod1");
        assert_eq!(
            parse_publish("devices/dev1/modules/mod1/messages/events/%24.on=o/", &m),
            Ok(DeviceTopic::Telemetry { bag: "%24.on=o/" })
        );
    }

    #[test]
    fn a_topic_up_to_32_kib_parses_and_a_longer_one_is_refused_by_length() {
        let d = dev("dev1");
        let prefix = "devices/dev1/messages/events/k=";
        let at_limit = format!("{prefix}{}", "v".repeat(MAX_TOPIC_LEN - prefix.len()));
        assert!(parse_publish(&at_limit, &d).is_ok());
        let over = format!("{at_limit}v");
        let refused = parse_publish(&over, &d).unwrap_err();
        assert!(refused.0.len() < 200, "the reason names only the start");
        assert!(refused.0.contains("32769 bytes"), "{}", refused.0);
    }

    #[test]
    fn another_identitys_topics_are_not_allowed() {
        let d = dev("dev1");
        for t in [
            "devices/dev2/messages/events/",
            "devices/dev10/messages/events/",
            "devices/dev1/messages/devicebound/",
            "devices/dev1/modules/m/messages/events/",
            "devices/dev1/messages/eventsX",
            "$iothub/twin/PATCH/properties/desired/?$rid=1",
            "$iothub/methods/POST/x/?$rid=1",
            "$iothub/twin/GET/?rid=1",
            "anything",
        ] {
            assert!(parse_publish(t, &d).is_err(), "{t}");
        }
        assert!(parse_publish("devices/dev1/messages/events/", &dev("dev1/m")).is_err());
    }

    #[test]
    fn twin_and_method_topics_carry_the_request_id() {
        let d = dev("d");
        assert_eq!(
            parse_publish("$iothub/twin/GET/?$rid=abc", &d),
            Ok(DeviceTopic::TwinGet {
                request_id: RequestId::new("abc").unwrap()
            })
        );
        assert_eq!(
            parse_publish("$iothub/methods/res/200/?$rid=7", &d),
            Ok(DeviceTopic::MethodResponse {
                status: 200,
                request_id: RequestId::new("7").unwrap()
            })
        );
        assert!(parse_publish("$iothub/methods/res/2000/?$rid=7", &d).is_err());
    }

    #[test]
    fn only_documented_filters_of_the_identity_are_subscribable() {
        let d = dev("dev1");
        assert_eq!(
            Subscription::parse("devices/dev1/messages/devicebound/#", &d),
            Some(Subscription::CloudToDevice)
        );
        assert_eq!(
            Subscription::parse("$iothub/twin/res/#", &d),
            Some(Subscription::TwinResponses)
        );
        for f in [
            "#",
            "+/#",
            "devices/+/messages/devicebound/#",
            "$iothub/#",
            "devices/dev2/messages/devicebound/#",
        ] {
            assert_eq!(Subscription::parse(f, &d), None, "{f}");
        }
        let m = dev("dev1/mod1");
        assert_eq!(
            Subscription::parse("devices/dev1/modules/mod1/inputs/#", &m),
            Some(Subscription::ModuleInputs)
        );
        assert_eq!(
            Subscription::parse("devices/dev1/messages/devicebound/#", &m),
            None
        );
    }
}
