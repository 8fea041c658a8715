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
//! Imports point one way (no module cycle): `key`, `config`, `stats` and `error` at the
//! bottom; `hash` and `index` on `key`; `table/` on those; `pipeline` on the table's types;
//! `datapath` and `power`; and `nic` on top of everything.
//! - `key.rs`: [`HwKey`], one direction of a flow as the NIC matches it (tuple, ingress
//!   interface, up to 2 VLAN/PPPoE ids), built from a [`offsim_traces::PacketMeta`] or a
//!   [`offsim_traces::FlowKey`]; [`EncapId`].
//! - `hash.rs` (private): MediaTek's `mtk_ppe_hash_entry` and a seeded generic hash.
//! - `index.rs` (private): the fully associative layout's compact key → slot index, and
//!   the `NONE` index both it and the table use.
//! - `table/` — [`FlowTable`], the finite hardware table (its `mod.rs` lists the files):
//!   `mod.rs` public types and geometry, `lookup.rs` bucket addressing and the per-packet
//!   lookup, `binding.rs` lazy (MediaTek) binding, `control.rs` insert/remove/clear,
//!   `place.rs` hashed / cuckoo / fully associative placement and eviction, `counters.rs`
//!   stats readout as the driver reports it, `aging.rs` hardware aging.
//! - `pipeline.rs`: [`Op`], [`Completion`], and the crate-internal insertion pipeline (queue
//!   delay, insertion rate, queue depth, per-op CPU cost).
//! - `datapath.rs`: [`DataPath`] — serialisation (preamble, IFG, FCS, padding), engine
//!   packets/s and queue, forwarding latency, egress buffering, punt rules ([`PuntReason`]).
//! - `power.rs`: [`PowerReport`] — static W + energy per packet.
//! - `stats.rs`: [`NicStats`] and its parts, mergeable with `+`.
//! - `config/`: [`NicConfig`] and the embedded presets ([`config::PRESETS`]: `mt7621`,
//!   `mt7986`, `en7581`, `connectx6dx`, `e810`, `smartnic`) in `mod.rs`, scenario overrides
//!   in `overrides.rs`, per-section validation ([`ConfigError`]) in `validate.rs`.
//! - `nic.rs`: [`Nic`], everything behind one interface.
//! - `error.rs`: [`InsertError`], [`UnsupportedReason`].
//!
//! ## One packet's walk
//! [`Nic::rx`] (`nic.rs`) takes a packet at its arrival time: [`DataPath`] (`datapath.rs`)
//! serialises it on the ingress port and applies the punt rules that need no lookup;
//! [`HwKey::from_meta`] (`key.rs`) builds its key; [`FlowTable::lookup`] (`table/lookup.rs`)
//! hashes it to a bucket (`hash.rs`) or reads the associative index (`index.rs`) and counts
//! the hit. A bound entry forwards it (`datapath.rs`: engine queue, forwarding latency,
//! egress) as [`Verdict::Hardware`]; a miss or an unbound entry sends it to the CPU as
//! [`Verdict::Cpu`]; on a lazy table a miss creates an unbound entry (`table/binding.rs`)
//! whose rate, once reached, asks the CPU for a bind check ([`Nic::bind_check`]). The
//! offload layer's [`Op::Insert`] for that flow goes through the pipeline (`pipeline.rs`)
//! and, when [`Nic::poll`] completes it, into [`FlowTable::insert`] (`table/control.rs`,
//! placed by `table/place.rs`); its counters are read back by `table/counters.rs` and it
//! ages out in `table/aging.rs`. Everything is summed in [`NicStats`] (`stats.rs`) and
//! [`PowerReport`] (`power.rs`).
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
