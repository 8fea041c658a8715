//! Connection tracking, as `nf_conntrack` does it for forwarded traffic.
//!
//! One entry per connection, reachable from its ORIGINAL and REPLY tuples. A packet is looked
//! up at PREROUTING −200 ([`Conntrack::track`]); a packet that starts a connection gets an
//! *unconfirmed* entry that only enters the table when the packet survives every hook
//! ([`Conntrack::confirm`] at POSTROUTING INT_MAX) — a dropped first packet leaves no state.
//! `ctinfo` follows `resolve_normal_ct`: reply direction → ESTABLISHED_REPLY; original
//! direction after a reply was seen → ESTABLISHED; otherwise NEW. ICMP errors that quote a
//! tracked connection are RELATED (`nf_conntrack_inet_error`); TCP goes through the kernel's
//! state machine and window tracking ([`tcp`]); UDP sets ASSURED once it has seen a reply and
//! is older than 2 s; ICMP echo/timestamp/info/address-mask and ICMPv6 echo/node-information
//! are tracked by identifier, type and code; neighbour discovery and MLD are untracked; other
//! protocols use the generic tracker.
//!
//! Expired entries are invisible to lookups (`nf_ct_is_expired`) and are reaped lazily and by
//! an incremental garbage collector, so memory follows the number of live connections.
//!
//! NAT: offsim models the trace as captured on the LAN side (replies already translated back),
//! so conntrack keys stay the captured tuples; NAT bindings are recorded on the entry for the
//! rule engine ("NAT chains see only the first packet") and the CPU model.

//!
//! Files: `mod.rs` (the entries and `nf_conntrack_in`), `table.rs` (the hash table and the
//! kernel's buckets), `ports.rs` (an index of port groups for NAT's port search under
//! exhaustion), `conn.rs` (an entry and the names of packet states), `config.rs` (sysctls
//! and timeouts), `tcp.rs` (TCP state machine and window tracking).

mod config;
mod conn;
mod ports;
mod prefetch;
mod table;
pub mod tcp;

use offsim_traces::meta::{FlowKey, PacketMeta, flags, proto};
use offsim_traces::time::{NS_PER_SEC, SimTime};

pub use config::{CtConfig, CtTimeouts, MAX_BUCKETS};
pub use conn::{
    Conn, CtId, CtInfo, Dir, InvalidReason, NatBinding, ProtoState, Track, state_bits, status,
};
pub(crate) use ports::{GroupId, Round};
use tcp::TcpVerdict;

/// Conntrack statistics (`conntrack -S` style).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CtStats {
    /// Lookups.
    pub searched: u64,
    /// Entries created (unconfirmed).
    pub created: u64,
    /// Entries confirmed (inserted).
    pub inserted: u64,
    /// Unconfirmed entries discarded with their dropped packet.
    pub discarded: u64,
    /// Invalid packets.
    pub invalid: u64,
    /// Packets dropped because the table was full.
    pub drop: u64,
    /// Entries that expired.
    pub expired: u64,
    /// Entries deleted early (RST before reply, reopen).
    pub killed: u64,
    /// Peak number of entries (confirmed + unconfirmed).
    pub peak: u64,
    /// Entries evicted by `early_drop` to make room for a new one.
    pub early_drop: u64,
}

/// The entry a packet was matched to, and how.
#[derive(Clone, Copy)]
struct OnEntry {
    id: CtId,
    /// The packet's direction on the entry.
    dir: Dir,
    /// The entry's status before this packet.
    status: u32,
    /// The entry was created for this packet (unconfirmed).
    new_entry: bool,
}

/// What the protocol tracker made of a packet on its entry.
enum Handled {
    /// Valid: the caller accounts the packet on its entry.
    Valid,
    /// TCP killed the confirmed entry (`nf_ct_kill_acct`): the packet passes, already
    /// accounted.
    Killed,
    /// Invalid for this reason.
    Invalid(InvalidReason),
    /// TCP removed the old entry of a reopened connection: look the tuple up again.
    Repeat,
}

/// The connection tracking table.
#[derive(Debug)]
pub struct Conntrack {
    cfg: CtConfig,
    table: table::CtTable,
    conns: Vec<Conn>,
    /// Per slot of `conns`: its entry's expiry (ns) if it is live and confirmed, else
    /// [`NEVER`]. A dense copy of what the garbage collector and the port groups read, so
    /// that a walk over the entries reads 8 bytes each rather than a line or two of a
    /// several-hundred-byte [`Conn`] (the collector's 8 entries a packet were a sixth of
    /// `rules eval`'s time on a SYN flood). Written wherever `Conn::expires`, `live` or the
    /// CONFIRMED bit of a slot changes, all of which happens here.
    reap_at: Vec<u64>,
    /// Scratch list of a bucket's nodes for `early_drop`.
    scratch: Vec<u32>,
    free: Vec<u32>,
    live: u32,
    gc_cursor: usize,
    /// Statistics.
    pub stats: CtStats,
    /// Record indexes ([`Conn::rec`]) and ORIGINAL tuples of entries removed since the
    /// caller last drained this.
    pub dead_records: Vec<(u32, FlowKey)>,
    /// Timeout policies attached by `ct timeout set` ([`Conn::policy`] - 1).
    policies: Vec<CtTimeouts>,
    /// When [`Conntrack::prefetch`] asks for lines (`prefetch.rs`).
    prefetch_rule: prefetch::PrefetchRule,
}

/// The ICMP type that answers a query type (`invmap`), for ICMP and ICMPv6.
fn icmp_inverse(l4proto: u8, t: u8) -> Option<u8> {
    match (l4proto, t) {
        (proto::ICMP, 8) => Some(0),
        (proto::ICMP, 0) => Some(8),
        (proto::ICMP, 13) => Some(14),
        (proto::ICMP, 14) => Some(13),
        (proto::ICMP, 15) => Some(16),
        (proto::ICMP, 16) => Some(15),
        (proto::ICMP, 17) => Some(18),
        (proto::ICMP, 18) => Some(17),
        (proto::ICMPV6, 128) => Some(129),
        (proto::ICMPV6, 129) => Some(128),
        (proto::ICMPV6, 139) => Some(140),
        (proto::ICMPV6, 140) => Some(139),
        _ => None,
    }
}

/// Whether an ICMP type may create a connection (`valid_new`).
fn icmp_valid_new(l4proto: u8, t: u8) -> bool {
    match l4proto {
        proto::ICMP => matches!(t, 8 | 13 | 15 | 17),
        proto::ICMPV6 => matches!(t, 128 | 139),
        _ => false,
    }
}

/// The conntrack tuple of a packet (`nf_ct_get_tuple`): for ICMP the "ports" are the
/// identifier and `type << 8 | code`. `None` when the transport header is missing.
pub fn ct_tuple(m: &PacketMeta) -> Option<FlowKey> {
    if !m.is_ip() {
        return None;
    }
    let mut k = FlowKey {
        src: m.src,
        dst: m.dst,
        sport: 0,
        dport: 0,
        proto: m.l4proto,
        version: m.ip_version,
    };
    match m.l4proto {
        proto::TCP | proto::UDP | proto::UDPLITE | proto::SCTP => {
            if !m.has(flags::PORTS) {
                return None;
            }
            k.sport = m.sport;
            k.dport = m.dport;
        }
        proto::ICMP | proto::ICMPV6 => {
            if !m.l4_present() {
                return None;
            }
            k.sport = if offsim_traces::meta::is_icmp_echo(m.l4proto, m.icmp_type) {
                m.sport
            } else {
                0
            };
            k.dport = u16::from(m.icmp_type) << 8 | u16::from(m.icmp_code);
        }
        _ => {}
    }
    Some(k)
}

/// `nf_ct_invert_tuple`: the reply tuple, or `None` for ICMP types without an inverse.
/// Inlined (see `Conn::reply`).
#[inline]
pub fn invert(k: &FlowKey) -> Option<FlowKey> {
    let mut r = k.reversed();
    if k.proto == proto::ICMP || k.proto == proto::ICMPV6 {
        let t = (k.dport >> 8) as u8;
        let code = k.dport & 0xff;
        let inv = icmp_inverse(k.proto, t)?;
        r.sport = k.sport;
        r.dport = u16::from(inv) << 8 | code;
    }
    Some(r)
}

#[inline]
fn secs(s: u32) -> u64 {
    u64::from(s) * NS_PER_SEC
}

/// [`Conntrack`]'s `reap_at` of a slot the collector passes over (free, or unconfirmed).
const NEVER: u64 = u64::MAX;

/// The expiry of a table node's entry, from `reap_at` (a node in the table is live and
/// confirmed, so its copy is the entry's expiry).
#[inline]
fn node_expiry(reap_at: &[u64]) -> impl Fn(u32) -> SimTime + '_ {
    |n| SimTime(reap_at[(n / 2) as usize])
}

/// The timeouts of an entry with timeout policy `policy` (0: none, else an index into
/// `policies` plus one): a function of the fields it reads, so that a caller holding an
/// entry mutably can ask.
fn policy_timeouts<'a>(
    cfg: &'a CtConfig,
    policies: &'a [CtTimeouts],
    policy: u16,
) -> &'a CtTimeouts {
    match policy {
        0 => &cfg.timeouts,
        p => &policies[p as usize - 1],
    }
}

impl Conntrack {
    /// An empty table.
    pub fn new(cfg: CtConfig) -> Self {
        let limited = cfg.max_entries.is_some();
        Conntrack {
            table: table::CtTable::new(cfg.buckets(), limited),
            cfg,
            conns: Vec::new(),
            reap_at: Vec::new(),
            scratch: Vec::new(),
            free: Vec::new(),
            live: 0,
            gc_cursor: 0,
            stats: CtStats::default(),
            dead_records: Vec::new(),
            policies: Vec::new(),
            prefetch_rule: prefetch::PrefetchRule::default(),
        }
    }

    /// `ct timeout set` (`nft_ct_timeout_obj_eval`): attaches `policy` (for L4 protocol
    /// `protocol`) to connection `id` if it is not confirmed yet and of that protocol, and
    /// gives it the policy's initial timeout; later packets are timed by the policy. Returns
    /// whether it was attached.
    pub fn set_timeout_policy(&mut self, id: CtId, policy: &CtTimeouts, protocol: u8) -> bool {
        let c = &self.conns[id.0 as usize];
        if !c.live || c.status & status::CONFIRMED != 0 || c.orig().proto != protocol {
            return false;
        }
        let idx = match self.policies.iter().position(|p| p == policy) {
            Some(i) => i,
            None => {
                if self.policies.len() >= u16::MAX as usize - 1 {
                    return false;
                }
                self.policies.push(policy.clone());
                self.policies.len() - 1
            }
        };
        let c = &mut self.conns[id.0 as usize];
        c.policy = idx as u16 + 1;
        // unconfirmed: the timeout is relative until confirmation
        c.expires = SimTime(secs(policy.initial(protocol)));
        true
    }

    /// The timeouts that apply to a connection: its `ct timeout` policy or the configured
    /// ones.
    fn timeouts_of(&self, id: CtId) -> &CtTimeouts {
        policy_timeouts(&self.cfg, &self.policies, self.conns[id.0 as usize].policy)
    }

    /// Configuration.
    pub fn config(&self) -> &CtConfig {
        &self.cfg
    }

    /// Number of live entries (confirmed and unconfirmed, including expired ones not yet
    /// reaped).
    pub fn len(&self) -> usize {
        self.live as usize
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// The entry behind a handle.
    pub fn get(&self, id: CtId) -> &Conn {
        &self.conns[id.0 as usize]
    }

    /// Whether a handle still names a live entry (an entry killed by an RST or removed
    /// by expiry is not).
    pub fn is_live(&self, id: CtId) -> bool {
        self.conns.get(id.0 as usize).is_some_and(|c| c.live)
    }

    /// Calls `f` with every live entry and its handle, in slot order.
    pub fn for_each_live(&self, mut f: impl FnMut(CtId, &Conn)) {
        for (i, c) in self.conns.iter().enumerate().filter(|(_, c)| c.live) {
            f(CtId(i as u32), c);
        }
    }

    /// The entry behind a handle, mutably.
    pub fn get_mut(&mut self, id: CtId) -> &mut Conn {
        &mut self.conns[id.0 as usize]
    }

    /// Looks a tuple up among confirmed, unexpired entries without changing anything (an
    /// expired entry is absent but stays until [`Conntrack::lookup`] or GC removes it): for
    /// inspection.
    pub fn peek(&self, now: SimTime, k: &FlowKey) -> Option<(CtId, Dir)> {
        let (id, dir) = self.find(k)?;
        (self.conns[id.0 as usize].expires > now).then_some((id, dir))
    }

    /// The port group of tuples like `k` but for the destination port, if it is indexed
    /// ([`ports`]). `lookups` is how many of the group's tuples the caller has just looked
    /// up one by one; when it is not 0, the large groups may be indexed now. NAT's port
    /// search asks before it starts (0) and after each round of candidates it finds used.
    pub(crate) fn port_group(&mut self, k: &FlowKey, lookups: u32) -> Option<GroupId> {
        self.table.port_group(&self.conns, k, lookups)
    }

    /// Whether an unexpired entry holds the tuple of group `id` with destination port
    /// `port`: `peek(now, that tuple).is_some()`, from the group's index. `id` must come
    /// from [`Conntrack::port_group`] with no change to the table since.
    #[inline]
    pub(crate) fn port_held(&self, id: GroupId, port: u16, now: SimTime) -> bool {
        self.table
            .ports
            .held(id, port, now, node_expiry(&self.reap_at))
    }

    /// The first of `round`'s candidates whose tuple in group `id` no unexpired entry holds
    /// (its index in the round), as [`Conntrack::port_held`] of each in turn would find it.
    /// Consecutive candidates are neighbours in the group's index, which keeps a bound of
    /// each entry's expiry beside its node ([`ports`]): most candidates are answered without
    /// reading their entry.
    pub(crate) fn first_free_port(
        &mut self,
        id: GroupId,
        round: Round,
        now: SimTime,
    ) -> Option<u32> {
        self.table
            .ports
            .first_free(id, round, now, node_expiry(&self.reap_at))
    }

    /// Stops indexing port groups from now on, so NAT's port search looks every candidate
    /// up (call it on a new table).
    #[cfg(test)]
    pub(crate) fn without_port_groups(&mut self) {
        self.table.without_port_groups();
    }

    /// The confirmed entry holding tuple `k`, expired or not.
    #[inline]
    fn find(&self, k: &FlowKey) -> Option<(CtId, Dir)> {
        let n = self.table.find(&self.conns, k)?;
        let dir = if n & 1 == 0 {
            Dir::Original
        } else {
            Dir::Reply
        };
        Some((CtId(n / 2), dir))
    }

    /// `nf_conntrack_buckets`: buckets of the hash table.
    pub fn buckets(&self) -> u32 {
        self.table.buckets()
    }

    /// Looks a tuple up among confirmed, unexpired entries.
    pub fn lookup(&mut self, now: SimTime, k: &FlowKey) -> Option<(CtId, Dir)> {
        let (id, dir) = self.find(k)?;
        if self.conns[id.0 as usize].expires <= now {
            self.stats.expired += 1;
            self.remove(id);
            return None;
        }
        Some((id, dir))
    }

    fn alloc(&mut self, c: Conn) -> CtId {
        self.live += 1;
        self.stats.peak = self.stats.peak.max(u64::from(self.live));
        debug_assert!(c.live && c.status & status::CONFIRMED == 0);
        if let Some(i) = self.free.pop() {
            self.conns[i as usize] = c;
            self.reap_at[i as usize] = NEVER;
            CtId(i)
        } else {
            self.conns.push(c);
            self.reap_at.push(NEVER);
            CtId(self.conns.len() as u32 - 1)
        }
    }

    /// Deletes an entry (both tuples) and frees its slot.
    pub fn remove(&mut self, id: CtId) {
        let c = &mut self.conns[id.0 as usize];
        if !c.live {
            return;
        }
        c.live = false;
        self.reap_at[id.0 as usize] = NEVER;
        if c.rec != u32::MAX {
            self.dead_records.push((c.rec, c.orig()));
        }
        let (o, r, confirmed) = (c.orig(), c.reply(), c.status & status::CONFIRMED != 0);
        if confirmed {
            self.table.remove(table::node(id.0, Dir::Original), &o);
            self.table.remove(table::node(id.0, Dir::Reply), &r);
        }
        self.live -= 1;
        self.free.push(id.0);
        if self.free.len() > 4096 && self.free.len() > 2 * self.live as usize {
            self.compact();
        }
    }

    /// Deletes every entry (`conntrack -F`: `nf_conntrack_flush` → `nf_ct_iterate_cleanup_net`
    /// → `nf_ct_delete` on each). Returns how many. The flowtable must tear down its flows of
    /// these entries first: they hold handles that new entries will reuse.
    pub fn flush(&mut self) -> u64 {
        let ids: Vec<u32> = (0..self.conns.len() as u32)
            .filter(|&i| self.conns[i as usize].live)
            .collect();
        for &i in &ids {
            self.remove(CtId(i));
        }
        ids.len() as u64
    }

    /// Gives memory back after most entries went away: the lookup index shrinks (slots of
    /// the entry array are reused, never moved: handles stay valid).
    fn compact(&mut self) {
        self.table.shrink();
    }

    /// Inserts an unconfirmed entry into the table (`nf_conntrack_confirm`). Returns false on
    /// a clash (another entry owns one of the tuples), in which case the packet is dropped.
    pub fn confirm(&mut self, id: CtId, now: SimTime) -> bool {
        let c = &mut self.conns[id.0 as usize];
        if c.status & status::CONFIRMED != 0 || !c.live {
            return true;
        }
        let (o, r) = (c.orig(), c.reply());
        if self.table.contains(&self.conns, &o) || self.table.contains(&self.conns, &r) {
            self.stats.discarded += 1;
            self.remove(id);
            return false;
        }
        let c = &mut self.conns[id.0 as usize];
        c.status |= status::CONFIRMED;
        // The unconfirmed entry's timeout was relative; it starts now.
        let rel = c.expires.0;
        c.expires = SimTime(now.0.saturating_add(rel));
        self.reap_at[id.0 as usize] = c.expires.0;
        self.table
            .insert(&self.conns, table::node(id.0, Dir::Original), &o);
        self.table
            .insert(&self.conns, table::node(id.0, Dir::Reply), &r);
        self.stats.inserted += 1;
        true
    }

    /// Frees an unconfirmed entry whose packet was dropped.
    pub fn discard(&mut self, id: CtId) {
        if self.conns[id.0 as usize].status & status::CONFIRMED == 0 {
            self.stats.discarded += 1;
            self.remove(id);
        }
    }

    fn set_timeout(&mut self, id: CtId, now: SimTime, secs_: u32) {
        if self.conns[id.0 as usize].status & status::CONFIRMED != 0 {
            self.set_expires(id, SimTime(now.0 + secs(secs_)));
        } else {
            // Relative until confirmed (`__nf_ct_refresh_acct`).
            self.conns[id.0 as usize].expires = SimTime(secs(secs_));
        }
    }

    /// Sets a confirmed entry's expiry (`ct->timeout`): every write of a confirmed entry's
    /// expiry comes here, so that the port groups' bounds (`ports`) come down with it.
    pub(crate) fn set_expires(&mut self, id: CtId, t: SimTime) {
        let c = &mut self.conns[id.0 as usize];
        let in_table = c.status & status::CONFIRMED != 0 && c.live;
        let lowered = in_table && t < c.expires;
        c.expires = t;
        if in_table {
            self.reap_at[id.0 as usize] = t.0;
        }
        if lowered {
            let (o, r) = (c.orig(), c.reply());
            self.table
                .ports
                .lowered(table::node(id.0, Dir::Original), &o, t);
            self.table
                .ports
                .lowered(table::node(id.0, Dir::Reply), &r, t);
        }
    }

    /// Tracks one packet at PREROUTING (`nf_conntrack_in`). The packet must be a complete,
    /// reassembled IP packet.
    pub fn track(&mut self, now: SimTime, m: &PacketMeta) -> Track {
        self.stats.searched += 1;
        self.close_prefetch_window();
        let tuple = match self.tuple_of(now, m) {
            Ok(t) => t,
            Err(t) => return t,
        };
        let mut repeats = 0;
        loop {
            // resolve_normal_ct
            let (id, dir, new_entry) = match self.lookup(now, &tuple) {
                Some((id, dir)) => (id, dir, false),
                None => match self.init(now, m, &tuple) {
                    Ok(id) => (id, Dir::Original, true),
                    Err(r) => return self.invalid(r),
                },
            };
            let st = self.conns[id.0 as usize].status;
            let info = if dir == Dir::Reply {
                CtInfo::EstablishedReply
            } else if st & status::SEEN_REPLY != 0 {
                CtInfo::Established
            } else if st & status::EXPECTED != 0 {
                CtInfo::Related
            } else {
                CtInfo::New
            };
            let tracked = Track::Tracked {
                id,
                info,
                new_entry,
            };
            let e = OnEntry {
                id,
                dir,
                status: st,
                new_entry,
            };
            let ok = match self.handle_packet(now, m, e) {
                Handled::Valid => Ok(()),
                Handled::Killed => return tracked,
                Handled::Invalid(r) => Err(r),
                Handled::Repeat => {
                    repeats += 1;
                    if repeats < 2 {
                        continue;
                    }
                    Err(InvalidReason::TcpState)
                }
            };
            return match ok {
                Ok(()) => {
                    if dir == Dir::Reply {
                        self.conns[id.0 as usize].status |= status::SEEN_REPLY;
                    }
                    self.account(id, dir, m);
                    tracked
                }
                Err(r) => {
                    if new_entry {
                        self.stats.created -= 1;
                        self.remove(id);
                    }
                    self.invalid(r)
                }
            };
        }
    }

    /// The tuple a packet is tracked by, after the checks `nf_conntrack_in` makes first:
    /// ICMP errors and untracked ICMPv6 (`nf_conntrack_handle_icmp`), `udp_error`,
    /// `tcp_error`. `Err` is the packet's verdict when it ends there (invalid, untracked, or
    /// an ICMP error related to a connection).
    fn tuple_of(&mut self, now: SimTime, m: &PacketMeta) -> Result<FlowKey, Track> {
        let l4 = m.l4proto;
        if l4 == proto::ICMP || l4 == proto::ICMPV6 {
            if !m.l4_present() {
                return Err(self.invalid(InvalidReason::NoTuple));
            }
            if l4 == proto::ICMP && m.icmp_type > 18 {
                return Err(self.invalid(InvalidReason::IcmpNew));
            }
            if l4 == proto::ICMPV6 && matches!(m.icmp_type, 130..=136 | 143 | 151 | 152) {
                return Err(Track::Untracked);
            }
            let is_error = if l4 == proto::ICMP {
                matches!(m.icmp_type, 3 | 4 | 5 | 11 | 12)
            } else {
                m.icmp_type < 128
            };
            if is_error {
                return Err(self.related(now, m));
            }
        }
        let Some(tuple) = ct_tuple(m) else {
            return Err(self.invalid(InvalidReason::NoTuple));
        };
        if l4 == proto::UDP || l4 == proto::UDPLITE {
            // udp_error: the UDP length field must fit the IP payload.
            if m.has(flags::UDP_BAD_LENGTH) {
                return Err(self.invalid(InvalidReason::UdpLength));
            }
        }
        if l4 == proto::TCP && tcp::tcp_error(m) {
            return Err(self.invalid(InvalidReason::TcpFlags));
        }
        Ok(tuple)
    }

    /// `nf_conntrack_handle_packet`: the protocol tracker updates the entry (state,
    /// timeout) for the packet.
    fn handle_packet(&mut self, now: SimTime, m: &PacketMeta, e: OnEntry) -> Handled {
        let OnEntry { id, status: st, .. } = e;
        let l4 = m.l4proto;
        match l4 {
            proto::TCP => self.handle_tcp(now, m, e),
            proto::UDP | proto::UDPLITE => {
                // nf_conntrack_udp_packet
                let (udp_unrep, udp_rep) = (
                    self.timeouts_of(id).udp_unreplied,
                    self.timeouts_of(id).udp_replied,
                );
                let c = &mut self.conns[id.0 as usize];
                if c.status & status::CONFIRMED == 0 {
                    c.proto = ProtoState::Udp {
                        stream_ts: SimTime(now.0 + 2 * NS_PER_SEC),
                    };
                }
                let to = if st & status::SEEN_REPLY != 0 {
                    let ProtoState::Udp { stream_ts } = c.proto else {
                        unreachable!()
                    };
                    if now > stream_ts {
                        if st & status::NAT_CLASH == 0 {
                            c.status |= status::ASSURED;
                        }
                        udp_rep
                    } else {
                        udp_unrep
                    }
                } else {
                    udp_unrep
                };
                self.set_timeout(id, now, to);
                Handled::Valid
            }
            proto::ICMP | proto::ICMPV6 => {
                // nf_conntrack_icmp_packet / icmpv6_packet
                let c = &self.conns[id.0 as usize];
                let orig_type = (c.orig().dport >> 8) as u8;
                let wrong_family = (l4 == proto::ICMP && m.ip_version != 4)
                    || (l4 == proto::ICMPV6 && m.ip_version != 6);
                if wrong_family || !icmp_valid_new(l4, orig_type) {
                    Handled::Invalid(InvalidReason::IcmpNew)
                } else {
                    let t = self.timeouts_of(id).icmp;
                    self.set_timeout(id, now, t);
                    Handled::Valid
                }
            }
            _ => {
                let t = self.timeouts_of(id).generic;
                self.set_timeout(id, now, t);
                Handled::Valid
            }
        }
    }

    /// `nf_conntrack_tcp_packet`: the state machine and window tracking ([`tcp::tcp_packet`]),
    /// then what its verdict does to the entry.
    fn handle_tcp(&mut self, now: SimTime, m: &PacketMeta, e: OnEntry) -> Handled {
        let OnEntry {
            id,
            dir,
            status: st,
            new_entry,
        } = e;
        // The configuration and the entry's timeouts borrowed beside the entry (a field
        // each), not copied per packet.
        let c = &mut self.conns[id.0 as usize];
        let timeouts = policy_timeouts(&self.cfg, &self.policies, c.policy);
        let ProtoState::Tcp(t) = &mut c.proto else {
            unreachable!("TCP entry without TCP state")
        };
        match tcp::tcp_packet(t, dir, st, m, &self.cfg, timeouts) {
            TcpVerdict::Accept {
                timeout_secs,
                kill,
                assured,
            } => {
                if assured {
                    c.status |= status::ASSURED;
                }
                if let Some(s) = timeout_secs {
                    self.set_timeout(id, now, s);
                }
                if kill {
                    // nf_ct_kill_acct: the packet passes, the entry goes.
                    self.account(id, dir, m);
                    self.stats.killed += 1;
                    if new_entry {
                        // An unconfirmed entry dies with the packet's skb.
                        self.conns[id.0 as usize].status |= status::DYING;
                    } else {
                        self.remove(id);
                        return Handled::Killed;
                    }
                }
                Handled::Valid
            }
            TcpVerdict::Ignore => Handled::Valid,
            TcpVerdict::Invalid { lower_timeout } => {
                if lower_timeout {
                    let unack = self.timeouts_of(id).tcp[tcp::T_UNACK];
                    let left = self.conns[id.0 as usize].expires.0.saturating_sub(now.0);
                    if left >= secs(120) && left > secs(unack) {
                        self.set_expires(id, SimTime(now.0 + secs(unack)));
                    }
                }
                Handled::Invalid(InvalidReason::TcpWindow)
            }
            TcpVerdict::Repeat => {
                self.stats.killed += 1;
                self.remove(id);
                Handled::Repeat
            }
        }
    }

    fn account(&mut self, id: CtId, dir: Dir, m: &PacketMeta) {
        let c = &mut self.conns[id.0 as usize];
        c.packets[dir as usize] += 1;
        c.bytes[dir as usize] += u64::from(m.ip_len);
    }

    fn invalid(&mut self, r: InvalidReason) -> Track {
        self.stats.invalid += 1;
        Track::Invalid(r)
    }

    /// `init_conntrack`: a new, unconfirmed entry for a packet in the original direction.
    fn init(
        &mut self,
        now: SimTime,
        m: &PacketMeta,
        tuple: &FlowKey,
    ) -> Result<CtId, InvalidReason> {
        invert(tuple).ok_or(InvalidReason::IcmpNew)?;
        if let Some(max) = self.cfg.max_entries
            && self.live >= max
        {
            // __nf_conntrack_alloc: over nf_conntrack_max, early_drop() by the hash of the
            // ORIGINAL tuple, else "nf_conntrack: table full, dropping packet".
            if !self.early_drop(now, table::tuple_hash(tuple)) {
                self.stats.drop += 1;
                return Err(InvalidReason::TableFull);
            }
        }
        let proto = match m.l4proto {
            proto::TCP => ProtoState::Tcp(tcp::tcp_new(m, &self.cfg).ok_or(
                if m.tcp_flags & offsim_traces::meta::tcp_flags::SYN == 0 && !self.cfg.tcp_loose {
                    InvalidReason::TcpNoPickup
                } else {
                    InvalidReason::TcpState
                },
            )?),
            proto::UDP | proto::UDPLITE => ProtoState::Udp {
                stream_ts: SimTime(0),
            },
            _ => ProtoState::Other,
        };
        let id = self.alloc(Conn {
            tuple: tuple.into(),
            nat_reply: None,
            status: 0,
            expires: SimTime(0),
            proto,
            mark: 0,
            // Simulated time, like every other conntrack time (a replayed packet's `ts` is
            // its capture timestamp).
            created: now,
            packets: [0; 2],
            bytes: [0; 2],
            nat: NatBinding::default(),
            nat_done: [false; 2],
            rec: u32::MAX,
            policy: 0,
            event: 0,
            live: true,
        });
        self.stats.created += 1;
        Ok(id)
    }

    /// `early_drop` (`nf_conntrack_core.c`): from the bucket of `hash`, walks up to
    /// `NF_CT_EVICTION_RANGE` (8) consecutive buckets; in the first one that has any,
    /// deletes every entry that is neither ASSURED nor dying (`early_drop_list`), reaping
    /// expired entries met on the way (`nf_ct_gc_expired`). True when something was
    /// deleted. (The GC worker's own early drop above 95 % of the limit is not modelled.)
    fn early_drop(&mut self, now: SimTime, hash: u32) -> bool {
        const NF_CT_EVICTION_RANGE: u32 = 8;
        let size = self.table.buckets();
        let mut bucket = self.table.bucket_of(hash);
        let mut nodes = std::mem::take(&mut self.scratch);
        let mut dropped = false;
        for i in 0..NF_CT_EVICTION_RANGE {
            if i > 0 {
                bucket = (bucket + 1) % size;
            }
            self.table.bucket_nodes(bucket, &mut nodes);
            let mut drops = 0u64;
            for &n in &nodes {
                let id = CtId(n / 2);
                let c = &self.conns[id.0 as usize];
                // Both nodes of an entry may sit in one bucket: the first deletes it.
                if !c.live || c.status & status::CONFIRMED == 0 {
                    continue;
                }
                if c.expires <= now {
                    self.stats.expired += 1;
                    self.remove(id);
                    continue;
                }
                if c.status & (status::ASSURED | status::DYING) != 0 {
                    continue;
                }
                self.remove(id);
                drops += 1;
            }
            if drops > 0 {
                self.stats.early_drop += drops;
                self.stats.killed += drops;
                dropped = true;
                break;
            }
        }
        self.scratch = nodes;
        dropped
    }

    /// `nf_conntrack_inet_error`: an ICMP error is RELATED when the tuple it quotes belongs
    /// to a known connection whose destination in that direction is the error's destination.
    fn related(&mut self, now: SimTime, m: &PacketMeta) -> Track {
        let inner = m.inner.key;
        let needs_l4 = matches!(
            inner.proto,
            proto::TCP | proto::UDP | proto::UDPLITE | proto::SCTP | proto::ICMP | proto::ICMPV6
        );
        if !m.has(flags::ICMP_ERROR) || (needs_l4 && !m.inner.l4_present) {
            return self.invalid(InvalidReason::IcmpErrorUnknown);
        }
        let Some(look) = invert(&inner) else {
            return self.invalid(InvalidReason::IcmpErrorUnknown);
        };
        match self.lookup(now, &look) {
            Some((id, dir)) => {
                let c = &self.conns[id.0 as usize];
                let ct_dst = if dir == Dir::Original {
                    c.orig().dst
                } else {
                    c.reply().dst
                };
                if ct_dst != m.dst {
                    return self.invalid(InvalidReason::IcmpErrorUnknown);
                }
                let info = if dir == Dir::Reply {
                    CtInfo::RelatedReply
                } else {
                    CtInfo::Related
                };
                Track::Tracked {
                    id,
                    info,
                    new_entry: false,
                }
            }
            None => self.invalid(InvalidReason::IcmpErrorUnknown),
        }
    }

    /// Incremental garbage collection: reaps up to `budget` expired entries scanning from a
    /// cursor (the kernel's gc worker does the same in batches).
    pub fn gc(&mut self, now: SimTime, budget: usize) {
        let n = self.conns.len();
        if n == 0 {
            return;
        }
        for _ in 0..budget.min(n) {
            // a division per entry showed in `rules eval`'s profile; the cursor is below `n`
            // unless the table shrank
            let i = if self.gc_cursor < n {
                self.gc_cursor
            } else {
                self.gc_cursor % n
            };
            self.gc_cursor = i + 1;
            // `reap_at`: live, confirmed and expired, without reading the entry.
            if self.reap_at[i] <= now.0 {
                let c = &self.conns[i];
                debug_assert!(c.live && c.status & status::CONFIRMED != 0 && c.expires <= now);
                self.stats.expired += 1;
                self.remove(CtId(i as u32));
            }
        }
    }

    /// Finishes a packet's traversal: confirm its unconfirmed entry if it was accepted, free
    /// it if it was dropped; delete entries marked dying.
    pub fn finish(&mut self, now: SimTime, t: &Track, accepted: bool) -> bool {
        if let Track::Tracked {
            id,
            new_entry: true,
            ..
        } = *t
        {
            let dying = self.conns[id.0 as usize].status & status::DYING != 0;
            if !accepted || dying {
                self.discard(id);
                if dying {
                    self.stats.discarded -= 1;
                }
                return accepted;
            }
            return self.confirm(id, now);
        }
        accepted
    }
}

#[cfg(test)]
mod test;
