//! `offsim calibrate`: measures this machine's kernel with the namespace micro-benchmark
//! ([`bench`]) and writes a CPU preset whose rule, expression, set, hook and connection
//! costs are the measurements, each with its measurement, command and date in `[sources]`.
//!
//! Every figure is a difference against a baseline measured in the same moments (the
//! flows sent in rounds, or rulesets loaded in turn) and repeated; each repeat is scaled to
//! one speed by a reference measured in the same moments (N non-matching `ip saddr X drop`
//! rules, the shape `--check` normalises by), so figures measured while other work slowed
//! the machine are comparable with the rest; the figure is the median over repeats and its
//! spread (min-max) and speed factors go in the note. [`plan`] says what is measured and how the figures
//! follow from the differences; [`check`] compares offsim's prediction for a whole ruleset
//! with the kernel's measured increment.

mod bench;
pub mod check;
mod plan;

use std::collections::BTreeMap;
use std::path::PathBuf;

pub use bench::Flow;
pub use plan::Figure;

/// Errors of `offsim calibrate`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CalError {
    /// Not root.
    #[error("offsim calibrate needs root (network namespaces and nftables): run it as root")]
    NotRoot,
    /// A tool is missing.
    #[error("offsim calibrate needs `{0}` (install nftables and iproute2)")]
    Missing(&'static str),
    /// A command failed.
    #[error("`{cmd}` failed: {msg}")]
    Command {
        /// The command.
        cmd: String,
        /// Its error output.
        msg: String,
    },
    /// The sender failed.
    #[error("sender: {0}")]
    Sender(String),
    /// The base preset or a ruleset is bad.
    #[error("{0}")]
    Input(String),
    /// Writing the preset failed.
    #[error("{path}: {msg}")]
    Write {
        /// File.
        path: PathBuf,
        /// Why.
        msg: String,
    },
}

/// How long to measure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effort {
    /// A short measurement that checks the harness (CI): few rules, packets and repeats.
    Quick,
    /// The measurement a shipped preset comes from.
    Full,
}

impl Effort {
    /// (rules per experiment chain, datagrams per run, repeats).
    pub(crate) fn sizes(self) -> (usize, u64, usize) {
        match self {
            Effort::Quick => (40, 3_000, 2),
            Effort::Full => (400, 20_000, 11),
        }
    }
    /// Rounds a run's datagrams are split into, each flow of a measurement taking its turn
    /// per round ([`bench::Bench::run_mixed`]).
    pub(crate) fn chunks(self) -> usize {
        match self {
            Effort::Quick => 3,
            Effort::Full => 10,
        }
    }
}

/// Options of `offsim calibrate`.
#[derive(Clone, Debug)]
pub struct CalOptions {
    /// Preset whose other fields (platform, driver, forwarding, NAT, power) the new preset
    /// keeps.
    pub base: String,
    /// Name of the written preset.
    pub name: String,
    /// Measurement length.
    pub effort: Effort,
    /// CPU the sender (and so all softirq work) runs on.
    pub cpu: usize,
    /// The command line, for the notes.
    pub command: String,
}

/// Checks root and the tools.
pub fn preflight() -> Result<(), CalError> {
    if !nix::unistd::Uid::effective().is_root() {
        return Err(CalError::NotRoot);
    }
    for tool in ["nft", "ip", "sysctl"] {
        let found = std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
            .unwrap_or(false);
        if !found {
            return Err(CalError::Missing(tool));
        }
    }
    Ok(())
}

/// The CPU clock in GHz (`/proc/cpuinfo` `cpu MHz` of the first CPU), which turns measured
/// nanoseconds into cycles.
pub fn cpu_ghz() -> Result<f64, CalError> {
    let info = std::fs::read_to_string("/proc/cpuinfo")
        .map_err(|e| CalError::Input(format!("/proc/cpuinfo: {e}")))?;
    info.lines()
        .find(|l| l.starts_with("cpu MHz"))
        .and_then(|l| l.split(':').nth(1)?.trim().parse::<f64>().ok())
        .map(|mhz| mhz / 1000.0)
        .ok_or_else(|| CalError::Input("/proc/cpuinfo has no `cpu MHz`".into()))
}

/// Whether the CPU has AVX2 (and AVX), so the kernel runs `nft_set_pipapo_avx2`.
pub fn cpu_has_avx2() -> bool {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|i| {
            let flags = i.lines().find(|l| l.starts_with("flags"))?.to_string();
            let has = |f: &str| flags.split_whitespace().any(|x| x == f);
            Some(has("avx2") && has("avx"))
        })
        .unwrap_or(false)
}

/// Today's date (UTC), `YYYY-MM-DD`, for the notes.
pub fn today() -> String {
    let days = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() / 86_400)
        .unwrap_or(0) as i64;
    // civil_from_days (H. Hinnant)
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// The kernel release (`uname -r`).
pub fn kernel_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
}

/// Runs the calibration; the figures, printed as they come with `log`.
pub fn calibrate(o: &CalOptions, log: &mut dyn FnMut(&str)) -> Result<Vec<Figure>, CalError> {
    preflight()?;
    let b = bench::Bench::with_routers("lan0", "wan0", o.cpu, plan::HOOK_ROUTERS)?;
    let ghz = cpu_ghz()?;
    let (mut figs, speed) = plan::run(&b, o.effort, ghz, log)?;
    let (n, packets, repeats) = o.effort.sizes();
    // the conntrack phase's reference: flow 5009 runs the reference rules, 5000 not
    let reference = plan::Reference {
        base: 5000,
        flow: 5009,
        rules: n,
        chunks: o.effort.chunks(),
    };
    figs.extend(check::conntrack(
        &b, &figs, &speed, &reference, packets, repeats, ghz, log,
    )?);
    Ok(figs)
}

/// Figures that follow a measured one, as their `[inference]` notes in the presets say: the
/// hardware offload work priced in conntrack creations (`flow_offload_work_add` builds a
/// flow rule per direction, each comparable to one creation; `_del` frees them; `_stats`
/// reads counters). They move with the measured figure.
const DERIVED: [(&str, f64, &str); 3] = [
    ("offload_add", 2.0, "ct_new"),
    ("offload_del", 1.0, "ct_new"),
    ("offload_stats", 0.25, "ct_new"),
];

/// The preset TOML: the base preset with the measured cycle costs and `avx2`, each with its
/// note, and the figures [`DERIVED`] from them.
pub fn write_preset(o: &CalOptions, figures: &[Figure]) -> Result<String, CalError> {
    let base = crate::cpu::CpuConfig::preset_toml(&o.base)
        .map(str::to_string)
        .or_else(|_| std::fs::read_to_string(&o.base))
        .map_err(|e| CalError::Input(format!("--base {}: {e}", o.base)))?;
    let mut t: toml::Table =
        toml::from_str(&base).map_err(|e| CalError::Input(format!("--base {}: {e}", o.base)))?;
    let ghz = cpu_ghz()?;
    let date = today();
    let kernel = kernel_release();
    let (n_ref, _, _) = o.effort.sizes();
    let mut sources: BTreeMap<String, String> = t
        .get("sources")
        .and_then(|s| s.as_table())
        .map(|s| {
            s.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                .collect()
        })
        .unwrap_or_default();
    let cycles = t
        .entry("cycles")
        .or_insert_with(|| toml::Value::Table(toml::Table::new()))
        .as_table_mut()
        .ok_or_else(|| CalError::Input("base preset: [cycles] is not a table".into()))?;
    for f in figures {
        if let Some(field) = f.field {
            cycles.insert(
                field.to_string(),
                toml::Value::Float((f.cycles.max(0.0) * 10.0).round() / 10.0),
            );
            sources.insert(
                format!("cycles.{field}"),
                format!(
                    "[offsim calibrate, {date}, Linux {kernel}, {ghz:.2} GHz] {}: median {:.1} cycles/{} over {} repeats (spread {:.1} to {:.1}){}, each repeat scaled to the run's speed by a reference measured in the same moments ({n_ref} x `{}`: {:.1} cycles/rule in the run's fastest tenth, median {:.1}; factors {:.2} to {:.2}); command: {}",
                    f.what,
                    f.cycles,
                    f.per,
                    f.repeats,
                    f.min,
                    f.max,
                    if f.cycles < 0.0 { ", floored at 0" } else { "" },
                    plan::REF_RULE,
                    f.reference.0,
                    f.reference.1,
                    f.speed.0,
                    f.speed.1,
                    o.command
                ),
            );
        }
    }
    for (field, k, of) in DERIVED {
        let measured = figures.iter().any(|f| f.field == Some(of));
        if let (true, Some(v)) = (measured, cycles.get(of).and_then(toml::Value::as_float)) {
            cycles.insert(
                field.into(),
                toml::Value::Float((v * k * 10.0).round() / 10.0),
            );
        }
    }
    let avx2 = cpu_has_avx2();
    t.insert("avx2".into(), toml::Value::Boolean(avx2));
    sources.insert(
        "avx2".into(),
        format!(
            "[offsim calibrate, {date}] /proc/cpuinfo flags {} avx2 and avx, so nft_select_set_ops {} nft_set_pipapo_avx2 (nft_pipapo_avx2_estimate)",
            if avx2 { "have" } else { "lack" },
            if avx2 { "picks" } else { "cannot pick" }
        ),
    );
    t.insert("name".into(), toml::Value::String(o.name.clone()));
    t.insert(
        "sources".into(),
        toml::Value::Table(
            sources
                .into_iter()
                .map(|(k, v)| (k, toml::Value::String(v)))
                .collect(),
        ),
    );
    let text = toml::to_string(&t).map_err(|e| CalError::Input(e.to_string()))?;
    // the written preset must load
    let c: crate::cpu::CpuConfig =
        toml::from_str(&text).map_err(|e| CalError::Input(format!("written preset: {e}")))?;
    c.validate()
        .map_err(|e| CalError::Input(format!("written preset: {e}")))?;
    Ok(format!(
        "# Written by `{}` on {date} (Linux {kernel}, {ghz:.2} GHz).\n# Measured cycle costs replace the base preset's (`{}`); the rest is the base's, with its sources.\n{text}",
        o.command, o.base
    ))
}
