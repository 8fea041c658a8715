//! What `offsim calibrate` measures and how the figures follow.
//!
//! Expressions, sets and jumps: one router ruleset whose forward chain sends each flow
//! (by UDP source port) to its own chain of N copies of one rule shape; flow 5000's chain
//! is empty, the baseline. A shape's per-rule cost is the difference over N, measured with
//! the baseline and the reference (the `ip saddr X drop` shape) in rounds of a few thousand
//! datagrams each, so all three see the same moments; every repeat is scaled by
//! [`Speed`] to the reference's cost in the run's fastest tenth. nft follows
//! every load with exactly one consumer (a `cmp`, `bitwise`, `range` or `lookup`), so a
//! load and its compare cannot be told apart by timing: the compare is folded into the load
//! (`expr_cmp` = 0, and `range`/`lookup` figures are what they cost beyond a compare). The
//! shapes, solved in order:
//!
//! | shape (non-matching unless said) | kernel expressions | gives |
//! |---|---|---|
//! | `ip daddr SINK ip saddr X drop` (first matches) | rule + 2 payload | with the next: payload |
//! | `ip saddr X drop` | rule + payload | rule |
//! | `th dport 53 drop` | rule + transport payload | transport payload |
//! | `udp dport 53 drop` | the same + `meta l4proto udp` check | dependency |
//! | `meta l4proto tcp drop` | rule + meta | meta |
//! | `meta mark X drop` | rule + meta | check only |
//! | `iifname "offsim-none" drop` | rule + meta of an interface name | interface-name meta |
//! | `ip saddr 172.16.0.0/12 drop` | rule + payload + bitwise | bitwise |
//! | `udp dport 7-9 drop` | rule + dependency + transport payload + range | range |
//! | `counter` | rule + counter | counter |
//! | `continue` | rule + immediate | immediate |
//! | `jump c_sub_K` (one of 16 chains of one rule) | 2 rules + immediate + payload + jump | jump |
//! | `meta mark set 0` | rule + immediate + meta set | other |
//! | `ip saddr @S drop`, S per back end | rule + payload + lookup | the back end |
//!
//! Interval back ends are measured at two sizes for their log2 term. Conntrack uses its
//! own rulesets, and its figures are the measured difference less what offsim's evaluator
//! says the two flows' rules cost with the figures already measured: `ct` (a `ct mark`
//! rule), the lookup of an established entry (tracked vs `notrack` flow), a new entry (a
//! new tuple per datagram, tracked vs `notrack`) and an unconfirmed one (the same, dropped
//! in FORWARD). Hooks, base chains and NAT hooks: five routers side by side, each with its
//! ruleset loaded once (none, one or sixteen empty forward base chains, empty `nat` chains,
//! the reference rules), the same flow through each in rounds ([`hooks_and_chains`]).

use super::CalError;
use super::bench::{Bench, Flow};

/// One measured figure.
#[derive(Clone, Debug)]
pub struct Figure {
    /// The preset field it sets (`None`: printed as a check only).
    pub field: Option<&'static str>,
    /// What was measured.
    pub what: String,
    /// Unit of the figure (`rule`, `lookup`, `packet`, ...).
    pub per: &'static str,
    /// Median cycles.
    pub cycles: f64,
    /// Smallest and largest over the repeats.
    pub min: f64,
    /// Largest.
    pub max: f64,
    /// Repeats.
    pub repeats: usize,
    /// Smallest and largest factor that scaled a repeat to the run's speed.
    pub speed: (f64, f64),
    /// The run's cycles per reference rule the repeats were scaled to (its fastest tenth)
    /// and the run's median (0: not scaled).
    pub reference: (f64, f64),
}

/// A difference measured over repeats, in cycles per unit, each repeat at the run's speed.
#[derive(Clone, Debug)]
pub(crate) struct Stat {
    per_repeat: Vec<f64>,
    /// Smallest and largest speed factor applied to a repeat ([`Speed`]).
    speed: (f64, f64),
    /// The run's cycles per reference rule it was scaled to, fastest tenth and median (0:
    /// not scaled).
    reference: (f64, f64),
}

impl Stat {
    fn new(per_repeat: Vec<f64>) -> Stat {
        Stat {
            per_repeat,
            speed: (1.0, 1.0),
            reference: (0.0, 0.0),
        }
    }
    fn median(&self) -> f64 {
        median(&self.per_repeat)
    }
    /// `self - o` repeat by repeat.
    fn minus(&self, o: &Stat) -> Stat {
        Stat {
            per_repeat: self
                .per_repeat
                .iter()
                .zip(&o.per_repeat)
                .map(|(a, b)| a - b)
                .collect(),
            speed: (self.speed.0.min(o.speed.0), self.speed.1.max(o.speed.1)),
            reference: if self.reference.0 > 0.0 {
                self.reference
            } else {
                o.reference
            },
        }
    }
    fn minus_const(&self, c: f64) -> Stat {
        Stat {
            per_repeat: self.per_repeat.iter().map(|a| a - c).collect(),
            speed: self.speed,
            reference: self.reference,
        }
    }
    fn scaled(&self, k: f64) -> Stat {
        Stat {
            per_repeat: self.per_repeat.iter().map(|a| a * k).collect(),
            speed: self.speed,
            reference: self.reference,
        }
    }
    fn figure(&self, field: Option<&'static str>, what: &str, per: &'static str) -> Figure {
        let min = self
            .per_repeat
            .iter()
            .copied()
            .fold(f64::INFINITY, f64::min);
        let max = self
            .per_repeat
            .iter()
            .copied()
            .fold(f64::NEG_INFINITY, f64::max);
        Figure {
            field,
            what: what.to_string(),
            per,
            cycles: self.median(),
            min,
            max,
            repeats: self.per_repeat.len(),
            speed: self.speed,
            reference: self.reference,
        }
    }
}

/// The median of `v` (0 when empty).
fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        0.0
    } else if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// The `q` quantile of `v` (nearest rank; 0 when empty).
fn quantile(v: &[f64], q: f64) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return 0.0;
    }
    let k = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
    v[k - 1]
}

/// The same-repeat speed reference: flow `flow` runs `rules` more non-matching
/// `ip saddr 172.16.0.1 drop` rules (in a chain of their own, reached by the same `udp sport`
/// vmap jump) than flow `base`, the shape `calibrate --check` normalises by. Measured next
/// to every difference, it says how fast the machine is at that moment: on a shared machine
/// the CPU time of a packet swings by half and more between seconds, and unevenly between
/// figures measured at different times.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Reference {
    /// Source port of the baseline flow.
    pub(crate) base: u16,
    /// Source port of the flow that also runs the reference rules.
    pub(crate) flow: u16,
    /// Number of reference rules.
    pub(crate) rules: usize,
    /// Rounds each measurement is split into ([`Bench::run_mixed`]).
    pub(crate) chunks: usize,
}

/// The rule of the reference chain.
pub(crate) const REF_RULE: &str = "ip saddr 172.16.0.1 drop";

impl Reference {
    /// A table that gives the phases after the expression phase the reference: flows
    /// `base` and `others` jump to an empty chain, flow `flow` to the reference rules, from a
    /// forward base chain at priority -50 (the same for every flow of the phase but
    /// `flow`).
    pub(crate) fn table(&self, others: &[u16]) -> String {
        let mut t = String::from("table ip cal_ref {\n chain empty { }\n chain ref {\n");
        for _ in 0..self.rules {
            t += &format!("  {REF_RULE}\n");
        }
        let mut map: Vec<String> = std::iter::once(self.base)
            .chain(others.iter().copied())
            .map(|p| format!("{p} : jump empty"))
            .collect();
        map.push(format!("{} : jump ref", self.flow));
        t + &format!(
            " }}\n chain sel {{\n  type filter hook forward priority -50; policy accept;\n  udp sport vmap {{ {} }}\n }}\n}}\n",
            map.join(", ")
        )
    }
}

/// The run's speed: what a reference rule costs when the machine is least disturbed, the
/// fastest tenth of its measurements over the expression phase (other work on a shared
/// machine only ever slows a packet down). A difference measured next to a reference that
/// cost `now` per rule is scaled by `per_rule / now`, so every figure is at that one speed.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Speed {
    /// Cycles per reference rule, the run's fastest tenth.
    pub(crate) per_rule: f64,
    /// Cycles per reference rule, the run's median (for the notes).
    pub(crate) median: f64,
}

impl Speed {
    /// The factor for a repeat whose reference cost `now` per rule (a reference lost in the
    /// noise, below a quarter of the run's, counts as a quarter).
    pub(crate) fn factor(&self, now: f64) -> f64 {
        self.per_rule / now.max(self.per_rule / 4.0)
    }
    /// `raw` differences with their references, at the run's speed.
    pub(crate) fn normalise(&self, raw: &[f64], refs: &[f64]) -> Stat {
        let k: Vec<f64> = refs.iter().map(|&r| self.factor(r)).collect();
        let lo = k.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = k.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        Stat {
            per_repeat: raw.iter().zip(&k).map(|(d, k)| d * k).collect(),
            speed: (lo, hi),
            reference: (self.per_rule, self.median),
        }
    }
}

/// Measures `test` against `base` with the reference, the four flows in rounds
/// ([`Bench::run_mixed`]): cycles per packet of the difference, per repeat, at the run's
/// speed. Also the conntrack phase's measurement ([`super::check`]).
#[allow(clippy::too_many_arguments)]
pub(crate) fn paired(
    b: &Bench,
    base: &mut dyn FnMut(usize) -> Flow,
    test: &mut dyn FnMut(usize) -> Flow,
    packets: u64,
    repeats: usize,
    ghz: f64,
    before: &mut dyn FnMut() -> Result<(), CalError>,
    (reference, speed): (&Reference, &Speed),
) -> Result<Stat, CalError> {
    let (mut raw, mut refs) = (Vec::with_capacity(repeats), Vec::with_capacity(repeats));
    let ch = reference.chunks;
    for r in 0..repeats {
        // once per repeat: a flush of the conntrack table lets it fill over the repeat's
        // rounds as over one long run
        before()?;
        let x = b.run_mixed(
            &mut |k, c| match k {
                0 => base(r * ch + c),
                1 => test(r * ch + c),
                2 => Flow::Fixed {
                    sport: reference.base,
                },
                _ => Flow::Fixed {
                    sport: reference.flow,
                },
            },
            4,
            packets / ch as u64,
            ch,
            &mut || Ok(()),
        )?;
        raw.push((x[1] - x[0]) * ghz);
        refs.push((x[3] - x[2]) * ghz / reference.rules as f64);
    }
    Ok(speed.normalise(&raw, &refs))
}

/// Rule shapes of the expression phase: (name, rule, set declaration it needs).
fn shapes(n_elems: (usize, usize)) -> Vec<(&'static str, String)> {
    let (small, large) = n_elems;
    vec![
        (
            "two_payload",
            "ip daddr 10.99.2.1 ip saddr 172.16.0.1 drop".into(),
        ),
        ("payload", "ip saddr 172.16.0.1 drop".into()),
        ("meta", "meta l4proto tcp drop".into()),
        ("meta_mark", "meta mark 0x1234 drop".into()),
        ("meta_ifname", "iifname \"offsim-none\" drop".into()),
        ("bitwise", "ip saddr 172.16.0.0/12 drop".into()),
        ("range", "udp dport 7-9 drop".into()),
        ("counter", "counter".into()),
        ("immediate", "continue".into()),
        ("jump", "jump c_sub_{i}".into()),
        ("other", "meta mark set 0x0".into()),
        ("hash_fast", "ip saddr @hf drop".into()),
        ("hash", "ip saddr . udp dport @hc drop".into()),
        ("rhash", "ip saddr @rh drop".into()),
        ("bitmap", "udp dport @bm drop".into()),
        ("rbtree_s", format!("ip saddr @rb{small} drop")),
        ("rbtree_l", format!("ip saddr @rb{large} drop")),
        ("pipapo_s", format!("ip saddr . udp dport @pp{small} drop")),
        ("pipapo_l", format!("ip saddr . udp dport @pp{large} drop")),
        ("th_dport", "th dport 53 drop".into()),
        ("udp_dport", "udp dport 53 drop".into()),
    ]
}

/// `k` disjoint non-matching /30 ranges in 172.16.0.0/12.
fn ranges(k: usize) -> Vec<String> {
    (0..k)
        .map(|i| {
            let a = 0xac10_0000u32 + (i as u32) * 8;
            let ip = |x: u32| std::net::Ipv4Addr::from(x).to_string();
            format!("{}-{}", ip(a), ip(a + 3))
        })
        .collect()
}

/// Chains the `jump` shape's rules jump to, in turn.
const JUMP_TARGETS: usize = 16;

/// The expression-phase ruleset: the sets, one chain per shape, the dispatch.
fn expr_ruleset(n: usize, sizes: (usize, usize)) -> String {
    let mut s = String::from("table ip cal {\n");
    s += " set hf { type ipv4_addr; flags constant; elements = { 172.16.0.1, 172.16.0.2 }; }\n";
    s += " set hc { type ipv4_addr . inet_service; flags constant; elements = { 172.16.0.1 . 1 }; }\n";
    s += " set rh { type ipv4_addr; elements = { 172.16.0.1 }; }\n";
    s += " set bm { type inet_service; elements = { 1, 2 }; }\n";
    for k in [sizes.0, sizes.1] {
        let r = ranges(k);
        s += &format!(
            " set rb{k} {{ type ipv4_addr; flags interval; elements = {{ {} }}; }}\n",
            r.join(", ")
        );
        let pp: Vec<String> = r.iter().map(|x| format!("{x} . 1-2")).collect();
        s += &format!(
            " set pp{k} {{ type ipv4_addr . inet_service; flags interval; elements = {{ {} }}; }}\n",
            pp.join(", ")
        );
    }
    // the jumps go to JUMP_TARGETS chains in turn, each with one non-matching rule, as a
    // real ruleset's zone and service chains: few enough that the targets stay in the
    // cache as a ruleset's do and as the other shapes' one rule blob does (with a chain of
    // its own per jump, 400 chains, the figure measured cache misses under the machine's
    // other load: 17.8 and 32.7 in two full runs)
    s += " chain c_base { }\n";
    for i in 0..JUMP_TARGETS.min(n) {
        s += &format!(" chain c_sub_{i} {{\n  ip saddr 172.16.0.1 drop\n }}\n");
    }
    let mut dispatch = vec!["5000 : jump c_base".to_string()];
    for (i, (name, rule)) in shapes(sizes).iter().enumerate() {
        s += &format!(" chain e_{name} {{\n");
        for k in 0..n {
            let target = k % JUMP_TARGETS.min(n);
            s += &format!("  {}\n", rule.replace("{i}", &target.to_string()));
        }
        s += " }\n";
        dispatch.push(format!("{} : jump e_{name}", 5001 + i));
    }
    s += &format!(
        " chain fw {{\n  type filter hook forward priority 0; policy accept;\n  udp sport vmap {{ {} }}\n }}\n}}\n",
        dispatch.join(", ")
    );
    s
}

/// Per shape, per repeat: cycles per rule.
type PerShape = Vec<Vec<f64>>;

/// The expression phase's measurements: repeat by repeat, every shape `i` (flow 5001 + i)
/// with the baseline (flow 5000) and the reference in rounds; per shape, per repeat, the
/// shape's and the reference's cycles per rule as measured.
fn shape_rounds(
    b: &Bench,
    reference: &Reference,
    shapes: usize,
    packets: u64,
    repeats: usize,
    ghz: f64,
) -> Result<(PerShape, PerShape), CalError> {
    let n = reference.rules;
    let mut nothing = || Ok(());
    let mut raw = vec![Vec::with_capacity(repeats); shapes];
    let mut refs = vec![Vec::with_capacity(repeats); shapes];
    for _ in 0..repeats {
        for i in 0..shapes {
            // baseline, shape, reference in rounds: the three in the same moments
            let sports = [5000, 5001 + i as u16, reference.flow];
            let x = b.run_mixed(
                &mut |k, _| Flow::Fixed { sport: sports[k] },
                3,
                packets / reference.chunks as u64,
                reference.chunks,
                &mut nothing,
            )?;
            raw[i].push((x[1] - x[0]) * ghz / n as f64);
            refs[i].push((x[2] - x[0]) * ghz / n as f64);
        }
    }
    Ok((raw, refs))
}

/// Runs every measurement up to the conntrack phase ([`super::check::conntrack`], which
/// the caller runs next); the figures in preset order, and the run's speed for that phase.
pub(crate) fn run(
    b: &Bench,
    effort: super::Effort,
    ghz: f64,
    log: &mut dyn FnMut(&str),
) -> Result<(Vec<Figure>, Speed), CalError> {
    let (n, packets, repeats) = effort.sizes();
    let sizes = (16, 4096);
    let mut figs = Vec::new();

    // --- expressions, sets, jumps: repeat by repeat, every shape against the baseline
    // flow and then the reference (the `payload` shape, flow 5002), so each shape's repeats
    // are spread over the run and each is scaled by its own reference
    b.router_ruleset(&expr_ruleset(n, sizes))?;
    let shapes = shapes(sizes);
    let reference = Reference {
        base: 5000,
        flow: 5002,
        rules: n,
        chunks: effort.chunks(),
    };
    for i in 0..=shapes.len() {
        // warm the flows (neighbour, caches)
        b.run(
            Flow::Fixed {
                sport: 5000 + i as u16,
            },
            2_000,
        )?;
    }
    let (raw, refs) = shape_rounds(b, &reference, shapes.len(), packets, repeats, ghz)?;
    let all = refs.concat();
    let speed = Speed {
        per_rule: quantile(&all, 0.1),
        median: median(&all),
    };
    log(&format!(
        "  reference ({n} x `{REF_RULE}`): {:.1} cycles/rule in the run's fastest tenth (median {:.1}); every figure is scaled to the former",
        speed.per_rule, speed.median
    ));
    let mut d = std::collections::HashMap::new();
    for (i, (name, rule)) in shapes.iter().enumerate() {
        let st = speed.normalise(&raw[i], &refs[i]);
        log(&format!(
            "  {name:<12} {:>8.1} cycles/rule  ({rule}; speed factors {:.2} to {:.2})",
            st.median(),
            st.speed.0,
            st.speed.1
        ));
        d.insert(*name, st);
    }
    let g = |k: &str| d[k].clone();
    let sum = |v: &[&Stat]| {
        let mut a = Stat::new(vec![0.0; repeats]);
        for x in v {
            a = a.minus(&x.scaled(-1.0));
        }
        a
    };
    let p = g("two_payload").minus(&g("payload"));
    let r = g("payload").minus(&p);
    let pt = g("th_dport").minus(&r);
    let dep = g("udp_dport").minus(&g("th_dport"));
    let m = g("meta").minus(&r);
    let mi = g("meta_ifname").minus(&r);
    let bw = g("bitwise").minus(&r).minus(&p);
    let rg = g("range").minus(&sum(&[&r, &dep, &pt]));
    let cnt = g("counter").minus(&r);
    let imm = g("immediate").minus(&r);
    // the jump's own chain runs one `ip saddr X drop` rule
    let jmp = g("jump").minus(&sum(&[&r, &imm, &r, &p]));
    let oth = g("other").minus(&r).minus(&imm);
    let key1 = sum(&[&r, &p]); // rule + one network-header load
    let hf = g("hash_fast").minus(&key1);
    let rh = g("rhash").minus(&key1);
    let key2 = sum(&[&r, &p, &dep, &pt]); // + a port with its l4proto dependency
    let hc = g("hash").minus(&key2);
    let bm = g("bitmap").minus(&sum(&[&r, &dep, &pt]));
    let depth = |k: usize| f64::from(usize::BITS - k.leading_zeros());
    let (ds, dl) = (depth(sizes.0), depth(sizes.1));
    let rb_slope = g("rbtree_l").minus(&g("rbtree_s")).scaled(1.0 / (dl - ds));
    let rb0 = g("rbtree_s").minus(&key1).minus(&rb_slope.scaled(ds));
    let pp_slope = g("pipapo_l").minus(&g("pipapo_s")).scaled(1.0 / (dl - ds));
    let pp0 = g("pipapo_s").minus(&key2).minus(&pp_slope.scaled(ds));
    let zero = Stat::new(vec![0.0; repeats]);
    let avx2 = super::cpu_has_avx2();
    let (pp_field, pp_log_field) = if avx2 {
        ("set_pipapo_avx2", "set_pipapo_avx2_log2")
    } else {
        ("set_pipapo", "set_pipapo_log2")
    };
    let rows: Vec<(Option<&'static str>, &Stat, String, &'static str)> = vec![
        (Some("rule"), &r, format!("{n} x `ip saddr X drop` less its payload load, vs an empty chain"), "rule"),
        (Some("expr_payload"), &p, format!("{n} x `ip daddr SINK ip saddr X drop` minus {n} x `ip saddr X drop`: one payload load with its cmp"), "load"),
        (Some("expr_cmp"), &zero, "every load is followed by one consumer, so a cmp is folded into the load it consumes (not separable by timing)".into(), "cmp"),
        (Some("expr_payload_th"), &pt, format!("{n} x `th dport 53 drop` (no dependency) less the rule: one transport-header load with its cmp"), "load"),
        (Some("expr_dep"), &dep, format!("{n} x `udp dport 53 drop` minus {n} x `th dport 53 drop`: the `meta l4proto udp` check nft inserts"), "dependency"),
        (Some("expr_meta"), &m, format!("{n} x `meta l4proto tcp drop` less the rule: one meta load with its (failing) cmp"), "load"),
        (Some("expr_meta_ifname"), &mi, format!("{n} x `iifname \"offsim-none\" drop` less the rule: one interface-name meta load (an IFNAMSIZ-byte string copy) with its (failing) 16-byte cmp"), "load"),
        (Some("expr_bitwise"), &bw, format!("{n} x `ip saddr 172.16.0.0/12 drop` less rule and payload"), "bitwise"),
        (Some("expr_range"), &rg, format!("{n} x `udp dport 7-9 drop` less rule, l4proto dependency and transport load: a range beyond a cmp"), "range"),
        (Some("expr_counter"), &cnt, format!("{n} x `counter` less the rule"), "counter"),
        (Some("expr_immediate"), &imm, format!("{n} x `continue` less the rule"), "verdict"),
        (Some("jump"), &jmp, format!("{n} x `jump c_sub_K`, to {} chains in turn, each of one non-matching `ip saddr X drop`, less the rules, immediate and payload loads", JUMP_TARGETS.min(n)), "jump"),
        (Some("expr_other"), &oth, format!("{n} x `meta mark set 0x0` less rule and immediate: a meta set"), "statement"),
        (Some("expr_lookup"), &zero, "the lookup expression is folded into each back end's figure (one per lookup)".into(), "lookup"),
        (Some("set_hash_fast"), &hf, format!("{n} x `ip saddr @S drop`, S constant ipv4_addr (nft_set_hash_fast), less rule and payload"), "lookup"),
        (Some("set_hash"), &hc, format!("{n} x `ip saddr . udp dport @S drop`, S constant concatenation (nft_set_hash), less rule, the two loads and the l4proto dependency"), "lookup"),
        (Some("set_rhash"), &rh, format!("{n} x `ip saddr @S drop`, S named without size (nft_set_rhash), less rule and payload"), "lookup"),
        (Some("set_bitmap"), &bm, format!("{n} x `udp dport @S drop`, S inet_service (nft_set_bitmap), less rule, l4proto dependency and transport load"), "lookup"),
        (Some("set_rbtree"), &rb0, format!("{n} x `ip saddr @S drop`, S interval sets of {} and {} ranges (nft_set_rbtree): intercept", sizes.0, sizes.1), "lookup"),
        (Some("set_rbtree_log2"), &rb_slope, format!("the same: slope per doubling of the set ({ds} to {dl})"), "doubling"),
        (Some(pp_field), &pp0, format!("{n} x `ip saddr . udp dport @S drop`, S interval concatenations of {} and {} elements ({}): intercept", sizes.0, sizes.1, if avx2 { "nft_set_pipapo_avx2" } else { "nft_set_pipapo" }), "lookup"),
        (Some(pp_log_field), &pp_slope, format!("the same: slope per doubling of the set ({ds} to {dl})"), "doubling"),
    ];
    for (field, st, what, per) in rows {
        figs.push(st.figure(field, &what, per));
    }
    let pred = r.minus(&m.scaled(-1.0));
    let f = g("meta_mark").figure(
        None,
        "check: `meta mark X drop` measured (model: rule + meta)",
        "rule",
    );
    log(&format!(
        "  check: meta mark X drop measured {:.1}, model {:.1} cycles/rule",
        f.cycles,
        pred.median()
    ));
    figs.push(f);

    figs.extend(hooks_and_chains(
        b,
        n,
        (packets, repeats, effort.chunks()),
        ghz,
        &speed,
        log,
    )?);
    // conntrack follows in `check` (it uses these figures)
    Ok((figs, speed))
}

/// Routers of the hook phase ([`hooks_and_chains`]).
pub(crate) const HOOK_ROUTERS: usize = 6;

/// Reference rules in each base chain of the hook phase's routers 1 and 2.
const RULES_PER_CHAIN: usize = 10;

/// The hook phase's rulesets, router by router. Every one turns conntrack on (a `ct`
/// expression in a regular chain: `nft_ct_get_init` → `nf_ct_netns_get` registers
/// conntrack's hooks at PREROUTING, INPUT, OUTPUT and POSTROUTING, as offsim always tracks),
/// so those hooks are entered on all five and FORWARD is the one a filter base chain opens:
/// 0 nothing more; 1 one forward base chain of [`RULES_PER_CHAIN`] reference rules; 2
/// sixteen such chains; 3 empty `nat` chains at PREROUTING and POSTROUTING (the NAT core's
/// hooks, `nf_nat_register_fn`); 4 one forward base chain of `rules` reference rules; 5
/// the NAT chains of 3 with a `masquerade` at POSTROUTING. The
/// base chains run rules, as a real ruleset's do: `nft_do_chain` entering a chain's rule
/// loop costs more than passing an empty one, and that is part of what a base chain costs.
fn hook_rulesets(rules: usize) -> [String; HOOK_ROUTERS] {
    let base = "table ip cal_base {\n chain c {\n  ct mark 0x1234\n }\n}\n";
    let filter = |chains: usize, rules: usize| {
        let body: String = (0..rules).map(|_| format!("  {REF_RULE}\n")).collect();
        let mut t = String::from("table ip cal_h {\n");
        for i in 0..chains {
            t += &format!(
                " chain f{i} {{\n  type filter hook forward priority {i}; policy accept;\n{body} }}\n"
            );
        }
        t + "}\n"
    };
    let nat = |post: &str| {
        format!(
            "{base}table ip cal_nat {{\n chain p {{ type nat hook prerouting priority dstnat; policy accept; }}\n chain q {{\n  type nat hook postrouting priority srcnat; policy accept;\n{post} }}\n}}\n"
        )
    };
    [
        base.to_string(),
        format!("{base}{}", filter(1, RULES_PER_CHAIN)),
        format!("{base}{}", filter(16, RULES_PER_CHAIN)),
        nat(""),
        format!("{base}{}", filter(1, rules)),
        nat("  masquerade\n"),
    ]
}

/// (hook, base chain, NAT hook, NAT rewrite) from the cycles per packet `c` of the flow through the
/// routers of [`hook_rulesets`] and `r`, a reference rule's cycles, as
/// [`hooks_and_chains`] says.
fn hook_figures(c: &[f64], r: f64) -> [f64; 4] {
    let per = RULES_PER_CHAIN as f64;
    let chain = (c[2] - c[1] - 15.0 * per * r) / 15.0;
    [
        c[1] - c[0] - per * r - chain,
        chain,
        (c[3] - c[0]) / 2.0,
        c[5] - c[3],
    ]
}

/// The hook, base-chain and NAT-hook figures, without a ruleset reload between the runs
/// they compare: the five rulesets of [`hook_rulesets`] stay loaded on five routers side by
/// side ([`Bench::with_routers`]) and the same flow crosses each in rounds, so all five see
/// the same moments. Per repeat, with `r` the reference rule ((router 4 − router 1) over
/// the rules they differ by; also the repeat's speed): a base chain is (router 2 − router
/// 1 − 150 r) / 15, sixteen chains against one; a hook is router 1 − router 0 less 10 r and
/// a chain (`nf_hook` finds FORWARD's entries and runs `nf_hook_slow`); a NAT hook is
/// (router 3 − router 0) / 2 (the established flow's NAT is set up, so `nf_nat_inet_fn`
/// runs no chain); the NAT rewrite of an established connection is router 5 − router 3
/// (`nf_nat_packet`'s `nf_nat_manip_pkt`, and `nf_nat_ipv4_out`'s `nf_xfrm_me_harder` for a
/// rewritten source).
fn hooks_and_chains(
    b: &Bench,
    rules: usize,
    (packets, repeats, chunks): (u64, usize, usize),
    ghz: f64,
    speed: &Speed,
    log: &mut dyn FnMut(&str),
) -> Result<Vec<Figure>, CalError> {
    for (k, rs) in hook_rulesets(rules).iter().enumerate() {
        b.ruleset_of(k, rs)?;
    }
    let flow = |router: usize| Flow::Via {
        sport: 5000,
        router,
    };
    for k in 0..HOOK_ROUTERS {
        // warm each router's path (neighbour, conntrack entry, NAT binding)
        b.run(flow(k), 2_000)?;
    }
    let (mut x, mut refs) = (Vec::with_capacity(repeats), Vec::with_capacity(repeats));
    for _ in 0..repeats {
        let v = b.run_mixed(
            &mut |k, _| flow(k),
            HOOK_ROUTERS,
            packets / chunks as u64,
            chunks,
            &mut || Ok(()),
        )?;
        let c: Vec<f64> = v.iter().map(|ns| ns * ghz).collect();
        refs.push((c[4] - c[1]) / (rules - RULES_PER_CHAIN) as f64);
        x.push(c);
    }
    let diff = |k: usize| {
        let raw: Vec<f64> = x
            .iter()
            .zip(&refs)
            .map(|(c, &r)| hook_figures(c, r)[k])
            .collect();
        speed.normalise(&raw, &refs)
    };
    let (hook, chain, nat_hook, mangle) = (diff(0), diff(1), diff(2), diff(3));
    log(&format!(
        "  hook {:.1}, chain {:.1}, nat hook {:.1}, nat mangle {:.1} cycles",
        hook.median(),
        chain.median(),
        nat_hook.median(),
        mangle.median()
    ));
    let same = "the rulesets loaded on routers side by side, the flow through each in rounds";
    Ok(vec![
        hook.figure(
            Some("hook"),
            &format!("one forward base chain of {RULES_PER_CHAIN} `{REF_RULE}` vs none, less the chain and its rules ({same}): FORWARD's nf_hook_slow, per hook"),
            "hook",
        ),
        chain.figure(
            Some("chain"),
            &format!("16 forward base chains of {RULES_PER_CHAIN} `{REF_RULE}` vs 1, less their rules ({same}): per base chain that runs rules"),
            "chain",
        ),
        nat_hook.figure(
            Some("nat_hook"),
            &format!("empty nat chains at prerouting and postrouting vs none, established flow ({same}): per NAT hook"),
            "hook",
        ),
        mangle.figure(
            Some("nat_mangle"),
            &format!("established UDP flow masqueraded vs not, both through the NAT hooks ({same}): the rewrite per packet"),
            "packet",
        ),
    ])
}

impl Stat {
    /// Per-repeat values, as measured (speed factor 1).
    pub(crate) fn of(per_repeat: &[f64]) -> Stat {
        Stat::new(per_repeat.to_vec())
    }
    /// Each repeat's value mapped by `f`.
    pub(crate) fn map(&self, f: impl Fn(f64) -> f64) -> Stat {
        Stat {
            per_repeat: self.per_repeat.iter().map(|&x| f(x)).collect(),
            speed: self.speed,
            reference: self.reference,
        }
    }
}

/// A figure from per-repeat values less a constant.
pub(crate) fn figure_of(
    st: &Stat,
    less: f64,
    field: Option<&'static str>,
    what: &str,
    per: &'static str,
) -> Figure {
    st.minus_const(less).figure(field, what, per)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calibrate::check::{packets, predict};
    use crate::cpu::CpuConfig;

    #[test]
    fn the_hook_phase_recovers_the_figures_it_names() {
        // offsim's own prediction for the five routers, put through the phase's formulas,
        // gives back the preset's hook, chain and NAT hook: each router differs from the
        // others by the terms the formulas say, and nothing else
        let cpu = CpuConfig::preset("x86-server").unwrap();
        let rules = 400;
        let pk = packets(
            Flow::Via {
                sport: 5000,
                router: 0,
            },
            50,
        );
        let c: Vec<f64> = hook_rulesets(rules)
            .iter()
            .map(|rs| predict(&cpu, rs, "lan0", "wan0", &pk, 1).unwrap().total)
            .collect();
        let r = (c[4] - c[1]) / (rules - RULES_PER_CHAIN) as f64;
        let cy = &cpu.cycles;
        assert!(
            (r - (cy.rule + cy.expr_payload + cy.expr_cmp)).abs() < 1e-6,
            "{r}"
        );
        let [hook, chain, nat_hook, mangle] = hook_figures(&c, r);
        for (got, want) in [
            (hook, cy.hook),
            (chain, cy.chain),
            (nat_hook, cy.nat_hook),
            (mangle, cy.nat_mangle),
        ] {
            assert!((got - want).abs() < 1e-6, "{got} vs {want}: {c:?}");
        }
    }
}
