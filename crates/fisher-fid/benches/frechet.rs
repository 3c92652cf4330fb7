//! FID building blocks at Inception size (features of dimension 2048), CPU, faer.
//!
//! Run: `cargo bench -p fisher-fid --bench frechet`
//! (`-- covariance`, `-- trace_sqrt` or `-- kid` for one group). Python side, for
//! comparison: `python crates/fisher-fid/benches/fid_scipy.py`.

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use fisher_fid::{
    GaussianStats, KidConfig, SampleCheck, kernel_inception_distance, trace_sqrt_product,
};
use ndarray::Array2;

/// Seeded correlated features: a running mix of uniform draws.
fn features(n: usize, d: usize, seed: u64) -> Array2<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut prev = 0.0f32;
    Array2::from_shape_fn((n, d), |_| {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        prev = 0.7 * prev + (s >> 40) as f32 / (1u64 << 24) as f32;
        prev
    })
}

fn covariance(c: &mut Criterion) {
    let mut group = c.benchmark_group("covariance");
    group.sample_size(10);
    for d in [256, 2048] {
        let x = features(5000, d, 1);
        group.bench_with_input(BenchmarkId::new("faer-cpu/n5000", d), &x, |b, x| {
            b.iter(|| GaussianStats::from_features(x.view(), SampleCheck::FullRank).unwrap())
        });
    }
    group.finish();
}

fn trace_sqrt(c: &mut Criterion) {
    let mut group = c.benchmark_group("trace_sqrt");
    group.sample_size(10);
    for d in [256, 2048] {
        let a = GaussianStats::from_features(features(5000, d, 2).view(), SampleCheck::FullRank);
        let b = GaussianStats::from_features(features(5000, d, 3).view(), SampleCheck::FullRank);
        let (a, b) = (a.unwrap(), b.unwrap());
        group.bench_with_input(BenchmarkId::new("faer-cpu", d), &(a, b), |bench, (a, b)| {
            bench.iter(|| trace_sqrt_product(a.covariance(), b.covariance()).unwrap())
        });
    }
    group.finish();
}

fn kid(c: &mut Criterion) {
    let mut group = c.benchmark_group("kid");
    group.sample_size(10);
    let a = features(5000, 2048, 4);
    let b = features(5000, 2048, 5);
    let config = KidConfig {
        subsets: 1,
        subset_size: 1000,
        seed: 0,
    };
    group.bench_function(BenchmarkId::new("faer-cpu/one-subset", 1000), |bench| {
        bench.iter(|| kernel_inception_distance(a.view(), b.view(), &config).unwrap())
    });
    group.finish();
}

criterion_group!(benches, covariance, trace_sqrt, kid);
criterion_main!(benches);
