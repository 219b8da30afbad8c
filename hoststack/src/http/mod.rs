//! The built-in HTTP static server (`http static server www-root <dir> uri
//! tcp://0.0.0.0/80 [cache-size <n>]`): files under a root directory served
//! over HTTP/1.0 and HTTP/1.1 (GET and HEAD, keep-alive, pipelining) to the
//! session layer's TCP sessions.
//!
//! The pieces, each without I/O where it can be:
//! - [`request`]: an incremental request parser with hard bounds (request
//!   line, header count and bytes, discarded body), fed whatever bytes have
//!   arrived;
//! - [`path`]: a request target to a path under the root (percent-decoding,
//!   no `..`, no NUL) and the content type of a file name;
//! - [`response`]: status lines and headers, the HTTP date;
//! - [`cache`]: the file cache shared by a server's workers, bounded in
//!   bytes with LRU eviction;
//! - [`server`]: the [`crate::session::App`] each worker runs per listener:
//!   one response in flight per connection, written as the tx fifo takes it
//!   (files too big for the cache are read from disk one fifo-full at a
//!   time, never held whole);
//! - [`commands`]: `http static server` and `show http static server`, and
//!   the idle-connection sweep.

pub mod cache;
pub mod commands;
pub mod path;
pub mod request;
pub mod response;
pub mod server;

pub use commands::register;

/// The statuses the server answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    Ok,
    BadRequest,
    Forbidden,
    NotFound,
    MethodNotAllowed,
    LengthRequired,
    PayloadTooLarge,
    UriTooLong,
    HeaderFieldsTooLarge,
    InternalError,
    NotImplemented,
    VersionNotSupported,
}

impl Status {
    /// The three-digit code.
    pub fn code(self) -> u16 {
        match self {
            Status::Ok => 200,
            Status::BadRequest => 400,
            Status::Forbidden => 403,
            Status::NotFound => 404,
            Status::MethodNotAllowed => 405,
            Status::LengthRequired => 411,
            Status::PayloadTooLarge => 413,
            Status::UriTooLong => 414,
            Status::HeaderFieldsTooLarge => 431,
            Status::InternalError => 500,
            Status::NotImplemented => 501,
            Status::VersionNotSupported => 505,
        }
    }

    /// The reason phrase (RFC 9110's).
    pub fn reason(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::BadRequest => "Bad Request",
            Status::Forbidden => "Forbidden",
            Status::NotFound => "Not Found",
            Status::MethodNotAllowed => "Method Not Allowed",
            Status::LengthRequired => "Length Required",
            Status::PayloadTooLarge => "Content Too Large",
            Status::UriTooLong => "URI Too Long",
            Status::HeaderFieldsTooLarge => "Request Header Fields Too Large",
            Status::InternalError => "Internal Server Error",
            Status::NotImplemented => "Not Implemented",
            Status::VersionNotSupported => "HTTP Version Not Supported",
        }
    }
}
