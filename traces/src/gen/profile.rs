//! Traffic profiles: host populations, flow sources (arrival processes) and the parameters of
//! the flows they start. Every number has its basis in a comment; figures marked "§5.x" come
//! from `shared/reference/anchors.md`.

use std::str::FromStr;

use super::GenError;
use super::conv::{
    APPLE, App, Close, CloseKind, ConvSpec, LINUX, LINUX_SERVER, Setup, Stack, WINDOWS,
};
use super::frame::TcpOpts;
use super::pair::{Ep, Pair};
use super::rng::{PiecewiseCdf, Rng, Zipf};
use super::simple::{SizeDist, UdpApp};

/// A traffic profile.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Profile {
    /// A home router: tens of clients, web, video, QUIC, DNS, NTP, a few elephants.
    HomeRouter,
    /// An enterprise edge: thousands of hosts, heavy-tailed flow sizes fitted to a campus
    /// trace, scans, ICMP, traceroute.
    Enterprise,
    /// Data-centre east-west traffic with the web-search and data-mining flow-size CDFs.
    Datacenter,
    /// A SYN flood from spoofed sources against a few servers, plus a little legitimate load.
    Synflood,
    /// UDP flows with the simple IMIX packet-size mix (a throughput benchmark load).
    Imix,
}

impl Profile {
    /// Every profile, in the order help texts list them.
    pub const ALL: [Profile; 5] = [
        Profile::HomeRouter,
        Profile::Enterprise,
        Profile::Datacenter,
        Profile::Synflood,
        Profile::Imix,
    ];

    /// The command-line name.
    pub fn name(self) -> &'static str {
        match self {
            Profile::HomeRouter => "home-router",
            Profile::Enterprise => "enterprise",
            Profile::Datacenter => "datacenter",
            Profile::Synflood => "synflood",
            Profile::Imix => "imix",
        }
    }

    /// The names of all profiles, comma-separated.
    pub fn names() -> String {
        Profile::ALL.map(Profile::name).join(", ")
    }

    /// Duration used when neither a packet count nor a duration is given: 10 s where that
    /// gives a file of tens of MB; 1–2 s for the high-rate profiles (10 s of datacenter
    /// traffic would be tens of GB).
    pub fn default_duration_secs(self) -> f64 {
        match self {
            Profile::HomeRouter | Profile::Enterprise => 10.0,
            Profile::Datacenter | Profile::Imix => 1.0,
            Profile::Synflood => 2.0,
        }
    }

    /// Share of flows that use IPv6 unless overridden.
    pub fn default_ipv6_share(self) -> f64 {
        match self {
            // Home networks with native IPv6: a quarter of flows (brief: 20–30 %).
            Profile::HomeRouter => 0.25,
            Profile::Enterprise => 0.10,
            Profile::Datacenter => 0.10,
            Profile::Synflood => 0.10,
            Profile::Imix => 0.0,
        }
    }
}

impl std::fmt::Display for Profile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Profile {
    type Err = GenError;
    fn from_str(s: &str) -> Result<Self, GenError> {
        Profile::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| GenError::UnknownProfile {
                name: s.to_string(),
                valid: Profile::names(),
            })
    }
}

/// Web-search flow sizes (DCTCP paper), bytes vs CDF, as in HKUST-SING/TrafficGenerator
/// `conf/DCTCP_CDF.txt` (§5.2), including its `0 0` first line.
pub const WEB_SEARCH_CDF: [(f64, f64); 12] = [
    (0.0, 0.0),
    (10_000.0, 0.15),
    (20_000.0, 0.20),
    (30_000.0, 0.30),
    (50_000.0, 0.40),
    (80_000.0, 0.53),
    (200_000.0, 0.60),
    (1_000_000.0, 0.70),
    (2_000_000.0, 0.80),
    (5_000_000.0, 0.90),
    (10_000_000.0, 0.97),
    (30_000_000.0, 1.0),
];

/// Data-mining flow sizes (VL2 paper), bytes vs CDF, from `conf/VL2_CDF.txt` (§5.2),
/// including its `0 0` first line.
pub const DATA_MINING_CDF: [(f64, f64); 13] = [
    (0.0, 0.0),
    (180.0, 0.1),
    (216.0, 0.2),
    (560.0, 0.3),
    (900.0, 0.4),
    (1_100.0, 0.5),
    (1_870.0, 0.6),
    (3_160.0, 0.7),
    (10_000.0, 0.8),
    (400_000.0, 0.9),
    (3_160_000.0, 0.95),
    (100_000_000.0, 0.98),
    (1_000_000_000.0, 1.0),
];

/// Flow sizes in packets fitted to the AGH campus trace (§5.3: 44.7 % single-packet flows,
/// top 1 % of flows (≥ 523 packets) carry 90.9 % of packets, mean 104 packets).
///
/// Derivation: a point mass P(1) = 0.447, and for the other 55.3 % a bounded Pareto on
/// [x_m, U] with shape α. The tail shares fix α: P(N ≥ 30) = 6.5 % and P(N ≥ 523) = 1 % of
/// all flows give, conditional on N ≥ 2, 0.1175 and 0.0181, so
/// α = ln(0.1175/0.0181) / ln(523/30) = 0.655; P(N > 16) = 10 % (90 % of flows are ≤ 16
/// packets) gives 0.181 and α = ln(0.181/0.0181)/ln(523/16) = 0.66 — consistent, α = 0.66.
/// Then x_m = 16 · 0.181^(1/α) = 1.2. With α < 1 the mean is set by the cut-off U:
/// E[N | N ≥ 2] ≈ α x_m^α U^(1-α) / (1-α) must be (104 - 0.447)/0.553 = 187, so
/// U ≈ 4.8 × 10⁵ packets. Check: the share of packets in flows ≥ 523 is
/// (U^0.34 - 523^0.34)/(U^0.34 - x_m^0.34) = 0.91 (trace: 90.9 %), in flows ≥ 30 0.975
/// (trace: 96.8 %). Sizes are rounded up and at least 2. The unit test
/// `agh_fit_matches_anchors` checks these shares on samples.
pub fn agh_flow_packets(rng: &mut Rng) -> u64 {
    if rng.chance(AGH_SINGLE) {
        1
    } else {
        (rng.bounded_pareto(AGH_XM, AGH_MAX, AGH_ALPHA).ceil() as u64).max(2)
    }
}
/// Share of single-packet flows (§5.3).
pub const AGH_SINGLE: f64 = 0.447;
/// Pareto scale of the multi-packet part (derived above).
pub const AGH_XM: f64 = 1.2;
/// Pareto shape of the multi-packet part (derived above).
pub const AGH_ALPHA: f64 = 0.66;
/// Cut-off of the multi-packet part, packets (derived above).
pub const AGH_MAX: f64 = 4.8e5;

/// A host in a population.
#[derive(Clone, Debug)]
pub struct Host {
    v4: u32,
    v6: u128,
    mac: [u8; 6],
    stack: Stack,
    /// Median one-way delay to the capture point, ns.
    delay: f64,
    /// TTL of its packets at the capture point.
    ttl: u8,
    next_port: u16,
    /// On the router's LAN side (own MAC; sends to the LAN-side router MAC) or beyond the
    /// upstream (frames come from the upstream gateway's MAC).
    lan: bool,
    /// Access-link rate for data it sends/receives, bit/s (its Wi-Fi or NIC speed).
    link_bps: f64,
}

/// Router-side MACs (locally administered unicast addresses).
const ROUTER_LAN_MAC: [u8; 6] = [0x02, 0x0f, 0x5c, 0x00, 0x00, 0x01];
const ROUTER_WAN_MAC: [u8; 6] = [0x02, 0x0f, 0x5c, 0x00, 0x00, 0x02];
const UPSTREAM_MAC: [u8; 6] = [0x02, 0x0f, 0x5c, 0x00, 0x01, 0xfe];

fn random_mac(rng: &mut Rng) -> [u8; 6] {
    let r = rng.next_u64().to_be_bytes();
    // Locally administered (bit 1), unicast (bit 0 clear): like randomised client MACs.
    [(r[0] & 0xfc) | 0x02, r[1], r[2], r[3], r[4], r[5]]
}

impl Host {
    #[allow(clippy::too_many_arguments)]
    fn new(
        rng: &mut Rng,
        v4: u32,
        v6: u128,
        stack: Stack,
        delay: f64,
        ttl: u8,
        lan: bool,
        link_bps: f64,
    ) -> Host {
        let (lo, hi) = stack.eph;
        let next_port = rng.range(u64::from(lo), u64::from(hi)) as u16;
        Host {
            v4,
            v6,
            mac: random_mac(rng),
            stack,
            delay,
            ttl,
            next_port,
            lan,
            link_bps,
        }
    }

    /// Next ephemeral port: sequential within the stack's range from a random start, so two
    /// live flows of one host never share a port.
    fn port(&mut self) -> u16 {
        let (lo, hi) = self.stack.eph;
        let p = self.next_port;
        self.next_port = if p >= hi { lo } else { p + 1 };
        p
    }

    fn ep(&self, v6: bool, port: u16, delay: u64) -> Ep {
        Ep {
            addr: if v6 { self.v6 } else { u128::from(self.v4) },
            mac: if self.lan { self.mac } else { UPSTREAM_MAC },
            gw_mac: if self.lan {
                ROUTER_LAN_MAC
            } else {
                ROUTER_WAN_MAC
            },
            port,
            ttl: self.ttl,
            delay,
        }
    }
}

/// A flow-arrival process.
#[derive(Clone, Debug)]
pub enum Arrival {
    /// Poisson with `rate` flows per second.
    Poisson {
        /// Flows per second.
        rate: f64,
    },
    /// On/off: Poisson at `rate` during on periods (exponential, mean `on` s), silent during
    /// off periods (mean `off` s); starts with an on period at `first` s.
    OnOff {
        /// Flows per second while on.
        rate: f64,
        /// Mean on-period length, s.
        on: f64,
        /// Mean off-period length, s.
        off: f64,
        /// Start of the first on period, s.
        first: f64,
    },
    /// Fires once at the given time (s): flows already running when the capture starts.
    Once {
        /// Time, s.
        at: f64,
    },
}

/// Per-source state of a port scan burst.
#[derive(Clone, Debug, Default)]
pub struct ScanState {
    scanner: usize,
    sport: u16,
    port_base: u16,
    external: bool,
    horizontal: bool,
    port: u16,
    target: usize,
    counter: u32,
}

/// What a source starts.
#[derive(Clone, Debug)]
pub enum Kind {
    /// Home: a page load (DNS lookups then several web connections).
    PageLoad,
    /// Background HTTPS API call from an app.
    Api,
    /// Adaptive video stream.
    Video,
    /// Bulk download/upload elephant.
    Bulk,
    /// Standalone DNS query.
    Dns,
    /// NTP poll.
    Ntp,
    /// Long-lived mostly idle connection.
    Keepalive,
    /// Ping session.
    Ping,
    /// Voice/video call (bidirectional UDP stream).
    Call,
    /// Enterprise session sized by the AGH fit.
    Session,
    /// Port-scan probes (one per arrival).
    Scan(ScanState),
    /// Traceroute.
    Traceroute,
    /// Data-centre flow.
    DcFlow,
    /// Spoofed SYN.
    Flood,
    /// Legitimate web connection to the flooded servers.
    FloodLegit,
    /// IMIX UDP flow.
    Imix,
}

/// A source of flows.
#[derive(Clone, Debug)]
pub struct Source {
    /// Arrival process.
    pub arrival: Arrival,
    /// What it starts.
    pub kind: Kind,
    /// Its random stream (arrivals and flow parameters).
    pub rng: Rng,
    /// End of the current on period (ns), for on/off sources.
    pub on_until: u64,
}

/// A flow to start.
#[derive(Debug)]
pub enum NewFlow {
    /// TCP or QUIC conversation.
    Conv(Box<ConvSpec>, Rng),
    /// UDP request/response.
    Rr {
        /// Endpoints.
        pair: Pair,
        /// Application.
        app: UdpApp,
        /// Number of queries.
        queries: u16,
        /// Probability of an answer.
        answer_p: f64,
        /// Mean gap between queries, ns.
        gap: f64,
        /// Start.
        start: u64,
        /// Flow's random stream.
        rng: Rng,
    },
    /// UDP stream.
    Stream {
        /// Endpoints.
        pair: Pair,
        /// Start.
        start: u64,
        /// End.
        end: u64,
        /// Mean gap per direction, ns (0 = silent).
        interval: [f64; 2],
        /// Sizes per direction.
        size: [SizeDist; 2],
        /// Exponential gaps.
        poisson: bool,
        /// Flow's random stream.
        rng: Rng,
    },
    /// ICMP echo.
    Echo {
        /// Endpoints.
        pair: Pair,
        /// Requests.
        count: u16,
        /// Gap, ns.
        interval: u64,
        /// Target answers.
        alive: bool,
        /// Payload bytes.
        payload: usize,
        /// Start.
        start: u64,
        /// Flow's random stream.
        rng: Rng,
    },
    /// Traceroute.
    Trace {
        /// Endpoints.
        pair: Pair,
        /// Hops to the destination.
        hops: u8,
        /// First hop-router address minus one.
        hop_base: u128,
        /// Start.
        start: u64,
        /// Flow's random stream.
        rng: Rng,
    },
}

/// The hosts and parameters of one profile.
#[derive(Debug)]
pub struct Model {
    profile: Profile,
    clients: Vec<Host>,
    servers: Vec<Host>,
    zipf: Zipf,
    internal: Vec<Host>,
    resolvers: Vec<Host>,
    ntp: Vec<Host>,
    ipv6_share: f64,
    wan_down: f64,
    wan_up: f64,
    web_search: PiecewiseCdf,
    data_mining: PiecewiseCdf,
}

fn ns(secs: f64) -> u64 {
    (secs * 1e9).max(0.0) as u64
}

/// Choose a stack: Android/Linux, Windows, Apple with the given weights.
fn pick_stack(rng: &mut Rng, w: [f64; 3]) -> Stack {
    [LINUX, WINDOWS, APPLE][rng.weighted(&w)]
}

/// TTL of a remote host's packets at the capture point: initial 64 (Linux), 128 (Windows)
/// or 255 (network gear) minus 6–20 hops.
fn remote_ttl(rng: &mut Rng) -> u8 {
    let init = [64u8, 128, 255][rng.weighted(&[0.8, 0.15, 0.05])];
    init - rng.range(6, 20) as u8
}

/// An IPv6 interface identifier (random, as privacy addresses are).
fn iid(rng: &mut Rng) -> u128 {
    u128::from(rng.next_u64() | 1)
}

/// A server stack: Linux, 20 % without timestamps (e.g. some CDN edges).
fn server_stack(rng: &mut Rng) -> Stack {
    if rng.chance(0.2) {
        Stack {
            ts: false,
            syn_win: 64240,
            ..LINUX_SERVER
        }
    } else {
        LINUX_SERVER
    }
}

/// 198.18.0.0/15 (RFC 2544 benchmarking range) address number `i`, skipping .0 and .255.
fn bench_v4(i: u32) -> u32 {
    let i = i % (512 * 254);
    0xc612_0000 | ((i / 254) << 8) | (i % 254 + 1)
}

impl Model {
    /// Builds the model of `profile` and its sources.
    pub fn new(
        profile: Profile,
        seed: u64,
        ipv6_share: f64,
        rate_scale: f64,
    ) -> (Model, Vec<Source>) {
        let mut rng = Rng::stream(seed, &format!("{}/hosts", profile.name()));
        let web_search = PiecewiseCdf::new(&WEB_SEARCH_CDF).expect("static CDF is valid");
        let data_mining = PiecewiseCdf::new(&DATA_MINING_CDF).expect("static CDF is valid");
        let mut m = Model {
            profile,
            clients: Vec::new(),
            servers: Vec::new(),
            zipf: Zipf::new(1, 1.0),
            internal: Vec::new(),
            resolvers: Vec::new(),
            ntp: Vec::new(),
            ipv6_share,
            wan_down: 1e9,
            wan_up: 1e9,
            web_search,
            data_mining,
        };
        let src = |arrival: Arrival, kind: Kind, name: &str| Source {
            arrival,
            kind,
            rng: Rng::stream(seed, &format!("{}/{name}", profile.name())),
            on_until: 0,
        };
        let poisson = |rate: f64| Arrival::Poisson {
            rate: rate * rate_scale,
        };
        let mut sources = Vec::new();
        match profile {
            Profile::HomeRouter => {
                // Tens of clients (brief); OS mix roughly Android/Linux 35 %, Windows 25 %,
                // Apple 40 %. 70 % on Wi-Fi (median 1.5 ms one way, 100–600 Mbit/s), the rest
                // wired (0.2 ms, 1 Gbit/s).
                let n = rng.range(20, 48) as usize;
                for i in 0..n {
                    let st = pick_stack(&mut rng, [0.35, 0.25, 0.40]);
                    let wifi = rng.chance(0.7);
                    let (d, link) = if wifi {
                        (1.5e6, rng.uniform(100e6, 600e6))
                    } else {
                        (0.2e6, 1e9)
                    };
                    let v4 = 0xc0a8_0100 | (100 + i as u32); // 192.168.1.100+
                    let v6 = 0x2001_0db8_1234_5600_0000_0000_0000_0000 | iid(&mut rng);
                    let h = Host::new(&mut rng, v4, v6, st, d, st.ttl, true, link);
                    m.clients.push(h);
                }
                // Internet servers: 400 with Zipf(1) popularity (a few CDNs carry most), one
                // way 12 ms median (σ 0.6, 1–150 ms).
                m.add_remote_servers(&mut rng, 400, 12e6, 0.6, 1.0);
                m.add_resolvers(&mut rng);
                // Access link: 300/40 Mbit/s (a typical cable/fibre plan).
                m.wan_down = 300e6;
                m.wan_up = 40e6;
                // Flow sources for the household (rates are per home, not per client): page
                // loads by the people browsing, background API calls of apps and devices,
                // stand-alone DNS lookups, periodic NTP, push channels, the odd ping and call.
                sources.push(src(poisson(0.5), Kind::PageLoad, "pageload"));
                sources.push(src(poisson(2.0), Kind::Api, "api"));
                sources.push(src(poisson(1.0 / 120.0), Kind::Video, "video"));
                for (k, at) in [0.2, 1.7].into_iter().enumerate() {
                    sources.push(src(
                        Arrival::Once { at },
                        Kind::Video,
                        &format!("video0/{k}"),
                    ));
                }
                sources.push(src(poisson(1.0 / 300.0), Kind::Bulk, "bulk"));
                sources.push(src(Arrival::Once { at: 4.5 }, Kind::Bulk, "bulk0"));
                sources.push(src(poisson(3.0), Kind::Dns, "dns"));
                sources.push(src(poisson(1.0 / 30.0), Kind::Ntp, "ntp"));
                sources.push(src(poisson(0.1), Kind::Keepalive, "keepalive"));
                for k in 0..n {
                    let at = 0.1 + 9.0 * k as f64 / n as f64;
                    sources.push(src(
                        Arrival::Once { at },
                        Kind::Keepalive,
                        &format!("ka0/{k}"),
                    ));
                }
                sources.push(src(poisson(1.0 / 60.0), Kind::Ping, "ping"));
                sources.push(src(poisson(1.0 / 900.0), Kind::Call, "call"));
                sources.push(src(Arrival::Once { at: 3.0 }, Kind::Call, "call0"));
            }
            Profile::Enterprise => {
                // Thousands of hosts (2,500–3,500) in 10.20.0.0/16; desktop mix Windows 70 %,
                // Linux 15 %, Apple 15 %; switched LAN, 0.3 ms, 1 Gbit/s.
                let n = rng.range(2500, 3500) as usize;
                for i in 0..n as u32 {
                    let st = pick_stack(&mut rng, [0.15, 0.70, 0.15]);
                    let v4 = 0x0a14_0000 | ((i / 250) << 8) | (i % 250 + 2);
                    let v6 = 0x2001_0db8_0020_0000_0000_0000_0000_0000
                        | (u128::from(i / 250) << 64)
                        | iid(&mut rng);
                    let h = Host::new(&mut rng, v4, v6, st, 0.3e6, st.ttl, true, 1e9);
                    m.clients.push(h);
                }
                // Internal servers (data centre VLAN behind the same router): 60 hosts.
                for i in 0..60u32 {
                    let st = if i % 3 == 0 { WINDOWS } else { LINUX_SERVER };
                    let v4 = 0x0a01_0000 | (10 + i);
                    let v6 = 0x2001_0db8_0001_0000_0000_0000_0000_0000 | u128::from(10 + i);
                    let h = Host::new(&mut rng, v4, v6, st, 0.2e6, st.ttl, true, 10e9);
                    m.internal.push(h);
                }
                m.add_remote_servers(&mut rng, 3000, 25e6, 0.7, 0.9);
                m.add_resolvers(&mut rng);
                // Campus uplink figures: 1,810 new flows/s (§5.3). A session here is one
                // bidirectional flow, i.e. about two NetFlow (unidirectional) flows.
                sources.push(src(poisson(900.0), Kind::Session, "session"));
                sources.push(src(
                    Arrival::OnOff {
                        rate: 300.0 * rate_scale,
                        on: 5.0,
                        off: 40.0,
                        first: 0.5,
                    },
                    Kind::Scan(ScanState::default()),
                    "scan",
                ));
                sources.push(src(poisson(5.0), Kind::Ping, "ping"));
                // Traceroutes (network staff, monitoring): 2/s, the first right at the start.
                sources.push(src(poisson(2.0), Kind::Traceroute, "traceroute"));
                sources.push(src(
                    Arrival::Once { at: 0.01 },
                    Kind::Traceroute,
                    "traceroute0",
                ));
                sources.push(src(poisson(2.0), Kind::Ntp, "ntp"));
                sources.push(src(poisson(1.0 / 20.0), Kind::Video, "video"));
                sources.push(src(poisson(1.0 / 60.0), Kind::Bulk, "bulk"));
            }
            Profile::Datacenter => {
                // 64 racks × 40 hosts in 10.0.0.0/8 (10.<10+rack>.0.<10+host>), Linux,
                // 25 Gbit/s NICs, 5–30 µs one way to the capture point (one or two switch
                // hops at ~1–5 µs each plus host stack).
                for rack in 0..64u32 {
                    for h in 0..40u32 {
                        let st = Stack {
                            rwnd_max: 6 << 20,
                            ..LINUX
                        };
                        let v4 = 0x0a00_0000 | ((10 + rack) << 16) | (10 + h);
                        let v6 = 0x2001_0db8_00dc_0000_0000_0000_0000_0000
                            | (u128::from(rack) << 64)
                            | u128::from(10 + h);
                        let d = rng.log_uniform(5e3, 30e3);
                        let host = Host::new(&mut rng, v4, v6, st, d, 64, true, 25e9);
                        m.clients.push(host);
                    }
                }
                // 3,000 new flows/s across the fabric seen by the capture point.
                sources.push(src(poisson(3000.0), Kind::DcFlow, "flow"));
            }
            Profile::Synflood => {
                // Two public servers on the LAN side; legitimate clients and the attacker are
                // beyond the upstream.
                for i in 0..2u32 {
                    let v4 = 0xcb00_710a + i; // 203.0.113.10, .11
                    let v6 = 0x2001_0db8_0000_0000_0000_0000_0000_0010 | u128::from(i);
                    let h = Host::new(&mut rng, v4, v6, LINUX_SERVER, 0.1e6, 64, true, 10e9);
                    m.internal.push(h);
                }
                for i in 0..500u32 {
                    let st = pick_stack(&mut rng, [0.35, 0.25, 0.40]);
                    let v4 = if i < 250 {
                        0xc633_6400 | (i + 2) // 198.51.100.0/24
                    } else {
                        0xc000_0200 | (i - 250 + 2) // 192.0.2.0/24
                    };
                    let v6 = 0x2001_0db8_c000_0000_0000_0000_0000_0000
                        | (u128::from(i) << 64)
                        | iid(&mut rng);
                    let d = rng.lognormal_median(20e6, 0.6).clamp(1e6, 200e6);
                    let ttl = st.ttl - rng.range(6, 20) as u8;
                    let h = Host::new(&mut rng, v4, v6, st, d, ttl, false, 100e6);
                    m.clients.push(h);
                }
                // 100,000 spoofed SYN/s from 0.2 s on (a modest flood; rate_scale scales it).
                sources.push(src(
                    Arrival::OnOff {
                        rate: 100_000.0 * rate_scale,
                        on: 1e9,
                        off: 1.0,
                        first: 0.2,
                    },
                    Kind::Flood,
                    "flood",
                ));
                sources.push(src(poisson(200.0), Kind::FloodLegit, "legit"));
            }
            Profile::Imix => {
                for i in 0..50u32 {
                    let v4 = 0xc0a8_0100 | (100 + i);
                    let h = Host::new(&mut rng, v4, 0, LINUX, 0.2e6, 64, true, 1e9);
                    m.clients.push(h);
                }
                m.add_remote_servers(&mut rng, 200, 10e6, 0.5, 1.0);
                sources.push(src(poisson(50.0), Kind::Imix, "imix"));
            }
        }
        (m, sources)
    }

    fn add_remote_servers(&mut self, rng: &mut Rng, n: usize, median: f64, sigma: f64, s: f64) {
        for i in 0..n as u32 {
            // 203.0.113.0/24 and 198.51.100.0/24 (documentation) first, then 198.18.0.0/15.
            let v4 = if i < 250 {
                0xcb00_7100 | (i + 2)
            } else if i < 500 {
                0xc633_6400 | (i - 250 + 2)
            } else {
                bench_v4(i - 500)
            };
            let v6 = 0x2001_0db8_f000_0000_0000_0000_0000_0000 | (u128::from(i) << 32) | 1;
            let st = server_stack(rng);
            let d = rng.lognormal_median(median, sigma).clamp(1e6, 150e6);
            let ttl = remote_ttl(rng);
            let h = Host::new(rng, v4, v6, st, d, ttl, false, 10e9);
            self.servers.push(h);
        }
        self.zipf = Zipf::new(n, s);
    }

    fn add_resolvers(&mut self, rng: &mut Rng) {
        // Recursive resolvers and NTP servers of the ISP / enterprise (beyond the router).
        for (v4, v6) in [
            (
                0xc633_6435u32,
                0x2001_0db8_0053_0000_0000_0000_0000_0001u128,
            ), // 198.51.100.53
            (0xc633_6436, 0x2001_0db8_0053_0000_0000_0000_0000_0002),
        ] {
            let d = rng.lognormal_median(5e6, 0.3);
            let ttl = remote_ttl(rng);
            self.resolvers
                .push(Host::new(rng, v4, v6, LINUX_SERVER, d, ttl, false, 10e9));
        }
        for (v4, v6) in [
            (
                0xc633_647bu32,
                0x2001_0db8_0123_0000_0000_0000_0000_0001u128,
            ), // 198.51.100.123
            (0xcb00_717b, 0x2001_0db8_0123_0000_0000_0000_0000_0002), // 203.0.113.123
        ] {
            let d = rng.lognormal_median(15e6, 0.5);
            let ttl = remote_ttl(rng);
            self.ntp
                .push(Host::new(rng, v4, v6, LINUX_SERVER, d, ttl, false, 10e9));
        }
    }

    /// A pair between client `c` (with a fresh port) and `server` at `port`.
    fn pair(&mut self, rng: &mut Rng, c: usize, server: Srv, port: u16, v6: bool) -> Pair {
        let cport = self.clients[c].port();
        self.pair_with_port(rng, c, cport, server, port, v6)
    }

    fn pair_with_port(
        &mut self,
        rng: &mut Rng,
        c: usize,
        cport: u16,
        server: Srv,
        port: u16,
        v6: bool,
    ) -> Pair {
        let ch = &self.clients[c];
        let dc = (ch.delay * rng.lognormal(0.0, 0.2)) as u64;
        let a = ch.ep(v6, cport, dc.max(1_000));
        let sh = self.srv(server);
        let ds = (sh.delay * rng.lognormal(0.0, 0.15)) as u64;
        let b = sh.ep(v6, port, ds.max(1_000));
        let df = self.clients[c].stack.udp_df;
        Pair {
            v6,
            ep: [a, b],
            ip_id: [rng.next_u32() as u16, rng.next_u32() as u16],
            flow_label: [
                (rng.next_u32() & 0xf_ffff).max(1),
                (rng.next_u32() & 0xf_ffff).max(1),
            ],
            df,
        }
    }

    fn srv(&self, s: Srv) -> &Host {
        match s {
            Srv::Remote(i) => &self.servers[i],
            Srv::Internal(i) => &self.internal[i],
            Srv::Resolver(i) => &self.resolvers[i],
            Srv::Ntp(i) => &self.ntp[i],
            Srv::Client(i) => &self.clients[i],
        }
    }

    fn v6(&self, rng: &mut Rng) -> bool {
        rng.chance(self.ipv6_share)
    }

    fn remote(&self, rng: &mut Rng) -> Srv {
        Srv::Remote(self.zipf.sample(rng))
    }

    /// A TCP/QUIC conversation spec between a client and a server host.
    #[allow(clippy::too_many_arguments)]
    fn conv(
        &mut self,
        rng: &mut Rng,
        c: usize,
        s: Srv,
        port: u16,
        v6: bool,
        quic: bool,
        app: App,
        close: Close,
        rate_down: f64,
        rate_up: f64,
        start: u64,
    ) -> NewFlow {
        let mut pair = self.pair(rng, c, s, port, v6);
        if quic {
            pair.df = true;
        }
        let cs = self.clients[c].stack;
        let ss = self.srv(s).stack;
        let mss = if v6 { 1440 } else { 1460 };
        let (down_line, up_line) = self.lines(c, s);
        let spec = ConvSpec {
            pair,
            stacks: [cs, ss],
            mss: [mss, mss],
            setup: if quic { Setup::Quic } else { Setup::Normal },
            app,
            close,
            line_bps: [up_line, down_line],
            rate_bps: [rate_up.min(up_line), rate_down.min(down_line)],
            start,
            syn_opts: None,
        };
        NewFlow::Conv(Box::new(spec), rng.fork())
    }

    /// Bottleneck rates (server→client, client→server).
    fn lines(&self, c: usize, s: Srv) -> (f64, f64) {
        let cl = self.clients[c].link_bps;
        let sl = self.srv(s).link_bps;
        let remote = !self.srv(s).lan;
        if remote {
            (cl.min(self.wan_down).min(sl), cl.min(self.wan_up).min(sl))
        } else {
            (cl.min(sl), cl.min(sl))
        }
    }

    fn client(&self, rng: &mut Rng) -> usize {
        rng.below(self.clients.len() as u64) as usize
    }

    /// Close policy of a web-like connection.
    fn web_close(rng: &mut Rng, idle_median_s: f64) -> Close {
        let kind = match rng.weighted(&[0.5, 0.3, 0.1, 0.1]) {
            0 => CloseKind::Fin {
                by: 0,
                separate: rng.chance(0.3),
            },
            1 => CloseKind::Fin {
                by: 1,
                separate: rng.chance(0.3),
            },
            2 => CloseKind::Rst { by: 0 },
            _ => CloseKind::Never,
        };
        Close {
            kind,
            idle: ns(rng.lognormal_median(idle_median_s, 1.0).min(300.0)),
        }
    }

    fn dns_flow(&mut self, rng: &mut Rng, c: usize, v6: bool, start: u64, qtype: u16) -> NewFlow {
        let r = rng.below(self.resolvers.len() as u64) as usize;
        let pair = self.pair(rng, c, Srv::Resolver(r), 53, v6);
        NewFlow::Rr {
            pair,
            app: UdpApp::Dns {
                qtype,
                name: rng.below(48_000) as u32,
            },
            queries: 1,
            answer_p: 0.99,
            gap: 1e9,
            start,
            rng: rng.fork(),
        }
    }

    /// Starts the flows of one arrival of `kind` at time `t` (ns).
    pub fn spawn(&mut self, kind: &mut Kind, rng: &mut Rng, t: u64, out: &mut Vec<NewFlow>) {
        match kind {
            Kind::PageLoad => self.page_load(rng, t, out),
            Kind::Api => {
                let c = self.client(rng);
                let v6 = self.v6(rng);
                let s = self.remote(rng);
                let app = App::Web {
                    tls: true,
                    left: rng.range(1, 3) as u32,
                    resp_median: 2_000.0,
                    resp_sigma: 1.0,
                    think_mean: 1e9,
                    stage: 0,
                };
                let close = Model::web_close(rng, 20.0);
                let (down, up) = self.lines(c, s);
                out.push(self.conv(rng, c, s, 443, v6, false, app, close, down, up, t));
            }
            Kind::Video => {
                // Adaptive streaming: 2–8 Mbit/s ("a few Mbit/s"; Netflix recommends 5 Mbit/s
                // for HD), 4 s segments (DASH/HLS practice: 2–6 s), sessions of ~10 min.
                let c = self.client(rng);
                let v6 = self.v6(rng);
                let s = Srv::Remote(rng.below(8) as usize); // the big CDNs
                let bitrate = rng.log_uniform(2e6, 8e6);
                let period = rng.uniform(2.0, 6.0);
                let dur = rng.lognormal_median(600.0, 0.8).min(7200.0);
                let app = App::Video {
                    left: (dur / period).ceil() as u32,
                    chunk: (bitrate * period / 8.0) as u64,
                    period: ns(period),
                    next_req: 0,
                    stage: 0,
                };
                let quic = rng.chance(0.4);
                let close = Close {
                    kind: if rng.chance(0.7) {
                        CloseKind::Fin {
                            by: 0,
                            separate: false,
                        }
                    } else {
                        CloseKind::Never
                    },
                    idle: ns(rng.uniform(1.0, 30.0)),
                };
                let (down, up) = self.lines(c, s);
                let share = rng.uniform(0.3, 1.0);
                out.push(self.conv(rng, c, s, 443, v6, quic, app, close, down * share, up, t));
            }
            Kind::Bulk => {
                // Software/game downloads: log-normal, median 300 MB, capped 8 GB; 10 %
                // uploads (backups), getting 10–40 % of the access link.
                let c = self.client(rng);
                let v6 = self.v6(rng);
                let s = self.remote(rng);
                let size = rng.lognormal_median(300e6, 1.0).clamp(10e6, 8e9) as u64;
                let upload = rng.chance(0.1);
                let app = App::Rpc {
                    tls: true,
                    req: if upload { size } else { 400 },
                    resp: if upload { 300 } else { size },
                    stage: 0,
                };
                let close = Close {
                    kind: CloseKind::Fin {
                        by: 0,
                        separate: false,
                    },
                    idle: ns(rng.uniform(0.05, 2.0)),
                };
                let (down, up) = self.lines(c, s);
                let share = rng.uniform(0.1, 0.4);
                let port = if rng.chance(0.8) { 443 } else { 80 };
                out.push(self.conv(
                    rng,
                    c,
                    s,
                    port,
                    v6,
                    false,
                    app,
                    close,
                    down * share,
                    up * share,
                    t,
                ));
            }
            Kind::Dns => {
                let c = self.client(rng);
                let v6 = self.v6(rng);
                let qtype = [1u16, 28, 65][rng.weighted(&[0.6, 0.3, 0.1])];
                out.push(self.dns_flow(rng, c, v6, t, qtype));
            }
            Kind::Ntp => {
                let c = self.client(rng);
                let v6 = self.v6(rng);
                let n = rng.below(self.ntp.len() as u64) as usize;
                let pair = self.pair(rng, c, Srv::Ntp(n), 123, v6);
                out.push(NewFlow::Rr {
                    pair,
                    app: UdpApp::Ntp,
                    queries: 1,
                    answer_p: 0.98,
                    gap: 1e9,
                    start: t,
                    rng: rng.fork(),
                });
            }
            Kind::Keepalive => {
                // Push channels / IoT: TLS to 443, 5223 (APNs), 5228 (FCM) or 8883 (MQTT/TLS);
                // a small message every ~30 s; most never close within a capture.
                let c = self.client(rng);
                let v6 = self.v6(rng);
                let s = self.remote(rng);
                let port = [443u16, 5223, 5228, 8883][rng.below(4) as usize];
                let app = App::Keepalive {
                    left: rng.range(1, 40) as u32,
                    interval_mean: 30e9,
                    stage: 0,
                };
                let close = Close {
                    kind: if rng.chance(0.7) {
                        CloseKind::Never
                    } else {
                        CloseKind::Fin {
                            by: 1,
                            separate: false,
                        }
                    },
                    idle: ns(rng.uniform(1.0, 60.0)),
                };
                let (down, up) = self.lines(c, s);
                out.push(self.conv(rng, c, s, port, v6, false, app, close, down, up, t));
            }
            Kind::Ping => {
                let c = self.client(rng);
                let v6 = self.v6(rng);
                let internal = !self.internal.is_empty() && rng.chance(0.7);
                let s = if internal {
                    Srv::Internal(rng.below(self.internal.len() as u64) as usize)
                } else {
                    self.remote(rng)
                };
                let id = rng.next_u32() as u16;
                let pair = self.pair_with_port(rng, c, id, s, 0, v6);
                let count = if self.profile == Profile::Enterprise {
                    rng.range(1, 3) as u16
                } else {
                    rng.range(4, 10) as u16
                };
                out.push(NewFlow::Echo {
                    pair,
                    count,
                    interval: 1_000_000_000,
                    alive: rng.chance(0.95),
                    payload: 56, // ping's default data size
                    start: t,
                    rng: rng.fork(),
                });
            }
            Kind::Call => {
                // A voice call: RTP every 20 ms each way (G.711/Opus), 160–220 B payloads.
                let c = self.client(rng);
                let v6 = self.v6(rng);
                let s = self.remote(rng);
                let port = rng.range(16384, 32767) as u16;
                let pair = self.pair(rng, c, s, port, v6);
                let dur = rng.lognormal_median(180.0, 0.8).min(3600.0);
                out.push(NewFlow::Stream {
                    pair,
                    start: t,
                    end: t + ns(dur),
                    interval: [20e6, 20e6],
                    size: [SizeDist::Uniform(160, 220); 2],
                    poisson: false,
                    rng: rng.fork(),
                });
            }
            Kind::Session => self.session(rng, t, out),
            Kind::Scan(st) => self.scan(st, rng, t, out),
            Kind::Traceroute => {
                let c = self.client(rng);
                let v6 = self.v6(rng);
                let s = self.remote(rng);
                let pair = self.pair(rng, c, s, 33434, v6);
                let hops = rng.range(6, 16) as u8;
                let hop_base = if v6 {
                    0x2001_0db8_ffff_0000_0000_0000_0000_0000
                } else {
                    0xcb00_7180 // 203.0.113.128 + hop
                };
                out.push(NewFlow::Trace {
                    pair,
                    hops,
                    hop_base,
                    start: t,
                    rng: rng.fork(),
                });
            }
            Kind::DcFlow => self.dc_flow(rng, t, out),
            Kind::Flood => self.flood(rng, t, out),
            Kind::FloodLegit => {
                let c = self.client(rng);
                let v6 = self.v6(rng);
                let s = Srv::Internal(rng.below(self.internal.len() as u64) as usize);
                let port = if rng.chance(0.8) { 443 } else { 80 };
                let app = App::Web {
                    tls: port == 443,
                    left: rng.range(1, 4) as u32,
                    resp_median: 20_000.0,
                    resp_sigma: 1.2,
                    think_mean: 0.5e9,
                    stage: 0,
                };
                let close = Model::web_close(rng, 2.0);
                let (down, up) = self.lines(c, s);
                // The client is the remote side here: its link is the bottleneck both ways.
                out.push(self.conv(rng, c, s, port, v6, false, app, close, up, down, t));
            }
            Kind::Imix => {
                let c = self.client(rng);
                let s = self.remote(rng);
                let port = rng.range(1024, 65000) as u16;
                let pair = self.pair(rng, c, s, port, false);
                let pps = rng.log_uniform(100.0, 2000.0);
                let dur = rng.uniform(0.2, 2.0);
                out.push(NewFlow::Stream {
                    pair,
                    start: t,
                    end: t + ns(dur),
                    interval: [1e9 / pps, 2e9 / pps],
                    size: [SizeDist::Imix; 2],
                    poisson: true,
                    rng: rng.fork(),
                });
            }
        }
    }

    /// A home page load: DNS lookups for the page's hosts, then connections to them (HTTP/2
    /// or HTTP/3; browsers open a handful of connections per page).
    fn page_load(&mut self, rng: &mut Rng, t: u64, out: &mut Vec<NewFlow>) {
        let c = self.client(rng);
        let v6 = self.v6(rng);
        let names = 1 + rng.below(4) as u32;
        let mut dns_done = t;
        for k in 0..names {
            let st = t + u64::from(k) * rng.range(100_000, 3_000_000);
            let qtype = if v6 { 28 } else { 1 };
            out.push(self.dns_flow(rng, c, v6, st, qtype));
            dns_done = dns_done.max(st + 2 * 5_000_000);
        }
        let conns = (1 + rng.exp(4.0) as u64).min(20);
        for _ in 0..conns {
            let s = self.remote(rng);
            let quic = rng.chance(0.35);
            let port = if quic || rng.chance(0.9) { 443 } else { 80 };
            let app = App::Web {
                tls: port == 443,
                left: 1 + rng.exp(2.0) as u32,
                // Web objects: log-normal, median 12 kB, σ 1.6 (mean ~43 kB, a heavy tail
                // into the MB range).
                resp_median: 12_000.0,
                resp_sigma: 1.6,
                think_mean: 2e9,
                stage: 0,
            };
            let close = Model::web_close(rng, 8.0);
            let (down, up) = self.lines(c, s);
            let st = dns_done + rng.range(1_000_000, 300_000_000);
            out.push(self.conv(rng, c, s, port, v6, quic, app, close, down, up, st));
        }
    }

    /// An enterprise session whose larger direction has a packet count drawn from the AGH
    /// fit ([`agh_flow_packets`]).
    fn session(&mut self, rng: &mut Rng, t: u64, out: &mut Vec<NewFlow>) {
        let n = agh_flow_packets(rng);
        let c = self.client(rng);
        let v6 = self.v6(rng);
        let internal = rng.chance(0.3);
        let s = if internal {
            Srv::Internal(rng.below(self.internal.len() as u64) as usize)
        } else {
            self.remote(rng)
        };
        if n == 1 {
            match rng.weighted(&[0.40, 0.10, 0.10, 0.12, 0.10, 0.10, 0.08]) {
                0 => {
                    let qtype = [1u16, 28, 65][rng.weighted(&[0.6, 0.3, 0.1])];
                    out.push(self.dns_flow(rng, c, v6, t, qtype));
                }
                1 => {
                    // Unanswered datagram (SSDP/NetBIOS/P2P probe to a silent peer).
                    let port = [137u16, 1900, 6881, 5060][rng.below(4) as usize];
                    let pair = self.pair(rng, c, s, port, v6);
                    out.push(NewFlow::Rr {
                        pair,
                        app: UdpApp::Generic { req: 50, resp: 0 },
                        queries: 1,
                        answer_p: 0.0,
                        gap: 1e9,
                        start: t,
                        rng: rng.fork(),
                    });
                }
                2 => {
                    let port = rng.range(1024, 65000) as u16;
                    let pair = self.pair(rng, c, s, port, v6);
                    out.push(NewFlow::Rr {
                        pair,
                        app: UdpApp::Closed {
                            len: rng.range(20, 200) as u16,
                        },
                        queries: 1,
                        answer_p: 1.0,
                        gap: 1e9,
                        start: t,
                        rng: rng.fork(),
                    });
                }
                3 | 4 => {
                    let setup = if rng.chance(0.5) {
                        Setup::SynUnanswered { retries: 0 }
                    } else {
                        Setup::SynRst
                    };
                    let port = [443u16, 80, 445, 3389, 8080][rng.below(5) as usize];
                    let mut f = self.conv(
                        rng,
                        c,
                        s,
                        port,
                        v6,
                        false,
                        App::None,
                        Close {
                            kind: CloseKind::Never,
                            idle: 0,
                        },
                        1e9,
                        1e9,
                        t,
                    );
                    if let NewFlow::Conv(spec, _) = &mut f {
                        spec.setup = setup;
                    }
                    out.push(f);
                }
                5 => {
                    let id = rng.next_u32() as u16;
                    let pair = self.pair_with_port(rng, c, id, s, 0, v6);
                    out.push(NewFlow::Echo {
                        pair,
                        count: 1,
                        interval: 1_000_000_000,
                        alive: rng.chance(0.8),
                        payload: 32, // Windows ping's default data size
                        start: t,
                        rng: rng.fork(),
                    });
                }
                _ => {
                    let k = rng.below(self.ntp.len() as u64) as usize;
                    let pair = self.pair(rng, c, Srv::Ntp(k), 123, v6);
                    out.push(NewFlow::Rr {
                        pair,
                        app: UdpApp::Ntp,
                        queries: 1,
                        answer_p: 0.98,
                        gap: 1e9,
                        start: t,
                        rng: rng.fork(),
                    });
                }
            }
            return;
        }
        if n <= 3 {
            let k = n as u16;
            match rng.weighted(&[0.3, 0.4, 0.3]) {
                0 => {
                    let id = rng.next_u32() as u16;
                    let pair = self.pair_with_port(rng, c, id, s, 0, v6);
                    out.push(NewFlow::Echo {
                        pair,
                        count: k,
                        interval: 1_000_000_000,
                        alive: true,
                        payload: 32,
                        start: t,
                        rng: rng.fork(),
                    });
                }
                1 => {
                    // Syslog, StatsD, STUN and game-style exchanges. (Not SNMP/RADIUS: with
                    // zero payloads tshark/tcpdump would report them malformed.)
                    let port = [514u16, 8125, 3478, 27015][rng.below(4) as usize];
                    let pair = self.pair(rng, c, s, port, v6);
                    out.push(NewFlow::Rr {
                        pair,
                        app: UdpApp::Generic {
                            req: rng.range(40, 300) as u16,
                            resp: rng.range(40, 600) as u16,
                        },
                        queries: k,
                        answer_p: if port == 514 { 0.0 } else { 0.95 },
                        gap: 0.2e9,
                        start: t,
                        rng: rng.fork(),
                    });
                }
                _ => {
                    let r = rng.below(self.resolvers.len() as u64) as usize;
                    let pair = self.pair(rng, c, Srv::Resolver(r), 53, v6);
                    out.push(NewFlow::Rr {
                        pair,
                        app: UdpApp::Dns {
                            qtype: 1,
                            name: rng.below(48_000) as u32,
                        },
                        queries: k,
                        answer_p: 0.99,
                        gap: 0.05e9,
                        start: t,
                        rng: rng.fork(),
                    });
                }
            }
            return;
        }
        // TCP (90 %) or QUIC: the larger direction carries ~n packets: n - 3 data segments
        // plus SYN/SYN-ACK and FIN (80 % downloads, 20 % uploads).
        let quic = !internal && rng.chance(0.1);
        let mss = if v6 { 1428 } else { 1448 };
        let bytes = (n - 3).max(1) * mss - rng.below(mss / 2);
        let upload = rng.chance(0.2);
        let port = if internal {
            [445u16, 443, 80, 636, 1433, 3389][rng.below(6) as usize]
        } else if quic {
            443
        } else {
            [443u16, 443, 443, 80, 22, 993][rng.below(6) as usize]
        };
        let app = App::Rpc {
            tls: port == 443 || port == 993,
            req: if upload { bytes } else { rng.range(100, 1_500) },
            resp: if upload { rng.range(100, 1_000) } else { bytes },
            stage: 0,
        };
        let kind = match rng.weighted(&[0.85, 0.10, 0.05]) {
            0 => CloseKind::Fin {
                by: rng.below(2) as u8,
                separate: rng.chance(0.3),
            },
            1 => CloseKind::Rst {
                by: rng.below(2) as u8,
            },
            _ => CloseKind::Never,
        };
        let close = Close {
            kind,
            idle: ns(rng.lognormal_median(1.0, 1.0).min(120.0)),
        };
        let (down, up) = self.lines(c, s);
        // Per-flow rates: internal paths run at LAN speed; Internet flows get 2–100 Mbit/s
        // (log-uniform) of the shared uplink.
        let r = if internal {
            down
        } else {
            rng.log_uniform(2e6, 100e6)
        };
        out.push(self.conv(rng, c, s, port, v6, quic, app, close, r, r.min(up), t));
    }

    /// One port-scan probe; a burst's first probe picks the scanner and the pattern.
    fn scan(&mut self, st: &mut ScanState, rng: &mut Rng, t: u64, out: &mut Vec<NewFlow>) {
        // A vertical scan covers ports 1–1024 once; then (or by chance) a new scan begins.
        if st.counter == 0 || (!st.horizontal && st.counter >= 1024) || rng.chance(1.0 / 2_000.0) {
            // New scan: an internal host (inventory scanner or compromised machine) or an
            // outside scanner; horizontal (one port, many hosts) or vertical (one host, many
            // ports).
            st.external = rng.chance(0.5);
            st.scanner = self.client(rng);
            st.horizontal = rng.chance(0.6);
            st.port = [22u16, 23, 445, 3389, 80, 443, 8080, 5900][rng.below(8) as usize];
            st.target = self.client(rng);
            // nmap picks one random source port per scan and probes each port once.
            st.sport = rng.range(32768, 65000) as u16;
            st.port_base = rng.below(1024) as u16;
            st.counter = 1;
        }
        st.counter += 1;
        let v6 = false;
        let (target, port) = if st.horizontal {
            st.target = (st.target + 1) % (self.clients.len() + 64);
            (st.target, st.port)
        } else {
            (st.target, (st.port_base + st.counter as u16) % 1024 + 1)
        };
        // Targets past the host list do not exist: their SYNs go unanswered.
        let exists = target < self.clients.len();
        let setup = if !exists {
            Setup::SynUnanswered { retries: 0 }
        } else {
            match rng.weighted(&[0.85, 0.05, 0.10]) {
                0 => Setup::SynRst,
                1 => Setup::ScanOpen,
                _ => Setup::SynUnanswered { retries: 0 },
            }
        };
        let tgt = if exists {
            target
        } else {
            target % self.clients.len()
        };
        // The scanner is the "client"; the target the "server". An external scanner comes
        // from beyond the upstream.
        let (scanner_ep, d0) = if st.external {
            let h = &self.servers[st.scanner % self.servers.len()];
            (h.ep(v6, 0, 0), h.delay as u64)
        } else {
            let h = &self.clients[st.scanner];
            (h.ep(v6, 0, 0), h.delay as u64)
        };
        let th = &self.clients[tgt];
        let mut a = scanner_ep;
        // nmap: one source port per scan, window 1024, TTL 37–59 for raw SYNs.
        a.port = st.sport;
        a.delay = d0.max(1_000);
        if st.external {
            a.ttl = rng.range(37, 59) as u8;
        }
        let mut b = th.ep(v6, port, th.delay as u64);
        if !exists {
            // A non-existent address in the same subnet.
            b.addr = u128::from(0x0a14_f000u32 | (target as u32 & 0xff));
        }
        let pair = Pair {
            v6,
            ep: [a, b],
            ip_id: [rng.next_u32() as u16, rng.next_u32() as u16],
            flow_label: [1, 1],
            df: false,
        };
        let scan_stack = Stack {
            syn_win: 1024,
            ts: false,
            ..LINUX
        };
        let spec = ConvSpec {
            pair,
            stacks: [scan_stack, th.stack],
            mss: [1460, 1460],
            setup,
            app: App::None,
            close: Close {
                kind: CloseKind::Never,
                idle: 0,
            },
            line_bps: [1e9, 1e9],
            rate_bps: [1e9, 1e9],
            start: t,
            syn_opts: Some(TcpOpts::Mss(1460)),
        };
        out.push(NewFlow::Conv(Box::new(spec), rng.fork()));
    }

    /// A data-centre flow: a small request, then a response whose size is drawn from the
    /// web-search or the data-mining CDF (half each), full-size segments.
    fn dc_flow(&mut self, rng: &mut Rng, t: u64, out: &mut Vec<NewFlow>) {
        let n = self.clients.len();
        let c = rng.below(n as u64) as usize;
        let mut s = rng.below(n as u64 - 1) as usize;
        if s >= c {
            s += 1;
        }
        let v6 = self.v6(rng);
        let resp = if rng.chance(0.5) {
            self.web_search.sample(rng)
        } else {
            self.data_mining.sample(rng)
        } as u64;
        // Service ports: HTTP, HTTP/HTTPS-alt, gRPC, memcached, HDFS, object stores. (No
        // Redis, MySQL or Kafka ports: tcpdump/Wireshark decode those and flag the zero
        // payloads as malformed.)
        let port = [80u16, 8080, 50051, 11211, 8443, 9000, 9866, 8000][rng.below(8) as usize];
        let app = App::Rpc {
            tls: false,
            req: rng.range(100, 400),
            resp: resp.max(1),
            stage: 0,
        };
        // Connections stay open a while after the transfer (client connection pools) before
        // the client closes them: log-normal idle, median 0.5 s.
        let close = Close {
            kind: match rng.weighted(&[0.9, 0.05, 0.05]) {
                0 => CloseKind::Fin {
                    by: 0,
                    separate: false,
                },
                1 => CloseKind::Rst { by: 0 },
                _ => CloseKind::Never,
            },
            idle: ns(rng.lognormal_median(0.5, 1.0).min(30.0)),
        };
        // Per-flow rate: with these heavy-tailed sizes the offered load is arrivals × mean
        // size (≈ 7.2 MB), so many concurrent flows imply modest per-flow rates: application-
        // limited RPC streams and fair shares of loaded links, log-uniform 2–200 Mbit/s.
        // Slow start still sends the first windows back to back at the 25 Gbit/s line rate.
        let rate = rng.log_uniform(2e6, 200e6);
        out.push(self.conv(
            rng,
            c,
            Srv::Client(s),
            port,
            v6,
            false,
            app,
            close,
            rate,
            rate,
            t,
        ));
    }

    /// One spoofed SYN against a flooded server.
    fn flood(&mut self, rng: &mut Rng, t: u64, out: &mut Vec<NewFlow>) {
        let v6 = self.v6(rng);
        let si = rng.below(self.internal.len() as u64) as usize;
        let server = &self.internal[si];
        let port = if rng.chance(0.5) { 80 } else { 443 };
        let src: u128 = if v6 {
            0x2001_0db8_0bad_0000_0000_0000_0000_0000 | u128::from(rng.next_u64())
        } else {
            // 198.18.0.0/15: 131,072 spoofed sources.
            u128::from(0xc612_0000u32 | rng.below(1 << 17) as u32)
        };
        let a = Ep {
            addr: src,
            mac: UPSTREAM_MAC,
            gw_mac: ROUTER_WAN_MAC,
            port: rng.range(1024, 65535) as u16,
            ttl: rng.range(32, 250) as u8,
            delay: rng.range(5_000_000, 100_000_000),
        };
        let b = server.ep(v6, port, server.delay as u64);
        let pair = Pair {
            v6,
            ep: [a, b],
            ip_id: [rng.next_u32() as u16, rng.next_u32() as u16],
            flow_label: [(rng.next_u32() & 0xf_ffff).max(1), 1],
            df: false,
        };
        // Flood tools send bare SYNs (hping3: window 512, no options) or SYNs with an MSS.
        let (opts, win) = if rng.chance(0.5) {
            (TcpOpts::None, 512)
        } else {
            (TcpOpts::Mss(1460), 64240)
        };
        // 20 % of SYNs get a SYN-ACK (the rest are dropped once the backlog is full or
        // answered only by cookies later); a fifth of those are retransmitted once.
        let setup = if rng.chance(0.2) {
            Setup::SynAckNoAck {
                retries: u8::from(rng.chance(0.2)),
            }
        } else {
            Setup::SynUnanswered { retries: 0 }
        };
        let spec = ConvSpec {
            pair,
            stacks: [
                Stack {
                    syn_win: win,
                    ts: false,
                    ..LINUX
                },
                server.stack,
            ],
            mss: [1460, 1460],
            setup,
            app: App::None,
            close: Close {
                kind: CloseKind::Never,
                idle: 0,
            },
            line_bps: [1e9, 1e9],
            rate_bps: [1e9, 1e9],
            start: t,
            syn_opts: Some(opts),
        };
        out.push(NewFlow::Conv(Box::new(spec), rng.fork()));
    }
}

/// Which host plays the server.
#[derive(Clone, Copy, Debug)]
enum Srv {
    Remote(usize),
    Internal(usize),
    Resolver(usize),
    Ntp(usize),
    Client(usize),
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn names_round_trip() {
        for p in Profile::ALL {
            assert_eq!(p.name().parse::<Profile>().unwrap(), p);
        }
        let e = "home".parse::<Profile>().unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("home-router") && msg.contains("synflood"),
            "{msg}"
        );
    }

    #[test]
    fn agh_fit_matches_anchors() {
        let mut rng = Rng::seed_from_u64(11);
        let n = 2_000_000;
        let mut v: Vec<u64> = (0..n).map(|_| agh_flow_packets(&mut rng)).collect();
        v.sort_unstable();
        let total: u64 = v.iter().sum();
        let singles = v.iter().filter(|&&x| x == 1).count() as f64 / n as f64;
        assert!((singles - 0.447).abs() < 0.005, "{singles}");
        let le16 = v.iter().filter(|&&x| x <= 16).count() as f64 / n as f64;
        assert!((le16 - 0.90).abs() < 0.02, "{le16}");
        // Top 1 % of flows carry ~91 % of packets.
        let top: u64 = v[n - n / 100..].iter().sum();
        let share = top as f64 / total as f64;
        assert!((0.85..0.95).contains(&share), "{share}");
        // The mean is heavy-tail dominated; allow a wide band around 104.
        let mean = total as f64 / n as f64;
        assert!((70.0..140.0).contains(&mean), "{mean}");
        let ge30 = v.iter().filter(|&&x| x >= 30).count() as f64 / n as f64;
        assert!((ge30 - 0.065).abs() < 0.01, "{ge30}");
    }

    #[test]
    fn cdfs_are_valid_and_have_documented_means() {
        let ws = PiecewiseCdf::new(&WEB_SEARCH_CDF).unwrap();
        let dm = PiecewiseCdf::new(&DATA_MINING_CDF).unwrap();
        // §5.2: web search mean about 1.7 MB, data mining about 12.7 MB with linear
        // interpolation.
        assert!((ws.mean() / 1.7e6 - 1.0).abs() < 0.05, "{}", ws.mean());
        assert!((dm.mean() / 12.7e6 - 1.0).abs() < 0.05, "{}", dm.mean());
    }

    #[test]
    fn bench_range_addresses() {
        assert_eq!(bench_v4(0), 0xc612_0001);
        assert_eq!(bench_v4(253), 0xc612_00fe);
        assert_eq!(bench_v4(254), 0xc612_0101);
    }
}
