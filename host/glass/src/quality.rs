//! Model quality on demand: from the predictions of one model in `[from, to)` that carry
//! their actual result, accuracy (and precision/recall for a positive class) over class or
//! boolean predictions and MAE/RMSE over numeric ones, written into `quality_metrics` in the
//! same transaction that reads them.

use serde_json::{Value as Json, json};

use crate::crud;
use crate::engine::Tx;
use crate::error::GlassError;
use crate::tables;
use crate::value::{Kind, Val};

/// The value a prediction or result stands for: `{"value": x}`, `{"label": x}` or
/// `{"class": x}` stand for `x`; anything else for itself.
fn scalar(j: &Json) -> &Json {
    if let Json::Object(m) = j
        && m.len() == 1
        && let Some(v) = m.get("value").or(m.get("label")).or(m.get("class"))
    {
        return v;
    }
    j
}

#[derive(Debug, Default)]
struct Tally {
    classes: u64,
    correct: u64,
    tp: u64,
    fp: u64,
    fn_: u64,
    numeric: u64,
    abs_err: f64,
    sq_err: f64,
}

impl Tally {
    fn add(&mut self, predicted: &Json, actual: &Json, positive: Option<&Json>) {
        let (p, a) = (scalar(predicted), scalar(actual));
        if let (Some(x), Some(y)) = (p.as_f64(), a.as_f64()) {
            self.numeric += 1;
            self.abs_err += (x - y).abs();
            self.sq_err += (x - y) * (x - y);
            return;
        }
        self.classes += 1;
        if p == a {
            self.correct += 1;
        }
        let positive = positive.or(if p.is_boolean() {
            Some(&Json::Bool(true))
        } else {
            None
        });
        if let Some(pos) = positive {
            match (p == pos, a == pos) {
                (true, true) => self.tp += 1,
                (true, false) => self.fp += 1,
                (false, true) => self.fn_ += 1,
                (false, false) => {}
            }
        }
    }

    fn metrics(&self, has_positive: bool) -> Vec<(&'static str, f64, u64)> {
        let mut out = Vec::new();
        if self.classes > 0 {
            out.push((
                "accuracy",
                self.correct as f64 / self.classes as f64,
                self.classes,
            ));
            if has_positive && self.tp + self.fp > 0 {
                out.push((
                    "precision",
                    self.tp as f64 / (self.tp + self.fp) as f64,
                    self.classes,
                ));
            }
            if has_positive && self.tp + self.fn_ > 0 {
                out.push((
                    "recall",
                    self.tp as f64 / (self.tp + self.fn_) as f64,
                    self.classes,
                ));
            }
        }
        if self.numeric > 0 {
            let n = self.numeric as f64;
            out.push(("mae", self.abs_err / n, self.numeric));
            out.push(("rmse", (self.sq_err / n).sqrt(), self.numeric));
        }
        out
    }
}

/// Computes and stores the metrics of `model` over `[from, to)`; `positive` is the class
/// precision and recall are about (booleans: `true` when not given).
pub(crate) async fn compute(
    tx: &mut Box<dyn Tx + '_>,
    model: &str,
    from: i64,
    to: i64,
    positive: Option<&Json>,
) -> Result<Json, GlassError> {
    if from >= to {
        return Err(GlassError::invalid("to", "must be after from"));
    }
    let rows = tx
        .query(
            "SELECT \"prediction\", \"actual_result\" FROM \"predictions\"
             WHERE \"model_name\" = $1 AND \"timestamp\" >= $2 AND \"timestamp\" < $3
               AND \"actual_result\" IS NOT NULL AND \"prediction\" IS NOT NULL",
            &[Val::Text(model.to_owned()), Val::Int(from), Val::Int(to)],
            &[Kind::Json, Kind::Json],
        )
        .await?;
    let mut tally = Tally::default();
    let mut saw_bool = false;
    for r in &rows {
        if let (Some(Val::Json(p)), Some(Val::Json(a))) = (r.first(), r.get(1)) {
            saw_bool |= scalar(p).is_boolean();
            tally.add(p, a, positive);
        }
    }
    let t = tables::table("quality_metrics")
        .ok_or_else(|| GlassError::Db("no quality_metrics table".into()))?;
    let mut stored = Vec::new();
    for (metric, value, samples) in tally.metrics(positive.is_some() || saw_bool) {
        let row = crud::create(
            tx,
            t,
            &json!({"model_name": model, "period_start": from, "period_end": to,
                    "metric": metric, "value": value, "samples": samples}),
        )
        .await?;
        stored.push(row);
    }
    Ok(
        json!({"model_name": model, "period_start": from, "period_end": to,
              "predictions": rows.len(), "metrics": stored}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tallies() {
        let mut t = Tally::default();
        let pos = json!("crack");
        t.add(
            &json!({"label": "crack"}),
            &json!({"label": "crack"}),
            Some(&pos),
        );
        t.add(
            &json!({"label": "crack"}),
            &json!({"label": "ok"}),
            Some(&pos),
        );
        t.add(
            &json!({"label": "ok"}),
            &json!({"label": "crack"}),
            Some(&pos),
        );
        t.add(&json!({"label": "ok"}), &json!({"label": "ok"}), Some(&pos));
        t.add(&json!(3.0), &json!(1.0), None);
        t.add(&json!({"value": 1.0}), &json!(2.0), None);
        let m = t.metrics(true);
        let get = |n: &str| m.iter().find(|x| x.0 == n).map(|x| x.1);
        assert_eq!(get("accuracy"), Some(0.5));
        assert_eq!(get("precision"), Some(0.5));
        assert_eq!(get("recall"), Some(0.5));
        assert_eq!(get("mae"), Some(1.5));
        assert_eq!(get("rmse"), Some((5.0f64 / 2.0).sqrt()));
    }
}
