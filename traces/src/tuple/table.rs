//! The hash table under the tuple maps: `hashbrown`'s `HashTable` with the Fx hash, plus
//! [`Table::prefetch`], which asks for the lines a key's look-up will read before it is made.
//!
//! Why not `std`'s `HashMap`: a map whose keys are new (a SYN flood's spoofed sources) misses
//! the cache on every look-up, twice (the control bytes, then the slot), and a `HashMap`
//! cannot say where a key's look-up will go. `hashbrown`'s table is the same SwissTable
//! (`std`'s map is built on it), so hits cost what they cost before; what it adds is the
//! number of buckets and the index of a bucket, which with the table's layout name the
//! lines a hash probes first.
//!
//! Where the table lies is kept in a [`TableAnchor`] (see `anchor.rs`). Its memory comes
//! from [`HugeAlloc`]: huge pages once it is large.

use std::hash::{BuildHasher, Hash};

use hashbrown::HashTable;
use hashbrown::hash_table::Entry;
use rustc_hash::FxBuildHasher;

use super::TableAnchor;
use crate::hugetable::HugeAlloc;

/// A map from `K` to `V` (see the module doc).
pub(crate) struct Table<K, V> {
    t: HashTable<(K, V), HugeAlloc>,
    anchor: TableAnchor,
}

impl<K, V> Default for Table<K, V> {
    fn default() -> Self {
        Table {
            t: HashTable::new_in(HugeAlloc::default()),
            anchor: TableAnchor::default(),
        }
    }
}

/// A copy lies elsewhere: its anchor is learnt again at its first insert.
impl<K: Clone, V: Clone> Clone for Table<K, V> {
    fn clone(&self) -> Self {
        Table {
            t: self.t.clone(),
            anchor: TableAnchor::default(),
        }
    }
}

/// The entries (not the anchor, an address that differs from run to run).
impl<K: std::fmt::Debug, V: std::fmt::Debug> std::fmt::Debug for Table<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.t.iter()).finish()
    }
}

#[inline]
fn hash<K: Hash>(k: &K) -> u64 {
    FxBuildHasher.hash_one(k)
}

impl<K: Hash + Eq, V> Table<K, V> {
    pub(crate) fn len(&self) -> usize {
        self.t.len()
    }

    #[inline]
    pub(crate) fn get(&self, k: &K) -> Option<&V> {
        self.t.find(hash(k), |e| e.0 == *k).map(|e| &e.1)
    }

    #[inline]
    pub(crate) fn get_mut(&mut self, k: &K) -> Option<&mut V> {
        self.t.find_mut(hash(k), |e| e.0 == *k).map(|e| &mut e.1)
    }

    /// Sets the value of `k`; returns the previous one.
    #[inline]
    pub(crate) fn insert(&mut self, k: K, v: V) -> Option<V> {
        let buckets = self.reserve_one();
        match self.t.entry(hash(&k), |e| e.0 == k, |e| hash(&e.0)) {
            Entry::Occupied(mut o) => Some(std::mem::replace(&mut o.get_mut().1, v)),
            Entry::Vacant(s) => {
                let o = s.insert((k, v));
                self.anchor
                    .note_if_moved(buckets, o.bucket_index(), o.get());
                None
            }
        }
    }

    /// The value of `k`, inserted with `f` when absent.
    #[inline]
    pub(crate) fn get_or_insert_with(&mut self, k: K, f: impl FnOnce() -> V) -> &mut V {
        let buckets = self.reserve_one();
        let o = match self.t.entry(hash(&k), |e| e.0 == k, |e| hash(&e.0)) {
            Entry::Occupied(o) => o,
            Entry::Vacant(s) => s.insert((k, f())),
        };
        self.anchor
            .note_if_moved(buckets, o.bucket_index(), o.get());
        &mut o.into_mut().1
    }

    /// Makes room for one more entry (the only step of an insert that may move the table:
    /// `entry` then finds the room there) and returns the bucket count after it.
    #[inline]
    fn reserve_one(&mut self) -> usize {
        self.t.reserve(1, |e| hash(&e.0));
        self.t.num_buckets()
    }

    #[inline]
    pub(crate) fn remove(&mut self, k: &K) -> Option<V> {
        match self.t.find_entry(hash(k), |e| e.0 == *k) {
            Ok(o) => Some(o.remove().0.1),
            Err(_) => None,
        }
    }

    pub(crate) fn retain(&mut self, mut f: impl FnMut(&K, &mut V) -> bool) {
        self.t.retain(|e| f(&e.0, &mut e.1));
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.t.iter().map(|e| (&e.0, &e.1))
    }

    /// Gives memory back when the table holds far fewer entries than it has room for (after
    /// a sweep forgot most of them): the rule of every tuple map.
    pub(crate) fn shrink_if_sparse(&mut self) {
        if self.t.capacity() > 4 * self.t.len() + 4096 {
            self.t.shrink_to(2 * self.t.len(), |e| hash(&e.0));
            // moved: known again at the next insert
            self.anchor.forget();
        }
    }

    /// Asks for the lines a look-up of `k` reads first: the control bytes and the slot of
    /// the bucket its probe starts at. Does nothing until an insert has shown where the
    /// table lies, or while it has grown since.
    #[inline]
    pub(crate) fn prefetch(&self, k: &K) {
        self.anchor.prefetch(&self.t, hash(k));
    }
}

#[cfg(test)]
mod test {
    use super::*;

    /// The layout `prefetch` assumes: every full bucket's slot lies where the anchor says.
    /// Fails if `hashbrown` ever lays its table out otherwise (the prefetch would then be
    /// useless, though harmless).
    #[test]
    fn layout_is_hashbrowns() {
        let mut t: Table<[u8; 13], u32> = Table::default();
        for n in 0..5000u32 {
            let mut k = [0u8; 13];
            k[..4].copy_from_slice(&n.wrapping_mul(2_654_435_761).to_be_bytes());
            *t.get_or_insert_with(k, || 0) += n;
            assert!(t.anchor.is_known());
            assert!(!t.clone().anchor.is_known(), "a copy lies elsewhere");
        }
        let mut full = 0;
        for i in 0..t.t.num_buckets() {
            if let Some(e) = t.t.get_bucket(i) {
                full += 1;
                assert_eq!(
                    std::ptr::from_ref(e).addr(),
                    t.anchor.slot_addr::<([u8; 13], u32)>(i)
                );
            }
        }
        assert_eq!(full, 5000);
    }

    /// A table past 2 MiB lies in one huge-page mapping of its allocator (two only while it
    /// grows), and gives it back when a sweep leaves it sparse.
    #[test]
    fn a_large_table_is_mapped_and_given_back() {
        let mut t: Table<u64, u64> = Table::default();
        for k in 0..200_000u64 {
            t.insert(k, k);
        }
        assert_eq!(t.t.allocator().live(), 1, "{} buckets", t.t.num_buckets());
        assert_eq!(t.get(&199_999), Some(&199_999));
        t.retain(|k, _| *k < 10);
        t.shrink_if_sparse();
        assert_eq!(t.t.allocator().live(), 0);
        assert_eq!(t.len(), 10);
    }

    /// The table answers as `std`'s map does, whatever is prefetched.
    #[test]
    fn agrees_with_std() {
        let mut t: Table<u32, u64> = Table::default();
        let mut m = std::collections::HashMap::new();
        let mut x = 1u32;
        for step in 0..40_000u32 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            let k = x % 3000;
            t.prefetch(&k);
            match step % 5 {
                0 => assert_eq!(t.insert(k, u64::from(step)), m.insert(k, u64::from(step))),
                1 => assert_eq!(t.remove(&k), m.remove(&k)),
                2 => {
                    *t.get_or_insert_with(k, || 7) += 1;
                    *m.entry(k).or_insert(7) += 1;
                }
                _ => assert_eq!(t.get(&k), m.get(&k)),
            }
            if step % 9_999 == 0 {
                t.retain(|k, _| k % 3 != 0);
                m.retain(|k, _| k % 3 != 0);
                t.shrink_if_sparse();
            }
            assert_eq!(t.len(), m.len());
        }
        let mut a: Vec<_> = t.iter().map(|(k, v)| (*k, *v)).collect();
        let mut b: Vec<_> = m.into_iter().collect();
        a.sort_unstable();
        b.sort_unstable();
        assert_eq!(a, b);
    }
}
