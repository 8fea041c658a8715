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
//! * `iface=ID:lan,ID:wan,…`: by the capture's interface (the pcapng interface id; 0 for a
//!   pcap): a Wireshark capture of `br-lan` and `wan` at once says which side each packet
//!   was seen on. Such a capture holds every forwarded packet twice, as it arrived and as it
//!   left: the copy that left (one hop later, `dups.rs`) is not an arrival and
//!   [`SideSplitter::arrival`] skips it. An interface the map does not name is LAN.
//!
//! In `flow` mode the splitter remembers tuples and address pairs, and forgets a tuple once
//! it has been idle for longer than conntrack could still hold its connection (the longest
//! timeout of the states the packets seen put it in, kernel defaults or OpenWrt's, whichever
//! is longer): after that the kernel, too, would treat its next packet as a new
//! connection. So memory follows the flows alive, not the length of the trace, and runs whose
//! flows never sit idle that long are unaffected.

use crate::dups::{CopyKind, DupFinder};
use offsim_traces::hash::FxHashMap;
use offsim_traces::meta::{PacketMeta, flags, is_icmp_echo, proto, tcp_flags};
use offsim_traces::time::{NS_PER_SEC, SimTime};

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
    /// By capture interface id (pcapng); ids not listed are LAN.
    Iface(Vec<(u32, Side)>),
}

impl SideMode {
    /// Parses `single`, `flow`, `lan=CIDR[,CIDR…]` or `iface=ID:lan|wan[,…]`.
    pub fn parse(s: &str) -> Result<SideMode, String> {
        match s {
            "single" => Ok(SideMode::Single),
            "flow" => Ok(SideMode::Flow),
            _ if s.starts_with("iface=") => parse_ifaces(&s["iface=".len()..]),
            _ => {
                let Some(list) = s.strip_prefix("lan=") else {
                    return Err(format!(
                        "unknown sides mode `{s}` (expected single, flow, lan=CIDR,... or iface=ID:lan,ID:wan,...)"
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

/// `iface=0:lan,1:wan`: each interface id once, each side at least once.
fn parse_ifaces(list: &str) -> Result<SideMode, String> {
    let mut v: Vec<(u32, Side)> = Vec::new();
    for item in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let bad =
            || format!("bad interface mapping `{item}` in sides mode (expected ID:lan or ID:wan)");
        let (id, side) = item.split_once(':').ok_or_else(bad)?;
        let id: u32 = id.trim().parse().map_err(|_| bad())?;
        let side = match side.trim() {
            "lan" => Side::Lan,
            "wan" => Side::Wan,
            _ => return Err(bad()),
        };
        if v.iter().any(|(i, _)| *i == id) {
            return Err(format!("interface {id} is mapped twice in sides mode"));
        }
        v.push((id, side));
    }
    if !v.iter().any(|(_, s)| *s == Side::Wan) {
        return Err("sides mode iface= needs a WAN interface (e.g. iface=0:lan,1:wan)".into());
    }
    Ok(SideMode::Iface(v))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Key {
    Ports(u8, u128, u16, u128, u16),
    Echo(u128, u128, u16),
    Addr(u8, u128, u128),
}

impl Key {
    /// The (source, destination) address pair the tuple belongs to.
    fn addrs(&self) -> (u128, u128) {
        match *self {
            Key::Ports(_, s, _, d, _) | Key::Echo(s, d, _) | Key::Addr(_, s, d) => (s, d),
        }
    }
}

/// Never forgotten (a TCP connection conntrack may hold as ESTABLISHED).
const FOREVER: u64 = u64::MAX;
/// TCP after FIN or RST: FIN_WAIT and TIME_WAIT 120 s, CLOSE_WAIT 60 s, LAST_ACK 30 s,
/// CLOSE 10 s (`tcp_timeouts[]`, `nf_conntrack_proto_tcp.c`).
const TCP_CLOSING_NS: u64 = 120 * NS_PER_SEC;
/// TCP handshake: SYN_SENT and SYN_SENT2 120 s, SYN_RECV 60 s.
const TCP_HANDSHAKE_NS: u64 = 120 * NS_PER_SEC;
/// UDP: 30 s / 120 s stream (kernel), 60 s / 180 s (OpenWrt's sysctls).
const UDP_NS: u64 = 180 * NS_PER_SEC;
/// ICMP and ICMPv6: 30 s (`nf_ct_icmp_timeout`).
const ICMP_NS: u64 = 30 * NS_PER_SEC;
/// Other protocols: 600 s (`nf_ct_generic_timeout`; GRE's 180 s stream timeout is shorter).
const GENERIC_NS: u64 = 600 * NS_PER_SEC;
/// How often idle tuples are swept, in simulated time.
const SWEEP_NS: u64 = 10 * NS_PER_SEC;

/// What the splitter knows of a tuple.
#[derive(Clone, Copy, Debug)]
struct Seen {
    side: Side,
    /// A FIN or RST was seen in either direction (and no SYN since).
    closing: bool,
    /// Forgotten when idle at this time (ns of arrival time).
    expires: u64,
}

impl Seen {
    /// Accounts a packet of this tuple at `now`.
    #[inline]
    fn touch(&mut self, m: &PacketMeta, now: u64) {
        if m.l4proto == proto::TCP && m.l4_present() {
            let f = m.tcp_flags;
            if f & tcp_flags::SYN != 0 && self.closing {
                // A new connection on the tuple (conntrack replaces the closing entry).
                self.closing = false;
                self.expires = now.saturating_add(TCP_HANDSHAKE_NS);
                return;
            }
            if f & (tcp_flags::FIN | tcp_flags::RST) != 0 {
                self.closing = true;
            }
            if self.closing {
                self.expires = now.saturating_add(TCP_CLOSING_NS);
                return;
            }
        }
        let h = match m.l4proto {
            proto::TCP if m.l4_present() && m.tcp_flags & tcp_flags::SYN != 0 => TCP_HANDSHAKE_NS,
            proto::UDP | proto::UDPLITE => UDP_NS,
            proto::ICMP | proto::ICMPV6 => ICMP_NS,
            // TCP past the handshake may be ESTABLISHED (5 days; 7440 s on OpenWrt); SCTP
            // and DCCP keep long-lived states too.
            proto::TCP | proto::SCTP | 33 => FOREVER,
            _ => GENERIC_NS,
        };
        self.expires = self.expires.max(now.saturating_add(h));
    }
}

/// Assigns sides to packets in trace order.
#[derive(Debug)]
pub struct SideSplitter {
    mode: SideMode,
    seen: FxHashMap<Key, Seen>,
    /// Side of an address pair, and how many remembered tuples use it.
    pairs: FxHashMap<(u128, u128), (Side, u32)>,
    next_sweep: u64,
    /// `iface` mode: the forwarded copies to skip.
    dups: Option<Box<DupFinder>>,
    /// Packets on an interface the `iface` map does not name (taken as LAN).
    pub unmapped: u64,
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
            dups: matches!(mode, SideMode::Iface(_)).then(|| Box::new(DupFinder::new())),
            mode,
            seen: FxHashMap::default(),
            pairs: FxHashMap::default(),
            next_sweep: SWEEP_NS,
            unmapped: 0,
        }
    }

    /// A splitter that never forgets a tuple (as the kernel oracle's `split-dirs.py` does),
    /// for replays that must match it packet for packet whatever the gaps in the capture.
    pub fn remembering_all(mut self) -> Self {
        self.next_sweep = u64::MAX;
        self
    }

    /// Tuples remembered (`flow` mode).
    pub fn tuples(&self) -> usize {
        self.seen.len()
    }

    /// The side the next packet of the trace arrives on, or `None` when it is not an arrival:
    /// in `iface` mode, the copy of a packet already seen arriving, captured again as the
    /// router sent it on (see `dups.rs`).
    pub fn arrival(&mut self, m: &PacketMeta, now: SimTime) -> Option<Side> {
        if let Some(d) = &mut self.dups
            && d.check(m) == CopyKind::Forwarded
        {
            return None;
        }
        Some(self.side(m, now))
    }

    /// The packets found twice in `iface` mode: (forwarded copies skipped, originals found
    /// after their copy and so counted twice).
    pub fn copies(&self) -> (u64, u64) {
        self.dups
            .as_ref()
            .map_or((0, 0), |d| (d.forwarded, d.arrived_late))
    }

    /// The side of the next packet of the trace, arriving at `now` (times never go back).
    pub fn side(&mut self, m: &PacketMeta, now: SimTime) -> Side {
        match &self.mode {
            SideMode::Single => Side::Lan,
            SideMode::Iface(map) => match map.iter().find(|(i, _)| *i == m.iface) {
                Some((_, s)) => *s,
                None => {
                    self.unmapped += 1;
                    Side::Lan
                }
            },
            SideMode::Lan(ps) => {
                if ps.iter().any(|p| p.contains(m.ip_version, m.src)) {
                    Side::Lan
                } else {
                    Side::Wan
                }
            }
            SideMode::Flow => self.flow_side(m, now.0),
        }
    }

    /// Forgets tuples idle past their horizon, and address pairs no tuple uses any more.
    fn sweep(&mut self, now: u64) {
        let pairs = &mut self.pairs;
        self.seen.retain(|k, e| {
            if e.expires >= now {
                return true;
            }
            let a = k.addrs();
            if let Some(p) = pairs.get_mut(&a) {
                p.1 -= 1;
                if p.1 == 0 {
                    pairs.remove(&a);
                }
            }
            false
        });
        if self.seen.capacity() > 4 * self.seen.len() + 4096 {
            self.seen.shrink_to(2 * self.seen.len());
        }
        if self.pairs.capacity() > 4 * self.pairs.len() + 4096 {
            self.pairs.shrink_to(2 * self.pairs.len());
        }
        self.next_sweep = now.saturating_add(SWEEP_NS);
    }

    fn flow_side(&mut self, m: &PacketMeta, now: u64) -> Side {
        if !m.is_ip() {
            return Side::Lan;
        }
        if now >= self.next_sweep {
            self.sweep(now);
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
                .map(|e| e.side)
                .or_else(|| self.seen.get(&irk).map(|e| e.side.flip()));
            side = ik_side.map(Side::flip);
        }
        let closing = m.l4proto == proto::TCP
            && m.l4_present()
            && m.tcp_flags & (tcp_flags::FIN | tcp_flags::RST) != 0;
        // A tuple already seen keeps its side (an ICMP error takes the side opposite to the
        // flow it quotes), and its address pair is already recorded: the two are remembered
        // and forgotten together and `k` names the same addresses.
        let side = if let Some(e) = self.seen.get_mut(&k) {
            e.touch(m, now);
            side.unwrap_or(e.side)
        } else {
            let side = side
                .or_else(|| self.seen.get(&rk).map(|e| e.side.flip()))
                .or_else(|| self.pairs.get(&(m.src, m.dst)).map(|p| p.0))
                .or_else(|| self.pairs.get(&(m.dst, m.src)).map(|p| p.0.flip()))
                .unwrap_or(Side::Lan);
            let mut e = Seen {
                side,
                closing: false,
                expires: 0,
            };
            e.touch(m, now);
            self.seen.insert(k, e);
            self.pairs.entry((m.src, m.dst)).or_insert((side, 0)).1 += 1;
            side
        };
        if closing && let Some(r) = self.seen.get_mut(&rk) {
            // The connection is closing in both directions.
            r.closing = true;
            r.expires = now.saturating_add(TCP_CLOSING_NS);
        }
        side
    }
}

/// Whether an IPv4 address is one a NAT router's LAN clients use: RFC 1918 private, or the
/// RFC 6598 shared space a carrier-grade NAT hands out.
fn private_v4(a: u32) -> bool {
    let o = a.to_be_bytes();
    o[0] == 10
        || (o[0] == 172 && (16..32).contains(&o[1]))
        || (o[0] == 192 && o[1] == 168)
        || (o[0] == 100 && (64..128).contains(&o[1]))
}

/// Whether an IPv4 address is globally routed: not private, shared, loopback, link-local,
/// multicast, broadcast, unspecified, reserved, or one of the documentation ranges test
/// traces use.
fn global_v4(a: u32) -> bool {
    let v = std::net::Ipv4Addr::from(a);
    let o = v.octets();
    !(private_v4(a)
        || v.is_loopback()
        || v.is_link_local()
        || v.is_multicast()
        || v.is_broadcast()
        || v.is_unspecified()
        || o[0] == 0
        || o[0] >= 240
        || (o[0], o[1], o[2]) == (192, 0, 2)
        || (o[0], o[1], o[2]) == (198, 51, 100)
        || (o[0], o[1], o[2]) == (203, 0, 113))
}

/// Signs that a capture taken as arriving on the LAN side was taken on the WAN link: its
/// "LAN clients" are public IPv4 addresses (the router's own, after NAT) and none private,
/// or its LAN-side packets carry PPPoE sessions (`flow` and `single` sides guess the side;
/// a WAN capture makes every connection look like a LAN client's).
#[derive(Clone, Debug, Default)]
pub struct WanHint {
    lan_v4: u64,
    private: u64,
    global: Option<u32>,
    pppoe: u64,
}

impl WanHint {
    /// Notes a packet that arrived on `side`.
    pub fn note(&mut self, m: &PacketMeta, side: Side) {
        if side != Side::Lan || !m.is_ip() {
            return;
        }
        if m.has(flags::PPPOE) {
            self.pppoe += 1;
        }
        if m.ip_version == 4 {
            let a = m.src as u32;
            self.lan_v4 += 1;
            if private_v4(a) {
                self.private += 1;
            } else if self.global.is_none() && global_v4(a) {
                self.global = Some(a);
            }
        }
    }

    /// The warning, if the capture looks taken on the WAN link.
    pub fn warning(&self) -> Option<String> {
        let why = if self.pppoe > 0 {
            format!(
                "{} packets taken as arriving on the LAN side carry a PPPoE session, which only the WAN link has",
                self.pppoe
            )
        } else if let (Some(a), 0) = (self.global, self.private) {
            format!(
                "the {} IPv4 packets taken as coming from LAN clients come from public addresses (e.g. {}) and none from a private one",
                self.lan_v4,
                std::net::Ipv4Addr::from(a)
            )
        } else {
            return None;
        };
        Some(format!(
            "this looks like a capture of the WAN link (after NAT): {why}. The sides mode took the first packet of each connection as a LAN client's. Capture on the LAN device, map a two-interface pcapng with --sides iface=ID:lan,ID:wan, or name the LAN prefixes with --sides lan=CIDR (scenario key ruleset.sides)"
        ))
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use offsim_traces::meta::tcp_flags::{ACK, FIN, SYN};
    use offsim_traces::testkit::Pkt;

    const T0: SimTime = SimTime(0);

    fn at(secs: u64) -> SimTime {
        SimTime(secs * NS_PER_SEC)
    }

    #[test]
    fn flow_mode_first_packet_is_lan() {
        let mut s = SideSplitter::new(SideMode::Flow);
        let q = Pkt::udp("192.0.2.1:1000", "198.51.100.9:53").build();
        let r = Pkt::udp("198.51.100.9:53", "192.0.2.1:1000").build();
        assert_eq!(s.side(&q, T0), Side::Lan);
        assert_eq!(s.side(&r, T0), Side::Wan);
        assert_eq!(s.side(&q, T0), Side::Lan);
        // A new flow between addresses already seen takes the side of the address pair
        // (split-dirs.py does the same), so a server's new flow to the client is WAN side.
        let other = Pkt::udp("198.51.100.9:999", "192.0.2.1:7").build();
        assert_eq!(s.side(&other, T0), Side::Wan);
        // A new flow between new addresses is LAN side.
        let fresh = Pkt::udp("203.0.113.5:999", "192.0.2.77:7").build();
        assert_eq!(s.side(&fresh, T0), Side::Lan);
        // ICMP error about the first flow, sent by some router towards the client: WAN.
        let err = Pkt::icmp("203.0.113.1", "192.0.2.1", 3, 3, 0)
            .quoting(&q)
            .build();
        assert_eq!(s.side(&err, T0), Side::Wan);
        // Echo request/reply.
        let e = Pkt::icmp("192.0.2.1", "198.51.100.9", 8, 0, 5).build();
        let er = Pkt::icmp("198.51.100.9", "192.0.2.1", 0, 0, 5).build();
        assert_eq!(s.side(&e, T0), Side::Lan);
        assert_eq!(s.side(&er, T0), Side::Wan);
    }

    #[test]
    fn prefix_mode() {
        let mut s = SideSplitter::new(SideMode::parse("lan=192.0.2.0/24,2001:db8:1::/48").unwrap());
        assert_eq!(
            s.side(&Pkt::udp("192.0.2.7:1", "198.51.100.1:2").build(), T0),
            Side::Lan
        );
        assert_eq!(
            s.side(&Pkt::udp("198.51.100.1:2", "192.0.2.7:1").build(), T0),
            Side::Wan
        );
        assert_eq!(
            s.side(
                &Pkt::udp("[2001:db8:1::5]:1", "[2001:db8:2::1]:2").build(),
                T0
            ),
            Side::Lan
        );
        assert!(SideMode::parse("lan=").is_err());
        assert!(SideMode::parse("lan=300.1.1.1/8").is_err());
        assert!(SideMode::parse("both").is_err());
    }

    #[test]
    fn a_wan_capture_is_recognised() {
        let mut h = WanHint::default();
        let out = Pkt::udp("81.2.69.160:40000", "8.8.8.8:53").build();
        h.note(&out, Side::Lan);
        h.note(
            &Pkt::udp("8.8.8.8:53", "81.2.69.160:40000").build(),
            Side::Wan,
        );
        let w = h.warning().expect("warning");
        assert!(
            w.contains("81.2.69.160") && w.contains("--sides iface="),
            "{w}"
        );
        // One private LAN client: a LAN capture.
        h.note(&Pkt::udp("192.168.1.2:1", "8.8.8.8:53").build(), Side::Lan);
        assert!(h.warning().is_none());
        // Documentation addresses (test traces) say nothing.
        let mut h = WanHint::default();
        h.note(
            &Pkt::udp("192.0.2.1:1", "198.51.100.1:53").build(),
            Side::Lan,
        );
        assert!(h.warning().is_none());
        let mut p = Pkt::udp("192.168.1.2:1", "8.8.8.8:53").build();
        p.flags |= flags::PPPOE;
        h.note(&p, Side::Lan);
        assert!(h.warning().unwrap().contains("PPPoE"));
    }

    #[test]
    fn iface_mode_maps_interfaces_and_skips_forwarded_copies() {
        let m = SideMode::parse("iface=0:lan,1:wan").unwrap();
        assert_eq!(m, SideMode::Iface(vec![(0, Side::Lan), (1, Side::Wan)]));
        for bad in [
            "iface=",
            "iface=0:lan",
            "iface=0:lan,0:wan",
            "iface=x:wan",
            "iface=1:up",
        ] {
            assert!(SideMode::parse(bad).is_err(), "{bad}");
        }
        let mut s = SideSplitter::new(m);
        let mut q = Pkt::udp("192.168.1.10:5000", "198.51.100.1:53")
            .ttl(64)
            .build();
        let mut q2 = Pkt::udp("203.0.113.2:5000", "198.51.100.1:53")
            .ttl(63)
            .build();
        let mut r = Pkt::udp("198.51.100.1:53", "203.0.113.2:5000")
            .ttl(60)
            .build();
        let mut r2 = Pkt::udp("198.51.100.1:53", "192.168.1.10:5000")
            .ttl(59)
            .build();
        (q.iface, q2.iface, r.iface, r2.iface) = (0, 1, 1, 0);
        assert_eq!(s.arrival(&q, T0), Some(Side::Lan));
        assert_eq!(s.arrival(&q2, T0), None);
        assert_eq!(s.arrival(&r, T0), Some(Side::Wan));
        assert_eq!(s.arrival(&r2, T0), None);
        assert_eq!(s.copies(), (2, 0));
        let mut other = Pkt::udp("192.168.1.11:1", "198.51.100.1:2").build();
        other.iface = 7;
        assert_eq!(s.arrival(&other, T0), Some(Side::Lan));
        assert_eq!(s.unmapped, 1);
    }

    /// An idle tuple is forgotten once conntrack could no longer hold it; a busy one never.
    #[test]
    fn idle_tuples_are_forgotten_after_their_horizon() {
        let mut s = SideSplitter::new(SideMode::Flow);
        let q = Pkt::udp("192.0.2.1:1000", "198.51.100.9:53").build();
        let r = Pkt::udp("198.51.100.9:53", "192.0.2.1:1000").build();
        assert_eq!(s.side(&q, at(0)), Side::Lan);
        assert_eq!(s.side(&r, at(1)), Side::Wan);
        // Within the UDP horizon (180 s after the last packet) the reply keeps its side.
        assert_eq!(s.side(&r, at(170)), Side::Wan);
        assert_eq!(s.tuples(), 2);
        // Long after: both tuples and the address pairs are gone, the next packet starts a
        // new flow and is LAN side, as a fresh conntrack entry's ORIGINAL direction.
        let other = Pkt::udp("203.0.113.5:9", "192.0.2.77:7").build();
        s.side(&other, at(1000));
        assert_eq!(s.tuples(), 1);
        assert!(s.pairs.len() == 1, "{:?}", s.pairs);
        assert_eq!(s.side(&r, at(1001)), Side::Lan);

        // An established TCP connection is remembered however long it is idle.
        let mut s = SideSplitter::new(SideMode::Flow);
        let c = "192.0.2.10:40000";
        let v = "198.51.100.1:443";
        assert_eq!(
            s.side(&Pkt::tcp4(c, v).flags(SYN).build(), at(0)),
            Side::Lan
        );
        assert_eq!(
            s.side(&Pkt::tcp4(v, c).flags(SYN | ACK).build(), at(0)),
            Side::Wan
        );
        s.side(&Pkt::tcp4(c, v).flags(ACK).build(), at(0));
        let late = Pkt::tcp4(v, c).flags(ACK).payload(100).build();
        assert_eq!(s.side(&late, at(100_000)), Side::Wan);
        // After FIN both directions close: 120 s later they are forgotten.
        s.side(&Pkt::tcp4(c, v).flags(FIN | ACK).build(), at(100_001));
        s.side(&Pkt::tcp4(v, c).flags(FIN | ACK).build(), at(100_001));
        s.side(
            &Pkt::udp("203.0.113.5:9", "192.0.2.77:7").build(),
            at(100_200),
        );
        assert_eq!(s.tuples(), 1);

        // An unanswered SYN (a flood's spoofed source) goes after the handshake timeout.
        let mut s = SideSplitter::new(SideMode::Flow);
        s.side(&Pkt::tcp4("203.0.113.9:1234", v).flags(SYN).build(), at(0));
        s.side(&Pkt::udp("203.0.113.5:9", "192.0.2.77:7").build(), at(119));
        assert_eq!(s.tuples(), 2);
        s.side(&Pkt::udp("203.0.113.5:9", "192.0.2.77:7").build(), at(200));
        assert_eq!(s.tuples(), 1);
    }

    /// `remembering_all` never forgets (kernel-oracle replays).
    #[test]
    fn remembering_all_keeps_everything() {
        let mut s = SideSplitter::new(SideMode::Flow).remembering_all();
        let q = Pkt::udp("192.0.2.1:1000", "198.51.100.9:53").build();
        let r = Pkt::udp("198.51.100.9:53", "192.0.2.1:1000").build();
        s.side(&q, at(0));
        assert_eq!(s.side(&r, at(1_000_000)), Side::Wan);
        assert_eq!(s.tuples(), 2);
    }
}
