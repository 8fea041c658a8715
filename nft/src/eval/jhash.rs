//! The kernel's `jhash()`, for `jhash` and `symhash` expressions.

/// Bob Jenkins' lookup3 `hashlittle` as the kernel's `jhash()` (include/linux/jhash.h).
pub(crate) fn jhash(key: &[u8], initval: u32) -> u32 {
    #[inline]
    fn rot(x: u32, k: u32) -> u32 {
        x.rotate_left(k)
    }
    let len = key.len();
    let mut a = 0xdead_beefu32
        .wrapping_add(len as u32)
        .wrapping_add(initval);
    let mut b = a;
    let mut c = a;
    let mut k = key;
    let w =
        |s: &[u8], i: usize| -> u32 { u32::from_le_bytes([s[i], s[i + 1], s[i + 2], s[i + 3]]) };
    while k.len() > 12 {
        a = a.wrapping_add(w(k, 0));
        b = b.wrapping_add(w(k, 4));
        c = c.wrapping_add(w(k, 8));
        // __jhash_mix
        a = a.wrapping_sub(c);
        a ^= rot(c, 4);
        c = c.wrapping_add(b);
        b = b.wrapping_sub(a);
        b ^= rot(a, 6);
        a = a.wrapping_add(c);
        c = c.wrapping_sub(b);
        c ^= rot(b, 8);
        b = b.wrapping_add(a);
        a = a.wrapping_sub(c);
        a ^= rot(c, 16);
        c = c.wrapping_add(b);
        b = b.wrapping_sub(a);
        b ^= rot(a, 19);
        a = a.wrapping_add(c);
        c = c.wrapping_sub(b);
        c ^= rot(b, 4);
        b = b.wrapping_add(a);
        k = &k[12..];
    }
    if k.is_empty() {
        return c;
    }
    let mut tail = [0u8; 12];
    tail[..k.len()].copy_from_slice(k);
    // the kernel adds the bytes as in `case 12..1`, which equals little-endian words of the
    // zero-padded tail
    a = a.wrapping_add(w(&tail, 0));
    b = b.wrapping_add(w(&tail, 4));
    c = c.wrapping_add(w(&tail, 8));
    // __jhash_final
    c ^= b;
    c = c.wrapping_sub(rot(b, 14));
    a ^= c;
    a = a.wrapping_sub(rot(c, 11));
    b ^= a;
    b = b.wrapping_sub(rot(a, 25));
    c ^= b;
    c = c.wrapping_sub(rot(b, 16));
    a ^= c;
    a = a.wrapping_sub(rot(c, 4));
    b ^= a;
    b = b.wrapping_sub(rot(a, 14));
    c ^= b;
    c = c.wrapping_sub(rot(b, 24));
    c
}
