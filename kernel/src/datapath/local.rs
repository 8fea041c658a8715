//! Packets the router sends itself, and the path they take (`ip_local_out`: route, OUTPUT
//! with conntrack at −200 and the DNAT hook at −100, POSTROUTING with the SNAT hook at +100,
//! confirmation):
//!
//! * the stack's answers to packets delivered to one of its addresses
//!   ([`Datapath::stack_answer`]): a TCP reset where no socket listens
//!   (`tcp_v4_send_reset`), ICMP port unreachable for UDP (`__udp4_lib_rcv`), protocol
//!   unreachable / parameter problem for protocols it does not handle
//!   (`ip_protocol_deliver_rcu`, `ip6_protocol_deliver_rcu`), echo and timestamp replies
//!   (`icmp_echo`, `icmpv6_echo_reply`), neighbour advertisements (`ndisc_recv_ns`). The
//!   router runs no services: every port is closed.
//! * ICMP errors of the forward path ([`Datapath::send_icmp_error`], `__icmp_send`,
//!   `icmp6_send`): time exceeded, fragmentation needed, packet too big.
//! * the answer of a `reject` ([`Datapath::send_reject`]: `nf_send_reset`,
//!   `nf_send_unreach`).
//!
//! A reset from `reject` and every ICMP error are attached to the offending packet's
//! connection, unconfirmed or not (`nf_ct_attach`, from `nf_send_reset` and from
//! `icmp_glue_bits` / `icmpv6_getfrag`): RELATED in the other direction, without a lookup.
//! The stack's resets and echo replies are tracked at OUTPUT like any packet.
//!
//! Not modelled: ICMP rate limits (the kernel oracle switches them off), redirects, IGMP/MLD
//! reports (timer-driven), checksum validation (packets are taken as valid).

use offsim_nft::ast::Hook;
use offsim_nft::{CtView, EvalCost, PktCtx, Reject};
use offsim_traces::meta::{FlowKey, PacketMeta, flags, is_icmp_echo, proto, tcp_flags};
use offsim_traces::time::SimTime;

use super::hooks::Walk;
use super::{Datapath, Fate, LAN_IFINDEX, Outcome, fam};
use crate::conntrack::{CtInfo as CtInfoK, Dir, Track};
use crate::cost::CostDrivers;
use crate::fib::LocalDest;
use crate::path::Path;

/// The TTL / hop limit of packets the router sends (`ip_default_ttl`, the route's hop
/// limit: 64).
const OWN_TTL: u8 = 64;
/// `INADDR_DUMMY` (192.0.0.8): the source of an ICMP error when the router has no IPv4
/// address (`__icmp_send`).
const INADDR_DUMMY: u128 = 0xc000_0008;

/// A packet the router builds: IP header fields and transport basics, on a template.
fn own_packet(m: &PacketMeta, src: u128, dst: u128, l4proto: u8, l4_len: u32) -> PacketMeta {
    let hdr = if m.ip_version == 4 { 20 } else { 40 };
    let mut p = PacketMeta {
        ts: m.ts,
        ip_version: m.ip_version,
        net: m.net,
        ethertype: m.ethertype,
        l3_offset: 14,
        src,
        dst,
        ttl: OWN_TTL,
        ip_hdr_len: hdr,
        ip_len: u32::from(hdr) + l4_len,
        ip_proto_field: l4proto,
        l4proto,
        flags: flags::L4_PRESENT | flags::ETHER,
        ..PacketMeta::default()
    };
    p.wire_len = p.ip_len + 14;
    p.cap_len = p.wire_len;
    p
}

/// The quoted packet of an ICMP error about `m`.
fn quote(m: &PacketMeta) -> (FlowKey, bool) {
    let echo = matches!(m.l4proto, proto::ICMP | proto::ICMPV6)
        && m.l4_present()
        && is_icmp_echo(m.l4proto, m.icmp_type);
    let k = FlowKey {
        src: m.src,
        dst: m.dst,
        sport: m.sport,
        dport: if echo {
            u16::from(m.icmp_type) << 8 | u16::from(m.icmp_code)
        } else {
            m.dport
        },
        proto: m.l4proto,
        version: m.ip_version,
    };
    (k, m.l4_present())
}

/// Whether `m` is an ICMP error (or an unknown ICMP type, which `__icmp_send` takes for
/// one); the kernel never answers an error with an error.
fn is_icmp_error(m: &PacketMeta) -> bool {
    match m.l4proto {
        proto::ICMP => {
            !m.l4_present() || m.icmp_type > 18 || matches!(m.icmp_type, 3 | 4 | 5 | 11 | 12)
        }
        proto::ICMPV6 => !m.l4_present() || m.icmp_type < 128 || m.icmp_type == 137,
        _ => false,
    }
}

/// A TCP reset answering segment `m` (RFC 793 as `nf_reject_ip_tcphdr_put` and
/// `tcp_v4_send_reset` build it): RST with the segment's ACK number, or RST|ACK
/// acknowledging it.
fn tcp_reset(m: &PacketMeta) -> Option<PacketMeta> {
    if m.l4proto != proto::TCP || !m.has(flags::PORTS) || m.tcp_flags & tcp_flags::RST != 0 {
        return None;
    }
    let mut r = own_packet(m, m.dst, m.src, proto::TCP, 20);
    r.flags |= flags::PORTS | flags::L4_HEAD;
    r.sport = m.dport;
    r.dport = m.sport;
    r.tcp_hdr_len = 20;
    if m.tcp_flags & tcp_flags::ACK != 0 {
        r.tcp_flags = tcp_flags::RST;
        r.tcp_seq = m.tcp_ack;
    } else {
        r.tcp_flags = tcp_flags::RST | tcp_flags::ACK;
        let syn_fin = u32::from(m.tcp_flags & tcp_flags::SYN != 0)
            + u32::from(m.tcp_flags & tcp_flags::FIN != 0);
        r.tcp_ack = m.tcp_seq.wrapping_add(m.l4_payload_len + syn_fin);
    }
    Some(r)
}

impl Datapath {
    /// What the router's stack sends back for packet `m` delivered locally on `iif`
    /// (`unicast`: to one of its addresses; else a broadcast or joined multicast group,
    /// which only an IPv6 echo request or neighbour solicitation gets an answer to).
    pub(super) fn stack_answer(
        &self,
        m: &PacketMeta,
        unicast: bool,
        iif: u32,
    ) -> Option<(PacketMeta, &'static str, Option<u32>)> {
        let v6 = m.ip_version == 6;
        let echo_req = if v6 { 128 } else { 8 };
        if m.l4proto == if v6 { proto::ICMPV6 } else { proto::ICMP } && m.l4_present() {
            if m.icmp_type == echo_req && (unicast || v6) {
                // icmpv6_echo_reply: an echo to a group is answered without a source
                // address, by a lookup restricted to the input device (strict without a
                // source), from the address source selection then picks.
                let (src, via) = if unicast {
                    (m.dst, None)
                } else {
                    self.cfg.fib.route_output_via(6, m.src, iif)?;
                    (self.cfg.fib.select_src(6, iif, m.src)?, Some(iif))
                };
                let mut r =
                    own_packet(m, src, m.src, m.l4proto, m.ip_len - u32::from(m.ip_hdr_len));
                r.icmp_type = if v6 { 129 } else { 0 };
                r.sport = m.sport;
                return Some((r, "icmp_echo_reply", via));
            }
            if !v6 && m.icmp_type == 13 && unicast {
                let mut r = own_packet(m, m.dst, m.src, proto::ICMP, 20);
                r.icmp_type = 14;
                r.sport = m.sport;
                return Some((r, "icmp_timestamp_reply", None));
            }
            if v6 && m.icmp_type == 135 {
                // A solicitation for one of our addresses (the target is not in the
                // summary: a solicitation sent to us or our solicited-node group is for us).
                let src = if unicast {
                    m.dst
                } else {
                    self.cfg.fib.select_src(6, iif, m.src)?
                };
                // The target link-layer address option only answers a multicast
                // solicitation (`ndisc_recv_ns`: inc_opt).
                let len = if unicast { 24 } else { 32 };
                let mut r = own_packet(m, src, m.src, proto::ICMPV6, len);
                r.icmp_type = 136;
                r.ttl = 255;
                // ndisc_send_na: out of the device the solicitation came in on.
                return Some((r, "icmpv6_neighbour_advert", Some(iif)));
            }
            return None;
        }
        if !unicast {
            return None;
        }
        let err = |r: Option<(PacketMeta, &'static str)>| r.map(|(p, k)| (p, k, None));
        match m.l4proto {
            proto::TCP => tcp_reset(m).map(|r| (r, "tcp_reset", None)),
            proto::UDP | proto::UDPLITE => {
                err(self.icmp_error(m, if v6 { 1 } else { 3 }, if v6 { 4 } else { 3 }, true, iif))
            }
            // Protocols with a handler of their own answer nothing here.
            proto::ICMP | proto::ICMPV6 | proto::IGMP | proto::IPV6_NONXT => None,
            _ if v6 => err(self.icmp_error(m, 4, 1, true, iif)),
            _ => err(self.icmp_error(m, 3, 2, true, iif)),
        }
    }

    /// The ICMP error (`ty`, `code`) about packet `m` that `__icmp_send` / `icmp6_send`
    /// would send, if any: never about an ICMP error, a non-first fragment, a packet to a
    /// broadcast or multicast address (IPv6: except packet too big), or from an address
    /// that is not a single node's; from the offending packet's destination when that is
    /// the router's (`local`), else from the address [`crate::fib::Fib::select_src`] picks
    /// (IPv4 falls back to `INADDR_DUMMY`).
    fn icmp_error(
        &self,
        m: &PacketMeta,
        ty: u8,
        code: u8,
        local: bool,
        _iif: u32,
    ) -> Option<(PacketMeta, &'static str)> {
        let v6 = m.ip_version == 6;
        let fib = &self.cfg.fib;
        if is_icmp_error(m) || (m.has(flags::FRAGMENT) && m.frag_offset != 0) {
            return None;
        }
        let group = if v6 {
            m.dst >> 120 == 0xff
        } else {
            m.dst as u32 >> 28 == 0xe || fib.local_dest(4, m.dst) == Some(LocalDest::Broadcast)
        };
        if group && !(v6 && ty == 2) {
            return None;
        }
        let bad_src = if v6 {
            m.src == 0 || m.src >> 120 == 0xff
        } else {
            m.src as u32 == 0 || m.src as u32 == u32::MAX || m.src as u32 >> 28 == 0xe
        };
        if bad_src {
            return None;
        }
        let oif = fib.route_output(m.ip_version, m.src)?;
        let src = if local && fib.is_local(m.ip_version, m.dst) {
            m.dst
        } else if v6 {
            fib.select_src(6, oif, m.src)?
        } else {
            fib.select_src(4, oif, m.src).unwrap_or(INADDR_DUMMY)
        };
        // RFC 1812 / RFC 4443: as much of the packet as fits in 576 / 1280 bytes.
        let (l4proto, room) = if v6 {
            (proto::ICMPV6, 1280 - 48)
        } else {
            (proto::ICMP, 576 - 28)
        };
        let mut e = own_packet(m, src, m.src, l4proto, 8 + m.ip_len.min(room));
        e.icmp_type = ty;
        e.icmp_code = code;
        e.flags |= flags::ICMP_ERROR;
        let (k, l4) = quote(m);
        e.inner.key = k;
        e.inner.l4_present = l4;
        if !v6 {
            // tos = RT_TOS(tos) | IPTOS_PREC_INTERNETCONTROL.
            let tos = ((m.dscp << 2) | m.ecn) & 0x1e | 0xc0;
            e.dscp = tos >> 2;
            e.ecn = tos & 3;
        }
        let kind = match (v6, ty) {
            (false, 11) | (true, 3) => "icmp_time_exceeded",
            (false, 3) if code == 4 => "icmp_frag_needed",
            (true, 2) => "icmpv6_packet_too_big",
            (false, 3) if code == 3 => "icmp_port_unreachable",
            (true, 1) if code == 4 => "icmp_port_unreachable",
            (false, 3) if code == 2 => "icmp_protocol_unreachable",
            (true, 4) => "icmpv6_parameter_problem",
            _ => "icmp_unreachable",
        };
        Some((e, kind))
    }

    /// Sends the ICMP error (`ty`, `code`; `info` is the MTU of a fragmentation-needed or
    /// packet-too-big) about the walk's packet, as the forward path does.
    pub(super) fn send_icmp_error(
        &mut self,
        now: SimTime,
        w: &mut Walk,
        ty: u8,
        code: u8,
        _info: u32,
        iif: u32,
    ) {
        if w.own {
            return;
        }
        if let Some(e) = self.icmp_error(&w.ctx.pkt, ty, code, false, iif) {
            let attach = self.attach(w);
            self.send_own(now, w, e, attach, None);
        }
    }

    /// `nf_ct_attach`: the walk's connection, RELATED in the direction opposite to the
    /// walk's packet (`__nf_conntrack_attach`); none for an invalid or untracked packet.
    pub(super) fn attach(&self, w: &Walk) -> Option<Track> {
        match w.track {
            Some(Track::Tracked { id, info, .. }) if self.ct.is_live(id) => {
                let info = if info.dir() == Dir::Original {
                    CtInfoK::RelatedReply
                } else {
                    CtInfoK::Related
                };
                Some(Track::Tracked {
                    id,
                    info,
                    new_entry: false,
                })
            }
            _ => None,
        }
    }

    /// Sends what a `reject` in `hook` answers packet `m` with: a TCP reset attached to the
    /// packet's connection (`nf_send_reset` → `nf_ct_attach`: RELATED in the other
    /// direction), or an ICMP destination unreachable (`nf_send_unreach` → `icmp_send`).
    pub(super) fn send_reject(
        &mut self,
        now: SimTime,
        w: &mut Walk,
        m: &PacketMeta,
        r: Reject,
        hook: Hook,
    ) {
        let v6 = m.ip_version == 6;
        let group = if v6 {
            m.dst >> 120 == 0xff
        } else {
            m.dst as u32 >> 28 == 0xe
                || self.cfg.fib.local_dest(4, m.dst) == Some(LocalDest::Broadcast)
        };
        let local = hook == Hook::Input;
        let iif = w.ctx.iif.map_or(LAN_IFINDEX, |i| i.index);
        let code = |c4: u8, c6: u8| if v6 { (1, c6) } else { (3, c4) };
        let (ty, code) = match r {
            Reject::TcpReset => {
                if group || (m.has(flags::FRAGMENT) && m.frag_offset != 0) {
                    return;
                }
                let Some(rst) = tcp_reset(m) else { return };
                let attach = self.attach(w);
                self.send_own(now, w, (rst, "tcp_reset"), attach, None);
                return;
            }
            Reject::Icmp(c) => (if v6 { 1 } else { 3 }, c),
            Reject::Icmpv6(c) => (if v6 { 1 } else { 3 }, c),
            // nft_reject_icmp_code / nft_reject_icmpv6_code
            Reject::Icmpx(c) => match c {
                0 => code(0, 0),
                2 => code(1, 3),
                3 => code(13, 1),
                _ => code(3, 4),
            },
        };
        if let Some(e) = self.icmp_error(m, ty, code, local, iif) {
            let attach = self.attach(w);
            self.send_own(now, w, e, attach, None);
        }
    }

    /// `ip_local_out` for a packet the router built: the output route, OUTPUT, POSTROUTING,
    /// confirmation. `attach` is the connection `nf_ct_attach` gave it (else conntrack
    /// tracks it at OUTPUT); `via` the device it must leave by (else its route's). Its work
    /// is added to the walk that caused it.
    pub(super) fn send_own(
        &mut self,
        now: SimTime,
        w: &mut Walk,
        (m, kind): (PacketMeta, &'static str),
        attach: Option<Track>,
        via: Option<u32>,
    ) {
        let Some(oif) = via.or_else(|| self.cfg.fib.route_output(m.ip_version, m.dst)) else {
            return;
        };
        let mut ctx = PktCtx::new(m, Hook::Output, now);
        ctx.oif = Some(if oif == LAN_IFINDEX {
            self.lan
        } else {
            self.wan
        });
        if let Some(Track::Tracked { id, info, .. }) = attach {
            ctx.ct = CtView::Tracked(self.ct_info(id, info));
        }
        let mut own_out = Outcome {
            fate: Fate::Held,
            path: Path::Slow,
            drivers: CostDrivers::default(),
            packets: 1,
            wire_bytes: u64::from(m.wire_len),
            flow: None,
        };
        let mut ow = Walk {
            out: &mut own_out,
            ctx,
            track: attach,
            hooks: 0,
            cost: EvalCost::default(),
            l3: fam(m.ip_version),
            max_frag: 0,
            own: true,
        };
        let walked = (|| {
            self.run_stages(now, &mut ow, Hook::Output)?;
            ow.ctx.hook = Hook::Postrouting;
            self.run_stages(now, &mut ow, Hook::Postrouting)
        })();
        if walked.is_continue() {
            ow.out.drivers.add_eval(&ow.cost, ow.hooks);
            if let Some(t) = &ow.track {
                self.ct.finish(now, t, true);
            }
            *self.stats.sent.entry(kind).or_insert(0) += 1;
        }
        let (d, o) = (&mut w.out.drivers, &ow.out.drivers);
        d.sent = d.sent.saturating_add(1);
        d.add_rule_work(o);
        d.nat_setup |= o.nat_setup;
        d.nat_lookups = d.nat_lookups.saturating_add(o.nat_lookups);
        d.nat_mangle |= o.nat_mangle;
    }
}
