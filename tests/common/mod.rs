//! The device under test, seeded inputs and the comparisons of `tests/device.rs`.

#![allow(dead_code)]

use burn::tensor::{Device, Int, Tensor, TensorData};
use clap::ValueEnum;
use fisher_core::{ImageBatch, ImageShape, Tolerance};
use fisher_embed::cli::Backend;

/// The environment variable naming the device under test: `flex` (the default), `wgpu` or
/// `cuda`.
pub const DEVICE_VARIABLE: &str = "FISHER_TEST_DEVICE";

/// The device that [`DEVICE_VARIABLE`] names.
///
/// # Panics
/// When the name is not a device, or names a backend whose cargo feature is not compiled in:
/// the suite must fail, not pass without having run on the device asked for.
pub fn device() -> Device {
    let name = std::env::var(DEVICE_VARIABLE).unwrap_or_else(|_| "flex".to_string());
    let backend = Backend::from_str(&name, true).unwrap_or_else(|_| {
        panic!("{DEVICE_VARIABLE}={name:?} names no device: use flex, wgpu or cuda")
    });
    backend.device().unwrap_or_else(|e| {
        panic!(
            "{DEVICE_VARIABLE}={name}: {e}; run `{DEVICE_VARIABLE}={name} cargo test --release \
             -p fisher-embed --features {name} --test device`"
        )
    })
}

/// The CPU reference device.
pub fn cpu() -> Device {
    Device::flex()
}

/// Both devices: the CPU reference first, then the device under test.
pub fn both() -> [Device; 2] {
    [cpu(), device()]
}

/// A reproducible stream of `n` values in `[−bound, bound]` (SplitMix64 of `seed`).
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

/// `n` images of `shape` with every sub-pixel drawn from `seed` over `0..=255`.
pub fn images(n: usize, shape: ImageShape, seed: u64) -> ImageBatch {
    let data = values(n * shape.dims(), seed, 1.0)
        .into_iter()
        .map(|v| ((v + 1.0) * 127.5).round().clamp(0.0, 255.0) as u8)
        .collect();
    ImageBatch::new(data, n, shape).expect("seeded images fit their shape")
}

/// The same images as an `Int` tensor on `device`.
pub fn image_tensor(batch: &ImageBatch, device: &Device) -> Tensor<4, Int> {
    batch.to_tensor(device)
}

/// A `[rows, cols]` tensor of [`values`] on `device`.
pub fn matrix(rows: usize, cols: usize, seed: u64, bound: f32, device: &Device) -> Tensor<2> {
    let v = values(rows * cols, seed, bound);
    Tensor::from_data(TensorData::new(v, [rows, cols]), device)
}

/// A float tensor's values on the host.
pub fn host<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data()
        .try_into_vec_as::<f32>()
        .expect("a float tensor reads back as f32")
}

/// The largest magnitude of `v`.
pub fn max_abs(v: &[f32]) -> f32 {
    v.iter().fold(0.0f32, |m, x| m.max(x.abs()))
}

/// Device results against the CPU's, in f32 computed in other orders and with other
/// transcendental functions.
///
/// `1e-4` relative, with an absolute floor of `1e-5` of the largest reference value for
/// entries near zero (sums with cancellation, gradients that nearly vanish). The differences
/// come from summation order (im2col or direct convolutions, tiled matrix products, parallel
/// reductions) and from `exp`, `log` and `tanh`, which Vulkan and CUDA compute to a few ulp
/// rather than correctly rounded; software Vulkan (lavapipe) matched the CPU to about 2e-6
/// relative on a convolutional network, so the bound leaves a factor of about 50 for GPUs.
/// A wrong mask, padding, layout or sign changes values by their own size, far above it.
pub fn device_tolerance(reference: &[f32]) -> Tolerance {
    Tolerance::new(1e-4, 1e-5 * f64::from(max_abs(reference)))
}

/// [`device_tolerance`] with the absolute floor raised to `1e-4` of the largest reference
/// value, for the gradients of the discretised logistic mixture.
///
/// A bin's probability is a difference of two sigmoids, `σ(u) − σ(l)`, taken where the two are
/// close; the subtraction magnifies the few-ulp differences between the CPU's and the GPU's
/// `exp` by up to the inverse of the bin's share of the sigmoid, about a hundred. Gradient
/// entries that are small beside the largest then differ by up to about `1e-5` of the
/// largest (1.3e-5 measured on lavapipe for the RGB mixture's scores); the floor leaves a
/// factor of about 8. Entries of ordinary size are still held to `1e-4` relative.
pub fn mixture_tolerance(reference: &[f32]) -> Tolerance {
    Tolerance::new(1e-4, 1e-4 * f64::from(max_abs(reference)))
}

/// Asserts that `actual` is within `tolerance` of `expected` and prints, for the record, the
/// largest difference as a fraction of the allowed one (`cargo test -- --nocapture`).
#[track_caller]
pub fn assert_close(what: &str, actual: &[f32], expected: &[f32], tolerance: Tolerance) {
    assert_eq!(actual.len(), expected.len(), "{what}: lengths differ");
    assert!(
        expected.iter().chain(actual).all(|v| v.is_finite()),
        "{what}: values must be finite"
    );
    let worst = actual
        .iter()
        .zip(expected)
        .map(|(&a, &b)| {
            let (a, b) = (f64::from(a), f64::from(b));
            let allowed = tolerance.abs + tolerance.rel * a.abs().max(b.abs());
            (a - b).abs() / allowed.max(f64::MIN_POSITIVE)
        })
        .fold(0.0f64, f64::max);
    println!(
        "{what}: {} values, largest difference {worst:.3} of the tolerance",
        expected.len()
    );
    if let Err(msg) = tolerance.check(actual, expected) {
        panic!("{what}: device and reference disagree: {msg}");
    }
}
