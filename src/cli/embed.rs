//! `fisher embed`: embeddings of a data set's images, as Fisher scores or a baseline, written
//! to a safetensors file; `fisher embed-merge` joins the shards of one run.
//!
//! ```text
//! $ fisher embed --checkpoint fashion.ckpt --split test --count 2000 --k 1024 \
//!       --out test.safetensors
//! [00:05:08] ██████████████████████████████ 2000/2000 images  6.5 images/s
//! wrote 2000 embeddings of length 1024 to test.safetensors (shard 0/1, fisher, sparse-jl(s=8))
//!
//! $ fisher embed ... --shard 0/2 --out part0.safetensors   # on one machine
//! $ fisher embed ... --shard 1/2 --out part1.safetensors   # on another
//! $ fisher embed-merge part0.safetensors part1.safetensors --out test.safetensors
//! ```
//!
//! The merged file equals the single run's byte for byte: shards split the images at whole
//! batches, so every image is computed in the very same batch.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use burn::module::Module;
use burn::tensor::{Device, Int, Tensor};
use clap::ValueEnum;
use fisher_core::{Embedder, ImageBatch, PixelScaling};
use fisher_data::{Faces, FacesConfig, Mnist, Split};
use fisher_jl::{ProjectionConfig, ProjectionKind};
use fisher_pixelcnn::PixelCnn;
use fisher_score::{
    ActivationEmbedder, DiagonalFisher, Embeddings, EmbeddingsMetadata, FisherEmbedder,
    FittedNormalisation, Normalisation, Normalised, PixelEmbedder, PostNormalisation, ScoreModel,
    ScoreProjection, Shard, Standardiser, embed_range, layer_inputs, merge_shards,
};
use indicatif::{ProgressBar, ProgressStyle};

use super::{Backend, Common};

/// What the embedding of an image is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Method {
    /// The projected Fisher score ∇θ log p(x) of the PixelCNN.
    Fisher,
    /// The input activation of one PixelCNN layer (`--layer`), flattened and projected.
    Activations,
    /// The raw pixels in [0, 1], flattened and projected.
    Pixels,
}

/// Which random projection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ProjectionChoice {
    /// Sparse Johnson–Lindenstrauss, `--s` nonzeros per coordinate.
    SparseJl,
    /// Very sparse random projection (Li, Hastie and Church), density `--density` or 1/√d.
    VerySparse,
    /// Dense Gaussian (small inputs only).
    Gaussian,
    /// No projection (baselines only).
    None,
}

/// Where the projection runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ProjectionPath {
    /// Host for the CPU backend, device for GPU backends.
    Auto,
    /// fisher-jl's multi-threaded host kernel.
    Host,
    /// On the device of the scores.
    Device,
}

/// The data set the images come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DataChoice {
    /// Fashion-MNIST IDX files in `--data-dir`.
    FashionMnist,
    /// The procedural faces of fisher-data, generated from `--data-seed`.
    Faces,
}

/// A split of the data set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SplitChoice {
    /// Training images (faces: indices from 0).
    Train,
    /// Test images (faces: indices from 1,000,000).
    Test,
}

/// `fisher embed`: embed a data set's images.
#[derive(Clone, Debug, clap::Args)]
pub struct Args {
    /// The PixelCNN checkpoint (needed by `fisher` and `activations`).
    #[arg(long)]
    pub checkpoint: Option<PathBuf>,
    /// What the embedding is.
    #[arg(long, value_enum, default_value_t = Method::Fisher)]
    pub method: Method,
    /// The layer whose input activation `activations` uses (see the names printed when the
    /// name is unknown).
    #[arg(long, default_value = "head_hidden")]
    pub layer: String,
    /// The data set.
    #[arg(long, value_enum, default_value_t = DataChoice::FashionMnist)]
    pub data: DataChoice,
    /// Folder of the Fashion-MNIST IDX files.
    #[arg(long, default_value = fisher_data::FASHION_MNIST_DIR)]
    pub data_dir: PathBuf,
    /// Seed of the procedural faces.
    #[arg(long, default_value_t = 0)]
    pub data_seed: u64,
    /// Which split to embed.
    #[arg(long, value_enum, default_value_t = SplitChoice::Test)]
    pub split: SplitChoice,
    /// Index of the first image to embed.
    #[arg(long, default_value_t = 0)]
    pub start: usize,
    /// Number of images to embed (0 = all from `--start`; faces need a count).
    #[arg(long, default_value_t = 0)]
    pub count: usize,
    /// The projection (its seed is `--seed`).
    #[arg(long, value_enum, default_value_t = ProjectionChoice::SparseJl)]
    pub projection: ProjectionChoice,
    /// Embedding length k.
    #[arg(long, default_value_t = 1024)]
    pub k: usize,
    /// Nonzeros per coordinate of the sparse JL projection.
    #[arg(long, default_value_t = fisher_jl::DEFAULT_NONZEROS)]
    pub s: usize,
    /// Density of the very sparse projection (default 1/√d).
    #[arg(long)]
    pub density: Option<f64>,
    /// Where the projection runs.
    #[arg(long, value_enum, default_value_t = ProjectionPath::Auto)]
    pub projection_path: ProjectionPath,
    /// none, inv-sqrt-d, `diag-fisher[:DAMPING]` (fisher only) or standardise.
    #[arg(long, default_value = "none")]
    pub normalisation: String,
    /// Split whose first `--fit-count` images fit diag-fisher or standardise.
    #[arg(long, value_enum, default_value_t = SplitChoice::Train)]
    pub fit_split: SplitChoice,
    /// Number of training images the normalisation is fitted on.
    #[arg(long, default_value_t = 1000)]
    pub fit_count: usize,
    /// File of fitted normalisation statistics: read when it exists (and matches), written
    /// otherwise, so that shards and later runs share one fit.
    #[arg(long)]
    pub stats: Option<PathBuf>,
    /// Images per batch; shards of one run must use the same. Small batches use less memory
    /// and, on the CPU backend, run no slower (see `docs/benchmarks.md`).
    #[arg(long, default_value_t = 8)]
    pub batch_size: usize,
    /// Which part of the run to compute, `i/n` with `i` in `0..n`.
    #[arg(long, default_value = "0/1")]
    pub shard: Shard,
    /// The embeddings file to write (safetensors).
    #[arg(long)]
    pub out: PathBuf,
}

/// `fisher embed-merge`: join the shards of one run into the single run's file.
#[derive(Clone, Debug, clap::Args)]
pub struct MergeArgs {
    /// The shard files, in any order.
    #[arg(required = true)]
    pub shards: Vec<PathBuf>,
    /// The merged file to write.
    #[arg(long)]
    pub out: PathBuf,
}

/// Images per probed pass on the CPU backend: a batch's micro-batches of this size run side
/// by side on the cores (see `FisherEmbedder::with_micro_batch`), about 1.5× faster than one
/// pass over the whole batch.
const CPU_MICRO_BATCH: usize = 4;

/// Runs `fisher embed`.
pub fn run(args: Args, common: &Common) -> Result<()> {
    let device = common.device.device()?.autodiff();
    let normalisation: Normalisation = args.normalisation.parse()?;
    let (images, dataset) = load_images(&args, args.split, args.start, args.count)?;
    let model = load_model(&args, &device)?;

    let (embedder, mut meta) = build(
        &args,
        common,
        model.as_ref(),
        &images,
        normalisation,
        &device,
    )?;
    meta.total = images.len();
    meta.shard = args.shard;
    meta.dataset = dataset;

    let range = args.shard.range(images.len(), args.batch_size)?;
    let bar = progress_bar(range.len() as u64);
    let started = Instant::now();
    let (mut indices, values) = embed_range(
        embedder.as_ref(),
        &images,
        range.clone(),
        args.batch_size,
        &device,
        |done| {
            bar.set_position(done as u64);
            let rate = done as f64 / started.elapsed().as_secs_f64().max(1e-9);
            bar.set_message(format!("{rate:.1} images/s"));
        },
    )?;
    bar.finish();
    indices.iter_mut().for_each(|i| *i += args.start as i64);

    let n = indices.len();
    let out = Embeddings {
        metadata: meta,
        indices,
        values,
    };
    out.write(&args.out)
        .with_context(|| format!("writing {}", args.out.display()))?;
    println!(
        "wrote {n} embeddings of length {} to {} (shard {}, {}, {})",
        out.metadata.k,
        args.out.display(),
        args.shard,
        out.metadata.method,
        out.metadata.projection
    );
    Ok(())
}

/// Runs `fisher embed-merge`.
pub fn run_merge(args: MergeArgs) -> Result<()> {
    let mut shards = Vec::with_capacity(args.shards.len());
    for path in &args.shards {
        let e = Embeddings::read(path).with_context(|| format!("reading {}", path.display()))?;
        shards.push((path.clone(), e));
    }
    let merged = merge_shards(shards)?;
    merged
        .write(&args.out)
        .with_context(|| format!("writing {}", args.out.display()))?;
    println!(
        "merged {} shards into {} embeddings in {}",
        args.shards.len(),
        merged.len(),
        args.out.display()
    );
    Ok(())
}

/// The images `start .. start + count` of `split`, and a description for the metadata.
fn load_images(
    args: &Args,
    split: SplitChoice,
    start: usize,
    count: usize,
) -> Result<(ImageBatch, String)> {
    let (all, name) = match args.data {
        DataChoice::FashionMnist => {
            let split = match split {
                SplitChoice::Train => Split::Train,
                SplitChoice::Test => Split::Test,
            };
            let data = Mnist::new(&args.data_dir).load(split).with_context(|| {
                format!("loading Fashion-MNIST from {}", args.data_dir.display())
            })?;
            let split = format!("{split:?}").to_lowercase();
            (data.into_parts().0, format!("{}:{split}", data_name(args)))
        }
        DataChoice::Faces => {
            if count == 0 {
                bail!("the procedural faces are endless: give --count (and --fit-count)");
            }
            let first = match split {
                SplitChoice::Train => 0,
                SplitChoice::Test => fisher_data::FACES_TEST_START,
            } + start as u64;
            let faces = Faces::new(FacesConfig::default(), args.data_seed)?;
            let data = faces.generate(first, count)?.into_parts().0;
            let split = format!("{split:?}").to_lowercase();
            let name = format!("{}:{split}", data_name(args));
            return Ok((data, format!("{name}[{start}..{}]", start + count)));
        }
    };
    if start > all.len() {
        bail!("--start {start} is past the {} images of {name}", all.len());
    }
    let end = if count == 0 {
        all.len()
    } else {
        (start + count).min(all.len())
    };
    Ok((all.slice(start, end), format!("{name}[{start}..{end}]")))
}

/// The data set's name in metadata.
fn data_name(args: &Args) -> String {
    match args.data {
        DataChoice::FashionMnist => "fashion-mnist".into(),
        DataChoice::Faces => format!("faces(seed={})", args.data_seed),
    }
}

fn load_model(args: &Args, device: &Device) -> Result<Option<PixelCnn>> {
    if args.method == Method::Pixels {
        return Ok(None);
    }
    let Some(path) = &args.checkpoint else {
        bail!("--method {:?} needs --checkpoint", args.method);
    };
    let model = PixelCnn::load(path, None, device)
        .with_context(|| format!("loading {}", path.display()))?;
    Ok(Some(model.no_grad()))
}

/// The embedder of the chosen method and normalisation, and the metadata describing it
/// (without data set, total and shard).
fn build(
    args: &Args,
    common: &Common,
    model: Option<&PixelCnn>,
    images: &ImageBatch,
    normalisation: Normalisation,
    device: &Device,
) -> Result<(Box<dyn Embedder>, EmbeddingsMetadata)> {
    let shape = images.shape();
    if let Some(m) = model
        && m.image_shape() != shape
    {
        bail!(
            "the model was trained on {} images, the data set has {shape}",
            m.image_shape()
        );
    }
    let checkpoint = model.map_or_else(|| "none".to_string(), PixelCnn::fingerprint);

    let (method, d) = match args.method {
        Method::Fisher => (
            "fisher".to_string(),
            model.map_or(0, ScoreModel::num_free_parameters),
        ),
        Method::Activations => {
            let dims = layer_inputs(model.context("no model")?, device)?;
            let Some((_, d)) = dims.iter().find(|(name, _)| *name == args.layer) else {
                let names: Vec<&str> = dims.iter().map(|(n, _)| n.as_str()).collect();
                bail!(
                    "no layer {:?}; the layers are {}",
                    args.layer,
                    names.join(", ")
                );
            };
            (format!("activations:{}", args.layer), *d)
        }
        Method::Pixels => ("pixels".to_string(), shape.dims()),
    };
    let (projection, label, s) = projection(args, common, d)?;
    let k = projection.as_ref().map_or(d, ScoreProjection::output_dim);

    let mut meta = EmbeddingsMetadata {
        method,
        checkpoint_sha256: checkpoint,
        projection: label,
        projection_seed: common.seed,
        k,
        s,
        input_dim: d,
        normalisation: normalisation.to_string(),
        dataset: String::new(),
        batch_size: args.batch_size,
        total: 0,
        shard: Shard::WHOLE,
    };
    let fit = Fit::new(args, &meta)?;
    if normalisation.needs_fit() {
        meta.normalisation = format!("{normalisation} fit on {}", fit.dataset);
    }

    let embedder: Box<dyn Embedder> = match args.method {
        Method::Fisher => {
            let Some(projection) = projection else {
                bail!("Fisher scores need a projection: d = {d} is too long to store");
            };
            let model = model.context("no model")?.clone();
            let mut fisher = FisherEmbedder::new(model, projection)?;
            if common.device == Backend::Flex {
                fisher = fisher.with_micro_batch(CPU_MICRO_BATCH)?;
            }
            if let Normalisation::DiagonalFisher { damping } = normalisation {
                let diagonal = fit.diagonal_fisher(&fisher, damping, device)?;
                fisher = fisher.with_diagonal_fisher(diagonal)?;
            }
            Box::new(fisher)
        }
        Method::Activations => {
            let model = model.context("no model")?.clone();
            let names = layer_inputs(&model, device)?;
            let layer = names
                .iter()
                .position(|(n, _)| *n == args.layer)
                .context("no layer")?;
            Box::new(ActivationEmbedder::new(model, layer, projection, device)?)
        }
        Method::Pixels => Box::new(PixelEmbedder::new(
            shape,
            PixelScaling::UnitInterval,
            projection,
        )?),
    };

    let post = match normalisation {
        Normalisation::None => PostNormalisation::None,
        Normalisation::InvSqrtDim => PostNormalisation::InvSqrtDim { d },
        Normalisation::Standardise => {
            PostNormalisation::Standardise(fit.standardiser(embedder.as_ref(), device)?)
        }
        Normalisation::DiagonalFisher { .. } if args.method != Method::Fisher => {
            bail!("diag-fisher normalises Fisher scores only; use standardise for baselines")
        }
        Normalisation::DiagonalFisher { .. } => PostNormalisation::None,
    };
    Ok((Box::new(Normalised::new(embedder, post)?), meta))
}

/// The projection of `d`-long vectors, its label and its `s`, or `None` for no projection.
fn projection(
    args: &Args,
    common: &Common,
    d: usize,
) -> Result<(Option<ScoreProjection>, String, usize)> {
    let kind = match args.projection {
        ProjectionChoice::SparseJl => ProjectionKind::SparseJl { nonzeros: args.s },
        ProjectionChoice::VerySparse => ProjectionKind::VerySparse {
            density: args.density,
        },
        ProjectionChoice::Gaussian => ProjectionKind::Gaussian,
        ProjectionChoice::None => return Ok((None, "none".into(), 0)),
    };
    let projection = ProjectionConfig::new(d, args.k)
        .with_kind(kind)
        .with_seed(common.seed)
        .init()?;
    let label = projection.kind().label();
    let s = projection.nonzeros().unwrap_or(0);
    let on_host = match args.projection_path {
        ProjectionPath::Auto => common.device == Backend::Flex,
        ProjectionPath::Host => true,
        ProjectionPath::Device => false,
    };
    let projection = if on_host {
        ScoreProjection::Host(projection)
    } else {
        ScoreProjection::Device(Box::new(projection))
    };
    Ok((Some(projection), label, s))
}

/// The training images a normalisation is fitted on, and the statistics file.
struct Fit<'a> {
    args: &'a Args,
    dataset: String,
    key: BTreeMap<String, String>,
}

impl<'a> Fit<'a> {
    fn new(args: &'a Args, meta: &EmbeddingsMetadata) -> Result<Self> {
        let split = format!("{:?}", args.fit_split).to_lowercase();
        let dataset = format!("{}:{split}[0..{}]", data_name(args), args.fit_count);
        let mut key = meta.to_map();
        for transient in ["dataset", "total", "shard", "batch_size", "format"] {
            key.remove(transient);
        }
        key.insert("fit_data".into(), dataset.clone());
        key.insert("fit_batch_size".into(), args.batch_size.to_string());
        Ok(Self { args, dataset, key })
    }

    fn batches(&self, device: &Device) -> Result<Vec<Tensor<4, Int>>> {
        let (images, _) = load_images(self.args, self.args.fit_split, 0, self.args.fit_count)?;
        let n = images.len();
        Ok((0..n)
            .step_by(self.args.batch_size.max(1))
            .map(|s| images.slice(s, s + self.args.batch_size).to_tensor(device))
            .collect())
    }

    /// Reads matching statistics from `--stats`, or fits them (and writes `--stats`).
    fn cached(
        &self,
        fit: impl FnOnce() -> Result<FittedNormalisation>,
    ) -> Result<FittedNormalisation> {
        if let Some(path) = &self.args.stats
            && path.exists()
        {
            return self.read(path);
        }
        let fitted = fit()?;
        if let Some(path) = &self.args.stats {
            fitted
                .write(path, self.key.clone())
                .with_context(|| format!("writing {}", path.display()))?;
        }
        Ok(fitted)
    }

    fn read(&self, path: &Path) -> Result<FittedNormalisation> {
        let (fitted, map) = FittedNormalisation::read(path)?;
        for (key, value) in &self.key {
            let found = map.get(key).map_or("(missing)", String::as_str);
            if found != value {
                bail!(
                    "{} was fitted with {key} = {found:?}, this run has {value:?}; \
                     delete it or give another --stats",
                    path.display()
                );
            }
        }
        Ok(fitted)
    }

    fn diagonal_fisher(
        &self,
        fisher: &FisherEmbedder<PixelCnn>,
        damping: f64,
        device: &Device,
    ) -> Result<DiagonalFisher> {
        let fitted = self.cached(|| {
            eprintln!("fitting the diagonal Fisher on {}", self.dataset);
            let d = DiagonalFisher::fit(fisher.model(), self.batches(device)?, damping)?;
            Ok(FittedNormalisation::DiagonalFisher(d))
        })?;
        match fitted {
            FittedNormalisation::DiagonalFisher(d) => Ok(d),
            _ => bail!("the statistics file holds another normalisation"),
        }
    }

    fn standardiser(&self, embedder: &dyn Embedder, device: &Device) -> Result<Standardiser> {
        let fitted = self.cached(|| {
            eprintln!("fitting the standardisation on {}", self.dataset);
            let s = Standardiser::fit(embedder, self.batches(device)?)?;
            Ok(FittedNormalisation::Standardise(s))
        })?;
        match fitted {
            FittedNormalisation::Standardise(s) => Ok(s),
            _ => bail!("the statistics file holds another normalisation"),
        }
    }
}

fn progress_bar(total: u64) -> ProgressBar {
    let bar = ProgressBar::new(total);
    let style =
        ProgressStyle::with_template("[{elapsed_precise}] {bar:30} {pos}/{len} images  {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar
}
