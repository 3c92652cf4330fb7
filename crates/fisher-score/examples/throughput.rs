use std::time::Instant;

use burn::module::Module;
use burn::tensor::Device;
use fisher_pixelcnn::{Head, PixelCnnConfig};
use fisher_score::{ScoreModel, project_scores, reference_scores, stream_scores};

fn main() {
    let device = Device::flex().autodiff();
    let head = if std::env::args().any(|a| a == "mixture") {
        Head::LogisticMixture(5)
    } else {
        Head::Categorical
    };
    let model = PixelCnnConfig::fashion_mnist()
        .with_head(head)
        .init(&device)
        .unwrap();
    let frozen = model.clone().no_grad();
    let shape = ScoreModel::image_shape(&model);
    let n = 32;
    let data: Vec<u8> = (0..n * shape.dims())
        .map(|i| (i * 37 % 256) as u8)
        .collect();
    let batch = fisher_core::ImageBatch::new(data, n, shape).unwrap();
    let x = batch.to_tensor(&device);
    println!("d = {}", ScoreModel::num_free_parameters(&model));

    let time = |name: &str, reps: usize, f: &mut dyn FnMut()| {
        f();
        let t = Instant::now();
        for _ in 0..reps {
            f();
        }
        let s = t.elapsed().as_secs_f64() / reps as f64;
        println!("{name:30} {:.3} s/batch  {:.1} ex/s", s, n as f64 / s);
    };
    let only = std::env::args().nth(1).unwrap_or_default();
    let want = |name: &str| only.is_empty() || only == "mixture" || name.starts_with(&only);
    if want("plain") {
        time("plain fwd+bwd", 3, &mut || {
            let ll = model.log_likelihood_cond(x.clone(), None).unwrap();
            let g = ll.sum().backward();
            drop(g);
        });
    }
    if want("scores") {
        time("scores (no projection)", 3, &mut || {
            stream_scores(&frozen, x.clone(), None, |b| {
                let _ = b.values.into_data();
                Ok(())
            })
            .unwrap();
        });
    }
    if want("phases") {
        for _ in 0..3 {
            let t = Instant::now();
            let (ll, records) =
                ScoreModel::log_likelihood_probed(&frozen, x.clone(), None).unwrap();
            let t_fwd = t.elapsed().as_secs_f64();
            let t = Instant::now();
            let mut grads = ll.sum().backward();
            let t_bwd = t.elapsed().as_secs_f64();
            let t = Instant::now();
            let mut per = Vec::new();
            for (i, r) in records.iter().enumerate() {
                let t1 = Instant::now();
                let g = match &r.probe {
                    fisher_score::Probe::Spatial(p) => {
                        fisher_score::Probe::Spatial(p.grad_remove(&mut grads).unwrap())
                    }
                    fisher_score::Probe::Flat(p) => {
                        fisher_score::Probe::Flat(p.grad_remove(&mut grads).unwrap())
                    }
                };
                let s = r.per_example(i, &g).unwrap();
                let _ = s.weight.into_data();
                per.push((r.name.clone(), t1.elapsed().as_secs_f64()));
            }
            let t_pe = t.elapsed().as_secs_f64();
            println!("fwd {t_fwd:.3} bwd {t_bwd:.3} per-example {t_pe:.3}");
            per.sort_by(|a, b| b.1.partial_cmp(&a.1).unwrap());
            println!("  top: {:?}", &per[..5]);
        }
    }
    if !only.is_empty() && only != "mixture" {
        return;
    }
    let d = ScoreModel::num_free_parameters(&model);
    let jl = fisher_jl::ProjectionConfig::new(d, 1024).init().unwrap();
    time("scores + device JL", 3, &mut || {
        let z = project_scores(&frozen, x.clone(), None, &jl, None).unwrap();
        let _ = z.into_data();
    });
    time("scores + host JL", 3, &mut || {
        let mut acc = jl.accumulator(n);
        stream_scores(&frozen, x.clone(), None, |b| {
            let [bb, w] = b.values.dims();
            let v = b.values.into_data().try_into_vec_as::<f32>().unwrap();
            jl.accumulate(
                b.offset,
                ndarray::ArrayView2::from_shape((bb, w), &v).unwrap(),
                &mut acc,
            )
            .unwrap();
            Ok(())
        })
        .unwrap();
        let _ = acc.finish().unwrap();
    });
    let x4 = batch.slice(0, 4).to_tensor(&device);
    let t = Instant::now();
    let _ = reference_scores(&model, x4, None).unwrap();
    let s = t.elapsed().as_secs_f64() / 4.0;
    println!("{:30} {:.3} s/ex  {:.1} ex/s", "loop", s, 1.0 / s);
}
