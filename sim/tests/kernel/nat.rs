//! NAT in the oracle: the WAN side answers the post-NAT tuple. A trace captured on the LAN
//! side holds a masqueraded connection's replies addressed to the client; a real WAN peer
//! sends them to the router's address and port. The oracle learns each connection's NAT
//! from the kernel itself — a first replay of the LAN-side packets, then FW's conntrack
//! table (`/proc/net/nf_conntrack`) — and rewrites the WAN-side packets of the full replay:
//! a packet whose tuple is the inverse of a NATed connection's ORIGINAL (or REPLY) tuple gets
//! the REPLY (or ORIGINAL) tuple, and an ICMP error quoting one direction quotes it as it
//! left the router. This is the capture model `offsim rules eval` applies
//! (`offsim_kernel::datapath::nat_wan_view`).

use std::collections::HashMap;

/// A tuple as conntrack prints it: (L4 protocol, source, source port or ICMP id,
/// destination, destination port). IPv4 addresses sit in the low 32 bits.
pub type Tuple = (u8, u128, u16, u128, u16);

/// How the WAN side of the oracle answers NATed connections.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WanMap {
    /// A WAN-side packet's tuple (as the LAN side captured it) → the tuple a WAN peer sends.
    pub packet: HashMap<Tuple, Tuple>,
    /// The tuple an ICMP error quotes (as the LAN side saw the packet) → as it left the
    /// router.
    pub quoted: HashMap<Tuple, Tuple>,
}

/// `nf_ct_invert_tuple`: an ICMP echo keeps its id.
fn inv(t: Tuple) -> Tuple {
    if matches!(t.0, 1 | 58) {
        (t.0, t.3, t.2, t.1, t.4)
    } else {
        (t.0, t.3, t.4, t.1, t.2)
    }
}

/// Parses `/proc/net/nf_conntrack` into the map (connections whose tuples NAT changed).
pub fn wan_map(conntrack: &str) -> WanMap {
    let mut m = WanMap::default();
    for line in conntrack.lines() {
        let w: Vec<&str> = line.split_whitespace().collect();
        let Some(proto) = w.get(3).and_then(|p| p.parse::<u8>().ok()) else {
            continue;
        };
        let mut tuples: Vec<Tuple> = Vec::new();
        let mut cur: Tuple = (proto, 0, 0, 0, 0);
        let mut fields = 0;
        for f in &w {
            let Some((k, v)) = f.split_once('=') else {
                continue;
            };
            match k {
                "src" => {
                    if fields > 0 {
                        tuples.push(cur);
                        cur = (proto, 0, 0, 0, 0);
                    }
                    cur.1 = addr(v);
                    fields = 1;
                }
                "dst" => cur.3 = addr(v),
                "sport" => cur.2 = v.parse().unwrap_or(0),
                "dport" => cur.4 = v.parse().unwrap_or(0),
                // ICMP echo: the id is the "port" (conntrack's tuple.src.u.icmp.id).
                "id" => cur.2 = v.parse().unwrap_or(0),
                _ => {}
            }
        }
        if fields > 0 {
            tuples.push(cur);
        }
        let [orig, reply] = tuples[..] else { continue };
        if inv(orig) == reply {
            continue;
        }
        m.packet.insert(inv(orig), reply);
        m.packet.insert(inv(reply), orig);
        m.quoted.insert(orig, inv(reply));
        m.quoted.insert(reply, inv(orig));
    }
    m
}

fn addr(s: &str) -> u128 {
    match s.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(a)) => u128::from(u32::from(a)),
        Ok(std::net::IpAddr::V6(a)) => u128::from(a),
        Err(_) => 0,
    }
}

/// Where the IP and transport headers of a frame (Ethernet, no VLAN) are.
struct Layout {
    v6: bool,
    l3: usize,
    l4: usize,
    proto: u8,
}

fn layout(f: &[u8], l3: usize) -> Option<Layout> {
    let ver = f.get(l3)? >> 4;
    if ver == 4 {
        let ihl = usize::from(f[l3] & 0x0f) * 4;
        let frag = u16::from_be_bytes([f[l3 + 6], f[l3 + 7]]) & 0x1fff;
        (frag == 0).then(|| Layout {
            v6: false,
            l3,
            l4: l3 + ihl,
            proto: f[l3 + 9],
        })
    } else if ver == 6 {
        Some(Layout {
            v6: true,
            l3,
            l4: l3 + 40,
            proto: *f.get(l3 + 6)?,
        })
    } else {
        None
    }
}

fn get_addr(f: &[u8], at: usize, v6: bool) -> u128 {
    if v6 {
        u128::from_be_bytes(f[at..at + 16].try_into().expect("16 bytes"))
    } else {
        u128::from(u32::from_be_bytes(
            f[at..at + 4].try_into().expect("4 bytes"),
        ))
    }
}

fn put_addr(f: &mut [u8], at: usize, v6: bool, a: u128) {
    if v6 {
        f[at..at + 16].copy_from_slice(&a.to_be_bytes());
    } else {
        f[at..at + 4].copy_from_slice(&(a as u32).to_be_bytes());
    }
}

/// The tuple of the packet at `lay` (ports, or an ICMP echo's id).
fn tuple_at(f: &[u8], lay: &Layout) -> Option<Tuple> {
    let (s, d) = if lay.v6 {
        (
            get_addr(f, lay.l3 + 8, true),
            get_addr(f, lay.l3 + 24, true),
        )
    } else {
        (
            get_addr(f, lay.l3 + 12, false),
            get_addr(f, lay.l3 + 16, false),
        )
    };
    let p = |at: usize| f.get(at..at + 2).map(|b| u16::from_be_bytes([b[0], b[1]]));
    let (sp, dp) = match lay.proto {
        6 | 17 | 136 | 132 => (p(lay.l4)?, p(lay.l4 + 2)?),
        1 | 58 if matches!(f.get(lay.l4), Some(8 | 0 | 128 | 129)) => (p(lay.l4 + 4)?, 0),
        _ => (0, 0),
    };
    Some((lay.proto, s, sp, d, dp))
}

fn set_tuple(f: &mut [u8], lay: &Layout, t: Tuple) {
    let (sa, da) = if lay.v6 {
        (lay.l3 + 8, lay.l3 + 24)
    } else {
        (lay.l3 + 12, lay.l3 + 16)
    };
    put_addr(f, sa, lay.v6, t.1);
    put_addr(f, da, lay.v6, t.3);
    match lay.proto {
        6 | 17 | 136 | 132 if f.len() >= lay.l4 + 4 => {
            f[lay.l4..lay.l4 + 2].copy_from_slice(&t.2.to_be_bytes());
            f[lay.l4 + 2..lay.l4 + 4].copy_from_slice(&t.4.to_be_bytes());
        }
        1 | 58 if f.len() >= lay.l4 + 6 && matches!(f[lay.l4], 8 | 0 | 128 | 129) => {
            f[lay.l4 + 4..lay.l4 + 6].copy_from_slice(&t.2.to_be_bytes());
        }
        _ => {}
    }
}

fn sum(b: &[u8]) -> u32 {
    b.chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum()
}

fn fold(mut s: u32) -> u16 {
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

/// Recomputes the IPv4 header checksum and the transport checksum of the packet at `lay`
/// whose IP datagram ends at `end`.
fn fix_checksums(f: &mut [u8], lay: &Layout, end: usize) {
    let end = end.min(f.len());
    if !lay.v6 {
        let ihl = lay.l4 - lay.l3;
        f[lay.l3 + 10] = 0;
        f[lay.l3 + 11] = 0;
        let c = fold(sum(&f[lay.l3..lay.l3 + ihl]));
        f[lay.l3 + 10..lay.l3 + 12].copy_from_slice(&c.to_be_bytes());
    }
    let field = match lay.proto {
        6 => 16,
        17 | 136 => 6,
        1 | 58 => 2,
        _ => return,
    };
    if end < lay.l4 + field + 2 {
        return;
    }
    if lay.proto == 17 && !lay.v6 && f[lay.l4 + 6] == 0 && f[lay.l4 + 7] == 0 {
        return; // IPv4 UDP without a checksum
    }
    f[lay.l4 + field] = 0;
    f[lay.l4 + field + 1] = 0;
    let len = (end - lay.l4) as u32;
    let mut s = sum(&f[lay.l4..end]);
    if lay.proto != 1 {
        let (a, n) = if lay.v6 {
            (lay.l3 + 8, 32)
        } else {
            (lay.l3 + 12, 8)
        };
        s += sum(&f[a..a + n]) + u32::from(lay.proto) + (len & 0xffff) + (len >> 16);
    }
    let mut c = fold(s);
    if c == 0 && lay.proto == 17 {
        c = 0xffff;
    }
    f[lay.l4 + field..lay.l4 + field + 2].copy_from_slice(&c.to_be_bytes());
}

/// Rewrites a WAN-side frame (Ethernet, as `prep_pcap` writes them) as the WAN peer sends
/// it. Returns whether it changed.
pub fn rewrite(f: &mut [u8], map: &WanMap) -> bool {
    let Some(lay) = layout(f, 14) else {
        return false;
    };
    let Some(t) = tuple_at(f, &lay) else {
        return false;
    };
    let end = if lay.v6 {
        lay.l3 + 40 + usize::from(u16::from_be_bytes([f[lay.l3 + 4], f[lay.l3 + 5]]))
    } else {
        lay.l3 + usize::from(u16::from_be_bytes([f[lay.l3 + 2], f[lay.l3 + 3]]))
    };
    let icmp_error = match lay.proto {
        1 => matches!(f.get(lay.l4), Some(3 | 4 | 5 | 11 | 12)),
        58 => f.get(lay.l4).is_some_and(|t| *t < 128),
        _ => false,
    };
    if icmp_error {
        let Some(inner) = layout(f, lay.l4 + 8) else {
            return false;
        };
        if inner.v6 != lay.v6 {
            return false;
        }
        let Some(q) = tuple_at(f, &inner) else {
            return false;
        };
        let Some(&nq) = map.quoted.get(&q) else {
            return false;
        };
        set_tuple(f, &inner, nq);
        if !inner.v6 {
            // Only the quoted IP header's checksum: its payload is cut.
            let ihl = inner.l4 - inner.l3;
            f[inner.l3 + 10] = 0;
            f[inner.l3 + 11] = 0;
            let c = fold(sum(&f[inner.l3..inner.l3 + ihl]));
            f[inner.l3 + 10..inner.l3 + 12].copy_from_slice(&c.to_be_bytes());
        }
        let (_, s, _, d, _) = t;
        let new_dst = if d == q.1 { nq.1 } else { d };
        set_tuple(f, &lay, (t.0, s, t.2, new_dst, t.4));
        fix_checksums(f, &lay, end);
        return true;
    }
    let Some(&n) = map.packet.get(&t) else {
        return false;
    };
    set_tuple(f, &lay, n);
    fix_checksums(f, &lay, end);
    true
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn parses_proc_nf_conntrack() {
        let text = "ipv4     2 udp      17 28 src=192.168.1.100 dst=198.51.100.1 sport=5000 dport=53 src=198.51.100.1 dst=100.64.0.1 sport=53 dport=5000 mark=0 zone=0 use=2\n\
                    ipv4     2 tcp      6 117 SYN_SENT src=192.0.2.1 dst=198.51.100.1 sport=1 dport=2 [UNREPLIED] src=198.51.100.1 dst=192.0.2.1 sport=2 dport=1 mark=0 zone=0 use=2\n";
        let m = wan_map(text);
        assert_eq!(m.packet.len(), 2, "{m:?}");
        let c = addr("192.168.1.100");
        let s = addr("198.51.100.1");
        let w = addr("100.64.0.1");
        assert_eq!(m.packet[&(17, s, 53, c, 5000)], (17, s, 53, w, 5000));
        assert_eq!(m.quoted[&(17, c, 5000, s, 53)], (17, w, 5000, s, 53));
    }
}
