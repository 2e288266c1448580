//! The read side of one partition: the list of segments with their durable lengths and
//! indexes, planning a read from a `StartPosition`, and executing it against the files.
//!
//! It exists so readers see exactly the durable records and seek instead of scanning.
//! It must not write segment files; only the writer appends (and publishes here after
//! fsync) and only retention removes segments.

use std::path::PathBuf;

use crate::segment::{self, Filter, ReadRange, SEGMENT_HEADER_LEN, SegmentMeta};
use crate::{LogError, StartPosition, StoredEvent};

/// A change the writer publishes after a batch is durable, in order.
#[derive(Debug)]
pub(crate) enum Published {
    NewSegment {
        path: PathBuf,
        base_seq: u64,
        base_offset: u64,
    },
    Record {
        seq: u64,
        time: i64,
        pos: u64,
        len: u64,
    },
}

/// Durable state of one partition, shared between the writer, readers and retention
/// (behind a mutex held only for in-memory work, never for file reads).
#[derive(Debug)]
pub(crate) struct PartitionIndex {
    pub dir: PathBuf,
    /// Oldest first; never empty. The last one is the active segment.
    pub segments: Vec<SegmentMeta>,
    /// Sequence number the next durable record will get.
    pub next_seq: u64,
}

/// What to read, computed under the lock, executed without it.
#[derive(Debug)]
pub(crate) struct ReadPlan {
    ranges: Vec<ReadRange>,
    filter: Filter,
    max: usize,
}

impl PartitionIndex {
    /// Applies a durable batch. Records always go to the last segment.
    pub(crate) fn publish(&mut self, changes: impl IntoIterator<Item = Published>) {
        for change in changes {
            match change {
                Published::NewSegment {
                    path,
                    base_seq,
                    base_offset,
                } => self
                    .segments
                    .push(SegmentMeta::new(path, base_seq, base_offset)),
                Published::Record {
                    seq,
                    time,
                    pos,
                    len,
                } => {
                    if let Some(active) = self.segments.last_mut() {
                        active.push_record(seq, time, pos, len);
                        self.next_seq = seq + 1;
                    }
                }
            }
        }
    }

    pub(crate) fn plan_read(&self, start: StartPosition, max: usize) -> ReadPlan {
        let mut plan = ReadPlan {
            ranges: Vec::new(),
            filter: Filter::All,
            max,
        };
        if max == 0 {
            return plan;
        }
        // (index of first segment, position in it, records of it certainly admitted)
        let (first, start_pos, first_counted) = match start {
            StartPosition::Latest => return plan,
            StartPosition::Earliest => match self.segments.first() {
                Some(seg) => (0, SEGMENT_HEADER_LEN, seg.records),
                None => return plan,
            },
            StartPosition::SequenceNumber(n) => {
                if n >= self.next_seq {
                    return plan;
                }
                plan.filter = Filter::FromSeq(n);
                // Last segment starting at or before n; if n was deleted by retention,
                // the oldest remaining segment.
                let i = self
                    .segments
                    .partition_point(|s| s.base_seq <= n)
                    .saturating_sub(1);
                let Some(seg) = self.segments.get(i) else {
                    return plan;
                };
                let counted = seg.end_seq().saturating_sub(n.max(seg.base_seq));
                (i, seg.position_for_seq(n), counted)
            }
            StartPosition::EnqueuedTime(t) => {
                plan.filter = Filter::FromTime(t);
                let Some(i) = self
                    .segments
                    .iter()
                    .position(|s| s.records > 0 && s.max_time >= t)
                else {
                    return plan;
                };
                // Unknown how many records of this segment are older than t: count none,
                // so planning never stops short of `max`.
                (i, self.segments[i].position_for_time(t), 0)
            }
        };
        let mut planned = 0u64;
        for (i, seg) in self.segments.iter().enumerate().skip(first) {
            let (start, counted) = if i == first {
                (start_pos, first_counted)
            } else {
                (SEGMENT_HEADER_LEN, seg.records)
            };
            if start < seg.len {
                plan.ranges.push(ReadRange {
                    path: seg.path.clone(),
                    base_offset: seg.base_offset,
                    start,
                    end: seg.len,
                });
            }
            planned += counted;
            if planned >= max as u64 {
                break;
            }
        }
        plan
    }
}

impl ReadPlan {
    /// Reads the planned ranges from the files. Segments deleted by retention since the
    /// plan was made are skipped: their events have expired.
    pub(crate) fn execute(self, partition: u32) -> Result<Vec<StoredEvent>, LogError> {
        let mut out = Vec::with_capacity(self.max.min(1024));
        for range in &self.ranges {
            if out.len() >= self.max {
                break;
            }
            segment::read_range(partition, range, self.filter, self.max, &mut out)?;
        }
        Ok(out)
    }
}
