//! Latency percentiles.
//!
//! All samples are kept (4 bytes each, so 10^6 messages cost 4 MB) and sorted: exact, and
//! simpler than a histogram at the sizes this tool runs.

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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

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
