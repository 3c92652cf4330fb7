//! Per-example scores of the real gated PixelCNN against the loop of single-example backward
//! passes: both heads, grayscale and RGB, with and without conditioning, on small
//! configurations.

mod common;

use burn::module::Module;
use burn::tensor::{Device, Tensor, TensorData};
use common::{host, images, max_abs, values};
use fisher_core::{ImageShape, Tolerance};
use fisher_pixelcnn::{Head, PixelCnnConfig};
use fisher_score::{ScoreModel, batch_gradient, materialise_scores, reference_scores};

fn device() -> Device {
    Device::flex().autodiff()
}

fn config(channels: usize, head: Head, cond_dim: usize) -> PixelCnnConfig {
    PixelCnnConfig::new(ImageShape::new(channels, 5, 4).unwrap())
        .with_hidden_channels(6)
        .with_layers(2)
        .with_first_kernel(3)
        .with_kernel(3)
        .with_head_channels(6)
        .with_head(head)
        .with_cond_dim(cond_dim)
        .with_seed(3)
}

fn cond(batch: usize, dim: usize, device: &Device) -> Option<Tensor<2>> {
    (dim > 0).then(|| {
        Tensor::from_data(
            TensorData::new(values(batch * dim, 8, 1.0), [batch, dim]),
            device,
        )
    })
}

fn check(channels: usize, head: Head, cond_dim: usize) {
    let device = device();
    let model = config(channels, head, cond_dim).init(&device).unwrap();
    let shape = model.image_shape();
    let batch = images(3, shape, 21).to_tensor(&device);

    let slow = host(reference_scores(&model, batch.clone(), cond(3, cond_dim, &device)).unwrap());
    let frozen = model.no_grad();
    let fast = host(materialise_scores(&frozen, batch, cond(3, cond_dim, &device)).unwrap());

    assert_eq!(fast.len(), 3 * frozen.num_free_parameters());
    assert!(max_abs(&slow) > 0.0);
    Tolerance::new(1e-5, 1e-6 * f64::from(max_abs(&slow))).assert(&fast, &slow);
}

#[test]
fn categorical_grayscale_pixelcnn_scores_match_the_loop() {
    check(1, Head::Categorical, 0);
}

#[test]
fn mixture_grayscale_pixelcnn_scores_match_the_loop() {
    check(1, Head::LogisticMixture(2), 0);
}

#[test]
fn categorical_rgb_pixelcnn_scores_match_the_loop() {
    check(3, Head::Categorical, 0);
}

#[test]
fn mixture_rgb_conditional_pixelcnn_scores_match_the_loop() {
    check(3, Head::LogisticMixture(2), 3);
}

#[test]
fn pixelcnn_scores_sum_to_the_batch_gradient() {
    let device = device();
    let model = config(3, Head::LogisticMixture(2), 0)
        .init(&device)
        .unwrap();
    let d = ScoreModel::num_free_parameters(&model);
    let batch = images(4, model.image_shape(), 2).to_tensor(&device);

    let scores = host(materialise_scores(&model, batch.clone(), None).unwrap());
    let summed: Vec<f32> = (0..d)
        .map(|j| (0..4).map(|b| scores[b * d + j]).sum())
        .collect();
    let gradient = batch_gradient(&model, batch, None).unwrap();
    Tolerance::new(1e-5, 1e-6 * f64::from(max_abs(&gradient))).assert(&summed, &gradient);
}
