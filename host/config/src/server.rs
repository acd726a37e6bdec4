//! `[server]`: the network front ends.

use serde::Deserialize;

/// `[server]`: the TCP (ALEPIZ framing) and HTTP front ends.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// TCP listen address (ALEPIZ localAddress + serverPort); empty disables TCP.
    #[serde(default = "default_tcp")]
    pub tcp_address: String,
    /// HTTP listen address; empty disables HTTP.
    #[serde(default = "default_http")]
    pub http_address: String,
    /// Socket errors tolerated within five minutes before they are logged as an incident
    /// (ALEPIZ maxSocketErrorsCnt). Clio keeps running; the count is in /metrics.
    #[serde(default = "default_max_socket_errors")]
    pub max_socket_errors_cnt: u64,
    /// Requests waiting for a query slot above which a warning is logged (ALEPIZ
    /// queriesMaxQueueLength).
    #[serde(default = "default_queue_len")]
    pub queries_max_queue_length: usize,
    /// Requests slower than this many seconds are logged (ALEPIZ slowQueueSec).
    #[serde(default = "default_slow_query")]
    pub slow_query_sec: f64,
    /// Queries served at the same time; more wait in line.
    #[serde(default = "default_max_concurrent_queries")]
    pub max_concurrent_queries: usize,
    /// Largest TCP frame or HTTP request body accepted, MiB (after gzip decompression).
    #[serde(default = "default_max_request_mb")]
    pub max_request_mb: usize,
    /// Seconds an HTTP connection may take to send a request's headers in full, counted
    /// from when the server waits for them: this is also how long an idle kept-alive
    /// connection stays open.
    #[serde(default = "default_http_header_timeout")]
    pub http_header_timeout: u64,
    /// Seconds an HTTP request may take to send its whole body.
    #[serde(default = "default_http_body_timeout")]
    pub http_body_timeout: u64,
    /// Seconds a response may wait for the client to take more of it; a client that stops
    /// reading is disconnected (clio_http_timeouts{kind="write"}).
    #[serde(default = "default_http_write_timeout")]
    pub http_write_timeout: u64,
    /// Open HTTP connections at most; further ones are closed at once (logged, counted in
    /// clio_http_connections_refused).
    #[serde(default = "default_http_max_connections")]
    pub http_max_connections: usize,
    /// Open TCP (ALEPIZ protocol) connections at most; further ones are closed at once
    /// (logged, counted in clio_tcp_connections_refused). Idle TCP connections are kept open,
    /// so this is what bounds them.
    #[serde(default = "default_tcp_max_connections")]
    pub tcp_max_connections: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            tcp_address: default_tcp(),
            http_address: default_http(),
            max_socket_errors_cnt: default_max_socket_errors(),
            queries_max_queue_length: default_queue_len(),
            slow_query_sec: default_slow_query(),
            max_concurrent_queries: default_max_concurrent_queries(),
            max_request_mb: default_max_request_mb(),
            http_header_timeout: default_http_header_timeout(),
            http_body_timeout: default_http_body_timeout(),
            http_write_timeout: default_http_write_timeout(),
            http_max_connections: default_http_max_connections(),
            tcp_max_connections: default_tcp_max_connections(),
        }
    }
}

const fn default_http_header_timeout() -> u64 {
    30
}
const fn default_http_body_timeout() -> u64 {
    60
}
const fn default_http_write_timeout() -> u64 {
    60
}
const fn default_http_max_connections() -> usize {
    1024
}

const fn default_tcp_max_connections() -> usize {
    1024
}

fn default_tcp() -> String {
    "127.0.0.1:10163".into()
}
fn default_http() -> String {
    "127.0.0.1:10164".into()
}
const fn default_max_socket_errors() -> u64 {
    500
}
const fn default_queue_len() -> usize {
    200
}
const fn default_slow_query() -> f64 {
    15.0
}
const fn default_max_concurrent_queries() -> usize {
    256
}
const fn default_max_request_mb() -> usize {
    64
}
