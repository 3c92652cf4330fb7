//! What a decoder knows about the embeddings it was trained on.
//!
//! An embedding `z = P·N(U(x))` only means something together with how it was made: the
//! method (Fisher score, activations, pixels), the projection `P` (kind and seed), the length
//! `k`, the model whose scores were taken and the normalisation `N`. A decoder trained on one
//! such space decodes nonsense from another, so it records an [`EmbeddingSpec`] and refuses
//! embeddings whose spec differs.

use std::collections::BTreeMap;
use std::path::Path;

use fisher_core::Error as CoreError;

use crate::{Error, Result};

/// The metadata of an embedding space: enough to tell two spaces apart.
///
/// The fields mirror the metadata table of fisher-score's embeddings files (same key names,
/// see [`from_metadata`](Self::from_metadata)); the optional ones are compared only when both
/// sides know them.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EmbeddingSpec {
    /// Length `k` of each embedding.
    pub k: usize,
    /// What was embedded: `fisher`, `activations:LAYER` or `pixels`.
    pub method: String,
    /// Projection kind, e.g. `sparse-jl`, or `none`.
    pub projection: String,
    /// Seed of the projection.
    pub seed: u64,
    /// SHA-256 of the model checkpoint whose scores were projected, if known.
    #[serde(default)]
    pub checkpoint_sha256: Option<String>,
    /// The normalisation, as fisher-score prints it, if known.
    #[serde(default)]
    pub normalisation: Option<String>,
}

impl EmbeddingSpec {
    /// Fisher-score embeddings of length `k` from a `projection` drawn with `seed`; model and
    /// normalisation unknown.
    pub fn new(k: usize, projection: impl Into<String>, seed: u64) -> Self {
        Self {
            k,
            method: "fisher".to_string(),
            projection: projection.into(),
            seed,
            checkpoint_sha256: None,
            normalisation: None,
        }
    }

    /// Sets the method (`fisher`, `activations:LAYER`, `pixels`).
    pub fn with_method(mut self, method: impl Into<String>) -> Self {
        self.method = method.into();
        self
    }

    /// Sets the model checkpoint's SHA-256.
    pub fn with_checkpoint_sha256(mut self, hash: impl Into<String>) -> Self {
        self.checkpoint_sha256 = Some(hash.into());
        self
    }

    /// Sets the normalisation.
    pub fn with_normalisation(mut self, normalisation: impl Into<String>) -> Self {
        self.normalisation = Some(normalisation.into());
        self
    }

    /// Reads the spec from the string table of an embeddings file, as fisher-score writes it:
    /// keys `k`, `method`, `projection`, `projection_seed`, and where present
    /// `checkpoint_sha256` and `normalisation`. `path` names the file in errors.
    ///
    /// # Errors
    /// [`fisher_core::Error::Format`] naming the missing or malformed key.
    ///
    /// ```
    /// use std::collections::BTreeMap;
    /// use fisher_decoder::EmbeddingSpec;
    /// let map: BTreeMap<String, String> = [
    ///     ("k", "64"), ("method", "fisher"), ("projection", "sparse-jl"),
    ///     ("projection_seed", "3"), ("normalisation", "none"),
    /// ]
    /// .into_iter()
    /// .map(|(a, b)| (a.to_string(), b.to_string()))
    /// .collect();
    /// let spec = EmbeddingSpec::from_metadata("z.safetensors".as_ref(), &map).unwrap();
    /// assert_eq!(spec, EmbeddingSpec::new(64, "sparse-jl", 3).with_normalisation("none"));
    /// ```
    pub fn from_metadata(path: &Path, map: &BTreeMap<String, String>) -> Result<Self> {
        let get = |key: &str| {
            map.get(key)
                .cloned()
                .ok_or_else(|| CoreError::format(path, format!("metadata has no `{key}`")))
        };
        let number = |key: &str| -> Result<u64> {
            let text = get(key)?;
            text.parse().map_err(|_| {
                let reason = format!("metadata `{key}` = `{text}` is not a whole number");
                CoreError::format(path, reason).into()
            })
        };
        Ok(Self {
            k: number("k")? as usize,
            method: get("method")?,
            projection: get("projection")?,
            seed: number("projection_seed")?,
            checkpoint_sha256: map.get("checkpoint_sha256").cloned(),
            normalisation: map.get("normalisation").cloned(),
        })
    }

    /// Checks that embeddings described by `found` can be decoded by a decoder trained on
    /// `self`: equal `k`, method, projection kind and seed, and equal checkpoint hash and
    /// normalisation where both sides know them.
    ///
    /// # Errors
    /// [`Error::EmbeddingMismatch`] naming the first field that differs and both specs.
    ///
    /// ```
    /// use fisher_decoder::EmbeddingSpec;
    /// let trained = EmbeddingSpec::new(64, "sparse-jl", 7);
    /// assert!(trained.check(&EmbeddingSpec::new(64, "sparse-jl", 7)).is_ok());
    /// let err = trained.check(&EmbeddingSpec::new(64, "sparse-jl", 8)).unwrap_err();
    /// assert!(err.to_string().contains("projection seed"));
    /// ```
    pub fn check(&self, found: &EmbeddingSpec) -> Result<()> {
        match self.first_difference(found) {
            None => Ok(()),
            Some(field) => Err(Error::EmbeddingMismatch {
                field,
                expected: Box::new(self.clone()),
                found: Box::new(found.clone()),
            }),
        }
    }

    fn first_difference(&self, other: &EmbeddingSpec) -> Option<&'static str> {
        let known_and_differ = |a: &Option<String>, b: &Option<String>| match (a, b) {
            (Some(a), Some(b)) => a != b,
            _ => false,
        };
        if self.k != other.k {
            Some("dimension k")
        } else if self.method != other.method {
            Some("method")
        } else if self.projection != other.projection {
            Some("projection kind")
        } else if self.seed != other.seed {
            Some("projection seed")
        } else if known_and_differ(&self.checkpoint_sha256, &other.checkpoint_sha256) {
            Some("model checkpoint")
        } else if known_and_differ(&self.normalisation, &other.normalisation) {
            Some("normalisation")
        } else {
            None
        }
    }
}

impl std::fmt::Display for EmbeddingSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} embeddings, k = {}, projection {} seed {}",
            self.method, self.k, self.projection, self.seed
        )?;
        if let Some(hash) = &self.checkpoint_sha256 {
            let short = hash.get(..12).unwrap_or(hash);
            write!(f, ", checkpoint {short}")?;
        }
        if let Some(normalisation) = &self.normalisation {
            write!(f, ", normalisation {normalisation}")?;
        }
        Ok(())
    }
}
