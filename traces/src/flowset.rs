//! Counting a capture's distinct flows for `trace info`: an exact set of every canonical
//! tuple seen, by class (TCP, UDP, ICMP, other).
//!
//! On a flood of spoofed SYNs nearly every packet is a new flow, so the set is as large as
//! the capture and each insert lands on a cache line nobody touched recently. With a
//! `hashbrown` set (the SwissTable behind `std`'s `HashSet`) that is two misses per new key
//! (its control bytes and its bucket live in separate arrays) paid one after the other, and
//! it was 70 % of `trace info`'s CPU on a generated synflood (measured by leaving the insert
//! out: 0.229 → 0.071 CPU s for 1M packets). This set keeps each IPv4 tuple packed in one
//! 16-byte slot, so a key's probe starts on the line that holds it (at the 7/8 load just
//! before the table doubles a new key's probe runs on for several lines, which the hardware
//! prefetcher streams; a 3/4 limit made no clear difference), and takes keys in batches of
//! [`BATCH`]: it first loads every key's home slot, misses that the CPU overlaps, then
//! inserts from cache. hashbrown offers neither a slot one can touch before inserting nor
//! inline keys, hence a table of its own. IPv6 tuples (37 bytes) get a table of their own in
//! 48-byte entries, built the same way (half of them straddle two cache lines, so a batch
//! loads both ends of each home entry).
//!
//! The answer is a count, so the order of inserts within a batch changes nothing, and the
//! hash is a fixed function (no per-process seed): the same capture gives the same table.

use crate::hugetable::Slots;
use crate::meta::FlowKey;

/// Keys collected before their slots are loaded together.
pub(crate) const BATCH: usize = 16;

/// Marks an occupied entry (set in an entry's last word, which packs ports and protocol).
const MARK: u128 = 1 << 127;

/// Smallest table, entries.
const MIN_ENTRIES: usize = 1024;

/// The class a flow is counted in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Class {
    Tcp = 0,
    Udp = 1,
    Icmp = 2,
    Other = 3,
}

/// An exact set of canonical tuples with a count of new ones per [`Class`].
pub(crate) struct FlowSet {
    /// IPv4 tuples, one 16-byte word each.
    v4: Table<1>,
    /// IPv6 tuples, three words each (source, destination, ports and protocol). On a
    /// spoofed flood they are as many and as scattered as IPv4 ones: a `hashbrown` set of
    /// packed bytes cost 6 % of `trace info` on a synflood with one IPv6 packet in ten.
    v6: Table<3>,
    /// New tuples per class.
    counts: [u64; 4],
}

impl Default for FlowSet {
    fn default() -> Self {
        FlowSet {
            v4: Table::new(),
            v6: Table::new(),
            counts: [0; 4],
        }
    }
}

/// `k`'s ports and protocol packed into an entry's last word, with [`MARK`].
#[inline]
fn pack_ports(k: &FlowKey) -> u128 {
    u128::from(k.sport) << 64 | u128::from(k.dport) << 80 | u128::from(k.proto) << 96 | MARK
}

/// `k` (IPv4) packed into one word: addresses, ports, protocol and [`MARK`].
#[inline]
fn pack4(k: &FlowKey) -> [u128; 1] {
    [u128::from(k.src as u32) | u128::from(k.dst as u32) << 32 | pack_ports(k)]
}

/// `k` (IPv6) packed into three words.
#[inline]
fn pack6(k: &FlowKey) -> [u128; 3] {
    [k.src, k.dst, pack_ports(k)]
}

/// The entry hash: foldhash's folded multiply of each word's halves (a fixed seed), chained
/// through the words; its top bits pick the home entry.
#[inline]
fn hash<const W: usize>(key: &[u128; W]) -> u64 {
    const S0: u64 = 0x243f_6a88_85a3_08d3;
    const S1: u64 = 0x1319_8a2e_0370_7344;
    let mut h = 0u64;
    for &w in key {
        let w = w ^ u128::from(h);
        let full = u128::from(w as u64 ^ S0) * u128::from((w >> 64) as u64 ^ S1);
        h = (full as u64) ^ (full >> 64) as u64;
    }
    h
}

impl FlowSet {
    /// An empty set.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Adds `k` (canonical) in `class`; counted when new, at the latest by
    /// [`FlowSet::counts`].
    #[inline]
    pub(crate) fn add(&mut self, k: &FlowKey, class: Class) {
        if k.version == 4 {
            self.v4.add(pack4(k), class, &mut self.counts);
        } else {
            self.v6.add(pack6(k), class, &mut self.counts);
        }
    }

    /// Tuples held, IPv4 and IPv6 (not counting those still waiting in a batch).
    pub(crate) fn held(&self) -> (usize, usize) {
        (self.v4.len, self.v6.len)
    }

    /// Makes room for `v4` IPv4 and `v6` IPv6 tuples in all at once, for a caller that
    /// expects that many: a table that doubles on its way there moves every tuple it holds
    /// at each doubling, through tables larger than the cache (measured in-process, 700k
    /// random IPv4 tuples, pinned, best of 15: 27.0 ms grown from empty, 16.8 ms in a table
    /// sized for them from the start).
    pub(crate) fn reserve(&mut self, v4: usize, v6: usize) {
        self.v4.reserve(v4);
        self.v6.reserve(v6);
    }

    /// Entries the tables have room for, IPv4 and IPv6.
    #[cfg(test)]
    pub(crate) fn room(&self) -> (usize, usize) {
        (self.v4.entries(), self.v6.entries())
    }

    /// New tuples per class: TCP, UDP, ICMP, other.
    pub(crate) fn counts(&mut self) -> [u64; 4] {
        self.v4.flush(&mut self.counts);
        self.v6.flush(&mut self.counts);
        self.counts
    }
}

/// An open-addressing set of entries of `W` words (linear probing; an entry whose last word
/// is 0 is empty), taking keys in batches of [`BATCH`].
struct Table<const W: usize> {
    /// `W` words per entry; the number of entries is a power of two.
    slots: Slots,
    /// Occupied entries.
    len: usize,
    /// Keys waiting for [`Table::flush`].
    batch: [([u128; W], Class); BATCH],
    pending: usize,
}

impl<const W: usize> Table<W> {
    fn new() -> Self {
        Table {
            slots: Slots::zeroed(MIN_ENTRIES * W),
            len: 0,
            batch: [([0; W], Class::Other); BATCH],
            pending: 0,
        }
    }

    /// Entries the table has room for.
    fn entries(&self) -> usize {
        self.slots.get().len() / W
    }

    #[inline]
    fn add(&mut self, key: [u128; W], class: Class, counts: &mut [u64; 4]) {
        self.batch[self.pending] = (key, class);
        self.pending += 1;
        if self.pending == BATCH {
            self.flush(counts);
        }
    }

    /// Inserts the pending keys, counting the new ones in `counts`.
    fn flush(&mut self, counts: &mut [u64; 4]) {
        if (self.len + self.pending) * 8 > self.entries() * 7 {
            self.grow();
        }
        let shift = 64 - self.entries().trailing_zeros();
        let slots = self.slots.get_mut();
        let mut home = [0usize; BATCH];
        for (h, (key, _)) in home.iter_mut().zip(&self.batch[..self.pending]) {
            *h = (hash(key) >> shift) as usize;
            // Load the home entry now, so the batch's misses overlap; the inserts below then
            // find their lines in cache. A 48-byte entry may straddle two lines: both ends.
            std::hint::black_box(slots[*h * W]);
            if W > 1 {
                std::hint::black_box(slots[*h * W + W - 1]);
            }
        }
        for (&at, (key, class)) in home.iter().zip(&self.batch[..self.pending]) {
            if insert_at(slots, at, key) {
                self.len += 1;
                counts[*class as usize] += 1;
            }
        }
        self.pending = 0;
    }

    /// Doubles the table (keeping at most 7/8 of it occupied, as hashbrown does).
    fn grow(&mut self) {
        self.grow_to(self.len + BATCH);
    }

    /// Grows the table, if it must, to hold `keys` keys at most 7/8 full.
    fn reserve(&mut self, keys: usize) {
        if keys * 8 > self.entries() * 7 {
            self.grow_to(keys);
        }
    }

    /// Moves the keys to a table with room for `keys` keys at most 7/8 full, at least twice
    /// as large as this one.
    fn grow_to(&mut self, keys: usize) {
        let mut n = self.entries() * 2;
        while keys * 8 > n * 7 {
            n *= 2;
        }
        let old = std::mem::replace(&mut self.slots, Slots::zeroed(n * W));
        let slots = self.slots.get_mut();
        let shift = 64 - n.trailing_zeros();
        for e in old.get().chunks_exact(W).filter(|e| e[W - 1] != 0) {
            let key: &[u128; W] = e.try_into().expect("chunks of W words");
            insert_at(slots, (hash(key) >> shift) as usize, key);
        }
    }
}

/// Inserts `key` into `slots` (entries of `W` words) probing from entry `at`; true when it
/// was absent.
#[inline]
fn insert_at<const W: usize>(slots: &mut [u128], mut at: usize, key: &[u128; W]) -> bool {
    let mask = slots.len() / W - 1;
    loop {
        let e = &mut slots[at * W..at * W + W];
        if e == key {
            return false;
        }
        if e[W - 1] == 0 {
            e.copy_from_slice(key);
            return true;
        }
        at = (at + 1) & mask;
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::hash::FxHashSet;

    fn key(i: u32, version: u8) -> FlowKey {
        FlowKey {
            src: u128::from(i.wrapping_mul(2_654_435_761)),
            dst: u128::from(i % 7),
            sport: (i % 65_536) as u16,
            dport: 80,
            proto: 6,
            version,
        }
    }

    #[test]
    fn counts_match_an_exact_set_through_growth_and_duplicates() {
        let mut s = FlowSet::new();
        let mut exact = FxHashSet::default();
        // Every key twice, the second time far from the first (after several flushes and
        // growths, the last ones into a mapped table of huge pages), plus IPv6 keys.
        for round in 0..2 {
            for i in 0..200_000u32 {
                let v = if i % 97 == 0 { 6 } else { 4 };
                let k = key(i, v);
                s.add(&k, Class::Tcp);
                exact.insert((k.src, k.dst, k.sport, v));
                if round == 0 && i % 3 == 0 {
                    s.add(&k, Class::Tcp);
                }
            }
        }
        assert_eq!(s.counts(), [exact.len() as u64, 0, 0, 0]);
        let v4 = exact.iter().filter(|k| k.3 == 4).count();
        assert_eq!(s.v4.len, v4);
        assert_eq!(s.v4.slots.get().iter().filter(|&&x| x != 0).count(), v4);
        assert!(matches!(s.v4.slots, Slots::Map { .. }));
        let n = s.v4.entries();
        assert!(n.is_power_of_two() && s.v4.len * 8 <= n * 7);
        assert_eq!(s.v6.len, exact.len() - v4);
        let n6 = s.v6.entries();
        assert!(n6.is_power_of_two() && s.v6.len * 8 <= n6 * 7);
    }

    #[test]
    fn classes_are_counted_apart_and_a_partial_batch_is_flushed() {
        let mut s = FlowSet::new();
        let mut k = key(1, 4);
        s.add(&k, Class::Tcp);
        k.proto = 17;
        s.add(&k, Class::Udp);
        s.add(&k, Class::Udp);
        k.proto = 1;
        s.add(&k, Class::Icmp);
        k.proto = 47;
        s.add(&k, Class::Other);
        assert_eq!(s.counts(), [1, 1, 1, 1]);
        // Counting again adds nothing.
        assert_eq!(s.counts(), [1, 1, 1, 1]);
    }

    #[test]
    fn a_zero_tuple_is_a_key_like_any_other() {
        let mut s = FlowSet::new();
        let k = FlowKey {
            src: 0,
            dst: 0,
            sport: 0,
            dport: 0,
            proto: 0,
            version: 4,
        };
        s.add(&k, Class::Other);
        s.add(&k, Class::Other);
        assert_eq!(s.counts(), [0, 0, 0, 1]);
    }

    /// IPv6 keys that differ only in an address's high or low half, the zero tuple, and an
    /// IPv4 key with the same field values as an IPv6 one: each a flow of its own.
    #[test]
    fn ipv6_keys_are_told_apart() {
        let mut s = FlowSet::new();
        let mut exact = FxHashSet::default();
        let v6 = |src: u128, dst: u128, sport: u16| FlowKey {
            src,
            dst,
            sport,
            dport: 443,
            proto: 6,
            version: 6,
        };
        let mut keys = vec![
            v6(0, 0, 0),
            FlowKey {
                version: 4,
                ..v6(0, 0, 0)
            },
        ];
        for i in 0..5_000u128 {
            keys.push(v6(i << 64, 7, 1));
            keys.push(v6(i, 7, 1));
            keys.push(v6(1, i << 100, 1));
            keys.push(v6(i << 64, 7, 2));
        }
        for k in keys.iter().chain(&keys) {
            s.add(k, Class::Tcp);
            exact.insert((k.src, k.dst, k.sport, k.version));
        }
        assert_eq!(s.counts(), [exact.len() as u64, 0, 0, 0]);
        assert_eq!(s.v4.len, 1);
        let occupied = s.v6.slots.get().chunks_exact(3).filter(|e| e[2] != 0);
        assert_eq!(occupied.count(), exact.len() - 1);
    }
}
