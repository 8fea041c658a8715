//! Per-rule cost accounting for `rules eval` ([`RuleTally`]): where each rule stopped, its
//! jumps and its set lookups, counted during the run and turned into an [`EvalCost`] per
//! rule only when asked ([`RuleTally::costs`]).
//!
//! Counting where a rule stopped is one increment per rule evaluated; what the rule ran up
//! to there is a compiled row ([`crate::program::CostRow`]), so the per-rule cost is
//! `Σ count × row`. Accumulating an [`EvalCost`] per rule instead (about 230 bytes added per
//! rule evaluated) made `rules eval` of a 300-rule ACL several times slower. Rules a run
//! passes over ([`crate::program::EqRun`]) are counted as ranges, one difference-array
//! update per range.

use super::EvalCost;
use crate::kind::SetBackend;
use crate::program::{CostRow, Program};

/// What each rule did, for its cost.
#[derive(Clone, Debug)]
pub(super) struct RuleTally {
    /// Rule evaluations by where they stopped: index `2 × op + full` (op `op` was the last
    /// run; `full` when it ran to its end).
    stops: Vec<u64>,
    /// Rules passed over in runs, stopped at their first op, as difference arrays by rule id
    /// (`[partial, full]`): the count of rule `r` is the sum from its run's first rule to `r`.
    passed: [Vec<i64>; 2],
    /// Jumps and gotos, by rule id.
    jumps: Vec<u64>,
    /// Set lookups by rule id: the count, then the size term, per back end.
    lookups: Vec<[u64; 2 * SetBackend::COUNT]>,
    /// The rule being evaluated, whose lookups and jump [`RuleTally::lookup`] and
    /// [`RuleTally::jump`] count.
    pub(super) cur: u32,
}

impl RuleTally {
    /// Zero counts for every rule of `p`.
    pub(super) fn new(p: &Program) -> RuleTally {
        let n = p.rules.len();
        RuleTally {
            stops: vec![0; 2 * p.ops.len()],
            passed: [vec![0; n], vec![0; n]],
            jumps: vec![0; n],
            lookups: vec![[0; 2 * SetBackend::COUNT]; n],
            cur: 0,
        }
    }

    /// The current rule stopped after op `op` (a global op index).
    #[inline]
    pub(super) fn stop(&mut self, op: usize, full: bool) {
        self.stops[2 * op + usize::from(full)] += 1;
    }

    /// Rules `from..to` of a run that ends before rule `end` stopped at their first op.
    #[inline]
    pub(super) fn passed(&mut self, from: u32, to: u32, end: u32, full: bool) {
        let d = &mut self.passed[usize::from(full)];
        d[from as usize] += 1;
        // the run's prefix sums stop before `end`: an entry there would be another run's
        if to < end {
            d[to as usize] -= 1;
        }
    }

    /// The current rule jumped (or went to) another chain.
    #[inline]
    pub(super) fn jump(&mut self) {
        self.jumps[self.cur as usize] += 1;
    }

    /// The current rule looked up a set of back end `b` whose size term is `depth`.
    #[inline]
    pub(super) fn lookup(&mut self, b: SetBackend, depth: u32) {
        let l = &mut self.lookups[self.cur as usize];
        l[b.index()] += 1;
        l[SetBackend::COUNT + b.index()] += u64::from(depth);
    }

    /// What each rule of `p` cost over every packet that entered it, by rule id.
    pub(super) fn costs(&self, p: &Program) -> Vec<EvalCost> {
        let mut stops = self.stops.clone();
        for run in &p.runs {
            let mut n = [0i64; 2];
            for r in run.first..run.first + run.len {
                let op = p.rules[r as usize].first_op as usize;
                for (full, n) in n.iter_mut().enumerate() {
                    *n += self.passed[full][r as usize];
                    stops[2 * op + full] += *n as u64;
                }
            }
        }
        (0..p.rules.len())
            .map(|rule| self.cost(p, &stops, rule))
            .collect()
    }

    fn cost(&self, p: &Program, stops: &[u64], rule: usize) -> EvalCost {
        let mut c = EvalCost::default();
        let r = &p.rules[rule];
        let first = r.first_op as usize;
        for op in first..first + r.n_ops as usize {
            for (full, row) in p.stop_row[op].iter().enumerate() {
                let n = stops[2 * op + full];
                if n == 0 {
                    continue;
                }
                let row: &CostRow = &p.cost_rows[*row as usize];
                for (a, x) in c.exprs.iter_mut().zip(&row.0) {
                    *a += n * u64::from(*x);
                }
                c.rules += n * u64::from(row.0[CostRow::RULE]);
            }
        }
        let l = &self.lookups[rule];
        c.lookups.copy_from_slice(&l[..SetBackend::COUNT]);
        c.lookup_depth.copy_from_slice(&l[SetBackend::COUNT..]);
        c.jumps = self.jumps[rule];
        c
    }
}
