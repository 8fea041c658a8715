//! Small traces generated in the tests, frame by frame (with correct checksums, the frame
//! builders of `offsim_traces::gen::frame`): the cases the kernel oracle checks offsim on —
//! one-way UDP streams, IPv6 hosts on both sides, packets over 1500 bytes with and without
//! DF, idle gaps, traffic for the router itself, connections a ruleset drops, NAT.

use std::path::Path;

use offsim_traces::r#gen::frame::{self, L3, TcpHdr, TcpOpts, UdpPayload};
use offsim_traces::meta::tcp_flags::{ACK, FIN, PSH, SYN};
use offsim_traces::parse::LinkType;
use offsim_traces::pcap::PcapWriter;
use offsim_traces::time::SimTime;

/// An endpoint: `addr:port` / `[v6]:port` parsed.
#[derive(Clone, Copy, Debug)]
pub struct Ep {
    /// IPv6.
    pub v6: bool,
    /// Address (IPv4 in the low 32 bits).
    pub addr: u128,
    /// Port (or ICMP id).
    pub port: u16,
}

/// Parses `a.b.c.d:port` or `[v6]:port`.
pub fn ep(s: &str) -> Ep {
    let sa: std::net::SocketAddr = s.parse().expect("endpoint");
    match sa {
        std::net::SocketAddr::V4(a) => Ep {
            v6: false,
            addr: u128::from(u32::from(*a.ip())),
            port: a.port(),
        },
        std::net::SocketAddr::V6(a) => Ep {
            v6: true,
            addr: u128::from(*a.ip()),
            port: a.port(),
        },
    }
}

/// A trace under construction: frames with timestamps.
#[derive(Debug, Default)]
pub struct Trace {
    frames: Vec<(u64, Vec<u8>)>,
    /// The time of the next frame, ns.
    pub now: u64,
    /// Spacing between frames, ns.
    pub step: u64,
    ip_id: u16,
}

/// Options of one packet beyond its endpoints.
#[derive(Clone, Copy, Debug)]
pub struct Opt {
    /// IPv4 don't-fragment.
    pub df: bool,
    /// TTL / hop limit.
    pub ttl: u8,
}

impl Default for Opt {
    fn default() -> Self {
        Opt { df: true, ttl: 64 }
    }
}

impl Trace {
    /// An empty trace whose frames are 100 µs apart, starting at 1 s.
    pub fn new() -> Trace {
        Trace {
            frames: Vec::new(),
            now: 1_000_000_000,
            step: 100_000,
            ip_id: 1,
        }
    }

    /// Lets `secs` seconds pass.
    pub fn idle(&mut self, secs: f64) {
        self.now += (secs * 1e9) as u64;
    }

    fn l3(&mut self, s: Ep, d: Ep, o: Opt) -> L3 {
        self.ip_id = self.ip_id.wrapping_add(1);
        L3 {
            v6: s.v6,
            src: s.addr,
            dst: d.addr,
            src_mac: [2, 0, 0, 0, 0, 1],
            dst_mac: [2, 0, 0, 0, 0, 2],
            ttl: o.ttl,
            ip_id: self.ip_id,
            df: o.df,
            flow_label: u32::from(self.ip_id),
            tos: 0,
        }
    }

    fn push(&mut self, f: Vec<u8>) {
        self.frames.push((self.now, f));
        self.now += self.step;
    }

    /// A UDP datagram with `payload` bytes.
    pub fn udp(&mut self, s: &str, d: &str, payload: usize, o: Opt) {
        let (s, d) = (ep(s), ep(d));
        let l3 = self.l3(s, d, o);
        let mut b = Vec::new();
        frame::udp(&mut b, &l3, s.port, d.port, UdpPayload::Zero(payload));
        self.push(b);
    }

    /// A TCP segment.
    #[allow(clippy::too_many_arguments)]
    pub fn tcp(&mut self, s: &str, d: &str, flags: u8, seq: u32, ack: u32, payload: usize, o: Opt) {
        let (s, d) = (ep(s), ep(d));
        let l3 = self.l3(s, d, o);
        let h = TcpHdr {
            sport: s.port,
            dport: d.port,
            seq,
            ack,
            flags,
            win: 64_000,
            opts: TcpOpts::None,
        };
        let mut b = Vec::new();
        frame::tcp(&mut b, &l3, &h, payload);
        self.push(b);
    }

    /// An ICMP/ICMPv6 echo request (or reply) with id `s`'s port.
    pub fn echo(&mut self, s: &str, d: &str, request: bool, seq: u16, o: Opt) {
        let (s, d) = (ep(s), ep(d));
        let l3 = self.l3(s, d, o);
        let id = if request { s.port } else { d.port };
        let mut b = Vec::new();
        frame::icmp_echo(&mut b, &l3, request, id, seq, 56);
        self.push(b);
    }

    /// An ICMP error (`ty`, `code`) from `s` to `d` quoting a UDP datagram from `qs` to
    /// `qd` with `payload` bytes, as the erring node received it.
    #[allow(clippy::too_many_arguments)]
    pub fn udp_error(
        &mut self,
        s: &str,
        d: &str,
        ty: u8,
        code: u8,
        qs: &str,
        qd: &str,
        payload: usize,
    ) {
        let (qsrc, qdst) = (ep(qs), ep(qd));
        let ql3 = self.l3(qsrc, qdst, Opt::default());
        let mut q = Vec::new();
        frame::udp(
            &mut q,
            &ql3,
            qsrc.port,
            qdst.port,
            UdpPayload::Zero(payload),
        );
        let (s, d) = (ep(s), ep(d));
        let l3 = self.l3(s, d, Opt::default());
        let mut b = Vec::new();
        frame::icmp_error(&mut b, &l3, ty, code, &q[14..]);
        self.push(b);
    }

    /// An IPv4 packet of protocol `proto` with `payload` zero bytes (no transport header
    /// offsim or the kernel understands, e.g. GRE or ESP).
    pub fn raw4(&mut self, s: &str, d: &str, proto: u8, payload: usize) {
        let (s, d) = (ep(s), ep(d));
        let l3 = self.l3(s, d, Opt::default());
        let mut b = Vec::new();
        // A UDP frame of the right size, then the protocol and header checksum patched.
        frame::udp(
            &mut b,
            &l3,
            0,
            0,
            UdpPayload::Zero(payload.saturating_sub(8)),
        );
        b[14 + 9] = proto;
        b[14 + 10] = 0;
        b[14 + 11] = 0;
        let c = super::pcap::ipv4_checksum(&b[14..34]);
        b[14 + 10..14 + 12].copy_from_slice(&c.to_be_bytes());
        self.push(b);
    }

    /// A whole TCP connection from `c` to `s`: handshake, `n` data segments of `size` bytes
    /// each way alternately, FIN/ACK both ways.
    pub fn tcp_conn(&mut self, c: &str, s: &str, n: u32, size: usize, o: Opt) {
        let (mut cs, mut ss) = (1000u32, 5000u32);
        self.tcp(c, s, SYN, cs, 0, 0, o);
        self.tcp(s, c, SYN | ACK, ss, cs + 1, 0, o);
        cs += 1;
        ss += 1;
        self.tcp(c, s, ACK, cs, ss, 0, o);
        for k in 0..n {
            if k % 2 == 0 {
                self.tcp(c, s, PSH | ACK, cs, ss, size, o);
                cs += size as u32;
            } else {
                self.tcp(s, c, PSH | ACK, ss, cs, size, o);
                ss += size as u32;
            }
        }
        self.tcp(c, s, FIN | ACK, cs, ss, 0, o);
        self.tcp(s, c, FIN | ACK, ss, cs + 1, 0, o);
        self.tcp(c, s, ACK, cs + 1, ss + 1, 0, o);
    }

    /// A UDP request/response exchange repeated `n` times.
    pub fn udp_rr(&mut self, c: &str, s: &str, n: u32, size: usize, o: Opt) {
        for _ in 0..n {
            self.udp(c, s, size, o);
            self.udp(s, c, size, o);
        }
    }

    /// Packets so far.
    pub fn len(&self) -> usize {
        self.frames.len()
    }

    /// Writes the trace as an Ethernet pcap.
    pub fn write(&self, path: &Path) {
        let f = std::fs::File::create(path).expect("create trace");
        let mut w =
            PcapWriter::new(std::io::BufWriter::new(f), LinkType::Ethernet, 262_144).expect("pcap");
        for (ts, b) in &self.frames {
            w.write(SimTime(*ts), b, b.len() as u32)
                .expect("write frame");
        }
        w.finish().expect("finish pcap");
    }
}
