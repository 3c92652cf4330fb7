//! The errors of fisher-jl.
//!
//! Each variant names every value involved, so a caller can tell a wrong setting from a
//! misplaced chunk without reading the source.

/// A failure while building a projection or feeding it data.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A failure from the shared vocabulary: a wrong shape, a non-finite output.
    #[error(transparent)]
    Core(#[from] fisher_core::Error),
    /// The output length `k` is zero or too large.
    #[error("invalid output length k = {k}: must be in 1..={max}")]
    OutputDim {
        /// The `k` given.
        k: usize,
        /// The largest supported `k`.
        max: usize,
    },
    /// The input length `d` is zero.
    #[error("invalid input length d = 0: a projection needs at least one coordinate")]
    InputDim,
    /// The number of nonzeros per coordinate `s` of a sparse JL projection is out of range.
    #[error(
        "invalid nonzeros per coordinate s = {s} for k = {k}: must be in 1..={max} and at most k"
    )]
    Nonzeros {
        /// The `s` given.
        s: usize,
        /// The output length.
        k: usize,
        /// The largest supported `s`.
        max: usize,
    },
    /// The density of a very sparse projection is outside `(0, 1]` or not finite.
    #[error("invalid density {density}: must be in (0, 1]")]
    Density {
        /// The density given.
        density: f64,
    },
    /// A chunk of coordinates runs past the input length.
    #[error("chunk {offset}..{end} runs past the input length d = {d}")]
    PastEnd {
        /// First coordinate of the chunk.
        offset: usize,
        /// One past its last coordinate.
        end: usize,
        /// The input length.
        d: usize,
    },
    /// A chunk covers coordinates that an earlier chunk already fed.
    #[error("chunk {offset}..{end} overlaps coordinates {fed_start}..{fed_end} fed before")]
    Overlap {
        /// First coordinate of the chunk.
        offset: usize,
        /// One past its last coordinate.
        end: usize,
        /// Start of the range fed before that it overlaps.
        fed_start: usize,
        /// End of that range.
        fed_end: usize,
    },
    /// An accumulator was finished before every coordinate had been fed.
    #[error("coordinates {missing_start}..{missing_end} of d = {d} were never fed")]
    Incomplete {
        /// Start of the first missing range.
        missing_start: usize,
        /// End of the first missing range.
        missing_end: usize,
        /// The input length.
        d: usize,
    },
    /// An accumulator was fed by another projection than the one that made it.
    #[error("accumulator made for {expected} was fed by {found}")]
    Foreign {
        /// The projection the accumulator belongs to.
        expected: String,
        /// The projection that fed it.
        found: String,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<Error> for fisher_core::Error {
    /// Maps a fisher-jl error onto the shared vocabulary, for the [`fisher_core::Projector`]
    /// trait.
    fn from(e: Error) -> Self {
        match e {
            Error::Core(core) => core,
            Error::OutputDim { k, .. } => Self::config("k", k, e.to_string()),
            Error::InputDim => Self::config("d", 0, e.to_string()),
            Error::Nonzeros { s, .. } => Self::config("nonzeros per coordinate", s, e.to_string()),
            Error::Density { density } => Self::config("density", density, e.to_string()),
            Error::PastEnd { end, .. } => Self::config("chunk end", end, e.to_string()),
            Error::Overlap { offset, .. } => Self::config("chunk offset", offset, e.to_string()),
            Error::Incomplete { missing_start, .. } => {
                Self::config("fed coordinates", missing_start, e.to_string())
            }
            Error::Foreign { ref found, .. } => Self::config("projection", found, e.to_string()),
        }
    }
}
