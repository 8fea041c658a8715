//! Selectors: what a [`Load`] reads from the packet, its conntrack view, the hook's
//! interfaces or the host (`nft_payload_eval`, `nft_meta_get_eval`, `nft_ct_get_eval`,
//! `nft_exthdr_*_eval`, `nft_ng_eval`, `nft_jhash_eval`, `nft_symhash_eval`, `nft_fib_eval`),
//! with the bitwise transform of its [`Src`], and lookup keys packed from them.
//!
//! `None` is a missing field: the rule ends (NFT_BREAK).

use offsim_traces::meta::{NetKind, PacketMeta, flags, is_icmp_echo};

use super::jhash::jhash;
use super::{CtInfo, CtView, FibQuery, Host, PktCtx, RuleState};
use crate::ast::FibResult;
use crate::layout::Halves;
use crate::program::*;

#[inline]
fn xf(v: u128, x: &Xf) -> u128 {
    // Most selectors have no mask, xor or shift: skip the steps below (2–3 % of `rules eval`
    // with fw4 and with the datacenter ruleset).
    debug_assert!(!x.plain || (x.and == u128::MAX && x.xor == 0 && x.shl == 0 && x.shr == 0));
    if x.plain {
        return v & x.width;
    }
    // By 64-bit halves: `v` comes back from `load` through memory as two 8-byte stores,
    // and a 16-byte vector load of it stalls on store forwarding (measured: one
    // instruction held a fifth of a 300-rule ACL's time).
    let lo = (v as u64 & x.and as u64) ^ x.xor as u64;
    let hi = (std::hint::black_box((v >> 64) as u64) & (x.and >> 64) as u64) ^ (x.xor >> 64) as u64;
    let mut r = u128::from(hi) << 64 | u128::from(lo);
    // the mask/xor after a shift exists only with a shift (see `Program::src_of`)
    if x.shl != 0 || x.shr != 0 {
        if x.shl != 0 {
            // bits shifted out of the register are lost
            r = r.checked_shl(x.shl as u32).unwrap_or(0) & x.width;
        }
        if x.shr != 0 {
            r = (r & x.width).checked_shr(x.shr as u32).unwrap_or(0);
        }
        r = (r & x.and2) ^ x.xor2;
    }
    r & x.width
}

fn ip_ok(ctx: &PktCtx, v: u8) -> bool {
    ctx.pkt.is_ip() && ctx.pkt.ip_version == v
}

/// The first four bytes of the transport header, as `th sport`/`th dport` read them: the
/// kernel's raw transport load (`nft_payload_eval`, `NFT_PAYLOAD_TRANSPORT_HEADER`) checks
/// only that the transport header exists (not a non-first fragment), not the protocol, so on
/// ICMP `th dport` is the checksum. Ports come from the (possibly rewritten) port fields.
fn th_head(k: &PacketMeta) -> Option<u32> {
    if !k.is_ip() {
        return None;
    }
    if k.l4_present() && k.has_ports() {
        return Some((k.sport as u32) << 16 | k.dport as u32);
    }
    if k.has(flags::L4_HEAD) {
        return Some(k.l4_head);
    }
    None
}

fn l4_ok(ctx: &PktCtx, proto: u8) -> bool {
    ctx.pkt.is_ip() && ctx.pkt.l4_present() && (proto == 0 || ctx.pkt.l4proto == proto)
}

/// A network header field of IP version `ver`.
#[inline]
fn ip(ctx: &PktCtx, ver: u8, v: u128) -> Option<u128> {
    ip_ok(ctx, ver).then_some(v)
}

/// A transport header field of protocol `proto` (0: any).
#[inline]
fn l4(ctx: &PktCtx, proto: u8, v: u128) -> Option<u128> {
    l4_ok(ctx, proto).then_some(v)
}

/// A port of protocol `proto`.
#[inline]
fn port(ctx: &PktCtx, proto: u8, v: u16) -> Option<u128> {
    (l4_ok(ctx, proto) && ctx.pkt.has_ports()).then_some(v as u128)
}

/// An ICMP (`proto` 1, IPv4) or ICMPv6 (58, IPv6) header field.
#[inline]
fn icmp(ctx: &PktCtx, proto: u8, v: u8) -> Option<u128> {
    let ver = if proto == 1 { 4 } else { 6 };
    (l4_ok(ctx, proto) && ip_ok(ctx, ver)).then_some(v as u128)
}

/// `ip frag-off`: the offset in 8-byte units with the DF (0x4000) and MF (0x2000) bits.
#[inline]
fn frag_off(k: &PacketMeta) -> u128 {
    let mut v = (k.frag_offset / 8) as u128;
    if k.has(flags::DONT_FRAGMENT) {
        v |= 0x4000;
    }
    if k.has(flags::MORE_FRAGMENTS) {
        v |= 0x2000;
    }
    v
}

/// The link-layer header the packet arrived with (nft_payload_eval, NFT_PAYLOAD_LL_HEADER;
/// forwarded packets keep it through postrouting). Only Ethernet frames have one; a PPPoE
/// session arrives on a ppp device, whose packets have none (nft's `meta iiftype ether`
/// dependency fails).
#[inline]
fn has_ll_header(k: &PacketMeta) -> bool {
    k.has(flags::ETHER) && !k.has(flags::PPPOE)
}

/// The packet's connection (`ct` keys other than `state` need one).
#[inline]
fn tracked(ctx: &PktCtx) -> Option<&CtInfo> {
    match &ctx.ct {
        CtView::Tracked(c) => Some(c),
        _ => None,
    }
}

/// Reads a selector. `None` = the field is missing (NFT_BREAK).
pub(super) fn load(
    p: &Program,
    st: &mut RuleState,
    l: &Load,
    ctx: &PktCtx,
    host: &mut impl Host,
) -> Option<u128> {
    let k = &ctx.pkt;
    match *l {
        Load::IpVersion => ip(ctx, 4, 4),
        Load::IpHdrLen => ip(ctx, 4, (k.ip_hdr_len / 4) as u128),
        Load::IpDscp(v) => ip(ctx, v, k.dscp as u128),
        Load::IpEcn(v) => ip(ctx, v, k.ecn as u128),
        Load::IpLength => ip(ctx, 4, k.ip_len as u128),
        Load::IpId => ip(ctx, 4, (k.ip_id & 0xffff) as u128),
        Load::IpFragOff => ip(ctx, 4, frag_off(k)),
        Load::IpTtl(v) => ip(ctx, v, k.ttl as u128),
        Load::IpProto(v) => ip(ctx, v, k.ip_proto_field as u128),
        Load::IpSaddr(v) => ip(ctx, v, k.src),
        Load::IpDaddr(v) => ip(ctx, v, k.dst),
        Load::Ip6Version => ip(ctx, 6, 6),
        Load::Ip6Flowlabel => ip(ctx, 6, k.flow_label as u128),
        Load::Ip6Length => ip(ctx, 6, k.ip_len.saturating_sub(40) as u128),
        Load::Sport(0) => Some((th_head(k)? >> 16) as u128),
        Load::Dport(0) => Some((th_head(k)? & 0xffff) as u128),
        Load::Sport(proto) => port(ctx, proto, k.sport),
        Load::Dport(proto) => port(ctx, proto, k.dport),
        Load::TcpSeq => l4(ctx, 6, k.tcp_seq as u128),
        Load::TcpAck => l4(ctx, 6, k.tcp_ack as u128),
        Load::TcpDoff => l4(ctx, 6, (k.tcp_hdr_len / 4) as u128),
        Load::TcpFlags => l4(ctx, 6, k.tcp_flags as u128),
        Load::TcpWindow => l4(ctx, 6, k.tcp_win as u128),
        // nft_exthdr_tcp_eval: no such option = NFT_BREAK
        Load::TcpMss => l4(ctx, 6, k.tcp_mss? as u128),
        Load::EtherAddr { src } => has_ll_header(k).then(|| {
            let b = if src { &k.eth_src } else { &k.eth_dst };
            b.iter().fold(0u128, |v, x| v << 8 | *x as u128)
        }),
        Load::EtherType => has_ll_header(k).then_some(k.ethertype as u128),
        // nft_exthdr_ipv6_eval: ipv6_find_hdr(NEXTHDR_ROUTING) fails = NFT_BREAK
        Load::Ip6RtType => ip(ctx, 6, k.ip6_rt_type? as u128),
        Load::UdpLength(proto) => l4_ok(ctx, proto).then(|| (k.l4_payload_len + 8) as u128),
        Load::IcmpType(proto) => icmp(ctx, proto, k.icmp_type),
        Load::IcmpCode(proto) => icmp(ctx, proto, k.icmp_code),
        Load::IcmpId(proto) => {
            (l4_ok(ctx, proto) && is_icmp_echo(proto, k.icmp_type)).then_some(k.sport as u128)
        }
        Load::MetaLength => Some(ctx.len as u128),
        Load::MetaProtocol => match k.net {
            NetKind::Ipv4 => Some(0x0800),
            NetKind::Ipv6 => Some(0x86dd),
            NetKind::NonIp(t) => Some(t as u128),
            NetKind::Unknown => None,
        },
        Load::MetaNfproto => Some(if ctx.l3 == 6 { 10 } else { 2 }),
        Load::MetaL4proto => k.is_ip().then_some(k.l4proto as u128),
        Load::MetaMark => Some(ctx.mark as u128),
        Load::MetaIif => Some(ctx.iif.map(|i| i.index).unwrap_or(0) as u128),
        Load::MetaIifname => Some(ctx.iif.map(|i| i.name).unwrap_or(0)),
        Load::MetaOif => Some(ctx.oif.map(|i| i.index).unwrap_or(0) as u128),
        Load::MetaOifname => Some(ctx.oif.map(|i| i.name).unwrap_or(0)),
        Load::MetaPkttype => Some(k.pkt_type as u8 as u128),
        // nft_meta_get_eval: wall-clock time of the packet; here the capture timestamp (UTC)
        Load::MetaTime => Some(k.ts.0 as u128),
        Load::MetaHour => Some(((k.ts.0 / 1_000_000_000) % 86400) as u128),
        // 1970-01-01 was a Thursday (tm_wday 4)
        Load::MetaDay => Some(((k.ts.0 / 1_000_000_000 / 86400 + 4) % 7) as u128),
        Load::CtState => Some(match ctx.ct {
            CtView::None => 1,
            CtView::Untracked => 64,
            CtView::Tracked(c) => c.state as u128,
        }),
        Load::CtStatus => Some(tracked(ctx)?.status as u128),
        Load::CtDir => Some(tracked(ctx)?.direction as u128),
        Load::CtMark => Some(tracked(ctx)?.mark as u128),
        Load::CtL3proto => Some(tracked(ctx)?.l3proto as u128),
        Load::CtProto => Some(tracked(ctx)?.protocol as u128),
        Load::CtAddr { dir, src } => {
            let t = &tracked(ctx)?.tuple[dir as usize & 1];
            Some(if src { t.src } else { t.dst })
        }
        Load::CtPort { dir, src } => {
            let t = &tracked(ctx)?.tuple[dir as usize & 1];
            Some((if src { t.sport } else { t.dport }) as u128)
        }
        Load::Const(c) => Some(c),
        Load::CtHelper => Some(tracked(ctx)?.helper),
        Load::Numgen(i) => Some(numgen(p, st, i)),
        Load::Jhash(i) => jhash_of(p, st, i, ctx, host),
        Load::Symhash(i) => symhash_of(p, i, ctx),
        Load::Fib { flags, result } => {
            let a = host.fib(&FibQuery { flags, result }, ctx);
            Some(match result {
                FibResult::Oif => a.oif as u128,
                FibResult::Oifname => a.oifname,
                FibResult::Type => a.rtype as u128,
            })
        }
    }
}

/// `numgen random|inc mod M offset O` (`nft_ng_random_eval`, `nft_ng_inc_eval`).
fn numgen(p: &Program, st: &mut RuleState, i: u32) -> u128 {
    let g = &p.numgens[i as usize];
    if g.random {
        let r = st.next_rand() as u64;
        ((r * g.modulus as u64) >> 32) as u128 + g.offset as u128
    } else {
        let o = st.numgen[i as usize];
        let n = if o + 1 < g.modulus { o + 1 } else { 0 };
        st.numgen[i as usize] = n;
        (n + g.offset) as u128
    }
}

/// `jhash EXPR mod M seed S offset O` (`nft_jhash_eval`): the fields big-endian, each
/// padded to 32 bits in a concatenation, hashed and scaled into the modulus.
fn jhash_of(
    p: &Program,
    st: &mut RuleState,
    i: u32,
    ctx: &PktCtx,
    host: &mut impl Host,
) -> Option<u128> {
    let j = &p.jhashes[i as usize];
    let mut buf = [0u8; 64];
    let mut n = 0usize;
    for part in &j.parts[..j.nparts as usize] {
        let v = xf(load(p, st, &part.load, ctx, host)?, &part.xf);
        let w = part.bytes as usize;
        let padded = if j.nparts > 1 { w.div_ceil(4) * 4 } else { w };
        let be = v.to_be_bytes();
        buf[n..n + w].copy_from_slice(&be[16 - w..]);
        n += padded;
    }
    let h = jhash(&buf[..n], j.seed);
    Some((((h as u64) * (j.modulus as u64)) >> 32) as u128 + j.offset as u128)
}

/// `symhash mod M offset O` (`nft_symhash_eval`): a hash of the flow that is the same in
/// both directions.
fn symhash_of(p: &Program, i: u32, ctx: &PktCtx) -> Option<u128> {
    let j = &p.jhashes[i as usize];
    let key = ctx.pkt.flow_key()?.canonical();
    let mut buf = [0u8; 36];
    buf[..16].copy_from_slice(&key.src.to_be_bytes());
    buf[16..32].copy_from_slice(&key.dst.to_be_bytes());
    buf[32..34].copy_from_slice(&key.sport.to_be_bytes());
    buf[34..36].copy_from_slice(&key.dport.to_be_bytes());
    let h = jhash(&buf, j.seed ^ key.proto as u32);
    Some((((h as u64) * (j.modulus as u64)) >> 32) as u128 + j.offset as u128)
}

/// A selector with its transform.
#[inline]
pub(super) fn src_val(
    p: &Program,
    st: &mut RuleState,
    s: &Src,
    ctx: &PktCtx,
    host: &mut impl Host,
) -> Option<u128> {
    load(p, st, &s.load, ctx, host).map(|v| xf(v, &s.xf))
}

/// A (possibly concatenated) lookup key packed into its lanes, in `out`; `None` when one of
/// its fields is missing. Written in place: a key returned by value is copied with 16-byte
/// loads right after its 8-byte stores, a store-forwarding stall per lookup (see
/// [`Halves`]).
#[inline]
pub(super) fn key_val(
    p: &Program,
    st: &mut RuleState,
    k: &KeySpec,
    ctx: &PktCtx,
    host: &mut impl Host,
    out: &mut [u128; 4],
) -> Option<()> {
    // the key's loads are counted with the operation (`OpCost`)
    let mut key = Halves::default();
    let first = k.first as usize;
    for part in &p.key_parts[first..first + k.n as usize] {
        let v = src_val(p, st, &part.src, ctx, host)?;
        part.slot.put_halves(&mut key, v);
    }
    *out = key.key();
    Some(())
}
