//! Helpers shared by the integration test modules.

use std::path::PathBuf;

use offsim_traces::r#gen::{GenConfig, Profile, Stop};

/// Packets per generated test trace.
pub const N: u64 = 20_000;

/// The generator configuration of an `n`-packet test trace.
pub fn gen_config(p: Profile, seed: u64, n: u64) -> GenConfig {
    GenConfig::new(p, seed, Stop::Packets(n))
}

/// `traces/data/<sub>`: the committed (or fetched) captures.
pub fn data_dir(sub: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("data")
        .join(sub)
}

pub use crate::skiplog::skip;
