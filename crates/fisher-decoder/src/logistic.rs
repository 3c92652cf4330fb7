//! Discretized logistic likelihood of 8-bit sub-pixels (Salimans et al. 2017, PixelCNN++,
//! with one mixture component).
//!
//! With sub-pixels scaled to `x ∈ [−1, 1]` in steps of `Δ = 2/255`, mean `μ` and scale
//! `s = e^{ℓ}`, each value owns the bin `[x − Δ/2, x + Δ/2]`:
//!
//! ```text
//! P(x) = σ((x + Δ/2 − μ)/s) − σ((x − Δ/2 − μ)/s)      for 0 < v < 255
//! P(x) = σ((x + Δ/2 − μ)/s)                            for v = 0
//! P(x) = 1 − σ((x − Δ/2 − μ)/s)                        for v = 255
//! ```
//!
//! # Numerics
//! The edge terms use `log σ(a) = a − softplus(a)` and `log(1 − σ(b)) = −softplus(b)`, exact
//! in f32 for any `a, b`. In the interior, when the bin mass falls below `1e−5` (a scale far
//! narrower than a bin, or a value far in the tail) the log of the difference is replaced by
//! the log density at the bin centre times its width, `log p(x) + log Δ`, which is what the
//! difference tends to there; above that threshold the f32 difference keeps about 2 correct
//! digits or more. Log-scales are clamped below at −7 so that `1/s` stays finite.

use burn::tensor::activation::softplus;
use burn::tensor::{Int, Tensor};

/// Smallest log-scale allowed, as in PixelCNN++.
const MIN_LOG_SCALE: f32 = -7.0;

/// Per-sub-pixel log-probabilities in nats.
///
/// # Shapes
/// - `images`: `[batch, c, h, w]`, values in `0..=255`
/// - `mean`, `log_scale`: `[batch, c, h, w]`, on the `[−1, 1]` scale
/// - output: `[batch, c, h, w]`
pub(crate) fn log_prob(images: Tensor<4, Int>, mean: Tensor<4>, log_scale: Tensor<4>) -> Tensor<4> {
    let half_bin = 1.0 / 255.0;
    let is_low = images.clone().lower_equal_elem(0);
    let is_high = images.clone().greater_equal_elem(255);
    let x = images.float().mul_scalar(2.0 / 255.0).sub_scalar(1.0);

    let log_scale = log_scale.clamp_min(MIN_LOG_SCALE);
    let inv_scale = log_scale.clone().neg().exp();
    let centred = x - mean;
    let upper = centred.clone().add_scalar(half_bin) * inv_scale.clone();
    let lower = centred.clone().sub_scalar(half_bin) * inv_scale.clone();
    let middle = centred * inv_scale;

    let log_cdf_upper = upper.clone() - softplus(upper.clone(), 1.0);
    let log_survival_lower = softplus(lower.clone(), 1.0).neg();
    let mass = burn::tensor::activation::sigmoid(upper) - burn::tensor::activation::sigmoid(lower);
    let log_density_mid = middle.clone() - log_scale - softplus(middle, 1.0).mul_scalar(2.0);
    let log_mid_approx = log_density_mid.add_scalar((2.0f32 / 255.0).ln());
    let tiny = mass.clone().lower_elem(1e-5);
    let log_mass = mass.clamp_min(1e-12).log();
    let interior = log_mass.mask_where(tiny, log_mid_approx);

    interior
        .mask_where(is_low, log_cdf_upper)
        .mask_where(is_high, log_survival_lower)
}
