//! Measures how well a small classifier reads each attribute of the procedural faces.
//!
//! ```text
//! cargo run --release -p fisher-data --example attribute_accuracy -- [TRAIN] [TEST] [SEED]
//! ```
//!
//! Defaults: 12,000 training faces, 2,000 test faces (indices from 1,000,000), seed 1. Fits
//! an [`AttributeProbe`] with the default [`ProbeConfig`] and prints the held-out accuracy of
//! each attribute, e.g.
//!
//! ```text
//! attribute     train    test
//! smiling      0.9903  0.9755
//! ```

use fisher_data::{AttributeProbe, Faces, FacesConfig, ProbeConfig};

fn arg(args: &[String], i: usize, default: u64) -> u64 {
    args.get(i)
        .map_or(default, |v| v.parse().expect("a whole number"))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (train_n, test_n, seed) = (
        arg(&args, 0, 12_000),
        arg(&args, 1, 2_000),
        arg(&args, 2, 1),
    );

    let faces = Faces::new(FacesConfig::default(), seed)?;
    let start = std::time::Instant::now();
    let train = faces.generate(0, train_n as usize)?;
    let test = faces.generate(1_000_000, test_n as usize)?;
    let generated = start.elapsed();

    let start = std::time::Instant::now();
    let probe = AttributeProbe::fit(&train, &ProbeConfig::default())?;
    let fitted = start.elapsed();
    let (on_train, on_test) = (probe.accuracy(&train)?, probe.accuracy(&test)?);

    println!("{train_n} training and {test_n} test faces of seed {seed}");
    println!("generated in {generated:.2?}, probe fitted in {fitted:.2?}");
    println!("attribute     train    test");
    for (k, name) in probe.names().iter().enumerate() {
        println!("{name:<12} {:.4}  {:.4}", on_train[k], on_test[k]);
    }
    Ok(())
}
