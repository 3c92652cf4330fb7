//! The conditional PixelCNN decoder: fisher-pixelcnn's gated PixelCNN with features of the
//! embedding as its global conditioning vector (van den Oord et al. 2016, "Conditional Image
//! Generation with PixelCNN Decoders").
//!
//! ```text
//! c = ReLU(A·z + a) ∈ ℝ^{cond_dim}          p(x | z) = ∏ᵢ p(xᵢ | x<ᵢ, c)
//! ```
//!
//! `c` is added inside every gated unit of the PixelCNN (its `V·c` terms), so it shifts every
//! conditional without touching the causal masks: sub-pixel `i` still sees only `x<ᵢ`.
//! Training maximises `log p(x | z)` (the loss is in bits per dimension); decoding samples
//! ancestrally at a temperature, or greedily. Greedy decoding is the temperature-to-zero limit
//! of sampling, run as sampling at `T = 10⁻⁶`: each conditional's most likely value for the
//! categorical head; the most likely component's mean, rounded, for the logistic mixture head.

use std::path::Path;

use burn::config::Config;
use burn::module::Module;
use burn::tensor::activation::relu;
use burn::tensor::{Device, Int, Tensor};
use fisher_core::{Decoder, Error as CoreError, ImageShape};
use fisher_pixelcnn::{PixelCnn, PixelCnnConfig};

use crate::checkpoint;
use crate::deterministic::{check_spec_dim, positive};
use crate::nn::{Dense, Init, SeedStream, Standardise, to_vec};
use crate::trainer::{Trainer, check_embeddings, check_pairs, onto, standardisation};
use crate::{DecoderConfig, EmbeddingSpec, Result, TrainableDecoder};

/// The temperature greedy decoding samples at.
const GREEDY_TEMPERATURE: f64 = 1e-6;

/// Config of a [`PixelCnnDecoder`].
#[derive(Config, Debug)]
pub struct PixelCnnDecoderConfig {
    /// Length `k` of the embeddings, at least 1.
    pub embedding_dim: usize,
    /// The PixelCNN; its `cond_dim` (at least 1) is the length of the features `c` of `z`,
    /// its `image` the shape of the decoded images.
    pub pixelcnn: PixelCnnConfig,
    /// Temperature `T > 0` at which [`Decoder::decode`] samples (1 samples the model itself).
    #[config(default = 1.0)]
    pub temperature: f64,
    /// Whether [`Decoder::decode`] decodes greedily instead of sampling.
    #[config(default = false)]
    pub greedy: bool,
    /// Adam's learning rate, positive.
    #[config(default = 1e-3)]
    pub learning_rate: f64,
    /// Seed of the initial weights of the map `z ↦ c` (the PixelCNN has its own seed).
    #[config(default = 0)]
    pub seed: u64,
}

impl PixelCnnDecoderConfig {
    /// Checks every setting.
    ///
    /// # Errors
    /// [`fisher_core::Error::Config`] naming the setting and its value.
    pub fn validate(&self) -> Result<()> {
        positive("embedding_dim", self.embedding_dim)?;
        positive("pixelcnn.cond_dim", self.pixelcnn.cond_dim)?;
        self.pixelcnn.validate()?;
        let checks = [
            ("temperature", self.temperature, self.temperature > 0.0),
            (
                "learning_rate",
                self.learning_rate,
                self.learning_rate > 0.0,
            ),
        ];
        for (name, value, ok) in checks {
            if !(ok && value.is_finite()) {
                return Err(CoreError::config(name, value, "must be positive and finite").into());
            }
        }
        Ok(())
    }

    /// Builds a decoder with weights drawn from the seeds, for embeddings described by `spec`.
    ///
    /// # Errors
    /// When the config is invalid or `spec.k != embedding_dim`.
    pub fn init(&self, spec: EmbeddingSpec, device: &Device) -> Result<PixelCnnDecoder> {
        self.validate()?;
        check_spec_dim(self.embedding_dim, &spec)?;
        let device_ad = device.clone().autodiff();
        let mut rng = SeedStream::new(self.seed);
        let cond_dim = self.pixelcnn.cond_dim;
        let net = ConditionalPixelCnn {
            input: Standardise::identity(self.embedding_dim, &device_ad),
            embed: Dense::new(
                self.embedding_dim,
                cond_dim,
                Init::relu(),
                &mut rng,
                &device_ad,
            ),
            pixelcnn: self.pixelcnn.init(&device_ad)?,
        };
        Ok(PixelCnnDecoder {
            config: self.clone(),
            spec,
            trainer: Trainer::new(net, device),
        })
    }
}

/// The map `z ↦ c` and the PixelCNN conditioned on `c`.
#[derive(Module, Debug)]
pub(crate) struct ConditionalPixelCnn {
    /// Standardisation of `z`, fitted before training.
    pub(crate) input: Standardise,
    embed: Dense,
    pixelcnn: PixelCnn,
}

impl ConditionalPixelCnn {
    fn features(&self, z: Tensor<2>) -> Tensor<2> {
        relu(self.embed.forward(self.input.forward(z)))
    }
}

/// Decodes embeddings with a PixelCNN conditioned on them; see the [module docs](self).
pub struct PixelCnnDecoder {
    config: PixelCnnDecoderConfig,
    spec: EmbeddingSpec,
    trainer: Trainer<ConditionalPixelCnn>,
}

impl PixelCnnDecoder {
    /// The decoder's config.
    pub fn config(&self) -> &PixelCnnDecoderConfig {
        &self.config
    }

    /// Samples images for `z` at `temperature`, drawing from `seed`.
    ///
    /// # Shapes
    /// - `z`: `[batch, k]`; output `[batch, channels, height, width]`, values in `0..=255`
    ///
    /// # Errors
    /// When `z` is not `[batch, k]` or the temperature is not positive and finite.
    pub fn sample(&self, z: Tensor<2>, seed: u64, temperature: f64) -> Result<Tensor<4, Int>> {
        check_embeddings(self.config.embedding_dim, z.dims())?;
        let device = self.trainer.plain_device();
        let z = onto(z, &device);
        let [n, _] = z.dims();
        let net = self.trainer.inference();
        let cond = net.features(z);
        Ok(net
            .pixelcnn
            .sample(n, temperature as f32, Some(cond), seed, &device)?)
    }

    /// The greedy image for each embedding (see the [module docs](self)).
    ///
    /// # Shapes
    /// - `z`: `[batch, k]`; output `[batch, channels, height, width]`, values in `0..=255`
    ///
    /// # Errors
    /// When `z` is not `[batch, k]`.
    pub fn greedy(&self, z: Tensor<2>) -> Result<Tensor<4, Int>> {
        self.sample(z, 0, GREEDY_TEMPERATURE)
    }

    /// Per-sub-pixel `log p(xᵢ | x<ᵢ, z)` in nats of `targets`, with the network reading
    /// `input` in place of the scaled targets; computed by the training copy of the network,
    /// so with `input` or `z` requiring a gradient, their influence on each conditional can
    /// be measured (e.g. to check that the conditioning keeps the model causal).
    ///
    /// # Shapes
    /// - `input`: `[batch, channels, height, width]`, on the `[−1, 1]` scale
    /// - `targets`: the same shape, values in `0..=255`
    /// - `z`: `[batch, k]`
    /// - output: `[batch, channels, height, width]`
    ///
    /// # Errors
    /// When the shapes disagree with the decoder's.
    pub fn log_prob_map_with_input(
        &self,
        input: Tensor<4>,
        targets: Tensor<4, Int>,
        z: Tensor<2>,
    ) -> Result<Tensor<4>> {
        check_pairs(
            self.config.embedding_dim,
            self.image_shape(),
            z.dims(),
            targets.dims(),
        )?;
        let net = &self.trainer.model;
        let cond = net.features(z);
        Ok(net
            .pixelcnn
            .log_prob_map_with_input(input, targets, Some(cond))?)
    }

    /// Starts from the weights of a trained unconditional PixelCNN: every parameter of
    /// `model` is copied in, and the conditioning maps (absent from `model`) keep their
    /// initial values. Training then only has to learn how `z` shifts each conditional, which
    /// takes far fewer steps than learning the image distribution from scratch.
    ///
    /// # Errors
    /// When the decoder has trained already, or `model`'s config differs from this decoder's
    /// PixelCNN in anything but `cond_dim` and `seed` (the error names the setting and both
    /// values).
    pub fn warm_start(&mut self, model: &PixelCnn) -> Result<()> {
        if self.trainer.steps > 0 {
            let reason = "a warm start replaces the initial weights, before the first step";
            return Err(CoreError::config("decoder steps", self.trainer.steps, reason).into());
        }
        check_same_architecture(model.config(), &self.config.pixelcnn)?;

        let record = model.clone().into_record().allow_partial(true);
        let net = &mut self.trainer.model;
        net.pixelcnn =
            net.pixelcnn.clone().try_load_record(record).map_err(|e| {
                CoreError::config("warm-start PixelCNN", e, "its weights do not fit")
            })?;
        Ok(())
    }

    /// Reads a checkpoint written by [`TrainableDecoder::save`], checking that it fits
    /// `config` (learning rate, seed, temperature and greedy may differ; `config`'s are kept).
    ///
    /// # Errors
    /// [`Error::CheckpointMismatch`](crate::Error::CheckpointMismatch) naming the setting and
    /// both values; I/O and format errors.
    pub fn load(path: &Path, config: &PixelCnnDecoderConfig, device: &Device) -> Result<Self> {
        let wanted = DecoderConfig::PixelCnn(config.clone());
        let free = ["learning_rate", "seed", "temperature", "greedy"];
        let parts = checkpoint::read_checked(path, &wanted, &free)?;
        let decoder = config.init(parts.header.spec.clone(), device)?;
        let trainer = decoder.trainer.restored(path, parts)?;
        Ok(Self { trainer, ..decoder })
    }
}

/// Checks that two PixelCNN configs agree in everything but `cond_dim` and `seed`.
fn check_same_architecture(found: &PixelCnnConfig, wanted: &PixelCnnConfig) -> Result<()> {
    let fields = |c: &PixelCnnConfig| match serde_json::to_value(c) {
        Ok(serde_json::Value::Object(map)) => map,
        _ => serde_json::Map::new(),
    };
    let (a, b) = (fields(found), fields(wanted));
    for (name, value) in &b {
        if name == "cond_dim" || name == "seed" {
            continue;
        }
        let other = a.get(name).cloned().unwrap_or(serde_json::Value::Null);
        if &other != value {
            return Err(CoreError::mismatch(
                format!("warm-start PixelCNN {name} (decoder vs model)"),
                value,
                other,
            )
            .into());
        }
    }
    Ok(())
}

/// `log p(x | z)` in nats per image.
fn log_likelihood_with(
    net: &ConditionalPixelCnn,
    images: Tensor<4, Int>,
    z: Tensor<2>,
) -> fisher_core::Result<Tensor<1>> {
    let cond = net.features(z);
    net.pixelcnn.log_likelihood_cond(images, Some(cond))
}

impl Decoder for PixelCnnDecoder {
    fn embedding_dim(&self) -> usize {
        self.config.embedding_dim
    }

    fn image_shape(&self) -> ImageShape {
        self.config.pixelcnn.image
    }

    /// Samples at the config's temperature, or greedily when the config says so.
    fn decode(&self, z: Tensor<2>, seed: u64) -> fisher_core::Result<Tensor<4, Int>> {
        let decoded = if self.config.greedy {
            self.greedy(z)
        } else {
            self.sample(z, seed, self.config.temperature)
        };
        Ok(decoded?)
    }

    /// One Adam step on `−log p(x | z)`, in bits per dimension.
    fn train_step(&mut self, z: Tensor<2>, images: Tensor<4, Int>) -> fisher_core::Result<f64> {
        check_pairs(
            self.config.embedding_dim,
            self.image_shape(),
            z.dims(),
            images.dims(),
        )?;
        let _span = tracing::info_span!("pixelcnn_decoder_train_step", step = self.trainer.steps);
        let device = self.trainer.plain_device();
        let (z, images) = (onto(z, &device), onto(images, &device));
        if !self.trainer.input_fitted {
            self.standardise_embeddings(&to_vec(z.clone()))?;
        }

        let bits = self.image_shape().dims() as f64 * std::f64::consts::LN_2;
        let ll = log_likelihood_with(&self.trainer.model, images, z)?;
        let loss = self.trainer.step(self.config.learning_rate, |_| {
            ll.mean().neg().div_scalar(bits)
        })?;
        Ok(loss)
    }
}

impl TrainableDecoder for PixelCnnDecoder {
    fn config(&self) -> DecoderConfig {
        DecoderConfig::PixelCnn(self.config.clone())
    }

    fn spec(&self) -> &EmbeddingSpec {
        &self.spec
    }

    fn steps(&self) -> usize {
        self.trainer.steps
    }

    fn reconstruct(&self, z: Tensor<2>) -> Result<Tensor<4, Int>> {
        self.greedy(z)
    }

    fn log_likelihood(
        &self,
        z: Tensor<2>,
        images: Tensor<4, Int>,
        _seed: u64,
    ) -> Result<Option<Tensor<1>>> {
        check_pairs(
            self.config.embedding_dim,
            self.image_shape(),
            z.dims(),
            images.dims(),
        )?;
        let device = self.trainer.plain_device();
        let (z, images) = (onto(z, &device), onto(images, &device));
        let net = self.trainer.inference();
        Ok(Some(log_likelihood_with(&net, images, z)?))
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
