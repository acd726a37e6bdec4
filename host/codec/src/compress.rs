//! Optional zstd compression of the chunk body (docs/chunk-format.md, "Compression").

use crate::CodecError;
use crate::varint::{Reader, put_varint, varint_len};

/// zstd level used when writing; readers accept any level.
const ZSTD_LEVEL: i32 = 3;

/// The zstd frame magic number 0xFD2FB528, little-endian.
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xB5, 0x2F, 0xFD];

/// Largest decompressed body a reader accepts (64 MiB). This is what stops a corrupt or
/// hostile length from allocating without bound; bodies larger than this are stored raw.
pub const MAX_BODY_BYTES: usize = 64 << 20;

/// Shortest body a writer tries to compress. A zstd frame with its length varint takes at
/// least 11 bytes before any content (magic 4, frame header 2, block header 3, length 1, one
/// byte of block), so a shorter body could only shrink as a run of one repeated byte; the
/// attempt cost about a microsecond for each of the million one-point chunks of a million
/// new series (issue #25).
const MIN_BODY_BYTES: usize = 16;

/// The compressed form of `body` (its length varint, then one zstd frame), or `None` when
/// that would not be smaller or the body is too large to be accepted back.
pub(crate) fn compress(body: &[u8]) -> Option<Vec<u8>> {
    if body.len() < MIN_BODY_BYTES || body.len() > MAX_BODY_BYTES {
        return None;
    }
    // A failing compressor is not a reason to fail the write: the raw body is always valid.
    // A compression context costs more to create than a small chunk costs to compress (9 %
    // of the server's time at full ingest, issue #25), so each thread keeps one.
    let frame = CCTX.with(|cell| {
        let mut slot = cell.borrow_mut();
        let cctx = match slot.as_mut() {
            Some(c) => c,
            None => slot.insert(zstd::bulk::Compressor::new(ZSTD_LEVEL).ok()?),
        };
        cctx.compress(body).ok()
    })?;
    let len = varint_len(body.len() as u64) + frame.len();
    if len >= body.len() {
        return None;
    }
    let mut out = Vec::with_capacity(len);
    put_varint(&mut out, body.len() as u64);
    out.extend_from_slice(&frame);
    Some(out)
}

thread_local! {
    /// This thread's zstd compression context, made on first use.
    static CCTX: std::cell::RefCell<Option<zstd::bulk::Compressor<'static>>> =
        const { std::cell::RefCell::new(None) };
    /// This thread's zstd decompression context, made on first use.
    static DCTX: std::cell::RefCell<Option<zstd::bulk::Decompressor<'static>>> =
        const { std::cell::RefCell::new(None) };
}

/// Inverse of [`compress`]: reads the length, then decompresses the rest of the input into
/// exactly that many bytes.
pub(crate) fn decompress(r: &mut Reader<'_>) -> Result<Vec<u8>, CodecError> {
    let len = r.len(MAX_BODY_BYTES, "decompressed body length")?;
    let frame = r.rest();
    // Only a standard zstd frame (RFC 8878) is accepted, so the library's legacy-format and
    // skippable-frame decoders are never reached with untrusted bytes.
    if !frame.starts_with(&ZSTD_MAGIC) {
        return Err(CodecError::Decompress(
            "body is not a zstd frame".to_owned(),
        ));
    }
    // Cross-check the frame's own content size, when it records one, before allocating
    // `len` bytes: a random or damaged frame is rejected without the allocation.
    if let Ok(Some(declared)) = zstd::zstd_safe::get_frame_content_size(frame)
        && declared != len as u64
    {
        return Err(CodecError::corrupt(format!(
            "zstd frame holds {declared} bytes, chunk declares {len}"
        )));
    }
    // A decompression context costs more to create than a 2048-point chunk costs to decode
    // (it was a quarter of a cold read's time), so each thread keeps one.
    let body = DCTX.with(|cell| {
        let mut slot = cell.borrow_mut();
        let dctx = match slot.as_mut() {
            Some(d) => d,
            None => slot.insert(
                zstd::bulk::Decompressor::new()
                    .map_err(|e| CodecError::Decompress(e.to_string()))?,
            ),
        };
        dctx.decompress(frame, len)
            .map_err(|e| CodecError::Decompress(e.to_string()))
    })?;
    if body.len() != len {
        return Err(CodecError::corrupt(format!(
            "body decompressed to {} bytes, expected {len}",
            body.len()
        )));
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compressible_bodies_round_trip() {
        let body = vec![0u8; 10_000];
        let c = compress(&body).unwrap();
        assert!(c.len() < 100, "{}", c.len());
        assert_eq!(decompress(&mut Reader::new(&c)).unwrap(), body);
    }

    #[test]
    fn incompressible_bodies_stay_raw() {
        assert_eq!(compress(&[1, 2, 3]), None);
        // Too short to try, however repetitive.
        assert_eq!(compress(&[0u8; MIN_BODY_BYTES - 1]), None);
        assert!(compress(&[0u8; 64]).is_some());
        assert_eq!(compress(&[]), None);
    }

    #[test]
    fn damaged_frames_are_errors() {
        let c = compress(&[7u8; 5000]).unwrap();
        // Wrong declared length.
        let mut wrong = Vec::new();
        put_varint(&mut wrong, 4999);
        wrong.extend_from_slice(&c[2..]);
        assert!(decompress(&mut Reader::new(&wrong)).is_err());
        // Truncated frame.
        assert!(decompress(&mut Reader::new(&c[..c.len() - 1])).is_err());
        // Garbage, with and without the frame magic.
        assert!(matches!(
            decompress(&mut Reader::new(&[10, 1, 2, 3, 4, 5])),
            Err(CodecError::Decompress(_))
        ));
        assert!(matches!(
            decompress(&mut Reader::new(&[10, 0x28, 0xB5, 0x2F, 0xFD, 9, 9, 9])),
            Err(CodecError::Decompress(_) | CodecError::Corrupt { .. })
        ));
        // The frame starts with the magic number.
        assert_eq!(&c[2..6], &ZSTD_MAGIC);
        // Length beyond the cap.
        let mut huge = Vec::new();
        put_varint(&mut huge, MAX_BODY_BYTES as u64 + 1);
        assert!(matches!(
            decompress(&mut Reader::new(&huge)),
            Err(CodecError::Corrupt { .. })
        ));
    }
}
