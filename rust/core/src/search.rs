//! Depth-first enumeration of tag sets (Eclat over projected dense bitsets).
//!
//! Work is split into items `(class, first tag)`. An item projects the class's samples
//! that carry its first tag `t` into a local coordinate system of `n_t` bits and builds one
//! dense bitset per frequent extension `{t, u}` from the samples' tag lists; every deeper
//! set is the AND of two sibling bitsets of `ceil(n_t / 64)` words. Supports prune
//! (anti-monotone) and, for the mode search, so do error counts: a set that keeps fewer
//! wrong predictions than any mode of its class needs cannot lead to one.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use rayon::prelude::*;
use rustc_hash::FxHashMap;

use crate::error::{PrimeError, Result};
use crate::index::{ClassIndex, RowTags, SetStats, TagIndex};
use crate::params::{LatticeParams, SearchParams};
use crate::pext::{compress, fast_pext};
use crate::stats::{
    bh_q_values_of, binomial_cdf, binomial_cdfs, binomial_quantiles, order_key, ROW_MAX,
};

/// One failure mode found by [`search`].
#[derive(Debug, Clone, PartialEq)]
pub struct FailureMode {
    /// Class id.
    pub class: u32,
    /// Global tag ids of the set, ascending.
    pub tags: Vec<u32>,
    /// `|I_S|`.
    pub support: u32,
    /// Correct predictions in `I_S`.
    pub n_correct: u32,
    /// `A_S = n_correct / support`.
    pub accuracy: f64,
    /// `A_c`.
    pub class_accuracy: f64,
    /// `A_c - A_S`.
    pub drop: f64,
    /// Smallest `A_{S-t} - A_S` over the tags `t` of `S` (for one tag, `A_c - A_S`).
    pub necessity: f64,
    /// One-sided binomial p-value: `P(X <= n_correct)` for `X ~ Binomial(support, A_c)`,
    /// how likely a group this size would be this inaccurate by chance.
    pub p_value: f64,
    /// Benjamini–Hochberg adjusted p-value over every frequent set of the searched classes;
    /// `None` until [`attach_q_values`] fills it in.
    pub q_value: Option<f64>,
}

/// What [`search`] returns.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SearchOutput {
    /// The modes, sorted by class, then drop (largest first), then tag ids.
    pub modes: Vec<FailureMode>,
    /// Per class id: how many tag sets had support `>= min_support` and were tested against
    /// the drop condition (sets skipped by error-count pruning cannot be modes and are not
    /// counted).
    pub sets_tested: Vec<u64>,
}

/// Counts of tested sets, packed as `support << 32 | n_correct`.
pub(crate) fn pack(c: Counts) -> u64 {
    (u64::from(c.support) << 32) | u64::from(c.support - c.errors)
}

/// Fills in `p_value` of every mode.
pub(crate) fn attach_p_values(modes: &mut [FailureMode]) {
    // Ordered by class accuracy, then support and n_correct, so that the modes of one row
    // share its pass (see `binomial_cdfs`); in parallel chunks, as dense data can have tens
    // of thousands of modes.
    let mut order: Vec<(u64, u64, u64, usize)> = modes
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let (n, k) = (u64::from(m.support), u64::from(m.n_correct));
            (m.class_accuracy.to_bits(), n, k, i)
        })
        .collect();
    order.par_sort_unstable();
    let p_values: Vec<(usize, f64)> = order
        .par_chunks(512)
        .flat_map_iter(|chunk| {
            let mut out = Vec::with_capacity(chunk.len());
            for run in chunk.chunk_by(|a, b| a.0 == b.0) {
                let pairs: Vec<(u64, u64)> = run.iter().map(|&(_, n, k, _)| (k, n)).collect();
                let p_values = binomial_cdfs(&pairs, f64::from_bits(run[0].0));
                out.extend(run.iter().map(|r| r.3).zip(p_values));
            }
            out
        })
        .collect();
    for (i, p) in p_values {
        modes[i].p_value = p;
    }
}

/// `binomial_cdf(k, n, a)` of each packed `(n, k)` key (see [`pack`]), in parallel chunks;
/// sorted keys make the fastest batches. Keys whose support is past [`ROW_MAX`] take a
/// continued fraction each (no row to share), so they go in smaller chunks, which keep the
/// threads evenly busy to the end.
fn cdfs_of_keys(keys: &[(u64, u64)], a: f64) -> Vec<f64> {
    let by_row = keys.partition_point(|&(key, _)| key >> 32 <= ROW_MAX);
    let (rows, fractions) = keys.split_at(by_row);
    let cdfs = |chunk: &[(u64, u64)]| {
        let pairs: Vec<(u64, u64)> = chunk
            .iter()
            .map(|&(key, _)| (key & 0xFFFF_FFFF, key >> 32))
            .collect();
        binomial_cdfs(&pairs, a)
    };
    rows.par_chunks(1024)
        .chain(fractions.par_chunks(256))
        .flat_map_iter(cdfs)
        .collect()
}

/// Fills in `q_value` of the modes: Benjamini–Hochberg over one family, every frequent set
/// of every searched class (every tag set of at most `max_tags` tags of `T_c` with support
/// `>= min_support`), each with the p-value of its own class. Membership in the family
/// depends on the tags alone, not on which predictions are correct, and one family for all
/// classes keeps false discoveries from adding up across classes. Costs one walk of the
/// lattice (skipped when there are no modes). Returns the family's size per class id.
///
/// ```
/// use std::sync::atomic::AtomicBool;
/// use prime_core::{attach_q_values, search, SearchParams, TagIndex};
/// let indptr: Vec<u64> = (0..=10).map(|i: u64| i.min(4)).collect();
/// let correct: Vec<bool> = (0..10).map(|i| i >= 4).collect();
/// let index = TagIndex::from_csr(&indptr, &[0; 4], &[0; 10], &correct, 1, 1, 1).unwrap();
/// let params = SearchParams { min_support: 3, ..SearchParams::default() };
/// let cancel = AtomicBool::new(false);
/// let mut out = search(&index, &params, &cancel).unwrap();
/// let family = attach_q_values(&index, &params, &mut out.modes, &cancel).unwrap();
/// assert_eq!(family, vec![1]);
/// assert_eq!(out.modes[0].q_value, Some(out.modes[0].p_value)); // one hypothesis
/// ```
pub fn attach_q_values(
    index: &TagIndex,
    params: &SearchParams,
    modes: &mut [FailureMode],
    cancel: &AtomicBool,
) -> Result<Vec<u64>> {
    attach_q_values_in(index, params, modes, cancel, EXACT_CLASS_MAX)
}

/// [`attach_q_values`], the classes of at most `exact_class_max` samples counting every set
/// of the family exactly (see [`EXACT_CLASS_MAX`]; the tests choose it, to reach both ways).
pub(crate) fn attach_q_values_in(
    index: &TagIndex,
    params: &SearchParams,
    modes: &mut [FailureMode],
    cancel: &AtomicBool,
    exact_class_max: u32,
) -> Result<Vec<u64>> {
    params.validate()?;
    if modes.is_empty() {
        return Ok(vec![0u64; index.n_classes()]);
    }
    let parts = run(
        index,
        &params.lattice(),
        &Goal::Family(exact_class_max),
        cancel,
    )?;
    Ok(attach_from_family(index, params, parts, modes, false, cancel)?.0)
}

/// The search and its q-values in one walk of each class's lattice: the same as [`search`]
/// followed by [`attach_q_values`], bit for bit, and the same family sizes, but the walk that
/// finds the modes also counts every frequent set's `(support, n_correct)` (it is not pruned
/// by error counts, so it visits the whole family once), instead of a second walk after it.
///
/// ```
/// use std::sync::atomic::AtomicBool;
/// use prime_core::{attach_q_values, search, search_with_q_values, SearchParams, TagIndex};
/// let indptr: Vec<u64> = (0..=10).map(|i: u64| i.min(4)).collect();
/// let correct: Vec<bool> = (0..10).map(|i| i >= 4).collect();
/// let index = TagIndex::from_csr(&indptr, &[0; 4], &[0; 10], &correct, 1, 1, 1).unwrap();
/// let params = SearchParams { min_support: 3, ..SearchParams::default() };
/// let cancel = AtomicBool::new(false);
/// let (one_walk, family) = search_with_q_values(&index, &params, &cancel).unwrap();
/// let mut two_walks = search(&index, &params, &cancel).unwrap();
/// assert_eq!(attach_q_values(&index, &params, &mut two_walks.modes, &cancel).unwrap(), family);
/// assert_eq!(one_walk, two_walks);
/// ```
pub fn search_with_q_values(
    index: &TagIndex,
    params: &SearchParams,
    cancel: &AtomicBool,
) -> Result<(SearchOutput, Vec<u64>)> {
    search_with_q_values_in(index, params, cancel, EXACT_CLASS_MAX)
}

/// [`search_with_q_values`], the classes of at most `exact_class_max` samples counting every
/// set of the family exactly (see [`EXACT_CLASS_MAX`]; the tests choose it, to reach both
/// ways).
pub(crate) fn search_with_q_values_in(
    index: &TagIndex,
    params: &SearchParams,
    cancel: &AtomicBool,
    exact_class_max: u32,
) -> Result<(SearchOutput, Vec<u64>)> {
    params.validate()?;
    let goal = Goal::ModesAndFamily(params, exact_class_max);
    let mut parts = run(index, &params.lattice(), &goal, cancel)?;
    let mut sets_tested = vec![0u64; index.n_classes()];
    let mut modes = Vec::new();
    for part in &mut parts {
        sets_tested[part.class as usize] += part.n_tested;
        modes.append(&mut part.modes);
    }
    // The modes' p-values come with the family's, and they are sorted there too (see
    // `attach_from_family`).
    let (family_size, order) = attach_from_family(index, params, parts, &mut modes, true, cancel)?;
    if let Some(order) = order {
        apply_order(&mut modes, &order);
    }
    Ok((SearchOutput { modes, sets_tested }, family_size))
}

/// Fills in the modes' q-values from the parts' family histograms (every frequent set of
/// every class walked), and their p-values where they are NaN (each mode's pair is one of
/// the family's, whose p-values are computed anyway); returns the family's size per class id
/// (all zero without modes) and, if `sort`, the modes' positions in [`sort_modes`]'s order.
fn attach_from_family(
    index: &TagIndex,
    params: &SearchParams,
    parts: Vec<Part>,
    modes: &mut [FailureMode],
    sort: bool,
    cancel: &AtomicBool,
) -> Result<(Vec<u64>, Option<Vec<u32>>)> {
    if modes.is_empty() {
        return Ok((vec![0u64; index.n_classes()], None));
    }
    // Sets at or above their class's accuracy were only counted, per class.
    let mut counted_high = vec![0u64; index.n_classes()];
    for part in &parts {
        counted_high[part.class as usize] += part.high;
    }
    let (mut family, high, family_size, by_class) = histograms(index, parts, &counted_high, false);
    modes
        .par_iter_mut()
        // A few hundred modes take less time than waking another thread.
        .with_min_len(1024)
        .filter(|m| m.p_value.is_nan())
        .for_each(|m| {
            let key = pack(Counts {
                support: m.support,
                errors: m.support - m.n_correct,
            });
            m.p_value = by_class
                .binary_search_by_key(&m.class, |(class, _, _)| *class)
                .ok()
                .and_then(|c| {
                    let (_, counts, p_values) = &by_class[c];
                    let at = counts.binary_search_by_key(&key, |&(k, _)| k).ok()?;
                    Some(p_values[at])
                })
                // A pair only counted as high: the same function, the same bits.
                .unwrap_or_else(|| {
                    binomial_cdf(m.n_correct.into(), m.support.into(), m.class_accuracy)
                });
        });
    let query: Vec<f64> = modes.iter().map(|m| m.p_value).collect();
    // The q-values' serial steps leave a thread free to find the modes' order meanwhile.
    let (q, order) = rayon::join(
        || match bh_with_high_block(&mut family, high, &query) {
            Some(q) => Ok(q),
            None => {
                // Rare: a mode's q-value is above HIGH_P, so every p-value counts. A class
                // with no set only counted (every small one, see EXACT_CLASS_MAX) has every
                // pair and p-value at hand; the others' sets are walked again, this time
                // with their counts.
                let counted = |class: u32| counted_high[class as usize] > 0;
                let mut whole: Vec<(f64, u64)> = by_class
                    .iter()
                    .filter(|(class, _, _)| !counted(*class))
                    .flat_map(|(_, counts, p_values)| {
                        p_values
                            .iter()
                            .zip(counts)
                            .map(|(&p, &(_, count))| (p, count))
                    })
                    .collect();
                let again: Vec<u32> = (0..index.n_classes() as u32)
                    .filter(|&c| counted(c))
                    .collect();
                if !again.is_empty() {
                    let lattice = LatticeParams {
                        classes: Some(again),
                        ..params.lattice()
                    };
                    let parts = run(index, &lattice, &Goal::FamilyAll, cancel)?;
                    let zero = vec![0u64; index.n_classes()];
                    whole.extend(histograms(index, parts, &zero, true).0);
                }
                Ok(bh_q_values_of(&mut whole, &query))
            }
        },
        || sort.then(|| mode_order(modes)),
    );
    for (m, q) in modes.iter_mut().zip(q?) {
        m.q_value = Some(q);
    }
    Ok((family_size, order))
}

/// The family's `(p, count)` pairs from the parts' histograms, and how many more hypotheses
/// are only known to have a p-value of at least [`HIGH_P`] (`counted_high` per class, plus the
/// pairs found so unless `all`), the family's size per class, and per class (ascending) its
/// distinct packed pairs (ascending, with their counts) and their p-values.
#[allow(clippy::type_complexity)]
fn histograms(
    index: &TagIndex,
    parts: Vec<Part>,
    counted_high: &[u64],
    all: bool,
) -> (
    Vec<(f64, u64)>,
    u64,
    Vec<u64>,
    Vec<(u32, Vec<(u64, u64)>, Vec<f64>)>,
) {
    let mut family_size = counted_high.to_vec();
    let accuracy = |class: u32| {
        let ci = &index.classes[class as usize];
        let (c, n_c) = (u64::from(ci.n_correct()), u64::from(ci.n_samples()));
        c as f64 / n_c as f64
    };
    let by_class = merge_by_class_then(parts, |class, keys| cdfs_of_keys(keys, accuracy(class)));
    // Each distinct (support, n_correct) once, with its multiplicity: the p-value only
    // depends on them (and on the class), so this is the family of every set's p-value.
    // Most of them have a p-value of at least [`HIGH_TARGET`]: the walk only counted those
    // (`counted_high`), into one block above every exact p-value (see
    // `bh_with_high_block`), to be computed only if a mode's q-value turns out to need them.
    let mut family = Vec::new();
    let mut high: u64 = counted_high.iter().sum();
    let mut out = Vec::with_capacity(by_class.len());
    for (class, counts, p_values) in by_class {
        family_size[class as usize] += counts.iter().map(|&(_, count)| count).sum::<u64>();
        for (&(_, count), &p) in counts.iter().zip(&p_values) {
            if all || p < HIGH_P {
                family.push((p, count));
            } else {
                high += count;
            }
        }
        out.push((class, counts, p_values));
    }
    (family, high, family_size, out)
}

/// The walk keeps the exact counts of a family's set only where its p-value may be below
/// this; the others are only counted (see [`ClassPlan::high_correct`]). A q-value above it
/// (rare) needs a second walk. 0.95 rather than 1/2 (the median: sets at or above their
/// class's accuracy) keeps the second walk away from q-values up to 0.95 for about 30% more
/// exact pairs on dense data.
const HIGH_TARGET: f64 = 0.95;

/// Classes of at most this many samples count every set of the q-values' family with its
/// counts, none only as high (see [`ClassPlan::high_correct`]): their walks are short, and a
/// search whose q-values reach above [`HIGH_P`] (weak modes, which small classes make
/// likely: 29 of 568 on scikit-learn's digits, 180 images a class) then walks none of them
/// again. Counting every set costs a class 10-30% more of its family's walk.
pub(crate) const EXACT_CLASS_MAX: u32 = 1024;

/// Below every p-value left out of the exact family: a p-value of at least
/// [`HIGH_TARGET`], computed by the CDF or by the quantile walk of
/// [`binomial_quantiles`], is at least this (their relative errors are far below 1e-6).
const HIGH_P: f64 = HIGH_TARGET * (1.0 - 1e-6);

/// Benjamini–Hochberg q-values of `query` over `family` (exact `(p, count)` pairs, every
/// p below [`HIGH_P`]) plus `high` more hypotheses whose p-values are all at least
/// [`HIGH_P`] but not known. Each of those adds a term `p m / rank >= p >= HIGH_P` to the
/// running minimum of the q-values below it, so a q-value computed without them (as one
/// block of p = 1 on top, which keeps every rank below it exact) is the true one whenever it
/// is at most `HIGH_P`; otherwise (or if a queried p-value is not below `HIGH_P`) returns
/// `None` and the caller computes the whole family.
fn bh_with_high_block(family: &mut Vec<(f64, u64)>, high: u64, query: &[f64]) -> Option<Vec<f64>> {
    if query.iter().any(|&p| p >= HIGH_P) {
        return None;
    }
    if high > 0 {
        family.push((1.0, high));
    }
    let q = bh_q_values_of(family, query);
    q.iter().all(|&q| q <= HIGH_P).then_some(q)
}

/// Each class's family histogram, its parts' maps and pairs merged (classes in parallel),
/// by class: distinct packed keys (see [`pack`]) in ascending order, with their counts.
fn merge_by_class(parts: Vec<Part>) -> Vec<(u32, Pairs)> {
    merge_by_class_then(parts, |_, _| ())
        .into_iter()
        .map(|(class, merged, ())| (class, merged))
        .collect()
}

/// `items` (sorted by class) in runs of one class each, with the class.
fn by_class<T>(items: Vec<T>, class: impl Fn(&T) -> u32) -> Vec<(u32, Vec<T>)> {
    let mut grouped: Vec<(u32, Vec<T>)> = Vec::new();
    for item in items {
        let c = class(&item);
        match grouped.last_mut() {
            Some((last, group)) if *last == c => group.push(item),
            _ => grouped.push((c, vec![item])),
        }
    }
    grouped
}

/// Distinct packed pairs (see [`pack`]), ascending, with how many sets have each.
type Pairs = Vec<(u64, u64)>;

/// [`merge_by_class`], each class's merged pairs then given to `then` (with the class) in
/// the same task: a class merged early goes on to `then` (whose parallel work the other
/// threads can share) while the others are still merging.
fn merge_by_class_then<R: Send>(
    parts: Vec<Part>,
    then: impl Fn(u32, &[(u64, u64)]) -> R + Sync,
) -> Vec<(u32, Pairs, R)> {
    // The parts come sorted by class.
    by_class(parts, |part| part.class)
        .into_par_iter()
        .map(|(class, group)| {
            // Sorted, then equal keys summed: the parts hold about 1.7 entries per distinct
            // key on chess, and a sort of them all costs less than a hash map's inserts
            // (random accesses into a map of megabytes), and gives the order the p-values
            // want anyway.
            let most: usize = group.iter().map(|p| p.family.len() + p.pairs.len()).sum();
            let mut merged: Vec<(u64, u64)> = Vec::with_capacity(most);
            for part in group {
                merged.extend(part.family);
                merged.extend(part.pairs);
            }
            // By `support` then `n_correct` (each below 2^bits): the packed key's order.
            let top = merged.iter().map(|&(key, _)| key >> 32).max().unwrap_or(0);
            let bits = u64::BITS - top.leading_zeros();
            radix_sort_by(&mut merged, 2 * bits, |&(key, _)| {
                (key >> 32) << bits | (key & 0xFFFF_FFFF)
            });
            merged.dedup_by(|later, kept| {
                let same = later.0 == kept.0;
                if same {
                    kept.1 += later.1;
                }
                same
            });
            let out = then(class, &merged);
            (class, merged, out)
        })
        .collect()
}

/// The family behind the q-values, per class: for every searched class (ascending ids), the
/// distinct p-values of its frequent sets (every tag set of at most `max_tags` tags of `T_c`
/// with support `>= min_support`, tested against the class's accuracy) with how many sets
/// have each, in ascending order. Concatenated over classes, this is the family
/// [`attach_q_values`] adjusts over, so a caller that searches classes apart (on several
/// machines) can gather the families and compute the same q-values once. Classes without a
/// frequent set are left out.
///
/// ```
/// use std::sync::atomic::AtomicBool;
/// use prime_core::{q_value_family, LatticeParams, TagIndex};
/// let indptr: Vec<u64> = (0..=10).map(|i: u64| i.min(4)).collect();
/// let correct: Vec<bool> = (0..10).map(|i| i >= 4).collect();
/// let index = TagIndex::from_csr(&indptr, &[0; 4], &[0; 10], &correct, 1, 1, 1).unwrap();
/// let params = LatticeParams { max_tags: 4, min_support: 3, min_tag_count: None, classes: None };
/// let family = q_value_family(&index, &params, &AtomicBool::new(false)).unwrap();
/// assert_eq!(family.len(), 1);
/// assert_eq!((family[0].0, family[0].1.len(), family[0].1[0].1), (0, 1, 1));
/// ```
#[allow(clippy::type_complexity)]
pub fn q_value_family(
    index: &TagIndex,
    params: &LatticeParams,
    cancel: &AtomicBool,
) -> Result<Vec<(u32, Vec<(f64, u64)>)>> {
    params.validate()?;
    let parts = run(index, params, &Goal::FamilyAll, cancel)?;
    let mut families: Vec<(u32, Vec<(f64, u64)>)> = merge_by_class(parts)
        .into_par_iter()
        .map(|(class, keys)| {
            let ci = &index.classes[class as usize];
            let a_c = f64::from(ci.n_correct()) / f64::from(ci.n_samples());
            let p_values = cdfs_of_keys(&keys, a_c);
            let mut family: Vec<(f64, u64)> = p_values
                .into_iter()
                .zip(keys)
                .map(|(p, (_, count))| (p, count))
                .collect();
            // Distinct (n, k) pairs can share a p-value: one entry per value.
            family.sort_by(|a, b| a.0.total_cmp(&b.0));
            family.dedup_by(|b, a| {
                let same = a.0.total_cmp(&b.0).is_eq();
                if same {
                    a.1 += b.1;
                }
                same
            });
            (class, family)
        })
        .filter(|(_, family)| !family.is_empty())
        .collect();
    families.sort_by_key(|(class, _)| *class);
    Ok(families)
}

/// Every frequent tag set, in columns: set `i` is class `class[i]` with tags
/// `tags[offsets[i]..offsets[i + 1]]` (global ids, ascending). [`frequent_sets`] returns them
/// sorted by class, then size, then tags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrequentSets {
    /// Class id of each set.
    pub class: Vec<u32>,
    /// Start of each set in `tags`, plus the end.
    pub offsets: Vec<usize>,
    /// Global tag ids of all sets, concatenated.
    pub tags: Vec<u32>,
    /// Support of each set.
    pub support: Vec<u32>,
    /// Correct predictions of each set.
    pub n_correct: Vec<u32>,
}

impl Default for FrequentSets {
    fn default() -> Self {
        FrequentSets {
            class: Vec::new(),
            offsets: vec![0],
            tags: Vec::new(),
            support: Vec::new(),
            n_correct: Vec::new(),
        }
    }
}

impl FrequentSets {
    /// Number of sets.
    pub fn len(&self) -> usize {
        self.class.len()
    }

    /// Whether there are no sets.
    pub fn is_empty(&self) -> bool {
        self.class.is_empty()
    }

    fn push(&mut self, class: u32, tags: impl IntoIterator<Item = u32>, s: Counts) {
        let start = self.tags.len();
        self.tags.extend(tags);
        self.tags[start..].sort_unstable();
        self.offsets.push(self.tags.len());
        self.class.push(class);
        self.support.push(s.support);
        self.n_correct.push(s.support - s.errors);
    }

    fn set(&self, i: usize) -> &[u32] {
        &self.tags[self.offsets[i]..self.offsets[i + 1]]
    }

    /// The same sets ordered by class, then size, then tags (lexicographically by id).
    fn sorted(self) -> FrequentSets {
        let n = self.len();
        // Bucket by (class, size), then sort each bucket by tags in parallel.
        let mut keys: Vec<(u32, usize, u32)> = (0..n)
            .map(|i| {
                (
                    self.class[i],
                    self.offsets[i + 1] - self.offsets[i],
                    i as u32,
                )
            })
            .collect();
        keys.par_sort_unstable();
        let mut start = 0;
        let mut buckets = Vec::new();
        while start < n {
            let (class, size, _) = keys[start];
            let end = start + keys[start..].partition_point(|&(c, s, _)| (c, s) == (class, size));
            buckets.push(start..end);
            start = end;
        }
        let mut order: Vec<u32> = keys.into_iter().map(|(_, _, i)| i).collect();
        let mut rest: &mut [u32] = &mut order;
        let mut slices = Vec::with_capacity(buckets.len());
        for b in &buckets {
            let (head, tail) = rest.split_at_mut(b.len());
            slices.push(head);
            rest = tail;
        }
        slices.into_par_iter().for_each(|s| {
            s.sort_unstable_by(|&a, &b| self.set(a as usize).cmp(self.set(b as usize)))
        });
        let mut out = FrequentSets::default();
        out.class.reserve(n);
        out.support.reserve(n);
        out.n_correct.reserve(n);
        out.offsets.reserve(n);
        out.tags.reserve(self.tags.len());
        for &i in &order {
            let i = i as usize;
            out.class.push(self.class[i]);
            out.tags.extend_from_slice(self.set(i));
            out.offsets.push(out.tags.len());
            out.support.push(self.support[i]);
            out.n_correct.push(self.n_correct[i]);
        }
        out
    }

    fn append(&mut self, other: FrequentSets) {
        let base = self.tags.len();
        self.class.extend(other.class);
        self.offsets
            .extend(other.offsets[1..].iter().map(|o| o + base));
        self.tags.extend(other.tags);
        self.support.extend(other.support);
        self.n_correct.extend(other.n_correct);
    }
}

/// Runs `f` on a rayon pool of `threads` workers (`None`: one per core).
///
/// Pools are kept from call to call (the few last thread counts asked for), so that a call
/// does not pay for starting threads and for their first, cold memory. A pool belongs to the
/// process that made it: a forked child, which has none of its parent's threads, makes its
/// own.
pub fn with_threads<R: Send>(threads: Option<usize>, f: impl FnOnce() -> R + Send) -> Result<R> {
    Ok(pool(threads)?.install(f))
}

/// Runs `work` on the pool of `threads` workers (as [`with_threads`]) while the calling
/// thread runs `meanwhile`, and returns both results once both are done. `meanwhile` should
/// return when `work` has (`work` can tell it, by a channel say): this is how a caller watches
/// long work (for Ctrl-C) without starting a thread of its own. A panic in `work` comes back
/// as the first result's `Err`, once `meanwhile` has returned.
///
/// ```
/// use std::sync::mpsc;
/// let (tx, rx) = mpsc::channel();
/// let (sum, told) = prime_core::with_threads_meanwhile(
///     Some(2),
///     move || {
///         let sum: u64 = (1..=100).sum();
///         tx.send(()).unwrap();
///         sum
///     },
///     || rx.recv().is_ok(),
/// )
/// .unwrap();
/// assert_eq!((sum.unwrap(), told), (5050, true));
/// ```
pub fn with_threads_meanwhile<R: Send, M>(
    threads: Option<usize>,
    work: impl FnOnce() -> R + Send,
    meanwhile: impl FnOnce() -> M,
) -> Result<(std::thread::Result<R>, M)> {
    let pool = pool(threads)?;
    let mut out = None;
    let m = pool.in_place_scope(|scope| {
        let out = &mut out;
        // A spawn wakes a worker, where a thread of the caller's own would have to start.
        scope.spawn(move |_| {
            *out = Some(std::panic::catch_unwind(std::panic::AssertUnwindSafe(work)));
        });
        meanwhile()
    });
    Ok((out.expect("the scope waits for its work"), m))
}

/// Thread pools by thread count, with the process they were made in.
type Pools = (u32, Vec<(usize, Arc<rayon::ThreadPool>)>);

/// The thread count rayon would choose: `RAYON_NUM_THREADS`, else one per core.
fn default_threads() -> usize {
    std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n: &usize| n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// How many thread counts keep their pool.
const KEPT_POOLS: usize = 4;

fn pool(threads: Option<usize>) -> Result<Arc<rayon::ThreadPool>> {
    static POOLS: Mutex<Option<Pools>> = Mutex::new(None);
    // `None` and its count share a pool.
    let threads = threads.filter(|&n| n > 0).unwrap_or_else(default_threads);
    let build = || {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .map(Arc::new)
            .map_err(|e| PrimeError::ThreadPool(e.to_string()))
    };
    // Busy (another thread is here, or a fork caught one here): a pool for this call only.
    let Ok(mut pools) = POOLS.try_lock() else {
        return build();
    };
    let pid = std::process::id();
    if pools.as_ref().is_some_and(|(owner, _)| *owner != pid) {
        // Made before a fork: their threads are not in this process, so they are left
        // alone (dropping them would wait on threads that do not exist).
        std::mem::forget(pools.take());
    }
    let (_, kept) = pools.get_or_insert_with(|| (pid, Vec::new()));
    if let Some(i) = kept.iter().position(|(n, _)| *n == threads) {
        let entry = kept.remove(i);
        let pool = Arc::clone(&entry.1);
        kept.push(entry);
        return Ok(pool);
    }
    let pool = build()?;
    if kept.len() == KEPT_POOLS {
        kept.remove(0);
    }
    kept.push((threads, Arc::clone(&pool)));
    Ok(pool)
}

/// Finds every failure mode (see [`SearchParams`]) of the selected classes.
///
/// Runs on the current rayon pool (wrap in [`with_threads`] to choose the thread count).
/// Raise `cancel` from another thread to stop early with [`PrimeError::Cancelled`].
///
/// ```
/// use std::sync::atomic::AtomicBool;
/// use prime_core::{search, SearchParams, TagIndex};
/// // Class 0: 10 samples; tag 0 on samples 0..4, which are all wrong; the rest are right.
/// let tags: Vec<u32> = (0..4).map(|_| 0).collect();
/// let indptr: Vec<u64> = (0..=10).map(|i: u64| i.min(4)).collect();
/// let correct: Vec<bool> = (0..10).map(|i| i >= 4).collect();
/// let index = TagIndex::from_csr(&indptr, &tags, &[0; 10], &correct, 1, 1, 1).unwrap();
/// let params = SearchParams { min_support: 3, ..SearchParams::default() };
/// let out = search(&index, &params, &AtomicBool::new(false)).unwrap();
/// assert_eq!(out.modes.len(), 1);
/// assert_eq!((out.modes[0].tags.clone(), out.modes[0].support), (vec![0], 4));
/// ```
pub fn search(
    index: &TagIndex,
    params: &SearchParams,
    cancel: &AtomicBool,
) -> Result<SearchOutput> {
    params.validate()?;
    let goal = Goal::Modes(params);
    let run = run(index, &params.lattice(), &goal, cancel)?;
    let mut sets_tested = vec![0u64; index.n_classes()];
    let mut modes = Vec::new();
    for part in run {
        sets_tested[part.class as usize] += part.n_tested;
        modes.extend(part.modes);
    }
    attach_p_values(&mut modes);
    sort_modes(&mut modes);
    Ok(SearchOutput { modes, sets_tested })
}

/// The documented order of modes: class, drop (largest first), then tag ids.
pub(crate) fn sort_modes(modes: &mut Vec<FailureMode>) {
    let order = mode_order(modes);
    apply_order(modes, &order);
}

/// The positions of `modes` in [`sort_modes`]'s order: the keys apart, so that a sort of
/// tens of thousands of modes neither moves them (about 100 bytes each) nor reads their
/// drops and classes through them.
fn mode_order(modes: &[FailureMode]) -> Vec<u32> {
    let mut keys: Vec<(u32, u64, u32)> = modes
        .iter()
        .enumerate()
        .map(|(i, m)| (m.class, !order_key(m.drop), i as u32))
        .collect();
    keys.par_sort_unstable_by(|a, b| {
        (a.0, a.1)
            .cmp(&(b.0, b.1))
            .then_with(|| modes[a.2 as usize].tags.cmp(&modes[b.2 as usize].tags))
            .then(a.2.cmp(&b.2))
    });
    keys.into_iter().map(|(_, _, i)| i).collect()
}

/// Puts `modes` in `order` (positions, each once), moving each mode once.
fn apply_order(modes: &mut Vec<FailureMode>, order: &[u32]) {
    let mut taken: Vec<Option<FailureMode>> = modes.drain(..).map(Some).collect();
    modes.extend(
        order
            .iter()
            .map(|&i| taken[i as usize].take().expect("each mode once")),
    );
}

/// The plans of the classes a mode search covers.
pub(crate) fn class_plans<'a>(
    index: &'a TagIndex,
    params: &'a SearchParams,
) -> Result<Vec<ClassPlan<'a>>> {
    plans(index, &params.lattice(), &Goal::Modes(params))
}

fn plans<'a>(
    index: &'a TagIndex,
    lattice: &LatticeParams,
    goal: &Goal,
) -> Result<Vec<ClassPlan<'a>>> {
    let classes: Vec<u32> = match &lattice.classes {
        Some(cs) => {
            let mut cs = cs.clone();
            cs.sort_unstable();
            cs.dedup();
            for &c in &cs {
                index.class(c)?;
            }
            cs
        }
        None => (0..index.n_classes() as u32).collect(),
    };
    let threshold_count = lattice.tag_threshold();
    Ok(classes
        .par_iter()
        .with_max_len(1)
        .filter_map(|&c| plan_class(index, c, lattice, threshold_count, goal))
        .collect())
}

/// Lists every tag set with `1 <= |S| <= max_tags` and support `>= min_support`, with its
/// support and correct count (the lattice PRIME searches, for analysis).
pub fn frequent_sets(
    index: &TagIndex,
    params: &LatticeParams,
    cancel: &AtomicBool,
) -> Result<FrequentSets> {
    params.validate()?;
    lattice_of(index, params, cancel, true)
}

/// [`frequent_sets`], with the sets kept as [`KeyedSet`]s where `keyed` and they fit.
fn lattice_of(
    index: &TagIndex,
    params: &LatticeParams,
    cancel: &AtomicBool,
    keyed: bool,
) -> Result<FrequentSets> {
    let bits = key_bits(index.n_tags(), params.max_tags).filter(|_| keyed);
    let run = run(index, params, &Goal::Lattice(bits), cancel)?;
    if let Some(bits) = bits {
        return Ok(from_keyed(run, bits));
    }
    let mut out = FrequentSets::default();
    for part in run {
        out.append(part.lattice);
    }
    Ok(out.sorted())
}

/// Bits per tag id where `max_tags` ids below `n_tags` fit in one `u64`.
fn key_bits(n_tags: u32, max_tags: usize) -> Option<u32> {
    let bits = (u32::BITS - n_tags.saturating_sub(1).leading_zeros()).max(1);
    (bits as usize * max_tags <= 64).then_some(bits)
}

/// The ascending tag ids `set` packed into one integer, the first in the highest bits: sets
/// of one size compare as their keys do.
#[inline]
fn pack_key(set: &[u32], bits: u32) -> u64 {
    set.iter().fold(0u64, |k, &t| (k << bits) | u64::from(t))
}

/// [`frequent_sets`]'s columns from the parts' [`KeyedSet`]s: each `(class, size)` bucket
/// sorted by key (a radix sort: distinct sets have distinct keys, so the order is unique
/// and the same whatever the parts), then written out with the tags decoded from the keys,
/// the buckets in parallel.
fn from_keyed(parts: Vec<Part>, bits: u32) -> FrequentSets {
    // (class, size) -> the parts' vectors of that bucket.
    let mut by_bucket: std::collections::BTreeMap<(u32, usize), Vec<Vec<KeyedSet>>> =
        std::collections::BTreeMap::new();
    for part in parts {
        for (k, sets) in part.keyed.into_iter().enumerate() {
            if !sets.is_empty() {
                by_bucket.entry((part.class, k + 1)).or_default().push(sets);
            }
        }
    }
    let mut buckets: Vec<((u32, usize), Vec<KeyedSet>)> = by_bucket
        .into_iter()
        .map(|(b, mut vs)| {
            let all = if vs.len() == 1 {
                vs.pop().unwrap_or_default()
            } else {
                let mut all = Vec::with_capacity(vs.iter().map(Vec::len).sum());
                for v in vs {
                    all.extend_from_slice(&v);
                }
                all
            };
            (b, all)
        })
        .collect();
    buckets
        .par_iter_mut()
        .with_max_len(1)
        .for_each(|((_, size), sets)| radix_sort_by(sets, bits * *size as u32, |s| s.key));
    let n: usize = buckets.iter().map(|(_, s)| s.len()).sum();
    let n_tags: usize = buckets.iter().map(|((_, k), s)| k * s.len()).sum();
    let mut out = FrequentSets {
        class: vec![0; n],
        offsets: vec![0; n + 1],
        tags: vec![0; n_tags],
        support: vec![0; n],
        n_correct: vec![0; n],
    };
    // Each bucket's slices of the columns.
    let mut jobs = Vec::with_capacity(buckets.len());
    let (mut class, mut offsets, mut tags, mut support, mut n_correct) = (
        &mut out.class[..],
        &mut out.offsets[1..],
        &mut out.tags[..],
        &mut out.support[..],
        &mut out.n_correct[..],
    );
    let mut tag_start = 0;
    for ((c, k), sets) in &buckets {
        let m = sets.len();
        let (c0, c1) = std::mem::take(&mut class).split_at_mut(m);
        let (o0, o1) = std::mem::take(&mut offsets).split_at_mut(m);
        let (t0, t1) = std::mem::take(&mut tags).split_at_mut(m * k);
        let (s0, s1) = std::mem::take(&mut support).split_at_mut(m);
        let (n0, n1) = std::mem::take(&mut n_correct).split_at_mut(m);
        jobs.push((*c, *k, sets, tag_start, c0, o0, t0, s0, n0));
        (class, offsets, tags, support, n_correct) = (c1, o1, t1, s1, n1);
        tag_start += m * k;
    }
    let mask = (1u64 << bits) - 1;
    jobs.into_par_iter().with_max_len(1).for_each(
        |(c, k, sets, tag_start, class, offsets, tags, support, n_correct)| {
            class.fill(c);
            for (i, s) in sets.iter().enumerate() {
                for (j, t) in tags[i * k..(i + 1) * k].iter_mut().enumerate() {
                    *t = ((s.key >> (bits as usize * (k - 1 - j))) & mask) as u32;
                }
                offsets[i] = tag_start + (i + 1) * k;
                support[i] = s.support;
                n_correct[i] = s.n_correct;
            }
        },
    );
    out
}

/// Sorts `items` by `key` of `key_bits` bits, stably (LSD radix, 11 bits a pass; a pass
/// where every key has the same digit is skipped): a few linear passes where a comparison
/// sort of a few hundred thousand items would take several times as long.
pub(crate) fn radix_sort_by<T: Copy>(items: &mut Vec<T>, key_bits: u32, key: impl Fn(&T) -> u64) {
    if items.len() <= 64 {
        items.sort_by_key(&key);
        return;
    }
    // Passes of at most 11 bits, or two of up to 14 where that saves a pass.
    let passes = key_bits.div_ceil(11).max(1);
    let passes = if passes == 3 && key_bits <= 28 {
        2
    } else {
        passes
    };
    let digit_bits = key_bits.div_ceil(passes).max(1);
    let mut other: Vec<T> = Vec::with_capacity(items.len());
    let mut counts = vec![0usize; 1 << digit_bits];
    let mut shift = 0;
    while shift < key_bits {
        let digit = |item: &T| ((key(item) >> shift) & ((1 << digit_bits) - 1)) as usize;
        counts.fill(0);
        for item in items.iter() {
            counts[digit(item)] += 1;
        }
        if counts.contains(&items.len()) {
            shift += digit_bits;
            continue;
        }
        let mut sum = 0;
        for n in counts.iter_mut() {
            let here = *n;
            *n = sum;
            sum += here;
        }
        // Every slot is written below before `other` is read.
        if other.len() != items.len() {
            other.clear();
            other.extend_from_slice(items);
        }
        for item in items.iter() {
            let d = digit(item);
            other[counts[d]] = *item;
            counts[d] += 1;
        }
        std::mem::swap(items, &mut other);
        shift += digit_bits;
    }
}

/// One set of [`frequent_sets`]'s walk: its tags packed into one integer (the first,
/// smallest tag in the highest bits, so that for sets of one size the integers sort like the
/// tag lists), and its counts.
#[derive(Clone, Copy)]
struct KeyedSet {
    key: u64,
    support: u32,
    n_correct: u32,
}

enum Goal<'a> {
    Modes(&'a SearchParams),
    /// The modes, and the counts of every frequent set (no pruning by errors); classes of at
    /// most this many samples count every set exactly (see [`EXACT_CLASS_MAX`]).
    ModesAndFamily(&'a SearchParams, u32),
    /// Every frequent set with its counts; kept as [`KeyedSet`]s of these bits per tag
    /// where `Some`.
    Lattice(Option<u32>),
    /// Only the counts of every frequent set (the family of the q-values); sets with a
    /// p-value of at least [`HIGH_TARGET`] are only counted, but in classes of at most this
    /// many samples (see [`EXACT_CLASS_MAX`]).
    Family(u32),
    /// The same, every set with its counts.
    FamilyAll,
}

#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Counts {
    pub(crate) support: u32,
    pub(crate) errors: u32,
}

impl Counts {
    pub(crate) fn accuracy(self) -> f64 {
        f64::from(self.support - self.errors) / f64::from(self.support)
    }
}

impl From<SetStats> for Counts {
    fn from(s: SetStats) -> Self {
        Counts {
            support: s.support,
            errors: s.support - s.n_correct,
        }
    }
}

/// What one class's set-up, or one work item, produced.
#[derive(Default)]
struct Part {
    class: u32,
    /// How many sets were tested.
    n_tested: u64,
    /// How many frequent sets have each packed `(support, n_correct)` (see [`pack`]); kept
    /// only for the q-value family.
    family: FxHashMap<u64, u64>,
    /// The same, as pairs: a work item's map goes back to its worker for the next item.
    pairs: Vec<(u64, u64)>,
    /// Where the class has a [`FamilyTable`]: the worker's counts of its family pairs with a
    /// support in the table's rows, lent to the item (instead of `family`).
    table: Vec<u32>,
    /// The table's shape while lent (both 0 otherwise).
    table_shape: FamilyTable,
    /// How many more frequent sets have a p-value of at least [`HIGH_TARGET`] (only counted,
    /// see [`ClassPlan::high_correct`]).
    high: u64,
    modes: Vec<FailureMode>,
    lattice: FrequentSets,
    /// [`Goal::Lattice`]'s sets where their tags fit in a key, by size (`keyed[k - 1]`: the
    /// sets of `k` tags), in no order.
    keyed: Vec<Vec<KeyedSet>>,
}

impl Part {
    /// Counts `times` sets with counts `c` in cell `cell` of the family table. Cells have 32
    /// bits (twice the supports in the cache of 64-bit ones); a count they cannot hold goes
    /// to the map instead, whose pairs are summed with the table's.
    #[inline(always)]
    fn count_in_table(&mut self, cell: usize, c: Counts, times: u64) {
        let slot = &mut self.table[cell];
        match u32::try_from(times).ok().and_then(|t| slot.checked_add(t)) {
            Some(v) => *slot = v,
            None => *self.family.entry(pack(c)).or_insert(0) += times,
        }
    }
}

/// Everything about one class that every work item of it shares.
pub(crate) struct ClassPlan<'a> {
    pub(crate) class: u32,
    pub(crate) ci: &'a ClassIndex,
    pub(crate) class_accuracy: f64,
    /// `A_c - a`: a set is below it or not a mode.
    pub(crate) threshold: f64,
    /// Fewest wrong predictions any mode (or superset leading to one) can keep: sets with
    /// fewer are not tested (`u32::MAX` where the class can have no mode).
    pub(crate) min_errors: u32,
    /// Sets with fewer errors are pruned with their supersets: `min_errors`, or 0 where
    /// every frequent set is wanted.
    prune_errors: u32,
    /// Where the q-values' family is counted with its high sets only counted: sets whose
    /// errors are known to be below this (from an upper bound) are never tested as modes,
    /// so they need their exact errors only when the bound cannot show them high
    /// (`min_errors` with the mode search, `u32::MAX` for the family alone, 0 elsewhere).
    bound_errors: u32,
    /// Where the q-values' family is counted: for each support `n` up to the class's largest
    /// tag count, the fewest correct predictions at which a set's p-value is at least
    /// [`HIGH_TARGET`] (the binomial's quantile, see [`binomial_quantiles`]): a set at or
    /// above it is only counted in the family.
    high_correct: Vec<u32>,
    /// Where `bound_errors > 0`: [`high_supports`] of the class, by number of errors.
    high_support: Vec<u32>,
    /// The shape of the class's dense family counts, if it has them (see [`FamilyTable`]).
    table: FamilyTable,
    /// Local ids of the tags searched, ascending.
    pub(crate) active: Vec<u32>,
    /// Rank of each local tag in `active`, or `u32::MAX`.
    rank: Vec<u32>,
    /// Errors of each active tag, by rank.
    active_errors: Vec<u32>,
    /// Wrong samples of the class, one bit each.
    wrong: &'a [u64],
    /// Mean number of searched tags per sample (the cost of walking one row).
    row_len: f64,
    /// The class's dense bitsets of every local tag (see `ClassTags::dense`), where the
    /// machine extracts bits fast ([`fast_pext`]) and the class keeps them.
    dense: Option<&'a [u64]>,
    /// Where `dense` is: `later_samples[r]`, the samples of the active tags of rank `r` and
    /// above, summed (for [`Self::tail_incidences`]).
    later_samples: Vec<f64>,
}

impl ClassPlan<'_> {
    /// Counts a frequent set in the q-values' family: only how many when its p-value is at
    /// least [`HIGH_TARGET`] (see [`Self::high_correct`]), its counts otherwise. `times`
    /// such sets.
    #[inline]
    fn count_in_family(&self, part: &mut Part, c: Counts, times: u64) {
        if c.support - c.errors >= self.high_correct[c.support as usize] {
            part.high += times;
        } else if let Some(cell) = part.table_shape.cell(c) {
            part.count_in_table(cell, c, times);
        } else {
            *part.family.entry(pack(c)).or_insert(0) += times;
        }
    }

    /// The smallest support at which every set with at most `errors` wrong predictions has
    /// a p-value of at least [`HIGH_TARGET`], and at least `min_support` (see
    /// [`high_supports`]).
    #[inline(always)]
    fn high_from(&self, errors: u32) -> u32 {
        self.high_support[errors as usize]
    }

    /// About how many (sample, later tag) pairs the rows of item `r`'s samples hold: what
    /// walking them costs, were the tags independent.
    fn tail_incidences(&self, r: usize) -> f64 {
        let n = f64::from(self.ci.data.n_samples);
        f64::from(self.singleton(r).support) * self.later_samples[r + 1] / n
    }

    fn is_wrong(&self, sample: u32) -> bool {
        self.wrong[(sample / 64) as usize] >> (sample % 64) & 1 == 1
    }

    pub(crate) fn singleton(&self, rank: usize) -> Counts {
        Counts {
            support: self.ci.data.counts[self.active[rank] as usize],
            errors: self.active_errors[rank],
        }
    }
}

/// Dense counts of a class's family pairs, for supports `base..base + rows` and errors
/// `0..cols` (row-major): on dense data most of the family's sets fall there, and an
/// increment in a table that stays in the cache is several times cheaper than a hash-map
/// entry. Each worker keeps one per class across its items; they are turned into pairs after
/// the walk. The same pairs as the hash map, so nothing downstream changes.
#[derive(Debug, Clone, Copy, Default)]
struct FamilyTable {
    base: u32,
    rows: u32,
    cols: u32,
}

/// Most cells of one class's table (512 KiB of counts: it stays in the cache).
const TABLE_CELLS: u64 = 1 << 17;
/// Most bytes of all tables of a search, over every worker.
const TABLE_BUDGET: u64 = 32 << 20;

impl FamilyTable {
    /// The largest table of at most [`TABLE_CELLS`] for a class of `n` samples, `wrong` of
    /// them wrong, searched with `min_support`: rows from `min_support` up, columns for every
    /// error count their supports allow; `None` where it would cover too few supports to pay.
    fn shape(n: u32, wrong: u32, min_support: u32) -> Option<FamilyTable> {
        let s = u64::from(min_support.max(1));
        let (n, wrong) = (u64::from(n), u64::from(wrong));
        if n < s {
            return None;
        }
        let cells = |rows: u64| rows * (wrong.min(s + rows - 1) + 1);
        // The most rows (supports s..=n at most) that fit.
        let (mut lo, mut hi) = (0u64, n - s + 1);
        while lo < hi {
            let mid = (lo + hi).div_ceil(2);
            if cells(mid) <= TABLE_CELLS {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        (lo >= 16).then(|| FamilyTable {
            base: s as u32,
            rows: lo as u32,
            cols: (wrong.min(s + lo - 1) + 1) as u32,
        })
    }

    fn len(self) -> usize {
        self.rows as usize * self.cols as usize
    }

    /// The cell of a set's counts, if the table has it.
    #[inline(always)]
    fn cell(self, c: Counts) -> Option<usize> {
        let row = c.support.wrapping_sub(self.base);
        (row < self.rows && c.errors < self.cols)
            .then(|| row as usize * self.cols as usize + c.errors as usize)
    }

    /// The nonzero cells of `tables` (of this shape, one per worker), summed, as packed
    /// pairs with their counts (see [`pack`]).
    fn pairs(self, tables: &[&[u32]]) -> Vec<(u64, u64)> {
        let mut out = Vec::new();
        let cols = self.cols as usize;
        if cols == 0 {
            return out;
        }
        for row in 0..self.rows as usize {
            let support = self.base + row as u32;
            let cells = row * cols..(row + 1) * cols;
            // Most cells are empty: eight at a time, of every table, are skipped with one test.
            for start in cells.clone().step_by(8) {
                let block = start..(start + 8).min(cells.end);
                let any = tables
                    .iter()
                    .fold(0, |any, t| t[block.clone()].iter().fold(any, |a, &n| a | n));
                if any == 0 {
                    continue;
                }
                for cell in block {
                    let count: u64 = tables.iter().map(|t| u64::from(t[cell])).sum();
                    if count > 0 {
                        let errors = (cell - row * cols) as u32;
                        out.push((pack(Counts { support, errors }), count));
                    }
                }
            }
        }
        out
    }
}

fn run(
    index: &TagIndex,
    lattice: &LatticeParams,
    goal: &Goal,
    cancel: &AtomicBool,
) -> Result<Vec<Part>> {
    let mut plans = plans(index, lattice, goal)?;
    if matches!(goal, Goal::ModesAndFamily(..) | Goal::Family(_)) && lattice.max_tags >= 2 {
        // Dense family tables while they fit the budget (one per class and worker, and
        // one for a caller outside the pool), classes in order.
        let copies = rayon::current_num_threads() as u64 + 1;
        let mut left = TABLE_BUDGET;
        for plan in &mut plans {
            let ci = plan.ci;
            let shape = FamilyTable::shape(
                ci.n_samples(),
                ci.n_samples() - ci.n_correct(),
                lattice.min_support,
            );
            if let Some(shape) = shape {
                let bytes = shape.len() as u64 * 4 * copies;
                if bytes <= left {
                    left -= bytes;
                    plan.table = shape;
                }
            }
        }
    }
    let ctx = Ctx {
        max_tags: lattice.max_tags,
        min_support: lattice.min_support,
        key_bits: match goal {
            Goal::Lattice(bits) => *bits,
            _ => None,
        },
        perfect_extensions: perfect_extensions_apply(goal, lattice.max_tags),
        goal,
        cancel,
    };
    // Singletons per class, then one item per (class, first tag).
    let mut parts: Vec<Part> = plans.iter().map(|p| ctx.singletons(p)).collect();
    if lattice.max_tags >= 2 {
        let items: Vec<(usize, usize)> = plans
            .iter()
            .enumerate()
            .flat_map(|(p, plan)| (0..plan.active.len()).map(move |r| (p, r)))
            .collect();
        // One job per item, so that a thread that runs out of work can always take some
        // (rayon's adaptive splitting otherwise hands each thread long runs of items it
        // cannot give up, and one thread may idle for a third of the search); each worker
        // keeps its buffers across items.
        let scratches = PerWorker::<Scratch>::new();
        let item_parts: Vec<Part> = items
            .par_iter()
            .with_max_len(1)
            .map(|&(p, r)| scratches.with(|scratch| ctx.item(&plans[p], r, scratch)))
            .collect();
        parts.extend(item_parts);
        // The workers' family tables, as pairs: each class's tables read together, eight
        // cells of each at a time, and the nonzero cells summed (cheaper than finding the
        // nonzero cells of each table apart), classes in parallel.
        let mut tables: Vec<(u32, FamilyTable, Vec<u32>)> = scratches
            .into_all()
            .into_iter()
            .flat_map(|scratch| scratch.tables)
            .filter(|(_, _, table)| !table.is_empty())
            .collect();
        tables.sort_by_key(|(class, _, _)| *class);
        parts.extend(
            by_class(tables, |(class, _, _)| *class)
                .into_par_iter()
                .map(|(class, group)| {
                    // One class's tables share its shape.
                    let shape = group[0].1;
                    let tables: Vec<&[u32]> = group.iter().map(|(_, _, t)| t.as_slice()).collect();
                    Part {
                        class,
                        pairs: shape.pairs(&tables),
                        ..Part::default()
                    }
                })
                .collect::<Vec<Part>>(),
        );
        // Stable: a class's singletons first, then its items in order.
        parts.sort_by_key(|p| p.class);
    }
    if cancel.load(Ordering::Relaxed) {
        return Err(PrimeError::Cancelled);
    }
    Ok(parts)
}

/// Whether the walk may leave out the sets that hold a perfect extension (see
/// [`Ctx::perfect_extensions`]): everywhere but in the lattice (which lists every set), and in
/// a mode search only where no such set can be a mode: a set `S` that holds a perfect
/// extension `u` of one of its subsets has `A_{S-u} = A_S` (the same samples), so it is minimal
/// only where `b_|S| = 0` (or so small that `A_S + b_|S|` rounds to `A_S`; `b >= EPSILON`
/// rules that out, as accuracies are at most 1).
fn perfect_extensions_apply(goal: &Goal, max_tags: usize) -> bool {
    match goal {
        Goal::Lattice(_) => false,
        Goal::Modes(p) | Goal::ModesAndFamily(p, _) => {
            (2..=max_tags).all(|size| p.necessity_for(size) >= f64::EPSILON)
        }
        Goal::Family(_) | Goal::FamilyAll => true,
    }
}

/// How many sets one set `T` of `size` tags stands for when `k` perfect extensions of it (or
/// of its subsets on its path) were left out of the walk: `T` plus any `j <= max_tags - size`
/// of them, all with `T`'s samples: `sum_j C(k, j)`. Saturates (counts that large are
/// unreachable).
fn copies_of(size: usize, k: u32, max_tags: usize) -> u64 {
    let top = u64::from(k).min(max_tags.saturating_sub(size) as u64);
    let (mut total, mut choose) = (1u64, 1u64);
    for j in 1..=top {
        // C(k, j) = C(k, j - 1) (k - j + 1) / j, exact in integers.
        choose = (u128::from(choose) * u128::from(u64::from(k) - j + 1) / u128::from(j))
            .min(u128::from(u64::MAX)) as u64;
        total = total.saturating_add(choose);
    }
    total
}

/// Buffers kept for each worker thread of the current pool, and one more for a caller
/// outside it; fresh buffers handed out when those are busy are kept too (they may hold
/// results, such as family tables).
struct PerWorker<T>(Vec<Mutex<T>>, Mutex<Vec<T>>);

impl<T: Default> PerWorker<T> {
    fn new() -> Self {
        PerWorker(
            (0..rayon::current_num_threads() + 1)
                .map(|_| Mutex::new(T::default()))
                .collect(),
            Mutex::new(Vec::new()),
        )
    }

    /// Runs `f` with the calling thread's buffers. Were they ever in use (a job waiting on
    /// another job of the same thread), `f` gets fresh ones instead of a deadlock.
    fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        let last = self.0.len() - 1;
        let me = rayon::current_thread_index().map_or(last, |i| i.min(last));
        match self.0[me].try_lock() {
            Ok(mut kept) => f(&mut kept),
            Err(_) => {
                let mut fresh = T::default();
                let out = f(&mut fresh);
                self.1.lock().unwrap_or_else(|e| e.into_inner()).push(fresh);
                out
            }
        }
    }

    /// Every buffer, the workers' and the fresh ones.
    fn into_all(self) -> Vec<T> {
        let fresh = self.1.into_inner().unwrap_or_else(|e| e.into_inner());
        self.0
            .into_iter()
            .map(|kept| kept.into_inner().unwrap_or_else(|e| e.into_inner()))
            .chain(fresh)
            .collect()
    }
}

fn plan_class<'a>(
    index: &'a TagIndex,
    class: u32,
    lattice: &LatticeParams,
    threshold_count: u32,
    goal: &Goal,
) -> Option<ClassPlan<'a>> {
    let ci = &index.classes[class as usize];
    if ci.data.n_samples == 0 {
        return None;
    }
    let class_accuracy = f64::from(ci.n_correct()) / f64::from(ci.data.n_samples);
    let (threshold, min_errors) = match goal {
        Goal::Modes(p) | Goal::ModesAndFamily(p, _) => {
            let threshold = class_accuracy - p.min_drop;
            if threshold < 0.0 {
                // No accuracy is below a negative threshold: no mode, but every frequent set
                // is in the family.
                if matches!(goal, Goal::Modes(_)) {
                    return None;
                }
                (f64::NEG_INFINITY, u32::MAX)
            } else {
                // A mode has n >= s samples and accuracy <= threshold, so at least
                // s * (1 - threshold) errors. Rounded down a little so that floating-point
                // error can never prune a real mode.
                let s = f64::from(lattice.min_support);
                let bound = (s * (1.0 - threshold) - s * 1e-9 - 1e-9).ceil();
                (threshold, bound.max(0.0) as u32)
            }
        }
        Goal::Lattice(_) | Goal::Family(_) | Goal::FamilyAll => (f64::INFINITY, 0),
    };
    let prune_errors = match goal {
        Goal::Modes(_) => min_errors,
        _ => 0,
    };
    let bound_errors = match goal {
        Goal::ModesAndFamily(..) => min_errors,
        Goal::Family(_) => u32::MAX,
        _ => 0,
    };
    let first = ci.data.counts.partition_point(|&n| n < threshold_count);
    let errors = ci.errors();
    let mut active = Vec::new();
    let mut active_errors = Vec::new();
    let mut rank = vec![u32::MAX; ci.data.tags.len()];
    for (local, &tag_errors) in errors.per_tag.iter().enumerate().skip(first) {
        if tag_errors >= prune_errors {
            rank[local] = active.len() as u32;
            active.push(local as u32);
            active_errors.push(tag_errors);
        }
    }
    let active_occurrences: u64 = active
        .iter()
        .map(|&l| u64::from(ci.data.counts[l as usize]))
        .sum();
    let row_len = active_occurrences as f64 / f64::from(ci.data.n_samples);
    // Dense bitsets take one bit per sample and local tag: only where tags are dense enough
    // (on average at least 1 in 64 samples) for that to stay near the index's own size.
    let occurrences: u64 = ci.data.counts.iter().map(|&c| u64::from(c)).sum();
    let dense_enough = occurrences * 64 >= u64::from(ci.data.n_samples) * ci.data.tags.len() as u64;
    let dense = if fast_pext() && lattice.max_tags >= 3 && dense_enough {
        ci.data.dense()
    } else {
        None
    };
    let mut later_samples = Vec::new();
    if dense.is_some() {
        later_samples.resize(active.len() + 1, 0.0);
        for r in (0..active.len()).rev() {
            later_samples[r] = later_samples[r + 1] + f64::from(ci.data.counts[active[r] as usize]);
        }
    }
    // Up to the largest support a set of the class can have, its most frequent tag's.
    let high_correct = match goal {
        Goal::ModesAndFamily(_, exact) | Goal::Family(exact) => {
            let most = ci.data.counts.iter().copied().max().unwrap_or(0);
            Some(if ci.data.n_samples <= *exact {
                // No set is high: every one counted with its counts.
                vec![u32::MAX; most as usize + 1]
            } else {
                binomial_quantiles(most, class_accuracy, HIGH_TARGET)
            })
        }
        _ => None,
    };
    Some(ClassPlan {
        row_len,
        dense,
        later_samples,
        class,
        ci,
        class_accuracy,
        threshold,
        min_errors,
        prune_errors,
        bound_errors,
        high_support: match &high_correct {
            Some(cuts) if bound_errors > 0 => {
                high_supports(cuts, ci.n_samples() - ci.n_correct(), lattice.min_support)
            }
            _ => Vec::new(),
        },
        high_correct: high_correct.unwrap_or_default(),
        table: FamilyTable::default(),
        active,
        rank,
        active_errors,
        wrong: &errors.wrong,
    })
}

/// For each number of errors `e` from 0 to the class's `wrong`: the smallest support `n >=
/// min_support` at which every set with at most `e` errors has a p-value of at least
/// [`HIGH_TARGET`], from the class's quantiles `high_correct` (by support, see
/// [`ClassPlan::high_correct`]): `n - e >= high_correct[n]`; `u32::MAX` where no support is
/// enough. As `n - high_correct[n]` never decreases (a quantile grows by at most one per
/// trial), every larger support is enough too. A table, so that the hot loop does not search.
fn high_supports(high_correct: &[u32], wrong: u32, min_support: u32) -> Vec<u32> {
    let mut out = Vec::with_capacity(wrong as usize + 1);
    let mut n = min_support as usize;
    for e in 0..=wrong {
        while n < high_correct.len() && (n as u64) < u64::from(e) + u64::from(high_correct[n]) {
            n += 1;
        }
        out.push(if n < high_correct.len() {
            n as u32
        } else {
            u32::MAX
        });
    }
    out
}

/// One level of the depth-first search: the extensions of the current prefix.
#[derive(Default)]
struct Level {
    /// Local tag and counts of each extension `prefix + tag`, ascending by tag.
    entries: Vec<(u32, Counts)>,
    /// Their bitsets, `words` each, in the coordinates of level `frame`.
    bits: Vec<u64>,
    words: usize,
    /// The level whose `members` and `wrong` give the meaning of each bit position.
    frame: usize,
    /// When this level is its own frame: the class sample of each bit position, and which
    /// of them are wrong.
    members: Vec<u32>,
    wrong: Vec<u64>,
    /// Local tag -> index in `entries` (`u32::MAX` otherwise), set while the level expands.
    index_of: Vec<u32>,
    /// How many perfect extensions were left out on the path to these entries (see
    /// [`Ctx::perfect_extensions`]): each entry stands for [`copies_of`] sets.
    pe: u32,
    /// Support of the set these entries extend (every entry's samples are among its).
    parent_support: u32,
}

impl Level {
    /// The counts of `set` (local ids; its first tag is this level's item's, the rest are
    /// among its entries) without its tag at position `skip >= 1`, from this level's
    /// bitsets: this level must be its own frame, and expanding (`index_of` set).
    fn counts_without(&self, set: &[u32], skip: usize) -> Counts {
        debug_assert!(skip >= 1 && self.frame == 1);
        let words = self.words;
        let (mut support, mut errors) = (0u32, 0u32);
        for (w, &wrong) in self.wrong[..words].iter().enumerate() {
            let mut x = !0u64;
            for (m, &u) in set.iter().enumerate().skip(1) {
                if m != skip {
                    let k = self.index_of[u as usize] as usize;
                    x &= self.bits[k * words + w];
                }
            }
            support += x.count_ones();
            errors += (x & wrong).count_ones();
        }
        Counts { support, errors }
    }
}

/// Reusable buffers of one worker thread.
#[derive(Default)]
struct Scratch {
    count: Vec<u32>,
    errors: Vec<u32>,
    touched: Vec<u32>,
    slot: Vec<u32>,
    path: Vec<u32>,
    members: Vec<u32>,
    levels: Vec<Level>,
    /// Support of a bitset from each [`CHUNK`] of words on (see [`suffix_counts`]).
    rest: Vec<u32>,
    /// An empty family map, kept for its capacity.
    family: FxHashMap<u64, u64>,
    /// This worker's family table of each class that has one and that it walked, with the
    /// class and the table's shape.
    tables: Vec<(u32, FamilyTable, Vec<u32>)>,
}

impl Scratch {
    fn prepare(&mut self, candidates: usize, local_tags: usize, max_tags: usize) {
        if self.count.len() < candidates {
            self.count.resize(candidates, 0);
            self.errors.resize(candidates, 0);
            self.slot.resize(candidates, u32::MAX);
        }
        if self.levels.len() < max_tags {
            self.levels.resize_with(max_tags, Level::default);
        }
        for level in &mut self.levels {
            if level.index_of.len() < local_tags {
                level.index_of.resize(local_tags, u32::MAX);
            }
        }
    }
}

struct Ctx<'a> {
    max_tags: usize,
    min_support: u32,
    /// Bits per tag where [`Goal::Lattice`]'s sets are kept as [`KeyedSet`]s (every set's
    /// tags fit in one `u64`); `None` where they are kept in [`Part::lattice`].
    key_bits: Option<u32>,
    /// Whether sets that hold a perfect extension are left out of the walk and counted with
    /// the set they extend. A perfect extension of a set `X` is a later sibling `u` whose
    /// child `X + u` has `X`'s support, hence `X`'s samples; then every `T ⊇ X` in `X`'s
    /// subtree has `T + u` with `T`'s samples, so `X`'s subtree is the subtree without `u`,
    /// each set of it standing for itself plus any of the left-out extensions that still fit
    /// in `max_tags` ([`copies_of`]). Such sets only count (as tested sets, and in the
    /// q-values' family): see [`perfect_extensions_apply`].
    perfect_extensions: bool,
    goal: &'a Goal<'a>,
    cancel: &'a AtomicBool,
}

impl Ctx<'_> {
    fn singletons(&self, plan: &ClassPlan) -> Part {
        let mut part = Part {
            class: plan.class,
            ..Part::default()
        };
        let none = Counts::default();
        for r in 0..plan.active.len() {
            let c = plan.singleton(r);
            if c.support >= self.min_support {
                self.evaluate(plan, &mut part, &[], plan.active[r], c, none, none, None);
            }
        }
        part
    }

    fn keeps(&self, plan: &ClassPlan, c: Counts) -> bool {
        c.support >= self.min_support && c.errors >= plan.prune_errors
    }

    /// Counts `copies` more sets with counts `c` that hold a perfect extension (see
    /// [`Self::perfect_extensions`]): never modes, so only counted, as tested sets where the
    /// set they extend is one, and in the q-values' family.
    fn count_copies(&self, plan: &ClassPlan, part: &mut Part, c: Counts, copies: u64) {
        if copies == 0 {
            return;
        }
        match self.goal {
            // Every set the mode search keeps is tested.
            Goal::Modes(_) => part.n_tested += copies,
            Goal::ModesAndFamily(..) => {
                plan.count_in_family(part, c, copies);
                if c.errors >= plan.min_errors {
                    part.n_tested += copies;
                }
            }
            Goal::Family(_) => plan.count_in_family(part, c, copies),
            Goal::FamilyAll => *part.family.entry(pack(c)).or_insert(0) += copies,
            Goal::Lattice(_) => unreachable!("the lattice lists every set"),
        }
    }

    /// After the children of a set `x` of `size` tags (counts `cx`, standing for
    /// `copies_of(size, k)` sets) were made, `found` of them perfect extensions left out:
    /// counts the sets that `x` and its kept children (`children`, of `size + 1` tags, each
    /// counted once so far) stand for beyond what was counted.
    #[allow(clippy::too_many_arguments)]
    fn count_left_out(
        &self,
        plan: &ClassPlan,
        part: &mut Part,
        size: usize,
        cx: Counts,
        k: u32,
        found: u32,
        children: &[(u32, Counts)],
    ) {
        let all = k + found;
        if all == 0 {
            return;
        }
        let l = self.max_tags;
        self.count_copies(
            plan,
            part,
            cx,
            copies_of(size, all, l) - copies_of(size, k, l),
        );
        let extra = copies_of(size + 1, all, l) - 1;
        if extra > 0 {
            for &(_, c) in children {
                self.count_copies(plan, part, c, extra);
            }
        }
    }

    /// All sets of `plan`'s class whose first tag (in local order) is `plan.active[r0]`,
    /// from size 2 up.
    fn item(&self, plan: &ClassPlan, r0: usize, scratch: &mut Scratch) -> Part {
        let mut part = Part {
            class: plan.class,
            family: std::mem::take(&mut scratch.family),
            ..Part::default()
        };
        let lent = (plan.table.len() > 0).then(|| {
            let at = match scratch.tables.iter().position(|(c, _, _)| *c == plan.class) {
                Some(at) => at,
                None => {
                    let table = vec![0; plan.table.len()];
                    scratch.tables.push((plan.class, plan.table, table));
                    scratch.tables.len() - 1
                }
            };
            part.table = std::mem::take(&mut scratch.tables[at].2);
            part.table_shape = plan.table;
            at
        });
        self.item_sets(plan, r0, scratch, &mut part);
        part.pairs = part.family.drain().collect();
        scratch.family = std::mem::take(&mut part.family);
        if let Some(at) = lent {
            scratch.tables[at].2 = std::mem::take(&mut part.table);
            part.table_shape = FamilyTable::default();
        }
        part
    }

    /// [`Self::item`]'s sets, into `part`.
    fn item_sets(&self, plan: &ClassPlan, r0: usize, scratch: &mut Scratch, part: &mut Part) {
        if self.cancel.load(Ordering::Relaxed) {
            return;
        }
        let ci = plan.ci;
        let t = plan.active[r0];
        scratch.prepare(plan.active.len(), ci.data.tags.len(), self.max_tags);
        let deeper = self.max_tags >= 3;
        let first = plan.singleton(r0);
        let n_candidates = plan.active.len() - r0 - 1;
        let base = r0 as u32 + 1;
        // The class's dense bitsets, where extracting the children's bits from them (a few
        // instructions per class word and child) beats walking the rows (a few per later tag
        // of each sample, plus a cache miss or two per sample). The weights were measured:
        // 4 against 1 per unit keeps every data set of the bench at least as fast as the
        // rows, and the sparse synthetic set twice as fast as 1 against 1.
        let dense = if deeper && n_candidates >= 1 {
            plan.dense.filter(|_| {
                let class_words = ci.data.words() as f64;
                let rows = plan.tail_incidences(r0) + 2.0 * f64::from(first.support);
                n_candidates as f64 * class_words < 4.0 * rows
            })
        } else {
            None
        };
        let mut members = std::mem::take(&mut scratch.members);
        members.clear();
        match dense {
            Some(bits) => {
                let class_words = ci.data.words();
                let mask = &bits[t as usize * class_words..(t as usize + 1) * class_words];
                members.extend(set_bits(mask).map(|p| p as u32));
            }
            None => members.extend(ci.data.bitmaps[t as usize].iter()),
        }

        // Perfect extensions of {t} are left out where sets go deeper (a leaf's children
        // have no subtree to save).
        let pe = self.perfect_extensions && deeper;
        let mut found = 0u32;
        let mut entries = std::mem::take(&mut scratch.levels[1].entries);
        entries.clear();
        let words = members.len().div_ceil(64);
        if deeper && n_candidates * words <= SINGLE_PASS_WORDS {
            // One walk of the rows (or one extraction from the dense bitsets) fills the
            // bitset of every {t, u}; popcounts then give supports and errors, and the kept
            // bitsets are moved to the front.
            let level = &mut scratch.levels[1];
            match dense {
                Some(bits) => extract_children(plan, bits, t, r0, words, level),
                None => {
                    let child = |u: u32| match plan.rank[u as usize] {
                        u32::MAX => u32::MAX,
                        r => r - base,
                    };
                    fill_rows(
                        plan,
                        &members,
                        t,
                        child,
                        n_candidates,
                        words,
                        &mut level.bits,
                        &mut level.wrong,
                    );
                }
            }
            for k in 0..n_candidates {
                let bits = &level.bits[k * words..(k + 1) * words];
                let c = count_bits(bits, &level.wrong);
                if !self.keeps(plan, c) {
                    continue;
                }
                if pe && c.support == first.support {
                    found += 1;
                    continue;
                }
                let r = base as usize + k;
                let u = plan.active[r];
                self.evaluate(plan, part, &[t], u, c, first, plan.singleton(r), None);
                let to = entries.len() * words;
                level.bits.copy_within(k * words..(k + 1) * words, to);
                entries.push((u, c));
            }
            level.bits.truncate(entries.len() * words);
            level.words = words;
            level.frame = 1;
            std::mem::swap(&mut level.members, &mut members);
        } else {
            // Count first, then build bitsets only for the kept extensions.
            let candidate = |u: u32| plan.rank[u as usize];
            count_rows(plan, members.iter().copied(), t, candidate, scratch);
            for k in 0..scratch.touched.len() {
                let r = scratch.touched[k] as usize;
                let c = take_counts(scratch, r);
                if !self.keeps(plan, c) {
                    continue;
                }
                if pe && c.support == first.support {
                    found += 1;
                    continue;
                }
                let u = plan.active[r];
                self.evaluate(plan, part, &[t], u, c, first, plan.singleton(r), None);
                if deeper {
                    scratch.slot[r] = entries.len() as u32;
                    entries.push((u, c));
                }
            }
            if deeper && entries.len() >= 2 {
                let level = &mut scratch.levels[1];
                let slot = &scratch.slot;
                let child = |u: u32| match candidate(u) {
                    u32::MAX => u32::MAX,
                    r => slot[r as usize],
                };
                fill_rows(
                    plan,
                    &members,
                    t,
                    child,
                    entries.len(),
                    words,
                    &mut level.bits,
                    &mut level.wrong,
                );
                level.words = words;
                level.frame = 1;
                std::mem::swap(&mut level.members, &mut members);
            }
            for &(u, _) in &entries {
                scratch.slot[plan.rank[u as usize] as usize] = u32::MAX;
            }
        }
        self.count_left_out(plan, part, 1, first, 0, found, &entries);
        let expand = deeper && entries.len() >= 2;
        scratch.levels[1].entries = entries;
        scratch.levels[1].pe = found;
        scratch.levels[1].parent_support = first.support;
        if expand {
            scratch.path.clear();
            scratch.path.push(t);
            self.expand(plan, part, scratch, 1);
        }
        scratch.members = members;
    }

    /// Extends `path + e` for every entry `e` of level `depth` (sets of `depth + 1` tags).
    fn expand(&self, plan: &ClassPlan, part: &mut Part, scratch: &mut Scratch, depth: usize) {
        let size = depth + 2; // of the sets made here
        if size > self.max_tags {
            return;
        }
        let leaf = size == self.max_tags;
        let n = scratch.levels[depth].entries.len();
        for j in 0..n {
            let u = scratch.levels[depth].entries[j].0;
            scratch.levels[depth].index_of[u as usize] = j as u32;
        }
        for i in 0..n.saturating_sub(1) {
            if self.cancel.load(Ordering::Relaxed) {
                break;
            }
            let (xi, ci) = scratch.levels[depth].entries[i];
            scratch.path.push(xi);
            let frame = scratch.levels[depth].frame;
            let words = scratch.levels[depth].words;
            // Either AND the bitset of `path + xi` with each later sibling's (cost: words per
            // sibling), or walk the tag rows of its samples once (cost: its support times the
            // row length); the second also re-projects the children onto `support` bits.
            let by_rows = (f64::from(ci.support) * (plan.row_len + 2.0) + words as f64)
                < ((n - i - 1) * words) as f64;
            let (next, found) = if by_rows {
                self.children_by_rows(plan, part, scratch, depth, i, leaf)
            } else {
                self.children_by_bits(plan, part, scratch, depth, i, leaf)
            };
            if !leaf {
                let k = scratch.levels[depth].pe;
                let children = &scratch.levels[depth + 1].entries;
                self.count_left_out(plan, part, depth + 1, ci, k, found, children);
                scratch.levels[depth + 1].pe = k + found;
                scratch.levels[depth + 1].parent_support = ci.support;
            }
            if !leaf && next >= 2 {
                if !by_rows {
                    let level = &mut scratch.levels[depth + 1];
                    level.frame = frame;
                    level.words = words;
                }
                self.expand(plan, part, scratch, depth + 1);
            }
            scratch.path.pop();
        }
        for j in 0..n {
            let u = scratch.levels[depth].entries[j].0;
            scratch.levels[depth].index_of[u as usize] = u32::MAX;
        }
    }

    /// Children of `path` (ending in entry `i` of `depth`) by ANDing sibling bitsets; stores
    /// them in level `depth + 1` unless `leaf`. Returns how many were stored, and how many
    /// perfect extensions were left out.
    fn children_by_bits(
        &self,
        plan: &ClassPlan,
        part: &mut Part,
        scratch: &mut Scratch,
        depth: usize,
        i: usize,
        leaf: bool,
    ) -> (usize, u32) {
        let (lower, upper) = scratch.levels.split_at_mut(depth + 1);
        let cur = &lower[depth];
        let wrong = &lower[cur.frame].wrong;
        let pe = self.perfect_extensions && !leaf;
        let mut found = 0u32;
        let next = &mut upper[0];
        let words = cur.words;
        let ci = cur.entries[i].1;
        let a = &cur.bits[i * words..(i + 1) * words];
        let rest = &mut scratch.rest;
        if leaf && plan.bound_errors > 0 {
            suffix_counts(a, rest);
        }
        next.entries.clear();
        next.bits.clear();
        for j in i + 1..cur.entries.len() {
            let (xj, cj) = cur.entries[j];
            let b = &cur.bits[j * words..(j + 1) * words];
            // The child's samples are among both parents', so are its errors.
            let bound = ci.errors.min(cj.errors);
            if leaf && bound < plan.bound_errors {
                // Never tested as a mode, only counted in the family: once its support
                // reaches what the bound needs to show it high, the rest does not matter.
                let enough = plan.high_from(bound);
                // Both parents' samples are among their parent's, so they share at least
                // |a| + |b| - |parent| (inclusion-exclusion): often enough without an AND.
                let shared = u64::from(ci.support) + u64::from(cj.support);
                if shared >= u64::from(enough) + u64::from(cur.parent_support) {
                    part.high += 1;
                    continue;
                }
                match and_count_until_high(a, b, wrong, rest, self.min_support, enough) {
                    None => {}
                    Some(c) if c.support >= enough => part.high += 1,
                    Some(c) => plan.count_in_family(part, c, 1),
                }
                continue;
            }
            let c = if leaf {
                and_count(a, b, wrong)
            } else {
                let start = next.bits.len();
                next.bits.resize(start + words, 0);
                let c = and_store_count(a, b, wrong, &mut next.bits[start..]);
                if !self.keeps(plan, c) || (pe && c.support == ci.support) {
                    next.bits.truncate(start);
                }
                c
            };
            if !self.keeps(plan, c) {
                continue;
            }
            if pe && c.support == ci.support {
                found += 1;
                continue;
            }
            self.evaluate(plan, part, &scratch.path, xj, c, ci, cj, Some(&lower[1]));
            if !leaf {
                next.entries.push((xj, c));
            }
        }
        (next.entries.len(), found)
    }

    /// Children of `path` (ending in entry `i` of `depth`) from the tag rows of its samples;
    /// unless `leaf`, stores them in level `depth + 1`, re-projected onto those samples.
    /// Returns how many were stored, and how many perfect extensions were left out.
    fn children_by_rows(
        &self,
        plan: &ClassPlan,
        part: &mut Part,
        scratch: &mut Scratch,
        depth: usize,
        i: usize,
        leaf: bool,
    ) -> (usize, u32) {
        let (lower, upper) = scratch.levels.split_at_mut(depth + 1);
        let cur = &lower[depth];
        let next = &mut upper[0];
        let pe = self.perfect_extensions && !leaf;
        let mut found = 0u32;
        let words = cur.words;
        let (xi, ci) = cur.entries[i];
        // The samples of `path`, as class sample ids.
        let frame_members = &lower[cur.frame].members;
        let members = &mut next.members;
        members.clear();
        members.extend(set_bits(&cur.bits[i * words..(i + 1) * words]).map(|p| frame_members[p]));
        let index_of = &cur.index_of;
        let candidate = |u: u32| index_of[u as usize];
        let counts = RowCounts {
            count: &mut scratch.count,
            errors: &mut scratch.errors,
            touched: &mut scratch.touched,
        };
        count_rows_into(plan, members.iter().copied(), xi, candidate, counts);
        next.entries.clear();
        for k in 0..scratch.touched.len() {
            let j = scratch.touched[k] as usize;
            let c = Counts {
                support: std::mem::take(&mut scratch.count[j]),
                errors: std::mem::take(&mut scratch.errors[j]),
            };
            if !self.keeps(plan, c) {
                continue;
            }
            if pe && c.support == ci.support {
                found += 1;
                continue;
            }
            let (xj, cj) = cur.entries[j];
            self.evaluate(plan, part, &scratch.path, xj, c, ci, cj, Some(&lower[1]));
            if !leaf {
                scratch.slot[j] = next.entries.len() as u32;
                next.entries.push((xj, c));
            }
        }
        if !leaf && next.entries.len() >= 2 {
            let new_words = members.len().div_ceil(64);
            let slot = &scratch.slot;
            let child = |u: u32| match candidate(u) {
                u32::MAX => u32::MAX,
                j => slot[j as usize],
            };
            fill_rows(
                plan,
                members,
                xi,
                child,
                next.entries.len(),
                new_words,
                &mut next.bits,
                &mut next.wrong,
            );
            next.words = new_words;
            next.frame = depth + 1;
        }
        for &(u, _) in &next.entries {
            scratch.slot[index_of[u as usize] as usize] = u32::MAX;
        }
        (next.entries.len(), found)
    }

    /// Records the set `prefix + [last]` (local ids) with counts `c`. Removing `last` gives
    /// the known set `minus_last`; removing the last tag of `prefix` gives `minus_second_last`;
    /// removing any earlier tag needs a recount, done only for sets that pass the drop: in
    /// `level1`'s bitsets (those of the first tag's item) where it keeps the first tag.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn evaluate(
        &self,
        plan: &ClassPlan,
        part: &mut Part,
        prefix: &[u32],
        last: u32,
        c: Counts,
        minus_last: Counts,
        minus_second_last: Counts,
        level1: Option<&Level>,
    ) {
        // The mode search's common case, kept small enough to inline into the hot loops:
        // a tested set that does not pass the drop.
        match self.goal {
            Goal::Modes(_) => {
                part.n_tested += 1;
                if c.accuracy() > plan.threshold {
                    return;
                }
                part.n_tested -= 1; // counted again below
            }
            Goal::ModesAndFamily(..) => {
                // Counted here only.
                plan.count_in_family(part, c, 1);
                if c.errors < plan.min_errors {
                    return;
                }
                if c.accuracy() > plan.threshold {
                    part.n_tested += 1;
                    return;
                }
            }
            _ => {}
        }
        self.evaluate_rest(
            plan,
            part,
            prefix,
            last,
            c,
            minus_last,
            minus_second_last,
            level1,
        );
    }

    /// [`Self::evaluate`] past its common case.
    #[allow(clippy::too_many_arguments)]
    #[inline(never)]
    fn evaluate_rest(
        &self,
        plan: &ClassPlan,
        part: &mut Part,
        prefix: &[u32],
        last: u32,
        c: Counts,
        minus_last: Counts,
        minus_second_last: Counts,
        level1: Option<&Level>,
    ) {
        let global = |l: &u32| plan.ci.data.tags[*l as usize];
        let params = match self.goal {
            Goal::Lattice(_) => {
                let tags = prefix.iter().chain(std::iter::once(&last)).map(global);
                match self.key_bits {
                    Some(bits) => {
                        let mut set = [0u32; 64];
                        let n = prefix.len() + 1;
                        for (slot, t) in set.iter_mut().zip(tags) {
                            *slot = t;
                        }
                        let set = &mut set[..n];
                        set.sort_unstable();
                        if part.keyed.len() < n {
                            part.keyed.resize_with(n, Vec::new);
                        }
                        part.keyed[n - 1].push(KeyedSet {
                            key: pack_key(set, bits),
                            support: c.support,
                            n_correct: c.support - c.errors,
                        });
                    }
                    None => part.lattice.push(plan.class, tags, c),
                }
                return;
            }
            Goal::Family(_) => {
                plan.count_in_family(part, c, 1);
                return;
            }
            Goal::FamilyAll => {
                *part.family.entry(pack(c)).or_insert(0) += 1;
                return;
            }
            Goal::Modes(p) => p,
            Goal::ModesAndFamily(p, _) => {
                // Counted in the family by `evaluate`.
                if c.errors < plan.min_errors {
                    return;
                }
                p
            }
        };
        part.n_tested += 1;
        if c.accuracy() > plan.threshold {
            return;
        }
        let set: Vec<u32> = prefix
            .iter()
            .copied()
            .chain(std::iter::once(last))
            .collect();
        // The subsets that keep the first tag are counted in its item's bitsets, the one
        // without it (from the class's bitmaps) last: the first subset that is not easier
        // by the necessity margin ends the check, and the order changes no result.
        let recount = |skip: usize| match level1 {
            Some(level1) if skip > 0 => level1.counts_without(&set, skip).accuracy(),
            _ => plan.accuracy_without(&set, skip),
        };
        let subsets: Box<dyn Iterator<Item = f64>> = match prefix.split_last() {
            // A single tag's subset is the whole class.
            None => Box::new(std::iter::once(plan.class_accuracy)),
            Some((_, earlier)) => Box::new(
                [minus_last.accuracy(), minus_second_last.accuracy()]
                    .into_iter()
                    .chain(
                        (1..earlier.len())
                            .chain((0..earlier.len()).take(1))
                            .map(recount),
                    ),
            ),
        };
        if let Some(mode) = plan.judge(params, &set, c, subsets) {
            part.modes.push(mode);
        }
    }
}

impl ClassPlan<'_> {
    /// Accuracy of `set` (local ids) without its tag at position `skip`, recounted.
    pub(crate) fn accuracy_without(&self, set: &[u32], skip: usize) -> f64 {
        let others: Vec<u32> = set
            .iter()
            .enumerate()
            .filter(|&(i, _)| i != skip)
            .map(|(_, &l)| l)
            .collect();
        Counts::from(self.ci.stats_local(&others)).accuracy()
    }

    /// The failure mode `set` (local ids, counts `c`) is, if it is one: `subsets` yields the
    /// accuracy of the set with each one tag removed (lazily: it stops at the first subset
    /// that is not easier by the necessity margin).
    pub(crate) fn judge(
        &self,
        params: &SearchParams,
        set: &[u32],
        c: Counts,
        subsets: impl Iterator<Item = f64>,
    ) -> Option<FailureMode> {
        let accuracy = c.accuracy();
        if accuracy > self.threshold {
            return None;
        }
        // Accuracies are never NaN: every set judged has support >= 1.
        let required = accuracy + params.necessity_for(set.len());
        let mut necessity = f64::INFINITY;
        for subset_accuracy in subsets {
            if subset_accuracy < required {
                return None;
            }
            necessity = necessity.min(subset_accuracy - accuracy);
        }
        let mut tags: Vec<u32> = set.iter().map(|&l| self.ci.data.tags[l as usize]).collect();
        tags.sort_unstable();
        Some(FailureMode {
            class: self.class,
            tags,
            support: c.support,
            n_correct: c.support - c.errors,
            accuracy,
            class_accuracy: self.class_accuracy,
            drop: self.class_accuracy - accuracy,
            necessity,
            p_value: f64::NAN,
            q_value: None,
        })
    }
}

/// Largest `candidates x words` for which an item fills every candidate's bitset in one walk
/// (32 MiB); beyond it, it counts first and fills only the kept ones.
const SINGLE_PASS_WORDS: usize = 1 << 22;

#[inline(always)]
fn count_bits(bits: &[u64], wrong: &[u64]) -> Counts {
    let (mut support, mut errors) = (0u32, 0u32);
    for (&x, &w) in bits.iter().zip(wrong) {
        support += x.count_ones();
        errors += (x & w).count_ones();
    }
    Counts { support, errors }
}

/// The positions of the set bits of `bits`, ascending.
pub(crate) fn set_bits(bits: &[u64]) -> impl Iterator<Item = usize> + Clone + '_ {
    bits.iter().enumerate().flat_map(|(w, &word)| {
        std::iter::successors((word != 0).then_some(word), |&x| {
            let rest = x & (x - 1);
            (rest != 0).then_some(rest)
        })
        .map(move |x| w * 64 + x.trailing_zeros() as usize)
    })
}

/// Words between two checks of an early exit.
const CHUNK: usize = 8;

/// `rest[k]`: the support of `a` in its words from chunk `k` on (`k` up to the number of
/// chunks, whose entry is zero): the most a child of `a` can still gain there.
fn suffix_counts(a: &[u64], rest: &mut Vec<u32>) {
    let n = a.len().div_ceil(CHUNK);
    rest.clear();
    rest.resize(n + 1, 0);
    for k in (0..n).rev() {
        let chunk = &a[k * CHUNK..a.len().min((k + 1) * CHUNK)];
        rest[k] = rest[k + 1] + chunk.iter().map(|x| x.count_ones()).sum::<u32>();
    }
}

#[inline(always)]
fn and_count(a: &[u64], b: &[u64], wrong: &[u64]) -> Counts {
    let (mut support, mut errors) = (0u32, 0u32);
    for ((&x, &y), &w) in a.iter().zip(b).zip(wrong) {
        let z = x & y;
        support += z.count_ones();
        errors += (z & w).count_ones();
    }
    Counts { support, errors }
}

/// The counts of `a & b`: `None` as soon as its support can no longer reach `min_support`;
/// once the support reaches `enough`, that much (the counts are then partial), exact
/// otherwise.
#[inline(always)]
fn and_count_until_high(
    a: &[u64],
    b: &[u64],
    wrong: &[u64],
    rest: &[u32],
    min_support: u32,
    enough: u32,
) -> Option<Counts> {
    let (mut support, mut errors) = (0u32, 0u32);
    let chunks = a
        .chunks(CHUNK)
        .zip(b.chunks(CHUNK))
        .zip(wrong.chunks(CHUNK));
    for (k, ((a, b), wrong)) in chunks.enumerate() {
        if support + rest[k] < min_support {
            return None;
        }
        if support >= enough {
            break;
        }
        for ((&x, &y), &w) in a.iter().zip(b).zip(wrong) {
            let z = x & y;
            support += z.count_ones();
            errors += (z & w).count_ones();
        }
    }
    (support >= min_support).then_some(Counts { support, errors })
}

#[inline(always)]
fn and_store_count(a: &[u64], b: &[u64], wrong: &[u64], out: &mut [u64]) -> Counts {
    let (mut support, mut errors) = (0u32, 0u32);
    for (((&x, &y), &w), o) in a.iter().zip(b).zip(wrong).zip(out.iter_mut()) {
        let z = x & y;
        *o = z;
        support += z.count_ones();
        errors += (z & w).count_ones();
    }
    Counts { support, errors }
}

struct RowCounts<'a> {
    count: &'a mut [u32],
    errors: &'a mut [u32],
    touched: &'a mut Vec<u32>,
}

/// Counts, for every candidate child `{.., u}` of a node, its support and errors, walking
/// the tag rows of the node's samples (`members`, class sample ids) after tag `after`.
/// `candidate(u)` gives the counter of tag `u`, or `u32::MAX`. The counters touched are left
/// in `touched`, ascending.
fn count_rows_into(
    plan: &ClassPlan,
    members: impl Iterator<Item = u32>,
    after: u32,
    candidate: impl Fn(u32) -> u32,
    out: RowCounts,
) {
    match &plan.ci.data.row_tags {
        RowTags::Narrow(tags) => count_rows_in(plan, tags, members, after, candidate, out),
        RowTags::Wide(tags) => count_rows_in(plan, tags, members, after, candidate, out),
    }
}

/// Sample `m`'s row (local tag ids, ascending) in the class's row layout `tags`.
#[inline(always)]
fn row_of<'t, T>(plan: &ClassPlan, tags: &'t [T], m: u32) -> &'t [T] {
    let row_ptr = &plan.ci.data.row_ptr;
    &tags[row_ptr[m as usize] as usize..row_ptr[m as usize + 1] as usize]
}

/// [`count_rows_into`] on the class's row layout `tags`, of either width.
fn count_rows_in<T: Copy + Into<u32>>(
    plan: &ClassPlan,
    tags: &[T],
    members: impl Iterator<Item = u32>,
    after: u32,
    candidate: impl Fn(u32) -> u32,
    out: RowCounts,
) {
    out.touched.clear();
    for m in members {
        let wrong = u32::from(plan.is_wrong(m));
        for &u in row_of(plan, tags, m).iter().rev() {
            let u: u32 = u.into();
            if u <= after {
                break;
            }
            let k = candidate(u);
            if k == u32::MAX {
                continue;
            }
            let k = k as usize;
            if out.count[k] == 0 {
                out.touched.push(k as u32);
            }
            out.count[k] += 1;
            out.errors[k] += wrong;
        }
    }
    out.touched.sort_unstable();
}

fn count_rows(
    plan: &ClassPlan,
    members: impl Iterator<Item = u32>,
    after: u32,
    candidate: impl Fn(u32) -> u32,
    scratch: &mut Scratch,
) {
    let out = RowCounts {
        count: &mut scratch.count,
        errors: &mut scratch.errors,
        touched: &mut scratch.touched,
    };
    count_rows_into(plan, members, after, candidate, out);
}

fn take_counts(scratch: &mut Scratch, k: usize) -> Counts {
    Counts {
        support: std::mem::take(&mut scratch.count[k]),
        errors: std::mem::take(&mut scratch.errors[k]),
    }
}

/// Fills `level` (words `words`, its own frame) with the bitsets of item `r0`'s children
/// `{t, u}` for every active `u` after it, and its wrong samples, projected onto the samples
/// of `t` (the set bits of `t`'s dense bitset, in order), from the class's dense bitsets
/// `dense`: each child's bits are those of `u` where `t` has a bit, packed together (BMI2
/// `pext`, a few instructions per class word). The same bits as [`fill_rows`] gives, which
/// walks the rows of `t`'s samples (a few instructions per sample and later tag): this is
/// cheaper where `t`'s samples carry many later tags.
fn extract_children(
    plan: &ClassPlan,
    dense: &[u64],
    t: u32,
    r0: usize,
    words: usize,
    level: &mut Level,
) {
    let class_words = plan.ci.data.words();
    let mask = &dense[t as usize * class_words..(t as usize + 1) * class_words];
    let n_children = plan.active.len() - r0 - 1;
    level.bits.clear();
    level.bits.resize(n_children * words, 0);
    level.wrong.clear();
    level.wrong.resize(words, 0);
    for (k, out) in level.bits.chunks_exact_mut(words).enumerate() {
        let u = plan.active[r0 + 1 + k] as usize;
        compress(&dense[u * class_words..(u + 1) * class_words], mask, out);
    }
    compress(plan.wrong, mask, &mut level.wrong);
}

/// Builds, in the coordinates of `members` (bit `p` = sample `members[p]`), the bitset of
/// every child: child `child(u)` gets bit `p` when sample `p` carries tag `u` (`u32::MAX`
/// for tags without a child). Also writes which members are wrong.
#[allow(clippy::too_many_arguments)]
fn fill_rows(
    plan: &ClassPlan,
    members: &[u32],
    after: u32,
    child: impl Fn(u32) -> u32,
    n_children: usize,
    words: usize,
    bits: &mut Vec<u64>,
    wrong: &mut Vec<u64>,
) {
    let out = (n_children, words, bits, wrong);
    match &plan.ci.data.row_tags {
        RowTags::Narrow(tags) => fill_rows_in(plan, tags, members, after, child, out),
        RowTags::Wide(tags) => fill_rows_in(plan, tags, members, after, child, out),
    }
}

/// [`fill_rows`] on the class's row layout `tags`, of either width.
fn fill_rows_in<T: Copy + Into<u32>>(
    plan: &ClassPlan,
    tags: &[T],
    members: &[u32],
    after: u32,
    child: impl Fn(u32) -> u32,
    (n_children, words, bits, wrong): (usize, usize, &mut Vec<u64>, &mut Vec<u64>),
) {
    bits.clear();
    bits.resize(n_children * words, 0);
    wrong.clear();
    wrong.resize(words, 0);
    for (p, &m) in members.iter().enumerate() {
        let (w, bit) = (p / 64, 1u64 << (p % 64));
        if plan.is_wrong(m) {
            wrong[w] |= bit;
        }
        // The tags after `after` end the (ascending) row: walk it from its end.
        for &u in row_of(plan, tags, m).iter().rev() {
            let u: u32 = u.into();
            if u <= after {
                break;
            }
            let s = child(u);
            if s != u32::MAX {
                bits[s as usize * words + w] |= bit;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::xorshift;

    /// The q-values from a family whose p-values of at least `HIGH_P` are only counted equal
    /// those from the whole family, bit for bit, whenever that shortcut answers.
    #[test]
    fn high_block_q_values_equal_the_whole_family() {
        let mut next = xorshift(0x2545_f491_4f6c_dd1du64);
        let (mut answered, mut declined) = (0, 0);
        for case in 0..2000 {
            let n = 1 + (next() % 60) as usize;
            // Many small p-values in some cases (q-values stay low), few in others.
            let skew = 1 + case % 6;
            let whole: Vec<(f64, u64)> = (0..n)
                .map(|_| {
                    let u = (next() >> 11) as f64 / (1u64 << 53) as f64;
                    (u.powi(skew), 1 + next() % 4)
                })
                .collect();
            let query: Vec<f64> = whole
                .iter()
                .filter(|_| next() % 3 == 0)
                .map(|&(p, _)| p)
                .collect();
            let expected = bh_q_values_of(&mut whole.clone(), &query);
            let mut low: Vec<(f64, u64)> =
                whole.iter().copied().filter(|&(p, _)| p < HIGH_P).collect();
            let high = whole
                .iter()
                .filter(|&&(p, _)| p >= HIGH_P)
                .map(|&(_, c)| c)
                .sum();
            match bh_with_high_block(&mut low, high, &query) {
                Some(q) => {
                    answered += 1;
                    let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                    assert_eq!(
                        bits(&q),
                        bits(&expected),
                        "case {case}: {whole:?} {query:?}"
                    );
                }
                None => declined += 1,
            }
        }
        assert!(answered > 200 && declined > 200, "{answered} {declined}");
    }

    /// A thread's buffers carry over from call to call; while they are in use, a call gets
    /// fresh ones (and does not wait).
    /// In a class without errors every set is as accurate as its class (p-value 1, only
    /// counted as high in the walk), so with no drop and no necessity asked every set is a
    /// mode whose pair the family does not keep: its p-value is then computed on its own,
    /// and the one walk still equals a search followed by its q-values.
    #[test]
    fn modes_whose_pairs_were_only_counted_as_high() {
        // Class 0: 12 samples, all correct, tags 0 and 1 on the first 8; class 1: 12 samples,
        // half wrong.
        let n = 24usize;
        let mut indptr = vec![0u64];
        let mut indices = Vec::new();
        for i in 0..n {
            if i % 12 < 8 {
                indices.extend([0u32, 1]);
            }
            indptr.push(indices.len() as u64);
        }
        let class_ids: Vec<u32> = (0..n).map(|i| (i / 12) as u32).collect();
        let correct: Vec<bool> = (0..n).map(|i| i < 12 || i % 2 == 0).collect();
        let index = TagIndex::from_csr(&indptr, &indices, &class_ids, &correct, 2, 2, 1).unwrap();
        let params = SearchParams {
            max_tags: 2,
            min_support: 2,
            min_drop: 0.0,
            necessity: vec![0.0],
            ..SearchParams::default()
        };
        let cancel = AtomicBool::new(false);
        let (one_walk, family) = search_with_q_values(&index, &params, &cancel).unwrap();
        let mut two_walks = search(&index, &params, &cancel).unwrap();
        assert_eq!(
            attach_q_values(&index, &params, &mut two_walks.modes, &cancel).unwrap(),
            family
        );
        assert_eq!(one_walk, two_walks);
        let clean: Vec<&FailureMode> = one_walk.modes.iter().filter(|m| m.class == 0).collect();
        assert_eq!(clean.len(), 3); // {0}, {1}, {0, 1}
        assert!(clean
            .iter()
            .all(|m| m.p_value == 1.0 && m.q_value == Some(1.0)));
    }

    #[test]
    fn family_tables_fit_and_give_back_their_pairs() {
        for &(n, wrong, s) in &[
            (1669u32, 190u32, 32u32),
            (24_720, 5_400, 100),
            (40, 40, 1),
            (100, 0, 30),
        ] {
            let Some(t) = FamilyTable::shape(n, wrong, s) else {
                continue;
            };
            assert!(t.len() as u64 <= TABLE_CELLS && t.rows >= 16, "{t:?}");
            assert!(t.base + t.rows - 1 <= n && t.cols <= wrong + 1, "{t:?}");
            let mut table = vec![0u32; t.len()];
            let mut want = Vec::new();
            for (support, errors) in [
                (s, 0),
                (s + t.rows - 1, t.cols - 1),
                (s + 3, t.cols.min(4) - 1),
            ] {
                let c = Counts { support, errors };
                table[t.cell(c).unwrap()] += 2;
                want.push((pack(c), 2));
            }
            assert_eq!(
                t.cell(Counts {
                    support: s + t.rows,
                    errors: 0
                }),
                None
            );
            assert_eq!(
                t.cell(Counts {
                    support: s,
                    errors: t.cols
                }),
                None
            );
            assert_eq!(
                t.cell(Counts {
                    support: s - 1,
                    errors: 0
                }),
                None
            );
            want.sort_unstable();
            want.dedup_by(|a, b| {
                let same = a.0 == b.0;
                if same {
                    b.1 += a.1;
                }
                same
            });
            let mut got = t.pairs(&[&table]);
            got.sort_unstable();
            assert_eq!(got, want, "{t:?}");
            // Two workers' tables are summed, cell by cell, past 32 bits.
            let mut twice = t.pairs(&[&table, &table]);
            twice.sort_unstable();
            let doubled: Vec<(u64, u64)> = want.iter().map(|&(k, n)| (k, 2 * n)).collect();
            assert_eq!(twice, doubled, "{t:?}");
            let full = vec![u32::MAX; t.len()];
            let most = t.pairs(&[&full, &full]);
            assert_eq!(most.len(), t.len());
            assert!(most.iter().all(|&(_, n)| n == 2 * u64::from(u32::MAX)));
        }
        assert!(
            FamilyTable::shape(20, 5, 30).is_none(),
            "no support reaches s"
        );
    }

    #[test]
    fn table_counts_past_32_bits_go_to_the_map() {
        let shape = FamilyTable::shape(1669, 190, 32).unwrap();
        let mut part = Part {
            table: vec![0; shape.len()],
            table_shape: shape,
            ..Part::default()
        };
        let c = Counts {
            support: 40,
            errors: 3,
        };
        let cell = shape.cell(c).unwrap();
        let big = u64::from(u32::MAX) - 5;
        part.count_in_table(cell, c, big);
        part.count_in_table(cell, c, 5);
        part.count_in_table(cell, c, 1); // one past the cell
        part.count_in_table(cell, c, 1 << 40); // past any cell
        assert_eq!(part.table[cell], u32::MAX);
        assert_eq!(part.family.get(&pack(c)), Some(&(1 + (1u64 << 40))));
        // Summed with the table's pair, as the merge does: every set counted once.
        let from_table: u64 = shape.pairs(&[&part.table]).iter().map(|&(_, n)| n).sum();
        let from_map: u64 = part.family.values().sum();
        assert_eq!(from_table + from_map, big + 5 + 1 + (1 << 40));
    }

    #[test]
    fn per_worker_buffers_are_kept_or_fresh_when_busy() {
        let buffers = PerWorker::<Vec<u32>>::new();
        buffers.with(|b| b.push(7));
        assert_eq!(buffers.with(|b| b.clone()), [7]);
        // Outside a pool the caller's slot is the last one; hold it, as a waiting job would.
        let held = buffers.0.last().unwrap().lock().unwrap();
        assert_eq!(buffers.with(|b| b.clone()), Vec::<u32>::new());
        buffers.with(|b| b.push(9));
        drop(held);
        assert_eq!(buffers.with(|b| b.clone()), [7]);
        // The fresh buffers are kept, with what was put in them.
        let all = buffers.into_all();
        assert!(all.contains(&vec![7]) && all.contains(&vec![9]), "{all:?}");
        assert!(
            all.contains(&vec![]),
            "the fresh buffer of the clone: {all:?}"
        );
    }

    /// The families gathered class by class give the q-values `attach_q_values` gives.
    #[test]
    fn q_value_family_gives_the_q_values_of_the_search() {
        let (n, n_tags, n_classes) = (600usize, 8u32, 3u32);
        let mut state = 12345u64;
        let mut next = move || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) as u32
        };
        let (mut indptr, mut indices, mut class_ids, mut correct) =
            (vec![0u64], vec![], vec![], vec![]);
        for _ in 0..n {
            let tags: Vec<u32> = (0..n_tags).filter(|_| next() % 3 == 0).collect();
            let wrong_bias = tags.contains(&1) && tags.contains(&2);
            indices.extend(&tags);
            indptr.push(indices.len() as u64);
            class_ids.push(next() % n_classes);
            correct.push(next() % 10 >= if wrong_bias { 7 } else { 1 });
        }
        let index = TagIndex::from_csr(
            &indptr, &indices, &class_ids, &correct, n_classes, n_tags, 1,
        )
        .unwrap();
        let params = SearchParams {
            max_tags: 3,
            min_support: 10,
            min_drop: 0.2,
            ..SearchParams::default()
        };
        let cancel = AtomicBool::new(false);
        let mut out = search(&index, &params, &cancel).unwrap();
        assert!(!out.modes.is_empty());
        let sizes = attach_q_values(&index, &params, &mut out.modes, &cancel).unwrap();
        let families = q_value_family(&index, &params.lattice(), &cancel).unwrap();
        let mut family: Vec<(f64, u64)> = Vec::new();
        for (class, f) in &families {
            assert!(f.windows(2).all(|w| w[0].0 < w[1].0), "distinct, ascending");
            assert_eq!(f.iter().map(|x| x.1).sum::<u64>(), sizes[*class as usize]);
            family.extend(f);
        }
        let query: Vec<f64> = out.modes.iter().map(|m| m.p_value).collect();
        let q = bh_q_values_of(&mut family, &query);
        for (m, q) in out.modes.iter().zip(q) {
            assert_eq!(m.q_value.unwrap().to_bits(), q.to_bits());
        }
    }

    /// Per class: how many frequent sets were only counted as high, and the histogram of the
    /// others' packed `(support, n_correct)`.
    type Split = Vec<(u32, u64, Vec<(u64, u64)>)>;

    /// The q-values are the same bits whichever classes count every set of the family
    /// exactly (none, all, or the small ones; see EXACT_CLASS_MAX), in one walk with the
    /// search and in a walk of their own, also where a mode's q-value is above HIGH_P (weak
    /// modes), where the classes that only counted their high sets are walked again and the
    /// others' pairs are reused.
    #[test]
    fn q_values_do_not_depend_on_which_classes_count_every_set() {
        let mut next = crate::testing::xorshift(0x0e_8a_c7);
        let mut above_high = 0;
        for case in 0..150 {
            let n_classes = 1 + (next() % 3) as u32;
            let n_tags = 4 + (next() % 8) as u32;
            let density: Vec<u64> = (0..n_tags).map(|_| 25 + next() % 60).collect();
            let sizes: Vec<u64> = (0..n_classes).map(|_| 20 + next() % 400).collect();
            let (mut indptr, mut indices, mut class_ids, mut correct) =
                (vec![0u64], vec![], vec![], vec![]);
            let base_error = next() % 25;
            for (class, &size) in sizes.iter().enumerate() {
                for _ in 0..size {
                    let tags: Vec<u32> = (0..n_tags)
                        .filter(|&t| next() % 100 < density[t as usize])
                        .collect();
                    let bad = tags.contains(&0) && tags.contains(&1);
                    indices.extend(&tags);
                    indptr.push(indices.len() as u64);
                    class_ids.push(class as u32);
                    correct.push(next() % 100 >= if bad { base_error + 8 } else { base_error });
                }
            }
            let index = TagIndex::from_csr(
                &indptr, &indices, &class_ids, &correct, n_classes, n_tags, 1,
            )
            .unwrap();
            let p = SearchParams {
                max_tags: 2 + (next() % 3) as usize,
                min_support: 3 + (next() % 20) as u32,
                min_drop: [0.0, 0.02, 0.05][(next() % 3) as usize],
                ..SearchParams::default()
            };
            let cancel = AtomicBool::new(false);
            // Below, between and above the classes' sizes.
            let middle = sizes[0] as u32;
            let bits = |out: &SearchOutput| -> Vec<(Vec<u32>, u64, Option<u64>)> {
                out.modes
                    .iter()
                    .map(|m| {
                        (
                            m.tags.clone(),
                            m.p_value.to_bits(),
                            m.q_value.map(f64::to_bits),
                        )
                    })
                    .collect()
            };
            let (want, want_family) = search_with_q_values_in(&index, &p, &cancel, 0).unwrap();
            for exact in [middle, u32::MAX] {
                let (got, family) = search_with_q_values_in(&index, &p, &cancel, exact).unwrap();
                assert_eq!(bits(&got), bits(&want), "case {case}, exact {exact}");
                assert_eq!(got, want, "case {case}, exact {exact}");
                assert_eq!(family, want_family, "case {case}, exact {exact}");
                let mut alone = search(&index, &p, &cancel).unwrap();
                let sizes =
                    attach_q_values_in(&index, &p, &mut alone.modes, &cancel, exact).unwrap();
                assert_eq!(sizes, want_family, "case {case}, exact {exact}");
                let mut sorted = want.modes.clone();
                sort_modes(&mut sorted);
                sort_modes(&mut alone.modes);
                assert_eq!(alone.modes, sorted, "case {case}, exact {exact}");
            }
            if want
                .modes
                .iter()
                .any(|m| m.q_value.is_some_and(|q| q > HIGH_P))
            {
                above_high += 1;
            }
        }
        // The rare path was taken, often.
        assert!(
            above_high >= 20,
            "{above_high} cases with a q-value above HIGH_P"
        );
    }

    /// The [`Split`] of the family the walk for `goal` counts.
    fn family_split(index: &TagIndex, p: &SearchParams, goal: &Goal) -> Split {
        let parts = run(index, &p.lattice(), goal, &AtomicBool::new(false)).unwrap();
        let mut high = vec![0u64; index.n_classes()];
        for part in &parts {
            high[part.class as usize] += part.high;
        }
        let mut out: Vec<_> = merge_by_class(parts)
            .into_iter()
            .map(|(class, map)| {
                let mut pairs: Vec<(u64, u64)> = map.into_iter().collect();
                pairs.sort_unstable();
                (class, high[class as usize], pairs)
            })
            .collect();
        out.retain(|(_, high, pairs)| *high > 0 || !pairs.is_empty());
        out
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config {
            cases: 300,
            failure_persistence: None,
            ..proptest::test_runner::Config::default()
        })]

        /// The walks that count the q-values' family with its high sets only counted (with
        /// the mode search, and alone) split it exactly as every set's own counts do, on
        /// classes wide enough (up to 1,600 samples, 25 words) for the early stop of the
        /// bound on errors to act, with supports near `min_support` and near the class's
        /// accuracy; the mode search with the family tests the same sets as without it.
        #[test]
        fn family_shortcuts_split_like_every_set(
            seed in proptest::prelude::any::<u64>(),
            n in 1usize..=1600,
            n_tags in 3u32..=14,
            n_classes in 1u32..=2,
            max_tags in 2usize..=5,
            min_support in 1u32..=200,
            min_drop in proptest::prop_oneof![
                proptest::strategy::Just(0.0),
                proptest::strategy::Just(0.05),
                proptest::strategy::Just(0.2),
                0.0..=0.6f64,
            ],
            base_error in proptest::prop_oneof![0u32..=3, 0u32..=40],
        ) {
            let mut state = seed | 1;
            let mut next = move || {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 11) as u32
            };
            let density: Vec<u32> = (0..n_tags).map(|_| 30 + next() % 65).collect();
            let (mut indptr, mut indices, mut class_ids, mut correct) =
                (vec![0u64], vec![], vec![], vec![]);
            for _ in 0..n {
                let tags: Vec<u32> = (0..n_tags).filter(|&t| next() % 100 < density[t as usize]).collect();
                let bad = tags.contains(&0) && tags.contains(&1);
                indices.extend(&tags);
                indptr.push(indices.len() as u64);
                class_ids.push(next() % n_classes);
                correct.push(next() % 100 >= if bad { base_error + 30 } else { base_error });
            }
            let index = TagIndex::from_csr(&indptr, &indices, &class_ids, &correct, n_classes, n_tags, 1).unwrap();
            let p = SearchParams { max_tags, min_support, min_drop, ..SearchParams::default() };
            // Every set with its counts, listed one by one by the lattice (which leaves out
            // no perfect extension), split by the definition.
            let cancel = AtomicBool::new(false);
            let lattice = frequent_sets(&index, &p.lattice(), &cancel).unwrap();
            let mut all: Vec<FxHashMap<u64, u64>> = vec![FxHashMap::default(); n_classes as usize];
            let mut tested = vec![0u64; n_classes as usize];
            // The errors a set needs to be tested, by class (none where no plan: no mode).
            let min_errors: Vec<u32> = (0..n_classes)
                .map(|c| plan_class(&index, c, &p.lattice(), 0, &Goal::Modes(&p)).map_or(u32::MAX, |plan| plan.min_errors))
                .collect();
            for i in 0..lattice.len() {
                let (class, n, k) = (lattice.class[i], lattice.support[i], lattice.n_correct[i]);
                *all[class as usize].entry((u64::from(n) << 32) | u64::from(k)).or_insert(0) += 1;
                if n - k >= min_errors[class as usize] {
                    tested[class as usize] += 1;
                }
            }
            // The same, all pairs kept (FamilyAll), and split by the definition.
            let (mut every, mut expected): (Split, Split) = (Vec::new(), Vec::new());
            for (class, pairs) in all.into_iter().enumerate() {
                if pairs.is_empty() {
                    continue;
                }
                let ci = &index.classes[class];
                // High: a p-value of at least HIGH_TARGET, by the class's quantiles.
                let accuracy = f64::from(ci.n_correct()) / f64::from(ci.n_samples());
                let cuts = binomial_quantiles(ci.n_samples(), accuracy, HIGH_TARGET);
                let is_high = |key: u64| (key & 0xFFFF_FFFF) as u32 >= cuts[(key >> 32) as usize];
                let mut pairs: Vec<(u64, u64)> = pairs.into_iter().collect();
                pairs.sort_unstable();
                let high = pairs.iter().filter(|&&(k, _)| is_high(k)).map(|&(_, n)| n).sum();
                let low = pairs.iter().copied().filter(|&(k, _)| !is_high(k)).collect();
                every.push((class as u32, 0, pairs));
                expected.push((class as u32, high, low));
            }
            proptest::prop_assert_eq!(&family_split(&index, &p, &Goal::FamilyAll), &every);
            // Every class counting its high sets only as high, then every class counting all
            // of its sets exactly (see EXACT_CLASS_MAX).
            proptest::prop_assert_eq!(&family_split(&index, &p, &Goal::Family(0)), &expected);
            proptest::prop_assert_eq!(&family_split(&index, &p, &Goal::ModesAndFamily(&p, 0)), &expected);
            proptest::prop_assert_eq!(&family_split(&index, &p, &Goal::Family(u32::MAX)), &every);
            proptest::prop_assert_eq!(&family_split(&index, &p, &Goal::ModesAndFamily(&p, u32::MAX)), &every);
            let (with_family, _) = search_with_q_values(&index, &p, &cancel).unwrap();
            let alone = search(&index, &p, &cancel).unwrap();
            proptest::prop_assert_eq!(&with_family.sets_tested, &alone.sets_tested);
            proptest::prop_assert_eq!(&alone.sets_tested, &tested);
        }

        /// `frequent_sets` gives the same columns with its sets kept as keys (sorted by a
        /// radix sort and decoded) as with them kept as tag lists (sorted by comparison).
        #[test]
        fn keyed_lattice_equals_tag_lists(
            seed in proptest::prelude::any::<u64>(),
            n in 1usize..=300,
            n_tags in 1u32..=40,
            n_classes in 1u32..=3,
            max_tags in 1usize..=6,
            min_support in 1u32..=20,
        ) {
            let mut state = seed | 1;
            let mut next = move || {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 11) as u32
            };
            let (mut indptr, mut indices, mut class_ids, mut correct) =
                (vec![0u64], vec![], vec![], vec![]);
            for _ in 0..n {
                let tags: Vec<u32> = (0..n_tags).filter(|_| next() % 100 < 35).collect();
                indices.extend(&tags);
                indptr.push(indices.len() as u64);
                class_ids.push(next() % n_classes);
                correct.push(next() % 4 != 0);
            }
            let index = TagIndex::from_csr(&indptr, &indices, &class_ids, &correct, n_classes, n_tags, 1).unwrap();
            let p = LatticeParams { max_tags, min_support, min_tag_count: None, classes: None };
            let cancel = AtomicBool::new(false);
            proptest::prop_assert!(key_bits(index.n_tags(), max_tags).is_some());
            let keyed = lattice_of(&index, &p, &cancel, true).unwrap();
            let listed = lattice_of(&index, &p, &cancel, false).unwrap();
            proptest::prop_assert_eq!(keyed, listed);
        }
    }

    /// Keys hold `max_tags` ids of the bits the largest id needs, up to 64 bits.
    #[test]
    fn key_bits_fit_the_ids() {
        assert_eq!(key_bits(1, 64), Some(1));
        assert_eq!(key_bits(2, 64), Some(1));
        assert_eq!(key_bits(3, 32), Some(2));
        assert_eq!(key_bits(75, 9), Some(7));
        assert_eq!(key_bits(75, 10), None);
        assert_eq!(key_bits(1 << 16, 4), Some(16));
        assert_eq!(key_bits((1 << 16) + 1, 4), None);
        assert_eq!(key_bits(u32::MAX, 2), Some(32));
        assert_eq!(key_bits(u32::MAX, 3), None);
    }

    /// The children's bitsets taken out of the class's dense bitsets (see
    /// `extract_children`) are the ones the walk of the rows makes, on classes of 1 to 700
    /// samples, sparse and dense.
    #[test]
    fn extracted_children_equal_the_row_walk() {
        let mut next = xorshift(0x2545_f491_4f6c_dd1du64);
        let mut compared = 0;
        for case in 0..60u64 {
            let n = 1 + next() % 700;
            let n_tags = 2 + (next() % 20) as u32;
            let density: Vec<u64> = (0..n_tags).map(|_| 1 + next() % 99).collect();
            let (mut indptr, mut indices, mut class_ids, mut correct) =
                (vec![0u64], vec![], vec![], vec![]);
            for _ in 0..n {
                indices.extend((0..n_tags).filter(|&t| next() % 100 < density[t as usize]));
                indptr.push(indices.len() as u64);
                class_ids.push((next() % 2) as u32);
                correct.push(next() % 4 != 0);
            }
            let index =
                TagIndex::from_csr(&indptr, &indices, &class_ids, &correct, 2, n_tags, 1).unwrap();
            let lattice = LatticeParams {
                max_tags: 4,
                min_support: 1,
                min_tag_count: None,
                classes: None,
            };
            for class in 0..2 {
                let Some(plan) = plan_class(&index, class, &lattice, 0, &Goal::FamilyAll) else {
                    continue;
                };
                let dense = plan.ci.data.dense().unwrap();
                for r0 in 0..plan.active.len().saturating_sub(1) {
                    let t = plan.active[r0];
                    let members: Vec<u32> = plan.ci.data.bitmaps[t as usize].iter().collect();
                    let words = members.len().div_ceil(64);
                    let (n_children, base) = (plan.active.len() - r0 - 1, r0 as u32 + 1);
                    let child = |u: u32| match plan.rank[u as usize] {
                        u32::MAX => u32::MAX,
                        r => r - base,
                    };
                    let (mut walked, mut taken) = (Level::default(), Level::default());
                    let (bits, wrong) = (&mut walked.bits, &mut walked.wrong);
                    fill_rows(&plan, &members, t, child, n_children, words, bits, wrong);
                    extract_children(&plan, dense, t, r0, words, &mut taken);
                    assert_eq!(
                        walked.bits, taken.bits,
                        "case {case} class {class} item {r0}"
                    );
                    assert_eq!(
                        walked.wrong, taken.wrong,
                        "case {case} class {class} item {r0}"
                    );
                    compared += 1;
                }
            }
        }
        assert!(compared > 500, "{compared}");
    }

    /// The table of supports that show a set high agrees with its definition.
    #[test]
    fn high_supports_follow_the_definition() {
        for (n_c, c, s) in [
            (10u32, 8u32, 3u32),
            (1669, 1475, 32),
            (7, 7, 2),
            (5, 0, 1),
            (100, 99, 40),
            (3000, 2000, 30),
        ] {
            let cuts = binomial_quantiles(n_c, f64::from(c) / f64::from(n_c), HIGH_TARGET);
            let table = high_supports(&cuts, n_c - c, s);
            assert_eq!(table.len() as u32, n_c - c + 1);
            // High at support n with e errors: n - e correct reach the quantile.
            let high = |n: u64, e: u64| n >= e && n - e >= u64::from(cuts[n as usize]);
            for (e, &need) in table.iter().enumerate() {
                let e = e as u64;
                let supports = u64::from(s)..=u64::from(n_c);
                if need == u32::MAX {
                    assert!(supports.clone().all(|n| !high(n, e)), "{n_c} {c} {s} {e}");
                    continue;
                }
                let need = u64::from(need);
                assert!(need >= u64::from(s), "{n_c} {c} {s} {e}");
                // Every support from `need` on is high with e (or fewer) errors, none below.
                for n in supports {
                    assert_eq!(high(n, e), n >= need, "{n_c} {c} {s} {e} {n}");
                }
            }
        }
    }
}
