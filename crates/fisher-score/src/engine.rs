//! Per-example Fisher scores of a batch from one forward and one backward pass.
//!
//! The Fisher score of an image x under a model p_θ is
//!
//! ```text
//! U(x) = ∇_θ log p_θ(x) ∈ ℝ^d
//! ```
//!
//! (Jaakkola & Haussler 1998, "Exploiting generative models in discriminative classifiers").
//! For a batch x₁ … x_B the sum L = Σ_b log p_θ(x_b) couples nothing: example b's gradient
//! with respect to a layer's output is ∂L/∂y_b. One backward pass of L, with a zero probe
//! added to every layer's output, therefore yields every example's output gradient at once
//! (a model may instead compute these gradients itself, through
//! [`ScoreModel::log_likelihood_output_grads`]; the PixelCNN does, by a hand-written backward
//! pass), and [`ProbedLayer::per_example`] turns those into the example's parameter
//! gradient, one layer at a time. Each layer's `[batch, d_layer]` block is handed on (to a
//! projector, a statistic, a test) and freed before the next layer is formed, so no
//! `[batch, d]` matrix is ever held.
//!
//! [`reference_scores`] computes the same scores the slow, obvious way, with one backward pass
//! per example; the tests compare the two.

use burn::tensor::{Gradients, Int, Tensor, TensorData};
use fisher_core::Error as CoreError;

use crate::{
    DiagonalFisher, Error, OutputGradients, Probe, ProbedLayer, Result, ScoreModel, ScoreProjection,
};

/// The per-example gradients of one layer's weights or biases.
#[derive(Clone, Debug)]
pub struct ScoreBlock {
    /// Index of the layer among the model's records.
    pub layer: usize,
    /// First coordinate of the block in the parameter vector.
    pub offset: usize,
    /// The gradients.
    ///
    /// # Shapes
    /// `[batch, width]`, covering coordinates `offset .. offset + width`
    pub values: Tensor<2>,
}

/// Runs one forward pass and one backward pass, and hands each layer's per-example gradients
/// to `sink`, in coordinate order. Returns each image's log-likelihood in nats.
///
/// The output gradients come from
/// [`ScoreModel::log_likelihood_output_grads`] when the model offers them, else from
/// [`ScoreModel::log_likelihood_probed`] and one autodiff backward pass, which needs an
/// autodiff device.
///
/// # Shapes
/// - `images`: `[batch, channels, height, width]`, values in `0..=255`, on an autodiff device
///   (any device for a model with its own output gradients, such as the PixelCNN)
/// - `cond`: `[batch, conditioning]` or `None`
/// - blocks: `[batch, width]`; output: `[batch]`, without autodiff
///
/// # Errors
/// When the probed pass is needed and the device is not an autodiff device, a layer record
/// is inconsistent, the blocks do not add up to the model's `d`, or `sink` fails.
pub fn stream_scores<M: ScoreModel + ?Sized>(
    model: &M,
    images: Tensor<4, Int>,
    cond: Option<Tensor<2>>,
    mut sink: impl FnMut(ScoreBlock) -> Result<()>,
) -> Result<Tensor<1>> {
    let [batch, ..] = images.dims();
    let _span = tracing::info_span!("per_example_scores", batch).entered();

    let (ll, layers) = output_gradients(model, images, cond)?;
    let mut offset = 0;
    for (position, (record, grad)) in layers.into_iter().enumerate() {
        let scores = record.per_example(position, &grad)?;
        drop((record, grad));

        let width = scores.weight.dims()[1];
        sink(ScoreBlock {
            layer: position,
            offset,
            values: scores.weight,
        })?;
        offset += width;
        if let Some(bias) = scores.bias {
            let width = bias.dims()[1];
            sink(ScoreBlock {
                layer: position,
                offset,
                values: bias,
            })?;
            offset += width;
        }
    }

    let d = model.num_free_parameters();
    if offset != d {
        return Err(CoreError::mismatch("number of score coordinates", d, offset).into());
    }
    Ok(ll)
}

/// Per-example scores projected by `projection`, streamed layer by layer: each layer's block
/// is projected at its offset and dropped before the next layer's is formed.
///
/// With `fisher`, each coordinate is first multiplied by its diagonal-Fisher factor
/// (see [`DiagonalFisher`]).
///
/// # Shapes
/// - `images`: `[batch, channels, height, width]`, on an autodiff device
/// - `cond`: `[batch, conditioning]` or `None`
/// - output: `[batch, k]`, without autodiff
///
/// # Errors
/// As [`stream_scores`], and when the projection's or the Fisher diagonal's input length is
/// not the model's `d`.
pub fn project_scores<M: ScoreModel + ?Sized>(
    model: &M,
    images: Tensor<4, Int>,
    cond: Option<Tensor<2>>,
    projection: &ScoreProjection,
    fisher: Option<&DiagonalFisher>,
) -> Result<Tensor<2>> {
    let d = model.num_free_parameters();
    if projection.input_dim() != d {
        return Err(
            CoreError::mismatch("projection input length d", d, projection.input_dim()).into(),
        );
    }
    if let Some(f) = fisher {
        f.check_dim(d)?;
    }

    let [batch, ..] = images.dims();
    let mut state = projection.start(batch, &images.device().inner());
    stream_scores(model, images, cond, |block| {
        let values = match fisher {
            Some(f) => f.scale_block(block.offset, block.values)?,
            None => block.values,
        };
        state.add(block.offset, values)
    })?;
    state.finish()
}

/// The full `[batch, d]` matrix of per-example scores, from one backward pass.
///
/// For tests and small models only: this holds `batch · d` floats.
///
/// # Shapes
/// - `images`: `[batch, channels, height, width]`, on an autodiff device
/// - output: `[batch, d]`, without autodiff
///
/// # Errors
/// As [`stream_scores`].
pub fn materialise_scores<M: ScoreModel + ?Sized>(
    model: &M,
    images: Tensor<4, Int>,
    cond: Option<Tensor<2>>,
) -> Result<Tensor<2>> {
    let mut blocks = Vec::new();
    stream_scores(model, images, cond, |block| {
        blocks.push(block.values);
        Ok(())
    })?;
    Ok(Tensor::cat(blocks, 1))
}

/// The per-example scores computed the slow, obvious way: one forward and one backward pass
/// per image, reading the ordinary gradient with [`ScoreModel::flat_gradient`].
///
/// The model's parameters must require gradients.
///
/// # Shapes
/// - `images`: `[batch, channels, height, width]`, on an autodiff device
/// - `cond`: `[batch, conditioning]` or `None`
/// - output: `[batch, d]`, without autodiff
///
/// # Errors
/// When the device is not an autodiff device or the model fails.
pub fn reference_scores<M: ScoreModel + ?Sized>(
    model: &M,
    images: Tensor<4, Int>,
    cond: Option<Tensor<2>>,
) -> Result<Tensor<2>> {
    check_autodiff(&images)?;
    let [batch, channels, height, width] = images.dims();
    let device = images.device().inner();
    let _span = tracing::info_span!("reference_scores", batch).entered();

    let mut rows = Vec::with_capacity(batch);
    for b in 0..batch {
        let image = images
            .clone()
            .slice([b..b + 1, 0..channels, 0..height, 0..width]);
        let c = cond.as_ref().map(|c| {
            let [_, m] = c.dims();
            c.clone().slice([b..b + 1, 0..m])
        });
        rows.extend(batch_gradient(model, image, c)?);
    }
    let d = rows.len() / batch.max(1);
    Ok(Tensor::from_data(
        TensorData::new(rows, [batch, d]),
        &device,
    ))
}

/// The ordinary gradient of the summed log-likelihood of a batch, `Σ_b U(x_b)`.
///
/// The model's parameters must require gradients.
///
/// # Shapes
/// - `images`: `[batch, channels, height, width]`, on an autodiff device
/// - output: `d` values, on the host
///
/// # Errors
/// When the device is not an autodiff device or the model fails.
pub fn batch_gradient<M: ScoreModel + ?Sized>(
    model: &M,
    images: Tensor<4, Int>,
    cond: Option<Tensor<2>>,
) -> Result<Vec<f32>> {
    check_autodiff(&images)?;
    let (ll, _records) = model.log_likelihood_probed(images, cond)?;
    let grads = ll.sum().backward();
    model.flat_gradient(&grads)
}

/// Each image's log-likelihood (without autodiff) and every layer's record with its output
/// gradient: from the model's own backward pass when it has one, else from a probed forward
/// pass and one autodiff backward pass.
fn output_gradients<M: ScoreModel + ?Sized>(
    model: &M,
    images: Tensor<4, Int>,
    cond: Option<Tensor<2>>,
) -> Result<OutputGradients> {
    if let Some(found) = model.log_likelihood_output_grads(images.clone(), cond.clone())? {
        return Ok(found);
    }
    check_autodiff(&images)?;
    let (ll, records) = model.log_likelihood_probed(images, cond)?;
    let mut grads = ll.clone().sum().backward();
    let layers = records
        .into_iter()
        .enumerate()
        .map(|(position, record)| {
            let grad = take_probe_grad(position, &record, &mut grads)?;
            Ok((record, grad))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((ll.inner(), layers))
}

fn check_autodiff(images: &Tensor<4, Int>) -> Result<()> {
    if images.device().is_autodiff() {
        Ok(())
    } else {
        Err(CoreError::config(
            "device",
            format!("{:?}", images.device()),
            "per-example scores need an autodiff device (`Device::autodiff()`)",
        )
        .into())
    }
}

fn take_probe_grad(position: usize, record: &ProbedLayer, grads: &mut Gradients) -> Result<Probe> {
    let missing = || Error::MissingProbeGradient {
        layer: position,
        name: record.name.clone(),
    };
    Ok(match &record.probe {
        Probe::Spatial(p) => Probe::Spatial(p.grad_remove(grads).ok_or_else(missing)?),
        Probe::Flat(p) => Probe::Flat(p.grad_remove(grads).ok_or_else(missing)?),
    })
}
