//! # prime-core
//!
//! The engine of prime_rs: finds the failure modes of a classifier the way PRIME does
//! ("Prioritizing Interpretability in Failure Mode Extraction", ICLR 2024). Every sample
//! carries a class, whether the classifier got it right, and a set of human-readable tags;
//! a failure mode of class `c` is a small tag set whose samples the classifier gets much
//! more often wrong than the rest of `c`, and that needs every one of its tags to be so.
//!
//! This crate has no Python in it: build a [`TagIndex`] from CSR arrays, then call
//! [`search`] for the modes, [`frequent_sets`] for the whole lattice, or
//! [`TagIndex::stats`] for one set.
#![warn(missing_docs)]

mod encode;
mod error;
mod greedy;
mod index;
mod params;
mod search;
mod stats;

pub use encode::{encode_strings, Tag, TagRows};
pub use error::{PrimeError, Result};
pub use greedy::greedy_search;
pub use index::{ClassIndex, Confusion, Predictions, SetStats, TagIndex};
pub use params::{LatticeParams, SearchParams};
pub use search::{
    attach_q_values, frequent_sets, q_value_family, search, with_threads, FailureMode,
    FrequentSets, SearchOutput,
};
pub use stats::{bh_q_values, binomial_cdf, ln_gamma};
