//! `tanh` and the logistic sigmoid in single precision, written so that the compiler
//! evaluates eight lanes at once, with the results of the C library's scalar functions bit for
//! bit where those are glibc's classic ones (2.36 here; other libraries are checked, below).
//!
//! The gate's forward pass must round exactly as Burn's CPU backend does, which calls the C
//! library's `tanhf` and `expf` one element at a time (see [`crate::fused`] for why). Those
//! calls are the largest cost of the gate.
//!
//! `tanh` is the classic SunPro algorithm:
//!
//! - `tanh(x) = 1 − 2/(e^{2|x|} − 1 + 2)` for `1 ≤ |x| < 22`, and `−m/(m + 2)` with
//!   `m = e^{−2|x|} − 1` below 1, with the sign of `x`; `±1` from 22 on; `x` itself below
//!   `2^−55`;
//! - `e^y − 1` by reduction to `y = k·ln 2 + r` (`ln 2` split into a head and a tail, with the
//!   rounding error of `r` carried separately), a rational approximation of `e^r − 1` whose
//!   denominator is a fixed polynomial in `r²/2`, and a reconstruction that depends on `k`.
//!
//! [`tanh`] evaluates every case in every lane and selects, in the same operations and order,
//! so each lane rounds exactly as the scalar code does.
//!
//! `e^x` (for the sigmoid, `1/(1 + e^{−x})` or `e^x/(1 + e^x)`, as Burn's backend writes it)
//! follows glibc's single-precision exponential on processors with fused multiply-adds: in
//! double precision, `x·32/ln 2 = k + r` rounded with a shifter, `2^{k/32}` from a table of 32
//! entries with `k`'s high bits added to its exponent, and a cubic in `r`, each step one fused
//! multiply-add where glibc has one. Arguments of magnitude 88 and above (where glibc turns to
//! its overflow and underflow paths) and NaNs are recomputed by the C library afterwards.
//!
//! Other C libraries (musl, macOS, a later glibc with correctly rounded functions, glibc's
//! `expf` without fused multiply-adds) may round some inputs differently. [`tanh_matches`] and
//! [`sigmoid_matches`] compare the lanes with the C library on a million inputs spread over
//! every exponent, once per process, and the gate uses the lanes only where they agree. On the
//! development machine (glibc 2.36, an AMD EPYC with AVX-512) both were compared with the C
//! library on all 2³² inputs, through the vectorised code the gate runs, and agreed on every
//! one; the tests compare a sample four times denser than the start-up check, and every input
//! near the boundaries between cases.

use std::sync::OnceLock;

const LN2_HI: f32 = f32::from_bits(0x3f31_7180);
const LN2_LO: f32 = f32::from_bits(0x3717_f7d1);
const INV_LN2: f32 = f32::from_bits(0x3fb8_aa3b);
const Q1: f32 = f32::from_bits(0xbd08_8889);
const Q2: f32 = f32::from_bits(0x3ad0_0d01);
const Q3: f32 = f32::from_bits(0xb8a6_70cd);
const Q4: f32 = f32::from_bits(0x3686_7e54);
const Q5: f32 = f32::from_bits(0xb457_edbb);

/// `x` with its exponent raised by `k` (wrapping, as the scalar code's integer addition).
#[inline(always)]
fn scale(x: f32, k: i32) -> f32 {
    f32::from_bits((x.to_bits() as i32).wrapping_add(k.wrapping_shl(23)) as u32)
}

/// `v` rounded toward zero, as an integer, for `|v| < 2^22`; other values give unspecified
/// results. Unlike `as i32`, whose saturation the compiler does lane by lane, this stays in
/// vector lanes: adding `1.5 · 2^23` leaves the integer in the low bits of the sum.
#[inline(always)]
fn truncate(v: f32) -> i32 {
    const SHIFT: f32 = 12_582_912.0;
    ((v.trunc() + SHIFT).to_bits() as i32).wrapping_sub(SHIFT.to_bits() as i32)
}

/// `e^y − 1` for `−2 < y < 44`, the arguments [`tanh`] passes; other arguments give
/// unspecified values (no panic), which [`tanh`] discards.
#[inline(always)]
fn expm1(y: f32) -> f32 {
    let hy = y.to_bits() & 0x7fff_ffff;
    let negative = y.is_sign_negative();
    // Reduction: y = k·ln2 + (x + c), |x| ≤ ln2/2, for |y| > ln2/2.
    let reduce = hy > 0x3eb1_7218;
    let k_far = truncate(INV_LN2 * y + if negative { -0.5 } else { 0.5 });
    let k_near = if negative { -1 } else { 1 };
    let k = match (reduce, hy < 0x3f85_1592) {
        (false, _) => 0,
        (true, true) => k_near,
        (true, false) => k_far,
    };
    let kf = k as f32;
    let hi = y - kf * LN2_HI;
    let lo = kf * LN2_LO;
    let reduced = hi - lo;
    let x = if reduce { reduced } else { y };
    let c = if reduce { (hi - reduced) - lo } else { 0.0 };

    let hfx = 0.5 * x;
    let hxs = x * hfx;
    let r1 = 1.0 + hxs * (Q1 + hxs * (Q2 + hxs * (Q3 + hxs * (Q4 + hxs * Q5))));
    let t = 3.0 - r1 * hfx;
    let e = hxs * ((r1 - t) / (6.0 - x * t));
    let unreduced = x - (x * e - hxs);

    let e = (x * (e - c) - c) - hxs;
    let minus_one = 0.5 * (x - e) - 0.5;
    let one = if x < -0.25 {
        -2.0 * (e - (x + 0.5))
    } else {
        1.0 + 2.0 * (x - e)
    };
    let far = scale(1.0 - (e - x), k) - 1.0;
    let head = f32::from_bits(0x3f80_0000u32.wrapping_sub(0x0100_0000u32.wrapping_shr(k as u32)));
    let middle = scale(head - (e - x), k);
    let tail = f32::from_bits((0x7f_i32.wrapping_sub(k).wrapping_shl(23)) as u32);
    let upper = scale((x - (e + tail)) + 1.0, k);

    if hy < 0x3300_0000 {
        y
    } else if k == 0 {
        unreduced
    } else if k == -1 {
        minus_one
    } else if k == 1 {
        one
    } else if k <= -2 || k > 56 {
        far
    } else if k < 23 {
        middle
    } else {
        upper
    }
}

/// `tanh(x)`, rounded as the classic SunPro `tanhf` rounds it; see the module notes.
#[inline(always)]
pub(crate) fn tanh(x: f32) -> f32 {
    let bits = x.to_bits();
    let ix = bits & 0x7fff_ffff;
    let ax = f32::from_bits(ix);
    let large = ix >= 0x3f80_0000;
    let m = expm1(if large { 2.0 * ax } else { -2.0 * ax });
    let z = if large {
        1.0 - 2.0 / (m + 2.0)
    } else {
        -m / (m + 2.0)
    };
    let z = if ix >= 0x41b0_0000 { 1.0 } else { z };
    let signed = if bits >> 31 == 0 { z } else { -z };
    // Below 2^−55 tanh rounds to x itself; a NaN stays itself.
    if !(0x2400_0000..=0x7f80_0000).contains(&ix) {
        x
    } else {
        signed
    }
}

/// Inputs spread over every exponent and sign: every `stride`-th bit pattern.
fn sample(stride: u32) -> impl Iterator<Item = f32> {
    (0..=u32::MAX / stride).map(move |i| f32::from_bits(i.wrapping_mul(stride)))
}

/// `2^{i/32}` rounded to double precision, less `i` in units of its exponent's last place
/// (`i << 47`), so that adding `k << 47` for any `k ≡ i (mod 32)` gives `2^{k/32}`.
const EXP_TABLE: [u64; 32] = [
    0x3ff0_0000_0000_0000,
    0x3fef_d9b0_d315_8574,
    0x3fef_b558_6cf9_890f,
    0x3fef_9301_d012_5b51,
    0x3fef_72b8_3c7d_517b,
    0x3fef_5487_3168_b9aa,
    0x3fef_387a_6e75_6238,
    0x3fef_1e9d_f51f_dee1,
    0x3fef_06fe_0a31_b715,
    0x3fee_f1a7_373a_a9cb,
    0x3fee_dea6_4c12_3422,
    0x3fee_ce08_6061_892d,
    0x3fee_bfda_d536_2a27,
    0x3fee_b42b_569d_4f82,
    0x3fee_ab07_dd48_5429,
    0x3fee_a47e_b03a_5585,
    0x3fee_a09e_667f_3bcd,
    0x3fee_9f75_e8ec_5f74,
    0x3fee_a114_73eb_0187,
    0x3fee_a589_994c_ce13,
    0x3fee_ace5_422a_a0db,
    0x3fee_b737_b0cd_c5e5,
    0x3fee_c491_82a3_f090,
    0x3fee_d503_b23e_255d,
    0x3fee_e89f_995a_d3ad,
    0x3fee_ff76_f2fb_5e47,
    0x3fef_199b_dd85_529c,
    0x3fef_3720_dcef_9069,
    0x3fef_5818_dcfb_a487,
    0x3fef_7c97_337b_9b5f,
    0x3fef_a4af_a2a4_90da,
    0x3fef_d076_5b6e_4540,
];
/// `32/ln 2`.
const INV_LN2_32: f64 = f64::from_bits(0x4047_1547_652b_82fe);
/// `1.5 · 2^52`: adding it rounds a double below `2^51` in magnitude to an integer, which
/// lands in the low bits.
const EXP_SHIFT: f64 = f64::from_bits(0x4338_0000_0000_0000);
/// The cubic's coefficients of `r³`, `r²` and `r` (the constant is 1), for `r` in units of
/// `ln 2/32`.
const EXP_POLY: [f64; 3] = [
    f64::from_bits(0x3ebc_6af8_4b91_2394),
    f64::from_bits(0x3f2e_bfce_50fa_c4f3),
    f64::from_bits(0x3f96_2e42_ff0c_52d6),
];

/// `e^x` for `|x| < 88`, rounded as glibc's `expf` with fused multiply-adds; other arguments
/// give unspecified values (no panic).
#[inline(always)]
fn exp(x: f32) -> f32 {
    let xd = f64::from(x);
    let shifted = INV_LN2_32.mul_add(xd, EXP_SHIFT);
    let k = shifted.to_bits();
    let kd = shifted - EXP_SHIFT;
    let r = INV_LN2_32.mul_add(xd, -kd);
    let scale = f64::from_bits(EXP_TABLE[(k % 32) as usize].wrapping_add(k << 47));
    let cubic = EXP_POLY[0].mul_add(r, EXP_POLY[1]);
    let linear = EXP_POLY[2].mul_add(r, 1.0);
    (cubic.mul_add(r * r, linear) * scale) as f32
}

/// Whether [`sigmoid`]'s lanes do not apply to `x`: `|x| ≥ 88` or a NaN.
#[inline(always)]
pub(crate) fn sigmoid_outside(x: f32) -> bool {
    x.is_nan() || x.abs() >= 88.0
}

/// The logistic sigmoid `1/(1 + e^{−x})` for `x ≥ 0` and `e^x/(1 + e^x)` below, with
/// glibc's `expf`; for `|x| < 88` (see [`sigmoid_outside`]), other arguments give
/// unspecified values (no panic).
#[inline(always)]
pub(crate) fn sigmoid(x: f32) -> f32 {
    // Both branches take the exponential of −|x|.
    let e = exp(-x.abs());
    if x >= 0.0 {
        1.0 / (1.0 + e)
    } else {
        e / (1.0 + e)
    }
}

/// Whether [`tanh`] gives the C library's `tanhf` bit for bit on every 4,099th bit pattern
/// (a million inputs, every exponent, both signs; NaNs only need to stay NaN). Computed once
/// per process, in about 10 ms.
pub(crate) fn tanh_matches() -> bool {
    static MATCHES: OnceLock<bool> = OnceLock::new();
    *MATCHES.get_or_init(|| agrees_on(sample(4099), tanh, f32::tanh))
}

/// Whether [`sigmoid`] gives `reference` (the sigmoid through the C library's `expf`) bit for
/// bit on every 4,099th bit pattern where its lanes apply. Computed once per process.
pub(crate) fn sigmoid_matches(reference: fn(f32) -> f32) -> bool {
    static MATCHES: OnceLock<bool> = OnceLock::new();
    *MATCHES.get_or_init(|| {
        let inputs = sample(4099).filter(|&x| !sigmoid_outside(x));
        agrees_on(inputs, sigmoid, reference)
    })
}

fn agrees_on(
    inputs: impl Iterator<Item = f32>,
    fast: impl Fn(f32) -> f32,
    reference: impl Fn(f32) -> f32,
) -> bool {
    inputs.into_iter().all(|x| {
        let (fast, libm) = (fast(x), reference(x));
        fast.to_bits() == libm.to_bits() || (fast.is_nan() && libm.is_nan())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Distance in units in the last place between two finite floats of the same sign.
    fn ulps(a: f32, b: f32) -> u32 {
        (a.to_bits() as i64 - b.to_bits() as i64).unsigned_abs() as u32
    }

    #[test]
    fn within_two_units_in_the_last_place_of_double_precision_tanh() {
        for x in sample(65_537) {
            let want = f64::from(x).tanh() as f32;
            let got = tanh(x);
            if x.is_nan() {
                assert!(got.is_nan());
            } else {
                assert!(
                    ulps(got, want) <= 2,
                    "tanh({x:e}) = {got:e}, double rounds to {want:e}"
                );
            }
        }
    }

    #[test]
    fn the_cases_at_their_boundaries() {
        assert_eq!(tanh(0.0).to_bits(), 0.0f32.to_bits());
        assert_eq!(tanh(-0.0).to_bits(), (-0.0f32).to_bits());
        assert_eq!(tanh(f32::INFINITY), 1.0);
        assert_eq!(tanh(f32::NEG_INFINITY), -1.0);
        assert_eq!(tanh(22.0), 1.0);
        assert_eq!(tanh(-30.0), -1.0);
        assert!(tanh(f32::NAN).is_nan());
        let tiny = f32::from_bits(0x23ff_ffff);
        assert_eq!(tanh(tiny), tiny);
        assert_eq!(tanh(-f32::MIN_POSITIVE), -f32::MIN_POSITIVE);
        // Just inside each reduction case of e^y − 1 (y = ±2x): tanh stays odd and below 1.
        for x in [
            2e-8f32, 0.17, 0.18, 0.51, 0.52, 0.99, 1.0, 8.0, 8.2, 19.5, 19.7, 21.99,
        ] {
            assert_eq!(tanh(-x), -tanh(x));
            assert!(tanh(x) > 0.0 && tanh(x) <= 1.0, "tanh({x})");
        }
    }

    /// Where the self-check lets the gate use the lanes, they agree with the C library on a
    /// sample four times denser than the check's own, and on every input near the case
    /// boundaries.
    #[test]
    fn where_the_check_passes_the_lanes_round_as_the_c_library() {
        if !tanh_matches() {
            // Another C library: the gate keeps calling it, which its own test covers.
            assert!(!agrees_on(sample(4099), tanh, f32::tanh));
            return;
        }
        assert!(agrees_on(sample(1021), tanh, f32::tanh));
        let near = |b: u32| (b - 4096..b + 4096).map(f32::from_bits);
        // In x: tanh's own cases (2^−55, 1, 22), then those of e^{∓2|x|} − 1 halved (2^−26,
        // ln2/4, 3·ln2/4) and where its k reaches 23 and 57.
        let reconstruction = [22.5 / 2.0, 56.5 / 2.0].map(|k: f32| (k / INV_LN2).to_bits());
        let cases = [
            0x2400_0000,
            0x3f80_0000,
            0x41b0_0000,
            0x3280_0000,
            0x3e31_7218,
            0x3f05_1592,
        ];
        for boundary in cases.into_iter().chain(reconstruction) {
            assert!(
                agrees_on(near(boundary), tanh, f32::tanh),
                "near {boundary:#x}"
            );
            let negative = near(boundary | 0x8000_0000);
            assert!(agrees_on(negative, tanh, f32::tanh), "near -{boundary:#x}");
        }
    }

    #[test]
    fn the_exponential_is_within_one_unit_in_the_last_place_of_double_precision() {
        for x in sample(65_537).filter(|x| x.abs() < 88.0) {
            let want = f64::from(x).exp() as f32;
            let got = exp(x);
            assert!(
                ulps(got, want) <= 1,
                "exp({x:e}) = {got:e}, double rounds to {want:e}"
            );
        }
        assert_eq!(exp(0.0), 1.0);
        assert_eq!(sigmoid(0.0), 0.5);
        assert!(sigmoid_outside(88.0) && sigmoid_outside(-90.0) && sigmoid_outside(f32::NAN));
        assert!(!sigmoid_outside(87.99) && !sigmoid_outside(-87.99));
    }

    /// Where the self-check lets the gate use the lanes, they agree with the C library on a
    /// denser sample and around every table entry's reduction boundary.
    #[test]
    fn where_the_check_passes_the_sigmoid_lanes_round_as_the_c_library() {
        if !sigmoid_matches(crate::fused::sigmoid_f32) {
            let inputs = sample(4099).filter(|&x| !sigmoid_outside(x));
            assert!(!agrees_on(inputs, sigmoid, crate::fused::sigmoid_f32));
            return;
        }
        let inputs = sample(1021).filter(|&x| !sigmoid_outside(x));
        assert!(agrees_on(inputs, sigmoid, crate::fused::sigmoid_f32));
        // Where x·32/ln 2 crosses a half-integer, the rounding to k changes.
        for k in -4000..4000 {
            let x = (k as f32 + 0.5) / INV_LN2_32 as f32;
            let near = (x.to_bits() - 64..x.to_bits() + 64).map(f32::from_bits);
            let near: Vec<f32> = near.filter(|&x| !sigmoid_outside(x)).collect();
            assert!(
                agrees_on(near.into_iter(), sigmoid, crate::fused::sigmoid_f32),
                "near {x}"
            );
        }
    }
}
