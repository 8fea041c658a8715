//! A pcap writer: nanosecond-resolution classic pcap, the format every tool reads.

use std::io::{self, Write};

use crate::parse::LinkType;
use crate::time::{NS_PER_SEC, SimTime};

/// Writes classic pcap with nanosecond timestamps (magic `0xa1b23c4d`, little-endian).
pub struct PcapWriter<W: Write> {
    out: W,
    snaplen: u32,
}

impl<W: Write> PcapWriter<W> {
    /// Writes the file header.
    pub fn new(mut out: W, link: LinkType, snaplen: u32) -> io::Result<Self> {
        let mut h = [0u8; 24];
        h[0..4].copy_from_slice(&0xa1b2_3c4du32.to_le_bytes());
        h[4..6].copy_from_slice(&2u16.to_le_bytes());
        h[6..8].copy_from_slice(&4u16.to_le_bytes());
        h[16..20].copy_from_slice(&snaplen.to_le_bytes());
        h[20..24].copy_from_slice(&link.code().to_le_bytes());
        out.write_all(&h)?;
        Ok(PcapWriter { out, snaplen })
    }

    /// Writes one record. `data` longer than the snap length is cut; `orig_len` is the
    /// length on the wire (at least `data.len()`).
    pub fn write(&mut self, ts: SimTime, data: &[u8], orig_len: u32) -> io::Result<()> {
        let incl = data.len().min(self.snaplen as usize);
        let mut h = [0u8; 16];
        h[0..4].copy_from_slice(&((ts.0 / NS_PER_SEC) as u32).to_le_bytes());
        h[4..8].copy_from_slice(&((ts.0 % NS_PER_SEC) as u32).to_le_bytes());
        h[8..12].copy_from_slice(&(incl as u32).to_le_bytes());
        h[12..16].copy_from_slice(&orig_len.max(incl as u32).to_le_bytes());
        self.out.write_all(&h)?;
        self.out.write_all(&data[..incl])
    }

    /// Flushes and returns the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::pcap::reader::TraceReader;

    #[test]
    fn round_trip() {
        let mut w = PcapWriter::new(Vec::new(), LinkType::Ethernet, 65535).unwrap();
        w.write(SimTime(3 * NS_PER_SEC + 17), b"hello", 60).unwrap();
        let v = w.finish().unwrap();
        let mut r = TraceReader::new(&v[..], "mem").unwrap();
        let rec = r.next_record().unwrap().unwrap();
        assert_eq!(rec.ts, SimTime(3 * NS_PER_SEC + 17));
        assert_eq!(rec.data, b"hello");
        assert_eq!(rec.orig_len, 60);
    }
}
