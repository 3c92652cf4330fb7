//! Chunking and thread-count invariance of the host path: one-coordinate chunks, random
//! chunk sizes and a single chunk give the same outputs, bit for bit, for every kind and
//! for batch sizes that exercise wide, padded and narrow groups.

mod common;

use common::{Rng, normal_batch};
use fisher_jl::{Projection, ProjectionConfig, ProjectionKind};
use ndarray::{Array2, s};

fn kinds() -> Vec<ProjectionKind> {
    vec![
        ProjectionKind::SparseJl { nonzeros: 1 },
        ProjectionKind::SparseJl { nonzeros: 3 },
        ProjectionKind::SparseJl { nonzeros: 16 },
        ProjectionKind::VerySparse { density: None },
        ProjectionKind::VerySparse { density: Some(0.3) },
        ProjectionKind::Gaussian,
    ]
}

/// Feeds `x` in chunks of the given sizes, in order.
fn in_chunks(p: &Projection, x: &Array2<f32>, sizes: &[usize]) -> Array2<f32> {
    let mut acc = p.accumulator(x.nrows());
    let mut offset = 0;
    for &len in sizes {
        p.accumulate(offset, x.slice(s![.., offset..offset + len]), &mut acc)
            .unwrap();
        offset += len;
    }
    acc.finish().unwrap()
}

fn random_sizes(d: usize, seed: u64) -> Vec<usize> {
    let mut rng = Rng::new(seed);
    let mut sizes = Vec::new();
    let mut left = d;
    while left > 0 {
        let len = (1 + rng.below(700)).min(left);
        sizes.push(len);
        left -= len;
    }
    sizes
}

#[test]
fn chunk_sizes_do_not_change_a_single_bit() {
    let d = 2000;
    for (i, kind) in kinds().into_iter().enumerate() {
        let p = ProjectionConfig::new(d, 96)
            .with_kind(kind.clone())
            .with_seed(i as u64)
            .init()
            .unwrap();
        for batch in [1, 3, 5, 16, 21] {
            let x = normal_batch(batch, d, 10 + batch as u64);
            let whole = p.project(x.view()).unwrap();
            assert_eq!(in_chunks(&p, &x, &[d]), whole, "{kind:?}, batch {batch}");
            assert_eq!(
                in_chunks(&p, &x, &vec![1; d]),
                whole,
                "{kind:?}, batch {batch}, ones"
            );
            let sizes = random_sizes(d, batch as u64);
            assert_eq!(
                in_chunks(&p, &x, &sizes),
                whole,
                "{kind:?}, batch {batch}, {sizes:?}"
            );
        }
    }
}

#[test]
fn super_tile_boundaries_do_not_change_a_single_bit() {
    // Longer than the 8192-coordinate super-tile, with chunks that straddle it.
    let d = 20_000;
    let p = ProjectionConfig::new(d, 64).with_seed(5).init().unwrap();
    let x = normal_batch(17, d, 3);
    let whole = p.project(x.view()).unwrap();
    assert_eq!(in_chunks(&p, &x, &[8191, 2, 8190, 3617]), whole);
    assert_eq!(in_chunks(&p, &x, &random_sizes(d, 9)), whole);
}

#[test]
fn thread_count_does_not_change_a_single_bit() {
    let d = 9000;
    let x = normal_batch(35, d, 4);
    for kind in kinds() {
        let p = ProjectionConfig::new(d, 128)
            .with_kind(kind.clone())
            .init()
            .unwrap();
        let runs: Vec<Array2<f32>> = [1, 2, 3, 5]
            .into_iter()
            .map(|threads| {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .unwrap();
                pool.install(|| p.project(x.view()).unwrap())
            })
            .collect();
        for run in &runs[1..] {
            assert_eq!(run, &runs[0], "{kind:?}");
        }
    }
}

#[test]
fn strided_input_gives_the_same_result_as_contiguous_input() {
    let d = 10_000;
    let p = ProjectionConfig::new(d, 64).with_seed(8).init().unwrap();
    let x = normal_batch(6, d, 11);
    let columns_first = x.t().as_standard_layout().into_owned();
    let strided = columns_first.t();
    assert!(strided.row(0).as_slice().is_none());
    assert_eq!(p.project(strided).unwrap(), p.project(x.view()).unwrap());
}

#[test]
fn chunks_out_of_order_agree_up_to_rounding() {
    let d = 3000;
    let p = ProjectionConfig::new(d, 64).init().unwrap();
    let x = normal_batch(4, d, 12);
    let whole = p.project(x.view()).unwrap();
    let mut acc = p.accumulator(4);
    for (offset, len) in [(2000, 1000), (0, 1200), (1200, 800)] {
        p.accumulate(offset, x.slice(s![.., offset..offset + len]), &mut acc)
            .unwrap();
    }
    let shuffled = acc.finish().unwrap();
    for (a, b) in shuffled.iter().zip(&whole) {
        assert!((a - b).abs() <= 1e-4 * (1.0 + b.abs()), "{a} vs {b}");
    }
}

#[test]
fn partial_sums_add_up_to_the_whole() {
    let d = 1000;
    let p = ProjectionConfig::new(d, 32).init().unwrap();
    let x = normal_batch(2, d, 13);
    let mut first = p.accumulator(2);
    p.accumulate(0, x.slice(s![.., ..400]), &mut first).unwrap();
    let mut second = p.accumulator(2);
    p.accumulate(400, x.slice(s![.., 400..]), &mut second)
        .unwrap();
    assert_eq!(first.coverage().fed(), 400);
    let sum = first.partial() + second.partial();
    let whole = p.project(x.view()).unwrap();
    for (a, b) in sum.iter().zip(&whole) {
        assert!((a - b).abs() <= 1e-4 * (1.0 + b.abs()), "{a} vs {b}");
    }
}
