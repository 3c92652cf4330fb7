//! The two parameterised building blocks: masked convolutions and conditioning maps.
//!
//! A masked convolution computes `y = (W ⊙ M) ⋆ x + b` with stride 1 and explicit zero
//! padding, where the constant mask `M ∈ {0, 1}` removes the connections that would let a
//! sub-pixel see itself or later sub-pixels (van den Oord et al., 2016). A conditioning map is
//! `y = h·V` with `V` of shape `[in, out]` (Burn's layout), added inside each gated unit.

use burn::module::{Module, Param};
use burn::tensor::module::{conv2d, linear};
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Device, Tensor, TensorData};
use rand::RngExt;
use rand::rngs::Xoshiro256PlusPlus;

/// Which connections the channel mask of a convolution keeps at its centre tap.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CentreMask {
    /// No channel mask: every connection is free.
    None,
    /// Mask A: input group strictly before the output group (first layer).
    Strict,
    /// Mask B: input group not after the output group.
    Inclusive,
}

/// The shape and connectivity of one convolution, before its values are drawn.
pub(crate) struct ConvSpec {
    /// Kernel `[kh, kw]`.
    pub kernel: [usize; 2],
    /// Zero padding `[(top, bottom), (left, right)]`.
    pub padding: [(usize, usize); 2],
    /// Colour group of each input channel.
    pub in_groups: Vec<usize>,
    /// Colour group of each output channel.
    pub out_groups: Vec<usize>,
    /// The channel mask at the centre tap, the last row and column of the kernel.
    pub centre: CentreMask,
    /// Whether the layer has a bias.
    pub bias: bool,
}

impl ConvSpec {
    /// The mask `[out, in, kh, kw]` (1 = free), or `None` when every entry is free.
    fn mask(&self) -> Option<Vec<f32>> {
        let [kh, kw] = self.kernel;
        let (n_out, n_in) = (self.out_groups.len(), self.in_groups.len());
        let mut mask = vec![1.0f32; n_out * n_in * kh * kw];
        let mut any_zero = false;
        for (o, &go) in self.out_groups.iter().enumerate() {
            for (i, &gi) in self.in_groups.iter().enumerate() {
                let keep = match self.centre {
                    CentreMask::None => true,
                    CentreMask::Strict => gi < go,
                    CentreMask::Inclusive => gi <= go,
                };
                if !keep {
                    mask[((o * n_in + i) * kh + kh - 1) * kw + kw - 1] = 0.0;
                    any_zero = true;
                }
            }
        }
        any_zero.then_some(mask)
    }
}

/// A convolution with stride 1, explicit padding and an optional constant mask.
#[derive(Module, Debug)]
pub struct MaskedConv {
    /// Weights `[out, in, kh, kw]`; entries where the mask is 0 are kept at 0.
    pub weight: Param<Tensor<4>>,
    /// Bias `[out]`.
    pub bias: Option<Param<Tensor<1>>>,
    /// Constant mask `[out, in, kh, kw]`, 1 = free, 0 = fixed at zero; not a parameter.
    pub mask: Option<Tensor<4>>,
    /// Kernel `[kh, kw]`.
    pub kernel: [usize; 2],
    /// Zero padding `[(top, bottom), (left, right)]`.
    pub padding: [(usize, usize); 2],
}

impl MaskedConv {
    /// Draws weights uniformly in `±1/√fan_in` (fan-in counted over free entries) and sets
    /// masked entries and biases to zero.
    pub(crate) fn init(spec: &ConvSpec, rng: &mut Xoshiro256PlusPlus, device: &Device) -> Self {
        let [kh, kw] = spec.kernel;
        let (n_out, n_in) = (spec.out_groups.len(), spec.in_groups.len());
        let mask = spec.mask();
        let free = mask.as_ref().map_or(n_out * n_in * kh * kw, |m| {
            m.iter().filter(|&&v| v > 0.0).count()
        });
        let bound = 1.0 / ((free as f32 / n_out as f32).max(1.0)).sqrt();
        let mut values: Vec<f32> = (0..n_out * n_in * kh * kw)
            .map(|_| rng.random_range(-bound..bound))
            .collect();
        if let Some(m) = &mask {
            values.iter_mut().zip(m).for_each(|(v, m)| *v *= m);
        }

        let shape = [n_out, n_in, kh, kw];
        let weight = Tensor::from_data(TensorData::new(values, shape), device);
        let bias = spec
            .bias
            .then(|| Param::from_tensor(Tensor::zeros([n_out], device)));
        Self {
            weight: Param::from_tensor(weight),
            bias,
            mask: mask.map(|m| Tensor::from_data(TensorData::new(m, shape), device)),
            kernel: spec.kernel,
            padding: spec.padding,
        }
    }

    /// The weight with the mask applied, `W ⊙ M`.
    pub fn masked_weight(&self) -> Tensor<4> {
        match &self.mask {
            Some(m) => self.weight.val() * m.clone(),
            None => self.weight.val(),
        }
    }

    /// The convolution without its bias, `(W ⊙ M) ⋆ x`.
    ///
    /// # Shapes
    /// - `x`: `[batch, in, h, w]`
    /// - output: `[batch, out, h', w']` with `h' = h + top + bottom − kh + 1`, likewise `w'`
    pub fn forward_no_bias(&self, x: Tensor<4>) -> Tensor<4> {
        conv2d(x, self.masked_weight(), None, self.options())
    }

    /// The convolution with its bias, `(W ⊙ M) ⋆ x + b`.
    ///
    /// # Shapes
    /// - `x`: `[batch, in, h, w]`
    /// - output: `[batch, out, h', w']`, as in [`forward_no_bias`](Self::forward_no_bias)
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let bias = self.bias.as_ref().map(|b| b.val());
        conv2d(x, self.masked_weight(), bias, self.options())
    }

    /// Stride 1, this layer's padding, no dilation, one group.
    pub fn options(&self) -> ConvOptions<2> {
        ConvOptions {
            stride: [1, 1],
            padding: self.padding,
            dilation: [1, 1],
            groups: 1,
        }
    }

    /// Weight shape `[out, in, kh, kw]`.
    pub fn weight_shape(&self) -> [usize; 4] {
        self.weight.dims()
    }

    /// The mask on the host, `[out, in, kh, kw]` flattened row-major, if any.
    pub fn mask_values(&self) -> Option<Vec<f32>> {
        self.mask.as_ref().map(|m| {
            m.clone()
                .into_data()
                .try_into_vec_as::<f32>()
                .unwrap_or_default()
        })
    }
}

/// A linear map without bias, `y = h·V`, `V` of shape `[in, out]`.
#[derive(Module, Debug)]
pub struct CondLinear {
    /// Weights `[in, out]`, Burn's layout (the transpose of PyTorch's).
    pub weight: Param<Tensor<2>>,
}

impl CondLinear {
    /// Draws weights uniformly in `±1/√in`.
    pub(crate) fn init(
        n_in: usize,
        n_out: usize,
        rng: &mut Xoshiro256PlusPlus,
        device: &Device,
    ) -> Self {
        let bound = 1.0 / (n_in as f32).sqrt();
        let values: Vec<f32> = (0..n_in * n_out)
            .map(|_| rng.random_range(-bound..bound))
            .collect();
        let weight = Tensor::from_data(TensorData::new(values, [n_in, n_out]), device);
        Self {
            weight: Param::from_tensor(weight),
        }
    }

    /// `h·V`.
    ///
    /// # Shapes
    /// - `h`: `[batch, in]`
    /// - output: `[batch, out]`
    pub fn forward(&self, h: Tensor<2>) -> Tensor<2> {
        linear(h, self.weight.val(), None)
    }
}
