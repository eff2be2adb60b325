//! Positional reads that finish without the ring: on io_uring, a read at an offset
//! is first tried as `preadv2(..., RWF_NOWAIT)`, which the kernel completes only
//! when the bytes are in the page cache and fails with `EAGAIN` otherwise, before
//! any submission entry is queued (ARCHITECTURE.md, "Fast paths").
//!
//! ```text
//!   read_at ──[driver allows it, op budget left, the fd's hint says try]──▶ preadv2(NOWAIT)
//!     ├─ all the bytes asked for, or 0 (the end of the file) ──▶ done, no SQE
//!     ├─ fewer bytes (the cache had the start of the range, or the file ends in
//!     │  it) ──▶ kept; an SQE reads the rest after them
//!     ├─ EAGAIN (not cached) ──▶ a miss: SQE as usual
//!     └─ any other error (a pipe, a file system without NOWAIT) ──▶ never again on
//!        this fd: SQE as usual, which gives the authoritative result
//! ```
//!
//! Why: a read the kernel completes from the page cache costs more through the
//! ring (an SQE, the kernel's request set-up, a CQE, a task wake and a second poll)
//! than a system call on a host where a system call is cheap (`benches/fs.rs`).
//! Only successes are taken from the call, so an op's result is what the ring would
//! have given; of a partly cached range the ring reads the rest (as io_uring
//! itself finishes a short buffered read), so a read is short only at the end of
//! the file, as before.
//!
//! The try is only made while few reads are in the ring ([`worth_trying`]): with
//! many, they share the loop's `io_uring_enter`, and the ring costs less per read
//! than the call.
//!
//! A descriptor's [`NowaitHint`] keeps this cheap where it does not pay: after a
//! run of misses (data not cached) the next tries are skipped, up to 63 in a row,
//! and a descriptor opened `O_DIRECT` (whose read would wait for the device) or on
//! which the call failed otherwise is never tried. The driver decides whether the
//! path is used at all (`Features::nowait_reads`: off on epoll, which makes the
//! plain call anyway, and under the 5.10 mask, so that the ring's path keeps being
//! tested; `RINGLOOP_NOWAIT_READS=0` turns it off).

use std::cell::Cell;
use std::os::fd::RawFd;

/// Not yet known whether the descriptor may be tried (`fcntl` at the first try).
const UNKNOWN: u8 = 0;
/// Try it.
const TRY: u8 = 1;
/// Never try it (`O_DIRECT`, or the call failed with something other than
/// `EAGAIN`).
const NEVER: u8 = 2;

/// At most `2^MAX_MISSES - 1` tries are skipped after a run of misses.
const MAX_MISSES: u8 = 6;

/// From this many reads in the ring on, a read goes to the ring without a try.
const RING_FROM: u64 = 8;

/// Whether a read is worth trying without the ring while `in_ring` reads of its
/// kind are in the ring: few in the ring, each read costs a loop turn of its own
/// (an `io_uring_enter`, a wake, a poll), and the call is cheaper; many, and
/// they share the turn, where the ring's per-read cost is below the call's
/// (`preadv2` costs more in the kernel than `pread`: its `iovec`). Measured with
/// `benches/fs.rs`, 4 KiB page-cached reads, 6.18: the call won at 1 to 8 in
/// flight (0.84× against 0.55× of a `pread` loop at 1), the ring at 16 and 64
/// (1.00× against 0.86× at 64).
pub(crate) fn worth_trying(in_ring: u64) -> bool {
    in_ring < RING_FROM
}

/// What one descriptor's reads learnt about the `RWF_NOWAIT` fast path (kept
/// with the descriptor, in `fd.rs`).
#[derive(Debug, Default)]
pub(crate) struct NowaitHint {
    state: Cell<u8>,
    /// Misses in a row (capped at `MAX_MISSES`).
    misses: Cell<u8>,
    /// Tries still to skip after the last miss.
    skip: Cell<u8>,
}

impl NowaitHint {
    /// Says whether reads on the descriptor may be tried at all, when its open
    /// flags are known (no `O_DIRECT`), so that the first try needs no `fcntl`.
    pub(crate) fn set_allowed(&self, allowed: bool) {
        self.state.set(if allowed { TRY } else { NEVER });
    }

    /// Whether to try this read on `fd` (a skipped try counts down the skips).
    fn should_try(&self, fd: RawFd) -> bool {
        match self.state.get() {
            NEVER => return false,
            UNKNOWN => {
                // SAFETY: `F_GETFL` reads the descriptor's flags and touches no memory.
                let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
                let allowed = flags >= 0 && flags & libc::O_DIRECT == 0;
                self.set_allowed(allowed);
                if !allowed {
                    return false;
                }
            }
            _ => {}
        }
        match self.skip.get() {
            0 => true,
            n => {
                self.skip.set(n - 1);
                false
            }
        }
    }

    fn hit(&self) {
        self.misses.set(0);
    }

    fn miss(&self) {
        let misses = (self.misses.get() + 1).min(MAX_MISSES);
        self.misses.set(misses);
        self.skip.set((1u8 << misses) - 1);
    }

    fn never(&self) {
        self.state.set(NEVER);
    }
}

/// What a try gave.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Tried {
    /// The read is done: all the bytes asked for, or 0 at the end of the file.
    Done(u32),
    /// These first bytes (fewer than asked, more than 0) were read: the ring is
    /// to read the rest after them.
    Part(u32),
    /// Nothing read: the ring is to make the whole read.
    Ring,
}

/// Reads `len` bytes at `offset` of `fd` into `ptr` as far as the page cache has
/// them, without blocking (see [`Tried`]); nothing when the hint says not to try
/// or the call fails, which the hint then remembers.
///
/// # Safety
///
/// `ptr` must be valid for writes of `len` bytes, and `fd` an open descriptor.
pub(crate) unsafe fn try_pread(
    hint: &NowaitHint,
    fd: RawFd,
    ptr: *mut u8,
    len: usize,
    offset: u64,
) -> Tried {
    if !hint.should_try(fd) {
        return Tried::Ring;
    }
    let iov = libc::iovec {
        iov_base: ptr.cast(),
        iov_len: len,
    };
    // SAFETY: the caller guarantees `len` writable bytes at `ptr`; `iov` lives
    // through the call; the offset is below `i64::MAX` (checked by the callers,
    // `File::read_at`), else the call fails with `EINVAL` and the ring answers.
    let n = unsafe { libc::preadv2(fd, &iov, 1, offset as libc::off_t, libc::RWF_NOWAIT) };
    if n < 0 {
        match std::io::Error::last_os_error().raw_os_error() {
            Some(libc::EAGAIN) => hint.miss(),
            // Interrupted: nothing learnt, the ring makes it.
            Some(libc::EINTR) => {}
            // ESPIPE (a pipe), EOPNOTSUPP (no NOWAIT on this file system), EBADF,
            // EISDIR...: the ring's answer is the one to give, every time.
            _ => hint.never(),
        }
        return Tried::Ring;
    }
    // `0 <= n <= len`, and the callers' lengths fit in a `u32` (`Read::len`).
    let Ok(n32) = u32::try_from(n) else {
        return Tried::Ring;
    };
    if n as usize == len || n == 0 {
        hint.hit();
        Tried::Done(n32)
    } else {
        // Short: the cache had only the start, or the file ends in the range
        // (the ring's read of the rest then gives 0). Neither a hit nor a miss.
        Tried::Part(n32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn misses_skip_more_tries_in_a_row_and_a_hit_resets() {
        let hint = NowaitHint::default();
        hint.set_allowed(true);
        assert!(hint.should_try(-1));
        hint.miss();
        assert!(!hint.should_try(-1));
        assert!(hint.should_try(-1));
        hint.miss();
        assert_eq!((0..3).filter(|_| hint.should_try(-1)).count(), 0);
        assert!(hint.should_try(-1));
        for _ in 0..10 {
            hint.miss();
        }
        assert_eq!((0..63).filter(|_| hint.should_try(-1)).count(), 0);
        assert!(hint.should_try(-1));
        hint.hit();
        hint.miss();
        assert!(!hint.should_try(-1));
        assert!(hint.should_try(-1));
    }

    #[test]
    fn never_and_unknown_on_a_bad_descriptor() {
        let hint = NowaitHint::default();
        // fcntl fails on -1: not tried.
        assert!(!hint.should_try(-1));
        assert!(!hint.should_try(-1));
        let hint = NowaitHint::default();
        hint.set_allowed(true);
        hint.never();
        assert!(!hint.should_try(-1));
    }

    #[test]
    fn a_pipe_is_never_tried_again() {
        let (r, _w) = crate::driver::sys::pipe().unwrap();
        let hint = NowaitHint::default();
        let mut buf = [0u8; 4];
        use std::os::fd::AsRawFd;
        // SAFETY: `buf` has 4 writable bytes; `r` is open.
        let got = unsafe { try_pread(&hint, r.as_raw_fd(), buf.as_mut_ptr(), 4, 0) };
        assert_eq!(got, Tried::Ring);
        assert_eq!(hint.state.get(), NEVER);
    }

    #[test]
    fn a_cached_file_is_read_and_a_short_range_is_a_part() {
        use std::io::Write;
        use std::os::fd::AsRawFd;
        let path = std::env::temp_dir().join(format!("ringloop-nowait-{}", std::process::id()));
        std::fs::File::create(&path)
            .unwrap()
            .write_all(b"0123456789")
            .unwrap();
        let file = std::fs::File::open(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        let hint = NowaitHint::default();
        let mut buf = [0u8; 4];
        let fd = file.as_raw_fd();
        let mut read = |off: u64| {
            // SAFETY: `buf` has 4 writable bytes; `fd` is open while `file` lives.
            let n = unsafe { try_pread(&hint, fd, buf.as_mut_ptr(), 4, off) };
            (n, buf)
        };
        match read(2) {
            (Tried::Done(4), buf) => assert_eq!(&buf, b"2345"),
            // A file system without NOWAIT reads: never tried again.
            (Tried::Ring, _) => {
                assert_eq!(hint.state.get(), NEVER);
                return;
            }
            other => panic!("unexpected {other:?}"),
        }
        // At the end of the file: 0, a complete answer.
        assert_eq!(read(10).0, Tried::Done(0));
        // Fewer bytes than asked near the end: kept, the ring reads the rest.
        let (got, buf) = read(8);
        assert_eq!((got, &buf[..2]), (Tried::Part(2), &b"89"[..]));
        assert_eq!(hint.misses.get(), 0);
    }
}
