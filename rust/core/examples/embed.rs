//! Embedding the engine in another Rust tool: build the index from the tool's own rows
//! (labels, correctness and tag strings), run the failure-mode search, and print the mode
//! table with its Wilson intervals and impact.
//!
//! Run with `cargo run --release -p prime-core --example embed`.

use std::sync::atomic::AtomicBool;

use prime_core::{
    attach_q_values, encode_strings, impact, search, wilson_interval, SearchParams, Tag, TagIndex,
    TagRows, Z_95,
};

/// The tool's own record of one classified image.
struct Sample {
    label: &'static str,
    correct: bool,
    tags: Vec<&'static str>,
}

/// The samples' tags, as the engine reads them: one row of strings per sample.
struct TagsOf<'a>(&'a [Sample]);

impl TagRows for TagsOf<'_> {
    fn n_rows(&self) -> usize {
        self.0.len()
    }
    fn for_each_tag<'a, F: FnMut(Option<Tag<'a>>)>(&'a self, row: usize, mut f: F) {
        for tag in &self.0[row].tags {
            f(Some(Tag::Bytes(tag.as_bytes())));
        }
    }
}

/// The samples' labels, one string per row.
struct LabelsOf<'a>(&'a [Sample]);

impl TagRows for LabelsOf<'_> {
    fn n_rows(&self) -> usize {
        self.0.len()
    }
    fn for_each_tag<'a, F: FnMut(Option<Tag<'a>>)>(&'a self, row: usize, mut f: F) {
        f(Some(Tag::Bytes(self.0[row].label.as_bytes())));
    }
}

/// A small deterministic data set: foxes are often mistaken in the snow at night.
fn samples() -> Vec<Sample> {
    let mut out = Vec::new();
    for i in 0..400u32 {
        let (snow, night) = (i % 3 == 0, i % 4 == 0);
        let mut tags = vec!["animal"];
        if snow {
            tags.push("snow");
        }
        if night {
            tags.push("night");
        }
        if i % 5 == 0 {
            tags.push("grass");
        }
        let label = if i % 2 == 0 { "fox" } else { "wolf" };
        // Wrong on most foxes in the snow at night, and on one sample in ten otherwise.
        let correct = if label == "fox" && snow && night {
            i % 36 == 0
        } else {
            i % 10 != 7
        };
        out.push(Sample {
            label,
            correct,
            tags,
        });
    }
    out
}

fn main() -> prime_core::Result<()> {
    let samples = samples();
    let (labels, class_ids) = encode_strings(&LabelsOf(&samples))?;
    let correct: Vec<bool> = samples.iter().map(|s| s.correct).collect();
    let (index, vocabulary) = TagIndex::from_tag_rows(
        &TagsOf(&samples),
        &class_ids,
        &correct,
        labels.len() as u32,
        1,
    )?;

    let params = SearchParams {
        max_tags: 2,
        min_support: 10,
        min_drop: 0.3,
        ..SearchParams::default()
    };
    // Nothing cancels this search; a tool with a UI would raise the flag to stop it.
    let cancel = AtomicBool::new(false);
    let mut out = search(&index, &params, &cancel)?;
    attach_q_values(&index, &params, &mut out.modes, &cancel)?;

    println!("label  tags                 support  accuracy  95% interval    impact  q_value");
    for mode in &out.modes {
        let tags: Vec<&str> = mode
            .tags
            .iter()
            .map(|&t| vocabulary[t as usize].as_str())
            .collect();
        let (low, high) = wilson_interval(mode.n_correct.into(), mode.support.into(), Z_95);
        println!(
            "{:<6} {:<20} {:>7}  {:>8.3}  [{:.3}, {:.3}]  {:>6.1}  {:.2e}",
            labels[mode.class as usize],
            tags.join(", "),
            mode.support,
            mode.accuracy,
            low,
            high,
            impact(mode),
            mode.q_value.unwrap_or(f64::NAN),
        );
    }
    assert!(
        out.modes.iter().any(|m| labels[m.class as usize] == "fox"),
        "the planted mode is found"
    );
    Ok(())
}
