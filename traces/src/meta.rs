//! The compact, `Copy` summary of one captured packet that every later stage works on.
//!
//! [`PacketMeta`] holds what the simulator needs from a frame — timestamp, lengths, L2 tags,
//! the IP header fields nftables can match on, the transport header (ports, TCP flags,
//! sequence numbers, window and options for conntrack's window tracking), ICMP type/code and
//! the tuple quoted inside ICMP errors — and nothing that needs the heap. It is built by
//! [`crate::parse::parse_frame`].

use crate::time::SimTime;

/// How the frame was addressed at layer 2 (the kernel's `skb->pkt_type`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum PktType {
    /// Addressed to this host (unicast), or unknown (raw IP captures).
    #[default]
    Host = 0,
    /// Link-layer broadcast.
    Broadcast = 1,
    /// Link-layer multicast.
    Multicast = 2,
    /// Addressed to another host (only known from Linux cooked captures).
    OtherHost = 3,
    /// Sent by the capturing host (Linux cooked captures).
    Outgoing = 4,
}

impl PktType {
    /// nftables name of the value (`meta pkttype`).
    pub fn name(self) -> &'static str {
        match self {
            PktType::Host => "host",
            PktType::Broadcast => "broadcast",
            PktType::Multicast => "multicast",
            PktType::OtherHost => "other",
            PktType::Outgoing => "outgoing",
        }
    }
}

/// What the network layer of a frame turned out to be.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum NetKind {
    /// IPv4 (possibly with a transport header, see [`PacketMeta::l4_present`]).
    Ipv4,
    /// IPv6.
    Ipv6,
    /// Something that is not IP (ARP, LLDP, …); the value is the EtherType.
    NonIp(u16),
    /// The frame could not be parsed far enough to tell; see [`PacketMeta::malformed`].
    #[default]
    Unknown,
}

/// Why a packet was classified as malformed. Malformed packets are counted, never fatal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Malformed {
    /// The frame is shorter than its link-layer header (Ethernet, SLL, VLAN tag, PPPoE).
    LinkHeader = 0,
    /// IP version nibble does not match the EtherType / link type.
    IpVersion = 1,
    /// IPv4 IHL below 5.
    Ipv4HeaderLength = 2,
    /// The IP header claims a total length that is shorter than its header or longer than the
    /// frame on the wire.
    IpTotalLength = 3,
    /// The frame ends inside the IP header although it was captured whole.
    IpHeaderTruncated = 4,
    /// An IPv6 extension header chain that runs past the packet.
    Ipv6Extension = 5,
    /// The transport header is cut short although the packet was captured whole, or its own
    /// length field is impossible (TCP data offset below 5, UDP length below 8).
    TransportHeader = 6,
    /// The ICMP header is shorter than 8 bytes although the packet was captured whole.
    IcmpHeader = 7,
}

impl Malformed {
    /// All kinds, in report order.
    pub const ALL: [Malformed; 8] = [
        Malformed::LinkHeader,
        Malformed::IpVersion,
        Malformed::Ipv4HeaderLength,
        Malformed::IpTotalLength,
        Malformed::IpHeaderTruncated,
        Malformed::Ipv6Extension,
        Malformed::TransportHeader,
        Malformed::IcmpHeader,
    ];

    /// A short snake_case name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            Malformed::LinkHeader => "link_header",
            Malformed::IpVersion => "ip_version",
            Malformed::Ipv4HeaderLength => "ipv4_header_length",
            Malformed::IpTotalLength => "ip_total_length",
            Malformed::IpHeaderTruncated => "ip_header_truncated",
            Malformed::Ipv6Extension => "ipv6_extension",
            Malformed::TransportHeader => "transport_header",
            Malformed::IcmpHeader => "icmp_header",
        }
    }
}

/// IP protocol numbers used throughout offsim.
pub mod proto {
    /// ICMP.
    pub const ICMP: u8 = 1;
    /// IGMP.
    pub const IGMP: u8 = 2;
    /// TCP.
    pub const TCP: u8 = 6;
    /// UDP.
    pub const UDP: u8 = 17;
    /// GRE.
    pub const GRE: u8 = 47;
    /// ESP.
    pub const ESP: u8 = 50;
    /// AH.
    pub const AH: u8 = 51;
    /// ICMPv6.
    pub const ICMPV6: u8 = 58;
    /// SCTP.
    pub const SCTP: u8 = 132;
    /// UDP-Lite.
    pub const UDPLITE: u8 = 136;
    /// IPv6 hop-by-hop options.
    pub const IPV6_HOPOPTS: u8 = 0;
    /// IPv6 routing header.
    pub const IPV6_ROUTE: u8 = 43;
    /// IPv6 fragment header.
    pub const IPV6_FRAG: u8 = 44;
    /// IPv6 no next header.
    pub const IPV6_NONXT: u8 = 59;
    /// IPv6 destination options.
    pub const IPV6_DSTOPTS: u8 = 60;
    /// IPv6 mobility header.
    pub const IPV6_MH: u8 = 135;
}

/// TCP flag bits as they appear in byte 13 of the TCP header.
pub mod tcp_flags {
    /// FIN.
    pub const FIN: u8 = 0x01;
    /// SYN.
    pub const SYN: u8 = 0x02;
    /// RST.
    pub const RST: u8 = 0x04;
    /// PSH.
    pub const PSH: u8 = 0x08;
    /// ACK.
    pub const ACK: u8 = 0x10;
    /// URG.
    pub const URG: u8 = 0x20;
    /// ECE.
    pub const ECE: u8 = 0x40;
    /// CWR.
    pub const CWR: u8 = 0x80;
}

/// An IP address of either family, stored as a 128-bit integer. IPv4 addresses occupy the low
/// 32 bits; the family is carried next to it (in [`FlowKey`] and [`PacketMeta`]).
pub type Addr = u128;

/// Formats an address of the given IP version the way `nft` and tshark print it.
pub(crate) fn fmt_addr(version: u8, a: Addr) -> String {
    if version == 4 {
        std::net::Ipv4Addr::from(a as u32).to_string()
    } else {
        std::net::Ipv6Addr::from(a).to_string()
    }
}

/// A directional 5-tuple. For TCP/UDP/SCTP/UDP-Lite the ports are the transport ports; for ICMP
/// echo messages `sport` is the identifier and `dport` is 0 (as conntrack keys them); for other
/// protocols both ports are 0.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FlowKey {
    /// Source address.
    pub src: Addr,
    /// Destination address.
    pub dst: Addr,
    /// Source port (or ICMP identifier).
    pub sport: u16,
    /// Destination port.
    pub dport: u16,
    /// IP protocol number.
    pub proto: u8,
    /// IP version, 4 or 6.
    pub version: u8,
}

impl FlowKey {
    /// The same tuple seen from the other end.
    #[inline]
    pub fn reversed(&self) -> FlowKey {
        FlowKey {
            src: self.dst,
            dst: self.src,
            sport: self.dport,
            dport: self.sport,
            proto: self.proto,
            version: self.version,
        }
    }

    /// The canonical bidirectional form: the direction whose (address, port) endpoint sorts
    /// first is the source. A tuple and its reverse have the same canonical form.
    #[inline]
    pub fn canonical(&self) -> FlowKey {
        if (self.src, self.sport) <= (self.dst, self.dport) {
            *self
        } else {
            self.reversed()
        }
    }

    /// Whether this tuple is already in canonical orientation.
    #[cfg(test)]
    #[inline]
    pub(crate) fn is_canonical(&self) -> bool {
        (self.src, self.sport) <= (self.dst, self.dport)
    }
}

impl std::fmt::Display for FlowKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let p = match self.proto {
            proto::TCP => "tcp".to_string(),
            proto::UDP => "udp".to_string(),
            proto::ICMP => "icmp".to_string(),
            proto::ICMPV6 => "icmpv6".to_string(),
            n => n.to_string(),
        };
        if self.version == 6 {
            write!(
                f,
                "{p} [{}]:{} -> [{}]:{}",
                fmt_addr(6, self.src),
                self.sport,
                fmt_addr(6, self.dst),
                self.dport
            )
        } else {
            write!(
                f,
                "{p} {}:{} -> {}:{}",
                fmt_addr(4, self.src),
                self.sport,
                fmt_addr(4, self.dst),
                self.dport
            )
        }
    }
}

/// The tuple of the packet quoted inside an ICMP or ICMPv6 error message (destination
/// unreachable, time exceeded, parameter problem, packet too big, redirect, source quench).
/// Conntrack uses it to find the connection the error is `related` to. For a quoted
/// ICMP/ICMPv6 message, `sport` is its echo identifier (0 for other types) and `dport` is
/// `type << 8 | code`, as conntrack keys ICMP.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct InnerTuple {
    /// The quoted packet's tuple, in the direction it was sent.
    pub key: FlowKey,
    /// Whether the quoted transport header (ports / echo id) was present.
    pub l4_present: bool,
}

/// Flag bits in [`PacketMeta::flags`].
pub mod flags {
    /// The captured length is shorter than the wire length (snap length cut).
    pub const SNAP_TRUNCATED: u16 = 1 << 0;
    /// IPv4 header carries options (IHL > 5).
    pub const IP_OPTIONS: u16 = 1 << 1;
    /// IPv6 packet carries extension headers before the transport header.
    pub const IP6_EXT_HEADERS: u16 = 1 << 2;
    /// The packet is a fragment (IPv4 MF or offset, IPv6 fragment header).
    pub const FRAGMENT: u16 = 1 << 3;
    /// More-fragments bit set.
    pub const MORE_FRAGMENTS: u16 = 1 << 4;
    /// IPv4 don't-fragment bit set.
    pub const DONT_FRAGMENT: u16 = 1 << 5;
    /// The transport header is present and complete (ports, flags, ICMP type are valid).
    pub const L4_PRESENT: u16 = 1 << 6;
    /// The packet carries a PPPoE session header.
    pub const PPPOE: u16 = 1 << 7;
    /// The TCP SYN carried a window-scale option (value in [`super::PacketMeta::tcp_wscale`]).
    pub const TCP_WSCALE: u16 = 1 << 8;
    /// The TCP SYN carried SACK-permitted.
    pub const TCP_SACK_PERM: u16 = 1 << 9;
    /// The TCP segment carries SACK blocks ([`super::PacketMeta::tcp_sack_edge`] is valid).
    pub const TCP_SACK: u16 = 1 << 10;
    /// The packet is an ICMP/ICMPv6 error quoting another packet ([`super::PacketMeta::inner`]).
    pub const ICMP_ERROR: u16 = 1 << 11;
    /// The transport ports (first four bytes of the transport header) were captured. Set with
    /// [`L4_PRESENT`], and also when a snap-length cut leaves only the ports — tshark still
    /// shows them, so flows are counted.
    pub const PORTS: u16 = 1 << 12;
    /// The UDP length field is below 8 or larger than the IP payload (conntrack's
    /// `udp_error` calls such a packet invalid).
    pub const UDP_BAD_LENGTH: u16 = 1 << 13;
    /// The first four bytes of the transport header were captured
    /// ([`super::PacketMeta::l4_head`]), whatever the protocol.
    pub const L4_HEAD: u16 = 1 << 14;
    /// The frame has an Ethernet header ([`super::PacketMeta::eth_src`] and `eth_dst` are
    /// valid).
    pub const ETHER: u16 = 1 << 15;
}

/// Summary of one captured frame. `Copy`, no heap; about 220 bytes.
///
/// Field validity: IP fields are meaningful when [`PacketMeta::net`] is `Ipv4`/`Ipv6`;
/// transport fields when [`flags::L4_PRESENT`] is set (a snap-length cut or a non-first
/// fragment leaves it clear); [`PacketMeta::inner`] when [`flags::ICMP_ERROR`] is set.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PacketMeta {
    /// Capture timestamp (ns since the Unix epoch as recorded).
    pub ts: SimTime,
    /// Length of the frame on the wire (link header included, FCS as captured).
    pub wire_len: u32,
    /// Number of bytes captured.
    pub cap_len: u32,
    /// Capture interface (pcapng interface id; 0 for pcap).
    pub iface: u32,
    /// Bit set of [`flags`].
    pub flags: u16,
    /// Network layer kind.
    pub net: NetKind,
    /// Set when the packet is malformed; such a packet has no usable L3/L4 fields.
    pub malformed: Option<Malformed>,
    /// Link-layer addressing.
    pub pkt_type: PktType,
    /// Number of VLAN tags (0–2 recorded; a third tag or more is counted here but not stored).
    pub vlan_count: u8,
    /// VLAN IDs, outer first.
    pub vlan: [u16; 2],
    /// PPPoE session id (valid with [`flags::PPPOE`]).
    pub pppoe_session: u16,
    /// Offset of the IP header in the captured frame.
    pub l3_offset: u16,
    /// EtherType of the network layer (0x0800, 0x86dd, …), after VLAN/PPPoE.
    pub ethertype: u16,
    /// IP version (4 or 6), 0 when not IP.
    pub ip_version: u8,
    /// Source address.
    pub src: Addr,
    /// Destination address.
    pub dst: Addr,
    /// L3 length from the IP header: IPv4 total length, or 40 + IPv6 payload length. This is
    /// what nftables counters count as bytes for forwarded traffic.
    pub ip_len: u32,
    /// Length of the IP header including IPv4 options / IPv6 extension headers walked.
    pub ip_hdr_len: u16,
    /// TTL or hop limit as captured.
    pub ttl: u8,
    /// DSCP (upper 6 bits of TOS / traffic class).
    pub dscp: u8,
    /// ECN bits.
    pub ecn: u8,
    /// The protocol field of the fixed header (`ip protocol`, `ip6 nexthdr`).
    pub ip_proto_field: u8,
    /// The transport protocol after IPv6 extension headers (`meta l4proto`).
    pub l4proto: u8,
    /// IPv4 identification, or the IPv6 fragment identification.
    pub ip_id: u32,
    /// IPv6 flow label.
    pub flow_label: u32,
    /// Fragment offset in bytes.
    pub frag_offset: u16,
    /// Source port (TCP/UDP/SCTP/UDP-Lite), ICMP echo identifier for echo messages.
    pub sport: u16,
    /// Destination port.
    pub dport: u16,
    /// TCP flags byte.
    pub tcp_flags: u8,
    /// TCP window-scale shift from the option (valid with [`flags::TCP_WSCALE`]).
    pub tcp_wscale: u8,
    /// TCP data offset in bytes (header length).
    pub tcp_hdr_len: u8,
    /// ICMP/ICMPv6 type.
    pub icmp_type: u8,
    /// ICMP/ICMPv6 code.
    pub icmp_code: u8,
    /// TCP sequence number.
    pub tcp_seq: u32,
    /// TCP acknowledgement number.
    pub tcp_ack: u32,
    /// TCP window (unscaled).
    pub tcp_win: u16,
    /// Highest right edge of the SACK blocks (valid with [`flags::TCP_SACK`]).
    pub tcp_sack_edge: u32,
    /// Length of the transport payload according to the headers (not the capture).
    pub l4_payload_len: u32,
    /// The UDP header's length field (UDP only).
    pub udp_len: u16,
    /// The first four bytes of the transport header, big-endian, for any protocol (valid with
    /// [`flags::L4_HEAD`]): what nftables' raw transport loads (`th sport`, `th dport`) read —
    /// the ports for TCP/UDP, type, code and checksum for ICMP.
    pub l4_head: u32,
    /// The TCP maximum segment size option (kind 2), when the segment carries one
    /// (`tcp option maxseg size`).
    pub tcp_mss: Option<u16>,
    /// The type of the first IPv6 routing header, when the packet has one (`rt type`).
    pub ip6_rt_type: Option<u8>,
    /// Ethernet source address (valid with [`flags::ETHER`]).
    pub eth_src: [u8; 6],
    /// Ethernet destination address (valid with [`flags::ETHER`]).
    pub eth_dst: [u8; 6],
    /// Tuple quoted by an ICMP error.
    pub inner: InnerTuple,
}

impl PacketMeta {
    /// Whether a flag bit is set.
    #[inline]
    pub fn has(&self, flag: u16) -> bool {
        self.flags & flag != 0
    }

    /// Whether the packet may open a connection: anything but a TCP segment without SYN.
    /// Which tables a new connection's packet reads (and so which lines a prefetch asks
    /// for) depends on it.
    #[inline]
    pub fn may_open(&self) -> bool {
        self.l4proto != proto::TCP || self.tcp_flags & tcp_flags::SYN != 0
    }

    /// Whether this is an IPv4 or IPv6 packet that parsed cleanly.
    #[inline]
    pub fn is_ip(&self) -> bool {
        matches!(self.net, NetKind::Ipv4 | NetKind::Ipv6) && self.malformed.is_none()
    }

    /// Whether the transport header was captured and parsed.
    #[inline]
    pub fn l4_present(&self) -> bool {
        self.has(flags::L4_PRESENT)
    }

    /// Whether the transport protocol carries ports in its first four bytes.
    #[inline]
    pub fn has_ports(&self) -> bool {
        matches!(
            self.l4proto,
            proto::TCP | proto::UDP | proto::SCTP | proto::UDPLITE
        )
    }

    /// The directional flow key (see [`FlowKey`] for what the ports mean per protocol).
    /// Returns `None` for non-IP or malformed packets.
    #[inline]
    pub fn flow_key(&self) -> Option<FlowKey> {
        if !self.is_ip() {
            return None;
        }
        let (sport, dport) = if self.has(flags::PORTS) && self.has_ports() {
            (self.sport, self.dport)
        } else if self.l4_present() {
            if self.has_ports() {
                (self.sport, self.dport)
            } else if is_icmp_echo(self.l4proto, self.icmp_type) {
                (self.sport, 0)
            } else {
                (0, 0)
            }
        } else {
            (0, 0)
        };
        Some(FlowKey {
            src: self.src,
            dst: self.dst,
            sport,
            dport,
            proto: self.l4proto,
            version: self.ip_version,
        })
    }
}

/// Whether an ICMP/ICMPv6 type is an echo request or reply (or another query type conntrack
/// tracks by identifier: timestamp, info, address mask; ICMPv6 node information).
#[inline]
pub fn is_icmp_echo(l4proto: u8, icmp_type: u8) -> bool {
    match l4proto {
        proto::ICMP => matches!(icmp_type, 0 | 8 | 13 | 14 | 15 | 16 | 17 | 18),
        proto::ICMPV6 => matches!(icmp_type, 128 | 129 | 139 | 140),
        _ => false,
    }
}

/// Whether an ICMP/ICMPv6 type is an error message that quotes the offending packet.
#[inline]
pub fn is_icmp_error(l4proto: u8, icmp_type: u8) -> bool {
    match l4proto {
        proto::ICMP => matches!(icmp_type, 3 | 4 | 5 | 11 | 12),
        proto::ICMPV6 => matches!(icmp_type, 1..=4),
        _ => false,
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn canonical_is_symmetric() {
        let k = FlowKey {
            src: 0x0a00_0002,
            dst: 0x0a00_0001,
            sport: 1234,
            dport: 80,
            proto: proto::TCP,
            version: 4,
        };
        assert_eq!(k.canonical(), k.reversed().canonical());
        assert!(k.canonical().is_canonical());
        assert_eq!(k.reversed().reversed(), k);
    }

    #[test]
    fn canonical_same_address_orders_by_port() {
        let k = FlowKey {
            src: 7,
            dst: 7,
            sport: 9,
            dport: 3,
            proto: proto::UDP,
            version: 4,
        };
        assert_eq!(k.canonical().sport, 3);
    }

    #[test]
    fn meta_is_small_and_copy() {
        fn is_copy<T: Copy>() {}
        is_copy::<PacketMeta>();
        // 192 bytes before the fields nftables matches needed: Ethernet addresses, the TCP
        // MSS option, the IPv6 routing header type and the transport header's first bytes.
        assert!(std::mem::size_of::<PacketMeta>() <= 224);
    }

    #[test]
    fn display_key() {
        let k = FlowKey {
            src: 0xc000_0201,
            dst: 0xc000_0202,
            sport: 1,
            dport: 2,
            proto: proto::UDP,
            version: 4,
        };
        assert_eq!(k.to_string(), "udp 192.0.2.1:1 -> 192.0.2.2:2");
    }
}
