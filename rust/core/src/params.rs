//! Parameters of the failure-mode search and of the lattice of frequent sets.

use crate::error::{PrimeError, Result};

/// Parameters of the PRIME failure-mode search (paper section 3).
///
/// A tag set `S` of class `c` is a failure mode when `|S| <= max_tags`,
/// `|I_S| >= min_support`, `A_S <= A_c - min_drop`, and for every `t` in `S`,
/// `A_{S-t} >= A_S + b_|S|` with `b_1 = 0` and `b_2, b_3, ...` taken from `necessity`
/// (sizes past its end reuse its last value).
///
/// ```
/// let p = prime_core::SearchParams::default();
/// assert_eq!((p.max_tags, p.min_support), (4, 30));
/// assert_eq!(p.necessity_for(1), 0.0);
/// assert_eq!(p.necessity_for(3), 0.05);
/// assert_eq!(p.necessity_for(6), 0.025);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct SearchParams {
    /// Largest tag set considered (`l`).
    pub max_tags: usize,
    /// Smallest group size (`s`).
    pub min_support: u32,
    /// Smallest accuracy drop below the class accuracy (`a`), in `[0, 1]`.
    pub min_drop: f64,
    /// `b_2, b_3, ...`: how much easier every subset with one tag fewer must be.
    pub necessity: Vec<f64>,
    /// Tags in fewer samples of a class are not searched in it; `None` means `min_support`.
    pub min_tag_count: Option<u32>,
    /// Search only these classes; `None` searches all.
    pub classes: Option<Vec<u32>>,
}

impl Default for SearchParams {
    fn default() -> Self {
        SearchParams {
            max_tags: 4,
            min_support: 30,
            min_drop: 0.30,
            necessity: vec![0.10, 0.05, 0.025],
            min_tag_count: None,
            classes: None,
        }
    }
}

impl SearchParams {
    /// `b_k`: the necessity margin for a set of `size` tags.
    pub fn necessity_for(&self, size: usize) -> f64 {
        if size <= 1 {
            return 0.0;
        }
        let i = (size - 2).min(self.necessity.len().saturating_sub(1));
        self.necessity.get(i).copied().unwrap_or(0.0)
    }

    /// Checks every parameter's range.
    pub fn validate(&self) -> Result<()> {
        check_common(self.max_tags, self.min_support)?;
        if !(0.0..=1.0).contains(&self.min_drop) {
            return Err(PrimeError::InvalidParameter {
                name: "min_drop",
                message: format!("{} is outside [0, 1]", self.min_drop),
            });
        }
        if self.necessity.is_empty() {
            return Err(PrimeError::InvalidParameter {
                name: "necessity",
                message: "needs at least one value (b_2)".into(),
            });
        }
        if let Some(b) = self.necessity.iter().find(|b| !(0.0..=1.0).contains(*b)) {
            return Err(PrimeError::InvalidParameter {
                name: "necessity",
                message: format!("{b} is outside [0, 1]"),
            });
        }
        Ok(())
    }

    pub(crate) fn lattice(&self) -> LatticeParams {
        LatticeParams {
            max_tags: self.max_tags,
            min_support: self.min_support,
            min_tag_count: self.min_tag_count,
            classes: self.classes.clone(),
        }
    }
}

/// Parameters of [`crate::frequent_sets`]: every tag set with `1 <= |S| <= max_tags` and
/// `|I_S| >= min_support`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LatticeParams {
    /// Largest tag set listed.
    pub max_tags: usize,
    /// Smallest group size listed.
    pub min_support: u32,
    /// Tags in fewer samples of a class are left out; `None` means `min_support`.
    pub min_tag_count: Option<u32>,
    /// Only these classes; `None` lists all.
    pub classes: Option<Vec<u32>>,
}

impl LatticeParams {
    /// Checks every parameter's range.
    pub fn validate(&self) -> Result<()> {
        check_common(self.max_tags, self.min_support)
    }

    /// The tag-count threshold in force: tags below it cannot be in any listed set.
    pub(crate) fn tag_threshold(&self) -> u32 {
        self.min_tag_count
            .unwrap_or(self.min_support)
            .max(self.min_support)
            .max(1)
    }
}

fn check_common(max_tags: usize, min_support: u32) -> Result<()> {
    if max_tags < 1 {
        return Err(PrimeError::InvalidParameter {
            name: "max_tags",
            message: format!("must be at least 1, got {max_tags}"),
        });
    }
    if max_tags > 64 {
        return Err(PrimeError::InvalidParameter {
            name: "max_tags",
            message: format!("must be at most 64, got {max_tags}"),
        });
    }
    if min_support < 1 {
        return Err(PrimeError::InvalidParameter {
            name: "min_support",
            message: "must be at least 1 (an empty group has no accuracy)".into(),
        });
    }
    Ok(())
}
