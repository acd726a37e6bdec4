//! ALEPIZ's frame format (`lib/IPC.js`), byte by byte:
//!
//! ```text
//! offset 0   4 bytes  magic "AlPz"
//! offset 4   1 byte   version = 1
//! offset 5   4 bytes  payload length N, u32 little-endian (N ≥ 1)
//! offset 9   4 bytes  message id, u32 little-endian (0 = no reply expected)
//! offset 13  N bytes  UTF-8 JSON: {"data": <message or reply>, "err": null | "<text>"}
//! ```
//!
//! The server (`clio-server`) and the client (`clio-client`) both use this codec.
//!
//! Unlike ALEPIZ, whose only limit was the 4 GiB length field, a frame whose payload is
//! larger than the server's `max_request_mb` is refused as soon as its header arrives, so a
//! client cannot make the server buffer gigabytes.
#![deny(missing_docs)]

use bytes::{Buf, BufMut, Bytes, BytesMut};
use serde_json::{Value as Json, json};
use tokio_util::codec::{Decoder, Encoder};

/// The four bytes every frame starts with.
pub const MAGIC: [u8; 4] = *b"AlPz";
/// The only protocol version.
pub const VERSION: u8 = 1;
/// Bytes before the payload: magic, version, length, id.
pub const HEADER_LEN: usize = 13;
/// The most buffer space reserved ahead of the bytes that arrived.
const RESERVE_STEP: usize = 64 * 1024;

/// One frame: a message id and its JSON payload (not yet parsed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// Correlates a reply with its request; 0 means "no reply expected".
    pub id: u32,
    /// The UTF-8 JSON payload.
    pub payload: Bytes,
}

impl Frame {
    /// A frame carrying `payload`.
    pub fn new(id: u32, payload: impl Into<Bytes>) -> Self {
        Frame {
            id,
            payload: payload.into(),
        }
    }

    /// A request frame: `{"data": data, "err": null}`.
    pub fn request(id: u32, data: &Json) -> Self {
        Frame::new(id, json!({"data": data, "err": null}).to_string())
    }

    /// A reply frame for a handled request: `{"data": <reply>, "err": null}` on success,
    /// `{"data": null, "err": "<message>", "code": <http-like status>}` on failure.
    pub fn reply(id: u32, result: Result<&Json, (&str, u16)>) -> Self {
        let body = match result {
            Ok(data) => json!({"data": data, "err": null}),
            Err((msg, code)) => json!({"data": null, "err": msg, "code": code}),
        };
        Frame::new(id, body.to_string())
    }

    /// Parses the payload as JSON, telling invalid UTF-8 apart from invalid JSON.
    pub fn json(&self) -> Result<Json, FrameError> {
        let text = std::str::from_utf8(&self.payload).map_err(|e| FrameError::InvalidUtf8 {
            at: e.valid_up_to(),
        })?;
        serde_json::from_str(text).map_err(|e| FrameError::InvalidJson(e.to_string()))
    }
}

/// Why a byte stream is not a valid sequence of frames. Each of these ends the connection
/// it happened on (the stream cannot be resynchronised) and nothing else.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The first bytes are not `AlPz`.
    #[error("bad magic {0:02x?} (expected \"AlPz\")")]
    BadMagic(Vec<u8>),
    /// The version byte is not 1.
    #[error("unsupported protocol version {0} (expected 1)")]
    BadVersion(u8),
    /// The length field is 0; ALEPIZ treats an empty payload as an error too.
    #[error("empty payload (length 0)")]
    Empty,
    /// The payload is larger than `max_request_mb`.
    #[error("payload of {len} bytes exceeds the limit of {max} bytes (server.max_request_mb)")]
    TooLarge {
        /// Announced payload length.
        len: u64,
        /// The limit.
        max: usize,
    },
    /// The payload is not UTF-8.
    #[error("payload is not valid UTF-8 (invalid byte at offset {at})")]
    InvalidUtf8 {
        /// Offset of the first invalid byte.
        at: usize,
    },
    /// The payload is not JSON.
    #[error("payload is not valid JSON: {0}")]
    InvalidJson(String),
    /// The peer closed the connection in the middle of a frame.
    #[error("connection closed in the middle of a frame ({0} bytes buffered)")]
    Truncated(usize),
    /// No byte of a started frame arrived for too long.
    #[error("frame stalled: no data for {0:?} in the middle of a frame")]
    Stalled(std::time::Duration),
    /// A reply could not be written in time (the peer does not read).
    #[error("reply write stalled for {0:?}")]
    WriteStalled(std::time::Duration),
    /// A socket error.
    #[error("socket error: {0}")]
    Io(#[from] std::io::Error),
}

/// Decoder and encoder of [`Frame`]s, refusing payloads over `max_payload` bytes.
#[derive(Debug, Clone)]
pub struct FrameCodec {
    max_payload: usize,
}

impl FrameCodec {
    /// A codec accepting payloads of up to `max_payload` bytes (at least 1).
    pub fn new(max_payload: usize) -> Self {
        FrameCodec {
            max_payload: max_payload.max(1),
        }
    }

    /// The payload limit.
    pub fn max_payload(&self) -> usize {
        self.max_payload
    }
}

impl Decoder for FrameCodec {
    type Item = Frame;
    type Error = FrameError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, FrameError> {
        // Check whatever part of the magic and version has arrived, so garbage is refused at
        // its first byte rather than after 13 bytes (or never, if the peer sends fewer).
        let seen = src.len().min(MAGIC.len());
        if src[..seen] != MAGIC[..seen] {
            return Err(FrameError::BadMagic(src[..seen].to_vec()));
        }
        if src.len() > 4 && src[4] != VERSION {
            return Err(FrameError::BadVersion(src[4]));
        }
        if src.len() < HEADER_LEN {
            src.reserve(HEADER_LEN - src.len());
            return Ok(None);
        }
        let len = u32::from_le_bytes([src[5], src[6], src[7], src[8]]);
        let id = u32::from_le_bytes([src[9], src[10], src[11], src[12]]);
        if len == 0 {
            return Err(FrameError::Empty);
        }
        let len_usize = usize::try_from(len).unwrap_or(usize::MAX);
        if len_usize > self.max_payload {
            return Err(FrameError::TooLarge {
                len: u64::from(len),
                max: self.max_payload,
            });
        }
        let total = HEADER_LEN + len_usize;
        if src.len() < total {
            // Grow with the bytes that arrive, not with what the header announces: a peer
            // announcing 64 MiB and sending nothing must not cost 64 MiB.
            src.reserve((total - src.len()).min(RESERVE_STEP));
            return Ok(None);
        }
        src.advance(HEADER_LEN);
        let payload = src.split_to(len_usize).freeze();
        Ok(Some(Frame { id, payload }))
    }
}

impl Encoder<Frame> for FrameCodec {
    type Error = FrameError;

    fn encode(&mut self, frame: Frame, dst: &mut BytesMut) -> Result<(), FrameError> {
        // Replies are not held to `max_payload` (that limit protects the server from
        // clients); the query result caps keep them bounded. The length field is.
        let len = u32::try_from(frame.payload.len()).map_err(|_| FrameError::TooLarge {
            len: frame.payload.len() as u64,
            max: u32::MAX as usize,
        })?;
        if len == 0 {
            return Err(FrameError::Empty);
        }
        dst.reserve(HEADER_LEN + frame.payload.len());
        dst.put_slice(&MAGIC);
        dst.put_u8(VERSION);
        dst.put_u32_le(len);
        dst.put_u32_le(frame.id);
        dst.put_slice(&frame.payload);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(frames: &[Frame]) -> BytesMut {
        let mut c = FrameCodec::new(1 << 20);
        let mut out = BytesMut::new();
        for f in frames {
            c.encode(f.clone(), &mut out).unwrap();
        }
        out
    }

    fn sample() -> Vec<Frame> {
        vec![
            Frame::request(2, &json!({"msg": "ping"})),
            Frame::new(0, "{\"data\":{\"msg\":\"add\"},\"err\":null}"),
            Frame::new(u32::MAX, "x".repeat(3000)),
            Frame::new(7, "é€😀"),
        ]
    }

    #[test]
    fn header_layout_is_byte_exact() {
        let out = encode(&[Frame::new(0x0102_0304, "{}")]);
        assert_eq!(
            &out[..],
            &[
                b'A', b'l', b'P', b'z', 1, 2, 0, 0, 0, 4, 3, 2, 1, b'{', b'}'
            ]
        );
    }

    #[test]
    fn round_trips_in_one_buffer() {
        let frames = sample();
        let mut buf = encode(&frames);
        let mut c = FrameCodec::new(1 << 20);
        let mut got = Vec::new();
        while let Some(f) = c.decode(&mut buf).unwrap() {
            got.push(f);
        }
        assert_eq!(got, frames);
        assert!(buf.is_empty());
    }

    /// Feeds the stream in chunks of every size from 1 to 40 bytes and in a pseudo-random
    /// pattern: the frames come out the same whatever the split points.
    #[test]
    fn split_reads_at_arbitrary_boundaries() {
        let frames = sample();
        let wire = encode(&frames).freeze();
        let mut patterns: Vec<Vec<usize>> = (1..=40).map(|n| vec![n]).collect();
        patterns.push(vec![1, 12, 1, 13, 2, 999, 3, 4, 14, 5000, 1]);
        patterns.push(vec![13, 1]);
        for pattern in patterns {
            let mut c = FrameCodec::new(1 << 20);
            let mut buf = BytesMut::new();
            let mut got = Vec::new();
            let mut pos = 0;
            let mut i = 0;
            while pos < wire.len() {
                let n = pattern[i % pattern.len()].min(wire.len() - pos);
                i += 1;
                buf.extend_from_slice(&wire[pos..pos + n]);
                pos += n;
                while let Some(f) = c.decode(&mut buf).unwrap() {
                    got.push(f);
                }
            }
            assert_eq!(got, frames, "pattern {pattern:?}");
            assert!(buf.is_empty());
        }
    }

    #[test]
    fn garbage_is_refused_at_the_first_bad_byte() {
        let mut c = FrameCodec::new(1 << 20);
        let mut buf = BytesMut::from(&b"G"[..]);
        assert!(matches!(c.decode(&mut buf), Err(FrameError::BadMagic(_))));
        let mut buf = BytesMut::from(&b"AlP"[..]);
        assert!(
            c.decode(&mut buf).unwrap().is_none(),
            "a correct prefix waits"
        );
        let mut buf = BytesMut::from(&b"AlPx"[..]);
        assert!(matches!(c.decode(&mut buf), Err(FrameError::BadMagic(_))));
        let mut buf = BytesMut::from(&b"GET / HTTP/1.1\r\n\r\n"[..]);
        assert!(matches!(c.decode(&mut buf), Err(FrameError::BadMagic(_))));
        let mut buf = BytesMut::from(&[b'A', b'l', b'P', b'z', 2][..]);
        assert!(matches!(c.decode(&mut buf), Err(FrameError::BadVersion(2))));
    }

    #[test]
    fn empty_and_oversized_payloads_are_refused_from_the_header() {
        let mut c = FrameCodec::new(100);
        let mut hdr = BytesMut::new();
        hdr.put_slice(&MAGIC);
        hdr.put_u8(VERSION);
        hdr.put_u32_le(0);
        hdr.put_u32_le(5);
        assert!(matches!(c.decode(&mut hdr), Err(FrameError::Empty)));

        let mut hdr = BytesMut::new();
        hdr.put_slice(&MAGIC);
        hdr.put_u8(VERSION);
        hdr.put_u32_le(101);
        hdr.put_u32_le(5);
        // Refused before any payload byte arrives.
        let e = c.decode(&mut hdr).unwrap_err();
        assert!(
            matches!(e, FrameError::TooLarge { len: 101, max: 100 }),
            "{e}"
        );
        assert!(e.to_string().contains("max_request_mb"));

        let mut hdr = BytesMut::new();
        hdr.put_slice(&MAGIC);
        hdr.put_u8(VERSION);
        hdr.put_u32_le(100);
        hdr.put_u32_le(5);
        assert!(
            c.decode(&mut hdr).unwrap().is_none(),
            "exactly the limit is fine"
        );
    }

    #[test]
    fn frames_after_garbage_never_decode() {
        // A valid frame followed by garbage: the first decodes, then the error comes.
        let mut buf = encode(&[Frame::new(4, "{}")]);
        buf.extend_from_slice(b"\x00\x01garbage");
        let mut c = FrameCodec::new(1 << 20);
        assert_eq!(c.decode(&mut buf).unwrap(), Some(Frame::new(4, "{}")));
        assert!(c.decode(&mut buf).is_err());
    }

    #[test]
    fn payload_json_distinguishes_utf8_from_json_errors() {
        assert!(matches!(
            Frame::new(1, &b"{\"a\":\"\xff\"}"[..]).json(),
            Err(FrameError::InvalidUtf8 { at: 6 })
        ));
        assert!(matches!(
            Frame::new(1, "{not json").json(),
            Err(FrameError::InvalidJson(_))
        ));
        assert_eq!(Frame::new(1, "[1]").json().unwrap(), json!([1]));
    }

    #[test]
    fn replies_carry_data_or_err() {
        let ok = Frame::reply(9, Ok(&json!("pong"))).json().unwrap();
        assert_eq!(ok, json!({"data": "pong", "err": null}));
        let err = Frame::reply(9, Err(("cnt is missing", 400)))
            .json()
            .unwrap();
        assert_eq!(
            err,
            json!({"data": null, "err": "cnt is missing", "code": 400})
        );
    }

    #[test]
    fn encoder_refuses_empty_payloads() {
        let mut c = FrameCodec::new(10);
        let mut out = BytesMut::new();
        assert!(matches!(
            c.encode(Frame::new(1, ""), &mut out),
            Err(FrameError::Empty)
        ));
    }
}
