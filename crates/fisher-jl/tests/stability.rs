//! Value stability: the numbers a seed produces are pinned, so a change to the hashing, the
//! block layout or the sampling shows up here before it silently changes stored embeddings.
//!
//! The values were produced by this crate (seeds as written) when the tests were written; a
//! deliberate change of the construction must update them and say so in the changelog.

use fisher_core::Tolerance;
use fisher_jl::{ProjectionConfig, ProjectionKind};
use ndarray::{Array2, array};

/// Rows and signs (`true` for minus) of a column.
fn rows(column: &[(usize, f32)]) -> Vec<(usize, bool)> {
    column.iter().map(|&(r, v)| (r, v < 0.0)).collect()
}

#[test]
fn sparse_jl_columns_are_pinned() {
    let p = ProjectionConfig::new(1_000_000, 4096)
        .with_seed(2024)
        .init()
        .unwrap();
    let pinned = [
        (
            0,
            vec![(980, false), (1423, false), (2294, true), (3171, true)],
        ),
        (
            1,
            vec![(934, false), (1291, true), (2770, true), (3958, true)],
        ),
        (
            999_999,
            vec![(550, true), (1619, false), (2192, false), (3820, false)],
        ),
    ];
    for (j, expected) in pinned {
        let column = p.column(j).unwrap();
        assert_eq!(rows(&column), expected, "column {j}");
        assert!(column.iter().all(|&(_, v)| v.abs() == 0.5));
    }
}

#[test]
fn very_sparse_columns_are_pinned() {
    let p = ProjectionConfig::new(1_000_000, 4096)
        .with_kind(ProjectionKind::VerySparse { density: None })
        .with_seed(2024)
        .init()
        .unwrap();
    let pinned = [
        (
            0,
            vec![
                (1493, false),
                (1542, true),
                (1952, true),
                (2185, true),
                (3547, false),
                (3644, false),
            ],
        ),
        (
            1,
            vec![
                (1035, false),
                (1653, false),
                (2990, false),
                (3100, false),
                (3570, true),
                (4039, false),
            ],
        ),
        (
            7,
            vec![(1317, true), (1761, false), (2350, true), (3037, false)],
        ),
        (
            999_999,
            vec![(1885, false), (2400, true), (3783, false), (4056, true)],
        ),
    ];
    for (j, expected) in pinned {
        assert_eq!(rows(&p.column(j).unwrap()), expected, "column {j}");
    }
}

#[test]
fn gaussian_column_is_pinned() {
    let p = ProjectionConfig::new(10, 6)
        .with_kind(ProjectionKind::Gaussian)
        .with_seed(2024)
        .init()
        .unwrap();
    let values: Vec<f32> = p.column(3).unwrap().into_iter().map(|(_, v)| v).collect();
    let pinned = [
        0.211_226_31,
        -0.464_383_18,
        -0.033_818_43,
        0.215_474_22,
        -0.447_287_8,
        -0.476_671_04,
    ];
    // The platform's ln, sin and cos may differ in the last bit.
    Tolerance::new(1e-6, 1e-7).assert(&values, &pinned);
}

#[test]
fn projected_values_are_pinned_and_exact() {
    // Integer inputs and ±1/2 entries: every output is an exact multiple of 1/2.
    let p = ProjectionConfig::new(1000, 16).with_seed(7).init().unwrap();
    let x = Array2::from_shape_fn((2, 1000), |(b, j)| ((j * 7 + b * 3) % 11) as f32 - 5.0);
    let expected = array![
        [
            11.5, 19.5, 34.5, -36.0, 8.0, 43.5, -13.0, -35.0, -18.0, -12.0, 7.0, -14.5, 33.5,
            -14.0, 21.0, 9.0
        ],
        [
            -20.0, -1.5, -28.0, 38.5, 24.0, -46.5, -73.5, 12.0, 14.5, -0.5, -18.5, -31.5, 34.0,
            -14.5, -28.0, 22.5
        ]
    ];
    assert_eq!(p.project(x.view()).unwrap(), expected);
}

#[test]
fn the_same_seed_gives_the_same_matrix_and_another_seed_another() {
    let config = ProjectionConfig::new(5000, 128).with_seed(11);
    let x = Array2::from_shape_fn((3, 5000), |(b, j)| ((b * 5000 + j) % 13) as f32 - 6.0);
    let first = config.init().unwrap().project(x.view()).unwrap();
    let again = config.init().unwrap().project(x.view()).unwrap();
    assert_eq!(first, again);
    let other = config
        .clone()
        .with_seed(12)
        .init()
        .unwrap()
        .project(x.view())
        .unwrap();
    let differing = first.iter().zip(&other).filter(|(a, b)| a != b).count();
    assert!(
        differing > 3 * 128 * 9 / 10,
        "only {differing} of {} outputs differ",
        3 * 128
    );
}

#[test]
fn configs_round_trip_through_json() {
    let config = ProjectionConfig::new(77, 9)
        .with_kind(ProjectionKind::VerySparse {
            density: Some(0.25),
        })
        .with_seed(3);
    let json = burn::config::config_to_json(&config);
    let back = <ProjectionConfig as burn::config::Config>::load_binary(json.as_bytes()).unwrap();
    assert_eq!(back, config);
    assert_eq!(config.kind.label(), "very-sparse(density=0.25)");
    assert_eq!(ProjectionKind::sparse_default().label(), "sparse-jl(s=4)");
}
