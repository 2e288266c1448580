//! Time-based retention: deleting whole expired segments.
//!
//! It exists to bound disk use. It must never delete the active (last) segment, never
//! delete anything but a prefix of the segment list (so the remaining sequence numbers
//! stay contiguous), and never rewrite files.

use std::fs;
use std::io::ErrorKind;

use crate::LogError;
use crate::fsutil;
use crate::partition::PartitionIndex;

/// Removes leading non-active segments whose newest record is older than `cutoff_ms`.
/// Returns how many were removed.
pub(crate) fn enforce(
    index: &mut PartitionIndex,
    cutoff_ms: i64,
    fsync: bool,
) -> Result<usize, LogError> {
    let mut removed = 0;
    while index.segments.len() > 1 {
        let oldest = &index.segments[0];
        // Enqueued times never decrease, so once one segment is young enough, all later are.
        if oldest.records > 0 && oldest.max_time >= cutoff_ms {
            break;
        }
        match fs::remove_file(&oldest.path) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
        tracing::debug!(path = %oldest.path.display(), "retention removed segment");
        index.segments.remove(0);
        removed += 1;
    }
    if removed > 0 && fsync {
        fsutil::sync_dir(&index.dir)?;
    }
    Ok(removed)
}
