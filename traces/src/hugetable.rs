//! Large tables backed by transparent huge pages where the kernel gives them: a zeroed array
//! of 16-byte slots ([`Slots`], `trace info`'s flow set), and an allocator for the tuple
//! maps' `hashbrown` tables ([`HugeAlloc`]).
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
//! reader's), viewed as slots through `bytemuck`, with no `unsafe`.
//!
//! [`HugeAlloc`] gives the tuple maps (the side split's tuples, address pairs and LAN hosts,
//! the senders' connections, the engine's per-flow CPU map) the same pages: on a SYN flood
//! those tables hold a tuple per SYN, a `run` looks each one up at random, and in 4 KiB
//! pages the look-ups also miss the TLB and every doubling of a table faults its new pages
//! in one by one. Measured (1M packets from tmpfs, median of 9 alternated): the SYN-flood
//! `run` 0.542 → 0.508 CPU s (wall 0.474 → 0.428 s), home-router without offload 0.546 →
//! 0.531, enterprise with the software flowtable unchanged; peak memory unchanged (130 MB,
//! 31 MB, 29 MB). Implementing an allocator is `unsafe` (the trait's contract), allowed on
//! that implementation alone; the mapping itself is still `memmap2`'s.

use std::alloc::Layout;
use std::ptr::NonNull;
use std::sync::{Arc, Mutex, PoisonError};

use allocator_api2::alloc::{AllocError, Allocator, Global};
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

/// The allocator of the tuple maps' tables: blocks of [`MAP_BYTES`] or more are anonymous
/// mappings advised `MADV_HUGEPAGE` and starting on a huge page boundary (as [`Slots`]),
/// smaller ones come from the global allocator. Clones share the mappings they gave out, so
/// any of them may free a block (the trait's contract); a block is unmapped when freed.
#[derive(Clone, Debug, Default)]
pub(crate) struct HugeAlloc {
    /// The large blocks given out and not yet freed: each block's address, and the mapping
    /// that holds it (a table has one; two while it grows).
    maps: Arc<Mutex<Vec<(usize, MmapMut)>>>,
}

impl HugeAlloc {
    /// Whether a block of `layout` is mapped (else it is the global allocator's).
    fn mapped(layout: Layout) -> bool {
        layout.size() >= MAP_BYTES && layout.align() <= MAP_BYTES
    }

    /// Large blocks given out and not freed.
    #[cfg(test)]
    pub(crate) fn live(&self) -> usize {
        self.maps
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

// SAFETY: a mapped block is `layout.size()` bytes of a private anonymous mapping, aligned to
// `MAP_BYTES` (at least `layout.align()`), readable and writable. The mapping stays in
// `maps`, which every clone shares, until `deallocate` is called with the block's address,
// so the block stays valid while it is allocated, whichever clone frees it, and moving or
// cloning the allocator does not move it. `deallocate` compares addresses only: it never
// reads another block, which another table (a clone's) may be writing. Smaller blocks are
// the global allocator's, which meets the same contract, and are given back to it with the
// layout they were made with.
#[allow(unsafe_code)]
unsafe impl Allocator for HugeAlloc {
    fn allocate(&self, layout: Layout) -> Result<NonNull<[u8]>, AllocError> {
        if !Self::mapped(layout) {
            return Global.allocate(layout);
        }
        let len = layout.size();
        let mut map = MmapOptions::new()
            .len(len + MAP_BYTES)
            .map_anon()
            .map_err(|_| AllocError)?;
        let at = (MAP_BYTES - map.as_ptr() as usize % MAP_BYTES) % MAP_BYTES;
        // Only a hint: without THP the mapping works in small pages.
        let _ = map.advise_range(Advice::HugePage, at, len);
        let block = NonNull::from(&mut map[at..at + len]);
        self.maps
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((block.cast::<u8>().as_ptr() as usize, map));
        Ok(block)
    }

    unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout) {
        if !Self::mapped(layout) {
            // SAFETY: a block of this layout came from `Global` (`allocate`), and the
            // caller gives it back once.
            unsafe { Global.deallocate(ptr, layout) };
            return;
        }
        let a = ptr.as_ptr() as usize;
        let mut maps = self.maps.lock().unwrap_or_else(PoisonError::into_inner);
        let found = maps.iter().position(|(block, _)| *block == a);
        debug_assert!(found.is_some(), "a block this allocator did not give out");
        if let Some(i) = found {
            // unmapped as it drops
            maps.swap_remove(i);
        }
    }
}

#[cfg(test)]
#[allow(unsafe_code)]
mod test {
    use super::*;

    /// Small blocks come from the global allocator, large ones from huge-page aligned
    /// mappings; both hold what is written to them; a clone frees the original's blocks;
    /// every mapping is gone once freed.
    #[test]
    fn the_allocator_maps_large_blocks_and_frees_them() {
        let a = HugeAlloc::default();
        let b = a.clone();
        for size in [64, MAP_BYTES - 1, MAP_BYTES, 3 * MAP_BYTES + 17] {
            let layout = Layout::from_size_align(size, 16).unwrap();
            let block = a.allocate(layout).unwrap();
            assert!(block.len() >= size);
            let p = block.cast::<u8>();
            if size >= MAP_BYTES {
                assert_eq!(p.as_ptr() as usize % MAP_BYTES, 0, "huge-page aligned");
                assert_eq!(b.live(), 1, "clones share the mappings");
            }
            // SAFETY: `size` bytes were just allocated; both ends are written and read back.
            unsafe {
                p.as_ptr().write(7);
                p.as_ptr().add(size - 1).write(9);
                assert_eq!((p.as_ptr().read(), p.as_ptr().add(size - 1).read()), (7, 9));
                b.deallocate(p, layout);
            }
            assert_eq!(a.live(), 0);
        }
        // A zero-size block and one aligned past a huge page are the global allocator's.
        for layout in [
            Layout::from_size_align(0, 1).unwrap(),
            Layout::from_size_align(MAP_BYTES, 2 * MAP_BYTES).unwrap(),
        ] {
            let p = a.allocate(layout).unwrap().cast::<u8>();
            assert_eq!(p.as_ptr() as usize % layout.align(), 0);
            assert_eq!(a.live(), 0);
            // SAFETY: allocated just above with this layout, freed once.
            unsafe { b.deallocate(p, layout) };
        }
    }

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
