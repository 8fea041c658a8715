//! A reference for the `flow` side split's tests: the split as plainly as it can be written,
//! one map entry per directional tuple and per directional address pair (as the splitter
//! kept them before a tuple and its reverse came to share an entry), and a property test
//! that the splitter gives what it gives on random packet streams: sides, new LAN hosts,
//! tuples remembered, and at every sweep the LAN hosts forgotten.

use std::collections::HashMap;

use offsim_traces::meta::{FlowKey, PacketMeta, flags, is_icmp_echo, proto, tcp_flags};
use offsim_traces::time::{NS_PER_SEC, SimTime};

use super::{
    FOREVER, SWEEP_MIN_TUPLES, SWEEP_NS, Seen, Side, SideMode, SideSplitter, SweepCtx,
    TCP_CLOSING_S, keys, secs_up,
};

/// The `flow` split, one entry per direction.
#[derive(Default)]
struct Reference {
    seen: HashMap<FlowKey, Seen>,
    /// (version, source, destination) → (side, tuples using it).
    pairs: HashMap<(u8, u128, u128), (Side, u32)>,
    lan_hosts: HashMap<(u8, u128), u32>,
    next_sweep: u64,
    kept: usize,
    arrivals: u32,
}

impl Reference {
    fn new() -> Reference {
        Reference {
            next_sweep: SWEEP_NS,
            ..Reference::default()
        }
    }

    fn sweep_due(&self, now: SimTime) -> bool {
        now.0 >= self.next_sweep || self.seen.len() >= (2 * self.kept).max(SWEEP_MIN_TUPLES)
    }

    fn sweep(&mut self, now: SimTime, ctx: SweepCtx<'_>) {
        let now_s = now.0 / NS_PER_SEC;
        let gone: Vec<(FlowKey, Seen)> = self
            .seen
            .iter()
            .filter(|(k, e)| {
                let idle = e.expires_s != FOREVER && u64::from(e.expires_s) < now_s;
                idle || ctx
                    .alive
                    .is_some_and(|f| self.arrivals.wrapping_sub(e.last_pkt) > ctx.grace && !f(k))
            })
            .map(|(k, e)| (*k, *e))
            .collect();
        for (k, e) in gone {
            self.seen.remove(&k);
            let p = (k.version, k.src, k.dst);
            let c = self.pairs.get_mut(&p).expect("a tuple's pair");
            c.1 -= 1;
            if c.1 == 0 {
                self.pairs.remove(&p);
            }
            if e.side == Side::Lan {
                let n = self
                    .lan_hosts
                    .get_mut(&(k.version, k.src))
                    .expect("a LAN host");
                *n -= 1;
                if *n == 0 {
                    self.lan_hosts.remove(&(k.version, k.src));
                    (ctx.forgot_lan_host)(k.version, k.src);
                }
            }
        }
        self.kept = self.seen.len();
        self.next_sweep = now.0.saturating_add(SWEEP_NS);
    }

    fn side_of(&mut self, m: &PacketMeta, now: u64) -> (Side, bool) {
        self.arrivals = self.arrivals.wrapping_add(1);
        if !m.is_ip() {
            return (Side::Lan, false);
        }
        let icmp = matches!(m.l4proto, proto::ICMP | proto::ICMPV6);
        let echo = icmp && m.l4_present() && is_icmp_echo(m.l4proto, m.icmp_type);
        let v = m.ip_version;
        let ports = (m.sport, m.dport);
        let (k, rk) = keys(v, m.l4proto, m.src, m.dst, ports, m.has(flags::PORTS), echo);
        let mut side = None;
        if icmp && m.has(flags::ICMP_ERROR) {
            let i = m.inner.key;
            let inner_echo = matches!(i.proto, proto::ICMP | proto::ICMPV6)
                && m.inner.l4_present
                && is_icmp_echo(i.proto, (i.dport >> 8) as u8);
            let (ik, irk) = keys(
                i.version,
                i.proto,
                i.src,
                i.dst,
                (i.sport, i.dport),
                m.inner.l4_present,
                inner_echo,
            );
            let quoted = (self.seen.get(&ik).map(|e| e.side))
                .or_else(|| self.seen.get(&irk).map(|e| e.side.flip()));
            side = quoted.map(Side::flip);
        }
        let closing = m.l4proto == proto::TCP
            && m.l4_present()
            && m.tcp_flags & (tcp_flags::FIN | tcp_flags::RST) != 0;
        let arrivals = self.arrivals;
        let (side, new_host) = if let Some(e) = self.seen.get_mut(&k) {
            e.touch(m, now);
            e.last_pkt = arrivals;
            (side.unwrap_or(e.side), false)
        } else {
            let side = side
                .or_else(|| self.seen.get(&rk).map(|e| e.side.flip()))
                .or_else(|| self.pairs.get(&(v, m.src, m.dst)).map(|p| p.0))
                .or_else(|| self.pairs.get(&(v, m.dst, m.src)).map(|p| p.0.flip()))
                .unwrap_or(Side::Lan);
            let mut e = Seen {
                side,
                closing: false,
                expires_s: 0,
                last_pkt: arrivals,
            };
            e.touch(m, now);
            self.seen.insert(k, e);
            self.pairs.entry((v, m.src, m.dst)).or_insert((side, 0)).1 += 1;
            let mut new_host = false;
            if side == Side::Lan {
                let n = self.lan_hosts.entry((v, m.src)).or_insert(0);
                new_host = *n == 0;
                *n += 1;
            }
            (side, new_host)
        };
        if closing && let Some(r) = self.seen.get_mut(&rk) {
            r.closing = true;
            r.expires_s = 0;
            r.extend(secs_up(now) + TCP_CLOSING_S);
        }
        (side, new_host)
    }
}

/// A random packet over a few addresses and ports (so tuples meet their reverse, and
/// some are their own), of every kind the split tells apart.
fn packet(r: &mut impl FnMut(u64) -> u64, quotable: &[PacketMeta]) -> PacketMeta {
    use offsim_traces::meta::tcp_flags::{ACK, FIN, RST, SYN};
    use offsim_traces::testkit::Pkt;
    let v6 = r(5) == 0;
    let ip = |n: u64| {
        if v6 {
            format!("2001:db8::{}", n + 1)
        } else {
            format!("10.0.0.{}", n + 1)
        }
    };
    let sock = |a: String, p: u64| {
        if v6 {
            format!("[{a}]:{}", 1000 + p)
        } else {
            format!("{a}:{}", 1000 + p)
        }
    };
    let (s, d) = (ip(r(4)), ip(r(4)));
    let (sp, dp) = (r(3), r(3));
    let (echo, reply) = if v6 { (128, 129) } else { (8, 0) };
    match r(8) {
        0..=2 => {
            let f = [SYN, SYN | ACK, ACK, FIN | ACK, RST, RST | ACK][r(6) as usize];
            Pkt::tcp4(&sock(s, sp), &sock(d, dp)).flags(f).build()
        }
        3 | 4 => Pkt::udp(&sock(s, sp), &sock(d, dp)).build(),
        5 => Pkt::icmp(&s, &d, [echo, reply][r(2) as usize], 0, r(3) as u16).build(),
        6 if !quotable.is_empty() => {
            let q = quotable[r(quotable.len() as u64) as usize];
            Pkt::icmp(&s, &d, if v6 { 1 } else { 3 }, 3, 0)
                .quoting(&q)
                .build()
        }
        _ => Pkt::icmp(&s, &d, if v6 { 135 } else { 13 }, 0, 0).build(),
    }
}

/// The splitter and the reference agree packet by packet, and sweep by sweep, with the
/// sweeps the splitter schedules itself and with conntrack-limit sweeps (`alive`, `grace`).
#[test]
fn the_split_is_the_reference_split() {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut r = move |n: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % n
    };
    for round in 0..24u64 {
        let mut a = SideSplitter::new(SideMode::Flow);
        let mut b = Reference::new();
        let mut quotable: Vec<PacketMeta> = Vec::new();
        let (mut fa, mut fb) = (Vec::new(), Vec::new());
        // Some rounds forget what a stand-in for conntrack does not hold.
        let limited = round % 2 == 1;
        let alive =
            |k: &FlowKey| !(k.sport.wrapping_mul(7) ^ k.dport ^ k.src as u16).is_multiple_of(3);
        for i in 0..4_000u64 {
            let m = packet(&mut r, &quotable);
            if quotable.len() < 32 {
                quotable.push(m);
            } else {
                quotable[r(32) as usize] = m;
            }
            let now = SimTime(i * (1 + round) * 40_000_000);
            assert_eq!(
                a.sweep_due(now),
                b.sweep_due(now),
                "round {round} packet {i}"
            );
            if a.sweep_due(now) || i % 97 == 0 {
                let alive_fn: Option<&dyn Fn(&FlowKey) -> bool> = limited.then_some(&alive);
                let grace = (round % 5) as u32;
                a.sweep(
                    now,
                    SweepCtx {
                        alive: alive_fn,
                        grace,
                        forgot_lan_host: &mut |v, h| fa.push((v, h)),
                    },
                );
                b.sweep(
                    now,
                    SweepCtx {
                        alive: alive_fn,
                        grace,
                        forgot_lan_host: &mut |v, h| fb.push((v, h)),
                    },
                );
                fa.sort_unstable();
                fb.sort_unstable();
                assert_eq!(fa, fb, "round {round} packet {i}: LAN hosts forgotten");
                fa.clear();
                fb.clear();
            }
            // the prefetch is a hint: asking changes no answer
            a.prefetch(&m);
            let got = a.side_of(&m, now);
            assert_eq!(got, b.side_of(&m, now.0), "round {round} packet {i}: {m:?}");
            assert_eq!(a.tuples(), b.seen.len(), "round {round} packet {i}");
        }
    }
}
