//! Response heads: the status line and the headers the server sends, and
//! the IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`) of `Date` and
//! `Last-Modified`.

use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use super::Status;

/// What goes into one response head.
#[derive(Debug, Clone, Copy)]
pub struct Head<'a> {
    pub status: Status,
    pub content_type: &'a str,
    pub content_length: u64,
    pub keep_alive: bool,
    /// The current time, formatted (see [`DateCache`]).
    pub date: &'a str,
    /// The file's modification time, formatted, for 200s.
    pub last_modified: Option<&'a str>,
    /// `Cache-Control: max-age` seconds for 200s (0: none sent).
    pub max_age: u32,
}

/// Writes the head (status line, headers, empty line) into `out`.
pub fn write_head(out: &mut Vec<u8>, h: &Head<'_>) {
    // Writes to a Vec cannot fail.
    let _ = write!(
        out,
        "HTTP/1.1 {} {}\r\nServer: rvpp\r\nDate: {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n",
        h.status.code(),
        h.status.reason(),
        h.date,
        h.content_type,
        h.content_length
    );
    if let Some(m) = h.last_modified {
        let _ = write!(out, "Last-Modified: {m}\r\n");
    }
    if h.status == Status::Ok && h.max_age > 0 {
        let _ = write!(out, "Cache-Control: max-age={}\r\n", h.max_age);
    }
    if h.status == Status::MethodNotAllowed {
        out.extend_from_slice(b"Allow: GET, HEAD\r\n");
    }
    out.extend_from_slice(if h.keep_alive { b"Connection: keep-alive\r\n\r\n" } else { b"Connection: close\r\n\r\n" });
}

/// The body of an error response (`404 Not Found\n`).
pub fn error_body(s: Status) -> String {
    format!("{} {}\n", s.code(), s.reason())
}

/// Seconds since the epoch as an IMF-fixdate.
pub fn http_date(secs: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let days = secs / 86400;
    let rem = secs % 86400;
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + (month <= 2) as i64;
    format!(
        "{}, {:02} {} {} {:02}:{:02}:{:02} GMT",
        DAYS[(days % 7) as usize],
        day,
        MONTHS[(month - 1) as usize],
        year,
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Seconds since the epoch of a time (0 before it).
pub fn epoch_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// The current date, formatted once per second.
#[derive(Debug, Default)]
pub struct DateCache {
    secs: u64,
    text: String,
}

impl DateCache {
    /// Now, formatted.
    pub fn now(&mut self) -> &str {
        let s = epoch_secs(SystemTime::now());
        if s != self.secs || self.text.is_empty() {
            self.secs = s;
            self.text = http_date(s);
        }
        &self.text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(http_date(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(http_date(951_782_400), "Tue, 29 Feb 2000 00:00:00 GMT");
        assert_eq!(http_date(4_107_542_399), "Sun, 28 Feb 2100 23:59:59 GMT");
    }

    #[test]
    fn heads() {
        let mut out = Vec::new();
        write_head(
            &mut out,
            &Head {
                status: Status::Ok,
                content_type: "text/html",
                content_length: 12,
                keep_alive: true,
                date: "D",
                last_modified: Some("M"),
                max_age: 600,
            },
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "HTTP/1.1 200 OK\r\nServer: rvpp\r\nDate: D\r\nContent-Type: text/html\r\nContent-Length: 12\r\n\
             Last-Modified: M\r\nCache-Control: max-age=600\r\nConnection: keep-alive\r\n\r\n"
        );
        let mut out = Vec::new();
        write_head(
            &mut out,
            &Head {
                status: Status::MethodNotAllowed,
                content_type: "text/plain",
                content_length: 23,
                keep_alive: false,
                date: "D",
                last_modified: None,
                max_age: 600,
            },
        );
        let s = String::from_utf8(out).unwrap();
        assert!(s.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"));
        assert!(s.contains("\r\nAllow: GET, HEAD\r\n"));
        assert!(!s.contains("Cache-Control"));
        assert!(s.ends_with("Connection: close\r\n\r\n"));
        assert_eq!(error_body(Status::MethodNotAllowed).len(), 23);
    }
}
