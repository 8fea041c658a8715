//! Kernel oracle checks for the nftables constructs added for corpus coverage (chain
//! bindings, per-element statements and meters, queue verdicts, bitwise operations after a
//! shift, wide concatenations): the real kernel's counters against offsim's on the oracle
//! traces. They need root, `nft`, `tcpreplay` and network namespaces; otherwise they print
//! SKIP.

use offsim_kernel::flowtable::KernelFlavour;

use crate::kernel;
use crate::util::{oracle_data, skip_oracle};

/// Counters (packets, bytes) of the rules inside chain bindings, per binding in the order the
/// bindings open in `nft list ruleset` text (the order offsim numbers them, `__chainN`).
fn binding_counters(text: &str) -> Vec<Vec<(u64, u64)>> {
    let mut out: Vec<Vec<(u64, u64)>> = Vec::new();
    let mut open: Vec<usize> = Vec::new();
    for line in text.lines() {
        let t = line.trim();
        if let Some(&b) = open.last() {
            if t == "}" || t.starts_with("} ") {
                open.pop();
                continue;
            }
            let c = counter_of(t);
            out[b].push(c.unwrap_or((0, 0)));
        }
        if t.ends_with("jump {") || t.ends_with("goto {") {
            out.push(Vec::new());
            open.push(out.len() - 1);
        }
    }
    out
}

fn counter_of(rule: &str) -> Option<(u64, u64)> {
    let w: Vec<&str> = rule.split_whitespace().collect();
    let i = w.windows(2).position(|x| x == ["counter", "packets"])?;
    Some((w.get(i + 2)?.parse().ok()?, w.get(i + 4)?.parse().ok()?))
}

/// Runs `ruleset` on `pcap` through the kernel and offsim (single-sided, lan0 → wan0) and
/// asserts equal counters for every rule (bindings' rules read from the text listing) and
/// every base chain policy. Every rule of `ruleset` must carry a counter.
fn agree(what: &str, ruleset: &str, pcap: &str) {
    agree_at(what, ruleset, &oracle_data(pcap), "lan0", "wan0");
}

/// [`agree`] on any trace and interface names.
fn agree_at(what: &str, ruleset: &str, pcap: &std::path::Path, iif: &str, oif: &str) {
    let mut job = kernel::OracleJob::new(ruleset, pcap, iif, oif, kernel::Sides::Single);
    job.speed = kernel::Speed::Pps(40_000);
    job.spacing_ns = Some(5_000);
    let tmp = kernel::TempDir::new("cov");
    let prepped = tmp.0.join("replay.pcap");
    kernel::prep_pcap(&job.pcap, &prepped, job.spacing_ns).unwrap();
    let r = kernel::Router::with_sides(
        &job.ruleset,
        &job.iif,
        &job.oif,
        &job.sysctls,
        job.sides.clone(),
    )
    .unwrap_or_else(|e| panic!("{what}: kernel: {e}"));
    r.replay_at(&prepped, job.speed).unwrap();
    let k = r.counters().unwrap();
    let text = r.list_text().unwrap();
    drop(r);
    let o = kernel::offsim_counters(&job, KernelFlavour::New);
    let (o_bound, o_rules): (Vec<_>, Vec<_>) = o
        .rules
        .iter()
        .cloned()
        .partition(|r| r.chain.starts_with("__chain"));
    let strip = |v: &[kernel::RuleCount]| -> Vec<(String, usize, u64, u64)> {
        v.iter()
            .map(|r| (r.chain.clone(), r.index, r.packets, r.bytes))
            .collect()
    };
    assert_eq!(strip(&k.rules), strip(&o_rules), "{what}: rule counters");
    let kb = binding_counters(&text);
    let mut ob: Vec<Vec<(u64, u64)>> = Vec::new();
    for r in &o_bound {
        let n: usize = r.chain["__chain".len()..].parse().unwrap();
        if ob.len() < n {
            ob.resize(n, Vec::new());
        }
        ob[n - 1].push((r.packets, r.bytes));
    }
    assert_eq!(kb, ob, "{what}: counters inside chain bindings");
    let mut kp = k.policies.clone();
    let mut op = o.policies.clone();
    kp.sort();
    op.sort();
    assert_eq!(kp, op, "{what}: policies");
    let hits: u64 = k.rules.iter().map(|r| r.packets).sum();
    eprintln!(
        "{what}: {} rules + {} in bindings, {hits} rule hits, ingress {}; packets per rule {:?}, in bindings {:?}",
        k.rules.len(),
        o_bound.len(),
        k.ingress,
        k.rules.iter().map(|r| r.packets).collect::<Vec<_>>(),
        kb
    );
}

/// `jump { ... }` and `goto { ... }`, with `return` inside.
#[test]
fn chain_bindings_match_kernel() {
    if skip_oracle() {
        return;
    }
    let rs = "table inet filter {
	chain forward {
		type filter hook forward priority 0; policy drop;
		ct state established,related counter accept
		meta l4proto { tcp, udp } th dport { 53, 80, 8080 } counter jump {
			udp dport 53 counter accept
			ip daddr 198.51.100.1 tcp dport 80 ct state new counter accept
			ip6 daddr 2001:db8:2::/48 counter return
			counter
		}
		tcp dport 22 counter goto {
			ip saddr 192.0.2.0/24 counter accept
			counter
		}
		counter
	}
}
";
    for pcap in ["demo.pcap", "edge.pcap"] {
        agree(&format!("bindings + {pcap}"), rs, pcap);
    }
}

/// Per-element limits and quotas (meters, `add @s { key limit ... }`) and per-element
/// counters. Rates are per hour so that the outcome does not depend on replay timing.
#[test]
fn set_element_statements_match_kernel() {
    if skip_oracle() {
        return;
    }
    let rs = "table inet filter {
	set seen {
		type ipv4_addr
		size 65535
		flags dynamic
	}
	set bytes6 {
		type ipv6_addr . inet_service
		flags dynamic,timeout
		timeout 1h
	}
	chain forward {
		type filter hook forward priority 0; policy accept;
		ct state new add @seen { ip saddr limit rate 1/hour burst 3 packets } counter
		ct state new counter
		update @bytes6 { ip6 saddr . th dport quota until 300 bytes counter } counter
		tcp dport 80 meter m80 { ip daddr . tcp sport limit rate over 1/hour burst 2 packets } counter drop
		counter
	}
}
";
    for pcap in ["demo.pcap", "edge.pcap"] {
        agree(&format!("element statements + {pcap}"), rs, pcap);
    }
}

/// `queue` without a listener: dropped, or with `bypass` accepted by the base chain (the next
/// base chain still sees the packet); queue numbers from a hash. The host kernel lacks
/// `nft_queue` (`CONFIG_NFT_QUEUE` unset), so this runs in the Debian 6.1 VM of
/// `kernel::vm` (skipped when it cannot be built). The `ct mark` rule makes the kernel
/// track connections (and so reassemble fragments, as offsim always does): without any
/// conntrack user in the ruleset the kernel's netns has no conntrack hooks and forwards
/// fragments one by one.
#[test]
fn queue_without_listener_matches_kernel_in_vm() {
    let rs = "table inet filter {
	chain fwd1 {
		type filter hook forward priority 0; policy accept;
		ct mark 0x1 counter
		tcp dport 22 counter queue flags bypass to 3
		tcp dport 80 counter queue to symhash mod 2
		udp dport 53 counter queue num 4-5 fanout
		counter
	}
	chain fwd2 {
		type filter hook forward priority 10; policy accept;
		counter
	}
}
";
    let jobs: Vec<kernel::OracleJob> = ["demo.pcap", "edge.pcap"]
        .iter()
        .map(|p| kernel::OracleJob::new(rs, &oracle_data(p), "lan0", "wan0", kernel::Sides::Single))
        .collect();
    let run = match kernel::vm::run_jobs(&jobs) {
        Ok(r) => r,
        Err(kernel::vm::VmError::Unavailable(why)) => {
            crate::util::skip(&format!("queue oracle VM: {why}"));
            return;
        }
        Err(e) => panic!("{e}"),
    };
    for (job, k) in jobs.iter().zip(&run.results) {
        let o = kernel::offsim_counters(job, KernelFlavour::New);
        let strip = |v: &[kernel::RuleCount]| -> Vec<(String, usize, u64, u64)> {
            v.iter()
                .map(|r| (r.chain.clone(), r.index, r.packets, r.bytes))
                .collect()
        };
        assert_eq!(
            strip(&k.rules),
            strip(&o.rules),
            "{}: rules",
            job.pcap.display()
        );
        let mut kp = k.policies.clone();
        let mut op = o.policies.clone();
        kp.sort();
        op.sort();
        assert_eq!(kp, op, "{}: policies", job.pcap.display());
        eprintln!(
            "queue + {} (kernel {}): {:?}",
            job.pcap.display(),
            k.kernel,
            strip(&k.rules)
        );
    }
}

/// Bitwise operations after a shift (`meta mark >> 8 & 0x3 vmap @m`, as in the corpus'
/// `vmap_mark_bitwise_0`), and shifts in `set` statements. nft 1.0.6 takes shifts only in
/// lookups and statements.
#[test]
fn shift_then_mask_matches_kernel() {
    if skip_oracle() {
        return;
    }
    let rs = "table inet filter {
	map m {
		type mark : verdict
		elements = { 0x00000000 : jump c0, 0x00000100 : jump c1, 0x00000200 : jump c2, 0x00000300 : jump c3 }
	}
	map n {
		type mark : verdict
		elements = { 0x00000000 : jump c0, 0x00000001 : jump c1, 0x00000002 : jump c2, 0x00000003 : jump c3 }
	}
	chain c0 {
		counter
	}
	chain c1 {
		counter
	}
	chain c2 {
		counter
	}
	chain c3 {
		counter
	}
	chain forward {
		type filter hook forward priority 0; policy accept;
		meta mark set numgen inc mod 16 counter
		meta mark << 6 & 0x300 vmap @m
		meta mark >> 2 & 0x3 vmap @n
		ct mark set meta mark >> 1 counter
		ct mark { 0x0, 0x1, 0x2 } counter
		counter
	}
}
";
    for pcap in ["demo.pcap", "edge.pcap"] {
        agree(&format!("shift + {pcap}"), rs, pcap);
    }
}

/// Concatenations of five fields: interval (pipapo) and exact lookups, and a dynamic
/// set keyed by an IPv6 five-tuple with a per-element limit. (`ct mark`: see the queue
/// test.)
#[test]
fn wide_concatenations_match_kernel() {
    if skip_oracle() {
        return;
    }
    let rs = "table inet filter {
	set five {
		type ipv4_addr . ipv4_addr . inet_proto . inet_service . inet_service
		flags interval
		elements = { 192.0.2.0/24 . 198.51.100.0-198.51.100.3 . tcp . 40000-40010 . 0-1023 }
	}
	set five6 {
		type ipv6_addr . inet_service . ifname . ipv6_addr . inet_service
		flags dynamic
	}
	chain forward {
		type filter hook forward priority 0; policy accept;
		ct mark 0x1 counter
		ip saddr . ip daddr . meta l4proto . th sport . th dport @five counter
		meta l4proto { tcp, udp } update @five6 { ip6 saddr . th sport . iifname . ip6 daddr . th dport limit rate over 1/hour burst 2 packets } counter
		ip saddr . ip daddr . meta l4proto . th sport . th dport { 192.0.2.10 . 198.51.100.53 . udp . 50001 . 53 } counter
		counter
	}
}
";
    for pcap in ["demo.pcap", "edge.pcap"] {
        agree(&format!("wide concatenations + {pcap}"), rs, pcap);
    }
}

/// `tcp option maxseg size` (the MSS option of SYNs; no option = no match) and `rt type`
/// (IPv6 routing header; none in these traces = no match), on generated traffic whose SYNs
/// carry MSS options.
#[test]
fn tcp_mss_option_and_routing_header_match_kernel() {
    if skip_oracle() {
        return;
    }
    use offsim_traces::r#gen::{GenConfig, Profile, Stop, generate_file};
    let tmp = kernel::TempDir::new("mss");
    let rs = "table inet filter {
	chain forward {
		type filter hook forward priority 0; policy accept;
		ct mark 0x1 counter
		tcp flags syn tcp option maxseg size 1-1400 counter
		tcp flags syn tcp option maxseg size 1401-1440 counter
		tcp flags syn tcp option maxseg size 1441-65535 counter
		tcp option maxseg size != 1460 counter
		tcp flags syn jump {
			tcp option maxseg size 1-1220 counter drop
			tcp option maxseg size 1460 counter
		}
		rt type 0 counter
		rt type != 0 counter
		counter
	}
}
";
    for (i, profile) in [Profile::HomeRouter, Profile::Enterprise]
        .iter()
        .enumerate()
    {
        let pcap = tmp.0.join(format!("{}.pcap", profile.name()));
        let cfg = GenConfig::new(*profile, 31 + i as u64, Stop::Packets(3_000));
        generate_file(&cfg, &pcap).unwrap();
        agree_at(
            &format!("mss + {}", profile.name()),
            rs,
            &pcap,
            "lan0",
            "wan0",
        );
    }
}

/// `ether saddr`/`daddr`/`type` at the forward hook read the frame the packet arrived in
/// (the harness frames every packet from s0's MAC to IIF's), and a set of MAC addresses
/// filled by the data path (as in the corpus' `0042update_set_0`).
#[test]
fn ether_matches_kernel() {
    if skip_oracle() {
        return;
    }
    let rs = "table inet filter {
	set macs {
		type ether_addr
		size 65535
		flags dynamic
	}
	chain forward {
		type filter hook forward priority 0; policy accept;
		ct mark 0x1 counter
		ether saddr 02:6f:66:00:00:10 counter
		ether daddr 02:6f:66:00:00:01 counter
		ether saddr != 02:6f:66:00:00:10 counter
		ether type ip counter
		ether type ip6 counter
		ether saddr . ip saddr { 02:6f:66:00:00:10 . 192.0.2.10 } counter
		add @macs { ether saddr counter } counter
		ether saddr @macs counter
		counter
	}
}
";
    for pcap in ["demo.pcap", "edge.pcap"] {
        agree(&format!("ether + {pcap}"), rs, pcap);
    }
}

/// `fwd to DEV` in a netdev ingress chain: the packet leaves on DEV from the ingress hook,
/// so the inet chains never count it (`nft_fwd_netdev_eval`, `NF_STOLEN`).
#[test]
fn fwd_to_device_matches_kernel() {
    if skip_oracle() {
        return;
    }
    let rs = "table netdev n {
	chain i {
		type filter hook ingress device \"lan0\" priority 0; policy accept;
		udp dport 53 counter fwd to \"wan0\"
		counter
	}
}
table inet filter {
	chain forward {
		type filter hook forward priority 0; policy accept;
		udp dport 53 counter
		ct state new counter
		counter
	}
}
";
    // `ct state` loads conntrack and with it defrag, which offsim always models.
    for pcap in ["demo.pcap", "edge.pcap"] {
        agree(&format!("fwd + {pcap}"), rs, pcap);
    }
}
