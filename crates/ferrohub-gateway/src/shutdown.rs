//! A cloneable shutdown signal: listeners stop accepting, connections close.

use tokio::sync::watch;

/// Fires once; every clone sees it.
#[derive(Clone, Debug)]
pub struct Shutdown(watch::Receiver<bool>);

/// The sending side, held by the composition root.
#[derive(Debug)]
pub struct ShutdownTrigger(watch::Sender<bool>);

pub fn channel() -> (ShutdownTrigger, Shutdown) {
    let (tx, rx) = watch::channel(false);
    (ShutdownTrigger(tx), Shutdown(rx))
}

impl ShutdownTrigger {
    pub fn fire(&self) {
        let _ = self.0.send(true);
    }
}

impl Shutdown {
    /// Resolves when shutdown was requested (or the trigger was dropped).
    pub async fn requested(&mut self) {
        while !*self.0.borrow_and_update() {
            if self.0.changed().await.is_err() {
                return;
            }
        }
    }

    pub fn is_requested(&self) -> bool {
        *self.0.borrow()
    }
}
