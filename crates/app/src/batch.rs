//! Writing to the database off the request path: a bounded buffer that requests drop items
//! into without ever waiting, and a background task that writes them in batches.
//!
//! Used for token last-use times ([`crate::credentials::last_used`]), usage analytics
//! ([`crate::usage`]) and the audit log ([`crate::audit`]). A request calls
//! [`Batcher::record`], which never blocks: it pushes the item onto a vector under a mutex
//! held for that push only. When the buffer is full (the database is slow or stalled) the
//! item is dropped and counted, and a warning is logged (the first time, then every 1,000th).
//! The task wakes every `every`, or as soon as `max_batch` items wait, swaps the whole
//! buffer out, hands the items to the writer and flushes it every `max_batch` pending items
//! and on every tick. A request never wakes the task for a single item (at tens of thousands
//! of pulls a second a wake-up per item cost more than the item itself). While a flush is
//! running the task takes nothing, so a stalled database fills the buffer instead of memory.
//! [`BatcherTask::shutdown`] makes it take what is left and flush once more.

use std::{
    fmt,
    future::Future,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use tokio::{sync::Notify, task::JoinHandle};

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
    /// The last flush, at shutdown: writes also what the writer would otherwise hold back.
    fn finish(&mut self) -> impl Future<Output = ()> + Send {
        self.flush()
    }
}

/// What the recording side and the task share.
struct Shared<T> {
    buffer: Mutex<Buffer<T>>,
    /// `max_batch` items wait.
    full: Notify,
    capacity: usize,
    max_batch: usize,
    dropped: AtomicU64,
    what: &'static str,
}

struct Buffer<T> {
    items: Vec<T>,
    /// Shut down: nothing is taken any more.
    closed: bool,
}

/// The recording side, cheap to clone and to call on every request.
pub struct Batcher<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Clone for Batcher<T> {
    fn clone(&self) -> Self {
        Self { shared: self.shared.clone() }
    }
}

impl<T> fmt::Debug for Batcher<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Batcher")
            .field("what", &self.shared.what)
            .field("capacity", &self.shared.capacity)
            .field("dropped", &self.shared.dropped.load(Ordering::Relaxed))
            .finish()
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
        let capacity = capacity.max(1);
        let shared = Arc::new(Shared {
            buffer: Mutex::new(Buffer { items: Vec::new(), closed: false }),
            full: Notify::new(),
            capacity,
            max_batch: max_batch.clamp(1, capacity),
            dropped: AtomicU64::new(0),
            what,
        });
        let stop = Arc::new(Notify::new());
        let join = tokio::spawn(run(writer, shared.clone(), stop.clone(), every));
        (Self { shared }, BatcherTask { stop, join })
    }

    /// Hands an item to the writer. Never waits: when the buffer is full the item is dropped
    /// and counted. Returns whether it was taken.
    pub fn record(&self, item: T) -> bool {
        let shared = &*self.shared;
        let waiting = match shared.buffer.lock() {
            Ok(mut buffer) if !buffer.closed && buffer.items.len() < shared.capacity => {
                buffer.items.push(item);
                Some(buffer.items.len())
            }
            _ => None,
        };
        match waiting {
            Some(waiting) => {
                if waiting == shared.max_batch {
                    shared.full.notify_one();
                }
                true
            }
            None => {
                let before = shared.dropped.fetch_add(1, Ordering::Relaxed);
                if before.is_multiple_of(1000) {
                    tracing::warn!(
                        what = shared.what,
                        dropped_total = before + 1,
                        "the background writer is behind: dropped a record"
                    );
                }
                false
            }
        }
    }

    /// Wakes the task as if `max_batch` items were waiting (for a writer that also takes
    /// work from elsewhere and has a full batch of it).
    pub fn wake(&self) {
        self.shared.full.notify_one();
    }

    /// How many items were dropped since start.
    #[cfg(test)]
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }
}

async fn run<F: Flush>(
    mut writer: F,
    shared: Arc<Shared<F::Item>>,
    stop: Arc<Notify>,
    every: Duration,
) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The buffer's items are swapped into this vector (which keeps its allocation).
    let mut taken = Vec::new();
    loop {
        let (ticked, stopping) = tokio::select! {
            _ = tick.tick() => (true, false),
            () = shared.full.notified() => (false, false),
            () = stop.notified() => (true, true),
        };
        if let Ok(mut buffer) = shared.buffer.lock() {
            std::mem::swap(&mut buffer.items, &mut taken);
            buffer.closed = stopping;
        }
        for item in taken.drain(..) {
            writer.add(item);
            if writer.pending() >= shared.max_batch {
                writer.flush().await;
            }
        }
        if !ticked && writer.pending() >= shared.max_batch {
            // Woken by the writer's own work (`Batcher::wake`).
            writer.flush().await;
        }
        if stopping {
            writer.finish().await;
            break;
        }
        if ticked && writer.pending() > 0 {
            writer.flush().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
