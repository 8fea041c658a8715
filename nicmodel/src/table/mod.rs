//! The finite hardware flow table.
//!
//! # Layouts
//! * [`Layout::Hashed`]: the key's hash picks a bucket of `ways` consecutive entries; any free
//!   entry of that bucket can take it (MediaTek PPE: `mtk_ppe_hash_entry` then
//!   `hash << log2(hash_offset)`; Airoha: the same hash, one entry per bucket).
//! * [`Layout::Cuckoo`]: two hash functions pick two buckets of `ways` entries; when both are
//!   full, entries are displaced to their alternate bucket, at most `max_kicks` times, with a
//!   deterministic victim choice; a failed walk is undone.
//! * [`Layout::FullyAssociative`]: any free entry (index map + slab, grown on demand so a
//!   16M-entry table costs memory only for what it holds).
//!
//! Entries live in slots with a [`SlotState`]: `Free`, `Reserved` (never usable: MT7621's
//! STATIC entries), `Unbound` (lazy binding: created by the hardware on a miss, counting the
//! flow's rate) and `Bound` (forwarding in hardware). Each direction of a flow is its own entry
//! ([`HwKey`]); the offload layer names entries by a [`Cookie`] (the kernel uses the address of
//! the per-direction tuple).
//!
//! # Binding
//! * [`BindMode::Direct`] (mlx5-like): [`FlowTable::insert`] places the entry and it forwards
//!   from then on, or the insert is refused (`BucketFull` / `TableFull`) unless the eviction
//!   policy makes room.
//! * [`BindMode::Lazy`] (MediaTek-like, `reference/flow-offload-semantics.md` §4.1):
//!   [`FlowTable::insert`] only appends the flow to its bucket's software list and succeeds.
//!   On a lookup miss the hardware creates an `Unbound` entry in a free slot of the bucket and
//!   counts packets per rate window; once the count reaches the bind rate, packets go to the
//!   CPU as [`Lookup::BindCheck`]. The CPU-side [`FlowTable::bind_check`] runs at most once
//!   per `check_interval` per entry index; if a listed flow matches the unbound entry it is
//!   written into that very slot as `Bound`. A full bucket means no unbound entry, so the flow
//!   silently stays in software. With `unlink_bucket_peers`, every check also unlinks the
//!   other listed flows of the bucket from their bound entries (as `__mtk_ppe_check_skb`
//!   does): those entries keep forwarding, unowned, until they age, and their flows' stats
//!   stop advancing.
//!
//! # Time and counters
//! Every call takes `now`; nothing reads a clock. Hits update per-entry packet/byte counters,
//! last use and a rate window. Stats readouts model what the driver reports: counters as of
//! the last bulk refresh (`refresh_ms`, mlx5's 1 s cache), idle time in whole timestamp ticks
//! that wrap at `2^timestamp_bits` (MediaTek's 15/8-bit field), no counters without
//! `accounting`. Hardware aging runs at tick boundaries ([`FlowTable::next_aging_time`],
//! [`FlowTable::age`]).
//!
//! The lookup path does not allocate and compares 2–4 keys per hashed bucket with a
//! branch-free key equality.
//!
//! # Files
//! * `mod.rs` (this file): the public types, the table's state and its geometry.
//! * `lookup.rs`: where a key lives (bucket hashes, cuckoo tags, the associative index) and
//!   the per-packet [`FlowTable::lookup`] with its counters and LRU order: the hot path.
//! * `binding.rs`: lazy binding: unbound entries created on a miss and
//!   [`FlowTable::bind_check`].
//! * `control.rs`: [`FlowTable::insert`], [`FlowTable::remove`], [`FlowTable::clear`] and
//!   the flow/slot bookkeeping they share.
//! * `place.rs`: where a new direct entry goes in each layout: free entry, cuckoo
//!   displacement walk, eviction.
//! * `counters.rs`: `FlowTable::read_stats` as the driver reports it, occupancy integral.
//! * `aging.rs`: [`FlowTable::next_aging_time`] and [`FlowTable::age`].

use crate::config::{BindMode, Eviction, HashKind, Layout, NicConfig};
use crate::index::{KeyIndex, NONE};
use crate::key::HwKey;
use crate::stats::TableStats;
use offsim_traces::hash::FxHashMap;
use offsim_traces::{SimDuration, SimTime};
use serde::Serialize;

mod aging;
mod binding;
mod control;
mod counters;
mod lookup;
mod place;

/// Name the offload layer gives one direction's rule (the kernel's flow_cls cookie).
pub type Cookie = u64;

/// Most slots a hashed or cuckoo table preallocates (larger tables should be fully
/// associative, which allocates on demand).
pub(crate) const MAX_PREALLOCATED_SLOTS: u32 = 1 << 22;

/// State of one table slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SlotState {
    /// Empty.
    Free,
    /// Never usable (MT7621 STATIC entries).
    Reserved,
    /// Lazy binding: created by the hardware on a miss; counts the flow's rate, forwards
    /// nothing.
    Unbound,
    /// Forwards in hardware.
    Bound,
}

/// What a bound entry does with a packet (the part of the rule the model needs).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub struct HwAction {
    /// Egress interface (the redirect action's device).
    pub out_iface: u32,
    /// Path MTU: a longer IP packet goes to the CPU; 0 = not checked.
    pub mtu: u16,
}

/// Result of a lookup.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lookup {
    /// A bound entry: forward in hardware.
    Hit {
        /// Entry index.
        slot: u32,
        /// The rule's action.
        action: HwAction,
    },
    /// Lazy: an unbound entry counted this packet; below the bind rate. The packet goes to
    /// the CPU (`HIT_UNBIND`).
    Unbound {
        /// Entry index.
        slot: u32,
    },
    /// Lazy: the unbound entry reached the bind rate; the packet goes to the CPU with the
    /// entry index (`HIT_UNBIND_RATE_REACHED`), which should call [`FlowTable::bind_check`].
    BindCheck {
        /// Entry index.
        slot: u32,
    },
    /// No entry (`UN_HIT` / no flow). Lazy tables may have created an unbound entry.
    Miss,
}

/// Result of a CPU-side bind check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BindOutcome {
    /// The entry was checked less than `check_interval` ago; nothing done.
    RateLimited,
    /// The entry is already bound; nothing done.
    AlreadyBound,
    /// A listed flow matched and is now bound at this index.
    Bound {
        /// The flow's cookie.
        cookie: Cookie,
    },
    /// No listed flow matches the entry (the flow was not offloaded by nftables, or the entry
    /// changed since the punt).
    NoMatch,
}

/// Successful insert.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Inserted {
    /// Whether the entry forwards now (direct) or is only listed in software (lazy).
    pub bound: bool,
    /// The entry evicted to make room, if the policy evicts.
    pub evicted: Option<Cookie>,
}

/// Successful remove.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Removed {
    /// Whether a bound hardware entry was cleared.
    pub was_bound: bool,
}

/// What a stats readout reports for one entry, as the driver would.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EntryStats {
    /// Whether the cookie is linked to a bound hardware entry now.
    pub in_hardware: bool,
    /// Packets counted by hardware (as of the last counter refresh; 0 without accounting).
    pub packets: u64,
    /// Frame bytes counted by hardware.
    pub bytes: u64,
    /// Packets since the previous consuming readout (what `FLOW_CLS_STATS` adds).
    pub delta_packets: u64,
    /// Bytes since the previous consuming readout.
    pub delta_bytes: u64,
    /// Last use as the driver computes it (`now - idle`); `None` when the hardware never
    /// held the entry and the NIC has no stale timestamp.
    pub last_used: Option<SimTime>,
    /// Idle time as the driver computes it (whole ticks, wrapped).
    pub idle: Option<SimDuration>,
}

/// A cookie's current placement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowView {
    /// The key as the hardware matches it (unmatched fields cleared).
    pub key: HwKey,
    /// Bound entry index, when linked to one.
    pub slot: Option<u32>,
}

#[derive(Clone, Copy, Debug)]
struct Slot {
    state: SlotState,
    win_pkts: u32,
    owner: u32,
    action: HwAction,
    packets: u64,
    bytes: u64,
    last_used: SimTime,
    win_start: SimTime,
    last_check: SimTime,
    snap_packets: u64,
    snap_bytes: u64,
    snap_last: SimTime,
    lru_prev: u32,
    lru_next: u32,
}

const FREE_SLOT: Slot = Slot {
    state: SlotState::Free,
    win_pkts: 0,
    owner: NONE,
    action: HwAction {
        out_iface: 0,
        mtu: 0,
    },
    packets: 0,
    bytes: 0,
    last_used: SimTime::ZERO,
    win_start: SimTime::ZERO,
    last_check: SimTime::MAX,
    snap_packets: 0,
    snap_bytes: 0,
    snap_last: SimTime::ZERO,
    lru_prev: NONE,
    lru_next: NONE,
};

#[derive(Clone, Copy, Debug)]
struct Flow {
    cookie: Cookie,
    key: HwKey,
    action: HwAction,
    /// Linked hardware entry (valid only while that slot is bound and owned by this flow).
    slot: u32,
    /// Lazy: next flow in the bucket's software list.
    next: u32,
    /// Last hardware timestamp the driver copied (bind time, then each linked readout).
    stale_last: SimTime,
    has_stale: bool,
    base_packets: u64,
    base_bytes: u64,
}

#[derive(Clone, Copy, Debug)]
struct Aging {
    tick_ns: u64,
    tcp: u64,
    udp: u64,
    other: u64,
    unbound: u64,
}

/// The hardware flow table. See the module documentation.
#[derive(Clone, Debug)]
pub struct FlowTable {
    layout: Layout,
    mode: BindMode,
    eviction: Eviction,
    hash: HashKind,
    capacity: u32,
    usable: u32,
    ways: u32,
    nbuckets: u32,
    max_kicks: u32,
    match_iif: bool,
    match_encap: bool,
    ipv6: bool,
    max_encap: u8,
    bind_rate: u32,
    rate_window_ns: u64,
    check_interval_ns: u64,
    unlink_peers: bool,
    aging: Option<Aging>,
    age_due_tick: u64,
    accounting: bool,
    refresh_ns: u64,
    epoch_begin: SimTime,
    epoch_end: SimTime,
    ts_tick_ns: u64,
    ts_mask: u64,
    lru: bool,
    lru_head: u32,
    lru_tail: u32,

    keys: Vec<HwKey>,
    slots: Vec<Slot>,
    free_slots: Vec<u32>,
    /// Cuckoo: per-slot fingerprint (0 = empty), compared before the full key.
    tags: Vec<u32>,
    index: KeyIndex,
    flows: Vec<Flow>,
    free_flows: Vec<u32>,
    by_cookie: FxHashMap<Cookie, u32>,
    sw_head: Vec<u32>,
    path: Vec<u32>,

    n_bound: u64,
    n_unbound: u64,
    occ_since: SimTime,
    occ_started: bool,
    /// Counters.
    pub stats: TableStats,
}

impl FlowTable {
    /// Builds an empty table from a validated configuration.
    pub fn new(cfg: &NicConfig) -> Result<FlowTable, crate::config::ConfigError> {
        cfg.validate()?;
        let t = &cfg.table;
        if t.layout != Layout::FullyAssociative && t.capacity > MAX_PREALLOCATED_SLOTS {
            return Err(crate::config::ConfigError::Invalid {
                field: "table.capacity".into(),
                reason: format!(
                    "hashed and cuckoo tables preallocate their slots: at most {MAX_PREALLOCATED_SLOTS}; use fully_associative for larger tables"
                ),
            });
        }
        let ways = if t.layout == Layout::FullyAssociative {
            1
        } else {
            t.ways
        };
        let nbuckets = t.capacity / ways;
        let mut keys = Vec::new();
        let mut slots = Vec::new();
        if t.layout != Layout::FullyAssociative {
            keys = vec![HwKey::EMPTY; t.capacity as usize];
            slots = vec![FREE_SLOT; t.capacity as usize];
            if t.reserved_period != 0 {
                for (i, s) in slots.iter_mut().enumerate() {
                    if t.reserved_indices.contains(&(i as u32 % t.reserved_period)) {
                        s.state = SlotState::Reserved;
                    }
                }
            }
        }
        let aging = cfg.aging.enabled.then(|| Aging {
            tick_ns: cfg.aging.tick_ms * 1_000_000,
            tcp: u64::from(cfg.aging.tcp_ticks),
            udp: u64::from(cfg.aging.udp_ticks),
            other: u64::from(cfg.aging.other_ticks),
            unbound: u64::from(cfg.aging.unbound_ticks),
        });
        let lazy = cfg.binding.mode == BindMode::Lazy;
        Ok(FlowTable {
            layout: t.layout,
            mode: cfg.binding.mode,
            eviction: t.eviction,
            hash: t.hash,
            capacity: t.capacity,
            usable: cfg.usable_capacity(),
            ways,
            nbuckets,
            max_kicks: t.max_kicks,
            match_iif: t.match_iif,
            match_encap: t.match_encap,
            ipv6: t.ipv6,
            max_encap: t.max_encap,
            bind_rate: cfg.binding.bind_rate_pps,
            rate_window_ns: cfg.binding.rate_window_ms.max(1) * 1_000_000,
            check_interval_ns: cfg.binding.check_interval_ms * 1_000_000,
            unlink_peers: cfg.binding.unlink_bucket_peers,
            aging,
            age_due_tick: u64::MAX,
            accounting: cfg.counters.accounting,
            refresh_ns: cfg.counters.refresh_ms * 1_000_000,
            epoch_begin: SimTime::ZERO,
            epoch_end: SimTime::ZERO,
            ts_tick_ns: cfg.counters.timestamp_tick_ms * 1_000_000,
            ts_mask: if cfg.counters.timestamp_bits == 0 {
                u64::MAX
            } else {
                (1u64 << cfg.counters.timestamp_bits) - 1
            },
            lru: t.eviction == Eviction::Lru && t.layout == Layout::FullyAssociative,
            lru_head: NONE,
            lru_tail: NONE,
            keys,
            slots,
            free_slots: Vec::new(),
            tags: if t.layout == Layout::Cuckoo {
                vec![0; t.capacity as usize]
            } else {
                Vec::new()
            },
            index: KeyIndex::default(),
            flows: Vec::new(),
            free_flows: Vec::new(),
            by_cookie: FxHashMap::default(),
            sw_head: if lazy {
                vec![NONE; nbuckets as usize]
            } else {
                Vec::new()
            },
            path: Vec::new(),
            n_bound: 0,
            n_unbound: 0,
            occ_since: SimTime::ZERO,
            occ_started: false,
            stats: TableStats::default(),
        })
    }

    // ----- geometry --------------------------------------------------------------------

    /// Number of entries, reserved ones included.
    pub fn capacity(&self) -> u32 {
        self.capacity
    }

    /// Entries that can hold flows.
    pub fn usable_capacity(&self) -> u32 {
        self.usable
    }

    /// Bound entries.
    pub fn bound(&self) -> u64 {
        self.n_bound
    }

    /// Unbound entries (lazy binding).
    pub fn unbound(&self) -> u64 {
        self.n_unbound
    }

    /// Occupied entries (bound + unbound).
    pub fn occupancy(&self) -> u64 {
        self.n_bound + self.n_unbound
    }

    /// Flows known to the table (listed or bound), i.e. cookies.
    pub fn flows(&self) -> usize {
        self.by_cookie.len()
    }

    /// State of an entry index (hashed and cuckoo tables; `None` past the end).
    pub fn slot_state(&self, slot: u32) -> Option<SlotState> {
        self.slots.get(slot as usize).map(|s| s.state)
    }

    /// Number of reserved entries.
    #[cfg(test)]
    pub(crate) fn reserved(&self) -> u32 {
        self.capacity - self.usable
    }

    /// First entry index of the key's (first) bucket; `None` for fully associative tables.
    #[cfg(test)]
    pub(crate) fn bucket_base(&self, key: &HwKey) -> Option<u32> {
        let key = key.masked(self.match_iif, self.match_encap);
        match self.layout {
            Layout::Hashed => Some(self.bucket(&key) * self.ways),
            Layout::Cuckoo => Some(self.cuckoo_buckets(&key).0 * self.ways),
            Layout::FullyAssociative => None,
        }
    }

    /// Where a cookie is now, if the table knows it.
    pub fn flow_view(&self, cookie: Cookie) -> Option<FlowView> {
        let fid = *self.by_cookie.get(&cookie)?;
        Some(FlowView {
            key: self.flows[fid as usize].key,
            slot: self.linked_slot(fid),
        })
    }

    fn linked_slot(&self, fid: u32) -> Option<u32> {
        let s = self.flows[fid as usize].slot;
        (s != NONE
            && self.slots[s as usize].owner == fid
            && self.slots[s as usize].state == SlotState::Bound)
            .then_some(s)
    }
}

#[cfg(test)]
mod tests;
