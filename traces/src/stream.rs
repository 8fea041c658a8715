//! Reading a capture as a stream of parsed packets.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use crate::meta::PacketMeta;
use crate::parse::{parse_frame, parse_frame_into};
use crate::pcap::{Format, TraceError, TraceReader};

/// Reads a capture file and parses each record into a [`PacketMeta`].
///
/// Memory stays constant whatever the file size: a read file (or FIFO) reuses one buffer, a
/// mapped file is released behind the reader.
pub struct PacketStream<R: Read> {
    reader: TraceReader<R>,
}

impl PacketStream<File> {
    /// Opens a capture (pcap or pcapng, detected by magic).
    pub fn open(path: &Path) -> Result<Self, TraceError> {
        Ok(PacketStream {
            reader: TraceReader::open(path)?,
        })
    }

    /// Opens a capture mapped where it can be: for a walk over record headers (see
    /// [`TraceReader::open_mapped`]).
    pub fn open_mapped(path: &Path) -> Result<Self, TraceError> {
        Ok(PacketStream {
            reader: TraceReader::open_mapped(path)?,
        })
    }

    /// A second stream over the second half of the file, for a pass over record headers on
    /// two cores (see [`TraceReader::split_half`]).
    pub fn split_half(&self, min_bytes: u64) -> Option<(u64, PacketStream<File>)> {
        let (at, reader) = self.reader.split_half(min_bytes)?;
        Some((at, PacketStream { reader }))
    }

    /// A second stream from what looks like the first record boundary at or after byte
    /// `from` (see [`TraceReader::split_at`]).
    pub fn split_at(&self, from: u64, min_bytes: u64) -> Option<(u64, PacketStream<File>)> {
        let (at, reader) = self.reader.split_at(from, min_bytes)?;
        Some((at, PacketStream { reader }))
    }
}

impl<R: Read> PacketStream<R> {
    /// Wraps an existing reader.
    pub fn new(reader: TraceReader<R>) -> Self {
        PacketStream { reader }
    }

    /// The container format.
    pub fn format(&self) -> Format {
        self.reader.format()
    }

    /// The underlying record reader.
    pub fn reader(&self) -> &TraceReader<R> {
        &self.reader
    }

    /// Where the file was cut short in its final record, if it was (see
    /// [`TraceReader::cut_short`]): a warning, the packets before it are good.
    pub fn cut_short(&self) -> Option<&TraceError> {
        self.reader.cut_short()
    }

    /// The underlying record reader, mutably (to read raw records).
    pub(crate) fn reader_mut(&mut self) -> &mut TraceReader<R> {
        &mut self.reader
    }

    /// The next packet, `Ok(None)` at the end of the file.
    #[inline]
    pub fn next_packet(&mut self) -> Result<Option<PacketMeta>, TraceError> {
        let mut m = PacketMeta::default();
        Ok(self.next_into(&mut m)?.then_some(m))
    }

    /// The next packet decoded into `m` (see [`parse_frame_into`]); `Ok(false)` at the end
    /// of the file, `m` then untouched.
    #[inline]
    pub fn next_into(&mut self, m: &mut PacketMeta) -> Result<bool, TraceError> {
        let Some(r) = self.reader.next_record()? else {
            return Ok(false);
        };
        parse_frame_into(r.link, r.data, r.orig_len, r.ts, r.iface, m);
        Ok(true)
    }

    /// The next record's timestamp and length on the wire, without parsing the frame (what
    /// a pass that only needs totals reads).
    #[inline]
    pub fn next_header(&mut self) -> Result<Option<(crate::time::SimTime, u32)>, TraceError> {
        // As `parse_frame` counts it: never less than what was captured.
        self.reader.next_header()
    }

    /// The next packet together with its captured bytes.
    #[inline]
    pub fn next_packet_with_data(&mut self) -> Result<Option<(PacketMeta, &[u8])>, TraceError> {
        match self.reader.next_record()? {
            Some(r) => Ok(Some((
                parse_frame(r.link, r.data, r.orig_len, r.ts, r.iface),
                r.data,
            ))),
            None => Ok(None),
        }
    }
}
