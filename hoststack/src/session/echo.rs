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
    /// Copies as much rx as the tx fifo takes. Bytes are consumed only once
    /// written; a short write arms a TxSpace event to resume.
    fn pump(&mut self, s: &mut AppSession<'_>) {
        loop {
            let n = s.peek_into(&mut self.scratch);
            if n == 0 {
                break;
            }
            let put = s.write(&self.scratch[..n]);
            s.consume(put as u32);
            self.bytes += put as u64;
            if put < n {
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

/// The byte an echo client sends at stream offset `off` (not periodic over
/// short spans, so a lost, repeated or misplaced segment shows).
pub fn pattern(off: u64) -> u8 {
    (off.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 56) as u8
}

/// What an echo client run achieved so far (shared with the command
/// waiting for it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EchoClientReport {
    pub clients: u32,
    pub connected: u32,
    /// Sessions that got every byte back and closed.
    pub finished: u32,
    /// Sessions reset or timed out.
    pub failed: u32,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    /// Received bytes that differ from what was sent at their offset.
    pub mismatches: u64,
}

impl EchoClientReport {
    /// Every client finished or failed.
    pub fn done(&self) -> bool {
        self.finished + self.failed >= self.clients
    }
}

#[derive(Default, Clone, Copy)]
struct ClientFlow {
    sent: u64,
    received: u64,
}

/// The built-in echo client (`test echo client`): each session sends
/// `bytes` of [`pattern`], checks that the same bytes come back, then
/// closes.
pub struct EchoClient {
    bytes: u64,
    scratch: Vec<u8>,
    flows: hashbrown::HashMap<SessionIndex, ClientFlow>,
    ended: HashSet<SessionIndex>,
    report: std::sync::Arc<std::sync::Mutex<EchoClientReport>>,
}

impl EchoClient {
    /// A client sending `bytes` per session, reporting into `report`.
    pub fn new(bytes: u64, report: std::sync::Arc<std::sync::Mutex<EchoClientReport>>) -> Self {
        EchoClient { bytes, scratch: vec![0; CHUNK], flows: hashbrown::HashMap::new(), ended: HashSet::new(), report }
    }

    fn update(&self, f: impl FnOnce(&mut EchoClientReport)) {
        f(&mut crate::nodes::lock(&self.report));
    }

    fn send(&mut self, s: &mut AppSession<'_>) {
        let Some(flow) = self.flows.get_mut(&s.index()) else { return };
        let mut sent = 0u64;
        while flow.sent < self.bytes {
            let n = ((self.bytes - flow.sent) as usize).min(CHUNK);
            for (k, b) in self.scratch[..n].iter_mut().enumerate() {
                *b = pattern(flow.sent + k as u64);
            }
            let put = s.write(&self.scratch[..n]);
            flow.sent += put as u64;
            sent += put as u64;
            if put < n {
                break;
            }
        }
        self.update(|r| r.bytes_sent += sent);
    }

    fn receive(&mut self, s: &mut AppSession<'_>) {
        let Some(flow) = self.flows.get_mut(&s.index()) else { return };
        let (mut got, mut bad) = (0u64, 0u64);
        loop {
            let n = s.read(&mut self.scratch);
            if n == 0 {
                break;
            }
            for (k, &b) in self.scratch[..n].iter().enumerate() {
                bad += (b != pattern(flow.received + k as u64)) as u64;
            }
            flow.received += n as u64;
            got += n as u64;
        }
        let complete = flow.received >= self.bytes;
        self.update(|r| {
            r.bytes_received += got;
            r.mismatches += bad;
        });
        if complete {
            // Done once every byte is back (the close and TIME_WAIT follow).
            if self.ended.insert(s.index()) {
                self.update(|r| r.finished += 1);
            }
            s.close();
        }
    }
}

impl App for EchoClient {
    fn name(&self) -> &str {
        "echo-client"
    }

    fn on_event(&mut self, s: &mut AppSession<'_>, event: AppEvent) {
        match event {
            AppEvent::Connected => {
                self.ended.remove(&s.index());
                self.flows.insert(s.index(), ClientFlow::default());
                self.update(|r| r.connected += 1);
                self.send(s);
            }
            AppEvent::TxSpace => self.send(s),
            AppEvent::Rx => {
                self.receive(s);
                self.send(s);
            }
            AppEvent::Accepted | AppEvent::Disconnected => {}
            AppEvent::Reset | AppEvent::Closed => {
                // The first of the two ends the flow: a reset or a close
                // before every byte came back is a failure.
                if self.ended.insert(s.index()) {
                    let ok = event == AppEvent::Closed
                        && self.flows.get(&s.index()).is_some_and(|f| f.received >= self.bytes);
                    self.update(|r| if ok { r.finished += 1 } else { r.failed += 1 });
                }
                self.flows.remove(&s.index());
            }
        }
    }
}
