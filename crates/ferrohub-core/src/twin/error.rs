//! `TwinError`: why a twin write was refused. Every variant is the caller's fault (a 400 on
//! the REST API, a `res/400` on MQTT), so each message names the offending path and the limit
//! in words a device developer can act on.

use crate::HubError;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TwinError {
    /// The body is not the JSON shape the operation takes (not an object, unknown field...).
    #[error("Invalid twin document: {0}")]
    InvalidJson(String),
    /// A property name breaks the key rules. `key` is cut to 64 characters for the message.
    #[error("Invalid property name '{key}' at '{path}': {reason}")]
    InvalidKey {
        path: String,
        key: String,
        reason: &'static str,
    },
    /// Objects and arrays nest deeper than `max` levels below the section root.
    #[error("'{path}' nests deeper than the maximum depth of {max}")]
    TooDeep { path: String, max: usize },
    #[error("The string at '{path}' is longer than {max} bytes")]
    StringTooLong { path: String, max: usize },
    #[error("The integer at '{path}' is outside the range -2^52..=2^52")]
    IntegerOutOfRange { path: String },
    /// The section after the write would be larger than its quota.
    #[error("The {section} would be {size} bytes, more than the maximum of {max} bytes")]
    SectionTooLarge {
        section: &'static str,
        size: usize,
        max: usize,
    },
    /// The write names a part only the hub writes (`$metadata`, a nested `$version`,
    /// `properties.reported` from a back end).
    #[error("'{0}' is read-only")]
    ReadOnlyProperty(String),
}

impl From<TwinError> for HubError {
    fn from(e: TwinError) -> Self {
        Self::InvalidArgument(e.to_string())
    }
}
