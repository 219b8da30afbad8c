//! The built-in echo server (`test echo server uri tcp://0.0.0.0/<port>`):
//! every byte received is written back; once the peer closes and all its
//! bytes went back, the server closes too.

use hashbrown::HashSet;

use super::app::{App, AppEvent, AppSession};
use super::SessionIndex;

/// Bytes moved from rx to tx per copy.
const CHUNK: usize = 16 * 1024;

/// One worker's echo server.
pub struct EchoServer {
    scratch: Vec<u8>,
    /// Sessions whose peer closed; we close once their bytes are echoed.
    peer_closed: HashSet<SessionIndex>,
    /// Bytes echoed.
    pub bytes: u64,
    /// Sessions accepted.
    pub accepted: u64,
}

impl Default for EchoServer {
    fn default() -> Self {
        EchoServer { scratch: vec![0; CHUNK], peer_closed: HashSet::new(), bytes: 0, accepted: 0 }
    }
}

impl EchoServer {
    /// Copies as much rx as the tx fifo takes.
    fn pump(&mut self, s: &mut AppSession<'_>) {
        loop {
            let n = (s.rx_len().min(s.tx_free()) as usize).min(CHUNK);
            if n == 0 {
                break;
            }
            let got = s.read(&mut self.scratch[..n]);
            let put = s.write(&self.scratch[..got]);
            self.bytes += put as u64;
            if put < got || got == 0 {
                // tx_free said it fits; a refusal means the session stopped
                // taking data (closing): nothing more to do.
                break;
            }
        }
        if self.peer_closed.contains(&s.index()) && s.rx_len() == 0 {
            s.close();
        }
    }
}

impl App for EchoServer {
    fn name(&self) -> &str {
        "echo-server"
    }

    fn on_event(&mut self, s: &mut AppSession<'_>, event: AppEvent) {
        match event {
            AppEvent::Accepted => {
                self.accepted += 1;
                self.pump(s);
            }
            AppEvent::Connected | AppEvent::Rx | AppEvent::TxSpace => self.pump(s),
            AppEvent::Disconnected => {
                self.peer_closed.insert(s.index());
                self.pump(s);
            }
            AppEvent::Reset => {
                self.peer_closed.remove(&s.index());
            }
            AppEvent::Closed => {
                self.peer_closed.remove(&s.index());
            }
        }
    }
}
