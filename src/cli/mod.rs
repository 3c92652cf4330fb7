//! The `fisher` command line program: one subcommand per stage of the pipeline.
//!
//! Each subcommand lives in a module of its own with a clap `Args` struct and a `run`
//! function; this module only parses and dispatches.

pub mod bench_fid;
pub mod bench_projection;
pub mod bench_scores;
pub mod decoder;
pub mod demo;
pub mod edit;
pub mod embed;
pub mod fid;
pub mod interpolate;
mod paired;
pub mod sample;
pub mod train;

use anyhow::{Result, bail};
use burn::tensor::Device;
use clap::{Parser, Subcommand, ValueEnum};

/// Which Burn backend runs the tensors.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum Backend {
    /// Pure-Rust CPU backend (the default).
    #[default]
    Flex,
    /// GPU through wgpu (Vulkan, Metal or DX12); needs the `wgpu` cargo feature.
    Wgpu,
    /// NVIDIA GPU through CUDA; needs the `cuda` cargo feature.
    Cuda,
}

impl Backend {
    /// The Burn device for this backend, or an error naming the cargo feature it needs.
    pub fn device(self) -> Result<Device> {
        match self {
            #[cfg(feature = "flex")]
            Self::Flex => Ok(Device::flex()),
            #[cfg(feature = "wgpu")]
            Self::Wgpu => Ok(Device::wgpu(Default::default())),
            #[cfg(feature = "cuda")]
            Self::Cuda => Ok(Device::cuda(0)),
            #[allow(unreachable_patterns)]
            other => bail!(
                "backend {other:?} is not compiled in: rebuild with `--features {}`",
                format!("{other:?}").to_lowercase()
            ),
        }
    }
}

/// Options every subcommand that computes takes.
#[derive(Clone, Debug, clap::Args)]
pub struct Common {
    /// Backend to run on.
    #[arg(long, value_enum, default_value_t = Backend::Flex, global = true)]
    pub device: Backend,
    /// Seed for every random choice of the run.
    #[arg(long, default_value_t = 0, global = true)]
    pub seed: u64,
}

/// Fisher-score embeddings of images: train, embed, decode, edit, evaluate.
#[derive(Debug, Parser)]
#[command(name = "fisher", version, about)]
pub struct Cli {
    /// Options shared by all subcommands.
    #[command(flatten)]
    pub common: Common,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// The whole chain on the built-in procedural faces: train, embed three ways, decode,
    /// interpolate, edit, and measure (FID against α, edit success).
    Demo(demo::Args),
    /// FID and KID between two feature files (`.npy`) or statistics files (`.npz`).
    FidDistance(fid::DistanceArgs),
    /// FID and KID between two image folders, with Inception-v3 or a domain classifier.
    Fid(fid::Args),
    /// Train a gated PixelCNN and report test bits/dim.
    Train(train::Args),
    /// Embed a data set's images: Fisher scores, activations or pixels, projected.
    Embed(embed::Args),
    /// Join the shards of one `fisher embed` run into the single run's file.
    EmbedMerge(embed::MergeArgs),
    /// Train and measure decoders from embeddings back to images.
    Decoder(decoder::Args),
    /// Decode straight lines (1 − α)·z_a + α·z_b between pairs of embeddings.
    Interpolate(interpolate::Args),
    /// Add or remove an attribute: decode z + λ·(z̄_pos − z̄_neg).
    Edit(edit::Args),
    /// Draw images from a trained PixelCNN.
    Sample(sample::Args),
    /// Throughput benchmarks.
    #[command(subcommand)]
    Bench(BenchCommand),
}

/// `fisher bench …`
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Per-example Fisher scores: batched, looped, and a plain forward+backward pass.
    Scores(bench_scores::Args),
    /// Random projection throughput in GB/s of input, host kernel or tensor path.
    Projection(bench_projection::Args),
    /// Inception-v3 images/s on the device, and the seconds of one Fréchet distance.
    Fid(bench_fid::Args),
}

/// Parses the arguments and runs the chosen subcommand.
pub fn main() -> Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    run(cli)
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> Result<()> {
    let _ = &cli.common;
    match cli.command {
        Command::Demo(args) => demo::run(args, &cli.common),
        Command::Bench(b) => match b {
            BenchCommand::Scores(args) => bench_scores::run(args, &cli.common),
            BenchCommand::Projection(args) => bench_projection::run(args, &cli.common),
            BenchCommand::Fid(args) => bench_fid::run(args, &cli.common),
        },
        Command::Embed(args) => embed::run(args, &cli.common),
        Command::EmbedMerge(args) => embed::run_merge(args),
        Command::Train(args) => train::run(args, &cli.common),
        Command::FidDistance(args) => fid::run_distance(args, &cli.common),
        Command::Fid(args) => fid::run(args, &cli.common),
        Command::Decoder(args) => decoder::run(args, &cli.common),
        Command::Interpolate(args) => interpolate::run(args, &cli.common),
        Command::Edit(args) => edit::run(args, &cli.common),
        Command::Sample(args) => sample::run(args, &cli.common),
    }
}

/// A spinner with the elapsed time, for work whose length is unknown.
pub(crate) fn spinner(message: String) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new_spinner();
    let style = indicatif::ProgressStyle::with_template("{spinner} [{elapsed_precise}] {msg}")
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner());
    bar.set_style(style);
    bar.set_message(message);
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    bar
}

/// `n` images of `shape` with seeded pseudo-random sub-pixels.
pub(crate) fn noise_images(
    n: usize,
    shape: fisher_core::ImageShape,
    seed: u64,
) -> Result<fisher_core::ImageBatch> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let data = (0..n * shape.dims())
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 56) as u8
        })
        .collect();
    Ok(fisher_core::ImageBatch::new(data, n, shape)?)
}
