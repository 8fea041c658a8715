//! Validation and normalisation of the model before compilation: base chain hooks and
//! types per family, object declarations, every table's sets and rules through
//! [`Normalizer`], and jump/goto loops and depth.

use super::info::ct_timeout_states;
use crate::ast::*;
use crate::error::{ErrorKind, NftError, SourceMap, Span};
use crate::model::{Model, TableDef, obj_kind};
use crate::normalize::{DeviceTable, Normalizer, SetSig, mk_err};

/// Validates and normalises every table of the model in place.
pub(super) fn normalize_model(
    sm: &SourceMap,
    model: &mut Model,
    devices: &mut DeviceTable,
    utc_offset_s: i32,
) -> Result<(), NftError> {
    for t in &mut model.tables {
        for c in &t.chains {
            if let Some(b) = &c.base {
                validate_base(sm, t.family, b, c.span)?;
            }
        }
        check_objects(sm, t)?;
        normalize_table(sm, t, devices, utc_offset_s)?;
    }
    Ok(())
}

/// Base chain hooks and chain types valid for the family (nft `chain_evaluate`,
/// kernel `nf_tables_addchain`).
fn validate_base(sm: &SourceMap, fam: Family, b: &BaseSpec, sp: Span) -> Result<(), NftError> {
    let bad = |m: String| Err(sm.error(ErrorKind::Invalid, sp, m));
    match fam {
        Family::Bridge => {
            // Bridge hooks see frames crossing a bridge, routed ones included (a LAN port's
            // frame to the router passes bridge prerouting and input first); the simulator
            // has no bridge layer. Tables without base chains never run and load fine.
            return Err(sm.error(
                ErrorKind::Unsupported,
                sp,
                "unsupported: base chains of family bridge (the bridge layer is not simulated)",
            ));
        }
        Family::Arp => {
            // nft's arp family: filter chains on input and output (NF_ARP_IN/NF_ARP_OUT).
            if !matches!(b.hook, Hook::Input | Hook::Output) {
                return bad(format!("hook {} is not valid in the arp family", b.hook));
            }
            if b.ctype != ChainType::Filter {
                return bad(format!("chain type {} is not valid in arp", b.ctype.name()));
            }
        }
        Family::Netdev => {
            if !matches!(b.hook, Hook::Ingress | Hook::Egress) {
                return bad(format!("hook {} is not valid in the netdev family", b.hook));
            }
            if b.devices.is_empty() {
                return bad("netdev chains need a device".into());
            }
            if b.ctype != ChainType::Filter {
                return bad(format!(
                    "chain type {} is not valid in netdev",
                    b.ctype.name()
                ));
            }
        }
        _ => {
            if b.hook == Hook::Egress {
                return bad(format!("hook egress is not valid in the {fam} family"));
            }
            if b.hook == Hook::Ingress {
                if fam != Family::Inet {
                    return bad(format!("hook ingress is not valid in the {fam} family"));
                }
                if b.devices.is_empty() {
                    return bad("inet ingress chains need a device".into());
                }
            }
        }
    }
    match b.ctype {
        ChainType::Nat => {
            if matches!(b.hook, Hook::Forward | Hook::Ingress | Hook::Egress) {
                return bad(format!("nat chains cannot use hook {}", b.hook));
            }
            // net/netfilter/nft_chain_nat.c / nf_tables_api.c: NAT needs conntrack first
            if b.priority <= -200 {
                return bad(
                    "Could not process rule: Operation not supported (nat chain priority must be above conntrack's -200)"
                        .into(),
                );
            }
        }
        ChainType::Route => {
            if b.hook != Hook::Output || !matches!(fam, Family::Ip | Family::Ip6 | Family::Inet) {
                return bad(
                    "route chains are only valid on the output hook of ip, ip6 and inet".into(),
                );
            }
        }
        ChainType::Filter => {}
    }
    Ok(())
}

/// Object declarations: a packet limit without a burst gets the default of 5; a `ct timeout`
/// policy names only states of its protocol.
fn check_objects(sm: &SourceMap, t: &mut TableDef) -> Result<(), NftError> {
    for (name, o, sp) in &mut t.objects {
        if let ObjDecl::Limit(l) = o
            && l.unit == LimitUnit::Packets
            && l.burst == 0
        {
            l.burst = 5;
        }
        if let ObjDecl::CtTimeout {
            protocol, policy, ..
        } = o
        {
            let ok = ct_timeout_states(*protocol);
            if let Some((st, _)) = policy.iter().find(|(s, _)| !ok.contains(&s.as_str())) {
                return Err(sm.error(
                    ErrorKind::Invalid,
                    *sp,
                    format!(
                        "ct timeout {name}: unknown state {st} for protocol {protocol} (expected one of {})",
                        ok.join(", ")
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// Normalises a table's sets (first: rules reference them) and rules.
fn normalize_table(
    sm: &SourceMap,
    t: &mut TableDef,
    devices: &mut DeviceTable,
    utc_offset_s: i32,
) -> Result<(), NftError> {
    let mut n = Normalizer {
        utc_offset_s,
        sm,
        family: t.family,
        sets: Vec::new(),
        chains: t.chains.iter().map(|c| c.name.clone()).collect(),
        flowtables: t.flowtables.iter().map(|(f, _)| f.name.clone()).collect(),
        objects: t
            .objects
            .iter()
            .map(|(name, o, _)| (obj_kind(o).to_string(), name.clone()))
            .collect(),
        devices,
    };
    let sets = std::mem::take(&mut t.sets);
    let mut out = Vec::with_capacity(sets.len());
    for (d, sp) in sets {
        let d = n.set_decl(d).map_err(|m| mk_err(sm, sp, m))?;
        n.sets.push(SetSig {
            name: d.name.clone(),
            key: d.key.clone(),
            data: d.data.clone(),
            is_map: d.is_map,
        });
        out.push((d, sp));
    }
    t.sets = out;
    for c in &mut t.chains {
        let rules = std::mem::take(&mut c.rules);
        for (h, r) in rules {
            let r = n.rule(r)?;
            c.rules.push((h, r));
        }
    }
    Ok(())
}

/// Jumps and gotos between the chains of a table (chain positions), with the span of the
/// rule: verdicts and the verdicts of verdict maps.
type JumpEdges = Vec<Vec<(usize, Span)>>;

fn jump_edges(t: &TableDef) -> JumpEdges {
    let idx = |name: &str| t.chains.iter().position(|c| c.name == name);
    let mut edges: JumpEdges = vec![Vec::new(); t.chains.len()];
    for (ci, ch) in t.chains.iter().enumerate() {
        for (_, r) in &ch.rules {
            let mut add = |v: &Verdict| {
                if let Verdict::Jump(x) | Verdict::Goto(x) = v
                    && let Some(j) = idx(x)
                {
                    edges[ci].push((j, r.span));
                }
            };
            let map_verdicts = |el: &[SetElem], add: &mut dyn FnMut(&Verdict)| {
                for e in el {
                    if let Some(Expr::Verdict(v)) = &e.data {
                        add(v);
                    }
                }
            };
            for s in &r.stmts {
                match s {
                    Stmt::Verdict(v) => add(v),
                    Stmt::Vmap {
                        data: Expr::Set(el),
                        ..
                    } => map_verdicts(el, &mut add),
                    Stmt::Vmap {
                        data: Expr::SetRef(m),
                        ..
                    } => {
                        if let Some((d, _)) = t.sets.iter().find(|(d, _)| d.name == *m) {
                            map_verdicts(&d.elements, &mut add);
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    edges
}

/// Rejects jump/goto loops and chains nested deeper than the kernel's 16-level jump stack
/// (`nft_chain_validate`: `-EMLINK` at level 16, `-ELOOP` on a cycle).
pub(super) fn check_loops(sm: &SourceMap, model: &Model) -> Result<(), NftError> {
    for t in &model.tables {
        let edges = jump_edges(t);
        check_cycles(sm, t, &edges)?;
        check_depth(sm, t, &edges)?;
    }
    Ok(())
}

/// Cycle detection (iterative DFS colours).
fn check_cycles(sm: &SourceMap, t: &TableDef, edges: &JumpEdges) -> Result<(), NftError> {
    let n = t.chains.len();
    let mut colour = vec![0u8; n];
    for start in 0..n {
        if colour[start] != 0 {
            continue;
        }
        let mut stack = vec![(start, 0usize)];
        colour[start] = 1;
        while let Some(&mut (v, ref mut i)) = stack.last_mut() {
            if *i < edges[v].len() {
                let (w, sp) = edges[v][*i];
                *i += 1;
                if colour[w] == 1 {
                    return Err(sm.error(
                        ErrorKind::Invalid,
                        sp,
                        format!(
                            "Could not process rule: Too many levels of symbolic links (loop through chain '{}')",
                            t.chains[w].name
                        ),
                    ));
                }
                if colour[w] == 0 {
                    colour[w] = 1;
                    stack.push((w, 0));
                }
            } else {
                colour[v] = 2;
                stack.pop();
            }
        }
    }
    Ok(())
}

/// Depth from base chains (the graph is acyclic now): the longest path.
fn check_depth(sm: &SourceMap, t: &TableDef, edges: &JumpEdges) -> Result<(), NftError> {
    fn longest(v: usize, edges: &JumpEdges, memo: &mut [Option<u32>]) -> u32 {
        if let Some(d) = memo[v] {
            return d;
        }
        let d = edges[v]
            .iter()
            .map(|(w, _)| 1 + longest(*w, edges, memo))
            .max()
            .unwrap_or(0);
        memo[v] = Some(d);
        d
    }
    let mut depth: Vec<Option<u32>> = vec![None; t.chains.len()];
    for (ci, ch) in t.chains.iter().enumerate() {
        if ch.base.is_some() && longest(ci, edges, &mut depth) >= 16 {
            return Err(sm.error(
                ErrorKind::Invalid,
                ch.span,
                format!(
                    "Could not process rule: Too many links (jumps from base chain '{}' nest deeper than 16)",
                    ch.name
                ),
            ));
        }
    }
    Ok(())
}
