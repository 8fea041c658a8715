//! Benchmarks for offsim (see benches/bench.rs).
