//! Hands engine results to Polars, pyarrow or any Arrow consumer through the PyCapsule
//! interface (arrow-rs's C data interface export), without a Python object per value: rows
//! of tag ids as `large_list<string_view>` ([`ArrowData`]), and whole tables as a record
//! batch ([`ArrowTable`]).
//!
//! Each tag's 16-byte string view is made once per vocabulary ([`TagNames`]); a list of
//! rows is then one gather of views plus the offsets, and every list shares the
//! vocabulary's one data buffer (reference counted). Polars keeps strings as views, so it
//! takes them as they are.

use std::sync::Arc;

use arrow_array::ffi::{to_ffi, FFI_ArrowArray, FFI_ArrowSchema};
use arrow_array::ffi_stream::FFI_ArrowArrayStream;
use arrow_array::{
    Array, ArrayRef, Float64Array, Int64Array, LargeListArray, RecordBatch, RecordBatchIterator,
    StringViewArray, StructArray,
};
use arrow_buffer::{Buffer, NullBuffer, OffsetBuffer, ScalarBuffer};
use arrow_schema::{DataType, Field};
use numpy::PyReadonlyArray1;
use pyo3::prelude::*;
use pyo3::types::PyCapsule;
use rayon::prelude::*;

use crate::errors::{Error, Result};

/// Strings (the tag vocabulary, labels, predictions) as Arrow string views over one data
/// buffer.
#[pyclass(name = "TagNames", module = "prime_rs._engine", frozen)]
pub struct TagNames {
    views: ScalarBuffer<u128>,
    data: Buffer,
}

/// The string view of `bytes`: inline when at most 12 bytes, else its length, first four
/// bytes, buffer 0 and its offset there.
fn view_of(bytes: &[u8], offset: usize) -> u128 {
    let mut view = [0u8; 16];
    view[..4].copy_from_slice(&(bytes.len() as u32).to_le_bytes());
    if bytes.len() <= 12 {
        view[4..4 + bytes.len()].copy_from_slice(bytes);
    } else {
        view[4..8].copy_from_slice(&bytes[..4]);
        // view[8..12]: buffer 0.
        view[12..16].copy_from_slice(&(offset as u32).to_le_bytes());
    }
    u128::from_le_bytes(view)
}

/// Fewest items a worker takes when a column is built in parallel (in the pool of the call
/// that builds it).
const PAR_MIN: usize = 1 << 14;

impl TagNames {
    /// The number of names.
    pub(crate) fn len(&self) -> usize {
        self.views.len()
    }

    /// Checks that `offsets` (ascending from 0 to `ids.len()`) and `ids` (below the number
    /// of names) describe rows of tags.
    fn check(&self, offsets: &[u64], ids: &[u32]) -> Result<()> {
        let ascending = offsets.windows(2).all(|w| w[0] <= w[1]);
        if offsets.first() != Some(&0) || !ascending || offsets.last() != Some(&(ids.len() as u64))
        {
            return Err(Error::input(
                "offsets must start at 0, ascend and end at the number of ids",
            ));
        }
        if let Some(&bad) = ids.iter().find(|&&t| t as usize >= self.views.len()) {
            return Err(Error::input(format!(
                "tag id {bad} is not below the {} names",
                self.views.len()
            )));
        }
        Ok(())
    }

    /// The strings of `views` (each one of `self.views`), null where `nulls` says.
    fn array(&self, views: Vec<u128>, nulls: Option<NullBuffer>) -> StringViewArray {
        // SAFETY: every view is one `view_of` made of a Rust string (valid UTF-8) at its
        // offset in `data`, which is below 2 GiB (checked in `new`), so each view is a
        // valid string view of buffer 0, and `nulls` (when given) has one bit per view.
        unsafe {
            StringViewArray::new_unchecked(views.into(), Arc::from([self.data.clone()]), nulls)
        }
    }

    /// The column of the names `ids` (each below the number of names; `None`: null).
    pub(crate) fn strings(&self, ids: &[Option<u32>]) -> ArrayRef {
        let nulls = NullBuffer::from_iter(ids.iter().map(Option::is_some));
        let nulls = (nulls.null_count() > 0).then_some(nulls);
        let views = ids
            .par_iter()
            .with_min_len(PAR_MIN)
            .map(|t| t.map_or(0, |t| self.views[t as usize]));
        Arc::new(self.array(views.collect(), nulls))
    }

    /// The column of rows `ids[offsets[i]..offsets[i + 1]]` (checked by [`Self::check`]).
    pub(crate) fn column(&self, offsets: &[u64], ids: &[u32]) -> ArrayRef {
        let views = ids
            .par_iter()
            .with_min_len(PAR_MIN)
            .map(|&t| self.views[t as usize])
            .collect();
        let items = self.array(views, None);
        let offsets = offsets.par_iter().with_min_len(PAR_MIN).map(|&o| o as i64);
        let offsets = OffsetBuffer::new(offsets.collect::<Vec<i64>>().into());
        let field = Arc::new(Field::new_list_field(DataType::Utf8View, true));
        Arc::new(LargeListArray::new(field, offsets, Arc::new(items), None))
    }
}

#[pymethods]
impl TagNames {
    /// The views of `names` (tag id `i` is `names[i]`).
    #[new]
    fn new(names: Vec<String>) -> Result<Self> {
        let mut data = Vec::new();
        let mut views = Vec::with_capacity(names.len());
        for name in &names {
            let bytes = name.as_bytes();
            views.push(view_of(bytes, data.len()));
            if bytes.len() > 12 {
                data.extend_from_slice(bytes);
            }
        }
        if data.len() > i32::MAX as usize {
            return Err(Error::input(
                "the names take more than 2 GiB; Arrow views cannot reach past that",
            ));
        }
        Ok(TagNames {
            views: views.into(),
            data: data.into(),
        })
    }

    /// Row `i` is the names of `ids[offsets[i]..offsets[i + 1]]`, as an object with
    /// `__arrow_c_array__` (`large_list<string_view>`); `pl.Series(name, it)` reads it.
    fn lists(
        &self,
        py: Python<'_>,
        offsets: PyReadonlyArray1<'_, u64>,
        ids: PyReadonlyArray1<'_, u32>,
    ) -> Result<ArrowData> {
        let (offsets, ids) = (offsets.as_slice()?, ids.as_slice()?);
        self.check(offsets, ids)?;
        Ok(ArrowData(py.detach(|| self.column(offsets, ids))))
    }

    fn __len__(&self) -> usize {
        self.views.len()
    }
}

/// A float column whose NaN values are null.
pub(crate) fn floats_nan_null(values: Vec<f64>) -> ArrayRef {
    let nulls = NullBuffer::from_iter(values.iter().map(|v| !v.is_nan()));
    let nulls = (nulls.null_count() > 0).then_some(nulls);
    Arc::new(Float64Array::new(values.into(), nulls))
}

/// A float column without nulls.
pub(crate) fn floats(values: Vec<f64>) -> ArrayRef {
    Arc::new(Float64Array::from(values))
}

/// An integer column without nulls.
pub(crate) fn ints(values: Vec<i64>) -> ArrayRef {
    Arc::new(Int64Array::from(values))
}

/// The `(arrow_schema, arrow_array)` capsule pair of `array`.
fn array_capsules<'py>(
    py: Python<'py>,
    array: &dyn Array,
) -> Result<(Bound<'py, PyCapsule>, Bound<'py, PyCapsule>)> {
    let (array, schema) = to_ffi(&array.to_data())?;
    // The consumer moves each struct out of its capsule (leaving it released), or the
    // capsule's destructor drops it, which releases it.
    let schema = PyCapsule::new_with_value(py, schema, c"arrow_schema")?;
    let array = PyCapsule::new_with_value(py, array, c"arrow_array")?;
    Ok((schema, array))
}

/// One column, exported (any number of times) by `__arrow_c_array__`.
#[pyclass(module = "prime_rs._engine", frozen)]
pub struct ArrowData(ArrayRef);

#[pymethods]
impl ArrowData {
    /// The `(arrow_schema, arrow_array)` capsule pair of the Arrow PyCapsule interface.
    #[pyo3(signature = (requested_schema=None))]
    fn __arrow_c_array__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyAny>>,
    ) -> Result<(Bound<'py, PyCapsule>, Bound<'py, PyCapsule>)> {
        // Only the one layout is offered; a consumer that wants another casts it.
        let _ = requested_schema;
        array_capsules(py, self.0.as_ref())
    }

    fn __len__(&self) -> usize {
        self.0.len()
    }
}

/// A column of a table and its name.
pub(crate) type NamedColumn = (&'static str, ArrayRef);

/// Named columns of one length, exported (any number of times) by `__arrow_c_stream__`
/// (one record batch) or `__arrow_c_array__` (a struct array).
#[pyclass(module = "prime_rs._engine", frozen)]
pub struct ArrowTable(RecordBatch);

impl ArrowTable {
    /// The table of `columns`, all of one length.
    pub(crate) fn new(columns: Vec<NamedColumn>) -> Result<Self> {
        let fields: Vec<Field> = columns
            .iter()
            .map(|(name, c)| Field::new(*name, c.data_type().clone(), true))
            .collect();
        let schema = Arc::new(arrow_schema::Schema::new(fields));
        let arrays = columns.into_iter().map(|(_, c)| c).collect();
        Ok(ArrowTable(RecordBatch::try_new(schema, arrays)?))
    }
}

#[pymethods]
impl ArrowTable {
    /// The `arrow_array_stream` capsule of the Arrow PyCapsule interface: one batch.
    #[pyo3(signature = (requested_schema=None))]
    fn __arrow_c_stream__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyAny>>,
    ) -> Result<Bound<'py, PyCapsule>> {
        let _ = requested_schema;
        let batches = RecordBatchIterator::new([Ok(self.0.clone())], self.0.schema());
        let stream = FFI_ArrowArrayStream::new(Box::new(batches));
        Ok(PyCapsule::new_with_value(
            py,
            stream,
            c"arrow_array_stream",
        )?)
    }

    /// The `(arrow_schema, arrow_array)` capsule pair of the table as a struct array.
    #[pyo3(signature = (requested_schema=None))]
    fn __arrow_c_array__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyAny>>,
    ) -> Result<(Bound<'py, PyCapsule>, Bound<'py, PyCapsule>)> {
        let _ = requested_schema;
        array_capsules(py, &StructArray::from(self.0.clone()))
    }

    fn __len__(&self) -> usize {
        self.0.num_rows()
    }
}

/// Keeps the C structs' types in the capsules' signatures honest: each must be `Send`.
const _: fn() = || {
    fn send<T: Send>() {}
    send::<FFI_ArrowArray>();
    send::<FFI_ArrowSchema>();
    send::<FFI_ArrowArrayStream>();
};
