//! [`RuleState`]: everything evaluation changes, sized from the compiled program.

use super::tally::RuleTally;
use super::{EvalCost, PolicyCounter};
use crate::program::{Counter, DynSet, ElemState};
use crate::ruleset::Ruleset;

/// A token bucket of a `limit` (tokens in ns).
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Bucket {
    pub(super) tokens: u64,
    pub(super) last: u64,
    pub(super) init: bool,
}

/// Mutable per-run state: counters, token buckets, quotas, dynamic set contents, numgen.
#[derive(Clone, Debug)]
pub struct RuleState {
    /// Counter statements, by slot (see [`crate::RuleInfo::counter_slots`]).
    pub counters: Vec<Counter>,
    /// Implicit counter per rule (rule id).
    pub(crate) implicit: Vec<Counter>,
    /// Policy counters per chain (chain id; zero for regular chains).
    pub policy: Vec<PolicyCounter>,
    /// Named counter objects (object id).
    pub named: Vec<Counter>,
    /// Bytes used per quota slot (anonymous quotas first, then objects).
    pub(crate) quota_used: Vec<u64>,
    pub(super) buckets: Vec<Bucket>,
    pub(super) numgen: Vec<u32>,
    pub(super) dynsets: Vec<DynSet>,
    /// State of the stateful static elements, per set with such elements.
    pub(super) elem_static: Vec<Vec<ElemState>>,
    pub(super) rng: u64,
    /// What each rule did, for its cost, when [`RuleState::track_rule_costs`] asked for it.
    pub(super) tally: Option<Box<RuleTally>>,
}

impl RuleState {
    /// Fresh state for a ruleset; `seed` drives `numgen random`.
    pub fn new(rs: &Ruleset, seed: u64) -> RuleState {
        let p = &rs.prog;
        RuleState {
            counters: vec![Counter::default(); p.n_counters],
            implicit: vec![Counter::default(); p.rules.len()],
            policy: vec![PolicyCounter::default(); p.chains.len()],
            named: p.named_counter_init.clone(),
            quota_used: p.quotas.iter().map(|q| q.used).collect(),
            buckets: vec![Bucket::default(); p.limits.len()],
            numgen: p
                .numgens
                .iter()
                .map(|n| n.modulus.saturating_sub(1))
                .collect(),
            dynsets: p
                .sets
                .iter()
                .filter(|s| s.dynamic.is_some())
                .map(|_| DynSet::default())
                .collect(),
            elem_static: {
                let mut v = vec![Vec::new(); p.n_stateful_sets as usize];
                for s in &p.sets {
                    if let Some(i) = s.stateful {
                        v[i as usize] = vec![ElemState::default(); s.elem_exprs.len()];
                    }
                }
                v
            },
            rng: seed ^ 0x9e37_79b9_7f4a_7c15,
            tally: None,
        }
    }

    /// From now on, counts what each rule of `rs` costs (its expressions, lookups and
    /// jumps; see [`RuleState::rule_costs`]). Off by default: the simulator needs only the
    /// sums.
    pub fn track_rule_costs(&mut self, rs: &Ruleset) {
        self.tally = Some(Box::new(RuleTally::new(&rs.prog)));
    }

    /// What each rule of `rs` cost over every packet that entered it, by rule id, when
    /// tracking is on.
    pub fn rule_costs(&self, rs: &Ruleset) -> Option<Vec<EvalCost>> {
        self.tally.as_ref().map(|t| t.costs(&rs.prog))
    }

    /// Number of elements currently in a dynamic set (0 for static sets).
    pub fn dynamic_len(&self, rs: &Ruleset, set: usize) -> usize {
        rs.prog
            .sets
            .get(set)
            .and_then(|s| s.dynamic)
            .map(|d| self.dynsets[d as usize].map.len())
            .unwrap_or(0)
    }

    pub(super) fn next_rand(&mut self) -> u32 {
        // splitmix64
        self.rng = self.rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)) as u32
    }
}

impl Ruleset {
    /// Counter values of a rule from `st`: its first counter statement, or the implicit
    /// counter when it has none.
    pub fn rule_counter(&self, st: &RuleState, rule: usize) -> Counter {
        let r = &self.rules()[rule];
        if r.has_counter() {
            st.counters[r.counter_slots.start]
        } else {
            st.implicit[rule]
        }
    }
}
