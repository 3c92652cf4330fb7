//! Per-example weight gradients of one layer from its input and its output gradient.
//!
//! A layer computes `y = W ⋆ x + b`. With `g = ∂ℓ/∂y` the gradient of an example's
//! log-likelihood with respect to the layer's output (read from a zero probe added to `y`),
//! the example's gradients with respect to the layer's parameters are
//!
//! ```text
//! convolution:  ∂ℓ/∂W[o, c, i, j] = Σ_(y,x) g[o, y, x] · x̃[c, y + i·dh, x + j·dw]
//!               ∂ℓ/∂b[o]          = Σ_(y,x) g[o, y, x]
//! linear:       ∂ℓ/∂W[o, c]       = g[o] · x[c]
//!               ∂ℓ/∂b[o]          = g[o]
//! ```
//!
//! where `x̃` is the zero-padded input. For a whole batch, each kernel tap `(i, j)` is one
//! batched matrix product `[batch, out, L] × [batch, L, in]` of the output gradient with the
//! input window the tap sees (`L` output positions): the same arithmetic as the weight gradient
//! of an ordinary backward pass, without the sum over the batch (Goodfellow 2015, "Efficient
//! per-example gradient computations", arXiv:1510.01799; Rochette et al. 2019,
//! arXiv:1912.06015, for convolutions). Tap by tap rather than through one unfolded (im2col)
//! input: the windows are plain copies, while Burn's unfold costs more than the products. On
//! the CPU (`flex`) device a convolution takes another route instead, one product per
//! example with the example's unfolded input built in place (see `host.rs`): the tap-by-tap
//! products there have as few columns as the layer has input channels and run well below the
//! processor's rate.
//!
//! Weights that a mask fixes at zero are constants of the model, not parameters: their
//! entries are dropped, so a layer contributes `free weights + biases` coordinates.

use burn::tensor::ops::PadMode;
use burn::tensor::{Device, Int, Tensor, TensorData};

use crate::{Error, Result, host};

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
        match (&self.input, probe_grad) {
            (
                LayerInput::Conv {
                    input,
                    kernel,
                    padding,
                    dilation,
                },
                Probe::Spatial(g),
            ) => {
                let geometry = Geometry::new(input.dims(), *kernel, *padding, *dilation);
                geometry.check(position, &self.name, g.dims())?;
                let mask = self.mask.as_deref();
                if let Some(found) = host::conv_scores(&geometry, input, g, mask, self.has_bias) {
                    return Ok(found);
                }
                Ok(self.conv_scores(&geometry, input, g))
            }
            (LayerInput::Linear { input, layout }, Probe::Flat(g)) => {
                let (weight, bias) = self.linear_scores(position, input, *layout, g)?;
                Ok(LayerScores {
                    weight: self.free_weights(weight),
                    bias,
                })
            }
            _ => Err(Error::layer(
                position,
                &self.name,
                "probe gradient kind does not match the layer kind",
            )),
        }
    }

    /// The columns of `weight` `[batch, all weights]` that the mask leaves free.
    fn free_weights(&self, weight: Tensor<2>) -> Tensor<2> {
        match &self.mask {
            Some(mask) => {
                let device = weight.device();
                weight.select(1, free_indices(mask, &device))
            }
            None => weight,
        }
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

    /// A convolution's per-example gradients by tensor operations, on any device.
    pub(crate) fn conv_scores(
        &self,
        geometry: &Geometry,
        input: &Tensor<4>,
        g: &Tensor<4>,
    ) -> LayerScores {
        let [batch, out, gh, gw] = g.dims();
        let [_, channels, _, _] = input.dims();
        let [kh, kw] = geometry.kernel;
        let g = g.clone().reshape([batch, out, gh * gw]);
        let x = geometry.pad(input.clone().inner());

        let mut taps = Vec::with_capacity(kh * kw);
        for i in 0..kh {
            for j in 0..kw {
                let window = geometry.window(x.clone(), i, j).swap_dims(1, 2);
                taps.push(g.clone().matmul(window).unsqueeze_dim::<4>(3));
            }
        }
        let weight = match taps.len() {
            1 => taps.remove(0),
            _ => Tensor::cat(taps, 3),
        };
        let weight = weight.reshape([batch, out * channels * kh * kw]);
        let bias = self.has_bias.then(|| g.sum_dim(2).reshape([batch, out]));
        LayerScores {
            weight: self.free_weights(weight),
            bias,
        }
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

/// The sizes of a stride-1 convolution: input, padding, kernel, dilation and output.
pub(crate) struct Geometry {
    /// Input `[batch, in, height, width]`, before padding.
    pub input: [usize; 4],
    /// Kernel `[kh, kw]`.
    pub kernel: [usize; 2],
    /// Zero padding `[(top, bottom), (left, right)]`.
    pub padding: [(usize, usize); 2],
    /// Dilation `[dh, dw]`.
    pub dilation: [usize; 2],
}

impl Geometry {
    pub(crate) fn new(
        input: [usize; 4],
        kernel: [usize; 2],
        padding: [(usize, usize); 2],
        dilation: [usize; 2],
    ) -> Self {
        Self {
            input,
            kernel,
            padding,
            dilation,
        }
    }

    /// Height and width of the padded input.
    fn padded(&self) -> [usize; 2] {
        let [_, _, h, w] = self.input;
        [
            h + self.padding[0].0 + self.padding[0].1,
            w + self.padding[1].0 + self.padding[1].1,
        ]
    }

    /// Height and width that one kernel application spans.
    fn span(&self) -> [usize; 2] {
        [
            self.dilation[0] * (self.kernel[0].max(1) - 1) + 1,
            self.dilation[1] * (self.kernel[1].max(1) - 1) + 1,
        ]
    }

    /// Checks the sizes against the output gradient `[batch, out, h', w']`.
    fn check(&self, position: usize, name: &str, grad: [usize; 4]) -> Result<()> {
        let fail = |reason: String| Err(Error::layer(position, name, reason));
        if self.kernel.contains(&0) || self.dilation.contains(&0) {
            return fail(format!(
                "kernel {:?} and dilation {:?} must be at least 1",
                self.kernel, self.dilation
            ));
        }
        let (padded, span) = (self.padded(), self.span());
        if span[0] > padded[0] || span[1] > padded[1] {
            return fail(format!(
                "kernel span {span:?} exceeds the padded input {padded:?}"
            ));
        }
        let out = [padded[0] - span[0] + 1, padded[1] - span[1] + 1];
        if grad[0] != self.input[0] || grad[2..] != out {
            return fail(format!(
                "input {:?} with kernel {:?}, padding {:?} and dilation {:?} gives a \
                 {}×{out:?} output (stride 1), but the output gradient is {grad:?}",
                self.input, self.kernel, self.padding, self.dilation, self.input[0]
            ));
        }
        Ok(())
    }

    /// The zero-padded input.
    fn pad(&self, x: Tensor<4>) -> Tensor<4> {
        if self.padded() == [self.input[2], self.input[3]] {
            x
        } else {
            x.pad(self.padding, PadMode::Constant(0.0))
        }
    }

    /// The part of the padded input that kernel tap `(i, j)` multiplies, one column per
    /// output position.
    ///
    /// # Shapes
    /// - `padded`: `[batch, in, padded height, padded width]`
    /// - output: `[batch, in, out height · out width]`
    fn window(&self, padded: Tensor<4>, i: usize, j: usize) -> Tensor<3> {
        let [batch, channels, _, _] = self.input;
        let (padded_size, span) = (self.padded(), self.span());
        let out = [padded_size[0] - span[0] + 1, padded_size[1] - span[1] + 1];
        let (top, left) = (i * self.dilation[0], j * self.dilation[1]);
        let window = if out == padded_size {
            padded
        } else {
            padded.slice([
                0..batch,
                0..channels,
                top..top + out[0],
                left..left + out[1],
            ])
        };
        window.reshape([batch, channels, out[0] * out[1]])
    }
}

/// The positions of the `true` entries of `mask`, in increasing order.
pub(crate) fn free_positions(mask: &[bool]) -> impl Iterator<Item = usize> + '_ {
    mask.iter()
        .enumerate()
        .filter_map(|(i, &free)| free.then_some(i))
}

/// The positions of the `true` entries of `mask`, as an index tensor.
fn free_indices(mask: &[bool], device: &Device) -> Tensor<1, Int> {
    let indices: Vec<i64> = free_positions(mask).map(|i| i as i64).collect();
    let len = indices.len();
    Tensor::from_data(TensorData::new(indices, [len]), device)
}
