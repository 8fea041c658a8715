//! Hardware aging: entries idle for their protocol's delta (bound) or the unbound delta are
//! freed at tick boundaries.

use super::{Cookie, FlowTable, SlotState};
use crate::config::BindMode;
use crate::index::NONE;
use crate::key::HwKey;
use offsim_traces::SimTime;
use offsim_traces::meta::proto;

impl FlowTable {
    /// When the next aging scan can change something (`None`: aging off or nothing to age).
    pub fn next_aging_time(&self) -> Option<SimTime> {
        let a = self.aging?;
        if self.occupancy() == 0 || self.age_due_tick == u64::MAX {
            return None;
        }
        Some(SimTime(self.age_due_tick.saturating_mul(a.tick_ns)))
    }

    pub(super) fn age_delta(&self, key: &HwKey) -> u64 {
        match self.aging {
            None => u64::MAX,
            Some(a) => match key.proto {
                proto::TCP => a.tcp,
                proto::UDP => a.udp,
                _ => a.other,
            },
        }
    }

    pub(super) fn schedule_age(&mut self, now: SimTime, delta: u64) {
        if let Some(a) = self.aging {
            let due = (now.0 / a.tick_ns).saturating_add(delta);
            self.age_due_tick = self.age_due_tick.min(due);
        }
    }

    /// Runs the hardware aging scan at `now` (a tick boundary from
    /// [`FlowTable::next_aging_time`]): bound entries idle for at least their protocol's
    /// delta and unbound entries idle for the unbound delta are freed. Cookies of aged
    /// bound entries that had an owner are appended to `aged`.
    pub fn age(&mut self, now: SimTime, aged: &mut Vec<Cookie>) {
        let Some(a) = self.aging else { return };
        let tick = now.0 / a.tick_ns;
        let mut next_due = u64::MAX;
        for i in 0..self.slots.len() {
            let s = self.slots[i];
            let delta = match s.state {
                SlotState::Bound => self.age_delta(&self.keys[i]),
                SlotState::Unbound => a.unbound,
                _ => continue,
            };
            let last_tick = s.last_used.0 / a.tick_ns;
            let due = last_tick.saturating_add(delta);
            if due <= tick {
                if s.state == SlotState::Bound {
                    self.stats.aged_bound += 1;
                    if s.owner != NONE {
                        aged.push(self.flows[s.owner as usize].cookie);
                        if self.mode == BindMode::Direct {
                            self.flows[s.owner as usize].slot = NONE;
                        }
                    }
                } else {
                    self.stats.aged_unbound += 1;
                }
                self.free_slot(now, i as u32);
            } else {
                next_due = next_due.min(due);
            }
        }
        self.age_due_tick = next_due;
    }
}
