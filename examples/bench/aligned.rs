//! The bench's global allocator: the system allocator, except that every block of
//! 64 KiB or more starts on a page boundary.
//!
//! Why: how fast the kernel copies into a buffer depends on where the buffer
//! starts. glibc serves a large block from its own `mmap` with a 16-byte header,
//! so `vec![0u8; 1 << 20]` starts 16 bytes into a page, and a page-cached 1 MiB
//! `pread` into it measured about half as fast (127 µs of CPU against 57 µs,
//! kernel 6.18, AMD EPYC) as into a 64-byte-aligned one. Which peer got which
//! alignment depended on how it made its buffers (`vec![0; n]` or
//! `Vec::with_capacity(n)`) and on glibc's moving `mmap` threshold, not on the
//! runtime: the 1 MiB sequential reads compared allocators. With every large
//! block page-aligned, each peer's buffers start alike.
//!
//! The adjustment is a function of the size alone, so `dealloc` and `realloc`
//! (the default one, through `alloc` and `dealloc`) always see the layout the
//! block was made with.

use std::alloc::{GlobalAlloc, Layout, System};

/// Blocks from this size on are page-aligned.
const LARGE: usize = 64 << 10;
const PAGE: usize = 4096;

/// The system allocator with large blocks page-aligned (see the module docs).
pub(crate) struct PageAligned;

/// The layout the system allocator is asked for: `layout`, with the alignment
/// raised to a page when the block is large.
fn adjusted(layout: Layout) -> Layout {
    if layout.size() >= LARGE && layout.align() < PAGE {
        // A page is a power of two and the size was valid for a smaller
        // alignment; rounding it up to a page cannot overflow `isize` for any size
        // an allocation can have, and if it did the layout is refused (null).
        Layout::from_size_align(layout.size(), PAGE).unwrap_or(layout)
    } else {
        layout
    }
}

// SAFETY: every call goes to `System` with `adjusted(layout)`, which depends on the
// layout alone; so a block is freed with the layout it was allocated with, and its
// alignment is at least the caller's (a page is a multiple of any smaller power of
// two), its size the caller's.
unsafe impl GlobalAlloc for PageAligned {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: `adjusted` keeps the size (non-zero, as the caller guarantees).
        unsafe { System.alloc(adjusted(layout)) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as in `alloc`.
        unsafe { System.alloc_zeroed(adjusted(layout)) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `alloc`/`alloc_zeroed` with this `layout`, so
        // from `System` with `adjusted(layout)`.
        unsafe { System.dealloc(ptr, adjusted(layout)) }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn large_blocks_start_on_a_page() {
        for size in [64 << 10, 1 << 20, (1 << 20) + 7] {
            let v = vec![0u8; size];
            assert_eq!(v.as_ptr() as usize % super::PAGE, 0, "{size}");
            let w: Vec<u8> = Vec::with_capacity(size);
            assert_eq!(w.as_ptr() as usize % super::PAGE, 0, "{size}");
        }
        // Growing a vector past the threshold moves it to a page boundary too.
        let mut v = vec![1u8; 100];
        v.resize(200 << 10, 2);
        assert_eq!(v.as_ptr() as usize % super::PAGE, 0);
        assert!(v[..100].iter().all(|&b| b == 1) && v[100..].iter().all(|&b| b == 2));
    }
}
