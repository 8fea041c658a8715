//! # offsim
//!
//! The simulator library behind the `offsim` binary.
#![deny(missing_docs)]

pub mod cli;
pub mod nft;
