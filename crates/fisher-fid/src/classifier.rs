//! A domain feature extractor: a small convolutional classifier trained on the data set at
//! hand, whose penultimate layer gives the features.
//!
//! Inception-v3 was trained on ImageNet photographs; on 28×28 clothing or procedural faces
//! its features say little, and on a CPU it is slow. The alternative used since Heusel et
//! al. for such data sets is a classifier of the domain itself (e.g. the LeNet features of
//! "FID on MNIST"): train it to predict labels or attributes, then compare feature
//! distributions of its penultimate layer. The network here is
//!
//! ```text
//! x ∈ [0,1]^(c×h×w) → [conv3×3 → ReLU → maxpool2] ×2 → avgpool to 4×4
//!   → linear → ReLU = features φ(x) ∈ ℝ^f → linear → logits
//! ```
//!
//! trained with Adam on cross-entropy `−log softmax(z)_y` for class labels, or on the
//! binary cross-entropy with logits `Σₖ max(zₖ,0) − zₖ·tₖ + log(1 + e^−|zₖ|)` (averaged) for
//! attribute vectors `t ∈ [0,1]^K`. FID values from different extractors are not comparable
//! with each other, nor with Inception FIDs.

use std::io::Write;
use std::path::Path;

use burn::config::Config;
use burn::module::{Module, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Initializer, Linear, LinearConfig, PaddingConfig2d};
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::activation::{log_softmax, relu};
use burn::tensor::module::{adaptive_avg_pool2d, max_pool2d};
use burn::tensor::ops::MaxPoolOptions;
use burn::tensor::{Bytes, Device, Int, Tensor, TensorData};
use fisher_core::{FeatureExtractor, ImageBatch, ImageShape, PixelScaling};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};

use crate::io::write_atomically;
use crate::{Error, Result};

/// What the classifier is trained to predict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum TargetKind {
    /// One class label per image, `0 .. outputs`; softmax cross-entropy.
    Classes,
    /// A vector of `outputs` attributes in `[0, 1]` per image; binary cross-entropy.
    Attributes,
}

/// Architecture of the domain classifier.
#[derive(Config, Debug)]
pub struct ClassifierConfig {
    /// Shape of the images it reads; height and width at least 4.
    pub image_shape: ImageShape,
    /// Number of classes or attributes, at least 1.
    pub outputs: usize,
    /// What the outputs mean.
    pub targets: TargetKind,
    /// Channels of the first convolution; the second has twice as many (default 32).
    #[config(default = 32)]
    pub channels: usize,
    /// Length `f` of the feature vector, the penultimate layer (default 128).
    #[config(default = 128)]
    pub feature_dim: usize,
}

impl ClassifierConfig {
    /// A classifier with weights drawn from `seed`: every weight and bias uniform in
    /// `±1/√fan_in` (Burn's default range), from a generator of its own, so that the draw
    /// does not depend on the backend's global random state.
    ///
    /// # Errors
    /// [`fisher_core::Error::Config`] when a size is zero or the images are smaller than 4×4.
    pub fn init(&self, device: &Device, seed: u64) -> Result<DomainClassifier> {
        self.check()?;
        let mut rng = StdRng::seed_from_u64(seed);
        let c = self.channels;
        let mut conv = |input: usize, output: usize| {
            let mut layer = Conv2dConfig::new([input, output], [3, 3])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .with_initializer(Initializer::Zeros)
                .init(device);
            let bound = 1.0 / ((input * 9) as f64).sqrt();
            layer.weight = uniform(&mut rng, [output, input, 3, 3], bound, device);
            layer.bias = Some(uniform(&mut rng, [output], bound, device));
            layer
        };
        let conv1 = conv(self.image_shape.channels, c);
        let conv2 = conv(c, 2 * c);
        let mut linear = |input: usize, output: usize| {
            let mut layer = LinearConfig::new(input, output)
                .with_initializer(Initializer::Zeros)
                .init(device);
            let bound = 1.0 / (input as f64).sqrt();
            layer.weight = uniform(&mut rng, [input, output], bound, device);
            layer.bias = Some(uniform(&mut rng, [output], bound, device));
            layer
        };
        Ok(DomainClassifier {
            conv1,
            conv2,
            hidden: linear(2 * c * 16, self.feature_dim),
            head: linear(self.feature_dim, self.outputs),
            image: self.image_shape.to_array(),
            attributes: self.targets == TargetKind::Attributes,
        })
    }

    fn check(&self) -> Result<()> {
        for (name, value) in [
            ("outputs", self.outputs),
            ("channels", self.channels),
            ("feature dimension", self.feature_dim),
        ] {
            if value == 0 {
                return Err(Error::config(name, value, "must be at least 1"));
            }
        }
        if self.image_shape.height < 4 || self.image_shape.width < 4 {
            return Err(Error::config(
                "image shape",
                self.image_shape,
                "must be at least 4×4",
            ));
        }
        Ok(())
    }
}

/// The trained (or freshly initialised) domain classifier; see the [module docs](self).
#[derive(Module, Debug)]
pub struct DomainClassifier {
    conv1: Conv2d,
    conv2: Conv2d,
    hidden: Linear,
    head: Linear,
    image: [usize; 3],
    attributes: bool,
}

impl DomainClassifier {
    /// The penultimate layer on float images in `[0, 1]`.
    ///
    /// # Shapes
    /// - `x`: `[batch, channels, height, width]`
    /// - output: `[batch, f]`
    pub fn embed(&self, x: Tensor<4>) -> Tensor<2> {
        let pool = MaxPoolOptions::new([2, 2]);
        let x = max_pool2d(relu(self.conv1.forward(x)), pool.clone());
        let x = max_pool2d(relu(self.conv2.forward(x)), pool);
        let x = adaptive_avg_pool2d(x, [4, 4]);
        let [b, c, h, w] = x.dims();
        relu(self.hidden.forward(x.reshape([b, c * h * w])))
    }

    /// Logits of the classes or attributes.
    ///
    /// # Shapes
    /// - `x`: `[batch, channels, height, width]`, in `[0, 1]`
    /// - output: `[batch, outputs]`
    pub fn logits(&self, x: Tensor<4>) -> Tensor<2> {
        self.head.forward(self.embed(x))
    }

    /// The shape of the images it reads.
    pub fn image_shape(&self) -> ImageShape {
        let [channels, height, width] = self.image;
        ImageShape {
            channels,
            height,
            width,
        }
    }

    /// The configuration that rebuilds this network's architecture.
    pub fn config(&self) -> ClassifierConfig {
        let [feature_dim, outputs] = self.head.weight.dims();
        let targets = if self.attributes {
            TargetKind::Attributes
        } else {
            TargetKind::Classes
        };
        ClassifierConfig::new(self.image_shape(), outputs, targets)
            .with_channels(self.conv1.weight.dims()[0])
            .with_feature_dim(feature_dim)
    }

    /// Writes the classifier (configuration and weights) to one file, atomically.
    ///
    /// # Errors
    /// [`Error::Checkpoint`] when the weights cannot be serialised;
    /// [`fisher_core::Error::Io`] when writing fails.
    pub fn save(&self, path: &Path) -> Result<()> {
        let header = self.config().to_string();
        let bytes = self
            .clone()
            .into_record()
            .into_bytes()
            .map_err(|e| Error::Checkpoint {
                path: path.to_path_buf(),
                reason: e.to_string(),
            })?;
        write_atomically(path, |f| {
            let io = |e| Error::io(path, e);
            f.write_all(MAGIC).map_err(io)?;
            f.write_all(&(header.len() as u64).to_le_bytes())
                .map_err(io)?;
            f.write_all(header.as_bytes()).map_err(io)?;
            f.write_all(&bytes).map_err(io)
        })
    }

    /// Reads a classifier written by [`save`](Self::save) onto `device`.
    ///
    /// # Errors
    /// [`fisher_core::Error::Io`] when the file cannot be read; [`fisher_core::Error::Format`]
    /// when it is not a classifier file; [`Error::Checkpoint`] when its weights do not fit
    /// its configuration.
    pub fn load(path: &Path, device: &Device) -> Result<Self> {
        let raw = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let (config, weights) = split_file(&raw, path)?;
        let record = burn::store::ModuleRecord::from_bytes(Bytes::from_bytes_vec(weights.to_vec()))
            .map_err(|e| Error::Checkpoint {
                path: path.to_path_buf(),
                reason: e.to_string(),
            })?;
        config
            .init(device, 0)?
            .try_load_record(record)
            .map_err(|e| Error::Checkpoint {
                path: path.to_path_buf(),
                reason: e.to_string(),
            })
    }
}

/// A parameter of `shape` with values uniform in `±bound`.
fn uniform<const D: usize>(
    rng: &mut StdRng,
    shape: [usize; D],
    bound: f64,
    device: &Device,
) -> Param<Tensor<D>> {
    let n = shape.iter().product();
    let values: Vec<f32> = (0..n)
        .map(|_| ((rng.random::<f64>() * 2.0 - 1.0) * bound) as f32)
        .collect();
    Param::from_tensor(Tensor::from_data(TensorData::new(values, shape), device))
}

/// First bytes of a classifier file.
const MAGIC: &[u8; 8] = b"FISHCLS1";

fn split_file<'a>(raw: &'a [u8], path: &Path) -> Result<(ClassifierConfig, &'a [u8])> {
    let bad = |why: &str| Error::format(path, format!("not a fisher classifier file: {why}"));
    if raw.len() < 16 || &raw[..8] != MAGIC {
        return Err(bad("missing FISHCLS1 header"));
    }
    let len = u64::from_le_bytes(raw[8..16].try_into().map_err(|_| bad("header"))?) as usize;
    let end = 16usize
        .checked_add(len)
        .filter(|&e| e <= raw.len())
        .ok_or_else(|| bad("short"))?;
    let text = std::str::from_utf8(&raw[16..end]).map_err(|_| bad("config is not UTF-8"))?;
    let config: ClassifierConfig = serde_json::from_str(text).map_err(|e| bad(&e.to_string()))?;
    Ok((config, &raw[end..]))
}

impl FeatureExtractor for DomainClassifier {
    fn feature_dim(&self) -> usize {
        self.hidden.weight.dims()[1]
    }

    /// Penultimate-layer features of 8-bit images of the classifier's shape.
    ///
    /// # Shapes
    /// - `images`: `[batch, channels, height, width]`, values in `0..=255`
    /// - output: `[batch, f]`
    fn features(&self, images: Tensor<4, Int>) -> fisher_core::Result<Tensor<2>> {
        self.image_shape()
            .check_batch("classifier input", images.dims())?;
        Ok(self.embed(PixelScaling::UnitInterval.apply(images)))
    }
}

/// Training targets, one row per image, on any device.
#[derive(Clone, Debug)]
pub enum Targets {
    /// Class labels `[n]`, values in `0 .. outputs`.
    Classes(Tensor<1, Int>),
    /// Attribute vectors `[n, outputs]`, values in `[0, 1]`.
    Attributes(Tensor<2>),
}

/// Settings of [`train_classifier`].
#[derive(Config, Debug)]
pub struct TrainConfig {
    /// Passes over the data (default 3).
    #[config(default = 3)]
    pub epochs: usize,
    /// Images per step, at least 1 (default 64).
    #[config(default = 64)]
    pub batch_size: usize,
    /// Adam step size (default 1e-3).
    #[config(default = 1e-3)]
    pub learning_rate: f64,
    /// Seed of the initial weights and of the shuffling.
    #[config(default = 0)]
    pub seed: u64,
}

/// Trains a classifier of `config` on `images` and `targets` on `device` (autodiff is added
/// internally) and returns it, without autodiff, with the mean training loss of each epoch.
/// `on_epoch(epoch, mean_loss)` is called after each epoch. The same inputs, settings and
/// seed give the same classifier on the same backend.
///
/// # Errors
/// [`fisher_core::Error::Shape`] when the images do not have `config`'s shape or the targets
/// another length or width; [`fisher_core::Error::Config`] for a bad setting;
/// [`fisher_core::Error::NonFinite`] when the loss becomes NaN or infinite.
pub fn train_classifier(
    config: &ClassifierConfig,
    train: &TrainConfig,
    images: &ImageBatch,
    targets: &Targets,
    device: &Device,
    mut on_epoch: impl FnMut(usize, f64),
) -> Result<(DomainClassifier, Vec<f64>)> {
    check_training(config, train, images, targets)?;
    let ad = device.clone().autodiff();
    let mut model = config.init(&ad, train.seed)?;
    let mut optim = AdamConfig::new().init();
    let mut rng = StdRng::seed_from_u64(train.seed);
    let mut order: Vec<usize> = (0..images.len()).collect();
    let mut history = Vec::with_capacity(train.epochs);

    for epoch in 0..train.epochs {
        let _span = tracing::info_span!("classifier epoch", epoch).entered();
        order.shuffle(&mut rng);
        let mut total = 0.0;
        for batch in order.chunks(train.batch_size) {
            let loss = batch_loss(&model, images, targets, batch, &ad);
            let value = f64::from(loss.clone().into_scalar::<f32>());
            if !value.is_finite() {
                return Err(fisher_core::Error::NonFinite {
                    what: format!("classifier loss in epoch {epoch}"),
                    index: 0,
                    value,
                }
                .into());
            }
            total += value * batch.len() as f64;
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(train.learning_rate, model, grads);
        }
        let mean = total / images.len() as f64;
        history.push(mean);
        on_epoch(epoch, mean);
    }
    Ok((model.valid(), history))
}

fn check_training(
    config: &ClassifierConfig,
    train: &TrainConfig,
    images: &ImageBatch,
    targets: &Targets,
) -> Result<()> {
    if train.batch_size == 0 {
        return Err(Error::config("batch size", 0, "must be at least 1"));
    }
    if images.is_empty() {
        return Err(fisher_core::Error::TooFewSamples {
            what: "classifier training images".into(),
            needed: 1,
            found: 0,
        }
        .into());
    }
    let [c, h, w] = images.shape().to_array();
    let [ec, eh, ew] = config.image_shape.to_array();
    let n = images.len();
    if [c, h, w] != [ec, eh, ew] {
        return Err(Error::shape(
            "training images",
            &[n, ec, eh, ew],
            &[n, c, h, w],
        ));
    }

    let (expected, found) = match (config.targets, targets) {
        (TargetKind::Classes, Targets::Classes(t)) => (vec![n], t.dims().to_vec()),
        (TargetKind::Classes, Targets::Attributes(t)) => (vec![n], t.dims().to_vec()),
        (TargetKind::Attributes, Targets::Classes(t)) => {
            (vec![n, config.outputs], t.dims().to_vec())
        }
        (TargetKind::Attributes, Targets::Attributes(t)) => {
            (vec![n, config.outputs], t.dims().to_vec())
        }
    };
    if found != expected {
        return Err(Error::shape("classifier targets", &expected, &found));
    }
    check_target_values(config, targets)
}

/// Labels in `0 .. outputs`; attributes finite and in `[0, 1]`.
fn check_target_values(config: &ClassifierConfig, targets: &Targets) -> Result<()> {
    let unreadable = |e: burn::tensor::DataError| {
        Error::config("classifier targets", format!("{e:?}"), "not readable")
    };
    match targets {
        Targets::Classes(t) => {
            let labels: Vec<i64> = t
                .clone()
                .into_data()
                .try_into_vec_as()
                .map_err(unreadable)?;
            let outputs = config.outputs as i64;
            if let Some((i, l)) = labels
                .iter()
                .enumerate()
                .find(|(_, l)| !(0..outputs).contains(*l))
            {
                return Err(Error::config(
                    format!("class label of example {i}"),
                    l,
                    format!("must be in 0..{outputs}"),
                ));
            }
        }
        Targets::Attributes(t) => {
            let values: Vec<f32> = t
                .clone()
                .into_data()
                .try_into_vec_as()
                .map_err(unreadable)?;
            if let Some((i, v)) = values
                .iter()
                .enumerate()
                .find(|(_, v)| !(0.0..=1.0).contains(*v))
            {
                return Err(Error::config(
                    format!("attribute value at flat index {i}"),
                    v,
                    "must be in [0, 1]",
                ));
            }
        }
    }
    Ok(())
}

/// Mean loss of one batch, on the autodiff device.
fn batch_loss(
    model: &DomainClassifier,
    images: &ImageBatch,
    targets: &Targets,
    batch: &[usize],
    device: &Device,
) -> Tensor<1> {
    let x = images
        .select(batch)
        .to_float(device, PixelScaling::UnitInterval);
    let logits = model.logits(x);
    let index: Vec<i32> = batch.iter().map(|&i| i as i32).collect();
    let index = Tensor::<1, Int>::from_data(TensorData::new(index, [batch.len()]), device);

    match targets {
        Targets::Classes(labels) => {
            let y = labels.clone().to_device(device).select(0, index);
            let b = batch.len();
            let picked = log_softmax(logits, 1).gather(1, y.reshape([b, 1]));
            picked.mean().neg()
        }
        Targets::Attributes(t) => {
            let t = t.clone().to_device(device).select(0, index);
            let z = logits;
            let loss = z.clone().clamp_min(0.0) - z.clone() * t + z.abs().neg().exp().log1p();
            loss.mean()
        }
    }
}
