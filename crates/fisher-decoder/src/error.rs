//! The crate's error type.
//!
//! Failures shared with the rest of the workspace (shapes, non-finite values, settings, I/O)
//! arrive as [`Error::Core`]; the ones only decoders have get variants of their own, each
//! naming both values that disagree.

use std::path::PathBuf;

use crate::EmbeddingSpec;

/// A failure of a fisher-decoder operation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A failure from the shared vocabulary: shape, non-finite value, setting, I/O, format.
    #[error(transparent)]
    Core(#[from] fisher_core::Error),

    /// Embeddings made another way (projection kind, seed, `k`, model) than the ones the
    /// decoder was trained on.
    #[error(
        "embeddings mismatch: the decoder was trained on {expected}, \
         but the embeddings are {found} ({field} differs)"
    )]
    EmbeddingMismatch {
        /// The first field that differs, e.g. `"projection seed"`.
        field: &'static str,
        /// The metadata the decoder was trained on.
        expected: Box<EmbeddingSpec>,
        /// The metadata of the embeddings it was given.
        found: Box<EmbeddingSpec>,
    },

    /// A checkpoint built for another architecture than the config asks for.
    #[error(
        "checkpoint {path} does not fit the config: {field} is {checkpoint} in the checkpoint \
         but {config} in the config"
    )]
    CheckpointMismatch {
        /// The checkpoint file.
        path: PathBuf,
        /// The setting that differs, e.g. `"hidden_channels"`.
        field: String,
        /// Its value in the checkpoint.
        checkpoint: String,
        /// Its value in the config.
        config: String,
    },
}

/// `Result` with the crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<Error> for fisher_core::Error {
    /// Folds a decoder error into the shared vocabulary, for the [`fisher_core::Decoder`]
    /// methods; the message keeps every value.
    fn from(error: Error) -> Self {
        match error {
            Error::Core(core) => core,
            Error::EmbeddingMismatch {
                field,
                expected,
                found,
            } => fisher_core::Error::mismatch(
                format!("embeddings {field}"),
                expected.to_string(),
                found.to_string(),
            ),
            Error::CheckpointMismatch {
                path,
                field,
                checkpoint,
                config,
            } => fisher_core::Error::mismatch(
                format!("checkpoint {} {field}", path.display()),
                config,
                checkpoint,
            ),
        }
    }
}

/// Wraps a Burn record failure reading or writing `path` as a format error.
pub(crate) fn record_error(path: &std::path::Path, error: impl std::fmt::Display) -> Error {
    Error::Core(fisher_core::Error::format(
        path,
        format!("model record: {error}"),
    ))
}
