//! `prime_rs._engine`: the thin PyO3 layer over `prime-core`.
//!
//! Borrows numpy arrays, builds Rust-owned data, and runs every computation with the GIL
//! released. A search runs on its own thread while the calling thread checks for Ctrl-C,
//! raising the engine's cancel flag when it comes.

mod arrow;
mod errors;
mod export;

/// mimalloc keeps freed pages for reuse, so repeated searches and builds do not fault fresh
/// pages in (page faults serialise threads on the process's memory map).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use arrow_array::ArrayRef;
use numpy::{IntoPyArray, PyReadonlyArray1};
use prime_core as core;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use rayon::prelude::*;

use crate::errors::{Error, Result};

/// Runs `f` without the GIL on the engine's pool of `threads` workers (see
/// `prime_core::with_threads`), never on rayon's global pool, which a forked child process
/// could not use. For short work: nothing watches for Ctrl-C.
fn on_pool<R: Send>(
    py: Python<'_>,
    threads: Option<usize>,
    f: impl FnOnce() -> core::Result<R> + Send,
) -> Result<R> {
    Ok(py.detach(|| core::with_threads(threads, f).and_then(|r| r))?)
}

/// Runs `f` on a pool of `threads` workers without the GIL, checking for Ctrl-C every 50 ms
/// from the calling thread, which waits without the GIL meanwhile.
fn run_cancellable<R: Send>(
    py: Python<'_>,
    threads: Option<usize>,
    f: impl FnOnce(&AtomicBool) -> core::Result<R> + Send,
) -> Result<R> {
    let cancel = AtomicBool::new(false);
    let cancel = &cancel;
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let (out, interrupted) = py.detach(move || {
        core::with_threads_meanwhile(
            threads,
            move || {
                let out = f(cancel);
                let _ = done_tx.send(());
                out
            },
            || loop {
                match done_rx.recv_timeout(Duration::from_millis(50)) {
                    // Done, or panicked (the sender dropped).
                    Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => return None,
                    Err(mpsc::RecvTimeoutError::Timeout) => {}
                }
                if let Err(interrupt) = Python::attach(|py| py.check_signals()) {
                    // The work stops at its next check; the pool waits for it.
                    cancel.store(true, Ordering::Relaxed);
                    return Some(interrupt);
                }
            },
        )
    })?;
    if let Some(interrupt) = interrupted {
        return Err(interrupt.into());
    }
    match out {
        Ok(result) => Ok(result?),
        Err(_) => Err(Error::Internal("the search panicked".into())),
    }
}

/// The samples' predictions as codes (see `prime_core::Predictions`), and the name of each
/// code when the predictions are strings.
#[pyclass(name = "Predictions", module = "prime_rs._engine", frozen)]
struct PyPredictions {
    inner: core::Predictions,
    names: Option<Py<export::TagNames>>,
}

/// The per-class tag index (see `prime_core::TagIndex`).
#[pyclass(name = "TagIndex", module = "prime_rs._engine", frozen)]
struct PyTagIndex {
    inner: Arc<core::TagIndex>,
}

#[pymethods]
impl PyTagIndex {
    /// Builds the index from CSR arrays (see the stub for the contract).
    #[staticmethod]
    #[pyo3(signature = (indptr, indices, class_ids, correct, n_classes, n_tags, min_tag_count=1))]
    #[allow(clippy::too_many_arguments)]
    fn from_csr(
        py: Python<'_>,
        indptr: PyReadonlyArray1<'_, u64>,
        indices: PyReadonlyArray1<'_, u32>,
        class_ids: PyReadonlyArray1<'_, u32>,
        correct: PyReadonlyArray1<'_, bool>,
        n_classes: u32,
        n_tags: u32,
        min_tag_count: u32,
    ) -> Result<Self> {
        let (indptr, indices) = (indptr.as_slice()?, indices.as_slice()?);
        let (class_ids, correct) = (class_ids.as_slice()?, correct.as_slice()?);
        let index = on_pool(py, None, || {
            core::TagIndex::from_csr(
                indptr,
                indices,
                class_ids,
                correct,
                n_classes,
                n_tags,
                min_tag_count,
            )
        })?;
        Ok(PyTagIndex {
            inner: Arc::new(index),
        })
    }

    /// Builds the index from an Arrow column of tag lists (an `arrow_array_stream` capsule,
    /// or an object with `__arrow_c_stream__`), reading the strings in place; returns the
    /// index and the sorted vocabulary.
    #[staticmethod]
    #[pyo3(signature = (tags, class_ids, correct, n_classes, min_tag_count=1))]
    fn from_arrow_tags(
        py: Python<'_>,
        tags: &Bound<'_, PyAny>,
        class_ids: PyReadonlyArray1<'_, u32>,
        correct: PyReadonlyArray1<'_, bool>,
        n_classes: u32,
        min_tag_count: u32,
    ) -> Result<(Self, Vec<String>)> {
        let column = arrow::TagColumn::lists(&arrow::read_stream(tags)?)?;
        let (class_ids, correct) = (class_ids.as_slice()?, correct.as_slice()?);
        let (index, vocabulary) = on_pool(py, None, || {
            core::TagIndex::from_tag_rows(&column, class_ids, correct, n_classes, min_tag_count)
        })?;
        let index = PyTagIndex {
            inner: Arc::new(index),
        };
        Ok((index, vocabulary))
    }

    /// Number of classes.
    #[getter]
    fn n_classes(&self) -> usize {
        self.inner.n_classes()
    }

    /// Size of the tag vocabulary.
    #[getter]
    fn n_tags(&self) -> u32 {
        self.inner.n_tags()
    }

    /// `(n_samples, n_correct)` per class, as two uint32 arrays.
    fn class_counts<'py>(&self, py: Python<'py>) -> (Bound<'py, PyAny>, Bound<'py, PyAny>) {
        let classes =
            (0..self.inner.n_classes() as u32).map(|c| self.inner.class(c).expect("in range"));
        let (n, k): (Vec<u32>, Vec<u32>) =
            classes.map(|ci| (ci.n_samples(), ci.n_correct())).unzip();
        (n.into_pyarray(py).into_any(), k.into_pyarray(py).into_any())
    }

    /// `(support, n_correct)` of the samples of `class_id` carrying every tag in `tags`.
    fn stats(&self, py: Python<'_>, class_id: u32, tags: Vec<u32>) -> Result<(u32, u32)> {
        let s = py.detach(|| self.inner.stats(class_id, &tags))?;
        Ok((s.support, s.n_correct))
    }

    /// Class-local ids (ascending) of the samples of `class_id` carrying every tag in `tags`.
    fn members<'py>(
        &self,
        py: Python<'py>,
        class_id: u32,
        tags: Vec<u32>,
    ) -> Result<Bound<'py, PyAny>> {
        let ids = py.detach(|| self.inner.members(class_id, &tags))?;
        Ok(ids.into_pyarray(py).into_any())
    }

    /// The samples' prediction codes (grouped by class) and the class each code names
    /// (-1: none), checked once for the confusion columns of `search` (see
    /// `prime_core::Predictions`); `names`, the name of each code, when they are strings.
    #[pyo3(signature = (codes, code_class, names=None))]
    fn predictions(
        &self,
        codes: PyReadonlyArray1<'_, u32>,
        code_class: PyReadonlyArray1<'_, i64>,
        names: Option<Py<export::TagNames>>,
    ) -> Result<PyPredictions> {
        let code_class = code_class.as_slice()?;
        if names
            .as_ref()
            .is_some_and(|n| n.get().len() != code_class.len())
        {
            return Err(Error::input("names must hold one name per prediction code"));
        }
        let code_class = code_class.iter().map(|&c| u32::try_from(c).ok()).collect();
        let inner = core::Predictions::new(&self.inner, codes.as_slice()?.to_vec(), code_class)?;
        Ok(PyPredictions { inner, names })
    }

    /// A copy with other correctness flags (same sample order as at build time).
    fn with_correct(
        &self,
        py: Python<'_>,
        class_ids: PyReadonlyArray1<'_, u32>,
        correct: PyReadonlyArray1<'_, bool>,
    ) -> Result<Self> {
        let (class_ids, correct) = (class_ids.as_slice()?, correct.as_slice()?);
        let index = on_pool(py, None, || self.inner.with_correct(class_ids, correct))?;
        Ok(PyTagIndex {
            inner: Arc::new(index),
        })
    }

    /// Runs the failure-mode search (greedy when `beam_width` is given); returns a dict of
    /// column arrays. Given the tag `names`, the columns past `class_id`, `sets_tested` and
    /// `hypotheses` are `table`, the mode table as an Arrow record batch (see `mode_table`;
    /// `label_names`, the name of each class, when the labels are strings), and `top`, each
    /// mode's most frequent wrong prediction code (-1: none) when `predictions` are given.
    #[pyo3(signature = (*, max_tags, min_support, min_drop, necessity, min_tag_count=None, classes=None, threads=None, beam_width=None, q_values=true, names=None, label_names=None, z=1.959963984540054, predictions=None))]
    #[allow(clippy::too_many_arguments)]
    fn search<'py>(
        &self,
        py: Python<'py>,
        max_tags: usize,
        min_support: u32,
        min_drop: f64,
        necessity: Vec<f64>,
        min_tag_count: Option<u32>,
        classes: Option<Vec<u32>>,
        threads: Option<usize>,
        beam_width: Option<usize>,
        q_values: bool,
        names: Option<Bound<'py, export::TagNames>>,
        label_names: Option<Bound<'py, export::TagNames>>,
        z: f64,
        predictions: Option<Bound<'py, PyPredictions>>,
    ) -> Result<Bound<'py, PyDict>> {
        let (names, label_names) = self.checked_names(&names, &label_names)?;
        let predictions = predictions.as_ref().map(|p| p.get());
        let predictions = predictions.map(|p| (&p.inner, p.names.as_ref().map(|n| n.get())));
        let params = core::SearchParams {
            max_tags,
            min_support,
            min_drop,
            necessity,
            min_tag_count,
            classes,
        };
        let index = &self.inner;
        let (out, hypotheses, offsets, tags, table) = run_cancellable(py, threads, |cancel| {
            let (out, hypotheses) = match beam_width {
                // The exhaustive search counts the q-values' family in its own walk.
                None if q_values => core::search_with_q_values(index, &params, cancel)?,
                None => (
                    core::search(index, &params, cancel)?,
                    vec![0; index.n_classes()],
                ),
                Some(width) => {
                    let mut out = core::greedy_search(index, &params, width, cancel)?;
                    let hypotheses = if q_values {
                        core::attach_q_values(index, &params, &mut out.modes, cancel)?
                    } else {
                        vec![0; index.n_classes()]
                    };
                    (out, hypotheses)
                }
            };
            let mut offsets = Vec::with_capacity(out.modes.len() + 1);
            offsets.push(0u64);
            let mut tags = Vec::new();
            for m in &out.modes {
                tags.extend_from_slice(&m.tags);
                offsets.push(tags.len() as u64);
            }
            let table = match names {
                Some(names) => Some(mode_table(
                    index,
                    &out.modes,
                    label_names,
                    names.column(&offsets, &tags),
                    z,
                    predictions,
                )?),
                None => None,
            };
            Ok((out, hypotheses, offsets, tags, table))
        })?;
        let modes = out.modes;
        let d = PyDict::new(py);
        d.set_item(
            "class_id",
            modes
                .iter()
                .map(|m| m.class)
                .collect::<Vec<_>>()
                .into_pyarray(py),
        )?;
        d.set_item("sets_tested", out.sets_tested.into_pyarray(py))?;
        d.set_item("hypotheses", hypotheses.into_pyarray(py))?;
        if let Some((columns, top)) = table {
            // The table holds the rest.
            d.set_item("table", export::ArrowTable::new(columns)?)?;
            d.set_item("top", top.into_pyarray(py))?;
            return Ok(d);
        }
        let col = |f: fn(&core::FailureMode) -> f64| modes.iter().map(f).collect::<Vec<f64>>();
        d.set_item("offsets", offsets.into_pyarray(py))?;
        d.set_item("tags", tags.into_pyarray(py))?;
        d.set_item(
            "support",
            modes
                .iter()
                .map(|m| m.support)
                .collect::<Vec<_>>()
                .into_pyarray(py),
        )?;
        d.set_item(
            "n_correct",
            modes
                .iter()
                .map(|m| m.n_correct)
                .collect::<Vec<_>>()
                .into_pyarray(py),
        )?;
        d.set_item("accuracy", col(|m| m.accuracy).into_pyarray(py))?;
        d.set_item("class_accuracy", col(|m| m.class_accuracy).into_pyarray(py))?;
        d.set_item("drop", col(|m| m.drop).into_pyarray(py))?;
        d.set_item("necessity", col(|m| m.necessity).into_pyarray(py))?;
        d.set_item("p_value", col(|m| m.p_value).into_pyarray(py))?;
        d.set_item(
            "q_value",
            col(|m| m.q_value.unwrap_or(f64::NAN)).into_pyarray(py),
        )?;
        Ok(d)
    }

    /// Lists every frequent tag set; returns a dict of column arrays. With `names` (one per
    /// tag), the dict also holds `table`: the columns `tags` (the sets' names), `n_tags`,
    /// `support` and `accuracy`, preceded by `label` where `label_names` are given (one per
    /// class), all built in parallel without the GIL.
    #[pyo3(signature = (*, max_tags, min_support, min_tag_count=None, classes=None, threads=None, names=None, label_names=None))]
    #[allow(clippy::too_many_arguments)]
    fn frequent_sets<'py>(
        &self,
        py: Python<'py>,
        max_tags: usize,
        min_support: u32,
        min_tag_count: Option<u32>,
        classes: Option<Vec<u32>>,
        threads: Option<usize>,
        names: Option<Bound<'py, export::TagNames>>,
        label_names: Option<Bound<'py, export::TagNames>>,
    ) -> Result<Bound<'py, PyDict>> {
        let (names, label_names) = self.checked_names(&names, &label_names)?;
        let params = core::LatticeParams {
            max_tags,
            min_support,
            min_tag_count,
            classes,
        };
        let index = &self.inner;
        let (out, offsets, table) = run_cancellable(py, threads, |cancel| {
            let out = core::frequent_sets(index, &params, cancel)?;
            let offsets: Vec<u64> = out.offsets.par_iter().map(|&o| o as u64).collect();
            let table = names.map(|names| lattice_table(&out, &offsets, names, label_names));
            Ok((out, offsets, table))
        })?;
        let d = PyDict::new(py);
        d.set_item("class_id", out.class.into_pyarray(py))?;
        if let Some(columns) = table {
            d.set_item("table", export::ArrowTable::new(columns)?)?;
            return Ok(d);
        }
        d.set_item("offsets", offsets.into_pyarray(py))?;
        d.set_item("tags", out.tags.into_pyarray(py))?;
        d.set_item("support", out.support.into_pyarray(py))?;
        d.set_item("n_correct", out.n_correct.into_pyarray(py))?;
        Ok(d)
    }

    /// The family behind the q-values (see `prime_core::q_value_family`) as three arrays:
    /// class id, distinct p-value and how many frequent sets have it, by class then p-value.
    #[pyo3(signature = (*, max_tags, min_support, min_tag_count=None, classes=None, threads=None))]
    #[allow(clippy::type_complexity)]
    fn q_value_family<'py>(
        &self,
        py: Python<'py>,
        max_tags: usize,
        min_support: u32,
        min_tag_count: Option<u32>,
        classes: Option<Vec<u32>>,
        threads: Option<usize>,
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>, Bound<'py, PyAny>)> {
        let params = core::LatticeParams {
            max_tags,
            min_support,
            min_tag_count,
            classes,
        };
        let index = &self.inner;
        let families = run_cancellable(py, threads, |cancel| {
            core::q_value_family(index, &params, cancel)
        })?;
        let (mut class, mut p, mut count) = (Vec::new(), Vec::new(), Vec::new());
        for (c, family) in families {
            for (value, n) in family {
                class.push(c);
                p.push(value);
                count.push(n);
            }
        }
        Ok((
            class.into_pyarray(py).into_any(),
            p.into_pyarray(py).into_any(),
            count.into_pyarray(py).into_any(),
        ))
    }
}

impl PyTagIndex {
    /// The tag and label names given to a search or a lattice, checked against the index:
    /// one name per tag, one per class.
    fn checked_names<'a>(
        &self,
        names: &'a Option<Bound<'_, export::TagNames>>,
        label_names: &'a Option<Bound<'_, export::TagNames>>,
    ) -> Result<(Option<&'a export::TagNames>, Option<&'a export::TagNames>)> {
        let names = names.as_ref().map(|n| n.get());
        if names.is_some_and(|n| n.len() != self.inner.n_tags() as usize) {
            return Err(Error::input(
                "names must hold one name per tag of the index",
            ));
        }
        let label_names = label_names.as_ref().map(|n| n.get());
        if label_names.is_some_and(|n| n.len() != self.inner.n_classes()) {
            return Err(Error::input(
                "label_names must hold one name per class of the index",
            ));
        }
        Ok((names, label_names))
    }
}

/// [`TagIndex::frequent_sets`]'s table: `label` (where `label_names` are given), `tags`,
/// `n_tags`, `support` and `accuracy`, each column built in parallel.
fn lattice_table(
    out: &core::FrequentSets,
    offsets: &[u64],
    names: &export::TagNames,
    label_names: Option<&export::TagNames>,
) -> Vec<export::NamedColumn> {
    use export::{floats, ints};
    let mut columns: Vec<export::NamedColumn> = Vec::new();
    if let Some(label_names) = label_names {
        let classes: Vec<Option<u32>> = out.class.par_iter().map(|&c| Some(c)).collect();
        columns.push(("label", label_names.strings(&classes)));
    }
    let n_tags: Vec<i64> = offsets
        .par_windows(2)
        .map(|w| (w[1] - w[0]) as i64)
        .collect();
    let support: Vec<i64> = out.support.par_iter().map(|&n| i64::from(n)).collect();
    let accuracy: Vec<f64> = out
        .support
        .par_iter()
        .zip(&out.n_correct)
        .map(|(&n, &k)| f64::from(k) / f64::from(n))
        .collect();
    columns.extend([
        ("tags", names.column(offsets, &out.tags)),
        ("n_tags", ints(n_tags)),
        ("support", ints(support)),
        ("accuracy", floats(accuracy)),
    ]);
    columns
}

/// The mode table's columns: `label` (given the class names), `tags, n_tags, support,
/// accuracy, class_accuracy, drop, necessity, accuracy_low, accuracy_high` (the Wilson
/// interval at `z`), `p_value, q_value` (null until computed), `impact`, then, given the
/// predictions, `confused_with` (given their names), `confused_share` and `tag_lift` (null
/// where they do not apply); and each mode's most frequent wrong prediction code (-1: none;
/// empty without predictions). The numbers come from `prime_core`'s table functions.
fn mode_table(
    index: &core::TagIndex,
    modes: &[core::FailureMode],
    label_names: Option<&export::TagNames>,
    tags: ArrayRef,
    z: f64,
    predictions: Option<(&core::Predictions, Option<&export::TagNames>)>,
) -> core::Result<(Vec<export::NamedColumn>, Vec<i64>)> {
    use export::{floats, floats_nan_null, ints};
    let column = |f: &dyn Fn(&core::FailureMode) -> f64| floats(modes.iter().map(f).collect());
    let wilson: Vec<(f64, f64)> = modes
        .iter()
        .map(|m| core::wilson_interval(m.n_correct.into(), m.support.into(), z))
        .collect();
    let mut columns: Vec<export::NamedColumn> = Vec::new();
    if let Some(label_names) = label_names {
        let classes: Vec<Option<u32>> = modes.iter().map(|m| Some(m.class)).collect();
        columns.push(("label", label_names.strings(&classes)));
    }
    columns.extend([
        ("tags", tags),
        (
            "n_tags",
            ints(modes.iter().map(|m| m.tags.len() as i64).collect()),
        ),
        (
            "support",
            ints(modes.iter().map(|m| m.support.into()).collect()),
        ),
        ("accuracy", column(&|m| m.accuracy)),
        ("class_accuracy", column(&|m| m.class_accuracy)),
        ("drop", column(&|m| m.drop)),
        ("necessity", column(&|m| m.necessity)),
        ("accuracy_low", floats(wilson.iter().map(|w| w.0).collect())),
        (
            "accuracy_high",
            floats(wilson.iter().map(|w| w.1).collect()),
        ),
        ("p_value", column(&|m| m.p_value)),
        (
            "q_value",
            floats_nan_null(
                modes
                    .iter()
                    .map(|m| m.q_value.unwrap_or(f64::NAN))
                    .collect(),
            ),
        ),
        ("impact", column(&core::impact)),
    ]);
    let mut top = Vec::new();
    if let Some((predictions, prediction_names)) = predictions {
        let found = core::confusion_columns(index, modes, predictions)?;
        top = found.top.iter().map(|c| c.map_or(-1, i64::from)).collect();
        if let Some(names) = prediction_names {
            columns.push(("confused_with", names.strings(&found.top)));
        }
        let nan_null = |v: Vec<Option<f64>>| {
            floats_nan_null(v.into_iter().map(|x| x.unwrap_or(f64::NAN)).collect())
        };
        columns.push(("confused_share", nan_null(found.confused_share)));
        columns.push(("tag_lift", nan_null(found.tag_lift)));
    }
    Ok((columns, top))
}

/// The rows (counted from 0) of a column of tag lists (an `arrow_array_stream` capsule, or
/// an object with `__arrow_c_stream__`) that hold a null tag.
#[pyfunction]
fn rows_with_null_tags<'py>(
    py: Python<'py>,
    tags: &Bound<'py, PyAny>,
) -> Result<Bound<'py, PyAny>> {
    let column = arrow::TagColumn::lists(&arrow::read_stream(tags)?)?;
    let rows = py.detach(|| column.rows_with_null_tags());
    Ok(rows.into_pyarray(py).into_any())
}

/// A string column (an `arrow_array_stream` capsule, or an object with
/// `__arrow_c_stream__`) as `(distinct values sorted, each row's position among them)`.
#[pyfunction]
fn encode_strings<'py>(
    py: Python<'py>,
    column: &Bound<'py, PyAny>,
) -> Result<(Vec<String>, Bound<'py, PyAny>)> {
    let column = arrow::TagColumn::strings(&arrow::read_stream(column)?)?;
    let (values, codes) = on_pool(py, None, || core::encode_strings(&column))?;
    Ok((values, codes.into_pyarray(py).into_any()))
}

/// The Wilson score interval `(low, high)` of each accuracy `n_correct[i] / n[i]` at the
/// normal quantile `z` (see `prime_core::wilson_interval`).
#[pyfunction]
fn wilson_interval<'py>(
    py: Python<'py>,
    n_correct: PyReadonlyArray1<'py, f64>,
    n: PyReadonlyArray1<'py, f64>,
    z: f64,
) -> Result<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
    let (k, n) = (n_correct.as_slice()?, n.as_slice()?);
    if k.len() != n.len() {
        return Err(Error::input(format!(
            "n_correct and n must have the same length, got {} and {}",
            k.len(),
            n.len()
        )));
    }
    let (low, high): (Vec<f64>, Vec<f64>) = k
        .iter()
        .zip(n)
        .map(|(&k, &n)| core::wilson_interval(k, n, z))
        .unzip();
    Ok((
        low.into_pyarray(py).into_any(),
        high.into_pyarray(py).into_any(),
    ))
}

#[pymodule]
fn _engine(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyTagIndex>()?;
    m.add_class::<PyPredictions>()?;
    m.add_class::<export::TagNames>()?;
    m.add_class::<export::ArrowData>()?;
    m.add_class::<export::ArrowTable>()?;
    m.add_function(wrap_pyfunction!(rows_with_null_tags, m)?)?;
    m.add_function(wrap_pyfunction!(encode_strings, m)?)?;
    m.add_function(wrap_pyfunction!(wilson_interval, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add(
        "build_profile",
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        },
    )?;
    Ok(())
}
