//! PostgreSQL: the storage backend's pool (`clio_storage_postgres::build_pool`) on the
//! configured schema (default `glass`, set as each connection's `search_path`). Values go in
//! and out through [`PgVal`], which speaks every column type of the Glass tables, so the
//! generic code never names a Rust type per column.

use std::error::Error as StdError;

use async_trait::async_trait;
use bytes::{BufMut, BytesMut};
use deadpool_postgres::{Object, Pool};
use tokio_postgres::types::{FromSql, IsNull, ToSql, Type, to_sql_checked};

use super::{Dialect, Engine, Tx};
use crate::error::GlassError;
use crate::value::{Kind, Val};

/// The PostgreSQL engine.
#[derive(Debug, Clone)]
pub(crate) struct PgEngine {
    pool: Pool,
    schema: String,
}

impl PgEngine {
    /// Over a pool; `schema` is validated by `PgOptions::validate` (a plain identifier).
    pub(crate) fn new(pool: Pool, schema: String) -> Self {
        PgEngine { pool, schema }
    }
}

#[async_trait]
impl Engine for PgEngine {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    async fn begin(&self) -> Result<Box<dyn Tx + '_>, GlassError> {
        let conn = self.pool.get().await?;
        conn.batch_execute(&format!(
            "BEGIN; SET LOCAL search_path TO {}, public",
            super::quote(&self.schema)
        ))
        .await?;
        Ok(Box::new(PgTx { conn: Some(conn) }))
    }

    fn schema_changed(&self) {
        self.pool.manager().statement_caches.clear();
    }
}

struct PgTx {
    conn: Option<Object>,
}

impl PgTx {
    fn conn(&self) -> Result<&Object, GlassError> {
        self.conn
            .as_ref()
            .ok_or_else(|| GlassError::Db("transaction already finished".into()))
    }
}

impl Drop for PgTx {
    fn drop(&mut self) {
        // Not committed: roll back before the connection goes back to the pool. Without a
        // runtime (process exit) the connection is simply dropped, which aborts it too.
        if let Some(conn) = self.conn.take()
            && let Ok(rt) = tokio::runtime::Handle::try_current()
        {
            rt.spawn(async move {
                if conn.batch_execute("ROLLBACK").await.is_err() {
                    // A connection that cannot roll back must not be reused.
                    let _ = Object::take(conn);
                }
            });
        }
    }
}

/// A [`Val`] as a PostgreSQL parameter or column of any of the types the tables use.
#[derive(Debug)]
struct PgVal(Val);

impl ToSql for PgVal {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn StdError + Sync + Send>> {
        match (&self.0, ty) {
            (Val::Null, _) => return Ok(IsNull::Yes),
            (Val::Int(i), &Type::INT8) => out.put_i64(*i),
            (Val::Int(i), &Type::INT4) => out.put_i32(i32::try_from(*i)?),
            (Val::Int(i), &Type::FLOAT8) => out.put_f64(*i as f64),
            (Val::Float(f), &Type::FLOAT8) => out.put_f64(*f),
            (Val::Bool(b), &Type::BOOL) => out.put_u8(u8::from(*b)),
            (Val::Text(s), t) if is_text(t) => out.put_slice(s.as_bytes()),
            (Val::Text(s), &Type::JSONB) => {
                out.put_u8(1);
                out.put_slice(serde_json::to_string(s)?.as_bytes());
            }
            (Val::Json(j), &Type::JSONB) => {
                out.put_u8(1);
                out.put_slice(j.to_string().as_bytes());
            }
            (Val::Json(j), t) if is_text(t) => out.put_slice(j.to_string().as_bytes()),
            (Val::Bytes(b), &Type::BYTEA) => out.put_slice(b),
            (Val::Int(i), t) if is_text(t) => out.put_slice(i.to_string().as_bytes()),
            (Val::Float(f), t) if is_text(t) => out.put_slice(f.to_string().as_bytes()),
            (Val::Bool(b), t) if is_text(t) => out.put_slice(b.to_string().as_bytes()),
            (v, t) => return Err(format!("cannot send {v:?} as {t}").into()),
        }
        Ok(IsNull::No)
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

fn is_text(t: &Type) -> bool {
    matches!(*t, Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME)
}

impl<'a> FromSql<'a> for PgVal {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn StdError + Sync + Send>> {
        let v = match *ty {
            Type::INT8 => Val::Int(i64::from_sql(ty, raw)?),
            Type::INT4 => Val::Int(i32::from_sql(ty, raw)?.into()),
            Type::INT2 => Val::Int(i16::from_sql(ty, raw)?.into()),
            Type::FLOAT8 => Val::Float(f64::from_sql(ty, raw)?),
            Type::FLOAT4 => Val::Float(f32::from_sql(ty, raw)?.into()),
            Type::BOOL => Val::Bool(bool::from_sql(ty, raw)?),
            Type::JSONB => {
                let body = raw
                    .split_first()
                    .filter(|(v, _)| **v == 1)
                    .map(|(_, b)| b)
                    .ok_or("unknown jsonb version")?;
                Val::Json(serde_json::from_slice(body)?)
            }
            Type::JSON => Val::Json(serde_json::from_slice(raw)?),
            Type::BYTEA => Val::Bytes(bytes::Bytes::copy_from_slice(raw)),
            _ => Val::Text(String::from_utf8_lossy(raw).into_owned()),
        };
        Ok(PgVal(v))
    }

    fn from_sql_null(_: &Type) -> Result<Self, Box<dyn StdError + Sync + Send>> {
        Ok(PgVal(Val::Null))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

#[async_trait]
impl Tx for PgTx {
    async fn query(
        &mut self,
        sql: &str,
        params: &[Val],
        _kinds: &[Kind],
    ) -> Result<Vec<Vec<Val>>, GlassError> {
        let conn = self.conn()?;
        let st = conn.prepare_cached(sql).await?;
        let ps: Vec<PgVal> = params.iter().cloned().map(PgVal).collect();
        let refs: Vec<&(dyn ToSql + Sync)> = ps.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
        let rows = conn.query(&st, &refs).await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let mut row = Vec::with_capacity(r.len());
            for i in 0..r.len() {
                row.push(r.try_get::<_, PgVal>(i)?.0);
            }
            out.push(row);
        }
        Ok(out)
    }

    async fn execute(&mut self, sql: &str, params: &[Val]) -> Result<u64, GlassError> {
        let conn = self.conn()?;
        let st = conn.prepare_cached(sql).await?;
        let ps: Vec<PgVal> = params.iter().cloned().map(PgVal).collect();
        let refs: Vec<&(dyn ToSql + Sync)> = ps.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
        Ok(conn.execute(&st, &refs).await?)
    }

    async fn batch(&mut self, sql: &str) -> Result<(), GlassError> {
        self.conn()?.batch_execute(sql).await?;
        Ok(())
    }

    async fn commit(mut self: Box<Self>) -> Result<(), GlassError> {
        let conn = self
            .conn
            .take()
            .ok_or_else(|| GlassError::Db("transaction already finished".into()))?;
        if let Err(e) = conn.batch_execute("COMMIT").await {
            let _ = conn.batch_execute("ROLLBACK").await;
            return Err(e.into());
        }
        Ok(())
    }
}
