//! A plain convolution (or matrix product) of each recorded input with the layer's masked
//! weight and bias reproduces the layer's output: the records describe the layers exactly.

use burn::tensor::module::{conv2d, linear};
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Device, Int, Tensor, TensorData};
use fisher_core::{ImageShape, Tolerance};

use crate::model::LayerRef;
use crate::probe::{LayerInput, ProbeTensor};
use crate::{Head, PixelCnnConfig};

fn host<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().try_into_vec_as::<f32>().unwrap()
}

fn check(config: PixelCnnConfig) {
    let device = Device::flex().autodiff();
    let model = config.init(&device).unwrap();
    let [c, h, w] = config.image.to_array();
    let pixels: Vec<i32> = (0..2 * c * h * w).map(|i| (i * 37 % 256) as i32).collect();
    let images: Tensor<4, Int> = Tensor::from_data(TensorData::new(pixels, [2, c, h, w]), &device);
    let cond = (config.cond_dim > 0).then(|| {
        let v: Vec<f32> = (0..2 * config.cond_dim).map(|i| (i as f32).sin()).collect();
        Tensor::<2>::from_data(TensorData::new(v, [2, config.cond_dim]), &device)
    });
    let (_, records) = model.probed(images, cond, true).unwrap();
    let layers = model.layer_refs();
    assert_eq!(records.len(), layers.len());

    for (record, (name, layer)) in records.iter().zip(layers) {
        assert_eq!(record.name, name);
        let (replayed, output) = match (&record.input, layer, &record.output) {
            (
                LayerInput::Conv {
                    input,
                    kernel,
                    padding,
                    dilation,
                },
                LayerRef::Conv(conv),
                Some(ProbeTensor::Map(out)),
            ) => {
                assert_eq!(*kernel, [record.weight_shape[2], record.weight_shape[3]]);
                let weight = conv.weight.val().inner();
                let weight = match &record.mask {
                    Some(m) => weight * m.clone(),
                    None => weight,
                };
                let bias = conv.bias.as_ref().map(|b| b.val().inner());
                let options = ConvOptions {
                    stride: [1, 1],
                    padding: *padding,
                    dilation: *dilation,
                    groups: 1,
                };
                (
                    host(conv2d(input.clone(), weight, bias, options)),
                    host(out.clone()),
                )
            }
            (
                LayerInput::Linear { input },
                LayerRef::Linear(lin),
                Some(ProbeTensor::Vector(out)),
            ) => {
                let weight = lin.weight.val().inner();
                (host(linear(input.clone(), weight, None)), host(out.clone()))
            }
            _ => panic!("{name}: record and layer kinds disagree"),
        };
        if let Err(msg) = Tolerance::new(1e-5, 1e-6).check(&replayed, &output) {
            panic!("{name}: {msg}");
        }
    }
}

#[test]
fn recorded_inputs_reproduce_layer_outputs_gray() {
    let image = ImageShape::new(1, 5, 6).unwrap();
    check(
        PixelCnnConfig::new(image)
            .with_hidden_channels(4)
            .with_layers(3)
            .with_first_kernel(5)
            .with_head_channels(4)
            .with_cond_dim(2),
    );
}

#[test]
fn recorded_inputs_reproduce_layer_outputs_rgb_mixture() {
    let image = ImageShape::new(3, 4, 5).unwrap();
    check(
        PixelCnnConfig::new(image)
            .with_hidden_channels(6)
            .with_layers(2)
            .with_head_channels(6)
            .with_head(Head::LogisticMixture(2)),
    );
}
