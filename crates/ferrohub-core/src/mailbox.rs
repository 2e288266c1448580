//! The event mailbox of one device connection: a small bounded queue the hub fills (kicks,
//! method calls, desired patches) and the connection drains.
//!
//! Why not `tokio::sync::mpsc`: a channel allocates its shared state and a first block of
//! 32 slots up front, about 1 KiB, and every connected device holds one while it is almost
//! always empty. Here the queue allocates only when an event is waiting.
//!
//! Invariants: events come out in the order they went in; once the sender is dropped the
//! receiver still gets every queued event, then `None` (the connection reads that as
//! "revoked"); `send` never blocks and refuses events beyond the capacity.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};

use ferrohub_protocol::session::HubEvent;
use tokio::sync::Notify;

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    /// One permit is stored when nobody waits, so a wake-up between the receiver's check
    /// and its wait is never lost.
    ready: Notify,
}

#[derive(Debug)]
struct State {
    queue: VecDeque<HubEvent>,
    capacity: usize,
    sender_gone: bool,
}

/// Creates a mailbox holding at most `capacity` events.
pub fn mailbox(capacity: usize) -> (EventSender, EventReceiver) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            queue: VecDeque::new(),
            capacity,
            sender_gone: false,
        }),
        ready: Notify::new(),
    });
    (EventSender(Arc::clone(&shared)), EventReceiver(shared))
}

fn lock(shared: &Shared) -> std::sync::MutexGuard<'_, State> {
    shared.state.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The hub's side. Dropping it ends the mailbox.
#[derive(Debug)]
pub struct EventSender(Arc<Shared>);

impl EventSender {
    /// Queues `event`; gives it back when the mailbox is full.
    pub fn try_send(&self, event: HubEvent) -> Result<(), HubEvent> {
        {
            let mut state = lock(&self.0);
            if state.queue.len() >= state.capacity {
                return Err(event);
            }
            state.queue.push_back(event);
        }
        self.0.ready.notify_one();
        Ok(())
    }
}

impl Drop for EventSender {
    fn drop(&mut self) {
        lock(&self.0).sender_gone = true;
        self.0.ready.notify_one();
    }
}

/// The connection's side.
#[derive(Debug)]
pub struct EventReceiver(Arc<Shared>);

impl EventReceiver {
    /// The next event; `None` once the sender is gone and the queue is drained.
    pub async fn recv(&mut self) -> Option<HubEvent> {
        loop {
            if let Some(next) = self.try_next() {
                return next;
            }
            self.0.ready.notified().await;
        }
    }

    /// The next event if one is queued, without waiting.
    pub fn try_recv(&mut self) -> Option<HubEvent> {
        self.try_next().flatten()
    }

    /// `Some(Some(event))`, `Some(None)` when closed and empty, `None` when it must wait.
    fn try_next(&mut self) -> Option<Option<HubEvent>> {
        let mut state = lock(&self.0);
        match state.queue.pop_front() {
            Some(event) => {
                if state.queue.is_empty() {
                    // Release the queue's buffer: mailboxes are empty nearly always.
                    state.queue = VecDeque::new();
                }
                Some(Some(event))
            }
            None if state.sender_gone => Some(None),
            None => None,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[tokio::test]
    async fn events_arrive_in_order_and_a_dropped_sender_ends_after_the_queue() {
        let (tx, mut rx) = mailbox(4);
        tx.try_send(HubEvent::CloudToDeviceAvailable).unwrap();
        tx.try_send(HubEvent::TakenOver).unwrap();
        drop(tx);
        assert_eq!(rx.recv().await, Some(HubEvent::CloudToDeviceAvailable));
        assert_eq!(rx.recv().await, Some(HubEvent::TakenOver));
        assert_eq!(rx.recv().await, None);
    }

    #[tokio::test]
    async fn a_full_mailbox_refuses_and_a_waiting_receiver_is_woken() {
        let (tx, mut rx) = mailbox(1);
        let waiter = tokio::spawn(async move { rx.recv().await });
        tx.try_send(HubEvent::Revoked).unwrap();
        assert_eq!(waiter.await.unwrap(), Some(HubEvent::Revoked));
        let (tx, mut rx) = mailbox(1);
        tx.try_send(HubEvent::Shutdown).unwrap();
        assert_eq!(tx.try_send(HubEvent::TakenOver), Err(HubEvent::TakenOver));
        assert_eq!(rx.try_recv(), Some(HubEvent::Shutdown));
        assert_eq!(rx.try_recv(), None);
    }
}
