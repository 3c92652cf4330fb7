//! Embedding files: round trips, shards that equal a single run byte for byte, and merges
//! that refuse shards of different runs.

mod common;

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use common::{TinyHead, TinyModel, images};
use fisher_core::{Embedder, ImageBatch};
use fisher_score::{
    Embeddings, EmbeddingsMetadata, Error, FisherEmbedder, Shard, embed_range, merge_shards,
};
use proptest::prelude::*;

struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("fisher-score-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn metadata(total: usize, shard: Shard) -> EmbeddingsMetadata {
    EmbeddingsMetadata {
        method: "fisher".into(),
        checkpoint_sha256: "00ff".into(),
        projection: "sparse-jl(s=4)".into(),
        projection_seed: 7,
        k: 16,
        s: 4,
        input_dim: 0,
        normalisation: "none".into(),
        dataset: "tiny:test".into(),
        batch_size: 4,
        total,
        shard,
    }
}

fn embedder(device: &Device) -> FisherEmbedder<TinyModel> {
    let model = TinyModel::new(1, TinyHead::Categorical, 0, device, false);
    let d = fisher_score::ScoreModel::num_free_parameters(&model);
    let jl = fisher_jl::ProjectionConfig::new(d, 16)
        .with_kind(fisher_jl::ProjectionKind::SparseJl { nonzeros: 4 })
        .with_seed(7)
        .init()
        .unwrap();
    FisherEmbedder::new(model, jl.into()).unwrap()
}

fn run(embedder: &dyn Embedder, data: &ImageBatch, shard: Shard, path: &Path) {
    let device = Device::flex().autodiff();
    let range = shard.range(data.len(), 4).unwrap();
    let (indices, values) = embed_range(embedder, data, range, 4, &device, |_| {}).unwrap();
    let mut meta = metadata(data.len(), shard);
    meta.input_dim = 1;
    Embeddings {
        metadata: meta,
        indices,
        values,
    }
    .write(path)
    .unwrap();
}

#[test]
fn merged_shards_equal_a_single_run_byte_for_byte() {
    let dir = TempDir::new("shards");
    let device = Device::flex().autodiff();
    let embedder = embedder(&device);
    let data = images(10, embedder.model().shape, 3);

    run(
        &embedder,
        &data,
        Shard::WHOLE,
        &dir.path("whole.safetensors"),
    );
    let mut shards = Vec::new();
    for i in 0..3 {
        let path = dir.path(&format!("part{i}.safetensors"));
        run(&embedder, &data, Shard::new(i, 3).unwrap(), &path);
        shards.push((path.clone(), Embeddings::read(&path).unwrap()));
    }
    shards.reverse();
    merge_shards(shards)
        .unwrap()
        .write(&dir.path("merged.safetensors"))
        .unwrap();

    let whole = std::fs::read(dir.path("whole.safetensors")).unwrap();
    let merged = std::fs::read(dir.path("merged.safetensors")).unwrap();
    assert_eq!(merged, whole);
    let read = Embeddings::read(&dir.path("whole.safetensors")).unwrap();
    assert_eq!(read.indices, (0..10).collect::<Vec<i64>>());
    assert!(read.values.iter().any(|&v| v != 0.0));
}

fn shard_file(index: usize, count: usize) -> (PathBuf, Embeddings) {
    let shard = Shard::new(index, count).unwrap();
    let range = shard.range(6, 4).unwrap();
    let n = range.len();
    let e = Embeddings {
        metadata: metadata(6, shard),
        indices: range.map(|i| i as i64).collect(),
        values: vec![0.5; n * 16],
    };
    (PathBuf::from(format!("part{index}")), e)
}

#[test]
fn merging_shards_of_other_runs_is_a_typed_error() {
    type Edit = fn(&mut EmbeddingsMetadata);
    let edits: [(&str, Edit); 4] = [
        ("projection_seed", |m| m.projection_seed = 8),
        ("projection", |m| m.projection = "gaussian".into()),
        ("checkpoint_sha256", |m| m.checkpoint_sha256 = "11aa".into()),
        ("normalisation", |m| m.normalisation = "standardise".into()),
    ];
    for (field, edit) in edits {
        let mut other = shard_file(1, 2);
        edit(&mut other.1.metadata);
        match merge_shards(vec![shard_file(0, 2), other]) {
            Err(Error::ShardMismatch { field: f, path, .. }) => {
                assert_eq!(f, field);
                assert_eq!(path, PathBuf::from("part1"));
            }
            other => panic!("{field}: {other:?}"),
        }
    }
}

#[test]
fn merging_an_incomplete_set_of_shards_is_a_typed_error() {
    for shards in [
        vec![shard_file(0, 3), shard_file(2, 3)],
        vec![shard_file(0, 2), shard_file(0, 2)],
        vec![],
    ] {
        assert!(matches!(
            merge_shards(shards),
            Err(Error::IncompleteShards { .. })
        ));
    }
    let mut odd = shard_file(1, 3);
    odd.1.metadata.shard = Shard::new(1, 2).unwrap();
    let err = merge_shards(vec![shard_file(0, 3), odd]).unwrap_err();
    assert!(matches!(err, Error::ShardMismatch { .. }), "{err}");
}

#[test]
fn files_round_trip_and_leave_no_temporary_behind() {
    let dir = TempDir::new("roundtrip");
    let (_, e) = shard_file(1, 2);
    let path = dir.path("e.safetensors");
    e.write(&path).unwrap();
    assert_eq!(Embeddings::read(&path).unwrap(), e);
    let names: Vec<_> = std::fs::read_dir(&dir.0)
        .unwrap()
        .map(|f| f.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("e.safetensors")]);

    let bytes = std::fs::read(&path).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    assert_eq!(n % 8, 0, "data must start 8-byte aligned for numpy");
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    assert_eq!(header["embeddings"]["dtype"], "F32");
    assert_eq!(header["__metadata__"]["projection_seed"], "7");
}

#[test]
fn bad_files_and_bad_embeddings_are_refused() {
    let dir = TempDir::new("bad");
    let (_, mut e) = shard_file(0, 1);
    let path = dir.path("e.safetensors");
    e.write(&path).unwrap();

    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() - 4]).unwrap();
    let err = Embeddings::read(&path).unwrap_err();
    assert!(
        matches!(err, Error::Core(fisher_core::Error::Format { .. })),
        "{err}"
    );

    let err = Embeddings::read(&dir.path("missing.safetensors")).unwrap_err();
    assert!(
        matches!(err, Error::Core(fisher_core::Error::Io { .. })),
        "{err}"
    );

    e.values[3] = f32::NAN;
    let err = e.write(&dir.path("nan.safetensors")).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Core(fisher_core::Error::NonFinite { index: 3, .. })
        ),
        "{err}"
    );
    assert!(!dir.path("nan.safetensors").exists());
}

#[test]
fn shard_strings_parse_and_bad_ones_are_refused() {
    assert_eq!("2/5".parse::<Shard>().unwrap(), Shard::new(2, 5).unwrap());
    for bad in ["5/5", "1/0", "1", "a/b", "-1/2"] {
        assert!(bad.parse::<Shard>().is_err(), "{bad}");
    }
}

proptest! {
    #[test]
    fn shards_partition_the_images_in_whole_batches(
        total in 0usize..200, batch in 1usize..20, count in 1usize..8,
    ) {
        let mut next = 0;
        for i in 0..count {
            let r = Shard::new(i, count).unwrap().range(total, batch).unwrap();
            prop_assert_eq!(r.start, next);
            prop_assert!(r.start.is_multiple_of(batch) || r.start == total);
            next = r.end;
        }
        prop_assert_eq!(next, total);
    }
}
