//! Embeds every image of a folder as the projected Fisher score of a PixelCNN and writes the
//! embeddings to a safetensors file, using the libraries directly (no `fisher` program).
//!
//! ```text
//! # No download: write 500 procedural faces into faces/, train a small PixelCNN on them
//! # (about a minute on 2 cores), embed them, and keep the model for other folders.
//! cargo run --release --example embed_folder -- faces/ faces.safetensors \
//!     --demo-faces 500 --save-checkpoint faces.ckpt
//! # Any folder, with a saved model or a checkpoint of `fisher train`:
//! cargo run --release --example embed_folder -- photos/ photos.safetensors \
//!     --checkpoint faces.ckpt --k 1024
//! ```
//!
//! The steps: read the folder with fisher-data's image-folder loader (centre square, resized
//! to the model's size); load the PixelCNN, or train a small one on the folder itself when no
//! checkpoint is given; build a [`FisherEmbedder`], which computes `z = P·∇θ log p(x)` for a
//! batch in one backward pass and streams each layer's gradients into a sparse JL
//! projection; write the embeddings atomically with the metadata that reproduces them. Read
//! them from Python with `safetensors.numpy.load_file("faces.safetensors")["embeddings"]`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use burn::module::Module;
use burn::tensor::Device;
use clap::Parser;
use fisher_core::{ImageBatch, ImageShape};
use fisher_data::{Faces, FacesConfig, FolderConfig, GridLayout, ImageFiles};
use fisher_embed::cli::Backend;
use fisher_jl::ProjectionConfig;
use fisher_pixelcnn::{Head, PixelCnn, PixelCnnConfig, TrainConfig, Trainer};
use fisher_score::{
    Embeddings, EmbeddingsMetadata, FisherEmbedder, ScoreProjection, Shard, embed_range,
};
use indicatif::{ProgressBar, ProgressStyle};

/// Embed a folder of images with the Fisher scores of a PixelCNN.
#[derive(Debug, Parser)]
struct Args {
    /// Folder of PNG or JPEG images (not its subfolders).
    folder: PathBuf,
    /// Embeddings file to write (safetensors).
    out: PathBuf,
    /// A PixelCNN checkpoint from `fisher train`; without one, a small PixelCNN is trained
    /// on the folder first.
    #[arg(long)]
    checkpoint: Option<PathBuf>,
    /// First write this many procedural faces (32×32 PNGs of seed `--seed`) into the folder.
    #[arg(long)]
    demo_faces: Option<usize>,
    /// Embedding length k.
    #[arg(long, default_value_t = 512)]
    k: usize,
    /// Side in pixels the images are resized to when no checkpoint fixes it.
    #[arg(long, default_value_t = 32)]
    size: usize,
    /// Optimizer steps of the PixelCNN trained when no checkpoint is given.
    #[arg(long, default_value_t = 300)]
    train_steps: u64,
    /// Write the PixelCNN trained here to this file, to embed other folders with it.
    #[arg(long)]
    save_checkpoint: Option<PathBuf>,
    /// Images per batch of scores.
    #[arg(long, default_value_t = 8)]
    batch_size: usize,
    /// Backend.
    #[arg(long, value_enum, default_value_t = Backend::Flex)]
    device: Backend,
    /// Seed of the demo faces, the PixelCNN trained here and the projection.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let device = args.device.device()?.autodiff();
    if let Some(n) = args.demo_faces {
        write_demo_faces(&args.folder, n, args.seed)?;
    }

    let (model, images) = match &args.checkpoint {
        Some(path) => {
            let model = PixelCnn::load(path, None, &device)
                .with_context(|| format!("loading the PixelCNN {}", path.display()))?;
            let images = read_folder(&args.folder, model.config().image)?;
            (model, images)
        }
        None => {
            let images = read_folder(&args.folder, ImageShape::new(3, args.size, args.size)?)?;
            (train_on_folder(&args, &images, &device)?, images)
        }
    };
    let shape = images.shape();

    // `no_grad`: the per-example scores replace the batch-summed weight gradient, which the
    // backward pass then skips.
    let model = model.no_grad();
    let d = model.num_free_parameters();
    let projection = ProjectionConfig::new(d, args.k)
        .with_seed(args.seed)
        .init()?;
    let metadata = EmbeddingsMetadata {
        method: "fisher".into(),
        checkpoint_sha256: model.fingerprint(),
        projection: projection.kind().label(),
        projection_seed: args.seed,
        k: args.k,
        s: projection.nonzeros().unwrap_or(0),
        input_dim: d,
        normalisation: "none".into(),
        dataset: format!("folder:{}", args.folder.display()),
        batch_size: args.batch_size,
        total: images.len(),
        shard: Shard::WHOLE,
    };
    let embedder = FisherEmbedder::new(model, ScoreProjection::Host(projection))?;

    let n = images.len();
    let bar = progress_bar(n as u64, "images");
    let started = Instant::now();
    let (indices, values) =
        embed_range(&embedder, &images, 0..n, args.batch_size, &device, |done| {
            bar.set_position(done as u64);
            let rate = done as f64 / started.elapsed().as_secs_f64();
            bar.set_message(format!("{rate:.1} images/s"));
        })?;
    let seconds = started.elapsed().as_secs_f64();
    bar.finish_and_clear();

    let embeddings = Embeddings {
        metadata,
        indices,
        values,
    };
    embeddings
        .write(&args.out)
        .with_context(|| format!("writing {}", args.out.display()))?;
    println!(
        "embedded {n} images of {shape} (d = {d} parameters) to k = {} in {seconds:.1} s: \
         {:.1} images/s",
        args.k,
        n as f64 / seconds
    );
    println!("wrote {}", args.out.display());
    Ok(())
}

/// Every image of `folder`, cropped to a centred square and resized to `shape`.
fn read_folder(folder: &Path, shape: ImageShape) -> Result<ImageBatch> {
    let config = FolderConfig {
        channels: shape.channels,
        height: shape.height,
        width: shape.width,
        ..FolderConfig::default()
    };
    let files = ImageFiles::folder(folder, &config)?;
    let data = files
        .load()
        .with_context(|| format!("reading the images of {}", folder.display()))?;
    Ok(data.into_parts().0)
}

/// A small PixelCNN (12 channels, 3 gated layers) trained on `images` for a few hundred steps:
/// enough for scores that carry structure, far from a good density model.
fn train_on_folder(args: &Args, images: &ImageBatch, device: &Device) -> Result<PixelCnn> {
    println!(
        "no --checkpoint: training a small PixelCNN on the {} images for {} steps first",
        images.len(),
        args.train_steps
    );
    let config = PixelCnnConfig::new(images.shape())
        .with_hidden_channels(12)
        .with_head_channels(24)
        .with_layers(3)
        .with_head(Head::LogisticMixture(5))
        .with_seed(args.seed);
    let settings = TrainConfig::new().with_batch_size(16).with_seed(args.seed);
    let mut trainer = Trainer::new(&config, settings, device)?;

    let bar = progress_bar(args.train_steps, "steps");
    let started = Instant::now();
    let mut last = f64::NAN;
    trainer.fit(images, None, args.train_steps, &mut |p| {
        last = p.bits_per_dim;
        bar.set_position(p.step);
        bar.set_message(format!("{last:.3} bits/dim"));
    })?;
    bar.finish_and_clear();
    println!(
        "trained in {:.1} s; last batch {last:.3} bits/dim",
        started.elapsed().as_secs_f64()
    );

    let model = trainer.model().clone();
    if let Some(path) = &args.save_checkpoint {
        model
            .save(path)
            .with_context(|| format!("writing {}", path.display()))?;
        println!("saved the PixelCNN to {}", path.display());
    }
    Ok(model)
}

/// Writes faces `0..n` of `seed` as `face_00000.png`, ... into `folder`.
fn write_demo_faces(folder: &Path, n: usize, seed: u64) -> Result<()> {
    std::fs::create_dir_all(folder).with_context(|| format!("creating {}", folder.display()))?;
    let faces = Faces::new(FacesConfig::default(), seed)?;
    let layout = GridLayout::new(1, 1).with_gap(0);
    for i in 0..n {
        let face = ImageBatch::new(faces.image(i as u64), 1, faces.shape())?;
        let path = folder.join(format!("face_{i:05}.png"));
        fisher_data::write_grid(&path, &face, &layout)?;
    }
    println!(
        "wrote {n} procedural faces (seed {seed}) to {}",
        folder.display()
    );
    Ok(())
}

fn progress_bar(len: u64, unit: &str) -> ProgressBar {
    let template = format!("[{{elapsed_precise}}] {{bar:30}} {{pos}}/{{len}} {unit}  {{msg}}");
    let style =
        ProgressStyle::with_template(&template).unwrap_or_else(|_| ProgressStyle::default_bar());
    ProgressBar::new(len).with_style(style)
}
