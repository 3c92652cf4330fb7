//! Where the time of one batch of per-example scores goes: the probed forward pass, the
//! backward pass, the per-example weight gradients (unfold and batched matrix products,
//! layer by layer) and the projection, on the default PixelCNN and the flex CPU backend.
//!
//! ```text
//! cargo run --release -p fisher-score --example score_phases -- [BATCH] [categorical|mixture]
//! ```
//!
//! Prints one line per repetition and the five slowest layers of the per-example step:
//!
//! ```text
//! d = 670464, batch 32, k = 1024
//! forward 2.11 s  backward 1.97 s  per-example 0.83 s  projection 0.31 s
//!   slowest layers: layers.2.v_conv 0.067 s, layers.1.v_conv 0.062 s, ...
//! ```

use std::time::Instant;

use burn::module::Module;
use burn::tensor::Device;
use fisher_core::ImageBatch;
use fisher_jl::ProjectionConfig;
use fisher_pixelcnn::{Head, PixelCnnConfig};
use fisher_score::{Probe, ScoreModel, ScoreProjection};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let batch: usize = args.get(1).map_or(Ok(32), |s| s.parse())?;
    let head = match args.get(2).map(String::as_str) {
        Some("mixture") => Head::LogisticMixture(5),
        _ => Head::Categorical,
    };

    let device = Device::flex().autodiff();
    let model = PixelCnnConfig::fashion_mnist()
        .with_head(head)
        .init(&device)?
        .no_grad();
    let shape = model.image_shape();
    let d = ScoreModel::num_free_parameters(&model);
    let data: Vec<u8> = (0..batch * shape.dims())
        .map(|i| (i * 37 % 256) as u8)
        .collect();
    let images = ImageBatch::new(data, batch, shape)?.to_tensor(&device);
    let projection = ScoreProjection::Host(ProjectionConfig::new(d, 1024).init()?);
    println!("d = {d}, batch {batch}, k = 1024");

    for _ in 0..3 {
        let start = Instant::now();
        let (ll, records) = ScoreModel::log_likelihood_probed(&model, images.clone(), None)?;
        let forward = start.elapsed().as_secs_f64();

        let start = Instant::now();
        let mut grads = ll.sum().backward();
        let backward = start.elapsed().as_secs_f64();

        let (mut per_example, mut projecting, mut offset) = (0.0, 0.0, 0);
        let mut layers = Vec::new();
        let mut state = projection.start(batch, &device.clone().inner());
        for (i, record) in records.iter().enumerate() {
            let start = Instant::now();
            let grad = match &record.probe {
                Probe::Spatial(p) => Probe::Spatial(p.grad_remove(&mut grads).ok_or("no grad")?),
                Probe::Flat(p) => Probe::Flat(p.grad_remove(&mut grads).ok_or("no grad")?),
            };
            let scores = record.per_example(i, &grad)?;
            let blocks: Vec<_> = std::iter::once(scores.weight).chain(scores.bias).collect();
            let blocks: Vec<_> = blocks
                .into_iter()
                .map(|b| (b.clone().into_data(), b))
                .collect();
            let seconds = start.elapsed().as_secs_f64();
            per_example += seconds;
            layers.push((record.name.clone(), seconds));

            let start = Instant::now();
            for (_, block) in blocks {
                let width = block.dims()[1];
                state.add(offset, block)?;
                offset += width;
            }
            projecting += start.elapsed().as_secs_f64();
        }
        let start = Instant::now();
        drop(state.finish()?);
        projecting += start.elapsed().as_secs_f64();

        println!(
            "forward {forward:.2} s  backward {backward:.2} s  per-example {per_example:.2} s  \
             projection {projecting:.2} s"
        );
        layers.sort_by(|a, b| b.1.total_cmp(&a.1));
        let slowest: Vec<String> = layers[..5.min(layers.len())]
            .iter()
            .map(|(n, s)| format!("{n} {s:.3} s"))
            .collect();
        println!("  slowest layers: {}", slowest.join(", "));
    }
    Ok(())
}
