//! Criterion benchmarks of the engine: index build, failure-mode search and the lattice of
//! frequent sets, with 1 and 2 worker threads.
//!
//! The data are synthetic and deterministic (a seeded xorshift generator, no extra
//! dependency), shaped like a tagged ImageNet subset: 17 classes of 5,200 samples, each
//! class with 100 tags in 10 co-occurring topics, about 8 or about 14 distinct tags per
//! sample, and a few planted tag conjunctions on which the classifier errs often.
//!
//! Every measured call runs inside [`with_threads`], as the Python binding does, so the
//! times include building the call's thread pool (tens of microseconds).
//!
//! Run with `cargo bench -p prime-core`; `cargo bench -p prime-core -- search` runs one group.

use std::hint::black_box;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use prime_core::{frequent_sets, search, with_threads, LatticeParams, SearchParams, TagIndex};

const N_CLASSES: u32 = 17;
const SAMPLES_PER_CLASS: u32 = 5_200;
const TOPICS: u32 = 10;
const TAGS_PER_TOPIC: u32 = 10;
/// Neighbouring classes share half their vocabulary (class `c` uses tags `50c..50c + 100`).
const CLASS_STRIDE: u32 = 50;
const THREADS: [usize; 2] = [1, 2];

/// xorshift64*: small, fast and good enough for synthetic data.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n`.
    fn below(&mut self, n: u32) -> u32 {
        (((self.next() >> 32) * u64::from(n)) >> 32) as u32
    }

    /// Uniform in `[0, 1)`.
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A samples table in CSR form.
struct Data {
    name: String,
    indptr: Vec<u64>,
    indices: Vec<u32>,
    class_ids: Vec<u32>,
    correct: Vec<bool>,
    n_tags: u32,
}

impl Data {
    fn build(&self) -> TagIndex {
        TagIndex::from_csr(
            &self.indptr,
            &self.indices,
            &self.class_ids,
            &self.correct,
            N_CLASSES,
            self.n_tags,
            1,
        )
        .expect("synthetic data are valid")
    }
}

/// The synthetic table with about `mean_tags` distinct tags per sample.
fn synthetic(mean_tags: u32) -> Data {
    let mut rng = Rng::new(0x5EED ^ u64::from(mean_tags));
    let n_tags = CLASS_STRIDE * (N_CLASSES - 1) + TOPICS * TAGS_PER_TOPIC;
    let mut data = Data {
        name: format!("tags{mean_tags}"),
        indptr: vec![0],
        indices: Vec::new(),
        class_ids: Vec::new(),
        correct: Vec::new(),
        n_tags,
    };
    let mut row: Vec<u32> = Vec::new();
    for c in 0..N_CLASSES {
        let base = c * CLASS_STRIDE;
        let base_error = 0.05 + 0.15 * rng.unit();
        // Planted failure modes: conjunctions of 1-3 tags of one topic, each much harder.
        let planted: Vec<(Vec<u32>, f64)> = (0..4)
            .map(|k| {
                let topic = rng.below(TOPICS);
                let size = 1 + k % 3;
                let mut tags: Vec<u32> = Vec::new();
                while tags.len() < size as usize {
                    let t = base + topic * TAGS_PER_TOPIC + rng.below(TAGS_PER_TOPIC / 2);
                    if !tags.contains(&t) {
                        tags.push(t);
                    }
                }
                (tags, 0.4 + 0.3 * rng.unit())
            })
            .collect();
        for _ in 0..SAMPLES_PER_CLASS {
            // Topics are unevenly popular: the lower of two draws.
            let primary = rng.below(TOPICS).min(rng.below(TOPICS));
            let secondary = rng.below(TOPICS);
            let want = mean_tags - 3 + rng.below(7);
            row.clear();
            let mut attempts = 0;
            while row.len() < want as usize && attempts < 8 * want {
                attempts += 1;
                let u = rng.unit();
                let topic = if u < 0.6 {
                    primary
                } else if u < 0.85 {
                    secondary
                } else {
                    rng.below(TOPICS)
                };
                // Within a topic, low tags are more common.
                let within = rng.below(TAGS_PER_TOPIC).min(rng.below(TAGS_PER_TOPIC));
                let t = base + topic * TAGS_PER_TOPIC + within;
                if !row.contains(&t) {
                    row.push(t);
                }
            }
            let mut error = base_error;
            for (tags, e) in &planted {
                if tags.iter().all(|t| row.contains(t)) {
                    error = error.max(*e);
                }
            }
            data.indices.extend_from_slice(&row);
            data.indptr.push(data.indices.len() as u64);
            data.class_ids.push(c);
            data.correct.push(rng.unit() >= error);
        }
    }
    data
}

fn search_params() -> SearchParams {
    SearchParams {
        max_tags: 4,
        min_support: 30,
        min_drop: 0.3,
        ..SearchParams::default()
    }
}

fn lattice_params() -> LatticeParams {
    LatticeParams {
        max_tags: 4,
        min_support: 30,
        min_tag_count: None,
        classes: None,
    }
}

fn benches(c: &mut Criterion) {
    let no = AtomicBool::new(false);
    for data in [synthetic(8), synthetic(14)] {
        let index = data.build();
        let out = search(&index, &search_params(), &no).expect("search");
        let sets = frequent_sets(&index, &lattice_params(), &no).expect("lattice");
        eprintln!(
            "{}: {} samples, {:.1} tags per sample, {} frequent sets, {} sets tested, {} modes",
            data.name,
            data.class_ids.len(),
            data.indices.len() as f64 / data.class_ids.len() as f64,
            sets.len(),
            out.sets_tested.iter().sum::<u64>(),
            out.modes.len(),
        );

        let mut group = c.benchmark_group(format!("build/{}", data.name));
        for threads in THREADS {
            group.bench_with_input(BenchmarkId::new("threads", threads), &threads, |b, &n| {
                b.iter(|| with_threads(Some(n), || black_box(data.build())).unwrap())
            });
        }
        group.finish();

        let mut group = c.benchmark_group(format!("search/{}", data.name));
        let params = search_params();
        for threads in THREADS {
            group.bench_with_input(BenchmarkId::new("threads", threads), &threads, |b, &n| {
                b.iter(|| {
                    with_threads(Some(n), || search(black_box(&index), &params, &no)).unwrap()
                })
            });
        }
        group.finish();

        let mut group = c.benchmark_group(format!("frequent_sets/{}", data.name));
        let params = lattice_params();
        for threads in THREADS {
            group.bench_with_input(BenchmarkId::new("threads", threads), &threads, |b, &n| {
                b.iter(|| {
                    with_threads(Some(n), || frequent_sets(black_box(&index), &params, &no))
                        .unwrap()
                })
            });
        }
        group.finish();
    }
}

criterion_group! {
    name = engine;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1));
    targets = benches
}
criterion_main!(engine);
