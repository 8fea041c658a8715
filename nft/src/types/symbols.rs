//! The symbol tables nft prints for typed constants (`ct state`, TCP flags, ICMP types
//! and codes, DSCP, protocols, services, ...), by data type.

use super::{DType, parse_uint};

/// `ct state` names.
pub(crate) const CT_STATE: &[(&str, u128)] = &[
    ("invalid", 1),
    ("established", 2),
    ("related", 4),
    ("new", 8),
    ("untracked", 64),
];
/// `ct status` names.
pub(crate) const CT_STATUS: &[(&str, u128)] = &[
    ("expected", 1),
    ("seen-reply", 2),
    ("assured", 4),
    ("confirmed", 8),
    ("snat", 16),
    ("dnat", 32),
    ("dying", 512),
];
/// `ct event` names.
pub(crate) const CT_EVENT: &[(&str, u128)] = &[
    ("new", 1),
    ("related", 2),
    ("destroy", 4),
    ("reply", 8),
    ("assured", 16),
    ("protoinfo", 32),
    ("helper", 64),
    ("mark", 128),
    ("seqadj", 256),
    ("secmark", 512),
    ("label", 1024),
];
/// `ct direction` names.
pub(crate) const CT_DIR: &[(&str, u128)] = &[("original", 0), ("reply", 1)];
/// TCP flag names.
pub(crate) const TCP_FLAGS: &[(&str, u128)] = &[
    ("fin", 0x01),
    ("syn", 0x02),
    ("rst", 0x04),
    ("psh", 0x08),
    ("ack", 0x10),
    ("urg", 0x20),
    ("ecn", 0x40),
    ("cwr", 0x80),
];
/// ICMP types.
pub(crate) const ICMP_TYPES: &[(&str, u128)] = &[
    ("echo-reply", 0),
    ("destination-unreachable", 3),
    ("source-quench", 4),
    ("redirect", 5),
    ("echo-request", 8),
    ("router-advertisement", 9),
    ("router-solicitation", 10),
    ("time-exceeded", 11),
    ("parameter-problem", 12),
    ("timestamp-request", 13),
    ("timestamp-reply", 14),
    ("info-request", 15),
    ("info-reply", 16),
    ("address-mask-request", 17),
    ("address-mask-reply", 18),
];
/// ICMPv6 types.
pub(crate) const ICMPV6_TYPES: &[(&str, u128)] = &[
    ("destination-unreachable", 1),
    ("packet-too-big", 2),
    ("time-exceeded", 3),
    ("parameter-problem", 4),
    ("echo-request", 128),
    ("echo-reply", 129),
    ("mld-listener-query", 130),
    ("mld-listener-report", 131),
    ("mld-listener-done", 132),
    ("mld-listener-reduction", 132),
    ("nd-router-solicit", 133),
    ("nd-router-advert", 134),
    ("nd-neighbor-solicit", 135),
    ("nd-neighbor-advert", 136),
    ("nd-redirect", 137),
    ("router-renumbering", 138),
    ("ind-neighbor-solicit", 141),
    ("ind-neighbor-advert", 142),
    ("mld2-listener-report", 143),
];
/// ICMP codes.
pub(crate) const ICMP_CODES: &[(&str, u128)] = &[
    ("net-unreachable", 0),
    ("host-unreachable", 1),
    ("prot-unreachable", 2),
    ("port-unreachable", 3),
    ("frag-needed", 4),
    ("net-prohibited", 9),
    ("host-prohibited", 10),
    ("admin-prohibited", 13),
];
/// ICMPv6 codes.
pub(crate) const ICMPV6_CODES: &[(&str, u128)] = &[
    ("no-route", 0),
    ("admin-prohibited", 1),
    ("addr-unreachable", 3),
    ("port-unreachable", 4),
    ("policy-fail", 5),
    ("reject-route", 6),
];
/// ICMPx codes.
pub(crate) const ICMPX_CODES: &[(&str, u128)] = &[
    ("no-route", 0),
    ("port-unreachable", 1),
    ("host-unreachable", 2),
    ("admin-prohibited", 3),
];
/// Packet types.
pub(crate) const PKT_TYPES: &[(&str, u128)] = &[
    ("host", 0),
    ("unicast", 0),
    ("broadcast", 1),
    ("multicast", 2),
    ("other", 3),
];
/// nfproto names.
pub(crate) const NFPROTO: &[(&str, u128)] = &[("ipv4", 2), ("ipv6", 10)];
/// EtherType names.
pub(crate) const ETHER_TYPES: &[(&str, u128)] = &[
    ("ip", 0x0800),
    ("arp", 0x0806),
    ("ip6", 0x86dd),
    ("vlan", 0x8100),
    ("8021q", 0x8100),
    ("8021ad", 0x88a8),
];
/// DSCP names.
pub(crate) const DSCP: &[(&str, u128)] = &[
    ("cs0", 0),
    ("le", 1),
    ("lephb", 1),
    ("cs1", 8),
    ("af11", 10),
    ("af12", 12),
    ("af13", 14),
    ("cs2", 16),
    ("af21", 18),
    ("af22", 20),
    ("af23", 22),
    ("cs3", 24),
    ("af31", 26),
    ("af32", 28),
    ("af33", 30),
    ("cs4", 32),
    ("af41", 34),
    ("af42", 36),
    ("af43", 38),
    ("cs5", 40),
    ("va", 44),
    ("ef", 46),
    ("cs6", 48),
    ("cs7", 56),
];
/// ECN names.
pub(crate) const ECN: &[(&str, u128)] = &[("not-ect", 0), ("ect1", 1), ("ect0", 2), ("ce", 3)];
/// fib address types.
pub(crate) const FIB_ADDR: &[(&str, u128)] = &[
    ("unspec", 0),
    ("unicast", 1),
    ("local", 2),
    ("broadcast", 3),
    ("anycast", 4),
    ("multicast", 5),
    ("blackhole", 6),
    ("unreachable", 7),
    ("prohibit", 8),
    ("throw", 9),
    ("nat", 10),
    ("xresolve", 11),
];
/// Boolean names.
pub(crate) const BOOLEAN: &[(&str, u128)] =
    &[("exists", 1), ("missing", 0), ("true", 1), ("false", 0)];
/// Interface types (ARPHRD_*).
pub(crate) const IF_TYPES: &[(&str, u128)] = &[
    ("ether", 1),
    ("ppp", 512),
    ("ipip", 768),
    ("ipip6", 769),
    ("loopback", 772),
    ("sit", 776),
    ("ipgre", 778),
];
/// IP protocol names (`/etc/protocols` as nft resolves them).
pub(crate) const PROTOCOLS: &[(&str, u128)] = &[
    ("hopopt", 0),
    ("icmp", 1),
    ("igmp", 2),
    ("ggp", 3),
    ("ipencap", 4),
    ("ipip", 4),
    ("st", 5),
    ("tcp", 6),
    ("egp", 8),
    ("igp", 9),
    ("pup", 12),
    ("udp", 17),
    ("hmp", 20),
    ("xns-idp", 22),
    ("rdp", 27),
    ("iso-tp4", 29),
    ("dccp", 33),
    ("xtp", 36),
    ("ddp", 37),
    ("idpr-cmtp", 38),
    ("ipv6", 41),
    ("ipv6-route", 43),
    ("ipv6-frag", 44),
    ("idrp", 45),
    ("rsvp", 46),
    ("gre", 47),
    ("esp", 50),
    ("ah", 51),
    ("skip", 57),
    ("ipv6-icmp", 58),
    ("icmpv6", 58),
    ("ipv6-nonxt", 59),
    ("ipv6-opts", 60),
    ("rspf", 73),
    ("vmtp", 81),
    ("eigrp", 88),
    ("ospf", 89),
    ("ax.25", 93),
    ("ipip", 94),
    ("etherip", 97),
    ("encap", 98),
    ("pim", 103),
    ("ipcomp", 108),
    ("comp", 108),
    ("vrrp", 112),
    ("l2tp", 115),
    ("isis", 124),
    ("sctp", 132),
    ("fc", 133),
    ("mobility-header", 135),
    ("udplite", 136),
    ("mpls-in-ip", 137),
    ("manet", 138),
    ("hip", 139),
    ("shim6", 140),
    ("wesp", 141),
    ("rohc", 142),
    ("ethernet", 143),
];
/// Service names (`/etc/services`, the subset real rulesets and the nft tests use).
pub(crate) const SERVICES: &[(&str, u128)] = &[
    ("tcpmux", 1),
    ("echo", 7),
    ("discard", 9),
    ("daytime", 13),
    ("ftp-data", 20),
    ("ftp", 21),
    ("ssh", 22),
    ("telnet", 23),
    ("smtp", 25),
    ("time", 37),
    ("whois", 43),
    ("tacacs", 49),
    ("domain", 53),
    ("bootps", 67),
    ("bootpc", 68),
    ("tftp", 69),
    ("gopher", 70),
    ("finger", 79),
    ("http", 80),
    ("www", 80),
    ("kerberos", 88),
    ("pop3", 110),
    ("sunrpc", 111),
    ("auth", 113),
    ("ident", 113),
    ("nntp", 119),
    ("ntp", 123),
    ("epmap", 135),
    ("netbios-ns", 137),
    ("netbios-dgm", 138),
    ("netbios-ssn", 139),
    ("imap", 143),
    ("imap2", 143),
    ("snmp", 161),
    ("snmp-trap", 162),
    ("bgp", 179),
    ("irc", 194),
    ("ldap", 389),
    ("https", 443),
    ("microsoft-ds", 445),
    ("kpasswd", 464),
    ("submissions", 465),
    ("isakmp", 500),
    ("syslog", 514),
    ("printer", 515),
    ("talk", 517),
    ("route", 520),
    ("submission", 587),
    ("ipp", 631),
    ("ldaps", 636),
    ("rsync", 873),
    ("ftps-data", 989),
    ("ftps", 990),
    ("telnets", 992),
    ("imaps", 993),
    ("pop3s", 995),
    ("socks", 1080),
    ("openvpn", 1194),
    ("ms-sql-s", 1433),
    ("l2tp", 1701),
    ("pptp", 1723),
    ("radius", 1812),
    ("radius-acct", 1813),
    ("nfs", 2049),
    ("mysql", 3306),
    ("ms-wbt-server", 3389),
    ("ipsec-nat-t", 4500),
    ("sip", 5060),
    ("sip-tls", 5061),
    ("mdns", 5353),
    ("postgresql", 5432),
    ("x11", 6000),
    ("http-alt", 8080),
    ("webcache", 8080),
];

/// A protocol number from its name (`tcp`) or number (`6`).
pub(crate) fn proto_number(p: &str) -> Option<u8> {
    lookup(PROTOCOLS, p)
        .or_else(|| parse_uint(p))
        .filter(|v| *v <= 255)
        .map(|v| v as u8)
}

/// Looks a name up in a symbol table.
pub(crate) fn lookup(table: &[(&str, u128)], name: &str) -> Option<u128> {
    table.iter().find(|(n, _)| *n == name).map(|&(_, v)| v)
}

/// The first name for a value in a symbol table.
pub(crate) fn name_of(table: &[(&'static str, u128)], v: u128) -> Option<&'static str> {
    table.iter().find(|(_, x)| *x == v).map(|&(n, _)| n)
}

/// The symbol table of a type, if it has one.
pub(crate) fn symbols(ty: DType) -> Option<&'static [(&'static str, u128)]> {
    Some(match ty {
        DType::CtState => CT_STATE,
        DType::CtStatus => CT_STATUS,
        DType::CtEvent => CT_EVENT,
        DType::CtDir => CT_DIR,
        DType::TcpFlag => TCP_FLAGS,
        DType::IcmpType => ICMP_TYPES,
        DType::Icmpv6Type => ICMPV6_TYPES,
        DType::IcmpCode => ICMP_CODES,
        DType::Icmpv6Code => ICMPV6_CODES,
        DType::IcmpxCode => ICMPX_CODES,
        DType::PktType => PKT_TYPES,
        DType::NfProto => NFPROTO,
        DType::EtherType => ETHER_TYPES,
        DType::Dscp => DSCP,
        DType::Ecn => ECN,
        DType::FibAddrType => FIB_ADDR,
        DType::Boolean => BOOLEAN,
        DType::IfType => IF_TYPES,
        DType::InetProto => PROTOCOLS,
        DType::InetService => SERVICES,
        _ => return None,
    })
}
