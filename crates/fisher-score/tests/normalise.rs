//! Normalisations against direct computations on materialised scores and embeddings.

mod common;

use burn::tensor::Device;
use common::{TinyHead, TinyModel, host, images, max_abs};
use fisher_core::{Embedder, ImageShape, PixelScaling, Tolerance};
use fisher_score::{
    DiagonalFisher, Error, FisherAccumulator, FisherEmbedder, FittedNormalisation, Normalisation,
    Normalised, PixelEmbedder, PostNormalisation, ScoreModel, ScoreProjection, Standardiser,
    materialise_scores,
};

fn device() -> Device {
    Device::flex().autodiff()
}

#[test]
fn diagonal_fisher_is_the_mean_squared_score_plus_damping() {
    let device = device();
    let model = TinyModel::new(1, TinyHead::Logistic, 0, &device, false);
    let d = model.num_free_parameters();
    let data = images(5, model.shape, 4);
    let batches = [data.slice(0, 3), data.slice(3, 5)];

    let fitted =
        DiagonalFisher::fit(&model, batches.iter().map(|b| b.to_tensor(&device)), 1e-2).unwrap();

    let scores = host(materialise_scores(&model, data.to_tensor(&device), None).unwrap());
    let f: Vec<f64> = (0..d)
        .map(|j| {
            (0..5)
                .map(|b| f64::from(scores[b * d + j]).powi(2))
                .sum::<f64>()
                / 5.0
        })
        .collect();
    let lambda = 1e-2 * f.iter().sum::<f64>() / d as f64;
    let expected: Vec<f32> = f
        .iter()
        .map(|v| (1.0 / (v + lambda).sqrt()) as f32)
        .collect();

    assert_eq!(fitted.samples(), 5);
    Tolerance::new(1e-5, 0.0).assert(fitted.factors(), &expected);
}

#[test]
fn whitened_projection_projects_the_scaled_scores() {
    let device = device();
    let model = TinyModel::new(3, TinyHead::Categorical, 0, &device, false);
    let d = model.num_free_parameters();
    let data = images(4, model.shape, 8);
    let fisher = DiagonalFisher::fit(&model, [data.to_tensor(&device)], 1e-3).unwrap();

    let scores = host(materialise_scores(&model, data.to_tensor(&device), None).unwrap());
    let scaled: Vec<f32> = scores
        .iter()
        .enumerate()
        .map(|(i, v)| v * fisher.factors()[i % d])
        .collect();
    let jl = fisher_jl::ProjectionConfig::new(d, 24)
        .with_seed(2)
        .init()
        .unwrap();
    let expected = jl
        .project(ndarray::ArrayView2::from_shape((4, d), &scaled).unwrap())
        .unwrap();
    let expected = expected.as_slice().unwrap();

    let embedder = FisherEmbedder::new(model, ScoreProjection::Host(jl))
        .unwrap()
        .with_diagonal_fisher(fisher)
        .unwrap();
    let z = host(embedder.embed(data.to_tensor(&device)).unwrap());
    Tolerance::new(1e-5, 1e-6 * f64::from(max_abs(expected))).assert(&z, expected);
}

#[test]
fn a_fisher_diagonal_without_samples_or_without_damping_is_refused() {
    let err = FisherAccumulator::new(3).finish(1e-3).unwrap_err();
    assert!(matches!(
        err,
        Error::Core(fisher_core::Error::TooFewSamples { found: 0, .. })
    ));

    let mut acc = FisherAccumulator::new(3);
    acc.add_examples(2);
    let err = acc.finish(0.0).unwrap_err();
    assert!(
        matches!(err, Error::Core(fisher_core::Error::Config { .. })),
        "{err}"
    );

    let err = DiagonalFisher::from_parts(vec![1.0, 0.0], 1, 0.1).unwrap_err();
    assert!(
        matches!(err, Error::Core(fisher_core::Error::Config { .. })),
        "{err}"
    );
}

#[test]
fn a_fisher_diagonal_of_another_length_is_a_mismatch() {
    let device = device();
    let model = TinyModel::new(1, TinyHead::Categorical, 0, &device, false);
    let d = model.num_free_parameters();
    let jl = fisher_jl::ProjectionConfig::new(d, 8).init().unwrap();
    let wrong = DiagonalFisher::from_parts(vec![1.0; d - 1], 1, 0.0).unwrap();
    let err = FisherEmbedder::new(model, jl.into())
        .unwrap()
        .with_diagonal_fisher(wrong)
        .err()
        .unwrap();
    assert!(
        matches!(err, Error::Core(fisher_core::Error::Mismatch { .. })),
        "{err}"
    );
}

fn pixels(shape: ImageShape) -> PixelEmbedder {
    PixelEmbedder::new(shape, PixelScaling::UnitInterval, None).unwrap()
}

#[test]
fn standardised_embeddings_have_zero_mean_and_unit_deviation_on_the_training_set() {
    let device = Device::flex();
    let shape = ImageShape::new(1, 3, 3).unwrap();
    let data = images(7, shape, 12);
    let batches = || {
        (0..7)
            .step_by(3)
            .map(|s| data.slice(s, s + 3).to_tensor(&device))
    };

    let stats = Standardiser::fit(&pixels(shape), batches()).unwrap();
    assert_eq!(stats.samples(), 7);

    let raw = host(pixels(shape).embed(data.to_tensor(&device)).unwrap());
    for j in 0..9 {
        let column: Vec<f64> = (0..7).map(|b| f64::from(raw[b * 9 + j])).collect();
        let mean = column.iter().sum::<f64>() / 7.0;
        let var = column.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / 7.0;
        assert!((stats.mean()[j] - mean).abs() < 1e-12, "mean {j}");
        assert!((stats.std()[j] - var.sqrt()).abs() < 1e-12, "std {j}");
    }

    let post = PostNormalisation::Standardise(stats);
    let z = Normalised::new(Box::new(pixels(shape)), post).unwrap();
    let z = host(z.embed(data.to_tensor(&device)).unwrap());
    for j in 0..9 {
        let column: Vec<f64> = (0..7).map(|b| f64::from(z[b * 9 + j])).collect();
        let mean = column.iter().sum::<f64>() / 7.0;
        let var = column.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / 7.0;
        assert!(
            mean.abs() < 1e-5 && (var - 1.0).abs() < 1e-4,
            "dim {j}: {mean} {var}"
        );
    }
}

#[test]
fn standardising_needs_two_examples() {
    let device = Device::flex();
    let shape = ImageShape::new(1, 2, 2).unwrap();
    let one = images(1, shape, 1).to_tensor(&device);
    let err = Standardiser::fit(&pixels(shape), [one]).unwrap_err();
    assert!(matches!(
        err,
        Error::Core(fisher_core::Error::TooFewSamples { needed: 2, .. })
    ));
}

#[test]
fn inv_sqrt_d_divides_by_the_root_of_the_input_length() {
    let device = Device::flex();
    let shape = ImageShape::new(3, 2, 2).unwrap();
    let data = images(2, shape, 3).to_tensor(&device);
    let raw = host(pixels(shape).embed(data.clone()).unwrap());
    let scaled = Normalised::new(
        Box::new(pixels(shape)),
        PostNormalisation::InvSqrtDim { d: 12 },
    )
    .unwrap();
    let scaled = host(scaled.embed(data).unwrap());
    let expected: Vec<f32> = raw.iter().map(|v| v / 12f32.sqrt()).collect();
    Tolerance::new(1e-6, 0.0).assert(&scaled, &expected);
}

#[test]
fn normalisations_print_and_parse_back() {
    for n in [
        Normalisation::None,
        Normalisation::InvSqrtDim,
        Normalisation::DiagonalFisher { damping: 0.25 },
        Normalisation::Standardise,
    ] {
        assert_eq!(n.to_string().parse::<Normalisation>().unwrap(), n);
    }
    assert_eq!(
        "diag-fisher".parse::<Normalisation>().unwrap(),
        Normalisation::DiagonalFisher {
            damping: Normalisation::DEFAULT_DAMPING
        }
    );
    for bad in [
        "",
        "fisher",
        "diag-fisher:-1",
        "diag-fisher:x",
        "diag-fisher:inf",
    ] {
        assert!(bad.parse::<Normalisation>().is_err(), "{bad}");
    }
}

#[test]
fn fitted_statistics_survive_a_file() {
    let dir = std::env::temp_dir().join(format!("fisher-score-norm-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let meta: std::collections::BTreeMap<String, String> =
        [("checkpoint_sha256".to_string(), "abc".to_string())].into();

    let fisher = FittedNormalisation::DiagonalFisher(
        DiagonalFisher::from_parts(vec![0.5, 2.0, 1.0], 10, 1e-3).unwrap(),
    );
    let stats = FittedNormalisation::Standardise(
        Standardiser::from_parts(vec![0.1, -3.0], vec![1.5, 0.0], 4).unwrap(),
    );
    for (name, fitted) in [("f.safetensors", fisher), ("s.safetensors", stats)] {
        let path = dir.join(name);
        fitted.write(&path, meta.clone()).unwrap();
        let (back, map) = FittedNormalisation::read(&path).unwrap();
        assert_eq!(back, fitted);
        assert_eq!(map["checkpoint_sha256"], "abc");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn micro_batches_give_the_same_embeddings() {
    let device = device();
    let model = || TinyModel::new(1, TinyHead::Categorical, 0, &device, false);
    let d = model().num_free_parameters();
    let jl = || {
        fisher_jl::ProjectionConfig::new(d, 16)
            .with_seed(5)
            .init()
            .unwrap()
    };
    let data = images(7, model().shape, 3).to_tensor(&device);

    let whole = FisherEmbedder::new(model(), jl().into()).unwrap();
    let parts = FisherEmbedder::new(model(), jl().into())
        .unwrap()
        .with_micro_batch(3)
        .unwrap();
    let a = host(whole.embed(data.clone()).unwrap());
    let b = host(parts.embed(data).unwrap());
    assert_eq!(a.len(), 7 * 16);
    Tolerance::new(1e-5, 1e-6 * f64::from(max_abs(&a))).assert(&b, &a);
    assert!(
        FisherEmbedder::new(model(), jl().into())
            .unwrap()
            .with_micro_batch(0)
            .is_err()
    );
}

#[test]
fn micro_batches_side_by_side_equal_each_micro_batch_alone() {
    let device = device();
    let model = || TinyModel::new(1, TinyHead::Logistic, 0, &device, false);
    let d = model().num_free_parameters();
    let jl = || {
        fisher_jl::ProjectionConfig::new(d, 16)
            .with_seed(9)
            .init()
            .unwrap()
    };
    let data = images(9, model().shape, 4);
    let parts = FisherEmbedder::new(model(), jl().into())
        .unwrap()
        .with_micro_batch(2)
        .unwrap();
    let together = host(parts.embed(data.to_tensor(&device)).unwrap());

    // The same micro-batches one after the other, each on its own: the same bits.
    let alone = FisherEmbedder::new(model(), jl().into()).unwrap();
    let mut expected = Vec::new();
    for start in (0..9).step_by(2) {
        let part = data.slice(start, start + 2);
        expected.extend(host(alone.embed(part.to_tensor(&device)).unwrap()));
    }
    assert_eq!(together, expected);
}
