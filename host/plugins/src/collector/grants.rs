//! What a collector instance may reach: HTTP hosts (checked in the `wasi:http` send hook) and
//! TCP addresses (checked by the WASI socket address check). Everything else is refused, and
//! functions and policies get the empty grant.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clio_config::HostGrant;
use wasmtime_wasi::sockets::SocketAddrUse;
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody, WasiHttpHooks};

/// The network grants of one collector instance, and the deadline of its current call.
#[derive(Debug, Clone, Default)]
pub(crate) struct NetGrants {
    pub(crate) http_hosts: Arc<[HostGrant]>,
    pub(crate) tcp: Arc<[SocketAddr]>,
    /// When the current call's time is up: HTTP timeouts are clipped to it.
    pub(crate) deadline: Option<Instant>,
}

impl NetGrants {
    pub(crate) fn has_tcp(&self) -> bool {
        !self.tcp.is_empty()
    }

    /// The socket address check: connections only to granted addresses; the implicit bind
    /// before a connect (wildcard address, port 0) is allowed; listening and UDP never.
    pub(crate) fn tcp_check(
        &self,
    ) -> impl Fn(SocketAddr, SocketAddrUse) -> bool + Send + Sync + 'static {
        let tcp = Arc::clone(&self.tcp);
        move |addr, usage| match usage {
            SocketAddrUse::TcpConnect => tcp.contains(&addr),
            SocketAddrUse::TcpBind => addr.ip().is_unspecified() && addr.port() == 0,
            _ => false,
        }
    }

    /// Whether a request to this authority (host as written, port or the scheme's default)
    /// is granted.
    pub(crate) fn http_allows(&self, host: &str, port: u16) -> bool {
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        self.http_hosts.iter().any(|g| g.allows(&host, port))
    }

    fn remaining(&self) -> Duration {
        self.deadline
            .map(|d| d.saturating_duration_since(Instant::now()))
            .unwrap_or(Duration::ZERO)
            .max(Duration::from_millis(1))
    }
}

type SendFuture = Box<
    dyn Future<
            Output = Result<
                (
                    http::Response<WasiBody>,
                    Box<dyn Future<Output = Result<(), HttpError>> + Send>,
                ),
                HttpError,
            >,
        > + Send,
>;

impl WasiHttpHooks for NetGrants {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        fut: Box<dyn Future<Output = Result<(), HttpError>> + Send>,
    ) -> SendFuture {
        let uri = request.uri();
        let tls = uri.scheme() == Some(&http::uri::Scheme::HTTPS);
        let granted = uri.authority().is_some_and(|a| {
            let port = a.port_u16().unwrap_or(if tls { 443 } else { 80 });
            self.http_allows(a.host(), port)
        });
        if !granted {
            tracing::debug!(uri = %uri, "collector HTTP request to a host it was not granted refused");
            return Box::new(async { Err(HttpError::HttpRequestDenied) });
        }
        // Every timeout ends with the call: a slow server cannot hold the instance longer.
        let left = self.remaining();
        let clip = |d: Option<Duration>| Some(d.map_or(left, |d| d.min(left)));
        let options = RequestOptions {
            connect_timeout: clip(options.and_then(|o| o.connect_timeout)),
            first_byte_timeout: clip(options.and_then(|o| o.first_byte_timeout)),
            between_bytes_timeout: clip(options.and_then(|o| o.between_bytes_timeout)),
        };
        _ = fut;
        Box::new(async move {
            use http_body_util::BodyExt;
            let (res, io) =
                wasmtime_wasi_http::default_send_request(request, Some(options)).await?;
            Ok((
                res.map(BodyExt::boxed_unsync),
                Box::new(io) as Box<dyn Future<Output = _> + Send>,
            ))
        })
    }
}

/// Per-store state of a collector instance.
#[derive(Debug, Clone)]
pub(crate) struct CollectorCtx {
    /// The instance name (`[[collectors]] name`).
    pub(crate) name: String,
    /// Log lines left in the current run.
    pub(crate) log_budget: u32,
}

/// Log lines a collector may write per run.
pub(crate) const LOG_LINES_PER_RUN: u32 = 100;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_granted_hosts_and_addresses_pass() {
        let net = NetGrants {
            http_hosts: vec![
                HostGrant::parse("127.0.0.1:8080").unwrap(),
                HostGrant::parse("metrics.local").unwrap(),
            ]
            .into(),
            tcp: vec!["127.0.0.1:502".parse().unwrap()].into(),
            deadline: None,
        };
        assert!(net.http_allows("127.0.0.1", 8080));
        assert!(!net.http_allows("127.0.0.1", 8081));
        assert!(net.http_allows("METRICS.local", 443));
        assert!(!net.http_allows("other", 80));
        let check = net.tcp_check();
        assert!(check(
            "127.0.0.1:502".parse().unwrap(),
            SocketAddrUse::TcpConnect
        ));
        assert!(!check(
            "127.0.0.1:503".parse().unwrap(),
            SocketAddrUse::TcpConnect
        ));
        assert!(check("0.0.0.0:0".parse().unwrap(), SocketAddrUse::TcpBind));
        assert!(!check(
            "0.0.0.0:80".parse().unwrap(),
            SocketAddrUse::TcpBind
        ));
        assert!(!check(
            "127.0.0.1:502".parse().unwrap(),
            SocketAddrUse::TcpListen
        ));
        let none = NetGrants::default();
        assert!(!none.http_allows("127.0.0.1", 8080));
        assert!(!none.has_tcp());
    }
}
