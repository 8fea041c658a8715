//! Benchmarks for offsim: one module per subsystem, each with a bench function that
//! `benches/bench.rs` calls.
#![deny(missing_docs)]

pub mod conntrack;
pub mod dups;
pub mod engine;
mod flood;
pub mod flowtable;
pub mod r#gen;
pub mod nat;
pub mod nft;
pub mod nic;
pub mod sides;
pub mod traces;
