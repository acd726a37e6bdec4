//! Encryption at rest on SQLite: every connection gets the SQL functions `clio_seal` and
//! `clio_open` bound to the store's [`Keyring`], and every statement that writes or reads a
//! chunk body goes through them (`clio_open(series_id, start_ts, data)` for point chunks,
//! `clio_open(series_id, interval_ms, start_ts, data)` for trend chunks; `clio_seal` with the
//! same arguments). Binding the keys to the connection, not to each call, keeps the read and
//! write paths unchanged and fails closed: a connection without the functions cannot run
//! the statements at all.
//!
//! Without keys the functions pass bytes through (and refuse sealed data with a clear
//! error). The catalog (series keys, settings) and the `meta` table stay plain; `meta`
//! records whether the store is encrypted (`encryption`) and a sealed check value
//! (`key_check`) so that a missing or wrong key is named at open, before any chunk is read.

use std::sync::Arc;

use clio_storage::sealing::{Keyring, SealError, chunk_aad, sealed_key_id, trend_chunk_aad};
use clio_storage::{Result, StorageError};
use rusqlite::functions::{Context, FunctionFlags};
use rusqlite::{Connection, OptionalExtension};

use crate::error::sql;
use crate::schema::{read_meta, write_meta};

/// The `meta.encryption` value of an encrypted store.
const SCHEME: &str = "chacha20poly1305";
const CHECK_AAD: &[u8] = b"clio-key-check";
const CHECK_PLAIN: &[u8] = b"clio data key check";

/// Registers `clio_seal` and `clio_open` (3 and 4 arguments) on `conn`.
pub(crate) fn register(conn: &Connection, keys: &Arc<Keyring>) -> Result<()> {
    for n_args in [3, 4] {
        let k = keys.clone();
        conn.create_scalar_function(
            "clio_open",
            n_args,
            FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
            move |ctx| {
                let (aad, data) = args(ctx)?;
                k.open(&aad, data)
                    .map_err(|e| rusqlite::Error::UserFunctionError(Box::new(e)))
            },
        )
        .map_err(sql)?;
        let k = keys.clone();
        // Not deterministic: every seal draws a fresh nonce.
        conn.create_scalar_function(
            "clio_seal",
            n_args,
            FunctionFlags::SQLITE_UTF8,
            move |ctx| {
                let (aad, data) = args(ctx)?;
                Ok(k.seal(&aad, data))
            },
        )
        .map_err(sql)?;
    }
    Ok(())
}

/// The associated data and the body of a `(series_id, [interval_ms,] start_ts, data)` call.
fn args<'a>(ctx: &'a Context<'_>) -> rusqlite::Result<(Vec<u8>, &'a [u8])> {
    let series = ctx.get::<i64>(0)? as u64;
    if ctx.len() == 4 {
        let aad = trend_chunk_aad(series, ctx.get(1)?, ctx.get(2)?).to_vec();
        Ok((aad, ctx.get_raw(3).as_blob()?))
    } else {
        Ok((
            chunk_aad(series, ctx.get(1)?).to_vec(),
            ctx.get_raw(2).as_blob()?,
        ))
    }
}

/// The store-level check at open: an encrypted store needs a configured key of the right id,
/// and a plain store that already holds data refuses a key (its chunks would be unreadable
/// plain items in an encrypted store). A new file with a key becomes encrypted. With
/// `writable`, the check value is re-sealed under the current key after a rotation.
pub(crate) fn check_store(conn: &Connection, keys: &Keyring, writable: bool) -> Result<()> {
    let scheme = read_meta(conn, "encryption")?;
    let check = read_meta(conn, "key_check")?;
    match (scheme, keys.is_enabled()) {
        (None, false) => Ok(()),
        (None, true) => {
            if has_data(conn)? || !writable {
                return Err(StorageError::InvalidInput(
                    "the store is not encrypted, but a data key is configured ([storage] key_file or CLIO_DATA_KEY); remove the key, or start from an empty store (a backup restored into it is sealed as it is written back)".into(),
                ));
            }
            write_meta(conn, "encryption", SCHEME)?;
            write_meta(conn, "key_check", &hex(&keys.seal(CHECK_AAD, CHECK_PLAIN)))?;
            Ok(())
        }
        (Some(s), _) if s != SCHEME => Err(StorageError::InvalidInput(format!(
            "the store is encrypted with `{s}`, which this Clio does not know"
        ))),
        (Some(_), enabled) => {
            let sealed = check
                .as_deref()
                .and_then(unhex)
                .ok_or_else(|| StorageError::Corrupt {
                    what: "meta.key_check".into(),
                    detail: "missing or not hex".into(),
                })?;
            if !enabled {
                return Err(key_error(SealError::NoKey {
                    key_id: sealed_key_id(&sealed).unwrap_or_default(),
                }));
            }
            match keys.open(CHECK_AAD, &sealed) {
                Ok(p) if p == CHECK_PLAIN => {}
                Ok(_) | Err(SealError::Tampered) => {
                    return Err(StorageError::InvalidInput(format!(
                        "wrong data key: key id {} does not open this store",
                        sealed_key_id(&sealed).unwrap_or_default()
                    )));
                }
                Err(e) => return Err(key_error(e)),
            }
            if writable && sealed_key_id(&sealed) != keys.current_id() {
                write_meta(conn, "key_check", &hex(&keys.seal(CHECK_AAD, CHECK_PLAIN)))?;
            }
            Ok(())
        }
    }
}

/// True when the file holds any chunk row.
fn has_data(conn: &Connection) -> Result<bool> {
    Ok(conn
        .query_row(
            "SELECT EXISTS(SELECT 1 FROM chunks) OR EXISTS(SELECT 1 FROM trend_chunks)",
            [],
            |r| r.get(0),
        )
        .optional()
        .map_err(sql)?
        .unwrap_or(false))
}

/// A key problem at open, as the storage error the caller shows.
pub(crate) fn key_error(e: SealError) -> StorageError {
    StorageError::InvalidInput(e.to_string())
}

/// Chunk rows by the key that sealed them (`"plain"` for unsealed rows), point and trend
/// chunks together: what `clio storage status` reports so that an old key is dropped only
/// once nothing needs it. Reads only the first bytes of each body.
pub(crate) fn chunks_by_key(conn: &Connection) -> Result<Vec<(String, u64)>> {
    let mut stmt = conn
        .prepare(
            "SELECT CASE WHEN substr(data, 1, 1) = x'C5' THEN hex(substr(data, 2, 8)) ELSE 'plain' END AS k,
                    COUNT(*)
             FROM (SELECT data FROM chunks UNION ALL SELECT data FROM trend_chunks)
             GROUP BY k ORDER BY k",
        )
        .map_err(sql)?;
    let rows = stmt
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
        .map_err(sql)?;
    let mut out = Vec::new();
    for row in rows {
        let (k, n) = row.map_err(sql)?;
        out.push((k.to_ascii_lowercase(), n.max(0) as u64));
    }
    Ok(out)
}

/// [`chunks_by_key`] of the file at `path`, opened read-only (no key is needed: only the
/// key ids, which are plain, are read). Safe while a server writes to the file.
pub fn chunks_by_key_in(path: &std::path::Path) -> Result<Vec<(String, u64)>> {
    let conn = Connection::open_with_flags(
        path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| StorageError::Unavailable(format!("cannot open {}: {e}", path.display())))?;
    crate::schema::configure_reader(&conn, std::time::Duration::from_secs(5))?;
    chunks_by_key(&conn)
}

/// Re-seals up to `batch` chunk rows (points, then trends) that are not sealed under the
/// current key, in one transaction; returns how many. Called until it returns 0.
pub(crate) fn reseal_batch(conn: &mut Connection, keys: &Keyring, batch: usize) -> Result<u64> {
    let Some(current) = keys.current_id() else {
        return Ok(0);
    };
    let tx = conn.transaction().map_err(sql)?;
    let limit = batch as i64;
    let points = tx
        .execute(
            "UPDATE chunks SET data = clio_seal(series_id, start_ts, clio_open(series_id, start_ts, data))
             WHERE rowid IN (SELECT rowid FROM chunks WHERE lower(hex(substr(data, 2, 8))) != ?1 LIMIT ?2)",
            rusqlite::params![current, limit],
        )
        .map_err(sql)?;
    let trends = tx
        .execute(
            "UPDATE trend_chunks
             SET data = clio_seal(series_id, interval_ms, start_ts, clio_open(series_id, interval_ms, start_ts, data))
             WHERE rowid IN (SELECT rowid FROM trend_chunks WHERE lower(hex(substr(data, 2, 8))) != ?1 LIMIT ?2)",
            rusqlite::params![current, (limit - points as i64).max(0)],
        )
        .map_err(sql)?;
    tx.commit().map_err(sql)?;
    Ok((points + trends) as u64)
}

fn hex(b: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        let _ = write!(s, "{x:02x}");
    }
    s
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    let s = s.trim();
    if !s.len().is_multiple_of(2) || !s.is_ascii() {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
        .collect()
}
