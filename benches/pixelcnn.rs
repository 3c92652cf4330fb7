//! Training and log-likelihood throughput of the default PixelCNN (1×28×28, 64 channels,
//! 8 gated layers) with both heads on the flex CPU backend, batch 32, in images per second.
//! `benches/pixelcnn_torch.py` times the same model in PyTorch on the same machine.
//!
//! ```text
//! cargo bench -p fisher-embed --bench pixelcnn
//! ```
//!
//! A training step takes seconds on two cores, so each group takes 10 samples.

use std::time::Duration;

use burn::tensor::{Device, Int, Tensor, TensorData};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use fisher_pixelcnn::{Head, PixelCnnConfig, TrainConfig, Trainer};

const BATCH: usize = 32;

/// Deterministic images covering every sub-pixel value.
fn images(n: usize, device: &Device) -> Tensor<4, Int> {
    let values: Vec<i32> = (0..n * 784)
        .map(|i| ((i * 37 + i / 7) % 256) as i32)
        .collect();
    Tensor::from_data(TensorData::new(values, [n, 1, 28, 28]), device)
}

fn bench_head(c: &mut Criterion, head: Head, label: &str) {
    let config = PixelCnnConfig::fashion_mnist().with_head(head);
    let device = Device::flex();
    let model = config.init(&device).unwrap();
    let batch = images(BATCH, &device);
    let train_config = TrainConfig::new().with_batch_size(BATCH);
    let mut trainer = Trainer::new(&config, train_config, &device).unwrap();
    let train_batch = images(BATCH, &device.clone().autodiff());

    let mut group = c.benchmark_group(format!("pixelcnn_flex_{label}"));
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(20))
        .throughput(Throughput::Elements(BATCH as u64));
    group.bench_function(BenchmarkId::new("log_likelihood", BATCH), |b| {
        b.iter(|| {
            let ll = model.log_likelihood_cond(batch.clone(), None).unwrap();
            ll.into_data()
        })
    });
    group.bench_function(BenchmarkId::new("train_step", BATCH), |b| {
        b.iter(|| trainer.step(train_batch.clone(), None).unwrap())
    });
    group.finish();
}

fn pixelcnn(c: &mut Criterion) {
    bench_head(c, Head::Categorical, "categorical");
    bench_head(c, Head::LogisticMixture(5), "mixture5");
}

criterion_group!(benches, pixelcnn);
criterion_main!(benches);
