//! One config type for every decoder kind, and the trait the three decoders share beyond
//! [`fisher_core::Decoder`].

use std::path::Path;

use burn::config::Config;
use burn::tensor::{Device, Int, Tensor};
use fisher_core::{Decoder, ImageShape};

use crate::{
    DeterministicConfig, DeterministicDecoder, EmbeddingSpec, FlowConfig, FlowDecoder,
    PixelCnnDecoder, PixelCnnDecoderConfig, Result,
};

/// The three kinds of decoder.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum DecoderKind {
    /// A network from `z` to an image, trained on reconstruction error.
    Deterministic,
    /// A PixelCNN conditioned on `z`, trained by maximum likelihood.
    PixelCnn,
    /// A normalizing flow conditioned on `z`, trained by maximum likelihood.
    Flow,
}

impl std::fmt::Display for DecoderKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Deterministic => "deterministic",
            Self::PixelCnn => "pixelcnn",
            Self::Flow => "flow",
        })
    }
}

/// The config of any decoder: one variant per kind.
#[derive(Config, Debug)]
pub enum DecoderConfig {
    /// See [`DeterministicConfig`].
    Deterministic(DeterministicConfig),
    /// See [`PixelCnnDecoderConfig`].
    PixelCnn(PixelCnnDecoderConfig),
    /// See [`FlowConfig`].
    Flow(FlowConfig),
}

impl DecoderConfig {
    /// Which kind of decoder this config builds.
    pub fn kind(&self) -> DecoderKind {
        match self {
            Self::Deterministic(_) => DecoderKind::Deterministic,
            Self::PixelCnn(_) => DecoderKind::PixelCnn,
            Self::Flow(_) => DecoderKind::Flow,
        }
    }

    /// Length `k` of the embeddings the decoder reads.
    pub fn embedding_dim(&self) -> usize {
        match self {
            Self::Deterministic(c) => c.embedding_dim,
            Self::PixelCnn(c) => c.embedding_dim,
            Self::Flow(c) => c.embedding_dim,
        }
    }

    /// Shape of the images the decoder produces.
    pub fn image(&self) -> ImageShape {
        match self {
            Self::Deterministic(c) => c.image,
            Self::PixelCnn(c) => c.pixelcnn.image,
            Self::Flow(c) => c.image,
        }
    }

    /// Builds a freshly initialised decoder for embeddings described by `spec`.
    ///
    /// # Errors
    /// When the config is invalid, or `spec.k` differs from the config's `embedding_dim`.
    pub fn init(&self, spec: EmbeddingSpec, device: &Device) -> Result<AnyDecoder> {
        Ok(match self {
            Self::Deterministic(c) => AnyDecoder::Deterministic(Box::new(c.init(spec, device)?)),
            Self::PixelCnn(c) => AnyDecoder::PixelCnn(Box::new(c.init(spec, device)?)),
            Self::Flow(c) => AnyDecoder::Flow(Box::new(c.init(spec, device)?)),
        })
    }
}

/// What the decoders share beyond [`fisher_core::Decoder`]: their config, the embeddings they
/// were trained on, deterministic reconstructions, likelihoods and checkpoints.
pub trait TrainableDecoder: Decoder {
    /// The full config, as stored in checkpoints.
    fn config(&self) -> DecoderConfig;

    /// The metadata of the embeddings the decoder was trained on.
    fn spec(&self) -> &EmbeddingSpec;

    /// Optimisation steps taken so far (counting those before a resume).
    fn steps(&self) -> usize;

    /// The decoder's deterministic best guess of the image behind each embedding, the one
    /// reconstruction error is measured on: the predicted mean for the deterministic decoder,
    /// the greedy (most likely sub-pixel at each step) image for the PixelCNN, and the image
    /// at latent zero (temperature 0) for the flow.
    ///
    /// # Shapes
    /// - `z`: `[batch, k]`
    /// - output: `[batch, channels, height, width]`, values in `0..=255`
    ///
    /// # Errors
    /// When `z` is not `[batch, k]`.
    fn reconstruct(&self, z: Tensor<2>) -> Result<Tensor<4, Int>>;

    /// `log p(x | z)` of each image in nats, or `None` for a decoder without a likelihood
    /// (the deterministic decoder trained on squared error). The flow's is a lower bound,
    /// drawn with one uniform dequantisation sample from `seed`.
    ///
    /// # Shapes
    /// - `z`: `[batch, k]`
    /// - `images`: `[batch, channels, height, width]`, values in `0..=255`
    /// - output: `[batch]`
    ///
    /// # Errors
    /// When the shapes disagree with the decoder's.
    fn log_likelihood(
        &self,
        z: Tensor<2>,
        images: Tensor<4, Int>,
        seed: u64,
    ) -> Result<Option<Tensor<1>>>;

    /// Fits the per-coordinate standardisation `z′ = (z − μ)/σ` the decoder applies to its
    /// embeddings, on `z` (row-major, rows of `k`). A decoder that has not been given one fits
    /// it on its first training batch; [`fit`](crate::fit) calls this on all training pairs
    /// first. The standardisation is not trained and is stored in checkpoints.
    ///
    /// # Errors
    /// When the decoder has trained already, or `z` is not whole finite rows of `k`.
    fn standardise_embeddings(&mut self, z: &[f32]) -> Result<()>;

    /// Writes a checkpoint (config, embedding metadata, weights, optimiser state, step count)
    /// to `path`, atomically.
    ///
    /// # Errors
    /// On I/O failure.
    fn save(&self, path: &Path) -> Result<()>;
}

/// Any of the decoders, as built from a [`DecoderConfig`] or read from a checkpoint.
pub enum AnyDecoder {
    /// A [`DeterministicDecoder`].
    Deterministic(Box<DeterministicDecoder>),
    /// A [`PixelCnnDecoder`].
    PixelCnn(Box<PixelCnnDecoder>),
    /// A [`FlowDecoder`].
    Flow(Box<FlowDecoder>),
}

impl AnyDecoder {
    /// Reads a checkpoint of any kind, building the decoder from the config stored in it, with
    /// its weights, optimiser state and step count, ready to decode or resume training.
    ///
    /// # Errors
    /// When the file is unreadable or not a decoder checkpoint.
    pub fn load(path: &Path, device: &Device) -> Result<Self> {
        let header = crate::checkpoint::read_header(path)?;
        Self::load_with(path, &header.config, device)
    }

    /// Reads a checkpoint that must fit `config`: same kind and same architecture (every
    /// setting except learning rate, seed and decoding temperature, which `config` then
    /// overrides).
    ///
    /// # Errors
    /// [`Error::CheckpointMismatch`](crate::Error::CheckpointMismatch) naming the setting and
    /// both values when the checkpoint does not fit; I/O and format errors otherwise.
    pub fn load_with(path: &Path, config: &DecoderConfig, device: &Device) -> Result<Self> {
        Ok(match config {
            DecoderConfig::Deterministic(c) => {
                Self::Deterministic(Box::new(DeterministicDecoder::load(path, c, device)?))
            }
            DecoderConfig::PixelCnn(c) => {
                Self::PixelCnn(Box::new(PixelCnnDecoder::load(path, c, device)?))
            }
            DecoderConfig::Flow(c) => Self::Flow(Box::new(FlowDecoder::load(path, c, device)?)),
        })
    }

    fn inner(&self) -> &dyn TrainableDecoder {
        match self {
            Self::Deterministic(d) => d.as_ref(),
            Self::PixelCnn(d) => d.as_ref(),
            Self::Flow(d) => d.as_ref(),
        }
    }

    fn inner_mut(&mut self) -> &mut dyn TrainableDecoder {
        match self {
            Self::Deterministic(d) => d.as_mut(),
            Self::PixelCnn(d) => d.as_mut(),
            Self::Flow(d) => d.as_mut(),
        }
    }
}

impl Decoder for AnyDecoder {
    fn embedding_dim(&self) -> usize {
        self.inner().embedding_dim()
    }

    fn image_shape(&self) -> ImageShape {
        self.inner().image_shape()
    }

    fn decode(&self, z: Tensor<2>, seed: u64) -> fisher_core::Result<Tensor<4, Int>> {
        self.inner().decode(z, seed)
    }

    fn train_step(&mut self, z: Tensor<2>, images: Tensor<4, Int>) -> fisher_core::Result<f64> {
        self.inner_mut().train_step(z, images)
    }
}

impl TrainableDecoder for AnyDecoder {
    fn config(&self) -> DecoderConfig {
        self.inner().config()
    }

    fn spec(&self) -> &EmbeddingSpec {
        self.inner().spec()
    }

    fn steps(&self) -> usize {
        self.inner().steps()
    }

    fn reconstruct(&self, z: Tensor<2>) -> Result<Tensor<4, Int>> {
        self.inner().reconstruct(z)
    }

    fn log_likelihood(
        &self,
        z: Tensor<2>,
        images: Tensor<4, Int>,
        seed: u64,
    ) -> Result<Option<Tensor<1>>> {
        self.inner().log_likelihood(z, images, seed)
    }

    fn standardise_embeddings(&mut self, z: &[f32]) -> Result<()> {
        self.inner_mut().standardise_embeddings(z)
    }

    fn save(&self, path: &Path) -> Result<()> {
        self.inner().save(path)
    }
}
