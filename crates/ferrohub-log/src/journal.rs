//! The commit journal: one file that makes a whole batch durable with one fdatasync.
//!
//! Why it exists: a batch usually touches every partition, and syncing each partition's
//! segment file costs one disk flush (plus a metadata write, since appends grow the file)
//! per partition. Instead the writer appends the batch's records to the partition files
//! without syncing them and writes a copy of each record here, then syncs only this file.
//! The space is zero-filled ahead of use and reused in laps, so a commit overwrites
//! allocated blocks and fdatasync has no file-size metadata to write.
//!
//! Invariants:
//! - Every record acknowledged since the last checkpoint is in the current lap.
//! - A checkpoint (all partition files synced, then the lap number bumped) is the only
//!   thing that may drop entries: after it, the partition files hold them durably.
//! - Entries of older laps that still lie beyond the tail are never replayed: each entry
//!   carries its lap, and a scan stops at the first entry that is not of the current lap or
//!   whose CRC does not match (a torn write).
//!
//! Layout: two header slots at 0 and `SLOT_LEN` (`FHJRNL01`, lap u64 LE, crc32 of the 16
//! bytes before it); the valid slot with the higher lap wins, so a torn header write falls
//! back to the previous lap (whose entries are then ignored as well, which is safe because
//! the checkpoint had already synced the partitions). Entries start at `ENTRIES_START`:
//! lap u64, partition u32, payload length u32, offset u64 (the record's offset in its
//! partition), crc32 of those 24 bytes and the payload, then the payload: the record exactly
//! as written to the segment file.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

const MAGIC: &[u8; 8] = b"FHJRNL01";
const SLOT_LEN: u64 = 512;
const HEADER_BYTES: usize = 20;
pub(crate) const ENTRIES_START: u64 = 4096;
const ENTRY_HEADER_LEN: usize = 28;
/// The zero-filled area grows by this much at a time (one metadata sync per step).
const GROWTH_STEP: u64 = 1024 * 1024;

pub(crate) const FILE_NAME: &str = "commit.journal";

/// A record found in the current lap at open.
#[derive(Debug)]
pub(crate) struct JournalEntry {
    pub partition: u32,
    pub offset: u64,
    pub record: Vec<u8>,
}

pub(crate) struct Journal {
    file: File,
    capacity: u64,
    lap: u64,
    /// Where the next commit writes.
    tail: u64,
    /// Bytes known to be allocated and zero-filled (or holding old entries).
    allocated: u64,
    /// Entries of the batch being built.
    staged: Vec<u8>,
}

fn encode_header(lap: u64) -> [u8; HEADER_BYTES] {
    let mut h = [0u8; HEADER_BYTES];
    h[..8].copy_from_slice(MAGIC);
    h[8..16].copy_from_slice(&lap.to_le_bytes());
    let crc = crc32fast::hash(&h[..16]);
    h[16..20].copy_from_slice(&crc.to_le_bytes());
    h
}

fn decode_header(h: &[u8]) -> Option<u64> {
    let h: &[u8; HEADER_BYTES] = h.get(..HEADER_BYTES)?.try_into().ok()?;
    let crc = u32::from_le_bytes([h[16], h[17], h[18], h[19]]);
    if &h[..8] != MAGIC || crc32fast::hash(&h[..16]) != crc {
        return None;
    }
    Some(u64::from_le_bytes(h[8..16].try_into().ok()?))
}

fn entry_crc(header: &[u8], payload: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(header);
    hasher.update(payload);
    hasher.finalize()
}

/// Entries of `lap` from the start of the entry area up to the first one that is not.
fn scan(bytes: &[u8], lap: u64) -> Vec<JournalEntry> {
    let mut entries = Vec::new();
    let mut pos = ENTRIES_START as usize;
    while let Some(header) = bytes.get(pos..pos + ENTRY_HEADER_LEN) {
        let field = |range: std::ops::Range<usize>| &header[range];
        let entry_lap = u64::from_le_bytes(field(0..8).try_into().unwrap_or_default());
        let partition = u32::from_le_bytes(field(8..12).try_into().unwrap_or_default());
        let len = u32::from_le_bytes(field(12..16).try_into().unwrap_or_default()) as usize;
        let offset = u64::from_le_bytes(field(16..24).try_into().unwrap_or_default());
        let crc = u32::from_le_bytes(field(24..28).try_into().unwrap_or_default());
        if entry_lap != lap {
            break;
        }
        let start = pos + ENTRY_HEADER_LEN;
        let Some(payload) = bytes.get(start..start + len) else {
            break;
        };
        if entry_crc(&header[..24], payload) != crc {
            break;
        }
        entries.push(JournalEntry {
            partition,
            offset,
            record: payload.to_vec(),
        });
        pos = start + len;
    }
    entries
}

impl Journal {
    /// Opens (creating if needed) the journal in `dir` and returns the entries of its
    /// current lap, for the caller to replay before anything is appended.
    pub(crate) fn open(dir: &Path, capacity: u64) -> io::Result<(Journal, Vec<JournalEntry>)> {
        let path = dir.join(FILE_NAME);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)?;
        let bytes = std::fs::read(&path)?;
        let laps = [0, SLOT_LEN as usize].map(|at| bytes.get(at..).and_then(decode_header));
        let lap = laps.into_iter().flatten().max();
        let mut journal = Journal {
            file,
            capacity: capacity.max(ENTRIES_START + GROWTH_STEP),
            lap: lap.unwrap_or(0),
            tail: ENTRIES_START,
            allocated: bytes.len() as u64,
            staged: Vec::new(),
        };
        let entries = match lap {
            Some(lap) => scan(&bytes, lap),
            None => {
                // New (or unreadable, which only a crash during creation can cause: no lap
                // was ever committed, so no entry can matter).
                let mut block = vec![0u8; ENTRIES_START as usize];
                block[..HEADER_BYTES].copy_from_slice(&encode_header(0));
                journal.file.write_all_at(&block, 0)?;
                journal.file.sync_all()?;
                journal.allocated = journal.allocated.max(ENTRIES_START);
                if let Some(parent) = path.parent() {
                    crate::fsutil::sync_dir(parent)?;
                }
                Vec::new()
            }
        };
        Ok((journal, entries))
    }

    fn write_header(&self, lap: u64) -> io::Result<()> {
        let slot = (lap % 2) * SLOT_LEN;
        self.file.write_all_at(&encode_header(lap), slot)
    }

    /// Adds a copy of one record (as written to `partition` at `offset`) to the batch.
    pub(crate) fn stage(&mut self, partition: u32, offset: u64, record: &[u8]) {
        let mut header = [0u8; ENTRY_HEADER_LEN];
        header[..8].copy_from_slice(&self.lap.to_le_bytes());
        header[8..12].copy_from_slice(&partition.to_le_bytes());
        let len = u32::try_from(record.len()).unwrap_or(u32::MAX);
        header[12..16].copy_from_slice(&len.to_le_bytes());
        header[16..24].copy_from_slice(&offset.to_le_bytes());
        let crc = entry_crc(&header[..24], record);
        header[24..28].copy_from_slice(&crc.to_le_bytes());
        self.staged.extend_from_slice(&header);
        self.staged.extend_from_slice(record);
    }

    /// Whether the staged batch fits in the rest of this lap.
    pub(crate) fn fits(&self) -> bool {
        self.tail + self.staged.len() as u64 <= self.capacity
    }

    /// Forgets the staged batch (it failed, or a checkpoint made it durable instead).
    pub(crate) fn discard(&mut self) {
        self.staged.clear();
    }

    /// Writes the staged batch and syncs it (the writer uses the three steps itself).
    /// Callers check `fits` first.
    #[cfg(test)]
    pub(crate) fn commit(&mut self) -> io::Result<()> {
        let written = self.write_staged()?;
        if written {
            self.file.sync_data()?;
        }
        self.finish();
        Ok(())
    }

    /// First half of a commit: writes the staged batch (not yet durable). False when there
    /// was nothing to write (every request of the batch was refused). Then sync a handle
    /// with `sync` and call `finish`, or `discard` if syncing failed.
    pub(crate) fn write_staged(&mut self) -> io::Result<bool> {
        if self.staged.is_empty() {
            return Ok(false);
        }
        let end = self.tail + self.staged.len() as u64;
        if end > self.allocated {
            self.grow(end)?;
        }
        let result = self.file.write_all_at(&self.staged, self.tail);
        if result.is_err() {
            self.staged.clear();
        }
        result.map(|()| true)
    }

    /// Second half of a commit: makes the written batch durable.
    pub(crate) fn sync(&self) -> io::Result<()> {
        self.file.sync_data()
    }

    /// The written batch is durable: the next one goes after it.
    pub(crate) fn finish(&mut self) {
        self.tail += self.staged.len() as u64;
        self.staged.clear();
    }

    /// Zero-fills up to at least `end` (rounded up to a growth step, within capacity) and
    /// syncs the new size, so later commits there only overwrite.
    fn grow(&mut self, end: u64) -> io::Result<()> {
        let target = end
            .div_ceil(GROWTH_STEP)
            .saturating_mul(GROWTH_STEP)
            .min(self.capacity)
            .max(end);
        let zeros = vec![0u8; (target - self.allocated) as usize];
        self.file.write_all_at(&zeros, self.allocated)?;
        self.file.sync_all()?;
        self.allocated = target;
        Ok(())
    }

    /// Starts a new lap. Only after every partition file is synced: the entries of the
    /// current lap are not replayed any more once this returns.
    pub(crate) fn checkpoint(&mut self) -> io::Result<()> {
        let next = self.lap.wrapping_add(1);
        self.write_header(next)?;
        self.file.sync_data()?;
        self.lap = next;
        self.tail = ENTRIES_START;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn record(i: u8, len: usize) -> Vec<u8> {
        vec![i; len]
    }

    #[test]
    fn committed_entries_of_the_current_lap_are_returned_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let (mut j, entries) = Journal::open(dir.path(), 1 << 20).unwrap();
        assert!(entries.is_empty());
        j.stage(0, 28, &record(1, 10));
        j.stage(3, 28, &record(2, 20));
        j.commit().unwrap();
        j.stage(0, 38, &record(3, 5));
        j.commit().unwrap();
        drop(j);
        let (_, entries) = Journal::open(dir.path(), 1 << 20).unwrap();
        let got: Vec<_> = entries
            .iter()
            .map(|e| (e.partition, e.offset, e.record.clone()))
            .collect();
        assert_eq!(
            got,
            vec![
                (0, 28, record(1, 10)),
                (3, 28, record(2, 20)),
                (0, 38, record(3, 5))
            ]
        );
    }

    #[test]
    fn a_checkpoint_hides_older_entries_even_where_they_are_not_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let (mut j, _) = Journal::open(dir.path(), 1 << 20).unwrap();
        j.stage(0, 28, &record(1, 100));
        j.stage(0, 128, &record(2, 100));
        j.commit().unwrap();
        j.checkpoint().unwrap();
        j.stage(1, 28, &record(9, 10));
        j.commit().unwrap();
        drop(j);
        let (_, entries) = Journal::open(dir.path(), 1 << 20).unwrap();
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].partition, 1);
        assert_eq!(entries[0].record, record(9, 10));
    }

    #[test]
    fn a_torn_entry_ends_the_scan() {
        let dir = tempfile::tempdir().unwrap();
        let (mut j, _) = Journal::open(dir.path(), 1 << 20).unwrap();
        j.stage(0, 28, &record(1, 10));
        j.stage(0, 38, &record(2, 10));
        j.commit().unwrap();
        drop(j);
        // Flip a byte in the second entry's payload.
        let path = dir.path().join(FILE_NAME);
        let mut bytes = std::fs::read(&path).unwrap();
        let second_payload = ENTRIES_START as usize + 2 * ENTRY_HEADER_LEN + 10;
        bytes[second_payload] ^= 0xff;
        std::fs::write(&path, &bytes).unwrap();
        let (_, entries) = Journal::open(dir.path(), 1 << 20).unwrap();
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].record, record(1, 10));
    }

    #[test]
    fn a_torn_header_falls_back_to_the_previous_lap() {
        let dir = tempfile::tempdir().unwrap();
        let (mut j, _) = Journal::open(dir.path(), 1 << 20).unwrap();
        j.checkpoint().unwrap(); // lap 1 in slot 1
        j.stage(2, 28, &record(7, 10));
        j.commit().unwrap();
        drop(j);
        let path = dir.path().join(FILE_NAME);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[SLOT_LEN as usize + 9] ^= 0xff;
        std::fs::write(&path, &bytes).unwrap();
        // Lap 0 wins; the lap-1 entry is not replayed (it was written after a checkpoint
        // whose header is gone, which only a crash during that header write can cause).
        let (j, entries) = Journal::open(dir.path(), 1 << 20).unwrap();
        assert_eq!(j.lap, 0);
        assert!(entries.is_empty());
    }

    #[test]
    fn commits_reuse_zero_filled_space_and_fits_respects_capacity() {
        let dir = tempfile::tempdir().unwrap();
        let capacity = ENTRIES_START + GROWTH_STEP;
        let (mut j, _) = Journal::open(dir.path(), capacity).unwrap();
        j.stage(0, 28, &record(1, 1000));
        j.commit().unwrap();
        let size = std::fs::metadata(dir.path().join(FILE_NAME)).unwrap().len();
        assert_eq!(size, GROWTH_STEP, "grown to the first step boundary");
        j.stage(0, 1028, &vec![0u8; GROWTH_STEP as usize]);
        assert!(!j.fits());
        j.discard();
        j.checkpoint().unwrap();
        j.stage(0, 28, &record(2, 1000));
        assert!(j.fits());
        j.commit().unwrap();
        assert_eq!(
            std::fs::metadata(dir.path().join(FILE_NAME)).unwrap().len(),
            GROWTH_STEP,
            "the second lap reuses the space"
        );
    }
}
