//! The oracle router: network namespaces SRC, FW and DST joined by veth pairs (see the
//! topologies in the module docs of `kernel`), the ruleset loaded into FW, the trace
//! replayed with tcpreplay, and the counters read back.

use super::counters::*;
use super::nat::WanMap;
use super::*;

pub(super) const POLICY_TAG: &str = "__offsim_policy__";
pub(super) const MAC_IN: &str = "02:6f:66:00:00:01";
pub(super) const MAC_OUT: &str = "02:6f:66:00:00:02";
pub(super) const MAC_S0: &str = "02:6f:66:00:00:10";
pub(super) const MAC_D0: &str = "02:6f:66:00:00:20";
/// Next hops of FW: towards DST/WAN (OIF) and, two-sided, back towards the LAN (IIF). Their
/// MACs are pinned by PERMANENT neighbour entries, so FW never needs ARP or ND.
pub(super) const GW4_WAN: &str = "169.254.255.2";
pub(super) const GW6_WAN: &str = "fe80::6b72:2";
pub(super) const GW4_LAN: &str = "169.254.255.1";
pub(super) const GW6_LAN: &str = "fe80::6b72:1";
/// Routing table for packets that enter on OIF (two-sided).
pub(super) const REPLY_TABLE: &str = "200";
pub(super) const CENSUS_PRIO: &str = "-2147483648";

pub(super) fn run(cmd: &str, args: &[&str]) -> Result<String, String> {
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

pub(super) fn run_stdin(cmd: &str, args: &[&str], input: &str) -> Result<String, String> {
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
pub(super) struct Netns(String);

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
pub(super) fn ipn(ns: &Netns, args: &[&str]) -> Result<String, String> {
    let mut a = vec!["-n", &ns.0];
    a.extend_from_slice(args);
    run("ip", &a)
}

pub(super) static SEQ: AtomicU32 = AtomicU32::new(0);

#[derive(Clone, Copy, Debug, Default)]
pub(super) struct ReplayStats {
    sent: u64,
    lan: u64,
    wan: u64,
}

/// FW's devices beyond the topology: their MTU, FW's addresses and extra routes (what
/// offsim's `--mtu`, `--addr` and `--route` describe).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Topology {
    /// MTU of FW's devices (their peers always take 65535, so that tcpreplay can send any
    /// frame).
    pub mtu: u32,
    /// Per-device MTUs of FW (device, MTU) overriding `mtu`.
    #[serde(default)]
    pub dev_mtu: Vec<(String, u32)>,
    /// FW's addresses as `DEV=ADDR[/LEN]`; empty: offsim's defaults (one IPv4 address on
    /// each device, `offsim_kernel::fib::DEFAULT_LAN_ADDR` / `DEFAULT_WAN_ADDR`).
    pub addrs: Vec<String>,
    /// Extra routes as `PREFIX=DEV` (`default=DEV`).
    pub routes: Vec<String>,
}

impl Default for Topology {
    /// veths at their largest MTU (65535), offsim's default addresses, no extra route.
    fn default() -> Self {
        Topology {
            mtu: 65535,
            dev_mtu: Vec::new(),
            addrs: Vec::new(),
            routes: Vec::new(),
        }
    }
}

impl Topology {
    /// FW's addresses as (device, `ADDR/LEN`).
    pub fn fw_addrs(&self, iif: &str, oif: &str) -> Vec<(String, String)> {
        if self.addrs.is_empty() {
            return vec![
                (
                    iif.to_string(),
                    offsim_kernel::fib::DEFAULT_LAN_ADDR.to_string(),
                ),
                (
                    oif.to_string(),
                    offsim_kernel::fib::DEFAULT_WAN_ADDR.to_string(),
                ),
            ];
        }
        self.addrs
            .iter()
            .filter_map(|a| a.split_once('='))
            .map(|(d, a)| (d.to_string(), a.to_string()))
            .collect()
    }
}

/// How tcpreplay paces a replay (`TopSpeed` after its `--topspeed`).
#[allow(clippy::enum_variant_names)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Speed {
    /// `--pps`: evenly, this many packets per second.
    Pps(u32),
    /// `--topspeed`: as fast as it can.
    TopSpeed,
    /// The capture's own timing (tcpreplay's default).
    Realtime,
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
    /// Rewrites of WAN-side packets (NAT: what the WAN peer sends).
    wan_map: WanMap,
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
        Router::build(ruleset, iif, oif, sys, sides, &Topology::default())
    }

    /// Builds the topology for `sides` with FW's devices as `topo` says, and loads
    /// `ruleset` into FW.
    pub fn build(
        ruleset: &str,
        iif: &str,
        oif: &str,
        sys: &Sysctls,
        sides: Sides,
        topo: &Topology,
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
        for dev in [iif, oif] {
            let mtu = topo
                .dev_mtu
                .iter()
                .find(|(d, _)| d == dev)
                .map_or(topo.mtu, |(_, m)| *m);
            let _ = writeln!(b, "link set {dev} mtu {mtu}");
        }
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
        let via = |dev: &str, v6: bool| match (dev == iif, v6) {
            (true, false) => GW4_LAN,
            (true, true) => GW6_LAN,
            (false, false) => GW4_WAN,
            (false, true) => GW6_WAN,
        };
        let mut routes: Vec<(String, String)> = Vec::new();
        if let Sides::Lan(ps) = &sides {
            routes.extend(ps.iter().map(|p| (prefix_string(p), iif.to_string())));
        }
        for r in &topo.routes {
            let (p, dev) = r.split_once('=').ok_or_else(|| format!("route `{r}`"))?;
            if p == "default" {
                routes.push(("0.0.0.0/0".into(), dev.to_string()));
                routes.push(("::/0".into(), dev.to_string()));
            } else {
                routes.push((p.to_string(), dev.to_string()));
            }
        }
        for (p, dev) in routes {
            let v6 = p.contains(':');
            let gw = via(&dev, v6);
            let onlink = if v6 { "" } else { " onlink" };
            if !v6 && dev == iif && !two {
                // Single-sided FW has no neighbour towards the LAN: pin one.
                #[rustfmt::skip]
                let _ = writeln!(b, "neigh replace {GW4_LAN} lladdr {MAC_S0} dev {iif} nud permanent");
            }
            if v6 && dev == iif && !two {
                #[rustfmt::skip]
                let _ = writeln!(b, "neigh replace {GW6_LAN} lladdr {MAC_S0} dev {iif} nud permanent");
            }
            let _ = writeln!(b, "route replace {p} via {gw} dev {dev}{onlink}");
        }
        run_stdin("ip", &["-n", &fw.0, "-batch", "-"], &b)?;
        if two {
            // Batch lines take no options, and a rule's family comes from `-6`.
            #[rustfmt::skip]
            ipn(&fw, &["-6", "rule", "add", "iif", oif, "lookup", REPLY_TABLE, "pref", "100"])?;
        }
        ipn(
            &src,
            &["link", "set", "s0", "mtu", &topo.mtu.to_string(), "up"],
        )?;
        ipn(
            wan_ns,
            &["link", "set", "d0", "mtu", &topo.mtu.to_string(), "up"],
        )?;
        let bit = |b: bool| if b { "1" } else { "0" };
        let mut late = vec![
            kv(&format!("net/ipv4/conf/{iif}/rp_filter"), "0"),
            kv(&format!("net/ipv4/conf/{oif}/rp_filter"), "0"),
            kv("net/ipv4/icmp_ratelimit", "0"),
            // No ICMP type is rate limited, globally or per peer (`icmpv4_mask_allow`).
            kv("net/ipv4/icmp_ratemask", "0"),
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
        // Census (loaded after the caller's ruleset, which may `flush ruleset`), including what
        // FW sends itself (resets, ICMP errors, replies: they take the ruleset's OUTPUT and
        // POSTROUTING chains and are dropped by the peers' sinks). MLD, which FW sends on
        // timers once it has an IPv6 address, is dropped before anything counts it: offsim
        // does not model it.
        fw.exec_stdin(
            &["nft", "-f", "-"],
            &format!(
                "table netdev __osim {{\n\
                 chain census_lan {{ type filter hook ingress device \"{iif}\" priority {CENSUS_PRIO}; policy accept; counter; }}\n\
                 chain census_wan {{ type filter hook ingress device \"{oif}\" priority {CENSUS_PRIO}; policy accept; counter; }}\n\
                 }}\n\
                 table inet __osim {{\n\
                 chain census_prerouting {{ type filter hook prerouting priority {CENSUS_PRIO}; policy accept; counter; }}\n\
                 chain census_output {{ type filter hook output priority {CENSUS_PRIO}; policy accept; icmpv6 type {{ 130, 131, 132, 143 }} drop; counter; }}\n\
                 }}\n"
            ),
        )?;
        // FW's addresses last: with an IPv6 address FW starts sending MLD reports, which the
        // census must see first (and drop).
        let mut b = String::new();
        for (dev, a) in topo.fw_addrs(iif, oif) {
            let nodad = if a.contains(':') { " nodad" } else { "" };
            let _ = writeln!(b, "addr add {a} dev {dev}{nodad}");
        }
        if !b.is_empty() {
            run_stdin("ip", &["-n", &fw.0, "-batch", "-"], &b)?;
        }
        Ok(Router {
            src,
            fw,
            dst,
            iif: iif.to_string(),
            oif: oif.to_string(),
            sides,
            stats: Cell::new(ReplayStats::default()),
            wan_map: Default::default(),
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
    /// the number of packets tcpreplay sent.
    pub fn replay(&self, pcap: &Path, pps: u32) -> Result<u64, String> {
        self.replay_at(pcap, Speed::Pps(pps))
    }

    /// Replays a prepared pcap (see [`prep_pcap`]) at `speed` and returns the number of
    /// packets tcpreplay sent. Two-sided, the trace is first split into its sides
    /// ([`split_sides`], WAN-side packets rewritten by the NAT map [`Router::set_wan_map`])
    /// and FW gets host routes back to the LAN-side addresses.
    pub fn replay_at(&self, pcap: &Path, speed: Speed) -> Result<u64, String> {
        let mut stats = ReplayStats::default();
        let mut file = pcap.to_path_buf();
        let mut cache = None;
        if self.two_sided() {
            let split_path = pcap.with_extension("sides.pcap");
            let wan = (!self.wan_map.packet.is_empty()).then_some(&self.wan_map);
            let split = split_sides_with(pcap, &split_path, &self.sides, wan, true)?;
            stats.lan = split.lan;
            stats.wan = split.wan;
            self.lan_routes(&split.lan_hosts)?;
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
        stats.sent = self.tcpreplay(&file, cache.as_deref(), speed)?;
        if !self.two_sided() {
            stats.lan = stats.sent;
        }
        self.stats.set(stats);
        self.settle(stats.sent)?;
        Ok(stats.sent)
    }

    /// The NAT of every connection, as FW's kernel set it up for the LAN-side packets of
    /// the trace (replayed alone, two-sided): what the WAN side of a later replay answers
    /// (see [`super::nat`]). FW is spent afterwards: build a fresh router for the replay.
    pub fn learn_nat(&self, pcap: &Path, speed: Speed) -> Result<WanMap, String> {
        if !self.two_sided() {
            return Ok(WanMap::default());
        }
        let lan_only = pcap.with_extension("lan.pcap");
        let split = split_sides_with(pcap, &lan_only, &self.sides, None, false)?;
        self.lan_routes(&split.lan_hosts)?;
        let sent = self.tcpreplay(&lan_only, None, speed)?;
        self.settle(sent)?;
        let ct = self.fw.exec(&["cat", "/proc/net/nf_conntrack"])?;
        Ok(super::nat::wan_map(&ct))
    }

    /// The WAN side answers NATed connections as `map` says (see [`Router::learn_nat`]).
    pub fn set_wan_map(&mut self, map: WanMap) {
        self.wan_map = map;
    }

    /// Host routes via IIF for the LAN-side addresses (two-sided).
    fn lan_routes(&self, hosts: &[(u8, u128)]) -> Result<(), String> {
        let mut batch = String::new();
        for &(version, addr) in hosts {
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
        Ok(())
    }

    /// Runs tcpreplay from SRC (pinned to one CPU when `taskset` exists): `-i s0`, and with
    /// a tcpprep cache `-I d0` for the secondary (WAN-side) frames. Returns the packets sent.
    fn tcpreplay(&self, file: &Path, cache: Option<&str>, speed: Speed) -> Result<u64, String> {
        let pin = Command::new("sh")
            .args(["-c", "command -v taskset"])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        let p = file.to_string_lossy().into_owned();
        let rate = match speed {
            Speed::Pps(pps) => Some(format!("--pps={pps}")),
            Speed::TopSpeed => Some("--topspeed".to_string()),
            // tcpreplay's default: the capture's own timing.
            Speed::Realtime => None,
        };
        let mut args: Vec<&str> = Vec::new();
        if pin {
            args.extend_from_slice(&["taskset", "-c", "0"]);
        }
        args.extend_from_slice(&["tcpreplay", "-i", "s0"]);
        if let Some(c) = cache {
            args.extend_from_slice(&["-I", "d0", "-c", c]);
        }
        args.push("--preload-pcap");
        if let Some(r) = &rate {
            args.push(r);
        }
        args.push(&p);
        let out = self.src.exec(&args)?;
        // "Actual: N packets (…) sent in …"; else the per-device "Successful packets:" lines.
        Ok(out
            .lines()
            .find_map(|l| l.trim().strip_prefix("Actual:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| {
                out.lines()
                    .filter_map(|l| l.trim().strip_prefix("Successful packets:"))
                    .filter_map(|v| v.trim().parse::<u64>().ok())
                    .sum()
            }))
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
            router_sent: chain_counter(&dump, "__osim", "census_output").0,
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

pub(super) fn list_json(ns: &Netns, what: &[&str]) -> Result<Value, String> {
    let mut a = vec!["nft", "-j", "list"];
    a.extend_from_slice(what);
    serde_json::from_str(&ns.exec(&a)?).map_err(|e| format!("nft -j list: {e}"))
}
