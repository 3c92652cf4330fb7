//! The conditional normalizing flow decoder (Dinh et al. 2017, RealNVP; Kingma & Dhariwal
//! 2018, Glow), conditioned on the embedding `z` in every coupling.
//!
//! An 8-bit image `x` is dequantised with uniform noise `u ∈ [0, 1)ᴰ` and preprocessed to an
//! unbounded `v`, which an invertible network `f(·; z)` maps to Gaussian latents `ε`:
//!
//! ```text
//! y = (x + u) / 256 ∈ [0, 1)        v = g(y)        ε = f(v; z)
//! g(y) = logit(α + (1 − 2α)·y)   or   g(y) = y − ½   (the "centered" preprocessing)
//! log p(x | z) ≥ E_u[ log N(ε; 0, I) + log |det ∂ε/∂v| + log |det ∂v/∂y| ] − D·ln 256
//! ```
//!
//! `f` is multi-scale: each of `L` levels squeezes (2×2 pixels → 4 channels), runs `K` steps
//! of actnorm → invertible 1×1 convolution → affine coupling, and (except the last) factors
//! half of its channels out as latents. Every coupling network sees features of `z`. Training
//! maximises the bound above with one noise draw per image (reported in bits per dimension);
//! decoding draws `ε ~ N(0, T²·I)` at a temperature `T` from the seed and inverts:
//! `x = ⌊256·g⁻¹(f⁻¹(ε; z))⌋`.
//!
//! The invertible 1×1 convolutions are kept in LU form, so their log-determinant is a sum of
//! logs with no determinant in the training graph (see `InvConv` in the source); actnorm is
//! initialised from the first training batch; coupling scales are `sigmoid(r + 2) ∈ (0, 1)`.
//!
//! # Numerics
//! The log-determinant is computed in f32 and agrees with the same network evaluated in f64
//! to about 1e-5 relative. In f64 it equals the log-determinant of the brute-force Jacobian to
//! 1e-9 (`src/flow/tests.rs`); an f32 Jacobian is not a usable oracle, its rounding moves
//! `log |det|` by up to 1e-3 on these moderately ill-conditioned maps. `decode_latents`
//! inverts `encode` to about 3e-7 on the `[0, 1]` scale on the test networks (asserted to
//! 1e-4), far below the 1/256 quantisation step.

mod layers;

use std::path::Path;

use burn::config::Config;
use burn::module::Module;
use burn::tensor::activation::{relu, sigmoid};
use burn::tensor::{Device, Int, Tensor, TensorData};
use fisher_core::{Decoder, Error as CoreError, ImageShape};

use self::layers::{ActNorm, Coupling, InvConv, squeeze, unsqueeze};
use crate::checkpoint;
use crate::deterministic::{check_spec_dim, positive};
use crate::nn::{Dense, Init, SeedStream, Standardise, to_vec};
use crate::trainer::{Trainer, check_embeddings, check_pairs, onto, standardisation};
use crate::{DecoderConfig, EmbeddingSpec, Result, TrainableDecoder};

/// How the flow maps dequantised pixels `y ∈ [0, 1)` to its input `v`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum FlowPreprocessing {
    /// `v = logit(α + (1 − 2α)·y)`, unbounded (RealNVP); `α` is
    /// [`FlowConfig::logit_alpha`].
    Logit,
    /// `v = y − ½ ∈ [−½, ½)` (Glow).
    Centered,
}

/// Config of a [`FlowDecoder`].
#[derive(Config, Debug)]
pub struct FlowConfig {
    /// Length `k` of the embeddings, at least 1.
    pub embedding_dim: usize,
    /// Shape of the images; height and width must be multiples of `2^levels`.
    pub image: ImageShape,
    /// Number of levels `L`, at least 1.
    #[config(default = 2)]
    pub levels: usize,
    /// Flow steps `K` per level, at least 1.
    #[config(default = 4)]
    pub steps_per_level: usize,
    /// Channels of the hidden layers of each coupling network, at least 1.
    #[config(default = 64)]
    pub hidden_channels: usize,
    /// Length of the embedding features shared by the coupling networks, at least 1.
    #[config(default = 128)]
    pub cond_dim: usize,
    /// The preprocessing `g`.
    #[config(default = "FlowPreprocessing::Logit")]
    pub preprocessing: FlowPreprocessing,
    /// `α` of the logit preprocessing, in `(0, ½)`; 0.05 as in RealNVP keeps `v` within
    /// `±logit(0.05) ≈ ±2.9`.
    #[config(default = 0.05)]
    pub logit_alpha: f64,
    /// Temperature `T ≥ 0` at which [`Decoder::decode`] samples; 0.7 as in Glow trades
    /// diversity for cleaner images.
    #[config(default = 0.7)]
    pub temperature: f64,
    /// Standard deviation of the last layer of each coupling network at initialisation, ≥ 0.
    /// 0 (the default, as in Glow) starts every coupling near the identity.
    #[config(default = 0.0)]
    pub output_init_std: f64,
    /// Adam's learning rate, positive.
    #[config(default = 1e-3)]
    pub learning_rate: f64,
    /// Seed of the initial weights and of the training dequantisation noise.
    #[config(default = 0)]
    pub seed: u64,
}

impl FlowConfig {
    /// Checks every setting.
    ///
    /// # Errors
    /// [`fisher_core::Error::Config`] naming the setting and its value.
    pub fn validate(&self) -> Result<()> {
        positive("embedding_dim", self.embedding_dim)?;
        positive("levels", self.levels)?;
        positive("steps_per_level", self.steps_per_level)?;
        positive("hidden_channels", self.hidden_channels)?;
        positive("cond_dim", self.cond_dim)?;
        let factor = 1usize << self.levels.min(16);
        if self.levels > 16
            || !self.image.height.is_multiple_of(factor)
            || !self.image.width.is_multiple_of(factor)
        {
            let reason = format!("image {} must be divisible by 2^levels", self.image);
            return Err(CoreError::config("levels", self.levels, reason).into());
        }
        let checks = [
            (
                "logit_alpha",
                self.logit_alpha,
                self.logit_alpha > 0.0 && self.logit_alpha < 0.5,
            ),
            ("temperature", self.temperature, self.temperature >= 0.0),
            (
                "output_init_std",
                self.output_init_std,
                self.output_init_std >= 0.0,
            ),
            (
                "learning_rate",
                self.learning_rate,
                self.learning_rate > 0.0,
            ),
        ];
        for (name, value, ok) in checks {
            if !(ok && value.is_finite()) {
                let reason = "outside its range (see FlowConfig's docs)";
                return Err(CoreError::config(name, value, reason).into());
            }
        }
        Ok(())
    }

    /// Builds a flow with weights drawn from `seed`, for embeddings described by `spec`.
    ///
    /// # Errors
    /// When the config is invalid or `spec.k != embedding_dim`.
    pub fn init(&self, spec: EmbeddingSpec, device: &Device) -> Result<FlowDecoder> {
        self.validate()?;
        check_spec_dim(self.embedding_dim, &spec)?;
        let net = FlowNet::new(self, &device.clone().autodiff());
        Ok(FlowDecoder {
            config: self.clone(),
            spec,
            trainer: Trainer::new(net, device),
        })
    }

    /// Shapes `[c, h, w]` of the latents each level factors out, the last level's last.
    pub fn latent_shapes(&self) -> Vec<[usize; 3]> {
        let [mut c, mut h, mut w] = self.image.to_array();
        let mut shapes = Vec::with_capacity(self.levels);
        for level in 0..self.levels {
            (c, h, w) = (4 * c, h / 2, w / 2);
            if level + 1 < self.levels {
                shapes.push([c - c / 2, h, w]);
                c /= 2;
            } else {
                shapes.push([c, h, w]);
            }
        }
        shapes
    }
}

/// One step of flow: actnorm, invertible 1×1 convolution, conditional coupling.
#[derive(Module, Debug)]
struct FlowStep {
    norm: ActNorm,
    mix: InvConv,
    coupling: Coupling,
}

impl FlowStep {
    fn forward(&self, x: Tensor<4>, e: Tensor<2>) -> (Tensor<4>, Tensor<1>) {
        let (x, a) = self.norm.forward(x);
        let (x, b) = self.mix.forward(x);
        let (x, c) = self.coupling.forward(x, e);
        (x, a + b + c)
    }

    fn inverse(&self, y: Tensor<4>, e: Tensor<2>) -> Tensor<4> {
        let x = self.coupling.inverse(y, e);
        let x = self.mix.inverse(x);
        self.norm.inverse(x)
    }
}

/// The steps of one level.
#[derive(Module, Debug)]
struct Level {
    steps: Vec<FlowStep>,
}

/// The invertible network `f(·; z)`.
#[derive(Module, Debug)]
pub(crate) struct FlowNet {
    /// Standardisation of `z`, fitted before training.
    pub(crate) input: Standardise,
    condition: Dense,
    levels: Vec<Level>,
}

impl FlowNet {
    fn new(config: &FlowConfig, device: &Device) -> Self {
        let mut rng = SeedStream::new(config.seed);
        let condition = Dense::new(
            config.embedding_dim,
            config.cond_dim,
            Init::relu(),
            &mut rng,
            device,
        );
        let mut channels = config.image.channels;
        let mut levels = Vec::with_capacity(config.levels);
        for level in 0..config.levels {
            channels *= 4;
            let steps = (0..config.steps_per_level)
                .map(|_| FlowStep {
                    norm: ActNorm::new(channels, device),
                    mix: InvConv::new(channels, &mut rng, device),
                    coupling: Coupling::new(
                        channels,
                        config.hidden_channels,
                        config.cond_dim,
                        config.output_init_std as f32,
                        &mut rng,
                        device,
                    ),
                })
                .collect();
            levels.push(Level { steps });
            if level + 1 < config.levels {
                channels /= 2;
            }
        }
        let input = Standardise::identity(config.embedding_dim, device);
        Self {
            input,
            condition,
            levels,
        }
    }

    fn features(&self, z: Tensor<2>) -> Tensor<2> {
        relu(self.condition.forward(self.input.forward(z)))
    }

    /// `v ↦ ε`: the latents of each level and `log |det ∂ε/∂v|`.
    ///
    /// # Shapes
    /// - `v`: `[batch, c, h, w]`, `z`: `[batch, k]`
    /// - output: one `[batch, cᵢ, hᵢ, wᵢ]` per level (see [`FlowConfig::latent_shapes`]),
    ///   and `[batch]`
    fn encode(&self, v: Tensor<4>, z: Tensor<2>) -> (Vec<Tensor<4>>, Tensor<1>) {
        let [b, ..] = v.dims();
        let e = self.features(z);
        let mut logdet = Tensor::<1>::zeros([b], (&v.device(), v.dtype()));
        let mut latents = Vec::with_capacity(self.levels.len());
        let mut x = v;
        for (i, level) in self.levels.iter().enumerate() {
            x = squeeze(x);
            for step in &level.steps {
                let (y, ld) = step.forward(x, e.clone());
                x = y;
                logdet = logdet + ld;
            }
            if i + 1 < self.levels.len() {
                let [_, c, _, _] = x.dims();
                latents.push(x.clone().narrow(1, c / 2, c - c / 2));
                x = x.narrow(1, 0, c / 2);
            }
        }
        latents.push(x);
        (latents, logdet)
    }

    /// `ε ↦ v`, the exact inverse of [`encode`](Self::encode).
    fn decode(&self, mut latents: Vec<Tensor<4>>, z: Tensor<2>) -> Tensor<4> {
        let e = self.features(z);
        let mut x = latents.pop().expect("one latent per level");
        for level in self.levels.iter().rev() {
            for step in level.steps.iter().rev() {
                x = step.inverse(x, e.clone());
            }
            x = unsqueeze(x);
            if let Some(factored) = latents.pop() {
                x = Tensor::cat(vec![x, factored], 1);
            }
        }
        x
    }

    /// Sets every actnorm from the statistics of its input on `v` (data-dependent init).
    fn initialised_on(mut self, v: Tensor<4>, z: Tensor<2>) -> Self {
        let e = self.features(z).detach();
        let n = self.levels.len();
        let mut x = v.detach();
        for (i, level) in self.levels.iter_mut().enumerate() {
            x = squeeze(x);
            for step in &mut level.steps {
                step.norm = step.norm.clone().initialised_on(x.clone());
                x = step.forward(x, e.clone()).0.detach();
            }
            if i + 1 < n {
                let [_, c, _, _] = x.dims();
                x = x.narrow(1, 0, c / 2);
            }
        }
        self
    }
}

/// Decodes embeddings by sampling a conditional flow; see the [module docs](self).
pub struct FlowDecoder {
    config: FlowConfig,
    spec: EmbeddingSpec,
    trainer: Trainer<FlowNet>,
}

impl FlowDecoder {
    /// The decoder's config.
    pub fn config(&self) -> &FlowConfig {
        &self.config
    }

    /// Maps dequantised images `y ∈ [0, 1)` to latents and returns them flattened, with the
    /// log-determinant `log |det ∂ε/∂y|` of the whole map (preprocessing included).
    ///
    /// It runs the training copy of the network, so when `y` is an autodiff tensor that
    /// requires a gradient, derivatives with respect to `y` can be taken.
    ///
    /// # Shapes
    /// - `y`: `[batch, channels, height, width]`; `z`: `[batch, k]`
    /// - output: latents `[batch, c·h·w]` (each level's block flattened channel-first, in
    ///   the order of [`FlowConfig::latent_shapes`]) and log-determinants `[batch]`
    ///
    /// # Errors
    /// When the shapes disagree with the decoder's.
    pub fn encode(&self, y: Tensor<4>, z: Tensor<2>) -> Result<(Tensor<2>, Tensor<1>)> {
        check_pairs(
            self.config.embedding_dim,
            self.config.image,
            z.dims(),
            y.dims(),
        )?;
        let (v, pre) = preprocess(&self.config, y);
        let (latents, logdet) = self.trainer.model.encode(v, z);
        Ok((flatten(latents), logdet + pre))
    }

    /// The inverse of [`encode`](Self::encode): dequantised images from flattened latents.
    ///
    /// # Shapes
    /// - `latents`: `[batch, c·h·w]`; `z`: `[batch, k]`
    /// - output: `[batch, channels, height, width]`
    ///
    /// # Errors
    /// When the shapes disagree with the decoder's.
    pub fn decode_latents(&self, latents: Tensor<2>, z: Tensor<2>) -> Result<Tensor<4>> {
        check_embeddings(self.config.embedding_dim, z.dims())?;
        let [b, d] = latents.dims();
        if d != self.config.image.dims() || b != z.dims()[0] {
            let expected = [z.dims()[0], self.config.image.dims()];
            return Err(CoreError::shape("latents", &expected, &[b, d]).into());
        }
        let device = self.trainer.plain_device();
        let (latents, z) = (onto(latents, &device), onto(z, &device));
        let blocks = self.unflatten(latents);
        let v = self.trainer.inference().decode(blocks, z);
        Ok(postprocess(&self.config, v))
    }

    /// Samples images for `z` at `temperature` (0 gives the image at latent zero).
    ///
    /// # Shapes
    /// - `z`: `[batch, k]`; output `[batch, channels, height, width]`, values in `0..=255`
    ///
    /// # Errors
    /// When `z` is not `[batch, k]` or the temperature is negative or not finite.
    pub fn sample(&self, z: Tensor<2>, seed: u64, temperature: f64) -> Result<Tensor<4, Int>> {
        check_embeddings(self.config.embedding_dim, z.dims())?;
        if !(temperature >= 0.0 && temperature.is_finite()) {
            let reason = "must be finite and at least 0";
            return Err(CoreError::config("temperature", temperature, reason).into());
        }
        let _span = tracing::info_span!("flow_sample", temperature);
        let [b, _] = z.dims();
        let d = self.config.image.dims();
        let noise = SeedStream::new(seed).normal(b * d);
        let noise: Vec<f32> = noise.iter().map(|v| v * temperature as f32).collect();
        let device = self.trainer.plain_device();
        let latents = Tensor::<2>::from_data(TensorData::new(noise, [b, d]), &device);
        let y = self.decode_latents(latents, z)?;
        Ok(y.mul_scalar(256.0).floor().clamp(0.0, 255.0).int())
    }

    /// Reads a checkpoint written by [`TrainableDecoder::save`], checking that it fits
    /// `config` (learning rate, seed and temperature may differ; `config`'s are kept).
    ///
    /// # Errors
    /// [`Error::CheckpointMismatch`](crate::Error::CheckpointMismatch) naming the setting and
    /// both values; I/O and format errors.
    pub fn load(path: &Path, config: &FlowConfig, device: &Device) -> Result<Self> {
        let wanted = DecoderConfig::Flow(config.clone());
        let free = ["learning_rate", "seed", "temperature"];
        let parts = checkpoint::read_checked(path, &wanted, &free)?;
        let decoder = config.init(parts.header.spec.clone(), device)?;
        let trainer = decoder.trainer.restored(path, parts)?;
        Ok(Self { trainer, ..decoder })
    }

    fn unflatten(&self, latents: Tensor<2>) -> Vec<Tensor<4>> {
        let [b, _] = latents.dims();
        let mut start = 0;
        self.config
            .latent_shapes()
            .into_iter()
            .map(|[c, h, w]| {
                let block = latents.clone().narrow(1, start, c * h * w);
                start += c * h * w;
                block.reshape([b, c, h, w])
            })
            .collect()
    }

    fn noise(&self, seed: u64, dims: [usize; 4]) -> Tensor<4> {
        let n = dims.iter().product();
        let values = SeedStream::new(seed).unit(n);
        Tensor::from_data(TensorData::new(values, dims), &self.trainer.plain_device())
    }
}

/// `v = g(y)` and `log |det ∂v/∂y|` per example.
fn preprocess(config: &FlowConfig, y: Tensor<4>) -> (Tensor<4>, Tensor<1>) {
    let [b, ..] = y.dims();
    match config.preprocessing {
        FlowPreprocessing::Centered => {
            let zero = Tensor::zeros([b], (&y.device(), y.dtype()));
            (y.sub_scalar(0.5), zero)
        }
        FlowPreprocessing::Logit => {
            let alpha = config.logit_alpha;
            let p = y.mul_scalar(1.0 - 2.0 * alpha).add_scalar(alpha);
            let (log_p, log_q) = (p.clone().log(), p.neg().add_scalar(1.0).log());
            let v = log_p.clone() - log_q.clone();
            let per_pixel = (log_p + log_q).neg().add_scalar((1.0 - 2.0 * alpha).ln());
            (v, per_pixel.flatten::<2>(1, 3).sum_dim(1).reshape([b]))
        }
    }
}

/// `y = g⁻¹(v)`.
fn postprocess(config: &FlowConfig, v: Tensor<4>) -> Tensor<4> {
    match config.preprocessing {
        FlowPreprocessing::Centered => v.add_scalar(0.5),
        FlowPreprocessing::Logit => {
            let alpha = config.logit_alpha;
            sigmoid(v).sub_scalar(alpha).div_scalar(1.0 - 2.0 * alpha)
        }
    }
}

/// `log p(x | z)` in nats with the dequantisation noise `u`, computed by `net`.
///
/// # Shapes
/// - `images`, `noise`: `[batch, c, h, w]`; `z`: `[batch, k]`; output `[batch]`
fn log_likelihood_with(
    config: &FlowConfig,
    net: &FlowNet,
    images: Tensor<4, Int>,
    z: Tensor<2>,
    noise: Tensor<4>,
) -> Tensor<1> {
    let d = config.image.dims() as f64;
    let y = (images.float() + noise).div_scalar(256.0);
    let (v, pre) = preprocess(config, y);
    let (latents, logdet) = net.encode(v, z);
    let eps = flatten(latents);
    let log_normal = eps
        .powi_scalar(2)
        .add_scalar((2.0 * std::f64::consts::PI).ln())
        .mul_scalar(-0.5)
        .sum_dim(1);
    let [b, _] = log_normal.dims();
    log_normal.reshape([b]) + logdet + pre.sub_scalar(d * 256f64.ln())
}

/// Concatenates each level's latents, flattened channel-first.
fn flatten(latents: Vec<Tensor<4>>) -> Tensor<2> {
    Tensor::cat(
        latents.into_iter().map(|l| l.flatten::<2>(1, 3)).collect(),
        1,
    )
}

/// Seed of the dequantisation noise of training step `step`.
fn step_seed(seed: u64, step: usize) -> u64 {
    seed ^ (step as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

impl Decoder for FlowDecoder {
    fn embedding_dim(&self) -> usize {
        self.config.embedding_dim
    }

    fn image_shape(&self) -> ImageShape {
        self.config.image
    }

    /// Samples at the config's temperature; see [`FlowDecoder::sample`].
    fn decode(&self, z: Tensor<2>, seed: u64) -> fisher_core::Result<Tensor<4, Int>> {
        Ok(self.sample(z, seed, self.config.temperature)?)
    }

    /// One Adam step on the negative dequantised log-likelihood, in bits per dimension. The
    /// first step initialises every actnorm from the batch.
    fn train_step(&mut self, z: Tensor<2>, images: Tensor<4, Int>) -> fisher_core::Result<f64> {
        check_pairs(
            self.config.embedding_dim,
            self.config.image,
            z.dims(),
            images.dims(),
        )?;
        let _span = tracing::info_span!("flow_train_step", step = self.trainer.steps);
        let device = self.trainer.plain_device();
        let (z, images) = (onto(z, &device), onto(images, &device));
        if !self.trainer.input_fitted {
            self.standardise_embeddings(&to_vec(z.clone()))?;
        }
        let noise = self.noise(
            step_seed(self.config.seed, self.trainer.steps),
            images.dims(),
        );

        if self.trainer.steps == 0 {
            let y = (images.clone().float() + noise.clone()).div_scalar(256.0);
            let (v, _) = preprocess(&self.config, y);
            let net = self.trainer.model.clone();
            self.trainer.model = net.initialised_on(v, z.clone());
        }

        let config = &self.config;
        let bits = config.image.dims() as f64 * std::f64::consts::LN_2;
        let loss = self.trainer.step(config.learning_rate, |net| {
            log_likelihood_with(config, net, images, z, noise)
                .mean()
                .neg()
                .div_scalar(bits)
        })?;
        Ok(loss)
    }
}

impl TrainableDecoder for FlowDecoder {
    fn config(&self) -> DecoderConfig {
        DecoderConfig::Flow(self.config.clone())
    }

    fn spec(&self) -> &EmbeddingSpec {
        &self.spec
    }

    fn steps(&self) -> usize {
        self.trainer.steps
    }

    fn reconstruct(&self, z: Tensor<2>) -> Result<Tensor<4, Int>> {
        self.sample(z, 0, 0.0)
    }

    fn log_likelihood(
        &self,
        z: Tensor<2>,
        images: Tensor<4, Int>,
        seed: u64,
    ) -> Result<Option<Tensor<1>>> {
        check_pairs(
            self.config.embedding_dim,
            self.config.image,
            z.dims(),
            images.dims(),
        )?;
        let device = self.trainer.plain_device();
        let (z, images) = (onto(z, &device), onto(images, &device));
        let noise = self.noise(seed, images.dims());
        let net = self.trainer.inference();
        Ok(Some(log_likelihood_with(
            &self.config,
            &net,
            images,
            z,
            noise,
        )))
    }

    fn standardise_embeddings(&mut self, z: &[f32]) -> Result<()> {
        let k = self.config.embedding_dim;
        let trainer = &mut self.trainer;
        trainer.model.input = standardisation(z, k, trainer.steps, &trainer.device)?;
        trainer.input_fitted = true;
        Ok(())
    }

    fn save(&self, path: &Path) -> Result<()> {
        let config = TrainableDecoder::config(self);
        self.trainer.save(path, config, &self.spec)
    }
}

#[cfg(test)]
mod tests;
