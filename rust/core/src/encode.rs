//! Tag strings to tag ids, for [`crate::TagIndex::from_tag_rows`].
//!
//! Each class's rows are encoded on their own, with a small hash map of their own, into
//! compact rows of class-local ids; the classes' vocabularies are then merged and sorted.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;

use rayon::prelude::*;
use rustc_hash::FxHasher;

use crate::error::{PrimeError, Result};

/// Rows of tag strings, read in place: one row per sample (an Arrow `list<string>` column,
/// say). See [`crate::TagIndex::from_tag_rows`].
pub trait TagRows: Sync {
    /// Number of rows (samples).
    fn n_rows(&self) -> usize;
    /// Calls `f` with each tag of `row` in order, `None` for a null tag.
    fn for_each_tag<'a, F: FnMut(Option<Tag<'a>>)>(&'a self, row: usize, f: F);
}

/// One tag, as [`TagRows`] hands it over.
#[derive(Debug, Clone, Copy)]
pub enum Tag<'a> {
    /// The tag's UTF-8 bytes.
    Bytes(&'a [u8]),
    /// A tag of at most 12 bytes as an Arrow string view holds it inline: the length as a
    /// little-endian u32, then the bytes, then zeros, read as one little-endian u128.
    /// Hashing and comparing it needs no look at the string data.
    Inline(u128),
}

impl Tag<'_> {
    /// The tag in the inline form when it is short enough.
    #[inline]
    pub fn inline(bytes: &[u8]) -> Option<u128> {
        (bytes.len() <= 12).then(|| {
            let mut view = [0u8; 16];
            view[..4].copy_from_slice(&(bytes.len() as u32).to_le_bytes());
            view[4..4 + bytes.len()].copy_from_slice(bytes);
            u128::from_le_bytes(view)
        })
    }
}

/// A hash key: short tags inline, longer ones by their bytes; a given tag always takes the
/// same form, so equal keys are equal tags.
#[derive(Clone, Copy)]
enum Key<'a> {
    Short(u128),
    Long(&'a [u8]),
}

impl<'a> Key<'a> {
    #[inline]
    fn of(tag: Tag<'a>) -> Self {
        match tag {
            Tag::Inline(view) => Key::Short(view),
            Tag::Bytes(bytes) => match Tag::inline(bytes) {
                Some(view) => Key::Short(view),
                None => Key::Long(bytes),
            },
        }
    }
}

/// A vocabulary entry: the inline form's 16 bytes, or the tag's own bytes.
#[derive(Clone, Copy)]
pub(crate) enum TagBytes<'a> {
    Short([u8; 16]),
    Long(&'a [u8]),
}

impl TagBytes<'_> {
    pub(crate) fn bytes(&self) -> &[u8] {
        match self {
            TagBytes::Short(view) => {
                let len = u32::from_le_bytes([view[0], view[1], view[2], view[3]]) as usize;
                &view[4..4 + len]
            }
            TagBytes::Long(bytes) => bytes,
        }
    }
}

/// One class's rows as ids into its own vocabulary (first-seen order).
pub(crate) struct ClassRows<'a> {
    pub(crate) vocabulary: Vec<TagBytes<'a>>,
    /// Sample `i`'s ids are `ids[row_ptr[i]..row_ptr[i + 1]]`.
    pub(crate) row_ptr: Vec<u32>,
    pub(crate) ids: Vec<u32>,
}

/// Ids of tags in the inline form: open addressing with linear probing over two flat
/// arrays, kept at most half full. Several times faster than a general hash map here, where
/// nearly every look-up hits one of a few hundred keys.
struct InlineIds {
    keys: Vec<u128>,
    /// `u32::MAX` marks an empty slot.
    ids: Vec<u32>,
    len: usize,
}

impl InlineIds {
    fn new() -> Self {
        InlineIds {
            keys: vec![0; 1024],
            ids: vec![u32::MAX; 1024],
            len: 0,
        }
    }

    #[inline]
    fn slot(keys_len: usize, key: u128) -> usize {
        let folded = (key as u64) ^ ((key >> 64) as u64).rotate_left(29);
        // The high bits of a multiplicative hash, as many as the table needs.
        let bits = keys_len.trailing_zeros();
        (folded.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - bits)) as usize
    }

    /// The id of `key`, or `next` after inserting it (then `true`).
    #[inline]
    fn get_or_insert(&mut self, key: u128, next: u32) -> (u32, bool) {
        let mask = self.keys.len() - 1;
        let mut i = Self::slot(self.keys.len(), key);
        loop {
            let id = self.ids[i];
            if id == u32::MAX {
                self.keys[i] = key;
                self.ids[i] = next;
                self.len += 1;
                if 2 * self.len > self.keys.len() {
                    self.grow();
                }
                return (next, true);
            }
            if self.keys[i] == key {
                return (id, false);
            }
            i = (i + 1) & mask;
        }
    }

    fn grow(&mut self) {
        let size = self.keys.len() * 2;
        let keys = std::mem::replace(&mut self.keys, vec![0; size]);
        let ids = std::mem::replace(&mut self.ids, vec![u32::MAX; size]);
        for (key, id) in keys.into_iter().zip(ids) {
            if id != u32::MAX {
                let mut i = Self::slot(size, key);
                while self.ids[i] != u32::MAX {
                    i = (i + 1) & (size - 1);
                }
                self.keys[i] = key;
                self.ids[i] = id;
            }
        }
    }
}

/// Encodes the rows `members` (in that order) with ids into a vocabulary of their own.
///
/// Short tags (at most 12 bytes) are looked up by their inline form in one map, longer
/// ones by their bytes in another: a given tag always lands in the same map.
pub(crate) fn encode_class<'a, R: TagRows>(rows: &'a R, members: &[u32]) -> Result<ClassRows<'a>> {
    let mut short = InlineIds::new();
    let mut long: HashMap<&'a [u8], u32, BuildHasherDefault<FxHasher>> = HashMap::default();
    let mut vocabulary: Vec<TagBytes<'a>> = Vec::new();
    let mut row_ptr = Vec::with_capacity(members.len() + 1);
    let mut ids = Vec::new();
    let mut null = false;
    row_ptr.push(0u32);
    for &r in members {
        rows.for_each_tag(r as usize, |tag| {
            let Some(tag) = tag else {
                null = true;
                return;
            };
            let next = vocabulary.len() as u32;
            let id = match Key::of(tag) {
                Key::Short(view) => {
                    let (id, new) = short.get_or_insert(view, next);
                    if new {
                        vocabulary.push(TagBytes::Short(view.to_le_bytes()));
                    }
                    id
                }
                Key::Long(bytes) => *long.entry(bytes).or_insert_with(|| {
                    vocabulary.push(TagBytes::Long(bytes));
                    next
                }),
            };
            ids.push(id);
        });
        if null {
            return Err(PrimeError::InvalidInput(format!(
                "row {r} has a null tag; a sample without tags is an empty list"
            )));
        }
        let end = u32::try_from(ids.len()).map_err(|_| {
            PrimeError::InvalidInput("a class has more than 2^32 tags in all".into())
        })?;
        row_ptr.push(end);
    }
    Ok(ClassRows {
        vocabulary,
        row_ptr,
        ids,
    })
}

/// The sorted union of the classes' vocabularies (sorted by bytes, which is code point
/// order), and for each class the global id of each of its own ids.
pub(crate) fn merge_vocabularies<'a: 'b, 'b>(
    classes: impl Iterator<Item = &'b Vec<TagBytes<'a>>> + Clone,
) -> Result<(Vec<String>, Vec<Vec<u32>>)> {
    // Distinct tags first (classes share most of theirs), then one sort of those.
    let mut ids: HashMap<&[u8], u32, BuildHasherDefault<FxHasher>> = HashMap::default();
    for tag in classes.clone().flatten() {
        ids.entry(tag.bytes()).or_insert(0);
    }
    let mut sorted: Vec<&[u8]> = ids.keys().copied().collect();
    sorted.sort_unstable();
    for (i, tag) in sorted.iter().enumerate() {
        ids.insert(tag, i as u32);
    }
    let remaps = classes
        .map(|local| local.iter().map(|tag| ids[tag.bytes()]).collect())
        .collect();
    let vocabulary = sorted
        .iter()
        .map(|bytes| {
            String::from_utf8(bytes.to_vec()).map_err(|_| {
                PrimeError::InvalidInput(format!(
                    "a tag is not valid UTF-8 text: {:?}",
                    String::from_utf8_lossy(bytes)
                ))
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((vocabulary, remaps))
}

/// Encodes a column of one string per row (class labels, say): every distinct string sorted
/// by bytes, and each row's position among them. Pieces of rows are encoded in parallel.
///
/// ```
/// use prime_core::{encode_strings, Tag, TagRows};
///
/// struct Labels(Vec<&'static str>);
/// impl TagRows for Labels {
///     fn n_rows(&self) -> usize { self.0.len() }
///     fn for_each_tag<'a, F: FnMut(Option<Tag<'a>>)>(&'a self, row: usize, mut f: F) {
///         f(Some(Tag::Bytes(self.0[row].as_bytes())));
///     }
/// }
/// let (values, codes) = encode_strings(&Labels(vec!["fox", "cat", "fox"])).unwrap();
/// assert_eq!((values, codes), (vec!["cat".to_string(), "fox".to_string()], vec![1, 0, 1]));
/// ```
pub fn encode_strings<R: TagRows>(rows: &R) -> Result<(Vec<String>, Vec<u32>)> {
    let n = rows.n_rows();
    let n32 = u32::try_from(n).map_err(|_| {
        PrimeError::InvalidInput(format!("{n} rows is more than the engine's limit"))
    })?;
    let members: Vec<u32> = (0..n32).collect();
    let n_pieces = (rayon::current_num_threads() * 2).clamp(1, n.max(1));
    let pieces: Vec<ClassRows<'_>> = (0..n_pieces)
        .into_par_iter()
        .with_max_len(1)
        .map(|p| encode_class(rows, &members[p * n / n_pieces..(p + 1) * n / n_pieces]))
        .collect::<Result<_>>()?;
    for (p, piece) in pieces.iter().enumerate() {
        if let Some(i) = piece.row_ptr.windows(2).position(|w| w[1] - w[0] != 1) {
            let row = p * n / n_pieces + i;
            return Err(PrimeError::InvalidInput(format!(
                "row {row} holds {} values; one per row is expected",
                piece.row_ptr[i + 1] - piece.row_ptr[i]
            )));
        }
    }
    let (vocabulary, remaps) = merge_vocabularies(pieces.iter().map(|p| &p.vocabulary))?;
    let mut codes = Vec::with_capacity(n);
    for (piece, remap) in pieces.iter().zip(&remaps) {
        codes.extend(piece.ids.iter().map(|&i| remap[i as usize]));
    }
    Ok((vocabulary, codes))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Through several growths, with keys that share their low or high halves.
    #[test]
    fn inline_ids_agree_with_a_hash_map() {
        let mut table = InlineIds::new();
        let mut reference: HashMap<u128, u32> = HashMap::new();
        let keys: Vec<u128> = (0..5000u128)
            .flat_map(|i| [i, i << 64, (i << 64) | 7, u128::MAX - i])
            .collect();
        for round in 0..2 {
            for &k in &keys {
                let next = reference.len() as u32;
                let expected = *reference.entry(k).or_insert(next);
                let (got, new) = table.get_or_insert(k, next);
                assert_eq!(got, expected);
                assert_eq!(new, round == 0 && got == next);
            }
        }
        assert_eq!(table.len, reference.len());
    }
}
