//! `fisher interpolate`: decodes the straight line between the embeddings of two images,
//!
//! ```text
//! z(α) = (1 − α)·z_a + α·z_b,   α = 0, 1/(N − 1), …, 1,
//! ```
//!
//! for pairs of rows of an embeddings file, and writes one strip per pair to a PNG: the
//! original image a, the N decoded images, the original image b.
//!
//! ```text
//! $ fisher interpolate --decoder det.ckpt --embeddings fashion-test.safetensors \
//!       --pairs 0,1 --pairs 5,17 --alphas 9 --out lines.png
//! [00:00:01] ██████████████████████████████ 2/2 pairs
//! wrote lines.png: 2 strips of image a, 9 decodings for α from 0 to 1, image b
//!
//! $ fisher interpolate --decoder det.ckpt --embeddings fashion-test.safetensors \
//!       --pairs 4 --out lines.png        # rows (0, 1), (2, 3), (4, 5), (6, 7)
//! ```
//!
//! The original images come from the data set the file's metadata names (the Fashion-MNIST
//! files in `--data-dir`, or the procedural faces drawn again). A decoder trained on
//! embeddings made another way (method, projection, seed, k, model, normalisation) is refused
//! with both descriptions; rows past the end of the file are refused by number.

use std::path::PathBuf;
use std::str::FromStr;

use anyhow::{Context, Result, bail};
use fisher_core::ImageBatch;
use fisher_data::GridLayout;
use indicatif::{ProgressBar, ProgressStyle};

use super::Common;
use super::paired::{self, Paired};

/// One value of `--pairs`: a pair of rows, or a number of consecutive pairs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PairChoice {
    /// Rows `a` and `b`, written `A,B`.
    Pair(usize, usize),
    /// Rows (0, 1), (2, 3), …, (2N − 2, 2N − 1), written `N`.
    Count(usize),
}

impl FromStr for PairChoice {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        let number = |t: &str| {
            t.trim()
                .parse::<usize>()
                .map_err(|_| format!("{t:?} is not a row number (in {s:?}; expected A,B or N)"))
        };
        match s.split_once(',') {
            Some((a, b)) => Ok(Self::Pair(number(a)?, number(b)?)),
            None => Ok(Self::Count(number(s)?)),
        }
    }
}

/// `fisher interpolate`: decode straight lines between pairs of embeddings.
#[derive(Clone, Debug, clap::Args)]
pub struct Args {
    /// The decoder checkpoint (`fisher decoder train`).
    #[arg(long)]
    pub decoder: PathBuf,
    /// The embeddings file (`fisher embed` or the demo) whose rows are interpolated.
    #[arg(long)]
    pub embeddings: PathBuf,
    /// Pairs of rows of the file: `A,B` (repeat the option or give several), or one count N
    /// for the rows (0, 1), (2, 3), …, (2N − 2, 2N − 1).
    #[arg(long, num_args = 1.., default_value = "4")]
    pub pairs: Vec<PairChoice>,
    /// Number of α on the grid from 0 to 1, both ends included (at least 2).
    #[arg(long, default_value_t = 9)]
    pub alphas: usize,
    /// Folder of the Fashion-MNIST IDX files (for Fashion-MNIST embeddings).
    #[arg(long, default_value = fisher_data::FASHION_MNIST_DIR)]
    pub data_dir: PathBuf,
    /// Magnification of each image in the PNG.
    #[arg(long, default_value_t = 2)]
    pub zoom: usize,
    /// The PNG to write.
    #[arg(long)]
    pub out: PathBuf,
}

/// Runs `fisher interpolate`.
pub fn run(args: Args, common: &Common) -> Result<()> {
    let device = common.device.device()?;
    let alphas = alpha_grid(args.alphas)?;
    let pairs = resolve(&args.pairs)?;
    let decoder = paired::load_decoder(&args.decoder, &device)?;
    let file = paired::read_embeddings(&args.embeddings)?;
    let spec = paired::spec_of(&args.embeddings, &file)?;
    paired::check_decoder(&decoder, &args.decoder, &spec, &args.embeddings)?;

    let rows: Vec<usize> = pairs.iter().flat_map(|&(a, b)| [a, b]).collect();
    let data = Paired::from_rows(&args.embeddings, &file, &rows, &args.data_dir)?;
    paired::check_image_shape(&decoder, &data.images)?;

    let bar = progress_bar(pairs.len() as u64);
    let mut strips = ImageBatch::empty(data.images.shape());
    for (p, pair) in pairs.iter().enumerate() {
        let (a, b) = (2 * p, 2 * p + 1);
        let z = line(&data.z, spec.k, a, b, &alphas);
        let decoded = fisher_decoder::decode_embeddings(&decoder, &spec, &z, common.seed, &device)
            .with_context(|| format!("decoding between rows {} and {}", pair.0, pair.1))?;
        strips.push(data.images.image(a))?;
        for i in 0..decoded.len() {
            strips.push(decoded.image(i))?;
        }
        strips.push(data.images.image(b))?;
        bar.inc(1);
    }
    bar.finish();

    let layout = GridLayout::new(pairs.len(), alphas.len() + 2).with_scale(args.zoom);
    fisher_data::write_grid(&args.out, &strips, &layout)
        .with_context(|| format!("writing {}", args.out.display()))?;
    println!(
        "wrote {}: {} strips of image a, {} decodings for α from 0 to 1, image b",
        args.out.display(),
        pairs.len(),
        alphas.len()
    );
    Ok(())
}

/// `n` values of α evenly spaced from 0 to 1.
fn alpha_grid(n: usize) -> Result<Vec<f32>> {
    if n < 2 {
        bail!("--alphas {n}: give at least 2 (α = 0 and α = 1)");
    }
    Ok((0..n).map(|i| i as f32 / (n - 1) as f32).collect())
}

/// The pairs of rows `--pairs` asks for.
fn resolve(choices: &[PairChoice]) -> Result<Vec<(usize, usize)>> {
    match choices {
        [] => bail!("--pairs: give A,B pairs of rows or a count N"),
        [PairChoice::Count(0)] => bail!("--pairs 0: give at least one pair"),
        [PairChoice::Count(n)] => Ok((0..*n).map(|p| (2 * p, 2 * p + 1)).collect()),
        _ => choices
            .iter()
            .map(|c| match *c {
                PairChoice::Pair(a, b) => Ok((a, b)),
                PairChoice::Count(n) => {
                    bail!("--pairs: a count ({n}) cannot be mixed with A,B pairs")
                }
            })
            .collect(),
    }
}

/// The embeddings `(1 − α)·z_a + α·z_b` for each α, row-major, from rows `a` and `b` of the
/// `k`-long rows of `z`.
fn line(z: &[f32], k: usize, a: usize, b: usize, alphas: &[f32]) -> Vec<f32> {
    let (za, zb) = (&z[a * k..(a + 1) * k], &z[b * k..(b + 1) * k]);
    alphas
        .iter()
        .flat_map(|&alpha| {
            za.iter()
                .zip(zb)
                .map(move |(x, y)| (1.0 - alpha) * x + alpha * y)
        })
        .collect()
}

fn progress_bar(total: u64) -> ProgressBar {
    let bar = ProgressBar::new(total);
    let style = ProgressStyle::with_template("[{elapsed_precise}] {bar:30} {pos}/{len} pairs")
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_parse_as_pairs_or_one_count() {
        let parsed: Vec<PairChoice> = ["0,1", "5, 17"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        assert_eq!(resolve(&parsed).unwrap(), vec![(0, 1), (5, 17)]);
        assert_eq!(
            resolve(&["3".parse().unwrap()]).unwrap(),
            vec![(0, 1), (2, 3), (4, 5)]
        );
        assert!("1,x".parse::<PairChoice>().unwrap_err().contains("\"x\""));
        let mixed = [PairChoice::Count(2), PairChoice::Pair(0, 1)];
        assert!(resolve(&mixed).unwrap_err().to_string().contains("mixed"));
        assert!(resolve(&[PairChoice::Count(0)]).is_err());
    }

    #[test]
    fn line_runs_from_a_to_b() {
        let z = [0.0, 2.0, 4.0, -2.0];
        let alphas = alpha_grid(3).unwrap();
        assert_eq!(alphas, vec![0.0, 0.5, 1.0]);
        assert_eq!(
            line(&z, 2, 0, 1, &alphas),
            vec![0.0, 2.0, 2.0, 0.0, 4.0, -2.0]
        );
        assert!(alpha_grid(1).is_err());
    }
}
