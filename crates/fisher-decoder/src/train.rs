//! Training over a set of `(embedding, image)` pairs, test metrics, and checked decoding of
//! host-side embeddings.
//!
//! [`fit`] runs epochs of shuffled mini-batches through
//! [`fisher_core::Decoder::train_step`], reporting each step to a callback and writing
//! checkpoints; it resumes where a loaded checkpoint
//! stopped (the shuffle of each epoch comes from the seed and the epoch number, so a resumed
//! run sees the same batches as an uninterrupted one). [`evaluate`] measures
//!
//! ```text
//! reconstruction MSE = mean over images and sub-pixels of (x̂/255 − x/255)²
//! bits per dimension = −Σ log p(x | z) / (N · c·h·w · ln 2)
//! ```
//!
//! with `x̂` the decoder's deterministic reconstruction ([`TrainableDecoder::reconstruct`]).

use std::path::PathBuf;

use burn::tensor::{Device, Tensor, TensorData};
use fisher_core::{Error as CoreError, ImageBatch};

use crate::nn::{SeedStream, to_vec};
use crate::{EmbeddingSpec, Result, TrainableDecoder};

/// Embeddings on the host, one row per image, with their metadata.
#[derive(Clone, Copy, Debug)]
pub struct Pairs<'a> {
    spec: &'a EmbeddingSpec,
    z: &'a [f32],
    images: &'a ImageBatch,
}

impl<'a> Pairs<'a> {
    /// Pairs row `i` of `z` (row-major `[n, spec.k]`) with image `i`.
    ///
    /// # Errors
    /// [`fisher_core::Error::Shape`] when `z` does not hold one row of `k` per image,
    /// [`fisher_core::Error::NonFinite`] on a NaN or infinite value.
    pub fn new(spec: &'a EmbeddingSpec, z: &'a [f32], images: &'a ImageBatch) -> Result<Self> {
        let (n, k) = (images.len(), spec.k);
        if z.len() != n * k {
            return Err(CoreError::shape(
                "embeddings (one row of k per image)",
                &[n, k],
                &[z.len()],
            )
            .into());
        }
        fisher_core::error::check_finite("embeddings", z)?;
        Ok(Self { spec, z, images })
    }

    /// Number of pairs.
    pub fn len(&self) -> usize {
        self.images.len()
    }

    /// Whether there is no pair.
    pub fn is_empty(&self) -> bool {
        self.images.is_empty()
    }

    /// The embeddings' metadata.
    pub fn spec(&self) -> &EmbeddingSpec {
        self.spec
    }

    /// The embeddings at `indices` as a tensor.
    ///
    /// # Shapes
    /// - output: `[indices.len(), k]`
    pub fn z_tensor(&self, indices: &[usize], device: &Device) -> Tensor<2> {
        let k = self.spec.k;
        let mut values = Vec::with_capacity(indices.len() * k);
        for &i in indices {
            values.extend_from_slice(&self.z[i * k..(i + 1) * k]);
        }
        Tensor::from_data(TensorData::new(values, [indices.len(), k]), device)
    }

    /// The images at `indices`.
    pub fn images(&self, indices: &[usize]) -> ImageBatch {
        self.images.select(indices)
    }
}

/// Settings of [`fit`].
#[derive(Clone, Debug)]
pub struct FitOptions {
    /// Passes over the data, at least 1.
    pub epochs: usize,
    /// Pairs per step, at least 1; the last batch of an epoch may be smaller.
    pub batch_size: usize,
    /// Seed of the shuffle.
    pub seed: u64,
    /// Where to write checkpoints, if anywhere.
    pub checkpoint: Option<PathBuf>,
    /// Write a checkpoint every this many steps (0: only at the end).
    pub checkpoint_every: usize,
    /// Return after this many steps even if the epochs are not done (`None`: no limit); a
    /// later call continues where this one stopped, as a resume does.
    pub step_limit: Option<usize>,
}

impl Default for FitOptions {
    fn default() -> Self {
        Self {
            epochs: 10,
            batch_size: 64,
            seed: 0,
            checkpoint: None,
            checkpoint_every: 0,
            step_limit: None,
        }
    }
}

/// What [`fit`] reports after each step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FitProgress {
    /// Steps done so far, counting those before a resume.
    pub step: usize,
    /// Steps the whole run will have taken.
    pub total_steps: usize,
    /// Epoch of this step, from 0.
    pub epoch: usize,
    /// The loss of this step (the unit of the decoder's [`fisher_core::Decoder::train_step`]).
    pub loss: f64,
}

/// Summary of a [`fit`] run.
#[derive(Clone, Debug, PartialEq)]
pub struct FitReport {
    /// Steps this call ran (0 when the checkpoint had finished already).
    pub steps_run: usize,
    /// The loss of every step this call ran, in order.
    pub losses: Vec<f64>,
}

/// Trains `decoder` on `pairs` for `options.epochs` epochs, resuming after the
/// `decoder.steps()` steps it has taken already; writes a checkpoint every
/// `options.checkpoint_every` steps and when it returns. A decoder that has not trained yet
/// first fits its embedding standardisation on all of `pairs`.
///
/// # Errors
/// [`Error::EmbeddingMismatch`](crate::Error::EmbeddingMismatch) when the embeddings' spec
/// differs from the decoder's; shape errors when the images do not fit the decoder; a
/// non-finite loss; I/O errors writing checkpoints.
pub fn fit<D: TrainableDecoder + ?Sized>(
    decoder: &mut D,
    pairs: &Pairs<'_>,
    options: &FitOptions,
    device: &Device,
    mut progress: impl FnMut(&FitProgress),
) -> Result<FitReport> {
    check_compatible(decoder, pairs)?;
    if options.epochs == 0 || options.batch_size == 0 || pairs.is_empty() {
        let reason = "epochs, batch size and number of pairs must all be at least 1";
        let value = format!("{}/{}/{}", options.epochs, options.batch_size, pairs.len());
        return Err(CoreError::config("epochs/batch size/pairs", value, reason).into());
    }

    let per_epoch = pairs.len().div_ceil(options.batch_size);
    let total_steps = options.epochs * per_epoch;
    let _span = tracing::info_span!("fit_decoder", total_steps, start = decoder.steps());
    let mut report = FitReport {
        steps_run: 0,
        losses: Vec::new(),
    };
    let mut order = (usize::MAX, Vec::new());

    if decoder.steps() == 0 {
        decoder.standardise_embeddings(pairs.z)?;
    }
    let limit = options.step_limit.unwrap_or(usize::MAX);
    while decoder.steps() < total_steps && report.steps_run < limit {
        let step = decoder.steps();
        let (epoch, batch) = (step / per_epoch, step % per_epoch);
        if order.0 != epoch {
            order = (epoch, shuffled(pairs.len(), options.seed, epoch));
        }
        let end = ((batch + 1) * options.batch_size).min(pairs.len());
        let indices = &order.1[batch * options.batch_size..end];

        let z = pairs.z_tensor(indices, device);
        let images = pairs.images(indices).to_tensor(device);
        let loss = decoder.train_step(z, images)?;
        report.steps_run += 1;
        report.losses.push(loss);
        progress(&FitProgress {
            step: decoder.steps(),
            total_steps,
            epoch,
            loss,
        });

        let due = options.checkpoint_every > 0
            && decoder.steps().is_multiple_of(options.checkpoint_every);
        let last = decoder.steps() == total_steps || report.steps_run == limit;
        if let (Some(path), true) = (&options.checkpoint, due || last) {
            decoder.save(path)?;
        }
    }
    Ok(report)
}

/// The order of epoch `epoch`: a Fisher–Yates shuffle from `seed` and the epoch.
fn shuffled(n: usize, seed: u64, epoch: usize) -> Vec<usize> {
    let mut rng = SeedStream::new(seed ^ (epoch as u64).wrapping_mul(0xA24B_AED4_963E_E407));
    let mut order: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        order.swap(i, rng.below(i + 1));
    }
    order
}

fn check_compatible<D: TrainableDecoder + ?Sized>(decoder: &D, pairs: &Pairs<'_>) -> Result<()> {
    decoder.spec().check(pairs.spec())?;
    let shape = decoder.image_shape();
    if pairs.images.shape() != shape {
        let [c, h, w] = pairs.images.shape().to_array();
        let found = [pairs.len(), c, h, w];
        return Err(CoreError::shape(
            "images",
            &[pairs.len(), shape.channels, shape.height, shape.width],
            &found,
        )
        .into());
    }
    Ok(())
}

/// Test metrics of a decoder on held-out pairs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Metrics {
    /// Number of pairs measured.
    pub count: usize,
    /// Reconstruction mean squared error per sub-pixel, on the `[0, 1]` scale.
    pub mse: f64,
    /// Negative log-likelihood in bits per dimension, for decoders with a likelihood.
    pub bits_per_dim: Option<f64>,
}

/// Measures reconstruction error and, where the decoder has one, bits per dimension on
/// `pairs`, in batches of `batch_size`; `seed` draws the flow's dequantisation noise.
///
/// # Errors
/// As [`fit`], and when `batch_size` is 0.
pub fn evaluate<D: TrainableDecoder + ?Sized>(
    decoder: &D,
    pairs: &Pairs<'_>,
    batch_size: usize,
    seed: u64,
    device: &Device,
) -> Result<Metrics> {
    check_compatible(decoder, pairs)?;
    if batch_size == 0 {
        return Err(CoreError::config("batch size", 0, "must be at least 1").into());
    }
    let _span = tracing::info_span!("evaluate_decoder", n = pairs.len());
    let (mut squared, mut nats, mut has_likelihood) = (0.0f64, 0.0f64, true);

    let all: Vec<usize> = (0..pairs.len()).collect();
    for (b, indices) in all.chunks(batch_size).enumerate() {
        let z = pairs.z_tensor(indices, device);
        let images = pairs.images(indices);
        let decoded = ImageBatch::from_tensor(decoder.reconstruct(z.clone())?)?;
        squared += decoded
            .as_slice()
            .iter()
            .zip(images.as_slice())
            .map(|(&a, &b)| ((f64::from(a) - f64::from(b)) / 255.0).powi(2))
            .sum::<f64>();

        let batch_seed = seed ^ (b as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        match decoder.log_likelihood(z, images.to_tensor(device), batch_seed)? {
            Some(ll) => nats += to_vec(ll).iter().map(|&v| f64::from(v)).sum::<f64>(),
            None => has_likelihood = false,
        }
    }

    let dims = (pairs.len() * decoder.image_shape().dims()) as f64;
    Ok(Metrics {
        count: pairs.len(),
        mse: squared / dims,
        bits_per_dim: has_likelihood.then(|| -nats / (dims * std::f64::consts::LN_2)),
    })
}

/// Decodes host-side embeddings after checking that they come from the space the decoder was
/// trained on.
///
/// # Errors
/// [`Error::EmbeddingMismatch`](crate::Error::EmbeddingMismatch) when `spec` differs from the
/// decoder's; a shape error when `z` is not `[n, k]` row-major.
pub fn decode_embeddings<D: TrainableDecoder + ?Sized>(
    decoder: &D,
    spec: &EmbeddingSpec,
    z: &[f32],
    seed: u64,
    device: &Device,
) -> Result<ImageBatch> {
    decoder.spec().check(spec)?;
    let k = spec.k;
    if z.is_empty() || !z.len().is_multiple_of(k) {
        return Err(CoreError::shape(
            "embeddings (rows of k)",
            &[z.len().div_ceil(k).max(1), k],
            &[z.len()],
        )
        .into());
    }
    fisher_core::error::check_finite("embeddings", z)?;
    let n = z.len() / k;
    let z = Tensor::from_data(TensorData::new(z.to_vec(), [n, k]), device);
    Ok(ImageBatch::from_tensor(decoder.decode(z, seed)?)?)
}
