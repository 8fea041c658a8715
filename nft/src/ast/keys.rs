//! The keywords of the language: families, hooks, chain types, payload protocols, meta and
//! ct keys, operators, verdicts, `fib` and NAT flags, set operations, rate periods, byte
//! units and named priorities. The text parser, the JSON front end and the printer all
//! read their names here.

use std::fmt;

/// Address family of a table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    /// IPv4.
    Ip,
    /// IPv6.
    Ip6,
    /// IPv4 and IPv6.
    Inet,
    /// ARP (parsed, not evaluated).
    Arp,
    /// Bridge (parsed, not evaluated).
    Bridge,
    /// Per-device ingress/egress.
    Netdev,
}

impl Family {
    /// Parses a family keyword.
    pub fn from_name(s: &str) -> Option<Family> {
        Some(match s {
            "ip" => Family::Ip,
            "ip6" => Family::Ip6,
            "inet" => Family::Inet,
            "arp" => Family::Arp,
            "bridge" => Family::Bridge,
            "netdev" => Family::Netdev,
            _ => return None,
        })
    }
    /// The keyword.
    pub fn name(self) -> &'static str {
        match self {
            Family::Ip => "ip",
            Family::Ip6 => "ip6",
            Family::Inet => "inet",
            Family::Arp => "arp",
            Family::Bridge => "bridge",
            Family::Netdev => "netdev",
        }
    }
}

/// Netfilter hook.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Hook {
    /// Before routing.
    Prerouting,
    /// Local delivery.
    Input,
    /// Forwarded packets.
    Forward,
    /// Locally generated packets.
    Output,
    /// After routing.
    Postrouting,
    /// netdev / inet ingress.
    Ingress,
    /// netdev egress.
    Egress,
}

impl Hook {
    /// Parses a hook keyword.
    pub fn from_name(s: &str) -> Option<Hook> {
        Some(match s {
            "prerouting" => Hook::Prerouting,
            "input" => Hook::Input,
            "forward" => Hook::Forward,
            "output" => Hook::Output,
            "postrouting" => Hook::Postrouting,
            "ingress" => Hook::Ingress,
            "egress" => Hook::Egress,
            _ => return None,
        })
    }
    /// The keyword.
    pub fn name(self) -> &'static str {
        match self {
            Hook::Prerouting => "prerouting",
            Hook::Input => "input",
            Hook::Forward => "forward",
            Hook::Output => "output",
            Hook::Postrouting => "postrouting",
            Hook::Ingress => "ingress",
            Hook::Egress => "egress",
        }
    }
}

/// Base chain type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ChainType {
    /// `type filter`.
    Filter,
    /// `type nat`.
    Nat,
    /// `type route`.
    Route,
}

impl ChainType {
    /// Parses a chain type keyword.
    pub fn from_name(s: &str) -> Option<ChainType> {
        Some(match s {
            "filter" => ChainType::Filter,
            "nat" => ChainType::Nat,
            "route" => ChainType::Route,
            _ => return None,
        })
    }
    /// The keyword.
    pub fn name(self) -> &'static str {
        match self {
            ChainType::Filter => "filter",
            ChainType::Nat => "nat",
            ChainType::Route => "route",
        }
    }
}

/// Payload protocol header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Proto {
    /// IPv4 header.
    Ip,
    /// IPv6 header.
    Ip6,
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
    /// UDP-Lite.
    Udplite,
    /// SCTP.
    Sctp,
    /// DCCP.
    Dccp,
    /// Generic transport header.
    Th,
    /// ICMP.
    Icmp,
    /// ICMPv6.
    Icmpv6,
    /// IGMP.
    Igmp,
    /// Ethernet.
    Ether,
    /// VLAN.
    Vlan,
    /// ARP.
    Arp,
    /// AH.
    Ah,
    /// ESP.
    Esp,
    /// IPComp.
    Comp,
    /// GRE.
    Gre,
    /// IPv6 routing extension header (`rt type`).
    Rt,
}

impl Proto {
    /// Parses a protocol keyword used as a payload base.
    pub fn from_name(s: &str) -> Option<Proto> {
        Some(match s {
            "ip" => Proto::Ip,
            "ip6" => Proto::Ip6,
            "tcp" => Proto::Tcp,
            "udp" => Proto::Udp,
            "udplite" => Proto::Udplite,
            "sctp" => Proto::Sctp,
            "dccp" => Proto::Dccp,
            "th" => Proto::Th,
            "icmp" => Proto::Icmp,
            "icmpv6" => Proto::Icmpv6,
            "igmp" => Proto::Igmp,
            "ether" => Proto::Ether,
            "vlan" => Proto::Vlan,
            "arp" => Proto::Arp,
            "ah" => Proto::Ah,
            "esp" => Proto::Esp,
            "comp" => Proto::Comp,
            "gre" => Proto::Gre,
            "rt" => Proto::Rt,
            _ => return None,
        })
    }
    /// The keyword.
    pub fn name(self) -> &'static str {
        match self {
            Proto::Ip => "ip",
            Proto::Ip6 => "ip6",
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
            Proto::Udplite => "udplite",
            Proto::Sctp => "sctp",
            Proto::Dccp => "dccp",
            Proto::Th => "th",
            Proto::Icmp => "icmp",
            Proto::Icmpv6 => "icmpv6",
            Proto::Igmp => "igmp",
            Proto::Ether => "ether",
            Proto::Vlan => "vlan",
            Proto::Arp => "arp",
            Proto::Ah => "ah",
            Proto::Esp => "esp",
            Proto::Comp => "comp",
            Proto::Gre => "gre",
            Proto::Rt => "rt",
        }
    }
}

/// Binary operator in an expression.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BinOp {
    /// `&` / `and`.
    And,
    /// `|` / `or`.
    Or,
    /// `^` / `xor`.
    Xor,
    /// `<<`.
    Shl,
    /// `>>`.
    Shr,
}

impl BinOp {
    /// The symbol.
    pub fn symbol(self) -> &'static str {
        match self {
            BinOp::And => "&",
            BinOp::Or => "|",
            BinOp::Xor => "^",
            BinOp::Shl => "<<",
            BinOp::Shr => ">>",
        }
    }
}

/// Relational operator of a match.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RelOp {
    /// `==` (also membership when the right side is a set, range or prefix).
    Eq,
    /// `!=` (non-membership for sets, ranges and prefixes).
    Ne,
    /// `<`.
    Lt,
    /// `>`.
    Gt,
    /// `<=`.
    Le,
    /// `>=`.
    Ge,
    /// Implicit operator on a bitmask type: `(x & v) != 0`.
    In,
    /// `!` on a bitmask type: `(x & v) == 0` (normalised away into `& v == 0`).
    Not,
    /// Implicit operator before resolution (becomes `Eq` or `In`).
    Implicit,
}

impl RelOp {
    /// The symbol nft prints (empty for the implicit forms).
    pub fn symbol(self) -> &'static str {
        match self {
            RelOp::Eq => "==",
            RelOp::Ne => "!=",
            RelOp::Lt => "<",
            RelOp::Gt => ">",
            RelOp::Le => "<=",
            RelOp::Ge => ">=",
            RelOp::In | RelOp::Implicit => "",
            RelOp::Not => "!",
        }
    }
}

/// Verdict.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Verdict {
    /// `accept`.
    Accept,
    /// `drop`.
    Drop,
    /// `continue`.
    Continue,
    /// `return`.
    Return,
    /// `jump CHAIN`.
    Jump(String),
    /// `goto CHAIN`.
    Goto(String),
}

impl Verdict {
    /// The verdicts without a chain: `accept`, `drop`, `continue`, `return`.
    pub fn from_keyword(s: &str) -> Option<Verdict> {
        Some(match s {
            "accept" => Verdict::Accept,
            "drop" => Verdict::Drop,
            "continue" => Verdict::Continue,
            "return" => Verdict::Return,
            _ => return None,
        })
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Accept => f.write_str("accept"),
            Verdict::Drop => f.write_str("drop"),
            Verdict::Continue => f.write_str("continue"),
            Verdict::Return => f.write_str("return"),
            Verdict::Jump(c) => write!(f, "jump {c}"),
            Verdict::Goto(c) => write!(f, "goto {c}"),
        }
    }
}

/// `meta` keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MetaKey {
    /// Packet length (skb->len).
    Length,
    /// EtherType.
    Protocol,
    /// L3 family of the hook (inet).
    Nfproto,
    /// Transport protocol.
    L4proto,
    /// Packet mark.
    Mark,
    /// Input ifindex.
    Iif,
    /// Input ifname.
    Iifname,
    /// Input interface type.
    Iiftype,
    /// Output ifindex.
    Oif,
    /// Output ifname.
    Oifname,
    /// Output interface type.
    Oiftype,
    /// skb priority.
    Priority,
    /// Packet type.
    Pkttype,
    /// Socket uid.
    Skuid,
    /// Socket gid.
    Skgid,
    /// Trace flag.
    Nftrace,
    /// Routing realm.
    Rtclassid,
    /// Bridge port names.
    Ibrname,
    /// Bridge port names.
    Obrname,
    /// Bridge port names.
    Ibrpvid,
    /// Bridge vlan proto.
    Ibrvproto,
    /// Input interface group.
    Iifgroup,
    /// Output interface group.
    Oifgroup,
    /// cgroup.
    Cgroup,
    /// Random number.
    Random,
    /// IPsec.
    Secpath,
    /// CPU number.
    Cpu,
    /// Time of day etc.
    Time,
    /// Day of week.
    Day,
    /// Hour.
    Hour,
    /// Security mark.
    Secmark,
    /// Input interface kind.
    Iifkind,
    /// Output interface kind.
    Oifkind,
    /// Socket tag.
    Sdif,
    /// Socket tag.
    Sdifname,
    /// Broute.
    Broute,
}

impl MetaKey {
    /// Parses a meta key name.
    pub fn from_name(s: &str) -> Option<MetaKey> {
        use MetaKey::*;
        Some(match s {
            "length" => Length,
            "protocol" => Protocol,
            "nfproto" => Nfproto,
            "l4proto" => L4proto,
            "mark" => Mark,
            "iif" => Iif,
            "iifname" => Iifname,
            "iiftype" => Iiftype,
            "oif" => Oif,
            "oifname" => Oifname,
            "oiftype" => Oiftype,
            "priority" => Priority,
            "pkttype" => Pkttype,
            "skuid" => Skuid,
            "skgid" => Skgid,
            "nftrace" => Nftrace,
            "rtclassid" => Rtclassid,
            "ibrname" | "ibriport" => Ibrname,
            "obrname" | "obriport" => Obrname,
            "ibrpvid" => Ibrpvid,
            "ibrvproto" => Ibrvproto,
            "iifgroup" => Iifgroup,
            "oifgroup" => Oifgroup,
            "cgroup" => Cgroup,
            "random" => Random,
            "secpath" | "ipsec" => Secpath,
            "cpu" => Cpu,
            "time" => Time,
            "day" => Day,
            "hour" => Hour,
            "secmark" => Secmark,
            "iifkind" => Iifkind,
            "oifkind" => Oifkind,
            "sdif" => Sdif,
            "sdifname" => Sdifname,
            "broute" => Broute,
            _ => return None,
        })
    }
    /// The keyword.
    pub fn name(self) -> &'static str {
        use MetaKey::*;
        match self {
            Length => "length",
            Protocol => "protocol",
            Nfproto => "nfproto",
            L4proto => "l4proto",
            Mark => "mark",
            Iif => "iif",
            Iifname => "iifname",
            Iiftype => "iiftype",
            Oif => "oif",
            Oifname => "oifname",
            Oiftype => "oiftype",
            Priority => "priority",
            Pkttype => "pkttype",
            Skuid => "skuid",
            Skgid => "skgid",
            Nftrace => "nftrace",
            Rtclassid => "rtclassid",
            Ibrname => "ibrname",
            Obrname => "obrname",
            Ibrpvid => "ibrpvid",
            Ibrvproto => "ibrvproto",
            Iifgroup => "iifgroup",
            Oifgroup => "oifgroup",
            Cgroup => "cgroup",
            Random => "random",
            Secpath => "ipsec",
            Cpu => "cpu",
            Time => "time",
            Day => "day",
            Hour => "hour",
            Secmark => "secmark",
            Iifkind => "iifkind",
            Oifkind => "oifkind",
            Sdif => "sdif",
            Sdifname => "sdifname",
            Broute => "broute",
        }
    }
    /// Whether the unqualified form (`mark`, `iifname`) is printed without `meta`.
    pub fn prints_bare(self) -> bool {
        use MetaKey::*;
        matches!(
            self,
            Iif | Iifname
                | Iiftype
                | Oif
                | Oifname
                | Oiftype
                | Skuid
                | Skgid
                | Rtclassid
                | Iifgroup
                | Oifgroup
                | Cgroup
                | Secpath
                | Ibrname
                | Obrname
        )
    }
    /// Whether the key is an interface name (or kind), which the kernel copies into the
    /// registers as an `IFNAMSIZ`-byte string (`nft_meta_store_ifname`,
    /// `nft_meta_get_eval_kind`, `nft_meta_bridge_get_eval`).
    pub fn is_ifname(self) -> bool {
        use MetaKey::*;
        matches!(
            self,
            Iifname | Oifname | Iifkind | Oifkind | Sdifname | Ibrname | Obrname
        )
    }
}

/// `ct` keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CtKey {
    /// Conntrack state bits.
    State,
    /// Status bits.
    Status,
    /// Direction of the packet.
    Direction,
    /// Connection mark.
    Mark,
    /// Expiration.
    Expiration,
    /// Helper name.
    Helper,
    /// L3 protocol.
    L3proto,
    /// L4 protocol.
    Protocol,
    /// Source address of a direction.
    Saddr,
    /// Destination address.
    Daddr,
    /// Source port (proto-src).
    ProtoSrc,
    /// Destination port.
    ProtoDst,
    /// Labels.
    Label,
    /// Bytes.
    Bytes,
    /// Packets.
    Packets,
    /// Average packet size.
    Avgpkt,
    /// Zone.
    Zone,
    /// Event mask.
    Event,
    /// Connection id.
    Id,
    /// ip saddr of a direction.
    IpSaddr,
    /// ip daddr of a direction.
    IpDaddr,
    /// ip6 saddr of a direction.
    Ip6Saddr,
    /// ip6 daddr of a direction.
    Ip6Daddr,
    /// Secmark.
    Secmark,
    /// Count (connlimit).
    Count,
}

impl CtKey {
    /// Parses a ct key name.
    pub fn from_name(s: &str) -> Option<CtKey> {
        use CtKey::*;
        Some(match s {
            "state" => State,
            "status" => Status,
            "direction" => Direction,
            "mark" => Mark,
            "expiration" => Expiration,
            "helper" => Helper,
            "l3proto" => L3proto,
            "protocol" => Protocol,
            "saddr" => Saddr,
            "daddr" => Daddr,
            "proto-src" => ProtoSrc,
            "proto-dst" => ProtoDst,
            "label" => Label,
            "bytes" => Bytes,
            "packets" => Packets,
            "avgpkt" => Avgpkt,
            "zone" => Zone,
            "event" => Event,
            "id" => Id,
            "secmark" => Secmark,
            "count" => Count,
            _ => return None,
        })
    }
    /// The keyword.
    pub fn name(self) -> &'static str {
        use CtKey::*;
        match self {
            State => "state",
            Status => "status",
            Direction => "direction",
            Mark => "mark",
            Expiration => "expiration",
            Helper => "helper",
            L3proto => "l3proto",
            Protocol => "protocol",
            Saddr => "saddr",
            Daddr => "daddr",
            ProtoSrc => "proto-src",
            ProtoDst => "proto-dst",
            Label => "label",
            Bytes => "bytes",
            Packets => "packets",
            Avgpkt => "avgpkt",
            Zone => "zone",
            Event => "event",
            Id => "id",
            IpSaddr => "ip saddr",
            IpDaddr => "ip daddr",
            Ip6Saddr => "ip6 saddr",
            Ip6Daddr => "ip6 daddr",
            Secmark => "secmark",
            Count => "count",
        }
    }
}

/// What a `fib` expression returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FibResult {
    /// Output interface index.
    Oif,
    /// Output interface name.
    Oifname,
    /// Address type (local, unicast, …).
    Type,
}

impl FibResult {
    /// Parses a `fib` result keyword.
    pub fn from_name(s: &str) -> Option<FibResult> {
        Some(match s {
            "oif" => FibResult::Oif,
            "oifname" => FibResult::Oifname,
            "type" => FibResult::Type,
            _ => return None,
        })
    }
    /// The keyword.
    pub fn name(self) -> &'static str {
        match self {
            FibResult::Oif => "oif",
            FibResult::Oifname => "oifname",
            FibResult::Type => "type",
        }
    }
}

/// `fib` lookup flags (bit set).
pub mod fib_flags {
    /// Use the source address.
    pub const SADDR: u8 = 1;
    /// Use the destination address.
    pub const DADDR: u8 = 2;
    /// Use the packet mark.
    pub const MARK: u8 = 4;
    /// Use the input interface.
    pub const IIF: u8 = 8;
    /// Use the output interface.
    pub const OIF: u8 = 16;

    /// Each flag and its keyword, in the order nft prints them.
    pub const NAMES: [(u8, &str); 5] = [
        (SADDR, "saddr"),
        (DADDR, "daddr"),
        (MARK, "mark"),
        (IIF, "iif"),
        (OIF, "oif"),
    ];

    /// The flag of a keyword.
    pub fn from_name(s: &str) -> Option<u8> {
        NAMES.iter().find(|(_, n)| *n == s).map(|(f, _)| *f)
    }
}

/// Rate unit of a limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LimitUnit {
    /// Packets.
    Packets,
    /// Bytes.
    Bytes,
}

/// NAT kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NatKind {
    /// `snat`.
    Snat,
    /// `dnat`.
    Dnat,
    /// `masquerade`.
    Masquerade,
    /// `redirect`.
    Redirect,
}

impl NatKind {
    /// Parses a NAT statement keyword.
    pub fn from_name(s: &str) -> Option<NatKind> {
        Some(match s {
            "snat" => NatKind::Snat,
            "dnat" => NatKind::Dnat,
            "masquerade" => NatKind::Masquerade,
            "redirect" => NatKind::Redirect,
            _ => return None,
        })
    }
    /// The keyword.
    pub fn name(self) -> &'static str {
        match self {
            NatKind::Snat => "snat",
            NatKind::Dnat => "dnat",
            NatKind::Masquerade => "masquerade",
            NatKind::Redirect => "redirect",
        }
    }
}

/// NAT flag bits.
pub mod nat_flags {
    /// `random`.
    pub const RANDOM: u8 = 1;
    /// `fully-random`.
    pub const FULLY_RANDOM: u8 = 2;
    /// `persistent`.
    pub const PERSISTENT: u8 = 4;
    /// `netmap`.
    pub const NETMAP: u8 = 8;

    /// Each flag and its keyword, in the order nft prints them.
    pub const NAMES: [(u8, &str); 4] = [
        (RANDOM, "random"),
        (FULLY_RANDOM, "fully-random"),
        (PERSISTENT, "persistent"),
        (NETMAP, "netmap"),
    ];

    /// The flag of a keyword.
    pub fn from_name(s: &str) -> Option<u8> {
        NAMES.iter().find(|(_, n)| *n == s).map(|(f, _)| *f)
    }
}

/// Set update operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SetOp {
    /// `add @s {...}`.
    Add,
    /// `update @s {...}`.
    Update,
    /// `delete @s {...}`.
    Delete,
}

impl SetOp {
    /// Parses a set statement keyword.
    pub fn from_name(s: &str) -> Option<SetOp> {
        Some(match s {
            "add" => SetOp::Add,
            "update" => SetOp::Update,
            "delete" => SetOp::Delete,
            _ => return None,
        })
    }
    /// The keyword.
    pub fn name(self) -> &'static str {
        match self {
            SetOp::Add => "add",
            SetOp::Update => "update",
            SetOp::Delete => "delete",
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl fmt::Display for Hook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Seconds of a `limit` rate period (`/second` ... `/week`).
pub(crate) fn rate_period_secs(name: &str) -> Option<u64> {
    Some(match name {
        "second" => 1,
        "minute" => 60,
        "hour" => 3600,
        "day" => 86400,
        "week" => 604800,
        _ => return None,
    })
}

/// The period nft prints for a rate of `secs` seconds.
pub(crate) fn rate_period_name(secs: u64) -> &'static str {
    match secs {
        1 => "second",
        60 => "minute",
        3600 => "hour",
        86400 => "day",
        _ => "week",
    }
}

/// Bytes of a byte unit (`bytes`, `kbytes`, `mbytes`, `gbytes`).
pub(crate) fn byte_unit(u: &str) -> Option<u64> {
    Some(match u {
        "bytes" => 1,
        "kbytes" => 1024,
        "mbytes" => 1024 * 1024,
        "gbytes" => 1024 * 1024 * 1024,
        _ => return None,
    })
}

/// Value of a named priority for a family and hook (nft's `std_prio_lookup`); `None` when
/// the name is not valid there. `dstnat` on output and `srcnat` on input are accepted as
/// since nft 1.0.9.
pub(crate) fn named_priority(name: &str, family: Family, hook: Hook) -> Option<i32> {
    if family == Family::Bridge {
        return match (name, hook) {
            ("dstnat", Hook::Prerouting) => Some(-300),
            ("filter", _) => Some(-200),
            ("out", Hook::Output) => Some(100),
            ("srcnat", Hook::Postrouting) => Some(300),
            _ => None,
        };
    }
    let netdev_like = matches!(family, Family::Netdev | Family::Arp);
    match name {
        "filter" => Some(0),
        _ if netdev_like => None,
        "raw" => Some(-300),
        "mangle" => Some(-150),
        "dstnat" if matches!(hook, Hook::Prerouting | Hook::Output) => Some(-100),
        "security" => Some(50),
        "srcnat" if matches!(hook, Hook::Postrouting | Hook::Input) => Some(100),
        _ => None,
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn priorities() {
        assert_eq!(
            named_priority("dstnat", Family::Ip, Hook::Output),
            Some(-100)
        );
        assert_eq!(
            named_priority("srcnat", Family::Inet, Hook::Prerouting),
            None
        );
        assert_eq!(
            named_priority("filter", Family::Bridge, Hook::Input),
            Some(-200)
        );
    }
}
