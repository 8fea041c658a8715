//! What the kernel's IP receive and forward paths do to a packet around the netfilter hooks:
//! the checks in `ip_rcv_core`/`ipv6_rcv` before PREROUTING, the routing decision after it
//! (forward out of a device, deliver locally, or drop: martians, multicast nobody joined,
//! no route, TTL ≤ 1, link-local), and IPv4/IPv6 reassembly by `nf_defrag` at PREROUTING
//! −400 (so rules and conntrack see one packet per datagram).
//!
//! Routes, addresses and multicast memberships come from the router's [`Fib`]. The router
//! runs no multicast routing and `rp_filter` is off, as on the kernel oracle's router. Every
//! frame is taken as addressed to the router at layer 2 (the oracle rewrites destination
//! MACs the same way), so link-layer broadcast/multicast frames are judged by their IP header.

use offsim_traces::hash::FxHashMap;
use offsim_traces::meta::{PacketMeta, flags};
use offsim_traces::time::{NS_PER_SEC, SimTime};

use crate::fib::{Fib, LocalDest};

/// Why a packet never reaches PREROUTING (`ip_rcv_core` / `ipv6_rcv` drops).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RcvDrop {
    /// Not IP (ARP, LLDP …): never reaches the inet hooks.
    NotIp,
    /// Malformed IP header or lengths.
    Malformed,
    /// IPv6 multicast or loopback source, v4-mapped source, or multicast scope 0/1.
    Ipv6Martian,
}

/// Where the routing decision after PREROUTING sends a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// FORWARD then POSTROUTING, out of device `oif`.
    Forward {
        /// Output interface index.
        oif: u32,
    },
    /// INPUT: to one of the router's addresses (`unicast`), or a broadcast or a multicast
    /// group the input device joined.
    LocalIn {
        /// Addressed to one of the router's addresses (the stack answers unicast only).
        unicast: bool,
    },
    /// Dropped by routing / `ip_forward`.
    Drop(RouteDrop),
}

/// Why routing refused to forward.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RouteDrop {
    /// Martian source or destination (0/8, 127/8, multicast/broadcast source).
    Martian,
    /// Multicast destination (no multicast routing).
    Multicast,
    /// TTL or hop limit ≤ 1 (an ICMP time exceeded would be sent instead).
    TtlExpired,
    /// IPv6 link-local source or destination.
    LinkLocal,
    /// No route to the destination (`ip_route_input_slow`: no_route).
    NoRoute,
}

impl RouteDrop {
    /// Short name for reports.
    pub fn name(self) -> &'static str {
        match self {
            RouteDrop::Martian => "martian",
            RouteDrop::Multicast => "multicast",
            RouteDrop::TtlExpired => "ttl_expired",
            RouteDrop::LinkLocal => "link_local",
            RouteDrop::NoRoute => "no_route",
        }
    }
}

/// The checks before PREROUTING.
pub fn rcv_check(m: &PacketMeta) -> Result<(), RcvDrop> {
    if m.malformed.is_some() {
        return Err(RcvDrop::Malformed);
    }
    if m.ip_version == 0 {
        return Err(RcvDrop::NotIp);
    }
    if m.ip_version == 6 {
        let s = m.src;
        let d = m.dst;
        let s_mcast = s >> 120 == 0xff;
        let loopback = |a: u128| a == 1;
        let v4mapped = s >> 32 == 0xffff;
        let d_mcast_scope = if d >> 120 == 0xff {
            Some(((d >> 112) & 0x0f) as u8)
        } else {
            None
        };
        if s_mcast || loopback(s) || loopback(d) || v4mapped || matches!(d_mcast_scope, Some(0 | 1))
        {
            return Err(RcvDrop::Ipv6Martian);
        }
    }
    Ok(())
}

/// The routing decision after PREROUTING for a packet received on `iif`
/// (`ip_route_input_rcu` / `ip_route_input_slow` / `ip_forward`'s TTL check; IPv6
/// `ip6_route_input` / `ip6_forward`). `m.ttl` is the TTL as received.
pub fn route(m: &PacketMeta, fib: &Fib, iif: u32) -> Route {
    if m.ip_version == 4 {
        return route_v4(m, fib, iif);
    }
    let d = m.dst;
    let s = m.src;
    if d >> 120 == 0xff {
        // ip6_mc_input: delivered only if the device joined the group.
        return if fib.joined(iif, 6, d) {
            Route::LocalIn { unicast: false }
        } else {
            Route::Drop(RouteDrop::Multicast)
        };
    }
    let link_local = |a: u128| a >> 118 == 0x3fa; // fe80::/10
    if fib.is_local(6, d) {
        return Route::LocalIn { unicast: true };
    }
    if link_local(d) {
        return Route::Drop(RouteDrop::LinkLocal);
    }
    if m.ttl <= 1 {
        return Route::Drop(RouteDrop::TtlExpired);
    }
    if link_local(s) {
        return Route::Drop(RouteDrop::LinkLocal);
    }
    match fib.route_input(6, d, iif) {
        Some(oif) => Route::Forward { oif },
        None => Route::Drop(RouteDrop::NoRoute),
    }
}

fn route_v4(m: &PacketMeta, fib: &Fib, iif: u32) -> Route {
    let s = m.src as u32;
    let d = m.dst as u32;
    let mcast = |a: u32| a >> 28 == 0xe;
    if mcast(d) {
        // ip_route_input_rcu: ours only if the device joined the group
        // (`ip_check_mc_rcu`), then ip_route_input_mc's source checks.
        if !fib.joined(iif, 4, m.dst) {
            return Route::Drop(RouteDrop::Multicast);
        }
        let local_mc = d >> 8 == 0x00e0_0000; // 224.0.0.0/24
        if mcast(s)
            || s == u32::MAX
            || s >> 24 == 127
            || (s == 0 && !local_mc && m.l4proto != offsim_traces::meta::proto::IGMP)
        {
            return Route::Drop(RouteDrop::Martian);
        }
        return Route::LocalIn { unicast: false };
    }
    // ip_route_input_slow
    if mcast(s) || s == u32::MAX {
        return Route::Drop(RouteDrop::Martian);
    }
    if d == u32::MAX || (s == 0 && d == 0) {
        return Route::LocalIn { unicast: false };
    }
    if s >> 24 == 0 || d >> 24 == 0 || s >> 24 == 127 || d >> 24 == 127 {
        return Route::Drop(RouteDrop::Martian);
    }
    match fib.local_dest(4, m.dst) {
        Some(LocalDest::Address) => return Route::LocalIn { unicast: true },
        Some(LocalDest::Broadcast) => return Route::LocalIn { unicast: false },
        None => {}
    }
    let Some(oif) = fib.route_input(4, m.dst, iif) else {
        return Route::Drop(RouteDrop::NoRoute);
    };
    // ip_forward: TTL ≤ 1 is dropped (with an ICMP time exceeded) before FORWARD.
    if m.ttl <= 1 {
        return Route::Drop(RouteDrop::TtlExpired);
    }
    Route::Forward { oif }
}

/// IPv4 fragment reassembly timeout (`ipfrag_time`, 30 s).
pub const IPV4_FRAG_TIMEOUT_S: u64 = 30;
/// IPv6 (`nf_conntrack_frag6_timeout`, 60 s).
pub const IPV6_FRAG_TIMEOUT_S: u64 = 60;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct FragKey {
    src: u128,
    dst: u128,
    id: u32,
    proto: u8,
    version: u8,
}

#[derive(Debug)]
struct Queue {
    first: Option<PacketMeta>,
    /// Covered byte ranges of the fragmentable part, sorted, merged.
    have: Vec<(u32, u32)>,
    /// Total length of the fragmentable part, once the last fragment arrived.
    total: Option<u32>,
    started: SimTime,
    count: u32,
    /// Wire bytes of the fragments held.
    wire: u32,
    /// Largest fragment (IP length).
    max_frag: u32,
}

/// What reassembly did with a packet.
// `PacketMeta` is a Copy summary of about 200 bytes; boxing the reassembled packet would
// allocate per datagram.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Defrag {
    /// Not a fragment: use it as is.
    Whole,
    /// A fragment, held until its datagram is complete.
    Held,
    /// This fragment completed a datagram: here it is, as one packet (timestamp of the last
    /// fragment, L3 length of the whole datagram). `fragments` is how many were joined.
    Complete {
        /// The reassembled packet.
        packet: PacketMeta,
        /// Number of fragments joined.
        fragments: u32,
        /// Their wire bytes (at most 2^16 bytes of IP payload plus per-fragment headers).
        wire_bytes: u32,
        /// The largest fragment's IP length (`frag_max_size`, which decides whether the
        /// forward path may refragment the datagram or must refuse it).
        max_frag: u32,
    },
}

/// IPv4/IPv6 reassembly (`nf_defrag_ipv4` / `nf_defrag_ipv6`).
#[derive(Debug, Default)]
pub struct Defragmenter {
    queues: FxHashMap<FragKey, Queue>,
    /// Datagrams that timed out incomplete (their fragments never reach the hooks).
    pub timed_out: u64,
    /// Fragments held in queues that timed out.
    pub timed_out_fragments: u64,
}

impl Defragmenter {
    /// An empty reassembler.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of incomplete datagrams held.
    pub fn pending(&self) -> usize {
        self.queues.len()
    }

    /// Number of fragments held in incomplete datagrams.
    pub fn held_fragments(&self) -> u64 {
        self.queues.values().map(|q| u64::from(q.count)).sum()
    }

    /// Feeds one packet.
    pub fn push(&mut self, m: &PacketMeta) -> Defrag {
        if !m.has(flags::FRAGMENT) || !m.is_ip() {
            return Defrag::Whole;
        }
        let key = FragKey {
            src: m.src,
            dst: m.dst,
            id: m.ip_id,
            proto: m.l4proto,
            version: m.ip_version,
        };
        let timeout = if m.ip_version == 4 {
            IPV4_FRAG_TIMEOUT_S
        } else {
            IPV6_FRAG_TIMEOUT_S
        } * NS_PER_SEC;
        if let Some(q) = self.queues.get(&key)
            && m.ts.0.saturating_sub(q.started.0) > timeout
        {
            self.timed_out += 1;
            self.timed_out_fragments += u64::from(q.count);
            self.queues.remove(&key);
        }
        let q = self.queues.entry(key).or_insert_with(|| Queue {
            first: None,
            have: Vec::new(),
            total: None,
            started: m.ts,
            count: 0,
            wire: 0,
            max_frag: 0,
        });
        q.count += 1;
        q.wire = q.wire.saturating_add(m.wire_len);
        q.max_frag = q.max_frag.max(m.ip_len);
        let data = m.ip_len.saturating_sub(u32::from(m.ip_hdr_len));
        let off = u32::from(m.frag_offset);
        if off == 0 {
            q.first = Some(*m);
        }
        if !m.has(flags::MORE_FRAGMENTS) {
            q.total = Some(off + data);
        }
        insert_range(&mut q.have, off, off + data);
        let complete = match (q.total, q.first) {
            (Some(t), Some(_)) => q.have.len() == 1 && q.have[0] == (0, t),
            _ => false,
        };
        if !complete {
            return Defrag::Held;
        }
        let q = self.queues.remove(&key).expect("queue present");
        let first = q.first.expect("first fragment present");
        let total = q.total.expect("total known");
        let mut p = first;
        let first_data = first.ip_len.saturating_sub(u32::from(first.ip_hdr_len));
        // The reassembled datagram: the first fragment's headers (IPv6 loses the fragment
        // header), the whole fragmentable payload.
        let hdr = if first.ip_version == 6 {
            u32::from(first.ip_hdr_len).saturating_sub(8)
        } else {
            u32::from(first.ip_hdr_len)
        };
        p.ip_len = hdr + total;
        if first.ip_version == 6 {
            p.ip_hdr_len = hdr as u16;
        }
        p.l4_payload_len = first.l4_payload_len + (total - first_data);
        p.flags &= !(flags::FRAGMENT | flags::MORE_FRAGMENTS);
        // udp_error on the whole datagram: the length field must fit the payload.
        if p.l4proto == offsim_traces::meta::proto::UDP && p.l4_present() {
            let ulen = u32::from(p.udp_len);
            let payload = p.ip_len - u32::from(p.ip_hdr_len);
            if ulen < 8 || ulen > payload {
                p.flags |= flags::UDP_BAD_LENGTH;
            }
        }
        p.frag_offset = 0;
        p.ts = m.ts;
        p.wire_len = p.ip_len + u32::from(p.l3_offset);
        Defrag::Complete {
            packet: p,
            fragments: q.count,
            wire_bytes: q.wire,
            max_frag: q.max_frag,
        }
    }
}

fn insert_range(v: &mut Vec<(u32, u32)>, a: u32, b: u32) {
    if a >= b {
        return;
    }
    v.push((a, b));
    v.sort_unstable();
    let mut out: Vec<(u32, u32)> = Vec::with_capacity(v.len());
    for &(s, e) in v.iter() {
        if let Some(last) = out.last_mut()
            && s <= last.1
        {
            last.1 = last.1.max(e);
            continue;
        }
        out.push((s, e));
    }
    *v = out;
}

#[cfg(test)]
mod test {
    use super::*;
    use offsim_traces::testkit::Pkt;

    #[test]
    fn routing_decisions() {
        use crate::fib::{Fib, FibSpec};
        use crate::sides::SideMode;
        let fib = Fib::build(
            &FibSpec::default(),
            ("lan0", 2),
            ("wan0", 3),
            &SideMode::Single,
        )
        .unwrap();
        let route = |m: &PacketMeta| route(m, &fib, 2);
        let fwd = Pkt::udp("192.0.2.1:1", "198.51.100.1:2").build();
        assert_eq!(route(&fwd), Route::Forward { oif: 3 });
        assert_eq!(
            route(&Pkt::udp("192.0.2.1:1", "198.51.100.1:2").ttl(1).build()),
            Route::Drop(RouteDrop::TtlExpired)
        );
        assert_eq!(
            route(&Pkt::udp("192.0.2.1:68", "255.255.255.255:67").build()),
            Route::LocalIn { unicast: false }
        );
        // The router's own address, whatever the TTL.
        assert_eq!(
            route(&Pkt::udp("192.0.2.1:5", "192.168.1.1:53").ttl(1).build()),
            Route::LocalIn { unicast: true }
        );
        assert_eq!(
            route(&Pkt::udp("192.0.2.1:1", "239.255.255.250:1900").build()),
            Route::Drop(RouteDrop::Multicast)
        );
        // All-hosts is joined by every device (IGMP queries).
        assert_eq!(
            route(&Pkt::udp("192.0.2.1:1", "224.0.0.1:1900").build()),
            Route::LocalIn { unicast: false }
        );
        assert_eq!(
            route(&Pkt::udp("127.0.0.1:1", "198.51.100.1:80").build()),
            Route::Drop(RouteDrop::Martian)
        );
        assert_eq!(
            route(&Pkt::udp("0.1.2.3:1", "198.51.100.1:80").build()),
            Route::Drop(RouteDrop::Martian)
        );
        assert_eq!(
            route(&Pkt::udp("[fe80::1]:1", "[2001:db8::1]:2").build()),
            Route::Drop(RouteDrop::LinkLocal)
        );
        assert_eq!(
            route(&Pkt::udp("[2001:db8::2]:1", "[ff02::fb]:2").build()),
            Route::Drop(RouteDrop::Multicast)
        );
        assert_eq!(
            route(&Pkt::udp("[2001:db8::2]:1", "[ff02::1]:2").build()),
            Route::LocalIn { unicast: false }
        );
        assert_eq!(
            route(&Pkt::udp("[2001:db8::2]:1", "[2001:db8::1]:2").build()),
            Route::Forward { oif: 3 }
        );
        assert_eq!(
            rcv_check(&Pkt::udp("[ff02::1]:1", "[2001:db8::1]:2").build()),
            Err(RcvDrop::Ipv6Martian)
        );
        assert_eq!(rcv_check(&fwd), Ok(()));
    }

    #[test]
    fn reassembles_ipv4_in_any_order() {
        let base = Pkt::udp("192.0.2.1:1000", "198.51.100.1:53").build();
        // Three fragments: 0..1480 (with UDP header), 1480..2960, 2960..3000.
        let mk = |off: u16, data: u32, more: bool, ts: u64| {
            let mut m = base;
            m.ip_id = 77;
            m.flags |= flags::FRAGMENT;
            if more {
                m.flags |= flags::MORE_FRAGMENTS;
            }
            m.frag_offset = off;
            m.ip_len = 20 + data;
            m.wire_len = 14 + m.ip_len;
            m.ts = SimTime(ts);
            if off != 0 {
                m.flags &= !(flags::L4_PRESENT | flags::PORTS);
            } else {
                m.l4_payload_len = data - 8;
            }
            m
        };
        let mut d = Defragmenter::new();
        assert_eq!(d.push(&mk(1480, 1480, true, 1)), Defrag::Held);
        assert_eq!(d.push(&mk(2960, 40, false, 2)), Defrag::Held);
        match d.push(&mk(0, 1480, true, 3)) {
            Defrag::Complete {
                packet,
                fragments,
                wire_bytes,
                max_frag,
            } => {
                assert_eq!(max_frag, 1500);
                assert_eq!(fragments, 3);
                assert_eq!(wire_bytes, 3 * 14 + 3 * 20 + 3000);
                assert_eq!(packet.ip_len, 20 + 3000);
                assert_eq!(packet.l4_payload_len, 3000 - 8);
                assert_eq!(packet.dport, 53);
                assert!(!packet.has(flags::FRAGMENT));
                assert_eq!(packet.ts, SimTime(3));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(d.pending(), 0);
        assert_eq!(d.push(&base), Defrag::Whole);
    }

    #[test]
    fn incomplete_datagrams_time_out() {
        let mut m = Pkt::udp("192.0.2.1:1000", "198.51.100.1:53").build();
        m.flags |= flags::FRAGMENT | flags::MORE_FRAGMENTS;
        m.ip_len = 1500;
        let mut d = Defragmenter::new();
        assert_eq!(d.push(&m), Defrag::Held);
        assert_eq!(d.held_fragments(), 1);
        m.ts = SimTime(31 * NS_PER_SEC);
        assert_eq!(d.push(&m), Defrag::Held);
        assert_eq!(d.timed_out, 1);
        assert_eq!(d.timed_out_fragments, 1);
        assert_eq!(d.held_fragments(), 1);
    }
}
