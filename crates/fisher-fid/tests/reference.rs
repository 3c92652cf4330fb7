//! FID and KID against numpy/scipy references: `fixtures/frechet_reference.py` computes
//! pytorch-fid's formula (scipy.linalg.sqrtm) on seeded feature sets.

use fisher_core::Tolerance;
use fisher_fid::{
    GaussianStats, KidConfig, SampleCheck, frechet_distance, kernel_inception_distance,
};
use ndarray::{Array0, Array2};
use ndarray_npy::NpzReader;

mod common;
use common::fixture;

struct Case {
    x: Array2<f32>,
    y: Array2<f32>,
    fid: f64,
}

fn case(name: &str) -> Case {
    let file = std::fs::File::open(fixture("frechet_reference.npz")).unwrap();
    let mut npz = NpzReader::new(file).unwrap();
    let fid: Array0<f64> = npz.by_name(&format!("{name}_fid")).unwrap();
    Case {
        x: npz.by_name(&format!("{name}_x")).unwrap(),
        y: npz.by_name(&format!("{name}_y")).unwrap(),
        fid: fid.into_scalar(),
    }
}

fn stats(x: &Array2<f32>) -> GaussianStats {
    GaussianStats::from_features(x.view(), SampleCheck::FullRank).unwrap()
}

#[test]
fn fid_matches_scipy_sqrtm_formula() {
    for name in ["a", "b", "c"] {
        let c = case(name);
        let d = frechet_distance(&stats(&c.x), &stats(&c.y)).unwrap();
        assert!(
            Tolerance::new(1e-6, 0.0).is_close(d.value, c.fid),
            "case {name}: {} vs scipy {}",
            d.value,
            c.fid
        );
        assert!(c.fid > 1.0, "case {name} must be a real difference");
    }
}

#[test]
fn identical_sets_give_zero() {
    for name in ["a", "b", "c"] {
        let c = case(name);
        let s = stats(&c.x);
        let d = frechet_distance(&s, &s).unwrap();
        let scale = s.covariance().diag().sum();
        assert!(d.value.abs() <= 1e-10 * scale, "case {name}: {}", d.value);
        assert!(d.covariance_term.abs() <= 1e-10 * scale);
        assert_eq!(d.mean_term, 0.0);
    }
}

#[test]
fn numpy_written_statistics_load_and_agree() {
    let c = case("a");
    let loaded = GaussianStats::load_npz(&fixture("frechet_stats_a.npz")).unwrap();
    let ours = stats(&c.x);
    let tol = Tolerance::new(1e-12, 1e-14);
    tol.assert(
        loaded.mean().as_slice().unwrap(),
        ours.mean().as_slice().unwrap(),
    );
    tol.assert(
        loaded.covariance().as_slice().unwrap(),
        ours.covariance().as_slice().unwrap(),
    );
    let d = frechet_distance(&loaded, &stats(&c.y)).unwrap();
    assert!(Tolerance::new(1e-6, 0.0).is_close(d.value, c.fid));
}

#[test]
fn saved_statistics_read_back_in_the_same_format() {
    let c = case("b");
    let s = stats(&c.y);
    let dir = std::env::temp_dir().join(format!("fisher-fid-ref-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("y.npz");
    s.save_npz(&path).unwrap();

    let zip = zip::ZipArchive::new(std::fs::File::open(&path).unwrap()).unwrap();
    let mut members: Vec<&str> = zip.file_names().collect();
    members.sort();
    assert_eq!(
        members,
        vec!["mu.npy", "sigma.npy"],
        "numpy.savez member names"
    );
    let mut npz = NpzReader::new(std::fs::File::open(&path).unwrap()).unwrap();
    let sigma: Array2<f64> = npz.by_name("sigma").unwrap();
    assert_eq!(&sigma, s.covariance());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn kid_on_whole_sets_matches_numpy() {
    let file = std::fs::File::open(fixture("frechet_reference.npz")).unwrap();
    let expected: Array0<f64> = NpzReader::new(file).unwrap().by_name("c_kid").unwrap();
    let c = case("c");
    let config = KidConfig {
        subsets: 3,
        subset_size: 60,
        seed: 5,
    };
    let kid = kernel_inception_distance(c.x.view(), c.y.view(), &config).unwrap();
    Tolerance::new(1e-6, 1e-9).assert(&[kid.mean], &[expected.into_scalar()]);
    assert!(
        kid.std < 1e-9 * kid.mean.abs(),
        "whole sets in any order: {}",
        kid.std
    );
}
