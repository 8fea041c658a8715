//! pcapng: its blocks (section header, interface description, enhanced, simple and
//! obsolete packet blocks; every other block skipped), interface options (`if_tsresol`,
//! `if_tsoffset`) and timestamps. The same reader as classic pcap (`super`), the format
//! told apart by the file's magic.

use std::io::Read;
use std::ops::Range;

use super::{
    MAX_BLOCK, NG_BOM, NG_SHB, RecordAt, State, TraceError, TraceErrorKind, TraceReader, rd16, rd32,
};
use crate::parse::{LinkType, link_type_name};
use crate::time::{NS_PER_SEC, SimTime};

#[derive(Clone, Copy, Debug)]
pub(super) struct Iface {
    link: Result<LinkType, u32>,
    snaplen: u32,
    /// Timestamp units per second, and whether it is a power of ten we can multiply.
    units_per_sec: u64,
    offset_secs: i64,
}

/// One pcapng block whose framing has been checked.
struct NgBlock {
    /// File offset of the block, for errors.
    at: u64,
    /// Block type, in the section's byte order.
    btype: u32,
    /// The section's byte order differs from the machine's.
    swap: bool,
    /// The block body (after type and length, before the trailing length) in the buffer.
    body: Range<usize>,
}

impl<R: Read> TraceReader<R> {
    pub(super) fn next_ng(&mut self) -> Result<Option<RecordAt>, TraceError> {
        loop {
            // A stretch of blocks that are not packets (statistics, names, custom blocks of
            // up to 16 MiB) is skipped here: release behind it too.
            self.release_passed();
            let Some(NgBlock {
                at,
                btype,
                swap,
                body,
            }) = self.ng_block()?
            else {
                return Ok(None);
            };
            match btype {
                NG_SHB => {}
                1 => self.ng_interface(at, swap, body)?,
                6 | 2 => return self.ng_packet(at, btype, swap, body).map(Some),
                3 => return self.ng_simple_packet(at, swap, body).map(Some),
                _ => {} // statistics, name resolution, custom, decryption secrets …
            }
        }
    }

    /// Reads and checks the next pcapng block's framing (a section header switches the byte
    /// order and forgets the interfaces) and steps past it; `None` at the end of the input.
    #[inline]
    fn ng_block(&mut self) -> Result<Option<NgBlock>, TraceError> {
        let have = self.fill(12)?;
        if have == 0 {
            return Ok(None);
        }
        let at = self.offset();
        if have < 12 {
            // The file ends inside the last block's header: cut while writing.
            return self.cut_at(at, "pcapng block header", 12, have as u64);
        }
        let mut swap = match &self.state {
            State::PcapNg { swap, .. } => *swap,
            State::Pcap(_) => unreachable!(),
        };
        let btype_raw = rd32(&self.buf[self.pos..self.pos + 4], false);
        if btype_raw == NG_SHB {
            // A new section: its own byte order, interfaces start again.
            let bom = rd32(&self.buf[self.pos + 8..self.pos + 12], false);
            swap = if bom == NG_BOM {
                false
            } else if bom == NG_BOM.swap_bytes() {
                true
            } else {
                return Err(self.err(
                    at + 8,
                    TraceErrorKind::BadBlock("section header byte-order magic"),
                ));
            };
            self.state = State::PcapNg {
                swap,
                ifaces: Vec::new(),
            };
        }
        let btype = if swap {
            btype_raw.swap_bytes()
        } else {
            btype_raw
        };
        let blen = rd32(&self.buf[self.pos + 4..self.pos + 8], swap);
        if blen < 12 || !blen.is_multiple_of(4) || blen > MAX_BLOCK {
            return Err(self.err(
                at,
                TraceErrorKind::BadLength {
                    what: "pcapng block",
                    len: u64::from(blen),
                    why: "is not a multiple of 4 between 12 and 16 MiB",
                },
            ));
        }
        let n = blen as usize;
        let have = self.fill(n)?;
        if have < n {
            // Cut while writing if the block header is sound: a known block type and, for a
            // packet block, a captured length that fits the block; anything else is damage.
            let b = &self.buf[self.pos..self.pos + have];
            let sound = match btype {
                6 if have >= 28 => rd32(&b[20..24], swap) <= blen - 32,
                1..=6 | 9 | 10 | 0x0bad | 0x4000_0bad | NG_SHB => true,
                _ => false,
            };
            if sound {
                return self.cut_at(at, "pcapng block", n as u64, have as u64);
            }
            return Err(self.err(
                at,
                TraceErrorKind::Truncated {
                    what: "pcapng block",
                    need: n as u64,
                    have: have as u64,
                },
            ));
        }
        let b0 = self.pos;
        let trailer = rd32(&self.buf[b0 + n - 4..b0 + n], swap);
        if trailer != blen {
            return Err(self.err(
                at,
                TraceErrorKind::BadBlock("block trailing length differs from its leading length"),
            ));
        }
        self.pos = b0 + n;
        let body = b0 + 8..b0 + n - 4;
        Ok(Some(NgBlock {
            at,
            btype,
            swap,
            body,
        }))
    }

    /// Interface Description Block: declares the next interface id.
    fn ng_interface(&mut self, at: u64, swap: bool, body: Range<usize>) -> Result<(), TraceError> {
        let b = &self.buf[body.clone()];
        if b.len() < 8 {
            return Err(self.err(
                at,
                TraceErrorKind::BadBlock("interface description block too short"),
            ));
        }
        let code = u32::from(rd16(&b[0..2], swap));
        let snaplen = rd32(&b[4..8], swap);
        let mut iface = Iface {
            link: LinkType::from_code(code).ok_or(code),
            snaplen,
            units_per_sec: 1_000_000,
            offset_secs: 0,
        };
        if let Err(why) = parse_idb_options(&b[8..], swap, &mut iface) {
            return Err(self.err(at, TraceErrorKind::BadBlock(why)));
        }
        if let State::PcapNg { ifaces, .. } = &mut self.state {
            if ifaces.len() >= 65_536 {
                return Err(self.err(at, TraceErrorKind::BadBlock("more than 65536 interfaces")));
            }
            ifaces.push(iface);
        }
        Ok(())
    }

    /// Enhanced Packet Block (type 6) or obsolete Packet Block (type 2).
    #[inline]
    fn ng_packet(
        &self,
        at: u64,
        btype: u32,
        swap: bool,
        body: Range<usize>,
    ) -> Result<RecordAt, TraceError> {
        let b = &self.buf[body.clone()];
        if b.len() < 20 {
            return Err(self.err(at, TraceErrorKind::BadBlock("packet block too short")));
        }
        let id = if btype == 6 {
            rd32(&b[0..4], swap)
        } else {
            u32::from(rd16(&b[0..2], swap))
        };
        let hi = u64::from(rd32(&b[4..8], swap));
        let lo = u64::from(rd32(&b[8..12], swap));
        let caplen = rd32(&b[12..16], swap) as usize;
        let orig = rd32(&b[16..20], swap);
        if caplen > b.len() - 20 {
            return Err(self.err(
                at,
                TraceErrorKind::BadLength {
                    what: "enhanced packet block",
                    len: caplen as u64,
                    why: "exceeds its block",
                },
            ));
        }
        let (iface, link) = self.iface(id, at)?;
        let ts = ng_time(&iface, (hi << 32) | lo).ok_or_else(|| {
            self.err(
                at,
                TraceErrorKind::BadBlock(
                    "timestamp out of range: with the interface's if_tsresol and if_tsoffset it \
                     falls before 1970 or after 2554",
                ),
            )
        })?;
        let start = body.start + 20;
        Ok((start, caplen, ts, orig.max(caplen as u32), id, link))
    }

    /// Simple Packet Block: interface 0, no timestamp.
    fn ng_simple_packet(
        &self,
        at: u64,
        swap: bool,
        body: Range<usize>,
    ) -> Result<RecordAt, TraceError> {
        let b = &self.buf[body.clone()];
        if b.len() < 4 {
            return Err(self.err(
                at,
                TraceErrorKind::BadBlock("simple packet block too short"),
            ));
        }
        let orig = rd32(&b[0..4], swap);
        let (iface, link) = self.iface(0, at)?;
        let mut caplen = (orig as usize).min(b.len() - 4);
        if iface.snaplen != 0 {
            caplen = caplen.min(iface.snaplen as usize);
        }
        let start = body.start + 4;
        Ok((start, caplen, SimTime(0), orig, 0, link))
    }

    /// The declared interface `id` a packet block refers to, and its (supported) link type.
    #[inline]
    fn iface(&self, id: u32, at: u64) -> Result<(Iface, LinkType), TraceError> {
        let iface = match &self.state {
            State::PcapNg { ifaces, .. } => ifaces.get(id as usize).copied().ok_or_else(|| {
                self.err(
                    at,
                    TraceErrorKind::BadBlock("packet refers to an undeclared interface"),
                )
            })?,
            State::Pcap(_) => unreachable!(),
        };
        let link = iface.link.map_err(|code| {
            self.err(
                at,
                TraceErrorKind::UnsupportedLinkType {
                    code,
                    name: link_type_name(code),
                },
            )
        })?;
        Ok((iface, link))
    }
}

/// Reads `if_tsresol` and `if_tsoffset` (a resolution finer than 64 bits hold is an error).
fn parse_idb_options(mut o: &[u8], swap: bool, iface: &mut Iface) -> Result<(), &'static str> {
    while o.len() >= 4 {
        let code = rd16(&o[0..2], swap);
        let len = usize::from(rd16(&o[2..4], swap));
        if code == 0 {
            break;
        }
        let padded = (len + 3) & !3;
        if o.len() < 4 + len {
            break;
        }
        let v = &o[4..4 + len];
        match (code, len) {
            (9, 1) => {
                let r = v[0];
                let exp = u32::from(r & 0x7f);
                let units = if r & 0x80 == 0 {
                    10u64.checked_pow(exp)
                } else if exp < 64 {
                    Some(1u64 << exp)
                } else {
                    None
                };
                iface.units_per_sec = units
                    .ok_or("if_tsresol out of range (at most 10^-19 or 2^-63 seconds per unit)")?;
            }
            (14, 8) => {
                let raw = [v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]];
                let x = u64::from_le_bytes(raw);
                iface.offset_secs = (if swap { x.swap_bytes() } else { x }) as i64;
            }
            _ => {}
        }
        if o.len() < 4 + padded {
            break;
        }
        o = &o[4 + padded..];
    }
    Ok(())
}

/// A raw pcapng timestamp in ns, `None` outside 1970–2554 (a clamp puts all at one instant).
fn ng_time(iface: &Iface, raw: u64) -> Option<SimTime> {
    let u = iface.units_per_sec;
    let ns = if u == NS_PER_SEC {
        u128::from(raw)
    } else {
        let secs = u128::from(raw / u);
        let rem = u128::from(raw % u);
        secs * u128::from(NS_PER_SEC) + rem * u128::from(NS_PER_SEC) / u128::from(u)
    };
    let off = i128::from(iface.offset_secs) * i128::from(NS_PER_SEC);
    let t = ns as i128 + off;
    u64::try_from(t).ok().map(SimTime)
}
