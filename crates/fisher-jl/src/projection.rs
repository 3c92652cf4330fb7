//! A seeded random projection `P ∈ ℝ^{k×d}` applied without storing it, on host arrays.
//!
//! `P·x` for a batch of vectors `x` (rows of a `[batch, d]` array), in one call or streamed in
//! chunks of coordinates; `Pᵀ·z` back; and `P` itself, materialised as a sparse or dense
//! matrix for users who want to store or inspect it. Every column of `P` is recomputed from
//! `(seed, coordinate)` when needed (see [`columns`](crate::columns) in the crate docs).

use ndarray::{Array2, ArrayView2, Axis, s};
use rayon::prelude::*;
use sprs::CsMat;

use crate::accumulator::{Accumulator, Coverage, State};
use crate::columns::{GaussianColumns, SparseJlColumns, VerySparseColumns};
use crate::kernel::{self, Columns, GroupAcc, SUPER};
use crate::{Error, ProjectionConfig, ProjectionKind, Result};

/// Coordinates per task of the Gaussian kernel and of the transposes.
const COLUMN_TILE: usize = 64;

/// A seeded random projection `ℝ^d → ℝ^k` that stores no matrix; built by
/// [`ProjectionConfig::init`].
///
/// ```
/// use fisher_jl::ProjectionConfig;
/// use ndarray::Array2;
///
/// let projection = ProjectionConfig::new(1000, 64).with_seed(3).init().unwrap();
/// let x = Array2::from_shape_fn((2, 1000), |(b, j)| ((b + 1) * j) as f32 / 1000.0);
///
/// // All at once, or streamed in chunks: the same numbers, bit for bit.
/// let z = projection.project(x.view()).unwrap();
/// let mut acc = projection.accumulator(2);
/// projection.accumulate(0, x.slice(ndarray::s![.., ..600]), &mut acc).unwrap();
/// projection.accumulate(600, x.slice(ndarray::s![.., 600..]), &mut acc).unwrap();
/// assert_eq!(acc.finish().unwrap(), z);
/// assert_eq!(z.dim(), (2, 64));
/// ```
#[derive(Clone, Debug)]
pub struct Projection {
    config: ProjectionConfig,
    matrix: Matrix,
    scale: f32,
    density: f64,
}

/// The column generator of each kind.
#[derive(Clone, Debug)]
pub(crate) enum Matrix {
    SparseJl(SparseJlColumns),
    VerySparse(VerySparseColumns),
    Gaussian(GaussianColumns),
}

impl Projection {
    /// Builds the column generators of a validated configuration.
    pub(crate) fn from_valid_config(config: ProjectionConfig) -> Self {
        let (d, k, seed) = (config.d, config.k, config.seed);
        let (matrix, scale, density) = match config.kind {
            ProjectionKind::SparseJl { nonzeros } => (
                Matrix::SparseJl(SparseJlColumns::new(k, nonzeros, seed)),
                1.0 / (nonzeros as f64).sqrt(),
                nonzeros as f64 / k as f64,
            ),
            ProjectionKind::VerySparse { density } => {
                let density = density.unwrap_or(1.0 / (d as f64).sqrt());
                (
                    Matrix::VerySparse(VerySparseColumns::new(k, density, seed)),
                    (1.0 / (density * k as f64)).sqrt(),
                    density,
                )
            }
            ProjectionKind::Gaussian => (
                Matrix::Gaussian(GaussianColumns::new(k, seed)),
                1.0 / (k as f64).sqrt(),
                1.0,
            ),
        };
        Self {
            config,
            matrix,
            scale: scale as f32,
            density,
        }
    }

    /// The column generator.
    pub(crate) fn matrix(&self) -> &Matrix {
        &self.matrix
    }

    /// The settings this projection was built from; store them to rebuild it.
    pub fn config(&self) -> &ProjectionConfig {
        &self.config
    }

    /// Input length `d`.
    pub fn input_dim(&self) -> usize {
        self.config.d
    }

    /// Output length `k`.
    pub fn output_dim(&self) -> usize {
        self.config.k
    }

    /// The kind of matrix.
    pub fn kind(&self) -> &ProjectionKind {
        &self.config.kind
    }

    /// The seed.
    pub fn seed(&self) -> u64 {
        self.config.seed
    }

    /// Nonzeros per coordinate `s` of a sparse JL projection; `None` for the other kinds.
    pub fn nonzeros(&self) -> Option<usize> {
        match &self.matrix {
            Matrix::SparseJl(cols) => Some(cols.s),
            _ => None,
        }
    }

    /// The expected fraction of nonzero entries of `P`: `s/k` (sparse JL), `ρ` (very sparse,
    /// `1/√d` unless set) or `1` (Gaussian).
    pub fn density(&self) -> f64 {
        self.density
    }

    /// The magnitude of the nonzeros: `1/√s` (sparse JL), `√(1/(ρ·k))` (very sparse); for
    /// the Gaussian kind the standard deviation `1/√k` of the entries.
    pub fn scale(&self) -> f32 {
        self.scale
    }

    /// The nonzeros `(row, value)` of column `j` of `P`, by increasing row.
    ///
    /// # Errors
    /// [`Error::PastEnd`] when `j ≥ d`.
    pub fn column(&self, j: usize) -> Result<Vec<(usize, f32)>> {
        Coverage::new(self.config.d).check(j, 1)?;
        Ok(self.column_values(j))
    }

    /// The nonzeros of column `j < d`, by increasing row.
    pub(crate) fn column_values(&self, j: usize) -> Vec<(usize, f32)> {
        let mut column = match &self.matrix {
            Matrix::Gaussian(cols) => {
                let mut values = vec![0.0; self.config.k];
                cols.column_into(j, &mut values);
                values
                    .into_iter()
                    .enumerate()
                    .map(|(r, g)| (r, g * self.scale))
                    .collect()
            }
            _ => {
                let mut entries = Vec::new();
                self.entries(j, &mut entries, &mut Vec::new());
                entries
                    .into_iter()
                    .map(|e| ((e >> 1) as usize, signed_one(e) * self.scale))
                    .collect::<Vec<_>>()
            }
        };
        column.sort_unstable_by_key(|&(r, _)| r);
        column
    }

    /// `Var(‖Px‖² / ‖x‖²)` over the random choice of `P` (that is, of the seed) for a fixed
    /// `x`, with `q = ‖x‖₄⁴ / ‖x‖₂⁴` (between `1/d` for a flat vector and `1` for a spike) and
    /// `n_b` the number of rows of block `b`:
    ///
    /// | kind | variance |
    /// | --- | --- |
    /// | sparse JL | `(2/s²) · Σ_b 1/n_b · (1 − q)`, which is `2(1 − q)/k` when `s` divides `k` |
    /// | very sparse | `(2 + (1/ρ − 3)·q) / k` (Li, Hastie and Church 2006, Lemma 1) |
    /// | Gaussian | `2/k` |
    ///
    /// `E[‖Px‖²] = ‖x‖²` for all three. Returns `None` when `x` is zero.
    pub fn norm_ratio_variance(&self, x: &[f32]) -> Option<f64> {
        let sq: f64 = x.iter().map(|&v| f64::from(v).powi(2)).sum();
        if sq == 0.0 {
            return None;
        }
        let q = x.iter().map(|&v| f64::from(v).powi(4)).sum::<f64>() / (sq * sq);
        let k = self.config.k as f64;
        Some(match &self.matrix {
            Matrix::SparseJl(cols) => {
                let inverse_sizes: f64 = (0..cols.s).map(|i| 1.0 / cols.block(i).1 as f64).sum();
                2.0 / (cols.s * cols.s) as f64 * inverse_sizes * (1.0 - q)
            }
            Matrix::VerySparse(_) => (2.0 + (1.0 / self.density - 3.0) * q) / k,
            Matrix::Gaussian(_) => 2.0 / k,
        })
    }

    /// An empty accumulator for a batch of `batch` vectors.
    pub fn accumulator(&self, batch: usize) -> Accumulator {
        let k = self.config.k;
        let state = match self.matrix {
            Matrix::Gaussian(_) => State::Dense(Array2::zeros((batch, k))),
            _ => State::Sparse(GroupAcc::for_batch(batch, k)),
        };
        Accumulator {
            config: self.config.clone(),
            batch,
            scale: self.scale,
            coverage: Coverage::new(self.config.d),
            state,
        }
    }

    /// Projects a batch: `x·Pᵀ`, each row `x_b` mapped to `P·x_b`.
    ///
    /// Multi-threaded over the current rayon pool; the result does not depend on the number of
    /// threads.
    ///
    /// # Shapes
    /// - `x`: `[batch, d]`
    /// - output: `[batch, k]`
    ///
    /// # Errors
    /// A shape error when `x` has not `d` columns; a non-finite error when `x` holds NaN or
    /// infinity.
    pub fn project(&self, x: ArrayView2<'_, f32>) -> Result<Array2<f32>> {
        if x.ncols() != self.config.d {
            return Err(
                fisher_core::Error::shape("x", &[x.nrows(), self.config.d], x.shape()).into(),
            );
        }
        let mut acc = self.accumulator(x.nrows());
        self.accumulate(0, x, &mut acc)?;
        acc.finish()
    }

    /// Adds the chunk `block`, coordinates `offset .. offset + d_chunk` of each vector of the
    /// batch, into `acc`: `acc += P[:, offset..offset + d_chunk] · block_b` for each row `b`.
    ///
    /// Multi-threaded over the current rayon pool. Chunks fed in increasing coordinate order
    /// give the same sums, bit for bit, whatever their sizes and the number of threads.
    /// Memory beyond `acc`, per task (a group of 16 batch rows and a range of its blocks): a
    /// table of `4·s` bytes per coordinate for 8192 coordinates at a time (256 KiB for
    /// `s = 8`) and 512 KiB of transposed input; plus a copy of 8192 coordinates of the batch
    /// at a time when the rows of `block` are not contiguous.
    ///
    /// # Shapes
    /// - `block`: `[batch, d_chunk]`
    ///
    /// # Errors
    /// [`Error::PastEnd`] or [`Error::Overlap`] for a misplaced chunk, a shape error when the
    /// batch size differs from the accumulator's, [`Error::Foreign`] for an accumulator of
    /// another projection. Nothing is added on error.
    pub fn accumulate(
        &self,
        offset: usize,
        block: ArrayView2<'_, f32>,
        acc: &mut Accumulator,
    ) -> Result<()> {
        if acc.config != self.config {
            return Err(Error::Foreign {
                expected: format!("{:?}", acc.config),
                found: format!("{:?}", self.config),
            });
        }
        let (batch, n) = block.dim();
        if batch != acc.batch {
            return Err(fisher_core::Error::shape("block", &[acc.batch, n], &[batch, n]).into());
        }
        acc.coverage.check(offset, n)?;
        let _span = tracing::info_span!("jl_accumulate", offset, n, batch).entered();

        let rows: Option<Vec<&[f32]>> = block.outer_iter().map(|r| r.to_slice()).collect();
        match rows {
            Some(rows) => self.add_rows(offset, &rows, &mut acc.state)?,
            None => {
                for start in (0..n).step_by(SUPER) {
                    let end = n.min(start + SUPER);
                    let tile = block
                        .slice(s![.., start..end])
                        .as_standard_layout()
                        .into_owned();
                    let rows: Vec<&[f32]> =
                        tile.outer_iter().filter_map(|r| r.to_slice()).collect();
                    self.add_rows(offset + start, &rows, &mut acc.state)?;
                }
            }
        }
        acc.coverage.insert(offset, n)
    }

    /// Adds contiguous rows covering coordinates `offset .. offset + rows[0].len()`.
    fn add_rows(&self, offset: usize, rows: &[&[f32]], state: &mut State) -> Result<()> {
        match (&self.matrix, state) {
            (Matrix::Gaussian(cols), State::Dense(sums)) => add_dense(cols, offset, rows, sums),
            (Matrix::SparseJl(cols), State::Sparse(groups)) => {
                kernel::accumulate(groups, Columns::Sparse(cols), offset, rows);
            }
            (Matrix::VerySparse(cols), State::Sparse(groups)) => {
                kernel::accumulate(groups, Columns::VerySparse(cols), offset, rows);
            }
            _ => {
                return Err(Error::Foreign {
                    expected: "an accumulator laid out for another kind".to_string(),
                    found: self.config.kind.label(),
                });
            }
        }
        Ok(())
    }

    /// Maps a batch back: `z·P`, each row `z_b` mapped to `Pᵀ·z_b`.
    ///
    /// # Shapes
    /// - `z`: `[batch, k]`
    /// - output: `[batch, d]`
    ///
    /// # Errors
    /// A shape error when `z` has not `k` columns.
    pub fn transpose(&self, z: ArrayView2<'_, f32>) -> Result<Array2<f32>> {
        self.transpose_range(z, 0, self.config.d)
    }

    /// Coordinates `offset .. offset + len` of `Pᵀ·z_b` for each row `z_b`: the adjoint,
    /// streamed by coordinate range.
    ///
    /// # Shapes
    /// - `z`: `[batch, k]`
    /// - output: `[batch, len]`
    ///
    /// # Errors
    /// A shape error when `z` has not `k` columns; [`Error::PastEnd`] when the range runs past
    /// `d`.
    pub fn transpose_range(
        &self,
        z: ArrayView2<'_, f32>,
        offset: usize,
        len: usize,
    ) -> Result<Array2<f32>> {
        let k = self.config.k;
        if z.ncols() != k {
            return Err(fisher_core::Error::shape("z", &[z.nrows(), k], z.shape()).into());
        }
        Coverage::new(self.config.d).check(offset, len)?;
        let _span = tracing::info_span!("jl_transpose", offset, len).entered();

        let z = z.as_standard_layout();
        let mut out = Array2::zeros((z.nrows(), len));
        out.axis_chunks_iter_mut(Axis(1), COLUMN_TILE)
            .into_par_iter()
            .enumerate()
            .for_each(|(c, mut block)| {
                let mut entries = Vec::new();
                let mut scratch = Vec::new();
                let mut weights = vec![0.0f32; k];
                for (jj, mut column) in block.axis_iter_mut(Axis(1)).enumerate() {
                    let j = offset + c * COLUMN_TILE + jj;
                    if let Matrix::Gaussian(cols) = &self.matrix {
                        cols.column_into(j, &mut weights);
                    } else {
                        self.entries(j, &mut entries, &mut scratch);
                    }
                    for (o, zb) in column.iter_mut().zip(z.outer_iter()) {
                        let sum: f32 = match &self.matrix {
                            Matrix::Gaussian(_) => {
                                weights.iter().zip(zb.iter()).map(|(w, v)| w * v).sum()
                            }
                            _ => entries
                                .iter()
                                .map(|&e| signed_one(e) * zb[(e >> 1) as usize])
                                .sum(),
                        };
                        *o = self.scale * sum;
                    }
                }
            });
        Ok(out)
    }

    /// `P` as a compressed sparse column matrix `k × d` with its exact `f32` values.
    ///
    /// Memory: about `12·s·d` bytes for sparse JL and `12·ρ·k·d` for very sparse
    /// (100 MB for the very sparse default at `d = 4 194 304`, `k = 4096`); the Gaussian kind
    /// is stored in full.
    pub fn to_sparse(&self) -> CsMat<f32> {
        let _span = tracing::info_span!("jl_to_sparse", d = self.config.d).entered();
        let (k, d) = (self.config.k, self.config.d);
        let pieces: Vec<(Vec<usize>, Vec<usize>, Vec<f32>)> = (0..d.div_ceil(COLUMN_TILE * 64))
            .into_par_iter()
            .map(|c| {
                let columns = c * COLUMN_TILE * 64..d.min((c + 1) * COLUMN_TILE * 64);
                let (mut lengths, mut indices, mut data) = (Vec::new(), Vec::new(), Vec::new());
                for j in columns {
                    let column = self.column_values(j);
                    lengths.push(column.len());
                    for (r, v) in column {
                        indices.push(r);
                        data.push(v);
                    }
                }
                (lengths, indices, data)
            })
            .collect();

        let mut indptr = Vec::with_capacity(d + 1);
        let nnz = pieces.iter().map(|p| p.1.len()).sum();
        let (mut indices, mut data) = (Vec::with_capacity(nnz), Vec::with_capacity(nnz));
        indptr.push(0);
        for (lengths, piece_indices, piece_data) in pieces {
            for len in lengths {
                indptr.push(indptr[indptr.len() - 1] + len);
            }
            indices.extend(piece_indices);
            data.extend(piece_data);
        }
        CsMat::new_csc((k, d), indptr, indices, data)
    }

    /// `P` as a dense `[k, d]` array: `4·k·d` bytes, for tests and small `d`.
    pub fn to_dense(&self) -> Array2<f32> {
        let mut dense = Array2::zeros((self.config.k, self.config.d));
        for (j, mut column) in dense.axis_iter_mut(Axis(1)).enumerate() {
            for (r, v) in self.column_values(j) {
                column[r] = v;
            }
        }
        dense
    }

    /// The entries `2·row + negative` of column `j` of a sparse kind, into `out`.
    pub(crate) fn entries(&self, j: usize, out: &mut Vec<u32>, scratch: &mut Vec<u64>) {
        match &self.matrix {
            Matrix::SparseJl(cols) => cols.column(j, out),
            Matrix::VerySparse(cols) => {
                out.clear();
                scratch.resize(cols.k.div_ceil(64), 0);
                cols.column_into(j, out, scratch);
            }
            Matrix::Gaussian(_) => out.clear(),
        }
    }
}

/// `−1` for a negative entry, `+1` otherwise.
#[inline]
fn signed_one(e: u32) -> f32 {
    if e & 1 == 1 { -1.0 } else { 1.0 }
}

/// Adds contiguous rows into Gaussian sums `[batch, k]`, `COLUMN_TILE` coordinates at a time:
/// the columns are drawn in parallel, then each batch row is updated by one task.
fn add_dense(cols: &GaussianColumns, offset: usize, rows: &[&[f32]], sums: &mut Array2<f32>) {
    let k = cols.k;
    let n = rows.first().map_or(0, |r| r.len());
    let mut weights = vec![0.0f32; COLUMN_TILE * k];
    for t0 in (0..n).step_by(COLUMN_TILE) {
        let len = COLUMN_TILE.min(n - t0);
        weights[..len * k]
            .par_chunks_mut(k)
            .enumerate()
            .for_each(|(jj, w)| cols.column_into(offset + t0 + jj, w));
        sums.outer_iter_mut()
            .into_par_iter()
            .zip(rows.par_iter())
            .for_each(|(mut out, row)| {
                for (jj, w) in weights[..len * k].chunks_exact(k).enumerate() {
                    let x = row[t0 + jj];
                    for (o, &g) in out.iter_mut().zip(w) {
                        *o += g * x;
                    }
                }
            });
    }
}
