//! Seeded shuffling, train/test splits and batching of any [`Examples`] collection.
//!
//! A shuffle is a Fisher–Yates permutation drawn from [`SplitMix64`] seeded with the given
//! seed, so the same seed gives the same order on every machine.

use crate::{Error, Examples, Result, SplitMix64};

/// A seeded permutation of `0..n`.
///
/// ```
/// let p = fisher_data::shuffle_indices(5, 42);
/// let mut sorted = p.clone();
/// sorted.sort();
/// assert_eq!(sorted, vec![0, 1, 2, 3, 4]);
/// assert_eq!(p, fisher_data::shuffle_indices(5, 42));
/// ```
pub fn shuffle_indices(n: usize, seed: u64) -> Vec<usize> {
    let mut indices: Vec<usize> = (0..n).collect();
    SplitMix64::new(seed).shuffle(&mut indices);
    indices
}

/// The items of `data` in a seeded random order.
pub fn shuffled<T: Examples>(data: &T, seed: u64) -> T {
    data.select(&shuffle_indices(data.len(), seed))
}

/// Splits `data` into a training part and a test part of `test_len` items, after a seeded
/// shuffle. Fails when `test_len` exceeds the number of items.
pub fn train_test_split<T: Examples>(data: &T, test_len: usize, seed: u64) -> Result<(T, T)> {
    let n = data.len();
    if test_len > n {
        return Err(Error::config(
            "test_len",
            test_len,
            format!("must be at most the number of items, {n}"),
        ));
    }

    let order = shuffle_indices(n, seed);
    let (test, train) = order.split_at(test_len);
    Ok((data.select(train), data.select(test)))
}

/// Consecutive batches of `batch_size` items (the last one may be shorter). Fails when
/// `batch_size` is zero.
///
/// ```
/// use fisher_data::Examples;
/// use fisher_core::{ImageBatch, ImageShape};
///
/// let shape = ImageShape::new(1, 1, 1).unwrap();
/// let images = ImageBatch::new(vec![0, 1, 2, 3, 4], 5, shape).unwrap();
/// let sizes: Vec<usize> = fisher_data::batches(&images, 2).unwrap().map(|b| b.len()).collect();
/// assert_eq!(sizes, vec![2, 2, 1]);
/// ```
pub fn batches<T: Examples>(data: &T, batch_size: usize) -> Result<Batches<'_, T>> {
    if batch_size == 0 {
        return Err(Error::config("batch_size", 0, "must be at least 1"));
    }
    Ok(Batches {
        data,
        batch_size,
        next: 0,
    })
}

/// The iterator returned by [`batches`].
#[derive(Debug)]
pub struct Batches<'a, T> {
    data: &'a T,
    batch_size: usize,
    next: usize,
}

impl<T: Examples> Iterator for Batches<'_, T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        let n = self.data.len();
        if self.next >= n {
            return None;
        }
        let end = (self.next + self.batch_size).min(n);
        let indices: Vec<usize> = (self.next..end).collect();
        self.next = end;
        Some(self.data.select(&indices))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fisher_core::{ImageBatch, ImageShape};

    fn numbered(n: usize) -> ImageBatch {
        let shape = ImageShape::new(1, 1, 1).unwrap();
        ImageBatch::new((0..n as u8).collect(), n, shape).unwrap()
    }

    #[test]
    fn split_partitions_the_items() {
        let data = numbered(10);
        let (train, test) = train_test_split(&data, 3, 9).unwrap();
        assert_eq!((train.len(), test.len()), (7, 3));
        let mut all: Vec<u8> = train
            .as_slice()
            .iter()
            .chain(test.as_slice())
            .copied()
            .collect();
        all.sort_unstable();
        assert_eq!(all, (0..10).collect::<Vec<u8>>());
    }

    #[test]
    fn split_rejects_too_large_test_part() {
        let err = train_test_split(&numbered(4), 5, 0).unwrap_err();
        assert!(err.to_string().contains("test_len = 5"), "{err}");
    }

    #[test]
    fn different_seeds_give_different_orders() {
        assert_ne!(shuffle_indices(50, 1), shuffle_indices(50, 2));
    }

    #[test]
    fn zero_batch_size_is_an_error() {
        assert!(batches(&numbered(3), 0).is_err());
    }
}
