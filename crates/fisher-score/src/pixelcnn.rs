//! [`ScoreModel`] for the gated PixelCNN of `fisher-pixelcnn`.
//!
//! The PixelCNN's probed forward pass records every parameterised layer (masked convolutions
//! and conditioning maps) in the order of its flat parameter vector; this module translates
//! those records. Conditioning maps store their weight `[in, out]` (Burn's layout) and have
//! no bias.

use burn::tensor::{Gradients, Int, Tensor};
use fisher_core::ImageShape;
use fisher_pixelcnn::{LayerRecord, PixelCnn, ProbeTensor};

use crate::layer::{LayerInput, LinearLayout, Probe, ProbedLayer};
use crate::normalise::host_vec;
use crate::{OutputGradients, Result, ScoreModel};

impl ScoreModel for PixelCnn {
    fn image_shape(&self) -> ImageShape {
        self.config().image
    }

    fn num_free_parameters(&self) -> usize {
        PixelCnn::num_free_parameters(self)
    }

    fn log_likelihood_probed(
        &self,
        images: Tensor<4, Int>,
        cond: Option<Tensor<2>>,
    ) -> Result<(Tensor<1>, Vec<ProbedLayer>)> {
        let (ll, records) = PixelCnn::log_likelihood_probed(self, images, cond)?;
        let layers = records
            .into_iter()
            .map(translate)
            .collect::<Result<Vec<_>>>()?;
        Ok((ll, layers))
    }

    /// The PixelCNN's hand-written backward pass
    /// ([`PixelCnn::log_likelihood_output_grads`]): no autodiff graph of the network, and
    /// no autodiff device needed.
    fn log_likelihood_output_grads(
        &self,
        images: Tensor<4, Int>,
        cond: Option<Tensor<2>>,
    ) -> Result<Option<OutputGradients>> {
        let (ll, records) = PixelCnn::log_likelihood_output_grads(self, images, cond)?;
        let layers = records
            .into_iter()
            .map(|record| {
                let layer = translate(record)?;
                let grad = layer.probe.clone();
                Ok((layer, grad))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Some((ll, layers)))
    }

    fn layer_records(
        &self,
        images: Tensor<4, Int>,
        cond: Option<Tensor<2>>,
    ) -> Result<Vec<ProbedLayer>> {
        PixelCnn::layer_records(self, images, cond)?
            .into_iter()
            .map(translate)
            .collect()
    }

    fn flat_gradient(&self, grads: &Gradients) -> Result<Vec<f32>> {
        Ok(PixelCnn::flat_gradient(self, grads))
    }
}

fn translate(record: LayerRecord) -> Result<ProbedLayer> {
    let input = match record.input {
        fisher_pixelcnn::LayerInput::Conv {
            input,
            kernel,
            padding,
            dilation,
        } => LayerInput::Conv {
            input,
            kernel,
            padding,
            dilation,
        },
        fisher_pixelcnn::LayerInput::Linear { input } => LayerInput::Linear {
            input,
            layout: LinearLayout::InOut,
        },
    };
    let probe = match record.probe {
        ProbeTensor::Map(p) => Probe::Spatial(p),
        ProbeTensor::Vector(p) => Probe::Flat(p),
    };
    let mask = match record.mask {
        Some(m) => Some(host_vec(m)?.into_iter().map(|v| v > 0.0).collect()),
        None => None,
    };
    Ok(ProbedLayer {
        name: record.name,
        input,
        probe,
        mask,
        has_bias: record.has_bias,
    })
}
