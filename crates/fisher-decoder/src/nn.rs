//! Small layers whose initial weights come from an explicit seed.
//!
//! Burn's own layers draw their initial weights from the device's global generator, which
//! tests running side by side share. These layers draw them on the host from a
//! [`SeedStream`], so the same seed gives the same network on every backend and in every
//! thread. Weights start uniform in `[−b, b]` with `b = gain · √(3 / fan_in)` (variance
//! `gain² / fan_in`, He-style with `gain = √2` before a ReLU); biases start at zero.

use burn::module::{Module, Param};
use burn::tensor::module::{conv2d, linear};
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Device, Tensor, TensorData};
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};

/// A portable random stream for initial weights and noise: Xoshiro256++, whose output is
/// fixed by its seed across platforms and rand versions.
pub(crate) struct SeedStream(Xoshiro256PlusPlus);

impl SeedStream {
    /// A stream started from `seed`.
    pub(crate) fn new(seed: u64) -> Self {
        Self(Xoshiro256PlusPlus::seed_from_u64(seed))
    }

    /// `n` values uniform in `[−bound, bound]`.
    pub(crate) fn uniform(&mut self, n: usize, bound: f32) -> Vec<f32> {
        (0..n)
            .map(|_| (self.0.random::<f32>() * 2.0 - 1.0) * bound)
            .collect()
    }

    /// `n` values uniform in `[0, 1)`.
    pub(crate) fn unit(&mut self, n: usize) -> Vec<f32> {
        (0..n).map(|_| self.0.random::<f32>()).collect()
    }

    /// A whole number uniform in `0..n`, `n ≥ 1`.
    pub(crate) fn below(&mut self, n: usize) -> usize {
        self.0.random_range(0..n)
    }

    /// `n` standard normal values (Box–Muller in f64).
    pub(crate) fn normal(&mut self, n: usize) -> Vec<f32> {
        let mut out = Vec::with_capacity(n + 1);
        while out.len() < n {
            let u1: f64 = 1.0 - self.0.random::<f64>();
            let u2: f64 = self.0.random::<f64>();
            let r = (-2.0 * u1.ln()).sqrt();
            let angle = std::f64::consts::TAU * u2;
            out.push((r * angle.cos()) as f32);
            out.push((r * angle.sin()) as f32);
        }
        out.truncate(n);
        out
    }
}

/// How a layer's weights start.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Init {
    /// Uniform with variance `gain² / fan_in`.
    Scaled(f32),
    /// Uniform in `[−std·√3, std·√3]`, whatever the fan-in; `0` gives all zeros.
    Fixed(f32),
}

impl Init {
    /// He initialisation for a layer followed by a ReLU.
    pub(crate) fn relu() -> Self {
        Self::Scaled(std::f32::consts::SQRT_2)
    }

    fn bound(self, fan_in: usize) -> f32 {
        match self {
            Self::Scaled(gain) => gain * (3.0 / fan_in as f32).sqrt(),
            Self::Fixed(std) => std * 3f32.sqrt(),
        }
    }
}

/// A float parameter holding `values` with `shape`.
pub(crate) fn param<const D: usize>(
    values: Vec<f32>,
    shape: [usize; D],
    device: &Device,
) -> Param<Tensor<D>> {
    Param::from_tensor(Tensor::from_data(TensorData::new(values, shape), device))
}

/// A fully connected layer `y = x·W + b`.
#[derive(Module, Debug)]
pub(crate) struct Dense {
    /// `[d_in, d_out]`.
    weight: Param<Tensor<2>>,
    /// `[d_out]`.
    bias: Param<Tensor<1>>,
}

impl Dense {
    /// A layer from `d_in` to `d_out` features.
    pub(crate) fn new(
        d_in: usize,
        d_out: usize,
        init: Init,
        rng: &mut SeedStream,
        device: &Device,
    ) -> Self {
        let weight = rng.uniform(d_in * d_out, init.bound(d_in));
        Self {
            weight: param(weight, [d_in, d_out], device),
            bias: param(vec![0.0; d_out], [d_out], device),
        }
    }

    /// # Shapes
    /// - `x`: `[batch, d_in]`; output `[batch, d_out]`
    pub(crate) fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        linear(x, self.weight.val(), Some(self.bias.val()))
    }
}

/// A 2-D convolution with an odd square kernel, stride 1 and "same" zero padding.
#[derive(Module, Debug)]
pub(crate) struct Conv {
    /// `[c_out, c_in, kernel, kernel]`.
    weight: Param<Tensor<4>>,
    /// `[c_out]`.
    bias: Param<Tensor<1>>,
    /// Zero padding on each side, `kernel / 2`.
    padding: usize,
}

impl Conv {
    /// A `kernel × kernel` convolution from `c_in` to `c_out` channels.
    pub(crate) fn new(
        c_in: usize,
        c_out: usize,
        kernel: usize,
        init: Init,
        rng: &mut SeedStream,
        device: &Device,
    ) -> Self {
        let fan_in = c_in * kernel * kernel;
        let weight = rng.uniform(c_out * fan_in, init.bound(fan_in));
        Self {
            weight: param(weight, [c_out, c_in, kernel, kernel], device),
            bias: param(vec![0.0; c_out], [c_out], device),
            padding: kernel / 2,
        }
    }

    /// # Shapes
    /// - `x`: `[batch, c_in, h, w]`; output `[batch, c_out, h, w]`
    pub(crate) fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let p = self.padding;
        let options = ConvOptions::new([1, 1], [p, p], [1, 1], 1);
        conv2d(x, self.weight.val(), Some(self.bias.val()), options)
    }
}

/// A fixed per-coordinate standardisation of the embeddings, `z′ = (z − μ) ⊙ s`, fitted on
/// the training embeddings before the first step (`s = 1/σ`, or 1 where `σ` is 0) and not
/// trained after: raw Fisher-score embeddings have coordinates of very different scales
/// (standard deviations in the tens and hundreds), which the first layer could not absorb.
#[derive(Module, Debug)]
pub(crate) struct Standardise {
    /// `μ`, `[k]`.
    shift: Param<Tensor<1>>,
    /// `s`, `[k]`.
    scale: Param<Tensor<1>>,
}

impl Standardise {
    /// The identity on `k` coordinates.
    pub(crate) fn identity(k: usize, device: &Device) -> Self {
        Self {
            shift: param(vec![0.0; k], [k], device),
            scale: param(vec![1.0; k], [k], device),
        }
    }

    /// Fitted on `z`, rows of `k` (at least one row), in f64.
    pub(crate) fn fitted(z: &[f32], k: usize, device: &Device) -> Self {
        let n = (z.len() / k).max(1);
        let mut mean = vec![0.0f64; k];
        let mut square = vec![0.0f64; k];
        for row in z.chunks(k) {
            for (j, &v) in row.iter().enumerate() {
                mean[j] += f64::from(v) / n as f64;
                square[j] += f64::from(v).powi(2) / n as f64;
            }
        }
        let scale = mean
            .iter()
            .zip(&square)
            .map(|(m, q)| {
                let std = (q - m * m).max(0.0).sqrt();
                if std > 1e-12 { (1.0 / std) as f32 } else { 1.0 }
            })
            .collect();
        Self {
            shift: param(mean.iter().map(|&m| m as f32).collect(), [k], device),
            scale: param(scale, [k], device),
        }
    }

    /// # Shapes
    /// - `z`: `[batch, k]`; output the same
    pub(crate) fn forward(&self, z: Tensor<2>) -> Tensor<2> {
        let [_, k] = z.dims();
        let shift = self.shift.val().detach().reshape([1, k]);
        let scale = self.scale.val().detach().reshape([1, k]);
        (z - shift) * scale
    }
}

/// Nearest-neighbour upsampling by 2 in height and width.
///
/// # Shapes
/// - `x`: `[batch, c, h, w]`; output `[batch, c, 2h, 2w]`
pub(crate) fn upsample2(x: Tensor<4>) -> Tensor<4> {
    let [b, c, h, w] = x.dims();
    x.reshape([b, c, h, 1, w, 1])
        .expand([b, c, h, 2, w, 2])
        .reshape([b, c, 2 * h, 2 * w])
}

/// Reads a float tensor back to the host.
pub(crate) fn to_vec<const D: usize>(x: Tensor<D>) -> Vec<f32> {
    x.into_data()
        .try_into_vec_as::<f32>()
        .expect("a float tensor reads back as f32")
}
