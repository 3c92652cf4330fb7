//! One tolerance vocabulary for comparing floats in tests and checks.
//!
//! A pair `(a, b)` is close when `|a − b| ≤ abs + rel · max(|a|, |b|)`.

/// Relative and absolute bounds for comparing floats.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Tolerance {
    /// Relative bound, scaled by the larger magnitude of the pair.
    pub rel: f64,
    /// Absolute bound, for values near zero.
    pub abs: f64,
}

impl Tolerance {
    /// Bounds `rel` and `abs`.
    pub const fn new(rel: f64, abs: f64) -> Self {
        Self { rel, abs }
    }

    /// Single-precision arithmetic in different orders: `1e-5` relative, `1e-6` absolute.
    pub const fn f32_reordered() -> Self {
        Self::new(1e-5, 1e-6)
    }

    /// Whether `a` and `b` are within the bounds. NaN is close to nothing.
    pub fn is_close(&self, a: f64, b: f64) -> bool {
        (a - b).abs() <= self.abs + self.rel * a.abs().max(b.abs())
    }

    /// Compares two slices element by element. On failure returns a message naming the
    /// first offending index, both values and the bounds.
    ///
    /// ```
    /// use fisher_core::Tolerance;
    /// let t = Tolerance::new(1e-6, 0.0);
    /// assert!(t.check(&[1.0, 2.0], &[1.0, 2.0 + 1e-9]).is_ok());
    /// assert!(t.check(&[1.0], &[1.1]).is_err());
    /// ```
    pub fn check<T: Copy + Into<f64>>(&self, actual: &[T], expected: &[T]) -> Result<(), String> {
        if actual.len() != expected.len() {
            return Err(format!(
                "length {} differs from expected length {}",
                actual.len(),
                expected.len()
            ));
        }
        for (i, (&a, &b)) in actual.iter().zip(expected).enumerate() {
            let (a, b) = (a.into(), b.into());
            if !self.is_close(a, b) {
                return Err(format!(
                    "index {i}: {a} vs expected {b} (|diff| {:.3e}, rel {:e}, abs {:e})",
                    (a - b).abs(),
                    self.rel,
                    self.abs
                ));
            }
        }
        Ok(())
    }

    /// Panics with [`check`](Self::check)'s message when the slices are not close; for tests.
    #[track_caller]
    pub fn assert<T: Copy + Into<f64>>(&self, actual: &[T], expected: &[T]) {
        if let Err(msg) = self.check(actual, expected) {
            panic!("tolerance check failed: {msg}");
        }
    }
}
