//! The Internet checksum (RFC 1071) and the pseudo-headers of TCP/UDP/ICMPv6 (RFC 793,
//! RFC 768, RFC 8200 §8.1).
//!
//! Sums are kept unfolded in a `u64` (big-endian 16-bit words added up) so that pieces —
//! pseudo-header, header, payload — can be summed separately and combined with `+`; [`fold`]
//! turns the total into the 16-bit one's-complement checksum.

/// Adds the big-endian 16-bit words of `data` to `acc` (an odd trailing byte is padded with a
/// zero byte, as RFC 1071 specifies).
#[inline]
pub fn sum_words(data: &[u8], mut acc: u64) -> u64 {
    // Eight bytes at a time: the same four 16-bit words, added in one step.
    let mut wide = data.chunks_exact(8);
    for c in &mut wide {
        let w = u64::from_be_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        acc += (w >> 48) + ((w >> 32) & 0xffff) + ((w >> 16) & 0xffff) + (w & 0xffff);
    }
    let mut chunks = wide.remainder().chunks_exact(2);
    for c in &mut chunks {
        acc += u64::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [b] = chunks.remainder() {
        acc += u64::from(*b) << 8;
    }
    acc
}

/// Folds an unfolded sum to 16 bits and complements it: the value to store in a checksum
/// field.
#[inline]
pub fn fold(mut acc: u64) -> u16 {
    while acc >> 16 != 0 {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    !(acc as u16)
}

/// The checksum of an IPv4 header whose checksum field (bytes 10–11) is zero.
#[inline]
pub(crate) fn ipv4_header(h: &[u8]) -> u16 {
    fold(sum_words(h, 0))
}

/// Unfolded sum of the IPv4 pseudo-header.
#[inline]
pub fn pseudo_v4(src: u32, dst: u32, proto: u8, l4_len: u32) -> u64 {
    u64::from(src >> 16)
        + u64::from(src & 0xffff)
        + u64::from(dst >> 16)
        + u64::from(dst & 0xffff)
        + u64::from(proto)
        + u64::from(l4_len)
}

/// Unfolded sum of the IPv6 pseudo-header.
#[inline]
pub fn pseudo_v6(src: u128, dst: u128, next_header: u8, l4_len: u32) -> u64 {
    let mut acc = 0u64;
    for a in [src, dst] {
        let mut x = a;
        for _ in 0..8 {
            acc += (x & 0xffff) as u64;
            x >>= 16;
        }
    }
    acc + u64::from(l4_len >> 16) + u64::from(l4_len & 0xffff) + u64::from(next_header)
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn rfc1071_example() {
        // RFC 1071 §3: the words 0001 f203 f4f5 f6f7 sum (one's complement) to ddf2.
        let d = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(fold(sum_words(&d, 0)), !0xddf2);
    }

    #[test]
    fn ipv4_header_known_vector() {
        // The classic example header (Wikipedia "IPv4 header checksum"): checksum b861.
        let h = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        assert_eq!(ipv4_header(&h), 0xb861);
        // Verifying a header that carries its checksum gives zero.
        let mut h2 = h;
        h2[10] = 0xb8;
        h2[11] = 0x61;
        assert_eq!(fold(sum_words(&h2, 0)), 0);
    }

    /// The eight-byte steps give exactly the word-by-word sum, for every length.
    #[test]
    fn wide_steps_equal_word_sums() {
        let data: Vec<u8> = (0..67u32).map(|i| (i * 37 + 11) as u8).collect();
        for n in 0..data.len() {
            let d = &data[..n];
            let mut want = 5u64;
            for (i, b) in d.iter().enumerate() {
                want += u64::from(*b) << if i % 2 == 0 { 8 } else { 0 };
            }
            assert_eq!(sum_words(d, 5), want, "length {n}");
        }
    }

    #[test]
    fn odd_length_pads_with_zero() {
        assert_eq!(sum_words(&[0x12], 0), 0x1200);
        assert_eq!(sum_words(&[0xab, 0xcd, 0x12], 0), 0xabcd + 0x1200);
    }

    #[test]
    fn udp_matches_etherparse() {
        use etherparse::{Ipv4Header, Ipv6Header, UdpHeader};
        let payload = b"hello, checksum";
        let src = [192, 0, 2, 1];
        let dst = [198, 51, 100, 7];
        let ip = Ipv4Header::new(
            8 + payload.len() as u16,
            64,
            etherparse::IpNumber::UDP,
            src,
            dst,
        )
        .unwrap();
        let u = UdpHeader::with_ipv4_checksum(5353, 53, &ip, payload).unwrap();
        let mut seg = u.to_bytes().to_vec();
        seg[6] = 0;
        seg[7] = 0;
        seg.extend_from_slice(payload);
        let acc = pseudo_v4(
            u32::from_be_bytes(src),
            u32::from_be_bytes(dst),
            17,
            seg.len() as u32,
        );
        assert_eq!(fold(sum_words(&seg, acc)), u.checksum);

        let s6: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
        let d6: [u8; 16] = [
            0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0xab, 0xcd, 0, 2,
        ];
        let ip6 = Ipv6Header {
            traffic_class: 0,
            flow_label: Default::default(),
            payload_length: 8 + payload.len() as u16,
            next_header: etherparse::IpNumber::UDP,
            hop_limit: 64,
            source: s6,
            destination: d6,
        };
        let u6 = UdpHeader::with_ipv6_checksum(40000, 443, &ip6, payload).unwrap();
        let mut seg = u6.to_bytes().to_vec();
        seg[6] = 0;
        seg[7] = 0;
        seg.extend_from_slice(payload);
        let acc = pseudo_v6(
            u128::from_be_bytes(s6),
            u128::from_be_bytes(d6),
            17,
            seg.len() as u32,
        );
        assert_eq!(fold(sum_words(&seg, acc)), u6.checksum);
    }
}
