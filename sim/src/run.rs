//! `offsim run`: each configuration (offload policy) of a scenario gets a fresh datapath
//! (ruleset, conntrack, flowtables), NIC and CPU, and the trace is replayed through the
//! [`Engine`]. Configurations run side by side, each on a thread of its own, fed by one
//! decode of the trace on one more thread (`feed.rs`); with a one-thread pool (`--jobs 1`)
//! they run one after another on the calling thread. Results are assembled in scenario
//! order, so the report does not depend on the thread count.

use std::fs::File;

use offsim_kernel::conntrack::{CtConfig, CtTimeouts};
use offsim_kernel::datapath::{
    Datapath, DpConfig, FlowtableMode, LAN_IFINDEX, OffloadGate, WAN_IFINDEX,
};
use offsim_kernel::fib::Fib;
use offsim_kernel::flows::FlowBook;
use offsim_kernel::sides::SideSplitter;
use offsim_nicmodel::Nic;
use offsim_reports::schema as rep;

use crate::engine::{Engine, EngineConfig};
use crate::prepare::{Prepared, RunError};
use crate::report;
use crate::scenario::{Admission, CtFlavour, Policy, Scenario};
use crate::source::{Decoder, Scan, SourceError, TraceSource};

/// The result of one configuration.
pub struct RunOutcome {
    /// The policy.
    pub policy: Policy,
    /// The engine after the run.
    pub engine: Engine,
}

fn ct_config(sc: &Scenario) -> CtConfig {
    CtConfig {
        tcp_loose: sc.spec.kernel.tcp_loose,
        tcp_be_liberal: sc.spec.kernel.tcp_be_liberal,
        timeouts: match sc.ct {
            CtFlavour::Kernel => CtTimeouts::kernel(),
            CtFlavour::Openwrt => CtTimeouts::openwrt(),
        },
        max_entries: sc.spec.kernel.conntrack_max,
        buckets: sc.spec.kernel.conntrack_buckets,
        ..CtConfig::default()
    }
}

/// The decoder of `p`'s trace, as every configuration replays it; it also counts the
/// trace's totals when `p` was prepared without its first pass.
fn decoder(p: &Prepared) -> Result<Decoder, SourceError> {
    let d = Decoder::new(
        p.input.clone(),
        p.retimer,
        p.scenario.spec.replay.loops.unwrap_or(1),
    )?;
    Ok(match p.assumed() {
        Some(a) => d.counting(a),
        None => d,
    })
}

/// Runs one configuration, reading the trace on this thread.
pub fn run_policy(p: &Prepared, policy: &Policy) -> Result<RunOutcome, RunError> {
    run_policy_scanning(p, policy, false)
}

/// [`run_policy`]; with `scan`, its decode also scans the trace's first packets for
/// [`Prepared::findings`], so that `run` does not read the trace once more for them
/// (`sweep` and `plan` runs do not scan: their points and probes would each repeat it).
fn run_policy_scanning(p: &Prepared, policy: &Policy, scan: bool) -> Result<RunOutcome, RunError> {
    let mut engine = engine(p, policy)?;
    let mut dec = decoder(p)?;
    if scan {
        dec = dec.with_scan(Scan::new(&p.scenario.sides));
    }
    let mut src = TraceSource::new(dec).with_progress(p.progress.clone());
    engine.run(&mut src)?;
    if let Some(f) = src.take_findings() {
        p.set_findings(f);
    }
    if let Some(c) = src.take_counted() {
        p.set_counted(c);
    }
    finish(policy, engine)
}

/// The engine after its run, or the error writing its flow records.
fn finish(policy: &Policy, mut engine: Engine) -> Result<RunOutcome, RunError> {
    if let Some(e) = engine.take_flow_write_error() {
        return Err(RunError::Io {
            path: "flows.jsonl".into(),
            source: e,
        });
    }
    Ok(RunOutcome {
        policy: policy.clone(),
        engine,
    })
}

/// A configuration's engine, ready to run: its datapath, NIC and CPU.
fn engine(p: &Prepared, policy: &Policy) -> Result<Engine, RunError> {
    let sc = &p.scenario;
    let mode = match (policy.flowtable, policy.hardware) {
        (false, _) => FlowtableMode::Disabled,
        (true, false) => FlowtableMode::Software,
        (true, true) => FlowtableMode::Hardware,
    };
    // Validated when the scenario was resolved.
    let fib = Fib::build(
        &sc.fib,
        (&sc.spec.ruleset.iif, LAN_IFINDEX),
        (&sc.spec.ruleset.oif, WAN_IFINDEX),
        &sc.sides,
    )
    .map_err(|e| {
        RunError::Scenario(crate::scenario::ScenarioError::Invalid {
            file: sc.file.path.display().to_string(),
            key: "ruleset".into(),
            msg: e.to_string(),
        })
    })?;
    let dp_cfg = DpConfig {
        lan: sc.spec.ruleset.iif.clone(),
        wan: sc.spec.ruleset.oif.clone(),
        flavour: sc.flavour,
        ct: ct_config(sc),
        ft_timeout_s: sc.spec.kernel.flowtable_timeout_s,
        fib,
        flowtables: mode,
        gate: OffloadGate {
            after_packets: policy.after_packets,
            after_bytes: policy.after_bytes,
            min_pps: policy.min_pps,
        },
        seed: sc.spec.seed,
    };
    let jsonl: Option<Box<dyn std::io::Write + Send>> = match &p.flows_dir {
        Some(d) => {
            let path = d.join(format!("flows-{}.jsonl", sanitize(&policy.name)));
            let f = File::create(&path).map_err(|source| RunError::Io {
                path: path.display().to_string(),
                source,
            })?;
            Some(Box::new(std::io::BufWriter::new(f)))
        }
        None => None,
    };
    let book = FlowBook::new(policy.flowtable, policy.hardware, jsonl);
    let dp = Datapath::new(p.ruleset.clone(), dp_cfg, book);
    let mut nic_cfg = p.nic.clone();
    nic_cfg.table.eviction = match policy.admission {
        Admission::Refuse => nic_cfg.table.eviction,
        Admission::EvictLru => offsim_nicmodel::config::Eviction::Lru,
        Admission::EvictLeastActive => offsim_nicmodel::config::Eviction::LeastActive,
    };
    let mut nic = Nic::new(nic_cfg).map_err(|e| RunError::Nic {
        file: sc.file.path.display().to_string(),
        msg: e.to_string(),
    })?;
    if !policy.hardware {
        nic.disable_offload();
    }
    let warmup = crate::replay::secs_to_ns(sc.spec.replay.warmup_s.unwrap_or(0.0));
    let ecfg = EngineConfig {
        interval_ns: p.series_interval_ns(),
        warmup_ns: warmup,
        hardware: policy.hardware,
        events: sc.events.clone(),
        egress: sc.egress.clone(),
        event_rulesets: p.event_rulesets.clone(),
        // closed-loop senders retry their own handshakes
        retry_handshakes: sc.closed_loop.is_none(),
        closed_loop: sc.closed_loop,
        ..EngineConfig::default()
    };
    Ok(Engine::new(
        ecfg,
        sc.cpu.clone(),
        dp,
        nic,
        SideSplitter::new(sc.sides.clone()),
    ))
}

fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Runs one configuration and reduces its engine to the report's run at once, so the
/// engine's state (conntrack, flowtables, NIC) is freed as soon as the configuration ends.
pub fn run_to_report(p: &Prepared, policy: &Policy, prefix: &str) -> Result<rep::Run, RunError> {
    run_to_report_scanning(p, policy, prefix, false)
}

/// [`run_to_report`], scanning the trace's first packets with `scan`
/// ([`run_policy_scanning`]).
fn run_to_report_scanning(
    p: &Prepared,
    policy: &Policy,
    prefix: &str,
    scan: bool,
) -> Result<rep::Run, RunError> {
    let mut o = run_policy_scanning(p, policy, scan)?;
    Ok(report::run_report(p, &o.policy, &mut o.engine, prefix))
}

/// Runs every configuration of the scenario and builds the report. With one thread in the
/// pool (`--jobs 1`) they run one after another, each reading the trace; otherwise all at
/// once, each on a thread of its own beside one thread that reads the trace for all of
/// them (`feed.rs`).
///
/// All at once by default rather than in groups of the pool's size: each group reads the
/// trace again, and a last group smaller than the pool leaves cores idle; the price is every
/// configuration's state held at once, which [`run_scenario_with`] bounds (`--jobs N`).
pub fn run_scenario(p: &Prepared) -> Result<rep::Report, RunError> {
    run_scenario_with(p, None)
}

/// [`run_scenario`] with at most `at_once` configurations simulating at once (`--jobs`):
/// each group of that many shares one decode of the trace (later groups read it again), and
/// memory holds one group's state. `None`: all of them at once (one after another when the
/// thread pool has a single thread).
pub fn run_scenario_with(p: &Prepared, at_once: Option<usize>) -> Result<rep::Report, RunError> {
    debug_assert!(!p.deferred(), "deferred: run_scenario_deferred");
    let runs = runs(p, at_once)?;
    let found = p.findings()?;
    Ok(report::build_report(p, found, runs, rep::ReportKind::Run))
}

/// [`run_scenario_with`] for a scenario prepared by [`crate::prepare::prepare_deferred`]
/// (or by `prepare`: then the same): [`speculate`], then [`run_scenario_after`]. The report,
/// or the error, is the one [`run_scenario_with`] gives after `prepare`.
pub fn run_scenario_deferred(
    p: &mut Prepared,
    at_once: Option<usize>,
) -> Result<rep::Report, RunError> {
    let s = speculate(p, at_once)?;
    run_scenario_after(p, s, at_once)
}

/// The runs of a scenario whose first pass was deferred, done before it settled
/// ([`speculate`]); `None` when they cannot stand (or there were none).
pub struct Speculation(Option<Vec<rep::Run>>);

/// Runs a deferred `p`'s configurations on what its first packet says, then settles what
/// the first pass would have ([`Prepared::settle`]): the runs are kept when the trace fit
/// what they assumed. The error is the one `prepare` would have given (`p` is then as
/// `prepare` leaves it on success). Nothing is written outside: a caller that prepares its
/// outputs between this and [`run_scenario_after`] does so in the order `prepare`, outputs,
/// runs gives. A `p` that is not deferred runs nothing here.
pub fn speculate(p: &mut Prepared, at_once: Option<usize>) -> Result<Speculation, RunError> {
    Ok(Speculation(speculate_with(p, |p| runs(p, at_once))?))
}

/// [`speculate`] with any runs: their result when `p` was deferred and they stand.
fn speculate_with<T>(
    p: &mut Prepared,
    run: impl Fn(&Prepared) -> Result<T, RunError>,
) -> Result<Option<T>, RunError> {
    if !p.deferred() {
        return Ok(None);
    }
    let ran = run(p);
    let held = p.settle()?;
    Ok(ran.ok().filter(|_| held))
}

/// The report of `p`'s runs: those of `s` where they stand, else run now
/// ([`run_scenario_with`]).
pub fn run_scenario_after(
    p: &Prepared,
    s: Speculation,
    at_once: Option<usize>,
) -> Result<rep::Report, RunError> {
    let runs = match s.0 {
        Some(r) => r,
        None => runs(p, at_once)?,
    };
    let found = p.findings()?;
    Ok(report::build_report(p, found, runs, rep::ReportKind::Run))
}

/// What `run` makes of `p`'s runs, once the deferral of `p`'s first pass has settled
/// ([`crate::prepare::prepare_deferred`]): [`speculate`] for runs of any kind (a sweep
/// point's). If the trace did not fit what the runs assumed, or a run failed, they are done
/// again as after a first pass, so what comes out is what `run` gives on `p` prepared by
/// `prepare`. A `p` not deferred is run once.
pub(crate) fn settled<T>(
    p: &mut Prepared,
    run: impl Fn(&Prepared) -> Result<T, RunError>,
) -> Result<T, RunError> {
    match speculate_with(p, &run)? {
        Some(done) => Ok(done),
        None => run(p),
    }
}

/// Every configuration's run, in scenario order ([`run_scenario_with`]).
fn runs(p: &Prepared, at_once: Option<usize>) -> Result<Vec<rep::Run>, RunError> {
    let pols = &p.scenario.policies;
    let n = at_once.unwrap_or(pols.len()).max(1);
    // One thread: each configuration reads the trace on it. Otherwise even a single
    // configuration reads on one thread and simulates on another.
    let runs = if rayon::current_num_threads() < 2 {
        // the first configuration's decode scans for the findings
        pols.iter()
            .enumerate()
            .map(|(i, pol)| run_to_report_scanning(p, pol, "", i == 0 && p.found().is_none()))
            .collect::<Result<Vec<_>, _>>()?
    } else {
        let mut runs = Vec::with_capacity(pols.len());
        for group in pols.chunks(n) {
            runs.extend(run_group(p, group)?);
        }
        runs
    };
    Ok(runs)
}

/// Runs `group`'s configurations side by side over one decode of the trace; the first
/// decode also scans the trace's first packets ([`Prepared::findings`]).
fn run_group(p: &Prepared, group: &[Policy]) -> Result<Vec<rep::Run>, RunError> {
    let mut dec = decoder(p)?;
    if p.found().is_none() {
        dec = dec.with_scan(Scan::new(&p.scenario.sides));
    }
    let (feeder, sources) = crate::feed::share(dec, group.len());
    let (read, runs) = std::thread::scope(|s| {
        let reader = s.spawn(move || feeder.run());
        let engines: Vec<_> = group
            .iter()
            .zip(sources)
            .map(|(pol, src)| {
                let mut src = src.with_progress(p.progress.clone());
                s.spawn(move || -> Result<rep::Run, RunError> {
                    let mut engine = engine(p, pol)?;
                    let done = engine.run(&mut src);
                    // Stop listening at once: the reader need not wait on a failed engine.
                    drop(src);
                    done?;
                    let mut o = finish(pol, engine)?;
                    Ok(report::run_report(p, &o.policy, &mut o.engine, ""))
                })
            })
            .collect();
        let runs: Vec<_> = engines.into_iter().map(join).collect();
        (join(reader), runs)
    });
    let decoded = read.map_err(RunError::Source)?;
    if let Some(f) = decoded.found {
        p.set_findings(f);
    }
    if let Some(c) = decoded.counted {
        p.set_counted(c);
    }
    // In scenario order, as the sequential runs would fail: a configuration that stopped
    // because the reader did has the reader's error, returned above.
    runs.into_iter().collect()
}

/// A scoped thread's result; its panic, resumed.
fn join<T>(h: std::thread::ScopedJoinHandle<'_, T>) -> T {
    h.join().unwrap_or_else(|e| std::panic::resume_unwind(e))
}

#[cfg(test)]
mod test {
    //! A run prepared without its first pass (`prepare_deferred`) gives the report, or the
    //! error, of one prepared with it, whether what it assumed held or not.

    use std::path::{Path, PathBuf};

    use offsim_traces::r#gen::{GenConfig, Generator, Profile, Stop};
    use offsim_traces::parse::LinkType;
    use offsim_traces::pcap::PcapWriter;
    use offsim_traces::time::SimTime;

    use super::*;
    use crate::prepare::{prepare, prepare_deferred};
    use crate::scenario::ScenarioFile;
    use crate::scratch::Scratch;

    fn dir(name: &str) -> Scratch {
        Scratch::new("deferred", name)
    }

    /// `packets` generated home-router frames with their times.
    fn frames(packets: u64) -> Vec<(SimTime, Vec<u8>)> {
        let cfg = GenConfig::new(Profile::HomeRouter, 7, Stop::Packets(packets));
        let mut g = Generator::new(&cfg).unwrap();
        let mut v = Vec::new();
        while let Some((ts, f)) = g.next_frame() {
            v.push((ts, f.to_vec()));
        }
        v
    }

    /// A pcap of `frames`, cut `cut` bytes short of its end.
    fn capture(d: &Path, frames: &[(SimTime, Vec<u8>)], cut: usize) -> PathBuf {
        let mut w = PcapWriter::new(Vec::new(), LinkType::Ethernet, 65535).unwrap();
        for (ts, f) in frames {
            w.write(*ts, f, f.len() as u32).unwrap();
        }
        let mut bytes = w.finish().unwrap();
        bytes.truncate(bytes.len() - cut);
        let p = d.join("t.pcap");
        std::fs::write(&p, bytes).unwrap();
        p
    }

    /// A scenario of fw4 on an MT7621 over `trace`, every configuration, with `replay` as
    /// its `[replay]` table and `more` after it.
    fn scenario(d: &Path, trace: &Path, replay: &str, more: &str) -> ScenarioFile {
        let rules =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/rulesets/home-fw4.nft");
        let body = format!(
            "name = \"t\"\npolicies = [\"none\", \"software\", \"hardware\"]\n[trace]\nfile = \
             {trace:?}\n[ruleset]\nfile = {rules:?}\niif = \"lan0\"\noif = \"wan0\"\nsides = \
             \"flow\"\n[cpu]\npreset = \"mt7621\"\n[nic]\npreset = \"mt7621\"\n[replay]\n\
             {replay}\n{more}"
        );
        let p = d.join("s.toml");
        std::fs::write(&p, body).unwrap();
        ScenarioFile::load(&p).unwrap()
    }

    /// The report (or error) after `prepare`, and after `prepare_deferred`, on `threads`
    /// threads; and whether the deferred runs' assumption held (`None`: not deferred).
    fn both(f: &ScenarioFile, threads: usize) -> (String, String, Option<bool>) {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            let show = |r: Result<rep::Report, RunError>| match r {
                Ok(r) => serde_json::to_string(&r).unwrap(),
                Err(e) => format!("error: {e}"),
            };
            let eager = prepare(f.resolve().unwrap()).and_then(|p| run_scenario_with(&p, None));
            let held = prepare_deferred(f.resolve().unwrap())
                .ok()
                .filter(Prepared::deferred)
                .map(|mut p| {
                    let ran = runs(&p, None);
                    p.settle().unwrap_or(false) && ran.is_ok()
                });
            let deferred = prepare_deferred(f.resolve().unwrap()).and_then(|mut p| {
                let r = run_scenario_deferred(&mut p, None);
                assert!(!p.deferred(), "settled");
                r
            });
            (show(eager), show(deferred), held)
        })
    }

    /// Checks both thread counts; returns whether the assumption held.
    fn same(f: &ScenarioFile) -> Option<bool> {
        let mut held = Vec::new();
        for threads in [1, 2] {
            let (a, b, h) = both(f, threads);
            assert!(
                a == b,
                "{threads} thread(s): deferred report differs\n{a}\n{b}"
            );
            held.push(h);
        }
        assert_eq!(held[0], held[1]);
        held[0]
    }

    #[test]
    fn paced_and_recorded_replays_need_no_first_pass() {
        let d = dir("held");
        let t = capture(&d, &frames(3000), 0);
        assert_eq!(same(&scenario(&d, &t, "rate_gbps = 0.5", "")), Some(true));
        assert_eq!(same(&scenario(&d, &t, "speedup = 4.0", "")), Some(true));
        assert_eq!(same(&scenario(&d, &t, "", "")), Some(true));
        // The generator, too.
        let g = scenario(&d, &t, "rate_pps = 20000.0", "")
            .with(
                "trace",
                toml::toml! { [generate] profile = "enterprise" packets = 2000 }.into(),
            )
            .unwrap();
        assert_eq!(same(&g), Some(true));
        // Several loops (their period is the totals'), or a warm-up, are not deferred.
        assert_eq!(
            same(&scenario(&d, &t, "rate_gbps = 0.5\nloops = 2", "")),
            None
        );
        assert_eq!(
            same(&scenario(&d, &t, "rate_gbps = 0.5\nwarmup_s = 0.001", "")),
            None
        );
    }

    /// A packet older than the first: recorded timing counts from the oldest, so the runs
    /// are done again; paced timing does not care.
    #[test]
    fn an_older_packet_later_in_the_capture_redoes_recorded_runs() {
        let d = dir("older");
        let mut f = frames(3000);
        f[1500].0 = SimTime(f[0].0.0 - 1_000_000);
        let t = capture(&d, &f, 0);
        assert_eq!(same(&scenario(&d, &t, "speedup = 1.0", "")), Some(false));
        assert_eq!(same(&scenario(&d, &t, "rate_gbps = 0.5", "")), Some(true));
    }

    /// A replay long enough to widen the series interval is done again with it: one whose
    /// arrivals go past what the runs assumed (3000 packets at 1000 pkt/s: 3 s, more than
    /// 2000 intervals of 1 ms), and one whose last arrival does not (2001 packets: at 2 s,
    /// the 2000th interval) but whose totals do (the replay lasts 2.001 s).
    #[test]
    fn a_wider_series_interval_redoes_the_runs() {
        for packets in [3000, 2001] {
            let d = dir(&format!("wide-{packets}"));
            let t = capture(&d, &frames(packets), 0);
            let f = scenario(&d, &t, "rate_pps = 1000.0", "[report]\ninterval_ms = 1\n");
            assert_eq!(same(&f), Some(false), "{packets}");
            assert!(
                both(&f, 2).1.contains("\"interval_ns\":2000000"),
                "{packets}"
            );
        }
    }

    /// A capture that looks, from its end, too long for what a deferred run assumes is not
    /// deferred (it would be simulated twice); paced faster, it is.
    #[test]
    fn a_long_looking_capture_is_not_deferred() {
        let d = dir("long");
        // 6000 packets 50 ms apart: 300 s as recorded, some 6 MB.
        let mut f = frames(6000);
        let t0 = f[0].0.0;
        for (i, x) in f.iter_mut().enumerate() {
            x.0 = SimTime(t0 + i as u64 * 50_000_000);
            x.1.resize(x.1.len().max(1000), 0);
        }
        let t = capture(&d, &f, 0);
        assert!(std::fs::metadata(&t).unwrap().len() > 4 << 20);
        let deferred = |replay: &str| {
            let f = scenario(&d, &t, replay, "");
            prepare_deferred(f.resolve().unwrap()).unwrap().deferred()
        };
        assert!(!deferred("speedup = 1.0"));
        assert!(deferred("speedup = 10.0"));
        assert!(deferred("rate_gbps = 1.0"));
        assert!(!deferred("rate_pps = 20.0"));
    }

    /// A capture cut short in its last record warns the same; one damaged in the middle
    /// fails with the first pass's error; an empty one too.
    #[test]
    fn damaged_captures_warn_and_fail_as_after_a_first_pass() {
        let d = dir("damaged");
        let f = frames(3000);
        let t = capture(&d, &f, 7);
        let (a, b, held) = both(&scenario(&d, &t, "rate_gbps = 0.5", ""), 2);
        assert_eq!(a, b);
        assert_eq!(held, Some(true));
        assert!(a.contains("cut short"), "{a}");

        let mut bytes = std::fs::read(capture(&d, &f, 0)).unwrap();
        let at = 24 + f[..2000].iter().map(|(_, x)| 16 + x.len()).sum::<usize>();
        bytes[at + 8..at + 12].copy_from_slice(&u32::MAX.to_le_bytes());
        std::fs::write(&t, &bytes).unwrap();
        for threads in [1, 2] {
            let (a, b, _) = both(&scenario(&d, &t, "rate_gbps = 0.5", ""), threads);
            assert!(a.starts_with("error: "), "{a}");
            assert_eq!(a, b);
        }

        std::fs::write(&t, &bytes[..24]).unwrap();
        let (a, b, held) = both(&scenario(&d, &t, "rate_gbps = 0.5", ""), 2);
        assert!(a.contains("no packets"), "{a}");
        assert_eq!((a, held), (b, None));
    }
}
