//! Loads the full Fashion-MNIST, whole and streamed, and checks it against the fixture.
//!
//! ```text
//! cargo run --release -p fisher-data --example load_fashion_mnist -- [DIR]
//! ```
//!
//! `DIR` defaults to `/usr/share/datasets/fashion-mnist` (Debian package
//! `dataset-fashion-mnist`). Prints the sizes, the time each load took and the class counts,
//! and fails if the first 200 test images differ from `tests/fixtures`.

use std::time::Instant;

use fisher_data::{Examples, FASHION_MNIST_CLASSES, Mnist, Split, idx};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| fisher_data::FASHION_MNIST_DIR.into());
    let mnist = Mnist::new(&dir);

    for split in [Split::Train, Split::Test] {
        let start = Instant::now();
        let data = mnist.load(split)?;
        let loaded = start.elapsed();
        let mb = data.images().as_slice().len() as f64 / 1e6;
        let rate = data.len() as f64 / loaded.as_secs_f64();
        let (n, shape) = (data.len(), data.images().shape());
        println!("{split:?}: {n} images {shape}, {mb:.1} MB of pixels");
        println!("  loaded in {loaded:.2?} ({rate:.0} images/s)");

        let start = Instant::now();
        let mut offset = 0;
        for batch in mnist.stream(split, 1000)? {
            let batch = batch?;
            let n = batch.images().as_slice().len();
            assert_eq!(
                batch.images().as_slice(),
                &data.images().as_slice()[offset..offset + n]
            );
            offset += n;
        }
        assert_eq!(offset, data.images().as_slice().len());
        println!(
            "  streamed in batches of 1000 in {:.2?}, identical",
            start.elapsed()
        );

        let mut counts = [0usize; 10];
        data.labels()
            .iter()
            .for_each(|&l| counts[usize::from(l)] += 1);
        let named: Vec<String> = FASHION_MNIST_CLASSES
            .iter()
            .zip(counts)
            .map(|(c, n)| format!("{c} {n}"))
            .collect();
        println!("  classes: {}", named.join(", "));

        if split == Split::Test {
            let fixtures =
                fisher_core::package_dir(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
            let fixture = idx::load_idx(
                fixtures.join("fashion-test-first200-images-idx3-ubyte.gz"),
                fixtures.join("fashion-test-first200-labels-idx1-ubyte.gz"),
            )?;
            let first: Vec<usize> = (0..200).collect();
            assert_eq!(data.select(&first), fixture);
            println!("  first 200 test images and labels equal the fixture");
        }
    }
    Ok(())
}
