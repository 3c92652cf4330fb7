//! Maximum-likelihood training with Adam and an exponentially decaying learning rate.
//!
//! Each step minimises the mean negative log-likelihood per sub-pixel of a batch,
//!
//! ```text
//! L(θ) = −(1/B) Σₙ log p_θ(xₙ) / (c·h·w),      bits/dim = L / ln 2,
//! ```
//!
//! with Adam (Kingma & Ba, 2015) at learning rate `ηₜ = η₀ · γᵗ` after `t` steps (PixelCNN++
//! uses `γ = 0.999995` per step). Batches come from a permutation of the data drawn from
//! `seed` and the epoch number, so a run resumed from a checkpoint sees the same batches as
//! one that never stopped.

use std::path::Path;

use burn::config::Config;
use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::{Bytes, Device, Int, Tensor, TensorData};
use fisher_core::{Error as CoreError, ImageBatch};
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};

use crate::checkpoint::{self, Header};
use crate::config::PixelCnnConfig;
use crate::error::Result;
use crate::model::{PixelCnn, int_images};

/// Settings of a training run.
#[derive(Config, Debug, PartialEq)]
pub struct TrainConfig {
    /// Initial learning rate `η₀`, > 0.
    #[config(default = 1e-3)]
    pub learning_rate: f64,
    /// Per-step decay factor `γ ∈ (0, 1]` of the learning rate.
    #[config(default = 0.99995)]
    pub lr_decay: f64,
    /// Images per step, at least 1.
    #[config(default = 32)]
    pub batch_size: usize,
    /// Seed of the batch order.
    #[config(default = 0)]
    pub seed: u64,
}

impl TrainConfig {
    /// Checks every setting.
    pub fn validate(&self) -> fisher_core::Result<()> {
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            let lr = self.learning_rate;
            return Err(CoreError::config(
                "learning_rate",
                lr,
                "must be finite and > 0",
            ));
        }
        if !(self.lr_decay > 0.0 && self.lr_decay <= 1.0) {
            return Err(CoreError::config(
                "lr_decay",
                self.lr_decay,
                "must be in (0, 1]",
            ));
        }
        if self.batch_size == 0 {
            return Err(CoreError::config("batch_size", 0, "must be at least 1"));
        }
        Ok(())
    }
}

/// Where a run stands; saved in checkpoints.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TrainState {
    /// Optimizer steps taken.
    pub step: u64,
    /// Current epoch, from 0.
    pub epoch: u64,
    /// Batches of the current epoch already used.
    pub batch_in_epoch: u64,
}

/// What the progress callback receives after each step.
#[derive(Clone, Debug, PartialEq)]
pub struct Progress {
    /// Optimizer steps taken so far.
    pub step: u64,
    /// Current epoch.
    pub epoch: u64,
    /// Batches of the current epoch done.
    pub batch_in_epoch: u64,
    /// Batches in one epoch.
    pub batches_per_epoch: u64,
    /// Training bits per dimension of the last batch (before its update).
    pub bits_per_dim: f64,
    /// Learning rate used for the last step.
    pub learning_rate: f64,
}

/// Trains a [`PixelCnn`]; owns the model (on an autodiff device) and the Adam state.
pub struct Trainer {
    model: PixelCnn,
    optim: ModuleOptimizer,
    config: TrainConfig,
    state: TrainState,
    device: Device,
}

impl Trainer {
    /// A fresh model of `model_config`, trained on `device` (autodiff is added if missing).
    ///
    /// # Errors
    /// When either configuration is invalid.
    pub fn new(
        model_config: &PixelCnnConfig,
        config: TrainConfig,
        device: &Device,
    ) -> Result<Self> {
        config.validate()?;
        let device = device.clone().autodiff();
        let model = model_config.init(&device)?;
        Ok(Self {
            model,
            optim: AdamConfig::new().init(),
            config,
            state: TrainState::default(),
            device,
        })
    }

    /// The model being trained (on the autodiff device).
    pub fn model(&self) -> &PixelCnn {
        &self.model
    }

    /// The model without autodiff, for evaluation and sampling.
    pub fn valid_model(&self) -> PixelCnn {
        self.model.valid()
    }

    /// The training settings.
    pub fn config(&self) -> &TrainConfig {
        &self.config
    }

    /// Where the run stands.
    pub fn state(&self) -> &TrainState {
        &self.state
    }

    /// The learning rate of the next step, `η₀ · γᵗ`.
    pub fn learning_rate(&self) -> f64 {
        self.config.learning_rate * self.config.lr_decay.powf(self.state.step as f64)
    }

    /// One Adam step on a batch; returns its bits per dimension before the update.
    ///
    /// # Shapes
    /// - `images`: `[batch, c, h, w]`, values in `0..=255`
    /// - `cond`: `[batch, cond_dim]`, required exactly when `cond_dim > 0`
    ///
    /// # Errors
    /// When the inputs do not fit the model, or the loss is not finite (the parameters are
    /// then left unchanged).
    pub fn step(&mut self, images: Tensor<4, Int>, cond: Option<Tensor<2>>) -> Result<f64> {
        let images = images.to_device(&self.device);
        let cond = cond.map(|c| c.to_device(&self.device));
        let dims = self.model.config().image.dims() as f64;
        let ll = self.model.log_likelihood_cond(images, cond)?;
        let loss = ll.mean().neg().div_scalar(dims);
        let value = f64::from(loss.clone().into_scalar::<f32>());
        if !value.is_finite() {
            return Err(CoreError::NonFinite {
                what: format!("training loss at step {}", self.state.step),
                index: 0,
                value,
            }
            .into());
        }

        let lr = self.learning_rate();
        let grads = GradientsParams::from_grads(loss.backward(), &self.model);
        self.model = self.optim.step(lr, self.model.clone(), grads);
        self.state.step += 1;
        Ok(value / std::f64::consts::LN_2)
    }

    /// Runs `steps` optimizer steps on `data`, continuing the epoch schedule where it stands,
    /// and calls `progress` after each. Returns the mean training bits/dim of those steps.
    ///
    /// `cond`, when the model is conditional, holds `data.len() · cond_dim` values, one row
    /// per image.
    ///
    /// # Errors
    /// When the data or conditioning do not fit the model, or a loss is not finite.
    pub fn fit(
        &mut self,
        data: &ImageBatch,
        cond: Option<&[f32]>,
        steps: u64,
        progress: &mut dyn FnMut(&Progress),
    ) -> Result<f64> {
        self.check_data(data, cond)?;
        let _span = tracing::info_span!("pixelcnn_fit", steps, images = data.len()).entered();
        let per_epoch = data.len().div_ceil(self.config.batch_size) as u64;
        let mut order: Option<(u64, Vec<usize>)> = None;
        let mut total = 0.0;
        for _ in 0..steps {
            if self.state.batch_in_epoch >= per_epoch {
                self.state.epoch += 1;
                self.state.batch_in_epoch = 0;
            }
            if order
                .as_ref()
                .is_none_or(|(epoch, _)| *epoch != self.state.epoch)
            {
                let seed = self.config.seed;
                order = Some((
                    self.state.epoch,
                    epoch_order(data.len(), seed, self.state.epoch),
                ));
            }
            let indices = order
                .as_ref()
                .map(|(_, o)| self.batch_indices(o))
                .unwrap_or_default();
            let (images, cond_batch) = self.batch(data, cond, &indices);
            let lr = self.learning_rate();
            let bpd = self.step(images, cond_batch)?;
            total += bpd;

            self.state.batch_in_epoch += 1;
            if self.state.batch_in_epoch == per_epoch {
                self.state.epoch += 1;
                self.state.batch_in_epoch = 0;
            }
            progress(&Progress {
                step: self.state.step,
                epoch: self.state.epoch,
                batch_in_epoch: self.state.batch_in_epoch,
                batches_per_epoch: per_epoch,
                bits_per_dim: bpd,
                learning_rate: lr,
            });
        }
        Ok(total / steps.max(1) as f64)
    }

    /// The indices of the current batch within the epoch's order.
    fn batch_indices(&self, order: &[usize]) -> Vec<usize> {
        let start = self.state.batch_in_epoch as usize * self.config.batch_size;
        let end = (start + self.config.batch_size).min(order.len());
        order[start..end].to_vec()
    }

    fn check_data(&self, data: &ImageBatch, cond: Option<&[f32]>) -> Result<()> {
        let config = self.model.config();
        if data.shape() != config.image {
            let e = config.image;
            let f = data.shape();
            let expected = [data.len(), e.channels, e.height, e.width];
            let found = [data.len(), f.channels, f.height, f.width];
            return Err(CoreError::shape("training images", &expected, &found).into());
        }
        if data.is_empty() {
            return Err(CoreError::TooFewSamples {
                what: "training images".into(),
                needed: 1,
                found: 0,
            }
            .into());
        }
        let needed = data.len() * config.cond_dim;
        match cond {
            Some(c) if c.len() != needed => {
                Err(
                    CoreError::shape("conditioning", &[data.len(), config.cond_dim], &[c.len()])
                        .into(),
                )
            }
            None if needed > 0 => Err(CoreError::config(
                "conditioning",
                "none",
                format!("the model needs {} values per image", config.cond_dim),
            )
            .into()),
            _ => Ok(()),
        }
    }

    fn batch(
        &self,
        data: &ImageBatch,
        cond: Option<&[f32]>,
        indices: &[usize],
    ) -> (Tensor<4, Int>, Option<Tensor<2>>) {
        let picked = data.select(indices);
        let [c, h, w] = data.shape().to_array();
        let images = int_images(picked.as_slice(), [indices.len(), c, h, w], &self.device);
        let dim = self.model.config().cond_dim;
        let cond = cond.filter(|_| dim > 0).map(|all| {
            let rows: Vec<f32> = indices
                .iter()
                .flat_map(|&i| all[i * dim..(i + 1) * dim].iter().copied())
                .collect();
            Tensor::from_data(TensorData::new(rows, [indices.len(), dim]), &self.device)
        });
        (images, cond)
    }

    /// Saves model, Adam state, settings and position to `path` (temporary file + rename).
    ///
    /// # Errors
    /// When the file cannot be written or Burn cannot encode a record.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let _span = tracing::info_span!("pixelcnn_checkpoint", path = %path.display()).entered();
        let model = checkpoint::model_bytes(&self.model, path)?;
        let optim = self
            .optim
            .into_bytes()
            .map_err(|e| checkpoint::record_error(path, e))?;
        let header = Header {
            model_config: self.model.config().clone(),
            train_config: Some(self.config.clone()),
            train_state: Some(self.state.clone()),
            model_sha256: String::new(),
            optimizer_sha256: String::new(),
        };
        checkpoint::write(path, header, &model, &optim)
    }

    /// Resumes the run saved at `path` on `device`; with `expected` given, the stored model
    /// configuration must equal it. A checkpoint written by
    /// [`PixelCnn::save`](crate::PixelCnn::save) resumes with a fresh Adam state,
    /// `train_config` settings and step 0.
    ///
    /// # Errors
    /// [`Error::CheckpointConfig`](crate::Error::CheckpointConfig) naming both
    /// configurations on a mismatch; format and I/O errors naming the file.
    pub fn resume(
        path: impl AsRef<Path>,
        expected: Option<&PixelCnnConfig>,
        train_config: TrainConfig,
        device: &Device,
    ) -> Result<Self> {
        let path = path.as_ref();
        let _span = tracing::info_span!("pixelcnn_resume", path = %path.display()).entered();
        let parts = checkpoint::read(path)?;
        let header = parts.header;
        checkpoint::check_config(path, expected, &header.model_config)?;

        let device = device.clone().autodiff();
        let model = checkpoint::build_model(path, &header.model_config, parts.model, &device)?;
        let mut optim = AdamConfig::new().init();
        if !parts.optimizer.is_empty() {
            optim = optim
                .from_bytes(Bytes::from_bytes_vec(parts.optimizer))
                .map_err(|e| checkpoint::record_error(path, e))?;
        }
        let config = header.train_config.unwrap_or(train_config);
        config.validate()?;
        Ok(Self {
            model,
            optim,
            config,
            state: header.train_state.unwrap_or_default(),
            device,
        })
    }
}

/// The order of the images in `epoch`: a Fisher–Yates shuffle seeded by `seed` and `epoch`.
fn epoch_order(n: usize, seed: u64, epoch: u64) -> Vec<usize> {
    let mix = seed ^ epoch.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(mix);
    let mut order: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let j = rng.random_range(0..=i);
        order.swap(i, j);
    }
    order
}

/// Test-set quality of a model.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Evaluation {
    /// Mean negative log-likelihood per image, in nats.
    pub nats_per_image: f64,
    /// Mean bits per dimension, `nats_per_image / (c·h·w · ln 2)`.
    pub bits_per_dim: f64,
    /// Number of images evaluated.
    pub images: usize,
}

/// Evaluates `model` on `data` in batches of `batch_size` on `device`.
///
/// `cond` holds `data.len() · cond_dim` values when the model is conditional.
///
/// # Errors
/// When the data do not fit the model, the data set is empty, or a log-likelihood is not
/// finite.
pub fn evaluate(
    model: &PixelCnn,
    data: &ImageBatch,
    cond: Option<&[f32]>,
    batch_size: usize,
    device: &Device,
) -> Result<Evaluation> {
    if data.is_empty() {
        return Err(CoreError::TooFewSamples {
            what: "evaluation images".into(),
            needed: 1,
            found: 0,
        }
        .into());
    }
    let _span = tracing::info_span!("pixelcnn_evaluate", images = data.len()).entered();
    let dim = model.config().cond_dim;
    if let Some(c) = cond
        && c.len() != data.len() * dim
    {
        return Err(CoreError::shape("conditioning", &[data.len(), dim], &[c.len()]).into());
    }
    let mut total = 0.0f64;
    for start in (0..data.len()).step_by(batch_size.max(1)) {
        let end = (start + batch_size.max(1)).min(data.len());
        let images = data.slice(start, end).to_tensor(device);
        let cond = cond.filter(|_| dim > 0).map(|all| {
            let rows = all[start * dim..end * dim].to_vec();
            Tensor::from_data(TensorData::new(rows, [end - start, dim]), device)
        });
        let ll: Vec<f32> = model
            .log_likelihood_cond(images, cond)?
            .into_data()
            .try_into_vec_as::<f32>()
            .unwrap_or_default();
        fisher_core::error::check_finite("test log-likelihoods", &ll)?;
        total += ll.iter().map(|&v| f64::from(v)).sum::<f64>();
    }
    let nats = -total / data.len() as f64;
    Ok(Evaluation {
        nats_per_image: nats,
        bits_per_dim: fisher_core::bits_per_dim(-nats, data.shape().dims()),
        images: data.len(),
    })
}
