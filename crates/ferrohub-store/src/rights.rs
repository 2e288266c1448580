//! Shared access policy rights, spelled the way IoT Hub spells them
//! (`"RegistryRead, RegistryWrite, ServiceConnect, DeviceConnect"`) so they round-trip
//! through the service API and connection strings unchanged.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// One permission a shared access policy can grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AccessRights {
    RegistryRead,
    RegistryWrite,
    ServiceConnect,
    DeviceConnect,
}

impl AccessRights {
    /// Every right, in IoT Hub's canonical display order.
    pub const ALL: [AccessRights; 4] = [
        AccessRights::RegistryRead,
        AccessRights::RegistryWrite,
        AccessRights::ServiceConnect,
        AccessRights::DeviceConnect,
    ];

    /// The name IoT Hub uses for this right.
    pub fn as_str(self) -> &'static str {
        match self {
            AccessRights::RegistryRead => "RegistryRead",
            AccessRights::RegistryWrite => "RegistryWrite",
            AccessRights::ServiceConnect => "ServiceConnect",
            AccessRights::DeviceConnect => "DeviceConnect",
        }
    }

    fn bit(self) -> u8 {
        match self {
            AccessRights::RegistryRead => 1,
            AccessRights::RegistryWrite => 2,
            AccessRights::ServiceConnect => 4,
            AccessRights::DeviceConnect => 8,
        }
    }
}

impl fmt::Display for AccessRights {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A rights string named something IoT Hub does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown access right {0:?}")]
pub struct UnknownRight(pub String);

impl FromStr for AccessRights {
    type Err = UnknownRight;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AccessRights::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| UnknownRight(s.to_owned()))
    }
}

/// A set of [`AccessRights`]; serialised as IoT Hub's comma-separated string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct Rights(u8);

impl Rights {
    /// No rights at all.
    pub fn empty() -> Self {
        Rights(0)
    }

    /// Every right (what the built-in `iothubowner` policy has).
    pub fn all() -> Self {
        AccessRights::ALL.into_iter().collect()
    }

    pub fn contains(&self, right: AccessRights) -> bool {
        self.0 & right.bit() != 0
    }

    /// This set plus `right`.
    #[must_use]
    pub fn with(self, right: AccessRights) -> Self {
        Rights(self.0 | right.bit())
    }

    pub fn is_empty(&self) -> bool {
        self.0 == 0
    }

    /// The rights in the set, in canonical order.
    pub fn iter(&self) -> impl Iterator<Item = AccessRights> + '_ {
        AccessRights::ALL.into_iter().filter(|r| self.contains(*r))
    }
}

impl FromIterator<AccessRights> for Rights {
    fn from_iter<I: IntoIterator<Item = AccessRights>>(iter: I) -> Self {
        iter.into_iter().fold(Rights::empty(), Rights::with)
    }
}

impl fmt::Display for Rights {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, right) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            f.write_str(right.as_str())?;
        }
        Ok(())
    }
}

impl FromStr for Rights {
    type Err = UnknownRight;

    /// Accepts IoT Hub's comma-separated list; spaces around names are ignored.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.split(',')
            .map(str::trim)
            .filter(|part| !part.is_empty())
            .map(AccessRights::from_str)
            .collect()
    }
}

impl From<Rights> for String {
    fn from(rights: Rights) -> Self {
        rights.to_string()
    }
}

impl TryFrom<String> for Rights {
    type Error = UnknownRight;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn all_rights_display_the_way_iot_hub_spells_them() {
        assert_eq!(
            Rights::all().to_string(),
            "RegistryRead, RegistryWrite, ServiceConnect, DeviceConnect"
        );
    }

    #[test]
    fn a_rights_string_parses_regardless_of_order_and_spacing() {
        let rights: Rights = "DeviceConnect,RegistryRead".parse().unwrap();
        assert!(rights.contains(AccessRights::RegistryRead));
        assert!(rights.contains(AccessRights::DeviceConnect));
        assert!(!rights.contains(AccessRights::RegistryWrite));
        assert_eq!(rights.to_string(), "RegistryRead, DeviceConnect");
    }

    #[test]
    fn an_unknown_right_is_refused() {
        assert_eq!(
            "RegistryRead, Everything".parse::<Rights>(),
            Err(UnknownRight("Everything".into()))
        );
    }

    #[test]
    fn rights_serialise_as_a_string() {
        let json =
            serde_json::to_string(&Rights::empty().with(AccessRights::ServiceConnect)).unwrap();
        assert_eq!(json, "\"ServiceConnect\"");
        let back: Rights = serde_json::from_str(&json).unwrap();
        assert!(back.contains(AccessRights::ServiceConnect));
    }

    #[test]
    fn an_empty_string_is_no_rights() {
        assert!("".parse::<Rights>().unwrap().is_empty());
    }
}
