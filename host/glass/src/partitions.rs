//! Time partitions of the partitioned tables on PostgreSQL: `<table>_p<n>` holds
//! `[n * span, (n + 1) * span)` ms, made from the current partition to `ahead` ahead. Rows
//! outside them land in `<table>_default`; a partition whose range the default partition
//! already holds rows of cannot be made, which is logged and skipped (those rows stay
//! readable in the default partition).

use crate::crud::now_ms;
use crate::engine::{Engine, quote};
use crate::error::GlassError;
use crate::tables::TABLES;

pub(crate) async fn ensure(engine: &dyn Engine, days: u32, ahead: u32) -> Result<(), GlassError> {
    let span = i64::from(days.max(1)) * 86_400_000;
    let first = now_ms().div_euclid(span);
    for t in TABLES.iter().filter(|t| t.partitioned) {
        for n in first..=first + i64::from(ahead) {
            let name = format!("{}_p{n}", t.name);
            let sql = format!(
                "CREATE TABLE IF NOT EXISTS {} PARTITION OF {} FOR VALUES FROM ({}) TO ({})",
                quote(&name),
                quote(t.name),
                n * span,
                (n + 1) * span
            );
            let mut tx = engine.begin().await?;
            match tx.batch(&sql).await {
                Ok(()) => tx.commit().await?,
                Err(e) => tracing::warn!(partition = %name, error = %e, "glass partition not made"),
            }
        }
    }
    Ok(())
}
