//! Open-loop pacing: call k is due at start + k / rate, whatever happened to the calls
//! before it. A slow server then shows up as late sends and longer round trips, instead of
//! silently lowering the offered load (which a closed loop, waiting for each answer before
//! the next call, would do).

use std::time::Duration;

use tokio::time::Instant;

#[derive(Debug, Clone, Copy)]
pub struct Pacer {
    start: Instant,
    rate: f64,
}

impl Pacer {
    /// Calls per second from `start`; `rate` must be positive (the command line checks).
    pub fn new(start: Instant, rate: f64) -> Pacer {
        Pacer { start, rate }
    }

    /// When call `k` (from 0) is due.
    pub fn due(&self, k: u64) -> Instant {
        // f64 is exact for every k and rate this tool can reach in one run.
        self.start + Duration::from_secs_f64(k as f64 / self.rate)
    }
}

/// How many calls a run makes: `calls` if given, else `rate` × `duration`, at least 1.
pub fn total_calls(rate: f64, duration: Duration, calls: Option<u64>) -> u64 {
    calls
        .unwrap_or_else(|| (rate * duration.as_secs_f64()).round() as u64)
        .max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_are_spread_evenly_from_the_start() {
        let t = Instant::now();
        let p = Pacer::new(t, 1000.0);
        assert_eq!(p.due(0), t);
        assert_eq!(p.due(1), t + Duration::from_millis(1));
        assert_eq!(p.due(10_000), t + Duration::from_secs(10));
        let slow = Pacer::new(t, 0.5);
        assert_eq!(slow.due(3), t + Duration::from_secs(6));
    }

    #[test]
    fn the_number_of_calls_comes_from_the_count_or_the_duration() {
        assert_eq!(total_calls(1000.0, Duration::from_secs(10), None), 10_000);
        assert_eq!(total_calls(1000.0, Duration::from_secs(10), Some(7)), 7);
        assert_eq!(total_calls(0.1, Duration::from_secs(1), None), 1);
    }
}
