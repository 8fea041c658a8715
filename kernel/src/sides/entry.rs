//! What the side split keeps of a tuple and of an address pair ([`Seen`], packed in
//! [`Half`]s of a [`Both`]; [`PairBoth`]), and for how long it keeps a tuple: the longest
//! timeout conntrack could hold its connection in, by the state its packets put it in.

use offsim_traces::meta::{PacketMeta, proto, tcp_flags};
use offsim_traces::time::NS_PER_SEC;

use super::Side;

/// Never forgotten by idleness alone (a TCP connection conntrack may hold as ESTABLISHED).
pub(super) const FOREVER: u32 = u32::MAX;
/// TCP after FIN or RST: FIN_WAIT and TIME_WAIT 120 s, CLOSE_WAIT 60 s, LAST_ACK 30 s,
/// CLOSE 10 s (`tcp_timeouts[]`, `nf_conntrack_proto_tcp.c`).
pub(super) const TCP_CLOSING_S: u64 = 120;
/// TCP handshake: SYN_SENT and SYN_SENT2 120 s, SYN_RECV 60 s.
pub(super) const TCP_HANDSHAKE_S: u64 = 120;
/// UDP: 30 s / 120 s stream (kernel), 60 s / 180 s (OpenWrt's sysctls).
pub(super) const UDP_S: u64 = 180;
/// ICMP and ICMPv6: 30 s (`nf_ct_icmp_timeout`).
pub(super) const ICMP_S: u64 = 30;
/// Other protocols: 600 s (`nf_ct_generic_timeout`; GRE's 180 s stream timeout is shorter).
pub(super) const GENERIC_S: u64 = 600;
/// Seconds of simulated time, rounded up (a horizon never ends early).
#[inline]
pub(super) fn secs_up(ns: u64) -> u64 {
    ns.div_ceil(NS_PER_SEC)
}

/// What the splitter knows of a tuple (kept in 8 bytes, [`Half`]; an entry holds those of
/// both directions, [`Both`]).
#[derive(Clone, Copy, Debug)]
pub(super) struct Seen {
    /// Forgotten when idle past this second of arrival time ([`FOREVER`]: not by idleness).
    /// Never 0: [`Seen::touch`], which every remembered tuple has had, sets a horizon at
    /// least 30 s past its packet.
    pub(super) expires_s: u32,
    /// Arrival number of its last packet (wrapping, kept in [`ARRIVAL_BITS`] bits), for
    /// [`SideSplitter::sweep`]'s grace.
    pub(super) last_pkt: u32,
    pub(super) side: Side,
    /// A FIN or RST was seen in either direction (and no SYN since).
    pub(super) closing: bool,
}

/// Bits of [`Seen::last_pkt`] an entry keeps: a sweep compares a tuple's age with a grace of
/// at most 2^29 arrivals ([`super::MAX_GRACE`]), so the age modulo 2^30 is the age.
pub(super) const ARRIVAL_BITS: u32 = 30;
pub(super) const ARRIVAL_MASK: u32 = (1 << ARRIVAL_BITS) - 1;
pub(super) const WAN_BIT: u32 = 1 << ARRIVAL_BITS;
pub(super) const CLOSING_BIT: u32 = 1 << (ARRIVAL_BITS + 1);

/// Arrivals between `last` (an [`ARRIVAL_BITS`]-bit arrival number) and `now`.
#[inline]
pub(super) fn arrivals_since(now: u32, last: u32) -> u32 {
    now.wrapping_sub(last) & ARRIVAL_MASK
}

/// A [`Seen`] as an entry keeps it, 8 bytes: its horizon (0: no tuple, which a remembered
/// one never has), and the arrival number of its last packet beside its side and closing
/// flag. With an `Option<Seen>` of 10 bytes an entry was 33 bytes with a 13-byte IPv4
/// key; it is 29 (a SYN flood's table, every packet a new tuple, is the run's largest).
#[derive(Clone, Copy, Debug, Default)]
#[repr(C, packed)]
pub(super) struct Half {
    expires_s: u32,
    bits: u32,
}

const _: () = assert!(std::mem::size_of::<Half>() == 8 && std::mem::align_of::<Half>() == 1);

impl Half {
    #[inline]
    pub(super) fn get(self) -> Option<Seen> {
        let (expires_s, b) = (self.expires_s, self.bits);
        (expires_s != 0).then_some(Seen {
            expires_s,
            last_pkt: b & ARRIVAL_MASK,
            side: if b & WAN_BIT != 0 {
                Side::Wan
            } else {
                Side::Lan
            },
            closing: b & CLOSING_BIT != 0,
        })
    }

    #[inline]
    pub(super) fn of(s: Option<Seen>) -> Half {
        let Some(s) = s else {
            return Half::default();
        };
        debug_assert!(s.expires_s != 0, "a remembered tuple has a horizon");
        let side = if s.side == Side::Wan { WAN_BIT } else { 0 };
        let closing = if s.closing { CLOSING_BIT } else { 0 };
        Half {
            expires_s: s.expires_s,
            bits: (s.last_pkt & ARRIVAL_MASK) | side | closing,
        }
    }
}

/// The side of an address pair and how many remembered tuples use it (5 bytes, packed).
#[derive(Clone, Copy, Debug)]
#[repr(C, packed)]
pub(super) struct Pair {
    pub(super) side: Side,
    pub(super) n: u32,
}

/// What the splitter knows of a tuple and of its reverse, under one key: the smaller of the
/// two ([`orient`]). A new tuple's look-up of its reverse, its insertion, and a FIN's or
/// RST's marking of the reverse are one probe of the table where they were three (on a SYN
/// flood, every packet a new tuple, they were a third of the run's CPU). 29 bytes an entry
/// with a 13-byte IPv4 key: less than two one-direction entries for a connection seen
/// both ways, more for a tuple never answered.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Both([Half; 2]);

const _: () = assert!(std::mem::size_of::<Both>() == 16);

impl Both {
    /// What is known of half `h`'s tuple.
    #[inline]
    pub(super) fn get(&self, h: usize) -> Option<Seen> {
        self.0[h].get()
    }

    /// Sets what is known of half `h`'s tuple (`None`: forgets it).
    #[inline]
    pub(super) fn set(&mut self, h: usize, s: Option<Seen>) {
        self.0[h] = Half::of(s);
    }

    /// Whether neither tuple is remembered.
    #[inline]
    pub(super) fn is_empty(&self) -> bool {
        self.get(0).is_none() && self.get(1).is_none()
    }
}

/// The two directions of an address pair under one key (the smaller address first).
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct PairBoth(pub(super) [Option<Pair>; 2]);

const _: () = assert!(std::mem::size_of::<PairBoth>() == 10);

impl Seen {
    pub(super) fn extend(&mut self, until_s: u64) {
        let u = until_s.min(u64::from(FOREVER - 1)) as u32;
        self.expires_s = self.expires_s.max(u);
    }

    /// Accounts a packet of this tuple at `now` (ns).
    #[inline]
    pub(super) fn touch(&mut self, m: &PacketMeta, now: u64) {
        let now_s = secs_up(now);
        if m.l4proto == proto::TCP && m.l4_present() {
            let f = m.tcp_flags;
            if f & tcp_flags::SYN != 0 && self.closing {
                // A new connection on the tuple (conntrack replaces the closing entry).
                self.closing = false;
                self.expires_s = 0;
                self.extend(now_s + TCP_HANDSHAKE_S);
                return;
            }
            if f & (tcp_flags::FIN | tcp_flags::RST) != 0 {
                self.closing = true;
            }
            if self.closing {
                self.expires_s = 0;
                self.extend(now_s + TCP_CLOSING_S);
                return;
            }
        }
        let h = match m.l4proto {
            proto::TCP if m.l4_present() && m.tcp_flags & tcp_flags::SYN != 0 => TCP_HANDSHAKE_S,
            proto::UDP | proto::UDPLITE => UDP_S,
            proto::ICMP | proto::ICMPV6 => ICMP_S,
            // TCP past the handshake may be ESTABLISHED (5 days; 7440 s on OpenWrt); SCTP
            // and DCCP keep long-lived states too.
            proto::TCP | proto::SCTP | 33 => {
                self.expires_s = FOREVER;
                return;
            }
            _ => GENERIC_S,
        };
        self.extend(now_s + h);
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn an_entry_half_keeps_what_is_known_of_a_tuple() {
        for side in [Side::Lan, Side::Wan] {
            for closing in [false, true] {
                for (expires_s, last_pkt) in [(30, 0), (FOREVER, ARRIVAL_MASK), (12_345, 777)] {
                    let s = Seen {
                        expires_s,
                        last_pkt,
                        side,
                        closing,
                    };
                    let g = Half::of(Some(s)).get().expect("remembered");
                    assert_eq!(
                        (g.expires_s, g.last_pkt, g.side, g.closing),
                        (expires_s, last_pkt, side, closing)
                    );
                }
            }
        }
        assert!(Half::of(None).get().is_none());
        let mut b = Both::default();
        assert!(b.is_empty());
        b.set(
            1,
            Half::of(Some(Seen {
                expires_s: 40,
                last_pkt: 3,
                side: Side::Wan,
                closing: false,
            }))
            .get(),
        );
        assert!(!b.is_empty() && b.get(0).is_none());
        // An arrival number kept in 30 bits still gives a packet's age across the
        // counter's wrap.
        assert_eq!(arrivals_since(5, (u32::MAX - 2) & ARRIVAL_MASK), 8);
        assert_eq!(arrivals_since(1_000, 10), 990);
    }
}
