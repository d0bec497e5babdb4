//! Writing to the database off the request path: a bounded buffer that requests drop items
//! into without ever waiting, and a background task that writes them in batches.
//!
//! Used for token last-use times ([`crate::registry_auth::last_used`]) and usage analytics
//! ([`crate::usage`]). A request calls [`Batcher::record`], which never blocks: when the
//! buffer is full (the database is slow or stalled) the item is dropped and counted, and a
//! warning is logged (the first time, then every 1,000th). The task takes items into the
//! writer's pending batch and flushes it every `every` or when `max_batch` items are pending;
//! while a flush is running it takes nothing, so a stalled database fills the buffer instead
//! of memory. [`BatcherTask::shutdown`] makes it take what is left and flush once more.

use std::{
    future::Future,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use tokio::{
    sync::{Notify, mpsc},
    task::JoinHandle,
};

/// The writing side of a batcher: accumulates items and writes them.
pub trait Flush: Send + 'static {
    /// What requests record.
    type Item: Send + 'static;
    /// Takes one item into the pending batch.
    fn add(&mut self, item: Self::Item);
    /// How many items are pending.
    fn pending(&self) -> usize;
    /// Writes the pending batch (and decides what to keep on failure).
    fn flush(&mut self) -> impl Future<Output = ()> + Send;
}

/// The recording side, cheap to clone and to call on every request.
#[derive(Debug)]
pub struct Batcher<T> {
    tx: mpsc::Sender<T>,
    dropped: Arc<AtomicU64>,
    what: &'static str,
}

impl<T> Clone for Batcher<T> {
    fn clone(&self) -> Self {
        Self { tx: self.tx.clone(), dropped: self.dropped.clone(), what: self.what }
    }
}

/// The background task of a batcher.
#[derive(Debug)]
pub struct BatcherTask {
    stop: Arc<Notify>,
    join: JoinHandle<()>,
}

impl BatcherTask {
    /// Takes what is still buffered, flushes it and ends; waits at most `limit`.
    pub async fn shutdown(self, limit: Duration) {
        self.stop.notify_one();
        if tokio::time::timeout(limit, self.join).await.is_err() {
            tracing::warn!("a background writer did not finish flushing within {limit:?}");
        }
    }
}

impl<T: Send + 'static> Batcher<T> {
    /// Starts the task writing through `writer`. `capacity` bounds the buffer; a flush runs
    /// every `every` and whenever `max_batch` items are pending.
    pub fn start<F: Flush<Item = T>>(
        what: &'static str,
        writer: F,
        capacity: usize,
        max_batch: usize,
        every: Duration,
    ) -> (Self, BatcherTask) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let stop = Arc::new(Notify::new());
        let join = tokio::spawn(run(writer, rx, stop.clone(), max_batch.max(1), every));
        (Self { tx, dropped: Arc::new(AtomicU64::new(0)), what }, BatcherTask { stop, join })
    }

    /// Hands an item to the writer. Never waits: when the buffer is full the item is dropped
    /// and counted. Returns whether it was taken.
    pub fn record(&self, item: T) -> bool {
        match self.tx.try_send(item) {
            Ok(()) => true,
            Err(_) => {
                let before = self.dropped.fetch_add(1, Ordering::Relaxed);
                if before.is_multiple_of(1000) {
                    tracing::warn!(
                        what = self.what,
                        dropped_total = before + 1,
                        "the background writer is behind: dropped a record"
                    );
                }
                false
            }
        }
    }

    /// How many items were dropped since start.
    #[cfg(test)]
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

async fn run<F: Flush>(
    mut writer: F,
    mut rx: mpsc::Receiver<F::Item>,
    stop: Arc<Notify>,
    max_batch: usize,
    every: Duration,
) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            item = rx.recv() => match item {
                Some(item) => {
                    writer.add(item);
                    if writer.pending() >= max_batch {
                        writer.flush().await;
                    }
                }
                None => break,
            },
            _ = tick.tick() => {
                if writer.pending() > 0 {
                    writer.flush().await;
                }
            }
            () = stop.notified() => break,
        }
    }
    rx.close();
    while let Some(item) = rx.recv().await {
        writer.add(item);
        if writer.pending() >= max_batch {
            writer.flush().await;
        }
    }
    if writer.pending() > 0 {
        writer.flush().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[derive(Default)]
    struct Collect {
        pending: Vec<u32>,
        written: Arc<Mutex<Vec<Vec<u32>>>>,
        gate: Option<Arc<tokio::sync::Semaphore>>,
    }

    impl Flush for Collect {
        type Item = u32;
        fn add(&mut self, item: u32) {
            self.pending.push(item);
        }
        fn pending(&self) -> usize {
            self.pending.len()
        }
        async fn flush(&mut self) {
            if let Some(gate) = &self.gate {
                let _permit = gate.acquire().await;
            }
            self.written.lock().unwrap().push(std::mem::take(&mut self.pending));
        }
    }

    #[tokio::test]
    async fn flushes_in_batches_and_on_shutdown() {
        let written = Arc::new(Mutex::new(Vec::new()));
        let writer = Collect { written: written.clone(), ..Default::default() };
        let (batcher, task) = Batcher::start("test", writer, 100, 3, Duration::from_secs(3600));
        for i in 0..7 {
            assert!(batcher.record(i));
        }
        task.shutdown(Duration::from_secs(5)).await;
        let batches = written.lock().unwrap().clone();
        assert_eq!(batches.concat(), (0..7).collect::<Vec<_>>());
        assert!(batches.iter().all(|b| b.len() <= 3), "{batches:?}");
        assert_eq!(batcher.dropped(), 0);
    }

    #[tokio::test]
    async fn a_stalled_writer_drops_and_counts_without_blocking() {
        let gate = Arc::new(tokio::sync::Semaphore::new(0));
        let written = Arc::new(Mutex::new(Vec::new()));
        let writer =
            Collect { written: written.clone(), gate: Some(gate.clone()), ..Default::default() };
        let (batcher, task) = Batcher::start("test", writer, 2, 1, Duration::from_secs(3600));
        let started = std::time::Instant::now();
        let mut taken = 0;
        for i in 0..100 {
            if batcher.record(i) {
                taken += 1;
            }
            tokio::task::yield_now().await;
        }
        assert!(started.elapsed() < Duration::from_secs(1));
        assert!(taken <= 4, "taken {taken}");
        assert_eq!(batcher.dropped(), 100 - taken);
        gate.add_permits(1000);
        task.shutdown(Duration::from_secs(5)).await;
        assert_eq!(written.lock().unwrap().concat().len() as u64, taken);
    }
}
