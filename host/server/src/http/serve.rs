//! The HTTP accept loop: hyper's HTTP/1 connection with a header timeout (which also bounds
//! an idle kept-alive connection), a bound on open connections, and graceful shutdown.
//! (`axum::serve` has neither timeouts nor a limit: slow or idle clients could hold file
//! descriptors until none were left.)

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::door::AppState;

/// Serves `app` on `listener` until `stop`, then lets open requests finish.
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    state: AppState,
    stop: CancellationToken,
    tls: Option<Arc<crate::tls::Tls>>,
) {
    let server = &state.config().server;
    let max = server.http_max_connections;
    let header_timeout = Duration::from_secs(server.http_header_timeout);
    let slots = Arc::new(Semaphore::new(max));
    let mut last_warned: Option<Instant> = None;
    loop {
        let (socket, peer) = tokio::select! {
            _ = stop.cancelled() => break,
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    tracing::warn!(error = %e, "cannot accept an HTTP connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let Ok(permit) = Arc::clone(&slots).try_acquire_owned() else {
            state.metrics().http_connections_refused.inc();
            if last_warned.is_none_or(|t| t.elapsed() >= Duration::from_secs(10)) {
                last_warned = Some(Instant::now());
                tracing::warn!(
                    limit = max,
                    %peer,
                    "HTTP connection limit reached (server.http_max_connections); new connections are closed"
                );
            }
            drop(socket);
            continue;
        };
        let _ = socket.set_nodelay(true);
        // The door's middleware reads the client's address from the request.
        let service = TowerToHyperService::new(tower::ServiceExt::map_request(
            app.clone(),
            move |mut req: axum::http::Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(crate::door::http::Peer(peer));
                req
            },
        ));
        let st = state.clone();
        let stop = stop.clone();
        let tls = tls.as_ref().map(|t| t.acceptor());
        tokio::spawn(async move {
            let _permit = permit;
            st.metrics().http_connections.inc();
            match tls {
                None => {
                    serve_conn(
                        TokioIo::new(socket),
                        service,
                        header_timeout,
                        &st,
                        peer,
                        stop,
                    )
                    .await
                }
                Some(acceptor) => {
                    // The handshake is bounded like the headers that would follow it.
                    match tokio::time::timeout(header_timeout, acceptor.accept(socket)).await {
                        Ok(Ok(tls)) => {
                            serve_conn(TokioIo::new(tls), service, header_timeout, &st, peer, stop)
                                .await
                        }
                        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                }
            }
            st.metrics().http_connections.dec();
        });
    }
    // Open connections finish their requests (the caller bounds the wait).
    let _ = slots
        .acquire_many(u32::try_from(max).unwrap_or(u32::MAX))
        .await;
}

/// Serves one connection (plain or TLS) until it ends or `stop`, then lets its open request
/// finish.
async fn serve_conn<IO, S>(
    io: TokioIo<IO>,
    service: S,
    header_timeout: Duration,
    st: &AppState,
    peer: std::net::SocketAddr,
    stop: CancellationToken,
) where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    S: hyper::service::HttpService<hyper::body::Incoming> + Send,
    S::Future: Send + 'static,
    S::ResBody: Send + 'static,
    <S::ResBody as hyper::body::Body>::Data: Send,
    <S::ResBody as hyper::body::Body>::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .serve_connection(io, service);
    let mut conn = std::pin::pin!(conn);
    let result = tokio::select! {
        r = conn.as_mut() => r,
        _ = stop.cancelled() => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = result {
        if e.is_timeout() {
            st.metrics()
                .http_timeouts
                .get_or_create(&crate::metrics::TimeoutLabels { kind: "header" })
                .inc();
            tracing::debug!(%peer, "HTTP connection closed: headers not received in time");
        } else {
            tracing::debug!(%peer, error = %e, "HTTP connection ended with an error");
        }
    }
}
