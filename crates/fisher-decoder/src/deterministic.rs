//! The deterministic decoder: a network from an embedding straight to an image.
//!
//! Two fully connected layers lift `z ∈ ℝᵏ` to a small feature map of `C₀ × H/2ⁿ × W/2ⁿ`;
//! `n` stages of (nearest-neighbour upsampling by 2, 3×3 convolution, ReLU) bring it to full
//! size, and a last 3×3 convolution gives the mean `μ = tanh(·) ∈ [−1, 1]` of each sub-pixel
//! (and, for the likelihood loss, its log-scale `ℓ`). As in Dosovitskiy & Brox (2016,
//! "Generating images with perceptual similarity metrics"), it is trained on
//!
//! ```text
//! squared error:        L = mean over sub-pixels of ((μ + 1)/2 − v/255)²  (on the [0, 1] scale)
//! logistic likelihood:  L = −Σ log P(v | μ, e^ℓ) / (c·h·w · ln 2)         (bits per dimension)
//! ```
//!
//! with `P` the discretized logistic of PixelCNN++ (see the `logistic` module). Decoding is
//! deterministic in both cases: it returns the mean rounded to 8 bits and ignores the seed.

use std::path::Path;

use burn::config::Config;
use burn::module::Module;
use burn::tensor::activation::{relu, tanh};
use burn::tensor::{Device, Int, Tensor};
use fisher_core::{Decoder, Error as CoreError, ImageShape, PixelScaling};

use crate::checkpoint;
use crate::nn::{Conv, Dense, Init, SeedStream, Standardise, to_vec, upsample2};
use crate::trainer::{Trainer, check_embeddings, check_pairs, onto, standardisation};
use crate::{DecoderConfig, EmbeddingSpec, Result, TrainableDecoder, logistic};

/// What the deterministic decoder minimises.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum DeterministicLoss {
    /// Mean squared error per sub-pixel on the `[0, 1]` scale.
    Mse,
    /// Negative log-likelihood under a discretized logistic per sub-pixel, in bits per
    /// dimension.
    DiscretizedLogistic,
}

/// Config of a [`DeterministicDecoder`].
#[derive(Config, Debug)]
pub struct DeterministicConfig {
    /// Length `k` of the embeddings, at least 1.
    pub embedding_dim: usize,
    /// Shape of the images; height and width must be multiples of `2^upsamplings`.
    pub image: ImageShape,
    /// Width of the hidden fully connected layer, at least 1.
    #[config(default = 512)]
    pub hidden: usize,
    /// Channels of the smallest feature map; each upsampling stage halves them, down to 8.
    #[config(default = 64)]
    pub base_channels: usize,
    /// Number of upsampling stages `n`; the first feature map is `H/2ⁿ × W/2ⁿ`.
    #[config(default = 2)]
    pub upsamplings: usize,
    /// The training loss.
    #[config(default = "DeterministicLoss::Mse")]
    pub loss: DeterministicLoss,
    /// Adam's learning rate, positive.
    #[config(default = 1e-3)]
    pub learning_rate: f64,
    /// Seed of the initial weights.
    #[config(default = 0)]
    pub seed: u64,
}

impl DeterministicConfig {
    /// Checks every setting.
    ///
    /// # Errors
    /// [`fisher_core::Error::Config`] naming the setting and its value.
    pub fn validate(&self) -> Result<()> {
        let factor = 1usize << self.upsamplings.min(16);
        if self.upsamplings > 16
            || !self.image.height.is_multiple_of(factor)
            || !self.image.width.is_multiple_of(factor)
        {
            return Err(CoreError::config(
                "upsamplings",
                self.upsamplings,
                format!("image {} must be divisible by 2^upsamplings", self.image),
            )
            .into());
        }
        positive("embedding_dim", self.embedding_dim)?;
        positive("hidden", self.hidden)?;
        positive("base_channels", self.base_channels)?;
        if !(self.learning_rate > 0.0 && self.learning_rate.is_finite()) {
            let reason = "must be positive and finite";
            return Err(CoreError::config("learning_rate", self.learning_rate, reason).into());
        }
        Ok(())
    }

    /// Builds a decoder with weights drawn from `seed`, for embeddings described by `spec`.
    ///
    /// # Errors
    /// When the config is invalid or `spec.k != embedding_dim`.
    pub fn init(&self, spec: EmbeddingSpec, device: &Device) -> Result<DeterministicDecoder> {
        self.validate()?;
        check_spec_dim(self.embedding_dim, &spec)?;
        let net = DeterministicNet::new(self, &device.clone().autodiff());
        Ok(DeterministicDecoder {
            config: self.clone(),
            spec,
            trainer: Trainer::new(net, device),
        })
    }

    fn channels(&self, stage: usize) -> usize {
        (self.base_channels >> stage.min(63)).max(8)
    }
}

pub(crate) fn positive(name: &str, value: usize) -> Result<()> {
    if value == 0 {
        return Err(CoreError::config(name, value, "must be at least 1").into());
    }
    Ok(())
}

pub(crate) fn check_spec_dim(embedding_dim: usize, spec: &EmbeddingSpec) -> Result<()> {
    if spec.k != embedding_dim {
        return Err(CoreError::mismatch(
            "embedding dimension k (config vs embeddings)",
            embedding_dim,
            spec.k,
        )
        .into());
    }
    Ok(())
}

/// The network of the deterministic decoder.
#[derive(Module, Debug)]
pub(crate) struct DeterministicNet {
    /// Standardisation of `z`, fitted before training.
    pub(crate) input: Standardise,
    lift: Dense,
    to_map: Dense,
    stages: Vec<Conv>,
    out: Conv,
    /// `[C₀, H/2ⁿ, W/2ⁿ]` of the first feature map.
    start: [usize; 3],
    /// Image channels `c`.
    channels: usize,
}

impl DeterministicNet {
    fn new(config: &DeterministicConfig, device: &Device) -> Self {
        let mut rng = SeedStream::new(config.seed);
        let n = config.upsamplings;
        let start = [
            config.channels(0),
            config.image.height >> n,
            config.image.width >> n,
        ];
        let map_size = start.iter().product();
        let lift = Dense::new(
            config.embedding_dim,
            config.hidden,
            Init::relu(),
            &mut rng,
            device,
        );
        let to_map = Dense::new(config.hidden, map_size, Init::relu(), &mut rng, device);
        let stages = (0..n)
            .map(|i| {
                let (c_in, c_out) = (config.channels(i), config.channels(i + 1));
                Conv::new(c_in, c_out, 3, Init::relu(), &mut rng, device)
            })
            .collect();
        let heads = match config.loss {
            DeterministicLoss::Mse => 1,
            DeterministicLoss::DiscretizedLogistic => 2,
        };
        let c = config.image.channels;
        let out = Conv::new(
            config.channels(n),
            heads * c,
            3,
            Init::Scaled(1.0),
            &mut rng,
            device,
        );
        Self {
            input: Standardise::identity(config.embedding_dim, device),
            lift,
            to_map,
            stages,
            out,
            start,
            channels: c,
        }
    }

    /// The raw head: mean `μ ∈ [−1, 1]` and, for the likelihood loss, log-scale `ℓ`.
    ///
    /// # Shapes
    /// - `z`: `[batch, k]`
    /// - output: `[batch, c, h, w]` each
    fn forward(&self, z: Tensor<2>) -> (Tensor<4>, Option<Tensor<4>>) {
        let [b, _] = z.dims();
        let [c0, h0, w0] = self.start;
        let hidden = relu(self.lift.forward(self.input.forward(z)));
        let mut x = relu(self.to_map.forward(hidden)).reshape([b, c0, h0, w0]);
        for stage in &self.stages {
            x = relu(stage.forward(upsample2(x)));
        }

        let out = self.out.forward(x);
        let c = self.channels;
        let [_, heads, h, w] = out.dims();
        let mean = tanh(out.clone().narrow(1, 0, c));
        let log_scale = (heads > c).then(|| out.narrow(1, c, c));
        debug_assert_eq!([h, w], [h0 << self.stages.len(), w0 << self.stages.len()]);
        (mean, log_scale)
    }
}

/// Maps an embedding to an image with one network; see the [module docs](self).
pub struct DeterministicDecoder {
    config: DeterministicConfig,
    spec: EmbeddingSpec,
    trainer: Trainer<DeterministicNet>,
}

impl DeterministicDecoder {
    /// The decoder's config.
    pub fn config(&self) -> &DeterministicConfig {
        &self.config
    }

    /// Predicted means of each sub-pixel on the `[−1, 1]` scale.
    ///
    /// # Shapes
    /// - `z`: `[batch, k]`
    /// - output: `[batch, channels, height, width]`
    ///
    /// # Errors
    /// When `z` is not `[batch, k]`.
    pub fn mean(&self, z: Tensor<2>) -> Result<Tensor<4>> {
        check_embeddings(self.config.embedding_dim, z.dims())?;
        let z = onto(z, &self.trainer.plain_device());
        Ok(self.trainer.inference().forward(z).0)
    }

    /// Reads a checkpoint written by [`TrainableDecoder::save`], checking that it fits
    /// `config` (learning rate and seed may differ; `config`'s are kept).
    ///
    /// # Errors
    /// [`Error::CheckpointMismatch`](crate::Error::CheckpointMismatch) naming the setting and
    /// both values; I/O and format errors.
    pub fn load(path: &Path, config: &DeterministicConfig, device: &Device) -> Result<Self> {
        let wanted = DecoderConfig::Deterministic(config.clone());
        let parts = checkpoint::read_checked(path, &wanted, &["learning_rate", "seed"])?;
        let decoder = config.init(parts.header.spec.clone(), device)?;
        let trainer = decoder.trainer.restored(path, parts)?;
        Ok(Self { trainer, ..decoder })
    }
}

/// The training loss of a batch; see [`DeterministicLoss`].
fn training_loss(
    config: &DeterministicConfig,
    net: &DeterministicNet,
    z: Tensor<2>,
    images: Tensor<4, Int>,
) -> Tensor<1> {
    let (mean, log_scale) = net.forward(z);
    match log_scale {
        None => {
            let target = PixelScaling::Symmetric.apply(images);
            (mean - target).powi_scalar(2).mean().div_scalar(4.0)
        }
        Some(log_scale) => {
            let dims = config.image.dims();
            let log_p = logistic::log_prob(images, mean, log_scale);
            let [b, ..] = log_p.dims();
            log_p
                .reshape([b, dims])
                .sum_dim(1)
                .mean()
                .neg()
                .div_scalar(dims as f64 * std::f64::consts::LN_2)
        }
    }
}

impl Decoder for DeterministicDecoder {
    fn embedding_dim(&self) -> usize {
        self.config.embedding_dim
    }

    fn image_shape(&self) -> ImageShape {
        self.config.image
    }

    /// The mean image, rounded to 8 bits; the seed is not used.
    fn decode(&self, z: Tensor<2>, _seed: u64) -> fisher_core::Result<Tensor<4, Int>> {
        Ok(self.reconstruct(z)?)
    }

    /// One Adam step; the loss is the mean squared error on the `[0, 1]` scale, or bits per
    /// dimension for the likelihood loss (see [`DeterministicLoss`]).
    fn train_step(&mut self, z: Tensor<2>, images: Tensor<4, Int>) -> fisher_core::Result<f64> {
        let k = self.config.embedding_dim;
        check_pairs(k, self.config.image, z.dims(), images.dims())?;
        let _span = tracing::info_span!("deterministic_train_step", step = self.trainer.steps);
        let device = self.trainer.plain_device();
        let (z, images) = (onto(z, &device), onto(images, &device));
        if !self.trainer.input_fitted {
            self.standardise_embeddings(&to_vec(z.clone()))?;
        }

        let config = &self.config;
        let loss = self.trainer.step(config.learning_rate, |net| {
            training_loss(config, net, z, images)
        })?;
        Ok(loss)
    }
}

impl TrainableDecoder for DeterministicDecoder {
    fn config(&self) -> DecoderConfig {
        DecoderConfig::Deterministic(self.config.clone())
    }

    fn spec(&self) -> &EmbeddingSpec {
        &self.spec
    }

    fn steps(&self) -> usize {
        self.trainer.steps
    }

    fn reconstruct(&self, z: Tensor<2>) -> Result<Tensor<4, Int>> {
        let mean = self.mean(z)?;
        Ok(to_pixels(mean))
    }

    fn log_likelihood(
        &self,
        z: Tensor<2>,
        images: Tensor<4, Int>,
        _seed: u64,
    ) -> Result<Option<Tensor<1>>> {
        check_pairs(
            self.config.embedding_dim,
            self.config.image,
            z.dims(),
            images.dims(),
        )?;
        let device = self.trainer.plain_device();
        let (z, images) = (onto(z, &device), onto(images, &device));
        let (mean, log_scale) = self.trainer.inference().forward(z);
        Ok(log_scale.map(|log_scale| {
            let log_p = logistic::log_prob(images, mean, log_scale);
            let [b, ..] = log_p.dims();
            log_p
                .reshape([b, self.config.image.dims()])
                .sum_dim(1)
                .squeeze_dim(1)
        }))
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

/// Rounds values on the `[−1, 1]` scale to 8-bit sub-pixels.
///
/// # Shapes
/// - `x`: `[batch, c, h, w]`; output the same, `Int` in `0..=255`
pub(crate) fn to_pixels(x: Tensor<4>) -> Tensor<4, Int> {
    x.add_scalar(1.0)
        .mul_scalar(127.5)
        .round()
        .clamp(0.0, 255.0)
        .int()
}
