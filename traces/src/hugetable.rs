//! A zeroed array of 16-byte slots for a large open-addressing table, backed by transparent
//! huge pages where the kernel gives them.
//!
//! `FlowSet` (`trace info`'s count of distinct flows) probes its table at random: on a
//! synflood the table reaches 16 MiB, and in 4 KiB pages nearly every probe also misses the
//! TLB and faults its page in on first touch. A table of 2 MiB or more is therefore an
//! anonymous mapping advised `MADV_HUGEPAGE` (the system's THP mode is usually `madvise`,
//! which gives huge pages only to regions that ask): on a generated 1M-packet synflood
//! `trace info` went from 0.145–0.156 to 0.135 CPU s with THP forced on, the gain this
//! recovers. Where the kernel has no THP the advice fails and the mapping is used in small
//! pages; a smaller table stays in a `Vec`. The mapping is `memmap2`'s (already the capture
//! reader's), viewed as slots through `bytemuck`, so no `unsafe` here.

use memmap2::{Advice, MmapMut, MmapOptions};

/// Tables at least this large are mapped: one huge page (x86-64, arm64 with 4 KiB pages).
const MAP_BYTES: usize = 2 << 20;

/// Zeroed slots.
pub(crate) enum Slots {
    Heap(Vec<u128>),
    Map(MmapMut),
}

impl Slots {
    /// `n` zeroed slots.
    pub(crate) fn zeroed(n: usize) -> Slots {
        let bytes = n.saturating_mul(size_of::<u128>());
        if bytes >= MAP_BYTES
            && let Ok(map) = MmapOptions::new().len(bytes).map_anon()
        {
            // Only a hint: without THP the mapping works in small pages.
            let _ = map.advise(Advice::HugePage);
            return Slots::Map(map);
        }
        Slots::Heap(vec![0; n])
    }

    /// The slots.
    #[inline]
    pub(crate) fn get(&self) -> &[u128] {
        match self {
            Slots::Heap(v) => v,
            // A mapping is page-aligned and its length a multiple of 16: the cast holds.
            Slots::Map(m) => bytemuck::cast_slice(m),
        }
    }

    /// The slots, to write.
    #[inline]
    pub(crate) fn get_mut(&mut self) -> &mut [u128] {
        match self {
            Slots::Heap(v) => v,
            Slots::Map(m) => bytemuck::cast_slice_mut(m),
        }
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn small_and_large_tables_are_zeroed_and_writable() {
        for n in [16, MAP_BYTES / 16, 3 * MAP_BYTES / 16 + 1] {
            let mut s = Slots::zeroed(n);
            assert_eq!(matches!(s, Slots::Map(_)), n * 16 >= MAP_BYTES);
            assert_eq!(s.get().len(), n);
            assert!(s.get().iter().all(|&x| x == 0));
            s.get_mut()[n - 1] = u128::MAX;
            assert_eq!(s.get()[n - 1], u128::MAX);
        }
    }
}
