//! Identifier newtypes shared by every layer: a device id is never a bare `String`.
//!
//! Validation follows IoT Hub's registry rules: up to 128 characters of ASCII letters,
//! digits and `- . % _ * ? ! ( ) , : = @ $ '`. The characters `/`, `+`, `#` and space are
//! refused so that an id can never change the shape of a topic or a SAS resource path.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Longest device or module id IoT Hub accepts.
pub const MAX_ID_LEN: usize = 128;

fn is_allowed_id_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-.%_*?!(),:=@$'".contains(c)
}

/// Why an identifier was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidId {
    #[error("the id is empty")]
    Empty,
    #[error("the id is longer than {MAX_ID_LEN} characters")]
    TooLong,
    #[error("the id contains the character {0:?}, which IoT Hub does not allow")]
    BadCharacter(char),
}

fn validate_id(raw: &str) -> Result<(), InvalidId> {
    if raw.is_empty() {
        return Err(InvalidId::Empty);
    }
    if raw.len() > MAX_ID_LEN {
        return Err(InvalidId::TooLong);
    }
    match raw.chars().find(|c| !is_allowed_id_char(*c)) {
        Some(c) => Err(InvalidId::BadCharacter(c)),
        None => Ok(()),
    }
}

macro_rules! id_newtype {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Checks IoT Hub's id rules.
            pub fn new(raw: impl Into<String>) -> Result<Self, InvalidId> {
                let raw = raw.into();
                validate_id(&raw)?;
                Ok(Self(raw))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

id_newtype!(
    /// A device's registry id.
    DeviceId
);
id_newtype!(
    /// A module's id, unique within its device.
    ModuleId
);

/// The name of one hosted hub (tenant). Lower-case letters, digits and `-`, up to 50.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct HubName(String);

impl HubName {
    pub fn new(raw: impl Into<String>) -> Result<Self, InvalidId> {
        let raw = raw.into();
        if raw.is_empty() {
            return Err(InvalidId::Empty);
        }
        if raw.len() > 50 {
            return Err(InvalidId::TooLong);
        }
        match raw
            .chars()
            .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
        {
            Some(c) => Err(InvalidId::BadCharacter(c)),
            None => Ok(Self(raw)),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for HubName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Who is on the other end of a device connection: a device, or one of its modules.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Identity {
    pub device_id: DeviceId,
    pub module_id: Option<ModuleId>,
}

impl Identity {
    pub fn device(device_id: DeviceId) -> Self {
        Self {
            device_id,
            module_id: None,
        }
    }

    /// The MQTT client id this identity must use: `device` or `device/module`.
    pub fn client_id(&self) -> String {
        match &self.module_id {
            Some(m) => format!("{}/{}", self.device_id, m),
            None => self.device_id.to_string(),
        }
    }

    /// The SAS resource path below the host name: `devices/d` or `devices/d/modules/m`.
    pub fn resource_path(&self) -> String {
        match &self.module_id {
            Some(m) => format!("devices/{}/modules/{}", self.device_id, m),
            None => format!("devices/{}", self.device_id),
        }
    }

    /// Parses a client id (`device` or `device/module`).
    pub fn from_client_id(client_id: &str) -> Result<Self, InvalidId> {
        match client_id.split_once('/') {
            Some((d, m)) => Ok(Self {
                device_id: DeviceId::new(d)?,
                module_id: Some(ModuleId::new(m)?),
            }),
            None => Ok(Self::device(DeviceId::new(client_id)?)),
        }
    }
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.client_id())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_ids_with_iot_hub_special_characters_are_accepted() {
        for id in ["a%2Fb", "x?y", "$x", "dev-1.a_b*c!(d),e:f=g@h'i"] {
            assert!(DeviceId::new(id).is_ok(), "{id}");
        }
    }

    #[test]
    fn device_ids_that_would_change_a_topic_are_refused() {
        assert_eq!(DeviceId::new("a/b"), Err(InvalidId::BadCharacter('/')));
        assert_eq!(DeviceId::new("a+b"), Err(InvalidId::BadCharacter('+')));
        assert_eq!(DeviceId::new("a#b"), Err(InvalidId::BadCharacter('#')));
        assert_eq!(DeviceId::new("a b"), Err(InvalidId::BadCharacter(' ')));
        assert_eq!(DeviceId::new(""), Err(InvalidId::Empty));
        assert_eq!(DeviceId::new("x".repeat(129)), Err(InvalidId::TooLong));
    }

    #[test]
    fn client_id_with_a_slash_names_a_module() {
        let id = Identity::from_client_id("dev1/mod1").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(id.module_id.as_ref().map(ModuleId::as_str), Some("mod1"));
        assert_eq!(id.resource_path(), "devices/dev1/modules/mod1");
        assert_eq!(id.client_id(), "dev1/mod1");
    }
}
