//! Port groups: a second index over the table's tuples for masquerade's port search under
//! exhaustion.
//!
//! When SNAT must move a connection to another source port, the kernel tries up to 248
//! ports (128, then 64, 32, 16 and 8 from new offsets: `nf_nat_l4proto_unique_tuple`), each
//! with a conntrack lookup of the reply tuple it would give (`nf_nat_used_tuple` →
//! `nf_conntrack_tuple_taken`). Those reply tuples differ only in their destination port:
//! (server, server port) → (NAT address, candidate port). Once a flood behind masquerade has
//! used every port towards a server, every new connection runs all 248 lookups, each of
//! which finds a random entry: in offsim's table two cache misses apiece (the index and the
//! entry's tuple), and 80 % of `rules eval`'s time on a SYN flood.
//!
//! A *group* is the set of tuples that are equal but for the destination port (the key is
//! the tuple with destination port 0). For a group that holds many tuples, [`PortGroups`]
//! keeps, for each port, the node holding it and a lower bound of that entry's expiry in
//! whole seconds. A round's candidates are consecutive ports ([`Round`]), so the search
//! reads them in order from one array, eight bounds at a time: a candidate whose bound is
//! past `now` is held without reading its entry (a random read, half of a flood's port
//! search even when asked for ahead of time).
//! The bound stays a lower bound because every write of an entry's expiry goes through
//! [`super::Conntrack`], which tells the group when it lowers one (`lowered`); a raised
//! expiry leaves the bound low, and the search then reads the entry once and raises the
//! bound. The answer is the table's own: a group is indexed from the nodes the table's hash
//! index holds (read in the entries' order) and then follows every insertion and removal of
//! its tuples; a group that ever holds a tuple twice (an entry whose two tuples are equal)
//! is dropped, as which node a lookup finds would then depend on the hash table's probe
//! order, and the search falls back to hash lookups. The same slots answer whether the
//! table holds a tuple at all ([`PortGroups::holds`]), which the clash check of a
//! confirmation asks of every new connection's reply tuple: once a flood has taken the
//! ports, each such tuple is held, and the lookup read the entry holding it. Nothing here
//! models the kernel; it only makes the same lookups cheaper.
//!
//! Memory: a group is indexed only when it holds [`INDEX_AT`] tuples and dropped below
//! [`DROP_BELOW`], so its 512 KB cost at most 256 bytes per live tuple. Indexing reads the
//! whole table (and indexes every group large enough towards the same address, protocol and
//! family as the one searched: the NAT address's groups); it is allowed again only after
//! the table has taken, or port searches have looked up, half as many tuples as it holds, so
//! the reads cost no more than the work they follow.

use offsim_traces::hash::FxHashMap;
use offsim_traces::meta::{FlowKey, proto};
use offsim_traces::time::{NS_PER_SEC, SimTime};

/// No node.
const NIL: u32 = u32::MAX;

/// A port of a group: the node holding it ([`NIL`]: none) and a lower bound of that node's
/// entry's expiry, in whole seconds (0 when empty).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Slot {
    node: u32,
    held_s: u32,
}

const EMPTY: Slot = Slot {
    node: NIL,
    held_s: 0,
};

/// Whole seconds of `t`, rounded down (a lower bound), saturating.
#[inline]
fn floor_s(t: SimTime) -> u32 {
    u32::try_from(t.0 / NS_PER_SEC).unwrap_or(u32::MAX)
}

/// The first of `run` (a group's slots for consecutive ports) that no entry unexpired at
/// `now` holds, raising the bounds of the held ones whose entry it read. Eight at a time:
/// on a flood that took the range, a port search looks at 248 candidates whose bounds all
/// say held, and eight bounds compare in a few vector instructions where one by one they
/// took a tenth of `rules eval`. A group of eight that a bound cannot settle is read port
/// by port, in order, as before.
#[inline]
fn first_free_in(run: &mut [Slot], now: SimTime, expires: impl Fn(u32) -> SimTime) -> Option<u32> {
    // a bound at or below `now_s` cannot say held (above `u32::MAX` none can)
    let now_s = floor_s(now);
    let mut at = 0;
    for chunk in run.chunks_mut(8) {
        let open = chunk
            .iter()
            .fold(false, |o, s| o | (s.node == NIL) | (s.held_s <= now_s));
        if open {
            for (i, s) in chunk.iter_mut().enumerate() {
                if s.node == NIL {
                    return Some(at + i as u32);
                }
                if s.held_s > now_s {
                    continue;
                }
                let e = expires(s.node);
                if e <= now {
                    return Some(at + i as u32);
                }
                s.held_s = floor_s(e);
            }
        }
        at += chunk.len() as u32;
    }
    None
}

/// A round of NAT's port search: `n` consecutive ports of the range `min..min + size`,
/// from offset `at` in it, wrapping to its start (`n` ≤ `size`, `at` < `size`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Round {
    pub(crate) min: u32,
    pub(crate) size: u32,
    pub(crate) at: u32,
    pub(crate) n: u32,
}

impl Round {
    /// The round's `i`-th candidate (`i` < `n`).
    #[inline]
    pub(crate) fn port(&self, i: u32) -> u16 {
        debug_assert!(i < self.n && self.n <= self.size && self.at < self.size);
        let a = self.at + i;
        let a = if a >= self.size { a - self.size } else { a };
        (self.min + a) as u16
    }
}

/// Tuples a group must hold to be indexed (a sixteenth of the port space).
const INDEX_AT: u32 = 4096;

/// Below this many tuples an indexed group is dropped again.
const DROP_BELOW: u32 = 2048;

/// A group's key: the tuple with its destination port cleared. `None` for protocols whose
/// tuples carry no ports the search could vary (ICMP identifiers are not inverted as ports),
/// and for DCCP, which the NAT search handles but offsim does not track as such: its
/// searches keep the lookups.
#[inline]
pub(super) fn group_key(k: &FlowKey) -> Option<FlowKey> {
    if matches!(
        k.proto,
        proto::TCP | proto::UDP | proto::UDPLITE | proto::SCTP
    ) {
        Some(FlowKey { dport: 0, ..*k })
    } else {
        None
    }
}

/// One indexed group: each destination port's [`Slot`].
#[derive(Debug)]
struct Group {
    ports: Box<[Slot]>,
    len: u32,
    /// Which indexing made it (a handle from before is stale).
    made: u32,
}

/// A handle on an indexed group, valid until the table next changes: the slot and the
/// indexing that filled it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct GroupId(u32, u32);

/// The indexed groups.
#[derive(Debug, Default)]
pub(super) struct PortGroups {
    by_key: FxHashMap<FlowKey, u32>,
    slots: Vec<Option<Group>>,
    free: Vec<u32>,
    /// Tuples inserted, and lookups noted, since the last read of the table.
    work_since_scan: u64,
    /// Whether an indexing has read the table yet.
    scanned: bool,
    /// Groups indexed so far.
    made: u32,
    /// Tests turn the index off to compare with the lookups alone.
    #[cfg(test)]
    pub(super) off: bool,
}

impl PortGroups {
    /// The indexed group of key `g`.
    #[inline]
    pub(super) fn get(&self, g: &FlowKey) -> Option<GroupId> {
        if self.by_key.is_empty() {
            return None;
        }
        self.by_key
            .get(g)
            .map(|&s| GroupId(s, self.slots[s as usize].as_ref().map_or(0, |g| g.made)))
    }

    /// The group of handle `id` (a stale handle, a bug, finds none in a release build:
    /// its ports look free).
    #[inline]
    fn group(&self, id: GroupId) -> Option<&Group> {
        let g = self.slots[id.0 as usize].as_ref();
        debug_assert!(
            g.is_some_and(|g| g.made == id.1),
            "a stale port group handle"
        );
        g
    }

    /// [`PortGroups::group`], mutably.
    #[inline]
    fn group_mut(&mut self, id: GroupId) -> Option<&mut Group> {
        self.group(id)?;
        self.slots[id.0 as usize].as_mut()
    }

    /// The node holding port `port` of group `id`, if any.
    #[inline]
    pub(super) fn node(&self, id: GroupId, port: u16) -> Option<u32> {
        let n = self.group(id)?.ports[usize::from(port)].node;
        (n != NIL).then_some(n)
    }

    /// Whether an entry unexpired at `now` holds port `port` of group `id`; `expires` gives
    /// a node's entry's expiry, read only when the slot's bound does not already answer.
    #[inline]
    pub(super) fn held(
        &self,
        id: GroupId,
        port: u16,
        now: SimTime,
        expires: impl Fn(u32) -> SimTime,
    ) -> bool {
        let Some(g) = self.group(id) else {
            return false;
        };
        let s = g.ports[usize::from(port)];
        s.node != NIL && (u64::from(s.held_s) > now.0 / NS_PER_SEC || expires(s.node) > now)
    }

    /// The first of a round's candidates that no entry unexpired at `now` holds in group
    /// `id` (its index in the round), as [`PortGroups::held`] of each in turn would answer.
    /// Raises the bound of each held port it had to read the entry of.
    pub(super) fn first_free(
        &mut self,
        id: GroupId,
        round: Round,
        now: SimTime,
        expires: impl Fn(u32) -> SimTime,
    ) -> Option<u32> {
        let Some(g) = self.group_mut(id) else {
            return (round.n > 0).then_some(0);
        };
        // The round is one run of consecutive ports, or two when it wraps.
        let head = round.n.min(round.size - round.at);
        let mut before = 0;
        for (start, len) in [(round.min + round.at, head), (round.min, round.n - head)] {
            let run = &mut g.ports[start as usize..(start + len) as usize];
            if let Some(i) = first_free_in(run, now, &expires) {
                return Some(before + i);
            }
            before += len;
        }
        None
    }

    /// Notes `lookups` hash lookups a port search made that an index could have answered.
    #[inline]
    pub(super) fn note_lookups(&mut self, lookups: u32) {
        self.work_since_scan += u64::from(lookups);
    }

    /// Whether reading the table to index groups is allowed now: once, and then after the
    /// table has taken, or port searches have looked up, half as many tuples as it holds
    /// (`live` nodes). A read then costs no more than the work since the last one.
    pub(super) fn may_scan(&self, live: usize) -> bool {
        #[cfg(test)]
        if self.off {
            return false;
        }
        !self.scanned || self.work_since_scan >= (live as u64) / 2
    }

    /// Starts a read of the table.
    pub(super) fn scanning(&mut self) {
        self.scanned = true;
        self.work_since_scan = 0;
    }

    /// Whether a group of `len` tuples is worth indexing.
    pub(super) fn worth_indexing(len: u32) -> bool {
        len >= INDEX_AT
    }

    /// Indexes group `g` from its nodes (`(port, node, its entry's expiry)`, every node of
    /// the table in the group), or leaves it unindexed when it holds too few or has a port
    /// twice.
    pub(super) fn index(
        &mut self,
        g: FlowKey,
        nodes: impl Iterator<Item = (u16, u32, SimTime)>,
    ) -> Option<GroupId> {
        let mut table = vec![EMPTY; 1 << 16].into_boxed_slice();
        let mut len = 0;
        for (p, n, e) in nodes {
            let slot = &mut table[usize::from(p)];
            if slot.node != NIL {
                return None;
            }
            *slot = Slot {
                node: n,
                held_s: floor_s(e),
            };
            len += 1;
        }
        if !Self::worth_indexing(len) {
            return None;
        }
        self.made = self.made.wrapping_add(1);
        let group = Group {
            ports: table,
            len,
            made: self.made,
        };
        let s = match self.free.pop() {
            Some(s) => {
                self.slots[s as usize] = Some(group);
                s
            }
            None => {
                self.slots.push(Some(group));
                (self.slots.len() - 1) as u32
            }
        };
        self.by_key.insert(g, s);
        Some(GroupId(s, self.made))
    }

    /// Node `n` with tuple `k`, whose entry expires at `expires`, entered the table.
    #[inline]
    pub(super) fn inserted(&mut self, n: u32, k: &FlowKey, expires: SimTime) {
        self.work_since_scan += 1;
        let Some((g, s)) = self.indexed(k) else {
            return;
        };
        let group = self.slots[s as usize].as_mut().expect("indexed group");
        let slot = &mut group.ports[usize::from(k.dport)];
        if slot.node != NIL {
            // A second node with this tuple: which one a lookup finds is the hash table's
            // business, so the group stops answering.
            self.drop_group(g, s);
            return;
        }
        *slot = Slot {
            node: n,
            held_s: floor_s(expires),
        };
        group.len += 1;
    }

    /// The entry of node `n` (tuple `k`) now expires at `expires`, earlier than before:
    /// its port's bound comes down with it.
    #[inline]
    pub(super) fn lowered(&mut self, n: u32, k: &FlowKey, expires: SimTime) {
        let Some((_, s)) = self.indexed(k) else {
            return;
        };
        let group = self.slots[s as usize].as_mut().expect("indexed group");
        let slot = &mut group.ports[usize::from(k.dport)];
        if slot.node == n {
            slot.held_s = floor_s(expires);
        }
    }

    /// Node `n` with tuple `k` left the table.
    #[inline]
    pub(super) fn removed(&mut self, n: u32, k: &FlowKey) {
        let Some((g, s)) = self.indexed(k) else {
            return;
        };
        let group = self.slots[s as usize].as_mut().expect("indexed group");
        let slot = &mut group.ports[usize::from(k.dport)];
        if slot.node != n {
            return;
        }
        *slot = EMPTY;
        group.len -= 1;
        if group.len < DROP_BELOW {
            self.drop_group(g, s);
        }
    }

    /// Whether a node holds tuple `k`, when its group is indexed (`None`: not indexed). The
    /// answer needs no entry: a group's port holds a node exactly while the table holds one
    /// with that tuple.
    #[inline]
    pub(super) fn holds(&self, k: &FlowKey) -> Option<bool> {
        let (_, s) = self.indexed(k)?;
        let group = self.slots[s as usize].as_ref()?;
        Some(group.ports[usize::from(k.dport)].node != NIL)
    }

    /// The key and slot of tuple `k`'s group, if it is indexed.
    #[inline]
    fn indexed(&self, k: &FlowKey) -> Option<(FlowKey, u32)> {
        if self.by_key.is_empty() {
            return None;
        }
        let g = group_key(k)?;
        self.by_key.get(&g).map(|&s| (g, s))
    }

    fn drop_group(&mut self, g: FlowKey, s: u32) {
        self.by_key.remove(&g);
        self.slots[s as usize] = None;
        self.free.push(s);
    }

    /// Number of indexed groups.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.by_key.len()
    }
}

#[cfg(test)]
mod test {
    use super::*;

    fn key(dport: u16) -> FlowKey {
        FlowKey {
            src: 1,
            dst: 2,
            sport: 53,
            dport,
            proto: proto::UDP,
            version: 4,
        }
    }

    #[test]
    fn a_group_is_indexed_when_large_and_follows_its_tuples() {
        let mut pg = PortGroups::default();
        let g = group_key(&key(7)).unwrap();
        assert!(pg.may_scan(1 << 20));
        pg.scanning();
        // Too small: not indexed, and the next read waits for new tuples or lookups.
        assert_eq!(
            pg.index(g, (0..INDEX_AT - 1).map(|p| (p as u16, p, SimTime(0)))),
            None
        );
        assert!(!pg.may_scan(10_000));
        for p in 0..3000u32 {
            pg.inserted(p, &key(p as u16), SimTime(0));
        }
        assert!(!pg.may_scan(10_000));
        pg.note_lookups(2000);
        assert!(pg.may_scan(10_000));
        let id = pg
            .index(g, (0..INDEX_AT).map(|p| (p as u16, 2 * p, SimTime(0))))
            .unwrap();
        assert_eq!(pg.node(id, 3), Some(6));
        assert_eq!(pg.node(id, 60_000), None);
        assert_eq!(pg.holds(&key(3)), Some(true));
        assert_eq!(pg.holds(&key(60_000)), Some(false));
        pg.inserted(99, &key(60_000), SimTime(0));
        assert_eq!(pg.node(id, 60_000), Some(99));
        assert_eq!(pg.holds(&key(60_000)), Some(true));
        // Removing another node with the same tuple leaves the slot alone.
        pg.removed(98, &key(60_000));
        assert_eq!(pg.node(id, 60_000), Some(99));
        pg.removed(99, &key(60_000));
        assert_eq!(pg.node(id, 60_000), None);
        assert_eq!(pg.holds(&key(60_000)), Some(false));
        // Other groups and protocols without ports are not touched.
        let mut other = key(5);
        other.sport = 54;
        pg.inserted(7, &other, SimTime(0));
        pg.inserted(
            8,
            &FlowKey {
                proto: proto::ICMP,
                ..key(5)
            },
            SimTime(0),
        );
        assert_eq!(pg.node(id, 5), Some(10));
        // A tuple of a group not indexed is not answered.
        assert_eq!(pg.holds(&other), None);
        // Shrinking below DROP_BELOW drops the index.
        for p in 0..=(INDEX_AT - DROP_BELOW) {
            pg.removed(2 * p, &key(p as u16));
        }
        assert_eq!(pg.get(&g), None);
        assert_eq!(pg.holds(&key(3)), None);
        assert_eq!(pg.len(), 0);
    }

    #[test]
    fn a_tuple_held_twice_drops_the_group() {
        let mut pg = PortGroups::default();
        let g = group_key(&key(0)).unwrap();
        // Read with a port held twice: not indexed.
        assert_eq!(pg.index(g, (0..INDEX_AT).map(|p| (1, p, SimTime(0)))), None);
        let id = pg
            .index(g, (0..INDEX_AT).map(|p| (p as u16, p, SimTime(0))))
            .unwrap();
        assert_eq!(pg.node(id, 1), Some(1));
        // A second node with a held tuple: dropped.
        pg.inserted(70_000, &key(1), SimTime(0));
        assert_eq!(pg.get(&g), None);
    }

    #[test]
    fn a_port_is_held_while_its_entry_is_unexpired_whatever_the_bound() {
        const S: u64 = NS_PER_SEC;
        let mut pg = PortGroups::default();
        let g = group_key(&key(0)).unwrap();
        // Node p holds port p; its entry's expiry, as conntrack has it, is `exp[p]`.
        let mut exp: Vec<SimTime> = (0..INDEX_AT as u64)
            .map(|p| SimTime(p * S + S / 2))
            .collect();
        let id = pg
            .index(g, (0..INDEX_AT).map(|p| (p as u16, p, exp[p as usize])))
            .unwrap();
        let now = SimTime(100 * S);
        let held =
            |pg: &PortGroups, exp: &[SimTime], p: u16| pg.held(id, p, now, |n| exp[n as usize]);
        // Expired below 100 s, held from port 100 on (port 100 expires at 100.5 s: within
        // the second the bound cannot answer, so the entry is read); unused ports are free.
        assert!(!held(&pg, &exp, 99) && held(&pg, &exp, 100) && !held(&pg, &exp, 60_000));
        let round = |min: u32, size: u32, at: u32, n: u32| Round { min, size, at, n };
        assert_eq!(
            pg.first_free(id, round(100, 100, 0, 100), now, |n| exp[n as usize]),
            None
        );
        // 150, then 42 (wrapping to the range's start)
        let wrap = round(42, 109, 108, 2);
        assert_eq!((wrap.port(0), wrap.port(1)), (150, 42));
        assert_eq!(pg.first_free(id, wrap, now, |n| exp[n as usize]), Some(1));
        // 180..=199 held, then (wrapping) 90, whose entry expired; from 100 on all held
        let long = round(90, 110, 90, 40);
        assert_eq!((long.port(19), long.port(20)), (199, 90));
        assert_eq!(pg.first_free(id, long, now, |n| exp[n as usize]), Some(20));
        assert_eq!(
            pg.first_free(id, round(100, 100, 80, 40), now, |n| exp[n as usize]),
            None
        );
        // An entry's expiry raised behind the bound's back: still held (read once, and the
        // bound is raised so the next search need not read it).
        exp[50] = SimTime(1000 * S);
        assert_eq!(
            pg.first_free(id, round(50, 2, 0, 2), now, |n| exp[n as usize]),
            Some(1)
        );
        assert_eq!(
            pg.first_free(id, round(50, 1, 0, 1), now, |_| unreachable!("read")),
            None
        );
        // Lowered: conntrack says so, and the port is free once the new expiry passes.
        exp[150] = SimTime(90 * S);
        pg.lowered(150, &key(150), exp[150]);
        assert!(!held(&pg, &exp, 150));
        assert_eq!(
            pg.first_free(id, round(150, 1, 0, 1), now, |n| exp[n as usize]),
            Some(0)
        );
        // A lowering for another node of that port, or another group, changes nothing.
        pg.lowered(7, &key(160), SimTime(0));
        let mut other = key(170);
        other.sport = 54;
        pg.lowered(170, &other, SimTime(0));
        assert_eq!(
            pg.first_free(id, round(160, 11, 0, 11), now, |_| unreachable!("read")),
            None
        );
    }
}
