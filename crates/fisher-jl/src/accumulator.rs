//! Streaming state: which coordinates were fed, and the partial sums of `P·x`.
//!
//! A vector of length `d` may arrive in chunks `offset .. offset + len` of any sizes; an
//! [`Accumulator`] adds each chunk's contribution and a [`Coverage`] remembers the ranges fed,
//! so a chunk that overlaps an earlier one or runs past `d` is refused with a typed error
//! before anything is added, and [`Accumulator::finish`] refuses to return a result while a
//! coordinate is missing.

use std::collections::BTreeMap;
use std::ops::Range;

use ndarray::Array2;

use crate::kernel::GroupAcc;
use crate::{Error, ProjectionConfig, Result};

/// The set of coordinates of `0..d` fed so far, as disjoint ranges.
///
/// ```
/// use fisher_jl::Coverage;
///
/// let mut fed = Coverage::new(10);
/// fed.insert(0, 4).unwrap();
/// fed.insert(6, 4).unwrap();
/// assert_eq!(fed.first_missing(), Some(4..6));
/// assert!(fed.insert(3, 2).is_err()); // overlaps 0..4
/// assert!(fed.insert(8, 5).is_err()); // runs past d = 10
/// fed.insert(4, 2).unwrap();
/// assert!(fed.is_complete());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Coverage {
    d: usize,
    /// Start → end of each fed range; adjacent ranges are merged.
    ranges: BTreeMap<usize, usize>,
}

impl Coverage {
    /// Nothing fed yet, of `d` coordinates.
    pub fn new(d: usize) -> Self {
        Self {
            d,
            ranges: BTreeMap::new(),
        }
    }

    /// The input length `d`.
    pub fn d(&self) -> usize {
        self.d
    }

    /// Checks that the chunk `offset .. offset + len` lies inside `0..d` and overlaps nothing
    /// fed before, without recording it.
    ///
    /// # Errors
    /// [`Error::PastEnd`] or [`Error::Overlap`].
    pub fn check(&self, offset: usize, len: usize) -> Result<()> {
        let end = offset.saturating_add(len);
        if end > self.d || offset > self.d {
            return Err(Error::PastEnd {
                offset,
                end,
                d: self.d,
            });
        }
        if len == 0 {
            return Ok(());
        }
        if let Some((&fed_start, &fed_end)) = self.ranges.range(..end).next_back()
            && fed_end > offset
        {
            return Err(Error::Overlap {
                offset,
                end,
                fed_start,
                fed_end,
            });
        }
        Ok(())
    }

    /// Records the chunk `offset .. offset + len`; on error nothing is recorded.
    ///
    /// # Errors
    /// [`Error::PastEnd`] or [`Error::Overlap`].
    pub fn insert(&mut self, offset: usize, len: usize) -> Result<()> {
        self.check(offset, len)?;
        if len == 0 {
            return Ok(());
        }
        let (mut start, mut end) = (offset, offset + len);
        if let Some((&prev_start, &prev_end)) = self.ranges.range(..offset).next_back()
            && prev_end == offset
        {
            self.ranges.remove(&prev_start);
            start = prev_start;
        }
        if let Some(next_end) = self.ranges.remove(&end) {
            end = next_end;
        }
        self.ranges.insert(start, end);
        Ok(())
    }

    /// Number of coordinates fed.
    pub fn fed(&self) -> usize {
        self.ranges.iter().map(|(s, e)| e - s).sum()
    }

    /// Whether every coordinate of `0..d` was fed.
    pub fn is_complete(&self) -> bool {
        self.first_missing().is_none()
    }

    /// The first range of coordinates not fed, if any.
    pub fn first_missing(&self) -> Option<Range<usize>> {
        let mut next = 0;
        for (&start, &end) in &self.ranges {
            if start > next {
                return Some(next..start);
            }
            next = end;
        }
        (next < self.d).then_some(next..self.d)
    }

    /// The fed ranges, in increasing order.
    pub fn ranges(&self) -> impl Iterator<Item = Range<usize>> + '_ {
        self.ranges.iter().map(|(&s, &e)| s..e)
    }
}

/// Partial sums of `P·x` for a batch of vectors fed in chunks; made by
/// [`Projection::accumulator`](crate::Projection::accumulator) and fed by
/// [`Projection::accumulate`](crate::Projection::accumulate).
///
/// Chunks fed in increasing coordinate order give the same result, bit for bit, whatever their
/// sizes and the number of threads; chunks fed out of order give the same result up to the
/// rounding of `f32` sums (the additions then happen in another order).
///
/// Memory: `4·batch·k` bytes (rounded up to whole groups of 16 batch rows for the sparse
/// kinds when the batch is not a multiple of 16).
#[derive(Clone, Debug)]
pub struct Accumulator {
    pub(crate) config: ProjectionConfig,
    pub(crate) batch: usize,
    pub(crate) scale: f32,
    pub(crate) coverage: Coverage,
    pub(crate) state: State,
}

/// The sums, laid out for the kind's kernel.
#[derive(Clone, Debug)]
pub(crate) enum State {
    /// Sparse kinds: per group of batch rows, sums per output row.
    Sparse(Vec<GroupAcc>),
    /// Gaussian: `[batch, k]` sums of `g·x` with `g` standard normal.
    Dense(Array2<f32>),
}

impl Accumulator {
    /// Number of vectors in the batch.
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// Output length `k`.
    pub fn output_dim(&self) -> usize {
        self.config.k
    }

    /// The coordinates fed so far.
    pub fn coverage(&self) -> &Coverage {
        &self.coverage
    }

    /// `P[:, fed] · x[fed]` for the coordinates fed so far, whether or not all were.
    ///
    /// # Shapes
    /// - output: `[batch, k]`
    pub fn partial(&self) -> Array2<f32> {
        let k = self.config.k;
        match &self.state {
            State::Dense(sums) => sums.mapv(|v| v * self.scale),
            State::Sparse(groups) => {
                let mut out = Array2::zeros((self.batch, k));
                for group in groups {
                    for (lane, b) in group.rows().enumerate() {
                        if let Some(row) = out.row_mut(b).into_slice() {
                            group.write_row(lane, self.scale, row);
                        }
                    }
                }
                out
            }
        }
    }

    /// The projections `P·x` of the batch, once every coordinate of `0..d` was fed.
    ///
    /// # Shapes
    /// - output: `[batch, k]`
    ///
    /// # Errors
    /// [`Error::Incomplete`] naming the first range never fed; a non-finite
    /// [`fisher_core::Error::NonFinite`] when the input held NaN or infinity (or the sums
    /// overflowed `f32`), naming the first output affected.
    pub fn finish(self) -> Result<Array2<f32>> {
        if let Some(missing) = self.coverage.first_missing() {
            return Err(Error::Incomplete {
                missing_start: missing.start,
                missing_end: missing.end,
                d: self.coverage.d(),
            });
        }
        let out = self.partial();
        if let Some(values) = out.as_slice() {
            fisher_core::error::check_finite("projection output", values)?;
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coverage_merges_neighbours_and_reports_gaps() {
        let mut c = Coverage::new(20);
        c.insert(5, 5).unwrap();
        c.insert(15, 5).unwrap();
        c.insert(10, 5).unwrap();
        assert_eq!(c.ranges().collect::<Vec<_>>(), vec![5..20]);
        assert_eq!(c.fed(), 15);
        assert_eq!(c.first_missing(), Some(0..5));
        c.insert(0, 0).unwrap();
        c.insert(20, 0).unwrap();
        c.insert(0, 5).unwrap();
        assert!(c.is_complete());
    }

    #[test]
    fn coverage_refuses_overlaps_and_overruns_without_recording_them() {
        let mut c = Coverage::new(10);
        c.insert(2, 3).unwrap();
        for (offset, len) in [(0, 3), (4, 1), (1, 9), (2, 3)] {
            match c.insert(offset, len) {
                Err(Error::Overlap {
                    fed_start: 2,
                    fed_end: 5,
                    ..
                }) => {}
                other => panic!("{offset}+{len}: {other:?}"),
            }
        }
        assert!(matches!(
            c.insert(9, 2),
            Err(Error::PastEnd { end: 11, d: 10, .. })
        ));
        assert!(matches!(c.insert(11, 0), Err(Error::PastEnd { .. })));
        assert!(matches!(
            c.insert(usize::MAX, 2),
            Err(Error::PastEnd { .. })
        ));
        assert_eq!(c.ranges().collect::<Vec<_>>(), vec![2..5]);
        c.insert(0, 2).unwrap();
        c.insert(5, 5).unwrap();
        assert!(c.is_complete());
    }
}
