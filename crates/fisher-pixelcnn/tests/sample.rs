//! Ancestral sampling: reproducible from its seed, in range, and distributed as the model
//! says (checked on one-pixel images against the model's own probabilities).

mod common;

use burn::module::{Module, ModuleMapper, Param};
use burn::tensor::{Device, Int, Tensor};
use common::host;
use fisher_core::ImageShape;
use fisher_pixelcnn::{Head, PixelCnnConfig};

fn ints(t: Tensor<4, Int>) -> Vec<i64> {
    t.into_data().try_into_vec_as::<i64>().unwrap()
}

/// Scales every parameter by `self.0` and adds a fixed pattern of amplitude 0.5, so that
/// biases (zero at initialisation) make the first pixel's distribution far from uniform.
struct Jitter(f32);

impl ModuleMapper for Jitter {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let s = self.0;
        param.map(|t| {
            let n = t.shape().num_elements();
            let pattern: Vec<f32> = (0..n).map(|i| 0.5 * (i as f32 * 1.7).sin()).collect();
            let pattern = Tensor::<1>::from_data(pattern.as_slice(), &t.device());
            t.clone().mul_scalar(s) + pattern.reshape(t.shape())
        })
    }
}

#[test]
fn samples_are_reproducible_and_in_range() {
    let device = Device::flex();
    for config in common::all_tiny() {
        let model = config.init(&device).unwrap();
        let a = model.sample(3, 1.0, None, 5, &device).unwrap();
        let b = model.sample(3, 1.0, None, 5, &device).unwrap();
        let other = model.sample(3, 1.0, None, 6, &device).unwrap();
        let [c, h, w] = config.image.to_array();
        assert_eq!(a.dims(), [3, c, h, w]);
        let (a, b, other) = (ints(a), ints(b), ints(other));
        assert_eq!(a, b);
        assert_ne!(a, other);
        assert!(a.iter().all(|v| (0..=255).contains(v)));
    }
}

#[test]
fn conditional_sampling_needs_fitting_conditioning() {
    let device = Device::flex();
    let config = common::tiny_gray(Head::Categorical).with_cond_dim(2);
    let model = config.init(&device).unwrap();
    assert!(model.sample(2, 1.0, None, 0, &device).is_err());
    let cond = common::random_cond(2, 2, 1, &device);
    assert!(
        model
            .sample(3, 1.0, Some(cond.clone()), 0, &device)
            .is_err()
    );
    assert!(
        model
            .sample(2, 0.0, Some(cond.clone()), 0, &device)
            .is_err()
    );
    assert!(
        model
            .sample(2, f32::NAN, Some(cond.clone()), 0, &device)
            .is_err()
    );
    let images = model.sample(2, 1.0, Some(cond), 0, &device).unwrap();
    assert_eq!(images.dims(), [2, 1, 5, 6]);
}

/// Total variation between the empirical distribution of channel `ch` of `n` samples of a
/// one-pixel model and the model's own probabilities of that channel.
fn total_variation(config: PixelCnnConfig, n: usize, scale: f32) -> f64 {
    let device = Device::flex();
    let model = config.init(&device).unwrap().map(&mut Jitter(scale));
    let samples = ints(model.sample(n, 1.0, None, 3, &device).unwrap());
    let c = config.image.channels;
    let mut counts = [0usize; 256];
    for s in samples.chunks(c) {
        counts[s[0] as usize] += 1;
    }

    let values: Vec<u8> = (0..=255u8)
        .flat_map(|v| std::iter::repeat_n(v, c))
        .collect();
    let images = common::to_images(&values, 256, config.image, &device);
    let map = host(model.log_prob_map(images, None).unwrap());
    let probs: Vec<f64> = (0..256).map(|v| f64::from(map[v * c]).exp()).collect();
    let peak = probs.iter().cloned().fold(0.0, f64::max);
    let uniform: f64 = probs.iter().map(|p| (p - 1.0 / 256.0).abs()).sum::<f64>() / 2.0;
    assert!(
        peak < 0.5 && uniform > 0.3,
        "the test needs a spread but far from uniform model: peak {peak}, TV to uniform {uniform}"
    );
    probs
        .iter()
        .zip(counts)
        .map(|(p, k)| (p - k as f64 / n as f64).abs())
        .sum::<f64>()
        / 2.0
}

#[test]
fn one_pixel_samples_follow_the_model_categorical() {
    let config = PixelCnnConfig::new(ImageShape::new(1, 1, 1).unwrap())
        .with_hidden_channels(8)
        .with_layers(2)
        .with_head_channels(16)
        .with_seed(3);
    let tv = total_variation(config, 6000, 1.0);
    assert!(tv < 0.08, "total variation {tv}");
}

#[test]
fn one_pixel_samples_follow_the_model_mixture_red_marginal() {
    let config = PixelCnnConfig::new(ImageShape::new(3, 1, 1).unwrap())
        .with_hidden_channels(6)
        .with_layers(2)
        .with_head_channels(12)
        .with_head(Head::LogisticMixture(3))
        .with_seed(4);
    let tv = total_variation(config, 6000, 1.0);
    assert!(tv < 0.08, "total variation {tv}");
}

#[test]
fn low_temperature_picks_the_mode() {
    let device = Device::flex();
    let config = PixelCnnConfig::new(ImageShape::new(1, 1, 1).unwrap())
        .with_hidden_channels(8)
        .with_layers(2)
        .with_head_channels(16);
    let model = config.init(&device).unwrap().map(&mut Jitter(1.0));
    let values: Vec<u8> = (0..=255u8).collect();
    let images = common::to_images(&values, 256, config.image, &device);
    let map = host(model.log_prob_map(images, None).unwrap());
    let mode = (0..256).max_by(|&a, &b| map[a].total_cmp(&map[b])).unwrap() as i64;
    let samples = ints(model.sample(20, 1e-4, None, 1, &device).unwrap());
    assert!(
        samples.iter().all(|&v| v == mode),
        "{samples:?} vs mode {mode}"
    );
}
