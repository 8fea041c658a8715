//! # offsim-kernel
//!
//! The Linux router's packet path as a library: no clock, no engine, no scenario. The caller
//! passes `now` in and gets back what the packet did and what it cost.
//!
//! ## Map
//!
//! - `datapath/` — the hook sequence for one packet ([`datapath::Datapath::process`]) and
//!   the state it owns: `mod.rs` (configuration, outcome, state, timers), `hooks.rs` (one
//!   method per hook stage), `host.rs` (what rules reach: `flow add`, NAT, `fib`),
//!   `offload.rs` (hardware offload results reported back).
//! - `conntrack/` — `nf_conntrack`: the table and `nf_conntrack_in` (`mod.rs`), an entry
//!   (`conn.rs`), sysctls (`config.rs`), the TCP state machine and windows (`tcp.rs`).
//! - `flowtable.rs` — `nf_flow_table`: entries, the fast path, GC, teardown, hardware
//!   offload bookkeeping.
//! - `router.rs` — `ip_rcv` checks, the routing decision, `nf_defrag` reassembly.
//! - `sides/` — which side (LAN, WAN) a packet arrives on (`mod.rs`); `mode.rs`, how the user
//!   says it (`--sides`); `prefetch.rs`, its look-ups asked for ahead; `wan.rs`, the hint that
//!   a capture was taken on the WAN link; `reference.rs`, the plain split the tests hold it to.
//! - `dups.rs` — packets captured twice (on two interfaces, before and after NAT).
//! - `flows.rs` — per-connection records: offloaded or not, and why.
//! - `cost.rs` — what a packet did, counted for a CPU model ([`cost::CostDrivers`]).
//! - `path.rs` — [`Path`]: slow path, software fast path, or hardware.
//!
//! ## One packet's walk (`datapath/hooks.rs`)
//!
//! 1. `netdev_ingress` (`__netif_receive_skb_core` → `nf_hook_ingress`): netdev chains and,
//!    for each attached flowtable, `Flowtable::lookup` (`nf_flow_offload_ip_hook`,
//!    `flowtable.rs`); a hit forwards the packet ([`Path::SwFast`]) and counts it on its
//!    flow record (`flows.rs`).
//! 2. `rcv_and_defrag`: `router::rcv_check` (`ip_rcv_core`), then
//!    `Defragmenter::push` (`nf_defrag_ipv4`/`ipv6` at −400, `router.rs`).
//! 3. `prerouting`: base chains below −200, then `conntrack_in` → `Conntrack::track`
//!    (`nf_conntrack_in`, `conntrack/mod.rs`), then the other chains; `nat` chains only for
//!    a connection's first packet (DNAT, `host.rs`: `nft_nat_eval`).
//! 4. `route` (`ip_route_input`, `router::route`): forward, or local delivery (`input`:
//!    INPUT chains, then confirm), or drop.
//! 5. `forward` (`ip_forward`: TTL decremented, FORWARD chains): `flow add @ft` creates the
//!    flowtable entry (`host.rs`: `nft_flow_offload_eval` → `Flowtable::add`).
//! 6. `postrouting` (`ip_output`: POSTROUTING chains, SNAT/masquerade for the first
//!    packet), then `confirm` (`__nf_conntrack_confirm`: `Conntrack::finish`; a new
//!    connection's flow record is opened and the packet counted on it, [`Path::Slow`]).
//!
//! Everything the packet did is in the returned [`datapath::Outcome`], as
//! [`cost::CostDrivers`] for the caller's CPU model.
#![deny(missing_docs)]

pub mod conntrack;
pub mod cost;
pub mod datapath;
pub mod devices;
pub mod dups;
pub mod fib;
pub mod flows;
pub mod flowtable;
mod path;
pub mod router;
pub mod sides;

pub use path::Path;
