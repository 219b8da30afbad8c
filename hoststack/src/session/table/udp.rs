//! UDP in a worker's table: listeners whose session hears every peer,
//! connected sessions from an ephemeral port, datagrams in from
//! `udp4-input` / `udp6-input` and out through the sink. UDP sessions share
//! the slab, the tuple index, the apps and the event queue with TCP; they
//! have no timers. One Rx event is queued per burst (until the app heard
//! it), however many datagrams the burst held.

use std::net::{IpAddr, SocketAddr};

use super::{unspecified, Session, SessionTable, TransportConn};
use crate::fifo::dgram::DgramHeader;
use crate::session::{AppEvent, AppIndex, FiveTuple, SegmentSink, SessionError, SessionIndex, PROTO_UDP};
use crate::udp::{UdpSession, UdpState};

/// What became of a datagram handed to [`SessionTable::udp_input`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UdpDelivery {
    /// Queued in a session's rx fifo.
    Delivered,
    /// The session's rx fifo had no room: dropped.
    RxFull,
    /// No session or listener for it (the caller answers with ICMP port
    /// unreachable).
    NoSession,
}

impl SessionTable {
    /// The session a UDP listener on `endpoint` receives into.
    pub(super) fn udp_listener_session(&mut self, app: AppIndex, endpoint: SocketAddr) -> Result<u32, SessionError> {
        if self.by_tuple.len() >= self.max_sessions {
            self.stats.sessions_refused += 1;
            return Err(SessionError::TooManySessions(self.max_sessions));
        }
        let u = UdpSession::listen(endpoint, self.cfg.rx_fifo_size, self.cfg.tx_fifo_size)?;
        let tuple = FiveTuple::udp(endpoint, SocketAddr::new(unspecified(&endpoint.ip()), 0));
        Ok(self.alloc(Session::new(tuple, TransportConn::Udp(u), app, u32::MAX), false))
    }

    /// Opens a UDP session from `local_ip` (port picked from the ephemeral
    /// range) to `remote` for `app`, which hears Connected at once.
    pub fn connect_udp(
        &mut self,
        app: AppIndex,
        local_ip: IpAddr,
        remote: SocketAddr,
        sw_if_index: u32,
    ) -> Result<SessionIndex, SessionError> {
        if self.app(app).is_none() {
            return Err(SessionError::NoApp(app.0));
        }
        if self.by_tuple.len() >= self.max_sessions {
            self.stats.sessions_refused += 1;
            return Err(SessionError::TooManySessions(self.max_sessions));
        }
        let t = self.ephemeral(PROTO_UDP, local_ip, remote).ok_or(SessionError::NoPort(remote))?;
        let u = UdpSession::connect(t.local, remote, sw_if_index, self.cfg.rx_fifo_size, self.cfg.tx_fifo_size)?;
        let i = self.alloc(Session::new(t, TransportConn::Udp(u), app, sw_if_index), true);
        self.events.push_back((SessionIndex(i), AppEvent::Connected));
        Ok(SessionIndex(i))
    }

    /// One verified datagram from `remote` to `local` that came in on
    /// `sw_if_index`, its payload in pieces: to the connected session for
    /// the pair, else to the listener on `local` (exact address first, then
    /// the wildcard).
    pub fn udp_input(
        &mut self,
        local: SocketAddr,
        remote: SocketAddr,
        sw_if_index: u32,
        parts: &[&[u8]],
    ) -> UdpDelivery {
        let i = match self.by_tuple.get(&FiveTuple::udp(local, remote)) {
            Some(&i) => i,
            None => {
                let l = self.find_listener(PROTO_UDP, local).and_then(|l| self.listeners[l as usize].as_ref());
                match l.map(|l| &l.kind) {
                    Some(super::ListenKind::Udp { session }) => *session,
                    _ => return UdpDelivery::NoSession,
                }
            }
        };
        let Some(s) = self.sessions.get_mut(i as usize).and_then(|s| s.as_mut()) else {
            return UdpDelivery::NoSession;
        };
        let TransportConn::Udp(u) = &mut s.conn else { return UdpDelivery::NoSession };
        if !matches!(u.state(), UdpState::Listening | UdpState::Opened) {
            return UdpDelivery::NoSession;
        }
        let h = DgramHeader { len: 0, peer: remote, local: local.ip(), sw_if_index };
        if !u.deliver(&h, parts) {
            return UdpDelivery::RxFull;
        }
        if !s.rx_event {
            s.rx_event = true;
            self.events.push_back((SessionIndex(i), AppEvent::Rx));
        }
        UdpDelivery::Delivered
    }

    /// Sends what UDP session `i` queued (as far as the sink has room),
    /// then owes its app tx space or, once closed and drained, Closed.
    pub(super) fn flush_udp(&mut self, i: u32, sink: &mut dyn SegmentSink) {
        let Some(s) = self.sessions.get_mut(i as usize).and_then(|s| s.as_mut()) else { return };
        let TransportConn::Udp(u) = &mut s.conn else { return };
        let port = s.tuple.local.port();
        loop {
            if sink.room() == 0 {
                if !u.tx_fifo().is_empty() {
                    self.stats.output_deferred += 1;
                    if !s.pending {
                        s.pending = true;
                        self.pending.push(i);
                    }
                }
                break;
            }
            let Some(h) = u.next_transmit() else { break };
            let tuple = FiveTuple::udp(SocketAddr::new(h.local, port), h.peer);
            sink.datagram(&tuple, h.sw_if_index, u.tx_payload(&h));
            u.transmitted();
        }
        if u.take_tx_space() {
            self.events.push_back((SessionIndex(i), AppEvent::TxSpace));
        }
        if !s.closed && (u.finish_close() || u.state() == UdpState::Closed) {
            s.closed = true;
            self.events.push_back((SessionIndex(i), AppEvent::Closed));
        }
    }

    /// Closes UDP session `i`: what it queued leaves, then it is freed.
    pub(super) fn close_udp(&mut self, i: u32) {
        if let Some(TransportConn::Udp(u)) =
            self.sessions.get_mut(i as usize).and_then(|s| s.as_mut()).map(|s| &mut s.conn)
        {
            u.close();
            self.mark_pending(i);
        }
    }

    /// Closes every UDP session of `app` (it detached).
    pub(super) fn close_udp_of(&mut self, app: AppIndex) {
        let mine: Vec<u32> = self
            .sessions
            .iter()
            .enumerate()
            .filter_map(|(k, s)| s.as_ref().filter(|s| s.app == app && s.conn.udp().is_some()).map(|_| k as u32))
            .collect();
        for i in mine {
            self.close_udp(i);
        }
    }
}
