//! The host kernel: adds `P[:, j0..j0+n] · block` into per-group accumulators.
//!
//! Layout, chosen so that the random accesses stay in cache and everything else streams:
//!
//! - The batch is cut into *groups* of up to 16 rows. A group's accumulator has one *slot*
//!   per output row, 16 lanes (one per batch row, 64 bytes), holding the signed sum of the
//!   inputs reaching that row. A table entry `2·row + negative` names the slot and the sign;
//!   the sign is applied by flipping the input's sign bits (one exclusive or, exact), and the
//!   output is `scale · sum`.
//! - The rows `0..k` are cut into *blocks*: the `s` blocks of the sparse JL construction (a
//!   block of a group's accumulator is 64 KiB for `k/s = 1024`), or a single block for the
//!   very sparse kind, whose nonzeros are applied in coordinate order.
//! - A *task* is a group and a range of its blocks; tasks run in parallel, without waiting for
//!   each other, over the whole chunk. A task reads the chunk in *super-tiles* of 8192
//!   coordinates: it hashes their nonzeros in its blocks into a table ordered by block, then
//!   by coordinate (vectorised), transposes its group's rows of the super-tile to
//!   `[coordinate][lane]` (with AVX2 shuffles where available; 512 KiB, in L2) and then,
//!   block after block, walks the table: each nonzero adds one 16-lane vector, read in
//!   coordinate order, into one accumulator slot. Groups hash the same columns again rather
//!   than wait for each other: about a tenth more work, but no synchronisation.
//!
//! Determinism: an accumulator element receives at most one addition per coordinate, and the
//! additions arrive in increasing coordinate order whatever the tiling, the number of threads
//! or the way groups and blocks are spread over them. The sums are therefore the same, bit for
//! bit, for any chunking of the input fed in increasing coordinate order.

use std::ops::Range;

use rayon::prelude::*;

use crate::columns::{SparseJlColumns, VerySparseColumns};

/// Coordinates per super-tile (one hashed table).
pub(crate) const SUPER: usize = 8192;

/// Coordinates per transposition step.
const TILE: usize = 256;

/// Batch rows per wide group.
pub(crate) const LANES: usize = 16;

/// Fewest rows that get a wide group; fewer left-over rows get one narrow group each.
const MIN_WIDE: usize = 4;

/// Sixteen lanes, one per batch row of a group, aligned to a cache line.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
#[repr(C, align(64))]
pub(crate) struct Lanes(pub [f32; LANES]);

impl Lanes {
    /// Lane-wise `self += ±x`, the sign given as the bit pattern `sign` (0 or `1 << 31`)
    /// flipped into every lane's sign bit; through local copies so that it compiles to one
    /// exclusive or and one vector addition.
    #[inline(always)]
    fn add(&mut self, x: &Lanes, sign: u32) {
        let (mut sum, x) = (self.0, x.0);
        for (a, b) in sum.iter_mut().zip(x) {
            *a += flip(b, sign);
        }
        self.0 = sum;
    }
}

/// Zeros standing in for the rows of a group beyond the batch.
static ZEROS: [f32; TILE] = [0.0; TILE];

/// The column generator of a sparse kind.
#[derive(Clone, Copy)]
pub(crate) enum Columns<'a> {
    /// Sparse JL: one nonzero per coordinate in each of its `s` blocks.
    Sparse(&'a SparseJlColumns),
    /// Very sparse: a binomial number of nonzeros per coordinate, anywhere; one block.
    VerySparse(&'a VerySparseColumns),
}

impl Columns<'_> {
    /// Block boundaries: block `b` is rows `[b]..[b + 1]`.
    fn blocks(&self) -> Vec<u32> {
        match self {
            Self::Sparse(columns) => columns.starts.clone(),
            Self::VerySparse(columns) => vec![0, columns.k as u32],
        }
    }
}

/// The nonzeros of one super-tile of `n` coordinates in a range of blocks, as entries
/// `2·row + negative`, ordered by block and then by coordinate. Buffers are reused from one
/// super-tile to the next.
#[derive(Default)]
struct Table {
    /// Coordinates in the super-tile.
    n: usize,
    /// First block held.
    first: usize,
    /// Sparse JL: one entry per coordinate and block, `[(b − first)·n + jj]`.
    fixed: Vec<u32>,
    /// Very sparse: coordinate of each entry, relative to the super-tile, in increasing order.
    coords: Vec<u32>,
    /// Very sparse: the entries.
    ragged: Vec<u32>,
    /// Very sparse: the hash of each column of the super-tile.
    bases: Vec<u64>,
    /// Very sparse: the number of nonzeros of each column of the super-tile.
    counts: Vec<u32>,
    /// Very sparse: scratch of Floyd's algorithm, `⌈k/64⌉` zeroed words.
    seen: Vec<u64>,
}

impl Table {
    /// Hashes coordinates `j0 .. j0 + n` for `blocks`.
    #[inline(always)]
    fn fill(&mut self, columns: Columns<'_>, j0: usize, n: usize, blocks: &Range<usize>) {
        self.n = n;
        match columns {
            Columns::Sparse(columns) => {
                let (p0, p1) = (blocks.start / 2, blocks.end.div_ceil(2));
                self.first = 2 * p0;
                let draws = columns.s.min(2 * p1) - 2 * p0;
                self.fixed.resize(draws * n, 0);
                for (p, out) in (p0..p1).zip(self.fixed.chunks_mut(2 * n)) {
                    columns.fill_pair(p, j0, n, out);
                }
            }
            Columns::VerySparse(columns) => self.fill_ragged(columns, j0, n),
        }
    }

    /// Hashes very sparse coordinates, in coordinate order. The column hashes and counts are
    /// computed for the whole super-tile first, in loops that vectorise.
    #[inline(always)]
    fn fill_ragged(&mut self, columns: &VerySparseColumns, j0: usize, n: usize) {
        self.first = 0;
        self.seen.resize(columns.k.div_ceil(64), 0);
        self.bases.resize(n, 0);
        for (jj, base) in self.bases.iter_mut().enumerate() {
            *base = columns.base(j0 + jj);
        }
        self.counts.resize(n, 0);
        for (count, &base) in self.counts.iter_mut().zip(&self.bases) {
            *count = columns.count(base) as u32;
        }

        self.coords.clear();
        self.ragged.clear();
        for (jj, (&base, &count)) in self.bases.iter().zip(&self.counts).enumerate() {
            if count > 0 {
                columns.rows_into(base, count as usize, &mut self.ragged, &mut self.seen);
                self.coords.resize(self.ragged.len(), jj as u32);
            }
        }
    }

    /// Coordinates (relative to the super-tile, `None` meaning `0..n` in order) and entries
    /// of block `b`.
    #[inline(always)]
    fn block(&self, b: usize) -> (Option<&[u32]>, &[u32]) {
        if self.fixed.is_empty() {
            (Some(&self.coords), &self.ragged)
        } else {
            let at = (b - self.first) * self.n;
            (None, &self.fixed[at..at + self.n])
        }
    }
}

/// One group's accumulator: the signed sum of the inputs reaching each output row, one slot
/// per row.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum GroupAcc {
    /// Up to 16 batch rows `row0 .. row0 + rows`, 16 lanes per slot.
    Wide {
        /// First batch row.
        row0: usize,
        /// Batch rows in use (the other lanes stay zero).
        rows: usize,
        /// `k` slots.
        data: Vec<Lanes>,
    },
    /// One batch row.
    Narrow {
        /// The batch row.
        row: usize,
        /// `k` slots.
        data: Vec<f32>,
    },
}

impl GroupAcc {
    /// Groups covering `batch` rows, for output length `k`: wide groups of 16, a wide group
    /// for 4 to 15 left-over rows, narrow groups for 1 to 3.
    pub fn for_batch(batch: usize, k: usize) -> Vec<Self> {
        let mut groups = Vec::new();
        let mut row0 = 0;
        while batch - row0 >= MIN_WIDE {
            let rows = LANES.min(batch - row0);
            groups.push(Self::Wide {
                row0,
                rows,
                data: vec![Lanes::default(); k],
            });
            row0 += rows;
        }
        groups.extend((row0..batch).map(|row| Self::Narrow {
            row,
            data: vec![0.0; k],
        }));
        groups
    }

    /// The batch rows this group covers.
    pub fn rows(&self) -> Range<usize> {
        match self {
            Self::Wide { row0, rows, .. } => *row0..row0 + rows,
            Self::Narrow { row, .. } => *row..row + 1,
        }
    }

    /// Writes `scale · sum` of batch row `row0 + lane` into `out` (length `k`).
    pub fn write_row(&self, lane: usize, scale: f32, out: &mut [f32]) {
        match self {
            Self::Wide { data, .. } => {
                for (o, slot) in out.iter_mut().zip(data) {
                    *o = scale * slot.0[lane];
                }
            }
            Self::Narrow { data, .. } => {
                for (o, slot) in out.iter_mut().zip(data) {
                    *o = scale * slot;
                }
            }
        }
    }
}

/// A group's accumulator slots for one range of blocks.
enum Slots<'a> {
    Wide(&'a mut [Lanes]),
    Narrow(&'a mut [f32]),
}

impl Slots<'_> {
    /// The first `at` slots and the rest.
    fn split(self, at: usize) -> (Self, Self) {
        match self {
            Self::Wide(s) => {
                let (a, b) = s.split_at_mut(at);
                (Self::Wide(a), Self::Wide(b))
            }
            Self::Narrow(s) => {
                let (a, b) = s.split_at_mut(at);
                (Self::Narrow(a), Self::Narrow(b))
            }
        }
    }
}

/// One task: a group, a range of its blocks and their accumulator slots.
struct Work<'a> {
    /// The group's input rows over the chunk.
    input: Vec<&'a [f32]>,
    /// Accumulator slots `base ..`.
    slots: Slots<'a>,
    /// Row of the first slot.
    base: u32,
    /// Blocks applied.
    blocks: Range<usize>,
}

/// Adds the chunk `input[b]` (batch row `b`, coordinates `j0 .. j0 + input[b].len()`) into
/// `groups`, spreading groups and blocks over the threads of the current rayon pool.
pub(crate) fn accumulate(
    groups: &mut [GroupAcc],
    columns: Columns<'_>,
    j0: usize,
    input: &[&[f32]],
) {
    let bounds = columns.blocks();
    let blocks = bounds.len() - 1;
    let threads = rayon::current_num_threads();
    let per_group = threads.div_ceil(groups.len().max(1)).clamp(1, blocks);

    let mut work = Vec::with_capacity(groups.len() * per_group);
    for group in groups.iter_mut() {
        let group_input: Vec<&[f32]> = group.rows().map(|b| input[b]).collect();
        let mut slots = match group {
            GroupAcc::Wide { data, .. } => Slots::Wide(data.as_mut_slice()),
            GroupAcc::Narrow { data, .. } => Slots::Narrow(data.as_mut_slice()),
        };
        let mut consumed = 0usize;
        for range in split(0..blocks, per_group) {
            let end = bounds[range.end] as usize;
            let (head, tail) = slots.split(end - consumed);
            work.push(Work {
                input: group_input.clone(),
                slots: head,
                base: consumed as u32,
                blocks: range,
            });
            slots = tail;
            consumed = end;
        }
    }
    work.into_par_iter().for_each(|w| run(w, columns, j0));
}

/// Runs one task with the best instructions available: AVX-512 (one 16-lane addition per
/// entry), AVX2 (two 8-lane additions) or plain code.
fn run(work: Work<'_>, columns: Columns<'_>, j0: usize) {
    #[cfg(target_arch = "x86_64")]
    if let Some(simd) = pulp::x86::V4::try_new() {
        return simd.vectorize(TaskOp {
            simd,
            work,
            columns,
            j0,
        });
    }
    #[cfg(target_arch = "x86_64")]
    if let Some(simd) = pulp::x86::V3::try_new() {
        return simd.vectorize(TaskOp {
            simd,
            work,
            columns,
            j0,
        });
    }
    pulp::NullaryFnOnce::call(TaskOp {
        simd: Portable,
        work,
        columns,
        j0,
    })
}

/// Runs `op` compiled for AVX2 where the processor has it, plainly elsewhere. The results
/// are the same either way: only integer operations and lane-wise additions differ in width.
#[inline]
pub(crate) fn vectorized<Op: pulp::NullaryFnOnce>(op: Op) -> Op::Output {
    #[cfg(target_arch = "x86_64")]
    if let Some(simd) = pulp::x86::V3::try_new() {
        return simd.vectorize(op);
    }
    op.call()
}

/// The sparse JL entries of coordinates `j0 .. j0 + n`, draw-major (`[i·n + jj]`), for the
/// tensor path.
pub(crate) fn sparse_entries(columns: &SparseJlColumns, j0: usize, n: usize) -> Vec<u32> {
    let mut table = Table::default();
    if n > 0 {
        vectorized(FillOp {
            table: &mut table,
            columns: Columns::Sparse(columns),
            j0,
            n,
            blocks: 0..columns.s,
        });
    }
    table.fixed
}

/// Hashing of a table, for [`vectorized`].
struct FillOp<'a> {
    table: &'a mut Table,
    columns: Columns<'a>,
    j0: usize,
    n: usize,
    blocks: Range<usize>,
}

impl pulp::NullaryFnOnce for FillOp<'_> {
    type Output = ();

    #[inline(always)]
    fn call(self) {
        self.table.fill(self.columns, self.j0, self.n, &self.blocks);
    }
}

/// One task, generic over the transposition instructions.
struct TaskOp<'a, T> {
    simd: T,
    work: Work<'a>,
    columns: Columns<'a>,
    j0: usize,
}

impl<T: Transpose> pulp::NullaryFnOnce for TaskOp<'_, T> {
    type Output = ();

    #[inline(always)]
    fn call(self) {
        let Work {
            input,
            slots,
            base,
            blocks,
        } = self.work;
        let n = input.first().map_or(0, |r| r.len());
        let mut table = Table::default();
        match slots {
            Slots::Wide(slots) => {
                let mut xt = Vec::new();
                for t0 in (0..n).step_by(SUPER) {
                    let len = SUPER.min(n - t0);
                    table.fill(self.columns, self.j0 + t0, len, &blocks);
                    let rows: Vec<&[f32]> = input.iter().map(|r| &r[t0..t0 + len]).collect();
                    transpose_all(self.simd, &rows, len, &mut xt);
                    apply_wide(&xt, &table, blocks.clone(), base, slots);
                }
            }
            Slots::Narrow(slots) => {
                for t0 in (0..n).step_by(SUPER) {
                    let len = SUPER.min(n - t0);
                    table.fill(self.columns, self.j0 + t0, len, &blocks);
                    let row = &input[0][t0..t0 + len];
                    apply_narrow(row, &table, blocks.clone(), base, slots);
                }
            }
        }
    }
}

/// Transposes the group's rows over a super-tile into `xt`.
#[inline(always)]
fn transpose_all<T: Transpose>(simd: T, input: &[&[f32]], n: usize, xt: &mut Vec<Lanes>) {
    if xt.len() < n {
        xt.resize(n, Lanes::default());
    }
    for t0 in (0..n).step_by(TILE) {
        let len = TILE.min(n - t0);
        simd.transpose(input, t0, len, &mut xt[t0..t0 + len]);
    }
}

/// The accumulator slot of entry `e` (`2·row + negative`) in a task whose first row is `base`.
#[inline(always)]
fn slot(e: u32, base: u32) -> usize {
    ((e >> 1) - base) as usize
}

/// The sign of entry `e` as a bit pattern to flip into a float: `1 << 31` for minus, else 0.
#[inline(always)]
fn sign(e: u32) -> u32 {
    e << 31
}

/// `x` with the sign bit pattern `sign` flipped in: `x` for 0, `−x` for `1 << 31` (exact).
#[inline(always)]
fn flip(x: f32, sign: u32) -> f32 {
    f32::from_bits(x.to_bits() ^ sign)
}

/// Adds the transposed super-tile block by block: one 16-lane addition per entry.
#[inline(always)]
fn apply_wide(xt: &[Lanes], table: &Table, blocks: Range<usize>, base: u32, slots: &mut [Lanes]) {
    for b in blocks {
        match table.block(b) {
            (None, entries) => {
                for (x, &e) in xt.iter().zip(entries) {
                    slots[slot(e, base)].add(x, sign(e));
                }
            }
            (Some(coords), entries) => {
                for (&c, &e) in coords.iter().zip(entries) {
                    slots[slot(e, base)].add(&xt[c as usize], sign(e));
                }
            }
        }
    }
}

/// Adds one batch row: one scalar addition per entry.
#[inline(always)]
fn apply_narrow(row: &[f32], table: &Table, blocks: Range<usize>, base: u32, slots: &mut [f32]) {
    for b in blocks {
        match table.block(b) {
            (None, entries) => {
                for (&x, &e) in row.iter().zip(entries) {
                    slots[slot(e, base)] += flip(x, sign(e));
                }
            }
            (Some(coords), entries) => {
                for (&c, &e) in coords.iter().zip(entries) {
                    slots[slot(e, base)] += flip(row[c as usize], sign(e));
                }
            }
        }
    }
}

/// Transposition of a tile of up to 16 rows into lanes.
pub(crate) trait Transpose: Copy {
    /// Sets `xt[jj].0[l] = rows[l][t0 + jj]` for `jj < len` and `l < rows.len()`; the other
    /// lanes are left as they are (zero).
    fn transpose(self, rows: &[&[f32]], t0: usize, len: usize, xt: &mut [Lanes]);
}

/// Element-by-element transposition, for any processor.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Portable;

impl Transpose for Portable {
    #[inline(always)]
    fn transpose(self, rows: &[&[f32]], t0: usize, len: usize, xt: &mut [Lanes]) {
        transpose_columns(rows, t0, 0..len, xt);
    }
}

/// Element-by-element transposition of tile columns `cols`.
#[inline(always)]
fn transpose_columns(rows: &[&[f32]], t0: usize, cols: Range<usize>, xt: &mut [Lanes]) {
    for (l, row) in rows.iter().enumerate() {
        for jj in cols.clone() {
            xt[jj].0[l] = row[t0 + jj];
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use core::arch::x86_64::__m256;

    use pulp::bytemuck::cast;
    use pulp::x86::{V3, V4};

    use super::{Lanes, Transpose, ZEROS, transpose_columns};

    impl Transpose for V4 {
        #[inline(always)]
        fn transpose(self, rows: &[&[f32]], t0: usize, len: usize, xt: &mut [Lanes]) {
            (*self).transpose(rows, t0, len, xt);
        }
    }

    impl Transpose for V3 {
        #[inline(always)]
        fn transpose(self, rows: &[&[f32]], t0: usize, len: usize, xt: &mut [Lanes]) {
            let full = len / 8 * 8;
            for half in 0..2 {
                let lane0 = 8 * half;
                if lane0 >= rows.len() {
                    break;
                }
                let eight: [&[f32]; 8] = core::array::from_fn(|l| {
                    rows.get(lane0 + l)
                        .map_or(&ZEROS[..len], |r| &r[t0..t0 + len])
                });
                for c in (0..full).step_by(8) {
                    let block = transpose8(self, core::array::from_fn(|l| load8(&eight[l][c..])));
                    for (cc, v) in block.into_iter().enumerate() {
                        let lanes: [f32; 8] = cast(v);
                        xt[c + cc].0[lane0..lane0 + 8].copy_from_slice(&lanes);
                    }
                }
            }
            transpose_columns(rows, t0, full..len, xt);
        }
    }

    /// The first eight floats of `s` as a vector.
    #[inline(always)]
    fn load8(s: &[f32]) -> __m256 {
        let a: [f32; 8] = s[..8].try_into().unwrap_or_default();
        cast(a)
    }

    /// Transposes an 8×8 block held as eight row vectors.
    #[inline(always)]
    fn transpose8(simd: V3, r: [__m256; 8]) -> [__m256; 8] {
        let a = simd.avx;
        let t = [
            a._mm256_unpacklo_ps(r[0], r[1]),
            a._mm256_unpackhi_ps(r[0], r[1]),
            a._mm256_unpacklo_ps(r[2], r[3]),
            a._mm256_unpackhi_ps(r[2], r[3]),
            a._mm256_unpacklo_ps(r[4], r[5]),
            a._mm256_unpackhi_ps(r[4], r[5]),
            a._mm256_unpacklo_ps(r[6], r[7]),
            a._mm256_unpackhi_ps(r[6], r[7]),
        ];
        let u = [
            a._mm256_shuffle_ps::<0x44>(t[0], t[2]),
            a._mm256_shuffle_ps::<0xEE>(t[0], t[2]),
            a._mm256_shuffle_ps::<0x44>(t[1], t[3]),
            a._mm256_shuffle_ps::<0xEE>(t[1], t[3]),
            a._mm256_shuffle_ps::<0x44>(t[4], t[6]),
            a._mm256_shuffle_ps::<0xEE>(t[4], t[6]),
            a._mm256_shuffle_ps::<0x44>(t[5], t[7]),
            a._mm256_shuffle_ps::<0xEE>(t[5], t[7]),
        ];
        [
            a._mm256_permute2f128_ps::<0x20>(u[0], u[4]),
            a._mm256_permute2f128_ps::<0x20>(u[1], u[5]),
            a._mm256_permute2f128_ps::<0x20>(u[2], u[6]),
            a._mm256_permute2f128_ps::<0x20>(u[3], u[7]),
            a._mm256_permute2f128_ps::<0x31>(u[0], u[4]),
            a._mm256_permute2f128_ps::<0x31>(u[1], u[5]),
            a._mm256_permute2f128_ps::<0x31>(u[2], u[6]),
            a._mm256_permute2f128_ps::<0x31>(u[3], u[7]),
        ]
    }
}

/// `range` cut into `parts` consecutive pieces of nearly equal length (fewer if it is short).
pub(crate) fn split(range: Range<usize>, parts: usize) -> Vec<Range<usize>> {
    let len = range.len();
    let parts = parts.clamp(1, len.max(1));
    (0..parts)
        .map(|p| range.start + p * len / parts..range.start + (p + 1) * len / parts)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows_of(batch: usize, n: usize) -> Vec<Vec<f32>> {
        (0..batch)
            .map(|b| (0..n).map(|j| (b * 1000 + j) as f32).collect())
            .collect()
    }

    #[test]
    fn transposition_matches_element_by_element() {
        for (batch, len) in [(16, TILE), (13, 200), (5, 7), (16, 9)] {
            let data = rows_of(batch, TILE + 3);
            let rows: Vec<&[f32]> = data.iter().map(|r| r.as_slice()).collect();
            let mut expected = vec![Lanes::default(); TILE];
            Portable.transpose(&rows, 3, len, &mut expected);
            for jj in 0..len {
                for (l, row) in rows.iter().enumerate() {
                    assert_eq!(expected[jj].0[l], row[3 + jj]);
                }
            }
            #[cfg(target_arch = "x86_64")]
            if let Some(simd) = pulp::x86::V3::try_new() {
                let mut xt = vec![Lanes::default(); TILE];
                simd.vectorize(|| simd.transpose(&rows, 3, len, &mut xt));
                assert_eq!(xt, expected, "batch {batch}, len {len}");
            }
        }
    }

    /// Runs one task over a whole group with the instructions of `simd`.
    fn task_with<T: Transpose>(simd: T, columns: Columns<'_>, data: &[Vec<f32>]) -> Vec<Lanes> {
        let k = match columns {
            Columns::Sparse(c) => *c.starts.last().unwrap() as usize,
            Columns::VerySparse(c) => c.k,
        };
        let blocks = columns.blocks().len() - 1;
        let mut slots = vec![Lanes::default(); k];
        let work = Work {
            input: data.iter().map(|r| r.as_slice()).collect(),
            slots: Slots::Wide(&mut slots),
            base: 0,
            blocks: 0..blocks,
        };
        let op = TaskOp {
            simd,
            work,
            columns,
            j0: 5,
        };
        pulp::NullaryFnOnce::call(op);
        slots
    }

    #[test]
    fn every_instruction_set_gives_the_same_bits() {
        let n = SUPER + 300;
        let data: Vec<Vec<f32>> = (0..13)
            .map(|b| {
                (0..n)
                    .map(|j| ((b * 7919 + j * 104_729) % 1000) as f32 / 37.0)
                    .collect()
            })
            .collect();
        let sparse = SparseJlColumns::new(256, 4, 3);
        let very = VerySparseColumns::new(256, 0.05, 3);
        for columns in [Columns::Sparse(&sparse), Columns::VerySparse(&very)] {
            let portable = task_with(Portable, columns, &data);
            assert!(portable.iter().any(|l| l.0[12] != 0.0));
            #[cfg(target_arch = "x86_64")]
            if let Some(simd) = pulp::x86::V3::try_new() {
                let v3 = simd.vectorize(|| task_with(simd, columns, &data));
                assert!(v3 == portable, "AVX2 differs from the portable code");
            }
            #[cfg(target_arch = "x86_64")]
            if let Some(simd) = pulp::x86::V4::try_new() {
                let v4 = simd.vectorize(|| task_with(simd, columns, &data));
                assert!(v4 == portable, "AVX-512 differs from the portable code");
            }
        }
    }

    #[test]
    fn split_covers_the_range_in_order() {
        assert_eq!(split(0..10, 3), vec![0..3, 3..6, 6..10]);
        assert_eq!(split(4..6, 8), vec![4..5, 5..6]);
        assert_eq!(split(0..0, 4), vec![0..0]);
    }

    #[test]
    fn groups_cover_the_batch_once() {
        for batch in [1, 3, 4, 15, 16, 17, 35, 64] {
            let groups = GroupAcc::for_batch(batch, 8);
            let mut covered: Vec<usize> = groups.iter().flat_map(|g| g.rows()).collect();
            covered.sort_unstable();
            assert_eq!(covered, (0..batch).collect::<Vec<_>>(), "batch {batch}");
        }
    }
}
