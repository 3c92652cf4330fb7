//! Settings of a projection: its sizes, its kind and its seed.
//!
//! A [`ProjectionConfig`] says everything needed to rebuild the same matrix anywhere: `d`, `k`,
//! the [`ProjectionKind`] with its parameters, and the seed. Store it next to embeddings (it
//! serialises to JSON through Burn's `Config`) and [`init`](ProjectionConfig::init) gives the
//! same numbers back on any machine, thread count or backend.

use burn::config::Config;

use crate::{Error, Projection, Result};

/// The default number of nonzeros per coordinate of [`ProjectionKind::SparseJl`]: 4.
///
/// The variance of `‖Px‖²` does not depend on `s` (see the crate docs); `s` only shortens
/// the tails for inputs concentrated on few coordinates, and the cost grows with it. Four is
/// enough for dense inputs such as gradients and keeps the projection near memory speed;
/// choose 8, the sparsity that Tropp, Yurtsever, Udell and Cevher (*Streaming low-rank matrix
/// approximation with an application to scientific simulation*, SIAM J. Sci. Comput. 2019,
/// §3.3) recommend as safe for any input, when inputs may be spiky.
pub const DEFAULT_NONZEROS: usize = 4;

/// The largest supported number of nonzeros per coordinate of a sparse JL projection.
pub const MAX_NONZEROS: usize = 16;

/// The largest supported output length `k` (2³⁰): rows are stored in 31-bit fields.
pub const MAX_OUTPUT_DIM: usize = 1 << 30;

/// Which random matrix `P ∈ ℝ^{k×d}` a projection uses.
#[derive(Config, Debug, PartialEq)]
pub enum ProjectionKind {
    /// Sparse Johnson–Lindenstrauss (Kane and Nelson 2014, block construction): the `k` rows
    /// are cut into `nonzeros` blocks of nearly equal size, and each coordinate has exactly one
    /// nonzero `±1/√s` in each block, `s = nonzeros ∈ 1..=16`, `s ≤ k`.
    SparseJl {
        /// Nonzeros per coordinate `s`, in `1..=16` and at most `k`.
        nonzeros: usize,
    },
    /// Very sparse random projection (Li, Hastie and Church 2006), the matrix of scikit-learn's
    /// `SparseRandomProjection`: entries independent, `±√(1/(ρ·k))` with probability `ρ/2`
    /// each and `0` otherwise.
    VerySparse {
        /// The density `ρ ∈ (0, 1]`; `None` for `1/√d`, the paper's and scikit-learn's default.
        density: Option<f64>,
    },
    /// Dense Gaussian: entries independent `N(0, 1/k)`. The reference oracle for tests; costs
    /// `k` operations per coordinate, so use it for small `d` only.
    Gaussian,
}

impl ProjectionKind {
    /// Sparse JL with the [default](DEFAULT_NONZEROS) four nonzeros per coordinate.
    pub fn sparse_default() -> Self {
        Self::SparseJl {
            nonzeros: DEFAULT_NONZEROS,
        }
    }

    /// A short name for file metadata and logs, e.g. `"sparse-jl(s=4)"` or
    /// `"very-sparse(density=auto)"`.
    pub fn label(&self) -> String {
        match self {
            Self::SparseJl { nonzeros } => format!("sparse-jl(s={nonzeros})"),
            Self::VerySparse { density: None } => "very-sparse(density=auto)".to_string(),
            Self::VerySparse {
                density: Some(density),
            } => format!("very-sparse(density={density})"),
            Self::Gaussian => "gaussian".to_string(),
        }
    }
}

/// Settings of a [`Projection`] `ℝ^d → ℝ^k`.
///
/// ```
/// use fisher_jl::{ProjectionConfig, ProjectionKind};
///
/// let config = ProjectionConfig::new(1_000_000, 256)
///     .with_kind(ProjectionKind::VerySparse { density: None })
///     .with_seed(7);
/// let projection = config.init().unwrap();
/// assert_eq!(projection.density(), 1e-3);
/// ```
#[derive(Config, Debug, PartialEq)]
pub struct ProjectionConfig {
    /// Input length `d`: coordinates per vector, at least 1.
    pub d: usize,
    /// Output length `k`: the embedding size, in `1..=2³⁰`.
    pub k: usize,
    /// The matrix; sparse JL with four nonzeros per coordinate by default.
    #[config(default = "ProjectionKind::sparse_default()")]
    pub kind: ProjectionKind,
    /// Seed of every random choice; the same seed gives the same matrix everywhere.
    #[config(default = 0)]
    pub seed: u64,
}

impl ProjectionConfig {
    /// Checks the settings and builds the projection; no matrix is stored, so this takes
    /// microseconds for any `d` (a very sparse projection tabulates one binomial distribution,
    /// at most `k + 1` numbers).
    ///
    /// # Errors
    /// [`Error::InputDim`] for `d = 0`, [`Error::OutputDim`] for `k = 0` or `k > 2³⁰`,
    /// [`Error::Nonzeros`] for `s` outside `1..=16` or above `k`, [`Error::Density`] for a
    /// density outside `(0, 1]`.
    pub fn init(&self) -> Result<Projection> {
        self.validate()?;
        Ok(Projection::from_valid_config(self.clone()))
    }

    /// Checks the settings without building anything.
    ///
    /// # Errors
    /// As [`init`](Self::init).
    pub fn validate(&self) -> Result<()> {
        if self.d == 0 {
            return Err(Error::InputDim);
        }
        if self.k == 0 || self.k > MAX_OUTPUT_DIM {
            return Err(Error::OutputDim {
                k: self.k,
                max: MAX_OUTPUT_DIM,
            });
        }
        match self.kind {
            ProjectionKind::SparseJl { nonzeros } => {
                if nonzeros == 0 || nonzeros > MAX_NONZEROS || nonzeros > self.k {
                    return Err(Error::Nonzeros {
                        s: nonzeros,
                        k: self.k,
                        max: MAX_NONZEROS,
                    });
                }
            }
            ProjectionKind::VerySparse {
                density: Some(density),
            } => {
                if !(density > 0.0 && density <= 1.0) {
                    return Err(Error::Density { density });
                }
            }
            ProjectionKind::VerySparse { density: None } | ProjectionKind::Gaussian => {}
        }
        Ok(())
    }
}
