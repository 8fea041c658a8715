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

use crate::config::{BindMode, Eviction, HashKind, Layout, NicConfig};
use crate::error::{InsertError, UnsupportedReason};
use crate::hash::{mix64, mtk_ppe_hash, reduce};
use crate::index::{KeyIndex, index_hash};
use crate::key::HwKey;
use crate::stats::TableStats;
use offsim_traces::hash::FxHashMap;
use offsim_traces::meta::proto;
use offsim_traces::{SimDuration, SimTime};
use serde::Serialize;

/// Name the offload layer gives one direction's rule (the kernel's flow_cls cookie).
pub type Cookie = u64;

/// "No index".
pub(crate) const NONE: u32 = u32::MAX;

/// Most slots a hashed or cuckoo table preallocates (larger tables should be fully
/// associative, which allocates on demand).
pub const MAX_PREALLOCATED_SLOTS: u32 = 1 << 22;

const SEED1: u64 = 0x243f_6a88_85a3_08d3;
const SEED2: u64 = 0x1319_8a2e_0370_7344;

/// Cuckoo fingerprint of a key from its first hash (never 0, which marks an empty slot).
#[inline(always)]
fn cuckoo_tag(h1: u64) -> u32 {
    (h1 as u32) | 0x8000_0000
}

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

    /// Entries per bucket (1 for fully associative).
    pub fn ways(&self) -> u32 {
        self.ways
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
    pub fn reserved(&self) -> u32 {
        self.capacity - self.usable
    }

    /// First entry index of the key's (first) bucket; `None` for fully associative tables.
    pub fn bucket_base(&self, key: &HwKey) -> Option<u32> {
        let key = key.masked(self.match_iif, self.match_encap);
        match self.layout {
            Layout::Hashed => Some(self.bucket(&key) * self.ways),
            Layout::Cuckoo => Some(self.cuckoo_buckets(&key).0 * self.ways),
            Layout::FullyAssociative => None,
        }
    }

    #[inline(always)]
    fn bucket(&self, key: &HwKey) -> u32 {
        match self.hash {
            HashKind::MtkPpe => mtk_ppe_hash(key) & (self.nbuckets - 1),
            HashKind::Mix64 => reduce(mix64(key, SEED1), self.nbuckets),
        }
    }

    #[inline(always)]
    fn cuckoo_buckets(&self, key: &HwKey) -> (u32, u32) {
        let b1 = reduce(mix64(key, SEED1), self.nbuckets);
        (b1, self.cuckoo_b2(key, b1))
    }

    #[inline(always)]
    fn cuckoo_b2(&self, key: &HwKey, b1: u32) -> u32 {
        let b2 = reduce(mix64(key, SEED2), self.nbuckets);
        if b2 != b1 {
            b2
        } else if b1 + 1 == self.nbuckets {
            0
        } else {
            b1 + 1
        }
    }

    #[inline(always)]
    fn scan_tagged(&self, bucket: u32, tag: u32, key: &HwKey) -> u32 {
        let w = self.ways as usize;
        let base = bucket as usize * w;
        for (i, &t) in self.tags[base..base + w].iter().enumerate() {
            if t == tag && self.keys[base + i].same(key) {
                return (base + i) as u32;
            }
        }
        NONE
    }

    /// Writes a slot's key (and its cuckoo tag).
    #[inline]
    fn put_key(&mut self, i: u32, key: HwKey) {
        if self.layout == Layout::Cuckoo {
            self.tags[i as usize] = if key.is_empty_sentinel() {
                0
            } else {
                cuckoo_tag(mix64(&key, SEED1))
            };
        }
        self.keys[i as usize] = key;
    }

    #[inline(always)]
    fn scan(&self, bucket: u32, key: &HwKey) -> u32 {
        let w = self.ways as usize;
        let base = bucket as usize * w;
        for (i, k) in self.keys[base..base + w].iter().enumerate() {
            if k.same(key) {
                return (base + i) as u32;
            }
        }
        NONE
    }

    #[inline(always)]
    fn find(&self, key: &HwKey) -> u32 {
        match self.layout {
            Layout::Hashed => self.scan(self.bucket(key), key),
            Layout::Cuckoo => {
                let h1 = mix64(key, SEED1);
                let b1 = reduce(h1, self.nbuckets);
                let tag = cuckoo_tag(h1);
                let i = self.scan_tagged(b1, tag, key);
                if i != NONE {
                    i
                } else {
                    self.scan_tagged(self.cuckoo_b2(key, b1), tag, key)
                }
            }
            Layout::FullyAssociative => self.index.get(index_hash(key), key, &self.keys),
        }
    }

    // ----- data path -------------------------------------------------------------------

    /// Looks a received packet's key up at `now`, counting `bytes` on a hit. Lazy tables
    /// create an unbound entry on a miss when the bucket has room.
    #[inline]
    pub fn lookup(&mut self, now: SimTime, key: &HwKey, bytes: u32) -> Lookup {
        let key = key.masked(self.match_iif, self.match_encap);
        self.stats.lookups += 1;
        let i = self.find(&key);
        if i != NONE {
            self.touch(i, now, bytes);
            let s = &self.slots[i as usize];
            if s.state == SlotState::Bound {
                self.stats.hits += 1;
                return Lookup::Hit {
                    slot: i,
                    action: s.action,
                };
            }
            return self.rate_verdict(i, true);
        }
        self.stats.misses += 1;
        if self.mode == BindMode::Lazy
            && let Some(i) = self.create_unbound(now, &key, bytes)
        {
            return self.rate_verdict(i, false);
        }
        Lookup::Miss
    }

    #[inline]
    fn rate_verdict(&mut self, i: u32, existing: bool) -> Lookup {
        if self.slots[i as usize].win_pkts >= self.bind_rate {
            self.stats.rate_reached += 1;
            Lookup::BindCheck { slot: i }
        } else if existing {
            self.stats.unbound_hits += 1;
            Lookup::Unbound { slot: i }
        } else {
            Lookup::Miss
        }
    }

    #[inline]
    fn touch(&mut self, i: u32, now: SimTime, bytes: u32) {
        let epoch = if self.refresh_ns != 0 {
            self.epoch_at(now)
        } else {
            SimTime::ZERO
        };
        let window = self.rate_window_ns;
        let s = &mut self.slots[i as usize];
        if s.last_used < epoch {
            s.snap_packets = s.packets;
            s.snap_bytes = s.bytes;
            s.snap_last = s.last_used;
        }
        if now.0 >= s.win_start.0.saturating_add(window) {
            s.win_start = now;
            s.win_pkts = 0;
        }
        s.win_pkts = s.win_pkts.saturating_add(1);
        s.packets += 1;
        s.bytes += u64::from(bytes);
        if now > s.last_used {
            s.last_used = now;
        }
        if self.lru {
            self.lru_unlink(i);
            self.lru_push_front(i);
        }
    }

    /// Start of the counter-refresh epoch containing `now`.
    #[inline]
    fn epoch_at(&mut self, now: SimTime) -> SimTime {
        if now >= self.epoch_end || now < self.epoch_begin {
            let b = now.0 - now.0 % self.refresh_ns;
            self.epoch_begin = SimTime(b);
            self.epoch_end = SimTime(b.saturating_add(self.refresh_ns));
        }
        self.epoch_begin
    }

    fn create_unbound(&mut self, now: SimTime, key: &HwKey, bytes: u32) -> Option<u32> {
        let w = self.ways;
        let base = self.bucket(key) * w;
        for i in base..base + w {
            if self.slots[i as usize].state == SlotState::Free {
                self.account(now);
                self.put_key(i, *key);
                let last_check = self.slots[i as usize].last_check;
                self.slots[i as usize] = Slot {
                    state: SlotState::Unbound,
                    win_pkts: 1,
                    packets: 1,
                    bytes: u64::from(bytes),
                    last_used: now,
                    win_start: now,
                    last_check,
                    snap_last: now,
                    ..FREE_SLOT
                };
                self.n_unbound += 1;
                self.peaks();
                self.stats.unbound_created += 1;
                if let Some(a) = self.aging {
                    self.schedule_age(now, a.unbound);
                }
                return Some(i);
            }
        }
        self.stats.unbound_create_failed += 1;
        None
    }

    /// The CPU-side check for a packet punted with [`Lookup::BindCheck`] (MediaTek's
    /// `mtk_ppe_check_skb` / `__mtk_ppe_check_skb`), run when the CPU handles the packet.
    pub fn bind_check(&mut self, now: SimTime, slot: u32) -> BindOutcome {
        if self.mode != BindMode::Lazy || slot as usize >= self.slots.len() {
            self.stats.bind_no_match += 1;
            return BindOutcome::NoMatch;
        }
        let interval = self.check_interval_ns;
        let s = &mut self.slots[slot as usize];
        if s.last_check != SimTime::MAX && now.0 < s.last_check.0.saturating_add(interval) {
            self.stats.bind_checks_rate_limited += 1;
            return BindOutcome::RateLimited;
        }
        s.last_check = now;
        self.stats.bind_checks += 1;
        if s.state == SlotState::Bound {
            self.stats.bind_already_bound += 1;
            return BindOutcome::AlreadyBound;
        }
        let hw_unbound = s.state == SlotState::Unbound;
        let hw_key = self.keys[slot as usize];
        let bucket = slot / self.ways;
        let mut found = NONE;
        let mut f = self.sw_head[bucket as usize];
        while f != NONE {
            let next = self.flows[f as usize].next;
            if found == NONE && hw_unbound && self.flows[f as usize].key.same(&hw_key) {
                found = f;
            } else if self.unlink_peers && self.flows[f as usize].slot != NONE {
                let ps = self.flows[f as usize].slot;
                if self.slots[ps as usize].owner == f {
                    self.slots[ps as usize].owner = NONE;
                    self.stats.unlinked_peers += 1;
                }
                self.flows[f as usize].slot = NONE;
            }
            f = next;
        }
        if found == NONE {
            self.stats.bind_no_match += 1;
            return BindOutcome::NoMatch;
        }
        self.account(now);
        let fl = &mut self.flows[found as usize];
        fl.slot = slot;
        fl.stale_last = now;
        fl.has_stale = true;
        fl.base_packets = 0;
        fl.base_bytes = 0;
        let (action, cookie) = (fl.action, fl.cookie);
        let s = &mut self.slots[slot as usize];
        s.state = SlotState::Bound;
        s.owner = found;
        s.action = action;
        s.packets = 0;
        s.bytes = 0;
        s.last_used = now;
        s.snap_packets = 0;
        s.snap_bytes = 0;
        s.snap_last = now;
        self.n_unbound -= 1;
        self.n_bound += 1;
        self.peaks();
        self.stats.binds += 1;
        let d = self.age_delta(&hw_key);
        self.schedule_age(now, d);
        BindOutcome::Bound { cookie }
    }

    // ----- control path ----------------------------------------------------------------

    fn check_supported(&self, key: &HwKey) -> Result<(), UnsupportedReason> {
        match key.version {
            4 => {}
            6 if self.ipv6 => {}
            6 => return Err(UnsupportedReason::Ipv6),
            _ => return Err(UnsupportedReason::InvalidKey),
        }
        if key.proto != proto::TCP && key.proto != proto::UDP {
            return Err(UnsupportedReason::L4Protocol);
        }
        if key.encap_depth() > usize::from(self.max_encap) {
            return Err(UnsupportedReason::EncapDepth);
        }
        Ok(())
    }

    /// Offers one direction's rule (`FLOW_CLS_REPLACE`) at `now`. Direct tables place it (or
    /// refuse / evict); lazy tables list it in software and always succeed for supported
    /// rules.
    pub fn insert(
        &mut self,
        now: SimTime,
        cookie: Cookie,
        key: &HwKey,
        action: HwAction,
    ) -> Result<Inserted, InsertError> {
        let r = self.insert_inner(now, cookie, key, action);
        match r {
            Ok(_) => self.stats.inserts_ok += 1,
            Err(InsertError::BucketFull) => self.stats.refused_bucket_full += 1,
            Err(InsertError::TableFull) => self.stats.refused_table_full += 1,
            Err(InsertError::Unsupported(_)) => self.stats.refused_unsupported += 1,
            Err(InsertError::Exists) => self.stats.refused_exists += 1,
            Err(_) => {}
        }
        r
    }

    fn insert_inner(
        &mut self,
        now: SimTime,
        cookie: Cookie,
        key: &HwKey,
        action: HwAction,
    ) -> Result<Inserted, InsertError> {
        self.check_supported(key)
            .map_err(InsertError::Unsupported)?;
        if self.by_cookie.contains_key(&cookie) {
            return Err(InsertError::Exists);
        }
        let key = key.masked(self.match_iif, self.match_encap);
        if self.mode == BindMode::Lazy {
            let bucket = self.bucket(&key);
            let fid = self.alloc_flow(cookie, key, action);
            self.flows[fid as usize].next = self.sw_head[bucket as usize];
            self.sw_head[bucket as usize] = fid;
            return Ok(Inserted {
                bound: false,
                evicted: None,
            });
        }
        if self.find(&key) != NONE {
            return Err(InsertError::Exists);
        }
        let fid = self.alloc_flow(cookie, key, action);
        match self.place(now, &key, fid) {
            Ok((slot, evicted)) => {
                self.account(now);
                self.put_key(slot, key);
                let last_check = self.slots[slot as usize].last_check;
                self.slots[slot as usize] = Slot {
                    state: SlotState::Bound,
                    owner: fid,
                    action,
                    last_used: now,
                    win_start: now,
                    last_check,
                    snap_last: now,
                    ..FREE_SLOT
                };
                if self.layout == Layout::FullyAssociative {
                    self.index.insert(index_hash(&key), slot, &self.keys);
                }
                if self.lru {
                    self.lru_push_front(slot);
                }
                self.n_bound += 1;
                self.peaks();
                let fl = &mut self.flows[fid as usize];
                fl.slot = slot;
                fl.stale_last = now;
                fl.has_stale = true;
                let d = self.age_delta(&key);
                self.schedule_age(now, d);
                Ok(Inserted {
                    bound: true,
                    evicted,
                })
            }
            Err(e) => {
                self.free_flow(fid);
                Err(e)
            }
        }
    }

    /// Finds a slot for a new direct entry (evicting if the policy says so). The slot is
    /// left `Free` for the caller to fill (cuckoo moves have already been made).
    fn place(
        &mut self,
        now: SimTime,
        key: &HwKey,
        fid: u32,
    ) -> Result<(u32, Option<Cookie>), InsertError> {
        match self.layout {
            Layout::Hashed => {
                let b = self.bucket(key);
                if let Some(i) = self.free_in(b) {
                    return Ok((i, None));
                }
                self.evict_among(now, &[b]).ok_or(InsertError::BucketFull)
            }
            Layout::Cuckoo => {
                let (b1, b2) = self.cuckoo_buckets(key);
                if let Some(i) = self.free_in(b1).or_else(|| self.free_in(b2)) {
                    return Ok((i, None));
                }
                if let Some(i) = self.cuckoo_kick(*key, fid, b1) {
                    return Ok((i, None));
                }
                self.evict_among(now, &[b1, b2])
                    .ok_or(InsertError::BucketFull)
            }
            Layout::FullyAssociative => {
                if self.n_bound < u64::from(self.usable) {
                    let i = match self.free_slots.pop() {
                        Some(i) => i,
                        None => {
                            self.keys.push(HwKey::EMPTY);
                            self.slots.push(FREE_SLOT);
                            (self.slots.len() - 1) as u32
                        }
                    };
                    return Ok((i, None));
                }
                if self.eviction == Eviction::Lru && self.lru_tail != NONE {
                    let v = self.lru_tail;
                    let cookie = self.evict(now, v);
                    let i = self.free_slots.pop().unwrap_or(v);
                    return Ok((i, Some(cookie)));
                }
                Err(InsertError::TableFull)
            }
        }
    }

    fn free_in(&self, bucket: u32) -> Option<u32> {
        let base = bucket * self.ways;
        (base..base + self.ways).find(|&i| self.slots[i as usize].state == SlotState::Free)
    }

    /// Evicts the policy's victim among the bound entries of `buckets`; returns the freed
    /// slot and the evicted cookie.
    fn evict_among(&mut self, now: SimTime, buckets: &[u32]) -> Option<(u32, Option<Cookie>)> {
        if self.eviction == Eviction::Refuse {
            return None;
        }
        let mut best: Option<(u64, SimTime, u32)> = None;
        for &b in buckets {
            let base = b * self.ways;
            for i in base..base + self.ways {
                let s = &self.slots[i as usize];
                if s.state != SlotState::Bound {
                    continue;
                }
                let in_window = now.0 < s.win_start.0.saturating_add(self.rate_window_ns);
                let activity = match self.eviction {
                    Eviction::LeastActive if in_window => u64::from(s.win_pkts),
                    _ => 0,
                };
                let cand = (activity, s.last_used, i);
                if best.is_none_or(|b| cand < b) {
                    best = Some(cand);
                }
            }
        }
        let (_, _, v) = best?;
        let cookie = self.evict(now, v);
        Some((v, Some(cookie)))
    }

    /// Removes a bound entry to make room; its flow stays known (slot unlinked).
    fn evict(&mut self, now: SimTime, slot: u32) -> Cookie {
        let owner = self.slots[slot as usize].owner;
        let cookie = if owner != NONE {
            self.flows[owner as usize].slot = NONE;
            self.flows[owner as usize].cookie
        } else {
            0
        };
        self.free_slot(now, slot);
        self.stats.evictions += 1;
        cookie
    }

    /// Cuckoo displacement walk for a new entry whose buckets are both full. On success the
    /// returned slot (in `b_start`) is `Free` for the caller; on failure every move is undone.
    fn cuckoo_kick(&mut self, key: HwKey, fid: u32, b_start: u32) -> Option<u32> {
        if self.max_kicks == 0 {
            return None;
        }
        self.path.clear();
        // The entry being carried: starts as the new key (a placeholder slot owned by fid).
        let mut cur_key = key;
        let mut cur_tag = cuckoo_tag(mix64(&key, SEED1));
        let mut cur = Slot {
            state: SlotState::Bound,
            owner: fid,
            ..FREE_SLOT
        };
        let mut b = b_start;
        let mut prev = NONE;
        let w = self.ways;
        for kick in 0..self.max_kicks {
            // Deterministic victim: way (kick mod ways), skipping reserved slots and the slot
            // the carried entry was just taken from.
            let base = b * w;
            let mut v = NONE;
            for k in 0..w {
                let i = base + (kick + k) % w;
                let s = &self.slots[i as usize];
                if s.state == SlotState::Bound && s.owner != fid && i != prev {
                    v = i;
                    break;
                }
            }
            if v == NONE {
                break;
            }
            std::mem::swap(&mut cur_key, &mut self.keys[v as usize]);
            std::mem::swap(&mut cur_tag, &mut self.tags[v as usize]);
            std::mem::swap(&mut cur, &mut self.slots[v as usize]);
            self.path.push(v);
            let (c1, c2) = self.cuckoo_buckets(&cur_key);
            let alt = if c1 == b { c2 } else { c1 };
            if let Some(free) = self.free_in(alt) {
                let last_check = self.slots[free as usize].last_check;
                self.keys[free as usize] = cur_key;
                self.tags[free as usize] = cur_tag;
                self.slots[free as usize] = Slot { last_check, ..cur };
                self.path.push(free);
                // Fix the owners' back-pointers of every moved entry (the first path slot
                // holds the new entry's placeholder, taken over by the caller).
                let first = self.path[0];
                for idx in 1..self.path.len() {
                    let s = self.path[idx];
                    let o = self.slots[s as usize].owner;
                    if o != NONE {
                        self.flows[o as usize].slot = s;
                    }
                }
                self.stats.cuckoo_kicks += (self.path.len() - 1) as u64;
                // Hand the placeholder slot back as free for the caller to fill.
                let last_check = self.slots[first as usize].last_check;
                self.put_key(first, HwKey::EMPTY);
                self.slots[first as usize] = Slot {
                    last_check,
                    ..FREE_SLOT
                };
                return Some(first);
            }
            prev = v;
            b = alt;
        }
        // Undo in reverse order.
        while let Some(v) = self.path.pop() {
            std::mem::swap(&mut cur_key, &mut self.keys[v as usize]);
            std::mem::swap(&mut cur_tag, &mut self.tags[v as usize]);
            std::mem::swap(&mut cur, &mut self.slots[v as usize]);
        }
        None
    }

    /// Withdraws one direction's rule (`FLOW_CLS_DESTROY`) at `now`.
    pub fn remove(&mut self, now: SimTime, cookie: Cookie) -> Result<Removed, InsertError> {
        let Some(fid) = self.by_cookie.get(&cookie).copied() else {
            self.stats.not_found += 1;
            return Err(InsertError::NotFound);
        };
        let linked = self.linked_slot(fid);
        if self.mode == BindMode::Lazy {
            let bucket = self.bucket(&self.flows[fid as usize].key) as usize;
            let mut p = NONE;
            let mut f = self.sw_head[bucket];
            while f != NONE && f != fid {
                p = f;
                f = self.flows[f as usize].next;
            }
            let next = self.flows[fid as usize].next;
            if p == NONE {
                self.sw_head[bucket] = next;
            } else {
                self.flows[p as usize].next = next;
            }
        }
        if let Some(s) = linked {
            self.free_slot(now, s);
        }
        self.free_flow(fid);
        self.stats.removes_ok += 1;
        Ok(Removed {
            was_bound: linked.is_some(),
        })
    }

    /// Reads one cookie's counters and idle time as the driver would at `now`. With
    /// `consume`, the deltas are reset (what a `FLOW_CLS_STATS` call does).
    pub fn read_stats(
        &mut self,
        now: SimTime,
        cookie: Cookie,
        consume: bool,
    ) -> Result<EntryStats, InsertError> {
        let Some(fid) = self.by_cookie.get(&cookie).copied() else {
            self.stats.not_found += 1;
            return Err(InsertError::NotFound);
        };
        self.stats.stats_reads += 1;
        let linked = self.linked_slot(fid);
        let (packets, bytes, last) = match linked {
            Some(i) => {
                let s = self.slots[i as usize];
                let visible_snap = self.refresh_ns != 0 && s.last_used >= self.epoch_of(now);
                if visible_snap {
                    (s.snap_packets, s.snap_bytes, Some(s.snap_last))
                } else {
                    (s.packets, s.bytes, Some(s.last_used))
                }
            }
            None => {
                let f = &self.flows[fid as usize];
                let stale = if f.has_stale {
                    Some(f.stale_last)
                } else if self.mode == BindMode::Lazy && self.ts_tick_ns != 0 {
                    // The prepared FOE entry's timestamp field is zero (mtk_foe_entry_prepare
                    // memsets the entry), so a never-bound flow reads as last used at tick 0.
                    Some(SimTime::ZERO)
                } else {
                    None
                };
                (0, 0, stale)
            }
        };
        let (packets, bytes) = if self.accounting {
            (packets, bytes)
        } else {
            (0, 0)
        };
        let idle = last.map(|l| self.idle(now, l));
        let f = &mut self.flows[fid as usize];
        let (dp, db) = if linked.is_some() {
            (
                packets.saturating_sub(f.base_packets),
                bytes.saturating_sub(f.base_bytes),
            )
        } else {
            (0, 0)
        };
        if linked.is_some()
            && let Some(l) = last
        {
            f.stale_last = l;
            f.has_stale = true;
        }
        if consume && linked.is_some() {
            f.base_packets = packets;
            f.base_bytes = bytes;
        }
        Ok(EntryStats {
            in_hardware: linked.is_some(),
            packets,
            bytes,
            delta_packets: dp,
            delta_bytes: db,
            last_used: idle.map(|d| SimTime(now.0.saturating_sub(d.0))),
            idle,
        })
    }

    fn epoch_of(&self, now: SimTime) -> SimTime {
        SimTime(now.0 - now.0 % self.refresh_ns)
    }

    fn idle(&self, now: SimTime, last: SimTime) -> SimDuration {
        if self.ts_tick_ns == 0 {
            return now - last;
        }
        let t = self.ts_tick_ns;
        let ticks = (now.0 / t).wrapping_sub(last.0 / t) & self.ts_mask;
        SimDuration(ticks.saturating_mul(t))
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

    /// Removes every entry and flow at `now` (flowtable deletion, NIC reset). Counters stay.
    pub fn clear(&mut self, now: SimTime) {
        self.account(now);
        match self.layout {
            Layout::FullyAssociative => {
                self.keys.clear();
                self.slots.clear();
                self.free_slots.clear();
                self.index.clear();
            }
            _ => {
                self.tags.iter_mut().for_each(|t| *t = 0);
                for (k, s) in self.keys.iter_mut().zip(self.slots.iter_mut()) {
                    if matches!(s.state, SlotState::Bound | SlotState::Unbound) {
                        *k = HwKey::EMPTY;
                        *s = Slot {
                            last_check: s.last_check,
                            ..FREE_SLOT
                        };
                    }
                }
            }
        }
        self.flows.clear();
        self.free_flows.clear();
        self.by_cookie.clear();
        self.sw_head.iter_mut().for_each(|h| *h = NONE);
        self.lru_head = NONE;
        self.lru_tail = NONE;
        self.n_bound = 0;
        self.n_unbound = 0;
        self.age_due_tick = u64::MAX;
    }

    // ----- aging -----------------------------------------------------------------------

    /// When the next aging scan can change something (`None`: aging off or nothing to age).
    pub fn next_aging_time(&self) -> Option<SimTime> {
        let a = self.aging?;
        if self.occupancy() == 0 || self.age_due_tick == u64::MAX {
            return None;
        }
        Some(SimTime(self.age_due_tick.saturating_mul(a.tick_ns)))
    }

    fn age_delta(&self, key: &HwKey) -> u64 {
        match self.aging {
            None => u64::MAX,
            Some(a) => match key.proto {
                proto::TCP => a.tcp,
                proto::UDP => a.udp,
                _ => a.other,
            },
        }
    }

    fn schedule_age(&mut self, now: SimTime, delta: u64) {
        if let Some(a) = self.aging {
            let due = (now.0 / a.tick_ns).saturating_add(delta);
            self.age_due_tick = self.age_due_tick.min(due);
        }
    }

    /// Runs the hardware aging scan at `now` (a tick boundary from
    /// [`FlowTable::next_aging_time`]): bound entries idle for at least their protocol's
    /// delta and unbound entries idle for the unbound delta are freed. Cookies of aged
    /// bound entries that had an owner are appended to `aged`.
    pub fn age(&mut self, now: SimTime, aged: &mut Vec<Cookie>) {
        let Some(a) = self.aging else { return };
        let tick = now.0 / a.tick_ns;
        let mut next_due = u64::MAX;
        for i in 0..self.slots.len() {
            let s = self.slots[i];
            let delta = match s.state {
                SlotState::Bound => self.age_delta(&self.keys[i]),
                SlotState::Unbound => a.unbound,
                _ => continue,
            };
            let last_tick = s.last_used.0 / a.tick_ns;
            let due = last_tick.saturating_add(delta);
            if due <= tick {
                if s.state == SlotState::Bound {
                    self.stats.aged_bound += 1;
                    if s.owner != NONE {
                        aged.push(self.flows[s.owner as usize].cookie);
                        if self.mode == BindMode::Direct {
                            self.flows[s.owner as usize].slot = NONE;
                        }
                    }
                } else {
                    self.stats.aged_unbound += 1;
                }
                self.free_slot(now, i as u32);
            } else {
                next_due = next_due.min(due);
            }
        }
        self.age_due_tick = next_due;
    }

    // ----- bookkeeping -----------------------------------------------------------------

    fn alloc_flow(&mut self, cookie: Cookie, key: HwKey, action: HwAction) -> u32 {
        let f = Flow {
            cookie,
            key,
            action,
            slot: NONE,
            next: NONE,
            stale_last: SimTime::ZERO,
            has_stale: false,
            base_packets: 0,
            base_bytes: 0,
        };
        let fid = match self.free_flows.pop() {
            Some(i) => {
                self.flows[i as usize] = f;
                i
            }
            None => {
                self.flows.push(f);
                (self.flows.len() - 1) as u32
            }
        };
        self.by_cookie.insert(cookie, fid);
        fid
    }

    fn free_flow(&mut self, fid: u32) {
        let cookie = self.flows[fid as usize].cookie;
        self.by_cookie.remove(&cookie);
        self.flows[fid as usize].slot = NONE;
        self.flows[fid as usize].next = NONE;
        self.free_flows.push(fid);
    }

    fn free_slot(&mut self, now: SimTime, i: u32) {
        self.account(now);
        let st = self.slots[i as usize].state;
        match st {
            SlotState::Bound => self.n_bound -= 1,
            SlotState::Unbound => self.n_unbound -= 1,
            _ => return,
        }
        if self.lru {
            self.lru_unlink(i);
        }
        if self.layout == Layout::FullyAssociative {
            let h = index_hash(&self.keys[i as usize]);
            self.index.remove(h, i, &self.keys);
            self.free_slots.push(i);
        }
        let last_check = self.slots[i as usize].last_check;
        self.put_key(i, HwKey::EMPTY);
        self.slots[i as usize] = Slot {
            last_check,
            ..FREE_SLOT
        };
    }

    /// Integrates occupancy up to `now` before a change.
    fn account(&mut self, now: SimTime) {
        if !self.occ_started {
            self.occ_started = true;
            self.occ_since = now;
            return;
        }
        if now > self.occ_since {
            let dt = u128::from(now.0 - self.occ_since.0);
            self.stats.occupancy_area += u128::from(self.n_bound + self.n_unbound) * dt;
            self.stats.bound_area += u128::from(self.n_bound) * dt;
            self.occ_since = now;
        }
    }

    fn peaks(&mut self) {
        let occ = self.n_bound + self.n_unbound;
        self.stats.peak_occupancy = self.stats.peak_occupancy.max(occ);
        self.stats.peak_bound = self.stats.peak_bound.max(self.n_bound);
    }

    /// Brings the occupancy integral up to `now` (call before reading [`FlowTable::stats`]).
    pub fn flush(&mut self, now: SimTime) {
        if self.occ_started {
            self.account(now);
        }
    }

    fn lru_unlink(&mut self, i: u32) {
        let (p, n) = {
            let s = &self.slots[i as usize];
            (s.lru_prev, s.lru_next)
        };
        if p != NONE {
            self.slots[p as usize].lru_next = n;
        } else if self.lru_head == i {
            self.lru_head = n;
        } else {
            return; // not linked
        }
        if n != NONE {
            self.slots[n as usize].lru_prev = p;
        } else {
            self.lru_tail = p;
        }
        let s = &mut self.slots[i as usize];
        s.lru_prev = NONE;
        s.lru_next = NONE;
    }

    fn lru_push_front(&mut self, i: u32) {
        let h = self.lru_head;
        {
            let s = &mut self.slots[i as usize];
            s.lru_prev = NONE;
            s.lru_next = h;
        }
        if h != NONE {
            self.slots[h as usize].lru_prev = i;
        } else {
            self.lru_tail = i;
        }
        self.lru_head = i;
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::key::EncapId;
    use offsim_traces::FlowKey;

    fn cfg(name: &str) -> NicConfig {
        NicConfig::preset(name).unwrap()
    }

    fn over(mut c: NicConfig, s: &str) -> NicConfig {
        c.apply_overrides(&toml::from_str(s).unwrap()).unwrap();
        c
    }

    fn key(i: u32) -> HwKey {
        HwKey::new(
            FlowKey {
                src: u128::from(0x0a00_0000 | (i >> 8)),
                dst: u128::from(0xc0a8_0001u32),
                sport: 1024 + (i & 0xff) as u16 * 97,
                dport: 443,
                proto: proto::TCP,
                version: 4,
            },
            1,
            [EncapId::NONE; 2],
        )
    }

    fn udp(i: u32) -> HwKey {
        let mut k = key(i);
        k.proto = proto::UDP;
        k
    }

    const A: HwAction = HwAction {
        out_iface: 2,
        mtu: 0,
    };

    fn t(ms: u64) -> SimTime {
        SimTime(ms * 1_000_000)
    }

    #[test]
    fn mt7621_reserves_448_entries_at_the_driver_indices() {
        let tab = FlowTable::new(&cfg("mt7621")).unwrap();
        assert_eq!(tab.capacity(), 8192);
        assert_eq!(tab.reserved(), 448);
        let reserved: Vec<u32> = (0..8192)
            .filter(|&i| tab.slot_state(i) == Some(SlotState::Reserved))
            .collect();
        assert_eq!(reserved.len(), 448);
        assert_eq!(&reserved[..7], &[12, 25, 38, 51, 76, 89, 102]);
        assert_eq!(&reserved[7..14], &[140, 153, 166, 179, 204, 217, 230]);
        assert_eq!(tab.slot_state(8192 - 128 + 102), Some(SlotState::Reserved));
        assert_eq!(tab.slot_state(13), Some(SlotState::Free));
    }

    #[test]
    fn mtk_bucket_matches_the_hand_computed_hash() {
        // The vector of hash::test: bucket base 3024 on MT7621.
        let tab = FlowTable::new(&cfg("mt7621")).unwrap();
        let k = HwKey::new(
            FlowKey {
                src: 0xC0A8_0102,
                dst: 0x0A00_0001,
                sport: 1234,
                dport: 80,
                proto: proto::TCP,
                version: 4,
            },
            7,
            [EncapId::vlan(5), EncapId::NONE],
        );
        assert_eq!(tab.bucket_base(&k), Some(3024));
    }

    /// Keys that fall in one bucket of `tab`.
    fn colliding(tab: &FlowTable, n: usize) -> Vec<HwKey> {
        let target = tab.bucket_base(&key(0)).unwrap();
        let mut out = vec![key(0)];
        let mut i = 1;
        while out.len() < n {
            if tab.bucket_base(&key(i)) == Some(target) {
                out.push(key(i));
            }
            i += 1;
        }
        out
    }

    #[test]
    fn direct_two_way_bucket_refuses_the_third_colliding_flow() {
        let c = over(
            cfg("mt7621"),
            "binding.mode = \"direct\"\ntable.capacity = 64\ntable.reserved_period = 0\ntable.reserved_indices = []",
        );
        let mut tab = FlowTable::new(&c).unwrap();
        let ks = colliding(&tab, 3);
        assert!(tab.insert(t(0), 1, &ks[0], A).unwrap().bound);
        assert!(tab.insert(t(0), 2, &ks[1], A).unwrap().bound);
        assert_eq!(tab.insert(t(0), 3, &ks[2], A), Err(InsertError::BucketFull));
        assert_eq!(tab.stats.refused_bucket_full, 1);
        assert_eq!(tab.bound(), 2);
        assert!(matches!(tab.lookup(t(1), &ks[0], 100), Lookup::Hit { .. }));
        assert_eq!(tab.lookup(t(1), &ks[2], 100), Lookup::Miss);
        // Freeing one way makes room again.
        tab.remove(t(2), 1).unwrap();
        assert!(tab.insert(t(2), 3, &ks[2], A).is_ok());
    }

    #[test]
    fn fully_associative_refuses_less_than_two_way_on_the_same_flows() {
        let hashed = over(
            cfg("mt7621"),
            "binding.mode = \"direct\"\ntable.capacity = 1024\ntable.reserved_period = 0\ntable.reserved_indices = []",
        );
        let fa = over(cfg("connectx6dx"), "table.capacity = 1024");
        let mut h = FlowTable::new(&hashed).unwrap();
        let mut f = FlowTable::new(&fa).unwrap();
        let n = 900; // 88 % of capacity
        let (mut rh, mut rf) = (0, 0);
        for i in 0..n {
            let k = udp(i * 7919);
            rh += h.insert(t(0), u64::from(i), &k, A).is_err() as u32;
            rf += f.insert(t(0), u64::from(i), &k, A).is_err() as u32;
        }
        assert_eq!(
            rf, 0,
            "a fully associative table below capacity refuses nothing"
        );
        assert!(
            rh > 50,
            "a 2-way table at 88% load must see collisions, got {rh}"
        );
        assert_eq!(h.bound() + u64::from(rh), u64::from(n));
        // Past capacity the fully associative table refuses with TableFull.
        for i in n..1100 {
            let _ = f.insert(t(0), u64::from(i), &udp(i * 7919), A);
        }
        assert_eq!(f.bound(), 1024);
        assert_eq!(f.stats.refused_table_full, 1100 - 1024);
    }

    #[test]
    fn cuckoo_kicks_place_what_a_plain_bucket_refuses() {
        let plain = over(
            cfg("smartnic"),
            "table.layout = \"hashed\"\ntable.capacity = 1024\ntable.ways = 4",
        );
        let cuckoo = over(cfg("smartnic"), "table.capacity = 1024");
        let mut p = FlowTable::new(&plain).unwrap();
        let mut c = FlowTable::new(&cuckoo).unwrap();
        let (mut rp, mut rc) = (0, 0);
        for i in 0..980u32 {
            let k = udp(i * 104_729);
            rp += p.insert(t(0), u64::from(i), &k, A).is_err() as u32;
            rc += c.insert(t(0), u64::from(i), &k, A).is_err() as u32;
        }
        assert!(rc < rp, "cuckoo refused {rc}, plain 4-way {rp}");
        assert!(c.stats.cuckoo_kicks > 0);
        // Every placed cookie is still found where its flow says it is.
        for i in 0..980u32 {
            let k = udp(i * 104_729);
            if let Some(v) = c.flow_view(u64::from(i)) {
                let s = v.slot.expect("direct entries are bound");
                assert!(matches!(c.lookup(t(1), &k, 1), Lookup::Hit { slot, .. } if slot == s));
            }
        }
    }

    #[test]
    fn cuckoo_failure_is_undone() {
        // Tiny table, no room: a failed walk must leave every entry where lookups find it.
        let c = over(
            cfg("smartnic"),
            "table.capacity = 8\ntable.ways = 2\ntable.max_kicks = 16",
        );
        let mut tab = FlowTable::new(&c).unwrap();
        let mut placed = Vec::new();
        for i in 0..40u32 {
            let k = udp(i * 31);
            if tab.insert(t(0), u64::from(i), &k, A).is_ok() {
                placed.push((u64::from(i), k));
            }
        }
        assert!(tab.bound() <= 8);
        assert_eq!(placed.len() as u64, tab.bound());
        for (cookie, k) in placed {
            let slot = tab.flow_view(cookie).unwrap().slot.unwrap();
            assert_eq!(tab.lookup(t(1), &k, 1), Lookup::Hit { slot, action: A });
        }
    }

    #[test]
    fn lru_and_least_active_eviction_are_deterministic() {
        let c = over(
            cfg("mt7621"),
            "binding.mode = \"direct\"\ntable.capacity = 64\ntable.reserved_period = 0\ntable.reserved_indices = []\ntable.eviction = \"lru\"",
        );
        let mut tab = FlowTable::new(&c).unwrap();
        let ks = colliding(&tab, 3);
        tab.insert(t(0), 1, &ks[0], A).unwrap();
        tab.insert(t(1), 2, &ks[1], A).unwrap();
        tab.lookup(t(5), &ks[0], 1); // 1 is now the most recent
        let r = tab.insert(t(6), 3, &ks[2], A).unwrap();
        assert_eq!(r.evicted, Some(2));
        assert_eq!(tab.flow_view(2).unwrap().slot, None);
        assert_eq!(tab.stats.evictions, 1);

        let c = over(c, "table.eviction = \"least_active\"");
        let mut tab = FlowTable::new(&c).unwrap();
        tab.insert(t(0), 1, &ks[0], A).unwrap();
        tab.insert(t(0), 2, &ks[1], A).unwrap();
        for _ in 0..5 {
            tab.lookup(t(10), &ks[1], 1);
        }
        tab.lookup(t(20), &ks[0], 1); // more recent but less active
        let r = tab.insert(t(30), 3, &ks[2], A).unwrap();
        assert_eq!(r.evicted, Some(1));
    }

    #[test]
    fn fully_associative_lru_evicts_the_oldest() {
        let c = over(
            cfg("connectx6dx"),
            "table.capacity = 3\ntable.eviction = \"lru\"",
        );
        let mut tab = FlowTable::new(&c).unwrap();
        for i in 0..3 {
            tab.insert(t(i), i, &udp(i as u32), A).unwrap();
        }
        tab.lookup(t(10), &udp(0), 1);
        let r = tab.insert(t(11), 9, &udp(9), A).unwrap();
        assert_eq!(r.evicted, Some(1));
        let r = tab.insert(t(12), 10, &udp(10), A).unwrap();
        assert_eq!(r.evicted, Some(2));
        assert_eq!(tab.bound(), 3);
    }

    #[test]
    fn unsupported_and_duplicate_inserts_are_typed() {
        let mut tab = FlowTable::new(&over(cfg("connectx6dx"), "table.ipv6 = false")).unwrap();
        let mut k6 = udp(1);
        k6.version = 6;
        assert_eq!(
            tab.insert(t(0), 1, &k6, A),
            Err(InsertError::Unsupported(UnsupportedReason::Ipv6))
        );
        let mut icmp = udp(1);
        icmp.proto = proto::ICMP;
        assert_eq!(
            tab.insert(t(0), 1, &icmp, A),
            Err(InsertError::Unsupported(UnsupportedReason::L4Protocol))
        );
        tab.insert(t(0), 1, &udp(1), A).unwrap();
        assert_eq!(tab.insert(t(0), 1, &udp(2), A), Err(InsertError::Exists));
        assert_eq!(tab.insert(t(0), 2, &udp(1), A), Err(InsertError::Exists));
        assert_eq!(tab.remove(t(0), 77), Err(InsertError::NotFound));
    }

    #[test]
    fn lazy_slow_flow_never_binds_elephant_binds_after_rate_and_check() {
        let mut tab = FlowTable::new(&cfg("mt7621")).unwrap();
        let mouse = key(1);
        let elephant = key(2);
        assert_eq!(
            tab.insert(t(0), 10, &mouse, A).unwrap(),
            Inserted {
                bound: false,
                evicted: None
            }
        );
        tab.insert(t(0), 20, &elephant, A).unwrap();
        assert_eq!(tab.bound(), 0, "REPLACE only lists the flows");
        // Mouse: 20 packets per second for 10 s (below 30/s): never a bind check.
        let mut checks = 0;
        for p in 0..200u64 {
            let r = tab.lookup(t(p * 50), &mouse, 100);
            assert!(!matches!(r, Lookup::Hit { .. }));
            if let Lookup::BindCheck { slot } = r {
                checks += 1;
                tab.bind_check(t(p * 50), slot);
            }
        }
        assert_eq!(checks, 0);
        assert!(tab.flow_view(10).unwrap().slot.is_none());
        // Elephant: 100 packets/s. The 30th packet in the window reaches the bind rate.
        let mut bound_at = None;
        for p in 0..100u64 {
            let now = t(20_000 + p * 10);
            match tab.lookup(now, &elephant, 1000) {
                Lookup::BindCheck { slot } => {
                    assert!(
                        p >= 29,
                        "bind check before the rate was reached (packet {p})"
                    );
                    if let BindOutcome::Bound { cookie } = tab.bind_check(now, slot) {
                        assert_eq!(cookie, 20);
                        bound_at.get_or_insert(p);
                    }
                }
                Lookup::Hit { .. } => assert!(bound_at.is_some()),
                _ => assert!(bound_at.is_none()),
            }
        }
        assert_eq!(bound_at, Some(29));
        assert_eq!(tab.bound(), 1);
        assert!(tab.flow_view(20).unwrap().slot.is_some());
        assert_eq!(tab.stats.binds, 1);
    }

    #[test]
    fn lazy_bind_check_is_rate_limited_per_entry() {
        let c = over(cfg("mt7621"), "binding.bind_rate_pps = 1");
        let mut tab = FlowTable::new(&c).unwrap();
        // Not listed: every check finds nothing, and at most one runs per 100 ms.
        let k = key(5);
        let Lookup::BindCheck { slot } = tab.lookup(t(0), &k, 1) else {
            panic!("bind rate 1: the first packet reaches it")
        };
        assert_eq!(tab.bind_check(t(0), slot), BindOutcome::NoMatch);
        assert_eq!(tab.bind_check(t(50), slot), BindOutcome::RateLimited);
        assert_eq!(tab.bind_check(t(99), slot), BindOutcome::RateLimited);
        // Listed now: the next allowed check binds.
        tab.insert(t(100), 5, &k, A).unwrap();
        assert_eq!(
            tab.bind_check(t(100), slot),
            BindOutcome::Bound { cookie: 5 }
        );
        assert_eq!(tab.bind_check(t(300), slot), BindOutcome::AlreadyBound);
        assert_eq!(tab.stats.bind_checks_rate_limited, 2);
    }

    #[test]
    fn lazy_full_bucket_leaves_the_flow_in_software() {
        let c = over(cfg("mt7621"), "binding.bind_rate_pps = 1");
        let mut tab = FlowTable::new(&c).unwrap();
        // Pick a bucket without reserved slots (2 usable ways) and fill it with unbound
        // entries of flows nobody offloaded.
        let ks = {
            let mut i = 0;
            loop {
                let b = tab.bucket_base(&key(i)).unwrap();
                if tab.slot_state(b) == Some(SlotState::Free)
                    && tab.slot_state(b + 1) == Some(SlotState::Free)
                {
                    break;
                }
                i += 1;
            }
            let target = tab.bucket_base(&key(i)).unwrap();
            let mut v = vec![];
            let mut j = i;
            while v.len() < 3 {
                if tab.bucket_base(&key(j)) == Some(target) {
                    v.push(key(j));
                }
                j += 1;
            }
            v
        };
        tab.lookup(t(0), &ks[0], 1);
        tab.lookup(t(0), &ks[1], 1);
        assert_eq!(tab.unbound(), 2);
        tab.insert(t(0), 3, &ks[2], A).unwrap();
        for p in 0..50 {
            assert_eq!(tab.lookup(t(p * 10), &ks[2], 1), Lookup::Miss);
        }
        assert!(tab.stats.unbound_create_failed >= 50);
        assert!(tab.flow_view(3).unwrap().slot.is_none());
        // Once the squatters age out (3 ticks idle), the flow gets its chance.
        let mut aged = vec![];
        run_aging(&mut tab, t(3_000), &mut aged);
        assert_eq!(tab.unbound(), 0);
        assert!(aged.is_empty(), "unbound entries have no cookie");
        let Lookup::BindCheck { slot } = tab.lookup(t(5_000), &ks[2], 1) else {
            panic!()
        };
        assert_eq!(
            tab.bind_check(t(5_000), slot),
            BindOutcome::Bound { cookie: 3 }
        );
    }

    /// Runs every aging scan due up to `end`.
    fn run_aging(tab: &mut FlowTable, end: SimTime, aged: &mut Vec<Cookie>) {
        while let Some(at) = tab.next_aging_time() {
            if at > end {
                break;
            }
            tab.age(at, aged);
        }
    }

    #[test]
    fn lazy_check_unlinks_bucket_peers() {
        let c = over(cfg("mt7986"), "binding.bind_rate_pps = 1");
        let mut tab = FlowTable::new(&c).unwrap();
        let ks = colliding(&tab, 3);
        tab.insert(t(0), 1, &ks[0], A).unwrap();
        let Lookup::BindCheck { slot } = tab.lookup(t(0), &ks[0], 1) else {
            panic!()
        };
        assert_eq!(tab.bind_check(t(0), slot), BindOutcome::Bound { cookie: 1 });
        // A flow nobody offloaded reaches the rate in the same bucket: its check unlinks 1.
        let Lookup::BindCheck { slot: s2 } = tab.lookup(t(1), &ks[1], 1) else {
            panic!()
        };
        assert_eq!(tab.bind_check(t(1), s2), BindOutcome::NoMatch);
        assert_eq!(tab.stats.unlinked_peers, 1);
        assert_eq!(tab.flow_view(1).unwrap().slot, None);
        // The entry still forwards (unowned) ...
        assert!(matches!(tab.lookup(t(2), &ks[0], 1), Lookup::Hit { .. }));
        // ... its stats no longer show hardware activity ...
        let st = tab.read_stats(t(5_000), 1, true).unwrap();
        assert!(!st.in_hardware);
        assert_eq!(st.idle, Some(SimDuration::from_secs(5)));
        // ... and DESTROY leaves it in place until it ages.
        assert_eq!(
            tab.remove(t(5_000), 1).unwrap(),
            Removed { was_bound: false }
        );
        assert!(matches!(
            tab.lookup(t(5_001), &ks[0], 1),
            Lookup::Hit { .. }
        ));
        let mut aged = vec![];
        run_aging(&mut tab, t(20_000), &mut aged);
        assert!(aged.is_empty(), "unowned entries report no cookie");
        assert_eq!(tab.occupancy(), 0);
        assert!(!matches!(
            tab.lookup(t(20_001), &ks[0], 1),
            Lookup::Hit { .. }
        ));
    }

    #[test]
    fn aging_frees_idle_bound_entries_by_protocol() {
        let c = over(cfg("mt7621"), "binding.bind_rate_pps = 1");
        let mut tab = FlowTable::new(&c).unwrap();
        for (cookie, k) in [(1, key(1)), (2, udp(2))] {
            tab.insert(t(0), cookie, &k, A).unwrap();
            let Lookup::BindCheck { slot } = tab.lookup(t(0), &k, 1) else {
                panic!()
            };
            tab.bind_check(t(0), slot);
        }
        assert_eq!(tab.bound(), 2);
        // TCP delta 7 ticks, UDP 12 (1 s ticks).
        let mut aged = vec![];
        run_aging(&mut tab, t(6_999), &mut aged);
        assert!(aged.is_empty());
        run_aging(&mut tab, t(7_000), &mut aged);
        assert_eq!(aged, vec![1]);
        tab.lookup(t(11_500), &udp(2), 1); // activity pushes the UDP entry out
        run_aging(&mut tab, t(22_999), &mut aged);
        assert_eq!(aged, vec![1]);
        run_aging(&mut tab, t(23_000), &mut aged);
        assert_eq!(aged, vec![1, 2]);
        assert_eq!(tab.bound(), 0);
        assert_eq!(tab.next_aging_time(), None);
        // The flows are still listed: traffic makes them bind again.
        assert!(tab.flow_view(1).is_some());
        let Lookup::BindCheck { slot } = tab.lookup(t(30_000), &key(1), 1) else {
            panic!()
        };
        assert_eq!(
            tab.bind_check(t(30_000), slot),
            BindOutcome::Bound { cookie: 1 }
        );
    }

    #[test]
    fn stats_model_refresh_and_wrapping_timestamps() {
        // mlx5-like: counters visible as of the last 1 s refresh.
        let mut tab = FlowTable::new(&cfg("connectx6dx")).unwrap();
        tab.insert(t(100), 1, &udp(1), A).unwrap();
        for p in 0..10 {
            tab.lookup(t(200 + p), &udp(1), 100);
        }
        let s = tab.read_stats(t(900), 1, true).unwrap();
        assert_eq!((s.packets, s.delta_packets), (0, 0), "not refreshed yet");
        assert_eq!(s.last_used, Some(t(100)));
        let s = tab.read_stats(t(1_000), 1, true).unwrap();
        assert_eq!((s.packets, s.bytes, s.delta_packets), (10, 1000, 10));
        assert_eq!(s.last_used, Some(t(209)));
        tab.lookup(t(1_500), &udp(1), 100);
        let s = tab.read_stats(t(1_600), 1, true).unwrap();
        assert_eq!((s.packets, s.delta_packets), (10, 0));
        let s = tab.read_stats(t(2_100), 1, true).unwrap();
        assert_eq!((s.packets, s.delta_packets), (11, 1));
        assert_eq!(s.idle, Some(SimDuration::from_millis(600)));

        // MediaTek v2: 8-bit timestamp of 1 s ticks, no accounting on MT7621 (15 bit).
        let c = over(cfg("mt7986"), "binding.bind_rate_pps = 1");
        let mut tab = FlowTable::new(&c).unwrap();
        tab.insert(t(0), 1, &key(1), A).unwrap();
        let s = tab.read_stats(t(300_000), 1, false).unwrap();
        assert!(!s.in_hardware);
        // Never bound: the zeroed FOE timestamp reads as tick 0 -> idle = 300 mod 256 = 44 s.
        assert_eq!(s.idle, Some(SimDuration::from_secs(44)));
        let Lookup::BindCheck { slot } = tab.lookup(t(300_000), &key(1), 1) else {
            panic!()
        };
        tab.bind_check(t(300_000), slot);
        tab.lookup(t(300_500), &key(1), 60);
        let s = tab.read_stats(t(302_700), 1, true).unwrap();
        assert!(s.in_hardware);
        assert_eq!(
            s.idle,
            Some(SimDuration::from_secs(2)),
            "whole ticks: 302 - 300"
        );
        assert_eq!((s.packets, s.bytes), (1, 60));
        let mt7621 = over(cfg("mt7621"), "binding.bind_rate_pps = 1");
        let mut tab = FlowTable::new(&mt7621).unwrap();
        tab.insert(t(0), 1, &key(1), A).unwrap();
        let Lookup::BindCheck { slot } = tab.lookup(t(0), &key(1), 1) else {
            panic!()
        };
        tab.bind_check(t(0), slot);
        tab.lookup(t(10), &key(1), 60);
        let s = tab.read_stats(t(20), 1, true).unwrap();
        assert_eq!((s.packets, s.bytes), (0, 0), "MT7621 has no MIB accounting");
    }

    #[test]
    fn occupancy_is_integrated_over_time() {
        let mut tab = FlowTable::new(&cfg("connectx6dx")).unwrap();
        tab.insert(t(0), 1, &udp(1), A).unwrap();
        tab.insert(t(1_000), 2, &udp(2), A).unwrap();
        tab.remove(t(3_000), 1).unwrap();
        tab.flush(t(4_000));
        // 1 entry for 1 s, 2 for 2 s, 1 for 1 s = 6 entry-seconds over 4 s.
        assert_eq!(tab.stats.occupancy_area, 6 * 1_000_000_000);
        assert_eq!(tab.stats.mean_occupancy(4_000_000_000), 1.5);
        assert_eq!(tab.stats.peak_occupancy, 2);
    }

    #[test]
    fn clear_empties_everything() {
        let mut tab = FlowTable::new(&cfg("mt7986")).unwrap();
        tab.insert(t(0), 1, &key(1), A).unwrap();
        tab.lookup(t(0), &key(3), 1);
        assert_eq!(tab.unbound(), 1);
        tab.clear(t(1));
        assert_eq!((tab.occupancy(), tab.flows()), (0, 0));
        assert_eq!(tab.lookup(t(2), &key(3), 1), Lookup::Miss);
    }
}
