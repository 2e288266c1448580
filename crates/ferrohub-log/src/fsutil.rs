//! Small filesystem helpers for durability: syncing directories and writing files
//! atomically.
//!
//! They exist because "write temp + fsync + rename + fsync dir" is easy to get subtly
//! wrong when repeated. This module must not know about segments or consumer groups.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

/// Makes directory entries (created, renamed, removed files) durable. On non-Unix
/// platforms directories cannot be opened for syncing, so this is a no-op there.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        File::open(dir)?.sync_all()?;
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
    }
    Ok(())
}

/// Creates/truncates `path` with `bytes`, synced when `fsync` is set.
pub(crate) fn write_file_synced(path: &Path, bytes: &[u8], fsync: bool) -> io::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)?;
    file.write_all(bytes)?;
    if fsync {
        file.sync_all()?;
    }
    Ok(())
}

/// Replaces `path` with `bytes` atomically: readers (and crash recovery) see either the
/// old content or the new, never a mix.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8], fsync: bool) -> io::Result<()> {
    let dir = path
        .parent()
        .ok_or_else(|| io::Error::other("atomic write target has no parent directory"))?;
    let mut tmp_name = path.as_os_str().to_owned();
    tmp_name.push(".tmp");
    let tmp = Path::new(&tmp_name);
    write_file_synced(tmp, bytes, fsync)?;
    fs::rename(tmp, path)?;
    if fsync {
        sync_dir(dir)?;
    }
    Ok(())
}
