//! Helpers shared by the integration tests: seeded data and slow, obvious oracles.

#![allow(dead_code)]

use fisher_core::Tolerance;
use ndarray::{Array2, ArrayView2};

/// A small seeded generator for test data (xorshift64*), independent of the crate's hashing.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x2545_F491_4F6C_DD1D) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `[0, 1)`.
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform integer in `0..n`.
    pub fn below(&mut self, n: usize) -> usize {
        (self.uniform() * n as f64) as usize
    }

    /// Standard normal.
    pub fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.uniform();
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}

/// A `[batch, d]` batch of standard normal entries.
pub fn normal_batch(batch: usize, d: usize, seed: u64) -> Array2<f32> {
    let mut rng = Rng::new(seed);
    Array2::from_shape_fn((batch, d), |_| rng.normal() as f32)
}

/// `x·Pᵀ` in `f64` from the dense `[k, d]` matrix: the oracle.
pub fn dense_product(p: &Array2<f32>, x: ArrayView2<f32>) -> Array2<f64> {
    let (k, d) = p.dim();
    Array2::from_shape_fn((x.nrows(), k), |(b, r)| {
        (0..d)
            .map(|j| f64::from(p[[r, j]]) * f64::from(x[[b, j]]))
            .sum()
    })
}

/// `Σ_j |P_rj x_bj|` for each output: the magnitude that bounds `f32` rounding.
pub fn magnitudes(p: &Array2<f32>, x: ArrayView2<f32>) -> Array2<f64> {
    let (k, d) = p.dim();
    Array2::from_shape_fn((x.nrows(), k), |(b, r)| {
        (0..d).map(|j| f64::from(p[[r, j]] * x[[b, j]]).abs()).sum()
    })
}

/// Asserts `actual` is within `f32` reordering error of `expected`: `|a − e| ≤ 1e-5 · m + 1e-6`
/// where `m` is the magnitude of the terms summed.
#[track_caller]
pub fn assert_close(actual: &Array2<f32>, expected: &Array2<f64>, magnitude: &Array2<f64>) {
    assert_eq!(actual.dim(), expected.dim());
    for ((idx, &a), (&e, &m)) in actual.indexed_iter().zip(expected.iter().zip(magnitude)) {
        let tol = Tolerance::new(0.0, 1e-5 * m + 1e-6);
        assert!(
            tol.is_close(f64::from(a), e),
            "at {idx:?}: {a} vs oracle {e} (terms of magnitude {m})"
        );
    }
}

/// The upper `1 − p` quantile of χ² with `dof` degrees of freedom for `z` the normal quantile
/// of `1 − p` (Wilson and Hilferty 1931).
pub fn chi_square_critical(dof: usize, z: f64) -> f64 {
    let v = dof as f64;
    let a = 2.0 / (9.0 * v);
    v * (1.0 - a + z * a.sqrt()).powi(3)
}

/// Pearson's statistic of `observed` counts against `expected` counts.
pub fn chi_square(observed: &[f64], expected: &[f64]) -> f64 {
    observed
        .iter()
        .zip(expected)
        .map(|(o, e)| (o - e) * (o - e) / e)
        .sum()
}
