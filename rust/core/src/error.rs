//! The engine's one error type.

use thiserror::Error;

/// Everything that can go wrong in the engine.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum PrimeError {
    /// A search or lattice parameter is out of its range.
    #[error("invalid parameter `{name}`: {message}")]
    InvalidParameter {
        /// The parameter's name, as the Python API and the CLI spell it.
        name: &'static str,
        /// What is wrong and what would be valid.
        message: String,
    },
    /// The arrays the index is built from are inconsistent.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// A class id or tag id that the index does not know.
    #[error("unknown {what} id {id} (the index has {len})")]
    UnknownId {
        /// `"class"` or `"tag"`.
        what: &'static str,
        /// The id asked for.
        id: u64,
        /// How many ids of that kind exist.
        len: u64,
    },
    /// The caller raised the cancel flag.
    #[error("search cancelled")]
    Cancelled,
    /// The worker thread pool could not be built.
    #[error("could not start worker threads: {0}")]
    ThreadPool(String),
}

/// Shorthand for results of the engine.
pub type Result<T> = std::result::Result<T, PrimeError>;
