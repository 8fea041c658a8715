//! The `offsim` command line: a thin layer over the `offsim` library.
//!
//! Exit codes (DESIGN.md §4): 0 success, 1 a finding (regression, SLO missed), 2 bad input
//! or usage.

use std::io::Write;
use std::path::PathBuf;
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
        /// Run only shard K of N (K/N, 1-based).
        #[arg(long)]
        shard: Option<String>,
    },
    /// Find the highest offered rate that meets the scenario's SLO.
    Plan {
        /// Scenario file (TOML).
        scenario: PathBuf,
        /// Output directory.
        #[arg(long, default_value = "out")]
        out: PathBuf,
    },
    /// Compare two reports; exit 1 on a regression beyond the tolerance.
    Compare {
        /// Baseline report.json.
        base: PathBuf,
        /// New report.json.
        new: PathBuf,
        /// Tolerance in percent.
        #[arg(long)]
        tolerance: Option<f64>,
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
    /// Traffic profile (home-router, enterprise, datacenter, synflood).
    #[arg(long)]
    profile: String,
    /// Random seed: the same seed gives the same bytes.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Number of packets to generate.
    #[arg(long, conflicts_with = "duration")]
    packets: Option<u64>,
    /// Duration of the capture in seconds.
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
    Eval {
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
    },
}

fn not_implemented(what: &str) -> Result<u8> {
    eprintln!("offsim: `{what}` is not implemented yet");
    Ok(2)
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
        Cmd::Run { .. } => not_implemented("run"),
        Cmd::Sweep { .. } => not_implemented("sweep"),
        Cmd::Plan { .. } => not_implemented("plan"),
        Cmd::Compare { .. } => not_implemented("compare"),
        Cmd::Report { .. } => not_implemented("report"),
        Cmd::Merge { .. } => not_implemented("merge"),
        Cmd::Rules { cmd } => match cmd {
            RulesCmd::Check { ruleset } => rules_check(&ruleset),
            RulesCmd::Eval { .. } => not_implemented("rules eval"),
        },
    }
}

fn trace_info(path: &PathBuf, json: bool) -> Result<u8> {
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
    match offsim::nft::Ruleset::load(path, &offsim::nft::LoadOptions::default()) {
        Ok(rs) => {
            let mut out = std::io::stdout().lock();
            offsim::nft::summary::write_summary(&mut out, &rs)?;
            Ok(0)
        }
        Err(e) => {
            eprintln!("{e}");
            Ok(2)
        }
    }
}

fn trace_gen(a: GenArgs) -> Result<u8> {
    let _ = (&a.profile, a.seed, a.packets, a.duration, &a.output);
    not_implemented("trace gen").context("trace gen")
}
