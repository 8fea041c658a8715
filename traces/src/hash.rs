//! A small, fast, deterministic hasher for flow tables keyed by [`crate::meta::FlowKey`].
//!
//! The standard library's SipHash is DoS-resistant but slow for 40-byte keys on a per-packet
//! path; offsim's keys come from trace files, not from an adversary on the network, so it uses
//! the Fx multiply-rotate hash (as rustc does). It has no per-process random seed, so table
//! behaviour — and therefore every result — is the same on every run.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

const K: u64 = 0x51_7c_c1_b7_27_22_0a_95;

/// The Fx hasher.
#[derive(Clone, Copy, Default, Debug)]
pub struct FxHasher {
    h: u64,
}

impl FxHasher {
    #[inline]
    fn add(&mut self, w: u64) {
        self.h = (self.h.rotate_left(5) ^ w).wrapping_mul(K);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut c = bytes.chunks_exact(8);
        for b in &mut c {
            self.add(u64::from_le_bytes([
                b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7],
            ]));
        }
        let r = c.remainder();
        if !r.is_empty() {
            let mut t = [0u8; 8];
            t[..r.len()].copy_from_slice(r);
            self.add(u64::from_le_bytes(t));
        }
    }
    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }
    #[inline]
    fn write_u16(&mut self, i: u16) {
        self.add(u64::from(i));
    }
    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }
    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }
    #[inline]
    fn write_u128(&mut self, i: u128) {
        self.add(i as u64);
        self.add((i >> 64) as u64);
    }
    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
    #[inline]
    fn finish(&self) -> u64 {
        self.h
    }
}

/// Build-hasher for [`FxHasher`].
pub type FxBuild = BuildHasherDefault<FxHasher>;
/// A `HashMap` with the Fx hasher.
pub type FxHashMap<K, V> = HashMap<K, V, FxBuild>;
/// A `HashSet` with the Fx hasher.
pub type FxHashSet<K> = HashSet<K, FxBuild>;

#[cfg(test)]
mod test {
    use super::*;
    use std::hash::Hash;

    #[test]
    fn deterministic_and_spreads() {
        let h = |x: u128| {
            let mut s = FxHasher::default();
            x.hash(&mut s);
            s.finish()
        };
        assert_eq!(h(1), h(1));
        assert_ne!(h(1), h(2));
        let mut m: FxHashSet<u64> = FxHashSet::default();
        for i in 0..1000u128 {
            m.insert(h(i) >> 54);
        }
        assert!(m.len() > 500, "top bits should spread: {}", m.len());
    }
}
