//! A zeroed array of 16-byte slots for a large open-addressing table, backed by transparent
//! huge pages where the kernel gives them.
//!
//! `FlowSet` (`trace info`'s count of distinct flows) probes its table at random: on a
//! synflood the table reaches 16 MiB, and in 4 KiB pages nearly every probe also misses the
//! TLB and faults its page in on first touch. A table of 2 MiB or more is therefore an
//! anonymous mapping advised `MADV_HUGEPAGE` (the system's THP mode is usually `madvise`,
//! which gives huge pages only to regions that ask): on a generated 1M-packet synflood
//! `trace info` went from 0.145–0.156 to 0.135 CPU s with THP forced on, the gain this
//! recovers. The table starts on a 2 MiB boundary inside a mapping 2 MiB longer than it
//! (kernels before 6.7 align anonymous mappings to 4 KiB only, which would leave its first
//! and last huge pages small). Where the kernel has no THP the advice fails and the mapping
//! is used in small pages; a smaller table stays in a `Vec`. The mapping is `memmap2`'s (already the capture
//! reader's), viewed as slots through `bytemuck`, so no `unsafe` here.

use memmap2::{Advice, MmapMut, MmapOptions};

/// Tables at least this large are mapped: one huge page (x86-64, arm64 with 4 KiB pages).
const MAP_BYTES: usize = 2 << 20;

/// Zeroed slots.
pub(crate) enum Slots {
    Heap(Vec<u128>),
    /// `len` bytes of slots from offset `at` (a huge page boundary) of the mapping.
    Map {
        map: MmapMut,
        at: usize,
        len: usize,
    },
}

impl Slots {
    /// `n` zeroed slots.
    pub(crate) fn zeroed(n: usize) -> Slots {
        let bytes = n.saturating_mul(size_of::<u128>());
        if bytes >= MAP_BYTES
            && let Ok(map) = MmapOptions::new().len(bytes + MAP_BYTES).map_anon()
        {
            let at = (MAP_BYTES - map.as_ptr() as usize % MAP_BYTES) % MAP_BYTES;
            // Only a hint: without THP the mapping works in small pages.
            let _ = map.advise_range(Advice::HugePage, at, bytes);
            return Slots::Map {
                map,
                at,
                len: bytes,
            };
        }
        Slots::Heap(vec![0; n])
    }

    /// The slots.
    #[inline]
    pub(crate) fn get(&self) -> &[u128] {
        match self {
            Slots::Heap(v) => v,
            // The window starts page-aligned and its length is a multiple of 16: the cast
            // holds.
            Slots::Map { map, at, len } => bytemuck::cast_slice(&map[*at..*at + *len]),
        }
    }

    /// The slots, to write.
    #[inline]
    pub(crate) fn get_mut(&mut self) -> &mut [u128] {
        match self {
            Slots::Heap(v) => v,
            Slots::Map { map, at, len } => bytemuck::cast_slice_mut(&mut map[*at..*at + *len]),
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
            assert_eq!(matches!(s, Slots::Map { .. }), n * 16 >= MAP_BYTES);
            if let Slots::Map { .. } = s {
                assert_eq!(
                    s.get().as_ptr() as usize % MAP_BYTES,
                    0,
                    "huge-page aligned"
                );
            }
            assert_eq!(s.get().len(), n);
            assert!(s.get().iter().all(|&x| x == 0));
            s.get_mut()[n - 1] = u128::MAX;
            assert_eq!(s.get()[n - 1], u128::MAX);
        }
    }
}
