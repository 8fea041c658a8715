//! An open-addressing map whose home slot a caller can bring into the cache before it looks
//! a key up ([`OpenMap::prefetch`]).
//!
//! The side split looks every arriving packet's tuple, address pair and source address up in
//! three tables as large as the flows alive. On a flood of new tuples each look-up lands on a
//! line nobody touched recently, paid one after the other: the side split was 30 % of a
//! synflood `run`'s CPU. The engine knows the next arrival one event ahead (it decodes it
//! when it takes the current one), so it can ask for those lines then and find them in the
//! cache when the packet arrives. `std`'s `HashMap` (hashbrown's SwissTable) has no way to
//! name the slot a key will probe, hence a table of its own, like `flowset.rs`'s (which is a
//! set without removal).
//!
//! Linear probing over a power-of-two array of slots, with one tag byte per slot in an array
//! of its own (0: empty; else the hash's low seven bits with the top bit set), so that a
//! probe that misses reads tags, not keys. A key's home slot is picked by its hash's top
//! bits. The table doubles past 7/8 full (hashbrown's limit, so memory stays what it was);
//! a removal shifts the rest of the probe run back (no tombstones), so a look-up never scans
//! past entries that are gone.
//!
//! No result depends on where an entry sits: the maps are looked up, and walked only by
//! `retain` (a predicate per entry) and `iter`, whose callers do not depend on the order.

use std::fmt;

/// Smallest table, slots (a power of two).
const MIN_SLOTS: usize = 16;

/// A key of an [`OpenMap`]: a fixed, seedless hash, so the same input builds the same table.
pub(crate) trait Key: Copy + Eq {
    /// The key with every bit zero (fills empty slots).
    const ZERO: Self;
    /// The key's hash.
    fn hash(&self) -> u64;
}

/// foldhash's folded multiply of a 16-byte word's halves (fixed seeds), chained through the
/// words (`flowset.rs`'s entry hash).
#[inline]
fn fold(h: u64, w: u128) -> u64 {
    const S0: u64 = 0x243f_6a88_85a3_08d3;
    const S1: u64 = 0x1319_8a2e_0370_7344;
    let w = w ^ u128::from(h);
    let full = u128::from(w as u64 ^ S0) * u128::from((w >> 64) as u64 ^ S1);
    (full as u64) ^ (full >> 64) as u64
}

impl<const N: usize> Key for [u8; N] {
    const ZERO: Self = [0; N];
    #[inline]
    fn hash(&self) -> u64 {
        let mut h = N as u64;
        for c in self.chunks(16) {
            let mut w = [0u8; 16];
            w[..c.len()].copy_from_slice(c);
            h = fold(h, u128::from_le_bytes(w));
        }
        h
    }
}

impl Key for u32 {
    const ZERO: Self = 0;
    #[inline]
    fn hash(&self) -> u64 {
        fold(4, u128::from(*self))
    }
}

impl Key for u128 {
    const ZERO: Self = 0;
    #[inline]
    fn hash(&self) -> u64 {
        fold(16, *self)
    }
}

/// A map from `K` to `V` by open addressing (see the module doc).
#[derive(Clone)]
pub(crate) struct OpenMap<K, V> {
    /// One per slot: 0 empty, else `0x80 | hash & 0x7f`.
    tags: Vec<u8>,
    /// The entries; a slot whose tag is 0 holds `(K::ZERO, V::default())`.
    slots: Vec<(K, V)>,
    len: usize,
    /// 64 − log2(slots): a hash's top bits shifted down by this much are its home slot.
    shift: u32,
}

impl<K: Key, V: Copy + Default> Default for OpenMap<K, V> {
    fn default() -> Self {
        OpenMap {
            tags: Vec::new(),
            slots: Vec::new(),
            len: 0,
            shift: 64,
        }
    }
}

impl<K: Key + fmt::Debug, V: fmt::Debug> fmt::Debug for OpenMap<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let live = (self.tags.iter().zip(&self.slots)).filter(|(t, _)| **t != 0);
        f.debug_map()
            .entries(live.map(|(_, (k, v))| (k, v)))
            .finish()
    }
}

#[inline]
fn tag(h: u64) -> u8 {
    0x80 | (h as u8 & 0x7f)
}

impl<K: Key, V: Copy + Default> OpenMap<K, V> {
    /// Entries held.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Slots allocated.
    #[cfg(test)]
    pub(crate) fn capacity(&self) -> usize {
        self.slots.len()
    }

    #[inline]
    fn mask(&self) -> usize {
        self.slots.len().wrapping_sub(1)
    }

    /// The home slot of hash `h` (the table is not empty).
    #[inline]
    fn home(&self, h: u64) -> usize {
        (h >> self.shift) as usize
    }

    /// Asks the CPU for the lines `k`'s look-up will read first: its home slot and tag. A
    /// hint only: nothing changes, and a later insert that grows the table just makes it
    /// useless.
    #[inline]
    pub(crate) fn prefetch(&self, k: &K) {
        if self.slots.is_empty() {
            return;
        }
        let i = self.home(k.hash());
        crate::hint::prefetch_value(&self.tags[i]);
        crate::hint::prefetch_value(&self.slots[i]);
    }

    /// The slot holding `k`, or `Err(the empty slot ending its probe run)`.
    #[inline]
    fn find(&self, k: &K, h: u64) -> Result<usize, usize> {
        let (t, mask) = (tag(h), self.mask());
        let mut i = self.home(h);
        loop {
            match self.tags[i] {
                0 => return Err(i),
                x if x == t && self.slots[i].0 == *k => return Ok(i),
                _ => i = (i + 1) & mask,
            }
        }
    }

    /// The value of `k`.
    #[inline]
    pub(crate) fn get(&self, k: &K) -> Option<&V> {
        if self.len == 0 {
            return None;
        }
        let i = self.find(k, k.hash()).ok()?;
        Some(&self.slots[i].1)
    }

    /// The value of `k`, mutably.
    #[inline]
    pub(crate) fn get_mut(&mut self, k: &K) -> Option<&mut V> {
        if self.len == 0 {
            return None;
        }
        let i = self.find(k, k.hash()).ok()?;
        Some(&mut self.slots[i].1)
    }

    /// The value of `k`, inserted with `f` when absent.
    #[inline]
    pub(crate) fn get_or_insert_with(&mut self, k: K, f: impl FnOnce() -> V) -> &mut V {
        // Grown first, so the slot found is the one the entry stays in.
        if (self.len + 1) * 8 > self.slots.len() * 7 {
            self.resize((self.slots.len() * 2).max(MIN_SLOTS));
        }
        let h = k.hash();
        let i = match self.find(&k, h) {
            Ok(i) => i,
            Err(i) => {
                self.tags[i] = tag(h);
                self.slots[i] = (k, f());
                self.len += 1;
                i
            }
        };
        &mut self.slots[i].1
    }

    /// Sets the value of `k`; returns the previous one.
    #[inline]
    pub(crate) fn insert(&mut self, k: K, v: V) -> Option<V> {
        let mut new = false;
        let e = self.get_or_insert_with(k, || {
            new = true;
            v
        });
        if new {
            None
        } else {
            Some(std::mem::replace(e, v))
        }
    }

    /// Removes `k`.
    #[inline]
    pub(crate) fn remove(&mut self, k: &K) -> Option<V> {
        if self.len == 0 {
            return None;
        }
        let i = self.find(k, k.hash()).ok()?;
        let v = self.slots[i].1;
        self.delete(i);
        Some(v)
    }

    /// Empties slot `i` and shifts back the entries after it in its probe run that may sit
    /// earlier (Knuth's Algorithm R, `TAOCP` 6.4): every entry stays reachable from its home.
    fn delete(&mut self, mut hole: usize) {
        let mask = self.mask();
        let mut j = hole;
        loop {
            j = (j + 1) & mask;
            if self.tags[j] == 0 {
                break;
            }
            let home = self.home(self.slots[j].0.hash());
            // The entry at `j` may move to `hole` unless its home lies cyclically in
            // (hole, j]: then its probe would start past the hole.
            let past_hole = if hole <= j {
                hole < home && home <= j
            } else {
                hole < home || home <= j
            };
            if !past_hole {
                self.tags[hole] = self.tags[j];
                self.slots[hole] = self.slots[j];
                hole = j;
            }
        }
        self.tags[hole] = 0;
        self.slots[hole] = (K::ZERO, V::default());
        self.len -= 1;
    }

    /// Keeps the entries for which `f` is true; `f` sees each entry once.
    pub(crate) fn retain(&mut self, mut f: impl FnMut(&K, &mut V) -> bool) {
        let n = self.slots.len();
        // From just past an empty slot (there is one: the table is never full), so that no
        // probe run wraps past the start of the walk and an entry shifted back into a slot
        // being walked is one not yet seen.
        let Some(start) = self.tags.iter().position(|&t| t == 0) else {
            return;
        };
        let mut walked = 0;
        while walked < n {
            let i = (start + 1 + walked) & (n - 1);
            if self.tags[i] != 0 {
                let (k, v) = &mut self.slots[i];
                if !f(k, v) {
                    self.delete(i);
                    // Slot `i` now holds an entry from later in its run, or nothing.
                    continue;
                }
            }
            walked += 1;
        }
    }

    /// Every entry, in slot order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        (self.tags.iter().zip(&self.slots))
            .filter(|(t, _)| **t != 0)
            .map(|(_, (k, v))| (k, v))
    }

    /// Gives memory back when the map holds far fewer entries than it has room for (after a
    /// sweep forgot most of them): `std`'s maps' rule here before.
    pub(crate) fn shrink_if_sparse(&mut self) {
        if self.slots.len() > 4 * self.len + 4096 {
            // Room for twice the entries, under the 7/8 limit.
            let want = (2 * self.len * 8).div_ceil(7).next_power_of_two();
            self.resize(want.max(MIN_SLOTS));
        }
    }

    /// Moves every entry into a table of `n` slots (a power of two, above the entries).
    fn resize(&mut self, n: usize) {
        debug_assert!(n.is_power_of_two() && n * 7 >= self.len * 8);
        let tags = std::mem::replace(&mut self.tags, vec![0; n]);
        let slots = std::mem::replace(&mut self.slots, vec![(K::ZERO, V::default()); n]);
        self.shift = 64 - n.trailing_zeros();
        let mask = n - 1;
        for (t, e) in tags.into_iter().zip(slots) {
            if t == 0 {
                continue;
            }
            let mut i = self.home(e.0.hash());
            while self.tags[i] != 0 {
                i = (i + 1) & mask;
            }
            self.tags[i] = t;
            self.slots[i] = e;
        }
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    #[derive(Clone, Debug)]
    enum Op {
        Insert(u32, u16),
        Remove(u32),
        Bump(u32),
        Retain(u32),
        Shrink,
    }

    fn op() -> impl Strategy<Value = Op> {
        // Few distinct keys, so that runs collide, shift and wrap.
        let k = 0u32..600;
        prop_oneof![
            4 => (k.clone(), any::<u16>()).prop_map(|(k, v)| Op::Insert(k, v)),
            3 => k.clone().prop_map(Op::Remove),
            2 => k.prop_map(Op::Bump),
            1 => (1u32..5).prop_map(Op::Retain),
            1 => Just(Op::Shrink),
        ]
    }

    /// The map agrees with `std`'s after any sequence of operations, and every entry is
    /// reachable from its home slot.
    fn check(ops: &[Op]) {
        let mut m: OpenMap<u32, u16> = OpenMap::default();
        let mut r: HashMap<u32, u16> = HashMap::new();
        for o in ops {
            match *o {
                Op::Insert(k, v) => assert_eq!(m.insert(k, v), r.insert(k, v)),
                Op::Remove(k) => assert_eq!(m.remove(&k), r.remove(&k)),
                Op::Bump(k) => {
                    *m.get_or_insert_with(k, || 7) += 1;
                    *r.entry(k).or_insert(7) += 1;
                }
                Op::Retain(d) => {
                    let mut seen = 0;
                    m.retain(|k, v| {
                        seen += 1;
                        *v = v.wrapping_add(1);
                        k % d != 0
                    });
                    assert_eq!(seen, r.len(), "retain sees each entry once");
                    r.retain(|k, v| {
                        *v = v.wrapping_add(1);
                        k % d != 0
                    });
                }
                Op::Shrink => m.shrink_if_sparse(),
            }
            assert_eq!(m.len(), r.len());
        }
        for (k, v) in &r {
            assert_eq!(m.get(k), Some(v));
        }
        assert_eq!(m.iter().count(), r.len());
        for k in 0..600 {
            assert_eq!(m.get(&k).is_some(), r.contains_key(&k));
        }
    }

    proptest! {
        #[test]
        fn agrees_with_std(ops in proptest::collection::vec(op(), 0..3000)) {
            check(&ops);
        }
    }

    /// A table nearly full, then most of it removed and retained away: the shifts that wrap
    /// past the last slot, the walk that starts mid-table, and the shrink.
    #[test]
    fn wraps_shifts_and_shrinks() {
        let mut m: OpenMap<[u8; 13], u32> = OpenMap::default();
        let key = |i: u32| {
            let mut k = [0u8; 13];
            k[..4].copy_from_slice(&i.to_le_bytes());
            k
        };
        for i in 0..100_000 {
            m.insert(key(i), i);
        }
        assert_eq!(m.len(), 100_000);
        for i in (0..100_000).step_by(3) {
            assert_eq!(m.remove(&key(i)), Some(i));
        }
        m.retain(|_, v| *v % 3 == 1);
        assert_eq!(m.len(), (0..100_000).filter(|i| i % 3 == 1).count());
        m.shrink_if_sparse();
        for i in 0..100_000 {
            assert_eq!(m.get(&key(i)).copied(), (i % 3 == 1).then_some(i));
        }
        m.retain(|_, _| false);
        assert_eq!((m.len(), m.iter().count()), (0, 0));
        m.shrink_if_sparse();
        assert_eq!(m.capacity(), MIN_SLOTS);
        m.prefetch(&key(1));
        assert_eq!(OpenMap::<u32, u8>::default().get(&1), None);
    }
}
