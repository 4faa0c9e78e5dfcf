//! Packing the bits of one bitset that lie under another's (`pext` over a whole bitset):
//! how a work item of the search takes its children's bitsets, projected onto its own
//! samples, out of the class's dense bitsets (see `search::extract_children`).
//!
//! The one place in the crate with `unsafe` code: the BMI2 instruction `pext`, used only
//! where the CPU has it (checked at run time) and runs it fast.
#![allow(unsafe_code)]

use std::sync::OnceLock;

/// Whether `pext` (BMI2) is there and fast: Intel since Haswell, AMD since Zen 3 (Zen 1
/// and 2 run it in microcode, tens of times slower).
#[cfg(target_arch = "x86_64")]
pub(crate) fn fast_pext() -> bool {
    static FAST: OnceLock<bool> = OnceLock::new();
    *FAST.get_or_init(|| {
        if !std::is_x86_feature_detected!("bmi2") {
            return false;
        }
        #[allow(unused_unsafe)]
        // SAFETY: every x86-64 CPU has `cpuid`.
        let (vendor, version) = unsafe {
            (
                core::arch::x86_64::__cpuid(0),
                core::arch::x86_64::__cpuid(1).eax,
            )
        };
        let name = [vendor.ebx, vendor.edx, vendor.ecx];
        let intel = name == [0x756e_6547, 0x4965_6e69, 0x6c65_746e]; // "GenuineIntel"
        let family = ((version >> 8) & 0xf) + ((version >> 20) & 0xff);
        intel || family >= 0x19
    })
}

#[cfg(not(target_arch = "x86_64"))]
pub(crate) fn fast_pext() -> bool {
    false
}

/// `out` (its words, zeroed) = the bits of `src` where `mask` has a bit, packed from bit 0
/// on in order (as `pext` over the whole bitset would).
pub(crate) fn compress(src: &[u64], mask: &[u64], out: &mut [u64]) {
    #[cfg(target_arch = "x86_64")]
    if fast_pext() {
        // SAFETY: `fast_pext` found BMI2.
        unsafe { compress_bmi2(src, mask, out) };
        return;
    }
    compress_soft(src, mask, out);
}

/// The loop of [`compress`] over `$src`, `$mask` into `$out`, with `$pext` for one word
/// (a macro, so that the BMI2 version has the intrinsic inlined in its own body).
macro_rules! compress_loop {
    ($src:expr, $mask:expr, $out:expr, $pext:expr) => {{
        let (mut acc, mut filled, mut o) = (0u64, 0u32, 0usize);
        for (&s, &m) in $src.iter().zip($mask) {
            if m == 0 {
                continue;
            }
            let v = $pext(s, m);
            acc |= v << filled;
            let total = filled + m.count_ones();
            if total >= 64 {
                $out[o] = acc;
                o += 1;
                acc = if filled == 0 { 0 } else { v >> (64 - filled) };
                filled = total - 64;
            } else {
                filled = total;
            }
        }
        if filled > 0 {
            $out[o] = acc;
        }
    }};
}

/// [`compress`] with the BMI2 instruction `pext`.
///
/// # Safety
/// The CPU must have BMI2 (see [`fast_pext`]).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "bmi2")]
unsafe fn compress_bmi2(src: &[u64], mask: &[u64], out: &mut [u64]) {
    use core::arch::x86_64::_pext_u64;
    compress_loop!(src, mask, out, _pext_u64);
}

/// [`compress`] without BMI2 (for the tests, and for safety where `pext` is not fast).
fn compress_soft(src: &[u64], mask: &[u64], out: &mut [u64]) {
    compress_loop!(src, mask, out, soft_pext);
}

/// `pext` of one word, bit by bit.
fn soft_pext(src: u64, mut mask: u64) -> u64 {
    let (mut out, mut k) = (0u64, 0);
    while mask != 0 {
        let low = mask & mask.wrapping_neg();
        if src & low != 0 {
            out |= 1 << k;
        }
        k += 1;
        mask &= mask - 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::xorshift;

    /// The bits of `src` under `mask`, packed, one bit at a time.
    fn reference(src: &[u64], mask: &[u64]) -> Vec<u64> {
        let mut out = vec![
            0u64;
            mask.iter()
                .map(|m| m.count_ones() as usize)
                .sum::<usize>()
                .div_ceil(64)
        ];
        let mut k = 0;
        for (w, &m) in mask.iter().enumerate() {
            for b in 0..64 {
                if m >> b & 1 == 1 {
                    if src[w] >> b & 1 == 1 {
                        out[k / 64] |= 1 << (k % 64);
                    }
                    k += 1;
                }
            }
        }
        out
    }

    /// Both ways of packing (the BMI2 one where this machine has it) agree with the
    /// definition, on masks empty, full and in between, of lengths 0 to 40 words.
    #[test]
    fn compress_packs_the_bits_under_the_mask() {
        let mut next = xorshift(0x9e37_79b9_7f4a_7c15u64);
        for case in 0..3000 {
            let words = case % 41;
            let mask: Vec<u64> = (0..words)
                .map(|_| match next() % 5 {
                    0 => 0,
                    1 => !0,
                    2 => next() & next() & next(),
                    _ => next(),
                })
                .collect();
            let src: Vec<u64> = (0..words).map(|_| next()).collect();
            let expected = reference(&src, &mask);
            let mut out = vec![0u64; expected.len()];
            compress(&src, &mask, &mut out);
            assert_eq!(out, expected, "case {case}");
            let mut soft = vec![0u64; expected.len()];
            compress_soft(&src, &mask, &mut soft);
            assert_eq!(soft, expected, "case {case}");
        }
    }

    #[test]
    fn soft_pext_is_pext() {
        assert_eq!(soft_pext(0b1011_0110, 0b1111_0000), 0b1011);
        assert_eq!(soft_pext(!0, 0b1010_1010), 0b1111);
        assert_eq!(
            soft_pext(0x8000_0000_0000_0001, 0x8000_0000_0000_0001),
            0b11
        );
        assert_eq!(soft_pext(123, 0), 0);
    }
}
