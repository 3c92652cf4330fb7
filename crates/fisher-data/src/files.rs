//! Lists of image files decoded on demand, cropped and resized to one shape: the common
//! ground of [image folders](crate::folder) and [CelebA](crate::celeba).
//!
//! Each file is decoded (PNG or JPEG, by content), converted to 8-bit RGB or grayscale,
//! cropped (see [`Crop`]) and resized to the target size with a triangle (bilinear) filter
//! whose support widens with the downscaling factor, so shrinking averages over the source
//! pixels instead of skipping them.

use std::path::{Path, PathBuf};

use fisher_core::{ImageBatch, ImageShape};
use image::imageops::{self, FilterType};
use image::{ImageBuffer, Pixel};

use crate::{Attributed, Attributes, Error, Result};

/// Which part of each image to keep before resizing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Crop {
    /// The whole image (its aspect ratio changes if it differs from the target's).
    Whole,
    /// The largest centred square.
    CentreSquare,
    /// A centred `width × height` window; smaller images are an error.
    Centre {
        /// Width of the window in source pixels.
        width: usize,
        /// Height of the window in source pixels.
        height: usize,
    },
}

/// A list of image files with one attribute row each, decoded on demand to one shape.
#[derive(Clone, Debug)]
pub struct ImageFiles {
    paths: Vec<PathBuf>,
    attributes: Attributes,
    shape: ImageShape,
    crop: Crop,
}

impl ImageFiles {
    /// Files `paths` with `attributes` (one row per file), decoded to `shape` after `crop`.
    pub fn new(
        paths: Vec<PathBuf>,
        attributes: Attributes,
        shape: ImageShape,
        crop: Crop,
    ) -> Result<Self> {
        if paths.len() != attributes.len() {
            let e = fisher_core::Error::mismatch("attribute rows", paths.len(), attributes.len());
            return Err(e.into());
        }
        Ok(Self {
            paths,
            attributes,
            shape,
            crop,
        })
    }

    /// Number of files.
    pub fn len(&self) -> usize {
        self.paths.len()
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.paths.is_empty()
    }

    /// The files, in order.
    pub fn paths(&self) -> &[PathBuf] {
        &self.paths
    }

    /// The attribute table, one row per file.
    pub fn attributes(&self) -> &Attributes {
        &self.attributes
    }

    /// The shape every image is brought to.
    pub fn shape(&self) -> ImageShape {
        self.shape
    }

    /// File `i`, decoded, cropped and resized; channel-first.
    ///
    /// # Panics
    /// If `i >= self.len()`.
    pub fn image(&self, i: usize) -> Result<Vec<u8>> {
        load_image(&self.paths[i], self.shape, self.crop)
    }

    /// Files `start..end` with their attributes.
    pub fn load_range(&self, start: usize, end: usize) -> Result<Attributed> {
        let end = end.min(self.len());
        let start = start.min(end);
        let _span = tracing::info_span!("load_image_files", start, end).entered();
        let mut images = ImageBatch::empty(self.shape);
        for i in start..end {
            images.push(&self.image(i)?)?;
        }
        let rows: Vec<usize> = (start..end).collect();
        Attributed::new(images, crate::Examples::select(&self.attributes, &rows))
    }

    /// Every file with its attributes.
    pub fn load(&self) -> Result<Attributed> {
        self.load_range(0, self.len())
    }

    /// The files in batches of `batch_size`, decoded as they are consumed. An unreadable
    /// file is an error item, after which the stream ends.
    pub fn stream(&self, batch_size: usize) -> Result<ImageFilesStream<'_>> {
        if batch_size == 0 {
            return Err(Error::config("batch_size", 0, "must be at least 1"));
        }
        Ok(ImageFilesStream {
            files: self,
            next: 0,
            batch_size,
            failed: false,
        })
    }
}

/// Batches of decoded image files; from [`ImageFiles::stream`].
#[derive(Debug)]
pub struct ImageFilesStream<'a> {
    files: &'a ImageFiles,
    next: usize,
    batch_size: usize,
    failed: bool,
}

impl Iterator for ImageFilesStream<'_> {
    type Item = Result<Attributed>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.next >= self.files.len() {
            return None;
        }
        let end = (self.next + self.batch_size).min(self.files.len());
        let batch = self.files.load_range(self.next, end);
        self.next = end;
        self.failed = batch.is_err();
        Some(batch)
    }
}

/// Decodes, crops and resizes one file to `shape`; channel-first.
pub(crate) fn load_image(path: &Path, shape: ImageShape, crop: Crop) -> Result<Vec<u8>> {
    let reader = image::ImageReader::open(path).map_err(|e| Error::io(path, e))?;
    let reader = reader
        .with_guessed_format()
        .map_err(|e| Error::io(path, e))?;
    let decoded = reader.decode().map_err(|e| Error::image(path, e))?;
    if shape.channels == 1 {
        prepare(path, &decoded.to_luma8(), shape, crop)
    } else {
        prepare(path, &decoded.to_rgb8(), shape, crop)
    }
}

fn prepare<P>(
    path: &Path,
    image: &ImageBuffer<P, Vec<u8>>,
    shape: ImageShape,
    crop: Crop,
) -> Result<Vec<u8>>
where
    P: Pixel<Subpixel = u8> + 'static,
{
    let (w, h) = (image.width() as usize, image.height() as usize);
    let (cw, ch) = match crop {
        Crop::Whole => (w, h),
        Crop::CentreSquare => (w.min(h), w.min(h)),
        Crop::Centre { width, height } => (width, height),
    };
    if cw > w || ch > h || cw == 0 || ch == 0 {
        let reason = format!("image is {w}x{h}, cannot crop a centred {cw}x{ch} window");
        return Err(Error::image(path, reason));
    }

    let (x0, y0) = ((w - cw) / 2, (h - ch) / 2);
    let window = imageops::crop_imm(image, x0 as u32, y0 as u32, cw as u32, ch as u32);
    let (tw, th) = (shape.width as u32, shape.height as u32);
    let resized = imageops::resize(&window.to_image(), tw, th, FilterType::Triangle);
    Ok(channel_first(resized.as_raw(), shape))
}

/// Interleaved `[h][w][c]` bytes to channel-first `[c][h][w]`.
pub(crate) fn channel_first(interleaved: &[u8], shape: ImageShape) -> Vec<u8> {
    let c = shape.channels;
    let plane = shape.height * shape.width;
    let mut out = vec![0u8; c * plane];
    for (i, px) in interleaved.chunks_exact(c).enumerate() {
        for (k, &v) in px.iter().enumerate() {
            out[k * plane + i] = v;
        }
    }
    out
}
