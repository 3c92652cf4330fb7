//! Images paired with what is known about them: class labels or named binary attributes.

use fisher_core::ImageBatch;

use crate::{Error, Result};

/// Which part of a data set that ships pre-split to load.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Split {
    /// The training part (60,000 images for MNIST and Fashion-MNIST, 50,000 for CIFAR-10).
    Train,
    /// The test part (10,000 images for MNIST, Fashion-MNIST and CIFAR-10).
    Test,
}

/// A collection whose items can be counted and picked by index: the common ground of
/// [`ImageBatch`], [`Labeled`] and [`Attributed`] that shuffling, splitting and batching need.
pub trait Examples: Sized {
    /// Number of items.
    fn len(&self) -> usize;

    /// A new collection holding the items at `indices`, in that order.
    ///
    /// # Panics
    /// If an index is out of range (callers in this crate only pass valid indices).
    fn select(&self, indices: &[usize]) -> Self;

    /// Whether the collection holds no item.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Examples for ImageBatch {
    fn len(&self) -> usize {
        ImageBatch::len(self)
    }

    fn select(&self, indices: &[usize]) -> Self {
        ImageBatch::select(self, indices)
    }
}

/// Images with one class label each (MNIST, Fashion-MNIST, CIFAR-10).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Labeled {
    images: ImageBatch,
    labels: Vec<u8>,
}

impl Labeled {
    /// Pairs `images` with `labels`; the counts must agree.
    pub fn new(images: ImageBatch, labels: Vec<u8>) -> Result<Self> {
        if images.len() != labels.len() {
            return Err(fisher_core::Error::mismatch(
                "number of labels",
                images.len(),
                labels.len(),
            )
            .into());
        }
        Ok(Self { images, labels })
    }

    /// The images, `[n, channels, height, width]`.
    pub fn images(&self) -> &ImageBatch {
        &self.images
    }

    /// One label per image.
    pub fn labels(&self) -> &[u8] {
        &self.labels
    }

    /// The labels widened to `u32`, for code that indexes with them.
    pub fn labels_u32(&self) -> Vec<u32> {
        self.labels.iter().map(|&l| u32::from(l)).collect()
    }

    /// Splits into images and labels.
    pub fn into_parts(self) -> (ImageBatch, Vec<u8>) {
        (self.images, self.labels)
    }
}

impl Examples for Labeled {
    fn len(&self) -> usize {
        self.labels.len()
    }

    fn select(&self, indices: &[usize]) -> Self {
        Self {
            images: self.images.select(indices),
            labels: indices.iter().map(|&i| self.labels[i]).collect(),
        }
    }
}

/// A table of named binary attributes, one row per image (CelebA's 40 attributes, the
/// procedural faces' `smiling`, `eyeglasses`, ...).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attributes {
    names: Vec<String>,
    values: Vec<bool>,
    len: usize,
}

impl Attributes {
    /// A table with columns `names` and `len` rows; `values` is row-major, `len · names.len()`
    /// entries. Names must be distinct.
    pub fn new(names: Vec<String>, values: Vec<bool>, len: usize) -> Result<Self> {
        if values.len() != len * names.len() {
            return Err(fisher_core::Error::shape(
                "attribute values",
                &[len, names.len()],
                &[values.len()],
            )
            .into());
        }
        for (i, name) in names.iter().enumerate() {
            if names[..i].contains(name) {
                return Err(Error::config("attribute name", name, "appears twice"));
            }
        }
        Ok(Self { names, values, len })
    }

    /// A table with no column and `len` rows, for images that come without attributes.
    pub fn none(len: usize) -> Self {
        Self {
            names: Vec::new(),
            values: Vec::new(),
            len,
        }
    }

    /// The column names, in order.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Number of rows (images).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the table has no row.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The column index of `name`, or [`Error::UnknownAttribute`] listing the names there are.
    pub fn index_of(&self, name: &str) -> Result<usize> {
        self.names
            .iter()
            .position(|n| n == name)
            .ok_or_else(|| Error::UnknownAttribute {
                name: name.to_string(),
                available: self.names.clone(),
            })
    }

    /// The column `name`: one value per image.
    pub fn column(&self, name: &str) -> Result<Vec<bool>> {
        let j = self.index_of(name)?;
        Ok((0..self.len).map(|i| self.row(i)[j]).collect())
    }

    /// The attributes of image `i`, in the order of [`names`](Self::names).
    ///
    /// # Panics
    /// If `i >= self.len()`.
    pub fn row(&self, i: usize) -> &[bool] {
        let k = self.names.len();
        &self.values[i * k..(i + 1) * k]
    }

    /// Attribute `name` of image `i`.
    ///
    /// # Panics
    /// If `i >= self.len()`.
    pub fn get(&self, i: usize, name: &str) -> Result<bool> {
        Ok(self.row(i)[self.index_of(name)?])
    }

    /// Fraction of images that have attribute `name` (0 for an empty table).
    pub fn frequency(&self, name: &str) -> Result<f64> {
        let column = self.column(name)?;
        let count = column.iter().filter(|&&v| v).count();
        Ok(count as f64 / self.len.max(1) as f64)
    }

    /// Appends the rows of `other`, which must have the same columns.
    pub fn extend(&mut self, other: &Attributes) -> Result<()> {
        if other.names != self.names {
            return Err(fisher_core::Error::mismatch(
                "attribute names",
                self.names.join(","),
                other.names.join(","),
            )
            .into());
        }
        self.values.extend_from_slice(&other.values);
        self.len += other.len;
        Ok(())
    }
}

impl Examples for Attributes {
    fn len(&self) -> usize {
        self.len
    }

    fn select(&self, indices: &[usize]) -> Self {
        let mut values = Vec::with_capacity(indices.len() * self.names.len());
        for &i in indices {
            values.extend_from_slice(self.row(i));
        }
        Self {
            names: self.names.clone(),
            values,
            len: indices.len(),
        }
    }
}

/// Images with a row of named binary attributes each (CelebA, image folders, procedural
/// faces).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attributed {
    images: ImageBatch,
    attributes: Attributes,
}

impl Attributed {
    /// Pairs `images` with `attributes`; the counts must agree.
    pub fn new(images: ImageBatch, attributes: Attributes) -> Result<Self> {
        if images.len() != attributes.len() {
            return Err(fisher_core::Error::mismatch(
                "number of attribute rows",
                images.len(),
                attributes.len(),
            )
            .into());
        }
        Ok(Self { images, attributes })
    }

    /// The images, `[n, channels, height, width]`.
    pub fn images(&self) -> &ImageBatch {
        &self.images
    }

    /// The attribute table, one row per image.
    pub fn attributes(&self) -> &Attributes {
        &self.attributes
    }

    /// Splits into images and attributes.
    pub fn into_parts(self) -> (ImageBatch, Attributes) {
        (self.images, self.attributes)
    }

    /// The images whose attribute `name` equals `value`, e.g. all smiling faces.
    pub fn filter(&self, name: &str, value: bool) -> Result<Self> {
        let column = self.attributes.column(name)?;
        let keep: Vec<usize> = (0..column.len()).filter(|&i| column[i] == value).collect();
        Ok(self.select(&keep))
    }
}

impl Examples for Attributed {
    fn len(&self) -> usize {
        self.attributes.len()
    }

    fn select(&self, indices: &[usize]) -> Self {
        Self {
            images: self.images.select(indices),
            attributes: self.attributes.select(indices),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Attributes {
        let names = vec!["smiling".to_string(), "hat".to_string()];
        Attributes::new(names, vec![true, false, false, false, true, true], 3).unwrap()
    }

    #[test]
    fn lookup_by_name() {
        let t = table();
        assert_eq!(t.column("smiling").unwrap(), vec![true, false, true]);
        assert!(t.get(2, "hat").unwrap());
        assert!((t.frequency("hat").unwrap() - 1.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn unknown_name_lists_the_available_ones() {
        let err = table().column("beard").unwrap_err();
        let Error::UnknownAttribute { name, available } = &err else {
            panic!("wrong error {err}");
        };
        assert_eq!(name, "beard");
        assert_eq!(available, &["smiling", "hat"]);
        assert_eq!(
            err.to_string(),
            "unknown attribute \"beard\"; available: smiling, hat"
        );
    }

    #[test]
    fn rejects_duplicate_names_and_wrong_sizes() {
        let names = vec!["a".to_string(), "a".to_string()];
        assert!(Attributes::new(names, vec![true; 2], 1).is_err());
        assert!(Attributes::new(vec!["a".to_string()], vec![true; 3], 2).is_err());
    }

    #[test]
    fn select_keeps_rows_together() {
        let s = table().select(&[2, 0]);
        assert_eq!(s.row(0), &[true, true]);
        assert_eq!(s.row(1), &[true, false]);
    }
}
