//! Embedders with one output format: Fisher scores and the two baselines.
//!
//! | embedder | vector before projection | length |
//! | --- | --- | --- |
//! | [`FisherEmbedder`] | U(x) = ∇_θ log p_θ(x), optionally whitened by the diagonal Fisher | d |
//! | [`ActivationEmbedder`] | the input of one of the model's layers, flattened | its c·h·w |
//! | [`PixelEmbedder`] | the image's sub-pixels under a [`PixelScaling`] | c·h·w |
//!
//! Each projects its vector with a [`ScoreProjection`] (or none, for the baselines), and
//! [`Normalised`] applies a normalisation after projection, so all three produce `[batch, k]`
//! embeddings that the same file format, decoders and evaluations consume.

use std::ops::Range;

use burn::tensor::{Device, Int, Tensor};
use fisher_core::{Embedder, Error as CoreError, ImageBatch, ImageShape, PixelScaling};
use rayon::prelude::*;

use crate::host;
use crate::normalise::host_vec;
use crate::{
    DiagonalFisher, Error, LayerInput, Result, ScoreModel, ScoreProjection, Standardiser,
    project_scores,
};

/// Projected per-example Fisher scores: `z = P·U(x)` or `z = P·(F̂ + λ)^(−1/2)·U(x)`.
pub struct FisherEmbedder<M> {
    model: M,
    projection: ScoreProjection,
    fisher: Option<DiagonalFisher>,
    micro_batch: Option<usize>,
}

impl<M: ScoreModel + Sync> FisherEmbedder<M> {
    /// Scores of `model` projected by `projection`; see [`ScoreProjection`] for which path to pick.
    ///
    /// For speed, give a model whose parameters do not require gradients
    /// (`Module::no_grad`): the scores are the same, and the backward pass then skips the
    /// batch-summed weight gradients that the per-example ones replace.
    ///
    /// # Errors
    /// When the projection's input length is not the model's number of parameters.
    pub fn new(model: M, projection: ScoreProjection) -> Result<Self> {
        let d = model.num_free_parameters();
        if projection.input_dim() != d {
            return Err(CoreError::mismatch(
                "projection input length d",
                d,
                projection.input_dim(),
            )
            .into());
        }
        Ok(Self {
            model,
            projection,
            fisher: None,
            micro_batch: None,
        })
    }

    /// Runs the probed passes on at most `images` examples at a time and joins the results.
    ///
    /// The scores are the same; memory falls with the micro-batch (the activations of the
    /// backward pass dominate it). On the CPU device the micro-batches run side by side on
    /// the cores of the rayon pool, which keeps busy the cores that the backend's
    /// single-threaded operations leave idle: small micro-batches (4 to 8 images) are then
    /// faster than the whole batch at once. Memory then holds one micro-batch per core.
    ///
    /// # Errors
    /// When `images` is 0.
    pub fn with_micro_batch(mut self, images: usize) -> Result<Self> {
        if images == 0 {
            return Err(CoreError::config("micro-batch", 0, "must be at least 1").into());
        }
        self.micro_batch = Some(images);
        Ok(self)
    }

    /// Whitens the scores by a fitted diagonal Fisher before projecting.
    ///
    /// # Errors
    /// When the diagonal has another length than the model's `d`.
    pub fn with_diagonal_fisher(mut self, fisher: DiagonalFisher) -> Result<Self> {
        fisher.check_dim(self.model.num_free_parameters())?;
        self.fisher = Some(fisher);
        Ok(self)
    }

    /// The scored model.
    pub fn model(&self) -> &M {
        &self.model
    }

    /// The projection.
    pub fn projection(&self) -> &ScoreProjection {
        &self.projection
    }

    /// Projected scores of a batch, with conditioning for a conditional model.
    ///
    /// # Shapes
    /// - `images`: `[batch, channels, height, width]`, on an autodiff device
    /// - `cond`: `[batch, conditioning]` or `None`
    /// - output: `[batch, k]`, without autodiff
    ///
    /// # Errors
    /// As [`project_scores`].
    pub fn scores(&self, images: Tensor<4, Int>, cond: Option<Tensor<2>>) -> Result<Tensor<2>> {
        let [batch, c, h, w] = images.dims();
        let step = self.micro_batch.unwrap_or(batch).max(1);
        if step >= batch {
            let fisher = self.fisher.as_ref();
            return project_scores(&self.model, images, cond, &self.projection, fisher);
        }

        let fisher = self.fisher.as_ref();
        let part = |start: usize| {
            let end = batch.min(start + step);
            let part = images.clone().slice([start..end, 0..c, 0..h, 0..w]);
            let part_cond = cond.as_ref().map(|t| {
                let [_, m] = t.dims();
                t.clone().slice([start..end, 0..m])
            });
            project_scores(&self.model, part, part_cond, &self.projection, fisher)
        };
        let starts: Vec<usize> = (0..batch).step_by(step).collect();
        // On the CPU, one micro-batch's passes leave a core idle for much of the time (many of
        // the backend's operations run on one thread): run micro-batches side by side. Each
        // is computed exactly as alone, so the result does not depend on how they are spread.
        let parts = if host::on_host(&images.device()) {
            starts
                .into_par_iter()
                .map(part)
                .collect::<Result<Vec<_>>>()?
        } else {
            starts.into_iter().map(part).collect::<Result<Vec<_>>>()?
        };
        Ok(Tensor::cat(parts, 0))
    }
}

impl<M: ScoreModel + Sync> Embedder for FisherEmbedder<M> {
    fn embedding_dim(&self) -> usize {
        self.projection.output_dim()
    }

    fn embed(&self, images: Tensor<4, Int>) -> fisher_core::Result<Tensor<2>> {
        self.scores(images, None).map_err(into_core)
    }
}

/// The activation feeding one of the model's layers, flattened and optionally projected.
pub struct ActivationEmbedder<M> {
    model: M,
    layer: usize,
    dim: usize,
    projection: Option<ScoreProjection>,
}

impl<M: ScoreModel> ActivationEmbedder<M> {
    /// The input of layer `layer` (its index among the model's records; see
    /// [`layer_inputs`]) as the embedding, projected by `projection` if given.
    ///
    /// Runs one forward pass of a blank image on `device` to learn the activation's length
    /// (see [`layer_inputs`] for which devices).
    ///
    /// # Errors
    /// When `layer` is out of range or the projection's input length differs from the
    /// activation's.
    pub fn new(
        model: M,
        layer: usize,
        projection: Option<ScoreProjection>,
        device: &Device,
    ) -> Result<Self> {
        let inputs = layer_inputs(&model, device)?;
        let Some((_, dim)) = inputs.get(layer) else {
            return Err(CoreError::config(
                "activation layer",
                layer,
                format!("the model has {} layers", inputs.len()),
            )
            .into());
        };
        let dim = *dim;
        if let Some(p) = &projection
            && p.input_dim() != dim
        {
            return Err(CoreError::mismatch("projection input length", dim, p.input_dim()).into());
        }
        Ok(Self {
            model,
            layer,
            dim,
            projection,
        })
    }

    /// Length of the flattened activation.
    pub fn activation_dim(&self) -> usize {
        self.dim
    }

    /// The flattened activations of a batch, projected if a projection was given.
    ///
    /// # Shapes
    /// - `images`: `[batch, channels, height, width]`, on an autodiff device
    /// - output: `[batch, k]` (`k` is the activation length without a projection)
    ///
    /// # Errors
    /// When the model fails.
    pub fn activations(&self, images: Tensor<4, Int>) -> Result<Tensor<2>> {
        let [batch, ..] = images.dims();
        let mut records = self.model.layer_records(images, None)?;
        if self.layer >= records.len() {
            return Err(
                CoreError::mismatch("number of layers", self.layer + 1, records.len()).into(),
            );
        }
        let record = records.swap_remove(self.layer);
        let x = flatten(record.input).reshape([batch, self.dim]);
        project(self.projection.as_ref(), x)
    }
}

impl<M: ScoreModel> Embedder for ActivationEmbedder<M> {
    fn embedding_dim(&self) -> usize {
        self.projection
            .as_ref()
            .map_or(self.dim, |p| p.output_dim())
    }

    fn embed(&self, images: Tensor<4, Int>) -> fisher_core::Result<Tensor<2>> {
        self.activations(images).map_err(into_core)
    }
}

/// Each layer's name and the length of its flattened input, from one forward pass of a
/// blank (all zero) image on `device` ([`ScoreModel::layer_records`]; for the PixelCNN any
/// device, for a model that keeps the default, an autodiff device).
///
/// # Errors
/// When the model fails.
pub fn layer_inputs<M: ScoreModel + ?Sized>(
    model: &M,
    device: &Device,
) -> Result<Vec<(String, usize)>> {
    let [c, h, w] = model.image_shape().to_array();
    let blank = Tensor::<4, Int>::zeros([1, c, h, w], device);
    let records = model.layer_records(blank, None)?;
    Ok(records
        .into_iter()
        .map(|r| {
            let dims: usize = match &r.input {
                LayerInput::Conv { input, .. } => input.dims()[1..].iter().product(),
                LayerInput::Linear { input, .. } => input.dims()[1],
            };
            (r.name, dims)
        })
        .collect())
}

/// Raw sub-pixels, scaled and optionally projected.
pub struct PixelEmbedder {
    shape: ImageShape,
    scaling: PixelScaling,
    projection: Option<ScoreProjection>,
}

impl PixelEmbedder {
    /// Images of `shape` scaled by `scaling`, projected by `projection` if given.
    ///
    /// # Errors
    /// When the projection's input length is not `c·h·w`.
    pub fn new(
        shape: ImageShape,
        scaling: PixelScaling,
        projection: Option<ScoreProjection>,
    ) -> Result<Self> {
        if let Some(p) = &projection
            && p.input_dim() != shape.dims()
        {
            return Err(CoreError::mismatch(
                "projection input length",
                shape.dims(),
                p.input_dim(),
            )
            .into());
        }
        Ok(Self {
            shape,
            scaling,
            projection,
        })
    }

    /// The scaled, flattened and projected pixels.
    ///
    /// # Shapes
    /// - `images`: `[batch, channels, height, width]`, values in `0..=255`
    /// - output: `[batch, k]` (`k = c·h·w` without a projection)
    ///
    /// # Errors
    /// When the images have another shape.
    pub fn pixels(&self, images: Tensor<4, Int>) -> Result<Tensor<2>> {
        self.shape.check_batch("images", images.dims())?;
        let [batch, ..] = images.dims();
        let x = self
            .scaling
            .apply(images)
            .inner()
            .reshape([batch, self.shape.dims()]);
        project(self.projection.as_ref(), x)
    }
}

impl Embedder for PixelEmbedder {
    fn embedding_dim(&self) -> usize {
        self.projection
            .as_ref()
            .map_or(self.shape.dims(), |p| p.output_dim())
    }

    fn embed(&self, images: Tensor<4, Int>) -> fisher_core::Result<Tensor<2>> {
        self.pixels(images).map_err(into_core)
    }
}

/// What [`Normalised`] does to each embedding after projection.
#[derive(Clone, Debug, PartialEq)]
pub enum PostNormalisation {
    /// Nothing.
    None,
    /// Multiply by `1/√d`, `d` the length before projection.
    InvSqrtDim {
        /// The length before projection.
        d: usize,
    },
    /// Standardise each dimension with training statistics.
    Standardise(Standardiser),
}

/// An embedder followed by a [`PostNormalisation`].
pub struct Normalised {
    inner: Box<dyn Embedder>,
    post: PostNormalisation,
}

impl Normalised {
    /// Wraps `inner`.
    ///
    /// # Errors
    /// When the standardiser has another length than the embeddings, or `d` is 0.
    pub fn new(inner: Box<dyn Embedder>, post: PostNormalisation) -> Result<Self> {
        match &post {
            PostNormalisation::Standardise(s) if s.mean().len() != inner.embedding_dim() => {
                return Err(CoreError::mismatch(
                    "standardiser length",
                    inner.embedding_dim(),
                    s.mean().len(),
                )
                .into());
            }
            PostNormalisation::InvSqrtDim { d: 0 } => {
                return Err(CoreError::config("d", 0, "must be at least 1").into());
            }
            _ => {}
        }
        Ok(Self { inner, post })
    }

    /// The wrapped embedder.
    pub fn inner(&self) -> &dyn Embedder {
        self.inner.as_ref()
    }
}

impl Embedder for Normalised {
    fn embedding_dim(&self) -> usize {
        self.inner.embedding_dim()
    }

    fn embed(&self, images: Tensor<4, Int>) -> fisher_core::Result<Tensor<2>> {
        let z = self.inner.embed(images)?;
        match &self.post {
            PostNormalisation::None => Ok(z),
            PostNormalisation::InvSqrtDim { d } => Ok(z.div_scalar((*d as f32).sqrt())),
            PostNormalisation::Standardise(s) => s.apply(z).map_err(into_core),
        }
    }
}

fn flatten(input: LayerInput) -> Tensor<2> {
    match input {
        LayerInput::Conv { input, .. } => {
            let [b, c, h, w] = input.dims();
            input.inner().reshape([b, c * h * w])
        }
        LayerInput::Linear { input, .. } => input.inner(),
    }
}

fn project(projection: Option<&ScoreProjection>, x: Tensor<2>) -> Result<Tensor<2>> {
    match projection {
        None => Ok(x),
        Some(p) => p.project(x),
    }
}

/// Converts to the shared error for the [`Embedder`] trait, keeping shared variants intact.
fn into_core(e: Error) -> CoreError {
    match e {
        Error::Core(e) => e,
        other => CoreError::config("embedding", "failed", other.to_string()),
    }
}

/// Embeds images `range` of `images` in batches of `batch_size` starting at `range.start`,
/// calling `on_batch` with the number of images done after each batch. Returns the data-set
/// indices and the `[n, k]` embeddings, row-major.
///
/// Give `range` from [`Shard::range`](crate::Shard::range) so that every batch is the same
/// as in a single run of all images.
///
/// # Errors
/// When the range runs past the images, `batch_size` is 0, or the embedder fails.
pub fn embed_range(
    embedder: &dyn Embedder,
    images: &ImageBatch,
    range: Range<usize>,
    batch_size: usize,
    device: &Device,
    mut on_batch: impl FnMut(usize),
) -> Result<(Vec<i64>, Vec<f32>)> {
    if batch_size == 0 {
        return Err(CoreError::config("batch size", 0, "must be at least 1").into());
    }
    if range.end > images.len() || range.start > range.end {
        return Err(CoreError::config(
            "image range",
            format!("{range:?}"),
            format!("must lie within the {} images", images.len()),
        )
        .into());
    }
    let _span = tracing::info_span!("embed_range", start = range.start, end = range.end).entered();

    let k = embedder.embedding_dim();
    let mut values = Vec::with_capacity(range.len() * k);
    for start in range.clone().step_by(batch_size) {
        let end = range.end.min(start + batch_size);
        let batch = images.slice(start, end).to_tensor(device);
        let z = embedder.embed(batch)?;
        if z.dims() != [end - start, k] {
            return Err(CoreError::shape("embeddings", &[end - start, k], &z.dims()).into());
        }
        values.extend(host_vec(z)?);
        on_batch(end - range.start);
    }
    Ok((range.map(|i| i as i64).collect(), values))
}
