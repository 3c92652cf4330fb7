//! scratch
use burn::module::Module;
use burn::tensor::Device;
use fisher_core::ImageBatch;
use fisher_pixelcnn::PixelCnnConfig;
use fisher_score::{ScoreModel, ScoreProjection, project_scores};
use std::time::Instant;
fn main() {
    let device = Device::flex().autodiff();
    let model = PixelCnnConfig::fashion_mnist()
        .init(&device)
        .unwrap()
        .no_grad();
    let shape = ScoreModel::image_shape(&model);
    let d = ScoreModel::num_free_parameters(&model);
    let proj = ScoreProjection::Host(fisher_jl::ProjectionConfig::new(d, 1024).init().unwrap());
    let data: Vec<u8> = (0..32 * shape.dims())
        .map(|i| (i * 37 % 256) as u8)
        .collect();
    let imgs = ImageBatch::new(data, 32, shape).unwrap();
    for _ in 0..4 {
        for chunk in [32usize, 8, 4, 2] {
            let t = Instant::now();
            for s in (0..32).step_by(chunk) {
                let x = imgs.slice(s, s + chunk).to_tensor(&device);
                let _ = project_scores(&model, x, None, &proj, None)
                    .unwrap()
                    .into_data();
            }
            print!(
                "chunk {chunk}: {:.3} s/image   ",
                t.elapsed().as_secs_f64() / 32.0
            );
        }
        println!();
    }
}
