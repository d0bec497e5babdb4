//! A minimal HTTP/1.1 client over keep-alive loopback connections, for the two measurements
//! where the client must cost as little as possible and wrk cannot serve:
//!
//! - HEAD under load: wrk waits for the body that a HEAD answer's `Content-Length` announces
//!   and never completes a request (wg/wrk#198), so [`head_load`] sends fixed request bytes
//!   on N connections and reads answers up to the blank line, like wrk does for GET;
//! - whole-blob GET streams: [`get_streams`] reads the body into one reused buffer and only
//!   counts it, so the client's cost is the kernel copy and nothing else.
//!
//! Answers must carry `Content-Length` (no chunked encoding, no redirects); anything else,
//! and any status but 200, fails the measurement rather than being counted.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    task::JoinSet,
};

use crate::wrk;

/// `host:port` of an `http://host:port…` URL.
pub fn address(url: &str) -> anyhow::Result<String> {
    let rest = url.strip_prefix("http://").context("only http:// URLs")?;
    Ok(rest.split('/').next().unwrap_or(rest).to_owned())
}

/// The bytes of a request without a body.
pub fn request(method: &str, url: &str, headers: &[String]) -> anyhow::Result<Vec<u8>> {
    let host = address(url)?;
    let path = &url["http://".len() + host.len()..];
    let mut text = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\n");
    for header in headers {
        text.push_str(header);
        text.push_str("\r\n");
    }
    text.push_str("\r\n");
    Ok(text.into_bytes())
}

/// The head of one answer.
#[derive(Debug)]
struct Head {
    status: u16,
    content_length: Option<u64>,
    /// Bytes after the head already read (the start of the body).
    body_read: usize,
    close: bool,
}

fn parse_head(head: &[u8]) -> anyhow::Result<(u16, Option<u64>, bool)> {
    let text = std::str::from_utf8(head).context("a non-UTF-8 answer head")?;
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("not an HTTP status line: {status_line:?}"))?;
    let (mut length, mut close) = (None, false);
    for line in lines {
        let Some((name, value)) = line.split_once(':') else { continue };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            length = Some(value.parse().context("Content-Length")?);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            bail!("a chunked answer; this client reads Content-Length only");
        } else if name.eq_ignore_ascii_case("connection") && value.eq_ignore_ascii_case("close") {
            close = true;
        }
    }
    Ok((status, length, close))
}

/// One keep-alive connection.
struct Connection {
    address: String,
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Connection {
    async fn open(address: &str) -> anyhow::Result<Self> {
        let stream = TcpStream::connect(address).await?;
        stream.set_nodelay(true)?;
        Ok(Self { address: address.to_owned(), stream, buf: Vec::with_capacity(16 * 1024) })
    }

    /// Sends `request` and reads the answer's head.
    async fn exchange(&mut self, request: &[u8]) -> anyhow::Result<Head> {
        self.stream.write_all(request).await?;
        self.buf.clear();
        let mut chunk = [0u8; 16 * 1024];
        loop {
            let n = self.stream.read(&mut chunk).await?;
            if n == 0 {
                bail!("the server closed the connection");
            }
            let searched = self.buf.len().saturating_sub(3);
            self.buf.extend_from_slice(&chunk[..n]);
            if let Some(at) = self.buf[searched..].windows(4).position(|w| w == b"\r\n\r\n") {
                let end = searched + at + 4;
                let (status, content_length, close) = parse_head(&self.buf[..end])?;
                return Ok(Head { status, content_length, body_read: self.buf.len() - end, close });
            }
            if self.buf.len() > 64 * 1024 {
                bail!("an answer head over 64 KiB");
            }
        }
    }

    async fn reopen_if(&mut self, close: bool) -> anyhow::Result<()> {
        if close {
            *self = Self::open(&self.address.clone()).await?;
        }
        Ok(())
    }
}

/// `connections` connections sending `request` (a HEAD) back to back for `duration`:
/// requests per second and the 50th and 99th latency percentiles, as wrk reports them.
pub async fn head_load(
    url: &str,
    request: &[u8],
    connections: u32,
    duration: Duration,
) -> anyhow::Result<wrk::Run> {
    let address = address(url)?;
    let mut opened = Vec::new();
    for _ in 0..connections {
        opened.push(Connection::open(&address).await?);
    }
    let start = Instant::now();
    let deadline = start + duration;
    let mut tasks = JoinSet::new();
    for mut connection in opened {
        let request = request.to_vec();
        tasks.spawn(async move {
            let mut latencies_us: Vec<u32> = Vec::with_capacity(1 << 16);
            while Instant::now() < deadline {
                let sent = Instant::now();
                let head = connection.exchange(&request).await?;
                if head.status != 200 {
                    bail!("HEAD answered {}, not 200", head.status);
                }
                if head.body_read != 0 {
                    bail!("a HEAD answer with a body");
                }
                latencies_us.push(u32::try_from(sent.elapsed().as_micros()).unwrap_or(u32::MAX));
                connection.reopen_if(head.close).await?;
            }
            anyhow::Ok(latencies_us)
        });
    }
    let mut latencies = Vec::new();
    while let Some(done) = tasks.join_next().await {
        latencies.extend(done??);
    }
    let elapsed = start.elapsed().as_secs_f64();
    if latencies.is_empty() {
        bail!("no HEAD request completed");
    }
    latencies.sort_unstable();
    let percentile = |p: f64| {
        let i = ((latencies.len() as f64 * p) as usize).min(latencies.len() - 1);
        f64::from(latencies[i]) / 1000.0
    };
    Ok(wrk::Run {
        requests_per_second: latencies.len() as f64 / elapsed,
        p50_ms: percentile(0.50),
        p99_ms: percentile(0.99),
    })
}

/// `streams` concurrent GETs of the whole blob (`request`, expected to answer 200 with
/// `size` bytes), each on its own connection: MB/s (10^6 bytes) of body received over the
/// wall time from the first connect to the last byte. The bytes are counted, not hashed.
pub async fn get_streams(
    url: &str,
    request: &[u8],
    size: u64,
    streams: usize,
) -> anyhow::Result<f64> {
    let address = address(url)?;
    let start = Instant::now();
    let mut tasks = JoinSet::new();
    for _ in 0..streams {
        let (address, request) = (address.clone(), request.to_vec());
        tasks.spawn(async move {
            let mut connection = Connection::open(&address).await?;
            let head = connection.exchange(&request).await?;
            if head.status != 200 {
                bail!("blob GET answered {}, not 200", head.status);
            }
            if head.content_length != Some(size) {
                bail!("blob GET announced {:?} bytes, not {size}", head.content_length);
            }
            let mut received = head.body_read as u64;
            let mut buf = vec![0u8; 1 << 20];
            while received < size {
                let n = connection.stream.read(&mut buf).await?;
                if n == 0 {
                    bail!("the blob stream ended after {received} of {size} bytes");
                }
                received += n as u64;
            }
            if received != size {
                bail!("received {received} bytes, not {size}");
            }
            anyhow::Ok(received)
        });
    }
    let mut total = 0u64;
    while let Some(done) = tasks.join_next().await {
        total += done??;
    }
    Ok(total as f64 / start.elapsed().as_secs_f64() / 1e6)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_requests_and_reads_heads() {
        let request = request("HEAD", "http://127.0.0.1:8/v2/a/b", &["X: y".to_owned()]).unwrap();
        assert_eq!(request, b"HEAD /v2/a/b HTTP/1.1\r\nHost: 127.0.0.1:8\r\nX: y\r\n\r\n");
        let (status, length, close) =
            parse_head(b"HTTP/1.1 200 OK\r\ncontent-length: 12\r\nConnection: close\r\n\r\n")
                .unwrap();
        assert_eq!((status, length, close), (200, Some(12), true));
        assert!(parse_head(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n").is_err());
        assert!(parse_head(b"garbage\r\n\r\n").is_err());
    }
}
