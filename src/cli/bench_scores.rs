//! `fisher bench scores`: examples per second of the batched per-example scores, of the loop
//! of single-example backward passes, and of a plain batched forward and backward pass of the
//! same model (the yardstick: the scores need no more arithmetic than that).
//!
//! ```text
//! $ fisher bench scores
//! model 1x28x28, 64 channels, 8 layers, Categorical head: d = 670464 parameters
//! batch 32 on Flex, 2 threads, k = 1024, median of 3 repetitions
//! plain forward+backward                 10.3 examples/s   1.00× the time of the plain pass
//! batched scores, projected              19.1 examples/s   0.54× the time of the plain pass
//! batched scores, micro-batches of 4     31.3 examples/s   0.33× the time of the plain pass
//! single-example loop                    10.3 examples/s   1.00× the time of the plain pass
//! ```
//!
//! (2 idle cores of an AMD EPYC.) The micro-batches run side by side on the cores. With
//! `--only PART` one computation runs alone and the peak resident memory of the process is
//! printed.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use burn::module::Module;
use clap::ValueEnum;
use fisher_core::ImageBatch;
use fisher_jl::{ProjectionConfig, ProjectionKind};
use fisher_pixelcnn::{Head, PixelCnn, PixelCnnConfig};
use fisher_score::{FisherEmbedder, ScoreModel, reference_scores};

use super::Common;
use super::train::HeadKind;

/// One of the measured computations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Part {
    /// A plain forward and backward pass of the batch.
    Plain,
    /// The batched, projected scores of the whole batch at once.
    Scores,
    /// The same, in micro-batches.
    Micro,
    /// The loop of single-example backward passes.
    Loop,
}

/// `fisher bench scores`.
#[derive(Clone, Debug, clap::Args)]
pub struct Args {
    /// Benchmark this checkpoint instead of a freshly initialised default model.
    #[arg(long)]
    pub checkpoint: Option<PathBuf>,
    /// Output head of the fresh model.
    #[arg(long, value_enum, default_value_t = HeadKind::Categorical)]
    pub head: HeadKind,
    /// Hidden channels of the fresh model (its head has twice as many).
    #[arg(long, default_value_t = 64)]
    pub hidden: usize,
    /// Gated layers of the fresh model.
    #[arg(long, default_value_t = 8)]
    pub layers: usize,
    /// Images per batch.
    #[arg(long, default_value_t = 32)]
    pub batch_size: usize,
    /// Embedding length of the projection.
    #[arg(long, default_value_t = 1024)]
    pub k: usize,
    /// Nonzeros per coordinate of the sparse JL projection.
    #[arg(long, default_value_t = fisher_jl::DEFAULT_NONZEROS)]
    pub s: usize,
    /// Timed repetitions of each batched measurement (after one warm-up); the median is
    /// reported.
    #[arg(long, default_value_t = 3)]
    pub reps: usize,
    /// Also measure the scores with the probed passes run on this many images at a time
    /// (0 = skip).
    #[arg(long, default_value_t = 4)]
    pub micro_batch: usize,
    /// Measure only this part, and print the peak resident memory of the process (run once
    /// per part to compare memory).
    #[arg(long, value_enum)]
    pub only: Option<Part>,
    /// Images of the single-example loop.
    #[arg(long, default_value_t = 8)]
    pub loop_images: usize,
}

/// One timed part of the benchmark: which, its label, images per run, and the work.
type Timed<'a> = (Part, String, usize, &'a mut dyn FnMut() -> Result<()>);

/// Runs `fisher bench scores`.
pub fn run(args: Args, common: &Common) -> Result<()> {
    let device = common.device.device()?.autodiff();
    let model = match &args.checkpoint {
        Some(path) => PixelCnn::load(path, None, &device)
            .with_context(|| format!("loading {}", path.display()))?,
        None => {
            let head = match args.head {
                HeadKind::Categorical => Head::Categorical,
                HeadKind::Mixture => Head::LogisticMixture(5),
            };
            PixelCnnConfig::fashion_mnist()
                .with_head(head)
                .with_hidden_channels(args.hidden)
                .with_head_channels(2 * args.hidden)
                .with_layers(args.layers)
                .init(&device)?
        }
    };
    let config = model.config();
    let d = ScoreModel::num_free_parameters(&model);
    println!(
        "model {}, {} channels, {} layers, {:?} head: d = {d} parameters",
        config.image, config.hidden_channels, config.layers, config.head
    );
    println!(
        "batch {} on {:?}, {} threads, k = {}, median of {} repetitions",
        args.batch_size,
        common.device,
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        args.k,
        args.reps
    );

    let images = test_images(args.batch_size.max(args.loop_images), &model, common.seed)?;
    let batch = images.slice(0, args.batch_size).to_tensor(&device);
    let projection = ProjectionConfig::new(d, args.k)
        .with_kind(ProjectionKind::SparseJl { nonzeros: args.s })
        .with_seed(common.seed)
        .init()?;
    let whole = FisherEmbedder::new(model.clone().no_grad(), projection.clone().into())?;
    let micro = FisherEmbedder::new(model.clone().no_grad(), projection.into())?
        .with_micro_batch(args.micro_batch.max(1))?;
    let single = images.slice(0, args.loop_images).to_tensor(&device);

    let mut plain = || {
        let ll = model.log_likelihood_cond(batch.clone(), None)?;
        drop(ll.sum().backward());
        Ok(())
    };
    let mut scores = || {
        drop(whole.scores(batch.clone(), None)?.into_data());
        Ok(())
    };
    let mut micro_scores = || {
        drop(micro.scores(batch.clone(), None)?.into_data());
        Ok(())
    };
    let mut looped = || {
        drop(reference_scores(&model, single.clone(), None)?);
        Ok(())
    };

    let (n, loops) = (args.batch_size, args.loop_images);
    let micro_label = format!("batched scores, micro-batches of {}", args.micro_batch);
    let mut all: Vec<Timed<'_>> = vec![
        (Part::Plain, "plain forward+backward".into(), n, &mut plain),
        (
            Part::Scores,
            "batched scores, projected".into(),
            n,
            &mut scores,
        ),
    ];
    if args.micro_batch > 0 {
        all.push((Part::Micro, micro_label, n, &mut micro_scores));
    }
    all.push((Part::Loop, "single-example loop".into(), loops, &mut looped));
    if let Some(only) = args.only {
        all.retain(|(part, ..)| *part == only);
    }

    let mut fns: Vec<&mut dyn FnMut() -> Result<()>> = Vec::new();
    let mut parts = Vec::new();
    for (part, label, n, f) in all {
        parts.push((part, label, n));
        fns.push(f);
    }
    let seconds = interleaved(args.reps, &mut fns)?;
    let plain_seconds = parts
        .iter()
        .zip(&seconds)
        .find(|((part, ..), _)| *part == Part::Plain)
        .map(|((.., n), s)| s / *n as f64);
    for ((_, label, n), s) in parts.iter().zip(&seconds) {
        let per_example = s / *n as f64;
        let ratio = plain_seconds.map_or(String::new(), |p| {
            format!("   {:.2}× the time of the plain pass", per_example / p)
        });
        println!("{label:36} {:6.1} examples/s{ratio}", 1.0 / per_example);
    }
    if args.only.is_some() {
        println!("peak resident memory of this process: {}", mib(peak_rss()));
    }
    Ok(())
}

/// `n` deterministic images of the model's shape (every value appears; no data set needed).
fn test_images(n: usize, model: &PixelCnn, seed: u64) -> Result<ImageBatch> {
    super::noise_images(n, model.config().image, seed)
}

/// The median seconds of `reps` calls of each function after one warm-up call each, the
/// calls alternating so that a change of machine load hits all alike.
fn interleaved(reps: usize, fs: &mut [&mut dyn FnMut() -> Result<()>]) -> Result<Vec<f64>> {
    for f in fs.iter_mut() {
        f()?;
    }
    let mut seconds = vec![Vec::new(); fs.len()];
    for _ in 0..reps.max(1) {
        for (f, times) in fs.iter_mut().zip(&mut seconds) {
            let start = Instant::now();
            f()?;
            times.push(start.elapsed().as_secs_f64());
        }
    }
    Ok(seconds
        .into_iter()
        .map(|mut s| {
            s.sort_by(f64::total_cmp);
            s[s.len() / 2]
        })
        .collect())
}

/// The peak resident set size of this process, from `/proc/self/status` (Linux).
fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

fn mib(bytes: Option<u64>) -> String {
    bytes.map_or_else(|| "n/a".into(), |b| format!("{} MiB", b / (1 << 20)))
}
