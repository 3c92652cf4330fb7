//! Image conventions shared by every crate.
//!
//! Images are 8-bit: one `u8` per sub-pixel, stored channel-first as `[n, channels, height,
//! width]` on the host ([`ImageBatch`]) and as `Int` tensors of the same shape, values in
//! `0..=255`, on a device. A model that wants floats scales them with a [`PixelScaling`];
//! each model documents which one it uses:
//!
//! | scaling | value of sub-pixel `v` | used by |
//! | --- | --- | --- |
//! | [`PixelScaling::Symmetric`] | `2·v/255 − 1 ∈ [−1, 1]` | PixelCNN inputs, decoders |
//! | [`PixelScaling::UnitInterval`] | `v/255 ∈ [0, 1]` | classifiers, FID feature extractors |
//! | [`PixelScaling::Raw`] | `v ∈ [0, 255]` | pixel baselines |

use burn::tensor::{Device, Int, Tensor, TensorData};

use crate::{Error, Result};

/// The size of one image: channels, height and width.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct ImageShape {
    /// Number of channels: 1 (grayscale) or 3 (RGB).
    pub channels: usize,
    /// Height in pixels, at least 1.
    pub height: usize,
    /// Width in pixels, at least 1.
    pub width: usize,
}

impl ImageShape {
    /// A shape with `channels` ∈ {1, 3} and non-zero height and width.
    pub fn new(channels: usize, height: usize, width: usize) -> Result<Self> {
        if channels != 1 && channels != 3 {
            return Err(Error::config("channels", channels, "must be 1 or 3"));
        }
        if height == 0 || width == 0 {
            return Err(Error::config(
                "image size",
                format!("{height}x{width}"),
                "height and width must be at least 1",
            ));
        }
        Ok(Self {
            channels,
            height,
            width,
        })
    }

    /// Sub-pixels per image: `channels · height · width`.
    pub fn dims(&self) -> usize {
        self.channels * self.height * self.width
    }

    /// The shape as an array `[channels, height, width]`.
    pub fn to_array(&self) -> [usize; 3] {
        [self.channels, self.height, self.width]
    }

    /// Checks that a `[batch, c, h, w]` tensor shape holds images of this shape.
    pub fn check_batch(&self, what: &str, dims: [usize; 4]) -> Result<()> {
        if dims[1..] != self.to_array() {
            return Err(Error::shape(
                what,
                &[dims[0], self.channels, self.height, self.width],
                &dims,
            ));
        }
        Ok(())
    }
}

impl std::fmt::Display for ImageShape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}x{}x{}", self.channels, self.height, self.width)
    }
}

/// How 8-bit sub-pixels become floats; see the [module docs](self).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum PixelScaling {
    /// `2·v/255 − 1`, in `[−1, 1]`.
    Symmetric,
    /// `v/255`, in `[0, 1]`.
    UnitInterval,
    /// `v` unchanged, in `[0, 255]`.
    Raw,
}

impl PixelScaling {
    /// Applies the scaling to an `Int` image tensor.
    ///
    /// # Shapes
    /// - `images`: `[batch, channels, height, width]`, values in `0..=255`
    /// - output: the same shape, floats
    pub fn apply(self, images: Tensor<4, Int>) -> Tensor<4> {
        let x = images.float();
        match self {
            Self::Symmetric => x.mul_scalar(2.0 / 255.0).sub_scalar(1.0),
            Self::UnitInterval => x.div_scalar(255.0),
            Self::Raw => x,
        }
    }

    /// Maps a float back to the nearest 8-bit value, clamping to `0..=255`.
    pub fn to_u8(self, value: f32) -> u8 {
        let v = match self {
            Self::Symmetric => (value + 1.0) * 127.5,
            Self::UnitInterval => value * 255.0,
            Self::Raw => value,
        };
        if v.is_nan() {
            0
        } else {
            v.round().clamp(0.0, 255.0) as u8
        }
    }
}

/// A host-side batch of 8-bit images, `[n, channels, height, width]`, channel-first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageBatch {
    data: Vec<u8>,
    len: usize,
    shape: ImageShape,
}

impl ImageBatch {
    /// Wraps `data`, which must hold exactly `len · shape.dims()` sub-pixels.
    pub fn new(data: Vec<u8>, len: usize, shape: ImageShape) -> Result<Self> {
        if data.len() != len * shape.dims() {
            return Err(Error::shape(
                "image batch data",
                &[len * shape.dims()],
                &[data.len()],
            ));
        }
        Ok(Self { data, len, shape })
    }

    /// An empty batch of images of `shape`.
    pub fn empty(shape: ImageShape) -> Self {
        Self {
            data: Vec::new(),
            len: 0,
            shape,
        }
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the batch holds no image.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The shape of each image.
    pub fn shape(&self) -> ImageShape {
        self.shape
    }

    /// All sub-pixels, image after image, each channel-first.
    pub fn as_slice(&self) -> &[u8] {
        &self.data
    }

    /// Consumes the batch and returns its sub-pixels.
    pub fn into_vec(self) -> Vec<u8> {
        self.data
    }

    /// The sub-pixels of image `i`, channel-first.
    ///
    /// # Panics
    /// If `i >= self.len()`.
    pub fn image(&self, i: usize) -> &[u8] {
        let n = self.shape.dims();
        &self.data[i * n..(i + 1) * n]
    }

    /// Appends one image.
    pub fn push(&mut self, image: &[u8]) -> Result<()> {
        if image.len() != self.shape.dims() {
            return Err(Error::shape(
                "pushed image",
                &[self.shape.dims()],
                &[image.len()],
            ));
        }
        self.data.extend_from_slice(image);
        self.len += 1;
        Ok(())
    }

    /// A new batch holding the images at `indices`, in that order.
    ///
    /// # Panics
    /// If an index is out of range.
    pub fn select(&self, indices: &[usize]) -> Self {
        let mut data = Vec::with_capacity(indices.len() * self.shape.dims());
        for &i in indices {
            data.extend_from_slice(self.image(i));
        }
        Self {
            data,
            len: indices.len(),
            shape: self.shape,
        }
    }

    /// Images `start..end` as a new batch.
    pub fn slice(&self, start: usize, end: usize) -> Self {
        let end = end.min(self.len);
        let start = start.min(end);
        let n = self.shape.dims();
        Self {
            data: self.data[start * n..end * n].to_vec(),
            len: end - start,
            shape: self.shape,
        }
    }

    /// The batch as an `Int` tensor with values in `0..=255`.
    ///
    /// # Shapes
    /// - output: `[n, channels, height, width]`
    pub fn to_tensor(&self, device: &Device) -> Tensor<4, Int> {
        let values: Vec<i32> = self.data.iter().map(|&v| i32::from(v)).collect();
        let [c, h, w] = self.shape.to_array();
        Tensor::from_data(TensorData::new(values, [self.len, c, h, w]), device)
    }

    /// The batch as floats under `scaling`.
    ///
    /// # Shapes
    /// - output: `[n, channels, height, width]`
    pub fn to_float(&self, device: &Device, scaling: PixelScaling) -> Tensor<4> {
        scaling.apply(self.to_tensor(device))
    }

    /// Reads an `Int` image tensor back to the host, clamping values to `0..=255`.
    ///
    /// # Shapes
    /// - `images`: `[n, channels, height, width]`
    pub fn from_tensor(images: Tensor<4, Int>) -> Result<Self> {
        let [n, c, h, w] = images.dims();
        let shape = ImageShape::new(c, h, w)?;
        let values: Vec<i64> = images
            .into_data()
            .convert::<i64>()
            .try_to_vec()
            .map_err(|e| Error::config("image tensor", format!("{e:?}"), "not readable"))?;
        let data = values.iter().map(|&v| v.clamp(0, 255) as u8).collect();
        Self::new(data, n, shape)
    }
}
