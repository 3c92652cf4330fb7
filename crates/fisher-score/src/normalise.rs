//! Normalisations of scores and embeddings.
//!
//! Let U(x) ∈ ℝ^d be a score, P the k × d projection and z = P·U(x). The options:
//!
//! | option | embedding | fitted on training images x₁ … x_N |
//! | --- | --- | --- |
//! | [`Normalisation::None`] | z = P·U(x) | nothing |
//! | [`Normalisation::InvSqrtDim`] | z = P·U(x) / √d | nothing |
//! | [`Normalisation::DiagonalFisher`] | z = P·(F̂ + λ)^(−1/2)·U(x) | F̂ = diag((1/N) Σₙ U(xₙ)²) |
//! | [`Normalisation::Standardise`] | zᵢ = ((P·U(x))ᵢ − μᵢ) / σᵢ | μ, σ of P·U(xₙ) per output |
//!
//! **1/√d** keeps the scale of z comparable between models of different sizes: a sparse JL
//! projection preserves ‖U‖, and ‖U‖² grows like d when the coordinates are of similar size.
//!
//! **Diagonal empirical Fisher.** The Fisher information F = E[U Uᵀ] is the metric that makes
//! the score space invariant to reparameterisation; the natural inner product of two scores is
//! U(x)ᵀ F⁻¹ U(y) (Jaakkola & Haussler 1998). Its diagonal estimated from squared scores of the
//! training set, F̂ⱼⱼ = (1/N) Σₙ Uⱼ(xₙ)², is cheap: one number per parameter. Whitening each
//! coordinate by (F̂ⱼⱼ + λ)^(−1/2) before projecting gives every parameter unit mean-square
//! score on the training set, so layers with large gradients no longer dominate the distances.
//! λ = `damping` · mean_j F̂ⱼⱼ keeps coordinates whose score is (almost) always zero from
//! being blown up. Memory: fitting holds one f64 per parameter (8·d bytes), the fitted
//! diagonal one f32 per parameter (4·d bytes); both are independent of the batch size.
//!
//! **Standardisation** makes each projected dimension zero-mean and unit-variance on the
//! training set (σ is the population standard deviation; a dimension with σ = 0 is only
//! centred). It applies to any method, including the baselines.

use std::fmt;
use std::str::FromStr;

use burn::tensor::{Int, Tensor, TensorData};
use fisher_core::{Embedder, Error as CoreError};

use crate::{Result, ScoreModel, stream_scores};

/// Which normalisation to apply; see the [module docs](self) for the mathematics.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum Normalisation {
    /// Plain projected scores.
    #[default]
    None,
    /// Projected scores divided by √d.
    InvSqrtDim,
    /// Coordinates whitened by the diagonal empirical Fisher before projecting.
    DiagonalFisher {
        /// λ as a fraction of the mean diagonal entry; finite and ≥ 0.
        damping: f64,
    },
    /// Projected dimensions standardised with training-set mean and deviation.
    Standardise,
}

impl Normalisation {
    /// The default damping of [`Normalisation::DiagonalFisher`]: `1e-3` of the mean diagonal
    /// entry, small enough to leave every coordinate with a typical score almost untouched.
    pub const DEFAULT_DAMPING: f64 = 1e-3;

    /// Whether the normalisation must be fitted on training images first.
    pub fn needs_fit(&self) -> bool {
        matches!(self, Self::DiagonalFisher { .. } | Self::Standardise)
    }
}

impl fmt::Display for Normalisation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::None => write!(f, "none"),
            Self::InvSqrtDim => write!(f, "inv-sqrt-d"),
            Self::DiagonalFisher { damping } => write!(f, "diag-fisher:{damping:e}"),
            Self::Standardise => write!(f, "standardise"),
        }
    }
}

impl FromStr for Normalisation {
    type Err = CoreError;

    /// Parses `none`, `inv-sqrt-d`, `diag-fisher`, `diag-fisher:DAMPING` or `standardise`.
    fn from_str(s: &str) -> Result<Self, CoreError> {
        let bad = |reason: &str| CoreError::config("normalisation", s, reason.to_string());
        match s {
            "none" => Ok(Self::None),
            "inv-sqrt-d" => Ok(Self::InvSqrtDim),
            "standardise" => Ok(Self::Standardise),
            "diag-fisher" => Ok(Self::DiagonalFisher {
                damping: Self::DEFAULT_DAMPING,
            }),
            _ => match s.strip_prefix("diag-fisher:") {
                Some(value) => {
                    let damping: f64 = value
                        .parse()
                        .map_err(|_| bad("the damping after `diag-fisher:` is not a number"))?;
                    if !(damping.is_finite() && damping >= 0.0) {
                        return Err(bad("the damping must be finite and at least 0"));
                    }
                    Ok(Self::DiagonalFisher { damping })
                }
                None => Err(bad(
                    "expected none, inv-sqrt-d, diag-fisher[:DAMPING] or standardise",
                )),
            },
        }
    }
}

/// Running sums of squared scores, one f64 per parameter.
#[derive(Clone, Debug)]
pub struct FisherAccumulator {
    sum_squares: Vec<f64>,
    samples: usize,
}

impl FisherAccumulator {
    /// An empty accumulator for `d` parameters.
    pub fn new(d: usize) -> Self {
        Self {
            sum_squares: vec![0.0; d],
            samples: 0,
        }
    }

    /// Adds the squares of one block of per-example scores, summed over the batch.
    ///
    /// # Shapes
    /// - `values`: `[batch, width]`, coordinates `offset .. offset + width`
    ///
    /// # Errors
    /// When the block runs past `d` or holds a non-finite value.
    pub fn add_block(&mut self, offset: usize, values: Tensor<2>) -> Result<()> {
        let [_, width] = values.dims();
        check_range("Fisher block", offset, width, self.sum_squares.len())?;
        let squares = host_vec(values.powi_scalar(2).sum_dim(0))?;
        fisher_core::error::check_finite("squared scores", &squares)?;

        for (acc, s) in self.sum_squares[offset..offset + width]
            .iter_mut()
            .zip(squares)
        {
            *acc += f64::from(s);
        }
        Ok(())
    }

    /// Counts `batch` more examples; call once per batch.
    pub fn add_examples(&mut self, batch: usize) {
        self.samples += batch;
    }

    /// The fitted diagonal, `(F̂ + λ)^(−1/2)` per coordinate.
    ///
    /// # Errors
    /// With no example, or when every squared score is zero (λ would be zero too).
    pub fn finish(self, damping: f64) -> Result<DiagonalFisher> {
        if self.samples == 0 {
            return Err(CoreError::TooFewSamples {
                what: "diagonal Fisher".into(),
                needed: 1,
                found: 0,
            }
            .into());
        }
        let n = self.samples as f64;
        let d = self.sum_squares.len().max(1) as f64;
        let mean = self.sum_squares.iter().sum::<f64>() / (n * d);
        let lambda = damping * mean;
        if !(lambda > 0.0 || self.sum_squares.iter().all(|&s| s > 0.0)) {
            return Err(CoreError::config(
                "diagonal Fisher damping",
                damping,
                format!("λ = damping · mean F̂ = {lambda:e} leaves a zero diagonal entry"),
            )
            .into());
        }

        let scale = self
            .sum_squares
            .iter()
            .map(|&s| (1.0 / (s / n + lambda).sqrt()) as f32)
            .collect();
        Ok(DiagonalFisher {
            scale,
            samples: self.samples,
            damping,
        })
    }
}

/// The fitted diagonal-Fisher factors `(F̂ⱼⱼ + λ)^(−1/2)`, one f32 per parameter.
#[derive(Clone, Debug, PartialEq)]
pub struct DiagonalFisher {
    scale: Vec<f32>,
    samples: usize,
    damping: f64,
}

impl DiagonalFisher {
    /// Fits the diagonal on training batches, streaming each batch's scores layer by layer.
    ///
    /// # Shapes
    /// - each batch: `[batch, channels, height, width]`, on an autodiff device
    ///
    /// # Errors
    /// As [`stream_scores`] and [`FisherAccumulator::finish`].
    pub fn fit<M: ScoreModel + ?Sized>(
        model: &M,
        batches: impl IntoIterator<Item = Tensor<4, Int>>,
        damping: f64,
    ) -> Result<Self> {
        let _span = tracing::info_span!("fit_diagonal_fisher").entered();
        let mut acc = FisherAccumulator::new(model.num_free_parameters());
        for images in batches {
            let [batch, ..] = images.dims();
            stream_scores(model, images, None, |block| {
                acc.add_block(block.offset, block.values)
            })?;
            acc.add_examples(batch);
        }
        acc.finish(damping)
    }

    /// Rebuilds a fitted diagonal from its parts (e.g. read back from a file).
    ///
    /// # Errors
    /// When a factor is not finite and positive.
    pub fn from_parts(scale: Vec<f32>, samples: usize, damping: f64) -> Result<Self> {
        fisher_core::error::check_finite("diagonal Fisher factors", &scale)?;
        if let Some(i) = scale.iter().position(|&s| s <= 0.0) {
            return Err(CoreError::config(
                format!("diagonal Fisher factor {i}"),
                scale[i],
                "must be positive",
            )
            .into());
        }
        Ok(Self {
            scale,
            samples,
            damping,
        })
    }

    /// The factors `(F̂ⱼⱼ + λ)^(−1/2)`, one per parameter.
    pub fn factors(&self) -> &[f32] {
        &self.scale
    }

    /// Number of training examples the diagonal was estimated from.
    pub fn samples(&self) -> usize {
        self.samples
    }

    /// The damping it was fitted with.
    pub fn damping(&self) -> f64 {
        self.damping
    }

    /// Checks that the diagonal has `d` entries.
    ///
    /// # Errors
    /// [`fisher_core::Error::Mismatch`] naming both lengths.
    pub fn check_dim(&self, d: usize) -> Result<()> {
        if self.scale.len() != d {
            return Err(
                CoreError::mismatch("diagonal Fisher length d", d, self.scale.len()).into(),
            );
        }
        Ok(())
    }

    /// Multiplies a block of scores by its factors.
    ///
    /// # Shapes
    /// - `values`: `[batch, width]`, coordinates `offset .. offset + width`; output the same
    ///
    /// # Errors
    /// When the block runs past `d`.
    pub fn scale_block(&self, offset: usize, values: Tensor<2>) -> Result<Tensor<2>> {
        let [_, width] = values.dims();
        check_range("Fisher block", offset, width, self.scale.len())?;
        let factors = self.scale[offset..offset + width].to_vec();
        let factors = Tensor::<1>::from_data(TensorData::new(factors, [width]), &values.device());
        Ok(values * factors.unsqueeze_dim::<2>(0))
    }
}

/// Per-dimension mean and standard deviation of embeddings of a training set.
#[derive(Clone, Debug, PartialEq)]
pub struct Standardiser {
    mean: Vec<f64>,
    std: Vec<f64>,
    samples: usize,
}

impl Standardiser {
    /// Fits the statistics on the embeddings of training batches, merging batch statistics
    /// in f64 (Chan, Golub & LeVeque's pairwise update).
    ///
    /// # Shapes
    /// - each batch: `[batch, channels, height, width]`, values in `0..=255`
    ///
    /// # Errors
    /// With fewer than 2 examples, or when the embedder fails or returns non-finite values.
    pub fn fit(
        embedder: &dyn Embedder,
        batches: impl IntoIterator<Item = Tensor<4, Int>>,
    ) -> Result<Self> {
        let _span = tracing::info_span!("fit_standardiser").entered();
        let k = embedder.embedding_dim();
        let (mut mean, mut m2, mut n) = (vec![0.0f64; k], vec![0.0f64; k], 0usize);
        for images in batches {
            let z = embedder.embed(images)?;
            let [b, zk] = z.dims();
            if zk != k {
                return Err(CoreError::shape("embeddings", &[b, k], &[b, zk]).into());
            }
            let values = host_vec(z)?;
            fisher_core::error::check_finite("embeddings", &values)?;
            merge_moments(&mut mean, &mut m2, n, &values, b);
            n += b;
        }
        if n < 2 {
            return Err(CoreError::TooFewSamples {
                what: "standardisation".into(),
                needed: 2,
                found: n,
            }
            .into());
        }
        let std = m2.iter().map(|&m| (m / n as f64).sqrt()).collect();
        Ok(Self {
            mean,
            std,
            samples: n,
        })
    }

    /// Rebuilds fitted statistics from their parts.
    ///
    /// # Errors
    /// When the lengths differ or a value is not finite or a deviation is negative.
    pub fn from_parts(mean: Vec<f64>, std: Vec<f64>, samples: usize) -> Result<Self> {
        if mean.len() != std.len() {
            return Err(
                CoreError::shape("standard deviations", &[mean.len()], &[std.len()]).into(),
            );
        }
        fisher_core::error::check_finite("means", &mean)?;
        fisher_core::error::check_finite("standard deviations", &std)?;
        if let Some(i) = std.iter().position(|&s| s < 0.0) {
            return Err(CoreError::config(format!("deviation {i}"), std[i], "negative").into());
        }
        Ok(Self { mean, std, samples })
    }

    /// The per-dimension means.
    pub fn mean(&self) -> &[f64] {
        &self.mean
    }

    /// The per-dimension population standard deviations.
    pub fn std(&self) -> &[f64] {
        &self.std
    }

    /// Number of training examples the statistics were estimated from.
    pub fn samples(&self) -> usize {
        self.samples
    }

    /// `(z − μ) / σ`, with σ = 0 replaced by 1.
    ///
    /// # Shapes
    /// - `z`: `[batch, k]`; output the same
    ///
    /// # Errors
    /// When `z` has another `k`.
    pub fn apply(&self, z: Tensor<2>) -> Result<Tensor<2>> {
        let [b, k] = z.dims();
        if k != self.mean.len() {
            return Err(CoreError::shape("embeddings", &[b, self.mean.len()], &[b, k]).into());
        }
        let device = z.device();
        let mean: Vec<f32> = self.mean.iter().map(|&m| m as f32).collect();
        let inv: Vec<f32> = self
            .std
            .iter()
            .map(|&s| if s > 0.0 { (1.0 / s) as f32 } else { 1.0 })
            .collect();
        let mean = Tensor::<2>::from_data(TensorData::new(mean, [1, k]), &device);
        let inv = Tensor::<2>::from_data(TensorData::new(inv, [1, k]), &device);
        Ok((z - mean) * inv)
    }
}

/// Merges the moments of `batch` rows of `values` (`[batch, k]`, row-major) into running
/// means and sums of squared deviations over `n` earlier rows.
fn merge_moments(mean: &mut [f64], m2: &mut [f64], n: usize, values: &[f32], batch: usize) {
    let k = mean.len();
    let total = (n + batch) as f64;
    for j in 0..k {
        let column = (0..batch).map(|b| f64::from(values[b * k + j]));
        let batch_mean = column.clone().sum::<f64>() / batch as f64;
        let batch_m2: f64 = column.map(|v| (v - batch_mean).powi(2)).sum();
        let delta = batch_mean - mean[j];
        mean[j] += delta * batch as f64 / total;
        m2[j] += batch_m2 + delta * delta * n as f64 * batch as f64 / total;
    }
}

fn check_range(what: &str, offset: usize, width: usize, d: usize) -> Result<()> {
    if offset + width > d {
        return Err(CoreError::config(
            format!("{what} end"),
            offset + width,
            format!("must be at most d = {d}"),
        )
        .into());
    }
    Ok(())
}

/// Reads a float tensor back as `f32` values.
pub(crate) fn host_vec<const D: usize>(t: Tensor<D>) -> Result<Vec<f32>> {
    t.into_data().try_into_vec_as::<f32>().map_err(|e| {
        CoreError::config("tensor data", format!("{e:?}"), "not readable as f32").into()
    })
}
