//! Procedural faces: a labelled attribute data set generated from a seed, with no files.
//!
//! Image `i` of the set with seed `s` is a function of `(s, i)` alone: three independent
//! [`SplitMix64`] streams keyed by `(s, i)` draw its attributes, its nuisance factors and its
//! pixel noise, and the scene is painted with anti-aliased signed-distance shapes
//! (`α = clamp(½ − d, 0, 1)` for a pixel centre `d` pixels from an edge). The attributes are
//! independent Bernoulli draws, `P(aₖ = 1) = pₖ` from [`FacesConfig`]; the nuisance factors
//! (face position and size, skin, hair, eye, background and shirt colours, hair volume and
//! length, eye spacing, mouth size, lighting direction and brightness) do not depend on them.
//! Flipping an attribute of a face with [`FaceParams::set`] redraws that face with only the
//! attribute changed, a ground truth for attribute edits.
//!
//! `docs/procedural-faces.md` describes the drawing step by step, with a sample grid.

mod paint;
mod scene;

use fisher_core::{ImageBatch, ImageShape};
use serde::{Deserialize, Serialize};

use crate::{Attributed, Attributes, Error, Result, SplitMix64};

pub use scene::FaceParams;

/// The attribute names of the procedural faces, in column order.
pub const FACE_ATTRIBUTES: [&str; 5] = ["smiling", "eyeglasses", "hat", "bangs", "beard"];

/// Index of the first face of the held-out split that the `fisher` programs use: training
/// faces count up from 0 and test faces from here, so no run of any practical length draws
/// a test face for training.
pub const FACES_TEST_START: u64 = 1 << 40;

const ATTRIBUTE_STREAM: u64 = 0;
const NUISANCE_STREAM: u64 = 1;
const NOISE_STREAM: u64 = 2;

/// Settings of the procedural faces.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FacesConfig {
    /// Width and height in pixels, at least 8 (default 32). The scene scales with it.
    pub size: usize,
    /// Probability of an open, toothy smile rather than a closed mouth, in `[0, 1]`
    /// (default 0.5).
    pub p_smiling: f64,
    /// Probability of eyeglasses, in `[0, 1]` (default 0.5).
    pub p_eyeglasses: f64,
    /// Probability of a brimmed hat, in `[0, 1]` (default 0.3).
    pub p_hat: f64,
    /// Probability of bangs covering the forehead, in `[0, 1]` (default 0.4).
    pub p_bangs: f64,
    /// Probability of a beard, in `[0, 1]` (default 0.3).
    pub p_beard: f64,
    /// Half-width of the uniform integer noise added to each sub-pixel, in 8-bit levels,
    /// at most 32 (default 2).
    pub noise: u8,
}

impl Default for FacesConfig {
    fn default() -> Self {
        Self {
            size: 32,
            p_smiling: 0.5,
            p_eyeglasses: 0.5,
            p_hat: 0.3,
            p_bangs: 0.4,
            p_beard: 0.3,
            noise: 2,
        }
    }
}

impl FacesConfig {
    /// The same settings with images of `size × size` pixels.
    pub fn with_size(mut self, size: usize) -> Self {
        self.size = size;
        self
    }

    /// The same settings with noise half-width `noise`.
    pub fn with_noise(mut self, noise: u8) -> Self {
        self.noise = noise;
        self
    }

    /// The same settings with the probability of attribute `name` set to `p`.
    pub fn with_probability(mut self, name: &str, p: f64) -> Result<Self> {
        *self.probability_mut(name)? = p;
        Ok(self)
    }

    /// The probabilities of [`FACE_ATTRIBUTES`], in order.
    pub fn probabilities(&self) -> [f64; 5] {
        [
            self.p_smiling,
            self.p_eyeglasses,
            self.p_hat,
            self.p_bangs,
            self.p_beard,
        ]
    }

    fn probability_mut(&mut self, name: &str) -> Result<&mut f64> {
        Ok(match name {
            "smiling" => &mut self.p_smiling,
            "eyeglasses" => &mut self.p_eyeglasses,
            "hat" => &mut self.p_hat,
            "bangs" => &mut self.p_bangs,
            "beard" => &mut self.p_beard,
            _ => return Err(unknown_attribute(name)),
        })
    }

    /// Checks every setting against its range.
    pub fn validate(&self) -> Result<()> {
        if self.size < 8 {
            return Err(Error::config(
                "size",
                self.size,
                "must be at least 8 pixels",
            ));
        }
        if self.noise > 32 {
            return Err(Error::config("noise", self.noise, "must be at most 32"));
        }
        for (name, p) in FACE_ATTRIBUTES.iter().zip(self.probabilities()) {
            if !(0.0..=1.0).contains(&p) {
                return Err(Error::config(format!("p_{name}"), p, "must lie in [0, 1]"));
            }
        }
        Ok(())
    }
}

fn unknown_attribute(name: &str) -> Error {
    Error::UnknownAttribute {
        name: name.to_string(),
        available: FACE_ATTRIBUTES.iter().map(|s| s.to_string()).collect(),
    }
}

/// The ground-truth attributes of one face.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct FaceAttributes {
    /// An open smile showing teeth (otherwise a closed, straight mouth).
    pub smiling: bool,
    /// Round glasses with a bridge and temples.
    pub eyeglasses: bool,
    /// A hat with a crown, a band and a brim.
    pub hat: bool,
    /// A fringe of hair over the forehead.
    pub bangs: bool,
    /// A beard over the jaw and chin.
    pub beard: bool,
}

impl FaceAttributes {
    /// The values in the order of [`FACE_ATTRIBUTES`].
    pub fn to_array(self) -> [bool; 5] {
        [
            self.smiling,
            self.eyeglasses,
            self.hat,
            self.bangs,
            self.beard,
        ]
    }

    /// Sets attribute `name`.
    pub fn set(&mut self, name: &str, value: bool) -> Result<()> {
        let slot = match name {
            "smiling" => &mut self.smiling,
            "eyeglasses" => &mut self.eyeglasses,
            "hat" => &mut self.hat,
            "bangs" => &mut self.bangs,
            "beard" => &mut self.beard,
            _ => return Err(unknown_attribute(name)),
        };
        *slot = value;
        Ok(())
    }

    fn sample(rng: &mut SplitMix64, p: [f64; 5]) -> Self {
        Self {
            smiling: rng.bernoulli(p[0]),
            eyeglasses: rng.bernoulli(p[1]),
            hat: rng.bernoulli(p[2]),
            bangs: rng.bernoulli(p[3]),
            beard: rng.bernoulli(p[4]),
        }
    }
}

/// The procedural face data set: an unbounded, random-access sequence of labelled faces.
///
/// ```
/// use fisher_data::{Faces, FacesConfig};
///
/// let faces = Faces::new(FacesConfig::default(), 7).unwrap();
/// let set = faces.generate(0, 4).unwrap();
/// assert_eq!(set.images().shape().to_array(), [3, 32, 32]);
/// assert_eq!(set.attributes().names()[0], "smiling");
/// assert_eq!(set.images().image(2), faces.image(2).as_slice());
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Faces {
    config: FacesConfig,
    seed: u64,
}

impl Faces {
    /// The faces of `seed` under `config`, which is validated.
    pub fn new(config: FacesConfig, seed: u64) -> Result<Self> {
        config.validate()?;
        Ok(Self { config, seed })
    }

    /// The settings.
    pub fn config(&self) -> &FacesConfig {
        &self.config
    }

    /// The seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The shape of every image: `3 × size × size`.
    pub fn shape(&self) -> ImageShape {
        let s = self.config.size;
        ImageShape {
            channels: 3,
            height: s,
            width: s,
        }
    }

    /// The attributes of face `index`, without drawing it.
    pub fn attributes_of(&self, index: u64) -> FaceAttributes {
        let mut rng = SplitMix64::for_item(self.seed, index, ATTRIBUTE_STREAM);
        FaceAttributes::sample(&mut rng, self.config.probabilities())
    }

    /// Everything that defines face `index`: its attributes and nuisance factors.
    pub fn params(&self, index: u64) -> FaceParams {
        let mut rng = SplitMix64::for_item(self.seed, index, NUISANCE_STREAM);
        FaceParams::sample(index, self.attributes_of(index), &mut rng)
    }

    /// Draws `params` (perhaps with attributes changed), `[3, size, size]` channel-first. The
    /// pixel noise depends on the face's index only, so an edited face differs from the
    /// original only where the attribute is drawn.
    pub fn render(&self, params: &FaceParams) -> Vec<u8> {
        let mut rng = SplitMix64::for_item(self.seed, params.index(), NOISE_STREAM);
        let n = u64::from(self.config.noise);
        let noise = move || (rng.below(2 * n + 1) as i64 - n as i64) as i32;
        params.draw(self.config.size).to_u8(noise)
    }

    /// Face `index`, `[3, size, size]` channel-first.
    pub fn image(&self, index: u64) -> Vec<u8> {
        self.render(&self.params(index))
    }

    /// Faces `start..start + count` with their attributes.
    pub fn generate(&self, start: u64, count: usize) -> Result<Attributed> {
        let _span = tracing::info_span!("generate_faces", start, count).entered();
        let mut images = ImageBatch::empty(self.shape());
        let mut values = Vec::with_capacity(count * FACE_ATTRIBUTES.len());
        for index in start..start + count as u64 {
            let params = self.params(index);
            images.push(&self.render(&params))?;
            values.extend(params.attributes().to_array());
        }

        let names = FACE_ATTRIBUTES.iter().map(|s| s.to_string()).collect();
        Attributed::new(images, Attributes::new(names, values, count)?)
    }

    /// Faces `start..start + count` in batches of `batch_size`, generated as they are
    /// consumed. Fails when `batch_size` is zero.
    pub fn stream(&self, start: u64, count: usize, batch_size: usize) -> Result<FacesStream> {
        if batch_size == 0 {
            return Err(Error::config("batch_size", 0, "must be at least 1"));
        }
        Ok(FacesStream {
            faces: self.clone(),
            next: start,
            end: start + count as u64,
            batch_size,
        })
    }
}

/// Batches of procedural faces, from [`Faces::stream`].
#[derive(Clone, Debug)]
pub struct FacesStream {
    faces: Faces,
    next: u64,
    end: u64,
    batch_size: usize,
}

impl Iterator for FacesStream {
    type Item = Result<Attributed>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.next >= self.end {
            return None;
        }
        let count = (self.end - self.next).min(self.batch_size as u64);
        let batch = self.faces.generate(self.next, count as usize);
        self.next += count;
        Some(batch)
    }
}
