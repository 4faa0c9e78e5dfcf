//! The per-class index: one roaring bitmap per tag, the correct samples, and the
//! samples' own tag lists (the horizontal layout the search projects from).

use std::sync::Arc;

use rayon::prelude::*;
use roaring::RoaringBitmap;

use crate::error::{PrimeError, Result};

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
    pub(crate) row_ptr: Vec<usize>,
    pub(crate) row_tags: Vec<u32>,
}

impl ClassIndex {
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

    pub(crate) fn row(&self, sample: u32) -> &[u32] {
        let s = sample as usize;
        &self.data.row_tags[self.data.row_ptr[s]..self.data.row_ptr[s + 1]]
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
        if let Some(&c) = class_ids.iter().find(|&&c| c >= n_classes) {
            return Err(PrimeError::UnknownId {
                what: "class",
                id: c.into(),
                len: n_classes.into(),
            });
        }
        if n > u32::MAX as usize {
            return Err(PrimeError::InvalidInput(format!(
                "{n} samples is more than the engine's limit of {}",
                u32::MAX
            )));
        }

        // Counting sort of the samples by class, keeping their order within a class.
        let mut class_start = vec![0usize; n_classes as usize + 1];
        for &c in class_ids {
            class_start[c as usize + 1] += 1;
        }
        for c in 0..n_classes as usize {
            class_start[c + 1] += class_start[c];
        }
        let mut fill = class_start.clone();
        let mut members = vec![0u32; n];
        for (i, &c) in class_ids.iter().enumerate() {
            members[fill[c as usize]] = i as u32;
            fill[c as usize] += 1;
        }

        let min_tag_count = min_tag_count.max(1);
        let classes = (0..n_classes as usize)
            .into_par_iter()
            .map(|c| {
                let rows = &members[class_start[c]..class_start[c + 1]];
                build_class(rows, indptr, indices, correct, n_tags, min_tag_count)
            })
            .collect();
        Ok(TagIndex { n_tags, classes })
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
                return Ok(Vec::new());
            };
            let b = &ci.data.bitmaps[l as usize];
            acc = Some(match acc {
                None => b.clone(),
                Some(a) => a & b,
            });
        }
        Ok(match acc {
            Some(a) => a.iter().collect(),
            None => (0..ci.data.n_samples).collect(),
        })
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
        let mut out = self.clone();
        for (ci, b) in out.classes.iter_mut().zip(bitmaps) {
            ci.correct = b;
        }
        Ok(out)
    }
}

fn build_class(
    rows: &[u32],
    indptr: &[u64],
    indices: &[u32],
    correct: &[bool],
    n_tags: u32,
    min_tag_count: u32,
) -> ClassIndex {
    // Count each global tag once per sample (rows may repeat a tag).
    let mut counts_global = vec![0u32; n_tags as usize];
    let mut last_seen = vec![u32::MAX; n_tags as usize];
    for (local_sample, &r) in rows.iter().enumerate() {
        let r = r as usize;
        for &t in &indices[indptr[r] as usize..indptr[r + 1] as usize] {
            if last_seen[t as usize] != local_sample as u32 {
                last_seen[t as usize] = local_sample as u32;
                counts_global[t as usize] += 1;
            }
        }
    }
    let mut kept: Vec<u32> = (0..n_tags)
        .filter(|&t| counts_global[t as usize] >= min_tag_count)
        .collect();
    kept.sort_by_key(|&t| (counts_global[t as usize], t));
    let mut to_local = vec![u32::MAX; n_tags as usize];
    for (l, &g) in kept.iter().enumerate() {
        to_local[g as usize] = l as u32;
    }
    let counts: Vec<u32> = kept.iter().map(|&g| counts_global[g as usize]).collect();
    let mut lookup: Vec<(u32, u32)> = kept
        .iter()
        .enumerate()
        .map(|(l, &g)| (g, l as u32))
        .collect();
    lookup.sort_unstable();

    let mut row_ptr = Vec::with_capacity(rows.len() + 1);
    row_ptr.push(0usize);
    let mut row_tags = Vec::new();
    for &r in rows {
        let r = r as usize;
        let start = row_tags.len();
        row_tags.extend(
            indices[indptr[r] as usize..indptr[r + 1] as usize]
                .iter()
                .map(|&t| to_local[t as usize])
                .filter(|&l| l != u32::MAX),
        );
        row_tags[start..].sort_unstable();
        let mut kept_len = start;
        for i in start..row_tags.len() {
            if i == start || row_tags[i] != row_tags[kept_len - 1] {
                row_tags[kept_len] = row_tags[i];
                kept_len += 1;
            }
        }
        row_tags.truncate(kept_len);
        row_ptr.push(row_tags.len());
    }
    // Transpose the rows into each tag's ascending sample list, then into a bitmap.
    let mut col_ptr = vec![0usize; kept.len() + 1];
    for (l, &c) in counts.iter().enumerate() {
        col_ptr[l + 1] = col_ptr[l] + c as usize;
    }
    let mut fill = col_ptr.clone();
    let mut col_samples = vec![0u32; row_tags.len()];
    for sample in 0..rows.len() {
        for &l in &row_tags[row_ptr[sample]..row_ptr[sample + 1]] {
            col_samples[fill[l as usize]] = sample as u32;
            fill[l as usize] += 1;
        }
    }
    let bitmaps = (0..kept.len())
        .map(|l| {
            RoaringBitmap::from_sorted_iter(col_samples[col_ptr[l]..col_ptr[l + 1]].iter().copied())
                .expect("sample ids ascend")
        })
        .collect();
    let correct_bm = RoaringBitmap::from_sorted_iter(
        rows.iter()
            .enumerate()
            .filter(|&(_, &r)| correct[r as usize])
            .map(|(i, _)| i as u32),
    )
    .expect("sample ids ascend");
    ClassIndex {
        data: Arc::new(ClassTags {
            n_samples: rows.len() as u32,
            tags: kept,
            counts,
            lookup,
            bitmaps,
            row_ptr,
            row_tags,
        }),
        correct: correct_bm,
    }
}
