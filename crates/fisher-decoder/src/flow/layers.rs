//! The invertible pieces of the flow: actnorm, invertible 1×1 convolution, conditional affine
//! coupling, and squeezing. Each maps `x ↦ y` with a log-determinant `log |det ∂y/∂x|` per
//! example, and has an exact inverse.

use burn::module::{Module, Param, ParamId};
use burn::tensor::activation::{log_sigmoid, relu, sigmoid};
use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Device, Int, Tensor, TensorData};

use crate::nn::{Conv, Dense, Init, SeedStream, param, to_vec};

/// Per-channel affine map with data-dependent initialisation (Kingma & Dhariwal 2018, Glow):
/// `y = (x + b) ⊙ e^{ℓ}`, `log |det| = h·w·Σ_c ℓ_c`.
#[derive(Module, Debug)]
pub(crate) struct ActNorm {
    /// `b`, `[c]`.
    bias: Param<Tensor<1>>,
    /// `ℓ`, `[c]`.
    log_scale: Param<Tensor<1>>,
}

impl ActNorm {
    pub(crate) fn new(channels: usize, device: &Device) -> Self {
        Self {
            bias: param(vec![0.0; channels], [channels], device),
            log_scale: param(vec![0.0; channels], [channels], device),
        }
    }

    /// Sets `b` and `ℓ` so that `y` has zero mean and unit variance per channel on `x`.
    ///
    /// # Shapes
    /// - `x`: `[batch, c, h, w]`
    pub(crate) fn initialised_on(self, x: Tensor<4>) -> Self {
        let [b, c, h, w] = x.dims();
        let device = self.bias.val().device();
        let flat = x.inner().swap_dims(0, 1).reshape([c, b * h * w]);
        let (var, mean) = flat.var_mean_bias(1);
        let mean = to_vec(mean);
        let log_scale = to_vec(var)
            .iter()
            .map(|v| -(v.sqrt() + 1e-6).ln())
            .collect();
        Self {
            bias: param(mean.iter().map(|m| -m).collect(), [c], &device),
            log_scale: param(log_scale, [c], &device),
        }
    }

    /// # Shapes
    /// - `x`: `[batch, c, h, w]`; `y` the same; log-det `[batch]`
    pub(crate) fn forward(&self, x: Tensor<4>) -> (Tensor<4>, Tensor<1>) {
        let [b, c, h, w] = x.dims();
        let bias = self.bias.val().reshape([1, c, 1, 1]);
        let log_scale = self.log_scale.val();
        let y = (x + bias) * log_scale.clone().exp().reshape([1, c, 1, 1]);
        let logdet = log_scale.sum().mul_scalar((h * w) as f64).expand([b]);
        (y, logdet)
    }

    /// # Shapes
    /// - `y`: `[batch, c, h, w]`; output the same
    pub(crate) fn inverse(&self, y: Tensor<4>) -> Tensor<4> {
        let [_, c, _, _] = y.dims();
        let bias = self.bias.val().reshape([1, c, 1, 1]);
        let inv_scale = self.log_scale.val().neg().exp().reshape([1, c, 1, 1]);
        y * inv_scale - bias
    }
}

/// Invertible 1×1 convolution `y = W·x` at every pixel, with `W` kept in LU form (Glow):
///
/// ```text
/// W = P · L · (U + diag(σ ⊙ e^{s}))        log |det W| = Σ s
/// ```
///
/// `P` a fixed row permutation, `L` unit lower triangular, `U` strictly upper triangular, `σ`
/// fixed signs. The log-determinant is then exact and cheap, with no determinant or inverse
/// in the training graph; `W⁻¹` is only needed to decode, and is computed on the host in f64.
/// `W` starts as a random rotation drawn from the seed.
#[derive(Module, Debug)]
pub(crate) struct InvConv {
    /// Entries below the diagonal are `L`'s; the rest is ignored.
    lower: Param<Tensor<2>>,
    /// Entries above the diagonal are `U`'s; the rest is ignored.
    upper: Param<Tensor<2>>,
    /// `s`, `[c]`.
    log_diag: Param<Tensor<1>>,
    /// `σ ∈ {−1, 1}`, `[c]`, fixed.
    signs: Param<Tensor<1, Int>>,
    /// Row `j` of `W` is row `rows[j]` of `L·(U + diag)`, fixed.
    rows: Param<Tensor<1, Int>>,
}

impl InvConv {
    pub(crate) fn new(channels: usize, rng: &mut SeedStream, device: &Device) -> Self {
        let c = channels;
        let rotation = random_rotation(c, rng);
        let (lower, upper, rows) = lu_decompose(c, rotation);
        let diag: Vec<f64> = (0..c).map(|i| upper[i * c + i]).collect();
        let to_f32 = |v: &[f64]| v.iter().map(|&x| x as f32).collect::<Vec<_>>();
        let signs: Vec<i32> = diag.iter().map(|d| if *d < 0.0 { -1 } else { 1 }).collect();
        let log_diag: Vec<f64> = diag.iter().map(|d| d.abs().ln()).collect();
        let rows: Vec<i32> = rows.iter().map(|&r| r as i32).collect();
        Self {
            lower: param(to_f32(&lower), [c, c], device),
            upper: param(to_f32(&upper), [c, c], device),
            log_diag: param(to_f32(&log_diag), [c], device),
            signs: int_param(signs, device),
            rows: int_param(rows, device),
        }
    }

    /// `W`, `[c, c]`.
    fn weight(&self) -> Tensor<2> {
        let [c, _] = self.lower.val().dims();
        let (device, dtype) = (self.lower.val().device(), self.lower.val().dtype());
        let eye = Tensor::<2>::eye(c, &device).cast(dtype);
        let lower = self.lower.val().tril(-1) + eye.clone();
        let diag = self.signs.val().float().cast(dtype) * self.log_diag.val().exp();
        let upper = self.upper.val().triu(1) + eye * diag.reshape([1, c]);
        lower.matmul(upper).select(0, self.rows.val())
    }

    /// # Shapes
    /// - `x`: `[batch, c, h, w]`; `y` the same; log-det `[batch]`
    pub(crate) fn forward(&self, x: Tensor<4>) -> (Tensor<4>, Tensor<1>) {
        let [b, c, h, w] = x.dims();
        let weight = self.weight().reshape([c, c, 1, 1]);
        let y = conv2d(x, weight, None, ConvOptions::new([1, 1], [0, 0], [1, 1], 1));
        let logdet = self
            .log_diag
            .val()
            .sum()
            .mul_scalar((h * w) as f64)
            .expand([b]);
        (y, logdet)
    }

    /// `x = W⁻¹·y`, with `W⁻¹` computed on the host in f64.
    ///
    /// # Shapes
    /// - `y`: `[batch, c, h, w]`; output the same
    pub(crate) fn inverse(&self, y: Tensor<4>) -> Tensor<4> {
        let [_, c, _, _] = y.dims();
        let weight: Vec<f64> = to_vec(self.weight())
            .iter()
            .map(|&v| f64::from(v))
            .collect();
        let inverse = invert(c, weight);
        let inverse: Vec<f32> = inverse.iter().map(|&v| v as f32).collect();
        let inverse = Tensor::<4>::from_data(TensorData::new(inverse, [c, c, 1, 1]), &y.device())
            .cast(y.dtype());
        conv2d(
            y,
            inverse,
            None,
            ConvOptions::new([1, 1], [0, 0], [1, 1], 1),
        )
    }
}

fn int_param(values: Vec<i32>, device: &Device) -> Param<Tensor<1, Int>> {
    let n = values.len();
    Param::initialized(
        ParamId::new(),
        Tensor::from_data(TensorData::new(values, [n]), device),
    )
}

/// A random `c × c` rotation: Gram–Schmidt on a Gaussian matrix, row-major, f64.
fn random_rotation(c: usize, rng: &mut SeedStream) -> Vec<f64> {
    let mut m: Vec<f64> = rng.normal(c * c).iter().map(|&v| f64::from(v)).collect();
    for i in 0..c {
        for j in 0..i {
            let dot: f64 = (0..c).map(|t| m[i * c + t] * m[j * c + t]).sum();
            for t in 0..c {
                m[i * c + t] -= dot * m[j * c + t];
            }
        }
        let norm = (0..c).map(|t| m[i * c + t].powi(2)).sum::<f64>().sqrt();
        for t in 0..c {
            m[i * c + t] /= norm;
        }
    }
    m
}

/// LU with partial pivoting of a row-major `c × c` matrix `A`: returns `L` (unit lower,
/// diagonal not stored), `U` (upper, with diagonal) and `rows` with `A[j] = (L·U)[rows[j]]`.
fn lu_decompose(c: usize, mut a: Vec<f64>) -> (Vec<f64>, Vec<f64>, Vec<usize>) {
    let mut order: Vec<usize> = (0..c).collect();
    for k in 0..c {
        let pivot = (k..c)
            .max_by(|&i, &j| a[i * c + k].abs().total_cmp(&a[j * c + k].abs()))
            .unwrap_or(k);
        if pivot != k {
            for t in 0..c {
                a.swap(k * c + t, pivot * c + t);
            }
            order.swap(k, pivot);
        }
        for i in k + 1..c {
            let factor = a[i * c + k] / a[k * c + k];
            a[i * c + k] = factor;
            for t in k + 1..c {
                a[i * c + t] -= factor * a[k * c + t];
            }
        }
    }

    let mut lower = vec![0.0; c * c];
    let mut upper = vec![0.0; c * c];
    for i in 0..c {
        for j in 0..c {
            if j < i {
                lower[i * c + j] = a[i * c + j];
            } else {
                upper[i * c + j] = a[i * c + j];
            }
        }
    }
    let mut rows = vec![0; c];
    for (k, &original) in order.iter().enumerate() {
        rows[original] = k;
    }
    (lower, upper, rows)
}

/// Inverse of a row-major `c × c` matrix by Gauss–Jordan elimination with partial pivoting.
/// `W` is invertible by construction (its LU diagonal is `σ ⊙ e^{s}`, never zero).
fn invert(c: usize, mut a: Vec<f64>) -> Vec<f64> {
    let mut inv = vec![0.0; c * c];
    for i in 0..c {
        inv[i * c + i] = 1.0;
    }
    for k in 0..c {
        let pivot = (k..c)
            .max_by(|&i, &j| a[i * c + k].abs().total_cmp(&a[j * c + k].abs()))
            .unwrap_or(k);
        for t in 0..c {
            a.swap(k * c + t, pivot * c + t);
            inv.swap(k * c + t, pivot * c + t);
        }
        let p = a[k * c + k];
        for t in 0..c {
            a[k * c + t] /= p;
            inv[k * c + t] /= p;
        }
        for i in (0..c).filter(|&i| i != k) {
            let factor = a[i * c + k];
            for t in 0..c {
                a[i * c + t] -= factor * a[k * c + t];
                inv[i * c + t] -= factor * inv[k * c + t];
            }
        }
    }
    inv
}

/// Conditional affine coupling (Dinh et al. 2017, RealNVP; Glow's bounded scale). With `x`
/// split into halves `x_a, x_b` along channels and `e` the embedding's features,
///
/// ```text
/// (t, r) = NN(x_a, e)      s = sigmoid(r + 2) ∈ (0, 1)
/// y_a = x_a                y_b = (x_b + t) ⊙ s          log |det| = Σ log s
/// ```
///
/// The sigmoid bounds every scale, so no step can blow a value up; the `+ 2` starts it near
/// 0.88, close to the identity. `NN` is conv 3×3 → ReLU → conv 1×1 → ReLU → conv 3×3, with
/// `e` projected and added to the first layer's output at every pixel.
#[derive(Module, Debug)]
pub(crate) struct Coupling {
    input: Conv,
    condition: Dense,
    middle: Conv,
    out: Conv,
    /// Channels in `x_a`.
    kept: usize,
}

impl Coupling {
    pub(crate) fn new(
        channels: usize,
        hidden: usize,
        cond_dim: usize,
        out_std: f32,
        rng: &mut SeedStream,
        device: &Device,
    ) -> Self {
        let kept = channels / 2;
        let changed = channels - kept;
        Self {
            input: Conv::new(kept, hidden, 3, Init::relu(), rng, device),
            condition: Dense::new(cond_dim, hidden, Init::relu(), rng, device),
            middle: Conv::new(hidden, hidden, 1, Init::relu(), rng, device),
            out: Conv::new(hidden, 2 * changed, 3, Init::Fixed(out_std), rng, device),
            kept,
        }
    }

    /// Shift `t` and raw scale `r`, each `[batch, c − kept, h, w]`.
    fn shift_scale(&self, kept: Tensor<4>, e: Tensor<2>) -> (Tensor<4>, Tensor<4>) {
        let [b, _, _, _] = kept.dims();
        let condition = self.condition.forward(e);
        let [_, hidden] = condition.dims();
        let h = relu(self.input.forward(kept) + condition.reshape([b, hidden, 1, 1]));
        let h = relu(self.middle.forward(h));
        let out = self.out.forward(h);
        let [_, two_changed, _, _] = out.dims();
        let changed = two_changed / 2;
        let shift = out.clone().narrow(1, 0, changed);
        let raw = out.narrow(1, changed, changed).add_scalar(2.0);
        (shift, raw)
    }

    /// # Shapes
    /// - `x`: `[batch, c, h, w]`, `e`: `[batch, cond_dim]`; `y` like `x`; log-det `[batch]`
    pub(crate) fn forward(&self, x: Tensor<4>, e: Tensor<2>) -> (Tensor<4>, Tensor<1>) {
        let [b, c, _, _] = x.dims();
        let kept = x.clone().narrow(1, 0, self.kept);
        let changed = x.narrow(1, self.kept, c - self.kept);
        let (shift, raw) = self.shift_scale(kept.clone(), e);

        let changed = (changed + shift) * sigmoid(raw.clone());
        let logdet = log_sigmoid(raw).flatten::<2>(1, 3).sum_dim(1).reshape([b]);
        (Tensor::cat(vec![kept, changed], 1), logdet)
    }

    /// # Shapes
    /// - `y`: `[batch, c, h, w]`, `e`: `[batch, cond_dim]`; output like `y`
    pub(crate) fn inverse(&self, y: Tensor<4>, e: Tensor<2>) -> Tensor<4> {
        let [_, c, _, _] = y.dims();
        let kept = y.clone().narrow(1, 0, self.kept);
        let changed = y.narrow(1, self.kept, c - self.kept);
        let (shift, raw) = self.shift_scale(kept.clone(), e);

        let changed = changed / sigmoid(raw) - shift;
        Tensor::cat(vec![kept, changed], 1)
    }
}

/// Space to depth: `[b, c, h, w] → [b, 4c, h/2, w/2]`; channel `4·k + 2·i + j` holds pixel
/// `(2·y + i, 2·x + j)` of channel `k`. Volume preserving (log-det 0).
pub(crate) fn squeeze(x: Tensor<4>) -> Tensor<4> {
    let [b, c, h, w] = x.dims();
    x.reshape([b, c, h / 2, 2, w / 2, 2])
        .permute([0, 1, 3, 5, 2, 4])
        .reshape([b, 4 * c, h / 2, w / 2])
}

/// The inverse of [`squeeze`]: `[b, 4c, h, w] → [b, c, 2h, 2w]`.
pub(crate) fn unsqueeze(x: Tensor<4>) -> Tensor<4> {
    let [b, c4, h, w] = x.dims();
    x.reshape([b, c4 / 4, 2, 2, h, w])
        .permute([0, 1, 4, 2, 5, 3])
        .reshape([b, c4 / 4, 2 * h, 2 * w])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lu_and_inverse_reconstruct_the_matrix() {
        let c = 5;
        let mut rng = SeedStream::new(3);
        let a: Vec<f64> = rng.normal(c * c).iter().map(|&v| f64::from(v)).collect();
        let (lower, upper, rows) = lu_decompose(c, a.clone());
        for j in 0..c {
            for t in 0..c {
                let r = rows[j];
                let lu: f64 = (0..c)
                    .map(|m| {
                        let l = if m == r { 1.0 } else { lower[r * c + m] };
                        l * upper[m * c + t]
                    })
                    .sum();
                assert!((lu - a[j * c + t]).abs() < 1e-12, "A[{j}][{t}]");
            }
        }

        let inv = invert(c, a.clone());
        for i in 0..c {
            for j in 0..c {
                let v: f64 = (0..c).map(|m| a[i * c + m] * inv[m * c + j]).sum();
                let expected = if i == j { 1.0 } else { 0.0 };
                assert!((v - expected).abs() < 1e-10, "(A·A⁻¹)[{i}][{j}] = {v}");
            }
        }
    }
}
