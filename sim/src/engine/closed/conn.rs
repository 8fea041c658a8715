//! A closed-loop connection's state: its two endpoints (each a sender of its own byte
//! stream and a receiver of the other's), what the trace told about it (start, bytes and
//! when they were written, segment sizes, the handshake's RTT halves), and the packets it
//! sends, built from the trace's own handshake packets.
//!
//! Sequence space: offsets from each endpoint's initial sequence number, in `u64`. The SYN
//! is offset 0, the first data byte offset 1, a FIN the offset after the last byte (as
//! in TCP, SYN and FIN each take one).

use offsim_traces::meta::{FlowKey, PacketMeta, flags, tcp_flags};
use offsim_traces::time::SimTime;

use super::cc::{Congestion, Rto, Window};

/// An endpoint's handshake state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Hs {
    /// The responder before the SYN came.
    Listen,
    /// The initiator, SYN sent.
    SynSent,
    /// The responder, SYN-ACK sent.
    SynRcvd,
    /// Established (or past it).
    Est,
}

/// Out-of-order ranges a receiver keeps (`[start, end)` offsets), at most this many (the
/// kernel's out-of-order queue is an rbtree bounded by the receive buffer); a segment that
/// would need another is discarded (as a receiver short of memory prunes its out-of-order
/// queue, `tcp_prune_ofo_queue`) and retransmitted later.
pub(super) const OOO_MAX: usize = 4096;

/// One endpoint.
#[derive(Clone, Debug)]
pub(super) struct End {
    pub(super) hs: Hs,
    /// The trace gave this direction's sequence numbers (its SYN, or a first data packet).
    pub(super) anchored: bool,
    /// Initial sequence number (offset 0).
    pub(super) isn: u32,
    /// One past the last byte the application has written (offset), from the trace.
    pub(super) written: u64,
    /// The application closed: a FIN follows the last byte.
    pub(super) fin: bool,
    /// Segment size, bytes.
    pub(super) mss: u32,
    /// The peer's receive window, bytes (its 65535-byte field, scaled when both SYNs
    /// carried window scaling).
    pub(super) rwnd: u64,
    pub(super) snd_una: u64,
    pub(super) snd_nxt: u64,
    /// Highest offset sent + 1.
    pub(super) snd_max: u64,
    pub(super) win: Window,
    pub(super) rto: Rto,
    /// When the retransmission timer expires (sender clock), 0 when not armed.
    pub(super) rto_at: u64,
    /// A timer event is in the queue (at `rto_ev`).
    pub(super) rto_ev: Option<u64>,
    /// Handshake retransmissions so far.
    pub(super) hs_retries: u8,
    /// The segment being timed for an RTT sample: (end offset, sent at, sender clock).
    pub(super) timed: Option<(u64, u64)>,
    pub(super) dupacks: u32,
    /// In fast recovery until this offset is acknowledged (RFC 6582 `recover`).
    pub(super) recover: Option<u64>,
    /// The SACK scoreboard: ranges above `snd_una` the receiver holds (sorted), their
    /// bytes, the highest SACKed offset, and the highest offset resent in this recovery
    /// (RFC 6675 `HighRxt`).
    pub(super) sack: Vec<(u64, u64)>,
    pub(super) sacked: u64,
    pub(super) high_sack: u64,
    pub(super) high_rxt: u64,
    /// After a timeout: segments below this offset are resent (go-back-N).
    pub(super) loss_high: u64,
    /// Congestion window reduced for an ECN echo until this offset is acknowledged.
    pub(super) cwr_end: u64,
    /// Set CWR on the next data segment.
    pub(super) send_cwr: bool,
    /// Data segments are ECN-capable (the trace's were).
    pub(super) ect: bool,
    /// The window limited the last send.
    pub(super) cwnd_limited: bool,
    /// Segments below this offset went out while the window held data back (a bulk
    /// sender's); those above, with nothing held back (application-limited).
    pub(super) limited_until: u64,
    /// (end offset, sent at) of the new data segments in flight while HyStart watches slow
    /// start: an RTT sample from every ACK (Linux stamps every segment).
    pub(super) sent_at: std::collections::VecDeque<(u64, u64)>,
    /// When it last sent data (sender clock; `lsndtime`), 0 before.
    pub(super) last_send: u64,
    /// When the latest hole was resent (sender clock), for RACK's second look.
    pub(super) rxt_round: u64,
    /// Sent its first data byte at (router arrival time), for the sender's goodput.
    pub(super) first_data: u64,
    /// When its last byte was acknowledged.
    pub(super) last_acked: u64,
    pub(super) retrans: u64,
    pub(super) rtos: u64,
    // receiving half
    pub(super) rcv_nxt: u64,
    /// `rcv_nxt` when the last ACK was sent (`rcv_wup`).
    pub(super) rcv_wup: u64,
    /// Ranges received out of order, sorted, disjoint (empty, unallocated, without loss).
    pub(super) ooo: Vec<(u64, u64)>,
    /// ACKs left to send at once (`icsk_ack.quick`, `TCP_MAX_QUICKACKS` = 16).
    pub(super) quick: u8,
    /// Delayed-ACK timer expiry, 0 when not armed; a timer event is queued at `delack_ev`.
    pub(super) delack_at: u64,
    pub(super) delack_ev: Option<u64>,
    /// Echo ECE until a CWR comes.
    pub(super) ece: bool,
    /// The peer's FIN was received.
    pub(super) got_fin: bool,
    /// Which port its packets reach the router by (0 LAN, 1 WAN; 2 not seen yet).
    pub(super) port: u8,
}

/// `TCP_MAX_QUICKACKS`.
const MAX_QUICKACKS: u8 = 16;

impl End {
    pub(super) fn new(hs: Hs, cc: Congestion) -> End {
        End {
            hs,
            anchored: false,
            isn: 0,
            written: 1,
            fin: false,
            mss: DEFAULT_MSS,
            rwnd: 65_535,
            snd_una: 0,
            snd_nxt: 0,
            snd_max: 0,
            win: Window::new(cc),
            rto: Rto::default(),
            rto_at: 0,
            rto_ev: None,
            hs_retries: 0,
            timed: None,
            dupacks: 0,
            recover: None,
            sack: Vec::new(),
            sacked: 0,
            high_sack: 0,
            high_rxt: 0,
            loss_high: 0,
            cwr_end: 0,
            send_cwr: false,
            ect: false,
            cwnd_limited: false,
            limited_until: 0,
            sent_at: std::collections::VecDeque::new(),
            rxt_round: 0,
            last_send: 0,
            first_data: 0,
            last_acked: 0,
            retrans: 0,
            rtos: 0,
            rcv_nxt: 0,
            rcv_wup: 0,
            ooo: Vec::new(),
            quick: MAX_QUICKACKS,
            delack_at: 0,
            delack_ev: None,
            ece: false,
            got_fin: false,
            port: 2,
        }
    }

    /// The offset the stream ends at: past the FIN when the application closed.
    pub(super) fn stream_end(&self) -> u64 {
        self.written + u64::from(self.fin)
    }

    /// Everything written (and the FIN) is acknowledged.
    pub(super) fn all_acked(&self) -> bool {
        self.hs == Hs::Est && self.snd_una >= self.stream_end()
    }

    /// Turns a 32-bit sequence number of this endpoint's stream into an offset, near `near`.
    pub(super) fn offset(&self, seq: u32, near: u64) -> u64 {
        let d = seq.wrapping_sub(self.isn.wrapping_add(near as u32)) as i32;
        near.saturating_add_signed(i64::from(d))
    }

    /// The 32-bit sequence number of an offset.
    pub(super) fn seq(&self, off: u64) -> u32 {
        self.isn.wrapping_add(off as u32)
    }

    /// The highest offset received out of order (the SACK edge an ACK carries), 0 when
    /// nothing is.
    pub(super) fn sack_edge(&self) -> u64 {
        self.ooo.last().map_or(0, |r| r.1)
    }

    /// Takes the receiver's view as SACK blocks up to `edge` (what the ACK reported):
    /// what it has received in order past the ACK's cumulative point since, and its
    /// out-of-order ranges. `tcp_sacktag_write_queue` in effect.
    pub(super) fn take_sack(&mut self, ooo: &[(u64, u64)], rcv_nxt: u64, edge: u64) {
        let una = self.snd_una;
        self.sack.clear();
        for &(a, b) in std::iter::once(&(una, rcv_nxt)).chain(ooo) {
            let (a, b) = (a.max(una), b.min(edge));
            if a < b {
                self.sack.push((a, b));
            }
        }
        self.sacked = self.sack.iter().map(|r| r.1 - r.0).sum();
        self.high_sack = self.sack.last().map_or(una, |r| r.1);
    }

    /// The first byte at or after `from`, below the highest SACK, the receiver does not
    /// hold, and how many follow it up to the next SACKed range: the next hole to resend.
    pub(super) fn next_hole(&self, from: u64) -> Option<(u64, u64)> {
        let mut x = from.max(self.snd_una);
        let i = self.sack.partition_point(|r| r.1 <= x);
        for &(a, b) in &self.sack[i..] {
            if x < a {
                return Some((x, a - x));
            }
            x = x.max(b);
        }
        None
    }

    /// Bytes of holes in `[a, b)` (not SACKed).
    pub(super) fn hole_bytes(&self, a: u64, b: u64) -> u64 {
        if b <= a {
            return 0;
        }
        let i = self.sack.partition_point(|r| r.1 <= a);
        let covered: u64 = self.sack[i..]
            .iter()
            .take_while(|r| r.0 < b)
            .map(|r| r.1.min(b).saturating_sub(r.0.max(a)))
            .sum();
        (b - a) - covered
    }

    /// Records `[start, end)` received out of order (merging with the ranges it touches);
    /// false when there is no room for another range.
    pub(super) fn add_ooo(&mut self, start: u64, end: u64) -> bool {
        // the ranges that end at or after `start`, from the first that could touch it
        let i = self.ooo.partition_point(|r| r.1 < start);
        let mut j = i;
        while j < self.ooo.len() && self.ooo[j].0 <= end {
            j += 1;
        }
        if i == j {
            if self.ooo.len() >= OOO_MAX {
                return false;
            }
            self.ooo.insert(i, (start, end));
            return true;
        }
        let merged = (start.min(self.ooo[i].0), end.max(self.ooo[j - 1].1));
        self.ooo[i] = merged;
        self.ooo.drain(i + 1..j);
        true
    }

    /// Moves `rcv_nxt` past the out-of-order ranges it now reaches; whether any did.
    pub(super) fn merge_ooo(&mut self) -> bool {
        let n = self.ooo.partition_point(|r| r.0 <= self.rcv_nxt);
        if n == 0 {
            return false;
        }
        self.rcv_nxt = self.rcv_nxt.max(self.ooo[n - 1].1);
        self.ooo.drain(..n);
        true
    }
}

/// Segment size when the trace gives none: RFC 9293 §3.7.1's default send MSS (536)
/// would understate a modern path; 1448 is Linux's on Ethernet with timestamps (1500 −
/// 20 − 20 − 12), the common case.
pub(super) const DEFAULT_MSS: u32 = 1448;

/// One connection.
#[derive(Clone, Debug)]
pub(super) struct Conn {
    /// Canonical tuple (its key in the table).
    pub(super) key: FlowKey,
    /// Endpoint 0's (address, port): the initiator, or the first sender seen.
    pub(super) ep0: (u128, u16),
    pub(super) ends: [End; 2],
    /// Packets each endpoint sends are built from these (its SYN or first packet).
    pub(super) tmpl: [PacketMeta; 2],
    pub(super) has_tmpl: [bool; 2],
    /// RTT halves: endpoint 0's (router → initiator → router: SYN-ACK to ACK in the trace)
    /// and endpoint 1's (SYN to SYN-ACK), ns; `None` until the trace shows them.
    pub(super) half: [Option<u64>; 2],
    /// Capture timestamps of the trace's SYN and SYN-ACK.
    pub(super) syn_ts: Option<SimTime>,
    pub(super) synack_ts: Option<SimTime>,
    /// When the trace's SYN-ACK arrived (replay clock).
    pub(super) synack_at: Option<u64>,
    /// When the simulated SYN and SYN-ACK left the router.
    pub(super) syn_left: Option<u64>,
    pub(super) synack_left: Option<u64>,
    /// The responder answered the latest SYN.
    pub(super) answered: bool,
    /// Events in the queue that refer to it (it is freed only at 0).
    pub(super) pending: u32,
    /// Last trace packet, replay clock.
    pub(super) last_trace: u64,
    /// Capture time minus replay time (to stamp its packets' `ts`).
    pub(super) ts_off: i128,
    /// Given up (handshake retries or `tcp_retries2` exhausted).
    pub(super) aborted: bool,
    /// Both SYNs offered SACK (`tcp_sack`): loss recovery by the SACK scoreboard; without
    /// it, NewReno.
    pub(super) sack_ok: bool,
}

impl Conn {
    /// The endpoint a packet with this source comes from.
    pub(super) fn end_of(&self, src: u128, sport: u16) -> usize {
        usize::from((src, sport) != self.ep0)
    }

    /// One-way delay between endpoint `e` and the router, ns.
    pub(super) fn one_way(&self, e: usize) -> u64 {
        self.half[e].unwrap_or(super::DEFAULT_RTT_NS / 2) / 2
    }

    /// Both directions are over: every byte (and FIN) acknowledged, or given up.
    pub(super) fn done(&self, trace_over: bool) -> bool {
        if self.aborted {
            return true;
        }
        self.ends
            .iter()
            .all(|e| e.all_acked() && (e.fin || trace_over) && (e.snd_nxt >= e.stream_end()))
    }

    /// A packet from endpoint `e`: its template with these TCP fields, stamped `at`.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn packet(
        &self,
        e: usize,
        at: u64,
        fl: u8,
        seq: u64,
        len: u32,
        ack: u64,
        ect: bool,
        sack_edge: u64,
    ) -> PacketMeta {
        let me = &self.ends[e];
        let peer = &self.ends[1 - e];
        let mut p = self.tmpl[e];
        let link = p.wire_len.saturating_sub(p.ip_len);
        p.ts = SimTime((i128::from(at) + self.ts_off).max(0) as u64);
        p.tcp_flags = fl;
        p.tcp_seq = me.seq(seq);
        p.tcp_ack = if fl & tcp_flags::ACK != 0 {
            peer.seq(ack)
        } else {
            0
        };
        if fl & tcp_flags::SYN == 0 {
            // after a SYN with Linux's options (MSS, SACK_PERM, timestamps, window
            // scale: 20 bytes) data segments carry the timestamp option alone (12 bytes);
            // after a shorter SYN, none
            if self.tmpl[e].tcp_flags & tcp_flags::SYN != 0 {
                p.tcp_hdr_len = if self.tmpl[e].tcp_hdr_len >= 40 {
                    32
                } else {
                    20
                };
            }
            p.tcp_mss = None;
            p.flags &= !(flags::TCP_WSCALE | flags::TCP_SACK_PERM | flags::TCP_SACK);
            p.tcp_sack_edge = 0;
            p.tcp_win = 65_535;
        }
        // RFC 3168 §6.1.4: pure ACKs, SYNs and retransmissions may not be ECT; data may
        p.ecn = if ect { 2 } else { 0 };
        if sack_edge > 0 && fl & tcp_flags::SYN == 0 {
            p.flags |= flags::TCP_SACK;
            p.tcp_sack_edge = peer.seq(sack_edge);
        }
        p.l4_payload_len = len;
        p.ip_len = u32::from(p.ip_hdr_len) + u32::from(p.tcp_hdr_len) + len;
        p.wire_len = (link + p.ip_len).max(if link >= 14 { 60 } else { 0 });
        p.cap_len = p.wire_len;
        p.flags &= !flags::SNAP_TRUNCATED;
        p
    }
}

/// The other direction's template from a packet: addresses, ports and MACs swapped.
pub(super) fn reversed(p: &PacketMeta) -> PacketMeta {
    let mut r = *p;
    std::mem::swap(&mut r.src, &mut r.dst);
    std::mem::swap(&mut r.sport, &mut r.dport);
    std::mem::swap(&mut r.eth_src, &mut r.eth_dst);
    r.l4_head = (u32::from(r.sport) << 16) | u32::from(r.dport);
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Out-of-order ranges merge, and reaching one moves `rcv_nxt` past it.
    #[test]
    fn out_of_order_ranges_merge_and_fill() {
        let mut e = End::new(Hs::Est, Congestion::Reno);
        e.rcv_nxt = 1;
        assert!(e.add_ooo(10, 20));
        assert!(e.add_ooo(20, 30));
        assert!(e.add_ooo(40, 50));
        assert_eq!(e.ooo, [(10, 30), (40, 50)]);
        assert!(!e.merge_ooo());
        e.rcv_nxt = 10;
        assert!(e.merge_ooo());
        assert_eq!((e.rcv_nxt, e.ooo.len()), (30, 1));
        // a range bridging two merges them
        assert!(e.add_ooo(35, 40) && e.add_ooo(50, 60) && e.add_ooo(33, 36));
        assert_eq!(e.ooo, [(33, 60)]);
        // sequence numbers wrap around 2^32
        e.isn = u32::MAX - 5;
        assert_eq!(e.offset(e.seq(100), 90), 100);
    }
}
