//! The bodies of Clio's fuzz targets, in one place: the cargo-fuzz crate (`fuzz/`, nightly
//! or `RUSTC_BOOTSTRAP=1`) calls them with libFuzzer's inputs, and the bounded property
//! tests (`tests/bounded.rs`, stable, part of `cargo test`) call them with the kept corpus
//! (`fuzz/corpus/<target>/`) and seeded random mutations of it.
//!
//! Each target feeds arbitrary bytes to one decoder that untrusted input reaches and checks
//! that it neither panics nor breaks its own invariants (a decoded chunk re-encodes to the
//! same points, a frame decodes to at most the bytes it was given, ...). A failed check is
//! a panic, which both harnesses report with the input.

/// A target: a name (the corpus directory and the cargo-fuzz binary) and its body.
pub type Target = (&'static str, fn(&[u8]));

/// Every target.
pub const TARGETS: &[Target] = &[
    ("line_protocol", line_protocol),
    ("alpz_frames", alpz_frames),
    #[cfg(feature = "server")]
    ("json_bodies", json_bodies),
    ("function_arguments", function_arguments),
    ("influxql", influxql),
    ("chunk_decoding", chunk_decoding),
    ("log_records", log_records),
];

/// InfluxDB line protocol, as `/write` and the TCP `writeLp` message parse it: whole bodies
/// in every precision, and the same body streamed in two chunks.
pub fn line_protocol(data: &[u8]) {
    use clio_lineproto::{Parser, Precision};
    for precision in [Precision::Ns, Precision::Ms, Precision::H] {
        let parser = Parser::new(precision, 1_700_000_000_000).with_max_line_len(4096);
        let mut points = 0usize;
        let report = parser.parse(data, |_| points += 1);
        assert!(report.consumed <= data.len(), "consumed past the end");
        let mut lines = 0usize;
        parser.parse_lines(data, |_| lines += 1);
        let _ = points;
    }
    // Streaming: the first half as a non-final chunk, then what it left plus the rest.
    let parser = Parser::new(Precision::Ns, 0);
    let mid = data.len() / 2;
    let first = parser.parse_chunk(&data[..mid], 1, false, |_| {});
    assert!(
        first.consumed <= mid,
        "a chunk consumed more than it was given"
    );
    parser.parse_chunk(&data[first.consumed..], 1 + first.lines, true, |_| {});
}

/// The AlPz frame decoder of the TCP front end, fed the input whole and byte by byte (as a
/// slow peer sends it): the same frames either way.
pub fn alpz_frames(data: &[u8]) {
    use bytes::BytesMut;
    use clio_protocol::FrameCodec;
    use tokio_util::codec::Decoder;
    let decode_all = |feed: &mut dyn Iterator<Item = &[u8]>| {
        let mut codec = FrameCodec::new(64 * 1024);
        let mut buf = BytesMut::new();
        let mut frames = Vec::new();
        for piece in feed {
            buf.extend_from_slice(piece);
            loop {
                match codec.decode(&mut buf) {
                    Ok(Some(f)) => frames.push(f),
                    Ok(None) => break,
                    Err(_) => return (frames, true),
                }
            }
        }
        (frames, false)
    };
    let (whole, whole_err) = decode_all(&mut std::iter::once(data));
    let (bytewise, byte_err) = decode_all(&mut data.chunks(1));
    assert_eq!(whole, bytewise, "frames depend on how the bytes arrive");
    assert_eq!(whole_err, byte_err, "errors depend on how the bytes arrive");
    let total: usize = whole.iter().map(|f| f.payload.len() + 13).sum();
    assert!(total <= data.len(), "frames hold more bytes than arrived");
}

/// JSON bodies: a TCP request's `data` object through the front end's message parser, and
/// the HTTP API's series update body.
#[cfg(feature = "server")]
pub fn json_bodies(data: &[u8]) {
    let Ok(doc) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let _ = clio_server::tcp::message::Message::parse(&doc);
    let _ = serde_json::from_value::<clio_storage::SeriesUpdate>(doc.clone());
    if let Some(s) = doc.as_str() {
        let _ = clio_server::tcp::parse::parse_duration_ms(s);
    }
}

/// History function arguments (`avg(#10, 1h)`): split as the host splits them, every typed
/// accessor, and the window evaluated over a small history, as every built-in does.
pub fn function_arguments(data: &[u8]) {
    use clio_sdk::testing::MemHistory;
    use clio_sdk::{Args, History};
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let args = Args::parse(text);
    const NOW: i64 = 1_700_000_000_000;
    let h = MemHistory::new(NOW)
        .with_points((0..200_i64).map(|i| (NOW - (200 - i) * 1_000, i as f64)))
        .with_answer_cap(17);
    for i in 0..args.len().min(4) {
        let _ = args.number(i, "x");
        let _ = args.count(i, "x", 1);
        let _ = args.duration(i, "x");
        let _ = args.term(i, "x");
        let _ = args.flag(i, "x");
        if let Some(s) = args.get(i) {
            let _ = clio_sdk::parse_iso8601(s);
            let _ = clio_sdk::parse_number(s);
            let _ = clio_sdk::parse_series_key(s);
        }
    }
    if let Ok(w) = args.window(0, 1) {
        let _ = w.span(h.now());
        let _ = w.for_each_chunk(&h, |_| Ok(()));
        let _ = w.fetch(&h);
    }
    let _ = clio_sdk::shared::last_record(&h, &args);
    let _ = clio_sdk::shared::change(&h, &args, true);
}

/// InfluxQL as `/query` parses it: the whole text, and each `;`-separated part alone.
pub fn influxql(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = clio_influxql::parse_query(text);
    for part in text.split(';').take(8) {
        let _ = clio_influxql::parse_statement(part);
    }
}

/// Stored chunks: every decoder over arbitrary bytes; a chunk that decodes re-encodes to
/// the same points.
pub fn chunk_decoding(data: &[u8]) {
    let _ = clio_codec::chunk_header(data);
    let _ = clio_codec::decode_chunk_columns(data);
    let _ = clio_codec::decode_trend_chunk(data);
    if let Ok(points) = clio_codec::decode_chunk(data) {
        // The encoder refuses some decodable inputs (an empty chunk, unsorted times); when
        // it accepts, the round trip must hold.
        if let Ok(again) = clio_codec::encode_chunk(&points) {
            let back = clio_codec::decode_chunk(&again);
            assert!(
                back.as_ref().is_ok_and(|b| same_points(b, &points)),
                "a decoded chunk does not survive re-encoding: {back:?}"
            );
        }
    }
}

/// Points equal with NaN equal to NaN (a chunk may hold NaN bit patterns).
fn same_points(a: &[clio_storage::Point], b: &[clio_storage::Point]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| {
            x.ts == y.ts
                && match (&x.value, &y.value) {
                    (clio_storage::Value::Num(p), clio_storage::Value::Num(q)) => {
                        p.to_bits() == q.to_bits() || (p.is_nan() && q.is_nan())
                    }
                    (p, q) => p == q,
                }
        })
}

/// Write-ahead log records (a segment's body after its magic), as replay reads them after a
/// crash: never more than the bytes given.
pub fn log_records(data: &[u8]) {
    let (entries, valid) = clio_core::fuzzing::decode_log_segment(data);
    assert!(valid <= data.len(), "replay claims bytes past the end");
    assert!(
        entries <= data.len() / 8 + 1,
        "more records than bytes allow"
    );
}
