//! The projection on Burn tensors, for data already on a device.
//!
//! The nonzeros of a chunk of columns are hashed on the host (a few bytes per coordinate, the
//! same numbers as the host path) and uploaded as index tables; the data never leaves the
//! device. Per chunk of at most 32 768 coordinates (fewer when an intermediate tensor would
//! exceed 16 MiB, or a scatter-add would take more than 32 768 indices):
//!
//! - sparse JL: for each draw `i`, `acc[:, rows_i] += block ⊙ signs_i` (`select_assign` with
//!   addition), so `s` scatter-adds of `[batch, chunk]` values;
//! - very sparse: `acc[:, rows] += block[:, cols] ⊙ values`, one gather and one scatter-add;
//! - Gaussian: `acc += block · W` with the `[chunk, k]` block of `Pᵀ` built on the host.
//!
//! Scatter-adds into the same row run in an unspecified order on GPU backends, so results
//! there agree with the host path up to `f32` rounding, not bit for bit.

use burn::tensor::{IndexingUpdateOp, Int, Tensor, TensorData};
use fisher_core::Projector;

use crate::accumulator::Coverage;
use crate::kernel::sparse_entries;
use crate::projection::Matrix;
use crate::{Projection, Result};

/// Most coordinates per device step.
const DEVICE_CHUNK: usize = 1 << 15;

/// Most indices of one scatter-add (`select_assign`). Burn 0.22.1's kernel for wgpu adds only
/// the first 65 535 entries of a longer index and drops the rest silently (found by the root
/// package's `tests/device.rs`); half of that leaves room for the very sparse kind's random
/// number of nonzeros per chunk.
const DEVICE_INDICES: usize = 1 << 15;

/// Most values in an intermediate tensor of a device step (`[batch, nonzeros]` gathered
/// values, or the `[chunk, k]` Gaussian block): 2²² floats, 16 MiB.
const DEVICE_VALUES: usize = 1 << 22;

impl Projection {
    /// Projects a batch on its device: each row `x_b` to `P·x_b`.
    ///
    /// # Shapes
    /// - `x`: `[batch, d]`
    /// - output: `[batch, k]`
    ///
    /// # Errors
    /// A shape error when `x` has not `d` columns.
    ///
    /// ```
    /// use burn::tensor::{Device, Tensor};
    /// use fisher_jl::ProjectionConfig;
    ///
    /// let device = Device::flex();
    /// let projection = ProjectionConfig::new(300, 16).init().unwrap();
    /// let x = Tensor::<2>::ones([2, 300], &device);
    /// let z = projection.project_tensor(x).unwrap();
    /// assert_eq!(z.dims(), [2, 16]);
    /// ```
    pub fn project_tensor(&self, x: Tensor<2>) -> Result<Tensor<2>> {
        let [batch, d] = x.dims();
        if d != self.input_dim() {
            return Err(
                fisher_core::Error::shape("x", &[batch, self.input_dim()], &[batch, d]).into(),
            );
        }
        let acc = Tensor::zeros([batch, self.output_dim()], &x.device());
        self.accumulate_tensor(0, x, acc)
    }

    /// Adds `P[:, offset..offset + d_chunk] · block_b` to row `b` of `acc`, on the device of
    /// the tensors; returns the new accumulator.
    ///
    /// This form cannot see which chunks were fed before: keep a [`Coverage`] beside the
    /// accumulator to refuse overlapping chunks (the host [`Accumulator`](crate::Accumulator)
    /// does so itself).
    ///
    /// # Shapes
    /// - `block`: `[batch, d_chunk]`, coordinates `offset .. offset + d_chunk`
    /// - `acc` and output: `[batch, k]`
    ///
    /// # Errors
    /// [`Error::PastEnd`](crate::Error::PastEnd) when the chunk runs past `d`; a shape error
    /// when `acc` is not `[batch, k]`.
    pub fn accumulate_tensor(
        &self,
        offset: usize,
        block: Tensor<2>,
        acc: Tensor<2>,
    ) -> Result<Tensor<2>> {
        let [batch, n] = block.dims();
        if acc.dims() != [batch, self.output_dim()] {
            let expected = [batch, self.output_dim()];
            return Err(fisher_core::Error::shape("accumulator", &expected, &acc.dims()).into());
        }
        Coverage::new(self.input_dim()).check(offset, n)?;
        let _span = tracing::info_span!("jl_accumulate_tensor", offset, n, batch).entered();

        let mut acc = acc;
        for start in (0..n).step_by(self.device_chunk(batch)) {
            let len = self.device_chunk(batch).min(n - start);
            let chunk = block.clone().slice([0..batch, start..start + len]);
            acc = self.add_chunk(offset + start, chunk, acc);
        }
        Ok(acc)
    }

    /// Coordinates per device step for a batch of `batch`: at most [`DEVICE_CHUNK`], and few
    /// enough that no intermediate tensor holds more than [`DEVICE_VALUES`] values and no
    /// scatter-add more than about [`DEVICE_INDICES`] indices.
    fn device_chunk(&self, batch: usize) -> usize {
        let (per_coordinate, indices) = match self.matrix() {
            Matrix::SparseJl(_) => (batch, 1),
            Matrix::VerySparse(_) => {
                let nonzeros = (self.density() * self.output_dim() as f64).ceil() as usize;
                (batch * nonzeros, nonzeros)
            }
            Matrix::Gaussian(_) => (self.output_dim().max(batch), 0),
        };
        let by_values = DEVICE_VALUES / per_coordinate.max(1);
        let by_indices = DEVICE_INDICES / indices.max(1);
        by_values.min(by_indices).clamp(1, DEVICE_CHUNK)
    }

    /// Adds one chunk of coordinates starting at `j0`.
    fn add_chunk(&self, j0: usize, chunk: Tensor<2>, acc: Tensor<2>) -> Tensor<2> {
        let device = chunk.device();
        let [_, len] = chunk.dims();
        match self.matrix() {
            Matrix::SparseJl(cols) => {
                let entries = sparse_entries(cols, j0, len);
                let mut acc = acc;
                for draw in entries.chunks_exact(len) {
                    let (rows, signs) = self.rows_and_values(draw);
                    let rows = Tensor::<1, Int>::from_data(TensorData::new(rows, [len]), &device);
                    let signs = Tensor::<1>::from_data(TensorData::new(signs, [len]), &device);
                    let values = chunk.clone() * signs.unsqueeze_dim::<2>(0);
                    acc = acc.select_assign(1, rows, values, IndexingUpdateOp::Add);
                }
                acc
            }
            Matrix::VerySparse(_) => {
                let (cols, rows, values) = self.ragged_entries(j0, len);
                if rows.is_empty() {
                    return acc;
                }
                let e = rows.len();
                let cols = Tensor::<1, Int>::from_data(TensorData::new(cols, [e]), &device);
                let rows = Tensor::<1, Int>::from_data(TensorData::new(rows, [e]), &device);
                let values = Tensor::<1>::from_data(TensorData::new(values, [e]), &device);
                let gathered = chunk.select(1, cols) * values.unsqueeze_dim::<2>(0);
                acc.select_assign(1, rows, gathered, IndexingUpdateOp::Add)
            }
            Matrix::Gaussian(_) => {
                let weights = self.dense_block(j0, len);
                let k = self.output_dim();
                let w = Tensor::<2>::from_data(TensorData::new(weights, [len, k]), &device);
                acc + chunk.matmul(w)
            }
        }
    }

    /// Coordinates `offset .. offset + len` of `Pᵀ·z_b` for each row `z_b`, on the device of
    /// `z`.
    ///
    /// # Shapes
    /// - `z`: `[batch, k]`
    /// - output: `[batch, len]`
    ///
    /// # Errors
    /// A shape error when `z` has not `k` columns; [`Error::PastEnd`](crate::Error::PastEnd)
    /// when the range runs past `d`.
    pub fn transpose_tensor(&self, z: Tensor<2>, offset: usize, len: usize) -> Result<Tensor<2>> {
        let [batch, k] = z.dims();
        if k != self.output_dim() {
            return Err(
                fisher_core::Error::shape("z", &[batch, self.output_dim()], &[batch, k]).into(),
            );
        }
        Coverage::new(self.input_dim()).check(offset, len)?;
        let _span = tracing::info_span!("jl_transpose_tensor", offset, len, batch).entered();

        let device = z.device();
        let mut pieces = Vec::new();
        for start in (0..len).step_by(self.device_chunk(batch)) {
            let n = self.device_chunk(batch).min(len - start);
            pieces.push(self.transpose_chunk(offset + start, n, z.clone()));
        }
        Ok(match pieces.len() {
            0 => Tensor::zeros([batch, 0], &device),
            _ => Tensor::cat(pieces, 1),
        })
    }

    /// `Pᵀ·z` for the `n` coordinates from `j0`.
    fn transpose_chunk(&self, j0: usize, n: usize, z: Tensor<2>) -> Tensor<2> {
        let device = z.device();
        let [batch, k] = z.dims();
        match self.matrix() {
            Matrix::SparseJl(cols) => {
                let entries = sparse_entries(cols, j0, n);
                let mut out = Tensor::zeros([batch, n], &device);
                for draw in entries.chunks_exact(n) {
                    let (rows, signs) = self.rows_and_values(draw);
                    let rows = Tensor::<1, Int>::from_data(TensorData::new(rows, [n]), &device);
                    let signs = Tensor::<1>::from_data(TensorData::new(signs, [n]), &device);
                    out = out + z.clone().select(1, rows) * signs.unsqueeze_dim::<2>(0);
                }
                out
            }
            Matrix::VerySparse(_) => {
                let (cols, rows, values) = self.ragged_entries(j0, n);
                let out = Tensor::zeros([batch, n], &device);
                if rows.is_empty() {
                    return out;
                }
                let e = rows.len();
                let cols = Tensor::<1, Int>::from_data(TensorData::new(cols, [e]), &device);
                let rows = Tensor::<1, Int>::from_data(TensorData::new(rows, [e]), &device);
                let values = Tensor::<1>::from_data(TensorData::new(values, [e]), &device);
                let gathered = z.select(1, rows) * values.unsqueeze_dim::<2>(0);
                out.select_assign(1, cols, gathered, IndexingUpdateOp::Add)
            }
            Matrix::Gaussian(_) => {
                let weights = self.dense_block(j0, n);
                let w = Tensor::<2>::from_data(TensorData::new(weights, [n, k]), &device);
                z.matmul(w.transpose())
            }
        }
    }

    /// Rows and signed values `±scale` of one draw's entries.
    fn rows_and_values(&self, entries: &[u32]) -> (Vec<i32>, Vec<f32>) {
        let scale = self.scale();
        entries
            .iter()
            .map(|&e| ((e >> 1) as i32, if e & 1 == 1 { -scale } else { scale }))
            .unzip()
    }

    /// Column (relative to `j0`), row and value of every nonzero of coordinates
    /// `j0 .. j0 + n` of a sparse kind.
    fn ragged_entries(&self, j0: usize, n: usize) -> (Vec<i32>, Vec<i32>, Vec<f32>) {
        let (mut cols, mut rows, mut values) = (Vec::new(), Vec::new(), Vec::new());
        let (mut entries, mut scratch) = (Vec::new(), Vec::new());
        let scale = self.scale();
        for jj in 0..n {
            self.entries(j0 + jj, &mut entries, &mut scratch);
            for &e in &entries {
                cols.push(jj as i32);
                rows.push((e >> 1) as i32);
                values.push(if e & 1 == 1 { -scale } else { scale });
            }
        }
        (cols, rows, values)
    }

    /// Columns `j0 .. j0 + n` of `P` as a row-major `[n, k]` block (that is, rows of `Pᵀ`).
    fn dense_block(&self, j0: usize, n: usize) -> Vec<f32> {
        let k = self.output_dim();
        let mut block = vec![0.0; n * k];
        for (jj, row) in block.chunks_exact_mut(k).enumerate() {
            for (r, v) in self.column_values(j0 + jj) {
                row[r] = v;
            }
        }
        block
    }
}

impl Projector for Projection {
    fn input_dim(&self) -> usize {
        self.config().d
    }

    fn output_dim(&self) -> usize {
        self.config().k
    }

    fn accumulate(
        &self,
        offset: usize,
        block: Tensor<2>,
        acc: Tensor<2>,
    ) -> fisher_core::Result<Tensor<2>> {
        self.accumulate_tensor(offset, block, acc)
            .map_err(Into::into)
    }
}
