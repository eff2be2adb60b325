//! The bench's global allocator: glibc's `malloc`, except that in the file-read
//! workers ([`enable`]) every block of 64 KiB or more starts on a page boundary.
//!
//! Why: how fast the kernel copies into a buffer depends on where the buffer
//! starts. A 1 MiB block from glibc comes from an `mmap` of its own, 16 bytes
//! into a page (its header), and a page-cached 1 MiB `pread` into
//! `vec![0u8; 1 << 20]` ran at 6.9 GB/s where the same read into a buffer that
//! glibc had carved from its heap, or into a page-aligned one, ran at 17 GB/s
//! (kernel 6.18, AMD EPYC; 124 against 57 µs of CPU per read). Which peer got
//! which depended on how it made its buffers (`vec![0; n]` or
//! `Vec::with_capacity(n)`) and on glibc's moving `mmap` threshold, not on the
//! runtime: the 1 MiB sequential reads compared allocators. With every large
//! block page-aligned, each peer's buffers start alike. The echo servers keep
//! plain `malloc`, as ringloop's `echo_server` (a binary of its own) has it.

use std::alloc::{GlobalAlloc, Layout};
use std::sync::atomic::{AtomicBool, Ordering};

/// Blocks from this size on are page-aligned once [`enable`]d.
const LARGE: usize = 64 << 10;
const PAGE: usize = 4096;
/// The alignment `malloc` guarantees on x86-64 and aarch64 glibc.
const MALLOC_ALIGN: usize = 16;

/// Whether large blocks are page-aligned in this process.
static ENABLED: AtomicBool = AtomicBool::new(false);

/// Page-aligns the large blocks made from now on (a file-read worker calls it
/// before it makes its buffers). Blocks made before are unaffected: every block
/// is freed with `free`, however it was made.
pub(crate) fn enable() {
    ENABLED.store(true, Ordering::Relaxed);
}

/// `malloc`, or `posix_memalign` for a page-aligned large block or any alignment
/// above `malloc`'s (see the module docs).
pub(crate) struct PageAligned;

impl PageAligned {
    /// The alignment to ask for `layout`.
    fn align(layout: Layout) -> usize {
        if layout.size() >= LARGE && ENABLED.load(Ordering::Relaxed) {
            layout.align().max(PAGE)
        } else {
            layout.align()
        }
    }
}

// SAFETY: every block comes from `malloc`, `calloc` or `posix_memalign`, each of
// which returns memory that `free` releases (POSIX), so `dealloc` may `free`
// whatever it gets, whatever the layout and whether `enable` was called between.
// A block is at least `layout.size()` bytes, aligned to at least `layout.align()`:
// `malloc`/`calloc` are only used when the alignment is at most the 16 bytes they
// guarantee (and at most the size, as std's `System` also requires, since glibc
// aligns a small block to its size only); otherwise `posix_memalign` gets the
// alignment (a power of two, as a `Layout`'s is, raised to at least a pointer's
// size as it requires). A failure returns null, which callers handle.
unsafe impl GlobalAlloc for PageAligned {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let align = Self::align(layout);
        if align <= MALLOC_ALIGN && align <= layout.size() {
            // SAFETY: `malloc` has no precondition; the size is non-zero (the
            // caller's guarantee).
            return unsafe { libc::malloc(layout.size()) }.cast();
        }
        let mut ptr = std::ptr::null_mut();
        let align = align.max(std::mem::size_of::<usize>());
        // SAFETY: `ptr` is a valid place for the result; `align` is a power of two
        // and a multiple of a pointer's size.
        let err = unsafe { libc::posix_memalign(&mut ptr, align, layout.size()) };
        if err == 0 {
            ptr.cast()
        } else {
            std::ptr::null_mut()
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let align = Self::align(layout);
        if align <= MALLOC_ALIGN && align <= layout.size() {
            // SAFETY: as `malloc` in `alloc`; `calloc` also zeroes.
            return unsafe { libc::calloc(layout.size(), 1) }.cast();
        }
        // SAFETY: the caller's guarantees are `alloc`'s.
        let ptr = unsafe { self.alloc(layout) };
        if !ptr.is_null() {
            // SAFETY: `alloc` returned `layout.size()` writable bytes at `ptr`.
            unsafe { ptr.write_bytes(0, layout.size()) };
        }
        ptr
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller guarantees `new_size` is non-zero and, rounded up to
        // `layout.align()`, does not overflow `isize`.
        let new = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        let align = Self::align(new);
        if align <= MALLOC_ALIGN && align <= new_size {
            // SAFETY: `ptr` came from this allocator, so from `malloc`, `calloc` or
            // `posix_memalign`, all of which `realloc` takes (POSIX); the block it
            // gives is aligned to 16 bytes, enough for `align`, and on failure
            // `ptr` is left as it was (null returned), as `GlobalAlloc` wants.
            return unsafe { libc::realloc(ptr.cast(), new_size) }.cast();
        }
        // A page-aligned or over-aligned block: a new one, the bytes copied.
        // SAFETY: `new` is a valid layout (above).
        let moved = unsafe { self.alloc(new) };
        if !moved.is_null() {
            // SAFETY: both blocks are valid for the smaller size and distinct.
            unsafe { std::ptr::copy_nonoverlapping(ptr, moved, layout.size().min(new_size)) };
            // SAFETY: `ptr` is the caller's block, not used again.
            unsafe { self.dealloc(ptr, layout) };
        }
        moved
    }

    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        // SAFETY: `ptr` came from this allocator, so from `malloc`, `calloc` or
        // `posix_memalign` (see the impl's comment), and is freed once (the
        // caller's guarantee).
        unsafe { libc::free(ptr.cast()) }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn large_blocks_start_on_a_page_once_enabled() {
        super::enable();
        for size in [64 << 10, 1 << 20, (1 << 20) + 7] {
            let v = vec![0u8; size];
            assert_eq!(v.as_ptr() as usize % super::PAGE, 0, "{size}");
            assert!(v.iter().all(|&b| b == 0));
            let w: Vec<u8> = Vec::with_capacity(size);
            assert_eq!(w.as_ptr() as usize % super::PAGE, 0, "{size}");
        }
        // Growing a vector past the threshold moves it to a page boundary, with
        // its bytes.
        let mut v = vec![1u8; 100];
        v.resize(200 << 10, 2);
        assert_eq!(v.as_ptr() as usize % super::PAGE, 0);
        assert!(v[..100].iter().all(|&b| b == 1) && v[100..].iter().all(|&b| b == 2));
        // An alignment above malloc's is honoured at any size.
        #[repr(align(64))]
        struct Line([u8; 64]);
        let b = Box::new(Line([3; 64]));
        assert_eq!(&*b as *const Line as usize % 64, 0);
        assert_eq!(b.0[63], 3);
    }
}
