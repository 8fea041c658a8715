//! Ports and the offload engine: serialisation, engine capacity, egress buffering, punts.
//!
//! # Serialisation
//! A frame occupies the wire for its length plus the preamble and start delimiter (8 B), the
//! FCS (4 B, unless the capture kept it) and the inter-frame gap (12 B), with the frame padded
//! to the 64-byte minimum (FCS included). [`frame_len`] rebuilds the Ethernet frame length
//! from a [`PacketMeta`] whatever the capture's link type: Ethernet header (14 B), 4 B per
//! VLAN tag, 8 B of PPPoE, and the L3 bytes on the wire; so raw-IP and Linux-cooked captures
//! are timed like Ethernet. Each interface has its own receive and transmit line. Line time is
//! kept in picoseconds from the first time the data path saw (a `u64` covers 213 days), with
//! a 32.32 fixed-point picoseconds-per-byte factor: exact for every common line rate (1, 2.5,
//! 10, 25, 40, 100 Gbit/s), so back-to-back packets do not accumulate rounding error.
//!
//! `now` passed to `DataPath::ingress` is when the frame's first bit arrives; a frame that
//! arrives while the previous one on the same port is still being received is delayed (and
//! counted in `ingress_overruns`: the trace is faster than the line).
//!
//! # Engine and egress
//! The offload engine forwards `engine_pps` packets per second from a queue of
//! `engine_queue` packets (more are dropped), adds `forward_latency_ns`, then the packet
//! waits for its egress line; a packet that would wait longer than `egress_buffer_bytes`
//! take to serialise is dropped (a hardware-forwarded packet bypasses the host qdisc, which
//! is why offload can show multi-millisecond queueing: openwrt/openwrt #19449).

use crate::config::DatapathConfig;
use crate::stats::DataPathStats;
use offsim_traces::meta::flags;
use offsim_traces::{PacketMeta, SimDuration, SimTime};
use serde::Serialize;

/// Why the NIC hands a packet to the CPU (MediaTek CPU-reason names in parentheses).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PuntReason {
    /// No entry for the packet (MediaTek `UN_HIT` / `NO_FLOW`).
    Miss,
    /// Lazy binding: unbound entry below the bind rate (MediaTek `HIT_UNBIND`).
    Unbound,
    /// Lazy binding: unbound entry at the bind rate; the CPU should run the bind check
    /// (MediaTek `HIT_UNBIND_RATE_REACHED`).
    BindCheck,
    /// TCP flag in the NIC's punt mask (MediaTek `TCP_FIN_SYN_RST`).
    TcpFlags,
    /// Not IPv4/IPv6, or malformed.
    NotIp,
    /// IP fragment (MediaTek `IPV4_FRAG`).
    Fragment,
    /// IPv4 options (MediaTek `OPTION_HEADER`).
    IpOptions,
    /// IPv6 extension headers.
    Ipv6ExtHeaders,
    /// Not TCP/UDP, or no transport header.
    L4Protocol,
    /// IPv6 on a NIC without IPv6 offload.
    Ipv6Unsupported,
    /// More than two VLAN/PPPoE layers.
    TooManyTags,
    /// TTL / hop limit <= 1 (MediaTek `TTL_EXCEEDED`).
    TtlExpired,
    /// Longer than the rule's MTU (MediaTek `EXCEED_MTU`).
    ExceedMtu,
}

/// Why the NIC dropped a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DropReason {
    /// The offload engine's queue was full.
    EngineOverflow,
    /// The egress port's buffer was full.
    EgressOverflow,
}

const PS_PER_NS: u64 = 1_000;
const PS_PER_S: u128 = 1_000_000_000_000;
const MAX_LINKS: usize = 1 << 16;

#[derive(Clone, Copy, Debug, Default)]
struct Link {
    /// When the port's last frame was complete (`None`: it has received none yet).
    rx_last_ps: Option<u64>,
    tx_free_ps: u64,
}

/// The ports and the offload engine.
#[derive(Clone, Debug)]
pub struct DataPath {
    /// Picoseconds per wire byte, 32.32 fixed point.
    ps_per_byte_fp: u64,
    overhead: u32,
    fcs_add: u32,
    min_frame: u32,
    /// Origin of the picosecond clock (ns); set by the first call.
    base_ns: Option<u64>,
    engine_service_ps: u64,
    engine_queue_ps: u64,
    engine_free_ps: u64,
    fwd_latency_ps: u64,
    egress_buffer_ps: u64,
    punt_tcp_mask: u8,
    punt_ttl: bool,
    links: Vec<Link>,
    /// Counters.
    pub stats: DataPathStats,
}

/// The Ethernet frame length (without FCS) of a captured packet, rebuilt from its L3 length
/// on the wire so that any capture link type is timed as Ethernet.
#[inline]
pub fn frame_len(pkt: &PacketMeta) -> u32 {
    if pkt.ip_version == 0 {
        return pkt.wire_len.max(14);
    }
    let l3 = pkt.wire_len.saturating_sub(u32::from(pkt.l3_offset));
    let pppoe = if pkt.has(flags::PPPOE) { 8 } else { 0 };
    14 + 4 * u32::from(pkt.vlan_count) + pppoe + l3
}

impl DataPath {
    /// Idle ports and engine.
    pub(crate) fn new(cfg: &DatapathConfig) -> DataPath {
        let rate = u128::from(cfg.line_rate_bps.max(1));
        let service = PS_PER_S.div_ceil(u128::from(cfg.engine_pps.max(1))) as u64;
        let sat = |v: u128| v.min(u128::from(u64::MAX)) as u64;
        DataPath {
            ps_per_byte_fp: sat(((8 * PS_PER_S) << 32).div_ceil(rate)),
            overhead: cfg.preamble_bytes + cfg.ifg_bytes,
            fcs_add: if cfg.fcs_in_capture { 0 } else { cfg.fcs_bytes },
            min_frame: cfg.min_frame_bytes,
            base_ns: None,
            engine_service_ps: service,
            engine_queue_ps: service.saturating_mul(u64::from(cfg.engine_queue)),
            engine_free_ps: 0,
            fwd_latency_ps: cfg.forward_latency_ns.saturating_mul(PS_PER_NS),
            egress_buffer_ps: sat(u128::from(cfg.egress_buffer_bytes) * 8 * PS_PER_S / rate),
            punt_tcp_mask: cfg.punt_tcp_flags.iter().fold(0, |m, f| m | f.bit()),
            punt_ttl: cfg.punt_ttl_expired,
            links: Vec::new(),
            stats: DataPathStats::default(),
        }
    }

    /// Bytes a frame of `frame` bytes (FCS as captured) occupies on the wire.
    #[inline]
    pub(crate) fn wire_bytes(&self, frame: u32) -> u32 {
        (frame + self.fcs_add).max(self.min_frame) + self.overhead
    }

    /// Serialisation time of `wire_bytes` at line rate, picoseconds (rounded up).
    #[inline]
    fn ser_ps(&self, wire_bytes: u32) -> u64 {
        let fp = u128::from(wire_bytes) * u128::from(self.ps_per_byte_fp);
        ((fp + 0xffff_ffff) >> 32) as u64
    }

    /// Serialisation time of a frame (FCS as captured), nanoseconds, rounded up.
    pub fn serialisation_ns(&self, frame: u32) -> u64 {
        self.ser_ps(self.wire_bytes(frame)).div_ceil(PS_PER_NS)
    }

    /// A time as picoseconds since the data path's origin.
    #[inline]
    fn ps_of(&mut self, t: SimTime) -> u64 {
        let base = *self.base_ns.get_or_insert(t.0);
        t.0.saturating_sub(base).saturating_mul(PS_PER_NS)
    }

    /// Picoseconds since the origin back to a time (rounded up to the nanosecond).
    #[inline]
    fn time_of(&self, ps: u64) -> SimTime {
        SimTime(
            self.base_ns
                .unwrap_or(0)
                .saturating_add(ps.div_ceil(PS_PER_NS)),
        )
    }

    #[inline]
    fn link(&mut self, iface: u32) -> &mut Link {
        let i = (iface as usize).min(MAX_LINKS - 1);
        if i >= self.links.len() {
            self.links.resize(i + 1, Link::default());
        }
        &mut self.links[i]
    }

    /// Receives a frame captured at `now` on port `iface`; returns when its last bit has
    /// arrived (the earliest the NIC can act on it), or `None` when the port is still busy
    /// receiving earlier frames for longer than `max_wait` (the frame is lost before the
    /// port; the line is left as it was).
    ///
    /// A capture's timestamp is taken once the frame was received whole (libpcap stamps a
    /// packet when the driver hands it up, after its last bit), so a frame is complete at its
    /// own time unless the port is still receiving earlier ones: then it completes one
    /// serialisation after the port frees. Reading the timestamp as the first bit instead
    /// would let a short frame on one port overtake a long one captured before it on the
    /// other, a reply before the request it answers.
    #[inline]
    pub(crate) fn ingress(
        &mut self,
        now: SimTime,
        iface: u32,
        frame: u32,
        max_wait: SimDuration,
    ) -> Option<SimTime> {
        let wire = self.wire_bytes(frame);
        let ser = self.ser_ps(wire);
        let now_ps = self.ps_of(now);
        let max_wait_ps = max_wait.0.saturating_mul(PS_PER_NS);
        let link = self.link(iface);
        let earliest = link.rx_last_ps.map_or(0, |l| l.saturating_add(ser));
        let done = now_ps.max(earliest);
        if done - now_ps > max_wait_ps {
            self.stats.ingress_overrun_drops += 1;
            return None;
        }
        let overrun = earliest > now_ps;
        link.rx_last_ps = Some(done);
        self.stats.rx_packets += 1;
        self.stats.rx_bytes += u64::from(frame);
        self.stats.rx_wire_bytes += u64::from(wire);
        self.stats.ingress_overruns += u64::from(overrun);
        Some(self.time_of(done))
    }

    /// The punt decided before the table lookup (unsupported packet, TCP flags), if any.
    #[inline]
    pub(crate) fn pre_lookup_punt(&self, pkt: &PacketMeta, ipv6: bool) -> Option<PuntReason> {
        use offsim_traces::meta::{NetKind, proto};
        if !matches!(pkt.net, NetKind::Ipv4 | NetKind::Ipv6) || pkt.malformed.is_some() {
            return Some(PuntReason::NotIp);
        }
        if pkt.has(flags::FRAGMENT) {
            return Some(PuntReason::Fragment);
        }
        if pkt.has(flags::IP_OPTIONS) {
            return Some(PuntReason::IpOptions);
        }
        if pkt.has(flags::IP6_EXT_HEADERS) {
            return Some(PuntReason::Ipv6ExtHeaders);
        }
        if pkt.ip_version == 6 && !ipv6 {
            return Some(PuntReason::Ipv6Unsupported);
        }
        if !pkt.has(flags::L4_PRESENT) || (pkt.l4proto != proto::TCP && pkt.l4proto != proto::UDP) {
            return Some(PuntReason::L4Protocol);
        }
        let layers = u32::from(pkt.vlan_count) + u32::from(pkt.has(flags::PPPOE));
        if layers > 2 {
            return Some(PuntReason::TooManyTags);
        }
        if pkt.l4proto == proto::TCP && pkt.tcp_flags & self.punt_tcp_mask != 0 {
            return Some(PuntReason::TcpFlags);
        }
        None
    }

    /// The punt decided on a hit (TTL, MTU), if any.
    #[inline]
    pub(crate) fn hit_punt(&self, pkt: &PacketMeta, mtu: u16) -> Option<PuntReason> {
        if self.punt_ttl && pkt.ttl <= 1 {
            return Some(PuntReason::TtlExpired);
        }
        if mtu != 0 && pkt.ip_len > u32::from(mtu) {
            return Some(PuntReason::ExceedMtu);
        }
        None
    }

    /// Counts a punt.
    #[inline]
    pub(crate) fn count_punt(&mut self, r: PuntReason) {
        let p = &mut self.stats.punts;
        match r {
            PuntReason::Miss => p.miss += 1,
            PuntReason::Unbound => p.unbound += 1,
            PuntReason::BindCheck => p.bind_check += 1,
            PuntReason::TcpFlags => p.tcp_flags += 1,
            PuntReason::NotIp => p.not_ip += 1,
            PuntReason::Fragment => p.fragment += 1,
            PuntReason::IpOptions => p.ip_options += 1,
            PuntReason::Ipv6ExtHeaders => p.ipv6_ext += 1,
            PuntReason::L4Protocol => p.l4_protocol += 1,
            PuntReason::Ipv6Unsupported => p.ipv6_unsupported += 1,
            PuntReason::TooManyTags => p.too_many_tags += 1,
            PuntReason::TtlExpired => p.ttl_expired += 1,
            PuntReason::ExceedMtu => p.exceed_mtu += 1,
        }
    }

    /// Forwards a frame that finished arriving at `rx_done` through the engine to port
    /// `out_iface`; returns when its last bit leaves, or why it was dropped.
    #[inline]
    pub(crate) fn forward(
        &mut self,
        rx_done: SimTime,
        out_iface: u32,
        frame: u32,
    ) -> Result<SimTime, DropReason> {
        let t = self.ps_of(rx_done);
        let start = t.max(self.engine_free_ps);
        if start - t > self.engine_queue_ps {
            self.stats.engine_drops += 1;
            return Err(DropReason::EngineOverflow);
        }
        self.engine_free_ps = start + self.engine_service_ps;
        let ready = self.engine_free_ps + self.fwd_latency_ps;
        let depart = self.egress(ready, out_iface, frame)?;
        self.stats.hw_packets += 1;
        self.stats.hw_bytes += u64::from(frame);
        Ok(depart)
    }

    /// Sends a frame handed over by the CPU at `now` through port `out_iface`; returns when
    /// its last bit leaves, or `EgressOverflow`.
    pub(crate) fn transmit(
        &mut self,
        now: SimTime,
        out_iface: u32,
        frame: u32,
    ) -> Result<SimTime, DropReason> {
        let now_ps = self.ps_of(now);
        let t = self.egress(now_ps, out_iface, frame)?;
        self.stats.tx_packets += 1;
        Ok(t)
    }

    fn egress(&mut self, ready_ps: u64, out_iface: u32, frame: u32) -> Result<SimTime, DropReason> {
        let ser = self.ser_ps(self.wire_bytes(frame));
        let buffer = self.egress_buffer_ps;
        let link = self.link(out_iface);
        let start = ready_ps.max(link.tx_free_ps);
        if start - ready_ps > buffer {
            self.stats.egress_drops += 1;
            return Err(DropReason::EgressOverflow);
        }
        link.tx_free_ps = start + ser;
        let done = link.tx_free_ps;
        Ok(self.time_of(done))
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::config::{NicConfig, TcpFlag};
    use offsim_traces::meta::{NetKind, proto, tcp_flags};

    fn dp(preset: &str) -> DataPath {
        DataPath::new(&NicConfig::preset(preset).unwrap().datapath)
    }

    fn tcp(len: u32, fl: u8) -> PacketMeta {
        PacketMeta {
            wire_len: len,
            cap_len: len,
            net: NetKind::Ipv4,
            ip_version: 4,
            l3_offset: 14,
            ip_len: len - 14,
            ttl: 64,
            l4proto: proto::TCP,
            tcp_flags: fl,
            flags: flags::L4_PRESENT,
            ..PacketMeta::default()
        }
    }

    #[test]
    fn serialisation_counts_preamble_ifg_fcs_and_padding() {
        let d = dp("e810"); // 100G, capture without FCS
        // 60 B captured -> 64 B with FCS -> 84 B on the wire = 6.72 ns at 100G.
        assert_eq!(d.wire_bytes(60), 84);
        assert_eq!(d.serialisation_ns(60), 7);
        let d = dp("mt7621"); // 1G
        // 1514 B captured -> 1518 + 20 = 1538 B = 12,304 ns at 1G.
        assert_eq!(d.wire_bytes(1514), 1538);
        assert_eq!(d.serialisation_ns(1514), 12_304);
        let mut c = NicConfig::preset("mt7621").unwrap().datapath;
        c.fcs_in_capture = true;
        let d = DataPath::new(&c);
        assert_eq!(d.wire_bytes(1518), 1538);
        assert_eq!(d.wire_bytes(40), 84);
    }

    #[test]
    fn line_rate_paces_back_to_back_frames_without_drift() {
        let mut d = dp("e810");
        // 1,000,000 minimum frames captured at once: the first is complete then, each next
        // one 6.72 ns later, the last at 999,999 x 6.72 ns.
        let mut last = SimTime::ZERO;
        for _ in 0..1_000_000 {
            last = d
                .ingress(SimTime::ZERO, 0, 60, SimDuration(u64::MAX))
                .unwrap();
        }
        // (6,719,993.28 ns, rounded up to the next whole ns: never early)
        assert_eq!(last, SimTime(6_719_994));
        assert_eq!(d.stats.ingress_overruns, 999_999);
        // Another port is independent.
        assert_eq!(
            d.ingress(SimTime::ZERO, 1, 60, SimDuration(u64::MAX)),
            Some(SimTime(0))
        );
    }

    #[test]
    fn a_port_busy_beyond_the_far_ends_queue_loses_the_frame() {
        let mut d = dp("e810");
        // 84 wire bytes at 100 Gbit/s take 6.72 ns; with 10 ns of far-end queue the third
        // frame captured at once would wait 13.44 ns: lost, and the line is left as it was.
        let q = SimDuration(10);
        assert_eq!(d.ingress(SimTime::ZERO, 0, 60, q), Some(SimTime(0)));
        assert_eq!(d.ingress(SimTime::ZERO, 0, 60, q), Some(SimTime(7)));
        assert_eq!(d.ingress(SimTime::ZERO, 0, 60, q), None);
        assert_eq!(d.stats.ingress_overrun_drops, 1);
        // Once the line is free a frame is complete at its own time.
        assert_eq!(d.ingress(SimTime(20), 0, 60, q), Some(SimTime(20)));
    }

    #[test]
    fn engine_capacity_and_queue_drop_excess() {
        let mut c = NicConfig::preset("mt7621").unwrap().datapath;
        c.engine_pps = 1_000_000; // 1 us per packet
        c.engine_queue = 4;
        c.forward_latency_ns = 0;
        c.egress_buffer_bytes = 1 << 30;
        let mut d = DataPath::new(&c);
        let mut ok = 0;
        for i in 0..10u32 {
            if d.forward(SimTime(1000), i, 60).is_ok() {
                ok += 1;
            }
        }
        // One in service + 4 waiting (the 5th waits exactly 4 us, still within the queue).
        assert_eq!(ok, 5);
        assert_eq!(d.stats.engine_drops, 5);
        // Later traffic at a sustainable rate passes.
        for i in 0..10u64 {
            assert!(d.forward(SimTime(100_000 + i * 2_000), 0, 60).is_ok());
        }
    }

    #[test]
    fn egress_buffer_bounds_queueing_delay() {
        let mut c = NicConfig::preset("mt7621").unwrap().datapath;
        c.engine_pps = 1_000_000_000;
        c.forward_latency_ns = 0;
        c.egress_buffer_bytes = 1538 * 2; // two full frames of waiting
        let mut d = DataPath::new(&c);
        let r: Vec<bool> = (0..5)
            .map(|_| d.forward(SimTime(0), 7, 1514).is_ok())
            .collect();
        assert_eq!(r, vec![true, true, true, false, false]);
        assert_eq!(d.stats.egress_drops, 2);
    }

    #[test]
    fn punts_follow_the_nic_rules() {
        let d = dp("mt7621");
        assert_eq!(d.pre_lookup_punt(&tcp(100, tcp_flags::ACK), true), None);
        assert_eq!(
            d.pre_lookup_punt(&tcp(100, tcp_flags::SYN), true),
            Some(PuntReason::TcpFlags)
        );
        let cx = dp("connectx6dx");
        assert_eq!(cx.pre_lookup_punt(&tcp(100, tcp_flags::SYN), true), None);
        assert_eq!(
            cx.pre_lookup_punt(&tcp(100, tcp_flags::FIN | tcp_flags::ACK), true),
            Some(PuntReason::TcpFlags)
        );
        let mut p = tcp(100, 0);
        p.flags |= flags::FRAGMENT;
        assert_eq!(d.pre_lookup_punt(&p, true), Some(PuntReason::Fragment));
        let mut p = tcp(100, 0);
        p.l4proto = proto::ICMP;
        assert_eq!(d.pre_lookup_punt(&p, true), Some(PuntReason::L4Protocol));
        let mut p = tcp(100, 0);
        p.net = NetKind::NonIp(0x0806);
        assert_eq!(d.pre_lookup_punt(&p, true), Some(PuntReason::NotIp));
        let mut p = tcp(100, 0);
        p.ip_version = 6;
        p.net = NetKind::Ipv6;
        assert_eq!(
            d.pre_lookup_punt(&p, false),
            Some(PuntReason::Ipv6Unsupported)
        );
        let mut p = tcp(100, 0);
        p.vlan_count = 2;
        p.flags |= flags::PPPOE;
        assert_eq!(d.pre_lookup_punt(&p, true), Some(PuntReason::TooManyTags));
        let mut p = tcp(100, 0);
        p.ttl = 1;
        assert_eq!(d.hit_punt(&p, 0), Some(PuntReason::TtlExpired));
        assert_eq!(cx.hit_punt(&p, 0), None);
        assert_eq!(d.hit_punt(&tcp(1600, 0), 1500), Some(PuntReason::ExceedMtu));
        assert_eq!(TcpFlag::Syn.bit(), tcp_flags::SYN);
    }

    #[test]
    fn frame_len_rebuilds_ethernet_from_any_link_type() {
        let mut p = tcp(114, 0);
        assert_eq!(frame_len(&p), 114);
        // Raw IP capture: no link header in the capture.
        p.l3_offset = 0;
        p.wire_len = 100;
        assert_eq!(frame_len(&p), 114);
        // Linux cooked (16-byte header) with one VLAN tag recorded.
        p.l3_offset = 16;
        p.wire_len = 116;
        p.vlan_count = 1;
        assert_eq!(frame_len(&p), 118);
    }
}
