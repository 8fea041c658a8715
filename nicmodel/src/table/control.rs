//! The control path: `FLOW_CLS_REPLACE` ([`FlowTable::insert`]), `FLOW_CLS_DESTROY`
//! ([`FlowTable::remove`]), [`FlowTable::clear`], and the flow/slot bookkeeping they share.

use super::{Cookie, FREE_SLOT, Flow, FlowTable, HwAction, Inserted, Removed, Slot, SlotState};
use crate::config::{BindMode, Layout};
use crate::error::{InsertError, UnsupportedReason};
use crate::index::{NONE, index_hash};
use crate::key::HwKey;
use offsim_traces::SimTime;
use offsim_traces::meta::proto;

impl FlowTable {
    pub(super) fn check_supported(&self, key: &HwKey) -> Result<(), UnsupportedReason> {
        match key.version {
            4 => {}
            6 if self.ipv6 => {}
            6 => return Err(UnsupportedReason::Ipv6),
            _ => return Err(UnsupportedReason::InvalidKey),
        }
        if key.proto != proto::TCP && key.proto != proto::UDP {
            return Err(UnsupportedReason::L4Protocol);
        }
        if key.encap_depth() > usize::from(self.max_encap) {
            return Err(UnsupportedReason::EncapDepth);
        }
        Ok(())
    }

    /// Offers one direction's rule (`FLOW_CLS_REPLACE`) at `now`. Direct tables place it (or
    /// refuse / evict); lazy tables list it in software and always succeed for supported
    /// rules.
    pub fn insert(
        &mut self,
        now: SimTime,
        cookie: Cookie,
        key: &HwKey,
        action: HwAction,
    ) -> Result<Inserted, InsertError> {
        let r = self.insert_inner(now, cookie, key, action);
        match r {
            Ok(_) => self.stats.inserts_ok += 1,
            Err(InsertError::BucketFull) => self.stats.refused_bucket_full += 1,
            Err(InsertError::TableFull) => self.stats.refused_table_full += 1,
            Err(InsertError::Unsupported(_)) => self.stats.refused_unsupported += 1,
            Err(InsertError::Exists) => self.stats.refused_exists += 1,
            Err(_) => {}
        }
        r
    }

    fn insert_inner(
        &mut self,
        now: SimTime,
        cookie: Cookie,
        key: &HwKey,
        action: HwAction,
    ) -> Result<Inserted, InsertError> {
        self.check_supported(key)
            .map_err(InsertError::Unsupported)?;
        if self.by_cookie.contains_key(&cookie) {
            return Err(InsertError::Exists);
        }
        let key = key.masked(self.match_iif, self.match_encap);
        if self.mode == BindMode::Lazy {
            let bucket = self.bucket(&key);
            let fid = self.alloc_flow(cookie, key, action);
            self.flows[fid as usize].next = self.sw_head[bucket as usize];
            self.sw_head[bucket as usize] = fid;
            return Ok(Inserted {
                bound: false,
                evicted: None,
            });
        }
        if self.find(&key) != NONE {
            return Err(InsertError::Exists);
        }
        let fid = self.alloc_flow(cookie, key, action);
        match self.place(now, &key, fid) {
            Ok((slot, evicted)) => {
                self.account(now);
                self.put_key(slot, key);
                let last_check = self.slots[slot as usize].last_check;
                self.slots[slot as usize] = Slot {
                    state: SlotState::Bound,
                    owner: fid,
                    action,
                    last_used: now,
                    win_start: now,
                    last_check,
                    snap_last: now,
                    ..FREE_SLOT
                };
                if self.layout == Layout::FullyAssociative {
                    self.index.insert(index_hash(&key), slot, &self.keys);
                }
                if self.lru {
                    self.lru_push_front(slot);
                }
                self.n_bound += 1;
                self.peaks();
                let fl = &mut self.flows[fid as usize];
                fl.slot = slot;
                fl.stale_last = now;
                fl.has_stale = true;
                let d = self.age_delta(&key);
                self.schedule_age(now, d);
                Ok(Inserted {
                    bound: true,
                    evicted,
                })
            }
            Err(e) => {
                self.free_flow(fid);
                Err(e)
            }
        }
    }

    /// Finds a slot for a new direct entry (evicting if the policy says so). The slot is
    /// Withdraws one direction's rule (`FLOW_CLS_DESTROY`) at `now`.
    pub fn remove(&mut self, now: SimTime, cookie: Cookie) -> Result<Removed, InsertError> {
        let Some(fid) = self.by_cookie.get(&cookie).copied() else {
            self.stats.not_found += 1;
            return Err(InsertError::NotFound);
        };
        let linked = self.linked_slot(fid);
        if self.mode == BindMode::Lazy {
            let bucket = self.bucket(&self.flows[fid as usize].key) as usize;
            let mut p = NONE;
            let mut f = self.sw_head[bucket];
            while f != NONE && f != fid {
                p = f;
                f = self.flows[f as usize].next;
            }
            let next = self.flows[fid as usize].next;
            if p == NONE {
                self.sw_head[bucket] = next;
            } else {
                self.flows[p as usize].next = next;
            }
        }
        if let Some(s) = linked {
            self.free_slot(now, s);
        }
        self.free_flow(fid);
        self.stats.removes_ok += 1;
        Ok(Removed {
            was_bound: linked.is_some(),
        })
    }

    /// Removes every entry and flow at `now` (flowtable deletion, NIC reset). Counters stay.
    pub fn clear(&mut self, now: SimTime) {
        self.account(now);
        match self.layout {
            Layout::FullyAssociative => {
                self.keys.clear();
                self.slots.clear();
                self.free_slots.clear();
                self.index.clear();
            }
            _ => {
                self.tags.iter_mut().for_each(|t| *t = 0);
                for (k, s) in self.keys.iter_mut().zip(self.slots.iter_mut()) {
                    if matches!(s.state, SlotState::Bound | SlotState::Unbound) {
                        *k = HwKey::EMPTY;
                        *s = Slot {
                            last_check: s.last_check,
                            ..FREE_SLOT
                        };
                    }
                }
            }
        }
        self.flows.clear();
        self.free_flows.clear();
        self.by_cookie.clear();
        self.sw_head.iter_mut().for_each(|h| *h = NONE);
        self.lru_head = NONE;
        self.lru_tail = NONE;
        self.n_bound = 0;
        self.n_unbound = 0;
        self.age_due_tick = u64::MAX;
    }

    // ----- bookkeeping -----------------------------------------------------------------

    pub(super) fn alloc_flow(&mut self, cookie: Cookie, key: HwKey, action: HwAction) -> u32 {
        let f = Flow {
            cookie,
            key,
            action,
            slot: NONE,
            next: NONE,
            stale_last: SimTime::ZERO,
            has_stale: false,
            base_packets: 0,
            base_bytes: 0,
        };
        let fid = match self.free_flows.pop() {
            Some(i) => {
                self.flows[i as usize] = f;
                i
            }
            None => {
                self.flows.push(f);
                (self.flows.len() - 1) as u32
            }
        };
        self.by_cookie.insert(cookie, fid);
        fid
    }

    pub(super) fn free_flow(&mut self, fid: u32) {
        let cookie = self.flows[fid as usize].cookie;
        self.by_cookie.remove(&cookie);
        self.flows[fid as usize].slot = NONE;
        self.flows[fid as usize].next = NONE;
        self.free_flows.push(fid);
    }

    pub(super) fn free_slot(&mut self, now: SimTime, i: u32) {
        self.account(now);
        let st = self.slots[i as usize].state;
        match st {
            SlotState::Bound => self.n_bound -= 1,
            SlotState::Unbound => self.n_unbound -= 1,
            _ => return,
        }
        if self.lru {
            self.lru_unlink(i);
        }
        if self.layout == Layout::FullyAssociative {
            let h = index_hash(&self.keys[i as usize]);
            self.index.remove(h, i, &self.keys);
            self.free_slots.push(i);
        }
        let last_check = self.slots[i as usize].last_check;
        self.put_key(i, HwKey::EMPTY);
        self.slots[i as usize] = Slot {
            last_check,
            ..FREE_SLOT
        };
    }
}
