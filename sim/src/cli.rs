//! Human-readable output of the command line (tables and summaries).

use std::io::{self, Write};

use offsim_traces::info::TraceInfo;

fn fmt_ts(ns: Option<u64>) -> String {
    match ns {
        Some(ns) => format!("{}.{:09}", ns / 1_000_000_000, ns % 1_000_000_000),
        None => "-".to_string(),
    }
}

/// Prints `trace info` as aligned text.
pub fn print_trace_info(out: &mut impl Write, i: &TraceInfo) -> io::Result<()> {
    writeln!(out, "file:            {}", i.file)?;
    writeln!(
        out,
        "format:          {} ({}-endian)",
        i.format, i.byte_order
    )?;
    writeln!(out, "link type:       {}", i.link_types.join(", "))?;
    writeln!(out, "packets:         {}", i.packets)?;
    writeln!(
        out,
        "bytes:           {} (captured {})",
        i.bytes, i.captured_bytes
    )?;
    writeln!(out, "first timestamp: {}", fmt_ts(i.first_ts_ns))?;
    writeln!(out, "last timestamp:  {}", fmt_ts(i.last_ts_ns))?;
    writeln!(out, "duration:        {:.6} s", i.duration_s)?;
    writeln!(
        out,
        "ipv4 / ipv6 / non-ip: {} / {} / {}",
        i.ipv4, i.ipv6, i.non_ip
    )?;
    writeln!(
        out,
        "tcp / udp / icmp / other packets: {} / {} / {} / {}",
        i.protocols.tcp, i.protocols.udp, i.protocols.icmp, i.protocols.other
    )?;
    write!(out, "malformed:       {}", i.malformed)?;
    if !i.malformed_by_reason.is_empty() {
        let r: Vec<String> = i
            .malformed_by_reason
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        write!(out, " ({})", r.join(", "))?;
    }
    writeln!(out)?;
    writeln!(out, "snap-truncated:  {}", i.snap_truncated)?;
    writeln!(out, "fragments:       {}", i.fragments)?;
    writeln!(out, "vlan / pppoe:    {} / {}", i.vlan_tagged, i.pppoe)?;
    writeln!(
        out,
        "flows:           tcp {}  udp {}  icmp {}  other {}  total {}",
        i.flows.tcp, i.flows.udp, i.flows.icmp, i.flows.other, i.flows.total
    )?;
    if let Some(w) = &i.cut_short {
        writeln!(out, "warning: {w}")?;
    }
    Ok(())
}
