//! Traffic profiles: host populations, flow sources (arrival processes) and the parameters of
//! the flows they start. Every number has its basis in a comment; figures marked "§5.x" come
//! from `shared/reference/anchors.md`.

use std::str::FromStr;

use super::GenError;
use super::conv::{App, Close, CloseKind, ConvSpec, Setup};
use super::pair::Pair;
use super::rng::{PiecewiseCdf, Rng, Zipf};
use super::simple::{SizeDist, UdpApp};
use hosts::Host;

mod flows;
mod hosts;

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
    /// Short TCP connections at a set rate (a connections-per-second load): LAN clients
    /// open a connection to a server behind the WAN, send one request, get a small
    /// response, hold the connection idle and close it (see [`super::ConnLoad`]).
    Connections,
}

impl Profile {
    /// Every profile, in the order help texts list them.
    pub const ALL: [Profile; 6] = [
        Profile::HomeRouter,
        Profile::Enterprise,
        Profile::Datacenter,
        Profile::Synflood,
        Profile::Imix,
        Profile::Connections,
    ];

    /// The command-line name.
    pub fn name(self) -> &'static str {
        match self {
            Profile::HomeRouter => "home-router",
            Profile::Enterprise => "enterprise",
            Profile::Datacenter => "datacenter",
            Profile::Synflood => "synflood",
            Profile::Imix => "imix",
            Profile::Connections => "connections",
        }
    }

    /// The names of all profiles, comma-separated.
    pub fn names() -> String {
        Profile::ALL.map(Profile::name).join(", ")
    }

    /// Duration used when neither a packet count nor a duration is given: 10 s where that
    /// gives a file of tens of MB; 1–2 s for the high-rate profiles (10 s of datacenter
    /// traffic would be tens of GB).
    pub(crate) fn default_duration_secs(self) -> f64 {
        match self {
            Profile::HomeRouter | Profile::Enterprise => 10.0,
            Profile::Datacenter | Profile::Imix => 1.0,
            Profile::Synflood | Profile::Connections => 2.0,
        }
    }

    /// Share of flows that use IPv6 unless overridden.
    pub(crate) fn default_ipv6_share(self) -> f64 {
        match self {
            // Home networks with native IPv6: a quarter of flows (brief: 20–30 %).
            Profile::HomeRouter => 0.25,
            Profile::Enterprise => 0.10,
            Profile::Datacenter => 0.10,
            Profile::Synflood => 0.10,
            Profile::Imix => 0.0,
            Profile::Connections => 0.0,
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
pub(crate) const WEB_SEARCH_CDF: [(f64, f64); 12] = [
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
pub(crate) const DATA_MINING_CDF: [(f64, f64); 13] = [
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
pub(crate) fn agh_flow_packets(rng: &mut Rng) -> u64 {
    if rng.chance(AGH_SINGLE) {
        1
    } else {
        (rng.bounded_pareto(AGH_XM, AGH_MAX, AGH_ALPHA).ceil() as u64).max(2)
    }
}
/// Share of single-packet flows (§5.3).
pub(crate) const AGH_SINGLE: f64 = 0.447;
/// Pareto scale of the multi-packet part (derived above).
pub(crate) const AGH_XM: f64 = 1.2;
/// Pareto shape of the multi-packet part (derived above).
pub(crate) const AGH_ALPHA: f64 = 0.66;
/// Cut-off of the multi-packet part, packets (derived above).
pub(crate) const AGH_MAX: f64 = 4.8e5;

/// A flow-arrival process.
#[derive(Clone, Debug)]
pub(crate) enum Arrival {
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
pub(crate) struct ScanState {
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
pub(crate) enum Kind {
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
    /// A short connection of the connections-per-second load; its mean idle hold, ns.
    Short {
        /// Mean idle time between the response and the client's FIN, ns (exponential).
        hold_mean: f64,
    },
}

/// A source of flows.
#[derive(Clone, Debug)]
pub(crate) struct Source {
    /// Arrival process.
    pub(crate) arrival: Arrival,
    /// What it starts.
    pub(crate) kind: Kind,
    /// Its random stream (arrivals and flow parameters).
    pub(crate) rng: Rng,
    /// End of the current on period (ns), for on/off sources.
    pub(crate) on_until: u64,
}

/// A flow to start.
#[derive(Debug)]
pub(crate) enum NewFlow {
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
pub(crate) struct Model {
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

impl Model {
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

    /// An NTP poll of one of the NTP servers by client `c`.
    fn ntp_flow(&mut self, rng: &mut Rng, c: usize, v6: bool, start: u64) -> NewFlow {
        let n = rng.below(self.ntp.len() as u64) as usize;
        let pair = self.pair(rng, c, Srv::Ntp(n), 123, v6);
        NewFlow::Rr {
            pair,
            app: UdpApp::Ntp,
            queries: 1,
            answer_p: 0.98,
            gap: 1e9,
            start,
            rng: rng.fork(),
        }
    }

    /// A DNS lookup of one query of type `qtype` by client `c` at one of the resolvers.
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
}
