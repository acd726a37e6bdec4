//! The HTTP accept loop: hyper's HTTP/1 connection with a header timeout (which also bounds
//! an idle kept-alive connection), a write timeout (a client that stops reading its
//! response), a bound on open connections, and graceful shutdown.
//! (`axum::serve` has neither timeouts nor a limit: slow or idle clients could hold file
//! descriptors until none were left.)

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
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
    let write_timeout = Duration::from_secs(server.http_write_timeout);
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
        // Below TLS too, so a handshake or a response the client stops taking is bounded.
        let write_timeouts = state
            .metrics()
            .http_timeouts
            .get_or_create(&crate::metrics::TimeoutLabels { kind: "write" })
            .clone();
        let socket = WriteDeadline::new(socket, write_timeout, write_timeouts, peer);
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

/// A socket whose writes fail with `TimedOut` once one of them has waited `limit` for the
/// peer to take bytes. hyper has no write timeout: without this a client that sends a
/// request and never reads the answer holds its connection (and the response) for ever.
struct WriteDeadline<IO> {
    io: IO,
    limit: Duration,
    /// Armed when a write first finds the socket full; disarmed by any progress.
    stalled: Option<Pin<Box<tokio::time::Sleep>>>,
    timeouts: prometheus_client::metrics::counter::Counter,
    peer: std::net::SocketAddr,
}

impl<IO> WriteDeadline<IO> {
    fn new(
        io: IO,
        limit: Duration,
        timeouts: prometheus_client::metrics::counter::Counter,
        peer: std::net::SocketAddr,
    ) -> Self {
        WriteDeadline {
            io,
            limit,
            stalled: None,
            timeouts,
            peer,
        }
    }

    /// Maps one poll of a write-side operation: progress disarms the deadline, `Pending`
    /// arms it, and a deadline passed turns `Pending` into `TimedOut`.
    fn bound<T>(&mut self, cx: &mut Context<'_>, r: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        if r.is_ready() {
            self.stalled = None;
            return r;
        }
        let limit = self.limit;
        let sleep = self
            .stalled
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        if sleep.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        self.stalled = None;
        self.timeouts.inc();
        tracing::debug!(peer = %self.peer, "HTTP connection closed: the client stopped reading");
        Poll::Ready(Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!(
                "the client took no bytes for {} s (server.http_write_timeout)",
                limit.as_secs()
            ),
        )))
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for WriteDeadline<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for WriteDeadline<IO> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.io).poll_write(cx, buf);
        self.bound(cx, r)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        self.bound(cx, r)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let r = Pin::new(&mut self.io).poll_flush(cx);
        self.bound(cx, r)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let r = Pin::new(&mut self.io).poll_shutdown(cx);
        self.bound(cx, r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    /// A peer that never reads: the write fails after the limit instead of waiting for ever.
    #[tokio::test]
    async fn a_write_the_peer_never_takes_times_out() {
        let (ours, _theirs) = tokio::io::duplex(64);
        let counter = prometheus_client::metrics::counter::Counter::default();
        let peer = "127.0.0.1:1".parse().unwrap();
        let mut w = WriteDeadline::new(ours, Duration::from_millis(200), counter.clone(), peer);
        let started = Instant::now();
        let r = tokio::time::timeout(Duration::from_secs(5), w.write_all(&[0u8; 4096])).await;
        let err = r.expect("the write was not bounded").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(started.elapsed() >= Duration::from_millis(200));
        assert_eq!(counter.get(), 1);
    }

    /// A slow peer that keeps taking bytes is never cut off, however long the whole takes.
    #[tokio::test]
    async fn a_slow_but_steady_reader_is_served() {
        let (ours, mut theirs) = tokio::io::duplex(64);
        let counter = prometheus_client::metrics::counter::Counter::default();
        let peer = "127.0.0.1:1".parse().unwrap();
        let mut w = WriteDeadline::new(ours, Duration::from_millis(150), counter.clone(), peer);
        let reader = tokio::spawn(async move {
            use tokio::io::AsyncReadExt;
            let mut got = 0;
            let mut buf = [0u8; 64];
            while got < 1024 {
                tokio::time::sleep(Duration::from_millis(20)).await;
                got += theirs.read(&mut buf).await.unwrap();
            }
        });
        // 16 reads of 64 bytes at 20 ms: about 320 ms in all, twice the limit.
        w.write_all(&[1u8; 1024]).await.unwrap();
        reader.await.unwrap();
        assert_eq!(counter.get(), 0);
    }
}
