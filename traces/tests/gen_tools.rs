//! Generated traces checked by independent tools: `tcpdump -vv` (verifies IP/TCP/UDP/ICMP
//! checksums and prints malformed headers) and `tshark`'s expert info with checksum
//! validation on (malformed packets, bad checksums, TCP sequence analysis: ACKs of unseen
//! segments, missing segments, out-of-order, window problems). Skips with a message when
//! the tools are not installed.

use std::path::{Path, PathBuf};
use std::process::Command;

use offsim_traces::r#gen::{Profile, generate_file};

use crate::util::{N, gen_config};

fn have(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

fn trace(p: Profile, seed: u64) -> PathBuf {
    let path = std::env::temp_dir().join(format!(
        "offsim-gen-tools-{}-{}-{seed}.pcap",
        std::process::id(),
        p.name()
    ));
    let s = generate_file(&gen_config(p, seed, N), &path).unwrap();
    assert_eq!(s.packets, N);
    path
}

fn tcpdump_clean(path: &Path) {
    let out = Command::new("tcpdump")
        .args(["-nn", "-vv", "-r"])
        .arg(path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "tcpdump failed: {stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        let l = line.to_ascii_lowercase();
        // tcpdump -v looks for RFC 4884 extensions in any ICMP unreachable/time-exceeded
        // longer than 136 bytes (print-icmp.c, ICMP_EXTD_MINLEN) and marks a quote that ends
        // within 4 bytes of that offset as cut short. Such a message is valid.
        if l.ends_with("[|icmp]")
            && i >= 2
            && ["length 137", "length 138", "length 139"]
                .iter()
                .any(|s| lines[i - 2].ends_with(s))
        {
            continue;
        }
        for bad in [
            "bad cksum",
            "incorrect",
            "[|",
            "truncated",
            "malformed",
            "bogus",
        ] {
            assert!(
                !l.contains(bad),
                "{}: tcpdump line {i} reports `{bad}`: {line}",
                path.display()
            );
        }
        // `[bad udp cksum ...]`, `[bad tcp cksum ...]`, `bad length` …
        assert!(!l.contains("[bad "), "{}: {line}", path.display());
    }
}

/// Expert-info lines (frequency, group, protocol, summary) by severity section.
fn tshark_expert(path: &Path) -> Vec<(String, String)> {
    let out = Command::new("tshark")
        .args([
            "-n",
            "-o",
            "tcp.check_checksum:TRUE",
            "-o",
            "udp.check_checksum:TRUE",
            "-o",
            "ip.check_checksum:TRUE",
            "-q",
            "-z",
            "expert",
            "-r",
        ])
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "tshark failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let mut section = String::new();
    let mut items = Vec::new();
    for line in text.lines() {
        let t = line.trim();
        if let Some(name) = t.split(" (").next()
            && matches!(name, "Errors" | "Warns" | "Notes" | "Chats" | "Comments")
            && t.ends_with(')')
        {
            section = name.to_string();
            continue;
        }
        if t.is_empty() || t.starts_with('=') || t.starts_with("Frequency") {
            continue;
        }
        items.push((section.clone(), t.to_string()));
    }
    items
}

fn tshark_count(path: &Path) -> u64 {
    let out = Command::new("tshark")
        .args(["-n", "-T", "fields", "-e", "frame.number", "-r"])
        .arg(path)
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout).lines().count() as u64
}

#[test]
fn tools_accept_every_profile() {
    if !have("tshark") || !have("tcpdump") {
        eprintln!("skipping tools_accept_every_profile: tshark and/or tcpdump not installed");
        return;
    }
    for p in Profile::ALL {
        for seed in [1u64, 2] {
            let path = trace(p, seed);
            tcpdump_clean(&path);
            assert_eq!(tshark_count(&path), N, "{p}: tshark packet count");
            for (sev, item) in tshark_expert(&path) {
                match sev.as_str() {
                    "Errors" => panic!("{p} seed {seed}: tshark error: {item}"),
                    // A reset is a warning in tshark's eyes; the generator sends them on
                    // purpose (closed ports, aborted connections, scans).
                    "Warns" => assert!(
                        item.contains("Connection reset (RST)"),
                        "{p} seed {seed}: tshark warning: {item}"
                    ),
                    "Notes" => assert!(
                        item.contains("connection closing")
                            || item.contains("\"Time To Live\" only 1")
                            || item.contains("Hop Limit")
                            || (p == Profile::Synflood && item.contains("retransmission")),
                        "{p} seed {seed}: tshark note: {item}"
                    ),
                    _ => {}
                }
            }
            let _ = std::fs::remove_file(&path);
        }
    }
}
