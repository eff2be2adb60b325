//! A per-thread cache of task-cell memory.
//!
//! Spawning is the hottest allocation in an async program, and its pattern (many
//! cells of a few sizes, freed in bursts) is the one general-purpose allocators
//! handle worst: glibc's per-thread cache holds only seven blocks per size, so a
//! burst of spawns falls through to its slower bins. Here, a cell's size is rounded
//! up to one of a few classes, and freed blocks are kept in a per-thread stack per
//! class, up to [`CACHE_BYTES`] in all, to be reused by the next spawn. (A burst of
//! ten thousand small tasks needs about 1.3 MB; a general-purpose allocator keeps
//! such freed memory in its arenas too.)
//!
//! Blocks come from, and go back to, the global allocator with the class layout, so
//! a block freed on another thread (the last waker dropped there) simply lands in
//! that thread's cache, or in the global allocator once the cache is full or the
//! thread is exiting.

use std::alloc::{self, Layout};
use std::cell::RefCell;
use std::ptr::NonNull;

/// Size classes (bytes); cells with a larger size or an alignment above
/// [`CLASS_ALIGN`] use the global allocator directly.
const CLASSES: [usize; 6] = [128, 192, 256, 384, 512, 768];
const CLASS_ALIGN: usize = 16;
/// Bytes of free blocks kept per thread, all classes together.
const CACHE_BYTES: usize = 4 * 1024 * 1024;

struct Cache {
    free: [Vec<NonNull<u8>>; CLASSES.len()],
    bytes: usize,
}

impl Drop for Cache {
    fn drop(&mut self) {
        for (class, blocks) in self.free.iter_mut().enumerate() {
            let layout = class_layout(class);
            for block in blocks.drain(..) {
                // SAFETY: every cached block was allocated by the global allocator
                // with exactly this class layout, and is owned by the cache alone.
                unsafe { alloc::dealloc(block.as_ptr(), layout) };
            }
        }
    }
}

thread_local! {
    static CACHE: RefCell<Cache> = const {
        RefCell::new(Cache {
            free: [const { Vec::new() }; CLASSES.len()],
            bytes: 0,
        })
    };
}

fn class_of(layout: Layout) -> Option<usize> {
    if layout.align() > CLASS_ALIGN {
        return None;
    }
    CLASSES.iter().position(|&size| layout.size() <= size)
}

fn class_layout(class: usize) -> Layout {
    // A power-of-two alignment and a size that is a multiple of it: always valid.
    Layout::from_size_align(CLASSES[class], CLASS_ALIGN).expect("valid class layout")
}

/// Allocates a block for `layout` (non-zero size).
pub(super) fn allocate(layout: Layout) -> NonNull<u8> {
    let (layout, class) = match class_of(layout) {
        Some(class) => (class_layout(class), Some(class)),
        None => (layout, None),
    };
    if let Some(class) = class {
        let cached = CACHE
            .try_with(|cache| {
                let mut cache = cache.try_borrow_mut().ok()?;
                let block = cache.free[class].pop()?;
                cache.bytes -= CLASSES[class];
                Some(block)
            })
            .ok()
            .flatten();
        if let Some(block) = cached {
            return block;
        }
    }
    // SAFETY: `layout` has a non-zero size (a task cell always has a header).
    let ptr = unsafe { alloc::alloc(layout) };
    match NonNull::new(ptr) {
        Some(ptr) => ptr,
        None => alloc::handle_alloc_error(layout),
    }
}

/// Frees a block that [`allocate`] returned for the same `layout`.
///
/// # Safety
///
/// `ptr` came from `allocate(layout)` and is not used afterwards.
pub(super) unsafe fn deallocate(ptr: NonNull<u8>, layout: Layout) {
    let Some(class) = class_of(layout) else {
        // SAFETY: blocks outside the classes come straight from the global allocator
        // with `layout` (caller contract).
        unsafe { alloc::dealloc(ptr.as_ptr(), layout) };
        return;
    };
    let kept = CACHE
        .try_with(|cache| {
            let Ok(mut cache) = cache.try_borrow_mut() else {
                return false;
            };
            if cache.bytes + CLASSES[class] > CACHE_BYTES {
                return false;
            }
            cache.bytes += CLASSES[class];
            cache.free[class].push(ptr);
            true
        })
        .unwrap_or(false);
    if !kept {
        // SAFETY: the block was allocated with the class layout (see `allocate`).
        unsafe { alloc::dealloc(ptr.as_ptr(), class_layout(class)) };
    }
}
