//! The response body of the mocks: the whole body in one frame, or trickled out in chunks
//! for the `slow_body` chaos.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use tokio::time::{Instant, Sleep};

use crate::SlowBody;

/// The body of every response a mock sends. Its size is always known, so HTTP/1.1 responses
/// carry a `content-length` even when the body is trickled.
#[derive(Debug)]
pub struct MockBody {
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    /// The rest of the body in one frame; `None` once sent. The common case: as cheap as
    /// `http_body_util::Full`.
    Full(Option<Bytes>),
    /// A body sent a chunk at a time.
    Slow(Slow),
    /// A gRPC answer: the message (`None` once sent), then the trailers (`None` once sent).
    Grpc(Option<Bytes>, Option<http::HeaderMap>),
}

#[derive(Debug)]
struct Slow {
    rest: Bytes,
    chunk_bytes: usize,
    interval: std::time::Duration,
    /// The pause before the next chunk; `None` when the interval is zero. One timer per
    /// response, reset for every chunk.
    pause: Option<Pin<Box<Sleep>>>,
}

impl MockBody {
    /// A body sent in one frame.
    pub fn full(bytes: Bytes) -> Self {
        Self {
            kind: Kind::Full((!bytes.is_empty()).then_some(bytes)),
        }
    }

    /// A body sent `slow.chunk_bytes` at a time, each chunk after `slow.interval`; the first
    /// pause starts now. An empty body is sent at once.
    pub fn slow(bytes: Bytes, slow: SlowBody) -> Self {
        if bytes.is_empty() {
            return Self::full(bytes);
        }
        let pause = (!slow.interval.is_zero())
            .then(|| Box::pin(tokio::time::sleep_until(Instant::now() + slow.interval)));
        Self {
            kind: Kind::Slow(Slow {
                rest: bytes,
                chunk_bytes: slow.chunk_bytes.max(1),
                interval: slow.interval,
                pause,
            }),
        }
    }
}

impl MockBody {
    /// A gRPC answer: one framed message in one frame, then `trailers`.
    pub fn grpc(message: Bytes, trailers: http::HeaderMap) -> Self {
        Self {
            kind: Kind::Grpc((!message.is_empty()).then_some(message), Some(trailers)),
        }
    }
}

impl Default for MockBody {
    fn default() -> Self {
        Self::full(Bytes::new())
    }
}

impl Body for MockBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match &mut self.get_mut().kind {
            Kind::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            Kind::Grpc(message, trailers) => Poll::Ready(match message.take() {
                Some(m) => Some(Ok(Frame::data(m))),
                None => trailers.take().map(|t| Ok(Frame::trailers(t))),
            }),
            Kind::Slow(slow) => {
                if slow.rest.is_empty() {
                    return Poll::Ready(None);
                }
                if let Some(pause) = &mut slow.pause {
                    ready!(pause.as_mut().poll(cx));
                }
                let n = slow.chunk_bytes.min(slow.rest.len());
                let chunk = slow.rest.split_to(n);
                // The next pause counts from now, not from the last deadline: a client that
                // reads slowly gets the full gap between chunks, never a burst to catch up.
                if let Some(pause) = &mut slow.pause {
                    pause.as_mut().reset(Instant::now() + slow.interval);
                }
                Poll::Ready(Some(Ok(Frame::data(chunk))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Full(bytes) => bytes.is_none(),
            Kind::Slow(slow) => slow.rest.is_empty(),
            Kind::Grpc(message, trailers) => message.is_none() && trailers.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        let len = match &self.kind {
            Kind::Full(bytes) => bytes.as_ref().map_or(0, Bytes::len),
            Kind::Slow(slow) => slow.rest.len(),
            Kind::Grpc(message, _) => message.as_ref().map_or(0, Bytes::len),
        };
        SizeHint::with_exact(len as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;
    use std::time::Duration;

    #[tokio::test]
    async fn full_is_one_frame() {
        let mut body = MockBody::full(Bytes::from_static(b"hello"));
        assert_eq!(body.size_hint().exact(), Some(5));
        assert!(!body.is_end_stream());
        let frame = body.frame().await.unwrap().unwrap();
        assert_eq!(frame.into_data().unwrap(), "hello");
        assert!(body.is_end_stream());
        assert!(body.frame().await.is_none());
        assert!(MockBody::default().is_end_stream());
    }

    #[tokio::test(start_paused = true)]
    async fn slow_sends_chunks_after_each_interval() {
        let interval = Duration::from_millis(50);
        let slow = SlowBody {
            chunk_bytes: 4,
            interval,
        };
        let mut body = MockBody::slow(Bytes::from_static(b"0123456789"), slow);
        assert_eq!(body.size_hint().exact(), Some(10));
        let started = Instant::now();
        let mut chunks = Vec::new();
        while let Some(frame) = body.frame().await {
            chunks.push((frame.unwrap().into_data().unwrap(), started.elapsed()));
        }
        let expected = [("0123", 1), ("4567", 2), ("89", 3)];
        assert_eq!(chunks.len(), expected.len(), "{chunks:?}");
        for ((chunk, at), (want, n)) in chunks.iter().zip(expected) {
            assert_eq!(chunk, want);
            assert_eq!(*at, interval * n);
        }
        assert!(body.is_end_stream());
    }

    #[tokio::test(start_paused = true)]
    async fn slow_without_interval_or_body_does_not_wait() {
        let started = Instant::now();
        let chunked = SlowBody {
            chunk_bytes: 3,
            interval: Duration::ZERO,
        };
        let collected = MockBody::slow(Bytes::from_static(b"abcdefg"), chunked)
            .collect()
            .await
            .unwrap()
            .to_bytes();
        assert_eq!(collected, "abcdefg");
        let empty = SlowBody {
            chunk_bytes: 3,
            interval: Duration::from_secs(5),
        };
        assert!(MockBody::slow(Bytes::new(), empty).is_end_stream());
        assert_eq!(started.elapsed(), Duration::ZERO);
    }
}
