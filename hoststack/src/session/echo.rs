//! The built-in echo server (`test echo server uri tcp://0.0.0.0/<port>`,
//! `udp://0.0.0.0/<port>`): every byte received is written back; once the
//! peer closes and all its bytes went back, the server closes too. Over
//! UDP every datagram goes back whole to its source (the listener hears
//! many peers). The TCP echo client is here too; UDP's is in
//! [`super::udp_echo`].

use hashbrown::HashSet;

use super::app::{App, AppEvent, AppSession};
use super::SessionIndex;

/// Bytes moved from rx to tx per copy.
const CHUNK: usize = 16 * 1024;

/// One worker's echo server.
pub struct EchoServer {
    /// Sessions whose peer closed; we close once their bytes are echoed.
    peer_closed: HashSet<SessionIndex>,
    /// Bytes echoed.
    pub bytes: u64,
    /// Sessions accepted.
    pub accepted: u64,
}

impl Default for EchoServer {
    fn default() -> Self {
        EchoServer { peer_closed: HashSet::new(), bytes: 0, accepted: 0 }
    }
}

impl EchoServer {
    /// Copies as much rx as the tx fifo takes. Bytes are consumed only once
    /// written; a short write arms a TxSpace event to resume.
    fn pump(&mut self, s: &mut AppSession<'_>) {
        self.bytes += s.echo() as u64;
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
    spread(off % PATTERN_PERIOD as u64)
}

fn spread(i: u64) -> u8 {
    (i.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 56) as u8
}

/// [`pattern`] repeats every this many bytes: a prime, so a segment moved
/// by any whole number of segments up to ~90 MB still shows. Tabled once
/// per client, sending and checking are copies and compares, not a
/// multiply per byte.
const PATTERN_PERIOD: usize = 65_521;

/// One period of [`pattern`], offsets `0..PATTERN_PERIOD`.
pub(super) struct PatternTable(Box<[u8]>);

impl PatternTable {
    pub(super) fn new() -> Self {
        PatternTable((0..PATTERN_PERIOD as u64).map(spread).collect())
    }

    /// Up to `max` stream bytes from offset `off` on, as far as they run
    /// contiguously in the table (never empty when `max > 0`).
    pub(super) fn run(&self, off: u64, max: usize) -> &[u8] {
        let at = (off % PATTERN_PERIOD as u64) as usize;
        &self.0[at..at + max.min(PATTERN_PERIOD - at)]
    }

    /// How many of `data`'s bytes (stream offset `off` on) differ from the
    /// pattern.
    pub(super) fn mismatches(&self, off: u64, data: &[u8]) -> u64 {
        let mut at = (off % PATTERN_PERIOD as u64) as usize;
        let mut bad = 0u64;
        let mut rest = data;
        while !rest.is_empty() {
            let n = rest.len().min(PATTERN_PERIOD - at);
            let (got, want) = (&rest[..n], &self.0[at..at + n]);
            // A memcmp first; counting only when something differs.
            if got != want {
                bad += got.iter().zip(want).filter(|(a, b)| a != b).count() as u64;
            }
            rest = &rest[n..];
            at = 0;
        }
        bad
    }
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
    /// UDP: datagrams sent and datagrams that came back.
    pub datagrams_sent: u64,
    pub datagrams_received: u64,
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
/// `bytes` of [`pattern`] (periodic over [`PATTERN_PERIOD`]), checks that
/// the same bytes come back, then closes.
pub struct EchoClient {
    bytes: u64,
    table: PatternTable,
    flows: hashbrown::HashMap<SessionIndex, ClientFlow>,
    ended: HashSet<SessionIndex>,
    report: std::sync::Arc<std::sync::Mutex<EchoClientReport>>,
}

impl EchoClient {
    /// A client sending `bytes` per session, reporting into `report`.
    pub fn new(bytes: u64, report: std::sync::Arc<std::sync::Mutex<EchoClientReport>>) -> Self {
        EchoClient {
            bytes,
            table: PatternTable::new(),
            flows: hashbrown::HashMap::new(),
            ended: HashSet::new(),
            report,
        }
    }

    fn update(&self, f: impl FnOnce(&mut EchoClientReport)) {
        f(&mut crate::nodes::lock(&self.report));
    }

    fn send(&mut self, s: &mut AppSession<'_>) {
        let Some(flow) = self.flows.get_mut(&s.index()) else { return };
        let mut sent = 0u64;
        while flow.sent < self.bytes {
            let n = ((self.bytes - flow.sent) as usize).min(CHUNK);
            let run = self.table.run(flow.sent, n);
            let n = run.len();
            let put = s.write(run);
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
        // Checked in place in the rx fifo, then dropped.
        let n = {
            let (a, b) = s.peek();
            bad += self.table.mismatches(flow.received, a);
            bad += self.table.mismatches(flow.received + a.len() as u64, b);
            a.len() + b.len()
        };
        s.consume(n as u32);
        flow.received += n as u64;
        got += n as u64;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pattern_table_matches_pattern_across_the_period() {
        let t = PatternTable::new();
        let off = PATTERN_PERIOD as u64 * 3 - 100;
        let mut buf = Vec::new();
        while buf.len() < 70_000 {
            buf.extend_from_slice(t.run(off + buf.len() as u64, 70_000 - buf.len()));
        }
        assert!(buf.iter().enumerate().all(|(k, &b)| b == pattern(off + k as u64)));
        assert_eq!(t.mismatches(off, &buf), 0);
        buf[5] ^= 1;
        buf[69_999] ^= 0x80;
        assert_eq!(t.mismatches(off, &buf), 2);
        // A segment shifted by one MSS does not match.
        assert!(t.mismatches(off + 1448, &buf[..1448]) > 1000);
    }
}
