//! The columns a mode table adds to the modes a search returns: the Wilson interval of
//! each mode's accuracy, its impact, and (given the predictions) what its errors are
//! mistaken for. The binding only converts these to Arrow; a Rust caller gets the same
//! numbers.

use crate::error::Result;
use crate::index::{Predictions, TagIndex};
use crate::search::FailureMode;

/// The two-sided normal quantile of a 95 % confidence level, the default `z` of
/// [`wilson_interval`].
pub const Z_95: f64 = 1.959963984540054;

/// The Wilson score interval `(low, high)` of the accuracy `n_correct / n` at the normal
/// quantile `z` (1.96 for 95 %), clamped to `[0, 1]`; both `NaN` when `n` is 0.
///
/// Counts are taken as `f64` (exact below 2^53), so that callers holding counts of any
/// integer type, or as floats, share one formula.
///
/// ```
/// use prime_core::{wilson_interval, Z_95};
/// let (low, high) = wilson_interval(8.0, 10.0, Z_95);
/// assert_eq!(((low * 1e4).round(), (high * 1e4).round()), (4902.0, 9433.0));
/// assert!(wilson_interval(0.0, 0.0, Z_95).0.is_nan());
/// ```
pub fn wilson_interval(n_correct: f64, n: f64, z: f64) -> (f64, f64) {
    let p = n_correct / n;
    let denom = 1.0 + z * z / n;
    let center = (p + z * z / (2.0 * n)) / denom;
    let half = z * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt() / denom;
    // `clamp` keeps a NaN a NaN, as the empty group's interval must stay.
    (
        (center - half).clamp(0.0, 1.0),
        (center + half).clamp(0.0, 1.0),
    )
}

/// The errors a mode accounts for beyond its class's error rate:
/// `support * (class_accuracy - accuracy)`.
///
/// ```
/// use prime_core::{impact, FailureMode};
/// let mode = FailureMode { class: 0, tags: vec![3], support: 40, n_correct: 10,
///     accuracy: 0.25, class_accuracy: 0.75, drop: 0.5, necessity: 0.5, p_value: 1e-9,
///     q_value: None };
/// assert_eq!(impact(&mode), 20.0);
/// ```
pub fn impact(mode: &FailureMode) -> f64 {
    f64::from(mode.support) * (mode.class_accuracy - mode.accuracy)
}

/// What each mode's misclassified samples were mistaken for (see [`confusion_columns`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConfusionColumns {
    /// The most frequent wrong prediction code of each mode (ties: the smallest); `None`
    /// for a mode without errors.
    pub top: Vec<Option<u32>>,
    /// The share of the mode's errors that went to `top`; `None` without errors.
    pub confused_share: Vec<Option<f64>>,
    /// How much more often the mode's tags occur in the class `top` names than in the
    /// mode's own class: `(support of the tags there / that class's size) / (support /
    /// own class's size)`; `None` without errors or when `top` names no class.
    pub tag_lift: Vec<Option<f64>>,
}

/// The confusion columns of `modes` (found on `index`) given the samples' `predictions`.
///
/// ```
/// use prime_core::{confusion_columns, FailureMode, Predictions, TagIndex};
/// // Class 0: samples 0 and 1 carry tag 0; sample 1 is wrong, predicted as code 1 (class 1),
/// // whose one sample carries no tag.
/// let index = TagIndex::from_csr(&[0, 1, 2, 2], &[0, 0], &[0, 0, 1], &[true, false, true], 2, 1, 1)
///     .unwrap();
/// let predictions = Predictions::new(&index, vec![0, 1, 1], vec![Some(0), Some(1)]).unwrap();
/// let mode = FailureMode { class: 0, tags: vec![0], support: 2, n_correct: 1,
///     accuracy: 0.5, class_accuracy: 0.5, drop: 0.0, necessity: 0.0, p_value: 1.0,
///     q_value: None };
/// let columns = confusion_columns(&index, &[mode], &predictions).unwrap();
/// assert_eq!(columns.top, vec![Some(1)]);
/// assert_eq!(columns.confused_share, vec![Some(1.0)]);
/// assert_eq!(columns.tag_lift, vec![Some(0.0)]);
/// ```
pub fn confusion_columns(
    index: &TagIndex,
    modes: &[FailureMode],
    predictions: &Predictions,
) -> Result<ConfusionColumns> {
    let sets: Vec<(u32, Vec<u32>)> = modes.iter().map(|m| (m.class, m.tags.clone())).collect();
    let n_wrong: Vec<u32> = modes.iter().map(|m| m.support - m.n_correct).collect();
    let found = index.confusions_of(&sets, predictions, Some(&n_wrong))?;
    let class_size = |c: u32| index.class(c).map(|ci| f64::from(ci.n_samples()));
    let mut out = ConfusionColumns::default();
    for (c, m) in found.iter().zip(modes) {
        let Some((code, count)) = c.top else {
            out.top.push(None);
            out.confused_share.push(None);
            out.tag_lift.push(None);
            continue;
        };
        out.top.push(Some(code));
        out.confused_share
            .push(Some(f64::from(count) / f64::from(c.n_wrong)));
        out.tag_lift
            .push(match (predictions.class_of(code), c.other_support) {
                (Some(other), Some(k)) => Some(
                    (f64::from(k) / class_size(other)?)
                        / (f64::from(m.support) / class_size(m.class)?),
                ),
                _ => None,
            });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The interval by its textbook definition: the roots in `p` of
    /// `(p_hat - p)^2 = z^2 p (1 - p) / n`.
    fn roots(k: f64, n: f64, z: f64) -> (f64, f64) {
        let p_hat = k / n;
        let (a, b, c) = (1.0 + z * z / n, -(2.0 * p_hat + z * z / n), p_hat * p_hat);
        let d = (b * b - 4.0 * a * c).max(0.0).sqrt();
        ((-b - d) / (2.0 * a), (-b + d) / (2.0 * a))
    }

    #[test]
    fn wilson_agrees_with_the_quadratic_roots() {
        for n in 1..60u32 {
            for k in 0..=n {
                for z in [1.0, Z_95, 2.575_829_303_548_901] {
                    let (low, high) = wilson_interval(k.into(), n.into(), z);
                    let (r_low, r_high) = roots(k.into(), n.into(), z);
                    assert!(
                        (low - r_low.clamp(0.0, 1.0)).abs() < 1e-12,
                        "{k}/{n} at {z}"
                    );
                    assert!(
                        (high - r_high.clamp(0.0, 1.0)).abs() < 1e-12,
                        "{k}/{n} at {z}"
                    );
                    let p = f64::from(k) / f64::from(n);
                    assert!(low <= p + 1e-15 && p <= high + 1e-15 && (0.0..=1.0).contains(&low));
                }
            }
        }
    }

    #[test]
    fn wilson_of_an_empty_group_is_nan_and_bounds_are_clamped() {
        let (low, high) = wilson_interval(0.0, 0.0, Z_95);
        assert!(low.is_nan() && high.is_nan());
        assert_eq!(wilson_interval(0.0, 5.0, Z_95).0, 0.0);
        assert_eq!(wilson_interval(5.0, 5.0, Z_95).1, 1.0);
        // A zero-width interval at z = 0.
        assert_eq!(wilson_interval(3.0, 4.0, 0.0), (0.75, 0.75));
    }

    #[test]
    fn confusion_columns_follow_the_definitions() {
        // Class 0: samples 0..4 carry tag 0; samples 1, 2, 3 are wrong, predicted 1, 1, 2.
        // Class 1: samples 4, 5; sample 4 carries tag 0. Code 2 names no class.
        let indptr = [0, 1, 2, 3, 4, 5, 5];
        let index = TagIndex::from_csr(
            &indptr,
            &[0, 0, 0, 0, 0],
            &[0, 0, 0, 0, 1, 1],
            &[true, false, false, false, true, true],
            2,
            1,
            1,
        )
        .unwrap();
        let predictions =
            Predictions::new(&index, vec![0, 1, 1, 2, 1, 1], vec![Some(0), Some(1), None]).unwrap();
        let mode = |class, n_correct, support| FailureMode {
            class,
            tags: vec![0],
            support,
            n_correct,
            accuracy: f64::from(n_correct) / f64::from(support),
            class_accuracy: 0.5,
            drop: 0.0,
            necessity: 0.0,
            p_value: 1.0,
            q_value: None,
        };
        let modes = [mode(0, 1, 4), mode(1, 1, 1)];
        let got = confusion_columns(&index, &modes, &predictions).unwrap();
        assert_eq!(got.top, vec![Some(1), None]);
        assert_eq!(got.confused_share, vec![Some(2.0 / 3.0), None]);
        // Tag 0 in class 1: 1 of 2 samples; in class 0: 4 of 4.
        assert_eq!(got.tag_lift, vec![Some((1.0 / 2.0) / (4.0 / 4.0)), None]);
    }
}
