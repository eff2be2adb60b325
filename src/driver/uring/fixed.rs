//! Registered (fixed) files: a descriptor that many reads go through gets a slot
//! in the ring's file table, and its reads name the slot (`IOSQE_FIXED_FILE`), so
//! that the kernel skips looking the descriptor up and taking a reference to its
//! file for each request (ARCHITECTURE.md, "Fast paths").
//!
//! ```text
//!   a read on fd, submitted on driver D
//!     ├─ fd has a slot on D ────────────────────────▶ SQE names the slot
//!     ├─ fd has a slot on another driver ───────────▶ SQE names the fd
//!     └─ no slot: count it; at the FIXED_AFTER-th ring read, if D's probe has
//!        sparse tables and a slot is free: register fd there (one
//!        io_uring_register) ────────────────────────▶ SQE names the slot
//!   last SharedFd dropped (no op on fd can be in flight: each holds one), or
//!   File::close taking the fd back
//!     └─ slot emptied (io_uring_register, fd -1) and freed; when D is busy up the
//!        stack (a CQE's orphan dropped the last clone), at D's next turn instead
//! ```
//!
//! The table holds its own reference to the file, so a slot is emptied before
//! the descriptor is closed or given back, or at the latest at the next turn:
//! never left to keep a closed file (a socket's peer waiting for its end) open.
//! Requests in flight keep the file themselves (the kernel's resource nodes), and
//! none can be in flight when the slot is released.
//!
//! Only where emptying a slot lets the file go at once: from 6.13 each table
//! entry holds its own reference, dropped when the slot is emptied. Before, the
//! old file waited on a resource node, and nodes were freed in order (behind any
//! request still in flight, a pipe read waiting for days) and, until 6.4, a
//! second later: a closed file would stay open (its peer not seeing the end, its
//! locks held). The probe dates it by `IORING_OP_READV_FIXED` (6.15, the first
//! opcode after that change), so never under the 5.10 mask, which keeps the
//! plain descriptor's path tested, nor on 6.1; if the table cannot be registered
//! (a seccomp filter, `RLIMIT_NOFILE`), never again on that ring.

use std::cell::{Cell, RefCell};
use std::os::fd::RawFd;

use io_uring::IoUring;

use super::super::{Handle, IoDriver, WeakHandle};

/// Slots in a ring's table (registered at the first use).
const SLOTS: u32 = 64;
/// Reads through the ring on a descriptor before it gets a slot: a file opened
/// for one or two reads does not pay the two `io_uring_register` calls.
const FIXED_AFTER: u32 = 8;
/// "No slot" in [`FdFixed::slot`].
const NONE: u32 = u32::MAX;
/// [`FixedFiles::register`]: the kernel refused the descriptor; in
/// [`FdFixed::reads`]: never try again.
const REFUSED: u32 = u32::MAX;

/// A ring's table of registered files.
#[derive(Default)]
pub(crate) struct FixedFiles {
    /// Registered (`SLOTS` sparse slots) at the first use.
    registered: bool,
    /// Registering failed: never again.
    failed: bool,
    /// Slots given back.
    free: Vec<u32>,
    /// Slots never used start here.
    next: u32,
}

impl FixedFiles {
    /// Puts `fd` in a free slot; `None` when the table is full or cannot be had,
    /// `Some(REFUSED)` when the kernel would not take this descriptor.
    fn register(&mut self, ring: &IoUring, fd: RawFd) -> Option<u32> {
        if self.failed {
            return None;
        }
        if !self.registered {
            if ring.submitter().register_files_sparse(SLOTS).is_err() {
                self.failed = true;
                return None;
            }
            self.registered = true;
        }
        let slot = match self.free.pop() {
            Some(slot) => slot,
            None if self.next < SLOTS => {
                self.next += 1;
                self.next - 1
            }
            None => return None,
        };
        match ring.submitter().register_files_update(slot, &[fd]) {
            Ok(1) => Some(slot),
            _ => {
                // The kernel refused this descriptor: its reads name it from now
                // on (`FdFixed::slot_for`), without asking again.
                self.free.push(slot);
                Some(REFUSED)
            }
        }
    }

    /// Empties `slot` (the table drops its reference to the file) and frees it.
    /// Only called when no request naming the slot can be in flight.
    pub(crate) fn release(&mut self, ring: &IoUring, slot: u32) {
        if !self.registered || slot >= self.next {
            return;
        }
        if ring.submitter().register_files_update(slot, &[-1]).is_ok() {
            self.free.push(slot);
        }
        // On failure (no memory) the slot stays taken, and the file referenced
        // until the ring closes: never reused while it may name another file.
    }
}

/// What a descriptor knows of its slot (kept with the descriptor, in `fd.rs`).
pub(crate) struct FdFixed {
    /// The slot, or `NONE`.
    slot: Cell<u32>,
    /// The driver whose table holds the slot.
    driver: RefCell<Option<WeakHandle>>,
    /// Reads through a ring so far (up to `FIXED_AFTER`).
    reads: Cell<u32>,
}

impl Default for FdFixed {
    fn default() -> FdFixed {
        FdFixed {
            slot: Cell::new(NONE),
            driver: RefCell::new(None),
            reads: Cell::new(0),
        }
    }
}

impl std::fmt::Debug for FdFixed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FdFixed")
            .field("slot", &self.slot.get())
            .finish_non_exhaustive()
    }
}

impl FdFixed {
    /// The slot naming `fd` in `driver`'s table for a read about to be
    /// submitted there (`uring` is that driver's ring, borrowed), registering it
    /// when the descriptor has earned one; `None`: name the descriptor.
    pub(crate) fn slot_for(
        &self,
        driver: &Handle,
        uring: &mut super::Uring,
        fd: RawFd,
    ) -> Option<u32> {
        let slot = self.slot.get();
        if slot != NONE {
            let here = self
                .driver
                .borrow()
                .as_ref()
                .is_some_and(|owner| driver.is(owner));
            return here.then_some(slot);
        }
        if !uring.features().fixed_files {
            return None;
        }
        let reads = self.reads.get();
        if reads == REFUSED {
            return None;
        }
        if reads < FIXED_AFTER {
            self.reads.set(reads + 1);
            return None;
        }
        let (ring, table) = uring.fixed_parts();
        let slot = table.register(ring, fd)?;
        if slot == REFUSED {
            self.reads.set(REFUSED);
            return None;
        }
        self.slot.set(slot);
        *self.driver.borrow_mut() = Some(driver.downgrade());
        Some(slot)
    }

    /// Releases the slot, if any, in its driver's table: now when that driver
    /// can be reached, else at its next turn. Called when no op on the
    /// descriptor is in flight (its last `SharedFd` is going, or `File::close`
    /// found none), before the descriptor is closed or given back.
    pub(crate) fn release(&self) {
        let slot = self.slot.replace(NONE);
        if slot == NONE {
            return;
        }
        let Some(driver) = self.driver.take().and_then(|weak| weak.upgrade()) else {
            return; // the driver, and its ring, are gone
        };
        let mut io = driver.try_io();
        match io.as_deref_mut() {
            Some(IoDriver::Uring(uring)) => {
                let (ring, table) = uring.fixed_parts();
                table.release(ring, slot);
            }
            // Closed: the ring went with its table.
            Some(_) => {}
            // Busy up the stack (a CQE's orphan dropped the last clone).
            None => driver.release_fixed_later(slot),
        }
        drop(io);
    }
}
