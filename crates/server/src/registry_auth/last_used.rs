//! Recording when access tokens were last used, off the request path.
//!
//! Owns a bounded channel that requests drop token ids into (never waiting: when it is full
//! the id is skipped), and a background task that writes them in one batched UPDATE every
//! few seconds, at most once a minute per token.

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use time::OffsetDateTime;
use tokio::sync::mpsc;
use uuid::Uuid;
use wharf_db::PgPool;

const CAPACITY: usize = 10_000;
const FLUSH_EVERY: Duration = Duration::from_secs(5);
const PER_TOKEN: Duration = Duration::from_secs(60);

/// The sending side, cheap to call on every request.
#[derive(Debug, Clone)]
pub struct LastUsed {
    tx: mpsc::Sender<Uuid>,
}

impl LastUsed {
    /// Starts the background writer.
    pub fn start(pool: PgPool) -> Self {
        let (tx, rx) = mpsc::channel(CAPACITY);
        tokio::spawn(run(pool, rx));
        Self { tx }
    }

    /// Notes that a token was used now. Never blocks.
    pub fn record(&self, token_id: Uuid) {
        let _ = self.tx.try_send(token_id);
    }
}

async fn run(pool: PgPool, mut rx: mpsc::Receiver<Uuid>) {
    let mut written: HashMap<Uuid, Instant> = HashMap::new();
    let mut pending: Vec<Uuid> = Vec::new();
    let mut tick = tokio::time::interval(FLUSH_EVERY);
    loop {
        tokio::select! {
            id = rx.recv() => match id {
                Some(id) => {
                    let fresh = written.get(&id).is_some_and(|at| at.elapsed() < PER_TOKEN);
                    if !fresh && !pending.contains(&id) {
                        pending.push(id);
                    }
                }
                None => break,
            },
            _ = tick.tick() => {
                if pending.is_empty() {
                    continue;
                }
                let now = Instant::now();
                written.retain(|_, at| now.duration_since(*at) < PER_TOKEN);
                match wharf_db::tokens::touch_last_used(&pool, &pending, OffsetDateTime::now_utc()).await {
                    Ok(_) => {
                        for id in pending.drain(..) {
                            written.insert(id, now);
                        }
                    }
                    Err(err) => {
                        tracing::warn!("recording token use failed: {err}");
                        pending.clear();
                    }
                }
            }
        }
    }
}
