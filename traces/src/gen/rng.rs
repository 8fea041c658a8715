//! A small seeded PRNG and the distributions the generator draws from.
//!
//! The generator is xoshiro256++ (Blackman & Vigna, <https://prng.di.unimi.it/>), seeded
//! through SplitMix64 as its authors recommend. Both are reproduced here (a few lines each) so
//! that the output depends on nothing but the seed: no `rand` thread RNG, no wall clock.
//!
//! Independent streams: `Rng::stream` derives a generator from the run's seed and a purpose
//! label (hashed with FNV-1a), so that, say, the flow-arrival stream of one traffic source does
//! not shift when another source draws more numbers. Each flow owns a generator forked from its
//! source's stream (`Rng::fork`).
//!
//! # Why not `rand_xoshiro` + `rand_distr`
//! Every value drawn here ends up in a generated trace, and generated traces are pinned byte
//! for byte: `sim/tests/golden_outputs.rs` pins the `rules eval --json` output of
//! `trace gen --profile home-router|enterprise --seed 5` and the reports of the bundled
//! scenarios that generate their traffic, and [`super`] promises byte-identical output for
//! one configuration. The raw xoshiro256++ words would match
//! `rand_xoshiro::Xoshiro256PlusPlus` (also SplitMix64-seeded), but the distributions would
//! not: `Rng::below`/`Rng::range` are Lemire's multiply-and-reject, `Rng::exp` and
//! `Rng::bounded_pareto` invert the CDF, `Rng::normal` is Box–Muller (one value per call) and
//! `Zipf` inverts a cumulative table, while `rand`'s integer ranges and `rand_distr`'s
//! `Exp`, `Normal` (Ziggurat) and `Zipf` (rejection-inversion) use other algorithms and
//! consume a different number of words per sample. Switching would change every generated
//! trace; and the rand project permits value-breaking changes in minor versions (the rand
//! book, "Reproducibility"), so even an exact port would tie the golden files to a
//! dependency's version. The tests below pin reference outputs of both generators.

/// SplitMix64 (Steele, Lea & Flood 2014; Vigna's reference `splitmix64.c`): used to expand a
/// 64-bit seed into xoshiro state.
#[derive(Clone, Debug)]
pub(crate) struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator whose state is `seed`.
    pub(crate) fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    /// The next output.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// xoshiro256++ 1.0 with convenience distributions.
#[derive(Clone, Debug)]
pub struct Rng {
    s: [u64; 4],
}

/// FNV-1a over a label, to turn a purpose name into a stream selector.
fn fnv1a(label: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in label.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

impl Rng {
    /// A generator with the given raw state (must not be all zero; an all-zero state is
    /// replaced by a SplitMix64 expansion of 0).
    #[cfg(test)]
    pub(crate) fn from_state(s: [u64; 4]) -> Self {
        if s == [0; 4] {
            return Rng::seed_from_u64(0);
        }
        Rng { s }
    }

    /// Expands a 64-bit seed with SplitMix64.
    pub fn seed_from_u64(seed: u64) -> Self {
        let mut sm = SplitMix64::new(seed);
        let s = [sm.next_u64(), sm.next_u64(), sm.next_u64(), sm.next_u64()];
        Rng { s }
    }

    /// An independent stream for one purpose: the same `(seed, purpose)` always gives the same
    /// sequence, and different purposes give unrelated sequences.
    pub(crate) fn stream(seed: u64, purpose: &str) -> Self {
        let mut sm = SplitMix64::new(seed ^ fnv1a(purpose));
        // Burn one output so that stream("", s) differs from seed_from_u64(s).
        let k = sm.next_u64();
        Rng::seed_from_u64(k ^ seed.rotate_left(17))
    }

    /// A child generator seeded from this one's next output.
    pub(crate) fn fork(&mut self) -> Rng {
        Rng::seed_from_u64(self.next_u64())
    }

    /// The next 64 random bits.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let result = s[0].wrapping_add(s[3]).rotate_left(23).wrapping_add(s[0]);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// The next 32 random bits (the high half, which is the better one).
    #[inline]
    pub(crate) fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }

    /// Uniform in `[0, 1)` with 53 bits of precision.
    #[inline]
    pub(crate) fn f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in `(0, 1]`, safe to take the logarithm of.
    #[inline]
    pub(crate) fn f64_open0(&mut self) -> f64 {
        ((self.next_u64() >> 11) + 1) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform integer in `[0, n)` (Lemire's multiply-shift with rejection; `n = 0` gives 0).
    #[inline]
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        let mut m = u128::from(self.next_u64()) * u128::from(n);
        let mut lo = m as u64;
        if lo < n {
            let t = n.wrapping_neg() % n;
            while lo < t {
                m = u128::from(self.next_u64()) * u128::from(n);
                lo = m as u64;
            }
        }
        (m >> 64) as u64
    }

    /// Uniform integer in `[lo, hi]` (inclusive; swapped bounds are tolerated).
    #[inline]
    pub(crate) fn range(&mut self, lo: u64, hi: u64) -> u64 {
        let (lo, hi) = if lo <= hi { (lo, hi) } else { (hi, lo) };
        if hi - lo == u64::MAX {
            return self.next_u64();
        }
        lo + self.below(hi - lo + 1)
    }

    /// Uniform float in `[lo, hi)`.
    #[inline]
    pub(crate) fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.f64()
    }

    /// `true` with probability `p`.
    #[inline]
    pub(crate) fn chance(&mut self, p: f64) -> bool {
        self.f64() < p
    }

    /// Exponential with the given mean (inverse CDF).
    #[inline]
    pub(crate) fn exp(&mut self, mean: f64) -> f64 {
        -mean * self.f64_open0().ln()
    }

    /// Standard normal (Box–Muller, one value per call; the sine half is discarded to keep
    /// the generator stateless apart from its xoshiro state).
    #[inline]
    pub(crate) fn normal(&mut self) -> f64 {
        let u1 = self.f64_open0();
        let u2 = self.f64();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// Log-normal: `exp(mu + sigma * N(0,1))`. Median `e^mu`, mean `e^(mu + sigma²/2)`.
    #[inline]
    pub fn lognormal(&mut self, mu: f64, sigma: f64) -> f64 {
        (mu + sigma * self.normal()).exp()
    }

    /// Log-normal given its median and sigma (more readable at call sites).
    #[inline]
    pub(crate) fn lognormal_median(&mut self, median: f64, sigma: f64) -> f64 {
        self.lognormal(median.ln(), sigma)
    }

    /// Pareto (type I): `P(X > x) = (xm / x)^alpha` for `x >= xm`.
    #[cfg(test)]
    #[inline]
    pub(crate) fn pareto(&mut self, xm: f64, alpha: f64) -> f64 {
        xm / self.f64_open0().powf(1.0 / alpha)
    }

    /// Bounded Pareto on `[lo, hi]` with shape `alpha` (inverse CDF of the truncated law).
    #[inline]
    pub(crate) fn bounded_pareto(&mut self, lo: f64, hi: f64, alpha: f64) -> f64 {
        let u = self.f64();
        let la = lo.powf(alpha);
        let ha = hi.powf(alpha);
        // F(x) = (1 - (lo/x)^a) / (1 - (lo/hi)^a)  =>  x = lo / (1 - u (1 - (lo/hi)^a))^(1/a)
        let r = 1.0 - u * (1.0 - la / ha);
        (lo / r.powf(1.0 / alpha)).min(hi)
    }

    /// Log-uniform on `[lo, hi]` (uniform exponent).
    #[inline]
    pub(crate) fn log_uniform(&mut self, lo: f64, hi: f64) -> f64 {
        (lo.ln() + (hi.ln() - lo.ln()) * self.f64()).exp()
    }

    /// An index drawn with the given (non-negative) weights; 0 if they are all zero.
    pub(crate) fn weighted(&mut self, weights: &[f64]) -> usize {
        let total: f64 = weights.iter().sum();
        if total <= 0.0 {
            return 0;
        }
        let mut x = self.f64() * total;
        for (i, w) in weights.iter().enumerate() {
            if x < *w {
                return i;
            }
            x -= w;
        }
        weights.len() - 1
    }
}

/// An empirical CDF given as `(value, cumulative probability)` points, sampled by inverting it
/// with linear interpolation between points (the way HKUST-SING/TrafficGenerator and the
/// DCTCP/VL2 simulations use these tables). Below the first point's probability the first
/// value is returned.
#[derive(Clone, Debug)]
pub(crate) struct PiecewiseCdf {
    pts: Vec<(f64, f64)>,
}

/// Why a CDF table was rejected.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub(crate) enum CdfError {
    /// No points.
    #[error("CDF has no points")]
    Empty,
    /// Values or probabilities decrease, or a probability lies outside [0, 1].
    #[error("CDF point {index} is not monotone or out of range")]
    NotMonotone {
        /// Index of the offending point.
        index: usize,
    },
    /// The last probability is not 1.
    #[error("CDF must end at probability 1, ends at {0}")]
    NotComplete(f64),
}

impl PiecewiseCdf {
    /// Builds a CDF from `(value, probability)` points in increasing order ending at 1.
    pub(crate) fn new(points: &[(f64, f64)]) -> Result<Self, CdfError> {
        if points.is_empty() {
            return Err(CdfError::Empty);
        }
        let mut prev = (f64::NEG_INFINITY, 0.0);
        for (index, &(x, p)) in points.iter().enumerate() {
            if !(x.is_finite() && (0.0..=1.0).contains(&p)) || x < prev.0 || p < prev.1 {
                return Err(CdfError::NotMonotone { index });
            }
            prev = (x, p);
        }
        let last = points[points.len() - 1].1;
        if (last - 1.0).abs() > 1e-9 {
            return Err(CdfError::NotComplete(last));
        }
        Ok(PiecewiseCdf {
            pts: points.to_vec(),
        })
    }

    /// The value at cumulative probability `u` (linear interpolation).
    pub(crate) fn quantile(&self, u: f64) -> f64 {
        let p = &self.pts;
        if u <= p[0].1 {
            return p[0].0;
        }
        // First point with probability >= u.
        let i = p.partition_point(|&(_, q)| q < u).min(p.len() - 1);
        let (x0, q0) = p[i - 1];
        let (x1, q1) = p[i];
        if q1 <= q0 {
            return x1;
        }
        x0 + (x1 - x0) * (u - q0) / (q1 - q0)
    }

    /// A random value.
    #[inline]
    pub(crate) fn sample(&self, rng: &mut Rng) -> f64 {
        self.quantile(rng.f64())
    }

    /// The mean of the interpolated distribution (the first point's mass sits at its value).
    #[cfg(test)]
    pub(crate) fn mean(&self) -> f64 {
        let p = &self.pts;
        let mut m = p[0].0 * p[0].1;
        for w in p.windows(2) {
            m += (w[1].1 - w[0].1) * (w[0].0 + w[1].0) / 2.0;
        }
        m
    }
}

/// A Zipf-like popularity table over `n` items: item `i` (0-based) has weight `1/(i+1)^s`.
#[derive(Clone, Debug)]
pub(crate) struct Zipf {
    cum: Vec<f64>,
}

impl Zipf {
    /// A table over `n >= 1` items with exponent `s`.
    pub(crate) fn new(n: usize, s: f64) -> Self {
        let n = n.max(1);
        let mut cum = Vec::with_capacity(n);
        let mut acc = 0.0;
        for i in 0..n {
            acc += 1.0 / ((i + 1) as f64).powf(s);
            cum.push(acc);
        }
        for c in &mut cum {
            *c /= acc;
        }
        Zipf { cum }
    }

    /// A random item index.
    #[inline]
    pub(crate) fn sample(&self, rng: &mut Rng) -> usize {
        let u = rng.f64();
        self.cum
            .partition_point(|&c| c <= u)
            .min(self.cum.len() - 1)
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn xoshiro_reference_outputs() {
        // Reference: xoshiro256plusplus.c with s = {1, 2, 3, 4} (the values are also the
        // test vector of the rand_xoshiro crate).
        let mut r = Rng::from_state([1, 2, 3, 4]);
        let expected: [u64; 10] = [
            41943041,
            58720359,
            3588806011781223,
            3591011842654386,
            9228616714210784205,
            9973669472204895162,
            14011001112246962877,
            12406186145184390807,
            15849039046786891736,
            10450023813501588000,
        ];
        for e in expected {
            assert_eq!(r.next_u64(), e);
        }
    }

    #[test]
    fn splitmix_reference_outputs() {
        // Reference: splitmix64.c seeded with 1234567 (Vigna's test values).
        let mut s = SplitMix64::new(1234567);
        let expected: [u64; 5] = [
            6457827717110365317,
            3203168211198807973,
            9817491932198370423,
            4593380528125082431,
            16408922859458223821,
        ];
        for e in expected {
            assert_eq!(s.next_u64(), e);
        }
    }

    #[test]
    fn streams_are_reproducible_and_independent() {
        let a: Vec<u64> = {
            let mut r = Rng::stream(7, "arrivals");
            (0..4).map(|_| r.next_u64()).collect()
        };
        let b: Vec<u64> = {
            let mut r = Rng::stream(7, "arrivals");
            (0..4).map(|_| r.next_u64()).collect()
        };
        let c: Vec<u64> = {
            let mut r = Rng::stream(7, "sizes");
            (0..4).map(|_| r.next_u64()).collect()
        };
        let d: Vec<u64> = {
            let mut r = Rng::stream(8, "arrivals");
            (0..4).map(|_| r.next_u64()).collect()
        };
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_ne!(a, d);
    }

    const N: usize = 200_000;

    fn mean_of(mut f: impl FnMut() -> f64) -> (f64, Vec<f64>) {
        let mut v: Vec<f64> = (0..N).map(|_| f()).collect();
        let m = v.iter().sum::<f64>() / N as f64;
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        (m, v)
    }

    fn q(v: &[f64], p: f64) -> f64 {
        v[((v.len() as f64 - 1.0) * p) as usize]
    }

    #[test]
    fn uniform_and_below() {
        let mut r = Rng::seed_from_u64(1);
        let (m, v) = mean_of(|| r.f64());
        assert!((m - 0.5).abs() < 0.005, "{m}");
        assert!((q(&v, 0.9) - 0.9).abs() < 0.01);
        let mut counts = [0u32; 6];
        for _ in 0..60_000 {
            counts[r.below(6) as usize] += 1;
        }
        for c in counts {
            assert!((9_500..10_500).contains(&c), "{counts:?}");
        }
        for _ in 0..1000 {
            let x = r.range(5, 7);
            assert!((5..=7).contains(&x));
        }
        assert_eq!(r.below(0), 0);
    }

    #[test]
    fn exponential_mean_and_median() {
        let mut r = Rng::seed_from_u64(2);
        let (m, v) = mean_of(|| r.exp(3.0));
        assert!((m - 3.0).abs() < 0.05, "{m}");
        assert!((q(&v, 0.5) - 3.0 * std::f64::consts::LN_2).abs() < 0.05);
    }

    #[test]
    fn normal_and_lognormal() {
        let mut r = Rng::seed_from_u64(3);
        let (m, v) = mean_of(|| r.normal());
        assert!(m.abs() < 0.01, "{m}");
        // 84.13 % quantile of N(0,1) is 1.
        assert!((q(&v, 0.8413) - 1.0).abs() < 0.02);
        let (m, v) = mean_of(|| r.lognormal(1.0, 0.5));
        let expect = (1.0f64 + 0.125).exp();
        assert!((m - expect).abs() / expect < 0.01, "{m} vs {expect}");
        assert!((q(&v, 0.5) - 1.0f64.exp()).abs() < 0.03);
    }

    #[test]
    fn pareto_tail() {
        let mut r = Rng::seed_from_u64(4);
        // alpha 2.5, xm 1: mean = alpha/(alpha-1) = 5/3; P(X > 2) = 2^-2.5.
        let (m, v) = mean_of(|| r.pareto(1.0, 2.5));
        assert!((m - 5.0 / 3.0).abs() < 0.03, "{m}");
        let above = v.iter().filter(|&&x| x > 2.0).count() as f64 / N as f64;
        assert!((above - 2f64.powf(-2.5)).abs() < 0.005, "{above}");
        assert!(v[0] >= 1.0);
        // Bounded: all within bounds; P(X > 10) for bounded Pareto(1, 1000, 0.7).
        let (_, v) = mean_of(|| r.bounded_pareto(1.0, 1000.0, 0.7));
        assert!(v[0] >= 1.0 && v[N - 1] <= 1000.0);
        let above = v.iter().filter(|&&x| x > 10.0).count() as f64 / N as f64;
        let expect = (10f64.powf(-0.7) - 1000f64.powf(-0.7)) / (1.0 - 1000f64.powf(-0.7));
        assert!((above - expect).abs() < 0.005, "{above} vs {expect}");
    }

    #[test]
    fn piecewise_cdf_quantiles_and_mean() {
        let cdf = PiecewiseCdf::new(&[(0.0, 0.0), (10.0, 0.5), (30.0, 1.0)]).unwrap();
        assert_eq!(cdf.quantile(0.25), 5.0);
        assert_eq!(cdf.quantile(0.75), 20.0);
        assert_eq!(cdf.quantile(1.0), 30.0);
        assert!((cdf.mean() - (0.5 * 5.0 + 0.5 * 20.0)).abs() < 1e-9);
        let mut r = Rng::seed_from_u64(5);
        let (m, v) = mean_of(|| cdf.sample(&mut r));
        assert!((m - 12.5).abs() < 0.1, "{m}");
        assert!((q(&v, 0.5) - 10.0).abs() < 0.2);
        // A first point with mass: values below its probability are clamped to it.
        let c2 = PiecewiseCdf::new(&[(180.0, 0.1), (216.0, 0.2), (560.0, 1.0)]).unwrap();
        assert_eq!(c2.quantile(0.05), 180.0);
        assert!(PiecewiseCdf::new(&[]).is_err());
        assert!(PiecewiseCdf::new(&[(1.0, 0.5), (0.5, 1.0)]).is_err());
        assert!(PiecewiseCdf::new(&[(1.0, 0.5), (2.0, 0.9)]).is_err());
    }

    #[test]
    fn weighted_and_zipf() {
        let mut r = Rng::seed_from_u64(6);
        let mut c = [0u32; 3];
        for _ in 0..70_000 {
            c[r.weighted(&[1.0, 2.0, 4.0])] += 1;
        }
        assert!((9_300..10_700).contains(&c[0]), "{c:?}");
        assert!((38_500..41_500).contains(&c[2]), "{c:?}");
        let z = Zipf::new(100, 1.0);
        let mut first = 0;
        for _ in 0..100_000 {
            if z.sample(&mut r) == 0 {
                first += 1;
            }
        }
        // H(100) = 5.187: item 0 has probability 0.1928.
        assert!((18_500..20_000).contains(&first), "{first}");
    }
}
