//! scratch
use burn::tensor::Device;
use fisher_core::ImageBatch;
use fisher_pixelcnn::PixelCnnConfig;
use fisher_score::{ScoreModel, reference_scores};
use std::time::Instant;
fn main() {
    let device = Device::flex().autodiff();
    let model = PixelCnnConfig::fashion_mnist().init(&device).unwrap();
    let shape = ScoreModel::image_shape(&model);
    let data: Vec<u8> = (0..32 * shape.dims())
        .map(|i| (i * 37 % 256) as u8)
        .collect();
    let imgs = ImageBatch::new(data, 32, shape).unwrap();
    let one = imgs.slice(0, 1).to_tensor(&device);
    let four = imgs.slice(0, 4).to_tensor(&device);
    let all = imgs.to_tensor(&device);
    let eight = imgs.slice(0, 8).to_tensor(&device);
    for _ in 0..4 {
        let t = Instant::now();
        for _ in 0..4 {
            let ll = model.log_likelihood_cond(one.clone(), None).unwrap();
            drop(ll.sum().backward());
        }
        let a = t.elapsed().as_secs_f64() / 4.0;
        let t = Instant::now();
        for _ in 0..4 {
            let (ll, _r) = ScoreModel::log_likelihood_probed(&model, one.clone(), None).unwrap();
            drop(ll.sum().backward());
        }
        let b = t.elapsed().as_secs_f64() / 4.0;
        let t = Instant::now();
        let _ = reference_scores(&model, four.clone(), None).unwrap();
        let c = t.elapsed().as_secs_f64() / 4.0;
        let t = Instant::now();
        let ll = model.log_likelihood_cond(four.clone(), None).unwrap();
        drop(ll.sum().backward());
        let d = t.elapsed().as_secs_f64() / 4.0;
        let t = Instant::now();
        let ll = model.log_likelihood_cond(all.clone(), None).unwrap();
        drop(ll.sum().backward());
        let e = t.elapsed().as_secs_f64() / 32.0;
        let t = Instant::now();
        let ll = model.log_likelihood_cond(eight.clone(), None).unwrap();
        drop(ll.sum().backward());
        let f = t.elapsed().as_secs_f64() / 8.0;
        println!("plain b8 {f:.3} plain b32 {e:.3}");
        println!("plain b1 {a:.3}  probed b1 {b:.3}  reference {c:.3}  plain b4 {d:.3} s/image");
    }
}
