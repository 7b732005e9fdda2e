//! The TCP transport (killable on shutdown, frame tracing, performative padding for pyamqp)
//! and the SASL acceptor.

use super::*;

/// A TCP stream that fails all I/O once the server shuts down, so the AMQP engines drop the
/// socket as in a server crash/restart.
pub(super) struct KillableStream {
    pub(super) inner: TcpStream,
    pub(super) cancelled: Pin<Box<WaitForCancellationFutureOwned>>,
    pub(super) killed: bool,
    /// Frame tracing (EVENTHUBS_EMULATOR_DEBUG=frames): bytes seen per direction.
    pub(super) seen: [FrameTracer; 2],
    /// Written bytes not yet forming a complete frame.
    pub(super) pending: Vec<u8>,
    /// Padded frames not yet written to the socket.
    pub(super) out: Vec<u8>,
}

#[derive(Default)]
pub(super) struct FrameTracer {
    pub(super) buf: Vec<u8>,
}

impl FrameTracer {
    pub(super) fn feed(&mut self, dir: &str, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
        loop {
            if self.buf.len() >= 8 && self.buf.starts_with(b"AMQP") {
                self.buf.drain(..8);
                continue;
            }
            if self.buf.len() < 8 {
                return;
            }
            let size =
                u32::from_be_bytes([self.buf[0], self.buf[1], self.buf[2], self.buf[3]]) as usize;
            if self.buf.len() < size {
                return;
            }
            let doff = self.buf[4] as usize * 4;
            let ftype = self.buf[5];
            let channel = u16::from_be_bytes([self.buf[6], self.buf[7]]);
            let body = &self.buf[doff.min(size)..size];
            let code = match body {
                [0x00, 0x53, c, ..] => *c as u64,
                [0x00, 0x80, rest @ ..] if rest.len() >= 8 => {
                    u64::from_be_bytes(rest[..8].try_into().unwrap())
                }
                [] => 0xff,
                _ => 0xfe,
            };
            let name = match (ftype, code) {
                (1, c) => match c {
                    0x40 => "sasl-mechanisms",
                    0x41 => "sasl-init",
                    0x44 => "sasl-outcome",
                    _ => "sasl-?",
                },
                (_, 0x10) => "open",
                (_, 0x11) => "begin",
                (_, 0x12) => "attach",
                (_, 0x13) => "flow",
                (_, 0x14) => "transfer",
                (_, 0x15) => "disposition",
                (_, 0x16) => "detach",
                (_, 0x17) => "end",
                (_, 0x18) => "close",
                (_, 0xff) => "empty",
                _ => "?",
            };
            eprintln!(
                "eventhubs-emulator: frame {dir} ch={channel} {name} {:02x?}",
                &body[..body.len().min(48)]
            );
            self.buf.drain(..size);
        }
    }
}

impl KillableStream {
    pub(super) fn check(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        if !self.killed && self.cancelled.as_mut().poll(cx).is_ready() {
            self.killed = true;
        }
        if self.killed {
            Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "emulator shut down",
            ))
        } else {
            Ok(())
        }
    }
}

impl fmt::Debug for KillableStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KillableStream")
            .field("inner", &self.inner)
            .finish()
    }
}

impl AsyncRead for KillableStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if let Err(e) = self.check(cx) {
            return Poll::Ready(Err(e));
        }
        let before = buf.filled().len();
        let res = Pin::new(&mut self.inner).poll_read(cx, buf);
        if frames_debug() {
            let bytes = buf.filled()[before..].to_vec();
            self.seen[0].feed("<-", &bytes);
        }
        res
    }
}

impl KillableStream {
    /// Writes as much of the padded output as the socket takes now.
    pub(super) fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.out.is_empty() {
            match Pin::new(&mut self.inner).poll_write(cx, &self.out) {
                Poll::Ready(Ok(0)) => {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::WriteZero,
                        "socket closed",
                    )))
                }
                Poll::Ready(Ok(n)) => {
                    self.out.drain(..n);
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        Poll::Ready(Ok(()))
    }

    /// Moves complete frames from `pending` to `out`, padding performatives.
    pub(super) fn pad_pending(&mut self) {
        loop {
            if self.pending.len() >= 8 && self.pending.starts_with(b"AMQP") {
                let header: Vec<u8> = self.pending.drain(..8).collect();
                self.push_out(&header);
                continue;
            }
            if self.pending.len() < 8 {
                return;
            }
            let size = u32::from_be_bytes([
                self.pending[0],
                self.pending[1],
                self.pending[2],
                self.pending[3],
            ]) as usize;
            if size < 8 || self.pending.len() < size {
                if size < 8 {
                    // Not a frame we understand: pass everything through unchanged.
                    let all: Vec<u8> = self.pending.drain(..).collect();
                    self.push_out(&all);
                }
                return;
            }
            let frame: Vec<u8> = self.pending.drain(..size).collect();
            match pad_performative(&frame) {
                Some(padded) => self.push_out(&padded),
                None => self.push_out(&frame),
            }
        }
    }

    pub(super) fn push_out(&mut self, bytes: &[u8]) {
        if frames_debug() {
            self.seen[1].feed("->", bytes);
        }
        self.out.extend_from_slice(bytes);
    }
}

/// Number of fields of each performative (AMQP 1.0 part 2.7 and 5.3).
pub(super) fn performative_fields(frame_type: u8, code: u8) -> Option<usize> {
    Some(match (frame_type, code) {
        (0, 0x10) => 10, // open
        (0, 0x11) => 8,  // begin
        (0, 0x12) => 14, // attach
        (0, 0x13) => 11, // flow
        (0, 0x14) => 11, // transfer
        (0, 0x15) => 6,  // disposition
        (0, 0x16) => 3,  // detach
        (0, 0x17) => 1,  // end
        (0, 0x18) => 1,  // close
        (1, 0x40) => 1,  // sasl-mechanisms
        (1, 0x42) => 1,  // sasl-challenge
        (1, 0x44) => 2,  // sasl-outcome
        _ => return None,
    })
}

/// fe2o3 omits trailing null fields of performatives, which AMQP allows, but the Python
/// `azure-eventhub` client (pyamqp) indexes every field; pad the lists with nulls.
pub(super) fn pad_performative(frame: &[u8]) -> Option<Vec<u8>> {
    let doff = frame[4] as usize * 4;
    let frame_type = frame[5];
    let body = frame.get(doff..)?;
    if body.len() < 4 || body[0] != 0x00 || body[1] != 0x53 {
        return None;
    }
    let code = body[2];
    let expected = performative_fields(frame_type, code)?;
    let (count, items, rest) = match body[3] {
        0x45 => (0usize, &body[4..4], &body[4..]),
        0xc0 => {
            let size = *body.get(4)? as usize;
            let count = *body.get(5)? as usize;
            (count, body.get(6..5 + size)?, body.get(5 + size..)?)
        }
        0xd0 => {
            let size = u32::from_be_bytes(body.get(4..8)?.try_into().ok()?) as usize;
            let count = u32::from_be_bytes(body.get(8..12)?.try_into().ok()?) as usize;
            (count, body.get(12..8 + size)?, body.get(8 + size..)?)
        }
        _ => return None,
    };
    if count >= expected {
        return None;
    }
    let mut list_items = items.to_vec();
    list_items.extend(std::iter::repeat_n(0x40u8, expected - count));
    let mut new_body = vec![0x00, 0x53, code];
    if list_items.len() < 255 {
        new_body.push(0xc0);
        new_body.push((list_items.len() + 1) as u8);
        new_body.push(expected as u8);
    } else {
        new_body.push(0xd0);
        new_body.extend_from_slice(&((list_items.len() + 4) as u32).to_be_bytes());
        new_body.extend_from_slice(&(expected as u32).to_be_bytes());
    }
    new_body.extend_from_slice(&list_items);
    new_body.extend_from_slice(rest);
    let mut out = Vec::with_capacity(doff + new_body.len());
    out.extend_from_slice(&((doff + new_body.len()) as u32).to_be_bytes());
    out.extend_from_slice(&frame[4..doff]);
    out.extend_from_slice(&new_body);
    Some(out)
}

impl AsyncWrite for KillableStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if let Err(e) = self.check(cx) {
            return Poll::Ready(Err(e));
        }
        // Backpressure: take new bytes only once earlier output is on the socket.
        match self.poll_drain(cx) {
            Poll::Ready(Ok(())) => {}
            other => return other.map(|r| r.map(|_| 0)),
        }
        self.pending.extend_from_slice(buf);
        self.pad_pending();
        if let Poll::Ready(Err(e)) = self.poll_drain(cx) {
            return Poll::Ready(Err(e));
        }
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Err(e) = self.check(cx) {
            return Poll::Ready(Err(e));
        }
        match self.poll_drain(cx) {
            Poll::Ready(Ok(())) => {}
            other => return other,
        }
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if !self.killed {
            match self.poll_drain(cx) {
                Poll::Ready(Ok(())) => {}
                other => return other,
            }
        }
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Accepts ANONYMOUS, PLAIN, EXTERNAL and MSSBCBS with any credential.
#[derive(Debug, Clone)]
pub(super) struct AnySasl;

impl SaslAcceptor for AnySasl {
    fn mechanisms(&self) -> Array<Symbol> {
        Array::from(vec![
            Symbol::from("ANONYMOUS"),
            Symbol::from("PLAIN"),
            Symbol::from("MSSBCBS"),
            Symbol::from("EXTERNAL"),
        ])
    }

    fn on_init(&mut self, _init: SaslInit) -> SaslServerFrame {
        SaslServerFrame::Outcome(SaslOutcome {
            code: SaslCode::Ok,
            additional_data: None,
        })
    }

    fn on_response(&mut self, _response: SaslResponse) -> SaslServerFrame {
        SaslServerFrame::Outcome(SaslOutcome {
            code: SaslCode::Ok,
            additional_data: None,
        })
    }
}
