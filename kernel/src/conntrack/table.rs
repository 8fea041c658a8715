//! The conntrack hash table: where an entry is found from either of its tuples, and the
//! kernel's bucket layout that `early_drop` walks.
//!
//! The kernel keeps one `hlist_nulls` per bucket of `nf_conntrack_hash`
//! (`nf_conntrack_htable_size` = the `nf_conntrack_buckets` sysctl buckets); each entry sits
//! in two of them, by the hash of its ORIGINAL tuple and by that of its REPLY tuple
//! (`__nf_conntrack_hash_insert`: `hlist_nulls_add_head_rcu` for each, so a bucket lists its
//! newest node first). The bucket is `reciprocal_scale(hash, size)`.
//!
//! offsim keeps two views of the same nodes (a node is an entry and a direction):
//! - an index for lookups: a hash table of node numbers and their tuples' hashes (8 bytes a
//!   node), compared against the tuple stored once in the entry, so the cost of a connection
//!   does not grow with the size of its tuple. The hash is kept so that growing the index
//!   rehashes without reading every entry: with node numbers alone, each of a SYN flood's
//!   doublings read the whole entry array at random, a fifth of its `rules eval`;
//! - when the table has a limit (`nf_conntrack_max`), the kernel's buckets themselves: a head
//!   per bucket and a doubly linked list through the nodes, in the kernel's order, for
//!   [`super::Conntrack`]'s `early_drop`. Without a limit `early_drop` never runs and the
//!   lists are not kept.
//!
//! The index's place in memory is kept (a [`TableAnchor`]) so that the lines a look-up will
//! read can be asked for a packet ahead (`prefetch.rs`).
//!
//! The kernel hashes with siphash and a random boot-time seed (`hash_conntrack_raw`,
//! `nf_conntrack_hash_rnd`); offsim uses the Fx hash of the tuple, so runs are deterministic.

use std::cell::Cell;
use std::hash::{Hash, Hasher};

use hashbrown::HashTable;
use offsim_traces::hash::FxHashMap;
use offsim_traces::meta::FlowKey;
use offsim_traces::time::SimTime;
use offsim_traces::tuple::TableAnchor;
use rustc_hash::FxHasher;

use super::conn::{Conn, Dir, status};
use super::ports::{GroupId, PortGroups, group_key};

/// No node.
const NIL: u32 = u32::MAX;

/// A node: entry index × 2 + direction.
#[inline]
pub(super) fn node(id: u32, dir: Dir) -> u32 {
    id * 2 + dir as u32
}

/// The 32-bit hash of a tuple (`hash_conntrack_raw`).
#[inline]
pub(super) fn tuple_hash(k: &FlowKey) -> u32 {
    let mut h = FxHasher::default();
    k.hash(&mut h);
    let x = h.finish();
    (x >> 32) as u32 ^ x as u32
}

/// The index's 64-bit hash of a tuple hash: hashbrown takes its 7-bit tag from the top
/// bits, which a zero-extended 32-bit hash leaves 0 for every entry (every probe would then
/// compare every tuple of a group).
#[inline]
fn index_hash(h: u32) -> u64 {
    u64::from(h).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// The tuple of a node.
#[inline]
fn node_tuple(conns: &[Conn], n: u32) -> FlowKey {
    let c = &conns[(n / 2) as usize];
    if n & 1 == 0 { c.orig() } else { c.reply() }
}

/// The kernel's buckets: heads and the links through the nodes.
#[derive(Debug)]
struct Buckets {
    heads: Vec<u32>,
    /// Per node: previous and next node in its bucket.
    links: Vec<[u32; 2]>,
}

/// The table of confirmed entries.
#[derive(Debug)]
pub(super) struct CtTable {
    /// (node, its tuple's [`tuple_hash`]).
    index: HashTable<(u32, u32)>,
    /// Where `index` lies, for [`CtTable::prefetch`], which learns it (a `Cell`: the
    /// prefetch only reads the table).
    anchor: Cell<TableAnchor>,
    buckets: Option<Buckets>,
    size: u32,
    /// The port groups indexed for NAT's port search (a second view of the same nodes),
    /// which [`super::Conntrack`] asks directly once it holds a group's handle.
    pub(super) ports: PortGroups,
}

impl CtTable {
    /// A table of `size` buckets; `kernel_buckets` keeps the bucket lists.
    pub(super) fn new(size: u32, kernel_buckets: bool) -> Self {
        CtTable {
            index: HashTable::new(),
            anchor: Cell::new(TableAnchor::default()),
            buckets: kernel_buckets.then(|| Buckets {
                heads: vec![NIL; size.max(1) as usize],
                links: Vec::new(),
            }),
            size: size.max(1),
            ports: PortGroups::default(),
        }
    }

    /// Number of buckets (`nf_conntrack_buckets`).
    pub(super) fn buckets(&self) -> u32 {
        self.size
    }

    /// The bucket of a hash (`reciprocal_scale(hash, size)`).
    #[inline]
    pub(super) fn bucket_of(&self, hash: u32) -> u32 {
        ((u64::from(hash) * u64::from(self.size)) >> 32) as u32
    }

    /// The node holding tuple `k`.
    #[inline]
    pub(super) fn find(&self, conns: &[Conn], k: &FlowKey) -> Option<u32> {
        let h = tuple_hash(k);
        self.index
            .find(index_hash(h), |&(n, nh)| {
                nh == h && node_tuple(conns, n) == *k
            })
            .map(|&(n, _)| n)
    }

    /// Whether some node holds `k`. A tuple of an indexed port group is answered by the
    /// group, which holds a port's node exactly while the table does (`ports.rs`): on a SYN
    /// flood behind masquerade whose ports ran out, every new connection's reply tuple is
    /// taken, and confirming it (`__nf_conntrack_confirm`'s clash check) read the entry
    /// that holds it, a cache miss a packet.
    #[inline]
    pub(super) fn contains(&self, conns: &[Conn], k: &FlowKey) -> bool {
        let held = self.ports.holds(k);
        debug_assert!(held.is_none_or(|h| h == self.find(conns, k).is_some()));
        held.unwrap_or_else(|| self.find(conns, k).is_some())
    }

    /// Inserts node `n`, whose tuple is `k` (at the head of its bucket).
    pub(super) fn insert(&mut self, conns: &[Conn], n: u32, k: &FlowKey) {
        let h = tuple_hash(k);
        self.index
            .insert_unique(index_hash(h), (n, h), |&(_, mh)| index_hash(mh));
        self.ports.inserted(n, k, conns[(n / 2) as usize].expires);
        let b = self.bucket_of(h) as usize;
        if let Some(bk) = &mut self.buckets {
            if bk.links.len() <= n as usize {
                bk.links.resize(n as usize + 1, [NIL, NIL]);
            }
            let head = bk.heads[b];
            bk.links[n as usize] = [NIL, head];
            if head != NIL {
                bk.links[head as usize][0] = n;
            }
            bk.heads[b] = n;
        }
    }

    /// Removes node `n` (tuple `k`) if it is in the table.
    pub(super) fn remove(&mut self, n: u32, k: &FlowKey) {
        let h = tuple_hash(k);
        let Ok(e) = self.index.find_entry(index_hash(h), |&(m, mh)| {
            debug_assert!(
                m != n || mh == h,
                "node {n} indexed under another tuple's hash"
            );
            m == n
        }) else {
            return;
        };
        e.remove();
        self.ports.removed(n, k);
        let b = self.bucket_of(h) as usize;
        if let Some(bk) = &mut self.buckets {
            let [prev, next] = bk.links[n as usize];
            if prev == NIL {
                bk.heads[b] = next;
            } else {
                bk.links[prev as usize][1] = next;
            }
            if next != NIL {
                bk.links[next as usize][0] = prev;
            }
            bk.links[n as usize] = [NIL, NIL];
        }
    }

    /// The nodes of bucket `b`, head first (`hlist_nulls_for_each_entry_rcu`). Empty when
    /// the bucket lists are not kept.
    pub(super) fn bucket_nodes(&self, b: u32, out: &mut Vec<u32>) {
        out.clear();
        if let Some(bk) = &self.buckets {
            let mut n = bk.heads[b as usize];
            while n != NIL {
                out.push(n);
                n = bk.links[n as usize][1];
            }
        }
    }

    /// The indexed port group holding tuples like `k` but for the destination port
    /// ([`super::ports`]). `lookups` is the number of hash lookups the caller just made in
    /// that group; when it is not 0 and the group is not indexed, the table indexes the
    /// large groups now if reading the table is allowed.
    pub(super) fn port_group(
        &mut self,
        conns: &[Conn],
        k: &FlowKey,
        lookups: u32,
    ) -> Option<GroupId> {
        let g = group_key(k)?;
        if let Some(id) = self.ports.get(&g) {
            return Some(id);
        }
        if lookups == 0 {
            return None;
        }
        self.ports.note_lookups(lookups);
        if !self.ports.may_scan(self.index.len()) {
            return None;
        }
        self.index_groups(conns, &g);
        self.ports.get(&g)
    }

    /// Indexes every group of at least `INDEX_AT` tuples not yet indexed whose tuples go to
    /// the address, protocol and family of group `like` (the NAT address the search was
    /// for): one pass over the index's nodes counts those groups, a second collects the
    /// large ones' nodes. The count is kept by the group key's hash (16 bytes a group, not the
    /// key's 48): two groups that share a hash are both collected, and each is indexed
    /// only if it is large itself.
    fn index_groups(&mut self, conns: &[Conn], like: &FlowKey) {
        self.ports.scanning();
        // The nodes the index holds, read in the entries' order: the two nodes of every
        // live, confirmed entry (inserted at confirmation, removed with the entry) are
        // exactly what `find` searches. (Read in the index's order, every node was a random
        // read of its entry: a read of a flood's table took a twentieth of its run.)
        debug_assert_eq!(
            2 * conns
                .iter()
                .filter(|c| c.live && c.status & status::CONFIRMED != 0)
                .count(),
            self.index.len()
        );
        let nodes = || {
            conns
                .iter()
                .enumerate()
                .filter(|(_, c)| c.live && c.status & status::CONFIRMED != 0)
                .flat_map(|(i, c)| {
                    let i = i as u32;
                    [
                        (node(i, Dir::Original), c.orig(), c.expires),
                        (node(i, Dir::Reply), c.reply(), c.expires),
                    ]
                })
                .filter_map(|(n, t, e)| {
                    if (t.dst, t.proto, t.version) != (like.dst, like.proto, like.version) {
                        return None;
                    }
                    Some((group_key(&t)?, t.dport, n, e))
                })
        };
        let hash = |g: &FlowKey| {
            let mut h = FxHasher::default();
            g.hash(&mut h);
            h.finish()
        };
        let mut counts: FxHashMap<u64, u32> = FxHashMap::default();
        for (g, _, _, _) in nodes() {
            *counts.entry(hash(&g)).or_default() += 1;
        }
        counts.retain(|_, n| PortGroups::worth_indexing(*n));
        if counts.is_empty() {
            return;
        }
        let mut members: FxHashMap<FlowKey, Vec<(u16, u32, SimTime)>> = FxHashMap::default();
        for (g, p, n, e) in nodes() {
            if counts.contains_key(&hash(&g)) && self.ports.get(&g).is_none() {
                members.entry(g).or_default().push((p, n, e));
            }
        }
        // In key order, so the groups' slots do not depend on the map's iteration order;
        // groups that only shared a large one's hash are left out.
        let mut members: Vec<_> = members
            .into_iter()
            .filter(|(_, v)| PortGroups::worth_indexing(v.len() as u32))
            .collect();
        members.sort_unstable_by_key(|(g, _)| *g);
        for (g, v) in members {
            let id = self.ports.index(g, v.into_iter());
            debug_assert!(id.is_none_or(|id| (0..=u16::MAX).all(|p| {
                let t = FlowKey { dport: p, ..g };
                self.ports.node(id, p) == self.find(conns, &t)
            })));
        }
    }

    /// Stops indexing port groups from now on (tests compare with the lookups alone).
    #[cfg(test)]
    pub(super) fn without_port_groups(&mut self) {
        self.ports.off = true;
    }

    /// Gives memory back once most entries are gone.
    pub(super) fn shrink(&mut self) {
        if self.index.capacity() > 4 * self.index.len() + 4096 {
            self.index
                .shrink_to(2 * self.index.len(), |&(_, mh)| index_hash(mh));
            self.anchor.set(TableAnchor::default());
        }
    }

    /// Asks for the index lines a look-up of `k` reads first (a hint). The anchor is
    /// learnt here, from the first full bucket, whenever the index has another bucket count
    /// than when it was noted (it grew) or `shrink` forgot it, so that inserting stays as
    /// it was: noting it there (after a `reserve`, or from the slot taken) changed how the
    /// hook walk that inlines the insert compiled, +6 % of `rules eval` with the 300-rule
    /// ACL; and a `reserve` before each insert grows or rehashes where `insert_unique`
    /// reuses a deleted slot, which would reorder the probes of two nodes with one tuple
    /// (an entry whose two tuples are equal) and so which one `find` returns.
    #[inline]
    pub(super) fn prefetch(&self, k: &FlowKey) {
        let buckets = self.index.num_buckets();
        let mut a = self.anchor.get();
        if !a.is_for(buckets) {
            let Some((i, slot)) =
                (0..buckets.min(256)).find_map(|i| self.index.get_bucket(i).map(|s| (i, s)))
            else {
                return;
            };
            a.note_if_moved(buckets, i, slot);
            self.anchor.set(a);
        }
        a.prefetch(&self.index, index_hash(tuple_hash(k)));
    }
}
