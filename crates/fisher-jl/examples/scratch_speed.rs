use fisher_jl::{ProjectionConfig, ProjectionKind};
use ndarray::Array2;
use std::time::Instant;

fn main() {
    let a: Vec<String> = std::env::args().skip(1).collect();
    let d: usize = a[0].parse().unwrap();
    let k: usize = a[1].parse().unwrap();
    let batch: usize = a[2].parse().unwrap();
    let kind = match a[3].as_str() {
        "very" => ProjectionKind::VerySparse { density: None },
        "gauss" => ProjectionKind::Gaussian,
        s => ProjectionKind::SparseJl { nonzeros: s.parse().unwrap() },
    };
    let threads: usize = a[4].parse().unwrap();
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
    let x = Array2::from_shape_fn((batch, d), |(b, j)| ((b * 7919 + j * 104729) % 2000) as f32 * 1e-3 - 1.0);
    let p = ProjectionConfig::new(d, k).with_kind(kind).init().unwrap();
    let reps: usize = a.get(5).map_or(1, |r| r.parse().unwrap());
    fn cpu() -> f64 {
        let s = std::fs::read_to_string("/proc/self/stat").unwrap();
        let f: Vec<&str> = s.rsplit(')').next().unwrap().split_whitespace().collect();
        (f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap()) / 100.0
    }
    for _ in 0..4 {
        let c0 = cpu();
        let t = Instant::now();
        let mut z = None;
        for _ in 0..reps { z = Some(pool.install(|| p.project(x.view()).unwrap())); }
        let dt = t.elapsed().as_secs_f64() / reps as f64;
        let c = (cpu() - c0) / reps as f64;
        println!("{:.2} GB/s {:.2} ms, cpu {:.2} ms -> {:.2} GB/s per cpu-s ({})", (batch * d * 4) as f64 / dt / 1e9, dt * 1e3, c * 1e3, (batch * d * 4) as f64 / c / 1e9, z.unwrap()[[0, 1]]);
    }
}
