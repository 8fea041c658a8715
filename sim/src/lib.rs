//! # offsim
//!
//! The simulator library behind the `offsim` binary.
#![deny(missing_docs)]

pub mod cli;
pub mod cpu;
pub mod engine;
pub mod metrics;
pub mod plan;
pub mod prepare;
pub mod replay;
pub mod report;
pub mod rss;
pub mod ruleseval;
pub mod run;
pub mod scenario;
pub mod source;
pub mod sweep;
