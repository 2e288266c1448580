//! The telemetry appends of one connection that are still waiting to be durable.
//!
//! They run concurrently (many messages share one fsync) and their results come back in
//! arrival order, which is the order the session must acknowledge them in.
//!
//! Allocation matters here, as this runs for every message: the oldest append sits in a
//! slot of its own, so a device with one message in flight (the SDKs' default) needs no
//! ordered set at all; the set is made only when a second append arrives while the first is
//! in flight, and dropped when it empties (most connections are idle).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use ferrohub_core::telemetry::AppendFuture;
use ferrohub_protocol::session::{TelemetryOutcome, Ticket};
use futures_util::stream::FuturesOrdered;
use futures_util::{FutureExt, StreamExt};

/// One append and the session's ticket for it.
pub(crate) struct Append {
    ticket: Ticket,
    /// `None`: refused before it reached the log.
    durable: Option<AppendFuture>,
}

impl Append {
    pub(crate) fn started(ticket: Ticket, durable: AppendFuture) -> Self {
        Append {
            ticket,
            durable: Some(durable),
        }
    }

    pub(crate) fn refused(ticket: Ticket) -> Self {
        Append {
            ticket,
            durable: None,
        }
    }
}

impl Future for Append {
    type Output = (Ticket, TelemetryOutcome);

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let ticket = self.ticket;
        let Some(durable) = &mut self.durable else {
            return Poll::Ready((ticket, TelemetryOutcome::Failed));
        };
        let outcome = match ready!(Pin::new(durable).poll(cx)) {
            Ok(_) => TelemetryOutcome::Stored,
            Err(e) => {
                tracing::error!(error = %e, "telemetry append failed; closing without PUBACK");
                TelemetryOutcome::Failed
            }
        };
        self.durable = None;
        Poll::Ready((ticket, outcome))
    }
}

#[derive(Default)]
pub(crate) struct Appends {
    /// The oldest append, while no later one waits in `rest`'s front.
    first: Option<Append>,
    /// Later appends, in arrival order.
    rest: Option<FuturesOrdered<Append>>,
}

impl Appends {
    pub(crate) fn push(&mut self, append: Append) {
        if self.first.is_none() && self.rest.is_none() {
            self.first = Some(append);
        } else {
            self.rest
                .get_or_insert_with(FuturesOrdered::new)
                .push_back(append);
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.first.is_none() && self.rest.is_none()
    }

    /// The oldest result once it is ready; `None` when nothing is in flight.
    pub(crate) async fn next(&mut self) -> Option<(Ticket, TelemetryOutcome)> {
        std::future::poll_fn(|cx| self.poll_next(cx)).await
    }

    /// The oldest result if it is ready now, without waiting: a batch of results is taken
    /// together, so their acknowledgements leave in one write.
    pub(crate) fn next_ready(&mut self) -> Option<(Ticket, TelemetryOutcome)> {
        self.next().now_or_never().flatten()
    }

    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<(Ticket, TelemetryOutcome)>> {
        if let Some(first) = &mut self.first {
            let result = ready!(Pin::new(first).poll(cx));
            self.first = None;
            return Poll::Ready(Some(result));
        }
        let Some(rest) = &mut self.rest else {
            return Poll::Ready(None);
        };
        let next = ready!(rest.poll_next_unpin(cx));
        if rest.is_empty() {
            self.rest = None;
        }
        Poll::Ready(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::oneshot;

    fn ticket(n: u64) -> Ticket {
        Ticket(n)
    }

    #[tokio::test]
    async fn results_come_back_in_arrival_order_whichever_resolves_first() {
        let mut appends = Appends::default();
        let mut replies = Vec::new();
        for n in 0..5 {
            let (reply, append) = pending_append();
            appends.push(Append::started(ticket(n), append));
            replies.push(reply);
        }
        appends.push(Append::refused(ticket(5)));
        // Resolve newest first: nothing may come out before the oldest is durable.
        for reply in replies.drain(1..).rev() {
            reply();
            assert!(appends.next_ready().is_none());
        }
        replies.remove(0)();
        let order: Vec<_> = std::iter::from_fn(|| appends.next_ready()).collect();
        let tickets: Vec<u64> = order.iter().map(|(t, _)| t.0).collect();
        assert_eq!(tickets, vec![0, 1, 2, 3, 4, 5]);
        assert_eq!(order[4].1, TelemetryOutcome::Stored);
        assert_eq!(order[5].1, TelemetryOutcome::Failed);
        assert!(appends.is_empty());
        assert!(appends.next().await.is_none());
    }

    #[tokio::test]
    async fn an_append_arriving_after_the_slot_emptied_still_follows_the_waiting_ones() {
        let mut appends = Appends::default();
        let (first, a) = pending_append();
        let (second, b) = pending_append();
        appends.push(Append::started(ticket(1), a));
        appends.push(Append::started(ticket(2), b));
        first();
        assert_eq!(appends.next().await.map(|r| r.0.0), Some(1));
        // The slot is free now, but ticket 2 still waits: ticket 3 must queue behind it.
        appends.push(Append::refused(ticket(3)));
        assert!(appends.next_ready().is_none());
        second();
        assert_eq!(appends.next().await.map(|r| r.0.0), Some(2));
        assert_eq!(appends.next().await.map(|r| r.0.0), Some(3));
        assert!(appends.is_empty());
    }

    /// An append future resolved (as stored) by calling the returned function.
    fn pending_append() -> (impl FnOnce(), AppendFuture) {
        let (tx, rx) = oneshot::channel();
        let resolve = move || {
            let _ = tx.send(Ok(ferrohub_core::telemetry::AppendReceipt {
                partition: 0,
                sequence_number: 0,
                offset: 0,
                enqueued_time_ms: 0,
            }));
        };
        (resolve, AppendFuture::from_receiver(rx))
    }
}
