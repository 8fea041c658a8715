//! Where a key lives and the per-packet lookup: the hot path. Nothing here allocates; a
//! hashed bucket compares 2–4 keys with a branch-free key equality, a cuckoo bucket compares
//! a 32-bit tag before the key, the fully associative layout reads its compact index.

use super::{FlowTable, Lookup, SlotState};
use crate::config::{BindMode, HashKind, Layout};
use crate::hash::{mix64, mtk_ppe_hash, reduce};
use crate::index::{NONE, index_hash};
use crate::key::HwKey;
use offsim_traces::SimTime;

/// Seeds of the two generic bucket hashes (the first also gives the cuckoo tag).
const SEED1: u64 = 0x243f_6a88_85a3_08d3;
const SEED2: u64 = 0x1319_8a2e_0370_7344;

/// Cuckoo fingerprint of a key from its first hash (never 0, which marks an empty slot).
#[inline(always)]
fn cuckoo_tag(h1: u64) -> u32 {
    (h1 as u32) | 0x8000_0000
}

/// Cuckoo fingerprint of a key.
#[inline]
pub(super) fn cuckoo_key_tag(key: &HwKey) -> u32 {
    cuckoo_tag(mix64(key, SEED1))
}

impl FlowTable {
    #[inline(always)]
    pub(super) fn bucket(&self, key: &HwKey) -> u32 {
        match self.hash {
            HashKind::MtkPpe => mtk_ppe_hash(key) & (self.nbuckets - 1),
            HashKind::Mix64 => reduce(mix64(key, SEED1), self.nbuckets),
        }
    }

    #[inline(always)]
    pub(super) fn cuckoo_buckets(&self, key: &HwKey) -> (u32, u32) {
        let b1 = reduce(mix64(key, SEED1), self.nbuckets);
        (b1, self.cuckoo_b2(key, b1))
    }

    #[inline(always)]
    pub(super) fn cuckoo_b2(&self, key: &HwKey, b1: u32) -> u32 {
        let b2 = reduce(mix64(key, SEED2), self.nbuckets);
        if b2 != b1 {
            b2
        } else if b1 + 1 == self.nbuckets {
            0
        } else {
            b1 + 1
        }
    }

    #[inline(always)]
    fn scan_tagged(&self, bucket: u32, tag: u32, key: &HwKey) -> u32 {
        let w = self.ways as usize;
        let base = bucket as usize * w;
        for (i, &t) in self.tags[base..base + w].iter().enumerate() {
            if t == tag && self.keys[base + i].same(key) {
                return (base + i) as u32;
            }
        }
        NONE
    }

    /// Writes a slot's key (and its cuckoo tag).
    #[inline]
    pub(super) fn put_key(&mut self, i: u32, key: HwKey) {
        if self.layout == Layout::Cuckoo {
            self.tags[i as usize] = if key.is_empty_sentinel() {
                0
            } else {
                cuckoo_key_tag(&key)
            };
        }
        self.keys[i as usize] = key;
    }

    #[inline(always)]
    fn scan(&self, bucket: u32, key: &HwKey) -> u32 {
        let w = self.ways as usize;
        let base = bucket as usize * w;
        for (i, k) in self.keys[base..base + w].iter().enumerate() {
            if k.same(key) {
                return (base + i) as u32;
            }
        }
        NONE
    }

    #[inline(always)]
    pub(super) fn find(&self, key: &HwKey) -> u32 {
        match self.layout {
            Layout::Hashed => self.scan(self.bucket(key), key),
            Layout::Cuckoo => {
                let h1 = mix64(key, SEED1);
                let b1 = reduce(h1, self.nbuckets);
                let tag = cuckoo_tag(h1);
                let i = self.scan_tagged(b1, tag, key);
                if i != NONE {
                    i
                } else {
                    self.scan_tagged(self.cuckoo_b2(key, b1), tag, key)
                }
            }
            Layout::FullyAssociative => self.index.get(index_hash(key), key, &self.keys),
        }
    }

    // ----- data path -------------------------------------------------------------------

    /// Looks a received packet's key up at `now`, counting `bytes` on a hit. Lazy tables
    /// create an unbound entry on a miss when the bucket has room.
    #[inline]
    pub fn lookup(&mut self, now: SimTime, key: &HwKey, bytes: u32) -> Lookup {
        let key = key.masked(self.match_iif, self.match_encap);
        self.stats.lookups += 1;
        let i = self.find(&key);
        if i != NONE {
            self.touch(i, now, bytes);
            let s = &self.slots[i as usize];
            if s.state == SlotState::Bound {
                self.stats.hits += 1;
                return Lookup::Hit {
                    slot: i,
                    action: s.action,
                };
            }
            return self.rate_verdict(i, true);
        }
        self.stats.misses += 1;
        if self.mode == BindMode::Lazy
            && let Some(i) = self.create_unbound(now, &key, bytes)
        {
            return self.rate_verdict(i, false);
        }
        Lookup::Miss
    }

    #[inline]
    pub(super) fn rate_verdict(&mut self, i: u32, existing: bool) -> Lookup {
        if self.slots[i as usize].win_pkts >= self.bind_rate {
            self.stats.rate_reached += 1;
            Lookup::BindCheck { slot: i }
        } else if existing {
            self.stats.unbound_hits += 1;
            Lookup::Unbound { slot: i }
        } else {
            Lookup::Miss
        }
    }

    #[inline]
    pub(super) fn touch(&mut self, i: u32, now: SimTime, bytes: u32) {
        let epoch = if self.refresh_ns != 0 {
            self.epoch_at(now)
        } else {
            SimTime::ZERO
        };
        let window = self.rate_window_ns;
        let s = &mut self.slots[i as usize];
        if s.last_used < epoch {
            s.snap_packets = s.packets;
            s.snap_bytes = s.bytes;
            s.snap_last = s.last_used;
        }
        if now.0 >= s.win_start.0.saturating_add(window) {
            s.win_start = now;
            s.win_pkts = 0;
        }
        s.win_pkts = s.win_pkts.saturating_add(1);
        s.packets += 1;
        s.bytes += u64::from(bytes);
        if now > s.last_used {
            s.last_used = now;
        }
        if self.lru {
            self.lru_unlink(i);
            self.lru_push_front(i);
        }
    }

    /// Start of the counter-refresh epoch containing `now`.
    #[inline]
    pub(super) fn epoch_at(&mut self, now: SimTime) -> SimTime {
        if now >= self.epoch_end || now < self.epoch_begin {
            let b = now.0 - now.0 % self.refresh_ns;
            self.epoch_begin = SimTime(b);
            self.epoch_end = SimTime(b.saturating_add(self.refresh_ns));
        }
        self.epoch_begin
    }

    pub(super) fn lru_unlink(&mut self, i: u32) {
        let (p, n) = {
            let s = &self.slots[i as usize];
            (s.lru_prev, s.lru_next)
        };
        if p != NONE {
            self.slots[p as usize].lru_next = n;
        } else if self.lru_head == i {
            self.lru_head = n;
        } else {
            return; // not linked
        }
        if n != NONE {
            self.slots[n as usize].lru_prev = p;
        } else {
            self.lru_tail = p;
        }
        let s = &mut self.slots[i as usize];
        s.lru_prev = NONE;
        s.lru_next = NONE;
    }

    pub(super) fn lru_push_front(&mut self, i: u32) {
        let h = self.lru_head;
        {
            let s = &mut self.slots[i as usize];
            s.lru_prev = NONE;
            s.lru_next = h;
        }
        if h != NONE {
            self.slots[h as usize].lru_prev = i;
        } else {
            self.lru_tail = i;
        }
        self.lru_head = i;
    }
}
