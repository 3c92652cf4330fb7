//! Random projections `ℝ^d → ℝ^k` that store no matrix: sparse Johnson–Lindenstrauss, very
//! sparse and dense Gaussian, recomputed column by column from a seed.
//!
//! Per-example gradients have millions of entries; the embeddings of fisher-embed are their
//! projections `z = P·x` to a few thousand numbers. This crate computes `P·x` at close to the
//! speed the input can be read, for `x` on the host (ndarray) or on any Burn device, in one
//! call or streamed in chunks of coordinates, and `Pᵀ·z` back.
//!
//! # The matrices
//!
//! The Johnson–Lindenstrauss lemma: for `n` points and `k ≥ C·ε⁻²·log n`, a random `P` keeps
//! every pairwise distance within a factor `1 ± ε` with high probability. The matrices here
//! all satisfy `E[‖Px‖²] = ‖x‖²`; they differ in sparsity, cost and tails. With
//! `q = ‖x‖₄⁴ / ‖x‖₂⁴` (between `1/d` for a flat vector and `1` for a single spike):
//!
//! | [`ProjectionKind`] | column `j` of `P` | cost per coordinate | `Var(‖Px‖²/‖x‖²)` |
//! | --- | --- | --- | --- |
//! | `SparseJl { nonzeros: s }` | `s` entries `±1/√s`, one per row block | `s` | `2(1 − q)/k` ¹ |
//! | `VerySparse { density: ρ }` | `±√(1/(ρk))` w.p. `ρ/2` each | `ρ·k` | `(2 + (1/ρ − 3)·q)/k` |
//! | `Gaussian` | entries `N(0, 1/k)` | `k` | `2/k` |
//!
//! ¹ When `s` divides `k`; in general `(2/s²)·Σ_b 1/n_b · (1 − q)`, with `n_b` the rows of
//! block `b` ([`Projection::norm_ratio_variance`] computes it for any `x`).
//!
//! - **Sparse JL** (Kane and Nelson, *Sparser Johnson–Lindenstrauss transforms*, J. ACM 2014,
//!   the *block construction*; Dasgupta, Kumar and Sarlós 2010 before them): rows are cut
//!   into `s` blocks `⌊i·k/s⌋ .. ⌊(i+1)·k/s⌋` and each coordinate gets one nonzero `±1/√s` in
//!   each block, at a uniform row with an independent sign. `s = 1` is the CountSketch.
//!   `‖Px‖² − ‖x‖² = (1/s)·Σ_{j≠j'} x_j x_j' Σ_r σ_rj σ_rj' η_rj η_rj'`, whose variance is
//!   `(2/s²)·Σ_b 1/n_b · (‖x‖⁴ − ‖x‖₄⁴)`: the same for every `s` when `s` divides `k`; a
//!   larger `s` shortens the tails for inputs concentrated on few coordinates (Kane and Nelson
//!   need `s = Θ(ε⁻¹ log(1/δ))` for the worst case). The default is `s = 4`
//!   ([`DEFAULT_NONZEROS`]); Tropp et al. (2019) recommend `8` as safe for any input.
//! - **Very sparse** (Li, Hastie and Church, *Very sparse random projections*, KDD 2006; the
//!   matrix of scikit-learn's `SparseRandomProjection`): Achlioptas's database-friendly
//!   projection (J. Comput. Syst. Sci. 2003, entries `±√3` with probability `1/6` each)
//!   taken to density `ρ = 1/√d`. Cheap, but its variance grows with `q/ρ`: spiky inputs
//!   need a denser matrix.
//! - **Gaussian**: the textbook matrix, `‖Px‖²/‖x‖² ~ χ²_k/k`. It costs `k` operations per
//!   coordinate and is here as the oracle the sparse kinds are tested against.
//!
//! # How the numbers are made
//!
//! No matrix is stored. Every random choice is a counter-based hash of `(seed, coordinate,
//! draw)`: the output of SplitMix64 (Steele, Lea and Flood 2014) at that counter. Column `j` is
//! recomputed whenever it is needed, in any order, on any thread or device, and always comes
//! out the same, so a projection is fully described by its [`ProjectionConfig`] (store it
//! beside embeddings; it serialises to JSON). Set-up takes microseconds for any `d`.
//!
//! - Sparse JL: draws `2p` and `2p + 1` of coordinate `j` share the 64-bit hash `h(κ_p, j)`;
//!   in each 32-bit half, bit 0 is the sign and the other 31 bits `v` pick the row in a block
//!   of `n_b` rows as `⌊v·n_b/2³¹⌋`.
//! - Very sparse: the count of nonzeros of coordinate `j` is `Binomial(k, ρ)`, drawn by
//!   inverting its tabulated distribution function at `h(κ, j)`; the rows are a uniform subset
//!   of that size (Floyd's algorithm over the SplitMix64 stream keyed by `h(κ, j)`), which gives
//!   exactly the law of `k` independent Bernoulli(`ρ`) entries.
//! - Gaussian: Box–Muller pairs from 53-bit uniforms of the stream keyed by `h(κ, j)`.
//!
//! # Streaming and determinism
//!
//! A vector may arrive in chunks `offset .. offset + len` of any sizes. An [`Accumulator`]
//! adds each chunk and remembers the ranges fed (a [`Coverage`]), so overlapping chunks, chunks
//! past `d` and unfinished vectors are typed errors. On the host, each output is a sum over
//! coordinates taken in increasing coordinate order, whatever the chunking, tiling and thread
//! count: chunks fed in order give the same result bit for bit. Work is spread over the
//! current rayon pool by groups of 16 batch rows and by row blocks, never by coordinates.
//!
//! # Example
//!
//! ```
//! use fisher_jl::{ProjectionConfig, ProjectionKind};
//! use ndarray::Array2;
//!
//! let (d, k) = (10_000, 256);
//! let projection = ProjectionConfig::new(d, k).with_seed(42).init().unwrap();
//!
//! // Two vectors, one of them the other scaled: the projection is linear.
//! let x = Array2::from_shape_fn((2, d), |(b, j)| (b + 1) as f32 * ((j % 7) as f32 - 3.0));
//! let z = projection.project(x.view()).unwrap();
//! for r in 0..k {
//!     assert!((z[[1, r]] - 2.0 * z[[0, r]]).abs() <= 1e-3 * z[[0, r]].abs().max(1.0));
//! }
//!
//! // Norms are preserved in expectation; for k = 256 within about ±9% (one standard deviation).
//! let norm = |v: ndarray::ArrayView1<f32>| v.iter().map(|a| a * a).sum::<f32>();
//! let ratio = norm(z.row(0)) / norm(x.row(0));
//! assert!((ratio - 1.0).abs() < 0.4, "ratio {ratio}");
//!
//! // The same matrix, materialised, gives the same product.
//! let p = projection.to_sparse();
//! assert_eq!((p.rows(), p.cols(), p.nnz()), (k, d, 4 * d));
//! ```
//!
//! # Speed
//!
//! Measured figures are in `docs/benchmarks.md` of the repository; run `fisher bench
//! projection --d 4194304 --k 4096 --batch 32` or `cargo bench --bench projection` to measure
//! a machine. The host kernel hashes the nonzeros of 8192 coordinates at a time, transposes
//! the input to 16-lane vectors (AVX-512 or AVX2 where available, chosen at run time; every
//! instruction set gives the same bits) and adds one vector
//! per nonzero into an accumulator block that stays in cache; memory beyond input and output
//! is about 1 MiB per thread.
//!
//! # Numerics
//!
//! Sums are in `f32`. The host kernel adds `±x` into each row in increasing coordinate order,
//! starting from zero, and returns `scale·sum`: exactly what a plain loop over the
//! coordinates computes (a test checks this bit for bit). The tensor path adds `±scale·x`
//! in the order of the backend's scatter; the two agree within `f32` rounding (a relative
//! error of order `√(number of terms)·2⁻²⁴` of the sum of magnitudes), not bit for bit.
//! The Gaussian entries use the platform's `ln`, `sin` and `cos`, which may differ in the
//! last bit between platforms.
//!
//! # Limitations
//!
//! - Bit-for-bit equality across chunkings holds on the host for chunks fed in increasing
//!   coordinate order; chunks fed out of order, and the tensor path on GPU backends (whose
//!   scatter-adds run in no fixed order), agree only up to `f32` rounding.
//! - The tensor path hashes the nonzeros of each chunk on the host and uploads them as index
//!   tables (8 bytes per nonzero); the data stays on the device but the tables are rebuilt on
//!   every call. On the CPU it is much slower than the host path, which it does not use.
//! - On `wgpu`, Burn 0.22.1's scatter-add keeps only the first 65 535 entries of an index
//!   and drops the rest without an error; the tensor path therefore works in steps of at most
//!   32 768 coordinates (and about as many indices), which costs more kernel launches on
//!   long inputs. The root package's device suite (`tests/device.rs`) checks the result.
//! - The tensor form [`Projection::accumulate_tensor`] cannot see which chunks were fed
//!   before; keep a [`Coverage`] beside it to refuse overlapping chunks.
//! - Row draws are uniform within `n_b·2⁻³¹` relative (sparse JL) or `m·2⁻⁶³` (very sparse);
//!   the binomial table drops counts of probability below `2⁻⁷⁰` relative to the mode.
//! - Speed: on the idle 2-core development machine the default (`s = 4`, batch 32,
//!   `d = 2²²`, `k = 4096`) projects 8.3–8.5 GB/s, 41–44% of the rate of a plain streaming
//!   read measured right after, short of the 50% aimed for; `s = 1` reached 58–71%, `s = 2`
//!   57% and `s = 8` 23% (`docs/benchmarks.md`). On a 2-core AMD EPYC with faster memory
//!   (streaming read 24–39 GB/s) the default projects 7.6–9.3 GB/s, only 21–30% of it. The
//!   cost per nonzero is one 16-lane addition into an accumulator block held in L2 (about 2
//!   ns), plus hashing; these additions do not overlap the reading of the input. Even in L1
//!   such an addition costs about 1 ns (the `addition_bound` example), so at `s = 4` the
//!   additions and the reading alone, one after the other, leave this design at about half
//!   the streaming rate on that machine at best.
//! - Large `k`: each group of 16 batch rows has an accumulator of `64·k` bytes, walked one
//!   block of `k/s` rows at a time; once a block outgrows the L2 cache the additions slow
//!   down. At `k = 65 536`, `s = 4` (blocks of 1 MiB, the L2 of the development machine) the
//!   default projected 2.6–6.8 GB/s over ten runs (median 6.2), against 7.6–9.3 at
//!   `k = 4096`.
//! - The batch is handled in groups of 16 rows: a batch that is not a multiple of 16 leaves
//!   lanes empty (batch 8 runs at half the speed per row of batch 32), groups of fewer than
//!   4 rows use scalar code, and every group hashes the columns again. Only x86-64 has a
//!   vector kernel (AVX-512 or AVX2); other architectures get the portable code, correct but
//!   slower.
//! - The very sparse kind draws each nonzero with scalar code (a binomial count, then
//!   Floyd's algorithm), once per group of 16 batch rows, and adds its nonzeros in coordinate
//!   order into the whole accumulator: it is several times slower per coordinate than sparse
//!   JL with the same number of nonzeros, and slower still when `ρ·k` is large (16 nonzeros
//!   per coordinate at `d = 65 536`, `k = 4096`).
//! - The Gaussian kind costs `k` hashes and a Box–Muller transform per coordinate and entry
//!   of the product: use it for tests and small `d` only. [`Projection::to_dense`] holds
//!   `4·k·d` bytes.
//! - `k` is at most 2³⁰ and `s` at most 16.

mod accumulator;
mod columns;
mod config;
mod error;
mod hash;
mod kernel;
mod projection;
mod tensor;

pub use accumulator::{Accumulator, Coverage};
pub use config::{
    DEFAULT_NONZEROS, MAX_NONZEROS, MAX_OUTPUT_DIM, ProjectionConfig, ProjectionKind,
};
pub use error::{Error, Result};
pub use projection::Projection;
