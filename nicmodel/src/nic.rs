//! [`Nic`]: the table, the insertion pipeline and the data path behind one interface that the
//! engine and the offload layer drive with explicit times.

use crate::config::{ConfigError, NicConfig};
use crate::datapath::{DataPath, DropReason, PuntReason, frame_len};
use crate::error::InsertError;
use crate::key::HwKey;
use crate::pipeline::{Completion, Op, OpOutcome, Pipeline, Ticket};
use crate::power::{PowerReport, nj_to_pj};
use crate::stats::NicStats;
use crate::table::{BindOutcome, Cookie, FlowTable, FlowView, Lookup};
use offsim_traces::{PacketMeta, SimDuration, SimTime};
use serde::Serialize;

/// Token for the CPU-side bind check of a packet punted with [`PuntReason::BindCheck`] (the
/// entry index MediaTek puts in the RX descriptor).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct BindCheck {
    /// Entry index.
    pub slot: u32,
}

/// What happened to a received packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Forwarded by the offload engine; the host CPU never sees it.
    Hardware {
        /// When its last bit leaves the egress port.
        depart: SimTime,
        /// Egress interface.
        out_iface: u32,
    },
    /// Handed to the CPU (RSS → RX ring → driver → flowtable / netfilter).
    Cpu {
        /// Why.
        reason: PuntReason,
        /// With [`PuntReason::BindCheck`]: call [`Nic::bind_check`] when the CPU handles it.
        bind_check: Option<BindCheck>,
    },
    /// Dropped by the NIC.
    Dropped {
        /// Why.
        reason: DropReason,
        /// The egress interface the packet was headed for.
        out_iface: u32,
    },
}

/// Result of [`Nic::rx`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RxResult {
    /// When the last bit arrived (the earliest the packet can reach the CPU's RX ring).
    pub rx_done: SimTime,
    /// What happened.
    pub verdict: Verdict,
}

/// Something the offload layer should learn about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NicEvent {
    /// An op completed (the kernel's driver callback returned).
    Completed(Completion),
    /// Hardware aging removed a bound entry that belonged to `cookie` (the kernel is not told;
    /// the flow's next stats read shows it idle).
    Aged {
        /// The rule.
        cookie: Cookie,
        /// When.
        at: SimTime,
    },
}

/// The NIC model. Typical use, per simulated event, in time order:
///
/// 1. packet arrival: [`Nic::rx`] → forward in hardware, hand to the CPU, or drop;
/// 2. when the CPU handles a packet punted with a bind check: [`Nic::bind_check`];
/// 3. offload layer: [`Nic::submit`] inserts / removes / stats requests;
/// 4. wake up at [`Nic::next_event_time`] and call [`Nic::poll`] to collect completions and
///    aging events (the NIC also catches up by itself on every call, so the table is always
///    correct as of the time passed in);
/// 5. CPU-forwarded packets may go out through [`Nic::tx`] to share the egress line;
/// 6. at the end (or per interval): [`Nic::stats`] and [`Nic::power`].
///
/// Times passed in must not go backwards; an earlier time is clamped to the latest one seen
/// and counted in `datapath.time_regressions`.
#[derive(Clone, Debug)]
pub struct Nic {
    cfg: NicConfig,
    table: FlowTable,
    pipeline: Pipeline,
    dp: DataPath,
    events: Vec<NicEvent>,
    aged: Vec<Cookie>,
    due: SimTime,
    clock: SimTime,
    rx_pj: u64,
    hw_pj: u64,
    ipv6: bool,
    /// The offload engine is in use (a flowtable with hardware offload is bound to it).
    offload: bool,
}

impl Nic {
    /// Builds an idle NIC.
    pub fn new(cfg: NicConfig) -> Result<Nic, ConfigError> {
        let table = FlowTable::new(&cfg)?;
        Ok(Nic {
            pipeline: Pipeline::new(&cfg.pipeline),
            dp: DataPath::new(&cfg.datapath),
            rx_pj: nj_to_pj(cfg.power.rx_nj_per_packet),
            hw_pj: nj_to_pj(cfg.power.hw_nj_per_packet),
            ipv6: cfg.table.ipv6,
            offload: true,
            table,
            cfg,
            events: Vec::new(),
            aged: Vec::new(),
            due: SimTime::MAX,
            clock: SimTime::ZERO,
        })
    }

    /// Builds an idle NIC from an embedded preset.
    pub fn from_preset(name: &str) -> Result<Nic, ConfigError> {
        Nic::new(NicConfig::preset(name)?)
    }

    /// Turns the offload engine off: the NIC is a plain NIC that hands every packet to the
    /// CPU (no table lookups, no punts), as when no flowtable with `flags offload` is bound
    /// to it.
    pub fn disable_offload(&mut self) {
        self.offload = false;
    }

    /// Whether the offload engine is in use: [`Nic::classify`] reads a packet only then.
    #[inline]
    pub fn offloads(&self) -> bool {
        self.offload
    }

    /// The configuration.
    pub fn config(&self) -> &NicConfig {
        &self.cfg
    }

    /// The flow table (read-only).
    pub fn table(&self) -> &FlowTable {
        &self.table
    }

    /// The data path (read-only; serialisation helpers).
    pub fn datapath(&self) -> &DataPath {
        &self.dp
    }

    /// Advances the NIC's clock to `now`, applying completions and aging due by then.
    #[inline]
    fn tick(&mut self, now: SimTime) -> SimTime {
        let now = if now < self.clock {
            self.dp.stats.time_regressions += 1;
            self.clock
        } else {
            now
        };
        self.clock = now;
        if now >= self.due {
            self.catch_up(now);
        }
        now
    }

    fn refresh_due(&mut self) {
        self.due = self.next_event_time().unwrap_or(SimTime::MAX);
    }

    fn catch_up(&mut self, now: SimTime) {
        loop {
            let tp = self.pipeline.next_done().unwrap_or(SimTime::MAX);
            let ta = self.table.next_aging_time().unwrap_or(SimTime::MAX);
            let next = tp.min(ta);
            if next > now || next == SimTime::MAX {
                break;
            }
            if tp <= ta {
                let Some(p) = self.pipeline.pop_done(tp) else {
                    break;
                };
                let at = p.done;
                let result = match p.op {
                    Op::Insert {
                        cookie,
                        key,
                        action,
                    } => self
                        .table
                        .insert(at, cookie, &key, action)
                        .map(OpOutcome::Inserted),
                    Op::Remove { cookie } => self.table.remove(at, cookie).map(OpOutcome::Removed),
                    Op::Stats { cookie } => self
                        .table
                        .read_stats(at, cookie, true)
                        .map(OpOutcome::Stats),
                };
                self.events.push(NicEvent::Completed(Completion {
                    ticket: p.ticket,
                    cookie: p.op.cookie(),
                    kind: p.op.kind(),
                    submitted: p.submitted,
                    started: p.start,
                    done: p.done,
                    cpu_ns: p.cpu_ns,
                    result,
                }));
            } else {
                self.table.age(ta, &mut self.aged);
                for cookie in self.aged.drain(..) {
                    self.events.push(NicEvent::Aged { cookie, at: ta });
                }
            }
        }
        self.refresh_due();
    }

    /// A packet whose first bit reaches port `pkt.iface` at `now`: received and classified
    /// at once (the convenience of [`Nic::ingress`] followed by [`Nic::classify`] at its
    /// `rx_done`, for callers that handle one packet at a time).
    #[inline]
    pub fn rx(&mut self, now: SimTime, pkt: &PacketMeta) -> RxResult {
        let rx_done = self
            .ingress(now, pkt, SimDuration(u64::MAX))
            .expect("an unbounded wait never overruns");
        let verdict = self.classify(rx_done, pkt);
        RxResult { rx_done, verdict }
    }

    /// The receive line of port `pkt.iface`: a frame whose first bit is offered at `now`
    /// starts arriving when the port's previous frame has (a port cannot receive faster
    /// than its line rate); returns when its last bit has arrived, or `None` when it would
    /// have waited longer than `max_wait` at the far end (the sender's or the upstream
    /// switch's finite queue), in which case it is lost and the line stays as it was.
    #[inline]
    pub fn ingress(
        &mut self,
        now: SimTime,
        pkt: &PacketMeta,
        max_wait: SimDuration,
    ) -> Option<SimTime> {
        let now = self.tick(now);
        let rx_done = self.dp.ingress(now, pkt.iface, frame_len(pkt), max_wait)?;
        self.dp.stats.energy_pj += self.rx_pj;
        Some(rx_done)
    }

    /// What the NIC does with a frame received in full at `rx_done` (from [`Nic::ingress`]):
    /// the table lookup, then the offload engine and the egress port for a hit, or the CPU.
    /// Calls must come in time order across ports: a store-and-forward engine acts on a
    /// frame once its last bit is in, so a long frame still arriving on one port does not
    /// hold up a short one already complete on another.
    #[inline]
    pub fn classify(&mut self, rx_done: SimTime, pkt: &PacketMeta) -> Verdict {
        let rx_done = self.tick(rx_done);
        if !self.offload {
            return Verdict::Cpu {
                reason: PuntReason::Miss,
                bind_check: None,
            };
        }
        let verdict = self.lookup_and_forward(rx_done, pkt, frame_len(pkt));
        if let Verdict::Cpu { reason, .. } = verdict {
            self.dp.count_punt(reason);
        }
        verdict
    }

    #[inline]
    fn lookup_and_forward(&mut self, rx_done: SimTime, pkt: &PacketMeta, frame: u32) -> Verdict {
        let cpu = |reason| Verdict::Cpu {
            reason,
            bind_check: None,
        };
        if let Some(r) = self.dp.pre_lookup_punt(pkt, self.ipv6) {
            return cpu(r);
        }
        let Some(key) = HwKey::from_meta(pkt) else {
            return cpu(PuntReason::NotIp);
        };
        let l = self.table.lookup(rx_done, &key, frame);
        if self.table.next_aging_time().is_some_and(|t| t < self.due) {
            self.refresh_due();
        }
        match l {
            Lookup::Hit { action, .. } => {
                if let Some(r) = self.dp.hit_punt(pkt, action.mtu) {
                    return cpu(r);
                }
                match self.dp.forward(rx_done, action.out_iface, frame) {
                    Ok(depart) => {
                        self.dp.stats.energy_pj += self.hw_pj;
                        Verdict::Hardware {
                            depart,
                            out_iface: action.out_iface,
                        }
                    }
                    Err(reason) => Verdict::Dropped {
                        reason,
                        out_iface: action.out_iface,
                    },
                }
            }
            Lookup::Unbound { .. } => cpu(PuntReason::Unbound),
            Lookup::BindCheck { slot } => Verdict::Cpu {
                reason: PuntReason::BindCheck,
                bind_check: Some(BindCheck { slot }),
            },
            Lookup::Miss => cpu(PuntReason::Miss),
        }
    }

    /// The CPU-side bind check for a packet punted with a [`BindCheck`], at the time the CPU
    /// handles it.
    pub fn bind_check(&mut self, now: SimTime, check: BindCheck) -> BindOutcome {
        let now = self.tick(now);
        let r = self.table.bind_check(now, check.slot);
        self.refresh_due();
        r
    }

    /// Sends a frame the CPU forwarded out of port `out_iface` at `now`, sharing the line with
    /// hardware-forwarded traffic; returns when its last bit leaves.
    pub fn tx(
        &mut self,
        now: SimTime,
        out_iface: u32,
        pkt: &PacketMeta,
    ) -> Result<SimTime, DropReason> {
        let now = self.tick(now);
        self.dp.stats.energy_pj += self.rx_pj;
        self.dp.transmit(now, out_iface, frame_len(pkt))
    }

    /// Submits an op at `now`. Refused at once with `QueueFull` / `RateLimited`; otherwise
    /// its [`Completion`] arrives through [`Nic::poll`] at its completion time.
    pub fn submit(&mut self, now: SimTime, op: Op) -> Result<Ticket, InsertError> {
        let now = self.tick(now);
        let r = self.pipeline.submit(now, op);
        self.refresh_due();
        r
    }

    /// When the NIC next has something to report or do (an op completion or an aging scan);
    /// `None` when idle.
    pub fn next_event_time(&self) -> Option<SimTime> {
        match (self.pipeline.next_done(), self.table.next_aging_time()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Advances to `now` and moves every pending event (completions, agings) into `out`, in
    /// time order.
    pub fn poll(&mut self, now: SimTime, out: &mut Vec<NicEvent>) {
        self.tick(now);
        out.append(&mut self.events);
    }

    /// Where a cookie is (listed / bound at which index).
    pub fn flow_view(&self, cookie: Cookie) -> Option<FlowView> {
        self.table.flow_view(cookie)
    }

    /// Drops every entry and every op in flight at `now` (NIC reset). Ops in flight never
    /// complete; returns how many were dropped.
    pub fn clear(&mut self, now: SimTime) -> usize {
        let now = self.tick(now);
        self.table.clear(now);
        let n = self.pipeline.clear();
        self.refresh_due();
        n
    }

    /// All counters as of `now` (the occupancy integral is brought up to `now`).
    pub fn stats(&mut self, now: SimTime) -> NicStats {
        let now = self.tick(now);
        self.table.flush(now);
        NicStats {
            table: self.table.stats,
            pipeline: self.pipeline.stats,
            datapath: self.dp.stats,
        }
    }

    /// Mean power over `duration` (the simulated span).
    pub fn power(&self, duration: SimDuration) -> PowerReport {
        PowerReport::new(&self.cfg.power, &self.dp.stats, duration)
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::table::HwAction;
    use offsim_traces::meta::{NetKind, flags, proto, tcp_flags};

    fn pkt(ts_ms: u64, sport: u16, fl: u8) -> PacketMeta {
        PacketMeta {
            ts: SimTime(ts_ms * 1_000_000),
            wire_len: 1514,
            cap_len: 1514,
            iface: 1,
            net: NetKind::Ipv4,
            ip_version: 4,
            l3_offset: 14,
            ip_len: 1500,
            ttl: 64,
            src: 0x0a00_0002,
            dst: 0xc633_6401,
            sport,
            dport: 443,
            l4proto: proto::TCP,
            tcp_flags: fl,
            flags: flags::L4_PRESENT,
            ..PacketMeta::default()
        }
    }

    fn key_of(p: &PacketMeta) -> HwKey {
        HwKey::from_meta(p).unwrap()
    }

    #[test]
    fn direct_insert_takes_effect_at_completion() {
        let mut nic = Nic::from_preset("connectx6dx").unwrap();
        let p = pkt(0, 1000, tcp_flags::ACK);
        let r = nic.rx(p.ts, &p);
        assert!(matches!(
            r.verdict,
            Verdict::Cpu {
                reason: PuntReason::Miss,
                ..
            }
        ));
        let action = HwAction {
            out_iface: 2,
            mtu: 1500,
        };
        let t = nic
            .submit(
                SimTime(1_000),
                Op::Insert {
                    cookie: 7,
                    key: key_of(&p),
                    action,
                },
            )
            .unwrap();
        // 50 us queue delay + 12.5 us service.
        let done = SimTime(1_000 + 50_000 + 12_500);
        assert_eq!(nic.next_event_time(), Some(done));
        // The lookup happens once the frame is in (124 ns at 100G for 1514 B): a frame that
        // is complete just before the insert completes misses.
        let p2 = PacketMeta {
            ts: SimTime(done.0 - 130),
            ..p
        };
        assert!(matches!(nic.rx(p2.ts, &p2).verdict, Verdict::Cpu { .. }));
        let p3 = PacketMeta { ts: done, ..p };
        let r = nic.rx(p3.ts, &p3);
        let Verdict::Hardware { depart, out_iface } = r.verdict else {
            panic!("{r:?}")
        };
        assert_eq!(out_iface, 2);
        // 1514 B: 1538 wire bytes = 123.04 ns at 100G in, engine 3.36 ns, 1.5 us latency, out.
        assert!(
            depart > r.rx_done && depart.0 - r.rx_done.0 < 2_000,
            "{r:?}"
        );
        let mut ev = vec![];
        nic.poll(done, &mut ev);
        assert_eq!(ev.len(), 1);
        let NicEvent::Completed(c) = ev[0] else {
            panic!()
        };
        assert_eq!((c.ticket, c.cookie, c.done, c.cpu_ns), (t, 7, done, 12_500));
        assert!(matches!(c.result, Ok(OpOutcome::Inserted(i)) if i.bound));
        // FIN goes to the CPU even with an entry.
        let f = pkt(1, 1000, tcp_flags::FIN | tcp_flags::ACK);
        assert!(matches!(
            nic.rx(f.ts, &f).verdict,
            Verdict::Cpu {
                reason: PuntReason::TcpFlags,
                ..
            }
        ));
        let s = nic.stats(SimTime(2_000_000));
        assert_eq!(s.table.hits, 1);
        assert_eq!(s.datapath.hw_packets, 1);
        assert_eq!(s.datapath.punts.total(), 3);
    }

    #[test]
    fn lazy_nic_binds_an_elephant_through_the_cpu_check() {
        let mut nic = Nic::from_preset("mt7621").unwrap();
        let p0 = pkt(0, 2000, tcp_flags::ACK);
        nic.submit(
            SimTime::ZERO,
            Op::Insert {
                cookie: 1,
                key: key_of(&p0),
                action: HwAction {
                    out_iface: 0,
                    mtu: 0,
                },
            },
        )
        .unwrap();
        let mut hw_from = None;
        let mut checks = 0;
        for i in 0..200u64 {
            // 100 packets/s.
            let p = pkt(i * 10, 2000, tcp_flags::ACK);
            let r = nic.rx(p.ts, &p);
            match r.verdict {
                Verdict::Hardware { .. } => {
                    hw_from.get_or_insert(i);
                }
                Verdict::Cpu {
                    reason: PuntReason::BindCheck,
                    bind_check: Some(bc),
                } => {
                    checks += 1;
                    // The CPU handles it 30 us later.
                    let o = nic.bind_check(SimTime(r.rx_done.0 + 30_000), bc);
                    assert!(matches!(o, BindOutcome::Bound { cookie: 1 }), "{o:?}");
                }
                Verdict::Cpu { .. } => assert!(hw_from.is_none()),
                Verdict::Dropped { .. } => panic!(),
            }
        }
        assert_eq!(checks, 1);
        assert_eq!(hw_from, Some(30));
        let mut ev = vec![];
        nic.poll(SimTime(3_000_000_000), &mut ev);
        assert!(
            matches!(ev[0], NicEvent::Completed(c) if matches!(c.result, Ok(OpOutcome::Inserted(i)) if !i.bound))
        );
        // Idle for 7 s: the TCP entry ages and the event names the cookie.
        nic.poll(SimTime(9_000_000_000), &mut ev);
        assert!(
            ev.iter()
                .any(|e| matches!(e, NicEvent::Aged { cookie: 1, .. })),
            "{ev:?}"
        );
    }

    #[test]
    fn next_event_time_is_none_when_idle() {
        let mut nic = Nic::from_preset("mt7986").unwrap();
        assert_eq!(nic.next_event_time(), None);
        let p = pkt(0, 1, tcp_flags::ACK);
        nic.rx(p.ts, &p); // creates an unbound entry: aging now pending
        assert!(nic.next_event_time().is_some());
        let mut ev = vec![];
        nic.poll(SimTime(10_000_000_000), &mut ev);
        assert_eq!(nic.table().occupancy(), 0);
        assert_eq!(nic.next_event_time(), None);
        assert!(ev.is_empty());
    }

    #[test]
    fn time_regressions_are_clamped_and_counted() {
        let mut nic = Nic::from_preset("smartnic").unwrap();
        let p = pkt(10, 1, tcp_flags::ACK);
        nic.rx(p.ts, &p);
        nic.rx(SimTime(5), &p);
        assert_eq!(nic.stats(SimTime(20_000_000)).datapath.time_regressions, 1);
    }

    #[test]
    fn cpu_tx_shares_the_egress_line() {
        let mut nic = Nic::from_preset("mt7621").unwrap();
        let p = pkt(0, 1, tcp_flags::ACK);
        let a = nic.tx(SimTime::ZERO, 3, &p).unwrap();
        let b = nic.tx(SimTime::ZERO, 3, &p).unwrap();
        assert_eq!(a, SimTime(12_304));
        assert_eq!(b, SimTime(24_608));
    }
}
