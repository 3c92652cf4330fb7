//! Loading and generation throughput of fisher-data.
//!
//! ```text
//! cargo bench -p fisher-data --bench loading
//! ```
//!
//! Groups: `fashion_mnist` (the full data set, whole or streamed; needs the Debian package
//! `dataset-fashion-mnist`, the group is left out when its folder is absent), `idx_fixture`
//! (the 200-image fixture), `cifar10_parse` (10,000 in-memory records) and `faces` (procedural
//! faces at 32 and 64 pixels). All single-threaded, CPU.

use std::hint::black_box;
use std::path::Path;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use fisher_data::{Faces, FacesConfig, Mnist, Split};

fn fashion_mnist(c: &mut Criterion) {
    let mnist = Mnist::fashion();
    if !mnist.dir().is_dir() {
        return;
    }
    let mut group = c.benchmark_group("fashion_mnist");
    group.sample_size(10);
    group.measurement_time(std::time::Duration::from_secs(10));
    for (split, n) in [(Split::Train, 60_000u64), (Split::Test, 10_000)] {
        group.throughput(Throughput::Elements(n));
        let id = BenchmarkId::new("load", format!("{split:?}"));
        group.bench_function(id, |b| b.iter(|| black_box(mnist.load(split).unwrap())));
        let id = BenchmarkId::new("stream_1000", format!("{split:?}"));
        group.bench_function(id, |b| {
            b.iter(|| {
                let stream = mnist.stream(split, 1000).unwrap();
                black_box(
                    stream
                        .map(|batch| batch.unwrap().labels().len())
                        .sum::<usize>(),
                )
            })
        });
    }
    group.finish();
}

fn idx_fixture(c: &mut Criterion) {
    let dir = fisher_core::package_dir(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let images = dir.join("fashion-test-first200-images-idx3-ubyte.gz");
    let labels = dir.join("fashion-test-first200-labels-idx1-ubyte.gz");
    let mut group = c.benchmark_group("idx_fixture");
    group.throughput(Throughput::Elements(200));
    group.bench_function("load_gzip", |b| {
        b.iter(|| black_box(fisher_data::idx::load_idx(&images, &labels).unwrap()))
    });
    group.finish();
}

fn cifar10_parse(c: &mut Criterion) {
    let bytes: Vec<u8> = (0..10_000 * 3073)
        .map(|i| if i % 3073 == 0 { 3 } else { (i % 253) as u8 })
        .collect();
    let mut group = c.benchmark_group("cifar10_parse");
    group.throughput(Throughput::Elements(10_000));
    group.bench_function("10000", |b| {
        b.iter(|| black_box(fisher_data::cifar::parse_cifar10(&bytes, Path::new("mem")).unwrap()))
    });
    group.finish();
}

fn faces(c: &mut Criterion) {
    let mut group = c.benchmark_group("faces");
    for size in [32usize, 64] {
        let faces = Faces::new(FacesConfig::default().with_size(size), 0).unwrap();
        group.throughput(Throughput::Elements(256));
        group.bench_function(BenchmarkId::new("generate_256", size), |b| {
            b.iter(|| black_box(faces.generate(0, 256).unwrap()))
        });
    }
    group.finish();
}

criterion_group!(benches, fashion_mnist, idx_fixture, cifar10_parse, faces);
criterion_main!(benches);
