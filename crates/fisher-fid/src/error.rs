//! The crate's error type.

use std::path::PathBuf;

/// A failure of fisher-fid.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A failure from the shared vocabulary: shapes, non-finite values, settings, too few
    /// samples, I/O or a malformed file.
    #[error(transparent)]
    Core(#[from] fisher_core::Error),
    /// A tensor the network needs is absent from a weights file.
    #[error("{path}: tensor `{name}` is missing from the weights file")]
    MissingTensor {
        /// The weights file.
        path: PathBuf,
        /// The tensor's dotted name, e.g. `net.layers.conv.weight`.
        name: String,
    },
    /// A tensor of a weights file has another shape than the network needs.
    #[error("{path}: tensor `{name}` has shape {found:?}, the network needs {expected:?}")]
    TensorShape {
        /// The weights file.
        path: PathBuf,
        /// The tensor's dotted name.
        name: String,
        /// The shape the network needs.
        expected: Vec<usize>,
        /// The shape in the file.
        found: Vec<usize>,
    },
    /// A pickle stream holds something the reader cannot interpret.
    #[error("{path}: pickle byte {offset}: {reason}")]
    Pickle {
        /// The archive holding the pickle.
        path: PathBuf,
        /// Byte offset of the offending opcode in the pickle stream.
        offset: usize,
        /// What went wrong, with the values found.
        reason: String,
    },
    /// A linear-algebra step failed to converge.
    #[error("{what}: {reason}")]
    Numerical {
        /// The step, e.g. `"eigenvalues of √Σ1·Σ2·√Σ1"`.
        what: String,
        /// What the solver reported.
        reason: String,
    },
    /// A classifier checkpoint could not be written or applied.
    #[error("{path}: checkpoint: {reason}")]
    Checkpoint {
        /// The checkpoint file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An [`Error::Core`] holding [`fisher_core::Error::Format`].
    pub(crate) fn format(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        fisher_core::Error::format(path, reason).into()
    }

    /// An [`Error::Core`] holding [`fisher_core::Error::Io`].
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        fisher_core::Error::io(path, source).into()
    }

    /// An [`Error::Core`] holding [`fisher_core::Error::Config`].
    pub(crate) fn config(
        name: impl Into<String>,
        value: impl std::fmt::Display,
        reason: impl Into<String>,
    ) -> Self {
        fisher_core::Error::config(name, value, reason).into()
    }

    /// An [`Error::Core`] holding [`fisher_core::Error::Shape`].
    pub(crate) fn shape(what: impl Into<String>, expected: &[usize], found: &[usize]) -> Self {
        fisher_core::Error::shape(what, expected, found).into()
    }
}
