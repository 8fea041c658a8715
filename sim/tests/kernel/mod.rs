//! A kernel oracle: replays a trace through the real Linux nftables/conntrack in network
//! namespaces and reads back per-rule counters, for comparison with `offsim rules eval`.
//!
//! Single-sided topology ([`Sides::Single`], as in `../shared/oracle/kernel-replay.sh`,
//! rewritten here in Rust): every packet enters FW on the LAN interface.
//!
//! ```text
//! netns SRC                     netns FW (forwarding, ruleset)                 netns DST
//! [s0] ------veth------ [IIF]  no addresses; v4/v6 default routes  [OIF] ---veth--- [d0]
//! tcpreplay -i s0              via a PERMANENT neighbour on OIF                 netdev drop
//! ```
//!
//! Two-sided topology ([`Sides::Flow`] or [`Sides::Lan`]), as a router sees traffic: each
//! packet is put on the LAN or the WAN side by `offsim_kernel::sides::SideSplitter` (the very
//! classification offsim uses), so the reply direction of a flow enters FW on OIF. Both veth
//! peers live in SRC and one pinned tcpreplay sends both sides in trace order
//! (`tcpprep --mac=<s0>` builds the cache, `tcpreplay -i s0 -I d0 -c cache`). FW routes what
//! enters on OIF back out of IIF (`ip rule iif OIF lookup 200`, default route via a
//! PERMANENT neighbour on IIF) and has host routes via IIF for every LAN-side address: the
//! flowtable's reverse-route lookup for IPv6 ignores the input interface
//! (`ip6_route_output_flags_noref()` sets `flowi6_iif = LOOPBACK_IFINDEX`), so the route back
//! to a LAN host must follow from its address alone.
//!
//! ```text
//! netns SRC                           netns FW
//! [s0] ------veth------ [IIF]   LAN side in, replies out
//! [d0] ------veth------ [OIF]   WAN side in, LAN-side packets out
//! ```
//!
//! The trace is prepared first ([`prep_pcap`]): Ethernet framing with FW's MAC as destination,
//! VLAN/PPPoE stripped, non-IP dropped, snap-truncated packets zero-padded to their IP length,
//! IPv4 header checksums fixed, optionally retimed. Conntrack runs with
//! `nf_conntrack_checksum=0`, as offsim does by default. Rules without a counter get one
//! just before their first terminal statement (offsim's implicit counter); each base chain
//! gets an appended `counter` rule that measures its policy. Census counters count what
//! enters FW on each interface, what reaches prerouting, and (netdev sinks on s0 and d0)
//! what FW sends out of each side. Needs root, `ip`, `nft` and `tcpreplay` (and `tcpprep`
//! for two-sided replay); callers skip when [`available`] says no. [`vm`] runs the same
//! harness inside a Debian 6.1 VM, whose kernel has `nf_flow_table`.

#![allow(dead_code)]

mod counters;
pub mod nat;
mod pcap;
mod router;
pub mod traffic;
pub mod vm;

pub use pcap::*;
pub use router::*;

use std::cell::Cell;
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use offsim_kernel::sides::{Prefix, Side, SideSplitter};
use offsim_traces::meta::NetKind;
use offsim_traces::parse::{LinkType, parse_frame};
use offsim_traces::pcap::{PcapWriter, TraceReader};
use offsim_traces::time::SimTime;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// Which side of the router each packet enters on: `Single` (all on the LAN interface),
/// `Flow` (first packet of a flow on LAN, its reverse on WAN, ICMP errors opposite to the flow
/// they quote, new flows between known address pairs on that pair's side) or
/// `Lan(prefixes)` (source inside a prefix = LAN). The library type, so that offsim and the
/// oracle classify identically.
pub type Sides = offsim_kernel::sides::SideMode;
/// Why the oracle cannot run here, if it cannot.
pub fn available() -> Result<(), String> {
    let uid = Command::new("id")
        .arg("-u")
        .output()
        .map_err(|e| format!("id: {e}"))?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return Err("not root".into());
    }
    for tool in ["ip", "nft", "tcpreplay"] {
        let ok = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .stdout(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if !ok {
            return Err(format!("{tool} not installed"));
        }
    }
    // Network namespaces must be creatable (containers may forbid it).
    let ns = format!(
        "osim-probe-{}-{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::SeqCst)
    );
    let ok = run("ip", &["netns", "add", &ns]).is_ok();
    let _ = run("ip", &["netns", "del", &ns]);
    if !ok {
        return Err("cannot create network namespaces".into());
    }
    Ok(())
}

/// Conntrack sysctls for the router.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Sysctls {
    /// `nf_conntrack_tcp_loose`.
    pub tcp_loose: bool,
    /// `nf_conntrack_tcp_be_liberal`.
    pub tcp_be_liberal: bool,
    /// Extra `key=value` pairs under /proc/sys.
    pub extra: Vec<(String, String)>,
}

impl Sysctls {
    /// The conntrack timeouts these sysctls give (kernel defaults, with the
    /// `net/netfilter/nf_conntrack_*_timeout*` keys of `extra` applied): what offsim is told.
    pub fn timeouts(&self) -> offsim_kernel::conntrack::CtTimeouts {
        let mut t = offsim_kernel::conntrack::CtTimeouts::kernel();
        for (k, v) in &self.extra {
            let Some(name) = k.strip_prefix("net/netfilter/nf_conntrack_") else {
                continue;
            };
            let Ok(v) = v.parse::<u32>() else { continue };
            match name {
                "udp_timeout" => t.udp_unreplied = v,
                "udp_timeout_stream" => t.udp_replied = v,
                "icmp_timeout" | "icmpv6_timeout" => t.icmp = v,
                "generic_timeout" => t.generic = v,
                "tcp_timeout_established" => t.tcp[3] = v,
                _ => {}
            }
        }
        t
    }

    /// `nf_flowtable_udp_timeout` (= the TCP one in offsim), if set.
    pub fn flowtable_timeout(&self) -> Option<u32> {
        self.extra
            .iter()
            .find(|(k, _)| k == "net/netfilter/nf_flowtable_udp_timeout")
            .and_then(|(_, v)| v.parse().ok())
    }
}

impl Default for Sysctls {
    fn default() -> Self {
        Sysctls {
            tcp_loose: true,
            tcp_be_liberal: false,
            extra: Vec::new(),
        }
    }
}

/// Per-rule counters as `offsim rules eval --json` prints them.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RuleCount {
    /// family.
    pub family: String,
    /// table.
    pub table: String,
    /// chain.
    pub chain: String,
    /// 0-based index in the chain.
    pub index: usize,
    /// First counter's packets.
    pub packets: u64,
    /// First counter's bytes.
    pub bytes: u64,
    /// Every counter statement of the rule in order, anonymous and named (a named one reads
    /// the named counter object), as (packets, bytes). A rule such as
    /// `counter flow add @ft counter` has two: packets evaluated, and flowtable entries added.
    pub counters: Vec<(u64, u64)>,
}

/// Per-base-chain policy counters.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PolicyCount {
    /// family.
    pub family: String,
    /// table.
    pub table: String,
    /// chain.
    pub chain: String,
    /// Packets that got the policy.
    pub packets: u64,
    /// Their bytes.
    pub bytes: u64,
}

/// The oracle's result.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KernelResult {
    /// Rules, in ruleset order.
    pub rules: Vec<RuleCount>,
    /// Base chains.
    pub policies: Vec<PolicyCount>,
    /// Packets tcpreplay sent (both sides).
    pub sent: u64,
    /// Packets put on the LAN side (sent towards IIF).
    pub sent_lan: u64,
    /// Packets put on the WAN side (sent towards OIF; 0 when single-sided).
    pub sent_wan: u64,
    /// Packets counted at FW's ingress, both interfaces.
    pub ingress: u64,
    /// Of which on IIF.
    pub ingress_lan: u64,
    /// Of which on OIF.
    pub ingress_wan: u64,
    /// Packets that reached FW's prerouting hook (a census chain at priority INT_MIN). Frames
    /// forwarded by a flowtable never do.
    pub prerouting: u64,
    /// Packets FW sent itself (its OUTPUT hook: resets, ICMP errors, replies).
    #[serde(default)]
    pub router_sent: u64,
    /// Frames FW sent out of IIF (towards the LAN: forwarded replies).
    pub out_lan: u64,
    /// Frames FW sent out of OIF (towards the WAN).
    pub out_wan: u64,
    /// The kernel release the result comes from (`uname -r`).
    pub kernel: String,
}

impl KernelResult {
    /// Frames that entered FW but never reached prerouting: forwarded by a flowtable, or
    /// dropped by `ip_rcv`/`ipv6_rcv` or a netdev ingress chain.
    pub fn not_at_prerouting(&self) -> u64 {
        self.ingress.saturating_sub(self.prerouting)
    }

    /// The rule at `index` of `family table chain`.
    pub fn rule(&self, family: &str, table: &str, chain: &str, index: usize) -> Option<&RuleCount> {
        self.rules.iter().find(|r| {
            r.family == family && r.table == table && r.chain == chain && r.index == index
        })
    }
}

/// One oracle run: a ruleset and a trace, replayed through FW.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct OracleJob {
    /// The ruleset (`nft list ruleset` text or `nft -j` JSON).
    pub ruleset: String,
    /// The trace, in any format offsim reads.
    pub pcap: PathBuf,
    /// FW's LAN interface.
    pub iif: String,
    /// FW's WAN interface.
    pub oif: String,
    /// Which side each packet enters on.
    #[serde(with = "sides_serde")]
    pub sides: Sides,
    /// Conntrack sysctls.
    pub sysctls: Sysctls,
    /// tcpreplay pacing.
    pub speed: Speed,
    /// Retime the trace to this spacing (see [`prep_pcap`]); `None` keeps the capture's
    /// timestamps (with [`Speed::Realtime`], the timing the kernel sees).
    pub spacing_ns: Option<u64>,
    /// FW's MTU, addresses and extra routes.
    #[serde(default)]
    pub topology: Topology,
    /// The WAN side answers NATed connections with their post-NAT tuples, as FW's kernel
    /// sets them up ([`Router::learn_nat`]; two-sided only).
    #[serde(default)]
    pub nat: bool,
}

impl OracleJob {
    /// A job with the defaults: sysctls as offsim's, 20,000 packets/s, packets retimed
    /// 10 µs apart, veths with MTU 65535, offsim's default addresses.
    pub fn new(ruleset: &str, pcap: &Path, iif: &str, oif: &str, sides: Sides) -> OracleJob {
        OracleJob {
            ruleset: ruleset.to_string(),
            pcap: pcap.to_path_buf(),
            iif: iif.to_string(),
            oif: oif.to_string(),
            sides,
            sysctls: Sysctls::default(),
            speed: Speed::Pps(20_000),
            spacing_ns: Some(10_000),
            topology: Topology::default(),
            nat: false,
        }
    }
}

/// Runs a job on the running kernel: prepares the trace, builds the router, replays and
/// reads the counters.
pub fn run_job(job: &OracleJob) -> Result<KernelResult, String> {
    let tmp = TempDir::new("job");
    let pcap = tmp.0.join("replay.pcap");
    prep_pcap(&job.pcap, &pcap, job.spacing_ns)?;
    let router = || {
        Router::build(
            &job.ruleset,
            &job.iif,
            &job.oif,
            &job.sysctls,
            job.sides.clone(),
            &job.topology,
        )
    };
    let mut r = router()?;
    if job.nat {
        let map = r.learn_nat(&pcap, job.speed)?;
        drop(r);
        r = router()?;
        r.set_wan_map(map);
    }
    r.replay_at(&pcap, job.speed)?;
    r.counters()
}

/// A scratch directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// A fresh directory under the system temp dir.
    pub fn new(tag: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!(
            "offsim-{tag}-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&p).expect("temp dir");
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Renders a side-by-side table of differing counters for assertion messages.
pub fn diff_table(kernel: &[RuleCount], sim: &[RuleCount]) -> String {
    let mut s = String::new();
    for (k, o) in kernel.iter().zip(sim.iter()) {
        if k != o {
            let _ = writeln!(
                s,
                "{} {} {} #{}: kernel {}/{} offsim {}/{}",
                k.family, k.table, k.chain, k.index, k.packets, k.bytes, o.packets, o.bytes
            );
        }
    }
    if kernel.len() != sim.len() {
        let _ = writeln!(
            s,
            "rule count: kernel {} offsim {}",
            kernel.len(),
            sim.len()
        );
    }
    s
}

/// offsim's counters for a job, on the same prepared trace the kernel replays.
pub fn offsim_counters(
    job: &OracleJob,
    kernel_flavour: offsim_kernel::flowtable::KernelFlavour,
) -> KernelResult {
    let tmp = TempDir::new("sim");
    let pcap = tmp.0.join("replay.pcap");
    prep_pcap(&job.pcap, &pcap, job.spacing_ns).unwrap();
    let rs = offsim_nft::Ruleset::from_str(
        &job.ruleset,
        "job.nft",
        &offsim_kernel::datapath::load_options(&job.iif, &job.oif),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let mut fib = offsim_kernel::fib::FibSpec {
        mtu: job.topology.mtu,
        dev_mtu: job.topology.dev_mtu.clone(),
        ..offsim_kernel::fib::FibSpec::default()
    };
    for a in &job.topology.addrs {
        fib.addrs
            .push(offsim_kernel::fib::AddrSpec::parse(a).expect("topology address"));
    }
    for r in &job.topology.routes {
        fib.routes
            .push(offsim_kernel::fib::RouteSpec::parse(r).expect("topology route"));
    }
    if job.sides != Sides::Single {
        fib.lan_hosts = offsim::ruleseval::lan_only_addresses(
            &mut offsim_traces::stream::PacketStream::open(&pcap).unwrap(),
            &job.sides,
        )
        .unwrap();
    }
    let opts = offsim::ruleseval::EvalOptions {
        iif: job.iif.clone(),
        oif: job.oif.clone(),
        sides: job.sides.clone(),
        kernel: kernel_flavour,
        ct: offsim_kernel::conntrack::CtConfig {
            tcp_loose: job.sysctls.tcp_loose,
            tcp_be_liberal: job.sysctls.tcp_be_liberal,
            timeouts: job.sysctls.timeouts(),
            ..offsim_kernel::conntrack::CtConfig::default()
        },
        fib,
        retime: match job.speed {
            Speed::TopSpeed => offsim::ruleseval::Retime::TopSpeed,
            _ => offsim::ruleseval::Retime::Recorded,
        },
        ft_timeout_s: job.sysctls.flowtable_timeout().unwrap_or(30),
        ..offsim::ruleseval::EvalOptions::default()
    };
    let r = offsim::ruleseval::eval_trace(
        rs,
        &mut offsim_traces::stream::PacketStream::open(&pcap).unwrap(),
        &opts,
    )
    .unwrap();
    KernelResult {
        rules: r
            .rules
            .iter()
            .map(|x| RuleCount {
                family: x.family.clone(),
                table: x.table.clone(),
                chain: x.chain.clone(),
                index: x.index,
                packets: x.packets,
                bytes: x.bytes,
                counters: x.counters.iter().map(|c| (c.packets, c.bytes)).collect(),
            })
            .collect(),
        policies: r
            .chains
            .iter()
            .map(|c| PolicyCount {
                family: c.family.clone(),
                table: c.table.clone(),
                chain: c.chain.clone(),
                packets: c.policy_packets,
                bytes: c.policy_bytes,
            })
            .collect(),
        router_sent: r.summary.router_sent.values().sum(),
        prerouting: r.summary.packets - r.summary.forwarded_flowtable,
        ..KernelResult::default()
    }
}
