//! Decoders from embeddings back to images.
//!
//! A decoder maps an embedding `z ∈ ℝᵏ` (a projected Fisher score, see fisher-score) to an
//! 8-bit image, so that embeddings can be interpolated, edited and looked at. Three kinds, as
//! in the paper, all behind [`fisher_core::Decoder`] and the [`TrainableDecoder`] trait, each
//! with one variant of [`DecoderConfig`]:
//!
//! | kind | model of `x` given `z` | trained on | decodes by |
//! | --- | --- | --- | --- |
//! | [`DeterministicDecoder`] | `x̂ = net(z)` | squared error or logistic likelihood | the mean |
//! | [`PixelCnnDecoder`] | `∏ᵢ p(xᵢ \| x<ᵢ, z)` | likelihood | sampling, or greedily |
//! | [`FlowDecoder`] | `x = f⁻¹(ε; z)`, `ε ~ N(0, I)` | likelihood | sampling at a temperature |
//!
//! Every decoder records the [`EmbeddingSpec`] (dimension `k`, method, projection kind and
//! seed, model hash, normalisation: the metadata fisher-score writes) of the embeddings it was
//! trained on; [`fit`], [`evaluate`] and [`decode_embeddings`] refuse embeddings with another
//! spec, naming both. Initial weights, dequantisation noise, shuffles and samples come from
//! explicit seeds, so runs repeat exactly. Checkpoints ([`TrainableDecoder::save`],
//! [`AnyDecoder::load`]) hold config, spec, weights, Adam state and step count: a resumed run
//! takes the same steps as an uninterrupted one, and loading a checkpoint into a config of
//! another architecture is a typed error naming the setting and both values. Libraries print
//! nothing; training, evaluation, sampling and checkpoint writes run in `tracing` spans.
//!
//! [`fit`] and [`evaluate`] report, for held-out pairs, the reconstruction error (mean squared
//! error on the `[0, 1]` scale of the decoder's deterministic best guess) and, for the
//! likelihood decoders, bits per dimension.
//!
//! # Example
//!
//! ```
//! use burn::tensor::{Device, Tensor};
//! use fisher_core::{Decoder, ImageShape};
//! use fisher_decoder::{DeterministicConfig, EmbeddingSpec};
//!
//! let device = Device::flex();
//! let config = DeterministicConfig::new(8, ImageShape::new(1, 8, 8).unwrap())
//!     .with_hidden(16)
//!     .with_base_channels(8);
//! let decoder = config.init(EmbeddingSpec::new(8, "sparse-jl", 1), &device).unwrap();
//! let images = decoder.decode(Tensor::zeros([2, 8], &device), 0).unwrap();
//! assert_eq!(images.dims(), [2, 1, 8, 8]);
//! ```
//!
//! # Limitations
//!
//! - The flow's latents that each level factors out have a standard normal prior; Glow's
//!   learned, `z`-conditioned prior on them is not implemented. `z` reaches the flow only
//!   through its coupling networks.
//! - The flow's likelihood is the usual dequantisation lower bound with a single uniform noise
//!   draw per image; no importance-weighted estimate (Flow++ variational dequantisation) is
//!   offered, so its bits per dimension are an upper bound on the true value.
//! - Decoding with the flow inverts each 1×1 convolution by a `c × c` inverse computed on the
//!   host in f64 at every call; cheap for the channel counts used here (≤ 48), wasteful for
//!   very wide levels.
//! - The conditional PixelCNN decodes by ancestral sampling, one sub-pixel after another
//!   (fisher-pixelcnn's sampler): `c·h·w` small network passes per batch, so decoding, and
//!   with it measuring its reconstruction error, is much slower than for the other two
//!   decoders. Its greedy mode is sampling at temperature 10⁻⁶, not an exact search for the
//!   most likely image (which no left-to-right decoder can find cheaply).
//! - Training batches must fit in device memory whole; there is no gradient accumulation.

pub mod checkpoint;
pub mod conditional;
mod config;
pub mod deterministic;
pub mod error;
pub mod flow;
mod logistic;
mod nn;
mod spec;
pub mod train;
mod trainer;

pub use conditional::{PixelCnnDecoder, PixelCnnDecoderConfig};
pub use config::{AnyDecoder, DecoderConfig, DecoderKind, TrainableDecoder};
pub use deterministic::{DeterministicConfig, DeterministicDecoder, DeterministicLoss};
pub use error::{Error, Result};
pub use flow::{FlowConfig, FlowDecoder, FlowPreprocessing};
pub use spec::EmbeddingSpec;
pub use train::{
    FitOptions, FitProgress, FitReport, Metrics, Pairs, decode_embeddings, evaluate, fit,
};
