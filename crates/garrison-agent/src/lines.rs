//! Splitting a byte stream into console lines the way a terminal would show them.

/// Turns chunks of process output into lines: split on `\n`, a trailing `\r` stripped,
/// a lone `\r` inside a line keeps only what follows it, lines longer than `max` bytes
/// cut (the rest dropped up to the newline), invalid UTF-8 replaced.
#[derive(Debug)]
pub(crate) struct LineSplitter {
    buf: Vec<u8>,
    max: usize,
    pending_cr: bool,
    cut: bool,
}

impl LineSplitter {
    pub(crate) fn new(max: usize) -> LineSplitter {
        LineSplitter {
            buf: Vec::new(),
            max: max.max(1),
            pending_cr: false,
            cut: false,
        }
    }

    /// Feed bytes; complete lines are appended to `out`.
    pub(crate) fn push(&mut self, data: &[u8], out: &mut Vec<String>) {
        let mut rest = data;
        while !rest.is_empty() {
            match rest.iter().position(|&b| b == b'\n' || b == b'\r') {
                None => {
                    self.plain(rest);
                    break;
                }
                Some(p) => {
                    self.plain(&rest[..p]);
                    if rest[p] == b'\n' {
                        self.end_line(out);
                    } else {
                        self.pending_cr = true;
                    }
                    rest = &rest[p + 1..];
                }
            }
        }
    }

    /// End of stream: a final unterminated line is emitted.
    pub(crate) fn finish(&mut self, out: &mut Vec<String>) {
        if !self.buf.is_empty() {
            self.end_line(out);
        }
    }

    fn plain(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        if self.pending_cr {
            // Text after a carriage return overwrites the line, as on a terminal.
            self.buf.clear();
            self.cut = false;
            self.pending_cr = false;
        }
        let room = self.max.saturating_sub(self.buf.len());
        if bytes.len() > room {
            self.cut = true;
        }
        self.buf.extend_from_slice(&bytes[..bytes.len().min(room)]);
    }

    fn end_line(&mut self, out: &mut Vec<String>) {
        if self.cut {
            // Do not leave half a UTF-8 character at the cut.
            if let Err(e) = std::str::from_utf8(&self.buf)
                && e.error_len().is_none()
            {
                self.buf.truncate(e.valid_up_to());
            }
        }
        out.push(String::from_utf8_lossy(&self.buf).into_owned());
        self.buf.clear();
        self.pending_cr = false;
        self.cut = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(chunks: &[&[u8]], max: usize) -> Vec<String> {
        let mut s = LineSplitter::new(max);
        let mut out = Vec::new();
        for c in chunks {
            s.push(c, &mut out);
        }
        s.finish(&mut out);
        out
    }

    #[test]
    fn plain_lines_and_partial_chunks() {
        assert_eq!(
            split(&[b"a\nb", b"c\n", b"\n", b"tail"], 100),
            ["a", "bc", "", "tail"]
        );
    }

    #[test]
    fn carriage_returns() {
        assert_eq!(split(&[b"win\r\n"], 100), ["win"]);
        assert_eq!(split(&[b"10%\r50%\r100%\n"], 100), ["100%"]);
        assert_eq!(split(&[b"10%\r", b"\n"], 100), ["10%"]);
        assert_eq!(split(&[b"a\r", b"b\r\r\n"], 100), ["b"]);
        assert_eq!(split(&[b"\r\n"], 100), [""]);
    }

    #[test]
    fn long_lines_are_cut() {
        let mut long = vec![b'x'; 50];
        long.push(b'\n');
        long.extend_from_slice(b"next\n");
        assert_eq!(split(&[&long], 10), ["x".repeat(10), "next".to_owned()]);
        // the cut never leaves half a character
        assert_eq!(split(&["ééééé\n".as_bytes()], 5), ["éé"]);
        // a carriage return after a cut starts a fresh visible line
        assert_eq!(split(&[b"xxxxxxxxxxxxxxx\rok\n"], 5), ["ok"]);
    }

    #[test]
    fn invalid_utf8_is_replaced() {
        assert_eq!(split(&[b"a\xffb\n"], 100), ["a\u{fffd}b"]);
    }
}
