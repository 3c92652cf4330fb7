//! The gated PixelCNN: vertical and horizontal stacks without blind spot.
//!
//! van den Oord et al., 2016, "Conditional Image Generation with PixelCNN Decoders". Each
//! gated layer `l` computes, with `⋆` a (masked) convolution, `↓` a shift down by one row,
//! `c` the optional conditioning vector and `⊙` the element-wise product,
//!
//! ```text
//! vₗ′     = Wᵥ ⋆ vₗ                                   (rows ≤ i, a (k/2+1) × k kernel)
//! vₗ₊₁    = tanh(vₗ′ᵃ + Vᵥᵃc) ⊙ σ(vₗ′ᵇ + Vᵥᵇc)
//! hₗ′     = W_h ⋆ hₗ + U ⋆ ↓vₗ′ + V_h c               (row i, columns ≤ j, a 1 × (k/2+1) kernel)
//! hₗ₊₁    = hₗ + W_o ⋆ (tanh(hₗ′ᵃ) ⊙ σ(hₗ′ᵇ))         (no residual in the first layer)
//! ```
//!
//! where `ᵃ, ᵇ` are the two halves of the channels. The vertical stack at row `i` sees the
//! rows `≤ i` in a window as wide as its kernel; shifted down one row it reaches the
//! horizontal stack, which sees the current row up to the current column. Together every
//! earlier pixel in the receptive field is seen: no blind spot. For RGB the hidden channels
//! are split into three colour groups and the centre taps of the horizontal convolutions are
//! masked so that group R sees nothing of the current pixel, G sees R, and B sees R and G
//! (mask A in the first layer: strictly earlier groups; mask B after: earlier or equal). The
//! output head is `head_out ⋆ relu(head_hidden ⋆ relu(h_L))` with 1×1 masked convolutions.
//!
//! Images enter scaled by [`PixelScaling::Symmetric`] to `[−1, 1]`.

use burn::module::Module;
use burn::tensor::activation::{relu, sigmoid};
use burn::tensor::{Gradients, Int, Tensor, TensorData};
use fisher_core::{DensityModel, Error, ImageShape, PixelScaling};
use rand::SeedableRng;
use rand::rngs::Xoshiro256PlusPlus;

use crate::config::PixelCnnConfig;
use crate::heads;
use crate::layers::{CentreMask, CondLinear, ConvSpec, MaskedConv};
use crate::probe::{LayerInput, LayerRecord, ParamBlock, ProbeTensor};

/// One gated layer: a vertical and a horizontal gated unit and the link between them.
#[derive(Module, Debug)]
pub struct GatedLayer {
    /// Vertical convolution, `C_in → 2C`, kernel `(k/2+1) × k`.
    pub v_conv: MaskedConv,
    /// Link from the shifted vertical pre-activation to the horizontal stack, 1×1,
    /// `2C → 2C`, no bias.
    pub v_to_h: MaskedConv,
    /// Conditioning map of the vertical gate (absent without conditioning and in the last
    /// layer, whose vertical output is unused).
    pub v_cond: Option<CondLinear>,
    /// Horizontal convolution, `C_in → 2C`, kernel `1 × (k/2+1)`, masked at its centre tap.
    pub h_conv: MaskedConv,
    /// Conditioning map of the horizontal gate.
    pub h_cond: Option<CondLinear>,
    /// Horizontal output, 1×1, `C → C`.
    pub h_out: MaskedConv,
    /// Whether the horizontal output is added to the layer's input.
    pub residual: bool,
}

/// A gated PixelCNN; build one with [`PixelCnnConfig::init`].
#[derive(Module, Debug)]
pub struct PixelCnn {
    /// The gated layers, first (kernel `k₀`) to last.
    pub layers: Vec<GatedLayer>,
    /// Hidden 1×1 layer of the head, `C → head_channels`.
    pub head_hidden: MaskedConv,
    /// Output 1×1 layer of the head, `head_channels → head.output_channels(c)`.
    pub head_out: MaskedConv,
    #[module(skip)]
    config: PixelCnnConfig,
}

/// A reference to one parameterised layer, in parameter order.
pub(crate) enum LayerRef<'a> {
    Conv(&'a MaskedConv),
    Linear(&'a CondLinear),
}

/// Records layer inputs and probes during a forward pass, or does nothing.
pub(crate) struct Tape {
    records: Option<Vec<LayerRecord>>,
    keep_outputs: bool,
    /// Whether the probes are marked `require_grad` and added to the layer outputs.
    tracked: bool,
}

impl Tape {
    /// A tape that records nothing.
    pub(crate) fn off() -> Self {
        Self {
            records: None,
            keep_outputs: false,
            tracked: false,
        }
    }

    /// A tape that records every layer, optionally with its output.
    pub(crate) fn recording(keep_outputs: bool) -> Self {
        Self {
            records: Some(Vec::new()),
            keep_outputs,
            tracked: true,
        }
    }

    /// A tape that records every layer's input with untracked zero probes that are not
    /// added to the outputs: no autodiff graph grows from it.
    pub(crate) fn observing() -> Self {
        Self {
            records: Some(Vec::new()),
            keep_outputs: false,
            tracked: false,
        }
    }

    pub(crate) fn into_records(self) -> Vec<LayerRecord> {
        self.records.unwrap_or_default()
    }

    fn conv(&mut self, name: String, layer: &MaskedConv, x: Tensor<4>) -> Tensor<4> {
        let out = layer.forward(x.clone());
        let Some(records) = &mut self.records else {
            return out;
        };
        let probe = Tensor::<4>::zeros(out.dims(), &out.device());
        let probe = if self.tracked {
            probe.require_grad()
        } else {
            probe
        };
        records.push(LayerRecord {
            name,
            input: LayerInput::Conv {
                input: x.inner(),
                kernel: layer.kernel,
                padding: layer.padding,
                dilation: [1, 1],
            },
            probe: ProbeTensor::Map(probe.clone()),
            weight_shape: layer.weight_shape().to_vec(),
            mask: layer.mask.clone().map(Tensor::inner),
            has_bias: layer.bias.is_some(),
            output: self
                .keep_outputs
                .then(|| ProbeTensor::Map(out.clone().inner())),
        });
        if self.tracked { out + probe } else { out }
    }

    fn linear(&mut self, name: String, layer: &CondLinear, h: Tensor<2>) -> Tensor<2> {
        let out = layer.forward(h.clone());
        let Some(records) = &mut self.records else {
            return out;
        };
        let probe = Tensor::<2>::zeros(out.dims(), &out.device());
        let probe = if self.tracked {
            probe.require_grad()
        } else {
            probe
        };
        records.push(LayerRecord {
            name,
            input: LayerInput::Linear { input: h.inner() },
            probe: ProbeTensor::Vector(probe.clone()),
            weight_shape: layer.weight.dims().to_vec(),
            mask: None,
            has_bias: false,
            output: self
                .keep_outputs
                .then(|| ProbeTensor::Vector(out.clone().inner())),
        });
        if self.tracked { out + probe } else { out }
    }
}

/// `tanh(xᵃ) ⊙ σ(xᵇ)` over the two channel halves.
fn gate(x: Tensor<4>) -> Tensor<4> {
    let c = x.dims()[1] / 2;
    x.clone().narrow(1, 0, c).tanh() * sigmoid(x.narrow(1, c, c))
}

/// Moves every row down by one and fills the top row with zeros.
pub(crate) fn shift_down(x: Tensor<4>) -> Tensor<4> {
    let [b, c, h, w] = x.dims();
    let zeros = Tensor::zeros([b, c, 1, w], &x.device());
    if h == 1 {
        return zeros;
    }
    Tensor::cat(vec![zeros, x.narrow(2, 0, h - 1)], 2)
}

/// Adds a per-example vector `[batch, ch]` to every position of a map `[batch, ch, h, w]`.
pub(crate) fn add_vector(map: Tensor<4>, v: Tensor<2>) -> Tensor<4> {
    let [b, c] = v.dims();
    map + v.reshape([b, c, 1, 1])
}

pub(crate) fn name(layer: usize, part: &str) -> String {
    format!("layers.{layer}.{part}")
}

/// Colour group of each of `n` channels: all 0 for grayscale, thirds for RGB.
fn groups(n: usize, image_channels: usize) -> Vec<usize> {
    if image_channels == 1 {
        return vec![0; n];
    }
    (0..n).map(|i| i * 3 / n).collect()
}

impl PixelCnn {
    /// Builds the layers of `config` (already validated) with seeded initial values.
    pub(crate) fn new(config: PixelCnnConfig, device: &burn::tensor::Device) -> Self {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(config.seed);
        let img = config.image.channels;
        let c = config.hidden_channels;
        let hidden = groups(c, img);
        let doubled: Vec<usize> = hidden.iter().chain(&hidden).copied().collect();
        let n_layers = config.layers;

        let mut layers = Vec::with_capacity(n_layers);
        for l in 0..n_layers {
            let k = if l == 0 {
                config.first_kernel
            } else {
                config.kernel
            };
            let p = k / 2;
            let input = if l == 0 {
                groups(img, img)
            } else {
                hidden.clone()
            };
            let v_conv = ConvSpec {
                kernel: [p + 1, k],
                padding: [(p, 0), (p, p)],
                in_groups: input.clone(),
                out_groups: doubled.clone(),
                centre: CentreMask::None,
                bias: true,
            };
            let v_to_h = pointwise(&doubled, &doubled, CentreMask::None, false);
            let h_conv = ConvSpec {
                kernel: [1, p + 1],
                padding: [(0, 0), (p, 0)],
                in_groups: input,
                out_groups: doubled.clone(),
                centre: if l == 0 {
                    CentreMask::Strict
                } else {
                    CentreMask::Inclusive
                },
                bias: true,
            };
            let h_out = pointwise(&hidden, &hidden, CentreMask::Inclusive, true);
            let cond = config.cond_dim;
            let v_conv = MaskedConv::init(&v_conv, &mut rng, device);
            let v_to_h = MaskedConv::init(&v_to_h, &mut rng, device);
            let v_cond = (cond > 0 && l + 1 < n_layers)
                .then(|| CondLinear::init(cond, 2 * c, &mut rng, device));
            let h_conv = MaskedConv::init(&h_conv, &mut rng, device);
            let h_cond = (cond > 0).then(|| CondLinear::init(cond, 2 * c, &mut rng, device));
            let h_out = MaskedConv::init(&h_out, &mut rng, device);
            layers.push(GatedLayer {
                v_conv,
                v_to_h,
                v_cond,
                h_conv,
                h_cond,
                h_out,
                residual: l > 0,
            });
        }

        let head_groups = groups(config.head_channels, img);
        let out_groups = heads::output_groups(config.head, img);
        let head_hidden = pointwise(&hidden, &head_groups, CentreMask::Inclusive, true);
        let head_out = pointwise(&head_groups, &out_groups, CentreMask::Inclusive, true);
        Self {
            layers,
            head_hidden: MaskedConv::init(&head_hidden, &mut rng, device),
            head_out: MaskedConv::init(&head_out, &mut rng, device),
            config,
        }
    }

    /// The configuration the model was built from.
    pub fn config(&self) -> &PixelCnnConfig {
        &self.config
    }

    /// Every parameterised layer with its path, in parameter order (see [`crate::probe`]).
    pub(crate) fn layer_refs(&self) -> Vec<(String, LayerRef<'_>)> {
        let mut out = Vec::new();
        for (l, layer) in self.layers.iter().enumerate() {
            out.push((name(l, "v_conv"), LayerRef::Conv(&layer.v_conv)));
            out.push((name(l, "v_to_h"), LayerRef::Conv(&layer.v_to_h)));
            if let Some(v) = &layer.v_cond {
                out.push((name(l, "v_cond"), LayerRef::Linear(v)));
            }
        }
        for (l, layer) in self.layers.iter().enumerate() {
            out.push((name(l, "h_conv"), LayerRef::Conv(&layer.h_conv)));
            if let Some(h) = &layer.h_cond {
                out.push((name(l, "h_cond"), LayerRef::Linear(h)));
            }
            out.push((name(l, "h_out"), LayerRef::Conv(&layer.h_out)));
        }
        out.push(("head_hidden".into(), LayerRef::Conv(&self.head_hidden)));
        out.push(("head_out".into(), LayerRef::Conv(&self.head_out)));
        out
    }

    /// The vertical stack: the link term `U ⋆ ↓vₗ′` of every layer.
    ///
    /// # Shapes
    /// - `x`: `[batch, c, h, w]`, scaled to `[−1, 1]`
    /// - output: one `[batch, 2C, h, w]` per layer
    pub(crate) fn vertical(
        &self,
        x: Tensor<4>,
        cond: Option<&Tensor<2>>,
        tape: &mut Tape,
    ) -> Vec<Tensor<4>> {
        let mut v = x;
        let mut links = Vec::with_capacity(self.layers.len());
        for (l, layer) in self.layers.iter().enumerate() {
            let pre = tape.conv(name(l, "v_conv"), &layer.v_conv, v.clone());
            links.push(tape.conv(name(l, "v_to_h"), &layer.v_to_h, shift_down(pre.clone())));
            if let (Some(map), Some(c)) = (&layer.v_cond, cond) {
                let pre = add_vector(pre, tape.linear(name(l, "v_cond"), map, c.clone()));
                v = gate(pre);
            } else if l + 1 < self.layers.len() {
                v = gate(pre);
            }
        }
        links
    }

    /// The horizontal stack and the head, given the vertical links.
    ///
    /// # Shapes
    /// - `x`: `[batch, c, h, w]`, scaled to `[−1, 1]`
    /// - `links`: one `[batch, 2C, h, w]` per layer
    /// - output: `[batch, head.output_channels(c), h, w]`
    pub(crate) fn horizontal(
        &self,
        x: Tensor<4>,
        links: &[Tensor<4>],
        cond: Option<&Tensor<2>>,
        tape: &mut Tape,
    ) -> Tensor<4> {
        let mut h = x;
        for (l, layer) in self.layers.iter().enumerate() {
            let mut pre = tape.conv(name(l, "h_conv"), &layer.h_conv, h.clone()) + links[l].clone();
            if let (Some(map), Some(c)) = (&layer.h_cond, cond) {
                pre = add_vector(pre, tape.linear(name(l, "h_cond"), map, c.clone()));
            }
            let out = tape.conv(name(l, "h_out"), &layer.h_out, gate(pre));
            h = if layer.residual { h + out } else { out };
        }
        let hidden = tape.conv("head_hidden".into(), &self.head_hidden, relu(h));
        tape.conv("head_out".into(), &self.head_out, relu(hidden))
    }

    /// Checks image shape, pixel range and conditioning against the config.
    pub(crate) fn check_inputs(
        &self,
        images: &Tensor<4, Int>,
        cond: Option<&Tensor<2>>,
    ) -> fisher_core::Result<()> {
        self.config.image.check_batch("images", images.dims())?;
        self.check_cond(images.dims()[0], cond)?;
        check_pixel_range(images)
    }

    pub(crate) fn check_cond(
        &self,
        batch: usize,
        cond: Option<&Tensor<2>>,
    ) -> fisher_core::Result<()> {
        let dim = self.config.cond_dim;
        match cond {
            None if dim > 0 => Err(Error::config(
                "conditioning",
                "none",
                format!("this model needs a [batch, {dim}] conditioning vector"),
            )),
            Some(c) if dim == 0 => Err(Error::config(
                "conditioning",
                format!("{:?}", c.dims()),
                "this model is unconditional (cond_dim = 0)",
            )),
            Some(c) if c.dims() != [batch, dim] => {
                Err(Error::shape("conditioning", &[batch, dim], &c.dims()))
            }
            _ => Ok(()),
        }
    }

    /// Per-sub-pixel conditional log-probabilities `log p(xᵢ | x<ᵢ)` in nats; their sum over
    /// an image is its log-likelihood. For the RGB mixture head the terms are the chain rule
    /// factors `log p(r)`, `log p(g | r)`, `log p(b | r, g)` of each pixel.
    ///
    /// # Shapes
    /// - `images`: `[batch, c, h, w]`, values in `0..=255`
    /// - `cond`: `[batch, cond_dim]`, required exactly when `cond_dim > 0`
    /// - output: `[batch, c, h, w]`
    ///
    /// # Errors
    /// When the image shape differs from the config, a value is outside `0..=255`, or the
    /// conditioning is missing, unexpected or misshapen.
    pub fn log_prob_map(
        &self,
        images: Tensor<4, Int>,
        cond: Option<Tensor<2>>,
    ) -> fisher_core::Result<Tensor<4>> {
        self.check_inputs(&images, cond.as_ref())?;
        let x = PixelScaling::Symmetric.apply(images.clone());
        Ok(self.log_prob_map_unchecked(x, images, cond.as_ref(), &mut Tape::off()))
    }

    /// Like [`log_prob_map`](Self::log_prob_map), but the network reads `input` (any floats)
    /// while the log-probabilities are those of `targets`. With `input` the scaled targets
    /// this is `log_prob_map`; a separate `input` lets tests differentiate the conditionals
    /// with respect to what the network sees, e.g. to check causality.
    ///
    /// # Shapes
    /// - `input`: `[batch, c, h, w]`, on the `[−1, 1]` scale
    /// - `targets`: `[batch, c, h, w]`, values in `0..=255`
    /// - `cond`: `[batch, cond_dim]` or `None`
    /// - output: `[batch, c, h, w]`
    ///
    /// # Errors
    /// As [`log_prob_map`](Self::log_prob_map), and when `input` and `targets` differ in shape.
    pub fn log_prob_map_with_input(
        &self,
        input: Tensor<4>,
        targets: Tensor<4, Int>,
        cond: Option<Tensor<2>>,
    ) -> fisher_core::Result<Tensor<4>> {
        self.check_inputs(&targets, cond.as_ref())?;
        if input.dims() != targets.dims() {
            return Err(Error::shape(
                "network input",
                &targets.dims(),
                &input.dims(),
            ));
        }
        Ok(self.log_prob_map_unchecked(input, targets, cond.as_ref(), &mut Tape::off()))
    }

    pub(crate) fn log_prob_map_unchecked(
        &self,
        x: Tensor<4>,
        targets: Tensor<4, Int>,
        cond: Option<&Tensor<2>>,
        tape: &mut Tape,
    ) -> Tensor<4> {
        let links = self.vertical(x.clone(), cond, tape);
        let out = self.horizontal(x, &links, cond, tape);
        heads::log_prob_map(self.config.head, out, targets)
    }

    /// Per-example log-likelihood `log p(x | c)` in nats.
    ///
    /// # Shapes
    /// - `images`: `[batch, c, h, w]`, values in `0..=255`
    /// - `cond`: `[batch, cond_dim]`, required exactly when `cond_dim > 0`
    /// - output: `[batch]`
    ///
    /// # Errors
    /// As [`log_prob_map`](Self::log_prob_map).
    pub fn log_likelihood_cond(
        &self,
        images: Tensor<4, Int>,
        cond: Option<Tensor<2>>,
    ) -> fisher_core::Result<Tensor<1>> {
        let batch = images.dims()[0];
        let map = self.log_prob_map(images, cond)?;
        Ok(map.reshape([batch as i64, -1]).sum_dim(1).reshape([batch]))
    }

    /// The probed forward pass for per-example gradients (see [`crate::probe`]).
    ///
    /// Computes the same log-likelihood as [`log_likelihood_cond`](Self::log_likelihood_cond)
    /// while adding a zero probe that requires a gradient to the output of every
    /// parameterised layer and recording the layer's input. After `ll.sum().backward()`,
    /// `probe.grad(&grads)` of each record is the per-example gradient with respect to that
    /// layer's output. The records follow [`parameter_blocks`](Self::parameter_blocks) layer
    /// by layer.
    ///
    /// # Shapes
    /// - `images`: `[batch, c, h, w]`, values in `0..=255`, on an autodiff device
    /// - `cond`: `[batch, cond_dim]` or `None`
    /// - output: `[batch]` and one record per parameterised layer
    ///
    /// # Errors
    /// As [`log_prob_map`](Self::log_prob_map), and when the device has no autodiff.
    pub fn log_likelihood_probed(
        &self,
        images: Tensor<4, Int>,
        cond: Option<Tensor<2>>,
    ) -> fisher_core::Result<(Tensor<1>, Vec<LayerRecord>)> {
        self.probed(images, cond, false)
    }

    /// The record of every parameterised layer, as
    /// [`log_likelihood_probed`](Self::log_likelihood_probed) gives it, but from a forward
    /// pass that builds no autodiff graph: the probes are untracked zeros, not added to the
    /// outputs, and the parameters are read as constants. For the layer inputs alone (the
    /// activation baseline), where no backward pass follows; on an autodiff device, a probed
    /// pass whose graph is never walked backward keeps its memory.
    ///
    /// # Shapes
    /// - `images`: `[batch, c, h, w]`, values in `0..=255`, on any device
    /// - `cond`: `[batch, cond_dim]` or `None`
    /// - output: one record per parameterised layer
    ///
    /// # Errors
    /// As [`log_prob_map`](Self::log_prob_map).
    pub fn layer_records(
        &self,
        images: Tensor<4, Int>,
        cond: Option<Tensor<2>>,
    ) -> fisher_core::Result<Vec<LayerRecord>> {
        self.check_inputs(&images, cond.as_ref())?;
        let model = self.clone().no_grad();
        let x = PixelScaling::Symmetric.apply(images.clone());
        let mut tape = Tape::observing();
        drop(model.log_prob_map_unchecked(x, images, cond.as_ref(), &mut tape));
        Ok(tape.into_records())
    }

    pub(crate) fn probed(
        &self,
        images: Tensor<4, Int>,
        cond: Option<Tensor<2>>,
        keep_outputs: bool,
    ) -> fisher_core::Result<(Tensor<1>, Vec<LayerRecord>)> {
        if !images.device().is_autodiff() {
            return Err(Error::config(
                "device",
                format!("{:?}", images.device()),
                "the probed forward pass needs an autodiff device (device.autodiff())",
            ));
        }
        self.check_inputs(&images, cond.as_ref())?;
        let batch = images.dims()[0];
        let x = PixelScaling::Symmetric.apply(images.clone());
        let mut tape = Tape::recording(keep_outputs);
        let map = self.log_prob_map_unchecked(x, images, cond.as_ref(), &mut tape);
        let ll = map.reshape([batch as i64, -1]).sum_dim(1).reshape([batch]);
        Ok((ll, tape.into_records()))
    }

    /// Every parameter block in record order: each layer's weight, then its bias.
    pub fn parameter_blocks(&self) -> Vec<ParamBlock> {
        let mut blocks = Vec::new();
        for (path, layer) in self.layer_refs() {
            match layer {
                LayerRef::Conv(conv) => {
                    blocks.push(ParamBlock {
                        name: format!("{path}.weight"),
                        shape: conv.weight_shape().to_vec(),
                        mask: conv.mask_values(),
                    });
                    if conv.bias.is_some() {
                        blocks.push(ParamBlock {
                            name: format!("{path}.bias"),
                            shape: vec![conv.weight_shape()[0]],
                            mask: None,
                        });
                    }
                }
                LayerRef::Linear(lin) => blocks.push(ParamBlock {
                    name: format!("{path}.weight"),
                    shape: lin.weight.dims().to_vec(),
                    mask: None,
                }),
            }
        }
        blocks
    }

    /// Number of free parameters: all entries of all blocks except those a mask fixes at
    /// zero. This is the length of [`flat_gradient`](Self::flat_gradient) and of a Fisher
    /// score.
    pub fn num_free_parameters(&self) -> usize {
        self.parameter_blocks()
            .iter()
            .map(ParamBlock::num_free)
            .sum()
    }

    /// The gradient of all free parameters after a backward pass, flattened in
    /// [`parameter_blocks`](Self::parameter_blocks) order (masked entries left out). A
    /// parameter that took no part in the pass contributes zeros.
    pub fn flat_gradient(&self, grads: &Gradients) -> Vec<f32> {
        let mut out = Vec::with_capacity(self.num_free_parameters());
        for (_, layer) in self.layer_refs() {
            match layer {
                LayerRef::Conv(conv) => {
                    let mask = conv.mask_values();
                    let g = grad_values(conv.weight.val().grad(grads), conv.weight.dims());
                    push_free(&mut out, g, mask.as_deref());
                    if let Some(b) = &conv.bias {
                        push_free(&mut out, grad_values(b.val().grad(grads), b.dims()), None);
                    }
                }
                LayerRef::Linear(lin) => {
                    let g = grad_values(lin.weight.val().grad(grads), lin.weight.dims());
                    push_free(&mut out, g, None);
                }
            }
        }
        out
    }

    /// The free parameter values, flattened like [`flat_gradient`](Self::flat_gradient).
    pub fn flat_parameters(&self) -> Vec<f32> {
        let mut out = Vec::with_capacity(self.num_free_parameters());
        for (_, layer) in self.layer_refs() {
            match layer {
                LayerRef::Conv(conv) => {
                    let mask = conv.mask_values();
                    push_free(&mut out, host(conv.weight.val()), mask.as_deref());
                    if let Some(b) = &conv.bias {
                        push_free(&mut out, host(b.val()), None);
                    }
                }
                LayerRef::Linear(lin) => push_free(&mut out, host(lin.weight.val()), None),
            }
        }
        out
    }
}

fn pointwise(inp: &[usize], out: &[usize], centre: CentreMask, bias: bool) -> ConvSpec {
    ConvSpec {
        kernel: [1, 1],
        padding: [(0, 0), (0, 0)],
        in_groups: inp.to_vec(),
        out_groups: out.to_vec(),
        centre,
        bias,
    }
}

fn host<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().try_into_vec_as::<f32>().unwrap_or_default()
}

fn grad_values<const D: usize>(grad: Option<Tensor<D>>, dims: [usize; D]) -> Vec<f32> {
    match grad {
        Some(g) => host(g),
        None => vec![0.0; dims.iter().product()],
    }
}

fn push_free(out: &mut Vec<f32>, values: Vec<f32>, mask: Option<&[f32]>) {
    match mask {
        Some(m) => out.extend(
            values
                .iter()
                .zip(m)
                .filter(|(_, m)| **m > 0.0)
                .map(|(v, _)| v),
        ),
        None => out.extend(values),
    }
}

fn check_pixel_range(images: &Tensor<4, Int>) -> fisher_core::Result<()> {
    if images.dims().iter().product::<usize>() == 0 {
        return Ok(());
    }
    let range = Tensor::cat(vec![images.clone().min(), images.clone().max()], 0);
    let values: Vec<i64> = range
        .into_data()
        .try_into_vec_as::<i64>()
        .map_err(|e| Error::config("images", format!("{e:?}"), "not readable"))?;
    if let Some(&v) = values.iter().find(|&&v| !(0..=255).contains(&v)) {
        return Err(Error::config("pixel value", v, "must be in 0..=255"));
    }
    Ok(())
}

impl DensityModel for PixelCnn {
    fn image_shape(&self) -> ImageShape {
        self.config.image
    }

    fn log_likelihood(&self, images: Tensor<4, Int>) -> fisher_core::Result<Tensor<1>> {
        self.log_likelihood_cond(images, None)
    }
}

/// Builds an `Int` image tensor from host values; used by sampling and training.
pub(crate) fn int_images(
    values: &[u8],
    shape: [usize; 4],
    device: &burn::tensor::Device,
) -> Tensor<4, Int> {
    let v: Vec<i32> = values.iter().map(|&v| i32::from(v)).collect();
    Tensor::from_data(TensorData::new(v, shape), device)
}
