//! The Burn Inception-v3 against PyTorch on the same TorchScript file, its layer table
//! against the real weights file's manifest, and the loader's errors.

mod common;

use std::path::Path;

use burn::module::Module;
use burn::tensor::{Device, Int, Tensor, TensorData};
use common::{Leaf, Node, archive_bytes, fixture, values};
use fisher_core::{FeatureExtractor, Tolerance};
use fisher_fid::torchscript::TorchArchive;
use fisher_fid::{Error, InceptionConfig, InceptionV3};
use ndarray::{Array2, Array4};
use ndarray_npy::NpzReader;

fn tiny_config() -> InceptionConfig {
    InceptionConfig::new().with_width_divisor(64)
}

fn images(array: Array4<u8>, device: &Device) -> Tensor<4, Int> {
    let shape: [usize; 4] = array.shape().try_into().unwrap();
    let values: Vec<i32> = array.iter().map(|&v| i32::from(v)).collect();
    Tensor::from_data(TensorData::new(values, shape), device)
}

/// `tiny_inception.py` ran PyTorch on these images with the archive; we must agree.
#[test]
fn tiny_network_matches_pytorch_features() {
    let device = Device::flex();
    let net = InceptionV3::load(&fixture("tiny_inception.pt"), &tiny_config(), &device).unwrap();
    let file = std::fs::File::open(fixture("tiny_inception_features.npz")).unwrap();
    let mut npz = NpzReader::new(file).unwrap();

    for set in ["rgb", "gray"] {
        let pixels: Array4<u8> = npz.by_name(set).unwrap();
        let expected: Array2<f32> = npz.by_name(&format!("{set}_features")).unwrap();
        let got = net.features(images(pixels, &device)).unwrap();
        assert_eq!(got.dims(), [expected.nrows(), expected.ncols()]);
        let got: Vec<f32> = got.into_data().try_into_vec_as().unwrap();
        Tolerance::new(1e-4, 1e-6).assert(&got, expected.as_slice().unwrap());
        assert!(
            expected.iter().any(|&v| v > 0.1),
            "{set}: features must not vanish"
        );
    }

    let big = Array4::from_shape_fn((1, 3, 320, 352), |(_, c, y, x)| {
        ((y * 7 + x * 13 + c * 50) % 256) as u8
    });
    let expected: Array2<f32> = npz.by_name("big_features").unwrap();
    let got = net.features(images(big, &device)).unwrap();
    let got: Vec<f32> = got.into_data().try_into_vec_as().unwrap();
    Tolerance::new(1e-4, 1e-6).assert(&got, expected.as_slice().unwrap());
}

struct Manifest {
    tensors: Vec<(String, Vec<usize>)>,
    settings: Vec<(String, Vec<usize>)>,
}

/// `inception_manifest.txt`, written by `inception_manifest.py` from the real weights file.
fn manifest() -> Manifest {
    let text = std::fs::read_to_string(fixture("inception_manifest.txt")).unwrap();
    let mut m = Manifest {
        tensors: Vec::new(),
        settings: Vec::new(),
    };
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let mut parts = line.split_whitespace();
        let kind = parts.next().unwrap();
        let name = parts.next().unwrap().to_string();
        let dims: Vec<usize> = parts.map(|p| p.parse().unwrap()).collect();
        match kind {
            "T" => m.tensors.push((name, dims)),
            _ => m.settings.push((name, dims)),
        }
    }
    m
}

#[test]
fn layer_table_matches_the_real_weights_file() {
    let m = manifest();
    let (specs, width) = InceptionConfig::new().layers();
    assert_eq!(width, 2048);

    let mut ours: Vec<(String, Vec<usize>)> = Vec::new();
    let mut settings: Vec<(String, Vec<usize>)> = Vec::new();
    for s in &specs {
        ours.push((format!("{}.weight", s.name), s.weight_shape().to_vec()));
        for v in ["beta", "mean", "var"] {
            ours.push((format!("{}.{v}", s.name), vec![s.output]));
        }
        settings.push((format!("{}.stride", s.name), vec![s.stride]));
        let padding = if s.padding[0] == s.padding[1] {
            vec![s.padding[0]]
        } else {
            s.padding.to_vec()
        };
        settings.push((format!("{}.padding", s.name), padding));
    }
    let sorted = |mut v: Vec<(String, Vec<usize>)>| {
        v.sort();
        v
    };
    assert_eq!(sorted(ours), sorted(m.tensors.clone()));
    assert_eq!(sorted(settings), sorted(m.settings));

    let total: usize = m
        .tensors
        .iter()
        .map(|(_, d)| d.iter().product::<usize>())
        .sum();
    assert_eq!(total, 21_802_784);
    assert_eq!(InceptionConfig::new().file_parameters(), total);
}

#[test]
fn burn_network_has_the_folded_parameter_count() {
    let m = manifest();
    let outputs: usize = m
        .tensors
        .iter()
        .filter(|(n, _)| n.ends_with(".beta"))
        .map(|(_, d)| d[0])
        .sum();
    let net = InceptionConfig::new().init(&Device::flex()).unwrap();
    // beta, mean and var fold into one bias per output channel.
    assert_eq!(net.num_params(), 21_802_784 - 2 * outputs);
    assert_eq!(net.feature_dim(), 2048);
}

/// An Inception-shaped archive for `config`, with `edit` applied to the tree's leaves.
fn built_archive(config: &InceptionConfig, edit: impl Fn(&str, Leaf) -> Option<Leaf>) -> Vec<u8> {
    let mut root = Node::default();
    let (specs, _) = config.layers();
    for (i, s) in specs.iter().enumerate() {
        let shape = s.weight_shape().to_vec();
        let n: usize = shape.iter().product();
        let mut leaves = vec![
            ("weight", Leaf::Tensor(shape, values(n, i as u64))),
            ("beta", Leaf::Tensor(vec![s.output], values(s.output, 7))),
            ("mean", Leaf::Tensor(vec![s.output], values(s.output, 8))),
            ("var", Leaf::Tensor(vec![s.output], vec![1.0; s.output])),
            ("stride", Leaf::Int(s.stride as i64)),
        ];
        leaves.push(if s.padding[0] == s.padding[1] {
            ("padding", Leaf::Int(s.padding[0] as i64))
        } else {
            (
                "padding",
                Leaf::Ints(s.padding.iter().map(|&p| p as i64).collect()),
            )
        });
        for (key, leaf) in leaves {
            let name = format!("{}.{key}", s.name);
            if let Some(leaf) = edit(&name, leaf) {
                root.insert(&name, leaf);
            }
        }
    }
    archive_bytes("model", &root)
}

fn load(bytes: Vec<u8>, config: &InceptionConfig) -> Result<InceptionV3, Error> {
    let archive = TorchArchive::from_bytes(bytes, Path::new("built.pt"))?;
    InceptionV3::from_archive(archive, config, &Device::flex())
}

#[test]
fn complete_built_archive_loads() {
    let config = tiny_config();
    let net = load(built_archive(&config, |_, l| Some(l)), &config).unwrap();
    assert_eq!(net.feature_dim(), 32);
}

#[test]
fn missing_tensor_is_named() {
    let config = tiny_config();
    let gone = "net.layers.mixed_5.tower_1.conv_3.mean";
    let bytes = built_archive(&config, |n, l| (n != gone).then_some(l));
    match load(bytes, &config) {
        Err(Error::MissingTensor { name, .. }) => assert_eq!(name, gone),
        other => panic!("expected MissingTensor, got {other:?}"),
    }
}

#[test]
fn misshapen_tensor_is_named() {
    let config = tiny_config();
    let target = "net.layers.mixed_9.tower_1_conv_1.weight";
    let bytes = built_archive(&config, |n, l| match l {
        Leaf::Tensor(mut shape, v) if n == target => {
            shape.swap(0, 1);
            Some(Leaf::Tensor(shape, v))
        }
        other => Some(other),
    });
    match load(bytes, &config) {
        Err(Error::TensorShape {
            name,
            expected,
            found,
            ..
        }) => {
            assert_eq!(name, target);
            assert_eq!(expected, vec![6, 7, 3, 3]);
            assert_eq!(found, vec![7, 6, 3, 3]);
        }
        other => panic!("expected TensorShape, got {other:?}"),
    }

    let wrong_width = InceptionConfig::new().with_width_divisor(32);
    let err = InceptionV3::load(&fixture("tiny_inception.pt"), &wrong_width, &Device::flex());
    assert!(matches!(err, Err(Error::TensorShape { .. })), "{err:?}");
}

#[test]
fn wrong_layer_setting_is_a_mismatch() {
    let config = tiny_config();
    let target = "net.layers.mixed_3.conv.stride";
    let bytes = built_archive(&config, |n, l| {
        Some(if n == target { Leaf::Int(1) } else { l })
    });
    let err = load(bytes, &config).unwrap_err();
    assert!(
        matches!(&err, Error::Core(fisher_core::Error::Mismatch { what, .. }) if what == target),
        "{err:?}"
    );
}

#[test]
fn config_limits_are_typed_errors() {
    let err = InceptionConfig::new()
        .with_input_size(64)
        .init(&Device::flex())
        .unwrap_err();
    assert!(
        matches!(err, Error::Core(fisher_core::Error::Config { .. })),
        "{err}"
    );
}
