//! The Fréchet distance between two Gaussians, the number behind FID.
//!
//! Heusel et al., "GANs trained by a two time-scale update rule converge to a local Nash
//! equilibrium" (NeurIPS 2017), compare `N(μ₁, Σ₁)` and `N(μ₂, Σ₂)` fitted to features of
//! real and generated images by the Fréchet (2-Wasserstein) distance
//!
//! ```text
//! d² = ‖μ₁ − μ₂‖² + tr Σ₁ + tr Σ₂ − 2 · tr √(Σ₁ Σ₂)
//! ```
//!
//! `Σ₁Σ₂` is not symmetric, and pytorch-fid takes its square root with a general complex
//! `scipy.linalg.sqrtm`, then drops imaginary parts. Only the trace is needed, and it is the
//! sum of square roots of the eigenvalues of a *symmetric* matrix similar to `Σ₁Σ₂`:
//!
//! ```text
//! Σ₁ = L Lᵀ (Cholesky)  ⇒  Σ₁Σ₂ = L (Lᵀ Σ₂ L) L⁻¹,   tr √(Σ₁Σ₂) = Σₖ √λₖ(Lᵀ Σ₂ L)
//! ```
//!
//! `Lᵀ Σ₂ L` is symmetric positive semi-definite, so a symmetric eigenvalue solver (faer)
//! gives real eigenvalues; no inverse is ever formed. When `Σ₁` is singular (fewer samples
//! than dimensions) the Cholesky factorisation fails and the symmetric square root
//! `√Σ₁ = V √Λ Vᵀ` from an eigendecomposition takes the place of `L`, with
//! `tr √(Σ₁Σ₂) = Σₖ √λₖ(√Σ₁ Σ₂ √Σ₁)`.
//!
//! # Numerics
//! Everything is f64. Eigenvalues of a semi-definite matrix may come out as tiny negative
//! numbers from rounding; they are counted as zero. The result differs from pytorch-fid's by
//! rounding only (about 1e-10 relative on well-conditioned covariances); where `sqrtm`
//! struggles (singular covariances) this route stays real and stable while scipy's may not.
//! The distance is clamped at zero, so identical statistics give exactly `0` rather than a
//! rounding-sized negative number.

use faer::linalg::matmul::triangular::{BlockStructure, matmul};
use faer::{Accum, Mat, MatRef, Par, Side};
use ndarray::Array2;

use crate::{Error, GaussianStats, Result};

/// Which factor of `Σ₁` carried the symmetric route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SqrtRoute {
    /// `Σ₁ = L Lᵀ`, eigenvalues of `Lᵀ Σ₂ L`.
    Cholesky,
    /// `√Σ₁` from an eigendecomposition, eigenvalues of `√Σ₁ Σ₂ √Σ₁` (singular `Σ₁`).
    Eigen,
}

/// The Fréchet distance and its parts.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FrechetDistance {
    /// `d² = ‖μ₁ − μ₂‖² + tr Σ₁ + tr Σ₂ − 2 tr √(Σ₁Σ₂)`, clamped at 0: the FID when the
    /// statistics come from Inception features.
    pub value: f64,
    /// `‖μ₁ − μ₂‖²`.
    pub mean_term: f64,
    /// `tr Σ₁ + tr Σ₂ − 2 tr √(Σ₁Σ₂)`, before clamping.
    pub covariance_term: f64,
    /// `tr √(Σ₁Σ₂)`.
    pub trace_sqrt: f64,
    /// How the trace of the square root was computed.
    pub route: SqrtRoute,
}

/// The Fréchet distance between the Gaussians of `a` and `b`; see the [module docs](self).
///
/// ```
/// use fisher_fid::{GaussianStats, frechet_distance};
/// use ndarray::array;
/// let a = GaussianStats::new(array![0.0, 0.0], array![[4.0, 0.0], [0.0, 1.0]]).unwrap();
/// let b = GaussianStats::new(array![3.0, 0.0], array![[1.0, 0.0], [0.0, 1.0]]).unwrap();
/// // 9 + (4 + 1) + (1 + 1) − 2·(2 + 1) = 10
/// let d = frechet_distance(&a, &b).unwrap();
/// assert!((d.value - 10.0).abs() < 1e-12);
/// ```
///
/// # Errors
/// [`fisher_core::Error::Shape`] when the feature lengths differ; [`Error::Numerical`]
/// when an eigenvalue solver does not converge.
pub fn frechet_distance(a: &GaussianStats, b: &GaussianStats) -> Result<FrechetDistance> {
    if a.dim() != b.dim() {
        return Err(Error::shape("second statistics", &[a.dim()], &[b.dim()]));
    }
    let _span = tracing::info_span!("frechet distance", d = a.dim()).entered();

    let mean_term: f64 = (a.mean() - b.mean()).iter().map(|v| v * v).sum();
    let (trace_sqrt, route) = trace_sqrt_product(a.covariance(), b.covariance())?;
    let trace_a: f64 = a.covariance().diag().sum();
    let trace_b: f64 = b.covariance().diag().sum();
    let covariance_term = trace_a + trace_b - 2.0 * trace_sqrt;

    Ok(FrechetDistance {
        value: (mean_term + covariance_term).max(0.0),
        mean_term,
        covariance_term,
        trace_sqrt,
        route,
    })
}

/// `tr √(Σ₁Σ₂)` for symmetric positive semi-definite `Σ₁`, `Σ₂` of equal size, through
/// the symmetric route of the [module docs](self).
///
/// # Errors
/// [`fisher_core::Error::Shape`] when the matrices are not square of one size;
/// [`Error::Numerical`] when an eigenvalue solver does not converge.
pub fn trace_sqrt_product(sigma1: &Array2<f64>, sigma2: &Array2<f64>) -> Result<(f64, SqrtRoute)> {
    let d = sigma1.nrows();
    if sigma1.dim() != (d, d) || sigma2.dim() != (d, d) {
        let (r, c) = sigma2.dim();
        return Err(Error::shape("covariances", &[d, d], &[r, c]));
    }
    let s1 = to_faer(sigma1);
    let s2 = to_faer(sigma2);

    let (factor, structure, route) = match s1.llt(Side::Lower) {
        Ok(llt) => (
            llt.L().to_owned(),
            BlockStructure::TriangularLower,
            SqrtRoute::Cholesky,
        ),
        Err(_) => (
            symmetric_sqrt(s1.as_ref())?,
            BlockStructure::Rectangular,
            SqrtRoute::Eigen,
        ),
    };
    let m = congruence(factor.as_ref(), structure, s2.as_ref());

    let _span = tracing::info_span!("eigenvalues", d).entered();
    let eigenvalues = m
        .self_adjoint_eigenvalues(Side::Lower)
        .map_err(|e| Error::Numerical {
            what: "eigenvalues of the symmetrised covariance product".into(),
            reason: format!("{e:?}"),
        })?;
    let trace = eigenvalues.iter().map(|&l| l.max(0.0).sqrt()).sum();
    Ok((trace, route))
}

/// `Fᵀ S F` (lower triangle filled), with `F` lower triangular or full as `structure` says.
fn congruence(factor: MatRef<'_, f64>, structure: BlockStructure, s: MatRef<'_, f64>) -> Mat<f64> {
    let _span = tracing::info_span!("congruence", d = s.nrows()).entered();
    let d = s.nrows();
    let transposed = match structure {
        BlockStructure::TriangularLower => BlockStructure::TriangularUpper,
        other => other,
    };

    let mut sf = Mat::zeros(d, d);
    matmul(
        sf.as_mut(),
        BlockStructure::Rectangular,
        Accum::Replace,
        s,
        BlockStructure::Rectangular,
        factor,
        structure,
        1.0,
        Par::rayon(0),
    );
    let mut out = Mat::zeros(d, d);
    matmul(
        out.as_mut(),
        BlockStructure::TriangularLower,
        Accum::Replace,
        factor.transpose(),
        transposed,
        sf.as_ref(),
        BlockStructure::Rectangular,
        1.0,
        Par::rayon(0),
    );
    out
}

/// `√S = V √max(Λ, 0) Vᵀ` for symmetric `S = V Λ Vᵀ`.
fn symmetric_sqrt(s: MatRef<'_, f64>) -> Result<Mat<f64>> {
    let _span = tracing::info_span!("symmetric sqrt", d = s.nrows()).entered();
    let evd = s
        .self_adjoint_eigen(Side::Lower)
        .map_err(|e| Error::Numerical {
            what: "eigendecomposition of Σ₁".into(),
            reason: format!("{e:?}"),
        })?;
    let v = evd.U();
    let roots: Vec<f64> = (0..s.nrows()).map(|k| evd.S()[k].max(0.0).sqrt()).collect();
    let scaled = Mat::from_fn(s.nrows(), s.ncols(), |i, k| v[(i, k)] * roots[k]);

    let mut out = Mat::zeros(s.nrows(), s.ncols());
    faer::linalg::matmul::matmul(
        out.as_mut(),
        Accum::Replace,
        scaled.as_ref(),
        v.transpose(),
        1.0,
        Par::rayon(0),
    );
    Ok(out)
}

/// Copies an ndarray matrix into a faer one.
fn to_faer(a: &Array2<f64>) -> Mat<f64> {
    Mat::from_fn(a.nrows(), a.ncols(), |i, j| a[[i, j]])
}

#[cfg(test)]
mod tests {
    use super::*;
    use fisher_core::Tolerance;
    use ndarray::array;

    /// Oracle for commuting (diagonal) covariances: tr √(Σ₁Σ₂) = Σ √(aᵢ bᵢ).
    #[test]
    fn diagonal_covariances_match_closed_form() {
        let a = array![[4.0, 0.0, 0.0], [0.0, 9.0, 0.0], [0.0, 0.0, 0.25]];
        let b = array![[1.0, 0.0, 0.0], [0.0, 4.0, 0.0], [0.0, 0.0, 1.0]];
        let (t, route) = trace_sqrt_product(&a, &b).unwrap();
        assert_eq!(route, SqrtRoute::Cholesky);
        Tolerance::new(1e-12, 0.0).assert(&[t], &[2.0 + 6.0 + 0.5]);
    }

    /// A singular Σ₁ takes the eigen route and still matches the closed form.
    #[test]
    fn singular_covariance_takes_the_eigen_route() {
        let a = array![[4.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 1.0]];
        let b = array![[1.0, 0.0, 0.0], [0.0, 4.0, 0.0], [0.0, 0.0, 9.0]];
        let (t, route) = trace_sqrt_product(&a, &b).unwrap();
        assert_eq!(route, SqrtRoute::Eigen);
        Tolerance::new(1e-12, 1e-12).assert(&[t], &[2.0 + 0.0 + 3.0]);
    }

    /// Both routes agree on a dense, well-conditioned pair (rotated diagonal matrices).
    #[test]
    fn routes_agree_on_dense_matrices() {
        let c = 0.6f64;
        let s = 0.8f64;
        let r = array![[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]];
        let a = r
            .dot(&Array2::from_diag(&array![3.0, 1.0, 2.0]))
            .dot(&r.t());
        let b = Array2::from_diag(&array![1.0, 2.0, 5.0]);
        let (t_chol, _) = trace_sqrt_product(&a, &b).unwrap();
        let l = to_faer(&a);
        let root = symmetric_sqrt(l.as_ref()).unwrap();
        let m = congruence(
            root.as_ref(),
            BlockStructure::Rectangular,
            to_faer(&b).as_ref(),
        );
        let ev = m.self_adjoint_eigenvalues(Side::Lower).unwrap();
        let t_eig: f64 = ev.iter().map(|l| l.max(0.0).sqrt()).sum();
        Tolerance::new(1e-12, 0.0).assert(&[t_chol], &[t_eig]);
    }

    #[test]
    fn mismatched_dimensions_are_a_shape_error() {
        let a = GaussianStats::new(array![0.0], array![[1.0]]).unwrap();
        let b = GaussianStats::new(array![0.0, 0.0], Array2::eye(2)).unwrap();
        let err = frechet_distance(&a, &b).unwrap_err();
        assert!(
            matches!(err, Error::Core(fisher_core::Error::Shape { .. })),
            "{err}"
        );
    }
}
