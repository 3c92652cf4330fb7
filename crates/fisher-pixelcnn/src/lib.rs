//! Gated PixelCNN with a 256-way categorical and a discretized logistic mixture head: the
//! density model every Fisher score of fisher-embed comes from.
//!
//! The model (van den Oord et al., 2016, "Conditional Image Generation with PixelCNN
//! Decoders") factorises an image into sub-pixels, raster order and R → G → B inside a pixel,
//!
//! ```text
//! log p(x | c) = Σᵢ log p(xᵢ | x<ᵢ, c),
//! ```
//!
//! with vertical and horizontal stacks of gated units `tanh(·) ⊙ σ(·)` and no blind spot, a
//! residual horizontal path, a masked 7×7 first layer, 3×3 layers after and 1×1 output
//! layers ([`model`]). The output distribution is a 256-way softmax or the discretized
//! logistic mixture of PixelCNN++ (Salimans et al., 2017) ([`heads`]). An optional global
//! conditioning vector `c` enters every gated unit through a linear map. Images are 8-bit and
//! enter the network scaled by [`PixelScaling::Symmetric`](fisher_core::PixelScaling) to
//! `[−1, 1]`.
//!
//! | item | does |
//! | --- | --- |
//! | [`PixelCnnConfig`] | sizes, head, conditioning, init seed; `init(&device)` |
//! | [`PixelCnn`] | [`DensityModel`](fisher_core::DensityModel), `log_prob_map`, `sample` |
//! | [`PixelCnn::log_likelihood_probed`] | the probe API for per-example gradients ([`probe`]) |
//! | [`Trainer`], [`evaluate`] | Adam with learning-rate decay, checkpoints, test bits/dim |
//!
//! # Example
//!
//! ```
//! use burn::tensor::Device;
//! use fisher_core::{DensityModel, ImageBatch, ImageShape};
//! use fisher_pixelcnn::PixelCnnConfig;
//!
//! let device = Device::flex();
//! let config = PixelCnnConfig::new(ImageShape::new(1, 8, 8).unwrap())
//!     .with_hidden_channels(8)
//!     .with_layers(2)
//!     .with_head_channels(8);
//! let model = config.init(&device).unwrap();
//!
//! let images = model.sample(2, 1.0, None, 42, &device).unwrap();
//! let ll = model.log_likelihood(images).unwrap().into_data();
//! let ll: Vec<f32> = ll.try_into_vec_as().unwrap();
//! assert_eq!(ll.len(), 2);
//! let bpd = fisher_core::bits_per_dim(f64::from(ll[0]), 64);
//! assert!(bpd > 0.0 && bpd.is_finite());
//! ```
//!
//! # Probe API (for `fisher-score`)
//!
//! Every trainable parameter belongs to a convolution (stride 1, explicit zero padding,
//! optional constant mask, optional bias) or to a bias-free linear conditioning map; there
//! are no other parameters. The pieces, described in [`probe`]:
//!
//! - [`PixelCnn::log_likelihood_probed`]`(images, cond) -> (ll, Vec<`[`LayerRecord`]`>)`: on an
//!   autodiff device, the plain forward pass plus one zero *probe* requiring a gradient added
//!   to each layer's output; each record keeps the layer's input ([`LayerInput::Conv`] with
//!   kernel, padding and dilation, or [`LayerInput::Linear`]), its probe
//!   ([`ProbeTensor::Map`] `[batch, out, h, w]` or [`ProbeTensor::Vector`] `[batch, out]`),
//!   the weight shape, the mask and whether it has a bias. After `ll.sum().backward()`,
//!   `probe.grad(&grads)` is each example's output gradient.
//! - [`PixelCnn::log_likelihood_output_grads`]`(images, cond)`: the same records, with each
//!   example's output gradient in place of the probe, from a forward pass and a hand-written
//!   backward pass ([`backward`]) that build no autodiff graph of the network and run on any
//!   device. On Burn's `flex` CPU device (the `flex` feature, on by default) its gated units
//!   and their gradients run as single passes over memory on all cores; elsewhere as tensor
//!   operations. This is what `fisher-score` uses for the PixelCNN.
//! - [`PixelCnn::parameter_blocks`] -> `Vec<`[`ParamBlock`]`>`: name, shape and mask of every
//!   weight and bias, in record order (each layer's weight, then its bias).
//! - [`PixelCnn::flat_gradient`]`(&grads)`: the ordinary gradient of all free parameters, in
//!   block order, weights row-major `[out, in, kh, kw]` (linear maps: Burn's `[in, out]`),
//!   masked entries left out; [`PixelCnn::num_free_parameters`] is its length and
//!   [`PixelCnn::flat_parameters`] the matching values.
//! - [`PixelCnn::fingerprint`]: a SHA-256 of configuration and parameter values, to tie
//!   embeddings to a model.
//!
//! # Parameter counts
//!
//! See [`PixelCnnConfig`]: the default Fashion-MNIST model (64 channels, 8 gated layers,
//! categorical head) has 670 592 parameters, 670 464 of them free.
//!
//! # Numerics
//!
//! Log-likelihoods are f32 sums over sub-pixels; per-sub-pixel terms use a log-softmax
//! (categorical) or the PixelCNN++ log-mass with clamped log-scales and a density fallback
//! for tiny bins (mixture), so values stay finite for all-0, all-255 and scaled-up
//! parameters (tested). The mixture's 256 bin masses sum to 1 within about 1e-5, not exactly,
//! because of that fallback; the categorical head sums to 1 to f32 precision.
//!
//! # Limitations
//!
//! - Training runs on whatever device the caller passes; on the CPU backend the default
//!   Fashion-MNIST model trains at 3 to 8.5 images per second on two cores (batch 32,
//!   shared or idle), so one epoch takes 2 to 5 hours: 30 minutes gave 3.52 bits/dim and
//!   94.5 minutes (980 steps) 3.15 (see `docs/benchmarks.md`); the usual figures need days.
//! - The vertical stack of the last layer computes a gate input it does not use, and the
//!   first layer's input has no extra all-ones channel marking the image border (PixelCNN++
//!   adds one); both keep every layer a plain masked convolution.
//! - Dropout, weight normalisation and the down/up-sampling of PixelCNN++ are not
//!   implemented; the mixture head follows PixelCNN++ only in its output distribution.
//! - With few hidden channels per colour group, ReLUs before the head can switch off the
//!   dependence of a sub-pixel on some earlier ones at initialisation (the causality tests
//!   use wide enough models).
//! - Sampling runs one image row's vertical pass and one single-row horizontal pass per
//!   sub-pixel; it does not cache activations across sub-pixels (a fast-generation cache
//!   would save a further factor of about the receptive-field width).
//! - The hand-written backward pass knows this network only; a change to the architecture
//!   needs the matching change there (its tests compare every layer's gradient with
//!   autodiff's). Its gates must round as Burn's CPU backend does, so that its forward values
//!   are bit for bit those of the plain pass: approximations a few units in the last place
//!   off moved the logistic-mixture head's gradients by 1e-5 of their largest value. Its
//!   `tanh` and sigmoid run in vector lanes that reproduce glibc's `tanhf` and `expf` (the
//!   version with fused multiply-adds) bit for bit, checked against all 2³² inputs on glibc
//!   2.36 and against a million at the start of every process; with another C library
//!   (musl, macOS, a later glibc that has replaced these functions with correctly rounded
//!   ones, a processor without fused multiply-adds) the check fails and the gates call the
//!   C library one element at a time, which is correct but gives up what the lanes gained on
//!   this machine: about 3% for `tanh` and 4–12% more for the sigmoid, in examples per
//!   second of the scores.
//! - Adam's state is restored exactly on resume, but a resumed run must use the same data
//!   (same order and size) to reproduce an uninterrupted run.

pub mod backward;
pub mod checkpoint;
pub mod config;
pub mod error;
mod fused;
pub mod heads;
pub mod host;
mod input_grad;
mod lanes;
pub mod layers;
pub mod model;
pub mod probe;
pub mod sample;
pub mod train;

pub use config::{Head, PixelCnnConfig};
pub use error::{Error, Result};
pub use layers::{CondLinear, MaskedConv};
pub use model::{GatedLayer, PixelCnn};
pub use probe::{LayerInput, LayerRecord, ParamBlock, ProbeTensor};
pub use train::{Evaluation, Progress, TrainConfig, TrainState, Trainer, evaluate};

#[cfg(test)]
mod record_tests;
