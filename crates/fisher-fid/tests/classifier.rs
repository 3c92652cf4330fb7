//! The domain classifier: it learns a toy task, training is seeded, files round-trip, and its
//! features separate what it learned to separate.

use burn::tensor::{Device, Int, Tensor, TensorData};
use fisher_core::{FeatureExtractor, ImageBatch, ImageShape};
use fisher_fid::{
    ClassifierConfig, DomainClassifier, Error, SampleCheck, TargetKind, Targets, TrainConfig,
    frechet_distance, image_statistics, train_classifier,
};

const SIDE: usize = 12;

/// Horizontal stripes (class 0) or vertical stripes (class 1), random phase and noise;
/// brightness is a second, independent attribute.
fn stripes(n: usize, seed: u64) -> (ImageBatch, Vec<i32>, Vec<f32>) {
    let shape = ImageShape::new(1, SIDE, SIDE).unwrap();
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    };
    let mut batch = ImageBatch::empty(shape);
    let (mut labels, mut attributes) = (Vec::new(), Vec::new());
    for i in 0..n {
        let class = (i % 2) as i32;
        let bright = (next() % 2) as usize;
        let phase = (next() % 4) as usize;
        let image: Vec<u8> = (0..SIDE * SIDE)
            .map(|p| {
                let (y, x) = (p / SIDE, p % SIDE);
                let on = if class == 0 {
                    (y + phase) % 4 < 2
                } else {
                    (x + phase) % 4 < 2
                };
                let base = if on {
                    150 + 80 * bright
                } else {
                    20 + 60 * bright
                };
                (base + (next() % 24) as usize) as u8
            })
            .collect();
        batch.push(&image).unwrap();
        labels.push(class);
        attributes.extend([class as f32, bright as f32]);
    }
    (batch, labels, attributes)
}

fn class_targets(labels: &[i32], device: &Device) -> Targets {
    let t = Tensor::<1, Int>::from_data(TensorData::new(labels.to_vec(), [labels.len()]), device);
    Targets::Classes(t)
}

fn config(targets: TargetKind, outputs: usize) -> ClassifierConfig {
    ClassifierConfig::new(ImageShape::new(1, SIDE, SIDE).unwrap(), outputs, targets)
        .with_channels(8)
        .with_feature_dim(16)
}

fn train_config(seed: u64) -> TrainConfig {
    TrainConfig::new()
        .with_epochs(4)
        .with_batch_size(16)
        .with_learning_rate(5e-3)
        .with_seed(seed)
}

fn features(model: &DomainClassifier, images: &ImageBatch, device: &Device) -> Vec<f32> {
    let f = model.features(images.to_tensor(device)).unwrap();
    f.into_data().try_into_vec_as().unwrap()
}

fn accuracy(model: &DomainClassifier, images: &ImageBatch, labels: &[i32], device: &Device) -> f64 {
    let x = images.to_float(device, fisher_core::PixelScaling::UnitInterval);
    let logits: Vec<f32> = model.logits(x).into_data().try_into_vec_as().unwrap();
    let right = labels
        .iter()
        .enumerate()
        .filter(|&(i, &y)| (logits[2 * i + 1] > logits[2 * i]) == (y == 1))
        .count();
    right as f64 / labels.len() as f64
}

#[test]
fn learns_classes_reproducibly_and_round_trips() {
    let device = Device::flex();
    let (train, labels, _) = stripes(128, 1);
    let targets = class_targets(&labels, &device);
    let cfg = config(TargetKind::Classes, 2);

    let mut epochs = Vec::new();
    let (model, history) =
        train_classifier(&cfg, &train_config(3), &train, &targets, &device, |e, l| {
            epochs.push((e, l))
        })
        .unwrap();
    assert_eq!(epochs.len(), 4);
    assert!(history[3] < 0.5 * history[0], "loss must fall: {history:?}");

    let (test, test_labels, _) = stripes(64, 2);
    let acc = accuracy(&model, &test, &test_labels, &device);
    assert!(acc >= 0.9, "held-out accuracy {acc}");

    let (again, _) =
        train_classifier(&cfg, &train_config(3), &train, &targets, &device, |_, _| {}).unwrap();
    assert_eq!(
        features(&model, &test, &device),
        features(&again, &test, &device)
    );

    let dir = std::env::temp_dir().join(format!("fisher-fid-cls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("classifier.fcls");
    model.save(&path).unwrap();
    let loaded = DomainClassifier::load(&path, &device).unwrap();
    assert_eq!(loaded.feature_dim(), 16);
    assert_eq!(
        features(&model, &test, &device),
        features(&loaded, &test, &device)
    );

    std::fs::write(&path, b"FISHCLS1 but truncated").unwrap();
    let err = DomainClassifier::load(&path, &device).unwrap_err();
    assert!(
        matches!(err, Error::Core(fisher_core::Error::Format { .. })),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn features_separate_the_learned_classes() {
    let device = Device::flex();
    let (train, _, attributes) = stripes(128, 5);
    let t = Tensor::<2>::from_data(TensorData::new(attributes, [128, 2]), &device);
    let cfg = config(TargetKind::Attributes, 2);
    let (model, history) = train_classifier(
        &cfg,
        &train_config(9),
        &train,
        &Targets::Attributes(t),
        &device,
        |_, _| {},
    )
    .unwrap();
    assert!(history[3] < history[0], "loss must fall: {history:?}");

    let (test, test_labels, _) = stripes(192, 6);
    let pick = |class: i32, half: usize| -> ImageBatch {
        let idx: Vec<usize> = (0..test.len())
            .filter(|&i| test_labels[i] == class && (i / 2) % 2 == half)
            .collect();
        test.select(&idx)
    };
    let stats =
        |b: &ImageBatch| image_statistics(&model, b, 32, &device, SampleCheck::FullRank).unwrap();
    let same = frechet_distance(&stats(&pick(0, 0)), &stats(&pick(0, 1))).unwrap();
    let other = frechet_distance(&stats(&pick(0, 0)), &stats(&pick(1, 1))).unwrap();
    assert!(
        other.value > 5.0 * same.value,
        "same {} vs other {}",
        same.value,
        other.value
    );
}

#[test]
fn mismatched_inputs_are_typed_errors() {
    let device = Device::flex();
    let (train, labels, _) = stripes(8, 1);
    let cfg = config(TargetKind::Classes, 2);
    let short = class_targets(&labels[..5], &device);
    let err = train_classifier(&cfg, &train_config(0), &train, &short, &device, |_, _| {});
    assert!(matches!(
        err,
        Err(Error::Core(fisher_core::Error::Shape { .. }))
    ));

    let wide = ClassifierConfig::new(
        ImageShape::new(3, SIDE, SIDE).unwrap(),
        2,
        TargetKind::Classes,
    );
    let targets = class_targets(&labels, &device);
    let err = train_classifier(
        &wide,
        &train_config(0),
        &train,
        &targets,
        &device,
        |_, _| {},
    );
    assert!(matches!(
        err,
        Err(Error::Core(fisher_core::Error::Shape { .. }))
    ));

    let mut bad = labels.clone();
    bad[3] = 2;
    let err = train_classifier(
        &cfg,
        &train_config(0),
        &train,
        &class_targets(&bad, &device),
        &device,
        |_, _| {},
    );
    assert!(
        matches!(&err, Err(Error::Core(fisher_core::Error::Config { name, .. })) if name.contains("example 3")),
        "{err:?}"
    );

    let attributes = Tensor::<2>::from_data(TensorData::new(vec![1.5f32; 16], [8, 2]), &device);
    let cfg_attr = config(TargetKind::Attributes, 2);
    let err = train_classifier(
        &cfg_attr,
        &train_config(0),
        &train,
        &Targets::Attributes(attributes),
        &device,
        |_, _| {},
    );
    assert!(
        matches!(err, Err(Error::Core(fisher_core::Error::Config { .. }))),
        "{err:?}"
    );

    let model = cfg.init(&device, 0).unwrap();
    let rgb = ImageBatch::new(
        vec![0; 3 * SIDE * SIDE],
        1,
        ImageShape::new(3, SIDE, SIDE).unwrap(),
    );
    assert!(model.features(rgb.unwrap().to_tensor(&device)).is_err());
}
