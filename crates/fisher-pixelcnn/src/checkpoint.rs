//! Checkpoint files: a model's configuration and parameters, and optionally the optimizer
//! state and training position needed to resume.
//!
//! Layout (all integers little-endian):
//!
//! ```text
//! "FPIXCNN1"            8-byte magic, the last byte is the format version
//! u64 n_h, header       JSON: model config, training config and state, SHA-256 of the parts
//! u64 n_m, model        Burn burnpack record of the parameters (paths: layers.0.v_conv.weight)
//! u64 n_o, optimizer    Burn burnpack record of the Adam state, n_o = 0 when absent
//! ```
//!
//! Files are written to a temporary name in the same folder and renamed, so an interrupted
//! write never leaves a partial checkpoint under the final name. Loading checks the magic,
//! the lengths and both digests, then that the stored configuration equals the one the caller
//! expects; a mismatch is [`Error::CheckpointConfig`] naming both.

use std::io::Write;
use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::store::ModuleRecord;
use burn::tensor::{Bytes, Device};
use sha2::{Digest, Sha256};

use crate::config::PixelCnnConfig;
use crate::error::{Error, Result};
use crate::model::PixelCnn;
use crate::train::{TrainConfig, TrainState};

const MAGIC: &[u8; 8] = b"FPIXCNN1";

/// The JSON header of a checkpoint file.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct Header {
    pub model_config: PixelCnnConfig,
    pub train_config: Option<TrainConfig>,
    pub train_state: Option<TrainState>,
    pub model_sha256: String,
    pub optimizer_sha256: String,
}

/// The parts of a checkpoint file as read from disk.
pub(crate) struct Parts {
    pub header: Header,
    pub model: Vec<u8>,
    pub optimizer: Vec<u8>,
}

pub(crate) fn hex_digest(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn io_error(path: &Path, source: std::io::Error) -> Error {
    fisher_core::Error::io(path, source).into()
}

fn format_error(path: &Path, reason: impl Into<String>) -> Error {
    fisher_core::Error::format(path, reason).into()
}

/// Serialises a model's parameters with Burn's record format.
pub(crate) fn model_bytes(model: &PixelCnn, path: &Path) -> Result<Vec<u8>> {
    let bytes = model
        .clone()
        .into_record()
        .into_bytes()
        .map_err(|e| record_error(path, e))?;
    Ok(bytes.to_vec())
}

pub(crate) fn record_error(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Record {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

/// Writes the parts to `path` through a temporary file in the same folder.
pub(crate) fn write(path: &Path, mut header: Header, model: &[u8], optimizer: &[u8]) -> Result<()> {
    header.model_sha256 = hex_digest(model);
    header.optimizer_sha256 = hex_digest(optimizer);
    let json = serde_json::to_vec(&header)
        .map_err(|e| format_error(path, format!("cannot encode header: {e}")))?;

    let tmp = temporary_name(path);
    let result = (|| -> std::io::Result<()> {
        let mut file = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
        file.write_all(MAGIC)?;
        for part in [&json[..], model, optimizer] {
            file.write_all(&(part.len() as u64).to_le_bytes())?;
            file.write_all(part)?;
        }
        file.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(io_error(path, e));
    }
    Ok(())
}

fn temporary_name(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp{}", std::process::id()))
}

/// Reads and checks the parts of the checkpoint at `path`.
pub(crate) fn read(path: &Path) -> Result<Parts> {
    let data = std::fs::read(path).map_err(|e| io_error(path, e))?;
    if data.len() < 8 || &data[..8] != MAGIC {
        return Err(format_error(
            path,
            "not a fisher-pixelcnn checkpoint (bad magic)",
        ));
    }
    let mut rest = &data[8..];
    let mut parts = Vec::with_capacity(3);
    for name in ["header", "model record", "optimizer record"] {
        let (part, tail) = take_part(rest).ok_or_else(|| {
            format_error(
                path,
                format!("truncated: the {name} runs past the end of the file"),
            )
        })?;
        parts.push(part.to_vec());
        rest = tail;
    }
    if !rest.is_empty() {
        return Err(format_error(path, format!("{} trailing bytes", rest.len())));
    }
    let optimizer = parts.pop().unwrap_or_default();
    let model = parts.pop().unwrap_or_default();
    let header: Header = serde_json::from_slice(&parts[0])
        .map_err(|e| format_error(path, format!("bad header: {e}")))?;
    check_digest(path, "model record", &header.model_sha256, &model)?;
    check_digest(
        path,
        "optimizer record",
        &header.optimizer_sha256,
        &optimizer,
    )?;
    Ok(Parts {
        header,
        model,
        optimizer,
    })
}

fn take_part(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let len = u64::from_le_bytes(bytes.get(..8)?.try_into().ok()?);
    let len = usize::try_from(len).ok()?;
    let body = bytes.get(8..8usize.checked_add(len)?)?;
    Some((body, &bytes[8 + len..]))
}

fn check_digest(path: &Path, what: &str, expected: &str, bytes: &[u8]) -> Result<()> {
    let found = hex_digest(bytes);
    if found != expected {
        return Err(format_error(
            path,
            format!("{what} is corrupt: SHA-256 {found}, header says {expected}"),
        ));
    }
    Ok(())
}

/// Fails with [`Error::CheckpointConfig`] when `expected` is given and differs from `found`.
pub(crate) fn check_config(
    path: &Path,
    expected: Option<&PixelCnnConfig>,
    found: &PixelCnnConfig,
) -> Result<()> {
    match expected {
        Some(e) if e != found => Err(Error::CheckpointConfig {
            path: path.to_path_buf(),
            expected: serde_json::to_string(e).unwrap_or_default(),
            found: serde_json::to_string(found).unwrap_or_default(),
        }),
        _ => Ok(()),
    }
}

/// Builds the model of `config` on `device` and loads the recorded parameters into it.
pub(crate) fn build_model(
    path: &Path,
    config: &PixelCnnConfig,
    record: Vec<u8>,
    device: &Device,
) -> Result<PixelCnn> {
    let model = config.init(device)?;
    let record = ModuleRecord::from_bytes(Bytes::from_bytes_vec(record))
        .map_err(|e| record_error(path, e))?;
    model
        .try_load_record(record)
        .map_err(|e| record_error(path, e))
}

impl PixelCnn {
    /// Saves the model alone (configuration and parameters) to `path`.
    ///
    /// # Errors
    /// When the file cannot be written; nothing is left under `path` then.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let _span = tracing::info_span!("pixelcnn_save", path = %path.display()).entered();
        let header = Header {
            model_config: self.config().clone(),
            train_config: None,
            train_state: None,
            model_sha256: String::new(),
            optimizer_sha256: String::new(),
        };
        write(path, header, &model_bytes(self, path)?, &[])
    }

    /// Loads a model saved by [`save`](Self::save) or by a
    /// [`Trainer`](crate::Trainer) checkpoint onto `device`.
    ///
    /// With `expected` given, the stored configuration must equal it.
    ///
    /// # Errors
    /// [`Error::CheckpointConfig`] naming both configurations on a mismatch; a format error
    /// for a corrupt or foreign file; an I/O error naming the file.
    pub fn load(
        path: impl AsRef<Path>,
        expected: Option<&PixelCnnConfig>,
        device: &Device,
    ) -> Result<Self> {
        let path = path.as_ref();
        let _span = tracing::info_span!("pixelcnn_load", path = %path.display()).entered();
        let parts = read(path)?;
        check_config(path, expected, &parts.header.model_config)?;
        build_model(path, &parts.header.model_config, parts.model, device)
    }

    /// A SHA-256 fingerprint of the configuration and every parameter value, in hex.
    ///
    /// Equal for two models with the same configuration and parameters, whatever their
    /// device or parameter ids; use it to tie embeddings to the model that made them.
    pub fn fingerprint(&self) -> String {
        let mut hasher = Sha256::new();
        hasher.update(serde_json::to_vec(self.config()).unwrap_or_default());
        for v in self.flat_parameters() {
            hasher.update(v.to_le_bytes());
        }
        hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}
