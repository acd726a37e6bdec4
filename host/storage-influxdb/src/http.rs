//! The v1 HTTP API: `/ping`, `/write` (line protocol, precision ms, optionally gzip) and
//! `/query` (InfluxQL, answers as JSON with millisecond epochs), with a timeout per request and
//! retries with backoff for failures that a later attempt may not meet.

use std::io::Write as _;
use std::time::Duration;

use bytes::Bytes;
use clio_storage::StorageError;
use http_body_util::{BodyExt, Full, Limited};
use hyper::header::{AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, StatusCode, Uri};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::Deserialize;
use serde_json::Value as Json;

use crate::options::{InfluxAuth, InfluxOptions};

/// Answers larger than this are refused: a read is bounded by what the engine asks for, and
/// this only guards memory against a misconfigured server.
const MAX_ANSWER_BYTES: usize = 1 << 30;

/// One statement's answer: its series (each a tag set) or its error.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct StatementResult {
    #[serde(default)]
    pub series: Vec<ResultSeries>,
    #[serde(default)]
    pub error: Option<String>,
    /// Set when the server cut the answer at its `max-row-limit`.
    #[serde(default)]
    pub partial: bool,
}

/// One series (tag set) of an answer.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ResultSeries {
    /// Tag values of a `GROUP BY` answer; a tag the series lacks has the value `""`.
    #[serde(default)]
    pub tags: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    pub columns: Vec<String>,
    #[serde(default)]
    pub values: Vec<Vec<Json>>,
}

impl ResultSeries {
    /// Position of a column.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == name)
    }
}

#[derive(Debug, Deserialize)]
struct QueryAnswer {
    #[serde(default)]
    results: Vec<StatementResult>,
    #[serde(default)]
    error: Option<String>,
}

/// The HTTP side of the backend: one keep-alive connection pool.
#[derive(Debug, Clone)]
pub(crate) struct Http {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    /// `http(s)://host:port` plus an optional path prefix, without a trailing slash.
    base: String,
    database: String,
    auth: Option<HeaderValue>,
    timeout: Duration,
    gzip: bool,
    retries: u32,
}

impl Http {
    pub(crate) fn new(o: &InfluxOptions) -> Result<Self, StorageError> {
        let base = o.url.trim().trim_end_matches('/').to_owned();
        let uri: Uri = base
            .parse()
            .map_err(|e| StorageError::InvalidInput(format!("influxdb url `{}`: {e}", o.url)))?;
        let https = match uri.scheme_str() {
            Some("http") => false,
            Some("https") => true,
            _ => {
                return Err(StorageError::InvalidInput(format!(
                    "influxdb url `{}`: expected http://host:port or https://host:port",
                    o.url
                )));
            }
        };
        if o.ca_file.is_some() && !https {
            return Err(StorageError::InvalidInput(format!(
                "influxdb url `{}`: ca_file is for https urls",
                o.url
            )));
        }
        if uri.host().is_none_or(str::is_empty) || uri.query().is_some() {
            return Err(StorageError::InvalidInput(format!(
                "influxdb url `{}`: expected http(s)://host:port[/prefix]",
                o.url
            )));
        }
        let auth = match &o.auth {
            InfluxAuth::None => None,
            InfluxAuth::Basic { username, password } => Some(format!(
                "Basic {}",
                base64(format!("{username}:{password}").as_bytes())
            )),
            // 2.x and 3.x accept `Token` on their v1 endpoints.
            InfluxAuth::Token(t) => Some(format!("Token {t}")),
        }
        .map(|s| {
            HeaderValue::from_str(&s).map_err(|_| {
                StorageError::InvalidInput("influxdb credentials contain invalid characters".into())
            })
        })
        .transpose()?;
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(o.timeout));
        // https checks the server against `ca_file` or the system's CA store; the roots
        // are only read when the url asks for TLS.
        let tls = if https {
            crate::tls::client_config(o.ca_file.as_deref())?
        } else {
            crate::tls::unused_config()?
        };
        connector.enforce_http(false);
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(connector);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .build(connector);
        Ok(Http {
            client,
            base,
            database: o.database.clone(),
            auth,
            timeout: o.timeout,
            gzip: o.gzip,
            retries: o.retries,
        })
    }

    /// `GET /ping`: 204 when the server is up.
    pub(crate) async fn ping(&self) -> Result<(), StorageError> {
        let (status, body) = self
            .send_retrying(Method::GET, "/ping", None, Bytes::new(), false)
            .await?;
        if status.is_success() {
            Ok(())
        } else {
            Err(unavailable(format!(
                "ping answered {status}: {}",
                String::from_utf8_lossy(&body)
            )))
        }
    }

    /// `POST /write` of line protocol with millisecond timestamps into `rp` (the database's
    /// default retention policy when `None`).
    pub(crate) async fn write(&self, rp: Option<&str>, body: String) -> Result<(), StorageError> {
        let mut q = vec![("db", self.database.as_str()), ("precision", "ms")];
        if let Some(rp) = rp {
            q.push(("rp", rp));
        }
        let path = format!("/write?{}", encode(&q));
        let (body, gzipped) = if self.gzip {
            (gzip(body.as_bytes())?, true)
        } else {
            (Bytes::from(body), false)
        };
        let content = Some("text/plain; charset=utf-8");
        let (status, answer) = self
            .send_retrying(Method::POST, &path, content, body, gzipped)
            .await?;
        if status.is_success() {
            return Ok(());
        }
        Err(status_error("write", status, &answer))
    }

    /// `POST /query` of one or more InfluxQL statements (`;`-separated); one result each.
    pub(crate) async fn query(&self, q: &str) -> Result<Vec<StatementResult>, StorageError> {
        let form = encode(&[("db", self.database.as_str()), ("epoch", "ms"), ("q", q)]);
        let (status, answer) = self
            .send_retrying(
                Method::POST,
                "/query",
                Some("application/x-www-form-urlencoded"),
                Bytes::from(form),
                false,
            )
            .await?;
        if !status.is_success() {
            return Err(status_error("query", status, &answer));
        }
        let parsed: QueryAnswer = serde_json::from_slice(&answer).map_err(|e| {
            StorageError::Other(format!(
                "influxdb query answer is not the expected JSON: {e}"
            ))
        })?;
        if let Some(e) = parsed.error {
            return Err(StorageError::InvalidInput(format!("influxdb query: {e}")));
        }
        for r in &parsed.results {
            if let Some(e) = &r.error {
                return Err(statement_error(e));
            }
            if r.partial {
                return Err(StorageError::Other(
                    "influxdb cut the answer at its max-row-limit ([http] max-row-limit); raise or remove the limit".into(),
                ));
            }
        }
        Ok(parsed.results)
    }

    /// Sends, retrying connection failures, timeouts and 5xx answers up to `retries` times
    /// (backoff 100 ms doubling): the engine retries too, but a brief hiccup should not cost a
    /// whole flush. Other answers come back as they are.
    async fn send_retrying(
        &self,
        method: Method,
        path: &str,
        content_type: Option<&'static str>,
        body: Bytes,
        gzipped: bool,
    ) -> Result<(StatusCode, Bytes), StorageError> {
        let mut backoff = Duration::from_millis(100);
        let mut attempt = 0;
        loop {
            let res = self
                .send_once(method.clone(), path, content_type, body.clone(), gzipped)
                .await;
            let retry = match &res {
                Err(_) => true,
                Ok((status, _)) => status.is_server_error(),
            };
            if !retry || attempt >= self.retries {
                return match res {
                    Ok((status, answer)) if status.is_server_error() => {
                        Err(status_error(path_name(path), status, &answer))
                    }
                    other => other,
                };
            }
            attempt += 1;
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(2));
        }
    }

    async fn send_once(
        &self,
        method: Method,
        path: &str,
        content_type: Option<&'static str>,
        body: Bytes,
        gzipped: bool,
    ) -> Result<(StatusCode, Bytes), StorageError> {
        let uri = format!("{}{path}", self.base);
        let mut req = Request::builder().method(method).uri(&uri);
        if let Some(ct) = content_type {
            req = req.header(CONTENT_TYPE, ct);
        }
        if gzipped {
            req = req.header(CONTENT_ENCODING, "gzip");
        }
        if let Some(a) = &self.auth {
            req = req.header(AUTHORIZATION, a.clone());
        }
        let req = req
            .body(Full::new(body))
            .map_err(|e| StorageError::Other(format!("influxdb request {uri}: {e}")))?;
        let fut = async {
            let resp = self
                .client
                .request(req)
                .await
                .map_err(|e| unavailable(format!("{uri}: {}", error_chain(&e))))?;
            let status = resp.status();
            let body = Limited::new(resp.into_body(), MAX_ANSWER_BYTES)
                .collect()
                .await
                .map_err(|e| unavailable(format!("{uri}: reading the answer: {e}")))?
                .to_bytes();
            Ok((status, body))
        };
        match tokio::time::timeout(self.timeout, fut).await {
            Ok(r) => r,
            Err(_) => Err(unavailable(format!(
                "{uri}: no answer within {:?}",
                self.timeout
            ))),
        }
    }
}

fn path_name(path: &str) -> &str {
    path.trim_start_matches('/')
        .split('?')
        .next()
        .unwrap_or("request")
}

fn unavailable(detail: String) -> StorageError {
    StorageError::Unavailable(format!("influxdb: {detail}"))
}

/// Maps an HTTP answer other than 2xx. Unreachable, overloaded, unauthorised or missing
/// database: `Unavailable`, so that the engine keeps the points and retries (an operator
/// fixes the credentials or creates the database; nothing is lost meanwhile). A 400 is the
/// server refusing the data itself: `InvalidInput` with its words.
fn status_error(what: &str, status: StatusCode, body: &[u8]) -> StorageError {
    let text = serde_json::from_slice::<Json>(body)
        .ok()
        .and_then(|j| j.get("error").and_then(Json::as_str).map(str::to_owned))
        .unwrap_or_else(|| String::from_utf8_lossy(body).trim().to_owned());
    match status {
        StatusCode::BAD_REQUEST | StatusCode::PAYLOAD_TOO_LARGE => {
            StorageError::InvalidInput(format!("influxdb refused the {what} ({status}): {text}"))
        }
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => unavailable(format!(
            "{what} not authorised ({status}): {text}; check token or username/password"
        )),
        _ => unavailable(format!("{what} answered {status}: {text}")),
    }
}

/// A statement's own error. "database not found" means an operator must create it (or the
/// DBRP mapping in 2.x): unavailable until then, like a server that is down.
fn statement_error(e: &str) -> StorageError {
    if e.contains("database not found") || e.contains("retention policy not found") {
        unavailable(e.to_owned())
    } else {
        StorageError::InvalidInput(format!("influxdb query: {e}"))
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}

fn encode(pairs: &[(&str, &str)]) -> String {
    // Only fails for non-string keys, which these are not.
    serde_urlencoded::to_string(pairs).unwrap_or_default()
}

fn gzip(data: &[u8]) -> Result<Bytes, StorageError> {
    // Fast level: line protocol compresses well already at level 1, and the flush waits.
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(data)
        .and_then(|()| enc.finish())
        .map(Bytes::from)
        .map_err(|e| StorageError::Other(format!("gzip: {e}")))
}

/// Standard base64 with padding, for the Basic authorization header (too small to warrant a
/// dependency).
fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (i, o) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(i.as_bytes()), o, "{i}");
        }
    }

    #[test]
    fn statuses_map_to_storage_errors() {
        assert!(matches!(
            status_error("write", StatusCode::BAD_REQUEST, br#"{"error":"partial write"}"#),
            StorageError::InvalidInput(m) if m.contains("partial write")
        ));
        assert!(matches!(
            status_error("write", StatusCode::UNAUTHORIZED, b"{}"),
            StorageError::Unavailable(_)
        ));
        assert!(matches!(
            status_error("query", StatusCode::SERVICE_UNAVAILABLE, b""),
            StorageError::Unavailable(_)
        ));
    }
}
