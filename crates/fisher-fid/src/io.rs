//! Files written whole or not at all.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// Writes a file through `write`: first to a temporary name in the same folder, then renamed
/// over `path`, so a failed or killed run never leaves a half-written file under `path`.
///
/// # Errors
/// [`Error::Core`] with an I/O error naming the file when creating, writing or renaming fails,
/// or whatever `write` returns; the temporary file is removed in both cases.
pub fn write_atomically<F>(path: &Path, write: F) -> Result<()>
where
    F: FnOnce(&mut fs::File) -> Result<()>,
{
    let tmp = temporary_name(path);
    let outcome = fs::File::create(&tmp)
        .map_err(|e| Error::io(&tmp, e))
        .and_then(|mut file| {
            write(&mut file)?;
            file.flush().map_err(|e| Error::io(&tmp, e))?;
            file.sync_all().map_err(|e| Error::io(&tmp, e))
        })
        .and_then(|()| fs::rename(&tmp, path).map_err(|e| Error::io(path, e)));

    if outcome.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    outcome
}

/// `dir/.name.PID.tmp` beside `dir/name`.
fn temporary_name(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = format!(".{name}.{}.tmp", std::process::id());
    path.with_file_name(tmp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_write_leaves_no_file() {
        let dir = std::env::temp_dir().join(format!("fisher-fid-io-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("out.bin");

        let result = write_atomically(&path, |f| {
            f.write_all(b"half").unwrap();
            Err(Error::config("test", 1, "forced failure"))
        });

        assert!(result.is_err());
        assert!(!path.exists());
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 0);

        write_atomically(&path, |f| {
            f.write_all(b"whole").map_err(|e| Error::io("x", e))
        })
        .unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"whole");
        fs::remove_dir_all(&dir).unwrap();
    }
}
