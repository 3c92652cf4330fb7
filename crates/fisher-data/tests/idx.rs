//! IDX loading: the Fashion-MNIST fixture round-trips exactly; bad files are typed errors.

mod common;

use common::{FIXTURE_IMAGES, FIXTURE_LABELS, TempDir, fixtures, fnv1a, gunzip};
use fisher_data::idx::{IdxArray, load_idx, parse_idx, read_idx, stream_idx, write_idx};
use fisher_data::{Error, Examples, Mnist, Split};

#[test]
fn fixture_loads_with_known_labels_and_pixels() {
    let dir = fixtures();
    let data = load_idx(dir.join(FIXTURE_IMAGES), dir.join(FIXTURE_LABELS)).unwrap();

    assert_eq!(data.images().shape().to_array(), [1, 28, 28]);
    assert_eq!(data.len(), 200);
    // The first Fashion-MNIST test labels: ankle boot, pullover, trouser, trouser, shirt, ...
    assert_eq!(&data.labels()[..10], &[9, 2, 1, 1, 6, 1, 4, 6, 5, 7]);
    assert!(data.labels().iter().all(|&l| l < 10));
    // FNV-1a of the fixture's pixels, computed independently with Python.
    assert_eq!(fnv1a(data.images().as_slice()), 0x57a1_7343_8535_4414);
}

#[test]
fn fixture_round_trips_byte_for_byte() {
    let dir = fixtures();
    let tmp = TempDir::new("idx-roundtrip");
    for name in [FIXTURE_IMAGES, FIXTURE_LABELS] {
        let original = gunzip(&dir.join(name));
        let array = read_idx(dir.join(name)).unwrap();
        assert_eq!(
            array.to_bytes(),
            original,
            "{name}: bytes differ after parsing"
        );

        for gzip in [false, true] {
            let out = tmp.join(&format!("{name}.{gzip}"));
            write_idx(&out, &array, gzip).unwrap();
            assert_eq!(read_idx(&out).unwrap(), array);
            let raw = std::fs::read(&out).unwrap();
            assert_eq!(raw.starts_with(&[0x1f, 0x8b]), gzip);
        }
    }
}

#[test]
fn stream_matches_load_for_every_batch_size() {
    let dir = fixtures();
    let (images, labels) = (dir.join(FIXTURE_IMAGES), dir.join(FIXTURE_LABELS));
    let whole = load_idx(&images, &labels).unwrap();
    for batch_size in [1, 7, 64, 200, 500] {
        let mut pixels = Vec::new();
        let mut all_labels = Vec::new();
        let mut sizes = Vec::new();
        for batch in stream_idx(&images, &labels, batch_size).unwrap() {
            let batch = batch.unwrap();
            sizes.push(batch.len());
            pixels.extend_from_slice(batch.images().as_slice());
            all_labels.extend_from_slice(batch.labels());
        }
        assert_eq!(pixels, whole.images().as_slice(), "batch size {batch_size}");
        assert_eq!(all_labels, whole.labels());
        assert!(sizes[..sizes.len() - 1].iter().all(|&s| s == batch_size));
    }
}

#[test]
fn mnist_folder_finds_raw_and_gzip_files() {
    let tmp = TempDir::new("mnist-folder");
    let dir = fixtures();
    let images = read_idx(dir.join(FIXTURE_IMAGES)).unwrap();
    let labels = read_idx(dir.join(FIXTURE_LABELS)).unwrap();
    write_idx(tmp.join("t10k-images-idx3-ubyte"), &images, false).unwrap();
    write_idx(tmp.join("t10k-labels-idx1-ubyte.gz"), &labels, true).unwrap();

    let mnist = Mnist::new(tmp.path());
    let test = mnist.load(Split::Test).unwrap();
    assert_eq!(test.len(), 200);
    let streamed: usize = mnist
        .stream(Split::Test, 64)
        .unwrap()
        .map(|b| b.unwrap().len())
        .sum();
    assert_eq!(streamed, 200);

    let err = mnist.load(Split::Train).unwrap_err();
    assert!(matches!(err, Error::EmptyFolder { .. }), "{err}");
    assert!(
        err.to_string().contains("train-images-idx3-ubyte.gz"),
        "{err}"
    );
}

fn images_file(tmp: &TempDir, name: &str, n: usize) -> std::path::PathBuf {
    let path = tmp.join(name);
    let array = IdxArray::new(vec![n, 2, 3], (0..n * 6).map(|v| v as u8).collect()).unwrap();
    write_idx(&path, &array, false).unwrap();
    path
}

fn labels_file(tmp: &TempDir, name: &str, labels: Vec<u8>) -> std::path::PathBuf {
    let path = tmp.join(name);
    let array = IdxArray::new(vec![labels.len()], labels).unwrap();
    write_idx(&path, &array, true).unwrap();
    path
}

#[test]
fn truncated_file_names_the_byte_counts() {
    let tmp = TempDir::new("idx-truncated");
    let path = images_file(&tmp, "images", 4);
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() - 5]).unwrap();

    let err = read_idx(&path).unwrap_err();
    let Error::Truncated {
        path: p,
        expected,
        found,
        ..
    } = &err
    else {
        panic!("expected Truncated, got {err}");
    };
    assert_eq!((p, *expected, *found), (&path, 16 + 24, 16 + 19));
    assert!(
        err.to_string().contains("needs 40 bytes, found 35"),
        "{err}"
    );

    let labels = labels_file(&tmp, "labels", vec![0; 4]);
    let mut stream = stream_idx(&path, &labels, 3).unwrap();
    assert_eq!(stream.next().unwrap().unwrap().len(), 3);
    assert!(matches!(stream.next(), Some(Err(Error::Truncated { .. }))));
    assert!(stream.next().is_none(), "the stream ends after an error");

    std::fs::write(&path, &bytes[..10]).unwrap();
    let err = read_idx(&path).unwrap_err();
    assert!(
        err.to_string()
            .contains("IDX header: needs 16 bytes, found 10"),
        "{err}"
    );
}

#[test]
fn wrong_magic_number_is_reported_in_hex() {
    let tmp = TempDir::new("idx-magic");
    let path = tmp.join("not-idx");
    std::fs::write(&path, b"PK\x03\x04 a zip file").unwrap();
    let err = read_idx(&path).unwrap_err();
    assert!(
        matches!(
            err,
            Error::BadMagic {
                found: 0x504b_0304,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("0x504b0304"), "{err}");

    let float_idx = [0u8, 0, 0x0D, 1, 0, 0, 0, 1, 0, 0, 0, 0];
    let err = parse_idx(&float_idx, &path).unwrap_err();
    assert!(err.to_string().contains("element type 0x0d"), "{err}");
}

#[test]
fn count_mismatch_names_both_files_and_counts() {
    let tmp = TempDir::new("idx-count");
    let images = images_file(&tmp, "images", 5);
    let labels = labels_file(&tmp, "labels", vec![1; 4]);

    for err in [
        load_idx(&images, &labels).unwrap_err(),
        stream_idx(&images, &labels, 2).unwrap_err(),
    ] {
        let Error::CountMismatch {
            image_count,
            label_count,
            ..
        } = &err
        else {
            panic!("expected CountMismatch, got {err}");
        };
        assert_eq!((*image_count, *label_count), (5, 4));
        let text = err.to_string();
        assert!(
            text.contains("5 images") && text.contains("4 labels"),
            "{text}"
        );
    }
}

#[test]
fn swapped_files_and_trailing_bytes_are_format_errors() {
    let tmp = TempDir::new("idx-swapped");
    let images = images_file(&tmp, "images", 2);
    let labels = labels_file(&tmp, "labels", vec![1, 2]);
    let err = load_idx(&labels, &images).unwrap_err();
    assert!(err.to_string().contains("expected 3 dimensions"), "{err}");

    let mut bytes = std::fs::read(&images).unwrap();
    bytes.push(0);
    std::fs::write(&images, &bytes).unwrap();
    let err = read_idx(&images).unwrap_err();
    assert!(err.to_string().contains("bytes follow"), "{err}");
}

#[test]
fn labels_out_of_range_are_reported_by_index() {
    let tmp = TempDir::new("idx-range");
    images_file(&tmp, "train-images-idx3-ubyte", 3);
    labels_file(&tmp, "train-labels-idx1-ubyte.gz", vec![3, 12, 1]);
    let err = Mnist::new(tmp.path()).load(Split::Train).unwrap_err();
    assert!(
        matches!(
            err,
            Error::LabelRange {
                index: 1,
                label: 12,
                classes: 10,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn corrupt_gzip_is_a_format_error() {
    let tmp = TempDir::new("idx-gzip");
    let path = labels_file(
        &tmp,
        "labels.gz",
        (0..200).map(|v| (v % 10) as u8).collect(),
    );
    let mut bytes = std::fs::read(&path).unwrap();
    let middle = bytes.len() / 2;
    bytes.truncate(middle);
    std::fs::write(&path, &bytes).unwrap();
    let err = read_idx(&path).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Core(fisher_core::Error::Format { .. }) | Error::Truncated { .. }
        ),
        "{err}"
    );
}
