//! The engine against a brute-force enumerator.
//!
//! The oracle here is written from the definitions in ARCHITECTURE.md ("The method,
//! exactly"), not from the engine's code: for each class it lists every tag set of at most
//! `max_tags` tags of `T_c`, counts its group by scanning every sample, and applies the
//! support, drop and minimality conditions literally, in f64 from integer counts. Search,
//! the lattice and the statistics of single sets must agree with it exactly (bitwise for
//! the f64 fields), with any thread count.

use std::sync::atomic::AtomicBool;

use prime_core::{
    attach_q_values, encode_strings, frequent_sets, greedy_search, search, search_with_q_values,
    with_threads, Confusion, FailureMode, FrequentSets, LatticeParams, Predictions, PrimeError,
    SearchOutput, SearchParams, SetStats, Tag, TagIndex, TagRows,
};
use proptest::prelude::*;
use proptest::test_runner::Config;

// ---------------------------------------------------------------------------------------
// Samples tables

/// A samples table in the engine's CSR form.
#[derive(Debug, Clone)]
struct Table {
    n_classes: u32,
    n_tags: u32,
    indptr: Vec<u64>,
    indices: Vec<u32>,
    class_ids: Vec<u32>,
    correct: Vec<bool>,
    /// Rows of each class, so that the oracle's scans stay cheap on large boundary tables.
    members: Vec<Vec<usize>>,
}

impl Table {
    fn new(n_classes: u32, n_tags: u32) -> Self {
        Table {
            n_classes,
            n_tags,
            indptr: vec![0],
            indices: Vec::new(),
            class_ids: Vec::new(),
            correct: Vec::new(),
            members: Vec::new(),
        }
    }

    fn push(&mut self, class: u32, tags: &[u32], correct: bool) {
        self.indices.extend_from_slice(tags);
        self.indptr.push(self.indices.len() as u64);
        if self.members.len() <= class as usize {
            self.members.resize(class as usize + 1, Vec::new());
        }
        self.members[class as usize].push(self.class_ids.len());
        self.class_ids.push(class);
        self.correct.push(correct);
    }

    fn row(&self, i: usize) -> &[u32] {
        &self.indices[self.indptr[i] as usize..self.indptr[i + 1] as usize]
    }

    fn index(&self, min_tag_count: u32) -> TagIndex {
        TagIndex::from_csr(
            &self.indptr,
            &self.indices,
            &self.class_ids,
            &self.correct,
            self.n_classes,
            self.n_tags,
            min_tag_count,
        )
        .expect("a valid table builds")
    }
}

// ---------------------------------------------------------------------------------------
// The brute-force oracle

/// `(|I_S|, correct predictions in I_S)` for the samples of `class` carrying every tag of
/// `set`, by scanning every sample of the class.
fn count(table: &Table, class: u32, set: &[u32]) -> (u32, u32) {
    let (mut support, mut n_correct) = (0u32, 0u32);
    for &i in table
        .members
        .get(class as usize)
        .map_or(&[][..], |m| &m[..])
    {
        if set.iter().all(|t| table.row(i).contains(t)) {
            support += 1;
            n_correct += u32::from(table.correct[i]);
        }
    }
    (support, n_correct)
}

fn accuracy(support: u32, n_correct: u32) -> f64 {
    n_correct as f64 / support as f64
}

/// `T_c` at a count threshold: the tags in at least `threshold` samples of the class, ascending.
fn class_tags(table: &Table, class: u32, threshold: u32) -> Vec<u32> {
    (0..table.n_tags)
        .filter(|&t| count(table, class, &[t]).0 >= threshold)
        .collect()
}

/// The samples of one class as bits: which carry each tag, which are right.
struct ClassBits {
    tags: Vec<Vec<u64>>,
    correct: Vec<u64>,
}

impl ClassBits {
    fn new(table: &Table, class: u32) -> Self {
        let members = table
            .members
            .get(class as usize)
            .map_or(&[][..], |m| &m[..]);
        let words = members.len().div_ceil(64);
        let mut bits = ClassBits {
            tags: vec![vec![0; words]; table.n_tags as usize],
            correct: vec![0; words],
        };
        for (j, &i) in members.iter().enumerate() {
            let (w, bit) = (j / 64, 1u64 << (j % 64));
            for &t in table.row(i) {
                bits.tags[t as usize][w] |= bit;
            }
            if table.correct[i] {
                bits.correct[w] |= bit;
            }
        }
        bits
    }

    /// `(|I_S|, correct predictions in I_S)` for a non-empty `set`.
    fn count(&self, set: &[u32]) -> (u32, u32) {
        let (mut support, mut n_correct) = (0u32, 0u32);
        for w in 0..self.correct.len() {
            let group = set
                .iter()
                .fold(!0u64, |acc, &t| acc & self.tags[t as usize][w]);
            support += group.count_ones();
            n_correct += (group & self.correct[w]).count_ones();
        }
        (support, n_correct)
    }
}

/// Every subset `S` of `tags` (ascending) with `1 <= |S| <= max_size` and
/// `|I_S| >= min_support`, with its counts. A set below `min_support` is not extended: its
/// supersets have subsets of its group.
fn frequent_subsets(
    bits: &ClassBits,
    tags: &[u32],
    max_size: usize,
    min_support: u32,
) -> Vec<(Vec<u32>, u32, u32)> {
    fn rec(
        bits: &ClassBits,
        tags: &[u32],
        max_size: usize,
        min_support: u32,
        cur: &mut Vec<u32>,
        out: &mut Vec<(Vec<u32>, u32, u32)>,
    ) {
        let start = cur.last().map_or(0, |&l| tags.partition_point(|&t| t <= l));
        for &t in &tags[start..] {
            cur.push(t);
            let (support, n_correct) = bits.count(cur);
            if support >= min_support {
                out.push((cur.clone(), support, n_correct));
                if cur.len() < max_size {
                    rec(bits, tags, max_size, min_support, cur, out);
                }
            }
            cur.pop();
        }
    }
    let mut out = Vec::new();
    rec(bits, tags, max_size, min_support, &mut Vec::new(), &mut out);
    out
}

/// The classes a query covers: its selection (deduplicated, ascending) or all.
fn selected(classes: &Option<Vec<u32>>, n_classes: u32) -> Vec<u32> {
    match classes {
        Some(cs) => {
            let mut cs = cs.clone();
            cs.sort_unstable();
            cs.dedup();
            cs
        }
        None => (0..n_classes).collect(),
    }
}

/// The tag-count threshold of `T_c`: `min_tag_count` (default `min_support`), never below
/// `min_support`.
fn tag_threshold(min_tag_count: Option<u32>, min_support: u32) -> u32 {
    min_tag_count.unwrap_or(min_support).max(min_support)
}

/// One frequent set: class, tags, support, correct count.
type SetRow = (u32, Vec<u32>, u32, u32);

/// Every set with `1 <= |S| <= max_tags`, tags in `T_c` and support `>= min_support`,
/// sorted.
fn brute_lattice(table: &Table, p: &LatticeParams) -> Vec<SetRow> {
    let threshold = tag_threshold(p.min_tag_count, p.min_support);
    let mut out = Vec::new();
    for c in selected(&p.classes, table.n_classes) {
        let bits = ClassBits::new(table, c);
        let tags = class_tags(table, c, threshold);
        for (set, support, n_correct) in frequent_subsets(&bits, &tags, p.max_tags, p.min_support) {
            out.push((c, set, support, n_correct));
        }
    }
    out.sort();
    out
}

/// What the oracle expects of a search.
struct Expected {
    /// The modes, in the documented order.
    modes: Vec<FailureMode>,
    /// Per class: frequent sets (support `>= min_support`), an upper bound on `sets_tested`.
    frequent: Vec<u64>,
    /// Per class: frequent sets that pass the drop condition; all of them must be tested.
    passing_drop: Vec<u64>,
    /// Per class: frequent sets with at least the errors a mode of `min_support` samples
    /// needs, `ceil(s (1 - (A_c - a)))` (less 1e-9 s + 1e-9, so that rounding never prunes a
    /// mode): exactly the sets an exhaustive search tests (none where `A_c - a < 0`).
    tested: Vec<u64>,
}

/// `b_k` for a set of `size` tags: 0 for one tag, then `necessity[0], necessity[1], ...`,
/// reusing the last value.
fn margin(necessity: &[f64], size: usize) -> f64 {
    if size == 1 {
        0.0
    } else {
        necessity[(size - 2).min(necessity.len() - 1)]
    }
}

/// `P(X <= k)` for `X ~ Binomial(n, a)`, summing the probabilities in log space.
fn binomial_cdf(k: u32, n: u32, a: f64) -> f64 {
    if a <= 0.0 || k >= n {
        return 1.0;
    }
    if a >= 1.0 {
        return 0.0;
    }
    let ln_factorial = |m: u32| (1..=m).map(|j| f64::from(j).ln()).sum::<f64>();
    let ln_n = ln_factorial(n);
    (0..=k)
        .map(|i| {
            let ln_choose = ln_n - ln_factorial(i) - ln_factorial(n - i);
            (ln_choose + f64::from(i) * a.ln() + f64::from(n - i) * (1.0 - a).ln()).exp()
        })
        .sum::<f64>()
        .min(1.0)
}

/// Benjamini-Hochberg q-value of `p_value` in `family` (which holds it): the smallest
/// `v * m / #{w in family: w <= v}` over the family's values `v >= p_value`.
fn bh_q_value(family: &[f64], p_value: f64) -> f64 {
    let m = family.len() as f64;
    family
        .iter()
        .filter(|&&v| v >= p_value)
        .map(|&v| v * m / family.iter().filter(|&&w| w <= v).count() as f64)
        .fold(1.0, f64::min)
}

fn brute_search(table: &Table, p: &SearchParams) -> Expected {
    let threshold = tag_threshold(p.min_tag_count, p.min_support);
    let mut expected = Expected {
        modes: Vec::new(),
        frequent: vec![0; table.n_classes as usize],
        passing_drop: vec![0; table.n_classes as usize],
        tested: vec![0; table.n_classes as usize],
    };
    for c in selected(&p.classes, table.n_classes) {
        let (n_c, k_c) = count(table, c, &[]);
        if n_c == 0 {
            continue; // no accuracy, no modes
        }
        let a_c = accuracy(n_c, k_c);
        let max_accuracy = a_c - p.min_drop;
        let bits = ClassBits::new(table, c);
        let tags = class_tags(table, c, threshold);
        let s = f64::from(p.min_support);
        let min_errors = (s * (1.0 - max_accuracy) - s * 1e-9 - 1e-9).ceil().max(0.0) as u32;
        for (set, support, n_correct) in frequent_subsets(&bits, &tags, p.max_tags, p.min_support) {
            expected.frequent[c as usize] += 1;
            if max_accuracy >= 0.0 && support - n_correct >= min_errors {
                expected.tested[c as usize] += 1;
            }
            let a_s = accuracy(support, n_correct);
            let drops_enough = a_s <= max_accuracy;
            if !drops_enough {
                continue;
            }
            expected.passing_drop[c as usize] += 1;
            let b = margin(&p.necessity, set.len());
            let mut minimal = true;
            let mut necessity = f64::INFINITY;
            for skip in 0..set.len() {
                let rest: Vec<u32> = set
                    .iter()
                    .enumerate()
                    .filter(|&(i, _)| i != skip)
                    .map(|(_, &t)| t)
                    .collect();
                let a_rest = if rest.is_empty() {
                    a_c
                } else {
                    let (n, k) = bits.count(&rest);
                    accuracy(n, k)
                };
                let needs_tag = a_rest >= a_s + b;
                if !needs_tag {
                    minimal = false;
                    break;
                }
                necessity = necessity.min(a_rest - a_s);
            }
            if minimal {
                expected.modes.push(FailureMode {
                    class: c,
                    tags: set,
                    support,
                    n_correct,
                    accuracy: a_s,
                    class_accuracy: a_c,
                    drop: a_c - a_s,
                    necessity,
                    // Significance is checked against scipy/statsmodels in the Python tests.
                    p_value: f64::NAN,
                    q_value: None,
                });
            }
        }
    }
    expected.modes.sort_by(|a, b| {
        a.class
            .cmp(&b.class)
            .then(b.drop.total_cmp(&a.drop))
            .then_with(|| a.tags.cmp(&b.tags))
    });
    expected
}

// ---------------------------------------------------------------------------------------
// Comparisons

/// A mode's fields that the definitions fix, the f64 ones as bits, so that equality is
/// bitwise.
type ModeBits = (u32, Vec<u32>, u32, u32, u64, u64, u64, u64);

fn bits(modes: &[FailureMode]) -> Vec<ModeBits> {
    modes
        .iter()
        .map(|m| {
            (
                m.class,
                m.tags.clone(),
                m.support,
                m.n_correct,
                m.accuracy.to_bits(),
                m.class_accuracy.to_bits(),
                m.drop.to_bits(),
                m.necessity.to_bits(),
            )
        })
        .collect()
}

/// Everything a search returns, the f64 fields as bits (NaN equals NaN).
/// p- and q-value bits of one mode.
type Significance = (u64, Option<u64>);

fn all_bits(out: &SearchOutput) -> (Vec<ModeBits>, Vec<Significance>, Vec<u64>) {
    let significance = out
        .modes
        .iter()
        .map(|m| (m.p_value.to_bits(), m.q_value.map(f64::to_bits)))
        .collect();
    (bits(&out.modes), significance, out.sets_tested.clone())
}

/// The rows of a lattice, checking its column layout on the way.
fn rows(sets: &FrequentSets) -> Vec<SetRow> {
    let n = sets.len();
    assert_eq!(sets.offsets.len(), n + 1, "one offset per set plus the end");
    assert_eq!((sets.offsets[0], sets.offsets[n]), (0, sets.tags.len()));
    assert_eq!((sets.support.len(), sets.n_correct.len()), (n, n));
    assert_eq!(sets.is_empty(), n == 0);
    (0..n)
        .map(|i| {
            let tags = sets.tags[sets.offsets[i]..sets.offsets[i + 1]].to_vec();
            assert!(
                tags.windows(2).all(|w| w[0] < w[1]),
                "tags of set {i} not ascending: {tags:?}"
            );
            (sets.class[i], tags, sets.support[i], sets.n_correct[i])
        })
        .collect()
}

fn run_search(index: &TagIndex, p: &SearchParams, threads: usize) -> SearchOutput {
    with_threads(Some(threads), || search(index, p, &AtomicBool::new(false)))
        .expect("thread pool")
        .expect("search succeeds")
}

fn run_lattice(index: &TagIndex, p: &LatticeParams, threads: usize) -> FrequentSets {
    with_threads(Some(threads), || {
        frequent_sets(index, p, &AtomicBool::new(false))
    })
    .expect("thread pool")
    .expect("frequent_sets succeeds")
}

fn lattice_of(p: &SearchParams) -> LatticeParams {
    LatticeParams {
        max_tags: p.max_tags,
        min_support: p.min_support,
        min_tag_count: p.min_tag_count,
        classes: p.classes.clone(),
    }
}

/// Checks a search against the oracle, with 1 and 4 threads; returns the 1-thread output.
fn check_search(table: &Table, index: &TagIndex, p: &SearchParams) -> SearchOutput {
    let expected = brute_search(table, p);
    let one = run_search(index, p, 1);
    assert_eq!(
        bits(&one.modes),
        bits(&expected.modes),
        "modes differ from the brute force for {p:?}"
    );
    assert_eq!(
        one.sets_tested.len(),
        table.n_classes as usize,
        "sets_tested has one entry per class"
    );
    for c in 0..table.n_classes as usize {
        let tested = one.sets_tested[c];
        assert_eq!(
            tested, expected.tested[c],
            "class {c}: sets_tested for {p:?}"
        );
        assert!(
            expected.passing_drop[c] <= tested && tested <= expected.frequent[c],
            "class {c}: sets_tested {tested} outside [{}, {}] for {p:?}",
            expected.passing_drop[c],
            expected.frequent[c]
        );
    }
    for m in &one.modes {
        let expected = binomial_cdf(m.n_correct, m.support, m.class_accuracy);
        let close = (m.p_value - expected).abs() <= 1e-9 * expected + 1e-300;
        assert!(close, "p-value {} of {m:?}, expected {expected}", m.p_value);
        assert!(
            m.q_value.is_none(),
            "search leaves q_value to attach_q_values: {m:?}"
        );
    }
    let four = run_search(index, p, 4);
    assert_eq!(all_bits(&four), all_bits(&one), "4 threads differ from 1");
    one
}

/// Checks the lattice against the oracle, with 1 and 4 threads; returns its rows.
fn check_lattice(table: &Table, index: &TagIndex, p: &LatticeParams) -> Vec<SetRow> {
    let one = run_lattice(index, p, 1);
    let four = run_lattice(index, p, 4);
    assert_eq!(four, one, "frequent_sets differs between 1 and 4 threads");
    // Documented order: class, then size, then tags.
    let mut expected = brute_lattice(table, p);
    expected.sort_by(|a, b| (a.0, a.1.len(), &a.1).cmp(&(b.0, b.1.len(), &b.1)));
    let got = rows(&one);
    assert_eq!(
        got, expected,
        "frequent_sets differs from the brute force for {p:?}"
    );
    expected.sort();
    expected
}

/// Checks [`attach_q_values`] on a search's modes: the family is every frequent set of the
/// searched classes, each with the p-value of its own class; q-values follow
/// Benjamini-Hochberg over it, never fall below the p-value, and do not depend on the thread
/// count.
fn check_q_values(table: &Table, index: &TagIndex, p: &SearchParams, out: &SearchOutput) {
    let cancel = AtomicBool::new(false);
    let attach = |threads| {
        let mut modes = out.modes.clone();
        let family = with_threads(Some(threads), || {
            attach_q_values(index, p, &mut modes, &cancel)
        });
        let family = family.unwrap().expect("attach_q_values succeeds");
        let q: Vec<u64> = modes
            .iter()
            .map(|m| m.q_value.expect("attached").to_bits())
            .collect();
        (modes, family, q)
    };
    let (modes, family, q) = attach(1);
    let (_, family_4, q_4) = attach(4);
    assert_eq!((&family_4, &q_4), (&family, &q), "4 threads differ from 1");
    assert_eq!(
        bits(&modes),
        bits(&out.modes),
        "attach_q_values changed the modes"
    );
    assert_eq!(family.len(), table.n_classes as usize);
    // The one-walk search gives the same modes, q-values and family sizes, bit for bit.
    for threads in [1, 4] {
        let (one_walk, one_walk_family) =
            with_threads(Some(threads), || search_with_q_values(index, p, &cancel))
                .unwrap()
                .expect("search_with_q_values succeeds");
        assert_eq!(
            one_walk_family, family,
            "one-walk family sizes, {threads} threads"
        );
        assert_eq!(
            one_walk.sets_tested, out.sets_tested,
            "one-walk sets_tested, {threads} threads"
        );
        assert_eq!(bits(&one_walk.modes), bits(&out.modes), "one-walk modes");
        let one_walk_q: Vec<u64> = one_walk
            .modes
            .iter()
            .map(|m| m.q_value.expect("attached").to_bits())
            .collect();
        assert_eq!(one_walk_q, q, "one-walk q-values, {threads} threads");
    }
    if modes.is_empty() {
        return; // nothing to adjust; the lattice walk is skipped
    }
    let class_accuracy: Vec<f64> = (0..table.n_classes)
        .map(|c| {
            let (n_c, k_c) = count(table, c, &[]);
            accuracy(n_c, k_c)
        })
        .collect();
    let lattice = brute_lattice(table, &lattice_of(p));
    let mut sizes = vec![0u64; table.n_classes as usize];
    let mut p_values = Vec::new();
    for (c, _, support, n_correct) in &lattice {
        sizes[*c as usize] += 1;
        p_values.push(binomial_cdf(
            *n_correct,
            *support,
            class_accuracy[*c as usize],
        ));
    }
    assert_eq!(family, sizes, "family sizes per class");
    // Bit for bit what plain Benjamini-Hochberg over every frequent set's own p-value (the
    // engine's binomial CDF) gives: the family's multiplicities change nothing.
    let engine_p: Vec<f64> = lattice
        .iter()
        .map(|(c, _, support, n_correct)| {
            prime_core::binomial_cdf(
                u64::from(*n_correct),
                u64::from(*support),
                class_accuracy[*c as usize],
            )
        })
        .collect();
    let plain = prime_core::bh_q_values(&engine_p);
    for m in &modes {
        let i = engine_p
            .iter()
            .position(|&x| x == m.p_value)
            .expect("a mode's p-value is in the family");
        let q_value = m.q_value.expect("attached");
        assert_eq!(
            q_value.to_bits(),
            plain[i].to_bits(),
            "q-value {q_value} of {m:?}, plain BH {}",
            plain[i]
        );
    }
    for m in &modes {
        let q_value = m.q_value.expect("attached");
        let ordered = m.p_value <= q_value && q_value <= 1.0;
        assert!(ordered, "p {} and q {q_value} of {m:?}", m.p_value);
        let own = binomial_cdf(m.n_correct, m.support, class_accuracy[m.class as usize]);
        let expected = bh_q_value(&p_values, own);
        let close = (q_value - expected).abs() <= 1e-9 * expected + 1e-300;
        assert!(close, "q-value {q_value} of {m:?}, expected {expected}");
    }
}

/// Checks [`greedy_search`]: its modes are exhaustive modes with identical statistics, all
/// of them once the beam holds every frequent set, with any thread count.
fn check_greedy(index: &TagIndex, p: &SearchParams, exhaustive: &[FailureMode]) {
    let cancel = AtomicBool::new(false);
    let all = bits(exhaustive);
    for beam in [1, 2, 5, 1_000_000] {
        let greedy = |threads| {
            with_threads(Some(threads), || greedy_search(index, p, beam, &cancel))
                .unwrap()
                .expect("greedy_search succeeds")
        };
        let one = greedy(1);
        assert_eq!(
            all_bits(&greedy(4)),
            all_bits(&one),
            "beam {beam}: 4 threads differ"
        );
        let got = bits(&one.modes);
        if beam == 1_000_000 {
            assert_eq!(got, all, "an unbounded beam must find every mode for {p:?}");
        } else {
            let extra: Vec<_> = got.iter().filter(|m| !all.contains(m)).collect();
            assert!(
                extra.is_empty(),
                "beam {beam}: not exhaustive modes: {extra:?}"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------
// Random inputs

/// Per class: the tags whose conjunction makes errors likely, the base error rate and the
/// error rate on that conjunction, in percent.
type Skew = (Vec<u32>, u32, u32);

/// One sample as drawn: class, tags, and a roll in `0..100` against its error rate.
type RawSample = (u32, Vec<u32>, u32);

/// Random tables of 1-3 classes, up to 120 samples and up to 9 tags. Low tag ids are more
/// frequent; rows may repeat a tag; errors concentrate on a random tag conjunction per
/// class so that modes of several sizes exist.
fn tables() -> impl Strategy<Value = Table> {
    (1u32..=3, 1u32..=9)
        .prop_flat_map(|(n_classes, n_tags)| {
            let tag = (0..n_tags, 0..n_tags).prop_map(|(a, b)| a.min(b));
            let sample = (0..n_classes, prop::collection::vec(tag, 0..=7), 0u32..100);
            let skew = (
                prop::collection::vec(0..n_tags, 1..=3),
                0u32..=40,
                30u32..=100,
            );
            (
                Just(n_classes),
                Just(n_tags),
                prop::collection::vec(sample, 0..=120),
                prop::collection::vec(skew, n_classes as usize),
            )
        })
        .prop_map(
            |(n_classes, n_tags, samples, skews): (u32, u32, Vec<RawSample>, Vec<Skew>)| {
                let mut table = Table::new(n_classes, n_tags);
                for (class, tags, roll) in samples {
                    let (bad, base_err, bad_err) = &skews[class as usize];
                    let err = if bad.iter().all(|t| tags.contains(t)) {
                        *bad_err
                    } else {
                        *base_err
                    };
                    table.push(class, &tags, roll >= err);
                }
                table
            },
        )
}

fn min_drops() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(0.0),
        Just(0.1),
        Just(0.2),
        Just(0.25),
        Just(0.3),
        Just(0.5),
        Just(1.0),
        0.0..=1.0f64,
    ]
}

fn necessities() -> impl Strategy<Value = Vec<f64>> {
    let b = prop_oneof![
        Just(0.0),
        Just(0.025),
        Just(0.05),
        Just(0.1),
        Just(0.2),
        0.0..=0.5f64
    ];
    prop::collection::vec(b, 1..=3)
}

/// Search parameters for a table of `n_classes` classes.
fn params(n_classes: u32) -> impl Strategy<Value = SearchParams> {
    (
        1usize..=5,
        1u32..=10,
        min_drops(),
        necessities(),
        prop::option::weighted(0.3, 0u32..=15),
        prop::option::weighted(0.3, prop::collection::vec(0..n_classes, 0..=3)),
    )
        .prop_map(
            |(max_tags, min_support, min_drop, necessity, min_tag_count, classes)| SearchParams {
                max_tags,
                min_support,
                min_drop,
                necessity,
                min_tag_count,
                classes,
            },
        )
}

/// A table, search parameters, and the count threshold the index is built with (a
/// percentage of the way from 1 to the search's own threshold, so no tag of `T_c` is lost).
fn cases() -> impl Strategy<Value = (Table, SearchParams, u32)> {
    tables().prop_flat_map(|table| {
        let n_classes = table.n_classes;
        (Just(table), params(n_classes), 0u32..=100)
    })
}

/// Wider tables: 1-2 classes of up to 1,500 samples, 10-24 tags, up to 9 tags a row.
/// Each row takes tags near a base tag (low bases are more common), so neighbouring tags
/// co-occur and the lattice is deep; errors concentrate on a conjunction as in [`tables`].
fn wide_tables() -> impl Strategy<Value = Table> {
    (1u32..=2, 10u32..=24)
        .prop_flat_map(|(n_classes, n_tags)| {
            let base = (0..n_tags, 0..n_tags).prop_map(|(a, b)| a.min(b));
            let offsets = prop::collection::vec(0u32..9, 0..=14);
            let sample = (0..n_classes, base, offsets, 0u32..100);
            let skew = (
                prop::collection::vec(0..n_tags, 1..=3),
                0u32..=30,
                40u32..=100,
            );
            (
                Just(n_classes),
                Just(n_tags),
                prop::collection::vec(sample, 100..=1500),
                prop::collection::vec(skew, n_classes as usize),
            )
        })
        .prop_map(|(n_classes, n_tags, samples, skews)| {
            let mut table = Table::new(n_classes, n_tags);
            let mut row = Vec::new();
            for (class, base, offsets, roll) in samples {
                row.clear();
                row.extend(offsets.iter().map(|o| (base + o) % n_tags));
                let (bad, base_err, bad_err) = &skews[class as usize];
                let err = if bad.iter().all(|t| row.contains(t)) {
                    *bad_err
                } else {
                    *base_err
                };
                table.push(class, &row, roll >= err);
            }
            table
        })
}

fn wide_cases() -> impl Strategy<Value = (Table, SearchParams)> {
    let params = (
        1usize..=4,
        3u32..=40,
        min_drops(),
        necessities(),
        prop::option::weighted(0.3, 0u32..=80),
    )
        .prop_map(
            |(max_tags, min_support, min_drop, necessity, min_tag_count)| SearchParams {
                max_tags,
                min_support,
                min_drop,
                necessity,
                min_tag_count,
                classes: None,
            },
        );
    (wide_tables(), params)
}

fn build_threshold(p: &SearchParams, percent: u32) -> u32 {
    let threshold = tag_threshold(p.min_tag_count, p.min_support);
    1 + (threshold - 1) * percent / 100
}

fn config(cases: u32) -> Config {
    // Failures are kept as deterministic tests below rather than regression files.
    Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    }
}

proptest! {
    #![proptest_config(config(4000))]

    #[test]
    fn search_matches_brute_force((table, p, percent) in cases()) {
        let index = table.index(build_threshold(&p, percent));
        check_search(&table, &index, &p);
    }

    #[test]
    fn q_values_match_brute_force((table, p, percent) in cases()) {
        let index = table.index(build_threshold(&p, percent));
        check_q_values(&table, &index, &p, &run_search(&index, &p, 1));
    }


    #[test]
    fn frequent_sets_match_brute_force((table, p, percent) in cases()) {
        let index = table.index(build_threshold(&p, percent));
        check_lattice(&table, &index, &lattice_of(&p));
    }
}

proptest! {
    #![proptest_config(config(300))]

    #[test]
    fn wide_tables_match_brute_force((table, p) in wide_cases()) {
        let index = table.index(1);
        let out = check_search(&table, &index, &p);
        check_lattice(&table, &index, &lattice_of(&p));
        check_q_values(&table, &index, &p, &out);
    }
}

proptest! {
    #![proptest_config(config(2000))]

    #[test]
    fn greedy_modes_are_exhaustive_modes((table, p, percent) in cases()) {
        let index = table.index(build_threshold(&p, percent));
        check_greedy(&index, &p, &brute_search(&table, &p).modes);
    }

    #[test]
    fn stats_match_brute_force(
        table in tables(),
        queries in prop::collection::vec((0u32..3, prop::collection::vec(0u32..9, 0..=4)), 1..=20),
    ) {
        let index = table.index(1);
        prop_assert_eq!(index.n_classes(), table.n_classes as usize);
        prop_assert_eq!(index.n_tags(), table.n_tags);
        for c in 0..table.n_classes {
            let ci = index.class(c).unwrap();
            let (n, k) = count(&table, c, &[]);
            prop_assert_eq!((ci.n_samples(), ci.n_correct()), (n, k));
            prop_assert_eq!(ci.n_tags(), class_tags(&table, c, 1).len());
            prop_assert_eq!(index.stats(c, &[]).unwrap(), SetStats { support: n, n_correct: k });
        }
        for (c, tags) in queries {
            let got = index.stats(c, &tags);
            if c >= table.n_classes && tags.iter().any(|&t| t >= table.n_tags) {
                let unknown = matches!(got, Err(PrimeError::UnknownId { .. }));
                prop_assert!(unknown, "{:?}", got);
            } else if c >= table.n_classes {
                let unknown_class = matches!(got, Err(PrimeError::UnknownId { what: "class", .. }));
                prop_assert!(unknown_class, "{:?}", got);
            } else if tags.iter().any(|&t| t >= table.n_tags) {
                let unknown_tag = matches!(got, Err(PrimeError::UnknownId { what: "tag", .. }));
                prop_assert!(unknown_tag, "{:?}", got);
            } else {
                let (support, n_correct) = count(&table, c, &tags);
                let s = got.unwrap();
                prop_assert_eq!(s, SetStats { support, n_correct });
                prop_assert_eq!(s.accuracy(), (support > 0).then(|| accuracy(support, n_correct)));
            }
        }
    }

}

proptest! {
    #![proptest_config(config(1000))]

    #[test]
    fn class_selection_restricts((table, mut p, percent) in cases(), pick in prop::collection::vec(0u32..3, 0..=4)) {
        let index = table.index(build_threshold(&p, percent));
        p.classes = None;
        let all = run_search(&index, &p, 2);
        let all_sets = run_lattice(&index, &lattice_of(&p), 2);
        let pick: Vec<u32> = pick.into_iter().filter(|&c| c < table.n_classes).collect();
        p.classes = Some(pick.clone());
        let some = check_search(&table, &index, &p);
        let wanted: Vec<FailureMode> = all.modes.iter().filter(|m| pick.contains(&m.class)).cloned().collect();
        prop_assert_eq!(bits(&some.modes), bits(&wanted));
        for c in 0..table.n_classes {
            let expected = if pick.contains(&c) { all.sets_tested[c as usize] } else { 0 };
            prop_assert_eq!(some.sets_tested[c as usize], expected, "sets_tested of class {}", c);
        }
        let some_sets = check_lattice(&table, &index, &lattice_of(&p));
        let mut wanted_sets: Vec<SetRow> = rows(&all_sets).into_iter().filter(|r| pick.contains(&r.0)).collect();
        wanted_sets.sort();
        prop_assert_eq!(some_sets, wanted_sets);
    }

    #[test]
    fn with_correct_changes_only_correctness(
        (table, p, percent) in cases(),
        flips in prop::collection::vec(any::<bool>(), 120),
    ) {
        let build = build_threshold(&p, percent);
        let index = table.index(build);
        let mut other = table.clone();
        for (ok, &flip) in other.correct.iter_mut().zip(&flips) {
            *ok ^= flip;
        }
        let swapped = index.with_correct(&other.class_ids, &other.correct).unwrap();
        let rebuilt = other.index(build);
        for c in 0..table.n_classes {
            let (a, b) = (swapped.class(c).unwrap(), rebuilt.class(c).unwrap());
            prop_assert_eq!((a.n_samples(), a.n_correct(), a.n_tags()), (b.n_samples(), b.n_correct(), b.n_tags()));
            prop_assert_eq!(a.n_tags(), index.class(c).unwrap().n_tags());
        }
        let got = check_search(&other, &swapped, &p);
        prop_assert_eq!(all_bits(&got), all_bits(&run_search(&rebuilt, &p, 1)));
        let lattice = lattice_of(&p);
        check_lattice(&other, &swapped, &lattice);
        // The original index is untouched.
        check_search(&table, &index, &p);
        // Supports are the tags' business, not correctness's.
        let before = rows(&run_lattice(&index, &lattice, 1));
        let after = rows(&run_lattice(&swapped, &lattice, 1));
        let strip = |r: Vec<SetRow>| -> Vec<(u32, Vec<u32>, u32)> { r.into_iter().map(|(c, t, s, _)| (c, t, s)).collect() };
        prop_assert_eq!(strip(before), strip(after));
    }
}

// ---------------------------------------------------------------------------------------
// Boundaries of the drop condition and of the error-count bound

/// Pushes `n` samples of `class` with `tags`, of which exactly `n_correct` are right, spread
/// evenly through the run.
fn push_run(table: &mut Table, class: u32, tags: &[u32], n: u32, n_correct: u32) {
    for j in 0..n {
        // Bresenham: sample j is right when the running share of right ones steps up.
        let ok = u64::from(j + 1) * u64::from(n_correct) / u64::from(n)
            > u64::from(j) * u64::from(n_correct) / u64::from(n);
        table.push(class, tags, ok);
    }
}

#[test]
fn mode_exactly_on_the_error_bound_is_found() {
    // A_c = 120 / 150 = 0.8, a = 0.2, s = 30: a mode needs A_S <= 0.8 - 0.2 (in f64), so a
    // group of exactly 30 samples with 18 right (A_S = 0.6, 12 errors) is one, and it has
    // exactly the fewest errors any mode of this class can have.
    let mut table = Table::new(1, 4);
    push_run(&mut table, 0, &[0], 30, 18); // the mode, as a single tag
    push_run(&mut table, 0, &[1, 2], 30, 18); // the same group as a pair
    push_run(&mut table, 0, &[1, 3], 30, 30); // tag 1 alone is easier
    push_run(&mut table, 0, &[2, 3], 30, 30); // tag 2 alone is easier
    push_run(&mut table, 0, &[3], 30, 24);
    assert_eq!(count(&table, 0, &[]), (150, 120));
    let p = SearchParams {
        max_tags: 4,
        min_support: 30,
        min_drop: 0.2,
        necessity: vec![0.1],
        ..SearchParams::default()
    };
    for build in [1, 30] {
        let index = table.index(build);
        let out = check_search(&table, &index, &p);
        let found: Vec<(Vec<u32>, u32, u32)> = out
            .modes
            .iter()
            .map(|m| (m.tags.clone(), m.support, m.n_correct))
            .collect();
        assert_eq!(found, vec![(vec![0], 30, 18), (vec![1, 2], 30, 18)]);
        assert_eq!(out.modes[0].accuracy, 0.6);
        assert_eq!(out.modes[0].class_accuracy, 0.8);
        assert_eq!(out.modes[1].necessity, 48.0 / 60.0 - 18.0 / 30.0);
    }
    // One more right prediction in the group and it is no longer a mode.
    let mut table = Table::new(1, 1);
    push_run(&mut table, 0, &[0], 30, 19);
    push_run(&mut table, 0, &[], 120, 101);
    let index = table.index(1);
    assert!(check_search(&table, &index, &p).modes.is_empty());
}

#[test]
fn error_bound_survives_rounding_up() {
    // (class size, class right, a, s, right in a group of exactly s): each group is a mode
    // (A_S <= A_c - a in f64) with exactly the fewest errors a mode can have, while
    // s * (1 - (A_c - a)) rounds to just above that count in f64 (3.0000000000000004,
    // 9.000000000000002, 1.0000000000000004), so an error bound without slack would prune it.
    for (n_c, k_c, a, s, group_right) in [
        (50u32, 45u32, 0.2, 10u32, 7u32),
        (150, 105, 0.0, 30, 21),
        (35, 30, 0.0, 7, 6),
    ] {
        let mut table = Table::new(1, 1);
        push_run(&mut table, 0, &[0], s, group_right);
        push_run(&mut table, 0, &[], n_c - s, k_c - group_right);
        let p = SearchParams {
            max_tags: 2,
            min_support: s,
            min_drop: a,
            necessity: vec![0.1],
            ..SearchParams::default()
        };
        let index = table.index(1);
        let out = check_search(&table, &index, &p);
        let found: Vec<(Vec<u32>, u32, u32)> = out
            .modes
            .iter()
            .map(|m| (m.tags.clone(), m.support, m.n_correct))
            .collect();
        assert_eq!(found, vec![(vec![0], s, group_right)], "{p:?}");
    }
}

#[test]
fn drop_condition_is_evaluated_in_f64() {
    // 0.7 - 0.3 = 0.39999999999999997 in f64, so a group at exactly 12 / 30 = 0.4 is not
    // below it; the engine and the oracle must both apply the f64 comparison.
    let mut table = Table::new(1, 1);
    push_run(&mut table, 0, &[0], 30, 12);
    push_run(&mut table, 0, &[], 70, 58);
    assert_eq!(count(&table, 0, &[]), (100, 70));
    let index = table.index(1);
    let p = SearchParams {
        max_tags: 1,
        min_support: 30,
        min_drop: 0.3,
        ..SearchParams::default()
    };
    assert!(accuracy(100, 70) - 0.3 < accuracy(30, 12));
    assert!(check_search(&table, &index, &p).modes.is_empty());
    let p = SearchParams {
        min_drop: 0.29,
        ..p
    };
    assert_eq!(check_search(&table, &index, &p).modes.len(), 1);
}

#[test]
fn modes_on_the_boundary_agree_with_brute_force() {
    // For each (s, a), one class per (group errors e, class correct count near the drop
    // boundary): a group of exactly s samples carries tag 2 alone and the pair {0, 1};
    // the rest of the class is 4s samples, s of them with tag 0 and s with tag 1.
    for s in [1u32, 2, 3, 7, 10, 29, 30, 31, 50] {
        for a in [0.0, 0.05, 0.1, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 1.0] {
            let mut table = Table::new(0, 3);
            let mut class = 0;
            for e in 0..=s {
                let group_correct = s - e;
                let target = f64::from(group_correct) / f64::from(s) + a;
                let ideal = (target * f64::from(5 * s)).round() as i64;
                for delta in -1..=1i64 {
                    let total = ideal + delta;
                    let rest = total - i64::from(group_correct);
                    if !(0..=i64::from(4 * s)).contains(&rest) {
                        continue;
                    }
                    let rest = rest as u32;
                    push_run(&mut table, class, &[0, 1, 2], s, group_correct);
                    // Spread the rest's right predictions over its four quarters.
                    let quarter = [rest / 4, rest / 4, rest / 4, rest - 3 * (rest / 4)];
                    push_run(&mut table, class, &[0], s, quarter[0]);
                    push_run(&mut table, class, &[1], s, quarter[1]);
                    push_run(&mut table, class, &[], s, quarter[2]);
                    push_run(&mut table, class, &[0, 0], s, quarter[3]);
                    class += 1;
                }
            }
            table.n_classes = class;
            let index = table.index(1);
            for necessity in [vec![0.0], vec![0.1, 0.05]] {
                let p = SearchParams {
                    max_tags: 3,
                    min_support: s,
                    min_drop: a,
                    necessity,
                    ..SearchParams::default()
                };
                check_search(&table, &index, &p);
                check_lattice(&table, &index, &lattice_of(&p));
            }
        }
    }
}

#[test]
fn large_classes_agree_with_brute_force() {
    // Two classes of 20,000 and 3,000 samples over 14 tags, drawn by a fixed xorshift:
    // supports far above a few machine words, as in real data sets.
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move |n: u32| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (((state >> 32) * u64::from(n)) >> 32) as u32
    };
    let mut table = Table::new(2, 14);
    let mut row = Vec::new();
    for (class, n) in [(0u32, 20_000u32), (1, 3_000)] {
        for _ in 0..n {
            row.clear();
            let base = next(14).min(next(14));
            for _ in 0..next(8) {
                row.push((base + next(5)) % 14);
            }
            // Tags 2 and 3 together make errors likely; so does tag 9 in class 1.
            let hard = (row.contains(&2) && row.contains(&3)) || (class == 1 && row.contains(&9));
            table.push(class, &row, next(100) >= if hard { 55 } else { 12 });
        }
    }
    let index = table.index(1);
    for (max_tags, min_support, min_drop) in [(4, 30, 0.3), (4, 100, 0.2), (3, 5, 0.1)] {
        let p = SearchParams {
            max_tags,
            min_support,
            min_drop,
            ..SearchParams::default()
        };
        let out = check_search(&table, &index, &p);
        assert!(!out.modes.is_empty(), "{p:?}");
        check_lattice(&table, &index, &lattice_of(&p));
        check_q_values(&table, &index, &p, &out);
    }
}

// ---------------------------------------------------------------------------------------
// Errors, cancellation, edge cases

fn small_table() -> Table {
    let mut table = Table::new(2, 3);
    push_run(&mut table, 0, &[0, 1], 10, 2);
    push_run(&mut table, 0, &[1, 2], 10, 9);
    push_run(&mut table, 1, &[0], 10, 5);
    push_run(&mut table, 1, &[2, 2], 10, 10);
    table
}

fn small_params() -> SearchParams {
    SearchParams {
        min_support: 3,
        ..SearchParams::default()
    }
}

fn try_index(t: &Table) -> prime_core::Result<TagIndex> {
    TagIndex::from_csr(
        &t.indptr,
        &t.indices,
        &t.class_ids,
        &t.correct,
        t.n_classes,
        t.n_tags,
        1,
    )
}

fn is_invalid_input<T>(r: &prime_core::Result<T>) -> bool {
    matches!(r, Err(PrimeError::InvalidInput(_)))
}

/// Whether `r` is an `UnknownId` error for id `id` of kind `what` (`"class"` or `"tag"`).
fn is_unknown<T>(r: &prime_core::Result<T>, what: &str, id: u64) -> bool {
    matches!(r, Err(PrimeError::UnknownId { what: w, id: i, .. }) if *w == what && *i == id)
}

/// The name of the parameter an `InvalidParameter` error blames, if that is the error.
fn blamed<T>(r: &prime_core::Result<T>) -> Option<&'static str> {
    match r {
        Err(PrimeError::InvalidParameter { name, .. }) => Some(name),
        _ => None,
    }
}

#[test]
fn cancelled_search_returns_cancelled() {
    let index = small_table().index(1);
    let cancel = AtomicBool::new(true);
    for max_tags in [1, 2, 4] {
        let p = SearchParams {
            max_tags,
            ..small_params()
        };
        let lattice = lattice_of(&p);
        assert!(!run_search(&index, &p, 1).modes.is_empty());
        for threads in [1, 4] {
            let got = with_threads(Some(threads), || search(&index, &p, &cancel)).unwrap();
            assert_eq!(got, Err(PrimeError::Cancelled), "search, {max_tags} tags");
            let got = with_threads(Some(threads), || frequent_sets(&index, &lattice, &cancel));
            assert_eq!(
                got.unwrap(),
                Err(PrimeError::Cancelled),
                "lattice, {max_tags} tags"
            );
        }
    }
}

/// A change to parameters that makes them invalid, and the parameter it blames.
type Edit<P> = (&'static str, fn(&mut P));

#[test]
fn invalid_parameters_are_rejected() {
    let index = small_table().index(1);
    let no = AtomicBool::new(false);
    let base = small_params();
    let edits: Vec<Edit<SearchParams>> = vec![
        ("max_tags", |p| p.max_tags = 0),
        ("max_tags", |p| p.max_tags = 65),
        ("min_support", |p| p.min_support = 0),
        ("min_drop", |p| p.min_drop = -0.01),
        ("min_drop", |p| p.min_drop = 1.01),
        ("min_drop", |p| p.min_drop = f64::NAN),
        ("min_drop", |p| p.min_drop = f64::INFINITY),
        ("necessity", |p| p.necessity = vec![]),
        ("necessity", |p| p.necessity = vec![-0.1]),
        ("necessity", |p| p.necessity = vec![0.1, 1.5]),
        ("necessity", |p| p.necessity = vec![0.1, f64::NAN]),
    ];
    for (name, edit) in edits {
        let mut p = base.clone();
        edit(&mut p);
        assert_eq!(blamed(&search(&index, &p, &no)), Some(name), "{p:?}");
        // Validation comes before cancellation.
        let got = search(&index, &p, &AtomicBool::new(true));
        assert_eq!(blamed(&got), Some(name), "{p:?}");
    }
    let edits: Vec<Edit<LatticeParams>> = vec![
        ("max_tags", |p| p.max_tags = 0),
        ("max_tags", |p| p.max_tags = 65),
        ("min_support", |p| p.min_support = 0),
    ];
    for (name, edit) in edits {
        let mut p = lattice_of(&base);
        edit(&mut p);
        assert_eq!(blamed(&frequent_sets(&index, &p, &no)), Some(name), "{p:?}");
    }
    // The ends of each range are valid.
    let table = small_table();
    let edits: Vec<fn(&mut SearchParams)> = vec![
        |p| (p.max_tags, p.min_drop, p.necessity) = (64, 0.0, vec![0.0]),
        |p| (p.min_support, p.min_drop, p.necessity) = (1, 1.0, vec![1.0, 0.0]),
    ];
    for edit in edits {
        let mut p = base.clone();
        edit(&mut p);
        check_search(&table, &index, &p);
    }
    // A class selection must name known classes.
    let p = SearchParams {
        classes: Some(vec![0, 2]),
        ..base.clone()
    };
    assert!(is_unknown(&search(&index, &p, &no), "class", 2));
    assert!(is_unknown(
        &frequent_sets(&index, &lattice_of(&p), &no),
        "class",
        2
    ));
}

fn drop_last<T>(v: &mut Vec<T>) {
    v.pop();
}

#[test]
fn invalid_csr_is_rejected() {
    let t = small_table();
    try_index(&t).unwrap();
    let edits: Vec<fn(&mut Table)> = vec![
        // correct shorter than class_ids
        |t| drop_last(&mut t.correct),
        // indptr not one longer than the samples, or empty
        |t| drop_last(&mut t.indptr),
        |t| t.indptr.clear(),
        // indptr not from 0 to len(indices)
        |t| t.indptr[0] = 1,
        |t| drop_last(&mut t.indices),
        |t| t.indices.push(0),
        // indptr decreasing in the middle
        |t| t.indptr[1] = t.indptr[2] + 1,
    ];
    for (i, edit) in edits.into_iter().enumerate() {
        let mut bad = t.clone();
        edit(&mut bad);
        assert!(is_invalid_input(&try_index(&bad)), "edit {i}");
    }
    let mut bad = t.clone();
    bad.n_tags = 2;
    assert!(is_unknown(&try_index(&bad), "tag", 2));
    let mut bad = t.clone();
    bad.n_classes = 1;
    assert!(is_unknown(&try_index(&bad), "class", 1));
    let mut empty = Table::new(0, 0);
    empty.indptr.clear();
    assert!(is_invalid_input(&try_index(&empty)));
}

#[test]
fn empty_tables_and_classes_have_no_modes() {
    let no = AtomicBool::new(false);
    let empty = Table::new(3, 5);
    let index = try_index(&empty).unwrap();
    assert_eq!((index.n_classes(), index.n_tags()), (3, 5));
    let out = search(&index, &small_params(), &no).unwrap();
    assert!(out.modes.is_empty());
    assert_eq!(out.sets_tested, vec![0; 3]);
    assert!(frequent_sets(&index, &lattice_of(&small_params()), &no)
        .unwrap()
        .is_empty());
    let mut gaps = small_table();
    gaps.n_classes = 4; // classes 2 and 3 have no samples
    let index = gaps.index(1);
    assert_eq!(index.class(3).unwrap().n_samples(), 0);
    let p = SearchParams {
        classes: Some(vec![3, 0, 2]),
        ..small_params()
    };
    for p in [small_params(), p] {
        check_search(&gaps, &index, &p);
        check_lattice(&gaps, &index, &lattice_of(&p));
    }
    assert!(is_unknown(&index.stats(4, &[0]), "class", 4));
    assert!(is_unknown(&index.stats(0, &[3]), "tag", 3));
    assert!(is_unknown(&index.class(4), "class", 4));
}

#[test]
fn with_correct_rejects_mismatched_arrays() {
    let t = small_table();
    let index = t.index(1);
    assert!(is_invalid_input(
        &index.with_correct(&t.class_ids, &t.correct[1..])
    ));
    assert!(is_invalid_input(
        &index.with_correct(&t.class_ids[1..], &t.correct[1..])
    ));
    let mut moved = t.class_ids.clone();
    moved[0] = 1; // same length, but one sample changed class
    assert!(is_invalid_input(&index.with_correct(&moved, &t.correct)));
    moved[0] = 2;
    assert!(is_unknown(
        &index.with_correct(&moved, &t.correct),
        "class",
        2
    ));
    // The same flags give the same index.
    let same = index.with_correct(&t.class_ids, &t.correct).unwrap();
    let p = small_params();
    assert_eq!(
        all_bits(&run_search(&same, &p, 1)),
        all_bits(&run_search(&index, &p, 1))
    );
}

#[test]
fn duplicate_tags_in_a_row_count_once() {
    let mut table = Table::new(1, 2);
    push_run(&mut table, 0, &[0, 0, 1, 0, 1], 5, 1);
    push_run(&mut table, 0, &[1, 1], 5, 5);
    let index = table.index(1);
    let stats = |tags: &[u32]| {
        let s = index.stats(0, tags).unwrap();
        (s.support, s.n_correct)
    };
    assert_eq!(stats(&[0]), (5, 1));
    assert_eq!(stats(&[1, 0, 1]), (5, 1));
    assert_eq!(stats(&[1]), (10, 6));
    let p = SearchParams {
        min_support: 5,
        ..SearchParams::default()
    };
    let out = check_search(&table, &index, &p);
    assert_eq!(out.modes.len(), 1);
    assert_eq!(out.modes[0].tags, vec![0]);
    check_lattice(&table, &index, &lattice_of(&p));
}

#[test]
fn stats_rejects_an_unknown_tag_after_an_absent_one() {
    // Tag 0 is in the vocabulary but no sample of class 0 carries it; tag 1 is past the
    // vocabulary. The unknown id is an error wherever it stands in the query.
    let mut table = Table::new(1, 1);
    push_run(&mut table, 0, &[], 3, 2);
    let index = table.index(1);
    assert!(is_unknown(&index.stats(0, &[1, 0]), "tag", 1));
    let got = index.stats(0, &[0, 1]);
    assert!(is_unknown(&got, "tag", 1), "stats(0, [0, 1]) gave {got:?}");
}

#[test]
fn q_value_is_never_below_p_value() {
    // Seven single tags on the same 3 samples (2 right): a family of seven frequent sets,
    // all with p = P(X <= 2 | X ~ Binomial(3, 2/3)) = 19/27. Benjamini-Hochberg gives
    // q = p * 7 / 7, which must not round below p (p * 7.0 / 7.0 does, by one ulp).
    let mut table = Table::new(1, 7);
    push_run(&mut table, 0, &[0, 1, 2, 3, 4, 5, 6], 3, 2);
    let p = SearchParams {
        max_tags: 1,
        min_support: 1,
        min_drop: 0.0,
        ..SearchParams::default()
    };
    let index = table.index(1);
    let mut out = check_search(&table, &index, &p);
    assert_eq!(out.modes.len(), 7);
    let family = attach_q_values(&index, &p, &mut out.modes, &AtomicBool::new(false));
    assert_eq!(family.unwrap(), vec![7]);
    for m in &out.modes {
        let q_value = m.q_value.expect("attached");
        assert!(m.p_value <= q_value, "p {} > q {q_value}", m.p_value);
    }
}

// ---------------------------------------------------------------------------------------
// Building from tag strings, and confusions

/// Tag names whose byte order differs from the ids' order: long ones (not inline in an
/// Arrow view), a 12-byte one (the longest inline), the empty string, non-ASCII.
const NAMES: [&str; 9] = [
    "zeta",
    "a",
    "a name longer than twelve",
    "twelve bytes",
    "é",
    "ab",
    "",
    "Z",
    "thirteen byte",
];

/// A table's rows as strings; short tags come inline on even rows, as bytes on odd rows
/// (both forms must give the same id).
struct StringRows<'t>(&'t Table);

impl TagRows for StringRows<'_> {
    fn n_rows(&self) -> usize {
        self.0.class_ids.len()
    }

    fn for_each_tag<'a, F: FnMut(Option<Tag<'a>>)>(&'a self, row: usize, mut f: F) {
        for &t in self.0.row(row) {
            let name = NAMES[t as usize].as_bytes();
            match Tag::inline(name) {
                Some(view) if row % 2 == 0 => f(Some(Tag::Inline(view))),
                _ => f(Some(Tag::Bytes(name))),
            }
        }
    }
}

/// The same table with each tag renumbered by its name's position in the sorted
/// vocabulary of the names in use.
fn renamed(table: &Table) -> (Table, Vec<String>) {
    let mut used: Vec<&str> = table.indices.iter().map(|&t| NAMES[t as usize]).collect();
    used.sort_unstable();
    used.dedup();
    let mut out = Table::new(table.n_classes, used.len() as u32);
    for i in 0..table.class_ids.len() {
        let tags: Vec<u32> = table
            .row(i)
            .iter()
            .map(|&t| used.binary_search(&NAMES[t as usize]).unwrap() as u32)
            .collect();
        out.push(table.class_ids[i], &tags, table.correct[i]);
    }
    // Table::push only sizes `members` up to the classes seen.
    out.members.resize(table.n_classes as usize, Vec::new());
    (out, used.into_iter().map(String::from).collect())
}

proptest! {
    #![proptest_config(config(1000))]

    #[test]
    fn from_tag_rows_matches_brute_force((table, p, percent) in cases()) {
        let (expected_table, expected_vocabulary) = renamed(&table);
        let threshold = build_threshold(&p, percent);
        let (index, vocabulary) = TagIndex::from_tag_rows(
            &StringRows(&table), &table.class_ids, &table.correct, table.n_classes, threshold,
        ).unwrap();
        prop_assert_eq!(vocabulary, expected_vocabulary);
        check_search(&expected_table, &index, &p);
        check_lattice(&expected_table, &index, &lattice_of(&p));
    }

    #[test]
    fn confusions_match_brute_force(
        table in tables(),
        codes in prop::collection::vec(0u32..4, 120),
        named in prop::collection::vec(prop::option::of(0u32..3), 4),
    ) {
        let index = table.index(1);
        let code_class: Vec<Option<u32>> =
            named.iter().map(|c| c.filter(|&c| c < table.n_classes)).collect();
        // Predictions in the class-grouped order the engine takes.
        let grouped: Vec<u32> = (0..table.n_classes as usize)
            .flat_map(|c| table.members.get(c).cloned().unwrap_or_default())
            .map(|i| codes[i])
            .collect();
        let lattice = brute_lattice(&table, &LatticeParams {
            max_tags: 3, min_support: 1, min_tag_count: None, classes: None,
        });
        let mut sets: Vec<(u32, Vec<u32>)> =
            lattice.iter().map(|(c, tags, _, _)| (*c, tags.clone())).collect();
        sets.extend((0..table.n_classes).map(|c| (c, Vec::new())));
        let predictions = Predictions::new(&index, grouped, code_class.clone()).unwrap();
        let got = index.confusions(&sets, &predictions).unwrap();
        for ((class, tags), got) in sets.iter().zip(&got) {
            let mut counts = [0u32; 4];
            let members = table.members.get(*class as usize).cloned().unwrap_or_default();
            for &i in &members {
                if !table.correct[i] && tags.iter().all(|t| table.row(i).contains(t)) {
                    counts[codes[i] as usize] += 1;
                }
            }
            let n_wrong: u32 = counts.iter().sum();
            let top = (n_wrong > 0).then(|| {
                let k = *counts.iter().max().unwrap();
                (counts.iter().position(|&x| x == k).unwrap() as u32, k)
            });
            let other_support = top
                .and_then(|(code, _)| code_class[code as usize])
                .map(|other| count(&table, other, tags).0);
            prop_assert_eq!(*got, Confusion { n_wrong, top, other_support });
        }
    }
}

/// Predictions are checked once, when made, and only serve the index they were made for.
#[test]
fn predictions_are_checked_against_their_index() {
    // Class 0: samples 0 and 1; class 1: sample 2.
    let index = TagIndex::from_csr(
        &[0, 1, 2, 2],
        &[0, 0],
        &[0, 0, 1],
        &[true, false, true],
        2,
        1,
        1,
    )
    .unwrap();
    let named = vec![Some(0), Some(1)];
    let short = Predictions::new(&index, vec![0, 1], named.clone()).unwrap_err();
    assert!(
        short.to_string().contains("2 predictions for 3 samples"),
        "{short}"
    );
    let code = Predictions::new(&index, vec![0, 2, 1], named.clone()).unwrap_err();
    assert!(code.to_string().contains("prediction code"), "{code}");
    let class = Predictions::new(&index, vec![0, 1, 1], vec![Some(0), Some(2)]).unwrap_err();
    assert!(class.to_string().contains("class"), "{class}");
    let good = Predictions::new(&index, vec![0, 1, 1], named).unwrap();
    assert_eq!(good.class_of(1), Some(1));
    assert_eq!(good.class_of(7), None);
    // Another index, whose classes hold other numbers of samples.
    let other = TagIndex::from_csr(
        &[0, 1, 2, 2],
        &[0, 0],
        &[0, 1, 1],
        &[true, false, true],
        2,
        1,
        1,
    )
    .unwrap();
    let err = other.confusions(&[(0, vec![0])], &good).unwrap_err();
    assert!(err.to_string().contains("other classes"), "{err}");
}

#[test]
fn from_tag_rows_refuses_bad_input() {
    struct Rows(Vec<Vec<Option<&'static str>>>);
    impl TagRows for Rows {
        fn n_rows(&self) -> usize {
            self.0.len()
        }
        fn for_each_tag<'a, F: FnMut(Option<Tag<'a>>)>(&'a self, row: usize, mut f: F) {
            for t in &self.0[row] {
                f(t.map(|t| Tag::Bytes(t.as_bytes())));
            }
        }
    }
    let rows = Rows(vec![vec![Some("a")], vec![Some("b"), None]]);
    let err = TagIndex::from_tag_rows(&rows, &[0, 0], &[true, true], 1, 1).unwrap_err();
    assert!(err.to_string().contains("row 1 has a null tag"), "{err}");
    let rows = Rows(vec![vec![Some("a")]]);
    let err = TagIndex::from_tag_rows(&rows, &[0, 0], &[true, true], 1, 1).unwrap_err();
    assert!(err.to_string().contains("must be as many"), "{err}");
    let err = TagIndex::from_tag_rows(&rows, &[3], &[true], 1, 1).unwrap_err();
    assert!(
        matches!(err, PrimeError::UnknownId { what: "class", .. }),
        "{err}"
    );
    struct Bad;
    impl TagRows for Bad {
        fn n_rows(&self) -> usize {
            1
        }
        fn for_each_tag<'a, F: FnMut(Option<Tag<'a>>)>(&'a self, _: usize, mut f: F) {
            f(Some(Tag::Bytes(&[0xff, 0xfe])));
        }
    }
    let err = TagIndex::from_tag_rows(&Bad, &[0], &[true], 1, 1).unwrap_err();
    assert!(err.to_string().contains("not valid UTF-8"), "{err}");
}

#[test]
fn encode_strings_wants_one_value_per_row() {
    struct Rows(Vec<Vec<&'static str>>);
    impl TagRows for Rows {
        fn n_rows(&self) -> usize {
            self.0.len()
        }
        fn for_each_tag<'a, F: FnMut(Option<Tag<'a>>)>(&'a self, row: usize, mut f: F) {
            for t in &self.0[row] {
                f(Some(Tag::Bytes(t.as_bytes())));
            }
        }
    }
    let many: Vec<Vec<&str>> = (0..1000).map(|i| vec![NAMES[i % NAMES.len()]]).collect();
    let (values, codes) = encode_strings(&Rows(many.clone())).unwrap();
    let mut expected: Vec<&str> = NAMES.to_vec();
    expected.sort_unstable();
    assert_eq!(values, expected);
    for (row, code) in many.iter().zip(&codes) {
        assert_eq!(values[*code as usize], row[0]);
    }
    let err = encode_strings(&Rows(vec![vec!["a"], vec!["a", "b"]])).unwrap_err();
    assert!(err.to_string().contains("row 1 holds 2 values"), "{err}");
    let err = encode_strings(&Rows(vec![vec!["a"], vec![]])).unwrap_err();
    assert!(err.to_string().contains("row 1 holds 0 values"), "{err}");
    // An empty row before a full one, and the first bad row is the one named.
    let err = encode_strings(&Rows(vec![vec!["a"], vec![], vec!["b", "c"]])).unwrap_err();
    assert!(err.to_string().contains("row 1 holds 0 values"), "{err}");
}

/// The row an encoding error names is the first bad one, whatever the number of threads
/// (which sets how the rows are cut into pieces encoded in parallel) and whichever piece
/// finishes first: a null row, an empty one and one of two values, in every order.
#[test]
fn encode_strings_names_the_first_bad_row_on_any_thread_count() {
    struct Rows(Vec<Option<Vec<&'static str>>>);
    impl TagRows for Rows {
        fn n_rows(&self) -> usize {
            self.0.len()
        }
        fn for_each_tag<'a, F: FnMut(Option<Tag<'a>>)>(&'a self, row: usize, mut f: F) {
            match &self.0[row] {
                None => f(None),
                Some(tags) => tags.iter().for_each(|t| f(Some(Tag::Bytes(t.as_bytes())))),
            }
        }
    }
    let bad: [(Option<Vec<&'static str>>, &str); 3] = [
        (None, "is null"),
        (Some(vec![]), "holds 0 values"),
        (Some(vec!["b", "c"]), "holds 2 values"),
    ];
    for (first, second) in [(0, 1), (1, 0), (0, 2), (2, 0), (1, 2), (2, 1)] {
        let mut rows: Vec<Option<Vec<&str>>> = (0..64).map(|_| Some(vec!["a"])).collect();
        rows[11] = bad[first].0.clone();
        rows[12] = bad[second].0.clone();
        rows[50] = bad[second].0.clone();
        let rows = Rows(rows);
        let want = format!("row 11 {}", bad[first].1);
        for threads in [1, 2, 3, 8, 32] {
            for _ in 0..5 {
                let err = with_threads(Some(threads), || encode_strings(&rows))
                    .unwrap()
                    .unwrap_err();
                assert!(
                    err.to_string().contains(&want),
                    "{threads} threads: {err} ({want})"
                );
            }
        }
    }
}

/// A class that keeps more than 65,536 tags stores its rows with 32-bit ids (16-bit ones
/// otherwise): the searches that walk those rows give what the definitions give, with the
/// index built from ids and from strings (whose encoder's table then grows past its small
/// tables' load limit). Sample `i` of `n`
/// carries ring tags `i` and `i + 1` (mod `n`) and a common tag `n`; it is right unless `i`
/// is a multiple of 3.
#[test]
fn classes_with_more_than_65536_tags_search_exactly() {
    struct Named(Vec<Vec<String>>);
    impl TagRows for Named {
        fn n_rows(&self) -> usize {
            self.0.len()
        }
        fn for_each_tag<'a, F: FnMut(Option<Tag<'a>>)>(&'a self, row: usize, mut f: F) {
            for t in &self.0[row] {
                f(Some(Tag::Bytes(t.as_bytes())));
            }
        }
    }
    let n: u32 = 70_000;
    let mut indptr = vec![0u64];
    let mut indices = Vec::new();
    for i in 0..n {
        indices.extend([i, (i + 1) % n, n]);
        indptr.push(indices.len() as u64);
    }
    let correct: Vec<bool> = (0..n).map(|i| i % 3 != 0).collect();
    let classes = vec![0; n as usize];
    let from_ids = TagIndex::from_csr(&indptr, &indices, &classes, &correct, 1, n + 1, 1).unwrap();
    // The same tags as strings, named so that their sorted order is their ids' order.
    let name = |t: u32| {
        if t == n {
            "z".to_string()
        } else {
            format!("t{t:06}")
        }
    };
    let named = Named(
        indptr
            .windows(2)
            .map(|w| {
                indices[w[0] as usize..w[1] as usize]
                    .iter()
                    .map(|&t| name(t))
                    .collect()
            })
            .collect(),
    );
    let (from_names, vocabulary) =
        TagIndex::from_tag_rows(&named, &classes, &correct, 1, 1).unwrap();
    assert_eq!(vocabulary.len(), n as usize + 1);
    assert_eq!(vocabulary[5], name(5));
    for index in [&from_ids, &from_names] {
        check_ring(index, n, &correct);
    }
}

fn check_ring(index: &TagIndex, n: u32, correct: &[bool]) {
    // Ring tag `t` is carried by samples `t - 1` and `t`.
    let right =
        |t: u32| u32::from(correct[((t + n - 1) % n) as usize]) + u32::from(correct[t as usize]);

    let lattice = rows(&run_lattice(
        index,
        &LatticeParams {
            max_tags: 3,
            min_support: 2,
            min_tag_count: None,
            classes: None,
        },
        2,
    ));
    // Every ring tag, alone and with the common tag; the common tag; no triple (support 1).
    assert_eq!(lattice.len(), 2 * n as usize + 1);
    for (_, tags, support, n_correct) in &lattice {
        match tags[..] {
            [t] if t == n => assert_eq!(
                (*support, *n_correct),
                (n, correct.iter().filter(|&&c| c).count() as u32)
            ),
            [t] | [t, _] => assert_eq!((*support, *n_correct), (2, right(t))),
            _ => panic!("unexpected set {tags:?}"),
        }
    }

    // Modes: the ring tags with a wrong sample (accuracy 0.5, or 0 where the ring closes,
    // against 2/3); with the common tag they cover the same samples, so the pairs are not
    // minimal.
    let params = SearchParams {
        max_tags: 3,
        min_support: 2,
        min_drop: 0.1,
        necessity: vec![0.1, 0.1],
        min_tag_count: None,
        classes: None,
    };
    let out = run_search(index, &params, 2);
    let mut got: Vec<u32> = out
        .modes
        .iter()
        .map(|m| {
            assert_eq!(
                (m.tags.len(), m.support, m.n_correct),
                (1, 2, right(m.tags[0]))
            );
            m.tags[0]
        })
        .collect();
    got.sort_unstable();
    let expected: Vec<u32> = (0..n).filter(|&t| right(t) <= 1).collect();
    assert_eq!(got, expected);
    assert_eq!(run_search(index, &params, 1).modes.len(), expected.len());
}
