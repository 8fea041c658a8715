//! Taking flows out of the flowtable: the GC pass (`nf_flow_table_gc_run` →
//! `nf_flow_offload_gc_step`), and the iterations with a cleanup callback that events run
//! (`nf_flow_table_iterate`: a flush, a device going down, a host moving bridge port).

use offsim_traces::time::{NS_PER_SEC, SimDuration, SimTime};

use super::{DAY, Dir, Flow, FlowId, Flowtable, HwRequest, HwState, TeardownCause, fflags};
use crate::conntrack::tcp::TcpState;
use crate::conntrack::{Conntrack, CtId};

impl Flowtable {
    /// One GC pass (`nf_flow_table_gc_run`, every 1 s). Returns the time of the next pass.
    pub fn gc(&mut self, now: SimTime, ct: &mut Conntrack) -> SimTime {
        let ids: Vec<u32> = (0..self.flows.len() as u32)
            .filter(|&i| self.flows[i as usize].is_some())
            .collect();
        for i in ids {
            let id = FlowId(i);
            let (timeout, ctid, teardown, hw, closing, hw_dying, hw_dead, hw_pending) = {
                let f = self.flows[i as usize].as_ref().expect("flow");
                (
                    f.timeout,
                    f.ct,
                    f.has(fflags::TEARDOWN),
                    f.has(fflags::HW),
                    f.has(fflags::CLOSING),
                    f.has(fflags::HW_DYING),
                    f.has(fflags::HW_DEAD),
                    f.has(fflags::HW_PENDING),
                )
            };
            let ct_dying = !ct.is_live(ctid);
            let mut torn = teardown;
            if !torn && (now >= timeout || ct_dying) {
                let cause = if ct_dying {
                    TeardownCause::CtDying
                } else {
                    TeardownCause::Timeout
                };
                self.teardown(id, cause, now, ct);
                torn = true;
            } else if !torn {
                // nf_flow_table_extend_ct_timeout: keep the conntrack entry alive.
                let c = ct.get(ctid);
                if c.expires().0.saturating_sub(now.0) < 300 * NS_PER_SEC {
                    let extend = match c.tcp_state() {
                        None | Some(TcpState::Established) => Some(DAY),
                        Some(
                            TcpState::FinWait
                            | TcpState::CloseWait
                            | TcpState::LastAck
                            | TcpState::TimeWait,
                        ) => Some(300 * NS_PER_SEC),
                        _ => None,
                    };
                    if let Some(t) = extend {
                        ct.set_expires(ctid, SimTime(now.0 + t));
                    }
                }
            }
            if torn {
                if !hw || hw_dead {
                    self.free_flow(id);
                } else if !hw_dying && !hw_pending {
                    let f = self.flows[i as usize].as_mut().expect("flow");
                    f.flags |= fflags::HW_DYING | fflags::HW_PENDING;
                    self.hw_requests.push(HwRequest::Del(id));
                }
            } else if closing && hw && !hw_dying && !hw_pending {
                let f = self.flows[i as usize].as_mut().expect("flow");
                f.flags |= fflags::HW_DYING | fflags::HW_PENDING;
                self.hw_requests.push(HwRequest::Del(id));
            } else if hw && !hw_pending {
                // nf_flow_offload_stats: poll when less than 90 % of the timeout is left.
                let f = self.flows[i as usize].as_ref().expect("flow");
                let to = self.offload_timeout(f.l4proto());
                if f.hw == HwState::Offloaded && f.timeout.0.saturating_sub(now.0) < to * 9 / 10 {
                    let f = self.flows[i as usize].as_mut().expect("flow");
                    f.flags |= fflags::HW_PENDING;
                    self.hw_requests.push(HwRequest::Stats(id));
                }
            }
        }
        self.next_gc = now + SimDuration::from_secs(1);
        self.next_gc
    }

    /// Tears down, for `cause`, every live flow `pick` chooses (`nf_flow_table_iterate`
    /// with a cleanup callback: `nf_flow_table_do_cleanup`, or every flow when a ruleset
    /// reload frees the flowtable, `nf_flow_table_free`). Calls `torn` with each flow torn
    /// down (before its conntrack fix-up) and returns how many.
    pub fn teardown_where(
        &mut self,
        now: SimTime,
        ct: &mut Conntrack,
        cause: TeardownCause,
        mut pick: impl FnMut(&Flow) -> bool,
        mut torn: impl FnMut(&Flow, &mut Conntrack),
    ) -> u64 {
        let mut n = 0;
        for i in 0..self.flows.len() {
            let Some(f) = &self.flows[i] else { continue };
            if f.has(fflags::TEARDOWN) || !pick(f) {
                continue;
            }
            torn(f, ct);
            self.teardown(FlowId(i as u32), cause, now, ct);
            n += 1;
        }
        n
    }

    /// Tears every flow down (a ruleset reload deletes and re-creates the flowtable).
    pub fn flush(&mut self, now: SimTime, ct: &mut Conntrack) -> u64 {
        self.teardown_where(now, ct, TeardownCause::Flush, |_| true, |_, _| {})
    }

    /// The LAN host `host` (on device `lan`) moved to another port of its bridge: every live
    /// entry with a direction from it keeps the old port (`flow_offload_tuple.out` holds the
    /// bridge port `nft_dev_forward_path` resolved when the entry was made). Packets towards
    /// the host that hit it are lost at the old port and refresh the entry; the host's own
    /// packets miss (they arrive on the new port). Mainline has no fdb hook to fix this
    /// (openwrt/openwrt#13410; the pending patches of openwrt/openwrt#25174 tear such flows
    /// down on the bridge's fdb delete). Calls `marked` with each flow and returns how many.
    pub fn host_moved(&mut self, lan: u32, host: (u8, u128), mut marked: impl FnMut(&Flow)) -> u64 {
        let mut n = 0;
        for f in self.flows.iter_mut().flatten() {
            if f.has(fflags::TEARDOWN) {
                continue;
            }
            for (d, bit) in [(0, fflags::MOVED_ORIG), (1, fflags::MOVED_REPLY)] {
                let k = &f.keys[d];
                if k.iif == lan && k.tuple.version == host.0 && k.tuple.src == host.1 {
                    f.flags |= bit;
                    marked(f);
                    n += 1;
                }
            }
        }
        n
    }

    /// Calls `f` with every flow not torn down.
    pub fn for_each_live(&self, mut f: impl FnMut(&Flow)) {
        for fl in self.flows.iter().flatten() {
            if !fl.has(fflags::TEARDOWN) {
                f(fl);
            }
        }
    }

    /// Detaches every flow from its conntrack entry (conntrack was flushed: the handles
    /// will be reused by new entries). Call after tearing them down.
    pub fn forget_conntrack(&mut self) {
        for f in self.flows.iter_mut().flatten() {
            f.ct = CtId(u32::MAX);
        }
    }

    /// Whether a packet in `dir` of flow `id` is sent to a port its host has left.
    pub fn misdirects(&self, id: FlowId, dir: Dir) -> bool {
        let bit = match dir {
            Dir::Original => fflags::MOVED_REPLY,
            Dir::Reply => fflags::MOVED_ORIG,
        };
        self.get(id).is_some_and(|f| f.has(bit))
    }
}
