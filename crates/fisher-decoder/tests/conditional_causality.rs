//! The conditional PixelCNN stays causal with its conditioning: the log-probability of each
//! sub-pixel has exactly zero gradient with respect to what the network sees at that
//! sub-pixel and every later one, while it does depend on the embedding `z` (every sub-pixel)
//! and on earlier pixels (every sub-pixel after the first pixel).

mod common;

use burn::tensor::{Device, Tensor, TensorData};
use common::{blobs, embeddings, host, spec};
use fisher_core::{ImageShape, PixelScaling};
use fisher_decoder::PixelCnnDecoderConfig;
use fisher_pixelcnn::{Head, PixelCnnConfig};

/// Position of sub-pixel `(ch, i, j)` in the model's order: raster order, channels inside.
fn order(ch: usize, i: usize, j: usize, c: usize, w: usize) -> usize {
    (i * w + j) * c + ch
}

fn check(image: ImageShape, head: Head) {
    let device = Device::flex().autodiff();
    let k = 5;
    let pixelcnn = PixelCnnConfig::new(image)
        .with_hidden_channels(6)
        .with_layers(3)
        .with_first_kernel(3)
        .with_head_channels(6)
        .with_head(head)
        .with_cond_dim(4)
        .with_seed(2);
    let decoder = PixelCnnDecoderConfig::new(k, pixelcnn)
        .init(spec(k), &device)
        .unwrap();
    let [c, h, w] = image.to_array();
    let n = image.dims();

    // One copy of the image per sub-pixel; copy b selects the log-probability of sub-pixel b.
    let one = blobs(1, image, 4);
    let copies: Vec<u8> = (0..n)
        .flat_map(|_| one.as_slice().iter().copied())
        .collect();
    let targets = fisher_core::ImageBatch::new(copies, n, image)
        .unwrap()
        .to_tensor(&device);
    let input = PixelScaling::Symmetric
        .apply(targets.clone())
        .inner()
        .autodiff()
        .require_grad();
    let z_one = embeddings(1, k, 3);
    let z_all: Vec<f32> = (0..n).flat_map(|_| z_one.iter().copied()).collect();
    let z = Tensor::<2>::from_data(TensorData::new(z_all, [n, k]), &device).require_grad();

    let mut select = vec![0.0f32; n * n];
    for ch in 0..c {
        for i in 0..h {
            for j in 0..w {
                select[order(ch, i, j, c, w) * n + (ch * h + i) * w + j] = 1.0;
            }
        }
    }
    let select = Tensor::<4>::from_data(TensorData::new(select, [n, c, h, w]), &device);
    let map = decoder
        .log_prob_map_with_input(input.clone(), targets, z.clone())
        .unwrap();
    let grads = (map * select).sum().backward();
    let g_input = host(input.grad(&grads).unwrap());
    let g_z = host(z.grad(&grads).unwrap());

    for b in 0..n {
        let row = &g_input[b * n..(b + 1) * n];
        for ch in 0..c {
            for i in 0..h {
                for j in 0..w {
                    let later = order(ch, i, j, c, w) >= b;
                    let g = row[(ch * h + i) * w + j];
                    if later {
                        assert_eq!(g, 0.0, "{head:?}: sub-pixel {b} sees ({ch}, {i}, {j})");
                    }
                }
            }
        }
        if b >= c {
            assert!(
                row.iter().any(|&g| g != 0.0),
                "sub-pixel {b} sees no earlier pixel"
            );
        }
        let z_row = &g_z[b * k..(b + 1) * k];
        assert!(z_row.iter().any(|&g| g != 0.0), "sub-pixel {b} ignores z");
    }
}

#[test]
fn grayscale_categorical_stays_causal_with_conditioning() {
    check(ImageShape::new(1, 4, 4).unwrap(), Head::Categorical);
}

#[test]
fn rgb_mixture_stays_causal_with_conditioning() {
    check(ImageShape::new(3, 3, 3).unwrap(), Head::LogisticMixture(2));
}
