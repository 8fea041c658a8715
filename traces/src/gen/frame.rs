//! Building Ethernet frames (IPv4/IPv6; TCP, UDP, ICMP, ICMPv6) into a reused buffer.
//!
//! Every builder clears the buffer and writes one whole frame: Ethernet II header, IP header
//! (IPv4 header checksum filled in), transport header with its checksum over the
//! pseudo-header, header and payload. Payload bytes are zero unless an application template
//! (DNS, NTP) writes them; the checksum then covers only the bytes that can be non-zero,
//! which keeps the per-packet cost independent of the payload size. No allocation once the
//! buffer has grown to the largest frame.

use super::checksum::{fold, ipv4_header, pseudo_v4, pseudo_v6, sum_words};

/// Ethernet header length.
pub(crate) const ETH_LEN: usize = 14;
/// IPv4 header length (no options).
pub(crate) const IPV4_LEN: usize = 20;
/// IPv6 header length (no extension headers).
pub(crate) const IPV6_LEN: usize = 40;
/// Largest ICMP error message: 576 bytes of IPv4 datagram (RFC 1812 §4.3.2.3; Linux
/// `icmp_send` limits the quote to 576 - IP - ICMP header).
pub(crate) const ICMP4_ERR_MAX_IP: usize = 576;
/// Largest ICMPv6 error message: the IPv6 minimum MTU (RFC 4443 §2.4 (c)).
pub(crate) const ICMP6_ERR_MAX_IP: usize = 1280;

/// Network-layer parameters of one packet.
#[derive(Clone, Copy, Debug, Default)]
pub struct L3 {
    /// IPv6 when set, else IPv4 (addresses in the low 32 bits).
    pub v6: bool,
    /// Source address.
    pub src: u128,
    /// Destination address.
    pub dst: u128,
    /// Source MAC.
    pub src_mac: [u8; 6],
    /// Destination MAC.
    pub dst_mac: [u8; 6],
    /// TTL / hop limit.
    pub ttl: u8,
    /// IPv4 identification.
    pub ip_id: u16,
    /// IPv4 don't-fragment bit.
    pub df: bool,
    /// IPv6 flow label (20 bits).
    pub flow_label: u32,
    /// TOS / traffic class byte.
    pub tos: u8,
}

/// TCP options carried by a segment (the layouts real stacks send).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TcpOpts {
    /// No options.
    #[default]
    None,
    /// `NOP NOP TS(val, ecr)`: 12 bytes (Linux data segments with timestamps).
    Ts {
        /// TSval.
        val: u32,
        /// TSecr.
        ecr: u32,
    },
    /// SYN / SYN-ACK with timestamps, Linux layout: `MSS SACK_PERM TS NOP WS` (20 bytes).
    SynTs {
        /// MSS.
        mss: u16,
        /// Window-scale shift.
        ws: u8,
        /// TSval.
        val: u32,
        /// TSecr.
        ecr: u32,
    },
    /// SYN / SYN-ACK without timestamps, Windows layout: `MSS NOP WS NOP NOP SACK_PERM`
    /// (12 bytes).
    Syn {
        /// MSS.
        mss: u16,
        /// Window-scale shift.
        ws: u8,
    },
    /// Only an MSS option (4 bytes; scanners and flood tools).
    Mss(u16),
}

impl TcpOpts {
    /// Length of the encoded options (a multiple of 4).
    #[inline]
    pub(crate) fn len(self) -> usize {
        match self {
            TcpOpts::None => 0,
            TcpOpts::Ts { .. } | TcpOpts::Syn { .. } => 12,
            TcpOpts::SynTs { .. } => 20,
            TcpOpts::Mss(_) => 4,
        }
    }

    fn write(self, out: &mut Vec<u8>) {
        match self {
            TcpOpts::None => {}
            TcpOpts::Ts { val, ecr } => {
                out.extend_from_slice(&[1, 1, 8, 10]);
                out.extend_from_slice(&val.to_be_bytes());
                out.extend_from_slice(&ecr.to_be_bytes());
            }
            TcpOpts::SynTs { mss, ws, val, ecr } => {
                out.extend_from_slice(&[2, 4]);
                out.extend_from_slice(&mss.to_be_bytes());
                out.extend_from_slice(&[4, 2, 8, 10]);
                out.extend_from_slice(&val.to_be_bytes());
                out.extend_from_slice(&ecr.to_be_bytes());
                out.extend_from_slice(&[1, 3, 3, ws]);
            }
            TcpOpts::Syn { mss, ws } => {
                out.extend_from_slice(&[2, 4]);
                out.extend_from_slice(&mss.to_be_bytes());
                out.extend_from_slice(&[1, 3, 3, ws, 1, 1, 4, 2]);
            }
            TcpOpts::Mss(mss) => {
                out.extend_from_slice(&[2, 4]);
                out.extend_from_slice(&mss.to_be_bytes());
            }
        }
    }
}

/// A TCP header.
#[derive(Clone, Copy, Debug, Default)]
pub struct TcpHdr {
    /// Source port.
    pub sport: u16,
    /// Destination port.
    pub dport: u16,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgement number.
    pub ack: u32,
    /// Flags byte.
    pub flags: u8,
    /// Window field (unscaled value as sent).
    pub win: u16,
    /// Options.
    pub opts: TcpOpts,
}

/// Writes Ethernet + IP headers for an L4 segment of `l4_len` bytes; returns the L4 offset.
/// The headers are assembled in a stack array and appended in one step.
fn begin(buf: &mut Vec<u8>, l3: &L3, proto: u8, l4_len: usize) -> usize {
    buf.clear();
    let mut h = [0u8; ETH_LEN + IPV6_LEN];
    h[0..6].copy_from_slice(&l3.dst_mac);
    h[6..12].copy_from_slice(&l3.src_mac);
    if l3.v6 {
        h[12..14].copy_from_slice(&0x86ddu16.to_be_bytes());
        let vtf: u32 = (6 << 28) | (u32::from(l3.tos) << 20) | (l3.flow_label & 0xf_ffff);
        h[14..18].copy_from_slice(&vtf.to_be_bytes());
        h[18..20].copy_from_slice(&(l4_len as u16).to_be_bytes());
        h[20] = proto;
        h[21] = l3.ttl;
        h[22..38].copy_from_slice(&l3.src.to_be_bytes());
        h[38..54].copy_from_slice(&l3.dst.to_be_bytes());
        buf.extend_from_slice(&h);
        ETH_LEN + IPV6_LEN
    } else {
        h[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
        let total = (IPV4_LEN + l4_len) as u16;
        let ip = &mut h[ETH_LEN..ETH_LEN + IPV4_LEN];
        ip[0] = 0x45;
        ip[1] = l3.tos;
        ip[2..4].copy_from_slice(&total.to_be_bytes());
        ip[4..6].copy_from_slice(&l3.ip_id.to_be_bytes());
        ip[6..8].copy_from_slice(&(if l3.df { 0x4000u16 } else { 0 }).to_be_bytes());
        ip[8] = l3.ttl;
        ip[9] = proto;
        ip[12..16].copy_from_slice(&(l3.src as u32).to_be_bytes());
        ip[16..20].copy_from_slice(&(l3.dst as u32).to_be_bytes());
        let c = ipv4_header(ip);
        ip[10..12].copy_from_slice(&c.to_be_bytes());
        buf.extend_from_slice(&h[..ETH_LEN + IPV4_LEN]);
        ETH_LEN + IPV4_LEN
    }
}

/// Computes and stores the transport checksum at `l4 + field`, summing `buf[l4..nz_end]` (the
/// bytes after `nz_end` must be zero).
fn finish_l4(buf: &mut [u8], l3: &L3, proto: u8, l4: usize, field: usize, nz_end: usize) {
    let l4_len = (buf.len() - l4) as u32;
    let acc = if l3.v6 {
        pseudo_v6(l3.src, l3.dst, proto, l4_len)
    } else if proto == 1 {
        0 // ICMPv4 has no pseudo-header
    } else {
        pseudo_v4(l3.src as u32, l3.dst as u32, proto, l4_len)
    };
    let mut c = fold(sum_words(&buf[l4..nz_end], acc));
    if proto == 17 && c == 0 {
        c = 0xffff; // UDP: a computed zero is sent as all ones (RFC 768)
    }
    buf[l4 + field..l4 + field + 2].copy_from_slice(&c.to_be_bytes());
}

/// Builds a TCP segment with `payload` zero bytes.
pub fn tcp(buf: &mut Vec<u8>, l3: &L3, h: &TcpHdr, payload: usize) {
    let hl = 20 + h.opts.len();
    let l4 = begin(buf, l3, 6, hl + payload);
    let mut t = [0u8; 20];
    t[0..2].copy_from_slice(&h.sport.to_be_bytes());
    t[2..4].copy_from_slice(&h.dport.to_be_bytes());
    t[4..8].copy_from_slice(&h.seq.to_be_bytes());
    t[8..12].copy_from_slice(&h.ack.to_be_bytes());
    t[12] = ((hl / 4) as u8) << 4;
    t[13] = h.flags;
    t[14..16].copy_from_slice(&h.win.to_be_bytes());
    // Bytes 16..20: checksum (filled in below) and urgent pointer.
    buf.extend_from_slice(&t);
    h.opts.write(buf);
    let nz = buf.len();
    buf.resize(nz + payload, 0);
    finish_l4(buf, l3, 6, l4, 16, nz);
}

/// What a UDP payload holds.
#[derive(Clone, Copy, Debug)]
pub enum UdpPayload<'a> {
    /// `n` zero bytes.
    Zero(usize),
    /// These bytes, followed by `pad` zero bytes.
    Bytes(&'a [u8], usize),
}

impl UdpPayload<'_> {
    fn len(&self) -> usize {
        match self {
            UdpPayload::Zero(n) => *n,
            UdpPayload::Bytes(b, pad) => b.len() + pad,
        }
    }
}

/// Builds a UDP datagram.
pub fn udp(buf: &mut Vec<u8>, l3: &L3, sport: u16, dport: u16, payload: UdpPayload<'_>) {
    let len = 8 + payload.len();
    let l4 = begin(buf, l3, 17, len);
    let mut u = [0u8; 8];
    u[0..2].copy_from_slice(&sport.to_be_bytes());
    u[2..4].copy_from_slice(&dport.to_be_bytes());
    u[4..6].copy_from_slice(&(len as u16).to_be_bytes());
    buf.extend_from_slice(&u); // bytes 6..8: checksum, filled in below
    let nz = match payload {
        UdpPayload::Zero(n) => {
            let nz = buf.len();
            buf.resize(nz + n, 0);
            nz
        }
        UdpPayload::Bytes(b, pad) => {
            buf.extend_from_slice(b);
            let nz = buf.len();
            buf.resize(nz + pad, 0);
            nz
        }
    };
    finish_l4(buf, l3, 17, l4, 6, nz);
}

/// Builds an ICMP (IPv4) or ICMPv6 echo request/reply with `payload` zero bytes.
pub fn icmp_echo(buf: &mut Vec<u8>, l3: &L3, request: bool, id: u16, seq: u16, payload: usize) {
    let (proto, ty) = match (l3.v6, request) {
        (false, true) => (1, 8),
        (false, false) => (1, 0),
        (true, true) => (58, 128),
        (true, false) => (58, 129),
    };
    let l4 = begin(buf, l3, proto, 8 + payload);
    buf.extend_from_slice(&[ty, 0, 0, 0]);
    buf.extend_from_slice(&id.to_be_bytes());
    buf.extend_from_slice(&seq.to_be_bytes());
    let nz = buf.len();
    buf.resize(nz + payload, 0);
    finish_l4(buf, l3, proto, l4, 2, nz);
}

/// Builds an ICMP/ICMPv6 error (`ty`, `code`) that quotes `quoted`, the offending IP packet
/// (IP header onwards) as the erring node received it. The quote is cut so that the error's
/// IP datagram stays within 576 bytes (IPv4) or 1280 bytes (IPv6).
pub fn icmp_error(buf: &mut Vec<u8>, l3: &L3, ty: u8, code: u8, quoted: &[u8]) {
    let (proto, max_ip, ip_len) = if l3.v6 {
        (58, ICMP6_ERR_MAX_IP, IPV6_LEN)
    } else {
        (1, ICMP4_ERR_MAX_IP, IPV4_LEN)
    };
    let q = quoted.len().min(max_ip - ip_len - 8);
    let l4 = begin(buf, l3, proto, 8 + q);
    buf.extend_from_slice(&[ty, code, 0, 0, 0, 0, 0, 0]);
    buf.extend_from_slice(&quoted[..q]);
    let nz = buf.len();
    finish_l4(buf, l3, proto, l4, 2, nz);
}

/// Rewrites the TTL / hop limit of an IP packet (starting at its IP header) in place and fixes
/// the IPv4 header checksum, as a router on the path would have done.
pub(crate) fn set_ttl(ip: &mut [u8], ttl: u8) {
    if ip.first().map(|b| b >> 4) == Some(6) {
        if ip.len() >= IPV6_LEN {
            ip[7] = ttl;
        }
    } else if ip.len() >= IPV4_LEN {
        ip[8] = ttl;
        ip[10] = 0;
        ip[11] = 0;
        let c = ipv4_header(&ip[..IPV4_LEN]);
        ip[10..12].copy_from_slice(&c.to_be_bytes());
    }
}

/// DNS names the generator asks for: `<label><n>.example.<tld>` under the RFC 2606 reserved
/// domains, so that no real name appears in a trace.
const DNS_LABELS: [&str; 16] = [
    "www",
    "api",
    "cdn",
    "img",
    "static",
    "mail",
    "login",
    "video",
    "update",
    "ocsp",
    "time",
    "push",
    "assets",
    "media",
    "auth",
    "telemetry",
];
const DNS_TLDS: [&str; 3] = ["com", "net", "org"];

/// Writes a DNS question name for name number `n` into `out`.
fn dns_name(out: &mut Vec<u8>, n: u32) {
    let label = DNS_LABELS[(n % 16) as usize];
    let num = (n / 16) % 1000;
    let mut digits = [0u8; 3];
    let mut k = 0;
    let mut x = num;
    loop {
        digits[k] = b'0' + (x % 10) as u8;
        k += 1;
        x /= 10;
        if x == 0 {
            break;
        }
    }
    out.push((label.len() + k) as u8);
    out.extend_from_slice(label.as_bytes());
    for i in (0..k).rev() {
        out.push(digits[i]);
    }
    out.push(7);
    out.extend_from_slice(b"example");
    let tld = DNS_TLDS[((n / 16000) % 3) as usize];
    out.push(tld.len() as u8);
    out.extend_from_slice(tld.as_bytes());
    out.push(0);
}

/// A DNS query message (RFC 1035 §4.1): one question for name `name` of type `qtype`
/// (1 = A, 28 = AAAA, 65 = HTTPS), recursion desired.
pub(crate) fn dns_query(out: &mut Vec<u8>, id: u16, name: u32, qtype: u16) {
    out.clear();
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    dns_name(out, name);
    out.extend_from_slice(&qtype.to_be_bytes());
    out.extend_from_slice(&[0, 1]);
}

/// The answer to [`dns_query`]: `answers` records of the asked type (A/AAAA carry addresses
/// derived from `addr_seed`; other types get an empty answer section), TTL `ttl`.
pub(crate) fn dns_response(
    out: &mut Vec<u8>,
    id: u16,
    name: u32,
    qtype: u16,
    answers: u16,
    ttl: u32,
    addr_seed: u128,
) {
    let answers = if matches!(qtype, 1 | 28) { answers } else { 0 };
    out.clear();
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(&[0x81, 0x80, 0, 1]);
    out.extend_from_slice(&answers.to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]);
    dns_name(out, name);
    out.extend_from_slice(&qtype.to_be_bytes());
    out.extend_from_slice(&[0, 1]);
    for i in 0..answers {
        out.extend_from_slice(&[0xc0, 0x0c]); // pointer to the question name
        out.extend_from_slice(&qtype.to_be_bytes());
        out.extend_from_slice(&[0, 1]);
        out.extend_from_slice(&ttl.to_be_bytes());
        let a = addr_seed.wrapping_add(u128::from(i));
        if qtype == 1 {
            out.extend_from_slice(&[0, 4]);
            out.extend_from_slice(&(a as u32).to_be_bytes());
        } else {
            out.extend_from_slice(&[0, 16]);
            out.extend_from_slice(&a.to_be_bytes());
        }
    }
}

/// Seconds between the NTP era 0 origin (1900) and the Unix epoch (RFC 5905 §6).
const NTP_UNIX_OFFSET: u64 = 2_208_988_800;

/// An NTP timestamp (RFC 5905 §6) for a time in ns since the Unix epoch.
fn ntp_ts(unix_ns: u64) -> [u8; 8] {
    let secs = unix_ns / 1_000_000_000 + NTP_UNIX_OFFSET;
    let frac = ((unix_ns % 1_000_000_000) << 32) / 1_000_000_000;
    let mut b = [0u8; 8];
    b[..4].copy_from_slice(&(secs as u32).to_be_bytes());
    b[4..].copy_from_slice(&(frac as u32).to_be_bytes());
    b
}

/// A 48-byte NTPv4 packet (RFC 5905 §7.3): a client request (mode 3) carrying only its
/// transmit timestamp, or a server reply (mode 4, stratum 2) echoing it.
pub(crate) fn ntp(out: &mut Vec<u8>, server: bool, now_unix_ns: u64, client_xmit_ns: u64) {
    out.clear();
    out.resize(48, 0);
    if server {
        out[0] = 0x24; // LI 0, VN 4, mode 4
        out[1] = 2; // stratum
        out[2] = 6; // poll
        out[3] = 0xe9; // precision 2^-23
        out[4..8].copy_from_slice(&0x0000_0200u32.to_be_bytes()); // root delay
        out[8..12].copy_from_slice(&0x0000_0300u32.to_be_bytes()); // root dispersion
        out[12..16].copy_from_slice(&[192, 0, 2, 123]); // reference id
        out[16..24].copy_from_slice(&ntp_ts(now_unix_ns.saturating_sub(30_000_000_000)));
        out[24..32].copy_from_slice(&ntp_ts(client_xmit_ns));
        out[32..40].copy_from_slice(&ntp_ts(now_unix_ns.saturating_sub(20_000)));
        out[40..48].copy_from_slice(&ntp_ts(now_unix_ns));
    } else {
        out[0] = 0x23; // LI 0, VN 4, mode 3
        out[2] = 6;
        out[3] = 0xe9;
        out[40..48].copy_from_slice(&ntp_ts(now_unix_ns));
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::meta::{NetKind, flags};
    use crate::parse::{LinkType, parse_frame};
    use crate::time::SimTime;

    fn l3(v6: bool) -> L3 {
        L3 {
            v6,
            src: if v6 {
                0x2001_0db8_0000_0000_0000_0000_0000_0001
            } else {
                0xc0a8_0105
            },
            dst: if v6 {
                0x2001_0db8_0001_0000_0000_0000_0000_0002
            } else {
                0xcb00_7107
            },
            src_mac: [2, 0, 0, 0, 0, 1],
            dst_mac: [2, 0, 0, 0, 0, 2],
            ttl: 64,
            ip_id: 77,
            df: true,
            flow_label: 0x12345,
            tos: 0,
        }
    }

    /// Verifies every checksum of a frame built here by recomputing it over the whole packet.
    fn verify(buf: &[u8]) {
        let v6 = buf[12..14] == [0x86, 0xdd];
        let ip = &buf[ETH_LEN..];
        let (proto, l4, acc) = if v6 {
            let src = u128::from_be_bytes(ip[8..24].try_into().unwrap());
            let dst = u128::from_be_bytes(ip[24..40].try_into().unwrap());
            let l4 = &ip[IPV6_LEN..];
            (ip[6], l4, pseudo_v6(src, dst, ip[6], l4.len() as u32))
        } else {
            assert_eq!(fold(sum_words(&ip[..20], 0)), 0, "ipv4 header checksum");
            let total = u16::from_be_bytes([ip[2], ip[3]]) as usize;
            assert_eq!(total, ip.len());
            let l4 = &ip[IPV4_LEN..];
            let src = u32::from_be_bytes(ip[12..16].try_into().unwrap());
            let dst = u32::from_be_bytes(ip[16..20].try_into().unwrap());
            let acc = if ip[9] == 1 {
                0
            } else {
                pseudo_v4(src, dst, ip[9], l4.len() as u32)
            };
            (ip[9], l4, acc)
        };
        assert_eq!(fold(sum_words(l4, acc)), 0, "l4 checksum proto {proto}");
    }

    #[test]
    fn tcp_frames_parse_and_verify() {
        let mut buf = Vec::new();
        for v6 in [false, true] {
            for opts in [
                TcpOpts::None,
                TcpOpts::Ts { val: 1, ecr: 2 },
                TcpOpts::SynTs {
                    mss: 1460,
                    ws: 7,
                    val: 3,
                    ecr: 0,
                },
                TcpOpts::Syn { mss: 1440, ws: 8 },
                TcpOpts::Mss(1460),
            ] {
                let h = TcpHdr {
                    sport: 40000,
                    dport: 443,
                    seq: 0xdead_beef,
                    ack: 17,
                    flags: 0x12,
                    win: 64240,
                    opts,
                };
                tcp(&mut buf, &l3(v6), &h, 100);
                verify(&buf);
                let m = parse_frame(LinkType::Ethernet, &buf, buf.len() as u32, SimTime(0), 0);
                assert!(m.malformed.is_none());
                assert_eq!(m.net, if v6 { NetKind::Ipv6 } else { NetKind::Ipv4 });
                assert_eq!(m.tcp_seq, 0xdead_beef);
                assert_eq!(m.l4_payload_len, 100);
                assert_eq!(usize::from(m.tcp_hdr_len), 20 + opts.len());
                match opts {
                    TcpOpts::SynTs { ws, .. } | TcpOpts::Syn { ws, .. } => {
                        assert!(m.has(flags::TCP_WSCALE) && m.has(flags::TCP_SACK_PERM));
                        assert_eq!(m.tcp_wscale, ws);
                    }
                    _ => assert!(!m.has(flags::TCP_WSCALE)),
                }
                if !v6 {
                    assert_eq!(m.ip_id, 77);
                    assert!(m.has(flags::DONT_FRAGMENT));
                } else {
                    assert_eq!(m.flow_label, 0x12345);
                }
            }
        }
    }

    #[test]
    fn udp_icmp_frames_verify() {
        let mut buf = Vec::new();
        let mut q = Vec::new();
        for v6 in [false, true] {
            dns_query(&mut q, 0x1234, 12345, if v6 { 28 } else { 1 });
            udp(&mut buf, &l3(v6), 5353, 53, UdpPayload::Bytes(&q, 0));
            verify(&buf);
            udp(&mut buf, &l3(v6), 1, 2, UdpPayload::Zero(1200));
            verify(&buf);
            icmp_echo(&mut buf, &l3(v6), true, 9, 1, 56);
            verify(&buf);
            let m = parse_frame(LinkType::Ethernet, &buf, buf.len() as u32, SimTime(0), 0);
            assert_eq!(m.sport, 9);
            // An error quoting a 1500-byte UDP packet is cut to the size limit.
            udp(&mut q, &l3(v6), 33434, 33435, UdpPayload::Zero(1400));
            let mut quoted = q[ETH_LEN..].to_vec();
            set_ttl(&mut quoted, 1);
            if !v6 {
                assert_eq!(fold(sum_words(&quoted[..20], 0)), 0);
            }
            icmp_error(&mut buf, &l3(v6), if v6 { 3 } else { 11 }, 0, &quoted);
            verify(&buf);
            let limit = if v6 { 1280 } else { 576 };
            assert_eq!(buf.len() - ETH_LEN, limit);
            let m = parse_frame(LinkType::Ethernet, &buf, buf.len() as u32, SimTime(0), 0);
            assert!(m.has(flags::ICMP_ERROR));
            assert_eq!(m.inner.key.sport, 33434);
            assert_eq!(m.inner.key.dport, 33435);
        }
    }

    #[test]
    fn dns_and_ntp_templates() {
        let mut q = Vec::new();
        dns_query(&mut q, 7, 3, 1);
        // header 12 + "\x04img0\x07example\x03com\x00" (18) + type/class 4
        assert_eq!(q.len(), 12 + 18 + 4);
        assert_eq!(&q[12..17], b"\x04img0");
        let mut r = Vec::new();
        dns_response(&mut r, 7, 3, 1, 2, 300, 0xc633_6401);
        assert_eq!(r.len(), q.len() + 2 * 16);
        assert_eq!(&r[12..q.len()], &q[12..]);
        dns_response(&mut r, 7, 3, 65, 2, 300, 0);
        assert_eq!(r.len(), q.len());
        let mut n = Vec::new();
        ntp(&mut n, false, 1_700_000_000_500_000_000, 0);
        assert_eq!(n.len(), 48);
        assert_eq!(n[0], 0x23);
        assert_eq!(
            u32::from_be_bytes(n[40..44].try_into().unwrap()) as u64,
            1_700_000_000 + NTP_UNIX_OFFSET
        );
        // 0.5 s is half of 2^32 in the fraction.
        assert_eq!(u32::from_be_bytes(n[44..48].try_into().unwrap()), 1 << 31);
    }
}
