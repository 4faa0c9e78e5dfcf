//! Exact binomial tail probabilities and Benjamini–Hochberg q-values.
//!
//! The p-value of a group of `n` samples with `k` correct, in a class of accuracy `p`, is
//! `P(X <= k)` for `X ~ Binomial(n, p)`: how likely a group this small would be this bad if
//! it were as accurate as its class. Up to `n = 4096`, and unless `P(X = k)` is below 2^-20
//! of the mode's probability, it is the sum of the binomial's probabilities `P(X = j)`,
//! `j <= k`, taken along the row `n` from its mode (computed from a precise
//! log-binomial-coefficient) by the ratio of neighbours, which one pass shares between every
//! `k` of the row; otherwise the regularized incomplete beta function `I_{1-p}(n - k, k + 1)`,
//! by its continued fraction. Either way a value depends on `(k, n, p)` alone, so a batch
//! gives every pair bit for bit its single value.

use std::sync::{Arc, Mutex, OnceLock};

use rayon::prelude::*;

/// `ln Γ(x)` for `x > 0` (Lanczos approximation, g = 7, relative error below 1e-15).
pub fn ln_gamma(x: f64) -> f64 {
    const G: f64 = 7.0;
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Reflection: Γ(x) Γ(1 - x) = π / sin(πx).
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = C[0];
    let t = x + G + 0.5;
    for (i, &c) in C.iter().enumerate().skip(1) {
        a += c / (x + i as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

/// `ln C(n, k)`, exact through integer arithmetic where it fits, else through `ln Γ`.
fn ln_choose(n: u64, k: u64, ln_fact: &[f64]) -> f64 {
    let k = k.min(n - k);
    if k == 0 {
        return 0.0;
    }
    if n <= 60 {
        // Exact: C(n, k) < 2^60 fits a u128 product chain without rounding.
        let mut c: u128 = 1;
        for i in 0..k as u128 {
            c = c * (n as u128 - i) / (i + 1);
        }
        return (c as f64).ln();
    }
    if let Some(&ln_n) = ln_fact.get(n as usize) {
        // The table's values are ln_gamma's own: the same bits.
        return ln_n - ln_fact[k as usize] - ln_fact[(n - k) as usize];
    }
    ln_gamma(n as f64 + 1.0) - ln_gamma(k as f64 + 1.0) - ln_gamma((n - k) as f64 + 1.0)
}

/// Longest table of `ln(i!)` kept (2^22 entries, 32 MiB): larger `n` compute `ln_gamma`
/// each time.
const LN_FACT_MAX: usize = 1 << 22;

/// The process's table of `ln(i!) = ln_gamma(i + 1)`, grown on demand to a power of two.
static LN_FACT: Mutex<Option<Arc<Vec<f64>>>> = Mutex::new(None);

/// A table of `ln(i!)`, `ln_gamma(i + 1)` bit for bit, for every `i <= n` (empty where `n`
/// is past [`LN_FACT_MAX`]), made once per process and shared: three look-ups instead of
/// three `ln_gamma` (about 40 ns each) per log-binomial-coefficient.
fn ln_factorials(n: u64) -> Arc<Vec<f64>> {
    ln_factorials_in(&LN_FACT, n)
}

/// [`ln_factorials`] kept in `cell`. The lock is held only to read or swap the table, never
/// while a longer one is computed: that runs on rayon, and a worker waiting on it may steal
/// a job that asks for the table too (a search's p-value chunks do), which would then wait
/// on the lock forever. Threads that grow it at once compute the same bits; the longest
/// table stays.
fn ln_factorials_in(cell: &Mutex<Option<Arc<Vec<f64>>>>, n: u64) -> Arc<Vec<f64>> {
    let want = n as usize + 1;
    if want > LN_FACT_MAX {
        return Arc::new(Vec::new());
    }
    let old = {
        let table = cell.lock().unwrap_or_else(|e| e.into_inner());
        match &*table {
            Some(t) if t.len() >= want => return Arc::clone(t),
            old => old.clone(),
        }
    };
    let old = old.as_ref().map_or(&[][..], |t| &t[..]);
    let len = want.next_power_of_two().max(1 << 12);
    let mut grown = Vec::with_capacity(len);
    grown.extend_from_slice(old);
    grown.par_extend(
        (old.len()..len)
            .into_par_iter()
            .map(|i| ln_gamma(i as f64 + 1.0)),
    );
    let mut table = cell.lock().unwrap_or_else(|e| e.into_inner());
    match &*table {
        Some(t) if t.len() >= len => Arc::clone(t),
        _ => {
            let grown = Arc::new(grown);
            *table = Some(Arc::clone(&grown));
            grown
        }
    }
}

/// What every `(k, n)` pair of a batch at one `p` shares: `ln p`, `ln (1 - p)` and a table
/// of `ln(i!)` up to the batch's largest `n`.
struct Logs {
    ln_p: f64,
    ln_q: f64,
    ln_fact: Arc<Vec<f64>>,
}

impl Logs {
    fn new(p: f64, n_max: u64) -> Logs {
        Logs {
            ln_p: p.ln(),
            ln_q: (1.0 - p).ln(),
            ln_fact: ln_factorials(n_max),
        }
    }
}

/// The continued fraction of the incomplete beta function of `L` independent arguments side
/// by side, each lane bit for bit what it gives alone (the same IEEE operations in the same
/// order; a lane that has converged keeps its value while the others go on).
///
/// The fraction is `1 / (1 + d_1 / (1 + d_2 / (1 + ...)))` with `d_j = num_j / den_j`
/// (Numerical Recipes' `betacf` terms). Its convergents `A_j / B_j` come from the forward
/// recurrence `A_j = A_{j-1} + d_{j-1} A_{j-2}` with each `den` multiplied through (an
/// equivalence transformation: both convergents kept at one scale, so a step is
/// multiplications only), and rescaled by `1 / B` once per two steps, where the convergent is
/// read and checked: one division per two steps, where Lentz's method takes six (which
/// bound its speed). It stops once two successive convergents agree to four units in the
/// last place. A lane whose `B` is not a finite nonzero number (never seen where the caller
/// uses the fraction, `x < (a + 1) / (a + b + 2)`) takes Lentz's method instead.
#[inline(always)]
fn beta_cf_lanes<const L: usize>(a: [f64; L], b: [f64; L], x: [f64; L]) -> [f64; L] {
    const EPS: f64 = 4.0 * f64::EPSILON;
    let (mut qab, mut qap, mut qam) = ([0.0; L], [0.0; L], [0.0; L]);
    // (A, B) of the last convergent and of the one before, at one scale.
    let (mut a1, mut b1, mut a2, mut b2) = ([0.0; L], [1.0; L], [0.0; L], [0.0; L]);
    let mut h = [0.0; L];
    let mut running = [true; L];
    let mut lentz = [false; L];
    for l in 0..L {
        (qab[l], qap[l], qam[l]) = (a[l] + b[l], a[l] + 1.0, a[l] - 1.0);
        // The first step from (A_1, B_1) = (1, 1) and (A_0, B_0) = (0, 1).
        let (num, den) = (-qab[l] * x[l], qap[l]);
        let (an, bn) = (den, den + num);
        let r = 1.0 / bn;
        (a1[l], a2[l], b2[l]) = (an * r, den * r, den * r);
        h[l] = a1[l];
        if !(bn.is_finite() && bn != 0.0) {
            (running[l], lentz[l]) = (false, true);
        }
    }
    for m in 1..100_000 {
        let m = f64::from(m);
        let m2 = 2.0 * m;
        for l in 0..L {
            let num = m * (b[l] - m) * x[l];
            let den = (qam[l] + m2) * (a[l] + m2);
            let (an, bn) = (den * a1[l] + num * a2[l], den * b1[l] + num * b2[l]);
            let (p1, q1) = (den * a1[l], den * b1[l]);
            let num = -(a[l] + m) * (qab[l] + m) * x[l];
            let den = (a[l] + m2) * (qap[l] + m2);
            let (am, bm) = (den * an + num * p1, den * bn + num * q1);
            let (p2, q2) = (den * an, den * bn);
            let r = 1.0 / bm;
            let hl = am * r;
            if running[l] {
                (a1[l], b1[l], a2[l], b2[l]) = (hl, 1.0, p2 * r, q2 * r);
                if !(bm.is_finite() && bm != 0.0) {
                    (running[l], lentz[l]) = (false, true);
                    continue;
                }
                // Not converged while a NaN (which never compares).
                let converged = (hl - h[l]).abs() <= EPS * hl.abs();
                running[l] = !converged;
                h[l] = hl;
            }
        }
        if !running.iter().any(|&r| r) {
            break;
        }
    }
    for l in 0..L {
        if lentz[l] {
            h[l] = beta_cf_lentz(a[l], b[l], x[l]);
        }
    }
    h
}

/// The continued fraction of [`beta_cf_lanes`] by the modified Lentz method, for a lane whose
/// forward recurrence meets a zero or non-finite `B`.
#[cold]
fn beta_cf_lentz(a: f64, b: f64, x: f64) -> f64 {
    const TINY: f64 = 1e-300;
    const EPS: f64 = 1e-16;
    let (qab, qap, qam) = (a + b, a + 1.0, a - 1.0);
    let mut c = 1.0;
    let mut d = 1.0 - qab * x / qap;
    if d.abs() < TINY {
        d = TINY;
    }
    d = 1.0 / d;
    let mut h = d;
    for m in 1..100_000 {
        let m = f64::from(m);
        let m2 = 2.0 * m;
        // One term of the fraction: `d` and `c` updated, the convergent's factor returned.
        let mut step = |aa: f64| {
            d = 1.0 + aa * d;
            if d.abs() < TINY {
                d = TINY;
            }
            c = 1.0 + aa / c;
            if c.abs() < TINY {
                c = TINY;
            }
            d = 1.0 / d;
            d * c
        };
        h *= step(m * (b - m) * x / ((qam + m2) * (a + m2)));
        let del = step(-(a + m) * (qab + m) * x / ((a + m2) * (qap + m2)));
        h *= del;
        if (del - 1.0).abs() < EPS {
            break;
        }
    }
    h
}

/// The part of [`binomial_cdf`] before and after its continued fraction.
enum CdfPlan {
    Done(f64),
    /// `front * cf(a, b, x)`.
    Direct {
        front: f64,
        cf: [f64; 3],
    },
    /// `1 - front * (a / b) * cf(b, a, 1 - x)`, with `cf` holding `(b, a, 1 - x)` and
    /// `ratio = a / b`.
    Complement {
        front: f64,
        ratio: f64,
        cf: [f64; 3],
    },
}

impl CdfPlan {
    /// The value where it needs no computation: `k >= n`, `p <= 0` or `p >= 1`.
    fn trivial(k: u64, n: u64, p: f64) -> Option<f64> {
        if k >= n || p <= 0.0 {
            Some(1.0)
        } else if p >= 1.0 {
            Some(0.0)
        } else {
            None
        }
    }

    fn new(k: u64, n: u64, p: f64, logs: &Logs) -> CdfPlan {
        if let Some(v) = CdfPlan::trivial(k, n, p) {
            return CdfPlan::Done(v);
        }
        // P(X <= k) = I_x(a, b) with x = 1 - p, a = n - k, b = k + 1, and
        // x^a (1 - x)^b / (a B(a, b)) = C(n, k) (1 - p)^(n - k) p^(k + 1) =: front.
        let (a, b, x) = ((n - k) as f64, (k + 1) as f64, 1.0 - p);
        let front = (ln_choose(n, k, &logs.ln_fact) + a * logs.ln_q + b * logs.ln_p).exp();
        if x < (a + 1.0) / (a + b + 2.0) {
            CdfPlan::Direct {
                front,
                cf: [a, b, x],
            }
        } else {
            // I_x(a, b) = 1 - I_{1-x}(b, a), and I_{1-x}(b, a) = front (a / b) cf(b, a, 1 - x).
            CdfPlan::Complement {
                front,
                ratio: a / b,
                cf: [b, a, 1.0 - x],
            }
        }
    }

    fn cf_args(&self) -> Option<[f64; 3]> {
        match *self {
            CdfPlan::Done(_) => None,
            CdfPlan::Direct { cf, .. } | CdfPlan::Complement { cf, .. } => Some(cf),
        }
    }

    fn finish(&self, cf: f64) -> f64 {
        match *self {
            CdfPlan::Done(v) => v,
            CdfPlan::Direct { front, .. } => (front * cf).clamp(0.0, 1.0),
            CdfPlan::Complement { front, ratio, .. } => (1.0 - front * ratio * cf).clamp(0.0, 1.0),
        }
    }
}

/// [`binomial_cdf`] of many `(k, n)` pairs at one `p`, bit for bit. Pairs that share an `n`
/// up to 4096 share one pass along their row: a dense family of pairs costs a few steps per
/// pair instead of a continued fraction each. The rest (larger `n`, and the pairs deep in a
/// row's lower tail) run their continued fractions four at a time.
///
/// ```
/// use prime_core::{binomial_cdf, binomial_cdfs};
/// let pairs = [(3, 40), (30, 40), (9, 40), (100, 9_000)];
/// for (&(k, n), p) in pairs.iter().zip(binomial_cdfs(&pairs, 0.8)) {
///     assert_eq!(p.to_bits(), binomial_cdf(k, n, 0.8).to_bits());
/// }
/// ```
pub fn binomial_cdfs(pairs: &[(u64, u64)], p: f64) -> Vec<f64> {
    let logs = Logs::new(p, pairs.iter().map(|&(_, n)| n).max().unwrap_or(0));
    let mut out = vec![f64::NAN; pairs.len()];
    let mut by_row: Vec<usize> = Vec::new();
    let mut by_cf: Vec<usize> = Vec::new();
    for (i, &(k, n)) in pairs.iter().enumerate() {
        match CdfPlan::trivial(k, n, p) {
            Some(v) => out[i] = v,
            None if n <= ROW_MAX => by_row.push(i),
            None => by_cf.push(i),
        }
    }
    let row_order = |&i: &usize| (pairs[i].1, pairs[i].0);
    if by_row
        .windows(2)
        .any(|w| row_order(&w[0]) > row_order(&w[1]))
    {
        by_row.sort_unstable_by_key(row_order);
    }
    let mut row = RowSums::new(p, &logs);
    for group in by_row.chunk_by(|&i, &j| pairs[i].1 == pairs[j].1) {
        let n = pairs[group[0]].1;
        if group
            .iter()
            .all(|&i| row_never_serves(pairs[i].0, n, p, &logs))
        {
            // The row would serve none of them: no need to sum it.
            by_cf.extend_from_slice(group);
            continue;
        }
        let top = group.iter().map(|&i| pairs[i].0).max().unwrap_or(0);
        row.fill(n, top);
        for &i in group {
            match row.cdf(pairs[i].0) {
                Some(v) => out[i] = v,
                None => by_cf.push(i),
            }
        }
    }
    if !by_cf.is_empty() {
        // Neighbours take about as many steps (see `cf_cdfs`).
        by_cf.sort_unstable_by_key(row_order);
        let cf_pairs: Vec<(u64, u64)> = by_cf.iter().map(|&i| pairs[i]).collect();
        for (&i, v) in by_cf.iter().zip(cf_cdfs(&cf_pairs, p, &logs)) {
            out[i] = v;
        }
    }
    out
}

/// Whether `k` lies so deep in the lower tail of row `n` that [`RowSums::cdf`] certainly
/// leaves it to the continued fraction: its probability, from the log-factorials, is below
/// [`ROW_SERVES`] of the mode's by a factor `e` more than the row's terms (which drift from
/// these by under 1e-11 relative) could ever make up. Keys it is unsure of go to the row,
/// which decides as before, so no value changes.
fn row_never_serves(k: u64, n: u64, p: f64, logs: &Logs) -> bool {
    let mode = row_mode(n, p);
    if k >= mode {
        return false;
    }
    let f = &logs.ln_fact;
    if f.len() <= n as usize {
        return false; // no table this large: the row decides
    }
    let [fm, fnm, fk, fnk] = [mode, n - mode, k, n - k].map(|i| f[i as usize]);
    let ln_ratio = (fm + fnm) - (fk + fnk) - (mode - k) as f64 * (logs.ln_p - logs.ln_q);
    ln_ratio < ROW_SERVES.ln() - 1.0
}

/// The mode of `Binomial(n, p)`, where [`RowSums`] starts its row.
fn row_mode(n: u64, p: f64) -> u64 {
    ((((n + 1) as f64) * p).floor() as u64).min(n)
}

/// Largest `n` whose CDF is summed along its row ([`RowSums`]); above it, the continued
/// fraction.
pub(crate) const ROW_MAX: u64 = 1 << 12;

/// `1 / m` for every `m <= ROW_MAX + 1` (0 at 0), made once per process: the rows' ratios
/// multiply by these instead of dividing.
fn reciprocals() -> &'static [f64] {
    static TABLE: OnceLock<Vec<f64>> = OnceLock::new();
    TABLE.get_or_init(|| {
        (0..=ROW_MAX + 1)
            .map(|m| if m == 0 { 0.0 } else { 1.0 / m as f64 })
            .collect()
    })
}

/// A row's terms are summed from the smallest one of at least this share of the mode's
/// probability (2^-64)...
const ROW_START: f64 = 1.0 / 18_446_744_073_709_551_616.0;
/// ...and serve the `k` whose own probability is at least this share of the mode's (2^-20):
/// the terms left out below are then under 2^-42 of the sum. Smaller `k`, deep in the lower
/// tail, take the continued fraction, which is short there.
const ROW_SERVES: f64 = 1.0 / 1_048_576.0;

/// The CDF of `Binomial(n, p)` along one row `n`: the probabilities `P(X = j)` from the mode
/// `floor((n + 1) p)` (computed directly) down, while at least [`ROW_START`] of the mode's,
/// and up, each from its neighbour by their ratio, summed in ascending `j`. About `9 sigma`
/// steps down, which one pass shares between every `k` of the row. Each value depends on
/// `(k, n, p)` alone, not on which other `k` of the row are asked for, so a row serves any
/// number of them bit for bit alike. The terms drift by about two roundings per step from
/// the mode (under 1e-12 relative up to [`ROW_MAX`]).
struct RowSums<'a> {
    p: f64,
    logs: &'a Logs,
    mode: u64,
    at_mode: f64,
    /// `P(X = j)` from the mode down, while at least [`ROW_START`] of the mode's.
    down: Vec<f64>,
    /// `sums[i] = P(X <= first + i)`.
    sums: Vec<f64>,
    first: u64,
}

impl<'a> RowSums<'a> {
    fn new(p: f64, logs: &'a Logs) -> RowSums<'a> {
        RowSums {
            p,
            logs,
            mode: 0,
            at_mode: 0.0,
            down: Vec::new(),
            sums: Vec::new(),
            first: 0,
        }
    }

    /// Sums row `n` (`0 < p < 1`, `n <= ROW_MAX`) up to `top < n`.
    ///
    /// Each term comes from its neighbour by their ratio, `r_j = (q / p) j / (n - j + 1)`
    /// down (with `1 / (n - j + 1)` from a table: no division) and the inverse up. Eight steps
    /// at a time: the block's ratios and their running products first, then each term of the
    /// block from the block's first term, and the sums likewise, each block's partial sums
    /// then added to the sum before it; so the only chains from one block to the next are
    /// one product and one sum, not one per term.
    fn fill(&mut self, n: u64, top: u64) {
        const BLOCK: usize = 8;
        debug_assert!(n <= ROW_MAX);
        let (p, q) = (self.p, 1.0 - self.p);
        let (qp, pq) = (q / p, p / q);
        let inv = reciprocals();
        let mode = row_mode(n, p);
        let logs = self.logs;
        let at_mode = (ln_choose(n, mode, &logs.ln_fact)
            + mode as f64 * logs.ln_p
            + (n - mode) as f64 * logs.ln_q)
            .exp();
        (self.mode, self.at_mode) = (mode, at_mode);
        let start = at_mode * ROW_START;
        self.down.clear();
        // `down[d]` = P(X = mode - d), while at least `start`.
        self.down.push(at_mode);
        let (mut t, mut j) = (at_mode, mode);
        'down: loop {
            let steps = (j as usize).min(BLOCK);
            let mut prod = [0.0f64; BLOCK];
            let mut acc = 1.0f64;
            for (s, out) in prod.iter_mut().enumerate().take(steps) {
                let i = j - s as u64;
                acc *= qp * i as f64 * inv[(n - i + 1) as usize];
                *out = acc;
            }
            for &f in &prod[..steps] {
                let next = t * f;
                if next < start {
                    break 'down;
                }
                self.down.push(next);
            }
            if steps < BLOCK {
                break; // down to P(X = 0)
            }
            t *= prod[BLOCK - 1];
            j -= BLOCK as u64;
        }
        self.first = mode + 1 - self.down.len() as u64;
        self.sums.clear();
        let mut sum = 0.0f64;
        let taken = (top + 1).saturating_sub(self.first) as usize;
        let mut ascending = self.down.iter().rev().take(taken).peekable();
        while ascending.peek().is_some() {
            let mut local = 0.0f64;
            for &term in ascending.by_ref().take(BLOCK) {
                local += term;
                self.sums.push(sum + local);
            }
            sum += local;
        }
        // Up from the mode: P(X = j + 1) = P(X = j) (p / q) (n - j) / (j + 1).
        let (mut t, mut j) = (at_mode, mode);
        'up: while j < top {
            let steps = ((top - j) as usize).min(BLOCK);
            let mut prod = [0.0f64; BLOCK];
            let mut acc = 1.0f64;
            for (s, out) in prod.iter_mut().enumerate().take(steps) {
                let i = j + s as u64;
                acc *= pq * (n - i) as f64 * inv[(i + 1) as usize];
                *out = acc;
            }
            let mut local = 0.0f64;
            for &f in &prod[..steps] {
                let term = t * f;
                if term < start {
                    break 'up; // the terms only fall from here: the sum stays
                }
                local += term;
                self.sums.push(sum + local);
            }
            sum += local;
            t *= prod[steps - 1];
            j += steps as u64;
        }
    }

    /// `P(X <= k)` for a `k` of the row last filled (up to its `top`), or `None` where the
    /// row does not serve it (deep in the lower tail).
    fn cdf(&self, k: u64) -> Option<f64> {
        let i = k.checked_sub(self.first)?;
        if k < self.mode && self.down[(self.mode - k) as usize] < self.at_mode * ROW_SERVES {
            return None;
        }
        let sum = self.sums.get(i as usize).or(self.sums.last())?;
        Some(sum.clamp(0.0, 1.0))
    }
}

/// [`binomial_cdf`]'s continued fractions of many `(k, n)` pairs at one `p`, four at a time,
/// each bit for bit what it gives alone (about twice as fast per pair). Pairs of similar `n`
/// and `k` take similar numbers of steps, so sorted input wastes the fewest.
fn cf_cdfs(pairs: &[(u64, u64)], p: f64, logs: &Logs) -> Vec<f64> {
    const L: usize = 4;
    let plans: Vec<CdfPlan> = pairs
        .iter()
        .map(|&(k, n)| CdfPlan::new(k, n, p, logs))
        .collect();
    let mut out: Vec<f64> = plans
        .iter()
        .map(|plan| match plan {
            CdfPlan::Done(v) => *v,
            _ => f64::NAN,
        })
        .collect();
    let todo: Vec<usize> = (0..plans.len())
        .filter(|&i| plans[i].cf_args().is_some())
        .collect();
    for chunk in todo.chunks(L) {
        // A short last chunk repeats its last pair in the unused lanes.
        let args = |l: usize| {
            plans[chunk[l.min(chunk.len() - 1)]]
                .cf_args()
                .unwrap_or_default()
        };
        let (a, b, x): ([f64; L], [f64; L], [f64; L]) = (
            std::array::from_fn(|l| args(l)[0]),
            std::array::from_fn(|l| args(l)[1]),
            std::array::from_fn(|l| args(l)[2]),
        );
        let cf = beta_cf_lanes(a, b, x);
        for (l, &i) in chunk.iter().enumerate() {
            out[i] = plans[i].finish(cf[l]);
        }
    }
    out
}

/// One lane of [`beta_cf_lanes`], for the tests: the lanes must equal it bit for bit.
#[cfg(test)]
fn beta_cf_one(a: f64, b: f64, x: f64) -> f64 {
    beta_cf_lanes([a], [b], [x])[0]
}

/// `P(X <= k)` for `X ~ Binomial(n, p)`.
///
/// ```
/// use prime_core::binomial_cdf;
/// assert_eq!(binomial_cdf(2, 2, 0.3), 1.0);
/// assert!((binomial_cdf(0, 2, 0.5) - 0.25).abs() < 1e-15);
/// assert!((binomial_cdf(1, 3, 0.5) - 0.5).abs() < 1e-15);
/// ```
pub fn binomial_cdf(k: u64, n: u64, p: f64) -> f64 {
    // A batch of one: the same choice of method, so the same bits.
    binomial_cdfs(&[(k, n)], p)[0]
}

/// For each `n` in `0..=n_max`: the smallest `k` with `P(X <= k) >= target` for
/// `X ~ Binomial(n, p)` (the binomial's `target` quantile), from one walk up the supports:
/// the quantile of `n + 1` trials is that of `n` or one more, and the CDF and probability at
/// it follow from their values at `n` (`F_{n+1}(k) = F_n(k) - p f_n(k)`). The walk's
/// rounding stays near `n` units in the last place of 1, so a `k` found here can have a CDF
/// below `target` only by that much (the callers leave a margin of 1e-6).
pub(crate) fn binomial_quantiles(n_max: u32, p: f64, target: f64) -> Vec<u32> {
    if p >= 1.0 {
        // Every trial succeeds: P(X <= k) = 0 below n.
        return (0..=n_max).collect();
    }
    if p <= 0.0 {
        return vec![0; n_max as usize + 1];
    }
    let q = 1.0 - p;
    let mut out = Vec::with_capacity(n_max as usize + 1);
    // n = 0: X = 0 surely.
    let (mut k, mut cdf, mut pmf) = (0u32, 1.0f64, 1.0f64);
    out.push(0);
    for n in 0..n_max {
        // From n trials to n + 1, at the same k (k <= n).
        let (nf, kf) = (f64::from(n), f64::from(k));
        cdf -= p * pmf;
        pmf *= (nf + 1.0) / (nf + 1.0 - kf) * q;
        if cdf < target {
            pmf *= (nf + 1.0 - kf) / (kf + 1.0) * (p / q);
            cdf += pmf;
            k += 1;
        }
        out.push(k);
    }
    out
}

/// Benjamini–Hochberg q-values of `p_values` (adjusted p-values, clipped to 1): the
/// smallest false-discovery rate at which each hypothesis would be rejected, with
/// `m = p_values.len()` hypotheses.
///
/// ```
/// let q = prime_core::bh_q_values(&[0.01, 0.04, 0.03, 0.5]);
/// assert!((q[0] - 0.04).abs() < 1e-15 && (q[1] - 0.16 / 3.0).abs() < 1e-15);
/// ```
pub fn bh_q_values(p_values: &[f64]) -> Vec<f64> {
    let m = p_values.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&i, &j| p_values[i].total_cmp(&p_values[j]));
    let mut q = vec![0.0; m];
    let mut running = 1.0f64;
    for (rank, &i) in order.iter().enumerate().rev() {
        // p * (m / rank), with m / rank >= 1, is never below p (p * m / rank can round below).
        running = running.min(p_values[i] * (m as f64 / (rank + 1) as f64));
        q[i] = running;
    }
    q
}

/// Benjamini–Hochberg q-values of some members of a family given by distinct p-values
/// and their multiplicities: `family` holds `(p, count)` pairs, `query` the p-values whose
/// q-values are wanted (each must be in `family`).
pub(crate) fn bh_q_values_of(family: &mut [(f64, u64)], query: &[f64]) -> Vec<f64> {
    let m: u64 = family.iter().map(|&(_, c)| c).sum();
    // Only p-values up to `cut` can set a queried q-value: the largest query `top` has the
    // term `top m / rank(top) = cut`, which bounds every queried q-value, and a larger
    // p-value's term is at least the p-value itself (`m / rank >= 1`). Above `cut` only how
    // many there are matters (the ranks below them are counted from the rest), so they stay
    // out of the sort, which is most of the work; no q-value changes, to the bit.
    let Some(top) = query.iter().copied().max_by(f64::total_cmp) else {
        return Vec::new();
    };
    let top_key = order_key(top);
    let at_most: u64 = family
        .iter()
        .filter(|&&(p, _)| order_key(p) <= top_key)
        .map(|&(_, c)| c)
        .sum();
    let kept = if at_most == 0 {
        family.len() // `top` is not in the family: no cut
    } else {
        let cut = order_key(top * (m as f64 / at_most as f64));
        move_to_front(family, |&(p, _)| order_key(p) <= cut)
    };
    let family = &mut family[..kept];
    // In parallel (the family can have a few hundred thousand distinct p-values; a radix
    // sort of their 64-bit keys is slower); the order among equal p-values does not change
    // any q-value.
    family.par_sort_unstable_by_key(|&(p, _)| order_key(p));
    // Rank of the last copy of each p-value, then the running minimum from the top.
    let mut q_of = vec![0.0; family.len()];
    let mut rank: u64 = family.iter().map(|&(_, c)| c).sum();
    let mut running = 1.0f64;
    for (i, &(p, count)) in family.iter().enumerate().rev() {
        running = running.min(p * (m as f64 / rank as f64));
        q_of[i] = running;
        rank -= count;
    }
    // The queries in ascending order, each at the first family entry not below it, found
    // in one pass along the family.
    let mut order: Vec<u32> = (0..query.len() as u32).collect();
    order.sort_unstable_by_key(|&j| order_key(query[j as usize]));
    let mut out = vec![1.0; query.len()];
    let mut i = 0;
    for j in order {
        let p = query[j as usize];
        while i < family.len() && family[i].0 < p {
            i += 1;
        }
        out[j as usize] = q_of.get(i).copied().unwrap_or(1.0);
    }
    out
}

/// Moves the items that `keep` accepts to the front of `v` (in no particular order) and
/// returns how many there are.
fn move_to_front<T>(v: &mut [T], keep: impl Fn(&T) -> bool) -> usize {
    let mut n = 0;
    for i in 0..v.len() {
        if keep(&v[i]) {
            v.swap(n, i);
            n += 1;
        }
    }
    n
}

/// A key whose unsigned order is `total_cmp`'s order of the floats.
pub(crate) fn order_key(x: f64) -> u64 {
    let bits = x.to_bits();
    if bits >> 63 == 1 {
        !bits
    } else {
        bits | 1 << 63
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::xorshift;

    #[test]
    fn binomial_quantiles_are_the_smallest_k_reaching_the_target() {
        // Against the CDF computed for itself, wherever it is not within rounding of the
        // target.
        for &p in &[0.0, 1e-3, 0.05, 0.3, 0.5, 0.88, 0.97, 0.999, 1.0] {
            for &target in &[0.5, 0.9, 0.95, 0.99] {
                let cut = binomial_quantiles(3000, p, target);
                assert_eq!(cut.len(), 3001);
                for (n, &k) in cut.iter().enumerate() {
                    let n = n as u64;
                    let k = u64::from(k);
                    assert!(k <= n);
                    let at = binomial_cdf(k, n, p);
                    assert!(
                        at >= target - 1e-9,
                        "p {p} target {target} n {n} k {k}: {at}"
                    );
                    if k > 0 {
                        let below = binomial_cdf(k - 1, n, p);
                        assert!(
                            below < target + 1e-9,
                            "p {p} target {target} n {n} k {k}: {below}"
                        );
                    }
                }
            }
        }
    }

    fn exact_cdf(k: u64, n: u64, p: f64) -> f64 {
        (0..=k)
            .map(|i| {
                (ln_choose(n, i, &[]) + i as f64 * p.ln() + (n - i) as f64 * (1.0 - p).ln()).exp()
            })
            .sum()
    }

    #[test]
    fn cdf_matches_direct_sum() {
        for &(n, p) in &[
            (1u64, 0.5),
            (10, 0.3),
            (30, 0.8),
            (57, 0.93),
            (200, 0.5),
            (1000, 0.87),
        ] {
            for k in 0..=n {
                let (got, want) = (binomial_cdf(k, n, p), exact_cdf(k, n, p).min(1.0));
                let tol = 1e-9 * want.max(1e-300) + 1e-13;
                assert!(
                    (got - want).abs() <= tol,
                    "n={n} k={k} p={p}: {got} vs {want}"
                );
            }
        }
    }

    #[test]
    fn forward_recurrence_agrees_with_lentz() {
        // Wherever the CDF takes the fraction (`x < (a + 1) / (a + b + 2)`, the direct or
        // the complementary form), over supports from 2 to a million.
        let mut next = xorshift(0xD1B5_4A32_D192_ED03);
        for _ in 0..20_000 {
            let p = random_p(&mut next);
            let n = 2 + next() % [50, 5_000, 1_000_000][(next() % 3) as usize];
            let k = next() % n;
            let logs = Logs::new(p, 0);
            let Some([a, b, x]) = CdfPlan::new(k, n, p, &logs).cf_args() else {
                continue;
            };
            let (got, want) = (beta_cf_one(a, b, x), beta_cf_lentz(a, b, x));
            let off = ((got - want) / want).abs();
            // Both round as they go; they part by more only where the fraction is long.
            let tol = if n <= 50_000 { 1e-13 } else { 2e-12 };
            assert!(off <= tol, "n={n} k={k} p={p}: {got} vs {want}");
        }
    }

    #[test]
    fn a_lane_whose_recurrence_meets_zero_takes_lentz() {
        // a = 1, b = 3, x = 1/2: the first denominator, (a + 1) - (a + b) x, is 0.
        let (a, b, x) = (1.0, 3.0, 0.5);
        let lentz = beta_cf_lentz(a, b, x);
        assert!(lentz.is_finite());
        assert_eq!(beta_cf_one(a, b, x).to_bits(), lentz.to_bits());
        // Beside a lane that needs no fallback, each keeps its own value.
        let (c, d, y) = (40.0, 7.0, 0.2);
        let got = beta_cf_lanes([a, c], [b, d], [x, y]);
        assert_eq!(got[0].to_bits(), lentz.to_bits());
        assert_eq!(got[1].to_bits(), beta_cf_one(c, d, y).to_bits());
        assert_ne!(got[1].to_bits(), beta_cf_lentz(c, d, y).to_bits());
    }

    /// A class accuracy for the tests: near 0, near 1 or anywhere.
    fn random_p(next: &mut impl FnMut() -> u64) -> f64 {
        match next() % 4 {
            0 => 1e-6 + (next() % 1000) as f64 * 1e-6,
            1 => 1.0 - 1e-6 - (next() % 1000) as f64 * 1e-6,
            _ => (next() % 1_000_001) as f64 / 1e6,
        }
    }

    /// The binomial CDF on the former one-lane continued fraction, its `ln(i!)` each from
    /// `ln_gamma` (no table).
    fn cdf_one_lane(k: u64, n: u64, p: f64) -> f64 {
        let logs = Logs {
            ln_p: p.ln(),
            ln_q: (1.0 - p).ln(),
            ln_fact: Arc::new(Vec::new()),
        };
        let plan = CdfPlan::new(k, n, p, &logs);
        plan.finish(
            plan.cf_args()
                .map_or(f64::NAN, |[a, b, x]| beta_cf_one(a, b, x)),
        )
    }

    #[test]
    fn lanes_equal_one_lane_bit_for_bit() {
        let mut next = xorshift(0x9E37_79B9_7F4A_7C15);
        for _ in 0..3_000 {
            let p = random_p(&mut next);
            let pairs: Vec<(u64, u64)> = (0..1 + next() % 9)
                .map(|_| {
                    let n = 1 + next() % [40, 400, 30_000][(next() % 3) as usize];
                    (next() % (n + 1), n)
                })
                .collect();
            let logs = Logs::new(p, pairs.iter().map(|&(_, n)| n).max().unwrap_or(0));
            for (&(k, n), got) in pairs.iter().zip(cf_cdfs(&pairs, p, &logs)) {
                let want = cdf_one_lane(k, n, p);
                assert_eq!(got.to_bits(), want.to_bits(), "k={k} n={n} p={p}");
                if n > ROW_MAX {
                    assert_eq!(binomial_cdf(k, n, p).to_bits(), want.to_bits());
                }
            }
        }
    }

    #[test]
    fn batches_equal_single_values_bit_for_bit() {
        let mut next = xorshift(0x2545_F491_4F6C_DD1D);
        for _ in 0..2_000 {
            let p = random_p(&mut next);
            // A few rows, each asked for several k, in no order, some past ROW_MAX.
            let rows: Vec<u64> = (0..1 + next() % 4)
                .map(|_| 1 + next() % [40, 400, ROW_MAX + 1, 9_000][(next() % 4) as usize])
                .collect();
            let pairs: Vec<(u64, u64)> = (0..1 + next() % 12)
                .map(|_| {
                    let n = rows[(next() % rows.len() as u64) as usize];
                    (next() % (n + 1), n)
                })
                .collect();
            for (&(k, n), got) in pairs.iter().zip(binomial_cdfs(&pairs, p)) {
                let want = binomial_cdf(k, n, p);
                assert_eq!(got.to_bits(), want.to_bits(), "k={k} n={n} p={p}");
            }
        }
    }

    #[test]
    fn row_sums_match_direct_sum_near_their_limit() {
        for &(n, p) in &[
            (ROW_MAX, 0.5),
            (ROW_MAX, 0.97),
            (ROW_MAX - 1, 0.03),
            (3_000, 0.79),
        ] {
            for k in (0..n).step_by(37).chain([n - 1]) {
                let (got, want) = (binomial_cdf(k, n, p), exact_cdf(k, n, p).min(1.0));
                let tol = 1e-10 * want + 1e-300;
                assert!(
                    (got - want).abs() <= tol,
                    "n={n} k={k} p={p}: {got} vs {want}"
                );
            }
        }
    }

    #[test]
    fn rows_left_unsummed_would_have_served_none_of_their_keys() {
        // `row_never_serves` may only skip keys the filled row refuses (and it must skip
        // most of the deep tail, or it saves nothing).
        let (mut skipped, mut deep) = (0u32, 0u32);
        for &p in &[0.03, 0.3, 0.5, 0.7, 0.88, 0.97, 0.999] {
            let logs = Logs::new(p, ROW_MAX);
            let mut row = RowSums::new(p, &logs);
            for n in (1..=ROW_MAX).step_by(37).chain([2, 3, ROW_MAX - 1]) {
                row.fill(n, n - 1);
                for k in 0..n {
                    let never = row_never_serves(k, n, p, &logs);
                    let served = row.cdf(k).is_some();
                    assert!(!(never && served), "p {p} n {n} k {k}");
                    skipped += u32::from(never);
                    deep += u32::from(!served);
                }
            }
        }
        assert!(skipped > deep * 9 / 10, "{skipped} of {deep}");
        // A batch with supports past the log-factorials' largest table has none: its rows
        // decide alone.
        let logs = Logs::new(0.9, 1 << 23);
        assert!(logs.ln_fact.is_empty());
        assert!(!row_never_serves(1, 4000, 0.9, &logs));
    }

    /// Regression: the table was once grown on rayon under its lock, and a worker waiting on
    /// that work could steal a job asking for the table: a deadlock (it stopped a CI run,
    /// and stopped most runs of this test). Jobs of the global pool and a thread outside it
    /// grow one fresh table side by side; both must finish.
    #[test]
    fn growing_ln_factorials_from_many_threads_never_deadlocks() {
        type Cell = Mutex<Option<Arc<Vec<f64>>>>;
        let cell: &'static Cell = Box::leak(Box::new(Mutex::new(None)));
        let asks = |i: u64, from: u64, step: u64| from + i * step;
        let (done, finished) = std::sync::mpsc::channel();
        let done_too = done.clone();
        std::thread::spawn(move || {
            (0..64).into_par_iter().for_each(|i| {
                let n = asks(i, 5_000, 60_000);
                assert!(ln_factorials_in(cell, n).len() as u64 > n);
            });
            done.send(()).unwrap();
        });
        std::thread::spawn(move || {
            for i in 0..64 {
                let n = asks(i, 7_000, 61_000);
                assert!(ln_factorials_in(cell, n).len() as u64 > n);
            }
            done_too.send(()).unwrap();
        });
        for _ in 0..2 {
            finished
                .recv_timeout(std::time::Duration::from_secs(120))
                .expect("growing the table deadlocked");
        }
        let table = cell.lock().unwrap().clone().unwrap();
        assert_eq!(
            table.len(),
            (asks(63, 7_000, 61_000) as usize + 1).next_power_of_two()
        );
        for i in (0..table.len()).step_by(9_973) {
            assert_eq!(
                table[i].to_bits(),
                ln_gamma(i as f64 + 1.0).to_bits(),
                "i={i}"
            );
        }
    }

    #[test]
    fn ln_factorials_are_ln_gamma_bit_for_bit() {
        let small = ln_factorials(100);
        assert!(small.len() > 100);
        let large = ln_factorials(70_000);
        assert!(large.len() > 70_000);
        for (i, &v) in large.iter().enumerate() {
            assert_eq!(v.to_bits(), ln_gamma(i as f64 + 1.0).to_bits(), "i={i}");
        }
        // A shorter request shares the grown table.
        assert!(ln_factorials(5).len() >= large.len());
        assert!(ln_factorials(LN_FACT_MAX as u64).is_empty());
        for (n, k) in [(61, 30), (1000, 3), (70_000, 12_345)] {
            assert_eq!(
                ln_choose(n, k, &large).to_bits(),
                ln_choose(n, k, &[]).to_bits()
            );
        }
    }

    #[test]
    fn rows_serve_all_but_the_deep_lower_tail() {
        // n = 1000, p = 1/2: sigma^2 = 250, and P(X = k) falls to 2^-20 of the mode's about
        // 83 below the mode (exp(-d^2 / 2 sigma^2) = 2^-20).
        let logs = Logs::new(0.5, 1000);
        let mut row = RowSums::new(0.5, &logs);
        row.fill(1000, 999);
        for k in 430..1000 {
            assert!(row.cdf(k).is_some(), "k={k} is served by the row");
        }
        for k in 0..400 {
            assert!(row.cdf(k).is_none(), "k={k} takes the continued fraction");
        }
    }

    #[test]
    fn cdf_edges() {
        assert_eq!(binomial_cdf(5, 5, 0.9), 1.0);
        assert_eq!(binomial_cdf(0, 5, 0.0), 1.0);
        assert_eq!(binomial_cdf(4, 5, 1.0), 0.0);
        assert!(binomial_cdf(0, 100_000, 0.9) < 1e-300);
    }

    #[test]
    fn ln_gamma_of_integers() {
        let mut ln_fact = 0.0f64;
        for n in 1..170u32 {
            ln_fact += f64::from(n).ln();
            let got = ln_gamma(f64::from(n) + 1.0);
            assert!((got - ln_fact).abs() <= 1e-13 * ln_fact.max(1.0), "n={n}");
        }
    }

    /// [`bh_q_values_of`] before it left the p-values above its cut out of the sort: the
    /// whole family sorted.
    fn bh_q_values_of_whole(family: &mut [(f64, u64)], query: &[f64]) -> Vec<f64> {
        family.sort_unstable_by_key(|&(p, _)| order_key(p));
        let m: u64 = family.iter().map(|&(_, c)| c).sum();
        let mut q_of = vec![0.0; family.len()];
        let (mut rank, mut running) = (m, 1.0f64);
        for (i, &(p, count)) in family.iter().enumerate().rev() {
            running = running.min(p * (m as f64 / rank as f64));
            q_of[i] = running;
            rank -= count;
        }
        query
            .iter()
            .map(|&p| q_of[family.partition_point(|&(f, _)| f < p)])
            .collect()
    }

    #[test]
    fn q_values_with_the_cut_equal_the_whole_family_bit_for_bit() {
        let mut next = xorshift(0xb4_c0de);
        for round in 0..400 {
            let n = 1 + (next() % 300) as usize;
            // Ties, exact zeros and ones, and spreads from tiny to all near 1.
            let scale = [1e-12, 1e-4, 0.05, 1.0][round % 4];
            let family: Vec<(f64, u64)> = (0..n)
                .map(|_| {
                    let p = match next() % 10 {
                        0 => 0.0,
                        1 => 1.0,
                        2 => 0.5,
                        _ => scale * (next() % 1_000_000) as f64 / 1e6,
                    };
                    (p, 1 + next() % 5)
                })
                .collect();
            let query: Vec<f64> = (0..1 + next() % 20)
                .map(|_| family[(next() % n as u64) as usize].0)
                .collect();
            let want = bh_q_values_of_whole(&mut family.clone(), &query);
            let got = bh_q_values_of(&mut family.clone(), &query);
            let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&got), bits(&want), "round {round}");
        }
        assert!(bh_q_values_of(&mut [(0.1, 1)], &[]).is_empty());
        // A query below every p-value of the family (not one of its own): no cut, the
        // whole family's answer.
        let family = [(0.1, 1), (0.2, 3), (0.5, 2)];
        let want = bh_q_values_of_whole(&mut family.clone(), &[0.05]);
        assert_eq!(bh_q_values_of(&mut family.clone(), &[0.05]), want);
        assert_eq!(want, vec![0.2 * (6.0 / 4.0)]); // the running minimum, from 0.2 * 6 / 4
    }

    #[test]
    fn q_values_with_multiplicities_match_plain_bh() {
        let p = [0.01, 0.04, 0.03, 0.5, 0.04, 0.2, 0.01];
        let plain = bh_q_values(&p);
        let mut family = vec![(0.01, 2), (0.03, 1), (0.04, 2), (0.2, 1), (0.5, 1)];
        let got = bh_q_values_of(&mut family, &p);
        for (a, b) in got.iter().zip(&plain) {
            assert!((a - b).abs() < 1e-15, "{got:?} vs {plain:?}");
        }
    }
}
