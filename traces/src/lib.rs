//! # offsim-traces
//!
//! Everything that turns capture files into packets the simulator can use, and the generator
//! that makes realistic captures when a user has none.
//!
//! Map of the code:
//! - [`time`]: integer simulated time ([`time::SimTime`], [`time::SimDuration`], ns).
//! - [`meta`]: [`meta::PacketMeta`], the compact `Copy` summary of one packet, and
//!   [`meta::FlowKey`], the 5-tuple with a canonical bidirectional form.
//! - [`parse`]: link types and [`parse::parse_frame`] (Ethernet, VLAN/QinQ, PPPoE, Linux
//!   cooked v1/v2, BSD loopback, raw IP; IPv4/IPv6 with extension headers; TCP/UDP/ICMP).
//! - [`pcap`]: a streaming pcap/pcapng reader (format by magic) and a pcap writer.
//! - [`stream`]: reader + parser as a stream of [`meta::PacketMeta`].
//! - [`info`]: the `trace info` summary.
//! - [`hash`]: a fast deterministic hasher for flow tables.
//! - [`heap`]: the (time, sequence) event heap of the generator and the engine.
//! - [`r#gen`](crate::r#gen) (`offsim_traces::r#gen`; `gen` is a keyword in edition 2024): the seeded synthetic trace generator (`offsim trace gen`).
//!
//! Nothing here allocates per packet, and memory does not grow with the file size.
#![deny(missing_docs)]

pub mod r#gen;
pub mod hash;
pub mod heap;
pub mod info;
pub mod meta;
pub mod parse;
pub mod pcap;
pub mod stream;
pub mod testkit;
pub mod time;

pub use meta::{FlowKey, PacketMeta};
pub use time::{SimDuration, SimTime};
