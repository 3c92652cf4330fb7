//! Checkpoint files: one file holding a decoder's config, the metadata of the embeddings it
//! was trained on, its step count, its weights and its optimiser state.
//!
//! Layout, all lengths little-endian `u64`:
//!
//! ```text
//! "FISHDEC1" | header length | header (JSON) | weights length | weights (burnpack)
//!            | optimiser length | optimiser state (burnpack)
//! ```
//!
//! The header is [`CheckpointHeader`] as JSON, so `head -c 4096 file` shows what a checkpoint
//! holds. Files are written to a temporary name in the same folder and renamed, so a killed
//! run never leaves half a checkpoint behind.

use std::io::Write;
use std::path::{Path, PathBuf};

use fisher_core::Error as CoreError;
use serde_json::Value;

use crate::{DecoderConfig, EmbeddingSpec, Error, Result};

const MAGIC: &[u8; 8] = b"FISHDEC1";

/// What a checkpoint says about itself.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct CheckpointHeader {
    /// The decoder's full config.
    pub config: DecoderConfig,
    /// The embeddings it was trained on.
    pub spec: EmbeddingSpec,
    /// Optimisation steps taken.
    pub steps: usize,
    /// Version of fisher-decoder that wrote the file.
    pub writer: String,
}

/// A checkpoint read into memory.
pub(crate) struct CheckpointParts {
    pub(crate) header: CheckpointHeader,
    pub(crate) weights: Vec<u8>,
    pub(crate) optimizer: Vec<u8>,
}

/// Writes a checkpoint atomically: to `path` plus a temporary suffix, then renamed.
pub(crate) fn write(
    path: &Path,
    header: &CheckpointHeader,
    weights: &[u8],
    optimizer: &[u8],
) -> Result<()> {
    let header = serde_json::to_vec_pretty(header)
        .map_err(|e| CoreError::format(path, format!("header not serialisable: {e}")))?;
    let temporary = temporary_name(path);
    let io = |e| Error::Core(CoreError::io(&temporary, e));

    let mut file = std::fs::File::create(&temporary).map_err(io)?;
    file.write_all(MAGIC).map_err(io)?;
    for part in [&header[..], weights, optimizer] {
        file.write_all(&(part.len() as u64).to_le_bytes())
            .map_err(io)?;
        file.write_all(part).map_err(io)?;
    }
    file.sync_all().map_err(io)?;
    drop(file);

    std::fs::rename(&temporary, path).map_err(|e| Error::Core(CoreError::io(path, e)))
}

/// Reads a whole checkpoint, checking its framing.
pub(crate) fn read(path: &Path) -> Result<CheckpointParts> {
    let bytes = std::fs::read(path).map_err(|e| CoreError::io(path, e))?;
    if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
        return Err(CoreError::format(path, "not a fisher-decoder checkpoint (bad magic)").into());
    }

    let mut rest = &bytes[MAGIC.len()..];
    let mut parts = Vec::with_capacity(3);
    for name in ["header", "weights", "optimiser state"] {
        let (part, tail) = split_part(path, name, rest)?;
        parts.push(part.to_vec());
        rest = tail;
    }
    if !rest.is_empty() {
        let reason = format!("{} trailing bytes after the optimiser state", rest.len());
        return Err(CoreError::format(path, reason).into());
    }

    let header: CheckpointHeader = serde_json::from_slice(&parts[0])
        .map_err(|e| CoreError::format(path, format!("header: {e}")))?;
    let optimizer = parts.pop().unwrap_or_default();
    let weights = parts.pop().unwrap_or_default();
    Ok(CheckpointParts {
        header,
        weights,
        optimizer,
    })
}

/// Reads a checkpoint whose config must fit `wanted` (see [`check_fits`]).
pub(crate) fn read_checked(
    path: &Path,
    wanted: &DecoderConfig,
    free: &[&str],
) -> Result<CheckpointParts> {
    let parts = read(path)?;
    check_fits(path, &parts.header.config, wanted, free)?;
    Ok(parts)
}

/// Reads only the header.
///
/// # Errors
/// When the file cannot be read or is not a checkpoint.
pub fn read_header(path: &Path) -> Result<CheckpointHeader> {
    Ok(read(path)?.header)
}

fn split_part<'a>(path: &Path, name: &str, bytes: &'a [u8]) -> Result<(&'a [u8], &'a [u8])> {
    let truncated = |needed: u64| {
        let reason = format!(
            "truncated {name}: needs {needed} bytes, {} left",
            bytes.len()
        );
        Error::Core(CoreError::format(path, reason))
    };
    if bytes.len() < 8 {
        return Err(truncated(8));
    }
    let mut length = [0u8; 8];
    length.copy_from_slice(&bytes[..8]);
    let length = u64::from_le_bytes(length);
    let rest = &bytes[8..];
    match usize::try_from(length) {
        Ok(n) if n <= rest.len() => Ok(rest.split_at(n)),
        _ => Err(truncated(length + 8)),
    }
}

fn temporary_name(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".tmp-{}", std::process::id()));
    path.with_file_name(name)
}

/// Checks that the architecture a checkpoint was written with equals the one `config`
/// describes: every field of the two JSON objects except those in `free` (learning rate,
/// seed, decoding temperature: what may change on resume).
///
/// # Errors
/// [`Error::CheckpointMismatch`] naming the first field that differs and both values.
pub(crate) fn check_fits(
    path: &Path,
    checkpoint: &DecoderConfig,
    config: &DecoderConfig,
    free: &[&str],
) -> Result<()> {
    let mismatch = |field: &str, a: String, b: String| Error::CheckpointMismatch {
        path: path.to_path_buf(),
        field: field.to_string(),
        checkpoint: a,
        config: b,
    };
    if checkpoint.kind() != config.kind() {
        return Err(mismatch(
            "decoder kind",
            checkpoint.kind().to_string(),
            config.kind().to_string(),
        ));
    }

    let (a, b) = (to_fields(checkpoint), to_fields(config));
    let mut names: Vec<&String> = a.keys().chain(b.keys()).collect();
    names.sort();
    names.dedup();
    for name in names {
        if free.contains(&name.as_str()) {
            continue;
        }
        let (x, y) = (a.get(name), b.get(name));
        if x != y {
            let show = |v: Option<&Value>| v.map_or("absent".to_string(), Value::to_string);
            return Err(mismatch(name, show(x), show(y)));
        }
    }
    Ok(())
}

/// The fields of the variant's inner config, as a JSON object.
fn to_fields(config: &DecoderConfig) -> serde_json::Map<String, Value> {
    let value = serde_json::to_value(config).unwrap_or(Value::Null);
    let inner = match value {
        Value::Object(outer) => outer.into_iter().next().map(|(_, v)| v),
        _ => None,
    };
    match inner {
        Some(Value::Object(fields)) => fields,
        _ => serde_json::Map::new(),
    }
}
