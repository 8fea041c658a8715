//! # nftables language front end and evaluator
//!
//! Users paste `nft list ruleset` text (or `nft -j list ruleset` JSON); this module parses it
//! ([`parser`], [`json`]), builds the declarative model ([`model`]), resolves and validates it
//! ([`normalize`]) and compiles it ([`compile`]) into a form that [`eval::eval_chain`]
//! evaluates per packet without allocating.
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
//!     "table inet f { chain fwd { type filter hook forward priority 0; policy drop; tcp dport 22 accept } }",
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
//! entry. Base chains count policy packets ([`eval::PolicyCounter`]).

pub mod ast;
mod compile;
mod display;
pub mod error;
mod eval;
mod json;
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
    CtInfo, CtView, DropReason, EvalCost, FibAnswer, FibQuery, Host, Iface, NatRequest, NullHost,
    PktCtx, PolicyCounter, RuleState, Verdict, eval_chain,
};
pub use program::{ChainId, Counter, FlowtableId};
pub use ruleset::{
    ChainInfo, CtTimeoutInfo, FlowtableInfo, LoadOptions, ObjectInfo, RuleInfo, Ruleset, SetInfo,
    Summary, TableInfo,
};
