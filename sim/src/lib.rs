//! # offsim
//!
//! The simulator library behind the `offsim` binary.
#![deny(missing_docs)]

pub mod cli;
pub mod conntrack;
pub mod cpu;
pub mod datapath;
pub mod engine;
pub mod flows;
pub mod flowtable;
pub mod metrics;
pub mod nft;
pub mod plan;
pub mod replay;
pub mod router;
pub mod rss;
pub mod ruleseval;
pub mod run;
pub mod scenario;
pub mod sides;
pub mod sweep;
