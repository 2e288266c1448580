//! Replaying the commit journal into recovered partitions at open.
//!
//! Why it exists: partition files are not synced per batch (the journal is), so after a
//! crash a partition may end before records that were acknowledged. Recovery first cuts
//! each partition back to its last valid record; this then appends, from the journal's
//! current lap, every record the partition is missing, at exactly the offset it had.
//!
//! It must never reorder or skip: a partition takes journal records only in sequence, and
//! a record that would leave a gap or land at another offset than it was acknowledged with
//! is corruption, reported as such rather than written.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;

use crate::LogError;
use crate::journal::{self, JournalEntry};
use crate::record;
use crate::recover::Recovered;

/// Appends the missing journal records to `recovered` partitions (files and indexes) and
/// syncs what it wrote. Returns how many records were restored.
pub(crate) fn replay(
    log_dir: &Path,
    entries: Vec<JournalEntry>,
    recovered: &mut [Recovered],
) -> Result<u64, LogError> {
    let journal_path = log_dir.join(journal::FILE_NAME);
    let mut restored = 0;
    let mut written: Vec<Option<std::fs::File>> = recovered.iter().map(|_| None).collect();
    for entry in entries {
        let Some(part) = recovered.get_mut(entry.partition as usize) else {
            return Err(LogError::corrupt(
                &journal_path,
                format!(
                    "entry for partition {} which does not exist",
                    entry.partition
                ),
            ));
        };
        let decoded = record::read_record(&mut entry.record.as_slice(), entry.record.len() as u64);
        let Ok(Some((rec, len))) = decoded else {
            return Err(LogError::corrupt(
                &journal_path,
                "an entry with a valid checksum holds no valid record",
            ));
        };
        let seq = rec.sequence_number;
        if seq < part.index.next_seq {
            continue; // the partition file has it
        }
        let Some(segment) = part.index.segments.last_mut() else {
            return Err(LogError::corrupt(
                &journal_path,
                "partition without segment",
            ));
        };
        let end = segment.base_offset + segment.len;
        if seq != part.index.next_seq || entry.offset != end {
            return Err(LogError::corrupt(
                &journal_path,
                format!(
                    "partition {} ends at sequence {} offset {end}, but the journal's next record is sequence {seq} at offset {}",
                    entry.partition, part.index.next_seq, entry.offset
                ),
            ));
        }
        let file = match &mut written[entry.partition as usize] {
            Some(file) => file,
            slot => slot.insert(OpenOptions::new().append(true).open(&segment.path)?),
        };
        file.write_all(&entry.record)?;
        let pos = segment.len;
        segment.push_record(seq, rec.enqueued_time_ms, pos, len);
        part.index.next_seq = seq + 1;
        part.last_time = part.last_time.max(rec.enqueued_time_ms);
        restored += 1;
    }
    for file in written.into_iter().flatten() {
        file.sync_all()?;
    }
    if restored > 0 {
        tracing::info!(
            records = restored,
            "restored acknowledged telemetry from the commit journal"
        );
    }
    Ok(restored)
}
