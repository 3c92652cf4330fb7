//! `fisher bench projection`: throughput of a seeded random projection, in GB/s of input.
//!
//! Projects a `[batch, d]` batch of seeded `f32` noise to `[batch, k]`, on the host kernel
//! (the default) or with the tensor path on the `--device` backend, and prints the best and
//! median time of the repetitions and the input read per second at the best time. No set-up is
//! timed because there is none: the projection stores no matrix. For the host kernel it also
//! times a plain parallel sum over the same input, the memory-speed yardstick, and on Linux
//! it prints the CPU time the runs used, which tells a busy machine (fewer cores busy than
//! threads) from a slow kernel, and the peak memory.
//!
//! ```text
//! $ fisher bench projection --d 4194304 --k 4096 --batch 32
//! sparse-jl(s=4): d = 4194304, k = 4096, batch 32 (512 MiB of f32 input), host, 2 threads
//! best 166.0 ms, median 171.2 ms over 5 repetitions
//! 3.23 GB/s of input
//! plain streaming read of the same input: 9.90 GB/s; the projection runs at 33% of it
//! CPU 1.70 s for 0.86 s of runs: 1.98 cores busy, 1.89 GB/s per CPU-second
//! peak resident memory 523 MiB, 3 MiB above the input held before the runs
//! ```

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use burn::tensor::{Tensor, TensorData};
use clap::ValueEnum;
use fisher_jl::{Projection, ProjectionConfig, ProjectionKind};
use indicatif::{ProgressBar, ProgressStyle};
use ndarray::{Array2, Zip};

use super::Common;

/// Which matrix to benchmark.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Kind {
    /// Sparse Johnson–Lindenstrauss with `--s` nonzeros per coordinate.
    Sparse,
    /// Very sparse (Li, Hastie and Church; scikit-learn's SparseRandomProjection).
    VerySparse,
    /// Dense Gaussian (slow: `k` operations per coordinate).
    Gaussian,
}

/// Which implementation runs the projection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Path {
    /// The multi-threaded host kernel on ndarray.
    Host,
    /// The Burn tensor path on the `--device` backend.
    Tensor,
}

/// `fisher bench projection`.
#[derive(Clone, Debug, clap::Args)]
pub struct Args {
    /// Input length `d`.
    #[arg(long, default_value_t = 4_194_304)]
    pub d: usize,
    /// Output length `k`.
    #[arg(long, default_value_t = 4096)]
    pub k: usize,
    /// Vectors per batch.
    #[arg(long, default_value_t = 32)]
    pub batch: usize,
    /// The matrix.
    #[arg(long, value_enum, default_value_t = Kind::Sparse)]
    pub kind: Kind,
    /// Nonzeros per coordinate of the sparse JL matrix, 1 to 16.
    #[arg(long, default_value_t = fisher_jl::DEFAULT_NONZEROS)]
    pub s: usize,
    /// Density of the very sparse matrix, in (0, 1]; `1/√d` when not given.
    #[arg(long)]
    pub density: Option<f64>,
    /// Threads of the host kernel; all cores when not given.
    #[arg(long)]
    pub threads: Option<usize>,
    /// Host kernel or tensor path.
    #[arg(long, value_enum, default_value_t = Path::Host)]
    pub path: Path,
    /// Timed repetitions, after one warm-up run.
    #[arg(long, default_value_t = 5)]
    pub repeats: usize,
}

/// Runs `fisher bench projection`.
pub fn run(args: Args, common: &Common) -> Result<()> {
    let kind = match args.kind {
        Kind::Sparse => ProjectionKind::SparseJl { nonzeros: args.s },
        Kind::VerySparse => ProjectionKind::VerySparse {
            density: args.density,
        },
        Kind::Gaussian => ProjectionKind::Gaussian,
    };
    let projection = ProjectionConfig::new(args.d, args.k)
        .with_kind(kind.clone())
        .with_seed(common.seed)
        .init()?;
    let mut builder = rayon::ThreadPoolBuilder::new();
    if let Some(threads) = args.threads {
        if threads == 0 {
            bail!("--threads must be at least 1");
        }
        builder = builder.num_threads(threads);
    }
    let pool = builder.build().context("starting the thread pool")?;

    let bytes = args.batch * args.d * std::mem::size_of::<f32>();
    let x = pool.install(|| noise(args.batch, args.d, common.seed));
    let place = match args.path {
        Path::Host => "host".to_string(),
        Path::Tensor => format!("tensor path on {:?}", common.device),
    };
    println!(
        "{}: d = {}, k = {}, batch {} ({} MiB of f32 input), {place}, {} threads",
        kind.label(),
        args.d,
        args.k,
        args.batch,
        bytes >> 20,
        pool.current_num_threads()
    );

    let rss_before = current_rss();
    let cpu_before = cpu_seconds();
    let times = match args.path {
        Path::Host => pool.install(|| time_host(&projection, &x, args.repeats))?,
        Path::Tensor => time_tensor(&projection, &x, args.repeats, common)?,
    };
    let cpu = cpu_before.zip(cpu_seconds()).map(|(a, b)| b - a);
    let best = times.iter().min().copied().unwrap_or_default();
    let median = median(&times);
    println!(
        "best {:.1} ms, median {:.1} ms over {} repetitions",
        best.as_secs_f64() * 1e3,
        median.as_secs_f64() * 1e3,
        times.len()
    );
    println!(
        "{:.2} GB/s of input",
        bytes as f64 / best.as_secs_f64() / 1e9
    );
    if args.path == Path::Host {
        let read = pool.install(|| time_read(&x, args.repeats));
        let read_rate = bytes as f64 / read.as_secs_f64() / 1e9;
        println!(
            "plain streaming read of the same input: {read_rate:.2} GB/s; the projection runs at \
             {:.0}% of it",
            100.0 * read.as_secs_f64() / best.as_secs_f64()
        );
    }
    if let Some(cpu) = cpu {
        // The warm-up run is inside the CPU interval too: one run more than timed.
        let runs = (times.len() + 1) as f64;
        let wall = times.iter().map(Duration::as_secs_f64).sum::<f64>() / times.len() as f64 * runs;
        println!(
            "CPU {cpu:.2} s for {wall:.2} s of runs: {:.2} cores busy, {:.2} GB/s per CPU-second",
            cpu / wall,
            bytes as f64 * runs / cpu / 1e9
        );
    }
    if let Some((before, peak)) = rss_before.zip(peak_rss()) {
        println!(
            "peak resident memory {} MiB, {} MiB above the input held before the runs",
            peak >> 20,
            peak.saturating_sub(before) >> 20
        );
    }
    Ok(())
}

/// The resident set size now and its peak since the process started, in bytes, from
/// `/proc/self/status` (Linux; `None` elsewhere).
fn memory() -> Option<(u64, u64)> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let field = |name: &str| -> Option<u64> {
        let line = status.lines().find(|l| l.starts_with(name))?;
        Some(line.split_whitespace().nth(1)?.parse::<u64>().ok()? * 1024)
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// The current resident set size, in bytes.
fn current_rss() -> Option<u64> {
    memory().map(|(now, _)| now)
}

/// The peak resident set size, in bytes.
fn peak_rss() -> Option<u64> {
    memory().map(|(_, peak)| peak)
}

/// User and system CPU time of this process so far, from `/proc/self/stat` (Linux; `None`
/// elsewhere). Ticks are taken as 1/100 s, their length on every common Linux platform.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let fields: Vec<&str> = stat.rsplit(')').next()?.split_whitespace().collect();
    let user: f64 = fields.get(11)?.parse().ok()?;
    let system: f64 = fields.get(12)?.parse().ok()?;
    Some((user + system) / 100.0)
}

/// A `[batch, d]` batch of seeded noise in `[−1, 1)`, filled in parallel.
fn noise(batch: usize, d: usize, seed: u64) -> Array2<f32> {
    let mut x = Array2::<f32>::zeros((batch, d));
    Zip::indexed(&mut x).par_for_each(|(b, j), v| {
        let mut h = seed ^ ((b * d + j) as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        h = (h ^ (h >> 31)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        h ^= h >> 29;
        *v = (h >> 40) as f32 / (1u64 << 23) as f32 - 1.0;
    });
    x
}

/// Times of `repeats` host projections after a warm-up.
fn time_host(projection: &Projection, x: &Array2<f32>, repeats: usize) -> Result<Vec<Duration>> {
    let bar = progress(repeats);
    projection.project(x.view())?;
    let mut times = Vec::with_capacity(repeats);
    for _ in 0..repeats.max(1) {
        let start = Instant::now();
        let z = projection.project(x.view())?;
        times.push(start.elapsed());
        drop(z);
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(times)
}

/// The best time of `repeats` plain parallel sums over the input: the memory-speed yardstick.
fn time_read(x: &Array2<f32>, repeats: usize) -> Duration {
    use rayon::prelude::*;

    let Some(values) = x.as_slice() else {
        return Duration::MAX;
    };
    (0..repeats.max(1))
        .map(|_| {
            let start = Instant::now();
            let sum: f32 = values
                .par_chunks(1 << 16)
                .map(|chunk| {
                    let mut lanes = [0.0f32; 16];
                    for block in chunk.chunks_exact(16) {
                        for (l, v) in lanes.iter_mut().zip(block) {
                            *l += v;
                        }
                    }
                    lanes.iter().sum::<f32>()
                })
                .sum();
            std::hint::black_box(sum);
            start.elapsed()
        })
        .min()
        .unwrap_or(Duration::MAX)
}

/// Times of `repeats` tensor-path projections after a warm-up, the input already on the
/// device and each result read back (so that lazy backends finish their work).
fn time_tensor(
    projection: &Projection,
    x: &Array2<f32>,
    repeats: usize,
    common: &Common,
) -> Result<Vec<Duration>> {
    let device = common.device.device()?;
    let (batch, d) = x.dim();
    let values: Vec<f32> = x.iter().copied().collect();
    let input = Tensor::<2>::from_data(TensorData::new(values, [batch, d]), &device);
    let bar = progress(repeats);
    drop(projection.project_tensor(input.clone())?.into_data());
    let mut times = Vec::with_capacity(repeats);
    for _ in 0..repeats.max(1) {
        let start = Instant::now();
        let z = projection.project_tensor(input.clone())?;
        drop(z.into_data());
        times.push(start.elapsed());
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(times)
}

fn progress(repeats: usize) -> ProgressBar {
    let bar = ProgressBar::new(repeats.max(1) as u64);
    if let Ok(style) = ProgressStyle::with_template("{msg} {bar:30} {pos}/{len} repetitions") {
        bar.set_style(style);
    }
    bar.set_message("projecting");
    bar
}

fn median(times: &[Duration]) -> Duration {
    let mut sorted = times.to_vec();
    sorted.sort();
    sorted.get(sorted.len() / 2).copied().unwrap_or_default()
}
