//! `ferrohub check`: verifies the data directory without changing it. The database gets
//! SQLite's integrity check; each hub's telemetry log is read as recovery at the next start
//! would read it. Meant for after a crash or a disk problem, with the server stopped.

use std::path::Path;

use anyhow::bail;
use ferrohub_log::LogError;
use ferrohub_store_sqlite::integrity_problems;

use crate::commands::context::Context;
use crate::server::{database_path, telemetry_path};

pub fn run(ctx: &Context) -> anyhow::Result<()> {
    let db = database_path(&ctx.data_dir);
    if !db.exists() {
        bail!(
            "no ferrohub data directory at {} (pass --data-dir)",
            ctx.data_dir.display()
        );
    }
    let mut damaged = Vec::new();
    match integrity_problems(&db) {
        Ok(problems) if problems.is_empty() => println!("database {}: ok", db.display()),
        Ok(problems) => {
            println!("database {}: damaged", db.display());
            for problem in problems {
                println!("  {problem}");
            }
            damaged.push("the database".to_owned());
        }
        Err(e) => {
            println!("database {}: {e}", db.display());
            damaged.push("the database".to_owned());
        }
    }
    for (hub, dir) in telemetry_logs(&telemetry_path(&ctx.data_dir))? {
        match ferrohub_log::check(&dir) {
            Ok(partitions) => {
                let records: u64 = partitions.iter().map(|p| p.records).sum();
                let segments: usize = partitions.iter().map(|p| p.segments).sum();
                println!(
                    "telemetry of hub {hub}: {records} messages in {segments} segments over {} partitions: ok",
                    partitions.len()
                );
                for p in partitions.iter().filter(|p| p.torn_tail_bytes > 0) {
                    println!(
                        "  partition {}: {} bytes after its last whole message, from a write cut short; the next start cuts them and restores any acknowledged message from the commit journal",
                        p.partition, p.torn_tail_bytes
                    );
                }
            }
            Err(LogError::DirectoryInUse(_)) => bail!(
                "the telemetry log of hub {hub} is open in a running ferrohub; stop it, then check"
            ),
            Err(e) => {
                println!("telemetry of hub {hub}: {e}");
                damaged.push(format!("the telemetry of hub {hub}"));
            }
        }
    }
    if !damaged.is_empty() {
        bail!("damage found in {}", damaged.join(", "));
    }
    Ok(())
}

/// Each hub's telemetry log directory, by hub name, in name order.
fn telemetry_logs(dir: &Path) -> anyhow::Result<Vec<(String, std::path::PathBuf)>> {
    if !dir.exists() {
        return Ok(Vec::new());
    }
    let mut logs = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            logs.push((
                entry.file_name().to_string_lossy().into_owned(),
                entry.path(),
            ));
        }
    }
    logs.sort();
    Ok(logs)
}
