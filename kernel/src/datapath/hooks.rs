//! One packet's walk through the hooks, one method per stage, in the kernel's order:
//! [`Datapath::netdev_ingress`] (`__netif_receive_skb_core` → `nf_hook_ingress`, where
//! `nf_flow_offload_ip_hook` runs), [`Datapath::rcv_and_defrag`] (`ip_rcv_core`, then
//! `nf_defrag` at −400), PREROUTING ([`Datapath::run_stages`]: `nf_conntrack_in` at −200 and
//! the NAT hook at −100 between the base chains), [`Datapath::route`] (`ip_route_input`,
//! then `ip_local_deliver` → INPUT and the router's own answer), [`Datapath::forward`]
//! (`ip_forward`: TTL and MTU), POSTROUTING (`ip_output`) and [`Datapath::confirm`]
//! (`nf_confirm` / `__nf_conntrack_confirm`).
//!
//! A stage returns [`ControlFlow::Break`] when the packet's walk ends there (dropped, held
//! for reassembly, forwarded by the flowtable, delivered locally). The [`Outcome`] is
//! written in one place, the caller's, which the walk borrows: returned through every
//! stage's `?` it was copied at each (160 bytes).

use std::ops::ControlFlow;

use offsim_nft::ast::Hook;
use offsim_nft::{
    CtInfo, CtView, DropReason as NftDrop, EvalCost, Iface, PktCtx, Verdict, eval_chain,
};
use offsim_traces::meta::{PacketMeta, flags};
use offsim_traces::time::SimTime;

use super::host::{DpHost, NoFlowHost};
use super::{
    Datapath, DropCause, Fate, FlowtableMode, Ingress, LAN_IFINDEX, Outcome, Stage, fam,
    hook_index, nat,
};
use crate::conntrack::{CtId, CtInfo as CtInfoK, Dir, InvalidReason, Track, status};
use crate::cost::CostDrivers;
use crate::flowtable::{Encap, FastPath};
use crate::path::Path;
use crate::router::{self, Defrag, Route, RouteDrop};
use crate::sides::Side;

/// The devices of a packet's walk, by the side it arrived on.
#[derive(Clone, Copy)]
struct Devices {
    /// Index of the input side in per-side tables (LAN 0, WAN 1).
    side: usize,
    iif: Iface,
}

/// A walk ended: its outcome is in the [`Outcome`] it borrowed.
pub(super) struct Done;

/// What a packet carries from one hook to the next once it is a whole IP datagram.
pub(super) struct Walk<'a> {
    /// What becomes of it, and the work counted so far.
    pub(super) out: &'a mut Outcome,
    /// The evaluator's view: the packet (TTL decremented once forwarded, NAT applied at the
    /// NAT hooks), hook, devices, conntrack state.
    pub(super) ctx: PktCtx,
    /// Conntrack's verdict, once conntrack ran (or the connection a packet the router
    /// sends was attached to).
    pub(super) track: Option<Track>,
    /// Hooks with base chains entered since `ip_rcv`.
    pub(super) hooks: u16,
    /// Rule evaluation work since `ip_rcv`.
    pub(super) cost: EvalCost,
    /// Address family index (IPv4 0, IPv6 1).
    pub(super) l3: usize,
    /// The largest fragment of a reassembled datagram (`frag_max_size`; 0: not one).
    pub(super) max_frag: u32,
    /// A packet the router sends itself: it answers nothing in turn.
    pub(super) own: bool,
}

/// The side of the router a device is on.
pub(super) fn side_of(ifindex: u32) -> Side {
    if ifindex == LAN_IFINDEX {
        Side::Lan
    } else {
        Side::Wan
    }
}

impl Datapath {
    /// Processes one packet arriving from `side` at `now`. A packet arriving on the WAN side
    /// is first taken as the WAN peer sends it ([`Datapath::wan_view_into`]: a capture taken on
    /// the LAN side shows a masqueraded reply addressed to the client).
    #[inline]
    pub fn process(&mut self, now: SimTime, m: &PacketMeta, side: Side) -> Outcome {
        let mut out = Outcome {
            fate: Fate::Held,
            path: Path::Slow,
            drivers: CostDrivers {
                batch: 1,
                ..CostDrivers::default()
            },
            packets: 1,
            wire_bytes: 0,
            flow: None,
        };
        self.process_into(now, m, side, &mut out);
        out
    }

    /// [`Datapath::process`] into `out` (inlined there, so the outcome is written where
    /// the caller keeps it rather than copied out of this frame).
    fn process_into(&mut self, now: SimTime, m: &PacketMeta, side: Side, out: &mut Outcome) {
        // Copied only where it changes: the packet is a few hundred bytes.
        let view;
        let edit = if side == Side::Wan {
            super::nat::wan_edit(&self.ct, now, m)
        } else {
            None
        };
        let wire = match edit {
            Some(e) => {
                let mut v = *m;
                e.apply(&mut v);
                view = v;
                self.stats.wan_rewritten += 1;
                &view
            }
            None => m,
        };
        out.wire_bytes = u64::from(wire.wire_len);
        let _ = self.walk(now, wire, side, out);
    }

    /// The walk of [`Datapath::process`], its outcome written to `out`.
    fn walk(
        &mut self,
        now: SimTime,
        m: &PacketMeta,
        side: Side,
        out: &mut Outcome,
    ) -> ControlFlow<Done> {
        self.first_refusal = None;
        self.reject = None;
        let dev = match side {
            Side::Lan => Devices {
                side: 0,
                iif: self.lan,
            },
            Side::Wan => Devices {
                side: 1,
                iif: self.wan,
            },
        };
        if m.is_ip() {
            self.dev_encap[dev.side] = Encap::of_packet(m);
        }
        self.netdev_ingress(now, m, &dev, out)?;
        // The walk's own copy of the packet, built in place (the evaluator and NAT change
        // it); reassembly replaces it with the whole datagram.
        let mut w = Walk {
            out,
            ctx: PktCtx::new(*m, Hook::Prerouting, now),
            track: None,
            hooks: 0,
            cost: EvalCost::default(),
            l3: fam(m.ip_version),
            max_frag: 0,
            own: false,
        };
        w.ctx.iif = Some(dev.iif);
        self.rcv_and_defrag(&mut w)?;
        self.run_stages(now, &mut w, Hook::Prerouting)?;
        let oif = self.route(now, &mut w, dev.iif.index)?;
        let frags = self.forward(now, &mut w, oif)?;
        // Encapsulation on the way out: `vlan_dev_hard_start_xmit`, `ppp_start_xmit` →
        // `pppoe_xmit`, with the output device's own.
        let out_dev = match side_of(oif) {
            Side::Lan => 0,
            Side::Wan => 1,
        };
        (w.out.drivers.vlan_push, w.out.drivers.pppoe_push) = self.dev_encap[out_dev].layers();
        w.ctx.hook = Hook::Postrouting;
        w.ctx.iif = None;
        self.run_stages(now, &mut w, Hook::Postrouting)?;
        w.out.drivers.add_eval(&w.cost, w.hooks);
        // past the last hook: `ip_finish_output`, neighbour and transmit run
        w.out.drivers.forwarded = true;
        self.confirm(&mut w, Fate::Forwarded(side_of(oif)), now);
        if frags > 1 && matches!(w.out.fate, Fate::Forwarded(_)) {
            w.out.drivers.frags_out = frags.min(u32::from(u16::MAX)) as u16;
            self.stats.fragmented += 1;
            self.stats.fragments_out += u64::from(frags);
        }
        ControlFlow::Continue(())
    }

    /// netdev ingress on the input device: netdev chains and flowtables in priority order.
    /// A flowtable hit forwards the packet in software and ends its walk.
    fn netdev_ingress(
        &mut self,
        now: SimTime,
        m: &PacketMeta,
        dev: &Devices,
        out: &mut Outcome,
    ) -> ControlFlow<Done> {
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
                            return ControlFlow::Break(Done);
                        }
                    }
                    Ingress::Flowtable(i) => {
                        if !m.is_ip() {
                            continue;
                        }
                        out.drivers.ft_lookup = true;
                        match self.flowtable_lookup(i, now, m, dev.iif.index) {
                            FastPath::Hit {
                                flow,
                                dir,
                                misdirected,
                                ..
                            } => {
                                add_netdev_eval(&mut out.drivers, &cost);
                                out.drivers.ft_hit = true;
                                out.path = Path::SwFast;
                                let (oif, ctid) = self
                                    .flowtable(i)
                                    .and_then(|f| f.get(flow))
                                    .map_or((dev.iif.index, None), |f| {
                                        (f.routes[dir as usize].oif, Some(f.ct))
                                    });
                                out.fate = Fate::Forwarded(side_of(oif));
                                if let Some(id) = ctid {
                                    self.note_fast_path(id, m.wire_len, now);
                                    if misdirected {
                                        // `neigh_xmit`/`dev_queue_xmit` to the old bridge port
                                        self.note_event(id, |c| c.misdirected += 1);
                                        out.fate = Fate::Dropped(DropCause::StalePort);
                                    }
                                }
                                out.flow = Some((i, flow));
                                let rec = self.flow_record(i, flow);
                                self.flows.packet(rec, Path::SwFast, m.wire_len, now);
                                return ControlFlow::Break(Done);
                            }
                            FastPath::Bail(b) => self.stats.bails[b as usize] += 1,
                            FastPath::NoHook | FastPath::Miss | FastPath::HitSlow { .. } => {}
                        }
                    }
                }
            }
        }
        // the hook itself is `netdev_ingress`; its chains and rules count like any others
        add_netdev_eval(&mut out.drivers, &cost);
        ControlFlow::Continue(())
    }

    /// `ip_rcv` checks, then reassembly: a fragment is held until its datagram completes,
    /// and the complete datagram walks on in its place (with its largest fragment's size,
    /// `w.max_frag`).
    fn rcv_and_defrag(&mut self, w: &mut Walk) -> ControlFlow<Done> {
        let (m, out) = (&w.ctx.pkt, &mut w.out);
        out.drivers.slow = true;
        // Decapsulation on the slow path: `vlan_do_receive`, `pppoe_rcv` → `ppp_input`.
        (out.drivers.vlan_pull, out.drivers.pppoe_pull) = Encap::of_packet(m).layers();
        if let Err(d) = router::rcv_check(m) {
            out.fate = Fate::Dropped(DropCause::Rcv(d));
            return ControlFlow::Break(Done);
        }
        match self.defrag.push(m) {
            Defrag::Whole => ControlFlow::Continue(()),
            Defrag::Held => {
                out.drivers.frags = 1;
                out.fate = Fate::Held;
                ControlFlow::Break(Done)
            }
            Defrag::Complete {
                packet,
                fragments,
                wire_bytes,
                max_frag,
            } => {
                out.drivers.frags = 1;
                out.packets = fragments;
                out.wire_bytes = u64::from(wire_bytes);
                let iif = w.ctx.iif;
                w.ctx = PktCtx::new(packet, Hook::Prerouting, w.ctx.now);
                w.ctx.iif = iif;
                w.l3 = fam(packet.ip_version);
                w.max_frag = max_frag;
                ControlFlow::Continue(())
            }
        }
    }

    /// The stages of an inet hook in priority order: base chains (`accept` ends only the
    /// current chain, a drop ends the walk), `nat` chains for a connection's first packet,
    /// the NAT hook's rewrite, and at PREROUTING/OUTPUT conntrack.
    pub(super) fn run_stages(
        &mut self,
        now: SimTime,
        w: &mut Walk,
        hook: Hook,
    ) -> ControlFlow<Done> {
        let mt = match hook {
            Hook::Prerouting | Hook::Output => nat::DST,
            Hook::Postrouting | Hook::Input => nat::SRC,
            _ => NO_NAT,
        };
        let h = hook_index(hook);
        if self.chains.has_chains(h, w.l3) {
            w.hooks += 1;
        }
        let (first, n) = self.chains.span(h, w.l3);
        for k in first..first + n {
            match self.chains.stage(k) {
                Stage::Chain(c) => self.run_chain(now, w, c, hook, NO_NAT)?,
                Stage::Nat(c) => {
                    if self.nat_wanted(w, mt) {
                        self.run_chain(now, w, c, hook, mt)?;
                    }
                }
                Stage::Conntrack => self.conntrack_in(now, w)?,
                Stage::NatPacket => {
                    // the NAT core's hook entry (`nf_nat_inet_fn`) runs for every tracked
                    // packet; it evaluates `nat` chains only for a connection whose NAT is
                    // not set up yet
                    if matches!(w.track, Some(Track::Tracked { .. })) {
                        w.out.drivers.nat_hooks = w.out.drivers.nat_hooks.saturating_add(1);
                    }
                    self.nat_packet(w, mt)
                }
            }
        }
        ControlFlow::Continue(())
    }

    /// One base chain. A `reject` sends its answer before the packet is dropped.
    fn run_chain(
        &mut self,
        now: SimTime,
        w: &mut Walk,
        chain: u32,
        hook: Hook,
        nat_mt: usize,
    ) -> ControlFlow<Done> {
        let v = self.eval(chain, w, nat_mt);
        let Some(f) = verdict_fate(v, hook) else {
            return ControlFlow::Continue(());
        };
        if let Some((pkt, r, at)) = self.reject.take()
            && !w.own
        {
            self.send_reject(now, w, &pkt, r, at);
        }
        ControlFlow::Break(self.dropped(w, f))
    }

    /// `nf_conntrack_in`: tracks the packet (unless a rule made it untracked, or it is a
    /// packet the router sends attached to a connection) and gives the evaluator its
    /// conntrack view. A full table drops a new connection.
    fn conntrack_in(&mut self, now: SimTime, w: &mut Walk) -> ControlFlow<Done> {
        if w.track.is_some() {
            return ControlFlow::Continue(());
        }
        let t = if w.ctx.ct == CtView::Untracked {
            Track::Untracked
        } else {
            self.ct.track(now, &w.ctx.pkt)
        };
        self.note_ct(&t, &mut w.out.drivers, &mut w.ctx);
        if let Track::Invalid(InvalidReason::TableFull) = t {
            w.out.fate = Fate::Dropped(DropCause::CtTableFull);
            w.out.drivers.add_eval(&w.cost, w.hooks);
            return ControlFlow::Break(Done);
        }
        w.track = Some(t);
        ControlFlow::Continue(())
    }

    /// The NAT hook after its `nat` chains (`nf_nat_inet_fn`): a connection's first packet
    /// that no `nat` chain bound gets a null binding (`nf_nat_alloc_null_binding`), then
    /// the packet is rewritten (`nf_nat_packet`; ICMP errors by
    /// `nf_nat_icmp_reply_translation`, without the chains).
    fn nat_packet(&mut self, w: &mut Walk, mt: usize) {
        let Some(Track::Tracked { id, info, .. }) = w.track else {
            return;
        };
        if !self.ct.is_live(id) {
            return;
        }
        if self.nat_wanted(w, mt) {
            let c = self.ct.get_mut(id);
            c.nat_done[mt] = true;
            c.status |= if mt == nat::SRC {
                status::SRC_NAT_DONE
            } else {
                status::DST_NAT_DONE
            };
        }
        let tuple = |p: &PacketMeta| (p.src, p.dst, p.sport, p.dport);
        let before = tuple(&w.ctx.pkt);
        nat::manip_packet(&self.ct, id, info, mt, &mut w.ctx.pkt);
        if before != tuple(&w.ctx.pkt) {
            w.out.drivers.nat_mangle = true;
        }
        self.refresh_ct_view(w);
    }

    /// The evaluator's conntrack view after the entry changed (NAT status bits).
    fn refresh_ct_view(&self, w: &mut Walk) {
        if let (Some(Track::Tracked { id, .. }), CtView::Tracked(i)) = (w.track, &mut w.ctx.ct)
            && self.ct.is_live(id)
        {
            super::refresh_view(self.rs.reads_ct_tuples(), self.ct.get(id), i);
        }
    }

    /// Routing: forward out of a device (the walk goes on with its index), local delivery
    /// (INPUT, confirmation and the router's answer, then the walk ends), or drop (with an
    /// ICMP time exceeded for an expired TTL, `ip_forward`).
    fn route(&mut self, now: SimTime, w: &mut Walk, iif: u32) -> ControlFlow<Done, u32> {
        w.out.drivers.routed = true;
        match router::route(&w.ctx.pkt, &self.cfg.fib, iif) {
            Route::Forward { oif } => ControlFlow::Continue(oif),
            Route::LocalIn { unicast } => {
                self.input(now, w)?;
                let pkt = w.ctx.pkt;
                self.confirm(w, Fate::Local, now);
                if w.out.fate == Fate::Local
                    && let Some((answer, kind, via)) = self.stack_answer(&pkt, unicast, iif)
                {
                    // ICMP errors are attached to the packet's connection.
                    let attach = if answer.has(flags::ICMP_ERROR) {
                        self.attach(w)
                    } else {
                        None
                    };
                    self.send_own(now, w, (answer, kind), attach, via);
                }
                ControlFlow::Break(Done)
            }
            Route::Drop(r) => {
                if r == RouteDrop::TtlExpired {
                    let ty = if w.ctx.pkt.ip_version == 4 { 11 } else { 3 };
                    self.send_icmp_error(now, w, ty, 0, 0, iif);
                }
                ControlFlow::Break(self.dropped(w, Fate::Dropped(DropCause::Route(r))))
            }
        }
    }

    /// INPUT (SNAT-type `nat` chains for a connection's first packet at +100).
    fn input(&mut self, now: SimTime, w: &mut Walk) -> ControlFlow<Done> {
        w.ctx.hook = Hook::Input;
        self.run_stages(now, w, Hook::Input)?;
        w.out.drivers.add_eval(&w.cost, w.hooks);
        ControlFlow::Continue(())
    }

    /// `ip_forward` / `ip6_forward` up to FORWARD, then FORWARD, where `flow add @ft`
    /// creates flowtable entries. A packet over the output device's MTU is refused before
    /// FORWARD (IPv4 with DF: ICMP fragmentation needed; IPv6: packet too big, unless it is
    /// a reassembled datagram whose fragments fit, `ip6_pkt_too_big`); IPv4 without DF is
    /// fragmented on output. The TTL is decremented before the hook. Returns the number of
    /// packets it leaves as (fragments).
    fn forward(&mut self, now: SimTime, w: &mut Walk, oif: u32) -> ControlFlow<Done, u32> {
        let mtu = self.cfg.fib.mtu(oif);
        // What the MTU check reads (the packet itself is not copied).
        let (ip_len, hdr, version, df) = {
            let p = &w.ctx.pkt;
            let df = p.has(flags::DONT_FRAGMENT);
            (p.ip_len, u32::from(p.ip_hdr_len), p.ip_version, df)
        };
        let mut frags = 1;
        if ip_len > mtu {
            if version == 4 {
                if df {
                    // ip_exceeds_mtu → icmp_send(ICMP_FRAG_NEEDED, mtu)
                    self.send_icmp_error(now, w, 3, 4, mtu, w.ctx.iif.map_or(0, |i| i.index));
                    return ControlFlow::Break(
                        self.dropped(w, Fate::Dropped(DropCause::FragNeeded)),
                    );
                }
                // ip_fragment: 8-byte aligned pieces of the payload.
                let per = (mtu.saturating_sub(hdr) & !7).max(8);
                frags = (ip_len - hdr).div_ceil(per);
            } else {
                if w.max_frag == 0 || w.max_frag > mtu {
                    // ip6_forward → icmpv6_send(ICMPV6_PKT_TOOBIG, mtu)
                    self.send_icmp_error(now, w, 2, 0, mtu, w.ctx.iif.map_or(0, |i| i.index));
                    return ControlFlow::Break(
                        self.dropped(w, Fate::Dropped(DropCause::PacketTooBig)),
                    );
                }
                // ip6_fragment: a fragment header (8 bytes) in each piece.
                let per = (mtu.saturating_sub(hdr + 8) & !7).max(8);
                frags = (ip_len - hdr).div_ceil(per);
            }
        }
        w.ctx.pkt.ttl = w.ctx.pkt.ttl.saturating_sub(1);
        w.ctx.oif = Some(if oif == LAN_IFINDEX {
            self.lan
        } else {
            self.wan
        });
        w.ctx.hook = Hook::Forward;
        self.run_stages(now, w, Hook::Forward)?;
        ControlFlow::Continue(frags)
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

    pub(super) fn ct_info(&self, id: CtId, info: CtInfoK) -> CtInfo {
        let c = self.ct.get(id);
        let mut i = CtInfo {
            state: info.state_bit(),
            direction: info.dir() as u8,
            mark: c.mark,
            l3proto: if c.orig().version == 6 { 10 } else { 2 },
            protocol: c.orig().proto,
            // `ct helper` reads the helper of the connection's master (`nft_ct_get_eval`):
            // only expected connections have one, and offsim models no expectations.
            helper: 0,
            ..CtInfo::default()
        };
        super::refresh_view(self.rs.reads_ct_tuples(), c, &mut i);
        i
    }

    /// Whether the NAT hook of manipulation `mt` runs its `nat` chains for this packet
    /// (`nf_nat_inet_fn`): a connection's first packet (or a packet RELATED to it that is
    /// not an ICMP error, e.g. a reset the router sends) whose connection has no binding for
    /// `mt` yet (`nf_nat_initialized`).
    fn nat_wanted(&self, w: &Walk, mt: usize) -> bool {
        match w.track {
            Some(Track::Tracked { id, info, .. }) => {
                let first = match info {
                    CtInfoK::New => true,
                    CtInfoK::Related | CtInfoK::RelatedReply => !w.ctx.pkt.has(flags::ICMP_ERROR),
                    _ => false,
                };
                first && mt < 2 && self.ct.is_live(id) && !self.ct.get(id).nat_done[mt]
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
            fib: &self.cfg.fib,
            nat_mt,
            nat_setup: false,
            nat_lookups: 0,
            first_refusal: &mut self.first_refusal,
            ct_policies: &self.ct_policies,
            dev_encap: self.dev_encap,
            ct_helpers: &self.ct_helpers,
            reject: &mut self.reject,
            ct_tuples: self.rs.reads_ct_tuples(),
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
            w.out.drivers.nat_lookups = w.out.drivers.nat_lookups.saturating_add(host.nat_lookups);
        }
        // `ct mark set` writes through to the entry.
        if let (Some(id), CtView::Tracked(i)) = (ctid, &w.ctx.ct)
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
    fn dropped(&mut self, w: &mut Walk, fate: Fate) -> Done {
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
        Done
    }

    /// Conntrack confirmation (`__nf_conntrack_confirm`): a new connection's entry is
    /// inserted (a clash drops the packet) and its flow record opened; the packet is counted
    /// on its connection's record.
    fn confirm(&mut self, w: &mut Walk, fate: Fate, now: SimTime) {
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
                return;
            }
            if let Track::Tracked { id, .. } = *t
                && self.ct.is_live(id)
            {
                let mut rec = self.ct.get(id).rec;
                if new && rec == u32::MAX {
                    rec = self.flows.open(now);
                    self.ct.get_mut(id).rec = rec;
                    if let (Some(why), Some(r)) =
                        (self.first_refusal.take(), self.flows.get_mut(rec))
                    {
                        r.flow_add_seen = true;
                        self.flows.set_refused(rec, why);
                    }
                }
                self.flows.packet(rec, Path::Slow, w.ctx.pkt.wire_len, now);
                self.note_event(id, |c| c.slow_packets += 1);
            }
        }
        w.out.fate = fate;
        self.reap();
        if self.ct_gc_budget > 0 {
            self.ct.gc(now, 8);
        }
    }
}

/// Adds the netdev chains' work `cost` (no hook: `netdev_ingress` is priced on its own). A
/// packet no netdev chain saw has none: every count of `cost` is 0, as `eval_chain` is
/// what counts them, and the call is skipped.
#[inline]
fn add_netdev_eval(d: &mut CostDrivers, cost: &EvalCost) {
    if cost.base_chains > 0 {
        d.add_eval(cost, 0);
    }
}

/// `nat_mt` of hooks without `nat` chains (FORWARD).
const NO_NAT: usize = 2;

fn verdict_fate(v: Verdict, hook: Hook) -> Option<Fate> {
    match v {
        Verdict::Accept => None,
        Verdict::Drop(r) => Some(Fate::Dropped(DropCause::Ruleset(hook, r))),
        Verdict::Queue(_) => Some(Fate::Dropped(DropCause::Queue)),
        // `fwd to DEV` (netdev): stolen and sent out of DEV (`nf_fwd_netdev_egress`); a
        // device outside the router's two ports takes it away from them.
        Verdict::Fwd(super::LAN_IFINDEX) => Some(Fate::Forwarded(Side::Lan)),
        Verdict::Fwd(super::WAN_IFINDEX) => Some(Fate::Forwarded(Side::Wan)),
        Verdict::Fwd(_) => Some(Fate::Dropped(DropCause::Ruleset(hook, NftDrop::Rule))),
    }
}
