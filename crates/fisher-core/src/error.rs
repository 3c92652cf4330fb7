//! The shared error vocabulary.
//!
//! Every crate of the workspace has its own `Error` enum; the failures they have in common
//! (wrong shapes, non-finite numbers, invalid settings, I/O on a named file) are the variants
//! of [`Error`] here, and each crate's enum wraps it.

use std::path::PathBuf;

/// A failure that any fisher-embed crate can report.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A tensor or array had another shape than the operation needs.
    #[error("{what}: expected shape {expected:?}, found {found:?}")]
    Shape {
        /// What was being checked, e.g. `"images"`.
        what: String,
        /// The shape that was needed (`0` where any size is allowed).
        expected: Vec<usize>,
        /// The shape that arrived.
        found: Vec<usize>,
    },
    /// A value that must be finite was NaN or infinite.
    #[error("{what}: non-finite value {value} at flat index {index}")]
    NonFinite {
        /// What held the value.
        what: String,
        /// Flat index of the first non-finite value.
        index: usize,
        /// The value itself.
        value: f64,
    },
    /// A setting was outside its valid range.
    #[error("invalid {name} = {value}: {reason}")]
    Config {
        /// The setting's name.
        name: String,
        /// The value given, formatted.
        value: String,
        /// What the valid range is.
        reason: String,
    },
    /// Fewer samples than an estimate needs.
    #[error("{what}: needs at least {needed} samples, found {found}")]
    TooFewSamples {
        /// What was being estimated.
        what: String,
        /// The minimum number of samples.
        needed: usize,
        /// How many arrived.
        found: usize,
    },
    /// Two artefacts that must agree (a checkpoint and a config, two embedding shards) do not.
    #[error("{what} mismatch: expected {expected}, found {found}")]
    Mismatch {
        /// What disagrees, e.g. `"projection seed"`.
        what: String,
        /// The value one side carries.
        expected: String,
        /// The value the other side carries.
        found: String,
    },
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file involved.
        path: PathBuf,
        /// The underlying failure.
        source: std::io::Error,
    },
    /// A file's contents are not in the expected format.
    #[error("{path}: {reason}")]
    Format {
        /// The file involved.
        path: PathBuf,
        /// What is wrong with it, with the values found.
        reason: String,
    },
}

/// `Result` with the shared [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A [`Error::Shape`] error.
    pub fn shape(what: impl Into<String>, expected: &[usize], found: &[usize]) -> Self {
        Self::Shape {
            what: what.into(),
            expected: expected.to_vec(),
            found: found.to_vec(),
        }
    }

    /// A [`Error::Config`] error.
    pub fn config(
        name: impl Into<String>,
        value: impl std::fmt::Display,
        reason: impl Into<String>,
    ) -> Self {
        Self::Config {
            name: name.into(),
            value: value.to_string(),
            reason: reason.into(),
        }
    }

    /// A [`Error::Mismatch`] error.
    pub fn mismatch(
        what: impl Into<String>,
        expected: impl std::fmt::Display,
        found: impl std::fmt::Display,
    ) -> Self {
        Self::Mismatch {
            what: what.into(),
            expected: expected.to_string(),
            found: found.to_string(),
        }
    }

    /// An [`Error::Io`] error for `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }

    /// An [`Error::Format`] error for `path`.
    pub fn format(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Self::Format {
            path: path.into(),
            reason: reason.into(),
        }
    }
}

/// Returns [`Error::NonFinite`] for the first NaN or infinity in `values`.
///
/// ```
/// assert!(fisher_core::error::check_finite("x", &[1.0f32, 2.0]).is_ok());
/// assert!(fisher_core::error::check_finite("x", &[1.0f32, f32::NAN]).is_err());
/// ```
pub fn check_finite<T: Copy + Into<f64>>(what: &str, values: &[T]) -> Result<()> {
    match values.iter().position(|v| !(*v).into().is_finite()) {
        None => Ok(()),
        Some(index) => Err(Error::NonFinite {
            what: what.to_string(),
            index,
            value: values[index].into(),
        }),
    }
}
