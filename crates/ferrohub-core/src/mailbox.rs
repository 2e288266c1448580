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
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use ferrohub_protocol::session::HubEvent;
use futures_util::task::AtomicWaker;

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    /// Set (after the state changed) whenever there is something for the receiver: an event
    /// or the sender's end. Lets the receiver's frequent empty polls skip the lock.
    signalled: AtomicBool,
    receiver: AtomicWaker,
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
        signalled: AtomicBool::new(false),
        receiver: AtomicWaker::new(),
    });
    (EventSender(Arc::clone(&shared)), EventReceiver(shared))
}

impl Shared {
    fn signal(&self) {
        self.signalled.store(true, Ordering::Release);
        self.receiver.wake();
    }
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
        self.0.signal();
        Ok(())
    }
}

impl Drop for EventSender {
    fn drop(&mut self) {
        lock(&self.0).sender_gone = true;
        self.0.signal();
    }
}

/// The connection's side.
#[derive(Debug)]
pub struct EventReceiver(Arc<Shared>);

impl EventReceiver {
    /// The next event; `None` once the sender is gone and the queue is drained.
    pub async fn recv(&mut self) -> Option<HubEvent> {
        std::future::poll_fn(|cx| self.poll_recv(cx)).await
    }

    fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<HubEvent>> {
        if let Some(next) = self.try_next() {
            return Poll::Ready(next);
        }
        self.0.receiver.register(cx.waker());
        // A signal between the check and the registration would otherwise be missed.
        match self.try_next() {
            Some(next) => Poll::Ready(next),
            None => Poll::Pending,
        }
    }

    /// The next event if one is queued, without waiting.
    pub fn try_recv(&mut self) -> Option<HubEvent> {
        self.try_next().flatten()
    }

    /// `Some(Some(event))`, `Some(None)` when closed and empty, `None` when it must wait.
    fn try_next(&mut self) -> Option<Option<HubEvent>> {
        if !self.0.signalled.swap(false, Ordering::Acquire) {
            return None;
        }
        let mut state = lock(&self.0);
        if state.queue.len() > 1 || (state.queue.len() == 1 && state.sender_gone) {
            // More remains after this one: stay signalled.
            self.0.signalled.store(true, Ordering::Release);
        }
        match state.queue.pop_front() {
            Some(event) => {
                if state.queue.is_empty() {
                    // Release the queue's buffer: mailboxes are empty nearly always.
                    state.queue = VecDeque::new();
                }
                Some(Some(event))
            }
            None if state.sender_gone => {
                self.0.signalled.store(true, Ordering::Release);
                Some(None)
            }
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
