//! Cache hints: asking the CPU to bring in memory the next steps will read, so that the miss
//! overlaps the work before them. A load would not do: the core cannot retire past a load
//! that misses, so the work would wait for it.
//!
//! `std` has no stable prefetch (`core::intrinsics::prefetch_read_data` is an unstable
//! intrinsic), so the x86-64 SSE intrinsic is called here; elsewhere these are no-ops.
//! offsim's other `unsafe` is the file mapping (`pcap/bytes.rs`) and the tuple maps'
//! allocator (`hugetable.rs`).
#![allow(unsafe_code)]

/// A cache line, the unit a prefetch brings in.
pub(crate) const LINE: usize = 64;

/// Look-ups per window of the rule that turns a table's prefetching on and off (the side
/// split's, `SideSplitter::prefetch`, and conntrack's, `Conntrack::prefetch`): lines are
/// asked for while at least one look-up in 8 of the last window was of a new key
/// ([`prefetch_pays`]). Below that the lines a packet reads are hot (its keys are few and
/// seen again and again) and working out the next packet's keys would be work for nothing:
/// the generated home-router, enterprise and data-centre captures never turn it on; a SYN
/// flood keeps it on.
pub const PREFETCH_WINDOW: u32 = 64;

/// Whether a window of [`PREFETCH_WINDOW`] look-ups of which `new` were of new keys turns
/// prefetching on for the next one.
#[inline]
pub fn prefetch_pays(new: u64) -> bool {
    new >= u64::from(PREFETCH_WINDOW / 8)
}

/// Brings the cache line holding `b[at]` in (nothing past the end of `b`).
///
/// A reader that has just read a record knows where the next one starts; the next record's
/// header and first bytes are a cache miss (and on a capture of large packets, every record
/// is), which the prefetch overlaps with the work on this packet.
#[inline]
pub(crate) fn prefetch(b: &[u8], at: usize) {
    if let Some(p) = b.get(at) {
        line::<3>(p);
    }
}

/// [`prefetch`] for bytes read once and soon: the line is brought in close to the core
/// without displacing what the other cores keep in the shared cache (`PREFETCHNTA`).
#[inline]
pub(crate) fn prefetch_once(b: &[u8], at: usize) {
    if let Some(p) = b.get(at) {
        line::<0>(p);
    }
}

/// Brings every cache line `v` touches in: a value the caller reads soon that has sat
/// unused for long (a packet a sender held for seconds, read again when it is sent).
#[inline]
pub fn prefetch_value<T>(v: &T) {
    let p = std::ptr::from_ref(v).cast::<u8>();
    // From the line holding the first byte to the one holding the last: a value that does
    // not start on a line boundary may span one line more than its size says.
    let skew = p.addr() & (LINE - 1);
    let start = p.wrapping_sub(skew);
    for i in 0..(skew + std::mem::size_of::<T>()).div_ceil(LINE) {
        line::<3>(start.wrapping_add(i * LINE));
    }
}

/// Brings in the line holding address `a`, an address computed, not borrowed: where a hash
/// table's probe will look (`tuple::table`). A hint never faults, so an address that turned
/// out stale costs a useless line, nothing else.
#[inline]
pub(crate) fn prefetch_addr(a: usize) {
    line::<3>(std::ptr::without_provenance(a));
}

/// A prefetch of the line holding `p` with x86's hint `HINT` (`_MM_HINT_T0` is 3,
/// `_MM_HINT_NTA` 0, checked below).
#[inline]
#[cfg_attr(not(target_arch = "x86_64"), allow(unused_variables))]
fn line<const HINT: i32>(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    const {
        use std::arch::x86_64::{_MM_HINT_NTA, _MM_HINT_T0};
        assert!(_MM_HINT_T0 == 3 && _MM_HINT_NTA == 0);
    }
    // SAFETY: a prefetch is a hint that never faults, whatever the address, and changes no
    // memory (SSE, in every x86-64 CPU); callers pass addresses in the lines of a value they
    // borrow, or (`prefetch_addr`) addresses computed from a table's layout.
    #[cfg(target_arch = "x86_64")]
    unsafe {
        std::arch::x86_64::_mm_prefetch::<HINT>(p.cast())
    }
}

#[cfg(test)]
mod test {
    use super::*;

    /// Hints change nothing: any value, any offset (past the end too) reads back the same.
    #[test]
    fn hints_change_nothing() {
        let b: Vec<u8> = (0..=255).collect();
        for at in [0, 63, 64, 255, 256, 10_000] {
            prefetch(&b, at);
            prefetch_once(&b, at);
        }
        let big = [7u64; 100];
        prefetch_value(&big);
        prefetch_value(&());
        assert_eq!(b, (0..=255).collect::<Vec<u8>>());
        assert!(big.iter().all(|&x| x == 7));
    }
}
