//! The input gradient of a convolution with more than one tap, on the CPU device, as one
//! matrix product per tap and example accumulated in place.
//!
//! For a stride-1 convolution with weight `W [out, in, kh, kw]`, the gradient with respect to
//! the zero-padded input is `∂x̃[c, y + i, x + j] = Σₒ W[o, c, i, j] · g[o, y, x]` summed over
//! the taps `(i, j)`. With both planes laid out row by row at the padded width `w̃`, a tap's
//! term is one product `Wᵢⱼᵀ [in, out] · g̃ [out, h'·w̃]` added to the padded gradient at the
//! offset `i·w̃ + j`, where `g̃` is `g` with `kw − 1` zero columns after each row (they keep
//! the sums of one row out of the next). The result is cropped to the unpadded input.
//!
//! Burn's CPU backend computes the same gradient as a transposed convolution: one product into
//! a `[in·kh·kw, h'·w']` buffer, then a scatter of that buffer into the image. The products
//! here write into the image directly and run on faer's kernels. The sums run in another
//! order, so the two agree to rounding (about 1e-6 relative), not bit for bit; the tests
//! compare them. This is the backward pass only; the forward convolutions stay Burn's own.

use burn::tensor::{Tensor, TensorData};
use faer::linalg::matmul::matmul;
use faer::{Accum, MatMut, MatRef, Par};
use rayon::prelude::*;

use crate::host::HostValues;

/// `∂L/∂x [batch, in, h, w]` of a stride-1, undilated convolution from its output gradient
/// `g [batch, out, h', w']` and (masked) weight `[out, in, kh, kw]`, with zero padding
/// `[(top, bottom), (left, right)]`; `None` off the CPU device, for a 1×1 kernel and for
/// shapes that do not fit together, leaving the caller to the tensor operations.
pub(crate) fn conv_input_grad(
    g: &Tensor<4>,
    weight: &Tensor<4>,
    padding: [(usize, usize); 2],
) -> Option<Tensor<4>> {
    let [batch, out, oh, ow] = g.dims();
    let [w_out, channels, kh, kw] = weight.dims();
    let [(top, bottom), (left, right)] = padding;
    let (hp, wp) = (oh + kh - 1, ow + kw - 1);
    if w_out != out || kh * kw < 2 || top + bottom >= hp || left + right >= wp {
        return None;
    }
    if batch * out * oh * ow * channels == 0 {
        return None;
    }
    let (h, w) = (hp - top - bottom, wp - left - right);
    let device = g.device().inner();
    let (g_data, w_data) = (HostValues::of(g)?, HostValues::of(weight)?);
    let (g, weight) = (g_data.as_slice(), w_data.as_slice());

    // Each tap's weight, transposed to `[in, out]`.
    let taps = kh * kw;
    let mut transposed = vec![0.0f32; taps * channels * out];
    for (tap, block) in transposed.chunks_exact_mut(channels * out).enumerate() {
        for (c, row) in block.chunks_exact_mut(out).enumerate() {
            for (o, value) in row.iter_mut().enumerate() {
                *value = weight[(o * channels + c) * taps + tap];
            }
        }
    }

    // A padded plane has `kw − 1` spare entries at its end, where the zero columns of the
    // last output row land.
    let columns = oh * wp;
    let stride = hp * wp + kw;
    let mut grad = vec![0.0f32; batch * channels * h * w];
    grad.par_chunks_mut(channels * h * w)
        .zip(g.par_chunks(out * oh * ow))
        .for_each_init(
            || (vec![0.0f32; out * columns], vec![0.0f32; channels * stride]),
            |(widened, padded), (grad, g)| {
                // The columns past `w'` of each row stay zero from the allocation.
                for (dst, src) in widened.chunks_exact_mut(wp).zip(g.chunks_exact(ow)) {
                    dst[..ow].copy_from_slice(src);
                }
                padded.fill(0.0);
                let rhs = MatRef::from_row_major_slice(widened, out, columns);
                for (tap, block) in transposed.chunks_exact(channels * out).enumerate() {
                    let offset = tap / kw * wp + tap % kw;
                    // Rows `stride` apart, built as the transpose of a column-major view:
                    // faer 0.24's `from_row_major_slice_with_stride_mut` lays its rows out
                    // with the column and row strides swapped.
                    let dst = MatMut::from_column_major_slice_with_stride_mut(
                        &mut padded[offset..],
                        columns,
                        channels,
                        stride,
                    )
                    .transpose_mut();
                    let lhs = MatRef::from_row_major_slice(block, channels, out);
                    matmul(dst, Accum::Add, lhs, rhs, 1.0, Par::Seq);
                }
                for (plane, src) in grad
                    .chunks_exact_mut(h * w)
                    .zip(padded.chunks_exact(stride))
                {
                    for (y, row) in plane.chunks_exact_mut(w).enumerate() {
                        let from = (y + top) * wp + left;
                        row.copy_from_slice(&src[from..from + w]);
                    }
                }
            },
        );
    Some(Tensor::from_data(
        TensorData::new(grad, [batch, channels, h, w]),
        &device,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Device;
    use burn::tensor::module::conv_transpose2d;
    use burn::tensor::ops::ConvTransposeOptions;

    fn seeded(shape: [usize; 4], seed: u64) -> Tensor<4> {
        let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let n = shape.iter().product();
        let values: Vec<f32> = (0..n)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 40) as f32 / (1u64 << 23) as f32 - 1.0
            })
            .collect();
        Tensor::from_data(TensorData::new(values, shape), &Device::flex())
    }

    fn host(t: Tensor<4>) -> Vec<f32> {
        t.into_data().iter::<f32>().collect()
    }

    /// The definition, one term at a time in double precision.
    fn naive(
        g: &[f32],
        weight: &[f32],
        dims: [usize; 8],
        padding: [(usize, usize); 2],
    ) -> Vec<f32> {
        let [batch, out, oh, ow, channels, kh, kw, _] = dims;
        let [(top, bottom), (left, right)] = padding;
        let (h, w) = (oh + kh - 1 - top - bottom, ow + kw - 1 - left - right);
        let mut grad = vec![0.0f64; batch * channels * h * w];
        for n in 0..batch {
            for o in 0..out {
                for (y, x) in (0..oh).flat_map(|y| (0..ow).map(move |x| (y, x))) {
                    let gv = f64::from(g[((n * out + o) * oh + y) * ow + x]);
                    for c in 0..channels {
                        for (i, j) in (0..kh).flat_map(|i| (0..kw).map(move |j| (i, j))) {
                            let (py, px) = (y + i, x + j);
                            if py < top || py >= top + h || px < left || px >= left + w {
                                continue;
                            }
                            let wv = f64::from(weight[((o * channels + c) * kh + i) * kw + j]);
                            grad[((n * channels + c) * h + py - top) * w + px - left] += wv * gv;
                        }
                    }
                }
            }
        }
        grad.into_iter().map(|v| v as f32).collect()
    }

    #[test]
    fn matches_the_definition_and_the_transposed_convolution() {
        // [batch, out, h', w'], [in, kh, kw], padding: the PixelCNN's vertical and horizontal
        // kernels, the first layer's, and symmetric and unpadded ones.
        let cases = [
            ([3, 6, 5, 7], [4, 2, 3], [(1, 0), (1, 1)]),
            ([2, 5, 6, 6], [3, 1, 2], [(0, 0), (1, 0)]),
            ([2, 4, 7, 7], [1, 4, 7], [(3, 0), (3, 3)]),
            ([1, 3, 4, 5], [2, 3, 3], [(1, 1), (1, 1)]),
            ([2, 3, 4, 4], [5, 2, 2], [(0, 0), (0, 0)]),
        ];
        for (k, ([batch, out, oh, ow], [channels, kh, kw], padding)) in
            cases.into_iter().enumerate()
        {
            let g = seeded([batch, out, oh, ow], 10 + k as u64);
            let weight = seeded([out, channels, kh, kw], 20 + k as u64);
            let found = conv_input_grad(&g, &weight, padding).expect("the CPU device");
            let dims = [batch, out, oh, ow, channels, kh, kw, 0];
            let expected = naive(&host(g.clone()), &host(weight.clone()), dims, padding);

            let options = ConvTransposeOptions::new([1, 1], [0, 0], [0, 0], [1, 1], 1);
            let full = conv_transpose2d(g, weight, None, options);
            let [n, c, hp, wp] = full.dims();
            let [(top, bottom), (left, right)] = padding;
            let burn = host(full.slice([0..n, 0..c, top..hp - bottom, left..wp - right]));

            let found = host(found);
            assert_eq!(found.len(), expected.len(), "case {k}");
            let scale = expected.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            for (i, ((a, b), t)) in found.iter().zip(&expected).zip(&burn).enumerate() {
                assert!(
                    (a - b).abs() <= 1e-5 * scale,
                    "case {k} entry {i}: {a} vs {b}"
                );
                assert!(
                    (a - t).abs() <= 1e-5 * scale,
                    "case {k} entry {i}: {a} vs Burn's {t}"
                );
            }
        }
    }

    #[test]
    fn one_by_one_kernels_and_mismatched_shapes_are_left_to_the_tensor_operations() {
        let g = seeded([1, 4, 3, 3], 1);
        assert!(conv_input_grad(&g, &seeded([4, 2, 1, 1], 2), [(0, 0), (0, 0)]).is_none());
        assert!(conv_input_grad(&g, &seeded([5, 2, 2, 2], 3), [(0, 0), (0, 0)]).is_none());
        assert!(conv_input_grad(&g, &seeded([4, 2, 2, 2], 4), [(2, 2), (0, 0)]).is_none());
    }
}
