//! offsim's integration tests, in one test binary (the layout of ripgrep's `tests/`): each
//! module is one subject, `util` holds the shared helpers, and `kernel` is the kernel oracle
//! harness (network namespaces, and a Debian VM for the flowtable), compiled once.
//!
//! Run one subject with a filter, e.g. `cargo test -p offsim --test integration
//! golden_outputs` or `cargo test -p offsim --test integration flow_oracle`.

mod kernel;
#[path = "../../traces/tests/skiplog.rs"]
mod skiplog;
mod util;

mod bounded;
mod calibrate;
mod capture;
mod cli_reports;
mod cli_run;
mod cli_tools;
mod closed_loop;
mod egress;
mod events;
mod fidelity;
mod flow_oracle;
mod golden_outputs;
mod house;
mod nft_oracle_cov;
mod offload;
mod oracle;
mod run;
mod same_outputs;
mod slurm;
mod trace_gen;
