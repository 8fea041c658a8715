//! `trace info`: a one-pass summary of a capture.

use std::io::Read;

use serde::Serialize;

use crate::flowset::{Class, FlowSet};
use crate::meta::{Malformed, NetKind, PacketMeta, flags, proto};
use crate::parse::link_type_name;
use crate::pcap::{Format, TraceError};
use crate::stream::PacketStream;

/// Unique bidirectional flows per protocol.
///
/// A TCP/UDP flow is the unordered pair of (address, port) endpoints — what a tshark field
/// dump of `ip.src tcp.srcport ip.dst tcp.dstport` gives after sorting each line's two
/// endpoints (tshark's `-z conv,tcp` splits a reused 4-tuple into several streams and so
/// can count more). An ICMP/ICMPv6 flow is the unordered address pair plus the echo
/// identifier (0 for other messages), as conntrack keys it. Only the outer packet counts: the
/// tuple quoted inside an ICMP error does not.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct FlowCounts {
    /// TCP flows.
    pub tcp: u64,
    /// UDP flows.
    pub udp: u64,
    /// ICMP and ICMPv6 flows.
    pub icmp: u64,
    /// Flows of other IP protocols (unordered address pair + protocol; SCTP/UDP-Lite with ports).
    pub other: u64,
    /// All of the above.
    pub total: u64,
}

/// Packet counts per transport protocol (outer header).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ProtocolCounts {
    /// TCP packets.
    pub tcp: u64,
    /// UDP packets.
    pub udp: u64,
    /// ICMP and ICMPv6 packets.
    pub icmp: u64,
    /// Other IP protocols.
    pub other: u64,
}

/// Summary of a capture file.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct TraceInfo {
    /// The file as named.
    pub file: String,
    /// `pcap` or `pcapng`.
    pub format: String,
    /// Byte order of the file (`little` / `big`; pcapng: the first section's).
    pub byte_order: String,
    /// Link type name(s) seen (`EN10MB`, `LINUX_SLL`, …), in order of first use.
    pub link_types: Vec<String>,
    /// Packets (records).
    pub packets: u64,
    /// Sum of wire lengths.
    pub bytes: u64,
    /// Sum of captured lengths.
    pub captured_bytes: u64,
    /// Earliest timestamp, ns since the Unix epoch (null for an empty file).
    pub first_ts_ns: Option<u64>,
    /// Latest timestamp.
    pub last_ts_ns: Option<u64>,
    /// `last - first` in seconds.
    pub duration_s: f64,
    /// IPv4 packets (including malformed ones whose EtherType said IPv4).
    pub ipv4: u64,
    /// IPv6 packets.
    pub ipv6: u64,
    /// Packets that are not IP.
    pub non_ip: u64,
    /// Malformed packets (total).
    pub malformed: u64,
    /// Malformed packets by reason (only non-zero reasons).
    pub malformed_by_reason: Vec<(String, u64)>,
    /// Packets cut short by the snap length.
    pub snap_truncated: u64,
    /// IP fragments.
    pub fragments: u64,
    /// Packets carrying VLAN tags.
    pub vlan_tagged: u64,
    /// Packets carrying a PPPoE session header.
    pub pppoe: u64,
    /// Packets per transport protocol.
    pub protocols: ProtocolCounts,
    /// Unique bidirectional flows.
    pub flows: FlowCounts,
    /// Set when the file ends inside its final record: the warning, naming the byte offset
    /// and the good packets before it (the summary covers those).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cut_short: Option<String>,
}

/// Packets after which the flow set is first sized ahead (see [`size_ahead`]), and then
/// again at every fourfold of it: enough packets for a rate of new flows to mean something,
/// early enough that the table moved is still small (at most 2^17 entries: 2 MiB of IPv4
/// tuples).
const AHEAD_FIRST: u64 = 1 << 16;

/// A flow set sized ahead has room for at most this many times the flows already seen: as
/// many as a flood of new flows can open before the next sizing (four times the packets),
/// so a flood is sized for in two steps, while a capture whose first packets open flows
/// faster than the rest do (a scan, then bulk transfers) is given room for at most four
/// times the flows it holds (in a table up to twice that again, for the power of two and
/// the 7/8 limit).
const AHEAD_MAX: usize = 4;

/// Reads the whole stream and summarises it.
pub fn summarize<R: Read>(
    name: &str,
    stream: &mut PacketStream<R>,
) -> Result<TraceInfo, TraceError> {
    summarize_sized(name, stream, None)
}

/// [`summarize`] of a stream of `size` bytes in all, when known (a regular file's length):
/// the flow set is then sized ahead for the flows the capture is on course to hold.
pub fn summarize_sized<R: Read>(
    name: &str,
    stream: &mut PacketStream<R>,
    size: Option<u64>,
) -> Result<TraceInfo, TraceError> {
    let fmt = stream.format();
    let mut info = TraceInfo {
        file: name.to_string(),
        format: fmt.name().to_string(),
        byte_order: match fmt {
            Format::Pcap { big_endian, .. } | Format::PcapNg { big_endian } => {
                if big_endian { "big" } else { "little" }.to_string()
            }
        },
        ..TraceInfo::default()
    };
    // One exact set for every protocol (the protocol is part of the key): a 16-byte slot per
    // IPv4 flow (18–37 bytes per flow with the table's spare slots, more when sized ahead
    // for flows that never came) and a 48-byte one per IPv6 flow, so exact counts stay
    // affordable on captures of millions of flows.
    let mut seen = FlowSet::new();
    let mut malformed = [0u64; Malformed::ALL.len()];
    let mut links: Vec<u32> = Vec::new();
    let (mut first, mut last) = (u64::MAX, 0u64);
    // One slot every packet is decoded into (a returned packet would be copied out whole).
    let mut slot = PacketMeta::default();
    let mut ahead_at = AHEAD_FIRST;
    while let Some(rec) = stream.reader_mut().next_record()? {
        let code = rec.link.code();
        if !links.contains(&code) {
            links.push(code);
        }
        let m = &mut slot;
        crate::parse::parse_frame_into(rec.link, rec.data, rec.orig_len, rec.ts, rec.iface, m);
        info.packets += 1;
        if info.packets == ahead_at
            && let Some(size) = size
        {
            ahead_at *= 4;
            size_ahead(&mut seen, stream.reader().offset(), size);
        }
        info.bytes += u64::from(m.wire_len);
        info.captured_bytes += u64::from(m.cap_len);
        first = first.min(m.ts.0);
        last = last.max(m.ts.0);
        match m.net {
            NetKind::Ipv4 => info.ipv4 += 1,
            NetKind::Ipv6 => info.ipv6 += 1,
            NetKind::NonIp(_) => info.non_ip += 1,
            NetKind::Unknown => {}
        }
        if m.has(flags::SNAP_TRUNCATED) {
            info.snap_truncated += 1;
        }
        if m.vlan_count > 0 {
            info.vlan_tagged += 1;
        }
        if m.has(flags::PPPOE) {
            info.pppoe += 1;
        }
        if let Some(k) = m.malformed {
            malformed[k as usize] += 1;
            continue;
        }
        if m.ip_version == 0 {
            continue;
        }
        if m.has(flags::FRAGMENT) {
            info.fragments += 1;
        }
        match m.l4proto {
            proto::TCP => info.protocols.tcp += 1,
            proto::UDP => info.protocols.udp += 1,
            proto::ICMP | proto::ICMPV6 => info.protocols.icmp += 1,
            _ => info.protocols.other += 1,
        }
        let Some(key) = m.flow_key() else { continue };
        let c = key.canonical();
        let class = match m.l4proto {
            proto::TCP if m.has(flags::PORTS) => Class::Tcp,
            proto::UDP if m.has(flags::PORTS) => Class::Udp,
            proto::ICMP | proto::ICMPV6 => Class::Icmp,
            proto::TCP | proto::UDP => continue, // ports not captured: not a countable flow
            _ => Class::Other,
        };
        seen.add(&c, class);
    }
    info.cut_short = stream.cut_short().map(TraceError::cut_short_warning);
    if info.packets > 0 {
        info.first_ts_ns = Some(first);
        info.last_ts_ns = Some(last);
        info.duration_s = (last - first) as f64 / 1e9;
    }
    info.link_types = links
        .iter()
        .map(|&c| link_type_name(c).to_string())
        .collect();
    info.malformed = malformed.iter().sum();
    info.malformed_by_reason = Malformed::ALL
        .iter()
        .filter(|k| malformed[**k as usize] > 0)
        .map(|k| (k.name().to_string(), malformed[*k as usize]))
        .collect();
    let [tcp, udp, icmp, other] = seen.counts();
    info.flows = FlowCounts {
        tcp,
        udp,
        icmp,
        other,
        total: tcp + udp + icmp + other,
    };
    Ok(info)
}

/// Sizes `seen` for the flows a capture of `size` bytes holds if the rest of it opens flows
/// at the rate its first `read` bytes did (at most [`AHEAD_MAX`] times those seen so far):
/// past its first [`AHEAD_FIRST`] packets a flood of new flows then grows the set in two
/// steps instead of at every power of two, and a capture of few flows keeps a small set. A
/// guess too low costs the doublings it did not save; the count is exact either way.
fn size_ahead(seen: &mut FlowSet, read: u64, size: u64) {
    if read == 0 || size <= read {
        return;
    }
    let scale = size as f64 / read as f64;
    let ahead = |n: usize| ((n as f64 * scale) as usize).min(n * AHEAD_MAX);
    let (v4, v6) = seen.held();
    seen.reserve(ahead(v4), ahead(v6));
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::r#gen::{GenConfig, Profile, Stop, generate_vec};
    use crate::meta::FlowKey;
    use crate::pcap::TraceReader;
    use std::io::Cursor;

    /// Sized ahead or not, a capture's summary is the same: on a SYN flood, whose set is
    /// sized ahead after 2^16 packets for four times the flows then seen, and on a capture of
    /// few flows. (That `size_ahead` reserves what it should is the next test's.)
    #[test]
    fn sizing_ahead_changes_no_count() {
        for (profile, packets) in [(Profile::Synflood, 300_000), (Profile::HomeRouter, 70_000)] {
            let (bytes, _) = generate_vec(&GenConfig::new(profile, 7, Stop::Packets(packets)))
                .expect("generated");
            let info = |size: Option<u64>| {
                let r = TraceReader::new(Cursor::new(&bytes[..]), "t").expect("header");
                summarize_sized("t", &mut PacketStream::new(r), size).expect("summary")
            };
            let (plain, sized) = (info(None), info(Some(bytes.len() as u64)));
            assert!(plain.flows.total > 0);
            assert_eq!(plain, sized, "{profile:?}");
        }
    }

    /// The set is sized for the flows the rest of the capture is on course to open, at most
    /// [`AHEAD_MAX`] times those seen; not at all at the end of a capture or with nothing read.
    #[test]
    fn the_set_is_sized_for_the_projected_flows_within_a_bound() {
        let key = |i: u32, version: u8| FlowKey {
            src: u128::from(i),
            dst: 1,
            sport: 2,
            dport: 3,
            proto: 17,
            version,
        };
        let mut seen = FlowSet::new();
        for i in 0..10_000 {
            seen.add(&key(i, 4), Class::Udp);
            if i % 10 == 0 {
                seen.add(&key(i, 6), Class::Udp);
            }
        }
        seen.counts();
        let room = seen.room();
        size_ahead(&mut seen, 100, 100);
        size_ahead(&mut seen, 0, 100);
        assert_eq!(seen.room(), room, "nothing to project");
        // Half read: room for twice as many.
        size_ahead(&mut seen, 50, 100);
        let (v4, v6) = seen.room();
        assert!(v4 * 7 / 8 >= 20_000 && v4 <= 32_768, "{v4}");
        assert!(v6 * 7 / 8 >= 2_000 && v6 <= 4_096, "{v6}");
        // A hundredth read: room for AHEAD_MAX times as many, no more.
        size_ahead(&mut seen, 1, 100);
        let (v4, v6) = seen.room();
        assert!(v4 * 7 / 8 >= 10_000 * AHEAD_MAX && v4 <= 65_536, "{v4}");
        assert!(v6 * 7 / 8 >= 1_000 * AHEAD_MAX && v6 <= 8_192, "{v6}");
        // Every key still there: adding them all again opens no flow.
        for i in 0..10_000 {
            seen.add(&key(i, 4), Class::Udp);
            seen.add(&key(i - i % 10, 6), Class::Udp);
        }
        assert_eq!(seen.counts(), [0, 11_000, 0, 0]);
    }
}
