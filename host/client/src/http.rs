//! The HTTP client: typed calls for every endpoint of Clio's HTTP API, over one pool of
//! keep-alive connections.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use clio_lineproto::Precision;
use clio_storage::{Point, SeriesFilter, SeriesId, SeriesInfo, SeriesKey, SeriesUpdate};
use http_body_util::{BodyExt, Full, Limited};
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, StatusCode, Uri};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value as Json;

use crate::error::{Error, Result};
use crate::types::{Health, PointsQuery, ReadAnswer, WritePoint, WriteReport, parse_last};

/// Answers larger than this are refused (a point query is capped by the server at 5000
/// points, far below it; this only guards against talking to something that is not Clio).
const MAX_RESPONSE_BYTES: usize = 256 << 20;

/// A client of Clio's HTTP API (default `http://127.0.0.1:10164`).
///
/// Cheap to clone: clones share one connection pool, and connections are kept alive
/// between requests. Concurrent requests open as many connections as they need.
#[derive(Debug, Clone)]
pub struct HttpClient {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    /// `http://host:port` plus an optional path prefix, without the trailing slash.
    base: String,
    /// `Authorization: Token ...` sent with every request (marked sensitive).
    auth: Option<HeaderValue>,
    /// How long one request may take, answer included; `None`: no limit.
    timeout: Option<Duration>,
}

/// How long a request may take by default (as [`crate::TcpOptions::request_timeout`]).
pub const DEFAULT_HTTP_REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

impl HttpClient {
    /// A client of the server at `base_url`, such as `http://127.0.0.1:10164` (a bare
    /// `host:port` means `http://host:port`; `https://` checks the server against the
    /// system's CA store). Nothing is connected until the first request, and only requests
    /// need a Tokio runtime.
    pub fn new(base_url: &str) -> Result<Self> {
        Self::with_ca_file(base_url, None)
    }

    /// [`HttpClient::new`] trusting the certificates of `ca_file` (PEM) for an `https://`
    /// server (a private authority or a self-signed certificate).
    pub fn with_ca_file(base_url: &str, ca_file: Option<&std::path::Path>) -> Result<Self> {
        let invalid = |reason: &str| Error::InvalidAddress {
            address: base_url.to_owned(),
            reason: reason.to_owned(),
        };
        let given = base_url.trim();
        if given.is_empty() {
            return Err(invalid("empty"));
        }
        let with_scheme = if given.contains("://") {
            given.to_owned()
        } else {
            format!("http://{given}")
        };
        // Paths are appended to the base, so it keeps no trailing slash.
        let base = with_scheme.trim_end_matches('/').to_owned();
        if base.ends_with(':') {
            return Err(invalid("no host"));
        }
        let uri: Uri = base.parse().map_err(|e| invalid(&format!("{e}")))?;
        let https = match uri.scheme_str() {
            Some("http") => false,
            Some("https") => true,
            _ => return Err(invalid("expected http://host:port or https://host:port")),
        };
        if ca_file.is_some() && !https {
            return Err(invalid("a CA file is for https:// servers"));
        }
        if uri.host().is_none_or(str::is_empty) {
            return Err(invalid("no host"));
        }
        if uri.query().is_some() {
            return Err(invalid("a base URL cannot have a query string"));
        }
        let mut connector = HttpConnector::new();
        // Requests are small and latency matters more than packet count.
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(Duration::from_secs(10)));
        connector.enforce_http(false);
        // The roots are read only when the server asks for TLS.
        let tls = if https {
            crate::tls::client_config(ca_file)?
        } else {
            crate::tls::unused_config()?
        };
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(connector);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(usize::MAX)
            .build(connector);
        Ok(HttpClient {
            client,
            base,
            auth: None,
            timeout: Some(DEFAULT_HTTP_REQUEST_TIMEOUT),
        })
    }

    /// Sends `Authorization: Token <token>` with every request (a server with
    /// `[auth] enabled`); an empty token sends nothing.
    pub fn with_token(mut self, token: &str) -> Result<Self> {
        let token = token.trim();
        if token.is_empty() {
            self.auth = None;
            return Ok(self);
        }
        let mut v = HeaderValue::from_str(&format!("Token {token}"))
            .map_err(|_| Error::InvalidRequest("the token is not valid header text".into()))?;
        v.set_sensitive(true);
        self.auth = Some(v);
        Ok(self)
    }

    /// Sets how long one request may take, answer included (default
    /// [`DEFAULT_HTTP_REQUEST_TIMEOUT`]); past it the request fails with [`Error::Timeout`].
    /// `None` waits as long as the server takes (for requests the server bounds itself, such
    /// as a backup).
    pub fn with_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.timeout = timeout;
        self
    }

    /// The base URL requests go to.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    fn uri(&self, path_and_query: &str) -> Result<Uri> {
        format!("{}{path_and_query}", self.base)
            .parse()
            .map_err(|e| Error::InvalidRequest(format!("bad URL path `{path_and_query}`: {e}")))
    }

    /// Sends one request and returns the status and body of a 2xx answer; any other status
    /// becomes [`Error::Server`] with the server's message.
    pub async fn send(
        &self,
        method: Method,
        path_and_query: &str,
        content_type: Option<&'static str>,
        body: Bytes,
    ) -> Result<(StatusCode, Bytes)> {
        let mut req = Request::builder()
            .method(method)
            .uri(self.uri(path_and_query)?)
            .body(Full::new(body))
            .map_err(|e| Error::InvalidRequest(e.to_string()))?;
        if let Some(ct) = content_type {
            req.headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static(ct));
        }
        if let Some(auth) = &self.auth {
            req.headers_mut()
                .insert(hyper::header::AUTHORIZATION, auth.clone());
        }
        let exchange = async {
            let resp = self
                .client
                .request(req)
                .await
                .map_err(|e| Error::Transport(error_chain(&e)))?;
            let status = resp.status();
            let body = Limited::new(resp.into_body(), MAX_RESPONSE_BYTES)
                .collect()
                .await
                .map_err(|e| Error::Transport(format!("reading the answer: {e}")))?
                .to_bytes();
            Ok::<_, Error>((status, body))
        };
        // A server that accepts and never answers would otherwise hold the caller for ever.
        let (status, body) = match self.timeout {
            None => exchange.await?,
            Some(t) => tokio::time::timeout(t, exchange)
                .await
                .map_err(|_| Error::Timeout(t))??,
        };
        if status.is_success() {
            Ok((status, body))
        } else {
            Err(server_error(status, &body))
        }
    }

    /// `GET path` and its body, for endpoints without a typed method (and for load
    /// generators that should not spend time parsing).
    pub async fn get_raw(&self, path_and_query: &str) -> Result<Bytes> {
        Ok(self
            .send(Method::GET, path_and_query, None, Bytes::new())
            .await?
            .1)
    }

    /// `GET path`, parsed as JSON.
    pub async fn get_json(&self, path_and_query: &str) -> Result<Json> {
        let body = self.get_raw(path_and_query).await?;
        parse_json(&body)
    }

    async fn send_json(&self, method: Method, path: &str, body: &Json) -> Result<Json> {
        let (_, body) = self
            .send(
                method,
                path,
                Some("application/json"),
                Bytes::from(body.to_string()),
            )
            .await?;
        parse_json(&body)
    }

    /// `POST /write?db=&precision=`: InfluxDB 1.x line protocol. The server writes the good
    /// lines of a partly bad body and answers 400 naming the first bad one.
    pub async fn write_lp(
        &self,
        db: &str,
        precision: Precision,
        body: impl Into<Bytes>,
    ) -> Result<()> {
        let q = query_string(&[("db", db.to_owned()), ("precision", precision.to_string())])?;
        self.send(
            Method::POST,
            &format!("/write?{q}"),
            Some("text/plain; charset=utf-8"),
            body.into(),
        )
        .await?;
        Ok(())
    }

    /// `POST /api/v2/write?bucket=&precision=`: the same body, InfluxDB 2.x style.
    pub async fn write_lp_v2(
        &self,
        bucket: &str,
        precision: Precision,
        body: impl Into<Bytes>,
    ) -> Result<()> {
        let q = query_string(&[
            ("bucket", bucket.to_owned()),
            ("precision", precision.to_string()),
        ])?;
        self.send(
            Method::POST,
            &format!("/api/v2/write?{q}"),
            Some("text/plain; charset=utf-8"),
            body.into(),
        )
        .await?;
        Ok(())
    }

    /// `POST /api/v1/points`: points by series id or key.
    pub async fn write_points(&self, points: &[WritePoint]) -> Result<WriteReport> {
        let body = Json::Array(points.iter().map(WritePoint::to_json).collect());
        let answer = self
            .send_json(Method::POST, "/api/v1/points", &body)
            .await?;
        decode(answer)
    }

    /// `GET /api/v1/series?measurement=&field=&<tag>=<v>`: every catalog entry passing
    /// `filter`, following the server's pages.
    pub async fn list_series(&self, filter: &SeriesFilter) -> Result<Vec<SeriesInfo>> {
        let mut params = Vec::new();
        if let Some(m) = &filter.measurement {
            params.push(("measurement", m.clone()));
        }
        if let Some(f) = &filter.field {
            params.push(("field", f.clone()));
        }
        for (k, v) in &filter.tags {
            if matches!(k.as_str(), "measurement" | "field" | "limit" | "cursor") {
                // The API reads these names as the filters and paging above, so such a tag
                // cannot be expressed; say so rather than filter on the wrong thing.
                return Err(Error::InvalidRequest(format!(
                    "cannot filter on a tag named `{k}` (the name is reserved by the API)"
                )));
            }
            params.push((k.as_str(), v.clone()));
        }
        params.push(("limit", LIST_PAGE.to_string()));
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut p = params.clone();
            if let Some(c) = &cursor {
                p.push(("cursor", c.clone()));
            }
            let page: SeriesPageJson = decode(
                self.get_json(&format!("/api/v1/series?{}", query_string(&p)?))
                    .await?,
            )?;
            out.extend(page.series);
            match page.next {
                Some(c) => cursor = Some(c),
                None => return Ok(out),
            }
        }
    }

    /// The series whose key is exactly `key`, if the server has one.
    pub async fn find_series(&self, key: &SeriesKey) -> Result<Option<SeriesInfo>> {
        let filter = SeriesFilter {
            measurement: Some(key.measurement().to_owned()),
            tags: key.tags_owned(),
            field: Some(key.field().to_owned()),
        };
        // The filter also passes series with more tags than `key`; keep the exact one.
        Ok(self
            .list_series(&filter)
            .await?
            .into_iter()
            .find(|s| s.key.as_ref() == Some(key)))
    }

    /// `GET /api/v1/series/{id}`.
    pub async fn get_series(&self, id: SeriesId) -> Result<SeriesInfo> {
        decode(self.get_json(&format!("/api/v1/series/{id}")).await?)
    }

    /// `PUT /api/v1/series/{id}`: changes retention or metadata; returns the new entry.
    pub async fn update_series(&self, id: SeriesId, update: &SeriesUpdate) -> Result<SeriesInfo> {
        let body =
            serde_json::to_value(update).map_err(|e| Error::InvalidRequest(e.to_string()))?;
        let answer = self
            .send_json(Method::PUT, &format!("/api/v1/series/{id}"), &body)
            .await?;
        decode(answer)
    }

    /// `DELETE /api/v1/series/{id}`: removes the series and all its data.
    pub async fn delete_series(&self, id: SeriesId) -> Result<()> {
        self.send(
            Method::DELETE,
            &format!("/api/v1/series/{id}"),
            None,
            Bytes::new(),
        )
        .await?;
        Ok(())
    }

    /// The path of a point query (for load generators that pre-build their requests).
    pub fn points_path(id: SeriesId, query: &PointsQuery) -> Result<String> {
        let q = query_string(&query.params())?;
        Ok(if q.is_empty() {
            format!("/api/v1/series/{id}/points")
        } else {
            format!("/api/v1/series/{id}/points?{q}")
        })
    }

    /// `GET /api/v1/series/{id}/points`: the newest N or a range, raw or as trends.
    pub async fn read_points(&self, id: SeriesId, query: &PointsQuery) -> Result<ReadAnswer> {
        let answer = self.get_json(&Self::points_path(id, query)?).await?;
        ReadAnswer::from_json(&answer)
    }

    /// `GET /api/v1/last?series=1,2`: the newest point of each series (`None` for a series
    /// without data).
    pub async fn last(&self, ids: &[SeriesId]) -> Result<BTreeMap<SeriesId, Option<Point>>> {
        if ids.is_empty() {
            return Err(Error::InvalidRequest("name at least one series".into()));
        }
        let list: Vec<String> = ids.iter().map(ToString::to_string).collect();
        let answer = self
            .get_json(&format!("/api/v1/last?series={}", list.join(",")))
            .await?;
        parse_last(&answer)
    }

    /// `GET /api/v1/series/{id}/fn/{name}?args=..&at=..`: evaluates a history function;
    /// returns the `value` (a number, a string or null).
    pub async fn evaluate(
        &self,
        id: SeriesId,
        function: &str,
        args: &str,
        at: Option<i64>,
    ) -> Result<Json> {
        if function.is_empty()
            || !function
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        {
            return Err(Error::InvalidRequest(format!(
                "function name `{function}` must be letters, digits, `_`, `-` or `.`"
            )));
        }
        let mut params = vec![("args", args.to_string())];
        if let Some(at) = at {
            params.push(("at", at.to_string()));
        }
        let q = query_string(&params)?;
        let answer = self
            .get_json(&format!("/api/v1/series/{id}/fn/{function}?{q}"))
            .await?;
        match answer {
            Json::Object(mut o) => Ok(o.remove("value").unwrap_or(Json::Null)),
            other => Err(Error::Decode(format!(
                "expected {{\"value\": ..}}, got {other}"
            ))),
        }
    }

    /// `GET /api/v1/functions`: every loaded history function (name, description,
    /// version, params).
    pub async fn functions(&self) -> Result<Json> {
        self.get_json("/api/v1/functions").await
    }

    /// `GET /health`. A server that answers 503 is reported as [`Error::Server`].
    pub async fn health(&self) -> Result<Health> {
        decode(self.get_json("/health").await?)
    }

    /// `GET /metrics`: Prometheus text.
    pub async fn metrics(&self) -> Result<String> {
        let body = self.get_raw("/metrics").await?;
        String::from_utf8(body.to_vec()).map_err(|e| Error::Decode(e.to_string()))
    }

    /// `GET /ping` (InfluxDB's liveness probe).
    pub async fn ping(&self) -> Result<()> {
        self.get_raw("/ping").await.map(drop)
    }
}

/// `a=1&b=x%20y`.
fn query_string(params: &[(&str, String)]) -> Result<String> {
    serde_urlencoded::to_string(params).map_err(|e| Error::InvalidRequest(e.to_string()))
}

fn parse_json(body: &[u8]) -> Result<Json> {
    serde_json::from_slice(body).map_err(|e| {
        Error::Decode(format!(
            "not JSON ({e}): {}",
            String::from_utf8_lossy(&body[..body.len().min(200)])
        ))
    })
}

/// Entries asked for per listing page.
const LIST_PAGE: usize = 10_000;

/// One page of `GET /api/v1/series`.
#[derive(serde::Deserialize)]
struct SeriesPageJson {
    series: Vec<SeriesInfo>,
    next: Option<String>,
}

fn decode<T: serde::de::DeserializeOwned>(v: Json) -> Result<T> {
    serde_json::from_value(v).map_err(|e| Error::Decode(e.to_string()))
}

/// The server's message from an error body: `{"error"}` (Clio, InfluxDB 1.x),
/// `{"message"}` (InfluxDB 2.x), or the text itself.
fn server_error(status: StatusCode, body: &[u8]) -> Error {
    let parsed: Option<Json> = serde_json::from_slice(body).ok();
    let message = parsed
        .as_ref()
        .and_then(|v| v.get("error").or_else(|| v.get("message")))
        .and_then(Json::as_str)
        .map(str::to_owned)
        .unwrap_or_else(|| {
            let text = String::from_utf8_lossy(body).trim().to_owned();
            if text.is_empty() {
                status.canonical_reason().unwrap_or("error").to_owned()
            } else {
                text
            }
        });
    Error::Server {
        status: status.as_u16(),
        message,
    }
}

/// An error and its causes on one line ("client error (Connect): connection refused"),
/// since hyper's top-level message alone rarely says what went wrong.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let text = c.to_string();
        if !s.contains(&text) {
            s.push_str(": ");
            s.push_str(&text);
        }
        cur = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls() {
        assert_eq!(
            HttpClient::new("http://127.0.0.1:10164/")
                .unwrap()
                .base_url(),
            "http://127.0.0.1:10164"
        );
        assert_eq!(
            HttpClient::new("localhost:1").unwrap().base_url(),
            "http://localhost:1"
        );
        assert_eq!(
            HttpClient::new("http://h:1/prefix").unwrap().base_url(),
            "http://h:1/prefix"
        );
        for bad in ["", "ftp://h", "http://h:1/?a=b", "http://"] {
            assert!(HttpClient::new(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn points_paths_are_encoded() {
        let p =
            HttpClient::points_path(SeriesId(4), &PointsQuery::last(3).cursor("a b&c")).unwrap();
        assert_eq!(p, "/api/v1/series/4/points?last=3&cursor=a+b%26c");
    }

    #[test]
    fn server_errors_keep_the_message() {
        let e = server_error(StatusCode::BAD_REQUEST, br#"{"error":"bad line 3"}"#);
        assert_eq!(e.status(), Some(400));
        assert_eq!(e.to_string(), "server answered 400: bad line 3");
        let e = server_error(
            StatusCode::BAD_REQUEST,
            br#"{"code":"invalid","message":"m"}"#,
        );
        assert!(e.to_string().ends_with(": m"));
        let e = server_error(StatusCode::BAD_GATEWAY, b"");
        assert!(e.to_string().ends_with("Bad Gateway"), "{e}");
        assert!(server_error(StatusCode::NOT_FOUND, b"nope").is_not_found());
    }

    /// A closed port is a transport error naming the cause, not a hang or a panic.
    #[tokio::test]
    async fn refused_connection_is_a_transport_error() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let c = HttpClient::new(&format!("http://{addr}")).unwrap();
        let e = c.ping().await.unwrap_err();
        assert!(matches!(e, Error::Transport(_)), "{e}");
    }

    /// A server that accepts and never answers used to hold the caller (and every `clio`
    /// command talking to it) for ever: the request now fails after its timeout.
    #[tokio::test]
    async fn a_server_that_never_answers_times_out() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let silent = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((s, _)) = listener.accept().await {
                held.push(s);
            }
        });
        let c = HttpClient::new(&format!("http://{addr}"))
            .unwrap()
            .with_timeout(Some(Duration::from_millis(300)));
        let started = std::time::Instant::now();
        let r = tokio::time::timeout(Duration::from_secs(10), c.ping()).await;
        let e = r.expect("the request was not bounded").unwrap_err();
        assert!(matches!(e, Error::Timeout(_)), "{e}");
        assert!(started.elapsed() >= Duration::from_millis(300));
        silent.abort();
    }
}
