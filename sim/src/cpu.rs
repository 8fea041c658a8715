//! The CPU cycle model: per-stage cycle costs (data, from preset files with sources), and the
//! function that turns a packet's cost drivers into cycles.
//!
//! A packet's cycles are the sum of what it actually did: driver RX/TX (with the NAPI poll
//! cost amortised over the batch), the netdev ingress hook and flowtable lookup where a
//! flowtable is attached, and on the slow path `ip_rcv`, routing, each hook with base chains,
//! each base chain entered, every rule entered and every kernel expression run by kind (as
//! `nft_do_chain` runs them, with the dependencies nft inserts), set lookups by back end with
//! each back end's cost curve (a constant plus a term in log2 of the set's size), jumps,
//! conntrack lookup, creation or an entry that dies unconfirmed, NAT mangling and setup, and
//! forwarding/output for the packets that leave (a packet dropped in FORWARD does not pay
//! it). A cache term adds the expected last-level-cache misses when the conntrack + flowtable
//! working set outgrows the LLC.

use std::collections::BTreeMap;

use offsim_kernel::cost::CostDrivers;
use offsim_nft::{EvalCost, ExprKind, SetBackend};
use serde::{Deserialize, Serialize};

/// Cycle costs per stage. Every field is cycles on the preset's core.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageCycles {
    /// Driver receive per packet (descriptor, skb/xdp_buff setup, DMA unmap).
    pub driver_rx: f64,
    /// Driver transmit per packet.
    pub driver_tx: f64,
    /// NAPI poll overhead per poll, shared by the packets of the batch.
    pub napi_poll: f64,
    /// netdev ingress hook traversal (paid when a netdev chain or flowtable is attached).
    pub netdev_ingress: f64,
    /// Flowtable lookup (key build + hash lookup).
    pub ft_lookup: f64,
    /// Flowtable fast-path forwarding after a hit (refresh, NAT rewrite, TTL, neighbour xmit).
    pub ft_xmit: f64,
    /// `ip_rcv` and `nf_conntrack_in` bookkeeping outside the lookup.
    pub ip_rcv: f64,
    /// Route lookup.
    pub fib_lookup: f64,
    /// `ip_forward`, output, neighbour, qdisc (slow path only).
    pub forward: f64,
    /// Per netfilter hook that has at least one nftables base chain (`nf_hook_slow`).
    pub hook: f64,
    /// Per base chain entered (`nft_do_chain` setup).
    pub chain: f64,
    /// Per rule entered (`nft_do_chain`'s walk of the rule blob).
    pub rule: f64,
    /// Per `payload` load from the network (or link-layer) header.
    pub expr_payload: f64,
    /// Per `payload` load from the transport header.
    pub expr_payload_th: f64,
    /// Per `meta` load of a key other than an interface name.
    pub expr_meta: f64,
    /// Per `meta` load of an interface name (`iifname`, `oifname`, ...): an
    /// `IFNAMSIZ`-byte string copy into the registers.
    pub expr_meta_ifname: f64,
    /// Per protocol dependency nft inserts before a header field (`meta l4proto`,
    /// `meta nfproto` or `meta protocol` and its `cmp`).
    pub expr_dep: f64,
    /// Per `ct` load.
    pub expr_ct: f64,
    /// Per `cmp`.
    pub expr_cmp: f64,
    /// Per `bitwise`.
    pub expr_bitwise: f64,
    /// Per `range`.
    pub expr_range: f64,
    /// Per `lookup` expression, without the back end's lookup (`set_*`).
    pub expr_lookup: f64,
    /// Per `immediate` (a verdict).
    pub expr_immediate: f64,
    /// Per `counter`.
    pub expr_counter: f64,
    /// Per other statement expression (log, limit, quota, NAT, mark set, notrack, ...).
    pub expr_other: f64,
    /// `nft_set_hash_fast` lookup.
    pub set_hash_fast: f64,
    /// `nft_set_hash` lookup.
    pub set_hash: f64,
    /// `nft_set_rhash` lookup.
    pub set_rhash: f64,
    /// `nft_set_bitmap` lookup.
    pub set_bitmap: f64,
    /// `nft_set_rbtree` lookup: constant part.
    pub set_rbtree: f64,
    /// `nft_set_rbtree` lookup: per doubling of the set (`⌊log2 n⌋ + 1`).
    pub set_rbtree_log2: f64,
    /// `nft_set_pipapo` lookup (no AVX2): constant part.
    pub set_pipapo: f64,
    /// `nft_set_pipapo` lookup: per doubling of the set.
    pub set_pipapo_log2: f64,
    /// `nft_set_pipapo_avx2` lookup: constant part.
    pub set_pipapo_avx2: f64,
    /// `nft_set_pipapo_avx2` lookup: per doubling of the set.
    pub set_pipapo_avx2_log2: f64,
    /// Per jump/goto (jump stack and chain switch; the verdict is `expr_immediate`).
    pub jump: f64,
    /// Conntrack lookup of an existing entry, incl. state update.
    pub ct_lookup: f64,
    /// Conntrack creation of a new entry (alloc, init, confirm/insert).
    pub ct_new: f64,
    /// A new conntrack entry that dies unconfirmed with its dropped packet (alloc, init,
    /// free; never inserted).
    pub ct_unconfirmed: f64,
    /// Per-packet NAT rewrite (checksums) on the slow path.
    pub nat_mangle: f64,
    /// NAT binding setup for a new connection (port selection), with the one
    /// `nf_nat_used_tuple` lookup of a port kept.
    pub nat_setup: f64,
    /// Each further `nf_nat_used_tuple` lookup of the port search after a clash
    /// (`nf_nat_l4proto_unique_tuple`: up to 248 when the ports towards a server are used
    /// up). Its cache miss in a large table is `cache_miss`'s, as for a conntrack lookup.
    pub nat_try: f64,
    /// The NAT core's hook entry (`nf_nat_inet_fn`) at a hook with `nat` chains, per
    /// tracked packet (beyond `hook`, which counts the hook traversal).
    pub nat_hook: f64,
    /// Per fragment handled by defragmentation.
    pub defrag: f64,
    /// Kernel side of one hardware offload add (`flow_offload_work_add`: a `flow_rule` with
    /// up to 16 actions built for each direction, then the flow block callbacks). The
    /// driver's own time is the NIC preset's `pipeline.cpu_ns_insert`, per direction.
    pub offload_add: f64,
    /// Kernel side of one hardware offload delete (`flow_offload_work_del`); the driver's
    /// time is `pipeline.cpu_ns_remove` per direction.
    pub offload_del: f64,
    /// Kernel side of one hardware stats request (`flow_offload_work_stats`); the driver's
    /// time is `pipeline.cpu_ns_stats` per direction.
    pub offload_stats: f64,
    /// Waking a kworker that had nothing queued (`try_to_wake_up` and a context switch),
    /// paid once per batch of work items.
    pub wq_wakeup: f64,
    /// Per flow visited by the flowtable GC (every second).
    pub gc_per_flow: f64,
    /// Per VLAN tag pulled on receive on the slow path.
    pub vlan_pull: f64,
    /// Per VLAN tag pushed on transmit on the slow path.
    pub vlan_push: f64,
    /// Per PPPoE session header pulled on receive on the slow path.
    pub pppoe_pull: f64,
    /// Per PPPoE session header pushed on transmit on the slow path.
    pub pppoe_push: f64,
    /// Penalty per expected last-level-cache miss.
    pub cache_miss: f64,
}

/// Most cycles one stage may cost (10 ms at 1 GHz): more would make a packet's service,
/// and so simulated time, explode.
pub const MAX_STAGE_CYCLES: f64 = 1e7;
/// Longest interrupt or DMA delay, ns.
pub const MAX_DELAY_NS: u64 = 1_000_000_000;

impl StageCycles {
    /// Every stage cost with its key (`cycles.NAME`).
    pub fn named(&self) -> [(&'static str, f64); 54] {
        [
            ("cycles.driver_rx", self.driver_rx),
            ("cycles.driver_tx", self.driver_tx),
            ("cycles.napi_poll", self.napi_poll),
            ("cycles.netdev_ingress", self.netdev_ingress),
            ("cycles.ft_lookup", self.ft_lookup),
            ("cycles.ft_xmit", self.ft_xmit),
            ("cycles.ip_rcv", self.ip_rcv),
            ("cycles.fib_lookup", self.fib_lookup),
            ("cycles.forward", self.forward),
            ("cycles.hook", self.hook),
            ("cycles.chain", self.chain),
            ("cycles.rule", self.rule),
            ("cycles.expr_payload", self.expr_payload),
            ("cycles.expr_payload_th", self.expr_payload_th),
            ("cycles.expr_meta", self.expr_meta),
            ("cycles.expr_meta_ifname", self.expr_meta_ifname),
            ("cycles.expr_dep", self.expr_dep),
            ("cycles.expr_ct", self.expr_ct),
            ("cycles.expr_cmp", self.expr_cmp),
            ("cycles.expr_bitwise", self.expr_bitwise),
            ("cycles.expr_range", self.expr_range),
            ("cycles.expr_lookup", self.expr_lookup),
            ("cycles.expr_immediate", self.expr_immediate),
            ("cycles.expr_counter", self.expr_counter),
            ("cycles.expr_other", self.expr_other),
            ("cycles.set_hash_fast", self.set_hash_fast),
            ("cycles.set_hash", self.set_hash),
            ("cycles.set_rhash", self.set_rhash),
            ("cycles.set_bitmap", self.set_bitmap),
            ("cycles.set_rbtree", self.set_rbtree),
            ("cycles.set_rbtree_log2", self.set_rbtree_log2),
            ("cycles.set_pipapo", self.set_pipapo),
            ("cycles.set_pipapo_log2", self.set_pipapo_log2),
            ("cycles.set_pipapo_avx2", self.set_pipapo_avx2),
            ("cycles.set_pipapo_avx2_log2", self.set_pipapo_avx2_log2),
            ("cycles.jump", self.jump),
            ("cycles.ct_lookup", self.ct_lookup),
            ("cycles.ct_new", self.ct_new),
            ("cycles.ct_unconfirmed", self.ct_unconfirmed),
            ("cycles.nat_mangle", self.nat_mangle),
            ("cycles.nat_setup", self.nat_setup),
            ("cycles.nat_try", self.nat_try),
            ("cycles.nat_hook", self.nat_hook),
            ("cycles.defrag", self.defrag),
            ("cycles.offload_add", self.offload_add),
            ("cycles.offload_del", self.offload_del),
            ("cycles.offload_stats", self.offload_stats),
            ("cycles.wq_wakeup", self.wq_wakeup),
            ("cycles.gc_per_flow", self.gc_per_flow),
            ("cycles.vlan_pull", self.vlan_pull),
            ("cycles.vlan_push", self.vlan_push),
            ("cycles.pppoe_pull", self.pppoe_pull),
            ("cycles.pppoe_push", self.pppoe_push),
            ("cycles.cache_miss", self.cache_miss),
        ]
    }
}

/// Power figures of the CPU complex.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CpuPower {
    /// Platform power that does not depend on load (SoC, memory, board), W.
    pub platform_w: f64,
    /// Extra power of one fully busy core over idle, W.
    pub core_dynamic_w: f64,
}

/// A CPU preset: cores, clock, queues, costs, power, and where every number comes from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CpuConfig {
    /// Preset name.
    pub name: String,
    /// What it models.
    pub description: String,
    /// Cores that process packets.
    pub cores: u16,
    /// Clock in GHz.
    pub freq_ghz: f64,
    /// Receive queues (RSS); 0 = one per core.
    pub rx_queues: u16,
    /// RX ring descriptors per queue (packets that can wait).
    pub rx_ring: u32,
    /// NAPI budget (largest batch).
    pub napi_budget: u32,
    /// Last-level cache size in bytes.
    pub llc_bytes: f64,
    /// The CPU has AVX2, so the kernel uses `nft_set_pipapo_avx2` for concatenated ranges.
    pub avx2: bool,
    /// Bytes of working set per conntrack entry (nf_conn + extensions + hash nodes).
    pub ct_entry_bytes: f64,
    /// Bytes per flowtable entry.
    pub ft_entry_bytes: f64,
    /// Interrupt coalescing delay added to a packet that finds its core idle, ns.
    pub irq_delay_ns: u64,
    /// DMA / driver latency added to every CPU-path packet, ns.
    pub dma_latency_ns: u64,
    /// Background utilisation of each core (timers, housekeeping), fraction.
    pub housekeeping_util: f64,
    /// Stage costs.
    pub cycles: StageCycles,
    /// Power.
    pub power: CpuPower,
    /// Source of every figure: field name → citation.
    pub sources: BTreeMap<String, String>,
}

/// Errors in a CPU preset or override.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CpuError {
    /// Unknown preset name.
    #[error("unknown CPU preset `{0}` (available: {1})")]
    UnknownPreset(String, String),
    /// The preset data does not parse.
    #[error("CPU preset `{name}`: {msg}")]
    BadPreset {
        /// Preset.
        name: String,
        /// Message.
        msg: String,
    },
    /// A value is out of range.
    #[error("cpu.{field}: {msg}")]
    Invalid {
        /// Field.
        field: &'static str,
        /// Why.
        msg: String,
    },
}

const PRESETS: &[(&str, &str)] = &[
    ("x86-server", include_str!("../presets/cpu/x86-server.toml")),
    ("mt7620", include_str!("../presets/cpu/mt7620.toml")),
    ("mt7621", include_str!("../presets/cpu/mt7621.toml")),
    ("mt7986", include_str!("../presets/cpu/mt7986.toml")),
];

impl CpuConfig {
    /// Names of the built-in presets.
    pub fn preset_names() -> Vec<&'static str> {
        PRESETS.iter().map(|(n, _)| *n).collect()
    }

    /// The raw TOML of a built-in preset.
    pub fn preset_toml(name: &str) -> Result<&'static str, CpuError> {
        PRESETS
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, t)| *t)
            .ok_or_else(|| {
                CpuError::UnknownPreset(name.to_string(), Self::preset_names().join(", "))
            })
    }

    /// Loads a built-in preset.
    pub fn preset(name: &str) -> Result<CpuConfig, CpuError> {
        let t = Self::preset_toml(name)?;
        let c: CpuConfig = toml::from_str(t).map_err(|e| CpuError::BadPreset {
            name: name.to_string(),
            msg: e.to_string(),
        })?;
        c.validate()?;
        Ok(c)
    }

    /// A built-in preset by name, or a preset TOML file (such as one `offsim calibrate`
    /// wrote) by path.
    pub fn load(name_or_path: &str) -> Result<CpuConfig, CpuError> {
        if Self::preset_names().contains(&name_or_path) {
            return Self::preset(name_or_path);
        }
        let bad = |msg: String| CpuError::BadPreset {
            name: name_or_path.to_string(),
            msg,
        };
        let text = std::fs::read_to_string(name_or_path).map_err(|e| {
            bad(format!(
                "not a preset ({}) and not a readable file: {e}",
                Self::preset_names().join(", ")
            ))
        })?;
        let c: CpuConfig = toml::from_str(&text).map_err(|e| bad(e.to_string()))?;
        c.validate()?;
        Ok(c)
    }

    /// Checks ranges.
    pub fn validate(&self) -> Result<(), CpuError> {
        let bad = |field: &'static str, msg: String| Err(CpuError::Invalid { field, msg });
        if self.cores == 0 || self.cores > 1024 {
            return bad("cores", "must be between 1 and 1024".into());
        }
        if !(self.freq_ghz > 0.01 && self.freq_ghz < 20.0) {
            return bad("freq_ghz", "must be between 0.01 and 20".into());
        }
        if self.rx_queues > 4096 {
            return bad(
                "rx_queues",
                "must be between 0 (one per core) and 4096".into(),
            );
        }
        if self.rx_ring == 0 || self.rx_ring > 1 << 20 {
            return bad("rx_ring", "must be between 1 and 1048576".into());
        }
        if self.napi_budget == 0 || self.napi_budget > 65_536 {
            return bad("napi_budget", "must be between 1 and 65536".into());
        }
        if !(0.0..0.9).contains(&self.housekeeping_util) {
            return bad("housekeeping_util", "must be in [0, 0.9)".into());
        }
        // Delays: at most a second, so simulated time follows the trace, not the settings.
        for (field, v) in [
            ("irq_delay_ns", self.irq_delay_ns),
            ("dma_latency_ns", self.dma_latency_ns),
        ] {
            if v > MAX_DELAY_NS {
                return bad(field, format!("must be at most {MAX_DELAY_NS} ns, got {v}"));
            }
        }
        for (field, v, max) in [
            ("llc_bytes", self.llc_bytes, 1e12),
            ("ct_entry_bytes", self.ct_entry_bytes, 1e6),
            ("ft_entry_bytes", self.ft_entry_bytes, 1e6),
            ("power.platform_w", self.power.platform_w, 1e5),
            ("power.core_dynamic_w", self.power.core_dynamic_w, 1e4),
        ] {
            if !(v.is_finite() && (0.0..=max).contains(&v)) {
                return bad(field, format!("must be a number in [0, {max:e}], got {v}"));
            }
        }
        for (name, v) in self.cycles.named() {
            // `-0.0` too: no cost is below +0.0, which `rules_cycles` relies on
            if !(v.is_finite() && (0.0..=MAX_STAGE_CYCLES).contains(&v)) || v.is_sign_negative() {
                return Err(CpuError::Invalid {
                    field: "cycles",
                    msg: format!(
                        "{name} must be a number of cycles in [0, {MAX_STAGE_CYCLES:e}], got {v}"
                    ),
                });
            }
        }
        Ok(())
    }

    /// `cycles` on one core, in whole nanoseconds.
    #[inline]
    pub(crate) fn ns(&self, cycles: f64) -> u64 {
        offsim_traces::time::round_u64(cycles / self.freq_ghz)
    }

    /// Receive queues actually used.
    pub(crate) fn queues(&self) -> u16 {
        if self.rx_queues == 0 {
            self.cores
        } else {
            self.rx_queues.min(self.cores)
        }
    }

    /// Probability that a conntrack/flowtable access misses the LLC given the working set
    /// (uniform access; zero while the working set fits).
    pub(crate) fn miss_probability(&self, ct_entries: usize, ft_entries: usize) -> f64 {
        let ws = ct_entries as f64 * self.ct_entry_bytes + ft_entries as f64 * self.ft_entry_bytes;
        if ws <= self.llc_bytes || ws <= 0.0 {
            0.0
        } else {
            1.0 - self.llc_bytes / ws
        }
    }

    /// Cycles of one kernel expression of each kind, by [`ExprKind::index`] (a `fib`
    /// expression is a route lookup).
    fn expr_cycles(&self) -> [f64; ExprKind::COUNT] {
        let c = &self.cycles;
        let mut e = [0.0; ExprKind::COUNT];
        for k in ExprKind::ALL {
            e[k.index()] = match k {
                ExprKind::Payload => c.expr_payload,
                ExprKind::PayloadTh => c.expr_payload_th,
                ExprKind::Meta => c.expr_meta,
                ExprKind::MetaIfname => c.expr_meta_ifname,
                ExprKind::Dep => c.expr_dep,
                ExprKind::Ct => c.expr_ct,
                ExprKind::Cmp => c.expr_cmp,
                ExprKind::Bitwise => c.expr_bitwise,
                ExprKind::Range => c.expr_range,
                ExprKind::Lookup => c.expr_lookup,
                ExprKind::Immediate => c.expr_immediate,
                ExprKind::Counter => c.expr_counter,
                ExprKind::Fib => c.fib_lookup,
                ExprKind::Other => c.expr_other,
            };
        }
        e
    }

    /// The cost curve of each set back end, by [`SetBackend::index`]: (cycles per lookup,
    /// cycles per doubling of the set). Pipapo is the AVX2 variant on a CPU with AVX2, as
    /// `nft_select_set_ops` prefers it there (`nft_pipapo_avx2_estimate`).
    fn set_curves(&self) -> [(f64, f64); SetBackend::COUNT] {
        let c = &self.cycles;
        let mut v = [(0.0, 0.0); SetBackend::COUNT];
        for b in SetBackend::ALL {
            v[b.index()] = match b {
                SetBackend::HashFast => (c.set_hash_fast, 0.0),
                SetBackend::Hash => (c.set_hash, 0.0),
                SetBackend::Rhash => (c.set_rhash, 0.0),
                SetBackend::Bitmap => (c.set_bitmap, 0.0),
                SetBackend::Rbtree => (c.set_rbtree, c.set_rbtree_log2),
                SetBackend::Pipapo if self.avx2 => (c.set_pipapo_avx2, c.set_pipapo_avx2_log2),
                SetBackend::Pipapo => (c.set_pipapo, c.set_pipapo_log2),
            };
        }
        v
    }

    /// Cycles of rule evaluation work: rules entered, expressions by kind, set lookups by
    /// back end with their size term, jumps. The one formula for the rule cost of a packet
    /// ([`CpuConfig::packet_cycles`]) and of a rule (`rules eval`).
    pub(crate) fn eval_cycles(&self, w: &EvalWork) -> f64 {
        let c = &self.cycles;
        let mut cy = w.rules * c.rule;
        for (n, k) in w.exprs.iter().zip(self.expr_cycles()) {
            cy += n * k;
        }
        for ((n, d), (a, b)) in w.lookups.iter().zip(&w.depth).zip(self.set_curves()) {
            cy += n * a + d * b;
        }
        cy + w.jumps * c.jump
    }

    /// A packet's [`Stage::Rules`] cycles: hooks and base chains entered, and the rule
    /// evaluation work ([`CpuConfig::eval_cycles`]). `rules eval` needs this stage alone.
    #[inline]
    pub(crate) fn rules_cycles(&self, d: &CostDrivers) -> f64 {
        let c = &self.cycles;
        let chains = f64::from(d.hooks) * c.hook + f64::from(d.chains) * c.chain;
        // A packet that ran no rule (a flowtable hit) has no evaluation work: every cost is
        // finite and at least +0.0 (`validate`), so every term is `0 × k = +0.0`, and so
        // is their sum, added here as the literal: bit for bit the full sum's result.
        let idle = d.rules == 0
            && d.jumps == 0
            && d.lookups.iter().chain(&d.lookup_depth).all(|n| *n == 0)
            && d.exprs.iter().all(|n| *n == 0);
        if idle {
            return chains + 0.0;
        }
        chains + self.eval_cycles(&EvalWork::from(d))
    }

    /// One packet's cycles: the total its core is busy for, and its split by [`Stage`].
    ///
    /// Every cost term is computed once, here, and belongs to one stage; the total is the
    /// sum of the stages in [`Stage::ALL`] order, so `total` equals the sum of `by_stage`
    /// exactly. A packet pays what it did: driver receive with the NAPI poll share, the
    /// netdev ingress hook and the chains run there (also for a packet the flowtable then
    /// forwards or a netdev chain drops), the flowtable lookup and a hit's transmit,
    /// defragmentation, then on the classic path `ip_rcv`, the route lookup, hooks, chains,
    /// rules and expressions, set lookups, jumps, conntrack, NAT setup (with its port
    /// search's tries) and mangling, and for a packet that leaves, forwarding and transmit;
    /// last, the expected cache misses of the conntrack/flowtable accesses.
    #[inline]
    pub(crate) fn packet_cycles(&self, d: &CostDrivers, miss_p: f64) -> PacketCycles {
        let c = &self.cycles;
        let on = |b: bool, v: f64| if b { v } else { 0.0 };
        let (ct, ct_accesses) = if d.ct_new {
            (c.ct_new, 2.0)
        } else if d.ct_unconfirmed {
            (c.ct_unconfirmed, 1.0)
        } else if d.ct_lookup {
            (c.ct_lookup, 1.0)
        } else {
            (0.0, 0.0)
        };
        // Each try of a NAT port search walks a conntrack bucket too.
        // `cycles.nat_setup` was measured on connections that kept their port: one
        // `nf_nat_used_tuple` lookup. Each further one (the port search after a clash, a
        // second setup) is a try, which walks a conntrack bucket too.
        let nat_tries = f64::from(d.nat_lookups.saturating_sub(1));
        let table_accesses = on(d.ft_lookup, 1.0) + ct_accesses + nat_tries;
        let mut by_stage = [0.0; Stage::COUNT];
        by_stage[Stage::Driver.index()] = c.driver_rx
            + c.napi_poll / f64::from(d.batch.max(1))
            + on(d.ft_hit || d.forwarded, c.driver_tx);
        by_stage[Stage::Flowtable.index()] = on(d.ft_lookup, c.ft_lookup) + on(d.ft_hit, c.ft_xmit);
        by_stage[Stage::Conntrack.index()] = ct;
        by_stage[Stage::Nat.index()] = on(d.nat_setup, c.nat_setup)
            + nat_tries * c.nat_try
            + on(d.nat_mangle, c.nat_mangle)
            + f64::from(d.nat_hooks) * c.nat_hook;
        by_stage[Stage::Rules.index()] = self.rules_cycles(d);
        let encap = f64::from(d.vlan_pull) * c.vlan_pull
            + f64::from(d.vlan_push) * c.vlan_push
            + f64::from(d.pppoe_pull) * c.pppoe_pull
            + f64::from(d.pppoe_push) * c.pppoe_push;
        // Each fragment beyond the first is another output (`ip_fragment` →
        // `ip_finish_output2`, neighbour, qdisc) and transmit; each packet the router sends
        // itself (reset, ICMP error, reply) an output route lookup, output and transmit.
        // Both are priced with the stages they repeat; their hooks and rules are in the
        // counts above.
        let extra_frags = f64::from(d.frags_out.saturating_sub(1)) * (c.forward + c.driver_tx);
        let sent = f64::from(d.sent) * (c.fib_lookup + c.forward + c.driver_tx);
        by_stage[Stage::IpStack.index()] = on(d.slow, c.ip_rcv + encap)
            + on(d.routed, c.fib_lookup)
            + on(d.forwarded, c.forward)
            + extra_frags
            + sent;
        by_stage[Stage::NetdevIngress.index()] = on(d.netdev_ingress, c.netdev_ingress);
        by_stage[Stage::Defrag.index()] = f64::from(d.frags) * c.defrag;
        by_stage[Stage::CacheMisses.index()] = table_accesses * miss_p * c.cache_miss;
        let total = by_stage.iter().sum();
        PacketCycles { total, by_stage }
    }
}

/// Rule evaluation work as numbers (from a packet's [`CostDrivers`] or a rule's
/// [`EvalCost`]), for [`CpuConfig::eval_cycles`].
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct EvalWork {
    /// Rules entered.
    pub(crate) rules: f64,
    /// Expressions by [`ExprKind::index`].
    pub(crate) exprs: [f64; ExprKind::COUNT],
    /// Lookups by [`SetBackend::index`].
    pub(crate) lookups: [f64; SetBackend::COUNT],
    /// Their size term by back end.
    pub(crate) depth: [f64; SetBackend::COUNT],
    /// Jumps and gotos.
    pub(crate) jumps: f64,
}

impl From<&CostDrivers> for EvalWork {
    #[inline]
    fn from(d: &CostDrivers) -> EvalWork {
        EvalWork {
            rules: f64::from(d.rules),
            exprs: d.exprs.map(f64::from),
            lookups: d.lookups.map(f64::from),
            depth: d.lookup_depth.map(f64::from),
            jumps: f64::from(d.jumps),
        }
    }
}

impl From<&EvalCost> for EvalWork {
    fn from(e: &EvalCost) -> EvalWork {
        EvalWork {
            rules: e.rules as f64,
            exprs: e.exprs.map(|x| x as f64),
            lookups: e.lookups.map(|x| x as f64),
            depth: e.lookup_depth.map(|x| x as f64),
            jumps: e.jumps as f64,
        }
    }
}

/// Where CPU cycles go: the keys of the report's `cpu.cycles_by_stage`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stage {
    /// Driver receive and transmit, NAPI poll share.
    Driver,
    /// Flowtable lookup and fast-path transmit.
    Flowtable,
    /// Conntrack lookup or creation.
    Conntrack,
    /// NAT setup and mangling.
    Nat,
    /// nftables: hooks, chains, rules, expressions, set lookups, jumps, statements.
    Rules,
    /// `ip_rcv`, routing, `ip_forward` and output, VLAN/PPPoE decapsulation and
    /// encapsulation.
    IpStack,
    /// The netdev ingress hook.
    NetdevIngress,
    /// Defragmentation.
    Defrag,
    /// Expected last-level-cache misses.
    CacheMisses,
    /// Offload workqueue and timers (charged to the least busy core, not to a packet).
    Background,
}

impl Stage {
    /// Number of stages: the length of per-stage arrays.
    pub(crate) const COUNT: usize = 10;
    /// Every stage, in index order.
    pub(crate) const ALL: [Stage; Stage::COUNT] = [
        Stage::Driver,
        Stage::Flowtable,
        Stage::Conntrack,
        Stage::Nat,
        Stage::Rules,
        Stage::IpStack,
        Stage::NetdevIngress,
        Stage::Defrag,
        Stage::CacheMisses,
        Stage::Background,
    ];

    /// Index into per-stage arrays.
    #[inline]
    pub(crate) const fn index(self) -> usize {
        self as usize
    }

    /// Report name.
    pub(crate) const fn name(self) -> &'static str {
        match self {
            Stage::Driver => "driver",
            Stage::Flowtable => "flowtable",
            Stage::Conntrack => "conntrack",
            Stage::Nat => "nat",
            Stage::Rules => "rules",
            Stage::IpStack => "ip_stack",
            Stage::NetdevIngress => "netdev_ingress",
            Stage::Defrag => "defrag",
            Stage::CacheMisses => "cache_misses",
            Stage::Background => "offload_and_timers",
        }
    }
}

/// One packet's cycles ([`CpuConfig::packet_cycles`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct PacketCycles {
    /// Cycles the packet keeps its core busy.
    pub(crate) total: f64,
    /// The same work by stage, by [`Stage::index`] (see [`CpuConfig::packet_cycles`]).
    pub(crate) by_stage: [f64; Stage::COUNT],
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn presets_load_and_cite_every_number() {
        for name in CpuConfig::preset_names() {
            let c = CpuConfig::preset(name).unwrap_or_else(|e| panic!("{e}"));
            let t: toml::Value = toml::from_str(CpuConfig::preset_toml(name).unwrap()).unwrap();
            let mut fields: Vec<String> = Vec::new();
            for (k, v) in t.as_table().unwrap() {
                match v {
                    toml::Value::Table(sub) if k != "sources" => {
                        fields.extend(sub.keys().map(|s| format!("{k}.{s}")))
                    }
                    toml::Value::Table(_) => {}
                    _ if k == "name" || k == "description" => {}
                    _ => fields.push(k.clone()),
                }
            }
            for f in fields {
                assert!(c.sources.contains_key(&f), "{name}: no source for `{f}`");
            }
        }
    }

    /// Equal up to rounding: a difference of two sums of stages is not bit-exact.
    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
    }

    fn sum_in_order(p: &PacketCycles) -> f64 {
        p.by_stage.iter().sum()
    }

    /// Drivers of a packet forwarded on the slow path through one hook with one chain.
    fn slow_forwarded() -> CostDrivers {
        let mut d = CostDrivers {
            slow: true,
            routed: true,
            forwarded: true,
            hooks: 1,
            chains: 1,
            rules: 3,
            ct_lookup: true,
            batch: 4,
            ..CostDrivers::default()
        };
        d.exprs[ExprKind::Payload.index()] = 3;
        d.exprs[ExprKind::Cmp.index()] = 3;
        d
    }

    #[test]
    fn total_is_the_sum_of_the_stages_exactly() {
        let c = CpuConfig::preset("x86-server").unwrap();
        let mut ft_hit_with_chain = CostDrivers {
            netdev_ingress: true,
            ft_lookup: true,
            ft_hit: true,
            chains: 1,
            rules: 2,
            batch: 1,
            ..CostDrivers::default()
        };
        ft_hit_with_chain.exprs[ExprKind::Meta.index()] = 2;
        let mut with_sets = slow_forwarded();
        with_sets.lookups[SetBackend::Rbtree.index()] = 2;
        with_sets.lookup_depth[SetBackend::Rbtree.index()] = 20;
        for (d, miss) in [
            (slow_forwarded(), 0.0),
            (slow_forwarded(), 0.37),
            (ft_hit_with_chain, 0.1),
            (with_sets, 0.0),
        ] {
            let p = c.packet_cycles(&d, miss);
            assert_eq!(p.total, sum_in_order(&p), "{d:?}");
            assert!(p.by_stage.iter().all(|v| *v >= 0.0));
        }
        // a netdev chain on a flowtable hit costs cycles, in the total and in `rules`
        let p = c.packet_cycles(&ft_hit_with_chain, 0.0);
        let rules = p.by_stage[Stage::Rules.index()];
        assert_eq!(
            rules,
            c.cycles.chain + 2.0 * c.cycles.rule + 2.0 * c.cycles.expr_meta
        );
        let bare = CostDrivers {
            chains: 0,
            rules: 0,
            exprs: [0; ExprKind::COUNT],
            ..ft_hit_with_chain
        };
        let diff = p.total - c.packet_cycles(&bare, 0.0).total;
        assert!(close(diff, rules), "{diff} vs {rules}");
    }

    #[test]
    fn a_packet_without_rules_costs_what_the_full_sum_gives() {
        for name in CpuConfig::preset_names() {
            let c = CpuConfig::preset(name).unwrap();
            for (hooks, chains) in [(0, 0), (1, 0), (0, 2), (3, 4)] {
                let d = CostDrivers {
                    hooks,
                    chains,
                    ..CostDrivers::default()
                };
                let full = f64::from(hooks) * c.cycles.hook
                    + f64::from(chains) * c.cycles.chain
                    + c.eval_cycles(&EvalWork::from(&d));
                assert_eq!(c.rules_cycles(&d).to_bits(), full.to_bits(), "{name}");
            }
        }
        // which holds because no cost is below +0.0: a -0.0 is refused
        let mut c = CpuConfig::preset("mt7621").unwrap();
        c.cycles.chain = -0.0;
        assert!(c.validate().is_err());
    }

    #[test]
    fn a_packet_dropped_in_forward_does_not_pay_the_way_out() {
        let c = CpuConfig::preset("x86-server").unwrap();
        let out = slow_forwarded();
        let dropped = CostDrivers {
            forwarded: false,
            ..out
        };
        let saved = c.packet_cycles(&out, 0.0).total - c.packet_cycles(&dropped, 0.0).total;
        let want = c.cycles.forward + c.cycles.driver_tx;
        assert!(close(saved, want), "{saved} vs {want}");
        // the route lookup before FORWARD is paid either way
        let p = c.packet_cycles(&dropped, 0.0);
        assert_eq!(
            p.by_stage[Stage::IpStack.index()],
            c.cycles.ip_rcv + c.cycles.fib_lookup
        );
    }

    #[test]
    fn an_unconfirmed_entry_costs_less_than_a_confirmed_one() {
        let c = CpuConfig::preset("x86-server").unwrap();
        let base = CostDrivers {
            ct_lookup: false,
            forwarded: false,
            ..slow_forwarded()
        };
        let new = CostDrivers {
            ct_new: true,
            ..base
        };
        let unconfirmed = CostDrivers {
            ct_unconfirmed: true,
            ..base
        };
        let ct = |d: &CostDrivers| c.packet_cycles(d, 0.0).by_stage[Stage::Conntrack.index()];
        assert_eq!(ct(&unconfirmed), c.cycles.ct_unconfirmed);
        assert_eq!(ct(&new), c.cycles.ct_new);
        assert!(c.cycles.ct_unconfirmed < c.cycles.ct_new);
    }

    #[test]
    fn a_port_search_pays_each_try_and_its_table_access() {
        let c = CpuConfig::preset("mt7621").unwrap();
        let setup = CostDrivers {
            nat_setup: true,
            ..slow_forwarded()
        };
        let searched = CostDrivers {
            nat_lookups: 248,
            ..setup
        };
        let at = |d: &CostDrivers, miss_p: f64| c.packet_cycles(d, miss_p);
        let nat = |p: &PacketCycles| p.by_stage[Stage::Nat.index()];
        let misses = |p: &PacketCycles| p.by_stage[Stage::CacheMisses.index()];
        let (a, b) = (at(&setup, 0.5), at(&searched, 0.5));
        assert!((nat(&b) - nat(&a) - 247.0 * c.cycles.nat_try).abs() < 1e-6);
        assert!((misses(&b) - misses(&a) - 247.0 * 0.5 * c.cycles.cache_miss).abs() < 1e-6);
        // In cache the tries cost their own cycles only.
        assert_eq!(misses(&at(&searched, 0.0)), 0.0);
    }

    #[test]
    fn set_lookups_follow_their_back_ends_curve() {
        let mut c = CpuConfig::preset("x86-server").unwrap();
        let mut w = EvalWork::default();
        for b in SetBackend::ALL {
            w.lookups[b.index()] = 1.0;
        }
        w.depth[SetBackend::Rbtree.index()] = 10.0;
        w.depth[SetBackend::Pipapo.index()] = 4.0;
        let k = &c.cycles;
        let want = k.set_hash_fast
            + k.set_hash
            + k.set_rhash
            + k.set_bitmap
            + k.set_rbtree
            + 10.0 * k.set_rbtree_log2
            + k.set_pipapo_avx2
            + 4.0 * k.set_pipapo_avx2_log2;
        assert!((c.eval_cycles(&w) - want).abs() < 1e-9);
        // without AVX2 the kernel runs the generic pipapo
        c.avx2 = false;
        let k = c.cycles.clone();
        let generic = want - k.set_pipapo_avx2 - 4.0 * k.set_pipapo_avx2_log2
            + k.set_pipapo
            + 4.0 * k.set_pipapo_log2;
        assert!((c.eval_cycles(&w) - generic).abs() < 1e-9);
    }

    #[test]
    fn unknown_preset_names_the_choices() {
        let e = CpuConfig::preset("z80").unwrap_err().to_string();
        assert!(e.contains("x86-server") && e.contains("mt7621"), "{e}");
    }
}
