//! The traits the crates compose through.
//!
//! Each trait is object safe and backend free: tensors carry their device, so one
//! implementation serves every backend. Implement them to plug a model, projector, decoder or
//! feature extractor of your own into the pipeline; `tests/compose.rs` of this crate builds a
//! tiny one of each and runs them end to end.

use burn::tensor::{Int, Tensor};

use crate::{ImageShape, Result};

/// A density model over 8-bit images, such as a PixelCNN.
///
/// ```
/// use burn::tensor::{Device, Int, Tensor};
/// use fisher_core::{DensityModel, ImageBatch, ImageShape, Result};
///
/// /// Every sub-pixel uniform on 0..=255.
/// struct Uniform(ImageShape);
///
/// impl DensityModel for Uniform {
///     fn image_shape(&self) -> ImageShape {
///         self.0
///     }
///     fn log_likelihood(&self, images: Tensor<4, Int>) -> Result<Tensor<1>> {
///         self.0.check_batch("images", images.dims())?;
///         let ll = -(self.0.dims() as f32) * 256f32.ln();
///         Ok(Tensor::ones([images.dims()[0]], &images.device()).mul_scalar(ll))
///     }
/// }
///
/// let shape = ImageShape::new(1, 2, 2)?;
/// let images = ImageBatch::new(vec![7; 8], 2, shape)?.to_tensor(&Device::flex());
/// let ll: Vec<f32> = Uniform(shape).log_likelihood(images)?.into_data().try_to_vec().unwrap();
/// assert!((fisher_core::bits_per_dim(ll[0].into(), 4) - 8.0).abs() < 1e-5);
/// # Ok::<(), fisher_core::Error>(())
/// ```
pub trait DensityModel {
    /// The shape of the images the model was built for.
    fn image_shape(&self) -> ImageShape;

    /// Per-example log-likelihood `log p(x)` in nats.
    ///
    /// Bits per dimension follow as `−log p(x) / (c·h·w · ln 2)`; see
    /// [`bits_per_dim`](crate::bits_per_dim).
    ///
    /// # Shapes
    /// - `images`: `[batch, channels, height, width]`, values in `0..=255`
    /// - output: `[batch]`
    ///
    /// # Errors
    /// When the image shape differs from [`image_shape`](Self::image_shape).
    fn log_likelihood(&self, images: Tensor<4, Int>) -> Result<Tensor<1>>;
}

/// Anything that maps images to fixed-length vectors.
///
/// ```
/// use burn::tensor::{Device, Int, Tensor};
/// use fisher_core::{Embedder, ImageBatch, ImageShape, PixelScaling, Result};
///
/// /// Mean brightness in [0, 1].
/// struct Brightness;
///
/// impl Embedder for Brightness {
///     fn embedding_dim(&self) -> usize {
///         1
///     }
///     fn embed(&self, images: Tensor<4, Int>) -> Result<Tensor<2>> {
///         let [b, c, h, w] = images.dims();
///         Ok(PixelScaling::UnitInterval.apply(images).reshape([b, c * h * w]).mean_dim(1))
///     }
/// }
///
/// let images = ImageBatch::new(vec![0, 255], 2, ImageShape::new(1, 1, 1)?)?;
/// let z = Brightness.embed(images.to_tensor(&Device::flex()))?;
/// assert_eq!(z.dims(), [2, 1]);
/// # Ok::<(), fisher_core::Error>(())
/// ```
pub trait Embedder {
    /// Length `k` of each embedding.
    fn embedding_dim(&self) -> usize;

    /// Embeds a batch of images.
    ///
    /// # Shapes
    /// - `images`: `[batch, channels, height, width]`, values in `0..=255`
    /// - output: `[batch, k]`
    fn embed(&self, images: Tensor<4, Int>) -> Result<Tensor<2>>;
}

/// A linear map `ℝ^d → ℝ^k` applied to vectors that arrive in blocks of coordinates.
///
/// ```
/// use burn::tensor::{Device, Tensor};
/// use fisher_core::{Error, Projector, Result};
///
/// /// Sums all coordinates into one output: P = [1 1 … 1].
/// struct Sum(usize);
///
/// impl Projector for Sum {
///     fn input_dim(&self) -> usize {
///         self.0
///     }
///     fn output_dim(&self) -> usize {
///         1
///     }
///     fn accumulate(&self, offset: usize, block: Tensor<2>, acc: Tensor<2>) -> Result<Tensor<2>> {
///         if offset + block.dims()[1] > self.0 {
///             return Err(Error::config("block end", offset + block.dims()[1], "past d"));
///         }
///         Ok(acc + block.sum_dim(1))
///     }
/// }
///
/// let device = Device::flex();
/// let x = Tensor::<2>::from_floats([[1.0, 2.0, 3.0]], &device);
/// let mut acc = Tensor::zeros([1, 1], &device);
/// acc = Sum(3).accumulate(0, x.clone().slice([0..1, 0..2]), acc)?;
/// acc = Sum(3).accumulate(2, x.slice([0..1, 2..3]), acc)?;
/// assert_eq!(acc.into_scalar::<f32>(), 6.0);
/// # Ok::<(), fisher_core::Error>(())
/// ```
///
/// A block covers coordinates `offset .. offset + d_chunk` of every vector in a batch; the
/// projector adds `P[:, offset..offset + d_chunk] · block` to the accumulator. Feeding every
/// coordinate of `0..d` exactly once, in any chunking, yields `P·x`.
pub trait Projector {
    /// Input length `d`.
    fn input_dim(&self) -> usize;

    /// Output length `k`.
    fn output_dim(&self) -> usize;

    /// Adds the projection of one block into `acc` and returns the new accumulator.
    ///
    /// # Shapes
    /// - `block`: `[batch, d_chunk]`, coordinates `offset .. offset + d_chunk`
    /// - `acc` and output: `[batch, k]`
    ///
    /// # Errors
    /// When the block runs past `d`, or the shapes disagree.
    fn accumulate(&self, offset: usize, block: Tensor<2>, acc: Tensor<2>) -> Result<Tensor<2>>;
}

/// A map from embeddings back to images, with a training entry point.
///
/// ```
/// use burn::tensor::{Device, Int, Tensor};
/// use fisher_core::{Decoder, ImageShape, Result};
///
/// /// Decodes z = [v] to a flat image of value v, clamped to 0..=255; nothing to learn.
/// struct Flat(ImageShape);
///
/// impl Decoder for Flat {
///     fn embedding_dim(&self) -> usize {
///         1
///     }
///     fn image_shape(&self) -> ImageShape {
///         self.0
///     }
///     fn decode(&self, z: Tensor<2>, _seed: u64) -> Result<Tensor<4, Int>> {
///         let [b, _] = z.dims();
///         let [c, h, w] = self.0.to_array();
///         Ok(z.clamp(0.0, 255.0).round().int().reshape([b, 1, 1, 1]).expand([b, c, h, w]))
///     }
///     fn train_step(&mut self, _z: Tensor<2>, _images: Tensor<4, Int>) -> Result<f64> {
///         Ok(0.0)
///     }
/// }
///
/// let decoder = Flat(ImageShape::new(1, 2, 2)?);
/// let z = Tensor::<2>::from_floats([[300.0], [7.0]], &Device::flex());
/// let images = decoder.decode(z, 0)?;
/// let values: Vec<i64> = images.into_data().convert::<i64>().try_to_vec().unwrap();
/// assert_eq!(values, [255, 255, 255, 255, 7, 7, 7, 7]);
/// # Ok::<(), fisher_core::Error>(())
/// ```
pub trait Decoder {
    /// Length `k` of the embeddings it decodes.
    fn embedding_dim(&self) -> usize;

    /// Shape of the images it produces.
    fn image_shape(&self) -> ImageShape;

    /// Decodes embeddings to 8-bit images. Stochastic decoders draw from `seed`; the same
    /// embeddings and seed give the same images.
    ///
    /// # Shapes
    /// - `z`: `[batch, k]`
    /// - output: `[batch, channels, height, width]`, values in `0..=255`
    fn decode(&self, z: Tensor<2>, seed: u64) -> Result<Tensor<4, Int>>;

    /// One optimisation step on a batch of `(embedding, image)` pairs; returns the loss
    /// before the step (each decoder documents its loss and unit).
    ///
    /// # Shapes
    /// - `z`: `[batch, k]`
    /// - `images`: `[batch, channels, height, width]`, values in `0..=255`
    fn train_step(&mut self, z: Tensor<2>, images: Tensor<4, Int>) -> Result<f64>;
}

/// Image features for the Fréchet distance (FID) and KID.
///
/// ```
/// use burn::tensor::{Device, Int, Tensor};
/// use fisher_core::{FeatureExtractor, ImageBatch, ImageShape, Result};
///
/// /// Per-channel mean intensity.
/// struct ChannelMeans;
///
/// impl FeatureExtractor for ChannelMeans {
///     fn feature_dim(&self) -> usize {
///         3
///     }
///     fn features(&self, images: Tensor<4, Int>) -> Result<Tensor<2>> {
///         let [b, c, h, w] = images.dims();
///         Ok(images.float().reshape([b, c, h * w]).mean_dim(2).reshape([b, c]))
///     }
/// }
///
/// let images = ImageBatch::new(vec![10, 20, 30], 1, ImageShape::new(3, 1, 1)?)?;
/// let f = ChannelMeans.features(images.to_tensor(&Device::flex()))?;
/// let f: Vec<f32> = f.into_data().try_to_vec().unwrap();
/// assert_eq!(f, [10.0, 20.0, 30.0]);
/// # Ok::<(), fisher_core::Error>(())
/// ```
pub trait FeatureExtractor {
    /// Length `f` of each feature vector.
    fn feature_dim(&self) -> usize;

    /// Features of a batch of images.
    ///
    /// # Shapes
    /// - `images`: `[batch, channels, height, width]`, values in `0..=255`
    /// - output: `[batch, f]`
    fn features(&self, images: Tensor<4, Int>) -> Result<Tensor<2>>;
}
