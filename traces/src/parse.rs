//! The frame parser that fills a [`PacketMeta`] (the link types and the link header are in
//! `link.rs`).
//!
//! The parser walks the link header (Ethernet, Linux cooked v1/v2, BSD loopback, raw IP),
//! up to two VLAN tags (a third and further are skipped and counted) and a PPPoE session
//! header, then the IP header with etherparse's zero-copy header slices, IPv6 extension
//! headers the way the kernel's `ipv6_skip_exthdr` does, and the transport header.
//!
//! Contract: [`parse_frame`] never panics and never allocates. A header that is cut short by
//! the capture's snap length is *not* an error: everything before the cut is filled in and
//! [`flags::SNAP_TRUNCATED`] is set. A header that is cut short although the whole frame was
//! captured, or whose length fields are impossible, makes the packet [`Malformed`].

use crate::meta::{Malformed, NetKind, PacketMeta, flags, is_icmp_echo, is_icmp_error, proto};
use crate::time::SimTime;
use etherparse::{Ipv4HeaderSlice, Ipv6HeaderSlice, TcpHeaderSlice};

mod link;
pub use link::LinkType;
pub(crate) use link::link_type_name;
use link::{link_header, ppp_ethertype};

const ETH_P_IP: u16 = 0x0800;
const ETH_P_IPV6: u16 = 0x86dd;
const ETH_P_8021Q: u16 = 0x8100;
const ETH_P_8021AD: u16 = 0x88a8;
const ETH_P_QINQ1: u16 = 0x9100;
const ETH_P_PPP_SES: u16 = 0x8864;

#[inline]
fn be16(d: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([d[at], d[at + 1]])
}

#[inline]
fn be32(d: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([d[at], d[at + 1], d[at + 2], d[at + 3]])
}

/// The outcome of a header that does not fit in the captured bytes.
#[inline]
fn cut(m: &mut PacketMeta, kind: Malformed) {
    if m.has(flags::SNAP_TRUNCATED) {
        // The capture stopped here: what was parsed so far stands.
    } else {
        m.malformed = Some(kind);
    }
}

/// Parses one captured frame into a [`PacketMeta`]. Never fails: malformed and truncated
/// packets are described in the result (see the module docs).
pub fn parse_frame(
    link: LinkType,
    data: &[u8],
    wire_len: u32,
    ts: SimTime,
    iface: u32,
) -> PacketMeta {
    let mut m = PacketMeta::default();
    parse_frame_into(link, data, wire_len, ts, iface, &mut m);
    m
}

/// [`parse_frame`] into `m`, which is overwritten whole: a reader that keeps the packet in
/// a slot of its own (the engine's packet slab, a batch) decodes it there, where a
/// returned value would be copied on through every `Option`, `Result` and wrapper it
/// passes (a 200-byte copy of a struct just written field by field also stalls on store
/// forwarding).
#[inline]
pub fn parse_frame_into(
    link: LinkType,
    data: &[u8],
    wire_len: u32,
    ts: SimTime,
    iface: u32,
    m: &mut PacketMeta,
) {
    *m = PacketMeta {
        ts,
        wire_len: wire_len.max(data.len() as u32),
        cap_len: data.len() as u32,
        iface,
        ..PacketMeta::default()
    };
    if (data.len() as u32) < wire_len {
        m.flags |= flags::SNAP_TRUNCATED;
    }
    // Link layer: find the EtherType (or IP version) and the offset of what follows.
    let Some((mut ethertype, mut off)) = link_header(link, data, m) else {
        return;
    };
    // VLAN tags (802.1Q, 802.1ad, old QinQ) and one PPPoE session header.
    loop {
        match ethertype {
            ETH_P_8021Q | ETH_P_8021AD | ETH_P_QINQ1 => {
                if data.len() < off + 4 {
                    cut(m, Malformed::LinkHeader);
                    return;
                }
                let tci = be16(data, off);
                if (m.vlan_count as usize) < 2 {
                    m.vlan[m.vlan_count as usize] = tci & 0x0fff;
                }
                m.vlan_count = m.vlan_count.saturating_add(1);
                ethertype = be16(data, off + 2);
                off += 4;
            }
            ETH_P_PPP_SES if !m.has(flags::PPPOE) => {
                if data.len() < off + 8 {
                    cut(m, Malformed::LinkHeader);
                    return;
                }
                m.flags |= flags::PPPOE;
                m.pppoe_session = be16(data, off + 2);
                ethertype = match ppp_ethertype(be16(data, off + 6)) {
                    Some(et) => et,
                    None => {
                        m.ethertype = ETH_P_PPP_SES;
                        m.net = NetKind::NonIp(ETH_P_PPP_SES);
                        return;
                    }
                };
                off += 8;
            }
            _ => break,
        }
    }
    m.ethertype = ethertype;
    m.l3_offset = off.min(u16::MAX as usize) as u16;
    let l3 = &data[off.min(data.len())..];
    let wire_l3 = (m.wire_len as usize).saturating_sub(off);
    match ethertype {
        ETH_P_IP => {
            m.net = NetKind::Ipv4;
            parse_ipv4(m, l3, wire_l3);
        }
        ETH_P_IPV6 => {
            m.net = NetKind::Ipv6;
            parse_ipv6(m, l3, wire_l3);
        }
        other => m.net = NetKind::NonIp(other),
    }
}

fn parse_ipv4(m: &mut PacketMeta, l3: &[u8], wire_l3: usize) {
    if let Some(&b) = l3.first() {
        if b >> 4 != 4 {
            m.malformed = Some(Malformed::IpVersion);
            return;
        }
        if b & 0x0f < 5 {
            m.malformed = Some(Malformed::Ipv4HeaderLength);
            return;
        }
    }
    let h = match Ipv4HeaderSlice::from_slice(l3) {
        Ok(h) => h,
        Err(_) => {
            // Only a length problem is left (version and IHL were checked above).
            cut(m, Malformed::IpHeaderTruncated);
            return;
        }
    };
    let hlen = usize::from(h.ihl()) * 4;
    let total = usize::from(h.total_len());
    if total < hlen || total > wire_l3 {
        m.malformed = Some(Malformed::IpTotalLength);
        return;
    }
    m.ip_version = 4;
    m.src = u128::from(u32::from_be_bytes(h.source()));
    m.dst = u128::from(u32::from_be_bytes(h.destination()));
    m.ip_len = total as u32;
    m.ip_hdr_len = hlen as u16;
    m.ttl = h.ttl();
    let tos = l3[1];
    m.dscp = tos >> 2;
    m.ecn = tos & 3;
    m.ip_id = u32::from(h.identification());
    let p = h.protocol().0;
    m.ip_proto_field = p;
    m.l4proto = p;
    if hlen > 20 {
        m.flags |= flags::IP_OPTIONS;
    }
    if h.dont_fragment() {
        m.flags |= flags::DONT_FRAGMENT;
    }
    let frag_off = h.fragments_offset().value();
    m.frag_offset = frag_off.saturating_mul(8);
    if h.more_fragments() {
        m.flags |= flags::MORE_FRAGMENTS | flags::FRAGMENT;
    }
    if frag_off != 0 {
        m.flags |= flags::FRAGMENT;
        return; // non-first fragment: no transport header
    }
    let end = total.min(l3.len());
    let payload = &l3[hlen.min(end)..end];
    parse_l4(m, p, payload, total - hlen);
}

/// Length in bytes of the IPv6 extension header at `d`, for the types the kernel skips.
fn ext_len(nh: u8, d: &[u8]) -> Option<usize> {
    match nh {
        proto::IPV6_FRAG => Some(8),
        proto::AH => d.get(1).map(|&l| (usize::from(l) + 2) * 4),
        _ => d.get(1).map(|&l| (usize::from(l) + 1) * 8),
    }
}

fn parse_ipv6(m: &mut PacketMeta, l3: &[u8], wire_l3: usize) {
    if let Some(&b) = l3.first()
        && b >> 4 != 6
    {
        m.malformed = Some(Malformed::IpVersion);
        return;
    }
    let h = match Ipv6HeaderSlice::from_slice(l3) {
        Ok(h) => h,
        Err(_) => {
            cut(m, Malformed::IpHeaderTruncated);
            return;
        }
    };
    let plen = usize::from(h.payload_length());
    let total = 40 + plen;
    if total > wire_l3 {
        m.malformed = Some(Malformed::IpTotalLength);
        return;
    }
    m.ip_version = 6;
    m.src = u128::from_be_bytes(h.source());
    m.dst = u128::from_be_bytes(h.destination());
    m.ip_len = total as u32;
    m.ttl = h.hop_limit();
    let tc = h.traffic_class();
    m.dscp = tc >> 2;
    m.ecn = tc & 3;
    m.flow_label = h.flow_label().value();
    let first = h.next_header().0;
    m.ip_proto_field = first;
    // Walk extension headers (hop-by-hop, routing, destination options, fragment, AH), as
    // the kernel's ipv6_skip_exthdr/ipv6_find_hdr do for `meta l4proto` and the transport
    // header offset.
    let end = total.min(l3.len());
    let mut nh = first;
    let mut off = 40usize;
    let mut exts = 0;
    while matches!(
        nh,
        proto::IPV6_HOPOPTS
            | proto::IPV6_ROUTE
            | proto::IPV6_DSTOPTS
            | proto::IPV6_FRAG
            | proto::AH
    ) {
        {
            {
                exts += 1;
                if exts > 16 {
                    m.malformed = Some(Malformed::Ipv6Extension);
                    return;
                }
                let avail = &l3[off.min(end)..end];
                if avail.len() < 8 {
                    if off + 8 > total {
                        m.malformed = Some(Malformed::Ipv6Extension);
                    } else {
                        cut(m, Malformed::Ipv6Extension);
                    }
                    m.l4proto = nh;
                    m.ip_hdr_len = off as u16;
                    m.flags |= flags::IP6_EXT_HEADERS;
                    return;
                }
                let len = ext_len(nh, avail).unwrap_or(8);
                if off + len > total {
                    m.malformed = Some(Malformed::Ipv6Extension);
                    return;
                }
                m.flags |= flags::IP6_EXT_HEADERS;
                let next = avail[0];
                if nh == proto::IPV6_ROUTE && m.ip6_rt_type.is_none() {
                    m.ip6_rt_type = Some(avail[2]);
                }
                if nh == proto::IPV6_FRAG {
                    let fo = be16(avail, 2);
                    m.frag_offset = fo & 0xfff8;
                    m.ip_id = be32(avail, 4);
                    m.flags |= flags::FRAGMENT;
                    if fo & 1 == 1 {
                        m.flags |= flags::MORE_FRAGMENTS;
                    }
                    if fo & 0xfff8 != 0 {
                        m.l4proto = next;
                        m.ip_hdr_len = (off + len) as u16;
                        return; // non-first fragment
                    }
                }
                nh = next;
                off += len;
            }
        }
    }
    m.l4proto = nh;
    m.ip_hdr_len = off as u16;
    let payload = &l3[off.min(end)..end];
    parse_l4(m, nh, payload, total - off);
}

/// Parses the transport header. `payload` is the captured part of the IP payload and
/// `ip_payload_len` its length according to the IP header.
fn parse_l4(m: &mut PacketMeta, p: u8, payload: &[u8], ip_payload_len: usize) {
    if payload.len() >= 4 && ip_payload_len >= 4 {
        m.l4_head = be32(payload, 0);
        m.flags |= flags::L4_HEAD;
    }
    match p {
        proto::TCP => {
            if payload.len() >= 13 && payload[12] >> 4 < 5 {
                m.malformed = Some(Malformed::TransportHeader);
                return;
            }
            let t = match TcpHeaderSlice::from_slice(payload) {
                Ok(t) => t,
                Err(_) => {
                    l4_short(m, payload, ip_payload_len, 20);
                    return;
                }
            };
            let thl = usize::from(t.data_offset()) * 4;
            if thl > ip_payload_len {
                m.malformed = Some(Malformed::TransportHeader);
                return;
            }
            m.sport = t.source_port();
            m.dport = t.destination_port();
            m.tcp_seq = t.sequence_number();
            m.tcp_ack = t.acknowledgment_number();
            m.tcp_win = t.window_size();
            m.tcp_flags = t.slice()[13];
            m.tcp_hdr_len = thl as u8;
            m.l4_payload_len = (ip_payload_len - thl) as u32;
            parse_tcp_options(m, t.options());
            m.flags |= flags::L4_PRESENT | flags::PORTS;
        }
        proto::UDP | proto::UDPLITE => {
            if payload.len() < 8 {
                l4_short(m, payload, ip_payload_len, 8);
                return;
            }
            m.sport = be16(payload, 0);
            m.dport = be16(payload, 2);
            m.l4_payload_len = ip_payload_len.saturating_sub(8) as u32;
            m.flags |= flags::L4_PRESENT | flags::PORTS;
            let ulen = usize::from(be16(payload, 4));
            m.udp_len = ulen as u16;
            // A first fragment carries only part of the datagram: judged after reassembly.
            if p == proto::UDP && !m.has(flags::FRAGMENT) && (ulen < 8 || ulen > ip_payload_len) {
                m.flags |= flags::UDP_BAD_LENGTH;
            }
        }
        proto::SCTP => {
            if payload.len() < 12 {
                l4_short(m, payload, ip_payload_len, 12);
                return;
            }
            m.sport = be16(payload, 0);
            m.dport = be16(payload, 2);
            m.l4_payload_len = ip_payload_len.saturating_sub(12) as u32;
            m.flags |= flags::L4_PRESENT | flags::PORTS;
        }
        proto::ICMP | proto::ICMPV6 => {
            if payload.len() < 8 {
                if ip_payload_len < 8 || !m.has(flags::SNAP_TRUNCATED) {
                    m.malformed = Some(Malformed::IcmpHeader);
                }
                if payload.len() >= 2 && m.malformed.is_none() {
                    m.icmp_type = payload[0];
                    m.icmp_code = payload[1];
                }
                return;
            }
            m.icmp_type = payload[0];
            m.icmp_code = payload[1];
            m.l4_payload_len = (ip_payload_len - 8) as u32;
            m.flags |= flags::L4_PRESENT;
            if is_icmp_echo(p, m.icmp_type) {
                m.sport = be16(payload, 4);
            } else if is_icmp_error(p, m.icmp_type) {
                parse_inner(m, p, &payload[8..]);
            }
        }
        _ => {}
    }
}

/// A transport header shorter than `need`: snap-length cut, or malformed. When the cut
/// leaves the two ports, they are kept (flag [`flags::PORTS`]) as tshark shows them.
fn l4_short(m: &mut PacketMeta, payload: &[u8], on_wire: usize, need: usize) {
    if on_wire < need {
        m.malformed = Some(Malformed::TransportHeader);
    } else if payload.len() < need {
        cut(m, Malformed::TransportHeader);
        if m.malformed.is_none() && payload.len() >= 4 {
            m.sport = be16(payload, 0);
            m.dport = be16(payload, 2);
            m.flags |= flags::PORTS;
        }
    }
}

fn parse_tcp_options(m: &mut PacketMeta, mut o: &[u8]) {
    while let Some(&kind) = o.first() {
        match kind {
            0 => break,
            1 => o = &o[1..],
            _ => {
                let Some(&len) = o.get(1) else { break };
                let len = usize::from(len);
                if len < 2 || len > o.len() {
                    break;
                }
                match (kind, len) {
                    (2, 4) => m.tcp_mss = Some(u16::from_be_bytes([o[2], o[3]])),
                    (3, 3) => {
                        m.flags |= flags::TCP_WSCALE;
                        m.tcp_wscale = o[2];
                    }
                    (4, 2) => m.flags |= flags::TCP_SACK_PERM,
                    (5, l) if l >= 10 && (l - 2) % 8 == 0 => {
                        let mut edge = 0u32;
                        let mut first = true;
                        for b in o[2..l].chunks_exact(8) {
                            let right = be32(b, 4);
                            // "after" in sequence space, as conntrack compares them.
                            if first || (right.wrapping_sub(edge) as i32) > 0 {
                                edge = right;
                                first = false;
                            }
                        }
                        m.tcp_sack_edge = edge;
                        m.flags |= flags::TCP_SACK;
                    }
                    _ => {}
                }
                o = &o[len..];
            }
        }
    }
}

/// Parses the packet quoted by an ICMP/ICMPv6 error.
fn parse_inner(m: &mut PacketMeta, p: u8, q: &[u8]) {
    let (version, src, dst, mut l4, off) = if p == proto::ICMP {
        if q.len() < 20 || q[0] >> 4 != 4 {
            return;
        }
        let ihl = usize::from(q[0] & 0x0f) * 4;
        if ihl < 20 || q.len() < ihl {
            return;
        }
        let frag = be16(q, 6) & 0x1fff;
        let l4 = if frag != 0 { 0xff } else { q[9] };
        (
            4u8,
            u128::from(be32(q, 12)),
            u128::from(be32(q, 16)),
            l4,
            ihl,
        )
    } else {
        if q.len() < 40 || q[0] >> 4 != 6 {
            return;
        }
        let mut src = [0u8; 16];
        let mut dst = [0u8; 16];
        src.copy_from_slice(&q[8..24]);
        dst.copy_from_slice(&q[24..40]);
        // Skip extension headers in the quote as far as they were quoted.
        let mut nh = q[6];
        let mut off = 40;
        for _ in 0..8 {
            match nh {
                proto::IPV6_HOPOPTS
                | proto::IPV6_ROUTE
                | proto::IPV6_DSTOPTS
                | proto::IPV6_FRAG
                | proto::AH => {
                    let Some(len) = q.get(off..).and_then(|d| ext_len(nh, d)) else {
                        break;
                    };
                    if off + 2 > q.len() {
                        break;
                    }
                    nh = q[off];
                    off += len;
                }
                _ => break,
            }
        }
        (
            6u8,
            u128::from_be_bytes(src),
            u128::from_be_bytes(dst),
            nh,
            off,
        )
    };
    m.flags |= flags::ICMP_ERROR;
    m.inner.key.version = version;
    m.inner.key.src = src;
    m.inner.key.dst = dst;
    let t = q.get(off..).unwrap_or(&[]);
    if l4 == 0xff {
        l4 = if version == 4 { q[9] } else { 0 };
        m.inner.key.proto = l4;
        return;
    }
    m.inner.key.proto = l4;
    match l4 {
        proto::TCP | proto::UDP | proto::SCTP | proto::UDPLITE if t.len() >= 4 => {
            m.inner.key.sport = be16(t, 0);
            m.inner.key.dport = be16(t, 2);
            m.inner.l4_present = true;
        }
        proto::ICMP | proto::ICMPV6 if t.len() >= 8 => {
            if is_icmp_echo(l4, t[0]) {
                m.inner.key.sport = be16(t, 4);
            }
            m.inner.key.dport = u16::from(t[0]) << 8 | u16::from(t[1]);
            m.inner.l4_present = true;
        }
        _ => {}
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::meta::PktType;

    /// Ethernet + IPv4 + TCP SYN with MSS, SACK-permitted, timestamps, NOP, wscale 7.
    const SYN: [u8; 74] = [
        0x00, 0x04, 0x23, 0xe0, 0x67, 0xc4, 0xf0, 0x4d, 0xa2, 0xe5, 0xef, 0x7e, 0x08,
        0x00, // eth
        0x45, 0x00, 0x00, 0x3c, 0x1e, 0xf8, 0x40, 0x00, 0x40, 0x06, 0xfd, 0xe3, // ip
        0xac, 0x15, 0x00, 0x01, 0x40, 0x5a, 0x31, 0x70, // src 172.21.0.1 dst 64.90.49.112
        0x83, 0xc5, 0x00, 0x50, 0xbc, 0x7e, 0x98, 0xf8, 0x00, 0x00, 0x00, 0x00, 0xa0, 0x02, 0x39,
        0x08, 0x1e, 0x0f, 0x00, 0x00, // tcp
        0x02, 0x04, 0x05, 0xb4, 0x04, 0x02, 0x08, 0x0a, 0x02, 0xc6, 0x86, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x01, 0x03, 0x03, 0x07, // options
    ];

    #[test]
    fn ethernet_ipv4_tcp_syn() {
        let m = parse_frame(LinkType::Ethernet, &SYN, 74, SimTime(7), 0);
        assert_eq!(m.net, NetKind::Ipv4);
        assert!(m.malformed.is_none());
        assert!(m.l4_present());
        assert_eq!(m.src, 0xac15_0001);
        assert_eq!(m.dst, 0x405a_3170);
        assert_eq!((m.sport, m.dport), (33733, 80));
        assert_eq!(m.tcp_flags, 0x02);
        assert_eq!(m.ttl, 64);
        assert_eq!(m.ip_len, 60);
        assert_eq!(m.tcp_hdr_len, 40);
        assert!(m.has(flags::TCP_WSCALE) && m.tcp_wscale == 7);
        assert!(m.has(flags::TCP_SACK_PERM));
        assert_eq!(m.tcp_mss, Some(1460));
        assert!(m.has(flags::ETHER));
        assert_eq!(m.eth_dst, [0x00, 0x04, 0x23, 0xe0, 0x67, 0xc4]);
        assert_eq!(m.eth_src, [0xf0, 0x4d, 0xa2, 0xe5, 0xef, 0x7e]);
        assert!(m.has(flags::L4_HEAD));
        assert_eq!(m.l4_head, 0x83c5_0050);
        assert!(m.has(flags::DONT_FRAGMENT));
        assert_eq!(m.l4_payload_len, 0);
        assert_eq!(m.pkt_type, PktType::Host);
    }

    #[test]
    fn snap_cut_in_tcp_header_is_not_malformed() {
        let m = parse_frame(LinkType::Ethernet, &SYN[..40], 74, SimTime(0), 0);
        assert!(m.malformed.is_none());
        assert!(m.has(flags::SNAP_TRUNCATED));
        assert!(!m.l4_present());
        assert_eq!(m.net, NetKind::Ipv4);
        assert_eq!(m.src, 0xac15_0001);
    }

    #[test]
    fn short_frame_captured_whole_is_malformed() {
        let m = parse_frame(LinkType::Ethernet, &SYN[..40], 40, SimTime(0), 0);
        assert_eq!(m.malformed, Some(Malformed::IpTotalLength));
        let m = parse_frame(LinkType::Ethernet, &SYN[..10], 10, SimTime(0), 0);
        assert_eq!(m.malformed, Some(Malformed::LinkHeader));
    }

    #[test]
    fn bad_version_and_ihl() {
        let mut f = SYN;
        f[14] = 0x55;
        assert_eq!(
            parse_frame(LinkType::Ethernet, &f, 74, SimTime(0), 0).malformed,
            Some(Malformed::IpVersion)
        );
        f[14] = 0x44;
        assert_eq!(
            parse_frame(LinkType::Ethernet, &f, 74, SimTime(0), 0).malformed,
            Some(Malformed::Ipv4HeaderLength)
        );
    }

    #[test]
    fn vlan_qinq_and_pppoe() {
        let mut f = Vec::new();
        f.extend_from_slice(&SYN[..12]);
        f.extend_from_slice(&[0x88, 0xa8, 0x00, 0x64]); // outer S-tag vid 100
        f.extend_from_slice(&[0x81, 0x00, 0x20, 0x07]); // inner C-tag vid 7
        f.extend_from_slice(&[0x88, 0x64, 0x11, 0x00, 0x12, 0x34, 0x00, 0x3e, 0x00, 0x21]);
        f.extend_from_slice(&SYN[14..]);
        let m = parse_frame(LinkType::Ethernet, &f, f.len() as u32, SimTime(0), 0);
        assert_eq!(m.vlan_count, 2);
        assert_eq!(m.vlan, [100, 7]);
        assert!(m.has(flags::PPPOE));
        assert_eq!(m.pppoe_session, 0x1234);
        assert!(m.l4_present());
        assert_eq!(m.dport, 80);
    }

    #[test]
    fn raw_and_null_and_sll() {
        let ip = &SYN[14..];
        let m = parse_frame(LinkType::Raw, ip, ip.len() as u32, SimTime(0), 0);
        assert_eq!(m.dport, 80);
        let mut null = vec![2, 0, 0, 0];
        null.extend_from_slice(ip);
        assert_eq!(
            parse_frame(LinkType::Null, &null, null.len() as u32, SimTime(0), 0).dport,
            80
        );
        let mut null_be = vec![0, 0, 0, 2];
        null_be.extend_from_slice(ip);
        assert_eq!(
            parse_frame(
                LinkType::Null,
                &null_be,
                null_be.len() as u32,
                SimTime(0),
                0
            )
            .dport,
            80
        );
        let mut sll = vec![0, 1, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0, 0x08, 0x00];
        sll.extend_from_slice(ip);
        let m = parse_frame(LinkType::LinuxSll, &sll, sll.len() as u32, SimTime(0), 0);
        assert_eq!(m.pkt_type, PktType::Broadcast);
        assert_eq!(m.dport, 80);
        let mut sll2 = vec![
            0x08, 0x00, 0, 0, 0, 0, 0, 2, 0, 1, 4, 6, 1, 2, 3, 4, 5, 6, 0, 0,
        ];
        sll2.extend_from_slice(ip);
        let m = parse_frame(LinkType::LinuxSll2, &sll2, sll2.len() as u32, SimTime(0), 0);
        assert_eq!(m.pkt_type, PktType::Outgoing);
        assert_eq!(m.dport, 80);
    }

    #[test]
    fn ppp_and_ppp_ether_link_types() {
        let ip = &SYN[14..];
        for head in [&[0xff, 0x03, 0x00, 0x21][..], &[0x00, 0x21], &[0x21]] {
            let mut f = head.to_vec();
            f.extend_from_slice(ip);
            let m = parse_frame(LinkType::Ppp, &f, f.len() as u32, SimTime(0), 0);
            assert_eq!((m.net, m.dport), (NetKind::Ipv4, 80), "{head:?}");
            assert_eq!(m.l3_offset as usize, head.len());
        }
        // LCP is not IP.
        let m = parse_frame(
            LinkType::Ppp,
            &[0xff, 0x03, 0xc0, 0x21, 1],
            5,
            SimTime(0),
            0,
        );
        assert_eq!(m.net, NetKind::NonIp(0xc021));
        for short in [&[][..], &[0xff, 0x03, 0x00]] {
            let m = parse_frame(LinkType::Ppp, short, short.len() as u32, SimTime(0), 0);
            assert_eq!(m.malformed, Some(Malformed::LinkHeader));
        }
        let mut f = vec![0x11, 0x00, 0xbe, 0xef, 0x00, 0x3e, 0x00, 0x21];
        f.extend_from_slice(ip);
        let m = parse_frame(LinkType::PppEther, &f, f.len() as u32, SimTime(0), 0);
        assert!(m.has(flags::PPPOE));
        assert_eq!((m.pppoe_session, m.dport, m.l3_offset), (0xbeef, 80, 8));
        assert_eq!(LinkType::from_code(9), Some(LinkType::Ppp));
        assert_eq!(
            LinkType::from_code(51).map(LinkType::name),
            Some("PPP_ETHER")
        );
    }

    fn ipv6_udp(ext: &[u8], first_nh: u8) -> Vec<u8> {
        let mut f = vec![0x60, 0x00, 0x00, 0x00];
        let plen = (ext.len() + 8 + 4) as u16;
        f.extend_from_slice(&plen.to_be_bytes());
        f.push(first_nh);
        f.push(1); // hop limit
        f.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        f.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
        f.extend_from_slice(ext);
        f.extend_from_slice(&[0x00, 0x35, 0x00, 0x35, 0x00, 0x0c, 0, 0, 1, 2, 3, 4]);
        f
    }

    #[test]
    fn ipv6_extension_headers() {
        // hop-by-hop (8 bytes) then destination options (8 bytes) then UDP.
        let ext = [60, 0, 1, 4, 0, 0, 0, 0, 17, 0, 1, 4, 0, 0, 0, 0];
        let f = ipv6_udp(&ext, 0);
        let m = parse_frame(LinkType::Ipv6, &f, f.len() as u32, SimTime(0), 0);
        assert!(m.malformed.is_none(), "{m:?}");
        assert_eq!(m.ip_proto_field, 0);
        assert_eq!(m.l4proto, proto::UDP);
        assert!(m.has(flags::IP6_EXT_HEADERS));
        assert_eq!(m.dport, 53);
        assert_eq!(m.ip_len, f.len() as u32);
        assert_eq!(m.ttl, 1);
        assert_eq!(m.ip6_rt_type, None);
        // a type 0 routing header (8 bytes) then UDP
        let f = ipv6_udp(&[17, 0, 0, 0, 0, 0, 0, 0], proto::IPV6_ROUTE);
        let m = parse_frame(LinkType::Ipv6, &f, f.len() as u32, SimTime(0), 0);
        assert_eq!(
            (m.ip6_rt_type, m.l4proto, m.dport),
            (Some(0), proto::UDP, 53)
        );
    }

    #[test]
    fn ipv6_non_first_fragment_has_no_ports() {
        let ext = [17, 0, 0x00, 0x11, 0xde, 0xad, 0xbe, 0xef];
        let f = ipv6_udp(&ext, proto::IPV6_FRAG);
        let m = parse_frame(LinkType::Ipv6, &f, f.len() as u32, SimTime(0), 0);
        assert!(m.has(flags::FRAGMENT) && m.has(flags::MORE_FRAGMENTS));
        assert_eq!(m.frag_offset, 16);
        assert_eq!(m.ip_id, 0xdead_beef);
        assert!(!m.l4_present());
        assert_eq!(m.l4proto, proto::UDP);
    }

    #[test]
    fn icmp_error_quotes_inner_tuple() {
        // IPv4 ICMP port unreachable quoting UDP 192.0.2.1:1000 -> 198.51.100.1:53.
        let mut f = vec![
            0x45, 0, 0, 56, 0, 0, 0, 0, 64, 1, 0, 0, 198, 51, 100, 1, 192, 0, 2, 1, // ip
            3, 3, 0, 0, 0, 0, 0, 0, // icmp
            0x45, 0, 0, 40, 0, 0, 0, 0, 64, 17, 0, 0, 192, 0, 2, 1, 198, 51, 100,
            1, // inner ip
        ];
        f.extend_from_slice(&[0x03, 0xe8, 0x00, 0x35, 0, 20, 0, 0]);
        let m = parse_frame(LinkType::Ipv4, &f, f.len() as u32, SimTime(0), 0);
        assert!(m.has(flags::ICMP_ERROR));
        assert_eq!((m.icmp_type, m.icmp_code), (3, 3));
        assert!(m.inner.l4_present);
        assert_eq!(m.inner.key.src, 0xc000_0201);
        assert_eq!(m.inner.key.sport, 1000);
        assert_eq!(m.inner.key.dport, 53);
        assert_eq!(m.inner.key.proto, proto::UDP);
    }

    #[test]
    fn icmp_echo_id_is_sport() {
        let f = [
            0x45, 0, 0, 28, 0, 0, 0, 0, 64, 1, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2, 8, 0, 0, 0, 0x12,
            0x34, 0, 1,
        ];
        let m = parse_frame(LinkType::Ipv4, &f, 28, SimTime(0), 0);
        assert_eq!(m.sport, 0x1234);
        let k = m.flow_key().unwrap();
        assert_eq!((k.sport, k.dport, k.proto), (0x1234, 0, proto::ICMP));
    }

    #[test]
    fn never_panics_on_any_prefix() {
        for n in 0..SYN.len() {
            for wire in [n as u32, 74, 2000] {
                for lt in [
                    LinkType::Ethernet,
                    LinkType::Ppp,
                    LinkType::PppEther,
                    LinkType::Raw,
                    LinkType::LinuxSll,
                    LinkType::LinuxSll2,
                    LinkType::Null,
                    LinkType::Ipv6,
                ] {
                    let _ = parse_frame(lt, &SYN[..n], wire, SimTime(0), 0);
                }
            }
        }
    }
}
