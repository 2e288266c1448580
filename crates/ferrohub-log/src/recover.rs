//! Recovery at open: rebuilding a partition's index from its segment files and
//! repairing a torn tail.
//!
//! It exists because a crash can leave a partial or corrupt record at the end of the
//! active segment (a write that was never acknowledged). Such a tail is truncated.
//! It must not silently drop data anywhere else: damage in a sealed (non-last) segment,
//! a bad header, or a gap between segments is reported as `LogError::Corrupt`.

use std::fs::{self, OpenOptions};
use std::path::Path;

use crate::LogError;
use crate::fsutil;
use crate::partition::PartitionIndex;
use crate::segment::{self, SegmentMeta};

/// Everything the writer needs to continue appending to a recovered partition.
pub(crate) struct Recovered {
    pub index: PartitionIndex,
    /// Newest enqueued time in the partition (`i64::MIN` when empty).
    pub last_time: i64,
}

pub(crate) fn recover_partition(dir: &Path, fsync: bool) -> Result<Recovered, LogError> {
    fs::create_dir_all(dir)?;
    let mut bases = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(base) = segment::parse_file_name(name) {
            bases.push(base);
        } else if name.ends_with(segment::TEMP_SUFFIX) {
            // A segment creation that crashed before its rename: it never held records.
            fs::remove_file(entry.path())?;
        }
    }
    bases.sort_unstable();

    let mut segments: Vec<SegmentMeta> = Vec::with_capacity(bases.len().max(1));
    let count = bases.len();
    for (i, base) in bases.into_iter().enumerate() {
        let path = dir.join(segment::file_name(base));
        let scan = segment::scan(&path, base)?;
        let is_last = i + 1 == count;
        if let Some(prev) = segments.last() {
            if scan.meta.base_seq != prev.end_seq() {
                return Err(LogError::corrupt(
                    &path,
                    format!(
                        "segment starts at sequence {} but the previous one ends at {}",
                        scan.meta.base_seq,
                        prev.end_seq()
                    ),
                ));
            }
            if scan.meta.base_offset != prev.base_offset + prev.len {
                return Err(LogError::corrupt(
                    &path,
                    "segment base offset does not follow the previous segment",
                ));
            }
        }
        if let Some(why) = &scan.invalid_tail {
            if !is_last {
                return Err(LogError::corrupt(
                    &path,
                    format!(
                        "sealed segment damaged at position {}: {why}",
                        scan.meta.len
                    ),
                ));
            }
            let dropped = scan.file_len - scan.meta.len;
            tracing::warn!(
                path = %path.display(),
                dropped_bytes = dropped,
                kept_records = scan.meta.records,
                reason = %why,
                "truncating torn tail of telemetry segment"
            );
            let file = OpenOptions::new().write(true).open(&path)?;
            file.set_len(scan.meta.len)?;
            if fsync {
                file.sync_all()?;
            }
        }
        segments.push(scan.meta);
    }

    if segments.is_empty() {
        let (_file, path) = segment::create(dir, 0, 0, fsync)?;
        segments.push(SegmentMeta::new(path, 0, 0));
    }
    let next_seq = segments.last().map_or(0, SegmentMeta::end_seq);
    let last_time = segments
        .iter()
        .rev()
        .find(|s| s.records > 0)
        .map_or(i64::MIN, |s| s.max_time);
    if fsync {
        fsutil::sync_dir(dir)?;
    }
    Ok(Recovered {
        index: PartitionIndex {
            dir: dir.to_path_buf(),
            segments,
            next_seq,
        },
        last_time,
    })
}
