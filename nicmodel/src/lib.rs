//! # offsim-nicmodel
//!
//! The NIC of the offsim simulator: a finite hardware flow table with real hashing, ways,
//! reserved entries and binding behaviour; the asynchronous insertion pipeline that programs
//! it; the data path (line rate, offload-engine capacity, forwarding latency, what goes to the
//! CPU); aging; counters; power; and presets of real parts with their sources. It knows
//! nothing of rules, conntrack or scenarios: the engine passes packets and times in, the
//! offload layer passes per-direction insert/remove/stats requests.
//!
//! Facts and their sources: `reference/flow-offload-semantics.md` §3 (hardware offload) and
//! §4 (MediaTek PPE, Airoha, mlx5, E810), `reference/anchors.md` §2–§4; each preset field
//! carries its own note (`nicmodel/presets/*.toml`, `[sources]`).
//!
//! ## Map of the code
//! - [`key`]: [`HwKey`], one direction of a flow as the NIC matches it (tuple, ingress
//!   interface, up to 2 VLAN/PPPoE ids), built from a [`offsim_traces::PacketMeta`] or a
//!   [`offsim_traces::FlowKey`].
//! - [`hash`]: MediaTek's `mtk_ppe_hash_entry` ([`hash::mtk_ppe_hash`]) and a seeded generic
//!   hash.
//! - [`table`]: [`FlowTable`] — hashed buckets / cuckoo / fully associative layouts, reserved
//!   entries, direct or lazy (MediaTek) binding, bind checks, eviction policies, per-entry
//!   counters, stats readout as the driver reports it, aging (the fully associative
//!   layout's compact key index lives in the private `index` module).
//! - [`pipeline`]: [`Pipeline`] — queue delay, insertion rate, queue depth, per-op CPU cost;
//!   [`Op`], [`Completion`].
//! - [`datapath`]: [`DataPath`] — serialisation (preamble, IFG, FCS, padding), engine
//!   packets/s and queue, forwarding latency, egress buffering, punt rules
//!   ([`PuntReason`]).
//! - [`power`]: [`PowerReport`] — static W + energy per packet.
//! - [`stats`]: [`NicStats`] and its parts, mergeable with `+`.
//! - [`config`]: [`NicConfig`], the embedded presets ([`config::PRESETS`]: `mt7621`,
//!   `mt7986`, `en7581`, `connectx6dx`, `e810`, `smartnic`), scenario overrides and
//!   validation ([`ConfigError`]).
//! - [`nic`]: [`Nic`], everything behind one interface.
//! - [`error`]: [`InsertError`], [`UnsupportedReason`].
//!
//! ## How the simulator drives it
//! ```
//! use offsim_nicmodel::{HwAction, HwKey, Nic, NicEvent, Op, Verdict};
//! use offsim_traces::{PacketMeta, SimTime};
//!
//! let mut nic = Nic::from_preset("mt7621").unwrap();
//! # let pkt = PacketMeta::default();
//! // Engine, per packet (in time order):
//! let r = nic.rx(SimTime(1_000), &pkt);
//! match r.verdict {
//!     Verdict::Hardware { depart, .. } => { /* delivered at `depart`, no CPU */ }
//!     Verdict::Cpu { reason, bind_check } => {
//!         // queue for a core at r.rx_done; when the core runs the driver:
//!         if let Some(bc) = bind_check {
//!             nic.bind_check(SimTime(50_000), bc);
//!         }
//!     }
//!     Verdict::Dropped { .. } => {}
//! }
//! // Offload layer, when nf_flow_table queues a hardware add for each direction:
//! # if let Some(key) = HwKey::from_meta(&pkt) {
//! let _ticket = nic.submit(SimTime(60_000), Op::Insert { cookie: 1, key, action: HwAction::default() });
//! # }
//! // Engine: wake at nic.next_event_time(), collect completions and agings.
//! let mut events = Vec::new();
//! if let Some(t) = nic.next_event_time() {
//!     nic.poll(t, &mut events);
//! }
//! for e in &events {
//!     if let NicEvent::Completed(c) = e { let _ = c.result; }
//! }
//! let stats = nic.stats(SimTime(1_000_000_000));
//! # let _ = stats;
//! ```
#![deny(missing_docs)]

pub mod config;
pub mod datapath;
pub mod error;
mod hash;
mod index;
pub mod key;
pub mod nic;
pub mod pipeline;
pub mod power;
pub mod stats;
pub mod table;

pub use config::{ConfigError, NicConfig};
pub use datapath::{DataPath, DropReason, PuntReason};
pub use error::{InsertError, UnsupportedReason};
pub use key::{EncapId, HwKey};
pub use nic::{BindCheck, Nic, NicEvent, RxResult, Verdict};
pub use pipeline::{Completion, Op, OpKind, OpOutcome, Ticket};
pub use power::PowerReport;
pub use stats::NicStats;
pub use table::{BindOutcome, Cookie, EntryStats, FlowTable, HwAction, Lookup};
