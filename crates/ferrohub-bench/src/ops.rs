//! Results of request/response operations (twin requests, method calls, C2D messages):
//! each task fills an [`OpStats`], the scenario merges them and turns the sum into the
//! report's [`Operations`].
//!
//! A failed operation is counted, not fatal: one 403 or timeout should not hide the
//! other 9,999 measurements, but it does make the run fail.

use tokio::time::Instant;

use crate::report::{Errors, Operations, rate};
use crate::stats::{Latencies, earliest, latest, micros, span_seconds};

/// Operations seen by one task (or, merged, by all of them).
#[derive(Debug, Default)]
pub struct OpStats {
    /// Microseconds per successful operation.
    pub latencies: Vec<u32>,
    /// When the first operation started and the last one finished (failed ones included,
    /// since they took their time too).
    pub first: Option<Instant>,
    pub last: Option<Instant>,
    pub failed: u64,
    pub first_failure: Option<String>,
}

impl OpStats {
    /// An operation that started at `started` and succeeded at `done`.
    pub fn succeeded(&mut self, started: Instant, done: Instant) {
        self.latencies.push(micros(done - started));
        self.first = earliest(self.first, Some(started));
        self.last = latest(self.last, Some(done));
    }

    /// An operation that started at `started` and failed at `done`.
    pub fn failed(&mut self, started: Instant, done: Instant, why: String) {
        self.failed += 1;
        self.first_failure.get_or_insert(why);
        self.first = earliest(self.first, Some(started));
        self.last = latest(self.last, Some(done));
    }

    pub fn merge(&mut self, other: OpStats) {
        self.latencies.extend_from_slice(&other.latencies);
        self.first = earliest(self.first, other.first);
        self.last = latest(self.last, other.last);
        self.failed += other.failed;
        if self.first_failure.is_none() {
            self.first_failure = other.first_failure;
        }
    }

    pub fn completed(&self) -> u64 {
        self.latencies.len() as u64
    }

    /// Percentiles of the successful operations (sorts the samples).
    pub fn latency(&mut self) -> Option<Latencies> {
        Latencies::of(&mut self.latencies)
    }

    /// The report's summary: completed operations per second over the whole window.
    pub fn summary(&mut self, unit: &'static str, latency_name: &'static str) -> Operations {
        let seconds = span_seconds(self.first, self.last);
        let completed = self.completed();
        Operations {
            unit,
            completed,
            failed: self.failed,
            seconds,
            per_second: rate(completed as f64, seconds),
            target_per_second: None,
            latency_name,
            latency: self.latency(),
            breakdown: Vec::new(),
        }
    }

    /// Adds this set's failures to the run's errors.
    pub fn count_failures(&self, errors: &mut Errors) {
        if self.failed > 0 {
            errors.operations_failed(self.failed, self.first_failure.clone());
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn merged_stats_span_every_task_and_keep_the_first_failure() {
        let t = Instant::now();
        let ms = Duration::from_millis;
        let mut a = OpStats::default();
        a.succeeded(t + ms(10), t + ms(12));
        a.failed(t + ms(20), t + ms(50), "403".to_owned());
        let mut b = OpStats::default();
        b.succeeded(t, t + ms(1));
        b.succeeded(t + ms(100), t + ms(104));
        b.failed(t + ms(3), t + ms(4), "timeout".to_owned());
        a.merge(b);
        assert_eq!((a.completed(), a.failed), (3, 2));
        assert_eq!(a.first_failure.as_deref(), Some("403"));
        let ops = a.summary("op", "round trip");
        // 3 completed in 104 ms; failures count in the window but not in the rate.
        assert!((ops.seconds - 0.104).abs() < 1e-9);
        assert!((ops.per_second - 3.0 / 0.104).abs() < 1e-6);
        let l = ops.latency.unwrap();
        assert_eq!((l.count, l.p50_us, l.max_us), (3, 2000, 4000));
        let mut errors = Errors::default();
        a.count_failures(&mut errors);
        assert_eq!(errors.total(), 2);
        assert_eq!(errors.first.as_deref(), Some("403"));
    }

    #[test]
    fn no_operations_is_an_empty_summary_not_a_division_by_zero() {
        let ops = OpStats::default().summary("op", "round trip");
        assert_eq!((ops.completed, ops.per_second, ops.latency), (0, 0.0, None));
    }
}
