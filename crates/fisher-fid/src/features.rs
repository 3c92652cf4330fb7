//! Feature matrices: read from `.npy` files or extracted from images in batches.

use std::path::Path;

use burn::tensor::Device;
use fisher_core::{FeatureExtractor, ImageBatch};
use ndarray::Array2;

use crate::{Error, GaussianStats, Result, SampleCheck, StatsAccumulator};

/// Reads an `[n, f]` feature matrix from a `.npy` file holding f64 or f32 values (as
/// `numpy.save` writes them), as f64.
///
/// # Errors
/// [`fisher_core::Error::Io`] when the file cannot be opened; [`fisher_core::Error::Format`]
/// naming the file when it is not a 2-D f32/f64 `.npy`; [`fisher_core::Error::NonFinite`]
/// for a NaN or infinity, with its flat index.
pub fn read_features(path: &Path) -> Result<Array2<f64>> {
    let _span = tracing::info_span!("read features", path = %path.display()).entered();
    let open = || std::fs::File::open(path).map_err(|e| Error::io(path, e));

    let narrow: Result<Array2<f32>, _> = ndarray_npy::ReadNpyExt::read_npy(open()?);
    let array: Array2<f64> = match narrow {
        Ok(a) => a.mapv(f64::from),
        Err(first) => ndarray_npy::ReadNpyExt::read_npy(open()?)
            .map_err(|_| Error::format(path, format!("not a 2-D f32/f64 .npy: {first}")))?,
    };

    if let Some((index, &value)) = array.iter().enumerate().find(|(_, v)| !v.is_finite()) {
        return Err(fisher_core::Error::NonFinite {
            what: format!("features in {}", path.display()),
            index,
            value,
        }
        .into());
    }
    Ok(array)
}

/// Runs `extractor` over `images` in batches of `batch_size` on `device` and returns the
/// features, `[n, f]`. `on_batch(done, total)` is called after each batch, for progress
/// reports.
///
/// # Errors
/// [`fisher_core::Error::Config`] for a zero batch size; whatever the extractor returns;
/// [`fisher_core::Error::Shape`] when it returns another width than it announces;
/// [`fisher_core::Error::NonFinite`] for a non-finite feature.
pub fn extract_features(
    extractor: &dyn FeatureExtractor,
    images: &ImageBatch,
    batch_size: usize,
    device: &Device,
    mut on_batch: impl FnMut(usize, usize),
) -> Result<Array2<f32>> {
    if batch_size == 0 {
        return Err(Error::config(
            "batch size",
            batch_size,
            "must be at least 1",
        ));
    }
    let f = extractor.feature_dim();
    let n = images.len();
    let mut values = Vec::with_capacity(n * f);

    for start in (0..n).step_by(batch_size) {
        let batch = images.slice(start, start + batch_size);
        let _span = tracing::info_span!("features", start, len = batch.len()).entered();
        let out = extractor.features(batch.to_tensor(device))?;
        let dims = out.dims();
        if dims != [batch.len(), f] {
            return Err(Error::shape("extracted features", &[batch.len(), f], &dims));
        }
        let data: Vec<f32> = out
            .into_data()
            .try_into_vec_as::<f32>()
            .map_err(|e| Error::config("feature tensor", format!("{e:?}"), "not readable"))?;
        values.extend(data);
        on_batch(start + batch.len(), n);
    }

    fisher_core::error::check_finite("extracted features", &values)?;
    Array2::from_shape_vec((n, f), values).map_err(|e| Error::config("features", e, "bad shape"))
}

/// The [`GaussianStats`] of `extractor`'s features of `images`; see [`extract_features`].
///
/// # Errors
/// As [`extract_features`] and [`StatsAccumulator::finish`].
pub fn image_statistics(
    extractor: &dyn FeatureExtractor,
    images: &ImageBatch,
    batch_size: usize,
    device: &Device,
    check: SampleCheck,
) -> Result<GaussianStats> {
    let features = extract_features(extractor, images, batch_size, device, |_, _| {})?;
    let mut acc = StatsAccumulator::new(features.ncols())?;
    acc.push_array(features.view())?;
    acc.finish(check)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray_npy::WriteNpyExt;

    fn write<T: WriteNpyExt>(name: &str, array: &T) -> std::path::PathBuf {
        let path = std::env::temp_dir().join(format!("fisher-fid-{}-{name}", std::process::id()));
        array
            .write_npy(std::fs::File::create(&path).unwrap())
            .unwrap();
        path
    }

    #[test]
    fn reads_f32_and_f64_and_rejects_the_rest() {
        let f32s = ndarray::array![[1.5f32, 2.0], [3.0, -4.0]];
        let path = write("a.npy", &f32s);
        assert_eq!(read_features(&path).unwrap(), f32s.mapv(f64::from));

        let f64s = ndarray::array![[0.1f64, 0.2, 0.3]];
        let path64 = write("b.npy", &f64s);
        assert_eq!(read_features(&path64).unwrap(), f64s);

        let flat = write("c.npy", &ndarray::array![1.0f32, 2.0]);
        let err = read_features(&flat).unwrap_err();
        assert!(
            matches!(err, Error::Core(fisher_core::Error::Format { .. })),
            "{err}"
        );

        let nan = write("d.npy", &ndarray::array![[1.0f32, f32::NAN]]);
        let err = read_features(&nan).unwrap_err();
        assert!(
            matches!(
                err,
                Error::Core(fisher_core::Error::NonFinite { index: 1, .. })
            ),
            "{err}"
        );
        for p in [path, path64, flat, nan] {
            std::fs::remove_file(p).unwrap();
        }
    }

    /// Features `[first pixel, width]`, with a width it may misreport.
    struct FirstPixel {
        announced: usize,
    }

    impl FeatureExtractor for FirstPixel {
        fn feature_dim(&self) -> usize {
            self.announced
        }

        fn features(
            &self,
            images: burn::tensor::Tensor<4, burn::tensor::Int>,
        ) -> fisher_core::Result<burn::tensor::Tensor<2>> {
            let [b, c, h, w] = images.dims();
            let first = images.float().reshape([b, c * h * w]).slice([0..b, 0..1]);
            Ok(burn::tensor::Tensor::cat(
                vec![first.clone(), first.ones_like()],
                1,
            ))
        }
    }

    #[test]
    fn batches_keep_image_order_and_widths_are_checked() {
        let device = Device::flex();
        let shape = fisher_core::ImageShape::new(1, 2, 2).unwrap();
        let data: Vec<u8> = (0..5u8).flat_map(|i| [i * 10, 0, 0, 0]).collect();
        let images = ImageBatch::new(data, 5, shape).unwrap();

        let mut seen = Vec::new();
        let good = FirstPixel { announced: 2 };
        let f =
            extract_features(&good, &images, 2, &device, |done, n| seen.push((done, n))).unwrap();
        assert_eq!(f.column(0).to_vec(), vec![0.0, 10.0, 20.0, 30.0, 40.0]);
        assert_eq!(seen, vec![(2, 5), (4, 5), (5, 5)]);

        let liar = FirstPixel { announced: 3 };
        let err = extract_features(&liar, &images, 2, &device, |_, _| {}).unwrap_err();
        assert!(
            matches!(err, Error::Core(fisher_core::Error::Shape { .. })),
            "{err}"
        );
        let err = extract_features(&good, &images, 0, &device, |_, _| {}).unwrap_err();
        assert!(
            matches!(err, Error::Core(fisher_core::Error::Config { .. })),
            "{err}"
        );
    }
}
