//! A streaming reader for pcap and pcapng, detected by magic number.
//!
//! Why not the `pcap-file` crate the design card names: 2.0.0 ignores `if_tsresol` and rejects
//! `orig_len > snaplen`; both 2.0.0 and 3.0.0-rc.3 reject pcapng files whose `if_MACaddr`
//! option is not 6 bytes (tshark reads them), neither detects the format, and after an error
//! both return the same error forever (`../shared/reference/crates.md`). The formats are
//! small, so offsim reads them itself: records handed out as borrowed slices of the mapped
//! file (`bytes.rs`; a FIFO or device: of one reusable buffer), nothing allocated per
//! packet, the resident memory a window of one or two MiB behind the reader (the buffer: the
//! largest record).
//!
//! Supported: pcap in both byte orders with µs or ns magic (and the modified/Kuznetzov
//! variant's magic); pcapng sections in either byte order (several sections per file),
//! several interfaces with their own link type, `if_tsresol` (decimal and binary) and
//! `if_tsoffset`; Enhanced, Simple and obsolete Packet blocks; every other block is skipped.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use super::bytes::Bytes;
use crate::parse::{LinkType, link_type_name};
use crate::time::{NS_PER_SEC, SimTime};
use ng::Iface;

mod ng;
mod split;

/// Largest record offsetsim accepts (libpcap's `MAXIMUM_SNAPLEN`, 256 KiB). A record header
/// claiming more is what a corrupt file looks like.
pub(crate) const MAX_RECORD: u32 = 262_144;
/// Largest pcapng block accepted (16 MiB; packets plus options never come close).
pub(crate) const MAX_BLOCK: u32 = 16 * 1024 * 1024;

/// The `read(2)` buffer. Measured (enterprise 1M-packet capture from tmpfs, pinned, median
/// of 9 alternated, CPU s): `trace info` 0.124 with 1 MiB against 0.153 with 128 KiB, 0.151
/// with 256 KiB and 0.135 with 4 MiB; `rules eval` fw4 0.593 against 0.609, 0.609 and 0.653.
const BUF_SIZE: usize = 1 << 20;

/// The container format of a trace file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Classic pcap.
    Pcap {
        /// Big-endian file (as written by a big-endian host).
        big_endian: bool,
        /// Nanosecond timestamps (magic `0xa1b23c4d`).
        nanos: bool,
    },
    /// pcapng (the byte order of the first section).
    PcapNg {
        /// Big-endian first section.
        big_endian: bool,
    },
}

impl Format {
    /// Short name for reports: `pcap` or `pcapng`.
    pub fn name(self) -> &'static str {
        match self {
            Format::Pcap { .. } => "pcap",
            Format::PcapNg { .. } => "pcapng",
        }
    }
}

/// What went wrong reading a trace file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TraceErrorKind {
    /// The operating system refused.
    #[error("{0}")]
    Io(#[from] io::Error),
    /// The file is empty.
    #[error("empty file: not a pcap or pcapng capture")]
    Empty,
    /// The first four bytes are not a pcap or pcapng magic number.
    #[error("not a pcap or pcapng file (magic number 0x{0:08x})")]
    BadMagic(u32),
    /// The file ends inside a header or record.
    #[error("file is truncated: {what} needs {need} bytes, only {have} present")]
    Truncated {
        /// What was being read.
        what: &'static str,
        /// Bytes needed.
        need: u64,
        /// Bytes left in the file.
        have: u64,
    },
    /// A record header or block claims an impossible length.
    #[error("corrupt {what}: length {len} {why}")]
    BadLength {
        /// What was being read.
        what: &'static str,
        /// The length found.
        len: u64,
        /// Why it is impossible.
        why: &'static str,
    },
    /// A pcapng structure that violates the format.
    #[error("corrupt pcapng: {0}")]
    BadBlock(&'static str),
    /// A link type offsim cannot parse.
    #[error(
        "unsupported link type {code} ({name}); supported: EN10MB (1), PPP (9), PPP_ETHER (51), RAW (101, 228, 229), LINUX_SLL (113), LINUX_SLL2 (276), NULL (0), LOOP (108)"
    )]
    UnsupportedLinkType {
        /// The pcap link-type code.
        code: u32,
        /// Its libpcap name.
        name: &'static str,
    },
}

/// An error reading a trace, with the file, the byte offset and how many packets were read.
#[derive(Debug, thiserror::Error)]
#[error("{path}: byte offset {offset}: {kind} (after {packets} packets)")]
pub struct TraceError {
    /// The file as the user named it.
    pub path: String,
    /// Byte offset of the header or record that failed.
    pub offset: u64,
    /// Packets read successfully before the error.
    pub packets: u64,
    /// What went wrong.
    pub kind: TraceErrorKind,
}

impl TraceError {
    /// The warning for a capture whose final record was cut short (tshark: "appears to have
    /// been cut short in the middle of a packet"), see [`TraceReader::cut_short`].
    pub fn cut_short_warning(&self) -> String {
        self.cut_short_warning_after(self.packets)
    }

    /// [`TraceError::cut_short_warning`] with `packets` good packets before the cut in all
    /// (a reader that started in the middle of the file counts only its own).
    pub fn cut_short_warning_after(&self, packets: u64) -> String {
        format!(
            "{}: the capture was cut short in the middle of a packet at byte offset {}; the {} good packets before it were used",
            self.path, self.offset, packets
        )
    }
}

/// One record, borrowed from the reader (the mapped file or its buffer).
#[derive(Clone, Copy, Debug)]
pub struct Record<'a> {
    /// Timestamp in ns since the Unix epoch.
    pub ts: SimTime,
    /// Length on the wire.
    pub orig_len: u32,
    /// The captured bytes.
    pub data: &'a [u8],
    /// Interface id (pcapng) or 0.
    pub iface: u32,
    /// Link type of the record's interface.
    pub link: LinkType,
}

/// What a classic pcap file's header says about every record.
#[derive(Clone, Copy, Debug)]
struct PcapHeader {
    swap: bool,
    nanos: bool,
    link: LinkType,
    snaplen: u32,
}

#[derive(Debug)]
enum State {
    Pcap(PcapHeader),
    PcapNg { swap: bool, ifaces: Vec<Iface> },
}

/// A streaming reader over any `Read`. Use [`TraceReader::open`] for files.
pub struct TraceReader<R: Read> {
    src: R,
    buf: Bytes,
    /// Offset at which to release the mapping behind the reader (`Bytes::release_before`).
    release_at: usize,
    /// The bytes before this offset have been prefetched ([`TraceReader::prefetch_next`]).
    prefetched: usize,
    pos: usize,
    end: usize,
    /// File offset of `buf[0]`.
    base: u64,
    eof: bool,
    path: String,
    format: Format,
    state: State,
    packets: u64,
    failed: bool,
    /// Set when the file ended inside its final record (see [`TraceReader::cut_short`]).
    cut: Option<TraceError>,
}

impl TraceReader<File> {
    /// Opens a file and reads its header; its bytes are read through `read(2)`, the way for
    /// a reader that decodes every packet (see `pcap::bytes`).
    pub fn open(path: &Path) -> Result<Self, TraceError> {
        let (f, name) = open_file(path)?;
        TraceReader::new(f, name)
    }

    /// Opens a file mapped, the way for a walk over record headers, which a mapping can split
    /// ([`TraceReader::split_at`]); a FIFO or device, or any file when `OFFSIM_NO_MMAP` is
    /// set, is read (see `pcap::bytes`).
    pub fn open_mapped(path: &Path) -> Result<Self, TraceError> {
        let (f, name) = open_file(path)?;
        match Bytes::map(&f) {
            Some(map) => TraceReader::with_bytes(f, name, map),
            None => TraceReader::new(f, name),
        }
    }
}

fn open_file(path: &Path) -> Result<(File, String), TraceError> {
    let name = path.display().to_string();
    let f = File::open(path).map_err(|e| TraceError {
        path: name.clone(),
        offset: 0,
        packets: 0,
        kind: TraceErrorKind::Io(e),
    })?;
    Ok((f, name))
}

#[inline]
fn rd16(b: &[u8], swap: bool) -> u16 {
    let v = u16::from_le_bytes([b[0], b[1]]);
    if swap { v.swap_bytes() } else { v }
}

#[inline]
fn rd32(b: &[u8], swap: bool) -> u32 {
    let v = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    if swap { v.swap_bytes() } else { v }
}

const PCAP_MAGIC_US: u32 = 0xa1b2_c3d4;
const PCAP_MAGIC_NS: u32 = 0xa1b2_3c4d;
const PCAP_MAGIC_KUZ: u32 = 0xa1b2_cd34;
const NG_SHB: u32 = 0x0a0d_0d0a;
const NG_BOM: u32 = 0x1a2b_3c4d;

/// Whether a classic pcap record header is one a writer could have written (libpcap's
/// `pcap_check_header` heuristics): its sub-second field is below a second and its captured
/// length within the original length and the snap length. A header that fails is damage.
#[inline]
fn sound_header(frac: u64, incl: u32, orig: u32, nanos: bool, snaplen: u32) -> bool {
    let frac_max: u64 = if nanos { 1_000_000_000 } else { 1_000_000 };
    frac < frac_max && (orig == 0 || incl <= orig) && (snaplen < 64 || incl <= snaplen)
}

/// Where a record is and what it is: start in the buffer, captured length, time, original
/// length, interface id, link type.
type RecordAt = (usize, usize, SimTime, u32, u32, LinkType);

impl<R: Read> TraceReader<R> {
    /// Wraps a reader; `path` names it in errors. Reads and checks the file header.
    pub fn new(src: R, path: impl Into<String>) -> Result<Self, TraceError> {
        TraceReader::with_bytes(src, path, Bytes::Owned(vec![0; BUF_SIZE]))
    }

    /// A reader over `buf`: a buffer `src` refills, or the mapped file (then `src` is never
    /// read).
    fn with_bytes(src: R, path: impl Into<String>, buf: Bytes) -> Result<Self, TraceError> {
        let mapped = buf.is_mapped();
        let end = if mapped { buf.len() } else { 0 };
        let mut r = TraceReader {
            src,
            buf,
            release_at: 0,
            prefetched: 0,
            pos: 0,
            end,
            base: 0,
            eof: mapped,
            path: path.into(),
            format: Format::Pcap {
                big_endian: false,
                nanos: false,
            },
            state: State::Pcap(PcapHeader {
                swap: false,
                nanos: false,
                link: LinkType::Ethernet,
                snaplen: 0,
            }),
            packets: 0,
            failed: false,
            cut: None,
        };
        r.read_header()?;
        Ok(r)
    }

    /// The container format.
    pub fn format(&self) -> Format {
        self.format
    }

    /// Packets returned so far.
    #[cfg(test)]
    pub(crate) fn packets_read(&self) -> u64 {
        self.packets
    }

    /// Current byte offset in the file.
    pub fn offset(&self) -> u64 {
        self.base + self.pos as u64
    }

    /// Asks the CPU to bring in the next record's header and the start of its frame (its
    /// link, IP and transport headers) while this packet is worked on: home-router 1M,
    /// `run` software `--jobs 1` 0.561 -> 0.495 CPU s, `trace info` 0.131 -> 0.120. A walk
    /// over headers alone gained too (the first pass, 3–5 % of a threaded run), though it
    /// reads the next header at once; measured both ways, alternated.
    ///
    /// In a mapped file, also every cache line up to [`PREFETCH_AHEAD`] bytes further (the
    /// figures below were measured when `run` mapped its captures on two threads too). One
    /// record ahead is not enough where little work comes between records (`trace info`,
    /// the decode of a `run` whose engines are light): the next header's miss is still
    /// being served when it is read. The records beyond are not known yet (each header
    /// says where the next starts), but they lie in the bytes ahead, so the reader brings
    /// those in line by line, a stream the memory system serves at its bandwidth instead
    /// of one miss at a time. Read once, they are prefetched so as not to displace what the
    /// engines keep in the shared cache ([`crate::hint::prefetch_once`]; with the ordinary hint
    /// a run without offload, whose engine thread is the bottleneck, lost 15 % of wall
    /// time). Home-router 1M, alternated, median CPU s: `trace info` 0.127 -> 0.075, `run`
    /// hardware 0.312 -> 0.262 (9 runs), all three configurations at once 0.993 -> 0.923
    /// (wall 0.576 -> 0.567; enterprise 1.137 -> 1.091, wall 0.703 -> 0.662; 7 runs).
    /// The price: the whole file now streams through memory, not a line or two per
    /// record, and a lone configuration without offload (the engine bound, the reader
    /// waiting on it) runs 0.664 -> 0.644 CPU s but 0.486 -> 0.535 s wall (15 runs).
    #[inline]
    fn prefetch_next(&mut self) {
        crate::hint::prefetch(&self.buf, self.pos);
        crate::hint::prefetch(&self.buf, self.pos + 64);
        // `read(2)` has just copied a buffer's bytes through the cache
        if !self.buf.is_mapped() {
            return;
        }
        let want = self.pos + PREFETCH_AHEAD;
        let mut at = self.prefetched.max(self.pos + 128) & !63;
        while at < want {
            crate::hint::prefetch_once(&self.buf, at);
            at += 64;
        }
        self.prefetched = at;
    }

    fn err(&self, offset: u64, kind: TraceErrorKind) -> TraceError {
        TraceError {
            path: self.path.clone(),
            offset,
            packets: self.packets,
            kind,
        }
    }

    /// Makes at least `n` bytes available at `pos`; returns how many are (less at EOF).
    /// Inlined: called twice a record, it nearly always finds them there already, and as a
    /// call it saved and restored six registers for the refill path's sake each time.
    #[inline]
    fn fill(&mut self, n: usize) -> Result<usize, TraceError> {
        if self.end - self.pos >= n {
            return Ok(self.end - self.pos);
        }
        self.refill(n)
    }

    /// [`TraceReader::fill`] when the buffer runs short: moves what is left to its start and
    /// reads on.
    #[cold]
    #[inline(never)]
    fn refill(&mut self, n: usize) -> Result<usize, TraceError> {
        // A mapped file is all there: `end` is its length.
        let Bytes::Owned(buf) = &mut self.buf else {
            return Ok(self.end - self.pos);
        };
        if self.pos > 0 {
            buf.copy_within(self.pos..self.end, 0);
            self.base += self.pos as u64;
            self.end -= self.pos;
            self.pos = 0;
        }
        if buf.len() < n {
            buf.resize(n.next_power_of_two(), 0);
        }
        while self.end < n && !self.eof {
            match self.src.read(&mut buf[self.end..]) {
                Ok(0) => self.eof = true,
                Ok(k) => self.end += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(self.err(self.offset(), TraceErrorKind::Io(e))),
            }
        }
        Ok(self.end - self.pos)
    }

    fn need(&mut self, n: usize, what: &'static str) -> Result<(), TraceError> {
        let have = self.fill(n)?;
        if have < n {
            return Err(self.err(
                self.offset(),
                TraceErrorKind::Truncated {
                    what,
                    need: n as u64,
                    have: have as u64,
                },
            ));
        }
        Ok(())
    }

    fn read_header(&mut self) -> Result<(), TraceError> {
        let have = self.fill(4)?;
        if have == 0 {
            return Err(self.err(0, TraceErrorKind::Empty));
        }
        if have < 4 {
            return Err(self.err(
                0,
                TraceErrorKind::Truncated {
                    what: "file magic",
                    need: 4,
                    have: have as u64,
                },
            ));
        }
        let magic_le = rd32(&self.buf[0..4], false);
        let magic_be = magic_le.swap_bytes();
        if magic_le == NG_SHB {
            self.need(12, "pcapng section header")?;
            let bom = rd32(&self.buf[8..12], false);
            let big = bom == NG_BOM.swap_bytes();
            if !big && bom != NG_BOM {
                return Err(self.err(
                    8,
                    TraceErrorKind::BadBlock("section header byte-order magic"),
                ));
            }
            self.format = Format::PcapNg { big_endian: big };
            self.state = State::PcapNg {
                swap: big,
                ifaces: Vec::new(),
            };
            return Ok(());
        }
        let (swap, nanos) = match (magic_le, magic_be) {
            (PCAP_MAGIC_US | PCAP_MAGIC_KUZ, _) => (false, false),
            (PCAP_MAGIC_NS, _) => (false, true),
            (_, PCAP_MAGIC_US | PCAP_MAGIC_KUZ) => (true, false),
            (_, PCAP_MAGIC_NS) => (true, true),
            _ => return Err(self.err(0, TraceErrorKind::BadMagic(magic_be))),
        };
        self.need(24, "pcap file header")?;
        let h = &self.buf[0..24];
        let snaplen = rd32(&h[16..20], swap);
        let link_field = rd32(&h[20..24], swap);
        // The upper bits may carry an FCS length (LINKTYPE_FCS_LEN); the type is 16 bits.
        let code = link_field & 0xffff;
        let link = LinkType::from_code(code).ok_or_else(|| {
            self.err(
                20,
                TraceErrorKind::UnsupportedLinkType {
                    code,
                    name: link_type_name(code),
                },
            )
        })?;
        self.pos = 24;
        self.format = Format::Pcap {
            big_endian: swap,
            nanos,
        };
        self.state = State::Pcap(PcapHeader {
            swap,
            nanos,
            link,
            snaplen,
        });
        Ok(())
    }

    /// When the file ended inside its final record (a capture cut while it was being
    /// written), the reader stops there as at a clean end and this says where, with the
    /// count of good packets read before it, as tshark's "appears to have been cut short in
    /// the middle of a packet" does. A record that runs past the end of the file but whose
    /// header is impossible is damage, not a cut: [`TraceReader::next_record`] returns it as
    /// an error.
    pub fn cut_short(&self) -> Option<&TraceError> {
        self.cut.as_ref()
    }

    /// The file ends inside the record at `at`: remembered as a cut (see
    /// [`TraceReader::cut_short`]) and the end of the records.
    fn cut_at<T>(
        &mut self,
        at: u64,
        what: &'static str,
        need: u64,
        have: u64,
    ) -> Result<Option<T>, TraceError> {
        self.cut = Some(self.err(at, TraceErrorKind::Truncated { what, need, have }));
        self.failed = true;
        Ok(None)
    }

    /// Returns the next packet record, `Ok(None)` at a clean end of file. After an error the
    /// reader is finished: every later call returns `Ok(None)`, so a loop that stops on the
    /// first error can never spin.
    pub fn next_record(&mut self) -> Result<Option<Record<'_>>, TraceError> {
        let Some((start, len, ts, orig, iface, link)) = self.advance()? else {
            return Ok(None);
        };
        Ok(Some(Record {
            ts,
            orig_len: orig,
            data: &self.buf[start..start + len],
            iface,
            link,
        }))
    }

    /// The next record's timestamp and length on the wire (never less than what was
    /// captured), for a pass that needs no packet bytes; `Ok(None)` at the end, as
    /// [`TraceReader::next_record`].
    #[inline]
    pub fn next_header(&mut self) -> Result<Option<(SimTime, u32)>, TraceError> {
        Ok(self
            .advance()?
            .map(|(_, len, ts, orig, ..)| (ts, orig.max(len as u32))))
    }

    /// Reads the next record's header: where its bytes are and what it says. The record
    /// after it is prefetched.
    #[inline]
    fn advance(&mut self) -> Result<Option<RecordAt>, TraceError> {
        if self.failed {
            return Ok(None);
        }
        self.release_passed();
        let r = match self.state {
            State::Pcap(_) => self.next_pcap(),
            State::PcapNg { .. } => self.next_ng(),
        };
        match r {
            Ok(Some(at)) => {
                self.packets += 1;
                self.prefetch_next();
                Ok(Some(at))
            }
            Ok(None) => Ok(None),
            Err(e) => {
                self.failed = true;
                Err(e)
            }
        }
    }

    /// Classic pcap record: returns (buffer start, captured length, ts, orig len, iface, link).
    fn next_pcap(&mut self) -> Result<Option<RecordAt>, TraceError> {
        let State::Pcap(PcapHeader {
            swap,
            nanos,
            link,
            snaplen,
        }) = self.state
        else {
            unreachable!()
        };
        let have = self.fill(16)?;
        if have == 0 {
            return Ok(None);
        }
        let at = self.offset();
        if have < 16 {
            // The file ends inside the last record's header: cut while writing.
            return self.cut_at(at, "record header", 16, have as u64);
        }
        let h = &self.buf[self.pos..self.pos + 16];
        let sec = u64::from(rd32(&h[0..4], swap));
        let frac = u64::from(rd32(&h[4..8], swap));
        let incl = rd32(&h[8..12], swap);
        let orig = rd32(&h[12..16], swap);
        if incl > MAX_RECORD {
            return Err(self.err(
                at,
                TraceErrorKind::BadLength {
                    what: "record header",
                    len: u64::from(incl),
                    why: "exceeds the 262144-byte maximum",
                },
            ));
        }
        let n = incl as usize;
        let have = self.fill(16 + n)?;
        if have < 16 + n {
            // A writer cut off mid-record leaves a sound header; damage (a byte lost or
            // inserted upstream, as in pcapfix's test_damaged.pcap) leaves one whose
            // sub-second field or lengths are impossible (libpcap's `pcap_check_header`
            // heuristics), and stays an error.
            if sound_header(frac, incl, orig, nanos, snaplen) {
                return self.cut_at(at, "packet record", 16 + n as u64, have as u64);
            }
            return Err(self.err(
                at,
                TraceErrorKind::Truncated {
                    what: "packet record",
                    need: 16 + n as u64,
                    have: have as u64,
                },
            ));
        }
        let ns = if nanos { frac } else { frac * 1_000 };
        let ts = SimTime(sec * NS_PER_SEC + ns);
        let start = self.pos + 16;
        self.pos = start + n;
        Ok(Some((start, n, ts, orig.max(incl), 0, link)))
    }

    /// Drops the mapping of what the reader has passed, when a release step is due (see
    /// `bytes.rs`). Called where no record handed out earlier can still be borrowed: the
    /// callers take `&mut self`.
    #[inline]
    fn release_passed(&mut self) {
        if self.pos >= self.release_at {
            self.release_at = self.buf.release_before(self.pos);
        }
    }
}
/// How far ahead of a record [`TraceReader::prefetch_next`] brings the bytes in: 4 and 8 KiB
/// read a 1 KB-packet capture equally fast (`trace info`), 16 and 32 KiB a little slower.
const PREFETCH_AHEAD: usize = 8 << 10;

#[cfg(test)]
mod test {
    use super::*;

    fn pcap_bytes(big: bool, nanos: bool, link: u32, recs: &[(u32, u32, &[u8], u32)]) -> Vec<u8> {
        let w32 = |v: &mut Vec<u8>, x: u32| {
            if big {
                v.extend_from_slice(&x.to_be_bytes())
            } else {
                v.extend_from_slice(&x.to_le_bytes())
            }
        };
        let w16 = |v: &mut Vec<u8>, x: u16| {
            if big {
                v.extend_from_slice(&x.to_be_bytes())
            } else {
                v.extend_from_slice(&x.to_le_bytes())
            }
        };
        let mut v = Vec::new();
        w32(&mut v, if nanos { PCAP_MAGIC_NS } else { PCAP_MAGIC_US });
        w16(&mut v, 2);
        w16(&mut v, 4);
        w32(&mut v, 0);
        w32(&mut v, 0);
        w32(&mut v, 65535);
        w32(&mut v, link);
        for (s, f, d, orig) in recs {
            w32(&mut v, *s);
            w32(&mut v, *f);
            w32(&mut v, d.len() as u32);
            w32(&mut v, *orig);
            v.extend_from_slice(d);
        }
        v
    }

    #[test]
    fn pcap_both_orders_and_resolutions() {
        for big in [false, true] {
            for nanos in [false, true] {
                let v = pcap_bytes(big, nanos, 1, &[(5, 7, b"abc", 10), (6, 0, b"", 0)]);
                let mut r = TraceReader::new(&v[..], "t.pcap").unwrap();
                assert_eq!(
                    r.format(),
                    Format::Pcap {
                        big_endian: big,
                        nanos
                    }
                );
                let a = r.next_record().unwrap().unwrap();
                let want = 5 * NS_PER_SEC + if nanos { 7 } else { 7_000 };
                assert_eq!(a.ts, SimTime(want));
                assert_eq!(a.data, b"abc");
                assert_eq!(a.orig_len, 10);
                let b = r.next_record().unwrap().unwrap();
                assert_eq!(b.orig_len, 0);
                assert!(r.next_record().unwrap().is_none());
                assert_eq!(r.packets_read(), 2);
            }
        }
    }

    /// A header-only walk sees each record's time and wire length as `next_record` gives
    /// them (never less than what was captured), in both byte orders.
    #[test]
    fn next_header_matches_next_record() {
        let recs: &[(u32, u32, &[u8], u32)] =
            &[(5, 7, b"abc", 10), (6, 0, b"xyz", 0), (7, 1, b"", 4)];
        for big in [false, true] {
            let v = pcap_bytes(big, true, 1, recs);
            let mut a = TraceReader::new(&v[..], "a.pcap").unwrap();
            let mut b = TraceReader::new(&v[..], "b.pcap").unwrap();
            let mut n = 0;
            while let Some(r) = a.next_record().unwrap() {
                let want = (r.ts, r.orig_len);
                assert_eq!(b.next_header().unwrap(), Some(want));
                n += 1;
            }
            assert_eq!(n, 3);
            assert_eq!(b.next_header().unwrap(), None);
            assert_eq!(
                (a.offset(), a.packets_read()),
                (b.offset(), b.packets_read())
            );
        }
    }

    #[test]
    fn a_cut_at_any_offset_ends_the_records_with_a_warning() {
        let v = pcap_bytes(
            false,
            false,
            1,
            &[(1, 1, &[9u8; 40], 40), (2, 2, &[8u8; 30], 30)],
        );
        for cut in 0..v.len() {
            let res = TraceReader::new(&v[..cut], "t.pcap");
            let Ok(mut r) = res else {
                assert!(cut < 24, "cut at {cut}");
                continue;
            };
            let mut n = 0;
            while r.next_record().unwrap().is_some() {
                n += 1;
            }
            assert!(r.next_record().unwrap().is_none());
            let complete = cut == 24 || cut == 24 + 56 || cut == v.len();
            assert_eq!(r.cut_short().is_none(), complete, "cut at {cut}");
            if let Some(e) = r.cut_short() {
                assert_eq!(e.packets, n);
                assert_eq!(e.offset, if cut < 24 + 56 { 24 } else { 24 + 56 });
                assert!(e.to_string().contains("t.pcap: byte offset"), "{e}");
            }
        }
    }

    /// A record in the middle whose header is impossible (a byte lost or inserted upstream)
    /// and that runs past the end of the file is damage: an error, not a cut.
    #[test]
    fn a_damaged_record_header_stays_an_error() {
        let mut v = pcap_bytes(false, false, 1, &[(1, 1, &[9u8; 40], 40)]);
        // ts_usec 2,000,000 is impossible; the record claims 1000 bytes, 8 are left.
        for x in [1u32, 2_000_000, 1000, 1000] {
            v.extend_from_slice(&x.to_le_bytes());
        }
        v.extend_from_slice(&[0; 8]);
        let mut r = TraceReader::new(&v[..], "d.pcap").unwrap();
        assert!(r.next_record().unwrap().is_some());
        let e = r.next_record().unwrap_err();
        assert_eq!((e.offset, e.packets), (24 + 56, 1));
        assert!(r.cut_short().is_none());
        // The same record with a sound header is a cut.
        v[24 + 56 + 4..24 + 56 + 8].copy_from_slice(&7u32.to_le_bytes());
        let mut r = TraceReader::new(&v[..], "d.pcap").unwrap();
        assert!(r.next_record().unwrap().is_some());
        assert!(r.next_record().unwrap().is_none());
        assert_eq!(r.cut_short().map(|e| e.packets), Some(1));
    }

    #[test]
    fn oversized_record_is_corrupt() {
        let mut v = pcap_bytes(false, false, 1, &[]);
        v.extend_from_slice(&[0; 8]);
        v.extend_from_slice(&0x0042_0004u32.to_le_bytes());
        v.extend_from_slice(&[0; 4]);
        let mut r = TraceReader::new(&v[..], "d.pcap").unwrap();
        let e = r.next_record().unwrap_err();
        assert_eq!(e.offset, 24);
        assert!(matches!(e.kind, TraceErrorKind::BadLength { .. }), "{e}");
    }

    #[test]
    fn unknown_magic_and_link_type() {
        let e = TraceReader::new(&b"GIF89a.........................."[..], "x.gif")
            .err()
            .unwrap();
        assert!(matches!(e.kind, TraceErrorKind::BadMagic(_)));
        let v = pcap_bytes(false, false, 105, &[]);
        let e = TraceReader::new(&v[..], "w.pcap").err().unwrap();
        assert!(e.to_string().contains("IEEE802_11"), "{e}");
        let e = TraceReader::new(&b""[..], "e.pcap").err().unwrap();
        assert!(matches!(e.kind, TraceErrorKind::Empty));
    }

    fn ng_block(big: bool, btype: u32, body: &[u8]) -> Vec<u8> {
        let w32 = |x: u32| {
            if big {
                x.to_be_bytes()
            } else {
                x.to_le_bytes()
            }
        };
        let mut pb = body.to_vec();
        while !pb.len().is_multiple_of(4) {
            pb.push(0);
        }
        let len = (pb.len() + 12) as u32;
        let mut v = Vec::new();
        v.extend_from_slice(&w32(btype));
        v.extend_from_slice(&w32(len));
        v.extend_from_slice(&pb);
        v.extend_from_slice(&w32(len));
        v
    }

    fn ng_file(big: bool, tsresol: Option<u8>) -> Vec<u8> {
        let w32 = |x: u32| {
            if big {
                x.to_be_bytes()
            } else {
                x.to_le_bytes()
            }
        };
        let w16 = |x: u16| {
            if big {
                x.to_be_bytes()
            } else {
                x.to_le_bytes()
            }
        };
        let mut shb = Vec::new();
        shb.extend_from_slice(&w32(NG_BOM));
        shb.extend_from_slice(&w16(1));
        shb.extend_from_slice(&w16(0));
        shb.extend_from_slice(&[0xff; 8]);
        let mut v = ng_block(big, NG_SHB, &shb);
        // Fix the SHB type: it is the same in both orders.
        v[0..4].copy_from_slice(&NG_SHB.to_le_bytes());
        let mut idb = Vec::new();
        idb.extend_from_slice(&w16(1));
        idb.extend_from_slice(&w16(0));
        idb.extend_from_slice(&w32(0));
        // An if_MACaddr option of the wrong length (gopacket test008 has one): must be ignored.
        idb.extend_from_slice(&w16(6));
        idb.extend_from_slice(&w16(4));
        idb.extend_from_slice(&[1, 2, 3, 4]);
        if let Some(r) = tsresol {
            idb.extend_from_slice(&w16(9));
            idb.extend_from_slice(&w16(1));
            idb.extend_from_slice(&[r, 0, 0, 0]);
        }
        idb.extend_from_slice(&w16(0));
        idb.extend_from_slice(&w16(0));
        v.extend(ng_block(big, 1, &idb));
        // An unknown block to skip.
        v.extend(ng_block(big, 0x0bad, &[1, 2, 3]));
        let raw: u64 = 1_500_000_123;
        let mut epb = Vec::new();
        epb.extend_from_slice(&w32(0));
        epb.extend_from_slice(&w32((raw >> 32) as u32));
        epb.extend_from_slice(&w32(raw as u32));
        epb.extend_from_slice(&w32(3));
        epb.extend_from_slice(&w32(60));
        epb.extend_from_slice(b"xyz");
        v.extend(ng_block(big, 6, &epb));
        v
    }

    #[test]
    fn pcapng_tsresol_and_byte_orders() {
        for big in [false, true] {
            for (res, want) in [
                (None, 1_500 * NS_PER_SEC + 123_000),
                (Some(9u8), 1_500_000_123),
                (Some(3u8), 1_500_000_123 * 1_000_000),
                (Some(0x80 | 10), 1_500_000_123 * NS_PER_SEC / 1024),
            ] {
                let v = ng_file(big, res);
                let mut r = TraceReader::new(&v[..], "t.pcapng").unwrap();
                assert_eq!(r.format(), Format::PcapNg { big_endian: big });
                let rec = r.next_record().unwrap().unwrap();
                assert_eq!(rec.data, b"xyz");
                assert_eq!(rec.orig_len, 60);
                assert_eq!(rec.ts, SimTime(want), "big {big} res {res:?}");
                assert!(r.next_record().unwrap().is_none());
            }
        }
    }

    #[test]
    fn pcapng_truncation_never_panics_and_a_cut_packet_block_is_a_warning() {
        let v = ng_file(false, Some(9));
        for cut in 0..v.len() {
            if let Ok(mut r) = TraceReader::new(&v[..cut], "t.pcapng") {
                while let Ok(Some(_)) = r.next_record() {}
            }
        }
        // Cut inside the enhanced packet block (the last 36 bytes).
        let mut r = TraceReader::new(&v[..v.len() - 10], "t.pcapng").unwrap();
        assert!(r.next_record().unwrap().is_none());
        let e = r.cut_short().expect("cut");
        assert_eq!((e.packets, e.offset), (0, (v.len() - 36) as u64));
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for i in 0..3000 {
            let mut base = if i % 2 == 0 {
                ng_file(i % 4 == 0, Some(6))
            } else {
                pcap_bytes(i % 3 == 0, false, 1, &[(1, 1, &[7u8; 20], 20)])
            };
            for _ in 0..4 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let at = (x as usize) % base.len();
                base[at] = (x >> 32) as u8;
            }
            if let Ok(mut r) = TraceReader::new(&base[..], "f") {
                for _ in 0..100 {
                    match r.next_record() {
                        Ok(Some(_)) => {}
                        _ => break,
                    }
                }
            }
        }
    }
}
