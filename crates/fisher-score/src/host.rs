//! Per-example convolution gradients on the CPU device, one matrix product per example.
//!
//! The tensor route of [`crate::layer`] forms one batched product per kernel tap, each with
//! as many columns as the layer has input channels (64 in the default PixelCNN), then
//! concatenates the taps and selects the free weights. On the `flex` device, for kernels of
//! more than one tap, this module instead unfolds each example's padded input into the matrix
//! of every tap's window, `[in · kh · kw, positions]` (about a megabyte), and multiplies the
//! output gradient `[out, positions]` by its transpose in one product, whose result is the
//! example's weight gradient in the order of the weight `[out, in, kh, kw]`; the free weights
//! are copied from it into the example's row of the output. Examples run in parallel, one
//! product each. A 1×1 kernel keeps the tensor route, which is one batched product already.
//!
//! The sums run in another order than the tensor route's, so the results agree with it to
//! rounding (about 1e-6 relative), not bit for bit; the tests compare the two.

use burn::tensor::{Tensor, TensorData};
use faer::linalg::matmul::matmul;
use faer::{Accum, MatMut, MatRef, Par};
use fisher_pixelcnn::host::HostValues;
use rayon::prelude::*;

use crate::layer::{Geometry, LayerScores, free_positions};

pub(crate) use fisher_pixelcnn::host::on_host;

/// Each example's gradient with respect to a convolution's free weights and biases, from
/// the layer's input `[batch, in, h, w]` and output gradient `[batch, out, h', w']`, whose
/// sizes the caller has checked against `geometry`; `None` off the CPU device, for 1×1
/// kernels and when the mask leaves no weight free.
pub(crate) fn conv_scores(
    geometry: &Geometry,
    input: &Tensor<4>,
    g: &Tensor<4>,
    mask: Option<&[bool]>,
    has_bias: bool,
) -> Option<LayerScores> {
    let [batch, channels, h, w] = geometry.input;
    let [_, out, oh, ow] = g.dims();
    let [kh, kw] = geometry.kernel;
    let positions = oh * ow;
    let rows = channels * kh * kw;
    // A 1×1 kernel's product needs no unfolding: the tensor route is one batched product
    // already, without the copies out of and back into tensors.
    if kh * kw < 2 || batch == 0 || positions == 0 || rows == 0 || out == 0 {
        return None;
    }
    let device = g.device().inner();
    let (x_data, g_data) = (HostValues::of(input)?, HostValues::of(g)?);
    let (x, g) = (x_data.as_slice(), g_data.as_slice());
    let free: Option<Vec<usize>> = mask.map(|m| free_positions(m).collect());
    let width = free.as_ref().map_or(out * rows, Vec::len);
    // Examples are rows of the output; a layer without a free weight has none to split.
    if width == 0 {
        return None;
    }

    let window = Window {
        geometry,
        size: [h, w],
        out: [oh, ow],
    };
    let mut weight = vec![0.0f32; batch * width];
    let mut bias = vec![0.0f32; batch * out];
    let plane = channels * h * w;
    weight
        .par_chunks_mut(width)
        .zip(bias.par_chunks_mut(out))
        .enumerate()
        .for_each_init(
            || (vec![0.0f32; rows * positions], Vec::new()),
            |(unfolded, full), (n, (weight, bias))| {
                let x = &x[n * plane..(n + 1) * plane];
                let g = &g[n * out * positions..(n + 1) * out * positions];
                window.unfold(x, unfolded);
                let lhs = MatRef::from_row_major_slice(g, out, positions);
                let rhs = MatRef::from_row_major_slice(unfolded, rows, positions).transpose();
                match &free {
                    None => {
                        let dst = MatMut::from_row_major_slice_mut(weight, out, rows);
                        matmul(dst, Accum::Replace, lhs, rhs, 1.0, Par::Seq);
                    }
                    Some(free) => {
                        full.resize(out * rows, 0.0);
                        let dst = MatMut::from_row_major_slice_mut(full, out, rows);
                        matmul(dst, Accum::Replace, lhs, rhs, 1.0, Par::Seq);
                        for (value, &i) in weight.iter_mut().zip(free) {
                            *value = full[i];
                        }
                    }
                }
                for (b, g) in bias.iter_mut().zip(g.chunks(positions)) {
                    *b = g.iter().sum();
                }
            },
        );

    let weight = Tensor::from_data(TensorData::new(weight, [batch, width]), &device);
    let bias = has_bias.then(|| Tensor::from_data(TensorData::new(bias, [batch, out]), &device));
    Some(LayerScores { weight, bias })
}

/// How one example's input is unfolded.
struct Window<'a> {
    geometry: &'a Geometry,
    /// Input `[h, w]`.
    size: [usize; 2],
    /// Output `[h', w']`.
    out: [usize; 2],
}

impl Window<'_> {
    /// Fills `unfolded` `[in · kh · kw, h' · w']`: row `(c·kh + i)·kw + j` holds, for every
    /// output position, the padded input that tap `(i, j)` multiplies there (zero in the
    /// padding).
    fn unfold(&self, x: &[f32], unfolded: &mut [f32]) {
        let [h, w] = self.size;
        let [oh, ow] = self.out;
        let [kh, kw] = self.geometry.kernel;
        let [dh, dw] = self.geometry.dilation;
        let [(top, _), (left, _)] = self.geometry.padding;
        for (r, row) in unfolded.chunks_exact_mut(oh * ow).enumerate() {
            let (c, i, j) = (r / (kh * kw), r / kw % kh, r % kw);
            let channel = &x[c * h * w..(c + 1) * h * w];
            // Output column `x'` reads input column `x' + j·dw − left`.
            let shift = (j * dw) as isize - left as isize;
            let first = (-shift).clamp(0, ow as isize) as usize;
            let last = (w as isize - shift).clamp(first as isize, ow as isize) as usize;
            for (y, line) in row.chunks_exact_mut(ow).enumerate() {
                let source = (y + i * dh) as isize - top as isize;
                if source < 0 || source >= h as isize {
                    line.fill(0.0);
                    continue;
                }
                let src = &channel[source as usize * w..(source as usize + 1) * w];
                line[..first].fill(0.0);
                let from = (first as isize + shift) as usize;
                line[first..last].copy_from_slice(&src[from..from + last - first]);
                line[last..].fill(0.0);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layer::{LayerInput, Probe, ProbedLayer};
    use burn::tensor::Device;

    /// Seeded values in `[-1, 1)`.
    fn seeded(len: usize, seed: u64) -> Vec<f32> {
        let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 40) as f32 / (1u64 << 23) as f32 - 1.0
            })
            .collect()
    }

    struct Case {
        input: [usize; 4],
        out: usize,
        kernel: [usize; 2],
        padding: [(usize, usize); 2],
        dilation: [usize; 2],
        masked: bool,
        has_bias: bool,
    }

    impl Case {
        fn output(&self) -> [usize; 4] {
            let [b, _, h, w] = self.input;
            let [(t, bo), (l, r)] = self.padding;
            let span = |k: usize, d: usize| d * (k - 1) + 1;
            [
                b,
                self.out,
                h + t + bo - span(self.kernel[0], self.dilation[0]) + 1,
                w + l + r - span(self.kernel[1], self.dilation[1]) + 1,
            ]
        }

        fn mask(&self) -> Option<Vec<bool>> {
            let [_, c, _, _] = self.input;
            let len = self.out * c * self.kernel[0] * self.kernel[1];
            self.masked.then(|| (0..len).map(|i| i % 7 != 3).collect())
        }

        fn tensors(&self, device: &Device) -> (Tensor<4>, Tensor<4>) {
            let x = seeded(self.input.iter().product(), 1);
            let g = seeded(self.output().iter().product(), 2);
            (
                Tensor::from_data(TensorData::new(x, self.input), device),
                Tensor::from_data(TensorData::new(g, self.output()), device),
            )
        }

        fn record(&self, x: Tensor<4>, g: Tensor<4>) -> ProbedLayer {
            ProbedLayer {
                name: "conv".into(),
                input: LayerInput::Conv {
                    input: x,
                    kernel: self.kernel,
                    padding: self.padding,
                    dilation: self.dilation,
                },
                probe: Probe::Spatial(g),
                mask: self.mask(),
                has_bias: self.has_bias,
            }
        }

        fn geometry(&self) -> Geometry {
            Geometry::new(self.input, self.kernel, self.padding, self.dilation)
        }
    }

    fn cases() -> Vec<Case> {
        let case = |input, out, kernel, padding, dilation, masked, has_bias| Case {
            input,
            out,
            kernel,
            padding,
            dilation,
            masked,
            has_bias,
        };
        vec![
            // The PixelCNN's vertical and horizontal shapes, a 2×1 kernel, the first layer's.
            case(
                [3, 4, 6, 5],
                8,
                [2, 3],
                [(1, 0), (1, 1)],
                [1, 1],
                false,
                true,
            ),
            case(
                [3, 4, 6, 5],
                8,
                [1, 2],
                [(0, 0), (1, 0)],
                [1, 1],
                true,
                true,
            ),
            case(
                [2, 8, 5, 5],
                8,
                [2, 1],
                [(1, 0), (0, 0)],
                [1, 1],
                false,
                false,
            ),
            case(
                [2, 1, 7, 6],
                6,
                [4, 7],
                [(3, 0), (3, 3)],
                [1, 1],
                true,
                true,
            ),
            // Dilation, a wider padding than the kernel needs, a single output position.
            case(
                [2, 3, 6, 7],
                5,
                [3, 2],
                [(2, 1), (0, 2)],
                [2, 3],
                false,
                true,
            ),
            case(
                [1, 2, 3, 3],
                4,
                [3, 3],
                [(0, 0), (0, 0)],
                [1, 1],
                true,
                false,
            ),
        ]
    }

    fn host_values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
        t.into_data().iter::<f32>().collect()
    }

    /// `Σ_(y,x) g[n, o, y, x] · x̃[n, c, y + i·dh, x + j·dw]`, entry by entry.
    fn naive(case: &Case, x: &[f32], g: &[f32]) -> Vec<f32> {
        let [batch, channels, h, w] = case.input;
        let [_, out, oh, ow] = case.output();
        let [kh, kw] = case.kernel;
        let [(top, _), (left, _)] = case.padding;
        let mut weights = Vec::new();
        for n in 0..batch {
            for o in 0..out {
                for c in 0..channels {
                    for i in 0..kh {
                        for j in 0..kw {
                            let mut sum = 0.0f64;
                            for y in 0..oh {
                                for xx in 0..ow {
                                    let sy = (y + i * case.dilation[0]) as isize - top as isize;
                                    let sx = (xx + j * case.dilation[1]) as isize - left as isize;
                                    if sy < 0 || sx < 0 || sy >= h as isize || sx >= w as isize {
                                        continue;
                                    }
                                    let xv =
                                        x[((n * channels + c) * h + sy as usize) * w + sx as usize];
                                    let gv = g[((n * out + o) * oh + y) * ow + xx];
                                    sum += f64::from(xv) * f64::from(gv);
                                }
                            }
                            weights.push(sum as f32);
                        }
                    }
                }
            }
        }
        weights
    }

    fn assert_close(actual: &[f32], expected: &[f32], what: &str) {
        assert_eq!(actual.len(), expected.len(), "{what}: lengths");
        let scale = expected
            .iter()
            .fold(0.0f32, |m, v| m.max(v.abs()))
            .max(1e-30);
        for (i, (a, e)) in actual.iter().zip(expected).enumerate() {
            assert!(
                (a - e).abs() <= 2e-6 * scale,
                "{what}: entry {i} is {a}, expected {e} (scale {scale})"
            );
        }
    }

    #[test]
    fn one_product_per_example_matches_the_entry_by_entry_sum() {
        let device = Device::flex();
        for (k, case) in cases().iter().enumerate() {
            let (x, g) = case.tensors(&device);
            let found = conv_scores(&case.geometry(), &x, &g, None, case.has_bias)
                .expect("the flex device takes the host route");
            let expected = naive(case, &host_values(x), &host_values(g.clone()));
            assert_close(&host_values(found.weight), &expected, &format!("case {k}"));
            let [batch, out, _, _] = case.output();
            let sums = host_values(g.reshape([batch as i64, out as i64, -1]).sum_dim(2));
            match found.bias {
                Some(bias) => assert_close(&host_values(bias), &sums, &format!("bias {k}")),
                None => assert!(!case.has_bias),
            }
        }
    }

    #[test]
    fn host_route_matches_the_tensor_route_with_masks_and_biases() {
        let device = Device::flex();
        for (k, case) in cases().iter().enumerate() {
            let (x, g) = case.tensors(&device);
            let record = case.record(x.clone(), g.clone());
            let mask = record.mask.as_deref();
            let host = conv_scores(&case.geometry(), &x, &g, mask, case.has_bias)
                .expect("the flex device takes the host route");
            let tensor = record.conv_scores(&case.geometry(), &x, &g);
            assert_eq!(host.weight.dims(), tensor.weight.dims(), "case {k}");
            let expected = host_values(tensor.weight);
            assert_close(&host_values(host.weight), &expected, &format!("case {k}"));
            assert_eq!(host.bias.is_some(), tensor.bias.is_some(), "case {k}");
            if let (Some(a), Some(b)) = (host.bias, tensor.bias) {
                assert_close(&host_values(a), &host_values(b), &format!("bias {k}"));
            }
        }
    }

    #[test]
    fn one_by_one_kernels_keep_the_tensor_route() {
        let case = Case {
            input: [2, 4, 3, 3],
            out: 5,
            kernel: [1, 1],
            padding: [(0, 0), (0, 0)],
            dilation: [1, 1],
            masked: false,
            has_bias: true,
        };
        let (x, g) = case.tensors(&Device::flex());
        assert!(conv_scores(&case.geometry(), &x, &g, None, true).is_none());
    }

    #[test]
    fn an_autodiff_device_over_flex_gives_the_same_bits() {
        let case = &cases()[0];
        let run = |device: &Device| {
            let (x, g) = case.tensors(device);
            let found = conv_scores(&case.geometry(), &x, &g, case.mask().as_deref(), true)
                .expect("host memory either way");
            host_values(found.weight)
        };
        assert_eq!(run(&Device::flex()), run(&Device::flex().autodiff()));
    }
}
