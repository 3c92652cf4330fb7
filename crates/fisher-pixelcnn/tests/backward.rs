//! The hand-written backward pass: the same log-likelihoods as the plain pass and, layer by
//! layer, the same output gradients as the probes of the autodiff pass, for every head,
//! grayscale and RGB, with and without conditioning, and on a device without autodiff.

mod common;

use burn::tensor::{Device, Tensor};
use common::{host, random_cond, random_images};
use fisher_core::Tolerance;
use fisher_pixelcnn::{Head, LayerInput, LayerRecord, PixelCnnConfig, ProbeTensor};

fn configs() -> Vec<PixelCnnConfig> {
    let mut all = common::all_tiny();
    all.push(common::tiny_gray(Head::Categorical).with_cond_dim(3));
    all.push(common::tiny_gray(Head::LogisticMixture(3)).with_layers(1));
    all.push(common::tiny_rgb(Head::LogisticMixture(2)).with_cond_dim(2));
    all.push(common::tiny_rgb(Head::Categorical).with_cond_dim(2));
    all
}

fn cond_for(config: &PixelCnnConfig, n: usize, device: &Device) -> Option<Tensor<2>> {
    (config.cond_dim > 0).then(|| random_cond(n, config.cond_dim, 7, device))
}

fn values(probe: &ProbeTensor) -> Vec<f32> {
    match probe {
        ProbeTensor::Map(t) => host(t.clone()),
        ProbeTensor::Vector(t) => host(t.clone()),
    }
}

fn input_values(record: &LayerRecord) -> Vec<f32> {
    match &record.input {
        LayerInput::Conv { input, .. } => host(input.clone().flatten::<1>(0, 3)),
        LayerInput::Linear { input } => host(input.clone().flatten::<1>(0, 1)),
    }
}

/// Agreement to 1e-5 of each value or of the largest magnitude of the layer.
fn close(label: &str, got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len(), "{label}: lengths");
    let scale = want.iter().fold(0.0f32, |m, v| m.max(v.abs())) as f64;
    for (i, (a, b)) in got.iter().zip(want).enumerate() {
        let bound = 1e-5 * (a.abs().max(b.abs()) as f64 + scale) + 1e-9;
        assert!(
            ((a - b).abs() as f64) <= bound,
            "{label}[{i}]: hand-written {a}, autodiff {b} (largest magnitude {scale})"
        );
    }
}

#[test]
fn output_gradients_match_the_probed_autodiff_pass() {
    let device = Device::flex().autodiff();
    for config in configs() {
        let label = format!(
            "{:?} {} cond {}",
            config.head, config.image, config.cond_dim
        );
        let model = config.init(&device).unwrap();
        let images = random_images(3, config.image, 11, &device);
        let cond = cond_for(&config, 3, &device);

        let (ll, hand) = model
            .log_likelihood_output_grads(images.clone(), cond.clone())
            .unwrap();
        let (probed_ll, probed) = model.log_likelihood_probed(images, cond).unwrap();
        let grads = probed_ll.clone().sum().backward();

        Tolerance::new(1e-6, 1e-4).assert(&host(ll), &host(probed_ll.inner()));
        assert_eq!(hand.len(), probed.len(), "{label}: number of records");
        for (h, p) in hand.iter().zip(&probed) {
            assert_eq!(h.name, p.name, "{label}: record order");
            assert_eq!(h.weight_shape, p.weight_shape, "{label} {}", h.name);
            assert_eq!(h.has_bias, p.has_bias, "{label} {}", h.name);
            let want = match &p.probe {
                ProbeTensor::Map(t) => host(t.grad(&grads).expect("probe gradient")),
                ProbeTensor::Vector(t) => host(t.grad(&grads).expect("probe gradient")),
            };
            close(
                &format!("{label} {} gradient", h.name),
                &values(&h.probe),
                &want,
            );
            close(
                &format!("{label} {} input", h.name),
                &input_values(h),
                &input_values(p),
            );
        }
    }
}

#[test]
fn the_hand_written_pass_needs_no_autodiff_device() {
    let config = common::tiny_rgb(Head::LogisticMixture(2)).with_cond_dim(2);
    let mut results = Vec::new();
    for device in [Device::flex(), Device::flex().autodiff()] {
        let model = config.init(&device).unwrap();
        let images = random_images(2, config.image, 3, &device);
        let (ll, records) = model
            .log_likelihood_output_grads(images, cond_for(&config, 2, &device))
            .unwrap();
        for record in &records {
            let tracked = match &record.probe {
                ProbeTensor::Map(t) => t.is_require_grad(),
                ProbeTensor::Vector(t) => t.is_require_grad(),
            };
            assert!(!tracked, "{}: gradient is tracked", record.name);
        }
        let grads: Vec<f32> = records.iter().flat_map(|r| values(&r.probe)).collect();
        results.push((host(ll), grads));
    }
    assert_eq!(results[0], results[1]);
}

#[test]
fn bad_inputs_are_errors_not_panics() {
    let device = Device::flex();
    let config = common::tiny_gray(Head::Categorical).with_cond_dim(3);
    let model = config.init(&device).unwrap();
    let images = random_images(2, config.image, 3, &device);
    assert!(
        model
            .log_likelihood_output_grads(images.clone(), None)
            .is_err()
    );
    let wrong = Some(random_cond(2, 4, 1, &device));
    assert!(model.log_likelihood_output_grads(images, wrong).is_err());
    let rgb = random_images(2, common::tiny_rgb(Head::Categorical).image, 3, &device);
    assert!(
        model
            .log_likelihood_output_grads(rgb, cond_for(&config, 2, &device))
            .is_err()
    );
}
