//! `offsim rules eval`: replay a trace through a ruleset as forwarded traffic and report the
//! per-rule counters the kernel would show.
//!
//! The router forwards between `--iif` (LAN) and `--oif` (WAN) as its FIB routes
//! ([`offsim_kernel::fib`]: the side mode's routes, `--route`, one address per device or
//! `--addr`, `--mtu`), delivers what is addressed to it locally (INPUT, and its own answers
//! through OUTPUT and POSTROUTING), and NATs as `offsim run` does. A capture is taken as
//! recorded on the LAN side: a packet arriving on the WAN side of a masqueraded connection is
//! what the WAN peer sends, to the router's address ([`Datapath::wan_view_into`]). Timestamps are
//! used as recorded, or retimed ([`Retime`]). Flowtables work in software (`flags offload`
//! is treated as software: there is no NIC here), so offloaded packets skip the inet hooks. Counter semantics are those of
//! [`offsim_nft`]: bytes are L3 bytes; a rule without a counter counts as if one stood just
//! before its verdict; `counters` lists every counter statement (anonymous ones in order, then
//! named counters); policy counters count packets that fall off the end of a base chain.
//!
//! Each rule also gets its CPU cost on the chosen CPU preset (`--cpu`, default
//! `x86-server`): how often it was entered and the cycles of the kernel expressions it ran
//! ([`crate::cpu::CpuConfig::eval_cycles`]), and the summary gives the ruleset's cycles per
//! packet (hooks, chains and rules: the report's `rules` stage).

use std::collections::BTreeMap;
use std::io::Read;

use offsim_traces::meta::PacketMeta;

use offsim_traces::pcap::TraceError;
use offsim_traces::stream::PacketStream;
use serde::Serialize;

use offsim_kernel::Path;
use offsim_kernel::conntrack::CtConfig;
use offsim_kernel::datapath::{Datapath, DpConfig, Fate, FlowtableMode, LAN_IFINDEX, WAN_IFINDEX};
use offsim_kernel::dups::DupFinder;
use offsim_kernel::fib::{Fib, FibError, FibSpec};
use offsim_kernel::flows::FlowBook;
use offsim_kernel::flowtable::KernelFlavour;
use offsim_kernel::sides::{SideMode, SideSplitter, WanHint};
use offsim_nft::Ruleset;

use crate::cpu::{CpuConfig, EvalWork};

/// Options of `rules eval`.
#[derive(Clone, Debug)]
pub struct EvalOptions {
    /// LAN interface name.
    pub iif: String,
    /// WAN interface name.
    pub oif: String,
    /// Side assignment.
    pub sides: SideMode,
    /// Kernel flavour (flowtable semantics).
    pub kernel: KernelFlavour,
    /// Conntrack sysctls.
    pub ct: CtConfig,
    /// The router's MTU, addresses and routes (and, two-sided, the LAN hosts it routes
    /// back to the LAN: [`lan_only_addresses`]).
    pub fib: FibSpec,
    /// Packet timing.
    pub retime: Retime,
    /// `nf_flowtable_tcp_timeout` and `nf_flowtable_udp_timeout`, seconds.
    pub ft_timeout_s: u32,
    /// CPU preset whose cycle costs price the rules.
    pub cpu: CpuConfig,
}

impl Default for EvalOptions {
    fn default() -> Self {
        EvalOptions {
            iif: "lan0".into(),
            oif: "wan0".into(),
            sides: SideMode::Single,
            kernel: KernelFlavour::New,
            ct: CtConfig::default(),
            fib: FibSpec::default(),
            retime: Retime::Recorded,
            ft_timeout_s: 30,
            cpu: CpuConfig::preset("x86-server")
                .unwrap_or_else(|e| unreachable!("bundled preset: {e}")),
        }
    }
}

/// When packets arrive (`rules eval --retime`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Retime {
    /// At their capture timestamps: timeouts fire as they would have.
    Recorded,
    /// Back to back, as `tcpreplay --topspeed` sends them: no time passes (packet `k` at
    /// the first timestamp plus `k` ns), so no timeout fires.
    TopSpeed,
    /// Evenly paced at this rate, as `tcpreplay --pps` sends them.
    Pps(f64),
}

impl Retime {
    /// Parses `recorded`, `topspeed` or a packet rate.
    pub fn parse(s: &str) -> Result<Retime, String> {
        match s {
            "recorded" => Ok(Retime::Recorded),
            "topspeed" => Ok(Retime::TopSpeed),
            _ => match s.parse::<f64>() {
                Ok(p) if (1.0..=1e12).contains(&p) => Ok(Retime::Pps(p)),
                _ => Err(format!(
                    "`{s}`: expected recorded, topspeed or packets per second (1 to 1e12)"
                )),
            },
        }
    }

    /// The arrival time of packet `k` (0-based) whose capture time is `ts`, `first` being
    /// the first packet's.
    fn at(self, k: u64, ts: u64, first: u64) -> u64 {
        match self {
            Retime::Recorded => ts,
            Retime::TopSpeed => first.saturating_add(k),
            Retime::Pps(p) => first.saturating_add((k as f64 * 1e9 / p) as u64),
        }
    }
}

/// Why `rules eval` failed.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// The trace.
    #[error(transparent)]
    Trace(#[from] TraceError),
    /// The router's FIB.
    #[error(transparent)]
    Fib(#[from] FibError),
}

/// One counter value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CounterValue {
    /// Packets.
    pub packets: u64,
    /// Bytes.
    pub bytes: u64,
}

/// One rule's counters.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RuleRow {
    /// Family.
    pub family: String,
    /// Table.
    pub table: String,
    /// Chain.
    pub chain: String,
    /// 0-based position in the chain.
    pub index: usize,
    /// The rule's first counter (or the implicit one).
    pub packets: u64,
    /// Bytes of that counter.
    pub bytes: u64,
    /// Every counter statement of the rule.
    pub counters: Vec<CounterValue>,
    /// The rule as nft prints it.
    pub text: String,
    /// Packets that entered the rule (evaluated it, matching or not).
    pub evaluated: u64,
    /// Cycles its kernel expressions, set lookups and jumps cost over all those packets.
    pub cycles: f64,
}

/// One base chain's policy counter.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ChainRow {
    /// Family.
    pub family: String,
    /// Table.
    pub table: String,
    /// Chain.
    pub chain: String,
    /// Packets that got the policy (fell off the end).
    pub policy_packets: u64,
    /// Their bytes.
    pub policy_bytes: u64,
}

/// Where packets went.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct EvalSummary {
    /// Packets read.
    pub packets: u64,
    /// Forwarded by the slow path.
    pub forwarded_slow: u64,
    /// Forwarded by the software flowtable.
    pub forwarded_flowtable: u64,
    /// Delivered locally.
    pub local: u64,
    /// Fragments still held at the end.
    pub held: u64,
    /// Dropped, by cause.
    pub dropped: BTreeMap<String, u64>,
    /// Conntrack entries created and confirmed.
    pub conntrack_inserted: u64,
    /// Invalid packets (no conntrack entry).
    pub conntrack_invalid: u64,
    /// Flowtable entries created.
    pub flowtable_adds: u64,
    /// Packets the router sent itself (resets, ICMP errors, replies), by kind.
    pub router_sent: BTreeMap<String, u64>,
    /// Datagrams fragmented on output (IPv4 without DF over the MTU).
    pub fragmented: u64,
    /// The fragments they were sent as.
    pub fragments_out: u64,
    /// WAN-side packets of NATed connections taken as the WAN peer sends them.
    pub wan_rewritten: u64,
    /// The CPU preset that priced the rules.
    pub cpu: String,
    /// Mean cycles per packet of the ruleset: hooks, base chains and rules (the report's
    /// `rules` stage).
    pub rule_cycles_per_packet: f64,
}

/// The result of `rules eval`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EvalResult {
    /// Every rule.
    pub rules: Vec<RuleRow>,
    /// Every base chain.
    pub chains: Vec<ChainRow>,
    /// Where packets went.
    pub summary: EvalSummary,
    /// What the user should know about the inputs (devices the ruleset never names, a
    /// capture cut short, packets seen twice, a capture taken after NAT).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// Replays `stream` through `rs` (loaded with [`offsim_kernel::datapath::load_options`] for
/// the same interface names) on the router `o` describes.
pub fn eval_trace<R: Read>(
    rs: Ruleset,
    stream: &mut PacketStream<R>,
    o: &EvalOptions,
) -> Result<EvalResult, EvalError> {
    let mut r = eval_with(rs, o, &mut |m| stream.next_into(m))?;
    if let Some(e) = stream.cut_short() {
        r.warnings.insert(0, e.cut_short_warning());
    }
    Ok(r)
}

/// Like [`eval_trace`], on packets already in memory.
pub fn eval_packets(
    rs: Ruleset,
    packets: &[PacketMeta],
    o: &EvalOptions,
) -> Result<EvalResult, EvalError> {
    let mut it = packets.iter();
    eval_with(rs, o, &mut |m| Ok(it.next().map(|p| *m = *p).is_some()))
}

/// Answers the flowtables' hardware requests as a router without a NIC that offloads: every
/// add is refused at once (`no_nic`), deletions and statistics come back empty.
fn refuse_hw_requests(
    dp: &mut Datapath,
    hw: &mut Vec<(usize, offsim_kernel::flowtable::HwRequest)>,
    now: offsim_traces::SimTime,
) {
    use offsim_kernel::flowtable::HwRequest;
    hw.clear();
    dp.drain_hw_requests(hw);
    for (ft, r) in hw.drain(..) {
        match r {
            HwRequest::Add(id) => dp.hw_add_done(ft, id, false, Some("no_nic"), now),
            HwRequest::Del(id) => dp.hw_del_done(ft, id),
            HwRequest::Stats(id) => dp.hw_stats_done(ft, id, None, [0, 0], [0, 0]),
        }
    }
}

/// The replay: packets from `next`, which decodes one into its argument (see
/// `offsim_traces::parse::parse_frame_into`), until it gives `false`.
fn eval_with(
    rs: Ruleset,
    o: &EvalOptions,
    next: &mut dyn FnMut(&mut PacketMeta) -> Result<bool, TraceError>,
) -> Result<EvalResult, EvalError> {
    let fib = Fib::build(
        &o.fib,
        (&o.iif, LAN_IFINDEX),
        (&o.oif, WAN_IFINDEX),
        &o.sides,
    )?;
    let cfg = DpConfig {
        lan: o.iif.clone(),
        wan: o.oif.clone(),
        flavour: o.kernel,
        ct: o.ct.clone(),
        fib,
        ft_timeout_s: o.ft_timeout_s,
        flowtables: FlowtableMode::Software,
        ..DpConfig::default()
    };
    let mut dp = Datapath::new(rs, cfg, FlowBook::new(true, false, None));
    dp.track_rule_costs();
    let mut rule_cycles = 0.0;
    let mut sides = SideSplitter::new(o.sides.clone()).remembering_all();
    let mut s = EvalSummary::default();
    let mut hw = Vec::new();
    let mut next_timer = offsim_traces::SimTime(0);
    let iface_mode = matches!(o.sides, SideMode::Iface(_));
    // Outside `iface` mode a capture on two interfaces counts forwarded packets twice:
    // detected here only, for the warning.
    let mut detect = (!iface_mode).then(DupFinder::new);
    // Copies found by `detect` (kept when the search stops early having found none).
    let mut twice = 0u64;
    let mut ip_packets = 0u64;
    // Sides guessed from the traffic (not named by prefix or interface): warn when the
    // capture looks taken on the WAN link.
    let guessed = matches!(o.sides, SideMode::Flow | SideMode::Single);
    let mut hint = WanHint::default();
    let mut first = None;
    // Drops by cause, named once at the end (a name is a `String`).
    let mut drops: Vec<(offsim_kernel::datapath::DropCause, u64)> = Vec::new();
    // Decoded one ahead: the next packet's side split and conntrack lines are asked for
    // while this one is handled (a SYN flood's every packet misses both). A capture that
    // fails one packet further fails the same: nothing is written before the end.
    let mut buf = [PacketMeta::default(), PacketMeta::default()];
    let mut more = next(&mut buf[0])?;
    let mut cur = 0;
    while more {
        more = next(&mut buf[cur ^ 1])?;
        if more {
            sides.prefetch(&buf[cur ^ 1]);
            dp.conntrack().prefetch(&buf[cur ^ 1]);
        }
        let m = &mut buf[cur];
        cur ^= 1;
        let first_ts = *first.get_or_insert(m.ts.0);
        m.ts = offsim_traces::SimTime(o.retime.at(s.packets, m.ts.0, first_ts));
        let now = m.ts;
        ip_packets += u64::from(m.is_ip());
        if let Some(d) = &mut detect {
            d.check(m);
            twice = d.forwarded + d.arrived_late;
            if twice == 0 && ip_packets >= offsim_kernel::dups::SEARCH_PACKETS {
                detect = None;
            }
        }
        let Some(side) = sides.arrival(m, now) else {
            continue;
        };
        if guessed {
            hint.note(m, side);
        }
        s.packets += 1;
        if now >= next_timer {
            next_timer = dp.timers(now).1;
        }
        let out = dp.process(now, m, side);
        rule_cycles += o.cpu.rules_cycles(&out.drivers);
        refuse_hw_requests(&mut dp, &mut hw, now);
        match out.fate {
            Fate::Forwarded(_) => {
                if out.path == Path::SwFast {
                    s.forwarded_flowtable += 1;
                } else {
                    s.forwarded_slow += 1;
                }
            }
            Fate::Local => s.local += 1,
            Fate::Held => {}
            Fate::Dropped(c) => match drops.iter_mut().find(|(k, _)| *k == c) {
                Some((_, n)) => *n += 1,
                None => drops.push((c, 1)),
            },
        }
    }
    for (c, n) in drops {
        *s.dropped.entry(c.name()).or_insert(0) += n;
    }
    s.held = s.packets
        - s.forwarded_slow
        - s.forwarded_flowtable
        - s.local
        - s.dropped.values().sum::<u64>();
    dp.finish();
    s.conntrack_inserted = dp.conntrack().stats.inserted;
    s.conntrack_invalid = dp.conntrack().stats.invalid;
    let st = dp.stats();
    s.flowtable_adds = st.flowtable_adds;
    s.router_sent = st.sent.iter().map(|(k, v)| (k.to_string(), *v)).collect();
    s.fragmented = st.fragmented;
    s.fragments_out = st.fragments_out;
    s.wan_rewritten = st.wan_rewritten;
    s.cpu = o.cpu.name.clone();
    s.rule_cycles_per_packet = if s.packets == 0 {
        0.0
    } else {
        rule_cycles / s.packets as f64
    };
    let mut r = collect(&dp, s, &o.cpu);
    let (skipped, late) = if iface_mode {
        sides.copies()
    } else {
        (0, twice)
    };
    r.warnings
        .extend(copy_warnings(skipped, late, ip_packets, sides.unmapped));
    r.warnings.extend(hint.warning());
    Ok(r)
}

/// Warnings about packets captured twice: `skipped` forwarded copies counted once (`iface`
/// mode), `twice` packets that look captured twice and were counted twice, of `ip` IP
/// packets; `unmapped` packets on an interface the `iface` map does not name.
pub fn copy_warnings(skipped: u64, twice: u64, ip: u64, unmapped: u64) -> Vec<String> {
    let mut w = Vec::new();
    if skipped > 0 {
        w.push(format!(
            "{skipped} packets were captured twice, as they arrived and as the router sent them on (one hop later): each was counted once, as it arrived"
        ));
    }
    // A few chance look-alikes (same length, identification and a TTL one apart) are not a
    // capture on two interfaces.
    if twice >= 10 && twice * 100 >= ip {
        w.push(format!(
            "the capture looks double-counted: {twice} of its {ip} IP packets appear twice, as they arrived and one hop later (a capture on two interfaces, or before and after NAT), and were counted twice; map a pcapng's interfaces with --sides iface=ID:lan,ID:wan (scenario key ruleset.sides) to count each once"
        ));
    }
    if unmapped > 0 {
        w.push(format!(
            "{unmapped} packets were captured on interfaces that sides iface= does not map: taken as arriving on the LAN side"
        ));
    }
    w
}

fn collect(dp: &Datapath, summary: EvalSummary, cpu: &CpuConfig) -> EvalResult {
    let (rules, chains) = counters(dp, Some(cpu));
    EvalResult {
        rules,
        chains,
        summary,
        warnings: Vec::new(),
    }
}

/// Every rule's counters and every base chain's policy counter, as the kernel would show
/// them (the one place that reads them out of a datapath: `rules eval` and `run` reports).
/// Rules are priced on `cpu` when given and the datapath tracked their costs
/// ([`Datapath::track_rule_costs`]; otherwise `evaluated` and `cycles` are 0).
pub fn counters(dp: &Datapath, cpu: Option<&CpuConfig>) -> (Vec<RuleRow>, Vec<ChainRow>) {
    let rs = dp.ruleset();
    let st = dp.rule_state();
    let costs = st.rule_costs(rs);
    let mut rules = Vec::new();
    for r in rs.rules() {
        let c = &rs.chains()[r.chain as usize];
        let mut counters: Vec<CounterValue> = r
            .counter_slots
            .clone()
            .map(|i| CounterValue {
                packets: st.counters[i].packets,
                bytes: st.counters[i].bytes,
            })
            .collect();
        counters.extend(r.named_counters.iter().map(|&o| CounterValue {
            packets: st.named[o].packets,
            bytes: st.named[o].bytes,
        }));
        let first = if r.has_counter() {
            counters[0]
        } else if let Some(n) = counters.first() {
            *n
        } else {
            let v = rs.rule_counter(st, r.id);
            CounterValue {
                packets: v.packets,
                bytes: v.bytes,
            }
        };
        let cost = costs.as_ref().map(|c| c[r.id]).unwrap_or_default();
        rules.push(RuleRow {
            family: c.family.to_string(),
            table: c.table_name.clone(),
            chain: c.name.clone(),
            index: r.index,
            packets: first.packets,
            bytes: first.bytes,
            counters,
            text: r.text.clone(),
            evaluated: cost.rules,
            cycles: cpu.map_or(0.0, |c| c.eval_cycles(&EvalWork::from(&cost))),
        });
    }
    let chains = rs
        .chains()
        .iter()
        .filter(|c| c.is_base())
        .map(|c| ChainRow {
            family: c.family.to_string(),
            table: c.table_name.clone(),
            chain: c.name.clone(),
            policy_packets: st.policy[c.id as usize].fallthrough.packets,
            policy_bytes: st.policy[c.id as usize].fallthrough.bytes,
        })
        .collect();
    (rules, chains)
}

/// Renders the counters as text: one block per chain.
pub fn render_text(r: &EvalResult) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let mut last = (String::new(), String::new(), String::new());
    for row in &r.rules {
        let key = (row.family.clone(), row.table.clone(), row.chain.clone());
        if key != last {
            let _ = writeln!(s, "{} {} {}:", row.family, row.table, row.chain);
            if let Some(c) = r
                .chains
                .iter()
                .find(|c| c.family == row.family && c.table == row.table && c.chain == row.chain)
            {
                let _ = writeln!(
                    s,
                    "  policy: {} packets, {} bytes",
                    c.policy_packets, c.policy_bytes
                );
            }
            last = key;
        }
        let per_pkt = if r.summary.packets == 0 {
            0.0
        } else {
            row.cycles / r.summary.packets as f64
        };
        let _ = writeln!(
            s,
            "  [{:>3}] {:>10} pkts {:>12} bytes {:>8.1} cyc/pkt  {}",
            row.index, row.packets, row.bytes, per_pkt, row.text
        );
    }
    let m = &r.summary;
    let _ = writeln!(
        s,
        "packets {}: forwarded {} (slow {}, flowtable {}), local {}, held {}, dropped {}",
        m.packets,
        m.forwarded_slow + m.forwarded_flowtable,
        m.forwarded_slow,
        m.forwarded_flowtable,
        m.local,
        m.held,
        m.dropped.values().sum::<u64>()
    );
    for (k, v) in &m.dropped {
        let _ = writeln!(s, "  dropped {k}: {v}");
    }
    if m.fragmented > 0 {
        let _ = writeln!(
            s,
            "  fragmented {} datagrams into {} fragments",
            m.fragmented, m.fragments_out
        );
    }
    for (k, v) in &m.router_sent {
        let _ = writeln!(s, "  router sent {k}: {v}");
    }
    let _ = writeln!(
        s,
        "ruleset: {:.1} cycles per packet on {} (hooks, chains, rules)",
        m.rule_cycles_per_packet, m.cpu
    );
    for w in &r.warnings {
        let _ = writeln!(s, "warning: {w}");
    }
    s
}

/// The addresses that only ever appear on the LAN side of a two-sided replay (sources of
/// LAN-side packets and destinations of WAN-side ones, minus any seen on the WAN side; only
/// [`routable`](offsim_kernel::fib::routable) ones): the router has host routes for them via
/// the LAN interface, as the two-sided kernel oracle sets up (split-dirs.py `--routes`).
pub fn lan_only_addresses<R: Read>(
    stream: &mut PacketStream<R>,
    sides: &SideMode,
) -> Result<Vec<(u8, u128)>, TraceError> {
    use offsim_kernel::sides::Side;
    use offsim_traces::hash::FxHashSet;
    let mut sp = SideSplitter::new(sides.clone()).remembering_all();
    let mut lan: FxHashSet<(u8, u128)> = FxHashSet::default();
    let mut wan: FxHashSet<(u8, u128)> = FxHashSet::default();
    while let Some(m) = stream.next_packet()? {
        if !m.is_ip() {
            continue;
        }
        let v = m.ip_version;
        match sp.arrival(&m, m.ts) {
            None => {}
            Some(Side::Lan) => {
                lan.insert((v, m.src));
                wan.insert((v, m.dst));
            }
            Some(Side::Wan) => {
                wan.insert((v, m.src));
                lan.insert((v, m.dst));
            }
        }
    }
    let mut v: Vec<(u8, u128)> = lan
        .difference(&wan)
        .copied()
        .filter(|&(v, a)| offsim_kernel::fib::routable(v, a))
        .collect();
    v.sort_unstable();
    Ok(v)
}
