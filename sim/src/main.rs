//! The `offsim` command line: a thin layer over the `offsim` library.
//!
//! Exit codes (DESIGN.md §4): 0 success, 1 a finding (regression, SLO missed), 2 bad input
//! or usage.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(name = "offsim", version, about = "Simulator of Linux nftables flow offloading", long_about = None)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Simulate a scenario; write DIR/report.json, index.html and charts.
    Run {
        /// Scenario file (TOML).
        scenario: PathBuf,
        /// Output directory.
        #[arg(long, default_value = "out")]
        out: PathBuf,
        /// Also write per-flow records (DIR/flows-POLICY.jsonl): why each flow was or was
        /// not offloaded.
        #[arg(long)]
        flows: bool,
        /// Worker threads for the configurations (default: all cores).
        #[arg(long)]
        jobs: Option<usize>,
        /// No progress messages on stderr.
        #[arg(long, short)]
        quiet: bool,
    },
    /// Run a scenario's parameter grid in parallel.
    Sweep {
        /// Scenario file (TOML) with a [sweep] table.
        scenario: PathBuf,
        /// Output directory.
        #[arg(long, default_value = "out")]
        out: PathBuf,
        /// Worker threads.
        #[arg(long)]
        jobs: Option<usize>,
        /// Run only shard K of N (K/N, 1-based): points with index % N == K-1.
        #[arg(long)]
        shard: Option<String>,
        /// No progress messages on stderr.
        #[arg(long, short)]
        quiet: bool,
    },
    /// Measure this machine's kernel (needs root and nftables) and write a CPU preset, or
    /// with --check compare offsim's prediction for a ruleset with the kernel.
    Calibrate(CalibrateArgs),
    /// Find the highest offered rate that meets the scenario's SLO.
    Plan {
        /// Scenario file (TOML) with an [slo] (and optionally a [plan] range).
        scenario: PathBuf,
        /// Output directory.
        #[arg(long, default_value = "out")]
        out: PathBuf,
        /// Worker threads (default: all cores).
        #[arg(long)]
        jobs: Option<usize>,
    },
    /// Compare two reports; exit 1 on a regression beyond the tolerance.
    Compare {
        /// Baseline report.json.
        base: PathBuf,
        /// New report.json.
        new: PathBuf,
        /// Tolerance in percent for every metric (default 0.5).
        #[arg(long, value_name = "PCT")]
        tolerance: Option<f64>,
        /// Per-metric tolerance, NAME=PCT or NAME=off (NAME may be a `prefix.*` pattern,
        /// e.g. `latency_ns.*=2`); repeatable.
        #[arg(long = "metric", value_name = "NAME=PCT")]
        metrics: Vec<String>,
        /// List every compared metric, not only those that moved.
        #[arg(long)]
        all: bool,
    },
    /// Re-render HTML/PNG from a saved report.
    Report {
        /// report.json.
        report: PathBuf,
        /// Output directory.
        #[arg(long, default_value = "out")]
        out: PathBuf,
    },
    /// Join sweep shards into one report.
    Merge {
        /// Shard reports.
        #[arg(required = true)]
        shards: Vec<PathBuf>,
        /// Output directory.
        #[arg(long, default_value = "out")]
        out: PathBuf,
    },
    /// Capture files: summarise or generate.
    Trace {
        #[command(subcommand)]
        cmd: TraceCmd,
    },
    /// nftables rulesets: check or evaluate against a trace.
    Rules {
        #[command(subcommand)]
        cmd: RulesCmd,
    },
}

#[derive(Subcommand)]
enum TraceCmd {
    /// Summarise a capture: packets, bytes, duration, protocols, flows.
    Info {
        /// pcap or pcapng file.
        trace: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Generate a realistic synthetic capture.
    Gen(GenArgs),
}

#[derive(Args)]
struct GenArgs {
    /// Traffic profile (home-router, enterprise, datacenter, synflood, imix).
    #[arg(long)]
    profile: String,
    /// Random seed: the same seed gives the same bytes.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Number of packets to generate.
    #[arg(long, conflicts_with = "duration")]
    packets: Option<u64>,
    /// Duration of the capture in seconds (default without --packets: 10 s for home-router
    /// and enterprise, 2 s for synflood, 1 s for datacenter and imix).
    #[arg(long)]
    duration: Option<f64>,
    /// Output pcap file.
    #[arg(short = 'o', long = "output")]
    output: PathBuf,
}

#[derive(Subcommand)]
enum RulesCmd {
    /// Parse and validate a ruleset.
    Check {
        /// Ruleset file (`nft list ruleset` text or `nft -j` JSON).
        ruleset: PathBuf,
    },
    /// Replay a trace as forwarded traffic and print per-rule counters.
    Eval(RulesEvalArgs),
}

#[derive(Args)]
struct CalibrateArgs {
    /// Where to write the preset.
    #[arg(long, default_value = "calibrated.toml")]
    out: PathBuf,
    /// Preset (name or file) whose fields calibration does not measure (platform, driver,
    /// forwarding, NAT, power) the new preset keeps.
    #[arg(long, default_value = "x86-server")]
    base: String,
    /// Name of the written preset.
    #[arg(long, default_value = "calibrated")]
    name: String,
    /// A short measurement (a few seconds) that checks the harness and writes a valid
    /// preset; its figures are rough.
    #[arg(long)]
    quick: bool,
    /// CPU the sender, and with it all the measured softirq work, is pinned to.
    #[arg(long, default_value_t = 1)]
    bench_cpu: usize,
    /// Instead of calibrating: the kernel's measured cost of RULESET on one UDP flow from
    /// --iif to --oif against offsim's prediction with --cpu.
    #[arg(long)]
    check: Option<PathBuf>,
    /// The router's interface towards the sender (with --check).
    #[arg(long, default_value = "lan0")]
    iif: String,
    /// The router's interface towards the sink (with --check).
    #[arg(long, default_value = "wan0")]
    oif: String,
    /// CPU preset (name or file) offsim predicts with (with --check).
    #[arg(long, default_value = "x86-server")]
    cpu: String,
}

#[derive(Args)]
struct RulesEvalArgs {
    /// Ruleset file.
    ruleset: PathBuf,
    /// Trace file.
    trace: PathBuf,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    /// Input interface name.
    #[arg(long, default_value = "lan0")]
    iif: String,
    /// Output interface name.
    #[arg(long, default_value = "wan0")]
    oif: String,
    /// Kernel whose flowtable semantics to model (5.15 … 6.13 = "mid", 6.14+ = "new").
    #[arg(long, default_value = "6.14")]
    kernel: String,
    /// Which interface packets arrive on: `single` (all on --iif), `flow` (a connection's
    /// original direction on --iif, replies on --oif), or `lan=CIDR,...` (by source).
    #[arg(long, default_value = "single")]
    sides: String,
    /// Conntrack: pick up connections mid-stream (nf_conntrack_tcp_loose).
    #[arg(long, default_value_t = 1)]
    ct_loose: u8,
    /// Conntrack: only out-of-window RSTs are invalid (nf_conntrack_tcp_be_liberal).
    #[arg(long, default_value_t = 0)]
    ct_liberal: u8,
    /// Conntrack timeouts: `kernel` defaults or `openwrt` sysctls.
    #[arg(long, default_value = "kernel")]
    ct_timeouts: String,
    /// CPU preset that prices each rule in cycles (a name, or a preset TOML file such as
    /// one `offsim calibrate` wrote).
    #[arg(long, default_value = "x86-server")]
    cpu: String,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match dispatch(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            // A reader that went away (`offsim ... | head`) is not an error.
            let broken_pipe = e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            });
            if broken_pipe {
                return ExitCode::SUCCESS;
            }
            eprintln!("offsim: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn dispatch(cli: Cli) -> Result<u8> {
    match cli.cmd {
        Cmd::Trace { cmd } => match cmd {
            TraceCmd::Info { trace, json } => trace_info(&trace, json),
            TraceCmd::Gen(a) => trace_gen(a),
        },
        Cmd::Run {
            scenario,
            out,
            flows,
            jobs,
            quiet,
        } => run(&scenario, &out, flows, jobs, quiet),
        Cmd::Sweep {
            scenario,
            out,
            jobs,
            shard,
            quiet,
        } => sweep(&scenario, &out, jobs, shard.as_deref(), quiet),
        Cmd::Plan {
            scenario,
            out,
            jobs,
        } => plan(&scenario, &out, jobs),
        Cmd::Compare {
            base,
            new,
            tolerance,
            metrics,
            all,
        } => compare(&base, &new, tolerance, &metrics, all),
        Cmd::Report { report, out } => report_cmd(&report, &out),
        Cmd::Calibrate(a) => calibrate(&a),
        Cmd::Merge { shards, out } => merge(&shards, &out),
        Cmd::Rules { cmd } => match cmd {
            RulesCmd::Check { ruleset } => rules_check(&ruleset),
            RulesCmd::Eval(a) => rules_eval(&a),
        },
    }
}

/// Write `report.json` (unless `skip_json`), `index.html` and the charts into `out`, and
/// list what was written.
fn write_report(report: &offsim_reports::Report, out: &Path, skip_json: bool) -> Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let mut written = Vec::new();
    if !skip_json {
        let json = out.join("report.json");
        std::fs::write(&json, report.to_json_string())
            .with_context(|| format!("writing {}", json.display()))?;
        written.push(json);
    }
    written.extend(offsim_reports::render(report, out)?);
    let mut stdout = std::io::stdout().lock();
    for p in written {
        writeln!(stdout, "{}", p.display())?;
    }
    Ok(())
}

fn thread_pool(jobs: Option<usize>) -> Result<()> {
    if let Some(j) = jobs {
        if j == 0 || j > 4096 {
            anyhow::bail!("--jobs {j}: must be between 1 and 4096");
        }
        // Only fails if a pool exists already, which cannot happen here.
        let _ = rayon::ThreadPoolBuilder::new()
            .num_threads(j)
            .build_global();
    }
    Ok(())
}

fn run(scenario: &Path, out: &Path, flows: bool, jobs: Option<usize>, quiet: bool) -> Result<u8> {
    thread_pool(jobs)?;
    let file = offsim::scenario::ScenarioFile::load(scenario)?;
    let sc = file.resolve()?;
    let mut p = offsim::prepare::prepare(sc)?;
    p.progress = !quiet;
    if flows || p.scenario.spec.report.flows {
        std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
        p.flows_dir = Some(out.to_path_buf());
    }
    if !quiet {
        eprintln!(
            "offsim: {}: {} packets, {} flows, {} configuration(s)",
            p.scenario.spec.name,
            p.pass.totals.packets,
            p.pass.flows,
            p.scenario.policies.len()
        );
    }
    let report = offsim::run::run_scenario(&p)?;
    let mut stdout = std::io::stdout().lock();
    let sc = &p.scenario;
    stdout.write_all(
        offsim::report::summary_text(&report, &|pol| offsim::report::slo_gated(sc, pol)).as_bytes(),
    )?;
    drop(stdout);
    write_report(&report, out, false)?;
    Ok(if offsim::report::slo_missed(&report, &p.scenario) {
        1
    } else {
        0
    })
}

fn sweep(
    scenario: &Path,
    out: &Path,
    jobs: Option<usize>,
    shard: Option<&str>,
    quiet: bool,
) -> Result<u8> {
    let shard = shard
        .map(offsim::sweep::parse_shard)
        .transpose()
        .map_err(anyhow::Error::msg)?;
    thread_pool(jobs)?;
    let file = offsim::scenario::ScenarioFile::load(scenario)?;
    let report = offsim::sweep::run_sweep(&file, shard, !quiet)?;
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(offsim::report::summary_text(&report, &|_| false).as_bytes())?;
    drop(stdout);
    write_report(&report, out, false)?;
    Ok(0)
}

fn plan(scenario: &Path, out: &Path, jobs: Option<usize>) -> Result<u8> {
    thread_pool(jobs)?;
    let file = offsim::scenario::ScenarioFile::load(scenario)?;
    let sc = file.resolve()?;
    let p = offsim::prepare::prepare(sc)?;
    let report = offsim::plan::run_plan(&p)?;
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(offsim::plan::plan_text(&report).as_bytes())?;
    drop(stdout);
    write_report(&report, out, false)?;
    let missed = report.plan.as_ref().is_some_and(|pl| {
        pl.configs
            .iter()
            .any(|c| c.max_pps.is_none() && offsim::report::slo_gated(&p.scenario, &c.name))
    });
    Ok(if missed { 1 } else { 0 })
}

fn report_cmd(input: &Path, out: &Path) -> Result<u8> {
    let report = offsim_reports::Report::from_json_file(input)?;
    // Keep the output directory self-contained: copy the report next to the page unless
    // it is already there.
    let target = out.join("report.json");
    let same = match (input.canonicalize(), target.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    write_report(&report, out, same)?;
    Ok(0)
}

fn compare(
    base: &Path,
    new: &Path,
    tolerance: Option<f64>,
    metrics: &[String],
    all: bool,
) -> Result<u8> {
    let base = offsim_reports::Report::from_json_file(base)?;
    let new = offsim_reports::Report::from_json_file(new)?;
    let mut opts = match tolerance {
        Some(t) => offsim_reports::CompareOptions::with_tolerance(t)?,
        None => offsim_reports::CompareOptions::default(),
    };
    for m in metrics {
        opts.add_metric_override(m)?;
    }
    let c = offsim_reports::compare(&base, &new, &opts)?;
    std::io::stdout()
        .lock()
        .write_all(c.to_text(all).as_bytes())?;
    Ok(if c.has_regression() { 1 } else { 0 })
}

fn merge(shards: &[PathBuf], out: &Path) -> Result<u8> {
    let reports = shards
        .iter()
        .map(|p| offsim_reports::Report::from_json_file(p))
        .collect::<Result<Vec<_>, _>>()?;
    let merged = offsim_reports::merge(&reports)?;
    write_report(&merged, out, false)?;
    Ok(0)
}

fn trace_info(path: &std::path::Path, json: bool) -> Result<u8> {
    let mut s = offsim_traces::stream::PacketStream::open(path)?;
    let info = offsim_traces::info::summarize(&path.display().to_string(), &mut s)?;
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut out, &info)?;
        writeln!(out)?;
    } else {
        offsim::cli::print_trace_info(&mut out, &info)?;
    }
    Ok(0)
}

fn rules_check(path: &std::path::Path) -> Result<u8> {
    match offsim_nft::Ruleset::load(path, &offsim_nft::LoadOptions::default()) {
        Ok(rs) => {
            let mut out = std::io::stdout().lock();
            offsim_nft::summary::write_summary(&mut out, &rs)?;
            Ok(0)
        }
        Err(e) => {
            eprintln!("{e}");
            Ok(2)
        }
    }
}

fn rules_eval(a: &RulesEvalArgs) -> Result<u8> {
    use offsim::ruleseval::{EvalOptions, render_text};
    use offsim_kernel::conntrack::{CtConfig, CtTimeouts};
    let kernel = offsim_kernel::flowtable::KernelFlavour::parse(&a.kernel).ok_or_else(|| {
        anyhow::anyhow!(
            "--kernel {}: unknown kernel (use e.g. 5.15, 6.1, 6.6, 6.14)",
            a.kernel
        )
    })?;
    let sides = offsim_kernel::sides::SideMode::parse(&a.sides)
        .map_err(|e| anyhow::anyhow!("--sides: {e}"))?;
    if a.ct_loose > 1 || a.ct_liberal > 1 {
        anyhow::bail!("--ct-loose and --ct-liberal take 0 or 1");
    }
    let timeouts = match a.ct_timeouts.as_str() {
        "kernel" => CtTimeouts::kernel(),
        "openwrt" => CtTimeouts::openwrt(),
        o => anyhow::bail!("--ct-timeouts {o}: expected kernel or openwrt"),
    };
    if a.iif == a.oif {
        anyhow::bail!("--iif and --oif must differ");
    }
    let rs = match offsim_nft::Ruleset::load(
        &a.ruleset,
        &offsim_kernel::datapath::load_options(&a.iif, &a.oif),
    ) {
        Ok(rs) => rs,
        Err(e) => {
            eprintln!("{e}");
            return Ok(2);
        }
    };
    let routes = if sides == offsim_kernel::sides::SideMode::Single {
        Vec::new()
    } else {
        let mut pre = offsim_traces::stream::PacketStream::open(&a.trace)?;
        offsim::ruleseval::lan_only_addresses(&mut pre, &sides)?
    };
    let mut stream = offsim_traces::stream::PacketStream::open(&a.trace)?;
    let opts = EvalOptions {
        iif: a.iif.clone(),
        oif: a.oif.clone(),
        sides,
        kernel,
        ct: CtConfig {
            tcp_loose: a.ct_loose == 1,
            tcp_be_liberal: a.ct_liberal == 1,
            timeouts,
            ..CtConfig::default()
        },
        cpu: offsim::cpu::CpuConfig::load(&a.cpu)?,
    };
    let r = offsim::ruleseval::eval_trace_with_routes(rs, &mut stream, &opts, &routes)?;
    let mut out = std::io::stdout().lock();
    if a.json {
        serde_json::to_writer_pretty(&mut out, &r)?;
        writeln!(out)?;
    } else {
        out.write_all(render_text(&r).as_bytes())?;
    }
    Ok(0)
}

fn calibrate(a: &CalibrateArgs) -> Result<u8> {
    use offsim::calibrate::{self, CalError, CalOptions, Effort};
    let effort = if a.quick { Effort::Quick } else { Effort::Full };
    let refuse = |e: CalError| -> Result<u8> {
        eprintln!("offsim calibrate: {e}");
        Ok(2)
    };
    if let Err(e) = calibrate::preflight() {
        return refuse(e);
    }
    let mut log = |s: &str| eprintln!("{s}");
    if let Some(path) = &a.check {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("{}: cannot read", path.display()))?;
        let cpu = offsim::cpu::CpuConfig::load(&a.cpu)?;
        eprintln!("checking {} on this kernel ({})", path.display(), calibrate::kernel_release());
        let r = match calibrate::check::check_ruleset(
            &text, &cpu, &a.iif, &a.oif, effort, a.bench_cpu, &mut log,
        ) {
            Ok(r) => r,
            Err(e @ CalError::Input(_)) => return refuse(e),
            Err(e) => return Err(e.into()),
        };
        println!(
            "{}: flow {}; kernel +{:.0} cycles/packet as measured, +{:.0} at the preset's speed (spread {:.0} to {:.0}); offsim +{:.0} (rules stage {:.0}, preset {}); offsim/kernel {:.2}",
            path.display(),
            if r.dropped { "dropped" } else { "forwarded" },
            r.kernel_raw,
            r.kernel,
            r.kernel_min,
            r.kernel_max,
            r.offsim,
            r.offsim_rules,
            cpu.name,
            r.offsim / r.kernel
        );
        return Ok(0);
    }
    // the notes name the command as a user would type it
    let command = std::iter::once("offsim".to_string())
        .chain(std::env::args().skip(1))
        .collect::<Vec<_>>()
        .join(" ");
    let o = CalOptions {
        base: a.base.clone(),
        name: a.name.clone(),
        effort,
        cpu: a.bench_cpu,
        command,
    };
    eprintln!(
        "calibrating on Linux {} at {:.2} GHz (sender on CPU {}; {} measurement)",
        calibrate::kernel_release(),
        calibrate::cpu_ghz()?,
        a.bench_cpu,
        if a.quick { "quick" } else { "full" }
    );
    let figs = calibrate::calibrate(&o, &mut log)?;
    let text = calibrate::write_preset(&o, &figs)?;
    std::fs::write(&a.out, text).with_context(|| format!("{}: cannot write", a.out.display()))?;
    println!("{:<22} {:>9} {:>19}  what", "field", "cycles", "spread");
    for f in &figs {
        println!(
            "{:<22} {:>9.1} {:>9.1} to {:>6.1}  {}",
            f.field.unwrap_or("(check)"),
            f.cycles,
            f.min,
            f.max,
            f.what
        );
    }
    println!("wrote {}", a.out.display());
    Ok(0)
}

fn trace_gen(a: GenArgs) -> Result<u8> {
    use offsim_traces::r#gen::{GenConfig, Profile, Stop, generate_file};
    let profile: Profile = a.profile.parse()?;
    let stop = Stop::from_args(a.packets, a.duration, profile)?;
    let cfg = GenConfig::new(profile, a.seed, stop);
    let s = generate_file(&cfg, &a.output).context("trace gen")?;
    eprintln!(
        "offsim: wrote {} ({} packets, {} bytes, {:.3} s; flows: tcp {} udp {} icmp {}, at most {} active)",
        a.output.display(),
        s.packets,
        s.bytes,
        s.duration_ns as f64 / 1e9,
        s.tcp_flows,
        s.udp_flows,
        s.icmp_flows,
        s.max_active_flows
    );
    Ok(0)
}
