//! The per-class index: one roaring bitmap per tag, the correct samples, and the
//! samples' own tag lists (the horizontal layout the search projects from).

use std::sync::{Arc, OnceLock};

use rayon::prelude::*;
use roaring::RoaringBitmap;

use crate::encode::{encode_class, merge_vocabularies, ClassRows, TagRows};
use crate::error::{PrimeError, Result};
use crate::search::set_bits;

/// Support and accuracy counts of one tag set in one class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SetStats {
    /// Number of samples of the class that carry every tag of the set (|I_S|).
    pub support: u32,
    /// How many of them the classifier gets right.
    pub n_correct: u32,
}

impl SetStats {
    /// Accuracy on the group, `n_correct / support`; `None` for an empty group.
    pub fn accuracy(&self) -> Option<f64> {
        (self.support > 0).then(|| f64::from(self.n_correct) / f64::from(self.support))
    }
}

/// The index of one class: its tags (shared between copies that differ only in
/// correctness) and its correct samples.
///
/// Tags get class-local ids ordered by ascending sample count (ties by global id), so
/// the tags above any count threshold form a suffix of the local ids, and the search
/// takes rare tags first, which keeps its projected databases small.
#[derive(Debug, Clone)]
pub struct ClassIndex {
    pub(crate) data: Arc<ClassTags>,
    /// Class-local ids of correctly classified samples.
    pub(crate) correct: RoaringBitmap,
    /// The wrong samples and each tag's count of them, made at the first search and kept,
    /// so that a sweep of searches makes them once.
    errors: OnceLock<Errors>,
}

/// A class's wrong samples, as searches need them.
#[derive(Debug, Clone)]
pub(crate) struct Errors {
    /// Wrong samples, one bit each.
    pub(crate) wrong: Vec<u64>,
    /// Wrong samples carrying each local tag.
    pub(crate) per_tag: Vec<u32>,
}

/// The tag side of a class index, which never changes after the build.
#[derive(Debug)]
pub(crate) struct ClassTags {
    pub(crate) n_samples: u32,
    /// Global id of each local tag.
    pub(crate) tags: Vec<u32>,
    /// Sample count of each local tag.
    pub(crate) counts: Vec<u32>,
    /// `(global id, local id)` sorted by global id, for look-ups.
    pub(crate) lookup: Vec<(u32, u32)>,
    /// Class-local sample ids carrying each local tag.
    pub(crate) bitmaps: Vec<RoaringBitmap>,
    /// Row `i` of the horizontal layout is `row_tags[row_ptr[i]..row_ptr[i + 1]]`: the
    /// local tag ids of sample `i`, ascending.
    pub(crate) row_ptr: Vec<u32>,
    pub(crate) row_tags: RowTags,
    /// Every local tag's samples as a dense bitset (`words` each, one after another), made
    /// at the first look-up of a set's counts and kept; `None` where that would take more
    /// than [`DENSE_WORDS`] words.
    dense: OnceLock<Option<Vec<u64>>>,
}

/// Largest class (tags x bitset words) whose tags are also kept as dense bitsets (2 MiB):
/// a set's counts are then a few ANDs of `n_samples / 64` words rather than roaring
/// intersections of sorted arrays.
const DENSE_WORDS: usize = 1 << 18;

impl ClassTags {
    pub(crate) fn words(&self) -> usize {
        (self.n_samples as usize).div_ceil(64)
    }

    /// The dense bitsets of every local tag, if the class is small enough (made once).
    pub(crate) fn dense(&self) -> Option<&[u64]> {
        self.dense
            .get_or_init(|| {
                let words = self.words();
                if words * self.tags.len() > DENSE_WORDS {
                    return None;
                }
                let mut bits = vec![0u64; words * self.tags.len()];
                for (l, bitmap) in self.bitmaps.iter().enumerate() {
                    for s in bitmap {
                        bits[l * words + (s / 64) as usize] |= 1u64 << (s % 64);
                    }
                }
                Some(bits)
            })
            .as_deref()
    }
}

/// The support and errors (samples also in `wrong`) of the samples carrying every local tag
/// of `local_tags` (not empty), from the class's dense bitsets `bits` of `words` words each.
fn dense_counts(bits: &[u64], words: usize, local_tags: &[u32], wrong: &[u64]) -> (u32, u32) {
    let (mut support, mut errors) = (0u32, 0u32);
    for (w, &wrong) in wrong[..words].iter().enumerate() {
        let x = local_tags
            .iter()
            .fold(!0u64, |x, &l| x & bits[l as usize * words + w]);
        support += x.count_ones();
        errors += (x & wrong).count_ones();
    }
    (support, errors)
}

/// The horizontal layout's tag ids: 16 bits wide when the class keeps at most 65,536 tags
/// (the usual case), which halves the layout and the bytes a row walk reads; else 32.
#[derive(Debug)]
pub(crate) enum RowTags {
    Narrow(Vec<u16>),
    Wide(Vec<u32>),
}

impl ClassIndex {
    fn new(data: Arc<ClassTags>, correct: RoaringBitmap) -> Self {
        ClassIndex {
            data,
            correct,
            errors: OnceLock::new(),
        }
    }

    /// The class's wrong samples and each tag's count of them (made once).
    pub(crate) fn errors(&self) -> &Errors {
        self.errors.get_or_init(|| {
            let n = self.data.n_samples;
            let mut wrong = vec![!0u64; (n as usize).div_ceil(64)];
            if n % 64 != 0 {
                *wrong.last_mut().expect("n > 0") = (1u64 << (n % 64)) - 1;
            }
            for s in self.correct.iter() {
                wrong[(s / 64) as usize] &= !(1u64 << (s % 64));
            }
            let per_tag = self
                .data
                .bitmaps
                .iter()
                .zip(&self.data.counts)
                .map(|(b, &support)| support - b.intersection_len(&self.correct) as u32)
                .collect();
            Errors { wrong, per_tag }
        })
    }

    /// Number of samples in the class.
    pub fn n_samples(&self) -> u32 {
        self.data.n_samples
    }

    /// Number of correctly classified samples in the class.
    pub fn n_correct(&self) -> u32 {
        self.correct.len() as u32
    }

    /// Number of distinct tags kept for this class.
    pub fn n_tags(&self) -> usize {
        self.data.tags.len()
    }

    pub(crate) fn local(&self, global: u32) -> Option<u32> {
        self.data
            .lookup
            .binary_search_by_key(&global, |&(g, _)| g)
            .ok()
            .map(|i| self.data.lookup[i].1)
    }

    /// Support and correct count of the samples carrying every local tag in `local_tags`.
    pub(crate) fn stats_local(&self, local_tags: &[u32]) -> SetStats {
        match local_tags {
            [] => SetStats {
                support: self.data.n_samples,
                n_correct: self.n_correct(),
            },
            [t] => {
                let b = &self.data.bitmaps[*t as usize];
                SetStats {
                    support: b.len() as u32,
                    n_correct: b.intersection_len(&self.correct) as u32,
                }
            }
            [first, rest @ ..] => {
                if let Some(bits) = self.data.dense() {
                    let (support, errors) =
                        dense_counts(bits, self.data.words(), local_tags, &self.errors().wrong);
                    return SetStats {
                        support,
                        n_correct: support - errors,
                    };
                }
                let mut acc = self.data.bitmaps[*first as usize].clone();
                for t in rest {
                    acc &= &self.data.bitmaps[*t as usize];
                    if acc.is_empty() {
                        break;
                    }
                }
                SetStats {
                    support: acc.len() as u32,
                    n_correct: acc.intersection_len(&self.correct) as u32,
                }
            }
        }
    }
}

/// What a tag set's misclassified samples were mistaken for (see [`TagIndex::confusions`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Confusion {
    /// How many samples of the set the classifier gets wrong.
    pub n_wrong: u32,
    /// The most frequent prediction code among them (ties: the smallest) and its count.
    pub top: Option<(u32, u32)>,
    /// The set's support in the class that prediction names, when it names one.
    pub other_support: Option<u32>,
}

/// Each sample's prediction as a code, checked once, for [`TagIndex::confusions`]: one code
/// per sample, the samples grouped by class (class 0's samples in input order, then class
/// 1's, ...), and `code_class[code]`, the class a code names, if any.
#[derive(Debug, Clone)]
pub struct Predictions {
    /// Where each class's samples start in `codes`, then their total.
    start: Vec<usize>,
    codes: Vec<u32>,
    code_class: Vec<Option<u32>>,
}

impl Predictions {
    /// Checks `codes` (one per sample of `index`, each below `code_class.len()`) and
    /// `code_class` (classes of `index`).
    pub fn new(index: &TagIndex, codes: Vec<u32>, code_class: Vec<Option<u32>>) -> Result<Self> {
        let start = class_starts(index);
        let total = *start.last().expect("not empty");
        if codes.len() != total {
            return Err(PrimeError::InvalidInput(format!(
                "{} predictions for {total} samples",
                codes.len()
            )));
        }
        if let Some(&p) = codes.iter().find(|&&p| p as usize >= code_class.len()) {
            return Err(PrimeError::UnknownId {
                what: "prediction code",
                id: p.into(),
                len: code_class.len() as u64,
            });
        }
        if let Some(c) = code_class
            .iter()
            .flatten()
            .find(|&&c| c as usize >= index.n_classes())
        {
            return Err(PrimeError::UnknownId {
                what: "class",
                id: (*c).into(),
                len: index.n_classes() as u64,
            });
        }
        Ok(Predictions {
            start,
            codes,
            code_class,
        })
    }

    /// The class prediction code `code` names, if any.
    pub fn class_of(&self, code: u32) -> Option<u32> {
        self.code_class.get(code as usize).copied().flatten()
    }
}

/// Where each class's samples start when grouped by class, then their total.
fn class_starts(index: &TagIndex) -> Vec<usize> {
    let mut start = Vec::with_capacity(index.classes.len() + 1);
    start.push(0usize);
    for ci in &index.classes {
        start.push(start.last().expect("not empty") + ci.data.n_samples as usize);
    }
    start
}

/// A tag set's wrong samples (see [`TagIndex::wrong_members`]).
enum Wrong {
    /// In the caller's dense bitset.
    Bits,
    /// Class-local ids, ascending.
    Ids(Vec<u32>),
}

/// Most distinct prediction codes among a class's wrong samples for which
/// [`TagIndex::confusions`] keeps a bitset per code.
const CODE_BITSETS_MAX: usize = 64;

/// A class's distinct prediction codes among its wrong samples (ascending) and, for each,
/// the wrong samples predicted as it, as a dense bitset (`codes.len()` bitsets of the class's
/// words, one after another).
struct CodeBits {
    codes: Vec<u32>,
    bits: Vec<u64>,
}

impl CodeBits {
    /// The most frequent code among the samples of `wrong` (a dense bitset of wrong samples)
    /// with its count; ties go to the smallest code.
    fn top(&self, wrong: &[u64]) -> Option<(u32, u32)> {
        let mut top: Option<(u32, u32)> = None;
        if wrong.is_empty() {
            return top;
        }
        for (&code, bits) in self.codes.iter().zip(self.bits.chunks_exact(wrong.len())) {
            let n: u32 = wrong
                .iter()
                .zip(bits)
                .map(|(a, b)| (a & b).count_ones())
                .sum();
            // Codes ascend: a later code must be strictly more frequent.
            if n > 0 && top.map_or(true, |(_, k)| n > k) {
                top = Some((code, n));
            }
        }
        top
    }
}

/// The most frequent of `codes[i]` over the samples `i` of `wrong` with its count; ties go
/// to the smallest code. `counts` (one per code) is zero before and after.
fn top_code(
    wrong: impl Iterator<Item = usize> + Clone,
    codes: &[u32],
    counts: &mut [u32],
) -> Option<(u32, u32)> {
    for i in wrong.clone() {
        counts[codes[i] as usize] += 1;
    }
    let mut top: Option<(u32, u32)> = None;
    for i in wrong.clone() {
        let code = codes[i];
        let n = counts[code as usize];
        if top.map_or(true, |(c, k)| n > k || (n == k && code < c)) {
            top = Some((code, n));
        }
    }
    for i in wrong {
        counts[codes[i] as usize] = 0;
    }
    top
}

/// Per-class tag index of a whole samples table.
///
/// Build it once with [`TagIndex::from_csr`], then run [`crate::search`] or
/// [`crate::frequent_sets`] on it as often as needed.
///
/// ```
/// use prime_core::TagIndex;
/// // Three samples of class 0: tags {0, 1}, {0}, {1}; the first one is wrong.
/// let index = TagIndex::from_csr(&[0, 2, 3, 4], &[0, 1, 0, 1], &[0, 0, 0], &[false, true, true], 1, 2, 1)
///     .unwrap();
/// let s = index.stats(0, &[0]).unwrap();
/// assert_eq!((s.support, s.n_correct), (2, 1));
/// ```
#[derive(Debug, Clone)]
pub struct TagIndex {
    pub(crate) n_tags: u32,
    pub(crate) classes: Vec<ClassIndex>,
}

impl TagIndex {
    /// Builds the index from a samples table in CSR form.
    ///
    /// * `indptr` (length n + 1) and `indices`: the tags of sample `i` are
    ///   `indices[indptr[i]..indptr[i + 1]]`, global tag ids below `n_tags`; duplicates are
    ///   ignored.
    /// * `class_ids` (length n): each sample's class, below `n_classes`.
    /// * `correct` (length n): whether the classifier got the sample right.
    /// * `min_tag_count`: tags in fewer samples of a class are left out of that class's index
    ///   (1 keeps every tag; a search can still raise the threshold).
    pub fn from_csr(
        indptr: &[u64],
        indices: &[u32],
        class_ids: &[u32],
        correct: &[bool],
        n_classes: u32,
        n_tags: u32,
        min_tag_count: u32,
    ) -> Result<Self> {
        let n = class_ids.len();
        if correct.len() != n {
            return Err(PrimeError::InvalidInput(format!(
                "correct has {} entries but class_ids has {n}",
                correct.len()
            )));
        }
        if indptr.len() != n + 1 {
            return Err(PrimeError::InvalidInput(format!(
                "indptr has {} entries; expected one more than the {n} samples",
                indptr.len()
            )));
        }
        if indptr[0] != 0 || indptr[n] != indices.len() as u64 {
            return Err(PrimeError::InvalidInput(format!(
                "indptr must start at 0 and end at len(indices) = {}",
                indices.len()
            )));
        }
        if let Some(i) = indptr.windows(2).position(|w| w[0] > w[1]) {
            return Err(PrimeError::InvalidInput(format!(
                "indptr decreases at position {i}"
            )));
        }
        if let Some(&t) = indices.iter().find(|&&t| t >= n_tags) {
            return Err(PrimeError::UnknownId {
                what: "tag",
                id: t.into(),
                len: n_tags.into(),
            });
        }
        check_class_ids(class_ids, n_classes)?;

        let (class_start, members) = group_by_class(class_ids, n_classes);
        let min_tag_count = min_tag_count.max(1);
        let classes = (0..n_classes as usize)
            .into_par_iter()
            .with_max_len(1)
            .map(|c| {
                let rows = &members[class_start[c]..class_start[c + 1]];
                let (row_ptr, ids, counts) = distinct_rows(indptr, indices, rows, n_tags)?;
                let correct = rows.iter().map(|&r| correct[r as usize]);
                let rows = Rows {
                    row_ptr,
                    ids,
                    counts,
                };
                Ok(build_class(rows, |t| t, correct, min_tag_count))
            })
            .collect::<Result<_>>()?;
        Ok(TagIndex { n_tags, classes })
    }

    /// Builds the index straight from tag strings (see [`TagRows`]); returns it with its
    /// vocabulary, every distinct tag sorted by bytes (code point order), whose positions
    /// are the tag ids.
    ///
    /// Each class's rows are encoded apart, in parallel, with a small hash map of their own;
    /// the classes' vocabularies are then merged, and each class index is built from its own
    /// compact rows. A null tag is an error naming its row (counted from 0).
    ///
    /// ```
    /// use prime_core::{Tag, TagIndex, TagRows};
    ///
    /// struct Rows(Vec<Vec<&'static str>>);
    /// impl TagRows for Rows {
    ///     fn n_rows(&self) -> usize { self.0.len() }
    ///     fn for_each_tag<'a, F: FnMut(Option<Tag<'a>>)>(&'a self, row: usize, mut f: F) {
    ///         self.0[row].iter().for_each(|t| f(Some(Tag::Bytes(t.as_bytes()))));
    ///     }
    /// }
    /// let rows = Rows(vec![vec!["zoo", "fox"], vec![], vec!["fox"]]);
    /// let (index, vocabulary) =
    ///     TagIndex::from_tag_rows(&rows, &[0, 0, 0], &[false, true, true], 1, 1).unwrap();
    /// assert_eq!(vocabulary, ["fox", "zoo"]);
    /// assert_eq!(index.stats(0, &[0]).unwrap().support, 2);
    /// ```
    pub fn from_tag_rows<R: TagRows>(
        rows: &R,
        class_ids: &[u32],
        correct: &[bool],
        n_classes: u32,
        min_tag_count: u32,
    ) -> Result<(Self, Vec<String>)> {
        let n = class_ids.len();
        if rows.n_rows() != n || correct.len() != n {
            return Err(PrimeError::InvalidInput(format!(
                "{} rows of tags, {} correct flags and {n} class ids; they must be as many",
                rows.n_rows(),
                correct.len()
            )));
        }
        check_class_ids(class_ids, n_classes)?;
        let (class_start, members) = group_by_class(class_ids, n_classes);
        let encoded: Vec<ClassRows<'_>> = (0..n_classes as usize)
            .into_par_iter()
            .with_max_len(1)
            .map(|c| encode_class(rows, &members[class_start[c]..class_start[c + 1]]))
            .collect::<Result<_>>()?;
        let (vocabulary, remaps) = merge_vocabularies(encoded.iter().map(|e| &e.vocabulary))?;
        let n_tags = u32::try_from(vocabulary.len())
            .map_err(|_| PrimeError::InvalidInput("more than 2^32 distinct tags".into()))?;
        let min_tag_count = min_tag_count.max(1);
        // Each class's encoded rows are freed as soon as its index is built, so that the
        // next class's build reuses their memory.
        let classes = encoded
            .into_par_iter()
            .zip(remaps)
            .enumerate()
            .with_max_len(1)
            .map(|(c, (e, remap))| {
                let rows = &members[class_start[c]..class_start[c + 1]];
                let correct = rows.iter().map(|&r| correct[r as usize]);
                let global = |t: u32| remap[t as usize];
                let rows = Rows {
                    row_ptr: e.row_ptr,
                    ids: e.ids,
                    counts: e.counts,
                };
                build_class(rows, global, correct, min_tag_count)
            })
            .collect();
        Ok((TagIndex { n_tags, classes }, vocabulary))
    }

    /// Number of classes.
    pub fn n_classes(&self) -> usize {
        self.classes.len()
    }

    /// Size of the global tag vocabulary.
    pub fn n_tags(&self) -> u32 {
        self.n_tags
    }

    /// The index of one class.
    pub fn class(&self, class: u32) -> Result<&ClassIndex> {
        self.classes
            .get(class as usize)
            .ok_or(PrimeError::UnknownId {
                what: "class",
                id: class.into(),
                len: self.classes.len() as u64,
            })
    }

    /// Support and correct count of the samples of `class` carrying every tag in `tags`
    /// (global ids; an empty set gives the whole class).
    ///
    /// A tag the class's index does not hold (no sample of the class carries it, or fewer
    /// than the index's `min_tag_count` do) gives support 0: build with `min_tag_count = 1`
    /// when exact statistics of rare tags matter.
    pub fn stats(&self, class: u32, tags: &[u32]) -> Result<SetStats> {
        let ci = self.class(class)?;
        if let Some(&t) = tags.iter().find(|&&t| t >= self.n_tags) {
            return Err(PrimeError::UnknownId {
                what: "tag",
                id: t.into(),
                len: self.n_tags.into(),
            });
        }
        let mut local = Vec::with_capacity(tags.len());
        for &t in tags {
            match ci.local(t) {
                Some(l) => local.push(l),
                None => {
                    return Ok(SetStats {
                        support: 0,
                        n_correct: 0,
                    })
                }
            }
        }
        local.sort_unstable();
        local.dedup();
        Ok(ci.stats_local(&local))
    }

    /// Class-local ids (ascending; the `i`-th sample of the class in input order is `i`) of
    /// the samples of `class` carrying every tag in `tags` (global ids).
    pub fn members(&self, class: u32, tags: &[u32]) -> Result<Vec<u32>> {
        Ok(self.member_bitmap(class, tags)?.iter().collect())
    }

    fn member_bitmap(&self, class: u32, tags: &[u32]) -> Result<RoaringBitmap> {
        let ci = self.class(class)?;
        if let Some(&t) = tags.iter().find(|&&t| t >= self.n_tags) {
            return Err(PrimeError::UnknownId {
                what: "tag",
                id: t.into(),
                len: self.n_tags.into(),
            });
        }
        let mut acc: Option<RoaringBitmap> = None;
        for &t in tags {
            let Some(l) = ci.local(t) else {
                return Ok(RoaringBitmap::new());
            };
            let b = &ci.data.bitmaps[l as usize];
            acc = Some(match acc {
                None => b.clone(),
                Some(a) => a & b,
            });
        }
        Ok(acc.unwrap_or_else(|| (0..ci.data.n_samples).collect()))
    }

    /// The wrong samples of `class` carrying every tag of `tags` (global ids): as a dense
    /// bitset in `words` (class-local ids, [`ClassTags::words`] words) where the class keeps
    /// dense bitsets, else as class-local ids, ascending.
    fn wrong_members(&self, class: u32, tags: &[u32], words: &mut Vec<u64>) -> Result<Wrong> {
        let ci = self.class(class)?;
        let mut local = Vec::with_capacity(tags.len());
        for &t in tags {
            match ci.local(t) {
                Some(l) => local.push(l),
                None => break,
            }
        }
        if local.len() == tags.len() && !local.is_empty() {
            if let Some(bits) = ci.data.dense() {
                let n_words = ci.data.words();
                words.clear();
                words.extend(
                    ci.errors().wrong[..n_words]
                        .iter()
                        .enumerate()
                        .map(|(w, &wrong)| {
                            local
                                .iter()
                                .fold(wrong, |x, &l| x & bits[l as usize * n_words + w])
                        }),
                );
                return Ok(Wrong::Bits);
            }
        }
        Ok(Wrong::Ids(
            (self.member_bitmap(class, tags)? - &ci.correct)
                .iter()
                .collect(),
        ))
    }

    /// Each class's distinct prediction codes among its wrong samples, with each code's
    /// wrong samples as a dense bitset, for the classes in `sets` that keep dense bitsets and
    /// have at most [`CODE_BITSETS_MAX`] such codes (else `None`).
    fn code_bitsets(
        &self,
        sets: &[(u32, Vec<u32>)],
        predictions: &Predictions,
    ) -> Vec<Option<CodeBits>> {
        let mut wanted = vec![false; self.classes.len()];
        for (class, _) in sets {
            if let Some(w) = wanted.get_mut(*class as usize) {
                *w = true;
            }
        }
        self.classes
            .par_iter()
            .zip(wanted)
            .enumerate()
            .map(|(c, (ci, wanted))| {
                if !wanted || ci.data.dense().is_none() {
                    return None;
                }
                let words = ci.data.words();
                let wrong = &ci.errors().wrong;
                let codes = &predictions.codes[predictions.start[c]..predictions.start[c + 1]];
                let mut distinct: Vec<u32> = set_bits(wrong).map(|s| codes[s]).collect();
                distinct.sort_unstable();
                distinct.dedup();
                if distinct.len() > CODE_BITSETS_MAX {
                    return None;
                }
                let mut bits = vec![0u64; distinct.len() * words];
                for s in set_bits(wrong) {
                    let k = distinct
                        .binary_search(&codes[s])
                        .expect("a wrong sample's code");
                    bits[k * words + s / 64] |= 1u64 << (s % 64);
                }
                Some(CodeBits {
                    codes: distinct,
                    bits,
                })
            })
            .collect()
    }

    /// What the misclassified samples of each tag set were mistaken for, in parallel.
    ///
    /// `sets` are `(class, tags)` (global ids); `predictions` are the samples' prediction
    /// codes (see [`Predictions`]).
    ///
    /// ```
    /// use prime_core::{Predictions, TagIndex};
    /// // Class 0: samples {0, 1} carry tag 0; sample 1 is wrong, predicted as code 1 (class 1).
    /// let index = TagIndex::from_csr(&[0, 1, 2, 2], &[0, 0], &[0, 0, 1], &[true, false, true], 2, 1, 1)
    ///     .unwrap();
    /// let predictions = Predictions::new(&index, vec![0, 1, 1], vec![Some(0), Some(1)]).unwrap();
    /// let out = index.confusions(&[(0, vec![0])], &predictions).unwrap();
    /// assert_eq!((out[0].n_wrong, out[0].top), (1, Some((1, 1))));
    /// assert_eq!(out[0].other_support, Some(0));
    /// ```
    pub fn confusions(
        &self,
        sets: &[(u32, Vec<u32>)],
        predictions: &Predictions,
    ) -> Result<Vec<Confusion>> {
        self.confusions_of(sets, predictions, None)
    }

    /// [`Self::confusions`], given each set's count of wrong samples where the caller knows
    /// it (`n_wrong[i]` for `sets[i]`, as a search's modes do): a class whose wrong samples
    /// were all mistaken for one code (two classes, say) then needs no pass over them.
    pub(crate) fn confusions_of(
        &self,
        sets: &[(u32, Vec<u32>)],
        predictions: &Predictions,
        n_wrong: Option<&[u32]>,
    ) -> Result<Vec<Confusion>> {
        if n_wrong.is_some_and(|n| n.len() != sets.len()) {
            return Err(PrimeError::InvalidInput(
                "one count of wrong samples per set is needed".into(),
            ));
        }
        if predictions.start != class_starts(self) {
            return Err(PrimeError::InvalidInput(
                "the predictions were made for an index with other classes".into(),
            ));
        }
        let (start, code_class) = (&predictions.start, &predictions.code_class);
        let by_class = self.code_bitsets(sets, predictions);
        sets.par_iter()
            .enumerate()
            .map_init(
                || (vec![0u32; code_class.len()], Vec::new()),
                |(counts, words), (i, (class, tags))| {
                    let codes = &predictions.codes[start[*class as usize]..];
                    let one_code = match (n_wrong, by_class.get(*class as usize)) {
                        (Some(n_wrong), Some(Some(cb))) if cb.codes.len() <= 1 => {
                            Some((n_wrong[i], cb.codes.first().copied()))
                        }
                        _ => None,
                    };
                    let (n_wrong, top) = if let Some((n, code)) = one_code {
                        // Every wrong sample of the class was mistaken for `code`.
                        (n, code.filter(|_| n > 0).map(|code| (code, n)))
                    } else {
                        match self.wrong_members(*class, tags, words)? {
                            Wrong::Ids(wrong) => (
                                wrong.len() as u32,
                                top_code(wrong.iter().map(|&i| i as usize), codes, counts),
                            ),
                            Wrong::Bits => {
                                let n_wrong: u32 = words.iter().map(|w| w.count_ones()).sum();
                                // Per code, a pass over the words; per wrong sample, three
                                // look-ups: the cheaper of the two (both give the same counts).
                                match &by_class[*class as usize] {
                                    Some(cb)
                                        if cb.codes.len() * words.len() <= 4 * n_wrong as usize =>
                                    {
                                        (n_wrong, cb.top(words))
                                    }
                                    _ => (n_wrong, top_code(set_bits(words), codes, counts)),
                                }
                            }
                        }
                    };
                    let other_support = match top.and_then(|(code, _)| code_class[code as usize]) {
                        Some(other) => Some(self.stats(other, tags)?.support),
                        None => None,
                    };
                    Ok(Confusion {
                        n_wrong,
                        top,
                        other_support,
                    })
                },
            )
            .collect()
    }

    /// A copy of this index with other correctness flags (one per sample, in the order
    /// given to [`TagIndex::from_csr`]); `class_ids` must be the same array the index was
    /// built from. The tag bitmaps are shared, not copied, so this is cheap.
    pub fn with_correct(&self, class_ids: &[u32], correct: &[bool]) -> Result<Self> {
        if class_ids.len() != correct.len() {
            return Err(PrimeError::InvalidInput(format!(
                "correct has {} entries but class_ids has {}",
                correct.len(),
                class_ids.len()
            )));
        }
        let mut next = vec![0u32; self.classes.len()];
        let mut bitmaps: Vec<RoaringBitmap> = vec![RoaringBitmap::new(); self.classes.len()];
        for (&c, &ok) in class_ids.iter().zip(correct) {
            let slot = next.get_mut(c as usize).ok_or(PrimeError::UnknownId {
                what: "class",
                id: c.into(),
                len: self.classes.len() as u64,
            })?;
            if ok {
                bitmaps[c as usize]
                    .try_push(*slot)
                    .expect("sample ids ascend");
            }
            *slot += 1;
        }
        for (c, (ci, &seen)) in self.classes.iter().zip(&next).enumerate() {
            if seen != ci.data.n_samples {
                return Err(PrimeError::InvalidInput(format!(
                    "class {c} has {seen} samples in class_ids but {} in the index",
                    ci.data.n_samples
                )));
            }
        }
        let classes = self
            .classes
            .iter()
            .zip(bitmaps)
            .map(|(ci, b)| ClassIndex::new(Arc::clone(&ci.data), b))
            .collect();
        Ok(TagIndex {
            n_tags: self.n_tags,
            classes,
        })
    }
}

/// Checks that every class id is below `n_classes` and that the samples fit in u32 ids.
fn check_class_ids(class_ids: &[u32], n_classes: u32) -> Result<()> {
    if let Some(&c) = class_ids.iter().find(|&&c| c >= n_classes) {
        return Err(PrimeError::UnknownId {
            what: "class",
            id: c.into(),
            len: n_classes.into(),
        });
    }
    if class_ids.len() > u32::MAX as usize {
        return Err(PrimeError::InvalidInput(format!(
            "{} samples is more than the engine's limit of {}",
            class_ids.len(),
            u32::MAX
        )));
    }
    Ok(())
}

/// Counting sort of the samples by class, keeping their order within a class: the rows of
/// class `c` are `members[start[c]..start[c + 1]]`.
fn group_by_class(class_ids: &[u32], n_classes: u32) -> (Vec<usize>, Vec<u32>) {
    let mut start = vec![0usize; n_classes as usize + 1];
    for &c in class_ids {
        start[c as usize + 1] += 1;
    }
    for c in 0..n_classes as usize {
        start[c + 1] += start[c];
    }
    let mut fill = start.clone();
    let mut members = vec![0u32; class_ids.len()];
    for (i, &c) in class_ids.iter().enumerate() {
        members[fill[c as usize]] = i as u32;
        fill[c as usize] += 1;
    }
    (start, members)
}

/// The rows `rows` of a CSR table as one class's compact rows (see [`Rows`]), each tag once
/// per row, and each tag's count.
fn distinct_rows(
    indptr: &[u64],
    indices: &[u32],
    rows: &[u32],
    n_tags: u32,
) -> Result<(Vec<u32>, Vec<u32>, Vec<u32>)> {
    let mut last = vec![u32::MAX; n_tags as usize];
    let mut counts = vec![0u32; n_tags as usize];
    let mut row_ptr = Vec::with_capacity(rows.len() + 1);
    let mut ids = Vec::with_capacity(
        rows.iter()
            .map(|&r| (indptr[r as usize + 1] - indptr[r as usize]) as usize)
            .sum(),
    );
    row_ptr.push(0u32);
    for (i, &r) in rows.iter().enumerate() {
        let r = r as usize;
        for &t in &indices[indptr[r] as usize..indptr[r + 1] as usize] {
            if last[t as usize] != i as u32 {
                last[t as usize] = i as u32;
                counts[t as usize] += 1;
                ids.push(t);
            }
        }
        row_ptr.push(u32::try_from(ids.len()).map_err(|_| {
            PrimeError::InvalidInput("a class has more than 2^32 tags in all".into())
        })?);
    }
    Ok((row_ptr, ids, counts))
}

/// One class's rows, the input of [`build_class`]: row `i` (the class's `i`-th sample) is
/// `ids[row_ptr[i]..row_ptr[i + 1]]`, tag ids in any order and none twice, and tag id `t`
/// is in `counts[t]` rows.
struct Rows {
    row_ptr: Vec<u32>,
    ids: Vec<u32>,
    counts: Vec<u32>,
}

/// Builds one class's index from its rows; `global(t)` is the global id of tag id `t`, and
/// `correct` gives each sample's flag in order.
///
/// No row is sorted: the rows are transposed into each tag's samples (ascending, as the
/// samples are visited in order), and those are transposed back into rows, which come out
/// ascending in the local ids because the tags are visited in that order.
fn build_class(
    rows: Rows,
    global: impl Fn(u32) -> u32,
    correct: impl Iterator<Item = bool>,
    min_tag_count: u32,
) -> ClassIndex {
    let Rows {
        row_ptr,
        ids,
        counts: counts_all,
    } = rows;
    let (n_samples, k) = (row_ptr.len() - 1, counts_all.len());
    let mut kept: Vec<u32> = (0..k as u32)
        .filter(|&t| counts_all[t as usize] >= min_tag_count)
        .collect();
    kept.sort_unstable_by_key(|&t| (counts_all[t as usize], global(t)));
    let mut to_local = vec![u32::MAX; k];
    for (l, &t) in kept.iter().enumerate() {
        to_local[t as usize] = l as u32;
    }
    let counts: Vec<u32> = kept.iter().map(|&t| counts_all[t as usize]).collect();
    let tags: Vec<u32> = kept.iter().map(|&t| global(t)).collect();
    let mut lookup: Vec<(u32, u32)> = tags
        .iter()
        .enumerate()
        .map(|(l, &g)| (g, l as u32))
        .collect();
    lookup.sort_unstable();

    // Rows -> each kept tag's ascending samples. (Sums fit in u32: they are at most
    // `ids.len()`, which the row pointers hold.)
    let mut col_ptr = vec![0u32; kept.len() + 1];
    for (l, &c) in counts.iter().enumerate() {
        col_ptr[l + 1] = col_ptr[l] + c;
    }
    let total = col_ptr[kept.len()] as usize;
    let mut col_samples = vec![0u32; total];
    let row_ptr = if kept.len() == k {
        // Every tag kept (the usual case): the rows keep their length and pointers, and the
        // loop needs no check. Each tag's next place is found by its own id.
        let mut next: Vec<u32> = to_local.iter().map(|&l| col_ptr[l as usize]).collect();
        for (i, w) in row_ptr.windows(2).enumerate() {
            for &t in &ids[w[0] as usize..w[1] as usize] {
                col_samples[next[t as usize] as usize] = i as u32;
                next[t as usize] += 1;
            }
        }
        row_ptr
    } else {
        let mut fill = col_ptr[..kept.len()].to_vec();
        let mut kept_ptr = vec![0u32; n_samples + 1];
        for (i, w) in row_ptr.windows(2).enumerate() {
            let mut len = 0;
            for &t in &ids[w[0] as usize..w[1] as usize] {
                let l = to_local[t as usize];
                if l != u32::MAX {
                    col_samples[fill[l as usize] as usize] = i as u32;
                    fill[l as usize] += 1;
                    len += 1;
                }
            }
            kept_ptr[i + 1] = kept_ptr[i] + len;
        }
        kept_ptr
    };
    // ... and back into rows, ascending in the local ids: 16-bit ids in a new layout half
    // the size, or 32-bit ones written over the encoded rows (read no more).
    let columns = |l: usize| &col_samples[col_ptr[l] as usize..col_ptr[l + 1] as usize];
    let row_tags = if kept.len() <= 1 << 16 {
        let mut narrow = vec![0u16; total];
        transpose_back(
            &row_ptr[..n_samples],
            kept.len(),
            columns,
            &mut narrow,
            |l| l as u16,
        );
        RowTags::Narrow(narrow)
    } else {
        let mut wide = ids;
        wide.truncate(total);
        // The index keeps at most an eighth more room than its rows take.
        if wide.capacity() - total > total / 8 {
            wide.shrink_to_fit();
        }
        transpose_back(&row_ptr[..n_samples], kept.len(), columns, &mut wide, |l| l);
        RowTags::Wide(wide)
    };
    let (mut bounds, mut out) = (Vec::new(), Vec::new());
    let bitmaps = (0..kept.len())
        .map(|l| bitmap_of_sorted(columns(l), &mut bounds, &mut out))
        .collect();
    let correct_bm = RoaringBitmap::from_sorted_iter(
        correct
            .enumerate()
            .filter(|&(_, ok)| ok)
            .map(|(i, _)| i as u32),
    )
    .expect("sample ids ascend");
    ClassIndex::new(
        Arc::new(ClassTags {
            n_samples: n_samples as u32,
            tags,
            counts,
            lookup,
            bitmaps,
            row_ptr,
            row_tags,
            dense: OnceLock::new(),
        }),
        correct_bm,
    )
}

/// Writes each sample's row (local tag ids, ascending) from the columns (`column(l)`: the
/// ascending samples of local tag `l`); row `i` starts at `row_start[i]`.
fn transpose_back<'c, T: Copy>(
    row_start: &[u32],
    n_kept: usize,
    column: impl Fn(usize) -> &'c [u32],
    rows: &mut [T],
    id: impl Fn(u32) -> T,
) {
    let mut fill = row_start.to_vec();
    for l in 0..n_kept {
        let tag = id(l as u32);
        for &s in column(l) {
            rows[fill[s as usize] as usize] = tag;
            fill[s as usize] += 1;
        }
    }
}

/// A bitmap of strictly ascending values, built container by container through roaring's
/// portable serialized form (one copy of the values) instead of value by value.
/// `bounds` and `out` are scratch space, kept from one call to the next.
fn bitmap_of_sorted(
    values: &[u32],
    bounds: &mut Vec<(usize, usize)>,
    out: &mut Vec<u8>,
) -> RoaringBitmap {
    const COOKIE_NO_RUN: u32 = 12346;
    const ARRAY_LIMIT: usize = 4096;
    // Containers: runs of values sharing their high 16 bits.
    bounds.clear();
    let mut start = 0;
    while start < values.len() {
        let key = values[start] >> 16;
        let end = start + values[start..].partition_point(|&v| v >> 16 == key);
        bounds.push((start, end));
        start = end;
    }
    let data_len: usize = bounds
        .iter()
        .map(|&(a, b)| {
            if b - a <= ARRAY_LIMIT {
                2 * (b - a)
            } else {
                8192
            }
        })
        .sum();
    let header = 8 + 8 * bounds.len();
    out.clear();
    out.reserve(header + data_len);
    out.extend_from_slice(&COOKIE_NO_RUN.to_le_bytes());
    out.extend_from_slice(&(bounds.len() as u32).to_le_bytes());
    for &(a, b) in bounds.iter() {
        out.extend_from_slice(&((values[a] >> 16) as u16).to_le_bytes());
        out.extend_from_slice(&((b - a - 1) as u16).to_le_bytes());
    }
    let mut offset = header as u32;
    for &(a, b) in bounds.iter() {
        out.extend_from_slice(&offset.to_le_bytes());
        offset += if b - a <= ARRAY_LIMIT {
            2 * (b - a) as u32
        } else {
            8192
        };
    }
    for &(a, b) in bounds.iter() {
        if b - a <= ARRAY_LIMIT {
            for &v in &values[a..b] {
                out.extend_from_slice(&(v as u16).to_le_bytes());
            }
        } else {
            let mut words = [0u64; 1024];
            for &v in &values[a..b] {
                let low = (v & 0xFFFF) as usize;
                words[low / 64] |= 1 << (low % 64);
            }
            for w in words {
                out.extend_from_slice(&w.to_le_bytes());
            }
        }
    }
    RoaringBitmap::deserialize_unchecked_from(&out[..]).expect("a well-formed bitmap")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `n` random rows of tags below `n_tags` (each tag in two rows of three) as CSR arrays,
    /// and the rows themselves.
    fn random_rows(
        next: &mut impl FnMut() -> u64,
        n: usize,
        n_tags: u32,
    ) -> (Vec<u64>, Vec<u32>, Vec<Vec<u32>>) {
        let mut indptr = vec![0u64];
        let mut indices = Vec::new();
        let mut rows = Vec::new();
        for _ in 0..n {
            let row: Vec<u32> = (0..n_tags).filter(|_| next() % 3 != 0).collect();
            indices.extend(&row);
            indptr.push(indices.len() as u64);
            rows.push(row);
        }
        (indptr, indices, rows)
    }

    #[test]
    fn confusions_of_a_class_without_dense_bitsets_count_each_wrong_sample() {
        // Class 0 is too large for dense bitsets (20,000 samples x 907 tags), so its wrong
        // samples are listed by id and their codes counted one by one (also with known error
        // counts: no shortcut without the class's code bitsets).
        let (n0, n1) = (20_000u32, 40u32);
        let tags_of = |i: u32| -> Vec<u32> {
            if i < n0 {
                vec![i % 900, 900 + i % 7]
            } else {
                vec![0, 901]
            }
        };
        let mut indptr = vec![0u64];
        let mut indices = Vec::new();
        for i in 0..n0 + n1 {
            indices.extend(tags_of(i));
            indptr.push(indices.len() as u64);
        }
        let class_ids: Vec<u32> = (0..n0 + n1).map(|i| u32::from(i >= n0)).collect();
        let correct: Vec<bool> = (0..n0 + n1).map(|i| i >= n0 || i % 5 != 0).collect();
        let index = TagIndex::from_csr(&indptr, &indices, &class_ids, &correct, 2, 907, 1).unwrap();
        assert!(index.classes[0].data.dense().is_none());
        // Wrong samples of class 0 are mistaken for code (i / 5) % 3: class 1, class 0's own
        // name (never, for a wrong one, in real data, but a code all the same) or no class.
        let code = |i: u32| {
            if i < n0 && i % 5 == 0 {
                [1, 2, 1][(i / 5 % 3) as usize]
            } else {
                u32::from(i >= n0)
            }
        };
        let predictions = Predictions::new(
            &index,
            (0..n0 + n1).map(code).collect(),
            vec![Some(0), Some(1), None],
        )
        .unwrap();
        let sets: Vec<(u32, Vec<u32>)> = [
            vec![0],
            vec![5],
            vec![900],
            vec![901],
            vec![0, 901],
            vec![3, 903],
            vec![1, 2],
        ]
        .into_iter()
        .map(|tags| (0, tags))
        .collect();
        let n_wrong: Vec<u32> = sets
            .iter()
            .map(|(_, tags)| {
                (0..n0)
                    .filter(|&i| {
                        !correct[i as usize] && tags.iter().all(|t| tags_of(i).contains(t))
                    })
                    .count() as u32
            })
            .collect();
        let found = index.confusions(&sets, &predictions).unwrap();
        assert_eq!(
            index
                .confusions_of(&sets, &predictions, Some(&n_wrong))
                .unwrap(),
            found
        );
        for (((_, tags), got), &wrong) in sets.iter().zip(&found).zip(&n_wrong) {
            let mut tally = [0u32; 3];
            for i in (0..n0)
                .filter(|&i| !correct[i as usize] && tags.iter().all(|t| tags_of(i).contains(t)))
            {
                tally[code(i) as usize] += 1;
            }
            let best = *tally.iter().max().unwrap();
            let want =
                (best > 0).then(|| (tally.iter().position(|&k| k == best).unwrap() as u32, best));
            assert_eq!((got.n_wrong, got.top), (wrong, want), "tags {tags:?}");
            let other = (0..n0 + n1)
                .filter(|&i| i >= n0 && tags.iter().all(|t| tags_of(i).contains(t)))
                .count() as u32;
            let want_other = want.and_then(|(k, _)| (k == 1).then_some(other));
            assert_eq!(got.other_support, want_other, "tags {tags:?}");
        }
        assert!(found.iter().any(|c| c.top.is_some_and(|(k, _)| k == 2)));
        assert!(found.iter().any(|c| c.other_support.is_some_and(|k| k > 0)));
        assert!(found.iter().any(|c| c.top.is_none()));
    }

    #[test]
    fn confusions_with_known_error_counts_skip_classes_of_one_code() {
        // Every wrong sample of class c is mistaken for class (c + 1) % 3; class 2 has no
        // wrong sample. Given each set's error count, `confusions_of` skips the pass over
        // the wrong samples for such classes; the result must be what the pass gives.
        let mut next = crate::testing::xorshift(0x0e_c0de);
        let (n, n_classes, n_tags) = (700usize, 3u32, 7u32);
        let (indptr, indices, rows) = random_rows(&mut next, n, n_tags);
        let class_ids: Vec<u32> = (0..n).map(|_| (next() % 3) as u32).collect();
        let correct: Vec<bool> = (0..n)
            .map(|i| class_ids[i] == 2 || next() % 4 != 0)
            .collect();
        let index = TagIndex::from_csr(
            &indptr, &indices, &class_ids, &correct, n_classes, n_tags, 1,
        )
        .unwrap();
        let mut grouped = Vec::new();
        for c in 0..n_classes {
            for i in (0..n).filter(|&i| class_ids[i] == c) {
                grouped.push(if correct[i] { c } else { (c + 1) % n_classes });
            }
        }
        let code_class: Vec<Option<u32>> = (0..n_classes).map(Some).collect();
        let predictions = Predictions::new(&index, grouped, code_class).unwrap();
        let mut sets = Vec::new();
        let mut n_wrong = Vec::new();
        for c in 0..n_classes {
            for mask in 0u32..(1 << n_tags) {
                if mask.count_ones() <= 4 {
                    let tags: Vec<u32> = (0..n_tags).filter(|t| mask >> t & 1 == 1).collect();
                    n_wrong.push(
                        (0..n)
                            .filter(|&i| {
                                class_ids[i] == c
                                    && !correct[i]
                                    && tags.iter().all(|t| rows[i].contains(t))
                            })
                            .count() as u32,
                    );
                    sets.push((c, tags));
                }
            }
        }
        let by_class = index.code_bitsets(&sets, &predictions);
        let codes: Vec<usize> = by_class
            .iter()
            .map(|cb| cb.as_ref().unwrap().codes.len())
            .collect();
        assert_eq!(codes, vec![1, 1, 0]);
        let passed = index.confusions(&sets, &predictions).unwrap();
        let known = index
            .confusions_of(&sets, &predictions, Some(&n_wrong))
            .unwrap();
        assert_eq!(known, passed);
        assert!(known
            .iter()
            .any(|c| c.top.is_some() && c.other_support.is_some()));
        assert!(known.iter().any(|c| c.top.is_none()));
        assert!(index
            .confusions_of(&sets, &predictions, Some(&n_wrong[1..]))
            .is_err());
    }

    /// What each tag set's wrong samples were mistaken for, against a direct count over the
    /// samples, on random data where the classes keep dense bitsets; and the two ways of
    /// counting codes (a bitset per code, a look-up per wrong sample) agree on every set.
    #[test]
    fn confusions_count_codes_both_ways_alike() {
        let mut next = crate::testing::xorshift(0x5eed_c0de);
        for round in 0..6u64 {
            let n = 150 + 130 * round as usize;
            let (n_classes, n_tags, n_codes) = (3u32, 6u32, 2 + round as u32);
            let (indptr, indices, rows) = random_rows(&mut next, n, n_tags);
            let class_ids: Vec<u32> = (0..n)
                .map(|_| (next() % u64::from(n_classes)) as u32)
                .collect();
            let correct: Vec<bool> = (0..n).map(|_| next() % 3 != 0).collect();
            let index = TagIndex::from_csr(
                &indptr, &indices, &class_ids, &correct, n_classes, n_tags, 1,
            )
            .unwrap();
            // Codes by class, as `Predictions` wants them; the first codes name classes.
            let code: Vec<u32> = (0..n)
                .map(|_| (next() % u64::from(n_codes)) as u32)
                .collect();
            let mut grouped = Vec::new();
            let mut members: Vec<Vec<usize>> = vec![Vec::new(); n_classes as usize];
            for c in 0..n_classes {
                for i in (0..n).filter(|&i| class_ids[i] == c) {
                    grouped.push(code[i]);
                    members[c as usize].push(i);
                }
            }
            let code_class: Vec<Option<u32>> =
                (0..n_codes).map(|k| (k < n_classes).then_some(k)).collect();
            let predictions = Predictions::new(&index, grouped, code_class).unwrap();
            let mut sets = Vec::new();
            for c in 0..n_classes {
                for mask in 1u32..(1 << n_tags) {
                    if mask.count_ones() <= 3 {
                        sets.push((
                            c,
                            (0..n_tags)
                                .filter(|t| mask >> t & 1 == 1)
                                .collect::<Vec<u32>>(),
                        ));
                    }
                }
            }
            let by_class = index.code_bitsets(&sets, &predictions);
            let found = index.confusions(&sets, &predictions).unwrap();
            let mut words = Vec::new();
            let mut counts = vec![0u32; n_codes as usize];
            for ((class, tags), got) in sets.iter().zip(&found) {
                let ci = &index.classes[*class as usize];
                assert!(ci.data.dense().is_some());
                // Directly: the class's wrong samples carrying every tag.
                let mut tally = vec![0u32; n_codes as usize];
                for &i in &members[*class as usize] {
                    if !correct[i] && tags.iter().all(|t| rows[i].contains(t)) {
                        tally[code[i] as usize] += 1;
                    }
                }
                let best = tally.iter().copied().max().unwrap();
                let want = (best > 0)
                    .then(|| (tally.iter().position(|&k| k == best).unwrap() as u32, best));
                assert_eq!(got.n_wrong, tally.iter().sum::<u32>());
                assert_eq!(got.top, want, "class {class} tags {tags:?}");
                let other = want.and_then(|(k, _)| (k < n_classes).then_some(k));
                let other_support = other.map(|o| {
                    (0..n)
                        .filter(|&i| class_ids[i] == o && tags.iter().all(|t| rows[i].contains(t)))
                        .count() as u32
                });
                assert_eq!(got.other_support, other_support);
                // Both ways of counting, whichever `confusions` chose.
                assert!(matches!(
                    index.wrong_members(*class, tags, &mut words).unwrap(),
                    Wrong::Bits
                ));
                let codes = &predictions.codes[predictions.start[*class as usize]..];
                let cb = by_class[*class as usize].as_ref().unwrap();
                assert_eq!(cb.top(&words), want);
                assert_eq!(top_code(set_bits(&words), codes, &mut counts), want);
                assert!(counts.iter().all(|&k| k == 0));
            }
        }
    }

    /// Array and bitmap containers, several keys, empty and full ones, against roaring's own
    /// value-by-value construction.
    #[test]
    fn bitmap_of_sorted_equals_roaring() {
        let mut state = 7u64;
        let mut next = move || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) as u32
        };
        let mut cases: Vec<Vec<u32>> = vec![
            vec![],
            vec![0],
            vec![u32::MAX],
            (0..4096).collect(),
            (0..4097).collect(),
            (0..65536).collect(),
            (65530..70000).chain(200_000..200_001).collect(),
        ];
        for density in [1, 3, 10, 40, 200] {
            let mut v: Vec<u32> = (0..300_000).filter(|_| next() % density == 0).collect();
            v.dedup();
            cases.push(v);
        }
        // The scratch space carries over from case to case, as it does in a build.
        let (mut bounds, mut out) = (Vec::new(), Vec::new());
        for values in cases {
            let expected = RoaringBitmap::from_sorted_iter(values.iter().copied()).unwrap();
            let got = bitmap_of_sorted(&values, &mut bounds, &mut out);
            assert_eq!(got, expected, "{} values", values.len());
            assert_eq!(got.len(), values.len() as u64);
            got.internal_validate().unwrap();
        }
    }
}
