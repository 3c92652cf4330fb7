//! `fisher edit`: adds or removes an attribute by moving embeddings along its direction and
//! decoding them,
//!
//! ```text
//! z' = z + λ·(z̄_pos − z̄_neg),
//! ```
//!
//! where `z̄_pos` and `z̄_neg` are the mean training embeddings of the images with and without
//! the attribute (the paper's attribute vector); a negative λ removes it. The picture has
//! three rows: the originals, their reconstructions (λ = 0) and the edits.
//!
//! ```text
//! $ fisher edit --decoder det.ckpt --train-embeddings faces-train.safetensors \
//!       --embeddings faces-test.safetensors --attribute smiling --scale 3 --out smile.png
//! direction of smiling: 9968 of 20000 training images have it; |z̄_pos − z̄_neg| = 4.213
//! wrote smile.png: rows of 8 originals without smiling, reconstructions (λ = 0), edits (λ = 3)
//!
//! $ fisher edit ... --attribute eyeglasses --scale -3 --out no-glasses.png
//! ```
//!
//! The attributes come from the data set the files' metadata names: the five of the
//! procedural faces (`smiling`, `eyeglasses`, `hat`, `bangs`, `beard`), drawn again from the
//! seed, or one per Fashion-MNIST class (`tshirt`, `trouser`, …, `boot`), from the labels in
//! `--data-dir`. The images edited are the first `--count` rows of `--embeddings` that lack
//! the attribute (λ > 0) or have it (λ < 0); with λ = 0, the first `--count` rows.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use fisher_core::ImageBatch;
use fisher_data::GridLayout;

use super::paired;
use super::{Common, spinner};

/// `fisher edit`: add or remove an attribute through the embeddings.
#[derive(Clone, Debug, clap::Args)]
pub struct Args {
    /// The decoder checkpoint (`fisher decoder train`).
    #[arg(long)]
    pub decoder: PathBuf,
    /// Embeddings of the training images, whose attributes give the direction.
    #[arg(long)]
    pub train_embeddings: PathBuf,
    /// Embeddings of the images to edit (made the same way).
    #[arg(long)]
    pub embeddings: PathBuf,
    /// The attribute to add (or, with a negative scale, remove).
    #[arg(long)]
    pub attribute: String,
    /// λ, the step along the direction: positive adds, negative removes.
    #[arg(long, default_value_t = 3.0, allow_negative_numbers = true)]
    pub scale: f32,
    /// Number of images to edit.
    #[arg(long, default_value_t = 8)]
    pub count: usize,
    /// Folder of the Fashion-MNIST IDX files (for Fashion-MNIST embeddings).
    #[arg(long, default_value = fisher_data::FASHION_MNIST_DIR)]
    pub data_dir: PathBuf,
    /// Magnification of each image in the PNG.
    #[arg(long, default_value_t = 2)]
    pub zoom: usize,
    /// The PNG to write.
    #[arg(long)]
    pub out: PathBuf,
}

/// Runs `fisher edit`.
pub fn run(args: Args, common: &Common) -> Result<()> {
    if args.count == 0 {
        bail!("--count 0: give at least one image to edit");
    }
    if !args.scale.is_finite() {
        bail!("--scale {}: λ must be a finite number", args.scale);
    }
    let device = common.device.device()?;
    let decoder = paired::load_decoder(&args.decoder, &device)?;
    let train = paired::read_embeddings(&args.train_embeddings)?;
    let train_spec = paired::spec_of(&args.train_embeddings, &train)?;
    paired::check_decoder(&decoder, &args.decoder, &train_spec, &args.train_embeddings)?;
    let targets = paired::read_embeddings(&args.embeddings)?;
    let spec = paired::spec_of(&args.embeddings, &targets)?;
    paired::check_decoder(&decoder, &args.decoder, &spec, &args.embeddings)?;
    check_attribute(&args.attribute, &train.metadata.dataset)?;
    check_attribute(&args.attribute, &targets.metadata.dataset)?;

    let direction = direction(&args, &train)?;
    let labelled =
        paired::attributed_for(&targets.metadata.dataset, &targets.indices, &args.data_dir)
            .with_context(|| format!("loading the images of {}", args.embeddings.display()))?;
    let has = labelled.attributes().column(&args.attribute)?;
    let rows = choose(&has, args.scale, args.count);
    if rows.is_empty() {
        let wanted = if args.scale > 0.0 { "lacks" } else { "has" };
        bail!(
            "no image of {} {wanted} {}, so none can be edited with λ = {}",
            args.embeddings.display(),
            args.attribute,
            args.scale
        );
    }
    let originals = labelled.images().select(&rows);
    paired::check_image_shape(&decoder, &originals)?;

    let plain: Vec<f32> = rows
        .iter()
        .flat_map(|&r| targets.row(r).iter().copied())
        .collect();
    let moved: Vec<f32> = plain
        .chunks(spec.k)
        .flat_map(|z| z.iter().zip(&direction).map(|(a, d)| a + args.scale * d))
        .collect();
    let spinner = spinner(format!("decoding {} reconstructions and edits", rows.len()));
    let decode =
        |z: &[f32]| fisher_decoder::decode_embeddings(&decoder, &spec, z, common.seed, &device);
    let (rebuilt, edited) = (decode(&plain)?, decode(&moved)?);
    spinner.finish_and_clear();

    let mut grid = originals;
    for batch in [&rebuilt, &edited] {
        for i in 0..batch.len() {
            grid.push(batch.image(i))?;
        }
    }
    write_picture(&args, &grid, rows.len())
}

/// Fails unless the images of `dataset` have an attribute named `name`, listing those they
/// have.
fn check_attribute(name: &str, dataset: &str) -> Result<()> {
    let known = paired::attribute_names(dataset)?;
    if !known.contains(&name) {
        bail!(
            "unknown attribute {name:?}: the images of {dataset} have {}",
            known.join(", ")
        );
    }
    Ok(())
}

/// `z̄_pos − z̄_neg` of `--attribute` over the training embeddings.
fn direction(args: &Args, train: &fisher_score::Embeddings) -> Result<Vec<f32>> {
    let data = paired::attributed_for(&train.metadata.dataset, &train.indices, &args.data_dir)
        .with_context(|| {
            let path = args.train_embeddings.display();
            format!("loading the images of {path}")
        })?;
    let direction = crate::demo::attribute_direction(train, &data, &args.attribute)?;

    let column = data.attributes().column(&args.attribute)?;
    let with = column.iter().filter(|&&h| h).count();
    let length = direction
        .iter()
        .map(|d| f64::from(*d).powi(2))
        .sum::<f64>()
        .sqrt();
    println!(
        "direction of {}: {with} of {} training images have it; |z̄_pos − z̄_neg| = {length:.3}",
        args.attribute,
        column.len()
    );
    Ok(direction)
}

/// The first `count` rows whose attribute (`has`) the edit changes: rows without it for
/// `scale > 0`, with it for `scale < 0`, any row for `scale = 0`.
fn choose(has: &[bool], scale: f32, count: usize) -> Vec<usize> {
    (0..has.len())
        .filter(|&i| scale == 0.0 || has[i] == (scale < 0.0))
        .take(count)
        .collect()
}

/// Writes the three rows of `n` images each and says what they show.
fn write_picture(args: &Args, grid: &ImageBatch, n: usize) -> Result<()> {
    let layout = GridLayout::new(3, n).with_scale(args.zoom);
    fisher_data::write_grid(&args.out, grid, &layout)
        .with_context(|| format!("writing {}", args.out.display()))?;
    let which = match args.scale {
        s if s > 0.0 => "without",
        s if s < 0.0 => "with",
        _ => "with or without",
    };
    println!(
        "wrote {}: rows of {n} originals {which} {}, reconstructions (λ = 0), edits (λ = {})",
        args.out.display(),
        args.attribute,
        args.scale
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edits_pick_the_images_the_attribute_would_change() {
        let has = [true, false, true, false, false];
        assert_eq!(choose(&has, 3.0, 2), vec![1, 3]);
        assert_eq!(choose(&has, -1.0, 8), vec![0, 2]);
        assert_eq!(choose(&has, 0.0, 3), vec![0, 1, 2]);
        assert!(choose(&[true, true], 2.0, 4).is_empty());
    }

    #[test]
    fn unknown_attributes_are_refused_with_the_known_ones() {
        let err = check_attribute("moustache", "faces(seed=1):train[0..10]").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("\"moustache\""), "{text}");
        assert!(
            text.contains("smiling, eyeglasses, hat, bangs, beard"),
            "{text}"
        );
        let err = check_attribute("smiling", "fashion-mnist:test").unwrap_err();
        assert!(err.to_string().contains("tshirt, trouser"), "{err}");
        assert!(check_attribute("trouser", "fashion-mnist:train[0..5]").is_ok());
    }
}
