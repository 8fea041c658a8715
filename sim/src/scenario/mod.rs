//! Scenario files (TOML): what to simulate.
//!
//! Two steps, as in ripgrep's `LowArgs → HiArgs`: the file is deserialised into a plain
//! [`ScenarioSpec`] that records what the user wrote (unknown keys are errors that name the
//! key, file and position), then [`ScenarioFile::resolve`] validates it into a typed
//! [`Scenario`] (presets loaded, overrides applied, paths resolved relative to the file).
//!
//! ```toml
//! name = "home-router"
//! seed = 1
//! [trace]            # a capture, or a generated trace
//! generate = { profile = "home-router", packets = 200000 }
//! [ruleset]
//! file = "rulesets/fw4-offload.nft"
//! [cpu]
//! preset = "mt7621"  # any other key overrides the preset's field: cores = 4
//! [nic]
//! preset = "mt7621"  # nicmodel/presets/mt7621.toml: the SoC's PPE
//! [kernel]
//! flavour = "6.6"
//! conntrack = "openwrt"
//! [replay]
//! rate_gbps = 0.5
//! [slo]
//! p99_latency_us = 2000
//! policies = ["none", "software", "hardware"]
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::cpu::{CpuConfig, CpuError};

mod egress;
mod events;
mod position;
mod ranges;
mod resolve;

use offsim_kernel::datapath::{LAN_IFINDEX, WAN_IFINDEX};
use offsim_kernel::fib::{AddrSpec, Fib, FibError, FibSpec, RouteSpec};
use offsim_kernel::flowtable::KernelFlavour;
use offsim_kernel::sides::SideMode;
use position::{key_offset, line_col};
use ranges::check_replay_report_slo;

/// Errors in a scenario file. Display names the file and, where known, the key and position.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScenarioError {
    /// The file could not be read.
    #[error("{file}: {source}")]
    Io {
        /// File.
        file: String,
        /// Cause.
        source: std::io::Error,
    },
    /// TOML syntax or schema error (unknown key, wrong type); the message has line and column.
    #[error("{file}: {msg}")]
    Parse {
        /// File.
        file: String,
        /// Message from the TOML parser.
        msg: String,
    },
    /// A value is out of range or inconsistent.
    #[error("{file}: `{key}`: {msg}")]
    Invalid {
        /// File.
        file: String,
        /// Dotted key.
        key: String,
        /// Why.
        msg: String,
    },
}

/// Where packets come from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TraceSpec {
    /// A pcap/pcapng file, relative to the scenario file.
    #[serde(default)]
    pub file: Option<PathBuf>,
    /// A generated trace.
    #[serde(default)]
    pub generate: Option<GenSpec>,
}

/// A `trace gen` specification.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenSpec {
    /// Profile name (`home-router`, `enterprise`, `datacenter`, `synflood`, `imix`,
    /// `connections`).
    pub profile: String,
    /// Packets to generate.
    #[serde(default)]
    pub packets: Option<u64>,
    /// Or seconds of traffic.
    #[serde(default)]
    pub duration_s: Option<f64>,
    /// Generator seed (default: the scenario seed).
    #[serde(default)]
    pub seed: Option<u64>,
    /// `connections` profile: new connections per second (default 1,000).
    #[serde(default)]
    pub cps: Option<f64>,
    /// `connections` profile: mean idle hold of a connection before its close, s (default 0).
    #[serde(default)]
    pub hold_s: Option<f64>,
}

impl GenSpec {
    /// The `connections` profile's load, when either key is given.
    pub(crate) fn load(&self) -> Option<offsim_traces::r#gen::ConnLoad> {
        offsim_traces::r#gen::ConnLoad::from_keys(self.cps, self.hold_s)
    }
}

/// The ruleset and the router's interfaces.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RulesetSpec {
    /// `nft list ruleset` text or `nft -j` JSON, relative to the scenario file.
    pub file: PathBuf,
    /// LAN interface name.
    #[serde(default = "default_iif")]
    pub iif: String,
    /// WAN interface name.
    #[serde(default = "default_oif")]
    pub oif: String,
    /// How packets map to interfaces: `flow` (default), `single`, `lan=CIDR,...` or
    /// `iface=ID:lan,ID:wan,...`.
    #[serde(default = "default_sides")]
    pub sides: String,
    /// The timezone the ruleset's `meta hour` times are in, as a UTC offset (`+02:00`);
    /// default UTC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub utc_offset: Option<String>,
    /// Extra routes, `PREFIX=DEV` (`default=DEV` for the default routes).
    #[serde(default)]
    pub routes: Vec<String>,
    /// The router's addresses, `DEV=ADDR[/LEN]` (default: one IPv4 address per device).
    #[serde(default)]
    pub addresses: Vec<String>,
}

fn default_iif() -> String {
    "lan0".into()
}
fn default_oif() -> String {
    "wan0".into()
}
fn default_sides() -> String {
    "flow".into()
}

/// Kernel behaviour.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KernelSpec {
    /// Kernel version or flavour: `6.6`, `6.14`, `mid`, `new`.
    #[serde(default = "default_flavour")]
    pub flavour: String,
    /// Conntrack timeouts: `kernel` defaults or `openwrt` sysctls.
    #[serde(default = "default_ct")]
    pub conntrack: String,
    /// `nf_flowtable_tcp_timeout` / `udp_timeout` in seconds.
    #[serde(default = "default_ft_timeout")]
    pub flowtable_timeout_s: u32,
    /// `nf_conntrack_max` (default: unlimited).
    #[serde(default)]
    pub conntrack_max: Option<u32>,
    /// `nf_conntrack_buckets` (default: `conntrack_max`, at least 1024).
    #[serde(default)]
    pub conntrack_buckets: Option<u32>,
    /// `nf_conntrack_tcp_loose`.
    #[serde(default = "yes")]
    pub tcp_loose: bool,
    /// `nf_conntrack_tcp_be_liberal`.
    #[serde(default)]
    pub tcp_be_liberal: bool,
    /// Path MTU of the egress interfaces (bytes of IP).
    #[serde(default = "default_mtu")]
    pub mtu: u32,
}

fn default_flavour() -> String {
    "6.6".into()
}
fn default_ct() -> String {
    "openwrt".into()
}
fn default_ft_timeout() -> u32 {
    30
}
fn default_mtu() -> u32 {
    1500
}
fn yes() -> bool {
    true
}

impl Default for KernelSpec {
    fn default() -> Self {
        KernelSpec {
            flavour: default_flavour(),
            conntrack: default_ct(),
            flowtable_timeout_s: default_ft_timeout(),
            conntrack_max: None,
            conntrack_buckets: None,
            tcp_loose: true,
            tcp_be_liberal: false,
            mtu: default_mtu(),
        }
    }
}

/// Replay settings.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplaySpec {
    /// Divide recorded gaps by this factor.
    #[serde(default)]
    pub speedup: Option<f64>,
    /// Retime to this offered rate in packets/s.
    #[serde(default)]
    pub rate_pps: Option<f64>,
    /// Retime to this offered rate in Gbit/s on the wire.
    #[serde(default)]
    pub rate_gbps: Option<f64>,
    /// Replays of the trace with fresh tuples (default 1).
    #[serde(default)]
    pub loops: Option<u32>,
    /// Seconds excluded from the figures at the start.
    #[serde(default)]
    pub warmup_s: Option<f64>,
    /// `open-loop` (default: packets at the trace's times) or `closed-loop` (TCP
    /// connections become senders with congestion control).
    #[serde(default)]
    pub mode: Option<String>,
    /// Closed-loop senders' congestion control: `cubic` (default) or `reno`.
    #[serde(default)]
    pub congestion: Option<String>,
}

/// Service-level objective.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SloSpec {
    /// Highest acceptable p99 latency in µs.
    #[serde(default)]
    pub p99_latency_us: Option<f64>,
    /// Highest acceptable loss rate: packets the router failed to forward for lack of
    /// capacity, as a fraction of offered packets (ruleset and routing drops do not count).
    #[serde(default)]
    pub max_drop_rate: Option<f64>,
    /// Highest acceptable utilisation of the busiest core (fraction).
    #[serde(default)]
    pub max_cpu: Option<f64>,
    /// Highest acceptable mean utilisation over all cores (fraction).
    #[serde(default)]
    pub max_cpu_mean: Option<f64>,
    /// Configurations whose result decides the exit code and the plan (default: all).
    #[serde(default)]
    pub policies: Option<Vec<String>>,
}

impl SloSpec {
    /// Whether any check is set.
    pub fn any(&self) -> bool {
        self.p99_latency_us.is_some()
            || self.max_drop_rate.is_some()
            || self.max_cpu.is_some()
            || self.max_cpu_mean.is_some()
    }
}

/// Report settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportSpec {
    /// Time-series interval in ms.
    #[serde(default = "default_interval")]
    pub interval_ms: u64,
    /// Write per-flow records (`flows.jsonl`).
    #[serde(default)]
    pub flows: bool,
}

fn default_interval() -> u64 {
    100
}

impl Default for ReportSpec {
    fn default() -> Self {
        ReportSpec {
            interval_ms: default_interval(),
            flows: false,
        }
    }
}

/// An offload policy as written: a name, or a table for the what-if policies.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PolicySpec {
    /// `none`, `software` or `hardware`.
    Name(String),
    /// A what-if policy.
    Table(PolicyTable),
}

/// A what-if offload policy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyTable {
    /// Name in the report.
    pub name: String,
    /// Base: `software` or `hardware`.
    #[serde(default = "default_base")]
    pub base: String,
    /// Offload a connection only after this many packets.
    #[serde(default)]
    pub after_packets: Option<u64>,
    /// … or after this many bytes.
    #[serde(default)]
    pub after_bytes: Option<u64>,
    /// Offload only connections above this packet rate (elephants): their mean rate since
    /// creation, measured over at least one second.
    #[serde(default)]
    pub min_pps: Option<f64>,
    /// When the hardware table is full: `refuse` (kernel), `evict-lru`, `evict-least-active`.
    #[serde(default)]
    pub admission: Option<String>,
}

fn default_base() -> String {
    "hardware".into()
}

/// A capacity-planning search.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanSpec {
    /// Lowest offered rate to consider, Gbit/s.
    #[serde(default)]
    pub min_gbps: Option<f64>,
    /// Highest, Gbit/s.
    #[serde(default)]
    pub max_gbps: Option<f64>,
    /// Bisection steps per target (NDR, PDR, SLO).
    #[serde(default)]
    pub steps: Option<u32>,
    /// Loss ratio the partial-drop rate (PDR) allows (default 0.005).
    #[serde(default)]
    pub pdr_loss: Option<f64>,
}

/// A scenario file as written.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioSpec {
    /// Name.
    pub name: String,
    /// Free text.
    #[serde(default)]
    pub description: String,
    /// Seed for everything random.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Packets.
    pub trace: TraceSpec,
    /// Ruleset and interfaces.
    pub ruleset: RulesetSpec,
    /// CPU preset and overrides.
    pub cpu: toml::Table,
    /// NIC preset and overrides.
    pub nic: toml::Table,
    /// Kernel behaviour.
    #[serde(default)]
    pub kernel: KernelSpec,
    /// Replay timing.
    #[serde(default)]
    pub replay: ReplaySpec,
    /// Configurations to compare.
    #[serde(default = "default_policies")]
    pub policies: Vec<PolicySpec>,
    /// SLO.
    #[serde(default)]
    pub slo: SloSpec,
    /// Report settings.
    #[serde(default)]
    pub report: ReportSpec,
    /// Parameter grid: dotted key → values.
    #[serde(default)]
    pub sweep: Option<BTreeMap<String, Vec<toml::Value>>>,
    /// Capacity planning.
    #[serde(default)]
    pub plan: Option<PlanSpec>,
    /// Events on the timeline (`[[events]]`), applied to every configuration.
    #[serde(default)]
    pub events: Vec<EventSpec>,
    /// Host qdiscs on the ports' egress (`[egress.lan]`, `[egress.wan]`).
    #[serde(default)]
    pub egress: BTreeMap<String, EgressSpec>,
}

/// A port's egress qdisc as written (`[egress.wan]`; the key is "lan", "wan" or the
/// ruleset's iif / oif name).
///
/// ```toml
/// [egress.wan]
/// qdisc = "cake"        # pfifo_fast | fq_codel | cake
/// shaper_mbit = 450.0   # SQM: shape below the line rate (default: the port's line rate)
/// # target_ms = 5, interval_ms = 100, limit = 10240, flows = 1024, quantum = 1514, ecn = true
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EgressSpec {
    /// Discipline.
    pub qdisc: String,
    /// Shaper rate, Mbit/s.
    #[serde(default)]
    pub shaper_mbit: Option<f64>,
    /// CoDel target, ms.
    #[serde(default)]
    pub target_ms: Option<f64>,
    /// CoDel interval, ms.
    #[serde(default)]
    pub interval_ms: Option<f64>,
    /// Packets held at most.
    #[serde(default)]
    pub limit: Option<u32>,
    /// Flow queues.
    #[serde(default)]
    pub flows: Option<u32>,
    /// DRR quantum, bytes.
    #[serde(default)]
    pub quantum: Option<u32>,
    /// ECN marking.
    #[serde(default)]
    pub ecn: Option<bool>,
}

/// One `[[events]]` entry as written.
///
/// ```toml
/// [[events]]
/// at_s = 5.0            # seconds after the trace's first packet
/// kind = "host-move"    # ruleset-reload | flowtable-flush | conntrack-flush | link-down | link-up | host-move
/// host = "192.168.1.20" # host-move: the LAN host that moves
/// fdb_teardown = false  # host-move: the bridge fdb update tears its flows down (pending patch)
/// # device = "wan"      # link-down / link-up: "lan", "wan" or the ruleset's iif / oif name
/// # ruleset = "new.nft" # policy-change (required), ruleset-reload (optional): the new rules
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventSpec {
    /// Seconds after the trace's first packet.
    pub at_s: f64,
    /// Kind (see [`crate::timeline`]).
    pub kind: String,
    /// The device of `link-down` / `link-up`.
    #[serde(default)]
    pub device: Option<String>,
    /// The host of `host-move`.
    #[serde(default)]
    pub host: Option<String>,
    /// `host-move`: whether the bridge's fdb update tears the host's flows down.
    #[serde(default)]
    pub fdb_teardown: Option<bool>,
    /// `policy-change` (required) and `ruleset-reload` (optional): the rules loaded.
    #[serde(default)]
    pub ruleset: Option<String>,
}

fn default_seed() -> u64 {
    1
}

fn default_policies() -> Vec<PolicySpec> {
    ["none", "software", "hardware"]
        .iter()
        .map(|s| PolicySpec::Name((*s).into()))
        .collect()
}

/// A scenario file, its raw TOML (for sweeps) and where it lives.
#[derive(Clone, Debug)]
pub struct ScenarioFile {
    /// Path as given.
    pub path: PathBuf,
    /// The TOML tree.
    pub value: toml::Table,
    /// The text as read, for the positions of errors.
    text: Option<std::sync::Arc<str>>,
}

impl ScenarioFile {
    /// Reads a scenario file.
    pub fn load(path: &Path) -> Result<ScenarioFile, ScenarioError> {
        let file = path.display().to_string();
        let text = offsim_traces::input::read_text(path, offsim_traces::input::MAX_SCENARIO_BYTES)
            .map_err(|e| match e {
                offsim_traces::input::InputError::Io(source) => ScenarioError::Io {
                    file: file.clone(),
                    source,
                },
                other => ScenarioError::Parse {
                    file: file.clone(),
                    msg: other.to_string(),
                },
            })?;
        let value: toml::Table = toml::from_str(&text).map_err(|e| ScenarioError::Parse {
            file: file.clone(),
            msg: e.to_string(),
        })?;
        // Check the schema now, with positions, before any sweep rewrites the tree.
        toml::from_str::<ScenarioSpec>(&text).map_err(|e| ScenarioError::Parse {
            file,
            msg: e.to_string(),
        })?;
        Ok(ScenarioFile {
            path: path.to_path_buf(),
            value,
            text: Some(text.into()),
        })
    }

    /// A scenario from TOML text (`path` names it in errors and anchors relative paths).
    pub fn from_text(path: &Path, text: &str) -> Result<ScenarioFile, ScenarioError> {
        let file = path.display().to_string();
        let value: toml::Table = toml::from_str(text).map_err(|e| ScenarioError::Parse {
            file: file.clone(),
            msg: e.to_string(),
        })?;
        toml::from_str::<ScenarioSpec>(text).map_err(|e| ScenarioError::Parse {
            file,
            msg: e.to_string(),
        })?;
        Ok(ScenarioFile {
            path: path.to_path_buf(),
            value,
            text: Some(text.into()),
        })
    }

    /// `path:line:col` of dotted `key` in the text (the deepest part of it found; a key set
    /// by a sweep point is found in the `[sweep]` table), or the path alone.
    pub fn locate(&self, key: &str) -> String {
        let file = self.path.display().to_string();
        let Some(text) = &self.text else {
            return file;
        };
        let at = key_offset(text, key).or_else(|| key_offset(text, &format!("sweep.\"{key}\"")));
        match at {
            Some(off) => {
                let (line, col) = line_col(text, off);
                format!("{file}:{line}:{col}")
            }
            None => file,
        }
    }

    /// The error for `key`, at its position in the file.
    pub fn invalid(&self, key: &str, msg: impl Into<String>) -> ScenarioError {
        ScenarioError::Invalid {
            file: self.locate(key),
            key: key.to_string(),
            msg: msg.into(),
        }
    }

    /// The spec (from the possibly modified tree).
    pub fn spec(&self) -> Result<ScenarioSpec, ScenarioError> {
        ScenarioSpec::deserialize(toml::Value::Table(self.value.clone())).map_err(|e| {
            ScenarioError::Parse {
                file: self.path.display().to_string(),
                msg: e.to_string(),
            }
        })
    }

    /// Directory that relative paths are resolved against.
    pub fn dir(&self) -> PathBuf {
        self.path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default()
    }

    /// A copy with `key` (dotted) set to `v`: how sweep points are made.
    pub fn with(&self, key: &str, v: toml::Value) -> Result<ScenarioFile, ScenarioError> {
        let mut value = self.value.clone();
        let parts: Vec<&str> = key.split('.').collect();
        let mut t = &mut value;
        for (i, p) in parts.iter().enumerate() {
            if i + 1 == parts.len() {
                t.insert((*p).to_string(), v);
                break;
            }
            let e = t
                .entry((*p).to_string())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            t = e.as_table_mut().ok_or_else(|| ScenarioError::Invalid {
                file: self.path.display().to_string(),
                key: key.to_string(),
                msg: format!("`{p}` is not a table"),
            })?;
        }
        Ok(ScenarioFile {
            path: self.path.clone(),
            value,
            text: self.text.clone(),
        })
    }
}

/// Conntrack timeout flavour.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CtFlavour {
    /// Kernel defaults.
    Kernel,
    /// OpenWrt sysctls.
    Openwrt,
}

/// A validated offload policy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Policy {
    /// Name in the report.
    pub name: String,
    /// Use the flowtable at all.
    pub flowtable: bool,
    /// Use the NIC (`flags offload`).
    pub hardware: bool,
    /// Offload a connection only after this many packets (0 = kernel behaviour).
    pub after_packets: u64,
    /// Or after this many bytes.
    pub after_bytes: u64,
    /// Only connections above this packet rate.
    pub min_pps: f64,
    /// Admission when the hardware table is full.
    pub admission: Admission,
}

/// Hardware-table admission policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Admission {
    /// Refuse (what drivers do).
    Refuse,
    /// Evict the least recently used entry.
    EvictLru,
    /// Evict the entry with the fewest packets.
    EvictLeastActive,
}

/// A validated scenario (everything except the trace, ruleset and NIC, which their owners
/// load and validate).
#[derive(Clone, Debug)]
pub struct Scenario {
    /// The file it came from.
    pub file: ScenarioFile,
    /// The spec as written.
    pub spec: ScenarioSpec,
    /// Resolved trace file, if any.
    pub trace_file: Option<PathBuf>,
    /// Resolved ruleset file.
    pub ruleset_file: PathBuf,
    /// CPU.
    pub cpu: CpuConfig,
    /// NIC preset name.
    pub nic_preset: String,
    /// NIC overrides (every key but `preset`).
    pub nic_overrides: toml::Table,
    /// Kernel flavour.
    pub flavour: KernelFlavour,
    /// Conntrack timeouts.
    pub ct: CtFlavour,
    /// Sides.
    pub sides: SideMode,
    /// `ruleset.utc_offset` in seconds east of UTC.
    pub utc_offset_s: i32,
    /// The router's MTU, addresses and routes.
    pub fib: FibSpec,
    /// Policies, in order.
    pub policies: Vec<Policy>,
    /// Events on the timeline, in time order.
    pub events: Vec<crate::timeline::TimedEvent>,
    /// Egress qdiscs by port (LAN, WAN).
    pub egress: [Option<crate::qdisc::EgressConfig>; 2],
    /// Closed-loop TCP senders (`replay.mode = "closed-loop"`); `None`: open loop.
    pub closed_loop: Option<crate::engine::ClosedLoopConfig>,
}

/// Builds the error for `key` of the file being resolved.
type Invalid<'a> = &'a dyn Fn(&str, String) -> ScenarioError;

/// The scenario the submodules' tests add their tables to: a home router whose ruleset's
/// ports are `br-lan` and `wan`.
#[cfg(test)]
pub(super) mod testkit {
    use super::{Scenario, ScenarioFile};

    const BASE: &str = r#"
name = "t"
[trace]
generate = { profile = "home-router", packets = 1000 }
[ruleset]
file = "r.nft"
iif = "br-lan"
oif = "wan"
[cpu]
preset = "mt7621"
[nic]
preset = "mt7621"
"#;

    /// The base scenario with `body` appended, resolved (an error as its message).
    pub(crate) fn resolve(body: &str) -> Result<Scenario, String> {
        ScenarioFile::from_text(std::path::Path::new("s.toml"), &format!("{BASE}\n{body}"))
            .map_err(|e| e.to_string())?
            .resolve()
            .map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod test {
    use super::*;

    /// `body` as `s.toml` in a scratch directory of its own (removed when dropped).
    fn write(name: &str, body: &str) -> Written {
        let d = crate::scratch::Scratch::new("scn", name);
        let p = d.join("s.toml");
        std::fs::write(&p, body).unwrap();
        Written { path: p, _dir: d }
    }

    /// A written scenario's path, and its directory, removed with it.
    struct Written {
        path: PathBuf,
        _dir: crate::scratch::Scratch,
    }

    impl std::ops::Deref for Written {
        type Target = Path;
        fn deref(&self) -> &Path {
            &self.path
        }
    }

    const OK: &str = r#"
name = "t"
[trace]
generate = { profile = "home-router", packets = 1000 }
[ruleset]
file = "r.nft"
[cpu]
preset = "mt7621"
cores = 1
[nic]
preset = "mt7621"
"#;

    #[test]
    fn minimal_scenario_resolves_with_overrides() {
        let p = write("ok", OK);
        let s = ScenarioFile::load(&p).unwrap().resolve().unwrap();
        assert_eq!(s.cpu.cores, 1);
        assert_eq!(s.cpu.name, "mt7621");
        assert_eq!(s.policies.len(), 3);
        assert_eq!(s.flavour, KernelFlavour::Mid);
        assert_eq!(s.ruleset_file, p.parent().unwrap().join("r.nft"));
    }

    #[test]
    fn unknown_key_names_key_file_and_line() {
        let p = write("unk", &format!("{OK}\n[replay]\nspeed = 2\n"));
        let e = ScenarioFile::load(&p).unwrap_err().to_string();
        assert!(
            e.contains("s.toml") && e.contains("speed") && e.contains("line"),
            "{e}"
        );
        let p = write("unkcpu", &OK.replace("cores = 1", "corez = 1"));
        let e = ScenarioFile::load(&p)
            .unwrap()
            .resolve()
            .unwrap_err()
            .to_string();
        assert!(e.contains("corez") && e.contains("cpu"), "{e}");
    }

    #[test]
    fn absurd_values_are_rejected() {
        for (bad, key) in [
            ("[replay]\nrate_gbps = -1\n", "replay.rate_gbps"),
            ("[replay]\nloops = 0\n", "replay.loops"),
            ("[kernel]\nflavour = \"2.4\"\n", "kernel.flavour"),
            ("[slo]\nmax_drop_rate = 2\n", "slo.max_drop_rate"),
            ("policies = [\"turbo\"]\n", "policies[0]"),
            ("[replay]\nmode = \"closed\"\n", "replay.mode"),
            (
                "[replay]\nmode = \"closed-loop\"\ncongestion = \"bbr\"\n",
                "replay.congestion",
            ),
            ("[replay]\ncongestion = \"reno\"\n", "replay.congestion"),
        ] {
            let body = if bad.starts_with("policies") {
                format!("{bad}{OK}")
            } else {
                format!("{OK}\n{bad}")
            };
            let p = write(key, &body);
            let e = ScenarioFile::load(&p)
                .unwrap()
                .resolve()
                .unwrap_err()
                .to_string();
            assert!(e.contains(key), "{key}: {e}");
            if key.starts_with("replay.") {
                // file:line:col of the key
                assert!(e.contains(".toml:"), "{key}: {e}");
            }
        }
        let p = write("cores0", &OK.replace("cores = 1", "cores = 0"));
        let e = ScenarioFile::load(&p)
            .unwrap()
            .resolve()
            .unwrap_err()
            .to_string();
        assert!(e.contains("cpu.cores"), "{e}");
    }

    #[test]
    fn sweep_points_rewrite_any_key() {
        let p = write("sw", OK);
        let f = ScenarioFile::load(&p).unwrap();
        let g = f.with("cpu.cores", toml::Value::Integer(2)).unwrap();
        assert_eq!(g.resolve().unwrap().cpu.cores, 2);
        let g = f.with("replay.rate_gbps", toml::Value::Float(0.5)).unwrap();
        assert_eq!(g.resolve().unwrap().spec.replay.rate_gbps, Some(0.5));
    }
}
