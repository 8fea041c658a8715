//! Traces for the oracle: prepared for replay (Ethernet to FW's MAC, VLAN/PPPoE stripped,
//! checksums fixed, optionally retimed) and split by side for two-sided replay.

use super::router::{MAC_D0, MAC_IN, MAC_OUT, MAC_S0};
use super::*;

/// How [`split_sides`] divided a trace.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Split {
    /// Packets on the LAN side.
    pub lan: u64,
    /// Packets on the WAN side.
    pub wan: u64,
    /// The side of every packet, in trace order.
    pub per_packet: Vec<Side>,
    /// Addresses seen only on the LAN side (as source of LAN-side or destination of
    /// WAN-side packets), as (IP version, address); no multicast, broadcast, unspecified,
    /// loopback or link-local ones. FW gets a host route via IIF for each.
    pub lan_hosts: Vec<(u8, u128)>,
}

/// Assigns every packet of a prepared pcap (see [`prep_pcap`]) to a side with offsim's
/// [`SideSplitter`] and writes it to `output` with the MACs of that side: LAN side from s0 to
/// IIF, WAN side from d0 to OIF.
pub fn split_sides(input: &Path, output: &Path, sides: &Sides) -> Result<Split, String> {
    split_sides_with(input, output, sides, None, true)
}

/// [`split_sides`], with WAN-side packets rewritten as `wan` says (NAT: see
/// [`super::nat`]), and WAN-side packets left out unless `with_wan`.
pub fn split_sides_with(
    input: &Path,
    output: &Path,
    sides: &Sides,
    wan: Option<&super::nat::WanMap>,
    with_wan: bool,
) -> Result<Split, String> {
    let mut r = TraceReader::open(input).map_err(|e| e.to_string())?;
    let f = std::fs::File::create(output).map_err(|e| format!("{}: {e}", output.display()))?;
    let mut w = PcapWriter::new(std::io::BufWriter::new(f), LinkType::Ethernet, 262_144)
        .map_err(|e| e.to_string())?;
    let (lan_dst, lan_src, wan_dst, wan_src) =
        (mac(MAC_IN), mac(MAC_S0), mac(MAC_OUT), mac(MAC_D0));
    let mut splitter = SideSplitter::new(sides.clone()).remembering_all();
    let mut split = Split::default();
    let (mut lan_addrs, mut wan_addrs) = (BTreeSet::new(), BTreeSet::new());
    let mut frame = Vec::with_capacity(2048);
    while let Some(rec) = r.next_record().map_err(|e| e.to_string())? {
        let m = parse_frame(rec.link, rec.data, rec.orig_len, rec.ts, rec.iface);
        let side = splitter.side(&m, m.ts);
        if m.is_ip() {
            let (from, to) = match side {
                Side::Lan => (&mut lan_addrs, &mut wan_addrs),
                Side::Wan => (&mut wan_addrs, &mut lan_addrs),
            };
            from.insert((m.ip_version, m.src));
            to.insert((m.ip_version, m.dst));
        }
        frame.clear();
        frame.extend_from_slice(rec.data);
        if frame.len() >= 12 {
            let (d, s) = match side {
                Side::Lan => (&lan_dst, &lan_src),
                Side::Wan => (&wan_dst, &wan_src),
            };
            frame[0..6].copy_from_slice(d);
            frame[6..12].copy_from_slice(s);
        }
        match side {
            Side::Lan => split.lan += 1,
            Side::Wan => split.wan += 1,
        }
        split.per_packet.push(side);
        if side == Side::Wan {
            if !with_wan {
                continue;
            }
            if let Some(map) = wan {
                super::nat::rewrite(&mut frame, map);
            }
        }
        w.write(rec.ts, &frame, rec.orig_len)
            .map_err(|e| e.to_string())?;
    }
    w.finish().map_err(|e| e.to_string())?;
    split.lan_hosts = lan_addrs
        .difference(&wan_addrs)
        .copied()
        .filter(|&(v, a)| offsim_kernel::fib::routable(v, a))
        .collect();
    Ok(split)
}

/// `Sides` as [`Sides::parse`] reads it back: `single`, `flow` or `lan=P1,P2`.
pub fn sides_arg(sides: &Sides) -> String {
    match sides {
        Sides::Single => "single".into(),
        Sides::Flow => "flow".into(),
        Sides::Lan(ps) => {
            let list: Vec<String> = ps.iter().map(prefix_string).collect();
            format!("lan={}", list.join(","))
        }
        Sides::Iface(map) => {
            let list: Vec<String> = map
                .iter()
                .map(|(i, s)| format!("{i}:{}", if *s == Side::Lan { "lan" } else { "wan" }))
                .collect();
            format!("iface={}", list.join(","))
        }
    }
}

pub(super) fn prefix_string(p: &Prefix) -> String {
    if p.version == 4 {
        format!("{}/{}", std::net::Ipv4Addr::from(p.addr as u32), p.len)
    } else {
        format!("{}/{}", std::net::Ipv6Addr::from(p.addr), p.len)
    }
}

pub(super) mod sides_serde {
    use super::{Sides, sides_arg};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(s: &Sides, ser: S) -> Result<S::Ok, S::Error> {
        ser.serialize_str(&sides_arg(s))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(de: D) -> Result<Sides, D::Error> {
        let s = String::deserialize(de)?;
        Sides::parse(&s).map_err(serde::de::Error::custom)
    }
}

pub(super) fn mac(s: &str) -> [u8; 6] {
    let mut m = [0u8; 6];
    for (i, p) in s.split(':').enumerate() {
        m[i] = u8::from_str_radix(p, 16).expect("mac");
    }
    m
}

pub fn ipv4_checksum(h: &[u8]) -> u16 {
    let mut sum = 0u32;
    for c in h.chunks(2) {
        sum += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Prepares a trace for replay: Ethernet to FW's MAC, no VLAN/PPPoE, IP only, snap-truncated
/// records zero-padded, IPv4 header checksums fixed. With `spacing_ns`, packets are retimed
/// `spacing_ns` apart (so that conntrack timeouts cannot fire in either model). Returns the
/// number of packets written.
pub fn prep_pcap(input: &Path, output: &Path, spacing_ns: Option<u64>) -> Result<u64, String> {
    let mut r = TraceReader::open(input).map_err(|e| e.to_string())?;
    let f = std::fs::File::create(output).map_err(|e| e.to_string())?;
    let mut w = PcapWriter::new(std::io::BufWriter::new(f), LinkType::Ethernet, 262_144)
        .map_err(|e| e.to_string())?;
    let (dm, sm) = (mac(MAC_IN), mac(MAC_S0));
    let mut n = 0u64;
    let mut frame = Vec::with_capacity(2048);
    while let Some(rec) = r.next_record().map_err(|e| e.to_string())? {
        let m = parse_frame(rec.link, rec.data, rec.orig_len, rec.ts, rec.iface);
        let et: u16 = match m.net {
            NetKind::Ipv4 => 0x0800,
            NetKind::Ipv6 => 0x86dd,
            _ => continue,
        };
        if m.malformed.is_some() || m.ip_version == 0 {
            continue;
        }
        frame.clear();
        frame.extend_from_slice(&dm);
        frame.extend_from_slice(&sm);
        frame.extend_from_slice(&et.to_be_bytes());
        let l3 = &rec.data[usize::from(m.l3_offset)..];
        let want = m.ip_len as usize;
        frame.extend_from_slice(&l3[..want.min(l3.len())]);
        while frame.len() < 14 + want {
            frame.push(0);
        }
        if et == 0x0800 {
            let ihl = usize::from(frame[14] & 0x0f) * 4;
            frame[24] = 0;
            frame[25] = 0;
            let c = ipv4_checksum(&frame[14..14 + ihl]);
            frame[24..26].copy_from_slice(&c.to_be_bytes());
        }
        let ts = match spacing_ns {
            Some(s) => SimTime(1_700_000_000_000_000_000 + n * s),
            None => rec.ts,
        };
        w.write(ts, &frame, frame.len() as u32)
            .map_err(|e| e.to_string())?;
        n += 1;
    }
    w.finish().map_err(|e| e.to_string())?;
    Ok(n)
}
