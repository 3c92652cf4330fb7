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
