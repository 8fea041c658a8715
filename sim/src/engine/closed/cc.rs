//! Congestion control as Linux runs it, in segments: Reno (`net/ipv4/tcp_cong.c`,
//! RFC 5681) and CUBIC (`net/ipv4/tcp_cubic.c`, RFC 8312; Linux's default) with HyStart's
//! delay detection (`hystart_update`, `HYSTART_DELAY`: slow start ends when a round's
//! minimum RTT rises by a clamp(min RTT / 8, 4 ms, 16 ms) over the connection's); HyStart's
//! ACK-train detection (`HYSTART_ACK_TRAIN`) is left out.
//!
//! The window after a loss (`ssthresh`), its growth per acknowledged segment
//! (`cong_avoid`) and the reset on a retransmission timeout (`on_rto`) are the kernel's,
//! in the kernel's integer arithmetic where it matters for the result (CUBIC's cube root
//! is computed in floating point and rounded, where the kernel uses a table and a Newton
//! step: both give the cube root to within one unit of 2^-10 s).

use offsim_traces::time::NS_PER_SEC;

/// Which controller (`net.ipv4.tcp_congestion_control`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Congestion {
    /// `cubic`, Linux's default since 2.6.19.
    #[default]
    Cubic,
    /// `reno`.
    Reno,
}

impl Congestion {
    /// The name in scenarios and reports.
    pub fn name(self) -> &'static str {
        match self {
            Congestion::Cubic => "cubic",
            Congestion::Reno => "reno",
        }
    }

    /// By name.
    pub fn parse(s: &str) -> Option<Congestion> {
        match s {
            "cubic" => Some(Congestion::Cubic),
            "reno" => Some(Congestion::Reno),
            _ => None,
        }
    }
}

/// `TCP_INIT_CWND` (include/net/tcp.h; RFC 6928): the initial window, segments.
pub(super) const INIT_CWND: u32 = 10;
/// A bound on the window, segments: the kernel's `snd_cwnd_clamp` is `~0` (none); the
/// receive window (at most 65535 << 14 bytes) bounds what is sent long before this.
const CWND_CLAMP: u32 = 1 << 20;

/// `beta` of `tcp_cubic.c`: 717/1024 ≈ 0.7 (RFC 8312 §4.5).
const BETA: u64 = 717;
const BETA_SCALE: u64 = 1024;
/// `bic_scale` 41: C = 41 × 10 / 1024 ≈ 0.4 (RFC 8312 §5).
const CUBE_RTT_SCALE: u64 = 41 * 10;
/// `BICTCP_HZ`: time in units of 2^-10 s.
const BICTCP_HZ: u32 = 10;
/// `beta_scale` = 8 × (1024 + 717) / 3 / (1024 − 717): the Reno-friendly window's
/// slope (`cubictcp_register`).
const FRIENDLY_SCALE: u64 = 8 * (BETA_SCALE + BETA) / 3 / (BETA_SCALE - BETA);

/// CUBIC's state (`struct bictcp`).
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Cubic {
    cnt: u32,
    last_max_cwnd: u32,
    last_cwnd: u32,
    last_time: u64,
    bic_origin_point: u32,
    /// Time to origin, 2^-10 s.
    bic_k: u64,
    /// Minimum RTT seen, ns.
    delay_min: u64,
    /// 0: no epoch.
    epoch_start: u64,
    ack_cnt: u32,
    tcp_cwnd: u32,
}

/// HyStart's round (`struct bictcp`: `round_start`, `end_seq`, `curr_rtt`, `sample_cnt`,
/// `found`).
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Hystart {
    found: bool,
    /// The round ends when this offset is acknowledged.
    end_seq: u64,
    /// The round's minimum RTT so far, ns (`u64::MAX`: none).
    curr_rtt: u64,
    samples: u32,
}

/// `hystart_low_window`: HyStart looks only at windows of at least 16 segments.
const HYSTART_LOW_WINDOW: u32 = 16;
/// `HYSTART_MIN_SAMPLES`: RTT samples per round before it judges.
const HYSTART_MIN_SAMPLES: u32 = 8;
/// `HYSTART_DELAY_MIN`, `HYSTART_DELAY_MAX`: the bounds of the RTT rise it tolerates.
const HYSTART_DELAY_MIN_NS: u64 = 4_000_000;
const HYSTART_DELAY_MAX_NS: u64 = 16_000_000;

/// A sender's window: `snd_cwnd`, `snd_ssthresh`, `snd_cwnd_cnt` and the controller's
/// state.
#[derive(Clone, Copy, Debug)]
pub(super) struct Window {
    pub(super) cwnd: u32,
    pub(super) ssthresh: u32,
    cwnd_cnt: u32,
    kind: Congestion,
    cubic: Cubic,
    hystart: Hystart,
}

impl Window {
    /// A new connection's window (`tcp_init_sock`: IW10, ssthresh "infinite").
    pub(super) fn new(kind: Congestion) -> Window {
        Window {
            cwnd: INIT_CWND,
            ssthresh: u32::MAX,
            cwnd_cnt: 0,
            kind,
            cubic: Cubic::default(),
            hystart: Hystart {
                curr_rtt: u64::MAX,
                ..Hystart::default()
            },
        }
    }

    /// Whether HyStart wants RTT samples of every ACK now: CUBIC in slow start, the window
    /// at least 16 segments, no exit found yet.
    pub(super) fn hystart_active(&self) -> bool {
        self.kind == Congestion::Cubic && !self.hystart.found && self.in_slow_start()
    }

    /// `hystart_update` (delay detection) on an ACK at `snd_una` with an RTT sample:
    /// a new round starts once the last one's data is acknowledged
    /// (`bictcp_hystart_reset`); after 8 samples, a round minimum above the connection's
    /// minimum by clamp(min / 8, 4 ms, 16 ms) ends slow start (ssthresh = cwnd).
    pub(super) fn hystart_update(&mut self, rtt_ns: u64, snd_una: u64, snd_nxt: u64) {
        if !self.hystart_active() || self.cwnd < HYSTART_LOW_WINDOW {
            return;
        }
        let h = &mut self.hystart;
        if snd_una > h.end_seq {
            h.end_seq = snd_nxt;
            h.curr_rtt = u64::MAX;
            h.samples = 0;
        }
        h.curr_rtt = h.curr_rtt.min(rtt_ns);
        if h.samples < HYSTART_MIN_SAMPLES {
            h.samples += 1;
            return;
        }
        let min = self.cubic.delay_min;
        let thresh = (min >> 3).clamp(HYSTART_DELAY_MIN_NS, HYSTART_DELAY_MAX_NS);
        if min > 0 && h.curr_rtt > min + thresh {
            h.found = true;
            self.ssthresh = self.cwnd;
        }
    }

    pub(super) fn in_slow_start(&self) -> bool {
        self.cwnd < self.ssthresh
    }

    /// A new RTT sample (CUBIC keeps the minimum: `cubictcp_acked`).
    pub(super) fn rtt_sample(&mut self, rtt_ns: u64) {
        let c = &mut self.cubic;
        if c.delay_min == 0 || rtt_ns < c.delay_min {
            c.delay_min = rtt_ns.max(1);
        }
    }

    /// `acked` segments were newly acknowledged at `now` while the sender was
    /// window-limited: `tcp_reno_cong_avoid` / `cubictcp_cong_avoid`.
    pub(super) fn cong_avoid(&mut self, acked: u32, now: u64) {
        let mut acked = acked;
        if self.in_slow_start() {
            acked = self.slow_start(acked);
            if acked == 0 {
                return;
            }
        }
        let w = match self.kind {
            Congestion::Reno => self.cwnd,
            Congestion::Cubic => {
                let cwnd = self.cwnd;
                self.cubic_update(cwnd, acked, now);
                self.cubic.cnt
            }
        };
        self.cong_avoid_ai(w, acked);
    }

    /// `tcp_slow_start`: the window grows by the segments acknowledged, up to ssthresh;
    /// returns what is left over.
    fn slow_start(&mut self, acked: u32) -> u32 {
        let cwnd = self.cwnd.saturating_add(acked).min(self.ssthresh);
        let left = acked - (cwnd - self.cwnd);
        self.cwnd = cwnd.min(CWND_CLAMP);
        left
    }

    /// `tcp_cong_avoid_ai`: one segment more per `w` segments acknowledged.
    fn cong_avoid_ai(&mut self, w: u32, acked: u32) {
        let w = w.max(1);
        if self.cwnd_cnt >= w {
            self.cwnd_cnt = 0;
            self.cwnd += 1;
        }
        self.cwnd_cnt += acked;
        if self.cwnd_cnt >= w {
            let delta = self.cwnd_cnt / w;
            self.cwnd_cnt -= delta * w;
            self.cwnd += delta;
        }
        self.cwnd = self.cwnd.min(CWND_CLAMP);
    }

    /// The slow-start threshold after a loss or an ECN echo (`tcp_reno_ssthresh`,
    /// `cubictcp_recalc_ssthresh` with fast convergence); sets it and returns it.
    pub(super) fn on_congestion(&mut self) -> u32 {
        let cwnd = self.cwnd;
        self.ssthresh = match self.kind {
            Congestion::Reno => (cwnd >> 1).max(2),
            Congestion::Cubic => {
                let c = &mut self.cubic;
                c.epoch_start = 0;
                c.last_max_cwnd = if cwnd < c.last_max_cwnd {
                    ((u64::from(cwnd) * (BETA_SCALE + BETA)) / (2 * BETA_SCALE)) as u32
                } else {
                    cwnd
                };
                ((u64::from(cwnd) * BETA / BETA_SCALE) as u32).max(2)
            }
        };
        self.cwnd_cnt = 0;
        self.ssthresh
    }

    /// A retransmission timeout (`tcp_enter_loss`): ssthresh as after a loss, the window
    /// back to one segment, CUBIC's state reset (`cubictcp_state` → `bictcp_reset`).
    pub(super) fn on_rto(&mut self) {
        self.on_congestion();
        self.cwnd = 1;
        self.cwnd_cnt = 0;
        let delay_min = self.cubic.delay_min;
        self.cubic = Cubic {
            delay_min,
            ..Cubic::default()
        };
        // `cubictcp_state` → `bictcp_hystart_reset`: slow start after the timeout is
        // watched again
        self.hystart = Hystart {
            curr_rtt: u64::MAX,
            ..Hystart::default()
        };
    }

    /// Sending resumes at `now` after `idle` ns with nothing in flight.
    /// `tcp_slow_start_after_idle_check` → `tcp_cwnd_restart` (the default
    /// `tcp_slow_start_after_idle` = 1): idle longer than the RTO, ssthresh becomes
    /// `tcp_current_ssthresh` (at least ¾ of the window) and the window halves per RTO idle,
    /// down to the initial window. CUBIC's `CA_EVENT_TX_START` moves its epoch by the idle
    /// time, so the cubic curve does not count it.
    pub(super) fn restart_after_idle(&mut self, idle: u64, rto: u64, now: u64) {
        let c = &mut self.cubic;
        if c.epoch_start != 0 {
            c.epoch_start = (c.epoch_start + idle).min(now.max(1));
        }
        if idle <= rto {
            return;
        }
        let cwnd = self.cwnd;
        self.ssthresh = self.ssthresh.max((cwnd >> 1) + (cwnd >> 2));
        let restart = INIT_CWND.min(cwnd);
        let mut w = cwnd;
        let mut left = idle;
        while left > rto && w > restart {
            left -= rto;
            w >>= 1;
        }
        self.cwnd = w.max(restart);
        self.cwnd_cnt = 0;
    }

    /// `bictcp_update`: the segments acknowledged per one-segment increase (`cnt`) from
    /// the cubic function of the time since the epoch began, bounded below by the window
    /// Reno would have (TCP friendliness).
    fn cubic_update(&mut self, cwnd: u32, acked: u32, now: u64) {
        let c = &mut self.cubic;
        c.ack_cnt = c.ack_cnt.wrapping_add(acked);
        // at most once per 1/32 s for an unchanged window, once per jiffy (1 ms) otherwise
        if c.last_cwnd == cwnd && now.saturating_sub(c.last_time) <= NS_PER_SEC / 32 {
            return;
        }
        if !(c.epoch_start != 0 && now.saturating_sub(c.last_time) < 1_000_000) {
            c.last_cwnd = cwnd;
            c.last_time = now;
            if c.epoch_start == 0 {
                c.epoch_start = now.max(1);
                c.ack_cnt = acked;
                c.tcp_cwnd = cwnd;
                if c.last_max_cwnd <= cwnd {
                    c.bic_k = 0;
                    c.bic_origin_point = cwnd;
                } else {
                    // K = cbrt((Wmax − cwnd) / C), in 2^-10 s
                    let cube_factor = (1u64 << (10 + 3 * BICTCP_HZ)) / CUBE_RTT_SCALE;
                    let x = cube_factor as f64 * f64::from(c.last_max_cwnd - cwnd);
                    c.bic_k = x.cbrt().round() as u64;
                    c.bic_origin_point = c.last_max_cwnd;
                }
            }
            // t = now − epoch + min RTT, in 2^-10 s
            let t_ns = now - c.epoch_start + c.delay_min;
            let t = ((u128::from(t_ns) << BICTCP_HZ) / u128::from(NS_PER_SEC)) as u64;
            let offs = t.abs_diff(c.bic_k);
            let delta = ((u128::from(CUBE_RTT_SCALE) * u128::from(offs).pow(3))
                >> (10 + 3 * BICTCP_HZ)) as u64;
            let origin = u64::from(c.bic_origin_point);
            let target = if t < c.bic_k {
                origin.saturating_sub(delta)
            } else {
                origin + delta
            };
            c.cnt = if target > u64::from(cwnd) {
                (u64::from(cwnd) / (target - u64::from(cwnd))) as u32
            } else {
                100 * cwnd
            };
            if c.last_max_cwnd == 0 && c.cnt > 20 {
                c.cnt = 20;
            }
        }
        // TCP friendliness: the window Reno would have grown to since the epoch
        let delta = ((u64::from(cwnd) * FRIENDLY_SCALE) >> 3).max(1) as u32;
        while c.ack_cnt > delta {
            c.ack_cnt -= delta;
            c.tcp_cwnd += 1;
        }
        if c.tcp_cwnd > cwnd {
            let max_cnt = cwnd / (c.tcp_cwnd - cwnd);
            c.cnt = c.cnt.min(max_cnt);
        }
        c.cnt = c.cnt.max(2);
    }
}

/// The retransmission timer (RFC 6298 as Linux runs it: `tcp_rtt_estimator`,
/// `__tcp_set_rto`, `tcp_retransmit_timer`).
#[derive(Clone, Copy, Debug)]
pub(super) struct Rto {
    /// Smoothed RTT, ns (0: no sample yet).
    srtt: u64,
    rttvar: u64,
    /// The current timeout, ns (backed off).
    pub(super) rto: u64,
    /// Timeouts in a row.
    pub(super) backoff: u32,
}

/// `TCP_TIMEOUT_INIT`: 1 s before the first sample (RFC 6298 §2.1).
pub(super) const RTO_INIT_NS: u64 = NS_PER_SEC;
/// `TCP_RTO_MIN`: 200 ms (Linux's floor on the variance term).
const RTO_MIN_NS: u64 = 200_000_000;
/// `TCP_RTO_MAX`: 120 s.
const RTO_MAX_NS: u64 = 120 * NS_PER_SEC;

impl Default for Rto {
    fn default() -> Rto {
        Rto {
            srtt: 0,
            rttvar: 0,
            rto: RTO_INIT_NS,
            backoff: 0,
        }
    }
}

impl Rto {
    /// An RTT sample from a segment sent once (Karn's rule, RFC 6298 §3): the smoothed
    /// RTT and variance (gains 1/8 and 1/4), and the timeout srtt + max(4·rttvar, 200 ms)
    /// (`__tcp_set_rto` with `tcp_rto_min`), backoff cleared.
    pub(super) fn sample(&mut self, rtt: u64) {
        if self.srtt == 0 {
            self.srtt = rtt.max(1);
            self.rttvar = rtt / 2;
        } else {
            let err = self.srtt.abs_diff(rtt);
            self.rttvar = (3 * self.rttvar + err) / 4;
            self.srtt = (7 * self.srtt + rtt) / 8;
        }
        self.backoff = 0;
        self.rto = self.base();
    }

    fn base(&self) -> u64 {
        if self.srtt == 0 {
            return RTO_INIT_NS;
        }
        (self.srtt + (4 * self.rttvar).max(RTO_MIN_NS)).min(RTO_MAX_NS)
    }

    /// The smoothed RTT, ns (0 before a sample).
    pub(super) fn srtt(&self) -> u64 {
        self.srtt
    }

    /// The timer fired: the timeout doubles, up to 120 s (`tcp_retransmit_timer`:
    /// `icsk_backoff++`, `inet_csk_rto_backoff`).
    pub(super) fn back_off(&mut self) {
        self.backoff += 1;
        self.rto = (self.rto.saturating_mul(2)).min(RTO_MAX_NS);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    /// `tcp_reno_ssthresh`: half the window, at least 2; `tcp_slow_start` grows by the
    /// segments acknowledged, `tcp_cong_avoid_ai` by one per window.
    #[test]
    fn reno_halves_on_loss_and_grows_one_segment_per_window() {
        let mut w = Window::new(Congestion::Reno);
        assert_eq!(w.cwnd, 10, "TCP_INIT_CWND (RFC 6928)");
        w.cong_avoid(10, MS);
        assert_eq!(w.cwnd, 20, "slow start doubles per window");
        assert_eq!(w.on_congestion(), 10);
        w.cwnd = w.ssthresh;
        // congestion avoidance: 10 segments acknowledged add one
        w.cong_avoid(9, 2 * MS);
        assert_eq!(w.cwnd, 10);
        w.cong_avoid(1, 3 * MS);
        assert_eq!(w.cwnd, 11);
        w.cwnd = 3;
        assert_eq!(w.on_congestion(), 2, "never below 2");
        // RTO: ssthresh from the window, then one segment (tcp_enter_loss)
        let mut w = Window::new(Congestion::Reno);
        w.cwnd = 40;
        w.on_rto();
        assert_eq!((w.cwnd, w.ssthresh), (1, 20));
    }

    /// `cubictcp_recalc_ssthresh`: ssthresh = 0.7 W (717/1024); W_max = W, or 0.85 W
    /// with fast convergence when the window is below the last W_max (RFC 8312 §4.6).
    #[test]
    fn cubic_reduces_to_beta_and_remembers_w_max_with_fast_convergence() {
        let mut w = Window::new(Congestion::Cubic);
        w.cwnd = 100;
        assert_eq!(w.on_congestion(), 70);
        assert_eq!(w.cubic.last_max_cwnd, 100);
        w.cwnd = 80;
        assert_eq!(w.on_congestion(), 56);
        assert_eq!(w.cubic.last_max_cwnd, 80 * 1741 / 2048, "0.85 × 80");
    }

    /// `bictcp_update`: K = ∛((W_max − W)/C) with C = 0.4: from W = 70 after a loss at
    /// W_max = 100, K = ∛75 ≈ 4.22 s; the window is back at W_max after K and grows
    /// beyond it (RFC 8312 §4.1, eq. 1–2).
    #[test]
    fn cubic_returns_to_w_max_after_k_seconds() {
        let mut w = Window::new(Congestion::Cubic);
        w.cwnd = 100;
        w.on_congestion();
        w.cwnd = w.ssthresh;
        w.rtt_sample(100 * MS);
        // one epoch: the first ACK after the reduction sets K
        w.cong_avoid(1, 10 * MS);
        let k_s = w.cubic.bic_k as f64 / 1024.0;
        assert!((k_s - 75f64.cbrt()).abs() < 0.01, "K = {k_s} s");
        assert_eq!(w.cubic.bic_origin_point, 100);
        // ACK every segment of each window, one window per 100 ms RTT, for K seconds
        let mut t = 10 * MS;
        let rtt = 100 * MS;
        while t < 10 * MS + (k_s * 1e9) as u64 - rtt {
            t += rtt;
            let cw = w.cwnd;
            for i in 0..cw {
                w.cong_avoid(1, t + u64::from(i) * rtt / u64::from(cw));
            }
        }
        assert!(
            (97..=102).contains(&w.cwnd),
            "at K the window is W_max: {}",
            w.cwnd
        );
        for _ in 0..30 {
            t += rtt;
            let cw = w.cwnd;
            for i in 0..cw {
                w.cong_avoid(1, t + u64::from(i) * rtt / u64::from(cw));
            }
        }
        // 3 s past K: W_max + C · 3³ = 110.8 (above the Reno-friendly 108)
        assert!(
            (108..=114).contains(&w.cwnd),
            "beyond W_max it probes: {}",
            w.cwnd
        );
    }

    /// `hystart_update` (HYSTART_DELAY): a round whose minimum RTT is 10 ms above the
    /// path's 40 ms (more than clamp(40/8, 4, 16) = 5 ms) ends slow start at the window it
    /// reached; 4 ms above it does not.
    #[test]
    fn hystart_ends_slow_start_when_the_rtt_rises() {
        let mut w = Window::new(Congestion::Cubic);
        w.cwnd = 32;
        w.rtt_sample(40 * MS);
        let mut una = 0;
        for rtt in [44, 44, 44, 44, 44, 44, 44, 44, 44, 44] {
            una += 1;
            w.hystart_update(rtt * MS, una, 100);
        }
        assert!(w.in_slow_start(), "4 ms of queue is tolerated");
        // the next round (past offset 100): 50 ms
        for k in 0..10 {
            w.hystart_update(50 * MS, 101 + k, 200);
        }
        assert_eq!(w.ssthresh, 32, "slow start ends at the window reached");
        assert!(!w.hystart_active());
        // Reno has no HyStart
        let mut r = Window::new(Congestion::Reno);
        r.cwnd = 32;
        r.rtt_sample(40 * MS);
        for k in 0..20 {
            r.hystart_update(80 * MS, k, 100);
        }
        assert!(r.in_slow_start());
    }

    /// `tcp_cwnd_restart`: 1 s idle at a 200 ms RTO halves a window of 100 four times, to
    /// 6, floored at the initial 10; ssthresh becomes ¾ of the old window when that is more
    /// (`tcp_current_ssthresh`).
    /// An idle shorter than the RTO changes nothing.
    #[test]
    fn an_idle_sender_restarts_from_a_smaller_window() {
        let mut w = Window::new(Congestion::Reno);
        w.cwnd = 100;
        w.ssthresh = 50;
        w.restart_after_idle(150 * MS, 200 * MS, NS_PER_SEC);
        assert_eq!(w.cwnd, 100);
        w.restart_after_idle(NS_PER_SEC, 200 * MS, 2 * NS_PER_SEC);
        assert_eq!((w.cwnd, w.ssthresh), (10, 75));
        let mut w = Window::new(Congestion::Reno);
        w.cwnd = 100;
        w.restart_after_idle(450 * MS, 200 * MS, NS_PER_SEC);
        assert_eq!(w.cwnd, 25, "two RTOs idle: halved twice");
    }

    /// RFC 6298 §5.5 / `tcp_retransmit_timer`: each timeout doubles the RTO up to 120 s;
    /// a new sample (Karn: from a segment sent once) restores srtt + max(4·rttvar, 200 ms).
    #[test]
    fn rto_backs_off_exponentially_and_a_sample_resets_it() {
        let mut r = Rto::default();
        assert_eq!(r.rto, NS_PER_SEC, "TCP_TIMEOUT_INIT");
        r.back_off();
        r.back_off();
        assert_eq!((r.rto, r.backoff), (4 * NS_PER_SEC, 2));
        for _ in 0..10 {
            r.back_off();
        }
        assert_eq!(r.rto, 120 * NS_PER_SEC, "TCP_RTO_MAX");
        r.sample(20 * MS);
        // first sample: srtt = R, rttvar = R/2; 4·rttvar = 40 ms < the 200 ms floor
        assert_eq!((r.rto, r.backoff), (220 * MS, 0));
        r.sample(20 * MS);
        assert_eq!(r.srtt, 20 * MS);
    }
}
