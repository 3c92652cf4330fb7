//! The nonzeros of each column of `P`, computed from `(seed, coordinate)` alone.
//!
//! A column's nonzeros are encoded as *entries* `2·row + negative`: the row of the nonzero and
//! whether its sign is minus. Values are `±scale` for the two sparse kinds, so the entries say
//! everything; the Gaussian kind has a value per row instead.
//!
//! - Sparse JL, block construction: rows `0..k` are cut into `s` blocks, block `i` being rows
//!   `⌊i·k/s⌋ .. ⌊(i+1)·k/s⌋`. Coordinate `j` draws one row in each block and a sign for
//!   each, from 31 bits of a hash each: draws `2p` and `2p+1` share the 64-bit hash
//!   `h(κ_p, j)` of stream `p`, one half each; within a half, bit 0 is the sign and bits 1..32
//!   choose the row (`⌊v·size/2³¹⌋`).
//! - Very sparse: the number of nonzeros of coordinate `j` is `Binomial(k, ρ)`, drawn by
//!   inverting the tabulated distribution function at the uniform `h(κ, j)`; the rows are a
//!   uniform subset of that size, drawn by Floyd's algorithm from the SplitMix64 stream keyed
//!   by `h(κ, j)`, and each sign is bit 0 of its draw. Counts and subsets drawn this way have
//!   exactly the law of `k` independent Bernoulli(ρ) entries.
//! - Gaussian: rows `2m` and `2m+1` of column `j` are the Box–Muller pair of two 53-bit
//!   uniforms from the stream keyed by `h(κ, j)`.

use crate::hash::{self, GAMMA, at, below31, below63, mix};

/// Nonzeros of a sparse JL column: exactly one per block.
#[derive(Clone, Debug)]
pub(crate) struct SparseJlColumns {
    /// Nonzeros per coordinate, `s`.
    pub s: usize,
    /// Block boundaries: block `i` is rows `starts[i]..starts[i + 1]`; `s + 1` numbers.
    pub starts: Vec<u32>,
    /// Stream keys, one per pair of draws.
    pub keys: Vec<u64>,
}

impl SparseJlColumns {
    /// The columns of the `k × d` sparse JL matrix with `s` nonzeros per column.
    pub fn new(k: usize, s: usize, seed: u64) -> Self {
        let starts = (0..=s).map(|i| (i * k / s) as u32).collect();
        let keys = (0..s.div_ceil(2))
            .map(|p| hash::stream_key(seed, hash::DOMAIN_SPARSE, p as u64))
            .collect();
        Self { s, starts, keys }
    }

    /// Writes the entries of coordinates `j0 .. j0 + n` for the draws of pair `p` (draws `2p`
    /// and `2p + 1`, or only `2p` when it is the last): `out[(i − 2p)·n + jj]` is the entry of
    /// draw `i` for coordinate `j0 + jj`.
    ///
    /// Written as plain loops over `jj` so that it vectorises where inlined into SIMD code.
    #[inline(always)]
    pub fn fill_pair(&self, p: usize, j0: usize, n: usize, out: &mut [u32]) {
        let i = 2 * p;
        let key = self.keys[p].wrapping_add((j0 as u64).wrapping_add(1).wrapping_mul(GAMMA));
        let (start_a, size_a) = self.block(i);
        if i + 1 < self.s {
            let (start_b, size_b) = self.block(i + 1);
            let (out_a, out_b) = out[..2 * n].split_at_mut(n);
            for (jj, (ea, eb)) in out_a.iter_mut().zip(out_b.iter_mut()).enumerate() {
                let h = mix(key.wrapping_add((jj as u64).wrapping_mul(GAMMA)));
                *ea = entry_from_half(h >> 32, start_a, size_a);
                *eb = entry_from_half(h & 0xFFFF_FFFF, start_b, size_b);
            }
        } else {
            for (jj, ea) in out[..n].iter_mut().enumerate() {
                let h = mix(key.wrapping_add((jj as u64).wrapping_mul(GAMMA)));
                *ea = entry_from_half(h >> 32, start_a, size_a);
            }
        }
    }

    /// The `s` entries of coordinate `j`, in block order (so rows increase).
    pub fn column(&self, j: usize, out: &mut Vec<u32>) {
        out.clear();
        for i in 0..self.s {
            let h = at(self.keys[i / 2], j as u64);
            let half = if i % 2 == 0 { h >> 32 } else { h & 0xFFFF_FFFF };
            let (start, size) = self.block(i);
            out.push(entry_from_half(half, start, size));
        }
    }

    /// First row and size of block `i`.
    #[inline(always)]
    pub fn block(&self, i: usize) -> (u32, u64) {
        let start = self.starts[i];
        (start, u64::from(self.starts[i + 1] - start))
    }
}

/// The entry of a draw from a 32-bit half `v`: bit 0 the sign, bits 1..32 the row in the block.
#[inline(always)]
fn entry_from_half(v: u64, start: u32, size: u64) -> u32 {
    let row = start + below31(v >> 1, size) as u32;
    (row << 1) | (v & 1) as u32
}

/// Nonzeros of a very sparse column: a binomial count of uniformly placed rows.
#[derive(Clone, Debug)]
pub(crate) struct VerySparseColumns {
    /// Rows of `P`.
    pub k: usize,
    /// Stream key of the counts.
    key: u64,
    /// Smallest count with nonzero probability in the table.
    count_min: usize,
    /// `thresholds[c]` is `⌊P(count ≤ count_min + c) · 2⁶⁴⌋`; the last one is `u64::MAX`.
    thresholds: Vec<u64>,
}

impl VerySparseColumns {
    /// The columns of the `k × d` very sparse matrix of density `density ∈ (0, 1]`.
    pub fn new(k: usize, density: f64, seed: u64) -> Self {
        let key = hash::stream_key(seed, hash::DOMAIN_VERY_SPARSE, 0);
        let (count_min, thresholds) = binomial_thresholds(k, density);
        Self {
            k,
            key,
            count_min,
            thresholds,
        }
    }

    /// Appends the entries of coordinate `j` to `out`, in draw order. `seen` is scratch of
    /// `⌈k/64⌉` zeroed words, left zeroed.
    #[inline]
    pub fn column_into(&self, j: usize, out: &mut Vec<u32>, seen: &mut [u64]) {
        let base = self.base(j);
        self.rows_into(base, self.count(base), out, seen);
    }

    /// The uniform 64-bit hash `h(κ, j)` that decides column `j`.
    #[inline(always)]
    pub fn base(&self, j: usize) -> u64 {
        at(self.key, j as u64)
    }

    /// The number of nonzeros of the column with hash `base`: the binomial quantile at
    /// `base / 2⁶⁴`. Short tables (the usual case) are counted without branches.
    #[inline(always)]
    pub fn count(&self, base: u64) -> usize {
        let below = if self.thresholds.len() <= 64 {
            let mut below = 0;
            for &t in &self.thresholds {
                below += usize::from(t <= base);
            }
            below
        } else {
            self.thresholds.partition_point(|&t| t <= base)
        };
        self.count_min + below.min(self.thresholds.len() - 1)
    }

    /// Appends the `count` entries of the column with hash `base` to `out`, by Floyd's
    /// algorithm over the stream keyed by `base`. `seen` is scratch of `⌈k/64⌉` zeroed words,
    /// left zeroed.
    #[inline(always)]
    pub fn rows_into(&self, base: u64, count: usize, out: &mut Vec<u32>, seen: &mut [u64]) {
        let first = out.len();
        let small = count <= 4;
        for t in 0..count {
            let h = at(base, t as u64);
            let m = (self.k - count + t) as u64;
            let mut row = below63(h >> 1, m + 1);
            let taken = if small {
                out[first..].iter().any(|&e| u64::from(e >> 1) == row)
            } else {
                seen[(row / 64) as usize] & (1 << (row % 64)) != 0
            };
            if taken {
                row = m;
            }
            if !small {
                seen[(row / 64) as usize] |= 1 << (row % 64);
            }
            out.push(((row as u32) << 1) | (h & 1) as u32);
        }
        if !small {
            for &e in &out[first..] {
                seen[(e >> 1) as usize / 64] = 0;
            }
        }
    }
}

/// The distribution function of `Binomial(k, ρ)` as 64-bit thresholds over the counts whose
/// probability is not negligible (`≥ 2⁻⁷⁰` relative to the mode), found by walking out from
/// the mode with the ratio `p(c+1)/p(c) = (k−c)/(c+1) · ρ/(1−ρ)`.
fn binomial_thresholds(k: usize, density: f64) -> (usize, Vec<u64>) {
    if density >= 1.0 {
        return (k, vec![u64::MAX]);
    }
    let odds = density / (1.0 - density);
    let mode = (((k + 1) as f64 * density).floor() as usize).min(k);
    let tiny = 2f64.powi(-70);

    let mut above = Vec::new();
    let (mut p, mut c) = (1.0, mode);
    while c < k {
        p *= (k - c) as f64 / (c + 1) as f64 * odds;
        if p < tiny {
            break;
        }
        above.push(p);
        c += 1;
    }
    let mut below = Vec::new();
    let (mut p, mut c) = (1.0, mode);
    while c > 0 {
        p *= c as f64 / (k - c + 1) as f64 / odds;
        if p < tiny {
            break;
        }
        below.push(p);
        c -= 1;
    }

    let count_min = mode - below.len();
    let weights: Vec<f64> = below
        .iter()
        .rev()
        .copied()
        .chain([1.0])
        .chain(above)
        .collect();
    let total: f64 = weights.iter().sum();
    let mut cumulative = 0.0;
    let mut thresholds: Vec<u64> = weights
        .iter()
        .map(|w| {
            cumulative += w / total;
            (cumulative * 2f64.powi(64)) as u64
        })
        .collect();
    if let Some(last) = thresholds.last_mut() {
        *last = u64::MAX;
    }
    (count_min, thresholds)
}

/// Columns of the dense Gaussian matrix, as standard normals (the scale `1/√k` is applied by
/// the caller).
#[derive(Clone, Debug)]
pub(crate) struct GaussianColumns {
    /// Rows of `P`.
    pub k: usize,
    /// Stream key of the columns.
    key: u64,
}

impl GaussianColumns {
    /// The columns of the `k × d` Gaussian matrix.
    pub fn new(k: usize, seed: u64) -> Self {
        Self {
            k,
            key: hash::stream_key(seed, hash::DOMAIN_GAUSSIAN, 0),
        }
    }

    /// Writes the `k` standard normal values of column `j` into `out`.
    pub fn column_into(&self, j: usize, out: &mut [f32]) {
        let base = at(self.key, j as u64);
        for (m, pair) in out[..self.k].chunks_mut(2).enumerate() {
            let u1 = hash::unit_open_closed(at(base, 2 * m as u64));
            let u2 = hash::unit_closed_open(at(base, 2 * m as u64 + 1));
            let radius = (-2.0 * u1.ln()).sqrt();
            let angle = std::f64::consts::TAU * u2;
            pair[0] = (radius * angle.cos()) as f32;
            if let Some(second) = pair.get_mut(1) {
                *second = (radius * angle.sin()) as f32;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fill_pair_matches_column_by_column() {
        let cols = SparseJlColumns::new(1000, 5, 42);
        let (j0, n) = (123_456, 37);
        let mut table = vec![0u32; 5 * n];
        for p in 0..3 {
            let width = if 2 * p + 1 < 5 { 2 } else { 1 };
            cols.fill_pair(p, j0, n, &mut table[2 * p * n..(2 * p + width) * n]);
        }
        let mut column = Vec::new();
        for jj in 0..n {
            cols.column(j0 + jj, &mut column);
            let from_table: Vec<u32> = (0..5).map(|i| table[i * n + jj]).collect();
            assert_eq!(from_table, column, "coordinate {}", j0 + jj);
        }
    }

    #[test]
    fn sparse_rows_fall_in_their_blocks() {
        let cols = SparseJlColumns::new(10, 3, 1);
        assert_eq!(cols.starts, vec![0, 3, 6, 10]);
        let mut column = Vec::new();
        for j in 0..500 {
            cols.column(j, &mut column);
            for (i, &e) in column.iter().enumerate() {
                let row = e >> 1;
                assert!(cols.starts[i] <= row && row < cols.starts[i + 1]);
            }
        }
    }

    #[test]
    fn binomial_table_sums_to_one_and_brackets_the_mean() {
        let (min, t) = binomial_thresholds(4096, 1.0 / 2048.0);
        assert_eq!(min, 0);
        assert_eq!(*t.last().unwrap(), u64::MAX);
        assert!(t.windows(2).all(|w| w[0] <= w[1]));
        // P(count = 0) = (1 − ρ)^k ≈ e⁻² ≈ 0.1353.
        let p0 = t[0] as f64 / 2f64.powi(64);
        assert!((p0 - (1.0 - 1.0 / 2048.0f64).powi(4096)).abs() < 1e-12);

        let (min, t) = binomial_thresholds(4096, 0.5);
        assert!(min > 1500 && min < 2048);
        assert!(min + t.len() > 2048 && min + t.len() < 2600);
    }

    #[test]
    fn very_sparse_rows_are_distinct_even_when_dense() {
        let k = 300;
        let cols = VerySparseColumns::new(k, 0.9, 3);
        let mut seen = vec![0u64; k.div_ceil(64)];
        let mut out = Vec::new();
        for j in 0..50 {
            out.clear();
            cols.column_into(j, &mut out, &mut seen);
            let mut rows: Vec<u32> = out.iter().map(|e| e >> 1).collect();
            rows.sort_unstable();
            rows.dedup();
            assert_eq!(rows.len(), out.len());
            assert!(rows.iter().all(|&r| (r as usize) < k));
            assert!(seen.iter().all(|&w| w == 0));
        }
        let full = VerySparseColumns::new(k, 1.0, 3);
        out.clear();
        full.column_into(0, &mut out, &mut seen);
        assert_eq!(out.len(), k);
    }
}
