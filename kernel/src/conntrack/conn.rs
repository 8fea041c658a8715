//! A connection entry and the names conntrack gives packets: status and state bits,
//! directions, `ctinfo`, why a packet is invalid, what tracking a packet gave.

use offsim_traces::meta::FlowKey;
use offsim_traces::time::SimTime;

#[cfg(doc)]
use super::Conntrack;
use super::tcp::{TcpConn, TcpState};

/// Conntrack status bits (`enum ip_conntrack_status`), as `ct status` matches them.
pub mod status {
    /// Expected connection (helpers).
    pub const EXPECTED: u32 = 1 << 0;
    /// A reply-direction packet was seen.
    pub const SEEN_REPLY: u32 = 1 << 1;
    /// Assured: will not be early-dropped.
    pub const ASSURED: u32 = 1 << 2;
    /// Inserted in the table.
    pub const CONFIRMED: u32 = 1 << 3;
    /// Source NAT.
    pub const SRC_NAT: u32 = 1 << 4;
    /// Destination NAT.
    pub const DST_NAT: u32 = 1 << 5;
    /// Sequence adjustment (helpers).
    pub const SEQ_ADJUST: u32 = 1 << 6;
    /// SNAT set up.
    pub const SRC_NAT_DONE: u32 = 1 << 7;
    /// DNAT set up.
    pub const DST_NAT_DONE: u32 = 1 << 8;
    /// Being destroyed.
    pub const DYING: u32 = 1 << 9;
    /// Fixed timeout.
    pub const FIXED_TIMEOUT: u32 = 1 << 10;
    /// A helper is attached.
    pub const HELPER: u32 = 1 << 13;
    /// In a flowtable.
    pub const OFFLOAD: u32 = 1 << 14;
    /// In hardware.
    pub const HW_OFFLOAD: u32 = 1 << 15;
    /// NAT clash resolved by reusing an entry.
    pub const NAT_CLASH: u32 = 1 << 16;
}

/// `ct state` bits as nftables matches them.
pub mod state_bits {
    /// invalid.
    pub const INVALID: u32 = 1;
    /// established (both ESTABLISHED and ESTABLISHED_REPLY).
    pub const ESTABLISHED: u32 = 2;
    /// related.
    pub const RELATED: u32 = 4;
    /// new.
    pub const NEW: u32 = 8;
    /// untracked.
    pub const UNTRACKED: u32 = 64;
}

/// Packet direction relative to its connection.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Dir {
    /// ORIGINAL.
    #[default]
    Original = 0,
    /// REPLY.
    Reply = 1,
}

/// `enum ip_conntrack_info` as far as nftables can tell them apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CtInfo {
    /// NEW.
    New,
    /// ESTABLISHED (original direction after a reply).
    Established,
    /// ESTABLISHED_REPLY.
    EstablishedReply,
    /// RELATED (an ICMP error about a known connection), original direction.
    Related,
    /// RELATED, reply direction.
    RelatedReply,
}

impl CtInfo {
    /// The `ct state` bit.
    pub fn state_bit(self) -> u32 {
        match self {
            CtInfo::New => state_bits::NEW,
            CtInfo::Established | CtInfo::EstablishedReply => state_bits::ESTABLISHED,
            CtInfo::Related | CtInfo::RelatedReply => state_bits::RELATED,
        }
    }
    /// The direction.
    pub fn dir(self) -> Dir {
        match self {
            CtInfo::EstablishedReply | CtInfo::RelatedReply => Dir::Reply,
            _ => Dir::Original,
        }
    }
}

/// Handle of a connection entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CtId(pub u32);

/// Why a packet got no connection (`ct state invalid`). Counted in the conntrack stats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum InvalidReason {
    /// No transport header / not enough of it to build a tuple.
    NoTuple,
    /// `tcp_error`: invalid flag combination or truncated header.
    TcpFlags,
    /// The TCP state table says invalid (e.g. SYN/ACK without SYN, FIN before SYN/ACK).
    TcpState,
    /// Out of window (sequence or acknowledgement).
    TcpWindow,
    /// A mid-stream packet with `tcp_loose` off.
    TcpNoPickup,
    /// `udp_error`: length field inconsistent.
    UdpLength,
    /// An ICMP message that cannot start a connection (reply without request, unknown type).
    IcmpNew,
    /// An ICMP error that quotes no known connection.
    IcmpErrorUnknown,
    /// The conntrack table is full.
    TableFull,
}

/// The outcome of [`Conntrack::track`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Track {
    /// The packet belongs to (or starts) a connection.
    Tracked {
        /// Entry.
        id: CtId,
        /// ctinfo.
        info: CtInfo,
        /// The entry was created by this packet and is not confirmed yet.
        new_entry: bool,
    },
    /// `ct state invalid`: no conntrack attached.
    Invalid(InvalidReason),
    /// `ct state untracked` (ICMPv6 neighbour discovery / MLD, or `notrack`).
    Untracked,
}

/// Per-protocol state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProtoState {
    /// TCP state machine and windows.
    Tcp(TcpConn),
    /// UDP: when the entry becomes a "stream" (first packet + 2 s).
    Udp {
        /// `stream_ts`.
        stream_ts: SimTime,
    },
    /// ICMP / generic: nothing.
    Other,
}

/// A NAT binding set up by the first packet's NAT chains.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NatBinding {
    /// SNAT/masquerade was applied.
    pub snat: bool,
    /// DNAT/redirect was applied.
    pub dnat: bool,
}

/// One connection.
#[derive(Clone, Debug)]
pub struct Conn {
    /// ORIGINAL tuple ([`Conn::orig`]; the REPLY tuple is its inverse: [`Conn::reply`]).
    pub(super) tuple: CtTuple,
    /// The REPLY tuple when NAT altered it (`nf_conntrack_alter_reply`); `None`: the
    /// inverse of the ORIGINAL one. Boxed: only NATed entries pay for a second tuple. (Inline,
    /// a NAT port search that meets NATed entries at every candidate ran a third faster —
    /// rules eval of a synflood whose masquerade ports ran out, 10.2 → 7.0 s — but every
    /// entry without NAT would cost 40 bytes more: 388 → 428 B per live connection.)
    pub(super) nat_reply: Option<Box<CtTuple>>,
    /// Status bits ([`status`]).
    pub status: u32,
    /// Expiry time (`ct->timeout`): relative while unconfirmed, absolute once confirmed.
    /// Written only by [`super::Conntrack`] (`set_expires` for a confirmed entry), which
    /// keeps the port groups' bounds below it; read it with [`Conn::expires`].
    pub(super) expires: SimTime,
    /// Per-protocol state.
    pub proto: ProtoState,
    /// `ct mark`.
    pub mark: u32,
    /// Creation time.
    pub created: SimTime,
    /// Packets per direction (accounting).
    pub packets: [u64; 2],
    /// L3 bytes per direction.
    pub bytes: [u64; 2],
    /// NAT binding, once set up.
    pub nat: NatBinding,
    /// Whether the NAT chains have run for this connection's DNAT (prerouting) and SNAT
    /// (postrouting/input) manipulations: only the first packet's do (`nf_nat_initialized`).
    pub nat_done: [bool; 2],
    /// The caller's per-connection record index (`u32::MAX` = none); reported in
    /// [`Conntrack::dead_records`] when the entry goes away.
    pub rec: u32,
    /// Timeout policy attached by `ct timeout set` (index into the table's policies + 1;
    /// 0 = the configured timeouts).
    pub policy: u16,
    /// The scenario event (index + 1; 0 = none) that last took this connection out of the
    /// flowtable, so what it costs afterwards (slow-path packets, re-adds) is told to it.
    pub event: u16,
    pub(super) live: bool,
}

/// A tuple stored without `u128` alignment: 40 bytes instead of [`FlowKey`]'s 48, in every
/// entry of the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct CtTuple {
    src: [u32; 4],
    dst: [u32; 4],
    sport: u16,
    dport: u16,
    proto: u8,
    version: u8,
}

fn split(a: u128) -> [u32; 4] {
    [
        (a >> 96) as u32,
        (a >> 64) as u32,
        (a >> 32) as u32,
        a as u32,
    ]
}

fn join(w: [u32; 4]) -> u128 {
    (u128::from(w[0]) << 96)
        | (u128::from(w[1]) << 64)
        | (u128::from(w[2]) << 32)
        | u128::from(w[3])
}

impl From<&FlowKey> for CtTuple {
    #[inline]
    fn from(k: &FlowKey) -> Self {
        CtTuple {
            src: split(k.src),
            dst: split(k.dst),
            sport: k.sport,
            dport: k.dport,
            proto: k.proto,
            version: k.version,
        }
    }
}

impl CtTuple {
    #[inline]
    fn key(&self) -> FlowKey {
        FlowKey {
            src: join(self.src),
            dst: join(self.dst),
            sport: self.sport,
            dport: self.dport,
            proto: self.proto,
            version: self.version,
        }
    }
}

impl Conn {
    /// Expiry time (`ct->timeout`): relative to confirmation while unconfirmed.
    #[inline]
    pub fn expires(&self) -> SimTime {
        self.expires
    }

    /// ORIGINAL tuple.
    #[inline]
    pub fn orig(&self) -> FlowKey {
        self.tuple.key()
    }

    /// REPLY tuple: `nf_ct_invert_tuple` of the ORIGINAL one (derived, not stored, so an
    /// entry holds one tuple) unless NAT altered it. Always inlined: returned from a call,
    /// the tuple written field by field was read back whole and stalled on store
    /// forwarding (the conntrack view of every tracked packet reads it).
    #[inline(always)]
    pub fn reply(&self) -> FlowKey {
        if let Some(r) = &self.nat_reply {
            return r.key();
        }
        let o = self.orig();
        super::invert(&o).unwrap_or_else(|| o.reversed())
    }

    /// Whether NAT altered the REPLY tuple: `invert(&orig()) != Some(reply())` without
    /// building either tuple. `nat_reply` is set only to a tuple other than the inverse
    /// ([`Conn::alter_reply`]), the ORIGINAL tuple never changes, and an entry is never made
    /// for a tuple without an inverse (`init_conntrack` refuses it, `Conntrack::init`).
    #[inline]
    pub(crate) fn reply_altered(&self) -> bool {
        debug_assert!(super::invert(&self.orig()).is_some());
        self.nat_reply.is_some()
    }

    /// Sets the REPLY tuple NAT chose (`nf_conntrack_alter_reply`): only before the entry is
    /// confirmed, while it is in no hash chain.
    pub fn alter_reply(&mut self, r: FlowKey) {
        debug_assert!(self.status & status::CONFIRMED == 0);
        if self.status & status::CONFIRMED != 0 {
            return;
        }
        let o = self.orig();
        let inverse = super::invert(&o).unwrap_or_else(|| o.reversed());
        self.nat_reply = (r != inverse).then(|| Box::new(CtTuple::from(&r)));
    }
    /// TCP state, if TCP.
    pub fn tcp_state(&self) -> Option<TcpState> {
        match &self.proto {
            ProtoState::Tcp(t) => Some(t.state),
            _ => None,
        }
    }
    /// Whether the entry is TCP ESTABLISHED and ASSURED (`nf_conntrack_tcp_established`).
    pub fn tcp_established(&self) -> bool {
        self.tcp_state() == Some(TcpState::Established) && self.status & status::ASSURED != 0
    }
}
