//! Ancestral sampling: draw sub-pixels one at a time, in model order, each from
//! `p(xᵢ | x<ᵢ)` at a temperature `T`.
//!
//! A naive sampler reruns the whole network on the whole image for each of the `c·h·w`
//! sub-pixels. This one recomputes only what the architecture needs. The vertical stack at
//! row `i` depends only on rows `< i`, so it runs once per row, on the
//! [`vertical_reach`](crate::PixelCnnConfig::vertical_reach) rows above `i` (exact: the
//! dependency cone of row `i` lies inside that crop). The horizontal stack and the head then
//! run once per sub-pixel on a single row, on the
//! [`horizontal_reach`](crate::PixelCnnConfig::horizontal_reach) columns left of `j`. For the
//! default 28×28 model that is 28 vertical passes over at most 12 rows and 784 horizontal
//! passes over 1 × 11 positions, instead of 784 full passes.
//!
//! Temperature divides the categorical logits and the mixture-weight logits and multiplies
//! the logistic scales; `T = 1` samples the model itself.

use burn::tensor::{Device, Int, Tensor};
use fisher_core::{Error, PixelScaling};
use rand::SeedableRng;
use rand::rngs::Xoshiro256PlusPlus;

use crate::heads;
use crate::model::{PixelCnn, Tape, int_images};

impl PixelCnn {
    /// Draws `n` images by ancestral sampling at `temperature`, with randomness from `seed`.
    ///
    /// The same model, conditioning, temperature and seed give the same images on the same
    /// backend. Use a model without autodiff (`model.valid()`) to avoid recording a graph.
    ///
    /// # Shapes
    /// - `cond`: `[n, cond_dim]`, required exactly when `cond_dim > 0`
    /// - output: `[n, c, h, w]`, values in `0..=255`
    ///
    /// # Errors
    /// When the temperature is not finite and positive, or the conditioning does not fit.
    pub fn sample(
        &self,
        n: usize,
        temperature: f32,
        cond: Option<Tensor<2>>,
        seed: u64,
        device: &Device,
    ) -> fisher_core::Result<Tensor<4, Int>> {
        if !(temperature.is_finite() && temperature > 0.0) {
            return Err(Error::config(
                "temperature",
                temperature,
                "must be finite and > 0",
            ));
        }
        self.check_cond(n, cond.as_ref())?;
        let shape = self.config().image;
        let _span = tracing::info_span!("pixelcnn_sample", n, shape = %shape).entered();

        let mut sampler = Sampler {
            model: self,
            pixels: vec![0u8; n * shape.dims()],
            dims: [n, shape.channels, shape.height, shape.width],
            rng: Xoshiro256PlusPlus::seed_from_u64(seed),
            temperature,
            cond,
            device: device.clone(),
        };
        for i in 0..shape.height {
            sampler.row(i);
        }
        Ok(int_images(&sampler.pixels, sampler.dims, device))
    }
}

/// The state of one sampling run.
struct Sampler<'a> {
    model: &'a PixelCnn,
    pixels: Vec<u8>,
    dims: [usize; 4],
    rng: Xoshiro256PlusPlus,
    temperature: f32,
    cond: Option<Tensor<2>>,
    device: Device,
}

impl Sampler<'_> {
    /// Samples row `i`: one vertical pass, then every sub-pixel of the row.
    fn row(&mut self, i: usize) {
        let config = self.model.config();
        let top = i.saturating_sub(config.vertical_reach());
        let rows = i - top + 1;
        let w = self.dims[3];

        let crop = self.crop(top, rows, 0, w);
        let links: Vec<Tensor<4>> = self
            .model
            .vertical(crop, self.cond.as_ref(), &mut Tape::off())
            .into_iter()
            .map(|t| t.narrow(2, rows - 1, 1))
            .collect();
        for j in 0..w {
            self.pixel(i, j, &links);
        }
    }

    /// Samples the channels of pixel `(i, j)` of every image, in order.
    fn pixel(&mut self, i: usize, j: usize, row_links: &[Tensor<4>]) {
        let [n, c, ..] = self.dims;
        let config = self.model.config();
        let left = j.saturating_sub(config.horizontal_reach());
        let cols = j - left + 1;
        let links: Vec<Tensor<4>> = row_links
            .iter()
            .map(|t| t.clone().narrow(3, left, cols))
            .collect();
        let n_params = config.head.output_channels(c);
        let mut components = vec![0usize; n];

        for ch in 0..c {
            let row = self.crop(i, 1, left, cols);
            let out = self
                .model
                .horizontal(row, &links, self.cond.as_ref(), &mut Tape::off());
            let params: Vec<f32> = out
                .narrow(3, cols - 1, 1)
                .into_data()
                .try_into_vec_as::<f32>()
                .unwrap_or_default();
            for (b, component) in components.iter_mut().enumerate() {
                let prev: Vec<u8> = (0..ch)
                    .map(|k| self.pixels[self.index(b, k, i, j)])
                    .collect();
                let value = heads::sample_subpixel(
                    config.head,
                    &params[b * n_params..(b + 1) * n_params],
                    ch,
                    &prev,
                    component,
                    self.temperature,
                    &mut self.rng,
                );
                let at = self.index(b, ch, i, j);
                self.pixels[at] = value;
            }
        }
    }

    fn index(&self, b: usize, ch: usize, i: usize, j: usize) -> usize {
        let [_, c, h, w] = self.dims;
        ((b * c + ch) * h + i) * w + j
    }

    /// Rows `top..top+rows`, columns `left..left+cols` of the current images, scaled.
    fn crop(&self, top: usize, rows: usize, left: usize, cols: usize) -> Tensor<4> {
        let [n, c, ..] = self.dims;
        let mut values = Vec::with_capacity(n * c * rows * cols);
        for b in 0..n {
            for ch in 0..c {
                for i in top..top + rows {
                    let start = self.index(b, ch, i, left);
                    values.extend_from_slice(&self.pixels[start..start + cols]);
                }
            }
        }
        let images = int_images(&values, [n, c, rows, cols], &self.device);
        PixelScaling::Symmetric.apply(images)
    }
}

#[cfg(test)]
mod tests {
    //! The cropped passes of the sampler give exactly the full network's outputs.

    use burn::tensor::{Device, Int, Tensor, TensorData};
    use fisher_core::{ImageShape, PixelScaling, Tolerance};

    use crate::model::Tape;
    use crate::{Head, PixelCnnConfig};

    fn host(t: Tensor<4>) -> Vec<f32> {
        t.into_data().try_into_vec_as::<f32>().unwrap()
    }

    fn check(config: PixelCnnConfig) {
        let device = Device::flex();
        let model = config.init(&device).unwrap();
        let [c, h, w] = config.image.to_array();
        let values: Vec<i32> = (0..2 * c * h * w).map(|i| (i * 89 % 256) as i32).collect();
        let images: Tensor<4, Int> =
            Tensor::from_data(TensorData::new(values, [2, c, h, w]), &device);
        let x = PixelScaling::Symmetric.apply(images);
        let cond = (config.cond_dim > 0).then(|| {
            let v: Vec<f32> = (0..2 * config.cond_dim).map(|i| (i as f32).cos()).collect();
            Tensor::<2>::from_data(TensorData::new(v, [2, config.cond_dim]), &device)
        });
        let links = model.vertical(x.clone(), cond.as_ref(), &mut Tape::off());
        let full = model.horizontal(x.clone(), &links, cond.as_ref(), &mut Tape::off());

        for i in 0..h {
            let top = i.saturating_sub(config.vertical_reach());
            let rows = i - top + 1;
            let crop = x.clone().narrow(2, top, rows);
            let row_links: Vec<Tensor<4>> = model
                .vertical(crop, cond.as_ref(), &mut Tape::off())
                .into_iter()
                .map(|t| t.narrow(2, rows - 1, 1))
                .collect();
            for j in 0..w {
                let left = j.saturating_sub(config.horizontal_reach());
                let cols = j - left + 1;
                let links: Vec<Tensor<4>> = row_links
                    .iter()
                    .map(|t| t.clone().narrow(3, left, cols))
                    .collect();
                let row = x.clone().narrow(2, i, 1).narrow(3, left, cols);
                let out = model.horizontal(row, &links, cond.as_ref(), &mut Tape::off());
                let cropped = host(out.narrow(3, cols - 1, 1));
                let expected = host(full.clone().narrow(2, i, 1).narrow(3, j, 1));
                if let Err(msg) = Tolerance::new(1e-5, 1e-5).check(&cropped, &expected) {
                    panic!("pixel ({i}, {j}): {msg}");
                }
            }
        }
    }

    #[test]
    fn cropped_passes_equal_the_full_pass_gray() {
        let image = ImageShape::new(1, 9, 8).unwrap();
        check(
            PixelCnnConfig::new(image)
                .with_hidden_channels(4)
                .with_layers(3)
                .with_first_kernel(5)
                .with_head_channels(4),
        );
    }

    #[test]
    fn cropped_passes_equal_the_full_pass_rgb_conditional() {
        let image = ImageShape::new(3, 8, 9).unwrap();
        check(
            PixelCnnConfig::new(image)
                .with_hidden_channels(6)
                .with_layers(2)
                .with_first_kernel(3)
                .with_head_channels(6)
                .with_cond_dim(2)
                .with_head(Head::LogisticMixture(2)),
        );
    }
}
