//! The scene of one face: its parameters, how they are drawn from a seed, and the painting
//! order. Lengths are in canvas units (pixels of a 32-pixel image).

use super::FaceAttributes;
use super::paint::{Canvas, Rgb, Shape, V, shade, v};
use crate::{Result, SplitMix64};

const SKIN: [Rgb; 6] = [
    [250.0, 222.0, 196.0],
    [238.0, 192.0, 158.0],
    [222.0, 170.0, 128.0],
    [196.0, 134.0, 94.0],
    [158.0, 102.0, 68.0],
    [112.0, 74.0, 50.0],
];

const HAIR: [Rgb; 6] = [
    [28.0, 24.0, 22.0],
    [72.0, 46.0, 30.0],
    [124.0, 82.0, 46.0],
    [214.0, 180.0, 112.0],
    [160.0, 72.0, 36.0],
    [172.0, 172.0, 172.0],
];

const IRIS: [Rgb; 4] = [
    [52.0, 36.0, 26.0],
    [60.0, 92.0, 140.0],
    [70.0, 104.0, 62.0],
    [30.0, 30.0, 30.0],
];

const FRAME: [Rgb; 4] = [
    [18.0, 18.0, 18.0],
    [64.0, 32.0, 20.0],
    [20.0, 30.0, 84.0],
    [112.0, 20.0, 30.0],
];

const HAT: [Rgb; 6] = [
    [196.0, 40.0, 40.0],
    [40.0, 72.0, 172.0],
    [40.0, 132.0, 64.0],
    [122.0, 52.0, 142.0],
    [228.0, 168.0, 32.0],
    [44.0, 44.0, 52.0],
];

const MOUTH: Rgb = [108.0, 24.0, 34.0];
const TEETH: Rgb = [244.0, 242.0, 236.0];
const SCLERA: Rgb = [246.0, 246.0, 246.0];

/// One face: its attributes and every nuisance factor, drawn from a seed by
/// [`Faces::params`](super::Faces::params).
#[derive(Clone, Debug, PartialEq)]
pub struct FaceParams {
    index: u64,
    attributes: FaceAttributes,
    centre: V,
    radius: V,
    skin: Rgb,
    hair: Rgb,
    hair_volume: V,
    long_hair: bool,
    iris: Rgb,
    background: [Rgb; 2],
    shirt: Rgb,
    eye_height: f32,
    eye_spacing: f32,
    gaze: f32,
    mouth_height: f32,
    mouth_width: f32,
    frame: Rgb,
    lens_radius: f32,
    hat: Rgb,
    hat_height: f32,
    brim_height: f32,
    light: f32,
    brightness: f32,
}

/// A palette entry with each channel moved by up to ±`jitter`.
fn pick(rng: &mut SplitMix64, palette: &[Rgb], jitter: f32) -> Rgb {
    let base = palette[rng.below(palette.len() as u64) as usize];
    jittered(rng, base, jitter)
}

fn jittered(rng: &mut SplitMix64, base: Rgb, jitter: f32) -> Rgb {
    base.map(|c| c + rng.uniform(-jitter, jitter))
}

fn luminance(c: Rgb) -> f32 {
    0.3 * c[0] + 0.59 * c[1] + 0.11 * c[2]
}

/// A skin colour and a hair colour whose luminances differ by at least 48 levels, so that
/// hair on the face (bangs, beard) always stands out from the skin.
fn skin_and_hair(rng: &mut SplitMix64) -> (Rgb, Rgb) {
    let skin = SKIN[rng.below(SKIN.len() as u64) as usize];
    let contrasting: Vec<Rgb> = HAIR
        .iter()
        .copied()
        .filter(|&h| (luminance(h) - luminance(skin)).abs() >= 48.0)
        .collect();
    let hair = contrasting[rng.below(contrasting.len() as u64) as usize];
    (jittered(rng, skin, 8.0), jittered(rng, hair, 10.0))
}

fn any_colour(rng: &mut SplitMix64, low: f32, high: f32) -> Rgb {
    [
        rng.uniform(low, high),
        rng.uniform(low, high),
        rng.uniform(low, high),
    ]
}

impl FaceParams {
    /// Draws the nuisance factors of face `index` from `rng`. The number of draws is fixed,
    /// so each factor comes from the same place of the stream whatever the attributes are.
    pub(super) fn sample(index: u64, attributes: FaceAttributes, rng: &mut SplitMix64) -> Self {
        let rx = rng.uniform(7.2, 9.0);
        let ry = rx * rng.uniform(1.15, 1.3);
        let centre = v(16.0 + rng.uniform(-2.5, 2.5), 16.5 + rng.uniform(-1.5, 1.5));
        let (skin, hair) = skin_and_hair(rng);
        Self {
            index,
            attributes,
            centre,
            radius: v(rx, ry),
            skin,
            hair,
            hair_volume: v(rng.uniform(0.8, 2.2), rng.uniform(1.0, 2.6)),
            long_hair: rng.bernoulli(0.4),
            iris: pick(rng, &IRIS, 10.0),
            background: [any_colour(rng, 40.0, 235.0), any_colour(rng, 40.0, 235.0)],
            shirt: any_colour(rng, 20.0, 240.0),
            eye_height: rng.uniform(0.06, 0.16),
            eye_spacing: rng.uniform(0.36, 0.44),
            gaze: rng.uniform(-0.35, 0.35),
            mouth_height: rng.uniform(0.46, 0.56),
            mouth_width: rng.uniform(0.36, 0.46),
            frame: pick(rng, &FRAME, 10.0),
            lens_radius: rng.uniform(2.3, 2.8),
            hat: pick(rng, &HAT, 14.0),
            hat_height: rng.uniform(2.5, 4.5),
            brim_height: rng.uniform(0.66, 0.74),
            light: rng.uniform(-0.25, 0.25),
            brightness: rng.uniform(0.88, 1.08),
        }
    }

    /// The index of the face in its data set.
    pub fn index(&self) -> u64 {
        self.index
    }

    /// The face's attributes.
    pub fn attributes(&self) -> FaceAttributes {
        self.attributes
    }

    /// Sets attribute `name`, keeping every nuisance factor: the same person, edited.
    pub fn set(&mut self, name: &str, value: bool) -> Result<()> {
        self.attributes.set(name, value)
    }

    fn face(&self) -> Shape {
        Shape::Ellipse {
            c: self.centre,
            r: self.radius,
        }
    }

    /// Paints the scene, back to front, on a `size × size` canvas.
    pub(super) fn draw(&self, size: usize) -> Canvas {
        let mut canvas = Canvas::new(size);
        let [top, bottom] = self.background;
        canvas.fill_with(|p| {
            let t = p.y / 32.0;
            [0, 1, 2].map(|c| top[c] + t * (bottom[c] - top[c]))
        });

        self.draw_body(&mut canvas);
        self.draw_head(&mut canvas);
        self.draw_eyes(&mut canvas);
        self.draw_mouth(&mut canvas);
        if self.attributes.eyeglasses {
            self.draw_glasses(&mut canvas);
        }
        if self.attributes.hat {
            self.draw_hat(&mut canvas);
        }

        let (cx, light, brightness) = (self.centre.x, self.light, self.brightness);
        canvas.modulate(|p| brightness * (1.0 + light * (p.x - cx) / 16.0));
        canvas
    }

    /// Long hair behind the shoulders, shoulders, neck, and the hair around the head.
    fn draw_body(&self, canvas: &mut Canvas) {
        let (c, r) = (self.centre, self.radius);
        let hair_r = v(r.x + self.hair_volume.x, 0.85 * r.y + self.hair_volume.y);
        let hair_c = v(c.x, c.y - 0.15 * r.y);
        if self.long_hair {
            let half = v(hair_r.x, 0.5 * r.y + 2.0);
            let back = Shape::Rect {
                c: v(c.x, c.y + half.y),
                half,
                round: 2.0,
            };
            canvas.paint(&back, shade(self.hair, 0.9), 1.0);
        }

        let shoulders = Shape::Ellipse {
            c: v(c.x, c.y + r.y + 9.0),
            r: v(1.7 * r.x, 8.5),
        };
        canvas.paint(&shoulders, self.shirt, 1.0);
        let neck = Shape::Rect {
            c: v(c.x, c.y + r.y + 0.5),
            half: v(0.36 * r.x, 2.5),
            round: 0.5,
        };
        canvas.paint(&neck, shade(self.skin, 0.82), 1.0);
        let hair = Shape::Ellipse {
            c: hair_c,
            r: hair_r,
        };
        canvas.paint(&hair, self.hair, 1.0);
    }

    /// The face, then beard and bangs over it, then the nose.
    fn draw_head(&self, canvas: &mut Canvas) {
        let (c, r) = (self.centre, self.radius);
        canvas.paint(&self.face(), self.skin, 1.0);
        if self.attributes.beard {
            let jaw = Shape::Ellipse {
                c,
                r: v(1.03 * r.x, 1.04 * r.y),
            };
            let beard = jaw.and(Shape::Below(c.y + 0.2 * r.y));
            canvas.paint(&beard, shade(self.hair, 0.85), 1.0);
        }
        if self.attributes.bangs {
            let edge = Shape::Fringe {
                y0: c.y - 0.36 * r.y,
                depth: 1.2,
                period: 2.2,
            };
            let fringe = self.face().and(edge);
            canvas.paint(&fringe, self.hair, 1.0);
        }

        let nose = Shape::Capsule {
            a: v(c.x, c.y - 0.02 * r.y),
            b: v(c.x + 0.5, c.y + 0.24 * r.y),
            r: 0.45,
        };
        canvas.paint(&nose, shade(self.skin, 0.78), 0.7);
    }

    fn eye_centres(&self) -> [V; 2] {
        let (c, r) = (self.centre, self.radius);
        let y = c.y - self.eye_height * r.y;
        let dx = self.eye_spacing * r.x;
        [v(c.x - dx, y), v(c.x + dx, y)]
    }

    /// Eyebrows, whites and irises.
    fn draw_eyes(&self, canvas: &mut Canvas) {
        for e in self.eye_centres() {
            let brow = Shape::Capsule {
                a: v(e.x - 1.4, e.y - 2.0),
                b: v(e.x + 1.4, e.y - 2.1),
                r: 0.45,
            };
            canvas.paint(&brow, shade(self.hair, 0.7), 1.0);
            let white = Shape::Ellipse {
                c: e,
                r: v(1.55, 1.0),
            };
            canvas.paint(&white, SCLERA, 1.0);
            let iris = Shape::Ellipse {
                c: v(e.x + self.gaze, e.y),
                r: v(0.85, 0.85),
            };
            canvas.paint(&iris, self.iris, 1.0);
        }
    }

    /// An open smile with teeth, or a closed straight mouth.
    fn draw_mouth(&self, canvas: &mut Canvas) {
        let (c, r) = (self.centre, self.radius);
        let y = c.y + self.mouth_height * r.y;
        let w = self.mouth_width * r.x;
        if self.attributes.smiling {
            let top = y - 0.7;
            let open = Shape::Ellipse {
                c: v(c.x, top),
                r: v(w, 2.9),
            }
            .and(Shape::Below(top));
            canvas.paint(&open, MOUTH, 1.0);
            canvas.paint(&open.and(Shape::Above(top + 1.1)), TEETH, 1.0);
        } else {
            let lips = Shape::Capsule {
                a: v(c.x - 0.72 * w, y),
                b: v(c.x + 0.72 * w, y),
                r: 0.55,
            };
            canvas.paint(&lips, shade(MOUTH, 1.3), 0.9);
        }
    }

    /// Tinted lenses, round frames, a bridge and temples.
    fn draw_glasses(&self, canvas: &mut Canvas) {
        let [l, r] = self.eye_centres();
        let lr = self.lens_radius;
        for e in [l, r] {
            let lens = Shape::Ellipse { c: e, r: v(lr, lr) };
            canvas.paint(&lens, self.frame, 0.18);
            let rim = Shape::Ring {
                c: e,
                r: lr,
                half: 0.5,
            };
            canvas.paint(&rim, self.frame, 1.0);
        }

        let bridge = Shape::Capsule {
            a: v(l.x + lr, l.y),
            b: v(r.x - lr, r.y),
            r: 0.45,
        };
        canvas.paint(&bridge, self.frame, 1.0);
        let reach = self.centre.x + 0.98 * self.radius.x;
        let reach_left = self.centre.x - 0.98 * self.radius.x;
        for (from, to) in [(l.x - lr, reach_left), (r.x + lr, reach)] {
            let temple = Shape::Capsule {
                a: v(from, l.y),
                b: v(to, l.y - 0.6),
                r: 0.4,
            };
            canvas.paint(&temple, self.frame, 1.0);
        }
    }

    /// A crown with rounded top corners, a dark band and a wide brim.
    fn draw_hat(&self, canvas: &mut Canvas) {
        let (c, r) = (self.centre, self.radius);
        let brim_y = c.y - self.brim_height * r.y;
        let top_y = c.y - r.y - self.hat_height;
        let half_width = 1.02 * r.x;
        let crown = Shape::Rect {
            c: v(c.x, 0.5 * (top_y + brim_y)),
            half: v(half_width, 0.5 * (brim_y - top_y)),
            round: 1.5,
        };
        canvas.paint(&crown, self.hat, 1.0);

        let band = Shape::Rect {
            c: v(c.x, brim_y - 1.2),
            half: v(half_width, 0.7),
            round: 0.0,
        };
        canvas.paint(&band, shade(self.hat, 0.45), 1.0);
        let brim = Shape::Capsule {
            a: v(c.x - 1.35 * r.x, brim_y),
            b: v(c.x + 1.35 * r.x, brim_y),
            r: 0.85,
        };
        canvas.paint(&brim, shade(self.hat, 0.8), 1.0);
    }
}
