//! Compact key → slot index for the fully associative layout.
//!
//! Open addressing with linear probing over `u64` words `(tag << 32) | (slot + 1)` (0 =
//! empty), where the tag is the high half of the key's 64-bit hash. A lookup reads one or two
//! index words and compares the full key (stored once, in the table's key array) only when the
//! tag matches. Deletion shifts later entries back (no tombstones), and the index doubles when
//! it would pass half full, so probes stay short. The hash is [`crate::hash::mix64`] with a
//! fixed seed: deterministic.

use crate::hash::mix64;
use crate::key::HwKey;

/// "No index": the empty value of every `u32` slot or flow index in the table (and what
/// [`KeyIndex::get`] returns for an absent key).
pub(crate) const NONE: u32 = u32::MAX;

const SEED: u64 = 0x4528_21e6_38d0_1377;
const MIN_CAP: usize = 16;

/// The index. Slots are `u32` positions in the table's key array.
#[derive(Clone, Debug, Default)]
pub(crate) struct KeyIndex {
    words: Vec<u64>,
    len: usize,
}

#[inline(always)]
pub(crate) fn index_hash(key: &HwKey) -> u64 {
    mix64(key, SEED)
}

impl KeyIndex {
    #[inline(always)]
    fn mask(&self) -> usize {
        self.words.len() - 1
    }

    /// Slot holding `key` (whose [`index_hash`] is `h`), or `NONE`.
    #[inline(always)]
    pub(crate) fn get(&self, h: u64, key: &HwKey, keys: &[HwKey]) -> u32 {
        if self.words.is_empty() {
            return NONE;
        }
        let tag = h >> 32;
        let mask = self.mask();
        let mut pos = h as usize & mask;
        loop {
            let w = self.words[pos];
            if w == 0 {
                return NONE;
            }
            if w >> 32 == tag {
                let s = (w as u32) - 1;
                if keys[s as usize].same(key) {
                    return s;
                }
            }
            pos = (pos + 1) & mask;
        }
    }

    /// Adds `slot` (whose key, hashing to `h`, is not present yet).
    pub(crate) fn insert(&mut self, h: u64, slot: u32, keys: &[HwKey]) {
        if (self.len + 1) * 2 > self.words.len() {
            self.grow(keys);
        }
        let mask = self.mask();
        let mut pos = h as usize & mask;
        while self.words[pos] != 0 {
            pos = (pos + 1) & mask;
        }
        self.words[pos] = ((h >> 32) << 32) | u64::from(slot + 1);
        self.len += 1;
    }

    /// Removes `slot` (whose key hashes to `h`); `keys` must still hold every indexed key.
    pub(crate) fn remove(&mut self, h: u64, slot: u32, keys: &[HwKey]) {
        if self.words.is_empty() {
            return;
        }
        let mask = self.mask();
        let mut pos = h as usize & mask;
        loop {
            let w = self.words[pos];
            if w == 0 {
                return; // not indexed
            }
            if (w as u32) == slot + 1 {
                break;
            }
            pos = (pos + 1) & mask;
        }
        // Backward-shift deletion.
        let mut hole = pos;
        let mut j = pos;
        loop {
            j = (j + 1) & mask;
            let w = self.words[j];
            if w == 0 {
                break;
            }
            let s = (w as u32) - 1;
            let home = index_hash(&keys[s as usize]) as usize & mask;
            // The entry at j may move to the hole unless its home lies cyclically in (hole, j].
            let stays = if hole <= j {
                home > hole && home <= j
            } else {
                home > hole || home <= j
            };
            if !stays {
                self.words[hole] = w;
                hole = j;
            }
        }
        self.words[hole] = 0;
        self.len -= 1;
    }

    fn grow(&mut self, keys: &[HwKey]) {
        let cap = (self.words.len() * 2).max(MIN_CAP);
        let old = std::mem::replace(&mut self.words, vec![0; cap]);
        let mask = cap - 1;
        for w in old.into_iter().filter(|&w| w != 0) {
            let s = (w as u32) - 1;
            let mut pos = index_hash(&keys[s as usize]) as usize & mask;
            while self.words[pos] != 0 {
                pos = (pos + 1) & mask;
            }
            self.words[pos] = w;
        }
    }

    /// Forgets everything.
    pub(crate) fn clear(&mut self) {
        self.words.clear();
        self.len = 0;
    }

    /// Number of indexed slots.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.len
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::key::EncapId;
    use offsim_traces::FlowKey;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn key(i: u32) -> HwKey {
        HwKey::new(
            FlowKey {
                src: u128::from(i),
                dst: 7,
                sport: (i % 7) as u16,
                dport: 80,
                proto: 6,
                version: 4,
            },
            0,
            [EncapId::NONE; 2],
        )
    }

    proptest! {
        /// Against a BTreeMap model: random inserts and removes of 200 keys in 64 slots.
        #[test]
        fn behaves_like_a_map(ops in proptest::collection::vec((any::<bool>(), 0u32..200), 1..600)) {
            let mut keys = vec![HwKey::EMPTY; 64];
            let mut free: Vec<u32> = (0..64).rev().collect();
            let mut idx = KeyIndex::default();
            let mut model: BTreeMap<u32, u32> = BTreeMap::new(); // key id -> slot
            for (ins, id) in ops {
                let k = key(id);
                let h = index_hash(&k);
                if ins {
                    if model.contains_key(&id) || free.is_empty() { continue; }
                    let s = free.pop().unwrap();
                    keys[s as usize] = k;
                    idx.insert(h, s, &keys);
                    model.insert(id, s);
                } else if let Some(s) = model.remove(&id) {
                    idx.remove(h, s, &keys);
                    keys[s as usize] = HwKey::EMPTY;
                    free.push(s);
                }
                prop_assert_eq!(idx.len(), model.len());
                for probe in 0..200u32 {
                    let k = key(probe);
                    let got = idx.get(index_hash(&k), &k, &keys);
                    prop_assert_eq!(got, model.get(&probe).copied().unwrap_or(NONE));
                }
            }
        }
    }
}
