//! # offsim
//!
//! The simulator library behind the `offsim` binary (`main.rs`, a thin command line).
//!
//! ## Map
//!
//! - `scenario.rs` — scenario files (TOML): what the user wrote, then a validated
//!   [`scenario::Scenario`].
//! - `prepare.rs` — from a scenario to everything its runs need ([`prepare::Prepared`]),
//!   with the first pass, or with it deferred to the end of `run`'s runs.
//! - `source/` — where packets come from: the [`source::Source`] trait, the decoder and
//!   trace source (which counts the totals when the first pass is deferred), the scan for
//!   copies and WAN captures (`mod.rs`; the WAN-capture hint's split in `hint.rs`); the
//!   first pass over record headers (`pass.rs`).
//! - `feed.rs` — one decode of the trace on its own thread, shared by the configurations
//!   of a run.
//! - `replay.rs` — replay timing: recorded, sped up, or paced; loops with fresh tuples.
//! - `run.rs` — one configuration run through the engine; every configuration of a scenario.
//! - `engine/` — the discrete-event engine: NIC, RSS, RX rings, cores, the datapath
//!   (`mod.rs`); the offload workqueue and the NIC driver (`offload.rs`); what a run
//!   measured (`measure.rs`).
//! - `rss.rs` — Toeplitz hash and indirection table.
//! - `cpu.rs` — CPU presets and the cycle formula ([`cpu::CpuConfig`]).
//! - `report.rs` — the report of a run: per-run figures, savings, warnings, summary text.
//! - `sweep.rs` — `offsim sweep`: a grid of scenarios.
//! - `plan.rs` — `offsim plan`: the highest rate that meets the SLO.
//! - `ruleseval.rs` — `offsim rules eval`: per-rule counters of a trace.
//! - `cli.rs` — human-readable output of `offsim trace info`.
//! - `progress.rs` — the terminal progress bar (hidden off a terminal and with `-q`).
//! - `timeline.rs` — events on a run's timeline (reloads, flushes, link flaps, roaming
//!   hosts); the engine applies them in `engine/timeline.rs`.
//!
//! ## One packet's walk
//!
//! 1. `source/mod.rs`: `Decoder::next` reads the packet and `replay.rs` gives its arrival time
//!    (on a reader thread for `run`, `feed.rs`; inline in `TraceSource` for `sweep`, `plan`).
//! 2. `engine/mod.rs`: `Engine::arrive` — the side it arrives on, the wire, the NIC
//!    (`offsim_nicmodel::Nic::rx`): forwarded in hardware (counted on its flow record via
//!    `Datapath::note_hw_packet`), dropped, or RSS (`rss.rs`) to a core's RX ring.
//! 3. `engine/mod.rs`: `Engine::core_free` — the core runs the kernel's path,
//!    `offsim_kernel::datapath::Datapath::process` (netdev ingress/flowtable → PREROUTING
//!    and conntrack → routing → FORWARD → POSTROUTING and confirm; see `offsim_kernel`).
//! 4. `cpu.rs`: `CpuConfig::packet_cycles` turns the packet's cost drivers into cycles, in
//!    all and by stage; over the core's clock they are its service time.
//! 5. `engine/mod.rs`: `Engine::tx` — the NIC transmits it; `Engine::deliver` records its
//!    latency in `offsim_traces::histogram::Histogram` and the counters of `engine/measure.rs`.
//!    Offload work the flowtable requested meanwhile goes through `engine/offload.rs`.
//! 6. `report.rs`: `run_report` turns the engine's measurements into the report's run.
#![deny(missing_docs)]

pub mod calibrate;
pub mod cli;
pub mod cpu;
pub mod engine;
mod feed;
pub mod plan;
pub mod prepare;
pub mod progress;
pub mod qdisc;
pub mod replay;
pub mod report;
mod rss;
pub mod ruleseval;
pub mod run;
pub mod scenario;
#[cfg(test)]
mod scratch;
pub mod source;
pub mod sweep;
pub mod timeline;
