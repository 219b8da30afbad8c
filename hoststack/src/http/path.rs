//! From a request target to a file under the root, and from a file name to
//! its content type.
//!
//! A target is origin-form (`/a/b?q`) or absolute-form
//! (`http://host/a/b`); the query is ignored. It is percent-decoded first
//! and split into segments after, so an encoded `/` or `.` cannot smuggle a
//! `..` past the check: any `..` segment, a NUL byte, or a bad `%` escape
//! is a 400. `.` and empty segments are dropped. The result is a relative
//! path to join to the root (never absolute, never climbing).

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::Status;

/// The relative path a target names, or why it names none.
pub fn resolve(target: &[u8]) -> Result<PathBuf, Status> {
    let mut t = target;
    for scheme in [&b"http://"[..], b"https://"] {
        if t.len() >= scheme.len() && t[..scheme.len()].eq_ignore_ascii_case(scheme) {
            let rest = &t[scheme.len()..];
            t = rest.iter().position(|&b| b == b'/').map_or(&b"/"[..], |p| &rest[p..]);
            break;
        }
    }
    if t.first() != Some(&b'/') {
        return Err(Status::BadRequest);
    }
    let end = t.iter().position(|&b| b == b'?' || b == b'#').unwrap_or(t.len());
    let decoded = percent_decode(&t[..end]).ok_or(Status::BadRequest)?;
    if decoded.contains(&0) {
        return Err(Status::BadRequest);
    }
    let mut out = PathBuf::new();
    for seg in decoded.split(|&b| b == b'/') {
        match seg {
            b"" | b"." => {}
            b".." => return Err(Status::BadRequest),
            s => out.push(OsStr::from_bytes(s)),
        }
    }
    Ok(out)
}

/// `%XX` escapes to bytes; None on a malformed escape.
fn percent_decode(s: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'%' {
            let hi = hex(*s.get(i + 1)?)?;
            let lo = hex(*s.get(i + 2)?)?;
            out.push(hi << 4 | lo);
            i += 3;
        } else {
            out.push(s[i]);
            i += 1;
        }
    }
    Some(out)
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// The content type of a file, by its extension (case-insensitive).
pub fn content_type(path: &Path) -> &'static str {
    let ext = path.extension().map(|e| e.as_bytes().to_ascii_lowercase()).unwrap_or_default();
    match &ext[..] {
        b"html" | b"htm" => "text/html; charset=utf-8",
        b"css" => "text/css; charset=utf-8",
        b"js" | b"mjs" => "text/javascript; charset=utf-8",
        b"json" => "application/json",
        b"txt" => "text/plain; charset=utf-8",
        b"png" => "image/png",
        b"jpg" | b"jpeg" => "image/jpeg",
        b"gif" => "image/gif",
        b"svg" => "image/svg+xml",
        b"ico" => "image/x-icon",
        b"wasm" => "application/wasm",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(t: &str) -> String {
        resolve(t.as_bytes()).unwrap().to_string_lossy().into_owned()
    }

    #[test]
    fn plain_paths() {
        assert_eq!(ok("/index.html"), "index.html");
        assert_eq!(ok("/"), "");
        assert_eq!(ok("/a/b/c.txt?x=1&y=/../.."), "a/b/c.txt");
        assert_eq!(ok("//a///b/./c"), "a/b/c");
        assert_eq!(ok("/dir/"), "dir");
        assert_eq!(ok("/a#frag"), "a");
        assert_eq!(ok("http://example.com/x/y"), "x/y");
        assert_eq!(ok("HTTP://example.com"), "");
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(ok("/hello%20world.txt"), "hello world.txt");
        assert_eq!(ok("/%7euser/%41"), "~user/A");
        assert_eq!(ok("/a%2fb"), "a/b");
        assert_eq!(resolve("/caf%C3%A9".as_bytes()).unwrap(), Path::new("café"));
    }

    #[test]
    fn traversal_and_garbage_are_400() {
        for bad in [
            "/..",
            "/../etc/passwd",
            "/a/../../b",
            "/a/..",
            "/%2e%2e/x",
            "/%2E%2E%2Fetc",
            "/a%2f..%2fb",
            "/a%00b",
            "/%",
            "/%4",
            "/%zz",
            "*",
            "index.html",
            "",
        ] {
            assert_eq!(resolve(bad.as_bytes()), Err(Status::BadRequest), "{bad}");
        }
        // Dots inside a name are just a name.
        assert_eq!(ok("/a..b/...x"), "a..b/...x");
    }

    #[test]
    fn resolved_paths_are_relative() {
        for t in ["/", "//etc/passwd", "/./../", "http://h//etc"] {
            if let Ok(p) = resolve(t.as_bytes()) {
                assert!(p.is_relative(), "{t}");
                assert!(!p.components().any(|c| matches!(c, std::path::Component::ParentDir)));
            }
        }
    }

    #[test]
    fn content_types() {
        let ct = |p: &str| content_type(Path::new(p));
        assert_eq!(ct("index.html"), "text/html; charset=utf-8");
        assert_eq!(ct("A.HTM"), "text/html; charset=utf-8");
        assert_eq!(ct("s.css"), "text/css; charset=utf-8");
        assert_eq!(ct("app.js"), "text/javascript; charset=utf-8");
        assert_eq!(ct("d.json"), "application/json");
        assert_eq!(ct("r.txt"), "text/plain; charset=utf-8");
        assert_eq!(ct("p.png"), "image/png");
        assert_eq!(ct("p.JPG"), "image/jpeg");
        assert_eq!(ct("p.jpeg"), "image/jpeg");
        assert_eq!(ct("g.gif"), "image/gif");
        assert_eq!(ct("v.svg"), "image/svg+xml");
        assert_eq!(ct("favicon.ico"), "image/x-icon");
        assert_eq!(ct("m.wasm"), "application/wasm");
        assert_eq!(ct("blob"), "application/octet-stream");
        assert_eq!(ct("x.tar.gz"), "application/octet-stream");
    }
}
