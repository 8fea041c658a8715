//! Counters as the driver reports them (refresh epochs, wrapping timestamps, accounting)
//! and the occupancy integral.

use super::{Cookie, EntryStats, FlowTable};
use crate::config::BindMode;
use crate::error::InsertError;
use offsim_traces::{SimDuration, SimTime};

impl FlowTable {
    /// Reads one cookie's counters and idle time as the driver would at `now`. With
    /// `consume`, the deltas are reset (what a `FLOW_CLS_STATS` call does).
    pub(crate) fn read_stats(
        &mut self,
        now: SimTime,
        cookie: Cookie,
        consume: bool,
    ) -> Result<EntryStats, InsertError> {
        let Some(fid) = self.by_cookie.get(&cookie).copied() else {
            self.stats.not_found += 1;
            return Err(InsertError::NotFound);
        };
        self.stats.stats_reads += 1;
        let linked = self.linked_slot(fid);
        let (packets, bytes, last) = match linked {
            Some(i) => {
                let s = self.slots[i as usize];
                let visible_snap = self.refresh_ns != 0 && s.last_used >= self.epoch_of(now);
                if visible_snap {
                    (s.snap_packets, s.snap_bytes, Some(s.snap_last))
                } else {
                    (s.packets, s.bytes, Some(s.last_used))
                }
            }
            None => {
                let f = &self.flows[fid as usize];
                let stale = if f.has_stale {
                    Some(f.stale_last)
                } else if self.mode == BindMode::Lazy && self.ts_tick_ns != 0 {
                    // The prepared FOE entry's timestamp field is zero (mtk_foe_entry_prepare
                    // memsets the entry), so a never-bound flow reads as last used at tick 0.
                    Some(SimTime::ZERO)
                } else {
                    None
                };
                (0, 0, stale)
            }
        };
        let (packets, bytes) = if self.accounting {
            (packets, bytes)
        } else {
            (0, 0)
        };
        let idle = last.map(|l| self.idle(now, l));
        let f = &mut self.flows[fid as usize];
        let (dp, db) = if linked.is_some() {
            (
                packets.saturating_sub(f.base_packets),
                bytes.saturating_sub(f.base_bytes),
            )
        } else {
            (0, 0)
        };
        if linked.is_some()
            && let Some(l) = last
        {
            f.stale_last = l;
            f.has_stale = true;
        }
        if consume && linked.is_some() {
            f.base_packets = packets;
            f.base_bytes = bytes;
        }
        Ok(EntryStats {
            in_hardware: linked.is_some(),
            packets,
            bytes,
            delta_packets: dp,
            delta_bytes: db,
            last_used: idle.map(|d| SimTime(now.0.saturating_sub(d.0))),
            idle,
        })
    }

    pub(super) fn epoch_of(&self, now: SimTime) -> SimTime {
        SimTime(now.0 - now.0 % self.refresh_ns)
    }

    pub(super) fn idle(&self, now: SimTime, last: SimTime) -> SimDuration {
        if self.ts_tick_ns == 0 {
            return now - last;
        }
        let t = self.ts_tick_ns;
        let ticks = (now.0 / t).wrapping_sub(last.0 / t) & self.ts_mask;
        SimDuration(ticks.saturating_mul(t))
    }

    /// Integrates occupancy up to `now` before a change.
    pub(super) fn account(&mut self, now: SimTime) {
        if !self.occ_started {
            self.occ_started = true;
            self.occ_since = now;
            return;
        }
        if now > self.occ_since {
            let dt = u128::from(now.0 - self.occ_since.0);
            self.stats.occupancy_area += u128::from(self.n_bound + self.n_unbound) * dt;
            self.stats.bound_area += u128::from(self.n_bound) * dt;
            self.occ_since = now;
        }
    }

    pub(super) fn peaks(&mut self) {
        let occ = self.n_bound + self.n_unbound;
        self.stats.peak_occupancy = self.stats.peak_occupancy.max(occ);
        self.stats.peak_bound = self.stats.peak_bound.max(self.n_bound);
    }

    /// Brings the occupancy integral up to `now` (call before reading [`FlowTable::stats`]).
    pub fn flush(&mut self, now: SimTime) {
        if self.occ_started {
            self.account(now);
        }
    }
}
