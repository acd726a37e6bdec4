//! Serves a router over an `AppState` on a free port, as `clio serve` does (with the peer's
//! address, which the door's address rules and the audit log read).

use std::net::SocketAddr;

use clio_server::AppState;
use tokio::net::TcpListener;

/// Binds `127.0.0.1:0`, serves `state`'s router in the background, returns the address.
pub async fn serve(state: AppState) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = clio_server::http::router(state);
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    addr
}
