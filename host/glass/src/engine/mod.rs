//! The two database engines behind one small interface: begin a transaction, run statements
//! with `$1`-style parameters, read rows as [`Val`]s, commit. Everything above this module
//! is written once for both.

pub(crate) mod postgres;
pub(crate) mod sqlite;

use async_trait::async_trait;

use crate::error::GlassError;
use crate::value::{Kind, Val};

/// Which SQL dialect an engine speaks, for the few statements that differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// Embedded SQLite.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

/// A database the Glass tables live in.
#[async_trait]
pub(crate) trait Engine: Send + Sync + std::fmt::Debug {
    /// The dialect.
    fn dialect(&self) -> Dialect;
    /// Starts a transaction. Dropping it without [`Tx::commit`] rolls it back.
    async fn begin(&self) -> Result<Box<dyn Tx + '_>, GlassError>;
    /// Forgets prepared statements after tables changed shape (migrations), so none is
    /// reused against a dropped or altered table.
    fn schema_changed(&self) {}
    /// Writes a consistent copy of the database to `to` (a new file) for a backup; false
    /// when the database is not a file of Clio's (PostgreSQL, backed up by its own tools).
    async fn snapshot_into(&self, _to: &std::path::Path) -> Result<bool, GlassError> {
        Ok(false)
    }
}

/// One open transaction.
#[async_trait]
pub(crate) trait Tx: Send {
    /// Runs a query; `kinds` are the result columns' kinds (SQLite needs them to tell JSON
    /// from text and booleans from integers).
    async fn query(
        &mut self,
        sql: &str,
        params: &[Val],
        kinds: &[Kind],
    ) -> Result<Vec<Vec<Val>>, GlassError>;
    /// Runs a statement, returning the rows it changed.
    async fn execute(&mut self, sql: &str, params: &[Val]) -> Result<u64, GlassError>;
    /// Runs several statements without parameters (DDL).
    async fn batch(&mut self, sql: &str) -> Result<(), GlassError>;
    /// Commits.
    async fn commit(self: Box<Self>) -> Result<(), GlassError>;
}

/// `"name"`: identifiers are quoted in every generated statement (`timestamp` is a column).
pub(crate) fn quote(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}
