//! The WAN-capture hint: signs that a capture taken as arriving on the LAN side was taken on
//! the WAN link (after NAT), for the `flow` and `single` sides modes, which guess the side.

use offsim_traces::meta::{PacketMeta, flags};

use super::Side;

/// Whether an IPv4 address is one a NAT router's LAN clients use: RFC 1918 private, or the
/// RFC 6598 shared space a carrier-grade NAT hands out.
fn private_v4(a: u32) -> bool {
    let o = a.to_be_bytes();
    o[0] == 10
        || (o[0] == 172 && (16..32).contains(&o[1]))
        || (o[0] == 192 && o[1] == 168)
        || (o[0] == 100 && (64..128).contains(&o[1]))
}

/// Whether an IPv4 address is globally reachable: none of the IANA IPv4 special-purpose
/// registry's blocks marked "Globally Reachable: False" (RFC 6890 and its updates) — private,
/// shared, loopback, link-local, "this network", IETF protocol assignments (192.0.0.0/24 but
/// .9 and .10), the documentation ranges test traces use, the RFC 2544 benchmarking range
/// 198.18.0.0/15 (generated floods' spoofed sources), reserved, broadcast — nor multicast (no
/// source address). The test is that of the standard library's `Ipv4Addr::is_global`
/// (unstable), plus multicast.
fn global_v4(a: u32) -> bool {
    let v = std::net::Ipv4Addr::from(a);
    let o = v.octets();
    !(private_v4(a)
        || v.is_loopback()
        || v.is_link_local()
        || v.is_multicast()
        || v.is_broadcast()
        || o[0] == 0
        || o[0] >= 240
        || ((o[0], o[1], o[2]) == (192, 0, 0) && o[3] != 9 && o[3] != 10)
        || (o[0], o[1], o[2]) == (192, 0, 2)
        || (o[0], o[1], o[2]) == (198, 51, 100)
        || (o[0], o[1], o[2]) == (203, 0, 113)
        || (o[0] == 198 && (o[1] & 0xfe) == 18))
}

/// Signs that a capture taken as arriving on the LAN side was taken on the WAN link: its
/// "LAN clients" are public IPv4 addresses (the router's own, after NAT) and none private,
/// or its LAN-side packets carry PPPoE sessions (`flow` and `single` sides guess the side;
/// a WAN capture makes every connection look like a LAN client's).
#[derive(Clone, Debug, Default)]
pub struct WanHint {
    lan_v4: u64,
    private: u64,
    global: Option<u32>,
    pppoe: u64,
}

impl WanHint {
    /// Notes a packet that arrived on `side`.
    pub fn note(&mut self, m: &PacketMeta, side: Side) {
        if side != Side::Lan || !m.is_ip() {
            return;
        }
        if m.has(flags::PPPOE) {
            self.pppoe += 1;
        }
        if m.ip_version == 4 {
            let a = m.src as u32;
            self.lan_v4 += 1;
            if private_v4(a) {
                self.private += 1;
            } else if self.global.is_none() && global_v4(a) {
                self.global = Some(a);
            }
        }
    }

    /// Whether noting `m` (on either side) can make [`WanHint::warning`] say something: an
    /// IP packet with a PPPoE session, or an IPv4 one from a globally reachable address.
    /// Until one such packet is noted the warning is `None` whatever the sides: the other
    /// packets only add to the count of LAN-side IPv4 packets (which only a warning prints)
    /// or of private LAN clients (which only silences one).
    pub fn can_warn(m: &PacketMeta) -> bool {
        m.is_ip() && (m.has(flags::PPPOE) || (m.ip_version == 4 && global_v4(m.src as u32)))
    }

    /// Whether [`WanHint::warning`] can now change only through LAN-side packets with a
    /// PPPoE session: a private LAN client was seen (which rules out the public-clients
    /// sign) and no PPPoE packet yet.
    pub fn settled_but_pppoe(&self) -> bool {
        self.private > 0 && self.pppoe == 0
    }

    /// The warning, if the capture looks taken on the WAN link.
    pub fn warning(&self) -> Option<String> {
        let why = if self.pppoe > 0 {
            format!(
                "{} packets taken as arriving on the LAN side carry a PPPoE session, which only the WAN link has",
                self.pppoe
            )
        } else if let (Some(a), 0) = (self.global, self.private) {
            format!(
                "the {} IPv4 packets taken as coming from LAN clients come from public addresses (e.g. {}) and none from a private one",
                self.lan_v4,
                std::net::Ipv4Addr::from(a)
            )
        } else {
            return None;
        };
        Some(format!(
            "this looks like a capture of the WAN link (after NAT): {why}. The sides mode took the first packet of each connection as a LAN client's. Capture on the LAN device, map a two-interface pcapng with --sides iface=ID:lan,ID:wan, or name the LAN prefixes with --sides lan=CIDR (scenario key ruleset.sides)"
        ))
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use offsim_traces::testkit::Pkt;

    #[test]
    fn a_wan_capture_is_recognised() {
        let mut h = WanHint::default();
        let out = Pkt::udp("81.2.69.160:40000", "8.8.8.8:53").build();
        h.note(&out, Side::Lan);
        h.note(
            &Pkt::udp("8.8.8.8:53", "81.2.69.160:40000").build(),
            Side::Wan,
        );
        let w = h.warning().expect("warning");
        assert!(
            w.contains("81.2.69.160") && w.contains("--sides iface="),
            "{w}"
        );
        // One private LAN client: a LAN capture.
        h.note(&Pkt::udp("192.168.1.2:1", "8.8.8.8:53").build(), Side::Lan);
        assert!(h.warning().is_none());
        // Documentation addresses (test traces) say nothing.
        let mut h = WanHint::default();
        h.note(
            &Pkt::udp("192.0.2.1:1", "198.51.100.1:53").build(),
            Side::Lan,
        );
        assert!(h.warning().is_none());
        let mut p = Pkt::udp("192.168.1.2:1", "8.8.8.8:53").build();
        p.flags |= flags::PPPOE;
        h.note(&p, Side::Lan);
        assert!(h.warning().unwrap().contains("PPPoE"));
    }

    /// A packet `can_warn` calls silent leaves the warning `None` on either side, whatever
    /// came before it among silent packets; the others can start one. The ranges' edges.
    #[test]
    fn silent_packets_never_warn() {
        let silent = [
            Pkt::udp("192.0.2.1:1", "198.51.100.1:53").build(),
            Pkt::udp("203.0.113.9:1", "8.8.8.8:53").build(),
            Pkt::udp("127.0.0.1:1", "8.8.8.8:53").build(),
            Pkt::udp("198.18.0.0:1", "8.8.8.8:53").build(),
            Pkt::udp("198.19.255.255:1", "8.8.8.8:53").build(),
            Pkt::udp("192.0.0.8:1", "8.8.8.8:53").build(),
            Pkt::udp("192.0.0.11:1", "8.8.8.8:53").build(),
            Pkt::udp("10.0.0.1:1", "192.0.2.1:53").build(),
            Pkt::udp("100.64.0.1:1", "192.0.2.1:53").build(),
            Pkt::udp("[2001:db8::1]:1", "[2001:db8::2]:53").build(),
            Pkt::udp("[2a00:1450::1]:1", "[fd00::2]:53").build(),
        ];
        let mut h = WanHint::default();
        for (i, m) in silent.iter().enumerate() {
            assert!(!WanHint::can_warn(m), "{i}");
            h.note(m, Side::Lan);
            h.note(m, Side::Wan);
            assert!(h.warning().is_none(), "{i}");
        }
        let mut p = Pkt::udp("[2001:db8::1]:1", "[2001:db8::2]:53").build();
        p.flags |= flags::PPPOE;
        let can = [
            p,
            Pkt::udp("81.2.69.160:1", "192.0.2.1:53").build(),
            Pkt::udp("198.17.255.255:1", "192.0.2.1:53").build(),
            Pkt::udp("198.20.0.0:1", "192.0.2.1:53").build(),
            Pkt::udp("192.0.0.9:1", "192.0.2.1:53").build(),
            Pkt::udp("192.0.0.10:1", "192.0.2.1:53").build(),
        ];
        for (i, m) in can.iter().enumerate() {
            assert!(WanHint::can_warn(m), "{i}");
            let mut h = WanHint::default();
            h.note(m, Side::Lan);
            assert!(h.warning().is_some(), "{i}");
        }
    }
}
