//! The declarative ruleset model: tables, chains, rules, sets, flowtables and objects, built
//! by applying [`Cmd`]s in order (the whole file is one transaction, as with `nft -f`).

use super::ast::*;
use super::error::{ErrorKind, NftError, SourceMap, Span};

/// A rule handle. Handles are assigned in load order and differ between equivalent text and
/// JSON inputs, so they never take part in equality.
#[derive(Clone, Copy, Debug, Default)]
pub struct Handle(pub u64);

impl PartialEq for Handle {
    fn eq(&self, _: &Handle) -> bool {
        true
    }
}
impl Eq for Handle {}

/// A chain in the model. Equality ignores the comment, which `nft -j` 1.0.6 does not print.
#[derive(Clone, Debug, Eq)]
pub struct ChainDef {
    /// Name.
    pub name: String,
    /// Base chain spec.
    pub base: Option<BaseSpec>,
    /// Policy accept (true) or drop.
    pub policy_accept: bool,
    /// Comment.
    pub comment: Option<String>,
    /// Rules with their handles.
    pub rules: Vec<(Handle, Rule)>,
    /// Where the chain was declared.
    pub span: Span,
    /// The anonymous chain of a chain binding (`jump { ... }`).
    pub binding: bool,
}

impl PartialEq for ChainDef {
    fn eq(&self, o: &ChainDef) -> bool {
        self.name == o.name
            && self.base == o.base
            && self.policy_accept == o.policy_accept
            && self.rules == o.rules
            && self.binding == o.binding
    }
}

/// A table in the model. Equality ignores the comment (`nft -j` 1.0.6 drops it).
#[derive(Clone, Debug, Eq)]
pub struct TableDef {
    /// Family.
    pub family: Family,
    /// Name.
    pub name: String,
    /// Flags.
    pub flags: Vec<String>,
    /// Comment.
    pub comment: Option<String>,
    /// Chains in declaration order.
    pub chains: Vec<ChainDef>,
    /// Sets and maps.
    pub sets: Vec<(SetDecl, Span)>,
    /// Flowtables.
    pub flowtables: Vec<(FlowtableDecl, Span)>,
    /// Named objects.
    pub objects: Vec<(String, ObjDecl, Span)>,
    /// Next handle to assign.
    pub next_handle: Handle,
    /// Where the table was declared.
    pub span: Span,
}

impl PartialEq for TableDef {
    fn eq(&self, o: &TableDef) -> bool {
        self.family == o.family
            && self.name == o.name
            && self.flags == o.flags
            && self.chains == o.chains
            && self.sets == o.sets
            && self.flowtables == o.flowtables
            && self.objects == o.objects
    }
}

/// The whole model.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Model {
    /// Tables in creation order.
    pub tables: Vec<TableDef>,
}

fn err(sm: &SourceMap, kind: ErrorKind, sp: Span, msg: String) -> NftError {
    sm.error(kind, sp, msg)
}

impl Model {
    fn table_idx(&self, family: Family, name: &str) -> Option<usize> {
        self.tables
            .iter()
            .position(|t| t.family == family && t.name == name)
    }

    fn table_mut(
        &mut self,
        sm: &SourceMap,
        family: Family,
        name: &str,
        sp: Span,
    ) -> Result<&mut TableDef, NftError> {
        match self.table_idx(family, name) {
            Some(i) => Ok(&mut self.tables[i]),
            None => Err(err(
                sm,
                ErrorKind::Invalid,
                sp,
                format!(
                    "No such file or directory; table '{name}' in family {family} does not exist"
                ),
            )),
        }
    }

    /// Applies one command.
    pub fn apply(&mut self, sm: &SourceMap, cmd: Cmd, sp: Span) -> Result<(), NftError> {
        match cmd {
            Cmd::AddTable {
                family,
                name,
                flags,
                comment,
                create,
            } => {
                if let Some(i) = self.table_idx(family, &name) {
                    if create {
                        return Err(err(
                            sm,
                            ErrorKind::Invalid,
                            sp,
                            format!("table '{name}' already exists"),
                        ));
                    }
                    let t = &mut self.tables[i];
                    for f in flags {
                        if !t.flags.contains(&f) {
                            t.flags.push(f);
                        }
                    }
                    if comment.is_some() {
                        t.comment = comment;
                    }
                } else {
                    self.tables.push(TableDef {
                        family,
                        name,
                        flags,
                        comment,
                        chains: Vec::new(),
                        sets: Vec::new(),
                        flowtables: Vec::new(),
                        objects: Vec::new(),
                        next_handle: Handle(1),
                        span: sp,
                    });
                }
            }
            Cmd::AddChain {
                family,
                table,
                name,
                base,
                policy,
                comment,
                create,
                binding,
            } => {
                let t = self.table_mut(sm, family, &table, sp)?;
                if let Some(c) = t.chains.iter_mut().find(|c| c.name == name) {
                    if binding || c.binding {
                        return Err(err(
                            sm,
                            ErrorKind::Invalid,
                            sp,
                            format!(
                                "chain '{name}' is the anonymous chain of a chain binding (`jump {{ ... }}`); another chain of that name cannot be added"
                            ),
                        ));
                    }
                    if create {
                        return Err(err(
                            sm,
                            ErrorKind::Invalid,
                            sp,
                            format!("chain '{name}' already exists"),
                        ));
                    }
                    if let Some(b) = base {
                        if let Some(old) = &c.base
                            && (old.hook != b.hook || old.ctype != b.ctype)
                        {
                            return Err(err(
                                sm,
                                ErrorKind::Invalid,
                                sp,
                                format!("chain '{name}' cannot change its type or hook"),
                            ));
                        }
                        c.base = Some(b);
                    }
                    if let Some(p) = policy {
                        c.policy_accept = p;
                    }
                    if comment.is_some() {
                        c.comment = comment;
                    }
                } else {
                    if policy.is_some() && base.is_none() {
                        return Err(err(
                            sm,
                            ErrorKind::Invalid,
                            sp,
                            "policy on a regular chain".into(),
                        ));
                    }
                    t.next_handle.0 += 1;
                    t.chains.push(ChainDef {
                        name,
                        base,
                        policy_accept: policy.unwrap_or(true),
                        comment,
                        rules: Vec::new(),
                        span: sp,
                        binding,
                    });
                }
            }
            Cmd::AddRule {
                family,
                table,
                chain,
                rule,
                pos,
            } => {
                let t = self.table_mut(sm, family, &table, sp)?;
                let h = t.next_handle;
                t.next_handle.0 += 1;
                let Some(c) = t.chains.iter_mut().find(|c| c.name == chain) else {
                    return Err(err(
                        sm,
                        ErrorKind::Invalid,
                        sp,
                        format!(
                            "No such file or directory; chain '{chain}' does not exist in table {family} {table}"
                        ),
                    ));
                };
                let by_handle = |c: &ChainDef, hd: u64| -> Result<usize, NftError> {
                    c.rules.iter().position(|(x, _)| x.0 == hd).ok_or_else(|| {
                        err(
                            sm,
                            ErrorKind::Invalid,
                            sp,
                            format!(
                                "Could not process rule: No such file or directory (handle {hd})"
                            ),
                        )
                    })
                };
                let by_index = |c: &ChainDef, i: u64| -> Result<usize, NftError> {
                    if (i as usize) < c.rules.len() {
                        Ok(i as usize)
                    } else {
                        Err(err(
                            sm,
                            ErrorKind::Invalid,
                            sp,
                            format!(
                                "Could not process rule: No such file or directory (index {i})"
                            ),
                        ))
                    }
                };
                match pos {
                    RulePos::Append => c.rules.push((h, rule)),
                    RulePos::Prepend => c.rules.insert(0, (h, rule)),
                    RulePos::AfterHandle(x) => {
                        let i = by_handle(c, x)?;
                        c.rules.insert(i + 1, (h, rule));
                    }
                    RulePos::BeforeHandle(x) => {
                        let i = by_handle(c, x)?;
                        c.rules.insert(i, (h, rule));
                    }
                    RulePos::AfterIndex(x) => {
                        let i = by_index(c, x)?;
                        c.rules.insert(i + 1, (h, rule));
                    }
                    RulePos::BeforeIndex(x) => {
                        let i = by_index(c, x)?;
                        c.rules.insert(i, (h, rule));
                    }
                    RulePos::Replace(x) => {
                        let i = by_handle(c, x)?;
                        c.rules[i] = (Handle(x), rule);
                    }
                }
            }
            Cmd::AddSet {
                family,
                table,
                decl,
                create,
            } => {
                let t = self.table_mut(sm, family, &table, sp)?;
                if let Some((d, _)) = t.sets.iter_mut().find(|(d, _)| d.name == decl.name) {
                    if create {
                        return Err(err(
                            sm,
                            ErrorKind::Invalid,
                            sp,
                            format!("set '{}' already exists", decl.name),
                        ));
                    }
                    d.elements.extend(decl.elements);
                } else {
                    t.next_handle.0 += 1;
                    t.sets.push((decl, sp));
                }
            }
            Cmd::Elements {
                family,
                table,
                set,
                elems,
                delete,
            } => {
                let t = self.table_mut(sm, family, &table, sp)?;
                let Some((d, _)) = t.sets.iter_mut().find(|(d, _)| d.name == set) else {
                    return Err(err(
                        sm,
                        ErrorKind::Invalid,
                        sp,
                        format!(
                            "No such file or directory; set '{set}' does not exist in table {family} {table}"
                        ),
                    ));
                };
                if delete {
                    // Deletion happens on unresolved keys; resolution is idempotent so
                    // compare the raw forms.
                    d.elements.retain(|e| !elems.iter().any(|x| x.key == e.key));
                } else {
                    d.elements.extend(elems);
                }
            }
            Cmd::AddFlowtable {
                family,
                table,
                decl,
                create,
            } => {
                let t = self.table_mut(sm, family, &table, sp)?;
                if let Some((d, _)) = t.flowtables.iter_mut().find(|(d, _)| d.name == decl.name) {
                    if create {
                        return Err(err(
                            sm,
                            ErrorKind::Invalid,
                            sp,
                            format!("flowtable '{}' already exists", decl.name),
                        ));
                    }
                    for dev in decl.devices {
                        if !d.devices.contains(&dev) {
                            d.devices.push(dev);
                        }
                    }
                    d.offload |= decl.offload;
                    d.counter |= decl.counter;
                } else {
                    t.next_handle.0 += 1;
                    t.flowtables.push((decl, sp));
                }
            }
            Cmd::AddObject {
                family,
                table,
                name,
                obj,
                create,
            } => {
                let t = self.table_mut(sm, family, &table, sp)?;
                let kind = obj_kind(&obj);
                if let Some(o) = t
                    .objects
                    .iter_mut()
                    .find(|(n, o, _)| *n == name && obj_kind(o) == kind)
                {
                    if create {
                        return Err(err(
                            sm,
                            ErrorKind::Invalid,
                            sp,
                            format!("object '{name}' already exists"),
                        ));
                    }
                    o.1 = obj;
                } else {
                    t.next_handle.0 += 1;
                    t.objects.push((name, obj, sp));
                }
            }
            Cmd::Delete {
                kind,
                family,
                table,
                name,
                handle,
                destroy,
            } => {
                let missing = |what: String| -> Result<(), NftError> {
                    if destroy {
                        Ok(())
                    } else {
                        Err(err(
                            sm,
                            ErrorKind::Invalid,
                            sp,
                            format!("No such file or directory; {what} does not exist"),
                        ))
                    }
                };
                let Some(ti) = self.table_idx(family, &table) else {
                    return missing(format!("table '{table}' in family {family}"));
                };
                match kind {
                    ObjKind::Table => {
                        self.tables.remove(ti);
                    }
                    ObjKind::Chain => {
                        let t = &mut self.tables[ti];
                        let n = name.unwrap_or_default();
                        let before = t.chains.len();
                        t.chains.retain(|c| c.name != n);
                        if before == t.chains.len() {
                            return missing(format!("chain '{n}'"));
                        }
                    }
                    ObjKind::Rule => {
                        let t = &mut self.tables[ti];
                        let n = name.unwrap_or_default();
                        let Some(c) = t.chains.iter_mut().find(|c| c.name == n) else {
                            return missing(format!("chain '{n}'"));
                        };
                        let h = handle.unwrap_or(0);
                        let before = c.rules.len();
                        c.rules.retain(|(x, _)| x.0 != h);
                        if before == c.rules.len() {
                            return missing(format!("rule handle {h}"));
                        }
                    }
                    ObjKind::Set | ObjKind::Map => {
                        let t = &mut self.tables[ti];
                        let n = name.unwrap_or_default();
                        let before = t.sets.len();
                        t.sets.retain(|(d, _)| d.name != n);
                        if before == t.sets.len() {
                            return missing(format!("set '{n}'"));
                        }
                    }
                    ObjKind::Flowtable => {
                        let t = &mut self.tables[ti];
                        let n = name.unwrap_or_default();
                        let before = t.flowtables.len();
                        t.flowtables.retain(|(d, _)| d.name != n);
                        if before == t.flowtables.len() {
                            return missing(format!("flowtable '{n}'"));
                        }
                    }
                    ObjKind::Object => {
                        let t = &mut self.tables[ti];
                        let n = name.unwrap_or_default();
                        t.objects.retain(|(x, _, _)| *x != n);
                    }
                    ObjKind::Ruleset | ObjKind::Element => {}
                }
            }
            Cmd::Flush {
                kind,
                family,
                table,
                name,
            } => match kind {
                ObjKind::Ruleset => match family {
                    None => self.tables.clear(),
                    Some(f) => self.tables.retain(|t| t.family != f),
                },
                ObjKind::Table => {
                    let t = self.table_mut(sm, family.unwrap_or(Family::Ip), &table, sp)?;
                    for c in &mut t.chains {
                        c.rules.clear();
                    }
                }
                ObjKind::Chain => {
                    let t = self.table_mut(sm, family.unwrap_or(Family::Ip), &table, sp)?;
                    let n = name.unwrap_or_default();
                    let Some(c) = t.chains.iter_mut().find(|c| c.name == n) else {
                        return Err(err(
                            sm,
                            ErrorKind::Invalid,
                            sp,
                            format!("No such file or directory; chain '{n}' does not exist"),
                        ));
                    };
                    c.rules.clear();
                }
                ObjKind::Set | ObjKind::Map => {
                    let t = self.table_mut(sm, family.unwrap_or(Family::Ip), &table, sp)?;
                    let n = name.unwrap_or_default();
                    let Some((d, _)) = t.sets.iter_mut().find(|(d, _)| d.name == n) else {
                        return Err(err(
                            sm,
                            ErrorKind::Invalid,
                            sp,
                            format!("No such file or directory; set '{n}' does not exist"),
                        ));
                    };
                    d.elements.clear();
                }
                _ => {}
            },
        }
        Ok(())
    }
}

/// Kind name of an object declaration.
pub fn obj_kind(o: &ObjDecl) -> &str {
    match o {
        ObjDecl::Counter { .. } => "counter",
        ObjDecl::Quota(_) => "quota",
        ObjDecl::Limit(_) => "limit",
        ObjDecl::CtHelper { .. } => "ct helper",
        ObjDecl::CtTimeout { .. } => "ct timeout",
        ObjDecl::Other(s) => s,
    }
}
