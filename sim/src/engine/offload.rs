//! The offload workqueue and the NIC driver's side of hardware offload: flowtable requests
//! (add, delete, stats) wait a workqueue delay, cost CPU on the least busy core, and become
//! NIC table ops for both directions; completions come back as NIC events and are reported
//! to the datapath (`flow_offload_work_handler` → the driver's `ndo_setup_tc` flow block
//! callbacks in the kernel).

use offsim_kernel::flowtable::{FlowId, FtKey, HwRequest};
use offsim_nicmodel::InsertError;
use offsim_nicmodel::key::{EncapId, HwKey};
use offsim_nicmodel::nic::NicEvent;
use offsim_nicmodel::pipeline::{Op, OpOutcome};
use offsim_nicmodel::table::HwAction;
use offsim_traces::meta::PacketMeta;
use offsim_traces::time::SimTime;

use super::{BgWhat, Engine};

/// The engine's state of one flow's hardware rules (both directions), keyed by its handle.
#[derive(Clone, Copy, Debug)]
pub(super) struct HwFlow {
    pub(super) ft: usize,
    pub(super) flow: FlowId,
    /// Outstanding per-direction completions of the current op, and results.
    pending: u8,
    ok: bool,
    /// Some direction forwards now (direct insertion or a lazy bind), not only listed.
    bound: bool,
    refusal: Option<&'static str>,
    last_used: Option<SimTime>,
    packets: [u64; 2],
    bytes: [u64; 2],
    kind: u8,
}

fn insert_error_name(e: InsertError) -> &'static str {
    match e {
        InsertError::BucketFull => "bucket_full",
        InsertError::TableFull => "table_full",
        InsertError::RateLimited => "rate_limited",
        InsertError::QueueFull => "queue_full",
        InsertError::Unsupported(_) => "unsupported",
        InsertError::Exists => "exists",
        InsertError::NotFound => "not_found",
    }
}

fn hw_key(k: &FtKey) -> HwKey {
    let mut encap = [EncapId::NONE; 2];
    for (i, slot) in encap.iter_mut().enumerate().take(k.n_encap as usize) {
        *slot = if k.pppoe_slot as usize == i {
            EncapId::pppoe(k.encap[i])
        } else {
            EncapId::vlan(k.encap[i])
        };
    }
    HwKey::new(k.tuple, k.iif, encap)
}

impl Engine {
    /// Records why a flow the lazily binding NIC listed is still in software; a full bucket
    /// counts as one refusal per hardware add.
    pub(super) fn lazy_in_software(&mut self, pkt: &PacketMeta, why: &'static str) {
        let Some((ft, id)) = self.dp.flow_of_packet(pkt) else {
            return;
        };
        let Some(hwgen) = self.dp.hw_cookie(ft, id) else {
            return;
        };
        let Some(h) = self.hw_state.get_mut(&hwgen) else {
            return;
        };
        if !h.ok {
            return;
        }
        if why == "bucket_full" && h.refusal.is_none() {
            h.refusal = Some(why);
            *self.hw.refusals.entry(why).or_insert(0) += 1;
        }
        self.dp.note_hw_refused(ft, id, why);
    }

    /// Queues the hardware work the flowtables requested on the offload workqueue (or, with
    /// no NIC offload in this configuration, refuses it at once, as the driver would).
    pub(super) fn drain_hw(&mut self, t: SimTime) {
        self.hw_req.clear();
        self.dp.drain_hw_requests(&mut self.hw_req);
        if self.hw_req.is_empty() {
            return;
        }
        let reqs = std::mem::take(&mut self.hw_req);
        for &(ft, r) in &reqs {
            if !self.cfg.hardware {
                // No NIC offload in this configuration: the driver refuses.
                match r {
                    HwRequest::Add(id) => {
                        self.dp.hw_add_done(ft, id, false, Some("no_hw_offload"), t)
                    }
                    HwRequest::Del(id) => self.dp.hw_del_done(ft, id),
                    HwRequest::Stats(id) => self.dp.hw_stats_done(ft, id, None, [0, 0], [0, 0]),
                }
                continue;
            }
            let i = match self.work_free.pop() {
                Some(i) => {
                    self.work[i as usize] = Some((ft, r));
                    i
                }
                None => {
                    self.work.push(Some((ft, r)));
                    self.work.len() as u32 - 1
                }
            };
            if matches!(r, HwRequest::Add(_)) {
                self.hw.backlog += 1;
                self.cur.hw_backlog = self.cur.hw_backlog.max(self.hw.backlog);
            }
            let ns = self.work_ns(r);
            self.queue_work(t, ns, BgWhat::Offload(i));
        }
        self.hw_req = reqs;
        self.hw_req.clear();
    }

    /// How long one offload work item keeps its core busy: the kernel's side (building or
    /// freeing the `flow_rule`s) and the driver's callback for each direction.
    fn work_ns(&self, r: HwRequest) -> u64 {
        let c = &self.cpu.cycles;
        let p = &self.nic.config().pipeline;
        let (kernel, driver_ns) = match r {
            HwRequest::Add(_) => (c.offload_add, p.cpu_ns_insert),
            HwRequest::Del(_) => (c.offload_del, p.cpu_ns_remove),
            HwRequest::Stats(_) => (c.offload_stats, p.cpu_ns_stats),
        };
        self.cpu.ns(kernel) + 2 * driver_ns
    }

    /// An offload work item has run (its CPU time is spent): the driver's calls for both
    /// directions reach the NIC.
    pub(super) fn work(&mut self, t: SimTime, i: u32) {
        let Some((ft, r)) = self.work[i as usize].take() else {
            return;
        };
        self.work_free.push(i);
        match r {
            HwRequest::Add(id) => {
                let Some(keys) = self.dp.flow_keys(ft, id) else {
                    self.hw.backlog -= 1;
                    return;
                };
                if !self.dp.flow_active(ft, id) {
                    self.hw.backlog -= 1;
                    self.dp.hw_add_done(ft, id, false, None, t);
                    return;
                }
                self.hw_seq += 1;
                let hwgen = self.hw_seq;
                self.hw_state.insert(
                    hwgen,
                    HwFlow {
                        ft,
                        flow: id,
                        pending: 2,
                        ok: false,
                        bound: false,
                        refusal: None,
                        last_used: None,
                        packets: [0; 2],
                        bytes: [0; 2],
                        kind: 0,
                    },
                );
                self.dp.set_hw_cookie(ft, id, hwgen);
                let routes = self.dp.flow_routes(ft, id).unwrap_or_default();
                for (d, k) in keys.iter().enumerate() {
                    let cookie = (hwgen << 1) | d as u64;
                    // The direction's route, as `nf_flow_rule_route_common` programs it.
                    let action = HwAction {
                        out_iface: routes[d].oif,
                        mtu: routes[d].mtu.min(u32::from(u16::MAX)) as u16,
                    };
                    self.hw_flows.insert(cookie, hwgen);
                    match self.nic.submit(
                        t,
                        Op::Insert {
                            cookie,
                            key: hw_key(k),
                            action,
                        },
                    ) {
                        Ok(_) => {}
                        // A refusal at submission counts for one direction.
                        Err(e) => self.completion_dir(hwgen, 0, Err(e), t),
                    }
                }
            }
            HwRequest::Del(id) | HwRequest::Stats(id) => {
                let del = matches!(r, HwRequest::Del(_));
                let Some(hwgen) = self.dp.hw_cookie(ft, id) else {
                    if del {
                        self.dp.hw_del_done(ft, id);
                    } else {
                        self.dp.hw_stats_done(ft, id, None, [0, 0], [0, 0]);
                    }
                    return;
                };
                if let Some(h) = self.hw_state.get_mut(&hwgen) {
                    h.pending = 2;
                    h.kind = if del { 1 } else { 2 };
                    h.last_used = None;
                    h.packets = [0; 2];
                    h.bytes = [0; 2];
                }
                for d in 0..2u64 {
                    let cookie = (hwgen << 1) | d;
                    let op = if del {
                        Op::Remove { cookie }
                    } else {
                        Op::Stats { cookie }
                    };
                    if let Err(e) = self.nic.submit(t, op) {
                        self.completion_dir(hwgen, 0, Err(e), t);
                    }
                }
            }
        }
        self.schedule_nic();
    }

    /// Handles what the NIC finished by `t`: op completions (and their CPU time).
    pub(super) fn nic_poll(&mut self, t: SimTime) {
        let mut evs = std::mem::take(&mut self.nic_events);
        self.nic.poll(t, &mut evs);
        for e in evs.drain(..) {
            match e {
                NicEvent::Completed(c) => {
                    // The driver's CPU time was spent in the work item that submitted it.
                    let Some(&hwgen) = self.hw_flows.get(&c.cookie) else {
                        continue;
                    };
                    self.completion_dir(hwgen, (c.cookie & 1) as usize, c.result, c.done);
                }
                NicEvent::Aged { .. } => {}
            }
        }
        self.nic_events = evs;
        self.schedule_nic();
        self.drain_hw(t);
    }

    /// One direction of a flow's hardware op completed; when both have, the datapath
    /// learns the result.
    fn completion_dir(
        &mut self,
        hwgen: u64,
        dir: usize,
        r: Result<OpOutcome, InsertError>,
        t: SimTime,
    ) {
        let Some(h) = self.hw_state.get_mut(&hwgen) else {
            return;
        };
        match r {
            Ok(OpOutcome::Inserted(i)) => {
                h.ok = true;
                h.bound |= i.bound;
                self.hw.inserts += 1;
            }
            Ok(OpOutcome::Removed(_)) => {}
            Ok(OpOutcome::Stats(s)) => {
                h.last_used = h.last_used.max(s.last_used);
                h.packets[dir] += s.delta_packets;
                h.bytes[dir] += s.delta_bytes;
            }
            Err(e) => {
                if h.kind == 0 {
                    let name = insert_error_name(e);
                    h.refusal = Some(name);
                    *self.hw.refusals.entry(name).or_insert(0) += 1;
                }
            }
        }
        h.pending = h.pending.saturating_sub(1);
        if h.pending > 0 {
            return;
        }
        let h = *h;
        match h.kind {
            0 => {
                // Accepted counts as offloaded for the kernel (IPS_HW_OFFLOAD, no retries),
                // but a lazily bound NIC only listed the flow: it reaches hardware when a
                // bind check binds it, and until then it is in software below the bind rate.
                let why = match (h.ok, h.bound) {
                    (true, true) => None,
                    (true, false) => Some("below_bind_rate"),
                    (false, _) => h.refusal,
                };
                self.hw.backlog -= 1;
                self.dp.hw_add_done(h.ft, h.flow, h.ok, why, t);
                if !h.ok {
                    self.forget(hwgen);
                }
            }
            1 => {
                self.hw.deletes += 1;
                self.dp.hw_del_done(h.ft, h.flow);
                self.forget(hwgen);
            }
            _ => self
                .dp
                .hw_stats_done(h.ft, h.flow, h.last_used, h.packets, h.bytes),
        }
    }

    /// Drops the engine's handles of a flow's hardware rules.
    fn forget(&mut self, hwgen: u64) {
        self.hw_state.remove(&hwgen);
        self.hw_flows.remove(&(hwgen << 1));
        self.hw_flows.remove(&((hwgen << 1) | 1));
    }
}
