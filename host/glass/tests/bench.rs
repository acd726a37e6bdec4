//! Numbers for BENCHMARKS.md (`## Glass AI tables (issue #21)`): prediction inserts per
//! second, one per transaction and 1,000 per batch, and filtered reads p50/p99, on SQLite and
//! on the throwaway PostgreSQL cluster. Ignored by default (it measures, it does not check):
//! `cargo test -p clio-glass --test bench -- --ignored --nocapture --test-threads=1`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../../tests/support/pg_cluster.rs"]
mod pg_cluster;

use std::time::{Duration, Instant};

use clio_glass::{BatchOp, Glass, Target};
use serde_json::json;

const SINGLE: i64 = 2_000;
const BATCHES: i64 = 20;
const PER_BATCH: i64 = 1_000;
const READS: usize = 300;

fn prediction(i: i64) -> serde_json::Value {
    json!({"model_name": format!("model-{}", i % 4), "timestamp": 1_700_000_000_000i64 + i * 1000,
           "input_data": {"temp": 1100 + i % 300, "zone": i % 7},
           "prediction": {"label": if i % 10 == 0 {"crack"} else {"ok"}}, "confidence": 0.9})
}

async fn measure(name: &str, g: &Glass) {
    let t = Instant::now();
    for i in 0..SINGLE {
        g.create("predictions", &prediction(i)).await.unwrap();
    }
    let single = SINGLE as f64 / t.elapsed().as_secs_f64();
    let t = Instant::now();
    for b in 0..BATCHES {
        let ops: Vec<BatchOp> = (0..PER_BATCH)
            .map(|i| BatchOp::Create {
                table: "predictions".into(),
                data: prediction(SINGLE + b * PER_BATCH + i),
            })
            .collect();
        g.batch(&ops).await.unwrap();
    }
    let batch = (BATCHES * PER_BATCH) as f64 / t.elapsed().as_secs_f64();
    let total = SINGLE + BATCHES * PER_BATCH;
    let mut took: Vec<Duration> = Vec::with_capacity(READS);
    let mut rows = 0;
    for r in 0..READS as i64 {
        let from = 1_700_000_000_000i64 + (r * 997 % total) * 1000;
        let q: Vec<(String, String)> = [
            ("model", format!("model-{}", r % 4)),
            ("from", from.to_string()),
            ("to", (from + 3_600_000).to_string()),
            ("json.prediction.label", "crack".into()),
            ("sort", "-timestamp".into()),
            ("limit", "100".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let t = Instant::now();
        rows += g.list("predictions", &q).await.unwrap().items.len();
        took.push(t.elapsed());
    }
    took.sort();
    let pct = |p: f64| took[((took.len() as f64 * p) as usize).min(took.len() - 1)];
    println!(
        "{name}: single {single:.0} inserts/s ({SINGLE} rows), batch {batch:.0} inserts/s \
         ({BATCHES} x {PER_BATCH}), filtered read over {total} rows p50 {:.2} ms p99 {:.2} ms \
         ({READS} reads, {rows} rows)",
        pct(0.50).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measures; run by hand for BENCHMARKS.md"]
async fn prediction_inserts_and_filtered_reads() {
    let dir = tempfile::tempdir().unwrap();
    let g = Glass::open(&Target::Sqlite(dir.path().join("glass.db")))
        .await
        .unwrap();
    measure("sqlite", &g).await;
    let mut o = {
        let c = pg_cluster::cluster();
        let db = c.create_database("glass_bench");
        clio_storage_postgres::PgOptions::new(
            c.socket_dir().to_str().unwrap(),
            c.port,
            &db,
            &c.user,
        )
    };
    o.pool_size = 4;
    o.schema = "glass".into();
    let g = Glass::open(&Target::Postgres(o)).await.unwrap();
    measure("postgres", &g).await;
}
