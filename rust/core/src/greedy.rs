//! Greedy (beam) search, PRIME appendix A.6: at each size keep only the `beam_width` sets
//! with the largest accuracy drop that still meet the support, and extend only those.
//!
//! It may miss modes, and it is faster than the exhaustive search only where the lattice is
//! large and deep (see benches/RESULTS.md): the exhaustive search prunes well. Every set it
//! reports is judged exactly as the exhaustive search judges it (minimality is checked
//! with recounted statistics even for subsets the beam dropped), so its modes are always a
//! subset of the exhaustive ones, with identical statistics.

use std::sync::atomic::{AtomicBool, Ordering};

use rayon::prelude::*;
use roaring::RoaringBitmap;

use crate::error::{PrimeError, Result};
use crate::index::TagIndex;
use crate::params::SearchParams;
use crate::search::{
    attach_p_values, class_plans, pack, sort_modes, ClassPlan, Counts, SearchOutput,
};

/// A set on the beam: local tag ids (ascending), its samples and its counts.
struct Beamed {
    tags: Vec<u32>,
    samples: RoaringBitmap,
    counts: Counts,
}

/// Greedy search with a beam of `beam_width` sets per size and class.
///
/// ```
/// use std::sync::atomic::AtomicBool;
/// use prime_core::{greedy_search, search, SearchParams, TagIndex};
/// let indptr: Vec<u64> = (0..=10).map(|i: u64| i.min(4)).collect();
/// let correct: Vec<bool> = (0..10).map(|i| i >= 4).collect();
/// let index = TagIndex::from_csr(&indptr, &[0; 4], &[0; 10], &correct, 1, 1, 1).unwrap();
/// let params = SearchParams { min_support: 3, ..SearchParams::default() };
/// let cancel = AtomicBool::new(false);
/// let greedy = greedy_search(&index, &params, 10, &cancel).unwrap();
/// let exhaustive = search(&index, &params, &cancel).unwrap();
/// assert_eq!(greedy.modes, exhaustive.modes);
/// ```
pub fn greedy_search(
    index: &TagIndex,
    params: &SearchParams,
    beam_width: usize,
    cancel: &AtomicBool,
) -> Result<SearchOutput> {
    params.validate()?;
    if beam_width < 1 {
        return Err(PrimeError::InvalidParameter {
            name: "beam_width",
            message: format!("must be at least 1, got {beam_width}"),
        });
    }
    let plans = class_plans(index, params)?;
    let results: Vec<(u32, Vec<u64>, Vec<crate::FailureMode>)> = plans
        .par_iter()
        .with_max_len(1)
        .map(|plan| {
            let (tested, modes) = beam_class(plan, params, beam_width, cancel);
            (plan.class, tested, modes)
        })
        .collect();
    if cancel.load(Ordering::Relaxed) {
        return Err(PrimeError::Cancelled);
    }
    let mut sets_tested = vec![0u64; index.n_classes()];
    let mut modes = Vec::new();
    for (class, counts, class_modes) in results {
        sets_tested[class as usize] = counts.len() as u64;
        modes.extend(class_modes);
    }
    attach_p_values(&mut modes);
    sort_modes(&mut modes);
    Ok(SearchOutput { modes, sets_tested })
}

fn beam_class(
    plan: &ClassPlan,
    params: &SearchParams,
    beam_width: usize,
    cancel: &AtomicBool,
) -> (Vec<u64>, Vec<crate::FailureMode>) {
    let ci = plan.ci;
    let mut tested = Vec::new();
    let mut modes = Vec::new();
    let mut judge = |set: &[u32], c: Counts, tested: &mut Vec<u64>| {
        tested.push(pack(c));
        if c.accuracy() > plan.threshold {
            return;
        }
        let subsets: Box<dyn Iterator<Item = f64>> = if set.len() == 1 {
            Box::new(std::iter::once(plan.class_accuracy))
        } else {
            Box::new((0..set.len()).map(|skip| plan.accuracy_without(set, skip)))
        };
        if let Some(mode) = plan.judge(params, set, c, subsets) {
            modes.push(mode);
        }
    };

    let mut level: Vec<Beamed> = Vec::new();
    for (r, &t) in plan.active.iter().enumerate() {
        let c = plan.singleton(r);
        if c.support < params.min_support {
            continue;
        }
        judge(&[t], c, &mut tested);
        level.push(Beamed {
            tags: vec![t],
            samples: ci.data.bitmaps[t as usize].clone(),
            counts: c,
        });
    }
    for _size in 2..=params.max_tags {
        if cancel.load(Ordering::Relaxed) || level.is_empty() {
            break;
        }
        keep_best(&mut level, beam_width);
        let mut next: Vec<Beamed> = Vec::new();
        for parent in &level {
            let parent_correct = &parent.samples & &ci.correct;
            for &t in &plan.active {
                if parent.tags.contains(&t) {
                    continue;
                }
                let tag = &ci.data.bitmaps[t as usize];
                let support = parent.samples.intersection_len(tag) as u32;
                if support < params.min_support {
                    continue;
                }
                let mut tags = parent.tags.clone();
                tags.push(t);
                tags.sort_unstable();
                let n_correct = parent_correct.intersection_len(tag) as u32;
                if support - n_correct < plan.min_errors {
                    // Too few errors for it, or any superset, to be a mode.
                    continue;
                }
                next.push(Beamed {
                    tags,
                    samples: RoaringBitmap::new(),
                    counts: Counts {
                        support,
                        errors: support - n_correct,
                    },
                });
            }
        }
        // One set can be reached from several parents: judge it once.
        next.sort_by(|a, b| a.tags.cmp(&b.tags));
        next.dedup_by(|a, b| a.tags == b.tags);
        for set in &next {
            judge(&set.tags, set.counts, &mut tested);
        }
        keep_best(&mut next, beam_width);
        for set in &mut next {
            let mut samples = ci.data.bitmaps[set.tags[0] as usize].clone();
            for &t in &set.tags[1..] {
                samples &= &ci.data.bitmaps[t as usize];
            }
            set.samples = samples;
        }
        level = next;
    }
    (tested, modes)
}

/// Keeps the `width` sets of lowest accuracy (largest drop), ties broken by tags.
fn keep_best(sets: &mut Vec<Beamed>, width: usize) {
    sets.sort_by(|a, b| {
        a.counts
            .accuracy()
            .total_cmp(&b.counts.accuracy())
            .then_with(|| a.tags.cmp(&b.tags))
    });
    sets.truncate(width);
}
