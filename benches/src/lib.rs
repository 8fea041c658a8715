//! Benchmarks for offsim (see benches/bench.rs): one module per subsystem, each with a
//! bench function that `benches/bench.rs` calls.
#![deny(missing_docs)]

pub mod r#gen;
pub mod nft;
