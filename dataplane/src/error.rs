//! The engine's control-plane errors.

/// What went wrong building or configuring the engine.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("node '{from}' names next node '{to}', which is not registered")]
    UnresolvedArc { from: String, to: String },
    #[error("no node named '{0}'")]
    NoSuchNode(String),
    #[error("node '{0}' is registered twice")]
    DuplicateNode(String),
    #[error("graph: {0}")]
    Graph(String),
    #[error("buffers: {0}")]
    Buffers(#[source] std::io::Error),
    #[error("thread {thread}: {message}")]
    Thread { thread: usize, message: String },
    #[error("{0}")]
    Config(#[from] crate::config::ConfigError),
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
}
