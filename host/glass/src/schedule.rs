//! What the server's quality schedule asks of the tables: the models with predictions in a
//! period, and a period's metrics recomputed in place (its old rows replaced, so a period
//! computed again is never counted twice).

use serde_json::Value as Json;

use crate::error::GlassError;
use crate::value::{Kind, Val};
use crate::{Glass, quality};

impl Glass {
    /// The model names of the predictions stamped in `[from, to)`, sorted.
    pub async fn prediction_models(&self, from: i64, to: i64) -> Result<Vec<String>, GlassError> {
        let mut tx = self.engine.begin().await?;
        let rows = tx
            .query(
                "SELECT DISTINCT \"model_name\" FROM \"predictions\"
                 WHERE \"timestamp\" >= $1 AND \"timestamp\" < $2 ORDER BY 1",
                &[Val::Int(from), Val::Int(to)],
                &[Kind::Text],
            )
            .await?;
        tx.commit().await?;
        Ok(rows
            .into_iter()
            .filter_map(|r| match r.into_iter().next() {
                Some(Val::Text(m)) => Some(m),
                _ => None,
            })
            .collect())
    }

    /// Computes the metrics of `model` over `[from, to)` like [`Glass::compute_quality`],
    /// replacing the rows an earlier computation of the same model and period wrote, in one
    /// transaction. Returns the rows deleted and the computation's answer.
    pub async fn refresh_quality(
        &self,
        model: &str,
        from: i64,
        to: i64,
    ) -> Result<(u64, Json), GlassError> {
        let mut tx = self.engine.begin().await?;
        let replaced = tx
            .execute(
                "DELETE FROM \"quality_metrics\"
                 WHERE \"model_name\" = $1 AND \"period_start\" = $2 AND \"period_end\" = $3",
                &[Val::Text(model.to_owned()), Val::Int(from), Val::Int(to)],
            )
            .await?;
        let out = quality::compute(&mut tx, model, from, to, None).await?;
        tx.commit().await?;
        Ok((replaced, out))
    }
}
