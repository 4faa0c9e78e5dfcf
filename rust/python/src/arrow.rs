//! Reads a `list<string>` column (or a string column, one tag per row) in place through the
//! Arrow C stream interface (the `__arrow_c_stream__` PyCapsule that Polars, pyarrow and
//! others export), for `prime_core::TagIndex::from_tag_rows` and
//! `prime_core::encode_strings`. Layouts it does not know give `None`; the caller then
//! takes the slower path through Polars.

use std::ffi::{c_char, c_int, c_void, CStr};
use std::ptr::NonNull;

use prime_core::{Tag, TagRows};
use pyo3::prelude::*;
use pyo3::types::{PyCapsule, PyCapsuleMethods};

#[repr(C)]
pub(crate) struct ArrowSchema {
    pub(crate) format: *const c_char,
    pub(crate) name: *const c_char,
    pub(crate) metadata: *const c_char,
    pub(crate) flags: i64,
    pub(crate) n_children: i64,
    pub(crate) children: *mut *mut ArrowSchema,
    pub(crate) dictionary: *mut ArrowSchema,
    pub(crate) release: Option<unsafe extern "C" fn(*mut ArrowSchema)>,
    pub(crate) private_data: *mut c_void,
}

#[repr(C)]
pub(crate) struct ArrowArray {
    pub(crate) length: i64,
    pub(crate) null_count: i64,
    pub(crate) offset: i64,
    pub(crate) n_buffers: i64,
    pub(crate) n_children: i64,
    pub(crate) buffers: *mut *const c_void,
    pub(crate) children: *mut *mut ArrowArray,
    pub(crate) dictionary: *mut ArrowArray,
    pub(crate) release: Option<unsafe extern "C" fn(*mut ArrowArray)>,
    pub(crate) private_data: *mut c_void,
}

#[repr(C)]
struct ArrowArrayStream {
    get_schema: Option<unsafe extern "C" fn(*mut ArrowArrayStream, *mut ArrowSchema) -> c_int>,
    get_next: Option<unsafe extern "C" fn(*mut ArrowArrayStream, *mut ArrowArray) -> c_int>,
    get_last_error: Option<unsafe extern "C" fn(*mut ArrowArrayStream) -> *const c_char>,
    release: Option<unsafe extern "C" fn(*mut ArrowArrayStream)>,
    private_data: *mut c_void,
}

/// A released-on-drop Arrow struct (schema, array or stream), moved out of its producer.
struct Owned<T: Release>(Box<T>);

/// An Arrow C struct (schema, array or stream): its release callback and private data.
pub(crate) trait Release: Sized {
    fn release_slot(&mut self) -> &mut Option<unsafe extern "C" fn(*mut Self)>;
    fn private_data(&self) -> *mut c_void;

    /// Calls the struct's release callback, unless it was released (or moved out) already.
    fn release(&mut self) {
        if let Some(release) = self.release_slot().take() {
            // SAFETY: the producer's own release callback, called once, on its struct.
            unsafe { release(self) }
        }
    }
}

macro_rules! release_impl {
    ($t:ty) => {
        impl Release for $t {
            fn release_slot(&mut self) -> &mut Option<unsafe extern "C" fn(*mut Self)> {
                &mut self.release
            }
            fn private_data(&self) -> *mut c_void {
                self.private_data
            }
        }
    };
}
release_impl!(ArrowSchema);
release_impl!(ArrowArray);
release_impl!(ArrowArrayStream);

impl<T: Release> Drop for Owned<T> {
    fn drop(&mut self) {
        self.0.release();
    }
}

/// The physical layout of the strings inside the lists.
#[derive(Clone, Copy)]
enum StringKind {
    /// `u`: 32-bit offsets.
    Utf8,
    /// `U`: 64-bit offsets.
    LargeUtf8,
    /// `vu`: 16-byte views, short strings inline.
    Utf8View,
}

/// One chunk of the column: list offsets over a string child, or (`single`) a string array
/// read as one tag per row.
struct Chunk {
    rows: usize,
    single: bool,
    list_offset: usize,
    list_validity: Option<NonNull<u8>>,
    large_list: bool,
    list_offsets: NonNull<u8>,
    kind: StringKind,
    child_offset: usize,
    child_validity: Option<NonNull<u8>>,
    /// `u` / `U`: the offsets; `vu`: the views.
    child_main: NonNull<u8>,
    /// `u` / `U`: the one data buffer; `vu`: every variadic data buffer.
    data: Vec<*const u8>,
}

/// The bits of a string view that an inline string of each length (0 to 12) uses: its
/// length and its bytes.
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

/// The whole column, readable from any thread; the arrays stay alive as long as it does.
pub struct TagColumn {
    chunks: Vec<Chunk>,
    /// A string column, one tag per row, rather than a list column.
    pub single: bool,
    /// First row of each chunk, then the total.
    starts: Vec<usize>,
    /// For each block of [`BLOCK`] rows, the chunks holding its first and last rows, which
    /// narrow the search for a row's chunk (once per row) to those between them.
    block_chunks: Vec<(usize, usize)>,
    _arrays: Vec<Owned<ArrowArray>>,
}

// SAFETY: the column only reads immutable Arrow buffers, which its owned arrays keep alive.
unsafe impl Send for TagColumn {}
unsafe impl Sync for TagColumn {}

fn bit(validity: Option<NonNull<u8>>, i: usize) -> bool {
    match validity {
        // SAFETY: a validity bitmap covers offset + length bits of its array.
        Some(v) => unsafe { *v.as_ptr().add(i / 8) >> (i % 8) & 1 == 1 },
        None => true,
    }
}

impl Chunk {
    fn list_bounds(&self, row: usize) -> (usize, usize) {
        if self.single {
            return (row, row + 1);
        }
        let i = self.list_offset + row;
        // SAFETY: list offsets hold offset + length + 1 entries.
        unsafe {
            if self.large_list {
                let o = self.list_offsets.as_ptr() as *const i64;
                (*o.add(i) as usize, *o.add(i + 1) as usize)
            } else {
                let o = self.list_offsets.as_ptr() as *const i32;
                (*o.add(i) as usize, *o.add(i + 1) as usize)
            }
        }
    }

    /// Child element `j` (an absolute index, child offset included).
    fn tag(&self, j: usize) -> Tag<'_> {
        // SAFETY: offsets and views are in bounds of an array that follows the Arrow spec.
        unsafe {
            match self.kind {
                StringKind::Utf8 => {
                    let o = self.child_main.as_ptr() as *const i32;
                    let (a, b) = (*o.add(j) as usize, *o.add(j + 1) as usize);
                    Tag::Bytes(std::slice::from_raw_parts(self.data[0].add(a), b - a))
                }
                StringKind::LargeUtf8 => {
                    let o = self.child_main.as_ptr() as *const i64;
                    let (a, b) = (*o.add(j) as usize, *o.add(j + 1) as usize);
                    Tag::Bytes(std::slice::from_raw_parts(self.data[0].add(a), b - a))
                }
                StringKind::Utf8View => {
                    let view =
                        (self.child_main.as_ptr().add(16 * j) as *const u128).read_unaligned();
                    let len = (view as u32) as usize;
                    if len <= 12 {
                        // Whatever a producer left in the padding is masked off.
                        Tag::Inline(view & INLINE_MASK[len])
                    } else {
                        let buffer = ((view >> 64) as u32) as usize;
                        let offset = ((view >> 96) as u32) as usize;
                        Tag::Bytes(std::slice::from_raw_parts(
                            self.data[buffer].add(offset),
                            len,
                        ))
                    }
                }
            }
        }
    }
}

impl TagColumn {
    #[inline]
    fn locate(&self, row: usize) -> (&Chunk, usize) {
        let (first, last) = self.block_chunks[row / BLOCK];
        // Each start after the first chunk's that is at most `row` is a chunk passed (an
        // empty chunk's start equals the next one's, so it is passed too).
        let c = first + self.starts[first + 1..=last].partition_point(|&s| s <= row);
        (&self.chunks[c], row - self.starts[c])
    }

    /// The rows (counted from 0) whose list holds a null tag.
    pub fn rows_with_null_tags(&self) -> Vec<u64> {
        let mut out = Vec::new();
        for (chunk, &start) in self.chunks.iter().zip(&self.starts) {
            if chunk.child_validity.is_none() {
                continue;
            }
            for r in 0..chunk.rows {
                if !bit(chunk.list_validity, chunk.list_offset + r) {
                    continue;
                }
                let (a, b) = chunk.list_bounds(r);
                let base = chunk.child_offset;
                if (a..b).any(|k| !bit(chunk.child_validity, base + k)) {
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
                if !bit(chunk.list_validity, chunk.list_offset + r) {
                    continue;
                }
                let (a, b) = chunk.list_bounds(r);
                for k in a..b {
                    let j = chunk.child_offset + k;
                    // One call site, so that `f` is inlined.
                    f(row, bit(chunk.child_validity, j).then(|| chunk.tag(j)));
                }
            }
            row += n;
        }
    }

    fn for_each_tag<'a, F: FnMut(Option<Tag<'a>>)>(&'a self, row: usize, mut f: F) {
        let (chunk, r) = self.locate(row);
        if !bit(chunk.list_validity, chunk.list_offset + r) {
            return;
        }
        let (a, b) = chunk.list_bounds(r);
        for k in a..b {
            let j = chunk.child_offset + k;
            // One call site, so that `f` is inlined.
            f(bit(chunk.child_validity, j).then(|| chunk.tag(j)));
        }
    }
}

fn format_of(schema: &ArrowSchema) -> &[u8] {
    if schema.format.is_null() {
        return b"";
    }
    // SAFETY: a non-null format is a NUL-terminated string owned by the schema.
    unsafe { CStr::from_ptr(schema.format) }.to_bytes()
}

/// Reads the column behind an `arrow_array_stream` capsule: a list (32- or 64-bit offsets)
/// of strings (`u`, `U` or `vu`), or a string column, read as one tag per row; `Ok(None)`
/// for any other type.
pub fn read_tag_column(capsule: &Bound<'_, PyCapsule>) -> PyResult<Option<TagColumn>> {
    let ptr = capsule.pointer_checked(Some(c"arrow_array_stream"))?;
    let raw = ptr.as_ptr() as *mut ArrowArrayStream;
    // SAFETY: the capsule holds a stream; moving it out and clearing the original's release
    // is how the PyCapsule protocol hands a stream over to its consumer.
    let mut stream = Owned(Box::new(unsafe { raw.read() }));
    unsafe { (*raw).release = None };

    let mut schema = Owned(Box::new(ArrowSchema {
        format: std::ptr::null(),
        name: std::ptr::null(),
        metadata: std::ptr::null(),
        flags: 0,
        n_children: 0,
        children: std::ptr::null_mut(),
        dictionary: std::ptr::null_mut(),
        release: None,
        private_data: std::ptr::null_mut(),
    }));
    let Some(get_schema) = stream.0.get_schema else {
        return Ok(None);
    };
    // SAFETY: the stream's own callback fills our schema.
    if unsafe { get_schema(&mut *stream.0, &mut *schema.0) } != 0 {
        return Ok(None);
    }
    let string_kind = |format: &[u8]| match format {
        b"u" => Some(StringKind::Utf8),
        b"U" => Some(StringKind::LargeUtf8),
        b"vu" => Some(StringKind::Utf8View),
        _ => None,
    };
    if !schema.0.dictionary.is_null() {
        return Ok(None);
    }
    let (single, large_list, kind) = match format_of(&schema.0) {
        b"+l" | b"+L" => {
            if schema.0.n_children != 1 {
                return Ok(None);
            }
            // SAFETY: a list schema has one child schema.
            let child_schema = unsafe { &**schema.0.children };
            if !child_schema.dictionary.is_null() {
                return Ok(None);
            }
            let Some(kind) = string_kind(format_of(child_schema)) else {
                return Ok(None);
            };
            (false, format_of(&schema.0) == b"+L", kind)
        }
        other => match string_kind(other) {
            Some(kind) => (true, false, kind),
            None => return Ok(None),
        },
    };

    let mut chunks = Vec::new();
    let mut arrays = Vec::new();
    let mut starts = vec![0usize];
    let Some(get_next) = stream.0.get_next else {
        return Ok(None);
    };
    loop {
        let mut array = Owned(Box::new(ArrowArray {
            length: 0,
            null_count: 0,
            offset: 0,
            n_buffers: 0,
            n_children: 0,
            buffers: std::ptr::null_mut(),
            children: std::ptr::null_mut(),
            dictionary: std::ptr::null_mut(),
            release: None,
            private_data: std::ptr::null_mut(),
        }));
        // SAFETY: the stream's own callback fills our array; a null release ends the stream.
        if unsafe { get_next(&mut *stream.0, &mut *array.0) } != 0 {
            return Ok(None);
        }
        if array.0.release.is_none() {
            break;
        }
        // SAFETY: the array follows the schema checked above.
        let Some(chunk) = (unsafe { chunk_of(&array.0, single, large_list, kind) }) else {
            return Ok(None);
        };
        starts.push(starts.last().expect("not empty") + chunk.rows);
        chunks.push(chunk);
        arrays.push(array);
    }
    let n_rows = *starts.last().expect("not empty");
    let chunk_of_row = |row: usize| starts.partition_point(|&s| s <= row) - 1;
    let block_chunks = (0..n_rows.div_ceil(BLOCK))
        .map(|b| {
            let last = (b * BLOCK + BLOCK).min(n_rows) - 1;
            (chunk_of_row(b * BLOCK), chunk_of_row(last))
        })
        .collect();
    Ok(Some(TagColumn {
        chunks,
        starts,
        block_chunks,
        single,
        _arrays: arrays,
    }))
}

/// The pointers of one list array.
///
/// # Safety
/// `array` must be a valid Arrow array of a list type with a string child of `kind`, or
/// (`single`) a string array of `kind`.
unsafe fn chunk_of(
    array: &ArrowArray,
    single: bool,
    large_list: bool,
    kind: StringKind,
) -> Option<Chunk> {
    let child = if single {
        array
    } else {
        if array.n_buffers != 2 || array.n_children != 1 {
            return None;
        }
        &**array.children
    };
    let buffers = std::slice::from_raw_parts(array.buffers, array.n_buffers as usize);
    let child_buffers = std::slice::from_raw_parts(child.buffers, child.n_buffers as usize);
    let rows = array.length as usize;
    let list_validity =
        NonNull::new(buffers[0] as *mut u8).filter(|_| array.null_count != 0 && !single);
    let child_validity =
        NonNull::new(child_buffers[0] as *mut u8).filter(|_| child.null_count != 0);
    let (child_main, data) = match kind {
        StringKind::Utf8 | StringKind::LargeUtf8 => {
            if child.n_buffers != 3 {
                return None;
            }
            (child_buffers[1], vec![data_ptr(child_buffers[2])])
        }
        StringKind::Utf8View => {
            // validity, views, the data buffers, then their sizes
            if child.n_buffers < 3 {
                return None;
            }
            let n_data = child.n_buffers as usize - 3;
            let data = child_buffers[2..2 + n_data]
                .iter()
                .map(|&b| data_ptr(b))
                .collect();
            (child_buffers[1], data)
        }
    };
    let list_offsets = if single {
        Some(NonNull::dangling())
    } else {
        NonNull::new(buffers[1] as *mut u8)
    };
    let child_main = NonNull::new(child_main as *mut u8);
    if rows == 0 {
        // Empty arrays may leave their buffers null; nothing is read from them.
        return Some(Chunk {
            rows,
            single,
            list_offset: 0,
            list_validity: None,
            large_list,
            list_offsets: NonNull::dangling(),
            kind,
            child_offset: 0,
            child_validity: None,
            child_main: NonNull::dangling(),
            data: Vec::new(),
        });
    }
    Some(Chunk {
        rows,
        single,
        list_offset: array.offset as usize,
        list_validity,
        large_list,
        list_offsets: list_offsets?,
        kind,
        child_offset: child.offset as usize,
        child_validity,
        child_main: child_main.unwrap_or(NonNull::dangling()),
        data,
    })
}

/// A data buffer's start; an all-empty buffer may be null, which a slice must not be.
fn data_ptr(buffer: *const c_void) -> *const u8 {
    if buffer.is_null() {
        NonNull::<u8>::dangling().as_ptr()
    } else {
        buffer as *const u8
    }
}
