//! `fisher sample`: draws images from a trained PixelCNN by ancestral sampling, one
//! sub-pixel after another in the model's order, each from
//!
//! ```text
//! p_T(xᵢ | x<ᵢ) ∝ p(xᵢ | x<ᵢ)^(1/T)   (categorical head; the mixture head divides its
//!                                        weight logits by T and multiplies its scales by T),
//! ```
//!
//! and writes them to a PNG grid.
//!
//! ```text
//! $ fisher sample --checkpoint fashion.ckpt --count 16 --temperature 0.9 --out samples.png
//! ⠙ [00:00:41] sampling 16 images of 1x28x28 (784 sub-pixels each) at T = 0.9
//! wrote samples.png: 16 samples in 4 rows of 4 (41.3 s, T = 0.9, seed 0)
//! ```
//!
//! The same checkpoint, count, temperature and `--seed` give the same images on the same
//! backend. fisher-pixelcnn's sampler reports no progress while it runs, so a spinner with
//! the elapsed time stands in for a progress bar.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use fisher_core::ImageBatch;
use fisher_data::GridLayout;
use fisher_pixelcnn::PixelCnn;

use super::{Common, spinner};

/// `fisher sample`: draw images from a trained PixelCNN.
#[derive(Clone, Debug, clap::Args)]
pub struct Args {
    /// The PixelCNN checkpoint (`fisher train`).
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// Number of images to draw.
    #[arg(long, default_value_t = 16)]
    pub count: usize,
    /// Sampling temperature T > 0 (1 samples the model itself; lower is more conservative).
    #[arg(long, default_value_t = 1.0)]
    pub temperature: f32,
    /// Images per row of the PNG (default: ⌈√count⌉).
    #[arg(long)]
    pub cols: Option<usize>,
    /// Magnification of each image in the PNG.
    #[arg(long, default_value_t = 2)]
    pub zoom: usize,
    /// The PNG to write.
    #[arg(long)]
    pub out: PathBuf,
}

/// Runs `fisher sample`.
pub fn run(args: Args, common: &Common) -> Result<()> {
    if args.count == 0 {
        bail!("--count 0: give at least one image to draw");
    }
    if !(args.temperature.is_finite() && args.temperature > 0.0) {
        bail!("--temperature {}: must be finite and > 0", args.temperature);
    }
    let device = common.device.device()?;
    let model = PixelCnn::load(&args.checkpoint, None, &device)
        .with_context(|| format!("loading {}", args.checkpoint.display()))?;
    let config = model.config();
    if config.cond_dim > 0 {
        bail!(
            "{} is a conditional PixelCNN (cond_dim = {}); sample it as a decoder instead",
            args.checkpoint.display(),
            config.cond_dim
        );
    }

    let shape = config.image;
    let started = Instant::now();
    let spinner = spinner(format!(
        "sampling {} images of {shape} ({} sub-pixels each) at T = {}",
        args.count,
        shape.dims(),
        args.temperature
    ));
    let drawn = model.sample(args.count, args.temperature, None, common.seed, &device)?;
    spinner.finish_and_clear();
    let images = ImageBatch::from_tensor(drawn)?;

    let cols = args.cols.unwrap_or_else(|| square_side(args.count));
    if cols == 0 {
        bail!("--cols 0: give at least one image per row");
    }
    let rows = args.count.div_ceil(cols);
    let layout = GridLayout::new(rows, cols).with_scale(args.zoom);
    fisher_data::write_grid(&args.out, &images, &layout)
        .with_context(|| format!("writing {}", args.out.display()))?;
    println!(
        "wrote {}: {} samples in {rows} rows of {cols} ({:.1} s, T = {}, seed {})",
        args.out.display(),
        args.count,
        started.elapsed().as_secs_f64(),
        args.temperature,
        common.seed
    );
    Ok(())
}

/// ⌈√n⌉: the columns of a near-square grid of `n` images.
fn square_side(n: usize) -> usize {
    (1..=n).find(|c| c * c >= n).unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::square_side;

    #[test]
    fn grids_are_near_square() {
        let sides: Vec<usize> = [1, 2, 4, 5, 9, 10, 16, 17].map(square_side).to_vec();
        assert_eq!(sides, vec![1, 2, 2, 3, 3, 4, 4, 5]);
    }
}
