//! `kill -9` in the middle of an upload: nothing half-written becomes visible, and after a
//! restart the upload resumes at once from its last acknowledged offset; a live writer's
//! lease is never taken over.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use bytes::Bytes;
use sha2::{Digest as _, Sha256};
use wharf_e2e::{bearer_token, scratch_dir, wharf_with_vendor_token};

const MIB: usize = 1024 * 1024;
const SCOPE: &str = "repository:vendor/app:pull,push";

#[tokio::test]
async fn kill_9_during_an_upload_shows_nothing_and_the_upload_resumes() {
    let scratch = scratch_dir();
    let (mut wharf, token) =
        wharf_with_vendor_token(&scratch.path().join("data"), Default::default()).await;
    let options = wharf.options().clone();

    let data: Vec<u8> = (0..3 * MIB).map(|i| (i * 31 % 251) as u8).collect();
    let digest = format!("sha256:{}", hex::encode(Sha256::digest(&data)));
    let client = reqwest::Client::new();
    let jwt = bearer_token(&wharf, &token, SCOPE).await;

    let started = client
        .post(format!("{}/v2/vendor/app/blobs/uploads/", wharf.url))
        .bearer_auth(&jwt)
        .send()
        .await
        .unwrap();
    assert_eq!(started.status().as_u16(), 202);
    let location = started.headers()["location"].to_str().unwrap().to_owned();
    let upload = |base: &str| {
        if location.starts_with("http") { location.clone() } else { format!("{base}{location}") }
    };

    let first = client
        .patch(upload(&wharf.url))
        .bearer_auth(&jwt)
        .header("content-type", "application/octet-stream")
        .header("content-range", format!("0-{}", MIB - 1))
        .body(data[..MIB].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(first.status().as_u16(), 202);
    assert_eq!(first.headers()["range"], format!("0-{}", MIB - 1));

    // A second chunk that starts streaming and never finishes: the server dies under it.
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    tx.send(Ok(Bytes::copy_from_slice(&data[MIB..MIB + 256 * 1024]))).await.unwrap();
    let stream =
        futures_util::stream::unfold(
            rx,
            |mut rx| async move { rx.recv().await.map(|item| (item, rx)) },
        );
    let hanging = client
        .patch(upload(&wharf.url))
        .bearer_auth(&jwt)
        .header("content-type", "application/octet-stream")
        .body(reqwest::Body::wrap_stream(stream))
        .send();
    let hanging = tokio::spawn(hanging);
    tokio::time::sleep(Duration::from_millis(700)).await;
    std::process::Command::new("kill").arg("-KILL").arg(wharf.pid().to_string()).status().unwrap();
    let _ = hanging.await;
    drop(tx);
    wharf.stop(); // reaps the killed process

    let restarting = Instant::now();
    wharf.restart(&options).await;
    eprintln!("restarted in {:?}", restarting.elapsed());
    let jwt = bearer_token(&wharf, &token, SCOPE).await;
    let head = client
        .head(format!("{}/v2/vendor/app/blobs/{digest}", wharf.url))
        .bearer_auth(&jwt)
        .send()
        .await
        .unwrap();
    assert_eq!(head.status().as_u16(), 404, "nothing half-written is visible");

    let status = client.get(upload(&wharf.url)).bearer_auth(&jwt).send().await.unwrap();
    assert_eq!(status.status().as_u16(), 204, "the session survived the crash");
    assert_eq!(
        status.headers()["range"],
        format!("0-{}", MIB - 1),
        "at the last acknowledged offset"
    );

    // The client resumes at once, from the offset the status reported: the dead writer
    // stopped renewing its lease, so the new append takes it over (waiting at most the
    // lease's few seconds for it to lapse) instead of answering 416 for half a minute.
    let range = status.headers()["range"].to_str().unwrap();
    let next: usize = range.split_once('-').unwrap().1.parse::<usize>().unwrap() + 1;
    let started = Instant::now();
    let resumed = client
        .patch(upload(&wharf.url))
        .bearer_auth(&jwt)
        .header("content-type", "application/octet-stream")
        .header("content-range", format!("{next}-{}", data.len() - 1))
        .body(data[next..].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(
        resumed.status().as_u16(),
        202,
        "the immediate resume after a crash is accepted: {}",
        resumed.text().await.unwrap()
    );
    eprintln!("resumed in {:?}", started.elapsed());
    assert!(started.elapsed() < Duration::from_secs(8), "took {:?}", started.elapsed());
    let done = client
        .put(format!("{}?digest={digest}", upload(&wharf.url)))
        .bearer_auth(&jwt)
        .send()
        .await
        .unwrap();
    assert_eq!(done.status().as_u16(), 201);
    let pulled = client
        .get(format!("{}/v2/vendor/app/blobs/{digest}", wharf.url))
        .bearer_auth(&jwt)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(pulled.len(), data.len());
    assert!(pulled == data, "the resumed blob is exactly what was sent");
}

/// A live writer's lease is never taken over: while one PATCH streams (longer than a lease,
/// so only its renewals keep it), a second PATCH to the same session is refused with 416
/// and the resume headers, promptly, and the first one's bytes are what the blob holds.
#[tokio::test]
async fn a_streaming_patch_keeps_its_lease_against_a_second_one() {
    let scratch = scratch_dir();
    let (wharf, token) =
        wharf_with_vendor_token(&scratch.path().join("data"), Default::default()).await;
    let client = reqwest::Client::new();
    let jwt = bearer_token(&wharf, &token, SCOPE).await;
    let started = client
        .post(format!("{}/v2/vendor/app/blobs/uploads/", wharf.url))
        .bearer_auth(&jwt)
        .send()
        .await
        .unwrap();
    assert_eq!(started.status().as_u16(), 202);
    let location = started.headers()["location"].to_str().unwrap().to_owned();
    let upload = format!("{}{location}", wharf.url);

    // 64 KiB every 250 ms for 10 s: steady, and longer than a lease.
    let piece = 64 * 1024;
    let pieces = 40;
    let data: Vec<u8> = (0..piece * pieces).map(|i| (i * 7 % 253) as u8).collect();
    let digest = format!("sha256:{}", hex::encode(Sha256::digest(&data)));
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(1);
    let feeder = {
        let data = data.clone();
        tokio::spawn(async move {
            for chunk in data.chunks(piece) {
                tx.send(Ok(Bytes::copy_from_slice(chunk))).await.unwrap();
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        })
    };
    let stream =
        futures_util::stream::unfold(
            rx,
            |mut rx| async move { rx.recv().await.map(|item| (item, rx)) },
        );
    let first = tokio::spawn(
        client
            .patch(&upload)
            .bearer_auth(&jwt)
            .header("content-type", "application/octet-stream")
            .header("content-length", data.len().to_string())
            .body(reqwest::Body::wrap_stream(stream))
            .send(),
    );

    // Once early, once after the first lease (5 s) would have lapsed without renewals.
    for wait in [1500, 4500] {
        tokio::time::sleep(Duration::from_millis(wait)).await;
        let asked = Instant::now();
        let rival = client
            .patch(&upload)
            .bearer_auth(&jwt)
            .header("content-type", "application/octet-stream")
            .header("content-range", "0-3")
            .body(&b"evil"[..])
            .send()
            .await
            .unwrap();
        eprintln!("rival refused in {:?}", asked.elapsed());
        assert_eq!(rival.status().as_u16(), 416, "{}", rival.text().await.unwrap());
        assert_eq!(rival.headers()["range"], "0-0", "the session has not moved");
        assert!(rival.headers().contains_key("location"));
        assert!(asked.elapsed() < Duration::from_secs(3), "refused in {:?}", asked.elapsed());
    }
    feeder.await.unwrap();
    let first = first.await.unwrap().unwrap();
    assert_eq!(first.status().as_u16(), 202, "{}", first.text().await.unwrap());
    assert_eq!(first.headers()["range"], format!("0-{}", data.len() - 1));
    let done =
        client.put(format!("{upload}?digest={digest}")).bearer_auth(&jwt).send().await.unwrap();
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
    assert!(pulled == data, "the blob holds the live writer's bytes");
}
