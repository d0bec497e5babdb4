//! `kill -9` in the middle of an upload: nothing half-written becomes visible, and after a
//! restart the upload resumes from its last acknowledged offset.

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

    wharf.restart(&options).await;
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

    // The dead writer's lease lapses within the lease time; then the upload goes on.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        // While the old lease holds, Wharf answers 416 without reading the body, so the
        // client may see the connection close before its upload finished: retry either way.
        let resumed = client
            .patch(upload(&wharf.url))
            .bearer_auth(&jwt)
            .header("content-type", "application/octet-stream")
            .header("content-range", format!("{MIB}-{}", 3 * MIB - 1))
            .body(data[MIB..].to_vec())
            .send()
            .await;
        match resumed.as_ref().map(|r| r.status().as_u16()) {
            Ok(202) => break,
            Ok(416) | Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_secs(1)).await
            }
            other => panic!("resuming answered {other:?}"),
        }
    }
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
