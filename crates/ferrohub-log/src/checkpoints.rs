//! Consumer groups and their per-partition checkpoints.
//!
//! It exists so readers (the hub's Event Hubs endpoint, SDK checkpoint stores) can
//! resume where a group left off. Each group is a directory
//! `consumer-groups/<name>/` holding `checkpoints.json`, replaced atomically on every
//! commit. It must not touch partition data and must never build a path from an
//! unvalidated name.

use std::collections::BTreeMap;
use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::LogError;
use crate::fsutil;
use crate::log::lock;

/// The group every Event Hub has; it cannot be deleted.
pub const DEFAULT_CONSUMER_GROUP: &str = "$Default";

const CHECKPOINTS_FILE: &str = "checkpoints.json";
const MAX_NAME_LEN: usize = 50;

#[derive(Debug, Default, Serialize, Deserialize)]
struct CheckpointFile {
    /// partition -> next sequence number the group wants to read.
    checkpoints: BTreeMap<u32, u64>,
}

/// All consumer groups, cached in memory, written through to disk.
pub(crate) struct ConsumerGroups {
    root: PathBuf,
    /// Deleted groups are renamed here first so a crash mid-delete cannot resurrect a
    /// half-deleted group; the directory is emptied at open.
    trash: PathBuf,
    partitions: u32,
    fsync: bool,
    /// Held across file writes so commits to one log are serialized and the cache never
    /// disagrees with disk.
    groups: Mutex<BTreeMap<String, CheckpointFile>>,
}

/// `$Default`, or 1–50 characters of `[A-Za-z0-9._-]` that are not all dots (`.` and
/// `..` would escape the directory).
pub(crate) fn validate_name(name: &str) -> Result<(), LogError> {
    let valid = name == DEFAULT_CONSUMER_GROUP
        || (!name.is_empty()
            && name.len() <= MAX_NAME_LEN
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
            && !name.bytes().all(|b| b == b'.'));
    if valid {
        Ok(())
    } else {
        Err(LogError::InvalidConsumerGroupName(name.to_owned()))
    }
}

fn read_checkpoints(dir: &Path) -> Result<CheckpointFile, LogError> {
    let path = dir.join(CHECKPOINTS_FILE);
    match fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map_err(|e| LogError::corrupt(&path, format!("checkpoints: {e}"))),
        // Created but crashed before its first file write: a group with no checkpoints.
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(CheckpointFile::default()),
        Err(e) => Err(e.into()),
    }
}

impl ConsumerGroups {
    pub(crate) fn open(log_dir: &Path, partitions: u32, fsync: bool) -> Result<Self, LogError> {
        let root = log_dir.join("consumer-groups");
        let trash = log_dir.join("consumer-groups-trash");
        fs::create_dir_all(&root)?;
        if trash.exists() {
            fs::remove_dir_all(&trash)?;
        }
        let mut groups = BTreeMap::new();
        for entry in fs::read_dir(&root)? {
            let entry = entry?;
            if !entry.file_type()?.is_dir() {
                continue;
            }
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            if validate_name(&name).is_err() {
                tracing::warn!(name, "ignoring directory that is not a consumer group");
                continue;
            }
            groups.insert(name, read_checkpoints(&entry.path())?);
        }
        let this = ConsumerGroups {
            root,
            trash,
            partitions,
            fsync,
            groups: Mutex::new(groups),
        };
        if !lock(&this.groups).contains_key(DEFAULT_CONSUMER_GROUP) {
            this.create(DEFAULT_CONSUMER_GROUP)?;
        }
        Ok(this)
    }

    fn write(&self, name: &str, file: &CheckpointFile) -> Result<(), LogError> {
        let json =
            serde_json::to_vec_pretty(file).map_err(|e| LogError::Io(std::io::Error::other(e)))?;
        fsutil::write_atomic(
            &self.root.join(name).join(CHECKPOINTS_FILE),
            &json,
            self.fsync,
        )?;
        Ok(())
    }

    pub(crate) fn create(&self, name: &str) -> Result<(), LogError> {
        validate_name(name)?;
        let mut groups = lock(&self.groups);
        if groups.contains_key(name) {
            return Err(LogError::ConsumerGroupExists(name.to_owned()));
        }
        let dir = self.root.join(name);
        fs::create_dir_all(&dir)?;
        let file = CheckpointFile::default();
        self.write(name, &file)?;
        if self.fsync {
            fsutil::sync_dir(&self.root)?;
        }
        groups.insert(name.to_owned(), file);
        Ok(())
    }

    pub(crate) fn delete(&self, name: &str) -> Result<(), LogError> {
        if name == DEFAULT_CONSUMER_GROUP {
            return Err(LogError::ConsumerGroupProtected(name.to_owned()));
        }
        validate_name(name)?;
        let mut groups = lock(&self.groups);
        if !groups.contains_key(name) {
            return Err(LogError::UnknownConsumerGroup(name.to_owned()));
        }
        fs::create_dir_all(&self.trash)?;
        let doomed = self.trash.join(name);
        if doomed.exists() {
            fs::remove_dir_all(&doomed)?;
        }
        fs::rename(self.root.join(name), &doomed)?;
        if self.fsync {
            fsutil::sync_dir(&self.root)?;
        }
        groups.remove(name);
        // The group is already gone for good; failing to free the space is only logged.
        if let Err(e) = fs::remove_dir_all(&doomed) {
            tracing::warn!(name, error = %e, "could not remove deleted consumer group files");
        }
        Ok(())
    }

    pub(crate) fn list(&self) -> Vec<String> {
        lock(&self.groups).keys().cloned().collect()
    }

    fn check_partition(&self, partition: u32) -> Result<(), LogError> {
        if partition < self.partitions {
            Ok(())
        } else {
            Err(LogError::UnknownPartition(partition))
        }
    }

    pub(crate) fn get(&self, group: &str, partition: u32) -> Result<Option<u64>, LogError> {
        self.check_partition(partition)?;
        let groups = lock(&self.groups);
        let file = groups
            .get(group)
            .ok_or_else(|| LogError::UnknownConsumerGroup(group.to_owned()))?;
        Ok(file.checkpoints.get(&partition).copied())
    }

    pub(crate) fn commit(
        &self,
        group: &str,
        partition: u32,
        next_seq: u64,
    ) -> Result<(), LogError> {
        self.check_partition(partition)?;
        let mut groups = lock(&self.groups);
        let file = groups
            .get_mut(group)
            .ok_or_else(|| LogError::UnknownConsumerGroup(group.to_owned()))?;
        let previous = file.checkpoints.insert(partition, next_seq);
        let written = {
            let file: &CheckpointFile = file;
            self.write(group, file)
        };
        if written.is_err() {
            // Keep the cache equal to what is on disk.
            match previous {
                Some(p) => file.checkpoints.insert(partition, p),
                None => file.checkpoints.remove(&partition),
            };
        }
        written
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consumer_group_names_follow_the_event_hubs_rules() {
        for ok in ["$Default", "a", "my-group_1.x", &"x".repeat(50), ".hidden"] {
            assert!(validate_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            ".",
            "..",
            "a/b",
            "a b",
            "$default",
            "$Other",
            "ü",
            &"x".repeat(51),
            "a\\b",
        ] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
    }
}
