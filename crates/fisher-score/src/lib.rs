//! Exact per-example Fisher scores, streamed layer by layer into a projection.
//!
//! The embedding of an image x under a trained density model p_θ is its projected Fisher score
//!
//! ```text
//! z(x) = P · N(U(x)),   U(x) = ∇_θ log p_θ(x) ∈ ℝ^d,   P ∈ ℝ^(k×d)
//! ```
//!
//! with the log-likelihood in nats, θ every trainable parameter of the model (weights that a
//! mask fixes at zero are not parameters), P a [`ScoreProjection`] (a sparse
//! Johnson–Lindenstrauss matrix from `fisher-jl` run on the host, or any
//! [`Projector`](fisher_core::Projector) on the device) and N a [`Normalisation`] (none by
//! default).
//!
//! # How
//! One forward pass of the batch with a zero probe added to each layer's output, one backward
//! pass of the summed log-likelihood, then, layer by layer, each example's weight gradient
//! from the probe's gradient and the layer's input ([`layer`]): one batched matrix product per
//! kernel tap, the same arithmetic as the weight gradient of a plain backward pass (which the
//! scores skip: give a model whose parameters need no gradient). For the PixelCNN the probes'
//! gradients come instead from its hand-written backward pass
//! ([`fisher_pixelcnn::backward`], through [`ScoreModel::log_likelihood_output_grads`]):
//! the same numbers without an autodiff graph, about twice as fast on the CPU backend.
//! Each layer's `[batch, d_layer]` block is projected at its coordinate offset and freed
//! ([`project_scores`]), so memory holds the activations of the batch, as any backward pass
//! does, plus one layer's block, never `[batch, d]`. [`reference_scores`] loops over the
//! examples with one backward pass each; the tests hold the two to 1e-5.
//!
//! # Baselines
//! [`ActivationEmbedder`] (a layer's input activation) and [`PixelEmbedder`] (raw pixels)
//! produce embeddings of the same format, projected by the same projectors.
//!
//! # Output
//! [`Embeddings`] files (safetensors, readable from numpy) carry the checkpoint hash, method,
//! projection, seed, k, s, normalisation, data set and image indices; [`Shard`] splits a run
//! so that [`merge_shards`] of the parts equals the single run byte for byte.
//!
//! # Example
//! ```
//! use fisher_score::{Normalisation, Shard};
//!
//! let n: Normalisation = "diag-fisher:1e-4".parse().unwrap();
//! assert_eq!(n, Normalisation::DiagonalFisher { damping: 1e-4 });
//! let shard: Shard = "1/3".parse().unwrap();
//! // 10 images in batches of 4 are 3 batches; shard 1 of 3 takes the second batch.
//! assert_eq!(shard.range(10, 4).unwrap(), 4..8);
//! ```
//!
//! # Limitations
//! - Convolutions must have stride 1 and a single group; the PixelCNN has no others. Layers
//!   whose parameters enter other than as `W ⋆ x + b` (normalisation layers, embeddings) would
//!   need their own rule; the PixelCNN has none.
//! - Scores of a model of your own need an autodiff device, unless it implements
//!   [`ScoreModel::log_likelihood_output_grads`]; the PixelCNN's run on any device. The
//!   activation baseline reads the layer inputs through
//!   [`ScoreModel::layer_records`], which for the PixelCNN builds no autodiff graph and runs
//!   on any device; a model of your own that keeps the trait's default runs the probed pass
//!   there, needs an autodiff device, and on Burn's autodiff backend keeps each pass's graph
//!   in memory (a pass never walked backward is not freed).
//! - The diagonal-Fisher normalisation holds one f32 per parameter (and one f64 per parameter
//!   while it is fitted); the statistics of standardisation hold two f64 per output dimension.
//! - Memory is that of a backward pass of the batch: the activations the backward pass
//!   needs and every layer's output gradient, about as much as a plain forward and backward
//!   pass for the PixelCNN (the probed pass of a model of your own holds the probes as well,
//!   about 1.4×). It grows linearly with the batch, not with `d`. Micro-batches on the CPU
//!   run side by side, so memory is that of one micro-batch per core (229 MiB for
//!   micro-batches of 4 of the default model, against 831 MiB for one pass over 32 images).
//! - Speed is bounded by the backend's convolutions and matrix products. On a 2-core AMD
//!   EPYC, with the flex CPU backend and batch 32, the default PixelCNN's scores in
//!   micro-batches of 4 (run side by side on the two cores) ran at 26.8–36.0 examples/s
//!   (categorical head) and 28.0–36.7 (mixture), against 21.8–33.0 and 23.2–33.6 for
//!   PyTorch's `torch.func` run right after each: 0.95–1.65× and 1.09–1.57× of it (median
//!   1.21 for each) over eleven rounds each, ahead in 21 of the 22. PyTorch's figure
//!   moves by ±20% from run to run on this machine, ours by about ±15%, so single rounds can
//!   still go either way. One pass over the whole batch runs at 22.4–27.1: many of flex's
//!   operations run on one thread, leaving the other core idle. Flex's plain forward and
//!   backward pass runs at a quarter of PyTorch's; its forward convolutions and the
//!   per-example products take most of the scores' time (see `docs/benchmarks.md` and the
//!   `score_phases` example).
//! - Embeddings are computed in f32; per-example results agree with the single-example loop to
//!   about 1e-5 relative, not bit for bit, because the sums run in another order. Shards are
//!   bit-identical to a single run because they compute the very same batches.

pub mod embedder;
pub mod engine;
pub mod error;
mod host;
pub mod layer;
pub mod model;
pub mod normalise;
pub mod output;
pub mod pixelcnn;
pub mod projection;

pub use embedder::{
    ActivationEmbedder, FisherEmbedder, Normalised, PixelEmbedder, PostNormalisation, embed_range,
    layer_inputs,
};
pub use engine::{
    ScoreBlock, batch_gradient, materialise_scores, project_scores, reference_scores, stream_scores,
};
pub use error::{Error, Result};
pub use layer::{LayerInput, LayerScores, LinearLayout, Probe, ProbedLayer};
pub use model::{OutputGradients, ScoreModel};
pub use normalise::{DiagonalFisher, FisherAccumulator, Normalisation, Standardiser};
pub use output::{Embeddings, EmbeddingsMetadata, FittedNormalisation, Shard, merge_shards};
pub use projection::{Projecting, ScoreProjection};
