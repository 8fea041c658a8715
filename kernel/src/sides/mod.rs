//! Which side of the router a packet arrives on.
//!
//! * `single`: every packet arrives on the LAN interface (the simple oracle topology).
//! * `flow`: as a real router sees traffic: the first packet seen of a flow is the
//!   connection's ORIGINAL direction and arrives on the LAN side; the reverse tuple arrives on
//!   the WAN side. ICMP errors arrive on the side opposite to the flow they quote; a new flow
//!   between two addresses already seen takes the side of that address pair; protocols
//!   without ports are keyed by address pair (the classification the flowtable oracle's
//!   `split-dirs.py` uses, so both replay the same way).
//! * `lan=CIDR,…`: a packet whose source is in one of the prefixes arrives on the LAN side.
//! * `iface=ID:lan,ID:wan,…`: by the capture's interface (the pcapng interface id; 0 for a
//!   pcap): a Wireshark capture of `br-lan` and `wan` at once says which side each packet
//!   was seen on. Such a capture holds every forwarded packet twice, as it arrived and as it
//!   left: the copy that left (one hop later, `dups.rs`) is not an arrival and
//!   [`SideSplitter::arrival`] skips it. An interface the map does not name is LAN.
//!
//! In `flow` mode the splitter remembers tuples (13 bytes of key for IPv4; a tuple and its
//! reverse under one key, so the lookups a new tuple makes are one probe) and address pairs,
//! and forgets a tuple once it has been idle for longer than conntrack could still hold its
//! connection (the longest timeout of the states the packets seen put it in, kernel defaults
//! or OpenWrt's, whichever is longer), or — when conntrack has a limit
//! (`nf_conntrack_max`) — once conntrack no longer holds it and its last packet has had
//! time to reach conntrack: after that the kernel, too, would treat its next packet as a
//! new connection. So memory follows the flows alive, not the length of the trace, and runs
//! whose flows never sit idle that long are unaffected. It also counts, per address, the
//! remembered tuples sent from the LAN side: the LAN hosts the router has routes to.

use crate::dups::{CopyKind, DupFinder};
use offsim_traces::meta::{FlowKey, PacketMeta, flags, is_icmp_echo, proto, tcp_flags};
use offsim_traces::time::{NS_PER_SEC, SimTime};
use offsim_traces::tuple::{AddrMap, PairMap, TupleMap};

use crate::conntrack::Conntrack;

mod entry;
mod mode;
mod prefetch;
#[cfg(test)]
mod reference;
mod wan;
pub use mode::{Prefix, SideMode};
pub use wan::WanHint;

use entry::{Both, FOREVER, Pair, PairBoth, Seen, TCP_CLOSING_S, arrivals_since, secs_up};

/// LAN or WAN.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Side {
    /// Arrives on the LAN interface (`--iif`).
    Lan,
    /// Arrives on the WAN interface (`--oif`).
    Wan,
}

impl Side {
    fn flip(self) -> Side {
        match self {
            Side::Lan => Side::Wan,
            Side::Wan => Side::Lan,
        }
    }
}

/// How often idle tuples are swept, in simulated time.
const SWEEP_NS: u64 = 10 * NS_PER_SEC;
/// A sweep also runs once the table has grown to twice what the last one kept (and at least
/// this many): the cost of sweeping stays proportional to the tuples inserted.
const SWEEP_MIN_TUPLES: usize = 65_536;

/// Where a tuple `k` and its partner `rk` (its reverse, as [`keys`] gives them) are kept:
/// the key of their entry (the smaller of the two) and the half of that entry each of them
/// owns. A tuple that is its own partner owns half 0 as both.
#[inline]
fn orient(k: &FlowKey, rk: &FlowKey) -> (FlowKey, usize, usize) {
    match k.cmp(rk) {
        std::cmp::Ordering::Equal => (*k, 0, 0),
        std::cmp::Ordering::Less => (*k, 0, 1),
        std::cmp::Ordering::Greater => (*rk, 1, 0),
    }
}

/// The partner [`keys`] gives the tuple `k`: its reverse; an ICMP echo key swaps its
/// addresses only (both directions key by the identifier).
fn partner(k: &FlowKey) -> FlowKey {
    if matches!(k.proto, proto::ICMP | proto::ICMPV6) && k.dport == ECHO_MARK {
        FlowKey {
            src: k.dst,
            dst: k.src,
            ..*k
        }
    } else {
        k.reversed()
    }
}

/// Where the address pair `src` → `dst` and its reverse are kept: the key of their entry
/// (the smaller address first) and the half each owns, as [`orient`] for tuples.
#[inline]
fn orient_pair(src: u128, dst: u128) -> (u128, u128, usize, usize) {
    match src.cmp(&dst) {
        std::cmp::Ordering::Equal => (src, dst, 0, 0),
        std::cmp::Ordering::Less => (src, dst, 0, 1),
        std::cmp::Ordering::Greater => (dst, src, 1, 0),
    }
}

/// The largest [`SweepCtx::grace`] a sweep honours: an entry keeps the arrival number of a
/// tuple's last packet in [`entry::ARRIVAL_BITS`] bits, which tell ages apart up to 2^30
/// arrivals. Only a machine of more than 512 cores with rings of a million slots each has
/// more packets on their way (`cpu.cores` ≤ 1024, `cpu.rx_ring` ≤ 2^20).
pub const MAX_GRACE: u32 = entry::ARRIVAL_MASK >> 1;

/// What a sweep needs from the caller: which remembered tuples conntrack still holds, how
/// many of the latest arrivals may still be on their way to conntrack, and who to tell
/// about a LAN address no remembered tuple uses any more.
pub struct SweepCtx<'a> {
    /// `Some`: conntrack has a limit, and a tuple it does not hold (`alive` false) is
    /// forgotten once its last packet is older than `grace` arrivals.
    pub alive: Option<&'a dyn Fn(&FlowKey) -> bool>,
    /// Arrivals that may not have reached conntrack yet (RX rings, NIC queues). At most
    /// [`MAX_GRACE`] counts: a larger one is taken as that.
    pub grace: u32,
    /// Called with (version, address) for each LAN-side source no remembered tuple uses.
    pub forgot_lan_host: &'a mut dyn FnMut(u8, u128),
}

/// Assigns sides to packets in trace order.
#[derive(Debug)]
pub struct SideSplitter {
    mode: SideMode,
    /// The tuples remembered, both directions of a connection under one key ([`Both`]).
    seen: TupleMap<Both>,
    /// Tuples in `seen` (halves held).
    tuples: usize,
    /// Side of an address pair (keyed as a tuple without ports), and how many remembered
    /// tuples use it; both directions under one key.
    pairs: PairMap<PairBoth>,
    /// LAN-side source addresses, and how many remembered LAN-side tuples they send.
    lan_hosts: AddrMap<u32>,
    next_sweep: u64,
    /// Tuples kept by the last sweep.
    kept: usize,
    /// No remembered tuple is forgotten by idleness before this second: a lower bound on
    /// their `expires_s`, lowered by every packet that sets one and made exact by each pass
    /// of a sweep. A sweep before it has nothing idle to forget, and without conntrack's
    /// limit nothing else: it would keep every entry, so it skips the pass over them (on a
    /// capture shorter than the horizons, a SYN flood, every sweep was such a pass).
    soonest_s: u32,
    /// Arrivals so far (wrapping).
    arrivals: u32,
    remember_all: bool,
    /// `iface` mode: the forwarded copies to skip.
    dups: Option<Box<DupFinder>>,
    /// Packets on an interface the `iface` map does not name (taken as LAN).
    pub unmapped: u64,
    /// New tuples among this window's arrivals (`prefetch.rs`).
    window_new: u32,
    /// The last window's arrivals were new tuples often enough for
    /// [`SideSplitter::prefetch`] to pay.
    prefetching: bool,
}

/// The `dport` of an ICMP echo key (never that of an address-pair key, whose ports are 0).
const ECHO_MARK: u16 = u16::MAX;

/// The key of a packet (`ports_ok`: transport ports present; `echo_ok`: an ICMP echo, keyed
/// by its identifier) and of its reverse.
fn keys(
    version: u8,
    l4: u8,
    src: u128,
    dst: u128,
    (sport, dport): (u16, u16),
    ports_ok: bool,
    echo_ok: bool,
) -> (FlowKey, FlowKey) {
    let k = |sport: u16, dport: u16| FlowKey {
        src,
        dst,
        sport,
        dport,
        proto: l4,
        version,
    };
    if ports_ok
        && matches!(
            l4,
            proto::TCP | proto::UDP | proto::UDPLITE | proto::SCTP | 33
        )
    {
        let key = k(sport, dport);
        return (key, key.reversed());
    }
    if echo_ok {
        // Echo request and reply share the identifier: both directions key by it alone.
        let key = k(sport, ECHO_MARK);
        let mut rev = key.reversed();
        rev.sport = sport;
        rev.dport = ECHO_MARK;
        return (key, rev);
    }
    let key = k(0, 0);
    (key, key.reversed())
}

/// [`keys`] of an IP packet: by ports, by an ICMP echo's identifier, else by addresses.
#[inline]
fn packet_keys(m: &PacketMeta) -> (FlowKey, FlowKey) {
    let icmp = matches!(m.l4proto, proto::ICMP | proto::ICMPV6);
    let echo = icmp && m.l4_present() && is_icmp_echo(m.l4proto, m.icmp_type);
    keys(
        m.ip_version,
        m.l4proto,
        m.src,
        m.dst,
        (m.sport, m.dport),
        m.has(flags::PORTS),
        echo,
    )
}

impl SideSplitter {
    /// A splitter.
    pub fn new(mode: SideMode) -> Self {
        SideSplitter {
            dups: matches!(mode, SideMode::Iface(_)).then(|| Box::new(DupFinder::new())),
            mode,
            seen: TupleMap::new(),
            tuples: 0,
            pairs: PairMap::default(),
            lan_hosts: AddrMap::default(),
            next_sweep: SWEEP_NS,
            kept: 0,
            soonest_s: FOREVER,
            arrivals: 0,
            remember_all: false,
            unmapped: 0,
            window_new: 0,
            prefetching: false,
        }
    }

    /// A splitter that never forgets a tuple (as the kernel oracle's `split-dirs.py` does),
    /// for replays that must match it packet for packet whatever the gaps in the capture.
    pub fn remembering_all(mut self) -> Self {
        self.next_sweep = u64::MAX;
        self.remember_all = true;
        self
    }

    /// Tuples remembered (`flow` mode).
    pub fn tuples(&self) -> usize {
        self.tuples
    }

    /// The mode.
    pub fn mode(&self) -> &SideMode {
        &self.mode
    }

    /// The side the next packet of the trace arrives on, or `None` when it is not an arrival:
    /// in `iface` mode, the copy of a packet already seen arriving, captured again as the
    /// router sent it on (see `dups.rs`).
    pub fn arrival(&mut self, m: &PacketMeta, now: SimTime) -> Option<Side> {
        if self.forwarded_copy(m) {
            return None;
        }
        Some(self.side(m, now))
    }

    /// Whether the next packet of the trace is, in `iface` mode, the copy of one already
    /// seen arriving, captured again as the router sent it on.
    pub fn forwarded_copy(&mut self, m: &PacketMeta) -> bool {
        self.dups
            .as_mut()
            .is_some_and(|d| d.check(m) == CopyKind::Forwarded)
    }

    /// The packets found twice in `iface` mode: (forwarded copies skipped, originals found
    /// after their copy and so counted twice).
    pub fn copies(&self) -> (u64, u64) {
        self.dups
            .as_ref()
            .map_or((0, 0), |d| (d.forwarded, d.arrived_late))
    }

    /// The side of the next packet of the trace, arriving at `now` (times never go back).
    /// Sweeps idle tuples when due (see [`SideSplitter::sweep`] for a sweep that also
    /// follows conntrack).
    pub fn side(&mut self, m: &PacketMeta, now: SimTime) -> Side {
        if self.sweep_due(now) {
            self.sweep(
                now,
                SweepCtx {
                    alive: None,
                    grace: 0,
                    forgot_lan_host: &mut |_, _| {},
                },
            );
        }
        self.side_of(m, now).0
    }

    /// The side of the next packet, and whether it made its source a new LAN host (its
    /// first remembered LAN-side tuple). Does not sweep.
    pub fn side_of(&mut self, m: &PacketMeta, now: SimTime) -> (Side, bool) {
        self.arrivals = self.arrivals.wrapping_add(1);
        match &self.mode {
            SideMode::Single => (Side::Lan, false),
            SideMode::Iface(map) => match map.iter().find(|(i, _)| *i == m.iface) {
                Some((_, s)) => (*s, false),
                None => {
                    self.unmapped += 1;
                    (Side::Lan, false)
                }
            },
            SideMode::Lan(ps) => {
                if ps.iter().any(|p| p.contains(m.ip_version, m.src)) {
                    (Side::Lan, false)
                } else {
                    (Side::Wan, false)
                }
            }
            SideMode::Flow => {
                let r = self.flow_side(m, now.0);
                self.close_window();
                r
            }
        }
    }

    /// Whether a sweep is due: every 10 s of simulated time, or once the table doubled.
    #[inline]
    pub fn sweep_due(&self, now: SimTime) -> bool {
        !self.remember_all
            && self.mode == SideMode::Flow
            && (now.0 >= self.next_sweep || self.tuples >= (2 * self.kept).max(SWEEP_MIN_TUPLES))
    }

    /// Forgets tuples idle past their horizon — or, when conntrack has a limit, tuples it
    /// no longer holds (their connection no longer exists: the kernel would treat the next
    /// packet as new) — and the address pairs and LAN hosts no tuple uses any more.
    pub fn sweep(&mut self, now: SimTime, ctx: SweepCtx<'_>) {
        let now_s = now.0 / NS_PER_SEC;
        let SweepCtx {
            alive,
            grace,
            forgot_lan_host,
        } = ctx;
        // The pass runs unless it would keep every entry: nothing idle yet (`soonest_s`) and
        // nothing gone (no conntrack limit). A table may still have turned sparse since the
        // last pass (an in-place rehash frees the slots its removals left), so the shrinking
        // below runs either way.
        if alive.is_some() || u64::from(self.soonest_s) < now_s {
            self.pass(now_s, alive, grace, forgot_lan_host);
        }
        self.seen.shrink_if_sparse();
        self.pairs.shrink_if_sparse();
        self.lan_hosts.shrink_if_sparse();
        self.kept = self.tuples;
        self.next_sweep = now.0.saturating_add(SWEEP_NS);
    }

    /// [`SideSplitter::sweep`]'s pass over the tuples: forgets the idle and gone ones (and
    /// the address pairs and LAN hosts they alone used), and makes [`SideSplitter::soonest_s`]
    /// exact.
    fn pass(
        &mut self,
        now_s: u64,
        alive: Option<&dyn Fn(&FlowKey) -> bool>,
        grace: u32,
        forgot_lan_host: &mut dyn FnMut(u8, u128),
    ) {
        let arrivals = self.arrivals;
        let grace = grace.min(MAX_GRACE);
        let (pairs, hosts) = (&mut self.pairs, &mut self.lan_hosts);
        let tuples = &mut self.tuples;
        let mut soonest = FOREVER;
        self.seen.retain(|c, both| {
            for h in 0..2 {
                let Some(e) = both.get(h) else {
                    continue;
                };
                let k = if h == 0 { *c } else { partner(c) };
                let idle = e.expires_s != FOREVER && u64::from(e.expires_s) < now_s;
                let gone = !idle
                    && alive
                        .is_some_and(|f| arrivals_since(arrivals, e.last_pkt) > grace && !f(&k));
                if !idle && !gone {
                    soonest = soonest.min(e.expires_s);
                    continue;
                }
                both.set(h, None);
                *tuples -= 1;
                let (lo, hi, ph, _) = orient_pair(k.src, k.dst);
                if let Some(pb) = pairs.get_mut(k.version, lo, hi)
                    && let Some(p) = &mut pb.0[ph]
                {
                    p.n -= 1;
                    if p.n == 0 {
                        pb.0[ph] = None;
                        if pb.0.iter().all(Option::is_none) {
                            pairs.remove(k.version, lo, hi);
                        }
                    }
                }
                if e.side == Side::Lan
                    && let Some(n) = hosts.get_mut(k.version, k.src)
                {
                    *n -= 1;
                    if *n == 0 {
                        hosts.remove(k.version, k.src);
                        forgot_lan_host(k.version, k.src);
                    }
                }
            }
            !both.is_empty()
        });
        self.soonest_s = soonest;
    }

    fn flow_side(&mut self, m: &PacketMeta, now: u64) -> (Side, bool) {
        if !m.is_ip() {
            return (Side::Lan, false);
        }
        let icmp = matches!(m.l4proto, proto::ICMP | proto::ICMPV6);
        let v = m.ip_version;
        let (k, rk) = packet_keys(m);
        let mut side = None;
        if icmp && m.has(flags::ICMP_ERROR) {
            let i = m.inner.key;
            let inner_echo = matches!(i.proto, proto::ICMP | proto::ICMPV6)
                && m.inner.l4_present
                && is_icmp_echo(i.proto, (i.dport >> 8) as u8);
            let ports_ok = m.inner.l4_present;
            let (ik, irk) = keys(
                i.version,
                i.proto,
                i.src,
                i.dst,
                (i.sport, i.dport),
                ports_ok,
                inner_echo,
            );
            let (ic, ih, irh) = orient(&ik, &irk);
            // the quoted tuple's side, else the opposite of its reverse's
            let ik_side = self.seen.get(&ic).and_then(|b| {
                b.get(ih)
                    .map(|e| e.side)
                    .or_else(|| b.get(irh).map(|e| e.side.flip()))
            });
            side = ik_side.map(Side::flip);
        }
        let closing = m.l4proto == proto::TCP
            && m.l4_present()
            && m.tcp_flags & (tcp_flags::FIN | tcp_flags::RST) != 0;
        let arrivals = self.arrivals;
        let (c, h, rh) = orient(&k, &rk);
        // The entry of the tuple and its reverse: a tuple not yet remembered is about to be.
        let both = self.seen.get_or_insert_with(&c, Both::default);
        // A tuple already seen keeps its side (an ICMP error takes the side opposite to the
        // flow it quotes), and its address pair is already recorded: the two are remembered
        // and forgotten together and `k` names the same addresses.
        let (side, new_host) = if let Some(mut e) = both.get(h) {
            e.touch(m, now);
            self.soonest_s = self.soonest_s.min(e.expires_s);
            e.last_pkt = arrivals;
            both.set(h, Some(e));
            (side.unwrap_or(e.side), false)
        } else {
            // The pair's entry, likewise: this tuple is about to use it.
            let (lo, hi, ph, prh) = orient_pair(m.src, m.dst);
            let pb = self.pairs.get_or_insert_with(v, lo, hi, PairBoth::default);
            let side = side
                .or_else(|| both.get(rh).map(|e| e.side.flip()))
                .or_else(|| pb.0[ph].map(|p| p.side))
                .or_else(|| pb.0[prh].map(|p| p.side.flip()))
                .unwrap_or(Side::Lan);
            let mut e = Seen {
                side,
                closing: false,
                expires_s: 0,
                last_pkt: arrivals,
            };
            e.touch(m, now);
            self.soonest_s = self.soonest_s.min(e.expires_s);
            both.set(h, Some(e));
            self.tuples += 1;
            self.window_new += 1;
            pb.0[ph].get_or_insert(Pair { side, n: 0 }).n += 1;
            let mut new_host = false;
            if side == Side::Lan {
                let n = self.lan_hosts.get_or_insert_with(v, m.src, || 0);
                new_host = *n == 0;
                *n += 1;
            }
            (side, new_host)
        };
        if closing && let Some(mut r) = both.get(rh) {
            // The connection is closing in both directions.
            r.closing = true;
            r.expires_s = 0;
            r.extend(secs_up(now) + TCP_CLOSING_S);
            self.soonest_s = self.soonest_s.min(r.expires_s);
            both.set(rh, Some(r));
        }
        (side, new_host)
    }
}

/// Whether conntrack holds a connection for a tuple the splitter remembers (either
/// direction; an ICMP echo key stands for the request and the reply tuples).
pub fn conntrack_holds(ct: &Conntrack, now: SimTime, k: &FlowKey) -> bool {
    if matches!(k.proto, proto::ICMP | proto::ICMPV6) && k.dport == ECHO_MARK {
        let (req, rep) = if k.proto == proto::ICMP {
            (8u16, 0u16)
        } else {
            (128, 129)
        };
        return [req, rep].iter().any(|t| {
            let mut q = *k;
            q.dport = t << 8;
            ct.peek(now, &q).is_some()
        });
    }
    ct.peek(now, k).is_some()
}

#[cfg(test)]
mod test {
    use super::entry::TCP_HANDSHAKE_S;
    use super::*;
    use offsim_traces::meta::tcp_flags::{ACK, FIN, SYN};
    use offsim_traces::testkit::Pkt;

    const T0: SimTime = SimTime(0);

    fn at(secs: u64) -> SimTime {
        SimTime(secs * NS_PER_SEC)
    }

    /// A sweep before the soonest horizon keeps every tuple without a pass over them;
    /// with conntrack's limit it makes the pass; past the horizon it forgets them; and a
    /// FIN that shortens a tuple's horizon lowers the bound.
    #[test]
    fn sweeps_before_the_soonest_horizon_keep_everything() {
        let sweep = |s: &mut SideSplitter, t: SimTime, alive: Option<&dyn Fn(&FlowKey) -> bool>| {
            s.sweep(
                t,
                SweepCtx {
                    alive,
                    grace: 0,
                    forgot_lan_host: &mut |_, _| {},
                },
            )
        };
        let syn = |i: u32| {
            Pkt::tcp4(
                &format!("10.0.{}.{}:{}", i >> 8, i & 255, 1000 + i),
                "192.0.2.1:80",
            )
            .flags(SYN)
            .build()
        };
        let flood = || {
            let mut s = SideSplitter::new(SideMode::Flow);
            for i in 0..2000 {
                s.side(&syn(i), at(1));
            }
            s
        };
        let mut s = flood();
        assert_eq!(u64::from(s.soonest_s), 1 + TCP_HANDSHAKE_S);
        sweep(&mut s, at(100), None);
        assert_eq!((s.tuples(), s.kept), (2000, 2000));
        // conntrack holds none of them: the pass runs and forgets all but the latest
        // arrival's (which may still be on its way to conntrack)
        let mut limited = flood();
        sweep(&mut limited, at(100), Some(&|_: &FlowKey| false));
        assert_eq!(limited.tuples(), 1);
        // A grace past what an entry's 30-bit arrival number can tell is taken as the
        // largest it can: within it a tuple is kept, past it forgotten.
        for (later, kept) in [(MAX_GRACE, 1), (MAX_GRACE + 1, 0)] {
            let mut s = SideSplitter::new(SideMode::Flow);
            s.side(&syn(0), at(1));
            s.arrivals = s.arrivals.wrapping_add(later);
            s.sweep(
                at(100),
                SweepCtx {
                    alive: Some(&|_: &FlowKey| false),
                    grace: u32::MAX,
                    forgot_lan_host: &mut |_, _| {},
                },
            );
            assert_eq!(s.tuples(), kept, "{later} arrivals later");
        }
        sweep(&mut s, at(2 + TCP_HANDSHAKE_S), None);
        assert_eq!((s.tuples(), s.soonest_s), (0, FOREVER));
        // An established connection is never idle; a FIN brings the bound down to the
        // closing horizon (sent by the server: the reverse half; by the client, its reverse
        // never seen: the packet's own half), and a sweep past it forgets the connection.
        let (client, server) = ("10.9.9.9:5555", "192.0.2.1:80");
        for (from, to, fin_s) in [(server, client, 1000), (client, server, 50)] {
            let mut s = SideSplitter::new(SideMode::Flow);
            s.side(&Pkt::tcp4(client, server).flags(ACK).build(), at(1));
            assert_eq!(s.soonest_s, FOREVER);
            sweep(&mut s, at(fin_s), None);
            assert_eq!(s.tuples(), 1);
            s.side(&Pkt::tcp4(from, to).flags(FIN | ACK).build(), at(fin_s));
            assert_eq!(u64::from(s.soonest_s), fin_s + TCP_CLOSING_S);
            sweep(&mut s, at(fin_s + 1 + TCP_CLOSING_S), None);
            assert_eq!((s.tuples(), s.soonest_s), (0, FOREVER));
        }
    }

    #[test]
    fn flow_mode_first_packet_is_lan() {
        let mut s = SideSplitter::new(SideMode::Flow);
        let q = Pkt::udp("192.0.2.1:1000", "198.51.100.9:53").build();
        let r = Pkt::udp("198.51.100.9:53", "192.0.2.1:1000").build();
        assert_eq!(s.side(&q, T0), Side::Lan);
        assert_eq!(s.side(&r, T0), Side::Wan);
        assert_eq!(s.side(&q, T0), Side::Lan);
        // A new flow between addresses already seen takes the side of the address pair
        // (split-dirs.py does the same), so a server's new flow to the client is WAN side.
        let other = Pkt::udp("198.51.100.9:999", "192.0.2.1:7").build();
        assert_eq!(s.side(&other, T0), Side::Wan);
        // A new flow between new addresses is LAN side.
        let fresh = Pkt::udp("203.0.113.5:999", "192.0.2.77:7").build();
        assert_eq!(s.side(&fresh, T0), Side::Lan);
        // ICMP error about the first flow, sent by some router towards the client: WAN.
        let err = Pkt::icmp("203.0.113.1", "192.0.2.1", 3, 3, 0)
            .quoting(&q)
            .build();
        assert_eq!(s.side(&err, T0), Side::Wan);
        // Echo request/reply.
        let e = Pkt::icmp("192.0.2.1", "198.51.100.9", 8, 0, 5).build();
        let er = Pkt::icmp("198.51.100.9", "192.0.2.1", 0, 0, 5).build();
        assert_eq!(s.side(&e, T0), Side::Lan);
        assert_eq!(s.side(&er, T0), Side::Wan);
    }

    #[test]
    fn prefix_mode() {
        let mut s = SideSplitter::new(SideMode::parse("lan=192.0.2.0/24,2001:db8:1::/48").unwrap());
        assert_eq!(
            s.side(&Pkt::udp("192.0.2.7:1", "198.51.100.1:2").build(), T0),
            Side::Lan
        );
        assert_eq!(
            s.side(&Pkt::udp("198.51.100.1:2", "192.0.2.7:1").build(), T0),
            Side::Wan
        );
        assert_eq!(
            s.side(
                &Pkt::udp("[2001:db8:1::5]:1", "[2001:db8:2::1]:2").build(),
                T0
            ),
            Side::Lan
        );
        assert!(SideMode::parse("lan=").is_err());
        assert!(SideMode::parse("lan=300.1.1.1/8").is_err());
        assert!(SideMode::parse("both").is_err());
    }

    #[test]
    fn iface_mode_maps_interfaces_and_skips_forwarded_copies() {
        let m = SideMode::parse("iface=0:lan,1:wan").unwrap();
        assert_eq!(m, SideMode::Iface(vec![(0, Side::Lan), (1, Side::Wan)]));
        for bad in [
            "iface=",
            "iface=0:lan",
            "iface=0:lan,0:wan",
            "iface=x:wan",
            "iface=1:up",
        ] {
            assert!(SideMode::parse(bad).is_err(), "{bad}");
        }
        let mut s = SideSplitter::new(m);
        let mut q = Pkt::udp("192.168.1.10:5000", "198.51.100.1:53")
            .ttl(64)
            .build();
        let mut q2 = Pkt::udp("203.0.113.2:5000", "198.51.100.1:53")
            .ttl(63)
            .build();
        let mut r = Pkt::udp("198.51.100.1:53", "203.0.113.2:5000")
            .ttl(60)
            .build();
        let mut r2 = Pkt::udp("198.51.100.1:53", "192.168.1.10:5000")
            .ttl(59)
            .build();
        (q.iface, q2.iface, r.iface, r2.iface) = (0, 1, 1, 0);
        assert_eq!(s.arrival(&q, T0), Some(Side::Lan));
        assert_eq!(s.arrival(&q2, T0), None);
        assert_eq!(s.arrival(&r, T0), Some(Side::Wan));
        assert_eq!(s.arrival(&r2, T0), None);
        assert_eq!(s.copies(), (2, 0));
        let mut other = Pkt::udp("192.168.1.11:1", "198.51.100.1:2").build();
        other.iface = 7;
        assert_eq!(s.arrival(&other, T0), Some(Side::Lan));
        assert_eq!(s.unmapped, 1);
    }

    /// An idle tuple is forgotten once conntrack could no longer hold it; a busy one never.
    #[test]
    fn idle_tuples_are_forgotten_after_their_horizon() {
        let mut s = SideSplitter::new(SideMode::Flow);
        let q = Pkt::udp("192.0.2.1:1000", "198.51.100.9:53").build();
        let r = Pkt::udp("198.51.100.9:53", "192.0.2.1:1000").build();
        assert_eq!(s.side(&q, at(0)), Side::Lan);
        assert_eq!(s.side(&r, at(1)), Side::Wan);
        // Within the UDP horizon (180 s after the last packet) the reply keeps its side.
        assert_eq!(s.side(&r, at(170)), Side::Wan);
        assert_eq!(s.tuples(), 2);
        // Long after: both tuples and the address pairs are gone, the next packet starts a
        // new flow and is LAN side, as a fresh conntrack entry's ORIGINAL direction.
        let other = Pkt::udp("203.0.113.5:9", "192.0.2.77:7").build();
        s.side(&other, at(1000));
        assert_eq!(s.tuples(), 1);
        assert!(s.pairs.len() == 1, "{:?}", s.pairs);
        assert_eq!(s.side(&r, at(1001)), Side::Lan);

        // An established TCP connection is remembered however long it is idle.
        let mut s = SideSplitter::new(SideMode::Flow);
        let c = "192.0.2.10:40000";
        let v = "198.51.100.1:443";
        assert_eq!(
            s.side(&Pkt::tcp4(c, v).flags(SYN).build(), at(0)),
            Side::Lan
        );
        assert_eq!(
            s.side(&Pkt::tcp4(v, c).flags(SYN | ACK).build(), at(0)),
            Side::Wan
        );
        s.side(&Pkt::tcp4(c, v).flags(ACK).build(), at(0));
        let late = Pkt::tcp4(v, c).flags(ACK).payload(100).build();
        assert_eq!(s.side(&late, at(100_000)), Side::Wan);
        // After FIN both directions close: 120 s later they are forgotten.
        s.side(&Pkt::tcp4(c, v).flags(FIN | ACK).build(), at(100_001));
        s.side(&Pkt::tcp4(v, c).flags(FIN | ACK).build(), at(100_001));
        s.side(
            &Pkt::udp("203.0.113.5:9", "192.0.2.77:7").build(),
            at(100_200),
        );
        assert_eq!(s.tuples(), 1);

        // An unanswered SYN (a flood's spoofed source) goes after the handshake timeout.
        let mut s = SideSplitter::new(SideMode::Flow);
        s.side(&Pkt::tcp4("203.0.113.9:1234", v).flags(SYN).build(), at(0));
        s.side(&Pkt::udp("203.0.113.5:9", "192.0.2.77:7").build(), at(119));
        assert_eq!(s.tuples(), 2);
        s.side(&Pkt::udp("203.0.113.5:9", "192.0.2.77:7").build(), at(200));
        assert_eq!(s.tuples(), 1);
    }

    /// A tuple and its partner share one entry, each in its own half, and the sweep's
    /// [`partner`] gives back the tuple of the other half: for ports, for an ICMP echo key
    /// (identifier only), for a protocol without ports, and for a tuple that is its own
    /// partner (one half serves as both).
    #[test]
    fn a_tuple_and_its_partner_share_an_entry() {
        let cases = [
            keys(4, proto::TCP, 1, 2, (10, 20), true, false),
            keys(6, proto::UDP, 9, 3, (53, 4000), true, false),
            keys(4, proto::ICMP, 1, 2, (7, 0), false, true),
            keys(6, proto::ICMPV6, 5, 4, (7, 0), false, true),
            keys(4, 47, 8, 2, (0, 0), false, false),
            keys(4, proto::UDP, 1, 1, (5, 5), true, false),
        ];
        for (k, rk) in cases {
            assert_eq!(partner(&k), rk, "{k:?}");
            assert_eq!(partner(&rk), k, "{k:?}");
            let (c, h, rh) = orient(&k, &rk);
            let (c2, h2, rh2) = orient(&rk, &k);
            assert_eq!((c, h, rh), (c2, rh2, h2), "{k:?}");
            let of_half = |h: usize| if h == 0 { c } else { partner(&c) };
            assert_eq!(of_half(h), k);
            assert_eq!(of_half(rh), rk);
            assert_eq!(h == rh, k == rk);
        }
        assert_eq!(orient_pair(1, 2), (1, 2, 0, 1));
        assert_eq!(orient_pair(2, 1), (1, 2, 1, 0));
        assert_eq!(orient_pair(3, 3), (3, 3, 0, 0));
        // An echo request and its reply: the reply is WAN side, and both are one entry.
        let mut s = SideSplitter::new(SideMode::Flow);
        let req = Pkt::icmp("192.0.2.1", "198.51.100.9", 8, 0, 77).build();
        let rep = Pkt::icmp("198.51.100.9", "192.0.2.1", 0, 0, 77).build();
        assert_eq!(s.side(&req, T0), Side::Lan);
        assert_eq!(s.side(&rep, T0), Side::Wan);
        assert_eq!((s.tuples(), s.seen.len(), s.pairs.len()), (2, 1, 1));
    }

    /// `remembering_all` never forgets (kernel-oracle replays).
    #[test]
    fn remembering_all_keeps_everything() {
        let mut s = SideSplitter::new(SideMode::Flow).remembering_all();
        let q = Pkt::udp("192.0.2.1:1000", "198.51.100.9:53").build();
        let r = Pkt::udp("198.51.100.9:53", "192.0.2.1:1000").build();
        s.side(&q, at(0));
        assert_eq!(s.side(&r, at(1_000_000)), Side::Wan);
        assert_eq!(s.tuples(), 2);
    }
}
