//! Benchmarks for offsim (see benches/bench.rs). One module per subsystem.

pub mod nft;
