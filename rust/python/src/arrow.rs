//! Reads a column of tag lists (or of one string per row) in place, through arrow-rs's
//! import of the Arrow C stream interface (the `__arrow_c_stream__` PyCapsule that Polars,
//! pyarrow and others export), for `prime_core::TagIndex::from_tag_rows` and
//! `prime_core::encode_strings`.
//!
//! Every string layout Arrow has is read where it lies: `string`, `large_string`,
//! `string_view` (a short string's 16-byte view is its hash key, no look at the data),
//! and dictionaries of those (categoricals); lists as `list`, `large_list`, `list_view`
//! and `large_list_view`; any slicing, chunking and null buffers. Any other type is an
//! input error naming the column and its type.

use arrow_array::cast::AsArray;
use arrow_array::ffi_stream::{ArrayStreamReader, FFI_ArrowArrayStream};
use arrow_array::types::UInt32Type;
use arrow_array::{Array, ArrayReader, ArrayRef};
use arrow_buffer::{Buffer, NullBuffer, OffsetBuffer, ScalarBuffer};
use arrow_schema::DataType;
use prime_core::{Tag, TagRows};
use pyo3::prelude::*;
use pyo3::types::PyCapsule;

use crate::errors::{Error, Result};

/// The string layouts the reader knows, for error messages.
const STRING_TYPES: &str =
    "string, large_string, string_view, or a dictionary (categorical) of those";

/// The bits of a string view that an inline string of each length (0 to 12) uses: its
/// length and its bytes (a producer may leave anything in the rest).
const INLINE_MASK: [u128; 13] = {
    let mut masks = [0u128; 13];
    let mut len = 0;
    while len <= 12 {
        masks[len] = if len == 12 {
            u128::MAX
        } else {
            (1u128 << (32 + 8 * len)) - 1
        };
        len += 1;
    }
    masks
};

/// Rows per block of [`TagColumn::block_chunks`].
const BLOCK: usize = 4096;

/// A column read from an Arrow stream: its name, type and chunks.
pub(crate) struct Column {
    pub(crate) name: String,
    pub(crate) data_type: DataType,
    pub(crate) chunks: Vec<ArrayRef>,
}

/// Reads the whole stream behind `source`: an `arrow_array_stream` capsule or an object
/// with `__arrow_c_stream__`, of one column or of a table of one column (a struct stream,
/// as `DataFrame.select(name)` gives).
pub(crate) fn read_stream(source: &Bound<'_, PyAny>) -> Result<Column> {
    let not_a_stream = || {
        let kind = source
            .get_type()
            .name()
            .map_or_else(|_| "?".to_string(), |n| n.to_string());
        Error::input(format!(
            "expected an Arrow table or column (an object with __arrow_c_stream__, or its \
             arrow_array_stream capsule), got a {kind}"
        ))
    };
    let capsule = match source.cast::<PyCapsule>() {
        Ok(capsule) => capsule.clone(),
        Err(_) => match source.getattr_opt("__arrow_c_stream__")? {
            Some(method) => method
                .call0()?
                .cast_into::<PyCapsule>()
                .map_err(|_| not_a_stream())?,
            None => return Err(not_a_stream()),
        },
    };
    let pointer = capsule
        .pointer_checked(Some(c"arrow_array_stream"))
        .map_err(|_| not_a_stream())?;
    // SAFETY: a capsule named "arrow_array_stream" holds an initialised, aligned
    // `ArrowArrayStream` (the PyCapsule interface's contract), alive as long as the capsule,
    // which `capsule` keeps. `from_raw` moves the stream out and leaves a released one in
    // its place, which is how the interface hands a stream to its consumer: the producer's
    // capsule destructor then finds nothing to release.
    let stream = unsafe { FFI_ArrowArrayStream::from_raw(pointer.as_ptr().cast()) };
    let reader = ArrayStreamReader::try_new(stream)?;
    let field = reader.field().clone();
    let arrays = reader.collect::<std::result::Result<Vec<_>, _>>()?;
    let DataType::Struct(fields) = field.data_type() else {
        return Ok(Column {
            name: field.name().clone(),
            data_type: field.data_type().clone(),
            chunks: arrays,
        });
    };
    if fields.len() != 1 {
        return Err(Error::input(format!(
            "expected a table of one column, got {} columns",
            fields.len()
        )));
    }
    let mut chunks = Vec::with_capacity(arrays.len());
    for array in &arrays {
        let table = array.as_struct();
        if table.null_count() > 0 {
            return Err(Error::input(format!(
                "the table holding column '{}' has null rows",
                fields[0].name()
            )));
        }
        chunks.push(table.column(0).clone());
    }
    Ok(Column {
        name: fields[0].name().clone(),
        data_type: fields[0].data_type().clone(),
        chunks,
    })
}

/// Null buffers that hold no null are dropped: nothing needs a look at them.
fn nulls_of(array: &dyn Array) -> Option<NullBuffer> {
    array.nulls().filter(|n| n.null_count() > 0).cloned()
}

/// Strings of one layout.
enum Strings {
    Utf8 {
        offsets: OffsetBuffer<i32>,
        bytes: Buffer,
    },
    LargeUtf8 {
        offsets: OffsetBuffer<i64>,
        bytes: Buffer,
    },
    View {
        views: ScalarBuffer<u128>,
        buffers: Vec<Buffer>,
    },
}

impl Strings {
    /// String `j`. Indexing is bounds-checked: data that breaks the Arrow format panics,
    /// it is never read out of bounds.
    #[inline(always)]
    fn tag(&self, j: usize) -> Tag<'_> {
        match self {
            Strings::Utf8 { offsets, bytes } => {
                Tag::Bytes(&bytes[offsets[j] as usize..offsets[j + 1] as usize])
            }
            Strings::LargeUtf8 { offsets, bytes } => {
                Tag::Bytes(&bytes[offsets[j] as usize..offsets[j + 1] as usize])
            }
            Strings::View { views, buffers } => {
                let view = views[j];
                let len = (view as u32) as usize;
                if len <= 12 {
                    Tag::Inline(view & INLINE_MASK[len])
                } else {
                    let buffer = ((view >> 64) as u32) as usize;
                    let offset = ((view >> 96) as u32) as usize;
                    Tag::Bytes(&buffers[buffer][offset..offset + len])
                }
            }
        }
    }
}

/// The strings of an array, through its dictionary keys when it has them.
struct Values {
    strings: Strings,
    nulls: Option<NullBuffer>,
    /// A dictionary's keys (as positions in `strings`) and their nulls.
    keys: Option<(ScalarBuffer<u32>, Option<NullBuffer>)>,
}

impl Values {
    /// Reads `array` if it is a string array (or a dictionary of strings).
    fn of(array: &dyn Array) -> Option<Values> {
        if let DataType::Dictionary(_, value_type) = array.data_type() {
            if matches!(**value_type, DataType::Dictionary(..)) {
                return None;
            }
            let dictionary = array.as_any_dictionary_opt()?;
            let mut values = Values::of(dictionary.values().as_ref())?;
            let keys = dictionary.keys();
            let positions = if let Some(keys) = keys.as_primitive_opt::<UInt32Type>() {
                keys.values().clone()
            } else if dictionary.values().is_empty() {
                // Every key is null (normalized_keys needs a value to point at).
                ScalarBuffer::from(vec![0u32; keys.len()])
            } else {
                let keys: Vec<u32> = dictionary
                    .normalized_keys()
                    .into_iter()
                    .map(|k| k as u32)
                    .collect();
                ScalarBuffer::from(keys)
            };
            values.keys = Some((positions, nulls_of(keys)));
            return Some(values);
        }
        let strings = match array.data_type() {
            DataType::Utf8 => {
                let a = array.as_string::<i32>();
                Strings::Utf8 {
                    offsets: a.offsets().clone(),
                    bytes: a.values().clone(),
                }
            }
            DataType::LargeUtf8 => {
                let a = array.as_string::<i64>();
                Strings::LargeUtf8 {
                    offsets: a.offsets().clone(),
                    bytes: a.values().clone(),
                }
            }
            DataType::Utf8View => {
                let a = array.as_string_view();
                Strings::View {
                    views: a.views().clone(),
                    buffers: a.data_buffers().to_vec(),
                }
            }
            _ => return None,
        };
        Some(Values {
            strings,
            nulls: nulls_of(array),
            keys: None,
        })
    }

    /// Element `j`, `None` when null.
    #[inline(always)]
    fn get(&self, j: usize) -> Option<Tag<'_>> {
        let j = match &self.keys {
            Some((keys, nulls)) => {
                if nulls.as_ref().is_some_and(|n| n.is_null(j)) {
                    return None;
                }
                keys[j] as usize
            }
            None => j,
        };
        if self.nulls.as_ref().is_some_and(|n| n.is_null(j)) {
            return None;
        }
        Some(self.strings.tag(j))
    }

    fn may_hold_nulls(&self) -> bool {
        self.nulls.is_some() || self.keys.as_ref().is_some_and(|(_, n)| n.is_some())
    }
}

/// Where each row's elements are.
enum Lists {
    /// A string array: row `r` is element `r`.
    Single,
    List(OffsetBuffer<i32>),
    LargeList(OffsetBuffer<i64>),
    View(ScalarBuffer<i32>, ScalarBuffer<i32>),
    LargeView(ScalarBuffer<i64>, ScalarBuffer<i64>),
}

/// One chunk of the column.
struct Chunk {
    rows: usize,
    lists: Lists,
    /// The null rows (whole lists), skipped.
    list_nulls: Option<NullBuffer>,
    values: Values,
}

impl Chunk {
    /// Reads `array` as lists of strings, or (`single`) as strings.
    fn of(array: &dyn Array, single: bool) -> Option<Chunk> {
        let rows = array.len();
        if single {
            return Some(Chunk {
                rows,
                lists: Lists::Single,
                list_nulls: None,
                values: Values::of(array)?,
            });
        }
        let (lists, values) = match array.data_type() {
            DataType::List(_) => {
                let a = array.as_list::<i32>();
                (Lists::List(a.offsets().clone()), a.values())
            }
            DataType::LargeList(_) => {
                let a = array.as_list::<i64>();
                (Lists::LargeList(a.offsets().clone()), a.values())
            }
            DataType::ListView(_) => {
                let a = array.as_list_view::<i32>();
                let lists = Lists::View(a.offsets().clone(), a.sizes().clone());
                (lists, a.values())
            }
            DataType::LargeListView(_) => {
                let a = array.as_list_view::<i64>();
                let lists = Lists::LargeView(a.offsets().clone(), a.sizes().clone());
                (lists, a.values())
            }
            _ => return None,
        };
        Some(Chunk {
            rows,
            lists,
            list_nulls: nulls_of(array),
            values: Values::of(values.as_ref())?,
        })
    }

    #[inline(always)]
    fn is_null(&self, row: usize) -> bool {
        self.list_nulls.as_ref().is_some_and(|n| n.is_null(row))
    }

    /// The elements of row `r`, a non-null row.
    #[inline(always)]
    fn bounds(&self, r: usize) -> std::ops::Range<usize> {
        match &self.lists {
            Lists::Single => r..r + 1,
            Lists::List(o) => o[r] as usize..o[r + 1] as usize,
            Lists::LargeList(o) => o[r] as usize..o[r + 1] as usize,
            Lists::View(o, s) => o[r] as usize..(o[r] as usize + s[r] as usize),
            Lists::LargeView(o, s) => o[r] as usize..(o[r] as usize + s[r] as usize),
        }
    }
}

/// The whole column, readable from any thread; it holds its arrays' buffers.
pub(crate) struct TagColumn {
    chunks: Vec<Chunk>,
    /// First row of each chunk, then the total.
    starts: Vec<usize>,
    /// For each block of [`BLOCK`] rows, the chunks holding its first and last rows, which
    /// narrow the search for a row's chunk (once per row) to those between them.
    block_chunks: Vec<(usize, usize)>,
}

impl TagColumn {
    /// A column of lists of strings.
    pub(crate) fn lists(column: &Column) -> Result<TagColumn> {
        Self::new(column, false).ok_or_else(|| {
            Error::input(format!(
                "column '{}' has the Arrow type {}; the engine reads lists (list, large_list, \
                 list_view) of strings ({STRING_TYPES})",
                column.name, column.data_type
            ))
        })
    }

    /// A column of one string per row.
    pub(crate) fn strings(column: &Column) -> Result<TagColumn> {
        Self::new(column, true).ok_or_else(|| {
            Error::input(format!(
                "column '{}' has the Arrow type {}; the engine reads strings ({STRING_TYPES})",
                column.name, column.data_type
            ))
        })
    }

    fn new(column: &Column, single: bool) -> Option<TagColumn> {
        // The type is checked even when there are no chunks.
        let empty = arrow_array::new_empty_array(&column.data_type);
        Chunk::of(empty.as_ref(), single)?;
        let chunks = column
            .chunks
            .iter()
            .map(|a| Chunk::of(a.as_ref(), single))
            .collect::<Option<Vec<_>>>()?;
        let mut starts = Vec::with_capacity(chunks.len() + 1);
        starts.push(0usize);
        for chunk in &chunks {
            starts.push(starts.last().expect("not empty") + chunk.rows);
        }
        let n_rows = *starts.last().expect("not empty");
        let chunk_of_row = |row: usize| starts.partition_point(|&s| s <= row) - 1;
        let block_chunks = (0..n_rows.div_ceil(BLOCK))
            .map(|b| {
                let last = (b * BLOCK + BLOCK).min(n_rows) - 1;
                (chunk_of_row(b * BLOCK), chunk_of_row(last))
            })
            .collect();
        Some(TagColumn {
            chunks,
            starts,
            block_chunks,
        })
    }

    #[inline]
    fn locate(&self, row: usize) -> (&Chunk, usize) {
        let (first, last) = self.block_chunks[row / BLOCK];
        // Each start after the first chunk's that is at most `row` is a chunk passed (an
        // empty chunk's start equals the next one's, so it is passed too).
        let c = first + self.starts[first + 1..=last].partition_point(|&s| s <= row);
        (&self.chunks[c], row - self.starts[c])
    }

    /// The rows (counted from 0) whose list holds a null tag.
    pub(crate) fn rows_with_null_tags(&self) -> Vec<u64> {
        let mut out = Vec::new();
        for (chunk, &start) in self.chunks.iter().zip(&self.starts) {
            if !chunk.values.may_hold_nulls() {
                continue;
            }
            for r in 0..chunk.rows {
                if !chunk.is_null(r) && chunk.bounds(r).any(|j| chunk.values.get(j).is_none()) {
                    out.push((start + r) as u64);
                }
            }
        }
        out
    }
}

impl TagRows for TagColumn {
    fn n_rows(&self) -> usize {
        *self.starts.last().expect("starts has the total")
    }

    fn for_each_in<'a, F: FnMut(usize, Option<Tag<'a>>)>(
        &'a self,
        rows: std::ops::Range<usize>,
        mut f: F,
    ) {
        // Chunk by chunk: each row's chunk is found once per run, not once per row.
        let mut row = rows.start;
        while row < rows.end {
            let (chunk, first) = self.locate(row);
            let n = (chunk.rows - first).min(rows.end - row);
            for (r, row) in (first..first + n).zip(row..) {
                if chunk.is_null(r) {
                    continue;
                }
                for j in chunk.bounds(r) {
                    // One call site, so that `f` is inlined.
                    f(row, chunk.values.get(j));
                }
            }
            row += n;
        }
    }

    fn for_each_tag<'a, F: FnMut(Option<Tag<'a>>)>(&'a self, row: usize, mut f: F) {
        let (chunk, r) = self.locate(row);
        if chunk.is_null(r) {
            return;
        }
        for j in chunk.bounds(r) {
            // One call site, so that `f` is inlined.
            f(chunk.values.get(j));
        }
    }
}
