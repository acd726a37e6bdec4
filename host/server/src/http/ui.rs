//! The operator's page at `/`: a series browser, a plot (raw points for short ranges, trend
//! buckets with a min/max band for long ones, drag to zoom, live follow), history functions
//! and status pages. One HTML file and the vendored uPlot (MIT, `ui/VENDORED.md`), embedded
//! in the binary: no build step, no network at run time. It reads the same JSON API as every
//! other client.

use axum::http::header;
use axum::response::{IntoResponse, Response};

const INDEX: &str = include_str!("ui/index.html");
const UPLOT_JS: &str = include_str!("ui/uPlot.iife.min.js");
const UPLOT_CSS: &str = include_str!("ui/uPlot.min.css");

fn asset(content_type: &'static str, body: &'static str, cache: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, cache),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
        .into_response()
}

/// `GET /`: the page.
pub(super) async fn index() -> Response {
    asset("text/html; charset=utf-8", INDEX, "no-cache")
}

/// `GET /ui/uPlot.iife.min.js`.
pub(super) async fn uplot_js() -> Response {
    asset(
        "text/javascript; charset=utf-8",
        UPLOT_JS,
        "public, max-age=86400",
    )
}

/// `GET /ui/uPlot.min.css`.
pub(super) async fn uplot_css() -> Response {
    asset(
        "text/css; charset=utf-8",
        UPLOT_CSS,
        "public, max-age=86400",
    )
}
