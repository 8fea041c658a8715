//! # offsim-kernel
//!
//! The Linux router's packet path as a library: no clock, no engine, no scenario. The caller
//! passes `now` in and gets back what the packet did and what it cost.
#![deny(missing_docs)]

pub mod conntrack;
pub mod cost;
pub mod datapath;
pub mod flows;
pub mod flowtable;
mod path;
pub mod router;
pub mod sides;

pub use path::Path;
