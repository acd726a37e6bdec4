//! The write-ahead log: numbered segment files under `<data_dir>/wal/`, written by one thread
//! with group commit.
//!
//! Every write is appended to the current segment and (with [`SyncMode::Always`]) fsynced
//! before it is applied to the cache and acknowledged. Writers that arrive while an fsync is in
//! progress are written together and share the next fsync. The thread also applies each entry
//! to the cache, so "applied to the cache" and "in segment G" happen in one order: a flush that
//! rotates to a new segment knows that every entry of the older segments is in the cache.

pub(crate) mod faults;
pub(crate) mod record;

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clio_storage::{Point, SeriesId, SeriesInfo};
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;
use tracing::{error, info, warn};

use crate::catalog::entry_codec::RawEntry;
use crate::error::{Error, Result};
pub use faults::{WalFault, WalFaults};
pub(crate) use record::DecodeHooks;
pub(crate) use record::Entry;

/// When the log is fsynced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum SyncMode {
    /// Before every acknowledgement (group commit shares one fsync between concurrent
    /// writers). Acknowledged points survive process kills and power loss.
    #[default]
    Always,
    /// At most every `interval` in the background. Acknowledged points survive a process
    /// kill; a power loss or kernel crash can lose the last interval.
    Interval,
    /// Never (the operating system writes back when it likes). Acknowledged points survive a
    /// process kill; a power loss can lose everything not yet written back (typically up to
    /// 30 s on Linux) and may leave a torn tail, which start-up discards.
    Off,
}

/// Write-ahead log settings.
#[derive(Debug, Clone)]
pub struct WalOptions {
    /// Directory of the segment files.
    pub dir: PathBuf,
    /// When to fsync.
    pub sync: SyncMode,
    /// fsync period for [`SyncMode::Interval`].
    pub sync_interval: Duration,
    /// A segment is closed and a new one started past this size.
    pub segment_bytes: u64,
    /// Faults injected by tests.
    pub faults: Option<Arc<faults::WalFaults>>,
    /// Start each group of records with a clock record (when its time differs from the
    /// last one), so that a point-in-time restore can cut the log at a time.
    pub clock: bool,
    /// Data keys: with a current key every record's payload is sealed (encryption at rest).
    pub keys: Arc<clio_storage::sealing::Keyring>,
}

/// Called by the log thread for every entry, in log order, with the segment number it is in.
pub(crate) type Applier = Arc<dyn Fn(u64, &Entry) + Send + Sync>;

enum Cmd {
    Append {
        bytes: Vec<u8>,
        /// Handed to the applier once durable; `None` for records the cache has no part in.
        entry: Option<Entry>,
        reply: oneshot::Sender<Result<()>>,
    },
    /// Starts a new segment; replies with the number of the last closed one.
    Rotate(oneshot::Sender<Result<u64>>),
    /// Deletes every segment numbered up to and including the given one.
    RemoveUpTo(u64, oneshot::Sender<Result<u64>>),
    Shutdown(oneshot::Sender<()>),
}

/// Handle to the log thread.
#[derive(Debug)]
pub(crate) struct Wal {
    tx: Sender<Cmd>,
    /// Seals records before they go to the log thread (writers pay for their own seal).
    keys: Arc<clio_storage::sealing::Keyring>,
    /// Bytes of all live segments.
    bytes: Arc<AtomicU64>,
    /// Completed fsyncs, for metrics.
    syncs: Arc<AtomicU64>,
    /// Points logged per live segment (replication lag in points).
    seg_points: SegPoints,
    /// Why the log cannot be written, while it cannot (`/health`, metrics).
    failing: Failing,
}

/// The last write error of the log, `None` while it writes.
pub(crate) type Failing = Arc<parking_lot::Mutex<Option<String>>>;

/// Points logged per live segment.
pub(crate) type SegPoints = Arc<parking_lot::Mutex<std::collections::BTreeMap<u64, u64>>>;

/// What replay found at start-up.
#[derive(Debug, Default, Clone)]
pub struct ReplayReport {
    /// Segments read.
    pub segments: usize,
    /// Entries applied.
    pub entries: usize,
    /// Points applied.
    pub points: usize,
    /// Bytes read.
    pub bytes: u64,
    /// Damaged or torn tails found (the rest of such a segment is ignored).
    pub damaged: Vec<String>,
    /// How long replay took.
    pub elapsed: Duration,
}

pub(crate) fn segment_path(dir: &Path, n: u64) -> PathBuf {
    dir.join(format!("{n:020}.wal"))
}

pub(crate) fn list_segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>> {
    let mut out = Vec::new();
    let rd = fs::read_dir(dir).map_err(|e| Error::io(format!("reading {}", dir.display()), e))?;
    for ent in rd {
        let ent = ent.map_err(|e| Error::io(format!("reading {}", dir.display()), e))?;
        let name = ent.file_name();
        let Some(n) = name
            .to_str()
            .and_then(|s| s.strip_suffix(".wal"))
            .and_then(|s| s.parse::<u64>().ok())
        else {
            continue;
        };
        out.push((n, ent.path()));
    }
    out.sort();
    Ok(out)
}

fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io(format!("syncing {}", dir.display()), e))
}

/// Checks that `keys` open the log in `dir` (the first record of every segment), before
/// anything else of the data directory is touched: a start with a missing or wrong key, or
/// with a key over a log written without one, fails here instead of after the backends have
/// been opened (and perhaps marked) with it.
pub(crate) fn check_keys(dir: &Path, keys: &clio_storage::sealing::Keyring) -> Result<()> {
    use std::io::Read;
    if !dir.is_dir() {
        return Ok(());
    }
    for (_, path) in list_segments(dir)? {
        let io = |e| Error::io(format!("reading {}", path.display()), e);
        let mut head = Vec::new();
        let f = File::open(&path).map_err(io)?;
        let header = (record::MAGIC.len() + 8) as u64;
        f.take(header).read_to_end(&mut head).map_err(io)?;
        if head.len() as u64 != header || &head[..record::MAGIC.len()] != record::MAGIC {
            continue;
        }
        let mut len = [0u8; 4];
        len.copy_from_slice(&head[record::MAGIC.len()..record::MAGIC.len() + 4]);
        let len = u64::from(u32::from_le_bytes(len));
        let mut first = Vec::new();
        File::open(&path)
            .map_err(io)?
            .take(header + len.min(1 << 30))
            .read_to_end(&mut first)
            .map_err(io)?;
        let d = record::decode_all_with(&first[record::MAGIC.len()..], keys);
        if let Some(why) = d.fatal {
            return Err(Error::InvalidRequest(format!(
                "write-ahead log {}: {why}",
                path.display()
            )));
        }
    }
    Ok(())
}

struct Segment {
    n: u64,
    file: File,
    len: u64,
}

/// Creates segment `n`. Segment numbers only grow and one thread creates them, so a file
/// already at `n` can only be what an earlier, failed attempt left (e.g. created, then the
/// disk was full before its header was written): it holds no record and is started over.
/// A failed attempt removes what it created, so that a full disk leaves no empty segment.
fn create_segment(dir: &Path, n: u64, faults: Option<&faults::WalFaults>) -> Result<Segment> {
    let path = segment_path(dir, n);
    let attempt = || -> std::io::Result<File> {
        if let Some(f) = faults {
            f.on_create()?;
        }
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .open(&path)?;
        file.write_all(record::MAGIC)?;
        file.sync_data()?;
        Ok(file)
    };
    let file = match attempt() {
        Ok(f) => f,
        Err(e) => {
            let _ = fs::remove_file(&path);
            return Err(Error::io(format!("creating {}", path.display()), e));
        }
    };
    // The new name must survive a power loss too.
    sync_dir(dir)?;
    Ok(Segment {
        n,
        file,
        len: record::MAGIC.len() as u64,
    })
}

/// Batches decoded ahead of the replaying thread at most.
const REPLAY_QUEUE: usize = 8;
/// Records handed over at once during replay, at most.
const REPLAY_BATCH: usize = 64;
/// Points handed over at once during replay, about: a batch is closed when it holds this
/// many. Bounded by records alone, the queue could hold ~500 records of 5,000 points
/// (80 MB) decoded ahead; this keeps what is in flight to a few megabytes.
const REPLAY_BATCH_POINTS: usize = 16_384;

/// Emptied vectors of points the replay's applying thread hands back, at most: about what
/// the queue holds in flight.
const SPARE_POINT_VECS: usize = 64;

/// The hooks of the replay's reading thread: `inner`'s, and points decoded into vectors the
/// applying thread handed back emptied. The same few megabytes then carry the whole log;
/// allocated afresh per record, 3 M points were ~120 MB of new pages written on one thread
/// and freed on the other (issue #25's replay rate).
struct Recycling<'h> {
    inner: &'h mut (dyn DecodeHooks + Send),
    spare: Receiver<Vec<(SeriesId, Point)>>,
}

impl DecodeHooks for Recycling<'_> {
    fn held(&mut self, e: &RawEntry<'_>) -> bool {
        self.inner.held(e)
    }

    fn passed(&mut self, e: &Entry) {
        self.inner.passed(e)
    }

    fn points(&mut self, n: usize) -> Vec<(SeriesId, Point)> {
        match self.spare.try_recv() {
            Ok(mut v) => {
                v.reserve(n);
                v
            }
            Err(_) => Vec::with_capacity(n),
        }
    }
}

/// What the replay's reading thread hands over, in log order.
enum Replayed {
    /// Whole records of segment `n`.
    Entries(u64, Vec<Entry>),
    /// The end of a segment: its size, and how its records ended (`None`: no header).
    Segment {
        path: PathBuf,
        bytes: u64,
        tail: Option<record::Tail>,
    },
    /// A segment could not be read.
    Failed(Error),
}

/// Reads one segment for replay, handing its entries to `tx` in batches; `None` when the
/// receiver is gone (replay failed).
fn read_segment(
    n: u64,
    path: &Path,
    buf: &mut Vec<u8>,
    keys: &clio_storage::sealing::Keyring,
    hooks: &mut dyn DecodeHooks,
    tx: &crossbeam_channel::Sender<Replayed>,
) -> std::io::Result<Option<Replayed>> {
    let mut file = File::open(path)?;
    let bytes = file.metadata()?.len();
    let mut magic = [0u8; record::MAGIC.len()];
    let whole_magic = bytes >= magic.len() as u64 && {
        file.read_exact(&mut magic)?;
        &magic == record::MAGIC
    };
    if !whole_magic {
        return Ok(Some(Replayed::Segment {
            path: path.to_owned(),
            bytes,
            tail: None,
        }));
    }
    let mut batch = Vec::with_capacity(REPLAY_BATCH);
    let mut points = 0;
    let mut open = true;
    let body = bytes - magic.len() as u64;
    let tail = record::decode_read(&mut file, body, buf, keys, hooks, |e, _| {
        if let Entry::Points(p) = &e {
            points += p.len();
        }
        batch.push(e);
        if batch.len() == REPLAY_BATCH || points >= REPLAY_BATCH_POINTS {
            let full = std::mem::replace(&mut batch, Vec::with_capacity(REPLAY_BATCH));
            points = 0;
            open = tx.send(Replayed::Entries(n, full)).is_ok();
        }
        open
    })?;
    if !batch.is_empty() {
        open = tx.send(Replayed::Entries(n, batch)).is_ok();
    }
    Ok(open.then(|| Replayed::Segment {
        path: path.to_owned(),
        bytes,
        tail: Some(tail),
    }))
}

/// Reads and decodes `segments` in order for replay, leaving out the creations `hooks`
/// holds; stops when the receiver is gone (replay failed) or after a record the keys cannot
/// open.
fn read_segments(
    segments: &[(u64, PathBuf)],
    keys: &clio_storage::sealing::Keyring,
    hooks: &mut dyn DecodeHooks,
    tx: &crossbeam_channel::Sender<Replayed>,
) {
    // One read buffer for every segment (see `record::decode_read`).
    let mut buf = Vec::new();
    for (n, path) in segments {
        let end = match read_segment(*n, path, &mut buf, keys, hooks, tx) {
            Ok(Some(end)) => end,
            Ok(None) => return,
            Err(e) => {
                let _ = tx.send(Replayed::Failed(Error::io(
                    format!("reading {}", path.display()),
                    e,
                )));
                return;
            }
        };
        let fatal = matches!(&end, Replayed::Segment { tail: Some(t), .. } if t.fatal.is_some());
        if tx.send(end).is_err() || fatal {
            return;
        }
    }
}

impl Wal {
    /// Replays every segment through `apply`, then starts the log thread on a new segment.
    #[cfg(test)]
    pub(crate) fn open(opts: WalOptions, apply: Applier) -> Result<(Wal, ReplayReport)> {
        Self::open_keeping(opts, apply, &mut record::KeepAll, |_, _| {})
    }

    /// [`Wal::open`] that also hands each replayed entry but points, after `apply`, to
    /// `keep`, which owns it from then on (the start-up keeps the logged changes without
    /// copying them). `hooks` run on the reading thread and drop the creations they hold
    /// before they are parsed: neither `apply` nor `keep` sees them.
    pub(crate) fn open_keeping(
        opts: WalOptions,
        apply: Applier,
        hooks: &mut (dyn DecodeHooks + Send),
        mut keep: impl FnMut(u64, Entry),
    ) -> Result<(Wal, ReplayReport)> {
        fs::create_dir_all(&opts.dir)
            .map_err(|e| Error::io(format!("creating {}", opts.dir.display()), e))?;
        let started = Instant::now();
        let mut report = ReplayReport::default();
        let segments = list_segments(&opts.dir)?;
        let mut live_bytes = 0u64;
        let seg_points: SegPoints = Arc::default();
        // Reading and decoding (checksums, payloads, unsealing) run on a second thread, a
        // few hundred records ahead of this one, which applies them: replay takes about as
        // long as the slower of the two instead of their sum (issue #25's replay rate).
        std::thread::scope(|scope| -> Result<()> {
            let (tx, rx) = crossbeam_channel::bounded::<Replayed>(REPLAY_QUEUE);
            let (spare_tx, spare) = crossbeam_channel::bounded(SPARE_POINT_VECS);
            let keys = &opts.keys;
            let segments = &segments;
            scope.spawn(move || {
                let hooks = &mut Recycling {
                    inner: hooks,
                    spare,
                };
                read_segments(segments, keys, hooks, &tx);
            });
            for msg in rx {
                match msg {
                    Replayed::Entries(n, entries) => {
                        for e in entries {
                            if let Entry::Points(p) = &e {
                                report.points += p.len();
                                *seg_points.lock().entry(n).or_default() += p.len() as u64;
                            }
                            apply(n, &e);
                            report.entries += 1;
                            match e {
                                Entry::Points(mut p) => {
                                    p.clear();
                                    // Full: the reader is far enough behind to allocate.
                                    let _ = spare_tx.try_send(p);
                                }
                                e => keep(n, e),
                            }
                        }
                    }
                    Replayed::Segment { path, bytes, tail } => {
                        report.segments += 1;
                        report.bytes += bytes;
                        live_bytes += bytes;
                        let Some(tail) = tail else {
                            // A segment torn before its magic was synced holds no
                            // acknowledged entry.
                            report
                                .damaged
                                .push(format!("{}: missing header", path.display()));
                            continue;
                        };
                        if let Some(why) = tail.fatal {
                            // A record that is whole but cannot be opened is not a torn
                            // tail: going on would drop it (and everything after it) at
                            // the next flush.
                            return Err(Error::InvalidRequest(format!(
                                "write-ahead log {}: {why}",
                                path.display()
                            )));
                        }
                        if let Some(why) = tail.stopped {
                            report.damaged.push(format!(
                                "{}: {why} ({} bytes of whole records kept)",
                                path.display(),
                                tail.valid_len
                            ));
                        }
                    }
                    Replayed::Failed(e) => return Err(e),
                }
            }
            Ok(())
        })?;
        report.elapsed = started.elapsed();
        for d in &report.damaged {
            // A torn tail is expected after a crash; in the newest segment it only means
            // a write was cut off before it could be acknowledged.
            warn!(detail = %d, "write-ahead log segment ends in a damaged record; the rest of it was ignored");
        }
        let keys = Arc::clone(&opts.keys);
        let next = segments.last().map_or(1, |(n, _)| n + 1);
        let segment = create_segment(&opts.dir, next, opts.faults.as_deref())?;
        let bytes = Arc::new(AtomicU64::new(live_bytes + segment.len));
        let syncs = Arc::new(AtomicU64::new(0));
        let failing: Failing = Arc::default();
        let (tx, rx) = crossbeam_channel::bounded(4096);
        let thread = LogThread {
            opts,
            segment,
            apply,
            bytes: Arc::clone(&bytes),
            syncs: Arc::clone(&syncs),
            seg_points: Arc::clone(&seg_points),
            last_sync: Instant::now(),
            unsynced: false,
            broken: false,
            failing: Arc::clone(&failing),
            last_clock: None,
        };
        std::thread::Builder::new()
            .name("clio-wal".into())
            .spawn(move || thread.run(rx))
            .map_err(|e| Error::io("starting the log thread", e))?;
        Ok((
            Wal {
                tx,
                keys,
                bytes,
                syncs,
                seg_points,
                failing,
            },
            report,
        ))
    }

    /// Appends an entry; resolves once it is durable (per the sync mode) and applied.
    pub(crate) async fn append(&self, entry: Entry) -> Result<()> {
        let mut bytes = Vec::new();
        record::encode_sealed(&entry, &self.keys, &mut bytes);
        self.append_bytes(bytes, Some(entry)).await
    }

    /// Logs the creation of `series` like [`Wal::append`] of [`Entry::CreateSeries`], but
    /// the caller keeps them: the applier has no part in creations, and the log thread needs
    /// no copy of each new series (at a million new series, a million copies).
    pub(crate) async fn append_creations(&self, series: &[SeriesInfo]) -> Result<()> {
        let mut bytes = Vec::new();
        record::seal_into(&self.keys, &mut bytes, |out| {
            record::encode_creations(series, out);
        });
        self.append_bytes(bytes, None).await
    }

    async fn append_bytes(&self, bytes: Vec<u8>, entry: Option<Entry>) -> Result<()> {
        let (reply, rx) = oneshot::channel();
        self.send(Cmd::Append {
            bytes,
            entry,
            reply,
        })
        .await?;
        rx.await.map_err(|_| Error::Closed)?
    }

    /// Starts a new segment and returns the number of the last closed one.
    pub(crate) async fn rotate(&self) -> Result<u64> {
        let (reply, rx) = oneshot::channel();
        self.send(Cmd::Rotate(reply)).await?;
        rx.await.map_err(|_| Error::Closed)?
    }

    /// Deletes segments numbered `<= upto`; returns how many bytes were freed.
    pub(crate) async fn remove_up_to(&self, upto: u64) -> Result<u64> {
        let (reply, rx) = oneshot::channel();
        self.send(Cmd::RemoveUpTo(upto, reply)).await?;
        rx.await.map_err(|_| Error::Closed)?
    }

    /// Stops the thread after a final fsync.
    pub(crate) async fn shutdown(&self) {
        let (reply, rx) = oneshot::channel();
        if self.send(Cmd::Shutdown(reply)).await.is_ok() {
            let _ = rx.await;
        }
    }

    /// Bytes in live segments.
    pub(crate) fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Points logged per live segment.
    pub(crate) fn segment_points(&self) -> std::collections::BTreeMap<u64, u64> {
        self.seg_points.lock().clone()
    }

    /// Why the log cannot be written, while the last attempt failed.
    pub(crate) fn failing(&self) -> Option<String> {
        self.failing.lock().clone()
    }

    /// Number of fsyncs done.
    pub(crate) fn syncs(&self) -> u64 {
        self.syncs.load(Ordering::Relaxed)
    }

    async fn send(&self, mut cmd: Cmd) -> Result<()> {
        // The channel is bounded: when the log thread falls behind, writers wait here
        // (asynchronously) instead of queueing without limit.
        loop {
            match self.tx.try_send(cmd) {
                Ok(()) => return Ok(()),
                Err(crossbeam_channel::TrySendError::Full(c)) => {
                    cmd = c;
                    tokio::time::sleep(Duration::from_micros(200)).await;
                }
                Err(crossbeam_channel::TrySendError::Disconnected(_)) => return Err(Error::Closed),
            }
        }
    }
}

struct LogThread {
    opts: WalOptions,
    segment: Segment,
    apply: Applier,
    bytes: Arc<AtomicU64>,
    syncs: Arc<AtomicU64>,
    seg_points: SegPoints,
    last_sync: Instant,
    unsynced: bool,
    /// Set when the current segment could not be written; the next append first starts a
    /// new segment.
    broken: bool,
    /// Shared with [`Wal::failing`].
    failing: Failing,
    /// The last clock record written to the current segment.
    last_clock: Option<i64>,
}

/// Most commands taken into one group commit.
const MAX_GROUP: usize = 1024;
/// Most bytes taken into one group commit.
const MAX_GROUP_BYTES: usize = 32 << 20;

impl LogThread {
    fn run(mut self, rx: Receiver<Cmd>) {
        let mut buf: Vec<u8> = Vec::with_capacity(1 << 20);
        let mut pending: Vec<(Option<Entry>, oneshot::Sender<Result<()>>)> = Vec::new();
        loop {
            let first = if self.opts.sync == SyncMode::Interval && self.unsynced {
                match rx.recv_timeout(self.opts.sync_interval) {
                    Ok(c) => c,
                    Err(RecvTimeoutError::Timeout) => {
                        self.sync_if_due();
                        continue;
                    }
                    Err(RecvTimeoutError::Disconnected) => break,
                }
            } else {
                match rx.recv() {
                    Ok(c) => c,
                    Err(_) => break,
                }
            };
            let mut next = Some(first);
            let mut taken = 0;
            while let Some(cmd) = next.take() {
                taken += 1;
                match cmd {
                    Cmd::Append {
                        bytes,
                        entry,
                        reply,
                    } => {
                        if buf.is_empty() && self.opts.clock {
                            self.stamp(&mut buf);
                        }
                        buf.extend_from_slice(&bytes);
                        pending.push((entry, reply));
                    }
                    Cmd::Rotate(reply) => {
                        self.commit(&mut buf, &mut pending);
                        let _ = reply.send(self.rotate());
                    }
                    Cmd::RemoveUpTo(upto, reply) => {
                        self.commit(&mut buf, &mut pending);
                        let _ = reply.send(self.remove_up_to(upto));
                    }
                    Cmd::Shutdown(reply) => {
                        self.commit(&mut buf, &mut pending);
                        if let Err(e) = self.segment.file.sync_data() {
                            error!(error = %e, "final fsync of the write-ahead log failed");
                        }
                        let _ = reply.send(());
                        return;
                    }
                }
                if taken < MAX_GROUP && buf.len() < MAX_GROUP_BYTES {
                    next = rx.try_recv().ok();
                }
            }
            self.commit(&mut buf, &mut pending);
        }
    }

    /// Starts a group with a clock record when the time moved since the last one (or the
    /// segment is new). The group is committed at or after this time.
    fn stamp(&mut self, buf: &mut Vec<u8>) {
        let now = crate::now_ms();
        if self.last_clock != Some(now) {
            record::encode_sealed(&Entry::Clock(now), &self.opts.keys, buf);
            self.last_clock = Some(now);
        }
    }

    /// Writes the group, fsyncs as the mode asks, applies and acknowledges.
    fn commit(
        &mut self,
        buf: &mut Vec<u8>,
        pending: &mut Vec<(Option<Entry>, oneshot::Sender<Result<()>>)>,
    ) {
        if pending.is_empty() {
            return;
        }
        let result = self.write_group(buf);
        buf.clear();
        match result {
            Ok(()) => {
                let mut points = 0u64;
                for (entry, _) in pending.iter() {
                    let Some(entry) = entry else { continue };
                    if let Entry::Points(p) = entry {
                        points += p.len() as u64;
                    }
                    (self.apply)(self.segment.n, entry);
                }
                if points > 0 {
                    *self.seg_points.lock().entry(self.segment.n).or_default() += points;
                }
                // Before the replies: a writer told "ok" sees the log healthy.
                self.recovered();
                for (_, reply) in pending.drain(..) {
                    let _ = reply.send(Ok(()));
                }
                if self.segment.len >= self.opts.segment_bytes
                    && let Err(e) = self.rotate()
                {
                    // The current segment stays in use; the next commit tries again.
                    self.failed(
                        &e.to_string(),
                        "could not start a new write-ahead log segment",
                    );
                }
            }
            Err(e) => {
                // One cause, one line: the reply carries this failure only, never an earlier
                // one (those were logged when they happened).
                let msg = e.to_string();
                self.failed(
                    &msg,
                    "write-ahead log write failed; the writes were not acknowledged",
                );
                for (_, reply) in pending.drain(..) {
                    let _ = reply.send(Err(Error::Wal(msg.clone())));
                }
                // Whatever part of the group reached the file is an unacknowledged torn
                // tail; the next group starts a fresh segment so later records stay readable.
                self.broken = true;
            }
        }
    }

    /// Records a failure: logged at `error` when it is new, at `debug` while it repeats, so
    /// that a full disk does not fill the rest of it with the same line.
    fn failed(&self, msg: &str, what: &str) {
        let mut f = self.failing.lock();
        if f.as_deref() == Some(msg) {
            tracing::debug!(error = %msg, "{what} (again)");
        } else {
            error!(error = %msg, "{what}");
            *f = Some(msg.to_string());
        }
    }

    fn recovered(&self) {
        if self.failing.lock().take().is_some() {
            info!("the write-ahead log is written again");
        }
    }

    fn write_group(&mut self, buf: &[u8]) -> Result<()> {
        if self.broken {
            // A fresh segment before this group (the old one may end in a torn record).
            self.rotate()?;
        }
        if let Err(e) = self.write_all(buf) {
            // Drop the torn part, so that a refused write does not come back at replay
            // (best effort: replay stops at a torn record anyway, and the next group starts a
            // new segment).
            let _ = self.segment.file.set_len(self.segment.len);
            return Err(Error::io("appending to the write-ahead log", e));
        }
        let before = self.segment.len;
        self.segment.len += buf.len() as u64;
        self.bytes.fetch_add(buf.len() as u64, Ordering::Relaxed);
        self.unsynced = true;
        match self.opts.sync {
            SyncMode::Always => {
                if let Err(e) = self.sync() {
                    // Not acknowledged, so not to be replayed either (best effort: after a
                    // failed fsync the file's state is not known; the next group starts a
                    // new segment).
                    if self.segment.file.set_len(before).is_ok() {
                        self.bytes.fetch_sub(buf.len() as u64, Ordering::Relaxed);
                        self.segment.len = before;
                    }
                    return Err(e);
                }
            }
            SyncMode::Interval => self.sync_if_due(),
            SyncMode::Off => {}
        }
        Ok(())
    }

    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        if let Some(f) = &self.opts.faults
            && let Some(n) = f.on_write(buf.len())?
        {
            self.segment.file.write_all(&buf[..n])?;
            return Err(std::io::Error::from_raw_os_error(28));
        }
        self.segment.file.write_all(buf)
    }

    fn sync(&mut self) -> Result<()> {
        if let Some(f) = &self.opts.faults {
            f.on_sync()
                .map_err(|e| Error::io("fsync of the write-ahead log", e))?;
        }
        self.segment
            .file
            .sync_data()
            .map_err(|e| Error::io("fsync of the write-ahead log", e))?;
        self.syncs.fetch_add(1, Ordering::Relaxed);
        self.last_sync = Instant::now();
        self.unsynced = false;
        Ok(())
    }

    fn sync_if_due(&mut self) {
        if self.unsynced
            && self.last_sync.elapsed() >= self.opts.sync_interval
            && let Err(e) = self.sync()
        {
            self.failed(
                &e.to_string(),
                "background fsync of the write-ahead log failed",
            );
        }
    }

    fn rotate(&mut self) -> Result<u64> {
        if self.unsynced && self.opts.sync != SyncMode::Off {
            match self.sync() {
                Ok(()) => {}
                // After a failed group the unsynced part is its torn, unacknowledged tail
                // (with sync = "always"): no reason to keep the log stopped on it.
                Err(e) if self.broken && self.opts.sync == SyncMode::Always => {
                    tracing::debug!(error = %e, "fsync of a failed segment before rotation")
                }
                Err(e) => return Err(e),
            }
        }
        let closed = self.segment.n;
        let next = create_segment(&self.opts.dir, closed + 1, self.opts.faults.as_deref())?;
        self.bytes.fetch_add(next.len, Ordering::Relaxed);
        self.segment = next;
        self.broken = false;
        self.unsynced = false;
        // Every segment starts with the time, so an archived one says when it begins.
        self.last_clock = None;
        Ok(closed)
    }

    fn remove_up_to(&mut self, upto: u64) -> Result<u64> {
        let mut freed = 0;
        for (n, path) in list_segments(&self.opts.dir)? {
            if n > upto || n >= self.segment.n {
                break;
            }
            let len = fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            fs::remove_file(&path)
                .map_err(|e| Error::io(format!("removing {}", path.display()), e))?;
            self.seg_points.lock().remove(&n);
            freed += len;
        }
        self.bytes.fetch_sub(
            freed.min(self.bytes.load(Ordering::Relaxed)),
            Ordering::Relaxed,
        );
        if freed > 0 {
            info!(
                upto,
                freed_bytes = freed,
                "write-ahead log truncated after flush"
            );
        }
        Ok(freed)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

    use clio_storage::SeriesId;
    use clio_storage::sealing::{DataKey, Keyring};

    use super::*;

    fn options(dir: &Path, keys: Keyring) -> WalOptions {
        WalOptions {
            dir: dir.to_path_buf(),
            sync: SyncMode::Off,
            sync_interval: Duration::from_millis(100),
            segment_bytes: 64 << 20,
            faults: None,
            clock: false,
            keys: Arc::new(keys),
        }
    }

    /// Writes segment `n` holding `ids` as deletions, sealed with `keys`, minus `cut` bytes.
    fn segment(dir: &Path, n: u64, ids: std::ops::Range<u64>, keys: &Keyring, cut: usize) {
        let mut buf = record::MAGIC.to_vec();
        for id in ids {
            record::encode_sealed(&Entry::DeleteSeries(SeriesId(id)), keys, &mut buf);
        }
        buf.truncate(buf.len() - cut);
        fs::write(segment_path(dir, n), buf).unwrap();
    }

    type Seen = Arc<parking_lot::Mutex<Vec<(u64, u64)>>>;

    fn recorder() -> (Seen, Applier) {
        let seen: Seen = Arc::default();
        let s = Arc::clone(&seen);
        let apply: Applier = Arc::new(move |seg, e| {
            if let Entry::DeleteSeries(id) = e {
                s.lock().push((seg, id.0));
            }
        });
        (seen, apply)
    }

    /// Replay reads ahead on a second thread; the entries must still arrive whole, once and
    /// in log order with their segment numbers, across more records than the read-ahead
    /// holds, past a torn tail and a segment without a header.
    #[tokio::test]
    async fn replay_applies_every_record_in_order_past_damage() {
        let dir = tempfile::tempdir().unwrap();
        let none = Keyring::none();
        segment(dir.path(), 1, 0..2_000, &none, 0);
        segment(dir.path(), 2, 2_000..2_010, &none, 3);
        fs::write(segment_path(dir.path(), 3), b"CL").unwrap();
        segment(dir.path(), 4, 3_000..3_005, &none, 0);
        let (seen, apply) = recorder();
        let mut kept = Vec::new();
        let hooks = &mut record::KeepAll;
        let (wal, report) = Wal::open_keeping(options(dir.path(), none), apply, hooks, |seg, e| {
            if let Entry::DeleteSeries(id) = e {
                kept.push((seg, id.0));
            }
        })
        .unwrap();
        wal.shutdown().await;
        let want: Vec<(u64, u64)> = (0..2_000)
            .map(|i| (1, i))
            .chain((2_000..2_009).map(|i| (2, i)))
            .chain((3_000..3_005).map(|i| (4, i)))
            .collect();
        assert_eq!(*seen.lock(), want);
        assert_eq!(kept, want, "each entry handed over after it was applied");
        assert_eq!(report.segments, 4);
        assert_eq!(report.entries, want.len());
        let damaged = report.damaged.join("\n");
        assert_eq!(report.damaged.len(), 2, "{damaged}");
        assert!(
            damaged.contains("00000000000000000002.wal") && damaged.contains("whole records kept"),
            "{damaged}"
        );
        assert!(
            damaged.contains("00000000000000000003.wal: missing header"),
            "{damaged}"
        );
    }

    /// Replay decodes points into vectors the applying thread hands back: across many more
    /// records than are in flight, of sizes up and down, each point arrives once, and
    /// `keep` gets no points.
    #[tokio::test]
    async fn replayed_points_arrive_once_in_reused_vectors() {
        let dir = tempfile::tempdir().unwrap();
        let mut buf = record::MAGIC.to_vec();
        let mut want = Vec::new();
        for r in 0..3_000u64 {
            let len = (r * 37 % 101) as i64;
            let points: Vec<(SeriesId, Point)> = (0..len)
                .map(|ts| {
                    (
                        SeriesId(r),
                        Point::new(ts, clio_storage::Value::Num(r as f64)),
                    )
                })
                .collect();
            want.extend(points.iter().map(|(id, p)| (id.0, p.ts)));
            record::encode(&Entry::Points(points), &mut buf);
        }
        fs::write(segment_path(dir.path(), 1), buf).unwrap();
        let seen: Arc<parking_lot::Mutex<Vec<(u64, i64)>>> = Arc::default();
        let s = Arc::clone(&seen);
        let apply: Applier = Arc::new(move |_, e| {
            if let Entry::Points(p) = e {
                s.lock().extend(p.iter().map(|(id, p)| (id.0, p.ts)));
            }
        });
        let mut kept = 0;
        let (wal, report) = Wal::open_keeping(
            options(dir.path(), Keyring::none()),
            apply,
            &mut record::KeepAll,
            |_, _| kept += 1,
        )
        .unwrap();
        wal.shutdown().await;
        assert_eq!(*seen.lock(), want);
        assert_eq!(report.points, want.len());
        assert_eq!(kept, 0);
    }

    /// A sealed record the keys cannot open stops the start with the segment's name;
    /// nothing after it is applied.
    #[tokio::test]
    async fn a_record_the_keys_cannot_open_stops_replay() {
        let dir = tempfile::tempdir().unwrap();
        let keys = Keyring::new(DataKey::generate(), vec![]);
        segment(dir.path(), 1, 0..10, &Keyring::none(), 0);
        segment(dir.path(), 2, 10..20, &keys, 0);
        segment(dir.path(), 3, 20..30, &Keyring::none(), 0);
        let (seen, apply) = recorder();
        let e = Wal::open(options(dir.path(), Keyring::none()), apply)
            .expect_err("a sealed log without its key is refused")
            .to_string();
        assert!(
            e.contains("00000000000000000002.wal") && e.contains("key"),
            "{e}"
        );
        assert_eq!(seen.lock().len(), 10, "only the first segment");
    }
}
