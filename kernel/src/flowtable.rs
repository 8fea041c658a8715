//! The software flowtable (`nf_flow_table`): entries created by `flow add @ft`, the fast path
//! at netdev ingress, the 1 s garbage collector, timeouts, teardown and the conntrack fix-up,
//! in both kernel flavours (`../shared/reference/flow-offload-semantics.md` §2–§3).
//!
//! Hardware offload (`flags offload`) is bookkept here — the per-flow `HW*` flags, one
//! outstanding work per flow, retries on refresh, stats polling — and the work itself is handed
//! to the caller as [`HwRequest`]s; the offload pipeline and the NIC execute them and report
//! back through [`Flowtable::hw_add_done`], [`Flowtable::hw_del_done`] and
//! [`Flowtable::hw_stats_done`].

use offsim_traces::hash::FxHashMap;
use offsim_traces::meta::{FlowKey, PacketMeta, flags, proto, tcp_flags};
use offsim_traces::time::{NS_PER_SEC, SimTime};

use crate::conntrack::tcp::TcpState;
use crate::conntrack::{Conntrack, CtId, Dir, ProtoState, status};

/// Which kernel's flowtable semantics to model.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum KernelFlavour {
    /// Linux 5.15–6.13 ("mid"): FIN/RST on the fast path tears the flow down at once; the
    /// conntrack timeout after teardown is `table[state] − offload_timeout`.
    #[serde(alias = "5.15", alias = "6.1", alias = "6.6", alias = "mid")]
    Mid,
    /// Linux ≥ 6.14 ("new"): FIN/RST set CLOSING and the flow stays in software until a SYN
    /// or the timeout; the fix-up distinguishes expired and closing flows.
    #[default]
    #[serde(alias = "6.14", alias = "new")]
    New,
}

impl KernelFlavour {
    /// Parses `5.15`, `6.1`, `6.6`, `6.12`, `6.14`, `6.18`, `mid`, `new`.
    pub fn parse(s: &str) -> Option<KernelFlavour> {
        match s {
            "mid" => return Some(KernelFlavour::Mid),
            "new" => return Some(KernelFlavour::New),
            _ => {}
        }
        // MAJOR.MINOR[.PATCH] of a kernel that exists or may soon: 5.15 to 5.19, 6.0 to
        // 6.19, 7.x up to 7.9 (anything else, `6.99` or `99.99`, is a typo, not a kernel).
        let parts: Vec<&str> = s.split('.').collect();
        if !(2..=3).contains(&parts.len())
            || parts
                .iter()
                .any(|p| p.is_empty() || p.len() > 3 || !p.bytes().all(|b| b.is_ascii_digit()))
        {
            return None;
        }
        let major: u32 = parts[0].parse().ok()?;
        let minor: u32 = parts[1].parse().ok()?;
        match (major, minor) {
            (5, 15..=19) => Some(KernelFlavour::Mid),
            (6, 0..=13) => Some(KernelFlavour::Mid),
            (6, 14..=19) | (7, 0..=9) => Some(KernelFlavour::New),
            _ => None,
        }
    }

    /// Display name.
    pub fn name(self) -> &'static str {
        match self {
            KernelFlavour::Mid => "5.15-6.13",
            KernelFlavour::New => ">=6.14",
        }
    }
}

/// Flowtable configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FtConfig {
    /// Kernel flavour.
    pub flavour: KernelFlavour,
    /// `nf_flowtable_tcp_timeout` in seconds (default 30).
    pub tcp_timeout_s: u32,
    /// `nf_flowtable_udp_timeout` in seconds (default 30).
    pub udp_timeout_s: u32,
    /// `flags offload`.
    pub hw_offload: bool,
    /// `counter`: fast-path packets are added to conntrack accounting.
    pub counter: bool,
    /// Interfaces the flowtable is attached to (its `devices`).
    pub devices: Vec<u32>,
}

impl Default for FtConfig {
    fn default() -> Self {
        FtConfig {
            flavour: KernelFlavour::New,
            tcp_timeout_s: 30,
            udp_timeout_s: 30,
            hw_offload: false,
            counter: false,
            devices: Vec::new(),
        }
    }
}

/// The flowtable lookup key of one direction (`struct flow_offload_tuple` up to `__hash`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FtKey {
    /// The direction's tuple (addresses, ports, protocol, family).
    pub tuple: FlowKey,
    /// Input interface.
    pub iif: u32,
    /// Encapsulation ids (VLAN / PPPoE session), outer first.
    pub encap: [u16; 2],
    /// Number of encapsulation ids.
    pub n_encap: u8,
    /// Which encapsulation slot holds a PPPoE session id (`u8::MAX`: none; the others are
    /// VLAN ids).
    pub pppoe_slot: u8,
}

/// Hashes every field `Eq` compares in seven words, where the derived hash made eleven
/// hasher calls (each field, and the encapsulation array's length). Each word keeps its
/// fields in its low 40 bits: the Fx hasher's multiply carries a bit only upwards, so a field
/// in a word's top bits would reach only a few bits of the hash, none of a small table's
/// bucket index.
impl std::hash::Hash for FtKey {
    #[inline]
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        let t = &self.tuple;
        h.write_u128(t.src);
        h.write_u128(t.dst);
        h.write_u64(u64::from(t.sport) | u64::from(t.dport) << 16 | u64::from(t.proto) << 32);
        h.write_u64(
            u64::from(t.version)
                | u64::from(self.n_encap) << 8
                | u64::from(self.pppoe_slot) << 16
                | u64::from(self.iif) << 24,
        );
        h.write_u64(u64::from(self.encap[0]) | u64::from(self.encap[1]) << 16);
    }
}

/// The encapsulations a packet carries on a device, outer first, as the flowtable keys them
/// (`nf_flow_tuple_encap`: a VLAN tag, hardware-accelerated or in-band, then an in-band VLAN
/// tag or PPPoE session; at most `NF_FLOW_TABLE_ENCAP_MAX` = 2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Encap {
    /// VLAN ids / PPPoE session id, outer first.
    pub ids: [u16; 2],
    /// Number of ids.
    pub n: u8,
    /// Which slot holds a PPPoE session id (`u8::MAX`: none).
    pub pppoe_slot: u8,
}

impl Default for Encap {
    fn default() -> Self {
        Encap {
            ids: [0; 2],
            n: 0,
            pppoe_slot: u8::MAX,
        }
    }
}

impl Encap {
    /// The encapsulations of a captured packet.
    pub fn of_packet(m: &PacketMeta) -> Encap {
        let mut e = Encap::default();
        let mut n = 0usize;
        for i in 0..(m.vlan_count as usize).min(2) {
            e.ids[n] = m.vlan[i];
            n += 1;
        }
        if m.has(flags::PPPOE) && n < 2 {
            e.ids[n] = m.pppoe_session;
            e.pppoe_slot = n as u8;
            n += 1;
        }
        e.n = n as u8;
        e
    }

    /// VLAN tags and PPPoE headers: (vlan, pppoe).
    pub fn layers(&self) -> (u8, u8) {
        let pppoe = u8::from(self.pppoe_slot != u8::MAX);
        (self.n - pppoe, pppoe)
    }
}

impl FtKey {
    /// The key of a packet arriving on `iif`.
    pub fn of_packet(m: &PacketMeta, iif: u32) -> FtKey {
        FtKey {
            tuple: FlowKey {
                src: m.src,
                dst: m.dst,
                sport: m.sport,
                dport: m.dport,
                proto: m.l4proto,
                version: m.ip_version,
            },
            ..FtKey::tuple_on(FlowKey::default(), iif, Encap::of_packet(m))
        }
    }

    /// The key of `tuple` arriving on `iif` with the device's encapsulation `e`.
    pub fn tuple_on(tuple: FlowKey, iif: u32, e: Encap) -> FtKey {
        FtKey {
            tuple,
            iif,
            encap: e.ids,
            n_encap: e.n,
            pppoe_slot: e.pppoe_slot,
        }
    }
}

/// Where one direction of a flow leaves, as `flow_offload_fill_route` stores it from the
/// direction's route: the output device and its MTU (`ip_dst_mtu_maybe_forward`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FtRoute {
    /// Output interface index.
    pub oif: u32,
    /// MTU: a longer packet leaves the fast path (`nf_flow_exceeds_mtu`).
    pub mtu: u32,
}

/// Per-flow flags (`enum nf_flow_flags`).
pub mod fflags {
    /// Source NAT.
    pub const SNAT: u16 = 1 << 0;
    /// Destination NAT.
    pub const DNAT: u16 = 1 << 1;
    /// FIN/RST seen (≥ 6.14).
    pub const CLOSING: u16 = 1 << 2;
    /// Being removed; lookups miss.
    pub const TEARDOWN: u16 = 1 << 3;
    /// Hardware offload requested.
    pub const HW: u16 = 1 << 4;
    /// Hardware delete queued.
    pub const HW_DYING: u16 = 1 << 5;
    /// Hardware delete done.
    pub const HW_DEAD: u16 = 1 << 6;
    /// A hardware work is outstanding.
    pub const HW_PENDING: u16 = 1 << 7;
    /// The ORIGINAL direction's source host moved to another port of the LAN bridge since
    /// the entry was made (see [`super::Flowtable::host_moved`]).
    pub const MOVED_ORIG: u16 = 1 << 8;
    /// The REPLY direction's source host moved.
    pub const MOVED_REPLY: u16 = 1 << 9;
}

/// Handle of a flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FlowId(pub u32);

/// Why a flow left the flowtable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TeardownCause {
    /// Idle for the flowtable timeout.
    Timeout,
    /// FIN or RST seen on the fast path (5.15–6.13), or a SYN on a CLOSING flow (≥ 6.14).
    TcpFlags,
    /// The conntrack entry died.
    CtDying,
    /// The flowtable was flushed (ruleset reload).
    Flush,
    /// A device the flow uses went down (`nf_flow_table_cleanup`), or its LAN host moved to
    /// another bridge port and the fdb update tore it down.
    Cleanup,
}

impl TeardownCause {
    /// Short name.
    pub fn name(self) -> &'static str {
        match self {
            TeardownCause::Timeout => "timeout",
            TeardownCause::TcpFlags => "tcp_fin_rst",
            TeardownCause::CtDying => "ct_dying",
            TeardownCause::Flush => "flush",
            TeardownCause::Cleanup => "cleanup",
        }
    }
}

/// Hardware state of a flow as seen by the flowtable.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum HwState {
    /// Not requested (software flowtable, or not yet).
    #[default]
    None,
    /// An add is outstanding.
    Pending,
    /// The NIC accepted at least one direction (`IPS_HW_OFFLOAD`).
    Offloaded,
    /// The NIC refused; the flow stays in software and is retried on refresh.
    Refused,
}

/// One flowtable entry.
#[derive(Clone, Copy, Debug)]
pub struct Flow {
    /// Its conntrack entry.
    pub ct: CtId,
    /// Keys of the ORIGINAL and REPLY directions.
    pub keys: [FtKey; 2],
    /// Routes of the ORIGINAL and REPLY directions.
    pub routes: [FtRoute; 2],
    /// Expiry (`flow->timeout`).
    pub timeout: SimTime,
    /// [`fflags`].
    pub flags: u16,
    /// Creation time.
    pub created: SimTime,
    /// Fast-path packets per direction.
    pub packets: [u64; 2],
    /// Fast-path L3 bytes per direction.
    pub bytes: [u64; 2],
    /// Hardware state.
    pub hw: HwState,
    /// Why it was torn down.
    pub teardown: Option<TeardownCause>,
    /// Whether the timeout had passed at teardown.
    expired: bool,
    /// The offload engine's handle for the flow's hardware rules (0 = none).
    pub hw_gen: u64,
}

impl Flow {
    /// Whether a flag is set.
    pub fn has(&self, f: u16) -> bool {
        self.flags & f != 0
    }
    /// L4 protocol.
    pub fn l4proto(&self) -> u8 {
        self.keys[0].tuple.proto
    }
}

/// Why a packet on a flowtable device did not take the fast path before the lookup
/// (`nf_flow_offload_*_hook` parse failures).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BailReason {
    /// IPv4 fragment.
    Fragment,
    /// IPv4 header options.
    IpOptions,
    /// Not TCP/UDP, or IPv6 extension headers before the transport header.
    NotTcpUdp,
    /// TTL / hop limit ≤ 1.
    TtlExpired,
    /// Transport header not in the packet.
    Truncated,
}

/// The fast path's decision for one packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FastPath {
    /// The interface has no flowtable hook.
    NoHook,
    /// Parse-level bail-out to the slow path.
    Bail(BailReason),
    /// No entry (or a torn-down one).
    Miss,
    /// Forwarded in software.
    Hit {
        /// The flow.
        flow: FlowId,
        /// Direction.
        dir: Dir,
        /// The refresh requested a hardware (re-)add.
        hw_add: bool,
        /// The entry transmits to the bridge port its destination host has left (the host
        /// moved after the entry was made): the packet is lost there.
        misdirected: bool,
    },
    /// An entry matched but the packet goes to the slow path.
    HitSlow {
        /// The flow.
        flow: FlowId,
        /// Why.
        reason: SlowReason,
    },
}

/// Why a matching packet still took the slow path.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SlowReason {
    /// Longer than the path MTU.
    OverMtu,
    /// FIN/RST (5.15–6.13) or SYN on a CLOSING flow (≥ 6.14): torn down.
    TcpFlags,
}

/// Work for the hardware offload pipeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HwRequest {
    /// Install both directions.
    Add(FlowId),
    /// Remove both directions.
    Del(FlowId),
    /// Read counters / last use.
    Stats(FlowId),
}

/// Why `flow add` did not create an entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AddRefusal {
    /// IPv4 options (or an IPsec path).
    IpOptions,
    /// No conntrack entry (invalid or untracked).
    NoConntrack,
    /// TCP packet with FIN or RST.
    TcpFinRst,
    /// TCP connection not ESTABLISHED + ASSURED yet.
    TcpNotEstablished,
    /// Not TCP or UDP.
    Protocol,
    /// A helper, sequence adjustment or NAT clash.
    Helper,
    /// The conntrack entry is not confirmed yet (first packet of a connection).
    Unconfirmed,
    /// Already offloaded (one entry per connection).
    AlreadyOffloaded,
}

impl AddRefusal {
    /// Short name.
    pub fn name(self) -> &'static str {
        match self {
            AddRefusal::IpOptions => "ip_options",
            AddRefusal::NoConntrack => "no_conntrack",
            AddRefusal::TcpFinRst => "tcp_fin_rst",
            AddRefusal::TcpNotEstablished => "tcp_not_established",
            AddRefusal::Protocol => "protocol",
            AddRefusal::Helper => "helper",
            AddRefusal::Unconfirmed => "unconfirmed",
            AddRefusal::AlreadyOffloaded => "already_offloaded",
        }
    }
}

/// Flowtable statistics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FtStats {
    /// Entries created.
    pub added: u64,
    /// Entries torn down, by cause (timeout, flags, ct dying, flush, cleanup).
    pub teardown: [u64; 5],
    /// Entries freed.
    pub freed: u64,
    /// Fast-path hits.
    pub hits: u64,
    /// Lookups that missed.
    pub misses: u64,
    /// Bail-outs before lookup.
    pub bails: u64,
    /// Timeout refreshes written.
    pub refreshes: u64,
    /// Peak number of entries.
    pub peak: u64,
}

/// A flowtable.
#[derive(Debug)]
pub struct Flowtable {
    cfg: FtConfig,
    flows: Vec<Option<Flow>>,
    free: Vec<u32>,
    map: FxHashMap<FtKey, (FlowId, Dir)>,
    live: u32,
    next_gc: SimTime,
    /// Work for the hardware pipeline, drained by the caller.
    pub hw_requests: Vec<HwRequest>,
    /// Statistics.
    pub stats: FtStats,
    /// Flows freed since the caller last looked (for per-flow reporting).
    pub freed: Vec<Flow>,
}

const DAY: u64 = 86_400 * NS_PER_SEC;

impl Flowtable {
    /// An empty flowtable.
    pub fn new(cfg: FtConfig) -> Self {
        Flowtable {
            cfg,
            flows: Vec::new(),
            free: Vec::new(),
            map: FxHashMap::default(),
            live: 0,
            next_gc: SimTime(0),
            hw_requests: Vec::new(),
            stats: FtStats::default(),
            freed: Vec::new(),
        }
    }

    /// Configuration.
    pub fn config(&self) -> &FtConfig {
        &self.cfg
    }

    /// Live entries (including torn-down ones not yet freed).
    pub fn len(&self) -> usize {
        self.live as usize
    }

    /// Whether empty.
    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// A flow.
    pub fn get(&self, id: FlowId) -> Option<&Flow> {
        self.flows.get(id.0 as usize).and_then(|f| f.as_ref())
    }

    /// The flow a key belongs to, without side effects (for attributing hardware-forwarded
    /// packets).
    pub fn flow_of_key(&self, key: &FtKey) -> Option<FlowId> {
        self.map.get(key).map(|(id, _)| *id)
    }

    /// The flow and direction of a tuple.
    pub fn entry_of_key(&self, key: &FtKey) -> Option<(FlowId, Dir)> {
        self.map.get(key).copied()
    }

    /// Records the offload engine's handle of a flow's hardware rules.
    pub fn set_hw_gen(&mut self, id: FlowId, hwgen: u64) {
        if let Some(f) = self.flows.get_mut(id.0 as usize).and_then(|f| f.as_mut()) {
            f.hw_gen = hwgen;
        }
    }

    /// Whether the flowtable is attached to interface `iif`.
    pub fn on_device(&self, iif: u32) -> bool {
        self.cfg.devices.contains(&iif)
    }

    fn offload_timeout(&self, l4: u8) -> u64 {
        u64::from(if l4 == proto::TCP {
            self.cfg.tcp_timeout_s
        } else {
            self.cfg.udp_timeout_s
        }) * NS_PER_SEC
    }

    /// Why `nft_flow_offload_eval` would refuse the packet's connection before resolving its
    /// routes, or the connection when it is eligible. These checks read neither keys nor
    /// routes, so a caller may ask before building them ([`Flowtable::add`] asks again).
    pub fn refusal(
        &self,
        m: &PacketMeta,
        ct: &Conntrack,
        ctid: Option<CtId>,
    ) -> Result<CtId, AddRefusal> {
        if m.has(flags::IP_OPTIONS) {
            return Err(AddRefusal::IpOptions);
        }
        let Some(id) = ctid else {
            return Err(AddRefusal::NoConntrack);
        };
        let c = ct.get(id);
        match c.orig().proto {
            proto::TCP => {
                if m.tcp_flags & (tcp_flags::FIN | tcp_flags::RST) != 0 {
                    return Err(AddRefusal::TcpFinRst);
                }
                if !c.tcp_established() {
                    return Err(AddRefusal::TcpNotEstablished);
                }
            }
            proto::UDP => {}
            _ => return Err(AddRefusal::Protocol),
        }
        if c.status & (status::HELPER | status::SEQ_ADJUST | status::NAT_CLASH) != 0 {
            return Err(AddRefusal::Helper);
        }
        if c.status & status::CONFIRMED == 0 {
            return Err(AddRefusal::Unconfirmed);
        }
        if c.status & status::OFFLOAD != 0 {
            return Err(AddRefusal::AlreadyOffloaded);
        }
        Ok(id)
    }

    /// `nft_flow_offload_eval` + `flow_offload_add`: creates an entry for the packet's
    /// connection if it is eligible ([`Flowtable::refusal`]). `keys` and `routes` are the
    /// two directions' keys and routes as routing resolved them (see [`crate::datapath`]).
    pub fn add(
        &mut self,
        now: SimTime,
        m: &PacketMeta,
        ct: &mut Conntrack,
        ctid: Option<CtId>,
        keys: [FtKey; 2],
        routes: [FtRoute; 2],
    ) -> Result<FlowId, AddRefusal> {
        let id = self.refusal(m, ct, ctid)?;
        let c = ct.get(id);
        let l4 = c.orig().proto;
        let nat = c.nat;
        let cm = ct.get_mut(id);
        cm.status |= status::OFFLOAD;
        if let ProtoState::Tcp(t) = &mut cm.proto {
            t.set_liberal();
        }
        // Park the conntrack timeout far out while offloaded.
        let left = cm.expires().0.saturating_sub(now.0);
        let park = match self.cfg.flavour {
            KernelFlavour::New => true,
            KernelFlavour::Mid => left < DAY / 2,
        };
        if park {
            ct.set_expires(id, SimTime(now.0 + DAY));
        }
        let mut f = Flow {
            ct: id,
            keys,
            routes,
            timeout: SimTime(now.0 + self.offload_timeout(l4)),
            flags: 0,
            created: now,
            packets: [0; 2],
            bytes: [0; 2],
            hw: HwState::None,
            teardown: None,
            expired: false,
            hw_gen: 0,
        };
        if nat.snat {
            f.flags |= fflags::SNAT;
        }
        if nat.dnat {
            f.flags |= fflags::DNAT;
        }
        let fid = match self.free.pop() {
            Some(i) => FlowId(i),
            None => {
                self.flows.push(None);
                FlowId(self.flows.len() as u32 - 1)
            }
        };
        self.map.insert(keys[0], (fid, Dir::Original));
        self.map.insert(keys[1], (fid, Dir::Reply));
        if self.cfg.hw_offload {
            f.flags |= fflags::HW;
        }
        self.flows[fid.0 as usize] = Some(f);
        self.live += 1;
        self.stats.added += 1;
        self.stats.peak = self.stats.peak.max(u64::from(self.live));
        if self.cfg.hw_offload {
            self.request_add(fid);
        }
        Ok(fid)
    }

    fn request_add(&mut self, id: FlowId) -> bool {
        let Some(f) = self.flows[id.0 as usize].as_mut() else {
            return false;
        };
        if f.has(fflags::HW_PENDING) || f.has(fflags::CLOSING) || f.has(fflags::TEARDOWN) {
            return false;
        }
        f.flags |= fflags::HW_PENDING;
        if f.hw == HwState::None || f.hw == HwState::Refused {
            f.hw = HwState::Pending;
        }
        self.hw_requests.push(HwRequest::Add(id));
        true
    }

    /// The fast path for a packet arriving on `iif` (`nf_flow_offload_ip_hook` /
    /// `nf_flow_offload_ipv6_hook`).
    pub fn lookup(
        &mut self,
        now: SimTime,
        m: &PacketMeta,
        iif: u32,
        ct: &mut Conntrack,
    ) -> FastPath {
        if !self.on_device(iif) {
            return FastPath::NoHook;
        }
        if m.ip_version == 4 {
            if m.has(flags::FRAGMENT) {
                self.stats.bails += 1;
                return FastPath::Bail(BailReason::Fragment);
            }
            if m.has(flags::IP_OPTIONS) {
                self.stats.bails += 1;
                return FastPath::Bail(BailReason::IpOptions);
            }
        }
        if !matches!(m.ip_proto_field, proto::TCP | proto::UDP) {
            self.stats.bails += 1;
            return FastPath::Bail(BailReason::NotTcpUdp);
        }
        if !m.l4_present() {
            self.stats.bails += 1;
            return FastPath::Bail(BailReason::Truncated);
        }
        if m.ttl <= 1 {
            self.stats.bails += 1;
            return FastPath::Bail(BailReason::TtlExpired);
        }
        let key = FtKey::of_packet(m, iif);
        let Some(&(id, dir)) = self.map.get(&key) else {
            self.stats.misses += 1;
            return FastPath::Miss;
        };
        let flavour = self.cfg.flavour;
        let Some(f) = self.flows[id.0 as usize].as_mut() else {
            self.stats.misses += 1;
            return FastPath::Miss;
        };
        if f.has(fflags::TEARDOWN) || !ct.is_live(f.ct) {
            self.stats.misses += 1;
            return FastPath::Miss;
        }
        // A moved host's packets arrive on its new port: the tuple's `iifidx` no longer
        // matches (`nf_flow_tuple_ip`), so they miss and take the slow path.
        let (from_moved, to_moved) = match dir {
            Dir::Original => (fflags::MOVED_ORIG, fflags::MOVED_REPLY),
            Dir::Reply => (fflags::MOVED_REPLY, fflags::MOVED_ORIG),
        };
        if f.has(from_moved) {
            self.stats.misses += 1;
            return FastPath::Miss;
        }
        let misdirected = f.has(to_moved);
        // nf_flow_exceeds_mtu: the direction's MTU, from its route.
        if m.ip_len > f.routes[dir as usize].mtu {
            return FastPath::HitSlow {
                flow: id,
                reason: SlowReason::OverMtu,
            };
        }
        if m.l4proto == proto::TCP {
            let fin_rst = m.tcp_flags & (tcp_flags::FIN | tcp_flags::RST) != 0;
            match flavour {
                KernelFlavour::Mid => {
                    if fin_rst {
                        self.teardown(id, TeardownCause::TcpFlags, now, ct);
                        return FastPath::HitSlow {
                            flow: id,
                            reason: SlowReason::TcpFlags,
                        };
                    }
                }
                KernelFlavour::New => {
                    if m.tcp_flags & tcp_flags::SYN != 0 && f.has(fflags::CLOSING) {
                        self.teardown(id, TeardownCause::TcpFlags, now, ct);
                        return FastPath::HitSlow {
                            flow: id,
                            reason: SlowReason::TcpFlags,
                        };
                    }
                    if fin_rst {
                        f.flags |= fflags::CLOSING;
                    }
                }
            }
        }
        // flow_offload_refresh: write only when it moves the timeout by more than 1 s.
        let l4 = f.l4proto();
        let to = self.offload_timeout(l4);
        let f = self.flows[id.0 as usize].as_mut().expect("flow");
        let new_timeout = now.0 + to;
        let mut hw_add = false;
        if new_timeout.saturating_sub(f.timeout.0) > NS_PER_SEC {
            f.timeout = SimTime(new_timeout);
            self.stats.refreshes += 1;
            if f.has(fflags::HW) && !f.has(fflags::CLOSING) && f.hw != HwState::Offloaded {
                hw_add = self.request_add(id);
            } else if f.has(fflags::HW) && !f.has(fflags::CLOSING) {
                // The kernel re-requests an add on every refresh; with the entry already in
                // hardware the driver answers "exists", so it changes nothing. offsim skips
                // the no-op but keeps the one-outstanding-work rule.
            }
        }
        let f = self.flows[id.0 as usize].as_mut().expect("flow");
        f.packets[dir as usize] += 1;
        f.bytes[dir as usize] += u64::from(m.ip_len);
        let counter = self.cfg.counter;
        let ctid = f.ct;
        if counter {
            let c = ct.get_mut(ctid);
            c.packets[dir as usize] += 1;
            c.bytes[dir as usize] += u64::from(m.ip_len);
        }
        self.stats.hits += 1;
        FastPath::Hit {
            flow: id,
            dir,
            hw_add,
            misdirected,
        }
    }

    /// `flow_offload_teardown`: lookups miss from now on; the conntrack entry leaves offload
    /// and gets its timeout fixed up.
    pub fn teardown(&mut self, id: FlowId, cause: TeardownCause, now: SimTime, ct: &mut Conntrack) {
        let flavour = self.cfg.flavour;
        let Some(f) = self.flows[id.0 as usize].as_mut() else {
            return;
        };
        if f.has(fflags::TEARDOWN) {
            return;
        }
        f.flags |= fflags::TEARDOWN;
        f.teardown = Some(cause);
        f.expired = now >= f.timeout;
        let (l4, closing, expired, ctid) = (f.l4proto(), f.has(fflags::CLOSING), f.expired, f.ct);
        let idx = match cause {
            TeardownCause::Timeout => 0,
            TeardownCause::TcpFlags => 1,
            TeardownCause::CtDying => 2,
            TeardownCause::Flush => 3,
            TeardownCause::Cleanup => 4,
        };
        self.stats.teardown[idx] += 1;
        let offload_to = self.offload_timeout(l4);
        if !ct.is_live(ctid) {
            return;
        }
        let cfg_t = ct.config().timeouts.clone();
        let c = ct.get_mut(ctid);
        c.status &= !status::OFFLOAD;
        // flow_offload_fixup_ct
        let left = c.expires().0.saturating_sub(now.0);
        let sec = |s: u32| u64::from(s) * NS_PER_SEC;
        match flavour {
            KernelFlavour::New => {
                let (mut timeout, force) = match &mut c.proto {
                    ProtoState::Tcp(t) => {
                        t.fixup_after_offload(true);
                        if closing {
                            t.force_state(TcpState::Close);
                            (sec(cfg_t.tcp[TcpState::Close as usize]), true)
                        } else {
                            (sec(cfg_t.tcp[t.state as usize]), false)
                        }
                    }
                    _ => {
                        let base = if c.status & status::SEEN_REPLY != 0 {
                            cfg_t.udp_replied
                        } else {
                            cfg_t.udp_unreplied
                        };
                        (sec(base), false)
                    }
                };
                if expired && !force {
                    timeout = timeout.saturating_sub(offload_to);
                }
                if force || timeout < left {
                    ct.set_expires(ctid, SimTime(now.0 + timeout));
                }
            }
            KernelFlavour::Mid => {
                let base = match &mut c.proto {
                    ProtoState::Tcp(t) => {
                        t.fixup_after_offload(false);
                        sec(cfg_t.tcp[t.state as usize])
                    }
                    _ => sec(cfg_t.udp_replied),
                };
                let timeout = base.saturating_sub(offload_to);
                if timeout < left {
                    ct.set_expires(ctid, SimTime(now.0 + timeout));
                }
            }
        }
    }

    fn free_flow(&mut self, id: FlowId) {
        if let Some(f) = self.flows[id.0 as usize].take() {
            for (d, k) in f.keys.iter().enumerate() {
                if self.map.get(k) == Some(&(id, if d == 0 { Dir::Original } else { Dir::Reply })) {
                    self.map.remove(k);
                }
            }
            self.live -= 1;
            self.free.push(id.0);
            self.stats.freed += 1;
            self.freed.push(f);
        }
    }

    /// When the next GC pass is due.
    pub fn next_gc(&self) -> SimTime {
        self.next_gc
    }

    /// The hardware add work finished: `accepted` = at least one direction is in hardware.
    pub fn hw_add_done(&mut self, id: FlowId, accepted: bool, ct: &mut Conntrack) {
        let Some(f) = self.flows.get_mut(id.0 as usize).and_then(|f| f.as_mut()) else {
            return;
        };
        f.flags &= !fflags::HW_PENDING;
        if f.has(fflags::TEARDOWN) || f.has(fflags::HW_DYING) {
            return;
        }
        if accepted {
            f.hw = HwState::Offloaded;
            if ct.is_live(f.ct) {
                ct.get_mut(f.ct).status |= status::HW_OFFLOAD;
            }
        } else if f.hw != HwState::Offloaded {
            f.hw = HwState::Refused;
        }
    }

    /// The hardware delete work finished.
    pub fn hw_del_done(&mut self, id: FlowId, ct: &mut Conntrack) {
        let Some(f) = self.flows.get_mut(id.0 as usize).and_then(|f| f.as_mut()) else {
            return;
        };
        f.flags &= !fflags::HW_PENDING;
        f.flags |= fflags::HW_DEAD;
        f.hw = HwState::None;
        if ct.is_live(f.ct) {
            ct.get_mut(f.ct).status &= !status::HW_OFFLOAD;
        }
    }

    /// The hardware stats work finished: `last_used` is the latest hardware hit of either
    /// direction; `packets`/`bytes` the deltas per direction (added to conntrack accounting
    /// with `counter`).
    pub fn hw_stats_done(
        &mut self,
        id: FlowId,
        last_used: Option<SimTime>,
        packets: [u64; 2],
        bytes: [u64; 2],
        ct: &mut Conntrack,
    ) {
        let counter = self.cfg.counter;
        let to_tcp = u64::from(self.cfg.tcp_timeout_s) * NS_PER_SEC;
        let to_udp = u64::from(self.cfg.udp_timeout_s) * NS_PER_SEC;
        let Some(f) = self.flows.get_mut(id.0 as usize).and_then(|f| f.as_mut()) else {
            return;
        };
        f.flags &= !fflags::HW_PENDING;
        let to = if f.l4proto() == proto::TCP {
            to_tcp
        } else {
            to_udp
        };
        if let Some(lu) = last_used {
            f.timeout = f.timeout.max(SimTime(lu.0 + to));
        }
        for d in 0..2 {
            f.packets[d] += packets[d];
            f.bytes[d] += bytes[d];
        }
        if counter && ct.is_live(f.ct) {
            let c = ct.get_mut(f.ct);
            for d in 0..2 {
                c.packets[d] += packets[d];
                c.bytes[d] += bytes[d];
            }
        }
    }
}

mod cleanup;
#[cfg(test)]
mod test;
