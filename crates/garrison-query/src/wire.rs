//! Bounds-checked reading of untrusted reply bytes, shared by the protocols.

use tokio::net::UdpSocket;

use crate::{QueryError, protocol};

/// Largest UDP datagram accepted. A datagram that fills the buffer may have
/// been cut by the kernel, so it is refused rather than parsed.
pub const MAX_DATAGRAM: usize = 32 * 1024;

/// Receives one datagram from the connected peer, refusing one that fills the buffer.
pub async fn recv_datagram(sock: &UdpSocket) -> Result<Vec<u8>, QueryError> {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    let n = sock.recv(&mut buf).await?;
    if n >= MAX_DATAGRAM {
        return Err(protocol(format!(
            "datagram larger than {MAX_DATAGRAM} bytes"
        )));
    }
    buf.truncate(n);
    Ok(buf)
}

/// A cursor over a reply; every read fails with a protocol error naming
/// what was being read instead of running off the end.
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub fn bytes(&mut self, n: usize, what: &str) -> Result<&'a [u8], QueryError> {
        if self.remaining() < n {
            return Err(protocol(format!("reply truncated in {what}")));
        }
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    pub fn rest(&mut self) -> &'a [u8] {
        let out = &self.buf[self.pos..];
        self.pos = self.buf.len();
        out
    }

    pub fn u8(&mut self, what: &str) -> Result<u8, QueryError> {
        Ok(self.bytes(1, what)?[0])
    }

    pub fn u16_le(&mut self, what: &str) -> Result<u16, QueryError> {
        let b = self.bytes(2, what)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    pub fn u32_le(&mut self, what: &str) -> Result<u32, QueryError> {
        let b = self.bytes(4, what)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// A NUL-terminated string; invalid UTF-8 is replaced rather than refused,
    /// since server names are often in legacy encodings.
    pub fn cstr(&mut self, what: &str) -> Result<String, QueryError> {
        let rest = &self.buf[self.pos..];
        let Some(end) = rest.iter().position(|&b| b == 0) else {
            return Err(protocol(format!("reply truncated in {what} (no NUL)")));
        };
        self.pos += end + 1;
        Ok(String::from_utf8_lossy(&rest[..end]).into_owned())
    }
}

/// Empty strings from a server mean "not set".
pub fn non_empty(s: String) -> Option<String> {
    if s.is_empty() { None } else { Some(s) }
}
