//! The same computations on the CPU backend (`flex`) and on the device that the environment
//! variable `FISHER_TEST_DEVICE` names (`flex` by default, `wgpu` or `cuda`), which must agree
//! within the tolerances of [`common::device_tolerance`] and, for the gradients of the logistic
//! mixture, [`common::mixture_tolerance`] (1e-4 relative; see there why):
//!
//! - the PixelCNN's log-likelihood, per sub-pixel and per image, and its parameter gradient,
//!   for both heads on grayscale and RGB images;
//! - per-example Fisher scores on the device against the single-example loop on the same
//!   device and against the CPU, raw and projected by fisher-jl on the device;
//! - fisher-jl's tensor path on the device against its host kernel: whole, streamed in
//!   chunks, and transposed, for every kind of matrix;
//! - the forward passes of the three decoders (deterministic mean and likelihood, conditional
//!   PixelCNN likelihood, flow likelihood and inverse);
//! - the Inception-v3 features of fisher-fid, with seeded random weights.
//!
//! ```text
//! cargo test --release -p fisher-embed --test device                       # flex against flex
//! FISHER_TEST_DEVICE=wgpu cargo test --release -p fisher-embed --features wgpu --test device
//! ```
//!
//! A device whose cargo feature is not compiled in makes every test fail with the command to
//! run instead; nothing is skipped. Models are built on each device from the same seeds (their
//! initial values are drawn on the host, so they are identical), except Inception, whose
//! random initialisation is drawn once on the CPU and copied to the device. Sizes are tiny so
//! that the suite runs in minutes on software Vulkan; most of its time there is compiling
//! kernels.

#[cfg(not(feature = "flex"))]
compile_error!("the device suite compares against the flex CPU backend: keep the `flex` feature");

mod common;

use burn::module::Module;
use burn::tensor::{Device, Int, Tensor, TensorData};
use common::{
    assert_close, both, cpu, device, device_tolerance, host, image_tensor, images, matrix,
    mixture_tolerance, values,
};
use fisher_core::{FeatureExtractor, ImageShape, Tolerance};
use fisher_decoder::{
    DeterministicConfig, DeterministicLoss, EmbeddingSpec, FlowConfig, PixelCnnDecoderConfig,
    TrainableDecoder,
};
use fisher_fid::InceptionConfig;
use fisher_jl::{ProjectionConfig, ProjectionKind};
use fisher_pixelcnn::{Head, PixelCnnConfig};
use fisher_score::{ScoreProjection, materialise_scores, project_scores, reference_scores};
use ndarray::ArrayView2;

// ---------------------------------------------------------------------------------------------
// (a) PixelCNN: log-likelihood and parameter gradients

/// A grayscale model on 5×6 images (not square, to catch swapped axes).
fn gray(head: Head) -> PixelCnnConfig {
    PixelCnnConfig::new(ImageShape::new(1, 5, 6).unwrap())
        .with_hidden_channels(4)
        .with_layers(3)
        .with_first_kernel(5)
        .with_kernel(3)
        .with_head_channels(6)
        .with_head(head)
        .with_seed(7)
}

/// An RGB model on 4×5 images.
fn rgb(head: Head) -> PixelCnnConfig {
    PixelCnnConfig::new(ImageShape::new(3, 4, 5).unwrap())
        .with_hidden_channels(12)
        .with_layers(2)
        .with_first_kernel(5)
        .with_kernel(3)
        .with_head_channels(12)
        .with_head(head)
        .with_seed(11)
}

/// What the PixelCNN computes on one device: per-sub-pixel log-probabilities, per-image
/// log-likelihoods and the gradient of their sum with respect to every free parameter.
struct PixelCnnRun {
    parameters: Vec<f32>,
    map: Vec<f32>,
    ll: Vec<f32>,
    gradient: Vec<f32>,
}

fn run_pixelcnn(config: &PixelCnnConfig, device: &Device) -> PixelCnnRun {
    let batch = images(3, config.image, 21);

    let model = config.init(device).unwrap();
    let parameters = model.flat_parameters();
    let map = host(
        model
            .log_prob_map(image_tensor(&batch, device), None)
            .unwrap(),
    );
    let ll = host(
        model
            .log_likelihood_cond(image_tensor(&batch, device), None)
            .unwrap(),
    );

    let autodiff = device.clone().autodiff();
    let model = config.init(&autodiff).unwrap();
    let total = model
        .log_likelihood_cond(image_tensor(&batch, &autodiff), None)
        .unwrap()
        .sum();
    let gradient = model.flat_gradient(&total.backward());
    PixelCnnRun {
        parameters,
        map,
        ll,
        gradient,
    }
}

/// The tolerance of device against CPU for a model with `head`: the mixture's gradients need a
/// higher absolute floor (see [`mixture_tolerance`]).
fn tolerance_for(head: Head) -> fn(&[f32]) -> Tolerance {
    match head {
        Head::Categorical => device_tolerance,
        Head::LogisticMixture(_) => mixture_tolerance,
    }
}

fn check_pixelcnn(name: &str, config: PixelCnnConfig) {
    let [reference, on_device] = both().map(|d| run_pixelcnn(&config, &d));

    // The initial values are drawn on the host: the two models must be the same model.
    assert_eq!(
        on_device.parameters, reference.parameters,
        "{name}: parameters"
    );
    assert!(
        common::max_abs(&reference.gradient) > 0.0,
        "{name}: gradient vanishes"
    );

    let what = |part: &str| format!("{name}: {part}");
    let tol = tolerance_for(config.head);
    assert_close(
        &what("log p per sub-pixel"),
        &on_device.map,
        &reference.map,
        tol(&reference.map),
    );
    assert_close(
        &what("log-likelihood"),
        &on_device.ll,
        &reference.ll,
        tol(&reference.ll),
    );
    let g = &reference.gradient;
    assert_close(&what("parameter gradient"), &on_device.gradient, g, tol(g));
}

#[test]
fn pixelcnn_categorical_grayscale_agrees_with_the_cpu() {
    check_pixelcnn("categorical gray", gray(Head::Categorical));
}

#[test]
fn pixelcnn_mixture_grayscale_agrees_with_the_cpu() {
    check_pixelcnn("mixture gray", gray(Head::LogisticMixture(3)));
}

#[test]
fn pixelcnn_categorical_rgb_agrees_with_the_cpu() {
    check_pixelcnn("categorical rgb", rgb(Head::Categorical));
}

#[test]
fn pixelcnn_mixture_rgb_agrees_with_the_cpu() {
    check_pixelcnn("mixture rgb", rgb(Head::LogisticMixture(2)));
}

// ---------------------------------------------------------------------------------------------
// (b) Per-example Fisher scores

/// Scores of 3 images on `device`: batched (one backward pass), and, when `with_loop`, the
/// single-example loop; plus the batched scores projected by `projection` on the device.
struct ScoreRun {
    batched: Vec<f32>,
    looped: Option<Vec<f32>>,
    projected: Vec<f32>,
}

fn run_scores(
    config: &PixelCnnConfig,
    projection: ScoreProjection,
    device: &Device,
    with_loop: bool,
) -> ScoreRun {
    let device = device.clone().autodiff();
    let model = config.init(&device).unwrap();
    let batch = image_tensor(&images(3, config.image, 5), &device);
    let cond = (config.cond_dim > 0).then(|| matrix(3, config.cond_dim, 8, 1.0, &device));

    let frozen = model.clone().no_grad();
    let batched = host(materialise_scores(&frozen, batch.clone(), cond.clone()).unwrap());
    let projected =
        host(project_scores(&frozen, batch.clone(), cond.clone(), &projection, None).unwrap());
    let looped = with_loop.then(|| host(reference_scores(&model, batch, cond).unwrap()));
    ScoreRun {
        batched,
        looped,
        projected,
    }
}

fn check_scores(name: &str, config: PixelCnnConfig) {
    let d = config.init(&cpu()).unwrap().num_free_parameters();
    let jl = ProjectionConfig::new(d, 32).with_seed(4).init().unwrap();

    // The reference projects on the host kernel; the device uses the tensor path.
    let reference = run_scores(&config, ScoreProjection::Host(jl.clone()), &cpu(), false);
    let on_device = run_scores(
        &config,
        ScoreProjection::Device(Box::new(jl)),
        &device(),
        true,
    );

    let looped = on_device.looped.as_deref().unwrap();
    assert_eq!(looped.len(), 3 * d);
    assert!(common::max_abs(looped) > 0.0, "{name}: scores vanish");
    let what = |part: &str| format!("{name}: {part}");
    let tol = tolerance_for(config.head);
    assert_close(
        &what("batched scores vs the loop, on the device"),
        &on_device.batched,
        looped,
        device_tolerance(looped),
    );
    assert_close(
        &what("batched scores, device vs CPU"),
        &on_device.batched,
        &reference.batched,
        tol(&reference.batched),
    );
    assert_close(
        &what("projected scores, device tensor path vs CPU host kernel"),
        &on_device.projected,
        &reference.projected,
        tol(&reference.projected),
    );
}

#[test]
fn scores_categorical_grayscale_agree_with_the_loop_and_the_cpu() {
    check_scores("categorical gray", gray(Head::Categorical));
}

#[test]
fn scores_mixture_rgb_conditional_agree_with_the_loop_and_the_cpu() {
    check_scores(
        "mixture rgb conditional",
        rgb(Head::LogisticMixture(2)).with_cond_dim(3),
    );
}

// ---------------------------------------------------------------------------------------------
// (c) fisher-jl: the tensor path on the device against the host kernel

fn check_projection(kind: ProjectionKind, d: usize, k: usize) {
    let name = kind.label();
    let batch = 3;
    let projection = ProjectionConfig::new(d, k)
        .with_kind(kind)
        .with_seed(9)
        .init()
        .unwrap();
    let x = values(batch * d, 3, 1.0);
    let view = ArrayView2::from_shape((batch, d), &x).unwrap();
    let expected = projection.project(view).unwrap();
    let expected = expected.as_slice().unwrap();
    let tol = device_tolerance(expected);

    let device = device();
    let x = Tensor::<2>::from_data(TensorData::new(x.clone(), [batch, d]), &device);
    let whole = host(projection.project_tensor(x.clone()).unwrap());
    assert_close(&format!("{name}: project_tensor"), &whole, expected, tol);

    // Three uneven chunks, fed out of order: the sums must not depend on the chunking.
    let cuts = [0, d / 3 + 1, d / 3 + 2, d];
    let mut acc = Tensor::<2>::zeros([batch, k], &device);
    for i in [1, 2, 0] {
        let chunk = x.clone().slice([0..batch, cuts[i]..cuts[i + 1]]);
        acc = projection.accumulate_tensor(cuts[i], chunk, acc).unwrap();
    }
    assert_close(&format!("{name}: chunked"), &host(acc), expected, tol);

    // The adjoint Pᵀz, on a coordinate range that starts inside the vector.
    let z = values(batch * k, 4, 1.0);
    let (offset, len) = (d / 4, d / 2);
    let zview = ArrayView2::from_shape((batch, k), &z).unwrap();
    let back = projection.transpose_range(zview, offset, len).unwrap();
    let back = back.as_slice().unwrap();
    let z = Tensor::<2>::from_data(TensorData::new(z, [batch, k]), &device);
    let on_device = host(projection.transpose_tensor(z, offset, len).unwrap());
    assert_close(
        &format!("{name}: transpose"),
        &on_device,
        back,
        device_tolerance(back),
    );
}

/// `d` above the tensor path's 32 768 coordinates per step, so that it works in three steps;
/// this test found that Burn's wgpu scatter-add drops all entries after the 65 535th of a
/// longer index, which the steps now stay below.
#[test]
fn sparse_jl_tensor_path_agrees_with_the_host_kernel() {
    check_projection(ProjectionKind::SparseJl { nonzeros: 4 }, 70_001, 64);
    check_projection(ProjectionKind::SparseJl { nonzeros: 1 }, 5_000, 48);
}

#[test]
fn very_sparse_tensor_path_agrees_with_the_host_kernel() {
    check_projection(ProjectionKind::VerySparse { density: None }, 70_001, 256);
}

#[test]
fn gaussian_tensor_path_agrees_with_the_host_kernel() {
    check_projection(ProjectionKind::Gaussian, 3_000, 32);
}

// ---------------------------------------------------------------------------------------------
// (d) Decoders: forward passes

const K: usize = 6;

fn spec() -> EmbeddingSpec {
    EmbeddingSpec::new(K, "sparse-jl", 11).with_normalisation("none")
}

fn decoder_image() -> ImageShape {
    ImageShape::new(3, 8, 8).unwrap()
}

/// Embeddings and images of 2 pairs on `device`.
fn pairs(device: &Device) -> (Tensor<2>, Tensor<4, Int>) {
    let z = matrix(2, K, 12, 2.0, device);
    (z, image_tensor(&images(2, decoder_image(), 13), device))
}

fn likelihood(decoder: &dyn TrainableDecoder, device: &Device, seed: u64) -> Vec<f32> {
    let (z, x) = pairs(device);
    let ll = decoder.log_likelihood(z, x, seed).unwrap();
    host(ll.expect("this decoder has a likelihood"))
}

#[test]
fn deterministic_decoder_agrees_with_the_cpu() {
    let config = DeterministicConfig::new(K, decoder_image())
        .with_hidden(16)
        .with_base_channels(16)
        .with_loss(DeterministicLoss::DiscretizedLogistic)
        .with_seed(3);
    let run = |device: &Device| {
        let decoder = config.init(spec(), device).unwrap();
        let mean = host(decoder.mean(pairs(device).0).unwrap());
        (mean, likelihood(&decoder, device, 0))
    };
    let [(mean_cpu, ll_cpu), (mean_dev, ll_dev)] = both().map(|d| run(&d));

    assert_close(
        "deterministic: mean",
        &mean_dev,
        &mean_cpu,
        device_tolerance(&mean_cpu),
    );
    assert_close(
        "deterministic: log p(x|z)",
        &ll_dev,
        &ll_cpu,
        device_tolerance(&ll_cpu),
    );
}

#[test]
fn conditional_pixelcnn_decoder_agrees_with_the_cpu() {
    let pixelcnn = PixelCnnConfig::new(decoder_image())
        .with_hidden_channels(12)
        .with_layers(2)
        .with_first_kernel(3)
        .with_head_channels(12)
        .with_head(Head::LogisticMixture(2))
        .with_cond_dim(5);
    let config = PixelCnnDecoderConfig::new(K, pixelcnn).with_seed(4);
    let run = |device: &Device| {
        let decoder = config.init(spec(), device).unwrap();
        likelihood(&decoder, device, 0)
    };
    let [cpu_ll, dev_ll] = both().map(|d| run(&d));

    assert_close(
        "conditional PixelCNN: log p(x|z)",
        &dev_ll,
        &cpu_ll,
        device_tolerance(&cpu_ll),
    );
}

#[test]
fn flow_decoder_agrees_with_the_cpu() {
    // A nonzero output layer, so that every coupling transforms its input at initialisation.
    let config = FlowConfig::new(K, decoder_image())
        .with_levels(2)
        .with_steps_per_level(2)
        .with_hidden_channels(8)
        .with_cond_dim(8)
        .with_output_init_std(0.05)
        .with_seed(5);
    let d = decoder_image().dims();
    let run = |device: &Device| {
        let decoder = config.init(spec(), device).unwrap();
        let ll = likelihood(&decoder, device, 9);
        let latents = matrix(2, d, 14, 1.5, device);
        let y = host(decoder.decode_latents(latents, pairs(device).0).unwrap());
        (ll, y)
    };
    let [(ll_cpu, y_cpu), (ll_dev, y_dev)] = both().map(|d| run(&d));

    assert_close(
        "flow: log p(x|z) bound",
        &ll_dev,
        &ll_cpu,
        device_tolerance(&ll_cpu),
    );
    assert_close("flow: inverse", &y_dev, &y_cpu, device_tolerance(&y_cpu));
}

// ---------------------------------------------------------------------------------------------
// (e) Inception-v3 features

#[test]
fn inception_features_agree_with_the_cpu() {
    // The full topology with every width divided by 16, at its smallest input size.
    let config = InceptionConfig::new()
        .with_width_divisor(16)
        .with_input_size(75);
    let cpu = cpu();
    cpu.seed(17);
    let net = config.init(&cpu).unwrap();
    let on_device = net.clone().to_device(&device());

    // 40×40 images, so that the bilinear resize to 75×75 runs too.
    let batch = images(2, ImageShape::new(3, 40, 40).unwrap(), 31);
    let expected = host(net.features(image_tensor(&batch, &cpu)).unwrap());
    let features = host(on_device.features(image_tensor(&batch, &device())).unwrap());

    assert!(common::max_abs(&expected) > 0.0, "features vanish");
    assert_close(
        "inception features",
        &features,
        &expected,
        device_tolerance(&expected),
    );
}
