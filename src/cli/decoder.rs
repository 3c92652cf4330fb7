//! `fisher decoder train` and `fisher decoder eval`: decoders from embeddings back to images.
//!
//! Training reads an embeddings file written by `fisher embed` and the images it was made
//! from (the file names its data set, split and image indices), trains one of the three
//! decoders on the pairs with a progress bar and checkpoints, and, given a test embeddings
//! file, reports the test metrics and writes a picture of originals beside reconstructions.
//!
//! ```text
//! $ fisher decoder train --kind deterministic --embeddings fashion-train.safetensors \
//!       --test-embeddings fashion-test.safetensors --epochs 30 --out det.ckpt --picture det.png
//! [00:07:30] ██████████████████████████████ 1890/1890 steps  epoch 29  loss … (0s)
//! trained 1890 steps (now step 1890) in 450.7 s (134.2 pairs/s); wrote det.ckpt
//! test (500 images): reconstruction MSE 0.04291 (2.3 s)
//! wrote det.png: rows of originals, deterministic reconstructions
//!
//! $ fisher decoder eval --checkpoint det.ckpt --checkpoint flow.ckpt \
//!       --embeddings fashion-test.safetensors --count 200 --picture both.png
//! ```
//!
//! Embeddings made another way (method, projection, seed, k, model, normalisation) than the
//! decoder's training embeddings are refused with both descriptions.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use burn::tensor::Device;
use clap::{Subcommand, ValueEnum};
use fisher_core::{ImageBatch, ImageShape};
use fisher_data::GridLayout;
use fisher_decoder::{
    AnyDecoder, DecoderConfig, DecoderKind, DeterministicConfig, DeterministicLoss, FitOptions,
    FlowConfig, Metrics, PixelCnnDecoderConfig, TrainableDecoder, evaluate, fit,
};
use fisher_pixelcnn::{PixelCnn, PixelCnnConfig};
use indicatif::{ProgressBar, ProgressStyle};

use super::Common;
use super::paired::Paired;

/// The kind of decoder.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Kind {
    /// A network from z to the image, trained on reconstruction error.
    Deterministic,
    /// A PixelCNN conditioned on z, trained by maximum likelihood.
    Pixelcnn,
    /// A normalizing flow conditioned on z, trained by maximum likelihood.
    Flow,
}

/// The deterministic decoder's loss.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Loss {
    /// Mean squared error.
    Mse,
    /// Discretized logistic likelihood.
    Logistic,
}

/// `fisher decoder …`
#[derive(Debug, clap::Args)]
pub struct Args {
    /// What to do.
    #[command(subcommand)]
    pub command: DecoderCommand,
}

/// The decoder subcommands.
#[derive(Debug, Subcommand)]
pub enum DecoderCommand {
    /// Train a decoder on (embedding, image) pairs.
    Train(TrainArgs),
    /// Test metrics of a trained decoder, and a picture of its reconstructions.
    Eval(EvalArgs),
}

/// `fisher decoder train`.
#[derive(Clone, Debug, clap::Args)]
pub struct TrainArgs {
    /// The kind of decoder.
    #[arg(long, value_enum)]
    pub kind: Kind,
    /// Training embeddings (a `fisher embed` file).
    #[arg(long)]
    pub embeddings: PathBuf,
    /// Test embeddings, for metrics and the picture at the end.
    #[arg(long)]
    pub test_embeddings: Option<PathBuf>,
    /// Folder of the Fashion-MNIST IDX files (for Fashion-MNIST embeddings).
    #[arg(long, default_value = fisher_data::FASHION_MNIST_DIR)]
    pub data_dir: PathBuf,
    /// Passes over the training pairs.
    #[arg(long, default_value_t = 10)]
    pub epochs: usize,
    /// Stop after this many minutes (0 = no limit); rerun with `--resume` to continue.
    #[arg(long, default_value_t = 0.0)]
    pub minutes: f64,
    /// Pairs per step.
    #[arg(long, default_value_t = 32)]
    pub batch_size: usize,
    /// Adam's learning rate.
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f64,
    /// Hidden width: base channels (deterministic), hidden channels (PixelCNN, flow).
    #[arg(long)]
    pub width: Option<usize>,
    /// Loss of the deterministic decoder.
    #[arg(long, value_enum, default_value_t = Loss::Mse)]
    pub loss: Loss,
    /// Length of the features of z fed to the PixelCNN and the flow's couplings.
    #[arg(long, default_value_t = 128)]
    pub cond_dim: usize,
    /// PixelCNN decoder: start from this trained unconditional PixelCNN (`fisher train`
    /// checkpoint); its architecture replaces `--width`.
    #[arg(long)]
    pub init_pixelcnn: Option<PathBuf>,
    /// Sampling temperature of `decode` (PixelCNN: 1.0 unless given; flow: 0.7).
    #[arg(long)]
    pub temperature: Option<f64>,
    /// Write a checkpoint every N steps (and at the end).
    #[arg(long, default_value_t = 500)]
    pub save_every: usize,
    /// The checkpoint to write.
    #[arg(long)]
    pub out: PathBuf,
    /// Continue from `--out` (it must fit the config these options describe).
    #[arg(long)]
    pub resume: bool,
    /// Test images to measure (0 = all in the test file).
    #[arg(long, default_value_t = 0)]
    pub test_count: usize,
    /// Write originals beside reconstructions (and samples) of the first 8 test images here.
    #[arg(long)]
    pub picture: Option<PathBuf>,
}

/// `fisher decoder eval`.
#[derive(Clone, Debug, clap::Args)]
pub struct EvalArgs {
    /// The decoder checkpoints (repeat the option to compare several in one picture).
    #[arg(long, required = true)]
    pub checkpoint: Vec<PathBuf>,
    /// Test embeddings (a `fisher embed` file).
    #[arg(long)]
    pub embeddings: PathBuf,
    /// Folder of the Fashion-MNIST IDX files (for Fashion-MNIST embeddings).
    #[arg(long, default_value = fisher_data::FASHION_MNIST_DIR)]
    pub data_dir: PathBuf,
    /// Test images to measure (0 = all in the file).
    #[arg(long, default_value_t = 0)]
    pub count: usize,
    /// Write originals and each decoder's reconstructions (and samples) of the first 8 test
    /// images here, one row each.
    #[arg(long)]
    pub picture: Option<PathBuf>,
}

/// Runs `fisher decoder …`.
pub fn run(args: Args, common: &Common) -> Result<()> {
    match args.command {
        DecoderCommand::Train(a) => run_train(a, common),
        DecoderCommand::Eval(a) => run_eval(a, common),
    }
}

/// The decoder config for `args`, images of `shape` and embeddings of length `k`; the
/// PixelCNN decoder takes the architecture of `base` when given.
fn config(
    args: &TrainArgs,
    shape: ImageShape,
    k: usize,
    seed: u64,
    base: Option<&PixelCnn>,
) -> DecoderConfig {
    match args.kind {
        Kind::Deterministic => {
            let loss = match args.loss {
                Loss::Mse => DeterministicLoss::Mse,
                Loss::Logistic => DeterministicLoss::DiscretizedLogistic,
            };
            let upsamplings = (0..=2).rev().find(|&n| halves(shape, n)).unwrap_or(0);
            DecoderConfig::Deterministic(
                DeterministicConfig::new(k, shape)
                    .with_base_channels(args.width.unwrap_or(64))
                    .with_upsamplings(upsamplings)
                    .with_loss(loss)
                    .with_learning_rate(args.lr)
                    .with_seed(seed),
            )
        }
        Kind::Pixelcnn => {
            let pixelcnn = match base {
                Some(model) => model.config().clone(),
                None => {
                    let default = if shape.channels == 3 {
                        PixelCnnConfig::rgb(shape.height, shape.width)
                    } else {
                        PixelCnnConfig::new(shape)
                    };
                    let hidden = args.width.unwrap_or(default.hidden_channels);
                    default
                        .with_hidden_channels(hidden)
                        .with_head_channels(2 * hidden)
                }
            };
            let pixelcnn = pixelcnn.with_cond_dim(args.cond_dim).with_seed(seed);
            DecoderConfig::PixelCnn(
                PixelCnnDecoderConfig::new(k, pixelcnn)
                    .with_temperature(args.temperature.unwrap_or(1.0))
                    .with_learning_rate(args.lr)
                    .with_seed(seed),
            )
        }
        Kind::Flow => {
            let levels = (1..=3).rev().find(|&n| halves(shape, n)).unwrap_or(1);
            DecoderConfig::Flow(
                FlowConfig::new(k, shape)
                    .with_levels(levels)
                    .with_hidden_channels(args.width.unwrap_or(64))
                    .with_cond_dim(args.cond_dim)
                    .with_temperature(args.temperature.unwrap_or(0.7))
                    .with_learning_rate(args.lr)
                    .with_seed(seed),
            )
        }
    }
}

/// Whether height and width can be halved `n` times.
fn halves(shape: ImageShape, n: usize) -> bool {
    shape.height.is_multiple_of(1 << n) && shape.width.is_multiple_of(1 << n)
}

fn run_train(args: TrainArgs, common: &Common) -> Result<()> {
    let device = common.device.device()?;
    let train = Paired::read(&args.embeddings, &args.data_dir, 0)?;
    let base = match (&args.init_pixelcnn, args.kind) {
        (Some(path), Kind::Pixelcnn) => Some(
            PixelCnn::load(path, None, &device)
                .with_context(|| format!("loading {}", path.display()))?,
        ),
        (Some(_), kind) => bail!("--init-pixelcnn is for --kind pixelcnn, not {kind:?}"),
        (None, _) => None,
    };
    let shape = train.images.shape();
    let config = config(&args, shape, train.spec.k, common.seed, base.as_ref());
    let mut decoder = if args.resume && args.out.exists() {
        AnyDecoder::load_with(&args.out, &config, &device)
            .with_context(|| format!("resuming from {}", args.out.display()))?
    } else {
        let mut decoder = config.init(train.spec.clone(), &device)?;
        if let (AnyDecoder::PixelCnn(d), Some(model)) = (&mut decoder, &base) {
            d.warm_start(model)?;
        }
        decoder
    };

    let (steps, seconds) = train_loop(&mut decoder, &train, &args, common, &device)?;
    println!(
        "trained {steps} steps (now step {}) in {seconds:.1} s ({:.1} pairs/s); wrote {}",
        decoder.steps(),
        (steps * args.batch_size) as f64 / seconds.max(1e-9),
        args.out.display()
    );

    if let Some(path) = &args.test_embeddings {
        let test = Paired::read(path, &args.data_dir, args.test_count)?;
        report(&decoder, &test, args.picture.as_deref(), common, &device)?;
    }
    Ok(())
}

/// Trains in slices of 20 steps until the epochs or the minutes are spent.
fn train_loop(
    decoder: &mut AnyDecoder,
    train: &Paired,
    args: &TrainArgs,
    common: &Common,
    device: &Device,
) -> Result<(usize, f64)> {
    let start = Instant::now();
    let budget = (args.minutes > 0.0).then(|| Duration::from_secs_f64(args.minutes * 60.0));
    let pairs = train.pairs()?;
    let total = args.epochs * pairs.len().div_ceil(args.batch_size.max(1));
    let bar = progress_bar(total as u64, decoder.steps() as u64);
    let mut recent = VecDeque::with_capacity(50);
    let first = decoder.steps();

    let mut last_save = first;
    loop {
        let options = FitOptions {
            epochs: args.epochs,
            batch_size: args.batch_size,
            seed: common.seed,
            checkpoint: None,
            checkpoint_every: 0,
            step_limit: Some(20),
        };
        let report = fit(decoder, &pairs, &options, device, |p| {
            if recent.len() == 50 {
                recent.pop_front();
            }
            recent.push_back(p.loss);
            let mean = recent.iter().sum::<f64>() / recent.len() as f64;
            bar.set_position(p.step as u64);
            bar.set_message(format!("epoch {}  loss {mean:.4}", p.epoch));
        })?;
        if decoder.steps() - last_save >= args.save_every.max(1) {
            decoder.save(&args.out)?;
            last_save = decoder.steps();
        }
        let out_of_time = budget.is_some_and(|b| start.elapsed() >= b);
        if report.steps_run == 0 || out_of_time {
            break;
        }
    }
    bar.finish();
    decoder.save(&args.out)?;
    Ok((decoder.steps() - first, start.elapsed().as_secs_f64()))
}

fn run_eval(args: EvalArgs, common: &Common) -> Result<()> {
    let device = common.device.device()?;
    let test = Paired::read(&args.embeddings, &args.data_dir, args.count)?;
    let mut decoders = Vec::with_capacity(args.checkpoint.len());
    for path in &args.checkpoint {
        let decoder = AnyDecoder::load(path, &device)
            .with_context(|| format!("loading {}", path.display()))?;
        print!("{}: ", path.display());
        report(&decoder, &test, None, common, &device)?;
        decoders.push(decoder);
    }
    if let Some(path) = &args.picture {
        let rows = write_picture(&decoders, &test, path, common.seed, &device)?;
        println!("wrote {}: rows of {}", path.display(), rows.join(", "));
    }
    Ok(())
}

/// Prints the test metrics and writes the picture.
fn report(
    decoder: &AnyDecoder,
    test: &Paired,
    picture: Option<&Path>,
    common: &Common,
    device: &Device,
) -> Result<()> {
    let started = Instant::now();
    let metrics: Metrics = evaluate(decoder, &test.pairs()?, 32, common.seed, device)?;
    let bpd = metrics
        .bits_per_dim
        .map_or(String::new(), |b| format!(", {b:.4} bits/dim"));
    println!(
        "test ({} images): reconstruction MSE {:.5}{bpd} ({:.1} s)",
        metrics.count,
        metrics.mse,
        started.elapsed().as_secs_f64()
    );
    if let Some(path) = picture {
        let rows = write_picture(
            std::slice::from_ref(decoder),
            test,
            path,
            common.seed,
            device,
        )?;
        println!("wrote {}: rows of {}", path.display(), rows.join(", "));
    }
    Ok(())
}

/// The first 8 test images: a row of originals, then for each decoder a row of its
/// reconstructions and, for the sampling decoders, a row of samples. Returns what the rows
/// show.
fn write_picture(
    decoders: &[AnyDecoder],
    test: &Paired,
    path: &Path,
    seed: u64,
    device: &Device,
) -> Result<Vec<String>> {
    let indices: Vec<usize> = (0..test.images.len().min(8)).collect();
    let z = test.pairs()?.z_tensor(&indices, device);
    let mut rows = vec![("originals".to_string(), test.images.select(&indices))];
    for decoder in decoders {
        let kind = decoder.config().kind();
        let rebuilt = ImageBatch::from_tensor(decoder.reconstruct(z.clone())?)?;
        rows.push((format!("{kind} reconstructions"), rebuilt));
        if kind != DecoderKind::Deterministic {
            let sampled = fisher_core::Decoder::decode(decoder, z.clone(), seed)?;
            rows.push((format!("{kind} samples"), ImageBatch::from_tensor(sampled)?));
        }
    }

    let mut grid = ImageBatch::empty(test.images.shape());
    for (_, row) in &rows {
        for i in 0..row.len() {
            grid.push(row.image(i))?;
        }
    }
    let layout = GridLayout::new(rows.len(), indices.len()).with_scale(2);
    fisher_data::write_grid(path, &grid, &layout)?;
    Ok(rows.into_iter().map(|(name, _)| name).collect())
}

fn progress_bar(total: u64, position: u64) -> ProgressBar {
    let bar = ProgressBar::new(total);
    let template = "[{elapsed_precise}] {bar:30} {pos}/{len} steps  {msg} ({eta})";
    let style =
        ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar.set_position(position);
    bar
}
