//! The errors of fisher-data.
//!
//! Every failure names the file involved and the values found, so a user can tell a truncated
//! download from a wrong path or a mislabelled column without reading the source.

use std::path::{Path, PathBuf};

/// A failure while reading, generating or writing a data set.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A failure from the shared vocabulary: I/O on a named file, a bad setting, a shape.
    #[error(transparent)]
    Core(#[from] fisher_core::Error),
    /// A file ended before the data its header announces.
    #[error("{path}: truncated {what}: needs {expected} bytes, found {found}")]
    Truncated {
        /// The file involved.
        path: PathBuf,
        /// Which part was cut short, e.g. `"IDX header"`.
        what: String,
        /// Bytes the part needs.
        expected: u64,
        /// Bytes actually present.
        found: u64,
    },
    /// A file does not start with the magic number of its format.
    #[error("{path}: wrong magic number {found:#010x}: expected {expected}")]
    BadMagic {
        /// The file involved.
        path: PathBuf,
        /// What a valid file starts with.
        expected: String,
        /// The first four bytes, big-endian.
        found: u32,
    },
    /// An image file and its label file hold different numbers of items.
    #[error("{images} holds {image_count} images but {labels} holds {label_count} labels")]
    CountMismatch {
        /// The image file.
        images: PathBuf,
        /// How many images it holds.
        image_count: usize,
        /// The label or attribute file.
        labels: PathBuf,
        /// How many labels it holds.
        label_count: usize,
    },
    /// An image file could not be opened or decoded.
    #[error("{path}: unreadable image: {reason}")]
    Image {
        /// The image file.
        path: PathBuf,
        /// What the decoder reported.
        reason: String,
    },
    /// A line of a text file (attribute list, CSV) could not be parsed.
    #[error("{path}, line {line}: {reason}")]
    Parse {
        /// The text file.
        path: PathBuf,
        /// The line number, counting from 1.
        line: usize,
        /// What is wrong, with the text found.
        reason: String,
    },
    /// A class label is outside the classes of the data set.
    #[error("{path}: label {label} of item {index} is outside 0..{classes}")]
    LabelRange {
        /// The file involved.
        path: PathBuf,
        /// Index of the item, counting from 0.
        index: usize,
        /// The label found.
        label: u8,
        /// Number of classes.
        classes: usize,
    },
    /// An attribute name that the table does not have.
    #[error("unknown attribute {name:?}; available: {}", available.join(", "))]
    UnknownAttribute {
        /// The name asked for.
        name: String,
        /// The names the table has.
        available: Vec<String>,
    },
    /// A folder holds none of the files a loader needs.
    #[error("{path}: no {what} found")]
    EmptyFolder {
        /// The folder.
        path: PathBuf,
        /// What was looked for, e.g. `"PNG or JPEG images"`.
        what: String,
    },
}

/// `Result` with the crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An I/O failure on `path`, wrapped in [`fisher_core::Error::Io`].
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Core(fisher_core::Error::io(path, source))
    }

    /// A malformed file, wrapped in [`fisher_core::Error::Format`].
    pub fn format(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Self::Core(fisher_core::Error::format(path, reason))
    }

    /// A setting outside its valid range, wrapped in [`fisher_core::Error::Config`].
    pub fn config(
        name: impl Into<String>,
        value: impl std::fmt::Display,
        reason: impl Into<String>,
    ) -> Self {
        Self::Core(fisher_core::Error::config(name, value, reason))
    }

    /// A [`Error::Truncated`] error.
    pub fn truncated(path: &Path, what: &str, expected: u64, found: u64) -> Self {
        Self::Truncated {
            path: path.to_path_buf(),
            what: what.to_string(),
            expected,
            found,
        }
    }

    /// A [`Error::Image`] error.
    pub fn image(path: &Path, reason: impl std::fmt::Display) -> Self {
        Self::Image {
            path: path.to_path_buf(),
            reason: reason.to_string(),
        }
    }

    /// A [`Error::Parse`] error.
    pub fn parse(path: &Path, line: usize, reason: impl Into<String>) -> Self {
        Self::Parse {
            path: path.to_path_buf(),
            line,
            reason: reason.into(),
        }
    }
}
