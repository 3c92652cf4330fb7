//! A user's own model, embedder, projector, decoder and feature extractor, each a few lines,
//! composed end to end through the core traits.

use burn::tensor::{Device, Int, Tensor, TensorData};
use fisher_core::{
    Decoder, DensityModel, Embedder, Error, FeatureExtractor, ImageBatch, ImageShape, PixelScaling,
    Projector, Result, Tolerance,
};

/// Every sub-pixel uniform on 0..=255: log p(x) = −c·h·w·ln 256.
struct UniformPixels(ImageShape);

impl DensityModel for UniformPixels {
    fn image_shape(&self) -> ImageShape {
        self.0
    }

    fn log_likelihood(&self, images: Tensor<4, Int>) -> Result<Tensor<1>> {
        self.0.check_batch("images", images.dims())?;
        let [b, ..] = images.dims();
        let ll = -(self.0.dims() as f32) * 256f32.ln();
        Ok(Tensor::<1>::ones([b], &images.device()).mul_scalar(ll))
    }
}

/// Flattened pixels in [0, 1].
struct Pixels(ImageShape);

impl Embedder for Pixels {
    fn embedding_dim(&self) -> usize {
        self.0.dims()
    }

    fn embed(&self, images: Tensor<4, Int>) -> Result<Tensor<2>> {
        let [b, ..] = images.dims();
        Ok(PixelScaling::UnitInterval
            .apply(images)
            .reshape([b, self.0.dims()]))
    }
}

/// An explicit dense k × d matrix.
struct Dense {
    matrix: Tensor<2>,
}

impl Projector for Dense {
    fn input_dim(&self) -> usize {
        self.matrix.dims()[1]
    }

    fn output_dim(&self) -> usize {
        self.matrix.dims()[0]
    }

    fn accumulate(&self, offset: usize, block: Tensor<2>, acc: Tensor<2>) -> Result<Tensor<2>> {
        let [b, n] = block.dims();
        if offset + n > self.input_dim() {
            return Err(Error::config(
                "block end",
                offset + n,
                format!("must be at most d = {}", self.input_dim()),
            ));
        }
        if acc.dims() != [b, self.output_dim()] {
            return Err(Error::shape(
                "accumulator",
                &[b, self.output_dim()],
                &acc.dims(),
            ));
        }
        let columns = self
            .matrix
            .clone()
            .slice([0..self.output_dim(), offset..offset + n]);
        Ok(acc + block.matmul(columns.transpose()))
    }
}

/// Decodes every embedding to one learned mean image.
struct MeanImage {
    shape: ImageShape,
    k: usize,
    mean: Vec<f32>,
    seen: usize,
}

impl Decoder for MeanImage {
    fn embedding_dim(&self) -> usize {
        self.k
    }

    fn image_shape(&self) -> ImageShape {
        self.shape
    }

    fn decode(&self, z: Tensor<2>, _seed: u64) -> Result<Tensor<4, Int>> {
        let [b, _] = z.dims();
        let [c, h, w] = self.shape.to_array();
        let one: Vec<i32> = self.mean.iter().map(|v| v.round() as i32).collect();
        let all: Vec<i32> = one.iter().copied().cycle().take(b * one.len()).collect();
        Ok(Tensor::from_data(
            TensorData::new(all, [b, c, h, w]),
            &z.device(),
        ))
    }

    fn train_step(&mut self, _z: Tensor<2>, images: Tensor<4, Int>) -> Result<f64> {
        let batch = ImageBatch::from_tensor(images)?;
        let mut loss = 0.0;
        for i in 0..batch.len() {
            self.seen += 1;
            for (m, &v) in self.mean.iter_mut().zip(batch.image(i)) {
                loss += (f64::from(v) - f64::from(*m)).powi(2);
                *m += (f32::from(v) - *m) / self.seen as f32;
            }
        }
        Ok(loss / (batch.len() * self.shape.dims()) as f64)
    }
}

/// Per-channel mean intensity.
struct ChannelMeans;

impl FeatureExtractor for ChannelMeans {
    fn feature_dim(&self) -> usize {
        1
    }

    fn features(&self, images: Tensor<4, Int>) -> Result<Tensor<2>> {
        let [b, c, h, w] = images.dims();
        Ok(images.float().reshape([b, c * h * w]).mean_dim(1))
    }
}

fn batch() -> ImageBatch {
    let shape = ImageShape::new(1, 2, 3).unwrap();
    let data = (0..4 * 6).map(|i| (i * 10) as u8).collect();
    ImageBatch::new(data, 4, shape).unwrap()
}

#[test]
fn user_implementations_compose_end_to_end() {
    let device = Device::flex();
    let images = batch();
    let shape = images.shape();

    let model = UniformPixels(shape);
    let ll: Vec<f32> = model
        .log_likelihood(images.to_tensor(&device))
        .unwrap()
        .into_data()
        .try_to_vec()
        .unwrap();
    let bpd = fisher_core::bits_per_dim(f64::from(ll[0]), shape.dims());
    Tolerance::new(1e-6, 0.0).assert(&[bpd], &[8.0]);

    let embedder = Pixels(shape);
    let u = embedder.embed(images.to_tensor(&device)).unwrap();
    assert_eq!(u.dims(), [4, 6]);

    let k = 3;
    let values: Vec<f32> = (0..k * 6).map(|i| ((i * 7) % 5) as f32 - 2.0).collect();
    let projector = Dense {
        matrix: Tensor::from_data(TensorData::new(values, [k, 6]), &device),
    };
    let whole = projector
        .accumulate(0, u.clone(), Tensor::zeros([4, k], &device))
        .unwrap();
    let mut acc = Tensor::zeros([4, k], &device);
    for (start, end) in [(0, 1), (1, 4), (4, 6)] {
        acc = projector
            .accumulate(start, u.clone().slice([0..4, start..end]), acc)
            .unwrap();
    }
    let whole: Vec<f32> = whole.into_data().try_to_vec().unwrap();
    let chunked: Vec<f32> = acc.clone().into_data().try_to_vec().unwrap();
    Tolerance::f32_reordered().assert(&chunked, &whole);

    let mut decoder = MeanImage {
        shape,
        k,
        mean: vec![0.0; shape.dims()],
        seen: 0,
    };
    let first = decoder
        .train_step(acc.clone(), images.to_tensor(&device))
        .unwrap();
    let second = decoder
        .train_step(acc.clone(), images.to_tensor(&device))
        .unwrap();
    assert!(second < first, "loss {second} did not fall below {first}");
    let decoded = decoder.decode(acc, 0).unwrap();
    assert_eq!(decoded.dims(), [4, 1, 2, 3]);

    let real = ChannelMeans.features(images.to_tensor(&device)).unwrap();
    let fake = ChannelMeans.features(decoded).unwrap();
    let real: Vec<f32> = real.mean_dim(0).into_data().try_to_vec().unwrap();
    let fake: Vec<f32> = fake.mean_dim(0).into_data().try_to_vec().unwrap();
    Tolerance::new(0.0, 0.5).assert(&fake, &real);
}

#[test]
fn errors_name_the_values() {
    let device = Device::flex();
    let model = UniformPixels(ImageShape::new(3, 2, 3).unwrap());
    let err = model
        .log_likelihood(batch().to_tensor(&device))
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("[4, 3, 2, 3]") && msg.contains("[4, 1, 2, 3]"),
        "{msg}"
    );

    let projector = Dense {
        matrix: Tensor::zeros([2, 6], &device),
    };
    let err = projector
        .accumulate(
            5,
            Tensor::zeros([1, 2], &device),
            Tensor::zeros([1, 2], &device),
        )
        .unwrap_err();
    assert!(err.to_string().contains("7"), "{err}");

    assert!(
        ImageShape::new(2, 4, 4)
            .unwrap_err()
            .to_string()
            .contains("channels = 2")
    );
    let short = ImageBatch::new(vec![0; 5], 1, ImageShape::new(1, 2, 3).unwrap());
    assert!(short.unwrap_err().to_string().contains("[6]"));
}

#[test]
fn pixel_scalings_round_trip() {
    for scaling in [
        PixelScaling::Symmetric,
        PixelScaling::UnitInterval,
        PixelScaling::Raw,
    ] {
        let all =
            ImageBatch::new((0..=255).collect(), 1, ImageShape::new(1, 16, 16).unwrap()).unwrap();
        let x: Vec<f32> = all
            .to_float(&Device::flex(), scaling)
            .into_data()
            .try_to_vec()
            .unwrap();
        let back: Vec<u8> = x.iter().map(|&v| scaling.to_u8(v)).collect();
        assert_eq!(back, all.as_slice(), "{scaling:?}");
    }
}

#[test]
fn batches_round_trip_through_tensors() {
    let images = batch();
    let t = images.to_tensor(&Device::flex());
    assert_eq!(ImageBatch::from_tensor(t).unwrap(), images);
    assert_eq!(images.select(&[2, 0]).image(0), images.image(2));
    assert_eq!(images.slice(1, 3).len(), 2);
}
