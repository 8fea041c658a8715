//! Which side of the router a packet arrives on.
//!
//! * `single`: every packet arrives on the LAN interface (the simple oracle topology).
//! * `flow`: as a real router sees traffic: the first packet seen of a flow is the
//!   connection's ORIGINAL direction and arrives on the LAN side; the reverse tuple arrives on
//!   the WAN side. ICMP errors arrive on the side opposite to the flow they quote; a new flow
//!   between two addresses already seen takes the side of that address pair; protocols
//!   without ports are keyed by address pair (the classification the flowtable oracle's
//!   `split-dirs.py` uses, so both replay the same way).
//! * `lan=CIDR,…`: a packet whose source is in one of the prefixes arrives on the LAN side.

use offsim_traces::hash::FxHashMap;
use offsim_traces::meta::{PacketMeta, flags, is_icmp_echo, proto};

/// LAN or WAN.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Side {
    /// Arrives on the LAN interface (`--iif`).
    Lan,
    /// Arrives on the WAN interface (`--oif`).
    Wan,
}

impl Side {
    fn flip(self) -> Side {
        match self {
            Side::Lan => Side::Wan,
            Side::Wan => Side::Lan,
        }
    }
}

/// An address prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Prefix {
    /// IP version.
    pub version: u8,
    /// Address (IPv4 in the low 32 bits).
    pub addr: u128,
    /// Prefix length.
    pub len: u8,
}

impl Prefix {
    /// Parses `a.b.c.d/n` or `v6::/n` (a bare address is a host prefix).
    pub fn parse(s: &str) -> Option<Prefix> {
        let (a, l) = match s.split_once('/') {
            Some((a, l)) => (a, Some(l.parse::<u8>().ok()?)),
            None => (s, None),
        };
        let ip: std::net::IpAddr = a.trim().parse().ok()?;
        Some(match ip {
            std::net::IpAddr::V4(v) => {
                let len = l.unwrap_or(32);
                if len > 32 {
                    return None;
                }
                Prefix {
                    version: 4,
                    addr: u128::from(u32::from(v)),
                    len,
                }
            }
            std::net::IpAddr::V6(v) => {
                let len = l.unwrap_or(128);
                if len > 128 {
                    return None;
                }
                Prefix {
                    version: 6,
                    addr: u128::from(v),
                    len,
                }
            }
        })
    }

    /// Whether it contains `addr` of IP version `version`.
    pub fn contains(&self, version: u8, addr: u128) -> bool {
        if version != self.version {
            return false;
        }
        let bits = if version == 4 { 32 } else { 128 };
        if self.len == 0 {
            return true;
        }
        let shift = bits - u32::from(self.len);
        (addr >> shift) == (self.addr >> shift)
    }
}

/// How sides are assigned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SideMode {
    /// Everything on LAN.
    Single,
    /// First packet of a flow is LAN.
    Flow,
    /// By source prefix.
    Lan(Vec<Prefix>),
}

impl SideMode {
    /// Parses `single`, `flow` or `lan=CIDR[,CIDR…]`.
    pub fn parse(s: &str) -> Result<SideMode, String> {
        match s {
            "single" => Ok(SideMode::Single),
            "flow" => Ok(SideMode::Flow),
            _ => {
                let Some(list) = s.strip_prefix("lan=") else {
                    return Err(format!(
                        "unknown sides mode `{s}` (expected single, flow or lan=CIDR,...)"
                    ));
                };
                let mut v = Vec::new();
                for p in list.split(',').filter(|p| !p.trim().is_empty()) {
                    v.push(
                        Prefix::parse(p.trim())
                            .ok_or_else(|| format!("bad prefix `{p}` in sides mode"))?,
                    );
                }
                if v.is_empty() {
                    return Err("sides mode lan= needs at least one prefix".into());
                }
                Ok(SideMode::Lan(v))
            }
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Key {
    Ports(u8, u128, u16, u128, u16),
    Echo(u128, u128, u16),
    Addr(u8, u128, u128),
}

/// Assigns sides to packets in trace order.
#[derive(Debug)]
pub struct SideSplitter {
    mode: SideMode,
    seen: FxHashMap<Key, Side>,
    pairs: FxHashMap<(u128, u128), Side>,
}

fn keys(
    l4: u8,
    src: u128,
    dst: u128,
    sport: u16,
    dport: u16,
    ports_ok: bool,
    echo_ok: bool,
) -> (Key, Key) {
    if ports_ok
        && matches!(
            l4,
            proto::TCP | proto::UDP | proto::UDPLITE | proto::SCTP | 33
        )
    {
        return (
            Key::Ports(l4, src, sport, dst, dport),
            Key::Ports(l4, dst, dport, src, sport),
        );
    }
    if echo_ok {
        return (Key::Echo(src, dst, sport), Key::Echo(dst, src, sport));
    }
    (Key::Addr(l4, src, dst), Key::Addr(l4, dst, src))
}

impl SideSplitter {
    /// A splitter.
    pub fn new(mode: SideMode) -> Self {
        SideSplitter {
            mode,
            seen: FxHashMap::default(),
            pairs: FxHashMap::default(),
        }
    }

    /// The side of the next packet of the trace.
    pub fn side(&mut self, m: &PacketMeta) -> Side {
        match &self.mode {
            SideMode::Single => Side::Lan,
            SideMode::Lan(ps) => {
                if ps.iter().any(|p| p.contains(m.ip_version, m.src)) {
                    Side::Lan
                } else {
                    Side::Wan
                }
            }
            SideMode::Flow => self.flow_side(m),
        }
    }

    fn flow_side(&mut self, m: &PacketMeta) -> Side {
        if !m.is_ip() {
            return Side::Lan;
        }
        let icmp = matches!(m.l4proto, proto::ICMP | proto::ICMPV6);
        let echo = icmp && m.l4_present() && is_icmp_echo(m.l4proto, m.icmp_type);
        let (k, rk) = keys(
            m.l4proto,
            m.src,
            m.dst,
            m.sport,
            m.dport,
            m.has(flags::PORTS),
            echo,
        );
        let mut side = None;
        if icmp && m.has(flags::ICMP_ERROR) {
            let i = m.inner.key;
            let inner_echo = matches!(i.proto, proto::ICMP | proto::ICMPV6)
                && m.inner.l4_present
                && is_icmp_echo(i.proto, (i.dport >> 8) as u8);
            let ports_ok = m.inner.l4_present;
            let (ik, irk) = keys(
                i.proto, i.src, i.dst, i.sport, i.dport, ports_ok, inner_echo,
            );
            let ik_side = self
                .seen
                .get(&ik)
                .copied()
                .or_else(|| self.seen.get(&irk).map(|s| s.flip()));
            side = ik_side.map(Side::flip);
        }
        // A tuple already seen keeps its side, and its address pair is already recorded (the
        // two are inserted together and `k` names the same addresses), so nothing changes.
        if side.is_none()
            && let Some(&s) = self.seen.get(&k)
        {
            return s;
        }
        let side = side
            .or_else(|| self.seen.get(&k).copied())
            .or_else(|| self.seen.get(&rk).map(|s| s.flip()))
            .or_else(|| self.pairs.get(&(m.src, m.dst)).copied())
            .or_else(|| self.pairs.get(&(m.dst, m.src)).map(|s| s.flip()))
            .unwrap_or(Side::Lan);
        self.seen.entry(k).or_insert(side);
        self.pairs.entry((m.src, m.dst)).or_insert(side);
        side
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use offsim_traces::testkit::Pkt;

    #[test]
    fn flow_mode_first_packet_is_lan() {
        let mut s = SideSplitter::new(SideMode::Flow);
        let q = Pkt::udp("192.0.2.1:1000", "198.51.100.9:53").build();
        let r = Pkt::udp("198.51.100.9:53", "192.0.2.1:1000").build();
        assert_eq!(s.side(&q), Side::Lan);
        assert_eq!(s.side(&r), Side::Wan);
        assert_eq!(s.side(&q), Side::Lan);
        // A new flow between addresses already seen takes the side of the address pair
        // (split-dirs.py does the same), so a server's new flow to the client is WAN side.
        let other = Pkt::udp("198.51.100.9:999", "192.0.2.1:7").build();
        assert_eq!(s.side(&other), Side::Wan);
        // A new flow between new addresses is LAN side.
        let fresh = Pkt::udp("203.0.113.5:999", "192.0.2.77:7").build();
        assert_eq!(s.side(&fresh), Side::Lan);
        // ICMP error about the first flow, sent by some router towards the client: WAN.
        let err = Pkt::icmp("203.0.113.1", "192.0.2.1", 3, 3, 0)
            .quoting(&q)
            .build();
        assert_eq!(s.side(&err), Side::Wan);
        // Echo request/reply.
        let e = Pkt::icmp("192.0.2.1", "198.51.100.9", 8, 0, 5).build();
        let er = Pkt::icmp("198.51.100.9", "192.0.2.1", 0, 0, 5).build();
        assert_eq!(s.side(&e), Side::Lan);
        assert_eq!(s.side(&er), Side::Wan);
    }

    #[test]
    fn prefix_mode() {
        let mut s = SideSplitter::new(SideMode::parse("lan=192.0.2.0/24,2001:db8:1::/48").unwrap());
        assert_eq!(
            s.side(&Pkt::udp("192.0.2.7:1", "198.51.100.1:2").build()),
            Side::Lan
        );
        assert_eq!(
            s.side(&Pkt::udp("198.51.100.1:2", "192.0.2.7:1").build()),
            Side::Wan
        );
        assert_eq!(
            s.side(&Pkt::udp("[2001:db8:1::5]:1", "[2001:db8:2::1]:2").build()),
            Side::Lan
        );
        assert!(SideMode::parse("lan=").is_err());
        assert!(SideMode::parse("lan=300.1.1.1/8").is_err());
        assert!(SideMode::parse("both").is_err());
    }
}
