//! Counter-based hashing: every random choice is a pure function of `(seed, stream, counter)`.
//!
//! The hash is SplitMix64's output function (Steele, Lea and Flood, *Fast splittable
//! pseudorandom number generators*, OOPSLA 2014; the mixing constants are Stafford's
//! "variant 13"): counter `j` of the stream with key `κ` hashes to
//!
//! `h(κ, j) = mix(κ + (j + 1)·γ)`, with `γ = 0x9E3779B97F4A7C15` (the golden ratio · 2⁶⁴)
//!
//! which is the `j`-th output of a SplitMix64 generator seeded at `κ`. Keys of separate
//! streams come from the seed through the same function, so streams never share state for any
//! practical input length. No state is kept between calls: any coordinate's nonzeros can be
//! computed alone, in any order, on any thread, and always come out the same.

/// The SplitMix64 increment `γ`: the golden ratio times 2⁶⁴, odd.
pub(crate) const GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

/// Domain tag of the sparse JL streams (ASCII "sparseJL").
pub(crate) const DOMAIN_SPARSE: u64 = 0x7370_6172_7365_4A4C;

/// Domain tag of the very sparse streams (ASCII "verysprs").
pub(crate) const DOMAIN_VERY_SPARSE: u64 = 0x7665_7279_7370_7273;

/// Domain tag of the Gaussian streams (ASCII "gaussian").
pub(crate) const DOMAIN_GAUSSIAN: u64 = 0x6761_7573_7369_616E;

/// SplitMix64's finaliser: a bijection of `u64` whose output bits each depend on every input
/// bit.
#[inline(always)]
pub(crate) fn mix(z: u64) -> u64 {
    let z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    let z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Output `j` of the SplitMix64 stream with key `key`.
#[inline(always)]
pub(crate) fn at(key: u64, j: u64) -> u64 {
    mix(key.wrapping_add(j.wrapping_add(1).wrapping_mul(GAMMA)))
}

/// The key of stream `stream` of `seed` within `domain`.
pub(crate) fn stream_key(seed: u64, domain: u64, stream: u64) -> u64 {
    at(mix(seed ^ domain), stream)
}

/// A row in `0..size` from 31 uniform bits `v < 2³¹`: `⌊v · size / 2³¹⌋`.
///
/// Each row has probability within `size / 2³¹` (relative) of `1 / size`.
#[inline(always)]
pub(crate) fn below31(v: u64, size: u64) -> u64 {
    (v * size) >> 31
}

/// An integer in `0..m` from 63 uniform bits `v < 2⁶³`: `⌊v · m / 2⁶³⌋`.
#[inline(always)]
pub(crate) fn below63(v: u64, m: u64) -> u64 {
    ((u128::from(v) * u128::from(m)) >> 63) as u64
}

/// A uniform number in `(0, 1]` from the top 53 bits of `h`.
#[inline]
pub(crate) fn unit_open_closed(h: u64) -> f64 {
    ((h >> 11) + 1) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// A uniform number in `[0, 1)` from the top 53 bits of `h`.
#[inline]
pub(crate) fn unit_closed_open(h: u64) -> f64 {
    (h >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mix_matches_splitmix64_reference_outputs() {
        // The first three outputs of SplitMix64 seeded at 1234567, from the reference C
        // implementation (Vigna, splitmix64.c): state += γ; return mix(state).
        let outputs: Vec<u64> = (0..3).map(|j| at(1_234_567, j)).collect();
        assert_eq!(
            outputs,
            vec![
                6_457_827_717_110_365_317,
                3_203_168_211_198_807_973,
                9_817_491_932_198_370_423
            ]
        );
    }

    #[test]
    fn below31_covers_its_range_and_stays_inside() {
        assert_eq!(below31(0, 7), 0);
        assert_eq!(below31((1 << 31) - 1, 7), 6);
        assert_eq!(below63((1 << 63) - 1, 5), 4);
        assert_eq!(below63(0, 5), 0);
    }

    #[test]
    fn uniforms_stay_in_their_intervals() {
        assert!(unit_open_closed(0) > 0.0);
        assert_eq!(unit_open_closed(u64::MAX), 1.0);
        assert_eq!(unit_closed_open(0), 0.0);
        assert!(unit_closed_open(u64::MAX) < 1.0);
    }
}
