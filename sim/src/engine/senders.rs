//! Senders that retry a lost handshake, as TCP stacks do.
//!
//! The replay is open-loop: packets come at the trace's times whatever the router does. But a
//! real client whose SYN is lost (or whose server's SYN-ACK is lost) does not go on sending
//! data into a connection that does not exist: it retransmits the SYN after the initial
//! retransmission timeout of 1 s (`TCP_TIMEOUT_INIT`, RFC 6298 §2), doubling it each time,
//! up to `net.ipv4.tcp_syn_retries` = 6 times (the server's SYN-ACK up to
//! `tcp_synack_retries` = 5; `tcp_write_timeout` in net/ipv4/tcp_timer.c), and the whole
//! connection starts that much later. Without this, a handshake lost to overload leaves the
//! rest of the connection to arrive unestablished: conntrack marks it invalid, the ruleset
//! drops it after the CPU paid for it, and delivered throughput collapses under overload
//! instead of holding at capacity.
//!
//! So when the router loses a connection's SYN or SYN-ACK for lack of capacity (the port,
//! the NIC, an RX ring — not a ruleset verdict, which a retry would meet again), the
//! connection is deferred: the lost packet is offered again one timeout later, and every
//! later packet of the connection in the trace is held and offered shifted by the same
//! amount. Another loss of the retransmission doubles the timeout; when the retries run out
//! the connection is abandoned (its remaining packets are never sent).
//!
//! What open-loop replay still cannot show: senders do not slow down when data packets are
//! lost or queued (no congestion control), and lost data is not retransmitted: a
//! closed-loop sender would be needed for those, and offsim has none yet.
//!
//! Memory: held packets are bounded ([`MAX_HELD`]), and so are the connections retrying at
//! once ([`MAX_DEFERRED`]); a connection that would exceed either is given up instead, and
//! counted. A held packet stays in its slot of the engine's packet slab, which the senders
//! own until they offer it again (or free it, given up); the slot numbers live in one pool
//! shared by every deferred connection (a list per connection), not a deque each: deques
//! keep the capacity of their largest burst, and the sum of those grows with the trace, not
//! with what is held. (Held as copies, the packets cost two 208-byte copies each: 3.4M of
//! the 4.85M `memmove` calls of an overloaded home-router run of 1M packets.)

use offsim_traces::heap::{EventHeap, event_key, key_time};
use offsim_traces::meta::{FlowKey, PacketMeta, proto, tcp_flags};
use offsim_traces::time::{NS_PER_SEC, SimTime};
use offsim_traces::tuple::TupleMap;

/// `TCP_TIMEOUT_INIT` (include/net/tcp.h): the first SYN retransmission timeout.
const RTO_INIT_NS: u64 = NS_PER_SEC;
/// `net.ipv4.tcp_syn_retries` default (Documentation/networking/ip-sysctl.rst).
pub(crate) const SYN_RETRIES: u8 = 6;
/// `net.ipv4.tcp_synack_retries` default.
const SYNACK_RETRIES: u8 = 5;
/// At most this many packets are held for deferred connections (about 15 MB, in the
/// engine's packet slab): enough for
/// the connections of a few seconds of a saturated home router; memory stays that of live
/// state on long overloaded traces (measured: default scenario, 1M vs 10M packets).
pub(crate) const MAX_HELD: usize = 1 << 16;
/// A deferred connection with nothing held and no packet for this long is forgotten (longer
/// than the whole retry schedule, 127 s).
const FORGET_NS: u64 = 300 * NS_PER_SEC;
/// At most this many connections retry at once (about 2 MB of state). The retry state lives
/// in the clients, not the router; without a bound a flood of spoofed SYNs into an
/// overloaded router (which no flood tool retries) made offsim keep a retrying sender per
/// lost SYN: 9.5 GB on a 14.8M-packet synflood at 500 Mbit/s on an MT7621. Beyond it a lost
/// handshake is not retried and its connection counts as given up.
pub(crate) const MAX_DEFERRED: usize = 1 << 14;

/// Bits of [`Senders`]' filter of deferred connections (8 KiB): with a thousand connections
/// deferred at once, at most 1,000 / 65,536 = 1.5 % of other packets pass it to the table
/// look-up (computed, not measured; the test bounds it at 10 % with 4,000 deferred).
const FILTER_BITS: u32 = 16;

/// A connection's bit in the filter: a hash of its tuple that is the same in both directions
/// (the swap of addresses and ports leaves both XORs unchanged), so no canonical form is
/// made for a packet that the filter turns away.
#[inline]
fn filter_bit(k: &FlowKey) -> usize {
    let a = k.src ^ k.dst;
    let x = (a as u64)
        ^ ((a >> 64) as u64).rotate_left(17)
        ^ (u64::from(k.sport ^ k.dport) << 40)
        ^ (u64::from(k.proto) << 56);
    (x.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - FILTER_BITS)) as usize
}

/// A bit per [`filter_bit`] value: set for every deferred connection (and, by collision, a
/// few others).
#[derive(Debug)]
struct Filter(Vec<u64>);

impl Default for Filter {
    fn default() -> Filter {
        Filter(vec![0; 1 << (FILTER_BITS - 6)])
    }
}

impl Filter {
    /// Whether the connection of tuple `k` (either direction) may be deferred: false when
    /// it is certainly not.
    #[inline]
    fn may_hold(&self, k: &FlowKey) -> bool {
        let b = filter_bit(k);
        self.0[b / 64] & (1 << (b % 64)) != 0
    }

    /// Sets the bit of `k`.
    fn mark(&mut self, k: &FlowKey) {
        let b = filter_bit(k);
        self.0[b / 64] |= 1 << (b % 64);
    }

    /// Clears every bit.
    fn clear(&mut self) {
        self.0.fill(0);
    }
}

/// Whether a TCP packet opens a connection: a SYN, or a SYN-ACK.
#[inline]
pub(super) fn is_handshake(p: &PacketMeta) -> bool {
    p.l4proto == proto::TCP && p.tcp_flags & (tcp_flags::SYN | tcp_flags::RST) == tcp_flags::SYN
}

/// What [`Senders::admit`] does with a packet of the trace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Admit {
    /// Offered now.
    Offer,
    /// Held: its connection is deferred; the senders keep its slot.
    Held,
    /// Never sent: its connection was given up.
    Unsent,
}

#[derive(Debug)]
struct Deferred {
    /// Added to the trace time of every packet of the connection from the first loss on.
    shift_ns: u64,
    /// Retransmissions so far.
    attempt: u8,
    abandoned: bool,
    /// The slots of the packets waiting to be offered, with their trace (unshifted) times.
    held: Queue,
    /// Bumped when the release scheduled for the head is stale.
    epoch: u32,
    /// Trace time of the connection's latest packet.
    last: SimTime,
}

/// Counts for the report.
#[derive(Clone, Copy, Debug, Default)]
pub struct SenderStats {
    /// Connections whose handshake was lost at least once.
    pub deferred: u64,
    /// SYN or SYN-ACK retransmissions offered.
    pub retransmissions: u64,
    /// Connections given up (retries exhausted, the hold bound reached, or too many
    /// retrying at once: [`MAX_DEFERRED`]).
    pub abandoned: u64,
    /// Trace packets never sent because their connection was given up.
    pub unsent: u64,
    /// Trace packets still held when the trace ended: sent after the measured window.
    pub held_at_end: u64,
}

/// The deferred connections and their held packets.
#[derive(Debug, Default)]
pub(super) struct Senders {
    enabled: bool,
    /// By the connection's canonical tuple, packed (13 bytes an IPv4 key, not the 48 of a
    /// `FlowKey`: under a SYN flood this table is large, and each lost SYN looks it up).
    by_key: TupleMap<u32>,
    /// The [`filter_bit`] of every key of `by_key` is set (and a few more): a packet whose
    /// bit is clear belongs to no deferred connection. Made again when `by_key` is swept.
    filter: Filter,
    conns: Vec<Option<Deferred>>,
    free: Vec<u32>,
    pool: Pool,
    /// Release times of each connection's head packet: (shifted time, sequence) → (slot,
    /// epoch).
    releases: EventHeap<(u32, u32)>,
    seq: u64,
    held: usize,
    /// Sweep for quiet connections when this many are deferred.
    sweep_at: usize,
    stats: SenderStats,
    /// The figures as the trace ended: what happens after (retries of packets lost past
    /// the measured window) is outside it, as the engine's counters are.
    at_end: Option<SenderStats>,
}

impl Senders {
    pub(super) fn new(enabled: bool) -> Senders {
        Senders {
            enabled,
            releases: EventHeap::with_capacity(16),
            ..Senders::default()
        }
    }

    /// The key of the next release, if any (merged into the engine's event order).
    #[inline]
    pub(super) fn next_key(&self) -> Option<u128> {
        self.releases.peek_key()
    }

    /// The trace has ended: what is still held goes out after the measured window.
    pub(super) fn trace_ended(&mut self) {
        self.stats.held_at_end = self.held as u64;
        self.at_end = Some(self.stats);
    }

    /// The figures of the measured window.
    pub(super) fn stats(&self) -> SenderStats {
        self.at_end.unwrap_or(self.stats)
    }

    /// Whether nothing is held.
    pub(super) fn idle(&self) -> bool {
        self.releases.is_empty()
    }

    /// A packet of the trace at `at`, in slot `pkt_slot` of the engine's slab: offered now,
    /// held for later (its connection is deferred; the senders keep the slot), or never
    /// sent (its connection was given up; the slot is the caller's to free). The slots of a
    /// connection given up on the way go to `freed`.
    #[inline]
    pub(super) fn admit(
        &mut self,
        at: SimTime,
        pkt_slot: u32,
        pkt: &PacketMeta,
        freed: &mut Vec<u32>,
    ) -> Admit {
        if self.by_key.is_empty() {
            return Admit::Offer;
        }
        let Some(key) = pkt.flow_key() else {
            return Admit::Offer;
        };
        if !self.filter.may_hold(&key) {
            return Admit::Offer;
        }
        let Some(&slot) = self.by_key.get(&key.canonical()) else {
            return Admit::Offer;
        };
        let d = self.conns[slot as usize].as_mut().expect("mapped slot");
        d.last = at;
        if d.abandoned {
            self.stats.unsent += 1;
            return Admit::Unsent;
        }
        if self.held >= MAX_HELD {
            self.abandon(slot, freed);
            self.stats.unsent += 1;
            return Admit::Unsent;
        }
        self.pool.push_back(&mut d.held, at, pkt_slot);
        self.held += 1;
        if d.held.len == 1 {
            self.schedule(slot);
        }
        Admit::Held
    }

    /// The connection's handshake packet `pkt` (in slot `pkt_slot`), offered at `at`, was
    /// lost for lack of capacity: it is retransmitted one (doubled) timeout later, and the
    /// connection waits. Returns whether the senders keep the slot (to offer it again);
    /// the slots of a connection given up go to `freed`.
    pub(super) fn lost(
        &mut self,
        at: SimTime,
        pkt_slot: u32,
        pkt: &PacketMeta,
        freed: &mut Vec<u32>,
    ) -> bool {
        if !self.enabled || !is_handshake(pkt) {
            return false;
        }
        let Some(key) = pkt.flow_key().map(|k| k.canonical()) else {
            return false;
        };
        let retries = if pkt.tcp_flags & tcp_flags::ACK != 0 {
            SYNACK_RETRIES
        } else {
            SYN_RETRIES
        };
        // A clear bit: no deferred connection has this tuple (most lost SYNs of a flood,
        // whose table look-up missed the cache).
        let known = self
            .filter
            .may_hold(&key)
            .then(|| self.by_key.get(&key))
            .flatten();
        let slot = match known {
            Some(&s) => s,
            None => {
                self.forget_idle(at);
                if self.by_key.len() >= MAX_DEFERRED {
                    self.stats.abandoned += 1;
                    return false;
                }
                self.open(key, at)
            }
        };
        let d = self.conns[slot as usize].as_mut().expect("mapped slot");
        if d.abandoned {
            return false;
        }
        let trace_at = SimTime(at.0.saturating_sub(d.shift_ns));
        if d.attempt >= retries || self.held >= MAX_HELD {
            self.abandon(slot, freed);
            return false;
        }
        // Retransmission k (1-based) goes out 1, 2, 4 … s after the previous try.
        d.shift_ns += RTO_INIT_NS << d.attempt;
        d.attempt += 1;
        self.pool.push_front(&mut d.held, trace_at, pkt_slot);
        self.held += 1;
        self.stats.retransmissions += 1;
        self.schedule(slot);
        true
    }

    fn open(&mut self, key: FlowKey, at: SimTime) -> u32 {
        let d = Deferred {
            shift_ns: 0,
            attempt: 0,
            abandoned: false,
            held: Queue::default(),
            epoch: 0,
            last: at,
        };
        let slot = match self.free.pop() {
            Some(s) => {
                self.conns[s as usize] = Some(d);
                s
            }
            None => {
                self.conns.push(Some(d));
                self.conns.len() as u32 - 1
            }
        };
        self.by_key.insert(&key, slot);
        self.filter.mark(&key);
        self.stats.deferred += 1;
        slot
    }

    /// Gives the connection up: its held packets are never sent, and their slots go to
    /// `freed`.
    fn abandon(&mut self, slot: u32, freed: &mut Vec<u32>) {
        let d = self.conns[slot as usize].as_mut().expect("mapped slot");
        if d.abandoned {
            return;
        }
        d.abandoned = true;
        d.epoch = d.epoch.wrapping_add(1);
        self.held -= d.held.len as usize;
        self.stats.unsent += u64::from(d.held.len);
        while let Some(s) = self.pool.pop_front(&mut d.held) {
            freed.push(s);
        }
        self.stats.abandoned += 1;
    }

    /// (Re)schedules the release of a connection's head packet.
    fn schedule(&mut self, slot: u32) {
        let d = self.conns[slot as usize].as_mut().expect("mapped slot");
        let Some(t) = self.pool.front_time(&d.held) else {
            return;
        };
        d.epoch = d.epoch.wrapping_add(1);
        self.seq += 1;
        let at = t.0 + d.shift_ns;
        self.releases.push(event_key(at, self.seq), (slot, d.epoch));
    }

    /// The next held packet due, with the time it is offered, if its release is current:
    /// its slot, which goes back to the engine.
    pub(super) fn release(&mut self) -> Option<(SimTime, u32)> {
        let (k, (slot, epoch)) = self.releases.pop()?;
        let d = self.conns[slot as usize].as_mut()?;
        if d.epoch != epoch || d.abandoned {
            return None;
        }
        let pkt = self.pool.pop_front(&mut d.held)?;
        self.held -= 1;
        self.schedule(slot);
        Some((SimTime(key_time(k)), pkt))
    }

    /// The slot of the held packet released next, if its release is current.
    pub(super) fn next_release(&self) -> Option<u32> {
        let (_, &(slot, epoch)) = self.releases.peek()?;
        let d = self.conns[slot as usize].as_ref()?;
        if d.epoch != epoch || d.abandoned {
            return None;
        }
        let pkt = self.pool.front_pkt(&d.held);
        self.pool.prefetch_second(&d.held);
        pkt
    }

    /// Forgets deferred connections with nothing held that have been quiet for long.
    fn forget_idle(&mut self, now: SimTime) {
        if self.by_key.len() < self.sweep_at.max(1024) {
            return;
        }
        let conns = &mut self.conns;
        let free = &mut self.free;
        let filter = &mut self.filter;
        filter.clear();
        self.by_key.retain(|k, &mut s| {
            let d = conns[s as usize].as_ref().expect("mapped slot");
            let quiet = d.held.len == 0 && now.0.saturating_sub(d.last.0) > FORGET_NS;
            if quiet {
                conns[s as usize] = None;
                free.push(s);
            } else {
                filter.mark(k);
            }
            !quiet
        });
        self.sweep_at = 2 * self.by_key.len();
    }
}

/// No node.
const NIL: u32 = u32::MAX;

/// A connection's held packets: a list through the [`Pool`].
#[derive(Debug, Clone, Copy)]
struct Queue {
    head: u32,
    tail: u32,
    len: u32,
}

impl Default for Queue {
    fn default() -> Queue {
        Queue {
            head: NIL,
            tail: NIL,
            len: 0,
        }
    }
}

#[derive(Debug)]
struct Node {
    /// Trace (unshifted) time.
    at: SimTime,
    /// The packet's slot in the engine's slab.
    pkt: u32,
    next: u32,
}

/// The held packets (their slots) of every deferred connection: at most [`MAX_HELD`] nodes,
/// reused through a free list, so its size is that of the most packets ever held at once.
#[derive(Debug)]
struct Pool {
    nodes: Vec<Node>,
    free: u32,
}

impl Default for Pool {
    fn default() -> Pool {
        Pool {
            nodes: Vec::new(),
            free: NIL,
        }
    }
}

impl Pool {
    fn alloc(&mut self, at: SimTime, pkt: u32, next: u32) -> u32 {
        let node = Node { at, pkt, next };
        if self.free == NIL {
            self.nodes.push(node);
            return self.nodes.len() as u32 - 1;
        }
        let i = self.free;
        self.free = self.nodes[i as usize].next;
        self.nodes[i as usize] = node;
        i
    }

    fn push_back(&mut self, q: &mut Queue, at: SimTime, pkt: u32) {
        let i = self.alloc(at, pkt, NIL);
        if q.tail == NIL {
            q.head = i;
        } else {
            self.nodes[q.tail as usize].next = i;
        }
        q.tail = i;
        q.len += 1;
    }

    fn push_front(&mut self, q: &mut Queue, at: SimTime, pkt: u32) {
        let i = self.alloc(at, pkt, q.head);
        q.head = i;
        if q.tail == NIL {
            q.tail = i;
        }
        q.len += 1;
    }

    fn front_pkt(&self, q: &Queue) -> Option<u32> {
        (q.head != NIL).then(|| self.nodes[q.head as usize].pkt)
    }

    /// Asks for the line of the node after `q`'s head: the release of the head reads it
    /// next ([`Senders::schedule`]), after it has sat in the pool for a retransmission
    /// timeout.
    #[inline]
    fn prefetch_second(&self, q: &Queue) {
        if q.head != NIL {
            let next = self.nodes[q.head as usize].next;
            if let Some(n) = self.nodes.get(next as usize) {
                offsim_traces::hint::prefetch_value(n);
            }
        }
    }

    fn front_time(&self, q: &Queue) -> Option<SimTime> {
        (q.head != NIL).then(|| self.nodes[q.head as usize].at)
    }

    fn pop_front(&mut self, q: &mut Queue) -> Option<u32> {
        if q.head == NIL {
            return None;
        }
        let i = q.head;
        let node = &mut self.nodes[i as usize];
        let pkt = node.pkt;
        q.head = node.next;
        node.next = self.free;
        self.free = i;
        if q.head == NIL {
            q.tail = NIL;
        }
        q.len -= 1;
        Some(pkt)
    }
}

#[cfg(test)]
mod pool_tests {
    use super::*;

    #[test]
    fn queues_share_the_pool_and_reuse_its_nodes() {
        let mut pool = Pool::default();
        let (mut a, mut b) = (Queue::default(), Queue::default());
        pool.push_back(&mut a, SimTime(1), 1);
        pool.push_back(&mut b, SimTime(2), 2);
        pool.push_back(&mut a, SimTime(3), 3);
        pool.push_front(&mut a, SimTime(0), 0);
        assert_eq!(pool.front_time(&a), Some(SimTime(0)));
        let got: Vec<u32> = std::iter::from_fn(|| pool.pop_front(&mut a)).collect();
        assert_eq!(got, [0, 1, 3]);
        assert_eq!((a.len, a.head, a.tail), (0, NIL, NIL));
        assert_eq!(pool.pop_front(&mut b), Some(2));
        // Freed nodes are reused: the pool never grows past the most held at once.
        for i in 0..4 {
            pool.push_back(&mut a, SimTime(i), i as u32);
        }
        assert_eq!(pool.nodes.len(), 4);
        assert_eq!(pool.pop_front(&mut a), Some(0));
    }
}

#[cfg(test)]
mod bound_tests {
    use super::*;
    use offsim_traces::testkit::Pkt;

    /// A flood of lost SYNs, each of its own connection, keeps at most [`MAX_DEFERRED`]
    /// retrying senders and [`MAX_HELD`] held packets; the rest are given up and counted.
    #[test]
    fn a_flood_of_lost_syns_keeps_bounded_state() {
        let mut s = Senders::new(true);
        let n = MAX_DEFERRED as u32 + 1000;
        let (mut kept, mut freed) = (0, Vec::new());
        for i in 0..n {
            let src = format!("10.{}.{}.{}:1000", i >> 16, (i >> 8) & 255, i & 255);
            let syn = Pkt::tcp4(&src, "192.0.2.1:80")
                .flags(tcp_flags::SYN)
                .build();
            kept += usize::from(s.lost(SimTime(u64::from(i) * 1_000), i, &syn, &mut freed));
        }
        // Every slot the senders kept is held; none was freed (the 1000 given up held
        // nothing).
        assert_eq!((kept, freed.len()), (s.held, 0));
        assert_eq!(s.by_key.len(), MAX_DEFERRED);
        assert!(s.held <= MAX_HELD);
        assert!(s.pool.nodes.len() <= MAX_HELD);
        assert_eq!(s.stats.deferred, MAX_DEFERRED as u64);
        assert_eq!(s.stats.abandoned, 1000);
    }

    /// The filter never turns away a packet of a deferred connection, in either direction
    /// and after a sweep forgot others; it turns away most of the rest.
    #[test]
    fn the_filter_passes_every_deferred_connection() {
        let mut s = Senders::new(true);
        let pkt = |i: u32, flags: u8, reply: bool| {
            let (c, srv) = (
                format!("10.1.{}.{}:{}", i >> 8, i & 255, 1024 + i),
                "192.0.2.1:80",
            );
            let b = if reply {
                Pkt::tcp4(srv, &c)
            } else {
                Pkt::tcp4(&c, srv)
            };
            b.flags(flags).build()
        };
        let mut freed = Vec::new();
        for i in 0..4000 {
            assert!(s.lost(SimTime(0), i, &pkt(i, tcp_flags::SYN, false), &mut freed));
        }
        let mut passed = 0;
        for i in 0..8000 {
            let deferred = i < 4000;
            for reply in [false, true] {
                let p = pkt(i, tcp_flags::ACK, reply);
                let k = p.flow_key().unwrap();
                assert_eq!(filter_bit(&k), filter_bit(&k.reversed()));
                passed += usize::from(s.filter.may_hold(&k));
                let got = s.admit(SimTime(500 * NS_PER_SEC), 10_000 + i, &p, &mut freed);
                assert_eq!(got == Admit::Held, deferred, "{i} {reply}");
            }
        }
        // The 8,000 packets of deferred connections, and few of the 8,000 others.
        assert!((8000..8000 + 8000 / 10).contains(&passed), "{passed}");
        // Every held packet goes out; half the connections send again at 900 s. A sweep at
        // 1,000 s forgets the other half (nothing held, quiet for 500 s) and makes the filter
        // again from what it keeps.
        while !s.idle() {
            s.release();
        }
        let at = |t: u64| SimTime(t * NS_PER_SEC);
        for i in 2000..4000 {
            let p = pkt(i, tcp_flags::ACK, false);
            assert_eq!(s.admit(at(900), 20_000 + i, &p, &mut freed), Admit::Held);
        }
        s.sweep_at = 0;
        s.forget_idle(at(1000));
        assert_eq!(s.by_key.len(), 2000);
        let mut passed = 0;
        for i in 0..4000 {
            for reply in [false, true] {
                let p = pkt(i, tcp_flags::ACK, reply);
                passed += usize::from(s.filter.may_hold(&p.flow_key().unwrap()));
                let got = s.admit(at(1000), 30_000 + i, &p, &mut freed);
                assert_eq!(got == Admit::Held, i >= 2000, "{i} {reply}");
            }
        }
        // The 4,000 packets of the connections kept, and few of the 4,000 forgotten.
        assert!((4000..4000 + 4000 / 10).contains(&passed), "{passed}");
        // A lost SYN-ACK (the other direction) of a kept connection finds it through the
        // remade filter: retried, no connection opened; one of a forgotten connection opens
        // its own.
        let synack = tcp_flags::SYN | tcp_flags::ACK;
        let before = s.stats.retransmissions;
        assert!(s.lost(at(1001), 40_000, &pkt(3000, synack, true), &mut freed));
        assert_eq!(
            (s.by_key.len(), s.stats.retransmissions),
            (2000, before + 1)
        );
        assert!(s.lost(at(1001), 40_001, &pkt(1000, synack, true), &mut freed));
        assert_eq!(s.by_key.len(), 2001);
    }
}

#[cfg(test)]
mod slot_tests {
    use super::*;
    use offsim_traces::testkit::Pkt;

    /// The next current release's slot (stale releases, rescheduled since, give nothing).
    fn next_release(s: &mut Senders) -> Option<u32> {
        while !s.idle() {
            if let Some((_, slot)) = s.release() {
                return Some(slot);
            }
        }
        None
    }

    /// A lost SYN defers its connection: later packets are held (their slots kept), the
    /// SYN's slot is kept through each retry, and when the retries run out every held slot
    /// is handed back once and later packets are never sent.
    #[test]
    fn held_slots_are_kept_then_freed_once() {
        let mut s = Senders::new(true);
        let syn = Pkt::tcp4("10.0.0.1:1000", "192.0.2.1:80")
            .flags(tcp_flags::SYN)
            .build();
        let data = Pkt::tcp4("10.0.0.1:1000", "192.0.2.1:80")
            .flags(tcp_flags::ACK)
            .build();
        let mut freed = Vec::new();
        assert!(s.lost(SimTime(0), 100, &syn, &mut freed));
        for slot in 1..=5 {
            assert_eq!(s.admit(SimTime(10), slot, &data, &mut freed), Admit::Held);
        }
        // An unrelated packet is offered at once.
        let other = Pkt::tcp4("10.0.0.2:1000", "192.0.2.1:80").build();
        assert_eq!(s.admit(SimTime(10), 50, &other, &mut freed), Admit::Offer);
        // The SYN comes back first, then it is lost again: five more tries are kept.
        assert_eq!(next_release(&mut s), Some(100));
        for round in 1..SYN_RETRIES {
            assert!(s.lost(SimTime(u64::from(round)), 100, &syn, &mut freed));
            assert_eq!(next_release(&mut s), Some(100));
        }
        assert!(freed.is_empty());
        // Out of retries: the connection is given up and its five held slots come back.
        assert!(!s.lost(SimTime(99), 100, &syn, &mut freed));
        freed.sort_unstable();
        assert_eq!(freed, [1, 2, 3, 4, 5]);
        assert_eq!(s.admit(SimTime(100), 6, &data, &mut freed), Admit::Unsent);
        assert!(!s.lost(SimTime(101), 7, &syn, &mut freed));
        assert_eq!((s.held, freed.len()), (0, 5));
        // Not a handshake, or retries off: the caller keeps the slot.
        assert!(!s.lost(SimTime(0), 8, &other, &mut freed));
        assert!(!Senders::new(false).lost(SimTime(0), 9, &syn, &mut freed));
    }
}
