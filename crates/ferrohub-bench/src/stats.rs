//! Latency percentiles, and the time window a phase spans across connections.
//!
//! All samples are kept (4 bytes each, so 10^6 messages cost 4 MB) and sorted: exact, and
//! simpler than a histogram at the sizes this tool runs.

use std::time::Duration;

use tokio::time::Instant;

/// p50, p99 and the maximum of a set of latencies, in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Latencies {
    pub count: usize,
    pub p50_us: u32,
    pub p99_us: u32,
    pub max_us: u32,
}

/// The nearest-rank percentile (`p` in 0..=100) of an ascending slice: the smallest value
/// with at least `p`% of the samples at or below it. `None` for no samples.
pub fn percentile(sorted: &[u32], p: f64) -> Option<u32> {
    if sorted.is_empty() {
        return None;
    }
    let p = p.clamp(0.0, 100.0);
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len()) - 1).copied()
}

impl Latencies {
    /// Sorts `samples` in place and summarises them; `None` for no samples.
    pub fn of(samples: &mut [u32]) -> Option<Latencies> {
        samples.sort_unstable();
        Some(Latencies {
            count: samples.len(),
            p50_us: percentile(samples, 50.0)?,
            p99_us: percentile(samples, 99.0)?,
            max_us: *samples.last()?,
        })
    }
}

/// A duration in whole microseconds, saturating (a sample never wraps around).
pub fn micros(d: Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(u32::MAX)
}

/// The earlier of two optional instants (a phase's start over all connections).
pub fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The later of two optional instants (a phase's end over all connections).
pub fn latest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

/// Seconds from `first` to `last`, 0 when either is missing.
pub fn span_seconds(first: Option<Instant>, last: Option<Instant>) -> f64 {
    match (first, last) {
        (Some(f), Some(l)) => l.saturating_duration_since(f).as_secs_f64(),
        _ => 0.0,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_phase_spans_all_connections() {
        let t = Instant::now();
        let later = t + Duration::from_secs(1);
        assert_eq!(earliest(Some(later), Some(t)), Some(t));
        assert_eq!(earliest(None, Some(t)), Some(t));
        assert_eq!(latest(Some(later), Some(t)), Some(later));
        assert_eq!(latest(None, None), None);
        assert_eq!(span_seconds(Some(t), Some(later)), 1.0);
        assert_eq!(span_seconds(Some(t), None), 0.0);
        assert_eq!(micros(Duration::from_secs(1)), 1_000_000);
        assert_eq!(micros(Duration::from_secs(1 << 40)), u32::MAX);
    }

    #[test]
    fn nearest_rank_on_a_hundred_values() {
        let v: Vec<u32> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), Some(50));
        assert_eq!(percentile(&v, 99.0), Some(99));
        assert_eq!(percentile(&v, 100.0), Some(100));
        assert_eq!(percentile(&v, 0.0), Some(1));
    }

    #[test]
    fn small_and_empty_sets() {
        assert_eq!(percentile(&[], 50.0), None);
        assert_eq!(percentile(&[7], 99.0), Some(7));
        // With 10 samples, p99 is the largest; p50 the 5th.
        let v: Vec<u32> = (10..20).collect();
        assert_eq!(percentile(&v, 99.0), Some(19));
        assert_eq!(percentile(&v, 50.0), Some(14));
    }

    #[test]
    fn summary_sorts_first() {
        let mut v = vec![300, 100, 200, 5000];
        let l = Latencies::of(&mut v).unwrap();
        assert_eq!(
            (l.count, l.p50_us, l.p99_us, l.max_us),
            (4, 200, 5000, 5000)
        );
        assert_eq!(Latencies::of(&mut []), None);
    }
}
