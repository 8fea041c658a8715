//! [`Ruleset`]: loading (text or JSON), validation, compilation and the query API.

use std::path::Path;

use super::ast::*;
use super::compile::*;
use super::error::{ErrorKind, NftError, SourceMap, Span};
use super::layout::range_of;
use super::model::{Model, obj_kind};
use super::normalize::{DeviceTable, Normalizer, SetSig, mk_err};
use super::parser::ParseCtx;
use super::program::*;
use super::types::{DType, Value, ifname_string};

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
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            devices: Vec::new(),
            strict_devices: false,
            seed: 0,
            allow_includes: true,
        }
    }
}

/// A table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableInfo {
    /// Family.
    pub family: Family,
    /// Name.
    pub name: String,
    /// `flags dormant`: not evaluated.
    pub dormant: bool,
    /// Comment.
    pub comment: Option<String>,
}

/// A chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainInfo {
    /// Chain id (index in [`Ruleset::chains`]).
    pub id: ChainId,
    /// Table index.
    pub table: usize,
    /// Family.
    pub family: Family,
    /// Table name.
    pub table_name: String,
    /// Name.
    pub name: String,
    /// Base chain type (None for regular chains).
    pub ctype: Option<ChainType>,
    /// Hook.
    pub hook: Option<Hook>,
    /// Priority.
    pub priority: i32,
    /// Policy accept (true) or drop.
    pub policy_accept: bool,
    /// Devices (netdev / inet ingress).
    pub devices: Vec<String>,
    /// Global rule ids of the chain's rules, in order.
    pub rules: std::ops::Range<usize>,
}

impl ChainInfo {
    /// Whether this is a base chain.
    pub fn is_base(&self) -> bool {
        self.hook.is_some()
    }
}

/// A rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleInfo {
    /// Global rule id.
    pub id: usize,
    /// Chain id.
    pub chain: ChainId,
    /// 0-based position in the chain.
    pub index: usize,
    /// Handle.
    pub handle: u64,
    /// nft-style text (without counter values).
    pub text: String,
    /// Comment.
    pub comment: Option<String>,
    /// Slots of its counter statements in [`super::RuleState::counters`].
    pub counter_slots: std::ops::Range<usize>,
    /// Named counters the rule uses (object ids).
    pub named_counters: Vec<usize>,
}

impl RuleInfo {
    /// Whether the rule has a counter statement of its own.
    pub fn has_counter(&self) -> bool {
        !self.counter_slots.is_empty()
    }
}

/// A flowtable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowtableInfo {
    /// Id.
    pub id: FlowtableId,
    /// Name.
    pub name: String,
    /// Table name.
    pub table: String,
    /// Family.
    pub family: Family,
    /// Priority (netdev ingress).
    pub priority: i32,
    /// Devices.
    pub devices: Vec<String>,
    /// `flags offload`.
    pub offload: bool,
    /// `counter`.
    pub counter: bool,
}

/// A named set or map.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetInfo {
    /// Compiled set index.
    pub id: usize,
    /// Name.
    pub name: String,
    /// Table name.
    pub table: String,
    /// Family.
    pub family: Family,
    /// Whether it is a map.
    pub is_map: bool,
    /// Key type names.
    pub key: Vec<DType>,
    /// Data types (maps; two for `address . port` NAT maps).
    pub data: Vec<DType>,
    /// Flags.
    pub flags: Vec<String>,
    /// Number of elements at load.
    pub elements: usize,
}

/// A named stateful object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectInfo {
    /// Object id.
    pub id: usize,
    /// Kind (`counter`, `quota`, `limit`, `ct helper`, ...).
    pub kind: String,
    /// Name.
    pub name: String,
    /// Table name.
    pub table: String,
    /// Family.
    pub family: Family,
    /// ct helper type (`ftp`, ...), for helpers.
    pub helper: Option<String>,
    /// The policy of a `ct timeout` object.
    pub ct_timeout: Option<CtTimeoutInfo>,
}

/// A `ct timeout` object's policy (`nf_ct_timeout`): which connections it applies to and
/// their timeouts per conntrack state. States not listed keep the default timeouts
/// (`*_timeout_nlattr_to_obj` starts from them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CtTimeoutInfo {
    /// L4 protocol the object is for (`nft_ct_timeout_obj_eval` ignores other packets).
    pub protocol: u8,
    /// L3 protocol, when given.
    pub l3proto: Option<Family>,
    /// (state name as nft spells it, seconds), sorted by name: tcp `syn_sent`, `syn_recv`,
    /// `established`, `fin_wait`, `close_wait`, `last_ack`, `time_wait`, `close`,
    /// `syn_sent2`, `retrans`, `unack`; udp `unreplied`, `replied`; others `timeout`.
    pub policy: Vec<(String, u32)>,
}

/// Conntrack state names a `ct timeout` policy may set for a protocol (nft `src/ct.c`).
pub fn ct_timeout_states(protocol: u8) -> &'static [&'static str] {
    match protocol {
        6 => &[
            "syn_sent",
            "syn_recv",
            "established",
            "fin_wait",
            "close_wait",
            "last_ack",
            "time_wait",
            "close",
            "syn_sent2",
            "retrans",
            "unack",
        ],
        17 | 136 => &["unreplied", "replied"],
        _ => &["timeout"],
    }
}

/// Counts for `offsim rules check`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Summary {
    /// Tables.
    pub tables: usize,
    /// Chains.
    pub chains: usize,
    /// Base chains.
    pub base_chains: usize,
    /// Rules.
    pub rules: usize,
    /// Named sets.
    pub sets: usize,
    /// Named maps.
    pub maps: usize,
    /// Flowtables.
    pub flowtables: usize,
    /// Named objects.
    pub objects: usize,
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
pub fn looks_like_json(text: &str) -> bool {
    text.trim_start().starts_with('{')
}

impl Ruleset {
    /// Loads a ruleset file (format detected by content).
    pub fn load(path: impl AsRef<Path>, opts: &LoadOptions) -> Result<Ruleset, NftError> {
        let path = path.as_ref();
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path)
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
            super::json::parse_json(&mut ctx, id, text)?;
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
        normalize_model(&sm, &mut model, &mut devices)?;
        compile_model(&sm, model, devices, name, opts)
    }

    /// The normalised model (canonical AST). Two rulesets that nft would list identically
    /// have equal models.
    pub fn model(&self) -> &Model {
        &self.model
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

    /// Number of dynamic set slots (for state sizing).
    pub fn program(&self) -> &Program {
        &self.prog
    }

    /// Counter values of a rule from `st`: its first counter statement, or the implicit
    /// counter when it has none.
    pub fn rule_counter(&self, st: &super::RuleState, rule: usize) -> Counter {
        let r = &self.rules[rule];
        if r.has_counter() {
            st.counters[r.counter_slots.start]
        } else {
            st.implicit[rule]
        }
    }
}

fn validate_base(sm: &SourceMap, fam: Family, b: &BaseSpec, sp: Span) -> Result<(), NftError> {
    let bad = |m: String| Err(sm.error(ErrorKind::Invalid, sp, m));
    match fam {
        Family::Bridge => {
            // Bridge hooks see frames crossing a bridge, routed ones included (a LAN port's
            // frame to the router passes bridge prerouting and input first); the simulator
            // has no bridge layer. Tables without base chains never run and load fine.
            return Err(sm.error(
                ErrorKind::Unsupported,
                sp,
                "unsupported: base chains of family bridge (the bridge layer is not simulated)",
            ));
        }
        Family::Arp => {
            // nft's arp family: filter chains on input and output (NF_ARP_IN/NF_ARP_OUT).
            if !matches!(b.hook, Hook::Input | Hook::Output) {
                return bad(format!("hook {} is not valid in the arp family", b.hook));
            }
            if b.ctype != ChainType::Filter {
                return bad(format!("chain type {} is not valid in arp", b.ctype.name()));
            }
        }
        Family::Netdev => {
            if !matches!(b.hook, Hook::Ingress | Hook::Egress) {
                return bad(format!("hook {} is not valid in the netdev family", b.hook));
            }
            if b.devices.is_empty() {
                return bad("netdev chains need a device".into());
            }
            if b.ctype != ChainType::Filter {
                return bad(format!(
                    "chain type {} is not valid in netdev",
                    b.ctype.name()
                ));
            }
        }
        _ => {
            if b.hook == Hook::Egress {
                return bad(format!("hook egress is not valid in the {fam} family"));
            }
            if b.hook == Hook::Ingress {
                if fam != Family::Inet {
                    return bad(format!("hook ingress is not valid in the {fam} family"));
                }
                if b.devices.is_empty() {
                    return bad("inet ingress chains need a device".into());
                }
            }
        }
    }
    match b.ctype {
        ChainType::Nat => {
            if matches!(b.hook, Hook::Forward | Hook::Ingress | Hook::Egress) {
                return bad(format!("nat chains cannot use hook {}", b.hook));
            }
            // net/netfilter/nft_chain_nat.c / nf_tables_api.c: NAT needs conntrack first
            if b.priority <= -200 {
                return bad(
                    "Could not process rule: Operation not supported (nat chain priority must be above conntrack's -200)"
                        .into(),
                );
            }
        }
        ChainType::Route => {
            if b.hook != Hook::Output || !matches!(fam, Family::Ip | Family::Ip6 | Family::Inet) {
                return bad(
                    "route chains are only valid on the output hook of ip, ip6 and inet".into(),
                );
            }
        }
        ChainType::Filter => {}
    }
    Ok(())
}

fn normalize_model(
    sm: &SourceMap,
    model: &mut Model,
    devices: &mut DeviceTable,
) -> Result<(), NftError> {
    for t in &mut model.tables {
        for c in &t.chains {
            if let Some(b) = &c.base {
                validate_base(sm, t.family, b, c.span)?;
            }
        }
        for (name, o, sp) in &mut t.objects {
            if let ObjDecl::Limit(l) = o
                && l.unit == LimitUnit::Packets
                && l.burst == 0
            {
                l.burst = 5;
            }
            if let ObjDecl::CtTimeout {
                protocol, policy, ..
            } = o
            {
                let ok = ct_timeout_states(*protocol);
                if let Some((st, _)) = policy.iter().find(|(s, _)| !ok.contains(&s.as_str())) {
                    return Err(sm.error(
                        ErrorKind::Invalid,
                        *sp,
                        format!(
                            "ct timeout {name}: unknown state {st} for protocol {protocol} (expected one of {})",
                            ok.join(", ")
                        ),
                    ));
                }
            }
        }
        let mut n = Normalizer {
            sm,
            family: t.family,
            sets: Vec::new(),
            chains: t.chains.iter().map(|c| c.name.clone()).collect(),
            flowtables: t.flowtables.iter().map(|(f, _)| f.name.clone()).collect(),
            objects: t
                .objects
                .iter()
                .map(|(name, o, _)| (obj_kind(o).to_string(), name.clone()))
                .collect(),
            devices,
        };
        // sets first (rules reference them)
        let sets = std::mem::take(&mut t.sets);
        let mut out = Vec::with_capacity(sets.len());
        for (d, sp) in sets {
            let d = n.set_decl(d).map_err(|m| mk_err(sm, sp, m))?;
            n.sets.push(SetSig {
                name: d.name.clone(),
                key: d.key.clone(),
                data: d.data.clone(),
                obj: d.obj_type.clone(),
                is_map: d.is_map,
            });
            out.push((d, sp));
        }
        t.sets = out;
        for c in &mut t.chains {
            let rules = std::mem::take(&mut c.rules);
            for (h, r) in rules {
                let r = n.rule(r)?;
                c.rules.push((h, r));
            }
        }
    }
    Ok(())
}

fn is_terminal(s: &Stmt) -> bool {
    matches!(
        s,
        Stmt::Verdict(_) | Stmt::Vmap { .. } | Stmt::Reject(_) | Stmt::Queue { .. } | Stmt::Nat(_)
    )
}

fn verdict_of(v: &Verdict, chains: &[(String, ChainId)]) -> Result<CVerdict, String> {
    let find = |n: &str| {
        chains
            .iter()
            .find(|(x, _)| x == n)
            .map(|(_, i)| *i)
            .ok_or_else(|| format!("chain '{n}' does not exist"))
    };
    Ok(match v {
        Verdict::Accept => CVerdict::Accept,
        Verdict::Drop => CVerdict::Drop,
        Verdict::Continue => CVerdict::Continue,
        Verdict::Return => CVerdict::Return,
        Verdict::Jump(c) => CVerdict::Jump(find(c)?),
        Verdict::Goto(c) => CVerdict::Goto(find(c)?),
    })
}

fn value_u128(e: &Expr) -> Option<u128> {
    match e {
        Expr::Value(Value { v, .. }) => Some(*v),
        _ => None,
    }
}

struct Compiler {
    prog: Program,
}

impl Compiler {
    fn data_conv(sc: &TableScope, d: &Expr, objkind: Option<&str>) -> Result<CData, String> {
        Ok(match d {
            Expr::Verdict(v) => CData::Verdict(verdict_of(v, sc.chains)?),
            Expr::Value(v) if v.ty == DType::Str => {
                let name = ifname_string(v.v);
                let k = objkind.unwrap_or("");
                let o = sc
                    .objects
                    .iter()
                    .find(|(kk, n, _, _)| (k.is_empty() || kk == k) && *n == name)
                    .ok_or_else(|| format!("object '{name}' does not exist"))?;
                CData::Obj(if matches!(k, "quota" | "limit") {
                    o.3
                } else {
                    o.2
                })
            }
            Expr::Value(v) => CData::Value(v.v),
            Expr::Range(a, b) => {
                CData::Range(value_u128(a).unwrap_or(0), value_u128(b).unwrap_or(0))
            }
            Expr::Prefix(..) => {
                let (lo, hi) = range_of(d)?;
                CData::Range(lo, hi)
            }
            Expr::Concat(p) if p.len() == 2 => {
                let addr = range_of(&p[0])?;
                let (plo, phi) = range_of(&p[1])?;
                CData::AddrPort {
                    addr,
                    port: (plo as u16, phi as u16),
                }
            }
            other => return Err(format!("unsupported: map data {other}")),
        })
    }

    /// Anonymous set or named set reference → compiled set id.
    fn set_ref(&mut self, sc: &TableScope, e: &Expr, objkind: Option<&str>) -> Result<u32, String> {
        match e {
            Expr::SetRef(n) => sc
                .sets
                .iter()
                .find(|(x, _)| x == n)
                .map(|(_, i)| *i)
                .ok_or_else(|| format!("set @{n} does not exist")),
            Expr::Set(el) => {
                fn bits(e: &Expr) -> u32 {
                    match e {
                        Expr::Value(v) => v.ty.bits(),
                        Expr::Prefix(a, _) | Expr::Range(a, _) => bits(a),
                        _ => 128,
                    }
                }
                let widths: Vec<u32> = match el
                    .iter()
                    .map(|e| &e.key)
                    .find(|k| !matches!(k, Expr::Wildcard))
                {
                    Some(Expr::Concat(p)) => p.iter().map(bits).collect(),
                    Some(k) => vec![bits(k)],
                    None => vec![128],
                };
                let mut err = None;
                let datas: Vec<Result<CData, String>> = el
                    .iter()
                    .map(|e| match &e.data {
                        Some(d) => Self::data_conv(sc, d, objkind),
                        None => Ok(CData::None),
                    })
                    .collect();
                let mut it = datas.into_iter();
                let mut f = |_: &Expr| -> Result<CData, String> {
                    match it.next() {
                        Some(Ok(d)) => Ok(d),
                        Some(Err(e)) => {
                            err = Some(e.clone());
                            Err(e)
                        }
                        None => Ok(CData::None),
                    }
                };
                // data_of is called only for elements with data; feed in order
                let el2: Vec<SetElem> = el
                    .iter()
                    .map(|e| SetElem {
                        data: Some(e.data.clone().unwrap_or(Expr::Wildcard)),
                        ..e.clone()
                    })
                    .collect();
                let r = self.prog.build_set(&widths, &el2, &mut f, false);
                if let Some(e) = err {
                    return Err(e);
                }
                r
            }
            Expr::Value(_) | Expr::Prefix(..) | Expr::Range(..) | Expr::Concat(_) => {
                let el = vec![SetElem::plain(e.clone())];
                self.set_ref(sc, &Expr::Set(el), objkind)
            }
            other => Err(format!("expected a set, got {other}")),
        }
    }

    /// A lookup: the key and the set, the key laid out like the set's fields.
    fn lookup(
        &mut self,
        sc: &TableScope,
        key: &Expr,
        set: &Expr,
        objkind: Option<&str>,
    ) -> Result<(u32, u32), String> {
        let k = self.prog.key_of(key, sc)?;
        let s = self.set_ref(sc, set, objkind)?;
        self.prog.bind_key(k, s)?;
        Ok((k, s))
    }

    fn vsrc(&mut self, sc: &TableScope, e: &Expr) -> Result<VSrc, String> {
        Ok(match e {
            Expr::Value(v) => VSrc::Const(v.v),
            Expr::Map(k, d) => {
                let (key, set) = self.lookup(sc, k, d, None)?;
                VSrc::Map { key, set }
            }
            e => VSrc::Src(self.prog.src_of(e, sc)?),
        })
    }

    fn natval(&mut self, sc: &TableScope, e: &Option<Expr>) -> Result<NatVal, String> {
        Ok(match e {
            None => NatVal::None,
            Some(Expr::Value(v)) => NatVal::Range(v.v, v.v),
            Some(e @ (Expr::Range(..) | Expr::Prefix(..))) => {
                let (a, b) = range_of(e)?;
                NatVal::Range(a, b)
            }
            Some(Expr::Map(k, d)) => {
                let (key, set) = self.lookup(sc, k, d, None)?;
                NatVal::Map { key, set }
            }
            Some(e) => NatVal::Src(self.vsrc(sc, e)?),
        })
    }

    fn obj_index(sc: &TableScope, kind: &str, e: &Expr) -> Result<(u32, u32), String> {
        let Expr::Value(v) = e else {
            return Err("expected an object name".into());
        };
        let name = ifname_string(v.v);
        sc.objects
            .iter()
            .find(|(k, n, _, _)| k == kind && *n == name)
            .map(|o| (o.2, o.3))
            .ok_or_else(|| format!("{kind} '{name}' does not exist"))
    }

    fn stmt(
        &mut self,
        sc: &TableScope,
        s: &Stmt,
        ops: &mut Vec<Op>,
        slots: &mut usize,
        named: &mut Vec<usize>,
    ) -> Result<(), String> {
        match s {
            Stmt::Match {
                left, op, right, ..
            } => {
                if let Expr::Concat(_) = left {
                    let (key, set) = self.lookup(sc, left, right, None)?;
                    ops.push(Op::Lookup {
                        key,
                        set,
                        neg: *op == RelOp::Ne,
                    });
                    return Ok(());
                }
                match right {
                    Expr::Value(v) => {
                        let src = self.prog.src_of(left, sc)?;
                        ops.push(match op {
                            RelOp::In => Op::Flags { src, mask: v.v },
                            RelOp::Eq | RelOp::Implicit => Op::Cmp {
                                src,
                                op: CmpOp::Eq,
                                val: v.v,
                            },
                            RelOp::Ne => Op::Cmp {
                                src,
                                op: CmpOp::Ne,
                                val: v.v,
                            },
                            RelOp::Lt => Op::Cmp {
                                src,
                                op: CmpOp::Lt,
                                val: v.v,
                            },
                            RelOp::Gt => Op::Cmp {
                                src,
                                op: CmpOp::Gt,
                                val: v.v,
                            },
                            RelOp::Le => Op::Cmp {
                                src,
                                op: CmpOp::Le,
                                val: v.v,
                            },
                            RelOp::Ge => Op::Cmp {
                                src,
                                op: CmpOp::Ge,
                                val: v.v,
                            },
                            RelOp::Not => return Err("internal: unnormalised !".into()),
                        });
                    }
                    Expr::Bool(b) => {
                        let src = self.prog.src_of(left, sc)?;
                        ops.push(Op::BoolCmp { src, want: *b });
                    }
                    Expr::Prefix(..) | Expr::Range(..) => {
                        let src = self.prog.src_of(left, sc)?;
                        let (lo, hi) = range_of(right)?;
                        ops.push(Op::Range {
                            src,
                            lo,
                            hi,
                            neg: *op == RelOp::Ne,
                        });
                    }
                    Expr::Set(_) | Expr::SetRef(_) => {
                        let (key, set) = self.lookup(sc, left, right, None)?;
                        ops.push(Op::Lookup {
                            key,
                            set,
                            neg: *op == RelOp::Ne,
                        });
                    }
                    other => return Err(format!("unsupported: match against {other}")),
                }
            }
            Stmt::Verdict(v) => ops.push(Op::Verdict(verdict_of(v, sc.chains)?)),
            Stmt::Vmap { key, data } => {
                let (k, set) = self.lookup(sc, key, data, None)?;
                ops.push(Op::Vmap { key: k, set });
            }
            Stmt::Counter => {
                ops.push(Op::Counter(self.prog.n_counters as u32));
                self.prog.n_counters += 1;
                *slots += 1;
            }
            Stmt::CounterRef(e) => match e {
                Expr::Map(k, d) => {
                    let (key, set) = self.lookup(sc, k, d, Some("counter"))?;
                    ops.push(Op::ObjMap {
                        key,
                        set,
                        kind: ObjMapKind::Counter,
                    });
                }
                e => {
                    let (o, _) = Self::obj_index(sc, "counter", e)?;
                    named.push(o as usize);
                    ops.push(Op::NamedCounter(o));
                }
            },
            Stmt::LimitRef(e) => match e {
                Expr::Map(k, d) => {
                    let (key, set) = self.lookup(sc, k, d, Some("limit"))?;
                    ops.push(Op::ObjMap {
                        key,
                        set,
                        kind: ObjMapKind::Limit,
                    });
                }
                e => ops.push(Op::Limit(Self::obj_index(sc, "limit", e)?.1)),
            },
            Stmt::QuotaRef(e) => match e {
                Expr::Map(k, d) => {
                    let (key, set) = self.lookup(sc, k, d, Some("quota"))?;
                    ops.push(Op::ObjMap {
                        key,
                        set,
                        kind: ObjMapKind::Quota,
                    });
                }
                e => ops.push(Op::Quota(Self::obj_index(sc, "quota", e)?.1)),
            },
            Stmt::CtHelperSet(e) => match e {
                Expr::Map(k, d) => {
                    let (key, set) = self.lookup(sc, k, d, Some("ct helper"))?;
                    ops.push(Op::ObjMap {
                        key,
                        set,
                        kind: ObjMapKind::CtHelper,
                    });
                }
                e => ops.push(Op::CtHelper(Self::obj_index(sc, "ct helper", e)?.0)),
            },
            Stmt::CtTimeoutSet(e) => match e {
                Expr::Map(k, d) => {
                    let (key, set) = self.lookup(sc, k, d, Some("ct timeout"))?;
                    ops.push(Op::ObjMap {
                        key,
                        set,
                        kind: ObjMapKind::CtTimeout,
                    });
                }
                e => ops.push(Op::CtTimeout(Self::obj_index(sc, "ct timeout", e)?.0)),
            },
            Stmt::Limit(l) => {
                self.prog.limits.push(Program::limit_spec(l));
                ops.push(Op::Limit(self.prog.limits.len() as u32 - 1));
            }
            Stmt::Quota(q) => {
                self.prog.quotas.push(QuotaSpec {
                    bytes: q.bytes,
                    invert: q.over,
                    used: q.used,
                });
                ops.push(Op::Quota(self.prog.quotas.len() as u32 - 1));
            }
            Stmt::Log(_) => ops.push(Op::Log),
            Stmt::Notrack => ops.push(Op::Notrack),
            Stmt::FlowAdd(ft) => {
                let id = sc
                    .flowtables
                    .iter()
                    .find(|(n, _)| n == ft)
                    .map(|(_, i)| *i)
                    .ok_or_else(|| format!("flowtable @{ft} does not exist"))?;
                ops.push(Op::FlowAdd(id));
            }
            Stmt::Mangle {
                key: Expr::Opaque(k),
                ..
            } if k == "tcp option maxseg size" => {
                // MSS clamping rewrites only the TCP MSS option, which no modelled decision reads.
                ops.push(Op::Nop);
            }
            Stmt::Mangle {
                key: Expr::Meta(MetaKey::Secmark) | Expr::Ct(CtKey::Secmark, None),
                ..
            } => {
                // security marks are read only by the LSM (see normalisation)
                ops.push(Op::Nop);
            }
            Stmt::Mangle { key, value } => {
                let v = self.vsrc(sc, value)?;
                let op = match key {
                    Expr::Meta(MetaKey::Mark) => Op::SetMark(v),
                    Expr::Ct(CtKey::Mark, None) => Op::SetCtMark(v),
                    Expr::Meta(MetaKey::Nftrace) => Op::Nop,
                    Expr::Payload(p, f) => {
                        let ver = if *p == Proto::Ip6 { 6 } else { 4 };
                        let field = match (p, f.as_str()) {
                            (Proto::Ip | Proto::Ip6, "dscp") => PayloadField::Dscp(ver),
                            (Proto::Ip | Proto::Ip6, "ecn") => PayloadField::Ecn(ver),
                            (Proto::Ip, "ttl") | (Proto::Ip6, "hoplimit") => PayloadField::Ttl(ver),
                            (Proto::Ip | Proto::Ip6, "saddr") => PayloadField::Saddr(ver),
                            (Proto::Ip | Proto::Ip6, "daddr") => PayloadField::Daddr(ver),
                            (Proto::Tcp, "sport") => PayloadField::Sport(6),
                            (Proto::Tcp, "dport") => PayloadField::Dport(6),
                            (Proto::Udp, "sport") => PayloadField::Sport(17),
                            (Proto::Udp, "dport") => PayloadField::Dport(17),
                            (Proto::Th, "sport") => PayloadField::Sport(0),
                            (Proto::Th, "dport") => PayloadField::Dport(0),
                            _ => return Err(format!("unsupported: {} {f} set", p.name())),
                        };
                        Op::SetPayload { field, value: v }
                    }
                    other => return Err(format!("unsupported: {other} set")),
                };
                ops.push(op);
            }
            Stmt::Nat(n) => {
                let family = match n.family {
                    Some(Family::Ip6) => 6,
                    Some(_) => 4,
                    None => match sc.family {
                        Family::Ip6 => 6,
                        Family::Ip => 4,
                        _ => 0,
                    },
                };
                let spec = NatSpec {
                    kind: n.kind,
                    family,
                    addr: self.natval(sc, &n.addr)?,
                    port: self.natval(sc, &n.port)?,
                    flags: n.flags,
                };
                self.prog.nats.push(spec);
                ops.push(Op::Nat(self.prog.nats.len() as u32 - 1));
            }
            Stmt::Reject(_) => ops.push(Op::Verdict(CVerdict::Reject)),
            Stmt::Queue { num, flags } => {
                // A range spreads packets over its queues (by CPU with `fanout`, else by
                // hash); without a listener every queue behaves alike, so the first stands.
                let num = match num {
                    None => VSrc::Const(0),
                    Some(Expr::Value(v)) => VSrc::Const(v.v),
                    Some(e @ Expr::Range(..)) => VSrc::Const(range_of(e)?.0),
                    Some(e) => self.vsrc(sc, e)?,
                };
                ops.push(Op::Queue {
                    num,
                    bypass: flags.iter().any(|f| f == "bypass"),
                });
            }
            Stmt::SetUpdate {
                op,
                set,
                key,
                timeout,
                stmts,
                data,
            } => {
                let (k, sid) = self.lookup(sc, key, &Expr::SetRef(set.clone()), None)?;
                let exprs = if stmts.is_empty() {
                    self.prog.sets[sid as usize].default_exprs
                } else {
                    self.prog.elem_exprs_of(stmts)?
                };
                let data = match data {
                    Some(d) => Some(self.vsrc(sc, d)?),
                    None => None,
                };
                self.prog.updates.push(UpdateSpec {
                    op: *op,
                    set: sid,
                    key: k,
                    timeout_ms: *timeout,
                    data,
                    exprs,
                });
                ops.push(Op::SetUpdate(self.prog.updates.len() as u32 - 1));
            }
            Stmt::Unsupported(s) => return Err(format!("unsupported: {s}")),
        }
        Ok(())
    }
}

fn compile_model(
    sm: &SourceMap,
    model: Model,
    devices: DeviceTable,
    name: &str,
    opts: &LoadOptions,
) -> Result<Ruleset, NftError> {
    let mut c = Compiler {
        prog: Program::default(),
    };
    let mut tables = Vec::new();
    let mut chains = Vec::new();
    let mut flowtables = Vec::new();
    let mut sets = Vec::new();
    let mut objects = Vec::new();
    // ids
    let mut chain_ids: Vec<Vec<(String, ChainId)>> = Vec::new();
    for t in &model.tables {
        let mut v = Vec::new();
        for ch in &t.chains {
            v.push((ch.name.clone(), chains.len() as ChainId));
            chains.push(ChainInfo {
                id: chains.len() as ChainId,
                table: tables.len(),
                family: t.family,
                table_name: t.name.clone(),
                name: ch.name.clone(),
                ctype: ch.base.as_ref().map(|b| b.ctype),
                hook: ch.base.as_ref().map(|b| b.hook),
                priority: ch.base.as_ref().map(|b| b.priority).unwrap_or(0),
                policy_accept: ch.policy_accept,
                devices: ch
                    .base
                    .as_ref()
                    .map(|b| b.devices.clone())
                    .unwrap_or_default(),
                rules: 0..0,
            });
        }
        chain_ids.push(v);
        tables.push(TableInfo {
            family: t.family,
            name: t.name.clone(),
            dormant: t.flags.iter().any(|f| f == "dormant"),
            comment: t.comment.clone(),
        });
    }
    check_loops(sm, &model, &chain_ids)?;
    let mut rules = Vec::new();
    let mut crules = Vec::new();
    let mut cchains = Vec::new();
    for (ti, t) in model.tables.iter().enumerate() {
        // named sets: dynamic if targeted by an update or flagged dynamic/timeout
        let mut updated: Vec<&str> = Vec::new();
        for ch in &t.chains {
            for (_, r) in &ch.rules {
                for s in &r.stmts {
                    if let Stmt::SetUpdate { set, .. } = s {
                        updated.push(set);
                    }
                }
            }
        }
        let fts: Vec<(String, FlowtableId)> = t
            .flowtables
            .iter()
            .map(|(f, _)| {
                let id = flowtables.len() as FlowtableId;
                flowtables.push(FlowtableInfo {
                    id,
                    name: f.name.clone(),
                    table: t.name.clone(),
                    family: t.family,
                    priority: f.priority,
                    devices: f.devices.clone(),
                    offload: f.offload,
                    counter: f.counter,
                });
                (f.name.clone(), id)
            })
            .collect();
        let mut objs: Vec<(String, String, u32, u32)> = Vec::new();
        for (oname, o, _) in &t.objects {
            let id = objects.len() as u32;
            let slot = match o {
                ObjDecl::Limit(l) => {
                    c.prog.limits.push(Program::limit_spec(l));
                    c.prog.limits.len() as u32 - 1
                }
                ObjDecl::Quota(q) => {
                    c.prog.quotas.push(QuotaSpec {
                        bytes: q.bytes,
                        invert: q.over,
                        used: q.used,
                    });
                    c.prog.quotas.len() as u32 - 1
                }
                _ => 0,
            };
            c.prog.named_counter_init.push(match o {
                ObjDecl::Counter { packets, bytes } => Counter {
                    packets: *packets,
                    bytes: *bytes,
                },
                _ => Counter::default(),
            });
            objs.push((obj_kind(o).to_string(), oname.clone(), id, slot));
            objects.push(ObjectInfo {
                id: id as usize,
                kind: obj_kind(o).to_string(),
                name: oname.clone(),
                table: t.name.clone(),
                family: t.family,
                helper: match o {
                    ObjDecl::CtHelper { htype, .. } => Some(htype.clone()),
                    _ => None,
                },
                ct_timeout: match o {
                    ObjDecl::CtTimeout {
                        protocol,
                        l3proto,
                        policy,
                    } => Some(CtTimeoutInfo {
                        protocol: *protocol,
                        l3proto: *l3proto,
                        policy: policy.clone(),
                    }),
                    _ => None,
                },
            });
        }
        let mut set_ids: Vec<(String, u32)> = Vec::new();
        {
            let sc = TableScope {
                family: t.family,
                chains: &chain_ids[ti],
                sets: &[],
                flowtables: &fts,
                objects: &objs,
                seed: opts.seed,
            };
            for (d, sp) in &t.sets {
                let dynamic = updated.contains(&d.name.as_str())
                    || d.flags.iter().any(|f| f == "dynamic" || f == "timeout");
                let widths: Vec<u32> = d.key.iter().map(|k| k.bits()).collect();
                let objkind = d.obj_type.clone();
                let mut err = None;
                let mut f = |e: &Expr| -> Result<CData, String> {
                    let r = Compiler::data_conv(&sc, e, objkind.as_deref());
                    if let Err(e) = &r {
                        err = Some(e.clone());
                    }
                    r
                };
                let r = c.prog.build_set(&widths, &d.elements, &mut f, dynamic);
                let id = r.map_err(|m| mk_err(sm, *sp, m))?;
                c.prog
                    .set_static_exprs(id, &d.elements)
                    .map_err(|m| mk_err(sm, *sp, m))?;
                if let Some(st) = d
                    .stmts
                    .iter()
                    .find(|s| matches!(s.as_str(), "limit" | "quota" | "ct"))
                    && (dynamic || !d.elements.is_empty())
                {
                    return Err(mk_err(
                        sm,
                        *sp,
                        format!(
                            "unsupported: `{st}` declared for every element of set '{}'",
                            d.name
                        ),
                    ));
                }
                let default_exprs = if d.counter {
                    c.prog
                        .elem_exprs_of(&[Stmt::Counter])
                        .map_err(|m| mk_err(sm, *sp, m))?
                } else {
                    NO_EXPRS
                };
                let s = &mut c.prog.sets[id as usize];
                s.timeout_ms = d.timeout;
                s.max_size = d.size.unwrap_or(0);
                s.default_exprs = default_exprs;
                set_ids.push((d.name.clone(), id));
                sets.push(SetInfo {
                    id: id as usize,
                    name: d.name.clone(),
                    table: t.name.clone(),
                    family: t.family,
                    is_map: d.is_map,
                    key: d.key.clone(),
                    data: d.data.clone(),
                    flags: d.flags.clone(),
                    elements: d.elements.len(),
                });
            }
        }
        let sc = TableScope {
            family: t.family,
            chains: &chain_ids[ti],
            sets: &set_ids,
            flowtables: &fts,
            objects: &objs,
            seed: opts.seed,
        };
        for (ci, ch) in t.chains.iter().enumerate() {
            let chain_id = chain_ids[ti][ci].1;
            let first = rules.len();
            for (idx, (h, r)) in ch.rules.iter().enumerate() {
                let rid = rules.len();
                let slot0 = c.prog.n_counters;
                let mut ops = Vec::new();
                let mut slots = 0usize;
                let mut named = Vec::new();
                let has_counter = r
                    .stmts
                    .iter()
                    .any(|s| matches!(s, Stmt::Counter | Stmt::CounterRef(_)));
                let mut implicit_done = has_counter;
                for (si, s) in r.stmts.iter().enumerate() {
                    if !implicit_done && is_terminal(s) {
                        ops.push(Op::Implicit);
                        implicit_done = true;
                    }
                    let sp = r.stmt_spans.get(si).copied().unwrap_or(r.span);
                    c.stmt(&sc, s, &mut ops, &mut slots, &mut named)
                        .map_err(|m| mk_err(sm, sp, m))?;
                }
                if !implicit_done {
                    ops.push(Op::Implicit);
                }
                let first_op = c.prog.ops.len() as u32;
                c.prog.ops.extend(ops);
                crules.push(CRule {
                    first_op,
                    n_ops: c.prog.ops.len() as u32 - first_op,
                });
                rules.push(RuleInfo {
                    id: rid,
                    chain: chain_id,
                    index: idx,
                    handle: h.0,
                    text: r.to_string(),
                    comment: r.comment.clone(),
                    counter_slots: slot0..slot0 + slots,
                    named_counters: named,
                });
            }
            chains[chain_id as usize].rules = first..rules.len();
            cchains.push(CChain {
                first_rule: first as u32,
                n_rules: (rules.len() - first) as u32,
                policy_accept: ch.policy_accept,
            });
        }
    }
    c.prog.rules = crules;
    c.prog.chains = cchains;
    Ok(Ruleset {
        prog: c.prog,
        name: name.to_string(),
        model,
        tables,
        chains,
        rules,
        flowtables,
        sets,
        objects,
        devices,
    })
}

/// Rejects jump/goto loops and chains nested deeper than the kernel's 16-level jump stack
/// (`nft_chain_validate`: `-EMLINK` at level 16, `-ELOOP` on a cycle).
fn check_loops(
    sm: &SourceMap,
    model: &Model,
    ids: &[Vec<(String, ChainId)>],
) -> Result<(), NftError> {
    for (ti, t) in model.tables.iter().enumerate() {
        let n = t.chains.len();
        let idx = |name: &str| ids[ti].iter().position(|(x, _)| x == name);
        let mut edges: Vec<Vec<(usize, Span)>> = vec![Vec::new(); n];
        for (ci, ch) in t.chains.iter().enumerate() {
            for (_, r) in &ch.rules {
                let mut add = |v: &Verdict, sp: Span| {
                    if let Verdict::Jump(x) | Verdict::Goto(x) = v
                        && let Some(j) = idx(x)
                    {
                        edges[ci].push((j, sp));
                    }
                };
                for s in &r.stmts {
                    match s {
                        Stmt::Verdict(v) => add(v, r.span),
                        Stmt::Vmap {
                            data: Expr::Set(el),
                            ..
                        } => {
                            for e in el {
                                if let Some(Expr::Verdict(v)) = &e.data {
                                    add(v, r.span);
                                }
                            }
                        }
                        Stmt::Vmap {
                            data: Expr::SetRef(m),
                            ..
                        } => {
                            if let Some((d, _)) = t.sets.iter().find(|(d, _)| d.name == *m) {
                                for e in &d.elements {
                                    if let Some(Expr::Verdict(v)) = &e.data {
                                        add(v, r.span);
                                    }
                                }
                            }
                        }
                        _ => {}
                    }
                }
            }
        }
        // cycle detection (iterative DFS colours)
        let mut colour = vec![0u8; n];
        for start in 0..n {
            if colour[start] != 0 {
                continue;
            }
            let mut stack = vec![(start, 0usize)];
            colour[start] = 1;
            while let Some(&mut (v, ref mut i)) = stack.last_mut() {
                if *i < edges[v].len() {
                    let (w, sp) = edges[v][*i];
                    *i += 1;
                    if colour[w] == 1 {
                        return Err(sm.error(
                            ErrorKind::Invalid,
                            sp,
                            format!(
                                "Could not process rule: Too many levels of symbolic links (loop through chain '{}')",
                                t.chains[w].name
                            ),
                        ));
                    }
                    if colour[w] == 0 {
                        colour[w] = 1;
                        stack.push((w, 0));
                    }
                } else {
                    colour[v] = 2;
                    stack.pop();
                }
            }
        }
        // depth from base chains (acyclic now): longest path
        let mut depth: Vec<Option<u32>> = vec![None; n];
        fn longest(v: usize, edges: &[Vec<(usize, Span)>], memo: &mut [Option<u32>]) -> u32 {
            if let Some(d) = memo[v] {
                return d;
            }
            let d = edges[v]
                .iter()
                .map(|(w, _)| 1 + longest(*w, edges, memo))
                .max()
                .unwrap_or(0);
            memo[v] = Some(d);
            d
        }
        for (ci, ch) in t.chains.iter().enumerate() {
            if ch.base.is_some() && longest(ci, &edges, &mut depth) >= 16 {
                return Err(sm.error(
                    ErrorKind::Invalid,
                    ch.span,
                    format!(
                        "Could not process rule: Too many links (jumps from base chain '{}' nest deeper than 16)",
                        ch.name
                    ),
                ));
            }
        }
    }
    Ok(())
}
