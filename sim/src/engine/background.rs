//! Process-context work on the cores: the flowtable GC (`nf_flow_offload_work_gc`, a delayed
//! work) and the hardware offload workqueue (`nf_ft_offload_add`/`_del`/`_stats`, unbound
//! workqueues: `nf_flow_table_offload_init`).
//!
//! Packet processing runs in softirq, which preempts process context: a work item runs only
//! while its core has no packets to process, and packets never wait behind it. When a core's
//! softirq has been busy for `MAX_SOFTIRQ_TIME` (2 ms) without a break, `__do_softirq`
//! hands the rest to the `ksoftirqd` thread (kernel/softirq.c), and from then on the
//! scheduler (CFS, kernel/sched/fair.c) shares the core between ksoftirqd and the kworker:
//! the model lets a waiting work item run as one block for every equal amount of packet
//! service, about half the core each, until the core next runs out of packets.
//!
//! A work item's cost is what the kernel and the driver spend on it (`CpuConfig::work_ns`);
//! a kworker that had nothing queued pays a wake-up first (`cycles.wq_wakeup`).

use std::collections::VecDeque;

use offsim_traces::time::SimTime;

use super::{Engine, Ev};
use crate::cpu::Stage;

/// `MAX_SOFTIRQ_TIME` (kernel/softirq.c): softirq work beyond this, without a break, moves to
/// ksoftirqd.
pub(super) const MAX_SOFTIRQ_NS: u64 = 2_000_000;

/// What a work item does when it completes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum BgWhat {
    /// The flowtable GC pass (its requests were queued when it started).
    Gc,
    /// An offload work item (slot in [`Engine::work`]).
    Offload(u32),
}

/// One work item waiting for or in execution on a core.
#[derive(Clone, Copy, Debug)]
pub(super) struct BgJob {
    /// Execution time still to run, ns.
    pub(super) left_ns: u64,
    pub(super) what: BgWhat,
}

/// A core's process-context queue.
#[derive(Clone, Debug, Default)]
pub(super) struct Background {
    pub(super) jobs: VecDeque<BgJob>,
    /// The head job has been running since this time (the core is otherwise idle).
    running_since: Option<SimTime>,
    /// Bumped whenever a scheduled completion becomes stale.
    epoch: u32,
    /// In ksoftirqd mode: packet service the kworker is owed before its next block, ns.
    owed_ns: u64,
}

impl Background {
    /// Total execution time queued, ns.
    pub(super) fn backlog_ns(&self) -> u64 {
        self.jobs.iter().map(|j| j.left_ns).sum()
    }
}

impl Engine {
    /// Queues a work item of `ns` on the core a kworker would run on: the one with the least
    /// to do (packets and work), lowest index on a tie.
    pub(super) fn queue_work(&mut self, t: SimTime, ns: u64, what: BgWhat) {
        let ci = (0..self.cores.len())
            .min_by_key(|&i| {
                let c = &self.cores[i];
                (
                    c.busy_until.0.max(t.0) + c.bg.backlog_ns() + c.ring.len() as u64,
                    i,
                )
            })
            .unwrap_or(0);
        let wake = if self.cores[ci].bg.jobs.is_empty() {
            self.cpu.ns(self.cpu.cycles.wq_wakeup)
        } else {
            0
        };
        self.cores[ci].bg.jobs.push_back(BgJob {
            left_ns: ns + wake,
            what,
        });
        let backlog = self.cores[ci].bg.backlog_ns();
        self.m.wq_peak_backlog_ns = self.m.wq_peak_backlog_ns.max(backlog);
        if !self.cores[ci].running && self.cores[ci].bg.running_since.is_none() {
            self.bg_start(t, ci);
        }
    }

    /// The core is idle at `t`: its head work item runs (until done or preempted).
    pub(super) fn bg_start(&mut self, t: SimTime, ci: usize) {
        let bg = &mut self.cores[ci].bg;
        let Some(head) = bg.jobs.front() else {
            return;
        };
        bg.running_since = Some(t);
        bg.epoch = bg.epoch.wrapping_add(1);
        let (epoch, done) = (bg.epoch, SimTime(t.0 + head.left_ns));
        self.push(done, Ev::BgDone(ci as u16, epoch));
    }

    /// A packet preempts the running work item at `t`: it keeps what it has done.
    pub(super) fn bg_preempt(&mut self, t: SimTime, ci: usize) {
        let bg = &mut self.cores[ci].bg;
        let Some(since) = bg.running_since.take() else {
            return;
        };
        bg.epoch = bg.epoch.wrapping_add(1);
        let ran = t.0.saturating_sub(since.0);
        if let Some(head) = bg.jobs.front_mut() {
            let ran = ran.min(head.left_ns);
            head.left_ns -= ran;
            self.charge_bg(since, ci, ran);
        }
    }

    /// The scheduled completion of core `ci`'s head work item, if still current.
    pub(super) fn bg_done(&mut self, t: SimTime, ci: usize, epoch: u32) {
        let bg = &mut self.cores[ci].bg;
        if bg.epoch != epoch {
            return;
        }
        let since = bg.running_since.take().unwrap_or(t);
        let Some(job) = bg.jobs.pop_front() else {
            return;
        };
        self.charge_bg(since, ci, job.left_ns);
        self.bg_complete(t, job.what);
        if !self.cores[ci].running {
            self.bg_start(t, ci);
        }
    }

    /// In ksoftirqd mode (softirq busy for [`MAX_SOFTIRQ_NS`] without a break), the kworker
    /// gets its turn: the head work item runs as one block from `t`. Returns when the core
    /// is free for packets again, or `None` when the kworker's turn has not come.
    pub(super) fn bg_turn(&mut self, t: SimTime, ci: usize, streak_ns: u64) -> Option<SimTime> {
        let bg = &mut self.cores[ci].bg;
        if streak_ns < MAX_SOFTIRQ_NS || bg.owed_ns > 0 {
            return None;
        }
        let left = bg.jobs.front()?.left_ns;
        bg.owed_ns = left;
        bg.running_since = Some(t);
        bg.epoch = bg.epoch.wrapping_add(1);
        let (epoch, end) = (bg.epoch, SimTime(t.0 + left));
        self.cores[ci].busy_until = end;
        // Pushed before the caller's `CoreFree` at the same time: the work completes first.
        self.push(end, Ev::BgDone(ci as u16, epoch));
        Some(end)
    }

    /// Packet service in ksoftirqd mode pays down what the kworker is owed.
    #[inline]
    pub(super) fn bg_served(&mut self, ci: usize, ns: u64) {
        let bg = &mut self.cores[ci].bg;
        bg.owed_ns = bg.owed_ns.saturating_sub(ns);
    }

    /// The core ran out of packets: ksoftirqd mode ends.
    #[inline]
    pub(super) fn bg_streak_over(&mut self, ci: usize) {
        self.cores[ci].bg.owed_ns = 0;
    }

    /// Counts `ns` of work on core `ci` starting at `at` as busy time.
    fn charge_bg(&mut self, at: SimTime, ci: usize, ns: u64) {
        let core = &mut self.cores[ci];
        core.busy_ns += ns;
        if at >= self.m.start && at <= self.offer_end {
            core.busy_ns_counted += ns;
            self.cur.busy_ns += ns;
            self.stage_acc[Stage::Background.index()] += ns as f64 * self.cpu.freq_ghz;
        }
    }

    /// What a completed work item does.
    fn bg_complete(&mut self, t: SimTime, what: BgWhat) {
        match what {
            BgWhat::Gc => {}
            BgWhat::Offload(i) => self.work(t, i),
        }
    }
}
