//! What an endpoint does with what reaches it and when its timers fire: the receiving half
//! (in-order and out-of-order data, delayed and immediate ACKs, ECN echo) and the sending
//! half (ACK processing, slow start and congestion avoidance, fast retransmit and NewReno
//! recovery, the retransmission timeout), in the order Linux's `tcp_rcv_established` →
//! `tcp_ack` → `tcp_data_queue` → `__tcp_ack_snd_check` runs them.

use offsim_traces::meta::tcp_flags;

use super::conn::Hs;
use super::{ClosedLoop, Ev, Kind};

/// `TCP_DELACK_MIN`: the delayed-ACK timer (HZ/25).
const DELACK_NS: u64 = 40_000_000;
/// `tcp_reordering`: duplicate ACKs that mean a loss.
const DUPACK_THRESHOLD: u32 = 3;
/// `tcp_syn_retries`, `tcp_synack_retries`, `tcp_retries2` (ip-sysctl.rst defaults).
const SYN_RETRIES: u8 = 6;
const SYNACK_RETRIES: u8 = 5;
const RETRIES2: u32 = 15;

impl ClosedLoop {
    /// A packet reaches endpoint `ev.end` (`tcp_rcv_established`, `tcp_rcv_state_process`).
    pub(super) fn deliver(&mut self, ev: Ev) {
        let slot = ev.slot;
        let r = usize::from(ev.end);
        let now = self.now;
        let Some(c) = self.conns[slot as usize].as_mut() else {
            return;
        };
        if c.aborted {
            return;
        }
        let ow = c.one_way(r);
        if ev.fl & tcp_flags::SYN != 0 {
            // the SYN-ACK reaches the initiator
            let me = &mut c.ends[0];
            let first = me.hs == Hs::SynSent;
            if first {
                me.hs = Hs::Est;
                me.rcv_nxt = 1;
                me.rcv_wup = 1;
                self.on_ack(slot, 0, ev);
            }
            self.send_ack(slot, 0, now + ow);
            self.try_send(slot, 0, now + ow);
            return;
        }
        let me = &mut c.ends[r];
        if me.hs == Hs::SynRcvd && ev.fl & tcp_flags::ACK != 0 && ev.ack >= 1 {
            me.hs = Hs::Est;
        }
        if me.hs != Hs::Est {
            return;
        }
        if ev.fl & tcp_flags::ACK != 0 {
            self.on_ack(slot, r, ev);
        }
        if ev.len > 0 || ev.fl & tcp_flags::FIN != 0 {
            self.on_data(slot, r, ev, ow);
        }
        self.try_send(slot, r, now + ow);
    }

    /// The receiving half takes a segment (`tcp_data_queue`) and ACKs it now or later
    /// (`__tcp_ack_snd_check`).
    fn on_data(&mut self, slot: u32, r: usize, ev: Ev, ow: u64) {
        let now = self.now;
        let c = self.conns[slot as usize].as_mut().expect("live slot");
        let sender_mss = u64::from(c.ends[1 - r].mss);
        let sender_port = c.ends[1 - r].port;
        let me = &mut c.ends[r];
        if ev.fl & tcp_flags::CWR != 0 {
            me.ece = false;
        }
        // `tcp_ecn_check_ce`: a CE mark is echoed, and ACKed at once
        let mut now_ack = ev.ce;
        if ev.ce {
            me.ece = true;
        }
        let (start, end) = (ev.seq, ev.seq + u64::from(ev.len));
        if end <= me.rcv_nxt && ev.len > 0 {
            // a duplicate: `tcp_send_dupack`
            now_ack = true;
        } else if start <= me.rcv_nxt {
            let before = me.rcv_nxt;
            me.rcv_nxt = me.rcv_nxt.max(end);
            if me.merge_ooo() {
                now_ack = true;
            }
            if now >= self.start && sender_port < 2 {
                self.stats.goodput_bytes[usize::from(sender_port)] += me.rcv_nxt - before;
            }
        } else if ev.len > 0 {
            // out of order: kept (if there is room) and a duplicate ACK sent
            me.add_ooo(start, end);
            now_ack = true;
        }
        if ev.fl & tcp_flags::FIN != 0 && end == me.rcv_nxt && !me.got_fin {
            me.rcv_nxt += 1;
            me.got_fin = true;
            now_ack = true;
        }
        if me.quick > 0 {
            me.quick -= 1;
            now_ack = true;
        }
        // more than one full segment received since the last ACK
        if me.rcv_nxt - me.rcv_wup > sender_mss {
            now_ack = true;
        }
        if now_ack {
            self.send_ack(slot, r, now + ow);
        } else if me.delack_at == 0 {
            me.delack_at = now + DELACK_NS;
            self.arm_timer(slot, r, Kind::DelAck);
        }
    }

    /// The sending half takes an ACK (`tcp_ack`): new data acknowledged grows the window
    /// (or ends recovery), the third duplicate starts fast retransmit, an ECN echo reduces
    /// the window once per window of data.
    fn on_ack(&mut self, slot: u32, s: usize, ev: Ev) {
        let now = self.now;
        let c = self.conns[slot as usize].as_mut().expect("live slot");
        let ow = c.one_way(s);
        let sack_ok = c.sack_ok;
        let (lo, hi) = c.ends.split_at_mut(1);
        let (me, peer) = if s == 0 {
            (&mut lo[0], &hi[0])
        } else {
            (&mut hi[0], &lo[0])
        };
        let ack = ev.ack;
        if ack > me.snd_max {
            return;
        }
        let mut resend_head = false;
        if ack > me.snd_una {
            let segs = (ack - me.snd_una).div_ceil(u64::from(me.mss)).max(1) as u32;
            // HyStart's sample: the newest segment this ACK covers
            let mut newest = None;
            while let Some(&(end, sent)) = me.sent_at.front()
                && end <= ack
            {
                newest = Some(sent);
                me.sent_at.pop_front();
            }
            if let Some(sent) = newest {
                let rtt = now.saturating_sub(sent).max(1);
                me.win.rtt_sample(rtt);
                me.win.hystart_update(rtt, ack, me.snd_max);
            }
            if !me.win.hystart_active() {
                me.sent_at.clear();
            }
            if let Some((end, sent)) = me.timed
                && ack >= end
            {
                let rtt = now.saturating_sub(sent).max(1);
                me.rto.sample(rtt);
                me.win.rtt_sample(rtt);
                me.timed = None;
            }
            me.snd_una = ack;
            me.snd_nxt = me.snd_nxt.max(ack);
            me.dupacks = 0;
            match me.recover {
                Some(rec) if ack >= rec => {
                    // RFC 6582 §3.2 step 3: a full ACK ends recovery at ssthresh
                    me.recover = None;
                    me.win.cwnd = me.win.ssthresh;
                }
                Some(_) if !sack_ok => {
                    // a partial ACK: the next hole is resent, the window deflated
                    me.win.cwnd = me.win.cwnd.saturating_sub(segs).saturating_add(1).max(1);
                    resend_head = true;
                }
                // with SACK, `try_send` resends the holes as the pipe allows
                Some(_) => {}
                None => {
                    if me.cwnd_limited {
                        me.win.cong_avoid(segs, now);
                    }
                }
            }
            if ack >= me.loss_high {
                me.loss_high = 0;
            }
            if ack >= me.stream_end() && me.hs == Hs::Est {
                me.last_acked = now;
            }
            me.rto_at = if me.snd_una >= me.snd_max {
                0
            } else {
                now + me.rto.rto
            };
        } else if ack == me.snd_una
            && ev.len == 0
            && ev.fl & (tcp_flags::FIN | tcp_flags::SYN) == 0
            && me.snd_max > me.snd_una
        {
            me.dupacks += 1;
            if me.recover.is_some() && !sack_ok {
                // RFC 6582 §3.2 step 4: each further duplicate inflates the window
                me.win.cwnd += 1;
            }
        }
        if sack_ok {
            me.take_sack(&peer.ooo, peer.rcv_nxt, ev.sack_edge);
            // RACK (RFC 8985, `tcp_rack_detect_loss`): once every hole was resent, a
            // hole the receiver still lacks an RTT and a quarter after the last resend,
            // while later data arrived, was lost again: the holes are resent from the
            // first
            let reo = me.rto.srtt() + me.rto.srtt() / 4;
            if me.recover.is_some()
                && me.high_rxt > me.snd_una
                && me.next_hole(me.high_rxt).is_none()
                && now > me.rxt_round + reo.max(1_000_000)
                && me.hole_bytes(me.snd_una, me.high_rxt.min(me.high_sack)) > 0
            {
                me.high_rxt = me.snd_una;
            }
        }
        // a loss: the third duplicate ACK, or (with SACK) three segments SACKed above
        // the first hole (`tcp_time_to_recover`, RFC 6675 §5)
        let lost = me.dupacks >= DUPACK_THRESHOLD
            || (sack_ok && me.sacked >= u64::from(DUPACK_THRESHOLD) * u64::from(me.mss));
        if lost && me.recover.is_none() && me.loss_high == 0 && me.snd_max > me.snd_una {
            let ssthresh = me.win.on_congestion();
            // RFC 6675 §5 step 4.2 (cwnd = ssthresh); NewReno inflates by the three
            me.win.cwnd = ssthresh + if sack_ok { 0 } else { DUPACK_THRESHOLD };
            me.recover = Some(me.snd_max);
            me.high_rxt = me.snd_una;
            me.rxt_round = now;
            self.stats.fast_retransmits += 1;
            resend_head = true;
        }
        let me = &mut c.ends[s];
        if ev.fl & tcp_flags::ECE != 0
            && me.ect
            && me.recover.is_none()
            && me.loss_high == 0
            && me.snd_una >= me.cwr_end
        {
            // `tcp_enter_cwr`: ssthresh from the controller, the window down to it
            let ssthresh = me.win.on_congestion();
            me.win.cwnd = ssthresh;
            me.cwr_end = me.snd_max;
            me.send_cwr = true;
            self.stats.ecn_reductions += 1;
        }
        if resend_head {
            self.resend_head(slot, s, now + ow);
        }
        self.arm_timer(slot, s, Kind::Rto);
    }

    /// Sends what the window allows, arriving at the router at `at`
    /// (`tcp_write_xmit`): new data, the segments a timeout marked lost, the FIN.
    pub(super) fn try_send(&mut self, slot: u32, e: usize, at: u64) {
        let Some(c) = self.conns[slot as usize].as_mut() else {
            return;
        };
        if c.aborted || c.ends[e].hs != Hs::Est {
            return;
        }
        let local = at.saturating_sub(c.one_way(e));
        let me = &mut c.ends[e];
        if me.snd_una >= me.snd_max && me.last_send > 0 && me.snd_nxt < me.stream_end() {
            let rto = me.rto.rto;
            me.win
                .restart_after_idle(local.saturating_sub(me.last_send), rto, local);
        }
        let mut blocked = false;
        let mut sent = false;
        loop {
            let c = self.conns[slot as usize].as_mut().expect("live slot");
            let sack_recovery = c.sack_ok && c.ends[e].recover.is_some();
            let sack_ok = c.sack_ok;
            let c_ow = c.one_way(e);
            let me = &mut c.ends[e];
            let mss = u64::from(me.mss);
            if sack_ok && me.snd_nxt < me.snd_max {
                // resending after a timeout: what the receiver holds is skipped
                while let Some(&(_, b)) = me
                    .sack
                    .iter()
                    .find(|r| r.0 <= me.snd_nxt && me.snd_nxt < r.1)
                {
                    me.snd_nxt = b;
                }
            }
            let flight = if sack_recovery {
                // RFC 6675 `pipe`: new data past the highest SACK, and holes resent
                me.snd_nxt.saturating_sub(me.high_sack.max(me.snd_una))
                    + me.hole_bytes(me.snd_una, me.high_rxt.min(me.high_sack))
            } else {
                me.snd_nxt - me.snd_una
            };
            let seq = me.snd_nxt;
            let wnd = (u64::from(me.win.cwnd) * mss).min(me.rwnd);
            if sack_recovery && let Some((x, n)) = me.next_hole(me.high_rxt) {
                let len = mss.min(n);
                if flight + len > wnd {
                    blocked = true;
                    break;
                }
                me.high_rxt = x + len;
                me.rxt_round = at.saturating_sub(c_ow);
                self.emit_seg(slot, e, at, x, len as u32, false);
                sent = true;
                continue;
            }
            if me.snd_nxt < me.written {
                let len = mss.min(me.written - me.snd_nxt);
                if flight + len > wnd {
                    blocked = true;
                    break;
                }
                self.emit_seg(slot, e, at, seq, len as u32, false);
            } else if me.fin && me.snd_nxt == me.written {
                self.emit_seg(slot, e, at, seq, 0, true);
            } else {
                break;
            }
            sent = true;
        }
        let c = self.conns[slot as usize].as_mut().expect("live slot");
        let ow = c.one_way(e);
        let me = &mut c.ends[e];
        let flight = (me.snd_nxt - me.snd_una).div_ceil(u64::from(me.mss));
        // `tcp_is_cwnd_limited`: in slow start, while at least half the window is in use
        me.cwnd_limited =
            blocked || (me.win.in_slow_start() && 2 * flight >= u64::from(me.win.cwnd));
        if blocked {
            me.limited_until = me.snd_max;
        }
        if sent && me.rto_at == 0 {
            me.rto_at = at.saturating_sub(ow) + me.rto.rto;
            self.arm_timer(slot, e, Kind::Rto);
        }
    }

    /// Resends the first unacknowledged segment (fast retransmit, a partial ACK).
    fn resend_head(&mut self, slot: u32, e: usize, at: u64) {
        let c = self.conns[slot as usize].as_mut().expect("live slot");
        let me = &mut c.ends[e];
        let seq = me.snd_una;
        if seq < me.written {
            let hole = me.next_hole(seq).map_or(u64::MAX, |h| h.1);
            let len = u64::from(me.mss).min(me.written - seq).min(hole) as u32;
            me.high_rxt = me.high_rxt.max(seq + u64::from(len));
            self.emit_seg(slot, e, at, seq, len, false);
        } else if me.fin && seq == me.written {
            self.emit_seg(slot, e, at, seq, 0, true);
        }
    }

    /// Puts a data segment (or FIN) of endpoint `e` on its way to the router, carrying its
    /// ACK of the other direction.
    fn emit_seg(&mut self, slot: u32, e: usize, at: u64, seq: u64, len: u32, fin: bool) {
        let c = self.conns[slot as usize].as_mut().expect("live slot");
        let ow = c.one_way(e);
        let sack_ok = c.sack_ok;
        let me = &mut c.ends[e];
        let end = seq + u64::from(len) + u64::from(fin);
        let retrans = seq < me.snd_max;
        if retrans {
            me.retrans += 1;
            self.stats.retransmissions += 1;
            // Karn: no samples across a retransmission
            me.sent_at.clear();
            if me.timed.is_some_and(|(t, _)| t > seq) {
                me.timed = None; // Karn's rule
            }
        } else {
            if me.timed.is_none() {
                me.timed = Some((end, at.saturating_sub(ow)));
            }
            if me.win.hystart_active() && len > 0 {
                me.sent_at.push_back((end, at.saturating_sub(ow)));
            }
        }
        if me.first_data == 0 && len > 0 {
            me.first_data = at;
        }
        me.last_send = at.saturating_sub(ow).max(1);
        if seq >= me.snd_nxt {
            me.snd_nxt = me.snd_nxt.max(end);
        }
        me.snd_max = me.snd_max.max(end);
        let mut fl = tcp_flags::ACK;
        if fin {
            fl |= tcp_flags::FIN;
        }
        if end >= me.written && len > 0 {
            fl |= tcp_flags::PSH;
        }
        if me.send_cwr && len > 0 {
            fl |= tcp_flags::CWR;
            me.send_cwr = false;
        }
        if me.ece {
            fl |= tcp_flags::ECE;
        }
        let ack = me.rcv_nxt;
        me.rcv_wup = me.rcv_nxt;
        me.delack_at = 0;
        let ect = me.ect && len > 0 && !retrans;
        let sack_edge = if sack_ok { me.sack_edge() } else { 0 };
        let ev = Ev {
            fl,
            ect,
            len,
            seq,
            ack,
            sack_edge,
            ..Ev::timer(slot, e, Kind::Emit)
        };
        self.push(at, ev);
    }

    /// Sends a pure ACK of what endpoint `e` received, arriving at the router at `at`.
    fn send_ack(&mut self, slot: u32, e: usize, at: u64) {
        let c = self.conns[slot as usize].as_mut().expect("live slot");
        let sack_ok = c.sack_ok;
        let me = &mut c.ends[e];
        let fl = tcp_flags::ACK | if me.ece { tcp_flags::ECE } else { 0 };
        let (seq, ack) = (me.snd_nxt, me.rcv_nxt);
        me.rcv_wup = me.rcv_nxt;
        me.delack_at = 0;
        let sack_edge = if sack_ok { me.sack_edge() } else { 0 };
        let ev = Ev {
            fl,
            seq,
            ack,
            sack_edge,
            ..Ev::timer(slot, e, Kind::Emit)
        };
        self.push(at, ev);
    }

    /// Queues endpoint `e`'s timer event for its deadline unless one is queued no later.
    pub(super) fn arm_rto(&mut self, slot: u32, e: usize) {
        self.arm_timer(slot, e, Kind::Rto);
    }

    fn arm_timer(&mut self, slot: u32, e: usize, kind: Kind) {
        let c = self.conns[slot as usize].as_mut().expect("live slot");
        let me = &mut c.ends[e];
        let (deadline, queued) = match kind {
            Kind::Rto => (me.rto_at, &mut me.rto_ev),
            _ => (me.delack_at, &mut me.delack_ev),
        };
        if deadline == 0 || queued.is_some_and(|q| q <= deadline) {
            return;
        }
        let at = deadline.max(self.now);
        *queued = Some(at);
        self.push(at, Ev::timer(slot, e, kind));
    }

    /// Whether a timer event is the one queued (a stale one is dropped), and clears it.
    fn timer_current(&mut self, slot: u32, e: usize, kind: Kind) -> bool {
        let now = self.now;
        let Some(c) = self.conns[slot as usize].as_mut() else {
            return false;
        };
        let me = &mut c.ends[e];
        let (deadline, queued) = match kind {
            Kind::Rto => (me.rto_at, &mut me.rto_ev),
            _ => (me.delack_at, &mut me.delack_ev),
        };
        if *queued != Some(now) {
            return false;
        }
        *queued = None;
        if deadline == 0 {
            return false;
        }
        if deadline > now {
            self.arm_timer(slot, e, kind);
            return false;
        }
        true
    }

    pub(super) fn delack_fired(&mut self, slot: u32, e: usize) {
        if !self.timer_current(slot, e, Kind::DelAck) {
            return;
        }
        let c = self.conns[slot as usize].as_mut().expect("live slot");
        let ow = c.one_way(e);
        self.send_ack(slot, e, self.now + ow);
    }

    /// The retransmission timer fired (`tcp_retransmit_timer`; for a handshake,
    /// `tcp_syn_ack_timeout` and the SYN's retries).
    pub(super) fn rto_fired(&mut self, slot: u32, e: usize) {
        if !self.timer_current(slot, e, Kind::Rto) {
            return;
        }
        let now = self.now;
        let c = self.conns[slot as usize].as_mut().expect("live slot");
        if c.aborted {
            return;
        }
        let ow = c.one_way(e);
        let tmpl_fl = c.tmpl[e].tcp_flags;
        let me = &mut c.ends[e];
        match me.hs {
            Hs::Listen => {}
            Hs::SynSent | Hs::SynRcvd => {
                let limit = if me.hs == Hs::SynSent {
                    SYN_RETRIES
                } else {
                    SYNACK_RETRIES
                };
                if me.hs_retries >= limit {
                    self.abort(slot);
                    return;
                }
                me.hs_retries += 1;
                me.rto.back_off();
                me.timed = None;
                me.rto_at = now + me.rto.rto;
                let fl = if me.hs == Hs::SynSent {
                    tmpl_fl & (tcp_flags::SYN | tcp_flags::ECE | tcp_flags::CWR)
                } else {
                    tcp_flags::SYN | tcp_flags::ACK | (tmpl_fl & tcp_flags::ECE)
                };
                me.retrans += 1;
                self.stats.retransmissions += 1;
                let ev = Ev {
                    fl,
                    ack: u64::from(e == 1),
                    ..Ev::timer(slot, e, Kind::Emit)
                };
                self.push(now + ow, ev);
                self.arm_timer(slot, e, Kind::Rto);
            }
            Hs::Est => {
                if me.snd_una >= me.snd_max {
                    me.rto_at = 0;
                    return;
                }
                me.rto.back_off();
                if me.rto.backoff > RETRIES2 {
                    self.abort(slot);
                    return;
                }
                me.rtos += 1;
                self.stats.rtos += 1;
                // `tcp_enter_loss`: everything outstanding is lost, resent from the first
                // unacknowledged byte with a window of one
                me.win.on_rto();
                me.recover = None;
                me.high_rxt = 0;
                me.dupacks = 0;
                me.loss_high = me.snd_max;
                me.snd_nxt = me.snd_una;
                me.timed = None;
                me.rto_at = now + me.rto.rto;
                self.try_send(slot, e, now + ow);
                self.arm_timer(slot, e, Kind::Rto);
            }
        }
    }

    pub(super) fn abort(&mut self, slot: u32) {
        if let Some(c) = self.conns[slot as usize].as_mut()
            && !c.aborted
        {
            c.aborted = true;
            self.stats.aborted += 1;
        }
    }
}
