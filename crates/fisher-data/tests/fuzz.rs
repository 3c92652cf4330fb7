//! Fuzzing the IDX and CIFAR-10 parsers with proptest: random bytes, random bytes behind a
//! valid header, and mutated valid files (raw and gzip). No input may panic; an accepted
//! input must be self-consistent.
//!
//! Cases per property: `FISHER_FUZZ_CASES` (default 1,000), so the default run feeds
//! 6 × 1,000 = 6,000 inputs. A longer run:
//! `FISHER_FUZZ_CASES=50000 cargo test --release -p fisher-data --test fuzz`.

mod common;

use std::path::Path;

use common::{FIXTURE_IMAGES, fixtures};
use fisher_data::cifar::parse_cifar10;
use fisher_data::idx::{IdxArray, parse_idx, read_idx};
use proptest::prelude::*;

fn cases() -> u32 {
    std::env::var("FISHER_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000)
}

fn check_idx(bytes: &[u8]) {
    if let Ok(array) = parse_idx(bytes, Path::new("fuzz")) {
        let len: usize = array.dims().iter().product();
        assert_eq!(len, array.data().len());
    }
}

fn check_cifar(bytes: &[u8]) {
    if let Ok(data) = parse_cifar10(bytes, Path::new("fuzz")) {
        assert_eq!(data.images().len() * 3073, bytes.len());
        assert!(data.labels().iter().all(|&l| l < 10));
    }
}

/// Three fixture images as raw IDX bytes, and the same gzip-compressed.
fn valid_idx() -> &'static (Vec<u8>, Vec<u8>) {
    static FILES: std::sync::OnceLock<(Vec<u8>, Vec<u8>)> = std::sync::OnceLock::new();
    FILES.get_or_init(make_valid_idx)
}

fn make_valid_idx() -> (Vec<u8>, Vec<u8>) {
    let full = read_idx(fixtures().join(FIXTURE_IMAGES)).unwrap();
    let three = IdxArray::new(vec![3, 28, 28], full.data()[..3 * 784].to_vec()).unwrap();
    let raw = three.to_bytes();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &raw).unwrap();
    (raw, gz.finish().unwrap())
}

fn valid_cifar() -> Vec<u8> {
    (0..2 * 3073)
        .map(|i| if i % 3073 == 0 { 4 } else { (i % 251) as u8 })
        .collect()
}

/// Applies edits to `bytes`: (position, kind, value) set a byte, insert one or remove one;
/// then keeps the first `keep` percent.
fn mutate(mut bytes: Vec<u8>, edits: &[(usize, u8, u8)], keep: u8) -> Vec<u8> {
    for &(at, kind, value) in edits {
        let at = at % (bytes.len() + 1);
        match kind % 3 {
            0 if at < bytes.len() => bytes[at] = value,
            1 => bytes.insert(at, value),
            _ if at < bytes.len() => {
                bytes.remove(at);
            }
            _ => {}
        }
    }
    let keep = bytes.len() * usize::from(keep.min(100)) / 100;
    bytes.truncate(keep);
    bytes
}

fn edits() -> impl Strategy<Value = Vec<(usize, u8, u8)>> {
    prop::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 0..8)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn idx_random_bytes(bytes in prop::collection::vec(any::<u8>(), 0..4096)) {
        check_idx(&bytes);
    }

    #[test]
    fn idx_random_bytes_behind_a_header(
        ndims in 1u8..5,
        dims in prop::collection::vec(0u32..40, 4),
        tail in prop::collection::vec(any::<u8>(), 0..2048),
    ) {
        let mut bytes = vec![0, 0, 8, ndims];
        for d in &dims[..usize::from(ndims)] {
            bytes.extend_from_slice(&d.to_be_bytes());
        }
        bytes.extend_from_slice(&tail);
        check_idx(&bytes);
    }

    #[test]
    fn idx_mutated_raw_file(edits in edits(), keep in 0u8..=100) {
        check_idx(&mutate(valid_idx().0.clone(), &edits, keep));
    }

    #[test]
    fn idx_mutated_gzip_file(edits in edits(), keep in 0u8..=100) {
        check_idx(&mutate(valid_idx().1.clone(), &edits, keep));
    }

    #[test]
    fn cifar_random_bytes(len_records in 0usize..3, extra in 0usize..40, seed in any::<u64>()) {
        let mut rng = fisher_data::SplitMix64::new(seed);
        let len = len_records * 3073 + extra;
        let bytes: Vec<u8> = (0..len).map(|_| (rng.next_u64() % 16) as u8).collect();
        check_cifar(&bytes);
    }

    #[test]
    fn cifar_mutated_file(edits in edits(), keep in 0u8..=100) {
        check_cifar(&mutate(valid_cifar(), &edits, keep));
    }
}
