//! From the wire to a core's RX ring: an arrival's side, its packet slot, the port's
//! receive line, the NIC's lookup (forwarded in hardware, dropped, or punted), and the
//! steering to a core (RSS, with a connection's packets kept on the core that holds its
//! earlier ones).
//!
//! Packets live in the engine's slab (`Engine::pkts`) from the source's decode to their
//! departure or loss (a deferred sender holds the slot of a packet it will offer again);
//! stages pass the slot and read the packet in place.

use offsim_kernel::datapath::DropCause;
use offsim_kernel::sides::{Side, SweepCtx, conntrack_holds};
use offsim_nicmodel::datapath::{DropReason as NicDrop, PuntReason};
use offsim_nicmodel::nic::Verdict;
use offsim_traces::heap::event_key;
use offsim_traces::meta::{FlowKey, PacketMeta};
use offsim_traces::time::{SimDuration, SimTime};

use super::drops::DropKind;
use super::{Core, Engine, Ev, Pending, RxWait, port, side_of};
use crate::source::{Source, SourceError};
use offsim_kernel::Path;

impl Engine {
    /// The side a packet arrives on; keeps the LAN host routes in step with the side split
    /// (a host is routed via the LAN while the split remembers a LAN-side tuple from it).
    fn arrival_side(&mut self, slot: u32, at: SimTime) -> Side {
        if self.splitter.sweep_due(at) {
            let limited = self.dp.conntrack().config().max_entries.is_some();
            let ct = self.dp.conntrack();
            let alive = |k: &FlowKey| conntrack_holds(ct, at, k);
            let forgot = &mut self.forgot_hosts;
            self.splitter.sweep(
                at,
                SweepCtx {
                    alive: if limited { Some(&alive) } else { None },
                    // Packets that may still wait in an RX ring on their way to conntrack.
                    grace: u32::from(self.cpu.cores) * self.cpu.rx_ring + 1024,
                    forgot_lan_host: &mut |v, a| forgot.push((v, a)),
                },
            );
            for (v, a) in self.forgot_hosts.drain(..) {
                self.dp.forget_lan_host(v, a);
            }
        }
        let pkt = &self.pkts[slot as usize];
        let (side, new_host) = self.splitter.side_of(pkt, at);
        if new_host {
            self.dp.add_lan_host(pkt.ip_version, pkt.src);
        }
        side
    }

    /// The packet in slot `slot` of `pkts` arrives at `at`: the slot is freed unless the
    /// packet waits on in an RX queue or, lost, a deferred sender keeps it (`lost_slot`).
    pub(super) fn arrive(&mut self, at: SimTime, slot: u32) {
        // A capture on two interfaces (`sides = "iface=..."`) holds forwarded packets twice:
        // the copy the router sent on is not an arrival.
        if self.splitter.forwarded_copy(&self.pkts[slot as usize]) {
            self.pkts_free.push(slot);
            return;
        }
        let side = self.arrival_side(slot, at);
        let pkt = &mut self.pkts[slot as usize];
        pkt.iface = port(side);
        let wire = u64::from(pkt.wire_len);
        let counted = self.counted(at);
        if counted {
            self.counted_end = self.counted_end.max(at);
            self.m.offered += 1;
            self.m.offered_bytes += wire;
            self.cur.offered += 1;
            self.cur.offered_bytes += wire;
        }
        if self.link_down_drop(at, side, 1) {
            self.lost_slot(at, slot);
            return;
        }
        // The wire: a port cannot receive faster than its line rate, and the far end holds
        // what it cannot send yet only so long.
        let wait = SimDuration(self.cfg.upstream_buffer_ns);
        let Some(rx_done) = self.nic.ingress(at, &self.pkts[slot as usize], wait) else {
            if counted {
                self.m.overrun_drops[side as usize] += 1;
            }
            self.drop_pkt(at, DropKind::LinkOverrun, 1);
            self.lost_slot(at, slot);
            return;
        };
        self.seq += 1;
        self.rx_queue[side as usize].push_back(RxWait {
            key: event_key(rx_done.0, self.seq),
            at,
            pkt: slot,
        });
    }

    /// A free slot in the packet slab (the slab grows with the packets alive at once).
    #[inline]
    fn slot(&mut self) -> u32 {
        match self.pkts_free.pop() {
            Some(i) => i,
            None => {
                self.pkts.push(PacketMeta::default());
                self.pkts.len() as u32 - 1
            }
        }
    }

    /// Puts a packet in the slab; returns its slot.
    #[inline]
    pub(super) fn store(&mut self, pkt: PacketMeta) -> u32 {
        let i = self.slot();
        self.pkts[i as usize] = pkt;
        i
    }

    /// The source's next arrival, decoded into a slot of the slab: its time and slot.
    /// Always inlined: its result, returned through memory, stalled the event loop on
    /// store forwarding.
    #[inline(always)]
    pub(super) fn pull<S: Source + ?Sized>(
        &mut self,
        src: &mut S,
    ) -> Result<Option<(SimTime, u32)>, SourceError> {
        let slot = self.slot();
        match src.next_into(&mut self.pkts[slot as usize]) {
            Ok(Some(at)) => {
                // its side is asked for when it arrives, after the work before it
                self.splitter.prefetch(&self.pkts[slot as usize]);
                // While new tuples flood in, its conntrack lines too: a packet lost on
                // arrival is looked up there at once (`Datapath::replay_lost`), and in a
                // flood that is a miss in a large table.
                // And, for a source the split is about to count as a new LAN host, its
                // host route's.
                if self.splitter.prefetching() {
                    self.dp.conntrack().prefetch(&self.pkts[slot as usize]);
                    self.dp.prefetch_lan_host(&self.pkts[slot as usize]);
                }
                Ok(Some((at, slot)))
            }
            r => {
                self.pkts_free.push(slot);
                r.map(|_| None)
            }
        }
    }

    /// A frame is in at `rx_done`: the NIC forwards it in hardware, drops it, or hands it
    /// to a core's RX ring.
    pub(super) fn received(&mut self, rx_done: SimTime, w: RxWait, side: Side) {
        let counted = self.counted(w.at);
        let no_room_before = self.nic.table().stats.unbound_create_failed;
        // A LAN-side capture's WAN-side packet as the WAN peer sends it (NAT) is what the
        // NIC looks up; the datapath takes the captured packet the same way. The engine
        // keeps the captured one (in its slot): it keys the connection's causality across
        // cores. A NIC without offload reads no packet (`Nic::classify`): no view is made.
        let wan = side == Side::Wan
            && self.nic.offloads()
            && self
                .dp
                .wan_view_into(w.at, &self.pkts[w.pkt as usize], &mut self.wan_pkt);
        // The packet on the wire, borrowed field by field beside the parts it is given to.
        macro_rules! on_wire {
            () => {
                if wan {
                    &self.wan_pkt
                } else {
                    &self.pkts[w.pkt as usize]
                }
            };
        }
        let verdict = self.nic.classify(rx_done, on_wire!());
        let bind = match verdict {
            Verdict::Hardware { depart, out_iface } => {
                if self.link_down_drop(w.at, side_of(out_iface), 1) {
                    self.lost_slot(w.at, w.pkt);
                    self.schedule_nic();
                    return;
                }
                // A packet the NIC forwards in hardware to a port its host has left.
                if self.timeline.checks_stale_ports() && self.dp.hw_misdirected(on_wire!()) {
                    self.pkts_free.push(w.pkt);
                    self.drop_pkt(w.at, DropKind::Dp(DropCause::StalePort), 1);
                    self.schedule_nic();
                    return;
                }
                self.egress_bypassed(side_of(out_iface) as usize);
                if counted {
                    let wire = u64::from(self.pkts[w.pkt as usize].wire_len);
                    self.deliver(Path::Hw, w.at, depart, wire, 1);
                }
                if let Some(c) = &mut self.closed {
                    c.departed(depart, w.at, &self.pkts[w.pkt as usize]);
                }
                self.dp.note_hw_packet(on_wire!(), w.at);
                self.pkts_free.push(w.pkt);
                self.schedule_nic();
                return;
            }
            Verdict::Dropped { reason, out_iface } => {
                if counted && reason == NicDrop::EgressOverflow {
                    self.m.egress_drops[side_of(out_iface) as usize] += 1;
                }
                self.drop_pkt(w.at, DropKind::Nic(reason), 1);
                self.lost_slot(w.at, w.pkt);
                return;
            }
            Verdict::Cpu { reason, bind_check } => {
                // Lazy binding: a listed flow whose bucket has no room for an unbound entry
                // stays in software (the driver never learns); one below the rate waits.
                let full = self.nic.table().stats.unbound_create_failed > no_room_before;
                if full || reason == PuntReason::Unbound {
                    // A copy: `lazy_in_software` takes the whole engine (rare: lazy binding).
                    let pkt = *on_wire!();
                    self.lazy_in_software(
                        &pkt,
                        if full {
                            "bucket_full"
                        } else {
                            "below_bind_rate"
                        },
                    );
                }
                bind_check
            }
        };
        self.schedule_nic();
        let q = match self.steer(w.pkt) {
            Ok(q) => q,
            Err(full) => {
                if counted {
                    self.m.ring_drops[full] += 1;
                }
                self.drop_pkt(w.at, DropKind::RxRingFull, 1);
                self.lost_slot(w.at, w.pkt);
                return;
            }
        };
        let core = &mut self.cores[q];
        core.ring.push_back(Pending {
            at: w.at,
            rx_done,
            pkt: w.pkt,
            side,
            bind,
        });
        if !core.running {
            core.running = true;
            // The interrupt (after coalescing) wakes the idle core.
            let start = rx_done.max(core.busy_until) + SimDuration(self.cpu.irq_delay_ns);
            core.streak_start = start;
            self.push(start, Ev::CoreFree(q as u16));
        }
    }

    /// The core a packet goes to, or `Err(core)` when that core's RX ring is full: RSS, except that
    /// while packets of the same connection wait for or are in service on a core, later
    /// ones follow them there. A replayed trace does not wait for the router: with paced or
    /// compressed timing a reply can arrive while its request still waits on another core,
    /// which real traffic cannot do (the reply exists only once the request was forwarded);
    /// processing it first would break conntrack's view of the connection. Counts the
    /// packet against its connection (one hash lookup); [`Engine::core_free`] uncounts it.
    #[inline]
    fn steer(&mut self, slot: u32) -> Result<usize, usize> {
        let ring = self.cpu.rx_ring as usize;
        let room = |cores: &[Core], q: usize| {
            if cores[q].ring.len() < ring {
                Ok(q)
            } else {
                Err(q)
            }
        };
        if self.cores.len() == 1 {
            return room(&self.cores, 0);
        }
        let pkt = &self.pkts[slot as usize];
        let rss = self.rss.queue(pkt) as usize % self.cores.len();
        let key = if self.multi_queue {
            pkt.flow_key().map(|k| k.canonical())
        } else {
            None
        };
        let Some(k) = key else {
            return room(&self.cores, rss);
        };
        match self.in_cpu.get_mut(&k) {
            Some(e) => {
                let q = e.0 as usize;
                if self.cores[q].ring.len() >= ring {
                    return Err(q);
                }
                e.1 += 1;
                Ok(q)
            }
            None => {
                let q = room(&self.cores, rss)?;
                self.in_cpu.insert(&k, (rss as u16, 1));
                Ok(q)
            }
        }
    }
}
