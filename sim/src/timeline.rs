//! Events on a run's timeline (`[[events]]` in a scenario): what an operator or the network
//! does to the router while traffic flows, and what the kernel does about it.
//!
//! | kind | the kernel | source |
//! |---|---|---|
//! | `ruleset-reload` | fw4 deletes and re-creates the flowtable: every entry torn down, hardware entries removed; conntrack kept | `nf_flow_table_free` (`nf_flow_table_core.c`) |
//! | `flowtable-flush` | the same teardown without touching the rules | `nf_flow_table_iterate` + `flow_offload_teardown` |
//! | `conntrack-flush` | `conntrack -F`: every entry deleted; the flowtable GC tears down the flows whose entry died | `nf_ct_iterate_cleanup_net`, `nf_flow_offload_gc_step` (`nf_ct_is_dying`) |
//! | `link-down` / `link-up` | the device's flows torn down; the port neither receives nor sends until it is up | `nf_flow_table_cleanup` → `nf_flow_table_do_cleanup` (NETDEV_DOWN) |
//! | `host-move` | a LAN host moves to another port of the bridge: entries keep the old port | `nft_dev_forward_path`; openwrt/openwrt#13410, #25174 |
//!
//! The scenario resolves `[[events]]` into [`TimedEvent`]s (`scenario/`), the engine
//! applies them at their time (`engine/timeline.rs`), and the report shows what each cost.

use offsim_kernel::sides::Side;

/// What happens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// `fw4 reload`: the flowtable deleted and re-created.
    RulesetReload,
    /// Every flowtable entry torn down.
    FlowtableFlush,
    /// Every conntrack entry deleted.
    ConntrackFlush,
    /// A port goes down.
    LinkDown(Side),
    /// A port comes back.
    LinkUp(Side),
    /// A LAN host moves to another port of the LAN bridge (Wi-Fi roaming, a switch port
    /// change).
    HostMove {
        /// IP version of `addr`.
        version: u8,
        /// The host's address.
        addr: u128,
        /// The bridge's fdb update tears the host's flows down (the pending patches of
        /// openwrt/openwrt#25174); mainline leaves them pointing at the old port.
        fdb_teardown: bool,
    },
}

impl EventKind {
    /// The kind's name in scenarios and reports.
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::RulesetReload => "ruleset-reload",
            EventKind::FlowtableFlush => "flowtable-flush",
            EventKind::ConntrackFlush => "conntrack-flush",
            EventKind::LinkDown(_) => "link-down",
            EventKind::LinkUp(_) => "link-up",
            EventKind::HostMove { .. } => "host-move",
        }
    }

    /// The kinds, by name (for the scenario's error message).
    pub const NAMES: [&'static str; 6] = [
        "ruleset-reload",
        "flowtable-flush",
        "conntrack-flush",
        "link-down",
        "link-up",
        "host-move",
    ];
}

/// An event at its time.
#[derive(Clone, Debug, PartialEq)]
pub struct TimedEvent {
    /// Nanoseconds after the trace's first packet arrives.
    pub at_ns: u64,
    /// What happens.
    pub kind: EventKind,
    /// What it happens to, as the user named it (a device, a host), or empty.
    pub target: String,
}
