//! Device and module twins: the document IoT Hub keeps per identity, and its rules.
//!
//! A twin has `tags` (back end only), `properties.desired` (back end writes, device reads)
//! and `properties.reported` (device writes, back end reads). This module is the pure part:
//! validation, merge-patch with `$version`/`$metadata` bookkeeping, and the JSON each audience
//! sees. No I/O and no clock: callers pass the time and store the result.
//!
//! - [`document`]: [`TwinDocument`] and its three writes; versions and etags.
//! - [`patch`]: RFC 7386 merge with `$metadata` stamping.
//! - [`limits`]: key, value, depth and size limits, checked before any write.
//! - [`service_body`]: what a back end's PATCH/PUT body may contain.
//! - [`json`]: the device GET reply, desired notifications, the REST twin JSON.
//! - [`error`]: [`TwinError`], every variant a 400.

pub mod document;
pub mod error;
pub mod json;
pub mod limits;
pub mod patch;
pub mod service_body;

pub use document::{Section, ServiceUpdate, TwinDocument};
pub use error::TwinError;

#[cfg(test)]
mod tests;
