//! Samples the server's RSS every 100 ms in the background.
//!
//! `VmHWM` would be the peak over the process's whole life (including anything before this
//! run), so the peak during the run is taken from samples instead.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::procfs::Probe;

const INTERVAL: Duration = Duration::from_millis(100);

pub struct RssSampler {
    peak: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl RssSampler {
    pub fn start(probe: Probe) -> RssSampler {
        let peak = Arc::new(AtomicU64::new(probe.rss_kib().unwrap_or(0)));
        let seen = peak.clone();
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(INTERVAL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            loop {
                tick.tick().await;
                if let Some(kib) = probe.rss_kib() {
                    seen.fetch_max(kib, Ordering::Relaxed);
                }
            }
        });
        RssSampler { peak, task }
    }

    /// Stops sampling and returns the highest RSS seen, in KiB.
    pub fn stop(self) -> u64 {
        self.task.abort();
        self.peak.load(Ordering::Relaxed)
    }
}
