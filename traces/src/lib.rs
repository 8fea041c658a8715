//! # offsim-traces
//!
//! Everything that turns capture files into packets the simulator can use, and the generator
//! that makes realistic captures when a user has none.
//!
//! ## Map of the code
//! - `time.rs`: integer simulated time ([`time::SimTime`], [`time::SimDuration`], ns).
//! - `meta.rs`: [`meta::PacketMeta`], the compact `Copy` summary of one packet, and
//!   [`meta::FlowKey`], the 5-tuple with a canonical bidirectional form.
//! - `parse.rs`: link types and [`parse::parse_frame`] (Ethernet, VLAN/QinQ, PPPoE, Linux
//!   cooked v1/v2, BSD loopback, raw IP; IPv4/IPv6 with extension headers; TCP/UDP/ICMP).
//! - `pcap/`: `reader.rs`, a streaming pcap/pcapng reader (format by magic; `reader/ng.rs`
//!   the pcapng blocks; `reader/split.rs` a second reader from a pcap file's middle), over
//!   `bytes.rs`, a buffer `read(2)` refills or the file mapped into memory; `writer.rs`,
//!   a pcap writer.
//! - `stream.rs`: reader + parser as a stream of [`meta::PacketMeta`].
//! - `info.rs`: the `trace info` summary; `flowset.rs`, its exact set of distinct flows
//!   (batched inserts into one packed slot per IPv4 tuple), whose table `hugetable.rs` backs
//!   with transparent huge pages once it is large, as it does the tuple maps' tables.
//! - `hash.rs`: the Fx hash maps (re-exported from `rustc-hash`) of every flow table.
//! - `tuple.rs`: compact tables keyed by tuples (13 bytes per IPv4 tuple) and addresses.
//! - `heap.rs`: the (time, sequence) event heap of the generator and the engine.
//! - `hint.rs`: cache prefetch hints (the reader's next records, a packet held long).
//! - `histogram.rs`: the latency histogram (log-linear, fixed memory) of the engine and the
//!   kernel's per-flow figures.
//! - `input.rs`: reading user text files (regular files only, size caps, UTF-8 positions)
//!   and escaping control characters before they reach a terminal.
//! - `testkit.rs`: a packet builder for other crates' tests.
//! - `gen/` (`offsim_traces::r#gen`; `gen` is a keyword in edition 2024): the seeded
//!   synthetic trace generator (`offsim trace gen`). `mod.rs` runs it; `profile/` holds the
//!   traffic profiles (`hosts.rs`: populations and sources, `flows.rs`: what each source
//!   starts); `conv/` the TCP/QUIC conversations (`mod.rs` state and scheduling, `app.rs`
//!   applications, `emit.rs` packets); `simple.rs` UDP exchanges and streams, ICMP echo and
//!   traceroute; `pair.rs` the two endpoints of a flow; `frame.rs` and `checksum.rs` the
//!   frame bytes; `rng.rs` the random streams.
//!
//! ## One packet's walk
//! Reading: [`stream::PacketStream::next_packet`] (`stream.rs`) asks
//! [`pcap::TraceReader::next_record`] (`pcap/reader.rs`) for the next record's bytes where
//! its buffer or the mapped file holds them (`pcap/bytes.rs`), then [`parse::parse_frame`] (`parse.rs`) turns them into a
//! [`meta::PacketMeta`] (`meta.rs`) stamped with a [`time::SimTime`] (`time.rs`); the
//! simulator, or [`info::summarize`] (`info.rs`, flows counted in `flowset.rs`), takes it
//! from there. Generating: `r#gen::Generator` (`gen/mod.rs`) pops the next event from the
//! heap (`heap.rs`); a source's arrival starts flows (`gen/profile/flows.rs`), a flow's
//! event asks its state machine (`gen/conv/` or `gen/simple.rs`) for its next packet, whose
//! bytes `gen/frame.rs` and `gen/checksum.rs` build and [`pcap::PcapWriter`]
//! (`pcap/writer.rs`) writes.
//!
//! Nothing here allocates per packet, and memory does not grow with the file size.
#![deny(missing_docs)]

mod flowset;
pub mod r#gen;
pub mod hash;
pub mod heap;
pub mod hint;
pub mod histogram;
mod hugetable;
pub mod info;
pub mod input;
pub mod meta;
pub mod parse;
pub mod pcap;
pub mod stream;
pub mod testkit;
pub mod time;
pub mod tuple;

pub use meta::{FlowKey, PacketMeta};
pub use time::{SimDuration, SimTime};
