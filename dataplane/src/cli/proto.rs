//! The wire protocol between `rvppctl` (or any client) and the daemon's CLI
//! socket (`unix { cli-listen <path> }`), a unix stream socket.
//!
//! Every message is a frame: a little-endian `u32` byte length followed by
//! that many bytes.
//! - request: the UTF-8 command line (`show interface`). A line starting with
//!   [`COMPLETE_PREFIX`] asks for completions of the rest of the line instead
//!   of running it.
//! - response: one status byte ([`STATUS_OK`] or [`STATUS_ERROR`]) followed by
//!   the UTF-8 output (or error message). For a completion request the output
//!   is the candidate words, one per line.
//!
//! Frames larger than [`MAX_FRAME`] are refused with an error, so a broken or
//! hostile peer cannot make either side allocate without bound.

use std::io::{self, Read, Write};

/// Largest frame either side accepts.
pub const MAX_FRAME: usize = 16 << 20;
/// Status byte of a successful command.
pub const STATUS_OK: u8 = 0;
/// Status byte of a failed command; the body is the error text.
pub const STATUS_ERROR: u8 = 1;
/// A request line starting with this asks for completions of the rest.
pub const COMPLETE_PREFIX: &str = "\u{0}complete ";

fn write_frame(w: &mut impl Write, parts: &[&[u8]]) -> io::Result<()> {
    let len: usize = parts.iter().map(|p| p.len()).sum();
    if len > MAX_FRAME {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "frame too large"));
    }
    let mut out = Vec::with_capacity(4 + len);
    out.extend_from_slice(&(len as u32).to_le_bytes());
    for p in parts {
        out.extend_from_slice(p);
    }
    w.write_all(&out)?;
    w.flush()
}

/// Reads one frame. `Ok(None)` is a clean end of stream before a frame began.
pub fn read_frame(r: &mut impl Read) -> io::Result<Option<Vec<u8>>> {
    let mut len = [0u8; 4];
    let mut got = 0;
    while got < 4 {
        match r.read(&mut len[got..]) {
            Ok(0) if got == 0 => return Ok(None),
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let len = u32::from_le_bytes(len) as usize;
    if len > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("frame of {len} bytes exceeds the {MAX_FRAME} byte limit"),
        ));
    }
    let mut body = vec![0u8; len];
    r.read_exact(&mut body)?;
    Ok(Some(body))
}

/// Sends a command line.
pub fn write_request(w: &mut impl Write, line: &str) -> io::Result<()> {
    write_frame(w, &[line.as_bytes()])
}

/// Reads a command line; `Ok(None)` when the client closed the connection.
pub fn read_request(r: &mut impl Read) -> io::Result<Option<String>> {
    match read_frame(r)? {
        None => Ok(None),
        Some(b) => String::from_utf8(b)
            .map(Some)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "request is not UTF-8")),
    }
}

/// Sends a command's result.
pub fn write_response(w: &mut impl Write, result: &Result<String, String>) -> io::Result<()> {
    let (status, body) = match result {
        Ok(s) => (STATUS_OK, s.as_bytes()),
        Err(s) => (STATUS_ERROR, s.as_bytes()),
    };
    write_frame(w, &[&[status], body])
}

/// Reads a command's result: `Ok(Ok(output))` or `Ok(Err(error text))`.
pub fn read_response(r: &mut impl Read) -> io::Result<Result<String, String>> {
    let body = read_frame(r)?.ok_or_else(|| io::Error::from(io::ErrorKind::UnexpectedEof))?;
    let (status, text) =
        body.split_first().ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "empty response frame"))?;
    let text = String::from_utf8_lossy(text).into_owned();
    match *status {
        STATUS_OK => Ok(Ok(text)),
        STATUS_ERROR => Ok(Err(text)),
        s => Err(io::Error::new(io::ErrorKind::InvalidData, format!("unknown response status {s}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_and_response_round_trip() {
        let mut wire = Vec::new();
        write_request(&mut wire, "show interface").unwrap();
        write_response(&mut wire, &Ok("out".into())).unwrap();
        write_response(&mut wire, &Err("bad".into())).unwrap();
        let mut r = &wire[..];
        assert_eq!(read_request(&mut r).unwrap().as_deref(), Some("show interface"));
        assert_eq!(read_response(&mut r).unwrap(), Ok("out".to_string()));
        assert_eq!(read_response(&mut r).unwrap(), Err("bad".to_string()));
        assert_eq!(read_request(&mut r).unwrap(), None);
    }

    #[test]
    fn oversized_frame_is_refused() {
        let mut wire = Vec::new();
        wire.extend_from_slice(&(u32::MAX).to_le_bytes());
        assert!(read_frame(&mut &wire[..]).is_err());
    }

    #[test]
    fn truncated_frame_is_an_error() {
        let wire = [5u8, 0, 0, 0, b'a'];
        assert!(read_frame(&mut &wire[..]).is_err());
        assert!(read_frame(&mut &[1u8, 0][..]).is_err());
    }
}
