//! scratch
use std::time::Instant;
use fisher_fid::*;
fn main() {
    let t = Instant::now();
    let a = read_features(std::path::Path::new("/tmp/fisher-fid-bench/a.npy")).unwrap();
    let b = read_features(std::path::Path::new("/tmp/fisher-fid-bench/b.npy")).unwrap();
    println!("read {:?}", t.elapsed());
    let t = Instant::now();
    let sa = GaussianStats::from_features(a.view(), SampleCheck::FullRank).unwrap();
    println!("stats one {:?}", t.elapsed());
    let t = Instant::now();
    let mut acc = StatsAccumulator::new(2048).unwrap().with_chunk_rows(5000).unwrap();
    acc.push_array(b.view()).unwrap();
    let sb = acc.finish(SampleCheck::FullRank).unwrap();
    println!("stats one chunk {:?}", t.elapsed());
    let t = Instant::now();
    let (tr, route) = trace_sqrt_product(sa.covariance(), sb.covariance()).unwrap();
    println!("trace sqrt {:?} {tr} {route:?}", t.elapsed());
    let t = Instant::now();
    let d = frechet_distance(&sa, &sb).unwrap();
    println!("frechet {:?} {:.12}", t.elapsed(), d.value);
    let af = a.mapv(|v| v as f32);
    let bf = b.mapv(|v| v as f32);
    let t = Instant::now();
    let k = kernel_inception_distance(af.view(), bf.view(), &KidConfig { subsets: 3, subset_size: 1000, seed: 0 }).unwrap();
    println!("kid 3 subsets {:?} {k:?}", t.elapsed());
}
