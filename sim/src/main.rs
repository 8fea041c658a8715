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
        /// Output directory (earlier outputs of offsim in it are removed first).
        #[arg(long, short = 'o', default_value = "out")]
        out: PathBuf,
        /// Also write per-flow records (DIR/flows-POLICY.jsonl): why each flow was or was
        /// not offloaded.
        #[arg(long)]
        flows: bool,
        /// Configurations simulating at once (default: all of them), each on a thread of
        /// its own beside one thread that reads the trace for them; 1 runs them one after
        /// another, each reading the trace. Fewer at once holds less state in memory.
        #[arg(long)]
        jobs: Option<usize>,
        /// No progress bar on stderr (it is drawn only on a terminal anyway). The summary on
        /// stdout stays: redirect stdout to silence it.
        #[arg(long, short)]
        quiet: bool,
    },
    /// Run a scenario's parameter grid in parallel.
    Sweep {
        /// Scenario file (TOML) with a [sweep] table.
        scenario: PathBuf,
        /// Output directory (earlier outputs of offsim in it are removed first).
        #[arg(long, short = 'o', default_value = "out")]
        out: PathBuf,
        /// Worker threads.
        #[arg(long)]
        jobs: Option<usize>,
        /// Run only shard K of N (K/N, 1-based): points with index % N == K-1.
        #[arg(long)]
        shard: Option<String>,
        /// No progress bar on stderr (it is drawn only on a terminal anyway). The summary on
        /// stdout stays: redirect stdout to silence it.
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
        /// Output directory (earlier outputs of offsim in it are removed first).
        #[arg(long, short = 'o', default_value = "out")]
        out: PathBuf,
        /// Worker threads (default: all cores).
        #[arg(long)]
        jobs: Option<usize>,
        /// No progress bar on stderr (it is drawn only on a terminal anyway). The summary on
        /// stdout stays: redirect stdout to silence it.
        #[arg(long, short)]
        quiet: bool,
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
        /// Output format: `text` (a table), `json`, `junit` (JUnit XML for test reporters)
        /// or `markdown` (a pull-request summary).
        #[arg(long, value_enum, default_value = "text")]
        format: CompareFormat,
    },
    /// Metrics over a series of reports (ordered by their commit date), regressions marked.
    Trend {
        /// Reports (report.json), in any order: they are sorted by `tool.date`, then
        /// `tool.commit`, then the order given.
        #[arg(required = true)]
        reports: Vec<PathBuf>,
        /// Output directory (earlier outputs of offsim in it are removed first).
        #[arg(long, short = 'o', default_value = "out")]
        out: PathBuf,
        /// Metrics to chart (compare's names, e.g. `latency_ns.p99`; repeatable; default:
        /// delivered throughput, p99, p99.9, busiest core, mean CPU, power, drops).
        #[arg(long = "metric", value_name = "NAME")]
        metrics: Vec<String>,
        /// A change against the trend (median of the previous five reports) beyond this
        /// percentage in the bad direction is a regression.
        #[arg(long, value_name = "PCT", default_value_t = 2.0)]
        tolerance: f64,
    },
    /// Re-render HTML/PNG from a saved report.
    Report {
        /// report.json.
        report: PathBuf,
        /// Output directory (earlier outputs of offsim in it are removed first).
        #[arg(long, short = 'o', default_value = "out")]
        out: PathBuf,
    },
    /// Join sweep shards into one report.
    Merge {
        /// Shard reports.
        #[arg(required = true)]
        shards: Vec<PathBuf>,
        /// Output directory (earlier outputs of offsim in it are removed first).
        #[arg(long, short = 'o', default_value = "out")]
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

/// `offsim compare --format`.
#[derive(Clone, Copy, clap::ValueEnum)]
enum CompareFormat {
    Text,
    Json,
    Junit,
    Markdown,
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
    /// Traffic profile (home-router, enterprise, datacenter, synflood, imix, connections).
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
    #[arg(short = 'o', long = "out", visible_alias = "output")]
    out: PathBuf,
    /// `connections` profile: new connections per second (default 1000).
    #[arg(long)]
    cps: Option<f64>,
    /// `connections` profile: mean idle hold of a connection before its close, seconds
    /// (default 0: closed right after the response).
    #[arg(long = "hold-s")]
    hold_s: Option<f64>,
    /// No summary line on stderr.
    #[arg(long, short)]
    quiet: bool,
}

// Parsed once per run: the size of the larger variant costs nothing.
#[allow(clippy::large_enum_variant)]
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
    /// original direction on --iif, replies on --oif), `lan=CIDR,...` (by source) or
    /// `iface=ID:lan,ID:wan,...` (by pcapng interface; copies of forwarded packets count once).
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
    /// The timezone of the ruleset's `meta hour` times, as a UTC offset (`+02:00`); the
    /// packets' timestamps are UTC wall time.
    #[arg(long, default_value = "UTC", allow_hyphen_values = true)]
    utc_offset: String,
    /// Device MTU (the flowtable's and the forward path's limit): BYTES for both devices,
    /// or DEV=BYTES for one; repeatable. Default 1500.
    #[arg(long = "mtu", value_name = "BYTES|DEV=BYTES")]
    mtus: Vec<String>,
    /// An extra route, PREFIX=DEV (`default=DEV` for the default routes); repeatable.
    #[arg(long = "route", value_name = "PREFIX=DEV")]
    routes: Vec<String>,
    /// A router address, DEV=ADDR[/LEN]; repeatable. Default: 192.168.1.1 on --iif and
    /// 100.64.0.1 on --oif.
    #[arg(long = "addr", value_name = "DEV=ADDR")]
    addrs: Vec<String>,
    /// Packet timing: `recorded`, `topspeed` (back to back, as tcpreplay --topspeed) or a
    /// packet rate (as tcpreplay --pps).
    #[arg(long, default_value = "recorded")]
    retime: String,
    /// Flowtable timeouts (nf_flowtable_tcp_timeout, nf_flowtable_udp_timeout), seconds.
    #[arg(long, default_value_t = 30)]
    ft_timeout: u32,
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
            eprintln!("offsim: error: {}", term(&error_chain(&e)));
            ExitCode::from(2)
        }
    }
}

/// Text from inputs (names, paths, rule text) with its control characters escaped, so a
/// scenario name holding an escape sequence cannot drive the terminal.
fn term(s: &str) -> std::borrow::Cow<'_, str> {
    offsim_traces::input::escape_controls(s)
}

/// The error and its causes, `: `-joined, each cause left out when the text before already
/// says it (an error that prints its source, as `"{file}: {source}"` does, would otherwise
/// repeat it: `nope.toml: No such file or directory (os error 2): No such file or directory
/// (os error 2)`).
fn error_chain(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
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
            quiet,
        } => plan(&scenario, &out, jobs, quiet),
        Cmd::Compare {
            base,
            new,
            tolerance,
            metrics,
            all,
            format,
        } => compare(&base, &new, tolerance, &metrics, all, format),
        Cmd::Trend {
            reports,
            out,
            metrics,
            tolerance,
        } => trend(&reports, &out, &metrics, tolerance),
        Cmd::Report { report, out } => report_cmd(&report, &out),
        Cmd::Calibrate(a) => calibrate(&a),
        Cmd::Merge { shards, out } => merge(&shards, &out),
        Cmd::Rules { cmd } => match cmd {
            RulesCmd::Check { ruleset } => rules_check(&ruleset),
            RulesCmd::Eval(a) => rules_eval(&a),
        },
    }
}

/// Remove what earlier offsim runs left in `out` (see [`offsim_reports::stale_outputs`]),
/// so that the directory holds exactly the files this run lists; `flows` also removes
/// `flows-*.jsonl` (a new run writes its own), and `keep` is a file not to remove (the
/// report `offsim report` re-renders in place).
fn clean_outputs(out: &Path, flows: bool, keep: Option<&Path>) -> Result<()> {
    let stale =
        offsim_reports::stale_outputs(out).with_context(|| format!("listing {}", out.display()))?;
    let keep = keep.and_then(|k| k.canonicalize().ok());
    for p in stale
        .into_iter()
        .chain(if flows { flow_files(out)? } else { Vec::new() })
    {
        if keep.is_some() && p.canonicalize().ok() == keep {
            continue;
        }
        std::fs::remove_file(&p).with_context(|| format!("removing {}", p.display()))?;
    }
    Ok(())
}

/// The `flows-*.jsonl` files in `dir`, sorted.
fn flow_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut v = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Ok(v);
    };
    for e in rd {
        let e = e.with_context(|| format!("listing {}", dir.display()))?;
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with("flows-") && name.ends_with(".jsonl") {
            v.push(e.path());
        }
    }
    v.sort();
    Ok(v)
}

/// Write `report.json` (unless `skip_json`), `index.html` and the charts into `out`, and
/// list every file written, with `also` (the run's flow records) after `report.json`.
fn write_report(
    report: &offsim_reports::Report,
    out: &Path,
    skip_json: bool,
    also: Vec<PathBuf>,
) -> Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let mut written = Vec::new();
    if !skip_json {
        let json = out.join("report.json");
        std::fs::write(&json, report.to_json_string())
            .with_context(|| format!("writing {}", json.display()))?;
        written.push(json);
    }
    written.extend(also);
    written.extend(offsim_reports::render(report, out)?);
    let mut stdout = std::io::stdout().lock();
    for p in written {
        writeln!(stdout, "{}", term(&p.display().to_string()))?;
    }
    Ok(())
}

/// Record in `report.tool` the commit and commit date it belongs to, for `offsim trend`:
/// `OFFSIM_COMMIT` and `OFFSIM_DATE` when set (an empty value records none), otherwise the
/// `HEAD` commit of the git checkout offsim runs in and its committer date (`git log -1
/// --format='%H %cI'`), otherwise none. Never the wall clock: the same checkout gives the
/// same report.
fn stamp(report: &mut offsim_reports::Report) {
    let env = |k: &str| std::env::var(k).ok().map(|v| v.trim().to_string());
    let (ec, ed) = (env("OFFSIM_COMMIT"), env("OFFSIM_DATE"));
    let git = if ec.is_none() || ed.is_none() {
        std::process::Command::new("git")
            .args(["log", "-1", "--format=%H %cI"])
            .stdin(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .output()
            .ok()
            .filter(|o| o.status.success())
            .and_then(|o| {
                let t = String::from_utf8_lossy(&o.stdout).trim().to_string();
                t.split_once(' ')
                    .map(|(c, d)| (c.to_string(), d.to_string()))
            })
    } else {
        None
    };
    let pick = |e: Option<String>, g: Option<String>| match e {
        Some(v) => (!v.is_empty()).then_some(v),
        None => g,
    };
    report.tool.commit = pick(ec, git.as_ref().map(|g| g.0.clone()));
    report.tool.date = pick(ed, git.map(|g| g.1));
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
    // The first pass is deferred to the end of the runs (`prepare_deferred`) unless a
    // progress bar needs the packet count before them, or the runs write flow records into
    // `out`. The deferred runs write nothing: `out` is prepared once the first pass would
    // have been done, as when it is.
    let flows = flows || sc.spec.report.flows;
    let mut p = if offsim::progress::drawn(!quiet) || flows {
        offsim::prepare::prepare(sc)?
    } else {
        offsim::prepare::prepare_deferred(sc)?
    };
    let speculation = offsim::run::speculate(&mut p, jobs)?;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    clean_outputs(out, true, None)?;
    if flows {
        p.flows_dir = Some(out.to_path_buf());
    }
    if !quiet {
        eprintln!(
            "offsim: {}: {} packets, {} configuration(s)",
            term(&p.scenario.spec.name),
            p.pass.totals.packets,
            p.scenario.policies.len()
        );
    }
    let loops = u64::from(p.scenario.spec.replay.loops.unwrap_or(1));
    let total = p.pass.totals.packets * loops * p.scenario.policies.len() as u64;
    p.progress = offsim::progress::Progress::new("run", total, "packets", !quiet);
    let report = offsim::run::run_scenario_after(&p, speculation, jobs);
    p.progress.finish();
    let mut report = report?;
    stamp(&mut report);
    let mut stdout = std::io::stdout().lock();
    let sc = &p.scenario;
    stdout.write_all(
        term(&offsim::report::summary_text(&report, &|pol| {
            offsim::report::slo_gated(sc, pol)
        }))
        .as_bytes(),
    )?;
    drop(stdout);
    let flow_records = if p.flows_dir.is_some() {
        flow_files(out)?
    } else {
        Vec::new()
    };
    write_report(&report, out, false, flow_records)?;
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
    // The base scenario's [slo] decides which configurations gate the exit code.
    let base = file.resolve()?;
    let mut outcome = offsim::sweep::run_sweep(&file, shard, !quiet)?;
    stamp(&mut outcome.report);
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(
        term(&offsim::report::summary_text(&outcome.report, &|pol| {
            offsim::report::slo_gated(&base, pol)
        }))
        .as_bytes(),
    )?;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    clean_outputs(out, true, None)?;
    // report.json streams the full runs back from disk; the page and charts use the
    // report in memory.
    let json = out.join("report.json");
    let mut w = std::io::BufWriter::new(
        std::fs::File::create(&json).with_context(|| format!("writing {}", json.display()))?,
    );
    outcome.write_json(&mut w)?;
    w.flush()
        .with_context(|| format!("writing {}", json.display()))?;
    drop(w);
    writeln!(stdout, "{}", term(&json.display().to_string()))?;
    drop(stdout);
    write_report(&outcome.report, out, true, Vec::new())?;
    Ok(if offsim::report::slo_missed(&outcome.report, &base) {
        1
    } else {
        0
    })
}

fn plan(scenario: &Path, out: &Path, jobs: Option<usize>, quiet: bool) -> Result<u8> {
    thread_pool(jobs)?;
    let file = offsim::scenario::ScenarioFile::load(scenario)?;
    let sc = file.resolve()?;
    let mut p = offsim::prepare::prepare(sc)?;
    // Probes: at most `max_probes` per configuration; a search whose targets share probes
    // or stop early leaves the bar short, and it is cleared at the end anyway.
    let steps = p.scenario.spec.plan.as_ref().and_then(|x| x.steps);
    let per_config = offsim::plan::max_probes(steps.unwrap_or(offsim::plan::DEFAULT_STEPS));
    let total = per_config * p.scenario.policies.len() as u64;
    p.progress = offsim::progress::Progress::new("plan", total, "probes", !quiet);
    let report = offsim::plan::run_plan(&p);
    p.progress.finish();
    let mut report = report?;
    stamp(&mut report);
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(term(&offsim::plan::plan_text(&report)).as_bytes())?;
    drop(stdout);
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    clean_outputs(out, true, None)?;
    write_report(&report, out, false, Vec::new())?;
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
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    clean_outputs(out, false, Some(input))?;
    write_report(&report, out, same, Vec::new())?;
    Ok(0)
}

fn compare(
    base: &Path,
    new: &Path,
    tolerance: Option<f64>,
    metrics: &[String],
    all: bool,
    format: CompareFormat,
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
    let text = match format {
        CompareFormat::Text => c.to_text(all),
        CompareFormat::Json => c.to_json(),
        CompareFormat::Junit => c.to_junit(),
        CompareFormat::Markdown => c.to_markdown(all),
    };
    std::io::stdout().lock().write_all(term(&text).as_bytes())?;
    Ok(if c.has_regression() { 1 } else { 0 })
}

fn merge(shards: &[PathBuf], out: &Path) -> Result<u8> {
    let reports = shards
        .iter()
        .map(|p| offsim_reports::Report::from_json_file(p))
        .collect::<Result<Vec<_>, _>>()?;
    let merged = offsim_reports::merge(&reports)?;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    clean_outputs(out, true, None)?;
    write_report(&merged, out, false, Vec::new())?;
    Ok(0)
}

fn trend(reports: &[PathBuf], out: &Path, metrics: &[String], tolerance: f64) -> Result<u8> {
    let mut series = Vec::with_capacity(reports.len());
    for p in reports {
        series.push((
            p.display().to_string(),
            offsim_reports::Report::from_json_file(p)?,
        ));
    }
    let t = offsim_reports::trend::trend(series, metrics, tolerance)?;
    std::io::stdout().lock().write_all(t.to_text().as_bytes())?;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    clean_outputs(out, false, None)?;
    let written = offsim_reports::trend::render(&t, out)?;
    let mut stdout = std::io::stdout().lock();
    for p in written {
        writeln!(stdout, "{}", p.display())?;
    }
    Ok(if t.latest_regressed() { 1 } else { 0 })
}

fn trace_info(path: &std::path::Path, json: bool) -> Result<u8> {
    // Read, not mapped, whatever the page cache holds (see `offsim_traces::pcap::bytes`).
    let mut s = offsim_traces::stream::PacketStream::open(path)?;
    // A regular file's length lets the flow count size its table ahead; a FIFO's says nothing.
    let size = std::fs::metadata(path)
        .ok()
        .filter(std::fs::Metadata::is_file)
        .map(|m| m.len());
    let info = offsim_traces::info::summarize_sized(&path.display().to_string(), &mut s, size)?;
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut out, &info)?;
        writeln!(out)?;
    } else {
        let mut text = Vec::new();
        offsim::cli::print_trace_info(&mut text, &info)?;
        out.write_all(term(&String::from_utf8_lossy(&text)).as_bytes())?;
    }
    Ok(0)
}

fn rules_check(path: &std::path::Path) -> Result<u8> {
    match offsim_nft::Ruleset::load(path, &offsim_nft::LoadOptions::default()) {
        Ok(rs) => {
            let mut text = Vec::new();
            offsim_nft::summary::write_summary(&mut text, &rs)?;
            std::io::stdout()
                .lock()
                .write_all(term(&String::from_utf8_lossy(&text)).as_bytes())?;
            Ok(0)
        }
        Err(e) => {
            eprintln!("{}", term(&e.to_string()));
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
    let utc_offset_s = offsim_nft::parse_utc_offset(&a.utc_offset)
        .map_err(|e| anyhow::anyhow!("--utc-offset: {e}"))?;
    let rs = match offsim_nft::Ruleset::load(
        &a.ruleset,
        &offsim_nft::LoadOptions {
            utc_offset_s,
            ..offsim_kernel::datapath::load_options(&a.iif, &a.oif)
        },
    ) {
        Ok(rs) => rs,
        Err(e) => {
            eprintln!("{}", term(&e.to_string()));
            return Ok(2);
        }
    };
    let mut fib = offsim_kernel::fib::FibSpec::default();
    for m in &a.mtus {
        match offsim_kernel::fib::parse_mtu(m).map_err(|e| anyhow::anyhow!("--mtu: {e}"))? {
            (None, v) => fib.mtu = v,
            (Some(d), v) => fib.dev_mtu.push((d, v)),
        }
    }
    for r in &a.routes {
        fib.routes.push(
            offsim_kernel::fib::RouteSpec::parse(r).map_err(|e| anyhow::anyhow!("--route: {e}"))?,
        );
    }
    for x in &a.addrs {
        fib.addrs.push(
            offsim_kernel::fib::AddrSpec::parse(x).map_err(|e| anyhow::anyhow!("--addr: {e}"))?,
        );
    }
    if a.ft_timeout == 0 || a.ft_timeout > 86_400 {
        anyhow::bail!("--ft-timeout {}: must be between 1 and 86400", a.ft_timeout);
    }
    let retime =
        offsim::ruleseval::Retime::parse(&a.retime).map_err(|e| anyhow::anyhow!("--retime {e}"))?;
    if sides != offsim_kernel::sides::SideMode::Single {
        let mut pre = offsim_traces::stream::PacketStream::open(&a.trace)?;
        fib.lan_hosts = offsim::ruleseval::lan_only_addresses(&mut pre, &sides)?;
    }
    let warnings = offsim_kernel::devices::interface_warnings(&rs, &a.iif, &a.oif);
    for w in &warnings {
        eprintln!("offsim: warning: {w}");
    }
    // Read, not mapped, whatever the page cache holds (see `offsim_traces::pcap::bytes`).
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
        fib,
        retime,
        ft_timeout_s: a.ft_timeout,
        cpu: offsim::cpu::CpuConfig::load(&a.cpu)?,
    };
    let mut r = offsim::ruleseval::eval_trace(rs, &mut stream, &opts)?;
    // The device warnings went to stderr above; the input's own (a cut capture, packets
    // seen twice, a WAN capture) go there too with --json, where stdout is the JSON.
    if a.json {
        for w in &r.warnings {
            eprintln!("offsim: warning: {}", term(w));
        }
    }
    r.warnings.splice(0..0, warnings);
    let mut out = std::io::stdout().lock();
    if a.json {
        serde_json::to_writer_pretty(&mut out, &r)?;
        writeln!(out)?;
    } else {
        out.write_all(term(&render_text(&r)).as_bytes())?;
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
        eprintln!(
            "checking {} on this kernel ({})",
            path.display(),
            calibrate::kernel_release()
        );
        let r = match calibrate::check::check_ruleset(
            &text,
            &cpu,
            &a.iif,
            &a.oif,
            effort,
            a.bench_cpu,
            &mut log,
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
    let mut cfg = GenConfig::new(profile, a.seed, stop);
    cfg.load = offsim_traces::r#gen::ConnLoad::from_keys(a.cps, a.hold_s);
    let s = generate_file(&cfg, &a.out).context("trace gen")?;
    if a.quiet {
        return Ok(0);
    }
    eprintln!(
        "offsim: wrote {} ({} packets, {} bytes, {:.3} s; flows: tcp {} udp {} icmp {}, at most {} active)",
        term(&a.out.display().to_string()),
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
