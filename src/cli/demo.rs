//! `fisher demo`: the whole chain on the built-in procedural faces, no download.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Result;
use indicatif::{ProgressBar, ProgressStyle};

use super::Common;
use crate::demo::{DemoConfig, Event};

/// Arguments of `fisher demo`.
#[derive(Clone, Debug, clap::Args)]
pub struct Args {
    /// Run folder; every output goes there, with a manifest. A killed run resumes.
    #[arg(long, default_value = "runs/demo")]
    pub out: PathBuf,
    /// Training faces.
    #[arg(long, default_value_t = 1500)]
    pub train_images: usize,
    /// Held-out faces.
    #[arg(long, default_value_t = 400)]
    pub test_images: usize,
    /// PixelCNN optimizer steps (batches of 32).
    #[arg(long, default_value_t = 300)]
    pub pixelcnn_steps: u64,
    /// Embedding length k.
    #[arg(long, default_value_t = 256)]
    pub k: usize,
    /// Decoder epochs.
    #[arg(long, default_value_t = 15)]
    pub decoder_epochs: usize,
    /// Interpolation pairs scored by FID.
    #[arg(long, default_value_t = 150)]
    pub pairs: usize,
    /// Faces edited per attribute and direction.
    #[arg(long, default_value_t = 60)]
    pub edits: usize,
    /// Edit scale λ.
    #[arg(long, default_value_t = 3.0)]
    pub edit_scale: f32,
    /// Attributes to edit (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "smiling,eyeglasses")]
    pub attributes: Vec<String>,
}

/// Runs `fisher demo`.
pub fn run(args: Args, common: &Common) -> Result<()> {
    let device = common.device.device()?;
    let mut config = DemoConfig::new(&args.out);
    config.seed = common.seed;
    config.train_images = args.train_images;
    config.test_images = args.test_images;
    config.pixelcnn_steps = args.pixelcnn_steps;
    config.k = args.k;
    config.decoder_epochs = args.decoder_epochs;
    config.pairs = args.pairs;
    config.edits = args.edits;
    config.edit_scale = args.edit_scale;
    config.attributes = args.attributes;

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
