//! Output heads: per-sub-pixel conditional log-probabilities and their samplers.
//!
//! **Categorical.** `p(xᵢ = v | x<ᵢ) = softmax(ℓᵢ)ᵥ` over 256 logits `ℓᵢ`.
//!
//! **Discretized logistic mixture** (Salimans et al., 2017, "PixelCNN++"). With sub-pixels
//! scaled to `x ∈ [−1, 1]` (bin half-width `δ = 1/255`) and `σ` the logistic sigmoid, one
//! component with mean `μ` and log-scale `s` gives a bin the mass
//!
//! ```text
//! P(x | μ, s) = σ((x + δ − μ)/eˢ) − σ((x − δ − μ)/eˢ),
//! ```
//!
//! where the edge bins reach to infinity: `P(−1) = σ((−1 + δ − μ)/eˢ)` and
//! `P(1) = 1 − σ((1 − δ − μ)/eˢ)`. A pixel with channels `r, g, b` has
//!
//! ```text
//! p(r, g, b) = Σₖ πₖ · P(r | μᵣₖ, sᵣₖ) · P(g | μ_gₖ + αₖ·r, s_gₖ)
//!                  · P(b | μ_bₖ + βₖ·r + γₖ·g, s_bₖ)
//! ```
//!
//! with `α, β, γ = tanh(·)` of network outputs. The mixture weights `π` and the red
//! parameters come from the red feature group, which sees only earlier pixels; green and blue
//! parameters come from their own groups, which also see the channels before them, so the
//! product is a proper autoregressive factorisation. The per-sub-pixel map holds the chain
//! rule terms `log p(r)`, `log p(g | r)`, `log p(b | r, g)`, whose sum is `log p(r, g, b)`.
//!
//! # Numerics
//! Log-scales are clamped below at −7. `log σ(a)` and `log(1 − σ(a))` are evaluated as
//! `a − softplus(a)` and `−softplus(a)` with a softplus that never overflows. When a bin's
//! mass falls under 1e-5 its log is replaced by the log-density at the bin centre plus
//! `log(2δ) = −log 127.5`, as in PixelCNN++: the mass is then exact to first order, so the
//! 256 masses sum to 1 within about 1e-5 rather than exactly.

use burn::tensor::activation::{log_softmax, relu};
use burn::tensor::{Int, Tensor};
use rand::RngExt;
use rand::rngs::Xoshiro256PlusPlus;

use crate::config::Head;

/// Lower clamp of the logistic log-scales.
const MIN_LOG_SCALE: f32 = -7.0;
/// Bin masses under this use the density-at-centre fallback.
const TINY_MASS: f32 = 1e-5;
/// Half the width of a bin on the `[−1, 1]` scale.
const HALF_BIN: f32 = 1.0 / 255.0;

/// Colour group of each output channel of the head for `channels` image channels.
pub(crate) fn output_groups(head: Head, channels: usize) -> Vec<usize> {
    let n = head.output_channels(channels);
    if channels == 1 {
        return vec![0; n];
    }
    match head {
        Head::Categorical => (0..n).map(|o| o / 256).collect(),
        Head::LogisticMixture(k) => (0..n)
            .map(|o| match o / k {
                0..=2 => 0,
                3..=5 => 1,
                _ => 2,
            })
            .collect(),
    }
}

/// Per-sub-pixel conditional log-probabilities in nats.
///
/// # Shapes
/// - `out`: `[batch, head.output_channels(c), h, w]`
/// - `targets`: `[batch, c, h, w]`, values in `0..=255`
/// - output: `[batch, c, h, w]`
pub(crate) fn log_prob_map(head: Head, out: Tensor<4>, targets: Tensor<4, Int>) -> Tensor<4> {
    match head {
        Head::Categorical => categorical_log_prob(out, targets),
        Head::LogisticMixture(k) => {
            let x = targets.float().mul_scalar(2.0 / 255.0).sub_scalar(1.0);
            if x.dims()[1] == 1 {
                mixture_gray_log_prob(out, x, k)
            } else {
                mixture_rgb_log_prob(out, x, k)
            }
        }
    }
}

fn categorical_log_prob(out: Tensor<4>, targets: Tensor<4, Int>) -> Tensor<4> {
    let [b, c, h, w] = targets.dims();
    let logits: Tensor<5> = out.reshape([b, c, 256, h, w]);
    let index = targets.reshape([b, c, 1, h, w]);
    log_softmax(logits, 2)
        .gather(2, index)
        .reshape([b, c, h, w])
}

/// `log(1 + eᵃ)` without overflow: `max(a, 0) + log(1 + e^(−|a|))`.
fn softplus<const D: usize>(a: Tensor<D>) -> Tensor<D> {
    relu(a.clone()) + a.abs().neg().exp().log1p()
}

/// Log of the mass of bin `x` under a logistic with mean `mean` and log-scale `log_scale`.
///
/// # Shapes
/// - all inputs and the output share one shape (size-1 dimensions broadcast)
pub(crate) fn discretized_logistic_log_prob(
    x: Tensor<4>,
    mean: Tensor<4>,
    log_scale: Tensor<4>,
) -> Tensor<4> {
    let log_scale = log_scale.clamp_min(MIN_LOG_SCALE);
    let centred = x.clone() - mean;
    let inv_scale = log_scale.clone().neg().exp();
    let plus_in = inv_scale.clone() * centred.clone().add_scalar(HALF_BIN);
    let min_in = inv_scale.clone() * centred.clone().sub_scalar(HALF_BIN);
    let mid_in = inv_scale * centred;

    let log_cdf_plus = plus_in.clone() - softplus(plus_in.clone());
    let log_one_minus_cdf_min = softplus(min_in.clone()).neg();
    let mass =
        burn::tensor::activation::sigmoid(plus_in) - burn::tensor::activation::sigmoid(min_in);
    let log_pdf_mid = mid_in.clone() - log_scale - softplus(mid_in).mul_scalar(2.0);

    let log_mass = mass.clone().clamp_min(1e-12).log();
    let fallback = log_pdf_mid.sub_scalar(127.5f32.ln());
    let inner = fallback.mask_where(mass.greater_elem(TINY_MASS), log_mass);
    let upper = inner.mask_where(x.clone().greater_elem(0.999), log_one_minus_cdf_min);
    upper.mask_where(x.lower_elem(-0.999), log_cdf_plus)
}

/// `log Σₖ exp(aₖ)` over dimension 1, keeping it.
fn log_sum_exp(a: Tensor<4>) -> Tensor<4> {
    let m = a.clone().max_dim(1).detach();
    (a - m.clone()).exp().sum_dim(1).log() + m
}

fn mixture_gray_log_prob(out: Tensor<4>, x: Tensor<4>, k: usize) -> Tensor<4> {
    let log_weights = log_softmax(out.clone().narrow(1, 0, k), 1);
    let mean = out.clone().narrow(1, k, k);
    let log_scale = out.narrow(1, 2 * k, k);
    log_sum_exp(log_weights + discretized_logistic_log_prob(x, mean, log_scale))
}

fn mixture_rgb_log_prob(out: Tensor<4>, x: Tensor<4>, k: usize) -> Tensor<4> {
    let part = |i: usize| out.clone().narrow(1, i * k, k);
    let r = x.clone().narrow(1, 0, 1);
    let g = x.clone().narrow(1, 1, 1);
    let b = x.narrow(1, 2, 1);

    let log_weights = log_softmax(part(0), 1);
    let mean_g = part(3) + part(5).tanh() * r.clone();
    let mean_b = part(6) + part(8).tanh() * r.clone() + part(9).tanh() * g.clone();
    let lp_r = discretized_logistic_log_prob(r, part(1), part(2));
    let lp_g = discretized_logistic_log_prob(g, mean_g, part(4));
    let lp_b = discretized_logistic_log_prob(b, mean_b, part(7));

    let joint_r = log_weights + lp_r;
    let joint_g = joint_r.clone() + lp_g;
    let joint_b = joint_g.clone() + lp_b;
    let c1 = log_sum_exp(joint_r);
    let c2 = log_sum_exp(joint_g);
    let c3 = log_sum_exp(joint_b);
    Tensor::cat(vec![c1.clone(), c2.clone() - c1, c3 - c2], 1)
}

/// Draws sub-pixel `c` of one pixel from the head's outputs at that pixel.
///
/// `params` holds all `head.output_channels(channels)` outputs at the pixel, `prev` the
/// values already drawn for channels `0..c`, and `component` the mixture component, drawn at
/// `c = 0` and reused for the later channels of the pixel. The temperature `t` divides the
/// logits (categorical, mixture weights) and multiplies the logistic scales.
pub(crate) fn sample_subpixel(
    head: Head,
    params: &[f32],
    c: usize,
    prev: &[u8],
    component: &mut usize,
    temperature: f32,
    rng: &mut Xoshiro256PlusPlus,
) -> u8 {
    match head {
        Head::Categorical => sample_logits(&params[c * 256..(c + 1) * 256], temperature, rng) as u8,
        Head::LogisticMixture(k) => {
            if c == 0 {
                *component = sample_logits(&params[..k], temperature, rng);
            }
            sample_logistic_channel(params, k, *component, c, prev, temperature, rng)
        }
    }
}

/// An index drawn with probabilities `softmax(logits / t)`.
fn sample_logits(logits: &[f32], temperature: f32, rng: &mut Xoshiro256PlusPlus) -> usize {
    let t = temperature.max(1e-6);
    let max = logits.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
    let weights: Vec<f64> = logits
        .iter()
        .map(|&v| f64::from((v - max) / t).exp())
        .collect();
    let total: f64 = weights.iter().sum();
    let mut u = rng.random::<f64>() * total;
    for (i, w) in weights.iter().enumerate() {
        if u < *w {
            return i;
        }
        u -= w;
    }
    weights.len() - 1
}

fn sample_logistic_channel(
    params: &[f32],
    k: usize,
    comp: usize,
    c: usize,
    prev: &[u8],
    temperature: f32,
    rng: &mut Xoshiro256PlusPlus,
) -> u8 {
    let at = |i: usize| params[i * k + comp];
    let scaled = |v: u8| f32::from(v) * 2.0 / 255.0 - 1.0;
    let (mean, log_scale) = match (c, params.len() == 3 * k) {
        (_, true) => (at(1), at(2)),
        (0, false) => (at(1), at(2)),
        (1, false) => (at(3) + at(5).tanh() * scaled(prev[0]), at(4)),
        _ => (
            at(6) + at(8).tanh() * scaled(prev[0]) + at(9).tanh() * scaled(prev[1]),
            at(7),
        ),
    };
    let scale = log_scale.max(MIN_LOG_SCALE).exp() * temperature;
    let u: f32 = rng.random_range(1e-5f32..1.0 - 1e-5);
    let x = (mean + scale * (u.ln() - (1.0 - u).ln())).clamp(-1.0, 1.0);
    ((x + 1.0) * 127.5).round() as u8
}
