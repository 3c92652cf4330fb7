//! The traits the crates compose through.
//!
//! Each trait is object safe and backend free: tensors carry their device, so one
//! implementation serves every backend. Implement them to plug a model, projector, decoder or
//! feature extractor of your own into the pipeline; `tests/compose.rs` of this crate builds a
//! tiny one of each and runs them end to end.

use burn::tensor::{Int, Tensor};

use crate::{ImageShape, Result};

/// A density model over 8-bit images, such as a PixelCNN.
pub trait DensityModel {
    /// The shape of the images the model was built for.
    fn image_shape(&self) -> ImageShape;

    /// Per-example log-likelihood `log p(x)` in nats.
    ///
    /// Bits per dimension follow as `−log p(x) / (c·h·w · ln 2)`; see
    /// [`bits_per_dim`](crate::bits_per_dim).
    ///
    /// # Shapes
    /// - `images`: `[batch, channels, height, width]`, values in `0..=255`
    /// - output: `[batch]`
    ///
    /// # Errors
    /// When the image shape differs from [`image_shape`](Self::image_shape).
    fn log_likelihood(&self, images: Tensor<4, Int>) -> Result<Tensor<1>>;
}

/// Anything that maps images to fixed-length vectors.
pub trait Embedder {
    /// Length `k` of each embedding.
    fn embedding_dim(&self) -> usize;

    /// Embeds a batch of images.
    ///
    /// # Shapes
    /// - `images`: `[batch, channels, height, width]`, values in `0..=255`
    /// - output: `[batch, k]`
    fn embed(&self, images: Tensor<4, Int>) -> Result<Tensor<2>>;
}

/// A linear map `ℝ^d → ℝ^k` applied to vectors that arrive in blocks of coordinates.
///
/// A block covers coordinates `offset .. offset + d_chunk` of every vector in a batch; the
/// projector adds `P[:, offset..offset + d_chunk] · block` to the accumulator. Feeding every
/// coordinate of `0..d` exactly once, in any chunking, yields `P·x`.
pub trait Projector {
    /// Input length `d`.
    fn input_dim(&self) -> usize;

    /// Output length `k`.
    fn output_dim(&self) -> usize;

    /// Adds the projection of one block into `acc` and returns the new accumulator.
    ///
    /// # Shapes
    /// - `block`: `[batch, d_chunk]`, coordinates `offset .. offset + d_chunk`
    /// - `acc` and output: `[batch, k]`
    ///
    /// # Errors
    /// When the block runs past `d`, or the shapes disagree.
    fn accumulate(&self, offset: usize, block: Tensor<2>, acc: Tensor<2>) -> Result<Tensor<2>>;
}

/// A map from embeddings back to images, with a training entry point.
pub trait Decoder {
    /// Length `k` of the embeddings it decodes.
    fn embedding_dim(&self) -> usize;

    /// Shape of the images it produces.
    fn image_shape(&self) -> ImageShape;

    /// Decodes embeddings to 8-bit images. Stochastic decoders draw from `seed`; the same
    /// embeddings and seed give the same images.
    ///
    /// # Shapes
    /// - `z`: `[batch, k]`
    /// - output: `[batch, channels, height, width]`, values in `0..=255`
    fn decode(&self, z: Tensor<2>, seed: u64) -> Result<Tensor<4, Int>>;

    /// One optimisation step on a batch of `(embedding, image)` pairs; returns the loss
    /// before the step (each decoder documents its loss and unit).
    ///
    /// # Shapes
    /// - `z`: `[batch, k]`
    /// - `images`: `[batch, channels, height, width]`, values in `0..=255`
    fn train_step(&mut self, z: Tensor<2>, images: Tensor<4, Int>) -> Result<f64>;
}

/// Image features for the Fréchet distance (FID) and KID.
pub trait FeatureExtractor {
    /// Length `f` of each feature vector.
    fn feature_dim(&self) -> usize;

    /// Features of a batch of images.
    ///
    /// # Shapes
    /// - `images`: `[batch, channels, height, width]`, values in `0..=255`
    /// - output: `[batch, f]`
    fn features(&self, images: Tensor<4, Int>) -> Result<Tensor<2>>;
}
