//! Sparse Johnson–Lindenstrauss projections, matrix-free from a seed.

mod accumulator;
mod columns;
mod config;
mod error;
mod hash;
mod kernel;
mod projection;
mod tensor;

pub use accumulator::{Accumulator, Coverage};
pub use config::{DEFAULT_NONZEROS, MAX_NONZEROS, MAX_OUTPUT_DIM, ProjectionConfig, ProjectionKind};
pub use error::{Error, Result};
pub use projection::Projection;
