//! Capture files: a streaming pcap/pcapng reader and a pcap writer.

mod bytes;
pub(crate) mod reader;
pub(crate) mod writer;

pub use reader::{Format, Record, TraceError, TraceErrorKind, TraceReader};
pub use writer::PcapWriter;
