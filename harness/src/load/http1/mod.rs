//! HTTP/1.1 load connections: a hand-written client, one request in flight per connection.
//!
//! The request bytes are built once per plan; each exchange writes them, reads into a
//! buffer the connection reuses, parses the head with `httparse` and skips the body without
//! keeping it. Nothing on this path allocates or locks per request (the buffer grows once if
//! a head exceeds it; the timeout is a `Cell` checked by the worker's housekeeping).

mod parse;

use std::io::ErrorKind;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use self::parse::{parse_head, BodyDecoder};
use super::outcome::FailureKind;
use super::plan::duration_ns;
use super::record::{Pacing, Sample};
use super::worker::{ConnSpec, WorkerCtx};

/// Initial read buffer; bodies stream through it, only a head must fit.
const BUF_INITIAL: usize = 16 * 1024;
/// The buffer grows once to this for a huge head; a larger head is a protocol failure.
const BUF_MAX: usize = 1024 * 1024;
/// A connection idle longer than this is checked for a close by the server before reuse.
const IDLE_CHECK_NS: u64 = 1_000_000;

/// One keep-alive HTTP/1.1 connection (reconnected as needed).
pub(crate) struct Http1Client {
    target: SocketAddr,
    stream: Option<TcpStream>,
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

/// A complete response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Response {
    pub status: u16,
    /// The connection may carry the next request.
    pub reusable: bool,
}

impl Http1Client {
    pub fn new(target: SocketAddr) -> Self {
        Self {
            target,
            stream: None,
            buf: vec![0; BUF_INITIAL],
            start: 0,
            end: 0,
        }
    }

    pub fn is_connected(&self) -> bool {
        self.stream.is_some()
    }

    /// Opens the connection (TCP_NODELAY).
    pub async fn connect(&mut self, timeout: Duration) -> Result<(), FailureKind> {
        let stream = match tokio::time::timeout(timeout, TcpStream::connect(self.target)).await {
            Ok(Ok(s)) => s,
            Ok(Err(_)) | Err(_) => return Err(FailureKind::Connect),
        };
        let _ = stream.set_nodelay(true);
        self.stream = Some(stream);
        self.start = 0;
        self.end = 0;
        Ok(())
    }

    pub fn disconnect(&mut self) {
        self.stream = None;
    }

    /// Drops a kept-alive connection that the server closed, or wrote unsolicited bytes to,
    /// while it was idle: sending on it would fail for reasons that are not the request's.
    pub fn check_idle(&mut self) {
        if let Some(s) = &self.stream {
            match s.try_read(&mut self.buf) {
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                _ => self.disconnect(),
            }
        }
    }

    /// Writes `request` and reads its response. On `Err` the connection must be dropped.
    pub async fn exchange(
        &mut self,
        request: &[u8],
        head_only: bool,
    ) -> Result<Response, FailureKind> {
        let stream = self.stream.as_mut().ok_or(FailureKind::Reset)?;
        stream
            .write_all(request)
            .await
            .map_err(|e| io_failure(&e))?;
        self.start = 0;
        self.end = 0;
        let head = loop {
            match parse_head(&self.buf[self.start..self.end], head_only) {
                Err(_) => return Err(FailureKind::Protocol),
                // Informational responses precede the real one.
                Ok(Some(h)) if (100..200).contains(&h.status) && h.status != 101 => {
                    self.start += h.len
                }
                Ok(Some(h)) => break h,
                Ok(None) => {
                    if self.fill().await? == 0 {
                        return Err(FailureKind::Reset);
                    }
                }
            }
        };
        self.start += head.len;
        let mut body = BodyDecoder::new(head.framing);
        loop {
            let used = body
                .decode(&self.buf[self.start..self.end])
                .map_err(|_| FailureKind::Protocol)?;
            self.start += used;
            if body.is_done() {
                break;
            }
            if self.fill().await? == 0 {
                if body.until_close() {
                    break;
                }
                return Err(FailureKind::Reset);
            }
        }
        if self.start != self.end {
            // More bytes than the response's framing allows: the stream is out of step.
            return Err(FailureKind::Protocol);
        }
        Ok(Response {
            status: head.status,
            reusable: !head.close,
        })
    }

    /// Reads more bytes after `end`; 0 at end of stream.
    async fn fill(&mut self) -> Result<usize, FailureKind> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
        if self.end == self.buf.len() {
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            } else if self.buf.len() < BUF_MAX {
                self.buf.resize(BUF_MAX, 0);
            } else {
                return Err(FailureKind::Protocol);
            }
        }
        let stream = self.stream.as_mut().ok_or(FailureKind::Reset)?;
        let n = stream
            .read(&mut self.buf[self.end..])
            .await
            .map_err(|e| io_failure(&e))?;
        self.end += n;
        Ok(n)
    }
}

/// The failure kind of an I/O error on an established connection.
pub(crate) fn io_failure(e: &std::io::Error) -> FailureKind {
    match e.kind() {
        ErrorKind::ConnectionReset
        | ErrorKind::ConnectionAborted
        | ErrorKind::BrokenPipe
        | ErrorKind::UnexpectedEof
        | ErrorKind::NotConnected => FailureKind::Reset,
        _ => FailureKind::Other,
    }
}

/// Reconnect pacing after connect failures, so a dead target is not hammered in a loop.
#[derive(Debug, Default)]
pub(crate) struct Backoff {
    delay: Duration,
    /// No connect attempt before this time, ns.
    pub retry_at: u64,
}

impl Backoff {
    const MIN: Duration = Duration::from_millis(10);
    const MAX: Duration = Duration::from_millis(200);

    /// A connect attempt failed at `now`; returns the delay before the next one.
    pub fn failed(&mut self, now: u64) -> Duration {
        self.delay = (self.delay * 2).clamp(Self::MIN, Self::MAX);
        self.retry_at = now.saturating_add(duration_ns(self.delay));
        self.delay
    }

    pub fn succeeded(&mut self) {
        self.delay = Duration::ZERO;
        self.retry_at = 0;
    }
}

/// Drives one HTTP/1.1 connection for the whole step.
///
/// Open loop: a request whose intended time passed while the previous one was in flight is
/// sent as soon as the connection is free, and its latency still counts from the intended
/// time. While a connect backoff is running, requests that come due fail at once as
/// `connect` failures (the connection is known to be down) without being sent.
/// Closed loop: the next request starts when the previous ends; after a connect failure the
/// connection waits out the backoff.
pub(crate) async fn connection(ctx: Rc<WorkerCtx>, spec: ConnSpec) {
    let plan = ctx.plan.clone();
    let state = &ctx.conns[spec.slot];
    let timeout_ns = duration_ns(plan.timeout);
    let mut client = Http1Client::new(spec.target);
    let mut pacer = ctx.pacer(&spec);
    let mut backoff = Backoff::default();
    // Connect ahead of the first request; a failure here is retried (and counted) then.
    let _ = client.connect(plan.timeout).await;
    ctx.timer.sleep_until(spec.slot, 0).await;
    let mut free_at = 0u64;
    loop {
        let now = ctx.clock.now();
        let Some(scheduled) = pacer.next(now) else {
            break;
        };
        state.watermark.set(scheduled);
        let open = pacer.is_open();
        if open && now >= plan.end_ns() {
            // The schedule fell behind and the step is over: the backlog is never sent.
            if let super::schedule::Pacer::Open(s) = &pacer {
                let mut rec = ctx.recorder.borrow_mut();
                let measured = s.remaining(rec.warmup_end());
                rec.unsent(measured, free_at > scheduled);
            }
            break;
        }
        pacer.advance();
        if scheduled > now {
            ctx.timer.sleep_until(spec.slot, scheduled).await;
        }
        let start = ctx.clock.now();
        let intended = if open { scheduled } else { start };
        let pacing = open.then(|| Pacing {
            busy: free_at > intended,
            own_late: start.saturating_sub(intended.max(free_at)),
        });
        let mut sample = Sample {
            intended,
            start,
            end: start,
            result: Err(FailureKind::Connect),
            sent: false,
            pacing,
        };
        if start.saturating_sub(free_at) > IDLE_CHECK_NS {
            client.check_idle();
        }
        if !client.is_connected() {
            let connected = if open && start < backoff.retry_at {
                Err(FailureKind::Connect)
            } else {
                client.connect(plan.timeout).await
            };
            if connected.is_err() {
                sample.end = ctx.clock.now();
                ctx.record(&sample);
                free_at = sample.end;
                if start >= backoff.retry_at {
                    let delay = backoff.failed(sample.end);
                    if !open {
                        tokio::time::sleep(delay).await;
                    }
                }
                continue;
            }
            backoff.succeeded();
        }
        state
            .deadline
            .set(ctx.clock.now().saturating_add(timeout_ns));
        let result = tokio::select! {
            biased;
            r = client.exchange(&plan.http1_request, plan.head_only) => r,
            () = ctx.timeout(spec.slot) => Err(FailureKind::Timeout),
        };
        state.deadline.set(u64::MAX);
        sample.end = ctx.clock.now();
        if !matches!(result, Ok(Response { reusable: true, .. })) {
            client.disconnect();
        }
        sample.result = result.map(|r| r.status);
        sample.sent = true;
        ctx.record(&sample);
        free_at = sample.end;
    }
    state.watermark.set(u64::MAX);
}
