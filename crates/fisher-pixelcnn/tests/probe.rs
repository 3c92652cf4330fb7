//! The probe API: the probed pass computes the same log-likelihood, its records name every
//! parameter in order, and per-example gradients rebuilt from the records by a slow host
//! oracle equal the gradients of single-example backward passes.

mod common;

use burn::module::Module;
use burn::tensor::{Device, Gradients};
use common::{host, random_cond, random_images};
use fisher_core::Tolerance;
use fisher_pixelcnn::{Head, LayerInput, LayerRecord, PixelCnn, PixelCnnConfig, ProbeTensor};

fn configs() -> Vec<PixelCnnConfig> {
    let mut all = common::all_tiny();
    all.push(common::tiny_gray(Head::Categorical).with_cond_dim(3));
    all.push(common::tiny_rgb(Head::LogisticMixture(2)).with_cond_dim(2));
    all
}

fn cond_for(config: &PixelCnnConfig, n: usize, device: &Device) -> Option<burn::tensor::Tensor<2>> {
    (config.cond_dim > 0).then(|| random_cond(n, config.cond_dim, 5, device))
}

#[test]
fn probed_log_likelihood_equals_plain() {
    let device = Device::flex().autodiff();
    for config in configs() {
        let model = config.init(&device).unwrap();
        let images = random_images(3, config.image, 1, &device);
        let cond = cond_for(&config, 3, &device);
        let plain = model
            .log_likelihood_cond(images.clone(), cond.clone())
            .unwrap();
        let (probed, _) = model.log_likelihood_probed(images, cond).unwrap();
        Tolerance::new(1e-6, 1e-6).assert(&host(probed), &host(plain));
    }
}

#[test]
fn records_follow_parameter_blocks() {
    let device = Device::flex().autodiff();
    for config in configs() {
        let model = config.init(&device).unwrap();
        let images = random_images(2, config.image, 2, &device);
        let (_, records) = model
            .log_likelihood_probed(images, cond_for(&config, 2, &device))
            .unwrap();

        let mut names = Vec::new();
        let blocks = model.parameter_blocks();
        for record in &records {
            names.push(format!("{}.weight", record.name));
            if record.has_bias {
                names.push(format!("{}.bias", record.name));
            }
        }
        let block_names: Vec<String> = blocks.iter().map(|b| b.name.clone()).collect();
        assert_eq!(names, block_names);

        let weights = blocks.iter().filter(|b| b.name.ends_with(".weight"));
        for (record, block) in records.iter().zip(weights) {
            assert_eq!(record.weight_shape, block.shape, "{}", record.name);
            assert_eq!(
                record.mask.is_some(),
                block.mask.is_some(),
                "{}",
                record.name
            );
        }
        let total: usize = blocks.iter().map(|b| b.len()).sum();
        assert_eq!(
            total,
            model.num_params(),
            "every Burn parameter is in a block"
        );
    }
}

#[test]
fn masks_fix_entries_and_free_count_matches_flat_gradient() {
    let device = Device::flex().autodiff();
    for config in configs() {
        let model = config.init(&device).unwrap();
        let blocks = model.parameter_blocks();
        let masked: usize = blocks.iter().map(|b| b.len() - b.num_free()).sum();
        assert!(
            masked > 0,
            "the first horizontal layer always masks its centre tap"
        );

        let images = random_images(2, config.image, 3, &device);
        let ll = model
            .log_likelihood_cond(images, cond_for(&config, 2, &device))
            .unwrap();
        let grads = ll.sum().backward();
        let flat = model.flat_gradient(&grads);
        assert_eq!(flat.len(), model.num_free_parameters());
        assert_eq!(model.flat_parameters().len(), flat.len());
        assert!(flat.iter().all(|g| g.is_finite()));
    }
}

/// Per-example gradient of one layer from its record: weight entries (free ones), then bias.
fn record_gradient(record: &LayerRecord, grads: &Gradients, n: usize) -> Vec<f32> {
    match (&record.input, &record.probe) {
        (LayerInput::Conv { input, padding, .. }, ProbeTensor::Map(probe)) => {
            let g = probe.grad(grads).expect("probe gradient");
            let mask = record.mask.clone().map(host);
            conv_gradient(
                &host(input.clone()),
                input.dims(),
                &host(g.clone()),
                g.dims(),
                &record.weight_shape,
                *padding,
                mask.as_deref(),
                record.has_bias,
                n,
            )
        }
        (LayerInput::Linear { input }, ProbeTensor::Vector(probe)) => {
            let g = host(probe.grad(grads).expect("probe gradient"));
            let h = host(input.clone());
            let [_, n_in] = input.dims();
            let n_out = record.weight_shape[1];
            let mut out = Vec::new();
            for i in 0..n_in {
                for o in 0..n_out {
                    out.push(h[n * n_in + i] * g[n * n_out + o]);
                }
            }
            out
        }
        _ => panic!("{}: input and probe kinds disagree", record.name),
    }
}

/// `∂ℓₙ/∂W[o,i,a,b] = Σ_{y,x} g[n,o,y,x] · x̃[n,i,y+a,x+b]`, written as plain loops.
#[allow(clippy::too_many_arguments)]
fn conv_gradient(
    x: &[f32],
    xd: [usize; 4],
    g: &[f32],
    gd: [usize; 4],
    ws: &[usize],
    padding: [(usize, usize); 2],
    mask: Option<&[f32]>,
    bias: bool,
    n: usize,
) -> Vec<f32> {
    let [_, ci, h, w] = xd;
    let [_, co, ho, wo] = gd;
    let (kh, kw) = (ws[2], ws[3]);
    let (top, left) = (padding[0].0 as isize, padding[1].0 as isize);
    let mut out = Vec::new();
    for o in 0..co {
        for i in 0..ci {
            for a in 0..kh {
                for b in 0..kw {
                    let flat = ((o * ci + i) * kh + a) * kw + b;
                    if mask.is_some_and(|m| m[flat] == 0.0) {
                        continue;
                    }
                    let mut sum = 0.0f64;
                    for y in 0..ho {
                        for xx in 0..wo {
                            let yy = y as isize + a as isize - top;
                            let xi = xx as isize + b as isize - left;
                            if yy < 0 || xi < 0 || yy >= h as isize || xi >= w as isize {
                                continue;
                            }
                            let xv = x[((n * ci + i) * h + yy as usize) * w + xi as usize];
                            sum += f64::from(g[((n * co + o) * ho + y) * wo + xx] * xv);
                        }
                    }
                    out.push(sum as f32);
                }
            }
        }
    }
    if bias {
        for o in 0..co {
            let s: f64 = (0..ho * wo)
                .map(|p| f64::from(g[(n * co + o) * ho * wo + p]))
                .sum();
            out.push(s as f32);
        }
    }
    out
}

fn single_example_gradient(model: &PixelCnn, config: &PixelCnnConfig, n: usize) -> Vec<f32> {
    let device = Device::flex().autodiff();
    let images = random_images(3, config.image, 4, &device).narrow(0, n, 1);
    let cond = cond_for(config, 3, &device).map(|c| c.narrow(0, n, 1));
    let ll = model.log_likelihood_cond(images, cond).unwrap();
    model.flat_gradient(&ll.sum().backward())
}

#[test]
fn per_example_gradients_from_records_match_single_backward_passes() {
    let device = Device::flex().autodiff();
    for config in configs() {
        let model = config.init(&device).unwrap();
        let images = random_images(3, config.image, 4, &device);
        let (ll, records) = model
            .log_likelihood_probed(images, cond_for(&config, 3, &device))
            .unwrap();
        let grads = ll.sum().backward();

        for n in 0..3 {
            let from_records: Vec<f32> = records
                .iter()
                .flat_map(|r| record_gradient(r, &grads, n))
                .collect();
            let expected = single_example_gradient(&model, &config, n);
            assert_eq!(from_records.len(), expected.len());
            if let Err(msg) = Tolerance::new(1e-3, 1e-5).check(&from_records, &expected) {
                panic!("{:?} example {n}: {msg}", config.head);
            }
        }
    }
}

#[test]
fn probed_pass_needs_autodiff() {
    let device = Device::flex();
    let config = common::tiny_gray(Head::Categorical);
    let model = config.init(&device).unwrap();
    let images = random_images(1, config.image, 1, &device);
    assert!(model.log_likelihood_probed(images, None).is_err());
}

/// The flattened input of a record, on the host.
fn input_values(record: &LayerRecord) -> Vec<f32> {
    match &record.input {
        LayerInput::Conv { input, .. } => host(input.clone().flatten::<1>(0, 3)),
        LayerInput::Linear { input } => host(input.clone().flatten::<1>(0, 1)),
    }
}

#[test]
fn untracked_records_hold_the_same_layer_inputs_and_track_nothing() {
    let device = Device::flex().autodiff();
    for config in configs() {
        let model = config.init(&device).unwrap();
        let images = random_images(2, config.image, 4, &device);
        let cond = cond_for(&config, 2, &device);
        let (_, probed) = model
            .log_likelihood_probed(images.clone(), cond.clone())
            .unwrap();
        let observed = model.layer_records(images, cond).unwrap();

        assert_eq!(observed.len(), probed.len());
        for (a, b) in observed.iter().zip(&probed) {
            assert_eq!(a.name, b.name);
            Tolerance::new(1e-6, 1e-6).assert(&input_values(a), &input_values(b));
            let tracked = match &a.probe {
                ProbeTensor::Map(p) => p.is_require_grad(),
                ProbeTensor::Vector(p) => p.is_require_grad(),
            };
            assert!(!tracked, "{}: probe is tracked", a.name);
        }
    }
}
