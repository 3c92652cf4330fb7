//! The batched per-example scores against the loop of single-example backward passes, on a
//! tiny model with every layer kind, both heads, grayscale and RGB, with and without
//! conditioning.

mod common;

use burn::tensor::{Device, Tensor, TensorData};
use common::{Dense, TinyHead, TinyModel, host, images, max_abs, values};
use fisher_core::Tolerance;
use fisher_score::{
    Error, LayerInput, Probe, ProbedLayer, ScoreModel, ScoreProjection, batch_gradient,
    materialise_scores, project_scores, reference_scores, stream_scores,
};

fn device() -> Device {
    Device::flex().autodiff()
}

/// 1e-5 relative, with an absolute floor of 1e-6 of the largest entry for entries near zero.
fn tolerance(reference: &[f32]) -> Tolerance {
    Tolerance::new(1e-5, 1e-6 * f64::from(max_abs(reference)))
}

fn cond(batch: usize, dim: usize, device: &Device) -> Option<Tensor<2>> {
    (dim > 0).then(|| {
        Tensor::from_data(
            TensorData::new(values(batch * dim, 7, 1.0), [batch, dim]),
            device,
        )
    })
}

fn check_against_loop(channels: usize, head: TinyHead, cond_dim: usize) {
    let device = device();
    let model = TinyModel::new(channels, head, cond_dim, &device, true);
    let batch = images(3, model.shape, 11).to_tensor(&device);

    let fast = host(materialise_scores(&model, batch.clone(), cond(3, cond_dim, &device)).unwrap());
    let slow = host(reference_scores(&model, batch, cond(3, cond_dim, &device)).unwrap());

    assert_eq!(fast.len(), 3 * model.num_free_parameters());
    assert!(max_abs(&slow) > 0.0);
    tolerance(&slow).assert(&fast, &slow);
}

#[test]
fn categorical_grayscale_scores_match_the_loop() {
    check_against_loop(1, TinyHead::Categorical, 0);
}

#[test]
fn categorical_rgb_scores_match_the_loop() {
    check_against_loop(3, TinyHead::Categorical, 0);
}

#[test]
fn logistic_grayscale_scores_match_the_loop() {
    check_against_loop(1, TinyHead::Logistic, 0);
}

#[test]
fn logistic_rgb_conditional_scores_match_the_loop() {
    check_against_loop(3, TinyHead::Logistic, 2);
}

#[test]
fn scores_sum_to_the_batch_gradient() {
    let device = device();
    let model = TinyModel::new(1, TinyHead::Categorical, 2, &device, true);
    let batch = images(4, model.shape, 5).to_tensor(&device);
    let d = model.num_free_parameters();

    let scores = host(materialise_scores(&model, batch.clone(), cond(4, 2, &device)).unwrap());
    let summed: Vec<f32> = (0..d)
        .map(|j| (0..4).map(|b| scores[b * d + j]).sum())
        .collect();
    let gradient = batch_gradient(&model, batch, cond(4, 2, &device)).unwrap();

    tolerance(&gradient).assert(&summed, &gradient);
}

#[test]
fn frozen_parameters_give_the_same_scores() {
    let device = device();
    let trainable = TinyModel::new(3, TinyHead::Categorical, 0, &device, true);
    let frozen = TinyModel::new(3, TinyHead::Categorical, 0, &device, false);
    let batch = images(2, trainable.shape, 3).to_tensor(&device);

    let a = host(materialise_scores(&trainable, batch.clone(), None).unwrap());
    let b = host(materialise_scores(&frozen, batch, None).unwrap());
    Tolerance::new(1e-6, 0.0).assert(&a, &b);
}

#[test]
fn blocks_arrive_in_order_and_cover_every_parameter_once() {
    let device = device();
    let model = TinyModel::new(1, TinyHead::Logistic, 2, &device, true);
    let batch = images(2, model.shape, 1).to_tensor(&device);

    let mut next = 0;
    let ll = stream_scores(&model, batch, cond(2, 2, &device), |block| {
        assert_eq!(block.offset, next);
        assert_eq!(block.values.dims()[0], 2);
        next += block.values.dims()[1];
        Ok(())
    })
    .unwrap();
    assert_eq!(next, model.num_free_parameters());
    assert_eq!(ll.dims(), [2]);
    assert!(!ll.is_autodiff());
}

#[test]
fn streamed_projection_equals_projecting_the_full_scores() {
    let device = device();
    let model = TinyModel::new(3, TinyHead::Categorical, 0, &device, true);
    let d = model.num_free_parameters();
    let batch = images(3, model.shape, 9).to_tensor(&device);

    let scores = host(materialise_scores(&model, batch.clone(), None).unwrap());

    let dense = Dense::new(16, d, 99);
    let full = dense.project_host(&scores);
    let dense = ScoreProjection::Device(Box::new(dense));
    let streamed = host(project_scores(&model, batch.clone(), None, &dense, None).unwrap());
    tolerance(&full).assert(&streamed, &full);

    let jl = fisher_jl::ProjectionConfig::new(d, 32)
        .with_seed(4)
        .init()
        .unwrap();
    let full = jl
        .project(ndarray::ArrayView2::from_shape((3, d), &scores).unwrap())
        .unwrap();
    let full = full.as_slice().unwrap();
    // fisher-jl's host kernel sums block after block in the same order as one call: exact.
    let on_host = ScoreProjection::Host(jl.clone());
    let streamed = host(project_scores(&model, batch.clone(), None, &on_host, None).unwrap());
    assert_eq!(streamed, full);
    let on_device = ScoreProjection::Device(Box::new(jl));
    let streamed = host(project_scores(&model, batch, None, &on_device, None).unwrap());
    tolerance(full).assert(&streamed, full);
}

#[test]
fn a_device_without_autodiff_is_a_config_error() {
    let model = TinyModel::new(1, TinyHead::Categorical, 0, &device(), true);
    let batch = images(1, model.shape, 1).to_tensor(&Device::flex());
    let err = materialise_scores(&model, batch, None).unwrap_err();
    assert!(
        matches!(err, Error::Core(fisher_core::Error::Config { .. })),
        "{err}"
    );
}

#[test]
fn a_projector_of_another_length_is_a_mismatch() {
    let device = device();
    let model = TinyModel::new(1, TinyHead::Categorical, 0, &device, true);
    let batch = images(1, model.shape, 1).to_tensor(&device);
    let wrong =
        ScoreProjection::Device(Box::new(Dense::new(4, model.num_free_parameters() + 1, 1)));
    let err = project_scores(&model, batch, None, &wrong, None).unwrap_err();
    assert!(
        matches!(err, Error::Core(fisher_core::Error::Mismatch { .. })),
        "{err}"
    );
}

fn conv_record(mask: Option<Vec<bool>>, device: &Device) -> ProbedLayer {
    ProbedLayer {
        name: "conv".into(),
        input: LayerInput::Conv {
            input: Tensor::ones([2, 3, 4, 4], device),
            kernel: [2, 2],
            padding: [(1, 0), (1, 0)],
            dilation: [1, 1],
        },
        probe: Probe::Spatial(Tensor::zeros([2, 5, 4, 4], device)),
        mask,
        has_bias: true,
    }
}

#[test]
fn inconsistent_records_are_layer_errors() {
    let device = Device::flex();
    let grad = Probe::Spatial(Tensor::ones([2, 5, 4, 4], &device));

    let short_mask = conv_record(Some(vec![true; 5 * 3 * 4 - 1]), &device);
    let err = short_mask.per_example(7, &grad).unwrap_err();
    assert!(matches!(err, Error::Layer { layer: 7, .. }), "{err}");

    let wrong_size = Probe::Spatial(Tensor::ones([2, 5, 3, 3], &device));
    let err = conv_record(None, &device)
        .per_example(0, &wrong_size)
        .unwrap_err();
    assert!(matches!(err, Error::Layer { .. }), "{err}");

    let wrong_kind = Probe::Flat(Tensor::ones([2, 5], &device));
    let err = conv_record(None, &device)
        .per_example(0, &wrong_kind)
        .unwrap_err();
    assert!(matches!(err, Error::Layer { .. }), "{err}");
}

#[test]
fn masked_entries_are_left_out_and_biases_follow_the_weights() {
    let device = Device::flex();
    let mut mask = vec![true; 5 * 3 * 4];
    mask[0] = false;
    mask[59] = false;
    let record = conv_record(Some(mask), &device);
    assert_eq!(record.num_free_parameters(), 5 * 3 * 4 - 2 + 5);

    let grad = Probe::Spatial(Tensor::ones([2, 5, 4, 4], &device));
    let scores = record.per_example(0, &grad).unwrap();
    assert_eq!(scores.weight.dims(), [2, 58]);
    assert_eq!(scores.width(), 63);
    // With unit input and output gradient, a weight's gradient counts the output positions
    // its tap sees inside the padded input; a bias's counts all 16.
    let w = host(scores.weight);
    assert_eq!(w[0], 12.0); // weight [0, 0, 0, 1]: rows 1..4 of the 4 × 4 output
    assert_eq!(w[2], 16.0); // weight [0, 0, 1, 1]: the tap on the output position itself
    assert_eq!(host(scores.bias.unwrap()), vec![16.0; 10]);
}
