//! Recording when access tokens were last used, off the request path.
//!
//! Requests drop token ids into a [`Batcher`] (never waiting: when its buffer is full the id
//! is skipped); its task writes them in one batched UPDATE every few seconds, at most once a
//! minute per token.

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use time::OffsetDateTime;
use uuid::Uuid;
use wharf_db::PgPool;

use crate::batch::{Batcher, BatcherTask, Flush};

const CAPACITY: usize = 10_000;
const FLUSH_EVERY: Duration = Duration::from_secs(5);
const PER_TOKEN: Duration = Duration::from_secs(60);

/// The sending side, cheap to call on every request.
#[derive(Debug, Clone)]
pub struct LastUsed {
    batcher: Batcher<Uuid>,
}

impl LastUsed {
    /// Starts the background writer.
    pub fn start(pool: PgPool) -> (Self, BatcherTask) {
        let writer = Writer { pool, written: HashMap::new(), pending: Vec::new() };
        let (batcher, task) =
            Batcher::start("token last use", writer, CAPACITY, CAPACITY, FLUSH_EVERY);
        (Self { batcher }, task)
    }

    /// Notes that a token was used now. Never blocks.
    pub fn record(&self, token_id: Uuid) {
        self.batcher.record(token_id);
    }
}

struct Writer {
    pool: PgPool,
    written: HashMap<Uuid, Instant>,
    pending: Vec<Uuid>,
}

impl Flush for Writer {
    type Item = Uuid;

    fn add(&mut self, id: Uuid) {
        let fresh = self.written.get(&id).is_some_and(|at| at.elapsed() < PER_TOKEN);
        if !fresh && !self.pending.contains(&id) {
            self.pending.push(id);
        }
    }

    fn pending(&self) -> usize {
        self.pending.len()
    }

    async fn flush(&mut self) {
        let now = Instant::now();
        self.written.retain(|_, at| now.duration_since(*at) < PER_TOKEN);
        match wharf_db::tokens::touch_last_used(
            &self.pool,
            &self.pending,
            OffsetDateTime::now_utc(),
        )
        .await
        {
            Ok(_) => {
                for id in self.pending.drain(..) {
                    self.written.insert(id, now);
                }
            }
            Err(err) => {
                tracing::warn!("recording token use failed: {err}");
                self.pending.clear();
            }
        }
    }
}
