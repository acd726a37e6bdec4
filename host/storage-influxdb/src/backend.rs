//! [`InfluxBackend`]: the catalog, points and trend buckets in one InfluxDB database.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use clio_storage::{
    Capabilities, CatalogStore, Limits, NewSeries, Point, PointStore, Result, RetentionStore,
    SeriesFilter, SeriesId, SeriesInfo, SeriesKey, SeriesPoints, SeriesStats, SeriesUpdate,
    StorageBackend, StorageError, Timestamp, TrendBucket, TrendInterval, TrendMode, TrendStore,
    Value, WriteSummary, WrittenPoints,
};
use parking_lot::RwLock;
use serde_json::Value as Json;

use crate::http::{Http, ResultSeries, StatementResult};
use crate::options::InfluxOptions;
use crate::proto;

/// The oldest timestamp InfluxDB can hold, in ms (its nanosecond range starts at
/// `i64::MIN + 2` ns, 1677-09-21).
pub const MIN_TIMESTAMP: Timestamp = -9_223_372_036_854;
/// The newest timestamp InfluxDB can hold, in ms (2262-04-11).
pub const MAX_TIMESTAMP: Timestamp = 9_223_372_036_854;

/// Measurement of series without a key.
const UNKEYED: &str = "clio_series";
/// Measurement of trend buckets (the Glass AI schema).
const TRENDS: &str = "aggregated_data";
/// Measurement of the catalog.
const CATALOG: &str = "clio_catalog";
/// Statements per `/query` request when many are sent at once.
const STATEMENTS_PER_QUERY: usize = 64;
/// Bytes of stored data reported per point by `stats` (InfluxDB does not tell per series;
/// its TSM files hold roughly this for a float with its timestamp before compression).
const BYTES_PER_POINT: u64 = 16;
/// At most this many values of other fields are read and written back when a delete of one
/// keyed series takes its whole tag set in InfluxDB; above it the delete is refused.
const SIBLING_REWRITE_LIMIT: u64 = 1_000_000;

/// Where a series lives in InfluxDB.
#[derive(Debug, Clone)]
enum Loc {
    /// `measurement,tags field`.
    Keyed(SeriesKey),
    /// `clio_series,series_id=<id>` with field `value` or `text`.
    Unkeyed(SeriesId),
}

impl Loc {
    fn measurement(&self) -> &str {
        match self {
            Loc::Keyed(k) => k.measurement(),
            Loc::Unkeyed(_) => UNKEYED,
        }
    }

    fn tags(&self) -> Vec<(String, String)> {
        match self {
            Loc::Keyed(k) => k.tags_owned(),
            Loc::Unkeyed(id) => vec![("series_id".to_owned(), id.0.to_string())],
        }
    }

    /// The `parameter` tag of its trend buckets: the key, or the id of a series without one.
    fn parameter(&self) -> String {
        match self {
            Loc::Keyed(k) => k.to_string(),
            Loc::Unkeyed(id) => id.0.to_string(),
        }
    }

    /// Fields selected when reading its points.
    fn fields(&self) -> String {
        match self {
            Loc::Keyed(k) => proto::ident(k.field()),
            Loc::Unkeyed(_) => "\"value\",\"text\"".to_owned(),
        }
    }

    /// `tag = 'value' AND …` of its own tags.
    fn tag_conditions(&self) -> Vec<String> {
        self.tags()
            .iter()
            .map(|(k, v)| format!("{} = {}", proto::ident(k), proto::literal(v)))
            .collect()
    }

    /// True when an answer's series is exactly this tag set (a `GROUP BY *` answer lists the
    /// measurement's other tag keys with the value `""`).
    fn is_exact(&self, s: &ResultSeries) -> bool {
        match self {
            Loc::Unkeyed(_) => true,
            Loc::Keyed(k) => {
                s.tags.iter().all(|(name, v)| match k.tag(name) {
                    Some(mine) => mine == v,
                    None => v.is_empty(),
                }) && k
                    .tags()
                    .all(|(name, _)| s.tags.contains_key(name) || s.tags.is_empty())
            }
        }
    }
}

#[derive(Debug, Default)]
struct Catalog {
    by_id: BTreeMap<SeriesId, SeriesInfo>,
    by_key: HashMap<SeriesKey, SeriesId>,
}

/// Clio's history in an InfluxDB database, over the v1 HTTP API.
#[derive(Debug)]
pub struct InfluxBackend {
    http: Http,
    url: String,
    database: String,
    rp: Option<String>,
    catalog_rp: Option<String>,
    batch_size: usize,
    intervals: Vec<TrendInterval>,
    catalog: RwLock<Catalog>,
    /// Writes exclusive, reads shared: a write reads the stored span before it writes, and
    /// InfluxDB makes a write visible field by field and series by series, so without this
    /// a read in this process could see part of a write (readers elsewhere can).
    gate: tokio::sync::RwLock<()>,
    closed: AtomicBool,
}

fn now_ms() -> Timestamp {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn invalid(msg: String) -> StorageError {
    StorageError::InvalidInput(msg)
}

/// `time >= … AND time <= …` in nanoseconds for `[from, to)`, clamped to InfluxDB's range;
/// `None` when nothing of it can be stored.
fn time_condition(from: Timestamp, to: Timestamp) -> Option<String> {
    let from = from.max(MIN_TIMESTAMP);
    let last = to.saturating_sub(1).min(MAX_TIMESTAMP);
    if from > last {
        return None;
    }
    Some(format!(
        "time >= {} AND time <= {}",
        from * 1_000_000,
        last * 1_000_000
    ))
}

fn where_clause(mut conds: Vec<String>, time: &str) -> String {
    conds.push(time.to_owned());
    conds.join(" AND ")
}

fn json_ts(v: Option<&Json>) -> Result<Timestamp> {
    v.and_then(Json::as_i64)
        .ok_or_else(|| StorageError::Other("influxdb answer: a row without a time".into()))
}

fn json_value(v: &Json) -> Option<Value> {
    match v {
        Json::Number(n) => n.as_f64().map(Value::Num),
        Json::String(s) => Some(Value::Str(s.clone())),
        Json::Bool(b) => Some(Value::Num(if *b { 1.0 } else { 0.0 })),
        _ => None,
    }
}

/// Points of an answer: rows of the series that is exactly `loc`, the first non-null field
/// as the value.
fn points_of(loc: &Loc, r: &StatementResult) -> Result<Vec<Point>> {
    let mut out = Vec::new();
    for s in r.series.iter().filter(|s| loc.is_exact(s)) {
        for row in &s.values {
            let ts = json_ts(row.first())?;
            if let Some(v) = row.iter().skip(1).find_map(json_value) {
                out.push(Point::new(ts, v));
            }
        }
    }
    Ok(out)
}

fn count_of(s: &ResultSeries, column: &str) -> u64 {
    s.column(column)
        .and_then(|i| s.values.first().and_then(|row| row.get(i)))
        .and_then(Json::as_u64)
        .unwrap_or(0)
}

impl InfluxBackend {
    /// Connects, creates the database and retention policy when configured to, and loads
    /// the catalog. Fails with `Unavailable` when InfluxDB does not answer.
    pub async fn open(o: InfluxOptions) -> Result<Self> {
        if o.database.trim().is_empty() {
            return Err(invalid("influxdb: `database` is empty".into()));
        }
        if o.batch_size == 0 {
            return Err(invalid("influxdb: `batch_size` must be at least 1".into()));
        }
        if o.trend_intervals.is_empty() {
            return Err(invalid("influxdb: no trend intervals".into()));
        }
        let http = Http::new(&o)?;
        http.ping().await?;
        let b = InfluxBackend {
            http,
            url: o.url.clone(),
            database: o.database.clone(),
            rp: o.retention_policy.clone().filter(|s| !s.is_empty()),
            catalog_rp: o.catalog_retention_policy.clone().filter(|s| !s.is_empty()),
            batch_size: o.batch_size,
            intervals: o.trend_intervals.clone(),
            catalog: RwLock::new(Catalog::default()),
            gate: tokio::sync::RwLock::new(()),
            closed: AtomicBool::new(false),
        };
        if o.create_database {
            b.http
                .query(&format!("CREATE DATABASE {}", proto::ident(&b.database)))
                .await?;
        }
        if let (Some(rp), Some(duration)) = (&b.rp, &o.retention_duration) {
            b.ensure_retention_policy(rp, duration).await?;
        }
        b.reload_catalog().await?;
        tracing::info!(url = %b.url, database = %b.database, rp = ?b.rp, series = b.catalog.read().by_id.len(), "influxdb backend open");
        Ok(b)
    }

    async fn ensure_retention_policy(&self, rp: &str, duration: &str) -> Result<()> {
        let d = duration.trim();
        if d.is_empty() || !d.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(invalid(format!(
                "influxdb: retention duration `{duration}` is not an InfluxQL duration such as 90d, 52w or INF"
            )));
        }
        let on = format!(
            "{} ON {} DURATION {d} REPLICATION 1",
            proto::ident(rp),
            proto::ident(&self.database)
        );
        match self
            .http
            .query(&format!("CREATE RETENTION POLICY {on}"))
            .await
        {
            Ok(_) => Ok(()),
            Err(StorageError::InvalidInput(m)) if m.contains("already exists") => {
                tracing::info!(rp, duration = d, "influxdb: altering the retention policy");
                self.http
                    .query(&format!(
                        "ALTER RETENTION POLICY {} ON {} DURATION {d}",
                        proto::ident(rp),
                        proto::ident(&self.database)
                    ))
                    .await
                    .map(|_| ())
            }
            Err(e) => Err(e),
        }
    }

    fn check_open(&self) -> Result<()> {
        if self.closed.load(Ordering::Acquire) {
            Err(StorageError::Unavailable(
                "influxdb backend is closed".into(),
            ))
        } else {
            Ok(())
        }
    }

    /// `"db"."rp"."measurement"` (or without the policy when there is none).
    fn from(&self, rp: Option<&str>, m: &str) -> String {
        match rp {
            Some(rp) => format!(
                "{}.{}.{}",
                proto::ident(&self.database),
                proto::ident(rp),
                proto::ident(m)
            ),
            None => proto::ident(m),
        }
    }

    fn data_from(&self, m: &str) -> String {
        self.from(self.rp.as_deref(), m)
    }

    fn loc(&self, id: SeriesId) -> Result<Loc> {
        let cat = self.catalog.read();
        let info = cat.by_id.get(&id).ok_or(StorageError::NotFound(id))?;
        Ok(match &info.key {
            Some(k) => Loc::Keyed(k.clone()),
            None => Loc::Unkeyed(id),
        })
    }

    async fn reload_catalog(&self) -> Result<()> {
        let q = format!(
            "SELECT \"info\" FROM {}",
            self.from(self.catalog_rp.as_deref(), CATALOG)
        );
        let results = self.http.query(&q).await?;
        let mut cat = Catalog::default();
        for s in results.iter().flat_map(|r| &r.series) {
            let Some(col) = s.column("info") else {
                continue;
            };
            for row in &s.values {
                let Some(text) = row.get(col).and_then(Json::as_str) else {
                    continue;
                };
                let info: SeriesInfo =
                    serde_json::from_str(text).map_err(|e| StorageError::Corrupt {
                        what: "influxdb clio_catalog entry".into(),
                        detail: format!("{e}: {text}"),
                    })?;
                if let Some(k) = &info.key {
                    cat.by_key.insert(k.clone(), info.id);
                }
                cat.by_id.insert(info.id, info);
            }
        }
        *self.catalog.write() = cat;
        Ok(())
    }

    async fn put_catalog(&self, infos: &[SeriesInfo]) -> Result<()> {
        let mut body = String::new();
        for info in infos {
            let json = serde_json::to_string(info)
                .map_err(|e| StorageError::Other(format!("catalog entry to JSON: {e}")))?;
            let _ = write!(body, "{CATALOG},series_id={} info=", info.id.0);
            proto::string_value(&mut body, &json);
            body.push_str(" 0\n");
        }
        self.http.write(self.catalog_rp.as_deref(), body).await
    }

    /// Sends statements, many per request; the answers in order.
    async fn query_many(&self, statements: &[String]) -> Result<Vec<StatementResult>> {
        let mut out = Vec::with_capacity(statements.len());
        for chunk in statements.chunks(STATEMENTS_PER_QUERY) {
            let results = self.http.query(&chunk.join("; ")).await?;
            if results.len() != chunk.len() {
                return Err(StorageError::Other(format!(
                    "influxdb answered {} results to {} statements",
                    results.len(),
                    chunk.len()
                )));
            }
            out.extend(results);
        }
        Ok(out)
    }

    /// Writes lines, `batch_size` per request.
    async fn write_lines(&self, lines: &[String]) -> Result<()> {
        for chunk in lines.chunks(self.batch_size) {
            let mut body = String::with_capacity(chunk.iter().map(|l| l.len() + 1).sum());
            for l in chunk {
                body.push_str(l);
                body.push('\n');
            }
            self.http.write(self.rp.as_deref(), body).await?;
        }
        Ok(())
    }

    /// The statement reading points of `loc` in `[from, to)`: the newest `limit` when `newest`
    /// (answer descending), else all ascending.
    fn select_points(&self, loc: &Loc, time: &str, newest: Option<usize>) -> String {
        let mut q = format!(
            "SELECT {} FROM {} WHERE {}",
            loc.fields(),
            self.data_from(loc.measurement()),
            where_clause(loc.tag_conditions(), time)
        );
        if matches!(loc, Loc::Keyed(_)) {
            q.push_str(" GROUP BY *");
        }
        if let Some(n) = newest {
            let _ = write!(q, " ORDER BY time DESC LIMIT {n}");
        }
        q
    }

    async fn read_points(
        &self,
        series: SeriesId,
        from: Timestamp,
        to: Timestamp,
        limit: usize,
    ) -> Result<Vec<Point>> {
        self.check_open()?;
        let loc = self.loc(series)?;
        if limit == 0 || from >= to {
            return Ok(Vec::new());
        }
        let Some(time) = time_condition(from, to) else {
            return Ok(Vec::new());
        };
        // LIMIT 0 would mean "no limit" to InfluxDB; a limit beyond i64 is no limit either.
        let newest = (limit < i64::MAX as usize).then_some(limit);
        let q = self.select_points(&loc, &time, newest);
        let results = {
            let _shared = self.gate.read().await;
            self.http.query(&q).await?
        };
        let mut points = match results.first() {
            Some(r) => points_of(&loc, r)?,
            None => Vec::new(),
        };
        if newest.is_some() {
            points.reverse();
        }
        Ok(points)
    }

    fn point_line(loc: &Loc, p: &Point, out: &mut String) -> Result<()> {
        match loc {
            Loc::Keyed(k) => {
                proto::measurement(out, k.measurement());
                for (t, v) in k.tags() {
                    out.push(',');
                    proto::name(out, t);
                    out.push('=');
                    proto::name(out, v);
                }
                out.push(' ');
                proto::name(out, k.field());
            }
            Loc::Unkeyed(id) => {
                let _ = write!(out, "{UNKEYED},series_id={} ", id.0);
                out.push_str(match p.value {
                    Value::Num(_) => "value",
                    Value::Str(_) => "text",
                });
            }
        }
        out.push('=');
        match &p.value {
            Value::Num(v) => {
                if !v.is_finite() {
                    return Err(invalid(format!("{v} is not a finite number")));
                }
                proto::float_value(out, *v);
            }
            Value::Str(s) => proto::string_value(out, s),
        }
        let _ = write!(out, " {}", p.ts);
        Ok(())
    }

    /// Checks what InfluxDB cannot hold before anything of a write is sent.
    fn validate(&self, loc: &Loc, sp: &SeriesPoints) -> Result<()> {
        if let Loc::Keyed(k) = loc {
            let names = std::iter::once(k.measurement())
                .chain(std::iter::once(k.field()))
                .chain(k.tags().flat_map(|(a, b)| [a, b]));
            for n in names {
                if !proto::name_is_writable(n) {
                    return Err(invalid(format!(
                        "series {}: key `{k}` has a line break or a trailing backslash, which InfluxDB line protocol cannot carry",
                        sp.series
                    )));
                }
            }
            let nums = sp
                .points
                .iter()
                .filter(|p| p.value.as_f64().is_some())
                .count();
            if nums != 0 && nums != sp.points.len() {
                return Err(invalid(format!(
                    "series {} (`{k}`): numbers and strings in one write; InfluxDB keeps one type per field (see docs/influxdb.md, limits)",
                    sp.series
                )));
            }
        }
        for p in &sp.points {
            if !(self.lowest_timestamp()..=MAX_TIMESTAMP).contains(&p.ts) {
                return Err(invalid(format!(
                    "series {}: timestamp {} ms is outside InfluxDB's range [{}, {MAX_TIMESTAMP}] ms (1677-09-21 to 2262-04-11, the start rounded up to the largest trend interval); nothing of this write was stored",
                    sp.series,
                    p.ts,
                    self.lowest_timestamp()
                )));
            }
            p.value
                .validate()
                .map_err(|e| invalid(format!("series {}: {e}", sp.series)))?;
        }
        Ok(())
    }

    async fn write_inner(&self, batch: &[SeriesPoints]) -> Result<WrittenPoints> {
        self.check_open()?;
        let _guard = self.gate.write().await;
        let mut locs = Vec::with_capacity(batch.len());
        for sp in batch {
            let loc = self.loc(sp.series)?;
            self.validate(&loc, sp)?;
            locs.push(loc);
        }
        // What is stored in each entry's span: for the replaced timestamps, and because a
        // series without a key keeps numbers and strings in two fields, a value changing type
        // must take the old one away first.
        let mut reads = Vec::new();
        let mut read_of = Vec::with_capacity(batch.len());
        for (sp, loc) in batch.iter().zip(&locs) {
            let span = match (sp.points.first(), sp.points.last()) {
                (Some(a), Some(b)) => time_condition(a.ts, b.ts.saturating_add(1)),
                _ => None,
            };
            read_of.push(span.as_ref().map(|_| reads.len()));
            if let Some(time) = span {
                reads.push(self.select_points(loc, &time, None));
            }
        }
        let answers = self.query_many(&reads).await?;
        let mut replaced = Vec::with_capacity(batch.len());
        let mut deletes = Vec::new();
        for ((sp, loc), idx) in batch.iter().zip(&locs).zip(&read_of) {
            let stored = match idx.and_then(|i| answers.get(i)) {
                Some(r) => points_of(loc, r)?,
                None => Vec::new(),
            };
            let stored: HashMap<Timestamp, bool> = stored
                .into_iter()
                .map(|p| (p.ts, p.value.as_f64().is_some()))
                .collect();
            let mut hits = Vec::new();
            for p in &sp.points {
                if let Some(&was_num) = stored.get(&p.ts) {
                    hits.push(p.ts);
                    let is_num = p.value.as_f64().is_some();
                    if was_num != is_num {
                        match loc {
                            Loc::Unkeyed(_) => deletes.push(format!(
                                "DELETE FROM {} WHERE {}",
                                proto::ident(UNKEYED),
                                where_clause(
                                    loc.tag_conditions(),
                                    &format!("time = {}", p.ts * 1_000_000)
                                )
                            )),
                            Loc::Keyed(k) => {
                                return Err(invalid(format!(
                                    "series {} (`{k}`): the value at {} changes type; InfluxDB keeps one type per field (see docs/influxdb.md, limits); nothing of this write was stored",
                                    sp.series, p.ts
                                )));
                            }
                        }
                    }
                }
            }
            replaced.push(hits);
        }
        if !deletes.is_empty() {
            self.query_many(&deletes).await?;
        }
        let mut lines = Vec::new();
        let mut points = 0u64;
        for (sp, loc) in batch.iter().zip(&locs) {
            for p in &sp.points {
                let mut line = String::new();
                Self::point_line(loc, p, &mut line)?;
                lines.push(line);
            }
            points += sp.points.len() as u64;
        }
        self.write_lines(&lines).await?;
        let trend_buckets = self.maintain_trends(batch, &locs, &replaced).await?;
        let summary = WriteSummary {
            points,
            replaced: replaced.iter().map(|r| r.len() as u64).sum(),
            trend_buckets,
        };
        Ok(WrittenPoints { summary, replaced })
    }

    /// The trend buckets the points just written touch, by the shared rules
    /// ([`clio_storage::trend_maint::update_buckets`]) but in a few requests for the whole
    /// batch: one `/query` round of stored buckets and of the raw points of buckets to rebuild
    /// (64 statements each), one `/write` of the buckets, and a `DELETE` per bucket left
    /// without a number. Returns the buckets written.
    async fn maintain_trends(
        &self,
        batch: &[SeriesPoints],
        locs: &[Loc],
        replaced: &[Vec<Timestamp>],
    ) -> Result<u64> {
        struct Plan {
            entry: usize,
            interval: TrendInterval,
            touched: BTreeSet<Timestamp>,
            rebuild: BTreeSet<Timestamp>,
            buckets: Vec<usize>,
            raw: Vec<usize>,
        }
        let mut plans = Vec::new();
        let mut statements = Vec::new();
        for (entry, (sp, loc)) in batch.iter().zip(locs).enumerate() {
            let replaced = replaced.get(entry).map_or(&[][..], Vec::as_slice);
            for &interval in &self.intervals {
                let rebuild = clio_storage::trend_maint::rebuild_starts(interval, replaced);
                let touched: BTreeSet<Timestamp> = TrendBucket::build(interval, &sp.points)
                    .iter()
                    .map(|b| b.start)
                    .chain(rebuild.iter().copied())
                    .collect();
                if touched.is_empty() {
                    continue;
                }
                let mut plan = Plan {
                    entry,
                    interval,
                    touched,
                    rebuild,
                    buckets: Vec::new(),
                    raw: Vec::new(),
                };
                for (lo, hi) in runs(interval, &plan.touched) {
                    if let Some(time) = time_condition(lo, hi.saturating_add(1)) {
                        plan.buckets.push(statements.len());
                        statements.push(self.trend_select(loc, interval, &time));
                    }
                }
                for (lo, hi) in runs(interval, &plan.rebuild) {
                    if let Some(time) = time_condition(lo, hi.saturating_add(interval.ms())) {
                        plan.raw.push(statements.len());
                        statements.push(self.select_points(loc, &time, None));
                    }
                }
                plans.push(plan);
            }
        }
        if plans.is_empty() {
            return Ok(0);
        }
        let answers = self.query_many(&statements).await?;
        let answer = |i: usize| {
            answers
                .get(i)
                .ok_or_else(|| StorageError::Other("influxdb: an answer is missing".into()))
        };
        let mut lines = Vec::new();
        let mut deletes = Vec::new();
        let mut written = 0u64;
        for plan in plans {
            let (Some(sp), Some(loc)) = (batch.get(plan.entry), locs.get(plan.entry)) else {
                continue;
            };
            let mut stored = BTreeMap::new();
            for &i in &plan.buckets {
                for b in buckets_of(answer(i)?)? {
                    if plan.touched.contains(&b.start) {
                        stored.insert(b.start, b);
                    }
                }
            }
            let mut raw: BTreeMap<Timestamp, Vec<Point>> = BTreeMap::new();
            for &i in &plan.raw {
                for p in points_of(loc, answer(i)?)? {
                    raw.entry(plan.interval.bucket_start(p.ts))
                        .or_default()
                        .push(p);
                }
            }
            let before: Vec<Timestamp> = stored.keys().copied().collect();
            written += clio_storage::trend_maint::update_buckets(
                plan.interval,
                &mut stored,
                &sp.points,
                &plan.rebuild,
                |start| Ok(raw.remove(&start).unwrap_or_default()),
            )?;
            let head = trend_head(loc, plan.interval);
            for b in stored.values() {
                lines.push(trend_line(&head, b));
            }
            for start in before {
                if !stored.contains_key(&start) {
                    deletes.push(format!(
                        "DELETE FROM {} WHERE {}",
                        proto::ident(TRENDS),
                        where_clause(
                            Self::trend_conditions(loc, Some(plan.interval)),
                            &format!("time = {}", start * 1_000_000)
                        )
                    ));
                }
            }
        }
        self.write_lines(&lines).await?;
        if !deletes.is_empty() {
            self.query_many(&deletes).await?;
        }
        Ok(written)
    }

    /// The statement reading the buckets of one series and interval in `time`.
    fn trend_select(&self, loc: &Loc, interval: TrendInterval, time: &str) -> String {
        format!(
            "SELECT {TREND_FIELDS} FROM {} WHERE {}",
            self.data_from(TRENDS),
            where_clause(Self::trend_conditions(loc, Some(interval)), time)
        )
    }

    /// The oldest raw timestamp whose trend buckets (of every interval) InfluxDB can hold:
    /// [`MIN_TIMESTAMP`] rounded up to the largest interval.
    fn lowest_timestamp(&self) -> Timestamp {
        self.intervals
            .iter()
            .map(|iv| (MIN_TIMESTAMP / iv.ms()) * iv.ms())
            .max()
            .unwrap_or(MIN_TIMESTAMP)
    }

    /// Points of `k`'s field in the exact tag set of `loc` in `time`, and the other fields of
    /// that tag set holding points there with their counts (a delete would take them too).
    async fn keyed_counts(
        &self,
        k: &SeriesKey,
        loc: &Loc,
        time: &str,
    ) -> Result<(u64, Vec<(String, u64)>)> {
        let q = format!(
            "SELECT count(*) FROM {} WHERE {} GROUP BY *",
            self.data_from(k.measurement()),
            where_clause(loc.tag_conditions(), time)
        );
        let results = self.http.query(&q).await?;
        let mut mine = 0;
        let mut others = Vec::new();
        for s in results
            .iter()
            .flat_map(|r| &r.series)
            .filter(|s| loc.is_exact(s))
        {
            for (i, c) in s.columns.iter().enumerate().skip(1) {
                let n = s
                    .values
                    .first()
                    .and_then(|row| row.get(i))
                    .and_then(Json::as_u64)
                    .unwrap_or(0);
                let field = c.strip_prefix("count_").unwrap_or(c);
                if field == k.field() {
                    mine += n;
                } else if n > 0 {
                    others.push((field.to_owned(), n));
                }
            }
        }
        Ok((mine, others))
    }

    /// `tag = ''` for every tag key of the measurement that the key lacks, so that a DELETE
    /// takes exactly its tag set.
    async fn absent_tag_conditions(&self, k: &SeriesKey) -> Result<Vec<String>> {
        let q = format!("SHOW TAG KEYS FROM {}", self.data_from(k.measurement()));
        let results = self.http.query(&q).await?;
        let mut out = Vec::new();
        for s in results.iter().flat_map(|r| &r.series) {
            for row in &s.values {
                if let Some(name) = row.first().and_then(Json::as_str)
                    && k.tag(name).is_none()
                {
                    out.push(format!("{} = ''", proto::ident(name)));
                }
            }
        }
        Ok(out)
    }

    /// Deletes the points of a series in `time` (`None`: all); the number deleted.
    async fn delete_raw(&self, series: SeriesId, loc: &Loc, time: Option<String>) -> Result<u64> {
        let time_all = time_condition(MIN_TIMESTAMP, MAX_TIMESTAMP.saturating_add(1));
        let Some(t) = time.or(time_all) else {
            return Ok(0);
        };
        match loc {
            Loc::Unkeyed(_) => {
                let q = format!(
                    "SELECT count(\"value\"), count(\"text\") FROM {} WHERE {}",
                    self.data_from(UNKEYED),
                    where_clause(loc.tag_conditions(), &t)
                );
                let results = self.http.query(&q).await?;
                let n: u64 = results
                    .iter()
                    .flat_map(|r| &r.series)
                    .map(|s| count_of(s, "count") + count_of(s, "count_1"))
                    .sum();
                if n > 0 {
                    self.http
                        .query(&format!(
                            "DELETE FROM {} WHERE {}",
                            proto::ident(UNKEYED),
                            where_clause(loc.tag_conditions(), &t)
                        ))
                        .await?;
                }
                Ok(n)
            }
            Loc::Keyed(k) => {
                let (n, others) = self.keyed_counts(k, loc, &t).await?;
                let kept = if others.is_empty() {
                    Vec::new()
                } else {
                    self.read_siblings(series, k, loc, &t, &others).await?
                };
                if n > 0 {
                    let mut conds = loc.tag_conditions();
                    conds.extend(self.absent_tag_conditions(k).await?);
                    self.http
                        .query(&format!(
                            "DELETE FROM {} WHERE {}",
                            proto::ident(k.measurement()),
                            where_clause(conds, &t)
                        ))
                        .await?;
                    if !kept.is_empty() {
                        tracing::debug!(series = %series, key = %k, lines = kept.len(), "influxdb: rewriting the other fields of a deleted tag set range");
                        self.write_lines(&kept).await?;
                    }
                }
                Ok(n)
            }
        }
    }

    /// The other fields of `k`'s tag set in `time`, as line protocol to write back after a
    /// delete (InfluxDB deletes whole tag sets). Refused above [`SIBLING_REWRITE_LIMIT`]
    /// values.
    async fn read_siblings(
        &self,
        series: SeriesId,
        k: &SeriesKey,
        loc: &Loc,
        time: &str,
        others: &[(String, u64)],
    ) -> Result<Vec<String>> {
        let total: u64 = others.iter().map(|o| o.1).sum();
        let names: Vec<&str> = others.iter().map(|o| o.0.as_str()).collect();
        if total > SIBLING_REWRITE_LIMIT {
            return Err(invalid(format!(
                "series {series} (`{k}`): InfluxDB deletes whole tag sets, and fields {} of the same measurement and tags hold {total} values in that range, more than the {SIBLING_REWRITE_LIMIT} this backend reads and writes back; nothing was deleted (see docs/influxdb.md, limits)",
                names.join(", ")
            )));
        }
        // Field types, so that integers and booleans are written back as such.
        let mut types: HashMap<String, String> = HashMap::new();
        let q = format!("SHOW FIELD KEYS FROM {}", self.data_from(k.measurement()));
        for s in self.http.query(&q).await?.iter().flat_map(|r| &r.series) {
            for row in &s.values {
                if let (Some(f), Some(t)) = (
                    row.first().and_then(Json::as_str),
                    row.get(1).and_then(Json::as_str),
                ) {
                    types.insert(f.to_owned(), t.to_owned());
                }
            }
        }
        let fields: Vec<String> = names.iter().map(|n| proto::ident(n)).collect();
        let q = format!(
            "SELECT {} FROM {} WHERE {} GROUP BY *",
            fields.join(","),
            self.data_from(k.measurement()),
            where_clause(loc.tag_conditions(), time)
        );
        let mut head = String::new();
        proto::measurement(&mut head, k.measurement());
        for (t, v) in k.tags() {
            head.push(',');
            proto::name(&mut head, t);
            head.push('=');
            proto::name(&mut head, v);
        }
        let mut lines = Vec::new();
        for s in self.http.query(&q).await?.iter().flat_map(|r| &r.series) {
            if !loc.is_exact(s) {
                continue;
            }
            for row in &s.values {
                let ts = json_ts(row.first())?;
                let mut line = head.clone();
                let mut any = false;
                for (i, name) in s.columns.iter().enumerate().skip(1) {
                    let Some(v) = row.get(i).filter(|v| !v.is_null()) else {
                        continue;
                    };
                    line.push(if any { ',' } else { ' ' });
                    any = true;
                    proto::name(&mut line, name);
                    line.push('=');
                    match (types.get(name).map(String::as_str), v) {
                        (Some("integer"), v) => {
                            let _ = write!(line, "{}i", v.as_i64().unwrap_or(0));
                        }
                        (Some("unsigned"), v) => {
                            let _ = write!(line, "{}u", v.as_u64().unwrap_or(0));
                        }
                        (_, Json::Bool(b)) => line.push_str(if *b { "true" } else { "false" }),
                        (_, Json::String(text)) => proto::string_value(&mut line, text),
                        (_, v) => proto::float_value(&mut line, v.as_f64().unwrap_or(0.0)),
                    }
                }
                if any {
                    let _ = write!(line, " {ts}");
                    lines.push(line);
                }
            }
        }
        Ok(lines)
    }

    fn trend_conditions(loc: &Loc, interval: Option<TrendInterval>) -> Vec<String> {
        let mut c = vec![format!(
            "\"parameter\" = {}",
            proto::literal(&loc.parameter())
        )];
        if let Some(iv) = interval {
            c.push(format!(
                "\"aggregation_type\" = {}",
                proto::literal(&iv.to_string())
            ));
        }
        c
    }
}

#[async_trait]
impl CatalogStore for InfluxBackend {
    async fn load_catalog(&self) -> Result<Vec<SeriesInfo>> {
        self.check_open()?;
        self.reload_catalog().await?;
        Ok(self.catalog.read().by_id.values().cloned().collect())
    }

    async fn create_series(&self, series: &[NewSeries]) -> Result<()> {
        self.check_open()?;
        let _guard = self.gate.write().await;
        let mut fresh: Vec<SeriesInfo> = Vec::new();
        {
            let cat = self.catalog.read();
            for s in series {
                if cat.by_id.contains_key(&s.id) || fresh.iter().any(|f| f.id == s.id) {
                    continue;
                }
                if let Some(k) = &s.key {
                    if [UNKEYED, TRENDS, CATALOG].contains(&k.measurement()) {
                        return Err(invalid(format!(
                            "series key `{k}`: the measurement `{}` is where this backend keeps its own data (clio_series, aggregated_data, clio_catalog)",
                            k.measurement()
                        )));
                    }
                    let taken = cat.by_key.get(k).copied().or_else(|| {
                        fresh
                            .iter()
                            .find(|f| f.key.as_ref() == Some(k))
                            .map(|f| f.id)
                    });
                    if let Some(other) = taken {
                        return Err(invalid(format!(
                            "series key `{k}` already belongs to series {other}"
                        )));
                    }
                }
                fresh.push(SeriesInfo {
                    id: s.id,
                    key: s.key.clone(),
                    settings: s.settings.clone(),
                    created: now_ms(),
                });
            }
        }
        if fresh.is_empty() {
            return Ok(());
        }
        self.put_catalog(&fresh).await?;
        let mut cat = self.catalog.write();
        for info in fresh {
            if let Some(k) = &info.key {
                cat.by_key.insert(k.clone(), info.id);
            }
            cat.by_id.insert(info.id, info);
        }
        Ok(())
    }

    async fn get_series(&self, id: SeriesId) -> Result<Option<SeriesInfo>> {
        self.check_open()?;
        Ok(self.catalog.read().by_id.get(&id).cloned())
    }

    async fn list_series(&self, filter: &SeriesFilter) -> Result<Vec<SeriesInfo>> {
        self.check_open()?;
        Ok(self
            .catalog
            .read()
            .by_id
            .values()
            .filter(|i| filter.matches(i))
            .cloned()
            .collect())
    }

    async fn update_series(&self, id: SeriesId, update: &SeriesUpdate) -> Result<SeriesInfo> {
        self.check_open()?;
        let _guard = self.gate.write().await;
        let mut info = self
            .catalog
            .read()
            .by_id
            .get(&id)
            .cloned()
            .ok_or(StorageError::NotFound(id))?;
        update.apply(&mut info.settings);
        self.put_catalog(std::slice::from_ref(&info)).await?;
        self.catalog.write().by_id.insert(id, info.clone());
        Ok(info)
    }

    async fn delete_series(&self, id: SeriesId) -> Result<bool> {
        self.check_open()?;
        let _guard = self.gate.write().await;
        let loc = match self.loc(id) {
            Ok(l) => l,
            Err(StorageError::NotFound(_)) => return Ok(false),
            Err(e) => return Err(e),
        };
        self.delete_raw(id, &loc, None).await?;
        self.http
            .query(&format!(
                "DELETE FROM {} WHERE {}",
                proto::ident(TRENDS),
                Self::trend_conditions(&loc, None).join(" AND ")
            ))
            .await?;
        self.http
            .query(&format!(
                "DROP SERIES FROM {} WHERE \"series_id\" = {}",
                proto::ident(CATALOG),
                proto::literal(&id.0.to_string())
            ))
            .await?;
        let mut cat = self.catalog.write();
        if let Some(info) = cat.by_id.remove(&id)
            && let Some(k) = info.key
        {
            cat.by_key.remove(&k);
        }
        Ok(true)
    }
}

#[async_trait]
impl PointStore for InfluxBackend {
    async fn write(&self, batch: &[SeriesPoints]) -> Result<WriteSummary> {
        Ok(self.write_inner(batch).await?.summary)
    }

    async fn write_reporting(&self, batch: &[SeriesPoints]) -> Result<WrittenPoints> {
        self.write_inner(batch).await
    }

    async fn read_range(
        &self,
        series: SeriesId,
        from: Timestamp,
        to: Timestamp,
        limit: usize,
    ) -> Result<Vec<Point>> {
        self.read_points(series, from, to, limit).await
    }

    async fn read_last(&self, series: SeriesId, n: usize, before: Timestamp) -> Result<Vec<Point>> {
        self.read_points(series, Timestamp::MIN, before, n).await
    }

    async fn delete_points(&self, series: SeriesId, from: Timestamp, to: Timestamp) -> Result<u64> {
        self.check_open()?;
        let _guard = self.gate.write().await;
        let loc = self.loc(series)?;
        if from >= to {
            return Ok(0);
        }
        let Some(time) = time_condition(from, to) else {
            return Ok(0);
        };
        self.delete_raw(series, &loc, Some(time)).await
    }

    async fn stats(&self, series: SeriesId) -> Result<SeriesStats> {
        self.check_open()?;
        let loc = self.loc(series)?;
        let Some(time) = time_condition(MIN_TIMESTAMP, MAX_TIMESTAMP.saturating_add(1)) else {
            return Ok(SeriesStats::default());
        };
        let oldest = format!(
            "{} ORDER BY time ASC LIMIT 1",
            self.select_points(&loc, &time, None)
        );
        let newest = self.select_points(&loc, &time, Some(1));
        let count = match &loc {
            Loc::Keyed(k) => format!(
                "SELECT count({}) FROM {} WHERE {} GROUP BY *",
                proto::ident(k.field()),
                self.data_from(k.measurement()),
                where_clause(loc.tag_conditions(), &time)
            ),
            Loc::Unkeyed(_) => format!(
                "SELECT count(\"value\"), count(\"text\") FROM {} WHERE {}",
                self.data_from(UNKEYED),
                where_clause(loc.tag_conditions(), &time)
            ),
        };
        let r = {
            let _shared = self.gate.read().await;
            self.query_many(&[count, oldest, newest]).await?
        };
        let points: u64 = r[0]
            .series
            .iter()
            .filter(|s| loc.is_exact(s))
            .map(|s| count_of(s, "count") + count_of(s, "count_1"))
            .sum();
        let first_ts = points_of(&loc, &r[1])?.first().map(|p| p.ts);
        let last_ts = points_of(&loc, &r[2])?.first().map(|p| p.ts);
        Ok(SeriesStats {
            points,
            first_ts,
            last_ts,
            bytes: points * BYTES_PER_POINT,
        })
    }

    async fn stats_all(&self) -> Result<Vec<(SeriesId, SeriesStats)>> {
        clio_storage::stats_each(self).await
    }
}

const TREND_FIELDS: &str = "\"count\",\"sum\",\"sum_sq\",\"min_value\",\"max_value\",\"first\",\"last\",\"first_ts\",\"last_ts\"";

/// A float for a trend field: non-finite aggregates (sums of huge values) are stored as
/// the largest finite number of their sign, since line protocol has no infinity.
fn finite(v: f64) -> f64 {
    if v.is_finite() {
        v
    } else if v.is_sign_negative() {
        f64::MIN
    } else {
        f64::MAX
    }
}

/// `aggregated_data,aggregation_type=…,parameter=…` of one series and interval.
fn trend_head(loc: &Loc, interval: TrendInterval) -> String {
    let mut head = String::from(TRENDS);
    head.push_str(",aggregation_type=");
    proto::name(&mut head, &interval.to_string());
    head.push_str(",parameter=");
    proto::name(&mut head, &loc.parameter());
    head
}

/// One bucket as a line (the caller checked its start is in range).
fn trend_line(head: &str, b: &TrendBucket) -> String {
    let mut l = head.to_owned();
    let floats = [
        ("avg_value", b.avg()),
        ("min_value", b.min),
        ("max_value", b.max),
        ("std_dev", b.stddev()),
        ("sum", b.sum),
        ("sum_sq", b.sum_sq),
        ("first", b.first),
        ("last", b.last),
    ];
    let _ = write!(l, " count={}i", b.count);
    for (name, v) in floats {
        let _ = write!(l, ",{name}=");
        proto::float_value(&mut l, finite(if v.is_nan() { 0.0 } else { v }));
    }
    let _ = write!(
        l,
        ",first_ts={}i,last_ts={}i {}",
        b.first_ts, b.last_ts, b.start
    );
    l
}

/// The buckets of an answer to [`InfluxBackend::trend_select`].
fn buckets_of(r: &StatementResult) -> Result<Vec<TrendBucket>> {
    let mut out = Vec::new();
    for s in &r.series {
        let idx: Vec<Option<usize>> = [
            "count",
            "sum",
            "sum_sq",
            "min_value",
            "max_value",
            "first",
            "last",
            "first_ts",
            "last_ts",
        ]
        .iter()
        .map(|n| s.column(n))
        .collect();
        for row in &s.values {
            let start = json_ts(row.first())?;
            let get = |i: usize| idx.get(i).copied().flatten().and_then(|c| row.get(c));
            let f = |i: usize| get(i).and_then(Json::as_f64).unwrap_or(f64::NAN);
            let int = |i: usize| get(i).and_then(Json::as_i64).unwrap_or(start);
            out.push(TrendBucket {
                start,
                count: get(0).and_then(Json::as_u64).unwrap_or(0),
                sum: f(1),
                sum_sq: f(2),
                min: f(3),
                max: f(4),
                first: f(5),
                last: f(6),
                first_ts: int(7),
                last_ts: int(8),
            });
        }
    }
    Ok(out)
}

/// Bucket starts grouped into `(first, last)` runs without a gap wider than 64 intervals
/// (as the shared trend maintenance reads them).
fn runs(interval: TrendInterval, starts: &BTreeSet<Timestamp>) -> Vec<(Timestamp, Timestamp)> {
    let gap = interval.ms().saturating_mul(64);
    let mut out: Vec<(Timestamp, Timestamp)> = Vec::new();
    for &s in starts {
        match out.last_mut() {
            Some((_, hi)) if s.saturating_sub(*hi) <= gap => *hi = s,
            _ => out.push((s, s)),
        }
    }
    out
}

#[async_trait]
impl TrendStore for InfluxBackend {
    fn trend_mode(&self) -> TrendMode {
        TrendMode::Native
    }

    fn trend_intervals(&self) -> &[TrendInterval] {
        &self.intervals
    }

    async fn read_trends(
        &self,
        series: SeriesId,
        interval: TrendInterval,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<TrendBucket>> {
        self.check_open()?;
        let loc = self.loc(series)?;
        let Some(time) = (from < to).then(|| time_condition(from, to)).flatten() else {
            return Ok(Vec::new());
        };
        let q = self.trend_select(&loc, interval, &time);
        let results = {
            let _shared = self.gate.read().await;
            self.http.query(&q).await?
        };
        results.first().map_or(Ok(Vec::new()), buckets_of)
    }

    async fn delete_trends(
        &self,
        series: SeriesId,
        interval: Option<TrendInterval>,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<u64> {
        self.check_open()?;
        let loc = self.loc(series)?;
        let Some(time) = (from < to).then(|| time_condition(from, to)).flatten() else {
            return Ok(0);
        };
        let conds = where_clause(Self::trend_conditions(&loc, interval), &time);
        let _guard = self.gate.write().await;
        let q = format!(
            "SELECT count(\"count\") FROM {} WHERE {conds}",
            self.data_from(TRENDS)
        );
        let results = self.http.query(&q).await?;
        let n: u64 = results
            .iter()
            .flat_map(|r| &r.series)
            .map(|s| count_of(s, "count"))
            .sum();
        if n > 0 {
            self.http
                .query(&format!(
                    "DELETE FROM {} WHERE {conds}",
                    proto::ident(TRENDS)
                ))
                .await?;
        }
        Ok(n)
    }

    async fn put_trends(
        &self,
        series: SeriesId,
        interval: TrendInterval,
        buckets: &[TrendBucket],
    ) -> Result<()> {
        self.check_open()?;
        let loc = self.loc(series)?;
        let head = trend_head(&loc, interval);
        let mut lines = Vec::with_capacity(buckets.len());
        for b in buckets {
            if !(MIN_TIMESTAMP..=MAX_TIMESTAMP).contains(&b.start) {
                return Err(invalid(format!(
                    "series {series}: trend bucket at {} ms is outside InfluxDB's range",
                    b.start
                )));
            }
            lines.push(trend_line(&head, b));
        }
        let _guard = self.gate.write().await;
        self.write_lines(&lines).await
    }
}

#[async_trait]
impl RetentionStore for InfluxBackend {}

#[async_trait]
impl StorageBackend for InfluxBackend {
    fn describe(&self) -> String {
        match &self.rp {
            Some(rp) => format!(
                "influxdb at {} database {} rp {rp}",
                self.url, self.database
            ),
            None => format!("influxdb at {} database {}", self.url, self.database),
        }
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            direct_file_reads: false,
            limits: Limits {
                timestamps: Some((self.lowest_timestamp(), MAX_TIMESTAMP)),
                keyed_single_type: true,
                deletes_per_tag_set: true,
            },
        }
    }

    async fn health(&self) -> Result<()> {
        self.check_open()?;
        self.http.ping().await
    }

    async fn close(&self) -> Result<()> {
        self.closed.store(true, Ordering::Release);
        Ok(())
    }
}
