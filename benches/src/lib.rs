//! Benchmarks for offsim: one module per subsystem, each with a `bench(&mut Criterion)`
//! function that `benches/bench.rs` calls.
#![deny(missing_docs)]

pub mod nic;
