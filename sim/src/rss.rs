//! Receive-side scaling: the Toeplitz hash over a packet's tuple and an indirection table
//! mapping it to a receive queue (one per CPU core), as NICs do it (Microsoft RSS spec).
//!
//! The hash is computed with per-byte lookup tables built once from the key, so a packet
//! costs 12 (IPv4) or 36 (IPv6) table lookups.

use offsim_traces::meta::{PacketMeta, flags, proto};

/// The default 40-byte RSS key from the Microsoft RSS specification (also used by many
/// drivers, e.g. ixgbe/i40e as their default).
pub const DEFAULT_KEY: [u8; 40] = [
    0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3, 0x8f, 0xb0,
    0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3, 0x80, 0x30, 0xf2, 0x0c,
    0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa,
];

/// Toeplitz hashing and queue selection.
#[derive(Clone, Debug)]
pub struct Rss {
    /// tables[i][v]: contribution of input byte `i` with value `v`.
    tables: Vec<[u32; 256]>,
    indirection: Vec<u16>,
    /// Receive queues: with one, every packet's queue is 0 and no hash is computed.
    queues: u16,
}

impl Rss {
    /// Builds an RSS engine for `queues` receive queues with `key` (at least 40 bytes) and a
    /// 128-entry indirection table filled round-robin (the Linux default).
    pub fn new(key: &[u8], queues: u16) -> Rss {
        let mut k = key.to_vec();
        k.resize(40.max(k.len()), 0);
        let n_inputs = 36usize;
        // The 32-bit window of the key starting at each input bit position.
        let window = |pos: usize| -> u32 {
            let mut x = 0u64;
            for j in 0..5 {
                x = (x << 8) | u64::from(k.get(pos / 8 + j).copied().unwrap_or(0));
            }
            (x >> (8 - pos % 8)) as u32
        };
        let mut tables = vec![[0u32; 256]; n_inputs];
        for (i, t) in tables.iter_mut().enumerate() {
            let w: [u32; 8] = std::array::from_fn(|bit| window(i * 8 + bit));
            // t[v] is the XOR of the windows of v's set bits (bit 0 = the byte's MSB): add
            // the lowest set bit to the entry without it.
            for v in 1..256usize {
                let low = v & v.wrapping_neg();
                t[v] = t[v ^ low] ^ w[7 - low.trailing_zeros() as usize];
            }
        }
        let q = queues.max(1);
        Rss {
            tables,
            indirection: (0..128u16).map(|i| i % q).collect(),
            queues: q,
        }
    }

    /// The hash of a packet: 4-tuple for TCP/UDP, 2-tuple otherwise (and for fragments).
    #[inline]
    pub fn hash(&self, m: &PacketMeta) -> u32 {
        let ports = matches!(m.l4proto, proto::TCP | proto::UDP)
            && m.has(flags::PORTS)
            && !m.has(flags::FRAGMENT);
        let mut h = 0u32;
        let mut i = 0usize;
        let mut feed = |bytes: &[u8], h: &mut u32| {
            for &b in bytes {
                *h ^= self.tables[i][b as usize];
                i += 1;
            }
        };
        if m.ip_version == 4 {
            feed(&(m.src as u32).to_be_bytes(), &mut h);
            feed(&(m.dst as u32).to_be_bytes(), &mut h);
        } else {
            feed(&m.src.to_be_bytes(), &mut h);
            feed(&m.dst.to_be_bytes(), &mut h);
        }
        if ports {
            feed(&m.sport.to_be_bytes(), &mut h);
            feed(&m.dport.to_be_bytes(), &mut h);
        }
        h
    }

    /// The receive queue of a packet. With one queue the indirection table is all zeros:
    /// the hash (12 table lookups for IPv4, 36 for IPv6, into 36 KiB; 3–4 % of a run's event
    /// loop) is skipped.
    #[inline]
    pub fn queue(&self, m: &PacketMeta) -> u16 {
        if self.queues == 1 {
            return 0;
        }
        self.indirection[(self.hash(m) & 127) as usize]
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use offsim_traces::testkit::Pkt;

    /// Verification vectors from the Microsoft RSS specification ("Verifying the RSS hash
    /// calculation"): IPv4 with TCP ports.
    #[test]
    fn microsoft_verification_vectors() {
        let rss = Rss::new(&DEFAULT_KEY, 4);
        let cases = [
            ("66.9.149.187:2794", "161.142.100.80:1766", 0x51cc_c178u32),
            ("199.92.111.2:14230", "65.69.140.83:4739", 0xc626_b0ea),
            ("24.19.198.95:12898", "12.22.207.184:38024", 0x5c2b_394a),
            ("38.27.205.30:48228", "209.142.163.6:2217", 0xafc7_327f),
            ("153.39.163.191:44251", "202.188.127.2:1303", 0x10e8_28a2),
        ];
        for (src, dst, want) in cases {
            let m = Pkt::tcp4(src, dst).build();
            assert_eq!(rss.hash(&m), want, "{src} -> {dst}");
        }
    }

    #[test]
    fn ipv4_two_tuple_vector() {
        let rss = Rss::new(&DEFAULT_KEY, 4);
        let m = Pkt::icmp("66.9.149.187", "161.142.100.80", 8, 0, 1).build();
        assert_eq!(rss.hash(&m), 0x323e_8fc2);
    }

    /// The tables equal the Toeplitz definition bit by bit.
    #[test]
    fn tables_match_the_definition() {
        let rss = Rss::new(&DEFAULT_KEY, 4);
        for (i, t) in rss.tables.iter().enumerate() {
            for (v, &got) in t.iter().enumerate() {
                let mut h = 0u32;
                for bit in 0..8 {
                    if v & (0x80 >> bit) != 0 {
                        let pos = i * 8 + bit;
                        let mut w = 0u32;
                        for j in 0..32 {
                            let kb = pos + j;
                            let byte = DEFAULT_KEY.get(kb / 8).copied().unwrap_or(0);
                            if byte & (0x80 >> (kb % 8)) != 0 {
                                w |= 1 << (31 - j);
                            }
                        }
                        h ^= w;
                    }
                }
                assert_eq!(got, h, "input byte {i} value {v:#x}");
            }
        }
    }

    #[test]
    fn queues_are_spread() {
        let rss = Rss::new(&DEFAULT_KEY, 4);
        let mut per = [0u32; 4];
        for p in 1000..5000u16 {
            let m = Pkt::udp(&format!("192.0.2.1:{p}"), "198.51.100.1:53").build();
            per[rss.queue(&m) as usize] += 1;
        }
        assert!(per.iter().all(|&c| c > 700), "{per:?}");
    }

    /// One queue: the shortcut gives the queue the indirection table gives.
    #[test]
    fn one_queue_is_queue_zero() {
        let rss = Rss::new(&DEFAULT_KEY, 1);
        for p in 1000..1100u16 {
            let m = Pkt::udp(&format!("192.0.2.1:{p}"), "198.51.100.1:53").build();
            assert_eq!(rss.queue(&m), 0);
            assert_eq!(rss.indirection[(rss.hash(&m) & 127) as usize], 0);
        }
    }
}
