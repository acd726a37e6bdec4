//! Range partitions of `chunks` over `start_ts` (BIGINT ms): spans of `partition_days`,
//! aligned to the Unix epoch, created ahead of time and when writes reach a new span. What
//! no partition covers (far past, far future, timestamps outside `timestamptz`) lands in
//! `chunks_default`.

use std::collections::BTreeSet;
use std::sync::Mutex;

use clio_storage::{Result, Timestamp};
use deadpool_postgres::GenericClient;
use tracing::{info, warn};

use crate::rows::db;

/// How many spans before the current one writes may still create a partition for (older
/// data goes to the default partition). About five years at the default 30 days.
const SPANS_BACK: i64 = 60;

/// One partition of `chunks`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Partition {
    /// Table name (without schema).
    pub name: String,
    /// `start_ts` range `[lo, hi)`; `None` for the default partition.
    pub range: Option<(Timestamp, Timestamp)>,
}

/// The partitions this process knows of, and which spans it tried.
#[derive(Debug)]
pub(crate) struct Partitions {
    schema: String,
    span_ms: i64,
    ahead: i64,
    /// Span indexes with a partition, or whose creation was refused (their rows stay in the
    /// default partition).
    known: Mutex<BTreeSet<i64>>,
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Reads `FOR VALUES FROM ('lo') TO ('hi')`; `None` for anything else (DEFAULT, MINVALUE).
fn parse_bound(expr: &str) -> Option<(Timestamp, Timestamp)> {
    let mut nums = expr
        .split(['(', ')', '\''])
        .filter_map(|p| p.trim().parse::<i64>().ok());
    Some((nums.next()?, nums.next()?))
}

pub(crate) fn now_ms() -> Timestamp {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl Partitions {
    pub(crate) fn new(schema: &str, span_ms: i64, ahead: u32) -> Self {
        Partitions {
            schema: schema.to_owned(),
            span_ms,
            ahead: i64::from(ahead),
            known: Mutex::new(BTreeSet::new()),
        }
    }

    fn span_of(&self, ts: Timestamp) -> i64 {
        ts.div_euclid(self.span_ms)
    }

    /// Every partition of `chunks` as the database has them.
    pub(crate) async fn list(&self, c: &impl GenericClient) -> Result<Vec<Partition>> {
        let stmt = c
            .prepare_cached(
                "SELECT c.relname::text, pg_get_expr(c.relpartbound, c.oid)
                 FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                 WHERE i.inhparent = to_regclass($1)",
            )
            .await
            .map_err(db)?;
        let parent = format!("{}.chunks", self.schema);
        let rows = c.query(&stmt, &[&parent]).await.map_err(db)?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let name: String = r.try_get(0).map_err(db)?;
            let expr: String = r.try_get(1).map_err(db)?;
            out.push(Partition {
                name,
                range: parse_bound(&expr),
            });
        }
        Ok(out)
    }

    /// Learns the existing partitions, then creates the current span's and `ahead` more
    /// (unless `read_only`: a standby's partitions are the primary's).
    pub(crate) async fn open(&self, c: &impl GenericClient, read_only: bool) -> Result<()> {
        let existing = self.list(c).await?;
        {
            let mut known = self.known.lock().unwrap_or_else(|p| p.into_inner());
            for p in &existing {
                if let Some((lo, hi)) = p.range {
                    // Spans of another `partition_days` still count as covered.
                    let (a, b) = (self.span_of(lo), self.span_of(hi.saturating_sub(1)));
                    known.extend(a..=b);
                }
            }
        }
        if read_only {
            return Ok(());
        }
        self.ensure_ahead(c).await
    }

    /// Makes sure the current span and the `ahead` ones after it have partitions.
    pub(crate) async fn ensure_ahead(&self, c: &impl GenericClient) -> Result<()> {
        let now = self.span_of(now_ms());
        self.ensure(c, now..=now + self.ahead).await
    }

    /// Creates partitions for the spans of `starts` (chunk start timestamps) that lie within
    /// the window partitions are kept for and have none yet.
    pub(crate) async fn ensure_for(
        &self,
        c: &impl GenericClient,
        starts: impl Iterator<Item = Timestamp>,
    ) -> Result<()> {
        let now = self.span_of(now_ms());
        let window = now - SPANS_BACK..=now + self.ahead;
        let spans: BTreeSet<i64> = starts
            .map(|t| self.span_of(t))
            .filter(|s| window.contains(s))
            .collect();
        self.ensure(c, spans.into_iter()).await
    }

    async fn ensure(&self, c: &impl GenericClient, spans: impl Iterator<Item = i64>) -> Result<()> {
        let missing: Vec<i64> = {
            let known = self.known.lock().unwrap_or_else(|p| p.into_inner());
            spans.filter(|s| !known.contains(s)).collect()
        };
        for span in missing {
            let lo = span * self.span_ms;
            let hi = lo + self.span_ms;
            let (y, m, d) = civil(lo.div_euclid(86_400_000));
            let name = format!("chunks_{y:04}{m:02}{d:02}");
            let sql = format!(
                "CREATE TABLE IF NOT EXISTS {s}.{name} PARTITION OF {s}.chunks FOR VALUES FROM ({lo}) TO ({hi})",
                s = self.schema
            );
            match c.batch_execute(&sql).await {
                Ok(()) => info!(partition = %name, from = lo, to = hi, "postgres partition ready"),
                // Rows of that span already sit in the default partition (written before the
                // span was in the window): they stay there, which is correct, only not
                // droppable as a whole.
                Err(e) if e.code().is_some_and(|c| c.code() == "23514") => warn!(
                    partition = %name,
                    error = %e,
                    "postgres partition not created: the default partition holds rows of its span"
                ),
                // Another partition (of a different span length) overlaps: that one covers it.
                Err(e) if e.code().is_some_and(|c| c.code() == "42P17") => {}
                Err(e) => return Err(db(e)),
            }
            self.known
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(span);
        }
        Ok(())
    }

    /// Forgets a dropped partition's span (a later write may create it again).
    pub(crate) fn forget(&self, lo: Timestamp) {
        let span = self.span_of(lo);
        self.known
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&span);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_bounds() {
        assert_eq!(civil(0), (1970, 1, 1));
        assert_eq!(civil(19_723), (2024, 1, 1));
        assert_eq!(civil(-1), (1969, 12, 31));
        assert_eq!(
            parse_bound("FOR VALUES FROM ('1700000000000') TO ('1702592000000')"),
            Some((1_700_000_000_000, 1_702_592_000_000))
        );
        assert_eq!(parse_bound("DEFAULT"), None);
    }
}
