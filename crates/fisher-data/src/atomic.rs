//! Writing a file so that it appears complete or not at all: the bytes go to a temporary
//! file in the same folder, which is renamed over the target once written and flushed.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::{Error, Result};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A temporary name beside `path`: `.NAME.PID.N.tmp`.
fn temporary_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    path.with_file_name(format!(".{name}.{}.{n}.tmp", std::process::id()))
}

/// Calls `write` on a buffered temporary file beside `path`, then renames it to `path`. On
/// any failure the temporary file is removed and `path` is left as it was.
pub(crate) fn write_atomic<F>(path: &Path, write: F) -> Result<()>
where
    F: FnOnce(&mut BufWriter<File>) -> Result<()>,
{
    let tmp = temporary_path(path);
    let result = write_then_rename(&tmp, path, write);
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn write_then_rename<F>(tmp: &Path, path: &Path, write: F) -> Result<()>
where
    F: FnOnce(&mut BufWriter<File>) -> Result<()>,
{
    let file = File::create(tmp).map_err(|e| Error::io(tmp, e))?;
    let mut writer = BufWriter::new(file);
    write(&mut writer)?;

    let file = writer
        .into_inner()
        .map_err(|e| Error::io(tmp, e.into_error()))?;
    file.sync_all().map_err(|e| Error::io(tmp, e))?;
    drop(file);

    std::fs::rename(tmp, path).map_err(|e| Error::io(path, e))
}

/// Writes all of `bytes` through `writer`, naming `path` on failure.
pub(crate) fn write_bytes(writer: &mut impl Write, bytes: &[u8], path: &Path) -> Result<()> {
    writer.write_all(bytes).map_err(|e| Error::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_write_leaves_no_file() {
        let dir = std::env::temp_dir().join(format!("fisher-atomic-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let target = dir.join("out.bin");

        let result = write_atomic(&target, |w| {
            write_bytes(w, b"half", &target)?;
            Err(Error::config("test", 1, "forced failure"))
        });
        assert!(result.is_err());
        assert!(!target.exists());
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);

        write_atomic(&target, |w| write_bytes(w, b"whole", &target)).unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"whole");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
