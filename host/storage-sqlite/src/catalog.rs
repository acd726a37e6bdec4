//! The `series` table: ids, keys, retention settings and metadata.

use std::borrow::Cow;
use std::collections::BTreeMap;

use clio_storage::{
    NewSeries, Result, SeriesFilter, SeriesId, SeriesInfo, SeriesKey, SeriesSettings, SeriesUpdate,
    StorageError,
};
use rusqlite::{Connection, OptionalExtension, params};

use crate::error::sql;
use crate::query::{id_from_sql, id_sql};

const COLUMNS: &str = "id, key, keep_history_days, keep_trends_days, metadata, created";

fn info_from_row(
    r: &rusqlite::Row<'_>,
) -> rusqlite::Result<(i64, Option<String>, i64, i64, String, i64)> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
    ))
}

fn to_info(row: (i64, Option<String>, i64, i64, String, i64)) -> Result<SeriesInfo> {
    let (id, key, keep_h, keep_t, metadata, created) = row;
    let id = id_from_sql(id);
    let corrupt = |detail: String| StorageError::Corrupt {
        what: format!("catalog entry of series {id}"),
        detail,
    };
    let key = key
        .map(|k| {
            k.parse::<SeriesKey>()
                .map_err(|e| corrupt(format!("key {k:?}: {e}")))
        })
        .transpose()?;
    // Most series have none: no JSON parse for a million `{}` at start-up.
    let metadata: BTreeMap<String, String> = if metadata == "{}" {
        BTreeMap::new()
    } else {
        serde_json::from_str(&metadata).map_err(|e| corrupt(format!("metadata: {e}")))?
    };
    Ok(SeriesInfo {
        id,
        key,
        settings: SeriesSettings {
            keep_history_days: u32::try_from(keep_h).unwrap_or(u32::MAX),
            keep_trends_days: u32::try_from(keep_t).unwrap_or(u32::MAX),
            metadata,
        },
        created,
    })
}

/// Every entry, by ascending id.
pub(crate) fn load(conn: &Connection) -> Result<Vec<SeriesInfo>> {
    let mut stmt = conn
        .prepare_cached(&format!("SELECT {COLUMNS} FROM series"))
        .map_err(sql)?;
    // Each row converted as it is read: no second copy of a million rows' texts.
    let mut out = Vec::new();
    let mut rows = stmt.query([]).map_err(sql)?;
    while let Some(row) = rows.next().map_err(sql)? {
        out.push(to_info(info_from_row(row).map_err(sql)?)?);
    }
    // Ids above i64::MAX are stored negative, so SQL order is not id order.
    out.sort_by_key(|s| s.id);
    Ok(out)
}

/// One entry.
pub(crate) fn get(conn: &Connection, id: SeriesId) -> Result<Option<SeriesInfo>> {
    let mut stmt = conn
        .prepare_cached(&format!("SELECT {COLUMNS} FROM series WHERE id = ?1"))
        .map_err(sql)?;
    stmt.query_row([id_sql(id)], info_from_row)
        .optional()
        .map_err(sql)?
        .map(to_info)
        .transpose()
}

/// The entry holding `key`.
pub(crate) fn find_key(conn: &Connection, key: &SeriesKey) -> Result<Option<SeriesInfo>> {
    let mut stmt = conn
        .prepare_cached(&format!("SELECT {COLUMNS} FROM series WHERE key = ?1"))
        .map_err(sql)?;
    stmt.query_row([key.to_string()], info_from_row)
        .optional()
        .map_err(sql)?
        .map(to_info)
        .transpose()
}

/// Entries passing `filter`, by ascending id.
pub(crate) fn list(conn: &Connection, filter: &SeriesFilter) -> Result<Vec<SeriesInfo>> {
    Ok(load(conn)?
        .into_iter()
        .filter(|s| filter.matches(s))
        .collect())
}

/// Adds entries; existing ids are left alone; a key owned by another id is refused and
/// nothing of the call is stored (the caller runs it in a transaction). `added` hears of
/// each entry inserted.
///
/// A flush creates a million series in one call: each costs one lookup by id and the insert,
/// whose unique index on `key` is what finds a key owned by another id (the owner is looked
/// up only then, for the error).
pub(crate) fn create(
    conn: &Connection,
    series: &[NewSeries],
    now: i64,
    mut added: impl FnMut(SeriesId),
) -> Result<()> {
    let mut exists = conn
        .prepare_cached("SELECT 1 FROM series WHERE id = ?1")
        .map_err(sql)?;
    let mut insert = conn
        .prepare_cached(
            "INSERT INTO series (id, key, keep_history_days, keep_trends_days, metadata, created)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )
        .map_err(sql)?;
    for s in series {
        if exists.exists([id_sql(s.id)]).map_err(sql)? {
            continue;
        }
        // Most series have none: no JSON encoder for `{}`.
        let metadata: Cow<'_, str> = if s.settings.metadata.is_empty() {
            Cow::Borrowed("{}")
        } else {
            serde_json::to_string(&s.settings.metadata)
                .map_err(StorageError::other)?
                .into()
        };
        let inserted = insert.execute(params![
            id_sql(s.id),
            s.key.as_ref().map(|k| k.to_string()),
            s.settings.keep_history_days,
            s.settings.keep_trends_days,
            metadata,
            now
        ]);
        match inserted {
            Ok(_) => added(s.id),
            Err(e) if is_unique_violation(&e) => {
                if let Some(key) = &s.key
                    && let Some(owner) = find_key(conn, key)?
                {
                    return Err(StorageError::InvalidInput(format!(
                        "series key `{key}` already belongs to series {}, cannot give it to {}",
                        owner.id, s.id
                    )));
                }
                return Err(sql(e));
            }
            Err(e) => return Err(sql(e)),
        }
    }
    Ok(())
}

/// A UNIQUE constraint (here: `series.key`) refused the statement.
fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(
        e,
        rusqlite::Error::SqliteFailure(f, _)
            if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
    )
}

/// Applies `update`; `NotFound` when the series does not exist.
pub(crate) fn update(conn: &Connection, id: SeriesId, update: &SeriesUpdate) -> Result<SeriesInfo> {
    let mut info = get(conn, id)?.ok_or(StorageError::NotFound(id))?;
    update.apply(&mut info.settings);
    let metadata = serde_json::to_string(&info.settings.metadata).map_err(StorageError::other)?;
    conn.execute(
        "UPDATE series SET keep_history_days = ?2, keep_trends_days = ?3, metadata = ?4
         WHERE id = ?1",
        params![
            id_sql(id),
            info.settings.keep_history_days,
            info.settings.keep_trends_days,
            metadata
        ],
    )
    .map_err(sql)?;
    Ok(info)
}

/// Removes the entry; true if it existed.
pub(crate) fn delete(conn: &Connection, id: SeriesId) -> Result<bool> {
    Ok(conn
        .execute("DELETE FROM series WHERE id = ?1", [id_sql(id)])
        .map_err(sql)?
        > 0)
}
