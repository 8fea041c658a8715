//! The selector table: for every payload field, meta key and ct key, its data type, the
//! protocol it depends on (nft's `proto_desc`, `meta_templates` and `ct_templates`) and what
//! the evaluator loads for it ([`Load`]). The text parser and the JSON front end ask it which
//! selectors are supported, normalisation types and orders matches with it, and the compiler
//! turns selectors into loads with it: one table, four readers.

use super::ast::*;
use super::program::Load;
use super::types::DType;

/// Protocol requirements of a selector.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Dep {
    /// Required IP version (4 or 6).
    pub(crate) l3: Option<u8>,
    /// Required transport protocol number.
    pub(crate) l4: Option<u8>,
}

impl Dep {
    /// Needs IP version `v`.
    pub(crate) fn l3(v: u8) -> Dep {
        Dep {
            l3: Some(v),
            l4: None,
        }
    }
    /// Needs transport protocol `p`.
    pub(crate) fn l4(p: u8) -> Dep {
        Dep {
            l3: None,
            l4: Some(p),
        }
    }
    /// Needs IP version `v` and transport protocol `p`.
    pub(crate) fn both(v: u8, p: u8) -> Dep {
        Dep {
            l3: Some(v),
            l4: Some(p),
        }
    }
}

/// Data type and dependency of a payload field.
pub(crate) fn payload_info(p: Proto, f: &str) -> Result<(DType, Dep), String> {
    use DType::*;
    let i = Integer;
    let (l3, l4) = (Dep::l3, Dep::l4);
    let (icmp, icmp6) = (Dep::both(4, 1), Dep::both(6, 58));
    let r = match (p, f) {
        (Proto::Ip, "version") => (i(4), l3(4)),
        (Proto::Ip, "hdrlength") => (i(4), l3(4)),
        (Proto::Ip, "dscp") => (Dscp, l3(4)),
        (Proto::Ip, "ecn") => (Ecn, l3(4)),
        (Proto::Ip, "length") => (i(16), l3(4)),
        (Proto::Ip, "id") => (i(16), l3(4)),
        (Proto::Ip, "frag-off") => (i(16), l3(4)),
        (Proto::Ip, "ttl") => (i(8), l3(4)),
        (Proto::Ip, "protocol") => (InetProto, l3(4)),
        (Proto::Ip, "checksum") => (i(16), l3(4)),
        (Proto::Ip, "saddr" | "daddr") => (Ipv4, l3(4)),
        (Proto::Ip6, "version") => (i(4), l3(6)),
        (Proto::Ip6, "dscp") => (Dscp, l3(6)),
        (Proto::Ip6, "ecn") => (Ecn, l3(6)),
        (Proto::Ip6, "flowlabel") => (i(20), l3(6)),
        (Proto::Ip6, "length") => (i(16), l3(6)),
        (Proto::Ip6, "nexthdr") => (InetProto, l3(6)),
        (Proto::Ip6, "hoplimit") => (i(8), l3(6)),
        (Proto::Ip6, "saddr" | "daddr") => (Ipv6, l3(6)),
        (Proto::Tcp, "sport" | "dport") => (InetService, l4(6)),
        (Proto::Tcp, "sequence" | "ackseq") => (i(32), l4(6)),
        (Proto::Tcp, "doff" | "reserved") => (i(4), l4(6)),
        (Proto::Tcp, "flags") => (TcpFlag, l4(6)),
        (Proto::Tcp, "window" | "checksum" | "urgptr") => (i(16), l4(6)),
        (Proto::Tcp, "option maxseg size") => (i(16), l4(6)),
        (Proto::Rt, "type" | "segleft" | "hdrlength" | "nexthdr") => (i(8), l3(6)),
        (Proto::Rt, _) => return Err(format!("unsupported: rt {f} expression")),
        (Proto::Udp, "sport" | "dport") => (InetService, l4(17)),
        (Proto::Udp, "length" | "checksum") => (i(16), l4(17)),
        (Proto::Udplite, "sport" | "dport") => (InetService, l4(136)),
        (Proto::Udplite, "csumcov" | "checksum") => (i(16), l4(136)),
        (Proto::Sctp, "sport" | "dport") => (InetService, l4(132)),
        (Proto::Sctp, "vtag" | "checksum") => (i(32), l4(132)),
        (Proto::Dccp, "sport" | "dport") => (InetService, l4(33)),
        (Proto::Dccp, "type") => (i(4), l4(33)),
        (Proto::Th, "sport" | "dport") => (InetService, Dep::default()),
        (Proto::Icmp, "type") => (IcmpType, icmp),
        (Proto::Icmp, "code") => (IcmpCode, icmp),
        (Proto::Icmp, "checksum" | "id" | "sequence" | "mtu") => (i(16), icmp),
        (Proto::Icmp, "gateway") => (Ipv4, icmp),
        (Proto::Icmpv6, "type") => (Icmpv6Type, icmp6),
        (Proto::Icmpv6, "code") => (Icmpv6Code, icmp6),
        (Proto::Icmpv6, "checksum" | "id" | "sequence" | "max-delay") => (i(16), icmp6),
        (Proto::Icmpv6, "mtu" | "parameter-problem" | "packet-too-big") => (i(32), icmp6),
        (Proto::Icmpv6, "taddr" | "daddr") => (Ipv6, icmp6),
        (Proto::Igmp, "type" | "mrt") => (i(8), l4(2)),
        (Proto::Igmp, "checksum") => (i(16), l4(2)),
        (Proto::Igmp, "group") => (Ipv4, l4(2)),
        // link-layer header; nft adds `meta iiftype ether` in the IP families
        (Proto::Ether, "saddr" | "daddr") => (EtherAddr, Dep::default()),
        (Proto::Ether, "type") => (EtherType, Dep::default()),
        (Proto::Ether | Proto::Vlan | Proto::Arp, _) => {
            return Err(format!("unsupported: {} expression", p.name()));
        }
        (Proto::Ah | Proto::Esp | Proto::Comp | Proto::Gre, _) => {
            return Err(format!("unsupported: {} expression", p.name()));
        }
        _ => return Err(format!("unknown {} header field '{f}'", p.name())),
    };
    Ok(r)
}

/// Data type of a meta key.
pub(crate) fn meta_type(k: MetaKey) -> DType {
    use DType::*;
    match k {
        MetaKey::Length => Integer(32),
        MetaKey::Protocol => EtherType,
        MetaKey::Nfproto => NfProto,
        MetaKey::L4proto => InetProto,
        MetaKey::Mark => Mark,
        MetaKey::Iif | MetaKey::Oif | MetaKey::Sdif => Ifindex,
        MetaKey::Iifname
        | MetaKey::Oifname
        | MetaKey::Ibrname
        | MetaKey::Obrname
        | MetaKey::Sdifname
        | MetaKey::Iifkind
        | MetaKey::Oifkind => Ifname,
        MetaKey::Iiftype | MetaKey::Oiftype => IfType,
        MetaKey::Pkttype => PktType,
        MetaKey::Nftrace => Integer(1),
        MetaKey::Secpath | MetaKey::Broute => Boolean,
        MetaKey::Time => Time,
        MetaKey::Hour => Hour,
        MetaKey::Day => Day,
        MetaKey::Ibrvproto => EtherType,
        MetaKey::Ibrpvid => Integer(16),
        _ => Integer(32),
    }
}

/// Data type of a ct key for a family (None = needs an L3 context).
pub(crate) fn ct_type(k: CtKey, l3: Option<u8>) -> Result<DType, String> {
    use DType::*;
    Ok(match k {
        CtKey::State => CtState,
        CtKey::Status => CtStatus,
        CtKey::Direction => CtDir,
        CtKey::Mark | CtKey::Secmark => Mark,
        CtKey::Expiration => Time,
        CtKey::Helper => Str,
        CtKey::L3proto => NfProto,
        CtKey::Protocol => InetProto,
        CtKey::Saddr | CtKey::Daddr => match l3 {
            Some(4) => Ipv4,
            Some(6) => Ipv6,
            _ => {
                return Err(
                    "cannot determine ct address family; use ct original ip saddr / ip6 saddr"
                        .into(),
                );
            }
        },
        CtKey::IpSaddr | CtKey::IpDaddr => Ipv4,
        CtKey::Ip6Saddr | CtKey::Ip6Daddr => Ipv6,
        CtKey::ProtoSrc | CtKey::ProtoDst => InetService,
        CtKey::Label => Integer(128),
        CtKey::Bytes | CtKey::Packets | CtKey::Avgpkt => Integer(64),
        CtKey::Zone => Integer(16),
        CtKey::Event => CtEvent,
        CtKey::Id => Integer(32),
        CtKey::Count => Integer(32),
    })
}

/// Data type of what a `fib` expression returns.
pub(crate) fn fib_type(result: FibResult) -> DType {
    match result {
        FibResult::Oif => DType::Ifindex,
        FibResult::Oifname => DType::Ifname,
        FibResult::Type => DType::FibAddrType,
    }
}

/// What the evaluator loads for a payload field; `None` when it does not evaluate it.
pub(crate) fn payload_load(p: Proto, f: &str) -> Option<Load> {
    let v = if p == Proto::Ip6 { 6 } else { 4 };
    Some(match (p, f) {
        (Proto::Ip, "version") => Load::IpVersion,
        (Proto::Ip, "hdrlength") => Load::IpHdrLen,
        (Proto::Ip | Proto::Ip6, "dscp") => Load::IpDscp(v),
        (Proto::Ip | Proto::Ip6, "ecn") => Load::IpEcn(v),
        (Proto::Ip, "length") => Load::IpLength,
        (Proto::Ip, "id") => Load::IpId,
        (Proto::Ip, "frag-off") => Load::IpFragOff,
        (Proto::Ip, "ttl") | (Proto::Ip6, "hoplimit") => Load::IpTtl(v),
        (Proto::Ip, "protocol") | (Proto::Ip6, "nexthdr") => Load::IpProto(v),
        (Proto::Ip | Proto::Ip6, "saddr") => Load::IpSaddr(v),
        (Proto::Ip | Proto::Ip6, "daddr") => Load::IpDaddr(v),
        (Proto::Ip6, "version") => Load::Ip6Version,
        (Proto::Ip6, "flowlabel") => Load::Ip6Flowlabel,
        (Proto::Ip6, "length") => Load::Ip6Length,
        (Proto::Tcp, "sport") => Load::Sport(6),
        (Proto::Tcp, "dport") => Load::Dport(6),
        (Proto::Udp, "sport") => Load::Sport(17),
        (Proto::Udp, "dport") => Load::Dport(17),
        (Proto::Udplite, "sport") => Load::Sport(136),
        (Proto::Udplite, "dport") => Load::Dport(136),
        (Proto::Sctp, "sport") => Load::Sport(132),
        (Proto::Sctp, "dport") => Load::Dport(132),
        (Proto::Th, "sport") => Load::Sport(0),
        (Proto::Th, "dport") => Load::Dport(0),
        (Proto::Tcp, "sequence") => Load::TcpSeq,
        (Proto::Tcp, "ackseq") => Load::TcpAck,
        (Proto::Tcp, "doff") => Load::TcpDoff,
        (Proto::Tcp, "flags") => Load::TcpFlags,
        (Proto::Tcp, "window") => Load::TcpWindow,
        (Proto::Tcp, "option maxseg size") => Load::TcpMss,
        (Proto::Rt, "type") => Load::Ip6RtType,
        (Proto::Ether, "saddr") => Load::EtherAddr { src: true },
        (Proto::Ether, "daddr") => Load::EtherAddr { src: false },
        (Proto::Ether, "type") => Load::EtherType,
        (Proto::Udp, "length") => Load::UdpLength(17),
        (Proto::Icmp, "type") => Load::IcmpType(1),
        (Proto::Icmp, "code") => Load::IcmpCode(1),
        (Proto::Icmp, "id") => Load::IcmpId(1),
        (Proto::Icmpv6, "type") => Load::IcmpType(58),
        (Proto::Icmpv6, "code") => Load::IcmpCode(58),
        (Proto::Icmpv6, "id") => Load::IcmpId(58),
        _ => return None,
    })
}

/// What the evaluator loads for a meta key; `None` when it does not evaluate it.
pub(crate) fn meta_load(k: MetaKey) -> Option<Load> {
    Some(match k {
        MetaKey::Length => Load::MetaLength,
        MetaKey::Protocol => Load::MetaProtocol,
        MetaKey::Nfproto => Load::MetaNfproto,
        MetaKey::L4proto => Load::MetaL4proto,
        MetaKey::Mark => Load::MetaMark,
        MetaKey::Iif => Load::MetaIif,
        MetaKey::Iifname => Load::MetaIifname,
        MetaKey::Oif => Load::MetaOif,
        MetaKey::Oifname => Load::MetaOifname,
        MetaKey::Pkttype => Load::MetaPkttype,
        MetaKey::Time => Load::MetaTime,
        MetaKey::Hour => Load::MetaHour,
        MetaKey::Day => Load::MetaDay,
        _ => return None,
    })
}

/// What the evaluator loads for a ct key in direction `dir` (original when not given);
/// `None` when it does not evaluate it.
pub(crate) fn ct_load(k: CtKey, dir: Option<u8>) -> Option<Load> {
    let dir = dir.unwrap_or(0);
    Some(match k {
        CtKey::State => Load::CtState,
        CtKey::Status => Load::CtStatus,
        CtKey::Direction => Load::CtDir,
        CtKey::Mark => Load::CtMark,
        CtKey::L3proto => Load::CtL3proto,
        CtKey::Protocol => Load::CtProto,
        CtKey::Saddr | CtKey::IpSaddr | CtKey::Ip6Saddr => Load::CtAddr { dir, src: true },
        CtKey::Daddr | CtKey::IpDaddr | CtKey::Ip6Daddr => Load::CtAddr { dir, src: false },
        CtKey::ProtoSrc => Load::CtPort { dir, src: true },
        CtKey::ProtoDst => Load::CtPort { dir, src: false },
        CtKey::Helper => Load::CtHelper,
        _ => return None,
    })
}

/// Payload fields the evaluator implements.
pub(crate) fn payload_supported(p: Proto, f: &str) -> bool {
    payload_load(p, f).is_some()
}

/// Meta keys the parsers accept: those the evaluator loads, and `secmark` and `nftrace`,
/// which only `set` statements use (they do not change what the simulation decides; reading
/// them is rejected at compile time).
pub(crate) fn meta_supported(k: MetaKey) -> bool {
    meta_load(k).is_some() || matches!(k, MetaKey::Secmark | MetaKey::Nftrace)
}

/// ct keys the parsers accept: those the evaluator loads, and `secmark` (in `set`
/// statements only, as for meta).
pub(crate) fn ct_supported(k: CtKey) -> bool {
    ct_load(k, None).is_some() || k == CtKey::Secmark
}
