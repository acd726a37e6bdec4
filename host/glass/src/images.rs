//! Camera images (the seed's MIK-1 cameras): a catalog row per image in `images` (camera,
//! line, capture time, content hash, size, content type, optional defect) and the bytes,
//! stored once per content (SHA-256) however many rows name them:
//!
//! - on SQLite as files under the data directory, `images/<2 hex>/<62 hex>`, written to
//!   `images/tmp/` while hashing, fsynced, then renamed into place (and the directory
//!   fsynced); a file is removed when the last row naming it goes. Placing or removing a
//!   file and changing the rows happen under one lock, so an upload never names a file a
//!   concurrent delete is removing.
//! - on PostgreSQL in `bytea` chunks of [`CHUNK`] bytes (`image_chunks`, one `image_blobs`
//!   row per content). The blob row is locked (`ON CONFLICT DO UPDATE`, `FOR UPDATE`) by an
//!   upload and a delete of the same content, so they serialize in the database.
//!
//! An upload is streamed to the temporary file (never held whole in memory), a download is
//! read back a chunk at a time ([`ImageReader`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::{Bytes, BytesMut};
use serde_json::{Map, Value as Json};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::crud;
use crate::engine::{Dialect, Engine, Tx};
use crate::error::GlassError;
use crate::list::{self, Page};
use crate::tables::{Column, IMAGES, Table};
use crate::value::{Kind, Val};

/// Bytes per `image_chunks` row on PostgreSQL, and the most read at once from a file.
pub const CHUNK: usize = 1 << 20;

/// Rows removed per transaction by [`Images::expire_before`].
const EXPIRE_BATCH: i64 = 200;

/// Where and how large images may be.
#[derive(Debug, Clone)]
pub struct ImageOptions {
    /// The directory of the files (SQLite) and of the temporary files of uploads (both):
    /// `<data_dir>/images`.
    pub dir: PathBuf,
    /// The largest image accepted, in bytes (`[glass.images] max_bytes`).
    pub max_bytes: u64,
}

/// What [`crate::Glass`] keeps for its images.
#[derive(Debug)]
pub(crate) struct ImageState {
    pub(crate) opts: ImageOptions,
    /// Placing or removing a file together with the rows that name it (SQLite).
    pub(crate) place: tokio::sync::Mutex<()>,
    seq: AtomicU64,
}

impl ImageState {
    /// Creates the directories and removes uploads a crash left half-written.
    pub(crate) fn new(opts: ImageOptions) -> Result<Self, GlassError> {
        let tmp = opts.dir.join("tmp");
        std::fs::create_dir_all(&tmp).map_err(|e| io_err(&tmp, e))?;
        if let Ok(entries) = std::fs::read_dir(&tmp) {
            for e in entries.flatten() {
                let _ = std::fs::remove_file(e.path());
            }
        }
        Ok(ImageState {
            opts,
            place: tokio::sync::Mutex::new(()),
            seq: AtomicU64::new(0),
        })
    }
}

fn io_err(path: &Path, e: std::io::Error) -> GlassError {
    GlassError::Db(format!("{}: {e}", path.display()))
}

/// The images of one Glass database. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Images {
    pub(crate) engine: Arc<dyn Engine>,
    pub(crate) state: Arc<ImageState>,
}

/// An upload being received: bytes go to a temporary file while they are hashed. Dropped
/// unstored, its file is removed.
#[derive(Debug)]
pub struct Upload {
    path: PathBuf,
    file: tokio::fs::File,
    hasher: Sha256,
    size: u64,
    max: u64,
}

impl Upload {
    /// Appends bytes; more than `max_bytes` in all is [`GlassError::TooLarge`].
    pub async fn write(&mut self, data: &[u8]) -> Result<(), GlassError> {
        self.size += data.len() as u64;
        if self.size > self.max {
            return Err(too_large(self.max));
        }
        self.hasher.update(data);
        self.file
            .write_all(data)
            .await
            .map_err(|e| io_err(&self.path, e))
    }

    /// Bytes received so far.
    pub fn size(&self) -> u64 {
        self.size
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        // Renamed into place (then this fails harmlessly) or abandoned.
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The 413 naming the limit.
pub fn too_large(max: u64) -> GlassError {
    GlassError::TooLarge(format!(
        "image larger than {max} bytes (glass.images.max_bytes)"
    ))
}

/// One image to send: its catalog row and a reader of its bytes.
#[derive(Debug)]
pub struct ImageContent {
    /// The catalog row.
    pub meta: Json,
    /// Its length in bytes.
    pub size: u64,
    /// Its `Content-Type`.
    pub content_type: String,
    /// SHA-256 of the bytes, hex (the `ETag`).
    pub hash: String,
    /// The bytes.
    pub reader: ImageReader,
}

/// Reads an image a chunk at a time.
#[derive(Debug)]
pub struct ImageReader(Source);

#[derive(Debug)]
enum Source {
    File {
        file: tokio::fs::File,
        left: u64,
    },
    Pg {
        engine: Arc<dyn Engine>,
        hash: String,
        next: i64,
        chunks: i64,
    },
}

impl ImageReader {
    /// The next bytes, `None` at the end.
    pub async fn next_chunk(&mut self) -> Result<Option<Bytes>, GlassError> {
        match &mut self.0 {
            Source::File { file, left } => {
                if *left == 0 {
                    return Ok(None);
                }
                let want = (*left).min(256 * 1024) as usize;
                let mut buf = BytesMut::zeroed(want);
                let mut got = 0;
                while got < want {
                    let n = file
                        .read(&mut buf[got..])
                        .await
                        .map_err(|e| GlassError::Db(format!("image file: {e}")))?;
                    if n == 0 {
                        return Err(GlassError::Db("image file shorter than its row".into()));
                    }
                    got += n;
                }
                *left -= want as u64;
                Ok(Some(buf.freeze()))
            }
            Source::Pg {
                engine,
                hash,
                next,
                chunks,
            } => {
                if *next >= *chunks {
                    return Ok(None);
                }
                let mut tx = engine.begin().await?;
                let rows = tx
                    .query(
                        "SELECT data FROM image_chunks WHERE hash = $1 AND seq = $2",
                        &[Val::Text(hash.clone()), Val::Int(*next)],
                        &[Kind::Text],
                    )
                    .await?;
                tx.commit().await?;
                *next += 1;
                match rows.into_iter().next().and_then(|r| r.into_iter().next()) {
                    Some(Val::Bytes(b)) => Ok(Some(b)),
                    _ => Err(GlassError::Db(format!(
                        "image {hash}: chunk {} is missing",
                        *next - 1
                    ))),
                }
            }
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn is_hash(h: &str) -> bool {
    h.len() == 64
        && h.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn column(t: &'static Table, name: &str) -> Result<&'static Column, GlassError> {
    t.column(name)
        .ok_or_else(|| GlassError::Db(format!("{}: no column {name}", t.name)))
}

fn text_of(row: &Json, field: &str) -> Result<String, GlassError> {
    row[field]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| GlassError::Db(format!("image row without {field}")))
}

impl Images {
    fn dialect(&self) -> Dialect {
        self.engine.dialect()
    }

    /// The largest image accepted, in bytes.
    pub fn max_bytes(&self) -> u64 {
        self.state.opts.max_bytes
    }

    fn file_of(&self, hash: &str) -> Result<PathBuf, GlassError> {
        if !is_hash(hash) {
            return Err(GlassError::Db(format!(
                "image row with a bad hash {hash:?}"
            )));
        }
        Ok(self.state.opts.dir.join(&hash[..2]).join(&hash[2..]))
    }

    /// The catalog row of an upload from query parameters (`camera`, `line` or
    /// `production_line_id`, `captured_at` — default now —, `defect_id`) and the
    /// `Content-Type` (default `application/octet-stream`), checked before any byte is
    /// received (references are checked when it is stored).
    pub fn metadata(
        &self,
        params: &[(String, String)],
        content_type: Option<&str>,
    ) -> Result<Json, GlassError> {
        let mut m = Map::new();
        for (k, v) in params {
            let name = match k.as_str() {
                "line" => "production_line_id",
                "camera" | "production_line_id" | "captured_at" | "defect_id" => k.as_str(),
                other => {
                    return Err(GlassError::invalid(
                        other,
                        "unknown parameter (expected camera, line, captured_at, defect_id)",
                    ));
                }
            };
            let c = column(&IMAGES, name)?;
            let val = Val::from_text(c.kind, v).map_err(|e| GlassError::invalid(k.as_str(), e))?;
            let val = crud::check_value(c, &val.to_json())?;
            if m.insert(name.to_owned(), val.to_json()).is_some() {
                return Err(GlassError::invalid(k.as_str(), "given twice"));
            }
        }
        if m.get("camera")
            .and_then(Json::as_str)
            .is_some_and(|c| c.trim().is_empty())
        {
            return Err(GlassError::invalid("camera", "is empty"));
        }
        if !m.contains_key("camera") {
            return Err(GlassError::invalid("camera", "is required"));
        }
        m.entry("captured_at")
            .or_insert_with(|| Json::from(crud::now_ms()));
        let ct = content_type
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .unwrap_or("application/octet-stream");
        let valid = ct
            .split_once('/')
            .is_some_and(|(a, b)| !a.is_empty() && !b.is_empty())
            && ct.bytes().all(|c| c.is_ascii_graphic() || c == b' ');
        if !valid {
            return Err(GlassError::invalid(
                "content_type",
                format!("{ct:?} is not a media type (type/subtype)"),
            ));
        }
        let c = column(&IMAGES, "content_type")?;
        crud::check_value(c, &Json::from(ct))?;
        m.insert("content_type".into(), Json::from(ct));
        Ok(Json::Object(m))
    }

    /// Starts an upload: a new temporary file.
    pub async fn begin_upload(&self) -> Result<Upload, GlassError> {
        let n = self.state.seq.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let path = self
            .state
            .opts
            .dir
            .join("tmp")
            .join(format!("{}-{n}-{nanos}.part", std::process::id()));
        let file = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .await
            .map_err(|e| io_err(&path, e))?;
        Ok(Upload {
            path,
            file,
            hasher: Sha256::new(),
            size: 0,
            max: self.state.opts.max_bytes,
        })
    }

    /// Stores a received upload under the catalog row `meta` (from [`Images::metadata`]);
    /// returns the row. Bytes already stored are not stored again.
    pub async fn store(&self, mut upload: Upload, meta: &Json) -> Result<Json, GlassError> {
        if upload.size == 0 {
            return Err(GlassError::invalid("body", "an image of 0 bytes"));
        }
        upload
            .file
            .flush()
            .await
            .map_err(|e| io_err(&upload.path, e))?;
        upload
            .file
            .sync_all()
            .await
            .map_err(|e| io_err(&upload.path, e))?;
        let hash = hex(&std::mem::take(&mut upload.hasher).finalize());
        let server = vec![
            (column(&IMAGES, "content_hash")?, Val::Text(hash.clone())),
            (column(&IMAGES, "size")?, Val::Int(upload.size as i64)),
        ];
        match self.dialect() {
            Dialect::Sqlite => {
                let _place = self.state.place.lock().await;
                let path = self.file_of(&hash)?;
                if tokio::fs::metadata(&path).await.is_err() {
                    let parent = path
                        .parent()
                        .ok_or_else(|| GlassError::Db("image path without a parent".into()))?;
                    tokio::fs::create_dir_all(parent)
                        .await
                        .map_err(|e| io_err(parent, e))?;
                    tokio::fs::rename(&upload.path, &path)
                        .await
                        .map_err(|e| io_err(&path, e))?;
                    // The rename (and a new fan-out directory) must survive a crash too.
                    sync_dir(parent).await?;
                    sync_dir(&self.state.opts.dir).await?;
                }
                let r = async {
                    let mut tx = self.engine.begin().await?;
                    let row = crud::create_with(&mut tx, &IMAGES, meta, server).await?;
                    tx.commit().await?;
                    Ok(row)
                }
                .await;
                if r.is_err() {
                    self.remove_file_if_unnamed(&hash).await;
                }
                r
            }
            Dialect::Postgres => {
                let mut tx = self.engine.begin().await?;
                let chunks = upload.size.div_ceil(CHUNK as u64) as i64;
                // Locks the blob row against a concurrent delete of the same content;
                // `xmax = 0` only for a row this statement inserted.
                let rows = tx
                    .query(
                        "INSERT INTO image_blobs (hash, size, chunks, created_at)
                         VALUES ($1, $2, $3, $4)
                         ON CONFLICT (hash) DO UPDATE SET hash = EXCLUDED.hash
                         RETURNING (xmax = 0)",
                        &[
                            Val::Text(hash.clone()),
                            Val::Int(upload.size as i64),
                            Val::Int(chunks),
                            Val::Int(crud::now_ms()),
                        ],
                        &[Kind::Bool],
                    )
                    .await?;
                let inserted =
                    matches!(rows.first().and_then(|r| r.first()), Some(Val::Bool(true)));
                if inserted {
                    write_chunks(&mut tx, &upload.path, &hash, upload.size).await?;
                }
                let row = crud::create_with(&mut tx, &IMAGES, meta, server).await?;
                tx.commit().await?;
                Ok(row)
            }
        }
    }

    /// The catalog row of image `id`.
    pub async fn get(&self, id: i64) -> Result<Json, GlassError> {
        let mut tx = self.engine.begin().await?;
        let row = crud::get(&mut tx, &IMAGES, id).await?;
        tx.commit().await?;
        Ok(row)
    }

    /// Catalog rows matching query parameters: `camera`, `line`, `defect_id`,
    /// `content_type`, `from`/`to` on `captured_at`, `sort` (default `captured_at`),
    /// `limit`, `cursor` (as every table, `list.rs`).
    pub async fn list(&self, params: &[(String, String)]) -> Result<Page, GlassError> {
        let mut p = params.to_vec();
        if !p.iter().any(|(k, _)| k == "sort") {
            p.push(("sort".into(), "captured_at".into()));
        }
        let mut tx = self.engine.begin().await?;
        let page = list::list(&mut tx, self.dialect(), &IMAGES, &p).await?;
        tx.commit().await?;
        Ok(page)
    }

    /// Image `id` to send.
    pub async fn open(&self, id: i64) -> Result<ImageContent, GlassError> {
        let meta = self.get(id).await?;
        let hash = text_of(&meta, "content_hash")?;
        let content_type = text_of(&meta, "content_type")?;
        let size = meta["size"]
            .as_u64()
            .ok_or_else(|| GlassError::Db("image row without size".into()))?;
        let source = match self.dialect() {
            Dialect::Sqlite => {
                let path = self.file_of(&hash)?;
                let file = tokio::fs::File::open(&path)
                    .await
                    .map_err(|e| io_err(&path, e))?;
                let len = file.metadata().await.map_err(|e| io_err(&path, e))?.len();
                if len != size {
                    return Err(GlassError::Db(format!(
                        "{}: {len} bytes, its row says {size}",
                        path.display()
                    )));
                }
                Source::File { file, left: size }
            }
            Dialect::Postgres => Source::Pg {
                engine: self.engine.clone(),
                hash: hash.clone(),
                next: 0,
                chunks: size.div_ceil(CHUNK as u64) as i64,
            },
        };
        Ok(ImageContent {
            meta,
            size,
            content_type,
            hash,
            reader: ImageReader(source),
        })
    }

    /// Deletes image `id`; its bytes go when no other row names them.
    pub async fn delete(&self, id: i64) -> Result<(), GlassError> {
        let _place = match self.dialect() {
            Dialect::Sqlite => Some(self.state.place.lock().await),
            Dialect::Postgres => None,
        };
        let mut tx = self.engine.begin().await?;
        let rows = tx
            .query(
                "SELECT content_hash FROM images WHERE id = $1",
                &[Val::Int(id)],
                &[Kind::Text],
            )
            .await?;
        let Some(Val::Text(hash)) = rows.into_iter().next().and_then(|r| r.into_iter().next())
        else {
            return Err(GlassError::NotFound(format!("no images row with id {id}")));
        };
        if self.dialect() == Dialect::Postgres {
            // Serializes with an upload of the same content (which locks this row too).
            tx.query(
                "SELECT 1 FROM image_blobs WHERE hash = $1 FOR UPDATE",
                &[Val::Text(hash.clone())],
                &[Kind::Int],
            )
            .await?;
        }
        tx.execute("DELETE FROM images WHERE id = $1", &[Val::Int(id)])
            .await?;
        let named = named(&mut tx, &hash).await?;
        if !named && self.dialect() == Dialect::Postgres {
            tx.execute(
                "DELETE FROM image_blobs WHERE hash = $1",
                &[Val::Text(hash.clone())],
            )
            .await?;
        }
        tx.commit().await?;
        if !named && self.dialect() == Dialect::Sqlite {
            let path = self.file_of(&hash)?;
            if let Err(e) = tokio::fs::remove_file(&path).await
                && e.kind() != std::io::ErrorKind::NotFound
            {
                tracing::warn!(path = %path.display(), error = %e, "image file not removed");
            }
        }
        Ok(())
    }

    /// Deletes the images captured before `cutoff` (ms since the epoch), in batches;
    /// returns how many.
    pub async fn expire_before(&self, cutoff: i64) -> Result<u64, GlassError> {
        let mut removed = 0;
        loop {
            let mut tx = self.engine.begin().await?;
            let rows = tx
                .query(
                    "SELECT id FROM images WHERE captured_at < $1 ORDER BY captured_at, id
                     LIMIT $2",
                    &[Val::Int(cutoff), Val::Int(EXPIRE_BATCH)],
                    &[Kind::Int],
                )
                .await?;
            tx.commit().await?;
            let n = rows.len();
            for r in rows {
                if let Some(Val::Int(id)) = r.first() {
                    match self.delete(*id).await {
                        Ok(()) => removed += 1,
                        // Deleted meanwhile by a request.
                        Err(GlassError::NotFound(_)) => {}
                        Err(e) => return Err(e),
                    }
                }
            }
            if (n as i64) < EXPIRE_BATCH {
                return Ok(removed);
            }
        }
    }

    /// Deletes the images captured more than `keep_days` days ago (0: keeps them all).
    pub async fn expire(&self, keep_days: u32) -> Result<u64, GlassError> {
        if keep_days == 0 {
            return Ok(0);
        }
        self.expire_before(crud::now_ms() - i64::from(keep_days) * 86_400_000)
            .await
    }

    /// After a failed insert: removes the file of `hash` unless a row names it (SQLite;
    /// the caller holds the placing lock).
    async fn remove_file_if_unnamed(&self, hash: &str) {
        let still = async {
            let mut tx = self.engine.begin().await?;
            let n = named(&mut tx, hash).await?;
            tx.commit().await?;
            Ok::<_, GlassError>(n)
        }
        .await;
        if let (Ok(false), Ok(path)) = (still, self.file_of(hash)) {
            let _ = tokio::fs::remove_file(path).await;
        }
    }
}

/// Whether a row names the content `hash`.
async fn named(tx: &mut Box<dyn Tx + '_>, hash: &str) -> Result<bool, GlassError> {
    let rows = tx
        .query(
            "SELECT 1 FROM images WHERE content_hash = $1 LIMIT 1",
            &[Val::Text(hash.to_owned())],
            &[Kind::Int],
        )
        .await?;
    Ok(!rows.is_empty())
}

/// Copies the upload's file into `image_chunks`, [`CHUNK`] bytes per row.
async fn write_chunks(
    tx: &mut Box<dyn Tx + '_>,
    path: &Path,
    hash: &str,
    size: u64,
) -> Result<(), GlassError> {
    let mut file = tokio::fs::File::open(path)
        .await
        .map_err(|e| io_err(path, e))?;
    let mut left = size;
    let mut seq = 0i64;
    while left > 0 {
        let want = left.min(CHUNK as u64) as usize;
        let mut buf = BytesMut::zeroed(want);
        file.read_exact(&mut buf)
            .await
            .map_err(|e| io_err(path, e))?;
        tx.execute(
            "INSERT INTO image_chunks (hash, seq, data) VALUES ($1, $2, $3)",
            &[
                Val::Text(hash.to_owned()),
                Val::Int(seq),
                Val::Bytes(buf.freeze()),
            ],
        )
        .await?;
        left -= want as u64;
        seq += 1;
    }
    Ok(())
}

async fn sync_dir(dir: &Path) -> Result<(), GlassError> {
    let d = tokio::fs::File::open(dir)
        .await
        .map_err(|e| io_err(dir, e))?;
    d.sync_all().await.map_err(|e| io_err(dir, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_checked_before_they_name_a_file() {
        assert!(is_hash(&"ab".repeat(32)));
        assert!(!is_hash("../../etc/passwd"));
        assert!(!is_hash(&"AB".repeat(32)));
        assert_eq!(hex(&[0, 255, 16]), "00ff10");
    }
}
