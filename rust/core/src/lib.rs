//! # prime-core
//!
//! The engine of prime_rs: finds the failure modes of a classifier the way PRIME does
//! ("Prioritizing Interpretability in Failure Mode Extraction", ICLR 2024). Every sample
//! carries a class, whether the classifier got it right, and a set of human-readable tags;
//! a failure mode of class `c` is a small tag set whose samples the classifier gets much
//! more often wrong than the rest of `c`, and that needs every one of its tags to be so.
//!
//! This crate has no Python in it and no `unsafe` code: build a [`TagIndex`] from CSR
//! arrays ([`TagIndex::from_csr`]) or from tag strings ([`TagIndex::from_tag_rows`] over
//! any [`TagRows`]), then call [`search`] (or [`greedy_search`]) for the modes,
//! [`attach_q_values`] for their q-values, [`frequent_sets`] for the whole lattice, or
//! [`TagIndex::stats`] for one set. The mode table's other columns come from
//! [`wilson_interval`], [`impact`] and [`confusion_columns`].
//!
//! The crate's `examples/embed.rs` is a whole small tool: its own rows in, the mode table
//! out (`cargo run --release -p prime-core --example embed`).
#![warn(missing_docs)]
// Denied everywhere but in `pext`, which wraps one BMI2 instruction behind a run-time check.
#![deny(unsafe_code)]

mod encode;
mod error;
mod greedy;
mod index;
mod params;
mod pext;
mod search;
mod stats;
mod table;

pub use encode::{encode_strings, Tag, TagRows};
pub use error::{PrimeError, Result};
pub use greedy::greedy_search;
pub use index::{ClassIndex, Confusion, Predictions, SetStats, TagIndex};
pub use params::{LatticeParams, SearchParams};
pub use search::{
    attach_q_values, frequent_sets, q_value_family, search, search_with_q_values, with_threads,
    with_threads_meanwhile, FailureMode, FrequentSets, SearchOutput,
};
pub use stats::{bh_q_values, binomial_cdf, binomial_cdfs, ln_gamma};
pub use table::{confusion_columns, impact, wilson_interval, ConfusionColumns, Z_95};

/// The README's example, run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

/// What the unit tests share.
#[cfg(test)]
mod testing {
    /// A xorshift generator of test inputs: the same numbers on every run.
    pub(crate) fn xorshift(mut state: u64) -> impl FnMut() -> u64 {
        move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        }
    }
}
