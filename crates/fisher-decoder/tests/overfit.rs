//! Each decoder overfits a small set: eight 8×8 blob images (with ±4 levels of uniform noise,
//! about 3 bits per sub-pixel that no decoder can learn), each paired with a random
//! 16-dimensional embedding, trained full-batch. Reconstruction error (mean squared error on
//! the [0, 1] scale of the decoder's deterministic reconstruction) must fall by the factor
//! each test states, and bits per dimension too for the likelihood decoders. The factors leave
//! room: the values measured on the flex backend are in the comments. A decoder that ignored
//! `z` could not get far, since the eight images differ.

mod common;

use burn::tensor::Device;
use common::{blobs, embeddings, spec};
use fisher_core::ImageShape;
use fisher_decoder::{
    DeterministicConfig, DeterministicLoss, FitOptions, FlowConfig, Metrics, Pairs,
    PixelCnnDecoderConfig, TrainableDecoder, evaluate, fit,
};
use fisher_pixelcnn::{Head, PixelCnnConfig};

const N: usize = 8;
const K: usize = 16;

fn shape() -> ImageShape {
    ImageShape::new(1, 8, 8).unwrap()
}

/// Metrics before and after `steps` full-batch steps.
fn overfit(decoder: &mut dyn TrainableDecoder, steps: usize) -> (Metrics, Metrics) {
    let device = Device::flex();
    let images = blobs(N, shape(), 1);
    let z = embeddings(N, K, 2);
    let spec = spec(K);
    let pairs = Pairs::new(&spec, &z, &images).unwrap();
    let before = evaluate(decoder, &pairs, N, 0, &device).unwrap();
    let options = FitOptions {
        epochs: steps,
        batch_size: N,
        ..FitOptions::default()
    };
    let report = fit(decoder, &pairs, &options, &device, |_| {}).unwrap();
    assert_eq!(report.steps_run, steps);
    let after = evaluate(decoder, &pairs, N, 0, &device).unwrap();
    println!("before {before:?}\nafter  {after:?}");
    (before, after)
}

#[test]
fn deterministic_mse_overfits() {
    let config = DeterministicConfig::new(K, shape())
        .with_hidden(64)
        .with_base_channels(16)
        .with_learning_rate(3e-3)
        .with_seed(3);
    let mut decoder = config.init(spec(K), &Device::flex()).unwrap();
    // Measured: MSE 0.2028 -> 0.00227 (89x).
    let (before, after) = overfit(&mut decoder, 150);
    assert!(after.mse * 20.0 < before.mse, "{before:?} -> {after:?}");
    assert!(after.bits_per_dim.is_none());
}

#[test]
fn deterministic_logistic_overfits() {
    let config = DeterministicConfig::new(K, shape())
        .with_hidden(64)
        .with_base_channels(16)
        .with_loss(DeterministicLoss::DiscretizedLogistic)
        .with_learning_rate(3e-3)
        .with_seed(3);
    let mut decoder = config.init(spec(K), &Device::flex()).unwrap();
    // Measured: MSE 0.2028 -> 0.00698 (29x); bits/dim 9.91 -> 5.07 (1.95x).
    let (before, after) = overfit(&mut decoder, 150);
    assert!(after.mse * 10.0 < before.mse, "{before:?} -> {after:?}");
    let (b, a) = (before.bits_per_dim.unwrap(), after.bits_per_dim.unwrap());
    assert!(a * 1.5 < b, "bits/dim {b} -> {a}");
}

#[test]
fn flow_overfits() {
    let config = FlowConfig::new(K, shape())
        .with_levels(2)
        .with_steps_per_level(2)
        .with_hidden_channels(16)
        .with_cond_dim(16)
        .with_learning_rate(3e-3)
        .with_seed(3);
    let mut decoder = config.init(spec(K), &Device::flex()).unwrap();
    // Measured: MSE at temperature 0 0.0961 -> 0.00096 (100x); bits/dim 8.04 -> 2.75 (2.9x).
    let (before, after) = overfit(&mut decoder, 300);
    assert!(after.mse * 20.0 < before.mse, "{before:?} -> {after:?}");
    let (b, a) = (before.bits_per_dim.unwrap(), after.bits_per_dim.unwrap());
    assert!(a * 2.0 < b, "bits/dim {b} -> {a}");
}

#[test]
fn pixelcnn_overfits() {
    let pixelcnn = PixelCnnConfig::new(shape())
        .with_hidden_channels(16)
        .with_layers(3)
        .with_first_kernel(5)
        .with_head_channels(16)
        .with_head(Head::LogisticMixture(2))
        .with_cond_dim(16)
        .with_seed(3);
    let config = PixelCnnDecoderConfig::new(K, pixelcnn).with_learning_rate(3e-3);
    let mut decoder = config.init(spec(K), &Device::flex()).unwrap();
    // Measured: greedy MSE 0.0756 -> 0.00606 (12.5x); bits/dim 9.06 -> 4.10 (2.2x).
    let (before, after) = overfit(&mut decoder, 300);
    assert!(after.mse * 5.0 < before.mse, "{before:?} -> {after:?}");
    let (b, a) = (before.bits_per_dim.unwrap(), after.bits_per_dim.unwrap());
    assert!(a * 1.8 < b, "bits/dim {b} -> {a}");
}
