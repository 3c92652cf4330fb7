//! Training lowers bits/dim, is reproducible from its seeds, and resumes from a checkpoint
//! exactly; checkpoints round-trip and reject other configs and damaged files.

mod common;

use burn::tensor::Device;
use common::{host, random_images};
use fisher_core::{ImageBatch, ImageShape};
use fisher_pixelcnn::{Error, Head, PixelCnn, TrainConfig, Trainer, evaluate};

/// 64 images of horizontal stripes with a little seeded noise: easy to learn.
fn stripes(shape: ImageShape) -> ImageBatch {
    let noise = common::random_pixels(64, shape, 13);
    let [c, h, w] = shape.to_array();
    let mut data = Vec::with_capacity(64 * shape.dims());
    for n in 0..64 {
        for ch in 0..c {
            for i in 0..h {
                for j in 0..w {
                    let base = if (i + n) % 2 == 0 { 40u8 } else { 200 };
                    let k = ((n * c + ch) * h + i) * w + j;
                    data.push(base + noise[k] % 8);
                }
            }
        }
    }
    ImageBatch::new(data, 64, shape).unwrap()
}

fn train_config() -> TrainConfig {
    TrainConfig::new()
        .with_learning_rate(1e-2)
        .with_batch_size(16)
        .with_seed(3)
}

#[test]
fn training_lowers_bits_per_dim() {
    let device = Device::flex();
    for config in [
        common::tiny_gray(Head::Categorical),
        common::tiny_gray(Head::LogisticMixture(2)),
    ] {
        let data = stripes(config.image);
        let mut trainer = Trainer::new(&config, train_config(), &device).unwrap();
        let before = evaluate(&trainer.valid_model(), &data, None, 32, &device).unwrap();
        let mut seen = Vec::new();
        trainer
            .fit(&data, None, 40, &mut |p| seen.push(p.clone()))
            .unwrap();
        let after = evaluate(&trainer.valid_model(), &data, None, 32, &device).unwrap();

        assert_eq!(seen.len(), 40);
        assert_eq!(seen[39].step, 40);
        assert_eq!(seen[39].epoch, 10, "4 batches per epoch");
        assert!(seen[39].learning_rate < seen[0].learning_rate);
        assert!(
            after.bits_per_dim < before.bits_per_dim - 1.0,
            "{:?}: {} -> {} bits/dim",
            config.head,
            before.bits_per_dim,
            after.bits_per_dim
        );
    }
}

#[test]
fn resumed_training_equals_uninterrupted_training() {
    let device = Device::flex();
    let config = common::tiny_rgb(Head::LogisticMixture(2));
    let data = stripes(config.image);
    let dir = std::env::temp_dir().join(format!("fisher-pixelcnn-resume-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("run.ckpt");

    let mut straight = Trainer::new(&config, train_config(), &device).unwrap();
    straight.fit(&data, None, 6, &mut |_| {}).unwrap();

    let mut first = Trainer::new(&config, train_config(), &device).unwrap();
    first.fit(&data, None, 3, &mut |_| {}).unwrap();
    first.save(&path).unwrap();
    let mut resumed = Trainer::resume(&path, Some(&config), TrainConfig::new(), &device).unwrap();
    assert_eq!(resumed.state(), first.state());
    assert_eq!(resumed.config(), &train_config());
    resumed.fit(&data, None, 3, &mut |_| {}).unwrap();

    assert_eq!(resumed.state(), straight.state());
    assert_eq!(
        resumed.valid_model().fingerprint(),
        straight.valid_model().fingerprint()
    );
    let leftovers: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
    assert_eq!(leftovers.len(), 1, "no temporary files left behind");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn same_seeds_give_the_same_model() {
    let device = Device::flex();
    let config = common::tiny_gray(Head::Categorical);
    let data = stripes(config.image);
    let run = |seed: u64| {
        let mut t = Trainer::new(&config, train_config().with_seed(seed), &device).unwrap();
        t.fit(&data, None, 5, &mut |_| {}).unwrap();
        t.valid_model().fingerprint()
    };
    assert_eq!(run(1), run(1));
    assert_ne!(run(1), run(2));
}

#[test]
fn checkpoint_round_trip_gives_identical_outputs() {
    let device = Device::flex();
    let dir = std::env::temp_dir().join(format!("fisher-pixelcnn-ckpt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (k, config) in common::all_tiny().into_iter().enumerate() {
        let config = config.with_cond_dim(k % 2 * 3);
        let model = config.init(&device).unwrap();
        let path = dir.join(format!("model{k}.ckpt"));
        model.save(&path).unwrap();
        let loaded = PixelCnn::load(&path, Some(&config), &device).unwrap();

        let images = random_images(2, config.image, 4, &device);
        let cond = (config.cond_dim > 0).then(|| common::random_cond(2, 3, 1, &device));
        let a = host(
            model
                .log_likelihood_cond(images.clone(), cond.clone())
                .unwrap(),
        );
        let b = host(loaded.log_likelihood_cond(images, cond).unwrap());
        assert_eq!(a, b);
        assert_eq!(model.fingerprint(), loaded.fingerprint());
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn checkpoint_of_another_config_is_a_typed_error_naming_both() {
    let device = Device::flex();
    let dir = std::env::temp_dir().join(format!("fisher-pixelcnn-other-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("model.ckpt");
    let saved = common::tiny_gray(Head::Categorical);
    saved.init(&device).unwrap().save(&path).unwrap();

    let expected = saved.clone().with_hidden_channels(8);
    match PixelCnn::load(&path, Some(&expected), &device) {
        Err(Error::CheckpointConfig {
            expected: e, found, ..
        }) => {
            assert!(e.contains("\"hidden_channels\":8"), "{e}");
            assert!(found.contains("\"hidden_channels\":4"), "{found}");
        }
        other => panic!("expected a config mismatch, got {other:?}"),
    }
    let resumed = Trainer::resume(&path, Some(&expected), TrainConfig::new(), &device);
    assert!(matches!(resumed, Err(Error::CheckpointConfig { .. })));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn damaged_or_foreign_files_are_format_errors() {
    let device = Device::flex();
    let dir = std::env::temp_dir().join(format!("fisher-pixelcnn-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("model.ckpt");
    common::tiny_gray(Head::Categorical)
        .init(&device)
        .unwrap()
        .save(&path)
        .unwrap();
    let good = std::fs::read(&path).unwrap();

    let mut flipped = good.clone();
    let last = flipped.len() - 10;
    flipped[last] ^= 0xff;
    let cases = [
        flipped,
        good[..good.len() / 2].to_vec(),
        b"not a checkpoint at all".to_vec(),
    ];
    for bytes in cases {
        std::fs::write(&path, bytes).unwrap();
        let result = PixelCnn::load(&path, None, &device);
        assert!(
            matches!(result, Err(Error::Core(fisher_core::Error::Format { .. }))),
            "{result:?}"
        );
    }
    let missing = PixelCnn::load(dir.join("absent.ckpt"), None, &device);
    assert!(matches!(
        missing,
        Err(Error::Core(fisher_core::Error::Io { .. }))
    ));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn training_rejects_data_of_another_shape() {
    let device = Device::flex();
    let config = common::tiny_gray(Head::Categorical);
    let mut trainer = Trainer::new(&config, train_config(), &device).unwrap();
    let wrong = stripes(ImageShape::new(1, 6, 6).unwrap());
    assert!(trainer.fit(&wrong, None, 1, &mut |_| {}).is_err());
    let empty = ImageBatch::empty(config.image);
    assert!(evaluate(&trainer.valid_model(), &empty, None, 8, &device).is_err());
    assert_eq!(trainer.state().step, 0);
}

#[test]
fn conditional_training_uses_the_conditioning() {
    let device = Device::flex();
    let config = common::tiny_gray(Head::Categorical).with_cond_dim(2);
    let data = stripes(config.image);
    let cond: Vec<f32> = (0..64).flat_map(|n| [(n % 2) as f32, 1.0]).collect();
    let mut trainer = Trainer::new(&config, train_config(), &device).unwrap();
    assert!(trainer.fit(&data, None, 1, &mut |_| {}).is_err());
    assert!(
        trainer
            .fit(&data, Some(&cond[..10]), 1, &mut |_| {})
            .is_err()
    );
    trainer.fit(&data, Some(&cond), 8, &mut |_| {}).unwrap();
    let e = evaluate(&trainer.valid_model(), &data, Some(&cond), 32, &device).unwrap();
    assert!(e.bits_per_dim.is_finite());
}
