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

pub mod vm;

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

const POLICY_TAG: &str = "__offsim_policy__";
const MAC_IN: &str = "02:6f:66:00:00:01";
const MAC_OUT: &str = "02:6f:66:00:00:02";
const MAC_S0: &str = "02:6f:66:00:00:10";
const MAC_D0: &str = "02:6f:66:00:00:20";
/// Next hops of FW: towards DST/WAN (OIF) and, two-sided, back towards the LAN (IIF). Their
/// MACs are pinned by PERMANENT neighbour entries, so FW never needs ARP or ND.
const GW4_WAN: &str = "169.254.255.2";
const GW6_WAN: &str = "fe80::6b72:2";
const GW4_LAN: &str = "169.254.255.1";
const GW6_LAN: &str = "fe80::6b72:1";
/// Routing table for packets that enter on OIF (two-sided).
const REPLY_TABLE: &str = "200";
const CENSUS_PRIO: &str = "-2147483648";

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

fn run(cmd: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .map_err(|e| format!("{cmd}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{cmd} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn run_stdin(cmd: &str, args: &[&str], input: &str) -> Result<String, String> {
    use std::io::Write;
    let mut child = Command::new(cmd)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{cmd}: {e}"))?;
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .map_err(|e| e.to_string())?;
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!(
            "{cmd} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// One namespace, deleted on drop.
struct Netns(String);

impl Netns {
    fn new(name: String) -> Result<Netns, String> {
        run("ip", &["netns", "add", &name])?;
        Ok(Netns(name))
    }
    fn exec(&self, args: &[&str]) -> Result<String, String> {
        let mut a = vec!["netns", "exec", &self.0];
        a.extend_from_slice(args);
        run("ip", &a)
    }
    fn exec_stdin(&self, args: &[&str], input: &str) -> Result<String, String> {
        let mut a = vec!["netns", "exec", &self.0];
        a.extend_from_slice(args);
        run_stdin("ip", &a, input)
    }
    /// Sets sysctls (`key` relative to /proc/sys) in one shell, stopping at the first error.
    /// One process instead of one per key: process creation dominates under qemu TCG.
    fn sysctls(&self, kv: &[(String, String)]) -> Result<(), String> {
        let mut script = String::from("set -e\n");
        for (k, v) in kv {
            let _ = writeln!(script, "printf %s '{v}' > '/proc/sys/{k}'");
        }
        self.exec(&["sh", "-c", &script])?;
        Ok(())
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = run("ip", &["netns", "del", &self.0]);
    }
}

/// Runs `ip -n <ns> args…`.
fn ipn(ns: &Netns, args: &[&str]) -> Result<String, String> {
    let mut a = vec!["-n", &ns.0];
    a.extend_from_slice(args);
    run("ip", &a)
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

static SEQ: AtomicU32 = AtomicU32::new(0);

#[derive(Clone, Copy, Debug, Default)]
struct ReplayStats {
    sent: u64,
    lan: u64,
    wan: u64,
}

/// A router namespace triple with the ruleset loaded.
pub struct Router {
    src: Netns,
    fw: Netns,
    /// DST (single-sided only; two-sided, both peers live in SRC).
    dst: Option<Netns>,
    iif: String,
    oif: String,
    sides: Sides,
    stats: Cell<ReplayStats>,
}

fn has_key(v: &Value, k: &str) -> bool {
    v.as_object().is_some_and(|o| o.contains_key(k))
}

const TERMINAL: &[&str] = &[
    "accept",
    "drop",
    "reject",
    "jump",
    "goto",
    "return",
    "queue",
    "continue",
    "snat",
    "dnat",
    "masquerade",
    "redirect",
    "vmap",
    "tproxy",
    "synproxy",
    "fwd",
];

/// `replace rule` commands that add a counter before the first terminal statement of every
/// rule without one (`None` when every rule has a counter). Rules are replaced in place by
/// handle, so nothing else of the ruleset (flowtables, sets, objects) takes a round trip
/// through nft's JSON.
fn add_counters(dump: &Value) -> Option<Value> {
    let mut cmds = Vec::new();
    for o in dump["nftables"].as_array().into_iter().flatten() {
        let Some(r) = o.get("rule") else { continue };
        let Some(expr) = r["expr"].as_array() else {
            continue;
        };
        if expr.iter().any(|e| has_key(e, "counter")) {
            continue;
        }
        let mut r = r.clone();
        let expr = r["expr"].as_array_mut().expect("rule expr");
        let at = expr
            .iter()
            .position(|e| TERMINAL.iter().any(|k| has_key(e, k)))
            .unwrap_or(expr.len());
        expr.insert(at, json!({"counter": {"packets": 0, "bytes": 0}}));
        cmds.push(json!({"replace": {"rule": r}}));
    }
    (!cmds.is_empty()).then(|| json!({ "nftables": cmds }))
}

/// A ruleset text (declarative blocks, one rule per line) with `counter` added to every rule
/// line that has none.
fn text_with_counters(text: &str) -> String {
    let mut out = String::new();
    let mut stack: Vec<bool> = Vec::new(); // per open block: is it a chain body?
    for line in text.lines() {
        let t = line.trim();
        let in_chain = stack.last().copied().unwrap_or(false);
        let is_rule = in_chain
            && !t.is_empty()
            && !t.starts_with('#')
            && !t.starts_with('}')
            && !t.starts_with("type ")
            && !t.starts_with("policy ")
            && !t.starts_with("comment ")
            && !t.starts_with("devices ")
            && !t.contains(" counter")
            && !t.starts_with("counter");
        if is_rule {
            let body = t.trim_end_matches(';');
            out.push_str(&line[..line.len() - line.trim_start().len()]);
            out.push_str(&counted_text(body));
            out.push('\n');
        } else {
            out.push_str(line);
            out.push('\n');
        }
        for c in t.chars() {
            match c {
                '{' => stack.push(t.starts_with("chain ")),
                '}' => {
                    stack.pop();
                }
                _ => {}
            }
        }
    }
    out
}

/// A rule's text with `counter` inserted before its first verdict statement (outside braces and
/// quotes), or appended.
fn counted_text(rule: &str) -> String {
    const VERDICTS: &[&str] = &[
        "accept",
        "drop",
        "reject",
        "jump",
        "goto",
        "return",
        "queue",
        "continue",
        "snat",
        "dnat",
        "masquerade",
        "redirect",
        "vmap",
    ];
    let b = rule.as_bytes();
    let (mut depth, mut quoted) = (0i32, false);
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'"' => quoted = !quoted,
            b'{' if !quoted => depth += 1,
            b'}' if !quoted => depth -= 1,
            _ if !quoted && depth == 0 && (i == 0 || b[i - 1] == b' ') => {
                let rest = &rule[i..];
                let mut words = rest.split(' ');
                let word = words.next().unwrap_or("");
                let next = words.next().unwrap_or("");
                let next2 = words.next().unwrap_or("");
                // `ct status dnat`, `icmp type redirect`: values, not statements.
                let statement = match word {
                    "snat" | "dnat" => {
                        next == "to" || ((next == "ip" || next == "ip6") && next2 == "to")
                    }
                    "redirect" => next.is_empty() || next == "to" || next == "comment",
                    _ => true,
                };
                if VERDICTS.contains(&word) && statement {
                    return format!("{}counter {}", &rule[..i], rest);
                }
            }
            _ => {}
        }
        i += 1;
    }
    format!("{rule} counter")
}

/// The first counter of a chain of `table` in a `nft -j list` dump, as (packets, bytes).
fn chain_counter(dump: &Value, table: &str, chain: &str) -> (u64, u64) {
    for o in dump["nftables"].as_array().into_iter().flatten() {
        let Some(r) = o.get("rule") else { continue };
        if r["table"] != table || r["chain"] != chain {
            continue;
        }
        for e in r["expr"].as_array().into_iter().flatten() {
            if let Some(Value::Object(c)) = e.get("counter") {
                return (
                    c["packets"].as_u64().unwrap_or(0),
                    c["bytes"].as_u64().unwrap_or(0),
                );
            }
        }
    }
    (0, 0)
}

fn list_json(ns: &Netns, what: &[&str]) -> Result<Value, String> {
    let mut a = vec!["nft", "-j", "list"];
    a.extend_from_slice(what);
    serde_json::from_str(&ns.exec(&a)?).map_err(|e| format!("nft -j list: {e}"))
}

impl Router {
    /// Builds the single-sided topology and loads `ruleset` (text or JSON) into FW.
    pub fn new(ruleset: &str, iif: &str, oif: &str, sys: &Sysctls) -> Result<Router, String> {
        Router::with_sides(ruleset, iif, oif, sys, Sides::Single)
    }

    /// Builds the topology for `sides` (see the module docs) and loads `ruleset` into FW.
    pub fn with_sides(
        ruleset: &str,
        iif: &str,
        oif: &str,
        sys: &Sysctls,
        sides: Sides,
    ) -> Result<Router, String> {
        let two = sides != Sides::Single;
        let id = format!(
            "{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::SeqCst)
        );
        let src = Netns::new(format!("osim-src-{id}"))?;
        let fw = Netns::new(format!("osim-fw-{id}"))?;
        let dst = if two {
            None
        } else {
            Some(Netns::new(format!("osim-dst-{id}"))?)
        };
        let wan_ns = dst.as_ref().unwrap_or(&src);
        let kv = |k: &str, v: &str| (k.to_string(), v.to_string());
        for ns in [Some(&src), dst.as_ref()].into_iter().flatten() {
            ns.sysctls(&[
                kv("net/ipv6/conf/all/disable_ipv6", "1"),
                kv("net/ipv6/conf/default/disable_ipv6", "1"),
            ])?;
        }
        // Before the interfaces exist, so that `default` applies to them.
        let mut early = Vec::new();
        for k in ["all", "default"] {
            early.push(kv(&format!("net/ipv6/conf/{k}/addr_gen_mode"), "1"));
            early.push(kv(&format!("net/ipv6/conf/{k}/accept_ra"), "0"));
            early.push(kv(&format!("net/ipv6/conf/{k}/autoconf"), "0"));
            early.push(kv(&format!("net/ipv6/conf/{k}/accept_dad"), "0"));
            early.push(kv(&format!("net/ipv6/conf/{k}/router_solicitations"), "0"));
            early.push(kv(&format!("net/ipv4/conf/{k}/rp_filter"), "0"));
            early.push(kv(&format!("net/ipv4/conf/{k}/accept_local"), "1"));
            early.push(kv(&format!("net/ipv4/conf/{k}/send_redirects"), "0"));
        }
        fw.sysctls(&early)?;
        // FW's interfaces, addressing and routes, as one `ip -batch`.
        let mut b = String::new();
        #[rustfmt::skip]
        let _ = writeln!(b, "link add {iif} address {MAC_IN} type veth peer name s0 netns {} address {MAC_S0}", src.0);
        #[rustfmt::skip]
        let _ = writeln!(b, "link add {oif} address {MAC_OUT} type veth peer name d0 netns {} address {MAC_D0}", wan_ns.0);
        // No multicast: with forwarding on, the kernel would join ff02::2 and send MLD
        // reports of its own.
        let _ = writeln!(b, "link set {iif} multicast off");
        let _ = writeln!(b, "link set {oif} multicast off");
        let _ = writeln!(b, "link set lo up");
        let _ = writeln!(b, "link set {iif} up");
        let _ = writeln!(b, "link set {oif} up");
        let _ = writeln!(
            b,
            "neigh replace {GW4_WAN} lladdr {MAC_D0} dev {oif} nud permanent"
        );
        let _ = writeln!(b, "route replace default via {GW4_WAN} dev {oif} onlink");
        let _ = writeln!(
            b,
            "neigh replace {GW6_WAN} lladdr {MAC_D0} dev {oif} nud permanent"
        );
        let _ = writeln!(b, "route replace ::/0 via {GW6_WAN} dev {oif}");
        if two {
            // What enters on OIF (the reply direction) goes back out of IIF. The rule also
            // serves the flowtable's IPv4 reverse-route lookup, which sets iif to the forward
            // direction's output device; IPv6 needs the host routes added by `replay`.
            let t = REPLY_TABLE;
            #[rustfmt::skip]
            let _ = writeln!(b, "neigh replace {GW4_LAN} lladdr {MAC_S0} dev {iif} nud permanent");
            let _ = writeln!(
                b,
                "route replace 0.0.0.0/0 via {GW4_LAN} dev {iif} onlink table {t}"
            );
            let _ = writeln!(b, "rule add iif {oif} lookup {t} pref 100");
            let _ = writeln!(
                b,
                "neigh replace {GW6_LAN} lladdr {MAC_S0} dev {iif} nud permanent"
            );
            let _ = writeln!(b, "route replace ::/0 via {GW6_LAN} dev {iif} table {t}");
        }
        run_stdin("ip", &["-n", &fw.0, "-batch", "-"], &b)?;
        if two {
            // Batch lines take no options, and a rule's family comes from `-6`.
            #[rustfmt::skip]
            ipn(&fw, &["-6", "rule", "add", "iif", oif, "lookup", REPLY_TABLE, "pref", "100"])?;
        }
        ipn(&src, &["link", "set", "s0", "up"])?;
        ipn(wan_ns, &["link", "set", "d0", "up"])?;
        let bit = |b: bool| if b { "1" } else { "0" };
        let mut late = vec![
            kv(&format!("net/ipv4/conf/{iif}/rp_filter"), "0"),
            kv(&format!("net/ipv4/conf/{oif}/rp_filter"), "0"),
            kv("net/ipv4/icmp_ratelimit", "0"),
            kv("net/ipv6/icmp/ratelimit", "0"),
            kv("net/ipv4/ip_forward", "1"),
            kv("net/ipv6/conf/all/forwarding", "1"),
            kv("net/netfilter/nf_conntrack_tcp_loose", bit(sys.tcp_loose)),
            kv(
                "net/netfilter/nf_conntrack_tcp_be_liberal",
                bit(sys.tcp_be_liberal),
            ),
            kv("net/netfilter/nf_conntrack_checksum", "0"),
        ];
        late.extend(sys.extra.iter().cloned());
        fw.sysctls(&late)?;
        // Sinks: what FW sends out of either side is counted and dropped at netdev ingress of
        // the peer, before any IP processing, so nothing ever answers.
        let sink = |dev: &str, chain: &str| {
            format!(
                "chain {chain} {{ type filter hook ingress device \"{dev}\" priority {CENSUS_PRIO}; policy drop; counter drop; }}\n"
            )
        };
        if two {
            src.exec_stdin(
                &["nft", "-f", "-"],
                &format!(
                    "table netdev __osim {{\n{}{}}}\n",
                    sink("s0", "sink_lan"),
                    sink("d0", "sink_wan")
                ),
            )?;
        } else {
            src.exec_stdin(
                &["nft", "-f", "-"],
                &format!("table netdev __osim {{\n{}}}\n", sink("s0", "sink_lan")),
            )?;
            wan_ns.exec_stdin(
                &["nft", "-f", "-"],
                &format!("table netdev __osim {{\n{}}}\n", sink("d0", "sink_wan")),
            )?;
        }
        // The caller's ruleset, then counters everywhere, then the policy probes.
        fw.exec_stdin(&["nft", "-f", "-"], ruleset)?;
        let dump = list_json(&fw, &["ruleset"])?;
        if let Some(counted) = add_counters(&dump)
            && fw
                .exec_stdin(&["nft", "-j", "-f", "-"], &counted.to_string())
                .is_err()
        {
            // nft 1.0.6 cannot take some rules back through JSON or even its own listing
            // (e.g. anonymous interval sets of IPv6 prefixes: "BUG: unhandled op 2"). Put the
            // counters into the caller's text instead and load that.
            fw.exec_stdin(&["nft", "flush", "ruleset"], "")?;
            fw.exec_stdin(&["nft", "-f", "-"], &text_with_counters(ruleset))?;
        }
        let dump = list_json(&fw, &["ruleset"])?;
        let mut adds = Vec::new();
        for o in dump["nftables"].as_array().into_iter().flatten() {
            if let Some(c) = o.get("chain")
                && c.get("hook").is_some()
            {
                adds.push(json!({"add": {"rule": {
                    "family": c["family"], "table": c["table"], "chain": c["name"],
                    "expr": [{"counter": {"packets": 0, "bytes": 0}}], "comment": POLICY_TAG}}}));
            }
        }
        if !adds.is_empty() {
            fw.exec_stdin(
                &["nft", "-j", "-f", "-"],
                &json!({ "nftables": adds }).to_string(),
            )?;
        }
        // Census (loaded after the caller's ruleset, which may `flush ruleset`), and the
        // output drop: packets FW generates itself are not counted anywhere.
        fw.exec_stdin(
            &["nft", "-f", "-"],
            &format!(
                "table netdev __osim {{\n\
                 chain census_lan {{ type filter hook ingress device \"{iif}\" priority {CENSUS_PRIO}; policy accept; counter; }}\n\
                 chain census_wan {{ type filter hook ingress device \"{oif}\" priority {CENSUS_PRIO}; policy accept; counter; }}\n\
                 }}\n\
                 table inet __osim {{\n\
                 chain census_prerouting {{ type filter hook prerouting priority {CENSUS_PRIO}; policy accept; counter; }}\n\
                 chain census_output {{ type filter hook output priority {CENSUS_PRIO}; policy accept; counter drop; }}\n\
                 }}\n"
            ),
        )?;
        Ok(Router {
            src,
            fw,
            dst,
            iif: iif.to_string(),
            oif: oif.to_string(),
            sides,
            stats: Cell::new(ReplayStats::default()),
        })
    }

    /// FW's ruleset as `nft list ruleset` text (chain bindings' rules and their counters are
    /// only listed there: `nft -j` 1.0.6 prints a binding as a text string).
    pub fn list_text(&self) -> Result<String, String> {
        self.fw.exec(&["nft", "list", "ruleset"])
    }

    fn two_sided(&self) -> bool {
        self.dst.is_none()
    }

    /// Replays a prepared pcap (see [`prep_pcap`]) at `pps` packets per second and returns
    /// the number of packets tcpreplay sent. Two-sided, the trace is first split into its
    /// sides ([`split_sides`]) and FW gets host routes back to the LAN-side addresses.
    pub fn replay(&self, pcap: &Path, pps: u32) -> Result<u64, String> {
        let pin = Command::new("sh")
            .args(["-c", "command -v taskset"])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        let mut stats = ReplayStats::default();
        let mut file = pcap.to_path_buf();
        let mut cache = None;
        if self.two_sided() {
            let split_path = pcap.with_extension("sides.pcap");
            let split = split_sides(pcap, &split_path, &self.sides)?;
            stats.lan = split.lan;
            stats.wan = split.wan;
            let mut batch = String::new();
            for &(version, addr) in &split.lan_hosts {
                if version == 4 {
                    let a = std::net::Ipv4Addr::from(addr as u32);
                    let _ = writeln!(
                        batch,
                        "route replace {a}/32 via {GW4_LAN} dev {} onlink",
                        self.iif
                    );
                } else {
                    let a = std::net::Ipv6Addr::from(addr);
                    let _ = writeln!(
                        batch,
                        "route replace {a}/128 via {GW6_LAN} dev {}",
                        self.iif
                    );
                }
            }
            if !batch.is_empty() {
                run_stdin("ip", &["-n", &self.fw.0, "-batch", "-"], &batch)?;
            }
            let c = pcap.with_extension("sides.cache");
            // tcpprep --mac: frames whose SOURCE MAC is listed are primary (-i s0).
            run(
                "tcpprep",
                &[
                    &format!("--mac={MAC_S0}"),
                    "-i",
                    &split_path.to_string_lossy(),
                    "-o",
                    &c.to_string_lossy(),
                ],
            )?;
            file = split_path;
            cache = Some(c.to_string_lossy().into_owned());
        }
        let p = file.to_string_lossy().into_owned();
        let rate = format!("--pps={pps}");
        let mut args: Vec<&str> = Vec::new();
        if pin {
            args.extend_from_slice(&["taskset", "-c", "0"]);
        }
        args.extend_from_slice(&["tcpreplay", "-i", "s0"]);
        if let Some(c) = &cache {
            args.extend_from_slice(&["-I", "d0", "-c", c]);
        }
        args.extend_from_slice(&["--preload-pcap", &rate, &p]);
        let out = self.src.exec(&args)?;
        // "Actual: N packets (…) sent in …"; else the per-device "Successful packets:" lines.
        stats.sent = out
            .lines()
            .find_map(|l| l.trim().strip_prefix("Actual:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| {
                out.lines()
                    .filter_map(|l| l.trim().strip_prefix("Successful packets:"))
                    .filter_map(|v| v.trim().parse::<u64>().ok())
                    .sum()
            });
        if !self.two_sided() {
            stats.lan = stats.sent;
        }
        self.stats.set(stats);
        self.settle(stats.sent)?;
        Ok(stats.sent)
    }

    /// Waits until FW's ingress census has seen `sent` frames (at most 3 s: frames can be
    /// lost), then a little longer for the forwarded ones to reach the sinks.
    fn settle(&self, sent: u64) -> Result<(), String> {
        for _ in 0..60 {
            let d = list_json(&self.fw, &["table", "netdev", "__osim"])?;
            let seen = chain_counter(&d, "__osim", "census_lan").0
                + chain_counter(&d, "__osim", "census_wan").0;
            if seen >= sent {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        std::thread::sleep(std::time::Duration::from_millis(300));
        Ok(())
    }

    /// Reads the counters back.
    pub fn counters(&self) -> Result<KernelResult, String> {
        let dump = list_json(&self.fw, &["ruleset"])?;
        let mut named = std::collections::BTreeMap::new();
        for o in dump["nftables"].as_array().into_iter().flatten() {
            if let Some(c) = o.get("counter")
                && c.is_object()
                && c.get("name").is_some()
            {
                let key = (
                    c["family"].as_str().unwrap_or("").to_string(),
                    c["table"].as_str().unwrap_or("").to_string(),
                    c["name"].as_str().unwrap_or("").to_string(),
                );
                named.insert(
                    key,
                    (
                        c["packets"].as_u64().unwrap_or(0),
                        c["bytes"].as_u64().unwrap_or(0),
                    ),
                );
            }
        }
        let stats = self.stats.get();
        let mut res = KernelResult {
            sent: stats.sent,
            sent_lan: stats.lan,
            sent_wan: stats.wan,
            ingress_lan: chain_counter(&dump, "__osim", "census_lan").0,
            ingress_wan: chain_counter(&dump, "__osim", "census_wan").0,
            prerouting: chain_counter(&dump, "__osim", "census_prerouting").0,
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .map(|s| s.trim().to_string())
                .unwrap_or_default(),
            ..KernelResult::default()
        };
        res.ingress = res.ingress_lan + res.ingress_wan;
        let sinks = list_json(&self.src, &["table", "netdev", "__osim"])?;
        res.out_lan = chain_counter(&sinks, "__osim", "sink_lan").0;
        res.out_wan = match &self.dst {
            Some(dst) => {
                chain_counter(
                    &list_json(dst, &["table", "netdev", "__osim"])?,
                    "__osim",
                    "sink_wan",
                )
                .0
            }
            None => chain_counter(&sinks, "__osim", "sink_wan").0,
        };
        let mut idx: std::collections::BTreeMap<(String, String, String), usize> =
            Default::default();
        for o in dump["nftables"].as_array().into_iter().flatten() {
            let Some(r) = o.get("rule") else { continue };
            let fam = r["family"].as_str().unwrap_or("").to_string();
            let table = r["table"].as_str().unwrap_or("").to_string();
            let chain = r["chain"].as_str().unwrap_or("").to_string();
            if table == "__osim" {
                continue;
            }
            let mut counters = Vec::new();
            for e in r["expr"].as_array().into_iter().flatten() {
                match e.get("counter") {
                    Some(Value::Object(c)) => counters.push((
                        c["packets"].as_u64().unwrap_or(0),
                        c["bytes"].as_u64().unwrap_or(0),
                    )),
                    Some(Value::String(name)) => counters.push(
                        named
                            .get(&(fam.clone(), table.clone(), name.clone()))
                            .copied()
                            .unwrap_or((0, 0)),
                    ),
                    _ => {}
                }
            }
            let (packets, bytes) = counters.first().copied().unwrap_or((0, 0));
            if r.get("comment").and_then(Value::as_str) == Some(POLICY_TAG) {
                res.policies.push(PolicyCount {
                    family: fam,
                    table,
                    chain,
                    packets,
                    bytes,
                });
                continue;
            }
            let i = idx
                .entry((fam.clone(), table.clone(), chain.clone()))
                .or_insert(0);
            res.rules.push(RuleCount {
                family: fam,
                table,
                chain,
                index: *i,
                packets,
                bytes,
                counters,
            });
            *i += 1;
        }
        Ok(res)
    }
}

/// How [`split_sides`] divided a trace.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Split {
    /// Packets on the LAN side.
    pub lan: u64,
    /// Packets on the WAN side.
    pub wan: u64,
    /// The side of every packet, in trace order.
    pub per_packet: Vec<Side>,
    /// Addresses seen only on the LAN side (as source of LAN-side or destination of
    /// WAN-side packets), as (IP version, address); no multicast, broadcast, unspecified,
    /// loopback or link-local ones. FW gets a host route via IIF for each.
    pub lan_hosts: Vec<(u8, u128)>,
}

fn routable(version: u8, a: u128) -> bool {
    if version == 4 {
        let v = std::net::Ipv4Addr::from(a as u32);
        !(v.is_multicast()
            || v.is_broadcast()
            || v.is_unspecified()
            || v.is_loopback()
            || v.is_link_local())
    } else {
        let v = std::net::Ipv6Addr::from(a);
        !(v.is_multicast() || v.is_unspecified() || v.is_loopback() || v.is_unicast_link_local())
    }
}

/// Assigns every packet of a prepared pcap (see [`prep_pcap`]) to a side with offsim's
/// [`SideSplitter`] and writes it to `output` with the MACs of that side: LAN side from s0 to
/// IIF, WAN side from d0 to OIF.
pub fn split_sides(input: &Path, output: &Path, sides: &Sides) -> Result<Split, String> {
    let mut r = TraceReader::open(input).map_err(|e| e.to_string())?;
    let f = std::fs::File::create(output).map_err(|e| format!("{}: {e}", output.display()))?;
    let mut w = PcapWriter::new(std::io::BufWriter::new(f), LinkType::Ethernet, 262_144)
        .map_err(|e| e.to_string())?;
    let (lan_dst, lan_src, wan_dst, wan_src) =
        (mac(MAC_IN), mac(MAC_S0), mac(MAC_OUT), mac(MAC_D0));
    let mut splitter = SideSplitter::new(sides.clone()).remembering_all();
    let mut split = Split::default();
    let (mut lan_addrs, mut wan_addrs) = (BTreeSet::new(), BTreeSet::new());
    let mut frame = Vec::with_capacity(2048);
    while let Some(rec) = r.next_record().map_err(|e| e.to_string())? {
        let m = parse_frame(rec.link, rec.data, rec.orig_len, rec.ts, rec.iface);
        let side = splitter.side(&m, m.ts);
        if m.is_ip() {
            let (from, to) = match side {
                Side::Lan => (&mut lan_addrs, &mut wan_addrs),
                Side::Wan => (&mut wan_addrs, &mut lan_addrs),
            };
            from.insert((m.ip_version, m.src));
            to.insert((m.ip_version, m.dst));
        }
        frame.clear();
        frame.extend_from_slice(rec.data);
        if frame.len() >= 12 {
            let (d, s) = match side {
                Side::Lan => (&lan_dst, &lan_src),
                Side::Wan => (&wan_dst, &wan_src),
            };
            frame[0..6].copy_from_slice(d);
            frame[6..12].copy_from_slice(s);
        }
        match side {
            Side::Lan => split.lan += 1,
            Side::Wan => split.wan += 1,
        }
        split.per_packet.push(side);
        w.write(rec.ts, &frame, rec.orig_len)
            .map_err(|e| e.to_string())?;
    }
    w.finish().map_err(|e| e.to_string())?;
    split.lan_hosts = lan_addrs
        .difference(&wan_addrs)
        .copied()
        .filter(|&(v, a)| routable(v, a))
        .collect();
    Ok(split)
}

/// `Sides` as [`Sides::parse`] reads it back: `single`, `flow` or `lan=P1,P2`.
pub fn sides_arg(sides: &Sides) -> String {
    match sides {
        Sides::Single => "single".into(),
        Sides::Flow => "flow".into(),
        Sides::Lan(ps) => {
            let list: Vec<String> = ps.iter().map(prefix_string).collect();
            format!("lan={}", list.join(","))
        }
    }
}

fn prefix_string(p: &Prefix) -> String {
    if p.version == 4 {
        format!("{}/{}", std::net::Ipv4Addr::from(p.addr as u32), p.len)
    } else {
        format!("{}/{}", std::net::Ipv6Addr::from(p.addr), p.len)
    }
}

mod sides_serde {
    use super::{Sides, sides_arg};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(s: &Sides, ser: S) -> Result<S::Ok, S::Error> {
        ser.serialize_str(&sides_arg(s))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(de: D) -> Result<Sides, D::Error> {
        let s = String::deserialize(de)?;
        Sides::parse(&s).map_err(serde::de::Error::custom)
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
    /// tcpreplay rate.
    pub pps: u32,
    /// Retime the trace to this spacing (see [`prep_pcap`]).
    pub spacing_ns: Option<u64>,
}

impl OracleJob {
    /// A job with the defaults: sysctls as offsim's, 20,000 packets/s, packets retimed
    /// 10 µs apart.
    pub fn new(ruleset: &str, pcap: &Path, iif: &str, oif: &str, sides: Sides) -> OracleJob {
        OracleJob {
            ruleset: ruleset.to_string(),
            pcap: pcap.to_path_buf(),
            iif: iif.to_string(),
            oif: oif.to_string(),
            sides,
            sysctls: Sysctls::default(),
            pps: 20_000,
            spacing_ns: Some(10_000),
        }
    }
}

/// Runs a job on the running kernel: prepares the trace, builds the router, replays and
/// reads the counters.
pub fn run_job(job: &OracleJob) -> Result<KernelResult, String> {
    let tmp = TempDir::new("job");
    let pcap = tmp.0.join("replay.pcap");
    prep_pcap(&job.pcap, &pcap, job.spacing_ns)?;
    let r = Router::with_sides(
        &job.ruleset,
        &job.iif,
        &job.oif,
        &job.sysctls,
        job.sides.clone(),
    )?;
    r.replay(&pcap, job.pps)?;
    r.counters()
}

fn mac(s: &str) -> [u8; 6] {
    let mut m = [0u8; 6];
    for (i, p) in s.split(':').enumerate() {
        m[i] = u8::from_str_radix(p, 16).expect("mac");
    }
    m
}

fn ipv4_checksum(h: &[u8]) -> u16 {
    let mut sum = 0u32;
    for c in h.chunks(2) {
        sum += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Prepares a trace for replay: Ethernet to FW's MAC, no VLAN/PPPoE, IP only, snap-truncated
/// records zero-padded, IPv4 header checksums fixed. With `spacing_ns`, packets are retimed
/// `spacing_ns` apart (so that conntrack timeouts cannot fire in either model). Returns the
/// number of packets written.
pub fn prep_pcap(input: &Path, output: &Path, spacing_ns: Option<u64>) -> Result<u64, String> {
    let mut r = TraceReader::open(input).map_err(|e| e.to_string())?;
    let f = std::fs::File::create(output).map_err(|e| e.to_string())?;
    let mut w = PcapWriter::new(std::io::BufWriter::new(f), LinkType::Ethernet, 262_144)
        .map_err(|e| e.to_string())?;
    let (dm, sm) = (mac(MAC_IN), mac(MAC_S0));
    let mut n = 0u64;
    let mut frame = Vec::with_capacity(2048);
    while let Some(rec) = r.next_record().map_err(|e| e.to_string())? {
        let m = parse_frame(rec.link, rec.data, rec.orig_len, rec.ts, rec.iface);
        let et: u16 = match m.net {
            NetKind::Ipv4 => 0x0800,
            NetKind::Ipv6 => 0x86dd,
            _ => continue,
        };
        if m.malformed.is_some() || m.ip_version == 0 {
            continue;
        }
        frame.clear();
        frame.extend_from_slice(&dm);
        frame.extend_from_slice(&sm);
        frame.extend_from_slice(&et.to_be_bytes());
        let l3 = &rec.data[usize::from(m.l3_offset)..];
        let want = m.ip_len as usize;
        frame.extend_from_slice(&l3[..want.min(l3.len())]);
        while frame.len() < 14 + want {
            frame.push(0);
        }
        if et == 0x0800 {
            let ihl = usize::from(frame[14] & 0x0f) * 4;
            frame[24] = 0;
            frame[25] = 0;
            let c = ipv4_checksum(&frame[14..14 + ihl]);
            frame[24..26].copy_from_slice(&c.to_be_bytes());
        }
        let ts = match spacing_ns {
            Some(s) => SimTime(1_700_000_000_000_000_000 + n * s),
            None => rec.ts,
        };
        w.write(ts, &frame, frame.len() as u32)
            .map_err(|e| e.to_string())?;
        n += 1;
    }
    w.finish().map_err(|e| e.to_string())?;
    Ok(n)
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
    let routes = if job.sides == Sides::Single {
        Vec::new()
    } else {
        offsim::ruleseval::lan_only_addresses(
            &mut offsim_traces::stream::PacketStream::open(&pcap).unwrap(),
            &job.sides,
        )
        .unwrap()
    };
    let opts = offsim::ruleseval::EvalOptions {
        iif: job.iif.clone(),
        oif: job.oif.clone(),
        sides: job.sides.clone(),
        kernel: kernel_flavour,
        ct: offsim_kernel::conntrack::CtConfig {
            tcp_loose: job.sysctls.tcp_loose,
            tcp_be_liberal: job.sysctls.tcp_be_liberal,
            ..offsim_kernel::conntrack::CtConfig::default()
        },
    };
    let r = offsim::ruleseval::eval_trace_with_routes(
        rs,
        &mut offsim_traces::stream::PacketStream::open(&pcap).unwrap(),
        &opts,
        &routes,
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
        ..KernelResult::default()
    }
}
