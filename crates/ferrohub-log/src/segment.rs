//! One segment file: its header, its file name, its sparse in-memory index, creating
//! it atomically, scanning it, and reading a byte range of records from it.
//!
//! It exists so partitions can treat segments as opaque units. It must not decide when
//! to roll over, what to delete, or what is durable: callers pass the byte range that is
//! safe to read.
//!
//! File layout: a 28-byte header (`FHLOGSG1`, base sequence number u64 LE, base byte
//! offset u64 LE, crc32 of the previous 24 bytes), then records (see `record`). The base
//! byte offset makes `StoredEvent::offset` (= base offset + position in file) stable
//! across restarts even after retention deleted older segments.

use std::fs::{self, File, OpenOptions};
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use crate::fsutil;
use crate::record::{self, DecodeError};
use crate::{EventData, LogError, StoredEvent};

const MAGIC: &[u8; 8] = b"FHLOGSG1";
pub(crate) const SEGMENT_HEADER_LEN: u64 = 28;
const SEGMENT_EXT: &str = "seg";
pub(crate) const TEMP_SUFFIX: &str = ".seg.tmp";

/// Index density: an entry at least every this many records...
const INDEX_EVERY_RECORDS: u64 = 64;
/// ...or every this many bytes, whichever comes first. Bounds how far a seek scans.
const INDEX_EVERY_BYTES: u64 = 4096;

/// Reader buffer; small because typical reads fetch a few events.
const READ_BUFFER_BYTES: usize = 16 * 1024;

pub(crate) fn file_name(base_sequence_number: u64) -> String {
    format!("{base_sequence_number:020}.{SEGMENT_EXT}")
}

/// The base sequence number encoded in a segment file name, if it is one.
pub(crate) fn parse_file_name(name: &str) -> Option<u64> {
    let stem = name.strip_suffix(".seg")?;
    if stem.len() != 20 || !stem.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    stem.parse().ok()
}

fn encode_header(base_seq: u64, base_offset: u64) -> [u8; SEGMENT_HEADER_LEN as usize] {
    let mut h = [0u8; SEGMENT_HEADER_LEN as usize];
    h[..8].copy_from_slice(MAGIC);
    h[8..16].copy_from_slice(&base_seq.to_le_bytes());
    h[16..24].copy_from_slice(&base_offset.to_le_bytes());
    let crc = crc32fast::hash(&h[..24]);
    h[24..28].copy_from_slice(&crc.to_le_bytes());
    h
}

/// Returns (base sequence number, base byte offset).
fn decode_header(h: &[u8; SEGMENT_HEADER_LEN as usize]) -> Result<(u64, u64), &'static str> {
    if &h[..8] != MAGIC {
        return Err("bad segment magic");
    }
    let crc = u32::from_le_bytes([h[24], h[25], h[26], h[27]]);
    if crc32fast::hash(&h[..24]) != crc {
        return Err("segment header crc mismatch");
    }
    let mut seq = [0u8; 8];
    seq.copy_from_slice(&h[8..16]);
    let mut off = [0u8; 8];
    off.copy_from_slice(&h[16..24]);
    Ok((u64::from_le_bytes(seq), u64::from_le_bytes(off)))
}

/// A sparse index point: the record with `seq` starts at `pos` and has time `time`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct IndexEntry {
    pub seq: u64,
    pub pos: u64,
    pub time: i64,
}

/// What the log knows about a segment without reading it.
#[derive(Clone, Debug)]
pub(crate) struct SegmentMeta {
    pub path: PathBuf,
    pub base_seq: u64,
    pub base_offset: u64,
    /// Bytes known valid (and, once published, durable), header included.
    pub len: u64,
    pub records: u64,
    /// Enqueued time range; meaningless while `records == 0`.
    pub min_time: i64,
    pub max_time: i64,
    index: Vec<IndexEntry>,
}

impl SegmentMeta {
    pub(crate) fn new(path: PathBuf, base_seq: u64, base_offset: u64) -> Self {
        SegmentMeta {
            path,
            base_seq,
            base_offset,
            len: SEGMENT_HEADER_LEN,
            records: 0,
            min_time: i64::MAX,
            max_time: i64::MIN,
            index: Vec::new(),
        }
    }

    /// Sequence number right after the last record in this segment.
    pub(crate) fn end_seq(&self) -> u64 {
        self.base_seq + self.records
    }

    /// Records a record that starts at `pos` (must be `self.len`) and is `len` bytes.
    pub(crate) fn push_record(&mut self, seq: u64, time: i64, pos: u64, len: u64) {
        let due = match self.index.last() {
            None => true,
            Some(last) => {
                seq - last.seq >= INDEX_EVERY_RECORDS || pos - last.pos >= INDEX_EVERY_BYTES
            }
        };
        if due {
            self.index.push(IndexEntry { seq, pos, time });
        }
        self.records += 1;
        self.min_time = self.min_time.min(time);
        self.max_time = self.max_time.max(time);
        self.len = pos + len;
    }

    /// File position at or before the record with sequence number `seq`.
    pub(crate) fn position_for_seq(&self, seq: u64) -> u64 {
        let i = self.index.partition_point(|e| e.seq <= seq);
        i.checked_sub(1)
            .map_or(SEGMENT_HEADER_LEN, |i| self.index[i].pos)
    }

    /// File position at or before the first record with enqueued time `>= time`.
    /// Correct because times never decrease within a partition: everything before the
    /// chosen entry is older than it, and it is older than `time`.
    pub(crate) fn position_for_time(&self, time: i64) -> u64 {
        let i = self.index.partition_point(|e| e.time < time);
        i.checked_sub(1)
            .map_or(SEGMENT_HEADER_LEN, |i| self.index[i].pos)
    }
}

/// Creates a new segment with its header, atomically: written to a temp file, synced,
/// renamed into place, directory synced. A crash leaves either no segment or a segment
/// with a complete header, never a half header. Returns an append handle.
pub(crate) fn create(
    dir: &Path,
    base_seq: u64,
    base_offset: u64,
    fsync: bool,
) -> std::io::Result<(File, PathBuf)> {
    let path = dir.join(file_name(base_seq));
    let tmp = dir.join(format!("{base_seq:020}{TEMP_SUFFIX}"));
    fsutil::write_file_synced(&tmp, &encode_header(base_seq, base_offset), fsync)?;
    fs::rename(&tmp, &path)?;
    if fsync {
        fsutil::sync_dir(dir)?;
    }
    let file = OpenOptions::new().append(true).open(&path)?;
    Ok((file, path))
}

/// Result of scanning a segment file from start to end.
pub(crate) struct Scan {
    pub meta: SegmentMeta,
    /// Size of the file on disk; `meta.len` is where the valid records end.
    pub file_len: u64,
    /// Why scanning stopped before the end of the file, if it did.
    pub invalid_tail: Option<DecodeError>,
}

/// Reads every record of a segment, rebuilding its index. Stops at the first invalid
/// record (reported in `invalid_tail`; the caller decides whether that is a torn tail
/// or corruption). A bad header is always corruption.
pub(crate) fn scan(path: &Path, expected_base_seq: u64) -> Result<Scan, LogError> {
    let file = File::open(path)?;
    let file_len = file.metadata()?.len();
    let mut reader = BufReader::with_capacity(64 * 1024, file);
    if file_len < SEGMENT_HEADER_LEN {
        return Err(LogError::corrupt(path, "segment shorter than its header"));
    }
    let mut header = [0u8; SEGMENT_HEADER_LEN as usize];
    reader.read_exact(&mut header)?;
    let (base_seq, base_offset) =
        decode_header(&header).map_err(|why| LogError::corrupt(path, why))?;
    if base_seq != expected_base_seq {
        return Err(LogError::corrupt(
            path,
            format!("header base sequence {base_seq} does not match file name"),
        ));
    }
    let mut meta = SegmentMeta::new(path.to_path_buf(), base_seq, base_offset);
    let mut invalid_tail = None;
    loop {
        let pos = meta.len;
        match record::read_record(&mut reader, file_len - pos) {
            Ok(None) => break,
            Ok(Some((rec, len))) => {
                // A record that is intact but out of order is as untrustworthy as a torn one.
                if rec.sequence_number != meta.end_seq() {
                    invalid_tail = Some(DecodeError::Malformed(format!(
                        "sequence {} where {} was expected",
                        rec.sequence_number,
                        meta.end_seq()
                    )));
                    break;
                }
                if meta.records > 0 && rec.enqueued_time_ms < meta.max_time {
                    invalid_tail = Some(DecodeError::Malformed(
                        "enqueued time went backwards".into(),
                    ));
                    break;
                }
                meta.push_record(rec.sequence_number, rec.enqueued_time_ms, pos, len);
            }
            Err(DecodeError::Io(e)) => return Err(e.into()),
            Err(e) => {
                invalid_tail = Some(e);
                break;
            }
        }
    }
    Ok(Scan {
        meta,
        file_len,
        invalid_tail,
    })
}

/// Which records of a range a read wants; the first match and everything after it
/// (sequence numbers and times only grow).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Filter {
    All,
    FromSeq(u64),
    FromTime(i64),
}

impl Filter {
    fn admits(self, seq: u64, time: i64) -> bool {
        match self {
            Filter::All => true,
            Filter::FromSeq(n) => seq >= n,
            Filter::FromTime(t) => time >= t,
        }
    }
}

/// A byte range of one segment to read. `end` must not exceed what is durable.
#[derive(Clone, Debug)]
pub(crate) struct ReadRange {
    pub path: PathBuf,
    pub base_offset: u64,
    pub start: u64,
    pub end: u64,
}

/// Appends to `out` (until it holds `max` events) the records of `range` that pass
/// `filter`. Returns `false` if the file no longer exists (deleted by retention).
pub(crate) fn read_range(
    partition: u32,
    range: &ReadRange,
    filter: Filter,
    max: usize,
    out: &mut Vec<StoredEvent>,
) -> Result<bool, LogError> {
    let mut file = match File::open(&range.path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e.into()),
    };
    file.seek(SeekFrom::Start(range.start))?;
    let mut reader = BufReader::with_capacity(READ_BUFFER_BYTES, file);
    let mut pos = range.start;
    while pos < range.end && out.len() < max {
        match record::read_record(&mut reader, range.end - pos) {
            Ok(None) => break,
            Ok(Some((rec, len))) => {
                if filter.admits(rec.sequence_number, rec.enqueued_time_ms) {
                    out.push(stored(
                        partition,
                        range.base_offset + pos,
                        rec.sequence_number,
                        rec.enqueued_time_ms,
                        rec.data,
                    ));
                }
                pos += len;
            }
            Err(DecodeError::Io(e)) => return Err(e.into()),
            // This range was durable and valid when indexed, so failure here is corruption.
            Err(e) => {
                return Err(LogError::corrupt(
                    &range.path,
                    format!("at position {pos}: {e}"),
                ));
            }
        }
    }
    Ok(true)
}

fn stored(partition: u32, offset: u64, seq: u64, time: i64, data: EventData) -> StoredEvent {
    StoredEvent {
        partition,
        sequence_number: seq,
        offset,
        enqueued_time_ms: time,
        data,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn segment_file_names_round_trip_and_sort_numerically() {
        assert_eq!(file_name(42), "00000000000000000042.seg");
        assert_eq!(parse_file_name(&file_name(42)), Some(42));
        assert_eq!(parse_file_name("42.seg"), None);
        assert_eq!(parse_file_name("00000000000000000042.seg.tmp"), None);
        assert!(file_name(9) < file_name(10));
    }

    #[test]
    fn a_header_decodes_to_what_was_encoded_and_rejects_a_flipped_bit() {
        let mut h = encode_header(5, 1234);
        assert_eq!(decode_header(&h), Ok((5, 1234)));
        h[10] ^= 0x40;
        assert!(decode_header(&h).is_err());
    }

    #[test]
    fn the_sparse_index_finds_a_position_at_or_before_the_target() {
        let mut meta = SegmentMeta::new(PathBuf::from("x"), 100, 0);
        let mut pos = SEGMENT_HEADER_LEN;
        for i in 0..1000u64 {
            meta.push_record(100 + i, 10 * i as i64, pos, 100);
            pos += 100;
        }
        // Record i sits at HEADER + 100 * i.
        for target in [100u64, 163, 164, 165, 999, 1099] {
            let p = meta.position_for_seq(target);
            assert!(p <= SEGMENT_HEADER_LEN + 100 * (target - 100));
            assert!(SEGMENT_HEADER_LEN + 100 * (target - 100) - p < INDEX_EVERY_BYTES + 100);
        }
        let p = meta.position_for_time(5000);
        assert!(p <= SEGMENT_HEADER_LEN + 100 * 500);
        assert_eq!(meta.position_for_time(i64::MIN), SEGMENT_HEADER_LEN);
    }
}
