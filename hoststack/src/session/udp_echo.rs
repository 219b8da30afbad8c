//! The built-in UDP echo client (`test echo client uri udp://<addr>/<port>`):
//! each session sends `bytes` of the echo [`super::echo::pattern`] in
//! datagrams of up to [`DGRAM_PAYLOAD`] bytes, each led by the 8-byte
//! stream offset of its pattern bytes, with at most [`WINDOW`] datagrams
//! unanswered at a time. Every answer is checked against the pattern at its
//! offset, so reordering is fine and a corrupted, cut, merged or unknown
//! datagram counts as mismatched bytes. A session is finished once every
//! byte came back. UDP does not resend: a lost datagram stalls its session
//! until the command's timeout, whose report says how far it got.

use std::sync::{Arc, Mutex};

use hashbrown::HashMap;

use super::app::{App, AppEvent, AppSession};
use super::echo::{EchoClientReport, PatternTable};
use super::SessionIndex;

/// Payload bytes per datagram (offset included): fits a 1500-byte MTU
/// over IPv4 and IPv6.
pub const DGRAM_PAYLOAD: usize = 1400;
/// Datagrams a session has unanswered at most.
pub const WINDOW: usize = 32;
/// The offset that leads each datagram.
const OFFSET_LEN: usize = 8;

#[derive(Default)]
struct Flow {
    sent: u64,
    received: u64,
    /// Offset → pattern bytes of each datagram not answered yet.
    outstanding: HashMap<u64, u32>,
    done: bool,
}

/// The UDP echo client app.
pub struct UdpEchoClient {
    bytes: u64,
    table: PatternTable,
    flows: HashMap<SessionIndex, Flow>,
    report: Arc<Mutex<EchoClientReport>>,
    buf: Box<[u8]>,
}

impl UdpEchoClient {
    /// A client sending `bytes` per session, reporting into `report`.
    pub fn new(bytes: u64, report: Arc<Mutex<EchoClientReport>>) -> Self {
        UdpEchoClient {
            bytes,
            table: PatternTable::new(),
            flows: HashMap::new(),
            report,
            buf: vec![0u8; 1 << 16].into_boxed_slice(),
        }
    }

    fn update(&self, f: impl FnOnce(&mut EchoClientReport)) {
        f(&mut crate::nodes::lock(&self.report));
    }

    fn send(&mut self, s: &mut AppSession<'_>) {
        let Some(flow) = self.flows.get_mut(&s.index()) else { return };
        let (mut dgrams, mut bytes) = (0u64, 0u64);
        while flow.sent < self.bytes && flow.outstanding.len() < WINDOW {
            let n = ((self.bytes - flow.sent) as usize).min(DGRAM_PAYLOAD - OFFSET_LEN);
            self.buf[..OFFSET_LEN].copy_from_slice(&flow.sent.to_be_bytes());
            let mut filled = 0;
            while filled < n {
                let run = self.table.run(flow.sent + filled as u64, n - filled);
                self.buf[OFFSET_LEN + filled..OFFSET_LEN + filled + run.len()].copy_from_slice(run);
                filled += run.len();
            }
            if s.write(&self.buf[..OFFSET_LEN + n]) == 0 {
                break; // a tx-space event resumes
            }
            flow.outstanding.insert(flow.sent, n as u32);
            flow.sent += n as u64;
            dgrams += 1;
            bytes += n as u64;
        }
        self.update(|r| {
            r.datagrams_sent += dgrams;
            r.bytes_sent += bytes;
        });
    }

    fn receive(&mut self, s: &mut AppSession<'_>) {
        let Some(flow) = self.flows.get_mut(&s.index()) else { return };
        let (mut dgrams, mut got, mut bad) = (0u64, 0u64, 0u64);
        while let Some((h, len)) = s.recv_from(&mut self.buf) {
            dgrams += 1;
            let d = &self.buf[..len];
            let known = (h.len as usize == len && len >= OFFSET_LEN)
                .then(|| u64::from_be_bytes(d[..OFFSET_LEN].try_into().unwrap_or_default()))
                .and_then(|off| Some(off).zip(flow.outstanding.get(&off).copied()))
                .filter(|&(_, n)| n as usize == len - OFFSET_LEN);
            match known {
                Some((off, n)) => {
                    flow.outstanding.remove(&off);
                    bad += self.table.mismatches(off, &d[OFFSET_LEN..]);
                    flow.received += n as u64;
                    got += n as u64;
                }
                // Not one we are waiting for: all its bytes are wrong.
                None => bad += (h.len as u64).max(1),
            }
        }
        let complete = !flow.done && flow.received >= self.bytes;
        if complete {
            flow.done = true;
        }
        self.update(|r| {
            r.datagrams_received += dgrams;
            r.bytes_received += got;
            r.mismatches += bad;
            if complete {
                r.finished += 1;
            }
        });
        if complete {
            s.close();
        }
    }
}

impl App for UdpEchoClient {
    fn name(&self) -> &str {
        "udp-echo-client"
    }

    fn on_event(&mut self, s: &mut AppSession<'_>, event: AppEvent) {
        match event {
            AppEvent::Connected => {
                self.flows.insert(s.index(), Flow::default());
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
                // Closed before every byte came back: a failure.
                if let Some(f) = self.flows.remove(&s.index()) {
                    if !f.done {
                        self.update(|r| r.failed += 1);
                    }
                }
            }
        }
    }
}
