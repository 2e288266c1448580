//! Recovery at open: rebuilding a partition's index from its segment files and
//! repairing a torn tail.
//!
//! It exists because a crash can leave a partial or corrupt record at the end of the
//! active segment (a write that was never acknowledged). Such a tail is truncated.
//! It must not silently drop data anywhere else: damage in a sealed (non-last) segment,
//! a bad header, or a gap between segments is reported as `LogError::Corrupt`.

use std::fs::{self, OpenOptions};
use std::path::{Path, PathBuf};

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

/// A partition's segments as found on disk, judged but not changed.
pub(crate) struct Inspected {
    /// Every segment, the last one up to its last whole record.
    pub segments: Vec<SegmentMeta>,
    /// Bytes after the last whole record of the last segment (a write cut by a crash), and
    /// why they are not a record.
    pub torn_tail: Option<(u64, String)>,
    /// Segment files whose creation crashed before their rename (they never held records).
    pub unfinished: Vec<PathBuf>,
}

/// Reads a partition's segments and checks them: records, sequence and offset continuity
/// between segments. Damage anywhere but at the end of the last segment is
/// `LogError::Corrupt`. Changes nothing.
pub(crate) fn inspect_partition(dir: &Path) -> Result<Inspected, LogError> {
    let mut bases = Vec::new();
    let mut unfinished = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(base) = segment::parse_file_name(name) {
            bases.push(base);
        } else if name.ends_with(segment::TEMP_SUFFIX) {
            unfinished.push(entry.path());
        }
    }
    bases.sort_unstable();

    let mut segments: Vec<SegmentMeta> = Vec::with_capacity(bases.len().max(1));
    let mut torn_tail = None;
    let count = bases.len();
    for (i, base) in bases.into_iter().enumerate() {
        let path = dir.join(segment::file_name(base));
        let scan = segment::scan(&path, base)?;
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
            if i + 1 != count {
                return Err(LogError::corrupt(
                    &path,
                    format!(
                        "sealed segment damaged at position {}: {why}",
                        scan.meta.len
                    ),
                ));
            }
            torn_tail = Some((scan.file_len - scan.meta.len, why.to_string()));
        }
        segments.push(scan.meta);
    }
    Ok(Inspected {
        segments,
        torn_tail,
        unfinished,
    })
}

pub(crate) fn recover_partition(dir: &Path, fsync: bool) -> Result<Recovered, LogError> {
    fs::create_dir_all(dir)?;
    let Inspected {
        mut segments,
        torn_tail,
        unfinished,
    } = inspect_partition(dir)?;
    for path in unfinished {
        fs::remove_file(path)?;
    }
    if let (Some((dropped, why)), Some(last)) = (torn_tail, segments.last()) {
        tracing::warn!(
            path = %last.path.display(),
            dropped_bytes = dropped,
            kept_records = last.records,
            reason = %why,
            "truncating torn tail of telemetry segment"
        );
        let file = OpenOptions::new().write(true).open(&last.path)?;
        file.set_len(last.len)?;
        if fsync {
            file.sync_all()?;
        }
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
