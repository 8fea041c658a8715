//! Where the fields of a lookup key sit, shared by normalisation (which checks that a
//! declared concatenation fits) and compilation (which lays keys and set elements out).
//!
//! A key is four 128-bit lanes; [`key_layout`] places each field, [`Slot`] reads and writes
//! it, and [`range_of`] gives the low/high bounds a set element part covers.

use super::ast::Expr;

type R<T> = Result<T, String>;

/// Where a field of a (concatenated) key sits in the four 128-bit lanes of a set key:
/// `lanes[lane] |= (value & mask) << shift`. Keys of up to four fields use one lane per
/// field; longer ones (up to the kernel's 16 fields in 64 bytes of registers,
/// `NFT_REG32_COUNT`) pack several fields per lane ([`key_layout`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Slot {
    /// Lane.
    pub(crate) lane: u8,
    /// Bit offset in the lane.
    pub(crate) shift: u8,
    /// Field mask (before the shift).
    pub(crate) mask: u128,
}

impl Slot {
    /// The field's value in a packed key.
    #[inline]
    pub(crate) fn get(&self, k: &[u128; 4]) -> u128 {
        (k[self.lane as usize] >> self.shift) & self.mask
    }
    /// The field's value where it sits in its lane.
    #[inline]
    fn placed(&self, v: u128) -> u128 {
        (v & self.mask) << self.shift
    }

    /// Adds the field's value to a packed key.
    #[inline]
    pub(crate) fn put(&self, k: &mut [u128; 4], v: u128) {
        k[self.lane as usize] |= self.placed(v);
    }

    /// [`Slot::put`] into a key being built as 64-bit halves (see [`Halves`]).
    #[inline]
    pub(crate) fn put_halves(&self, k: &mut Halves, v: u128) {
        let x = self.placed(v);
        let l = self.lane as usize;
        k.lo[l] |= x as u64;
        k.hi[l] |= (x >> 64) as u64;
    }
}

/// A packed key under construction as 64-bit halves: a `u128` lane updated in memory is
/// written as two 8-byte stores, and reading the key back as 16-byte loads right after
/// stalls on store forwarding (perf: 35 % of `key_val`, the datacenter ruleset's set keys).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Halves {
    lo: [u64; 4],
    hi: [u64; 4],
}

impl Halves {
    /// The packed key.
    #[inline]
    pub(crate) fn key(&self) -> [u128; 4] {
        std::array::from_fn(|i| u128::from(self.lo[i]) | u128::from(self.hi[i]) << 64)
    }
}

/// The lane layout of a key whose fields are `widths` bits wide. The kernel keeps a
/// concatenation in 32-bit registers, each field rounded up to a register (`NFT_REG32_SIZE`),
/// 16 registers at most (`NFT_REG32_COUNT`, 64 bytes); here a field takes its rounded width
/// in a 128-bit lane, lanes filled first-fit by decreasing width, which always fits what
/// fits in 64 bytes of registers since rounded widths are 32, 64 or 128 bits.
pub(crate) fn key_layout(widths: &[u32]) -> R<Vec<Slot>> {
    let mask = |w: u32| {
        if w >= 128 {
            u128::MAX
        } else {
            (1u128 << w) - 1
        }
    };
    let padded: Vec<u32> = widths.iter().map(|w| w.div_ceil(32).max(1) * 32).collect();
    let bytes: u32 = padded.iter().sum::<u32>() / 8;
    if widths.len() > 16 || bytes > 64 {
        return Err(format!(
            "a concatenation of {} fields ({bytes} bytes of registers) exceeds the kernel's 64-byte key (NFT_REG32_COUNT registers)",
            widths.len()
        ));
    }
    if widths.len() <= 4 {
        return Ok((0..widths.len())
            .map(|i| Slot {
                lane: i as u8,
                shift: 0,
                mask: u128::MAX,
            })
            .collect());
    }
    let mut order: Vec<usize> = (0..widths.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(padded[i]));
    let mut used = [0u32; 4];
    let mut out = vec![
        Slot {
            lane: 0,
            shift: 0,
            mask: 0
        };
        widths.len()
    ];
    for i in order {
        let Some(lane) = (0..4).find(|&l| used[l] + padded[i] <= 128) else {
            return Err("unsupported: this concatenation does not fit offsim's key lanes".into());
        };
        out[i] = Slot {
            lane: lane as u8,
            shift: used[lane] as u8,
            mask: mask(widths[i]),
        };
        used[lane] += padded[i];
    }
    Ok(out)
}

/// Low/high of a set element part.
pub(crate) fn range_of(e: &Expr) -> R<(u128, u128)> {
    match e {
        Expr::Value(v) => Ok((v.v, v.v)),
        Expr::Prefix(a, len) => {
            let Expr::Value(v) = **a else {
                return Err("invalid prefix".into());
            };
            let bits = v.ty.bits();
            let host = if bits - len >= 128 {
                u128::MAX
            } else {
                (1u128 << (bits - len)) - 1
            };
            Ok((v.v & !host, (v.v | host) & v.ty.mask()))
        }
        Expr::Range(a, b) => {
            let (Expr::Value(x), Expr::Value(y)) = (&**a, &**b) else {
                return Err("invalid range".into());
            };
            Ok((x.v, y.v))
        }
        other => Err(format!("unsupported: set element {other}")),
    }
}

#[cfg(test)]
mod test {
    use super::*;

    /// A key built in halves is the key [`Slot::put`] builds, whatever lane and shift its
    /// fields take (a 128-bit field, fields sharing a lane, one crossing the 64-bit middle).
    #[test]
    fn halves_build_the_same_key() {
        let slots = key_layout(&[32, 16, 128, 64, 8, 32]).unwrap();
        let vals = [
            0xdead_beef_u128,
            0xffff,
            u128::MAX - 12345,
            0x0123_4567_89ab_cdef,
            0x1ff, // wider than its 8 bits: masked
            0x8000_0001,
        ];
        let mut whole = [0u128; 4];
        let mut halves = Halves::default();
        for (s, v) in slots.iter().zip(vals) {
            s.put(&mut whole, v);
            s.put_halves(&mut halves, v);
        }
        assert_eq!(halves.key(), whole);
        assert!(whole.iter().any(|&l| l >> 64 != 0 && l as u64 != 0));
    }
}
