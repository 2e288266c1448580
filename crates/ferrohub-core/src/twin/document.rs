//! `TwinDocument`: one device or module twin as the store keeps it, and the three writes IoT
//! Hub allows on it (device patch of reported, back-end patch and replace of tags/desired).
//!
//! Every write is all-or-nothing: the input is validated and the result built on a copy, and
//! only a result within every limit replaces the document. Each accepted write:
//! - bumps the written section's `$version` by exactly one, even when the patch changes no
//!   value (`{}` included): the version counts writes, which is what devices dedupe on;
//! - bumps the twin `version` by exactly one and gives the twin a fresh `etag`, whatever part
//!   was written (IoT Hub: the etag changes on any twin change). One etag per version keeps
//!   `If-Match` simple: a back end that read the twin before any later write gets a 412.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::OffsetDateTime;

use super::TwinError;
use super::limits::{self, MAX_DESIRED_BYTES, MAX_REPORTED_BYTES, MAX_TAGS_BYTES};
use super::patch::{self, Stamping};
use super::service_body::{self, Mode};
use crate::clock::format_time;
use crate::keys::new_etag;

/// One twin (device or module) as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TwinDocument {
    pub tags: Map<String, Value>,
    /// `properties.desired`.
    pub desired: Section,
    /// `properties.reported`.
    pub reported: Section,
    /// The twin etag (RFC 7232 opaque value, unquoted); new on every accepted write.
    pub etag: String,
    /// The twin version: starts at 1, +1 on every accepted write of any part.
    pub version: u64,
}

/// `properties.desired` or `properties.reported`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Section {
    pub properties: Map<String, Value>,
    /// `$version`: starts at 1 (as IoT Hub's does), +1 on every accepted write of the section.
    pub version: u64,
    /// `$metadata` below the root: mirrors `properties`, each key holding
    /// `{"$lastUpdated": …[, "$lastUpdatedVersion": n], <child keys>…}`.
    pub metadata: Map<String, Value>,
    /// `$metadata.$lastUpdated` of the section root, in IoT Hub's time format.
    pub last_updated: String,
}

/// What a back-end write did, for the desired-property notification and change events.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceUpdate {
    /// The desired patch to send to the device, if desired was written. For a PATCH, the patch
    /// as received (minus an echoed `$version`). For a PUT, the whole new desired document
    /// plus `null` for each key that was removed, so applying it as a merge patch to the old
    /// desired gives the new one and reading it as a document shows every key.
    pub desired_patch: Option<Value>,
    /// Desired `$version` after the write (unchanged when desired was not written).
    pub desired_version: u64,
    /// Whether the tags differ from before the write.
    pub tags_changed: bool,
}

impl Section {
    fn new(now: &str) -> Self {
        Self {
            properties: Map::new(),
            version: 1,
            metadata: Map::new(),
            last_updated: now.to_owned(),
        }
    }
}

impl TwinDocument {
    /// An empty twin: no tags, desired and reported at `$version` 1, twin version 1.
    pub fn new(now: OffsetDateTime) -> Self {
        let now = format_time(now);
        Self {
            tags: Map::new(),
            desired: Section::new(&now),
            reported: Section::new(&now),
            etag: new_etag(),
            version: 1,
        }
    }

    /// A device's PATCH of reported properties (JSON merge patch: `null` deletes). A
    /// top-level `$version` in the patch is ignored (SDKs echo it). Returns the new reported
    /// `$version`; on error nothing has changed.
    pub fn patch_reported(&mut self, patch: &Value, now: OffsetDateTime) -> Result<u64, TwinError> {
        let Value::Object(patch) = patch else {
            return Err(TwinError::InvalidJson(
                "the reported properties patch must be a JSON object".to_owned(),
            ));
        };
        limits::check_section_patch("properties.reported", patch, IGNORED_REPORTED_KEYS)?;
        let patch = limits::without(patch, IGNORED_REPORTED_KEYS);

        let mut reported = self.reported.clone();
        patch::merge_section(&mut reported, &patch, &format_time(now), Stamping::TimeOnly);
        limits::check_section_size(
            "reported properties",
            &reported.properties,
            MAX_REPORTED_BYTES,
        )?;

        self.reported = reported;
        self.written();
        Ok(self.reported.version)
    }

    /// A back end's PATCH: merges `{"tags":{…}, "properties":{"desired":{…}}}` (either part
    /// optional; see `service_body` for what else is tolerated). On error nothing has changed.
    pub fn patch_service(
        &mut self,
        body: &Value,
        now: OffsetDateTime,
    ) -> Result<ServiceUpdate, TwinError> {
        let body = service_body::parse(body, Mode::Patch)?;
        let ignored = service_body::ignored_desired_keys(Mode::Patch);
        if let Some(tags) = body.tags {
            limits::check_section_patch("tags", tags, &[])?;
        }
        if let Some(desired) = body.desired {
            limits::check_section_patch("properties.desired", desired, ignored)?;
        }
        let desired_patch = body.desired.map(|d| limits::without(d, ignored));

        let tags = match body.tags {
            Some(patch) => {
                let mut tags = self.tags.clone();
                patch::merge_plain(&mut tags, patch);
                limits::check_section_size("tags", &tags, MAX_TAGS_BYTES)?;
                Some(tags)
            }
            None => None,
        };
        let now = format_time(now);
        let desired = match &desired_patch {
            Some(patch) => {
                let mut desired = self.desired.clone();
                patch::merge_section(&mut desired, patch, &now, Stamping::TimeAndVersion);
                check_desired_size(&desired)?;
                Some(desired)
            }
            None => None,
        };

        let tags_changed = self.commit_tags(tags);
        if let Some(desired) = desired {
            self.desired = desired;
        }
        self.written();
        Ok(ServiceUpdate {
            desired_patch: desired_patch.map(Value::Object),
            desired_version: self.desired.version,
            tags_changed,
        })
    }

    /// A back end's PUT: replaces tags and desired entirely (an absent part becomes empty);
    /// reported is untouched. Desired is always written, so its `$version` always moves and
    /// the device is always notified. On error nothing has changed.
    pub fn replace_service(
        &mut self,
        body: &Value,
        now: OffsetDateTime,
    ) -> Result<ServiceUpdate, TwinError> {
        let body = service_body::parse(body, Mode::Replace)?;
        let ignored = service_body::ignored_desired_keys(Mode::Replace);
        let empty = Map::new();
        let tags_body = body.tags.unwrap_or(&empty);
        let desired_body = body.desired.unwrap_or(&empty);
        limits::check_section_patch("tags", tags_body, &[])?;
        limits::check_section_patch("properties.desired", desired_body, ignored)?;
        let desired_body = limits::without(desired_body, ignored);

        // Merging onto nothing drops the nulls: a replacement's `null` means "absent".
        let mut tags = Map::new();
        patch::merge_plain(&mut tags, tags_body);
        limits::check_section_size("tags", &tags, MAX_TAGS_BYTES)?;
        let mut desired = self.desired.clone();
        patch::replace_section(
            &mut desired,
            &desired_body,
            &format_time(now),
            Stamping::TimeAndVersion,
        );
        check_desired_size(&desired)?;

        let desired_patch = patch::replacement_patch(&self.desired.properties, &desired.properties);
        let tags_changed = self.commit_tags(Some(tags));
        self.desired = desired;
        self.written();
        Ok(ServiceUpdate {
            desired_patch: Some(Value::Object(desired_patch)),
            desired_version: self.desired.version,
            tags_changed,
        })
    }

    fn commit_tags(&mut self, tags: Option<Map<String, Value>>) -> bool {
        match tags {
            Some(tags) => {
                let changed = tags != self.tags;
                self.tags = tags;
                changed
            }
            None => false,
        }
    }

    /// The twin-wide bookkeeping of an accepted write.
    fn written(&mut self) {
        self.version = self.version.saturating_add(1);
        self.etag = new_etag();
    }
}

/// A device may echo the `$version` it last saw; it is not a property.
const IGNORED_REPORTED_KEYS: &[&str] = &["$version"];

fn check_desired_size(desired: &Section) -> Result<(), TwinError> {
    limits::check_section_size("desired properties", &desired.properties, MAX_DESIRED_BYTES)
}
