//! HTTP/1.1 response framing without I/O: the head (via `httparse`) and a body decoder that
//! skips the body by content-length, chunked coding, or until close (RFC 9112 §6.3).
//! Bodies are consumed and thrown away, never buffered, so their size does not matter.

/// Headers beyond this count make the response a protocol failure.
const MAX_HEADERS: usize = 64;

/// How the body of a response is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// No body (HEAD, 1xx, 204, 304).
    None,
    /// Exactly this many bytes.
    Length(u64),
    /// `transfer-encoding: chunked`.
    Chunked,
    /// Everything until the server closes the connection.
    UntilClose,
}

/// A parsed response head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Head {
    pub status: u16,
    /// Bytes of the head, including the blank line.
    pub len: usize,
    pub framing: Framing,
    /// The connection cannot be reused after this response.
    pub close: bool,
}

/// The response does not follow HTTP/1.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Malformed;

/// Parses a response head from the start of `buf`; `Ok(None)` when more bytes are needed.
/// `head_only`: the request was a HEAD, so the response has no body whatever it says.
pub(crate) fn parse_head(buf: &[u8], head_only: bool) -> Result<Option<Head>, Malformed> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut res = httparse::Response::new(&mut headers);
    let len = match res.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(_) => return Err(Malformed),
    };
    let status = res.code.ok_or(Malformed)?;
    let http10 = res.version == Some(0);
    let mut close = http10;
    let mut length: Option<u64> = None;
    let mut chunked = None;
    for h in res.headers.iter() {
        if h.name.eq_ignore_ascii_case("content-length") {
            let n = parse_length(h.value)?;
            if length.is_some_and(|l| l != n) {
                return Err(Malformed);
            }
            length = Some(n);
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            // Only the last coding decides whether the body is chunked.
            let last = h.value.rsplit(|&b| b == b',').next().unwrap_or_default();
            chunked = Some(trim(last).eq_ignore_ascii_case(b"chunked"));
        } else if h.name.eq_ignore_ascii_case("connection") {
            for token in h.value.split(|&b| b == b',').map(trim) {
                if token.eq_ignore_ascii_case(b"close") {
                    close = true;
                } else if token.eq_ignore_ascii_case(b"keep-alive") && http10 {
                    close = false;
                }
            }
        }
    }
    let framing = if head_only || (100..200).contains(&status) || status == 204 || status == 304 {
        Framing::None
    } else {
        match (chunked, length) {
            (Some(true), _) => Framing::Chunked,
            (Some(false), _) => Framing::UntilClose,
            (None, Some(n)) => Framing::Length(n),
            (None, None) => Framing::UntilClose,
        }
    };
    // Switching protocols: we cannot speak whatever comes next.
    let close = close || framing == Framing::UntilClose || status == 101;
    Ok(Some(Head {
        status,
        len,
        framing,
        close,
    }))
}

fn parse_length(v: &[u8]) -> Result<u64, Malformed> {
    let v = trim(v);
    if v.is_empty() || v.len() > 19 || !v.iter().all(u8::is_ascii_digit) {
        return Err(Malformed);
    }
    Ok(v.iter().fold(0u64, |n, d| n * 10 + u64::from(d - b'0')))
}

fn trim(v: &[u8]) -> &[u8] {
    let start = v
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(v.len());
    let end = v
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |i| i + 1);
    &v[start..end]
}

/// Where the chunked decoder is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Chunk {
    /// Reading hex digits of a chunk size.
    Size { value: u64, digits: u8 },
    /// Skipping a chunk extension up to the line end.
    Extension { value: u64 },
    /// Saw CR after a size line, expecting LF.
    SizeLf { value: u64 },
    /// Skipping chunk data.
    Data(u64),
    /// Expecting CR after chunk data.
    DataCr,
    /// Expecting LF after chunk data.
    DataLf,
    /// Skipping trailer lines; `empty` while the current line has no content yet.
    Trailer { empty: bool },
}

/// Skips a response body as its bytes arrive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyDecoder {
    Length(u64),
    Chunked(Chunk),
    UntilClose,
    Done,
}

impl BodyDecoder {
    pub fn new(framing: Framing) -> Self {
        match framing {
            Framing::None | Framing::Length(0) => Self::Done,
            Framing::Length(n) => Self::Length(n),
            Framing::Chunked => Self::Chunked(Chunk::Size {
                value: 0,
                digits: 0,
            }),
            Framing::UntilClose => Self::UntilClose,
        }
    }

    /// The body is complete.
    pub fn is_done(&self) -> bool {
        *self == Self::Done
    }

    /// The body ends when the connection closes.
    pub fn until_close(&self) -> bool {
        *self == Self::UntilClose
    }

    /// Consumes body bytes from the start of `buf`; returns how many belong to the body.
    /// Bytes after the end of the body are left alone.
    pub fn decode(&mut self, buf: &[u8]) -> Result<usize, Malformed> {
        match self {
            Self::Done => Ok(0),
            Self::UntilClose => Ok(buf.len()),
            Self::Length(left) => {
                let n = (*left).min(buf.len() as u64);
                *left -= n;
                if *left == 0 {
                    *self = Self::Done;
                }
                Ok(n as usize) // n <= buf.len()
            }
            Self::Chunked(state) => {
                let mut state = *state;
                let mut used = 0;
                while used < buf.len() {
                    if let Chunk::Data(left) = state {
                        let n = left.min((buf.len() - used) as u64);
                        used += n as usize;
                        state = if n == left {
                            Chunk::DataCr
                        } else {
                            Chunk::Data(left - n)
                        };
                        continue;
                    }
                    let b = buf[used];
                    used += 1;
                    match step(state, b)? {
                        Some(next) => state = next,
                        None => {
                            *self = Self::Done;
                            return Ok(used);
                        }
                    }
                }
                *self = Self::Chunked(state);
                Ok(used)
            }
        }
    }
}

/// One byte of chunk framing; `None` when the body (with its trailers) is complete.
fn step(state: Chunk, b: u8) -> Result<Option<Chunk>, Malformed> {
    let after_size = |value: u64| {
        if value == 0 {
            Chunk::Trailer { empty: true }
        } else {
            Chunk::Data(value)
        }
    };
    Ok(Some(match state {
        Chunk::Size { value, digits } => match b {
            b'0'..=b'9' | b'a'..=b'f' | b'A'..=b'F' => {
                if digits >= 16 {
                    return Err(Malformed);
                }
                let d = (b as char).to_digit(16).ok_or(Malformed)?;
                Chunk::Size {
                    value: value << 4 | u64::from(d),
                    digits: digits + 1,
                }
            }
            _ if digits == 0 => return Err(Malformed),
            b';' | b' ' | b'\t' => Chunk::Extension { value },
            b'\r' => Chunk::SizeLf { value },
            b'\n' => after_size(value),
            _ => return Err(Malformed),
        },
        Chunk::Extension { value } => match b {
            b'\n' => after_size(value),
            _ => Chunk::Extension { value },
        },
        Chunk::SizeLf { value } => match b {
            b'\n' => after_size(value),
            _ => return Err(Malformed),
        },
        Chunk::DataCr => match b {
            b'\r' => Chunk::DataLf,
            b'\n' => Chunk::Size {
                value: 0,
                digits: 0,
            },
            _ => return Err(Malformed),
        },
        Chunk::DataLf => match b {
            b'\n' => Chunk::Size {
                value: 0,
                digits: 0,
            },
            _ => return Err(Malformed),
        },
        Chunk::Trailer { empty } => match b {
            b'\n' if empty => return Ok(None),
            b'\n' => Chunk::Trailer { empty: true },
            b'\r' => Chunk::Trailer { empty },
            _ => Chunk::Trailer { empty: false },
        },
        Chunk::Data(_) => state, // handled in bulk by `decode`
    }))
}

#[cfg(test)]
#[path = "parse_tests.rs"]
mod tests;
