//! Writes batches through the engine as fast as it can and prints `ack <batch>` on stdout after
//! each acknowledged write, until killed. Batch `b` holds points `ts = b * CRASH_POINTS + i` for
//! every series. The flush interval is short so that kills land before, during and after
//! flushes.

use std::io::Write;
use std::time::Duration;

use clio_core::{IncomingPoint, SeriesRef};
use clio_e2e::{CRASH_POINTS, CRASH_SERIES, crash_value};
use clio_storage::{SeriesId, Value};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let dir = std::env::args()
        .nth(1)
        .ok_or_else(|| anyhow::anyhow!("usage: crash-writer DIR"))?;
    let store = clio_e2e::open_store(std::path::Path::new(&dir)).await?;
    let flusher = store.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(30)).await;
            let _ = flusher.flush().await;
        }
    });
    let mut out = std::io::stdout().lock();
    for b in 0u64.. {
        let mut points = Vec::new();
        for s in 1..=CRASH_SERIES {
            for i in 0..CRASH_POINTS {
                points.push(IncomingPoint {
                    series: SeriesRef::Id(SeriesId(s)),
                    ts: Some((b * CRASH_POINTS + i) as i64),
                    value: Value::Num(crash_value(b, s, i)),
                });
            }
        }
        store.write(points).await?;
        writeln!(out, "ack {b}")?;
        out.flush()?;
    }
    Ok(())
}
