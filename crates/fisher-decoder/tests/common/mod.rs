//! Small seeded data shared by the tests: images with structure a decoder can learn, random
//! embeddings, and host read-back.

#![allow(dead_code)]

use burn::tensor::{Device, Tensor, TensorData};
use fisher_core::{ImageBatch, ImageShape};
use fisher_decoder::EmbeddingSpec;

/// A tiny linear congruential generator, so the test data does not depend on any crate.
pub struct Lcg(u64);

impl Lcg {
    pub fn new(seed: u64) -> Self {
        Self(
            seed.wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407),
        )
    }

    /// Uniform in `[0, 1)`.
    pub fn next(&mut self) -> f32 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 40) as f32) / (1u64 << 24) as f32
    }

    /// Approximately standard normal (sum of 12 uniforms − 6).
    pub fn normal(&mut self) -> f32 {
        (0..12).map(|_| self.next()).sum::<f32>() - 6.0
    }
}

/// `n` images of `shape`, each a bright blob on a dark background at a position and size
/// drawn from `seed`, with a little noise: distinct, smooth, easy to tell apart.
pub fn blobs(n: usize, shape: ImageShape, seed: u64) -> ImageBatch {
    let mut rng = Lcg::new(seed);
    let [c, h, w] = shape.to_array();
    let mut data = Vec::with_capacity(n * shape.dims());
    for _ in 0..n {
        let (cy, cx) = (rng.next() * h as f32, rng.next() * w as f32);
        let radius = 1.0 + rng.next() * h as f32 / 3.0;
        let tint: Vec<f32> = (0..c).map(|_| 0.5 + 0.5 * rng.next()).collect();
        for tint in &tint {
            for i in 0..h {
                for j in 0..w {
                    let d2 = (i as f32 - cy).powi(2) + (j as f32 - cx).powi(2);
                    let v = 230.0 * tint * (-d2 / (2.0 * radius * radius)).exp();
                    let v = v + 10.0 + 8.0 * rng.next();
                    data.push(v.round().clamp(0.0, 255.0) as u8);
                }
            }
        }
    }
    ImageBatch::new(data, n, shape).unwrap()
}

/// `n` standard normal embeddings of length `k`, row-major.
pub fn embeddings(n: usize, k: usize, seed: u64) -> Vec<f32> {
    let mut rng = Lcg::new(seed ^ 0xABCD);
    (0..n * k).map(|_| rng.normal()).collect()
}

/// The spec of the test embeddings.
pub fn spec(k: usize) -> EmbeddingSpec {
    EmbeddingSpec::new(k, "sparse-jl", 11).with_normalisation("none")
}

pub fn tensor2(values: &[f32], n: usize, k: usize, device: &Device) -> Tensor<2> {
    Tensor::from_data(TensorData::new(values.to_vec(), [n, k]), device)
}

pub fn host<const D: usize>(x: Tensor<D>) -> Vec<f32> {
    x.into_data().try_into_vec_as::<f32>().unwrap()
}

pub fn host_int<const D: usize>(x: Tensor<D, burn::tensor::Int>) -> Vec<i64> {
    x.into_data().try_into_vec_as::<i64>().unwrap()
}

/// Mean squared difference of two 8-bit image batches on the [0, 1] scale.
pub fn mse(a: &[i64], b: &[u8]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(&x, &y)| ((x as f64 - f64::from(y)) / 255.0).powi(2))
        .sum::<f64>()
        / a.len() as f64
}

/// `n` images of `shape` with every sub-pixel uniform on `0..=255`.
pub fn noise_images(n: usize, shape: ImageShape, seed: u64) -> ImageBatch {
    let mut rng = Lcg::new(seed);
    let data = (0..n * shape.dims())
        .map(|_| (rng.next() * 256.0).min(255.0) as u8)
        .collect();
    ImageBatch::new(data, n, shape).unwrap()
}
