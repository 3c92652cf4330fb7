//! An attribute probe: a one-hidden-layer perceptron that reads binary attributes from pixels.
//!
//! Images are average-pooled over `p × p` blocks and standardised per feature,
//! `x̃ = (x − μ)/(σ + 1)`; then `h = max(0, W₁x̃ + b₁)` and attribute `k` is predicted present
//! when `zₖ = (W₂h + b₂)ₖ > 0`. The weights minimise the mean logistic loss
//! `Σₖ −[yₖ log σ(zₖ) + (1 − yₖ) log(1 − σ(zₖ))]` plus weight decay `½λ(‖W₁‖² + ‖W₂‖²)`, by
//! plain per-example stochastic gradient descent over seeded shuffles with step
//! `η/(1 + epoch/2)`.
//!
//! It measures how readable attributes are from pixels (the procedural faces are built to
//! exceed 95% per attribute) and can judge whether an edited or decoded image shows an
//! attribute. It is a measuring stick, not a strong classifier; results depend on the seed.

use fisher_core::ImageBatch;

use crate::{Attributed, Attributes, Error, Result, SplitMix64};

/// Settings of [`AttributeProbe::fit`].
#[derive(Clone, Debug, PartialEq)]
pub struct ProbeConfig {
    /// Hidden units, at least 1 (default 64).
    pub hidden: usize,
    /// Side of the square average-pooling block, at least 1 (default 2).
    pub pool: usize,
    /// Passes over the training images, at least 1 (default 8).
    pub epochs: usize,
    /// Initial step size η, positive (default 0.01).
    pub learning_rate: f32,
    /// Weight decay λ, non-negative (default 1e-4).
    pub weight_decay: f32,
    /// Seed of the initial weights and of the per-epoch shuffles.
    pub seed: u64,
}

impl Default for ProbeConfig {
    fn default() -> Self {
        Self {
            hidden: 64,
            pool: 2,
            epochs: 8,
            learning_rate: 0.01,
            weight_decay: 1e-4,
            seed: 0,
        }
    }
}

impl ProbeConfig {
    fn validate(&self) -> Result<()> {
        for (name, value) in [
            ("hidden", self.hidden),
            ("pool", self.pool),
            ("epochs", self.epochs),
        ] {
            if value == 0 {
                return Err(Error::config(name, 0, "must be at least 1"));
            }
        }
        if !(self.learning_rate > 0.0 && self.learning_rate.is_finite()) {
            return Err(Error::config(
                "learning_rate",
                self.learning_rate,
                "must be > 0",
            ));
        }
        if !(self.weight_decay >= 0.0 && self.weight_decay.is_finite()) {
            return Err(Error::config(
                "weight_decay",
                self.weight_decay,
                "must be >= 0",
            ));
        }
        Ok(())
    }
}

/// Average-pools one channel-first image over `pool × pool` blocks (a remainder that does
/// not fill a block is dropped).
fn pool_image(image: &[u8], shape: fisher_core::ImageShape, pool: usize, out: &mut Vec<f32>) {
    let (h, w) = (shape.height / pool, shape.width / pool);
    let plane = shape.height * shape.width;
    let scale = 1.0 / (pool * pool) as f32;
    out.clear();
    for c in 0..shape.channels {
        for y in 0..h {
            for x in 0..w {
                let mut sum = 0u32;
                for dy in 0..pool {
                    let row = c * plane + (y * pool + dy) * shape.width + x * pool;
                    sum += image[row..row + pool]
                        .iter()
                        .map(|&v| u32::from(v))
                        .sum::<u32>();
                }
                out.push(sum as f32 * scale);
            }
        }
    }
}

/// A fitted probe; see the [module docs](self).
#[derive(Clone, Debug)]
pub struct AttributeProbe {
    names: Vec<String>,
    shape: fisher_core::ImageShape,
    pool: usize,
    mean: Vec<f32>,
    inv_std: Vec<f32>,
    w1: Vec<f32>,
    b1: Vec<f32>,
    w2: Vec<f32>,
    b2: Vec<f32>,
}

fn sigmoid(z: f32) -> f32 {
    1.0 / (1.0 + (-z).exp())
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

impl AttributeProbe {
    /// Fits the probe to the attributes of `data`.
    pub fn fit(data: &Attributed, config: &ProbeConfig) -> Result<Self> {
        config.validate()?;
        let images = data.images();
        let shape = images.shape();
        if shape.height < config.pool || shape.width < config.pool || images.len() < 2 {
            let what = format!("attribute probe on {shape} images, pool {}", config.pool);
            let (needed, found) = (2, images.len());
            let e = fisher_core::Error::TooFewSamples {
                what,
                needed,
                found,
            };
            return Err(e.into());
        }
        let _span = tracing::info_span!("fit_attribute_probe", n = images.len()).entered();

        let features = Self::features(images, config.pool);
        let mut probe = Self::init(data, config, &features);
        let mut rng = SplitMix64::new(config.seed);
        let mut order: Vec<usize> = (0..images.len()).collect();
        for epoch in 0..config.epochs {
            rng.shuffle(&mut order);
            let step = config.learning_rate / (1.0 + epoch as f32 / 2.0);
            for &i in &order {
                let x = &features[i * probe.mean.len()..(i + 1) * probe.mean.len()];
                probe.sgd_step(x, data.attributes().row(i), step, config.weight_decay);
            }
        }
        Ok(probe)
    }

    /// Pooled images, `[n, d]` row-major, not yet standardised.
    fn features(images: &ImageBatch, pool: usize) -> Vec<f32> {
        let mut all = Vec::new();
        let mut one = Vec::new();
        for i in 0..images.len() {
            pool_image(images.image(i), images.shape(), pool, &mut one);
            all.extend_from_slice(&one);
        }
        all
    }

    /// Standardisation from `features`, standardises them in place, and draws small
    /// random weights.
    fn init(data: &Attributed, config: &ProbeConfig, features: &[f32]) -> Self {
        let n = data.images().len();
        let d = features.len() / n;
        let mut mean = vec![0.0f64; d];
        let mut sq = vec![0.0f64; d];
        for row in features.chunks(d) {
            for j in 0..d {
                mean[j] += f64::from(row[j]) / n as f64;
                sq[j] += f64::from(row[j]).powi(2) / n as f64;
            }
        }
        let inv_std = (0..d)
            .map(|j| (1.0 / ((sq[j] - mean[j] * mean[j]).max(0.0).sqrt() + 1.0)) as f32)
            .collect();

        let (hidden, k) = (config.hidden, data.attributes().names().len());
        let mut rng = SplitMix64::new(config.seed ^ 0x5EED);
        let mut weights = |count: usize, fan_in: usize| -> Vec<f32> {
            let bound = (3.0 / fan_in as f32).sqrt();
            (0..count).map(|_| rng.uniform(-bound, bound)).collect()
        };
        Self {
            names: data.attributes().names().to_vec(),
            shape: data.images().shape(),
            pool: config.pool,
            mean: mean.iter().map(|&m| m as f32).collect(),
            inv_std,
            w1: weights(hidden * d, d),
            b1: vec![0.0; hidden],
            w2: weights(k * hidden, hidden),
            b2: vec![0.0; k],
        }
    }

    fn standardise(&self, x: &[f32]) -> Vec<f32> {
        let standard = x.iter().zip(self.mean.iter().zip(&self.inv_std));
        standard.map(|(v, (m, s))| (v - m) * s).collect()
    }

    fn hidden(&self, x: &[f32]) -> Vec<f32> {
        let d = x.len();
        let units = self.b1.iter().enumerate();
        units
            .map(|(u, b)| (dot(&self.w1[u * d..(u + 1) * d], x) + b).max(0.0))
            .collect()
    }

    fn logits_of(&self, h: &[f32]) -> Vec<f32> {
        let m = h.len();
        let outputs = self.b2.iter().enumerate();
        outputs
            .map(|(k, b)| dot(&self.w2[k * m..(k + 1) * m], h) + b)
            .collect()
    }

    fn sgd_step(&mut self, raw: &[f32], targets: &[bool], step: f32, decay: f32) {
        let x = self.standardise(raw);
        let h = self.hidden(&x);
        let z = self.logits_of(&h);
        let (d, m) = (x.len(), h.len());

        let g: Vec<f32> = z
            .iter()
            .zip(targets)
            .map(|(&z, &y)| sigmoid(z) - f32::from(u8::from(y)))
            .collect();
        let mut gh = vec![0.0f32; m];
        for (k, gk) in g.iter().enumerate() {
            let w = &mut self.w2[k * m..(k + 1) * m];
            for u in 0..m {
                gh[u] += gk * w[u];
                w[u] -= step * (gk * h[u] + decay * w[u]);
            }
            self.b2[k] -= step * gk;
        }

        for u in (0..m).filter(|&u| h[u] > 0.0) {
            let w = &mut self.w1[u * d..(u + 1) * d];
            for (wj, xj) in w.iter_mut().zip(&x) {
                *wj -= step * (gh[u] * xj + decay * *wj);
            }
            self.b1[u] -= step * gh[u];
        }
    }

    /// The logits `zₖ`, row-major `[n, attributes]`.
    ///
    /// # Shapes
    /// - `images`: `[n, c, h, w]` with the training images' `c, h, w`
    /// - output: `n · attributes` values
    pub fn logits(&self, images: &ImageBatch) -> Result<Vec<f32>> {
        let found = images.shape();
        if found != self.shape {
            let e =
                fisher_core::Error::shape("probe input", &self.shape.to_array(), &found.to_array());
            return Err(e.into());
        }
        let mut out = Vec::with_capacity(images.len() * self.names.len());
        let mut pooled = Vec::new();
        for i in 0..images.len() {
            pool_image(images.image(i), self.shape, self.pool, &mut pooled);
            let h = self.hidden(&self.standardise(&pooled));
            out.extend(self.logits_of(&h));
        }
        Ok(out)
    }

    /// The predicted attributes of `images`.
    pub fn predict(&self, images: &ImageBatch) -> Result<Attributes> {
        let values = self.logits(images)?.iter().map(|&z| z > 0.0).collect();
        Attributes::new(self.names.clone(), values, images.len())
    }

    /// The fraction of images of `data` whose attribute the probe predicts right, one entry
    /// per attribute, in the order of [`names`](Self::names).
    pub fn accuracy(&self, data: &Attributed) -> Result<Vec<f64>> {
        let truth = data.attributes();
        if truth.names() != self.names.as_slice() {
            let (e, f) = (self.names.join(","), truth.names().join(","));
            return Err(fisher_core::Error::mismatch("attribute names", e, f).into());
        }
        let predicted = self.predict(data.images())?;

        let n = truth.len().max(1) as f64;
        let right = |k: usize| {
            let hits = (0..truth.len()).filter(|&i| predicted.row(i)[k] == truth.row(i)[k]);
            hits.count() as f64 / n
        };
        Ok((0..self.names.len()).map(right).collect())
    }

    /// The attribute names, in the order of the logits.
    pub fn names(&self) -> &[String] {
        &self.names
    }
}
