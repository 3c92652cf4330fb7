//! The errors of fisher-score.

use std::path::PathBuf;

/// A failure of score computation, normalisation or an embeddings file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A failure shared by every crate: shapes, settings, I/O, non-finite values.
    #[error(transparent)]
    Core(#[from] fisher_core::Error),

    /// A projection refused a block or could not finish.
    #[error(transparent)]
    Projection(#[from] fisher_jl::Error),

    /// A recorded layer cannot be turned into per-example gradients.
    #[error("layer {layer} ({name}): {reason}")]
    Layer {
        /// Position of the layer in the model's record list.
        layer: usize,
        /// The layer's name.
        name: String,
        /// What is wrong, with the values involved.
        reason: String,
    },

    /// The probe of a layer received no gradient: the layer does not reach the
    /// log-likelihood, or the probe was not marked `require_grad`.
    #[error("layer {layer} ({name}): its probe received no gradient (is the device autodiff?)")]
    MissingProbeGradient {
        /// Position of the layer in the model's record list.
        layer: usize,
        /// The layer's name.
        name: String,
    },

    /// Two embedding shards (or a shard and a run) disagree on a setting that must match.
    #[error("{path}: {field} is {found}, but the other shards have {expected}")]
    ShardMismatch {
        /// The shard that disagrees.
        path: PathBuf,
        /// The metadata field, e.g. `"projection_seed"`.
        field: String,
        /// The value the first shard carries.
        expected: String,
        /// The value this shard carries.
        found: String,
    },

    /// A set of shards does not cover a run exactly once.
    #[error("shards {found:?} of {count} given; each of 0..{count} is needed exactly once")]
    IncompleteShards {
        /// Number of shards the run was split into.
        count: usize,
        /// The shard indices that were given, in order.
        found: Vec<usize>,
    },
}

/// `Result` with fisher-score's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn layer(layer: usize, name: &str, reason: impl Into<String>) -> Self {
        Self::Layer {
            layer,
            name: name.to_string(),
            reason: reason.into(),
        }
    }
}
