//! ALEPIZ's frame format, client side (decoding is `clio-protocol`'s codec, shared with the server;
//! `docs/protocol.md` is the reference):
//!
//! ```text
//! offset 0   4 bytes  magic "AlPz"
//! offset 4   1 byte   version = 1
//! offset 5   4 bytes  payload length N, u32 little-endian (N ≥ 1)
//! offset 9   4 bytes  message id, u32 little-endian (0 = no reply expected)
//! offset 13  N bytes  UTF-8 JSON: {"data": <message or reply>, "err": null | "<text>"}
//! ```

use bytes::BytesMut;
use tokio_util::codec::Decoder;

use crate::error::Error;

/// The four bytes every frame starts with.
pub const MAGIC: [u8; 4] = *b"AlPz";
/// The only protocol version.
pub const VERSION: u8 = 1;
/// Bytes before the payload: magic, version, length, id.
pub const HEADER_LEN: usize = 13;

/// The header of a frame carrying `len` payload bytes under message `id`.
pub fn header(id: u32, len: u32) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[..4].copy_from_slice(&MAGIC);
    h[4] = VERSION;
    h[5..9].copy_from_slice(&len.to_le_bytes());
    h[9..13].copy_from_slice(&id.to_le_bytes());
    h
}

/// A whole frame: header and payload. Fails on an empty payload or one over 4 GiB, which the
/// length field cannot express.
pub fn encode(id: u32, payload: &[u8]) -> Result<Vec<u8>, Error> {
    let len = payload_len(payload.len())?;
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
    out.extend_from_slice(&header(id, len));
    out.extend_from_slice(payload);
    Ok(out)
}

/// Checks that a payload of `n` bytes can be framed.
pub(crate) fn payload_len(n: usize) -> Result<u32, Error> {
    if n == 0 {
        return Err(Error::InvalidRequest(
            "a frame payload cannot be empty".into(),
        ));
    }
    u32::try_from(n).map_err(|_| {
        Error::InvalidRequest(format!(
            "a payload of {n} bytes does not fit the 32-bit length field"
        ))
    })
}

/// One received frame: its message id and its (not yet parsed) JSON payload.
pub type RawFrame = clio_protocol::Frame;

/// Splits the reply stream into frames. The parsing is the server's own codec
/// (`clio-protocol`); this wrapper only maps its errors onto the client's.
#[derive(Debug)]
pub struct FrameDecoder {
    inner: clio_protocol::FrameCodec,
}

impl FrameDecoder {
    /// A decoder refusing replies larger than `max_payload` bytes.
    pub fn new(max_payload: usize) -> Self {
        FrameDecoder {
            inner: clio_protocol::FrameCodec::new(max_payload.max(1)),
        }
    }
}

fn map_error(e: clio_protocol::FrameError) -> Error {
    use clio_protocol::FrameError as F;
    match e {
        F::Truncated(n) => Error::Closed(format!(
            "the server closed the connection in the middle of a frame ({n} bytes buffered)"
        )),
        F::TooLarge { len, max } => Error::Protocol(format!(
            "reply of {len} bytes exceeds the client's limit of {max} bytes"
        )),
        F::Io(e) => Error::Io(e),
        other => Error::Protocol(other.to_string()),
    }
}

impl Decoder for FrameDecoder {
    type Item = RawFrame;
    type Error = Error;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<RawFrame>, Error> {
        self.inner.decode(src).map_err(map_error)
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<RawFrame>, Error> {
        match self.decode(src)? {
            Some(f) => Ok(Some(f)),
            None if src.is_empty() => Ok(None),
            None => Err(map_error(clio_protocol::FrameError::Truncated(src.len()))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn frames() -> Vec<RawFrame> {
        vec![
            RawFrame {
                id: 2,
                payload: Bytes::from_static(br#"{"data":{"msg":"ping"},"err":null}"#),
            },
            RawFrame {
                id: u32::MAX - 1,
                payload: Bytes::from("x".repeat(5000)),
            },
            RawFrame {
                id: 0,
                payload: Bytes::from("é€😀"),
            },
        ]
    }

    fn wire(frames: &[RawFrame]) -> Vec<u8> {
        frames
            .iter()
            .flat_map(|f| encode(f.id, &f.payload).unwrap())
            .collect()
    }

    #[test]
    fn header_is_byte_exact() {
        assert_eq!(
            encode(0x0102_0304, b"{}").unwrap(),
            vec![
                b'A', b'l', b'P', b'z', 1, 2, 0, 0, 0, 4, 3, 2, 1, b'{', b'}'
            ]
        );
    }

    #[test]
    fn empty_payloads_cannot_be_sent() {
        assert!(matches!(encode(2, b""), Err(Error::InvalidRequest(_))));
    }

    /// Whatever the read sizes, the same frames come out and nothing is left over.
    #[test]
    fn decodes_across_arbitrary_splits() {
        let expected = frames();
        let bytes = wire(&expected);
        for chunk in [1, 2, 3, 12, 13, 14, 100, 4999, bytes.len()] {
            let mut d = FrameDecoder::new(1 << 20);
            let mut buf = BytesMut::new();
            let mut got = Vec::new();
            for part in bytes.chunks(chunk) {
                buf.extend_from_slice(part);
                while let Some(f) = d.decode(&mut buf).unwrap() {
                    got.push(f);
                }
            }
            assert_eq!(got, expected, "chunk size {chunk}");
            assert!(d.decode_eof(&mut buf).unwrap().is_none());
        }
    }

    #[test]
    fn refuses_garbage_versions_and_oversized_replies() {
        let mut d = FrameDecoder::new(100);
        let mut buf = BytesMut::from(&b"HTTP/1.1 400"[..]);
        assert!(matches!(d.decode(&mut buf), Err(Error::Protocol(_))));
        let mut buf = BytesMut::from(&b"AlP"[..]);
        assert!(
            d.decode(&mut buf).unwrap().is_none(),
            "a correct prefix waits"
        );
        let mut buf = BytesMut::from(&[b'A', b'l', b'P', b'z', 2][..]);
        let e = d.decode(&mut buf).unwrap_err();
        assert!(e.to_string().contains("version 2"), "{e}");
        let mut buf = BytesMut::from(&header(2, 0)[..]);
        assert!(matches!(d.decode(&mut buf), Err(Error::Protocol(_))));
        let mut buf = BytesMut::from(&header(2, 101)[..]);
        assert!(matches!(d.decode(&mut buf), Err(Error::Protocol(_))));
        let mut buf = BytesMut::from(&header(2, 100)[..]);
        assert!(
            d.decode(&mut buf).unwrap().is_none(),
            "exactly the limit waits for data"
        );
    }

    #[test]
    fn eof_inside_a_frame_is_reported() {
        let bytes = encode(4, b"{\"data\":1}").unwrap();
        let mut d = FrameDecoder::new(1 << 20);
        let mut buf = BytesMut::from(&bytes[..bytes.len() - 1]);
        assert!(d.decode(&mut buf).unwrap().is_none());
        assert!(matches!(d.decode_eof(&mut buf), Err(Error::Closed(_))));
    }
}
