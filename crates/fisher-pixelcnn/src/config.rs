//! The model configuration: image size, widths, depth, kernels, output head and conditioning.
//!
//! A gated PixelCNN (van den Oord et al., 2016, "Conditional Image Generation with PixelCNN
//! Decoders") factorises an image into sub-pixels in raster order, and inside each pixel in
//! the order R → G → B:
//!
//! ```text
//! p(x) = ∏ᵢ p(xᵢ | x₁, …, xᵢ₋₁)
//! ```
//!
//! [`PixelCnnConfig`] fixes everything that determines the parameters; its `seed` fixes their
//! initial values, so a config is a complete recipe for a freshly initialised model.

use burn::config::Config;
use burn::tensor::Device;
use fisher_core::{Error, ImageShape};

use crate::model::PixelCnn;

/// The output distribution of each sub-pixel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Head {
    /// A 256-way softmax per sub-pixel.
    Categorical,
    /// The discretized logistic mixture of PixelCNN++ (Salimans et al., 2017) with this many
    /// components per pixel; for RGB the components are shared by the three channels and the
    /// means of G and B depend linearly on the channels before them.
    LogisticMixture(usize),
}

impl Head {
    /// Output channels of the last 1×1 convolution for images with `channels` channels.
    ///
    /// Categorical: `256·c`. Mixture with `K` components: `3K` for grayscale (weights, means,
    /// log-scales) and `10K` for RGB (weights, three means, three log-scales, three
    /// coefficients).
    pub fn output_channels(self, channels: usize) -> usize {
        match (self, channels) {
            (Self::Categorical, c) => 256 * c,
            (Self::LogisticMixture(k), 1) => 3 * k,
            (Self::LogisticMixture(k), _) => 10 * k,
        }
    }
}

/// Configuration of a [`PixelCnn`]; build one with [`PixelCnnConfig::new`] or a shipped
/// preset, then call [`init`](PixelCnnConfig::init).
///
/// Parameter counts of the presets, all with 8 gated layers (every weight and bias, masked
/// entries included; the free count excludes the weights a mask holds at zero):
///
/// | preset | head | parameters | free parameters |
/// | --- | --- | --- | --- |
/// | [`fashion_mnist`](Self::fashion_mnist): 1×28×28, 64 ch | categorical | 670 592 | 670 464 |
/// | same with [`Head::LogisticMixture`]`(5)` | mixture, 5 | 639 503 | 639 375 |
/// | [`rgb`](Self::rgb)`(32, 32)`: 3×32×32, 96 ch | mixture, 10 | 1 461 028 | 1 381 156 |
///
/// A test (`tests/config.rs`) checks these numbers against the built models.
#[derive(Config, Debug, PartialEq)]
pub struct PixelCnnConfig {
    /// Shape of the modelled images: 1 or 3 channels, any height and width.
    pub image: ImageShape,
    /// Feature maps of each stack, `C`; a multiple of 3 for RGB (one third per colour).
    #[config(default = 64)]
    pub hidden_channels: usize,
    /// Number of gated layers, at least 1; the first uses [`first_kernel`](Self::first_kernel).
    #[config(default = 8)]
    pub layers: usize,
    /// Odd kernel size `k₀` of the first gated layer (7 in the paper).
    #[config(default = 7)]
    pub first_kernel: usize,
    /// Odd kernel size `k` of the later gated layers (3 in the paper).
    #[config(default = 3)]
    pub kernel: usize,
    /// Channels of the hidden 1×1 layer of the output head; a multiple of 3 for RGB.
    #[config(default = 128)]
    pub head_channels: usize,
    /// The output distribution.
    #[config(default = "Head::Categorical")]
    pub head: Head,
    /// Length of the global conditioning vector; 0 for an unconditional model.
    #[config(default = 0)]
    pub cond_dim: usize,
    /// Seed of the initial parameter values.
    #[config(default = 0)]
    pub seed: u64,
}

impl PixelCnnConfig {
    /// The default model for 28×28 grayscale images (MNIST, Fashion-MNIST): 64 channels,
    /// 8 gated layers, a 7×7 first layer, 3×3 after, categorical head.
    pub fn fashion_mnist() -> Self {
        let image = ImageShape {
            channels: 1,
            height: 28,
            width: 28,
        };
        Self::new(image)
    }

    /// A model for `height × width` RGB images: 96 channels, 8 gated layers, a
    /// 10-component logistic mixture head.
    pub fn rgb(height: usize, width: usize) -> Self {
        let image = ImageShape {
            channels: 3,
            height,
            width,
        };
        Self::new(image)
            .with_hidden_channels(96)
            .with_head_channels(192)
            .with_head(Head::LogisticMixture(10))
    }

    /// Checks every setting; the error names the setting, its value and the valid range.
    pub fn validate(&self) -> fisher_core::Result<()> {
        ImageShape::new(self.image.channels, self.image.height, self.image.width)?;
        positive("hidden_channels", self.hidden_channels)?;
        positive("layers", self.layers)?;
        positive("head_channels", self.head_channels)?;
        odd("first_kernel", self.first_kernel)?;
        odd("kernel", self.kernel)?;
        if self.image.channels == 3 {
            multiple_of_three("hidden_channels", self.hidden_channels)?;
            multiple_of_three("head_channels", self.head_channels)?;
        }
        if let Head::LogisticMixture(k) = self.head {
            positive("mixture components", k)?;
        }
        Ok(())
    }

    /// Builds a model with parameters drawn from [`seed`](Self::seed) on `device`.
    ///
    /// # Errors
    /// When [`validate`](Self::validate) fails.
    pub fn init(&self, device: &Device) -> fisher_core::Result<PixelCnn> {
        self.validate()?;
        Ok(PixelCnn::new(self.clone(), device))
    }

    /// Rows above a pixel that its prediction can depend on: `1 + k₀/2 + (L−1)·(k/2)`.
    ///
    /// Sampling recomputes the vertical stack on this many rows above the current one.
    pub fn vertical_reach(&self) -> usize {
        1 + self.first_kernel / 2 + (self.layers - 1) * (self.kernel / 2)
    }

    /// Columns to the left, in the same row, that a prediction can depend on:
    /// `k₀/2 + (L−1)·(k/2)`.
    pub fn horizontal_reach(&self) -> usize {
        self.first_kernel / 2 + (self.layers - 1) * (self.kernel / 2)
    }
}

fn positive(name: &str, value: usize) -> fisher_core::Result<()> {
    if value == 0 {
        return Err(Error::config(name, value, "must be at least 1"));
    }
    Ok(())
}

fn odd(name: &str, value: usize) -> fisher_core::Result<()> {
    if value.is_multiple_of(2) {
        return Err(Error::config(name, value, "must be odd (1, 3, 5, 7, ...)"));
    }
    Ok(())
}

fn multiple_of_three(name: &str, value: usize) -> fisher_core::Result<()> {
    if !value.is_multiple_of(3) {
        return Err(Error::config(
            name,
            value,
            "must be a multiple of 3 for RGB images (one group per colour)",
        ));
    }
    Ok(())
}
