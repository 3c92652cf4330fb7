//! Tiny models and seeded images shared by the integration tests.
#![allow(dead_code)]

use burn::tensor::{Device, Int, Tensor, TensorData};
use fisher_core::ImageShape;
use fisher_pixelcnn::{Head, PixelCnnConfig};
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};

/// A small grayscale model on 5×6 images (non-square, to catch swapped axes).
pub fn tiny_gray(head: Head) -> PixelCnnConfig {
    PixelCnnConfig::new(ImageShape::new(1, 5, 6).unwrap())
        .with_hidden_channels(4)
        .with_layers(3)
        .with_first_kernel(5)
        .with_kernel(3)
        .with_head_channels(6)
        .with_head(head)
        .with_seed(7)
}

/// A small RGB model on 4×5 images.
pub fn tiny_rgb(head: Head) -> PixelCnnConfig {
    PixelCnnConfig::new(ImageShape::new(3, 4, 5).unwrap())
        .with_hidden_channels(24)
        .with_layers(3)
        .with_first_kernel(5)
        .with_kernel(3)
        .with_head_channels(24)
        .with_head(head)
        .with_seed(11)
}

/// Every head on grayscale and RGB.
pub fn all_tiny() -> Vec<PixelCnnConfig> {
    vec![
        tiny_gray(Head::Categorical),
        tiny_gray(Head::LogisticMixture(3)),
        tiny_rgb(Head::Categorical),
        tiny_rgb(Head::LogisticMixture(2)),
    ]
}

/// `n` images of `shape` with values drawn uniformly from `0..=255` with `seed`.
pub fn random_pixels(n: usize, shape: ImageShape, seed: u64) -> Vec<u8> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    (0..n * shape.dims()).map(|_| rng.random::<u8>()).collect()
}

/// The pixels as an `Int` tensor `[n, c, h, w]`.
pub fn to_images(pixels: &[u8], n: usize, shape: ImageShape, device: &Device) -> Tensor<4, Int> {
    let v: Vec<i32> = pixels.iter().map(|&p| i32::from(p)).collect();
    let dims = [n, shape.channels, shape.height, shape.width];
    Tensor::from_data(TensorData::new(v, dims), device)
}

/// Random images as a tensor.
pub fn random_images(n: usize, shape: ImageShape, seed: u64, device: &Device) -> Tensor<4, Int> {
    to_images(&random_pixels(n, shape, seed), n, shape, device)
}

/// A seeded `[n, dim]` conditioning matrix with entries in `[−1, 1]`.
pub fn random_cond(n: usize, dim: usize, seed: u64, device: &Device) -> Tensor<2> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let v: Vec<f32> = (0..n * dim)
        .map(|_| rng.random_range(-1.0f32..1.0))
        .collect();
    Tensor::from_data(TensorData::new(v, [n, dim]), device)
}

/// A tensor's values on the host.
pub fn host<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().try_into_vec_as::<f32>().unwrap()
}
