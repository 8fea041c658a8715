//! The conntrack measurements of `offsim calibrate`, and `offsim calibrate --check
//! RULESET`: offsim's predicted cost of a whole ruleset against the kernel's measured
//! increment on the same traffic. Both correct a measured difference by what offsim's own
//! datapath and evaluator say the rules of the two flows cost, so the model is checked (or
//! completed) as it runs, not as a hand-written sum.

use offsim_kernel::datapath::{Datapath, DpConfig, FlowtableMode};
use offsim_kernel::flows::FlowBook;
use offsim_kernel::sides::Side;
use offsim_nft::Ruleset;
use offsim_traces::meta::PacketMeta;
use offsim_traces::testkit::Pkt;

use super::CalError;
use super::bench::{Bench, DPORT, Flow, sh};
use super::plan::{Figure, Reference, Speed, Stat, figure_of, paired};
use crate::cpu::{CpuConfig, Stage};

/// The x86-server preset with the figures measured so far.
pub(crate) fn config_with(figs: &[Figure]) -> Result<CpuConfig, CalError> {
    let mut t: toml::Table = toml::from_str(
        CpuConfig::preset_toml("x86-server").map_err(|e| CalError::Input(e.to_string()))?,
    )
    .map_err(|e| CalError::Input(e.to_string()))?;
    if let Some(c) = t.get_mut("cycles").and_then(|c| c.as_table_mut()) {
        for f in figs {
            if let Some(field) = f.field {
                c.insert(field.into(), toml::Value::Float(f.cycles.max(0.0)));
            }
        }
    }
    t.insert("avx2".into(), toml::Value::Boolean(super::cpu_has_avx2()));
    let c: CpuConfig =
        toml::from_str(&toml::to_string(&t).map_err(|e| CalError::Input(e.to_string()))?)
            .map_err(|e| CalError::Input(e.to_string()))?;
    Ok(c)
}

/// The datagrams of a flow as offsim sees them (18-byte UDP payload, 10 µs apart).
pub fn packets(flow: Flow, n: usize) -> Vec<PacketMeta> {
    (0..n)
        .map(|i| {
            let (dst, sport, dport) = match flow {
                Flow::Fixed { sport } | Flow::Via { sport, .. } => {
                    ("10.99.2.1".to_string(), sport, DPORT)
                }
                Flow::NewEach { net, offset } => {
                    let k = offset + i as u64;
                    let host = (k / 60_000) as u32 & 0xffff;
                    (
                        format!("10.{net}.{}.{}", host >> 8, host & 0xff),
                        4999,
                        1024 + (k % 60_000) as u16,
                    )
                }
            };
            Pkt::udp(&format!("10.99.1.1:{sport}"), &format!("{dst}:{dport}"))
                .payload(18)
                .at(1_000_000_000 + i as u64 * 10_000)
                .build()
        })
        .collect()
}

/// What offsim predicts for a flow.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Prediction {
    /// Mean cycles per packet.
    pub total: f64,
    /// Mean cycles per packet of the `rules` stage (hooks, chains, rules).
    pub rules: f64,
    /// The last packet was dropped.
    pub dropped: bool,
}

/// What offsim predicts for `pkts` (after the first `skip`) through `ruleset` on `cpu`.
pub fn predict(
    cpu: &CpuConfig,
    ruleset: &str,
    iif: &str,
    oif: &str,
    pkts: &[PacketMeta],
    skip: usize,
) -> Result<Prediction, CalError> {
    let rs = Ruleset::from_str(
        ruleset,
        "ruleset",
        &offsim_kernel::datapath::load_options(iif, oif),
    )
    .map_err(|e| CalError::Input(e.to_string()))?;
    let cfg = DpConfig {
        lan: iif.into(),
        wan: oif.into(),
        flowtables: FlowtableMode::Software,
        ..DpConfig::default()
    };
    let mut dp = Datapath::new(rs, cfg, FlowBook::new(false, false, None));
    let (mut total, mut rules, mut n, mut dropped) = (0.0, 0.0, 0usize, false);
    for (i, m) in pkts.iter().enumerate() {
        let out = dp.process(m.ts, m, Side::Lan);
        dropped = matches!(out.fate, offsim_kernel::datapath::Fate::Dropped(_));
        if i >= skip {
            let pc = cpu.packet_cycles(&out.drivers, 0.0);
            total += pc.total;
            rules += pc.by_stage[Stage::Rules.index()];
            n += 1;
        }
    }
    let n = n.max(1) as f64;
    Ok(Prediction {
        total: total / n,
        rules: rules / n,
        dropped,
    })
}

/// The conntrack phase: `ct` loads, an established entry's lookup, a new entry, an
/// unconfirmed one.
#[allow(clippy::too_many_arguments)]
pub(crate) fn conntrack(
    b: &Bench,
    figs: &[Figure],
    speed: &Speed,
    reference: &Reference,
    packets_per_run: u64,
    repeats: usize,
    ghz: f64,
    log: &mut dyn FnMut(&str),
) -> Result<Vec<Figure>, CalError> {
    let n = 100usize.min(packets_per_run as usize / 20).max(10);
    // the phase's other flows (4999 for the new tuples) take the reference baseline's
    // dispatch
    let rs = ct_bench_ruleset(n) + &reference.table(&[4999, 5001, 5002, 5003]);
    let sp = (reference, speed);
    b.router_ruleset(&rs)?;
    // new entries must stay unique and the table small: short UDP timeouts, and a flush
    // before each repeat where the conntrack tool exists
    b.router_sysctl("net.netfilter.nf_conntrack_udp_timeout=1")?;
    let mut flush = flusher(b);
    let mut nothing = || Ok(());
    let mut out = Vec::new();
    let mut cpu = config_with(figs)?;
    let fixed = |sport: u16| move |_: usize| Flow::Fixed { sport };
    for s in [5000u16, 5001, 5002, 5003, reference.flow] {
        b.run(Flow::Fixed { sport: s }, 2_000)?;
    }
    let model = |cpu: &CpuConfig, flow: Flow| -> Result<f64, CalError> {
        predict(cpu, &rs, "lan0", "wan0", &packets(flow, 400), 1).map(|p| p.rules)
    };

    // ct loads: n rules `ct mark X drop` behind a jump, tracked flow 5002 vs 5000
    // the fixed flow `test` against `base`, measured and as the model counts its rules
    let mut fixed_pair = |base: u16, test: u16| {
        paired(
            b,
            &mut fixed(base),
            &mut fixed(test),
            packets_per_run,
            repeats,
            ghz,
            &mut nothing,
            sp,
        )
    };
    let modelled = |cpu: &CpuConfig, base: u16, test: u16| -> Result<f64, CalError> {
        Ok(model(cpu, Flow::Fixed { sport: test })? - model(cpu, Flow::Fixed { sport: base })?)
    };
    let v = fixed_pair(5000, 5002)?;
    let without_ct = modelled(&cpu, 5000, 5002)?;
    let per = v.map(|d| (d - without_ct) / n as f64);
    // the model above already counts the ct loads at the base preset's figure
    let ct_now = cpu.cycles.expr_ct;
    let f = figure_of(
        &per,
        -ct_now,
        Some("expr_ct"),
        &format!(
            "{n} x `ct mark X drop` on an established flow, less what offsim counts for the rules and the jump to them"
        ),
        "load",
    );
    log(&format!("  ct load {:.1} cycles", f.cycles));
    cpu.cycles.expr_ct = f.cycles.max(0.0);
    out.push(f);

    // an established entry: tracked 5000 vs `notrack` 5001; and, as a check on the hook
    // phase's `nat_mangle` (routers side by side), the NAT of an established connection in
    // one router: masqueraded 5003 vs 5000 (both pass the NAT hook)
    for (base, test, key, field, what) in [
        (
            5001,
            5000,
            "ct lookup",
            Some("ct_lookup"),
            "established UDP flow tracked vs `notrack`, less what offsim counts for the two flows' rules",
        ),
        (
            5000,
            5003,
            "check: nat mangle in one router",
            None,
            "check: established UDP flow masqueraded vs not in one router (both through the NAT hook), less what offsim counts for the rules",
        ),
    ] {
        let v = fixed_pair(base, test)?;
        let rules = modelled(&cpu, base, test)?;
        let f = figure_of(&v, rules, field, what, "packet");
        log(&format!("  {key} {:.1} cycles", f.cycles));
        out.push(f);
    }

    // new entries: a new tuple per datagram, tracked (10.100/16) vs `notrack` (10.101/16)
    let mut off = 0u64;
    let mut next = move |net: u8| {
        off += packets_per_run;
        Flow::NewEach { net, offset: off }
    };
    // unconfirmed entries: the same, dropped in FORWARD (10.102/16 tracked, 10.103/16 not)
    let phases = [
        (
            (100, 101),
            "ct_new",
            "a new UDP tuple per datagram, tracked vs `notrack`, less what offsim counts for the rules",
        ),
        (
            (102, 103),
            "ct_unconfirmed",
            "a new UDP tuple per datagram dropped in FORWARD, tracked vs `notrack`, less what offsim counts for the rules",
        ),
    ];
    for ((tracked, untracked), field, what) in phases {
        let v = new_entries(
            b,
            (tracked, untracked),
            packets_per_run,
            repeats,
            ghz,
            &mut flush,
            sp,
        )?;
        let rules = model(&cpu, next(tracked))? - model(&cpu, next(untracked))?;
        let f = figure_of(&v, rules, Some(field), what, "connection");
        log(&format!("  {field} {:.1} cycles", f.cycles));
        out.push(f);
    }
    b.router_sysctl("net.netfilter.nf_conntrack_udp_timeout=30")?;
    Ok(out)
}

/// The bench ruleset of the conntrack phase: `notrack` for flow 5001 and 10.101/16 and
/// 10.103/16, `n` `ct mark` rules behind a jump for flow 5002, drops of 10.102/16 and
/// 10.103/16 in FORWARD, masquerade of flow 5003.
fn ct_bench_ruleset(n: usize) -> String {
    let mut rs = String::from(
        "table ip cal_ct {\n chain pre { type filter hook prerouting priority -300; policy accept;\n  udp sport 5001 notrack\n  ip daddr 10.101.0.0/16 notrack\n  ip daddr 10.103.0.0/16 notrack\n }\n chain ctm {\n",
    );
    for _ in 0..n {
        rs += "  ct mark 0x1234 drop\n";
    }
    rs += " }\n chain fw { type filter hook forward priority 0; policy accept;\n  udp sport 5002 jump ctm\n  ct mark 0x1234 drop\n  ip daddr 10.102.0.0/16 drop\n  ip daddr 10.103.0.0/16 drop\n }\n chain post { type nat hook postrouting priority srcnat; policy accept;\n  udp sport 5003 masquerade\n }\n}\n";
    rs
}

/// Whether the `conntrack` tool is on the PATH.
fn has_conntrack_tool() -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join("conntrack").is_file()))
        .unwrap_or(false)
}

/// Flushes the router's conntrack table before a run, where the `conntrack` tool exists.
fn flusher(b: &Bench) -> impl FnMut() -> Result<(), CalError> + use<> {
    let flush_tool = has_conntrack_tool();
    let ns = b.ns[1].clone();
    move || -> Result<(), CalError> {
        if flush_tool {
            let _ = sh(&["ip", "netns", "exec", &ns, "conntrack", "-F"], None);
        }
        Ok(())
    }
}

/// A new-entries phase: a new UDP tuple per datagram to 10.`tracked`.0.0/16 (tracked) vs
/// 10.`untracked`.0.0/16 (`notrack` in the bench ruleset); per repeat, the difference.
fn new_entries(
    b: &Bench,
    (tracked, untracked): (u8, u8),
    packets_per_run: u64,
    repeats: usize,
    ghz: f64,
    flush: &mut dyn FnMut() -> Result<(), CalError>,
    sp: (&Reference, &Speed),
) -> Result<Stat, CalError> {
    let step = packets_per_run;
    let (mut seq_a, mut seq_b) = (0u64, 0u64);
    paired(
        b,
        &mut |_| {
            seq_a += step;
            Flow::NewEach {
                net: untracked,
                offset: seq_a,
            }
        },
        &mut |_| {
            seq_b += step;
            Flow::NewEach {
                net: tracked,
                offset: seq_b,
            }
        },
        packets_per_run,
        repeats,
        ghz,
        flush,
        sp,
    )
}

/// One ruleset's check: the kernel's increment and offsim's prediction.
#[derive(Clone, Debug)]
pub struct CheckResult {
    /// Kernel: median cycles per packet the ruleset adds over the baseline, as measured.
    pub kernel_raw: f64,
    /// The same at the preset's speed: each repeat scaled by the same-run reference.
    pub kernel: f64,
    /// Smallest and largest over the repeats.
    pub kernel_min: f64,
    /// Largest.
    pub kernel_max: f64,
    /// offsim: predicted cycles per packet the ruleset adds over the same baseline.
    pub offsim: f64,
    /// offsim's `rules` stage alone (hooks, chains, rules), with minus without.
    pub offsim_rules: f64,
    /// offsim drops the flow with the ruleset.
    pub dropped: bool,
}

/// `offsim calibrate --check RULESET`: one UDP flow from `iif` to `oif` through the
/// ruleset, against a baseline that differs only in the rules: a ruleset that turns
/// conntrack on (a regular chain with a `ct` expression: `nft_ct_get_init` registers
/// conntrack, and nothing runs per packet), with an empty forward base chain of policy drop
/// when the ruleset drops the flow (so both pay the same early exit and unconfirmed entry).
/// The baseline, the ruleset and the reference stay loaded on three routers side by side
/// ([`Bench::with_routers`]) and the flow crosses each in rounds. offsim's side is the same difference, of its own predictions for
/// the two rulesets.
pub fn check_ruleset(
    ruleset: &str,
    cpu: &CpuConfig,
    iif: &str,
    oif: &str,
    effort: super::Effort,
    bench_cpu: usize,
    log: &mut dyn FnMut(&str),
) -> Result<CheckResult, CalError> {
    super::preflight()?;
    let ghz = super::cpu_ghz()?;
    let (_, packets_per_run, repeats) = effort.sizes();
    let flow = Flow::Fixed { sport: 5000 };
    let pk = packets(flow, 400);
    let with = predict(cpu, ruleset, iif, oif, &pk, 1)?;
    let base_rules = if with.dropped {
        "table ip offsim_base {\n chain c {\n  ct mark 0x1234\n }\n chain f {\n  type filter hook forward priority 0; policy drop;\n }\n}\n"
    } else {
        "table ip offsim_base {\n chain c {\n  ct mark 0x1234\n }\n}\n"
    };
    let without = predict(cpu, base_rules, iif, oif, &pk, 1)?;
    // the same-run reference: the baseline plus 200 non-matching `ip saddr X drop` rules in
    // a forward chain of their own; the machine's speed of the moment is the ratio of what
    // the preset says they cost to what they cost now
    let mut ref_rules = base_rules.trim_end().trim_end_matches('}').to_string();
    ref_rules += " chain r {\n  type filter hook forward priority -10; policy accept;\n";
    for _ in 0..200 {
        ref_rules += "  ip saddr 172.16.0.1 drop\n";
    }
    ref_rules += " }\n}\n";
    let expected_ref = predict(cpu, &ref_rules, iif, oif, &pk, 1)?.total - without.total;
    log(&format!(
        "  offsim: the flow is {} by the ruleset; the reference costs {expected_ref:.0} cycles on {}",
        if with.dropped { "dropped" } else { "forwarded" },
        cpu.name
    ));
    // the three rulesets stay loaded on three routers side by side, the flow through each
    // in rounds: all three in the same moments, no reload between them, and each router's
    // connection starts under its own ruleset, as in offsim's prediction
    let b = Bench::with_routers(iif, oif, bench_cpu, 3)?;
    for (k, rs) in [base_rules, ruleset, ref_rules.as_str()].iter().enumerate() {
        b.ruleset_of(k, rs)?;
    }
    let via = |router: usize| Flow::Via {
        sport: 5000,
        router,
    };
    for k in 0..3 {
        b.run(via(k), 2_000)?;
    }
    let chunks = effort.chunks();
    let (mut raw, mut norm) = (Vec::with_capacity(repeats), Vec::with_capacity(repeats));
    for r in 0..repeats {
        let x = b.run_mixed(
            &mut |k, _| via(k),
            3,
            packets_per_run / chunks as u64,
            chunks,
            &mut || Ok(()),
        )?;
        let d = (x[1] - x[0]) * ghz;
        let dref = (x[2] - x[0]) * ghz;
        let k = expected_ref / dref;
        log(&format!(
            "  repeat {}: kernel +{d:.0} cycles/packet, reference +{dref:.0} (speed ratio {k:.2}): +{:.0} at the preset's speed",
            r + 1,
            d * k
        ));
        raw.push(d);
        norm.push(d * k);
    }
    let f = figure_of(&Stat::of(&norm), 0.0, None, "", "packet");
    let fr = figure_of(&Stat::of(&raw), 0.0, None, "", "packet");
    Ok(CheckResult {
        kernel_raw: fr.cycles,
        kernel: f.cycles,
        kernel_min: f.min,
        kernel_max: f.max,
        offsim: with.total - without.total,
        offsim_rules: with.rules - without.rules,
        dropped: with.dropped,
    })
}
