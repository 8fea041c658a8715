//! The integration tests of offsim-nft, one binary (as ripgrep's `tests/tests.rs`): one
//! module per theme, shared helpers in `util`.
//!
//! `cargo test -p offsim-nft --test integration -- py:: --nocapture` prints the per-file
//! table of nftables' own rule tests.

mod util;

mod corpus;
mod cost;
mod eval;
mod fuzz;
mod lang;
mod py;
