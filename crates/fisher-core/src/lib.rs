//! The vocabulary every fisher-embed crate speaks.
//!
//! fisher-embed turns an autoregressive image model into an embedding space: the embedding
//! of an image `x` is its Fisher score `U(x) = ∇_θ log p_θ(x)`, shrunk by a random projection
//! `z = P·U(x)`. The crates of the workspace compose through the traits defined here, so a user
//! can plug in a model, projector or decoder of their own:
//!
//! | trait | maps | shapes |
//! | --- | --- | --- |
//! | [`DensityModel`] | images → log-likelihood in nats | `[batch, c, h, w]` → `[batch]` |
//! | [`Embedder`] | images → embeddings | `[batch, c, h, w]` → `[batch, k]` |
//! | [`Projector`] | long vectors, in blocks → short vectors | `[batch, d_chunk]` → `[batch, k]` |
//! | [`Decoder`] | embeddings → images | `[batch, k]` → `[batch, c, h, w]` |
//! | [`FeatureExtractor`] | images → features for FID | `[batch, c, h, w]` → `[batch, f]` |
//!
//! Images are stored as 8-bit integers (see [`image`]); every tensor-taking method documents
//! its shapes. Library crates take a [`Device`](burn::tensor::Device) and never choose a
//! backend: programs do.
//!
//! # Example
//!
//! ```
//! use burn::tensor::Device;
//! use fisher_core::{ImageBatch, ImageShape, PixelScaling};
//!
//! let shape = ImageShape::new(1, 2, 2).unwrap();
//! let batch = ImageBatch::new(vec![0, 64, 128, 255], 1, shape).unwrap();
//! let x = batch.to_float(&Device::flex(), PixelScaling::Symmetric);
//! assert_eq!(x.dims(), [1, 1, 2, 2]);
//! let v: Vec<f32> = x.into_data().try_to_vec().unwrap();
//! assert_eq!(v[0], -1.0);
//! assert_eq!(v[3], 1.0);
//! ```

pub mod error;
pub mod image;
pub mod tolerance;
pub mod traits;

pub use error::{Error, Result};
pub use image::{ImageBatch, ImageShape, PixelScaling};
pub use tolerance::Tolerance;

/// The folder of the package whose test, bench or example is running: cargo's
/// `CARGO_MANIFEST_DIR` at run time, else `built`, the same variable's value at build time
/// (pass `env!("CARGO_MANIFEST_DIR")`).
///
/// Fixtures are looked up here rather than at the build-time path alone because cargo does
/// not rebuild a clone moved to another path, nor two clones sharing one build cache: their
/// programs would otherwise read the other clone's files.
pub fn package_dir(built: &str) -> std::path::PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR").map_or_else(|| built.into(), Into::into)
}
pub use traits::{Decoder, DensityModel, Embedder, FeatureExtractor, Projector};

/// Converts a log-likelihood in nats of an image with `dims` sub-pixels into bits per
/// dimension: `bpd = −log p(x) / (dims · ln 2)`.
///
/// ```
/// let bpd = fisher_core::bits_per_dim(-(784.0 * std::f64::consts::LN_2 * 3.0), 784);
/// assert!((bpd - 3.0).abs() < 1e-12);
/// ```
pub fn bits_per_dim(log_likelihood_nats: f64, dims: usize) -> f64 {
    -log_likelihood_nats / (dims as f64 * std::f64::consts::LN_2)
}
