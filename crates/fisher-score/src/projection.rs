//! Where projected scores accumulate: fisher-jl's host kernel or any device projector.
//!
//! Both compute `z = P·v` for vectors `v` that arrive in blocks of coordinates. The host path
//! copies each block to the host and runs fisher-jl's multi-threaded sparse kernel, which
//! adds block after block bit-identically whatever their sizes; it is the fast path on CPU
//! backends, where the copy is a memcpy. The device path calls
//! [`Projector::accumulate`] on the device of the scores, for GPU backends and for projectors
//! of your own.

use burn::tensor::{Device, Tensor, TensorData};
use fisher_core::{Error as CoreError, Projector};
use fisher_jl::{Accumulator, Projection};
use ndarray::ArrayView2;

use crate::Result;
use crate::normalise::host_vec;

/// A projection `ℝ^d → ℝ^k` and where it runs.
pub enum ScoreProjection {
    /// A fisher-jl projection run on the host (the fast path on CPU backends).
    Host(Projection),
    /// Any projector, run on the device of the data. It must be shareable between threads:
    /// micro-batches on the CPU run side by side (see
    /// [`FisherEmbedder::with_micro_batch`](crate::FisherEmbedder::with_micro_batch)).
    Device(Box<dyn Projector + Send + Sync>),
}

impl From<Projection> for ScoreProjection {
    fn from(p: Projection) -> Self {
        Self::Host(p)
    }
}

impl std::fmt::Debug for ScoreProjection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Host(p) => f.debug_tuple("Host").field(p.config()).finish(),
            Self::Device(p) => write!(f, "Device({} → {})", p.input_dim(), p.output_dim()),
        }
    }
}

impl ScoreProjection {
    /// Input length `d`.
    pub fn input_dim(&self) -> usize {
        match self {
            Self::Host(p) => p.input_dim(),
            Self::Device(p) => p.input_dim(),
        }
    }

    /// Output length `k`.
    pub fn output_dim(&self) -> usize {
        match self {
            Self::Host(p) => p.output_dim(),
            Self::Device(p) => p.output_dim(),
        }
    }

    /// Starts the projection of a batch of `batch` vectors, with results on `device`.
    pub fn start(&self, batch: usize, device: &Device) -> Projecting<'_> {
        match self {
            Self::Host(p) => Projecting::Host {
                projection: p,
                acc: p.accumulator(batch),
                device: device.clone(),
            },
            Self::Device(p) => Projecting::Device {
                projector: p.as_ref(),
                acc: Tensor::zeros([batch, p.output_dim()], device),
            },
        }
    }

    /// Projects whole vectors at once.
    ///
    /// # Shapes
    /// - `x`: `[batch, d]`
    /// - output: `[batch, k]`, on the device of `x`
    ///
    /// # Errors
    /// When `x` has not `d` columns or holds non-finite values.
    pub fn project(&self, x: Tensor<2>) -> Result<Tensor<2>> {
        let [batch, d] = x.dims();
        if d != self.input_dim() {
            return Err(CoreError::shape(
                "vectors to project",
                &[batch, self.input_dim()],
                &[batch, d],
            )
            .into());
        }
        let mut state = self.start(batch, &x.device());
        state.add(0, x)?;
        state.finish()
    }
}

/// A projection in progress: blocks of coordinates go in, `[batch, k]` comes out.
pub enum Projecting<'a> {
    /// On the host, with fisher-jl's accumulator.
    Host {
        /// The projection.
        projection: &'a Projection,
        /// The running sums.
        acc: Accumulator,
        /// Where the result goes.
        device: Device,
    },
    /// On the device.
    Device {
        /// The projector.
        projector: &'a (dyn Projector + Send + Sync),
        /// The running sums, `[batch, k]`.
        acc: Tensor<2>,
    },
}

impl Projecting<'_> {
    /// Adds the block of coordinates `offset .. offset + width`.
    ///
    /// # Shapes
    /// - `block`: `[batch, width]`
    ///
    /// # Errors
    /// When the block runs past `d`, overlaps a block fed before (host path), or has another
    /// batch size.
    pub fn add(&mut self, offset: usize, block: Tensor<2>) -> Result<()> {
        match self {
            Self::Host {
                projection, acc, ..
            } => {
                let [batch, width] = block.dims();
                let values = host_vec(block)?;
                let view = ArrayView2::from_shape((batch, width), &values).map_err(|e| {
                    CoreError::config("score block", format!("{e}"), "not a matrix")
                })?;
                projection.accumulate(offset, view, acc)?;
            }
            Self::Device { projector, acc } => {
                let previous = std::mem::replace(acc, Tensor::zeros([0, 0], &block.device()));
                *acc = projector.accumulate(offset, block, previous)?;
            }
        }
        Ok(())
    }

    /// The projections.
    ///
    /// # Shapes
    /// - output: `[batch, k]`
    ///
    /// # Errors
    /// On the host path, when a coordinate was never fed or a sum is not finite.
    pub fn finish(self) -> Result<Tensor<2>> {
        match self {
            Self::Host { acc, device, .. } => {
                let z = acc.finish()?;
                let (batch, k) = z.dim();
                let values = z.into_raw_vec_and_offset().0;
                Ok(Tensor::from_data(
                    TensorData::new(values, [batch, k]),
                    &device,
                ))
            }
            Self::Device { acc, .. } => Ok(acc),
        }
    }
}
