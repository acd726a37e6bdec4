//! Client library for a running Clio server.
//!
//! Two clients, one API:
//!
//! * [`HttpClient`] speaks Clio's HTTP API (default `http://127.0.0.1:10164`): InfluxDB
//!   line-protocol writes, JSON points, series catalog, point queries, last values, health
//!   and metrics. Connections are kept alive and pooled.
//! * [`TcpClient`] speaks Clio's JSON messages in ALEPIZ frames on the TCP port (default
//!   `127.0.0.1:10163`, see `docs/protocol.md`), pipelined: many requests may be in flight on
//!   one connection and each reply finds its request by message id.
//!
//! Both answer with the same types ([`WriteReport`], [`ReadAnswer`], ...), and every failure
//! is an [`Error`] carrying the server's own message when the server refused the request.
//!
//! ```no_run
//! # async fn demo() -> clio_client::Result<()> {
//! use clio_client::{HttpClient, PointsQuery, WritePoint};
//! use clio_storage::SeriesId;
//!
//! let http = HttpClient::new("http://127.0.0.1:10164")?;
//! http.write_points(&[WritePoint::id(42, Some(1_700_000_000_000), 21.5)]).await?;
//! let answer = http.read_points(SeriesId(42), &PointsQuery::last(10)).await?;
//! println!("{:?}", answer.data);
//!
//! let tcp = clio_client::TcpClient::connect("127.0.0.1:10163").await?;
//! let last = tcp.last(&[SeriesId(42)]).await?;
//! println!("{last:?}");
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]

mod error;
pub mod frame;
mod http;
mod tcp;
mod tls;
mod types;

pub use clio_lineproto::Precision;
pub use error::{Error, Result};
pub use http::{DEFAULT_HTTP_REQUEST_TIMEOUT, HttpClient};
pub use hyper::Method;
pub use tcp::{TcpClient, TcpOptions};
pub use types::{
    Health, LineWriteReport, PointsQuery, ReadAnswer, ReadData, SeriesRef, TrendRow, WritePoint,
    WriteReport, parse_last, value_json,
};

/// Where `clio` looks for the server's HTTP API unless told otherwise.
pub const DEFAULT_HTTP_URL: &str = "http://127.0.0.1:10164";
/// Where `clio` looks for the server's TCP port unless told otherwise.
pub const DEFAULT_TCP_ADDR: &str = "127.0.0.1:10163";
