//! The `fisher` program end to end on tiny inputs: `train` then `sample`; `embed`, `decoder
//! train`, then `interpolate` and `edit`; and the errors of bad input (unknown attribute,
//! out-of-range rows, embeddings of another k or seed than the decoder's, an attribute every
//! training image has).
//!
//! ```text
//! cargo test --release -p fisher-embed --test cli
//! ```
//!
//! Everything runs on the procedural faces (3×32×32, drawn from a seed, no download) with a
//! PixelCNN of one gated layer and 6 channels and a deterministic decoder trained for one
//! epoch on 24 pixel embeddings, so the pictures are not good, only checked for their size
//! and for the originals they show. Each test works in its own folder under the system's
//! temporary folder, named with the process id, and removes it at the end.

use std::path::PathBuf;
use std::process::{Command, Output};

use fisher_data::{FACES_TEST_START, Faces, FacesConfig};

/// Side of the procedural faces.
const SIDE: u32 = 32;

/// Gap between grid cells (fisher-data's default).
const GAP: u32 = 2;

/// A scratch folder, removed when dropped.
struct Scratch {
    dir: PathBuf,
}

impl Scratch {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("fisher-cli-{name}-{}", std::process::id()));
        if dir.exists() {
            std::fs::remove_dir_all(&dir).unwrap();
        }
        std::fs::create_dir_all(&dir).unwrap();
        Self { dir }
    }

    /// The path of `name` in the folder, as a string for the command line.
    fn path(&self, name: &str) -> String {
        self.dir.join(name).to_str().unwrap().to_string()
    }

    fn exists(&self, name: &str) -> bool {
        self.dir.join(name).exists()
    }

    /// The arguments of `line` split at spaces, with each word `@NAME` replaced by the path
    /// of `NAME` in the folder (so that a folder with spaces in its path works too).
    fn args(&self, line: &str) -> Vec<String> {
        line.split_whitespace()
            .map(|word| match word.strip_prefix('@') {
                Some(name) => self.path(name),
                None => word.to_string(),
            })
            .collect()
    }

    fn run(&self, line: &str) -> Output {
        Command::new(env!("CARGO_BIN_EXE_fisher"))
            .args(self.args(line))
            .output()
            .expect("the fisher binary runs")
    }

    /// Runs `fisher LINE` and returns its standard output; panics with its errors if it
    /// fails.
    fn succeeds(&self, line: &str) -> String {
        let out = self.run(line);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "fisher {line} failed:\n{stderr}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs `fisher LINE`, checks that it fails, and returns its standard error.
    fn fails(&self, line: &str) -> String {
        let out = self.run(line);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(
            !out.status.success(),
            "fisher {line} succeeded; stderr:\n{stderr}"
        );
        stderr
    }

    fn png(&self, name: &str) -> image::RgbImage {
        image::open(self.dir.join(name)).unwrap().to_rgb8()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Width and height of a grid of `rows × cols` faces magnified `zoom` times.
fn grid_size(rows: u32, cols: u32, zoom: u32) -> (u32, u32) {
    let cell = SIDE * zoom;
    (
        cols * cell + (cols + 1) * GAP,
        rows * cell + (rows + 1) * GAP,
    )
}

/// The channel-first face in cell `(row, col)` of a grid written with zoom 1.
fn cell(picture: &image::RgbImage, row: u32, col: u32) -> Vec<u8> {
    let (top, left) = (GAP + row * (SIDE + GAP), GAP + col * (SIDE + GAP));
    let mut face = vec![0u8; (3 * SIDE * SIDE) as usize];
    for y in 0..SIDE {
        for x in 0..SIDE {
            let rgb = picture.get_pixel(left + x, top + y).0;
            for (c, value) in rgb.into_iter().enumerate() {
                face[(c as u32 * SIDE * SIDE + y * SIDE + x) as usize] = value;
            }
        }
    }
    face
}

/// Test face `i` of seed 1, channel-first.
fn test_face(i: u64) -> Vec<u8> {
    faces().image(FACES_TEST_START + i)
}

fn faces() -> Faces {
    Faces::new(FacesConfig::default(), 1).unwrap()
}

#[test]
fn sample_draws_a_grid_from_a_trained_pixelcnn() {
    let s = Scratch::new("sample");
    s.succeeds(
        "train --data faces --train-images 8 --test-images 4 --hidden 6 --layers 1 \
         --batch-size 4 --steps 2 --out @pixelcnn.ckpt",
    );
    assert!(s.exists("pixelcnn.ckpt"));

    for out in ["first.png", "again.png"] {
        let stdout = s.succeeds(&format!(
            "sample --checkpoint @pixelcnn.ckpt --count 3 --temperature 0.8 --zoom 1 \
             --seed 4 --out @{out}"
        ));
        assert!(stdout.contains("3 samples in 2 rows of 2"), "{stdout}");
    }
    let picture = s.png("first.png");
    assert_eq!(picture.dimensions(), grid_size(2, 2, 1));
    let bytes = |name: &str| std::fs::read(s.dir.join(name)).unwrap();
    assert_eq!(
        bytes("first.png"),
        bytes("again.png"),
        "same seed, same samples"
    );
    assert!(
        cell(&picture, 1, 1).iter().all(|&v| v == 255),
        "the 4th cell is empty"
    );

    let stderr = s.fails("sample --checkpoint @pixelcnn.ckpt --temperature 0 --out @cold.png");
    assert!(stderr.contains("temperature"), "{stderr}");
    assert!(!s.exists("cold.png"));
}

#[test]
fn interpolate_and_edit_decode_embeddings_and_refuse_bad_input() {
    let s = Scratch::new("decode");
    for (split, count, k, seed, out) in [
        ("train", 24, 16, 0, "train.st"),
        ("test", 12, 16, 0, "test.st"),
        ("test", 4, 8, 0, "k8.st"),
        ("test", 4, 16, 5, "seed5.st"),
        ("train", 1, 16, 0, "one.st"),
    ] {
        s.succeeds(&format!(
            "embed --method pixels --data faces --data-seed 1 --split {split} --count {count} \
             --k {k} --seed {seed} --out @{out}"
        ));
    }
    s.succeeds(
        "decoder train --kind deterministic --embeddings @train.st --epochs 1 --batch-size 8 \
         --width 4 --out @det.ckpt",
    );
    assert!(s.exists("det.ckpt"));

    interpolation_strips_show_the_pair_around_the_decodings(&s);
    edits_show_originals_reconstructions_and_edits(&s);
    bad_input_is_refused_by_name(&s);
}

fn interpolation_strips_show_the_pair_around_the_decodings(s: &Scratch) {
    let stdout = s.succeeds(
        "interpolate --decoder @det.ckpt --embeddings @test.st --pairs 0,1 --pairs 2,5 \
         --alphas 3 --zoom 1 --out @lines.png",
    );
    assert!(stdout.contains("2 strips"), "{stdout}");
    let picture = s.png("lines.png");
    assert_eq!(picture.dimensions(), grid_size(2, 5, 1));
    assert_eq!(cell(&picture, 0, 0), test_face(0));
    assert_eq!(cell(&picture, 0, 4), test_face(1));
    assert_eq!(cell(&picture, 1, 0), test_face(2));
    assert_eq!(cell(&picture, 1, 4), test_face(5));

    s.succeeds(
        "interpolate --decoder @det.ckpt --embeddings @test.st --pairs 3 --alphas 4 \
         --out @counted.png",
    );
    assert_eq!(s.png("counted.png").dimensions(), grid_size(3, 6, 2));
}

fn edits_show_originals_reconstructions_and_edits(s: &Scratch) {
    let smiling: Vec<bool> = (0..12)
        .map(|i| faces().attributes_of(FACES_TEST_START + i).to_array()[0])
        .collect();
    for (scale, wanted) in [("3", false), ("-2", true)] {
        let out = format!("edit{scale}.png");
        let stdout = s.succeeds(&format!(
            "edit --decoder @det.ckpt --train-embeddings @train.st --embeddings @test.st \
             --attribute smiling --scale {scale} --count 2 --zoom 1 --out @{out}"
        ));
        assert!(stdout.contains("direction of smiling"), "{stdout}");
        let chosen: Vec<u64> = (0..12).filter(|&i| smiling[i as usize] == wanted).collect();
        assert!(
            !chosen.is_empty(),
            "seed 1 has test faces with and without a smile"
        );
        let shown = chosen.len().min(2) as u32;
        let picture = s.png(&out);
        assert_eq!(
            picture.dimensions(),
            grid_size(3, shown, 1),
            "scale {scale}"
        );
        assert_eq!(cell(&picture, 0, 0), test_face(chosen[0]), "scale {scale}");
    }
}

fn bad_input_is_refused_by_name(s: &Scratch) {
    let edit = |train: &str, test: &str, attribute: &str| {
        s.fails(&format!(
            "edit --decoder @det.ckpt --train-embeddings @{train} --embeddings @{test} \
             --attribute {attribute} --out @bad.png"
        ))
    };
    let stderr = edit("train.st", "test.st", "moustache");
    assert!(stderr.contains("moustache"), "{stderr}");
    assert!(
        stderr.contains("smiling, eyeglasses, hat, bangs, beard"),
        "{stderr}"
    );

    let stderr = edit("one.st", "test.st", "smiling");
    assert!(stderr.contains("need both"), "{stderr}");

    let stderr = edit("train.st", "seed5.st", "smiling");
    assert!(
        stderr.contains("seed 0") && stderr.contains("seed 5"),
        "{stderr}"
    );

    let interpolate = |embeddings: &str, pairs: &str| {
        s.fails(&format!(
            "interpolate --decoder @det.ckpt --embeddings @{embeddings} --pairs {pairs} \
             --out @bad.png"
        ))
    };
    let stderr = interpolate("k8.st", "1");
    assert!(
        stderr.contains("k = 16") && stderr.contains("k = 8"),
        "{stderr}"
    );

    let stderr = interpolate("test.st", "0,12 13,1");
    assert!(stderr.contains("rows 12, 13 are out of range"), "{stderr}");
    assert!(stderr.contains("holds 12 embeddings"), "{stderr}");

    assert!(!s.exists("bad.png"), "a failed command wrote its output");
}
