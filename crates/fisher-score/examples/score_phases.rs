//! Where the time of one batch of per-example scores goes, on the default PixelCNN and the
//! flex CPU backend: the layers' output gradients (from the hand-written backward pass the
//! scores use, and for comparison from the probed forward pass and autodiff's backward pass),
//! the per-example weight gradients (batched matrix products, layer by layer) and the
//! projection.
//!
//! ```text
//! cargo run --release -p fisher-score --example score_phases -- [BATCH] [categorical|mixture]
//! ```
//!
//! Prints two lines per repetition and the five slowest layers of the per-example step:
//!
//! ```text
//! d = 670464, batch 32, k = 1024
//! output gradients 1.21 s (autodiff: probed forward 1.40 s, backward 1.02 s)
//!   per-example 0.48 s  projection 0.09 s
//!   slowest layers: layers.3.v_conv 0.051 s, layers.6.v_conv 0.047 s, ...
//! ```

use std::time::Instant;

use burn::module::Module;
use burn::tensor::Device;
use fisher_core::ImageBatch;
use fisher_jl::ProjectionConfig;
use fisher_pixelcnn::{Head, PixelCnnConfig};
use fisher_score::{ScoreModel, ScoreProjection};

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
        let grads = ll.sum().backward();
        let backward = start.elapsed().as_secs_f64();
        drop((records, grads));

        let start = Instant::now();
        let (_, records) = ScoreModel::log_likelihood_output_grads(&model, images.clone(), None)?
            .ok_or("the PixelCNN has a hand-written backward pass")?;
        let hand = start.elapsed().as_secs_f64();

        let (mut per_example, mut projecting, mut offset) = (0.0, 0.0, 0);
        let mut layers = Vec::new();
        let mut state = projection.start(batch, &device.clone().inner());
        for (i, (record, grad)) in records.iter().enumerate() {
            let start = Instant::now();
            let scores = record.per_example(i, grad)?;
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
            "output gradients {hand:.2} s (autodiff: probed forward {forward:.2} s, \
             backward {backward:.2} s)"
        );
        println!("  per-example {per_example:.2} s  projection {projecting:.2} s");
        layers.sort_by(|a, b| b.1.total_cmp(&a.1));
        let slowest: Vec<String> = layers[..5.min(layers.len())]
            .iter()
            .map(|(n, s)| format!("{n} {s:.3} s"))
            .collect();
        println!("  slowest layers: {}", slowest.join(", "));
    }
    Ok(())
}
