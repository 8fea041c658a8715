//! Flows that are not TCP/QUIC conversations: UDP request/response (DNS, NTP, generic, a
//! closed port answered by ICMP port unreachable), UDP streams, ICMP echo and traceroute.

use super::frame::{self, L3, UdpPayload};
use super::pair::Pair;
use super::rng::Rng;

/// Scratch space shared by all flows while emitting (application payloads, quoted packets).
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    /// Application payload under construction.
    pub(crate) payload: Vec<u8>,
    /// A re-rendered packet to quote in an ICMP error.
    pub(crate) quote: Vec<u8>,
    /// Unix time (ns) of simulated time zero, for NTP timestamps.
    pub(crate) epoch_ns: u64,
}

/// What a UDP request/response flow carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum UdpApp {
    /// DNS query/response (`qtype` 1 = A, 28 = AAAA, 65 = HTTPS) for name number `name`.
    Dns {
        /// Query type.
        qtype: u16,
        /// Name number (see `frame::dns_query`).
        name: u32,
    },
    /// NTPv4 client/server exchange.
    Ntp,
    /// Opaque request/response payloads of the given sizes.
    Generic {
        /// Request payload bytes.
        req: u16,
        /// Response payload bytes.
        resp: u16,
    },
    /// A datagram to a closed port, answered by ICMP port unreachable quoting it.
    Closed {
        /// Payload bytes of the datagram.
        len: u16,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RrPhase {
    Query,
    Reply,
    Done,
}

/// UDP request/response exchanges.
#[derive(Debug)]
pub(crate) struct UdpRr {
    /// Endpoints.
    pub(crate) pair: Pair,
    app: UdpApp,
    left: u16,
    answer_p: f64,
    gap_mean: f64,
    phase: RrPhase,
    next_t: u64,
    q_t: u64,
    txid: u16,
    q_l3: L3,
    rng: Rng,
}

impl UdpRr {
    /// `queries` exchanges `gap_mean` ns apart on average; each is answered with probability
    /// `answer_p` after the server-side round trip plus processing.
    pub(crate) fn new(
        pair: Pair,
        app: UdpApp,
        queries: u16,
        answer_p: f64,
        gap_mean: f64,
        start: u64,
        mut rng: Rng,
    ) -> UdpRr {
        let txid = rng.next_u32() as u16;
        UdpRr {
            pair,
            app,
            left: queries.max(1),
            answer_p,
            gap_mean,
            phase: RrPhase::Query,
            next_t: start,
            q_t: start,
            txid,
            q_l3: L3::default(),
            rng,
        }
    }

    /// Time of the next packet.
    pub(crate) fn poll(&mut self) -> Option<u64> {
        (self.phase != RrPhase::Done).then_some(self.next_t)
    }

    /// Emits the next packet.
    pub(crate) fn emit(&mut self, t: u64, buf: &mut Vec<u8>, sc: &mut Scratch) {
        match self.phase {
            RrPhase::Query => {
                let l3 = self.pair.l3(0);
                self.q_l3 = l3;
                self.q_t = t;
                self.write_query(buf, sc, &l3, t);
                self.left -= 1;
                let d1 = self.pair.d(1);
                if self.rng.chance(self.answer_p) {
                    self.phase = RrPhase::Reply;
                    let proc_ns = match self.app {
                        // A recursive resolver: cache hit (sub-ms) or a recursion (10–100 ms).
                        UdpApp::Dns { .. } => {
                            if self.rng.chance(0.7) {
                                self.rng.range(50_000, 1_000_000)
                            } else {
                                self.rng.lognormal_median(30e6, 0.6) as u64
                            }
                        }
                        _ => self.rng.range(20_000, 500_000),
                    };
                    self.next_t = t + 2 * d1 + proc_ns;
                } else {
                    self.next_query(t + 2 * d1);
                }
            }
            RrPhase::Reply => {
                self.write_reply(buf, sc, t);
                self.next_query(t);
            }
            RrPhase::Done => {}
        }
    }

    fn next_query(&mut self, after: u64) {
        if self.left == 0 {
            self.phase = RrPhase::Done;
        } else {
            self.phase = RrPhase::Query;
            self.txid = self.txid.wrapping_add(1);
            self.next_t = after + 1_000 + self.rng.exp(self.gap_mean) as u64;
        }
    }

    fn write_query(&mut self, buf: &mut Vec<u8>, sc: &mut Scratch, l3: &L3, t: u64) {
        let (sp, dp) = (self.pair.ep[0].port, self.pair.ep[1].port);
        match self.app {
            UdpApp::Dns { qtype, name } => {
                frame::dns_query(&mut sc.payload, self.txid, name, qtype);
                frame::udp(buf, l3, sp, dp, UdpPayload::Bytes(&sc.payload, 0));
            }
            UdpApp::Ntp => {
                frame::ntp(&mut sc.payload, false, sc.epoch_ns + t, 0);
                frame::udp(buf, l3, sp, dp, UdpPayload::Bytes(&sc.payload, 0));
            }
            UdpApp::Generic { req, .. } => {
                frame::udp(buf, l3, sp, dp, UdpPayload::Zero(usize::from(req)));
            }
            UdpApp::Closed { len } => {
                frame::udp(buf, l3, sp, dp, UdpPayload::Zero(usize::from(len)));
            }
        }
    }

    fn write_reply(&mut self, buf: &mut Vec<u8>, sc: &mut Scratch, t: u64) {
        let (sp, dp) = (self.pair.ep[1].port, self.pair.ep[0].port);
        match self.app {
            UdpApp::Dns { qtype, name } => {
                let answers = self.rng.range(1, 3) as u16;
                let seed = if self.pair.v6 {
                    0x2001_0db8_00aa_0000_0000_0000_0000_0000 | u128::from(name)
                } else {
                    0xc633_6400 | u128::from(name % 250 + 1) // 198.51.100.0/24
                };
                frame::dns_response(&mut sc.payload, self.txid, name, qtype, answers, 300, seed);
                let l3 = self.pair.l3(1);
                frame::udp(buf, &l3, sp, dp, UdpPayload::Bytes(&sc.payload, 0));
            }
            UdpApp::Ntp => {
                frame::ntp(
                    &mut sc.payload,
                    true,
                    sc.epoch_ns + t - self.pair.d(1),
                    sc.epoch_ns + self.q_t,
                );
                let l3 = self.pair.l3(1);
                frame::udp(buf, &l3, sp, dp, UdpPayload::Bytes(&sc.payload, 0));
            }
            UdpApp::Generic { resp, .. } => {
                let l3 = self.pair.l3(1);
                frame::udp(buf, &l3, sp, dp, UdpPayload::Zero(usize::from(resp)));
            }
            UdpApp::Closed { len } => {
                // Re-render the datagram as the destination received it and quote it in a
                // port unreachable (ICMP 3/3, ICMPv6 1/4).
                let q = self.q_l3;
                frame::udp(
                    &mut sc.quote,
                    &q,
                    dp,
                    sp,
                    UdpPayload::Zero(usize::from(len)),
                );
                let hops = self.rng.range(1, 12) as u8;
                let ip = &mut sc.quote[frame::ETH_LEN..];
                frame::set_ttl(ip, q.ttl.saturating_sub(hops).max(1));
                let l3 = self.pair.l3(1);
                let (ty, code) = if self.pair.v6 { (1, 4) } else { (3, 3) };
                frame::icmp_error(buf, &l3, ty, code, &sc.quote[frame::ETH_LEN..]);
            }
        }
    }
}

/// Packet sizes of a stream.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum SizeDist {
    /// Uniform UDP payload size in `[lo, hi]`.
    Uniform(u16, u16),
    /// Simple IMIX frame sizes 60/590/1514 B (without FCS) at 7:4:1 (TRex `imix.py`).
    Imix,
}

impl SizeDist {
    fn payload(self, rng: &mut Rng, v6: bool) -> usize {
        match self {
            SizeDist::Uniform(a, b) => rng.range(u64::from(a), u64::from(b)) as usize,
            SizeDist::Imix => {
                let frame: usize = match rng.below(12) {
                    0..=6 => 60,
                    7..=10 => 590,
                    _ => 1514,
                };
                let hdr = frame::ETH_LEN + if v6 { frame::IPV6_LEN } else { frame::IPV4_LEN } + 8;
                frame.saturating_sub(hdr)
            }
        }
    }
}

/// A UDP stream in one or both directions (RTP media, game state, telemetry), packets every
/// `interval` ns with ±10 % jitter, until `end`.
#[derive(Debug)]
pub(crate) struct UdpStream {
    /// Endpoints.
    pub(crate) pair: Pair,
    next_t: [u64; 2],
    active: [bool; 2],
    interval: [f64; 2],
    size: [SizeDist; 2],
    end: u64,
    poisson: bool,
    rng: Rng,
    pend: usize,
}

impl UdpStream {
    /// A stream from `start` to `end`; `interval[i]` is the mean gap of direction `i`
    /// (0 = silent direction). `poisson` draws exponential gaps instead of jittered CBR.
    pub(crate) fn new(
        pair: Pair,
        start: u64,
        end: u64,
        interval: [f64; 2],
        size: [SizeDist; 2],
        poisson: bool,
        mut rng: Rng,
    ) -> UdpStream {
        let active = [interval[0] > 0.0, interval[1] > 0.0];
        // The answering direction starts once the first packet has reached the peer.
        let first1 = start + 2 * pair.d(1) + rng.below(1_000_000);
        UdpStream {
            pair,
            next_t: [start, if active[0] { first1 } else { start }],
            active,
            interval,
            size,
            end,
            poisson,
            rng,
            pend: 0,
        }
    }

    /// Time of the next packet.
    pub(crate) fn poll(&mut self) -> Option<u64> {
        let mut best: Option<(u64, usize)> = None;
        for i in 0..2 {
            if self.active[i] && self.next_t[i] <= self.end {
                match best {
                    Some((t, _)) if t <= self.next_t[i] => {}
                    _ => best = Some((self.next_t[i], i)),
                }
            }
        }
        best.map(|(t, i)| {
            self.pend = i;
            t
        })
    }

    /// Emits the next packet.
    pub(crate) fn emit(&mut self, t: u64, buf: &mut Vec<u8>) {
        let i = self.pend;
        let len = self.size[i].payload(&mut self.rng, self.pair.v6);
        self.pair.udp(buf, i, UdpPayload::Zero(len));
        let m = self.interval[i];
        let gap = if self.poisson {
            self.rng.exp(m)
        } else {
            m * self.rng.uniform(0.9, 1.1)
        };
        self.next_t[i] = t + (gap as u64).max(1);
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum EchoPhase {
    Request,
    Reply,
    Done,
}

/// ICMP / ICMPv6 echo: `count` requests `interval` apart (ping's default is 1 s), each
/// answered after the round trip when the target is alive.
#[derive(Debug)]
pub(crate) struct Echo {
    /// Endpoints (`ep[0].port` is the echo identifier).
    pub(crate) pair: Pair,
    left: u16,
    seq: u16,
    interval: u64,
    alive: bool,
    payload: usize,
    phase: EchoPhase,
    next_t: u64,
    req_t: u64,
    rng: Rng,
}

impl Echo {
    /// A ping session.
    pub(crate) fn new(
        pair: Pair,
        count: u16,
        interval: u64,
        alive: bool,
        payload: usize,
        start: u64,
        rng: Rng,
    ) -> Echo {
        Echo {
            pair,
            left: count.max(1),
            seq: 1,
            interval,
            alive,
            payload,
            phase: EchoPhase::Request,
            next_t: start,
            req_t: start,
            rng,
        }
    }

    /// Time of the next packet.
    pub(crate) fn poll(&mut self) -> Option<u64> {
        (self.phase != EchoPhase::Done).then_some(self.next_t)
    }

    /// Emits the next packet.
    pub(crate) fn emit(&mut self, t: u64, buf: &mut Vec<u8>) {
        let id = self.pair.ep[0].port;
        match self.phase {
            EchoPhase::Request => {
                let l3 = self.pair.l3(0);
                frame::icmp_echo(buf, &l3, true, id, self.seq, self.payload);
                self.left -= 1;
                self.req_t = t;
                if self.alive {
                    self.phase = EchoPhase::Reply;
                    let d = self.pair.d(1);
                    self.next_t = t + 2 * d + 10_000 + self.rng.below(d / 10 + 1);
                } else {
                    self.after();
                }
            }
            EchoPhase::Reply => {
                let l3 = self.pair.l3(1);
                frame::icmp_echo(buf, &l3, false, id, self.seq, self.payload);
                self.after();
            }
            EchoPhase::Done => {}
        }
    }

    fn after(&mut self) {
        if self.left == 0 {
            self.phase = EchoPhase::Done;
        } else {
            self.seq = self.seq.wrapping_add(1);
            self.phase = EchoPhase::Request;
            self.next_t = self.req_t + self.interval + self.rng.below(200_000);
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TrPhase {
    Probe,
    Reply,
    Done,
}

/// A UDP traceroute (Linux `traceroute` defaults: probes to ports 33434 + n, three per hop,
/// 60-byte IPv4 / 80-byte IPv6 packets). The capture point is the first hop, so TTL-1
/// probes end there and get no answer in the trace; probes with TTL 2.. are answered by
/// ICMP time exceeded from the hop's router quoting the probe as it arrived (TTL 1), the
/// probes that reach the destination by ICMP port unreachable.
#[derive(Debug)]
pub(crate) struct Traceroute {
    /// Endpoints (`ep[1]` is the destination; its MAC/gateway are used for hop replies).
    pub(crate) pair: Pair,
    hops: u8,
    ttl: u8,
    probe: u8,
    dport: u16,
    phase: TrPhase,
    next_t: u64,
    probe_l3: L3,
    hop_base: u128,
    hop_id: u16,
    reply_p: f64,
    rng: Rng,
}

impl Traceroute {
    /// A traceroute to `pair.ep[1]`, `hops` hops away (≥ 2), hop routers numbered from
    /// `hop_base`.
    pub(crate) fn new(
        pair: Pair,
        hops: u8,
        hop_base: u128,
        start: u64,
        mut rng: Rng,
    ) -> Traceroute {
        let hop_id = rng.next_u32() as u16;
        Traceroute {
            pair,
            hops: hops.max(2),
            ttl: 1,
            probe: 0,
            dport: 33434,
            phase: TrPhase::Probe,
            next_t: start,
            probe_l3: L3::default(),
            hop_base,
            hop_id,
            reply_p: 0.9,
            rng,
        }
    }

    /// Time of the next packet.
    pub(crate) fn poll(&mut self) -> Option<u64> {
        (self.phase != TrPhase::Done).then_some(self.next_t)
    }

    fn hop_delay(&self, hop: u8) -> u64 {
        let d = self.pair.d(1);
        d * u64::from(hop - 1) / u64::from(self.hops - 1)
    }

    /// Emits the next packet.
    pub(crate) fn emit(&mut self, t: u64, buf: &mut Vec<u8>, sc: &mut Scratch) {
        match self.phase {
            TrPhase::Probe => {
                let mut l3 = self.pair.l3(0);
                l3.ttl = self.ttl;
                self.probe_l3 = l3;
                frame::udp(
                    buf,
                    &l3,
                    self.pair.ep[0].port,
                    self.dport,
                    UdpPayload::Zero(32),
                );
                if self.ttl >= 2 && self.rng.chance(self.reply_p) {
                    self.phase = TrPhase::Reply;
                    let hd = self.hop_delay(self.ttl);
                    self.next_t = t + 2 * hd + self.rng.range(20_000, 2_000_000);
                } else {
                    // No answer in this trace: wait (traceroute's per-probe wait, shortened).
                    let wait = self.rng.range(200_000_000, 1_000_000_000);
                    self.advance(t + wait);
                }
            }
            TrPhase::Reply => {
                let at_dst = self.ttl >= self.hops;
                let q = self.probe_l3;
                frame::udp(
                    &mut sc.quote,
                    &q,
                    self.pair.ep[0].port,
                    self.dport,
                    UdpPayload::Zero(32),
                );
                frame::set_ttl(&mut sc.quote[frame::ETH_LEN..], 1);
                let src = if at_dst {
                    self.pair.ep[1].addr
                } else {
                    self.hop_base + u128::from(self.ttl)
                };
                let id = self.hop_id;
                self.hop_id = self.hop_id.wrapping_add(1);
                let l3 = L3 {
                    v6: self.pair.v6,
                    src,
                    dst: self.pair.ep[0].addr,
                    src_mac: self.pair.ep[1].mac,
                    dst_mac: self.pair.ep[1].gw_mac,
                    ttl: if at_dst {
                        self.pair.ep[1].ttl
                    } else {
                        255 - (self.ttl - 2)
                    },
                    ip_id: id,
                    df: false,
                    flow_label: 0,
                    tos: 0xc0,
                };
                let (ty, code) = match (self.pair.v6, at_dst) {
                    (false, false) => (11, 0),
                    (false, true) => (3, 3),
                    (true, false) => (3, 0),
                    (true, true) => (1, 4),
                };
                frame::icmp_error(buf, &l3, ty, code, &sc.quote[frame::ETH_LEN..]);
                let gap = self.rng.range(10_000, 1_000_000);
                self.advance(t + gap);
            }
            TrPhase::Done => {}
        }
    }

    fn advance(&mut self, next: u64) {
        self.dport = self.dport.wrapping_add(1);
        self.probe += 1;
        if self.probe == 3 {
            self.probe = 0;
            if self.ttl >= self.hops {
                self.phase = TrPhase::Done;
                return;
            }
            self.ttl += 1;
        }
        self.phase = TrPhase::Probe;
        self.next_t = next;
    }
}
