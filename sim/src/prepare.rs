//! From a scenario to everything its runs need: the ruleset loaded, the NIC configured, the
//! input opened and its record headers read once (`source::first_pass`), the replay timing
//! fixed.
//! Prepared once per scenario (or sweep point, or plan probe) and shared by its
//! configurations.
//!
//! The first pass exists to know the trace's totals before the replay starts, and it is
//! 9–16 % of a one-configuration run's CPU on a capture of 1 KB packets (the walk from
//! record header to record header misses the cache at every record). But a replay paced at
//! a rate, or timed as recorded from a capture whose first packet is its oldest, times its
//! packets without the totals, and what only the totals decide — the series interval, the replay's length and
//! the report's trace figures — is needed once the runs are over. So
//! [`prepare_deferred`] assumes what the totals would say ([`Assumed`]), the runs' decode
//! counts them as it goes, and [`Prepared::settle`] checks the assumption at the end: when
//! it held, the runs are exactly those the first pass would have led to; when a packet
//! broke it, or the totals say otherwise, the runs are done again after a first pass
//! (`run::run_scenario_deferred`). That costs a second simulation, so a capture whose end
//! says it will be too long (`source::glance`) keeps its first pass.

use offsim_kernel::datapath::load_options;
use offsim_nft::{LoadOptions, NftError, Ruleset};
use offsim_nicmodel::config::NicConfig;
use offsim_reports::schema as rep;
use offsim_traces::r#gen::{GenConfig, Profile, Stop};
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use crate::replay::{MAX_REPLAY_NS, Retimer, Timing};
use crate::scenario::{Scenario, ScenarioError};
use crate::source::{
    Assumed, Findings, Input, SourceError, TracePass, first_header, first_pass, glance, scan,
};

/// Errors of a run. Display names the file and position where there is one.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// The scenario is invalid.
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    /// The trace cannot be read or generated.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// The ruleset does not load.
    #[error("{0}")]
    Ruleset(#[from] NftError),
    /// The NIC preset or overrides are invalid.
    #[error("{file}: nic: {msg}")]
    Nic {
        /// Scenario file.
        file: String,
        /// Message.
        msg: String,
    },
    /// The replay settings do not fit the trace.
    #[error("{file}: replay: {msg}")]
    Replay {
        /// Scenario file.
        file: String,
        /// Message.
        msg: String,
    },
    /// The trace has no packets.
    #[error("{0}: the trace has no packets")]
    EmptyTrace(String),
    /// Writing the flow records failed.
    #[error("{path}: {source}")]
    Io {
        /// File.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
}

/// Everything a run needs besides the policy.
#[derive(Clone)]
pub struct Prepared {
    /// The scenario.
    pub scenario: Scenario,
    /// The ruleset.
    pub ruleset: Ruleset,
    /// The rules each timeline event loads, by event (`None`: it loads none).
    pub event_rulesets: Vec<Option<Ruleset>>,
    /// NIC configuration (preset + overrides).
    pub nic: NicConfig,
    /// Input.
    pub input: Input,
    /// First pass.
    pub pass: TracePass,
    /// Retimer.
    pub retimer: Retimer,
    /// Replay mode description.
    pub replay: rep::ReplayInfo,
    /// Write per-flow records here (JSON lines), one file per configuration.
    pub flows_dir: Option<PathBuf>,
    /// The progress bar runs advance (packets read; hidden by default).
    pub progress: crate::progress::Progress,
    /// What the scan of the trace's first packets found: set by the first shared decode of
    /// a run (`run.rs`) or by [`Prepared::findings`]; clones share it (same input).
    found: Arc<OnceLock<Findings>>,
    /// Prepared without its first pass ([`prepare_deferred`]): what the runs assume of the
    /// trace until [`Prepared::settle`]; `pass`, `retimer` and `replay` are those of its
    /// first packet alone until then.
    assumed: Option<Assumed>,
    /// The totals a deferred run's decode counted (set by the first one to finish).
    counted: Arc<OnceLock<TracePass>>,
}

/// Loads the rules timeline events load, with the scenario's options; each must keep the
/// flowtables of the scenario's ruleset (a change that adds or removes one is a reload of
/// the whole ruleset, which offsim models only with the same flowtables).
fn event_rulesets(sc: &Scenario, base: &Ruleset) -> Result<Vec<Option<Ruleset>>, RunError> {
    let key = |i: usize| {
        sc.spec
            .events
            .iter()
            .enumerate()
            .filter(|(_, e)| e.ruleset.is_some())
            .nth(i)
            .map_or("events".to_string(), |(j, _)| {
                format!("events[{j}].ruleset")
            })
    };
    let same = |a: &Ruleset| {
        let ft = |r: &Ruleset| {
            r.flowtables()
                .iter()
                .map(|f| {
                    (
                        f.name.clone(),
                        f.table.clone(),
                        f.devices.clone(),
                        f.offload,
                    )
                })
                .collect::<Vec<_>>()
        };
        ft(a) == ft(base)
    };
    let mut out = Vec::with_capacity(sc.events.len());
    let mut nth = 0;
    for e in &sc.events {
        let Some(path) = &e.ruleset else {
            out.push(None);
            continue;
        };
        let rs = Ruleset::load(
            path,
            &LoadOptions {
                utc_offset_s: sc.utc_offset_s,
                ..load_options(&sc.spec.ruleset.iif, &sc.spec.ruleset.oif)
            },
        )?;
        if !same(&rs) {
            return Err(RunError::Scenario(sc.file.invalid(
                &key(nth),
                format!(
                    "{} declares other flowtables than the scenario's ruleset: an event can change the rules, not the flowtables",
                    path.display()
                ),
            )));
        }
        nth += 1;
        out.push(Some(rs));
    }
    Ok(out)
}

/// Loads everything a scenario refers to, and reads the trace's record headers (the first
/// pass).
pub fn prepare(sc: Scenario) -> Result<Prepared, RunError> {
    let (sc, parts) = load(sc)?;
    prepare_after(sc, parts)
}

/// [`prepare`] without the first pass where the replay allows it: one loop, no warm-up, no
/// closed-loop senders (see the module doc). The runs then go through
/// `run::run_scenario_deferred`, and the figures the totals decide (`pass`, `replay`, the
/// series interval) are known once they are over ([`Prepared::settle`]).
pub fn prepare_deferred(sc: Scenario) -> Result<Prepared, RunError> {
    let r = &sc.spec.replay;
    if r.loops.unwrap_or(1) > 1 || r.warmup_s.unwrap_or(0.0) != 0.0 || sc.closed_loop.is_some() {
        return prepare(sc);
    }
    // Recorded or sped-up timing counts from the oldest packet (as `replay_of` picks it).
    let scaled = r.speedup.is_some() || (r.rate_pps.is_none() && r.rate_gbps.is_none());
    let (sc, parts) = load(sc)?;
    // A file whose first record cannot be read gets the first pass's own error.
    let Ok(Some((ts, len))) = first_header(&parts.input) else {
        return prepare_after(sc, parts);
    };
    let mut first = TracePass::default();
    first.totals.add_header(ts, len);
    first.bytes = u64::from(len);
    // A replay setting in error gets the error `prepare` gives, after its first pass.
    let Ok((retimer, replay)) = replay_of(&sc, &first) else {
        return prepare_after(sc, parts);
    };
    let configured = sc.spec.report.interval_ms.saturating_mul(1_000_000).max(1);
    let assumed = Assumed {
        oldest: scaled.then_some(ts),
        until_ns: MAX_REPLAY_NS.min(configured.saturating_mul(crate::replay::MAX_SERIES_POINTS)),
    };
    // A replay that looks longer than half of that (a long capture at its recorded timing)
    // would be simulated twice: its first pass is not deferred.
    if let Some(totals) = glance(&parts.input, ts) {
        let guess = TracePass {
            totals,
            ..TracePass::default()
        };
        if replay_of(&sc, &guess).is_ok_and(|(_, r)| r.duration_ns > assumed.until_ns / 2) {
            return prepare_after(sc, parts);
        }
    }
    Ok(parts.with(sc, first, retimer, replay, Some(assumed)))
}

/// [`prepare`] once the scenario's parts are loaded.
fn prepare_after(sc: Scenario, parts: Parts) -> Result<Prepared, RunError> {
    let pass = first_pass(&parts.input)?;
    if pass.totals.packets == 0 {
        return Err(RunError::EmptyTrace(parts.input.describe()));
    }
    let (retimer, replay) = replay_of(&sc, &pass)?;
    Ok(parts.with(sc, pass, retimer, replay, None))
}

/// What a scenario loads before its trace is read.
struct Parts {
    ruleset: Ruleset,
    event_rulesets: Vec<Option<Ruleset>>,
    nic: NicConfig,
    input: Input,
}

impl Parts {
    fn with(
        self,
        scenario: Scenario,
        pass: TracePass,
        retimer: Retimer,
        replay: rep::ReplayInfo,
        assumed: Option<Assumed>,
    ) -> Prepared {
        Prepared {
            scenario,
            ruleset: self.ruleset,
            event_rulesets: self.event_rulesets,
            nic: self.nic,
            input: self.input,
            pass,
            retimer,
            replay,
            flows_dir: None,
            progress: crate::progress::Progress::hidden(),
            found: Arc::default(),
            assumed,
            counted: Arc::default(),
        }
    }
}

/// The ruleset, the rulesets of timeline events, the NIC and the input of a scenario.
fn load(sc: Scenario) -> Result<(Scenario, Parts), RunError> {
    let file = sc.file.path.display().to_string();
    let ruleset = Ruleset::load(
        &sc.ruleset_file,
        &LoadOptions {
            utc_offset_s: sc.utc_offset_s,
            ..load_options(&sc.spec.ruleset.iif, &sc.spec.ruleset.oif)
        },
    )?;
    let event_rulesets = event_rulesets(&sc, &ruleset)?;
    let mut nic_table = sc.nic_overrides.clone();
    nic_table.insert("preset".into(), toml::Value::String(sc.nic_preset.clone()));
    let nic = NicConfig::from_scenario_table(&nic_table).map_err(|e| RunError::Nic {
        file: file.clone(),
        msg: e.to_string(),
    })?;
    let input = match (&sc.trace_file, &sc.spec.trace.generate) {
        (Some(p), _) => Input::File(p.clone()),
        (None, Some(g)) => {
            let profile: Profile = g.profile.parse().map_err(SourceError::Gen)?;
            let stop =
                Stop::from_args(g.packets, g.duration_s, profile).map_err(SourceError::Gen)?;
            let mut cfg = GenConfig::new(profile, g.seed.unwrap_or(sc.spec.seed), stop);
            cfg.load = g.load();
            Input::Gen(cfg)
        }
        (None, None) => unreachable!("validated by the scenario"),
    };
    let parts = Parts {
        ruleset,
        event_rulesets,
        nic,
        input,
    };
    Ok((sc, parts))
}

/// Retimer and report description for the scenario's replay settings.
fn replay_of(sc: &Scenario, pass: &TracePass) -> Result<(Retimer, rep::ReplayInfo), RunError> {
    let r = &sc.spec.replay;
    let (timing, mode) = if let Some(s) = r.speedup {
        (Timing::Speedup(s), "speedup")
    } else if let Some(p) = r.rate_pps {
        (Timing::RatePps(p), "rate-pps")
    } else if let Some(g) = r.rate_gbps {
        (Timing::RateBps(g * 1e9), "rate-bps")
    } else {
        (Timing::Recorded, "recorded")
    };
    let key = match timing {
        Timing::Recorded => "replay",
        Timing::Speedup(_) => "replay.speedup",
        Timing::RatePps(_) => "replay.rate_pps",
        Timing::RateBps(_) => "replay.rate_gbps",
    };
    let retimer = Retimer::new(timing, &pass.totals).map_err(|e| RunError::Replay {
        file: sc.file.locate(key),
        msg: e.to_string(),
    })?;
    let loops = r.loops.unwrap_or(1);
    let total_ns = u128::from(retimer.loop_period()) * u128::from(loops);
    if total_ns > u128::from(MAX_REPLAY_NS) {
        return Err(RunError::Replay {
            file: sc.file.locate("replay.loops"),
            msg: format!(
                "{loops} loops of {:.0} s would last {:.0} s of simulated time; at most {} s \
                 (30 days) are simulated",
                retimer.loop_period() as f64 / 1e9,
                total_ns as f64 / 1e9,
                MAX_REPLAY_NS / 1_000_000_000
            ),
        });
    }
    // A warm-up as long as the replay leaves nothing measured: the figures (and the SLO
    // gate) would be those of zero packets. Closed-loop senders run past the trace's end
    // (until their bytes are acknowledged), so their replay is not bounded by the trace.
    let warmup_ns = crate::replay::secs_to_ns(r.warmup_s.unwrap_or(0.0));
    if u128::from(warmup_ns) >= total_ns
        && r.warmup_s.is_some_and(|w| w > 0.0)
        && sc.closed_loop.is_none()
    {
        return Err(RunError::Replay {
            file: sc.file.locate("replay.warmup_s"),
            msg: format!(
                "warmup_s = {} s is not shorter than the replay ({:.3} s): nothing would be \
                 measured",
                r.warmup_s.unwrap_or(0.0),
                total_ns as f64 / 1e9
            ),
        });
    }
    let replay = rep::ReplayInfo {
        mode: mode.to_string(),
        speedup: r.speedup.unwrap_or(1.0),
        target_pps: r.rate_pps.unwrap_or(0.0),
        target_bps: r.rate_gbps.map(|g| g * 1e9).unwrap_or(0.0),
        loops,
        loop_mode: sc.closed_loop.map(|_| "closed-loop".to_string()),
        congestion: sc.closed_loop.map(|c| c.congestion.name().to_string()),
        duration_ns: retimer.loop_period() * u64::from(loops),
        description: format!(
            "{mode}{}, {loops} loop(s), warm-up {:.3} s",
            match timing {
                Timing::Recorded => String::new(),
                Timing::Speedup(s) => format!(" x{s}"),
                Timing::RatePps(p) => format!(" {p} pps"),
                Timing::RateBps(b) => format!(" {:.3} Gbit/s", b / 1e9),
            },
            r.warmup_s.unwrap_or(0.0)
        ),
    };
    Ok((retimer, replay))
}

impl Prepared {
    /// What the scan of the trace's first packets found (captured copies, a WAN capture):
    /// from the run that decoded the trace, or scanned now.
    pub fn findings(&self) -> Result<&Findings, RunError> {
        if let Some(f) = self.found.get() {
            return Ok(f);
        }
        let f = scan(&self.input, &self.scenario.sides)?;
        Ok(self.found.get_or_init(|| f))
    }

    /// The findings, if a decode has scanned the trace already.
    pub(crate) fn found(&self) -> Option<&Findings> {
        self.found.get()
    }

    /// Keeps what a decode's scan found (the same whichever decode scanned).
    pub(crate) fn set_findings(&self, f: Findings) {
        let _ = self.found.set(f);
    }

    /// Whether the first pass was deferred ([`prepare_deferred`]) and the runs have not
    /// settled it yet.
    pub fn deferred(&self) -> bool {
        self.assumed.is_some()
    }

    /// What a deferred run's decode checks and counts ([`crate::source::Decoder::counting`]).
    pub(crate) fn assumed(&self) -> Option<Assumed> {
        self.assumed
    }

    /// Keeps the totals a deferred run's decode counted (the same whichever decode counted).
    pub(crate) fn set_counted(&self, pass: TracePass) {
        let _ = self.counted.set(pass);
    }

    /// Ends the deferral once the runs are over: `pass`, `retimer` and `replay` become what
    /// [`prepare`] would have made, from the totals the runs counted (or, when no decode
    /// finished counting, from a first pass now). `Ok(true)` when the runs assumed what
    /// the totals say — the same oldest packet, the same series interval — so their
    /// results are those of runs prepared by [`prepare`]; `Ok(false)` when they must be
    /// done again; the error [`prepare`] would have returned otherwise.
    pub(crate) fn settle(&mut self) -> Result<bool, RunError> {
        let Some(a) = self.assumed.take() else {
            return Ok(true);
        };
        let interval = self.series_interval_ns();
        let counted = self.counted.get().cloned();
        let held = counted.is_some();
        let pass = match counted {
            Some(p) => p,
            None => first_pass(&self.input)?,
        };
        if pass.totals.packets == 0 {
            return Err(RunError::EmptyTrace(self.input.describe()));
        }
        let (retimer, replay) = replay_of(&self.scenario, &pass)?;
        let oldest = a.oldest.is_none_or(|t| t == pass.totals.first);
        (self.pass, self.retimer, self.replay) = (pass, retimer, replay);
        Ok(held && oldest && self.series_interval_ns() == interval)
    }

    /// The time-series interval of every run, ns: `report.interval_ms`, widened on long
    /// replays ([`crate::replay::series_interval_ns`]).
    pub(crate) fn series_interval_ns(&self) -> u64 {
        crate::replay::series_interval_ns(
            self.scenario
                .spec
                .report
                .interval_ms
                .saturating_mul(1_000_000),
            self.replay.duration_ns,
        )
    }

    /// The same scenario with the offered load paced at `gbps` Gbit/s (what `plan` probes).
    /// The same scenario paced at `gbps` (wire bits), measuring after `warmup_ns`.
    pub(crate) fn at_rate_gbps(&self, gbps: f64, warmup_ns: u64) -> Result<Prepared, RunError> {
        debug_assert!(!self.deferred(), "a probe needs the trace's totals");
        let mut p = self.clone();
        let r = &mut p.scenario.spec.replay;
        r.speedup = None;
        r.rate_pps = None;
        r.rate_gbps = Some(gbps);
        r.warmup_s = Some(warmup_ns as f64 / 1e9);
        let (retimer, replay) = replay_of(&p.scenario, &p.pass)?;
        p.retimer = retimer;
        p.replay = replay;
        p.progress = crate::progress::Progress::hidden();
        Ok(p)
    }
}
