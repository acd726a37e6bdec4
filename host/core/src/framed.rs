//! The engine's small binary files beside the log, `catalog.bin` and `cache-warm.bin`: eight
//! magic bytes naming the file and its version, a body, then a CRC-32 (IEEE, little-endian)
//! of both (docs/file-format.md).

use std::path::Path;

use crate::error::{Error, Result};

/// Length of the magic bytes.
pub(crate) const MAGIC_LEN: usize = 8;

/// The magic bytes a framed file starts with (one of `magics`) and its body, once its
/// checksum holds. `what` names the kind of file in the errors ("a catalog copy").
pub(crate) fn open<'a>(
    bytes: &'a [u8],
    magics: &[&[u8; MAGIC_LEN]],
    what: &str,
) -> std::result::Result<(&'a [u8], &'a [u8]), String> {
    let framed_len = bytes
        .len()
        .checked_sub(4)
        .filter(|&n| n >= MAGIC_LEN)
        .ok_or_else(|| format!("{} bytes is too short for {what}", bytes.len()))?;
    let (framed, crc) = bytes.split_at(framed_len);
    let (magic, body) = framed.split_at(MAGIC_LEN);
    if !magics.iter().any(|m| m.as_slice() == magic) {
        return Err(format!("not {what} (wrong magic bytes)"));
    }
    if crc32fast::hash(framed) != u32::from_le_bytes([crc[0], crc[1], crc[2], crc[3]]) {
        return Err("checksum mismatch: the file is damaged".into());
    }
    Ok((magic, body))
}

/// Appends the CRC-32 of everything in `out` to it.
pub(crate) fn seal(out: &mut Vec<u8>) {
    let crc = crc32fast::hash(out);
    out.extend_from_slice(&crc.to_le_bytes());
}

/// Reads the file at `path` and decodes it (a framed file, or the JSON catalog copy of
/// earlier versions); `None` when there is no such file. A file that does not decode is an
/// error naming it and saying what is wrong.
pub(crate) fn load<T>(
    path: &Path,
    decode: impl FnOnce(&[u8]) -> std::result::Result<T, String>,
) -> Result<Option<T>> {
    let reading = || format!("reading {}", path.display());
    match std::fs::read(path) {
        Ok(bytes) => decode(&bytes).map(Some).map_err(|e| {
            Error::io(
                reading(),
                std::io::Error::new(std::io::ErrorKind::InvalidData, e),
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(reading(), e)),
    }
}
