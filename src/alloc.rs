//! A global allocator that backs every large buffer with transparent huge pages.
//!
//! A training step of 784-512x4-10 streams about 15 MB of weights, feedback matrices and
//! optimiser state through the caches, more than the 12 MB the CPU's second-level TLB
//! covers with 4 KiB pages, so every pass over them also walks page tables. Most Linux
//! systems enable transparent huge pages only for memory that asks for them
//! (`/sys/kernel/mm/transparent_hugepage/enabled` = `madvise`); this allocator asks. Each
//! allocation of at least [`THRESHOLD`] bytes gets its own anonymous mapping, 2 MiB
//! aligned and rounded up to whole 2 MiB pages, advised `MADV_HUGEPAGE`; smaller ones go
//! to the system allocator. On other systems, and where the kernel refuses the advice,
//! it behaves as the system allocator with large blocks mapped directly.
//!
//! The threshold keeps the many short-lived buffers of the analyses (1-2 MiB activations
//! and workspaces, allocated and freed thousands of times in `diag paper --quick`) with
//! the system allocator, which reuses them; a fresh mapping would fault in and zero new
//! pages each time. What stays above it is long-lived: the flat parameter and optimiser
//! vectors, the data sets, the big evaluation buffers.
//!
//! The binary installs it (`#[global_allocator]` in `main.rs`).
//! `cargo run --release --example huge_pages_ab` times the training step with its buffers
//! on huge pages against the same buffers on 4 KiB pages, alternating in one process: about
//! 1% faster here on a quiet host (medians of 5 runs: bp 1.010, fa 1.007; range 0.995-1.020).

use std::alloc::{GlobalAlloc, Layout, System};

/// Huge page size on x86-64 and most aarch64 kernels.
pub const HUGE_PAGE: usize = 2 << 20;
/// Allocations of at least this many bytes are mapped on huge pages.
pub const THRESHOLD: usize = 4 << 20;

/// See the module documentation.
pub struct HugePageAlloc;

impl HugePageAlloc {
    /// Whether a block of this layout is (or would be) mapped by [`map`] rather than by
    /// the system allocator. `alloc` and `dealloc` decide alike, from the layout alone.
    fn mapped(layout: Layout) -> bool {
        cfg!(target_os = "linux") && layout.size() >= THRESHOLD && layout.align() <= HUGE_PAGE
    }
}

// SAFETY: every block comes either from `System` or from `map`, and goes back the same
// way: `mapped` depends only on the layout, which `dealloc` receives unchanged.
unsafe impl GlobalAlloc for HugePageAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if Self::mapped(layout) {
            map(layout.size())
        } else {
            System.alloc(layout)
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if Self::mapped(layout) {
            // Fresh anonymous mappings read as zero.
            map(layout.size())
        } else {
            System.alloc_zeroed(layout)
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if Self::mapped(layout) {
            unmap(ptr, layout.size())
        } else {
            System.dealloc(ptr, layout)
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let new_layout = Layout::from_size_align_unchecked(new_size, layout.align());
        match (Self::mapped(layout), Self::mapped(new_layout)) {
            (false, false) => System.realloc(ptr, layout, new_size),
            // Still inside the same whole huge pages: nothing moves.
            (true, true) if new_size.div_ceil(HUGE_PAGE) == layout.size().div_ceil(HUGE_PAGE) => ptr,
            _ => {
                let new = self.alloc(new_layout);
                if !new.is_null() {
                    std::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                    self.dealloc(ptr, layout);
                }
                new
            }
        }
    }
}

/// A fresh zeroed mapping of `size` bytes rounded up to whole huge pages, 2 MiB aligned
/// and advised `MADV_HUGEPAGE`; null if the system has no memory for it.
#[cfg(target_os = "linux")]
unsafe fn map(size: usize) -> *mut u8 {
    let len = size.next_multiple_of(HUGE_PAGE);
    // Reserve one huge page more than needed, then trim to an aligned window.
    let raw = libc::mmap(
        std::ptr::null_mut(),
        len + HUGE_PAGE,
        libc::PROT_READ | libc::PROT_WRITE,
        libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
        -1,
        0,
    );
    if raw == libc::MAP_FAILED {
        return std::ptr::null_mut();
    }
    let start = raw as usize;
    let aligned = start.next_multiple_of(HUGE_PAGE);
    let head = aligned - start;
    let tail = HUGE_PAGE - head;
    if head > 0 {
        libc::munmap(raw, head);
    }
    if tail > 0 {
        libc::munmap((aligned + len) as *mut libc::c_void, tail);
    }
    // Advice only: a kernel without transparent huge pages leaves ordinary pages.
    libc::madvise(aligned as *mut libc::c_void, len, libc::MADV_HUGEPAGE);
    aligned as *mut u8
}

#[cfg(target_os = "linux")]
unsafe fn unmap(ptr: *mut u8, size: usize) {
    libc::munmap(ptr as *mut libc::c_void, size.next_multiple_of(HUGE_PAGE));
}

#[cfg(not(target_os = "linux"))]
unsafe fn map(_size: usize) -> *mut u8 {
    unreachable!("only Linux maps blocks directly")
}

#[cfg(not(target_os = "linux"))]
unsafe fn unmap(_ptr: *mut u8, _size: usize) {
    unreachable!("only Linux maps blocks directly")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `VmFlags` line of the mapping in `/proc/self/smaps` that contains `addr`.
    #[cfg(target_os = "linux")]
    fn vm_flags(addr: usize) -> String {
        let smaps = std::fs::read_to_string("/proc/self/smaps").expect("smaps");
        let mut inside = false;
        for line in smaps.lines() {
            if let Some((range, _)) = line.split_once(' ') {
                if let Some((lo, hi)) = range.split_once('-') {
                    if let (Ok(lo), Ok(hi)) = (usize::from_str_radix(lo, 16), usize::from_str_radix(hi, 16)) {
                        inside = lo <= addr && addr < hi;
                        continue;
                    }
                }
            }
            if inside && line.starts_with("VmFlags:") {
                return line.to_string();
            }
        }
        panic!("no mapping contains {addr:#x}");
    }

    #[test]
    fn large_blocks_are_aligned_zeroed_and_advised_and_survive_realloc() {
        let a = HugePageAlloc;
        let size = 3 * HUGE_PAGE + 12_345;
        let layout = Layout::from_size_align(size, 64).unwrap();
        unsafe {
            let p = a.alloc_zeroed(layout);
            assert!(!p.is_null());
            assert_eq!(p as usize % HUGE_PAGE, 0, "2 MiB aligned");
            let block = std::slice::from_raw_parts_mut(p, size);
            assert!(block.iter().all(|&b| b == 0), "zeroed");
            // Kernels built without transparent huge pages refuse the advice (and have no
            // such directory); everywhere else the mapping must carry the `hg` flag.
            #[cfg(target_os = "linux")]
            if std::path::Path::new("/sys/kernel/mm/transparent_hugepage/enabled").exists() {
                let flags = vm_flags(p as usize);
                assert!(flags.split_whitespace().any(|f| f == "hg"), "not advised MADV_HUGEPAGE: {flags}");
                // The trimmed reservation leaves no unaligned mapping before the block.
                assert_eq!(vm_flags(p as usize + size - 1), flags);
            }
            for (i, b) in block.iter_mut().enumerate() {
                *b = (i % 251) as u8;
            }
            // Grow within the same huge pages (in place), then beyond them (moved), then
            // shrink below the threshold (back to the system allocator), then grow again.
            let mut p = p;
            let mut len = size;
            for new_size in [size + 1000, 5 * HUGE_PAGE, THRESHOLD / 3, 2 * THRESHOLD] {
                let q = a.realloc(p, Layout::from_size_align(len, 64).unwrap(), new_size);
                assert!(!q.is_null());
                let kept = len.min(new_size);
                let data = std::slice::from_raw_parts(q, kept);
                assert!(data.iter().enumerate().all(|(i, &b)| b == (i % 251) as u8), "contents kept at {new_size}");
                if new_size == size + 1000 {
                    assert_eq!(q, p, "in place within the same huge pages");
                }
                let fresh = std::slice::from_raw_parts_mut(q, new_size);
                for (i, b) in fresh.iter_mut().enumerate().skip(kept) {
                    *b = (i % 251) as u8;
                }
                p = q;
                len = new_size;
            }
            a.dealloc(p, Layout::from_size_align(len, 64).unwrap());
        }
    }

    #[test]
    fn small_blocks_and_vectors_work_as_usual() {
        let a = HugePageAlloc;
        unsafe {
            let layout = Layout::from_size_align(1000, 8).unwrap();
            let p = a.alloc(layout);
            assert!(!p.is_null());
            p.write_bytes(7, 1000);
            let q = a.realloc(p, layout, 4000);
            assert!(std::slice::from_raw_parts(q, 1000).iter().all(|&b| b == 7));
            a.dealloc(q, Layout::from_size_align(4000, 8).unwrap());
        }
    }
}
