//! Text output of `offsim rules check`.

use std::io::{self, Write};

use super::Ruleset;

/// Writes the `rules check` summary: counts, then one line per table and base chain.
pub fn write_summary(out: &mut impl Write, rs: &Ruleset) -> io::Result<()> {
    let s = rs.summary();
    writeln!(out, "ruleset:    {}", rs.name())?;
    writeln!(out, "tables:     {}", s.tables)?;
    writeln!(out, "chains:     {} ({} base)", s.chains, s.base_chains)?;
    writeln!(out, "rules:      {}", s.rules)?;
    writeln!(out, "sets:       {}", s.sets)?;
    writeln!(out, "maps:       {}", s.maps)?;
    writeln!(out, "flowtables: {}", s.flowtables)?;
    writeln!(out, "objects:    {}", s.objects)?;
    for (ti, t) in rs.tables().iter().enumerate() {
        writeln!(
            out,
            "table {} {}{}",
            t.family,
            t.name,
            if t.dormant { " (dormant)" } else { "" }
        )?;
        for c in rs.chains().iter().filter(|c| c.table == ti) {
            match (c.ctype, c.hook) {
                (Some(ty), Some(h)) => writeln!(
                    out,
                    "  chain {:<24} type {} hook {} priority {} policy {}  {} rules",
                    c.name,
                    ty.name(),
                    h.name(),
                    c.priority,
                    if c.policy_accept { "accept" } else { "drop" },
                    c.rules.len()
                )?,
                _ => writeln!(out, "  chain {:<24} {} rules", c.name, c.rules.len())?,
            }
        }
        for f in rs.flowtables().iter().filter(|f| f.table == t.name) {
            writeln!(
                out,
                "  flowtable {} priority {} devices {{ {} }}{}{}",
                f.name,
                f.priority,
                f.devices.join(", "),
                if f.offload { " flags offload" } else { "" },
                if f.counter { " counter" } else { "" }
            )?;
        }
    }
    Ok(())
}
