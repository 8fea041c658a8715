//! The hash maps of the flow tables keyed by [`crate::meta::FlowKey`] and other tuples: the
//! `rustc-hash` crate's Fx hasher, re-exported so every offsim crate names one type.
//!
//! The standard library's SipHash is DoS-resistant but slow for 40-byte keys on a per-packet
//! path; offsim's keys come from trace files, not from an adversary on the network, so it uses
//! the Fx multiply-rotate hash (as rustc does). It has no per-process random seed, so table
//! behaviour is the same on every run. No result depends on the hash values themselves or on
//! these maps' iteration order: every map is only looked up, counted, or retained by a
//! predicate, and the one place that collects from one (exact set elements merged into the
//! interval list in `offsim-nft`'s compiler) sorts the result.

pub use rustc_hash::{FxHashMap, FxHashSet};

#[cfg(test)]
mod test {
    use super::*;
    use rustc_hash::FxHasher;
    use std::hash::{Hash, Hasher};

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
