//! A provided-buffer ring (`IORING_REGISTER_PBUF_RING`, 5.19): a pool of receive
//! buffers the kernel picks from when data arrives, so that a connection waiting
//! for data holds no buffer of its own.
//!
//! ```text
//!   ring of entries (shared with the kernel)      buffers (one block)
//!   [addr,len,bid] [addr,len,bid] ...  tail ──▶   [bid 0][bid 1] ... [bid n-1]
//!   kernel takes entries from the head; we give buffers back at the tail
//! ```
//!
//! A receive with `IOSQE_BUFFER_SELECT` names the group; its CQE carries the
//! buffer id (`IORING_CQE_F_BUFFER`). The data is copied out while the CQE is
//! reaped and the buffer goes straight back to the ring, so the pool only has to
//! cover the completions of one reap.

use std::alloc::{self, Layout};
use std::cell::Cell;
use std::io;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU16, Ordering};

use io_uring::types::BufRingEntry;
use io_uring::IoUring;

/// The buffer group id of the runtime's ring.
pub(crate) const GROUP: u16 = 0;
/// Buffers in the pool.
const ENTRIES: u16 = 256;
/// Bytes per buffer: the most one receive completion delivers.
pub(crate) const BUF_SIZE: usize = 16 * 1024;
/// The kernel wants the entries page-aligned.
const PAGE: usize = 4096;

/// A registered buffer ring and its buffers.
pub(crate) struct BufRing {
    entries: NonNull<BufRingEntry>,
    entries_layout: Layout,
    bufs: NonNull<u8>,
    bufs_layout: Layout,
    /// Our copy of the tail: the next entry to fill.
    tail: Cell<u16>,
    /// Receives that found the pool empty (`ENOBUFS`), for the metrics.
    exhausted: Cell<u64>,
}

impl BufRing {
    /// Allocates the pool, fills the ring with every buffer and registers it with
    /// `ring` as group [`GROUP`].
    pub(crate) fn register(ring: &IoUring) -> io::Result<BufRing> {
        let entries_layout = Layout::from_size_align(
            usize::from(ENTRIES) * std::mem::size_of::<BufRingEntry>(),
            PAGE,
        )
        .map_err(io::Error::other)?;
        let bufs_layout = Layout::from_size_align(usize::from(ENTRIES) * BUF_SIZE, PAGE)
            .map_err(io::Error::other)?;
        // SAFETY: both layouts have a non-zero size.
        let entries = NonNull::new(unsafe { alloc::alloc_zeroed(entries_layout) })
            .ok_or_else(|| io::Error::from(io::ErrorKind::OutOfMemory))?
            .cast::<BufRingEntry>();
        // SAFETY: as above.
        let bufs = match NonNull::new(unsafe { alloc::alloc(bufs_layout) }) {
            Some(bufs) => bufs,
            None => {
                // SAFETY: allocated just above with this layout.
                unsafe { alloc::dealloc(entries.as_ptr().cast(), entries_layout) };
                return Err(io::ErrorKind::OutOfMemory.into());
            }
        };
        let ring_buf = BufRing {
            entries,
            entries_layout,
            bufs,
            bufs_layout,
            tail: Cell::new(0),
            exhausted: Cell::new(0),
        };
        for bid in 0..ENTRIES {
            ring_buf.push(bid);
        }
        ring_buf.publish();
        // SAFETY: the entries are page-aligned, `ENTRIES` long (a power of two) and
        // live until `self` is dropped, which happens only after the ring is
        // closed or the group unregistered (see `Uring`'s field order and
        // shutdown).
        unsafe {
            ring.submitter().register_buf_ring_with_flags(
                entries.as_ptr() as u64,
                ENTRIES,
                GROUP,
                0,
            )
        }?;
        Ok(ring_buf)
    }

    /// Writes the entry for buffer `bid` at the tail (not yet visible).
    fn push(&self, bid: u16) {
        let tail = self.tail.get();
        let index = usize::from(tail & (ENTRIES - 1));
        // SAFETY: `index < ENTRIES`, inside the allocation.
        let entry = unsafe { self.entries.as_ptr().add(index) };
        // SAFETY: the kernel reads only entries before the published tail, and
        // this one is past it; nothing else refers to it.
        let entry = unsafe { &mut *entry };
        let addr = self.buf_ptr(bid);
        entry.set_addr(addr as u64);
        entry.set_len(BUF_SIZE as u32);
        entry.set_bid(bid);
        self.tail.set(tail.wrapping_add(1));
    }

    /// The start of buffer `bid` (`< ENTRIES`).
    fn buf_ptr(&self, bid: u16) -> *mut u8 {
        debug_assert!(bid < ENTRIES);
        // SAFETY: `bid < ENTRIES`, so the offset stays inside the block.
        unsafe { self.bufs.as_ptr().add(usize::from(bid) * BUF_SIZE) }
    }

    /// Makes the entries written so far visible to the kernel.
    fn publish(&self) {
        // SAFETY: the pointer is to the first entry of the live, initialised ring.
        let tail = unsafe { BufRingEntry::tail(self.entries.as_ptr()) } as *const AtomicU16;
        // SAFETY: the tail field overlays the first entry's reserved field, live
        // and aligned for a u16. The kernel reads it concurrently, hence the atomic
        // store (Release: the entries first).
        let tail = unsafe { &*tail };
        tail.store(self.tail.get(), Ordering::Release);
    }

    /// The first `len` bytes the kernel wrote into buffer `bid`, to copy out.
    ///
    /// # Safety
    ///
    /// `bid` and `len` must come from a CQE of a buffer-select receive of this
    /// group (`len <= BUF_SIZE`), and the buffer must not have been given back yet.
    pub(crate) unsafe fn data(&self, bid: u16, len: usize) -> &[u8] {
        let len = len.min(BUF_SIZE);
        let start = self.buf_ptr(bid & (ENTRIES - 1));
        // SAFETY: the caller guarantees the kernel filled `len` bytes of this
        // buffer and no longer writes it (it is ours until given back).
        unsafe { std::slice::from_raw_parts(start, len) }
    }

    /// A receive found the pool empty (its CQE carries `ENOBUFS`).
    pub(crate) fn note_exhausted(&self) {
        self.exhausted.set(self.exhausted.get() + 1);
    }

    /// How many receives found the pool empty so far.
    pub(crate) fn exhausted(&self) -> u64 {
        self.exhausted.get()
    }

    /// Gives buffer `bid` back to the kernel.
    pub(crate) fn give_back(&self, bid: u16) {
        self.push(bid & (ENTRIES - 1));
        self.publish();
    }
}

impl Drop for BufRing {
    fn drop(&mut self) {
        // SAFETY: allocated in `register` with this layout; the kernel no longer
        // uses it (the ring is closed, see `register`).
        unsafe { alloc::dealloc(self.entries.as_ptr().cast(), self.entries_layout) };
        // SAFETY: as above.
        unsafe { alloc::dealloc(self.bufs.as_ptr(), self.bufs_layout) };
    }
}
