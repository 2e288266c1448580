//! A few long-lived threads that fsync partition files in parallel with the writer.
//!
//! A batch that touched several partitions must flush each file; done one after another that
//! is one journal commit after another, and spawning threads per batch costs more than it
//! saves at small batches. The pool is bounded (one thread per extra partition) and its job
//! queue holds at most one job per thread: the writer waits for every reply before it goes
//! on, so no job can queue behind another batch's.

use std::fs::File;
use std::io;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

type Job = (File, SyncSender<io::Result<()>>);

pub(crate) struct SyncPool {
    jobs: Option<SyncSender<Job>>,
    workers: Vec<JoinHandle<()>>,
}

impl SyncPool {
    /// `threads` workers; with 0, every sync runs on the caller's thread.
    pub(crate) fn new(threads: usize) -> Self {
        if threads == 0 {
            return Self {
                jobs: None,
                workers: Vec::new(),
            };
        }
        let (jobs, queue) = sync_channel::<Job>(threads);
        let queue = Arc::new(Mutex::new(queue));
        let workers = (0..threads)
            .filter_map(|i| {
                let queue = Arc::clone(&queue);
                std::thread::Builder::new()
                    .name(format!("log-sync-{i}"))
                    .spawn(move || work(&queue))
                    .ok()
            })
            .collect();
        Self {
            jobs: Some(jobs),
            workers,
        }
    }

    /// Fsyncs every file, the first on this thread and the rest on the pool; the first error
    /// wins. A file that could not be handed to the pool is synced here.
    pub(crate) fn sync_all(&self, files: Vec<File>) -> io::Result<()> {
        let mut files = files.into_iter();
        let Some(first) = files.next() else {
            return Ok(());
        };
        let mut replies = Vec::new();
        for file in files {
            let (reply, answer) = sync_channel(1);
            match &self.jobs {
                Some(jobs) if !self.workers.is_empty() => match jobs.send((file, reply)) {
                    Ok(()) => replies.push(answer),
                    Err(std::sync::mpsc::SendError((file, _))) => file.sync_data()?,
                },
                _ => file.sync_data()?,
            }
        }
        let mut result = first.sync_data();
        for answer in replies {
            let outcome = answer
                .recv()
                .unwrap_or_else(|_| Err(io::Error::other("a log sync thread stopped")));
            if result.is_ok() {
                result = outcome;
            }
        }
        result
    }
}

impl Drop for SyncPool {
    fn drop(&mut self) {
        // Closing the queue ends the workers.
        self.jobs = None;
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
    }
}

fn work(queue: &Mutex<Receiver<Job>>) {
    loop {
        let job = queue.lock().unwrap_or_else(PoisonError::into_inner).recv();
        let Ok((file, reply)) = job else { return };
        let _ = reply.send(file.sync_data());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_is_synced_whether_the_pool_has_threads_or_not() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        for threads in [0, 2] {
            let pool = SyncPool::new(threads);
            let files: Vec<File> = (0..4)
                .map(|i| {
                    File::create(dir.path().join(format!("f{threads}-{i}")))
                        .unwrap_or_else(|e| panic!("{e}"))
                })
                .collect();
            assert!(pool.sync_all(files).is_ok());
        }
    }
}
