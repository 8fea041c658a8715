//! Building [`PacketMeta`]s by hand, for tests and benches of the stages that consume them.
//!
//! ```
//! use offsim_traces::testkit::Pkt;
//! use offsim_traces::meta::tcp_flags::SYN;
//! let m = Pkt::tcp4("10.0.0.1:1234", "192.0.2.1:80").flags(SYN).seq(100).build();
//! assert_eq!(m.dport, 80);
//! ```

use std::net::{IpAddr, SocketAddr};

use crate::meta::{InnerTuple, NetKind, PacketMeta, flags, is_icmp_error, proto};
use crate::time::SimTime;

/// A builder for a well-formed IP packet summary.
#[derive(Clone, Copy, Debug)]
pub struct Pkt {
    m: PacketMeta,
}

fn addr(ip: IpAddr) -> (u8, u128) {
    match ip {
        IpAddr::V4(a) => (4, u128::from(u32::from(a))),
        IpAddr::V6(a) => (6, u128::from(a)),
    }
}

fn sock(s: &str) -> SocketAddr {
    s.parse()
        .unwrap_or_else(|_| panic!("bad socket address {s:?}"))
}

impl Pkt {
    fn ip(version: u8, src: u128, dst: u128, l4: u8, l4_hdr: u32) -> Pkt {
        let hdr = if version == 4 { 20 } else { 40 };
        let m = PacketMeta {
            net: if version == 4 {
                NetKind::Ipv4
            } else {
                NetKind::Ipv6
            },
            ip_version: version,
            ethertype: if version == 4 { 0x0800 } else { 0x86dd },
            src,
            dst,
            ttl: 64,
            ip_proto_field: l4,
            l4proto: l4,
            ip_hdr_len: hdr as u16,
            ip_len: hdr + l4_hdr,
            wire_len: 14 + hdr + l4_hdr,
            cap_len: 14 + hdr + l4_hdr,
            l3_offset: 14,
            flags: flags::L4_PRESENT,
            ..PacketMeta::default()
        };
        Pkt { m }
    }

    fn ports(src: &str, dst: &str, l4: u8, hdr: u32) -> Pkt {
        let (s, d) = (sock(src), sock(dst));
        let (v, sa) = addr(s.ip());
        let (_, da) = addr(d.ip());
        let mut p = Pkt::ip(v, sa, da, l4, hdr);
        p.m.sport = s.port();
        p.m.dport = d.port();
        p.m.flags |= flags::PORTS;
        p
    }

    /// A TCP segment between two `addr:port` endpoints (IPv4 or IPv6 `[addr]:port`), ACK
    /// flag clear, window 65535, no payload.
    pub fn tcp4(src: &str, dst: &str) -> Pkt {
        let mut p = Pkt::ports(src, dst, proto::TCP, 20);
        p.m.tcp_hdr_len = 20;
        p.m.tcp_win = 65_535;
        p
    }

    /// A UDP datagram with no payload.
    pub fn udp(src: &str, dst: &str) -> Pkt {
        let mut p = Pkt::ports(src, dst, proto::UDP, 8);
        p.m.udp_len = 8;
        p
    }

    /// An ICMP (IPv4) or ICMPv6 message of the given type and code; for echo types `id` is
    /// the identifier.
    pub fn icmp(src: &str, dst: &str, icmp_type: u8, code: u8, id: u16) -> Pkt {
        let (s, d): (IpAddr, IpAddr) = (
            src.parse()
                .unwrap_or_else(|_| panic!("bad address {src:?}")),
            dst.parse()
                .unwrap_or_else(|_| panic!("bad address {dst:?}")),
        );
        let (v, sa) = addr(s);
        let (_, da) = addr(d);
        let l4 = if v == 4 { proto::ICMP } else { proto::ICMPV6 };
        let mut p = Pkt::ip(v, sa, da, l4, 8);
        p.m.icmp_type = icmp_type;
        p.m.icmp_code = code;
        if crate::meta::is_icmp_echo(l4, icmp_type) {
            p.m.sport = id;
        }
        p
    }

    /// Makes this ICMP message an error quoting `quoted` (its tuple as sent).
    pub fn quoting(mut self, quoted: &PacketMeta) -> Pkt {
        assert!(
            is_icmp_error(self.m.l4proto, self.m.icmp_type),
            "not an ICMP error type"
        );
        let mut key = quoted.flow_key().expect("quoted packet must be IP");
        if quoted.l4proto == proto::ICMP || quoted.l4proto == proto::ICMPV6 {
            key.dport = u16::from(quoted.icmp_type) << 8 | u16::from(quoted.icmp_code);
        }
        self.m.inner = InnerTuple {
            key,
            l4_present: true,
        };
        self.m.flags |= flags::ICMP_ERROR;
        self
    }

    /// TCP flags.
    pub fn flags(mut self, f: u8) -> Pkt {
        self.m.tcp_flags = f;
        self
    }
    /// TCP sequence number.
    pub fn seq(mut self, s: u32) -> Pkt {
        self.m.tcp_seq = s;
        self
    }
    /// TCP acknowledgement number.
    pub fn ack(mut self, a: u32) -> Pkt {
        self.m.tcp_ack = a;
        self
    }
    /// TCP window (unscaled).
    pub fn win(mut self, w: u16) -> Pkt {
        self.m.tcp_win = w;
        self
    }
    /// TCP window-scale option (SYN / SYN-ACK), with SACK-permitted.
    pub fn wscale(mut self, s: u8) -> Pkt {
        self.m.tcp_wscale = s;
        self.m.flags |= flags::TCP_WSCALE | flags::TCP_SACK_PERM;
        self.m.tcp_hdr_len = 32;
        self
    }
    /// Transport payload length in bytes (adds to the IP length).
    pub fn payload(mut self, n: u32) -> Pkt {
        self.m.l4_payload_len = n;
        self.m.ip_len = u32::from(self.m.ip_hdr_len) + u32::from(self.m.tcp_hdr_len.max(8)) + n;
        if self.m.l4proto != proto::TCP {
            self.m.ip_len = u32::from(self.m.ip_hdr_len) + 8 + n;
        }
        if self.m.l4proto == proto::UDP {
            self.m.udp_len = (8 + n).min(u32::from(u16::MAX)) as u16;
        }
        self.m.wire_len = self.m.ip_len + 14;
        self.m.cap_len = self.m.wire_len;
        self
    }
    /// TTL / hop limit.
    pub fn ttl(mut self, t: u8) -> Pkt {
        self.m.ttl = t;
        self
    }
    /// Timestamp in nanoseconds.
    pub fn at(mut self, ns: u64) -> Pkt {
        self.m.ts = SimTime(ns);
        self
    }
    /// Sets arbitrary [`flags`] bits.
    pub fn with_flags(mut self, f: u16) -> Pkt {
        self.m.flags |= f;
        self
    }
    /// DSCP.
    pub fn dscp(mut self, d: u8) -> Pkt {
        self.m.dscp = d;
        self
    }
    /// The finished summary.
    pub fn build(self) -> PacketMeta {
        self.m
    }
}
