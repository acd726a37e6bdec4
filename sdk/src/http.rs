//! HTTP GET and JSON pointers for collectors.
//!
//! [`get`] sends its request through `wasi:http/outgoing-handler`, which the host answers only
//! for the hosts granted in the instance's `http_hosts` (others get `HTTP-request-denied`,
//! which comes back here as an error). Outside a collector component (native tests) it
//! returns an error: test the parsing of the body instead, with [`json_number`] and friends.
//!
//! ```
//! let doc: serde_json::Value = serde_json::from_str(r#"{"a": {"b": [1, "2.5", true]}}"#).unwrap();
//! assert_eq!(clio_sdk::http::json_number(&doc, "/a/b/0"), Some(1.0));
//! assert_eq!(clio_sdk::http::json_number(&doc, "/a/b/1"), Some(2.5));
//! assert_eq!(clio_sdk::http::json_number(&doc, "/a/b/2"), Some(1.0));
//! assert_eq!(clio_sdk::http::json_number(&doc, "/a/c"), None);
//! ```

use std::time::Duration;

use crate::error::{Error, Result};
use crate::value::{Value, parse_number};

/// An HTTP response: the status and the whole body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The body.
    pub body: Vec<u8>,
}

impl Response {
    /// The body parsed as JSON, after checking for a 2xx status.
    pub fn json(&self) -> Result<serde_json::Value> {
        self.ok()?;
        serde_json::from_slice(&self.body)
            .map_err(|e| Error::Failed(format!("http: the body is not JSON: {e}")))
    }

    /// The body as UTF-8 text, after checking for a 2xx status.
    pub fn text(&self) -> Result<&str> {
        self.ok()?;
        std::str::from_utf8(&self.body)
            .map_err(|e| Error::Failed(format!("http: the body is not UTF-8: {e}")))
    }

    fn ok(&self) -> Result<()> {
        if (200..300).contains(&self.status) {
            Ok(())
        } else {
            Err(Error::Failed(format!("http: status {}", self.status)))
        }
    }
}

/// The parts of an `http://` or `https://` URL a request needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    /// `true` for `https`.
    pub https: bool,
    /// `host` or `host:port`.
    pub authority: String,
    /// The path and query, at least `/`.
    pub path_with_query: String,
}

impl Url {
    /// Splits a URL; only `http` and `https` are accepted, with no user info and no fragment.
    pub fn parse(url: &str) -> Result<Url> {
        let bad = |why: &str| Error::Failed(format!("`{url}` is not a usable URL: {why}"));
        let (https, rest) = if let Some(r) = url.strip_prefix("http://") {
            (false, r)
        } else if let Some(r) = url.strip_prefix("https://") {
            (true, r)
        } else {
            return Err(bad("it must start with http:// or https://"));
        };
        let rest = rest.split('#').next().unwrap_or_default();
        let (authority, path) = match rest.find(['/', '?']) {
            Some(i) => rest.split_at(i),
            None => (rest, ""),
        };
        if authority.is_empty() {
            return Err(bad("no host"));
        }
        if authority.contains('@') {
            return Err(bad("user info is not supported"));
        }
        let path_with_query = match path {
            "" => "/".to_string(),
            p if p.starts_with('?') => format!("/{p}"),
            p => p.to_string(),
        };
        Ok(Url {
            https,
            authority: authority.to_string(),
            path_with_query,
        })
    }
}

/// Most bytes of a response body [`get`] keeps (a bigger one is an error, not a trap).
pub const MAX_BODY: usize = 8 << 20;

/// Sends `GET url` and reads the whole response. `timeout` bounds connecting, the first byte
/// and the gaps between bytes (the host clips it to what is left of the run's deadline).
pub fn get(url: &str, timeout: Duration) -> Result<Response> {
    let url = Url::parse(url)?;
    imp::get(&url, timeout)
}

/// The value at a JSON pointer (`/a/b/0`, RFC 6901) as a number: numbers as they are, strings
/// that hold a number (the numeric-like rule), `true`/`false` as 1/0. `None` otherwise.
pub fn json_number(doc: &serde_json::Value, pointer: &str) -> Option<f64> {
    match doc.pointer(pointer)? {
        serde_json::Value::Number(n) => n.as_f64().filter(|v| v.is_finite()),
        serde_json::Value::String(s) => parse_number(s),
        serde_json::Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
        _ => None,
    }
}

/// The value at a JSON pointer as a sample value: a number (as [`json_number`]) or else the
/// text of a string. `None` for a missing value, `null`, objects and arrays.
pub fn json_value(doc: &serde_json::Value, pointer: &str) -> Option<Value> {
    if let Some(v) = json_number(doc, pointer) {
        return Some(Value::Num(v));
    }
    match doc.pointer(pointer)? {
        serde_json::Value::String(s) => Some(Value::Str(s.clone())),
        _ => None,
    }
}

#[cfg(target_arch = "wasm32")]
mod imp {
    use std::time::Duration;

    use wasip2::http::outgoing_handler;
    use wasip2::http::types::{Fields, Method, OutgoingRequest, RequestOptions, Scheme};
    use wasip2::io::streams::StreamError;

    use super::{MAX_BODY, Response, Url};
    use crate::error::{Error, Result};

    pub(super) fn get(url: &Url, timeout: Duration) -> Result<Response> {
        let fail = |what: &str| Error::Failed(format!("http: {what} ({})", url.authority));
        let req = OutgoingRequest::new(Fields::new());
        req.set_method(&Method::Get)
            .map_err(|()| fail("bad method"))?;
        let scheme = if url.https {
            Scheme::Https
        } else {
            Scheme::Http
        };
        req.set_scheme(Some(&scheme))
            .map_err(|()| fail("bad scheme"))?;
        req.set_authority(Some(&url.authority))
            .map_err(|()| fail("bad host"))?;
        req.set_path_with_query(Some(&url.path_with_query))
            .map_err(|()| fail("bad path"))?;
        let opts = RequestOptions::new();
        let ns = u64::try_from(timeout.as_nanos()).unwrap_or(u64::MAX);
        // The host may refuse a timeout it cannot honour; its own deadline still applies.
        let _ = opts.set_connect_timeout(Some(ns));
        let _ = opts.set_first_byte_timeout(Some(ns));
        let _ = opts.set_between_bytes_timeout(Some(ns));
        let future = outgoing_handler::handle(req, Some(opts))
            .map_err(|e| Error::Failed(format!("http: GET {}: {e}", url.authority)))?;
        future.subscribe().block();
        let resp = match future.get() {
            Some(Ok(Ok(r))) => r,
            Some(Ok(Err(e))) => {
                return Err(Error::Failed(format!("http: GET {}: {e}", url.authority)));
            }
            Some(Err(())) | None => return Err(fail("no response")),
        };
        let status = resp.status();
        let body = resp.consume().map_err(|()| fail("no body"))?;
        let stream = body.stream().map_err(|()| fail("no body stream"))?;
        let mut out = Vec::new();
        loop {
            match stream.blocking_read(64 * 1024) {
                Ok(chunk) => {
                    if out.len() + chunk.len() > MAX_BODY {
                        return Err(fail("the body is larger than 8 MiB"));
                    }
                    out.extend_from_slice(&chunk);
                }
                Err(StreamError::Closed) => break,
                Err(StreamError::LastOperationFailed(e)) => {
                    return Err(Error::Failed(format!(
                        "http: reading the body from {}: {}",
                        url.authority,
                        e.to_debug_string()
                    )));
                }
            }
        }
        drop(stream);
        Ok(Response { status, body: out })
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod imp {
    use std::time::Duration;

    use super::{Response, Url};
    use crate::error::{Error, Result};

    pub(super) fn get(url: &Url, _timeout: Duration) -> Result<Response> {
        Err(Error::Failed(format!(
            "http: GET {} needs a collector component (wasi:http); natively there is none",
            url.authority
        )))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn urls() {
        let u = Url::parse("http://127.0.0.1:8080/a/b?x=1#frag").unwrap();
        assert_eq!(
            u,
            Url {
                https: false,
                authority: "127.0.0.1:8080".into(),
                path_with_query: "/a/b?x=1".into()
            }
        );
        assert_eq!(Url::parse("https://h").unwrap().path_with_query, "/");
        assert_eq!(Url::parse("http://h?q").unwrap().path_with_query, "/?q");
        assert!(Url::parse("https://h").unwrap().https);
        assert!(Url::parse("ftp://h/").is_err());
        assert!(Url::parse("http:///x").is_err());
        assert!(Url::parse("http://u:p@h/").is_err());
    }

    #[test]
    fn pointers() {
        let doc: serde_json::Value =
            serde_json::from_str(r#"{"t": 21.5, "s": "on", "n": null, "a/b": {"~": "7"}}"#)
                .unwrap();
        assert_eq!(json_value(&doc, "/t"), Some(Value::Num(21.5)));
        assert_eq!(json_value(&doc, "/s"), Some(Value::Str("on".into())));
        assert_eq!(json_value(&doc, "/n"), None);
        assert_eq!(json_value(&doc, ""), None); // the whole object
        assert_eq!(json_number(&doc, "/a~1b/~0"), Some(7.0)); // RFC 6901 escapes
        assert!(get("http://127.0.0.1:1/", Duration::from_secs(1)).is_err());
    }

    #[test]
    fn responses() {
        let r = Response {
            status: 200,
            body: br#"{"x": 1}"#.to_vec(),
        };
        assert_eq!(r.json().unwrap()["x"], 1);
        let r = Response {
            status: 503,
            body: b"{}".to_vec(),
        };
        assert!(r.json().unwrap_err().to_string().contains("503"));
        assert!(r.text().is_err());
        let r = Response {
            status: 200,
            body: b"not json".to_vec(),
        };
        assert!(r.json().is_err());
        assert_eq!(r.text().unwrap(), "not json");
    }
}
