//! `fisher train`: trains a gated PixelCNN on Fashion-MNIST or the procedural faces, with a
//! progress bar showing bits per dimension, periodic checkpoints, resumption, and the test-set
//! bits per dimension at the end.
//!
//! ```text
//! $ fisher train --data fashion-mnist --minutes 60 --out fashion.ckpt
//! [00:59:58] ████████████████░░░░ 3510/∞ steps  epoch 1  2.981 bits/dim  lr 8.4e-4
//! trained 3510 steps (epoch 1, 1 steps into it) in 3599.9 s: 31.2 images/s
//! test bits/dim 3.012 over 10000 images (2087.5 nats/image)
//! ```

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::ValueEnum;
use fisher_core::{ImageBatch, ImageShape};
use fisher_data::{Faces, FacesConfig, Mnist, Split};
use fisher_pixelcnn::{Head, PixelCnnConfig, TrainConfig, Trainer, evaluate};
use indicatif::{ProgressBar, ProgressStyle};

use super::Common;

/// Which data set to train on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Dataset {
    /// Fashion-MNIST, 1×28×28, from `--data-dir` (IDX files, gzip or raw).
    FashionMnist,
    /// The procedural faces of fisher-data, 3×32×32, generated from `--seed`.
    Faces,
}

/// The output head.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum HeadKind {
    /// 256-way softmax per sub-pixel.
    Categorical,
    /// Discretized logistic mixture (PixelCNN++).
    Mixture,
}

/// `fisher train`: train a PixelCNN and report test bits/dim.
#[derive(Clone, Debug, clap::Args)]
pub struct Args {
    /// The data set.
    #[arg(long, value_enum, default_value_t = Dataset::FashionMnist)]
    pub data: Dataset,
    /// Folder of the Fashion-MNIST IDX files.
    #[arg(long, default_value = fisher_data::FASHION_MNIST_DIR)]
    pub data_dir: PathBuf,
    /// Use only the first N training images (0 = all; faces: how many to generate).
    #[arg(long, default_value_t = 0)]
    pub train_images: usize,
    /// Evaluate on the first N test images (0 = all; faces: how many to generate).
    #[arg(long, default_value_t = 0)]
    pub test_images: usize,
    /// Output head.
    #[arg(long, value_enum, default_value_t = HeadKind::Categorical)]
    pub head: HeadKind,
    /// Mixture components (mixture head only).
    #[arg(long, default_value_t = 5)]
    pub components: usize,
    /// Hidden channels per stack (default: 64 grayscale, 96 RGB).
    #[arg(long)]
    pub hidden: Option<usize>,
    /// Gated layers.
    #[arg(long, default_value_t = 8)]
    pub layers: usize,
    /// Images per step.
    #[arg(long, default_value_t = 32)]
    pub batch_size: usize,
    /// Initial learning rate.
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f64,
    /// Learning-rate decay per step.
    #[arg(long, default_value_t = 0.99995)]
    pub lr_decay: f64,
    /// Stop after this many steps in total (0 = no step limit).
    #[arg(long, default_value_t = 0)]
    pub steps: u64,
    /// Stop after this many minutes of training in this run (0 = no time limit).
    #[arg(long, default_value_t = 0.0)]
    pub minutes: f64,
    /// Write a checkpoint every N steps (and at the end).
    #[arg(long, default_value_t = 500)]
    pub save_every: u64,
    /// The checkpoint to write.
    #[arg(long)]
    pub out: PathBuf,
    /// Resume from this checkpoint (model, Adam state, settings and position).
    #[arg(long)]
    pub resume: Option<PathBuf>,
}

/// Runs `fisher train`.
pub fn run(args: Args, common: &Common) -> Result<()> {
    if args.steps == 0 && args.minutes <= 0.0 {
        bail!("give a budget: --steps N, --minutes M, or both");
    }
    let device = common.device.device()?;
    let (train, test) = load_data(&args, common.seed)?;
    let model_config = model_config(&args, train.shape(), common.seed);
    let train_config = TrainConfig::new()
        .with_learning_rate(args.lr)
        .with_lr_decay(args.lr_decay)
        .with_batch_size(args.batch_size)
        .with_seed(common.seed);
    let mut trainer = match &args.resume {
        Some(path) => Trainer::resume(path, Some(&model_config), train_config, &device)
            .with_context(|| format!("resuming from {}", path.display()))?,
        None => Trainer::new(&model_config, train_config, &device)?,
    };

    let (steps, seconds, after_first) = train_loop(&mut trainer, &train, &args)?;
    trainer
        .save(&args.out)
        .with_context(|| format!("writing {}", args.out.display()))?;
    let state = trainer.state();
    println!(
        "trained {steps} steps (now step {}, epoch {}) in {seconds:.1} s: {:.1} images/s",
        state.step,
        state.epoch,
        (steps as f64 * args.batch_size as f64) / seconds.max(1e-9)
    );
    if let Some(after) = after_first.filter(|_| steps > 1) {
        println!(
            "after the first step (kernel compilation, autotuning): {:.1} images/s",
            ((steps - 1) as f64 * args.batch_size as f64) / after.max(1e-9)
        );
    }

    let eval = evaluate(&trainer.valid_model(), &test, None, 64, &device)?;
    println!(
        "test bits/dim {:.4} over {} images ({:.1} nats/image)",
        eval.bits_per_dim, eval.images, eval.nats_per_image
    );
    Ok(())
}

fn model_config(args: &Args, shape: ImageShape, seed: u64) -> PixelCnnConfig {
    let base = if shape.channels == 3 {
        PixelCnnConfig::rgb(shape.height, shape.width)
    } else {
        PixelCnnConfig::new(shape)
    };
    let head = match args.head {
        HeadKind::Categorical => Head::Categorical,
        HeadKind::Mixture => Head::LogisticMixture(args.components),
    };
    let hidden = args.hidden.unwrap_or(base.hidden_channels);
    base.with_hidden_channels(hidden)
        .with_head_channels(2 * hidden)
        .with_layers(args.layers)
        .with_head(head)
        .with_seed(seed)
}

fn load_data(args: &Args, seed: u64) -> Result<(ImageBatch, ImageBatch)> {
    let limit = |batch: ImageBatch, n: usize| if n == 0 { batch } else { batch.slice(0, n) };
    match args.data {
        Dataset::FashionMnist => {
            let mnist = Mnist::new(&args.data_dir);
            let train = mnist.load(Split::Train).context("loading Fashion-MNIST")?;
            let test = mnist.load(Split::Test).context("loading Fashion-MNIST")?;
            Ok((
                limit(train.into_parts().0, args.train_images),
                limit(test.into_parts().0, args.test_images),
            ))
        }
        Dataset::Faces => {
            let faces = Faces::new(FacesConfig::default(), seed)?;
            let n_train = if args.train_images == 0 {
                20_000
            } else {
                args.train_images
            };
            let n_test = if args.test_images == 0 {
                2_000
            } else {
                args.test_images
            };
            let train = faces.generate(0, n_train)?.into_parts().0;
            let test = faces
                .generate(fisher_data::FACES_TEST_START, n_test)?
                .into_parts()
                .0;
            Ok((train, test))
        }
    }
}

/// Trains in chunks until the step or time budget is spent; returns steps, seconds, and the
/// seconds since the first step ended (`None` before it).
fn train_loop(
    trainer: &mut Trainer,
    train: &ImageBatch,
    args: &Args,
) -> Result<(u64, f64, Option<f64>)> {
    let start = Instant::now();
    let budget = (args.minutes > 0.0).then(|| Duration::from_secs_f64(args.minutes * 60.0));
    let total = (args.steps > 0).then_some(args.steps);
    let bar = progress_bar(total, trainer.state().step);
    let mut recent = std::collections::VecDeque::with_capacity(50);
    let mut done = 0u64;
    let mut last_save = trainer.state().step;
    let mut first_done: Option<Instant> = None;

    loop {
        let left = total.map_or(u64::MAX, |t| t.saturating_sub(trainer.state().step));
        let out_of_time = budget.is_some_and(|b| start.elapsed() >= b);
        if left == 0 || out_of_time {
            break;
        }
        let chunk = left.min(10);
        trainer.fit(train, None, chunk, &mut |p| {
            first_done.get_or_insert_with(Instant::now);
            if recent.len() == 50 {
                recent.pop_front();
            }
            recent.push_back(p.bits_per_dim);
            let mean = recent.iter().sum::<f64>() / recent.len() as f64;
            bar.set_position(p.step);
            bar.set_message(format!(
                "epoch {}  {mean:.3} bits/dim  lr {:.1e}",
                p.epoch, p.learning_rate
            ));
        })?;
        done += chunk;
        if trainer.state().step - last_save >= args.save_every.max(1) {
            trainer.save(&args.out)?;
            last_save = trainer.state().step;
        }
    }
    bar.finish();
    let after_first = first_done.map(|t| t.elapsed().as_secs_f64());
    Ok((done, start.elapsed().as_secs_f64(), after_first))
}

fn progress_bar(total: Option<u64>, position: u64) -> ProgressBar {
    let bar = match total {
        Some(t) => ProgressBar::new(t),
        None => ProgressBar::no_length(),
    };
    let template = if total.is_some() {
        "[{elapsed_precise}] {bar:30} {pos}/{len} steps  {msg} ({eta})"
    } else {
        "[{elapsed_precise}] {pos} steps  {msg}"
    };
    let style =
        ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar.set_position(position);
    bar
}
