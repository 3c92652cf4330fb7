//! A tiny density model with every kind of layer the score engine handles, for quick tests:
//! a masked 3×3 convolution, a 2×3 convolution with uneven padding, a dilated convolution, a
//! linear map in each weight layout (one on a pooled activation, one on the conditioning)
//! and a 1×1 head, with a categorical or a (single) discretised logistic output.

#![allow(dead_code)]

use burn::tensor::activation::{log_sigmoid, log_softmax};
use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Device, Gradients, Int, Tensor, TensorData};
use fisher_core::{ImageBatch, ImageShape, PixelScaling};
use fisher_score::{LayerInput, LinearLayout, Probe, ProbedLayer, Result, ScoreModel};

/// The tiny model's output distribution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TinyHead {
    Categorical,
    Logistic,
}

/// A convolution with stride 1 and an optional constant mask.
pub struct TinyConv {
    pub weight: Tensor<4>,
    pub bias: Option<Tensor<1>>,
    pub mask: Option<Vec<bool>>,
    pub kernel: [usize; 2],
    pub padding: [(usize, usize); 2],
    pub dilation: [usize; 2],
}

/// A linear map with an optional bias.
pub struct TinyLinear {
    pub weight: Tensor<2>,
    pub bias: Option<Tensor<1>>,
    pub layout: LinearLayout,
}

/// The tiny model.
pub struct TinyModel {
    pub shape: ImageShape,
    pub head: TinyHead,
    pub cond_dim: usize,
    pub conv1: TinyConv,
    pub cond: Option<TinyLinear>,
    pub pool: TinyLinear,
    pub conv2: TinyConv,
    pub conv3: TinyConv,
    pub out: TinyConv,
}

/// A reproducible pseudo-random stream (SplitMix64) in `[-bound, bound]`.
pub fn values(n: usize, seed: u64, bound: f32) -> Vec<f32> {
    let mut state = seed;
    (0..n)
        .map(|_| {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            ((z >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * bound
        })
        .collect()
}

fn leaf<const D: usize>(
    data: Vec<f32>,
    shape: [usize; D],
    device: &Device,
    grad: bool,
) -> Tensor<D> {
    let t = Tensor::from_data(TensorData::new(data, shape), device);
    if grad { t.require_grad() } else { t }
}

impl TinyConv {
    #[allow(clippy::too_many_arguments)]
    fn new(
        shape: [usize; 4],
        padding: [(usize, usize); 2],
        dilation: [usize; 2],
        bias: bool,
        mask: Option<Vec<bool>>,
        seed: u64,
        device: &Device,
        grad: bool,
    ) -> Self {
        let n: usize = shape.iter().product();
        let fan_in = (shape[1] * shape[2] * shape[3]) as f32;
        let mut w = values(n, seed, 1.0 / fan_in.sqrt());
        if let Some(m) = &mask {
            w.iter_mut().zip(m).for_each(|(v, &free)| {
                if !free {
                    *v = 0.0;
                }
            });
        }
        Self {
            weight: leaf(w, shape, device, grad),
            bias: bias.then(|| leaf(values(shape[0], seed + 1, 0.1), [shape[0]], device, grad)),
            mask,
            kernel: [shape[2], shape[3]],
            padding,
            dilation,
        }
    }

    fn effective_weight(&self) -> Tensor<4> {
        match &self.mask {
            Some(m) => {
                let mask: Vec<f32> = m.iter().map(|&f| if f { 1.0 } else { 0.0 }).collect();
                let mask = Tensor::from_data(
                    TensorData::new(mask, self.weight.dims()),
                    &self.weight.device(),
                );
                self.weight.clone() * mask
            }
            None => self.weight.clone(),
        }
    }

    fn forward(&self, name: &str, x: Tensor<4>, records: &mut Vec<ProbedLayer>) -> Tensor<4> {
        let options = ConvOptions {
            stride: [1, 1],
            padding: self.padding,
            dilation: self.dilation,
            groups: 1,
        };
        let y = conv2d(
            x.clone(),
            self.effective_weight(),
            self.bias.clone(),
            options,
        );
        let probe = Tensor::<4>::zeros(y.dims(), &y.device()).require_grad();
        records.push(ProbedLayer {
            name: name.to_string(),
            input: LayerInput::Conv {
                input: x,
                kernel: self.kernel,
                padding: self.padding,
                dilation: self.dilation,
            },
            probe: Probe::Spatial(probe.clone()),
            mask: self.mask.clone(),
            has_bias: self.bias.is_some(),
        });
        y + probe
    }

    fn flat_gradient(&self, grads: &Gradients, out: &mut Vec<f32>) {
        let g = grad_or_zero(self.weight.grad(grads), self.weight.dims().iter().product());
        match &self.mask {
            Some(m) => out.extend(g.iter().zip(m).filter(|(_, f)| **f).map(|(v, _)| *v)),
            None => out.extend(g),
        }
        if let Some(b) = &self.bias {
            out.extend(grad_or_zero(b.grad(grads), b.dims()[0]));
        }
    }

    fn num_free(&self) -> usize {
        let w = match &self.mask {
            Some(m) => m.iter().filter(|&&f| f).count(),
            None => self.weight.dims().iter().product(),
        };
        w + self.bias.as_ref().map_or(0, |b| b.dims()[0])
    }
}

impl TinyLinear {
    fn new(
        inp: usize,
        out: usize,
        layout: LinearLayout,
        seed: u64,
        device: &Device,
        grad: bool,
    ) -> Self {
        let shape = match layout {
            LinearLayout::InOut => [inp, out],
            LinearLayout::OutIn => [out, inp],
        };
        Self {
            weight: leaf(
                values(inp * out, seed, 1.0 / (inp as f32).sqrt()),
                shape,
                device,
                grad,
            ),
            bias: Some(leaf(values(out, seed + 1, 0.1), [out], device, grad)),
            layout,
        }
    }

    fn forward(&self, name: &str, x: Tensor<2>, records: &mut Vec<ProbedLayer>) -> Tensor<2> {
        let w = match self.layout {
            LinearLayout::InOut => self.weight.clone(),
            LinearLayout::OutIn => self.weight.clone().transpose(),
        };
        let mut y = x.clone().matmul(w);
        if let Some(b) = &self.bias {
            y = y + b.clone().unsqueeze_dim::<2>(0);
        }
        let probe = Tensor::<2>::zeros(y.dims(), &y.device()).require_grad();
        records.push(ProbedLayer {
            name: name.to_string(),
            input: LayerInput::Linear {
                input: x,
                layout: self.layout,
            },
            probe: Probe::Flat(probe.clone()),
            mask: None,
            has_bias: self.bias.is_some(),
        });
        y + probe
    }

    fn flat_gradient(&self, grads: &Gradients, out: &mut Vec<f32>) {
        out.extend(grad_or_zero(
            self.weight.grad(grads),
            self.weight.dims().iter().product(),
        ));
        if let Some(b) = &self.bias {
            out.extend(grad_or_zero(b.grad(grads), b.dims()[0]));
        }
    }

    fn num_free(&self) -> usize {
        self.weight.dims().iter().product::<usize>() + self.bias.as_ref().map_or(0, |b| b.dims()[0])
    }
}

fn grad_or_zero<const D: usize>(g: Option<Tensor<D>>, n: usize) -> Vec<f32> {
    match g {
        Some(g) => g.into_data().try_into_vec_as::<f32>().unwrap(),
        None => vec![0.0; n],
    }
}

/// Mask of a `[out, in, 3, 3]` kernel hiding the centre and everything after it (mask A).
fn causal_mask(out: usize, inp: usize) -> Vec<bool> {
    let mut mask = Vec::with_capacity(out * inp * 9);
    for _ in 0..out * inp {
        for i in 0..3 {
            for j in 0..3 {
                mask.push(i < 1 || (i == 1 && j < 1));
            }
        }
    }
    mask
}

impl TinyModel {
    /// A model of `channels × 5 × 5` images (`channels` 1 or 3); parameters require gradients
    /// when `grad` is true. `cond_dim > 0` adds a conditioning map.
    pub fn new(
        channels: usize,
        head: TinyHead,
        cond_dim: usize,
        device: &Device,
        grad: bool,
    ) -> Self {
        let shape = ImageShape::new(channels, 5, 5).unwrap();
        let h = 4;
        let out_channels = match head {
            TinyHead::Categorical => 256 * channels,
            TinyHead::Logistic => 2 * channels,
        };
        Self {
            shape,
            head,
            cond_dim,
            conv1: TinyConv::new(
                [h, channels, 3, 3],
                [(1, 1), (1, 1)],
                [1, 1],
                true,
                Some(causal_mask(h, channels)),
                10,
                device,
                grad,
            ),
            cond: (cond_dim > 0)
                .then(|| TinyLinear::new(cond_dim, h, LinearLayout::InOut, 20, device, grad)),
            pool: TinyLinear::new(h, h, LinearLayout::OutIn, 30, device, grad),
            conv2: TinyConv::new(
                [h, h, 2, 3],
                [(1, 0), (1, 1)],
                [1, 1],
                false,
                None,
                40,
                device,
                grad,
            ),
            conv3: TinyConv::new(
                [h, h, 2, 2],
                [(2, 0), (2, 0)],
                [2, 2],
                true,
                None,
                50,
                device,
                grad,
            ),
            out: TinyConv::new(
                [out_channels, h, 1, 1],
                [(0, 0), (0, 0)],
                [1, 1],
                true,
                None,
                60,
                device,
                grad,
            ),
        }
    }

    fn head_log_prob(&self, logits: Tensor<4>, images: Tensor<4, Int>) -> Tensor<1> {
        let [b, c, h, w] = images.dims();
        let sum = |t: Tensor<4>| t.reshape([b, c * h * w]).sum_dim(1).reshape([b]);
        match self.head {
            TinyHead::Categorical => {
                let logits = logits.reshape([b, c, 256, h * w]);
                let logp = log_softmax(logits, 2);
                let target = images.reshape([b, c, 1, h * w]);
                sum(logp.gather(2, target).reshape([b, c, h, w]))
            }
            TinyHead::Logistic => {
                let x = PixelScaling::Symmetric.apply(images);
                let mean = logits.clone().narrow(1, 0, c);
                let inv_scale = logits.narrow(1, c, c).neg().exp();
                let upper = (x.clone() + 1.0 / 255.0 - mean.clone()) * inv_scale.clone();
                let lower = (x - 1.0 / 255.0 - mean) * inv_scale;
                // log(σ(u) − σ(l)) = log σ(u) + log(1 − exp(log σ(l) − log σ(u)))
                let (lu, ll) = (log_sigmoid(upper), log_sigmoid(lower));
                let ratio = (ll - lu.clone()).exp();
                sum(lu + (ratio.neg() + 1.0 + 1e-6).log())
            }
        }
    }
}

impl ScoreModel for TinyModel {
    fn image_shape(&self) -> ImageShape {
        self.shape
    }

    fn num_free_parameters(&self) -> usize {
        self.conv1.num_free()
            + self.cond.as_ref().map_or(0, TinyLinear::num_free)
            + self.pool.num_free()
            + self.conv2.num_free()
            + self.conv3.num_free()
            + self.out.num_free()
    }

    fn log_likelihood_probed(
        &self,
        images: Tensor<4, Int>,
        cond: Option<Tensor<2>>,
    ) -> Result<(Tensor<1>, Vec<ProbedLayer>)> {
        let mut records = Vec::new();
        let [b, ..] = images.dims();
        let x = PixelScaling::Symmetric.apply(images.clone());

        let mut h1 = self.conv1.forward("conv1", x, &mut records);
        if let (Some(map), Some(c)) = (&self.cond, cond) {
            let v = map.forward("cond", c, &mut records);
            h1 = h1 + v.reshape([b, 4, 1, 1]);
        }
        let h1 = h1.tanh();
        let pooled = h1.clone().mean_dim(3).mean_dim(2).reshape([b, 4]);
        let pooled = self.pool.forward("pool", pooled, &mut records);
        let h2 =
            (self.conv2.forward("conv2", h1, &mut records) + pooled.reshape([b, 4, 1, 1])).tanh();
        let h3 = (self.conv3.forward("conv3", h2.clone(), &mut records) + h2).tanh();
        let logits = self.out.forward("out", h3, &mut records);
        Ok((self.head_log_prob(logits, images), records))
    }

    fn flat_gradient(&self, grads: &Gradients) -> Result<Vec<f32>> {
        let mut out = Vec::new();
        self.conv1.flat_gradient(grads, &mut out);
        if let Some(c) = &self.cond {
            c.flat_gradient(grads, &mut out);
        }
        self.pool.flat_gradient(grads, &mut out);
        self.conv2.flat_gradient(grads, &mut out);
        self.conv3.flat_gradient(grads, &mut out);
        self.out.flat_gradient(grads, &mut out);
        Ok(out)
    }
}

/// `n` images of `shape` with pseudo-random sub-pixels from `seed`.
pub fn images(n: usize, shape: ImageShape, seed: u64) -> ImageBatch {
    let data = values(n * shape.dims(), seed, 1.0)
        .into_iter()
        .map(|v| ((v + 1.0) * 127.5).round().clamp(0.0, 255.0) as u8)
        .collect();
    ImageBatch::new(data, n, shape).unwrap()
}

/// A float tensor's values on the host.
pub fn host<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().try_into_vec_as::<f32>().unwrap()
}

/// An explicit dense `k × d` projector, the obvious oracle.
pub struct Dense {
    pub matrix: Vec<f32>,
    pub k: usize,
    pub d: usize,
}

impl Dense {
    pub fn new(k: usize, d: usize, seed: u64) -> Self {
        Self {
            matrix: values(k * d, seed, 1.0),
            k,
            d,
        }
    }

    /// `x·Pᵀ` on the host for `[n, d]` row-major `x`, in f64.
    pub fn project_host(&self, x: &[f32]) -> Vec<f32> {
        let n = x.len() / self.d;
        let mut out = vec![0.0f32; n * self.k];
        for b in 0..n {
            for r in 0..self.k {
                let row = &self.matrix[r * self.d..(r + 1) * self.d];
                let xb = &x[b * self.d..(b + 1) * self.d];
                let s: f64 = row
                    .iter()
                    .zip(xb)
                    .map(|(a, v)| f64::from(*a) * f64::from(*v))
                    .sum();
                out[b * self.k + r] = s as f32;
            }
        }
        out
    }
}

impl fisher_core::Projector for Dense {
    fn input_dim(&self) -> usize {
        self.d
    }

    fn output_dim(&self) -> usize {
        self.k
    }

    fn accumulate(
        &self,
        offset: usize,
        block: Tensor<2>,
        acc: Tensor<2>,
    ) -> fisher_core::Result<Tensor<2>> {
        let [_, n] = block.dims();
        if offset + n > self.d {
            return Err(fisher_core::Error::config(
                "block end",
                offset + n,
                "past d",
            ));
        }
        let m = Tensor::<2>::from_data(
            TensorData::new(self.matrix.clone(), [self.k, self.d]),
            &block.device(),
        );
        let columns = m.slice([0..self.k, offset..offset + n]);
        Ok(acc + block.matmul(columns.transpose()))
    }
}

/// The largest magnitude of `v`.
pub fn max_abs(v: &[f32]) -> f32 {
    v.iter().fold(0.0f32, |m, x| m.max(x.abs()))
}
