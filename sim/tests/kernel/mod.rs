//! A kernel oracle: replays a trace through the real Linux nftables/conntrack in network
//! namespaces and reads back per-rule counters, for comparison with `offsim rules eval`.
//!
//! Topology (as in `../shared/oracle/kernel-replay.sh`, rewritten here in Rust):
//!
//! ```text
//! netns SRC                     netns FW (forwarding, ruleset)                 netns DST
//! [s0] ------veth------ [IIF]  no addresses; v4/v6 default routes  [OIF] ---veth--- [d0]
//! tcpreplay -i s0              via a PERMANENT neighbour on OIF                 netdev drop
//! ```
//!
//! The trace is prepared first ([`prep_pcap`]): Ethernet framing with FW's MAC as destination,
//! VLAN/PPPoE stripped, non-IP dropped, snap-truncated packets zero-padded to their IP length,
//! IPv4 header checksums fixed, optionally retimed. Conntrack runs with
//! `nf_conntrack_checksum=0`, as offsim does by default. Rules without a counter get one
//! just before their first terminal statement (offsim's implicit counter); each base chain
//! gets an appended `counter` rule that measures its policy. Needs root, `ip`, `nft` and
//! `tcpreplay`; callers skip when [`available`] says no.

#![allow(dead_code)]

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use offsim_traces::meta::NetKind;
use offsim_traces::parse::{LinkType, parse_frame};
use offsim_traces::pcap::{PcapWriter, TraceReader};
use offsim_traces::time::SimTime;
use serde_json::{Value, json};

const POLICY_TAG: &str = "__offsim_policy__";
const MAC_IN: &str = "02:6f:66:00:00:01";
const MAC_OUT: &str = "02:6f:66:00:00:02";
const MAC_S0: &str = "02:6f:66:00:00:10";
const MAC_D0: &str = "02:6f:66:00:00:20";

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
    let ns = format!("osim-probe-{}", std::process::id());
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
    fn sysctl(&self, key: &str, val: &str) -> Result<(), String> {
        let path = format!("/proc/sys/{key}");
        self.exec(&["sh", "-c", &format!("printf %s '{val}' > '{path}'")])?;
        Ok(())
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = run("ip", &["netns", "del", &self.0]);
    }
}

/// Conntrack sysctls for the router.
#[derive(Clone, Debug)]
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
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
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
}

/// Per-base-chain policy counters.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
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
#[derive(Clone, Debug, Default)]
pub struct KernelResult {
    /// Rules, in ruleset order.
    pub rules: Vec<RuleCount>,
    /// Base chains.
    pub policies: Vec<PolicyCount>,
    /// Packets tcpreplay sent.
    pub sent: u64,
    /// Packets counted at FW's ingress.
    pub ingress: u64,
}

static SEQ: AtomicU32 = AtomicU32::new(0);

/// A router namespace triple with the ruleset loaded.
pub struct Router {
    src: Netns,
    fw: Netns,
    dst: Netns,
    iif: String,
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

/// Adds a counter before the first terminal statement of every rule without one.
fn add_counters(dump: &Value) -> Value {
    let mut cmds = vec![json!({"flush": {"ruleset": null}})];
    for o in dump["nftables"].as_array().into_iter().flatten() {
        if has_key(o, "metainfo") {
            continue;
        }
        let mut o = o.clone();
        if let Some(r) = o.get_mut("rule") {
            r.as_object_mut().expect("rule object").remove("handle");
            let expr = r["expr"].as_array_mut().expect("rule expr");
            if !expr.iter().any(|e| has_key(e, "counter")) {
                let at = expr
                    .iter()
                    .position(|e| TERMINAL.iter().any(|k| has_key(e, k)))
                    .unwrap_or(expr.len());
                expr.insert(at, json!({"counter": {"packets": 0, "bytes": 0}}));
            }
        } else if let Some(obj) = o.as_object_mut() {
            for (_, v) in obj.iter_mut() {
                if let Some(m) = v.as_object_mut() {
                    m.remove("handle");
                }
            }
        }
        cmds.push(json!({"add": o}));
    }
    json!({ "nftables": cmds })
}

impl Router {
    /// Builds the topology and loads `ruleset` (text or JSON) into FW.
    pub fn new(ruleset: &str, iif: &str, oif: &str, sys: &Sysctls) -> Result<Router, String> {
        let id = format!(
            "{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::SeqCst)
        );
        let src = Netns::new(format!("osim-src-{id}"))?;
        let fw = Netns::new(format!("osim-fw-{id}"))?;
        let dst = Netns::new(format!("osim-dst-{id}"))?;
        for ns in [&src, &dst] {
            ns.sysctl("net/ipv6/conf/all/disable_ipv6", "1")?;
            ns.sysctl("net/ipv6/conf/default/disable_ipv6", "1")?;
        }
        for k in ["all", "default"] {
            fw.sysctl(&format!("net/ipv6/conf/{k}/addr_gen_mode"), "1")?;
            fw.sysctl(&format!("net/ipv6/conf/{k}/accept_ra"), "0")?;
            fw.sysctl(&format!("net/ipv6/conf/{k}/autoconf"), "0")?;
            fw.sysctl(&format!("net/ipv6/conf/{k}/accept_dad"), "0")?;
            fw.sysctl(&format!("net/ipv6/conf/{k}/router_solicitations"), "0")?;
            fw.sysctl(&format!("net/ipv4/conf/{k}/rp_filter"), "0")?;
            fw.sysctl(&format!("net/ipv4/conf/{k}/accept_local"), "1")?;
            fw.sysctl(&format!("net/ipv4/conf/{k}/send_redirects"), "0")?;
        }
        run(
            "ip",
            &[
                "-n", &fw.0, "link", "add", iif, "address", MAC_IN, "type", "veth", "peer", "name",
                "s0", "netns", &src.0, "address", MAC_S0,
            ],
        )?;
        run(
            "ip",
            &[
                "-n", &fw.0, "link", "add", oif, "address", MAC_OUT, "type", "veth", "peer",
                "name", "d0", "netns", &dst.0, "address", MAC_D0,
            ],
        )?;
        for i in [iif, oif] {
            fw.sysctl(&format!("net/ipv4/conf/{i}/rp_filter"), "0")?;
            run("ip", &["-n", &fw.0, "link", "set", i, "multicast", "off"])?;
        }
        fw.sysctl("net/ipv4/icmp_ratelimit", "0")?;
        fw.sysctl("net/ipv6/icmp/ratelimit", "0")?;
        fw.sysctl("net/ipv4/ip_forward", "1")?;
        fw.sysctl("net/ipv6/conf/all/forwarding", "1")?;
        fw.sysctl(
            "net/netfilter/nf_conntrack_tcp_loose",
            if sys.tcp_loose { "1" } else { "0" },
        )?;
        fw.sysctl(
            "net/netfilter/nf_conntrack_tcp_be_liberal",
            if sys.tcp_be_liberal { "1" } else { "0" },
        )?;
        fw.sysctl("net/netfilter/nf_conntrack_checksum", "0")?;
        for (k, v) in &sys.extra {
            fw.sysctl(k, v)?;
        }
        run("ip", &["-n", &fw.0, "link", "set", "lo", "up"])?;
        for i in [iif, oif] {
            run("ip", &["-n", &fw.0, "link", "set", i, "up"])?;
        }
        run("ip", &["-n", &src.0, "link", "set", "s0", "up"])?;
        run("ip", &["-n", &dst.0, "link", "set", "d0", "up"])?;
        run(
            "ip",
            &[
                "-n",
                &fw.0,
                "neigh",
                "replace",
                "169.254.255.2",
                "lladdr",
                MAC_D0,
                "dev",
                oif,
                "nud",
                "permanent",
            ],
        )?;
        run(
            "ip",
            &[
                "-n",
                &fw.0,
                "route",
                "replace",
                "default",
                "via",
                "169.254.255.2",
                "dev",
                oif,
                "onlink",
            ],
        )?;
        run(
            "ip",
            &[
                "-n",
                &fw.0,
                "-6",
                "neigh",
                "replace",
                "fe80::6b72:2",
                "lladdr",
                MAC_D0,
                "dev",
                oif,
                "nud",
                "permanent",
            ],
        )?;
        run(
            "ip",
            &[
                "-n",
                &fw.0,
                "-6",
                "route",
                "replace",
                "default",
                "via",
                "fe80::6b72:2",
                "dev",
                oif,
            ],
        )?;
        for (ns, dev) in [(&dst, "d0"), (&src, "s0")] {
            ns.exec_stdin(
                &["nft", "-f", "-"],
                &format!(
                    "table netdev __osim {{ chain sink {{ type filter hook ingress device \"{dev}\" priority -2147483648; policy drop; counter drop; }}; }}\n"
                ),
            )?;
        }
        // The caller's ruleset, then counters everywhere, then the policy probes.
        fw.exec_stdin(&["nft", "-f", "-"], ruleset)?;
        let dump: Value = serde_json::from_str(&fw.exec(&["nft", "-j", "list", "ruleset"])?)
            .map_err(|e| e.to_string())?;
        let counted = add_counters(&dump);
        fw.exec_stdin(&["nft", "-j", "-f", "-"], &counted.to_string())?;
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
        // Census and the output drop (packets FW generates are not counted).
        fw.exec_stdin(
            &["nft", "-f", "-"],
            &format!(
                "table netdev __osim {{ chain census_ingress {{ type filter hook ingress device \"{iif}\" priority -2147483648; policy accept; counter; }}; }}\n\
                 table inet __osim {{ chain census_output {{ type filter hook output priority -2147483648; policy accept; counter drop; }}; }}\n"
            ),
        )?;
        Ok(Router {
            src,
            fw,
            dst,
            iif: iif.to_string(),
        })
    }

    /// Replays a prepared pcap (see [`prep_pcap`]) at `pps` packets per second.
    pub fn replay(&self, pcap: &Path, pps: u32) -> Result<u64, String> {
        let pin = Command::new("sh")
            .args(["-c", "command -v taskset"])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        let p = pcap.to_string_lossy().into_owned();
        let rate = format!("--pps={pps}");
        let mut args: Vec<&str> = Vec::new();
        if pin {
            args.extend_from_slice(&["taskset", "-c", "0"]);
        }
        args.extend_from_slice(&["tcpreplay", "-i", "s0", "--preload-pcap", &rate, &p]);
        let out = self.src.exec(&args)?;
        std::thread::sleep(std::time::Duration::from_millis(300));
        let sent = out
            .lines()
            .find_map(|l| l.trim().strip_prefix("Successful packets:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        Ok(sent)
    }

    /// Reads the counters back.
    pub fn counters(&self) -> Result<KernelResult, String> {
        let dump: Value = serde_json::from_str(&self.fw.exec(&["nft", "-j", "list", "ruleset"])?)
            .map_err(|e| e.to_string())?;
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
        let mut res = KernelResult::default();
        let mut idx: std::collections::BTreeMap<(String, String, String), usize> =
            Default::default();
        for o in dump["nftables"].as_array().into_iter().flatten() {
            let Some(r) = o.get("rule") else { continue };
            let fam = r["family"].as_str().unwrap_or("").to_string();
            let table = r["table"].as_str().unwrap_or("").to_string();
            let chain = r["chain"].as_str().unwrap_or("").to_string();
            if table == "__osim" {
                for e in r["expr"].as_array().into_iter().flatten() {
                    if let Some(c) = e.get("counter")
                        && chain == "census_ingress"
                    {
                        res.ingress = c["packets"].as_u64().unwrap_or(0);
                    }
                }
                continue;
            }
            let mut first = None;
            for e in r["expr"].as_array().into_iter().flatten() {
                match e.get("counter") {
                    Some(Value::Object(c)) => {
                        first.get_or_insert((
                            c["packets"].as_u64().unwrap_or(0),
                            c["bytes"].as_u64().unwrap_or(0),
                        ));
                    }
                    Some(Value::String(name)) => {
                        let v = named
                            .get(&(fam.clone(), table.clone(), name.clone()))
                            .copied()
                            .unwrap_or((0, 0));
                        first.get_or_insert(v);
                    }
                    _ => {}
                }
            }
            let (packets, bytes) = first.unwrap_or((0, 0));
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
            });
            *i += 1;
        }
        Ok(res)
    }
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
