//! Hashing an append's bytes on a blocking thread ahead of the store that writes them: the
//! default of [`crate::BlobStore::append_hashed`], for stores without a hashing stage of
//! their own (S3: each part goes to the network, not through a thread of ours; the
//! filesystem store hashes in its own pipeline).

use std::future::Future as _;
use std::io;

use wharf_oci::digest::Hasher;

/// How many bytes of a body are hashed at a time (one blocking call).
const HASH_BATCH: usize = 1024 * 1024;

/// A body stream whose bytes are hashed on a blocking thread, a batch of [`HASH_BATCH`] at a
/// time, while the next batch is received: receiving (hyper copying from the socket),
/// hashing and the blob store's writing are three stages that run at once instead of taking
/// turns on the request's task. Frames are passed on in order, each only once it is hashed,
/// so the store never holds a byte the hasher has not seen. Memory is bounded: one batch
/// being received, one being hashed, and what the store holds (it stops pulling while it
/// writes). The hasher is put back into `slot` after each batch; the stream ends only when
/// the body has ended and every batch is hashed, so at its end `slot` holds the hasher over
/// every byte passed on. Dropped early (an error), a batch still hashing is abandoned with
/// the hasher, and `slot` stays empty.
pub(crate) struct HashAhead<'a, S> {
    frames: S,
    slot: &'a mut Option<Hasher>,
    gathering: Vec<bytes::Bytes>,
    gathered: usize,
    hashing: Option<tokio::task::JoinHandle<(Hasher, Vec<bytes::Bytes>)>>,
    ready: std::collections::VecDeque<bytes::Bytes>,
    ended: bool,
}

impl<'a, S> HashAhead<'a, S> {
    pub(crate) fn new(frames: S, slot: &'a mut Option<Hasher>) -> Self {
        Self {
            frames,
            slot,
            gathering: Vec::new(),
            gathered: 0,
            hashing: None,
            ready: std::collections::VecDeque::new(),
            ended: false,
        }
    }
}

impl<S> futures_util::Stream for HashAhead<'_, S>
where
    S: futures_util::Stream<Item = io::Result<bytes::Bytes>> + Unpin,
{
    type Item = io::Result<bytes::Bytes>;

    fn poll_next(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        use std::task::Poll;
        let this = self.get_mut();
        loop {
            if let Some(frame) = this.ready.pop_front() {
                return Poll::Ready(Some(Ok(frame)));
            }
            if let Some(task) = &mut this.hashing
                && let Poll::Ready(done) = std::pin::Pin::new(task).poll(cx)
            {
                this.hashing = None;
                let (hasher, frames) = done.map_err(io::Error::other)?;
                *this.slot = Some(hasher);
                this.ready.extend(frames);
                continue;
            }
            if !this.ended && this.gathered < HASH_BATCH {
                match std::pin::Pin::new(&mut this.frames).poll_next(cx) {
                    Poll::Ready(Some(Ok(frame))) => {
                        this.gathered += frame.len();
                        this.gathering.push(frame);
                        continue;
                    }
                    Poll::Ready(Some(Err(err))) => return Poll::Ready(Some(Err(err))),
                    Poll::Ready(None) => {
                        this.ended = true;
                        continue;
                    }
                    Poll::Pending => {}
                }
            }
            let full = this.gathered >= HASH_BATCH || (this.ended && this.gathered > 0);
            if full && this.hashing.is_none() {
                let Some(mut hasher) = this.slot.take() else {
                    return Poll::Ready(Some(Err(io::Error::other("the hasher was lost"))));
                };
                let batch = std::mem::take(&mut this.gathering);
                this.gathered = 0;
                this.hashing = Some(tokio::task::spawn_blocking(move || {
                    batch.iter().for_each(|frame| hasher.update(frame));
                    (hasher, batch)
                }));
                continue;
            }
            if this.ended && this.hashing.is_none() && this.gathered == 0 {
                return Poll::Ready(None);
            }
            return Poll::Pending;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt as _;
    use futures_util::TryStreamExt as _;
    use wharf_oci::digest::Algorithm;

    fn frames(sizes: &[usize]) -> Vec<bytes::Bytes> {
        let mut n = 0u8;
        sizes
            .iter()
            .map(|&len| {
                bytes::Bytes::from_iter((0..len).map(|_| {
                    n = n.wrapping_mul(31).wrapping_add(7);
                    n
                }))
            })
            .collect()
    }

    /// Every frame comes out once, in order, and the hasher put back covers exactly them,
    /// whether the body is empty, smaller than a batch or many batches in odd frame sizes.
    #[tokio::test]
    async fn passes_every_frame_on_in_order_and_hashes_it() {
        let cases: [&[usize]; 5] = [
            &[],
            &[0, 5, 0],
            &[HASH_BATCH],
            &[300_000, 700_000, 48_577, 1, HASH_BATCH + 3, 17, 2 * HASH_BATCH],
            &[16 * 1024; 300],
        ];
        for sizes in cases {
            let input = frames(sizes);
            let mut slot = Some(Hasher::new(Algorithm::Sha256));
            let source = futures_util::stream::iter(input.clone().into_iter().map(Ok));
            let output: Vec<bytes::Bytes> =
                HashAhead::new(source, &mut slot).try_collect().await.unwrap();
            assert_eq!(output, input, "{sizes:?}");
            let mut expected = Hasher::new(Algorithm::Sha256);
            input.iter().for_each(|frame| expected.update(frame));
            assert_eq!(slot.unwrap().finalize(), expected.finalize(), "{sizes:?}");
        }
    }

    /// A body error is passed on; nothing after it is needed.
    #[tokio::test]
    async fn passes_a_body_error_on() {
        let mut slot = Some(Hasher::new(Algorithm::Sha512));
        let source = futures_util::stream::iter(vec![
            Ok(bytes::Bytes::from(vec![1u8; 10])),
            Err(io::Error::other("connection reset")),
        ]);
        let result: io::Result<Vec<bytes::Bytes>> =
            HashAhead::new(source, &mut slot).try_collect().await;
        assert_eq!(result.unwrap_err().to_string(), "connection reset");
    }

    /// While one batch hashes the next is received, but no more: however fast the body
    /// comes, at most two batches (and a frame) are held beyond what was handed on.
    #[tokio::test]
    async fn receives_at_most_two_batches_ahead() {
        let pulled = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = pulled.clone();
        let source = futures_util::stream::iter(frames(&[64 * 1024; 64])).map(move |frame| {
            counter.fetch_add(frame.len(), std::sync::atomic::Ordering::SeqCst);
            Ok(frame)
        });
        let mut slot = Some(Hasher::new(Algorithm::Sha256));
        let mut stream = HashAhead::new(source, &mut slot);
        let mut passed = 0;
        while let Some(frame) = stream.try_next().await.unwrap() {
            passed += frame.len();
            let received = pulled.load(std::sync::atomic::Ordering::SeqCst);
            // Received but not yet passed on: the batch being hashed (or whose frames are
            // being handed on) and the one being gathered.
            assert!(received - passed <= 2 * HASH_BATCH + 64 * 1024, "{received} {passed}");
        }
        assert_eq!(passed, 4 * 1024 * 1024);
        drop(stream);
        assert!(slot.is_some());
    }
}
