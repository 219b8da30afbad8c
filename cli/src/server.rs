//! The CLI socket server: a listener thread accepts clients on the unix
//! socket; each client gets a thread that reads requests and hands each one
//! to the main thread, which runs it between frames and replies. A client
//! that disconnects mid-command only loses its reply.

use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rvpp_dataplane::cli::proto;
use rvpp_dataplane::engine::MainHandle;

/// Most clients served at once; more are told so and closed.
pub const MAX_CLIENTS: usize = 64;

/// Why the socket could not be set up.
#[derive(Debug)]
pub enum ListenError {
    /// Another daemon answers on this socket.
    InUse(PathBuf),
    Io(PathBuf, std::io::Error),
}

impl std::fmt::Display for ListenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ListenError::InUse(p) => write!(
                f,
                "another rvpp is already listening on {} (stop it, or set a different unix {{ cli-listen <path> }})",
                p.display()
            ),
            ListenError::Io(p, e) => write!(f, "cannot listen on {}: {e}", p.display()),
        }
    }
}

/// Binds the CLI socket: refuses when a live daemon holds it, replaces a
/// stale socket file, sets mode 0660 and the group when given.
pub fn bind(path: &Path, gid: Option<u32>) -> Result<UnixListener, ListenError> {
    let io = |e| ListenError::Io(path.to_path_buf(), e);
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d).map_err(io)?;
    }
    if path.exists() {
        if UnixStream::connect(path).is_ok() {
            return Err(ListenError::InUse(path.to_path_buf()));
        }
        std::fs::remove_file(path).map_err(io)?;
    }
    let l = UnixListener::bind(path).map_err(io)?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660)).map_err(io)?;
    if let Some(g) = gid {
        std::os::unix::fs::chown(path, None, Some(g)).map_err(io)?;
    }
    Ok(l)
}

/// Serves clients until the process ends.
pub fn spawn(listener: UnixListener, main: MainHandle) -> std::io::Result<()> {
    let active = Arc::new(AtomicUsize::new(0));
    std::thread::Builder::new().name("rvpp-cli".into()).spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            if active.load(Ordering::SeqCst) >= MAX_CLIENTS {
                let _ = proto::write_response(&mut conn, &Err(format!("too many CLI clients ({MAX_CLIENTS})")));
                continue;
            }
            active.fetch_add(1, Ordering::SeqCst);
            let (main, active) = (main.clone(), active.clone());
            let spawned = std::thread::Builder::new().name("rvpp-cli-client".into()).spawn(move || {
                serve(conn, &main);
                active.fetch_sub(1, Ordering::SeqCst);
            });
            if spawned.is_err() {
                crate::warn!("cli: cannot start a client thread");
            }
        }
    })?;
    Ok(())
}

fn serve(mut conn: UnixStream, main: &MainHandle) {
    let _ = conn.set_write_timeout(Some(Duration::from_secs(10)));
    loop {
        let line = match proto::read_request(&mut conn) {
            Ok(Some(l)) => l,
            Ok(None) => return,
            Err(e) => {
                let _ = proto::write_response(&mut conn, &Err(format!("bad request: {e}")));
                return;
            }
        };
        let (tx, rx) = crossbeam_channel::bounded::<Result<String, String>>(1);
        let sent = if let Some(partial) = line.strip_prefix(proto::COMPLETE_PREFIX) {
            let partial = partial.to_string();
            main.send(Box::new(move |e| {
                let _ = tx.send(Ok(e.complete(&partial).join("\n")));
            }))
        } else {
            main.send(Box::new(move |e| {
                // A bug in one command must not take the dataplane down.
                let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| e.exec(&line)))
                    .unwrap_or_else(|_| Err(rvpp_dataplane::cli::CliError(format!("internal error running '{line}'"))))
                    .map_err(|x| x.0);
                let _ = tx.send(r);
            }))
        };
        if !sent {
            let _ = proto::write_response(&mut conn, &Err("rvpp is shutting down".into()));
            return;
        }
        let reply = rx.recv().unwrap_or_else(|_| Err("rvpp is shutting down".into()));
        if proto::write_response(&mut conn, &reply).is_err() {
            return;
        }
    }
}
