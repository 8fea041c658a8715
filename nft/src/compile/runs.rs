//! Finds the runs of rules the evaluator may pass over without running them one by one
//! ([`EqRun`]): consecutive rules of a chain whose first operation is `selector == constant`
//! on one side-effect-free selector with one cost.

use offsim_traces::hash::FxHashMap;

use crate::program::*;

/// Shorter runs are left to the rule-by-rule walk: reading the selector and looking its
/// value up costs about what comparing it with a few constants does.
const MIN_RUN: usize = 8;

/// What a rule's first operation must be to join a run: its selector and stop rows.
fn head(p: &Program, rule: &CRule) -> Option<(Src, [u32; 2], u128)> {
    if rule.n_ops < 2 {
        return None;
    }
    let op = rule.first_op as usize;
    let Op::Cmp {
        src,
        op: CmpOp::Eq,
        val,
    } = p.ops[op]
    else {
        return None;
    };
    // loads that change state (numgen's counter, jhash of one) or ask the host (fib) must
    // run once per rule
    if matches!(
        src.load,
        Load::Numgen(_) | Load::Jhash(_) | Load::Fib { .. }
    ) {
        return None;
    }
    Some((src, p.stop_row[op], val))
}

impl Program {
    /// Fills [`Program::runs`] and [`Program::run_of`] from the chains and rules.
    pub(crate) fn find_runs(&mut self) {
        self.run_of = vec![NO_RUN; self.rules.len()];
        self.runs.clear();
        for c in &self.chains {
            let rules = c.first_rule as usize..(c.first_rule + c.n_rules) as usize;
            let mut i = rules.start;
            while i < rules.end {
                let Some((src, rows, _)) = head(self, &self.rules[i]) else {
                    i += 1;
                    continue;
                };
                let mut j = i + 1;
                while j < rules.end
                    && head(self, &self.rules[j]).is_some_and(|(s, r, _)| s == src && r == rows)
                {
                    j += 1;
                }
                if j - i >= MIN_RUN {
                    let run = self.run(i, j, src, rows);
                    let id = self.runs.len() as u32;
                    self.run_of[i..j].fill(id);
                    self.runs.push(run);
                }
                i = j;
            }
        }
    }

    /// The run of rules `from..to` (rule ids).
    fn run(&self, from: usize, to: usize, src: Src, rows: [u32; 2]) -> EqRun {
        let vals: Vec<u128> = (from..to)
            .filter_map(|r| head(self, &self.rules[r]).map(|h| h.2))
            .collect();
        let mut order: Vec<u32> = (0..vals.len() as u32).collect();
        // grouped by constant, ascending offsets within a group (a stable sort)
        order.sort_by_key(|&o| vals[o as usize]);
        let mut index = FxHashMap::default();
        let mut a = 0;
        while a < order.len() {
            let v = vals[order[a] as usize];
            let b = a + order[a..]
                .iter()
                .take_while(|&&o| vals[o as usize] == v)
                .count();
            index.insert(v, (a as u32, b as u32));
            a = b;
        }
        EqRun {
            first: from as u32,
            len: (to - from) as u32,
            src,
            rows,
            index,
            offsets: order,
        }
    }
}

#[cfg(test)]
mod test {
    use offsim_traces::testkit::Pkt;
    use offsim_traces::time::SimTime;

    use super::*;
    use crate::ast::Hook;
    use crate::eval::{EvalCost, NullHost, PktCtx, RuleState, Verdict, eval_chain};
    use crate::{LoadOptions, Ruleset};

    /// An ACL with two runs (one on `ip saddr`, with repeated constants, a jump back into
    /// it and a rule that changes what the second run reads; one on `meta mark`) and a rule
    /// between them.
    fn acl() -> String {
        let mut t = String::from(
            "table inet t {\n chain sub { meta mark set 7 }\n chain fw {\n  type filter hook forward priority 0; policy accept;\n",
        );
        for i in 0..24 {
            let stmt = match i {
                5 => "jump sub".to_string(),
                9 => "meta mark set 5".to_string(),
                17 => "counter accept".to_string(),
                _ => format!("tcp dport {} drop", 1000 + i),
            };
            t += &format!("  ip saddr 10.0.0.{} {stmt}\n", i % 6);
        }
        t += "  udp dport 9 counter\n";
        for i in 0..10 {
            t += &format!("  meta mark {} counter\n", i % 8);
        }
        t + " }\n}\n"
    }

    fn packets() -> Vec<offsim_traces::meta::PacketMeta> {
        let mut v = Vec::new();
        for a in 0..8 {
            for port in [1000, 1001, 1006, 1013, 80] {
                v.push(Pkt::tcp4(&format!("10.0.0.{a}:5"), &format!("10.9.0.1:{port}")).build());
            }
            v.push(Pkt::udp(&format!("10.0.0.{a}:5"), "10.9.0.1:9").build());
        }
        v.push(Pkt::tcp4("[2001:db8::1]:5", "[2001:db8::2]:1000").build());
        v.push(Pkt::icmp("10.0.0.1", "10.9.0.1", 8, 0, 1).build());
        v
    }

    /// Per packet: the verdict, the mark and the cost; then the rules' counters and costs.
    type Outcome = (Vec<(Verdict, u32, EvalCost)>, Vec<u64>, Vec<EvalCost>);

    /// Each packet through the forward chain: verdicts, marks and costs per packet, and
    /// the counters and per-rule costs at the end.
    fn eval(rs: &Ruleset) -> Outcome {
        let mut st = RuleState::new(rs, 1);
        st.track_rule_costs(rs);
        let chain = rs.base_chains(Hook::Forward, 4)[0];
        let per_packet = packets()
            .into_iter()
            .map(|m| {
                let mut ctx = PktCtx::new(m, Hook::Forward, SimTime(0));
                let mut cost = EvalCost::default();
                let v = eval_chain(rs, &mut st, chain, &mut ctx, &mut NullHost, &mut cost);
                (v, ctx.mark, cost)
            })
            .collect();
        let counters = (0..rs.rules().len())
            .map(|r| rs.rule_counter(&st, r).packets)
            .collect();
        (per_packet, counters, st.rule_costs(rs).unwrap_or_default())
    }

    #[test]
    fn passing_over_runs_counts_and_charges_what_the_walk_would() {
        let rs = Ruleset::from_str(&acl(), "acl.nft", &LoadOptions::default()).unwrap();
        let lens: Vec<u32> = rs.prog.runs.iter().map(|r| r.len).collect();
        assert_eq!(lens, [24, 10]);
        let mut walk = rs.clone();
        walk.prog.runs.clear();
        walk.prog.run_of.fill(NO_RUN);
        let (a, b) = (eval(&rs), eval(&walk));
        assert_eq!(a.0, b.0);
        assert_eq!(a.1, b.1);
        assert_eq!(a.2, b.2);
        // the runs did pass over rules, and some matched
        assert!(a.1.iter().any(|&n| n > 0));
        assert!(a.2.iter().all(|c| c.rules > 0));
    }
}
