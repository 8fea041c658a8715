//! Compact tables keyed by flow tuples and addresses.
//!
//! A [`FlowKey`] holds its addresses as two `u128`s (48 bytes with alignment) so that one type
//! serves IPv4 and IPv6. A table that remembers millions of tuples cannot afford that: an
//! IPv4 tuple needs 13 bytes (two addresses, two ports, the protocol), an IPv6 one 37. The
//! tables here keep IPv4 and IPv6 keys in separate maps of packed byte arrays, so memory
//! follows the tuples actually held, at their real size.

use crate::meta::FlowKey;

mod anchor;
mod table;
pub use anchor::TableAnchor;
use table::Table;

/// A packed IPv4 tuple: source, destination, source port, destination port, protocol.
type Key4 = [u8; 13];
/// A packed IPv6 tuple.
type Key6 = [u8; 37];

enum Packed {
    V4(Key4),
    V6(Key6),
}

#[inline]
fn pack(k: &FlowKey) -> Packed {
    if k.version == 4 {
        let mut b = [0u8; 13];
        b[0..4].copy_from_slice(&(k.src as u32).to_be_bytes());
        b[4..8].copy_from_slice(&(k.dst as u32).to_be_bytes());
        b[8..10].copy_from_slice(&k.sport.to_be_bytes());
        b[10..12].copy_from_slice(&k.dport.to_be_bytes());
        b[12] = k.proto;
        Packed::V4(b)
    } else {
        let mut b = [0u8; 37];
        b[0..16].copy_from_slice(&k.src.to_be_bytes());
        b[16..32].copy_from_slice(&k.dst.to_be_bytes());
        b[32..34].copy_from_slice(&k.sport.to_be_bytes());
        b[34..36].copy_from_slice(&k.dport.to_be_bytes());
        b[36] = k.proto;
        Packed::V6(b)
    }
}

fn unpack4(b: &Key4) -> FlowKey {
    let u32_at = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
    FlowKey {
        src: u128::from(u32_at(0)),
        dst: u128::from(u32_at(4)),
        sport: u16::from_be_bytes([b[8], b[9]]),
        dport: u16::from_be_bytes([b[10], b[11]]),
        proto: b[12],
        version: 4,
    }
}

fn unpack6(b: &Key6) -> FlowKey {
    let mut s = [0u8; 16];
    let mut d = [0u8; 16];
    s.copy_from_slice(&b[0..16]);
    d.copy_from_slice(&b[16..32]);
    FlowKey {
        src: u128::from_be_bytes(s),
        dst: u128::from_be_bytes(d),
        sport: u16::from_be_bytes([b[32], b[33]]),
        dport: u16::from_be_bytes([b[34], b[35]]),
        proto: b[36],
        version: 6,
    }
}

/// A map from flow tuples to `V`, 13 bytes of key per IPv4 tuple and 37 per IPv6 one. A
/// key whose version is not 4 is stored as IPv6.
#[derive(Clone, Debug)]
pub struct TupleMap<V> {
    v4: Table<Key4, V>,
    v6: Table<Key6, V>,
}

impl<V> Default for TupleMap<V> {
    fn default() -> Self {
        TupleMap {
            v4: Table::default(),
            v6: Table::default(),
        }
    }
}

impl<V> TupleMap<V> {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// Tuples held.
    pub fn len(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    /// Whether no tuple is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The value of `k`.
    #[inline]
    pub fn get(&self, k: &FlowKey) -> Option<&V> {
        match pack(k) {
            Packed::V4(b) => self.v4.get(&b),
            Packed::V6(b) => self.v6.get(&b),
        }
    }

    /// The value of `k`, mutably.
    #[inline]
    pub fn get_mut(&mut self, k: &FlowKey) -> Option<&mut V> {
        match pack(k) {
            Packed::V4(b) => self.v4.get_mut(&b),
            Packed::V6(b) => self.v6.get_mut(&b),
        }
    }

    /// Whether `k` is held.
    #[inline]
    pub fn contains_key(&self, k: &FlowKey) -> bool {
        self.get(k).is_some()
    }

    /// Asks for the cache lines a look-up of `k` will read first (a hint; see `table.rs`).
    #[inline]
    pub fn prefetch(&self, k: &FlowKey) {
        match pack(k) {
            Packed::V4(b) => self.v4.prefetch(&b),
            Packed::V6(b) => self.v6.prefetch(&b),
        }
    }

    /// Sets the value of `k`; returns the previous one.
    #[inline]
    pub fn insert(&mut self, k: &FlowKey, v: V) -> Option<V> {
        match pack(k) {
            Packed::V4(b) => self.v4.insert(b, v),
            Packed::V6(b) => self.v6.insert(b, v),
        }
    }

    /// The value of `k`, inserted with `f` when absent.
    #[inline]
    pub fn get_or_insert_with(&mut self, k: &FlowKey, f: impl FnOnce() -> V) -> &mut V {
        match pack(k) {
            Packed::V4(b) => self.v4.get_or_insert_with(b, f),
            Packed::V6(b) => self.v6.get_or_insert_with(b, f),
        }
    }

    /// Removes `k`.
    #[inline]
    pub fn remove(&mut self, k: &FlowKey) -> Option<V> {
        match pack(k) {
            Packed::V4(b) => self.v4.remove(&b),
            Packed::V6(b) => self.v6.remove(&b),
        }
    }

    /// Keeps the entries for which `f` is true.
    pub fn retain(&mut self, mut f: impl FnMut(&FlowKey, &mut V) -> bool) {
        self.v4.retain(|b, v| f(&unpack4(b), v));
        self.v6.retain(|b, v| f(&unpack6(b), v));
    }

    /// Every entry (IPv4 first; otherwise in no particular order).
    pub fn iter(&self) -> impl Iterator<Item = (FlowKey, &V)> {
        self.v4
            .iter()
            .map(|(b, v)| (unpack4(b), v))
            .chain(self.v6.iter().map(|(b, v)| (unpack6(b), v)))
    }

    /// Gives memory back when the map holds far fewer entries than it has room for (after
    /// a sweep forgot most of them).
    pub fn shrink_if_sparse(&mut self) {
        self.v4.shrink_if_sparse();
        self.v6.shrink_if_sparse();
    }
}

/// A map from IP addresses to `V`: 4 bytes of key per IPv4 address, 16 per IPv6 one.
#[derive(Clone, Debug)]
pub struct AddrMap<V> {
    v4: Table<u32, V>,
    v6: Table<u128, V>,
}

impl<V> Default for AddrMap<V> {
    fn default() -> Self {
        AddrMap {
            v4: Table::default(),
            v6: Table::default(),
        }
    }
}

impl<V> AddrMap<V> {
    /// Addresses held.
    pub fn len(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    /// Whether no address is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The value of address `a` of IP version `version`.
    #[inline]
    pub fn get(&self, version: u8, a: u128) -> Option<&V> {
        if version == 4 {
            self.v4.get(&(a as u32))
        } else {
            self.v6.get(&a)
        }
    }

    /// Asks for the cache lines a look-up of `a` will read first (a hint).
    #[inline]
    pub fn prefetch(&self, version: u8, a: u128) {
        if version == 4 {
            self.v4.prefetch(&(a as u32));
        } else {
            self.v6.prefetch(&a);
        }
    }

    /// The value of `a`, inserted with `f` when absent.
    #[inline]
    pub fn get_or_insert_with(&mut self, version: u8, a: u128, f: impl FnOnce() -> V) -> &mut V {
        if version == 4 {
            self.v4.get_or_insert_with(a as u32, f)
        } else {
            self.v6.get_or_insert_with(a, f)
        }
    }

    /// The value of `a`, mutably.
    #[inline]
    pub fn get_mut(&mut self, version: u8, a: u128) -> Option<&mut V> {
        if version == 4 {
            self.v4.get_mut(&(a as u32))
        } else {
            self.v6.get_mut(&a)
        }
    }

    /// Removes `a`.
    #[inline]
    pub fn remove(&mut self, version: u8, a: u128) -> Option<V> {
        if version == 4 {
            self.v4.remove(&(a as u32))
        } else {
            self.v6.remove(&a)
        }
    }

    /// Gives memory back when the map is mostly empty.
    pub fn shrink_if_sparse(&mut self) {
        self.v4.shrink_if_sparse();
        self.v6.shrink_if_sparse();
    }
}

/// A map from ordered address pairs (source, destination) to `V`: 8 bytes of key per IPv4
/// pair and 32 per IPv6 one (a pair kept as a [`TupleMap`] key, ports and protocol zero,
/// took 13 and 37). A pair whose version is not 4 is stored as IPv6.
#[derive(Clone, Debug)]
pub struct PairMap<V> {
    /// Bytes, not a `u64`: alignment would pad a small value's entry to 8 bytes.
    v4: Table<[u8; 8], V>,
    v6: Table<[u8; 32], V>,
}

impl<V> Default for PairMap<V> {
    fn default() -> Self {
        PairMap {
            v4: Table::default(),
            v6: Table::default(),
        }
    }
}

enum PackedPair {
    V4([u8; 8]),
    V6([u8; 32]),
}

#[inline]
fn pack_pair(version: u8, a: u128, b: u128) -> PackedPair {
    if version == 4 {
        PackedPair::V4(((u64::from(a as u32) << 32) | u64::from(b as u32)).to_be_bytes())
    } else {
        let mut k = [0u8; 32];
        k[..16].copy_from_slice(&a.to_be_bytes());
        k[16..].copy_from_slice(&b.to_be_bytes());
        PackedPair::V6(k)
    }
}

impl<V> PairMap<V> {
    /// Pairs held.
    pub fn len(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    /// Whether no pair is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The value of the pair `a` → `b` of IP version `version`.
    #[inline]
    pub fn get(&self, version: u8, a: u128, b: u128) -> Option<&V> {
        match pack_pair(version, a, b) {
            PackedPair::V4(k) => self.v4.get(&k),
            PackedPair::V6(k) => self.v6.get(&k),
        }
    }

    /// Asks for the cache lines a look-up of the pair will read first (a hint).
    #[inline]
    pub fn prefetch(&self, version: u8, a: u128, b: u128) {
        match pack_pair(version, a, b) {
            PackedPair::V4(k) => self.v4.prefetch(&k),
            PackedPair::V6(k) => self.v6.prefetch(&k),
        }
    }

    /// The value of the pair, mutably.
    #[inline]
    pub fn get_mut(&mut self, version: u8, a: u128, b: u128) -> Option<&mut V> {
        match pack_pair(version, a, b) {
            PackedPair::V4(k) => self.v4.get_mut(&k),
            PackedPair::V6(k) => self.v6.get_mut(&k),
        }
    }

    /// The value of the pair, inserted with `f` when absent.
    #[inline]
    pub fn get_or_insert_with(
        &mut self,
        version: u8,
        a: u128,
        b: u128,
        f: impl FnOnce() -> V,
    ) -> &mut V {
        match pack_pair(version, a, b) {
            PackedPair::V4(k) => self.v4.get_or_insert_with(k, f),
            PackedPair::V6(k) => self.v6.get_or_insert_with(k, f),
        }
    }

    /// Removes the pair.
    #[inline]
    pub fn remove(&mut self, version: u8, a: u128, b: u128) -> Option<V> {
        match pack_pair(version, a, b) {
            PackedPair::V4(k) => self.v4.remove(&k),
            PackedPair::V6(k) => self.v6.remove(&k),
        }
    }

    /// Gives memory back when the map is mostly empty.
    pub fn shrink_if_sparse(&mut self) {
        self.v4.shrink_if_sparse();
        self.v6.shrink_if_sparse();
    }
}

#[cfg(test)]
mod test {
    use super::*;

    fn k(version: u8, src: u128, dst: u128, sport: u16, dport: u16, proto: u8) -> FlowKey {
        FlowKey {
            src,
            dst,
            sport,
            dport,
            proto,
            version,
        }
    }

    #[test]
    fn round_trips_both_families() {
        let mut m = TupleMap::new();
        let a = k(4, 0xc000_0201, 0xc633_6409, 1000, 53, 17);
        let b = k(6, 0x2001_0db8 << 96 | 1, u128::MAX - 7, 443, 50000, 6);
        assert!(m.insert(&a, 1).is_none());
        assert!(m.insert(&b, 2).is_none());
        assert_eq!(m.get(&a), Some(&1));
        assert_eq!(m.get(&b), Some(&2));
        assert_eq!(m.get(&a.reversed()), None);
        let mut seen: Vec<FlowKey> = m.iter().map(|(k, _)| k).collect();
        seen.sort();
        let mut want = vec![a, b];
        want.sort();
        assert_eq!(seen, want);
        m.retain(|k, _| k.version == 6);
        assert_eq!(m.len(), 1);
        assert_eq!(m.remove(&b), Some(2));
        assert!(m.is_empty());
    }

    #[test]
    fn ipv4_keys_are_13_bytes() {
        assert_eq!(std::mem::size_of::<Key4>(), 13);
        assert_eq!(std::mem::size_of::<(Key4, ())>(), 13);
    }

    #[test]
    fn addr_map() {
        let mut m: AddrMap<u32> = AddrMap::default();
        *m.get_or_insert_with(4, 0x0a00_0001, || 0) += 1;
        *m.get_or_insert_with(6, 0x0a00_0001, || 0) += 5;
        assert_eq!(m.get(4, 0x0a00_0001), Some(&1));
        assert_eq!(m.get(6, 0x0a00_0001), Some(&5));
        assert_eq!(m.len(), 2);
        m.remove(4, 0x0a00_0001);
        assert_eq!(m.get(4, 0x0a00_0001), None);
    }

    #[test]
    fn pair_map_keeps_order_and_family() {
        let mut m: PairMap<u8> = PairMap::default();
        *m.get_or_insert_with(4, 1, 2, || 0) += 1;
        *m.get_or_insert_with(6, 1, 2, || 0) += 5;
        assert_eq!(m.get(4, 1, 2), Some(&1));
        assert_eq!(m.get(4, 2, 1), None);
        assert_eq!(m.get(6, 1, 2), Some(&5));
        *m.get_mut(4, 1, 2).unwrap() += 1;
        assert_eq!(m.remove(4, 1, 2), Some(2));
        assert_eq!(m.len(), 1);
    }
}
