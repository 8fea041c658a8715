//! Where a new direct entry goes: a free entry of its bucket (hashed), of either bucket or
//! after a cuckoo displacement walk (cuckoo), any free entry (fully associative); else the
//! eviction policy's victim, or a refusal.

use super::lookup::cuckoo_key_tag;
use super::{Cookie, FREE_SLOT, FlowTable, Slot, SlotState};
use crate::config::{Eviction, Layout};
use crate::error::InsertError;
use crate::index::NONE;
use crate::key::HwKey;
use offsim_traces::SimTime;

impl FlowTable {
    /// left `Free` for the caller to fill (cuckoo moves have already been made).
    pub(super) fn place(
        &mut self,
        now: SimTime,
        key: &HwKey,
        fid: u32,
    ) -> Result<(u32, Option<Cookie>), InsertError> {
        match self.layout {
            Layout::Hashed => {
                let b = self.bucket(key);
                if let Some(i) = self.free_in(b) {
                    return Ok((i, None));
                }
                self.evict_among(now, &[b]).ok_or(InsertError::BucketFull)
            }
            Layout::Cuckoo => {
                let (b1, b2) = self.cuckoo_buckets(key);
                if let Some(i) = self.free_in(b1).or_else(|| self.free_in(b2)) {
                    return Ok((i, None));
                }
                if let Some(i) = self.cuckoo_kick(*key, fid, b1) {
                    return Ok((i, None));
                }
                self.evict_among(now, &[b1, b2])
                    .ok_or(InsertError::BucketFull)
            }
            Layout::FullyAssociative => {
                if self.n_bound < u64::from(self.usable) {
                    let i = match self.free_slots.pop() {
                        Some(i) => i,
                        None => {
                            self.keys.push(HwKey::EMPTY);
                            self.slots.push(FREE_SLOT);
                            (self.slots.len() - 1) as u32
                        }
                    };
                    return Ok((i, None));
                }
                if self.eviction == Eviction::Lru && self.lru_tail != NONE {
                    let v = self.lru_tail;
                    let cookie = self.evict(now, v);
                    let i = self.free_slots.pop().unwrap_or(v);
                    return Ok((i, Some(cookie)));
                }
                Err(InsertError::TableFull)
            }
        }
    }

    pub(super) fn free_in(&self, bucket: u32) -> Option<u32> {
        let base = bucket * self.ways;
        (base..base + self.ways).find(|&i| self.slots[i as usize].state == SlotState::Free)
    }

    /// Evicts the policy's victim among the bound entries of `buckets`; returns the freed
    /// slot and the evicted cookie.
    pub(super) fn evict_among(
        &mut self,
        now: SimTime,
        buckets: &[u32],
    ) -> Option<(u32, Option<Cookie>)> {
        if self.eviction == Eviction::Refuse {
            return None;
        }
        let mut best: Option<(u64, SimTime, u32)> = None;
        for &b in buckets {
            let base = b * self.ways;
            for i in base..base + self.ways {
                let s = &self.slots[i as usize];
                if s.state != SlotState::Bound {
                    continue;
                }
                let in_window = now.0 < s.win_start.0.saturating_add(self.rate_window_ns);
                let activity = match self.eviction {
                    Eviction::LeastActive if in_window => u64::from(s.win_pkts),
                    _ => 0,
                };
                let cand = (activity, s.last_used, i);
                if best.is_none_or(|b| cand < b) {
                    best = Some(cand);
                }
            }
        }
        let (_, _, v) = best?;
        let cookie = self.evict(now, v);
        Some((v, Some(cookie)))
    }

    /// Removes a bound entry to make room; its flow stays known (slot unlinked).
    pub(super) fn evict(&mut self, now: SimTime, slot: u32) -> Cookie {
        let owner = self.slots[slot as usize].owner;
        let cookie = if owner != NONE {
            self.flows[owner as usize].slot = NONE;
            self.flows[owner as usize].cookie
        } else {
            0
        };
        self.free_slot(now, slot);
        self.stats.evictions += 1;
        cookie
    }

    /// Cuckoo displacement walk for a new entry whose buckets are both full. On success the
    /// returned slot (in `b_start`) is `Free` for the caller; on failure every move is undone.
    pub(super) fn cuckoo_kick(&mut self, key: HwKey, fid: u32, b_start: u32) -> Option<u32> {
        if self.max_kicks == 0 {
            return None;
        }
        self.path.clear();
        // The entry being carried: starts as the new key (a placeholder slot owned by fid).
        let mut cur_key = key;
        let mut cur_tag = cuckoo_key_tag(&key);
        let mut cur = Slot {
            state: SlotState::Bound,
            owner: fid,
            ..FREE_SLOT
        };
        let mut b = b_start;
        let mut prev = NONE;
        let w = self.ways;
        for kick in 0..self.max_kicks {
            // Deterministic victim: way (kick mod ways), skipping reserved slots and the slot
            // the carried entry was just taken from.
            let base = b * w;
            let mut v = NONE;
            for k in 0..w {
                let i = base + (kick + k) % w;
                let s = &self.slots[i as usize];
                if s.state == SlotState::Bound && s.owner != fid && i != prev {
                    v = i;
                    break;
                }
            }
            if v == NONE {
                break;
            }
            std::mem::swap(&mut cur_key, &mut self.keys[v as usize]);
            std::mem::swap(&mut cur_tag, &mut self.tags[v as usize]);
            std::mem::swap(&mut cur, &mut self.slots[v as usize]);
            self.path.push(v);
            let (c1, c2) = self.cuckoo_buckets(&cur_key);
            let alt = if c1 == b { c2 } else { c1 };
            if let Some(free) = self.free_in(alt) {
                let last_check = self.slots[free as usize].last_check;
                self.keys[free as usize] = cur_key;
                self.tags[free as usize] = cur_tag;
                self.slots[free as usize] = Slot { last_check, ..cur };
                self.path.push(free);
                // Fix the owners' back-pointers of every moved entry (the first path slot
                // holds the new entry's placeholder, taken over by the caller).
                let first = self.path[0];
                for idx in 1..self.path.len() {
                    let s = self.path[idx];
                    let o = self.slots[s as usize].owner;
                    if o != NONE {
                        self.flows[o as usize].slot = s;
                    }
                }
                self.stats.cuckoo_kicks += (self.path.len() - 1) as u64;
                // Hand the placeholder slot back as free for the caller to fill.
                let last_check = self.slots[first as usize].last_check;
                self.put_key(first, HwKey::EMPTY);
                self.slots[first as usize] = Slot {
                    last_check,
                    ..FREE_SLOT
                };
                return Some(first);
            }
            prev = v;
            b = alt;
        }
        // Undo in reverse order.
        while let Some(v) = self.path.pop() {
            std::mem::swap(&mut cur_key, &mut self.keys[v as usize]);
            std::mem::swap(&mut cur_tag, &mut self.tags[v as usize]);
            std::mem::swap(&mut cur, &mut self.slots[v as usize]);
        }
        None
    }
}
