//! [`Ruleset`]: loading (text or JSON), validation, compilation and the query API.
//!
//! Loading runs the whole front end: parse ([`crate::parser`] or [`crate::json`]) into
//! commands, apply them to a [`Model`], validate and normalise it ([`validate`]), and compile
//! it ([`build`]). The descriptions the query API returns are in [`info`].
//! ([`Ruleset::rule_counter`], which reads a [`crate::RuleState`], lives with the evaluator.)

mod build;
mod info;
mod validate;

pub use info::{
    ChainInfo, CtTimeoutInfo, FlowtableInfo, ObjectInfo, RuleInfo, SetInfo, Summary, TableInfo,
};

use std::path::Path;

use crate::ast::{Family, Hook};
use crate::error::{ErrorKind, NftError};
use crate::model::Model;
use crate::normalize::DeviceTable;
use crate::parser::ParseCtx;
use crate::program::{ChainId, Program};

/// Options for loading a ruleset.
#[derive(Clone, Debug)]
pub struct LoadOptions {
    /// Known network devices (name, ifindex). `lo` is always index 1.
    pub devices: Vec<(String, u32)>,
    /// Reject `iif`/`oif` on unknown devices (the kernel does); otherwise unknown names get
    /// fresh indexes starting at 100.
    pub strict_devices: bool,
    /// Seed for `jhash`/`symhash` without an explicit seed (the kernel picks a random one).
    pub seed: u32,
    /// Whether `include` may read files.
    pub allow_includes: bool,
    /// The loader's UTC offset in seconds (east positive): `meta hour "22:00"` is local time
    /// there, which nft (`hour_type_parse`) converts to UTC seconds of the day, the value the
    /// kernel compares with (`nft_meta_hour`: the packet's wall time, UTC). 0: UTC.
    pub utc_offset_s: i32,
}

/// Parses a UTC offset for [`LoadOptions::utc_offset_s`]: `UTC`, `Z`, `+HH`, `+HH:MM` or
/// `-HH:MM` (at most ±14:00, the widest offset in use).
pub fn parse_utc_offset(s: &str) -> Result<i32, String> {
    let bad = || format!("bad UTC offset `{s}` (expected UTC, +HH:MM or -HH:MM)");
    if matches!(s, "UTC" | "utc" | "Z" | "0") {
        return Ok(0);
    }
    let (sign, rest) = match s.as_bytes().first() {
        Some(b'+') => (1, &s[1..]),
        Some(b'-') => (-1, &s[1..]),
        _ => return Err(bad()),
    };
    let (h, m) = rest.split_once(':').unwrap_or((rest, "0"));
    let h: i32 = h.parse().map_err(|_| bad())?;
    let m: i32 = m.parse().map_err(|_| bad())?;
    if !(0..60).contains(&m) || h * 60 + m > 14 * 60 || h < 0 {
        return Err(bad());
    }
    Ok(sign * (h * 3600 + m * 60))
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            devices: Vec::new(),
            strict_devices: false,
            seed: 0,
            allow_includes: true,
            utc_offset_s: 0,
        }
    }
}

/// A loaded, validated and compiled ruleset.
#[derive(Clone, Debug)]
pub struct Ruleset {
    pub(crate) prog: Program,
    name: String,
    model: Model,
    tables: Vec<TableInfo>,
    chains: Vec<ChainInfo>,
    rules: Vec<RuleInfo>,
    flowtables: Vec<FlowtableInfo>,
    sets: Vec<SetInfo>,
    objects: Vec<ObjectInfo>,
    devices: DeviceTable,
}

/// Whether text looks like JSON (first non-space character is `{`).
pub(crate) fn looks_like_json(text: &str) -> bool {
    text.trim_start().starts_with('{')
}

impl Ruleset {
    /// Loads a ruleset file (format detected by content).
    pub fn load(path: impl AsRef<Path>, opts: &LoadOptions) -> Result<Ruleset, NftError> {
        let path = path.as_ref();
        let name = path.display().to_string();
        let text = offsim_traces::input::read_text(path, offsim_traces::input::MAX_RULESET_BYTES)
            .map_err(|e| NftError::new(ErrorKind::Io, name.clone(), e.to_string()))?;
        Self::from_str(&text, &name, opts)
    }

    /// Loads a ruleset from text (`nft` syntax or `nft -j` JSON, detected by content).
    /// `name` is used in error messages and to resolve relative includes.
    pub fn from_str(text: &str, name: &str, opts: &LoadOptions) -> Result<Ruleset, NftError> {
        let mut ctx = ParseCtx::default();
        ctx.allow_includes = opts.allow_includes;
        if looks_like_json(text) {
            let id = ctx.sm.add(name, text.to_string(), true);
            crate::json::parse_json(&mut ctx, id, text)?;
        } else {
            let id = ctx.sm.add(name, text.to_string(), false);
            ctx.parse_source(id)?;
        }
        Self::build(ctx, name, opts)
    }

    fn build(ctx: ParseCtx, name: &str, opts: &LoadOptions) -> Result<Ruleset, NftError> {
        let sm = ctx.sm;
        let mut model = Model::default();
        for (cmd, sp) in ctx.cmds {
            model.apply(&sm, cmd, sp)?;
        }
        let mut devs = vec![("lo".to_string(), 1u32)];
        for (n, i) in &opts.devices {
            if n != "lo" {
                devs.push((n.clone(), *i));
            }
        }
        let mut devices = DeviceTable {
            devs,
            strict: opts.strict_devices,
        };
        validate::normalize_model(&sm, &mut model, &mut devices, opts.utc_offset_s)?;
        validate::check_loops(&sm, &model)?;
        build::compile_model(&sm, model, devices, name, opts)
    }

    /// The normalised model (canonical AST). Two rulesets that nft would list identically
    /// have equal models.
    pub fn model(&self) -> &Model {
        &self.model
    }
    /// Whether a rule reads a conntrack tuple (`ct original saddr`, `ct reply proto-dst`, …):
    /// when none does, a host may leave [`crate::CtInfo::tuple`] unset.
    pub fn reads_ct_tuples(&self) -> bool {
        self.prog.reads_ct_tuples
    }
    /// Display name.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// Tables.
    pub fn tables(&self) -> &[TableInfo] {
        &self.tables
    }
    /// Chains (id = index).
    pub fn chains(&self) -> &[ChainInfo] {
        &self.chains
    }
    /// Rules (id = index), grouped by chain in chain order.
    pub fn rules(&self) -> &[RuleInfo] {
        &self.rules
    }
    /// Rules of a chain.
    pub fn chain_rules(&self, c: ChainId) -> &[RuleInfo] {
        &self.rules[self.chains[c as usize].rules.clone()]
    }
    /// Flowtables (id = index).
    pub fn flowtables(&self) -> &[FlowtableInfo] {
        &self.flowtables
    }
    /// Named sets and maps.
    pub fn sets(&self) -> &[SetInfo] {
        &self.sets
    }
    /// Named objects (id = index).
    pub fn objects(&self) -> &[ObjectInfo] {
        &self.objects
    }
    /// Name of an object id.
    pub fn object_name(&self, id: u32) -> Option<&str> {
        self.objects.get(id as usize).map(|o| o.name.as_str())
    }
    /// The ifindex the ruleset uses for a device name (as resolved at load for `iif`/`oif`).
    pub fn device_index(&self, name: &str) -> Option<u32> {
        self.devices
            .devs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, i)| *i)
    }
    /// All devices known to the ruleset (name, ifindex).
    pub fn devices(&self) -> &[(String, u32)] {
        &self.devices.devs
    }
    /// Finds a chain by family, table and name.
    pub fn chain_id(&self, family: Family, table: &str, name: &str) -> Option<ChainId> {
        self.chains
            .iter()
            .find(|c| c.family == family && c.table_name == table && c.name == name)
            .map(|c| c.id)
    }

    /// Base chains that run at `hook` for IP version `l3` (4 or 6): ip/ip6 chains of the
    /// matching family and inet chains, sorted by priority (ties in load order). Dormant
    /// tables and netdev chains are excluded (see [`Ruleset::netdev_chains`]).
    pub fn base_chains(&self, hook: Hook, l3: u8) -> Vec<ChainId> {
        let mut v: Vec<&ChainInfo> = self
            .chains
            .iter()
            .filter(|c| c.hook == Some(hook) && !self.tables[c.table].dormant)
            .filter(|c| match c.family {
                Family::Ip => l3 == 4,
                Family::Ip6 => l3 == 6,
                Family::Inet => hook != Hook::Ingress,
                _ => false,
            })
            .collect();
        v.sort_by_key(|c| (c.priority, c.id));
        v.into_iter().map(|c| c.id).collect()
    }

    /// netdev (and inet ingress) chains at `hook` attached to `device`, by priority.
    pub fn netdev_chains(&self, hook: Hook, device: &str) -> Vec<ChainId> {
        let mut v: Vec<&ChainInfo> = self
            .chains
            .iter()
            .filter(|c| c.hook == Some(hook) && !self.tables[c.table].dormant)
            .filter(|c| {
                matches!(c.family, Family::Netdev | Family::Inet)
                    && c.devices.iter().any(|d| d == device)
            })
            .collect();
        v.sort_by_key(|c| (c.priority, c.id));
        v.into_iter().map(|c| c.id).collect()
    }

    /// Summary counts.
    pub fn summary(&self) -> Summary {
        Summary {
            tables: self.tables.len(),
            chains: self.chains.len(),
            base_chains: self.chains.iter().filter(|c| c.is_base()).count(),
            rules: self.rules.len(),
            sets: self.sets.iter().filter(|s| !s.is_map).count(),
            maps: self.sets.iter().filter(|s| s.is_map).count(),
            flowtables: self.flowtables.len(),
            objects: self.objects.len(),
        }
    }
}
