//! Building the packets a conversation decided on: SYN, SYN-ACK and the handshake's answers,
//! data segments with their pacing, pure ACKs, FIN/RST closes, QUIC datagrams.

use super::{CloseKind, Conv, DELACK_NS, Pend, Phase, QUIC_ACK_DELAY_NS, Setup, seq_after};
use crate::r#gen::frame::{self, TcpHdr, TcpOpts, UdpPayload};
use crate::meta::tcp_flags::{ACK, FIN, PSH, RST, SYN};

impl Conv {
    /// Window (bytes) side `i` advertises after receiving up to `ack`.
    fn adv_win(&self, i: usize, ack: u32) -> u32 {
        let s = &self.s[i];
        let rcvd = ack.wrapping_sub(self.s[1 - i].isn.wrapping_add(1));
        let rcvd = if rcvd > 1 << 31 { 0 } else { rcvd };
        s.rwnd_init
            .saturating_add(rcvd.saturating_mul(2))
            .min(s.rwnd_max)
    }

    fn tsval(&mut self, i: usize, t: u64) -> u32 {
        let v = self.s[i]
            .ts_off
            .wrapping_add((t.saturating_sub(self.pair.d(i)) / 1_000_000) as u32);
        self.s[i].last_tsval = v;
        v
    }

    fn tsecr(&self, i: usize, t: u64) -> u32 {
        let p = 1 - i;
        let seen = t
            .saturating_sub(2 * self.pair.d(i))
            .saturating_sub(self.pair.d(p));
        let v = self.s[p].ts_off.wrapping_add((seen / 1_000_000) as u32);
        // Never echo a value the peer has not sent yet.
        if seq_after(v, self.s[p].last_tsval) {
            self.s[p].last_tsval
        } else {
            v
        }
    }

    /// Emits a non-SYN TCP segment from side `i` acknowledging `ack` (records it as the
    /// side's last advertised ack/window).
    fn seg(&mut self, buf: &mut Vec<u8>, t: u64, i: usize, flags: u8, ack: u32, len: u32) {
        let win = self.adv_win(i, ack);
        let ws = self.s[i].ws;
        let field = (win >> ws).clamp(1, 65535);
        self.s[i].last_ack = ack;
        self.s[i].last_win = field << ws;
        let opts = if self.ts {
            let val = self.tsval(i, t);
            TcpOpts::Ts {
                val,
                ecr: self.tsecr(i, t),
            }
        } else {
            TcpOpts::None
        };
        let h = TcpHdr {
            sport: self.pair.ep[i].port,
            dport: self.pair.ep[1 - i].port,
            seq: self.s[i].nxt,
            ack,
            flags,
            win: field as u16,
            opts,
        };
        let l3 = self.pair.l3(i);
        frame::tcp(buf, &l3, &h, len as usize);
    }

    fn syn_opts(&mut self, i: usize, t: u64) -> TcpOpts {
        if i == 0
            && let Some(o) = self.syn_opts
        {
            return o;
        }
        if self.ts || (i == 0 && self.ts_offer) {
            let val = self.tsval(i, t);
            let ecr = if i == 0 { 0 } else { self.tsecr(i, t) };
            TcpOpts::SynTs {
                mss: self.s[i].mss,
                ws: self.s[i].ws,
                val,
                ecr,
            }
        } else {
            TcpOpts::Syn {
                mss: self.s[i].mss,
                ws: self.s[i].ws,
            }
        }
    }

    fn emit_udp(&mut self, buf: &mut Vec<u8>, i: usize, len: u32) {
        self.pair.udp(buf, i, UdpPayload::Zero(len as usize));
    }

    /// Emits the packet decided by the last [`Conv::poll`] (at time `t`) into `buf`.
    pub(crate) fn emit(&mut self, t: u64, buf: &mut Vec<u8>) {
        match self.pend {
            Pend::Ack => {
                let a = match self.acks.pop_front() {
                    Some(a) => a,
                    None => return,
                };
                let i = a.from as usize;
                if self.quic {
                    let len = 30 + self.rng.below(20) as u32;
                    self.emit_udp(buf, i, len);
                } else {
                    self.seg(buf, t, i, ACK, a.ack, 0);
                }
            }
            Pend::Data => self.emit_data(t, buf),
            Pend::Ctl => self.emit_ctl(t, buf),
        }
    }

    fn emit_data(&mut self, t: u64, buf: &mut Vec<u8>) {
        let i = self.x.dir as usize;
        let r = 1 - i;
        let len = self.x.left.min(u64::from(self.s[i].seg)) as u32;
        self.x.left -= u64::from(len);
        let last = self.x.left == 0;
        if self.quic {
            self.emit_udp(buf, i, len);
        } else {
            let ack = self.s[r].nxt;
            let flags = if last { ACK | PSH } else { ACK };
            self.seg(buf, t, i, flags, ack, len);
        }
        self.s[i].nxt = self.s[i].nxt.wrapping_add(len);
        self.s[i].last_data_t = t;
        self.s[i].sent_data = true;
        self.x.last_t = t;
        // The receiver acknowledges every second segment, and the last one.
        self.x.unacked += 1;
        if self.x.unacked >= 2 || last {
            let dr = self.pair.d(r);
            let mut at = t + 2 * dr + self.jitter(dr);
            if self.x.unacked == 1 {
                at += if self.quic {
                    QUIC_ACK_DELAY_NS
                } else {
                    DELACK_NS
                };
            }
            let ack = self.s[i].nxt;
            self.push_ack(at, ack, r as u8);
            self.x.unacked = 0;
        }
        if last {
            return;
        }
        // Timing of the next segment: slow-start rounds, then pacing.
        let seg_bits = f64::from(self.s[i].seg + 66) * 8.0;
        let gap_line = ((seg_bits / self.line_bps[i].max(1e3)) * 1e9) as u64 + 1;
        if self.x.steady {
            let pace = ((seg_bits / self.rate_bps[i].max(1e3)) * 1e9) as u64;
            let g = pace.max(gap_line);
            let g = g - g / 10 + self.rng.below(g / 5 + 1);
            self.x.next_t = t + g.max(1);
        } else {
            self.x.round_left = self.x.round_left.saturating_sub(1);
            if self.x.round_left == 0 {
                let rtt = self.pair.rtt().max(2_000);
                let cw = self.s[i].cwnd.saturating_mul(2).min(65_536);
                self.s[i].cwnd = cw;
                self.x.round_start = (self.x.round_start + rtt).max(t + gap_line);
                self.x.next_t = self.x.round_start;
                self.x.round_left = cw;
                // Window covers rate × RTT: leave slow start and pace.
                if f64::from(cw) * seg_bits >= self.rate_bps[i] * rtt as f64 * 1e-9 {
                    self.x.steady = true;
                }
            } else {
                self.x.next_t = t + gap_line;
            }
        }
    }
    fn emit_ctl(&mut self, t: u64, buf: &mut Vec<u8>) {
        match self.phase {
            Phase::Syn { left } => self.emit_syn(t, buf, left),
            Phase::SynAck { left } => self.emit_syn_ack(t, buf, left),
            Phase::HsAck => {
                let ack = self.s[1].nxt;
                self.seg(buf, t, 0, ACK, ack, 0);
                self.phase = Phase::Data;
                self.x.last_t = t;
                self.x.dir = 0;
                self.x.active = false;
            }
            Phase::RstAnswer => {
                // RST|ACK answering a SYN: seq 0, ack = SYN + 1, window 0 (Linux
                // tcp_v4_send_reset for a segment without ACK).
                let h = TcpHdr {
                    sport: self.pair.ep[1].port,
                    dport: self.pair.ep[0].port,
                    seq: 0,
                    ack: self.s[0].nxt,
                    flags: RST | ACK,
                    win: 0,
                    opts: TcpOpts::None,
                };
                let l3 = self.pair.l3(1);
                frame::tcp(buf, &l3, &h, 0);
                self.phase = Phase::Done;
            }
            Phase::ScanRst => {
                // The scanner's kernel has no socket for the SYN-ACK: RST with seq = its ack.
                let h = TcpHdr {
                    sport: self.pair.ep[0].port,
                    dport: self.pair.ep[1].port,
                    seq: self.s[0].nxt,
                    ack: 0,
                    flags: RST,
                    win: 0,
                    opts: TcpOpts::None,
                };
                let l3 = self.pair.l3(0);
                frame::tcp(buf, &l3, &h, 0);
                self.phase = Phase::Done;
            }
            Phase::Fin1 => {
                let i = self.ctl_from as usize;
                let p = 1 - i;
                let ack = self.s[p].nxt;
                self.seg(buf, t, i, FIN | ACK, ack, 0);
                self.s[i].nxt = self.s[i].nxt.wrapping_add(1);
                let separate = matches!(self.close.kind, CloseKind::Fin { separate: true, .. });
                let dp = self.pair.d(p);
                self.ctl_t = t + 2 * dp + self.jitter(dp);
                self.subsume(p as u8, self.ctl_t);
                self.phase = if separate {
                    Phase::Fin2Ack
                } else {
                    Phase::Fin2
                };
            }
            Phase::Fin2Ack => {
                let p = 1 - self.ctl_from as usize;
                let ack = self.s[1 - p].nxt;
                self.seg(buf, t, p, ACK, ack, 0);
                // The application closes its side a little later.
                self.ctl_t = t + self.rng.range(100_000, 50_000_000);
                self.phase = Phase::Fin2;
            }
            Phase::Fin2 => {
                let p = 1 - self.ctl_from as usize;
                let ack = self.s[1 - p].nxt;
                self.seg(buf, t, p, FIN | ACK, ack, 0);
                self.s[p].nxt = self.s[p].nxt.wrapping_add(1);
                let di = self.pair.d(1 - p);
                self.ctl_t = t + 2 * di + self.jitter(di);
                self.phase = Phase::LastAck;
            }
            Phase::LastAck => {
                let i = self.ctl_from as usize;
                let ack = self.s[1 - i].nxt;
                self.seg(buf, t, i, ACK, ack, 0);
                self.phase = Phase::Done;
            }
            Phase::RstClose => {
                let i = self.ctl_from as usize;
                let ack = self.s[1 - i].nxt;
                self.seg(buf, t, i, RST | ACK, ack, 0);
                self.phase = Phase::Done;
                self.acks.clear();
            }
            Phase::QuicClose => {
                // CONNECTION_CLOSE in a short-header packet.
                let i = self.ctl_from as usize;
                let len = 40 + self.rng.below(20) as u32;
                self.emit_udp(buf, i, len);
                self.phase = Phase::Done;
                self.acks.clear();
            }
            Phase::Data | Phase::Done => {}
        }
    }

    /// The client's SYN (or a retransmission); schedules what answers it.
    fn emit_syn(&mut self, t: u64, buf: &mut Vec<u8>, left: u8) {
        let opts = self.syn_opts(0, t);
        let win = self.s[0].syn_win;
        self.s[0].last_win = u32::from(win);
        let h = TcpHdr {
            sport: self.pair.ep[0].port,
            dport: self.pair.ep[1].port,
            seq: self.s[0].isn,
            ack: 0,
            flags: SYN,
            win,
            opts,
        };
        let l3 = self.pair.l3(0);
        frame::tcp(buf, &l3, &h, 0);
        self.s[0].nxt = self.s[0].isn.wrapping_add(1);
        let reply = 2 * self.pair.d(1) + self.jitter(self.pair.d(1));
        match self.setup {
            Setup::SynUnanswered { .. } => {
                if left > 0 {
                    self.phase = Phase::Syn { left: left - 1 };
                    self.ctl_t = t + self.rto;
                    self.rto *= 2;
                } else {
                    self.phase = Phase::Done;
                }
            }
            Setup::SynRst => {
                self.phase = Phase::RstAnswer;
                self.ctl_t = t + reply;
            }
            Setup::SynAckNoAck { retries } => {
                self.phase = Phase::SynAck { left: retries };
                self.ctl_t = t + reply;
            }
            _ => {
                self.phase = Phase::SynAck { left: 0 };
                self.ctl_t = t + reply;
            }
        }
    }

    /// The server's SYN-ACK (or a retransmission); schedules the client's answer.
    fn emit_syn_ack(&mut self, t: u64, buf: &mut Vec<u8>, left: u8) {
        let opts = self.syn_opts(1, t);
        let ack = self.s[0].isn.wrapping_add(1);
        let win = self.s[1].syn_win;
        self.s[1].last_ack = ack;
        self.s[1].last_win = u32::from(win);
        let h = TcpHdr {
            sport: self.pair.ep[1].port,
            dport: self.pair.ep[0].port,
            seq: self.s[1].isn,
            ack,
            flags: SYN | ACK,
            win,
            opts,
        };
        let l3 = self.pair.l3(1);
        frame::tcp(buf, &l3, &h, 0);
        self.s[1].nxt = self.s[1].isn.wrapping_add(1);
        match self.setup {
            Setup::SynAckNoAck { .. } => {
                if left > 0 {
                    self.phase = Phase::SynAck { left: left - 1 };
                    self.ctl_t = t + self.rto;
                    self.rto *= 2;
                } else {
                    self.phase = Phase::Done;
                }
            }
            Setup::ScanOpen => {
                self.phase = Phase::ScanRst;
                self.ctl_t = t + 2 * self.pair.d(0) + self.jitter(self.pair.d(0));
            }
            _ => {
                self.phase = Phase::HsAck;
                self.ctl_t = t + 2 * self.pair.d(0) + self.jitter(self.pair.d(0));
            }
        }
    }
}
