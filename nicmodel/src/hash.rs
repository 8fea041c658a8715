//! Hash functions that place a [`HwKey`] in the table.
//!
//! * [`mtk_ppe_hash`] re-implements MediaTek's `mtk_ppe_hash_entry`
//!   (`drivers/net/ethernet/mediatek/mtk_ppe.c`, read at torvalds/linux and in
//!   `LorenzoBianconi/net-next`; written here from the description in
//!   `reference/flow-offload-semantics.md` §4.1, no code copied). Airoha's
//!   `airoha_ppe_foe_get_entry_hash` (`drivers/net/ethernet/airoha/airoha_ppe.c`) is the same
//!   function without the bucket shift (`PPE_EN7581_HASH_OFFSET` = 1), i.e. `ways = 1` here.
//! * [`mix64`] is a seeded 64-bit hash of the whole key for layouts without a published hash
//!   (generic hashed buckets, the two cuckoo functions, the fully associative index).
//!
//! Both are deterministic: no per-process seed.

use crate::key::HwKey;
use offsim_traces::meta::proto;

/// MediaTek PPE hash of one direction's tuple, before the bucket shift and mask.
///
/// Inputs are the tuple words as the driver stores them in the FOE entry, in host order
/// (`mtk_foe_entry_set_ipv4_tuple` / `_ipv6_tuple` convert with `be32_to_cpu`):
/// * IPv4 (HNAPT/route): `hv1` = ports word, `hv2` = destination, `hv3` = source. The ports
///   word is `src_port << 16 | dest_port` (the union `{u16 dest_port; u16 src_port}` read as
///   a little-endian `u32`); for a flow without ports (IPv4 route, IPv6 3-tuple) the driver
///   fills it with `0xa5a5a500 | l4proto` (`mtk_foe_entry_prepare`).
/// * IPv6 (3T/5T route): with address words `w[0]` the most significant,
///   `hv1 = s[3] ^ d[3] ^ ports`, `hv2 = s[2] ^ d[2] ^ d[0]`, `hv3 = s[1] ^ d[1] ^ s[0]`.
///
/// Then `h = (hv1 & hv2) | (!hv1 & hv3)`, rotated left by 8 (the driver writes it as
/// `(h >> 24) | ((h & 0xffffff) << 8)`), `h ^= hv1 ^ hv2 ^ hv3`, `h ^= h >> 16`.
#[inline]
pub(crate) fn mtk_ppe_hash(key: &HwKey) -> u32 {
    let ports = if key.proto == proto::TCP || key.proto == proto::UDP {
        (u32::from(key.sport) << 16) | u32::from(key.dport)
    } else {
        0xa5a5_a500 | u32::from(key.proto)
    };
    let (hv1, hv2, hv3) = if key.version == 6 {
        let s = words(key.src);
        let d = words(key.dst);
        (s[3] ^ d[3] ^ ports, s[2] ^ d[2] ^ d[0], s[1] ^ d[1] ^ s[0])
    } else {
        (ports, key.dst as u32, key.src as u32)
    };
    let mut h = (hv1 & hv2) | (!hv1 & hv3);
    h = h.rotate_left(8);
    h ^= hv1 ^ hv2 ^ hv3;
    h ^= h >> 16;
    h
}

/// The first entry index of the key's bucket, exactly as the driver computes it:
/// `hash << log2(ways)` then masked to `entries - 1` (`entries` and `ways` are powers of two).
#[cfg(test)]
pub(crate) fn mtk_ppe_index(h: u32, ways: u32, entries: u32) -> u32 {
    (h << ways.trailing_zeros()) & (entries - 1)
}

/// The four 32-bit words of an IPv6 address, most significant first (host order of the
/// big-endian words, as `be32_to_cpu` leaves them).
#[inline]
fn words(a: u128) -> [u32; 4] {
    [
        (a >> 96) as u32,
        (a >> 64) as u32,
        (a >> 32) as u32,
        a as u32,
    ]
}

/// Seeded 64-bit hash of a whole key (multiply–xorshift over the key's words, finished with
/// the MurmurHash3 64-bit finaliser). Used where a NIC's hash is not published.
#[inline]
pub(crate) fn mix64(key: &HwKey, seed: u64) -> u64 {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    let w = [
        key.src as u64,
        (key.src >> 64) as u64,
        key.dst as u64,
        (key.dst >> 64) as u64,
        (u64::from(key.sport) << 48)
            | (u64::from(key.dport) << 32)
            | (u64::from(key.proto) << 24)
            | (u64::from(key.version) << 16),
        (u64::from(key.iif) << 32) ^ u64::from(key.encap[0].0) ^ (u64::from(key.encap[1].0) << 7),
    ];
    let mut h = seed ^ K;
    for x in w {
        h = (h ^ x).wrapping_mul(K);
        h ^= h >> 29;
    }
    fmix64(h)
}

#[inline]
fn fmix64(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// Maps a 64-bit hash onto `0..n` without a division (Lemire's multiply-shift reduction).
#[inline]
pub(crate) fn reduce(h: u64, n: u32) -> u32 {
    ((u128::from(h) * u128::from(n)) >> 64) as u32
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::key::EncapId;
    use offsim_traces::FlowKey;

    fn v4(src: u32, dst: u32, sport: u16, dport: u16, p: u8) -> HwKey {
        HwKey::new(
            FlowKey {
                src: u128::from(src),
                dst: u128::from(dst),
                sport,
                dport,
                proto: p,
                version: 4,
            },
            0,
            [EncapId::NONE; 2],
        )
    }

    /// Worked by hand from the algorithm (not from running this code):
    /// src 192.168.1.2 = 0xC0A80102, dst 10.0.0.1 = 0x0A000001, TCP 1234 -> 80.
    /// hv1 = 0x04D20050, hv2 = 0x0A000001, hv3 = 0xC0A80102.
    /// hv1 & hv2 = 0; !hv1 & hv3 = 0xFB2DFFAF & 0xC0A80102 = 0xC0280102 -> h = 0xC0280102.
    /// rotl 8 -> 0x280102C0. hv1^hv2^hv3 = 0xCE7A0153; h ^= -> 0xE67B0393.
    /// h ^= h >> 16 (0x0000E67B) -> 0xE67BE5E8.
    /// MT7621 (2 ways, 8192 entries): (h << 1) as u32 = 0xCCF7CBD0, & 0x1FFF = 0x0BD0 = 3024.
    #[test]
    fn mtk_hash_known_vector() {
        let k = v4(0xC0A8_0102, 0x0A00_0001, 1234, 80, proto::TCP);
        let h = mtk_ppe_hash(&k);
        assert_eq!(h, 0xE67B_E5E8);
        assert_eq!(mtk_ppe_index(h, 2, 8192), 3024);
        // 4 ways, 16384 entries (MT7986-class with the 16K driver): (h << 2) & 0x3FFF.
        // h << 2 = 0x99EF97A0 (u32) -> & 0x3FFF = 0x17A0 = 6048.
        assert_eq!(mtk_ppe_index(h, 4, 16384), 6048);
        // Airoha: no shift, masked to 32768 entries: 0xE67BE5E8 & 0x7FFF = 0x65E8 = 26088.
        assert_eq!(mtk_ppe_index(h, 1, 32768), 26088);
    }

    /// A flow without ports uses the `0xa5a5a500 | proto` padding word as hv1.
    /// GRE (47 = 0x2F), src 0x01020304, dst 0x05060708: hv1 = 0xA5A5A52F.
    /// hv1 & hv2 = 0x05040508; !hv1 & hv3 = 0x5A5A5AD0 & 0x01020304 = 0x00020200;
    /// h = 0x05040508 | 0x00020200 = 0x05060708; rotl 8 -> 0x06070805.
    /// hv1^hv2^hv3 = 0xA1A1A123; h ^= -> 0xA7A6A926; h ^= h >> 16 (0xA7A6) -> 0xA7A60E80.
    #[test]
    fn mtk_hash_padding_word_for_portless_flows() {
        let k = v4(0x0102_0304, 0x0506_0708, 0, 0, 47);
        assert_eq!(mtk_ppe_hash(&k), 0xA7A6_0E80);
    }

    /// IPv6 folds: with src = ::1 and dst = ::2 and TCP 1 -> 2,
    /// hv1 = 1 ^ 2 ^ 0x00010002 = 0x00010001, hv2 = 0, hv3 = 0.
    /// h = (hv1 & 0) | (!hv1 & 0) = 0; rotl = 0; h ^= 0x00010001 -> 0x00010001;
    /// h ^= h >> 16 (0x0001) -> 0x00010000.
    #[test]
    fn mtk_hash_ipv6_folds() {
        let mut k = v4(1, 2, 1, 2, proto::TCP);
        k.version = 6;
        assert_eq!(mtk_ppe_hash(&k), 0x0001_0000);
        // The high words enter hv2/hv3: moving bit 96 of dst changes hv2 and the hash.
        let mut k2 = k;
        k2.dst |= 1u128 << 96;
        assert_ne!(mtk_ppe_hash(&k2), mtk_ppe_hash(&k));
    }

    #[test]
    fn mix64_depends_on_every_field_and_seed() {
        let a = v4(1, 2, 3, 4, proto::UDP);
        let base = mix64(&a, 1);
        assert_ne!(base, mix64(&a, 2));
        let mut b = a;
        b.iif = 9;
        assert_ne!(base, mix64(&b, 1));
        let mut c = a;
        c.encap[1] = EncapId::vlan(3);
        assert_ne!(base, mix64(&c, 1));
        let mut d = a;
        d.src |= 1u128 << 127;
        assert_ne!(base, mix64(&d, 1));
        assert!(reduce(u64::MAX, 10) < 10);
        assert_eq!(reduce(0, 10), 0);
    }
}
