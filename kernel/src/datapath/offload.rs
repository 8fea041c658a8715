//! The datapath's side of hardware offload: the handles and results the offload engine (the
//! simulator's workqueue and NIC driver) reports back, and what the NIC did to packets the
//! CPU never saw, written into the flowtable entries and flow records the datapath owns.
//! Mirrors `nf_flow_offload_work_add`/`_del`/`_stats` completing in the kernel.

use offsim_traces::meta::PacketMeta;
use offsim_traces::time::SimTime;

use super::Datapath;
use crate::flowtable::{FlowId, FtKey, FtRoute, HwRequest, fflags};
use crate::path::Path;

impl Datapath {
    /// Drains hardware work requested by the flowtables (flowtable index, request).
    pub fn drain_hw_requests(&mut self, out: &mut Vec<(usize, HwRequest)>) {
        for (i, s) in self.fts.iter_mut().enumerate() {
            if !s.ft.hw_requests.is_empty() {
                out.extend(s.ft.hw_requests.drain(..).map(|r| (i, r)));
            }
        }
    }

    /// The flowtable entry a packet belongs to (flowtable index, entry), looked up by its
    /// flowtable key on its input device (`m.iface`), first flowtable first.
    pub fn flow_of_packet(&self, m: &PacketMeta) -> Option<(usize, FlowId)> {
        let key = FtKey::of_packet(m, m.iface);
        self.fts
            .iter()
            .enumerate()
            .find_map(|(i, s)| s.ft.flow_of_key(&key).map(|id| (i, id)))
    }

    /// The flow record index of a flowtable entry (`u32::MAX`: none).
    pub(super) fn flow_record(&self, ft: usize, id: FlowId) -> u32 {
        self.fts
            .get(ft)
            .and_then(|s| s.ft.get(id))
            .filter(|f| self.ct.is_live(f.ct))
            .map(|f| self.ct.get(f.ct).rec)
            .unwrap_or(u32::MAX)
    }

    /// A packet the NIC forwarded (it never reached the CPU): counted on its connection's
    /// record, found by its flowtable key on its input device (`m.iface`).
    pub fn note_hw_packet(&mut self, m: &PacketMeta, now: SimTime) {
        let rec = match self.flow_of_packet(m) {
            Some((ft, id)) => {
                if !self.stats.events.is_empty()
                    && let Some(ct) = self.fts[ft].ft.get(id).map(|f| f.ct)
                {
                    self.note_fast_path(ct, m.wire_len, now);
                }
                self.flow_record(ft, id)
            }
            None => u32::MAX,
        };
        self.flows.packet(rec, Path::Hw, m.wire_len, now);
    }

    /// A lazily binding NIC bound a flow it had listed: the flow is in hardware now.
    pub fn note_hw_bound(&mut self, ft: usize, id: FlowId, now: SimTime) {
        let rec = self.flow_record(ft, id);
        self.flows.offloaded_hw(rec, now);
    }

    /// A flow the NIC accepted stays in software for `why` (a lazily binding NIC's bucket
    /// is full, or the flow is below its bind rate); recorded unless it reached hardware.
    pub fn note_hw_refused(&mut self, ft: usize, id: FlowId, why: &'static str) {
        let rec = self.flow_record(ft, id);
        if let Some(r) = self.flows.get_mut(rec)
            && !r.hw
        {
            self.flows.set_hw_refused(rec, why);
        }
    }

    /// Records the offload engine's handle of a flow's hardware rules.
    pub fn set_hw_cookie(&mut self, ft: usize, id: FlowId, hwgen: u64) {
        if let Some(s) = self.fts.get_mut(ft) {
            s.ft.set_hw_gen(id, hwgen);
        }
    }

    /// The offload engine's handle of a flow's hardware rules, if any.
    pub fn hw_cookie(&self, ft: usize, id: FlowId) -> Option<u64> {
        self.fts
            .get(ft)
            .and_then(|s| s.ft.get(id))
            .map(|f| f.hw_gen)
            .filter(|g| *g != 0)
    }

    /// The hardware add of a flow finished: `accepted` = the driver took at least one
    /// direction; `refusal` = why the flow is (still) in software — the NIC's refusal, or
    /// with `accepted` a rule that is only listed, not forwarding (lazy binding).
    pub fn hw_add_done(
        &mut self,
        ft: usize,
        id: FlowId,
        accepted: bool,
        refusal: Option<&'static str>,
        now: SimTime,
    ) {
        if let Some(s) = self.fts.get_mut(ft) {
            s.ft.hw_add_done(id, accepted, &mut self.ct);
            if let Some(f) = s.ft.get(id)
                && self.ct.is_live(f.ct)
            {
                if accepted {
                    // the driver took it (a lazily binding NIC lists it until it binds)
                    let ctid = f.ct;
                    super::events::note_event(&self.ct, &mut self.stats.events, ctid, |c| {
                        c.hw_readded += 1;
                    });
                    self.ct.get_mut(ctid).event = 0;
                }
                let rec = self.ct.get(f.ct).rec;
                if self.flows.get_mut(rec).is_some() {
                    // Accepted with a reason: listed but not forwarding yet (lazy binding).
                    if accepted && refusal.is_none() {
                        self.flows.offloaded_hw(rec, now);
                    } else if let Some(why) = refusal {
                        self.flows.set_hw_refused(rec, why);
                    }
                }
            }
        }
    }

    /// The hardware delete of a flow finished.
    pub fn hw_del_done(&mut self, ft: usize, id: FlowId) {
        if let Some(s) = self.fts.get_mut(ft) {
            s.ft.hw_del_done(id, &mut self.ct);
        }
    }

    /// Hardware statistics of a flow arrived.
    pub fn hw_stats_done(
        &mut self,
        ft: usize,
        id: FlowId,
        last_used: Option<SimTime>,
        packets: [u64; 2],
        bytes: [u64; 2],
    ) {
        if let Some(s) = self.fts.get_mut(ft) {
            s.ft.hw_stats_done(id, last_used, packets, bytes, &mut self.ct);
        }
    }

    /// The two directions' keys of a flowtable entry.
    pub fn flow_keys(&self, ft: usize, id: FlowId) -> Option<[FtKey; 2]> {
        self.fts.get(ft).and_then(|s| s.ft.get(id)).map(|f| f.keys)
    }

    /// The two directions' routes (output device, MTU) of a flowtable entry.
    pub fn flow_routes(&self, ft: usize, id: FlowId) -> Option<[FtRoute; 2]> {
        self.fts
            .get(ft)
            .and_then(|s| s.ft.get(id))
            .map(|f| f.routes)
    }

    /// Whether a flowtable entry is alive and not torn down.
    pub fn flow_active(&self, ft: usize, id: FlowId) -> bool {
        self.fts
            .get(ft)
            .and_then(|s| s.ft.get(id))
            .is_some_and(|f| !f.has(fflags::TEARDOWN))
    }
}

impl Datapath {
    /// The replay lost a packet of this TCP connection before the router processed it (a
    /// full RX ring, a port, the NIC): conntrack tracks the connection liberally from now on
    /// (`IP_CT_TCP_FLAG_BE_LIBERAL` on both directions, as `nft_flow_offload` sets it).
    ///
    /// Why: an open-loop replay's endpoints do not react to the router's losses, so after a
    /// lost ACK the replayed sender goes on past the window the router saw acknowledged —
    /// something a real sender, which lost that ACK too, never does. `tcp_in_window` would
    /// mark those packets invalid and the ruleset would drop them: the replay's
    /// inconsistency, not the router's behaviour, and under overload it turns loss into a
    /// collapse. Connections the router did not lose packets of are tracked exactly.
    pub fn replay_lost(&mut self, m: &PacketMeta, now: SimTime) {
        if m.l4proto != offsim_traces::meta::proto::TCP {
            return;
        }
        // A packet that arrived on the WAN side is known to conntrack as the WAN peer sent
        // it (beyond NAT): the captured one may carry the LAN client's address.
        // Copied only when NAT changes it (a lost SYN of a flood, LAN side, is not).
        let edit = (m.iface == super::WAN_IFINDEX)
            .then(|| super::nat::wan_edit(&self.ct, now, m))
            .flatten();
        let k = match edit {
            None => m.flow_key(),
            Some(e) => {
                let mut wire = *m;
                e.apply(&mut wire);
                wire.flow_key()
            }
        };
        let Some(k) = k else {
            return;
        };
        if let Some((id, _)) = self.ct.peek(now, &k)
            && let crate::conntrack::ProtoState::Tcp(t) = &mut self.ct.get_mut(id).proto
        {
            t.set_liberal();
        }
    }
}
