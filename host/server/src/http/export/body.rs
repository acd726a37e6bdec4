//! The response body of an export: the receiving end of the producer's bounded channel.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::Body;
use bytes::Bytes;
use http_body::Frame;
use tokio::sync::mpsc;

/// Buffers as they come from the producer; the body ends when the producer is done (and
/// drops its sender). When the client goes away hyper drops the body, which closes the
/// channel and stops the producer at its next send.
struct ChannelBody {
    rx: mpsc::Receiver<Bytes>,
}

impl http_body::Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.rx
            .poll_recv(cx)
            .map(|chunk| chunk.map(|b| Ok(Frame::data(b))))
    }
}

/// A streaming body over `rx`.
pub(super) fn channel_body(rx: mpsc::Receiver<Bytes>) -> Body {
    Body::new(ChannelBody { rx })
}
