//! Tag strings to tag ids, for [`crate::TagIndex::from_tag_rows`].
//!
//! Each class's rows are encoded on their own, with a small hash table of their own (see
//! [`Encoder`]), into compact rows of class-local ids, each tag once per row, with each
//! tag's count; the classes' vocabularies are then merged and sorted.

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
    /// Calls `f` with each tag of `row` in order, `None` for a null tag. (Calling `f` from
    /// one place only lets the compiler inline it, which the encoder's speed relies on.)
    fn for_each_tag<'a, F: FnMut(Option<Tag<'a>>)>(&'a self, row: usize, f: F);

    /// Calls `f(row, tag)` with each tag of the rows `rows`, in order. Samples tables often
    /// keep a class's rows together, and a reader can walk such a run faster than row by
    /// row; by default it goes row by row.
    fn for_each_in<'a, F: FnMut(usize, Option<Tag<'a>>)>(
        &'a self,
        rows: std::ops::Range<usize>,
        mut f: F,
    ) {
        for row in rows {
            self.for_each_tag(row, |tag| f(row, tag));
        }
    }
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
    /// How many rows hold each id.
    pub(crate) counts: Vec<u32>,
}

/// One slot of [`Encoder`]'s table: a key (see [`Encoder`]), its id (`u32::MAX` in an
/// empty slot), the stamp it was last seen with, and in how many stamps it was seen.
#[derive(Clone, Copy)]
struct Slot {
    lo: u64,
    hi: u64,
    id: u32,
    stamp: u32,
    count: u32,
}

const EMPTY: Slot = Slot {
    lo: 0,
    hi: 0,
    id: u32::MAX,
    stamp: u32::MAX,
    count: 0,
};

/// Gives each distinct tag an id, in first-seen order, keeps the vocabulary, and counts in
/// how many rows (stamps) each tag is.
///
/// One open-addressing table with linear probing holds every tag under a 128-bit key:
/// - a tag of at most 12 bytes, by its inline form (length, bytes, zeros), which is the
///   tag itself: equal keys are equal tags;
/// - a longer tag, by its length and first four bytes (the low 64 bits, as in a string
///   view) and a 64-bit hash of all its bytes. Its length says it is not a short key. A hit
///   is checked against the tag's bytes; a long tag whose key an earlier, different tag
///   holds goes to `clashes`, an ordinary map, and so always gets the same id.
///
/// A slot also holds its tag's last stamp and count, so that a look-up touches one cache
/// line. The table is kept at most an eighth full while small (a quarter of a slot's probes
/// end in a mispredicted branch at half full, and those dominate a look-up that hits the
/// cache), and at most half full past 32,768 slots.
struct Encoder<'a> {
    slots: Vec<Slot>,
    len: usize,
    vocabulary: Vec<TagBytes<'a>>,
    /// id, stamp and count of each long tag that lost its key to another.
    clashes: HashMap<&'a [u8], (u32, u32, u32), BuildHasherDefault<FxHasher>>,
}

impl<'a> Encoder<'a> {
    fn new() -> Self {
        Encoder {
            slots: vec![EMPTY; 1024],
            len: 0,
            vocabulary: Vec::new(),
            clashes: HashMap::default(),
        }
    }

    #[inline]
    fn slot(n_slots: usize, lo: u64, hi: u64) -> usize {
        let folded = lo ^ hi.rotate_left(29);
        // The high bits of a multiplicative hash, as many as the table needs.
        let bits = n_slots.trailing_zeros();
        (folded.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - bits)) as usize
    }

    /// The id of `tag` (a new one, the vocabulary's next, for the first of its kind), or
    /// `None` when the tag was last seen with the same `stamp` (a row number, say).
    #[inline(always)]
    fn visit(&mut self, tag: Tag<'a>, stamp: u32) -> Option<u32> {
        match tag {
            Tag::Inline(view) => self.short(view, stamp),
            Tag::Bytes(bytes) => match Tag::inline(bytes) {
                Some(view) => self.short(view, stamp),
                None => self.long(bytes, stamp),
            },
        }
    }

    #[inline(always)]
    fn short(&mut self, view: u128, stamp: u32) -> Option<u32> {
        let (lo, hi) = (view as u64, (view >> 64) as u64);
        match self.find(lo, hi) {
            Ok(i) => self.seen(i, stamp),
            Err(i) => Some(self.insert(i, lo, hi, TagBytes::Short(view.to_le_bytes()), stamp)),
        }
    }

    #[inline(never)]
    fn long(&mut self, bytes: &'a [u8], stamp: u32) -> Option<u32> {
        let key = long_key(bytes);
        let (lo, hi) = (key as u64, (key >> 64) as u64);
        match self.find(lo, hi) {
            Ok(i) if same_long(self.vocabulary[self.slots[i].id as usize].bytes(), bytes) => {
                self.seen(i, stamp)
            }
            Ok(_) => self.clash(bytes, stamp),
            Err(i) => Some(self.insert(i, lo, hi, TagBytes::Long(bytes), stamp)),
        }
    }

    #[inline(always)]
    fn seen(&mut self, i: usize, stamp: u32) -> Option<u32> {
        let slot = &mut self.slots[i];
        if slot.stamp == stamp {
            return None;
        }
        slot.stamp = stamp;
        slot.count += 1;
        Some(slot.id)
    }

    /// `Ok` with the slot of the key `(lo, hi)`, or `Err` with the empty slot that ends its
    /// probe.
    #[inline(always)]
    fn find(&self, lo: u64, hi: u64) -> std::result::Result<usize, usize> {
        let mask = self.slots.len() - 1;
        let mut i = Self::slot(self.slots.len(), lo, hi);
        loop {
            let s = &self.slots[i];
            if s.lo == lo && s.hi == hi && s.id != u32::MAX {
                return Ok(i);
            }
            if s.id == u32::MAX {
                return Err(i);
            }
            i = (i + 1) & mask;
        }
    }

    #[inline(never)]
    fn insert(&mut self, i: usize, lo: u64, hi: u64, tag: TagBytes<'a>, stamp: u32) -> u32 {
        let id = self.push(tag);
        self.slots[i] = Slot {
            lo,
            hi,
            id,
            stamp,
            count: 1,
        };
        self.len += 1;
        let limit = if self.slots.len() <= 1 << 15 {
            self.slots.len() / 8
        } else {
            self.slots.len() / 2
        };
        if self.len > limit {
            self.grow();
        }
        id
    }

    #[cold]
    fn clash(&mut self, bytes: &'a [u8], stamp: u32) -> Option<u32> {
        if let Some((id, last, count)) = self.clashes.get_mut(bytes) {
            if *last == stamp {
                return None;
            }
            *last = stamp;
            *count += 1;
            return Some(*id);
        }
        let id = self.push(TagBytes::Long(bytes));
        self.clashes.insert(bytes, (id, stamp, 1));
        Some(id)
    }

    fn push(&mut self, tag: TagBytes<'a>) -> u32 {
        self.vocabulary.push(tag);
        (self.vocabulary.len() - 1) as u32
    }

    #[cold]
    fn grow(&mut self) {
        let size = self.slots.len() * 2;
        let old = std::mem::replace(&mut self.slots, vec![EMPTY; size]);
        for s in old.into_iter().filter(|s| s.id != u32::MAX) {
            let mut i = Self::slot(size, s.lo, s.hi);
            while self.slots[i].id != u32::MAX {
                i = (i + 1) & (size - 1);
            }
            self.slots[i] = s;
        }
    }

    /// The vocabulary, and each tag's count (by id).
    fn finish(self) -> (Vec<TagBytes<'a>>, Vec<u32>) {
        let mut counts = vec![0u32; self.vocabulary.len()];
        for s in self.slots.iter().filter(|s| s.id != u32::MAX) {
            counts[s.id as usize] += s.count;
        }
        for &(id, _, count) in self.clashes.values() {
            counts[id as usize] += count;
        }
        (self.vocabulary, counts)
    }
}

/// The 8-byte word of `s` at byte `i`.
#[inline(always)]
fn word(s: &[u8], i: usize) -> u64 {
    u64::from_le_bytes(s[i..i + 8].try_into().expect("8 bytes"))
}

/// Whether two tags, the second longer than 12 bytes, are equal: compared in line a word
/// at a time, which beats a call to `memcmp` on strings this short.
#[inline]
fn same_long(a: &[u8], b: &[u8]) -> bool {
    let n = b.len();
    if a.len() != n {
        return false;
    }
    let mut i = 0;
    while i + 8 < n {
        if word(a, i) != word(b, i) {
            return false;
        }
        i += 8;
    }
    // The last word, which may overlap the one before.
    word(a, n - 8) == word(b, n - 8)
}

/// The key of a tag longer than 12 bytes: its length (as a u32, so above 12) and first four
/// bytes, then a hash of all its bytes in the high 64 bits.
#[inline]
fn long_key(bytes: &[u8]) -> u128 {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    let n = bytes.len();
    let mut h = n as u64;
    let mut i = 0;
    while i + 8 < n {
        h = (h ^ word(bytes, i)).wrapping_mul(K).rotate_left(26);
        i += 8;
    }
    h = (h ^ word(bytes, n - 8)).wrapping_mul(K);
    h ^= h >> 29;
    let prefix = u32::from_le_bytes(bytes[..4].try_into().expect("4 bytes"));
    let lo = (n.min(u32::MAX as usize) as u64) | (u64::from(prefix) << 32);
    u128::from(lo) | (u128::from(h) << 64)
}

/// Encodes the rows `members` (in that order) with ids into a vocabulary of their own; a tag
/// repeated in a row is kept once.
pub(crate) fn encode_class<'a, R: TagRows>(rows: &'a R, members: &[u32]) -> Result<ClassRows<'a>> {
    let mut encoder = Encoder::new();
    let mut row_ptr = Vec::with_capacity(members.len() + 1);
    let mut ids: Vec<u32> = Vec::new();
    let mut null = false;
    row_ptr.push(0u32);
    for (i, &r) in members.iter().enumerate() {
        rows.for_each_tag(r as usize, |tag| match tag {
            // The row is the stamp that tells a repeat.
            Some(tag) => ids.extend(encoder.visit(tag, i as u32)),
            None => null = true,
        });
        if i == 63 && members.len() > 128 {
            // Room for the rest at the rate so far, and a tenth more, rather than doubling
            // (and copying) as the rows come.
            let rest = (members.len() - 64) * (ids.len() + 1) / 64;
            ids.reserve(rest + rest / 10);
        }
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
    let (vocabulary, counts) = encoder.finish();
    Ok(ClassRows {
        vocabulary,
        row_ptr,
        ids,
        counts,
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
    u32::try_from(n).map_err(|_| {
        PrimeError::InvalidInput(format!("{n} rows is more than the engine's limit"))
    })?;
    let n_pieces = (rayon::current_num_threads() * 2).clamp(1, n.max(1));
    let pieces: Vec<Result<(Vec<TagBytes<'_>>, Vec<u32>)>> = (0..n_pieces)
        .into_par_iter()
        .with_max_len(1)
        .map(|p| encode_piece(rows, p * n / n_pieces..(p + 1) * n / n_pieces))
        .collect();
    // The first bad row is the one named, whichever piece finished first and however many
    // pieces there are.
    let pieces = pieces.into_iter().collect::<Result<Vec<_>>>()?;
    let (vocabulary, remaps) = merge_vocabularies(pieces.iter().map(|p| &p.0))?;
    let codes: Vec<Vec<u32>> = pieces
        .into_par_iter()
        .zip(remaps)
        .map(|((_, mut ids), remap)| {
            ids.iter_mut().for_each(|i| *i = remap[*i as usize]);
            ids
        })
        .collect();
    Ok((vocabulary, codes.concat()))
}

/// The rows `rows` of one value each, encoded with ids into a vocabulary of their own.
fn encode_piece<R: TagRows>(
    rows: &R,
    rows_range: std::ops::Range<usize>,
) -> Result<(Vec<TagBytes<'_>>, Vec<u32>)> {
    let mut encoder = Encoder::new();
    let mut ids = Vec::with_capacity(rows_range.len());
    // The first row that holds other than one value, with how many it holds so far.
    let mut wrong: Option<(usize, u32)> = None;
    let mut null: Option<usize> = None;
    let (start, end) = (rows_range.start, rows_range.end);
    rows.for_each_in(rows_range, |row, tag| {
        let p = row - start;
        if p == ids.len() {
            match tag {
                // The row number is a stamp of its own: the value is always new in it.
                Some(tag) => ids.extend(encoder.visit(tag, row as u32)),
                None => {
                    null.get_or_insert(row);
                    ids.push(0);
                }
            }
        } else if p > ids.len() {
            // A row before this one holds no value.
            wrong.get_or_insert((start + ids.len(), 0));
            ids.resize(p + 1, 0);
        } else {
            // A second value in the row.
            match &mut wrong {
                Some((r, n)) if *r == row => *n += 1,
                None => wrong = Some((row, 2)),
                Some(_) => {}
            }
        }
    });
    if ids.len() < end - start && wrong.is_none() {
        wrong = Some((start + ids.len(), 0));
    }
    match (wrong, null) {
        (Some((row, values)), null) if null.map_or(true, |n| row < n) => {
            Err(PrimeError::InvalidInput(format!(
                "row {row} holds {values} values; one per row is expected"
            )))
        }
        (_, Some(row)) => Err(PrimeError::InvalidInput(format!("row {row} is null"))),
        _ => Ok((encoder.finish().0, ids)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tags of `n`: short and long, sharing prefixes, lengths and last words.
    fn tag_text(n: usize) -> Vec<u8> {
        let stem = [
            "",
            "a",
            "fox",
            "white fox",
            "white fox in",
            "white fox in a zoo",
        ][n % 6];
        let mut text = stem.as_bytes().to_vec();
        if n >= 6 {
            text.extend_from_slice(format!(" {}", n / 6).as_bytes());
        }
        text
    }

    fn expected_ids(tags: &[Vec<u8>]) -> Vec<u32> {
        let mut seen: HashMap<&[u8], u32> = HashMap::new();
        tags.iter()
            .map(|t| {
                let next = seen.len() as u32;
                *seen.entry(t).or_insert(next)
            })
            .collect()
    }

    /// First-seen ids, whatever form a tag arrives in, through the table's growths (both
    /// load limits) and against a plain map of the bytes.
    #[test]
    fn encoder_agrees_with_a_hash_map() {
        let distinct: Vec<Vec<u8>> = (0..60_000).map(tag_text).collect();
        let tags: Vec<Vec<u8>> = distinct
            .iter()
            .chain(distinct.iter().rev())
            .cloned()
            .collect();
        let mut encoder = Encoder::new();
        let got: Vec<u32> = tags
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let stamp = i as u32;
                match Tag::inline(t) {
                    // Short tags arrive either way: as a view or as bytes.
                    Some(view) if i % 2 == 0 => encoder.visit(Tag::Inline(view), stamp),
                    _ => encoder.visit(Tag::Bytes(t), stamp),
                }
                .expect("every stamp differs")
            })
            .collect();
        assert_eq!(got, expected_ids(&tags));
        assert!(encoder.clashes.is_empty());
        let (vocabulary, counts) = encoder.finish();
        let vocabulary: Vec<&[u8]> = vocabulary.iter().map(|t| t.bytes()).collect();
        let want: Vec<&[u8]> = distinct.iter().map(|t| &t[..]).collect();
        assert_eq!(vocabulary, want);
        assert!(counts.iter().all(|&c| c == 2));
    }

    /// A tag seen again with the same stamp is a repeat: no id, and not counted again.
    #[test]
    fn encoder_skips_repeats_within_a_stamp() {
        let tags: [&[u8]; 3] = [b"fox", b"white fox in a zoo", b"zoo"];
        let mut encoder = Encoder::new();
        let mut got = Vec::new();
        for (stamp, row) in [[0, 1, 0, 1], [2, 2, 1, 2]].iter().enumerate() {
            for &t in row {
                got.push(encoder.visit(Tag::Bytes(tags[t]), stamp as u32));
            }
        }
        assert_eq!(
            got,
            [Some(0), Some(1), None, None, Some(2), None, Some(1), None]
        );
        assert_eq!(encoder.finish().1, [1, 2, 1]);
    }

    /// A long tag whose key another tag already holds still gets an id of its own, the same
    /// one each time, and its repeats are told apart too.
    #[test]
    fn long_tags_with_one_key_are_told_apart() {
        let (a, b): (&[u8], &[u8]) = (b"white fox in a zoo", b"black cat on a sofa");
        let mut encoder = Encoder::new();
        assert_eq!(encoder.visit(Tag::Bytes(a), 0), Some(0));
        // Plant a slot that claims `b`'s key for `a`'s id, as a hash collision would.
        let key = long_key(b);
        let (lo, hi) = (key as u64, (key >> 64) as u64);
        let mut i = Encoder::slot(encoder.slots.len(), lo, hi);
        while encoder.slots[i].id != u32::MAX {
            i = (i + 1) & (encoder.slots.len() - 1);
        }
        encoder.slots[i] = Slot {
            lo,
            hi,
            id: 0,
            ..EMPTY
        };
        let ids: Vec<Option<u32>> = [(b, 1), (a, 1), (b, 1), (b, 2), (a, 2)]
            .iter()
            .map(|&(t, stamp)| encoder.visit(Tag::Bytes(t), stamp))
            .collect();
        assert_eq!(ids, [Some(1), Some(0), None, Some(1), Some(0)]);
        assert_eq!(encoder.clashes.len(), 1);
        let (vocabulary, counts) = encoder.finish();
        assert_eq!(vocabulary[1].bytes(), b);
        assert_eq!(counts, [3, 2]);
    }
}
