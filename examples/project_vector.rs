//! Projects one long vector `x ∈ ℝ^d` to `z = P·x ∈ ℝ^k` with fisher-jl's default sparse
//! Johnson–Lindenstrauss projection, streaming `x` in chunks of coordinates so that the
//! projection never needs the whole vector at once.
//!
//! ```text
//! # 50 million coordinates generated from a seed (no file, no download):
//! cargo run --release --example project_vector
//! # The same vector written to a .npy file, then streamed back from it:
//! cargo run --release --example project_vector -- --write-npy x.npy
//! cargo run --release --example project_vector -- --npy x.npy
//! ```
//!
//! `--npy` takes a 1-D little-endian float32 `.npy` file (`numpy.save("x.npy",
//! x.astype("<f4"))`). The matrix `P` is never stored: [`Projection::accumulate`] recomputes
//! the columns of each chunk from the seed, and an [`Accumulator`] remembers which
//! coordinates were fed, so a missing or repeated chunk is an error, not a wrong answer.
//! Prints `‖x‖²`, `‖Px‖²` and their ratio (1 in expectation, spread `√(2/k)`), the time and
//! the rate in GB/s of input, then checks that one call on the whole vector gives the same
//! numbers (this check holds the whole vector; `--no-check` skips it).
//!
//! [`Projection::accumulate`]: fisher_jl::Projection::accumulate
//! [`Accumulator`]: fisher_jl::Accumulator

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Parser;
use fisher_jl::{Projection, ProjectionConfig};
use indicatif::{ProgressBar, ProgressStyle};
use ndarray::{Array1, Array2, ArrayView2};

/// Project one long vector with a sparse JL projection, in chunks.
#[derive(Debug, Parser)]
struct Args {
    /// Read the vector from this 1-D float32 `.npy` file instead of generating it.
    #[arg(long)]
    npy: Option<PathBuf>,
    /// Length d of the generated vector.
    #[arg(long, default_value_t = 50_000_000)]
    d: usize,
    /// Write the generated vector to this `.npy` file and stop.
    #[arg(long)]
    write_npy: Option<PathBuf>,
    /// Output length k.
    #[arg(long, default_value_t = 4096)]
    k: usize,
    /// Coordinates per chunk.
    #[arg(long, default_value_t = 1 << 20)]
    chunk: usize,
    /// Seed of the projection and of the generated vector.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Skip the comparison with a projection of the whole vector in one call.
    #[arg(long)]
    no_check: bool,
}

/// Where the coordinates come from: a seed, or a `.npy` file read front to back.
enum Source {
    Generated {
        seed: u64,
    },
    File {
        reader: BufReader<File>,
        path: PathBuf,
    },
}

impl Source {
    /// Opens the source; returns it with the vector's length.
    fn open(args: &Args) -> Result<(Self, usize)> {
        match &args.npy {
            None => Ok((Self::Generated { seed: args.seed }, args.d)),
            Some(path) => {
                let file =
                    File::open(path).with_context(|| format!("opening {}", path.display()))?;
                let mut reader = BufReader::new(file);
                let d = read_npy_header(&mut reader, path)?;
                let path = path.clone();
                Ok((Self::File { reader, path }, d))
            }
        }
    }

    /// Fills `out` with coordinates `offset .. offset + out.len()`; chunks come in order.
    fn fill(&mut self, offset: usize, out: &mut [f32]) -> Result<()> {
        match self {
            Self::Generated { seed } => {
                for (j, v) in (offset..).zip(out.iter_mut()) {
                    *v = coordinate(*seed, j);
                }
            }
            Self::File { reader, path } => {
                let mut bytes = vec![0u8; 4 * out.len()];
                reader.read_exact(&mut bytes).with_context(|| {
                    format!("{}: reading coordinates from {offset}", path.display())
                })?;
                for (v, b) in out.iter_mut().zip(bytes.chunks_exact(4)) {
                    *v = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                }
            }
        }
        Ok(())
    }
}

/// Coordinate `j` of the generated vector: uniform in [−1, 1), from a hash of `(seed, j)`.
fn coordinate(seed: u64, j: usize) -> f32 {
    let bits = fisher_data::rng::mix64(fisher_data::rng::mix64(seed) ^ j as u64);
    (bits >> 40) as f32 / (1u64 << 23) as f32 - 1.0
}

fn main() -> Result<()> {
    let args = Args::parse();
    if args.chunk == 0 {
        bail!("--chunk must be at least 1");
    }
    if let Some(path) = &args.write_npy {
        return write_npy(path, &args);
    }
    let (mut source, d) = Source::open(&args)?;
    let projection = ProjectionConfig::new(d, args.k)
        .with_seed(args.seed)
        .init()?;
    println!(
        "projecting d = {d} coordinates ({:.0} MB) to k = {} with {}, chunks of {}",
        4.0 * d as f64 / 1e6,
        args.k,
        projection.kind().label(),
        args.chunk
    );

    let bar = ProgressBar::new(d as u64).with_style(
        ProgressStyle::with_template("[{elapsed_precise}] {bar:30} {percent}% of coordinates")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut acc = projection.accumulator(1);
    let mut buffer = vec![0.0f32; args.chunk.min(d)];
    let (mut norm_x, mut read_s, mut project_s) = (0.0f64, 0.0, 0.0);
    for offset in (0..d).step_by(args.chunk) {
        let chunk = &mut buffer[..args.chunk.min(d - offset)];
        let started = Instant::now();
        source.fill(offset, chunk)?;
        norm_x += chunk.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>();
        read_s += started.elapsed().as_secs_f64();

        let started = Instant::now();
        let block = ArrayView2::from_shape((1, chunk.len()), &*chunk)?;
        projection.accumulate(offset, block, &mut acc)?;
        project_s += started.elapsed().as_secs_f64();
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    let z = acc.finish()?;

    let norm_z: f64 = z.iter().map(|&v| f64::from(v).powi(2)).sum();
    println!("‖x‖² = {norm_x:.6e}   ‖Px‖² = {norm_z:.6e}");
    println!(
        "ratio ‖Px‖²/‖x‖² = {:.4} (expected 1 ± {:.4} for k = {})",
        norm_z / norm_x,
        (2.0 / args.k as f64).sqrt(),
        args.k
    );
    let input = if args.npy.is_some() {
        "reading"
    } else {
        "generating"
    };
    println!(
        "projection {project_s:.2} s = {:.2} GB/s of input ({input} the input {read_s:.2} s)",
        4.0 * d as f64 / project_s / 1e9
    );

    if !args.no_check {
        check_one_go(&args, &projection, d, &z)?;
    }
    Ok(())
}

/// Projects the whole vector in one call and compares with the chunked result.
fn check_one_go(
    args: &Args,
    projection: &Projection,
    d: usize,
    chunked: &Array2<f32>,
) -> Result<()> {
    let (mut source, _) = Source::open(args)?;
    let mut x = vec![0.0f32; d];
    source.fill(0, &mut x)?;
    let whole = projection.project(ArrayView2::from_shape((1, d), &x[..])?)?;

    let same = |(a, b): (&f32, &f32)| a.to_bits() == b.to_bits();
    let differ = whole
        .iter()
        .zip(chunked)
        .filter(|&pair| !same(pair))
        .count();
    if differ > 0 {
        bail!(
            "{differ} of the {} outputs differ between chunked and one call",
            args.k
        );
    }
    println!(
        "check: one call on the whole vector gives the same {} numbers, bit for bit",
        args.k
    );
    Ok(())
}

/// Reads a `.npy` header and returns the length of the 1-D float32 array that follows.
fn read_npy_header(file: &mut impl Read, path: &Path) -> Result<usize> {
    let mut start = [0u8; 8];
    file.read_exact(&mut start)
        .with_context(|| format!("{}: too short for a .npy header", path.display()))?;
    if &start[..6] != b"\x93NUMPY" {
        bail!(
            "{} is not a .npy file (no \\x93NUMPY magic)",
            path.display()
        );
    }
    let mut len = [0u8; 4];
    let header_len = if start[6] == 1 {
        file.read_exact(&mut len[..2])?;
        u16::from_le_bytes([len[0], len[1]]) as usize
    } else {
        file.read_exact(&mut len)?;
        u32::from_le_bytes(len) as usize
    };
    let mut header = vec![0u8; header_len];
    file.read_exact(&mut header)?;
    let header = String::from_utf8_lossy(&header);

    let float32 = header.contains("'descr': '<f4'") && header.contains("'fortran_order': False");
    let shape = header
        .split("'shape': (")
        .nth(1)
        .and_then(|s| s.split(')').next());
    let dims: Vec<&str> = shape.unwrap_or("").split(',').map(str::trim).collect();
    match (float32, dims.as_slice()) {
        (true, [n] | [n, ""]) => n
            .parse()
            .with_context(|| format!("{}: bad length {n:?}", path.display())),
        _ => bail!(
            "{}: expected a 1-D little-endian float32 array, the header says {}",
            path.display(),
            header.trim()
        ),
    }
}

/// Writes the generated vector as a 1-D float32 `.npy` file (whole: it is generated here),
/// to a temporary name first and then renamed.
fn write_npy(path: &Path, args: &Args) -> Result<()> {
    let name = path.file_name().context("--write-npy needs a file name")?;
    let temporary = path.with_file_name(format!(".{}.part", name.to_string_lossy()));
    let x = Array1::from_shape_fn(args.d, |j| coordinate(args.seed, j));
    ndarray_npy::write_npy(&temporary, &x)
        .with_context(|| format!("writing {}", temporary.display()))?;
    std::fs::rename(&temporary, path).with_context(|| format!("writing {}", path.display()))?;
    println!(
        "wrote {} coordinates (seed {}) to {}",
        args.d,
        args.seed,
        path.display()
    );
    Ok(())
}
