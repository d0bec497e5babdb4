//! The backend-independent tests. Each takes a [`Backend`] and uses only the `BlobStore`
//! trait (plus `reopen` to simulate a second instance).

use std::time::Duration;

use bytes::Bytes;
use futures_util::stream::{self, StreamExt, TryStreamExt};
use sha2::{Digest, Sha256};
use uuid::Uuid;
use wharf_storage::{BlobKey, BlobStore, ChunkStream, DigestAlgorithm, StorageError, UploadState};

use crate::Backend;

const MIB: usize = 1024 * 1024;

fn key_of(data: &[u8]) -> BlobKey {
    BlobKey::new(DigestAlgorithm::Sha256, hex::encode(Sha256::digest(data))).unwrap()
}

/// Deterministic pseudo-random bytes (xorshift), different per seed.
fn pattern(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

fn chunks(parts: Vec<Vec<u8>>) -> ChunkStream<'static> {
    stream::iter(parts.into_iter().map(|p| Ok(Bytes::from(p)))).boxed()
}

/// Simulates persisting the state in Postgres and loading it on another instance.
fn through_text(state: UploadState) -> UploadState {
    let text = serde_json::to_string(&state).unwrap();
    UploadState::from_string(serde_json::from_str::<String>(&text).unwrap())
}

async fn read_all(store: &dyn BlobStore, key: &BlobKey) -> Vec<u8> {
    let read = store.get(key, None).await.unwrap();
    let expected = read.content_length();
    let data: Vec<u8> = read
        .stream
        .try_fold(Vec::new(), |mut acc, chunk| async move {
            acc.extend_from_slice(&chunk);
            Ok(acc)
        })
        .await
        .unwrap();
    assert_eq!(data.len() as u64, expected);
    data
}

async fn read_range(store: &dyn BlobStore, key: &BlobKey, start: u64, end: u64) -> (Vec<u8>, u64) {
    let read = store.get(key, Some(start..=end)).await.unwrap();
    let size = read.size;
    let expected = read.content_length();
    let data: Vec<u8> = read.stream.map_ok(|b| b.to_vec()).try_concat().await.unwrap();
    assert_eq!(data.len() as u64, expected);
    (data, size)
}

/// Uploads `parts` (one append per inner vector, each as one chunk) and commits.
async fn put(store: &dyn BlobStore, appends: &[Vec<u8>]) -> BlobKey {
    let all: Vec<u8> = appends.concat();
    let key = key_of(&all);
    let id = Uuid::new_v4();
    let mut state = store.start_upload(id).await.unwrap();
    for data in appends {
        state = store.append(id, &state, chunks(vec![data.clone()])).await.unwrap().state;
    }
    store.commit(id, &state, &key).await.unwrap();
    key
}

async fn upload_ids(store: &dyn BlobStore) -> Vec<Uuid> {
    store.list_uploads().await.unwrap().into_iter().map(|u| u.upload_id).collect()
}

pub async fn round_trip(b: &Backend) {
    let store = &*b.store;
    let id = Uuid::new_v4();
    let data = pattern(1, 12 * MIB + 17);
    let key = key_of(&data);
    assert_eq!(store.stat(&key).await.unwrap(), None);

    let state = store.start_upload(id).await.unwrap();
    let first = store.append(id, &state, chunks(vec![data[..100].to_vec()])).await.unwrap();
    assert_eq!((first.bytes_written, first.size), (100, 100));
    let second = store.append(id, &first.state, chunks(vec![data[100..].to_vec()])).await.unwrap();
    assert_eq!(second.size, data.len() as u64);
    // Not visible before commit.
    assert_eq!(store.stat(&key).await.unwrap(), None);
    store.commit(id, &second.state, &key).await.unwrap();

    assert_eq!(store.stat(&key).await.unwrap(), Some(data.len() as u64));
    assert!(read_all(store, &key).await == data);
    assert!(!upload_ids(store).await.contains(&id));
    // A retried commit (the registry crashed before recording success) succeeds.
    store.commit(id, &second.state, &key).await.unwrap();
}

pub async fn sha512_blob(b: &Backend) {
    let store = &*b.store;
    let data = pattern(2, 3000);
    let key =
        BlobKey::new(DigestAlgorithm::Sha512, hex::encode(sha2::Sha512::digest(&data))).unwrap();
    store.put(&key, Bytes::from(data.clone())).await.unwrap();
    assert_eq!(store.stat(&key).await.unwrap(), Some(3000));
    assert!(read_all(store, &key).await == data);
    let listed: Vec<_> = store.list_blobs().try_collect().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].key, key);
    // The same hex under the other algorithm is another blob.
    let sha256_twin = key_of(&data);
    assert_eq!(store.stat(&sha256_twin).await.unwrap(), None);
}

pub async fn zero_byte_blob(b: &Backend) {
    let store = &*b.store;
    let key = key_of(b"");
    let id = Uuid::new_v4();
    let state = store.start_upload(id).await.unwrap();
    let out = store.append(id, &state, chunks(vec![])).await.unwrap();
    assert_eq!((out.bytes_written, out.size), (0, 0));
    store.commit(id, &out.state, &key).await.unwrap();
    assert_eq!(store.stat(&key).await.unwrap(), Some(0));
    assert!(read_all(store, &key).await.is_empty());
    assert!(matches!(
        store.get(&key, Some(0..=0)).await,
        Err(StorageError::InvalidRange { size: 0 })
    ));

    // A zero-byte blob committed straight after start, without any append.
    store.delete(&key).await.unwrap();
    let id = Uuid::new_v4();
    let state = store.start_upload(id).await.unwrap();
    store.commit(id, &state, &key).await.unwrap();
    assert_eq!(store.stat(&key).await.unwrap(), Some(0));
}

pub async fn small_appends_cross_part_boundaries(b: &Backend) {
    let store = &*b.store;
    // Append sizes around the 5 MiB test part size: below, exactly, across, odd.
    let sizes = [
        MIB,
        MIB + 1,
        777,
        3 * MIB - 5,
        1,
        5 * MIB,
        2 * MIB + 333,
        MIB,
        MIB,
        MIB,
        4 * MIB + 4095,
        11 * MIB + 3,
        MIB - 1,
    ];
    let appends: Vec<Vec<u8>> =
        sizes.iter().enumerate().map(|(i, &n)| pattern(100 + i as u64, n)).collect();
    let all = appends.concat();
    let id = Uuid::new_v4();
    let mut state = store.start_upload(id).await.unwrap();
    let mut size = 0u64;
    for data in &appends {
        // Each append arrives as several client chunks of odd sizes.
        let pieces: Vec<Vec<u8>> = data.chunks(700_001).map(<[u8]>::to_vec).collect();
        let out = store.append(id, &state, chunks(pieces)).await.unwrap();
        size += data.len() as u64;
        assert_eq!((out.bytes_written, out.size), (data.len() as u64, size));
        state = through_text(out.state);
    }
    let key = key_of(&all);
    store.commit(id, &state, &key).await.unwrap();
    assert_eq!(store.stat(&key).await.unwrap(), Some(all.len() as u64));
    let back = read_all(store, &key).await;
    assert_eq!(hex::encode(Sha256::digest(&back)), key.hex());
    assert!(upload_ids(store).await.is_empty());
}

pub async fn upload_continues_on_another_instance(b: &Backend) {
    let one = b.store.clone();
    let two = b.reopen().await;
    let appends: Vec<Vec<u8>> = [3 * MIB, 4 * MIB + 7, 2 * MIB, 9]
        .iter()
        .enumerate()
        .map(|(i, &n)| pattern(200 + i as u64, n))
        .collect();
    let id = Uuid::new_v4();
    let mut state = through_text(one.start_upload(id).await.unwrap());
    for (i, data) in appends.iter().enumerate() {
        let store = if i % 2 == 0 { &two } else { &one };
        state =
            through_text(store.append(id, &state, chunks(vec![data.clone()])).await.unwrap().state);
    }
    let all = appends.concat();
    let key = key_of(&all);
    two.commit(id, &state, &key).await.unwrap();
    assert!(read_all(&*one, &key).await == all);
}

pub async fn failed_append_can_be_retried(b: &Backend) {
    let store = &*b.store;
    let id = Uuid::new_v4();
    let head = pattern(300, 2 * MIB);
    let rest = pattern(301, 7 * MIB + 5);
    let state = store.start_upload(id).await.unwrap();
    let state = store.append(id, &state, chunks(vec![head.clone()])).await.unwrap().state;
    // The client goes away after sending most of the next chunk (crossing a part).
    let broken = stream::iter(vec![
        Ok(Bytes::from(rest[..6 * MIB].to_vec())),
        Err(std::io::Error::new(std::io::ErrorKind::ConnectionReset, "gone")),
    ])
    .boxed();
    assert!(matches!(store.append(id, &state, broken).await, Err(StorageError::Input(_))));
    // The previous state is still valid: the client resumes from the acknowledged offset.
    let out = store.append(id, &state, chunks(vec![rest.clone()])).await.unwrap();
    assert_eq!(out.size, (head.len() + rest.len()) as u64);
    let all = [head, rest].concat();
    let key = key_of(&all);
    store.commit(id, &out.state, &key).await.unwrap();
    assert!(read_all(store, &key).await == all);
}

/// `append_hashed` hashes exactly what each append stores, in order, across batches and odd
/// frame sizes and across appends (the hasher saved and restored between them, as upload
/// sessions do); a failed append gives no hasher, and the retry from the previous state and
/// hasher ends with the right digest and the right bytes stored (on SeaweedFS a part uploaded
/// by the failed append was once committed instead of the retry's).
pub async fn appends_hashed(b: &Backend) {
    use wharf_oci::digest::{Algorithm, Hasher};
    let store = &*b.store;
    let id = Uuid::new_v4();
    let data = pattern(400, 5 * MIB + 12_345);
    let frames = |range: std::ops::Range<usize>, size: usize| {
        let parts: Vec<Vec<u8>> = data[range].chunks(size).map(<[u8]>::to_vec).collect();
        chunks(parts)
    };
    let mut state = store.start_upload(id).await.unwrap();
    let mut saved = Hasher::new(Algorithm::Sha256).save();
    for (range, size) in
        [(0..0, 1), (0..100, 7), (100..3 * MIB + 1, 65_521), (3 * MIB + 1..data.len(), MIB + 3)]
    {
        let hasher = Hasher::restore(Algorithm::Sha256, &saved).unwrap();
        let broken = || {
            stream::iter(vec![
                Ok(Bytes::from(vec![0xAB; 2 * MIB])),
                Err(std::io::Error::new(std::io::ErrorKind::ConnectionReset, "gone")),
            ])
            .boxed()
        };
        // The store gets the 2 MiB before the error (on S3 the last append's then fills a
        // part, uploaded before the failure: the retry uploads that part number again).
        let failed = store.append(id, &state, broken()).await;
        assert!(matches!(failed, Err(StorageError::Input(_))));
        let failed = store.append_hashed(id, &state, broken(), hasher.clone()).await;
        assert!(matches!(failed, Err(StorageError::Input(_))));
        let (out, hasher) =
            store.append_hashed(id, &state, frames(range.clone(), size), hasher).await.unwrap();
        assert_eq!(out.size, range.end as u64);
        state = through_text(out.state);
        saved = hasher.save();
    }
    let digest = Hasher::restore(Algorithm::Sha256, &saved).unwrap().finalize();
    assert_eq!(digest.encoded(), hex::encode(Sha256::digest(&data)));
    let key = key_of(&data);
    store.commit(id, &state, &key).await.unwrap();
    let stored = read_all(store, &key).await;
    let first_difference = stored.iter().zip(&data).position(|(a, b)| a != b);
    assert!(
        stored == data,
        "stored {} bytes, appended {}; first difference at {first_difference:?}",
        stored.len(),
        data.len()
    );
}

pub async fn range_reads(b: &Backend) {
    let store = &*b.store;
    let data = pattern(400, 1000);
    let key = put(store, std::slice::from_ref(&data)).await;
    for (start, end, want_end) in [(0, 0, 0), (10, 19, 19), (999, 999, 999), (990, 5000, 999)] {
        let (got, size) = read_range(store, &key, start, end).await;
        assert_eq!(size, 1000);
        assert_eq!(got, data[start as usize..=want_end], "{start}-{end}");
    }
    let read = store.get(&key, Some(990..=5000)).await.unwrap();
    assert_eq!(read.range, Some(990..=999));
    assert_eq!(read.content_length(), 10);
    for range in [1000..=1000, 1500..=2000] {
        assert!(matches!(
            store.get(&key, Some(range)).await,
            Err(StorageError::InvalidRange { size: 1000 })
        ));
    }
    let reversed = std::ops::RangeInclusive::new(5, 4);
    assert!(matches!(
        store.get(&key, Some(reversed)).await,
        Err(StorageError::InvalidRange { size: 1000 })
    ));
    let missing = key_of(b"missing");
    assert!(matches!(store.get(&missing, None).await, Err(StorageError::NotFound)));
    assert!(matches!(store.get(&missing, Some(0..=1)).await, Err(StorageError::NotFound)));
}

/// Ranges of a blob many read chunks long (and S3 parts): starts and ends inside chunks, on
/// their boundaries and one byte either side, read to the end while the store reads ahead.
pub async fn range_reads_across_chunks(b: &Backend) {
    let store = &*b.store;
    let len = 9 * MIB + 12_345;
    let data = pattern(410, len);
    let key = put(store, &[data[..5 * MIB].to_vec(), data[5 * MIB..].to_vec()]).await;
    let (m, last) = (MIB as u64, len as u64 - 1);
    let k = 256 * 1024;
    for (start, end) in [
        (0, last),
        (1, last - 1),
        (k - 1, k),
        (k, 2 * k - 1),
        (m - 1, 3 * m + 1),
        (m, 2 * m),
        (5 * m - 7, 5 * m + 7),
        (3, 8 * m + 77),
        (last - 1, last + 1000),
        (last, last),
    ] {
        let (got, size) = read_range(store, &key, start, end).await;
        assert_eq!(size, len as u64);
        let want = &data[start as usize..=end.min(last) as usize];
        assert!(got == want, "{start}-{end}: {} bytes, want {}", got.len(), want.len());
    }
    assert!(read_all(store, &key).await == data);
}

/// A reader that stops early (a client that disconnects mid-stream) drops the stream with
/// reads in flight: nothing breaks, the blob reads whole afterwards, and many interleaved
/// readers each get their own bytes.
pub async fn partial_reads_and_dropped_streams(b: &Backend) {
    let store = &*b.store;
    let len = 6 * MIB + 1;
    let data = pattern(420, len);
    let key = put(store, std::slice::from_ref(&data)).await;
    for keep in [0usize, 1, 2, 5] {
        let mut read = store.get(&key, None).await.unwrap();
        let mut got = Vec::new();
        for _ in 0..keep {
            match read.stream.next().await {
                Some(chunk) => got.extend_from_slice(&chunk.unwrap()),
                None => break,
            }
        }
        assert!(got[..] == data[..got.len()], "prefix after {keep} chunks");
        drop(read);
    }
    // A reader of a range dropped after its first chunk, then readers at different offsets
    // at once.
    let mut ranged = store.get(&key, Some(MIB as u64..=4 * MIB as u64)).await.unwrap();
    let first = ranged.stream.next().await.unwrap().unwrap();
    assert!(first[..] == data[MIB..MIB + first.len()]);
    drop(ranged);
    let (key, data) = (&key, &data);
    let readers: Vec<_> = (0..4u64)
        .map(|i| {
            let start = i * 1000;
            async move {
                let (got, _) = read_range(store, key, start, len as u64).await;
                assert!(got[..] == data[start as usize..], "reader {i}");
            }
        })
        .collect();
    futures_util::future::join_all(readers).await;
    assert!(read_all(store, key).await == *data);
}

pub async fn put_stores_small_blobs(b: &Backend) {
    let store = &*b.store;
    let data = br#"{"schemaVersion":2}"#.to_vec();
    let key = key_of(&data);
    store.put(&key, Bytes::from(data.clone())).await.unwrap();
    store.put(&key, Bytes::from(data.clone())).await.unwrap();
    assert!(read_all(store, &key).await == data);
    assert!(upload_ids(store).await.is_empty());
}

pub async fn stat_and_delete_are_idempotent(b: &Backend) {
    let store = &*b.store;
    let missing = key_of(b"never stored");
    assert_eq!(store.stat(&missing).await.unwrap(), None);
    store.delete(&missing).await.unwrap();
    let key = put(store, &[b"some bytes".to_vec()]).await;
    assert_eq!(store.stat(&key).await.unwrap(), Some(10));
    assert_eq!(store.stat(&key).await.unwrap(), Some(10));
    store.delete(&key).await.unwrap();
    store.delete(&key).await.unwrap();
    assert_eq!(store.stat(&key).await.unwrap(), None);
    assert!(matches!(store.get(&key, None).await, Err(StorageError::NotFound)));
}

pub async fn commit_of_existing_key_succeeds(b: &Backend) {
    let store = &*b.store;
    for data in [pattern(500, 123), pattern(501, 6 * MIB + 1)] {
        let key = put(store, std::slice::from_ref(&data)).await;
        let id = Uuid::new_v4();
        let state = store.start_upload(id).await.unwrap();
        let state = store.append(id, &state, chunks(vec![data.clone()])).await.unwrap().state;
        store.commit(id, &state, &key).await.unwrap();
        assert!(read_all(store, &key).await == data);
        assert!(!upload_ids(store).await.contains(&id), "temp data left");
    }
}

pub async fn abort_cleans_temporary_data(b: &Backend) {
    let store = &*b.store;
    // Big enough to start an S3 multipart upload and leave a tail.
    let data = pattern(600, 6 * MIB + 3);
    let id = Uuid::new_v4();
    let state = store.start_upload(id).await.unwrap();
    let state = store.append(id, &state, chunks(vec![data.clone()])).await.unwrap().state;
    assert!(upload_ids(store).await.contains(&id));
    store.abort(id, Some(&state)).await.unwrap();
    assert!(!upload_ids(store).await.contains(&id));
    store.abort(id, Some(&state)).await.unwrap();
    store.abort(id, None).await.unwrap();

    // An orphan: temporary data whose state was lost, swept by id alone.
    let orphan = Uuid::new_v4();
    let state = store.start_upload(orphan).await.unwrap();
    store.append(orphan, &state, chunks(vec![data.clone(), data])).await.unwrap();
    assert!(upload_ids(store).await.contains(&orphan));
    store.abort(orphan, None).await.unwrap();
    assert!(upload_ids(store).await.is_empty());
    assert_eq!(store.list_blobs().count().await, 0);
}

pub async fn list_blobs_and_uploads(b: &Backend) {
    let store = &*b.store;
    let before = time::OffsetDateTime::now_utc() - Duration::from_secs(120);
    let mut keys = Vec::new();
    for (i, n) in [0usize, 1, 5000].into_iter().enumerate() {
        keys.push((put(store, &[pattern(700 + i as u64, n)]).await, n as u64));
    }
    let id = Uuid::new_v4();
    let state = store.start_upload(id).await.unwrap();
    store.append(id, &state, chunks(vec![pattern(710, 10)])).await.unwrap();

    let mut listed: Vec<_> = store.list_blobs().try_collect::<Vec<_>>().await.unwrap();
    listed.sort_by(|a, b| a.key.cmp(&b.key));
    let mut want = keys.clone();
    want.sort();
    assert_eq!(listed.iter().map(|i| (i.key.clone(), i.size)).collect::<Vec<_>>(), want);
    assert!(listed.iter().all(|i| i.last_modified > before));

    let uploads = store.list_uploads().await.unwrap();
    assert_eq!(uploads.len(), 1);
    assert_eq!(uploads[0].upload_id, id);
    assert!(uploads[0].last_modified > before);
}

pub async fn large_blob_is_streamed(b: &Backend) {
    let store = &*b.store;
    const CHUNKS: u64 = 64;
    let chunk = |i: u64| Bytes::from(pattern(1000 + i, MIB));
    let mut hasher = Sha256::new();
    for i in 0..CHUNKS {
        hasher.update(chunk(i));
    }
    let key = BlobKey::new(DigestAlgorithm::Sha256, hex::encode(hasher.finalize())).unwrap();

    // Chunks are produced on demand: the test never holds the blob.
    let body = stream::iter(0..CHUNKS).map(move |i| Ok(chunk(i))).boxed();
    let id = Uuid::new_v4();
    let state = store.start_upload(id).await.unwrap();
    let out = store.append(id, &state, body).await.unwrap();
    assert_eq!(out.size, CHUNKS * MIB as u64);
    store.commit(id, &out.state, &key).await.unwrap();

    let read = store.get(&key, None).await.unwrap();
    assert_eq!(read.size, CHUNKS * MIB as u64);
    let hasher = read
        .stream
        .try_fold(Sha256::new(), |mut h, bytes| async move {
            assert!(bytes.len() <= 4 * MIB, "chunks are bounded");
            h.update(&bytes);
            Ok(h)
        })
        .await
        .unwrap();
    assert_eq!(hex::encode(hasher.finalize()), key.hex());
    // Memory stays flat: the whole process never held anything near the 64 MiB blob.
    if let Some(peak) = peak_rss_kib() {
        assert!(peak < 48 * 1024, "peak RSS {peak} KiB for a 64 MiB blob");
    }
}

/// Peak resident set size of this process (nextest runs each test in its own process).
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

pub async fn presigned_urls(b: &Backend) {
    let store = &*b.store;
    let data = b"presigned content".to_vec();
    let key = put(store, std::slice::from_ref(&data)).await;
    let url = store.presigned_get_url(&key, Duration::from_secs(300)).await.unwrap();
    if !b.is_s3() {
        assert_eq!(url, None);
        return;
    }
    let url = url.expect("S3 presigns");
    let body = http_get(&url).await;
    assert_eq!(body, data);
}

/// Minimal HTTP/1.1 GET over plain TCP (test servers are `http://host:port`).
async fn http_get(url: &str) -> Vec<u8> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rest = url.strip_prefix("http://").expect("plain http test server");
    let (authority, path) = rest.split_at(rest.find('/').unwrap());
    let mut conn = tokio::net::TcpStream::connect(authority).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n");
    conn.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    conn.read_to_end(&mut response).await.unwrap();
    let split = response.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&response[..split]).to_string();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(!head.to_ascii_lowercase().contains("transfer-encoding: chunked"), "{head}");
    response[split + 4..].to_vec()
}

pub async fn readiness_check(b: &Backend) {
    b.store.check().await.unwrap();
}

pub async fn foreign_state_is_refused(b: &Backend) {
    let store = &*b.store;
    let id = Uuid::new_v4();
    store.start_upload(id).await.unwrap();
    let foreign = if b.is_s3() {
        r#"{"backend":"fs","size":0}"#
    } else {
        r#"{"backend":"s3","size":0,"parts_bytes":0,"next_part":1,"multipart":null,"tail_gen":0}"#
    };
    for state in [foreign, "garbage"] {
        let state = UploadState::from_string(state.to_owned());
        assert!(matches!(
            store.append(id, &state, chunks(vec![b"x".to_vec()])).await,
            Err(StorageError::InvalidUploadState(_))
        ));
    }
    store.abort(id, None).await.unwrap();
}
