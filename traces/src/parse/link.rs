//! The link layer: the link types offsim reads (pcap `LINKTYPE_*`), libpcap's names for the
//! others, and the link header of a frame (Ethernet, Linux cooked v1/v2, BSD loopback, PPP,
//! raw IP): where the network layer starts and what it is.

use super::{ETH_P_IP, ETH_P_IPV6, ETH_P_PPP_SES, be16, cut};
use crate::meta::{Malformed, NetKind, PacketMeta, PktType, flags};

/// The link-layer header types offsim reads (pcap `LINKTYPE_*` values).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LinkType {
    /// BSD loopback encapsulation (`LINKTYPE_NULL`, 0): 4-byte address family in the
    /// capturing host's byte order.
    Null,
    /// Ethernet (`LINKTYPE_ETHERNET`, 1).
    Ethernet,
    /// PPP (`LINKTYPE_PPP`, 9): RFC 1661 frames, optionally with RFC 1662 HDLC-like address
    /// and control bytes (`ff 03`) and a compressed one-byte protocol field (what `pppd`'s
    /// interface `ppp0` or `pppoe-wan` captures as).
    Ppp,
    /// PPPoE (`LINKTYPE_PPP_ETHER`, 51): an RFC 2516 PPPoE header then the PPP protocol field.
    PppEther,
    /// Raw IP, version from the first nibble (`LINKTYPE_RAW`, 101; also DLT 12 and 14).
    Raw,
    /// OpenBSD loopback (`LINKTYPE_LOOP`, 108): address family in network byte order.
    Loop,
    /// Linux cooked capture v1 (`LINKTYPE_LINUX_SLL`, 113).
    LinuxSll,
    /// Raw IPv4 (`LINKTYPE_IPV4`, 228).
    Ipv4,
    /// Raw IPv6 (`LINKTYPE_IPV6`, 229).
    Ipv6,
    /// Linux cooked capture v2 (`LINKTYPE_LINUX_SLL2`, 276).
    LinuxSll2,
}

impl LinkType {
    /// Maps a pcap/pcapng link-type code to a supported link type.
    pub(crate) fn from_code(code: u32) -> Option<LinkType> {
        Some(match code {
            0 => LinkType::Null,
            1 => LinkType::Ethernet,
            9 => LinkType::Ppp,
            51 => LinkType::PppEther,
            101 | 12 | 14 => LinkType::Raw,
            108 => LinkType::Loop,
            113 => LinkType::LinuxSll,
            228 => LinkType::Ipv4,
            229 => LinkType::Ipv6,
            276 => LinkType::LinuxSll2,
            _ => return None,
        })
    }

    /// The canonical pcap code.
    pub fn code(self) -> u32 {
        match self {
            LinkType::Null => 0,
            LinkType::Ethernet => 1,
            LinkType::Ppp => 9,
            LinkType::PppEther => 51,
            LinkType::Raw => 101,
            LinkType::Loop => 108,
            LinkType::LinuxSll => 113,
            LinkType::Ipv4 => 228,
            LinkType::Ipv6 => 229,
            LinkType::LinuxSll2 => 276,
        }
    }

    /// The tcpdump/libpcap name (`EN10MB`, `LINUX_SLL`, …).
    pub fn name(self) -> &'static str {
        link_type_name(self.code())
    }
}

/// The libpcap name of a link-type code, including common ones offsim does not read, so that
/// an "unsupported link type" error can name what the user captured.
pub(crate) fn link_type_name(code: u32) -> &'static str {
    match code {
        0 => "NULL",
        1 => "EN10MB",
        6 => "IEEE802",
        9 => "PPP",
        10 => "FDDI",
        12 | 14 | 101 => "RAW",
        50 => "PPP_HDLC",
        51 => "PPP_ETHER",
        104 => "C_HDLC",
        105 => "IEEE802_11",
        107 => "FRELAY",
        108 => "LOOP",
        113 => "LINUX_SLL",
        119 => "PRISM_HEADER",
        127 => "IEEE802_11_RADIOTAP",
        147..=162 => "USER",
        163 => "IEEE802_11_AVS",
        187 => "BLUETOOTH_HCI_H4",
        189 => "USB_LINUX",
        192 => "PPI",
        195 => "IEEE802_15_4",
        201 => "BLUETOOTH_HCI_H4_WITH_PHDR",
        204 => "PPP_PPPD",
        215 => "IEEE802_15_4_NOFCS",
        220 => "USB_LINUX_MMAPPED",
        228 => "IPV4",
        229 => "IPV6",
        239 => "NFLOG",
        249 => "USBPCAP",
        253 => "NETLINK",
        263 => "ERF",
        274 => "DOCSIS31_XRA31",
        276 => "LINUX_SLL2",
        _ => "unknown",
    }
}

/// The PPP protocol field at `off`: (protocol, its length in bytes).
fn ppp_protocol(d: &[u8], off: usize) -> Option<(u16, usize)> {
    let b = *d.get(off)?;
    if b & 1 == 1 {
        Some((u16::from(b), 1))
    } else {
        Some((u16::from_be_bytes([b, *d.get(off + 1)?]), 2))
    }
}

/// The EtherType of the network protocol a PPP protocol number carries (IPv4 0x0021,
/// IPv6 0x0057).
pub(super) fn ppp_ethertype(p: u16) -> Option<u16> {
    match p {
        0x0021 => Some(ETH_P_IP),
        0x0057 => Some(ETH_P_IPV6),
        _ => None,
    }
}

/// The link-layer header: the EtherType (or IP version) of what follows and its offset;
/// `None` when the frame ends inside it or is not IP (`m` says why).
pub(super) fn link_header(link: LinkType, data: &[u8], m: &mut PacketMeta) -> Option<(u16, usize)> {
    Some(match link {
        LinkType::Ethernet => {
            if data.len() < 14 {
                cut(m, Malformed::LinkHeader);
                return None;
            }
            m.pkt_type = if data[0..6] == [0xff; 6] {
                PktType::Broadcast
            } else if data[0] & 1 == 1 {
                PktType::Multicast
            } else {
                PktType::Host
            };
            m.eth_dst.copy_from_slice(&data[0..6]);
            m.eth_src.copy_from_slice(&data[6..12]);
            m.flags |= flags::ETHER;
            (be16(data, 12), 14usize)
        }
        LinkType::LinuxSll => {
            if data.len() < 16 {
                cut(m, Malformed::LinkHeader);
                return None;
            }
            m.pkt_type = sll_pkttype(be16(data, 0));
            (be16(data, 14), 16)
        }
        LinkType::LinuxSll2 => {
            if data.len() < 20 {
                cut(m, Malformed::LinkHeader);
                return None;
            }
            m.pkt_type = sll_pkttype(u16::from(data[10]));
            (be16(data, 0), 20)
        }
        LinkType::Null | LinkType::Loop => {
            if data.len() < 4 {
                cut(m, Malformed::LinkHeader);
                return None;
            }
            let raw = [data[0], data[1], data[2], data[3]];
            let fam = if link == LinkType::Loop {
                u32::from_be_bytes(raw)
            } else {
                // Host byte order of the capturing machine: accept either.
                let le = u32::from_le_bytes(raw);
                if le <= 0xffff {
                    le
                } else {
                    u32::from_be_bytes(raw)
                }
            };
            let et = match fam {
                2 => ETH_P_IP,
                10 | 24 | 28 | 30 => ETH_P_IPV6,
                _ => 0,
            };
            (et, 4)
        }
        LinkType::Raw => match data.first() {
            None => {
                cut(m, Malformed::LinkHeader);
                return None;
            }
            Some(b) => match b >> 4 {
                4 => (ETH_P_IP, 0),
                6 => (ETH_P_IPV6, 0),
                _ => {
                    m.net = NetKind::Unknown;
                    m.malformed = Some(Malformed::IpVersion);
                    return None;
                }
            },
        },
        LinkType::Ipv4 => (ETH_P_IP, 0),
        LinkType::Ipv6 => (ETH_P_IPV6, 0),
        LinkType::Ppp => {
            // RFC 1662 address and control (`ff 03`) when present, then the protocol: one
            // byte when its low bit is set (RFC 1661 protocol-field compression), else two.
            let off = if data.starts_with(&[0xff, 0x03]) {
                2
            } else {
                0
            };
            match ppp_protocol(data, off) {
                Some((p, len)) => match ppp_ethertype(p) {
                    Some(et) => (et, off + len),
                    None => {
                        m.net = NetKind::NonIp(p);
                        return None;
                    }
                },
                None => {
                    cut(m, Malformed::LinkHeader);
                    return None;
                }
            }
        }
        // The PPPoE session header is parsed below as after an Ethernet header.
        LinkType::PppEther => (ETH_P_PPP_SES, 0),
    })
}

fn sll_pkttype(v: u16) -> PktType {
    match v {
        0 => PktType::Host,
        1 => PktType::Broadcast,
        2 => PktType::Multicast,
        3 => PktType::OtherHost,
        4 => PktType::Outgoing,
        _ => PktType::Host,
    }
}
