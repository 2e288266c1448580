//! `ferrohub-log`: the embedded, durable telemetry log behind ferrohub's built-in
//! Event-Hubs-compatible endpoint.
//!
//! This file is only the module map and the public re-exports; logic lives in the
//! modules below, each with one job. It must not grow behaviour of its own.
//!
//! Layout on disk (under `LogConfig::dir`):
//! - `log.json` — format version and partition count (guards against reopening with a
//!   different partition count, which would silently re-route devices).
//! - `LOCK` — advisory lock so two processes never write the same log.
//! - `partitions/<p>/<base_sequence_number:020>.seg` — segment files (see `segment`, `record`).
//! - `commit.journal` — the commit journal: one fsync per batch for all partitions (see
//!   `journal`); replayed into the partitions at open.
//! - `consumer-groups/<name>/checkpoints.json` — consumer groups and checkpoints.

mod api;
mod append_future;
mod check;
mod checkpoints;
mod config;
mod error;
mod event;
mod fsutil;
mod journal;
mod log;
mod partition;
mod record;
mod recover;
mod replay;
mod retention;
mod routing;
mod segment;
mod writeback;
mod writer;

pub use api::TelemetryLog;
pub use append_future::AppendFuture;
pub use check::{PartitionReport, check};
pub use checkpoints::DEFAULT_CONSUMER_GROUP;
pub use config::LogConfig;
pub use error::LogError;
pub use event::{AppendReceipt, EventData, StartPosition, StoredEvent};
pub use log::SegmentLog;
pub use record::MAX_RECORD_BODY_LEN;
pub use routing::partition_for_key;
pub use writer::APPEND_QUEUE_CAPACITY;
