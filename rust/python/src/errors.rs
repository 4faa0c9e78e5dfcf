//! The binding's one error type and its one conversion to the `prime_rs.errors` family:
//! every method returns `Result<_, Error>` and uses `?`; pyo3 raises what [`From`] makes.

use prime_core::PrimeError as EngineError;
use pyo3::PyErr;

pyo3::import_exception!(prime_rs.errors, PrimeError);
pyo3::import_exception!(prime_rs.errors, InputError);
pyo3::import_exception!(prime_rs.errors, ParameterError);
pyo3::import_exception!(prime_rs.errors, SearchCancelled);

/// What a call into the engine can fail with.
#[derive(Debug)]
pub(crate) enum Error {
    /// From the engine.
    Engine(EngineError),
    /// Input the binding itself refuses (an Arrow column of an unknown type, arrays of
    /// other lengths): an `InputError`.
    Input(String),
    /// An internal failure (a worker thread that panicked): a `PrimeError`.
    Internal(String),
    /// A Python exception already raised (by numpy, a capsule, an interrupt): kept as is.
    Python(PyErr),
}

/// Shorthand for the binding's results.
pub(crate) type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// An [`Error::Input`] with this message.
    pub(crate) fn input(message: impl Into<String>) -> Self {
        Error::Input(message.into())
    }
}

impl From<EngineError> for Error {
    fn from(err: EngineError) -> Self {
        Error::Engine(err)
    }
}

impl From<PyErr> for Error {
    fn from(err: PyErr) -> Self {
        Error::Python(err)
    }
}

impl From<numpy::AsSliceError> for Error {
    fn from(err: numpy::AsSliceError) -> Self {
        Error::input(format!("{err}: pass contiguous arrays"))
    }
}

impl From<arrow_schema::ArrowError> for Error {
    fn from(err: arrow_schema::ArrowError) -> Self {
        Error::input(format!("could not read the Arrow data: {err}"))
    }
}

impl From<Error> for PyErr {
    fn from(err: Error) -> PyErr {
        match err {
            Error::Engine(err) => {
                let message = err.to_string();
                match err {
                    EngineError::InvalidParameter { .. } => ParameterError::new_err(message),
                    EngineError::InvalidInput(_) | EngineError::UnknownId { .. } => {
                        InputError::new_err(message)
                    }
                    EngineError::Cancelled => SearchCancelled::new_err(message),
                    EngineError::ThreadPool(_) => PrimeError::new_err(message),
                }
            }
            Error::Input(message) => InputError::new_err(message),
            Error::Internal(message) => PrimeError::new_err(message),
            Error::Python(err) => err,
        }
    }
}
