//! The one thing a model must offer to be scored: a probed forward pass.

use burn::tensor::{Gradients, Int, Tensor};
use fisher_core::ImageShape;

use crate::{Probe, ProbedLayer, Result};

/// Each image's log-likelihood `[batch]` and, per parameterised layer in parameter order, its
/// record and each example's gradient with respect to its output (the probe's shape).
pub type OutputGradients = (Tensor<1>, Vec<(ProbedLayer, Probe)>);

/// A density model whose per-example Fisher scores can be computed in one backward pass.
///
/// The parameter vector θ of length `d` ([`num_free_parameters`](Self::num_free_parameters))
/// is the concatenation, in the order of the records that
/// [`log_likelihood_probed`](Self::log_likelihood_probed) returns, of each layer's free
/// weights (row-major in the stored weight's shape, masked-out entries left out) and then its
/// biases. Every trainable parameter of the model belongs to exactly one record.
///
/// fisher-score implements it for [`fisher_pixelcnn::PixelCnn`]; implement it for a model of
/// your own to score it.
pub trait ScoreModel {
    /// The shape of the images the model was built for.
    fn image_shape(&self) -> ImageShape;

    /// Number of parameters `d`: free weights and biases of every layer.
    fn num_free_parameters(&self) -> usize;

    /// Log-likelihood in nats of each image, with a zero probe marked `require_grad` added
    /// to the output of every parameterised layer, and the record of each such layer.
    ///
    /// After `ll.sum().backward()`, each probe's gradient holds every example's gradient of
    /// its own log-likelihood with respect to that layer's output (the examples do not
    /// interact).
    ///
    /// # Shapes
    /// - `images`: `[batch, channels, height, width]`, values in `0..=255`, on an autodiff
    ///   device
    /// - `cond`: `[batch, conditioning]` for a conditional model, else `None`
    /// - output: `[batch]` and one record per layer
    ///
    /// # Errors
    /// When the images or the conditioning have the wrong shape.
    fn log_likelihood_probed(
        &self,
        images: Tensor<4, Int>,
        cond: Option<Tensor<2>>,
    ) -> Result<(Tensor<1>, Vec<ProbedLayer>)>;

    /// The records of [`log_likelihood_probed`](Self::log_likelihood_probed) for a pass that
    /// no backward pass follows (the activation baseline reads only the layer inputs).
    ///
    /// The default runs the probed pass and drops the log-likelihood. Override it when the
    /// model can run without building an autodiff graph: on Burn's autodiff backend a graph
    /// that is never walked backward keeps its memory, which grows with every batch.
    ///
    /// # Errors
    /// As [`log_likelihood_probed`](Self::log_likelihood_probed).
    fn layer_records(
        &self,
        images: Tensor<4, Int>,
        cond: Option<Tensor<2>>,
    ) -> Result<Vec<ProbedLayer>> {
        Ok(self.log_likelihood_probed(images, cond)?.1)
    }

    /// Log-likelihood in nats of each image and every layer's record together with each
    /// example's gradient with respect to the layer's output, for models that compute these
    /// without the probed autodiff pass (a hand-written backward pass, say).
    ///
    /// When this returns `Some`, the scores are formed from it and
    /// [`log_likelihood_probed`](Self::log_likelihood_probed) is not called: the records
    /// must come in the same order, and each gradient must equal what the probe's gradient
    /// would be after a backward pass of the summed log-likelihood. The records' `probe`
    /// fields are read for their shapes only. The default returns `None`.
    ///
    /// # Shapes
    /// - `images`: `[batch, channels, height, width]`, values in `0..=255`
    /// - `cond`: `[batch, conditioning]` for a conditional model, else `None`
    /// - output: `[batch]` and, per layer, the record and the gradient (the probe's shape)
    ///
    /// # Errors
    /// When the images or the conditioning have the wrong shape.
    fn log_likelihood_output_grads(
        &self,
        images: Tensor<4, Int>,
        cond: Option<Tensor<2>>,
    ) -> Result<Option<OutputGradients>> {
        let _ = (images, cond);
        Ok(None)
    }

    /// The ordinary gradient of all free parameters, flattened in the order above, read from
    /// `grads` after a backward pass through
    /// [`log_likelihood_probed`](Self::log_likelihood_probed).
    ///
    /// The vector has length `d`.
    ///
    /// # Errors
    /// When the gradients cannot be read.
    fn flat_gradient(&self, grads: &Gradients) -> Result<Vec<f32>>;
}
