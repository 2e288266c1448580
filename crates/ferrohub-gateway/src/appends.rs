//! The telemetry appends of one connection that are still waiting to be durable.
//!
//! They run concurrently (many messages share one fsync) and their results come back in
//! arrival order, which is the order the session must acknowledge them in. The ordered set
//! allocates, so it exists only while appends are in flight: most connections are idle.

use std::future::Future;
use std::pin::Pin;

use ferrohub_protocol::session::{TelemetryOutcome, Ticket};
use futures_util::stream::FuturesOrdered;
use futures_util::{FutureExt, StreamExt};

pub(crate) type Append = Pin<Box<dyn Future<Output = (Ticket, TelemetryOutcome)> + Send>>;

#[derive(Default)]
pub(crate) struct Appends(Option<FuturesOrdered<Append>>);

impl Appends {
    pub(crate) fn push(&mut self, append: Append) {
        self.0
            .get_or_insert_with(FuturesOrdered::new)
            .push_back(append);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.as_ref().is_none_or(FuturesOrdered::is_empty)
    }

    /// The oldest result, when it is ready; `None` when nothing is in flight.
    pub(crate) async fn next(&mut self) -> Option<(Ticket, TelemetryOutcome)> {
        let set = self.0.as_mut()?;
        let next = set.next().await;
        self.release_if_empty();
        next
    }

    /// The oldest result if it is ready now, without waiting: a batch of results is taken
    /// together, so their acknowledgements leave in one write.
    pub(crate) fn next_ready(&mut self) -> Option<(Ticket, TelemetryOutcome)> {
        let set = self.0.as_mut()?;
        let next = set.next().now_or_never().flatten();
        self.release_if_empty();
        next
    }

    fn release_if_empty(&mut self) {
        if self.is_empty() {
            self.0 = None;
        }
    }
}
