//! JSON merge patch (RFC 7386) with IoT Hub's bookkeeping: the section `$version` and the
//! `$metadata` tree that mirrors the properties.
//!
//! Merge: objects merge key by key, `null` deletes, anything else replaces. A patch that is
//! not an object never reaches here (the caller refuses it).
//!
//! `$metadata`: every key a patch touches gets `{"$lastUpdated": now}` (plus
//! `"$lastUpdatedVersion": <section $version>` in desired, as IoT Hub does; reported carries
//! only the time). Objects on the way to a touched key are touched too; untouched siblings
//! keep their old stamps; a deleted key loses its metadata; a value that stops being an object
//! loses its children's metadata. The section root's stamp lives in `Section::last_updated`.
//!
//! Callers validate first (see `limits`), so the recursion here is bounded by the depth limit.

use serde_json::{Map, Value};

use super::Section;

pub const LAST_UPDATED: &str = "$lastUpdated";
pub const LAST_UPDATED_VERSION: &str = "$lastUpdatedVersion";

/// Whether a section's metadata records the version of each write (desired does).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stamping {
    TimeAndVersion,
    TimeOnly,
}

/// Merges `patch` into `section`, bumping its `$version` and stamping what it touched.
pub fn merge_section(section: &mut Section, patch: &Map<String, Value>, now: &str, how: Stamping) {
    // Saturating: a version never goes backwards, even in a twin that has seen 2^64 writes.
    section.version = section.version.saturating_add(1);
    section.last_updated = now.to_owned();
    let stamp = stamp(now, section.version, how);
    merge_object(
        &mut section.properties,
        Some(&mut section.metadata),
        patch,
        &stamp,
    );
}

/// Replaces `section`'s properties with `body` (nulls in it mean "absent"), as one write.
pub fn replace_section(section: &mut Section, body: &Map<String, Value>, now: &str, how: Stamping) {
    section.properties.clear();
    section.metadata.clear();
    merge_section(section, body, now, how);
}

/// Plain merge for tags, which IoT Hub keeps without metadata.
pub fn merge_plain(target: &mut Map<String, Value>, patch: &Map<String, Value>) {
    merge_object(target, None, patch, &Map::new());
}

/// The merge patch that turns `old` into `new` while spelling out all of `new`: every key of
/// `new` with its value, plus `null` for each key `old` had and `new` lacks (recursively inside
/// objects both have). A device that applies it as a patch ends up with `new`; one that reads
/// it as the whole desired document sees every key.
pub fn replacement_patch(old: &Map<String, Value>, new: &Map<String, Value>) -> Map<String, Value> {
    let mut out = Map::new();
    for (key, new_value) in new {
        let value = match (old.get(key), new_value) {
            (Some(Value::Object(o)), Value::Object(n)) => Value::Object(replacement_patch(o, n)),
            _ => new_value.clone(),
        };
        out.insert(key.clone(), value);
    }
    for key in old.keys() {
        if !new.contains_key(key) {
            out.insert(key.clone(), Value::Null);
        }
    }
    out
}

fn stamp(now: &str, version: u64, how: Stamping) -> Map<String, Value> {
    let mut stamp = Map::new();
    stamp.insert(LAST_UPDATED.to_owned(), Value::String(now.to_owned()));
    if how == Stamping::TimeAndVersion {
        stamp.insert(LAST_UPDATED_VERSION.to_owned(), Value::from(version));
    }
    stamp
}

fn merge_object(
    target: &mut Map<String, Value>,
    mut metadata: Option<&mut Map<String, Value>>,
    patch: &Map<String, Value>,
    stamp: &Map<String, Value>,
) {
    for (key, patch_value) in patch {
        match patch_value {
            Value::Null => {
                // shift_remove keeps the remaining keys in order (preserve_order is on).
                target.shift_remove(key);
                if let Some(meta) = metadata.as_deref_mut() {
                    meta.shift_remove(key);
                }
            }
            Value::Object(child_patch) => {
                // Take the child out (leaving a placeholder that keeps its position), merge
                // into it, and put it back: no aliasing, no impossible branches.
                let (mut child, was_object) = match target.get_mut(key).map(Value::take) {
                    Some(Value::Object(child)) => (child, true),
                    _ => (Map::new(), false),
                };
                let mut child_meta = metadata.as_deref_mut().map(|meta| {
                    let mut child_meta = match meta.get_mut(key).map(Value::take) {
                        Some(Value::Object(m)) if was_object => m,
                        _ => Map::new(),
                    };
                    for (k, v) in stamp {
                        child_meta.insert(k.clone(), v.clone());
                    }
                    child_meta
                });
                merge_object(&mut child, child_meta.as_mut(), child_patch, stamp);
                target.insert(key.clone(), Value::Object(child));
                if let (Some(meta), Some(child_meta)) = (metadata.as_deref_mut(), child_meta) {
                    meta.insert(key.clone(), Value::Object(child_meta));
                }
            }
            other => {
                target.insert(key.clone(), other.clone());
                if let Some(meta) = metadata.as_deref_mut() {
                    meta.insert(key.clone(), Value::Object(stamp.clone()));
                }
            }
        }
    }
}
