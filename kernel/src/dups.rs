//! Packets captured twice: a capture taken on two of the router's interfaces at once (a
//! Wireshark pcapng of `br-lan` and `wan`, or a Linux `any` capture) holds every forwarded
//! packet twice, as it arrived and as it left — one hop later (TTL or hop limit one lower)
//! and, through NAT, with one endpoint rewritten.
//!
//! [`DupFinder`] recognises the second copy: same IP version, protocol, IP length, IPv4
//! identification or IPv6 flow label, transport fields NAT leaves alone (TCP sequence,
//! acknowledgement and flags, ICMP type and code), a TTL exactly one lower, and the same
//! destination endpoint (source NAT, or none) or the same source endpoint (destination NAT).
//! It remembers the last [`WINDOW`] IP packets, so memory is bounded and no clock is needed
//! (retimed replays keep the order). Each remembered packet matches at most one copy.

use offsim_traces::hash::FxHashMap;
use offsim_traces::meta::{PacketMeta, flags, proto};

/// Packets remembered: a forwarded copy is captured within microseconds to milliseconds of
/// its original, far fewer packets apart than this on any link a router forwards.
pub const WINDOW: usize = 4096;

/// What identifies a packet across a hop, without the endpoints NAT may rewrite.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Print {
    version: u8,
    l4proto: u8,
    ttl: u8,
    ip_len: u32,
    /// IPv4 identification or IPv6 flow label.
    id: u32,
    seq: u32,
    ack: u32,
    /// TCP flags, or ICMP type and code.
    bits: u16,
}

/// One endpoint: address and port (ICMP echo: the identifier).
type End = (u128, u16);

/// How a packet relates to the ones seen before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CopyKind {
    /// Not a copy of a remembered packet.
    First,
    /// The forwarded copy of a packet seen before (TTL one lower): count it once.
    Forwarded,
    /// The arriving original of a packet whose forwarded copy came first in the file (one
    /// TTL higher): already counted twice, it cannot be undone in a single pass.
    ArrivedLate,
}

/// Finds the second copy of packets captured on two interfaces.
#[derive(Debug, Default)]
pub struct DupFinder {
    by_dst: FxHashMap<(Print, End), u32>,
    by_src: FxHashMap<(Print, End), u32>,
    /// The remembered packets, oldest first once full: (print, source, destination, live).
    ring: Vec<(Print, End, End, bool)>,
    next: usize,
    /// Forwarded copies found.
    pub forwarded: u64,
    /// Originals found after their forwarded copy.
    pub arrived_late: u64,
}

impl DupFinder {
    /// An empty finder.
    pub fn new() -> Self {
        DupFinder::default()
    }

    /// Classifies the next packet of the capture and remembers it.
    pub fn check(&mut self, m: &PacketMeta) -> CopyKind {
        if !m.is_ip() || m.has(flags::FRAGMENT) {
            return CopyKind::First;
        }
        let (p, src, dst) = print(m);
        for (dttl, what) in [(1i16, CopyKind::Forwarded), (-1, CopyKind::ArrivedLate)] {
            let ttl = i16::from(p.ttl) + dttl;
            if !(0..=255).contains(&ttl) {
                continue;
            }
            let q = Print {
                ttl: ttl as u8,
                ..p
            };
            let hit = self
                .by_dst
                .get(&(q, dst))
                .or_else(|| self.by_src.get(&(q, src)))
                .copied();
            if let Some(slot) = hit {
                self.forget(slot as usize);
                match what {
                    CopyKind::Forwarded => self.forwarded += 1,
                    _ => self.arrived_late += 1,
                }
                return what;
            }
        }
        self.remember(p, src, dst);
        CopyKind::First
    }

    fn remember(&mut self, p: Print, src: End, dst: End) {
        let slot = self.next;
        if self.ring.len() < WINDOW {
            self.ring.push((p, src, dst, true));
        } else {
            self.forget(slot);
            self.ring[slot] = (p, src, dst, true);
        }
        self.by_dst.insert((p, dst), slot as u32);
        self.by_src.insert((p, src), slot as u32);
        self.next = (slot + 1) % WINDOW;
    }

    fn forget(&mut self, slot: usize) {
        let (p, src, dst, live) = self.ring[slot];
        if !live {
            return;
        }
        self.ring[slot].3 = false;
        if self.by_dst.get(&(p, dst)) == Some(&(slot as u32)) {
            self.by_dst.remove(&(p, dst));
        }
        if self.by_src.get(&(p, src)) == Some(&(slot as u32)) {
            self.by_src.remove(&(p, src));
        }
    }
}

fn print(m: &PacketMeta) -> (Print, End, End) {
    let l4 = m.l4_present();
    let (seq, ack, bits) = match m.l4proto {
        proto::TCP if l4 => (m.tcp_seq, m.tcp_ack, u16::from(m.tcp_flags)),
        proto::ICMP | proto::ICMPV6 if l4 => {
            (0, 0, u16::from(m.icmp_type) << 8 | u16::from(m.icmp_code))
        }
        _ => (0, 0, 0),
    };
    let p = Print {
        version: m.ip_version,
        l4proto: m.l4proto,
        ttl: m.ttl,
        ip_len: m.ip_len,
        id: if m.ip_version == 4 {
            m.ip_id
        } else {
            m.flow_label
        },
        seq,
        ack,
        bits,
    };
    let (sport, dport) = if m.has(flags::PORTS) || l4 {
        (m.sport, m.dport)
    } else {
        (0, 0)
    };
    (p, (m.src, sport), (m.dst, dport))
}

#[cfg(test)]
mod test {
    use super::*;
    use offsim_traces::testkit::Pkt;

    #[test]
    fn forwarded_copies_are_found_through_nat() {
        let mut d = DupFinder::new();
        let a = Pkt::udp("192.168.1.10:5000", "198.51.100.1:53")
            .ttl(64)
            .build();
        // Masqueraded copy one hop later: source rewritten, destination kept.
        let a2 = Pkt::udp("203.0.113.2:61000", "198.51.100.1:53")
            .ttl(63)
            .build();
        // The reply, and its copy with the destination rewritten back.
        let r = Pkt::udp("198.51.100.1:53", "203.0.113.2:61000")
            .ttl(57)
            .build();
        let r2 = Pkt::udp("198.51.100.1:53", "192.168.1.10:5000")
            .ttl(56)
            .build();
        assert_eq!(d.check(&a), CopyKind::First);
        assert_eq!(d.check(&a2), CopyKind::Forwarded);
        assert_eq!(d.check(&r), CopyKind::First);
        assert_eq!(d.check(&r2), CopyKind::Forwarded);
        // A second, identical query is a new packet; its copy matches it (each remembered
        // packet matches once).
        assert_eq!(d.check(&a), CopyKind::First);
        assert_eq!(d.check(&a2), CopyKind::Forwarded);
        assert_eq!(d.check(&a2), CopyKind::First);
        // Same TTL is not a hop; both endpoints rewritten is not a copy.
        let mut d = DupFinder::new();
        assert_eq!(d.check(&a), CopyKind::First);
        assert_eq!(d.check(&a), CopyKind::First);
        let other = Pkt::udp("203.0.113.2:61000", "198.51.100.9:54")
            .ttl(63)
            .build();
        assert_eq!(d.check(&other), CopyKind::First);
        // The copy written before its original.
        let mut d = DupFinder::new();
        assert_eq!(d.check(&a2), CopyKind::First);
        assert_eq!(d.check(&a), CopyKind::ArrivedLate);
        assert_eq!((d.forwarded, d.arrived_late), (0, 1));
    }

    #[test]
    fn memory_is_bounded_by_the_window() {
        let mut d = DupFinder::new();
        for i in 0..3 * WINDOW as u32 {
            let p = Pkt::udp("192.168.1.10:5000", "198.51.100.1:53")
                .payload(i % 1000)
                .dscp((i / 1000) as u8)
                .build();
            let mut p = p;
            p.ip_id = i;
            d.check(&p);
        }
        assert_eq!(d.ring.len(), WINDOW);
        assert!(d.by_dst.len() <= WINDOW && d.by_src.len() <= WINDOW);
    }
}
