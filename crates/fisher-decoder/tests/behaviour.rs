//! What every decoder promises: the output depends on `z`; the same `z` and seed give the
//! same images; embeddings from another space, of another dimension, or images of another
//! shape are typed errors naming both values; checkpoints round-trip, resume, and refuse a
//! config of another architecture.

mod common;

use burn::tensor::{Device, Int, Tensor};
use common::{blobs, embeddings, host_int, spec, tensor2};
use fisher_core::{Decoder, ImageShape};
use fisher_decoder::{
    AnyDecoder, DecoderConfig, DeterministicConfig, EmbeddingSpec, Error, FitOptions, FlowConfig,
    Pairs, PixelCnnDecoderConfig, TrainableDecoder, decode_embeddings, evaluate, fit,
};
use fisher_pixelcnn::{Head, PixelCnnConfig};

const K: usize = 6;

fn shape() -> ImageShape {
    ImageShape::new(1, 4, 4).unwrap()
}

/// One tiny config of each kind.
fn configs() -> Vec<DecoderConfig> {
    let pixelcnn = PixelCnnConfig::new(shape())
        .with_hidden_channels(8)
        .with_layers(2)
        .with_first_kernel(3)
        .with_head_channels(8)
        .with_head(Head::LogisticMixture(2))
        .with_cond_dim(8)
        .with_seed(1);
    vec![
        DecoderConfig::Deterministic(
            DeterministicConfig::new(K, shape())
                .with_hidden(16)
                .with_base_channels(8)
                .with_upsamplings(1),
        ),
        DecoderConfig::PixelCnn(PixelCnnDecoderConfig::new(K, pixelcnn)),
        DecoderConfig::Flow(
            FlowConfig::new(K, shape())
                .with_levels(1)
                .with_steps_per_level(2)
                .with_hidden_channels(8)
                .with_cond_dim(8)
                .with_output_init_std(0.05),
        ),
    ]
}

/// A decoder of `config` trained `steps` full-batch steps on four pairs.
fn trained(config: &DecoderConfig, steps: usize) -> AnyDecoder {
    let device = Device::flex();
    let mut decoder = config.init(spec(K), &device).unwrap();
    let (images, z) = (blobs(4, shape(), 5), embeddings(4, K, 6));
    for _ in 0..steps {
        decoder
            .train_step(tensor2(&z, 4, K, &device), images.to_tensor(&device))
            .unwrap();
    }
    decoder
}

fn decode(decoder: &AnyDecoder, z: &[f32], seed: u64) -> Vec<i64> {
    let device = Device::flex();
    host_int(
        decoder
            .decode(tensor2(z, z.len() / K, K, &device), seed)
            .unwrap(),
    )
}

#[test]
fn same_z_and_seed_give_the_same_images_and_another_z_changes_them() {
    for config in configs() {
        let decoder = trained(&config, 100);
        let z = embeddings(3, K, 7);
        let other = embeddings(3, K, 8);
        let first = decode(&decoder, &z, 4);
        assert_eq!(first, decode(&decoder, &z, 4), "{:?}", config.kind());
        assert_ne!(first, decode(&decoder, &other, 4), "{:?}", config.kind());
        assert!(first.iter().all(|v| (0..=255).contains(v)));

        // Per image too: swapping the first two training embeddings swaps what the first
        // two reconstructions are.
        let trained_z = embeddings(4, K, 6);
        let mut swapped = trained_z.clone();
        swapped[..K].copy_from_slice(&trained_z[K..2 * K]);
        swapped[K..2 * K].copy_from_slice(&trained_z[..K]);
        let device = Device::flex();
        let rebuild = |z: &[f32]| host_int(decoder.reconstruct(tensor2(z, 4, K, &device)).unwrap());
        let (straight, crossed) = (rebuild(&trained_z), rebuild(&swapped));
        let d = shape().dims();
        assert_ne!(straight[..d], crossed[..d], "{:?}", config.kind());
        assert_eq!(straight[..d], crossed[d..2 * d], "{:?}", config.kind());
    }
}

#[test]
fn sampling_decoders_depend_on_the_seed_and_greedy_does_not() {
    let configs = configs();
    let z = embeddings(3, K, 7);
    for config in &configs[1..] {
        let decoder = trained(config, 100);
        assert_ne!(
            decode(&decoder, &z, 1),
            decode(&decoder, &z, 2),
            "{:?}",
            config.kind()
        );
        let device = Device::flex();
        let a = decoder.reconstruct(tensor2(&z, 3, K, &device)).unwrap();
        let b = decoder.reconstruct(tensor2(&z, 3, K, &device)).unwrap();
        assert_eq!(host_int(a), host_int(b));
    }
}

#[test]
fn embeddings_from_another_space_are_a_typed_error() {
    let device = Device::flex();
    let images = blobs(4, shape(), 5);
    let z = embeddings(4, K, 6);
    for config in configs() {
        let mut decoder = config.init(spec(K), &device).unwrap();
        let others = [
            EmbeddingSpec::new(K, "sparse-jl", 12).with_normalisation("none"),
            EmbeddingSpec::new(K, "dense-gaussian", 11),
            spec(K).with_method("pixels"),
            spec(K).with_normalisation("whiten"),
        ];
        for other in &others {
            let pairs = Pairs::new(other, &z, &images).unwrap();
            let options = FitOptions::default();
            let err = fit(&mut decoder, &pairs, &options, &device, |_| {}).unwrap_err();
            assert!(matches!(err, Error::EmbeddingMismatch { .. }), "{err}");
            let err = evaluate(&decoder, &pairs, 4, 0, &device).unwrap_err();
            assert!(matches!(err, Error::EmbeddingMismatch { .. }), "{err}");
            let err = decode_embeddings(&decoder, other, &z, 0, &device).unwrap_err();
            let message = err.to_string();
            assert!(matches!(err, Error::EmbeddingMismatch { .. }), "{message}");
            assert!(message.contains(&other.to_string()), "{message}");
            assert!(message.contains(&spec(K).to_string()), "{message}");
        }

        // A spec that only lacks optional fields is the same space.
        let partial = EmbeddingSpec::new(K, "sparse-jl", 11);
        assert!(decode_embeddings(&decoder, &partial, &z, 0, &device).is_ok());
        assert_eq!(decoder.steps(), 0, "a refused fit must not train");
    }
}

#[test]
fn wrong_dimensions_are_typed_errors() {
    let device = Device::flex();
    let images = blobs(4, shape(), 5);
    for config in configs() {
        let mut decoder = config.init(spec(K), &device).unwrap();
        let wide = embeddings(4, K + 1, 1);

        let err = decoder
            .decode(tensor2(&wide, 4, K + 1, &device), 0)
            .unwrap_err();
        assert!(matches!(err, fisher_core::Error::Shape { .. }), "{err}");
        assert!(
            err.to_string().contains(&format!("[4, {}]", K + 1)),
            "{err}"
        );
        let z = tensor2(&wide, 4, K + 1, &device);
        let err = decoder
            .train_step(z, images.to_tensor(&device))
            .unwrap_err();
        assert!(matches!(err, fisher_core::Error::Shape { .. }), "{err}");

        let wide_spec = spec(K + 1);
        let err = decode_embeddings(&decoder, &wide_spec, &wide, 0, &device).unwrap_err();
        assert!(
            matches!(
                err,
                Error::EmbeddingMismatch {
                    field: "dimension k",
                    ..
                }
            ),
            "{err}"
        );

        let z = embeddings(3, K, 1);
        let err = decoder
            .train_step(tensor2(&z, 3, K, &device), images.to_tensor(&device))
            .unwrap_err();
        assert!(err.to_string().contains("[3, 1, 4, 4]"), "{err}");
        let big: Tensor<4, Int> = Tensor::zeros([3, 1, 8, 8], &device);
        let err = decoder
            .train_step(tensor2(&z, 3, K, &device), big)
            .unwrap_err();
        assert!(matches!(err, fisher_core::Error::Shape { .. }), "{err}");

        let wrong_k = config.init(spec(K + 2), &device).err().expect("k differs");
        assert!(
            wrong_k.to_string().contains(&(K + 2).to_string()),
            "{wrong_k}"
        );
    }
}

#[test]
fn checkpoints_round_trip_and_resume() {
    let device = Device::flex();
    let folder = std::env::temp_dir().join(format!("fisher-decoder-ckpt-{}", std::process::id()));
    std::fs::create_dir_all(&folder).unwrap();
    let images = blobs(4, shape(), 5);
    let z = embeddings(4, K, 6);
    let spec = spec(K);
    let pairs = Pairs::new(&spec, &z, &images).unwrap();

    for (i, config) in configs().into_iter().enumerate() {
        let path = folder.join(format!("decoder-{i}.ckpt"));
        let options = |epochs| FitOptions {
            epochs,
            batch_size: 2,
            seed: 3,
            checkpoint: Some(path.clone()),
            checkpoint_every: 0,
            step_limit: None,
        };

        // Straight through 4 epochs vs 2 epochs, reload, 2 more.
        let mut straight = config.init(spec.clone(), &device).unwrap();
        fit(&mut straight, &pairs, &options(4), &device, |_| {}).unwrap();
        let mut first = config.init(spec.clone(), &device).unwrap();
        fit(&mut first, &pairs, &options(2), &device, |_| {}).unwrap();
        assert_eq!(first.steps(), 4);

        let reloaded = AnyDecoder::load(&path, &device).unwrap();
        assert_eq!(reloaded.steps(), 4);
        assert_eq!(reloaded.spec(), &spec);
        assert_eq!(
            decode(&reloaded, &z, 9),
            decode(&first, &z, 9),
            "{:?}",
            config.kind()
        );

        let mut resumed = reloaded;
        let limited = FitOptions {
            step_limit: Some(3),
            ..options(4)
        };
        let report = fit(&mut resumed, &pairs, &limited, &device, |_| {}).unwrap();
        assert_eq!((report.steps_run, resumed.steps()), (3, 7));
        let report = fit(&mut resumed, &pairs, &options(4), &device, |_| {}).unwrap();
        assert_eq!((report.steps_run, resumed.steps()), (1, 8));
        let (a, b) = (decode(&resumed, &z, 9), decode(&straight, &z, 9));
        assert_eq!(
            a,
            b,
            "{:?}: resumed differs from uninterrupted",
            config.kind()
        );
        std::fs::remove_file(&path).unwrap();
    }
    std::fs::remove_dir_all(&folder).unwrap();
}

#[test]
fn a_checkpoint_of_another_architecture_is_a_typed_error_naming_both_values() {
    let device = Device::flex();
    let path =
        std::env::temp_dir().join(format!("fisher-decoder-arch-{}.ckpt", std::process::id()));
    let narrow = FlowConfig::new(K, shape())
        .with_levels(1)
        .with_hidden_channels(8);
    let decoder = narrow.init(spec(K), &device).unwrap();
    decoder.save(&path).unwrap();

    let wide = narrow.clone().with_hidden_channels(12);
    let err = AnyDecoder::load_with(&path, &DecoderConfig::Flow(wide), &device)
        .err()
        .expect("architectures differ");
    let message = err.to_string();
    assert!(matches!(err, Error::CheckpointMismatch { .. }), "{message}");
    assert!(message.contains("hidden_channels"), "{message}");
    assert!(message.contains('8') && message.contains("12"), "{message}");

    let other_kind = DecoderConfig::Deterministic(DeterministicConfig::new(K, shape()));
    let err = AnyDecoder::load_with(&path, &other_kind, &device)
        .err()
        .expect("kinds differ");
    assert!(err.to_string().contains("flow") && err.to_string().contains("deterministic"));

    // Learning rate and seed may change on resume.
    let retuned = narrow.with_learning_rate(1e-4).with_seed(99);
    assert!(AnyDecoder::load_with(&path, &DecoderConfig::Flow(retuned), &device).is_ok());

    let mut bytes = std::fs::read(&path).unwrap();
    bytes.truncate(bytes.len() - 10);
    std::fs::write(&path, &bytes).unwrap();
    let err = AnyDecoder::load(&path, &device).err().expect("truncated");
    assert!(err.to_string().contains("truncated"), "{err}");
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn warm_start_copies_an_unconditional_pixelcnn() {
    let device = Device::flex();
    let arch = PixelCnnConfig::new(shape())
        .with_hidden_channels(8)
        .with_layers(2)
        .with_first_kernel(3)
        .with_head_channels(8)
        .with_head(Head::LogisticMixture(2));
    let unconditional = arch.clone().with_seed(9).init(&device).unwrap();
    let config = PixelCnnDecoderConfig::new(K, arch.clone().with_cond_dim(8).with_seed(1));
    let mut decoder = config.init(spec(K), &device).unwrap();

    // z = 0 gives zero features (the map z ↦ c has zero bias at init), so the decoder's
    // likelihood is then the PixelCNN's own.
    let images = blobs(3, shape(), 2);
    let zeros = vec![0.0; 3 * K];
    let ll = |d: &fisher_decoder::PixelCnnDecoder| {
        let z = tensor2(&zeros, 3, K, &device);
        let ll = d.log_likelihood(z, images.to_tensor(&device), 0).unwrap();
        common::host(ll.unwrap())
    };
    use fisher_core::DensityModel;
    let reference = common::host(
        unconditional
            .log_likelihood(images.to_tensor(&device))
            .unwrap(),
    );
    assert!((ll(&decoder)[0] - reference[0]).abs() > 1e-3);
    decoder.warm_start(&unconditional).unwrap();
    fisher_core::Tolerance::new(1e-5, 1e-4).assert(&ll(&decoder), &reference);

    let wider = arch.with_hidden_channels(12).init(&device).unwrap();
    let err = decoder.warm_start(&wider).unwrap_err().to_string();
    assert!(
        err.contains("hidden_channels") && err.contains("12"),
        "{err}"
    );

    let z = embeddings(3, K, 1);
    decoder
        .train_step(tensor2(&z, 3, K, &device), images.to_tensor(&device))
        .unwrap();
    assert!(decoder.warm_start(&unconditional).is_err());
}
