//! The latency histogram: log-linear (HDR-style), exact below 128 ns, then 128 buckets per
//! power of two (≤ 1/128 relative bucket width), mergeable, fixed memory.
//!
//! Why not the `hdrhistogram` crate: its bucket layout at 2 significant digits is much the
//! same, but what the report prints from it is not, and every figure below is pinned byte
//! for byte by the golden reports (`tests/data/golden/`):
//! * the mean is exact (a running sum), where `hdrhistogram`'s `mean()` is computed from
//!   each bucket's median equivalent value;
//! * a quantile is its bucket's upper edge capped at the exact maximum (never above a value
//!   seen), where `value_at_quantile` returns the bucket's highest equivalent value;
//! * the report's buckets ([`Histogram::buckets`]: merged to at most N of about equal
//!   counts, each keeping its upper edge) and CDF points ([`Histogram::cdf`]) are defined on
//!   these edges.
//!
//! Reproducing that on top of the crate would mean re-implementing the same iteration over
//! its buckets, for a dependency. On the hot path (two records per delivered packet) this
//! one is a shift, a mask and four updates: no range check, no `Result`, no allocation after
//! `new` (41 × 128 counters, 42 KB, allocated once).

use std::ops::AddAssign;

/// Sub-buckets per power of two (2^7 = 128: relative bucket width ≤ 1/128).
const SUB_BITS: u32 = 7;
const SUB: usize = 1 << SUB_BITS;
/// Powers of two covered: values up to 2^(SUB_BITS+GROUPS) ns ≈ 2^47 ns ≈ 39 h.
const GROUPS: usize = 40;

/// A latency histogram over nanoseconds: exact below 128 ns, then 128 buckets per power of
/// two. Percentiles are reported as the upper edge of the bucket (never under-reported).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Histogram {
    counts: Vec<u64>,
    count: u64,
    sum: u128,
    max: u64,
    min: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: vec![0; SUB * (GROUPS + 1)],
            count: 0,
            sum: 0,
            max: 0,
            min: u64::MAX,
        }
    }
}

#[inline]
fn bucket(v: u64) -> usize {
    if v < SUB as u64 {
        return v as usize;
    }
    let msb = 63 - v.leading_zeros(); // ≥ SUB_BITS
    let shift = msb - SUB_BITS;
    let group = (shift + 1) as usize;
    let sub = ((v >> shift) as usize) & (SUB - 1);
    (group.min(GROUPS) * SUB) + sub
}

#[inline]
fn bucket_upper(i: usize) -> u64 {
    let group = i / SUB;
    let sub = (i % SUB) as u64;
    if group == 0 {
        return sub;
    }
    let shift = (group - 1) as u32;
    ((SUB as u64 + sub + 1) << shift) - 1
}

impl Histogram {
    /// An empty histogram.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records one value.
    #[inline]
    pub fn record(&mut self, v: u64) {
        self.counts[bucket(v)] += 1;
        self.count += 1;
        self.sum += u128::from(v);
        if v > self.max {
            self.max = v;
        }
        if v < self.min {
            self.min = v;
        }
    }

    /// Number of values.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Largest value (exact).
    pub fn max(&self) -> u64 {
        self.max
    }

    /// Smallest value (exact), 0 when empty.
    pub fn min(&self) -> u64 {
        if self.count == 0 { 0 } else { self.min }
    }

    /// Mean, 0 when empty.
    pub fn mean(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.sum as f64 / self.count as f64
        }
    }

    /// The value at quantile `q` in [0, 1] (upper bucket edge, capped at the exact max).
    pub fn quantile(&self, q: f64) -> u64 {
        if self.count == 0 {
            return 0;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.count as f64).ceil() as u64).max(1);
        let mut seen = 0u64;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return bucket_upper(i).min(self.max);
            }
        }
        self.max
    }

    /// Non-empty buckets as (upper edge ns, count), merged into at most `max` buckets of about
    /// equal counts (the merged bucket keeps the upper edge of its last part).
    pub fn buckets(&self, max: usize) -> Vec<(u64, u64)> {
        let raw: Vec<(u64, u64)> = self
            .counts
            .iter()
            .enumerate()
            .filter(|(_, c)| **c > 0)
            .map(|(i, c)| (bucket_upper(i).min(self.max), *c))
            .collect();
        if raw.len() <= max || max == 0 {
            return raw;
        }
        let per = self.count.div_ceil(max as u64).max(1);
        let mut out = Vec::with_capacity(max);
        let mut acc = 0u64;
        for (le, c) in raw {
            acc += c;
            if acc >= per {
                out.push((le, acc));
                acc = 0;
            }
        }
        if acc > 0 {
            out.push((self.max, acc));
        }
        out
    }

    /// Points of the empirical CDF at bucket upper edges: (value ns, fraction ≤ value),
    /// thinned to at most `max_points` (always including the last).
    pub fn cdf(&self, max_points: usize) -> Vec<(u64, f64)> {
        let mut pts = Vec::new();
        if self.count == 0 {
            return pts;
        }
        let mut seen = 0u64;
        for (i, &c) in self.counts.iter().enumerate() {
            if c == 0 {
                continue;
            }
            seen += c;
            pts.push((
                bucket_upper(i).min(self.max),
                seen as f64 / self.count as f64,
            ));
        }
        if pts.len() > max_points && max_points >= 2 {
            let step = pts.len() as f64 / (max_points - 1) as f64;
            let last = *pts.last().expect("non-empty");
            let mut thin: Vec<(u64, f64)> = (0..max_points - 1)
                .map(|k| pts[(k as f64 * step) as usize])
                .collect();
            thin.push(last);
            thin.dedup();
            return thin;
        }
        pts
    }
}

impl AddAssign<&Histogram> for Histogram {
    fn add_assign(&mut self, o: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(o.counts.iter()) {
            *a += *b;
        }
        self.count += o.count;
        self.sum += o.sum;
        self.max = self.max.max(o.max);
        self.min = self.min.min(o.min);
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn buckets_are_monotonic_and_tight() {
        let mut last = 0;
        for v in (0..2_000_000u64).step_by(7) {
            let b = bucket(v);
            assert!(b >= last);
            last = b;
            let up = bucket_upper(b);
            assert!(up >= v, "v {v} upper {up}");
            assert!(
                (up - v) as f64 <= (v as f64 / 128.0) + 1.0,
                "v {v} upper {up}"
            );
        }
        assert!(bucket(u64::MAX) < SUB * (GROUPS + 1));
    }

    #[test]
    fn quantiles_of_a_uniform_series() {
        let mut h = Histogram::new();
        for v in 1..=100_000u64 {
            h.record(v);
        }
        let p50 = h.quantile(0.5) as f64;
        let p99 = h.quantile(0.99) as f64;
        assert!((p50 - 50_000.0).abs() / 50_000.0 < 0.01, "{p50}");
        assert!((p99 - 99_000.0).abs() / 99_000.0 < 0.01, "{p99}");
        assert_eq!(h.quantile(1.0), 100_000);
        assert_eq!(h.max(), 100_000);
        assert!((h.mean() - 50_000.5).abs() < 1e-6);
    }

    #[test]
    fn merge_equals_single() {
        let mut a = Histogram::new();
        let mut b = Histogram::new();
        let mut all = Histogram::new();
        for v in 0..10_000u64 {
            let x = v * v % 99_991;
            all.record(x);
            if v % 2 == 0 { a.record(x) } else { b.record(x) }
        }
        a += &b;
        assert_eq!(a, all);
    }

    #[test]
    fn cdf_ends_at_one() {
        let mut h = Histogram::new();
        for v in 0..5000u64 {
            h.record(v * 13);
        }
        let c = h.cdf(50);
        assert!(c.len() <= 50);
        assert_eq!(c.last().unwrap().1, 1.0);
        assert!(c.windows(2).all(|w| w[0].0 <= w[1].0 && w[0].1 <= w[1].1));
        assert!(Histogram::new().cdf(10).is_empty());
    }
}
