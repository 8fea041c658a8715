//! NAT as `nf_nat` does it: the binding a NAT statement sets up for a connection's first
//! packet ([`setup`]: `nf_nat_setup_info` → `get_unique_tuple`, which rewrites the
//! connection's REPLY tuple), the rewrite of every packet of a NATed connection at the NAT
//! hooks ([`manip_packet`]: `nf_nat_packet`, and `nf_nat_icmp_reply_translation` for ICMP
//! errors), and how a capture taken on the LAN side looks on the WAN wire ([`wan_view`]).
//!
//! The NAT hooks sit at fixed priorities whatever the priority of the `nat` chains they run
//! (`nf_nat_register_fn` orders the chains only among themselves): DNAT at −100 in
//! PREROUTING and OUTPUT, SNAT at +100 in POSTROUTING and INPUT (`nf_nat_ipv4_ops`).

use offsim_nft::NatRequest;
use offsim_nft::ast::NatKind;
use offsim_traces::meta::{FlowKey, PacketMeta, flags, is_icmp_echo, proto};
use offsim_traces::time::SimTime;

use crate::conntrack::{Conntrack, CtId, CtInfo, Dir, GroupId, Round, ct_tuple, invert, status};
use crate::fib::Fib;

/// `nat_done` index of the destination manipulation (PREROUTING, OUTPUT).
pub(super) const DST: usize = 0;
/// `nat_done` index of the source manipulation (POSTROUTING, INPUT).
pub(super) const SRC: usize = 1;

/// NAT hook priority of a manipulation (`NF_IP_PRI_NAT_DST`, `NF_IP_PRI_NAT_SRC`).
pub(super) fn hook_priority(mt: usize) -> i32 {
    if mt == DST { -100 } else { 100 }
}

/// Whether a protocol's tuple has ports NAT can change (`nf_nat_l4proto_unique_tuple`).
fn has_ports(p: u8) -> bool {
    matches!(
        p,
        proto::TCP | proto::UDP | proto::UDPLITE | proto::SCTP | 33
    )
}

/// The manipulated part of a tuple: (address, port or ICMP echo id).
fn part(t: &FlowKey, mt: usize) -> (u128, u16) {
    match (mt, t.proto) {
        // The ICMP id sits in the source part for both manipulations.
        (_, proto::ICMP | proto::ICMPV6) => (if mt == SRC { t.src } else { t.dst }, t.sport),
        (SRC, _) => (t.src, t.sport),
        _ => (t.dst, t.dport),
    }
}

fn set_part(t: &mut FlowKey, mt: usize, addr: u128, port: Option<u16>) {
    let icmp = matches!(t.proto, proto::ICMP | proto::ICMPV6);
    if mt == SRC {
        t.src = addr;
    } else {
        t.dst = addr;
    }
    if let Some(p) = port {
        if icmp || mt == SRC {
            t.sport = p;
        } else {
            t.dport = p;
        }
    }
}

/// Whether the id/port of `t` may be changed (ICMP echo ids, ports).
fn l4_mappable(t: &FlowKey) -> bool {
    has_ports(t.proto) || (matches!(t.proto, proto::ICMP | proto::ICMPV6) && t.sport != 0)
}

/// `nf_nat_used_tuple`: another connection already answers to the reply of `t`.
fn used(ct: &Conntrack, now: SimTime, t: &FlowKey) -> bool {
    invert(t).is_some_and(|r| ct.peek(now, &r).is_some())
}

/// A NAT range: the addresses (first, last) and ports (first, last) a rule gives, `None`
/// where it gives none.
type NatRange = (Option<(u128, u128)>, Option<(u16, u16)>);

/// What a NAT statement maps to: the address range (`None`: addresses unchanged) and the
/// port range (`None`: not specified). `None` when the statement drops the packet.
fn range_of(
    req: &NatRequest,
    version: u8,
    dst: u128,
    fib: &Fib,
    iif: Option<u32>,
    oif: Option<u32>,
    local_out: bool,
) -> Option<NatRange> {
    let addr = match req.kind {
        NatKind::Snat | NatKind::Dnat => req.addr,
        // nf_nat_masquerade_ipv4: `inet_select_addr(out, …)`; none → NF_DROP
        // ("… ate my IP address"); IPv6: `nat_ipv6_dev_get_saddr`.
        NatKind::Masquerade => {
            let a = fib.select_src(version, oif?, dst)?;
            Some((a, a))
        }
        // nf_nat_redirect_ipv4/ipv6: loopback for locally generated packets, else the
        // input device's first address of the family; none → NF_DROP.
        NatKind::Redirect => {
            let a = if local_out {
                if version == 4 { 0x7f00_0001 } else { 1 }
            } else {
                fib.device(iif?)?
                    .addrs
                    .iter()
                    .find(|a| a.version == version)?
                    .addr
            };
            Some((a, a))
        }
    };
    Some((addr, req.port))
}

/// `NF_NAT_MAX_ATTEMPTS` (`nf_nat_core.c`).
const NF_NAT_MAX_ATTEMPTS: u32 = 128;

/// A generator state from the tuple and the count of connections created so far.
fn nat_seed(t: &FlowKey, created: u64) -> u64 {
    let mut h = created ^ 0x9e37_79b9_7f4a_7c15;
    for w in [
        t.src as u64,
        (t.src >> 64) as u64,
        t.dst as u64,
        (t.dst >> 64) as u64,
        (u64::from(t.sport) << 32) | (u64::from(t.dport) << 16) | u64::from(t.proto),
    ] {
        h = splitmix64(h ^ w);
    }
    h
}

fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The next 16-bit draw (`get_random_u16`).
fn next_u16(state: &mut u64) -> u32 {
    *state = splitmix64(*state);
    (*state >> 48) as u32
}

/// `nf_nat_setup_info` for connection `id` and manipulation `mt`: picks the new tuple
/// (`get_unique_tuple`) and makes the connection's REPLY tuple its inverse
/// (`nf_conntrack_alter_reply`); sets `IPS_SRC_NAT`/`IPS_DST_NAT` only if the tuple
/// changed, and the manipulation's DONE bit. Returns how many `nf_nat_used_tuple` lookups
/// the pick made (the CPU model charges a port search by them), or `None` when the
/// statement drops the packet (masquerade or redirect without an address).
///
/// Where the kernel draws at random (the port search's offsets after a clash) offsim draws
/// from a generator seeded by the tuple and the count of connections created, so a trace
/// picks the same ports on every run; an address range is mapped to its first address (the
/// kernel hashes the source over the range), which only matters when ranges hold several
/// addresses.
///
/// The arguments are those of `nf_nat_setup_info` and what the hook knows (devices, time).
#[allow(clippy::too_many_arguments)]
pub(super) fn setup(
    ct: &mut Conntrack,
    id: CtId,
    req: &NatRequest,
    mt: usize,
    fib: &Fib,
    iif: Option<u32>,
    oif: Option<u32>,
    local_out: bool,
    now: SimTime,
) -> Option<u32> {
    let c = ct.get(id);
    let Some(curr) = invert(&c.reply()) else {
        return Some(0);
    };
    let (addrs, ports) = range_of(req, curr.version, curr.dst, fib, iif, oif, local_out)?;
    let mut lookups = 0;
    let in_range = |t: &FlowKey| {
        let (a, p) = part(t, mt);
        addrs.is_none_or(|(lo, hi)| (lo..=hi).contains(&a))
            && ports.is_none_or(|(lo, hi)| !l4_mappable(t) || (lo..=hi).contains(&p))
    };
    let mut t = curr;
    let unique = 'pick: {
        // 1) SNAT keeps the original tuple if it is in range and unique.
        if mt == SRC && in_range(&curr) {
            lookups += 1;
            if !used(ct, now, &curr) {
                break 'pick curr;
            }
        }
        // 2) find_best_ips_proto.
        if let Some((lo, _)) = addrs {
            let (_, p) = part(&t, mt);
            set_part(&mut t, mt, lo, Some(p));
        }
        // 3) keep the port if in range (and unique), else search the range. An SNAT
        // candidate's reply tuple varies only in its destination port; conntrack may keep
        // an index of that port group (`conntrack/ports.rs`), which gives the lookups'
        // answers without a hash probe each.
        let group = if mt == SRC {
            ct.port_group(&t.reversed(), 0)
        } else {
            None
        };
        let (_, p) = part(&t, mt);
        let mut unused = |t: &FlowKey| {
            lookups += 1;
            !used_in(ct, now, group, t, p)
        };
        let keep = match ports {
            Some((lo, hi)) => {
                !l4_mappable(&t) || ((lo..=hi).contains(&p) && (lo == hi || unused(&t)))
            }
            None => unused(&t),
        };
        if keep {
            break 'pick t;
        }
        if !l4_mappable(&t) {
            break 'pick t;
        }
        let icmp = matches!(t.proto, proto::ICMP | proto::ICMPV6);
        let (min, size) = match ports {
            Some((lo, hi)) => (
                u32::from(lo.min(hi)),
                u32::from(lo.max(hi) - lo.min(hi)) + 1,
            ),
            None if icmp => (0, 65536),
            // A destination's port is not changed without a range.
            None if mt == DST => break 'pick t,
            None if p < 512 => (1, 511),
            None if p < 1024 => (600, 424),
            None => (1024, 64512),
        };
        lookups += search(ct, now, &mut t, mt, (min, size), group);
        t
    };
    let c = ct.get_mut(id);
    if unique != curr {
        if let Some(r) = invert(&unique) {
            c.alter_reply(r);
        }
        if mt == SRC {
            c.status |= status::SRC_NAT;
            c.nat.snat = true;
        } else {
            c.status |= status::DST_NAT;
            c.nat.dnat = true;
        }
    }
    c.status |= if mt == SRC {
        status::SRC_NAT_DONE
    } else {
        status::DST_NAT_DONE
    };
    c.nat_done[mt] = true;
    Some(lookups)
}

/// `nf_nat_l4proto_unique_tuple`: from a random offset (a destination without a range never
/// gets here; a destination range starts at its first port) tries NF_NAT_MAX_ATTEMPTS (128)
/// ports of `min..min + size`, then halves the window from a new random offset while it is
/// at least 16. Leaves `t` at the first free candidate, or the last one tried, and returns
/// how many it tried (128 + 64 + 32 + 16 + 8 = 248 at most). The kernel's `get_random_u16`
/// is a seeded generator here: the same trace picks the same ports.
fn search(
    ct: &mut Conntrack,
    now: SimTime,
    t: &mut FlowKey,
    mt: usize,
    (min, size): (u32, u32),
    mut group: Option<GroupId>,
) -> u32 {
    let mut tries = 0;
    let mut rng = nat_seed(t, ct.stats.created);
    let mut off = if mt == DST { 0 } else { next_u16(&mut rng) };
    let mut attempts = size.min(NF_NAT_MAX_ATTEMPTS);
    let a = part(t, mt).0;
    loop {
        let round = Round {
            min,
            size,
            at: off % size,
            n: attempts,
        };
        if let Some(g) = group {
            // The round's candidates at once, from the port group's index.
            let free = ct.first_free_port(g, round, now);
            let last = free.unwrap_or(attempts - 1);
            debug_assert!((0..last).all(|i| {
                let mut u = *t;
                set_part(&mut u, mt, a, Some(round.port(i)));
                used(ct, now, &u)
            }));
            set_part(t, mt, a, Some(round.port(last)));
            debug_assert_eq!(free.is_some(), !used(ct, now, t));
            tries += last + 1;
            if free.is_some() {
                return tries;
            }
        } else {
            for i in 0..attempts {
                set_part(t, mt, a, Some(round.port(i)));
                tries += 1;
                if !used(ct, now, t) {
                    return tries;
                }
            }
        }
        // (`off` is drawn again for the next round.)
        if attempts >= size || attempts < 16 {
            return tries;
        }
        // A round found every candidate used (a flood has taken the ports towards this
        // server): conntrack may index the group now.
        if mt == SRC && group.is_none() {
            group = ct.port_group(&t.reversed(), attempts);
        }
        attempts /= 2;
        off = next_u16(&mut rng);
    }
}

/// `used(t)` for a candidate whose manipulated port is `port`, from the candidates' port
/// group when conntrack indexes it (SNAT only: the group is that of the reply tuples).
#[inline]
fn used_in(ct: &Conntrack, now: SimTime, group: Option<GroupId>, t: &FlowKey, port: u16) -> bool {
    let taken = match group {
        Some(g) => ct.port_held(g, port, now),
        None => used(ct, now, t),
    };
    debug_assert_eq!(taken, used(ct, now, t));
    taken
}

/// Rewrites the manipulated part of a packet to `target`'s (`nf_nat_ipv4_manip_pkt`).
fn rewrite(m: &mut PacketMeta, target: &FlowKey, mt: usize) {
    let icmp = matches!(m.l4proto, proto::ICMP | proto::ICMPV6);
    if mt == SRC {
        m.src = target.src;
        if m.has(flags::PORTS) && !icmp {
            m.sport = target.sport;
        }
    } else {
        m.dst = target.dst;
        if m.has(flags::PORTS) && !icmp {
            m.dport = target.dport;
        }
    }
    if icmp && m.l4_present() && is_icmp_echo(m.l4proto, m.icmp_type) {
        m.sport = target.sport;
    }
}

/// `nf_nat_packet` at the NAT hook of manipulation `mt` for a packet of connection `id`
/// seen as `info`: rewrites it if the connection is NATed in the matching way (SNAT shows
/// as a source rewrite on the ORIGINAL direction and a destination rewrite on the REPLY
/// one). A RELATED ICMP error is translated instead (`nf_nat_icmp_reply_translation`): the
/// quoted packet back to what its sender sent, the outer header as a reply to it.
pub(super) fn manip_packet(ct: &Conntrack, id: CtId, info: CtInfo, mt: usize, m: &mut PacketMeta) {
    if !ct.is_live(id) {
        return;
    }
    let c = ct.get(id);
    let dir = info.dir();
    let mut bit = if mt == SRC {
        status::SRC_NAT
    } else {
        status::DST_NAT
    };
    if dir == Dir::Reply {
        bit ^= status::SRC_NAT | status::DST_NAT;
    }
    if c.status & bit == 0 {
        return;
    }
    let other = if dir == Dir::Original {
        c.reply()
    } else {
        c.orig()
    };
    let related_icmp = matches!(info, CtInfo::Related | CtInfo::RelatedReply)
        && matches!(m.l4proto, proto::ICMP | proto::ICMPV6)
        && m.has(flags::ICMP_ERROR);
    if related_icmp {
        // The quoted packet gets the other direction's tuple as is, with the opposite
        // manipulation.
        let inner = &mut m.inner.key;
        let inner_mt = 1 - mt;
        let (a, p) = part(&other, inner_mt);
        if inner_mt == SRC {
            inner.src = a;
        } else {
            inner.dst = a;
        }
        if m.inner.l4_present && has_ports(inner.proto) {
            if inner_mt == SRC {
                inner.sport = p;
            } else {
                inner.dport = p;
            }
        }
        if let Some(t) = invert(&other) {
            if mt == SRC {
                m.src = t.src;
            } else {
                m.dst = t.dst;
            }
        }
        return;
    }
    if let Some(target) = invert(&other) {
        rewrite(m, &target, mt);
    }
}

/// A packet captured on the LAN side as it appears on the WAN wire: a WAN-side packet whose
/// tuple no connection knows, but whose inverse is a direction of a NATed connection, is
/// the other direction as seen before NAT; a real WAN peer sends that direction's tuple
/// (the masqueraded reply goes to the router's address, not the client's). ICMP errors
/// about such a connection quote its WAN-side tuple. Returns whether the packet changed.
///
/// Traces captured on the WAN side, and packets of connections without NAT, are left as
/// they are (their tuples are known as they are).
pub fn wan_view(ct: &Conntrack, now: SimTime, m: &mut PacketMeta) -> bool {
    match wan_edit(ct, now, m) {
        Some(e) => {
            e.apply(m);
            true
        }
        None => false,
    }
}

/// What [`wan_view`] changes in a packet, found without copying it: most WAN-side packets
/// are left as they are, and the datapath then reads the captured packet in place.
#[derive(Clone, Copy, Debug)]
pub(crate) enum WanEdit {
    /// An ICMP error: its quoted tuple, and its destination if that was the quoted source.
    Quoted { dst: Option<u128>, inner: FlowKey },
    /// The packet's own tuple.
    Tuple(FlowKey),
}

impl WanEdit {
    /// Makes the change in `m`.
    pub(crate) fn apply(self, m: &mut PacketMeta) {
        match self {
            WanEdit::Quoted { dst, inner } => {
                if let Some(d) = dst {
                    m.dst = d;
                }
                m.inner.key = inner;
            }
            WanEdit::Tuple(t) => {
                m.src = t.src;
                m.dst = t.dst;
                if m.has(flags::PORTS) {
                    m.sport = t.sport;
                    m.dport = t.dport;
                } else if matches!(m.l4proto, proto::ICMP | proto::ICMPV6) && m.l4_present() {
                    m.sport = t.sport;
                }
            }
        }
    }
}

/// The change [`wan_view`] makes to `m`, if any.
pub(crate) fn wan_edit(ct: &Conntrack, now: SimTime, m: &PacketMeta) -> Option<WanEdit> {
    if !m.is_ip() {
        return None;
    }
    if m.has(flags::ICMP_ERROR) {
        // Conntrack looks an error up by the inverse of the packet it quotes.
        let q = m.inner.key;
        if invert(&q).is_none_or(|r| ct.peek(now, &r).is_some()) {
            return None;
        }
        let (id, d) = nated(ct, now, &q)?;
        // The quoted packet is direction `d` as the LAN side saw it; beyond NAT that
        // direction carries the inverse of the other direction's tuple.
        let wan = invert(&other_tuple(ct, id, d))?;
        return Some(WanEdit::Quoted {
            dst: (m.dst == q.src).then_some(wan.src),
            inner: wan,
        });
    }
    let k = ct_tuple(m)?;
    if ct.peek(now, &k).is_some() {
        return None;
    }
    let inv = invert(&k)?;
    let (id, d) = nated(ct, now, &inv)?;
    Some(WanEdit::Tuple(other_tuple(ct, id, d)))
}

/// The NATed connection one of whose tuples is `q`, and which direction that is.
fn nated(ct: &Conntrack, now: SimTime, q: &FlowKey) -> Option<(CtId, Dir)> {
    let (id, d) = ct.peek(now, q)?;
    ct.get(id).reply_altered().then_some((id, d))
}

/// The tuple of the direction opposite `d` of connection `id` (inlined, as `Conn::reply`).
#[inline]
fn other_tuple(ct: &Conntrack, id: CtId, d: Dir) -> FlowKey {
    let c = ct.get(id);
    if d == Dir::Original {
        c.reply()
    } else {
        c.orig()
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::conntrack::{CtConfig, Track};
    use crate::fib::FibSpec;
    use crate::sides::SideMode;
    use offsim_traces::testkit::Pkt;
    use offsim_traces::time::NS_PER_SEC;

    fn fib() -> Fib {
        Fib::build(
            &FibSpec::default(),
            ("lan0", 2),
            ("wan0", 3),
            &SideMode::Single,
        )
        .unwrap()
    }

    fn req(kind: NatKind, addr: Option<&str>, port: Option<(u16, u16)>) -> NatRequest {
        let a = addr.map(|s| {
            let v = u128::from(u32::from(s.parse::<std::net::Ipv4Addr>().unwrap()));
            (v, v)
        });
        NatRequest {
            kind,
            family: 4,
            addr: a,
            port,
            flags: 0,
        }
    }

    /// `setup` as the hooks call it: SNAT on a connection forwarded from the LAN device (2)
    /// to the WAN device (3), DNAT on one arriving on the WAN device before routing.
    fn nat_at(
        ct: &mut Conntrack,
        id: CtId,
        req: &NatRequest,
        mt: usize,
        fib: &Fib,
        now: SimTime,
    ) -> Option<u32> {
        let (iif, oif) = if mt == SRC {
            (Some(2), Some(3))
        } else {
            (Some(3), None)
        };
        setup(ct, id, req, mt, fib, iif, oif, false, now)
    }

    fn new_conn(ct: &mut Conntrack, m: &PacketMeta) -> CtId {
        match ct.track(SimTime(1), m) {
            Track::Tracked { id, .. } => id,
            t => panic!("{t:?}"),
        }
    }

    /// Masquerades `n` new connections from distinct clients to one server, one every 5 ms,
    /// into a range of 5,000 ports: the range fills, some clients come again (which, once
    /// their entry has expired, reaps it), some entries are deleted, and every later
    /// connection searches a full or nearly full range. UDP queries on a table without a
    /// limit expire after 30 s unreplied while still in the table; TCP SYNs go into a table
    /// of 6,000 entries (`early_drop`) that the garbage collector walks. Returns each
    /// connection's reply tuple (`None` when it was dropped) with the `nf_nat_used_tuple`
    /// lookups its setup made, and whether the port group was indexed; checks now and then
    /// that the index answers as the lookups for every port.
    fn masquerade_flood(n: u32, tcp: bool, index: bool) -> (Vec<(Option<FlowKey>, u32)>, bool) {
        let cfg = CtConfig {
            max_entries: tcp.then_some(6000),
            ..CtConfig::default()
        };
        let mut ct = Conntrack::new(cfg);
        if !index {
            ct.without_port_groups();
        }
        let f = fib();
        let masq = req(NatKind::Masquerade, None, Some((1024, 6023)));
        let mut out = Vec::new();
        let mut ids = Vec::new();
        let mut indexed = false;
        for i in 0..n {
            // Every 7th connection repeats the client of 8,000 connections before.
            let c = if i % 7 == 0 && i >= 8000 { i - 8000 } else { i };
            let client = format!("10.{}.{}.{}:40000", c >> 16, (c >> 8) & 255, c & 255);
            let q = if tcp {
                Pkt::tcp4(&client, "198.51.100.1:443")
                    .flags(offsim_traces::meta::tcp_flags::SYN)
                    .build()
            } else {
                Pkt::udp(&client, "198.51.100.1:53").build()
            };
            let now = SimTime(u64::from(i) * 5_000_000);
            if tcp && i % 10 == 0 {
                ct.gc(now, 64);
            }
            let Track::Tracked { id, new_entry, .. } = ct.track(now, &q) else {
                out.push((None, 0));
                continue;
            };
            if !new_entry {
                out.push((Some(ct.get(id).reply()), 0));
                continue;
            }
            let lookups = nat_at(&mut ct, id, &masq, SRC, &f, now);
            let lookups = lookups.expect("masquerade to the WAN address");
            let r = ct.get(id).reply();
            indexed |= ct.port_group(&r, 0).is_some();
            let confirmed = ct.confirm(id, now);
            out.push((confirmed.then_some(r), lookups));
            if confirmed {
                ids.push(id);
            }
            // Now and then an entry is deleted (`conntrack -D`) 50 connections later.
            if i % 13 == 0 && ids.len() > 50 {
                let old = ids.swap_remove(ids.len() - 50);
                ct.remove(old);
            }
            // Now and then an entry's timeout is cut short (as an RST would: the port is free
            // from the next connection on) or stretched, under the port index's bounds.
            if i % 11 == 0 && ids.len() > 30 {
                let j = ids[ids.len() - 30];
                let c = ct.get(j);
                if ct.is_live(j) && c.status & status::CONFIRMED != 0 {
                    let t = if i % 88 == 0 {
                        SimTime(now.0 + 1)
                    } else {
                        SimTime(c.expires().0 + 60 * NS_PER_SEC)
                    };
                    ct.set_expires(j, t);
                }
            }
            // The index answers as the lookups for every port, not only those searched.
            if let Some(g) = ct.port_group(&r, 0)
                && i % 1000 == 999
            {
                for p in 0..=u16::MAX {
                    let k = FlowKey { dport: p, ..r };
                    assert_eq!(
                        ct.port_held(g, p, now),
                        ct.peek(now, &k).is_some(),
                        "{i} {p}"
                    );
                }
            }
        }
        (out, indexed)
    }

    #[test]
    fn the_port_search_answers_the_same_from_the_port_index() {
        for tcp in [false, true] {
            let (with, indexed) = masquerade_flood(12_000, tcp, true);
            let (without, never) = masquerade_flood(12_000, tcp, false);
            assert!(indexed && !never, "tcp {tcp}");
            assert_eq!(with, without, "tcp {tcp}");
            // The flood did what it is for: the range filled (connections dropped on a
            // clash, after the whole search: 128 + 64 + 32 + 16 + 8 candidates; the source
            // port, outside the range, is not looked up) and freed ports were taken again.
            let dropped = with.iter().filter(|(r, _)| r.is_none()).count();
            assert!(dropped > 100, "tcp {tcp}: {dropped}");
            let most = with.iter().map(|&(_, n)| n).max();
            assert_eq!(most, Some(248), "tcp {tcp}");
            assert!(with.iter().any(|&(r, n)| r.is_some() && n > 1), "tcp {tcp}");
            assert!(with[9000..].iter().any(|(r, _)| r.is_some()), "tcp {tcp}");
        }
    }

    #[test]
    fn masquerade_keeps_the_port_and_rewrites_replies() {
        let mut ct = Conntrack::new(CtConfig::default());
        let q = Pkt::udp("192.168.1.100:5000", "198.51.100.1:53").build();
        let id = new_conn(&mut ct, &q);
        let f = fib();
        assert!(
            nat_at(
                &mut ct,
                id,
                &req(NatKind::Masquerade, None, None),
                SRC,
                &f,
                SimTime(1)
            )
            .is_some()
        );
        let c = ct.get(id);
        assert_eq!(c.status & status::SRC_NAT, status::SRC_NAT);
        let wan = u128::from(u32::from(std::net::Ipv4Addr::new(100, 64, 0, 1)));
        assert_eq!((c.reply().dst, c.reply().dport), (wan, 5000));
        // The forwarded query leaves with the router's address.
        let mut out = q;
        manip_packet(&ct, id, CtInfo::New, SRC, &mut out);
        assert_eq!((out.src, out.sport), (wan, 5000));
        assert!(ct.confirm(id, SimTime(1)));
        // The reply as the LAN side captured it becomes what the server sends.
        let mut r = Pkt::udp("198.51.100.1:53", "192.168.1.100:5000").build();
        assert!(wan_view(&ct, SimTime(2), &mut r));
        assert_eq!((r.dst, r.dport), (wan, 5000));
        assert!(!wan_view(&ct, SimTime(2), &mut r));
        // At PREROUTING it is translated back to the client.
        manip_packet(&ct, id, CtInfo::EstablishedReply, DST, &mut r);
        assert_eq!((r.dst, r.dport), (q.src, 5000));
    }

    #[test]
    fn dnat_port_forward_and_clashes() {
        let mut ct = Conntrack::new(CtConfig::default());
        let f = fib();
        let m = Pkt::tcp4("203.0.113.9:40000", "100.64.0.1:2222")
            .flags(offsim_traces::meta::tcp_flags::SYN)
            .build();
        let id = new_conn(&mut ct, &m);
        assert!(
            nat_at(
                &mut ct,
                id,
                &req(NatKind::Dnat, Some("192.168.1.10"), Some((22, 22))),
                DST,
                &f,
                SimTime(1)
            )
            .is_some()
        );
        let c = ct.get(id);
        assert_eq!(
            c.reply().src,
            u128::from(u32::from(std::net::Ipv4Addr::new(192, 168, 1, 10)))
        );
        assert_eq!(c.reply().sport, 22);
        assert_eq!(c.status & status::DST_NAT, status::DST_NAT);
        assert!(ct.confirm(id, SimTime(1)));
        // A second client masqueraded from the same port to the same server clashes: it
        // gets the next free port.
        let a = Pkt::udp("192.168.1.100:5000", "198.51.100.1:53").build();
        let b = Pkt::udp("192.168.1.101:5000", "198.51.100.1:53").build();
        let (ia, ib) = (new_conn(&mut ct, &a), new_conn(&mut ct, &b));
        let masq = req(NatKind::Masquerade, None, None);
        assert!(nat_at(&mut ct, ia, &masq, SRC, &f, SimTime(1)).is_some());
        assert!(ct.confirm(ia, SimTime(1)));
        assert!(nat_at(&mut ct, ib, &masq, SRC, &f, SimTime(1)).is_some());
        // The clash moves the second connection to another port of 1024-65535, from a
        // random start (nf_nat_l4proto_unique_tuple), the same one on every run.
        let p = ct.get(ib).reply().dport;
        assert!((1024..=65535).contains(&p) && p != 5000, "{p}");
        assert_eq!(p, 37098);
        // Masquerade without an address drops; `snat` to the original address changes
        // nothing and sets no NAT bit.
        let none = Fib::build(
            &FibSpec {
                addrs: vec![crate::fib::AddrSpec::parse("lan0=2001:db8::1").unwrap()],
                ..FibSpec::default()
            },
            ("lan0", 2),
            ("wan0", 3),
            &SideMode::Single,
        )
        .unwrap();
        let x = Pkt::udp("192.168.1.102:7", "198.51.100.1:53").build();
        let ix = new_conn(&mut ct, &x);
        assert!(nat_at(&mut ct, ix, &masq, SRC, &none, SimTime(1)).is_none());
        assert!(
            nat_at(
                &mut ct,
                ix,
                &req(NatKind::Snat, Some("192.168.1.102"), None),
                SRC,
                &f,
                SimTime(1)
            )
            .is_some()
        );
        assert_eq!(ct.get(ix).status & status::SRC_NAT, 0);
        assert_eq!(
            ct.get(ix).status & status::SRC_NAT_DONE,
            status::SRC_NAT_DONE
        );
    }
}
