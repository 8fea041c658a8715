//! # offsim-nft: the nftables language and a per-packet evaluator
//!
//! Users paste `nft list ruleset` text (or `nft -j list ruleset` JSON); this crate parses it,
//! builds the declarative model ([`model`]), resolves and validates it, and compiles it into
//! a flat program that [`eval_chain`] evaluates per packet without allocating.
//!
//! The caller (the hook driver) owns conntrack and the hook sequence: for each hook it asks
//! [`Ruleset::base_chains`] for the base chains in priority order, evaluates each with
//! [`eval_chain`] (conntrack at -200 interleaved by the caller), and stops on a drop.
//! `accept` ends only the current base chain.
//!
//! ```
//! use offsim_nft::{Ruleset, LoadOptions, RuleState, PktCtx, NullHost, EvalCost, Verdict, eval_chain};
//! use offsim_nft::ast::Hook;
//! let rs = Ruleset::from_str(
//!     "table inet f { chain fw { type filter hook forward priority 0; policy drop; tcp dport 22 accept } }",
//!     "example.nft", &LoadOptions::default()).unwrap();
//! let mut st = RuleState::new(&rs, 1);
//! let mut pkt = offsim_traces::PacketMeta::default();
//! pkt.net = offsim_traces::meta::NetKind::Ipv4;
//! pkt.ip_version = 4;
//! pkt.l4proto = 6;
//! pkt.flags = offsim_traces::meta::flags::L4_PRESENT;
//! pkt.dport = 22;
//! pkt.ip_len = 60;
//! let mut ctx = PktCtx::new(pkt, Hook::Forward, offsim_traces::SimTime(0));
//! let chain = rs.base_chains(Hook::Forward, 4)[0];
//! let v = eval_chain(&rs, &mut st, chain, &mut ctx, &mut NullHost, &mut EvalCost::default());
//! assert_eq!(v, Verdict::Accept);
//! assert_eq!(rs.rule_counter(&st, 0).packets, 1);
//! ```
//!
//! Counting semantics (what `offsim rules eval` prints; they match the kernel oracle): every
//! `counter` statement counts packets and bytes (bytes = L3 length, [`PktCtx::len`]);
//! statements before a failing match have already run; a rule without a counter statement
//! counts as if a counter stood just before its first terminal statement (verdict, vmap,
//! reject, NAT, queue) or at its end; `flow add` ends the rule unless the host created an
//! entry. Base chains count policy packets ([`PolicyCounter`]).
//!
//! ## Map of the code
//! Front end (text and JSON to a model):
//! - `lexer.rs`: tokens of the text language (nft's `scanner.l`).
//! - `parser/`: recursive descent into commands (nft's `parser_bison.y`): `mod.rs` the
//!   parse state (defines, includes, chain bindings), `tokens.rs` token helpers and the list
//!   combinators, `commands.rs` top-level commands, `decls.rs` chains, flowtables and
//!   objects, `sets.rs` sets and set literals, `rules.rs` statements, `exprs.rs` matches,
//!   selectors and values, `support.rs` globbing.
//! - `json/`: the `nft -j` front end into the same commands: `mod.rs` the list and
//!   commands, `objects.rs`, `exprs.rs`, `stmts.rs`.
//! - [`ast`]: commands, rules, statements, expressions; `ast/keys.rs` the keywords
//!   (families, hooks, keys, flags) every front end and the printer share.
//! - [`types`]: data types, typed values and literal parsing; `types/symbols.rs` nft's
//!   symbol tables.
//! - [`model`]: tables, chains, sets, flowtables and objects, built by applying commands.
//! - `display.rs`: nft-style text of rules (what [`RuleInfo::text`] holds).
//! - [`error`]: [`NftError`] with file, line, column and the offending line.
//! - [`summary`]: the `offsim rules check` output.
//!
//! Middle (model to program):
//! - `selector.rs`: the selector table: type, protocol dependency and evaluator load of
//!   every payload field, meta key and ct key.
//! - `normalize/`: types every literal and canonicalises rules as `nft list` prints them:
//!   `mod.rs` selectors and the rule's protocol context, `consts.rs` constants and map data,
//!   `sets.rs` set declarations, `stmt.rs` one function per statement, `canon.rs` canonical
//!   forms.
//! - `layout.rs`: where the fields of a lookup key sit (normalisation checks, compilation
//!   lays out).
//! - `program.rs`: the compiled program (ops, loads, sets, specs) the evaluator reads.
//! - `kind.rs`: the kinds of work the CPU model prices (expressions by kind, set back ends),
//!   shared by the compiler and the evaluator.
//! - `compile/`: `mod.rs` selectors and keys, `rule.rs` statements to ops, `sets.rs` set
//!   elements to lookup structures.
//! - `ruleset/` ([`Ruleset`]): `mod.rs` loading and the query API, `validate.rs` base chains,
//!   objects, normalisation and jump loops, `build.rs` compilation of the model, `info.rs`
//!   the descriptions ([`ChainInfo`], [`RuleInfo`], ...).
//!
//! Evaluator (per packet, `eval/`):
//! - `mod.rs` the caller's types ([`PktCtx`], [`Host`], [`Verdict`], [`EvalCost`]),
//!   `chain.rs` the chain walk (`nft_do_chain`) and one function per operation, `load.rs`
//!   selectors, `sets.rs` lookups and dynamic sets, `stateful.rs` limits and quotas,
//!   `state.rs` [`RuleState`], `jhash.rs` the kernel's jhash.
//!
//! ## One rule's walk
//! `tcp dport 22 accept` in the example above:
//! 1. `lexer.rs` makes words, numbers and braces of the text; `parser/commands.rs` reads
//!    the table block, `parser/decls.rs` the chain with its base spec, `parser/rules.rs`
//!    and `parser/exprs.rs` the rule: `Stmt::Match { left: Payload(Tcp, "dport"), right:
//!    Sym("22") }` and `Stmt::Verdict(Accept)` (`ast/`), inside `add table`, `add chain`
//!    and `add rule` commands.
//! 2. `model.rs` applies the commands; `ruleset/validate.rs` checks the base chain and
//!    normalises the rule: `normalize/mod.rs` types `tcp dport` with `selector.rs`
//!    (`inet_service`, needs `l4proto tcp`), `normalize/consts.rs` resolves `22`,
//!    `normalize/canon.rs` makes the operator explicit.
//! 3. `ruleset/build.rs` gives the chain and the rule their ids; `compile/rule.rs`
//!    compiles the match to `Op::Cmp { src: Load::Dport(6), op: Eq, val: 22 }`, then the
//!    implicit counter, then `Op::Verdict(Accept)` (`program.rs`).
//! 4. Per packet, [`eval_chain`] (`eval/chain.rs`) runs the ops: `eval/load.rs` reads the
//!    destination port of a TCP packet (else the rule ends), the comparison holds, the
//!    implicit counter counts the packet, and `accept` ends the base chain.

pub mod ast;
mod compile;
mod display;
pub mod error;
mod eval;
mod json;
mod kind;
mod layout;
mod lexer;
pub mod model;
mod normalize;
mod parser;
mod program;
mod ruleset;
mod selector;
pub mod summary;
pub mod types;

pub use error::{ErrorKind, NftError};
pub use eval::{
    CtInfo, CtView, DropReason, EvalCost, ExprKind, FibAnswer, FibQuery, Host, Iface, NatRequest,
    NullHost, PktCtx, PolicyCounter, RuleState, SetBackend, Verdict, eval_chain,
};
pub use program::{ChainId, Counter, FlowtableId, Reject};
pub use ruleset::{
    ChainInfo, CtTimeoutInfo, FlowtableInfo, LoadOptions, ObjectInfo, RuleInfo, Ruleset, SetInfo,
    Summary, TableInfo, parse_utc_offset,
};
