//! Per-example Fisher scores of the default PixelCNN (1×28×28, 64 channels, 8 gated layers,
//! categorical head) on the flex CPU backend, batch 32, against the two yardsticks of the
//! issue: a plain batched forward and backward pass of the same model, and a loop of
//! single-example backward passes. Throughput is reported in examples per second. The scores
//! are measured twice: the whole batch in one probed pass, and in micro-batches of 4 (the same
//! embeddings; on the CPU the micro-batches run side by side, keeping both cores busy).
//!
//! ```text
//! cargo bench -p fisher-embed --bench scores
//! ```
//!
//! Each batched iteration takes seconds on two cores, so the groups take 10 samples.
//! `fisher bench scores` prints the same three figures in one short run, with peak memory.

use std::time::Duration;

use burn::module::Module;
use burn::tensor::{Device, Int, Tensor, TensorData};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use fisher_jl::ProjectionConfig;
use fisher_pixelcnn::{Head, PixelCnn, PixelCnnConfig};
use fisher_score::{FisherEmbedder, ScoreModel, ScoreProjection, project_scores, reference_scores};

const BATCH: usize = 32;
const LOOP: usize = 4;
const K: usize = 1024;
const MICRO: usize = 4;

/// Deterministic images covering every sub-pixel value.
fn images(n: usize, model: &PixelCnn, device: &Device) -> Tensor<4, Int> {
    let [c, h, w] = model.config().image.to_array();
    let values: Vec<i32> = (0..n * c * h * w)
        .map(|i| ((i * 37 + i / 7) % 256) as i32)
        .collect();
    Tensor::from_data(TensorData::new(values, [n, c, h, w]), device)
}

fn bench_head(c: &mut Criterion, head: Head, label: &str) {
    let device = Device::flex().autodiff();
    let model = PixelCnnConfig::fashion_mnist()
        .with_head(head)
        .init(&device)
        .unwrap();
    let frozen = model.clone().no_grad();
    let d = ScoreModel::num_free_parameters(&model);
    let config = ProjectionConfig::new(d, K);
    let projection = ScoreProjection::Host(config.init().unwrap());
    let micro = FisherEmbedder::new(frozen.clone(), config.init().unwrap().into())
        .unwrap()
        .with_micro_batch(MICRO)
        .unwrap();
    let batch = images(BATCH, &model, &device);
    let single = images(LOOP, &model, &device);

    let mut group = c.benchmark_group(format!("scores_flex_{label}"));
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(30));

    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function(BenchmarkId::new("plain_forward_backward", BATCH), |b| {
        b.iter(|| {
            let ll = model.log_likelihood_cond(batch.clone(), None).unwrap();
            ll.sum().backward()
        })
    });
    group.bench_function(BenchmarkId::new("batched_scores_projected", BATCH), |b| {
        b.iter(|| project_scores(&frozen, batch.clone(), None, &projection, None).unwrap())
    });
    group.bench_function(
        BenchmarkId::new("batched_scores_micro_batches_of_4", BATCH),
        |b| b.iter(|| micro.scores(batch.clone(), None).unwrap()),
    );

    group.throughput(Throughput::Elements(LOOP as u64));
    group.bench_function(BenchmarkId::new("single_example_loop", LOOP), |b| {
        b.iter(|| reference_scores(&model, single.clone(), None).unwrap())
    });
    group.finish();
}

fn scores(c: &mut Criterion) {
    bench_head(c, Head::Categorical, "categorical");
    bench_head(c, Head::LogisticMixture(5), "mixture");
}

criterion_group!(benches, scores);
criterion_main!(benches);
