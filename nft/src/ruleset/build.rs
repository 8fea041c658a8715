//! Compiles a normalised model into a [`Ruleset`]: chain, flowtable, object and set ids,
//! the compiled program, and the descriptions the query API returns. Tables compile one
//! after the other: flowtables, objects, named sets, then the rules of each chain.

use super::info::*;
use super::{LoadOptions, Ruleset};
use crate::ast::{Expr, ObjDecl, SetDecl, Stmt};
use crate::compile::{Compiler, SetDesc, TableScope};
use crate::error::{NftError, SourceMap};
use crate::model::{Model, TableDef, obj_kind};
use crate::normalize::{DeviceTable, mk_err};
use crate::program::*;

/// Everything built so far, in ruleset-wide id order.
#[derive(Default)]
struct Builder {
    c: Compiler,
    tables: Vec<TableInfo>,
    chains: Vec<ChainInfo>,
    rules: Vec<RuleInfo>,
    flowtables: Vec<FlowtableInfo>,
    sets: Vec<SetInfo>,
    objects: Vec<ObjectInfo>,
    crules: Vec<CRule>,
    cchains: Vec<CChain>,
}

/// Compiles `model` (normalised and validated) into a ruleset named `name`.
pub(super) fn compile_model(
    sm: &SourceMap,
    model: Model,
    devices: DeviceTable,
    name: &str,
    opts: &LoadOptions,
) -> Result<Ruleset, NftError> {
    let mut b = Builder::default();
    let chain_ids = b.tables_and_chains(&model);
    for (t, chain_ids) in model.tables.iter().zip(&chain_ids) {
        let fts = b.flowtables(t);
        let objs = b.objects(t);
        let mut sc = TableScope {
            family: t.family,
            chains: chain_ids,
            sets: &[],
            flowtables: &fts,
            objects: &objs,
            seed: opts.seed,
        };
        let set_ids = b.named_sets(sm, t, &sc)?;
        sc.sets = &set_ids;
        b.chain_rules(sm, t, &sc)?;
    }
    let Builder {
        c: Compiler { mut prog, .. },
        tables,
        chains,
        rules,
        flowtables,
        sets,
        objects,
        crules,
        cchains,
    } = b;
    prog.rules = crules;
    prog.chains = cchains;
    prog.find_runs();
    Ok(Ruleset {
        prog,
        name: name.to_string(),
        model,
        tables,
        chains,
        rules,
        flowtables,
        sets,
        objects,
        devices,
    })
}

impl Builder {
    /// Table and chain descriptions; returns the chain ids of each table by name.
    fn tables_and_chains(&mut self, model: &Model) -> Vec<Vec<(String, ChainId)>> {
        let mut chain_ids = Vec::new();
        for t in &model.tables {
            let mut v = Vec::new();
            for ch in &t.chains {
                let id = self.chains.len() as ChainId;
                v.push((ch.name.clone(), id));
                let base = ch.base.as_ref();
                self.chains.push(ChainInfo {
                    id,
                    table: self.tables.len(),
                    family: t.family,
                    table_name: t.name.clone(),
                    name: ch.name.clone(),
                    ctype: base.map(|b| b.ctype),
                    hook: base.map(|b| b.hook),
                    priority: base.map(|b| b.priority).unwrap_or(0),
                    policy_accept: ch.policy_accept,
                    devices: base.map(|b| b.devices.clone()).unwrap_or_default(),
                    rules: 0..0,
                });
            }
            chain_ids.push(v);
            self.tables.push(TableInfo {
                family: t.family,
                name: t.name.clone(),
                dormant: t.flags.iter().any(|f| f == "dormant"),
                comment: t.comment.clone(),
            });
        }
        chain_ids
    }

    /// The table's flowtables: ids by name.
    fn flowtables(&mut self, t: &TableDef) -> Vec<(String, FlowtableId)> {
        t.flowtables
            .iter()
            .map(|(f, _)| {
                let id = self.flowtables.len() as FlowtableId;
                self.flowtables.push(FlowtableInfo {
                    id,
                    name: f.name.clone(),
                    table: t.name.clone(),
                    family: t.family,
                    priority: f.priority,
                    devices: f.devices.clone(),
                    offload: f.offload,
                    counter: f.counter,
                });
                (f.name.clone(), id)
            })
            .collect()
    }

    /// The table's named objects: (kind, name, object id, limit/quota slot), with their
    /// limit and quota specs and initial counter values in the program.
    fn objects(&mut self, t: &TableDef) -> Vec<(String, String, u32, u32)> {
        let prog = &mut self.c.prog;
        let mut objs = Vec::new();
        for (oname, o, _) in &t.objects {
            let id = self.objects.len() as u32;
            let slot = match o {
                ObjDecl::Limit(l) => {
                    prog.limits.push(Program::limit_spec(l));
                    prog.limits.len() as u32 - 1
                }
                ObjDecl::Quota(q) => {
                    prog.quotas.push(Program::quota_spec(q));
                    prog.quotas.len() as u32 - 1
                }
                _ => 0,
            };
            prog.named_counter_init.push(match o {
                ObjDecl::Counter { packets, bytes } => Counter {
                    packets: *packets,
                    bytes: *bytes,
                },
                _ => Counter::default(),
            });
            objs.push((obj_kind(o).to_string(), oname.clone(), id, slot));
            self.objects.push(ObjectInfo {
                id: id as usize,
                kind: obj_kind(o).to_string(),
                name: oname.clone(),
                table: t.name.clone(),
                family: t.family,
                helper: match o {
                    ObjDecl::CtHelper { htype, .. } => Some(htype.clone()),
                    _ => None,
                },
                helper_protocol: match o {
                    ObjDecl::CtHelper { protocol, .. } => Some(*protocol),
                    _ => None,
                },
                ct_timeout: match o {
                    ObjDecl::CtTimeout {
                        protocol,
                        l3proto,
                        policy,
                    } => Some(CtTimeoutInfo {
                        protocol: *protocol,
                        l3proto: *l3proto,
                        policy: policy.clone(),
                    }),
                    _ => None,
                },
            });
        }
        objs
    }

    /// The table's named sets and maps: set ids by name. A set is dynamic when a rule
    /// updates it or it is flagged dynamic or timeout.
    fn named_sets(
        &mut self,
        sm: &SourceMap,
        t: &TableDef,
        sc: &TableScope,
    ) -> Result<Vec<(String, u32)>, NftError> {
        let mut updated: Vec<&str> = Vec::new();
        for ch in &t.chains {
            for (_, r) in &ch.rules {
                for s in &r.stmts {
                    if let Stmt::SetUpdate { set, .. } = s {
                        updated.push(set);
                    }
                }
            }
        }
        let mut set_ids = Vec::new();
        for (d, sp) in &t.sets {
            let dynamic = updated.contains(&d.name.as_str())
                || d.flags.iter().any(|f| f == "dynamic" || f == "timeout");
            let id = self
                .named_set(sc, d, dynamic)
                .map_err(|m| mk_err(sm, *sp, m))?;
            set_ids.push((d.name.clone(), id));
            self.sets.push(SetInfo {
                id: id as usize,
                name: d.name.clone(),
                table: t.name.clone(),
                family: t.family,
                is_map: d.is_map,
                key: d.key.clone(),
                data: d.data.clone(),
                flags: d.flags.clone(),
                elements: d.elements.len(),
            });
        }
        Ok(set_ids)
    }

    /// Compiles one named set: its elements, their stateful statements, and the set's
    /// timeout, size and per-element statements.
    fn named_set(&mut self, sc: &TableScope, d: &SetDecl, dynamic: bool) -> Result<u32, String> {
        let prog = &mut self.c.prog;
        let widths: Vec<u32> = d.key.iter().map(|k| k.bits()).collect();
        let objkind = d.obj_type.as_deref();
        let mut f = |e: &Expr| Compiler::data_conv(sc, e, objkind);
        let flag = |n: &str| d.flags.iter().any(|f| f == n);
        let desc = SetDesc {
            size_known: d.size.is_some() || flag("constant"),
            interval: flag("interval") || d.auto_merge,
            timeout_or_eval: dynamic || d.timeout.is_some(),
            map: d.is_map || d.obj_type.is_some(),
            exprs: d.counter || !d.stmts.is_empty(),
        };
        let id = prog.build_set(&widths, &d.elements, &mut f, dynamic, desc)?;
        prog.set_static_exprs(id, &d.elements)?;
        if let Some(st) = d
            .stmts
            .iter()
            .find(|s| matches!(s.as_str(), "limit" | "quota" | "ct"))
            && (dynamic || !d.elements.is_empty())
        {
            return Err(format!(
                "unsupported: `{st}` declared for every element of set '{}'",
                d.name
            ));
        }
        let default_exprs = if d.counter {
            prog.elem_exprs_of(&[Stmt::Counter])?
        } else {
            NO_EXPRS
        };
        let s = &mut prog.sets[id as usize];
        s.timeout_ms = d.timeout;
        s.max_size = d.size.unwrap_or(0);
        s.default_exprs = default_exprs;
        Ok(id)
    }

    /// Compiles the rules of every chain of the table.
    fn chain_rules(
        &mut self,
        sm: &SourceMap,
        t: &TableDef,
        sc: &TableScope,
    ) -> Result<(), NftError> {
        for ((_, chain_id), ch) in sc.chains.iter().zip(&t.chains) {
            let first = self.rules.len();
            for (idx, (h, r)) in ch.rules.iter().enumerate() {
                let compiled = self.c.rule(sm, sc, r)?;
                self.crules.push(compiled.rule);
                self.rules.push(RuleInfo {
                    id: self.rules.len(),
                    chain: *chain_id,
                    index: idx,
                    handle: h.0,
                    text: r.to_string(),
                    comment: r.comment.clone(),
                    counter_slots: compiled.counter_slots,
                    named_counters: compiled.named_counters,
                });
            }
            self.chains[*chain_id as usize].rules = first..self.rules.len();
            self.cchains.push(CChain {
                first_rule: first as u32,
                n_rules: (self.rules.len() - first) as u32,
                policy_accept: ch.policy_accept,
            });
        }
        Ok(())
    }
}
