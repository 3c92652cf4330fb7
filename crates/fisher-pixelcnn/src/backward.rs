//! Every layer's output gradient from a forward pass and a hand-written backward pass.
//!
//! The probed pass of [`crate::probe`] gets the per-example output gradients `gₙ = ∂ℓₙ/∂yₙ`
//! from Burn's autodiff. This module computes the same gradients by walking the network
//! backward by hand, without an autodiff graph: the body runs on the device's plain backend,
//! and at most the output head (a few element-wise operations) is differentiated by autodiff.
//! It needs fewer operations than the generic walk because it knows the network:
//!
//! - The gradient of a convolution with respect to its input is a transposed convolution of
//!   the output gradient with the same masked weight, over the whole zero-padded input, then
//!   cropped to the input: `∂L/∂x = crop(Wᵀ ⋆ g)`. Burn's autodiff passes the padding to the
//!   transposed convolution instead, which takes a slower route on the CPU backend when the
//!   padding is asymmetric, as every PixelCNN convolution's is. A 1×1 kernel's transpose is
//!   the 1×1 convolution with the weight's input and output channels swapped, which the CPU
//!   backend runs as a plain matrix product (6.5 ms instead of 7–9 ms for 128 channels and a
//!   batch of 32); the two give the same values.
//! - The gate `tanh(a) ⊙ σ(b)` keeps `t = tanh(a)` and `s = σ(b)` from the forward pass;
//!   its backward pass is `∂a = g ⊙ s ⊙ (1 − t²)`, `∂b = g ⊙ t ⊙ s ⊙ (1 − s)`.
//! - The shift down by one row has the shift up (the bottom row zero) as its adjoint; a
//!   residual sum passes its gradient to both terms; a ReLU passes it where its input was
//!   positive; a conditioning vector added at every position collects the gradient summed
//!   over the positions.
//! - The categorical head's gradient is `onehot(target) − softmax(logits)` at every
//!   sub-pixel, computed directly on the CPU; the mixture head's (and the categorical head's
//!   on other devices) comes from autodiff through the head alone.
//! - The images themselves need no gradient, so the first layer's input gradients are
//!   skipped.
//!
//! The tests compare every layer's gradient with the probed pass's.

use burn::tensor::activation::relu;
use burn::tensor::module::{conv_transpose2d, conv2d, linear};
use burn::tensor::ops::{ConvOptions, ConvTransposeOptions};
use burn::tensor::{Int, Tensor};
use fisher_core::PixelScaling;

use crate::config::Head;
use crate::fused::{categorical_head, gate_backward, gate_forward};
use crate::heads;
use crate::layers::{CondLinear, MaskedConv};
use crate::model::{PixelCnn, add_vector, name as layer_name, shift_down};
use crate::probe::{LayerInput, LayerRecord, ProbeTensor};

/// A convolution's forward pass on the plain backend: `(W ⊙ M) ⋆ x + b`.
fn conv_forward(layer: &MaskedConv, x: Tensor<4>) -> Tensor<4> {
    let bias = layer.bias.as_ref().map(|b| b.val().inner());
    conv2d(x, layer.masked_weight().inner(), bias, layer.options())
}

/// A convolution's input gradient: the transposed convolution over the padded input, cropped.
///
/// # Shapes
/// - `g`: `[batch, out, h', w']`
/// - output: `[batch, in, h, w]`, the shape of the layer's unpadded input
fn conv_input_grad(layer: &MaskedConv, g: Tensor<4>) -> Tensor<4> {
    let weight = layer.masked_weight().inner();
    if layer.kernel == [1, 1] && layer.padding == [(0, 0), (0, 0)] {
        let options = ConvOptions::new([1, 1], [0, 0], [1, 1], 1);
        return conv2d(g, weight.swap_dims(0, 1), None, options);
    }
    if let Some(found) = crate::input_grad::conv_input_grad(&g, &weight, layer.padding) {
        return found;
    }
    let options = ConvTransposeOptions::new([1, 1], [0, 0], [0, 0], [1, 1], 1);
    let full = conv_transpose2d(g, weight, None, options);
    let [(top, bottom), (left, right)] = layer.padding;
    if top + bottom + left + right == 0 {
        return full;
    }
    let [n, c, h, w] = full.dims();
    full.slice([0..n, 0..c, top..h - bottom, left..w - right])
}

/// A conditioning map's forward pass on the plain backend, `h·V`.
fn linear_forward(layer: &CondLinear, h: Tensor<2>) -> Tensor<2> {
    linear(h, layer.weight.val().inner(), None)
}

/// The adjoint of [`shift_down`]: every row moves up by one, the bottom row becomes zero.
fn shift_up(x: Tensor<4>) -> Tensor<4> {
    let [b, c, h, w] = x.dims();
    let zeros = Tensor::zeros([b, c, 1, w], &x.device());
    if h == 1 {
        return zeros;
    }
    Tensor::cat(vec![x.narrow(2, 1, h - 1), zeros], 2)
}

/// The sum of a per-position gradient over the positions, `[batch, ch, h, w] → [batch, ch]`.
fn sum_positions(g: Tensor<4>) -> Tensor<2> {
    let [b, c, _, _] = g.dims();
    g.reshape([b as i64, c as i64, -1])
        .sum_dim(2)
        .reshape([b, c])
}

/// What the forward pass keeps of one gated layer for the backward pass.
struct Saved {
    /// Input of the vertical convolution.
    v_in: Tensor<4>,
    /// Input of the link, the shifted vertical pre-activation.
    link_in: Tensor<4>,
    /// `tanh` and `σ` halves of the vertical gate, when the layer gates its vertical output.
    v_gate: Option<(Tensor<4>, Tensor<4>)>,
    /// Input of the horizontal convolution.
    h_in: Tensor<4>,
    /// `tanh` and `σ` halves of the horizontal gate.
    h_gate: (Tensor<4>, Tensor<4>),
    /// Input of the horizontal output convolution (the gate's output).
    out_in: Tensor<4>,
}

/// A convolution's record, with its output gradient standing in for the probe.
fn conv_record(name: String, layer: &MaskedConv, input: Tensor<4>, grad: Tensor<4>) -> LayerRecord {
    LayerRecord {
        name,
        input: LayerInput::Conv {
            input,
            kernel: layer.kernel,
            padding: layer.padding,
            dilation: [1, 1],
        },
        probe: ProbeTensor::Map(grad),
        weight_shape: layer.weight_shape().to_vec(),
        mask: layer.mask.clone().map(Tensor::inner),
        has_bias: layer.bias.is_some(),
        output: None,
    }
}

/// A conditioning map's record, with its output gradient standing in for the probe.
fn linear_record(
    name: String,
    layer: &CondLinear,
    input: Tensor<2>,
    grad: Tensor<2>,
) -> LayerRecord {
    LayerRecord {
        name,
        input: LayerInput::Linear { input },
        probe: ProbeTensor::Vector(grad),
        weight_shape: layer.weight.dims().to_vec(),
        mask: None,
        has_bias: false,
        output: None,
    }
}

/// Each image's log-likelihood and its gradient with respect to the logits, by autodiff
/// through the head alone.
fn head_by_autodiff(
    head: Head,
    logits: Tensor<4>,
    images: Tensor<4, Int>,
    batch: usize,
) -> fisher_core::Result<(Tensor<1>, Tensor<4>)> {
    let logits = logits.autodiff().require_grad();
    let map = heads::log_prob_map(head, logits.clone(), images.autodiff());
    let ll = map
        .clone()
        .inner()
        .reshape([batch as i64, -1])
        .sum_dim(1)
        .reshape([batch]);
    let grads = map.sum().backward();
    let g_logits = logits.grad(&grads).ok_or_else(|| {
        fisher_core::Error::config(
            "output head",
            format!("{head:?}"),
            "its log-likelihood does not depend on the network's output",
        )
    })?;
    Ok((ll, g_logits))
}

impl PixelCnn {
    /// Each image's log-likelihood and every parameterised layer's per-example output
    /// gradient, from one forward pass and a hand-written backward pass (see
    /// [`crate::backward`]).
    ///
    /// The records come in the order of [`parameter_blocks`](Self::parameter_blocks), like
    /// those of [`log_likelihood_probed`](Self::log_likelihood_probed), but each record's
    /// `probe` holds the gradient itself, `∂(Σₙ ℓₙ)/∂y` for the layer's output `y`, which is
    /// what the probe's gradient would be after a backward pass. No autodiff graph of the
    /// network is built; the log-likelihood and the records carry no autodiff.
    ///
    /// # Shapes
    /// - `images`: `[batch, c, h, w]`, values in `0..=255`, on any device
    /// - `cond`: `[batch, cond_dim]` or `None`
    /// - output: `[batch]` and one record per parameterised layer
    ///
    /// # Errors
    /// As [`log_prob_map`](Self::log_prob_map).
    pub fn log_likelihood_output_grads(
        &self,
        images: Tensor<4, Int>,
        cond: Option<Tensor<2>>,
    ) -> fisher_core::Result<(Tensor<1>, Vec<LayerRecord>)> {
        self.check_inputs(&images, cond.as_ref())?;
        let images = images.inner();
        let cond = cond.map(Tensor::inner);
        let batch = images.dims()[0];
        let x = PixelScaling::Symmetric.apply(images.clone());
        let n_layers = self.layers.len();

        // Vertical stack.
        let mut vertical_saved = Vec::with_capacity(n_layers);
        let mut links = Vec::with_capacity(n_layers);
        let mut v = x.clone();
        for (l, layer) in self.layers.iter().enumerate() {
            let pre = conv_forward(&layer.v_conv, v.clone());
            let link_in = shift_down(pre.clone());
            links.push(conv_forward(&layer.v_to_h, link_in.clone()));
            let gated = layer.v_cond.is_some() || l + 1 < n_layers;
            let pre = match (&layer.v_cond, &cond) {
                (Some(map), Some(c)) => add_vector(pre, linear_forward(map, c.clone())),
                _ => pre,
            };
            let (next, v_gate) = if gated {
                let (out, t, s) = gate_forward(pre, None);
                (out, Some((t, s)))
            } else {
                (x.clone(), None)
            };
            let v_in = std::mem::replace(&mut v, next);
            vertical_saved.push((v_in, link_in, v_gate));
        }

        // Horizontal stack.
        let mut saved = Vec::with_capacity(n_layers);
        let mut h = x;
        for ((v_in, link_in, v_gate), (link, layer)) in vertical_saved
            .into_iter()
            .zip(links.into_iter().zip(&self.layers))
        {
            // The sums in the order of the plain pass, so that the values are the same.
            let pre = conv_forward(&layer.h_conv, h.clone());
            let (out_in, t, s) = match (&layer.h_cond, &cond) {
                (Some(map), Some(c)) => {
                    let pre = add_vector(pre + link, linear_forward(map, c.clone()));
                    gate_forward(pre, None)
                }
                _ => gate_forward(pre, Some(link)),
            };
            let out = conv_forward(&layer.h_out, out_in.clone());
            let next = if layer.residual { h.clone() + out } else { out };
            let h_in = std::mem::replace(&mut h, next);
            saved.push(Saved {
                v_in,
                link_in,
                v_gate,
                h_in,
                h_gate: (t, s),
                out_in,
            });
        }
        let head_in = relu(h.clone());
        let hidden = conv_forward(&self.head_hidden, head_in.clone());
        let out_in = relu(hidden);
        let logits = conv_forward(&self.head_out, out_in.clone());

        // The gradient of Σ log p with respect to the logits: in closed form for the
        // categorical head on the CPU, else by autodiff through the head alone.
        let head = self.config().head;
        let closed_form = match head {
            Head::Categorical => categorical_head(&logits, &images),
            Head::LogisticMixture(_) => None,
        };
        let (ll, g_logits) = match closed_form {
            Some(found) => found,
            None => head_by_autodiff(head, logits, images, batch)?,
        };

        // Head backward; a ReLU passes the gradient where its input was positive.
        let g_hidden = conv_input_grad(&self.head_out, g_logits.clone())
            .mask_fill(out_in.clone().lower_equal_elem(0.0), 0.0);
        let mut g_h = conv_input_grad(&self.head_hidden, g_hidden.clone())
            .mask_fill(h.lower_equal_elem(0.0), 0.0);
        let tail = [
            conv_record("head_hidden".into(), &self.head_hidden, head_in, g_hidden),
            conv_record("head_out".into(), &self.head_out, out_in, g_logits),
        ];

        // Horizontal stack backward, last layer first.
        let mut horizontal = Vec::with_capacity(3 * n_layers);
        let mut g_links = Vec::with_capacity(n_layers);
        for (l, (layer, s)) in self.layers.iter().zip(saved.iter()).enumerate().rev() {
            let g_out = g_h;
            let (t, sg) = s.h_gate.clone();
            let g_pre = gate_backward(t, sg, conv_input_grad(&layer.h_out, g_out.clone()), None);
            let mut records = vec![conv_record(
                layer_name(l, "h_conv"),
                &layer.h_conv,
                s.h_in.clone(),
                g_pre.clone(),
            )];
            if let (Some(map), Some(c)) = (&layer.h_cond, &cond) {
                records.push(linear_record(
                    layer_name(l, "h_cond"),
                    map,
                    c.clone(),
                    sum_positions(g_pre.clone()),
                ));
            }
            records.push(conv_record(
                layer_name(l, "h_out"),
                &layer.h_out,
                s.out_in.clone(),
                g_out.clone(),
            ));
            horizontal.push(records);
            g_h = if l == 0 {
                g_out
            } else {
                let g_in = conv_input_grad(&layer.h_conv, g_pre.clone());
                if layer.residual { g_in + g_out } else { g_in }
            };
            g_links.push(g_pre);
        }
        drop(g_h);
        g_links.reverse();

        // Vertical stack backward, last layer first.
        let mut vertical = Vec::with_capacity(3 * n_layers);
        let mut g_v: Option<Tensor<4>> = None;
        for (l, ((layer, s), g_link)) in
            self.layers.iter().zip(saved).zip(g_links).enumerate().rev()
        {
            let from_link = shift_up(conv_input_grad(&layer.v_to_h, g_link.clone()));
            let mut cond_record = None;
            let g_pre = match s.v_gate {
                Some((t, sg)) => {
                    let g_next = g_v.take().unwrap_or_else(|| t.zeros_like());
                    match (&layer.v_cond, &cond) {
                        (Some(map), Some(c)) => {
                            let g_gate = gate_backward(t, sg, g_next, None);
                            cond_record = Some(linear_record(
                                layer_name(l, "v_cond"),
                                map,
                                c.clone(),
                                sum_positions(g_gate.clone()),
                            ));
                            g_gate + from_link
                        }
                        _ => gate_backward(t, sg, g_next, Some(from_link)),
                    }
                }
                None => from_link,
            };
            if l > 0 {
                g_v = Some(conv_input_grad(&layer.v_conv, g_pre.clone()));
            }
            let mut records = vec![
                conv_record(layer_name(l, "v_conv"), &layer.v_conv, s.v_in, g_pre),
                conv_record(layer_name(l, "v_to_h"), &layer.v_to_h, s.link_in, g_link),
            ];
            records.extend(cond_record);
            vertical.push(records);
        }

        let records = vertical
            .into_iter()
            .rev()
            .flatten()
            .chain(horizontal.into_iter().rev().flatten())
            .chain(tail)
            .collect();
        Ok((ll, records))
    }
}
