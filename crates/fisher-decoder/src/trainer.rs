//! The optimisation state every decoder carries: the model on an autodiff device, Adam, and
//! the step count; plus its conversion to and from checkpoint bytes.

use std::path::Path;

use burn::module::Module;
use burn::optim::grad_clipping::GradientClippingConfig;
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::store::ModuleRecord;
use burn::tensor::{Bytes, Device, Tensor};
use fisher_core::Error as CoreError;

use crate::checkpoint::{self, CheckpointHeader, CheckpointParts};
use crate::error::record_error;
use crate::nn::{Standardise, to_vec};
use crate::{DecoderConfig, EmbeddingSpec, Error, Result};

/// Gradients are clipped to this global norm: a guard against the rare huge step of a flow or
/// likelihood model early in training, far above the norms seen in normal steps.
const MAX_GRAD_NORM: f32 = 100.0;

/// A model being trained with Adam.
pub(crate) struct Trainer<M: Module> {
    /// The model, its parameters on `device` (autodiff).
    pub(crate) model: M,
    optimizer: ModuleOptimizer,
    /// The autodiff device the model trains on.
    pub(crate) device: Device,
    /// Optimisation steps taken so far.
    pub(crate) steps: usize,
    /// Whether the model's embedding standardisation has been fitted.
    pub(crate) input_fitted: bool,
}

fn adam() -> ModuleOptimizer {
    AdamConfig::new()
        .with_grad_clipping(Some(GradientClippingConfig::Norm(MAX_GRAD_NORM)))
        .init()
}

impl<M: Module> Trainer<M> {
    /// Starts training `model`, whose parameters live on `device.autodiff()`.
    pub(crate) fn new(model: M, device: &Device) -> Self {
        Self {
            model,
            optimizer: adam(),
            device: device.clone().autodiff(),
            steps: 0,
            input_fitted: false,
        }
    }

    /// The plain (non-autodiff) device tensors are decoded on.
    pub(crate) fn plain_device(&self) -> Device {
        self.device.clone().without_autodiff()
    }

    /// The model without autodiff, for decoding and evaluation.
    pub(crate) fn inference(&self) -> M {
        self.model.valid()
    }

    /// One Adam step on the scalar loss `loss(model)`; returns the loss before the step.
    ///
    /// # Errors
    /// [`fisher_core::Error::NonFinite`] when the loss is NaN or infinite; the model is then
    /// left unchanged.
    pub(crate) fn step(
        &mut self,
        learning_rate: f64,
        loss: impl FnOnce(&M) -> Tensor<1>,
    ) -> Result<f64> {
        let loss = loss(&self.model);
        let value = f64::from(to_vec(loss.clone().inner())[0]);
        if !value.is_finite() {
            return Err(CoreError::NonFinite {
                what: format!("training loss at step {}", self.steps),
                index: 0,
                value,
            }
            .into());
        }

        let grads = GradientsParams::from_grads(loss.backward(), &self.model);
        self.model = self
            .optimizer
            .step(learning_rate, self.model.clone(), grads);
        self.steps += 1;
        Ok(value)
    }

    /// The weights as burnpack bytes.
    fn weight_bytes(&self, path: &Path) -> Result<Vec<u8>> {
        let bytes = self
            .model
            .clone()
            .into_record()
            .into_bytes()
            .map_err(|e| record_error(path, e))?;
        Ok(bytes.to_vec())
    }

    /// The optimiser state as burnpack bytes.
    fn optimizer_bytes(&self, path: &Path) -> Result<Vec<u8>> {
        let bytes = self
            .optimizer
            .into_bytes()
            .map_err(|e| record_error(path, e))?;
        Ok(bytes.to_vec())
    }

    /// This freshly initialised trainer with the weights, optimiser state and step count of
    /// the checkpoint read from `path`.
    pub(crate) fn restored(self, path: &Path, parts: CheckpointParts) -> Result<Self> {
        let record = ModuleRecord::from_bytes(Bytes::from_bytes_vec(parts.weights))
            .map_err(|e| record_error(path, e))?;
        let model = self
            .model
            .try_load_record(record)
            .map_err(|e| record_error(path, e))?;
        let optimizer = if parts.optimizer.is_empty() {
            adam()
        } else {
            adam()
                .from_bytes(Bytes::from_bytes_vec(parts.optimizer))
                .map_err(|e| record_error(path, e))?
        };
        Ok(Self {
            model,
            optimizer,
            device: self.device,
            steps: parts.header.steps,
            input_fitted: parts.header.steps > 0,
        })
    }

    /// Writes a checkpoint of this state, with the decoder's config and embedding spec.
    pub(crate) fn save(
        &self,
        path: &Path,
        config: DecoderConfig,
        spec: &EmbeddingSpec,
    ) -> Result<()> {
        let _span = tracing::info_span!("save_checkpoint", path = %path.display());
        let header = CheckpointHeader {
            config,
            spec: spec.clone(),
            steps: self.steps,
            writer: env!("CARGO_PKG_VERSION").to_string(),
        };
        let weights = self.weight_bytes(path)?;
        let optimizer = self.optimizer_bytes(path)?;
        checkpoint::write(path, &header, &weights, &optimizer)
    }
}

/// Moves a data tensor to the plain `device`, dropping any autodiff association (a no-op
/// when it is there already).
pub(crate) fn onto<const D: usize, K: burn::tensor::kind::Autodiff>(
    x: Tensor<D, K>,
    device: &Device,
) -> Tensor<D, K> {
    x.without_autodiff().to_device(device)
}

/// Checks the shapes of a batch of `(embedding, image)` pairs against a decoder's.
pub(crate) fn check_pairs(
    k: usize,
    image: fisher_core::ImageShape,
    z_dims: [usize; 2],
    image_dims: [usize; 4],
) -> Result<()> {
    check_embeddings(k, z_dims)?;
    image.check_batch("images", image_dims)?;
    if z_dims[0] != image_dims[0] {
        return Err(Error::Core(CoreError::shape(
            "images (one per embedding)",
            &[z_dims[0], image.channels, image.height, image.width],
            &image_dims,
        )));
    }
    Ok(())
}

/// Checks that embeddings are `[batch, k]`.
pub(crate) fn check_embeddings(k: usize, z_dims: [usize; 2]) -> Result<()> {
    if z_dims[1] != k || z_dims[0] == 0 {
        return Err(Error::Core(CoreError::shape(
            "embeddings",
            &[z_dims[0].max(1), k],
            &z_dims,
        )));
    }
    Ok(())
}

/// The standardisation of embeddings `z` (rows of `k`), for a decoder that has taken `steps`
/// steps.
///
/// # Errors
/// When the decoder has trained already (its networks are fitted to the current scaling),
/// or `z` is not a whole, non-zero number of finite rows of `k`.
pub(crate) fn standardisation(
    z: &[f32],
    k: usize,
    steps: usize,
    device: &Device,
) -> Result<Standardise> {
    if steps > 0 {
        let reason = "the embedding standardisation is fitted before the first step only";
        return Err(CoreError::config("decoder steps", steps, reason).into());
    }
    if z.is_empty() || !z.len().is_multiple_of(k) {
        let rows = z.len().div_ceil(k).max(1);
        return Err(CoreError::shape("embeddings (rows of k)", &[rows, k], &[z.len()]).into());
    }
    fisher_core::error::check_finite("embeddings", z)?;
    Ok(Standardise::fitted(z, k, device))
}
