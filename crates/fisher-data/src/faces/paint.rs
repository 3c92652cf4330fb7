//! Anti-aliased painting with signed distances, in plain `f32` arithmetic.
//!
//! Each shape is a signed distance `d(p)` (negative inside, in canvas units); a pixel whose
//! centre lies `d` pixels from the edge is covered by `α = clamp(½ − d, 0, 1)`, and the
//! shape's colour is blended in as `c ← c + α·(colour − c)`. Shapes intersect by
//! `max(d₁, d₂)`.
//!
//! Only `+ − × ÷`, `sqrt`, `abs`, `min`, `max` are used: IEEE 754 rounds each of them
//! exactly and Rust never fuses them, so the pixels are the same on every machine.

/// A point or a vector in canvas units.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct V {
    pub x: f32,
    pub y: f32,
}

/// Shorthand for a [`V`].
pub(crate) fn v(x: f32, y: f32) -> V {
    V { x, y }
}

fn length(x: f32, y: f32) -> f32 {
    (x * x + y * y).sqrt()
}

/// An RGB colour with channels in `[0, 255]`.
pub(crate) type Rgb = [f32; 3];

/// Multiplies each channel by `k`.
pub(crate) fn shade(c: Rgb, k: f32) -> Rgb {
    [c[0] * k, c[1] * k, c[2] * k]
}

/// A region of the canvas given by its signed distance.
#[derive(Clone, Debug)]
pub(crate) enum Shape {
    /// Filled axis-aligned ellipse with centre `c` and radii `r`.
    Ellipse { c: V, r: V },
    /// Circle outline of radius `r` and half-thickness `half`.
    Ring { c: V, r: f32, half: f32 },
    /// Segment from `a` to `b`, thickened by `r`.
    Capsule { a: V, b: V, r: f32 },
    /// Axis-aligned box with centre `c`, half-sizes `half` and corner radius `round`.
    Rect { c: V, half: V, round: f32 },
    /// Everything below the line `y = y0` (larger `y`).
    Below(f32),
    /// Everything above the line `y = y0` (smaller `y`).
    Above(f32),
    /// Everything above a zigzag edge whose teeth reach from `y0 − depth` down to `y0`,
    /// one tooth per `period` units of `x`, like a fringe of hair.
    Fringe { y0: f32, depth: f32, period: f32 },
    /// Points inside both shapes.
    And(Box<Shape>, Box<Shape>),
}

impl Shape {
    /// The intersection of `self` and `other`.
    pub fn and(self, other: Shape) -> Shape {
        Shape::And(Box::new(self), Box::new(other))
    }

    /// Signed distance from `p` to the edge, negative inside.
    pub fn distance(&self, p: V) -> f32 {
        match self {
            Shape::Ellipse { c, r } => ellipse_distance(p.x - c.x, p.y - c.y, *r),
            Shape::Ring { c, r, half } => (length(p.x - c.x, p.y - c.y) - r).abs() - half,
            Shape::Capsule { a, b, r } => segment_distance(p, *a, *b) - r,
            Shape::Rect { c, half, round } => rect_distance(p, *c, *half, *round),
            Shape::Below(y0) => y0 - p.y,
            Shape::Above(y0) => p.y - y0,
            Shape::Fringe { y0, depth, period } => {
                let t = p.x / period;
                let tooth = 2.0 * (t - t.floor() - 0.5).abs();
                p.y - (y0 - depth * tooth)
            }
            Shape::And(s, t) => s.distance(p).max(t.distance(p)),
        }
    }

    /// A box `[x0, y0, x1, y1]` that holds the shape (infinite for half-planes).
    pub fn bounds(&self) -> [f32; 4] {
        const ALL: [f32; 4] = [f32::MIN, f32::MIN, f32::MAX, f32::MAX];
        match self {
            Shape::Ellipse { c, r } => [c.x - r.x, c.y - r.y, c.x + r.x, c.y + r.y],
            Shape::Ring { c, r, half } => {
                let e = r + half;
                [c.x - e, c.y - e, c.x + e, c.y + e]
            }
            Shape::Capsule { a, b, r } => [
                a.x.min(b.x) - r,
                a.y.min(b.y) - r,
                a.x.max(b.x) + r,
                a.y.max(b.y) + r,
            ],
            Shape::Rect { c, half, .. } => [c.x - half.x, c.y - half.y, c.x + half.x, c.y + half.y],
            Shape::Below(_) | Shape::Above(_) | Shape::Fringe { .. } => ALL,
            Shape::And(s, t) => {
                let (a, b) = (s.bounds(), t.bounds());
                [
                    a[0].max(b[0]),
                    a[1].max(b[1]),
                    a[2].min(b[2]),
                    a[3].min(b[3]),
                ]
            }
        }
    }
}

/// Distance to an ellipse, first-order: `(k − 1)/|∇k|` with `k = |(x/rx, y/ry)|`. Exact on
/// circles, within a few percent near the edge of the mildly elongated ellipses drawn here,
/// which is all anti-aliasing needs.
fn ellipse_distance(x: f32, y: f32, r: V) -> f32 {
    let (qx, qy) = (x / r.x, y / r.y);
    let k = length(qx, qy);
    if k < 1e-4 {
        return -r.x.min(r.y);
    }
    let gradient = length(qx / r.x, qy / r.y) / k;
    (k - 1.0) / gradient
}

fn segment_distance(p: V, a: V, b: V) -> f32 {
    let (px, py) = (p.x - a.x, p.y - a.y);
    let (dx, dy) = (b.x - a.x, b.y - a.y);
    let dd = dx * dx + dy * dy;
    let t = if dd > 0.0 {
        ((px * dx + py * dy) / dd).clamp(0.0, 1.0)
    } else {
        0.0
    };
    length(px - t * dx, py - t * dy)
}

fn rect_distance(p: V, c: V, half: V, round: f32) -> f32 {
    let qx = (p.x - c.x).abs() - (half.x - round);
    let qy = (p.y - c.y).abs() - (half.y - round);
    let outside = length(qx.max(0.0), qy.max(0.0));
    outside + qx.max(qy).min(0.0) - round
}

/// A square RGB canvas of `size` pixels; canvas units are pixels of a 32-pixel image, so the
/// same scene renders at any size.
pub(crate) struct Canvas {
    size: usize,
    scale: f32,
    pixels: Vec<Rgb>,
}

impl Canvas {
    /// A `size × size` canvas filled with black.
    pub fn new(size: usize) -> Self {
        Self {
            size,
            scale: size as f32 / 32.0,
            pixels: vec![[0.0; 3]; size * size],
        }
    }

    /// The canvas-unit centre of pixel `(x, y)`.
    fn centre(&self, x: usize, y: usize) -> V {
        v((x as f32 + 0.5) / self.scale, (y as f32 + 0.5) / self.scale)
    }

    /// Fills every pixel with `f(p)` of its centre `p`.
    pub fn fill_with(&mut self, f: impl Fn(V) -> Rgb) {
        for y in 0..self.size {
            for x in 0..self.size {
                self.pixels[y * self.size + x] = f(self.centre(x, y));
            }
        }
    }

    /// Blends `colour` into the pixels `shape` covers, with opacity `alpha`.
    pub fn paint(&mut self, shape: &Shape, colour: Rgb, alpha: f32) {
        let [x0, y0, x1, y1] = shape.bounds();
        let (xs, ys) = (self.pixel_range(x0, x1), self.pixel_range(y0, y1));
        for y in ys {
            for x in xs.clone() {
                let d = shape.distance(self.centre(x, y)) * self.scale;
                let a = (0.5 - d).clamp(0.0, 1.0) * alpha;
                if a > 0.0 {
                    let px = &mut self.pixels[y * self.size + x];
                    for (p, c) in px.iter_mut().zip(colour) {
                        *p += a * (c - *p);
                    }
                }
            }
        }
    }

    /// Pixels whose centres may lie within one pixel of `[lo, hi]` (canvas units).
    fn pixel_range(&self, lo: f32, hi: f32) -> std::ops::Range<usize> {
        let n = self.size as f32;
        let start = (lo * self.scale - 1.0).clamp(0.0, n) as usize;
        let end = (hi * self.scale + 1.0).clamp(0.0, n) as usize;
        start..end.max(start)
    }

    /// Multiplies each pixel by `f(p)` of its centre `p`.
    pub fn modulate(&mut self, f: impl Fn(V) -> f32) {
        for y in 0..self.size {
            for x in 0..self.size {
                let k = f(self.centre(x, y));
                let px = &mut self.pixels[y * self.size + x];
                *px = shade(*px, k);
            }
        }
    }

    /// Rounds to 8 bits, adding `noise(i)` to sub-pixel `i` first; channel-first output.
    pub fn to_u8(&self, mut noise: impl FnMut() -> i32) -> Vec<u8> {
        let plane = self.size * self.size;
        let mut out = vec![0u8; 3 * plane];
        for (i, px) in self.pixels.iter().enumerate() {
            for (c, value) in px.iter().enumerate() {
                let rounded = (value.clamp(0.0, 255.0) + 0.5) as i32;
                out[c * plane + i] = (rounded + noise()).clamp(0, 255) as u8;
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances_have_the_right_sign_and_size() {
        let circle = Shape::Ellipse {
            c: v(0.0, 0.0),
            r: v(2.0, 2.0),
        };
        assert_eq!(circle.distance(v(3.0, 0.0)), 1.0);
        assert_eq!(circle.distance(v(0.0, -1.0)), -1.0);

        let rect = Shape::Rect {
            c: v(0.0, 0.0),
            half: v(2.0, 1.0),
            round: 0.0,
        };
        assert_eq!(rect.distance(v(5.0, 0.0)), 3.0);
        assert_eq!(rect.distance(v(0.0, 0.5)), -0.5);

        let capsule = Shape::Capsule {
            a: v(0.0, 0.0),
            b: v(4.0, 0.0),
            r: 1.0,
        };
        assert_eq!(capsule.distance(v(2.0, 3.0)), 2.0);
    }

    #[test]
    fn half_covered_pixels_blend_halfway() {
        let mut canvas = Canvas::new(32);
        let left_half = Shape::Rect {
            c: v(0.0, 16.0),
            half: v(10.5, 40.0),
            round: 0.0,
        };
        canvas.paint(&left_half, [200.0, 200.0, 200.0], 1.0);
        let row = &canvas.pixels[..12];
        assert_eq!(row[9], [200.0; 3]);
        assert_eq!(
            row[10], [100.0; 3],
            "the edge x = 10.5 crosses pixel 10's centre"
        );
        assert_eq!(row[11], [0.0; 3]);
    }
}
