//! Run folders: every output of a run under one folder, with a manifest of what produced it
//! and which stages are complete, so a run killed part-way resumes at its first unfinished
//! stage.
//!
//! The manifest, `manifest.json`, records the command line, the seed, the device and, for
//! each completed stage, its name, the files it wrote and the seconds it took. It is
//! rewritten atomically after every stage.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

/// One completed stage of a run.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct StageRecord {
    /// Files the stage wrote, relative to the run folder.
    pub outputs: Vec<String>,
    /// Wall-clock seconds the stage took.
    pub seconds: f64,
}

/// The manifest of a run folder.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    /// The settings that produced the run (command line, seed, device, data set...).
    pub settings: BTreeMap<String, String>,
    /// Completed stages by name.
    pub stages: BTreeMap<String, StageRecord>,
}

/// A run folder and its manifest.
#[derive(Debug)]
pub struct RunDir {
    root: PathBuf,
    manifest: Manifest,
}

impl RunDir {
    /// Opens `root`, creating it if needed. An existing manifest is kept when its settings
    /// equal `settings` (the run resumes); otherwise the run is refused, naming the first
    /// setting that differs, so that outputs of two configurations never mix.
    pub fn open(root: &Path, settings: BTreeMap<String, String>) -> Result<Self> {
        std::fs::create_dir_all(root)
            .with_context(|| format!("creating run folder {}", root.display()))?;
        let path = root.join("manifest.json");
        let manifest = if path.exists() {
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("reading {}", path.display()))?;
            let old: Manifest = serde_json::from_str(&text)
                .with_context(|| format!("{} is not a valid manifest", path.display()))?;
            if let Some((key, value)) = settings
                .iter()
                .find(|(k, v)| old.settings.get(*k) != Some(*v))
            {
                anyhow::bail!(
                    "{} was made with {key} = {:?}, this run has {key} = {value:?}; \
                     choose another --out folder or delete it",
                    root.display(),
                    old.settings
                        .get(key)
                        .map(String::as_str)
                        .unwrap_or("(unset)")
                );
            }
            old
        } else {
            Manifest {
                settings,
                stages: BTreeMap::new(),
            }
        };
        let dir = Self {
            root: root.to_path_buf(),
            manifest,
        };
        dir.save()?;
        Ok(dir)
    }

    /// The run folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// A path inside the run folder.
    pub fn path(&self, relative: &str) -> PathBuf {
        self.root.join(relative)
    }

    /// The manifest as it stands.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Whether `stage` completed and all its outputs still exist.
    pub fn is_done(&self, stage: &str) -> bool {
        self.manifest
            .stages
            .get(stage)
            .is_some_and(|s| s.outputs.iter().all(|o| self.root.join(o).exists()))
    }

    /// Runs `work` unless `stage` is already done. `work` returns the files it wrote,
    /// relative to the run folder; the stage is recorded only when it succeeds.
    pub fn stage(
        &mut self,
        stage: &str,
        work: impl FnOnce(&Self) -> Result<Vec<String>>,
    ) -> Result<bool> {
        if self.is_done(stage) {
            tracing::info!(stage, "already complete, skipped");
            return Ok(false);
        }
        let start = Instant::now();
        let outputs = work(self).with_context(|| format!("stage {stage}"))?;
        self.manifest.stages.insert(
            stage.to_string(),
            StageRecord {
                outputs,
                seconds: start.elapsed().as_secs_f64(),
            },
        );
        self.save()?;
        Ok(true)
    }

    fn save(&self) -> Result<()> {
        let text = serde_json::to_string_pretty(&self.manifest)?;
        write_atomic(&self.root.join("manifest.json"), text.as_bytes())
    }
}

/// Writes `bytes` to a temporary file beside `path`, then renames it over `path`, so a
/// killed run never leaves a half-written file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let name = path
        .file_name()
        .with_context(|| format!("{} has no file name", path.display()))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(".tmp");
    let tmp = path.with_file_name(tmp_name);
    std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming to {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(seed: &str) -> BTreeMap<String, String> {
        BTreeMap::from([("seed".to_string(), seed.to_string())])
    }

    #[test]
    fn completed_stages_are_skipped_on_resume() {
        let root = std::env::temp_dir().join(format!("fisher-run-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let mut run = RunDir::open(&root, settings("1")).unwrap();
        let ran = run
            .stage("a", |r| {
                write_atomic(&r.path("a.txt"), b"x")?;
                Ok(vec!["a.txt".into()])
            })
            .unwrap();
        assert!(ran);
        let failed = run.stage("b", |_| anyhow::bail!("killed"));
        assert!(failed.is_err());

        let mut again = RunDir::open(&root, settings("1")).unwrap();
        assert!(again.is_done("a") && !again.is_done("b"));
        assert!(!again.stage("a", |_| unreachable!()).unwrap());

        std::fs::remove_file(root.join("a.txt")).unwrap();
        assert!(
            !again.is_done("a"),
            "a stage whose output vanished must rerun"
        );

        let err = RunDir::open(&root, settings("2")).unwrap_err().to_string();
        assert!(
            err.contains("seed = \"1\"") && err.contains("\"2\""),
            "{err}"
        );
        std::fs::remove_dir_all(&root).unwrap();
    }
}
