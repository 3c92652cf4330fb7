//! The conditional flow is invertible and samples repeatably. (Its log-determinant is checked
//! against the brute-force Jacobian in the unit tests of `src/flow/tests.rs`, which need an
//! f64 copy of the private network.)

mod common;

use burn::tensor::{Device, Tensor, TensorData};
use common::{Lcg, blobs, embeddings, host, spec, tensor2};
use fisher_core::{Decoder, ImageBatch, ImageShape, Tolerance};
use fisher_decoder::{FlowConfig, FlowDecoder, FlowPreprocessing};

fn tiny(shape: ImageShape, levels: usize, preprocessing: FlowPreprocessing) -> FlowConfig {
    FlowConfig::new(6, shape)
        .with_levels(levels)
        .with_steps_per_level(2)
        .with_hidden_channels(8)
        .with_cond_dim(8)
        .with_preprocessing(preprocessing)
        .with_output_init_std(0.1)
        .with_seed(5)
}

/// A flow trained a few steps, so that actnorm, 1×1 convolutions and couplings are all far
/// from the identity.
fn trained(
    config: &FlowConfig,
    device: &Device,
    images: ImageBatch,
) -> (FlowDecoder, ImageBatch, Vec<f32>) {
    let n = images.len();
    let z = embeddings(n, 6, 4);
    let mut flow = config.init(spec(6), device).unwrap();
    for _ in 0..3 {
        let loss = flow
            .train_step(tensor2(&z, n, 6, device), images.to_tensor(device))
            .unwrap();
        assert!(loss.is_finite());
    }
    (flow, images, z)
}

/// Dequantised images `(x + u) / 256` with `u` uniform from a seed.
fn dequantised(images: &ImageBatch, device: &Device) -> Tensor<4> {
    let mut rng = Lcg::new(17);
    let values: Vec<f32> = images
        .as_slice()
        .iter()
        .map(|&v| (f32::from(v) + rng.next()) / 256.0)
        .collect();
    let [c, h, w] = images.shape().to_array();
    Tensor::from_data(TensorData::new(values, [images.len(), c, h, w]), device)
}

fn round_trip(config: FlowConfig) {
    let device = Device::flex();
    let (flow, images, z) = trained(&config, &device, blobs(4, config.image, 3));
    let n = images.len();
    let y = dequantised(&images, &device);

    let (latents, _) = flow.encode(y.clone(), tensor2(&z, n, 6, &device)).unwrap();
    let back = flow
        .decode_latents(latents.inner(), tensor2(&z, n, 6, &device))
        .unwrap();
    Tolerance::new(0.0, 1e-4).assert(&host(back), &host(y));
}

#[test]
fn inverse_undoes_forward_with_logit_preprocessing() {
    let shape = ImageShape::new(1, 8, 8).unwrap();
    round_trip(tiny(shape, 2, FlowPreprocessing::Logit));
}

#[test]
fn inverse_undoes_forward_on_rgb_with_centered_preprocessing() {
    let shape = ImageShape::new(3, 4, 4).unwrap();
    round_trip(tiny(shape, 2, FlowPreprocessing::Centered));
}

#[test]
fn latent_shapes_cover_every_dimension() {
    let config = FlowConfig::new(4, ImageShape::new(3, 8, 8).unwrap()).with_levels(3);
    let shapes = config.latent_shapes();
    assert_eq!(shapes, vec![[6, 4, 4], [12, 2, 2], [48, 1, 1]]);
    let total: usize = shapes.iter().map(|s| s.iter().product::<usize>()).sum();
    assert_eq!(total, config.image.dims());
}

#[test]
fn same_seed_same_sample_and_temperature_zero_ignores_the_seed() {
    let device = Device::flex();
    let config = tiny(
        ImageShape::new(1, 8, 8).unwrap(),
        2,
        FlowPreprocessing::Logit,
    );
    let (flow, _, z) = trained(&config, &device, blobs(4, config.image, 3));
    let z = tensor2(&z, 4, 6, &device);
    let a = flow.decode(z.clone(), 9).unwrap();
    let b = flow.decode(z.clone(), 9).unwrap();
    let c = flow.decode(z.clone(), 10).unwrap();
    let (a, b, c) = (
        common::host_int(a),
        common::host_int(b),
        common::host_int(c),
    );
    assert_eq!(a, b);
    assert_ne!(a, c);
    let cold_a = common::host_int(flow.sample(z.clone(), 1, 0.0).unwrap());
    let cold_b = common::host_int(flow.sample(z, 2, 0.0).unwrap());
    assert_eq!(cold_a, cold_b);
}
