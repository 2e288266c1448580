//! Many connections at once: one tokio task per device, connecting with a bounded number of
//! TLS handshakes in progress and an optional rate cap, then running the scenario's body.
//!
//! The body starts as soon as its own CONNACK arrives (an idle connection must start
//! pinging at once), so the scenario learns when the whole fleet is connected from
//! [`Fleet::connected`], and holds bodies back with a [`Gate`] until then. Bodies that have
//! setup of their own (subscribing) report it done with a [`Checkin`], so the measured
//! phase starts only once every device can answer.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::cli::CommonArgs;
use crate::conn::{Failure, MqttConn};
use crate::target::{Endpoint, Identity};

/// How the fleet connects.
#[derive(Debug, Clone, Copy)]
pub struct FleetOptions {
    /// TLS handshakes in progress at once.
    pub handshakes: usize,
    /// New connections per second; 0 = unlimited.
    pub connect_rate: u32,
    pub keep_alive: u16,
    pub timeout: Duration,
}

impl FleetOptions {
    pub fn from_common(c: &CommonArgs) -> FleetOptions {
        FleetOptions {
            handshakes: c.handshakes,
            connect_rate: c.connect_rate,
            keep_alive: c.keep_alive,
            timeout: Duration::from_secs(c.timeout),
        }
    }
}

/// The connect phase's outcome.
#[derive(Debug, Clone)]
pub struct ConnectPhase {
    pub connected: usize,
    pub failures: Vec<Failure>,
    /// From the first attempt to the last successful CONNACK.
    pub elapsed: Duration,
}

/// A one-shot signal every body can wait for.
#[derive(Clone)]
pub struct Gate(watch::Receiver<bool>);

pub struct GateOpener(watch::Sender<bool>);

pub fn gate() -> (GateOpener, Gate) {
    let (tx, rx) = watch::channel(false);
    (GateOpener(tx), Gate(rx))
}

impl GateOpener {
    pub fn open(&self) {
        self.0.send_replace(true);
    }
}

impl Gate {
    /// Resolves once the gate is open (at once if it already is).
    pub async fn opened(&mut self) {
        // An error means the opener was dropped: nobody will open it, so stop waiting.
        let _ = self.0.wait_for(|open| *open).await;
    }
}

/// Collects every connected body's [`Checkin`].
pub struct Checkins {
    sender: mpsc::UnboundedSender<Option<usize>>,
    receiver: mpsc::UnboundedReceiver<Option<usize>>,
}

/// One body's promise to say when its setup is done. Dropping it unused (the body failed
/// first) reports the device as not ready, so nobody waits for it forever.
pub struct Checkin {
    index: usize,
    sender: Option<mpsc::UnboundedSender<Option<usize>>>,
}

impl Default for Checkins {
    fn default() -> Self {
        let (sender, receiver) = mpsc::unbounded_channel();
        Checkins { sender, receiver }
    }
}

/// Hands out check-ins; cloned into every body.
#[derive(Clone)]
pub struct CheckinHandle(mpsc::UnboundedSender<Option<usize>>);

impl CheckinHandle {
    /// The check-in for device `index`.
    pub fn checkin(&self, index: usize) -> Checkin {
        Checkin {
            index,
            sender: Some(self.0.clone()),
        }
    }
}

impl Checkins {
    pub fn handle(&self) -> CheckinHandle {
        CheckinHandle(self.sender.clone())
    }

    /// Waits for `connected` check-ins (one per connected body) and returns the indices of
    /// the devices that are ready, ascending.
    pub async fn wait(&mut self, connected: usize) -> Vec<usize> {
        let mut ready = Vec::with_capacity(connected);
        for _ in 0..connected {
            match self.receiver.recv().await {
                Some(Some(index)) => ready.push(index),
                Some(None) => {}
                // Cannot happen while `self.sender` lives; stop rather than hang.
                None => break,
            }
        }
        ready.sort_unstable();
        ready
    }
}

impl Checkin {
    pub fn ready(mut self) {
        if let Some(sender) = self.sender.take() {
            let _ = sender.send(Some(self.index));
        }
    }
}

impl Drop for Checkin {
    fn drop(&mut self) {
        if let Some(sender) = self.sender.take() {
            let _ = sender.send(None);
        }
    }
}

/// The running connections; `T` is what each body returns.
pub struct Fleet<T> {
    /// `None` for a connection that never connected (already counted in [`ConnectPhase`]).
    tasks: JoinSet<Option<Result<T, Failure>>>,
    reports: mpsc::UnboundedReceiver<Result<Instant, Failure>>,
    attempts: usize,
    started: Instant,
}

impl<T: Send + 'static> Fleet<T> {
    /// Starts connecting every identity; `body` then runs with the connection.
    pub fn spawn<F, Fut>(
        endpoint: Arc<Endpoint>,
        identities: &[Identity],
        options: FleetOptions,
        body: F,
    ) -> Fleet<T>
    where
        F: Fn(usize, MqttConn) -> Fut + Clone + Send + 'static,
        Fut: Future<Output = Result<T, Failure>> + Send + 'static,
    {
        let (report, reports) = mpsc::unbounded_channel();
        let permits = Arc::new(Semaphore::new(options.handshakes));
        let started = Instant::now();
        let mut tasks = JoinSet::new();
        for (i, identity) in identities.iter().enumerate() {
            let (endpoint, identity, permits, report) = (
                endpoint.clone(),
                identity.clone(),
                permits.clone(),
                report.clone(),
            );
            let body = body.clone();
            let not_before = slot(started, i, options.connect_rate);
            tasks.spawn(async move {
                tokio::time::sleep_until(not_before).await;
                let connected = {
                    let Ok(_permit) = permits.acquire().await else {
                        // The semaphore is never closed; treat it like a failed connect.
                        let _ = report.send(Err(Failure::ConnectFailed("no permit".to_owned())));
                        return None;
                    };
                    MqttConn::connect(&endpoint, &identity, options.keep_alive, options.timeout)
                        .await
                };
                match connected {
                    Ok(conn) => {
                        let _ = report.send(Ok(Instant::now()));
                        Some(body(i, conn).await)
                    }
                    Err(failure) => {
                        let _ = report.send(Err(failure));
                        None
                    }
                }
            });
        }
        Fleet {
            tasks,
            reports,
            attempts: identities.len(),
            started,
        }
    }

    /// Waits until every connection attempt has succeeded or failed.
    pub async fn connected(&mut self) -> ConnectPhase {
        let mut phase = ConnectPhase {
            connected: 0,
            failures: Vec::new(),
            elapsed: Duration::ZERO,
        };
        for _ in 0..self.attempts {
            match self.reports.recv().await {
                Some(Ok(at)) => {
                    phase.connected += 1;
                    phase.elapsed = phase.elapsed.max(at - self.started);
                }
                Some(Err(failure)) => phase.failures.push(failure),
                // Every task reports once before it ends, so this means a task panicked.
                None => break,
            }
        }
        phase
    }

    /// Waits for every body to finish. Connections that never connected are left out; a
    /// panicked task counts as a dropped connection.
    pub async fn join(mut self) -> Vec<Result<T, Failure>> {
        let mut results = Vec::with_capacity(self.attempts);
        while let Some(joined) = self.tasks.join_next().await {
            match joined {
                Ok(None) => {}
                Ok(Some(result)) => results.push(result),
                Err(e) => results.push(Err(Failure::Dropped(format!("task failed: {e}")))),
            }
        }
        results
    }
}

/// When connection `index` may start, spreading starts evenly under a rate cap.
pub fn slot(started: Instant, index: usize, rate: u32) -> Instant {
    if rate == 0 {
        return started;
    }
    started + Duration::from_secs_f64(index as f64 / f64::from(rate))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_body_that_fails_before_checking_in_is_not_waited_for() {
        let mut checkins = Checkins::default();
        let handle = checkins.handle();
        let (a, b, c) = (handle.checkin(2), handle.checkin(0), handle.checkin(1));
        c.ready();
        drop(b);
        a.ready();
        assert_eq!(checkins.wait(3).await, vec![1, 2]);
    }
}
