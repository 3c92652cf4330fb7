//! CIFAR-10 batches: round trips, streaming across files, bad files.

mod common;

use common::TempDir;
use fisher_core::{ImageBatch, ImageShape};
use fisher_data::cifar::{parse_cifar10, read_cifar10, write_cifar10};
use fisher_data::{Cifar10, Error, Examples, Labeled, Split, SplitMix64};

/// `n` random 3×32×32 images with labels `(seed + i) % 10`.
fn random_batch(n: usize, seed: u64) -> Labeled {
    let mut rng = SplitMix64::new(seed);
    let pixels = (0..n * 3072).map(|_| rng.next_u64() as u8).collect();
    let shape = ImageShape::new(3, 32, 32).unwrap();
    let labels = (0..n).map(|i| ((seed as usize + i) % 10) as u8).collect();
    Labeled::new(ImageBatch::new(pixels, n, shape).unwrap(), labels).unwrap()
}

/// A CIFAR-10 folder with batches of 3, 4, 2, 5, 1 training and 6 test images.
fn cifar_folder(tmp: &TempDir) -> (std::path::PathBuf, Vec<Labeled>) {
    let dir = tmp.join("cifar-10-batches-bin");
    std::fs::create_dir_all(&dir).unwrap();
    let mut parts = Vec::new();
    for (i, n) in [3, 4, 2, 5, 1].into_iter().enumerate() {
        let part = random_batch(n, i as u64);
        write_cifar10(dir.join(format!("data_batch_{}.bin", i + 1)), &part).unwrap();
        parts.push(part);
    }
    let test = random_batch(6, 99);
    write_cifar10(dir.join("test_batch.bin"), &test).unwrap();
    parts.push(test);
    (dir, parts)
}

#[test]
fn record_layout_is_label_then_planar_rgb() {
    let mut bytes = vec![3u8];
    bytes.extend((0..3072).map(|i| (i / 1024) as u8 * 100));
    let data = parse_cifar10(&bytes, std::path::Path::new("one")).unwrap();
    let image = data.images().image(0);
    assert_eq!(data.labels(), &[3]);
    assert_eq!(
        (image[0], image[1024], image[2048], image[3071]),
        (0, 100, 200, 200)
    );
}

#[test]
fn load_and_stream_agree_with_what_was_written() {
    let tmp = TempDir::new("cifar-folder");
    let (_, parts) = cifar_folder(&tmp);
    let cifar = Cifar10::new(tmp.path());

    let train = cifar.load(Split::Train).unwrap();
    assert_eq!(train.len(), 15);
    let mut expected_pixels = Vec::new();
    let mut expected_labels = Vec::new();
    for part in &parts[..5] {
        expected_pixels.extend_from_slice(part.images().as_slice());
        expected_labels.extend_from_slice(part.labels());
    }
    assert_eq!(train.images().as_slice(), expected_pixels.as_slice());
    assert_eq!(train.labels(), expected_labels.as_slice());

    let batches: Vec<Labeled> = cifar
        .stream(Split::Train, 4)
        .unwrap()
        .map(|b| b.unwrap())
        .collect();
    let sizes: Vec<usize> = batches.iter().map(|b| b.len()).collect();
    assert_eq!(sizes, [4, 4, 4, 3], "batches span file boundaries");
    let streamed: Vec<u8> = batches
        .iter()
        .flat_map(|b| b.images().as_slice().to_vec())
        .collect();
    assert_eq!(streamed, expected_pixels);

    let test = cifar.load(Split::Test).unwrap();
    assert_eq!(test, parts[5]);
}

#[test]
fn write_then_read_round_trips() {
    let tmp = TempDir::new("cifar-roundtrip");
    let data = random_batch(7, 5);
    let path = tmp.join("batch.bin");
    write_cifar10(&path, &data).unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 7 * 3073);
    assert_eq!(read_cifar10(&path).unwrap(), data);
}

#[test]
fn truncated_batch_names_the_byte_counts() {
    let tmp = TempDir::new("cifar-truncated");
    let (dir, _) = cifar_folder(&tmp);
    let path = dir.join("data_batch_2.bin");
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..3 * 3073 + 100]).unwrap();

    let err = Cifar10::new(&dir).load(Split::Train).unwrap_err();
    let Error::Truncated {
        path: p,
        expected,
        found,
        ..
    } = &err
    else {
        panic!("expected Truncated, got {err}");
    };
    assert_eq!((p, *expected, *found), (&path, 4 * 3073, 3 * 3073 + 100));

    let results: Vec<_> = Cifar10::new(&dir)
        .stream(Split::Train, 2)
        .unwrap()
        .collect();
    // 3 records of file 1 and 3 whole records of file 2 make 3 batches of 2.
    assert!(results[..3].iter().all(|r| r.is_ok()));
    assert!(matches!(results[3], Err(Error::Truncated { .. })));
    assert_eq!(results.len(), 4, "the stream ends after an error");
}

#[test]
fn bad_label_and_missing_file_are_typed_errors() {
    let tmp = TempDir::new("cifar-bad");
    let (dir, _) = cifar_folder(&tmp);
    let path = dir.join("test_batch.bin");
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[2 * 3073] = 17;
    std::fs::write(&path, &bytes).unwrap();
    let err = Cifar10::new(&dir).load(Split::Test).unwrap_err();
    assert!(
        matches!(
            err,
            Error::LabelRange {
                index: 2,
                label: 17,
                ..
            }
        ),
        "{err}"
    );

    std::fs::remove_file(dir.join("data_batch_4.bin")).unwrap();
    let err = Cifar10::new(&dir).load(Split::Train).unwrap_err();
    assert!(err.to_string().contains("data_batch_4.bin"), "{err}");

    std::fs::write(dir.join("empty.bin"), b"").unwrap();
    assert!(matches!(
        read_cifar10(dir.join("empty.bin")),
        Err(Error::Truncated { .. })
    ));
}
