//! Slow clients cannot hold connections: a request head that never finishes and a body
//! that trickles are cut off within the listener's bounds (`WHARF_HEADER_READ_TIMEOUT`,
//! `WHARF_BODY_IDLE_TIMEOUT`, `WHARF_BODY_MIN_RATE`, here made short), over real sockets
//! that stall, against a real `wharf serve`; a push over a slow but steady link still
//! succeeds.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use sha2::{Digest as _, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use wharf_e2e::{Wharf, bearer_token, scratch_dir, wharf_with_vendor_token};

const SCOPE: &str = "repository:vendor/app:pull,push";
/// `WHARF_HEADER_READ_TIMEOUT` and `WHARF_BODY_IDLE_TIMEOUT` in these tests, in seconds.
const HEADER_TIMEOUT: u64 = 2;
const BODY_WINDOW: u64 = 2;
/// `WHARF_BODY_MIN_RATE`: bytes per second a body must keep up, on average over a window.
const MIN_RATE: u64 = 1024;
/// How long after its bound a connection may take to be closed.
const SLACK: Duration = Duration::from_secs(2);

fn short_limits() -> HashMap<String, String> {
    HashMap::from([
        ("WHARF_HEADER_READ_TIMEOUT".to_owned(), HEADER_TIMEOUT.to_string()),
        ("WHARF_BODY_IDLE_TIMEOUT".to_owned(), BODY_WINDOW.to_string()),
        ("WHARF_BODY_MIN_RATE".to_owned(), MIN_RATE.to_string()),
    ])
}

fn address(wharf: &Wharf) -> String {
    wharf.url.trim_start_matches("http://").to_owned()
}

/// Reads until the server closes the connection (end of stream or reset) and returns when,
/// counted from `since`, with whatever it sent; panics if it is still open after `limit`.
async fn closed_by_server(stream: &mut TcpStream, since: Instant, limit: Duration) -> Duration {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let left = limit.saturating_sub(since.elapsed());
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Err(_) => panic!("the connection is still open after {:?}", since.elapsed()),
            Ok(Ok(0) | Err(_)) => return since.elapsed(),
            Ok(Ok(_)) => {}
        }
    }
}

/// Open file descriptors of a process.
fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).unwrap().count()
}

#[tokio::test]
async fn request_heads_that_never_finish_are_cut_off() {
    let scratch = scratch_dir();
    let (wharf, _token) =
        wharf_with_vendor_token(&scratch.path().join("data"), short_limits()).await;
    let bound = Duration::from_secs(HEADER_TIMEOUT);

    // Half a request head, then nothing.
    let mut partial = TcpStream::connect(address(&wharf)).await.unwrap();
    let since = Instant::now();
    partial.write_all(b"GET /v2/ HTTP/1.1\r\nHost: wharf\r\nUser-Agent: slo").await.unwrap();
    // A head that trickles a byte every half second never completes either.
    let mut trickle = TcpStream::connect(address(&wharf)).await.unwrap();
    let trickling = tokio::spawn(async move {
        for byte in b"GET /v2/ HTTP/1.1\r\nHost: wharf\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
        {
            if trickle.write_all(&[*byte]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        trickle
    });
    // A connection that sends nothing at all, and one that stops after a byte.
    let mut silent = TcpStream::connect(address(&wharf)).await.unwrap();
    let mut one_byte = TcpStream::connect(address(&wharf)).await.unwrap();
    one_byte.write_all(b"P").await.unwrap();

    for stream in [&mut partial, &mut silent, &mut one_byte] {
        let closed = closed_by_server(stream, since, bound + SLACK).await;
        eprintln!("closed after {closed:?}");
        assert!(closed >= bound - Duration::from_millis(200), "not before the bound: {closed:?}");
    }
    let mut trickle = trickling.await.unwrap();
    closed_by_server(&mut trickle, since, Duration::from_secs(30)).await;
    assert!(since.elapsed() < bound + SLACK * 2, "trickled head cut off: {:?}", since.elapsed());

    // The server still answers, promptly.
    let r = reqwest::get(format!("{}/healthz", wharf.url)).await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
}

/// The metrics listener has the same bound.
#[tokio::test]
async fn the_metrics_listener_cuts_off_unfinished_heads_too() {
    let scratch = scratch_dir();
    let metrics = format!("127.0.0.1:{}", wharf_e2e::free_port());
    let mut env = short_limits();
    env.insert("WHARF_METRICS_LISTEN".to_owned(), metrics.clone());
    let (_wharf, _token) = wharf_with_vendor_token(&scratch.path().join("data"), env).await;
    let r = reqwest::get(format!("http://{metrics}/metrics")).await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let mut partial = TcpStream::connect(&metrics).await.unwrap();
    let since = Instant::now();
    partial.write_all(b"GET /metrics HTTP/1.1\r\nHost: wh").await.unwrap();
    let closed =
        closed_by_server(&mut partial, since, Duration::from_secs(HEADER_TIMEOUT) + SLACK).await;
    eprintln!("metrics: closed after {closed:?}");
}

/// Many stalled connections (a slowloris) hold descriptors only until the bound: then the
/// process has as many open as before, and serves.
#[tokio::test]
async fn a_slowloris_does_not_keep_descriptors() {
    let scratch = scratch_dir();
    let (wharf, _token) =
        wharf_with_vendor_token(&scratch.path().join("data"), short_limits()).await;
    let pid = wharf.pid();
    let before = open_fds(pid);
    let mut stalled = Vec::new();
    for _ in 0..200 {
        let mut stream = TcpStream::connect(address(&wharf)).await.unwrap();
        stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: wharf\r\n").await.unwrap();
        stalled.push(stream);
    }
    let since = Instant::now();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let during = open_fds(pid);
    eprintln!("descriptors: {before} before, {during} with 200 stalled connections");
    assert!(during >= before + 150, "the connections were accepted: {before} -> {during}");
    for stream in &mut stalled {
        closed_by_server(stream, since, Duration::from_secs(HEADER_TIMEOUT) + SLACK * 2).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let after = open_fds(pid);
    eprintln!("descriptors: {after} after the header timeout");
    assert!(after <= before + 5, "descriptors released: {before} -> {during} -> {after}");
    let r = reqwest::get(format!("{}/healthz", wharf.url)).await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
}

/// Starts an upload session; returns its path.
async fn start_upload(wharf: &Wharf, jwt: &str) -> String {
    let r = reqwest::Client::new()
        .post(format!("{}/v2/vendor/app/blobs/uploads/", wharf.url))
        .bearer_auth(jwt)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 202);
    r.headers()["location"].to_str().unwrap().to_owned()
}

#[tokio::test]
async fn bodies_that_trickle_or_stall_are_cut_off_and_change_nothing() {
    let scratch = scratch_dir();
    let (wharf, token) =
        wharf_with_vendor_token(&scratch.path().join("data"), short_limits()).await;
    let jwt = bearer_token(&wharf, &token, SCOPE).await;
    let bound = Duration::from_secs(BODY_WINDOW);

    for (what, pause) in [("a byte every 500 ms", Some(500)), ("stalls after 100 bytes", None)] {
        let location = start_upload(&wharf, &jwt).await;
        let mut stream = TcpStream::connect(address(&wharf)).await.unwrap();
        let head = format!(
            "PATCH {location} HTTP/1.1\r\nHost: wharf\r\nAuthorization: Bearer {jwt}\r\n\
             Content-Type: application/octet-stream\r\nContent-Length: 100000\r\n\r\n"
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        stream.write_all(&[b'x'; 100]).await.unwrap();
        let since = Instant::now();
        let (mut reader, mut writer) = stream.into_split();
        let feeding = tokio::spawn(async move {
            if let Some(pause) = pause {
                for _ in 0..200 {
                    if writer.write_all(b"x").await.is_err() {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(pause)).await;
                }
            }
            writer
        });
        let mut answer = Vec::new();
        let closed = tokio::time::timeout(bound + SLACK, reader.read_to_end(&mut answer)).await;
        let elapsed = since.elapsed();
        eprintln!("{what}: closed after {elapsed:?}: {}", String::from_utf8_lossy(&answer));
        assert!(closed.is_ok(), "{what}: the connection is still open after {elapsed:?}");
        assert!(elapsed >= bound - Duration::from_millis(200), "{what}: {elapsed:?}");
        feeding.abort();
        // The answer is an OCI error; a client still sending may see the connection reset
        // before it reads it.
        let answer = String::from_utf8_lossy(&answer);
        if pause.is_none() || !answer.is_empty() {
            assert!(answer.starts_with("HTTP/1.1 400"), "{what}: {answer}");
            assert!(answer.contains("BLOB_UPLOAD_INVALID"), "{what}: {answer}");
        }

        // Nothing changed: the session stands where it was and takes the next chunk.
        let client = reqwest::Client::new();
        let status =
            client.get(format!("{}{location}", wharf.url)).bearer_auth(&jwt).send().await.unwrap();
        assert_eq!(status.status().as_u16(), 204, "{what}");
        assert_eq!(status.headers()["range"], "0-0", "{what}");
        let r = client
            .patch(format!("{}{location}", wharf.url))
            .bearer_auth(&jwt)
            .body(&b"fine"[..])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 202, "{what}");
    }
}

/// A large layer over a slow but steady link (8 KiB/s, eight times the minimum rate, for
/// three times the window) is pushed whole.
#[tokio::test]
async fn a_slow_but_steady_push_succeeds() {
    let scratch = scratch_dir();
    let (wharf, token) =
        wharf_with_vendor_token(&scratch.path().join("data"), short_limits()).await;
    let jwt = bearer_token(&wharf, &token, SCOPE).await;
    let location = start_upload(&wharf, &jwt).await;
    let piece = 4 * 1024;
    let pieces = 12 * BODY_WINDOW as usize;
    let data: Vec<u8> = (0..piece * pieces).map(|i| (i * 13 % 241) as u8).collect();
    let digest = format!("sha256:{}", hex::encode(Sha256::digest(&data)));
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(1);
    let feeder = {
        let data = data.clone();
        tokio::spawn(async move {
            for chunk in data.chunks(piece) {
                tx.send(Ok(Bytes::copy_from_slice(chunk))).await.unwrap();
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        })
    };
    let stream =
        futures_util::stream::unfold(
            rx,
            |mut rx| async move { rx.recv().await.map(|item| (item, rx)) },
        );
    let client = reqwest::Client::new();
    let since = Instant::now();
    let r = client
        .patch(format!("{}{location}", wharf.url))
        .bearer_auth(&jwt)
        .header("content-type", "application/octet-stream")
        .header("content-length", data.len().to_string())
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .unwrap();
    eprintln!("streamed {} bytes in {:?}", data.len(), since.elapsed());
    assert_eq!(r.status().as_u16(), 202, "{}", r.text().await.unwrap());
    feeder.await.unwrap();
    let done = client
        .put(format!("{}{location}?digest={digest}", wharf.url))
        .bearer_auth(&jwt)
        .send()
        .await
        .unwrap();
    assert_eq!(done.status().as_u16(), 201, "{}", done.text().await.unwrap());
    let pulled = client
        .get(format!("{}/v2/vendor/app/blobs/{digest}", wharf.url))
        .bearer_auth(&jwt)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert!(pulled == data, "the blob is what was sent");
}
