//! The hardware lookup key: one direction of a flow as the NIC matches it.
//!
//! The kernel offloads each direction of a flow as its own rule (`FLOW_CLS_REPLACE` is issued
//! for the ORIGINAL and the REPLY tuple, `nf_flow_table_offload.c`), keyed on that direction's
//! **pre-NAT** tuple as seen on the wire at ingress, the ingress interface, and up to
//! `NF_FLOW_TABLE_ENCAP_MAX` = 2 encapsulation ids (VLAN id / PPPoE session id)
//! (`include/net/netfilter/nf_flow_table.h`, `struct flow_offload_tuple`; see
//! `reference/flow-offload-semantics.md` §2.3, §3.3, §6.1).
//!
//! Whether a given NIC actually matches the interface and the encapsulation is a property of
//! the hardware ([`crate::config::TableConfig::match_iif`], `match_encap`): MediaTek's PPE
//! compares only the tuple and the UDP bit (`mtk_flow_entry_match` in `mtk_ppe.c`), mlx5
//! rules match the ingress port and VLAN tags. The table masks the fields the hardware does
//! not match before hashing and comparing (`HwKey::masked`).

use offsim_traces::{FlowKey, PacketMeta};

/// EtherType of an 802.1Q VLAN tag, used in [`EncapId`].
pub const ETH_P_8021Q: u16 = 0x8100;
/// EtherType of a PPPoE session, used in [`EncapId`].
pub const ETH_P_PPP_SES: u16 = 0x8864;

/// One encapsulation layer of a flow direction: `(proto << 16) | id`; 0 means "no layer".
///
/// `proto` is the EtherType ([`ETH_P_8021Q`] or [`ETH_P_PPP_SES`]) and `id` the VLAN id or the
/// PPPoE session id, like `struct flow_offload_tuple`'s `encap[]` entries.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EncapId(pub u32);

impl EncapId {
    /// No encapsulation.
    pub const NONE: EncapId = EncapId(0);

    /// A VLAN tag with the given id (the 12-bit VID; higher bits are dropped).
    #[inline]
    pub const fn vlan(vid: u16) -> EncapId {
        EncapId(((ETH_P_8021Q as u32) << 16) | (vid & 0x0fff) as u32)
    }

    /// A PPPoE session.
    #[inline]
    pub const fn pppoe(session: u16) -> EncapId {
        EncapId(((ETH_P_PPP_SES as u32) << 16) | session as u32)
    }

    /// Whether this slot holds a layer.
    #[inline]
    pub const fn is_some(self) -> bool {
        self.0 != 0
    }
}

/// Per-direction hardware key: the direction's tuple, the ingress interface and up to two
/// encapsulation ids (outer first).
///
/// Addresses are stored like [`FlowKey`]'s (IPv4 in the low 32 bits). `version` is 4 or 6;
/// the value `HwKey::EMPTY_VERSION` marks the sentinel stored in free table slots, so a
/// lookup compares keys only and never needs to read the slot state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(C)]
pub struct HwKey {
    /// Source address of this direction (pre-NAT, as on the wire at ingress).
    pub src: u128,
    /// Destination address.
    pub dst: u128,
    /// Source port.
    pub sport: u16,
    /// Destination port.
    pub dport: u16,
    /// IP protocol (6 TCP, 17 UDP).
    pub proto: u8,
    /// IP version, 4 or 6.
    pub version: u8,
    /// Ingress interface index as the simulator numbers interfaces (pcapng interface id or
    /// the scenario's mapping).
    pub iif: u32,
    /// Encapsulation layers seen at ingress, outer first ([`EncapId::NONE`] when absent).
    pub encap: [EncapId; 2],
}

impl HwKey {
    /// `version` value of [`HwKey::EMPTY`], never produced by a real packet.
    pub(crate) const EMPTY_VERSION: u8 = 0xff;

    /// The sentinel held by free and reserved slots.
    pub(crate) const EMPTY: HwKey = HwKey {
        src: 0,
        dst: 0,
        sport: 0,
        dport: 0,
        proto: 0,
        version: Self::EMPTY_VERSION,
        iif: 0,
        encap: [EncapId::NONE; 2],
    };

    /// A key from a directional flow tuple, the ingress interface and the encapsulation.
    #[inline]
    pub fn new(flow: FlowKey, iif: u32, encap: [EncapId; 2]) -> HwKey {
        HwKey {
            src: flow.src,
            dst: flow.dst,
            sport: flow.sport,
            dport: flow.dport,
            proto: flow.proto,
            version: flow.version,
            iif,
            encap,
        }
    }

    /// The key a NIC extracts from a received packet: tuple, capture interface, VLAN tags (up
    /// to two, outer first) and the PPPoE session (taking the slot after the VLAN tags).
    /// Returns `None` for packets that are not IP or are malformed.
    ///
    /// When a packet carries two VLAN tags and PPPoE, the PPPoE session does not fit (the
    /// kernel's limit is two layers too); the caller should treat such packets as
    /// unsupported ([`crate::datapath::PuntReason::TooManyTags`] does this in [`crate::Nic::rx`]).
    #[inline]
    pub fn from_meta(pkt: &PacketMeta) -> Option<HwKey> {
        let flow = pkt.flow_key()?;
        let mut encap = [EncapId::NONE; 2];
        let nvlan = usize::from(pkt.vlan_count.min(2));
        for (slot, vid) in encap.iter_mut().zip(pkt.vlan.iter()).take(nvlan) {
            *slot = EncapId::vlan(*vid);
        }
        if pkt.has(offsim_traces::meta::flags::PPPOE) && nvlan < 2 {
            encap[nvlan] = EncapId::pppoe(pkt.pppoe_session);
        }
        Some(HwKey::new(flow, pkt.iface, encap))
    }

    /// The directional tuple.
    #[inline]
    #[cfg(test)]
    pub(crate) fn flow(&self) -> FlowKey {
        FlowKey {
            src: self.src,
            dst: self.dst,
            sport: self.sport,
            dport: self.dport,
            proto: self.proto,
            version: self.version,
        }
    }

    /// Number of encapsulation layers.
    #[inline]
    pub(crate) fn encap_depth(&self) -> usize {
        self.encap.iter().filter(|e| e.is_some()).count()
    }

    /// The key with the fields the hardware does not match cleared.
    #[inline]
    pub(crate) fn masked(&self, match_iif: bool, match_encap: bool) -> HwKey {
        let mut k = *self;
        if !match_iif {
            k.iif = 0;
        }
        if !match_encap {
            k.encap = [EncapId::NONE; 2];
        }
        k
    }

    /// Equality without short-circuit branches (the hot path compares 2–4 keys per lookup).
    #[inline(always)]
    pub(crate) fn same(&self, o: &HwKey) -> bool {
        let a = (self.src ^ o.src) | (self.dst ^ o.dst);
        let b = (u64::from(self.sport ^ o.sport) << 48)
            | (u64::from(self.dport ^ o.dport) << 32)
            | (u64::from(self.proto ^ o.proto) << 24)
            | (u64::from(self.version ^ o.version) << 16);
        let c = (u64::from(self.iif ^ o.iif) << 32) | u64::from(self.encap[0].0 ^ o.encap[0].0);
        let d = u64::from(self.encap[1].0 ^ o.encap[1].0);
        (a == 0) & ((b | c | d) == 0)
    }

    /// Whether this is the free-slot sentinel.
    #[inline]
    pub(crate) fn is_empty_sentinel(&self) -> bool {
        self.version == Self::EMPTY_VERSION
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use offsim_traces::meta::{NetKind, flags, proto};

    fn k() -> HwKey {
        HwKey::new(
            FlowKey {
                src: 0xc0a8_0102,
                dst: 0x0a00_0001,
                sport: 1234,
                dport: 80,
                proto: proto::TCP,
                version: 4,
            },
            3,
            [EncapId::vlan(10), EncapId::NONE],
        )
    }

    #[test]
    fn same_agrees_with_eq() {
        let a = k();
        assert!(a.same(&a));
        let mut b = a;
        b.encap[1] = EncapId::pppoe(7);
        assert!(!a.same(&b));
        assert_ne!(a, b);
        let mut c = a;
        c.dst ^= 1 << 100;
        assert!(!a.same(&c));
        let mut d = a;
        d.version = 6;
        assert!(!a.same(&d));
        assert!(!a.same(&HwKey::EMPTY));
        assert!(HwKey::EMPTY.is_empty_sentinel());
    }

    #[test]
    fn masking_clears_unmatched_fields() {
        let a = k();
        let m = a.masked(false, false);
        assert_eq!(m.iif, 0);
        assert_eq!(m.encap_depth(), 0);
        assert_eq!(m.flow(), a.flow());
        assert_eq!(a.masked(true, true), a);
    }

    #[test]
    fn from_meta_takes_tags_and_pppoe() {
        let mut p = PacketMeta {
            net: NetKind::Ipv4,
            ip_version: 4,
            src: 1,
            dst: 2,
            l4proto: proto::UDP,
            sport: 5,
            dport: 6,
            iface: 2,
            vlan_count: 1,
            vlan: [100, 0],
            flags: flags::L4_PRESENT | flags::PPPOE,
            pppoe_session: 0x1234,
            ..PacketMeta::default()
        };
        let key = HwKey::from_meta(&p).unwrap();
        assert_eq!(key.encap, [EncapId::vlan(100), EncapId::pppoe(0x1234)]);
        assert_eq!(key.iif, 2);
        assert_eq!((key.sport, key.dport, key.proto), (5, 6, proto::UDP));
        p.net = NetKind::NonIp(0x0806);
        assert!(HwKey::from_meta(&p).is_none());
    }
}
