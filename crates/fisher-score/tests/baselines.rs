//! The activation and pixel baselines: same output format, same projections.

mod common;

use burn::tensor::Device;
use common::{TinyHead, TinyModel, host, images};
use fisher_core::{Embedder, ImageShape, PixelScaling, Tolerance};
use fisher_score::{ActivationEmbedder, Error, PixelEmbedder, ScoreProjection, layer_inputs};

#[test]
fn pixels_are_scaled_flattened_and_projected() {
    let device = Device::flex();
    let shape = ImageShape::new(3, 2, 3).unwrap();
    let data = images(4, shape, 6);

    let raw = PixelEmbedder::new(shape, PixelScaling::Symmetric, None).unwrap();
    assert_eq!(raw.embedding_dim(), 18);
    let z = host(raw.embed(data.to_tensor(&device)).unwrap());
    let expected: Vec<f32> = data
        .as_slice()
        .iter()
        .map(|&v| f32::from(v) * 2.0 / 255.0 - 1.0)
        .collect();
    Tolerance::new(1e-6, 1e-7).assert(&z, &expected);

    let jl = fisher_jl::ProjectionConfig::new(18, 9)
        .with_seed(1)
        .init()
        .unwrap();
    let want = jl
        .project(ndarray::ArrayView2::from_shape((4, 18), &expected).unwrap())
        .unwrap();
    let projected = PixelEmbedder::new(shape, PixelScaling::Symmetric, Some(jl.into())).unwrap();
    assert_eq!(projected.embedding_dim(), 9);
    let z = host(projected.embed(data.to_tensor(&device)).unwrap());
    Tolerance::new(1e-5, 1e-6).assert(&z, want.as_slice().unwrap());
}

#[test]
fn activations_are_the_recorded_layer_inputs() {
    let device = Device::flex().autodiff();
    let model = TinyModel::new(1, TinyHead::Categorical, 0, &device, false);
    let data = images(3, model.shape, 2);

    let layers = layer_inputs(&model, &device).unwrap();
    let names: Vec<&str> = layers.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["conv1", "pool", "conv2", "conv3", "out"]);
    assert_eq!(layers[0].1, 25);
    assert_eq!(layers[1].1, 4);
    assert_eq!(layers[2].1, 4 * 25);

    // The first layer reads the scaled image itself.
    let first = ActivationEmbedder::new(model, 0, None, &device).unwrap();
    let z = host(first.embed(data.to_tensor(&device)).unwrap());
    let expected: Vec<f32> = data
        .as_slice()
        .iter()
        .map(|&v| f32::from(v) * 2.0 / 255.0 - 1.0)
        .collect();
    Tolerance::new(1e-6, 1e-7).assert(&z, &expected);
}

#[test]
fn a_projected_activation_is_the_projection_of_the_activation() {
    let device = Device::flex().autodiff();
    let model = || TinyModel::new(3, TinyHead::Logistic, 0, &device, false);
    let data = images(2, model().shape, 5).to_tensor(&device);

    let raw = ActivationEmbedder::new(model(), 3, None, &device).unwrap();
    let x = host(raw.embed(data.clone()).unwrap());
    let jl = fisher_jl::ProjectionConfig::new(100, 8)
        .with_seed(3)
        .init()
        .unwrap();
    let want = jl
        .project(ndarray::ArrayView2::from_shape((2, 100), &x).unwrap())
        .unwrap();

    let projected =
        ActivationEmbedder::new(model(), 3, Some(ScoreProjection::Host(jl)), &device).unwrap();
    let z = host(projected.embed(data).unwrap());
    assert_eq!(z, want.as_slice().unwrap());
}

#[test]
fn a_missing_layer_or_a_misfit_projection_is_refused() {
    let device = Device::flex().autodiff();
    let model = || TinyModel::new(1, TinyHead::Categorical, 0, &device, false);
    let err = ActivationEmbedder::new(model(), 5, None, &device)
        .err()
        .unwrap();
    assert!(
        matches!(err, Error::Core(fisher_core::Error::Config { .. })),
        "{err}"
    );

    let jl = fisher_jl::ProjectionConfig::new(24, 8).init().unwrap();
    let err = ActivationEmbedder::new(model(), 0, Some(jl.into()), &device)
        .err()
        .unwrap();
    assert!(
        matches!(err, Error::Core(fisher_core::Error::Mismatch { .. })),
        "{err}"
    );

    let shape = ImageShape::new(1, 5, 5).unwrap();
    let jl = fisher_jl::ProjectionConfig::new(24, 8).init().unwrap();
    let err = PixelEmbedder::new(shape, PixelScaling::Raw, Some(jl.into()))
        .err()
        .unwrap();
    assert!(
        matches!(err, Error::Core(fisher_core::Error::Mismatch { .. })),
        "{err}"
    );
}

#[test]
fn pixelcnn_activations_need_no_autodiff_and_match_the_autodiff_device() {
    use fisher_pixelcnn::{Head, PixelCnnConfig};
    let config = PixelCnnConfig::new(ImageShape::new(1, 5, 5).unwrap())
        .with_hidden_channels(4)
        .with_layers(2)
        .with_first_kernel(3)
        .with_head_channels(6)
        .with_head(Head::LogisticMixture(2))
        .with_seed(2);
    let data = images(3, config.image, 8);
    let mut out = Vec::new();
    for device in [Device::flex(), Device::flex().autodiff()] {
        let model = config.init(&device).unwrap();
        let layers = layer_inputs(&model, &device).unwrap();
        let last = layers.len() - 1;
        let e = ActivationEmbedder::new(model, last, None, &device).unwrap();
        out.push(host(e.embed(data.to_tensor(&device)).unwrap()));
    }
    assert_eq!(out[0].len(), 3 * 6 * 25);
    Tolerance::new(1e-6, 1e-7).assert(&out[0], &out[1]);
}
