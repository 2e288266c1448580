//! IoT Hub's twin document limits, checked before anything is written so a refused write
//! leaves the twin untouched.
//!
//! The rules (wire.md §4, the device-twins guide):
//! - keys: UTF-8, case-sensitive, 1..=1024 bytes, no control characters (C0, DEL, C1), no
//!   `.`, `$` or space. `$version` and `$metadata` are the hub's and refused as read-only.
//! - strings: at most 4096 bytes of UTF-8.
//! - integers: within ±2^52 (what IoT Hub accepts; about ±4.5·10^15). Non-integral numbers are
//!   not range-checked.
//! - depth: every object or array adds one level; the section root (`tags`,
//!   `properties.desired`, `properties.reported`) is level 0, and the deepest container may be
//!   level 10. This is the guide's own example: `tags.one.two…ten.property` is valid, and an
//!   object under `ten` is not.
//! - size: the section's compact JSON, without `$metadata`/`$version`, at most 8 KB for tags
//!   and 32 KB for desired and reported.
//!
//! The walk recurses once per level and stops at the first level past the maximum, so hostile
//! input (however it was built) cannot take the stack deeper than `MAX_DEPTH + 1` frames.

use std::io;

use serde_json::{Map, Number, Value};

use super::TwinError;

pub const MAX_KEY_BYTES: usize = 1024;
pub const MAX_STRING_BYTES: usize = 4096;
pub const MAX_DEPTH: usize = 10;
/// 2^52: the largest integer magnitude IoT Hub stores.
pub const MAX_INTEGER: u64 = 1 << 52;
pub const MAX_TAGS_BYTES: usize = 8 * 1024;
pub const MAX_DESIRED_BYTES: usize = 32 * 1024;
pub const MAX_REPORTED_BYTES: usize = 32 * 1024;

/// Checks keys, strings, integers and depth of a patch (or replacement) for the section at
/// `root` (for messages: `tags`, `properties.desired`...). Nulls are fine anywhere. Top-level
/// keys in `ignored` are skipped (the caller drops them).
///
/// Runs on the input as received, before anything clones it: cloning (like dropping) a
/// `Value` recurses, so nothing may copy a patch whose depth has not been checked.
pub fn check_section_patch<'a>(
    root: &'a str,
    patch: &'a Map<String, Value>,
    ignored: &[&str],
) -> Result<(), TwinError> {
    let mut path = Path::new(root);
    for (key, value) in patch {
        if ignored.contains(&key.as_str()) {
            continue;
        }
        check_entry(&mut path, key, value, 0)?;
    }
    Ok(())
}

/// A copy of `map` without the top-level keys in `ignored`. Only for checked maps.
pub fn without(map: &Map<String, Value>, ignored: &[&str]) -> Map<String, Value> {
    map.iter()
        .filter(|(k, _)| !ignored.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Refuses a section whose compact JSON would be larger than `max` bytes.
pub fn check_section_size(
    section: &'static str,
    properties: &Map<String, Value>,
    max: usize,
) -> Result<(), TwinError> {
    let size = json_len(properties);
    if size > max {
        return Err(TwinError::SectionTooLarge { section, size, max });
    }
    Ok(())
}

/// The length of `properties` as compact JSON, counted without building the string.
pub fn json_len(properties: &Map<String, Value>) -> usize {
    let mut counter = ByteCounter(0);
    // Writing a Map of Values to a sink that never fails cannot fail; 0 would only make a
    // size check pass, and there is no such case to reach.
    match serde_json::to_writer(&mut counter, properties) {
        Ok(()) => counter.0,
        Err(_) => usize::MAX,
    }
}

struct ByteCounter(usize);

impl io::Write for ByteCounter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0 = self.0.saturating_add(buf.len());
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// `depth` is the level of `object` itself (the section root is 0).
fn check_object<'a>(
    path: &mut Path<'a>,
    object: &'a Map<String, Value>,
    depth: usize,
) -> Result<(), TwinError> {
    for (key, value) in object {
        check_entry(path, key, value, depth)?;
    }
    Ok(())
}

fn check_entry<'a>(
    path: &mut Path<'a>,
    key: &'a str,
    value: &'a Value,
    depth: usize,
) -> Result<(), TwinError> {
    check_key(path, key)?;
    path.push(Segment::Key(key));
    check_value(path, value, depth)?;
    path.pop();
    Ok(())
}

/// `depth` is the level of the container holding `value`.
fn check_value<'a>(path: &mut Path<'a>, value: &'a Value, depth: usize) -> Result<(), TwinError> {
    match value {
        Value::Null | Value::Bool(_) => Ok(()),
        Value::Number(n) => check_number(path, n),
        Value::String(s) if s.len() > MAX_STRING_BYTES => Err(TwinError::StringTooLong {
            path: path.render(),
            max: MAX_STRING_BYTES,
        }),
        Value::String(_) => Ok(()),
        Value::Object(child) => {
            let level = nested_level(path, depth)?;
            check_object(path, child, level)
        }
        Value::Array(items) => {
            let level = nested_level(path, depth)?;
            for (i, item) in items.iter().enumerate() {
                path.push(Segment::Index(i));
                check_value(path, item, level)?;
                path.pop();
            }
            Ok(())
        }
    }
}

fn nested_level(path: &Path<'_>, depth: usize) -> Result<usize, TwinError> {
    let level = depth + 1;
    if level > MAX_DEPTH {
        return Err(TwinError::TooDeep {
            path: path.render(),
            max: MAX_DEPTH,
        });
    }
    Ok(level)
}

fn check_number(path: &Path<'_>, n: &Number) -> Result<(), TwinError> {
    let in_range = if let Some(i) = n.as_i64() {
        i.unsigned_abs() <= MAX_INTEGER
    } else if let Some(u) = n.as_u64() {
        u <= MAX_INTEGER
    } else {
        // A float: IoT Hub's limit is on integers only.
        true
    };
    if in_range {
        Ok(())
    } else {
        Err(TwinError::IntegerOutOfRange {
            path: path.render(),
        })
    }
}

fn check_key(path: &Path<'_>, key: &str) -> Result<(), TwinError> {
    if key == "$version" || key == "$metadata" {
        return Err(TwinError::ReadOnlyProperty(path.render_with(key)));
    }
    let reason = if key.is_empty() {
        "a property name must not be empty"
    } else if key.len() > MAX_KEY_BYTES {
        "a property name must be at most 1024 bytes"
    } else if key.contains('$') {
        "a property name must not contain '$'"
    } else if key.contains('.') {
        "a property name must not contain '.'"
    } else if key.contains(' ') {
        "a property name must not contain a space"
    } else if key.chars().any(char::is_control) {
        "a property name must not contain control characters"
    } else {
        return Ok(());
    };
    Err(TwinError::InvalidKey {
        path: path.render(),
        key: shorten(key),
        reason,
    })
}

/// Keys in messages are cut short: an error must not echo a 1 MB key back.
pub fn shorten(key: &str) -> String {
    const MAX_CHARS: usize = 64;
    match key.char_indices().nth(MAX_CHARS) {
        Some((cut, _)) => format!("{}…", &key[..cut]),
        None => key.to_owned(),
    }
}

enum Segment<'a> {
    Key(&'a str),
    Index(usize),
}

/// Where the walk is, rendered only when there is an error to report.
struct Path<'a> {
    root: &'a str,
    segments: Vec<Segment<'a>>,
}

impl<'a> Path<'a> {
    fn new(root: &'a str) -> Self {
        Self {
            root,
            segments: Vec::new(),
        }
    }

    fn push(&mut self, segment: Segment<'a>) {
        self.segments.push(segment);
    }

    fn pop(&mut self) {
        self.segments.pop();
    }

    fn render(&self) -> String {
        let mut out = self.root.to_owned();
        for segment in &self.segments {
            match segment {
                Segment::Key(k) => {
                    out.push('.');
                    out.push_str(&shorten(k));
                }
                Segment::Index(i) => out.push_str(&format!("[{i}]")),
            }
        }
        out
    }

    fn render_with(&self, key: &str) -> String {
        format!("{}.{key}", self.render())
    }
}
