//! Causality: the log-probability of each sub-pixel has exactly zero gradient with respect
//! to what the network sees at that sub-pixel and at every later one, for both stacks, both
//! heads and the RGB channel masks; and it does depend on earlier sub-pixels, including the
//! pixel above and to the right (no blind spot).

mod common;

use burn::tensor::{Device, Tensor, TensorData};
use common::{host, random_pixels, to_images};
use fisher_core::PixelScaling;
use fisher_pixelcnn::PixelCnnConfig;

/// Position of sub-pixel `(ch, i, j)` in the model's order: raster order, R → G → B inside.
fn order(ch: usize, i: usize, j: usize, c: usize, w: usize) -> usize {
    (i * w + j) * c + ch
}

/// `grad[b][s]`: gradient of the log-probability of sub-pixel `b` (in model order) with
/// respect to network input `s` (in `[c, h, w]` layout), from one backward pass over a batch
/// holding one copy of the image per sub-pixel.
fn input_gradients(config: &PixelCnnConfig) -> Vec<Vec<f32>> {
    let device = Device::flex().autodiff();
    let model = config.init(&device).unwrap();
    let [c, h, w] = config.image.to_array();
    let n = c * h * w;
    let one = random_pixels(1, config.image, 21);
    let pixels: Vec<u8> = (0..n).flat_map(|_| one.iter().copied()).collect();
    let targets = to_images(&pixels, n, config.image, &device);
    let input = PixelScaling::Symmetric
        .apply(targets.clone())
        .inner()
        .autodiff()
        .require_grad();

    let mut select = vec![0.0f32; n * n];
    for ch in 0..c {
        for i in 0..h {
            for j in 0..w {
                let b = order(ch, i, j, c, w);
                select[b * n + (ch * h + i) * w + j] = 1.0;
            }
        }
    }
    let select = Tensor::<4>::from_data(TensorData::new(select, [n, c, h, w]), &device);
    let map = model
        .log_prob_map_with_input(input.clone(), targets, None)
        .unwrap();
    let grads = (map * select).sum().backward();
    let g = host(input.grad(&grads).unwrap());
    g.chunks(n).map(<[f32]>::to_vec).collect()
}

fn check(config: PixelCnnConfig) {
    let [c, h, w] = config.image.to_array();
    let grads = input_gradients(&config);
    let at = |ch: usize, i: usize, j: usize| (ch * h + i) * w + j;
    for ch in 0..c {
        for i in 0..h {
            for j in 0..w {
                let b = order(ch, i, j, c, w);
                let g = &grads[b];
                for ch2 in 0..c {
                    for i2 in 0..h {
                        for j2 in 0..w {
                            if order(ch2, i2, j2, c, w) >= b {
                                assert_eq!(
                                    g[at(ch2, i2, j2)],
                                    0.0,
                                    "{:?}: p(x[{ch},{i},{j}]) sees x[{ch2},{i2},{j2}]",
                                    config.head
                                );
                            }
                        }
                    }
                }
                let mut seen = Vec::new();
                seen.extend((0..ch).map(|k| (k, i, j)));
                if j > 0 {
                    seen.extend((0..c).map(|k| (k, i, j - 1)));
                }
                if i > 0 {
                    seen.extend((0..c).map(|k| (k, i - 1, j)));
                }
                if i > 0 && j + 1 < w {
                    seen.extend((0..c).map(|k| (k, i - 1, j + 1)));
                }
                for (k, i2, j2) in seen {
                    assert_ne!(
                        g[at(k, i2, j2)],
                        0.0,
                        "{:?}: p(x[{ch},{i},{j}]) does not see x[{k},{i2},{j2}]",
                        config.head
                    );
                }
            }
        }
    }
}

#[test]
fn grayscale_categorical_is_causal_without_blind_spot() {
    check(common::tiny_gray(fisher_pixelcnn::Head::Categorical));
}

#[test]
fn grayscale_mixture_is_causal_without_blind_spot() {
    check(common::tiny_gray(fisher_pixelcnn::Head::LogisticMixture(3)));
}

#[test]
fn rgb_categorical_is_causal_without_blind_spot() {
    check(common::tiny_rgb(fisher_pixelcnn::Head::Categorical));
}

#[test]
fn rgb_mixture_is_causal_without_blind_spot() {
    check(common::tiny_rgb(fisher_pixelcnn::Head::LogisticMixture(2)));
}
