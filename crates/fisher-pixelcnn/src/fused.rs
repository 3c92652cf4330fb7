//! Single passes over memory on the CPU backend: the gate, its backward pass, and the
//! categorical head's gradient.
//!
//! The gated unit `tanh(a) ⊙ σ(b)` is a handful of element-wise tensor operations; Burn's
//! CPU backend runs each of them on one thread, as its own pass over memory. On the `flex`
//! device the functions here instead read the tensors once, evaluate the gate on all cores,
//! and write every result in the same pass. On every other device they run the plain tensor
//! operations, so the same code serves the GPU backends.
//!
//! The forward values are bit for bit those of the tensor operations: the same scalar `libm`
//! functions with the same formulas (the tests check it). This matters more than it seems:
//! the logistic-mixture head takes differences of nearly equal sigmoids, so a change of one
//! unit in the last place of an activation can move a score coordinate by 1e-5 of the
//! largest. Faster vectorised approximations were tried and dropped for that reason. `tanh`
//! and σ run in vector lanes only where [`crate::lanes`] rounds exactly as the C library does,
//! which it checks once per process; elsewhere it calls the C library. The tensors are read
//! where they lie, through [`crate::host::HostValues`], not copied out. The backward pass
//! rounds differently from autodiff's (about 1e-7 relative).
//!
//! The categorical head's gradient with respect to its logits is `onehot(target) −
//! softmax(logits)` at every sub-pixel; [`categorical_head`] computes it, with the
//! log-likelihoods, in one pass per image and colour instead of an autodiff graph of the
//! log-softmax. It runs on the CPU device only; elsewhere the caller differentiates the head.

use burn::tensor::activation::sigmoid;
use burn::tensor::{Device, Int, Tensor, TensorData};
use rayon::prelude::*;

/// The gate's output `t ⊙ s` and its two factors, `t = tanh(a)` and `s = σ(b)`, where
/// `[a, b]` are the channel halves of `pre + addend`.
///
/// # Shapes
/// - `pre`, `addend`: `[batch, 2C, h, w]`
/// - output: three `[batch, C, h, w]`: the product, `t` and `s`
pub(crate) fn gate_forward(
    pre: Tensor<4>,
    addend: Option<Tensor<4>>,
) -> (Tensor<4>, Tensor<4>, Tensor<4>) {
    match host::gate_forward(&pre, addend.as_ref()) {
        Some(found) => found,
        None => gate_forward_ops(pre, addend),
    }
}

/// [`gate_forward`] as tensor operations, for every device.
fn gate_forward_ops(
    pre: Tensor<4>,
    addend: Option<Tensor<4>>,
) -> (Tensor<4>, Tensor<4>, Tensor<4>) {
    let pre = match addend {
        Some(a) => pre + a,
        None => pre,
    };
    let c = pre.dims()[1] / 2;
    let t = pre.clone().narrow(1, 0, c).tanh();
    let s = sigmoid(pre.narrow(1, c, c));
    (t.clone() * s.clone(), t, s)
}

/// The gradient with respect to the gate's input, `[g ⊙ s ⊙ (1 − t²), g ⊙ t ⊙ s ⊙ (1 − s)]`
/// along the channels, plus `addend`.
///
/// # Shapes
/// - `t`, `s`, `g`: `[batch, C, h, w]`
/// - `addend`: `[batch, 2C, h, w]`
/// - output: `[batch, 2C, h, w]`
pub(crate) fn gate_backward(
    t: Tensor<4>,
    s: Tensor<4>,
    g: Tensor<4>,
    addend: Option<Tensor<4>>,
) -> Tensor<4> {
    match host::gate_backward(&t, &s, &g, addend.as_ref()) {
        Some(found) => found,
        None => gate_backward_ops(t, s, g, addend),
    }
}

/// [`gate_backward`] as tensor operations, for every device.
fn gate_backward_ops(
    t: Tensor<4>,
    s: Tensor<4>,
    g: Tensor<4>,
    addend: Option<Tensor<4>>,
) -> Tensor<4> {
    let gt = g.clone() * t.clone();
    let gs = g * s.clone();
    let ga = gs.clone() - gs * t.clone() * t;
    let gb = gt * (s.clone() - s.clone() * s);
    let grad = Tensor::cat(vec![ga, gb], 1);
    match addend {
        Some(a) => grad + a,
        None => grad,
    }
}

/// Each image's log-likelihood under a categorical head and its gradient with respect to the
/// logits, `onehot(target) − softmax(logits)` at every sub-pixel, in one pass over the
/// logits on all cores; `None` off the CPU device, leaving the caller to differentiate the
/// head by autodiff.
///
/// # Shapes
/// - `logits`: `[batch, 256·c, h, w]`, the 256 logits of colour `i` in channels
///   `256·i .. 256·(i + 1)`
/// - `targets`: `[batch, c, h, w]`, values in `0..=255`
/// - output: `[batch]` and the gradient, the shape of `logits`
pub(crate) fn categorical_head(
    logits: &Tensor<4>,
    targets: &Tensor<4, Int>,
) -> Option<(Tensor<1>, Tensor<4>)> {
    host::categorical_head(logits, targets)
}

/// `tanh(x)`: the C library's, as Burn's CPU backend evaluates it, one element at a time.
#[inline(always)]
fn tanh(x: f32) -> f32 {
    x.tanh()
}

/// The logistic sigmoid with the formula and the rounding of Burn's CPU backend: `1/(1 + e^{−x})`
/// for `x ≥ 0`, `e^x/(1 + e^x)` below, so that neither exponential overflows.
#[inline(always)]
pub(crate) fn sigmoid_f32(x: f32) -> f32 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

mod host {
    use super::*;
    use crate::host::HostValues;

    fn tensor(values: Vec<f32>, shape: [usize; 4], device: &Device) -> Tensor<4> {
        Tensor::from_data(TensorData::new(values, shape), device)
    }

    /// The values of an optional addend of shape `dims`; `Err` when it cannot be read.
    fn addend_values(
        addend: Option<&Tensor<4>>,
        dims: [usize; 4],
    ) -> Result<Option<HostValues>, ()> {
        match addend {
            Some(a) if a.dims() == dims => HostValues::of(a).map(Some).ok_or(()),
            Some(_) => Err(()),
            None => Ok(None),
        }
    }

    pub(super) fn gate_forward(
        pre: &Tensor<4>,
        addend: Option<&Tensor<4>>,
    ) -> Option<(Tensor<4>, Tensor<4>, Tensor<4>)> {
        let [b, c2, h, w] = pre.dims();
        let plane = c2 / 2 * h * w;
        if c2 % 2 != 0 || plane == 0 {
            return None;
        }
        let device = pre.device().inner();
        let pre_data = HostValues::of(pre)?;
        let add_data = addend_values(addend, pre.dims()).ok()?;
        let (pre, add) = (
            pre_data.as_slice(),
            add_data.as_ref().map(HostValues::as_slice),
        );

        let tanh_lanes = crate::lanes::tanh_matches();
        let sigmoid_lanes = crate::lanes::sigmoid_matches(sigmoid_f32);
        let mut out = vec![0.0; b * plane];
        let mut t = vec![0.0; b * plane];
        let mut s = vec![0.0; b * plane];
        out.par_chunks_mut(plane)
            .zip(t.par_chunks_mut(plane))
            .zip(s.par_chunks_mut(plane))
            .enumerate()
            .for_each(|(n, ((out, t), s))| {
                let input = 2 * n * plane..2 * (n + 1) * plane;
                vectorized(ForwardOp {
                    tanh_lanes,
                    sigmoid_lanes,
                    x: &pre[input.clone()],
                    add: add.map(|a| &a[input]),
                    out,
                    t,
                    s,
                });
            });
        let shape = [b, c2 / 2, h, w];
        Some((
            tensor(out, shape, &device),
            tensor(t, shape, &device),
            tensor(s, shape, &device),
        ))
    }

    pub(super) fn gate_backward(
        t: &Tensor<4>,
        s: &Tensor<4>,
        g: &Tensor<4>,
        addend: Option<&Tensor<4>>,
    ) -> Option<Tensor<4>> {
        let [b, c, h, w] = t.dims();
        let plane = c * h * w;
        if s.dims() != t.dims() || g.dims() != t.dims() || plane == 0 {
            return None;
        }
        let device = t.device().inner();
        let (t_data, s_data, g_data) = (HostValues::of(t)?, HostValues::of(s)?, HostValues::of(g)?);
        let add_data = addend_values(addend, [b, 2 * c, h, w]).ok()?;
        let (t, s, g) = (t_data.as_slice(), s_data.as_slice(), g_data.as_slice());
        let add = add_data.as_ref().map(HostValues::as_slice);

        let mut out = vec![0.0; b * 2 * plane];
        out.par_chunks_mut(2 * plane)
            .enumerate()
            .for_each(|(n, out)| {
                let one = n * plane..(n + 1) * plane;
                let (ga, gb) = out.split_at_mut(plane);
                vectorized(BackwardOp {
                    t: &t[one.clone()],
                    s: &s[one.clone()],
                    g: &g[one],
                    add: add.map(|a| &a[2 * n * plane..2 * (n + 1) * plane]),
                    ga,
                    gb,
                });
            });
        Some(tensor(out, [b, 2 * c, h, w], &device))
    }

    pub(super) fn categorical_head(
        logits: &Tensor<4>,
        targets: &Tensor<4, Int>,
    ) -> Option<(Tensor<1>, Tensor<4>)> {
        const CLASSES: usize = 256;
        let [b, c, h, w] = targets.dims();
        let plane = h * w;
        if logits.dims() != [b, CLASSES * c, h, w] || plane == 0 {
            return None;
        }
        let device = logits.device().inner();
        let logits_data = HostValues::of(logits)?;
        let logits = logits_data.as_slice();
        let targets: Vec<usize> = targets
            .clone()
            .inner()
            .into_data()
            .iter::<i64>()
            .map(|v| v.clamp(0, CLASSES as i64 - 1) as usize)
            .collect();

        let block = CLASSES * plane;
        let mut grad = vec![0.0f32; b * c * block];
        let mut ll = vec![0.0f32; b * c];
        grad.par_chunks_mut(block)
            .zip(ll.par_iter_mut())
            .enumerate()
            .for_each(|(i, (grad, ll))| {
                let logits = &logits[i * block..(i + 1) * block];
                let targets = &targets[i * plane..(i + 1) * plane];
                *ll = categorical_block(logits, targets, grad, plane);
            });
        let ll: Vec<f32> = ll.chunks(c).map(|l| l.iter().sum()).collect();
        Some((
            Tensor::from_data(TensorData::new(ll, [b]), &device),
            tensor(grad, [b, CLASSES * c, h, w], &device),
        ))
    }

    /// One colour of one image: `logits` and `grad` `[256, plane]`, `targets` `[plane]`.
    /// Fills the gradient and returns the sum of the log-probabilities of the targets.
    fn categorical_block(logits: &[f32], targets: &[usize], grad: &mut [f32], plane: usize) -> f32 {
        let mut max = vec![f32::NEG_INFINITY; plane];
        for row in logits.chunks(plane) {
            for (m, &v) in max.iter_mut().zip(row) {
                *m = m.max(v);
            }
        }
        // The exponentials go into the gradient's rows, then become the negated softmax.
        let mut sum = vec![0.0f32; plane];
        for (row, out) in logits.chunks(plane).zip(grad.chunks_mut(plane)) {
            for (((o, &v), &m), s) in out.iter_mut().zip(row).zip(&max).zip(&mut sum) {
                *o = (v - m).exp();
                *s += *o;
            }
        }
        for out in grad.chunks_mut(plane) {
            for (o, &s) in out.iter_mut().zip(&sum) {
                *o = -*o / s;
            }
        }
        let mut ll = 0.0;
        for (p, &t) in targets.iter().enumerate() {
            grad[t * plane + p] += 1.0;
            ll += logits[t * plane + p] - max[p] - sum[p].ln();
        }
        ll
    }

    /// Runs `op` compiled for AVX2 where the processor has it, plainly elsewhere; the
    /// arithmetic is the same (no fused multiply-adds are formed), so are the results.
    fn vectorized<Op: pulp::NullaryFnOnce>(op: Op) -> Op::Output {
        #[cfg(target_arch = "x86_64")]
        if let Some(simd) = pulp::x86::V3::try_new() {
            return simd.vectorize(op);
        }
        op.call()
    }

    /// One example's gate: `x` (and `add`) `[2·plane]`, the three outputs `[plane]`.
    struct ForwardOp<'a> {
        /// Whether [`crate::lanes::tanh`], which vectorises, rounds as the C library does.
        tanh_lanes: bool,
        /// The same for [`crate::lanes::sigmoid`].
        sigmoid_lanes: bool,
        x: &'a [f32],
        add: Option<&'a [f32]>,
        out: &'a mut [f32],
        t: &'a mut [f32],
        s: &'a mut [f32],
    }

    impl pulp::NullaryFnOnce for ForwardOp<'_> {
        type Output = ();

        #[inline(always)]
        fn call(self) {
            let n = self.out.len();
            let (xa, xb) = self.x.split_at(n);
            let (aa, ab) = match self.add {
                Some(add) => {
                    let (aa, ab) = add.split_at(n);
                    (Some(aa), Some(ab))
                }
                None => (None, None),
            };
            // tanh first, in a loop of its own: without a call to the C library in it, the
            // compiler evaluates it in vector lanes.
            let t = &mut *self.t;
            match (self.tanh_lanes, aa) {
                (true, Some(aa)) => {
                    for (t, (&a, &d)) in t.iter_mut().zip(xa.iter().zip(aa)) {
                        *t = crate::lanes::tanh(a + d);
                    }
                }
                (true, None) => {
                    for (t, &a) in t.iter_mut().zip(xa) {
                        *t = crate::lanes::tanh(a);
                    }
                }
                (false, Some(aa)) => {
                    for (t, (&a, &d)) in t.iter_mut().zip(xa.iter().zip(aa)) {
                        *t = tanh(a + d);
                    }
                }
                (false, None) => {
                    for (t, &a) in t.iter_mut().zip(xa) {
                        *t = tanh(a);
                    }
                }
            }
            // σ likewise: its argument first, then σ in lanes where they round as the C
            // library, and the C library for the few arguments outside the lanes' range.
            let s = &mut *self.s;
            match ab {
                Some(ab) => {
                    for (s, (&b, &d)) in s.iter_mut().zip(xb.iter().zip(ab)) {
                        *s = b + d;
                    }
                }
                None => s.copy_from_slice(xb),
            }
            if self.sigmoid_lanes {
                let outside = s.iter().any(|&b| crate::lanes::sigmoid_outside(b));
                let arguments = outside.then(|| s.to_vec());
                for s in s.iter_mut() {
                    *s = crate::lanes::sigmoid(*s);
                }
                for (s, &b) in s.iter_mut().zip(arguments.iter().flatten()) {
                    if crate::lanes::sigmoid_outside(b) {
                        *s = sigmoid_f32(b);
                    }
                }
            } else {
                for s in s.iter_mut() {
                    *s = sigmoid_f32(*s);
                }
            }
            for ((out, &t), &s) in self.out.iter_mut().zip(self.t.iter()).zip(self.s.iter()) {
                *out = t * s;
            }
        }
    }

    /// One example's gate backward: `t`, `s`, `g` `[plane]`, `add` `[2·plane]`, the two
    /// halves of the result `[plane]` each.
    struct BackwardOp<'a> {
        t: &'a [f32],
        s: &'a [f32],
        g: &'a [f32],
        add: Option<&'a [f32]>,
        ga: &'a mut [f32],
        gb: &'a mut [f32],
    }

    impl pulp::NullaryFnOnce for BackwardOp<'_> {
        type Output = ();

        #[inline(always)]
        fn call(self) {
            let n = self.ga.len();
            let outputs = self.ga.iter_mut().zip(self.gb.iter_mut());
            let inputs = self.t.iter().zip(self.s).zip(self.g);
            let grads = |((&t, &s), &g): ((&f32, &f32), &f32)| {
                let gs = g * s;
                (gs - gs * t * t, g * t * (s - s * s))
            };
            match self.add {
                Some(add) => {
                    let (aa, ab) = add.split_at(n);
                    for ((ga, gb), (x, (&da, &db))) in outputs.zip(inputs.zip(aa.iter().zip(ab))) {
                        let (a, b) = grads(x);
                        *ga = a + da;
                        *gb = b + db;
                    }
                }
                None => {
                    for ((ga, gb), x) in outputs.zip(inputs) {
                        let (a, b) = grads(x);
                        *ga = a;
                        *gb = b;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::Xoshiro256PlusPlus;
    use rand::{RngExt, SeedableRng};

    /// Values drawn uniformly from `[−scale, scale)` with a fixed seed.
    fn seeded(shape: [usize; 4], scale: f32, seed: u64) -> Tensor<4> {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        let n = shape.iter().product();
        let values: Vec<f32> = (0..n).map(|_| rng.random_range(-scale..scale)).collect();
        Tensor::from_data(TensorData::new(values, shape), &Device::flex())
    }

    #[test]
    fn extreme_inputs_saturate_and_nan_propagates() {
        assert_eq!(tanh(1e4), 1.0);
        assert_eq!(tanh(-1e4), -1.0);
        assert_eq!(tanh(0.0), 0.0);
        assert_eq!(sigmoid_f32(1e4), 1.0);
        assert_eq!(sigmoid_f32(-1e4), 0.0);
        assert!(tanh(f32::NAN).is_nan() && sigmoid_f32(f32::NAN).is_nan());
    }

    fn host_values(t: Tensor<4>) -> Vec<f32> {
        t.into_data().try_to_vec::<f32>().unwrap()
    }

    fn assert_close(label: &str, a: Tensor<4>, b: Tensor<4>) {
        assert_eq!(a.dims(), b.dims(), "{label}");
        for (i, (x, y)) in host_values(a).iter().zip(host_values(b)).enumerate() {
            assert!(
                (x - y).abs() <= 4e-7 * (x.abs().max(y.abs()) + 1.0),
                "{label}[{i}]: single pass {x}, tensor operations {y}"
            );
        }
    }

    #[test]
    fn single_pass_gate_equals_the_tensor_operations_bit_for_bit_forward() {
        let pre = seeded([3, 10, 4, 5], 6.0, 1);
        let add = seeded([3, 10, 4, 5], 2.0, 2);
        let g = seeded([3, 5, 4, 5], 2.0, 3);
        for addend in [None, Some(add)] {
            let fast = gate_forward(pre.clone(), addend.clone());
            let slow = gate_forward_ops(pre.clone(), addend.clone());
            assert_eq!(host_values(fast.0), host_values(slow.0), "product");
            assert_eq!(host_values(fast.1.clone()), host_values(slow.1), "tanh");
            assert_eq!(host_values(fast.2.clone()), host_values(slow.2), "sigmoid");

            let (t, s) = (fast.1, fast.2);
            let fast = gate_backward(t.clone(), s.clone(), g.clone(), addend.clone());
            let slow = gate_backward_ops(t, s, g.clone(), addend);
            assert_close("backward", fast, slow);
        }
    }

    /// Inputs across the range, where the sigmoid's lanes hand over to the C library (|x| ≥ 88)
    /// and tanh saturates, give the tensor operations' bits (NaNs: a NaN).
    #[test]
    fn extreme_gate_inputs_equal_the_tensor_operations_bit_for_bit() {
        let special = [
            0.0,
            -0.0,
            1e-30,
            -1e-30,
            0.17,
            1.0,
            8.2,
            21.99,
            22.0,
            87.99,
            88.0,
            -88.0,
            100.0,
            -100.0,
            104.0,
            -104.0,
            1e4,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NAN,
        ];
        let wide = host_values(seeded([1, 2, 8, 10], 120.0, 9));
        let values: Vec<f32> = special
            .iter()
            .copied()
            .cycle()
            .take(80)
            .chain(wide)
            .collect();
        let pre = Tensor::<4>::from_data(TensorData::new(values, [3, 2, 4, 10]), &Device::flex());
        let fast = gate_forward(pre.clone(), None);
        let slow = gate_forward_ops(pre, None);
        for (name, a, b) in [("tanh", fast.1, slow.1), ("sigmoid", fast.2, slow.2)] {
            for (x, y) in host_values(a).into_iter().zip(host_values(b)) {
                let same = x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan());
                assert!(same, "{name}: {x:e} against {y:e}");
            }
        }
    }

    #[test]
    fn categorical_head_matches_a_double_precision_softmax() {
        let device = Device::flex();
        let (b, c, h, w) = (2, 3, 2, 3);
        let logits = seeded([b, 256 * c, h, w], 8.0, 4);
        let targets: Vec<i64> = (0..b * c * h * w).map(|i| (i * 97 % 256) as i64).collect();
        let targets =
            Tensor::<4, Int>::from_data(TensorData::new(targets.clone(), [b, c, h, w]), &device);
        let (ll, grad) = categorical_head(&logits, &targets).expect("the CPU device");
        let (ll, grad) = (
            ll.into_data().try_to_vec::<f32>().unwrap(),
            host_values(grad),
        );
        let x = host_values(logits);
        let t: Vec<i64> = targets.into_data().iter::<i64>().collect();

        let plane = h * w;
        let mut want_ll = vec![0.0f64; b];
        for n in 0..b {
            for colour in 0..c {
                for p in 0..plane {
                    let at = |v: usize| ((n * c + colour) * 256 + v) * plane + p;
                    let z: f64 = (0..256).map(|v| f64::from(x[at(v)]).exp()).sum();
                    let target = t[(n * c + colour) * plane + p] as usize;
                    want_ll[n] += f64::from(x[at(target)]) - z.ln();
                    for v in 0..256 {
                        let want = f64::from(u8::from(v == target)) - f64::from(x[at(v)]).exp() / z;
                        let got = f64::from(grad[at(v)]);
                        // The probability is exact to the f32 sum of 256 exponentials, at
                        // worst 256 roundings of 2⁻²⁴ (1.5e-5) relative.
                        let prob = f64::from(x[at(v)]).exp() / z;
                        let bound = 2e-5 * prob + 1e-7;
                        assert!(
                            (got - want).abs() < bound,
                            "grad {n} {colour} {v} {p}: {got} vs {want}"
                        );
                    }
                }
            }
        }
        for (got, want) in ll.iter().zip(&want_ll) {
            assert!(
                (f64::from(*got) - want).abs() < 1e-5 * want.abs(),
                "ll {got} vs {want}"
            );
        }
    }

    #[test]
    fn the_single_pass_runs_on_the_cpu_device_only() {
        let pre = Tensor::<4>::zeros([1, 2, 1, 1], &Device::flex());
        assert!(host::gate_forward(&pre, None).is_some());
        let odd = Tensor::<4>::zeros([1, 3, 1, 1], &Device::flex());
        assert!(host::gate_forward(&odd, None).is_none());
    }
}
