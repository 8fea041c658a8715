//! The declarative ruleset model: tables, chains, rules, sets, flowtables and objects, built
//! by applying the parsers' commands in order (the whole file is one transaction, as with `nft -f`).

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

/// Where the command being applied is, for its errors (all `Invalid`).
#[derive(Clone, Copy)]
struct At<'a> {
    sm: &'a SourceMap,
    sp: Span,
}

impl At<'_> {
    fn err(self, msg: String) -> NftError {
        self.sm.error(ErrorKind::Invalid, self.sp, msg)
    }
    /// A missing object: an error, or nothing for `destroy`.
    fn missing(self, destroy: bool, what: String) -> Result<(), NftError> {
        if destroy {
            Ok(())
        } else {
            Err(self.err(format!("No such file or directory; {what} does not exist")))
        }
    }
}

impl Model {
    fn table_idx(&self, family: Family, name: &str) -> Option<usize> {
        self.tables
            .iter()
            .position(|t| t.family == family && t.name == name)
    }

    fn table_mut(&mut self, at: At, family: Family, name: &str) -> Result<&mut TableDef, NftError> {
        match self.table_idx(family, name) {
            Some(i) => Ok(&mut self.tables[i]),
            None => Err(at.err(format!(
                "No such file or directory; table '{name}' in family {family} does not exist"
            ))),
        }
    }

    /// Applies one command.
    pub(crate) fn apply(&mut self, sm: &SourceMap, cmd: Cmd, sp: Span) -> Result<(), NftError> {
        let at = At { sm, sp };
        match cmd {
            Cmd::AddTable {
                family,
                name,
                flags,
                comment,
                create,
            } => self.add_table(at, family, name, flags, comment, create),
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
                let chain = ChainDef {
                    name,
                    base,
                    policy_accept: policy.unwrap_or(true),
                    comment,
                    rules: Vec::new(),
                    span: sp,
                    binding,
                };
                let t = self.table_mut(at, family, &table)?;
                add_chain(t, at, chain, policy.is_some(), create)
            }
            Cmd::AddRule {
                family,
                table,
                chain,
                rule,
                pos,
            } => add_rule(self.table_mut(at, family, &table)?, at, &chain, rule, pos),
            Cmd::AddSet {
                family,
                table,
                decl,
                create,
            } => add_set(self.table_mut(at, family, &table)?, at, decl, create),
            Cmd::Elements {
                family,
                table,
                set,
                elems,
                delete,
            } => elements(self.table_mut(at, family, &table)?, at, &set, elems, delete),
            Cmd::AddFlowtable {
                family,
                table,
                decl,
                create,
            } => add_flowtable(self.table_mut(at, family, &table)?, at, decl, create),
            Cmd::AddObject {
                family,
                table,
                name,
                obj,
                create,
            } => add_object(self.table_mut(at, family, &table)?, at, name, obj, create),
            Cmd::Delete {
                kind,
                family,
                table,
                name,
                handle,
                destroy,
            } => {
                let Some(ti) = self.table_idx(family, &table) else {
                    return at.missing(destroy, format!("table '{table}' in family {family}"));
                };
                if kind == ObjKind::Table {
                    self.tables.remove(ti);
                    return Ok(());
                }
                let what = DeleteWhat {
                    kind,
                    name: name.unwrap_or_default(),
                    handle,
                    destroy,
                };
                delete(&mut self.tables[ti], at, what)
            }
            Cmd::Flush {
                kind,
                family,
                table,
                name,
            } => self.flush(at, kind, family, &table, name),
        }
    }

    /// `add table`: a new table, or flags and comment merged into an existing one.
    fn add_table(
        &mut self,
        at: At,
        family: Family,
        name: String,
        flags: Vec<String>,
        comment: Option<String>,
        create: bool,
    ) -> Result<(), NftError> {
        if let Some(i) = self.table_idx(family, &name) {
            if create {
                return Err(at.err(format!("table '{name}' already exists")));
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
                span: at.sp,
            });
        }
        Ok(())
    }

    /// `flush ruleset|table|chain|set|map`: rules or elements removed, objects kept.
    fn flush(
        &mut self,
        at: At,
        kind: ObjKind,
        family: Option<Family>,
        table: &str,
        name: Option<String>,
    ) -> Result<(), NftError> {
        if kind == ObjKind::Ruleset {
            match family {
                None => self.tables.clear(),
                Some(f) => self.tables.retain(|t| t.family != f),
            }
            return Ok(());
        }
        if !matches!(
            kind,
            ObjKind::Table | ObjKind::Chain | ObjKind::Set | ObjKind::Map
        ) {
            return Ok(());
        }
        let t = self.table_mut(at, family.unwrap_or(Family::Ip), table)?;
        let n = name.unwrap_or_default();
        match kind {
            ObjKind::Table => {
                for c in &mut t.chains {
                    c.rules.clear();
                }
            }
            ObjKind::Chain => {
                let Some(c) = t.chains.iter_mut().find(|c| c.name == n) else {
                    return at.missing(false, format!("chain '{n}'"));
                };
                c.rules.clear();
            }
            _ => {
                let Some((d, _)) = t.sets.iter_mut().find(|(d, _)| d.name == n) else {
                    return at.missing(false, format!("set '{n}'"));
                };
                d.elements.clear();
            }
        }
        Ok(())
    }
}

/// `add chain`: a new chain, or base spec, policy and comment merged into an existing one
/// (whose type and hook cannot change). `policy_given` says whether `chain.policy_accept`
/// was written.
fn add_chain(
    t: &mut TableDef,
    at: At,
    chain: ChainDef,
    policy_given: bool,
    create: bool,
) -> Result<(), NftError> {
    let name = &chain.name;
    if let Some(c) = t.chains.iter_mut().find(|c| c.name == *name) {
        if chain.binding || c.binding {
            return Err(at.err(format!(
                "chain '{name}' is the anonymous chain of a chain binding (`jump {{ ... }}`); another chain of that name cannot be added"
            )));
        }
        if create {
            return Err(at.err(format!("chain '{name}' already exists")));
        }
        if let Some(b) = chain.base {
            if let Some(old) = &c.base
                && (old.hook != b.hook || old.ctype != b.ctype)
            {
                return Err(at.err(format!("chain '{name}' cannot change its type or hook")));
            }
            c.base = Some(b);
        }
        if policy_given {
            c.policy_accept = chain.policy_accept;
        }
        if chain.comment.is_some() {
            c.comment = chain.comment;
        }
    } else {
        if policy_given && chain.base.is_none() {
            return Err(at.err("policy on a regular chain".into()));
        }
        t.next_handle.0 += 1;
        t.chains.push(chain);
    }
    Ok(())
}

/// `add|insert|replace rule`: the rule gets the table's next handle and goes where `pos`
/// says.
fn add_rule(
    t: &mut TableDef,
    at: At,
    chain: &str,
    rule: Rule,
    pos: RulePos,
) -> Result<(), NftError> {
    let h = t.next_handle;
    t.next_handle.0 += 1;
    let (family, table) = (t.family, &t.name);
    let Some(c) = t.chains.iter_mut().find(|c| c.name == chain) else {
        return Err(at.err(format!(
            "No such file or directory; chain '{chain}' does not exist in table {family} {table}"
        )));
    };
    let by_handle = |c: &ChainDef, hd: u64| -> Result<usize, NftError> {
        c.rules.iter().position(|(x, _)| x.0 == hd).ok_or_else(|| {
            at.err(format!(
                "Could not process rule: No such file or directory (handle {hd})"
            ))
        })
    };
    let by_index = |c: &ChainDef, i: u64| -> Result<usize, NftError> {
        if (i as usize) < c.rules.len() {
            Ok(i as usize)
        } else {
            Err(at.err(format!(
                "Could not process rule: No such file or directory (index {i})"
            )))
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
    Ok(())
}

/// `add set|map`: a new set, or elements added to an existing one.
fn add_set(t: &mut TableDef, at: At, decl: SetDecl, create: bool) -> Result<(), NftError> {
    if let Some((d, _)) = t.sets.iter_mut().find(|(d, _)| d.name == decl.name) {
        if create {
            return Err(at.err(format!("set '{}' already exists", decl.name)));
        }
        d.elements.extend(decl.elements);
    } else {
        t.next_handle.0 += 1;
        t.sets.push((decl, at.sp));
    }
    Ok(())
}

/// `add|delete element`.
fn elements(
    t: &mut TableDef,
    at: At,
    set: &str,
    elems: Vec<SetElem>,
    delete: bool,
) -> Result<(), NftError> {
    let (family, table) = (t.family, &t.name);
    let Some((d, _)) = t.sets.iter_mut().find(|(d, _)| d.name == set) else {
        return Err(at.err(format!(
            "No such file or directory; set '{set}' does not exist in table {family} {table}"
        )));
    };
    if delete {
        // Deletion happens on unresolved keys; resolution is idempotent so
        // compare the raw forms.
        d.elements.retain(|e| !elems.iter().any(|x| x.key == e.key));
    } else {
        d.elements.extend(elems);
    }
    Ok(())
}

/// `add flowtable`: a new flowtable, or devices and flags merged into an existing one.
fn add_flowtable(
    t: &mut TableDef,
    at: At,
    decl: FlowtableDecl,
    create: bool,
) -> Result<(), NftError> {
    if let Some((d, _)) = t.flowtables.iter_mut().find(|(d, _)| d.name == decl.name) {
        if create {
            return Err(at.err(format!("flowtable '{}' already exists", decl.name)));
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
        t.flowtables.push((decl, at.sp));
    }
    Ok(())
}

/// `add counter|quota|limit|ct helper|...`: a new object, or a new declaration of one.
fn add_object(
    t: &mut TableDef,
    at: At,
    name: String,
    obj: ObjDecl,
    create: bool,
) -> Result<(), NftError> {
    let kind = obj_kind(&obj);
    if let Some(o) = t
        .objects
        .iter_mut()
        .find(|(n, o, _)| *n == name && obj_kind(o) == kind)
    {
        if create {
            return Err(at.err(format!("object '{name}' already exists")));
        }
        o.1 = obj;
    } else {
        t.next_handle.0 += 1;
        t.objects.push((name, obj, at.sp));
    }
    Ok(())
}

/// What a `delete`/`destroy` inside a table names.
struct DeleteWhat {
    kind: ObjKind,
    name: String,
    handle: Option<u64>,
    destroy: bool,
}

/// `delete|destroy chain|rule|set|map|flowtable|counter|...` in a table.
fn delete(t: &mut TableDef, at: At, what: DeleteWhat) -> Result<(), NftError> {
    let DeleteWhat {
        kind,
        name: n,
        handle,
        destroy,
    } = what;
    match kind {
        ObjKind::Chain => {
            let before = t.chains.len();
            t.chains.retain(|c| c.name != n);
            if before == t.chains.len() {
                return at.missing(destroy, format!("chain '{n}'"));
            }
        }
        ObjKind::Rule => {
            let Some(c) = t.chains.iter_mut().find(|c| c.name == n) else {
                return at.missing(destroy, format!("chain '{n}'"));
            };
            let h = handle.unwrap_or(0);
            let before = c.rules.len();
            c.rules.retain(|(x, _)| x.0 != h);
            if before == c.rules.len() {
                return at.missing(destroy, format!("rule handle {h}"));
            }
        }
        ObjKind::Set | ObjKind::Map => {
            let before = t.sets.len();
            t.sets.retain(|(d, _)| d.name != n);
            if before == t.sets.len() {
                return at.missing(destroy, format!("set '{n}'"));
            }
        }
        ObjKind::Flowtable => {
            let before = t.flowtables.len();
            t.flowtables.retain(|(d, _)| d.name != n);
            if before == t.flowtables.len() {
                return at.missing(destroy, format!("flowtable '{n}'"));
            }
        }
        ObjKind::Object => t.objects.retain(|(x, _, _)| *x != n),
        ObjKind::Table | ObjKind::Ruleset | ObjKind::Element => {}
    }
    Ok(())
}

/// Kind name of an object declaration.
pub(crate) fn obj_kind(o: &ObjDecl) -> &str {
    match o {
        ObjDecl::Counter { .. } => "counter",
        ObjDecl::Quota(_) => "quota",
        ObjDecl::Limit(_) => "limit",
        ObjDecl::CtHelper { .. } => "ct helper",
        ObjDecl::CtTimeout { .. } => "ct timeout",
        ObjDecl::Other(s) => s,
    }
}
