//! Helpers shared by the integration tests: configs in temp dirs, sample events, and
//! locating segment files so tests can damage them. Must not contain assertions about
//! behaviour (those belong in the tests).
#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use bytes::Bytes;
use ferrohub_log::{EventData, LogConfig};

pub fn config(dir: &Path) -> LogConfig {
    LogConfig::new(dir)
}

pub fn event(i: usize) -> EventData {
    EventData {
        body: Bytes::from(format!("{{\"reading\":{i}}}")),
        properties: vec![("n".into(), i.to_string())],
        system_properties: vec![
            ("message-id".into(), format!("msg-{i}")),
            (
                "iothub-connection-device-id".into(),
                format!("dev-{}", i % 7),
            ),
        ],
        shared_system_properties: None,
    }
}

/// Segment files of a partition, oldest first.
pub fn segment_files(dir: &Path, partition: u32) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> =
        std::fs::read_dir(dir.join("partitions").join(partition.to_string()))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "seg"))
            .collect();
    files.sort();
    files
}
