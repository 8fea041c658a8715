//! What [`super::Ruleset`] tells about its tables, chains, rules, sets, flowtables and
//! objects.

use crate::ast::{ChainType, Family, Hook};
use crate::program::{ChainId, FlowtableId};
use crate::types::DType;

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
    /// Chain id (index in [`crate::Ruleset::chains`]).
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
    /// Slots of its counter statements in [`crate::RuleState::counters`].
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
    /// The L4 protocol a ct helper object is for (`protocol tcp`).
    pub helper_protocol: Option<u8>,
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
pub(crate) fn ct_timeout_states(protocol: u8) -> &'static [&'static str] {
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
