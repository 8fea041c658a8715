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

use std::collections::VecDeque;

use super::frame::{self, TcpHdr, TcpOpts, UdpPayload};
use super::pair::Pair;
use super::rng::Rng;
use crate::meta::tcp_flags::{ACK, FIN, PSH, RST, SYN};

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
pub const QUIC_MAX_PAYLOAD: u32 = 1350;

/// A TCP/IP stack flavour: what its SYN looks like and how it sizes its windows.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Stack {
    /// Initial TTL / hop limit.
    pub ttl: u8,
    /// Offers TCP timestamps (RFC 7323).
    pub ts: bool,
    /// Window-scale shift it offers.
    pub ws: u8,
    /// Window field of its SYN (client) or SYN-ACK (server), unscaled.
    pub syn_win: u16,
    /// Receive window right after the handshake, bytes.
    pub rwnd_init: u32,
    /// Largest receive window it grows to, bytes.
    pub rwnd_max: u32,
    /// Ephemeral port range (inclusive).
    pub eph: (u16, u16),
    /// Sets DF on UDP datagrams.
    pub udp_df: bool,
}

/// Linux (and Android): `SYN win 64240, wscale 7, TS on`; SYN-ACK 65160 with TS; after the
/// handshake 502 << 7; autotuning up to `tcp_rmem[2]` = 6 MiB (half usable as window);
/// ephemeral ports 32768–60999 (`ip_local_port_range`).
pub const LINUX: Stack = Stack {
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
pub const LINUX_SERVER: Stack = Stack {
    syn_win: 65160,
    ..LINUX
};
/// Windows 10/11: `SYN win 64240, wscale 8, no TS`, TTL 128, 1026 << 8 after the handshake,
/// ephemeral ports 49152–65535 (the IANA range, RFC 6335).
pub const WINDOWS: Stack = Stack {
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
pub const APPLE: Stack = Stack {
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
pub enum Setup {
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
pub enum CloseKind {
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
pub struct Close {
    /// How.
    pub kind: CloseKind,
    /// Idle time between the last transfer and the close, ns.
    pub idle: u64,
}

/// One transfer requested by an application.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transfer {
    /// Sending side (0 = client).
    pub dir: u8,
    /// Bytes (≥ 1).
    pub bytes: u64,
    /// Application think/processing time before the first byte, ns.
    pub think: u64,
    /// Absolute earliest start time (0 = none), for periodic applications.
    pub not_before: u64,
}

/// Request size of HTTP-like requests: log-normal, median 500 B (typical HTTP/2 request
/// headers after HPACK plus cookies), clamped to 80..4000 B.
fn request_bytes(rng: &mut Rng) -> u64 {
    (rng.lognormal_median(500.0, 0.5) as u64).clamp(80, 4000)
}

/// Server processing time: log-normal, median 2 ms.
fn server_think(rng: &mut Rng) -> u64 {
    (rng.lognormal_median(2e6, 0.8) as u64).clamp(50_000, 200_000_000)
}

/// What the application does over the connection.
#[derive(Clone, Debug)]
pub enum App {
    /// No data (scans, floods, refused connections).
    None,
    /// HTTP(S)-like request/response exchanges after an optional TLS 1.3 handshake.
    Web {
        /// TLS handshake first.
        tls: bool,
        /// Exchanges left.
        left: u32,
        /// Median response size, bytes (log-normal).
        resp_median: f64,
        /// Sigma of the response size's log.
        resp_sigma: f64,
        /// Mean client think time between exchanges, ns (exponential).
        think_mean: f64,
        /// Internal stage counter.
        stage: u32,
    },
    /// Adaptive video streaming (DASH/HLS): a segment request every `period`, each answered
    /// by `chunk` bytes at the path's full rate: an on/off elephant.
    Video {
        /// Segments left.
        left: u32,
        /// Segment size, bytes (bitrate × period).
        chunk: u64,
        /// Segment duration, ns.
        period: u64,
        /// Absolute time of the next segment request (0 = not started).
        next_req: u64,
        /// Internal stage counter.
        stage: u32,
    },
    /// One request, then `resp` bytes back (or `req` bytes up when uploading): bulk
    /// transfers, RPCs, flows of a given size.
    Rpc {
        /// TLS handshake first.
        tls: bool,
        /// Request bytes (client → server).
        req: u64,
        /// Response bytes (server → client).
        resp: u64,
        /// Internal stage counter.
        stage: u32,
    },
    /// Long-lived, mostly idle connection (push channels, keepalives): small messages in
    /// either direction every `interval_mean` ns on average.
    Keepalive {
        /// Messages left.
        left: u32,
        /// Mean gap between messages, ns.
        interval_mean: f64,
        /// Internal stage counter.
        stage: u32,
    },
}

impl App {
    /// TLS 1.3 handshake flights. Returns `None` once the handshake is over.
    fn tls_stage(stage: u32, quic: bool, rng: &mut Rng) -> Option<Transfer> {
        match stage {
            // ClientHello: 517 B classic, ~1.8 kB with a post-quantum key share; a QUIC
            // Initial datagram is padded to at least 1200 bytes (RFC 9000 §14.1).
            0 => {
                let b = if rng.chance(0.5) { 517 } else { 1_780 };
                let b = if quic {
                    if b > 1250 { 2_500 } else { 1_250 }
                } else {
                    b
                };
                Some(Transfer {
                    dir: 0,
                    bytes: b,
                    think: rng.range(20_000, 200_000),
                    not_before: 0,
                })
            }
            // Server flight: ServerHello .. Finished with a certificate chain.
            1 => Some(Transfer {
                dir: 1,
                bytes: (rng.lognormal_median(4_000.0, 0.35) as u64).clamp(1_500, 12_000),
                think: rng.range(100_000, 3_000_000),
                not_before: 0,
            }),
            _ => None,
        }
    }

    /// The next transfer, or `None` when the application is done. `k` counts the transfers
    /// so far; `t_end` is the time of the previous transfer's last packet.
    pub fn next(&mut self, rng: &mut Rng, quic: bool, t_end: u64) -> Option<Transfer> {
        match self {
            App::None => None,
            App::Web {
                tls,
                left,
                resp_median,
                resp_sigma,
                think_mean,
                stage,
            } => {
                let s = *stage;
                *stage += 1;
                let hs = if *tls || quic { 2 } else { 0 };
                if s < hs {
                    return App::tls_stage(s, quic, rng);
                }
                let i = s - hs;
                if *left == 0 {
                    return None;
                }
                if i % 2 == 0 {
                    // Request (with the TLS Finished right after the handshake).
                    let extra = if i == 0 && hs > 0 { 80 } else { 0 };
                    let think = if i == 0 {
                        rng.range(10_000, 100_000)
                    } else {
                        rng.exp(*think_mean) as u64
                    };
                    Some(Transfer {
                        dir: 0,
                        bytes: request_bytes(rng) + extra,
                        think,
                        not_before: 0,
                    })
                } else {
                    *left -= 1;
                    Some(Transfer {
                        dir: 1,
                        bytes: (rng.lognormal_median(*resp_median, *resp_sigma) as u64)
                            .clamp(200, 2_000_000_000),
                        think: server_think(rng),
                        not_before: 0,
                    })
                }
            }
            App::Video {
                left,
                chunk,
                period,
                next_req,
                stage,
            } => {
                let s = *stage;
                *stage += 1;
                if s < 2 {
                    return App::tls_stage(s, quic, rng);
                }
                if *left == 0 {
                    return None;
                }
                if s % 2 == 0 {
                    if *next_req == 0 {
                        *next_req = t_end;
                    }
                    let nb = *next_req;
                    *next_req += *period;
                    Some(Transfer {
                        dir: 0,
                        bytes: request_bytes(rng),
                        think: rng.range(10_000, 500_000),
                        not_before: nb,
                    })
                } else {
                    *left -= 1;
                    // Segment sizes vary ±20 % around bitrate × duration (VBR encoding).
                    let b = (*chunk as f64 * rng.uniform(0.8, 1.2)) as u64;
                    Some(Transfer {
                        dir: 1,
                        bytes: b.max(1_000),
                        think: server_think(rng),
                        not_before: 0,
                    })
                }
            }
            App::Rpc {
                tls,
                req,
                resp,
                stage,
            } => {
                let s = *stage;
                *stage += 1;
                let hs = if *tls || quic { 2 } else { 0 };
                if s < hs {
                    return App::tls_stage(s, quic, rng);
                }
                match s - hs {
                    0 => Some(Transfer {
                        dir: 0,
                        bytes: (*req).max(1),
                        think: rng.range(5_000, 50_000),
                        not_before: 0,
                    }),
                    1 if *resp > 0 => Some(Transfer {
                        dir: 1,
                        bytes: *resp,
                        think: rng.range(5_000, 100_000),
                        not_before: 0,
                    }),
                    _ => None,
                }
            }
            App::Keepalive {
                left,
                interval_mean,
                stage,
            } => {
                let s = *stage;
                *stage += 1;
                if s < 2 {
                    return App::tls_stage(s, quic, rng);
                }
                if *left == 0 {
                    return None;
                }
                *left -= 1;
                Some(Transfer {
                    dir: if rng.chance(0.5) { 0 } else { 1 },
                    bytes: rng.range(60, 600),
                    think: rng.exp(*interval_mean) as u64,
                    not_before: 0,
                })
            }
        }
    }
}

/// Parameters of a new conversation.
#[derive(Clone, Debug)]
pub struct ConvSpec {
    /// Endpoints.
    pub pair: Pair,
    /// Client and server stacks.
    pub stacks: [Stack; 2],
    /// MSS each side announces.
    pub mss: [u16; 2],
    /// Setup.
    pub setup: Setup,
    /// Application.
    pub app: App,
    /// Close policy.
    pub close: Close,
    /// Bottleneck (line) rate for data sent by each side, bit/s.
    pub line_bps: [f64; 2],
    /// Target (paced) rate for data sent by each side, bit/s.
    pub rate_bps: [f64; 2],
    /// Time of the first packet.
    pub start: u64,
    /// SYN options of a scanner/flooder (`None` = the stack's normal SYN).
    pub syn_opts: Option<TcpOpts>,
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
pub struct Conv {
    /// Endpoints and IP state.
    pub pair: Pair,
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
    pub fn new(spec: ConvSpec, mut rng: Rng, mut acks: AckEvOpaque) -> Conv {
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
    pub fn into_queue(self) -> AckEvOpaque {
        AckEvOpaque(self.acks)
    }

    /// Whether this conversation is QUIC.
    pub fn is_quic(&self) -> bool {
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
    pub fn poll(&mut self) -> Option<u64> {
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

    /// Window (bytes) side `i` advertises after receiving up to `ack`.
    fn adv_win(&self, i: usize, ack: u32) -> u32 {
        let s = &self.s[i];
        let rcvd = ack.wrapping_sub(self.s[1 - i].isn.wrapping_add(1));
        let rcvd = if rcvd > 1 << 31 { 0 } else { rcvd };
        s.rwnd_init
            .saturating_add(rcvd.saturating_mul(2))
            .min(s.rwnd_max)
    }

    fn tsval(&mut self, i: usize, t: u64) -> u32 {
        let v = self.s[i]
            .ts_off
            .wrapping_add((t.saturating_sub(self.pair.d(i)) / 1_000_000) as u32);
        self.s[i].last_tsval = v;
        v
    }

    fn tsecr(&self, i: usize, t: u64) -> u32 {
        let p = 1 - i;
        let seen = t
            .saturating_sub(2 * self.pair.d(i))
            .saturating_sub(self.pair.d(p));
        let v = self.s[p].ts_off.wrapping_add((seen / 1_000_000) as u32);
        // Never echo a value the peer has not sent yet.
        if seq_after(v, self.s[p].last_tsval) {
            self.s[p].last_tsval
        } else {
            v
        }
    }

    /// Emits a non-SYN TCP segment from side `i` acknowledging `ack` (records it as the
    /// side's last advertised ack/window).
    fn seg(&mut self, buf: &mut Vec<u8>, t: u64, i: usize, flags: u8, ack: u32, len: u32) {
        let win = self.adv_win(i, ack);
        let ws = self.s[i].ws;
        let field = (win >> ws).clamp(1, 65535);
        self.s[i].last_ack = ack;
        self.s[i].last_win = field << ws;
        let opts = if self.ts {
            let val = self.tsval(i, t);
            TcpOpts::Ts {
                val,
                ecr: self.tsecr(i, t),
            }
        } else {
            TcpOpts::None
        };
        let h = TcpHdr {
            sport: self.pair.ep[i].port,
            dport: self.pair.ep[1 - i].port,
            seq: self.s[i].nxt,
            ack,
            flags,
            win: field as u16,
            opts,
        };
        let l3 = self.pair.l3(i);
        frame::tcp(buf, &l3, &h, len as usize);
    }

    fn syn_opts(&mut self, i: usize, t: u64) -> TcpOpts {
        if i == 0
            && let Some(o) = self.syn_opts
        {
            return o;
        }
        if self.ts || (i == 0 && self.ts_offer) {
            let val = self.tsval(i, t);
            let ecr = if i == 0 { 0 } else { self.tsecr(i, t) };
            TcpOpts::SynTs {
                mss: self.s[i].mss,
                ws: self.s[i].ws,
                val,
                ecr,
            }
        } else {
            TcpOpts::Syn {
                mss: self.s[i].mss,
                ws: self.s[i].ws,
            }
        }
    }

    fn emit_udp(&mut self, buf: &mut Vec<u8>, i: usize, len: u32) {
        let l3 = self.pair.l3(i);
        frame::udp(
            buf,
            &l3,
            self.pair.ep[i].port,
            self.pair.ep[1 - i].port,
            UdpPayload::Zero(len as usize),
        );
    }

    /// Emits the packet decided by the last [`Conv::poll`] (at time `t`) into `buf`.
    pub fn emit(&mut self, t: u64, buf: &mut Vec<u8>) {
        match self.pend {
            Pend::Ack => {
                let a = match self.acks.pop_front() {
                    Some(a) => a,
                    None => return,
                };
                let i = a.from as usize;
                if self.quic {
                    let len = 30 + self.rng.below(20) as u32;
                    self.emit_udp(buf, i, len);
                } else {
                    self.seg(buf, t, i, ACK, a.ack, 0);
                }
            }
            Pend::Data => self.emit_data(t, buf),
            Pend::Ctl => self.emit_ctl(t, buf),
        }
    }

    fn emit_data(&mut self, t: u64, buf: &mut Vec<u8>) {
        let i = self.x.dir as usize;
        let r = 1 - i;
        let len = self.x.left.min(u64::from(self.s[i].seg)) as u32;
        self.x.left -= u64::from(len);
        let last = self.x.left == 0;
        if self.quic {
            self.emit_udp(buf, i, len);
        } else {
            let ack = self.s[r].nxt;
            let flags = if last { ACK | PSH } else { ACK };
            self.seg(buf, t, i, flags, ack, len);
        }
        self.s[i].nxt = self.s[i].nxt.wrapping_add(len);
        self.s[i].last_data_t = t;
        self.s[i].sent_data = true;
        self.x.last_t = t;
        // The receiver acknowledges every second segment, and the last one.
        self.x.unacked += 1;
        if self.x.unacked >= 2 || last {
            let dr = self.pair.d(r);
            let mut at = t + 2 * dr + self.jitter(dr);
            if self.x.unacked == 1 {
                at += if self.quic {
                    QUIC_ACK_DELAY_NS
                } else {
                    DELACK_NS
                };
            }
            let ack = self.s[i].nxt;
            self.push_ack(at, ack, r as u8);
            self.x.unacked = 0;
        }
        if last {
            return;
        }
        // Timing of the next segment: slow-start rounds, then pacing.
        let seg_bits = f64::from(self.s[i].seg + 66) * 8.0;
        let gap_line = ((seg_bits / self.line_bps[i].max(1e3)) * 1e9) as u64 + 1;
        if self.x.steady {
            let pace = ((seg_bits / self.rate_bps[i].max(1e3)) * 1e9) as u64;
            let g = pace.max(gap_line);
            let g = g - g / 10 + self.rng.below(g / 5 + 1);
            self.x.next_t = t + g.max(1);
        } else {
            self.x.round_left = self.x.round_left.saturating_sub(1);
            if self.x.round_left == 0 {
                let rtt = self.pair.rtt().max(2_000);
                let cw = self.s[i].cwnd.saturating_mul(2).min(65_536);
                self.s[i].cwnd = cw;
                self.x.round_start = (self.x.round_start + rtt).max(t + gap_line);
                self.x.next_t = self.x.round_start;
                self.x.round_left = cw;
                // Window covers rate × RTT: leave slow start and pace.
                if f64::from(cw) * seg_bits >= self.rate_bps[i] * rtt as f64 * 1e-9 {
                    self.x.steady = true;
                }
            } else {
                self.x.next_t = t + gap_line;
            }
        }
    }

    fn emit_ctl(&mut self, t: u64, buf: &mut Vec<u8>) {
        match self.phase {
            Phase::Syn { left } => {
                let opts = self.syn_opts(0, t);
                let win = self.s[0].syn_win;
                self.s[0].last_win = u32::from(win);
                let h = TcpHdr {
                    sport: self.pair.ep[0].port,
                    dport: self.pair.ep[1].port,
                    seq: self.s[0].isn,
                    ack: 0,
                    flags: SYN,
                    win,
                    opts,
                };
                let l3 = self.pair.l3(0);
                frame::tcp(buf, &l3, &h, 0);
                self.s[0].nxt = self.s[0].isn.wrapping_add(1);
                let reply = 2 * self.pair.d(1) + self.jitter(self.pair.d(1));
                match self.setup {
                    Setup::SynUnanswered { .. } => {
                        if left > 0 {
                            self.phase = Phase::Syn { left: left - 1 };
                            self.ctl_t = t + self.rto;
                            self.rto *= 2;
                        } else {
                            self.phase = Phase::Done;
                        }
                    }
                    Setup::SynRst => {
                        self.phase = Phase::RstAnswer;
                        self.ctl_t = t + reply;
                    }
                    Setup::SynAckNoAck { retries } => {
                        self.phase = Phase::SynAck { left: retries };
                        self.ctl_t = t + reply;
                    }
                    _ => {
                        self.phase = Phase::SynAck { left: 0 };
                        self.ctl_t = t + reply;
                    }
                }
            }
            Phase::SynAck { left } => {
                let opts = self.syn_opts(1, t);
                let ack = self.s[0].isn.wrapping_add(1);
                let win = self.s[1].syn_win;
                self.s[1].last_ack = ack;
                self.s[1].last_win = u32::from(win);
                let h = TcpHdr {
                    sport: self.pair.ep[1].port,
                    dport: self.pair.ep[0].port,
                    seq: self.s[1].isn,
                    ack,
                    flags: SYN | ACK,
                    win,
                    opts,
                };
                let l3 = self.pair.l3(1);
                frame::tcp(buf, &l3, &h, 0);
                self.s[1].nxt = self.s[1].isn.wrapping_add(1);
                match self.setup {
                    Setup::SynAckNoAck { .. } => {
                        if left > 0 {
                            self.phase = Phase::SynAck { left: left - 1 };
                            self.ctl_t = t + self.rto;
                            self.rto *= 2;
                        } else {
                            self.phase = Phase::Done;
                        }
                    }
                    Setup::ScanOpen => {
                        self.phase = Phase::ScanRst;
                        self.ctl_t = t + 2 * self.pair.d(0) + self.jitter(self.pair.d(0));
                    }
                    _ => {
                        self.phase = Phase::HsAck;
                        self.ctl_t = t + 2 * self.pair.d(0) + self.jitter(self.pair.d(0));
                    }
                }
            }
            Phase::HsAck => {
                let ack = self.s[1].nxt;
                self.seg(buf, t, 0, ACK, ack, 0);
                self.phase = Phase::Data;
                self.x.last_t = t;
                self.x.dir = 0;
                self.x.active = false;
            }
            Phase::RstAnswer => {
                // RST|ACK answering a SYN: seq 0, ack = SYN + 1, window 0 (Linux
                // tcp_v4_send_reset for a segment without ACK).
                let h = TcpHdr {
                    sport: self.pair.ep[1].port,
                    dport: self.pair.ep[0].port,
                    seq: 0,
                    ack: self.s[0].nxt,
                    flags: RST | ACK,
                    win: 0,
                    opts: TcpOpts::None,
                };
                let l3 = self.pair.l3(1);
                frame::tcp(buf, &l3, &h, 0);
                self.phase = Phase::Done;
            }
            Phase::ScanRst => {
                // The scanner's kernel has no socket for the SYN-ACK: RST with seq = its ack.
                let h = TcpHdr {
                    sport: self.pair.ep[0].port,
                    dport: self.pair.ep[1].port,
                    seq: self.s[0].nxt,
                    ack: 0,
                    flags: RST,
                    win: 0,
                    opts: TcpOpts::None,
                };
                let l3 = self.pair.l3(0);
                frame::tcp(buf, &l3, &h, 0);
                self.phase = Phase::Done;
            }
            Phase::Fin1 => {
                let i = self.ctl_from as usize;
                let p = 1 - i;
                let ack = self.s[p].nxt;
                self.seg(buf, t, i, FIN | ACK, ack, 0);
                self.s[i].nxt = self.s[i].nxt.wrapping_add(1);
                let separate = matches!(self.close.kind, CloseKind::Fin { separate: true, .. });
                let dp = self.pair.d(p);
                self.ctl_t = t + 2 * dp + self.jitter(dp);
                self.subsume(p as u8, self.ctl_t);
                self.phase = if separate {
                    Phase::Fin2Ack
                } else {
                    Phase::Fin2
                };
            }
            Phase::Fin2Ack => {
                let p = 1 - self.ctl_from as usize;
                let ack = self.s[1 - p].nxt;
                self.seg(buf, t, p, ACK, ack, 0);
                // The application closes its side a little later.
                self.ctl_t = t + self.rng.range(100_000, 50_000_000);
                self.phase = Phase::Fin2;
            }
            Phase::Fin2 => {
                let p = 1 - self.ctl_from as usize;
                let ack = self.s[1 - p].nxt;
                self.seg(buf, t, p, FIN | ACK, ack, 0);
                self.s[p].nxt = self.s[p].nxt.wrapping_add(1);
                let di = self.pair.d(1 - p);
                self.ctl_t = t + 2 * di + self.jitter(di);
                self.phase = Phase::LastAck;
            }
            Phase::LastAck => {
                let i = self.ctl_from as usize;
                let ack = self.s[1 - i].nxt;
                self.seg(buf, t, i, ACK, ack, 0);
                self.phase = Phase::Done;
            }
            Phase::RstClose => {
                let i = self.ctl_from as usize;
                let ack = self.s[1 - i].nxt;
                self.seg(buf, t, i, RST | ACK, ack, 0);
                self.phase = Phase::Done;
                self.acks.clear();
            }
            Phase::QuicClose => {
                // CONNECTION_CLOSE in a short-header packet.
                let i = self.ctl_from as usize;
                let len = 40 + self.rng.below(20) as u32;
                self.emit_udp(buf, i, len);
                self.phase = Phase::Done;
                self.acks.clear();
            }
            Phase::Data | Phase::Done => {}
        }
    }
}

/// A recyclable ACK queue (so finished conversations hand their buffer to new ones).
#[derive(Debug, Default)]
pub struct AckEvOpaque(VecDeque<AckEv>);

impl AckEvOpaque {
    fn clear(&mut self) {
        self.0.clear();
    }
    fn into_inner(self) -> VecDeque<AckEv> {
        self.0
    }
}
