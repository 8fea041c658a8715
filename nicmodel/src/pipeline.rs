//! The control path that programs the table: an asynchronous, rate-limited queue of ops.
//!
//! The kernel queues one work item per request on three unbound workqueues (add, del, stats;
//! `nf_flow_table_offload_init`) with no global cap (`reference/flow-offload-semantics.md`
//! §3.2); the driver then serialises the commands (MediaTek takes
//! `mtk_flow_offload_mutex`, mlx5 runs the insertion synchronously in the callback). The
//! model:
//!
//! * an op becomes eligible `queue_delay_ns` after submission (workqueue wake-up);
//! * one server (the driver + device) serves eligible ops in submission order, each taking
//!   `1 / rate` of its kind (insert, remove, stats);
//! * at most `queue_depth` ops of one kind may wait to start; beyond that `submit` refuses
//!   with [`InsertError::QueueFull`]; with `queue_depth = 0`, an op that cannot start at once
//!   is refused with [`InsertError::RateLimited`];
//! * the op's effect on the table happens at its completion time (the caller applies it;
//!   [`crate::Nic`] does), and each completion carries the host CPU time it cost.
//!
//! Everything is computed from the `now` values passed in; completion times are known at
//! submission, so `Pipeline::next_done` gives the engine its next wake-up.

use crate::config::PipelineConfig;
use crate::error::InsertError;
use crate::key::HwKey;
use crate::stats::PipelineStats;
use crate::table::{Cookie, EntryStats, HwAction, Inserted, Removed};
use offsim_traces::SimTime;
use serde::Serialize;
use std::collections::VecDeque;

/// A request to the NIC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `FLOW_CLS_REPLACE` for one direction.
    Insert {
        /// The rule's name.
        cookie: Cookie,
        /// The direction's key (pre-NAT tuple, ingress interface, encapsulation).
        key: HwKey,
        /// What the rule does.
        action: HwAction,
    },
    /// `FLOW_CLS_DESTROY`.
    Remove {
        /// The rule's name.
        cookie: Cookie,
    },
    /// `FLOW_CLS_STATS`.
    Stats {
        /// The rule's name.
        cookie: Cookie,
    },
}

impl Op {
    /// The op's kind.
    pub fn kind(&self) -> OpKind {
        match self {
            Op::Insert { .. } => OpKind::Insert,
            Op::Remove { .. } => OpKind::Remove,
            Op::Stats { .. } => OpKind::Stats,
        }
    }

    /// The cookie the op is about.
    pub(crate) fn cookie(&self) -> Cookie {
        match *self {
            Op::Insert { cookie, .. } | Op::Remove { cookie } | Op::Stats { cookie } => cookie,
        }
    }
}

/// Kind of op.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OpKind {
    /// Insert.
    Insert = 0,
    /// Remove.
    Remove = 1,
    /// Stats.
    Stats = 2,
}

/// Receipt for a submitted op (submission order, from 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Ticket(pub u64);

/// What a completed op did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpOutcome {
    /// Insert accepted.
    Inserted(Inserted),
    /// Remove done.
    Removed(Removed),
    /// Stats read.
    Stats(EntryStats),
}

/// A completed op, as reported to the offload layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Completion {
    /// The submission's receipt.
    pub ticket: Ticket,
    /// The cookie.
    pub cookie: Cookie,
    /// The op's kind.
    pub kind: OpKind,
    /// When it was submitted.
    pub submitted: SimTime,
    /// When the driver started it.
    pub started: SimTime,
    /// When it completed (and took effect).
    pub done: SimTime,
    /// Host CPU time it cost, ns (charge it to the core running the offload workqueue).
    pub cpu_ns: u64,
    /// Outcome.
    pub result: Result<OpOutcome, InsertError>,
}

/// An op waiting or in service.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Pending {
    /// Receipt.
    pub(crate) ticket: Ticket,
    /// The op.
    pub(crate) op: Op,
    /// Submission time.
    pub(crate) submitted: SimTime,
    /// Service start.
    pub(crate) start: SimTime,
    /// Completion.
    pub(crate) done: SimTime,
    /// Host CPU cost, ns.
    pub(crate) cpu_ns: u64,
}

/// The insertion pipeline. See the module documentation.
#[derive(Clone, Debug)]
pub(crate) struct Pipeline {
    queue_delay_ns: u64,
    service_ns: [u64; 3],
    cpu_ns: [u64; 3],
    depth: u32,
    server_free: SimTime,
    q: VecDeque<Pending>,
    /// Index in `q` of the first op that has not started.
    cursor: usize,
    unstarted: [u32; 3],
    next_ticket: u64,
    /// Counters.
    pub(crate) stats: PipelineStats,
}

fn service(rate: u64) -> u64 {
    1_000_000_000u64.div_ceil(rate.max(1))
}

impl Pipeline {
    /// An idle pipeline.
    pub(crate) fn new(cfg: &PipelineConfig) -> Pipeline {
        Pipeline {
            queue_delay_ns: cfg.queue_delay_ns,
            service_ns: [
                service(cfg.insert_rate_per_s),
                service(cfg.remove_rate_per_s),
                service(cfg.stats_rate_per_s),
            ],
            cpu_ns: [cfg.cpu_ns_insert, cfg.cpu_ns_remove, cfg.cpu_ns_stats],
            depth: cfg.queue_depth,
            server_free: SimTime::ZERO,
            q: VecDeque::new(),
            cursor: 0,
            unstarted: [0; 3],
            next_ticket: 0,
            stats: PipelineStats::default(),
        }
    }

    fn advance(&mut self, now: SimTime) {
        while self.cursor < self.q.len() && self.q[self.cursor].start <= now {
            self.unstarted[self.q[self.cursor].op.kind() as usize] -= 1;
            self.cursor += 1;
        }
    }

    /// Ops of `kind` waiting to start at the last observed time.
    #[cfg(test)]
    pub(crate) fn waiting(&self, kind: OpKind) -> u32 {
        self.unstarted[kind as usize]
    }

    /// Submits an op at `now`.
    pub(crate) fn submit(&mut self, now: SimTime, op: Op) -> Result<Ticket, InsertError> {
        self.advance(now);
        let k = op.kind() as usize;
        let eligible = now + offsim_traces::SimDuration(self.queue_delay_ns);
        if self.depth == 0 {
            if self.server_free > eligible {
                self.stats.refused_rate_limited += 1;
                return Err(InsertError::RateLimited);
            }
        } else if self.unstarted[k] >= self.depth {
            self.stats.refused_queue_full += 1;
            return Err(InsertError::QueueFull);
        }
        let start = eligible.max(self.server_free);
        let done = start + offsim_traces::SimDuration(self.service_ns[k]);
        self.server_free = done;
        let ticket = Ticket(self.next_ticket);
        self.next_ticket += 1;
        self.q.push_back(Pending {
            ticket,
            op,
            submitted: now,
            start,
            done,
            cpu_ns: self.cpu_ns[k],
        });
        if start <= now {
            // Started at once: everything before it has started too.
            self.cursor = self.q.len();
        } else {
            self.unstarted[k] += 1;
        }
        match op.kind() {
            OpKind::Insert => self.stats.submitted.insert += 1,
            OpKind::Remove => self.stats.submitted.remove += 1,
            OpKind::Stats => self.stats.submitted.stats += 1,
        }
        let waiting = u64::from(self.unstarted.iter().sum::<u32>());
        self.stats.peak_queue = self.stats.peak_queue.max(waiting);
        Ok(ticket)
    }

    /// Completion time of the oldest op in flight.
    pub(crate) fn next_done(&self) -> Option<SimTime> {
        self.q.front().map(|p| p.done)
    }

    /// Removes and returns the oldest op if it has completed by `now`.
    pub(crate) fn pop_done(&mut self, now: SimTime) -> Option<Pending> {
        if self.q.front()?.done > now {
            return None;
        }
        self.advance(now);
        let p = self.q.pop_front()?;
        self.cursor = self.cursor.saturating_sub(1);
        match p.op.kind() {
            OpKind::Insert => self.stats.completed.insert += 1,
            OpKind::Remove => self.stats.completed.remove += 1,
            OpKind::Stats => self.stats.completed.stats += 1,
        }
        self.stats.wait_ns += u128::from(p.start.0 - p.submitted.0);
        let lat = p.done.0 - p.submitted.0;
        self.stats.latency_ns += u128::from(lat);
        self.stats.max_latency_ns = self.stats.max_latency_ns.max(lat);
        self.stats.cpu_ns += p.cpu_ns;
        Some(p)
    }

    /// Drops every op in flight (NIC reset); returns how many were dropped.
    pub(crate) fn clear(&mut self) -> usize {
        let n = self.q.len();
        self.q.clear();
        self.cursor = 0;
        self.unstarted = [0; 3];
        n
    }
}

#[cfg(test)]
mod test {
    use super::*;

    fn cfg(rate: u64, depth: u32, delay: u64) -> PipelineConfig {
        PipelineConfig {
            queue_delay_ns: delay,
            insert_rate_per_s: rate,
            remove_rate_per_s: rate * 2,
            stats_rate_per_s: rate * 10,
            queue_depth: depth,
            cpu_ns_insert: 7,
            cpu_ns_remove: 3,
            cpu_ns_stats: 1,
        }
    }

    fn ins(c: Cookie) -> Op {
        Op::Insert {
            cookie: c,
            key: HwKey::EMPTY,
            action: HwAction::default(),
        }
    }

    #[test]
    fn rate_limit_spaces_completions() {
        // 1000 inserts/s = 1 ms each, 10 us queue delay.
        let mut p = Pipeline::new(&cfg(1000, 100, 10_000));
        for c in 0..5 {
            p.submit(SimTime(0), ins(c)).unwrap();
        }
        let mut done = vec![];
        while let Some(x) = p.pop_done(SimTime::MAX) {
            done.push(x.done.0);
        }
        assert_eq!(
            done,
            vec![1_010_000, 2_010_000, 3_010_000, 4_010_000, 5_010_000]
        );
        assert_eq!(p.stats.completed.insert, 5);
        assert_eq!(p.stats.cpu_ns, 35);
        assert_eq!(p.stats.max_latency_ns, 5_010_000);
        // 100 submitted in one instant complete no faster than the rate.
        let mut p = Pipeline::new(&cfg(1000, 1000, 0));
        for c in 0..100 {
            p.submit(SimTime(0), ins(c)).unwrap();
        }
        let mut n = 0;
        while p.pop_done(SimTime(50_000_000)).is_some() {
            n += 1;
        }
        assert_eq!(n, 50, "50 ms at 1000/s");
    }

    #[test]
    fn queue_depth_refuses_and_recovers() {
        let mut p = Pipeline::new(&cfg(1000, 3, 0));
        // The first starts at once; three more wait; the fifth is refused.
        for c in 0..4 {
            p.submit(SimTime(0), ins(c)).unwrap();
        }
        assert_eq!(p.waiting(OpKind::Insert), 3);
        assert_eq!(p.submit(SimTime(0), ins(9)), Err(InsertError::QueueFull));
        // Other kinds have their own depth.
        assert!(p.submit(SimTime(0), Op::Remove { cookie: 1 }).is_ok());
        // After the first op completes (1 ms) one waiting op starts: room for one more.
        assert_eq!(
            p.submit(SimTime(999_999), ins(9)),
            Err(InsertError::QueueFull)
        );
        assert!(p.submit(SimTime(1_000_000), ins(9)).is_ok());
        assert_eq!(p.stats.refused_queue_full, 2);
        assert_eq!(p.stats.peak_queue, 4);
    }

    #[test]
    fn no_queue_means_rate_limited() {
        let mut p = Pipeline::new(&cfg(1000, 0, 0));
        assert!(p.submit(SimTime(0), ins(1)).is_ok());
        assert_eq!(
            p.submit(SimTime(500_000), ins(2)),
            Err(InsertError::RateLimited)
        );
        assert!(p.submit(SimTime(1_000_000), ins(3)).is_ok());
        assert_eq!(p.stats.refused_rate_limited, 1);
    }

    #[test]
    fn kinds_share_one_server_in_order() {
        let mut p = Pipeline::new(&cfg(1000, 10, 0));
        p.submit(SimTime(0), ins(1)).unwrap(); // 0 .. 1 ms
        p.submit(SimTime(0), Op::Remove { cookie: 1 }).unwrap(); // 1 .. 1.5 ms
        p.submit(SimTime(0), Op::Stats { cookie: 1 }).unwrap(); // 1.5 .. 1.6 ms
        let d: Vec<(OpKind, u64)> = std::iter::from_fn(|| p.pop_done(SimTime::MAX))
            .map(|x| (x.op.kind(), x.done.0))
            .collect();
        assert_eq!(
            d,
            vec![
                (OpKind::Insert, 1_000_000),
                (OpKind::Remove, 1_500_000),
                (OpKind::Stats, 1_600_000)
            ]
        );
    }
}
