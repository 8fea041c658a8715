//! TCP (and QUIC-over-UDP) conversations: handshake, request/response transfers with ACKs in
//! both directions, and close.
//!
//! The model, per flow:
//! - **Handshake**: SYN (MSS, SACK-permitted, window scale, timestamps when both stacks use
//!   them), SYN-ACK `2·d(server)` later, the client's ACK `2·d(client)` after that. Variants:
//!   SYN unanswered (with RFC 6298 retransmissions after 1 s, 2 s, …), SYN answered by RST,
//!   SYN-ACK answered by the client's RST (a SYN scan of an open port), SYN-ACK never
//!   acknowledged (SYN flood).
//! - **Transfers**: the application ([`App`]) yields transfers `(direction, bytes)`. A
//!   transfer in the opposite direction starts once its sender has seen the previous one
//!   (`2·d(sender)` after its last segment) plus think time. Segments leave in slow-start
//!   rounds (initial window 10 segments, RFC 6928; the window doubles per RTT; back-to-back at
//!   the bottleneck rate within a round) until the window covers the flow's rate × RTT, then
//!   they are paced at the flow's rate. The receiver ACKs every second segment (RFC 1122
//!   §4.2.3.2 / RFC 5681 §4.2), `2·d(receiver)` after the segment; an odd last segment is
//!   acknowledged after Linux's 40 ms delayed-ACK timer unless the receiver sends data first.
//! - **Windows**: every packet advertises a receive window (the SYN/SYN-ACK field unscaled,
//!   later ones shifted by the negotiated scale; it grows with the data received as Linux
//!   autotuning does). A segment is only emitted if its end lies within the last window the
//!   peer advertised *in the trace* (last ACK + scaled window) — the check conntrack's
//!   `tcp_in_window` applies — otherwise the sender waits for the next ACK; ACKs never cover
//!   data that has not been emitted.
//! - **Close**: FIN from one side, FIN (combined with the ACK, or after a separate ACK) from
//!   the other, last ACK; or RST; or no close at all (the connection outlives the trace).
//!
//! QUIC uses the same machinery without the TCP handshake: the first transfers are the
//! Initial/Handshake flights (client Initial padded to ≥ 1200 bytes, RFC 9000 §14.1),
//! packets are UDP datagrams of at most 1350 bytes of payload, ACK frames every second
//! packet; CONNECTION_CLOSE or idle at the end.
//!
//! Files: `mod.rs` (this file) holds the stacks, setup and close policies, the conversation's
//! state and what it does next ([`Conv::poll`]); `app.rs` the applications ([`App`]) and the
//! transfers they ask for; `emit.rs` the packets themselves ([`Conv::emit`]).

use std::collections::VecDeque;

use super::frame::TcpOpts;
use super::pair::Pair;
use super::rng::Rng;

mod app;
mod emit;

pub(crate) use app::App;

/// Linux's minimum delayed-ACK timeout (`TCP_DELACK_MIN` = HZ/25 = 40 ms).
const DELACK_NS: u64 = 40_000_000;
/// QUIC's default `max_ack_delay` (RFC 9000 §18.2: 25 ms).
const QUIC_ACK_DELAY_NS: u64 = 25_000_000;
/// Initial congestion window in segments (RFC 6928; Linux `TCP_INIT_CWND`).
const IW: u32 = 10;
/// Initial retransmission timeout (RFC 6298 §2.1: 1 s).
const RTO_INIT_NS: u64 = 1_000_000_000;
/// Idle time after which the congestion window restarts from IW (RFC 5681 §4.1 uses one
/// RTO; Linux's minimum RTO is 200 ms).
const IDLE_RESTART_NS: u64 = 200_000_000;
/// Largest QUIC UDP payload the generator sends (Chromium's default maximum packet size).
pub(crate) const QUIC_MAX_PAYLOAD: u32 = 1350;

/// A TCP/IP stack flavour: what its SYN looks like and how it sizes its windows.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Stack {
    /// Initial TTL / hop limit.
    pub(crate) ttl: u8,
    /// Offers TCP timestamps (RFC 7323).
    pub(crate) ts: bool,
    /// Window-scale shift it offers.
    pub(crate) ws: u8,
    /// Window field of its SYN (client) or SYN-ACK (server), unscaled.
    pub(crate) syn_win: u16,
    /// Receive window right after the handshake, bytes.
    pub(crate) rwnd_init: u32,
    /// Largest receive window it grows to, bytes.
    pub(crate) rwnd_max: u32,
    /// Ephemeral port range (inclusive).
    pub(crate) eph: (u16, u16),
    /// Sets DF on UDP datagrams.
    pub(crate) udp_df: bool,
}

/// Linux (and Android): `SYN win 64240, wscale 7, TS on`; SYN-ACK 65160 with TS; after the
/// handshake 502 << 7; autotuning up to `tcp_rmem[2]` = 6 MiB (half usable as window);
/// ephemeral ports 32768–60999 (`ip_local_port_range`).
pub(crate) const LINUX: Stack = Stack {
    ttl: 64,
    ts: true,
    ws: 7,
    syn_win: 64240,
    rwnd_init: 64256,
    rwnd_max: 3 << 20,
    eph: (32768, 60999),
    udp_df: true,
};
/// Linux as a server: same stack; its SYN-ACK advertises 65160 (45 × 1448) with TS.
pub(crate) const LINUX_SERVER: Stack = Stack {
    syn_win: 65160,
    ..LINUX
};
/// Windows 10/11: `SYN win 64240, wscale 8, no TS`, TTL 128, 1026 << 8 after the handshake,
/// ephemeral ports 49152–65535 (the IANA range, RFC 6335).
pub(crate) const WINDOWS: Stack = Stack {
    ttl: 128,
    ts: false,
    ws: 8,
    syn_win: 64240,
    rwnd_init: 262_656,
    rwnd_max: 4 << 20,
    eph: (49152, 65535),
    udp_df: false,
};
/// macOS / iOS: `SYN win 65535, wscale 6, TS on`, TTL 64, 2048 << 6 after the handshake,
/// ephemeral ports 49152–65535.
pub(crate) const APPLE: Stack = Stack {
    ttl: 64,
    ts: true,
    ws: 6,
    syn_win: 65535,
    rwnd_init: 131_072,
    rwnd_max: 4 << 20,
    eph: (49152, 65535),
    udp_df: true,
};

/// How the connection is set up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Setup {
    /// Three-way handshake, then the application's transfers.
    Normal,
    /// SYN never answered; `retries` retransmissions (1 s, 2 s, 4 s … apart).
    SynUnanswered {
        /// Retransmissions after the first SYN.
        retries: u8,
    },
    /// SYN answered by RST|ACK (closed port).
    SynRst,
    /// SYN answered by SYN-ACK, which the client resets (half-open scan of an open port).
    ScanOpen,
    /// SYN answered by SYN-ACK that is never acknowledged (flood with a spoofed source);
    /// `retries` SYN-ACK retransmissions.
    SynAckNoAck {
        /// SYN-ACK retransmissions.
        retries: u8,
    },
    /// QUIC: no TCP handshake.
    Quic,
}

/// How the connection ends after the application's last transfer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CloseKind {
    /// FIN from `by`; the peer answers with its FIN (combined with the ACK unless `separate`).
    Fin {
        /// Closing side.
        by: u8,
        /// Peer ACKs the FIN first and sends its own FIN later.
        separate: bool,
    },
    /// RST|ACK from `by`.
    Rst {
        /// Resetting side.
        by: u8,
    },
    /// The connection stays open (idle) beyond the end of the trace.
    Never,
}

/// Close policy: how and after how much idle time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Close {
    /// How.
    pub(crate) kind: CloseKind,
    /// Idle time between the last transfer and the close, ns.
    pub(crate) idle: u64,
}

/// Parameters of a new conversation.
#[derive(Clone, Debug)]
pub(crate) struct ConvSpec {
    /// Endpoints.
    pub(crate) pair: Pair,
    /// Client and server stacks.
    pub(crate) stacks: [Stack; 2],
    /// MSS each side announces.
    pub(crate) mss: [u16; 2],
    /// Setup.
    pub(crate) setup: Setup,
    /// Application.
    pub(crate) app: App,
    /// Close policy.
    pub(crate) close: Close,
    /// Bottleneck (line) rate for data sent by each side, bit/s.
    pub(crate) line_bps: [f64; 2],
    /// Target (paced) rate for data sent by each side, bit/s.
    pub(crate) rate_bps: [f64; 2],
    /// Time of the first packet.
    pub(crate) start: u64,
    /// SYN options of a scanner/flooder (`None` = the stack's normal SYN).
    pub(crate) syn_opts: Option<TcpOpts>,
}

#[derive(Clone, Copy, Debug, Default)]
struct Side {
    isn: u32,
    nxt: u32,
    last_ack: u32,
    last_win: u32,
    ws: u8,
    rwnd_init: u32,
    rwnd_max: u32,
    syn_win: u16,
    mss: u16,
    seg: u32,
    ts_off: u32,
    last_tsval: u32,
    cwnd: u32,
    last_data_t: u64,
    sent_data: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Syn { left: u8 },
    SynAck { left: u8 },
    HsAck,
    RstAnswer,
    ScanRst,
    Data,
    Fin1,
    Fin2Ack,
    Fin2,
    LastAck,
    RstClose,
    QuicClose,
    Done,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pend {
    Ctl,
    Ack,
    Data,
}

#[derive(Clone, Copy, Debug)]
struct AckEv {
    t: u64,
    ack: u32,
    from: u8,
}

#[derive(Clone, Copy, Debug, Default)]
struct Xfer {
    active: bool,
    dir: u8,
    left: u64,
    next_t: u64,
    last_t: u64,
    round_left: u32,
    round_start: u64,
    steady: bool,
    unacked: u8,
}

/// A TCP or QUIC conversation in progress.
#[derive(Debug)]
pub(crate) struct Conv {
    /// Endpoints and IP state.
    pub(crate) pair: Pair,
    quic: bool,
    setup: Setup,
    s: [Side; 2],
    ts: bool,
    ts_offer: bool,
    phase: Phase,
    ctl_t: u64,
    ctl_from: u8,
    x: Xfer,
    acks: VecDeque<AckEv>,
    app: App,
    close: Close,
    line_bps: [f64; 2],
    rate_bps: [f64; 2],
    pend: Pend,
    syn_opts: Option<TcpOpts>,
    rto: u64,
    rng: Rng,
}

/// `a` is after `b` in sequence space.
#[inline]
fn seq_after(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) > 0
}

impl Conv {
    /// Creates a conversation; `acks` is a (possibly recycled) empty queue.
    pub(crate) fn new(spec: ConvSpec, mut rng: Rng, mut acks: AckEvOpaque) -> Conv {
        acks.clear();
        let quic = spec.setup == Setup::Quic;
        let ts = spec.stacks[0].ts && spec.stacks[1].ts && spec.syn_opts.is_none();
        let mut s = [Side::default(); 2];
        for (i, side) in s.iter_mut().enumerate() {
            let st = spec.stacks[i];
            side.isn = rng.next_u32();
            side.nxt = side.isn;
            side.ws = st.ws;
            side.rwnd_init = st.rwnd_init;
            side.rwnd_max = st.rwnd_max.max(st.rwnd_init);
            side.syn_win = st.syn_win;
            side.mss = spec.mss[i];
            side.ts_off = rng.next_u32();
            side.cwnd = IW;
        }
        for i in 0..2 {
            let peer_mss = u32::from(s[1 - i].mss.min(s[i].mss));
            s[i].seg = if quic {
                QUIC_MAX_PAYLOAD
            } else {
                peer_mss.saturating_sub(if ts { 12 } else { 0 }).max(64)
            };
        }
        let phase = match spec.setup {
            Setup::Quic => Phase::Data,
            Setup::SynUnanswered { retries } => Phase::Syn { left: retries },
            _ => Phase::Syn { left: 0 },
        };
        let x = Xfer {
            last_t: spec.start,
            ..Xfer::default()
        };
        Conv {
            pair: spec.pair,
            quic,
            setup: spec.setup,
            s,
            ts,
            ts_offer: spec.stacks[0].ts && spec.syn_opts.is_none(),
            phase,
            ctl_t: spec.start,
            ctl_from: 0,
            x,
            acks: acks.into_inner(),
            app: spec.app,
            close: spec.close,
            line_bps: spec.line_bps,
            rate_bps: spec.rate_bps,
            pend: Pend::Ctl,
            syn_opts: spec.syn_opts,
            rto: RTO_INIT_NS,
            rng,
        }
    }

    /// Gives back the ACK queue for reuse.
    pub(crate) fn into_queue(self) -> AckEvOpaque {
        AckEvOpaque(self.acks)
    }

    /// Whether this conversation is QUIC.
    pub(crate) fn is_quic(&self) -> bool {
        self.quic
    }

    /// Drops side `from`'s pending pure ACKs at or after `t` (its packet at `t` carries the
    /// acknowledgement).
    fn subsume(&mut self, from: u8, t: u64) {
        while let Some(b) = self.acks.back() {
            if b.from == from && b.t >= t {
                self.acks.pop_back();
            } else {
                break;
            }
        }
    }

    fn push_ack(&mut self, t: u64, ack: u32, from: u8) {
        let t = match self.acks.back() {
            Some(b) => t.max(b.t),
            None => t,
        };
        self.acks.push_back(AckEv { t, ack, from });
    }

    /// Small processing jitter proportional to a delay (at least 1 µs).
    fn jitter(&mut self, d: u64) -> u64 {
        1_000 + self.rng.below(d / 10 + 1)
    }

    /// Schedules what follows the end of a transfer (or of the handshake): the next transfer
    /// or the close. Returns with `phase` updated.
    fn next_transfer(&mut self) {
        let t_end = self.x.last_t;
        let prev = self.x.dir as usize;
        match self.app.next(&mut self.rng, self.quic, t_end) {
            Some(tr) => {
                let dir = tr.dir.min(1) as usize;
                // A side answers once it has seen the other side's last packet; the side that
                // sent last (the client after the handshake ACK) may go on at once.
                let mut start = if dir != prev {
                    t_end + 2 * self.pair.d(dir)
                } else {
                    t_end + 1_000
                };
                start += tr.think;
                start = start.max(tr.not_before);
                self.subsume(dir as u8, start);
                let side = &mut self.s[dir];
                let steady = if !side.sent_data
                    || start.saturating_sub(side.last_data_t) > IDLE_RESTART_NS
                {
                    side.cwnd = IW;
                    false
                } else {
                    let seg_bits = f64::from(side.seg + 66) * 8.0;
                    f64::from(side.cwnd) * seg_bits
                        >= self.rate_bps[dir] * self.pair.rtt().max(2_000) as f64 * 1e-9
                };
                self.x = Xfer {
                    active: true,
                    dir: dir as u8,
                    left: tr.bytes.max(1),
                    next_t: start,
                    last_t: t_end,
                    round_left: self.s[dir].cwnd,
                    round_start: start,
                    steady,
                    unacked: 0,
                };
            }
            None => {
                // Close after idling.
                let t = t_end + 2 * self.pair.rtt().max(1_000) + self.close.idle;
                match self.close.kind {
                    CloseKind::Never => {
                        self.phase = Phase::Done;
                    }
                    _ if self.quic => {
                        let by = match self.close.kind {
                            CloseKind::Fin { by, .. } | CloseKind::Rst { by } => by,
                            CloseKind::Never => 0,
                        };
                        self.ctl_from = by.min(1);
                        self.subsume(self.ctl_from, t);
                        self.ctl_t = t;
                        self.phase = Phase::QuicClose;
                    }
                    CloseKind::Fin { by, .. } => {
                        self.ctl_from = by.min(1);
                        self.subsume(self.ctl_from, t);
                        self.ctl_t = t;
                        self.phase = Phase::Fin1;
                    }
                    CloseKind::Rst { by } => {
                        self.ctl_from = by.min(1);
                        self.subsume(self.ctl_from, t);
                        self.ctl_t = t;
                        self.phase = Phase::RstClose;
                    }
                }
                self.x.active = false;
            }
        }
    }

    /// Decides the next packet; returns its time, or `None` when the flow is finished.
    pub(crate) fn poll(&mut self) -> Option<u64> {
        loop {
            match self.phase {
                Phase::Done => {
                    return self.acks.front().map(|a| {
                        self.pend = Pend::Ack;
                        a.t
                    });
                }
                Phase::Data => {
                    if !self.x.active || self.x.left == 0 {
                        self.next_transfer();
                        continue;
                    }
                    let sdir = self.x.dir as usize;
                    let r = 1 - sdir;
                    let mut td = self.x.next_t;
                    if let Some(a) = self.acks.front()
                        && a.t <= td
                    {
                        self.pend = Pend::Ack;
                        return Some(a.t);
                    }
                    if !self.quic {
                        let len = self.x.left.min(u64::from(self.s[sdir].seg)) as u32;
                        let end = self.s[sdir].nxt.wrapping_add(len);
                        let limit = self.s[r].last_ack.wrapping_add(self.s[r].last_win);
                        if seq_after(end, limit) {
                            // Receive-window limited: the sender waits for the next ACK.
                            if let Some(a) = self.acks.front() {
                                td = td.max(a.t + 2 * self.pair.d(sdir) + 1_000);
                                self.x.next_t = td;
                                continue;
                            }
                            if self.s[r].last_ack != self.s[sdir].nxt {
                                let t = self.x.last_t + 2 * self.pair.d(r) + DELACK_NS;
                                let ack = self.s[sdir].nxt;
                                self.push_ack(t, ack, r as u8);
                                self.x.unacked = 0;
                                continue;
                            }
                            // Window smaller than a segment: cannot happen with the stacks
                            // used here (windows ≥ 14 kB); send anyway rather than stall.
                            debug_assert!(false, "window below one segment");
                        }
                    }
                    self.pend = Pend::Data;
                    return Some(td);
                }
                _ => {
                    if let Some(a) = self.acks.front()
                        && a.t <= self.ctl_t
                    {
                        self.pend = Pend::Ack;
                        return Some(a.t);
                    }
                    self.pend = Pend::Ctl;
                    return Some(self.ctl_t);
                }
            }
        }
    }
}

/// A recyclable ACK queue (so finished conversations hand their buffer to new ones).
#[derive(Debug, Default)]
pub(crate) struct AckEvOpaque(VecDeque<AckEv>);

impl AckEvOpaque {
    fn clear(&mut self) {
        self.0.clear();
    }
    fn into_inner(self) -> VecDeque<AckEv> {
        self.0
    }
}
