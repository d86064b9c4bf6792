use super::*;

/// What a client reading `wire` in pieces of `step` bytes sees: the final head and the number
/// of bytes of the response (head and body); `None` when the response never completes.
fn read(wire: &[u8], step: usize, head_only: bool) -> Result<Option<(Head, usize)>, Malformed> {
    let mut avail = 0; // bytes "received" so far
    let mut pos = 0; // bytes consumed
    let head = loop {
        match parse_head(&wire[pos..avail], head_only)? {
            Some(h) if (100..200).contains(&h.status) && h.status != 101 => pos += h.len,
            Some(h) => break h,
            None if avail == wire.len() => return Ok(None),
            None => avail = (avail + step).min(wire.len()),
        }
    };
    pos += head.len;
    let mut body = BodyDecoder::new(head.framing);
    loop {
        pos += body.decode(&wire[pos..avail])?;
        if body.is_done() {
            return Ok(Some((head, pos)));
        }
        if avail == wire.len() {
            // End of stream: only a close-delimited body is complete.
            return Ok(body.until_close().then_some((head, pos)));
        }
        avail = (avail + step).min(wire.len());
    }
}

/// Reads `wire` at every split size and checks they all agree with `expect`.
fn check(
    wire: &str,
    head_only: bool,
    expect: Result<Option<(u16, Framing, bool, usize)>, Malformed>,
) {
    for step in 1..=wire.len().max(1) {
        let got = read(wire.as_bytes(), step, head_only)
            .map(|o| o.map(|(h, n)| (h.status, h.framing, h.close, n)));
        assert_eq!(got, expect, "reading {wire:?} {step} bytes at a time");
    }
}

#[test]
fn content_length() {
    let wire = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
    check(
        wire,
        false,
        Ok(Some((200, Framing::Length(5), false, wire.len()))),
    );
}

#[test]
fn content_length_leaves_the_next_bytes_alone() {
    let wire = "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nokGARBAGE";
    check(
        wire,
        false,
        Ok(Some((200, Framing::Length(2), false, wire.len() - 7))),
    );
}

#[test]
fn empty_bodies() {
    check(
        "HTTP/1.1 204 No Content\r\n\r\n",
        false,
        Ok(Some((204, Framing::None, false, 27))),
    );
    let not_modified = "HTTP/1.1 304 Not Modified\r\ncontent-length: 9\r\n\r\n";
    check(
        not_modified,
        false,
        Ok(Some((304, Framing::None, false, not_modified.len()))),
    );
    let head = "HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n";
    check(
        head,
        true,
        Ok(Some((200, Framing::None, false, head.len()))),
    );
    let zero = "HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";
    check(
        zero,
        false,
        Ok(Some((200, Framing::Length(0), false, zero.len()))),
    );
}

#[test]
fn informational_responses_are_skipped() {
    let wire = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\ncontent-length: 1\r\n\r\nx";
    check(
        wire,
        false,
        Ok(Some((201, Framing::Length(1), false, wire.len()))),
    );
}

#[test]
fn chunked_with_extensions_and_trailers() {
    let wire = "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n\
                5;name=value;other=\"q;x\"\r\nhello\r\n\
                A \t; ext\r\n0123456789\r\n\
                0\r\nx-trailer: 1\r\nx-other: two\r\n\r\n";
    check(
        wire,
        false,
        Ok(Some((200, Framing::Chunked, false, wire.len()))),
    );
}

#[test]
fn chunked_without_trailers_and_bare_lf() {
    let wire = "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\nabc\n0\n\n";
    check(
        wire,
        false,
        Ok(Some((200, Framing::Chunked, false, wire.len()))),
    );
}

#[test]
fn chunked_wins_over_content_length() {
    let wire =
        "HTTP/1.1 200 OK\r\ncontent-length: 99\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n";
    check(
        wire,
        false,
        Ok(Some((200, Framing::Chunked, false, wire.len()))),
    );
}

#[test]
fn close_delimited_bodies() {
    let wire = "HTTP/1.1 200 OK\r\n\r\nuntil the end";
    check(
        wire,
        false,
        Ok(Some((200, Framing::UntilClose, true, wire.len()))),
    );
    let wire = "HTTP/1.1 200 OK\r\ntransfer-encoding: gzip\r\n\r\nzz";
    check(
        wire,
        false,
        Ok(Some((200, Framing::UntilClose, true, wire.len()))),
    );
}

#[test]
fn connection_close_and_http10() {
    let wire = "HTTP/1.1 200 OK\r\nConnection: keep-alive, Close\r\ncontent-length: 0\r\n\r\n";
    check(
        wire,
        false,
        Ok(Some((200, Framing::Length(0), true, wire.len()))),
    );
    let wire = "HTTP/1.0 200 OK\r\ncontent-length: 0\r\n\r\n";
    check(
        wire,
        false,
        Ok(Some((200, Framing::Length(0), true, wire.len()))),
    );
    let wire = "HTTP/1.0 200 OK\r\nconnection: keep-alive\r\ncontent-length: 0\r\n\r\n";
    check(
        wire,
        false,
        Ok(Some((200, Framing::Length(0), false, wire.len()))),
    );
}

#[test]
fn truncated_responses_never_complete() {
    check(
        "HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nshort",
        false,
        Ok(None),
    );
    check(
        "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhel",
        false,
        Ok(None),
    );
    check("HTTP/1.1 200 OK\r\ncontent-le", false, Ok(None));
}

#[test]
fn malformed_responses() {
    let cases = [
        "garbage\r\n\r\n",
        "HTTP/1.1 2x0 OK\r\n\r\n",
        "HTTP/1.1 200 OK\r\ncontent-length: -1\r\n\r\n",
        "HTTP/1.1 200 OK\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\n",
        "HTTP/1.1 200 OK\r\ncontent-length: 99999999999999999999\r\n\r\n",
        "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n",
        "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n;ext\r\n",
        "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nabXY",
        "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n11111111111111111\r\n",
    ];
    for wire in cases {
        check(wire, false, Err(Malformed));
    }
}

#[test]
fn too_many_headers_is_malformed() {
    let mut wire = String::from("HTTP/1.1 200 OK\r\n");
    for i in 0..=MAX_HEADERS {
        wire.push_str(&format!("x-h{i}: v\r\n"));
    }
    wire.push_str("\r\n");
    assert_eq!(parse_head(wire.as_bytes(), false), Err(Malformed));
}
