//! Per-example weight gradients of one layer from its input and its output gradient.
//!
//! A layer computes `y = W ⋆ x + b`. With `g = ∂ℓ/∂y` the gradient of an example's
//! log-likelihood with respect to the layer's output (read from a zero probe added to `y`),
//! the example's gradients with respect to the layer's parameters are
//!
//! ```text
//! convolution:  ∂ℓ/∂W[o, c, i, j] = Σ_l g[o, l] · X[c·kh·kw + i·kw + j, l],   ∂ℓ/∂b[o] = Σ_l g[o, l]
//! linear:       ∂ℓ/∂W[o, c]       = g[o] · x[c],                              ∂ℓ/∂b[o] = g[o]
//! ```
//!
//! where `X` is the unfolded (im2col) input, one column per output position `l`. For a whole
//! batch both are one batched matrix product, `[batch, out, L] × [batch, L, in·kh·kw]`: the
//! same arithmetic as the weight gradient of an ordinary backward pass, without the sum over
//! the batch (Goodfellow 2015, "Efficient per-example gradient computations", arXiv:1510.01799;
//! Rochette et al. 2019, arXiv:1912.06015, for convolutions).
//!
//! Weights that a mask fixes at zero are constants of the model, not parameters: their
//! entries are dropped, so a layer contributes `free weights + biases` coordinates.

use burn::tensor::module::unfold4d;
use burn::tensor::ops::{PadMode, UnfoldOptions};
use burn::tensor::{Device, Int, Tensor, TensorData};

use crate::{Error, Result};

/// How a linear layer stores its weight matrix, which fixes the order of its coordinates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinearLayout {
    /// `[in, out]`, row-major (Burn's `nn::Linear`): coordinate `c·out + o`.
    InOut,
    /// `[out, in]`, row-major (PyTorch's convention): coordinate `o·in + c`.
    OutIn,
}

/// What a parameterised layer was applied to, recorded during a probed forward pass.
#[derive(Clone, Debug)]
pub enum LayerInput {
    /// A 2-d convolution with stride 1 and one group: weight `[out, in, kh, kw]`.
    Conv {
        /// The input before padding.
        ///
        /// # Shapes
        /// `[batch, in, height, width]`
        input: Tensor<4>,
        /// Kernel size `[kh, kw]`.
        kernel: [usize; 2],
        /// Zero padding `[(top, bottom), (left, right)]`.
        padding: [(usize, usize); 2],
        /// Dilation `[dh, dw]`, at least 1.
        dilation: [usize; 2],
    },
    /// A linear map of one vector per example.
    Linear {
        /// The input.
        ///
        /// # Shapes
        /// `[batch, in]`
        input: Tensor<2>,
        /// How the weight is stored.
        layout: LinearLayout,
    },
}

/// The zero tensor added to a layer's output; its gradient is each example's output gradient.
#[derive(Clone, Debug)]
pub enum Probe {
    /// Probe of a convolution, `[batch, out, out_height, out_width]`.
    Spatial(Tensor<4>),
    /// Probe of a linear layer, `[batch, out]`.
    Flat(Tensor<2>),
}

/// One parameterised layer as seen by a probed forward pass.
///
/// The layer's coordinates in the flat parameter vector are its free weights in row-major
/// order of the stored weight, then its biases (if any).
#[derive(Clone, Debug)]
pub struct ProbedLayer {
    /// A name for messages, e.g. `"layers.3.vertical"`.
    pub name: String,
    /// The layer's input and geometry.
    pub input: LayerInput,
    /// The probe added to the layer's output (on an autodiff device, marked `require_grad`).
    pub probe: Probe,
    /// Which weight entries are parameters (`true`) and which a mask fixes at zero
    /// (`false`), in row-major order of the stored weight; `None` when all are free.
    pub mask: Option<Vec<bool>>,
    /// Whether the layer has a bias vector of length `out`.
    pub has_bias: bool,
}

/// The per-example gradients of one layer.
#[derive(Clone, Debug)]
pub struct LayerScores {
    /// Free weight coordinates, `[batch, free weights]`.
    pub weight: Tensor<2>,
    /// Bias coordinates, `[batch, out]`, when the layer has a bias.
    pub bias: Option<Tensor<2>>,
}

impl LayerScores {
    /// Number of coordinates per example, weights then biases.
    pub fn width(&self) -> usize {
        self.weight.dims()[1] + self.bias.as_ref().map_or(0, |b| b.dims()[1])
    }
}

impl ProbedLayer {
    /// The weight's shape: `[out, in, kh, kw]`, `[in, out]` or `[out, in]`.
    pub fn weight_shape(&self) -> Vec<usize> {
        let out = self.out_features();
        match &self.input {
            LayerInput::Conv { input, kernel, .. } => {
                vec![out, input.dims()[1], kernel[0], kernel[1]]
            }
            LayerInput::Linear { input, layout } => match layout {
                LinearLayout::InOut => vec![input.dims()[1], out],
                LinearLayout::OutIn => vec![out, input.dims()[1]],
            },
        }
    }

    /// Number of output channels or features.
    pub fn out_features(&self) -> usize {
        match &self.probe {
            Probe::Spatial(p) => p.dims()[1],
            Probe::Flat(p) => p.dims()[1],
        }
    }

    /// Number of parameters: free weights plus biases.
    pub fn num_free_parameters(&self) -> usize {
        let weights = match &self.mask {
            Some(mask) => mask.iter().filter(|&&m| m).count(),
            None => self.weight_shape().iter().product(),
        };
        weights
            + if self.has_bias {
                self.out_features()
            } else {
                0
            }
    }

    /// Each example's gradient with respect to this layer's parameters.
    ///
    /// `position` is the layer's index, used in error messages only.
    ///
    /// # Shapes
    /// - `probe_grad`: the probe's gradient, the shape of [`probe`](Self::probe)
    /// - output: `weight` `[batch, free weights]`, `bias` `[batch, out]`
    ///
    /// # Errors
    /// When the probe gradient, the input and the geometry disagree, or the mask has another
    /// length than the weight.
    pub fn per_example(&self, position: usize, probe_grad: &Probe) -> Result<LayerScores> {
        self.check_mask(position)?;
        let (weight, bias) = match (&self.input, probe_grad) {
            (
                LayerInput::Conv {
                    input,
                    kernel,
                    padding,
                    dilation,
                },
                Probe::Spatial(g),
            ) => {
                let columns = unfold(position, &self.name, input, *kernel, *padding, *dilation)?;
                self.conv_scores(position, columns, g)?
            }
            (LayerInput::Linear { input, layout }, Probe::Flat(g)) => {
                self.linear_scores(position, input, *layout, g)?
            }
            _ => {
                return Err(Error::layer(
                    position,
                    &self.name,
                    "probe gradient kind does not match the layer kind",
                ));
            }
        };

        let weight = match &self.mask {
            Some(mask) => {
                let device = weight.device();
                weight.select(1, free_indices(mask, &device))
            }
            None => weight,
        };
        Ok(LayerScores { weight, bias })
    }

    fn check_mask(&self, position: usize) -> Result<()> {
        let len: usize = self.weight_shape().iter().product();
        match &self.mask {
            Some(mask) if mask.len() != len => Err(Error::layer(
                position,
                &self.name,
                format!(
                    "mask has {} entries, weight {:?} has {len}",
                    mask.len(),
                    self.weight_shape()
                ),
            )),
            _ => Ok(()),
        }
    }

    fn conv_scores(
        &self,
        position: usize,
        columns: Tensor<3>,
        g: &Tensor<4>,
    ) -> Result<(Tensor<2>, Option<Tensor<2>>)> {
        let [batch, out, gh, gw] = g.dims();
        let [cb, rows, len] = columns.dims();
        if cb != batch || len != gh * gw {
            return Err(Error::layer(
                position,
                &self.name,
                format!(
                    "the unfolded input has {cb} examples and {len} positions (stride 1), \
                     but the output gradient is {:?}",
                    g.dims()
                ),
            ));
        }

        let g = g.clone().reshape([batch, out, len]);
        let weight = g
            .clone()
            .matmul(columns.swap_dims(1, 2))
            .reshape([batch, out * rows]);
        let bias = self.has_bias.then(|| g.sum_dim(2).reshape([batch, out]));
        Ok((weight, bias))
    }

    fn linear_scores(
        &self,
        position: usize,
        x: &Tensor<2>,
        layout: LinearLayout,
        g: &Tensor<2>,
    ) -> Result<(Tensor<2>, Option<Tensor<2>>)> {
        let [batch, features] = x.dims();
        let [gb, out] = g.dims();
        if gb != batch {
            return Err(Error::layer(
                position,
                &self.name,
                format!(
                    "input {:?} and output gradient {:?} differ in batch",
                    x.dims(),
                    g.dims()
                ),
            ));
        }

        let x = x.clone().inner();
        let weight = match layout {
            LinearLayout::InOut => x.unsqueeze_dim::<3>(2) * g.clone().unsqueeze_dim::<3>(1),
            LinearLayout::OutIn => g.clone().unsqueeze_dim::<3>(2) * x.unsqueeze_dim::<3>(1),
        };
        let weight = weight.reshape([batch, features * out]);
        Ok((weight, self.has_bias.then(|| g.clone())))
    }
}

/// The unfolded (im2col) input of a stride-1 convolution.
///
/// # Shapes
/// - `input`: `[batch, in, height, width]`
/// - output: `[batch, in·kh·kw, out_height·out_width]`, rows ordered `(c, i, j)` row-major
fn unfold(
    position: usize,
    name: &str,
    input: &Tensor<4>,
    kernel: [usize; 2],
    padding: [(usize, usize); 2],
    dilation: [usize; 2],
) -> Result<Tensor<3>> {
    let x = input.clone().inner();
    let [batch, channels, height, width] = x.dims();
    if kernel.contains(&0) || dilation.contains(&0) {
        return Err(Error::layer(
            position,
            name,
            format!("kernel {kernel:?} and dilation {dilation:?} must be at least 1"),
        ));
    }
    let padded = [
        height + padding[0].0 + padding[0].1,
        width + padding[1].0 + padding[1].1,
    ];
    let span = [
        dilation[0] * (kernel[0] - 1) + 1,
        dilation[1] * (kernel[1] - 1) + 1,
    ];
    if span[0] > padded[0] || span[1] > padded[1] {
        return Err(Error::layer(
            position,
            name,
            format!("kernel span {span:?} exceeds the padded input {padded:?}"),
        ));
    }
    let out = [padded[0] - span[0] + 1, padded[1] - span[1] + 1];

    if kernel == [1, 1] && padded == [height, width] {
        return Ok(x.reshape([batch, channels, height * width]));
    }
    let x = if padded == [height, width] {
        x
    } else {
        x.pad(padding, PadMode::Constant(0.0))
    };
    if dilation == [1, 1] {
        return Ok(unfold4d(
            x,
            kernel,
            UnfoldOptions::new([1, 1], [0, 0], [1, 1]),
        ));
    }

    let mut taps = Vec::with_capacity(kernel[0] * kernel[1]);
    for i in 0..kernel[0] {
        for j in 0..kernel[1] {
            let (top, left) = (i * dilation[0], j * dilation[1]);
            let tap = x.clone().slice([
                0..batch,
                0..channels,
                top..top + out[0],
                left..left + out[1],
            ]);
            taps.push(tap.reshape([batch, channels, 1, out[0] * out[1]]));
        }
    }
    Ok(Tensor::cat(taps, 2).reshape([batch, channels * kernel[0] * kernel[1], out[0] * out[1]]))
}

/// The positions of the `true` entries of `mask`, as an index tensor.
fn free_indices(mask: &[bool], device: &Device) -> Tensor<1, Int> {
    let indices: Vec<i64> = mask
        .iter()
        .enumerate()
        .filter_map(|(i, &free)| free.then_some(i as i64))
        .collect();
    let len = indices.len();
    Tensor::from_data(TensorData::new(indices, [len]), device)
}
