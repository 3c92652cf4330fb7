//! Embeddings files together with the images they were made from, found again from the
//! file's metadata, for the subcommands that decode embeddings (`fisher decoder`,
//! `fisher interpolate`, `fisher edit`).
//!
//! `fisher embed` and the demo record the data set of a file, e.g.
//! `fashion-mnist:test[0..2000]`, `faces(seed=3):train[0..500]` or `faces(seed=0):test`, and
//! the image index of each row. Fashion-MNIST images are read again from the IDX files, with
//! one attribute per class named as [`FASHION_ATTRIBUTES`]; the procedural faces are drawn
//! again from their seed, with their five attributes (test faces start at index
//! [`fisher_data::FACES_TEST_START`]).

use std::path::Path;

use anyhow::{Context, Result, bail};
use fisher_core::{Decoder, ImageBatch};
use fisher_data::{
    Attributed, Attributes, Examples, FACE_ATTRIBUTES, Faces, FacesConfig, Mnist, Split,
};
use fisher_decoder::{AnyDecoder, EmbeddingSpec, Pairs, TrainableDecoder};
use fisher_score::Embeddings;

use crate::demo::FASHION_ATTRIBUTES;

/// Embeddings, their spec, and the images they were made from, in the same order.
pub(crate) struct Paired {
    /// How the embeddings were made.
    pub(crate) spec: EmbeddingSpec,
    /// `[n, k]`, row-major.
    pub(crate) z: Vec<f32>,
    /// The `n` images.
    pub(crate) images: ImageBatch,
}

impl Paired {
    /// The first `count` rows (0 = all) of the embeddings file at `path`, with their images.
    pub(crate) fn read(path: &Path, data_dir: &Path, count: usize) -> Result<Self> {
        let file = read_embeddings(path)?;
        let n = if count == 0 {
            file.len()
        } else {
            count.min(file.len())
        };
        let rows: Vec<usize> = (0..n).collect();
        Self::from_rows(path, &file, &rows, data_dir)
    }

    /// Rows `rows` (in that order, repeats allowed) of `file`, read from `path`, with their
    /// images. A row past the end is an error naming it.
    pub(crate) fn from_rows(
        path: &Path,
        file: &Embeddings,
        rows: &[usize],
        data_dir: &Path,
    ) -> Result<Self> {
        check_rows(path, file, rows)?;
        let spec = spec_of(path, file)?;
        let indices: Vec<i64> = rows.iter().map(|&r| file.indices[r]).collect();
        let images = images_for(&file.metadata.dataset, &indices, data_dir)
            .with_context(|| format!("loading the images of {}", path.display()))?;
        let z = rows
            .iter()
            .flat_map(|&r| file.row(r).iter().copied())
            .collect();
        Ok(Self { spec, z, images })
    }

    /// The (embedding, image) pairs, for training and evaluation.
    pub(crate) fn pairs(&self) -> Result<Pairs<'_>> {
        Ok(Pairs::new(&self.spec, &self.z, &self.images)?)
    }
}

/// Reads an embeddings file, naming it in errors.
pub(crate) fn read_embeddings(path: &Path) -> Result<Embeddings> {
    Embeddings::read(path).with_context(|| format!("reading {}", path.display()))
}

/// How the embeddings of `file` (read from `path`) were made.
pub(crate) fn spec_of(path: &Path, file: &Embeddings) -> Result<EmbeddingSpec> {
    Ok(EmbeddingSpec::from_metadata(path, &file.metadata.to_map())?)
}

/// Fails when a row of `rows` is past the end of `file`, naming every such row.
pub(crate) fn check_rows(path: &Path, file: &Embeddings, rows: &[usize]) -> Result<()> {
    let mut outside: Vec<usize> = rows.iter().copied().filter(|&r| r >= file.len()).collect();
    outside.sort_unstable();
    outside.dedup();
    if outside.is_empty() {
        return Ok(());
    }
    let list: Vec<String> = outside.iter().map(ToString::to_string).collect();
    let (rows, are) = if list.len() == 1 {
        ("row", "is")
    } else {
        ("rows", "are")
    };
    bail!(
        "{rows} {} {are} out of range: {} holds {} embeddings (rows 0 to {})",
        list.join(", "),
        path.display(),
        file.len(),
        file.len().saturating_sub(1)
    )
}

/// Loads a `fisher decoder train` checkpoint.
pub(crate) fn load_decoder(path: &Path, device: &burn::tensor::Device) -> Result<AnyDecoder> {
    AnyDecoder::load(path, device).with_context(|| format!("loading {}", path.display()))
}

/// Fails unless `decoder` (read from `decoder_path`) was trained on embeddings made like
/// `spec` (those of `embeddings_path`); the error names both descriptions.
pub(crate) fn check_decoder(
    decoder: &AnyDecoder,
    decoder_path: &Path,
    spec: &EmbeddingSpec,
    embeddings_path: &Path,
) -> Result<()> {
    decoder.spec().check(spec).with_context(|| {
        format!(
            "decoder {} cannot decode the embeddings of {}",
            decoder_path.display(),
            embeddings_path.display()
        )
    })
}

/// Fails unless `decoder` makes images of the shape of `images`.
pub(crate) fn check_image_shape(decoder: &AnyDecoder, images: &ImageBatch) -> Result<()> {
    let (made, found) = (decoder.image_shape(), images.shape());
    if made != found {
        bail!("the decoder makes {made} images, but the embeddings' images are {found}");
    }
    Ok(())
}

/// Where the images of an embeddings file come from.
enum Source {
    /// Fashion-MNIST, one split.
    FashionMnist(Split),
    /// The procedural faces of `seed`, indices counted from `base`.
    Faces { seed: u64, base: u64 },
}

impl Source {
    /// Parses a data set description: `NAME:SPLIT` with an optional `[A..B]`.
    fn parse(dataset: &str) -> Result<Self> {
        let Some((name, rest)) = dataset.split_once(':') else {
            bail!("unknown data set {dataset:?} (expected NAME:SPLIT[A..B])");
        };
        let split = rest.split('[').next().unwrap_or(rest);
        if name == "fashion-mnist" {
            return Ok(Self::FashionMnist(match split {
                "train" => Split::Train,
                "test" => Split::Test,
                other => bail!("unknown split {other:?} in {dataset:?}"),
            }));
        }
        let Some(seed) = name
            .strip_prefix("faces(seed=")
            .and_then(|s| s.strip_suffix(')'))
            .and_then(|s| s.parse::<u64>().ok())
        else {
            bail!("unknown data set {name:?} in {dataset:?} (fashion-mnist or faces(seed=N))");
        };
        let base = match split {
            "train" => 0,
            "test" => fisher_data::FACES_TEST_START,
            other => bail!("unknown split {other:?} in {dataset:?}"),
        };
        Ok(Self::Faces { seed, base })
    }
}

/// The attribute names of the images of a data set description (see [`attributed_for`]),
/// without loading any image.
pub(crate) fn attribute_names(dataset: &str) -> Result<Vec<&'static str>> {
    Ok(match Source::parse(dataset)? {
        Source::FashionMnist(_) => FASHION_ATTRIBUTES.to_vec(),
        Source::Faces { .. } => FACE_ATTRIBUTES.to_vec(),
    })
}

/// The images at `indices` of the data set an embeddings file names.
pub(crate) fn images_for(dataset: &str, indices: &[i64], data_dir: &Path) -> Result<ImageBatch> {
    Ok(attributed_for(dataset, indices, data_dir)?.into_parts().0)
}

/// The images at `indices` of the data set an embeddings file names, with their attributes:
/// the faces' five, or one per Fashion-MNIST class.
pub(crate) fn attributed_for(
    dataset: &str,
    indices: &[i64],
    data_dir: &Path,
) -> Result<Attributed> {
    let source = Source::parse(dataset)?;
    let indices: Vec<u64> = indices
        .iter()
        .map(|&i| u64::try_from(i).with_context(|| format!("negative image index {i}")))
        .collect::<Result<_>>()?;
    let Some(&high) = indices.iter().max() else {
        bail!("the embeddings file holds no embedding");
    };

    match source {
        Source::FashionMnist(split) => {
            let all = Mnist::new(data_dir)
                .load(split)
                .with_context(|| format!("loading Fashion-MNIST from {}", data_dir.display()))?;
            if high as usize >= all.len() {
                bail!(
                    "image index {high} is past the {} images of {dataset}",
                    all.len()
                );
            }
            let picked: Vec<usize> = indices.iter().map(|&i| i as usize).collect();
            crate::demo::one_hot(all.select(&picked))
        }
        Source::Faces { seed, base } => {
            let faces = Faces::new(FacesConfig::default(), seed)?;
            let mut images = ImageBatch::empty(faces.shape());
            let mut values = Vec::with_capacity(indices.len() * FACE_ATTRIBUTES.len());
            for &i in &indices {
                let params = faces.params(base + i);
                images.push(&faces.render(&params))?;
                values.extend(params.attributes().to_array());
            }
            let names = FACE_ATTRIBUTES.iter().map(|s| s.to_string()).collect();
            let attributes = Attributes::new(names, values, indices.len())?;
            Ok(Attributed::new(images, attributes)?)
        }
    }
}
