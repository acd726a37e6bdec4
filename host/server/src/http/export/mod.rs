//! `GET /api/v1/export`: the points of many series over a time range as CSV or line
//! protocol, streamed (docs/glass-ai.md, "Export").
//!
//! Everything that can be refused is refused before the first byte, as a 4xx naming the
//! parameter: the parameters ([`params`]), the role, and every series named by id, key or
//! sensor (403 outside the scope, 404 when unknown). Series chosen by a pattern
//! (`measurement`, `field`, `tag.<name>`) are the scope's only, as in the series listing.
//! Then a producer on a blocking thread ([`produce`]) reads series by series, page by page,
//! and the body ([`body`]) sends what it formats; an error after the first byte ends the body
//! with the line `# error: <message>`.

mod body;
mod format;
mod params;
mod produce;

use std::collections::HashSet;
use std::time::Instant;

use axum::extract::RawQuery;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use clio_storage::SeriesId;

use super::{error_response, params as query_pairs};
use crate::door::Gate;
use crate::error::ApiError;
use params::{ExportQuery, Format};
use produce::Source;

/// Buffers waiting in the channel between producer and body (each up to
/// [`produce::BUFFER_BYTES`]).
const CHANNEL_BUFFERS: usize = 4;

/// The series of the export, in order: those named (ids, keys, sensors, as given), then
/// those of the pattern by ascending id; each once.
async fn choose(gate: &Gate, q: &ExportQuery) -> Result<Vec<SeriesId>, ApiError> {
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    let mut add = |id: SeriesId, out: &mut Vec<SeriesId>| {
        if seen.insert(id) {
            out.push(id);
        }
    };
    for &id in &q.select.ids {
        // 403 outside the scope, 404 when it does not exist.
        if gate.series(id)?.is_none() {
            return Err(ApiError::NotFound(format!("series: series {id} not found")));
        }
        add(id, &mut out);
    }
    for key in &q.select.keys {
        match gate.series_id(key)? {
            Some(id) => add(id, &mut out),
            None => return Err(ApiError::NotFound(format!("key: no series `{key}`"))),
        }
    }
    for sensor in &q.select.sensors {
        let (_, id) = super::glass::sensor_series(gate, sensor)
            .await
            .map_err(|e| match e {
                ApiError::NotFound(m) => ApiError::NotFound(format!("sensor: {m}")),
                ApiError::BadRequest(m) => ApiError::BadRequest(format!("sensor: {m}")),
                other => other,
            })?;
        // The sensor's series may be known only by its key: check the scope by id too.
        if gate.series(id)?.is_none() {
            return Err(ApiError::NotFound(format!(
                "sensor: {sensor:?}: series {id} not found"
            )));
        }
        add(id, &mut out);
    }
    if let Some(filter) = &q.select.pattern {
        let mut matched = Vec::new();
        gate.visit_series(filter, |s| matched.push(s.id))?;
        for id in matched {
            add(id, &mut out);
        }
    }
    Ok(out)
}

/// `GET /api/v1/export?series=|key=|sensor=|measurement=&field=&tag.<k>=&from=&to=[&step=&agg=]
/// [&format=csv|lp][&precision=ms|us|ns]`.
pub(super) async fn export(gate: Gate, RawQuery(raw): RawQuery) -> Response {
    let started = Instant::now();
    let prepared = async {
        let pairs: Vec<(String, String)> = query_pairs(raw)?
            .into_iter()
            .filter(|(k, _)| k != "u" && k != "p")
            .collect();
        let q = params::parse(&pairs)?;
        gate.require(crate::auth::Role::Read)?;
        let ids = choose(&gate, &q).await?;
        // One query slot for the whole export: long exports count against
        // `max_concurrent_queries` like any read.
        let slot = gate.query_slot().await?;
        Ok::<_, ApiError>((q, ids, slot))
    }
    .await;
    let (q, ids, slot) = match prepared {
        Ok(v) => v,
        Err(e) => {
            gate.observe("export", started, Err(&e), &e);
            return error_response(&e);
        }
    };
    let source = Source::for_step(q.step, gate.trend_intervals());
    let header = match q.format {
        Format::Csv => Some(format::csv_header(match q.step {
            None => "value",
            Some(_) => q.agg.name(),
        })),
        Format::Lp => None,
    };
    let content_type = match q.format {
        Format::Csv => "text/csv; charset=utf-8",
        Format::Lp => "text/plain; charset=utf-8",
    };
    let (tx, rx) = tokio::sync::mpsc::channel(CHANNEL_BUFFERS);
    let rt = tokio::runtime::Handle::current();
    let producer_gate = gate.clone();
    let source_text = source.describe();
    tokio::task::spawn_blocking(move || {
        let _slot = slot;
        let outcome = produce::run(&producer_gate, &rt, &q, &ids, source, header, tx);
        let detail = format!(
            "export: {} series, {} lines, {} bytes{}",
            outcome.series,
            outcome.lines,
            outcome.bytes,
            if outcome.gone { " (client left)" } else { "" }
        );
        match &outcome.error {
            None => producer_gate.observe("export", started, Ok(()), &detail),
            Some(e) => producer_gate.observe("export", started, Err(e), &detail),
        }
    });
    let mut resp = (StatusCode::OK, body::channel_body(rx)).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(&source_text) {
        h.insert("x-clio-export-source", v);
    }
    resp
}
