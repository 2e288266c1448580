//! Starting the kernel's writeback of partition data while it is written.
//!
//! Why: partition files are not synced per batch (the journal is), so their data piles up
//! dirty in the page cache until the checkpoint at the end of a journal lap syncs it. That
//! is 16 MiB to write at once while every append waits: PUBACK stalls of ~80 ms once per
//! lap on the development VM. Asking the kernel to start writing a partition's data back
//! as soon as a chunk of whole pages is full spreads that work over the lap, and the
//! checkpoint finds little left to sync (stalls of ~15 ms in the same runs, see
//! docs/performance.md).
//!
//! How: `posix_fadvise(POSIX_FADV_DONTNEED)` on the newly filled pages. Linux then starts
//! asynchronous writeback (`WB_SYNC_NONE`) of the dirty pages in the range and drops only
//! the clean ones; pages just written are dirty or under writeback, so they stay cached.
//! (`sync_file_range(SYNC_FILE_RANGE_WRITE)` would say this more directly, but neither
//! rustix nor nix wraps it safely, and the workspace forbids unsafe code.)
//!
//! It is only a hint: durability still comes from the journal and the checkpoint's
//! fsync, so an error is ignored.

use std::fs::File;
use std::num::NonZeroU64;
use std::ops::Range;

const PAGE: u64 = 4096;

/// Writeback is started once this much of a file is full and not yet handed to the
/// kernel: large enough that the call is rare (once per 256 KiB per partition), small
/// enough that a checkpoint finds little left to write.
const CHUNK: u64 = 256 * 1024;

/// How far writeback of one file has been started.
pub(crate) struct Writeback {
    started_to: u64,
}

impl Writeback {
    /// For a file whose first `len` bytes are already durable (or need no hint).
    pub(crate) fn from(len: u64) -> Writeback {
        Writeback {
            started_to: whole_pages(len),
        }
    }

    /// Called after the file's first `len` bytes are written: starts writeback of the
    /// whole pages not yet handed over, once there is a chunk of them. Returns the range
    /// handed over, if any.
    pub(crate) fn written(&mut self, file: &File, len: u64) -> Option<Range<u64>> {
        let full = whole_pages(len);
        if full < self.started_to + CHUNK {
            return None;
        }
        let range = self.started_to..full;
        let _ = rustix::fs::fadvise(
            file,
            range.start,
            NonZeroU64::new(range.end - range.start),
            rustix::fs::Advice::DontNeed,
        );
        self.started_to = full;
        Some(range)
    }

    /// The file was cut back to `len` bytes (a failed batch rolled back).
    pub(crate) fn cut(&mut self, len: u64) {
        self.started_to = self.started_to.min(whole_pages(len));
    }
}

fn whole_pages(len: u64) -> u64 {
    len / PAGE * PAGE
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::io::Write;

    #[test]
    fn writeback_is_started_per_chunk_of_whole_pages_and_data_stays_readable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("segment");
        let mut file = File::create(&path).unwrap();
        let mut wb = Writeback::from(100);
        let mut written = Vec::new();
        let mut handed = Vec::new();
        for i in 0..1000u32 {
            let record = [u8::try_from(i % 251).unwrap(); 700];
            file.write_all(&record).unwrap();
            written.extend_from_slice(&record);
            if let Some(range) = wb.written(&file, written.len() as u64) {
                handed.push(range);
            }
        }
        // 700,000 bytes: whole pages up to 696,320; chunks of at least 256 KiB.
        assert_eq!(handed.first().unwrap().start, 0);
        for pair in handed.windows(2) {
            assert_eq!(
                pair[0].end, pair[1].start,
                "contiguous, nothing handed twice"
            );
        }
        for range in &handed {
            assert_eq!(range.end % PAGE, 0, "whole pages only: {range:?}");
            assert!(range.end - range.start >= CHUNK, "{range:?}");
        }
        assert_eq!(handed.len(), 2);
        assert_eq!(std::fs::read(&path).unwrap(), written);
    }

    #[test]
    fn after_a_cut_the_pages_past_it_are_handed_over_again() {
        let dir = tempfile::tempdir().unwrap();
        let file = File::create(dir.path().join("segment")).unwrap();
        let mut wb = Writeback::from(0);
        assert_eq!(wb.written(&file, CHUNK + 10), Some(0..CHUNK));
        assert_eq!(wb.written(&file, CHUNK + 5000), None);
        wb.cut(PAGE * 3 + 7);
        assert_eq!(
            wb.written(&file, PAGE * 3 + CHUNK),
            Some(PAGE * 3..PAGE * 3 + CHUNK)
        );
        // A recovered file's existing bytes are never handed over.
        let mut recovered = Writeback::from(CHUNK * 4 + 1);
        assert_eq!(recovered.written(&file, CHUNK * 4 + 100), None);
    }
}
