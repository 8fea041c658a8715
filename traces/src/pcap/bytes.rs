//! Where a [`TraceReader`](super::TraceReader)'s bytes live: a buffer that `read(2)` refills,
//! or the file mapped into memory, so records are parsed where the page cache holds it
//! ([`TraceReader::open_mapped`](super::TraceReader::open_mapped)).
//!
//! Which is cheaper depends on how the page cache holds the file, which offsim can neither
//! see nor choose. A mapping costs the kernel a page fault per fault-around window
//! (`filemap_map_pages`) and the work of mapping every page-cache folio in it, and, to keep
//! the resident set small, an unmap per [`RELEASE_STEP`] (which beside threads on other
//! cores also flushes their TLBs: `flush_tlb_mm_range`, an IPI each); `read(2)` copies every
//! byte (`_copy_to_iter`) at about the same cost whatever the folios. A file just written
//! in large writes (offsim's own generator) may sit in large folios that map a few at a
//! time; one written by `tcpdump -w`, copied, or cached by a kernel or file system without
//! large folios (ext4 before Linux 6.11: Debian 12's, Ubuntu 22.04's) sits in 4 KiB pages,
//! each mapped on its own. Measured here (Linux 6.18, ext4) on 1M-packet 1 KB captures, CPU
//! s, mapped / read, alternated, median of 5: `trace info` of one written by offsim minutes
//! before 0.052 / 0.073, of the same bytes written by `tcpdump -w` 0.153 / 0.086 and by `cp`
//! 0.111 / 0.073, of offsim's captures of the day before 0.162 / 0.104 and 0.164 / 0.106;
//! `rules eval` fw4 of the tcpdump-written one 0.512 / 0.455 and `run --jobs 1` 0.692 /
//! 0.627, of the fresh one 0.424 / 0.445. Reading costs a little more where a mapping wins
//! and much less where it loses, so a reader that decodes every packet reads (`trace
//! info`, `rules eval`, every `run` decode), as tcpdump does. What maps is a walk over
//! record headers (`run`'s first pass, the look at a capture's last MiB): it reads one line
//! a record, and a mapping lets it walk parts of the file at once, on one thread or two
//! ([`TraceReader::split_at`](super::TraceReader::split_at)).
//!
//! Memory: a mapped page the reader has touched counts in the process's resident set until
//! unmapped, so a pass over a 3 GB capture would otherwise end with 3 GB resident (page cache
//! the kernel can reclaim, but `ru_maxrss` and a container's limit count it). The reader
//! therefore drops its mapping of the pages behind it every [`RELEASE_STEP`] bytes
//! (`MADV_DONTNEED`, which for a shared file mapping only unmaps: the page cache keeps the
//! data and a later touch faults the same bytes back in).
//!
//! The hazards of a mapping, as for ripgrep: if another process truncates the file while it
//! is mapped, touching a page past the new end raises SIGBUS, and so does a page the disk
//! cannot read (an I/O error, an NFS server gone), which the read path returns as an error
//! naming the byte offset. A process that rewrites the file in place changes the bytes being
//! parsed (the parser checks every length, so that is garbage in, not a read out of bounds).
//! A capture still being written only grows, and the mapping covers the length the file had
//! when opened (the read path would read on to the new end; either way the records are a
//! prefix of the file). `OFFSIM_NO_MMAP=1` in the environment reads every capture through
//! `read(2)` (ripgrep's `--no-mmap`), for captures on storage where that matters.

// Unsafe code here maps a file and drops pages of that mapping (the rest of offsim's is the
// prefetch hint in `hint.rs` and the tuple maps' allocator in `hugetable.rs`). Each use says
// why it is sound.
#![allow(unsafe_code)]

use std::fs::File;
use std::ops::Deref;

use memmap2::{Advice, Mmap, UncheckedAdvice};

/// Bytes consumed between releases of the mapping behind the reader: small against the
/// resident set of a run (tens of MB), large enough that the `madvise` calls (one per step,
/// each a TLB flush on the cores running the process's threads) cost nothing measurable.
pub(crate) const RELEASE_STEP: usize = 1 << 20;

/// The environment variable that turns mapping off (any value but empty or `0`).
pub(crate) const NO_MMAP: &str = "OFFSIM_NO_MMAP";

/// Whether [`NO_MMAP`]'s value (if set) lets offsim map captures.
fn mapping_allowed(no_mmap: Option<&std::ffi::OsStr>) -> bool {
    no_mmap.is_none_or(|v| v.is_empty() || v == "0")
}

/// The reader's bytes.
pub(crate) enum Bytes {
    /// A buffer refilled by `read(2)`.
    Owned(Vec<u8>),
    /// The whole file, mapped read-only.
    Mapped {
        /// The mapping.
        map: Mmap,
        /// Everything before this offset has been released (see the module docs).
        released: usize,
    },
}

impl Deref for Bytes {
    type Target = [u8];

    #[inline]
    fn deref(&self) -> &[u8] {
        match self {
            Bytes::Owned(v) => v,
            Bytes::Mapped { map, .. } => map,
        }
    }
}

impl Bytes {
    /// `file` mapped, when it is a regular, non-empty file the system lets offsim map;
    /// `None` otherwise (a FIFO, a device, an empty file), for the caller to read instead.
    pub(crate) fn map(file: &File) -> Option<Bytes> {
        if !mapping_allowed(std::env::var_os(NO_MMAP).as_deref()) {
            return None;
        }
        let meta = file.metadata().ok()?;
        if !meta.is_file() || meta.len() == 0 {
            return None;
        }
        // SAFETY: a shared, read-only mapping that offsim never writes through, owned by this
        // reader and dropped with it; every access is a bounds-checked slice of it. Another
        // process truncating or rewriting the file is the hazard the module docs name.
        let map = unsafe { Mmap::map(file) }.ok()?;
        // Readahead for a capture not yet in the page cache; advice only, so a refusal
        // changes nothing.
        let _ = map.advise(Advice::Sequential);
        Some(Bytes::Mapped { map, released: 0 })
    }

    /// Whether these bytes are the whole file (nothing to refill).
    #[inline]
    pub(crate) fn is_mapped(&self) -> bool {
        matches!(self, Bytes::Mapped { .. })
    }

    /// Drops the mapping of the whole [`RELEASE_STEP`]s before `consumed`; returns the offset
    /// at which to call again. The caller holds no borrow of those bytes.
    pub(crate) fn release_before(&mut self, consumed: usize) -> usize {
        let Bytes::Mapped { map, released } = self else {
            return usize::MAX;
        };
        let end = consumed / RELEASE_STEP * RELEASE_STEP;
        if end > *released {
            // SAFETY: a shared, read-only file mapping: MADV_DONTNEED unmaps the pages and a
            // later access faults the file's same bytes back in, so no reference into the
            // range (there is none: the caller has moved past it) could see different data.
            // The range lies inside the mapping and `released` is page-aligned (a multiple of
            // RELEASE_STEP). Advice only: a refusal leaves the pages mapped.
            let _ = unsafe {
                map.unchecked_advise_range(UncheckedAdvice::DontNeed, *released, end - *released)
            };
            *released = end;
        }
        end + RELEASE_STEP
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn a_regular_file_is_mapped_and_released_behind_the_reader() {
        let p = std::env::temp_dir().join(format!("offsim-bytes-{}", std::process::id()));
        let data: Vec<u8> = (0..3 * RELEASE_STEP + 100)
            .map(|i| (i % 251) as u8)
            .collect();
        std::fs::write(&p, &data).unwrap();
        let f = File::open(&p).unwrap();
        let mut b = Bytes::map(&f).expect("a regular file maps");
        assert!(b.is_mapped());
        assert_eq!(&b[..], &data[..]);
        assert_eq!(b.release_before(10), RELEASE_STEP);
        assert_eq!(b.release_before(2 * RELEASE_STEP + 5), 3 * RELEASE_STEP);
        // Released pages read back the file's bytes.
        assert_eq!(&b[..], &data[..]);
        let _ = std::fs::remove_file(&p);
    }

    #[test]
    fn offsim_no_mmap_turns_mapping_off() {
        use std::ffi::OsStr;
        assert!(mapping_allowed(None));
        assert!(mapping_allowed(Some(OsStr::new(""))));
        assert!(mapping_allowed(Some(OsStr::new("0"))));
        assert!(!mapping_allowed(Some(OsStr::new("1"))));
        assert!(!mapping_allowed(Some(OsStr::new("yes"))));
    }

    #[test]
    fn special_and_empty_files_are_not_mapped() {
        #[cfg(unix)]
        assert!(Bytes::map(&File::open("/dev/zero").unwrap()).is_none());
        let p = std::env::temp_dir().join(format!("offsim-bytes-empty-{}", std::process::id()));
        std::fs::write(&p, b"").unwrap();
        assert!(Bytes::map(&File::open(&p).unwrap()).is_none());
        let _ = std::fs::remove_file(&p);
        let mut owned = Bytes::Owned(vec![1, 2, 3]);
        assert!(!owned.is_mapped());
        assert_eq!(owned.release_before(1 << 30), usize::MAX);
    }
}
