//! Embedding files: safetensors with the metadata needed to reproduce them, shards and merging.
//!
//! A file holds two tensors and a string-to-string metadata table:
//!
//! | name | dtype | shape | content |
//! | --- | --- | --- | --- |
//! | `indices` | I64 | `[n]` | index of each image in the data set |
//! | `embeddings` | F32 | `[n, k]` | one embedding per row |
//!
//! The metadata keys are those of [`EmbeddingsMetadata`]. The header is written in a fixed
//! order, so the same run gives the same bytes. numpy reads it with the `safetensors` package
//! (`safetensors.numpy.load_file`) or by hand: an 8-byte little-endian header length, the JSON
//! header, then the raw little-endian data at the offsets the header gives.
//!
//! A run over `total` images in batches of `batch_size` can be split with [`Shard`]: shard `i`
//! of `n` takes whole batches, `⌊i·B/n⌋ ..  ⌊(i+1)·B/n⌋` of the `B = ⌈total/batch_size⌉`
//! batches, so every image is computed in the same batch as in a single run and the merged
//! shards ([`merge_shards`]) equal the single run's file byte for byte.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Write;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use fisher_core::Error as CoreError;
use safetensors::{Dtype, SafeTensors};
use serde::Serialize;

use crate::{DiagonalFisher, Error, Result, Standardiser};

/// The version tag written in every embeddings file.
pub const FORMAT: &str = "fisher-embed-embeddings-1";

/// One part of a run: shard `index` of `count`, `index ∈ 0..count`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Shard {
    /// Which part, from 0.
    pub index: usize,
    /// Number of parts, at least 1.
    pub count: usize,
}

impl Shard {
    /// The whole run: shard 0 of 1.
    pub const WHOLE: Shard = Shard { index: 0, count: 1 };

    /// Shard `index` of `count`.
    ///
    /// # Errors
    /// When `count` is 0 or `index ≥ count`.
    pub fn new(index: usize, count: usize) -> Result<Self> {
        if count == 0 || index >= count {
            return Err(CoreError::config(
                "shard",
                format!("{index}/{count}"),
                "needs i/n with n ≥ 1 and 0 ≤ i < n",
            )
            .into());
        }
        Ok(Self { index, count })
    }

    /// The images of this shard, aligned to whole batches of `batch_size`.
    ///
    /// # Errors
    /// When `batch_size` is 0.
    pub fn range(&self, total: usize, batch_size: usize) -> Result<Range<usize>> {
        if batch_size == 0 {
            return Err(CoreError::config("batch size", 0, "must be at least 1").into());
        }
        let batches = total.div_ceil(batch_size);
        let first = self.index * batches / self.count;
        let last = (self.index + 1) * batches / self.count;
        Ok((first * batch_size).min(total)..(last * batch_size).min(total))
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl FromStr for Shard {
    type Err = Error;

    /// Parses `i/n`.
    fn from_str(s: &str) -> Result<Self> {
        let bad = || CoreError::config("shard", s, "expected i/n, e.g. 0/4");
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let i = i.trim().parse().map_err(|_| bad())?;
        let n = n.trim().parse().map_err(|_| bad())?;
        Self::new(i, n)
    }
}

/// What produced an embeddings file; enough to reproduce it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmbeddingsMetadata {
    /// `fisher`, `activations:LAYER` or `pixels`.
    pub method: String,
    /// SHA-256 of the model checkpoint file, hex; `none` for pixels.
    pub checkpoint_sha256: String,
    /// Projection kind, e.g. `sparse-jl`, or `none`.
    pub projection: String,
    /// Seed of the projection matrix.
    pub projection_seed: u64,
    /// Embedding length.
    pub k: usize,
    /// Non-zeros per column of the projection (0 where not applicable).
    pub s: usize,
    /// Length `d` of the vectors before projection.
    pub input_dim: usize,
    /// The normalisation, as [`Normalisation`](crate::Normalisation) prints it, with what it
    /// was fitted on.
    pub normalisation: String,
    /// Data set name and split, e.g. `mnist:test`.
    pub dataset: String,
    /// Images per batch; shards must use the same.
    pub batch_size: usize,
    /// Number of images of the whole run (all shards).
    pub total: usize,
    /// Which part of the run the file holds.
    pub shard: Shard,
}

impl EmbeddingsMetadata {
    /// The metadata as a string table, keys in a fixed order.
    pub fn to_map(&self) -> BTreeMap<String, String> {
        let pairs = [
            ("format", FORMAT.to_string()),
            ("method", self.method.clone()),
            ("checkpoint_sha256", self.checkpoint_sha256.clone()),
            ("projection", self.projection.clone()),
            ("projection_seed", self.projection_seed.to_string()),
            ("k", self.k.to_string()),
            ("s", self.s.to_string()),
            ("input_dim", self.input_dim.to_string()),
            ("normalisation", self.normalisation.clone()),
            ("dataset", self.dataset.clone()),
            ("batch_size", self.batch_size.to_string()),
            ("total", self.total.to_string()),
            ("shard", self.shard.to_string()),
        ];
        pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
    }

    /// Reads the metadata back from a string table.
    ///
    /// # Errors
    /// [`fisher_core::Error::Format`] naming `path` and the missing or malformed key.
    pub fn from_map(path: &Path, map: &BTreeMap<String, String>) -> Result<Self> {
        let get = |key: &str| {
            map.get(key)
                .cloned()
                .ok_or_else(|| CoreError::format(path, format!("metadata has no `{key}`")))
        };
        let num = |key: &str| -> Result<u64> {
            get(key)?.parse().map_err(|_| {
                CoreError::format(path, format!("metadata `{key}` is not a number")).into()
            })
        };
        let format = get("format")?;
        if format != FORMAT {
            return Err(
                CoreError::format(path, format!("format `{format}`, expected `{FORMAT}`")).into(),
            );
        }
        let shard: Shard = get("shard")?.parse()?;
        Ok(Self {
            method: get("method")?,
            checkpoint_sha256: get("checkpoint_sha256")?,
            projection: get("projection")?,
            projection_seed: num("projection_seed")?,
            k: num("k")? as usize,
            s: num("s")? as usize,
            input_dim: num("input_dim")? as usize,
            normalisation: get("normalisation")?,
            dataset: get("dataset")?,
            batch_size: num("batch_size")? as usize,
            total: num("total")? as usize,
            shard,
        })
    }
}

/// Embeddings of a set of images with their data-set indices and metadata.
#[derive(Clone, Debug, PartialEq)]
pub struct Embeddings {
    /// What produced them.
    pub metadata: EmbeddingsMetadata,
    /// Data-set index of each row.
    pub indices: Vec<i64>,
    /// `[n, k]`, row-major.
    pub values: Vec<f32>,
}

impl Embeddings {
    /// Number of embeddings.
    pub fn len(&self) -> usize {
        self.indices.len()
    }

    /// Whether there is no embedding.
    pub fn is_empty(&self) -> bool {
        self.indices.is_empty()
    }

    /// Row `i`.
    ///
    /// # Panics
    /// If `i ≥ len()`.
    pub fn row(&self, i: usize) -> &[f32] {
        let k = self.metadata.k;
        &self.values[i * k..(i + 1) * k]
    }

    /// Checks that the values fill `[len, k]` and are finite.
    ///
    /// # Errors
    /// [`fisher_core::Error::Shape`] or [`fisher_core::Error::NonFinite`].
    pub fn validate(&self) -> Result<()> {
        let (n, k) = (self.indices.len(), self.metadata.k);
        if self.values.len() != n * k {
            return Err(CoreError::shape("embeddings", &[n, k], &[self.values.len()]).into());
        }
        fisher_core::error::check_finite("embeddings", &self.values)?;
        Ok(())
    }

    /// Writes the file atomically: to a temporary name in the same folder, then renamed.
    ///
    /// # Errors
    /// When the embeddings are invalid or the file cannot be written.
    pub fn write(&self, path: &Path) -> Result<()> {
        self.validate()?;
        let (n, k) = (self.indices.len(), self.metadata.k);
        let indices: Vec<u8> = self.indices.iter().flat_map(|v| v.to_le_bytes()).collect();
        let values: Vec<u8> = self.values.iter().flat_map(|v| v.to_le_bytes()).collect();
        write_safetensors(
            path,
            self.metadata.to_map(),
            &[
                ("indices", Dtype::I64, vec![n], &indices),
                ("embeddings", Dtype::F32, vec![n, k], &values),
            ],
        )
    }

    /// Reads a file written by [`write`](Self::write).
    ///
    /// # Errors
    /// When the file cannot be read or is not an embeddings file.
    pub fn read(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| CoreError::io(path, e))?;
        let (map, tensors) = parse_safetensors(path, &bytes)?;
        let metadata = EmbeddingsMetadata::from_map(path, &map)?;
        let indices = tensors.i64s(path, "indices", &[None])?;
        let values = tensors.f32s(path, "embeddings", &[Some(indices.len()), Some(metadata.k)])?;
        let out = Self {
            metadata,
            indices,
            values,
        };
        out.validate()?;
        Ok(out)
    }
}

/// Concatenates the shards of one run, in shard order, into the single run's embeddings.
///
/// Every metadata field except the shard index must agree, and the shards must be `0..n`
/// exactly once.
///
/// # Errors
/// [`Error::ShardMismatch`] naming the first disagreeing field (seed, projection, checkpoint,
/// …) and shard, [`Error::IncompleteShards`] when a shard is missing or repeated.
pub fn merge_shards(shards: Vec<(PathBuf, Embeddings)>) -> Result<Embeddings> {
    let Some((_, first)) = shards.first() else {
        return Err(Error::IncompleteShards {
            count: 0,
            found: vec![],
        });
    };
    let mut reference = first.metadata.to_map();
    reference.remove("shard");
    let count = first.metadata.shard.count;
    for (path, shard) in &shards {
        let mut map = shard.metadata.to_map();
        map.remove("shard");
        if let Some((field, expected)) = reference.iter().find(|(k, v)| map.get(*k) != Some(*v)) {
            return Err(Error::ShardMismatch {
                path: path.clone(),
                field: field.clone(),
                expected: expected.clone(),
                found: map.get(field).cloned().unwrap_or_default(),
            });
        }
        if shard.metadata.shard.count != count {
            return Err(Error::ShardMismatch {
                path: path.clone(),
                field: "shard count".into(),
                expected: count.to_string(),
                found: shard.metadata.shard.count.to_string(),
            });
        }
    }

    let mut shards = shards;
    shards.sort_by_key(|(_, e)| e.metadata.shard.index);
    let found: Vec<usize> = shards.iter().map(|(_, e)| e.metadata.shard.index).collect();
    if found != (0..count).collect::<Vec<_>>() {
        return Err(Error::IncompleteShards { count, found });
    }

    let mut metadata = shards[0].1.metadata.clone();
    metadata.shard = Shard::WHOLE;
    let (mut indices, mut values) = (Vec::new(), Vec::new());
    for (_, shard) in shards {
        indices.extend(shard.indices);
        values.extend(shard.values);
    }
    if indices.len() != metadata.total {
        return Err(CoreError::mismatch(
            "number of merged embeddings",
            metadata.total,
            indices.len(),
        )
        .into());
    }
    let merged = Embeddings {
        metadata,
        indices,
        values,
    };
    merged.validate()?;
    Ok(merged)
}

/// A fitted normalisation, as saved next to embeddings so that shards and later runs reuse
/// the same statistics.
#[derive(Clone, Debug, PartialEq)]
pub enum FittedNormalisation {
    /// Diagonal-Fisher factors, one per parameter.
    DiagonalFisher(DiagonalFisher),
    /// Per-dimension mean and deviation of the embeddings.
    Standardise(Standardiser),
}

impl FittedNormalisation {
    /// Writes the statistics atomically as safetensors, with `metadata` (which should name the
    /// checkpoint, method, projection and data they were fitted on).
    ///
    /// # Errors
    /// When the file cannot be written.
    pub fn write(&self, path: &Path, metadata: BTreeMap<String, String>) -> Result<()> {
        let mut metadata = metadata;
        let f64_bytes = |v: &[f64]| -> Vec<u8> { v.iter().flat_map(|x| x.to_le_bytes()).collect() };
        match self {
            Self::DiagonalFisher(f) => {
                metadata.insert("kind".into(), "diag-fisher".into());
                metadata.insert("damping".into(), format!("{:e}", f.damping()));
                metadata.insert("samples".into(), f.samples().to_string());
                let bytes: Vec<u8> = f.factors().iter().flat_map(|x| x.to_le_bytes()).collect();
                let tensors = [("factors", Dtype::F32, vec![f.factors().len()], &bytes[..])];
                write_safetensors(path, metadata, &tensors)
            }
            Self::Standardise(s) => {
                metadata.insert("kind".into(), "standardise".into());
                metadata.insert("samples".into(), s.samples().to_string());
                let (mean, std) = (f64_bytes(s.mean()), f64_bytes(s.std()));
                let k = s.mean().len();
                let tensors = [
                    ("mean", Dtype::F64, vec![k], &mean[..]),
                    ("std", Dtype::F64, vec![k], &std[..]),
                ];
                write_safetensors(path, metadata, &tensors)
            }
        }
    }

    /// Reads statistics written by [`write`](Self::write), with their metadata table.
    ///
    /// # Errors
    /// When the file cannot be read or is not a normalisation file.
    pub fn read(path: &Path) -> Result<(Self, BTreeMap<String, String>)> {
        let bytes = std::fs::read(path).map_err(|e| CoreError::io(path, e))?;
        let (map, tensors) = parse_safetensors(path, &bytes)?;
        let field = |key: &str| {
            map.get(key)
                .cloned()
                .ok_or_else(|| CoreError::format(path, format!("metadata has no `{key}`")))
        };
        let samples: usize = field("samples")?
            .parse()
            .map_err(|_| CoreError::format(path, "metadata `samples` is not a number"))?;
        let fitted = match field("kind")?.as_str() {
            "diag-fisher" => {
                let damping: f64 = field("damping")?
                    .parse()
                    .map_err(|_| CoreError::format(path, "metadata `damping` is not a number"))?;
                let factors = tensors.f32s(path, "factors", &[None])?;
                Self::DiagonalFisher(DiagonalFisher::from_parts(factors, samples, damping)?)
            }
            "standardise" => {
                let mean = tensors.f64s(path, "mean", &[None])?;
                let std = tensors.f64s(path, "std", &[Some(mean.len())])?;
                Self::Standardise(Standardiser::from_parts(mean, std, samples)?)
            }
            other => {
                return Err(CoreError::format(path, format!("unknown kind `{other}`")).into());
            }
        };
        Ok((fitted, map))
    }
}

/// One tensor's entry in a safetensors header; fields in the order the format lists them.
#[derive(Serialize)]
struct TensorEntry {
    dtype: Dtype,
    shape: Vec<usize>,
    data_offsets: (usize, usize),
}

/// A header value: the metadata table or a tensor entry.
#[derive(Serialize)]
#[serde(untagged)]
enum HeaderValue {
    Metadata(BTreeMap<String, String>),
    Tensor(TensorEntry),
}

/// A tensor to write: name, dtype, shape and little-endian bytes.
pub(crate) type RawTensor<'a> = (&'a str, Dtype, Vec<usize>, &'a [u8]);

/// Writes a safetensors file with a deterministic header, atomically.
pub(crate) fn write_safetensors(
    path: &Path,
    metadata: BTreeMap<String, String>,
    tensors: &[RawTensor<'_>],
) -> Result<()> {
    let mut header = BTreeMap::new();
    header.insert("__metadata__".to_string(), HeaderValue::Metadata(metadata));
    let mut offset = 0;
    for (name, dtype, shape, bytes) in tensors {
        let entry = TensorEntry {
            dtype: *dtype,
            shape: shape.clone(),
            data_offsets: (offset, offset + bytes.len()),
        };
        offset += bytes.len();
        header.insert(name.to_string(), HeaderValue::Tensor(entry));
    }
    let mut header = serde_json::to_vec(&header)
        .map_err(|e| CoreError::format(path, format!("cannot encode the header: {e}")))?;
    header.resize(header.len().next_multiple_of(8), b' ');

    write_atomically(path, |file| {
        file.write_all(&(header.len() as u64).to_le_bytes())?;
        file.write_all(&header)?;
        for (_, _, _, bytes) in tensors {
            file.write_all(bytes)?;
        }
        Ok(())
    })
}

/// Writes through `fill` to a temporary file next to `path`, syncs it and renames it.
pub(crate) fn write_atomically(
    path: &Path,
    fill: impl FnOnce(&mut std::io::BufWriter<std::fs::File>) -> std::io::Result<()>,
) -> Result<()> {
    let name = path
        .file_name()
        .ok_or_else(|| CoreError::config("output path", path.display(), "has no file name"))?;
    let tmp = path.with_file_name(format!(
        ".{}.tmp-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| {
        let file = std::fs::File::create(&tmp)?;
        let mut writer = std::io::BufWriter::new(file);
        fill(&mut writer)?;
        let file = writer.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(CoreError::io(path, e).into());
    }
    Ok(())
}

/// The tensors of a parsed safetensors file.
pub(crate) struct TensorTable<'a>(SafeTensors<'a>);

/// Parses a safetensors buffer into its metadata table and tensors.
pub(crate) fn parse_safetensors<'a>(
    path: &Path,
    bytes: &'a [u8],
) -> Result<(BTreeMap<String, String>, TensorTable<'a>)> {
    let tensors = SafeTensors::deserialize(bytes)
        .map_err(|e| CoreError::format(path, format!("not a safetensors file: {e}")))?;
    let (_, meta) = SafeTensors::read_metadata(bytes)
        .map_err(|e| CoreError::format(path, format!("not a safetensors file: {e}")))?;
    let map = meta
        .metadata()
        .clone()
        .unwrap_or_default()
        .into_iter()
        .collect();
    Ok((map, TensorTable(tensors)))
}

impl TensorTable<'_> {
    fn view(
        &self,
        path: &Path,
        name: &str,
        dtype: Dtype,
        shape: &[Option<usize>],
    ) -> Result<Vec<u8>> {
        let view = self
            .0
            .tensor(name)
            .map_err(|_| CoreError::format(path, format!("no tensor `{name}`")))?;
        if view.dtype() != dtype {
            return Err(CoreError::format(
                path,
                format!("tensor `{name}` is {:?}, expected {dtype:?}", view.dtype()),
            )
            .into());
        }
        let fits = view.shape().len() == shape.len()
            && view
                .shape()
                .iter()
                .zip(shape)
                .all(|(&a, b)| b.is_none_or(|b| a == b));
        if !fits {
            let expected: Vec<usize> = shape.iter().map(|s| s.unwrap_or(0)).collect();
            return Err(CoreError::shape(name, &expected, view.shape()).into());
        }
        Ok(view.data().to_vec())
    }

    /// An F32 tensor's values; `None` in `shape` accepts any size.
    pub(crate) fn f32s(
        &self,
        path: &Path,
        name: &str,
        shape: &[Option<usize>],
    ) -> Result<Vec<f32>> {
        let bytes = self.view(path, name, Dtype::F32, shape)?;
        Ok(bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect())
    }

    /// An F64 tensor's values; `None` in `shape` accepts any size.
    pub(crate) fn f64s(
        &self,
        path: &Path,
        name: &str,
        shape: &[Option<usize>],
    ) -> Result<Vec<f64>> {
        let bytes = self.view(path, name, Dtype::F64, shape)?;
        Ok(bytes
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
            .collect())
    }

    /// An I64 tensor's values; `None` in `shape` accepts any size.
    pub(crate) fn i64s(
        &self,
        path: &Path,
        name: &str,
        shape: &[Option<usize>],
    ) -> Result<Vec<i64>> {
        let bytes = self.view(path, name, Dtype::I64, shape)?;
        Ok(bytes
            .chunks_exact(8)
            .map(|c| i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
            .collect())
    }
}
