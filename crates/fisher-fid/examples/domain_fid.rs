//! Trains the domain classifier on procedural faces and uses it as FID feature extractor.
//!
//! ```text
//! cargo run --release -p fisher-fid --example domain_fid -- [CLASSIFIER_OUT]
//! ```
//!
//! Trains on 4,000 faces (seed 1) to predict their five attributes, reports held-out
//! accuracy, then compares sets of 1,000 faces: two independent draws of the same
//! distribution, and draws where every face smiles or wears a hat. Optionally writes the
//! classifier for `fisher fid --classifier`. Prints, trimmed:
//!
//! ```text
//! trained in 71.5 s; loss per epoch [0.64, 0.52, 0.38, 0.3]
//! held-out accuracy: smiling 0.86, eyeglasses 0.94, hat 0.94, bangs 0.83, beard 0.91
//! FID same distribution 0.44, all smiling 9.18, all hats 49.69 (features 572 images/s)
//! ```

use std::path::PathBuf;
use std::time::Instant;

use burn::tensor::{Device, Tensor, TensorData};
use fisher_data::{FACE_ATTRIBUTES, Faces, FacesConfig};
use fisher_fid::{
    ClassifierConfig, DomainClassifier, SampleCheck, TargetKind, Targets, TrainConfig,
    frechet_distance, image_statistics, train_classifier,
};

type Res<T> = Result<T, Box<dyn std::error::Error>>;

fn faces(config: FacesConfig, seed: u64, start: u64, n: usize) -> Res<fisher_data::Attributed> {
    Ok(Faces::new(config, seed)?.generate(start, n)?)
}

/// The five attributes as a `[n, 5]` tensor of 0/1.
fn attribute_tensor(data: &fisher_data::Attributed, device: &Device) -> Res<Tensor<2>> {
    let n = data.images().len();
    let mut values = vec![0.0f32; n * 5];
    for (k, name) in FACE_ATTRIBUTES.iter().enumerate() {
        for (i, on) in data.attributes().column(name)?.into_iter().enumerate() {
            values[i * 5 + k] = f32::from(u8::from(on));
        }
    }
    Ok(Tensor::from_data(TensorData::new(values, [n, 5]), device))
}

fn accuracy(model: &DomainClassifier, data: &fisher_data::Attributed, device: &Device) -> Res<()> {
    let x = data
        .images()
        .to_float(device, fisher_core::PixelScaling::UnitInterval);
    let logits: Vec<f32> = model.logits(x).into_data().try_into_vec_as()?;
    let mut parts = Vec::new();
    for (k, name) in FACE_ATTRIBUTES.iter().enumerate() {
        let truth = data.attributes().column(name)?;
        let right = truth
            .iter()
            .enumerate()
            .filter(|&(i, &t)| (logits[i * 5 + k] > 0.0) == t)
            .count();
        parts.push(format!("{name} {:.2}", right as f64 / truth.len() as f64));
    }
    println!("held-out accuracy: {}", parts.join(", "));
    Ok(())
}

fn main() -> Res<()> {
    let out = std::env::args().nth(1).map(PathBuf::from);
    let device = Device::flex();
    let train = faces(FacesConfig::default(), 1, 0, 4000)?;
    let config = ClassifierConfig::new(train.images().shape(), 5, TargetKind::Attributes);
    let targets = Targets::Attributes(attribute_tensor(&train, &device)?);

    let t = Instant::now();
    let settings = TrainConfig::new().with_epochs(4).with_seed(7);
    let (model, losses) = train_classifier(
        &config,
        &settings,
        train.images(),
        &targets,
        &device,
        |_, _| {},
    )?;
    let rounded: Vec<f64> = losses.iter().map(|l| (l * 100.0).round() / 100.0).collect();
    println!(
        "trained in {:.1} s; loss per epoch {rounded:?}",
        t.elapsed().as_secs_f64()
    );
    accuracy(
        &model,
        &faces(FacesConfig::default(), 1, 1_000_000, 1000)?,
        &device,
    )?;

    let stats = |data: fisher_data::Attributed| {
        image_statistics(&model, data.images(), 250, &device, SampleCheck::FullRank)
    };
    let t = Instant::now();
    let reference = stats(faces(FacesConfig::default(), 2, 0, 1000)?)?;
    let rate = 1000.0 / t.elapsed().as_secs_f64();
    let same = stats(faces(FacesConfig::default(), 3, 0, 1000)?)?;
    let smiling = FacesConfig::default().with_probability("smiling", 1.0)?;
    let smiling = stats(faces(smiling, 4, 0, 1000)?)?;
    let hats = FacesConfig::default().with_probability("hat", 1.0)?;
    let hats = stats(faces(hats, 5, 0, 1000)?)?;
    println!(
        "FID same distribution {:.2}, all smiling {:.2}, all hats {:.2} (features {rate:.0} \
         images/s)",
        frechet_distance(&reference, &same)?.value,
        frechet_distance(&reference, &smiling)?.value,
        frechet_distance(&reference, &hats)?.value,
    );

    if let Some(path) = out {
        model.save(&path)?;
        println!("classifier written to {}", path.display());
    }
    Ok(())
}
