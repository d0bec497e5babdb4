//! The public listener: accepts connections and serves the router over HTTP/1.1, with bounds
//! that keep slow clients from holding connections (a slowloris).
//!
//! Owns the accept loop, the per-connection HTTP settings and graceful shutdown. It bounds
//! how long a client may take to send a request head (hyper's `header_read_timeout`, which
//! also bounds an idle keep-alive connection) and how slowly it may send a request body
//! ([`MinRateBody`]), so a stalled or trickling client loses its connection and its file
//! descriptor within those bounds. It must not bound how long a request takes otherwise: a
//! blob transfer may take hours, and time the server itself spends (waiting for a lease,
//! for storage) never counts against the client.

use std::{
    fmt,
    future::Future,
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use axum::{Router, body::Body, extract::ConnectInfo};
use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use hyper::{body::Incoming, server::conn::http1, service::service_fn};
use hyper_util::{
    rt::{TokioIo, TokioTimer},
    server::graceful::GracefulShutdown,
};
use tokio::{
    net::TcpListener,
    time::{Instant, Sleep},
};
use tower::ServiceExt;

/// How slow a client may be before its connection is closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlowClientLimits {
    /// The whole request head (request line and headers) must arrive within this, counted
    /// from when the server starts reading it; on a keep-alive connection that is right after
    /// the previous response, so it also bounds an idle connection.
    pub header_read_timeout: Duration,
    /// The window of the body rate: a request body must deliver at least
    /// `body_min_rate × body_window` bytes (at least one) for every `body_window` the server
    /// spends waiting for it, or it is cut off.
    pub body_window: Duration,
    /// Bytes per second, on average over each window; 0 makes the window a pure idle
    /// timeout (any byte restarts it).
    pub body_min_rate: u64,
}

impl SlowClientLimits {
    /// Bytes a body must deliver per window.
    fn window_quota(&self) -> u64 {
        let quota = u128::from(self.body_min_rate) * self.body_window.as_millis() / 1000;
        u64::try_from(quota).unwrap_or(u64::MAX).max(1)
    }
}

/// Serves `router` on `listener` until `shutdown` resolves, then stops accepting, lets
/// every connection finish its request in flight and close, and returns when all have.
/// Each request sees the peer address as `ConnectInfo<SocketAddr>`.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: SlowClientLimits,
    shutdown: impl Future<Output = ()>,
) {
    let graceful = GracefulShutdown::new();
    let mut builder = http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(limits.header_read_timeout);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of descriptors (EMFILE) or a connection reset before it was
                    // accepted: wait a moment instead of spinning.
                    tracing::warn!(error = &err as &dyn std::error::Error, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = shutdown.as_mut() => break,
        };
        let router = router.clone();
        let service = service_fn(move |request: http::Request<Incoming>| {
            let mut request = request.map(|body| Body::new(MinRateBody::new(body, limits)));
            request.extensions_mut().insert(ConnectInfo(peer));
            router.clone().oneshot(request)
        });
        let connection = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::debug!(%peer, error = &err as &dyn std::error::Error, "connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// A request body that must keep up a minimum rate ([`SlowClientLimits`]): it fails with
/// [`BodyTooSlow`] when, within the time spent waiting for the client since the window
/// began, fewer than the window's bytes arrived. Only time during which the body was polled
/// and had nothing counts: while the server does not read (it waits for a lease, storage
/// is slow), the client is not to blame.
#[derive(Debug)]
pub struct MinRateBody<B> {
    inner: B,
    window: Duration,
    quota: u64,
    /// Bytes received in the current window.
    received: u64,
    /// Time spent waiting for the client in the current window, not counting the wait in
    /// progress.
    waited: Duration,
    /// When the wait in progress began.
    waiting_since: Option<Instant>,
    timer: Option<Pin<Box<Sleep>>>,
}

impl<B> MinRateBody<B> {
    /// Wraps `inner` under `limits`.
    pub fn new(inner: B, limits: SlowClientLimits) -> Self {
        Self {
            inner,
            window: limits.body_window,
            quota: limits.window_quota(),
            received: 0,
            waited: Duration::ZERO,
            waiting_since: None,
            timer: None,
        }
    }
}

/// A request body that arrived more slowly than the listener allows.
#[derive(Debug)]
pub struct BodyTooSlow {
    quota: u64,
    window: Duration,
}

impl fmt::Display for BodyTooSlow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the request body arrived too slowly (fewer than {} bytes in {} s of waiting)",
            self.quota,
            self.window.as_secs_f64()
        )
    }
}

impl std::error::Error for BodyTooSlow {}

impl<B> HttpBody for MinRateBody<B>
where
    B: HttpBody<Data = Bytes> + Unpin,
    B::Error: Into<axum::BoxError>,
{
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        let too_slow = |this: &Self| {
            tracing::info!(
                bytes = this.received,
                window_s = this.window.as_secs_f64(),
                "cutting off a request body that arrives too slowly"
            );
            Poll::Ready(Some(Err(BodyTooSlow { quota: this.quota, window: this.window }.into())))
        };
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(since) = this.waiting_since.take() {
                    this.waited += since.elapsed();
                }
                if let Some(data) = frame.data_ref() {
                    this.received = this.received.saturating_add(data.len() as u64);
                }
                if this.received >= this.quota {
                    this.received = 0;
                    this.waited = Duration::ZERO;
                } else if this.waited >= this.window {
                    return too_slow(this);
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(err))) => Poll::Ready(Some(Err(err.into()))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => {
                let since = *this.waiting_since.get_or_insert_with(Instant::now);
                let deadline = since + this.window.saturating_sub(this.waited);
                let timer = match &mut this.timer {
                    Some(timer) => {
                        if timer.deadline() != deadline {
                            timer.as_mut().reset(deadline);
                        }
                        timer
                    }
                    None => this.timer.insert(Box::pin(tokio::time::sleep_until(deadline))),
                };
                if timer.as_mut().poll(cx).is_ready() {
                    return too_slow(this);
                }
                Poll::Pending
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{BodyExt, StreamBody};
    use std::convert::Infallible;

    fn limits(window_ms: u64, rate: u64) -> SlowClientLimits {
        SlowClientLimits {
            header_read_timeout: Duration::from_secs(10),
            body_window: Duration::from_millis(window_ms),
            body_min_rate: rate,
        }
    }

    /// A body of `pieces` pieces of `size` bytes, one every `every`.
    fn trickle(
        pieces: usize,
        size: usize,
        every: Duration,
    ) -> impl HttpBody<Data = Bytes, Error = Infallible> + Unpin {
        let stream = futures_util::stream::unfold(0, move |i| async move {
            if i == pieces {
                return None;
            }
            tokio::time::sleep(every).await;
            Some((Ok::<_, Infallible>(Frame::data(Bytes::from(vec![b'x'; size]))), i + 1))
        });
        StreamBody::new(Box::pin(stream))
    }

    async fn read_all(
        body: impl HttpBody<Data = Bytes, Error = axum::BoxError>,
    ) -> Result<usize, String> {
        let mut body = std::pin::pin!(body);
        let mut total = 0;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| e.to_string())?;
            total += frame.data_ref().map_or(0, Bytes::len);
        }
        Ok(total)
    }

    #[test]
    fn the_quota_is_rate_times_window_and_at_least_a_byte() {
        assert_eq!(limits(30_000, 1024).window_quota(), 30 * 1024);
        assert_eq!(limits(30_000, 0).window_quota(), 1);
        assert_eq!(limits(500, 1).window_quota(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_steady_body_passes_and_a_trickle_is_cut_off() {
        // 1 KiB every 500 ms is 2 KiB/s: above a 1 KiB/s minimum, for ten windows.
        let steady =
            MinRateBody::new(trickle(40, 1024, Duration::from_millis(500)), limits(2000, 1024));
        assert_eq!(read_all(steady).await, Ok(40 * 1024));
        // A byte every 500 ms is not.
        let started = Instant::now();
        let slow = MinRateBody::new(trickle(40, 1, Duration::from_millis(500)), limits(2000, 1024));
        let err = read_all(slow).await.unwrap_err();
        assert!(err.contains("too slowly"), "{err}");
        assert_eq!(started.elapsed(), Duration::from_secs(2), "cut off at the window's end");
        // With no minimum rate, the window is an idle timeout: a byte a second passes, a
        // pause longer than the window does not.
        let idle = MinRateBody::new(trickle(5, 1, Duration::from_secs(1)), limits(2000, 0));
        assert_eq!(read_all(idle).await, Ok(5));
        let stalled = MinRateBody::new(trickle(2, 1, Duration::from_secs(3)), limits(2000, 0));
        assert!(read_all(stalled).await.is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn time_the_server_does_not_read_does_not_count() {
        let mut body = std::pin::pin!(MinRateBody::new(
            trickle(3, 1024, Duration::from_millis(100)),
            limits(1000, 4096)
        ));
        assert!(body.frame().await.unwrap().is_ok());
        // The server is busy for longer than the window before it reads on.
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert!(body.frame().await.unwrap().is_ok());
        assert!(body.frame().await.unwrap().is_ok());
        assert!(body.frame().await.is_none());
    }
}
