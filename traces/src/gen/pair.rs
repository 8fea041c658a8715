//! The two endpoints of a generated flow, as seen from the capture point.
//!
//! The capture point is the router's ingress: every frame is addressed to a router MAC
//! (`gw_mac` of the sending endpoint, so a real router would accept it as `PACKET_HOST`), and
//! its source MAC is the sending host's (or, for hosts beyond the router's upstream, the
//! upstream gateway's). Each endpoint has a one-way delay to the capture point; a packet from
//! A observed at time `t` reaches B at `t + delay(B)`, and B's answer is observed at
//! `t + 2·delay(B)` plus B's processing time. This is what keeps both directions of a flow in
//! a causally valid order.

use super::frame::{self, L3, UdpPayload};

/// One endpoint of a flow.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Ep {
    /// Address (IPv4 in the low 32 bits).
    pub(crate) addr: u128,
    /// Source MAC of frames this endpoint sends (its own, or the upstream gateway's).
    pub(crate) mac: [u8; 6],
    /// Destination MAC of frames this endpoint sends: the router's interface on its side.
    pub(crate) gw_mac: [u8; 6],
    /// Transport port (or ICMP identifier).
    pub(crate) port: u16,
    /// TTL / hop limit of its packets as they reach the capture point.
    pub(crate) ttl: u8,
    /// One-way delay between this endpoint and the capture point, ns.
    pub(crate) delay: u64,
}

/// Both endpoints (index 0 = the side that opened the flow) and per-direction IP state.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Pair {
    /// IPv6 flow.
    pub(crate) v6: bool,
    /// Endpoints: 0 opened the flow ("client"), 1 is its peer ("server").
    pub(crate) ep: [Ep; 2],
    /// Next IPv4 identification per direction (incremented per packet).
    pub(crate) ip_id: [u16; 2],
    /// IPv6 flow label per direction.
    pub(crate) flow_label: [u32; 2],
    /// IPv4 don't-fragment bit.
    pub(crate) df: bool,
}

impl Pair {
    /// Network-layer parameters for the next packet sent by side `from` (0 or 1); advances
    /// that direction's IP ID.
    #[inline]
    pub(crate) fn l3(&mut self, from: usize) -> L3 {
        let to = 1 - from;
        let id = self.ip_id[from];
        self.ip_id[from] = id.wrapping_add(1);
        L3 {
            v6: self.v6,
            src: self.ep[from].addr,
            dst: self.ep[to].addr,
            src_mac: self.ep[from].mac,
            dst_mac: self.ep[from].gw_mac,
            ttl: self.ep[from].ttl,
            ip_id: id,
            df: self.df,
            flow_label: self.flow_label[from],
            tos: 0,
        }
    }

    /// Writes a UDP datagram carrying `payload` from side `from` to its peer into `buf`
    /// (advancing that direction's IP ID).
    #[inline]
    pub(crate) fn udp(&mut self, buf: &mut Vec<u8>, from: usize, payload: UdpPayload<'_>) {
        let l3 = self.l3(from);
        frame::udp(
            buf,
            &l3,
            self.ep[from].port,
            self.ep[1 - from].port,
            payload,
        );
    }

    /// Delay of side `i` to the capture point.
    #[inline]
    pub(crate) fn d(&self, i: usize) -> u64 {
        self.ep[i].delay
    }

    /// Round-trip time between the endpoints through the capture point.
    #[inline]
    pub(crate) fn rtt(&self) -> u64 {
        2 * (self.ep[0].delay + self.ep[1].delay)
    }
}
