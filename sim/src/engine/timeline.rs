//! The scenario's timeline events in the engine: each is applied to the datapath at its
//! time (`Datapath::flush_flowtables`, `flush_conntrack`, `device_down`, `host_moved`), and
//! a port that is down neither receives nor sends (the peer's frames are lost on the wire;
//! routes through the device are gone, `fib_sync_down_dev`).

use offsim_kernel::datapath::EventCounters;
use offsim_kernel::sides::Side;
use offsim_traces::time::SimTime;

use super::{DropKind, Engine, Ev, port};
use crate::timeline::{EventKind, TimedEvent};

/// The engine's part of the timeline.
#[derive(Debug, Default)]
pub(super) struct Timeline {
    /// The events, in time order.
    events: Vec<TimedEvent>,
    /// Per port (LAN, WAN): the `link-down` event (index) it is down since.
    down: [Option<usize>; 2],
    /// Per event: packets lost at a port it took down.
    link_lost: Vec<u64>,
    /// Per event: when it happened and its record in the datapath.
    applied: Vec<Option<(SimTime, usize)>>,
    /// A host moved: hardware-forwarded packets are checked for a stale port.
    moved: bool,
    /// The rules each event loads, taken when it happens.
    rulesets: Vec<Option<offsim_nft::Ruleset>>,
}

/// What one event did and cost.
#[derive(Clone, Debug)]
pub struct EventOutcome {
    /// The event.
    pub event: TimedEvent,
    /// When it happened (simulated time).
    pub at: SimTime,
    /// What it did to the kernel's state and cost its connections.
    pub counters: EventCounters,
    /// Packets lost at a port it took down (`link-down`), until it came back up.
    pub link_lost: u64,
}

impl Timeline {
    pub(super) fn new(
        events: Vec<TimedEvent>,
        mut rulesets: Vec<Option<offsim_nft::Ruleset>>,
    ) -> Timeline {
        rulesets.resize_with(events.len(), || None);
        Timeline {
            rulesets,
            link_lost: vec![0; events.len()],
            applied: vec![None; events.len()],
            events,
            ..Timeline::default()
        }
    }

    /// Whether hardware-forwarded packets are checked for a stale port: a host has moved
    /// (a `host-move` without FDB teardown).
    #[inline]
    pub(super) fn checks_stale_ports(&self) -> bool {
        self.moved
    }

    /// Whether `side`'s port is down.
    #[inline]
    pub(super) fn is_down(&self, side: Side) -> bool {
        self.down[side as usize].is_some()
    }

    /// Whether `side`'s port is down; counts the packet lost on the event that took it down.
    #[inline]
    pub(super) fn lose_if_down(&mut self, side: Side) -> bool {
        match self.down[side as usize] {
            Some(e) => {
                self.link_lost[e] += 1;
                true
            }
            None => false,
        }
    }
}

impl Engine {
    /// Puts every event on the heap, relative to the first arrival.
    pub(super) fn schedule_events(&mut self, first: SimTime) {
        for i in 0..self.timeline.events.len() {
            let at = SimTime(first.0.saturating_add(self.timeline.events[i].at_ns));
            self.push(at, Ev::Event(i as u32));
        }
    }

    /// Event `i` happens at `t`.
    pub(super) fn apply_event(&mut self, t: SimTime, i: usize) {
        let kind = self.timeline.events[i].kind;
        let rules = self.timeline.rulesets[i].take();
        let rec = match kind {
            EventKind::RulesetReload => self.dp.flush_flowtables(t, true, rules),
            EventKind::FlowtableFlush => self.dp.flush_flowtables(t, false, None),
            EventKind::PolicyChange => match rules {
                Some(rs) => self.dp.policy_change(rs),
                // the scenario requires the file: recorded as an event that changed nothing
                None => self.dp.noop_event(),
            },
            EventKind::ConntrackFlush => self.dp.flush_conntrack(t),
            EventKind::LinkDown(side) => {
                self.timeline.down[side as usize].get_or_insert(i);
                self.dp.device_down(t, port(side))
            }
            EventKind::LinkUp(side) => {
                self.timeline.down[side as usize] = None;
                self.dp.noop_event()
            }
            EventKind::HostMove {
                version,
                addr,
                fdb_teardown,
            } => {
                self.timeline.moved |= !fdb_teardown;
                self.dp.host_moved(t, version, addr, fdb_teardown)
            }
        };
        self.timeline.applied[i] = Some((t, rec));
        self.drain_hw(t);
    }

    /// A packet for the port `side` is lost when the port is down.
    #[inline]
    pub(super) fn link_down_drop(&mut self, at: SimTime, side: Side, packets: u32) -> bool {
        if !self.timeline.lose_if_down(side) {
            return false;
        }
        self.drop_pkt(at, DropKind::LinkDown, packets);
        true
    }

    /// What each event that happened did and cost, in time order.
    pub fn event_outcomes(&self) -> Vec<EventOutcome> {
        let dp = self.dp.event_counters();
        self.timeline
            .applied
            .iter()
            .enumerate()
            .filter_map(|(i, a)| {
                let (at, rec) = (*a)?;
                Some(EventOutcome {
                    event: self.timeline.events[i].clone(),
                    at,
                    counters: dp.get(rec).copied().unwrap_or_default(),
                    link_lost: self.timeline.link_lost[i],
                })
            })
            .collect()
    }
}
