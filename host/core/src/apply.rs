//! Changes other than points, as they reach a backend: the primary gets them when they are
//! made (or, while it is down, queued and applied before the next flush writes points); a
//! replica gets them from the log. Every one is idempotent, so applying one twice, or a log
//! suffix again after a crash, leaves the same contents.

use clio_storage::{
    Expiry, NewSeries, Result, SeriesId, SeriesInfo, SeriesUpdate, StorageBackend, StorageError,
    Timestamp,
};

use crate::wal::Entry;

/// A catalog or deletion change, in log order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Change {
    /// Series created.
    Create(Vec<SeriesInfo>),
    /// A series' settings changed.
    Update(SeriesId, SeriesUpdate),
    /// A series deleted with its data.
    DeleteSeries(SeriesId),
    /// Raw points of `[from, to)` deleted.
    DeleteRange {
        series: SeriesId,
        from: Timestamp,
        to: Timestamp,
    },
    /// Retention for a batch of series.
    Expire(Vec<Expiry>),
}

impl Change {
    /// The change a log entry records; `None` for points, flush marks and clock records.
    pub(crate) fn from_entry(entry: &Entry) -> Option<Change> {
        match entry {
            Entry::Points(_) | Entry::Flushed { .. } | Entry::Clock(_) => None,
            other => Self::from_owned_entry(other.clone()),
        }
    }

    /// The change a log entry records, taking it; `None` for points, flush marks and clock
    /// records.
    pub(crate) fn from_owned_entry(entry: Entry) -> Option<Change> {
        Some(match entry {
            Entry::Points(_) | Entry::Flushed { .. } | Entry::Clock(_) => return None,
            Entry::DeleteSeries(id) => Change::DeleteSeries(id),
            Entry::DeleteRange { series, from, to } => Change::DeleteRange { series, from, to },
            Entry::Expire(batch) => Change::Expire(batch),
            Entry::CreateSeries(infos) => Change::Create(infos),
            Entry::UpdateSeries(id, u) => Change::Update(id, u),
        })
    }

    /// Applies the change to `backend`. A series the backend does not know is not an error
    /// for updates and deletions: it was deleted later in the log, or never reached this
    /// backend, and what the log says next decides its contents.
    pub(crate) async fn apply(&self, backend: &dyn StorageBackend) -> Result<()> {
        match self {
            Change::Create(infos) => {
                let new: Vec<NewSeries> = infos.iter().map(NewSeries::from).collect();
                // Handed over: SQLite's writer takes them without another copy.
                backend.create_series_owned(new).await
            }
            Change::Update(id, update) => match backend.update_series(*id, update).await {
                Ok(_) | Err(StorageError::NotFound(_)) => Ok(()),
                Err(e) => Err(e),
            },
            Change::DeleteSeries(id) => backend.delete_series(*id).await.map(|_| ()),
            Change::DeleteRange { series, from, to } => {
                match backend.delete_points(*series, *from, *to).await {
                    Ok(_) | Err(StorageError::NotFound(_)) => Ok(()),
                    Err(e) => Err(e),
                }
            }
            Change::Expire(batch) => backend.expire(batch).await.map(|_| ()),
        }
    }
}
