//! The statistics of a compare, as plain functions on slices (no I/O, no model types), so
//! each is tested on hand-computed samples.
//!
//! The shift of the candidate against the baseline is the Hodges–Lehmann estimate: the median
//! of every pairwise difference `candidate_j − baseline_i`. Its confidence interval is the
//! distribution-free one that inverts the Mann–Whitney test (order statistics of the same
//! pairwise differences, cut where the exact null distribution of U puts α/2 in each tail)
//! whenever the sample sizes can reach the requested confidence at all; with fewer samples
//! (3 per side cannot reach 95 %: the most extreme cut already leaves 10 %) it falls back to
//! a percentile bootstrap of the same estimate, expanded for small samples (Hesterberg), with
//! a fixed seed so a compare is reproducible. Fewer than [`MIN_BOOTSTRAP`] samples on either side get no interval.

use serde::{Deserialize, Serialize};

/// The smallest sample per side for which a bootstrap interval is attempted.
pub const MIN_BOOTSTRAP: usize = 3;
/// Bootstrap resamples; 4000 keeps the percentile cut's own noise far below the data's.
pub const BOOTSTRAP_RESAMPLES: usize = 4000;
/// The fixed bootstrap seed ("gauntlet" in ASCII): the same samples give the same interval.
pub const BOOTSTRAP_SEED: u64 = 0x6761_756e_746c_6574;
/// Above this many pairs the exact U distribution gives way to its normal approximation.
const EXACT_MAX_PAIRS: usize = 40_000;

/// How a confidence interval was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CiMethod {
    /// Distribution-free, from the Mann–Whitney U distribution.
    MannWhitney,
    /// Percentile bootstrap of the Hodges–Lehmann estimate, fixed seed.
    Bootstrap,
    /// Too few samples for any interval.
    None,
}

/// The estimated shift (candidate − baseline) and its interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Shift {
    /// Hodges–Lehmann estimate; `None` when a side has no sample.
    pub estimate: Option<f64>,
    /// `(low, high)`, `None` when no interval could be computed.
    pub ci: Option<(f64, f64)>,
    pub method: CiMethod,
    /// The confidence the interval actually has (the Mann–Whitney cut is discrete, so it is
    /// at least the requested one); the requested one for the bootstrap.
    pub confidence: Option<f64>,
}

/// The median; `None` for an empty slice. NaNs must not be passed in.
pub fn median(xs: &[f64]) -> Option<f64> {
    if xs.is_empty() {
        return None;
    }
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

/// Every pairwise difference `b_j − a_i`, sorted ascending.
pub fn pairwise_differences(a: &[f64], b: &[f64]) -> Vec<f64> {
    let mut d: Vec<f64> = b
        .iter()
        .flat_map(|y| a.iter().map(move |x| y - x))
        .collect();
    d.sort_by(f64::total_cmp);
    d
}

/// The Hodges–Lehmann shift estimate of `b` against `a`: the median of `b_j − a_i`.
pub fn hodges_lehmann(a: &[f64], b: &[f64]) -> Option<f64> {
    median(&pairwise_differences(a, b))
}

/// `P(U ≤ u)` for u = 0..=n·m under the null hypothesis, U being the number of pairs with
/// `b > a` for samples of sizes `n` (a) and `m` (b) without ties. The recurrence conditions
/// on which sample holds the largest value: a `b` there beats all `n` values of `a`.
pub fn mann_whitney_cdf(n: usize, m: usize) -> Vec<f64> {
    // prob[j][u] = P(U = u) for sizes (i, j); rows built up over i.
    let max_u = n * m;
    let mut prev: Vec<Vec<f64>> = (0..=m)
        .map(|_| {
            let mut row = vec![0.0; max_u + 1];
            row[0] = 1.0;
            row
        })
        .collect();
    for i in 1..=n {
        let mut cur: Vec<Vec<f64>> = vec![vec![0.0; max_u + 1]; m + 1];
        cur[0][0] = 1.0;
        for j in 1..=m {
            let (pa, pb) = (i as f64 / (i + j) as f64, j as f64 / (i + j) as f64);
            for u in 0..=i * j {
                let from_a = prev[j][u];
                let from_b = if u >= i { cur[j - 1][u - i] } else { 0.0 };
                cur[j][u] = pa * from_a + pb * from_b;
            }
        }
        prev = cur;
    }
    let mut acc = 0.0;
    prev[m]
        .iter()
        .map(|p| {
            acc += p;
            acc
        })
        .collect()
}

/// The distribution-free interval for the shift at `confidence` (e.g. 0.95): `(low, high,
/// achieved confidence)`, or `None` when these sample sizes cannot reach it.
pub fn mann_whitney_ci(a: &[f64], b: &[f64], confidence: f64) -> Option<(f64, f64, f64)> {
    let (n, m) = (a.len(), b.len());
    if n == 0 || m == 0 {
        return None;
    }
    let half_alpha = (1.0 - confidence) / 2.0;
    let pairs = n * m;
    // k: the 1-based order statistic of the differences that bounds the interval.
    let (k, achieved) = if pairs <= EXACT_MAX_PAIRS {
        let cdf = mann_whitney_cdf(n, m);
        // Largest k with P(U ≤ k − 1) ≤ α/2; a tiny tolerance absorbs float rounding.
        let k = cdf.iter().take_while(|p| **p <= half_alpha + 1e-12).count();
        if k == 0 {
            return None;
        }
        (k, 1.0 - 2.0 * cdf[k - 1])
    } else {
        let (nf, mf) = (n as f64, m as f64);
        let sd = (nf * mf * (nf + mf + 1.0) / 12.0).sqrt();
        let z = normal_quantile(1.0 - half_alpha);
        let k = (nf * mf / 2.0 - z * sd).floor().max(1.0) as usize;
        (k, confidence)
    };
    let d = pairwise_differences(a, b);
    Some((d[k - 1], d[pairs - k], achieved))
}

/// A percentile-bootstrap interval of the Hodges–Lehmann shift: `None` below
/// [`MIN_BOOTSTRAP`] samples on a side. Deterministic for a given `seed`.
pub fn bootstrap_ci(
    a: &[f64],
    b: &[f64],
    confidence: f64,
    resamples: usize,
    seed: u64,
) -> Option<(f64, f64)> {
    if a.len() < MIN_BOOTSTRAP || b.len() < MIN_BOOTSTRAP || resamples == 0 {
        return None;
    }
    let mut rng = SplitMix64(seed);
    let mut ra = vec![0.0; a.len()];
    let mut rb = vec![0.0; b.len()];
    let mut estimates = Vec::with_capacity(resamples);
    for _ in 0..resamples {
        for x in ra.iter_mut() {
            *x = a[rng.below(a.len())];
        }
        for y in rb.iter_mut() {
            *y = b[rng.below(b.len())];
        }
        estimates.extend(hodges_lehmann(&ra, &rb));
    }
    estimates.sort_by(f64::total_cmp);
    let half_alpha = expanded_alpha(1.0 - confidence, a.len().min(b.len())) / 2.0;
    Some((
        quantile_sorted(&estimates, half_alpha),
        quantile_sorted(&estimates, 1.0 - half_alpha),
    ))
}

/// Hesterberg's expanded percentile bootstrap: the plain percentile interval is too narrow
/// for small samples (it ignores that the spread itself is estimated), so its α is shrunk
/// to `2·Φ(−√(n/(n−1))·t(α/2, n−1))`. For 3 per side the interval then spans nearly every
/// resampled shift and excludes zero only when the two samples hardly overlap.
pub fn expanded_alpha(alpha: f64, n: usize) -> f64 {
    if n < 2 {
        return alpha;
    }
    let df = (n - 1) as f64;
    let t = student_t_quantile(1.0 - alpha / 2.0, df);
    2.0 * normal_cdf(-(n as f64 / df).sqrt() * t)
}

/// Student's t quantile: exact for 1 and 2 degrees of freedom, else the Cornish–Fisher
/// expansion around the normal quantile (within 1 % of tables from 3 degrees of freedom).
fn student_t_quantile(p: f64, df: f64) -> f64 {
    if df == 1.0 {
        return (std::f64::consts::PI * (p - 0.5)).tan();
    }
    if df == 2.0 {
        return (2.0 * p - 1.0) / (2.0 * p * (1.0 - p)).sqrt();
    }
    let z = normal_quantile(p);
    let (z3, z5, z7) = (z.powi(3), z.powi(5), z.powi(7));
    z + (z3 + z) / (4.0 * df)
        + (5.0 * z5 + 16.0 * z3 + 3.0 * z) / (96.0 * df * df)
        + (3.0 * z7 + 19.0 * z5 + 17.0 * z3 - 15.0 * z) / (384.0 * df.powi(3))
}

/// The standard normal CDF (Abramowitz–Stegun 7.1.26 erf, |error| < 1.5e-7, relative
/// accuracy far beyond what the interval needs even in the far tail via the complement).
fn normal_cdf(x: f64) -> f64 {
    if x > 0.0 {
        return 1.0 - normal_cdf(-x);
    }
    // Φ(x) = erfc(−x/√2)/2, with erfc from the complementary-error-function series of
    // Numerical Recipes (erfcc, relative error < 1.2e-7 everywhere, so tails stay accurate).
    let z = -x / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    t * poly.exp() / 2.0
}

/// The shift of `b` against `a` with the best interval the sample sizes allow.
pub fn shift(a: &[f64], b: &[f64], confidence: f64) -> Shift {
    let estimate = hodges_lehmann(a, b);
    if let Some((lo, hi, achieved)) = mann_whitney_ci(a, b, confidence) {
        return Shift {
            estimate,
            ci: Some((lo, hi)),
            method: CiMethod::MannWhitney,
            confidence: Some(achieved),
        };
    }
    match bootstrap_ci(a, b, confidence, BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED) {
        Some(ci) => Shift {
            estimate,
            ci: Some(ci),
            method: CiMethod::Bootstrap,
            confidence: Some(confidence),
        },
        None => Shift {
            estimate,
            ci: None,
            method: CiMethod::None,
            confidence: None,
        },
    }
}

/// Linear-interpolated quantile (type 7) of sorted data.
fn quantile_sorted(v: &[f64], q: f64) -> f64 {
    let pos = q.clamp(0.0, 1.0) * (v.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    v[lo] + (v[hi] - v[lo]) * (pos - lo as f64)
}

/// The standard normal quantile (Acklam's rational approximation, |error| < 1.2e-9), used
/// only for samples too large for the exact U distribution.
fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969683028665376e1,
        2.209460984245205e2,
        -2.759285104469687e2,
        1.38357751867269e2,
        -3.066479806614716e1,
        2.506628277459239,
    ];
    const B: [f64; 5] = [
        -5.447609879822406e1,
        1.615858368580409e2,
        -1.556989798598866e2,
        6.680131188771972e1,
        -1.328068155288572e1,
    ];
    const C: [f64; 6] = [
        -7.784894002430293e-3,
        -3.223964580411365e-1,
        -2.400758277161838,
        -2.549732539343734,
        4.374664141464968,
        2.938163982698783,
    ];
    const D: [f64; 4] = [
        7.784695709041462e-3,
        3.224671290700398e-1,
        2.445134137142996,
        3.754408661907416,
    ];
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    if p < 0.02425 {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - 0.02425 {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}

/// SplitMix64: a tiny generator whose output is fixed by its seed forever, unlike a library
/// RNG whose stream may change between versions; a compare must be reproducible.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (the modulo bias is below 2^-50 for the sizes used here).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn median_of_odd_and_even() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&[]), None);
    }

    #[test]
    fn hodges_lehmann_by_hand() {
        // b − a: 10-1=9, 10-2=8, 10-4=6, 11-1=10, 11-2=9, 11-4=7 → sorted 6 7 8 9 9 10.
        let hl = hodges_lehmann(&[1.0, 2.0, 4.0], &[10.0, 11.0]).unwrap();
        assert!(close(hl, 8.5), "{hl}");
        assert_eq!(hodges_lehmann(&[], &[1.0]), None);
    }

    #[test]
    fn u_distribution_matches_counting() {
        // n = m = 3: C(6,3) = 20 orderings; U = 0 and U = 1 have one each, U = 2 two.
        let cdf = mann_whitney_cdf(3, 3);
        assert_eq!(cdf.len(), 10);
        assert!(close(cdf[0], 1.0 / 20.0));
        assert!(close(cdf[1], 2.0 / 20.0));
        assert!(close(cdf[2], 4.0 / 20.0));
        assert!(close(cdf[9], 1.0));
        // Symmetric: P(U ≤ u) = P(U ≥ nm − u).
        let cdf = mann_whitney_cdf(4, 6);
        for u in 0..24 {
            assert!(close(cdf[u], 1.0 - cdf[23 - u]), "u = {u}");
        }
    }

    #[test]
    fn mann_whitney_interval_by_hand() {
        // n = m = 5: P(U ≤ 2) = 4/252 ≤ 0.025 < P(U ≤ 3) = 7/252, so k = 3 and the 95 %
        // interval is [d(3), d(23)] with confidence 1 − 8/252 (Hollander & Wolfe's table).
        let a = [1.0, 2.0, 3.0, 4.0, 5.0];
        let b = [11.0, 12.0, 13.0, 14.0, 15.0];
        // Differences are 10 + (j − i): 6 (×1), 7 (×2), 8 (×3), 9 (×4), 10 (×5), 11 (×4)…
        let (lo, hi, conf) = mann_whitney_ci(&a, &b, 0.95).unwrap();
        assert!(close(lo, 7.0) && close(hi, 13.0), "{lo} {hi}");
        assert!(close(conf, 1.0 - 8.0 / 252.0), "{conf}");
        assert!(close(hodges_lehmann(&a, &b).unwrap(), 10.0));
    }

    #[test]
    fn mann_whitney_needs_enough_samples() {
        // 3 vs 3 cannot reach 95 %: even the widest cut leaves 2/20 = 10 %.
        assert!(mann_whitney_ci(&[1.0, 2.0, 3.0], &[4.0, 5.0, 6.0], 0.95).is_none());
        let (lo, hi, conf) = mann_whitney_ci(&[1.0, 2.0, 3.0], &[4.0, 5.0, 6.0], 0.90).unwrap();
        assert!(close(lo, 1.0) && close(hi, 5.0) && close(conf, 0.9));
        // 4 vs 4 can: k = 1, confidence 1 − 2/70.
        let (_, _, conf) = mann_whitney_ci(&[1.0; 4], &[2.0; 4], 0.95).unwrap();
        assert!(close(conf, 1.0 - 2.0 / 70.0));
    }

    #[test]
    fn large_samples_use_the_normal_cut() {
        let a: Vec<f64> = (0..300).map(|i| f64::from(i % 50)).collect();
        let b: Vec<f64> = a.iter().map(|x| x + 100.0).collect();
        let (lo, hi, conf) = mann_whitney_ci(&a, &b, 0.95).unwrap();
        assert!(lo < 100.0 && hi > 100.0 && conf == 0.95, "{lo} {hi}");
        assert!(close(hodges_lehmann(&a, &b).unwrap(), 100.0));
    }

    #[test]
    fn bootstrap_is_deterministic_and_sensible() {
        let a = [10.0, 10.4, 9.8];
        let b = [12.1, 11.9, 12.3];
        let one = bootstrap_ci(&a, &b, 0.95, 2000, BOOTSTRAP_SEED).unwrap();
        let two = bootstrap_ci(&a, &b, 0.95, 2000, BOOTSTRAP_SEED).unwrap();
        assert_eq!(one, two);
        // Every resampled shift lies between min(b) − max(a) and max(b) − min(a).
        assert!(
            one.0 >= 11.9 - 10.4 - 1e-9 && one.1 <= 12.3 - 9.8 + 1e-9,
            "{one:?}"
        );
        assert!(one.0 > 0.0, "fully separated samples exclude zero: {one:?}");
        assert!(bootstrap_ci(&a[..2], &b, 0.95, 2000, 1).is_none());
    }

    #[test]
    fn shift_picks_the_method_by_sample_size() {
        let s = shift(&[1.0, 2.0, 3.0, 4.0], &[1.5, 2.5, 3.5, 4.5], 0.95);
        assert_eq!(s.method, CiMethod::MannWhitney);
        let s = shift(&[1.0, 2.0, 3.0], &[1.5, 2.5, 3.5], 0.95);
        assert_eq!(s.method, CiMethod::Bootstrap);
        let (lo, hi) = s.ci.unwrap();
        assert!(lo < 0.0 && hi > 0.0, "overlapping samples include zero");
        let s = shift(&[1.0, 2.0], &[1.5, 2.5], 0.95);
        assert_eq!((s.method, s.ci), (CiMethod::None, None));
        assert!(close(s.estimate.unwrap(), 0.5));
    }

    #[test]
    fn expanded_alpha_matches_hand_computation() {
        // n = 3: t(0.975, 2) = 4.3027, × √1.5 = 5.2697, 2·Φ(−5.2697) ≈ 1.37e-7.
        let a = expanded_alpha(0.05, 3);
        assert!(a > 1.0e-7 && a < 1.8e-7, "{a}");
        // n = 10: t(0.975, 9) = 2.2622, × √(10/9) = 2.3846, 2·Φ(−2.3846) ≈ 0.0171.
        let a = expanded_alpha(0.05, 10);
        assert!((a - 0.0171).abs() < 0.0005, "{a}");
        // Large n: back to α.
        assert!((expanded_alpha(0.05, 10_000) - 0.05).abs() < 0.001);
        assert!((student_t_quantile(0.975, 5.0) - 2.5706).abs() < 0.02);
        assert!((normal_cdf(-1.959964) - 0.025).abs() < 1e-6);
    }

    #[test]
    fn normal_quantile_matches_tables() {
        assert!((normal_quantile(0.975) - 1.959964).abs() < 1e-5);
        assert!((normal_quantile(0.5)).abs() < 1e-9);
        assert!((normal_quantile(0.01) + 2.326348).abs() < 1e-5);
    }
}
