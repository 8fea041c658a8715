//! What each source starts: the flows of one arrival, per kind of source.

use super::hosts::{ROUTER_WAN_MAC, UPSTREAM_MAC};
use super::{Kind, Model, NewFlow, Profile, ScanState, Srv, agh_flow_packets, ns};
use crate::r#gen::conv::{App, Close, CloseKind, ConvSpec, LINUX, Setup, Stack};
use crate::r#gen::frame::TcpOpts;
use crate::r#gen::pair::{Ep, Pair};
use crate::r#gen::rng::Rng;
use crate::r#gen::simple::{SizeDist, UdpApp};

impl Model {
    /// Starts the flows of one arrival of `kind` at time `t` (ns).
    pub(crate) fn spawn(&mut self, kind: &mut Kind, rng: &mut Rng, t: u64, out: &mut Vec<NewFlow>) {
        match kind {
            Kind::PageLoad => self.page_load(rng, t, out),
            Kind::Api => self.api(rng, t, out),
            Kind::Video => self.video(rng, t, out),
            Kind::Bulk => self.bulk(rng, t, out),
            Kind::Dns => self.dns(rng, t, out),
            Kind::Ntp => self.ntp(rng, t, out),
            Kind::Keepalive => self.keepalive(rng, t, out),
            Kind::Ping => self.ping(rng, t, out),
            Kind::Call => self.call(rng, t, out),
            Kind::Session => self.session(rng, t, out),
            Kind::Scan(st) => self.scan(st, rng, t, out),
            Kind::Traceroute => self.traceroute(rng, t, out),
            Kind::DcFlow => self.dc_flow(rng, t, out),
            Kind::Flood => self.flood(rng, t, out),
            Kind::FloodLegit => self.flood_legit(rng, t, out),
            Kind::Imix => self.imix(rng, t, out),
            Kind::Short { hold_mean } => self.short(*hold_mean, rng, t, out),
        }
    }

    /// A short connection of the connections-per-second load, as a CPS benchmark makes
    /// (TRex ASTF's `http_simple`, CSIT's TCP CPS tests): handshake, one plain HTTP request
    /// and a small response, an idle hold, then the client's FIN.
    fn short(&mut self, hold_mean: f64, rng: &mut Rng, t: u64, out: &mut Vec<NewFlow>) {
        let c = self.client(rng);
        let v6 = self.v6(rng);
        let s = self.remote(rng);
        // http_simple's GET is about 100 bytes and its page 32 KB; a CPS load keeps the
        // response small so connections, not bytes, are the load: 1 KB.
        let app = App::Rpc {
            tls: false,
            req: 100,
            resp: 1_000,
            stage: 0,
        };
        let close = Close {
            kind: CloseKind::Fin {
                by: 0,
                separate: false,
            },
            idle: if hold_mean > 0.0 {
                ns(rng.exp(hold_mean / 1e9))
            } else {
                0
            },
        };
        let (down, up) = self.lines(c, s);
        out.push(self.conv(rng, c, s, 80, v6, false, app, close, down, up, t));
    }

    /// A background HTTPS API call of an app or device.
    fn api(&mut self, rng: &mut Rng, t: u64, out: &mut Vec<NewFlow>) {
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

    /// An adaptive video stream.
    fn video(&mut self, rng: &mut Rng, t: u64, out: &mut Vec<NewFlow>) {
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

    /// A bulk download (or upload) elephant.
    fn bulk(&mut self, rng: &mut Rng, t: u64, out: &mut Vec<NewFlow>) {
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

    /// A stand-alone DNS lookup.
    fn dns(&mut self, rng: &mut Rng, t: u64, out: &mut Vec<NewFlow>) {
        let c = self.client(rng);
        let v6 = self.v6(rng);
        let qtype = [1u16, 28, 65][rng.weighted(&[0.6, 0.3, 0.1])];
        out.push(self.dns_flow(rng, c, v6, t, qtype));
    }

    /// An NTP poll.
    fn ntp(&mut self, rng: &mut Rng, t: u64, out: &mut Vec<NewFlow>) {
        let c = self.client(rng);
        let v6 = self.v6(rng);
        out.push(self.ntp_flow(rng, c, v6, t));
    }

    /// A long-lived, mostly idle push/IoT connection.
    fn keepalive(&mut self, rng: &mut Rng, t: u64, out: &mut Vec<NewFlow>) {
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

    /// A ping session.
    fn ping(&mut self, rng: &mut Rng, t: u64, out: &mut Vec<NewFlow>) {
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

    /// A voice call.
    fn call(&mut self, rng: &mut Rng, t: u64, out: &mut Vec<NewFlow>) {
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

    /// A traceroute.
    fn traceroute(&mut self, rng: &mut Rng, t: u64, out: &mut Vec<NewFlow>) {
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

    /// A legitimate web connection to a flooded server.
    fn flood_legit(&mut self, rng: &mut Rng, t: u64, out: &mut Vec<NewFlow>) {
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

    /// An IMIX UDP flow.
    fn imix(&mut self, rng: &mut Rng, t: u64, out: &mut Vec<NewFlow>) {
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
            self.session_single(rng, Peers { c, s, v6 }, t, out);
            return;
        }
        if n <= 3 {
            self.session_few(rng, n as u16, Peers { c, s, v6 }, t, out);
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

    /// A single-packet session (44.7 % of AGH flows): a DNS query, an unanswered or refused
    /// datagram, a SYN answered by RST or nothing, one ping, an NTP poll.
    fn session_single(&mut self, rng: &mut Rng, p: Peers, t: u64, out: &mut Vec<NewFlow>) {
        let Peers { c, s, v6 } = p;
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
            _ => out.push(self.ntp_flow(rng, c, v6, t)),
        }
    }

    /// A session of `k` (2–3) packets: a short ping, a few UDP exchanges or DNS queries.
    fn session_few(&mut self, rng: &mut Rng, k: u16, p: Peers, t: u64, out: &mut Vec<NewFlow>) {
        let Peers { c, s, v6 } = p;
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

/// The endpoints of a session: client index, server, address family.
#[derive(Clone, Copy)]
struct Peers {
    c: usize,
    s: Srv,
    v6: bool,
}
