//! The process's allocator: the system's (glibc's `malloc`), with every block of 4 MiB or
//! more marked for transparent huge pages (`madvise(MADV_HUGEPAGE)` over the 2 MiB pages
//! it holds whole).
//!
//! Why: the tables that grow with the live flows (the side split's, conntrack's, the
//! flowtable's) are tens of megabytes read at random, one line a packet. With 4 KiB pages
//! nearly every such read also misses the TLB, and the prefetches that hide the cache
//! misses (`SideSplitter::prefetch`) wait for the page walk. Huge pages cut a 1M-packet SYN
//! flood's `run` by 6–7 % of CPU and 9 % of wall time and left the ordinary profiles and
//! the peak memory as they were (measured with glibc's own switch for this,
//! `GLIBC_TUNABLES=glibc.malloc.hugetlb=1`; see the CHANGELOG). Distributions ship THP in
//! `madvise` mode, so a block is backed by huge pages only when asked.
//!
//! Why not that switch: it must be in the environment before the process starts. Why not
//! an allocator crate (mimalloc, jemalloc): a C build and another allocator's behaviour
//! everywhere, for one hint on large blocks. A failed `madvise` (THP disabled, a kernel
//! without it) changes nothing: the advice is a hint and no result depends on it.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};

/// A huge page (x86-64, and arm64 with 4 KiB pages).
const HUGE: usize = 2 << 20;
/// Blocks this large are advised: they hold at least one huge page whole.
const MIN_BLOCK: usize = 2 * HUGE;

/// The system allocator, advising large blocks to use huge pages.
pub(crate) struct HugeAlloc;

/// The whole huge pages of a block at address `addr` of `size` bytes: (start, length), or
/// `None` for a block too small to hold one.
#[inline]
fn huge_pages(addr: usize, size: usize) -> Option<(usize, usize)> {
    if size < MIN_BLOCK {
        return None;
    }
    let start = addr.checked_next_multiple_of(HUGE)?;
    let end = addr.checked_add(size)? & !(HUGE - 1);
    (end > start).then(|| (start, end - start))
}

/// Advises the whole huge pages of block `p` of `size` bytes.
#[inline]
fn advise(p: *mut u8, size: usize) {
    let Some((start, len)) = huge_pages(p.addr(), size) else {
        return;
    };
    let Some(at) = std::ptr::NonNull::new(p.with_addr(start)) else {
        return;
    };
    // SAFETY: the range lies inside the block the allocator has just handed out (from its
    // first whole huge page to its last), and MADV_HUGEPAGE changes only how the kernel
    // backs those pages, never their contents.
    let _ = unsafe {
        nix::sys::mman::madvise(at.cast(), len, nix::sys::mman::MmapAdvise::MADV_HUGEPAGE)
    };
}

// SAFETY: every call is `System`'s; `advise` only hints on the block returned.
unsafe impl GlobalAlloc for HugeAlloc {
    #[inline]
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        // SAFETY: the caller's contract, passed on.
        let p = unsafe { System.alloc(l) };
        advise(p, l.size());
        p
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        // SAFETY: the caller's contract, passed on.
        let p = unsafe { System.alloc_zeroed(l) };
        advise(p, l.size());
        p
    }

    #[inline]
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: the caller's contract, passed on.
        unsafe { System.dealloc(p, l) }
    }

    #[inline]
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller's contract, passed on.
        let q = unsafe { System.realloc(p, l, new_size) };
        if new_size > l.size() {
            advise(q, new_size);
        }
        q
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn advises_only_whole_huge_pages_inside_the_block() {
        // too small, or holding no whole huge page
        assert_eq!(huge_pages(0, MIN_BLOCK - 1), None);
        assert_eq!(huge_pages(HUGE + 16, MIN_BLOCK), Some((2 * HUGE, HUGE)));
        // aligned: every page
        assert_eq!(huge_pages(4 * HUGE, 3 * HUGE), Some((4 * HUGE, 3 * HUGE)));
        // a block near the top of the address space does not wrap
        assert_eq!(huge_pages(usize::MAX - MIN_BLOCK, MIN_BLOCK + 1), None);
        for (addr, size) in [
            (4096, 9 << 20),
            (HUGE - 1, 5 << 20),
            (7 * HUGE + 8, 4 << 20),
        ] {
            let (start, len) = huge_pages(addr, size).unwrap();
            assert_eq!(start % HUGE, 0);
            assert_eq!(len % HUGE, 0);
            assert!(start >= addr && start + len <= addr + size);
            assert!(start - addr < HUGE && addr + size - (start + len) < HUGE);
        }
    }

    /// Blocks small and large, advised or not, hold what is written to them.
    #[test]
    fn blocks_keep_their_contents() {
        for size in [64, MIN_BLOCK - 1, MIN_BLOCK, 3 * MIN_BLOCK + 5] {
            let l = Layout::from_size_align(size, 8).unwrap();
            // SAFETY: a non-zero size; the block is written within its size and freed once.
            unsafe {
                let p = HugeAlloc.alloc_zeroed(l);
                assert!(!p.is_null());
                assert_eq!(*p.add(size - 1), 0);
                p.add(size - 1).write(7);
                let q = HugeAlloc.realloc(p, l, size * 2);
                assert_eq!(*q.add(size - 1), 7);
                HugeAlloc.dealloc(q, Layout::from_size_align(size * 2, 8).unwrap());
            }
        }
    }
}
