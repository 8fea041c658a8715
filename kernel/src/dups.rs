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

use std::hash::{Hash, Hasher};

use hashbrown::HashTable;
use offsim_traces::meta::{PacketMeta, flags, proto};
use rustc_hash::FxHasher;

/// Packets remembered: a forwarded copy is captured within microseconds to milliseconds of
/// its original, far fewer packets apart than this on any link a router forwards.
pub const WINDOW: usize = 4096;

/// IP packets searched before giving up when none of them was captured twice. A capture of
/// two interfaces holds forwarded copies from its first forwarded packet on (both interfaces
/// are captured together), so a search that found none among this many will find none
/// later; with some found, the search runs to the end and its count is exact. Searching
/// every packet cost a tenth of a replay's time for a warning that cannot come.
pub const SEARCH_PACKETS: u64 = 100_000;

/// What identifies a packet across a hop, without the endpoints NAT may rewrite (and
/// without the TTL, which [`Seen`] keeps beside it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Print {
    version: u8,
    l4proto: u8,
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

/// A remembered packet.
#[derive(Clone, Copy, Debug)]
struct Seen {
    print: Print,
    ttl: u8,
    src: End,
    dst: End,
    /// The hashes of (print, destination) and (print, source), without the TTL
    /// ([`with_ttl`] adds it).
    hash: [u64; 2],
    /// The print's counter in [`DupFinder::prints`].
    bucket: u16,
    live: bool,
}

impl Seen {
    /// Whether this packet has print `p`, TTL `ttl` and endpoint `e` on `side` (0 the
    /// destination, 1 the source).
    #[inline]
    fn is(&self, p: &Print, ttl: u8, e: &End, side: usize) -> bool {
        self.print == *p && self.ttl == ttl && *e == if side == 0 { self.dst } else { self.src }
    }
}

/// A print's fields packed into three words (what [`base_hash`] and [`print_bucket`]
/// hash). What tells packets apart sits in each word's low bits, which the Fx hasher's
/// multiply spreads over the whole hash (a bit carries only upwards): the IPv4 id, or on
/// IPv6 (whose flow label is the flow's) the TCP sequence, mixed into the second word's.
#[inline]
fn print_words(p: &Print) -> [u64; 3] {
    [
        u64::from(p.version)
            | u64::from(p.l4proto) << 8
            | u64::from(p.bits) << 16
            | u64::from(p.ip_len) << 32,
        u64::from(p.id ^ p.seq) | u64::from(p.seq) << 32,
        u64::from(p.ack),
    ]
}

/// The hash of a print (its [`print_words`]) and one endpoint: five writes where the
/// derived `Hash` of the two made nine.
#[inline]
fn base_hash(w: &[u64; 3], e: &End) -> u64 {
    let mut h = FxHasher::default();
    for x in w {
        h.write_u64(*x);
    }
    h.write_u128(e.0);
    h.write_u16(e.1);
    h.finish()
}

/// The index's hash of a base hash and a TTL: a multiply spreads the TTL over the top bits,
/// where hashbrown takes its 7-bit tag.
#[inline]
fn with_ttl(base: u64, ttl: u8) -> u64 {
    (base ^ u64::from(ttl)).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// Counters of [`DupFinder::prints`]: four for every remembered packet, so that most
/// packets (not copies) find theirs at zero.
const PRINT_BUCKETS: usize = 4 * WINDOW;

/// A print's counter (of its [`print_words`]): a multiply–shift, endpoints and TTL left
/// out (a copy through NAT has another endpoint and TTL, the same print).
#[inline]
fn print_bucket(w: &[u64; 3]) -> u16 {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    let h = ((w[0].wrapping_mul(K) ^ w[1]).wrapping_mul(K) ^ w[2]).wrapping_mul(K);
    (h >> (64 - PRINT_BUCKETS.trailing_zeros())) as u16
}

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
    /// The newest remembered packet of each (print, TTL, endpoint), by destination
    /// (`[0]`) and by source (`[1]`): ring slots, compared against the packet stored there
    /// (4 bytes an entry, not the 80-byte key).
    index: [HashTable<u32>; 2],
    /// The remembered packets, oldest first once full.
    ring: Vec<Seen>,
    /// How many remembered packets have a print of each [`print_bucket`] (empty until the
    /// first is remembered): a packet whose counter is zero cannot be a copy, and skips the
    /// four index searches. A counter that reaches `u8::MAX` stays there (never a false
    /// zero).
    prints: Vec<u8>,
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
        let w = print_words(&p);
        let hash = [base_hash(&w, &dst), base_hash(&w, &src)];
        let bucket = print_bucket(&w);
        let candidates = self.prints.get(usize::from(bucket)).is_some_and(|&n| n > 0);
        for (dttl, what) in [(1i16, CopyKind::Forwarded), (-1, CopyKind::ArrivedLate)] {
            let ttl = i16::from(m.ttl) + dttl;
            if !candidates || !(0..=255).contains(&ttl) {
                continue;
            }
            let ttl = ttl as u8;
            let ring = &self.ring;
            let hit = self.index[0]
                .find(with_ttl(hash[0], ttl), |&s| {
                    ring[s as usize].is(&p, ttl, &dst, 0)
                })
                .or_else(|| {
                    self.index[1].find(with_ttl(hash[1], ttl), |&s| {
                        ring[s as usize].is(&p, ttl, &src, 1)
                    })
                })
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
        self.remember(
            candidates,
            Seen {
                print: p,
                ttl: m.ttl,
                src,
                dst,
                hash,
                bucket,
                live: true,
            },
        );
        CopyKind::First
    }

    /// Remembers `e`; `candidates`: whether a remembered packet may have its print (else
    /// none has its key, and the index is not searched).
    fn remember(&mut self, candidates: bool, e: Seen) {
        let slot = self.next;
        if self.ring.len() < WINDOW {
            self.ring.push(e);
        } else {
            self.forget(slot);
            self.ring[slot] = e;
        }
        if self.prints.is_empty() {
            self.prints = vec![0; PRINT_BUCKETS];
        }
        let n = &mut self.prints[usize::from(e.bucket)];
        *n = n.saturating_add(1);
        let ring = &self.ring;
        for (side, index) in self.index.iter_mut().enumerate() {
            let h = with_ttl(e.hash[side], e.ttl);
            let end = if side == 0 { &e.dst } else { &e.src };
            // the newest packet of a key replaces the one remembered before
            let old = if candidates {
                index.find_mut(h, |&s| ring[s as usize].is(&e.print, e.ttl, end, side))
            } else {
                None
            };
            match old {
                Some(s) => *s = slot as u32,
                None => {
                    index.insert_unique(h, slot as u32, |&s| {
                        let x = &ring[s as usize];
                        with_ttl(x.hash[side], x.ttl)
                    });
                }
            }
        }
        self.next = (slot + 1) % WINDOW;
    }

    /// Forgets the packet of `slot`: the index entries that still name it go.
    fn forget(&mut self, slot: usize) {
        let e = self.ring[slot];
        if !e.live {
            return;
        }
        self.ring[slot].live = false;
        let n = &mut self.prints[usize::from(e.bucket)];
        if *n != u8::MAX {
            *n -= 1;
        }
        for (side, index) in self.index.iter_mut().enumerate() {
            if let Ok(o) = index.find_entry(with_ttl(e.hash[side], e.ttl), |&s| s as usize == slot)
            {
                o.remove();
            }
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
        assert!(d.index.iter().all(|i| i.len() <= WINDOW));
        // Every remembered packet is counted once in its print's counter.
        let counted: usize = d.prints.iter().map(|&n| usize::from(n)).sum();
        assert_eq!(counted, WINDOW);
    }

    #[test]
    fn a_print_remembered_more_often_than_its_counter_holds() {
        // 300 packets with one print (a counter holds 255): the counter stays full, the
        // copy is still found, and forgetting them all (the window moving on) neither
        // underflows it nor hides a later copy.
        let mut d = DupFinder::new();
        let a = Pkt::udp("192.168.1.10:5000", "198.51.100.1:53")
            .ttl(64)
            .build();
        for _ in 0..300 {
            assert_eq!(d.check(&a), CopyKind::First);
        }
        let b = print_bucket(&print_words(&print(&a).0));
        assert_eq!(d.prints[usize::from(b)], u8::MAX);
        let copy = Pkt::udp("203.0.113.2:61000", "198.51.100.1:53")
            .ttl(63)
            .build();
        assert_eq!(d.check(&copy), CopyKind::Forwarded);
        for i in 0..WINDOW as u32 {
            let mut o = Pkt::udp("192.168.1.11:5000", "198.51.100.2:53").build();
            o.ip_id = i;
            d.check(&o);
        }
        assert_eq!(d.prints[usize::from(b)], u8::MAX);
        assert_eq!(d.check(&a), CopyKind::First);
        assert_eq!(d.check(&copy), CopyKind::Forwarded);
        assert_eq!(d.forwarded, 2);
    }
}
