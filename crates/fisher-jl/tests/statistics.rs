//! The distributions themselves, over many seeded draws (so the tests are deterministic):
//! `E‖Px‖² = ‖x‖²` and the variance formula of each kind for k ∈ {256, 1024, 4096}, inner
//! products within Johnson–Lindenstrauss bounds, and chi-square tests of the nonzeros per
//! coordinate, the rows they fall on, the signs and the density.
//!
//! Bounds are set at about 4.5 standard errors (estimated from the draws themselves), and
//! each variance test also checks that it could tell the formula from the Gaussian `2/k`.

mod common;

use common::{Rng, chi_square, chi_square_critical};
use fisher_jl::{Projection, ProjectionConfig, ProjectionKind};
use ndarray::Array2;

/// Mean, variance and the standard error of the variance of `r`.
fn moments(r: &[f64]) -> (f64, f64, f64) {
    let n = r.len() as f64;
    let mean = r.iter().sum::<f64>() / n;
    let var = r.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    let m4 = r.iter().map(|v| (v - mean).powi(4)).sum::<f64>() / n;
    (mean, var, ((m4 - var * var) / n).sqrt())
}

/// `‖P_seed x‖² / ‖x‖²` for `draws` seeds.
fn norm_ratios(config: &ProjectionConfig, x: &[f32], draws: u64) -> (Vec<f64>, Projection) {
    let xs = Array2::from_shape_vec((1, x.len()), x.to_vec()).unwrap();
    let norm: f64 = x.iter().map(|&v| f64::from(v).powi(2)).sum();
    let ratios = (0..draws)
        .map(|seed| {
            let p = config.clone().with_seed(1000 + seed).init().unwrap();
            let z = p.project(xs.view()).unwrap();
            z.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>() / norm
        })
        .collect();
    (ratios, config.init().unwrap())
}

/// A spiky vector: one large coordinate among ones, so that `q = ‖x‖₄⁴/‖x‖₂⁴` is large.
fn spike(d: usize, height: f32) -> Vec<f32> {
    let mut x = vec![1.0; d];
    x[d / 3] = height;
    x
}

fn check_norm_statistics(kind: ProjectionKind, d: usize, height: f32, draws: u64) {
    for k in [256, 1024, 4096] {
        let config = ProjectionConfig::new(d, k).with_kind(kind.clone());
        let x = spike(d, height);
        let (ratios, p) = norm_ratios(&config, &x, draws);
        let (mean, var, var_se) = moments(&ratios);
        let expected = p.norm_ratio_variance(&x).unwrap();
        let mean_se = (expected / draws as f64).sqrt();
        assert!(
            (mean - 1.0).abs() < 4.5 * mean_se,
            "{kind:?} k={k}: mean {mean} vs 1 (se {mean_se})"
        );
        assert!(
            (var - expected).abs() < 4.5 * var_se,
            "{kind:?} k={k}: variance {var} vs formula {expected} (se {var_se})"
        );
        if kind != ProjectionKind::Gaussian {
            let gaussian = 2.0 / k as f64;
            assert!(
                (expected - gaussian).abs() > 6.0 * var_se,
                "{kind:?} k={k}: the test cannot tell {expected} from 2/k = {gaussian}"
            );
        }
    }
}

#[test]
fn sparse_jl_norms_have_mean_one_and_the_predicted_variance() {
    // q ≈ 0.41: the variance is 2(1 − q)/k, well below the Gaussian 2/k.
    check_norm_statistics(ProjectionKind::SparseJl { nonzeros: 4 }, 512, 30.0, 1500);
    check_norm_statistics(ProjectionKind::SparseJl { nonzeros: 1 }, 512, 30.0, 1500);
}

#[test]
fn sparse_jl_variance_accounts_for_uneven_blocks() {
    // k = 256 rows in 3 blocks of 85, 85 and 86.
    let config =
        ProjectionConfig::new(512, 256).with_kind(ProjectionKind::SparseJl { nonzeros: 3 });
    let x = spike(512, 30.0);
    let (ratios, p) = norm_ratios(&config, &x, 1500);
    let (_, var, se) = moments(&ratios);
    let expected = p.norm_ratio_variance(&x).unwrap();
    assert!(
        (var - expected).abs() < 4.5 * se,
        "{var} vs {expected} (se {se})"
    );
}

#[test]
fn very_sparse_norms_have_mean_one_and_the_predicted_variance() {
    // ρ = 0.02, q ≈ 0.19: the variance (2 + (1/ρ − 3)q)/k is about 5.5 times 2/k.
    check_norm_statistics(
        ProjectionKind::VerySparse {
            density: Some(0.02),
        },
        512,
        20.0,
        1000,
    );
}

#[test]
fn gaussian_norms_have_mean_one_and_variance_two_over_k() {
    check_norm_statistics(ProjectionKind::Gaussian, 24, 3.0, 400);
}

#[test]
fn inner_products_stay_within_johnson_lindenstrauss_bounds() {
    // m unit vectors; the lemma's ε for k = 8 ln(m)/ε², checked on every pair.
    let (d, m) = (1000, 32);
    let mut rng = Rng::new(77);
    let mut x = Array2::from_shape_fn((m, d), |_| rng.normal() as f32);
    for mut row in x.rows_mut() {
        let norm = row.iter().map(|v| v * v).sum::<f32>().sqrt();
        row.mapv_inplace(|v| v / norm);
    }
    let kinds = [
        ProjectionKind::SparseJl { nonzeros: 1 },
        ProjectionKind::SparseJl { nonzeros: 4 },
        ProjectionKind::VerySparse { density: None },
        ProjectionKind::Gaussian,
    ];
    for kind in kinds {
        for k in [256, 1024, 4096] {
            let epsilon = (8.0 * (m as f64).ln() / k as f64).sqrt();
            let p = ProjectionConfig::new(d, k)
                .with_kind(kind.clone())
                .with_seed(9)
                .init()
                .unwrap();
            let z = p.project(x.view()).unwrap();
            let mut worst: f64 = 0.0;
            for a in 0..m {
                for b in a..m {
                    let before: f64 = x
                        .row(a)
                        .iter()
                        .zip(x.row(b))
                        .map(|(u, v)| f64::from(u * v))
                        .sum();
                    let after: f64 = z
                        .row(a)
                        .iter()
                        .zip(z.row(b))
                        .map(|(u, v)| f64::from(u * v))
                        .sum();
                    worst = worst.max((after - before).abs());
                }
            }
            assert!(
                worst < epsilon,
                "{kind:?} k={k}: worst error {worst} ≥ ε = {epsilon}"
            );
            assert!(
                worst > 0.2 * epsilon,
                "{kind:?} k={k}: suspiciously exact ({worst})"
            );
        }
    }
}

#[test]
fn sparse_jl_columns_have_one_uniform_row_per_block_and_fair_signs() {
    for (k, s) in [(256, 4), (250, 3), (64, 16)] {
        let d = 20_000;
        let p = ProjectionConfig::new(d, k)
            .with_kind(ProjectionKind::SparseJl { nonzeros: s })
            .with_seed(3)
            .init()
            .unwrap();
        let starts: Vec<usize> = (0..=s).map(|i| i * k / s).collect();
        let mut counts = vec![0.0; k];
        let mut negative = 0usize;
        for j in 0..d {
            let column = p.column(j).unwrap();
            assert_eq!(column.len(), s, "coordinate {j}");
            for (i, &(r, v)) in column.iter().enumerate() {
                assert!(
                    starts[i] <= r && r < starts[i + 1],
                    "coordinate {j}: row {r}"
                );
                assert_eq!(v.abs(), 1.0 / (s as f32).sqrt());
                counts[r] += 1.0;
                negative += usize::from(v < 0.0);
            }
        }
        let expected: Vec<f64> = (0..k)
            .map(|r| {
                let block = starts.iter().rposition(|&b| b <= r).unwrap();
                d as f64 / (starts[block + 1] - starts[block]) as f64
            })
            .collect();
        let stat = chi_square(&counts, &expected);
        let critical = chi_square_critical(k - s, 4.0);
        assert!(stat < critical, "k={k} s={s}: χ² {stat} ≥ {critical}");

        let draws = (d * s) as f64;
        let z = (negative as f64 - draws / 2.0) / (draws / 4.0).sqrt();
        assert!(z.abs() < 4.5, "k={k} s={s}: sign z-score {z}");
    }
}

/// Probabilities of `Binomial(n, p)`.
fn binomial_pmf(n: usize, p: f64) -> Vec<f64> {
    let mut pmf = vec![(1.0 - p).powi(n as i32)];
    for c in 0..n {
        let next = pmf[c] * (n - c) as f64 / (c + 1) as f64 * p / (1.0 - p);
        pmf.push(next);
    }
    pmf
}

/// χ² of `counts[c]` (coordinates with `c` nonzeros) against `Binomial(k, ρ)`, merging tail
/// cells until each expects at least 5; returns the statistic and its degrees of freedom.
fn count_chi_square(counts: &[f64], k: usize, rho: f64, d: usize) -> (f64, usize) {
    let pmf = binomial_pmf(k, rho);
    let (mut observed, mut expected) = (vec![], vec![]);
    let (mut o, mut e) = (0.0, 0.0);
    for c in 0..=k {
        o += counts.get(c).copied().unwrap_or(0.0);
        e += pmf[c] * d as f64;
        if e >= 5.0 && (1.0 - pmf[..=c].iter().sum::<f64>()) * d as f64 >= 5.0 {
            observed.push(o);
            expected.push(e);
            (o, e) = (0.0, 0.0);
        }
    }
    observed.push(o);
    expected.push(e);
    (chi_square(&observed, &expected), observed.len() - 1)
}

#[test]
fn very_sparse_counts_rows_and_density_follow_their_definitions() {
    let (d, k, rho) = (20_000, 1024, 0.01);
    let p = ProjectionConfig::new(d, k)
        .with_kind(ProjectionKind::VerySparse { density: Some(rho) })
        .with_seed(4)
        .init()
        .unwrap();
    let magnitude = (1.0 / (rho * k as f64)).sqrt() as f32;
    let mut per_coordinate = vec![0.0; k + 1];
    let mut per_row = vec![0.0; k];
    let (mut total, mut negative) = (0usize, 0usize);
    for j in 0..d {
        let column = p.column(j).unwrap();
        per_coordinate[column.len()] += 1.0;
        total += column.len();
        for &(r, v) in &column {
            assert_eq!(v.abs(), magnitude);
            per_row[r] += 1.0;
            negative += usize::from(v < 0.0);
        }
    }

    // Nonzeros per coordinate: Binomial(k, ρ); and not Binomial(k, 1.1ρ).
    let (stat, dof) = count_chi_square(&per_coordinate, k, rho, d);
    assert!(
        stat < chi_square_critical(dof, 4.0),
        "counts: χ² {stat} with {dof} dof"
    );
    let (wrong, dof) = count_chi_square(&per_coordinate, k, 1.1 * rho, d);
    assert!(
        wrong > chi_square_critical(dof, 6.0),
        "counts: cannot reject 1.1ρ ({wrong})"
    );

    // Density: nnz / (k·d) against ρ.
    let cells = (k * d) as f64;
    let z = (total as f64 - cells * rho) / (cells * rho * (1.0 - rho)).sqrt();
    assert!(
        z.abs() < 4.5,
        "density {} vs {rho}: z {z}",
        total as f64 / cells
    );

    // Rows uniform, signs fair.
    let expected = vec![total as f64 / k as f64; k];
    let stat = chi_square(&per_row, &expected);
    assert!(stat < chi_square_critical(k - 1, 4.0), "rows: χ² {stat}");
    let z = (negative as f64 - total as f64 / 2.0) / (total as f64 / 4.0).sqrt();
    assert!(z.abs() < 4.5, "sign z-score {z}");
}

#[test]
fn very_sparse_default_density_is_one_over_root_d() {
    let p = ProjectionConfig::new(40_000, 512)
        .with_kind(ProjectionKind::VerySparse { density: None })
        .init()
        .unwrap();
    assert_eq!(p.density(), 1.0 / 200.0);
    assert_eq!(p.scale(), (200.0f64 / 512.0).sqrt() as f32);
    let nonzeros: usize = (0..40_000).map(|j| p.column(j).unwrap().len()).sum();
    let expected = 40_000.0 * 512.0 / 200.0;
    let z = (nonzeros as f64 - expected) / (expected * (1.0 - 1.0 / 200.0)).sqrt();
    assert!(z.abs() < 4.5, "{nonzeros} nonzeros vs {expected}: z {z}");
}

#[test]
fn gaussian_entries_are_standard_normal_scaled() {
    let (d, k) = (200, 500);
    let p = ProjectionConfig::new(d, k)
        .with_kind(ProjectionKind::Gaussian)
        .init()
        .unwrap();
    let scale = f64::from(p.scale());
    let values: Vec<f64> = (0..d)
        .flat_map(|j| {
            p.column(j)
                .unwrap()
                .into_iter()
                .map(|(_, v)| f64::from(v) / scale)
        })
        .collect();
    let (mean, var, var_se) = moments(&values);
    let n = values.len() as f64;
    assert!(mean.abs() < 4.5 / n.sqrt(), "mean {mean}");
    assert!((var - 1.0).abs() < 4.5 * var_se, "variance {var}");
    // χ² of |g| against the half-normal: its deciles.
    let edges = [
        0.125_661, 0.253_347, 0.385_320, 0.524_401, 0.674_490, 0.841_621, 1.036_433, 1.281_552,
        1.644_854,
    ];
    let mut counts = vec![0.0; 10];
    for v in &values {
        counts[edges.iter().filter(|&&e| v.abs() > e).count()] += 1.0;
    }
    let stat = chi_square(&counts, &[n / 10.0; 10]);
    assert!(
        stat < chi_square_critical(9, 4.0),
        "deciles of |g|: χ² {stat}"
    );
}
