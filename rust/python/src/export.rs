//! Hands engine results to Polars (or any Arrow consumer) through the Arrow C data
//! interface (`__arrow_c_array__`), without a Python object per value: rows of tag ids as
//! `large_list<string_view>`, and whole tables as a struct array (both [`ArrowData`]).
//!
//! Each tag's 16-byte string view is made once per vocabulary ([`TagNames`]); a list of
//! rows is then one gather of views plus the offsets, and every list shares the
//! vocabulary's one data buffer. Polars keeps strings as views, so it takes them as they
//! are.

use std::any::Any;
use std::ffi::{c_void, CString};
use std::sync::Arc;

use numpy::PyReadonlyArray1;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyCapsule;

use crate::arrow::{ArrowArray, ArrowSchema, Release};

/// Strings (the tag vocabulary, labels, predictions) as Arrow string views over one data
/// buffer.
#[pyclass(name = "TagNames", module = "prime_rs._engine", frozen)]
pub struct TagNames {
    views: Vec<u128>,
    data: Arc<Vec<u8>>,
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

impl TagNames {
    /// The number of names.
    pub(crate) fn len(&self) -> usize {
        self.views.len()
    }

    /// Checks that `offsets` (ascending from 0 to `ids.len()`) and `ids` (below the number
    /// of names) describe rows of tags.
    fn check(&self, offsets: &[u64], ids: &[u32]) -> PyResult<()> {
        let ascending = offsets.windows(2).all(|w| w[0] <= w[1]);
        if offsets.first() != Some(&0) || !ascending || offsets.last() != Some(&(ids.len() as u64))
        {
            return Err(PyValueError::new_err(
                "offsets must start at 0, ascend and end at the number of ids",
            ));
        }
        if let Some(&bad) = ids.iter().find(|&&t| t as usize >= self.views.len()) {
            return Err(PyValueError::new_err(format!(
                "tag id {bad} is not below the {} names",
                self.views.len()
            )));
        }
        Ok(())
    }

    /// The column of the names `ids` (each below the number of names; `None`: null).
    pub(crate) fn strings(&self, ids: &[Option<u32>]) -> Column {
        let nulls = ids.iter().filter(|t| t.is_none()).count();
        let validity = (nulls > 0).then(|| (validity_bits(ids.iter().map(Option::is_some)), nulls));
        let views = ids.iter().map(|t| t.map_or(0, |t| self.views[t as usize]));
        self.views_column(views.collect(), validity)
    }

    /// The column of rows `ids[offsets[i]..offsets[i + 1]]` (checked by [`Self::check`]).
    pub(crate) fn column(&self, offsets: &[u64], ids: &[u32]) -> Column {
        let views = ids.iter().map(|&t| self.views[t as usize]).collect();
        Column::List {
            offsets: offsets.iter().map(|&o| o as i64).collect(),
            items: Box::new(self.views_column(views, None)),
        }
    }

    fn views_column(&self, views: Vec<u128>, validity: Option<(Vec<u8>, usize)>) -> Column {
        Column::Strings {
            views,
            validity,
            bytes: Arc::clone(&self.data),
            sizes: [self.data.len() as i64],
        }
    }
}

#[pymethods]
impl TagNames {
    /// The views of `names` (tag id `i` is `names[i]`).
    #[new]
    fn new(names: Vec<String>) -> PyResult<Self> {
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
            return Err(PyValueError::new_err(
                "the tag names take more than 2 GiB; Arrow views cannot reach past that",
            ));
        }
        Ok(TagNames {
            views,
            data: Arc::new(data),
        })
    }

    /// Row `i` is the names of `ids[offsets[i]..offsets[i + 1]]`, as an object with
    /// `__arrow_c_array__` (`large_list<string_view>`); `pl.Series(name, it)` reads it.
    fn lists(
        &self,
        py: Python<'_>,
        offsets: PyReadonlyArray1<'_, u64>,
        ids: PyReadonlyArray1<'_, u32>,
    ) -> PyResult<ArrowData> {
        let (offsets, ids) = (offsets.as_slice()?, ids.as_slice()?);
        self.check(offsets, ids)?;
        Ok(ArrowData::column(py.detach(|| self.column(offsets, ids))))
    }

    fn __len__(&self) -> usize {
        self.views.len()
    }
}

/// One column of an exported table.
pub(crate) enum Column {
    Int64(Vec<i64>),
    /// Values, and which are valid (one bit each, least significant first) when some are
    /// null.
    Float64 {
        values: Vec<f64>,
        validity: Option<(Vec<u8>, usize)>,
    },
    /// Strings as views into `bytes`, and which are valid when some are null.
    Strings {
        views: Vec<u128>,
        validity: Option<(Vec<u8>, usize)>,
        bytes: Arc<Vec<u8>>,
        /// The variadic buffer sizes of the views: the one data buffer's length.
        sizes: [i64; 1],
    },
    /// Lists: row `i` is `items[offsets[i]..offsets[i + 1]]`.
    List {
        offsets: Vec<i64>,
        items: Box<Column>,
    },
}

impl Column {
    /// A float column whose NaN values are null.
    pub(crate) fn float_nan_null(values: Vec<f64>) -> Column {
        let nulls = values.iter().filter(|v| v.is_nan()).count();
        let validity =
            (nulls > 0).then(|| (validity_bits(values.iter().map(|v| !v.is_nan())), nulls));
        Column::Float64 { values, validity }
    }

    fn len(&self) -> usize {
        match self {
            Column::Int64(v) => v.len(),
            Column::Float64 { values, .. } => values.len(),
            Column::Strings { views, .. } => views.len(),
            Column::List { offsets, .. } => offsets.len() - 1,
        }
    }

    /// The column's Arrow layout, pointing into its own buffers.
    fn node(&self, name: &str) -> Node {
        let null = std::ptr::null::<c_void>();
        let bits = |validity: &Option<(Vec<u8>, usize)>| match validity {
            Some((bits, nulls)) => (bits.as_ptr().cast(), *nulls),
            None => (null, 0),
        };
        match self {
            Column::Int64(v) => Node::leaf("l", name, v.len(), 0, vec![null, v.as_ptr().cast()]),
            Column::Float64 { values, validity } => {
                let (bits, nulls) = bits(validity);
                let buffers = vec![bits, values.as_ptr().cast()];
                Node::leaf("g", name, values.len(), nulls, buffers)
            }
            Column::Strings {
                views,
                validity,
                bytes,
                sizes,
            } => {
                let (bits, nulls) = bits(validity);
                let buffers = vec![
                    bits,
                    views.as_ptr().cast(),
                    bytes.as_ptr().cast(),
                    sizes.as_ptr().cast(),
                ];
                Node::leaf("vu", name, views.len(), nulls, buffers)
            }
            Column::List { offsets, items } => Node {
                children: vec![items.node("item")],
                ..Node::leaf(
                    "+L",
                    name,
                    offsets.len() - 1,
                    0,
                    vec![null, offsets.as_ptr().cast()],
                )
            },
        }
    }
}

/// Arrow's validity bitmap of `valid` (one bit each, least significant first).
fn validity_bits(valid: impl Iterator<Item = bool>) -> Vec<u8> {
    let mut bits = Vec::new();
    for (i, ok) in valid.enumerate() {
        if i % 8 == 0 {
            bits.push(0u8);
        }
        if ok {
            bits[i / 8] |= 1 << (i % 8);
        }
    }
    bits
}

/// Named columns of one length, exported (any number of times) by `__arrow_c_array__`:
/// as an Arrow struct array, or as its one column.
#[pyclass(module = "prime_rs._engine", frozen)]
pub struct ArrowData {
    columns: Arc<Vec<(&'static str, Column)>>,
    len: usize,
    as_struct: bool,
}

impl ArrowData {
    /// A table (a struct array) of `columns`, all of one length.
    pub(crate) fn table(columns: Vec<(&'static str, Column)>) -> Self {
        let len = columns.first().map_or(0, |(_, c)| c.len());
        assert!(columns.iter().all(|(_, c)| c.len() == len), "one length");
        ArrowData {
            columns: Arc::new(columns),
            len,
            as_struct: true,
        }
    }

    /// One column.
    pub(crate) fn column(column: Column) -> Self {
        ArrowData {
            len: column.len(),
            columns: Arc::new(vec![("", column)]),
            as_struct: false,
        }
    }
}

#[pymethods]
impl ArrowData {
    /// The `(arrow_schema, arrow_array)` capsule pair of the Arrow PyCapsule interface.
    #[pyo3(signature = (requested_schema=None))]
    fn __arrow_c_array__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyAny>>,
    ) -> PyResult<(Bound<'py, PyCapsule>, Bound<'py, PyCapsule>)> {
        // Only the one layout is offered; a consumer that wants another casts it.
        let _ = requested_schema;
        let mut nodes = self.columns.iter().map(|(n, c)| c.node(n));
        let node = if self.as_struct {
            Node {
                children: nodes.collect(),
                ..Node::leaf("+s", "", self.len, 0, vec![std::ptr::null()])
            }
        } else {
            nodes.next().expect("one column")
        };
        capsules(py, node, self.columns.clone())
    }

    fn __len__(&self) -> usize {
        self.len
    }
}

/// One array of an export, and its type: the pointers stay valid while the data they
/// point into is kept (see [`capsules`]).
struct Node {
    format: &'static str,
    name: CString,
    length: usize,
    null_count: usize,
    buffers: Vec<*const c_void>,
    children: Vec<Node>,
}

impl Node {
    fn leaf(
        format: &'static str,
        name: &str,
        length: usize,
        null_count: usize,
        buffers: Vec<*const c_void>,
    ) -> Node {
        Node {
            format,
            name: CString::new(name).expect("column names have no NUL"),
            length,
            null_count,
            buffers,
            children: Vec::new(),
        }
    }
}

/// The schema and array capsules of `node`, whose buffers `keep` owns: every array of the
/// export holds a reference to it, so each (a child moved out included) stays valid until
/// released.
fn capsules<'py, T: Send + Sync + 'static>(
    py: Python<'py>,
    node: Node,
    keep: Arc<T>,
) -> PyResult<(Bound<'py, PyCapsule>, Bound<'py, PyCapsule>)> {
    let schema = export_schema(&node);
    let array = export_array(node, &(keep as Arc<dyn Any + Send + Sync>));
    let schema = PyCapsule::new_with_value_and_destructor(
        py,
        Exported(schema),
        c"arrow_schema",
        |mut s: Exported<ArrowSchema>, _| s.0.release(),
    )?;
    let array = PyCapsule::new_with_value_and_destructor(
        py,
        Exported(array),
        c"arrow_array",
        |mut a: Exported<ArrowArray>, _| a.0.release(),
    )?;
    Ok((schema, array))
}

/// An exported struct in a capsule; the consumer moves it out (clearing its `release`) or
/// the capsule's destructor releases it. The private data of each (see [`release`]) owns
/// what it points into, its children included.
#[repr(transparent)]
struct Exported<T>(T);

// SAFETY: the struct's buffers are owned by its private data (immutable, reference counted),
// which its release callback frees; nothing in it is tied to a thread.
unsafe impl<T> Send for Exported<T> {}

/// What a struct's pointers point into (`owned`), and its children, each boxed.
struct Private<T, E> {
    owned: E,
    children: Vec<*mut T>,
}

/// The release callback of a struct whose private data is a boxed `Private<T, E>`.
unsafe extern "C" fn release<T: Release, E>(s: *mut T) {
    // SAFETY: `s` is one of ours, not yet released: its private data is a boxed
    // `Private<T, E>`, and each child a boxed struct (moved out, or still to release).
    unsafe {
        let private = Box::from_raw((*s).private_data() as *mut Private<T, E>);
        for &child in &private.children {
            Box::from_raw(child).release();
        }
        *(*s).release_slot() = None;
    }
}

const NULLABLE: i64 = 2;

/// A schema's format and name.
type SchemaOwned = (CString, CString);

fn export_schema(node: &Node) -> ArrowSchema {
    let mut private = Box::new(Private {
        owned: (
            CString::new(node.format).expect("no NUL"),
            node.name.clone(),
        ),
        children: node
            .children
            .iter()
            .map(|c| Box::into_raw(Box::new(export_schema(c))))
            .collect(),
    });
    ArrowSchema {
        format: private.owned.0.as_ptr(),
        name: private.owned.1.as_ptr(),
        metadata: std::ptr::null(),
        flags: NULLABLE,
        n_children: private.children.len() as i64,
        children: private.children.as_mut_ptr(),
        dictionary: std::ptr::null_mut(),
        release: Some(release::<ArrowSchema, SchemaOwned>),
        private_data: Box::into_raw(private) as *mut c_void,
    }
}

/// An array's buffer pointers, and the data they point into.
type ArrayOwned = (Arc<dyn Any + Send + Sync>, Vec<*const c_void>);

fn export_array(node: Node, keep: &Arc<dyn Any + Send + Sync>) -> ArrowArray {
    let mut private = Box::new(Private {
        owned: (Arc::clone(keep), node.buffers),
        children: node
            .children
            .into_iter()
            .map(|c| Box::into_raw(Box::new(export_array(c, keep))))
            .collect(),
    });
    ArrowArray {
        length: node.length as i64,
        null_count: node.null_count as i64,
        offset: 0,
        n_buffers: private.owned.1.len() as i64,
        n_children: private.children.len() as i64,
        buffers: private.owned.1.as_mut_ptr(),
        children: private.children.as_mut_ptr(),
        dictionary: std::ptr::null_mut(),
        release: Some(release::<ArrowArray, ArrayOwned>),
        private_data: Box::into_raw(private) as *mut c_void,
    }
}
