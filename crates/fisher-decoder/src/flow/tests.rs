//! The flow's log-determinant against the brute-force log-determinant of its Jacobian.
//!
//! The Jacobian `∂ε/∂y` of the whole map (preprocessing, every level) is computed the slow
//! way: `D` copies of one input in a batch, one backward pass of `Σᵢ εᵢ(copy i)`, which gives
//! row `i` from copy `i`; then `log |det|` by an LU factorisation with partial pivoting
//! written below. Both run on an f64 copy of a trained network: in f32, rounding in the
//! Jacobian's entries moves `log |det|` of these (moderately ill-conditioned) maps by up to
//! 1e-3, enough to hide a small error in the formula, while in f64 the two agree to 1e-9.

use burn::module::{ModuleMapper, Param};
use burn::tensor::{DType, FloatDType, TensorData};
use fisher_core::Tolerance;

use super::*;

/// Casts every float parameter to f64.
struct ToF64;

impl ModuleMapper for ToF64 {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        param.map(|t| t.cast(FloatDType::F64))
    }
}

/// `log |det A|` of a row-major `n × n` matrix by LU with partial pivoting.
fn log_abs_det(n: usize, mut a: Vec<f64>) -> f64 {
    let mut total = 0.0;
    for k in 0..n {
        let pivot = (k..n)
            .max_by(|&i, &j| a[i * n + k].abs().total_cmp(&a[j * n + k].abs()))
            .unwrap_or(k);
        for t in 0..n {
            a.swap(k * n + t, pivot * n + t);
        }
        let p = a[k * n + k];
        assert!(p != 0.0, "singular Jacobian at column {k}");
        total += p.abs().ln();
        for i in k + 1..n {
            let factor = a[i * n + k] / p;
            for t in k..n {
                a[i * n + t] -= factor * a[k * n + t];
            }
        }
    }
    total
}

fn host64<const D: usize>(x: Tensor<D>) -> Vec<f64> {
    x.into_data().try_into_vec_as::<f64>().unwrap()
}

/// A flow trained three steps on seeded noise images, so that actnorm, the 1×1 convolutions
/// and the couplings are all away from their initial values.
fn trained(config: &FlowConfig, device: &Device) -> (FlowDecoder, Vec<u8>, Vec<f32>) {
    let (n, k, d) = (4, config.embedding_dim, config.image.dims());
    let mut rng = SeedStream::new(41);
    let pixels: Vec<u8> = rng.unit(n * d).iter().map(|u| (u * 256.0) as u8).collect();
    let z = rng.normal(n * k);
    let [c, h, w] = config.image.to_array();
    let mut flow = config
        .init(EmbeddingSpec::new(k, "test", 0), device)
        .unwrap();
    for _ in 0..3 {
        let images: Vec<i32> = pixels.iter().map(|&v| i32::from(v)).collect();
        let images = Tensor::from_data(TensorData::new(images, [n, c, h, w]), device);
        let z = Tensor::from_data(TensorData::new(z.clone(), [n, k]), device);
        flow.train_step(z, images).unwrap();
    }
    (flow, pixels[..d].to_vec(), z[..k].to_vec())
}

fn check(config: FlowConfig) {
    let device = Device::flex().autodiff();
    let (flow, one, z) = trained(&config, &device);
    let (d, k) = (config.image.dims(), config.embedding_dim);
    let [c, h, w] = config.image.to_array();

    let mut noise = SeedStream::new(7);
    let y: Vec<f64> = one
        .iter()
        .zip(noise.unit(d))
        .map(|(&v, u)| (f64::from(v) + f64::from(u)) / 256.0)
        .collect();
    let copies: Vec<f64> = (0..d).flat_map(|_| y.iter().copied()).collect();
    let f64_on = (&device, DType::F64);
    let y64 = Tensor::<4>::from_data(TensorData::new(copies, [d, c, h, w]), f64_on).require_grad();
    let z_rep: Vec<f64> = (0..d)
        .flat_map(|_| z.iter().map(|&v| f64::from(v)))
        .collect();
    let z64 = Tensor::<2>::from_data(TensorData::new(z_rep, [d, k]), f64_on);

    let net = flow.trainer.model.clone().map(&mut ToF64);
    let (v, pre) = preprocess(&config, y64.clone());
    let (latents, logdet) = net.encode(v, z64);
    let eye = Tensor::<2>::eye(d, &device).cast(FloatDType::F64);
    let grads = (flatten(latents) * eye).sum().backward();
    let jacobian = host64(y64.grad(&grads).unwrap());
    let brute = log_abs_det(d, jacobian);
    let claimed = host64((logdet + pre).inner())[0];
    assert!(
        brute.abs() > 1.0,
        "a Jacobian near the identity tests little: {brute}"
    );
    Tolerance::new(1e-9, 1e-9).assert(&[claimed], &[brute]);

    let y32: Vec<f32> = y.iter().map(|&v| v as f32).collect();
    let y32 = Tensor::<4>::from_data(TensorData::new(y32, [1, c, h, w]), &device);
    let z32 = Tensor::<2>::from_data(TensorData::new(z, [1, k]), &device);
    let (_, logdet32) = flow.encode(y32, z32).unwrap();
    let claimed32 = f64::from(crate::nn::to_vec(logdet32.inner())[0]);
    Tolerance::new(1e-5, 1e-4).assert(&[claimed32], &[claimed]);
}

fn tiny(shape: ImageShape, levels: usize, preprocessing: FlowPreprocessing) -> FlowConfig {
    FlowConfig::new(5, shape)
        .with_levels(levels)
        .with_steps_per_level(2)
        .with_hidden_channels(8)
        .with_cond_dim(6)
        .with_preprocessing(preprocessing)
        .with_output_init_std(0.1)
        .with_seed(5)
}

#[test]
fn log_det_equals_brute_force_jacobian_grayscale_logit() {
    let shape = ImageShape::new(1, 4, 4).unwrap();
    check(tiny(shape, 2, FlowPreprocessing::Logit));
}

#[test]
fn log_det_equals_brute_force_jacobian_rgb_centered() {
    let shape = ImageShape::new(3, 4, 4).unwrap();
    check(tiny(shape, 2, FlowPreprocessing::Centered));
}
