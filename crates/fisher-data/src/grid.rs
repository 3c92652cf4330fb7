//! PNG grids: rows × columns of images separated by a small gap, for sample sheets,
//! interpolation strips and attribute-edit tables.
//!
//! Image `i` of the batch goes to row `i / cols`, column `i % cols`. A cell of `h × w` pixels
//! becomes `scale·h × scale·w` (nearest neighbour), and `gap` pixels of the background colour
//! separate cells and frame the sheet, so the sheet is
//! `cols·scale·w + (cols + 1)·gap` wide and `rows·scale·h + (rows + 1)·gap` high.

use std::path::Path;

use fisher_core::ImageBatch;
use image::ImageEncoder;

use crate::atomic::write_atomic;
use crate::{Error, Result};

/// How a grid is laid out; see the [module docs](self).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GridLayout {
    /// Number of rows, at least 1.
    pub rows: usize,
    /// Number of columns, at least 1.
    pub cols: usize,
    /// Pixels between cells and around the sheet (default 2).
    pub gap: usize,
    /// Integer magnification of each image, at least 1 (default 1).
    pub scale: usize,
    /// RGB colour of the gaps and of empty cells (default white).
    pub background: [u8; 3],
}

impl GridLayout {
    /// A `rows × cols` layout with a 2-pixel white gap and no magnification.
    pub fn new(rows: usize, cols: usize) -> Self {
        Self {
            rows,
            cols,
            gap: 2,
            scale: 1,
            background: [255, 255, 255],
        }
    }

    /// The same layout with `gap` pixels between cells.
    pub fn with_gap(mut self, gap: usize) -> Self {
        self.gap = gap;
        self
    }

    /// The same layout with each image magnified `scale` times.
    pub fn with_scale(mut self, scale: usize) -> Self {
        self.scale = scale;
        self
    }

    /// The same layout with another gap colour.
    pub fn with_background(mut self, background: [u8; 3]) -> Self {
        self.background = background;
        self
    }

    fn check(&self, images: &ImageBatch) -> Result<()> {
        if self.rows == 0 || self.cols == 0 || self.scale == 0 {
            let value = format!("{}x{} scale {}", self.rows, self.cols, self.scale);
            return Err(Error::config(
                "grid layout",
                value,
                "rows, cols, scale must be >= 1",
            ));
        }
        if images.len() > self.rows * self.cols {
            return Err(Error::config(
                "grid layout",
                format!("{}x{}", self.rows, self.cols),
                format!("has fewer cells than the {} images", images.len()),
            ));
        }
        Ok(())
    }
}

/// An RGB picture, row-major and interleaved (`[height][width][3]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RgbPicture {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// `height · width · 3` bytes.
    pub pixels: Vec<u8>,
}

/// Lays `images` (1 or 3 channels) out on a grid; see the [module docs](self).
pub fn grid_picture(images: &ImageBatch, layout: &GridLayout) -> Result<RgbPicture> {
    layout.check(images)?;
    let shape = images.shape();
    let (cell_h, cell_w) = (shape.height * layout.scale, shape.width * layout.scale);
    let width = layout.cols * cell_w + (layout.cols + 1) * layout.gap;
    let height = layout.rows * cell_h + (layout.rows + 1) * layout.gap;

    let mut pixels = layout.background.repeat(width * height);
    for i in 0..images.len() {
        let top = layout.gap + (i / layout.cols) * (cell_h + layout.gap);
        let left = layout.gap + (i % layout.cols) * (cell_w + layout.gap);
        for y in 0..cell_h {
            for x in 0..cell_w {
                let rgb = pixel_rgb(images, i, y / layout.scale, x / layout.scale);
                let at = ((top + y) * width + left + x) * 3;
                pixels[at..at + 3].copy_from_slice(&rgb);
            }
        }
    }
    Ok(RgbPicture {
        width,
        height,
        pixels,
    })
}

/// The RGB colour of pixel `(y, x)` of image `i`; grayscale repeats its one channel.
fn pixel_rgb(images: &ImageBatch, i: usize, y: usize, x: usize) -> [u8; 3] {
    let shape = images.shape();
    let image = images.image(i);
    let plane = shape.height * shape.width;
    let at = y * shape.width + x;
    if shape.channels == 1 {
        [image[at]; 3]
    } else {
        [image[at], image[plane + at], image[2 * plane + at]]
    }
}

/// Writes `images` as a PNG grid to `path`, atomically (temporary file, then rename).
pub fn write_grid(path: impl AsRef<Path>, images: &ImageBatch, layout: &GridLayout) -> Result<()> {
    let path = path.as_ref();
    let picture = grid_picture(images, layout)?;
    write_png(path, &picture)
}

/// Writes an RGB picture as a PNG file, atomically.
pub fn write_png(path: &Path, picture: &RgbPicture) -> Result<()> {
    let (w, h) = (dim_u32(picture.width)?, dim_u32(picture.height)?);
    write_atomic(path, |writer| {
        image::codecs::png::PngEncoder::new(writer)
            .write_image(&picture.pixels, w, h, image::ExtendedColorType::Rgb8)
            .map_err(|e| Error::image(path, e))
    })
}

fn dim_u32(n: usize) -> Result<u32> {
    u32::try_from(n).map_err(|_| Error::config("picture size", n, "must fit in 32 bits"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use fisher_core::ImageShape;

    #[test]
    fn places_images_with_gaps() {
        let shape = ImageShape::new(1, 1, 2).unwrap();
        let images = ImageBatch::new(vec![10, 20, 30, 40, 50, 60], 3, shape).unwrap();
        let layout = GridLayout::new(2, 2)
            .with_gap(1)
            .with_background([0, 0, 255]);
        let p = grid_picture(&images, &layout).unwrap();
        assert_eq!((p.width, p.height), (2 * 2 + 3, 2 + 3));

        let at = |y: usize, x: usize| &p.pixels[(y * p.width + x) * 3..][..3];
        assert_eq!(at(0, 0), &[0, 0, 255]);
        assert_eq!(at(1, 1), &[10, 10, 10]);
        assert_eq!(at(1, 2), &[20, 20, 20]);
        assert_eq!(at(1, 4), &[30, 30, 30]);
        assert_eq!(at(3, 1), &[50, 50, 50]);
        assert_eq!(at(3, 4), &[0, 0, 255], "the fourth cell is empty");
    }

    #[test]
    fn too_many_images_is_an_error() {
        let shape = ImageShape::new(3, 2, 2).unwrap();
        let images = ImageBatch::new(vec![0; 5 * 12], 5, shape).unwrap();
        let err = grid_picture(&images, &GridLayout::new(2, 2)).unwrap_err();
        assert!(err.to_string().contains("5 images"), "{err}");
    }
}
