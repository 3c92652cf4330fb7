//! Fast paths against slow, obvious oracles: the matrix-free host and tensor paths, their
//! transposes and the materialised `sprs` matrix, all against a dense `f64` product with the
//! dense `[k, d]` matrix.

mod common;

use burn::tensor::{Device, Tensor, TensorData};
use common::{assert_close, dense_product, magnitudes, normal_batch};
use fisher_core::Projector;
use fisher_jl::{Projection, ProjectionConfig, ProjectionKind};
use ndarray::Array2;

fn projections(d: usize, k: usize) -> Vec<Projection> {
    [
        ProjectionKind::SparseJl { nonzeros: 1 },
        ProjectionKind::SparseJl { nonzeros: 4 },
        ProjectionKind::SparseJl { nonzeros: 7 },
        ProjectionKind::VerySparse { density: None },
        ProjectionKind::VerySparse { density: Some(0.5) },
        ProjectionKind::VerySparse { density: Some(1.0) },
        ProjectionKind::Gaussian,
    ]
    .into_iter()
    .enumerate()
    .map(|(i, kind)| {
        ProjectionConfig::new(d, k)
            .with_kind(kind)
            .with_seed(100 + i as u64)
            .init()
            .unwrap()
    })
    .collect()
}

fn to_array(t: Tensor<2>) -> Array2<f32> {
    let [rows, cols] = t.dims();
    let values: Vec<f32> = t.into_data().try_to_vec().unwrap();
    Array2::from_shape_vec((rows, cols), values).unwrap()
}

fn to_tensor(a: &Array2<f32>, device: &Device) -> Tensor<2> {
    let values = a.iter().copied().collect::<Vec<_>>();
    Tensor::from_data(TensorData::new(values, [a.nrows(), a.ncols()]), device)
}

#[test]
fn host_path_matches_the_dense_oracle() {
    for (d, k, batch) in [(300, 40, 5), (1100, 17, 20), (64, 64, 1)] {
        for p in projections(d, k) {
            let x = normal_batch(batch, d, d as u64);
            let dense = p.to_dense();
            let z = p.project(x.view()).unwrap();
            assert_close(
                &z,
                &dense_product(&dense, x.view()),
                &magnitudes(&dense, x.view()),
            );
        }
    }
}

/// The host kernel's sums for the two sparse kinds are those of a plain loop: every row
/// starts at zero, receives `±x` coordinate by coordinate in increasing order, and is scaled
/// at the end. Equal bit for bit, for every group shape (narrow, partly filled and full
/// groups of 16 rows) and across the kernel's tiles of 8192 coordinates.
#[test]
fn host_sums_equal_a_plain_loop_over_the_coordinates_bit_for_bit() {
    let (d, k) = (20_000, 48);
    let kinds = [
        ProjectionKind::SparseJl { nonzeros: 1 },
        ProjectionKind::SparseJl { nonzeros: 4 },
        ProjectionKind::SparseJl { nonzeros: 16 },
        ProjectionKind::VerySparse {
            density: Some(0.05),
        },
    ];
    for (i, kind) in kinds.into_iter().enumerate() {
        let p = ProjectionConfig::new(d, k)
            .with_kind(kind.clone())
            .with_seed(7 + i as u64)
            .init()
            .unwrap();
        let columns: Vec<Vec<(usize, f32)>> = (0..d).map(|j| p.column(j).unwrap()).collect();
        let scale = columns
            .iter()
            .flatten()
            .map(|&(_, v)| v.abs())
            .next()
            .unwrap();
        assert!(columns.iter().flatten().all(|&(_, v)| v.abs() == scale));
        for batch in [1, 3, 5, 16, 35] {
            let x = normal_batch(batch, d, (batch * 31 + i) as u64);
            let mut expected = Array2::<f32>::zeros((batch, k));
            for (b, mut out) in expected.outer_iter_mut().enumerate() {
                let mut sums = vec![0.0f32; k];
                for (j, column) in columns.iter().enumerate() {
                    for &(r, v) in column {
                        let value = x[[b, j]];
                        sums[r] += if v < 0.0 { -value } else { value };
                    }
                }
                for (o, sum) in out.iter_mut().zip(sums) {
                    *o = scale * sum;
                }
            }
            let z = p.project(x.view()).unwrap();
            let differ = z
                .iter()
                .zip(&expected)
                .filter(|(a, b)| a.to_bits() != b.to_bits());
            assert_eq!(differ.count(), 0, "{kind:?}, batch {batch}");
        }
    }
}

#[test]
fn materialised_sparse_matrix_equals_the_dense_one_and_its_columns() {
    for p in projections(500, 48) {
        let sparse = p.to_sparse();
        let dense = p.to_dense();
        assert_eq!(sparse.to_dense(), dense, "{:?}", p.kind());
        assert_eq!((sparse.rows(), sparse.cols()), (48, 500));
        for j in [0, 250, 499] {
            let column = p.column(j).unwrap();
            let from_dense: Vec<(usize, f32)> = (0..48)
                .filter(|&r| dense[[r, j]] != 0.0)
                .map(|r| (r, dense[[r, j]]))
                .collect();
            assert_eq!(column, from_dense);
        }
    }
}

#[test]
fn multiplying_by_the_materialised_matrix_matches_the_matrix_free_product() {
    let (d, k) = (2000, 64);
    for p in projections(d, k).into_iter().take(6) {
        let sparse = p.to_sparse();
        let x = normal_batch(3, d, 21);
        let mut product = Array2::<f64>::zeros((3, k));
        for (j, column) in sparse.outer_iterator().enumerate() {
            for (r, &v) in column.iter() {
                for b in 0..3 {
                    product[[b, r]] += f64::from(v) * f64::from(x[[b, j]]);
                }
            }
        }
        let dense = p.to_dense();
        let z = p.project(x.view()).unwrap();
        assert_close(&z, &product, &magnitudes(&dense, x.view()));
    }
}

#[test]
fn transpose_is_the_adjoint() {
    for p in projections(700, 33) {
        let z = normal_batch(4, 33, 5);
        let dense = p.to_dense();
        let back = p.transpose(z.view()).unwrap();
        let expected = dense_product(&dense.t().to_owned(), z.view());
        assert_close(
            &back,
            &expected,
            &magnitudes(&dense.t().to_owned(), z.view()),
        );

        // ⟨Px, z⟩ = ⟨x, Pᵀz⟩.
        let x = normal_batch(4, 700, 6);
        let px = p.project(x.view()).unwrap();
        for b in 0..4 {
            let lhs: f64 = px
                .row(b)
                .iter()
                .zip(z.row(b))
                .map(|(a, c)| f64::from(a * c))
                .sum();
            let rhs: f64 = x
                .row(b)
                .iter()
                .zip(back.row(b))
                .map(|(a, c)| f64::from(a * c))
                .sum();
            assert!(
                (lhs - rhs).abs() <= 1e-3 * (1.0 + lhs.abs()),
                "{lhs} vs {rhs}"
            );
        }

        let range = p.transpose_range(z.view(), 650, 50).unwrap();
        assert_eq!(range, back.slice(ndarray::s![.., 650..]).to_owned());
    }
}

#[test]
fn tensor_path_matches_the_host_path() {
    let device = Device::flex();
    let (d, k) = (900, 37);
    for p in projections(d, k) {
        let x = normal_batch(6, d, 31);
        let dense = p.to_dense();
        let host = p.project(x.view()).unwrap();
        let on_device = to_array(p.project_tensor(to_tensor(&x, &device)).unwrap());
        let expected = host.mapv(f64::from);
        assert_close(&on_device, &expected, &magnitudes(&dense, x.view()));

        // Through the core trait, in uneven chunks.
        let projector: Box<dyn Projector> = Box::new(p.clone());
        let mut acc = Tensor::<2>::zeros([6, k], &device);
        for (offset, len) in [(0, 1), (1, 500), (501, 399)] {
            let block = to_tensor(
                &x.slice(ndarray::s![.., offset..offset + len]).to_owned(),
                &device,
            );
            acc = projector.accumulate(offset, block, acc).unwrap();
        }
        assert_close(&to_array(acc), &expected, &magnitudes(&dense, x.view()));
    }
}

#[test]
fn tensor_transpose_matches_the_host_transpose() {
    let device = Device::flex();
    for p in projections(400, 29) {
        let z = normal_batch(3, 29, 41);
        let host = p.transpose_range(z.view(), 100, 250).unwrap();
        let on_device = to_array(
            p.transpose_tensor(to_tensor(&z, &device), 100, 250)
                .unwrap(),
        );
        let dense = p.to_dense().t().to_owned();
        let mags = magnitudes(&dense, z.view())
            .slice(ndarray::s![.., 100..350])
            .to_owned();
        assert_close(&on_device, &host.mapv(f64::from), &mags);
    }
}
