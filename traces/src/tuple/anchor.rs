//! Where a `hashbrown` `HashTable` lies, so that a look-up's first lines can be asked for
//! before the look-up ([`TableAnchor::prefetch`]).
//!
//! The layout (`hashbrown`'s `raw.rs`, `RawTable::data_end`): slots are stored in reverse
//! before the control bytes, slot `i` ending `i × size` bytes before them, and a probe for
//! hash `h` starts at bucket `h & (buckets − 1)`. The anchor is where the control bytes
//! start, worked out from any slot whose index is known (`HashTable::get_bucket`,
//! `OccupiedEntry::bucket_index`), and the bucket count then: a table that grows or shrinks
//! moves, and the owner notes a slot again (or forgets the anchor) when it may have.
//!
//! A prefetch is a hint: were the layout ever different the lines asked for would be
//! useless, never wrong (`table.rs`'s `layout_is_hashbrowns` checks it).

use allocator_api2::alloc::Allocator;
use hashbrown::HashTable;

use crate::hint::{LINE, prefetch_addr};

/// Slots from the probe's first bucket on that [`TableAnchor::prefetch`] asks for.
const SLOTS_AHEAD: usize = 4;
/// Bytes of slots [`TableAnchor::prefetch`] asks for at most (three lines).
const SPAN_MAX: usize = 3 * LINE;

/// Where a table's control bytes start (an address, never dereferenced) while it has the
/// number of buckets noted with it.
#[derive(Clone, Copy, Default)]
pub struct TableAnchor {
    at: usize,
    /// 0: not known.
    buckets: usize,
}

/// Whether the anchor is known and for how many buckets, not the address: a table's debug
/// output stays the same from run to run.
impl std::fmt::Debug for TableAnchor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TableAnchor")
            .field("buckets", &self.buckets)
            .finish_non_exhaustive()
    }
}

impl TableAnchor {
    /// Whether the anchor is known (for the table's bucket count when it was noted).
    #[inline]
    pub(crate) fn is_known(&self) -> bool {
        self.buckets != 0
    }

    /// Whether the anchor is known for a table of `buckets` buckets.
    #[inline]
    pub fn is_for(&self, buckets: usize) -> bool {
        self.is_known() && self.buckets == buckets
    }

    /// Notes that slot `i` of a table of `buckets` buckets is at `slot`.
    #[inline]
    fn note<T>(&mut self, buckets: usize, i: usize, slot: &T) {
        // slot 0 ends where the control bytes start: `i + 1` slots past slot `i`
        self.at = std::ptr::from_ref(slot)
            .addr()
            .wrapping_add((i + 1) * std::mem::size_of::<T>());
        self.buckets = buckets;
    }

    /// `TableAnchor::note`, unless the anchor is already known for `buckets` buckets (an
    /// insert that did not move the table).
    #[inline]
    pub fn note_if_moved<T>(&mut self, buckets: usize, i: usize, slot: &T) {
        if self.buckets != buckets {
            self.note(buckets, i, slot);
        }
    }

    /// Forgets the anchor (the table moved: shrunk).
    #[inline]
    pub fn forget(&mut self) {
        self.buckets = 0;
    }

    /// Asks for the lines a look-up of `hash` in `t` reads first: the control bytes of the
    /// bucket its probe starts at, and the slots of that bucket and the next three (at most
    /// three lines: `SLOTS_AHEAD`, `SPAN_MAX`): a key found lies in one of the
    /// group's buckets, and a key inserted goes to the first empty one, a few buckets on at
    /// the loads a growing table runs at (asking for the first slot alone left an insert
    /// into a SYN flood's table to miss; 6 % less CPU for a 10M-packet flood, median of 8
    /// pairs, 7 of them faster). Nothing while the anchor is not known for `t`'s current
    /// size.
    #[inline]
    pub fn prefetch<T, A: Allocator>(&self, t: &HashTable<T, A>, hash: u64) {
        let buckets = t.num_buckets();
        if !self.is_for(buckets) {
            return;
        }
        let i = hash as usize & (buckets - 1);
        let size = std::mem::size_of::<T>();
        prefetch_addr(self.at.wrapping_add(i));
        // slots lie in reverse: bucket `i`'s ends where bucket `i - 1`'s starts, the next
        // buckets' below it
        let end = self.at.wrapping_sub(i * size);
        let first = end.wrapping_sub((SLOTS_AHEAD * size).min(SPAN_MAX)) & !(LINE - 1);
        let mut a = end.wrapping_sub(1) & !(LINE - 1);
        loop {
            prefetch_addr(a);
            if a <= first {
                break;
            }
            a -= LINE;
        }
    }

    /// The address the anchor gives slot `i` (for the layout test).
    #[cfg(test)]
    pub(crate) fn slot_addr<T>(&self, i: usize) -> usize {
        self.at - (i + 1) * std::mem::size_of::<T>()
    }
}
