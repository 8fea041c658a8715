//! NIC configuration: presets of real parts as data files, scenario overrides, validation.
//!
//! A [`NicConfig`] is read from TOML. Presets live in `nicmodel/presets/*.toml` and are
//! embedded in the binary ([`PRESETS`]), so nothing is read from disk at run time. Every
//! numeric (and boolean/enum) field of a preset carries a note in its `[sources]` table, keyed
//! by the field's dotted path (`"table.capacity"`); [`NicConfig::missing_sources`] lists the
//! fields that lack one, and a test requires it to be empty for every preset.
//!
//! A scenario selects a preset and overrides any field:
//!
//! ```toml
//! [nic]
//! preset = "mt7621"
//! table.capacity = 16384        # the 2024 driver value
//! binding.bind_rate_pps = 10
//! ```
//!
//! [`NicConfig::from_scenario_table`] takes that `[nic]` table; [`NicConfig::apply_overrides`]
//! merges any TOML table onto a config. Unknown fields, wrong types and absurd values are
//! typed errors ([`ConfigError`]) that name the field.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

mod overrides;
mod validate;

use overrides::{collect_leaves, from_merged, line_col, merge};

/// Presets embedded in the binary: `(name, TOML text)`.
pub const PRESETS: &[(&str, &str)] = &[
    ("mt7620", include_str!("../../presets/mt7620.toml")),
    ("mt7621", include_str!("../../presets/mt7621.toml")),
    ("mt7986", include_str!("../../presets/mt7986.toml")),
    ("en7581", include_str!("../../presets/en7581.toml")),
    (
        "connectx6dx",
        include_str!("../../presets/connectx6dx.toml"),
    ),
    ("e810", include_str!("../../presets/e810.toml")),
    ("smartnic", include_str!("../../presets/smartnic.toml")),
];

/// Names of the embedded presets.
pub fn preset_names() -> impl Iterator<Item = &'static str> {
    PRESETS.iter().map(|(n, _)| *n)
}

/// Errors from loading, merging or validating a NIC configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The preset name is not one of [`PRESETS`].
    #[error("unknown NIC preset `{name}` (known: {known})")]
    UnknownPreset {
        /// The name asked for.
        name: String,
        /// The known names, comma separated.
        known: String,
    },
    /// The TOML text does not parse or does not match the schema.
    #[error("{origin}:{line}:{col}: {message}")]
    Parse {
        /// File name or preset name.
        origin: String,
        /// 1-based line (0 when unknown).
        line: usize,
        /// 1-based column (0 when unknown).
        col: usize,
        /// What went wrong.
        message: String,
    },
    /// An override names a field the configuration does not have.
    #[error("unknown NIC configuration field `{field}`")]
    UnknownField {
        /// Dotted path of the field.
        field: String,
    },
    /// An override has the wrong TOML type.
    #[error("NIC configuration field `{field}`: expected {expected}, found {found}")]
    Type {
        /// Dotted path of the field.
        field: String,
        /// Expected TOML type.
        expected: &'static str,
        /// Type found.
        found: &'static str,
    },
    /// A value is out of range or inconsistent with another field.
    #[error("NIC configuration field `{field}`: {reason}")]
    Invalid {
        /// Dotted path of the field.
        field: String,
        /// Why it is rejected.
        reason: String,
    },
}

/// How the table finds a slot for a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Layout {
    /// Exact-match hashed buckets of `ways` consecutive entries (MediaTek/Airoha PPE).
    Hashed,
    /// Bucketed cuckoo hashing: two hash functions, `ways` entries per bucket, bounded
    /// kick-out (`max_kicks`).
    Cuckoo,
    /// Any free slot (TCAM-like or a firmware-managed hash with chaining; mlx5, E810 FDIR).
    FullyAssociative,
}

/// Hash function for [`Layout::Hashed`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HashKind {
    /// MediaTek's `mtk_ppe_hash_entry` (`hash.rs`); needs power-of-two
    /// capacity and ways.
    MtkPpe,
    /// A seeded 64-bit hash of the whole key (`mix64` in `hash.rs`).
    Mix64,
}

/// What an insertion does when the key's candidate slots are all taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Eviction {
    /// Refuse the insertion (`BucketFull` / `TableFull`); the flow stays in software. What
    /// every driver in the reference does.
    Refuse,
    /// Evict the candidate entry used least recently (what-if policy).
    Lru,
    /// Evict the candidate entry with the fewest packets in the current rate window, ties by
    /// least recent use (what-if policy; bucketed layouts only).
    LeastActive,
}

/// When an accepted rule starts forwarding in hardware.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BindMode {
    /// The rule is in hardware once its insert op completes (mlx5, E810, generic).
    Direct,
    /// MediaTek-style: REPLACE only lists the flow in software; the hardware binds it after
    /// the flow reaches the bind rate and a CPU-side check finds it (see [`crate::table`]).
    Lazy,
}

/// TCP flags a NIC sends to the CPU instead of looking them up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TcpFlag {
    /// FIN.
    Fin,
    /// SYN.
    Syn,
    /// RST.
    Rst,
    /// PSH.
    Psh,
    /// ACK.
    Ack,
    /// URG.
    Urg,
}

impl TcpFlag {
    /// The flag's bit in the TCP header's flags byte.
    pub fn bit(self) -> u8 {
        use offsim_traces::meta::tcp_flags as f;
        match self {
            TcpFlag::Fin => f::FIN,
            TcpFlag::Syn => f::SYN,
            TcpFlag::Rst => f::RST,
            TcpFlag::Psh => f::PSH,
            TcpFlag::Ack => f::ACK,
            TcpFlag::Urg => f::URG,
        }
    }
}

/// Table geometry and matching.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableConfig {
    /// Slot organisation.
    pub layout: Layout,
    /// Number of entries (slots), reserved ones included.
    pub capacity: u32,
    /// Entries per bucket (hashed, cuckoo); ignored for fully associative (set 1).
    pub ways: u32,
    /// Hash function for the hashed layout.
    pub hash: HashKind,
    /// Cuckoo kick-out bound (displacements tried before giving up); 0 for other layouts.
    pub max_kicks: u32,
    /// Reserved-index pattern period (entries); 0 = no reserved entries.
    pub reserved_period: u32,
    /// Indices within each period that are never used.
    pub reserved_indices: Vec<u32>,
    /// Policy when the candidate slots are full (direct binding only).
    pub eviction: Eviction,
    /// Whether the hardware key includes the ingress interface.
    pub match_iif: bool,
    /// Whether the hardware key includes VLAN/PPPoE ids.
    pub match_encap: bool,
    /// Whether IPv6 flows can be offloaded.
    pub ipv6: bool,
    /// Maximum encapsulation layers a rule may carry (0–2).
    pub max_encap: u8,
}

/// Binding behaviour.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BindingConfig {
    /// Direct insertion or lazy (MediaTek) binding.
    pub mode: BindMode,
    /// Lazy: packets per rate window an unbound entry must reach before the packet is sent to
    /// the CPU with a bind-check reason.
    pub bind_rate_pps: u32,
    /// Lazy: length of the rate window (ms).
    pub rate_window_ms: u64,
    /// Lazy: minimum time between two CPU-side checks of the same entry index (ms).
    pub check_interval_ms: u64,
    /// Lazy: a check unlinks every other software-listed flow of the bucket from its hardware
    /// entry (the entry stays bound, unowned, until it ages), as `__mtk_ppe_check_skb` does.
    pub unlink_bucket_peers: bool,
}

/// Hardware aging of idle entries.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgingConfig {
    /// Whether the hardware ages entries at all.
    pub enabled: bool,
    /// Aging time unit (ms).
    pub tick_ms: u64,
    /// Idle ticks after which a bound TCP entry is aged.
    pub tcp_ticks: u32,
    /// Idle ticks after which a bound UDP entry is aged.
    pub udp_ticks: u32,
    /// Idle ticks after which a bound entry of another protocol is aged.
    pub other_ticks: u32,
    /// Lazy: idle ticks after which an unbound entry is freed.
    pub unbound_ticks: u32,
}

/// Per-entry counters and their readout.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CounterConfig {
    /// Whether packet/byte counters can be read back (MediaTek `has_accounting`).
    pub accounting: bool,
    /// Counters and last-use are visible as of the last bulk refresh, every this many ms
    /// (mlx5 `MLX5_FC_STATS_PERIOD`); 0 = read live.
    pub refresh_ms: u64,
    /// Unit of the entry timestamp used for idle time (ms); 0 = exact time.
    pub timestamp_tick_ms: u64,
    /// Width of the entry timestamp field (idle time wraps at `2^bits` ticks); 0 = no wrap.
    pub timestamp_bits: u8,
}

/// The control path that programs the table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineConfig {
    /// Delay from submission until an op can start (workqueue wake-up, firmware mailbox), ns.
    pub queue_delay_ns: u64,
    /// Insert (REPLACE) operations per second the driver/NIC completes.
    pub insert_rate_per_s: u64,
    /// Remove (DESTROY) operations per second.
    pub remove_rate_per_s: u64,
    /// Stats reads per second.
    pub stats_rate_per_s: u64,
    /// Ops of one kind waiting to start before submissions are refused (`QueueFull`); 0 means
    /// no queue: an op submitted while the device is busy is refused (`RateLimited`).
    pub queue_depth: u32,
    /// Host CPU time one insert costs (driver work), ns.
    pub cpu_ns_insert: u64,
    /// Host CPU time one remove costs, ns.
    pub cpu_ns_remove: u64,
    /// Host CPU time one stats read costs, ns.
    pub cpu_ns_stats: u64,
}

/// The forwarding data path.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatapathConfig {
    /// Line rate of every port, bits per second.
    pub line_rate_bps: u64,
    /// Preamble + start-of-frame delimiter on the wire, bytes.
    pub preamble_bytes: u32,
    /// Inter-frame gap, bytes.
    pub ifg_bytes: u32,
    /// Frame check sequence length, bytes.
    pub fcs_bytes: u32,
    /// Whether captured frame lengths already include the FCS (most Linux captures do not).
    pub fcs_in_capture: bool,
    /// Minimum frame on the wire including FCS (shorter frames are padded), bytes.
    pub min_frame_bytes: u32,
    /// Packets per second the offload engine forwards.
    pub engine_pps: u64,
    /// Packets the engine can hold waiting; more are dropped.
    pub engine_queue: u32,
    /// Fixed pipeline latency of a hardware-forwarded packet, ns.
    pub forward_latency_ns: u64,
    /// Egress buffer per port; a packet that would wait longer than this many bytes take to
    /// serialise is dropped.
    pub egress_buffer_bytes: u64,
    /// TCP flags whose packets the NIC hands to the CPU.
    pub punt_tcp_flags: Vec<TcpFlag>,
    /// Whether a hit with TTL/hop limit <= 1 goes to the CPU (which sends the ICMP error).
    pub punt_ttl_expired: bool,
}

/// Power of the NIC / offload engine.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PowerConfig {
    /// Power drawn regardless of traffic, watts.
    pub static_w: f64,
    /// Energy per received packet (DMA, MAC), nanojoules.
    pub rx_nj_per_packet: f64,
    /// Extra energy per packet forwarded by the offload engine, nanojoules.
    pub hw_nj_per_packet: f64,
}

/// A complete NIC description.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NicConfig {
    /// Short name (the preset name).
    pub name: String,
    /// One-line description.
    pub description: String,
    /// Table geometry.
    pub table: TableConfig,
    /// Binding behaviour.
    pub binding: BindingConfig,
    /// Hardware aging.
    pub aging: AgingConfig,
    /// Counters.
    pub counters: CounterConfig,
    /// Insertion pipeline.
    pub pipeline: PipelineConfig,
    /// Data path.
    pub datapath: DatapathConfig,
    /// Power.
    pub power: PowerConfig,
    /// Source note per field, keyed by dotted path.
    #[serde(default)]
    pub sources: BTreeMap<String, String>,
}

impl NicConfig {
    /// Loads an embedded preset by name (and validates it).
    pub fn preset(name: &str) -> Result<NicConfig, ConfigError> {
        let text = PRESETS
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, t)| *t)
            .ok_or_else(|| ConfigError::UnknownPreset {
                name: name.to_string(),
                known: preset_names().collect::<Vec<_>>().join(", "),
            })?;
        NicConfig::from_toml_str(text, &format!("preset {name}"))
    }

    /// Parses a full configuration from TOML text; `origin` names the file in errors.
    pub(crate) fn from_toml_str(text: &str, origin: &str) -> Result<NicConfig, ConfigError> {
        let cfg: NicConfig = toml::from_str(text).map_err(|e| {
            let (line, col) = e.span().map(|s| line_col(text, s.start)).unwrap_or((0, 0));
            ConfigError::Parse {
                origin: origin.to_string(),
                line,
                col,
                message: e.message().to_string(),
            }
        })?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Builds a configuration from a scenario's `[nic]` table: the `preset` key names the
    /// base (default `"smartnic"` when absent), every other key overrides a field.
    pub fn from_scenario_table(table: &toml::Table) -> Result<NicConfig, ConfigError> {
        let preset = match table.get("preset") {
            None => "smartnic",
            Some(toml::Value::String(s)) => s.as_str(),
            Some(v) => {
                return Err(ConfigError::Type {
                    field: "preset".into(),
                    expected: "string",
                    found: v.type_str(),
                });
            }
        };
        let mut cfg = NicConfig::preset(preset)?;
        let mut rest = table.clone();
        rest.remove("preset");
        cfg.apply_overrides(&rest)?;
        Ok(cfg)
    }

    /// Merges `overrides` (a TOML table shaped like the configuration, any subset of fields)
    /// onto this configuration, then validates. Each overridden field's source note becomes
    /// "scenario override". Keys under `sources` add or replace notes.
    pub fn apply_overrides(&mut self, overrides: &toml::Table) -> Result<(), ConfigError> {
        let mut base = toml::Table::try_from(&*self).map_err(|e| ConfigError::Invalid {
            field: String::new(),
            reason: format!("cannot serialise configuration: {e}"),
        })?;
        let mut touched = Vec::new();
        merge(&mut base, overrides, "", &mut touched)?;
        let mut next = from_merged(base, &touched)?;
        for path in touched {
            if !path.starts_with("sources.") {
                next.sources.insert(path, "scenario override".to_string());
            }
        }
        next.validate()?;
        *self = next;
        Ok(())
    }

    /// Dotted paths of the leaf fields that have no note in `sources` (name, description and
    /// the sources table itself excluded). Presets must return an empty list.
    pub fn missing_sources(&self) -> Vec<String> {
        let Ok(v) = toml::Table::try_from(self) else {
            return vec!["<unserialisable>".into()];
        };
        let mut leaves = Vec::new();
        collect_leaves(&v, "", &mut leaves);
        leaves
            .into_iter()
            .filter(|p| {
                !matches!(p.as_str(), "name" | "description")
                    && !p.starts_with("sources.")
                    && !self.sources.contains_key(p)
            })
            .collect()
    }

    /// Number of entries that can hold flows (capacity minus reserved entries).
    pub fn usable_capacity(&self) -> u32 {
        let t = &self.table;
        match t.capacity.checked_div(t.reserved_period) {
            None => t.capacity,
            Some(blocks) => t.capacity - blocks * t.reserved_indices.len() as u32,
        }
    }
}

impl fmt::Display for NicConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name, self.description)
    }
}

#[cfg(test)]
mod test {
    use super::*;

    fn tbl(s: &str) -> toml::Table {
        toml::from_str(s).unwrap()
    }

    #[test]
    fn every_preset_loads_validates_and_cites_every_field() {
        for name in preset_names() {
            let cfg = NicConfig::preset(name).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(cfg.name, name);
            let missing = cfg.missing_sources();
            assert!(
                missing.is_empty(),
                "{name}: fields without a source: {missing:?}"
            );
            // Notes for fields that do not exist are typos.
            let tbl = toml::Table::try_from(&cfg).unwrap();
            let mut leaves = Vec::new();
            collect_leaves(&tbl, "", &mut leaves);
            for k in cfg.sources.keys() {
                assert!(
                    leaves.contains(k),
                    "{name}: source note for unknown field {k}"
                );
            }
        }
    }

    #[test]
    fn mt7621_reserved_entries() {
        let c = NicConfig::preset("mt7621").unwrap();
        assert_eq!(c.table.capacity, 8192);
        assert_eq!(c.usable_capacity(), 8192 - 448);
    }

    #[test]
    fn unknown_preset_lists_known_ones() {
        let e = NicConfig::preset("mt9999").unwrap_err();
        assert!(matches!(e, ConfigError::UnknownPreset { .. }));
        assert!(e.to_string().contains("mt7621"));
    }

    #[test]
    fn overrides_merge_and_mark_sources() {
        let mut c = NicConfig::preset("mt7621").unwrap();
        c.apply_overrides(&tbl(
            "table.capacity = 16384\nbinding.bind_rate_pps = 10\npower.static_w = 2",
        ))
        .unwrap();
        assert_eq!(c.table.capacity, 16384);
        assert_eq!(c.binding.bind_rate_pps, 10);
        assert_eq!(c.power.static_w, 2.0);
        assert_eq!(c.sources["table.capacity"], "scenario override");
        assert_eq!(c.table.ways, 2, "untouched fields keep the preset value");
    }

    #[test]
    fn override_errors_name_the_field() {
        let mut c = NicConfig::preset("mt7621").unwrap();
        let e = c.apply_overrides(&tbl("table.capacty = 5")).unwrap_err();
        assert_eq!(
            e,
            ConfigError::UnknownField {
                field: "table.capacty".into()
            }
        );
        let e = c
            .apply_overrides(&tbl("table.capacity = \"big\""))
            .unwrap_err();
        assert!(
            matches!(e, ConfigError::Type { ref field, .. } if field == "table.capacity"),
            "{e}"
        );
        let e = c.apply_overrides(&tbl("table.capacity = 0")).unwrap_err();
        assert!(
            matches!(e, ConfigError::Invalid { ref field, .. } if field == "table.capacity"),
            "{e}"
        );
        let e = c
            .apply_overrides(&tbl("table.capacity = 12288"))
            .unwrap_err();
        assert!(e.to_string().contains("power of two"), "{e}");
        let e = c
            .apply_overrides(&tbl("table.layout = \"tcam\""))
            .unwrap_err();
        assert!(
            matches!(e, ConfigError::Invalid { ref field, .. } if field == "table.layout"),
            "{e}"
        );
        let e = c.apply_overrides(&tbl("table.ways = 3")).unwrap_err();
        assert!(e.to_string().contains("table.ways"), "{e}");
        let e = c.apply_overrides(&tbl("table.capacity = -1")).unwrap_err();
        assert!(e.to_string().contains("negative"), "{e}");
        let e = c.apply_overrides(&tbl("binding = 3")).unwrap_err();
        assert!(
            matches!(e, ConfigError::Type { ref field, .. } if field == "binding"),
            "{e}"
        );
        // A failed override leaves the configuration unchanged.
        assert_eq!(c, NicConfig::preset("mt7621").unwrap());
    }

    #[test]
    fn scenario_table_picks_preset_and_overrides() {
        let c = NicConfig::from_scenario_table(&tbl(
            "preset = \"connectx6dx\"\n[pipeline]\ninsert_rate_per_s = 1000",
        ))
        .unwrap();
        assert_eq!(c.name, "connectx6dx");
        assert_eq!(c.pipeline.insert_rate_per_s, 1000);
        let e = NicConfig::from_scenario_table(&tbl("preset = 3")).unwrap_err();
        assert!(matches!(e, ConfigError::Type { .. }));
        let e = NicConfig::from_scenario_table(&tbl("preset = \"nope\"")).unwrap_err();
        assert!(matches!(e, ConfigError::UnknownPreset { .. }));
    }

    #[test]
    fn parse_errors_carry_line_and_column() {
        let text = NicConfig::preset("smartnic")
            .map(|c| toml::to_string(&c).unwrap())
            .unwrap()
            .replace("[table]\n", "[table]\nbogus = 1\n");
        let e = NicConfig::from_toml_str(&text, "x.toml").unwrap_err();
        match e {
            ConfigError::Parse {
                origin,
                line,
                col,
                message,
            } => {
                assert_eq!(origin, "x.toml");
                assert!(line > 1 && col >= 1, "{line}:{col}");
                assert!(message.contains("bogus"), "{message}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn absurd_values_are_rejected() {
        let base = NicConfig::preset("smartnic").unwrap();
        let cases: &[(&str, &str)] = &[
            ("datapath.line_rate_bps = 0", "datapath.line_rate_bps"),
            ("datapath.engine_pps = 0", "datapath.engine_pps"),
            (
                "pipeline.insert_rate_per_s = 0",
                "pipeline.insert_rate_per_s",
            ),
            ("power.static_w = -1.0", "power.static_w"),
            ("table.max_encap = 3", "table.max_encap"),
            ("table.reserved_indices = [1]", "table.reserved_indices"),
            ("counters.timestamp_bits = 40", "counters.timestamp_bits"),
        ];
        for (o, field) in cases {
            let mut c = base.clone();
            let e = c.apply_overrides(&tbl(o)).unwrap_err();
            assert!(e.to_string().contains(field), "{o}: {e}");
        }
        let mut c = NicConfig::preset("mt7621").unwrap();
        let e = c
            .apply_overrides(&tbl("table.layout = \"cuckoo\""))
            .unwrap_err();
        assert!(e.to_string().contains("binding.mode"), "{e}");
        let mut c = NicConfig::preset("connectx6dx").unwrap();
        let e = c
            .apply_overrides(&tbl("table.eviction = \"least_active\""))
            .unwrap_err();
        assert!(e.to_string().contains("table.eviction"), "{e}");
    }
}
