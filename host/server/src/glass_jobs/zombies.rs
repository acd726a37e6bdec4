//! The zombie registry following the sensors table (`[glass.zombies] follow_sensors`).
//!
//! A series linked to a sensor (its `series_id`, or the series of its `series_key`) is
//! marked in the catalog with the metadata entry [`SENSOR_META`] = the sensor's `sensor_id`
//! (so the mark survives restarts, backups and replicas with the catalog itself). A marked
//! series that no sensor links any more is a zombie: the housekeeper asks [`SensorZombies::sync`]
//! at the start of every run and removes those with their data. A sensor created again with
//! the same link before that run revives its series (it is linked again, so not a zombie).
//! Links are learnt every `sync_every` and at every run; a sensor created and deleted between
//! two of them was never learnt and leaves its series alone (the safe side).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use clio_core::Store;
use clio_glass::Glass;
use clio_storage::{SeriesFilter, SeriesId, SeriesKey, SeriesUpdate};
use tokio_util::sync::CancellationToken;

/// The catalog metadata key marking a series as a sensor's.
pub const SENSOR_META: &str = "glass_sensor";

/// The sensors table as the housekeeper's zombie source.
#[derive(Debug, Clone)]
pub struct SensorZombies {
    store: Store,
    glass: Glass,
}

impl SensorZombies {
    /// A source over `store`'s catalog and `glass`'s sensors.
    pub fn new(store: Store, glass: Glass) -> Self {
        SensorZombies { store, glass }
    }

    /// Every sensor's series now, with its `sensor_id`.
    async fn links(&self) -> Result<HashMap<SeriesId, String>, String> {
        let mut out = HashMap::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut params = vec![("limit".to_string(), "1000".to_string())];
            if let Some(c) = cursor.take() {
                params.push(("cursor".into(), c));
            }
            let page = self
                .glass
                .list("sensors", &params)
                .await
                .map_err(|e| format!("cannot list the sensors: {e}"))?;
            for s in &page.items {
                let sensor_id = s["sensor_id"].as_str().unwrap_or_default().to_string();
                let id = match (s["series_id"].as_i64(), s["series_key"].as_str()) {
                    (Some(id), _) if id >= 0 => Some(SeriesId(id as u64)),
                    (_, Some(text)) => text
                        .parse::<SeriesKey>()
                        .ok()
                        .and_then(|k| self.store.series_id(&k)),
                    _ => None,
                };
                if let Some(id) = id {
                    out.insert(id, sensor_id);
                }
            }
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => return Ok(out),
            }
        }
    }

    /// Learns the links (marks each linked series with its sensor) and returns the marked
    /// series no sensor links any more: the zombies.
    pub async fn sync(&self) -> Result<Vec<SeriesId>, String> {
        let links = self.links().await?;
        for (&id, sensor) in &links {
            let Some(info) = self.store.series(id) else {
                continue;
            };
            if sensor.is_empty() || info.settings.metadata.get(SENSOR_META) == Some(sensor) {
                continue;
            }
            let update = SeriesUpdate {
                metadata: Some([(SENSOR_META.to_string(), sensor.clone())].into()),
                ..Default::default()
            };
            self.store
                .update_series(id, &update)
                .await
                .map_err(|e| format!("cannot mark series {id} as sensor {sensor:?}'s: {e}"))?;
        }
        let mut zombies = Vec::new();
        // Every series of the catalog: off the runtime worker that requests wait behind.
        crate::blocking::off_worker(|| {
            self.store.visit_series(&SeriesFilter::default(), |s| {
                if s.settings.metadata.contains_key(SENSOR_META) && !links.contains_key(&s.id) {
                    zombies.push(s.id);
                }
            })
        });
        Ok(zombies)
    }

    /// The housekeeper's zombie source over this.
    pub fn source(self) -> clio_housekeeper::ZombieSource {
        let me = Arc::new(self);
        Arc::new(move || {
            let me = Arc::clone(&me);
            Box::pin(async move {
                let zombies = me.sync().await?;
                if !zombies.is_empty() {
                    tracing::info!(
                        zombies = zombies.len(),
                        "series of deleted sensors are zombies"
                    );
                }
                Ok(zombies)
            })
        })
    }

    /// Learns the links every `every` until `stop`.
    pub async fn run(self, every: Duration, stop: CancellationToken) {
        loop {
            if let Err(e) = self.sync().await {
                tracing::warn!(error = %e, "sensor links not learnt");
            }
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(every) => {}
            }
        }
    }
}
