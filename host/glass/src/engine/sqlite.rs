//! SQLite: one connection to `glass.db` in the data directory, WAL mode, foreign keys on.
//! Statements are short, so a transaction holds the connection's async mutex and runs each
//! statement in place (on a multi-thread runtime inside `block_in_place`, so other tasks
//! keep running).

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, ToSql};
use tokio::sync::{Mutex, OwnedMutexGuard};

use super::{Dialect, Engine, Tx};
use crate::error::GlassError;
use crate::value::{Kind, Val};

/// The SQLite engine.
#[derive(Debug, Clone)]
pub(crate) struct SqliteEngine {
    conn: Arc<Mutex<Connection>>,
}

impl SqliteEngine {
    /// Opens (creating) the file.
    pub(crate) fn open(path: &Path) -> Result<Self, GlassError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| GlassError::Db(format!("create {}: {e}", dir.display())))?;
        }
        let conn = Connection::open(path)?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;
             PRAGMA busy_timeout = 5000;",
        )?;
        Ok(SqliteEngine {
            conn: Arc::new(Mutex::new(conn)),
        })
    }
}

/// Runs `f` where blocking is allowed: inside `block_in_place` on a multi-thread runtime.
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

#[async_trait]
impl Engine for SqliteEngine {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    async fn begin(&self) -> Result<Box<dyn Tx + '_>, GlassError> {
        let guard = self.conn.clone().lock_owned().await;
        blocking(|| guard.execute_batch("BEGIN IMMEDIATE"))?;
        Ok(Box::new(SqliteTx { conn: Some(guard) }))
    }

    async fn snapshot_into(&self, to: &Path) -> Result<bool, GlassError> {
        let guard = self.conn.lock().await;
        let to = to
            .to_str()
            .ok_or_else(|| GlassError::Db(format!("{}: not UTF-8", to.display())))?;
        // A transactionally consistent, compacted copy, taken between transactions.
        blocking(|| guard.execute("VACUUM INTO ?1", [to]))?;
        Ok(true)
    }
}

struct SqliteTx {
    conn: Option<OwnedMutexGuard<Connection>>,
}

impl SqliteTx {
    fn conn(&self) -> Result<&Connection, GlassError> {
        self.conn
            .as_deref()
            .ok_or_else(|| GlassError::Db("transaction already finished".into()))
    }
}

impl Drop for SqliteTx {
    fn drop(&mut self) {
        if let Some(c) = self.conn.take()
            && !c.is_autocommit()
        {
            let _ = c.execute_batch("ROLLBACK");
        }
    }
}

/// `$1` → `?1` (SQLite's numbered parameters), outside quoted text.
fn placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut quoted = false;
    for c in sql.chars() {
        if c == '\'' {
            quoted = !quoted;
        }
        out.push(if c == '$' && !quoted { '?' } else { c });
    }
    out
}

struct Param<'a>(&'a Val);

impl ToSql for Param<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self.0 {
            Val::Null => ToSqlOutput::Owned(rusqlite::types::Value::Null),
            Val::Int(i) => ToSqlOutput::Owned(rusqlite::types::Value::Integer(*i)),
            Val::Float(f) => ToSqlOutput::Owned(rusqlite::types::Value::Real(*f)),
            Val::Text(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
            Val::Bool(b) => ToSqlOutput::Owned(rusqlite::types::Value::Integer(i64::from(*b))),
            Val::Json(j) => ToSqlOutput::Owned(rusqlite::types::Value::Text(j.to_string())),
            Val::Bytes(b) => ToSqlOutput::Borrowed(ValueRef::Blob(b)),
        })
    }
}

fn column(v: ValueRef<'_>, kind: Option<Kind>) -> Result<Val, GlassError> {
    Ok(match (v, kind) {
        (ValueRef::Null, _) => Val::Null,
        (ValueRef::Integer(i), Some(Kind::Bool)) => Val::Bool(i != 0),
        (ValueRef::Integer(i), Some(Kind::Float)) => Val::Float(i as f64),
        (ValueRef::Integer(i), _) => Val::Int(i),
        (ValueRef::Real(f), _) => Val::Float(f),
        (ValueRef::Text(t), Some(Kind::Json)) => Val::Json(
            serde_json::from_slice(t).map_err(|e| GlassError::Db(format!("stored JSON: {e}")))?,
        ),
        (ValueRef::Text(t), _) => Val::Text(String::from_utf8_lossy(t).into_owned()),
        (ValueRef::Blob(b), _) => Val::Bytes(bytes::Bytes::copy_from_slice(b)),
    })
}

#[async_trait]
impl Tx for SqliteTx {
    async fn query(
        &mut self,
        sql: &str,
        params: &[Val],
        kinds: &[Kind],
    ) -> Result<Vec<Vec<Val>>, GlassError> {
        let conn = self.conn()?;
        blocking(|| {
            let mut st = conn.prepare_cached(&placeholders(sql))?;
            let n = st.column_count();
            let ps: Vec<Param<'_>> = params.iter().map(Param).collect();
            let mut rows = st.query(rusqlite::params_from_iter(ps.iter()))?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                let mut row = Vec::with_capacity(n);
                for i in 0..n {
                    row.push(column(r.get_ref(i)?, kinds.get(i).copied())?);
                }
                out.push(row);
            }
            Ok(out)
        })
    }

    async fn execute(&mut self, sql: &str, params: &[Val]) -> Result<u64, GlassError> {
        let conn = self.conn()?;
        blocking(|| {
            let mut st = conn.prepare_cached(&placeholders(sql))?;
            let ps: Vec<Param<'_>> = params.iter().map(Param).collect();
            Ok(st.execute(rusqlite::params_from_iter(ps.iter()))? as u64)
        })
    }

    async fn batch(&mut self, sql: &str) -> Result<(), GlassError> {
        let conn = self.conn()?;
        blocking(|| conn.execute_batch(sql))?;
        Ok(())
    }

    async fn commit(mut self: Box<Self>) -> Result<(), GlassError> {
        let conn = self
            .conn
            .take()
            .ok_or_else(|| GlassError::Db("transaction already finished".into()))?;
        let r = blocking(|| conn.execute_batch("COMMIT"));
        if r.is_err() && !conn.is_autocommit() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        r.map_err(GlassError::from)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn placeholders_outside_quotes() {
        assert_eq!(
            super::placeholders("SELECT '$x' WHERE a = $1 AND b = $12"),
            "SELECT '$x' WHERE a = ?1 AND b = ?12"
        );
    }
}
