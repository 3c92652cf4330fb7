//! Normalisation of both heads, batch = one image at a time, finite values at extremes,
//! and typed errors for inputs that do not fit the model.

mod common;

use burn::module::{Module, ModuleMapper, Param};
use burn::tensor::{Device, Tensor};
use common::{host, random_images, random_pixels, to_images};
use fisher_core::{DensityModel, ImageShape, Tolerance};
use fisher_pixelcnn::{Head, PixelCnnConfig};

/// `Σᵥ p(x_s = v | x<s)` for sub-pixel `s = (ch, i, j)` of a random image, from 256 images
/// that differ only there.
fn mass(config: &PixelCnnConfig, ch: usize, i: usize, j: usize) -> f64 {
    let device = Device::flex();
    let model = config.init(&device).unwrap();
    let [c, h, w] = config.image.to_array();
    let base = random_pixels(1, config.image, 8);
    let mut pixels = Vec::with_capacity(256 * base.len());
    for v in 0..=255u8 {
        let mut image = base.clone();
        image[(ch * h + i) * w + j] = v;
        pixels.extend(image);
    }
    let images = to_images(&pixels, 256, config.image, &device);
    let map = host(model.log_prob_map(images, None).unwrap());
    let per_image = c * h * w;
    (0..256)
        .map(|v| f64::from(map[v * per_image + (ch * h + i) * w + j]).exp())
        .sum()
}

#[test]
fn both_heads_sum_to_one_over_256_values() {
    for config in common::all_tiny() {
        let [c, h, w] = config.image.to_array();
        for &(i, j) in &[(0, 0), (h / 2, w / 2), (h - 1, w - 1)] {
            for ch in 0..c {
                let total = mass(&config, ch, i, j);
                assert!(
                    (total - 1.0).abs() < 1e-4,
                    "{:?} sub-pixel ({ch},{i},{j}): Σ p = {total}",
                    config.head
                );
            }
        }
    }
}

#[test]
fn batch_equals_one_image_at_a_time() {
    let device = Device::flex();
    for config in common::all_tiny() {
        let model = config.init(&device).unwrap();
        let images = random_images(4, config.image, 9, &device);
        let batch = host(model.log_likelihood(images.clone()).unwrap());
        let single: Vec<f32> = (0..4)
            .flat_map(|n| {
                host(
                    model
                        .log_likelihood(images.clone().narrow(0, n, 1))
                        .unwrap(),
                )
            })
            .collect();
        Tolerance::new(1e-5, 1e-4).assert(&batch, &single);
        assert!(batch.iter().all(|&ll| ll < 0.0));
    }
}

#[test]
fn conditional_batch_equals_one_at_a_time_and_depends_on_cond() {
    let device = Device::flex();
    let config = common::tiny_rgb(Head::LogisticMixture(2)).with_cond_dim(3);
    let model = config.init(&device).unwrap();
    let images = random_images(3, config.image, 2, &device);
    let cond = common::random_cond(3, 3, 4, &device);
    let batch = host(
        model
            .log_likelihood_cond(images.clone(), Some(cond.clone()))
            .unwrap(),
    );
    let single: Vec<f32> = (0..3)
        .flat_map(|n| {
            let ll = model.log_likelihood_cond(
                images.clone().narrow(0, n, 1),
                Some(cond.clone().narrow(0, n, 1)),
            );
            host(ll.unwrap())
        })
        .collect();
    Tolerance::new(1e-5, 1e-4).assert(&batch, &single);
    let other = host(model.log_likelihood_cond(images, Some(cond.neg())).unwrap());
    assert!(batch.iter().zip(&other).all(|(a, b)| a != b));
}

/// Multiplies every parameter by a factor.
struct Scale(f32);

impl ModuleMapper for Scale {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let s = self.0;
        param.map(|t| t.mul_scalar(s))
    }
}

#[test]
fn extreme_images_and_parameters_stay_finite() {
    let device = Device::flex();
    for config in common::all_tiny() {
        let shape = config.image;
        let n = shape.dims();
        let mut pixels = vec![0u8; n];
        pixels.extend(vec![255u8; n]);
        pixels.extend((0..n).map(|i| if i % 2 == 0 { 0 } else { 255 }));
        let images = to_images(&pixels, 3, shape, &device);
        for scale in [1.0f32, 30.0, 1e-4] {
            let model = config.init(&device).unwrap().map(&mut Scale(scale));
            let ll = host(model.log_likelihood(images.clone()).unwrap());
            assert!(
                ll.iter().all(|v| v.is_finite() && *v <= 0.0),
                "{:?} scale {scale}: {ll:?}",
                config.head
            );
        }
    }
}

#[test]
fn extreme_parameters_have_finite_gradients() {
    let device = Device::flex().autodiff();
    for config in common::all_tiny() {
        let model = config.init(&device).unwrap().map(&mut Scale(30.0));
        let images = random_images(2, config.image, 3, &device);
        let grads = model.log_likelihood(images).unwrap().sum().backward();
        let flat = model.flat_gradient(&grads);
        assert!(flat.iter().all(|g| g.is_finite()), "{:?}", config.head);
    }
}

#[test]
fn wrong_image_size_or_channels_is_a_typed_error_naming_both() {
    let device = Device::flex();
    let config = common::tiny_gray(Head::Categorical);
    let model = config.init(&device).unwrap();
    let wrong = [
        ImageShape::new(1, 6, 6).unwrap(),
        ImageShape::new(3, 5, 6).unwrap(),
    ];
    for shape in wrong {
        let images = random_images(2, shape, 1, &device);
        match model.log_likelihood(images) {
            Err(fisher_core::Error::Shape {
                expected, found, ..
            }) => {
                assert_eq!(expected, vec![2, 1, 5, 6]);
                assert_eq!(found, vec![2, shape.channels, shape.height, shape.width]);
            }
            other => panic!("expected a shape error, got {other:?}"),
        }
    }
}

#[test]
fn out_of_range_pixels_and_bad_conditioning_are_errors() {
    let device = Device::flex();
    let config = common::tiny_gray(Head::Categorical);
    let model = config.init(&device).unwrap();
    let images = random_images(2, config.image, 1, &device);
    assert!(
        model
            .log_likelihood(images.clone().add_scalar(256))
            .is_err()
    );
    let cond = common::random_cond(2, 3, 1, &device);
    assert!(
        model
            .log_likelihood_cond(images.clone(), Some(cond))
            .is_err()
    );

    let conditional = config.clone().with_cond_dim(3).init(&device).unwrap();
    assert!(conditional.log_likelihood(images.clone()).is_err());
    let short = common::random_cond(2, 2, 1, &device);
    assert!(
        conditional
            .log_likelihood_cond(images, Some(short))
            .is_err()
    );
}

#[test]
fn invalid_configs_are_rejected() {
    let device = Device::flex();
    let gray = PixelCnnConfig::new(ImageShape::new(1, 4, 4).unwrap());
    let rgb = PixelCnnConfig::new(ImageShape::new(3, 4, 4).unwrap());
    assert!(gray.clone().with_kernel(4).init(&device).is_err());
    assert!(gray.clone().with_layers(0).init(&device).is_err());
    assert!(
        gray.with_head(Head::LogisticMixture(0))
            .init(&device)
            .is_err()
    );
    assert!(rgb.clone().with_hidden_channels(64).init(&device).is_err());
    assert!(
        rgb.with_hidden_channels(6)
            .with_head_channels(6)
            .init(&device)
            .is_ok()
    );
}
