//! The catalog's local copy, `<data_dir>/catalog.json`: written when the catalog changed,
//! before the log that recorded those changes is truncated, so that the engine can start
//! with the primary down (catalog = this copy + the log).

use std::fs::{self, File};
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use clio_storage::SeriesInfo;

use crate::error::{Error, Result};

/// Where the copy lives.
pub(crate) fn path(data_dir: &Path) -> PathBuf {
    data_dir.join("catalog.json")
}

/// Writes the copy atomically (temporary file, fsync, rename, fsync of the directory).
pub(crate) fn save<'a>(path: &Path, entries: impl Iterator<Item = &'a SeriesInfo>) -> Result<()> {
    let tmp = path.with_extension("json.tmp");
    let write = || -> std::io::Result<()> {
        let mut out = BufWriter::new(File::create(&tmp)?);
        out.write_all(b"[")?;
        for (i, e) in entries.enumerate() {
            if i > 0 {
                out.write_all(b",\n")?;
            }
            serde_json::to_writer(&mut out, e)?;
        }
        out.write_all(b"]\n")?;
        let file = out.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        fs::rename(&tmp, path)?;
        if let Some(dir) = path.parent() {
            File::open(dir)?.sync_all()?;
        }
        Ok(())
    };
    write().map_err(|e| Error::io(format!("writing {}", path.display()), e))
}

/// Reads the copy; `None` when there is none.
pub(crate) fn load(path: &Path) -> Result<Option<Vec<SeriesInfo>>> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(format!("reading {}", path.display()), e)),
    };
    serde_json::from_reader(BufReader::new(file))
        .map(Some)
        .map_err(|e| {
            Error::io(
                format!("reading {}", path.display()),
                std::io::Error::new(std::io::ErrorKind::InvalidData, e),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clio_storage::{SeriesId, SeriesSettings};

    #[test]
    fn round_trips_and_missing_is_none() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = path(dir.path());
        assert!(load(&p).expect("load").is_none());
        let entries = vec![
            SeriesInfo {
                id: SeriesId(1),
                key: None,
                settings: SeriesSettings::default(),
                created: 5,
            },
            SeriesInfo {
                id: SeriesId(1 << 48),
                key: Some(
                    clio_storage::SeriesKey::new("m", [("t".into(), "v".into())], "f")
                        .expect("key"),
                ),
                settings: SeriesSettings::default(),
                created: 6,
            },
        ];
        save(&p, entries.iter()).expect("save");
        assert_eq!(load(&p).expect("load"), Some(entries));
        fs::write(&p, b"[{").expect("write");
        assert!(
            load(&p).is_err(),
            "a damaged copy is an error, not an empty catalog"
        );
    }
}
