//! Depth-first enumeration of tag sets (Eclat over projected dense bitsets).
//!
//! Work is split into items `(class, first tag)`. An item projects the class's samples
//! that carry its first tag `t` into a local coordinate system of `n_t` bits and builds one
//! dense bitset per frequent extension `{t, u}` from the samples' tag lists; every deeper
//! set is the AND of two sibling bitsets of `ceil(n_t / 64)` words. Supports prune
//! (anti-monotone) and, for the mode search, so do error counts: a set that keeps fewer
//! wrong predictions than any mode of its class needs cannot lead to one.

use std::sync::atomic::{AtomicBool, Ordering};

use rayon::prelude::*;

use crate::error::{PrimeError, Result};
use crate::index::{ClassIndex, SetStats, TagIndex};
use crate::params::{LatticeParams, SearchParams};

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

/// Every frequent tag set, in columns: set `i` is class `class[i]` with tags
/// `tags[offsets[i]..offsets[i + 1]]` (global ids, ascending).
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

    fn append(&mut self, other: FrequentSets) {
        let base = self.tags.len();
        self.class.extend(other.class);
        self.offsets.extend(other.offsets[1..].iter().map(|o| o + base));
        self.tags.extend(other.tags);
        self.support.extend(other.support);
        self.n_correct.extend(other.n_correct);
    }
}

/// Runs `f` on a rayon pool of `threads` workers (`None`: one per core). The pool lives only
/// for this call, so no worker threads survive into a forked child process.
pub fn with_threads<R: Send>(threads: Option<usize>, f: impl FnOnce() -> R + Send) -> Result<R> {
    let mut builder = rayon::ThreadPoolBuilder::new();
    if let Some(n) = threads {
        builder = builder.num_threads(n);
    }
    let pool = builder
        .build()
        .map_err(|e| PrimeError::ThreadPool(e.to_string()))?;
    Ok(pool.install(f))
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
pub fn search(index: &TagIndex, params: &SearchParams, cancel: &AtomicBool) -> Result<SearchOutput> {
    params.validate()?;
    let goal = Goal::Modes(params);
    let run = run(index, &params.lattice(), &goal, cancel)?;
    let mut sets_tested = vec![0u64; index.n_classes()];
    let mut modes = Vec::new();
    for part in run {
        sets_tested[part.class as usize] += part.tested;
        modes.extend(part.modes);
    }
    modes.sort_by(|a, b| {
        a.class
            .cmp(&b.class)
            .then(b.drop.total_cmp(&a.drop))
            .then_with(|| a.tags.cmp(&b.tags))
    });
    Ok(SearchOutput { modes, sets_tested })
}

/// Lists every tag set with `1 <= |S| <= max_tags` and support `>= min_support`, with its
/// support and correct count (the lattice PRIME searches, for analysis).
pub fn frequent_sets(index: &TagIndex, params: &LatticeParams, cancel: &AtomicBool) -> Result<FrequentSets> {
    params.validate()?;
    let run = run(index, params, &Goal::Lattice, cancel)?;
    let mut out = FrequentSets::default();
    for part in run {
        out.append(part.lattice);
    }
    Ok(out)
}

enum Goal<'a> {
    Modes(&'a SearchParams),
    Lattice,
}

#[derive(Debug, Clone, Copy, Default)]
struct Counts {
    support: u32,
    errors: u32,
}

impl Counts {
    fn accuracy(self) -> f64 {
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
    tested: u64,
    modes: Vec<FailureMode>,
    lattice: FrequentSets,
}

/// Everything about one class that every work item of it shares.
struct ClassPlan<'a> {
    class: u32,
    ci: &'a ClassIndex,
    class_accuracy: f64,
    /// `A_c - a`: a set is below it or not a mode.
    threshold: f64,
    /// Fewest wrong predictions any mode (or superset leading to one) can keep.
    min_errors: u32,
    /// Local ids of the tags searched, ascending.
    active: Vec<u32>,
    /// Rank of each local tag in `active`, or `u32::MAX`.
    rank: Vec<u32>,
    /// Errors of each active tag, by rank.
    active_errors: Vec<u32>,
    /// Wrong samples of the class, one bit each.
    wrong: Vec<u64>,
}

impl ClassPlan<'_> {
    fn is_wrong(&self, sample: u32) -> bool {
        self.wrong[(sample / 64) as usize] >> (sample % 64) & 1 == 1
    }

    fn singleton(&self, rank: usize) -> Counts {
        Counts {
            support: self.ci.counts[self.active[rank] as usize],
            errors: self.active_errors[rank],
        }
    }
}

fn run(index: &TagIndex, lattice: &LatticeParams, goal: &Goal, cancel: &AtomicBool) -> Result<Vec<Part>> {
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
    let plans: Vec<ClassPlan> = classes
        .par_iter()
        .filter_map(|&c| plan_class(index, c, lattice, threshold_count, goal))
        .collect();

    let ctx = Ctx {
        max_tags: lattice.max_tags,
        min_support: lattice.min_support,
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
        let item_parts: Vec<Part> = items
            .par_iter()
            .map_init(Scratch::default, |scratch, &(p, r)| ctx.item(&plans[p], r, scratch))
            .collect();
        parts.extend(item_parts);
        // Stable: a class's singletons first, then its items in order.
        parts.sort_by_key(|p| p.class);
    }
    if cancel.load(Ordering::Relaxed) {
        return Err(PrimeError::Cancelled);
    }
    Ok(parts)
}

fn plan_class<'a>(
    index: &'a TagIndex,
    class: u32,
    lattice: &LatticeParams,
    threshold_count: u32,
    goal: &Goal,
) -> Option<ClassPlan<'a>> {
    let ci = &index.classes[class as usize];
    if ci.n_samples == 0 {
        return None;
    }
    let class_accuracy = f64::from(ci.n_correct()) / f64::from(ci.n_samples);
    let (threshold, min_errors) = match goal {
        Goal::Modes(p) => {
            let threshold = class_accuracy - p.min_drop;
            if threshold < 0.0 {
                // No accuracy is below a negative threshold.
                return None;
            }
            // A mode has n >= s samples and accuracy <= threshold, so at least
            // s * (1 - threshold) errors. Rounded down a little so that floating-point
            // error can never prune a real mode.
            let s = f64::from(lattice.min_support);
            let bound = (s * (1.0 - threshold) - s * 1e-9 - 1e-9).ceil();
            (threshold, bound.max(0.0) as u32)
        }
        Goal::Lattice => (f64::INFINITY, 0),
    };
    let first = ci.counts.partition_point(|&n| n < threshold_count);
    let mut wrong = vec![0u64; (ci.n_samples as usize).div_ceil(64)];
    for w in wrong.iter_mut() {
        *w = !0;
    }
    if ci.n_samples % 64 != 0 {
        *wrong.last_mut().unwrap() = (1u64 << (ci.n_samples % 64)) - 1;
    }
    for s in ci.correct.iter() {
        wrong[(s / 64) as usize] &= !(1u64 << (s % 64));
    }
    let mut active = Vec::new();
    let mut active_errors = Vec::new();
    let mut rank = vec![u32::MAX; ci.tags.len()];
    for local in first..ci.tags.len() {
        let support = ci.counts[local];
        let errors = support - ci.bitmaps[local].intersection_len(&ci.correct) as u32;
        if errors >= min_errors {
            rank[local] = active.len() as u32;
            active.push(local as u32);
            active_errors.push(errors);
        }
    }
    Some(ClassPlan {
        class,
        ci,
        class_accuracy,
        threshold,
        min_errors,
        active,
        rank,
        active_errors,
        wrong,
    })
}

/// Reusable buffers of one worker thread.
#[derive(Default)]
struct Scratch {
    members: Vec<u32>,
    count: Vec<u32>,
    errors: Vec<u32>,
    touched: Vec<u32>,
    slot: Vec<u32>,
    wrong_local: Vec<u64>,
    path: Vec<u32>,
    /// Per depth: the extensions' bitsets, `words` each, and their tags and counts.
    bits: Vec<Vec<u64>>,
    entries: Vec<Vec<(u32, Counts)>>,
}

struct Ctx<'a> {
    max_tags: usize,
    min_support: u32,
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
                self.evaluate(plan, &mut part, &[], plan.active[r], c, none, none);
            }
        }
        part
    }

    /// All sets of `plan`'s class whose smallest-ranked tag is `plan.active[r0]`, from size 2 up.
    fn item(&self, plan: &ClassPlan, r0: usize, scratch: &mut Scratch) -> Part {
        let mut part = Part {
            class: plan.class,
            ..Part::default()
        };
        if self.cancel.load(Ordering::Relaxed) {
            return part;
        }
        let ci = plan.ci;
        let t = plan.active[r0];
        let n_active = plan.active.len();
        if scratch.count.len() < n_active {
            scratch.count.resize(n_active, 0);
            scratch.errors.resize(n_active, 0);
            scratch.slot.resize(n_active, u32::MAX);
        }
        scratch.members.clear();
        scratch.members.extend(ci.bitmaps[t as usize].iter());
        let n_t = scratch.members.len();
        let words = n_t.div_ceil(64);

        // Pass 1: supports and errors of {t, u} for every u after t.
        scratch.touched.clear();
        for &m in &scratch.members {
            let wrong = plan.is_wrong(m);
            for &u in ci.row(m) {
                if u <= t {
                    continue;
                }
                let r = plan.rank[u as usize];
                if r == u32::MAX {
                    continue;
                }
                let r = r as usize;
                if scratch.count[r] == 0 {
                    scratch.touched.push(r as u32);
                }
                scratch.count[r] += 1;
                scratch.errors[r] += u32::from(wrong);
            }
        }
        scratch.touched.sort_unstable();

        let deeper = self.max_tags >= 3;
        if scratch.entries.len() < self.max_tags {
            scratch.entries.resize_with(self.max_tags, Vec::new);
            scratch.bits.resize_with(self.max_tags, Vec::new);
        }
        let mut level = std::mem::take(&mut scratch.entries[1]);
        level.clear();
        let first = plan.singleton(r0);
        for &r in &scratch.touched {
            let r = r as usize;
            let c = Counts {
                support: scratch.count[r],
                errors: scratch.errors[r],
            };
            scratch.count[r] = 0;
            scratch.errors[r] = 0;
            if c.support < self.min_support || c.errors < plan.min_errors {
                continue;
            }
            let u = plan.active[r];
            self.evaluate(plan, &mut part, &[t], u, c, first, plan.singleton(r));
            if deeper {
                scratch.slot[r] = level.len() as u32;
                level.push((u, c));
            }
        }

        if deeper && level.len() >= 2 {
            // Pass 2: the bitsets of {t, u}, in t-local coordinates.
            let bits = &mut scratch.bits[1];
            bits.clear();
            bits.resize(level.len() * words, 0);
            scratch.wrong_local.clear();
            scratch.wrong_local.resize(words, 0);
            for (p, &m) in scratch.members.iter().enumerate() {
                let (w, bit) = (p / 64, 1u64 << (p % 64));
                if plan.is_wrong(m) {
                    scratch.wrong_local[w] |= bit;
                }
                for &u in ci.row(m) {
                    if u <= t {
                        continue;
                    }
                    let r = plan.rank[u as usize];
                    if r == u32::MAX {
                        continue;
                    }
                    let s = scratch.slot[r as usize];
                    if s != u32::MAX {
                        bits[s as usize * words + w] |= bit;
                    }
                }
            }
            scratch.path.clear();
            scratch.path.push(t);
            scratch.entries[1] = level;
            self.expand(plan, &mut part, scratch, 1, words);
            level = std::mem::take(&mut scratch.entries[1]);
        }
        for &(u, _) in &level {
            scratch.slot[plan.rank[u as usize] as usize] = u32::MAX;
        }
        scratch.entries[1] = level;
        part
    }

    /// Extends the sets `path + e` for the entries `e` at `depth` (sets of `depth + 1` tags).
    fn expand(&self, plan: &ClassPlan, part: &mut Part, scratch: &mut Scratch, depth: usize, words: usize) {
        let size = depth + 2; // size of the sets made here
        if size > self.max_tags {
            return;
        }
        let leaf = size == self.max_tags;
        let n = scratch.entries[depth].len();
        for i in 0..n {
            if self.cancel.load(Ordering::Relaxed) {
                return;
            }
            let (ti, ci_counts) = scratch.entries[depth][i];
            if i + 1 == n {
                break;
            }
            let mut next_entries = std::mem::take(&mut scratch.entries[depth + 1]);
            next_entries.clear();
            let (lower, upper) = scratch.bits.split_at_mut(depth + 1);
            let cur = &lower[depth];
            let next_bits = &mut upper[0];
            next_bits.clear();
            let a = &cur[i * words..(i + 1) * words];
            scratch.path.push(ti);
            for j in i + 1..n {
                let (tj, cj) = scratch.entries[depth][j];
                let b = &cur[j * words..(j + 1) * words];
                let c = if leaf {
                    and_count(a, b, &scratch.wrong_local)
                } else {
                    let start = next_bits.len();
                    next_bits.resize(start + words, 0);
                    let c = and_store_count(a, b, &scratch.wrong_local, &mut next_bits[start..]);
                    if c.support < self.min_support || c.errors < plan.min_errors {
                        next_bits.truncate(start);
                    }
                    c
                };
                if c.support < self.min_support || c.errors < plan.min_errors {
                    continue;
                }
                self.evaluate(plan, part, &scratch.path, tj, c, ci_counts, cj);
                if !leaf {
                    next_entries.push((tj, c));
                }
            }
            let go_deeper = !leaf && next_entries.len() >= 2;
            scratch.entries[depth + 1] = next_entries;
            if go_deeper {
                self.expand(plan, part, scratch, depth + 1, words);
            }
            scratch.path.pop();
        }
    }

    /// Records the set `prefix + [last]` (local ids) with counts `c`. Removing `last` gives
    /// the known set `minus_last`; removing the last tag of `prefix` gives `minus_second_last`;
    /// removing any earlier tag needs a recount, done only for sets that pass the drop.
    #[allow(clippy::too_many_arguments)]
    fn evaluate(
        &self,
        plan: &ClassPlan,
        part: &mut Part,
        prefix: &[u32],
        last: u32,
        c: Counts,
        minus_last: Counts,
        minus_second_last: Counts,
    ) {
        let ci = plan.ci;
        let global = |l: &u32| ci.tags[*l as usize];
        let params = match self.goal {
            Goal::Lattice => {
                let tags = prefix.iter().chain(std::iter::once(&last)).map(global);
                part.lattice.push(plan.class, tags, c);
                return;
            }
            Goal::Modes(p) => p,
        };
        part.tested += 1;
        let accuracy = c.accuracy();
        if !(accuracy <= plan.threshold) {
            return;
        }
        let margin = params.necessity_for(prefix.len() + 1);
        // Accuracies of the subsets with one tag removed: A_c for a single tag.
        let mut subsets = vec![];
        match prefix.split_last() {
            None => subsets.push(plan.class_accuracy),
            Some((_, earlier)) => {
                subsets.push(minus_last.accuracy());
                subsets.push(minus_second_last.accuracy());
                for skip in 0..earlier.len() {
                    let mut others: Vec<u32> = prefix
                        .iter()
                        .enumerate()
                        .filter(|&(i, _)| i != skip)
                        .map(|(_, &l)| l)
                        .collect();
                    others.push(last);
                    if subsets.iter().any(|&a| !(a >= accuracy + margin)) {
                        return;
                    }
                    subsets.push(Counts::from(ci.stats_local(&others)).accuracy());
                }
            }
        }
        if subsets.iter().any(|&a| !(a >= accuracy + margin)) {
            return;
        }
        let necessity = subsets
            .iter()
            .map(|&a| a - accuracy)
            .fold(f64::INFINITY, f64::min);
        let mut tags: Vec<u32> = prefix.iter().chain(std::iter::once(&last)).map(global).collect();
        tags.sort_unstable();
        part.modes.push(FailureMode {
            class: plan.class,
            tags,
            support: c.support,
            n_correct: c.support - c.errors,
            accuracy,
            class_accuracy: plan.class_accuracy,
            drop: plan.class_accuracy - accuracy,
            necessity,
        });
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
