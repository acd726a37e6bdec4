//! The Glass tables and camera images in a backup (`clio backup`, `POST /api/v1/backups`):
//! `glass.db` copied consistently (`VACUUM INTO`) and every image file linked (or copied)
//! into the backup's staging directory under the same names as in the data directory, so
//! that a restore puts them back where the server looks for them. On PostgreSQL the tables
//! and the image bytes are the database's to back up (pg_basebackup, pg_dump): nothing is
//! copied.

use std::path::Path;

use crate::Glass;
use crate::engine::Dialect;
use crate::error::GlassError;

/// The file name of the SQLite database in the data directory and in a backup.
pub const GLASS_DB: &str = "glass.db";
/// The directory of the images' files in the data directory and in a backup.
pub const IMAGES_DIR: &str = "images";

impl Glass {
    /// Writes `glass.db` and `images/**` of this (SQLite) database into `target` while no
    /// upload or delete changes them, so every row of the copy finds its file; returns the
    /// names written (none on PostgreSQL).
    pub async fn snapshot_files(&self, target: &Path) -> Result<Vec<String>, GlassError> {
        if self.dialect() != Dialect::Sqlite {
            return Ok(Vec::new());
        }
        let _place = match &self.images {
            Some(s) => Some(s.place.lock().await),
            None => None,
        };
        let mut out = Vec::new();
        if self.engine.snapshot_into(&target.join(GLASS_DB)).await? {
            out.push(GLASS_DB.to_owned());
        }
        if let Some(s) = &self.images {
            let dir = s.opts.dir.clone();
            let to = target.join(IMAGES_DIR);
            out.extend(link_images(&dir, &to)?);
        }
        Ok(out)
    }
}

/// The same for a data directory no server uses (`clio backup --data-dir`): its `glass.db`,
/// if any, and its `images/`.
pub fn snapshot_offline(data_dir: &Path, target: &Path) -> Result<Vec<String>, GlassError> {
    let mut out = Vec::new();
    let db = data_dir.join(GLASS_DB);
    if db.is_file() {
        let conn =
            rusqlite::Connection::open_with_flags(&db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
        let to = target.join(GLASS_DB);
        let to = to
            .to_str()
            .ok_or_else(|| GlassError::Db(format!("{}: not UTF-8", to.display())))?;
        conn.execute("VACUUM INTO ?1", [to])?;
        out.push(GLASS_DB.to_owned());
    }
    let images = data_dir.join(IMAGES_DIR);
    if images.is_dir() {
        out.extend(link_images(&images, &target.join(IMAGES_DIR))?);
    }
    Ok(out)
}

/// Hard-links (copies, across file systems) `from/<2 hex>/<62 hex>` to `to/...`: image
/// files are never changed in place, only created by a rename and removed, so a link is a
/// stable copy. Temporary uploads (`tmp/`) are left out.
fn link_images(from: &Path, to: &Path) -> Result<Vec<String>, GlassError> {
    let io = |p: &Path, e: std::io::Error| GlassError::Db(format!("{}: {e}", p.display()));
    let mut out = Vec::new();
    let Ok(fan) = std::fs::read_dir(from) else {
        return Ok(out);
    };
    for d in fan.flatten() {
        let name = d.file_name().to_string_lossy().into_owned();
        if name.len() != 2 || !d.path().is_dir() {
            continue;
        }
        let sub = to.join(&name);
        for f in std::fs::read_dir(d.path())
            .map_err(|e| io(&d.path(), e))?
            .flatten()
        {
            if !f.path().is_file() {
                continue;
            }
            std::fs::create_dir_all(&sub).map_err(|e| io(&sub, e))?;
            let dst = sub.join(f.file_name());
            if std::fs::hard_link(f.path(), &dst).is_err() {
                std::fs::copy(f.path(), &dst).map_err(|e| io(&dst, e))?;
            }
            out.push(format!(
                "{IMAGES_DIR}/{name}/{}",
                f.file_name().to_string_lossy()
            ));
        }
    }
    Ok(out)
}
