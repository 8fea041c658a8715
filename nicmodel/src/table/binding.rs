//! Lazy binding (MediaTek): the hardware creates an unbound entry on a miss and counts the
//! flow's rate; the CPU's bind check (`mtk_ppe_check_skb` / `__mtk_ppe_check_skb`) writes a
//! listed flow into that entry.

use super::{BindOutcome, FREE_SLOT, FlowTable, Slot, SlotState};
use crate::config::BindMode;
use crate::index::NONE;
use crate::key::HwKey;
use offsim_traces::SimTime;

impl FlowTable {
    pub(super) fn create_unbound(&mut self, now: SimTime, key: &HwKey, bytes: u32) -> Option<u32> {
        let w = self.ways;
        let b = self.bucket(key);
        let base = b * w;
        // The hardware never evicts; a what-if admission policy (`lru`, `least_active`)
        // replaces a bound entry of the full bucket, whose flow stays listed and can bind
        // again later.
        let evicted = if (base..base + w).all(|i| self.slots[i as usize].state != SlotState::Free) {
            self.evict_among(now, &[b]).map(|(slot, _)| slot)
        } else {
            None
        };
        for i in evicted.into_iter().chain(base..base + w) {
            if self.slots[i as usize].state == SlotState::Free {
                self.account(now);
                self.put_key(i, *key);
                let last_check = self.slots[i as usize].last_check;
                self.slots[i as usize] = Slot {
                    state: SlotState::Unbound,
                    win_pkts: 1,
                    packets: 1,
                    bytes: u64::from(bytes),
                    last_used: now,
                    win_start: now,
                    last_check,
                    snap_last: now,
                    ..FREE_SLOT
                };
                self.n_unbound += 1;
                self.peaks();
                self.stats.unbound_created += 1;
                if let Some(a) = self.aging {
                    self.schedule_age(now, a.unbound);
                }
                return Some(i);
            }
        }
        self.stats.unbound_create_failed += 1;
        None
    }

    /// The CPU-side check for a packet punted with
    /// [`Lookup::BindCheck`](super::Lookup::BindCheck) (MediaTek's `mtk_ppe_check_skb` /
    /// `__mtk_ppe_check_skb`), run when the CPU handles the packet.
    pub fn bind_check(&mut self, now: SimTime, slot: u32) -> BindOutcome {
        if self.mode != BindMode::Lazy || slot as usize >= self.slots.len() {
            self.stats.bind_no_match += 1;
            return BindOutcome::NoMatch;
        }
        let interval = self.check_interval_ns;
        let s = &mut self.slots[slot as usize];
        if s.last_check != SimTime::MAX && now.0 < s.last_check.0.saturating_add(interval) {
            self.stats.bind_checks_rate_limited += 1;
            return BindOutcome::RateLimited;
        }
        s.last_check = now;
        self.stats.bind_checks += 1;
        if s.state == SlotState::Bound {
            self.stats.bind_already_bound += 1;
            return BindOutcome::AlreadyBound;
        }
        let hw_unbound = s.state == SlotState::Unbound;
        let hw_key = self.keys[slot as usize];
        let bucket = slot / self.ways;
        let mut found = NONE;
        let mut f = self.sw_head[bucket as usize];
        while f != NONE {
            let next = self.flows[f as usize].next;
            if found == NONE && hw_unbound && self.flows[f as usize].key.same(&hw_key) {
                found = f;
            } else if self.unlink_peers && self.flows[f as usize].slot != NONE {
                let ps = self.flows[f as usize].slot;
                if self.slots[ps as usize].owner == f {
                    self.slots[ps as usize].owner = NONE;
                    self.stats.unlinked_peers += 1;
                }
                self.flows[f as usize].slot = NONE;
            }
            f = next;
        }
        if found == NONE {
            self.stats.bind_no_match += 1;
            return BindOutcome::NoMatch;
        }
        self.account(now);
        let fl = &mut self.flows[found as usize];
        fl.slot = slot;
        fl.stale_last = now;
        fl.has_stale = true;
        fl.base_packets = 0;
        fl.base_bytes = 0;
        let (action, cookie) = (fl.action, fl.cookie);
        let s = &mut self.slots[slot as usize];
        s.state = SlotState::Bound;
        s.owner = found;
        s.action = action;
        s.packets = 0;
        s.bytes = 0;
        s.last_used = now;
        s.snap_packets = 0;
        s.snap_bytes = 0;
        s.snap_last = now;
        self.n_unbound -= 1;
        self.n_bound += 1;
        self.peaks();
        self.stats.binds += 1;
        let d = self.age_delta(&hw_key);
        self.schedule_age(now, d);
        BindOutcome::Bound { cookie }
    }
}
