//! Capture files: a streaming pcap/pcapng reader and a pcap writer.

pub mod reader;
pub mod writer;

pub use reader::{Format, MAX_RECORD, Record, TraceError, TraceErrorKind, TraceReader};
pub use writer::PcapWriter;
