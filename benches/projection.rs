//! Random projection throughput, in bytes of `f32` input per second (criterion prints GB/s),
//! on the host kernel and on the tensor path of the flex CPU backend.
//!
//! ```text
//! cargo bench -p fisher-embed --bench projection
//! cargo bench -p fisher-embed --bench projection -- host/sparse   # one group's part
//! ```
//!
//! The headline case is the issue's: `d = 4 194 304`, `k = 4096`, batch 32 (512 MiB of input
//! per iteration), for sparse JL with `s ∈ {1, 4, 8}` and the very sparse matrix of
//! scikit-learn's default density. `benches/sklearn_projection.py` measures scikit-learn on
//! the same sizes; `fisher bench projection` measures one case in a short run. The thread
//! count is rayon's default (all cores; set `RAYON_NUM_THREADS` to change it).

use std::time::Duration;

use burn::tensor::{Device, Tensor, TensorData};
use criterion::{
    BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
};
use fisher_jl::{ProjectionConfig, ProjectionKind};
use ndarray::{Array2, Zip};

/// A `[batch, d]` batch of seeded noise in `[−1, 1)`.
fn noise(batch: usize, d: usize) -> Array2<f32> {
    let mut x = Array2::<f32>::zeros((batch, d));
    Zip::indexed(&mut x).par_for_each(|(b, j), v| {
        let h = ((b * d + j) as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let h = (h ^ (h >> 31)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        *v = (h >> 40) as f32 / (1u64 << 23) as f32 - 1.0;
    });
    x
}

fn kinds() -> Vec<(&'static str, ProjectionKind)> {
    vec![
        ("sparse_s1", ProjectionKind::SparseJl { nonzeros: 1 }),
        ("sparse_s4", ProjectionKind::SparseJl { nonzeros: 4 }),
        ("sparse_s8", ProjectionKind::SparseJl { nonzeros: 8 }),
        ("very_sparse", ProjectionKind::VerySparse { density: None }),
    ]
}

/// The host kernel at the issue's size and at a size whose input fits in cache.
fn host(c: &mut Criterion) {
    let mut group = c.benchmark_group("projection/host");
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(8));
    for (d, k, batch) in [
        (4_194_304, 4096, 32),
        (65_536, 4096, 32),
        (4_194_304, 4096, 1),
    ] {
        let x = noise(batch, d);
        group.throughput(Throughput::Bytes((batch * d * 4) as u64));
        for (name, kind) in kinds() {
            let p = ProjectionConfig::new(d, k).with_kind(kind).init().unwrap();
            let id = BenchmarkId::new(name, format!("d{d}_k{k}_b{batch}"));
            group.bench_with_input(id, &x, |b, x| b.iter(|| p.project(x.view()).unwrap()));
        }
    }
    group.finish();
}

/// The tensor path on flex (the CPU backend; on GPUs run `fisher bench projection --path
/// tensor --device cuda`), at a smaller size.
fn tensor_flex(c: &mut Criterion) {
    let device = Device::flex();
    let (d, k, batch) = (262_144, 4096, 32);
    let x = noise(batch, d);
    let values: Vec<f32> = x.iter().copied().collect();
    let input = Tensor::<2>::from_data(TensorData::new(values, [batch, d]), &device);
    let mut group = c.benchmark_group("projection/tensor_flex");
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(8))
        .throughput(Throughput::Bytes((batch * d * 4) as u64));
    for (name, kind) in kinds().into_iter().skip(1) {
        let p = ProjectionConfig::new(d, k).with_kind(kind).init().unwrap();
        let id = BenchmarkId::new(name, format!("d{d}_k{k}_b{batch}"));
        group.bench_with_input(id, &input, |b, input| {
            b.iter(|| p.project_tensor(input.clone()).unwrap().into_data())
        });
    }
    group.finish();
}

criterion_group!(benches, host, tensor_flex);
criterion_main!(benches);
