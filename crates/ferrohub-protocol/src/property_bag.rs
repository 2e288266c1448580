//! Property bags: the `k=v&k2=v2` text IoT Hub carries at the end of a topic name.
//!
//! Decoding follows `spec/wire.md` §2: strip a trailing `/`, split on `&`, then on the first
//! `=`, then percent-decode key and value. `+` stays `+` (it is not a form encoding). A bare
//! key has no value. Malformed escapes are refused, and so is an unbounded number of pairs.

use crate::sas::{decode_component, encode_component};

/// Most properties one bag may carry; more closes the connection (hostile case D4).
pub const MAX_PROPERTIES: usize = 256;

/// One decoded pair. `value` is `None` for a bare key (`key` without `=`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Property {
    pub key: String,
    pub value: Option<String>,
}

/// Why a bag was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PropertyBagError {
    #[error("the property bag has more than {MAX_PROPERTIES} properties")]
    TooManyProperties,
    #[error("the property bag has invalid URL encoding in {0:?}")]
    BadEncoding(String),
    #[error("the property bag has an empty key")]
    EmptyKey,
}

pub fn decode(bag: &str) -> Result<Vec<Property>, PropertyBagError> {
    let bag = bag.strip_suffix('/').unwrap_or(bag);
    let mut out = Vec::new();
    for pair in bag.split('&').filter(|p| !p.is_empty()) {
        if out.len() == MAX_PROPERTIES {
            return Err(PropertyBagError::TooManyProperties);
        }
        let (k, v) = match pair.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (pair, None),
        };
        let key = decode_component(k).ok_or_else(|| PropertyBagError::BadEncoding(k.to_owned()))?;
        if key.is_empty() {
            return Err(PropertyBagError::EmptyKey);
        }
        let value = match v {
            Some(v) => Some(
                decode_component(v).ok_or_else(|| PropertyBagError::BadEncoding(v.to_owned()))?,
            ),
            None => None,
        };
        out.push(Property { key, value });
    }
    Ok(out)
}

/// Encodes pairs as IoT Hub does on the way to a device: every key and value URL-encoded,
/// so `$.mid` travels as `%24.mid`.
pub fn encode<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut out = String::new();
    for (k, v) in pairs {
        if !out.is_empty() {
            out.push('&');
        }
        out.push_str(&encode_component(k));
        out.push('=');
        out.push_str(&encode_component(v));
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn pair(k: &str, v: Option<&str>) -> Property {
        Property {
            key: k.into(),
            value: v.map(Into::into),
        }
    }

    #[test]
    fn python_style_fully_encoded_bag_decodes() {
        let got = decode("%24.mid=mid%201&%24.ct=application%2Fjson&a%20b=x%26y%3Dz").unwrap();
        assert_eq!(
            got,
            vec![
                pair("$.mid", Some("mid 1")),
                pair("$.ct", Some("application/json")),
                pair("a b", Some("x&y=z")),
            ]
        );
    }

    #[test]
    fn plus_is_not_a_space_and_bare_keys_have_no_value() {
        assert_eq!(
            decode("a=1+2&flag").unwrap(),
            vec![pair("a", Some("1+2")), pair("flag", None)]
        );
    }

    #[test]
    fn trailing_slash_of_node_output_events_is_ignored() {
        assert_eq!(
            decode("%24.on=out1/").unwrap(),
            vec![pair("$.on", Some("out1"))]
        );
    }

    #[test]
    fn malformed_and_oversized_bags_are_refused() {
        assert!(matches!(
            decode("a=%zz"),
            Err(PropertyBagError::BadEncoding(_))
        ));
        assert!(matches!(
            decode("a=%c3%28"),
            Err(PropertyBagError::BadEncoding(_))
        ));
        let many: Vec<String> = (0..=MAX_PROPERTIES).map(|i| format!("k{i}=v")).collect();
        assert_eq!(
            decode(&many.join("&")),
            Err(PropertyBagError::TooManyProperties)
        );
        assert_eq!(decode("=v"), Err(PropertyBagError::EmptyKey));
    }

    #[test]
    fn encoding_round_trips_through_decoding() {
        let text = encode([("$.mid", "a b/c"), ("ü", "x&y=z")]);
        assert!(text.starts_with("%24.mid="));
        assert_eq!(
            decode(&text).unwrap(),
            vec![pair("$.mid", Some("a b/c")), pair("ü", Some("x&y=z"))]
        );
    }
}
