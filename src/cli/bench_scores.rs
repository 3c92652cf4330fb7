//! `fisher bench scores`: examples per second of the batched per-example scores, of the loop
//! of single-example backward passes, and of a plain batched forward and backward pass of the
//! same model (the yardstick: the scores need no more arithmetic than that), with the peak
//! resident memory of each.
//!
//! ```text
//! $ fisher bench scores
//! model 1x28x28, 64 channels, 8 layers, categorical head: d = 670464 parameters
//! batch 32 on flex, 2 threads, k = 1024, 3 repetitions
//! plain forward+backward     5.6 examples/s   peak RSS 1520 MiB
//! batched scores, projected  6.1 examples/s   peak RSS 1490 MiB   0.92× the time of the plain pass
//! single-example loop        4.9 examples/s
//! ```

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use burn::module::Module;
use fisher_core::ImageBatch;
use fisher_jl::{ProjectionConfig, ProjectionKind};
use fisher_pixelcnn::{Head, PixelCnn, PixelCnnConfig};
use fisher_score::{FisherEmbedder, ScoreModel, reference_scores};

use super::Common;
use super::train::HeadKind;

/// `fisher bench scores`.
#[derive(Clone, Debug, clap::Args)]
pub struct Args {
    /// Benchmark this checkpoint instead of a freshly initialised default model.
    #[arg(long)]
    pub checkpoint: Option<PathBuf>,
    /// Output head of the fresh model.
    #[arg(long, value_enum, default_value_t = HeadKind::Categorical)]
    pub head: HeadKind,
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
    /// Run the scores' probed passes on at most this many images at a time (0 = the whole
    /// batch).
    #[arg(long, default_value_t = 0)]
    pub micro_batch: usize,
    /// Images of the single-example loop.
    #[arg(long, default_value_t = 8)]
    pub loop_images: usize,
}

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
        "batch {} (micro-batch {}) on {:?}, {} threads, k = {}, {} repetitions",
        args.batch_size,
        match args.micro_batch {
            0 => "none".to_string(),
            m => m.to_string(),
        },
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
    let mut embedder = FisherEmbedder::new(model.clone().no_grad(), projection.into())?;
    if args.micro_batch > 0 {
        embedder = embedder.with_micro_batch(args.micro_batch)?;
    }

    let mut plain = || {
        let ll = model.log_likelihood_cond(batch.clone(), None)?;
        drop(ll.sum().backward());
        Ok(())
    };
    let mut scores = || {
        let z = embedder.scores(batch.clone(), None)?;
        drop(z.into_data());
        Ok(())
    };
    let [plain, scores] = interleaved(args.reps, [&mut plain, &mut scores])?;
    let (plain, plain_rss) = plain;
    let (scores, scores_rss) = scores;
    let single = images.slice(0, args.loop_images).to_tensor(&device);
    let (looped, _) = time_once(|| {
        drop(reference_scores(&model, single.clone(), None)?);
        Ok(())
    })?;

    let rate = |seconds: f64, n: usize| n as f64 / seconds;
    let (plain_rate, scores_rate) = (rate(plain, args.batch_size), rate(scores, args.batch_size));
    println!(
        "plain forward+backward    {plain_rate:6.1} examples/s   peak RSS {}",
        mib(plain_rss)
    );
    println!(
        "batched scores, projected {scores_rate:6.1} examples/s   peak RSS {}   {:.2}× the time \
         of the plain pass",
        mib(scores_rss),
        scores / plain
    );
    println!(
        "single-example loop       {:6.1} examples/s",
        rate(looped, args.loop_images)
    );
    Ok(())
}

/// `n` deterministic images of the model's shape (every value appears; no data set needed).
fn test_images(n: usize, model: &PixelCnn, seed: u64) -> Result<ImageBatch> {
    let shape = model.config().image;
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let data = (0..n * shape.dims())
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 56) as u8
        })
        .collect();
    Ok(ImageBatch::new(data, n, shape)?)
}

/// A measurement: seconds per call and peak resident memory (bytes) where reported.
type Timing = (f64, Option<u64>);

/// The median seconds of `reps` calls of each function after one warm-up each, the calls
/// alternating so that a change of machine load hits all alike, and the peak resident memory
/// of each function's calls.
fn interleaved<const N: usize>(
    reps: usize,
    mut fs: [&mut dyn FnMut() -> Result<()>; N],
) -> Result<[Timing; N]> {
    let mut seconds = vec![Vec::new(); N];
    let mut peaks = [None; N];
    for (f, peak) in fs.iter_mut().zip(&mut peaks) {
        reset_peak_rss();
        f()?;
        *peak = peak_rss();
    }
    for _ in 0..reps.max(1) {
        for (i, f) in fs.iter_mut().enumerate() {
            reset_peak_rss();
            let start = Instant::now();
            f()?;
            seconds[i].push(start.elapsed().as_secs_f64());
            peaks[i] = peaks[i].max(peak_rss());
        }
    }
    Ok(std::array::from_fn(|i| {
        let s = &mut seconds[i];
        s.sort_by(f64::total_cmp);
        (s[s.len() / 2], peaks[i])
    }))
}

/// Seconds of one call, and the peak resident memory during it.
fn time_once(f: impl FnOnce() -> Result<()>) -> Result<Timing> {
    reset_peak_rss();
    let start = Instant::now();
    f()?;
    Ok((start.elapsed().as_secs_f64(), peak_rss()))
}

/// Resets the kernel's peak-RSS mark of this process (Linux; does nothing elsewhere).
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// The peak resident set size since the last reset, from `/proc/self/status` (Linux).
fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

fn mib(bytes: Option<u64>) -> String {
    bytes.map_or_else(|| "n/a".into(), |b| format!("{} MiB", b / (1 << 20)))
}
