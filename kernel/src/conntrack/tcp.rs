//! The TCP connection tracker, ported from the kernel's `nf_conntrack_proto_tcp.c` (Linux 6.x:
//! the state table, `tcp_in_window`, `tcp_new`, `tcp_error` and `nf_conntrack_tcp_packet`).
//! Comments name the kernel function each piece mirrors; the behaviour — including window
//! tracking that marks out-of-window segments INVALID — is the kernel's, the code is written
//! from its description.

use offsim_traces::meta::{PacketMeta, flags, tcp_flags as F};

use super::{CtConfig, CtTimeouts, Dir, status};

/// TCP conntrack states (`enum tcp_conntrack`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum TcpState {
    /// NONE.
    #[default]
    None = 0,
    /// SYN_SENT.
    SynSent = 1,
    /// SYN_RECV.
    SynRecv = 2,
    /// ESTABLISHED.
    Established = 3,
    /// FIN_WAIT.
    FinWait = 4,
    /// CLOSE_WAIT.
    CloseWait = 5,
    /// LAST_ACK.
    LastAck = 6,
    /// TIME_WAIT.
    TimeWait = 7,
    /// CLOSE.
    Close = 8,
    /// SYN_SENT2 (simultaneous open).
    SynSent2 = 9,
}

impl TcpState {
    /// Kernel name.
    pub fn name(self) -> &'static str {
        [
            "NONE",
            "SYN_SENT",
            "SYN_RECV",
            "ESTABLISHED",
            "FIN_WAIT",
            "CLOSE_WAIT",
            "LAST_ACK",
            "TIME_WAIT",
            "CLOSE",
            "SYN_SENT2",
        ][self as usize]
    }
}

/// Index into [`super::CtTimeouts::tcp`] for the two extra timeouts.
pub const T_RETRANS: usize = 10;
/// UNACK timeout index.
pub const T_UNACK: usize = 11;

// Table values: a state, or IV (invalid) / IG (ignore).
const IV: u8 = 10;
const IG: u8 = 11;
const SS: u8 = 1;
const SR: u8 = 2;
const ES: u8 = 3;
const FW: u8 = 4;
const CW: u8 = 5;
const LA: u8 = 6;
const TW: u8 = 7;
const CL: u8 = 8;
const S2: u8 = 9;

// Flag-set indices (`enum tcp_bit_set`).
const SYN_SET: usize = 0;
const SYNACK_SET: usize = 1;
const FIN_SET: usize = 2;
const ACK_SET: usize = 3;
const RST_SET: usize = 4;
const NONE_SET: usize = 5;

/// `tcp_conntracks[dir][index][state]` (Linux 6.x values).
#[rustfmt::skip]
const TABLE: [[[u8; 10]; 6]; 2] = [
    [
        //       NONE SS  SR  ES  FW  CW  LA  TW  CL  S2
        /*syn*/  [SS, SS, IG, IG, IG, IG, IG, SS, SS, S2],
        /*synack*/[IV, IV, SR, IV, IV, IV, IV, IV, IV, SR],
        /*fin*/  [IV, IV, FW, FW, LA, LA, LA, TW, CL, IV],
        /*ack*/  [ES, IV, ES, ES, CW, CW, TW, TW, CL, IV],
        /*rst*/  [IV, CL, CL, CL, CL, CL, CL, CL, CL, CL],
        /*none*/ [IV, IV, IV, IV, IV, IV, IV, IV, IV, IV],
    ],
    [
        /*syn*/  [IV, S2, IV, IV, IV, IV, IV, SS, IV, S2],
        /*synack*/[IV, SR, IG, IG, IG, IG, IG, IG, IG, SR],
        /*fin*/  [IV, IV, FW, FW, LA, LA, LA, TW, CL, IV],
        /*ack*/  [IV, IG, SR, ES, CW, CW, TW, TW, CL, IG],
        /*rst*/  [IV, CL, CL, CL, CL, CL, CL, CL, CL, CL],
        /*none*/ [IV, IV, IV, IV, IV, IV, IV, IV, IV, IV],
    ],
];

// Per-direction flags (`IP_CT_TCP_FLAG_*`).
const FLAG_WINDOW_SCALE: u8 = 0x01;
const FLAG_SACK_PERM: u8 = 0x02;
const FLAG_CLOSE_INIT: u8 = 0x04;
const FLAG_BE_LIBERAL: u8 = 0x08;
const FLAG_DATA_UNACKNOWLEDGED: u8 = 0x10;
const FLAG_MAXACK_SET: u8 = 0x20;
// Connection-level `last_flags` bits.
const EXP_CHALLENGE_ACK: u8 = 0x40;
const SIMULTANEOUS_OPEN: u8 = 0x80;

const MAXACKWINCONST: u32 = 66_000;

/// Window-tracking state of one direction (`struct ip_ct_tcp_state`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Seen {
    td_end: u32,
    td_maxend: u32,
    td_maxwin: u32,
    td_maxack: u32,
    td_scale: u8,
    flags: u8,
}

/// Per-connection TCP state (`struct ip_ct_tcp`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpConn {
    /// Current state.
    pub state: TcpState,
    seen: [Seen; 2],
    last_dir: u8,
    last_index: u8,
    last_seq: u32,
    last_ack: u32,
    last_end: u32,
    last_win: u16,
    last_wscale: u8,
    last_flags: u8,
    retrans: u8,
}

impl TcpConn {
    /// Marks both directions "be liberal" (what `nft_flow_offload` does when a flow is
    /// offloaded: conntrack no longer sees every segment).
    pub fn set_liberal(&mut self) {
        self.seen[0].flags |= FLAG_BE_LIBERAL;
        self.seen[1].flags |= FLAG_BE_LIBERAL;
    }

    /// Resets window tracking after a flowtable teardown (`flow_offload_fixup_tcp`): the
    /// maximum windows are cleared so conntrack re-learns them; Linux ≥ 6.14 also clears the
    /// MAXACK flag (`clear_maxack`), 5.15–6.13 keep it.
    pub fn fixup_after_offload(&mut self, clear_maxack: bool) {
        for s in &mut self.seen {
            s.td_maxwin = 0;
            if clear_maxack {
                s.flags &= !FLAG_MAXACK_SET;
            }
        }
    }

    /// Forces a state (used by the flowtable's teardown fix-up).
    pub fn force_state(&mut self, st: TcpState) {
        self.state = st;
    }
}

#[inline]
fn before(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) < 0
}
#[inline]
fn after(a: u32, b: u32) -> bool {
    before(b, a)
}

fn index_of(f: u8) -> usize {
    if f & F::RST != 0 {
        RST_SET
    } else if f & F::SYN != 0 {
        if f & F::ACK != 0 { SYNACK_SET } else { SYN_SET }
    } else if f & F::FIN != 0 {
        FIN_SET
    } else if f & F::ACK != 0 {
        ACK_SET
    } else {
        NONE_SET
    }
}

/// `segment_seq_plus_len`.
#[inline]
fn seq_end(m: &PacketMeta) -> u32 {
    m.tcp_seq
        .wrapping_add(m.l4_payload_len)
        .wrapping_add(u32::from(m.tcp_flags & F::SYN != 0))
        .wrapping_add(u32::from(m.tcp_flags & F::FIN != 0))
}

/// `tcp_options`: window scale and SACK-permitted from a segment.
fn options(m: &PacketMeta, s: &mut Seen) {
    if m.tcp_hdr_len <= 20 {
        return;
    }
    s.td_scale = 0;
    s.flags &= FLAG_BE_LIBERAL;
    if m.has(flags::TCP_SACK_PERM) {
        s.flags |= FLAG_SACK_PERM;
    }
    if m.has(flags::TCP_WSCALE) {
        s.td_scale = m.tcp_wscale.min(14);
        s.flags |= FLAG_WINDOW_SCALE;
    }
}

/// `tcp_error`: truncated header and invalid flag combinations make a packet INVALID before
/// any state is consulted. PSH, ECE and CWR are always allowed.
pub fn tcp_error(m: &PacketMeta) -> bool {
    if !m.l4_present() {
        return true;
    }
    let f = m.tcp_flags & !(F::ECE | F::CWR | F::PSH);
    !matches!(
        f,
        x if x == F::SYN
            || x == F::SYN | F::URG
            || x == F::SYN | F::ACK
            || x == F::RST
            || x == F::RST | F::ACK
            || x == F::FIN | F::ACK
            || x == F::FIN | F::ACK | F::URG
            || x == F::ACK
            || x == F::ACK | F::URG
    )
}

/// `tcp_new`: whether a packet may create a connection, and its initial state. Returns
/// `None` when it may not (the packet is INVALID).
pub fn tcp_new(m: &PacketMeta, cfg: &CtConfig) -> Option<TcpConn> {
    let idx = index_of(m.tcp_flags);
    let ns = TABLE[0][idx][TcpState::None as usize];
    if ns >= IV {
        return None;
    }
    let mut c = TcpConn::default();
    let end = seq_end(m);
    let win = u32::from(m.tcp_win);
    if ns == SS {
        c.seen[0].td_end = end;
        c.seen[0].td_maxwin = win.max(1);
        c.seen[0].td_maxend = end;
        options(m, &mut c.seen[0]);
    } else if !cfg.tcp_loose {
        return None;
    } else {
        // Mid-connection pickup: history is lost, use the packet's data and be liberal.
        c.seen[0].td_end = end;
        c.seen[0].td_maxwin = win.max(1);
        c.seen[0].td_maxend = end.wrapping_add(c.seen[0].td_maxwin);
        c.seen[0].flags = FLAG_SACK_PERM | FLAG_BE_LIBERAL;
        c.seen[1].flags = FLAG_SACK_PERM | FLAG_BE_LIBERAL;
    }
    c.last_index = NONE_SET as u8;
    Some(c)
}

/// `tcp_init_sender`.
fn init_sender(c: &mut TcpConn, m: &PacketMeta, end: u32, win: u32, dir: usize) {
    let (a, b) = c.seen.split_at_mut(1);
    let (sender, receiver) = if dir == 0 {
        (&mut a[0], &mut b[0])
    } else {
        (&mut b[0], &mut a[0])
    };
    sender.td_end = end;
    sender.td_maxend = end;
    sender.td_maxwin = win.max(1);
    options(m, sender);
    if dir == 1
        && !(sender.flags & FLAG_WINDOW_SCALE != 0 && receiver.flags & FLAG_WINDOW_SCALE != 0)
    {
        sender.td_scale = 0;
        receiver.td_scale = 0;
    }
}

#[derive(PartialEq, Eq)]
enum Action {
    Ignore,
    Invalid,
    Accept,
}

/// `tcp_in_window`.
fn in_window(c: &mut TcpConn, dir: usize, index: usize, m: &PacketMeta, cfg: &CtConfig) -> Action {
    let mut seq = m.tcp_seq;
    let mut ack = m.tcp_ack;
    let mut sack = ack;
    let win_raw = m.tcp_win;
    let mut win = u32::from(win_raw);
    let mut end = seq_end(m);
    let syn = m.tcp_flags & F::SYN != 0;
    let has_ack = m.tcp_flags & F::ACK != 0;
    let rst = m.tcp_flags & F::RST != 0;
    let recv = 1 - dir;
    if c.seen[recv].flags & FLAG_SACK_PERM != 0
        && m.has(flags::TCP_SACK)
        && after(m.tcp_sack_edge, sack)
    {
        sack = m.tcp_sack_edge;
    }
    if c.seen[dir].td_maxwin == 0 {
        if syn {
            init_sender(c, m, end, win, dir);
            if !has_ack {
                return Action::Accept; // simultaneous open
            }
        } else {
            let sender = &mut c.seen[dir];
            sender.td_end = end;
            let swin = win << sender.td_scale;
            sender.td_maxwin = if swin == 0 { 1 } else { swin };
            sender.td_maxend = end.wrapping_add(sender.td_maxwin);
            let receiver = &mut c.seen[recv];
            if receiver.td_maxwin == 0 {
                receiver.td_end = sack;
                receiver.td_maxend = sack;
            } else if sack == receiver.td_end.wrapping_add(1) {
                receiver.td_end = receiver.td_end.wrapping_add(1);
            }
        }
    } else if syn
        && after(end, c.seen[dir].td_end)
        && (c.state == TcpState::SynSent || c.state == TcpState::SynRecv)
    {
        init_sender(c, m, end, win, dir);
        if dir == 1 && !has_ack {
            return Action::Accept;
        }
    }
    if !has_ack || (rst && ack == 0) {
        ack = c.seen[recv].td_end;
        sack = ack;
    }
    if rst && seq == 0 && c.state == TcpState::SynSent {
        seq = c.seen[dir].td_end;
        end = seq;
    }
    let liberal = c.seen[dir].flags & FLAG_BE_LIBERAL != 0 || cfg.tcp_be_liberal;
    let log = |a: Action| if liberal { Action::Accept } else { a };
    let maxackwin = |s: &Seen| s.td_maxwin.max(MAXACKWINCONST);
    let seq_ok = before(seq, c.seen[dir].td_maxend.wrapping_add(1));
    if !seq_ok {
        let overshot = end.wrapping_sub(c.seen[dir].td_maxend).wrapping_add(1);
        let ack_ok = after(
            sack,
            c.seen[recv]
                .td_end
                .wrapping_sub(maxackwin(&c.seen[dir]))
                .wrapping_sub(1),
        );
        let in_recv_win = c.seen[recv].td_maxwin != 0
            && after(
                end,
                c.seen[dir]
                    .td_end
                    .wrapping_sub(c.seen[recv].td_maxwin)
                    .wrapping_sub(1),
            );
        if in_recv_win
            && ack_ok
            && overshot <= c.seen[recv].td_maxwin
            && before(sack, c.seen[recv].td_end.wrapping_add(1))
        {
            c.seen[dir].td_end = end;
            c.seen[dir].flags |= FLAG_DATA_UNACKNOWLEDGED;
            return log(Action::Ignore);
        } else {
            return log(Action::Invalid);
        }
    }
    if !before(sack, c.seen[recv].td_end.wrapping_add(1)) {
        return log(Action::Invalid);
    }
    let in_recv_win = c.seen[recv].td_maxwin == 0
        || after(
            end,
            c.seen[dir]
                .td_end
                .wrapping_sub(c.seen[recv].td_maxwin)
                .wrapping_sub(1),
        );
    if !in_recv_win {
        return log(Action::Ignore);
    }
    if !after(
        sack,
        c.seen[recv]
            .td_end
            .wrapping_sub(maxackwin(&c.seen[dir]))
            .wrapping_sub(1),
    ) {
        return log(Action::Ignore);
    }
    // Window scaling (RFC 1323).
    if !syn {
        win <<= c.seen[dir].td_scale;
    }
    // Update sender data.
    let swin = win.wrapping_add(sack.wrapping_sub(ack));
    {
        let s = &mut c.seen[dir];
        if s.td_maxwin < swin {
            s.td_maxwin = swin;
        }
        if after(end, s.td_end) {
            s.td_end = end;
            s.flags |= FLAG_DATA_UNACKNOWLEDGED;
        }
        if has_ack {
            if s.flags & FLAG_MAXACK_SET == 0 {
                s.td_maxack = ack;
                s.flags |= FLAG_MAXACK_SET;
            } else if after(ack, s.td_maxack) {
                s.td_maxack = ack;
            }
        }
    }
    // Update receiver data.
    let sender_maxend = c.seen[dir].td_maxend;
    {
        let r = &mut c.seen[recv];
        if r.td_maxwin != 0 && after(end, sender_maxend) {
            r.td_maxwin = r.td_maxwin.wrapping_add(end.wrapping_sub(sender_maxend));
        }
        if after(sack.wrapping_add(win), r.td_maxend.wrapping_sub(1)) {
            r.td_maxend = sack.wrapping_add(win);
            if win == 0 {
                r.td_maxend = r.td_maxend.wrapping_add(1);
            }
        }
        if ack == r.td_end {
            r.flags &= !FLAG_DATA_UNACKNOWLEDGED;
        }
    }
    // Retransmission detection.
    if index == ACK_SET {
        if usize::from(c.last_dir) == dir
            && c.last_seq == seq
            && c.last_ack == ack
            && c.last_end == end
            && c.last_win == win_raw
        {
            c.retrans = c.retrans.saturating_add(1);
        } else {
            c.last_dir = dir as u8;
            c.last_seq = seq;
            c.last_ack = ack;
            c.last_end = end;
            c.last_win = win_raw;
            c.retrans = 0;
        }
    }
    Action::Accept
}

/// What `nf_conntrack_tcp_packet` decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TcpVerdict {
    /// In window: the state advanced; refresh the timeout with this many seconds. `kill`
    /// asks the caller to delete the connection right after this packet (an RST answered
    /// before any reply was seen); `assured` to set IPS_ASSURED.
    Accept {
        /// New timeout in seconds, `None` to leave the timeout alone (SYN retransmit).
        timeout_secs: Option<u32>,
        /// Delete the entry after this packet.
        kill: bool,
        /// Set ASSURED now.
        assured: bool,
    },
    /// Accepted but ignored: state unchanged (`NF_ACCEPT` from the ignore paths).
    Ignore,
    /// INVALID (`-NF_ACCEPT`): the packet is not part of the connection. With
    /// `lower_timeout`, the caller shortens an assured connection's timeout to UNACK if more
    /// than 120 s (and more than UNACK) are left (`nf_tcp_handle_invalid`).
    Invalid {
        /// Shorten the timeout.
        lower_timeout: bool,
    },
    /// The packet reopens a closed connection: delete it and look up again (`-NF_REPEAT`).
    Repeat,
}

enum Ignored {
    /// The packet was ignored (state unchanged).
    Ignore,
    /// A SYN/ACK acknowledged a SYN we ignored: continue as SYN_SENT -> SYN_RECV.
    Resync,
}

/// `nf_conntrack_tcp_packet` for a confirmed or new connection: `dir` is the packet's
/// direction, `st` the connection's status bits.
pub fn tcp_packet(
    c: &mut TcpConn,
    dir: Dir,
    st: u32,
    m: &PacketMeta,
    cfg: &CtConfig,
    timeouts: &CtTimeouts,
) -> TcpVerdict {
    let d = dir as usize;
    let mut old = c.state;
    let index = index_of(m.tcp_flags);
    let mut new = TABLE[d][index][old as usize];
    let seq = m.tcp_seq;
    let ackn = m.tcp_ack;
    let mut skip_window = false;
    let established = |c: &TcpConn| c.state == TcpState::Established && st & status::ASSURED != 0;
    let mut do_ignore = false;
    match new {
        SS if old >= TcpState::TimeWait => {
            if (c.seen[d].flags | c.seen[1 - d].flags) & FLAG_CLOSE_INIT != 0
                || (usize::from(c.last_dir) == d && usize::from(c.last_index) == RST_SET)
            {
                return TcpVerdict::Repeat;
            }
            do_ignore = true;
        }
        IG => do_ignore = true,
        IV => {
            return TcpVerdict::Invalid {
                lower_timeout: false,
            };
        }
        TW if old == TcpState::LastAck
            && index == ACK_SET
            && usize::from(c.last_dir) != d
            && usize::from(c.last_index) == SYN_SET
            && c.last_flags & EXP_CHALLENGE_ACK != 0 =>
        {
            c.last_flags &= !EXP_CHALLENGE_ACK;
            return TcpVerdict::Ignore;
        }
        S2 => c.last_flags |= SIMULTANEOUS_OPEN,
        SR if d == 1 && index == ACK_SET && c.last_flags & SIMULTANEOUS_OPEN != 0 => new = ES,
        CL if index == RST_SET => 'close: {
            if matches!(
                old,
                TcpState::FinWait
                    | TcpState::LastAck
                    | TcpState::TimeWait
                    | TcpState::Close
                    | TcpState::CloseWait
            ) {
                skip_window = true; // tcp_can_early_drop
                break 'close;
            }
            let r = 1 - d;
            if c.seen[r].flags & FLAG_MAXACK_SET != 0 && usize::from(c.last_index) != SYN_SET {
                if seq == 0 && !established(c) {
                    break 'close;
                }
                if before(seq, c.seen[r].td_maxack) && !cfg.tcp_ignore_invalid_rst {
                    return TcpVerdict::Invalid {
                        lower_timeout: false,
                    };
                }
                if !established(c) || seq == c.seen[r].td_maxack {
                    break 'close;
                }
                if usize::from(c.last_index) == ACK_SET
                    && usize::from(c.last_dir) == d
                    && seq == c.last_end
                {
                    break 'close;
                }
                // The RST's sequence does not match exactly: keep the state (challenge ACK).
                new = old as u8;
            }
            // An RST answering a SYN or ACK we let through (a, c in the kernel's comments),
            // or answering a challenge ACK: skip window checking.
            let answers_ignored = ((st & status::SEEN_REPLY != 0
                && usize::from(c.last_index) == SYN_SET)
                || (st & status::ASSURED == 0 && usize::from(c.last_index) == ACK_SET))
                && ackn == c.last_end;
            let answers_challenge = old == TcpState::SynSent
                && usize::from(c.last_index) == ACK_SET
                && c.last_dir == 1
                && seq == c.last_ack;
            if answers_ignored || answers_challenge {
                skip_window = true;
            }
        }
        _ => {}
    }
    if do_ignore {
        match ignore(c, d, index, old, m) {
            Ignored::Ignore => return TcpVerdict::Ignore,
            Ignored::Resync => {
                old = TcpState::SynSent;
                new = SR;
            }
        }
    }
    if !skip_window {
        match in_window(c, d, index, m, cfg) {
            Action::Ignore => return TcpVerdict::Ignore,
            Action::Invalid => {
                let lower = handle_invalid(c, d, index, st);
                return TcpVerdict::Invalid {
                    lower_timeout: lower,
                };
            }
            Action::Accept => {}
        }
    }
    // In-window from here on.
    c.last_index = index as u8;
    c.last_dir = d as u8;
    let new_state = state_from(new);
    c.state = new_state;
    if old != new_state && new_state == TcpState::FinWait {
        c.seen[d].flags |= FLAG_CLOSE_INIT;
    }
    let t = &timeouts.tcp;
    let unack = (c.seen[0].flags | c.seen[1].flags) & FLAG_DATA_UNACKNOWLEDGED != 0;
    let ns = new_state as usize;
    let mut timeout = if u32::from(c.retrans) >= cfg.tcp_max_retrans && t[ns] > t[T_RETRANS] {
        t[T_RETRANS]
    } else if index == RST_SET {
        t[TcpState::Close as usize]
    } else if unack && t[ns] > t[T_UNACK] {
        t[T_UNACK]
    } else if c.last_win == 0 && t[ns] > t[T_RETRANS] {
        t[T_RETRANS]
    } else {
        t[ns]
    };
    let mut assured = false;
    if st & status::SEEN_REPLY == 0 {
        if m.tcp_flags & F::RST != 0 {
            return TcpVerdict::Accept {
                timeout_secs: Some(timeout),
                kill: true,
                assured: false,
            };
        }
        if index == SYN_SET && old == TcpState::SynSent {
            // Do not renew the timeout on a SYN retransmit.
            return TcpVerdict::Accept {
                timeout_secs: None,
                kill: false,
                assured: false,
            };
        }
        if new_state == TcpState::Established && timeout > t[T_UNACK] {
            timeout = t[T_UNACK];
        }
    } else if st & status::ASSURED == 0
        && (old == TcpState::SynRecv || old == TcpState::Established)
        && new_state == TcpState::Established
    {
        assured = true;
    }
    TcpVerdict::Accept {
        timeout_secs: Some(timeout),
        kill: false,
        assured,
    }
}

fn state_from(v: u8) -> TcpState {
    match v {
        1 => TcpState::SynSent,
        2 => TcpState::SynRecv,
        3 => TcpState::Established,
        4 => TcpState::FinWait,
        5 => TcpState::CloseWait,
        6 => TcpState::LastAck,
        7 => TcpState::TimeWait,
        8 => TcpState::Close,
        9 => TcpState::SynSent2,
        _ => TcpState::None,
    }
}

/// The "ignored packet" path of `nf_conntrack_tcp_packet` (TCP_CONNTRACK_IGNORE).
fn ignore(c: &mut TcpConn, d: usize, index: usize, old: TcpState, m: &PacketMeta) -> Ignored {
    if index == SYNACK_SET
        && usize::from(c.last_index) == SYN_SET
        && usize::from(c.last_dir) != d
        && m.tcp_ack == c.last_end
    {
        // This SYN/ACK acknowledges a SYN we ignored: client and server are in sync, we
        // are not. Resynchronise from the annotated values.
        let ld = usize::from(c.last_dir);
        c.seen[ld].td_end = c.last_end;
        c.seen[ld].td_maxend = c.last_end;
        c.seen[ld].td_maxwin = if c.last_win == 0 {
            1
        } else {
            u32::from(c.last_win)
        };
        c.seen[ld].td_scale = c.last_wscale;
        c.last_flags &= !EXP_CHALLENGE_ACK;
        c.seen[ld].flags = c.last_flags;
        let s = &mut c.seen[d];
        s.td_end = 0;
        s.td_maxend = 0;
        s.td_maxwin = 0;
        s.td_maxack = 0;
        s.td_scale = 0;
        s.flags &= FLAG_BE_LIBERAL;
        return Ignored::Resync;
    }
    c.last_index = index as u8;
    c.last_dir = d as u8;
    c.last_seq = m.tcp_seq;
    c.last_end = seq_end(m);
    c.last_win = m.tcp_win;
    if index == SYN_SET && d == 0 {
        c.last_flags = 0;
        c.last_wscale = 0;
        if m.has(flags::TCP_WSCALE) {
            c.last_flags |= FLAG_WINDOW_SCALE;
            c.last_wscale = m.tcp_wscale.min(14);
        }
        if m.has(flags::TCP_SACK_PERM) {
            c.last_flags |= FLAG_SACK_PERM;
        }
        if old == TcpState::LastAck {
            c.last_flags |= EXP_CHALLENGE_ACK;
        }
    }
    if old == TcpState::SynSent && index == ACK_SET && d == 1 {
        c.last_ack = m.tcp_ack;
    }
    Ignored::Ignore
}

/// `nf_tcp_handle_invalid`: an out-of-window FIN/RST answering the peer's FIN/RST shortens an
/// assured connection's timeout. Returns whether to shorten it.
fn handle_invalid(c: &mut TcpConn, d: usize, index: usize, st: u32) -> bool {
    if st & status::ASSURED == 0 || (index != RST_SET && index != FIN_SET) {
        return false;
    }
    if usize::from(c.last_dir) != d
        && (usize::from(c.last_index) == FIN_SET || usize::from(c.last_index) == RST_SET)
    {
        true
    } else {
        c.last_index = index as u8;
        c.last_dir = d as u8;
        false
    }
}
