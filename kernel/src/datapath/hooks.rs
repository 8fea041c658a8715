//! One packet's walk through the hooks, one method per stage, in the kernel's order:
//! [`Datapath::netdev_ingress`] (`__netif_receive_skb_core` → `nf_hook_ingress`, where
//! `nf_flow_offload_ip_hook` runs), [`Datapath::rcv_and_defrag`] (`ip_rcv_core`, then
//! `nf_defrag` at −400), [`Datapath::prerouting`] (`nf_conntrack_in` at −200 between the
//! base chains), [`Datapath::route`] (`ip_route_input`, then `ip_local_deliver` →
//! [`Datapath::input`]), [`Datapath::forward`] (`ip_forward`), [`Datapath::postrouting`]
//! (`ip_output`) and [`Datapath::confirm`] (`nf_confirm` / `__nf_conntrack_confirm`).
//!
//! A stage returns [`ControlFlow::Break`] with the packet's [`Outcome`] when its walk ends
//! there (dropped, held for reassembly, forwarded by the flowtable, delivered locally).

use std::ops::{ControlFlow, Range};

use offsim_nft::ast::Hook;
use offsim_nft::{CtInfo, CtView, EvalCost, Iface, PktCtx, Verdict, eval_chain};
use offsim_traces::meta::PacketMeta;
use offsim_traces::time::SimTime;

use super::host::{DpHost, NoFlowHost};
use super::{Datapath, DropCause, Fate, FlowtableMode, Ingress, Outcome, REDIRECTED, fam};
use crate::conntrack::{CtId, CtInfo as CtInfoK, Dir, InvalidReason, Track};
use crate::cost::CostDrivers;
use crate::flowtable::FastPath;
use crate::path::Path;
use crate::router::{self, Defrag, Route};
use crate::sides::Side;

/// The devices of a packet's walk, by the side it arrived on.
#[derive(Clone, Copy)]
struct Devices {
    /// Index of the input side in per-side tables (LAN 0, WAN 1).
    side: usize,
    iif: Iface,
    oif: Iface,
    /// The side a forwarded packet leaves on.
    out_side: Side,
}

/// What a packet carries from one hook to the next once it is a whole IP datagram.
struct Walk {
    /// What becomes of it, and the work counted so far.
    out: Outcome,
    /// The evaluator's view: the packet (TTL decremented once forwarded), hook, devices,
    /// conntrack state.
    ctx: PktCtx,
    /// Conntrack's verdict, once conntrack ran.
    track: Option<Track>,
    /// Hooks with base chains entered since `ip_rcv`.
    hooks: u16,
    /// Rule evaluation work since `ip_rcv`.
    cost: EvalCost,
    /// Address family index (IPv4 0, IPv6 1).
    l3: usize,
}

impl Walk {
    /// A hook with `chains` base chains is entered (`nf_hook_slow` runs only for hooks that
    /// have some).
    fn enter_hook(&mut self, chains: usize) {
        if chains > 0 {
            self.hooks += 1;
        }
    }
}

impl Datapath {
    /// Processes one packet arriving from `side` at `now`.
    pub fn process(&mut self, now: SimTime, m: &PacketMeta, side: Side) -> Outcome {
        match self.walk(now, m, side) {
            ControlFlow::Break(out) | ControlFlow::Continue(out) => out,
        }
    }

    fn walk(&mut self, now: SimTime, m: &PacketMeta, side: Side) -> ControlFlow<Outcome, Outcome> {
        self.first_refusal = None;
        let dev = match side {
            Side::Lan => Devices {
                side: 0,
                iif: self.lan,
                oif: self.wan,
                out_side: Side::Wan,
            },
            Side::Wan => Devices {
                side: 1,
                iif: self.wan,
                oif: self.lan,
                out_side: Side::Lan,
            },
        };
        let mut out = Outcome {
            fate: Fate::Held,
            path: Path::Slow,
            drivers: CostDrivers {
                batch: 1,
                ..CostDrivers::default()
            },
            packets: 1,
            wire_bytes: u64::from(m.wire_len),
            flow: None,
        };
        self.netdev_ingress(now, m, &dev, &mut out)?;
        let pkt = self.rcv_and_defrag(m, &mut out)?;
        let mut ctx = PktCtx::new(pkt, Hook::Prerouting, now);
        ctx.iif = Some(dev.iif);
        let mut w = Walk {
            out,
            ctx,
            track: None,
            hooks: 0,
            cost: EvalCost::default(),
            l3: fam(pkt.ip_version),
        };
        self.prerouting(now, &mut w)?;
        self.route(now, &mut w)?;
        self.forward(&mut w, dev.oif)?;
        self.postrouting(&mut w)?;
        // past the last hook: `ip_finish_output`, neighbour and transmit run
        w.out.drivers.forwarded = true;
        ControlFlow::Continue(self.confirm(&mut w, Fate::Forwarded(dev.out_side), now))
    }

    /// netdev ingress on the input device: netdev chains and flowtables in priority order.
    /// A flowtable hit forwards the packet in software and ends its walk.
    fn netdev_ingress(
        &mut self,
        now: SimTime,
        m: &PacketMeta,
        dev: &Devices,
        out: &mut Outcome,
    ) -> ControlFlow<Outcome> {
        let n_ingress = self.chains.ingress[dev.side].len();
        let mut cost = EvalCost::default();
        if n_ingress > 0 {
            out.drivers.netdev_ingress = true;
            for k in 0..n_ingress {
                match self.chains.ingress[dev.side][k] {
                    Ingress::Chain(c) => {
                        let mut ctx = PktCtx::new(*m, Hook::Ingress, now);
                        ctx.iif = Some(dev.iif);
                        let mut host = NoFlowHost;
                        let v = eval_chain(
                            &self.rs,
                            &mut self.rstate,
                            c,
                            &mut ctx,
                            &mut host,
                            &mut cost,
                        );
                        if let Some(f) = verdict_fate(v, Hook::Ingress) {
                            out.drivers.add_eval(&cost, 0);
                            out.fate = f;
                            return ControlFlow::Break(*out);
                        }
                    }
                    Ingress::Flowtable(i) => {
                        if !m.is_ip() {
                            continue;
                        }
                        out.drivers.ft_lookup = true;
                        match self.flowtable_lookup(i, now, m, dev.iif.index) {
                            FastPath::Hit { flow, .. } => {
                                out.drivers.add_eval(&cost, 0);
                                out.drivers.ft_hit = true;
                                out.path = Path::SwFast;
                                out.fate = Fate::Forwarded(dev.out_side);
                                out.flow = Some((i, flow));
                                let rec = self.flow_record(i, flow);
                                self.flows.packet(rec, Path::SwFast, m.wire_len, now);
                                return ControlFlow::Break(*out);
                            }
                            FastPath::Bail(b) => self.stats.bails[b as usize] += 1,
                            FastPath::NoHook | FastPath::Miss | FastPath::HitSlow { .. } => {}
                        }
                    }
                }
            }
        }
        // the hook itself is `netdev_ingress`; its chains and rules count like any others
        out.drivers.add_eval(&cost, 0);
        ControlFlow::Continue(())
    }

    /// `ip_rcv` checks, then reassembly: a fragment is held until its datagram completes,
    /// and the complete datagram walks on in its place.
    fn rcv_and_defrag(
        &mut self,
        m: &PacketMeta,
        out: &mut Outcome,
    ) -> ControlFlow<Outcome, PacketMeta> {
        out.drivers.slow = true;
        if let Err(d) = router::rcv_check(m) {
            out.fate = Fate::Dropped(DropCause::Rcv(d));
            return ControlFlow::Break(*out);
        }
        match self.defrag.push(m) {
            Defrag::Whole => ControlFlow::Continue(*m),
            Defrag::Held => {
                out.drivers.frags = 1;
                out.fate = Fate::Held;
                ControlFlow::Break(*out)
            }
            Defrag::Complete {
                packet,
                fragments,
                wire_bytes,
            } => {
                out.drivers.frags = 1;
                out.packets = fragments;
                out.wire_bytes = u64::from(wire_bytes);
                ControlFlow::Continue(packet)
            }
        }
    }

    /// PREROUTING: base chains in priority order with conntrack at −200 between them
    /// (`NF_IP_PRI_CONNTRACK`); `nat` chains only for a connection's first packet (DNAT).
    fn prerouting(&mut self, now: SimTime, w: &mut Walk) -> ControlFlow<Outcome> {
        let n = self.chains.pre[w.l3].len();
        w.enter_hook(n);
        let ct_at = self.chains.pre_prio[w.l3]
            .iter()
            .position(|p| *p >= -200)
            .unwrap_or(n);
        self.run_chains(w, Hook::Prerouting, 0..ct_at, 0)?;
        self.conntrack_in(now, w)?;
        self.run_chains(w, Hook::Prerouting, ct_at..n, 0)?;
        if is_nat_pending(&w.track) {
            self.mark_nat_done(&w.track, 0);
        }
        ControlFlow::Continue(())
    }

    /// `nf_conntrack_in`: tracks the packet (unless a rule made it untracked) and gives the
    /// evaluator its conntrack view. A full table drops a new connection.
    fn conntrack_in(&mut self, now: SimTime, w: &mut Walk) -> ControlFlow<Outcome> {
        let t = if w.ctx.ct == CtView::Untracked {
            Track::Untracked
        } else {
            self.ct.track(now, &w.ctx.pkt)
        };
        self.note_ct(&t, &mut w.out.drivers, &mut w.ctx);
        if let Track::Invalid(InvalidReason::TableFull) = t {
            w.out.fate = Fate::Dropped(DropCause::CtTableFull);
            w.out.drivers.add_eval(&w.cost, w.hooks);
            return ControlFlow::Break(w.out);
        }
        w.track = Some(t);
        ControlFlow::Continue(())
    }

    /// Routing: forward (the walk goes on), local delivery (INPUT, then the walk ends), or
    /// drop. DNAT to the router itself (`redirect`) makes the packet local.
    fn route(&mut self, now: SimTime, w: &mut Walk) -> ControlFlow<Outcome> {
        w.out.drivers.routed = true;
        let route = if self.redirected(&w.track) {
            Route::LocalIn
        } else {
            router::route(&w.ctx.pkt)
        };
        match route {
            Route::Drop(r) => {
                ControlFlow::Break(self.dropped(w, Fate::Dropped(DropCause::Route(r))))
            }
            Route::LocalIn => {
                self.input(w)?;
                ControlFlow::Break(self.confirm(w, Fate::Local, now))
            }
            Route::Forward => ControlFlow::Continue(()),
        }
    }

    /// INPUT, with SNAT-type `nat` chains for a connection's first packet.
    fn input(&mut self, w: &mut Walk) -> ControlFlow<Outcome> {
        w.ctx.hook = Hook::Input;
        let n = self.chains.input[w.l3].len();
        w.enter_hook(n);
        self.run_chains(w, Hook::Input, 0..n, 1)?;
        if is_nat_pending(&w.track) {
            self.mark_nat_done(&w.track, 1);
        }
        w.out.drivers.add_eval(&w.cost, w.hooks);
        ControlFlow::Continue(())
    }

    /// FORWARD, where `flow add @ft` creates flowtable entries. The TTL is decremented
    /// before the hook, as `ip_forward` does.
    fn forward(&mut self, w: &mut Walk, oif: Iface) -> ControlFlow<Outcome> {
        w.ctx.pkt.ttl = w.ctx.pkt.ttl.saturating_sub(1);
        w.ctx.oif = Some(oif);
        w.ctx.hook = Hook::Forward;
        let n = self.chains.fwd[w.l3].len();
        w.enter_hook(n);
        self.run_chains(w, Hook::Forward, 0..n, NO_NAT)
    }

    /// POSTROUTING: the input interface is unset at this hook; SNAT/masquerade for a
    /// connection's first packet.
    fn postrouting(&mut self, w: &mut Walk) -> ControlFlow<Outcome> {
        w.ctx.hook = Hook::Postrouting;
        w.ctx.iif = None;
        let n = self.chains.post[w.l3].len();
        w.enter_hook(n);
        self.run_chains(w, Hook::Postrouting, 0..n, 1)?;
        if is_nat_pending(&w.track) {
            self.mark_nat_done(&w.track, 1);
        }
        if let Some(Track::Tracked { id, .. }) = w.track
            && self.ct.is_live(id)
        {
            let c = self.ct.get(id);
            if c.nat.snat || c.nat.dnat {
                w.out.drivers.nat_mangle = true;
            }
        }
        w.out.drivers.add_eval(&w.cost, w.hooks);
        ControlFlow::Continue(())
    }

    /// Runs the base chains `range` of `hook` (in priority order). `accept` ends only the
    /// current chain; a drop ends the walk. `nat_mt` is the NAT manipulation of the hook's
    /// `nat` chains (0 DNAT, 1 SNAT), which see only a connection's first packet;
    /// [`NO_NAT`] at FORWARD, which has no `nat` chains.
    fn run_chains(
        &mut self,
        w: &mut Walk,
        hook: Hook,
        range: Range<usize>,
        nat_mt: usize,
    ) -> ControlFlow<Outcome> {
        // the NAT core's hook entry (`nf_nat_inet_fn`) runs for every tracked packet at a
        // hook with `nat` chains; it evaluates the chains only for a connection whose NAT is
        // not set up yet
        let has_nat = range.clone().any(|k| match hook {
            Hook::Prerouting => self.chains.pre[w.l3][k].1,
            Hook::Input => self.chains.input[w.l3][k].1,
            Hook::Forward => self.chains.fwd[w.l3][k].1,
            _ => self.chains.post[w.l3][k].1,
        });
        if has_nat && matches!(w.track, Some(Track::Tracked { .. })) {
            w.out.drivers.nat_hooks = w.out.drivers.nat_hooks.saturating_add(1);
        }
        for k in range {
            let (c, is_nat) = match hook {
                Hook::Prerouting => self.chains.pre[w.l3][k],
                Hook::Input => self.chains.input[w.l3][k],
                Hook::Forward => self.chains.fwd[w.l3][k],
                _ => self.chains.post[w.l3][k],
            };
            if is_nat && nat_mt != NO_NAT && !self.nat_wanted(&w.track, nat_mt) {
                continue;
            }
            let v = self.eval(c, w, nat_mt);
            if let Some(f) = verdict_fate(v, hook) {
                return ControlFlow::Break(self.dropped(w, f));
            }
        }
        ControlFlow::Continue(())
    }

    fn note_ct(&mut self, t: &Track, d: &mut CostDrivers, ctx: &mut PktCtx) {
        match *t {
            Track::Tracked {
                id,
                info,
                new_entry,
            } => {
                if new_entry {
                    d.ct_new = true;
                } else {
                    d.ct_lookup = true;
                }
                ctx.ct = CtView::Tracked(self.ct_info(id, info));
            }
            Track::Invalid(_) => {
                d.ct_lookup = true;
                ctx.ct = CtView::None;
            }
            Track::Untracked => ctx.ct = CtView::Untracked,
        }
    }

    fn ct_info(&self, id: CtId, info: CtInfoK) -> CtInfo {
        let c = self.ct.get(id);
        CtInfo {
            state: info.state_bit(),
            status: c.status,
            direction: info.dir() as u8,
            mark: c.mark,
            l3proto: if c.orig.version == 6 { 10 } else { 2 },
            protocol: c.orig.proto,
            tuple: [c.orig, c.reply],
            helper: 0,
        }
    }

    /// Whether NAT chains of manipulation `mt` (0 = DNAT, 1 = SNAT) see this packet.
    fn nat_wanted(&self, t: &Option<Track>, mt: usize) -> bool {
        match t {
            Some(Track::Tracked { id, info, .. }) => {
                matches!(info, CtInfoK::New)
                    && self.ct.is_live(*id)
                    && !self.ct.get(*id).nat_done[mt]
            }
            _ => false,
        }
    }

    fn mark_nat_done(&mut self, t: &Option<Track>, mt: usize) {
        if let Some(Track::Tracked { id, .. }) = t
            && self.ct.is_live(*id)
        {
            self.ct.get_mut(*id).nat_done[mt] = true;
        }
    }

    fn redirected(&self, t: &Option<Track>) -> bool {
        match t {
            Some(Track::Tracked { id, .. }) if self.ct.is_live(*id) => {
                self.ct.get(*id).status & REDIRECTED != 0
            }
            _ => false,
        }
    }

    /// Evaluates one base chain with the datapath as the evaluator's host.
    fn eval(&mut self, chain: u32, w: &mut Walk, nat_mt: usize) -> Verdict {
        let ctid = match w.track {
            Some(Track::Tracked { id, .. }) => Some(id),
            _ => None,
        };
        let dir = match w.ctx.ct {
            CtView::Tracked(i) => {
                if i.direction == 1 {
                    Dir::Reply
                } else {
                    Dir::Original
                }
            }
            _ => Dir::Original,
        };
        let mut host = DpHost {
            ct: &mut self.ct,
            fts: &mut self.fts,
            flows: &mut self.flows,
            stats: &mut self.stats,
            ctid,
            dir,
            gate: self.cfg.gate,
            flowtables_on: self.cfg.flowtables != FlowtableMode::Disabled,
            has_addresses: self.cfg.has_addresses,
            single_sided: self.cfg.single_sided,
            lan: self.lan,
            wan: self.wan,
            lan_hosts: &self.lan_hosts,
            nat_mt,
            nat_setup: false,
            first_refusal: &mut self.first_refusal,
            ct_policies: &self.ct_policies,
        };
        let v = eval_chain(
            &self.rs,
            &mut self.rstate,
            chain,
            &mut w.ctx,
            &mut host,
            &mut w.cost,
        );
        if host.nat_setup {
            w.out.drivers.nat_setup = true;
        }
        // `ct mark set` writes through to the entry.
        if let (Some(id), CtView::Tracked(i)) = (ctid, w.ctx.ct)
            && self.ct.is_live(id)
        {
            self.ct.get_mut(id).mark = i.mark;
        }
        v
    }

    /// A drop ends the walk; the connection's unconfirmed entry dies with the packet, which
    /// then paid for an allocated, never inserted entry (`nf_conntrack_in` →
    /// `init_conntrack`, then `nf_conntrack_destroy` when the skb is freed) rather than a
    /// confirmed one.
    fn dropped(&mut self, w: &mut Walk, fate: Fate) -> Outcome {
        w.out.drivers.add_eval(&w.cost, w.hooks);
        if w.out.drivers.ct_new {
            w.out.drivers.ct_new = false;
            w.out.drivers.ct_unconfirmed = true;
        }
        if let Some(t) = &w.track {
            self.ct.finish(SimTime(0), t, false);
        }
        w.out.fate = fate;
        self.reap();
        w.out
    }

    /// Conntrack confirmation (`__nf_conntrack_confirm`): a new connection's entry is
    /// inserted (a clash drops the packet) and its flow record opened; the packet is counted
    /// on its connection's record.
    fn confirm(&mut self, w: &mut Walk, fate: Fate, now: SimTime) -> Outcome {
        if let Some(t) = &w.track {
            let new = matches!(
                t,
                Track::Tracked {
                    new_entry: true,
                    ..
                }
            );
            if !self.ct.finish(now, t, true) {
                w.out.fate = Fate::Dropped(DropCause::CtClash);
                self.reap();
                return w.out;
            }
            if let Track::Tracked { id, .. } = *t
                && self.ct.is_live(id)
            {
                let mut rec = self.ct.get(id).rec;
                if new && rec == u32::MAX {
                    let key = self.ct.get(id).orig;
                    rec = self.flows.open(key, now);
                    self.ct.get_mut(id).rec = rec;
                    if let (Some(why), Some(r)) =
                        (self.first_refusal.take(), self.flows.get_mut(rec))
                    {
                        r.flow_add_seen = true;
                        r.refused = Some(why);
                    }
                }
                self.flows.packet(rec, Path::Slow, w.ctx.pkt.wire_len, now);
            }
        }
        w.out.fate = fate;
        self.reap();
        if self.ct_gc_budget > 0 {
            self.ct.gc(now, 8);
        }
        w.out
    }
}

/// `nat_mt` of hooks without `nat` chains (FORWARD).
const NO_NAT: usize = 2;

fn is_nat_pending(t: &Option<Track>) -> bool {
    matches!(
        t,
        Some(Track::Tracked {
            info: CtInfoK::New,
            ..
        })
    )
}

fn verdict_fate(v: Verdict, hook: Hook) -> Option<Fate> {
    match v {
        Verdict::Accept => None,
        Verdict::Drop(r) => Some(Fate::Dropped(DropCause::Ruleset(hook, r))),
        Verdict::Queue(_) => Some(Fate::Dropped(DropCause::Queue)),
    }
}
