//! Filesystem backend: blobs as files under a root directory.
//!
//! Layout: `<root>/blobs/<alg>/<xx>/<hex>` for blobs, `<root>/_uploads/<upload id>` for the
//! temporary file of an upload. Commit fsyncs the temporary file, renames it into place and
//! fsyncs the directory it moved into, so a crash at any point leaves either no blob or the
//! whole blob (and at worst an orphaned temporary file that [`BlobStore::list_uploads`]
//! reports).
//! Several instances may share the root (e.g. over NFS) as long as rename is atomic there;
//! on such a network filesystem downloads read blob files instead of mapping them.

use std::io::SeekFrom;
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use futures_util::stream::{self, BoxStream};
use futures_util::{StreamExt, TryStreamExt};
use time::OffsetDateTime;
use uuid::Uuid;
use wharf_oci::digest::Hasher;

use crate::error::{Result, StorageError};
use crate::key::{BlobKey, DigestAlgorithm};
use crate::store::{
    AppendOutcome, BlobInfo, BlobRead, BlobStore, ChunkStream, StateRepr, UploadInfo, UploadState,
    resolve_range,
};

/// Size of the chunks a blob is read in.
const READ_CHUNK: usize = 256 * 1024;

/// How many chunks of a blob are being read while the connection sends the one before.
const READ_AHEAD: usize = 2;

/// Size of a memory-mapped window of a blob (see [`MapBudget`]).
const MAP_WINDOW: usize = 1024 * 1024;

/// How many bytes of blob files this process keeps mapped at once, over all streams: one
/// stream's worth (the window being sent and those read ahead), so a single stream (the
/// common case: a client fetches each layer on a connection of its own) is mapped the
/// whole way, while more streams share it and read the rest. Mapped pages count in the
/// process's resident set; at 4 MiB, 8 streams of a 2 GiB blob peaked at 48.2 MiB, over the
/// 48 MiB target (docs/performance.md).
const MAP_BUDGET: usize = (READ_AHEAD + 1) * MAP_WINDOW;

/// The process's budget of mapped blob bytes (see [`MapBudget`]).
static MAPPED: MapBudget = MapBudget::new(MAP_BUDGET);

/// No mapped bytes at all: the budget of a store on a network filesystem.
static NEVER_MAPPED: MapBudget = MapBudget::new(0);

/// How many bytes an append gathers before it writes them (one blocking call).
const WRITE_BATCH: usize = 1024 * 1024;

/// Directory for upload temporary files, relative to the root.
const UPLOADS_DIR: &str = "_uploads";

/// Configuration of the filesystem backend.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FsConfig {
    /// Root directory; created if missing. Blobs and upload temporary files must live on the
    /// same filesystem (they do: both are under this root).
    pub root: PathBuf,
}

/// [`BlobStore`] over a local (or shared, rename-atomic) directory.
#[derive(Debug)]
pub struct FsStore {
    root: PathBuf,
    /// Fan-out directories this process has made durable with every level above them: a
    /// commit into one of them fsyncs only the directories its rename changed.
    durable_dirs: std::sync::Mutex<std::collections::HashSet<PathBuf>>,
    /// The budget of mapped bytes downloads draw on: the process's ([`MAPPED`]), or none
    /// when the root is on a network filesystem ([`network_filesystem`]).
    map_budget: &'static MapBudget,
}

impl FsStore {
    /// Opens (and creates, if needed) the store's directories.
    pub async fn new(config: FsConfig) -> Result<Self> {
        let root = config.root;
        for dir in [root.join("blobs"), root.join(UPLOADS_DIR)] {
            tokio::fs::create_dir_all(&dir)
                .await
                .map_err(StorageError::io("create storage directories"))?;
        }
        let network = {
            let root = root.clone();
            tokio::task::spawn_blocking(move || network_filesystem(&root)).await.ok().flatten()
        };
        let map_budget = match network {
            Some(kind) => {
                tracing::info!(
                    root = %root.display(),
                    filesystem = kind,
                    "blob storage is on a network filesystem: downloads read blob files instead of mapping them"
                );
                &NEVER_MAPPED
            }
            None => &MAPPED,
        };
        Ok(Self { root, durable_dirs: std::sync::Mutex::default(), map_budget })
    }

    fn known_durable(&self, dir: &Path) -> bool {
        self.durable_dirs.lock().is_ok_and(|dirs| dirs.contains(dir))
    }

    fn upload_path(&self, upload_id: Uuid) -> PathBuf {
        self.root.join(UPLOADS_DIR).join(upload_id.to_string())
    }

    fn blob_path(&self, key: &BlobKey) -> PathBuf {
        self.root.join(key.path())
    }

    /// Appends `chunks` at the end of the upload, a batch of [`WRITE_BATCH`] at a time on a
    /// blocking thread while the next batch is received. With a `hasher`, each batch is first
    /// hashed on a blocking thread of its own, and handed to the writer only once hashed:
    /// receiving a batch, hashing the one before and writing the one before that run at
    /// once, so the hash (the slowest stage) never waits for the disk or the socket. The
    /// hasher comes back only if every batch was hashed and written.
    async fn append_with(
        &self,
        upload_id: Uuid,
        state: &UploadState,
        mut chunks: ChunkStream<'_>,
        mut hasher: Option<Hasher>,
    ) -> Result<(AppendOutcome, Option<Hasher>)> {
        let size = fs_size(state)?;
        let path = self.upload_path(upload_id);
        let file = tokio::task::spawn_blocking(move || open_for_append(&path, size))
            .await
            .map_err(|e| StorageError::Io { operation: "open upload file", source: e.into() })??;
        let file = std::sync::Arc::new(file);
        let hashes = hasher.is_some();
        // The body arrives in frames of a few KiB: gather them and hand them on a batch at a
        // time (one thread hop per MiB and stage, not one per frame). At most three batches
        // per upload are held: one being received, one being hashed, one being written.
        let mut batch: Vec<bytes::Bytes> = Vec::new();
        let mut batched = 0usize;
        let mut queued = 0u64;
        let mut hashing: Option<Hashing> = None;
        let mut writing: Option<Writing> = None;
        let received: Result<()> = async {
            loop {
                let chunk = chunks.try_next().await.map_err(StorageError::Input)?;
                let last = chunk.is_none();
                if let Some(chunk) = chunk {
                    batched += chunk.len();
                    batch.push(chunk);
                }
                if batched >= WRITE_BATCH || (last && batched > 0) {
                    let full = std::mem::take(&mut batch);
                    let place = (size + queued, batched as u64);
                    queued += batched as u64;
                    batched = 0;
                    if hashes {
                        // The batch before is hashed: take the hasher back, start on this
                        // batch at once, then hand the hashed one to the writer.
                        let before = match hashing.take() {
                            Some(previous) => {
                                let (back, frames, at) = hashed(previous).await?;
                                hasher = back;
                                Some((frames, at))
                            }
                            None => None,
                        };
                        let mut hashing_now = hasher.take();
                        let task = tokio::task::spawn_blocking(move || {
                            if let Some(hasher) = &mut hashing_now {
                                full.iter().for_each(|frame| hasher.update(frame));
                            }
                            (hashing_now, full)
                        });
                        hashing = Some((task, place));
                        if let Some((frames, at)) = before {
                            write_next(&mut writing, &file, frames, at).await?;
                        }
                    } else {
                        write_next(&mut writing, &file, full, place).await?;
                    }
                }
                if last {
                    return Ok(());
                }
            }
        }
        .await;
        // The last batch, once hashed, is written too (not after an error: then nothing more
        // is written, and the hasher is dropped with the batch).
        let drained = match (received, hashing.take()) {
            (Ok(()), Some(last)) => {
                async {
                    let (back, frames, at) = hashed(last).await?;
                    hasher = back;
                    write_next(&mut writing, &file, frames, at).await
                }
                .await
            }
            (Ok(()), None) => Ok(()),
            (Err(e), in_flight) => {
                if let Some((task, _)) = in_flight {
                    let _ = task.await;
                }
                Err(e)
            }
        };
        // Whatever happened, the write in flight ends before this returns: a retry of a
        // failed append must never race a write of this one.
        let flushed = match writing {
            Some(last) => finished(last).await,
            None => Ok(()),
        };
        drained?;
        flushed?;
        let size = size + queued;
        let outcome = AppendOutcome {
            state: UploadState::encode(&StateRepr::Fs { size })?,
            bytes_written: queued,
            size,
        };
        Ok((outcome, hasher))
    }
}

/// A batch being hashed on a blocking thread (it gives the hasher and the frames back), with
/// where it goes in the file: offset and length.
type Hashing = (tokio::task::JoinHandle<(Option<Hasher>, Vec<bytes::Bytes>)>, (u64, u64));

/// A batch being written on a blocking thread.
type Writing = tokio::task::JoinHandle<std::io::Result<()>>;

/// Waits for a batch being hashed: the hasher, the frames and their place in the file.
async fn hashed((task, at): Hashing) -> Result<(Option<Hasher>, Vec<bytes::Bytes>, (u64, u64))> {
    let (hasher, frames) =
        task.await.map_err(|e| StorageError::Io { operation: "hash upload", source: e.into() })?;
    Ok((hasher, frames, at))
}

/// Hands `frames` (to go at offset `at.0`, `at.1` bytes) to the writer once the write
/// before them has finished: writes stay in order, one at a time.
async fn write_next(
    writing: &mut Option<Writing>,
    file: &std::sync::Arc<std::fs::File>,
    frames: Vec<bytes::Bytes>,
    (at, len): (u64, u64),
) -> Result<()> {
    if let Some(previous) = writing.take() {
        finished(previous).await?;
    }
    let file = file.clone();
    *writing = Some(tokio::task::spawn_blocking(move || {
        write_all_vectored(&file, &frames)?;
        start_write_back(&file, at, len);
        Ok(())
    }));
    Ok(())
}

fn fs_size(state: &UploadState) -> Result<u64> {
    match state.decode()? {
        StateRepr::Fs { size } => Ok(size),
        StateRepr::S3(_) => {
            Err(StorageError::InvalidUploadState("state belongs to the s3 backend".to_owned()))
        }
    }
}

fn not_found_as<T>(result: std::io::Result<T>) -> std::io::Result<Option<T>> {
    match result {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

fn to_offset(time: std::io::Result<SystemTime>) -> OffsetDateTime {
    time.map(OffsetDateTime::from).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// The `len` bytes of `file` from `start`, read ahead: up to [`READ_AHEAD`] chunks are being
/// read (each by one blocking task) while the connection sends the one before, so disk reads
/// and socket writes overlap. A read that finished waits as a buffer, not on a thread: a slow
/// client costs no thread. Dropping the stream (client gone) drops the reads in flight.
///
/// A chunk is a memory-mapped window of [`MAP_WINDOW`] bytes when the process's
/// [`MapBudget`] has room for it (sent as it is: the kernel copies the page cache straight
/// into the socket, one copy per byte instead of two), else [`READ_CHUNK`] bytes read with
/// `pread` into the buffer that is sent. One stream alone is mapped throughout; many streams
/// share the budget and read the rest, so memory stays bounded whatever their number.
struct ReadAhead {
    file: std::sync::Arc<std::fs::File>,
    /// Where the next read starts, and where the bytes to send end (exclusive).
    next: u64,
    end: u64,
    pending: std::collections::VecDeque<tokio::task::JoinHandle<std::io::Result<bytes::Bytes>>>,
    failed: bool,
    budget: &'static MapBudget,
}

impl ReadAhead {
    fn with_budget(file: std::fs::File, start: u64, len: u64, budget: &'static MapBudget) -> Self {
        Self {
            file: std::sync::Arc::new(file),
            next: start,
            end: start + len,
            pending: std::collections::VecDeque::new(),
            failed: false,
            budget,
        }
    }

    /// Starts reads until [`READ_AHEAD`] are in flight or the range is covered.
    fn fill(&mut self) {
        while self.pending.len() < READ_AHEAD && self.next < self.end {
            let left = usize::try_from(self.end - self.next).unwrap_or(usize::MAX);
            let (file, at) = (self.file.clone(), self.next);
            let window = left.min(MAP_WINDOW);
            // Only whole chunks are mapped: a short tail is cheaper to read than to map.
            let held = (window >= READ_CHUNK).then(|| self.budget.hold(window)).flatten();
            let (want, read) = if let Some(held) = held {
                let map = tokio::task::spawn_blocking(move || {
                    map_window(&file, at, window)
                        .map(|map| bytes::Bytes::from_owner(Mapped { map, _held: held }))
                });
                (window, map)
            } else {
                let want = left.min(READ_CHUNK);
                // Allocated here, not on the blocking thread: the chunk is freed on a runtime
                // thread once sent, and allocating it there too keeps it in the same malloc
                // arena (buffers allocated across many blocking threads' arenas stayed
                // resident: +25 MiB RSS).
                let mut chunk = vec![0u8; want];
                let read = tokio::task::spawn_blocking(move || {
                    read_exact_at(&file, &mut chunk, at).map(|()| bytes::Bytes::from(chunk))
                });
                (want, read)
            };
            self.pending.push_back(read);
            self.next += want as u64;
        }
    }
}

impl futures_util::Stream for ReadAhead {
    type Item = std::io::Result<bytes::Bytes>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        use std::task::Poll;
        if self.failed {
            return Poll::Ready(None);
        }
        self.fill();
        let Some(front) = self.pending.front_mut() else { return Poll::Ready(None) };
        let read = std::task::ready!(std::pin::Pin::new(front).poll(cx));
        self.pending.pop_front();
        let chunk = read.map_err(std::io::Error::other).and_then(|chunk| chunk);
        match &chunk {
            // The next read starts now, while this chunk is being sent.
            Ok(_) => self.fill(),
            Err(_) => {
                self.failed = true;
                self.pending.clear();
            }
        }
        Poll::Ready(Some(chunk))
    }
}

/// A budget of bytes mapped at once. Mapped page-cache pages count in the process's resident
/// memory while they are mapped, so the windows are rationed: a window is mapped only if it
/// fits, and gives its bytes back when it has been sent and unmapped.
#[derive(Debug)]
struct MapBudget {
    limit: usize,
    mapped: std::sync::atomic::AtomicUsize,
}

impl MapBudget {
    const fn new(limit: usize) -> Self {
        Self { limit, mapped: std::sync::atomic::AtomicUsize::new(0) }
    }

    /// Takes `len` bytes of the budget, if it has them.
    fn hold(&'static self, len: usize) -> Option<Held> {
        use std::sync::atomic::Ordering;
        self.mapped
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |mapped| {
                mapped.checked_add(len).filter(|&after| after <= self.limit)
            })
            .ok()
            .map(|_| Held { budget: self, len })
    }
}

/// Bytes taken from a [`MapBudget`], given back when dropped.
#[derive(Debug)]
struct Held {
    budget: &'static MapBudget,
    len: usize,
}

impl Drop for Held {
    fn drop(&mut self) {
        self.budget.mapped.fetch_sub(self.len, std::sync::atomic::Ordering::AcqRel);
    }
}

/// A mapped window of a blob, the owner of the [`bytes::Bytes`] that is sent: unmapped when
/// the connection drops it (sent, or client gone), then its budget is given back (fields
/// drop in order).
struct Mapped {
    map: memmap2::Mmap,
    _held: Held,
}

impl AsRef<[u8]> for Mapped {
    fn as_ref(&self) -> &[u8] {
        &self.map
    }
}

/// The kind of network or cluster filesystem `root` is on, if it is one (by `statfs`'s
/// filesystem magic), or `None` for a local one (or when it cannot be told).
///
/// Blob files are never truncated, only unlinked, so on a local filesystem a mapped window
/// stays readable whatever happens to the file. On a shared root another host may delete a
/// blob (garbage collection) while this one sends it, and a page of a mapping that the
/// kernel dropped and faults in again can then fail: a `SIGBUS`, which would end the
/// process. Stores on these filesystems read with `pread`, whose failure is an error for one
/// download.
#[allow(unsafe_code)]
fn network_filesystem(root: &Path) -> Option<&'static str> {
    use std::os::unix::ffi::OsStrExt as _;
    /// `linux/magic.h` (and the filesystems' own headers for Lustre and GPFS).
    const NETWORK: [(u64, &str); 12] = [
        (0x6969, "nfs"),
        (0x517B, "smb"),
        (0xFF53_4D42, "cifs"),
        (0xFE53_4D42, "smb2"),
        (0x00C3_6400, "ceph"),
        (0x6573_5546, "fuse"),
        (0x0102_1997, "9p"),
        (0x5346_414F, "afs"),
        (0x6B41_4653, "afs"),
        (0x7461_636F, "ocfs2"),
        (0x0116_1970, "gfs2"),
        (0x0BD0_0BD0, "lustre"),
    ];
    let path = std::ffi::CString::new(root.as_os_str().as_bytes()).ok()?;
    let mut stat = std::mem::MaybeUninit::<libc::statfs>::uninit();
    // SAFETY: `path` is a NUL-terminated string that outlives the call, and `stat` is a
    // properly sized and aligned buffer that `statfs` fills; it is read only on success.
    let stat = unsafe {
        if libc::statfs(path.as_ptr(), stat.as_mut_ptr()) != 0 {
            return None;
        }
        stat.assume_init()
    };
    // `f_type` is a signed word whose width depends on the platform; the magics are 32-bit.
    #[allow(clippy::unnecessary_cast)]
    let magic = (stat.f_type as u64) & 0xFFFF_FFFF;
    NETWORK.iter().find(|(known, _)| *known == magic).map(|(_, kind)| *kind)
}

/// Maps `len` bytes of `file` at `at`, read in (`MAP_POPULATE`) on this blocking thread so
/// that sending them never waits for the disk on a runtime thread. A file shorter than that
/// is `UnexpectedEof`, checked first.
#[allow(unsafe_code)]
fn map_window(file: &std::fs::File, at: u64, len: usize) -> std::io::Result<memmap2::Mmap> {
    if file.metadata()?.len() < at + len as u64 {
        return Err(shorter_than_its_size());
    }
    // SAFETY: a mapping is sound while nobody changes or truncates the file under it (a
    // truncated page under a mapping is SIGBUS). Blob files are immutable: written under
    // `_uploads`, renamed into place by a commit, never opened for writing again, and removed
    // only by `remove_file` (unlink), which keeps the inode and its pages alive while they
    // are mapped. Nothing in this store truncates a blob (`cut_to`'s `set_len` is for upload
    // files only), and the file was just checked to hold the whole window.
    unsafe { memmap2::MmapOptions::new().offset(at).len(len).populate().map(file) }
}

fn shorter_than_its_size() -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "the blob file is shorter than its size")
}

/// Fills `buf` from `file` at `at`; a file shorter than that is `UnexpectedEof`.
fn read_exact_at(file: &std::fs::File, buf: &mut [u8], at: u64) -> std::io::Result<()> {
    use std::os::unix::fs::FileExt as _;
    file.read_exact_at(buf, at).map_err(|e| {
        if e.kind() == std::io::ErrorKind::UnexpectedEof { shorter_than_its_size() } else { e }
    })
}

/// Runs `work` on a blocking thread; its I/O error is reported as `operation`.
async fn blocking<T: Send + 'static>(
    operation: &'static str,
    work: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| StorageError::Io { operation, source: e.into() })?
        .map_err(StorageError::io(operation))
}

/// Asks the kernel to start writing `len` bytes of `file` at `at` to disk now, without
/// waiting for it: by the commit's `fdatasync` most of an upload is on disk already, so the
/// disk works while the rest of the body is received and hashed. Then drops from the page
/// cache what of the few batches before the previous one is on disk already
/// ([`drop_cached`]): an upload keeps only its last few MiB cached whatever its size. Only
/// that window is asked for, so each call's work is bounded whatever the upload's size;
/// a page still being written then stays until the commit drops the whole file. Advisory:
/// a failure only leaves the work to the commit's sync, or the pages cached.
#[allow(unsafe_code)]
fn start_write_back(file: &std::fs::File, at: u64, len: u64) {
    use std::os::fd::AsRawFd as _;
    let (Ok(start), Ok(len)) = (libc::off64_t::try_from(at), libc::off64_t::try_from(len)) else {
        return;
    };
    // SAFETY: the descriptor is open for the whole call (`file` is borrowed); the call only
    // schedules writeback of the file's dirty pages in that range.
    unsafe {
        libc::sync_file_range(file.as_raw_fd(), start, len, libc::SYNC_FILE_RANGE_WRITE);
    }
    let batch = WRITE_BATCH as u64;
    drop_cached(file, at.saturating_sub(4 * batch), at.saturating_sub(batch));
}

/// Drops from the page cache the clean pages of `file` from `start` to `end`:
/// `posix_fadvise(DONTNEED)`, which skips pages that are dirty or being written.
///
/// Why: every MiB an upload writes needs page-cache pages. Left cached, an upload's pages
/// stay until memory runs short, so each MiB takes pages that are not cached yet, which the
/// kernel must first find (reclaiming others) and, in a virtual machine, the host may have
/// to back again: writing 512 MiB into fresh pages took 0.13–0.72 s of system time here,
/// into pages just freed 0.09 s, and the push profile's page-cache copy swung from 6 % to
/// 57 % of the server's time with it (docs/performance.md). Dropped as soon as they are on
/// disk, the same few MiB of pages are reused through the whole upload, and a large push
/// takes no more of the page cache than those. A blob's first download after its push
/// reads it from disk. Advisory: a failure leaves the pages cached.
#[allow(unsafe_code)]
fn drop_cached(file: &std::fs::File, start: u64, end: u64) {
    use std::os::fd::AsRawFd as _;
    // A length of 0 would mean "to the end of the file".
    let (Ok(offset), Ok(len @ 1..)) =
        (libc::off64_t::try_from(start), libc::off64_t::try_from(end.saturating_sub(start)))
    else {
        return;
    };
    // SAFETY: the descriptor is open for the whole call (`file` is borrowed); the call only
    // drops clean cached pages of that file in the range.
    unsafe {
        libc::posix_fadvise(file.as_raw_fd(), offset, len, libc::POSIX_FADV_DONTNEED);
    }
}

/// Writes `chunks` one after the other at `file`'s position, in as few `writev` calls as
/// the kernel takes: a body's frames are a few KiB to a few hundred KiB each, and one
/// `write` per frame was hundreds of calls per batch.
fn write_all_vectored(mut file: &std::fs::File, chunks: &[bytes::Bytes]) -> std::io::Result<()> {
    use std::io::{IoSlice, Write as _};
    /// At most this many slices per call (the kernel's `IOV_MAX` is 1024).
    const MAX_SLICES: usize = 1024;
    let mut slices: Vec<IoSlice<'_>> =
        chunks.iter().filter(|c| !c.is_empty()).map(|c| IoSlice::new(c)).collect();
    let mut rest = &mut slices[..];
    while !rest.is_empty() {
        let call = rest.len().min(MAX_SLICES);
        match file.write_vectored(&rest[..call]) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => IoSlice::advance_slices(&mut rest, n),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Waits for a write started with `spawn_blocking`.
async fn finished(write: Writing) -> Result<()> {
    write
        .await
        .map_err(|e| StorageError::Io { operation: "write upload file", source: e.into() })?
        .map_err(StorageError::io("write upload file"))
}

/// Opens an upload's temporary file at `size`, its committed length ([`cut_to`]); `NotFound`
/// when there is no such file (never started, or aborted).
fn open_for_append(path: &Path, size: u64) -> Result<std::fs::File> {
    use std::io::Seek as _;
    let mut file = not_found_as(std::fs::OpenOptions::new().write(true).open(path))
        .map_err(StorageError::io("open upload file"))?
        .ok_or(StorageError::NotFound)?;
    cut_to(&file, size)?;
    file.seek(SeekFrom::Start(size)).map_err(StorageError::io("seek upload file"))?;
    Ok(file)
}

/// Makes an upload's temporary file exactly `size` bytes, its acknowledged length: a longer
/// file holds a failed append's bytes, never acknowledged, which are cut off; a shorter one
/// lost acknowledged bytes in a crash (appends are synced only at commit).
fn cut_to(file: &std::fs::File, size: u64) -> Result<()> {
    let len = file.metadata().map_err(StorageError::io("stat upload file"))?.len();
    if len < size {
        return Err(StorageError::UploadDataLost(format!(
            "temporary file has {len} bytes, state says {size}"
        )));
    }
    if len > size {
        file.set_len(size).map_err(StorageError::io("truncate upload file"))?;
    }
    Ok(())
}

/// Whether a blob file exists at `path`.
fn is_file(path: &Path) -> Result<bool> {
    Ok(not_found_as(std::fs::metadata(path))
        .map_err(StorageError::io("stat blob"))?
        .is_some_and(|m| m.is_file()))
}

/// What [`commit_file`] did.
enum Committed {
    /// Neither the temporary file nor the blob exists: never started, or aborted.
    Missing,
    /// The blob exists already (committed by a retry or another upload of the same bytes):
    /// the temporary file is left for the caller to discard.
    Existed,
    /// The temporary file is the blob now, durably; `synced_parents` when every directory
    /// from the fan-out directory up to the root was synced too.
    Renamed { synced_parents: bool },
}

/// Commits `temp` (`size` bytes are the upload; anything after them is a failed append's
/// leftover) as `dest` in `fan_dir`, durably: the file's data is synced before the rename
/// (a crash can never leave a partial blob under its digest), then the fan-out directory,
/// which makes the rename durable. When `fan_dir` is not `known` to be durable, it is
/// created if needed and every level above it up to `root` is synced as well.
///
/// The directory the temporary file left (`_uploads`) is not synced: should a crash undo
/// that half of the rename, the blob is still durable under its digest and the temporary
/// name is an orphan that upload garbage collection removes (as after any crash during an
/// upload).
fn commit_file(
    temp: &Path,
    dest: &Path,
    size: u64,
    fan_dir: &Path,
    known: bool,
    root: &Path,
) -> Result<Committed> {
    let file = match not_found_as(std::fs::OpenOptions::new().write(true).open(temp))
        .map_err(StorageError::io("open upload file"))?
    {
        Some(file) => file,
        // Already committed (a retry), or never started / aborted.
        None => return Ok(if is_file(dest)? { Committed::Existed } else { Committed::Missing }),
    };
    if is_file(dest)? {
        return Ok(Committed::Existed);
    }
    cut_to(&file, size)?;
    file.sync_data().map_err(StorageError::io("sync upload file"))?;
    drop_cached(&file, 0, size);
    drop(file);

    // blobs/<alg>/<xx>: create it if needed, rename into it, then make the rename durable
    // and, the first time this process commits into a fan-out directory, every level above
    // it (it may have been created just now, here or by another process that has not synced
    // it yet). Each directory fsync costs a journal commit, so most commits sync one
    // directory, not five. (A directory removed behind this process's back is created and
    // synced again.)
    let known = known && std::fs::metadata(fan_dir).is_ok();
    if !known {
        std::fs::create_dir_all(fan_dir).map_err(StorageError::io("create blob directory"))?;
    }
    std::fs::rename(temp, dest).map_err(StorageError::io("rename upload into place"))?;
    let sync = |dir: &Path| std::fs::File::open(dir).and_then(|d| d.sync_all());
    sync(fan_dir).map_err(StorageError::io("sync directories"))?;
    if !known {
        for dir in fan_dir.ancestors().skip(1).take_while(|d| d.starts_with(root)) {
            sync(dir).map_err(StorageError::io("sync directories"))?;
        }
    }
    Ok(Committed::Renamed { synced_parents: !known })
}

#[async_trait]
impl BlobStore for FsStore {
    fn backend_name(&self) -> &'static str {
        "fs"
    }

    async fn start_upload(&self, upload_id: Uuid) -> Result<UploadState> {
        tokio::fs::File::create(self.upload_path(upload_id))
            .await
            .map_err(StorageError::io("create upload file"))?;
        UploadState::encode(&StateRepr::Fs { size: 0 })
    }

    async fn append(
        &self,
        upload_id: Uuid,
        state: &UploadState,
        chunks: ChunkStream<'_>,
    ) -> Result<AppendOutcome> {
        self.append_with(upload_id, state, chunks, None).await.map(|(outcome, _)| outcome)
    }

    async fn append_hashed(
        &self,
        upload_id: Uuid,
        state: &UploadState,
        chunks: ChunkStream<'_>,
        hasher: Hasher,
    ) -> Result<(AppendOutcome, Hasher)> {
        let (outcome, hasher) = self.append_with(upload_id, state, chunks, Some(hasher)).await?;
        let hasher = hasher.ok_or_else(StorageError::hasher_lost)?;
        Ok((outcome, hasher))
    }

    async fn commit(&self, upload_id: Uuid, state: &UploadState, key: &BlobKey) -> Result<()> {
        let size = fs_size(state)?;
        let temp = self.upload_path(upload_id);
        let dest = self.blob_path(key);
        let fan_dir = dest.parent().map(Path::to_path_buf).unwrap_or_else(|| self.root.clone());
        let known = self.known_durable(&fan_dir);
        let root = self.root.clone();
        // One blocking task for the whole commit (each `tokio::fs` call would be one).
        let committed = tokio::task::spawn_blocking(move || {
            commit_file(&temp, &dest, size, &fan_dir, known, &root).map(|made| (made, fan_dir))
        })
        .await
        .map_err(|e| StorageError::Io { operation: "commit upload", source: e.into() })??;
        match committed {
            (Committed::Missing, _) => Err(StorageError::NotFound),
            (Committed::Existed, _) => self.abort(upload_id, Some(state)).await,
            (Committed::Renamed { synced_parents }, fan_dir) => {
                if synced_parents && let Ok(mut durable) = self.durable_dirs.lock() {
                    durable.insert(fan_dir);
                }
                Ok(())
            }
        }
    }

    async fn abort(&self, upload_id: Uuid, _state: Option<&UploadState>) -> Result<()> {
        not_found_as(tokio::fs::remove_file(self.upload_path(upload_id)).await)
            .map_err(StorageError::io("remove upload file"))?;
        Ok(())
    }

    async fn stat(&self, key: &BlobKey) -> Result<Option<u64>> {
        let meta = not_found_as(tokio::fs::metadata(self.blob_path(key)).await)
            .map_err(StorageError::io("stat blob"))?;
        Ok(meta.filter(|m| m.is_file()).map(|m| m.len()))
    }

    async fn get(&self, key: &BlobKey, range: Option<RangeInclusive<u64>>) -> Result<BlobRead> {
        let path = self.blob_path(key);
        let opened = blocking("open blob", move || {
            let Some(file) = not_found_as(std::fs::File::open(path))? else { return Ok(None) };
            let size = file.metadata()?.len();
            Ok(Some((file, size)))
        })
        .await?;
        let (file, size) = opened.ok_or(StorageError::NotFound)?;
        let resolved = resolve_range(range.as_ref(), size)?;
        let (start, len) = match resolved {
            Some((start, end)) => (start, end - start + 1),
            None => (0, size),
        };
        let stream = ReadAhead::with_budget(file, start, len, self.map_budget)
            .map_err(StorageError::io("read blob"))
            .boxed();
        Ok(BlobRead { stream, size, range: resolved.map(|(s, e)| s..=e) })
    }

    async fn presigned_get_url(
        &self,
        _key: &BlobKey,
        _expires_in: Duration,
    ) -> Result<Option<String>> {
        Ok(None)
    }

    async fn delete(&self, key: &BlobKey) -> Result<()> {
        not_found_as(tokio::fs::remove_file(self.blob_path(key)).await)
            .map_err(StorageError::io("remove blob"))?;
        Ok(())
    }

    fn list_blobs(&self) -> BoxStream<'_, Result<BlobInfo>> {
        let root = self.root.clone();
        // The walk runs on a blocking thread, started at the first poll; the bounded channel
        // makes it wait for the consumer, and it stops when the stream is dropped.
        stream::once(async move {
            let (tx, rx) = tokio::sync::mpsc::channel::<Result<BlobInfo>>(256);
            tokio::task::spawn_blocking(move || {
                if let Err(e) = walk_blobs(&root, &tx) {
                    let _ = tx.blocking_send(Err(StorageError::Io {
                        operation: "list blobs",
                        source: e,
                    }));
                }
            });
            stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) })
        })
        .flatten()
        .boxed()
    }

    async fn list_uploads(&self) -> Result<Vec<UploadInfo>> {
        let mut dir = tokio::fs::read_dir(self.root.join(UPLOADS_DIR))
            .await
            .map_err(StorageError::io("list uploads"))?;
        let mut uploads = Vec::new();
        while let Some(entry) = dir.next_entry().await.map_err(StorageError::io("list uploads"))? {
            let Some(upload_id) = entry.file_name().to_str().and_then(|n| n.parse().ok()) else {
                continue;
            };
            let Some(meta) =
                not_found_as(entry.metadata().await).map_err(StorageError::io("list uploads"))?
            else {
                continue;
            };
            uploads.push(UploadInfo { upload_id, last_modified: to_offset(meta.modified()) });
        }
        Ok(uploads)
    }

    async fn check(&self) -> Result<()> {
        // Proves the root exists and is writable: create and remove a probe file.
        let probe = self.root.join(UPLOADS_DIR).join(format!(".check-{}", Uuid::new_v4()));
        tokio::fs::write(&probe, b"").await.map_err(StorageError::io("write readiness probe"))?;
        tokio::fs::remove_file(&probe).await.map_err(StorageError::io("remove readiness probe"))
    }
}

/// Walks `<root>/blobs/<alg>/<xx>/<hex>` and sends every valid blob; stops early when the
/// receiver is gone.
fn walk_blobs(
    root: &Path,
    tx: &tokio::sync::mpsc::Sender<Result<BlobInfo>>,
) -> std::io::Result<()> {
    for alg in DigestAlgorithm::ALL {
        let alg_dir = root.join("blobs").join(alg.as_str());
        let Some(fans) = not_found_as(std::fs::read_dir(&alg_dir))? else {
            continue;
        };
        for fan in fans {
            let fan = fan?;
            if !fan.file_type()?.is_dir() {
                continue;
            }
            let Some(files) = not_found_as(std::fs::read_dir(fan.path()))? else {
                continue;
            };
            for file in files {
                let file = file?;
                let Some(name) = file.file_name().to_str().map(str::to_owned) else {
                    continue;
                };
                let fan_name = fan.file_name();
                let rel = format!("blobs/{alg}/{}/{name}", fan_name.to_str().unwrap_or_default());
                let Some(key) = BlobKey::from_path(&rel) else {
                    continue;
                };
                let Some(meta) = not_found_as(file.metadata())? else {
                    continue;
                };
                if !meta.is_file() {
                    continue;
                }
                let info =
                    BlobInfo { key, size: meta.len(), last_modified: to_offset(meta.modified()) };
                if tx.blocking_send(Ok(info)).is_err() {
                    return Ok(());
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use futures_util::StreamExt;

    use super::*;

    fn file_of(bytes: &[u8]) -> (tempfile::TempDir, std::fs::File) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("blob");
        std::fs::write(&path, bytes).unwrap();
        let file = std::fs::File::open(&path).unwrap();
        (dir, file)
    }

    /// Room for everything: every whole window is mapped (with [`NEVER_MAPPED`], no room:
    /// every chunk is read).
    static ROOMY: MapBudget = MapBudget::new(64 * MAP_WINDOW);

    /// More frames than one `writev` takes, empty ones among them: every byte lands once, in
    /// order, after what the file held.
    #[test]
    fn writes_a_batch_of_frames_in_order() {
        let (dir, _) = file_of(b"head");
        let path = dir.path().join("blob");
        let file = std::fs::OpenOptions::new().append(true).open(&path).unwrap();
        let frames: Vec<bytes::Bytes> = (0..2500usize)
            .map(|i| bytes::Bytes::from(vec![(i % 251) as u8; if i % 7 == 0 { 0 } else { i % 97 }]))
            .collect();
        write_all_vectored(&file, &frames).unwrap();
        let mut expected = b"head".to_vec();
        frames.iter().for_each(|f| expected.extend_from_slice(f));
        assert!(std::fs::read(&path).unwrap() == expected);
    }

    #[tokio::test]
    async fn reads_ahead_in_bounded_chunks_in_order() {
        let data: Vec<u8> = (0..(3 * MAP_WINDOW + 17)).map(|i| (i % 251) as u8).collect();
        for (budget, most) in [(&NEVER_MAPPED, READ_CHUNK), (&ROOMY, MAP_WINDOW)] {
            let (_dir, file) = file_of(&data);
            let mut read = ReadAhead::with_budget(file, 5, data.len() as u64 - 5, budget);
            let mut got = Vec::new();
            while let Some(chunk) = read.next().await {
                let chunk = chunk.unwrap();
                assert!(chunk.len() <= most);
                assert!(read.pending.len() <= READ_AHEAD, "reads in flight are bounded");
                got.extend_from_slice(&chunk);
            }
            assert!(got[..] == data[5..]);
            assert_eq!(budget.mapped.load(std::sync::atomic::Ordering::Acquire), 0);
        }
    }

    #[tokio::test]
    async fn mapped_bytes_stay_within_the_budget_and_the_rest_is_read() {
        static TWO_WINDOWS: MapBudget = MapBudget::new(2 * MAP_WINDOW);
        let data: Vec<u8> = (0..(6 * MAP_WINDOW)).map(|i| (i % 253) as u8).collect();
        let (_dir, file) = file_of(&data);
        let mut read = ReadAhead::with_budget(file, 0, data.len() as u64, &TWO_WINDOWS);
        // A client that keeps everything it was handed: the budget runs out, and the stream
        // goes on with chunks that are read instead of mapped.
        let mut kept = Vec::new();
        while let Some(chunk) = read.next().await {
            kept.push(chunk.unwrap());
            let mapped = TWO_WINDOWS.mapped.load(std::sync::atomic::Ordering::Acquire);
            assert!(mapped <= 2 * MAP_WINDOW);
        }
        assert_eq!(kept.iter().filter(|c| c.len() == MAP_WINDOW).count(), 2, "two mapped");
        assert!(kept.iter().skip(2).all(|c| c.len() <= READ_CHUNK), "the rest read");
        assert!(kept.concat() == data);
        drop(kept);
        assert_eq!(TWO_WINDOWS.mapped.load(std::sync::atomic::Ordering::Acquire), 0, "given back");
        // A stream dropped mid-way (client gone) gives back what its reads in flight held.
        let (_dir, file) = file_of(&data);
        let mut read = ReadAhead::with_budget(file, 0, data.len() as u64, &TWO_WINDOWS);
        read.next().await.unwrap().unwrap();
        drop(read);
        for _ in 0..100 {
            if TWO_WINDOWS.mapped.load(std::sync::atomic::Ordering::Acquire) == 0 {
                break;
            }
            // An aborted map in flight finishes on its blocking thread, then drops.
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(TWO_WINDOWS.mapped.load(std::sync::atomic::Ordering::Acquire), 0);
    }

    /// The scratch directory is on a local filesystem: its store maps windows. (A network
    /// filesystem cannot be mounted here; its store draws on the empty budget, whose reads
    /// the tests above cover.)
    #[tokio::test]
    async fn a_store_on_a_local_filesystem_maps_windows() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(network_filesystem(dir.path()), None);
        let store = FsStore::new(FsConfig { root: dir.path().to_path_buf() }).await.unwrap();
        assert!(std::ptr::eq(store.map_budget, &MAPPED));
        assert_eq!(network_filesystem(&dir.path().join("missing")), None);
    }

    #[tokio::test]
    async fn a_blob_removed_while_mapped_is_still_sent_whole() {
        let data: Vec<u8> = (0..(2 * MAP_WINDOW + 3)).map(|i| (i % 241) as u8).collect();
        let (dir, file) = file_of(&data);
        let mut read = ReadAhead::with_budget(file, 0, data.len() as u64, &ROOMY);
        let first = read.next().await.unwrap().unwrap();
        std::fs::remove_file(dir.path().join("blob")).unwrap();
        let mut got = first.to_vec();
        while let Some(chunk) = read.next().await {
            got.extend_from_slice(&chunk.unwrap());
        }
        assert!(got == data);
    }

    #[tokio::test]
    async fn a_file_shorter_than_its_size_fails_once_then_ends() {
        for budget in [&NEVER_MAPPED, &ROOMY] {
            let data = vec![7u8; READ_CHUNK + 10];
            let (_dir, file) = file_of(&data);
            let mut read = ReadAhead::with_budget(file, 0, 4 * READ_CHUNK as u64, budget);
            let mut failed = 0;
            let mut got = 0;
            while let Some(chunk) = read.next().await {
                match chunk {
                    Ok(chunk) => got += chunk.len(),
                    Err(e) => {
                        assert_eq!(e.kind(), std::io::ErrorKind::UnexpectedEof);
                        failed += 1;
                    }
                }
            }
            assert_eq!(failed, 1, "one error, then the stream ends");
            assert!(got <= data.len());
        }
    }
}
