//! `AppendFuture`: what `TelemetryLog::append` returns, resolving when the record is durable.
//!
//! A named type rather than a boxed `dyn Future` because one is made per telemetry message:
//! in the common case (the queue had room) it is only the reply channel, so an append costs
//! no allocation beyond that channel. The rare wait for queue room is boxed.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::sync::oneshot;

use crate::{AppendReceipt, LogError};

/// Resolves with the append's receipt once the record is durable, or with why it failed.
#[must_use = "an append is only known to be durable when its future resolves"]
pub struct AppendFuture {
    state: State,
}

pub type Receipt = oneshot::Receiver<Result<AppendReceipt, LogError>>;
type Send = Pin<Box<dyn Future<Output = Result<(), LogError>> + std::marker::Send>>;

enum State {
    /// Refused before it was queued; `None` once reported.
    Failed(Option<LogError>),
    /// Queued; the writer answers on the channel.
    Queued(Receipt),
    /// The queue was full: waiting (in FIFO order) for room, then for the answer.
    WaitingForRoom(Send, Receipt),
}

impl AppendFuture {
    pub(crate) fn failed(error: LogError) -> Self {
        AppendFuture {
            state: State::Failed(Some(error)),
        }
    }

    /// An append already queued, answered on `receipt` (for other `TelemetryLog`
    /// implementations and their tests).
    pub fn from_receiver(receipt: Receipt) -> Self {
        Self::queued(receipt)
    }

    pub(crate) fn queued(receipt: Receipt) -> Self {
        AppendFuture {
            state: State::Queued(receipt),
        }
    }

    pub(crate) fn waiting_for_room(send: Send, receipt: Receipt) -> Self {
        AppendFuture {
            state: State::WaitingForRoom(send, receipt),
        }
    }
}

impl Future for AppendFuture {
    type Output = Result<AppendReceipt, LogError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        loop {
            match &mut self.state {
                State::Failed(error) => {
                    return Poll::Ready(Err(error.take().unwrap_or(LogError::Closed)));
                }
                State::Queued(receipt) => {
                    // A dropped reply means the writer stopped without answering.
                    let answer = ready!(Pin::new(receipt).poll(cx));
                    return Poll::Ready(answer.unwrap_or(Err(LogError::Closed)));
                }
                State::WaitingForRoom(send, _) => {
                    let sent = ready!(send.as_mut().poll(cx));
                    let previous = std::mem::replace(&mut self.state, State::Failed(None));
                    if let State::WaitingForRoom(_, receipt) = previous {
                        self.state = match sent {
                            Ok(()) => State::Queued(receipt),
                            Err(e) => State::Failed(Some(e)),
                        };
                    }
                }
            }
        }
    }
}
