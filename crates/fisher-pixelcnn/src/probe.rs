//! Probes for exact per-example gradients in one backward pass.
//!
//! Every parameterised layer of the model is either a convolution `y = (W ⊙ M) ⋆ x + b`
//! (stride 1, explicit zero padding, optional constant mask `M`) or a linear map `y = h·V`.
//! For an example `n`, the gradient of its log-likelihood `ℓₙ` with respect to a layer's
//! weights is a function of the layer's input and of the gradient with respect to its output:
//!
//! ```text
//! ∂ℓₙ/∂W[o, i, a, b] = M[o, i, a, b] · Σ_{y,x} gₙ[o, y, x] · x̃ₙ[i, y + a, x + b]
//! ∂ℓₙ/∂b[o]          = Σ_{y,x} gₙ[o, y, x]
//! ∂ℓₙ/∂V[i, o]       = hₙ[i] · gₙ[o]
//! ```
//!
//! where `x̃ₙ` is the zero-padded input and `gₙ = ∂ℓₙ/∂yₙ` (the per-example gradient trick
//! of Goodfellow, 2015, "Efficient Per-Example Gradient Computations"). Because examples do
//! not interact,
//! `gₙ` is also the gradient of `Σₙ ℓₙ` with respect to `yₙ`, so one backward pass over the
//! summed log-likelihood yields every example's output gradient. The probed forward pass
//! ([`PixelCnn::log_likelihood_probed`](crate::PixelCnn::log_likelihood_probed)) adds a zero
//! tensor that requires a gradient (the *probe*) to each layer's output and records the
//! layer's input; after `ll.sum().backward()`, `probe.grad(&grads)` is `g`.
//!
//! # Parameter order
//! [`PixelCnn::parameter_blocks`](crate::PixelCnn::parameter_blocks), the records of the
//! probed pass and [`PixelCnn::flat_gradient`](crate::PixelCnn::flat_gradient) list layers in
//! one order: for each gated layer `l` the vertical stack (`layers.l.v_conv`,
//! `layers.l.v_to_h`, then `layers.l.v_cond` when present), then for each `l` the horizontal
//! stack (`layers.l.h_conv`, `layers.l.h_cond` when present, `layers.l.h_out`), then
//! `head_hidden` and `head_out`. Each layer contributes its weight block, then its bias block.
//! Within a block, entries are row-major in the weight's shape: `[out, in, kh, kw]` for
//! convolutions, `[in, out]` for linear maps (Burn's layout); entries a mask holds at zero are
//! left out of flat vectors.

use burn::tensor::Tensor;

/// The input of one parameterised layer, as the layer saw it.
#[derive(Clone, Debug)]
pub enum LayerInput {
    /// A stride-1 convolution: `conv2d(input, W ⊙ M, padding, dilation)` reproduces the
    /// layer's output before its bias.
    Conv {
        /// The tensor fed to the convolution, `[batch, in, h, w]` (any shift already applied;
        /// zero padding not applied), without autodiff.
        input: Tensor<4>,
        /// Kernel size `[kh, kw]`.
        kernel: [usize; 2],
        /// Zero padding `[(top, bottom), (left, right)]`.
        padding: [(usize, usize); 2],
        /// Dilation `[dh, dw]`; always `[1, 1]` in this model.
        dilation: [usize; 2],
    },
    /// A linear map `h·V` with `V` of shape `[in, out]`.
    Linear {
        /// The vector fed to the map, `[batch, in]`, without autodiff.
        input: Tensor<2>,
    },
}

/// The zero tensor added to a layer's output; its gradient is the per-example output
/// gradient.
#[derive(Clone, Debug)]
pub enum ProbeTensor {
    /// For a convolution: `[batch, out, h, w]`.
    Map(Tensor<4>),
    /// For a linear map: `[batch, out]`.
    Vector(Tensor<2>),
}

/// What the probed forward pass keeps about one parameterised layer.
#[derive(Clone, Debug)]
pub struct LayerRecord {
    /// The layer's path, e.g. `layers.3.h_conv`; its blocks are `NAME.weight`, `NAME.bias`.
    pub name: String,
    /// The layer's input.
    pub input: LayerInput,
    /// The probe added to the layer's output (on the autodiff device, requiring a gradient).
    pub probe: ProbeTensor,
    /// Weight shape: `[out, in, kh, kw]` for convolutions, `[in, out]` for linear maps.
    pub weight_shape: Vec<usize>,
    /// The constant weight mask, same shape as the weight, 1 = free, 0 = fixed at zero,
    /// without autodiff; `None` when every entry is free.
    pub mask: Option<Tensor<4>>,
    /// Whether the layer adds a bias `[out]`.
    pub has_bias: bool,
    /// The layer's output (kept only by crate tests that check the record).
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) output: Option<ProbeTensor>,
}

/// One block of parameters, in the order of the records.
#[derive(Clone, Debug, PartialEq)]
pub struct ParamBlock {
    /// The parameter's path, e.g. `layers.3.h_conv.weight`.
    pub name: String,
    /// Its shape (`[out, in, kh, kw]`, `[in, out]` or `[out]`).
    pub shape: Vec<usize>,
    /// Row-major mask over all entries, 1 = free, 0 = fixed at zero; `None` when all are free.
    pub mask: Option<Vec<f32>>,
}

impl ParamBlock {
    /// Number of entries, free or not.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// Whether the block has no entries.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of free entries (those the mask does not fix at zero).
    pub fn num_free(&self) -> usize {
        match &self.mask {
            Some(m) => m.iter().filter(|&&v| v > 0.0).count(),
            None => self.len(),
        }
    }
}
