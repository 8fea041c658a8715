//! Closed-loop TCP senders (`replay.mode = "closed-loop"`): each TCP connection of the trace
//! becomes two endpoints that send its bytes through the simulated router under a
//! congestion window, clocked by the ACKs the router forwards back. UDP and everything
//! that is not TCP stay open-loop (the trace's times).
//!
//! What the trace gives a connection: its start (the SYN's arrival), each direction's bytes
//! and when the application wrote them (a data packet's arrival is when its bytes became
//! available: sent at once when the window allows, so an unconstrained connection's
//! segments reach the router when the trace's did), its segment size (the SYN's or
//! SYN-ACK's MSS option, less the 12 bytes of timestamps when the SYN carried Linux's
//! option layout; 1448 without one), each side's receive window (65535 bytes, scaled by the
//! SYNs' window-scale options), ECN capability (its data packets were ECT), its end (a
//! FIN; a reset closes both directions) and its RTT from the handshake as captured at the
//! router: SYN → SYN-ACK is the responder's half (router → responder → router), SYN-ACK →
//! the initiator's next packet the initiator's half. Each half is split evenly between the
//! two ways. A connection whose handshake is not in the trace is picked up at its first
//! packet with data, with [`DEFAULT_RTT_NS`].
//!
//! What an endpoint does (`tcp.rs`), as Linux: initial window 10 segments
//! (`TCP_INIT_CWND`), slow start and congestion avoidance by the controller (`cc.rs`: CUBIC
//! with HyStart's delay detection by default, or Reno), the window restarted after an idle
//! longer than the RTO (`tcp_cwnd_restart`); loss recovery by SACK when both SYNs offered
//! it (RFC 6675: entered on the third duplicate ACK or three segments SACKed above a hole,
//! holes resent as the pipe allows, resent again an RTT and a quarter after the last resend
//! while later data arrived: RACK's second look, RFC 8985), else NewReno (RFC 6582); a
//! retransmission timeout from the RTT (RFC 6298: srtt + max(4 ·
//! rttvar, 200 ms), 1 s before a sample, doubling per timeout up to 120 s, given up after
//! `tcp_retries2` = 15) that resends from the first unacknowledged byte with a window of
//! one; ECN echoes reduce the window once per window of data (RFC 3168). The receiver ACKs
//! every second full segment (`__tcp_ack_snd_check`), every segment while in quick-ack mode
//! (the first 16, `TCP_MAX_QUICKACKS`), at once on out-of-order data (duplicate ACKs), on a
//! filled hole, on a FIN and on a CE mark, and otherwise after the delayed-ACK timer (40 ms,
//! `TCP_DELACK_MIN`). SYNs lost are retried by the initiator's timer (1 s, doubling,
//! `tcp_syn_retries` 6), SYN-ACKs by the responder's (`tcp_synack_retries` 5): closed-loop
//! senders subsume the open-loop handshake retries (`senders.rs`).
//!
//! Not modelled (simplifications where the issue is silent): PRR (the window drops to
//! ssthresh at once, where PRR walks it down over the recovery), tail-loss probes, DSACK
//! undo, HyStart's ACK-train detection, Nagle's algorithm (segments go out as soon as data
//! and window allow: `TCP_NODELAY`), pacing, receive-window autotuning (the window is the
//! SYN's scaled 65535), request/response causality (a
//! response's bytes become available at the trace's time even if the simulated request
//! arrived later), the trace's own pure ACKs (replaced by the receivers' ACKs), and its
//! retransmissions (their bytes count once). FINs are sent once a side's bytes are all
//! sent; a trace reset ends both sides with FINs.
//!
//! Memory: a connection is live state from its SYN until both directions are acknowledged
//! and no event refers to it (or, without a FIN, until the trace ends or it has been idle
//! [`FORGET_NS`]); segments in flight are events in one queue, not per-connection lists.

mod cc;
mod conn;
mod tcp;

use offsim_traces::hash::FxHashMap;
use offsim_traces::heap::{EventHeap, event_key, key_time};
use offsim_traces::histogram::Histogram;
use offsim_traces::meta::{FlowKey, PacketMeta, proto, tcp_flags};
use offsim_traces::time::{NS_PER_SEC, SimTime};

use crate::source::Arrival;
pub use cc::Congestion;
use conn::{Conn, DEFAULT_MSS, End, Hs};

/// The RTT of a connection whose handshake is not in the trace: 25 ms. Anchors: Ookla's US
/// fixed-line latency medians of 9–39 ms by ISP (potsandpansbyccg.com/tag/ookla, a
/// summary of Ookla's quarterly report), and offsim's own generated home traffic, whose
/// internet servers are 12 ms one way from the router and its Wi-Fi clients 1.5 ms
/// (`traces/src/gen/profile/hosts.rs`): 27 ms.
pub const DEFAULT_RTT_NS: u64 = 25_000_000;
/// A connection without a FIN, everything acknowledged, no packet in the trace for this
/// long is forgotten (the trace's connection is idle or gone).
const FORGET_NS: u64 = 300 * NS_PER_SEC;
/// Largest senders kept for the report.
const TOP_SENDERS: usize = 8;

/// Closed-loop settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct ClosedLoopConfig {
    /// The congestion controller of every sender.
    pub congestion: Congestion,
}

/// One direction's sender, for the report (the largest ones).
#[derive(Clone, Copy, Debug)]
pub struct SenderRecord {
    /// Its direction of the connection.
    pub flow: FlowKey,
    /// Bytes acknowledged.
    pub bytes: u64,
    /// From its first data segment to its last byte acknowledged, ns.
    pub duration_ns: u64,
    /// Segments it sent again.
    pub retransmissions: u64,
    /// Its retransmission timeouts.
    pub rtos: u64,
    /// The port its packets came in by (0 LAN, 1 WAN, 2 none seen).
    pub port: u8,
}

/// What the closed-loop senders did.
#[derive(Clone, Debug, Default)]
pub struct ClosedStats {
    /// Controller.
    pub congestion: Congestion,
    /// TCP connections that became senders.
    pub senders: u64,
    /// Connections given up (handshake or data retries exhausted).
    pub aborted: u64,
    /// Segments sent again (SYN and SYN-ACK retries included).
    pub retransmissions: u64,
    /// Fast retransmits (third duplicate ACK).
    pub fast_retransmits: u64,
    /// Retransmission timeouts of established connections.
    pub rtos: u64,
    /// Window reductions for ECN echoes.
    pub ecn_reductions: u64,
    /// Payload bytes received in order after the warm-up, by the port their sender's
    /// packets came in by: 0 LAN (upload), 1 WAN (download).
    pub goodput_bytes: [u64; 2],
    /// Time through the router of data segments after the warm-up: those sent while the
    /// congestion window held data back (bulk), and the others (application-limited:
    /// sparse).
    pub router_delay: [Histogram; 2],
    /// The largest senders, most bytes first.
    pub top: Vec<SenderRecord>,
}

/// What a queued event does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// A packet of `end` reaches the router.
    Emit,
    /// A packet reaches `end` (data for its receiver, an ACK for its sender).
    Deliver,
    /// `end`'s retransmission timer.
    Rto,
    /// `end`'s delayed-ACK timer.
    DelAck,
}

#[derive(Clone, Copy, Debug)]
struct Ev {
    slot: u32,
    end: u8,
    kind: Kind,
    fl: u8,
    ce: bool,
    ect: bool,
    len: u32,
    seq: u64,
    ack: u64,
    /// The highest SACKed offset an ACK carries (0: none).
    sack_edge: u64,
}

impl Ev {
    fn timer(slot: u32, end: usize, kind: Kind) -> Ev {
        Ev {
            slot,
            end: end as u8,
            kind,
            fl: 0,
            ce: false,
            ect: false,
            len: 0,
            seq: 0,
            ack: 0,
            sack_edge: 0,
        }
    }
}

/// The closed-loop connections.
pub(super) struct ClosedLoop {
    cfg: ClosedLoopConfig,
    by_key: FxHashMap<FlowKey, u32>,
    conns: Vec<Option<Conn>>,
    free: Vec<u32>,
    heap: EventHeap<Ev>,
    seq: u64,
    /// The current event's time.
    now: u64,
    /// Start of the measured span.
    start: u64,
    trace_over: bool,
    sweep_at: usize,
    stats: ClosedStats,
}

impl ClosedLoop {
    pub(super) fn new(cfg: ClosedLoopConfig) -> ClosedLoop {
        ClosedLoop {
            cfg,
            by_key: FxHashMap::default(),
            conns: Vec::new(),
            free: Vec::new(),
            heap: EventHeap::with_capacity(64),
            seq: 0,
            now: 0,
            start: 0,
            trace_over: false,
            sweep_at: 1024,
            stats: ClosedStats {
                congestion: cfg.congestion,
                ..ClosedStats::default()
            },
        }
    }

    /// The measured span starts at `t`.
    pub(super) fn set_start(&mut self, t: SimTime) {
        self.start = t.0;
    }

    /// The key of the next event, merged into the engine's order.
    #[inline]
    pub(super) fn next_key(&self) -> Option<u128> {
        self.heap.peek_key()
    }

    /// Nothing is queued.
    pub(super) fn idle(&self) -> bool {
        self.heap.is_empty()
    }

    /// What the senders did (the live ones' records included).
    pub(super) fn stats(&self) -> ClosedStats {
        let mut s = self.stats.clone();
        for c in self.conns.iter().flatten() {
            for e in 0..2 {
                push_top(&mut s.top, record(c, e));
            }
        }
        s
    }

    fn push(&mut self, at: u64, ev: Ev) {
        let at = at.max(self.now);
        if let Some(c) = self.conns[ev.slot as usize].as_mut() {
            c.pending += 1;
        }
        self.seq += 1;
        self.heap.push(event_key(at, self.seq), ev);
    }

    /// Runs the next event; returns the packet it puts on the router's wire, if any.
    pub(super) fn step(&mut self) -> Option<Arrival> {
        let (k, ev) = self.heap.pop()?;
        self.now = key_time(k);
        let slot = ev.slot;
        let c = self.conns[slot as usize].as_mut()?;
        c.pending -= 1;
        let out = match ev.kind {
            Kind::Emit => (!c.aborted).then(|| {
                let e = usize::from(ev.end);
                let pkt = c.packet(
                    e,
                    self.now,
                    ev.fl,
                    ev.seq,
                    ev.len,
                    ev.ack,
                    ev.ect,
                    ev.sack_edge,
                );
                Arrival {
                    at: SimTime(self.now),
                    pkt,
                }
            }),
            Kind::Deliver => {
                self.deliver(ev);
                None
            }
            Kind::Rto => {
                self.rto_fired(slot, usize::from(ev.end));
                None
            }
            Kind::DelAck => {
                self.delack_fired(slot, usize::from(ev.end));
                None
            }
        };
        self.maybe_free(slot);
        out
    }

    /// A packet of the trace at `at`: TCP is taken (true) and becomes the senders' input;
    /// anything else is left to the open-loop replay (false).
    pub(super) fn trace_packet(&mut self, at: SimTime, pkt: &PacketMeta) -> bool {
        if pkt.l4proto != proto::TCP || pkt.malformed.is_some() {
            return false;
        }
        let Some(k) = pkt.flow_key() else {
            return false;
        };
        self.now = self.now.max(at.0);
        let key = k.canonical();
        let fl = pkt.tcp_flags;
        let slot = match self.by_key.get(&key) {
            Some(&s) => s,
            None => {
                let syn = fl & (tcp_flags::SYN | tcp_flags::ACK | tcp_flags::RST) == tcp_flags::SYN;
                let data = pkt.l4_payload_len > 0 && fl & (tcp_flags::SYN | tcp_flags::RST) == 0;
                if !(syn || data) {
                    // a stray ACK, FIN or reset of a connection not (or no longer) live
                    return true;
                }
                self.open(key, at.0, pkt, syn)
            }
        };
        self.trace_update(slot, at.0, pkt);
        self.maybe_free(slot);
        true
    }

    /// A new connection from its SYN (or, without one, its first data packet).
    fn open(&mut self, key: FlowKey, at: u64, pkt: &PacketMeta, syn: bool) -> u32 {
        self.sweep(at);
        let cc = self.cfg.congestion;
        let mut c = Conn {
            key,
            ep0: (pkt.src, pkt.sport),
            ends: [End::new(Hs::SynSent, cc), End::new(Hs::Listen, cc)],
            tmpl: [*pkt, conn::reversed(pkt)],
            has_tmpl: [true, false],
            half: [None, None],
            syn_ts: None,
            synack_ts: None,
            synack_at: None,
            syn_left: None,
            synack_left: None,
            answered: false,
            pending: 0,
            last_trace: at,
            ts_off: i128::from(pkt.ts.0) - i128::from(at),
            aborted: false,
            sack_ok: false,
        };
        if syn {
            let e = &mut c.ends[0];
            e.isn = pkt.tcp_seq;
            e.anchored = true;
            e.snd_nxt = 1;
            e.snd_max = 1;
            e.timed = Some((1, at));
            e.rto_at = at + e.rto.rto;
            c.ends[1].mss = syn_mss(pkt);
            c.syn_ts = Some(pkt.ts);
        } else {
            // picked up mid-stream: both sides established, default RTT
            for (i, e) in c.ends.iter_mut().enumerate() {
                e.hs = Hs::Est;
                e.snd_una = 1;
                e.snd_nxt = 1;
                e.snd_max = 1;
                e.rcv_nxt = 1;
                e.rcv_wup = 1;
                e.written = 1;
                e.anchored = i == 0 || pkt.tcp_flags & tcp_flags::ACK != 0;
            }
            c.ends[0].isn = pkt.tcp_seq.wrapping_sub(1);
            c.ends[1].isn = pkt.tcp_ack.wrapping_sub(1);
            c.half = [Some(DEFAULT_RTT_NS / 2), Some(DEFAULT_RTT_NS / 2)];
        }
        let slot = match self.free.pop() {
            Some(s) => {
                self.conns[s as usize] = Some(c);
                s
            }
            None => {
                self.conns.push(Some(c));
                self.conns.len() as u32 - 1
            }
        };
        self.by_key.insert(key, slot);
        self.stats.senders += 1;
        if syn {
            let fl = pkt.tcp_flags & (tcp_flags::SYN | tcp_flags::ECE | tcp_flags::CWR);
            let ev = Ev {
                fl,
                ..Ev::timer(slot, 0, Kind::Emit)
            };
            self.push(at, ev);
            self.arm_rto(slot, 0);
        }
        slot
    }

    /// What a trace packet of a live connection tells: the SYN-ACK (the responder's
    /// sequence numbers, MSS, window scale and RTT half), the initiator's half, bytes
    /// written, the end.
    fn trace_update(&mut self, slot: u32, at: u64, pkt: &PacketMeta) {
        let c = self.conns[slot as usize].as_mut().expect("live slot");
        c.last_trace = at;
        let e = c.end_of(pkt.src, pkt.sport);
        let fl = pkt.tcp_flags;
        if fl & tcp_flags::RST != 0 {
            c.ends[0].fin = true;
            c.ends[1].fin = true;
            let now = at.max(self.now);
            self.try_send(slot, 0, now);
            self.try_send(slot, 1, now);
            return;
        }
        if fl & tcp_flags::SYN != 0 {
            if fl & tcp_flags::ACK == 0 {
                if e == 0 && c.ends[1].hs == Hs::Listen {
                    // the trace's own SYN retry: the responder's half counts from it
                    c.syn_ts = Some(pkt.ts);
                }
                return;
            }
            if e == 1
                && c.synack_ts.is_none()
                && let Some(syn_ts) = c.syn_ts
            {
                let s = &mut c.ends[1];
                s.isn = pkt.tcp_seq;
                s.anchored = true;
                c.tmpl[1] = *pkt;
                c.has_tmpl[1] = true;
                // `tcp_sync_mss`: the peer's MSS option, bounded by one's own (its MTU)
                let (m0, m1) = (syn_mss(&c.tmpl[0]), syn_mss(pkt));
                c.ends[0].mss = m1.min(m0);
                c.ends[1].mss = m0.min(m1);
                let ws = |p: &PacketMeta| {
                    p.has(offsim_traces::meta::flags::TCP_WSCALE)
                        .then_some(p.tcp_wscale.min(14))
                };
                if let (Some(w0), Some(w1)) = (ws(&c.tmpl[0]), ws(pkt)) {
                    // each side's window is scaled by its own shift
                    c.ends[0].rwnd = 65_535 << w1;
                    c.ends[1].rwnd = 65_535 << w0;
                }
                let sack = offsim_traces::meta::flags::TCP_SACK_PERM;
                c.sack_ok = c.tmpl[0].has(sack) && pkt.has(sack);
                c.half[1] = Some(pkt.ts.0.saturating_sub(syn_ts.0));
                c.synack_ts = Some(pkt.ts);
                c.synack_at = Some(at);
                self.answer_syn(slot);
            }
            return;
        }
        if e == 0
            && c.half[0].is_none()
            && let Some(sa) = c.synack_ts
        {
            c.half[0] = Some(pkt.ts.0.saturating_sub(sa.0));
            self.synack_to_initiator(slot);
        }
        let c = self.conns[slot as usize].as_mut().expect("live slot");
        let len = pkt.l4_payload_len;
        let end = &mut c.ends[e];
        if !end.anchored && len > 0 && end.snd_max <= 1 {
            end.isn = pkt.tcp_seq.wrapping_sub(1);
            end.anchored = true;
        }
        if !c.has_tmpl[e] && c.ends[e].hs == Hs::Est {
            c.tmpl[e] = *pkt;
            c.has_tmpl[e] = true;
        }
        let end = &mut c.ends[e];
        if len == 0 && fl & tcp_flags::FIN == 0 {
            return;
        }
        let off = end.offset(pkt.tcp_seq.wrapping_add(len), end.written);
        if off > end.written && off - end.written < 1 << 30 {
            end.written = off;
        }
        if len > 0 && matches!(pkt.ecn, 1 | 2) {
            end.ect = true;
        }
        if fl & tcp_flags::FIN != 0 {
            end.fin = true;
        }
        if end.hs == Hs::Est {
            self.try_send(slot, e, at.max(self.now));
        }
    }

    /// The trace has ended: connections without a FIN end once their bytes are
    /// acknowledged; those still waiting for the initiator's half take the default; a SYN
    /// the trace never shows answered is given up (the trace is all there is to say how
    /// its server would answer; retrying it for two minutes would only stretch the run).
    pub(super) fn trace_ended(&mut self, t: SimTime) {
        self.trace_over = true;
        self.now = self.now.max(t.0);
        let slots: Vec<u32> = self.by_key.values().copied().collect();
        for s in slots {
            if let Some(c) = self.conns[s as usize].as_ref()
                && c.ends[0].hs == Hs::SynSent
                && c.synack_ts.is_none()
            {
                self.abort(s);
            }
            if let Some(c) = self.conns[s as usize].as_mut()
                && c.half[0].is_none()
                && c.synack_left.is_some()
            {
                c.half[0] = Some(DEFAULT_RTT_NS / 2);
                self.synack_to_initiator(s);
            }
            self.maybe_free(s);
        }
    }

    /// A packet of a closed-loop connection left the router at `t` (offered at `at`): it
    /// reaches the other endpoint one way later.
    pub(super) fn departed(&mut self, t: SimTime, at: SimTime, pkt: &PacketMeta) {
        if pkt.l4proto != proto::TCP {
            return;
        }
        let Some(k) = pkt.flow_key() else { return };
        let Some(&slot) = self.by_key.get(&k.canonical()) else {
            return;
        };
        self.now = self.now.max(t.0);
        let c = self.conns[slot as usize].as_mut().expect("live slot");
        let e = c.end_of(pkt.src, pkt.sport);
        if c.ends[e].port == 2 {
            c.ends[e].port = u8::from(pkt.iface != offsim_kernel::datapath::LAN_IFINDEX);
        }
        let fl = pkt.tcp_flags;
        let seq = c.ends[e].offset(pkt.tcp_seq, c.ends[e].snd_una);
        if pkt.l4_payload_len > 0 && at.0 >= self.start {
            let class = usize::from(seq >= c.ends[e].limited_until);
            self.stats.router_delay[class].record(t.0.saturating_sub(at.0));
        }
        if fl & tcp_flags::SYN != 0 {
            if fl & tcp_flags::ACK == 0 {
                c.syn_left = Some(t.0);
                c.answered = false;
                self.answer_syn(slot);
            } else {
                c.synack_left = Some(t.0);
                self.synack_to_initiator(slot);
            }
            return;
        }
        let r = 1 - e;
        let ack = if fl & tcp_flags::ACK != 0 {
            c.ends[r].offset(pkt.tcp_ack, c.ends[r].snd_una)
        } else {
            0
        };
        let sack_edge = if pkt.has(offsim_traces::meta::flags::TCP_SACK) {
            c.ends[r].offset(pkt.tcp_sack_edge, c.ends[r].snd_una)
        } else {
            0
        };
        let ev = Ev {
            fl,
            ce: pkt.ecn == 3,
            len: pkt.l4_payload_len,
            seq,
            ack,
            sack_edge,
            ..Ev::timer(slot, r, Kind::Deliver)
        };
        let ow = c.one_way(r);
        self.push(t.0 + ow, ev);
    }

    /// The responder answers the SYN that left the router, once the trace has shown its
    /// SYN-ACK: at the SYN's departure plus the responder's half, not before the trace's.
    fn answer_syn(&mut self, slot: u32) {
        let c = self.conns[slot as usize].as_mut().expect("live slot");
        let (Some(d), Some(h1), Some(sa_at)) = (c.syn_left, c.half[1], c.synack_at) else {
            return;
        };
        if c.answered || c.ends[1].hs == Hs::Est {
            return;
        }
        c.answered = true;
        let at = (d + h1).max(sa_at);
        let s = &mut c.ends[1];
        if s.hs == Hs::Listen {
            s.hs = Hs::SynRcvd;
            s.snd_nxt = 1;
            s.snd_max = 1;
            s.rcv_nxt = 1;
            s.rcv_wup = 1;
            s.timed = Some((1, at - h1 / 2));
            s.rto_at = at - h1 / 2 + s.rto.rto;
        }
        let fl = tcp_flags::SYN | tcp_flags::ACK | (c.tmpl[1].tcp_flags & tcp_flags::ECE);
        let ev = Ev {
            fl,
            ack: 1,
            ..Ev::timer(slot, 1, Kind::Emit)
        };
        self.push(at, ev);
        self.arm_rto(slot, 1);
    }

    /// The SYN-ACK that left the router reaches the initiator, once its half is known.
    fn synack_to_initiator(&mut self, slot: u32) {
        let c = self.conns[slot as usize].as_mut().expect("live slot");
        let (Some(d2), Some(h0)) = (c.synack_left, c.half[0]) else {
            return;
        };
        c.synack_left = None;
        let ev = Ev {
            fl: tcp_flags::SYN | tcp_flags::ACK,
            ack: 1,
            ..Ev::timer(slot, 0, Kind::Deliver)
        };
        self.push(d2 + h0 / 2, ev);
    }

    /// Frees a connection that is over and that no event refers to.
    fn maybe_free(&mut self, slot: u32) {
        let Some(c) = self.conns[slot as usize].as_ref() else {
            return;
        };
        if c.pending > 0 || !c.done(self.trace_over) {
            return;
        }
        self.release(slot);
    }

    fn release(&mut self, slot: u32) {
        let Some(c) = self.conns[slot as usize].take() else {
            return;
        };
        for e in 0..2 {
            push_top(&mut self.stats.top, record(&c, e));
        }
        self.by_key.remove(&c.key);
        self.free.push(slot);
    }

    /// Forgets connections without a FIN that are idle: everything acknowledged, nothing
    /// queued, no trace packet for [`FORGET_NS`].
    fn sweep(&mut self, now: u64) {
        if self.by_key.len() < self.sweep_at {
            return;
        }
        let idle: Vec<u32> = self
            .by_key
            .values()
            .copied()
            .filter(|&s| {
                self.conns[s as usize].as_ref().is_some_and(|c| {
                    c.pending == 0
                        && now.saturating_sub(c.last_trace) > FORGET_NS
                        && c.ends.iter().all(|e| e.all_acked())
                })
            })
            .collect();
        for s in idle {
            self.release(s);
        }
        self.sweep_at = (2 * self.by_key.len()).max(1024);
    }
}

/// The segment size a SYN's MSS option allows its peer: less 12 bytes when it carried
/// Linux's option layout (timestamps on every segment); [`DEFAULT_MSS`] without one.
fn syn_mss(p: &PacketMeta) -> u32 {
    match p.tcp_mss {
        Some(m) if m >= 64 => {
            let ts = if p.tcp_hdr_len >= 40 { 12 } else { 0 };
            u32::from(m) - ts
        }
        _ => DEFAULT_MSS,
    }
}

fn record(c: &Conn, e: usize) -> SenderRecord {
    let end = &c.ends[e];
    let mut flow = c.key;
    if (flow.src, flow.sport) != (c.tmpl[e].src, c.tmpl[e].sport) {
        flow = flow.reversed();
    }
    SenderRecord {
        flow,
        bytes: end.snd_una.min(end.written).saturating_sub(1),
        duration_ns: end.last_acked.saturating_sub(end.first_data),
        retransmissions: end.retrans,
        rtos: end.rtos,
        port: end.port,
    }
}

/// Keeps the [`TOP_SENDERS`] with the most bytes, most first.
fn push_top(top: &mut Vec<SenderRecord>, r: SenderRecord) {
    if r.bytes == 0 {
        return;
    }
    if top.len() == TOP_SENDERS && top.last().is_some_and(|l| l.bytes >= r.bytes) {
        return;
    }
    let i = top.partition_point(|x| x.bytes >= r.bytes);
    top.insert(i, r);
    top.truncate(TOP_SENDERS);
}
