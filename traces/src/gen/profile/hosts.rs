//! Host populations: addresses, MACs, OS stacks, delays and link rates of each profile's
//! clients and servers, and the flow sources each profile declares.

use super::{Arrival, DATA_MINING_CDF, Kind, Model, Profile, ScanState, Source, WEB_SEARCH_CDF};
use crate::r#gen::conv::{APPLE, LINUX, LINUX_SERVER, Stack, WINDOWS};
use crate::r#gen::pair::Ep;
use crate::r#gen::rng::{PiecewiseCdf, Rng, Zipf};

/// A host in a population.
#[derive(Clone, Debug)]
pub(super) struct Host {
    pub(super) v4: u32,
    pub(super) v6: u128,
    pub(super) mac: [u8; 6],
    pub(super) stack: Stack,
    /// Median one-way delay to the capture point, ns.
    pub(super) delay: f64,
    /// TTL of its packets at the capture point.
    pub(super) ttl: u8,
    pub(super) next_port: u16,
    /// On the router's LAN side (own MAC; sends to the LAN-side router MAC) or beyond the
    /// upstream (frames come from the upstream gateway's MAC).
    pub(super) lan: bool,
    /// Access-link rate for data it sends/receives, bit/s (its Wi-Fi or NIC speed).
    pub(super) link_bps: f64,
}

/// Router-side MACs (locally administered unicast addresses).
const ROUTER_LAN_MAC: [u8; 6] = [0x02, 0x0f, 0x5c, 0x00, 0x00, 0x01];
pub(super) const ROUTER_WAN_MAC: [u8; 6] = [0x02, 0x0f, 0x5c, 0x00, 0x00, 0x02];
pub(super) const UPSTREAM_MAC: [u8; 6] = [0x02, 0x0f, 0x5c, 0x00, 0x01, 0xfe];

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
    pub(super) fn port(&mut self) -> u16 {
        let (lo, hi) = self.stack.eph;
        let p = self.next_port;
        self.next_port = if p >= hi { lo } else { p + 1 };
        p
    }

    pub(super) fn ep(&self, v6: bool, port: u16, delay: u64) -> Ep {
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

/// The sources a profile declares, in declaration order (which is the order of their first
/// arrivals on equal times). Each gets its own random stream named after the profile and
/// the source.
struct Sources {
    seed: u64,
    profile: Profile,
    rate_scale: f64,
    list: Vec<Source>,
}

impl Sources {
    fn add(&mut self, arrival: Arrival, kind: Kind, name: &str) {
        self.list.push(Source {
            arrival,
            kind,
            rng: Rng::stream(self.seed, &format!("{}/{name}", self.profile.name())),
            on_until: 0,
        });
    }

    /// Poisson arrivals at `rate` flows/s times the configured rate scale.
    fn poisson(&self, rate: f64) -> Arrival {
        Arrival::Poisson {
            rate: rate * self.rate_scale,
        }
    }
}

impl Model {
    /// Builds the model of `profile` and its sources.
    pub(crate) fn new(
        profile: Profile,
        seed: u64,
        ipv6_share: f64,
        rate_scale: f64,
        load: crate::r#gen::ConnLoad,
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
        let mut src = Sources {
            seed,
            profile,
            rate_scale,
            list: Vec::new(),
        };
        match profile {
            Profile::HomeRouter => m.build_home_router(&mut rng, &mut src),
            Profile::Enterprise => m.build_enterprise(&mut rng, &mut src),
            Profile::Datacenter => m.build_datacenter(&mut rng, &mut src),
            Profile::Synflood => m.build_synflood(&mut rng, &mut src),
            Profile::Imix => m.build_imix(&mut rng, &mut src),
            Profile::Connections => m.build_connections(&mut rng, &mut src, load),
        }
        (m, src.list)
    }

    /// A home: tens of clients behind a cable/fibre access link.
    fn build_home_router(&mut self, rng: &mut Rng, src: &mut Sources) {
        // Tens of clients (brief); OS mix roughly Android/Linux 35 %, Windows 25 %,
        // Apple 40 %. 70 % on Wi-Fi (median 1.5 ms one way, 100–600 Mbit/s), the rest
        // wired (0.2 ms, 1 Gbit/s).
        let n = rng.range(20, 48) as usize;
        for i in 0..n {
            let st = pick_stack(rng, [0.35, 0.25, 0.40]);
            let wifi = rng.chance(0.7);
            let (d, link) = if wifi {
                (1.5e6, rng.uniform(100e6, 600e6))
            } else {
                (0.2e6, 1e9)
            };
            let v4 = 0xc0a8_0100 | (100 + i as u32); // 192.168.1.100+
            let v6 = 0x2001_0db8_1234_5600_0000_0000_0000_0000 | iid(rng);
            let h = Host::new(rng, v4, v6, st, d, st.ttl, true, link);
            self.clients.push(h);
        }
        // Internet servers: 400 with Zipf(1) popularity (a few CDNs carry most), one
        // way 12 ms median (σ 0.6, 1–150 ms).
        self.add_remote_servers(rng, 400, 12e6, 0.6, 1.0);
        self.add_resolvers(rng);
        // Access link: 300/40 Mbit/s (a typical cable/fibre plan).
        self.wan_down = 300e6;
        self.wan_up = 40e6;
        // Flow sources for the household (rates are per home, not per client): page
        // loads by the people browsing, background API calls of apps and devices,
        // stand-alone DNS lookups, periodic NTP, push channels, the odd ping and call.
        src.add(src.poisson(0.5), Kind::PageLoad, "pageload");
        src.add(src.poisson(2.0), Kind::Api, "api");
        src.add(src.poisson(1.0 / 120.0), Kind::Video, "video");
        for (k, at) in [0.2, 1.7].into_iter().enumerate() {
            src.add(Arrival::Once { at }, Kind::Video, &format!("video0/{k}"));
        }
        src.add(src.poisson(1.0 / 300.0), Kind::Bulk, "bulk");
        src.add(Arrival::Once { at: 4.5 }, Kind::Bulk, "bulk0");
        src.add(src.poisson(3.0), Kind::Dns, "dns");
        src.add(src.poisson(1.0 / 30.0), Kind::Ntp, "ntp");
        src.add(src.poisson(0.1), Kind::Keepalive, "keepalive");
        for k in 0..n {
            let at = 0.1 + 9.0 * k as f64 / n as f64;
            src.add(Arrival::Once { at }, Kind::Keepalive, &format!("ka0/{k}"));
        }
        src.add(src.poisson(1.0 / 60.0), Kind::Ping, "ping");
        src.add(src.poisson(1.0 / 900.0), Kind::Call, "call");
        src.add(Arrival::Once { at: 3.0 }, Kind::Call, "call0");
    }

    /// An enterprise edge: thousands of desktops, internal servers, scans.
    fn build_enterprise(&mut self, rng: &mut Rng, src: &mut Sources) {
        // Thousands of hosts (2,500–3,500) in 10.20.0.0/16; desktop mix Windows 70 %,
        // Linux 15 %, Apple 15 %; switched LAN, 0.3 ms, 1 Gbit/s.
        let n = rng.range(2500, 3500) as usize;
        for i in 0..n as u32 {
            let st = pick_stack(rng, [0.15, 0.70, 0.15]);
            let v4 = 0x0a14_0000 | ((i / 250) << 8) | (i % 250 + 2);
            let v6 =
                0x2001_0db8_0020_0000_0000_0000_0000_0000 | (u128::from(i / 250) << 64) | iid(rng);
            let h = Host::new(rng, v4, v6, st, 0.3e6, st.ttl, true, 1e9);
            self.clients.push(h);
        }
        // Internal servers (data centre VLAN behind the same router): 60 hosts.
        for i in 0..60u32 {
            let st = if i % 3 == 0 { WINDOWS } else { LINUX_SERVER };
            let v4 = 0x0a01_0000 | (10 + i);
            let v6 = 0x2001_0db8_0001_0000_0000_0000_0000_0000 | u128::from(10 + i);
            let h = Host::new(rng, v4, v6, st, 0.2e6, st.ttl, true, 10e9);
            self.internal.push(h);
        }
        self.add_remote_servers(rng, 3000, 25e6, 0.7, 0.9);
        self.add_resolvers(rng);
        // Campus uplink figures: 1,810 new flows/s (§5.3). A session here is one
        // bidirectional flow, i.e. about two NetFlow (unidirectional) flows.
        src.add(src.poisson(900.0), Kind::Session, "session");
        src.add(
            Arrival::OnOff {
                rate: 300.0 * src.rate_scale,
                on: 5.0,
                off: 40.0,
                first: 0.5,
            },
            Kind::Scan(ScanState::default()),
            "scan",
        );
        src.add(src.poisson(5.0), Kind::Ping, "ping");
        // Traceroutes (network staff, monitoring): 2/s, the first right at the start.
        src.add(src.poisson(2.0), Kind::Traceroute, "traceroute");
        src.add(Arrival::Once { at: 0.01 }, Kind::Traceroute, "traceroute0");
        src.add(src.poisson(2.0), Kind::Ntp, "ntp");
        src.add(src.poisson(1.0 / 20.0), Kind::Video, "video");
        src.add(src.poisson(1.0 / 60.0), Kind::Bulk, "bulk");
    }

    /// A data centre: 64 racks of 40 hosts talking east-west.
    fn build_datacenter(&mut self, rng: &mut Rng, src: &mut Sources) {
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
                let host = Host::new(rng, v4, v6, st, d, 64, true, 25e9);
                self.clients.push(host);
            }
        }
        // 3,000 new flows/s across the fabric seen by the capture point.
        src.add(src.poisson(3000.0), Kind::DcFlow, "flow");
    }

    /// Two servers under a spoofed SYN flood, with some legitimate clients.
    fn build_synflood(&mut self, rng: &mut Rng, src: &mut Sources) {
        // Two public servers on the LAN side; legitimate clients and the attacker are
        // beyond the upstream.
        for i in 0..2u32 {
            let v4 = 0xcb00_710a + i; // 203.0.113.10, .11
            let v6 = 0x2001_0db8_0000_0000_0000_0000_0000_0010 | u128::from(i);
            let h = Host::new(rng, v4, v6, LINUX_SERVER, 0.1e6, 64, true, 10e9);
            self.internal.push(h);
        }
        for i in 0..500u32 {
            let st = pick_stack(rng, [0.35, 0.25, 0.40]);
            let v4 = if i < 250 {
                0xc633_6400 | (i + 2) // 198.51.100.0/24
            } else {
                0xc000_0200 | (i - 250 + 2) // 192.0.2.0/24
            };
            let v6 = 0x2001_0db8_c000_0000_0000_0000_0000_0000 | (u128::from(i) << 64) | iid(rng);
            let d = rng.lognormal_median(20e6, 0.6).clamp(1e6, 200e6);
            let ttl = st.ttl - rng.range(6, 20) as u8;
            let h = Host::new(rng, v4, v6, st, d, ttl, false, 100e6);
            self.clients.push(h);
        }
        // 100,000 spoofed SYN/s from 0.2 s on (a modest flood; rate_scale scales it).
        src.add(
            Arrival::OnOff {
                rate: 100_000.0 * src.rate_scale,
                on: 1e9,
                off: 1.0,
                first: 0.2,
            },
            Kind::Flood,
            "flood",
        );
        src.add(src.poisson(200.0), Kind::FloodLegit, "legit");
    }

    /// The connections-per-second load: 250 LAN clients (wired, Linux) opening short
    /// connections to 200 servers behind the WAN, at `load.cps` connections per second.
    fn build_connections(
        &mut self,
        rng: &mut Rng,
        src: &mut Sources,
        load: crate::r#gen::ConnLoad,
    ) {
        // 192.168.1.0/24 holds the 250 clients, as a large LAN's DHCP pool.
        for i in 0..250u32 {
            let v4 = 0xc0a8_0100 | (2 + i);
            let v6 = 0x2001_0db8_1234_5600_0000_0000_0000_0000 | iid(rng);
            let h = Host::new(rng, v4, v6, LINUX, 0.2e6, 64, true, 1e9);
            self.clients.push(h);
        }
        self.add_remote_servers(rng, 200, 10e6, 0.5, 1.0);
        self.wan_down = 1e9;
        self.wan_up = 1e9;
        src.add(
            src.poisson(load.cps),
            Kind::Short {
                hold_mean: load.hold_s * 1e9,
            },
            "short",
        );
    }

    /// IMIX UDP load between 50 clients and 200 servers.
    fn build_imix(&mut self, rng: &mut Rng, src: &mut Sources) {
        for i in 0..50u32 {
            let v4 = 0xc0a8_0100 | (100 + i);
            let h = Host::new(rng, v4, 0, LINUX, 0.2e6, 64, true, 1e9);
            self.clients.push(h);
        }
        self.add_remote_servers(rng, 200, 10e6, 0.5, 1.0);
        src.add(src.poisson(50.0), Kind::Imix, "imix");
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
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn bench_range_addresses() {
        assert_eq!(bench_v4(0), 0xc612_0001);
        assert_eq!(bench_v4(253), 0xc612_00fe);
        assert_eq!(bench_v4(254), 0xc612_0101);
    }
}
