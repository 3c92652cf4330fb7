//! The errors of this crate.
//!
//! Shape, setting and file failures use the shared vocabulary of [`fisher_core::Error`];
//! the variants here cover what only a PixelCNN checkpoint can get wrong.

use std::path::PathBuf;

/// A failure of the PixelCNN crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A shared failure: a bad shape, setting, non-finite value or file.
    #[error(transparent)]
    Core(#[from] fisher_core::Error),
    /// A checkpoint was written for another model configuration than the one asked for.
    #[error("{path}: checkpoint config {found} does not match the expected config {expected}")]
    CheckpointConfig {
        /// The checkpoint file.
        path: PathBuf,
        /// The configuration the caller expected, as JSON.
        expected: String,
        /// The configuration stored in the checkpoint, as JSON.
        found: String,
    },
    /// Burn could not encode or apply a parameter record.
    #[error("{path}: parameter record: {reason}")]
    Record {
        /// The checkpoint file.
        path: PathBuf,
        /// Burn's message, with the parameter paths and shapes it names.
        reason: String,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
