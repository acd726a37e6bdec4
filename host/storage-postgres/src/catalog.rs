//! The `series` table: ids, keys, retention settings and metadata. Keys and metadata are
//! `bytea` (a key may hold NUL bytes, which `text` cannot); `measurement`, `field` and `tags`
//! repeat the key's parts for the plain-rows view.

use std::collections::{BTreeMap, HashMap, HashSet};

use clio_storage::{
    NewSeries, Result, SeriesId, SeriesInfo, SeriesKey, SeriesSettings, SeriesUpdate, StorageError,
};
use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use crate::rows::{db, id_from_sql, id_sql};

pub(crate) const COLUMNS: &str =
    "series_id, key, keep_history_days, keep_trends_days, metadata, created";

pub(crate) fn to_info(r: &Row) -> Result<SeriesInfo> {
    let id = id_from_sql(r.try_get(0).map_err(db)?);
    let corrupt = |detail: String| StorageError::Corrupt {
        what: format!("catalog entry of series {id}"),
        detail,
    };
    let key: Option<Vec<u8>> = r.try_get(1).map_err(db)?;
    let key = key
        .map(|k| {
            let text = String::from_utf8(k).map_err(|e| corrupt(format!("key: {e}")))?;
            text.parse::<SeriesKey>()
                .map_err(|e| corrupt(format!("key {text:?}: {e}")))
        })
        .transpose()?;
    let keep_h: i64 = r.try_get(2).map_err(db)?;
    let keep_t: i64 = r.try_get(3).map_err(db)?;
    let metadata: Vec<u8> = r.try_get(4).map_err(db)?;
    let metadata: BTreeMap<String, String> =
        serde_json::from_slice(&metadata).map_err(|e| corrupt(format!("metadata: {e}")))?;
    Ok(SeriesInfo {
        id,
        key,
        settings: SeriesSettings {
            keep_history_days: u32::try_from(keep_h).unwrap_or(u32::MAX),
            keep_trends_days: u32::try_from(keep_t).unwrap_or(u32::MAX),
            metadata,
        },
        created: r.try_get(5).map_err(db)?,
    })
}

/// Every entry, by ascending id.
pub(crate) async fn load(c: &impl GenericClient, schema: &str) -> Result<Vec<SeriesInfo>> {
    let stmt = c
        .prepare_cached(&format!("SELECT {COLUMNS} FROM {schema}.series"))
        .await
        .map_err(db)?;
    let rows = c.query(&stmt, &[]).await.map_err(db)?;
    let mut out = rows.iter().map(to_info).collect::<Result<Vec<_>>>()?;
    // Ids above i64::MAX are stored negative, so SQL order is not id order.
    out.sort_by_key(|s| s.id);
    Ok(out)
}

/// One entry.
pub(crate) async fn get(
    c: &impl GenericClient,
    schema: &str,
    id: SeriesId,
) -> Result<Option<SeriesInfo>> {
    let stmt = c
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM {schema}.series WHERE series_id = $1"
        ))
        .await
        .map_err(db)?;
    c.query_opt(&stmt, &[&id_sql(id)])
        .await
        .map_err(db)?
        .as_ref()
        .map(to_info)
        .transpose()
}

/// The key's parts for the view; `None` where JSON text cannot hold them (NUL bytes).
fn view_parts(key: &SeriesKey) -> (Option<String>, Option<String>, Option<String>) {
    let clean = |s: &str| (!s.contains('\0')).then(|| s.to_owned());
    let tags: Option<serde_json::Map<String, serde_json::Value>> = key
        .tags()
        .map(|(k, v)| Some((clean(k)?, serde_json::Value::String(clean(v)?))))
        .collect();
    (
        clean(key.measurement()),
        clean(key.field()),
        tags.map(|t| serde_json::Value::Object(t).to_string()),
    )
}

/// Adds entries; existing ids are left alone; a key owned by another id (or given twice in
/// the call) is refused and nothing of the call is stored (the caller runs it in a
/// transaction). Two round trips whatever the number of series.
pub(crate) async fn create(
    c: &impl GenericClient,
    schema: &str,
    series: &[NewSeries],
    now: i64,
) -> Result<()> {
    if series.is_empty() {
        return Ok(());
    }
    let ids: Vec<i64> = series.iter().map(|s| id_sql(s.id)).collect();
    let keys: Vec<Vec<u8>> = series
        .iter()
        .filter_map(|s| s.key.as_ref().map(|k| k.to_string().into_bytes()))
        .collect();
    let stmt = c
        .prepare_cached(&format!(
            "SELECT series_id, key FROM {schema}.series WHERE series_id = ANY($1) OR key = ANY($2)"
        ))
        .await
        .map_err(db)?;
    let mut existing: HashSet<i64> = HashSet::new();
    let mut owners: HashMap<Vec<u8>, i64> = HashMap::new();
    for r in c.query(&stmt, &[&ids, &keys]).await.map_err(db)? {
        let id: i64 = r.try_get(0).map_err(db)?;
        existing.insert(id);
        if let Some(k) = r.try_get::<_, Option<Vec<u8>>>(1).map_err(db)? {
            owners.insert(k, id);
        }
    }
    let mut new_ids = Vec::new();
    let mut new_keys: Vec<Option<Vec<u8>>> = Vec::new();
    let mut keep_h = Vec::new();
    let mut keep_t = Vec::new();
    let mut metas = Vec::new();
    let mut measurements = Vec::new();
    let mut fields = Vec::new();
    let mut tags = Vec::new();
    for s in series {
        let id = id_sql(s.id);
        if !existing.insert(id) {
            continue;
        }
        let key_bytes = s.key.as_ref().map(|k| k.to_string().into_bytes());
        if let (Some(key), Some(bytes)) = (&s.key, &key_bytes) {
            if let Some(&owner) = owners.get(bytes) {
                return Err(StorageError::InvalidInput(format!(
                    "series key `{key}` already belongs to series {}, cannot give it to {}",
                    id_from_sql(owner),
                    s.id
                )));
            }
            owners.insert(bytes.clone(), id);
        }
        let (m, f, t) = s.key.as_ref().map(view_parts).unwrap_or((None, None, None));
        new_ids.push(id);
        new_keys.push(key_bytes);
        keep_h.push(i64::from(s.settings.keep_history_days));
        keep_t.push(i64::from(s.settings.keep_trends_days));
        metas.push(serde_json::to_vec(&s.settings.metadata).map_err(StorageError::other)?);
        measurements.push(m);
        fields.push(f);
        tags.push(t);
    }
    if new_ids.is_empty() {
        return Ok(());
    }
    let insert = c
        .prepare_cached(&format!(
            "INSERT INTO {schema}.series
                 (series_id, key, keep_history_days, keep_trends_days, metadata, created,
                  measurement, field, tags)
             SELECT id, k, h, t, m, $6, me, f, tg::jsonb
             FROM unnest($1::int8[], $2::bytea[], $3::int8[], $4::int8[], $5::bytea[],
                         $7::text[], $8::text[], $9::text[]) AS u(id, k, h, t, m, me, f, tg)"
        ))
        .await
        .map_err(db)?;
    c.execute(
        &insert,
        &[
            &new_ids,
            &new_keys,
            &keep_h,
            &keep_t,
            &metas,
            &now,
            &measurements,
            &fields,
            &tags,
        ],
    )
    .await
    .map_err(db)?;
    Ok(())
}

/// Applies `update`; `NotFound` when the series does not exist.
pub(crate) async fn update(
    c: &impl GenericClient,
    schema: &str,
    id: SeriesId,
    update: &SeriesUpdate,
) -> Result<SeriesInfo> {
    let mut info = get(c, schema, id)
        .await?
        .ok_or(StorageError::NotFound(id))?;
    update.apply(&mut info.settings);
    let metadata = serde_json::to_vec(&info.settings.metadata).map_err(StorageError::other)?;
    let stmt = c
        .prepare_cached(&format!(
            "UPDATE {schema}.series SET keep_history_days = $2, keep_trends_days = $3, metadata = $4
             WHERE series_id = $1"
        ))
        .await
        .map_err(db)?;
    c.execute(
        &stmt,
        &[
            &id_sql(id),
            &i64::from(info.settings.keep_history_days),
            &i64::from(info.settings.keep_trends_days),
            &metadata,
        ],
    )
    .await
    .map_err(db)?;
    Ok(info)
}
