//! What a scenario's timeline events do to the kernel's state, and what they cost the
//! connections they touch afterwards.
//!
//! Each event takes flows out of the flowtables the way the kernel does
//! (`nf_flow_table_iterate` with a cleanup callback, then `flow_offload_teardown`), tags
//! their conntrack entries with the event ([`crate::conntrack::Conn::event`]), and the
//! datapath counts on the tag what those connections cost until they are offloaded again:
//! their slow-path packets, the re-adds to the flowtable and to hardware, and packets lost at
//! a port their host has left.

use offsim_traces::meta::PacketMeta;
use offsim_traces::time::SimTime;

use super::{Datapath, LAN_IFINDEX};
use crate::conntrack::{Conntrack, CtId};
use crate::flowtable::{Flow, FtKey, HwState, TeardownCause};
use offsim_nft::Ruleset;

/// What one event did, and what its connections cost afterwards.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EventCounters {
    /// Flowtable entries the event tore down (`host-move` without the fdb teardown: left
    /// pointing at the old port).
    pub flows: u64,
    /// Of those, entries in hardware at the time.
    pub hw_flows: u64,
    /// Conntrack entries deleted.
    pub conntrack: u64,
    /// Slow-path packets of those connections after the event.
    pub slow_packets: u64,
    /// Of those connections, re-added to a flowtable.
    pub readded: u64,
    /// Re-added to hardware (the NIC accepted them).
    pub hw_readded: u64,
    /// The last re-add (software or hardware).
    pub last_readd: Option<SimTime>,
    /// Packets sent to the port their host had left (lost there).
    pub misdirected: u64,
    /// A policy change: the rules changed under flows already offloaded, which skip them.
    pub policy_change: bool,
    /// Packets of those flows forwarded by the flowtable or the NIC after the change: they
    /// kept the verdict of the rules before it.
    pub old_verdict: u64,
    /// Their bytes.
    pub old_verdict_bytes: u64,
    /// The last of them.
    pub last_old_verdict: Option<SimTime>,
}

/// The tag of event `e` (index + 1; 0 is "none").
fn tag(e: usize) -> u16 {
    u16::try_from(e + 1).unwrap_or(u16::MAX)
}

/// Tags a torn-down flow's connection with event `e` and counts it.
fn tag_flow(f: &Flow, ct: &mut Conntrack, e: usize, c: &mut EventCounters) {
    c.flows += 1;
    if f.hw == HwState::Offloaded {
        c.hw_flows += 1;
    }
    if ct.is_live(f.ct) {
        ct.get_mut(f.ct).event = tag(e);
    }
}

impl Datapath {
    /// Starts the record of a new event; returns its index.
    fn begin_event(&mut self) -> usize {
        self.stats.events.push(EventCounters::default());
        self.stats.events.len() - 1
    }

    /// Tears down, for `cause`, every flow `pick` chooses in every flowtable, counting each
    /// on event `e` and tagging its connection.
    fn tear_down(
        &mut self,
        now: SimTime,
        e: usize,
        cause: TeardownCause,
        pick: impl Fn(&Flow) -> bool,
    ) {
        let c = &mut self.stats.events[e];
        for s in &mut self.fts {
            s.ft.teardown_where(now, &mut self.ct, cause, &pick, |f, ct| {
                tag_flow(f, ct, e, c)
            });
        }
    }

    /// Tears every flowtable entry down: a `flowtable-flush`, or with `reload` a ruleset
    /// reload, which also re-creates the rules' state (`nft -f` of a `flush ruleset` file
    /// such as fw4's: counters, quotas, limits and dynamic set elements start afresh).
    pub fn flush_flowtables(
        &mut self,
        now: SimTime,
        reload: bool,
        rules: Option<Ruleset>,
    ) -> usize {
        let e = self.begin_event();
        self.tear_down(now, e, TeardownCause::Flush, |_| true);
        match rules {
            Some(rs) => self.replace_rules(rs),
            None if reload => self.rstate = offsim_nft::RuleState::new(&self.rs, self.cfg.seed),
            None => {}
        }
        self.reap();
        e
    }

    /// New rules without touching the flowtables (`nft -f` of an incremental change, `nft
    /// add rule`): flows already offloaded skip the forward chain, so they keep the verdict
    /// of the rules before the change until they leave the flowtable (tagged with the
    /// event, their later fast-path packets are counted).
    pub fn policy_change(&mut self, rs: Ruleset) -> usize {
        let e = self.begin_event();
        self.replace_rules(rs);
        let c = &mut self.stats.events[e];
        c.policy_change = true;
        for s in &mut self.fts {
            let ct = &mut self.ct;
            s.ft.for_each_live(|f| tag_flow(f, ct, e, c));
        }
        e
    }

    /// A packet of flow `ct` was forwarded by a flowtable or the NIC at `now`: counted on a
    /// policy change whose rules it skipped.
    #[inline]
    pub(super) fn note_fast_path(&mut self, ct: CtId, bytes: u32, now: SimTime) {
        if self.stats.events.is_empty() {
            return;
        }
        self.note_event(ct, |c| {
            if c.policy_change {
                c.old_verdict += 1;
                c.old_verdict_bytes += u64::from(bytes);
                c.last_old_verdict = Some(now);
            }
        });
    }

    /// `conntrack -F`: every entry deleted. The flowtable GC would tear down each flow whose
    /// entry is dying (`nf_flow_offload_gc_step`: `nf_ct_is_dying`); offsim does it at once
    /// (the GC's next pass is within a second and lookups of a dying entry's flow miss
    /// meanwhile), and the flows forget their entries' handles, which new entries reuse.
    pub fn flush_conntrack(&mut self, now: SimTime) -> usize {
        let e = self.begin_event();
        self.tear_down(now, e, TeardownCause::CtDying, |_| true);
        for s in &mut self.fts {
            s.ft.forget_conntrack();
        }
        self.stats.events[e].conntrack = self.ct.flush();
        self.reap();
        e
    }

    /// A device went down (NETDEV_DOWN → `nf_flow_table_cleanup` → `nf_flow_table_do_cleanup`):
    /// every flow with either direction's input on it is torn down.
    pub fn device_down(&mut self, now: SimTime, ifindex: u32) -> usize {
        let e = self.begin_event();
        self.tear_down(now, e, TeardownCause::Cleanup, |f| {
            f.keys[0].iif == ifindex || f.keys[1].iif == ifindex
        });
        self.reap();
        e
    }

    /// An event that changes nothing in the kernel's state (a link coming back up: flows
    /// come back through the slow path as their packets do); recorded so the report lists it.
    pub fn noop_event(&mut self) -> usize {
        self.begin_event()
    }

    /// LAN host `addr` moved to another port of the LAN bridge. With `fdb_teardown` its
    /// flows are torn down (the pending patches of openwrt/openwrt#25174, on the bridge's
    /// fdb delete); without, they keep the old port (mainline; see
    /// [`crate::flowtable::Flowtable::host_moved`]).
    pub fn host_moved(
        &mut self,
        now: SimTime,
        version: u8,
        addr: u128,
        fdb_teardown: bool,
    ) -> usize {
        let e = self.begin_event();
        let from_host =
            |k: &FtKey| k.iif == LAN_IFINDEX && k.tuple.version == version && k.tuple.src == addr;
        if fdb_teardown {
            self.tear_down(now, e, TeardownCause::Cleanup, |f| {
                from_host(&f.keys[0]) || from_host(&f.keys[1])
            });
        } else {
            let c = &mut self.stats.events[e];
            for s in &mut self.fts {
                let ct = &mut self.ct;
                s.ft.host_moved(LAN_IFINDEX, (version, addr), |f| tag_flow(f, ct, e, c));
            }
        }
        self.reap();
        e
    }

    /// What each event did so far, in the order they happened.
    pub fn event_counters(&self) -> &[EventCounters] {
        &self.stats.events
    }

    /// Whether the NIC, forwarding `m` (on its input device `m.iface`) in hardware, sends it
    /// to a port its host has left: the hardware entry holds the bridge port its flow
    /// resolved (openwrt/openwrt#23123: "the destination interface (DSA port) of a flow
    /// entry is installed into the hardware flow table"). Counts it on the event.
    pub fn hw_misdirected(&mut self, m: &PacketMeta) -> bool {
        let key = FtKey::of_packet(m, m.iface);
        let Some((ft, id, dir)) = self
            .fts
            .iter()
            .enumerate()
            .find_map(|(i, s)| s.ft.entry_of_key(&key).map(|(id, d)| (i, id, d)))
        else {
            return false;
        };
        if !self.fts[ft].ft.misdirects(id, dir) {
            return false;
        }
        if let Some(f) = self.fts[ft].ft.get(id) {
            let ctid = f.ct;
            self.note_event(ctid, |c| c.misdirected += 1);
        }
        true
    }

    /// Counts on the event that tagged connection `id`, if any.
    pub(super) fn note_event(&mut self, id: CtId, f: impl FnOnce(&mut EventCounters)) {
        note_event(&self.ct, &mut self.stats.events, id, f);
    }
}

/// Counts on the event that tagged connection `id`, if any (for the datapath's parts that
/// hold its fields separately).
pub(super) fn note_event(
    ct: &Conntrack,
    events: &mut [EventCounters],
    id: CtId,
    f: impl FnOnce(&mut EventCounters),
) {
    if !ct.is_live(id) {
        return;
    }
    let t = ct.get(id).event;
    if t != 0
        && let Some(c) = events.get_mut(usize::from(t) - 1)
    {
        f(c);
    }
}
