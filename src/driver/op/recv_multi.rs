//! A stream's multishot receive (`IORING_OP_RECV` with `IORING_RECV_MULTISHOT`,
//! 6.0) into the runtime's provided-buffer ring (`uring/buf_ring.rs`), with a
//! total byte limit (6.17).
//!
//! One entry receives for as long as it is armed: each arrival of data is a CQE,
//! whose bytes are copied into the stream's [`Inbox`] while the CQE is reaped (into
//! the reader's own buffer, lent to the inbox while a read waits), the provided
//! buffer going straight back to the ring. No receive is submitted per read, and a
//! connection that waits for data holds no buffer.
//!
//! Each arm is given a *budget*, the total number of bytes the kernel may receive
//! before it ends the op (the entry's `optlen`): the kernel stops by itself, in the
//! same completion that reaches the budget, so that no CQE can arrive after we
//! decide to stop, however many completions one reap holds. The last completion
//! may overshoot the budget by less than one provided buffer (16 KiB), as a receive
//! fills the buffer it picked. So from the moment of an arm, what the inbox
//! receives is less than `budget + 16 KiB`; the reader chooses the budget
//! (`net/streams/receive.rs`). Without the limit (older kernels, which refuse the
//! field), streams receive one single-shot receive at a time instead.
//!
//! ```text
//!   poll_fill ──inbox empty, not armed──▶ arm with a budget (one SQE)
//!   CQE n > 0 (F_MORE) ──▶ bytes appended to the inbox, reader woken
//!   CQE n > 0, no F_MORE ─▶ the budget is spent: re-armed by the next poll_fill
//!   CQE 0              ──▶ end of stream
//!   CQE -ENOBUFS       ──▶ ended (the pool ran dry in one reap): re-armed by the
//!                          next poll_fill; the data is still in the socket
//!   CQE error          ──▶ kept for the reader, ended
//!   stream dropped     ──▶ cancelled (at its runtime's next turn if dropped
//!                          elsewhere); what still arrives is dropped
//! ```

use std::cell::RefCell;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::rc::{Rc, Weak};
use std::sync::OnceLock;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use io_uring::{cqueue, opcode, squeue, types, IoUring};

use crate::driver::fd::SharedFd;
use crate::driver::stash::Multishot;
use crate::driver::uring::{buf_ring, BufRing, Orphan};
use crate::driver::{Handle, IoDriver, WeakHandle};

/// Where a submission entry keeps `optlen` (`struct io_uring_sqe` in the kernel's
/// `io_uring.h`: a `u32` after `user_data`, `buf_index` and `personality`).
const SQE_OPTLEN: usize = 44;
/// The size of a submission entry (without `IORING_SETUP_SQE128`).
const SQE_SIZE: usize = 64;
const _: () = assert!(std::mem::size_of::<squeue::Entry>() == SQE_SIZE);

/// A multishot receive on `fd` into buffer group `group` that ends after `limit`
/// bytes (which must not be 0: 0 means no limit). `io_uring`'s `RecvMulti` has no
/// setter for the limit, so it is written into the built entry.
fn recv_multi_limited(fd: RawFd, group: u16, limit: u32) -> squeue::Entry {
    let sqe = opcode::RecvMulti::new(types::Fd(fd), group).build();
    // SAFETY: `Entry` is a `#[repr(C)]` struct whose one field is the kernel's
    // `io_uring_sqe`, 64 bytes (asserted above), so its bytes are that struct's;
    // every field of the struct is an integer, so any bytes are a valid entry.
    let mut bytes: [u8; SQE_SIZE] = unsafe { std::mem::transmute(sqe) };
    bytes[SQE_OPTLEN..SQE_OPTLEN + 4].copy_from_slice(&limit.to_ne_bytes());
    // SAFETY: as above, and the bytes came from an entry.
    unsafe { std::mem::transmute::<[u8; SQE_SIZE], squeue::Entry>(bytes) }
}

/// Whether the kernel takes a total byte limit on a multishot receive (6.17).
/// Asked once per process, on a ring of its own: an older kernel refuses the entry
/// (`EINVAL`: it wants the field zero); a newer one starts the receive, which
/// fails with `ENOBUFS` as the probe names a buffer group that does not exist.
pub(crate) fn limit_supported() -> bool {
    static SUPPORTED: OnceLock<bool> = OnceLock::new();
    *SUPPORTED.get_or_init(|| probe_limit().unwrap_or(false))
}

fn probe_limit() -> io::Result<bool> {
    const NO_SUCH_GROUP: u16 = 0xfffe;
    let mut ring = IoUring::new(2)?;
    let (a, b) = std::os::unix::net::UnixStream::pair()?;
    // A byte to receive: whatever the kernel does, the entry completes at once.
    std::io::Write::write_all(&mut &b, b"x")?;
    let sqe = recv_multi_limited(a.as_raw_fd(), NO_SUCH_GROUP, 1).user_data(1);
    // SAFETY: the entry holds no pointer (its buffers would come from a group).
    unsafe { ring.submission().push(&sqe) }.map_err(io::Error::other)?;
    let timeout = types::Timespec::from(Duration::from_secs(5));
    let args = types::SubmitArgs::new().timespec(&timeout);
    match ring.submitter().submit_with_args(1, &args) {
        Ok(_) => {}
        Err(e) if e.raw_os_error() == Some(libc::ETIME) => return Ok(false),
        Err(e) => return Err(e),
    }
    let result = ring.completion().next().map(|cqe| cqe.result());
    // Dropping the ring cancels the entry if it were still armed; it points to
    // no memory of ours.
    Ok(matches!(result, Some(res) if res != -libc::EINVAL))
}

/// What the multishot receive delivered and the stream has not taken yet.
///
/// While the reader waits for data, it lends its buffer here (`lent`): the bytes
/// it holds are at the front of `data`, and what arrives is appended behind them,
/// so that one buffer holds both (two would double what a waiting reader costs).
#[derive(Default)]
struct Inbox {
    data: Vec<u8>,
    /// The reader's buffer is `data`, its first `lent` bytes the reader's own.
    lent: Option<usize>,
    eof: bool,
    error: Option<i32>,
    /// Where the op is armed, while it is.
    armed: Option<Multishot>,
    /// The last arm ended by itself with data: it received its budget (not the
    /// pool running dry, an error or a cancellation). Cleared at each arm.
    spent: bool,
    waker: Option<Waker>,
}

/// Below this size the inbox grows by one provided buffer at a time, above it by
/// doubling: a lent buffer holds what its read asks for plus the read-ahead, and
/// doubling would make its capacity up to twice that.
const GROW_BY_STEPS_BELOW: usize = 1024 * 1024;

impl Inbox {
    fn append(&mut self, bytes: &[u8]) {
        let needed = self.data.len() + bytes.len();
        if needed > self.data.capacity() {
            let target = if needed < GROW_BY_STEPS_BELOW {
                needed + buf_ring::BUF_SIZE
            } else {
                needed.saturating_mul(2)
            };
            self.data.reserve_exact(target - self.data.len());
        }
        self.data.extend_from_slice(bytes);
    }
}

/// The receiving side of a stream socket on a multishot receive.
pub(crate) struct RecvStream {
    fd: SharedFd,
    inbox: Rc<RefCell<Inbox>>,
}

impl RecvStream {
    /// Whether the current runtime can receive this way: io_uring with multishot
    /// receive, its byte limit, and buffer rings (6.17), and the runtime's buffer
    /// ring registered (registering it now if this is the first stream).
    pub(crate) fn available() -> bool {
        Handle::with_current(|driver| {
            let f = driver.features();
            if !(f.multishot_recv() && f.multishot_recv_limit && f.buf_ring()) {
                return false;
            }
            match &mut *driver.io() {
                IoDriver::Uring(uring) => uring.buf_ring().is_some(),
                _ => false,
            }
        })
        .unwrap_or(false)
    }

    pub(crate) fn new(fd: SharedFd) -> RecvStream {
        RecvStream {
            fd,
            inbox: Rc::new(RefCell::new(Inbox::default())),
        }
    }

    /// Bytes in the inbox: what arrived, and the reader's own while lent.
    pub(crate) fn held(&self) -> usize {
        self.inbox.borrow().data.len()
    }

    /// Moves what arrived into `dst`, the reader's buffer (taking it back if it
    /// was lent; appended or swapped in otherwise); returns how many bytes arrived.
    pub(crate) fn take(&mut self, dst: &mut Vec<u8>) -> usize {
        let mut inbox = self.inbox.borrow_mut();
        if let Some(own) = inbox.lent.take() {
            // `dst` is the empty vector left in place of the lent buffer.
            debug_assert!(dst.is_empty());
            *dst = std::mem::take(&mut inbox.data);
            return dst.len() - own;
        }
        let n = inbox.data.len();
        if n == 0 {
            return 0;
        }
        if dst.is_empty() {
            *dst = std::mem::take(&mut inbox.data);
        } else {
            if dst.len() + n < GROW_BY_STEPS_BELOW {
                // As `Inbox::append`: no buffer twice the size of what it holds.
                dst.reserve_exact(n);
            }
            dst.extend_from_slice(&inbox.data);
            // Not kept: the next arrivals may be few.
            inbox.data = Vec::new();
        }
        n
    }

    /// Moves what arrived into `dst` (see [`take`](Self::take)): `Ok(n)` bytes,
    /// `Ok(0)` at the end of the stream. With nothing there: arms a receive if
    /// none is armed, one that may receive `budget` bytes (at least 1; less than
    /// `budget` + 16 KiB arrive before it ends), and lends `dst` to the inbox
    /// until the next call (`dst` is left empty).
    pub(crate) fn poll_fill(
        &mut self,
        dst: &mut Vec<u8>,
        budget: usize,
        cx: &Context<'_>,
    ) -> Poll<io::Result<usize>> {
        let n = self.take(dst);
        if n > 0 {
            return Poll::Ready(Ok(n));
        }
        let mut inbox = self.inbox.borrow_mut();
        if let Some(errno) = inbox.error.take() {
            return Poll::Ready(Err(io::Error::from_raw_os_error(errno)));
        }
        if inbox.eof {
            return Poll::Ready(Ok(0));
        }
        if inbox.armed.as_ref().is_some_and(|m| !m.driver.is_current()) {
            // Two rings receiving for one socket could deliver out of order.
            return Poll::Ready(Err(io::Error::other(
                "this stream is receiving on another ringloop runtime (a stream reader \
                 reads on the runtime of its first read while that one lives)",
            )));
        }
        if inbox.armed.is_none() {
            drop(inbox);
            match self.arm(budget) {
                Ok(armed) => {
                    inbox = self.inbox.borrow_mut();
                    inbox.armed = Some(armed);
                    inbox.spent = false;
                }
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
        if !inbox
            .waker
            .as_ref()
            .is_some_and(|w| w.will_wake(cx.waker()))
        {
            inbox.waker = Some(cx.waker().clone());
        }
        debug_assert!(inbox.data.is_empty() && inbox.lent.is_none());
        inbox.lent = Some(dst.len());
        inbox.data = std::mem::take(dst);
        Poll::Pending
    }

    /// Whether the end of the stream has arrived with nothing left before it.
    pub(crate) fn end_arrived(&self) -> bool {
        let inbox = self.inbox.borrow();
        inbox.eof && inbox.data.is_empty() && inbox.error.is_none()
    }

    /// The last arm received its whole budget, and the stream is idle (see
    /// [`is_idle`](Self::is_idle)): the data came faster than the reader took
    /// it (`net/streams/receive.rs`, "Bulk transfers").
    pub(crate) fn spent_budget(&self) -> bool {
        self.is_idle() && self.inbox.borrow().spent
    }

    /// No receive is armed and nothing waits in the inbox: the socket's own
    /// queue is all there is (see `Transport::end_waiting`).
    pub(crate) fn is_idle(&self) -> bool {
        let inbox = self.inbox.borrow();
        inbox.armed.is_none()
            && inbox.data.is_empty()
            && inbox.lent.is_none()
            && inbox.error.is_none()
            && !inbox.eof
    }

    fn arm(&self, budget: usize) -> io::Result<Multishot> {
        let budget = u32::try_from(budget).unwrap_or(u32::MAX).max(1);
        let armed = Handle::with_current(|driver| {
            let mut io = driver.io();
            let IoDriver::Uring(uring) = &mut *io else {
                return Err(io::Error::other(
                    "multishot receive needs an io_uring runtime",
                ));
            };
            let ring = uring
                .buf_ring()
                .ok_or_else(|| io::Error::other("the runtime's buffer ring is unavailable"))?;
            let sqe = recv_multi_limited(self.fd.raw(), buf_ring::GROUP, budget);
            let sink = Box::new(RecvSink {
                inbox: Rc::downgrade(&self.inbox),
                driver: driver.downgrade(),
                ring,
                _fd: self.fd.clone(),
            });
            // SAFETY: the entry holds no pointer: the kernel picks its buffers
            // from the registered ring, which outlives every op of the runtime.
            let key = unsafe { uring.submit_detached(sqe, sink) }?;
            Ok(Multishot {
                driver: driver.downgrade(),
                key,
            })
        });
        armed.unwrap_or_else(|| {
            Err(io::Error::other(
                "ringloop read polled outside of a runtime",
            ))
        })
    }
}

impl Drop for RecvStream {
    fn drop(&mut self) {
        let Some(armed) = self.inbox.borrow_mut().armed.take() else {
            return;
        };
        let cancelled = Handle::with_current(|driver| {
            if !driver.is(&armed.driver) {
                return false;
            }
            let Some(mut io) = driver.try_io() else {
                return false;
            };
            if let IoDriver::Uring(uring) = &mut *io {
                uring.cancel(armed.key);
            }
            true
        });
        if cancelled != Some(true) {
            // Outside its runtime, or while its driver is busy: at its next turn.
            crate::driver::cancel_later(armed);
        }
    }
}

/// Receives the CQEs of a stream's multishot receive.
struct RecvSink {
    /// Weak: nothing is kept for a stream that was dropped.
    inbox: Weak<RefCell<Inbox>>,
    /// The driver whose ring holds this op.
    driver: WeakHandle,
    ring: Rc<BufRing>,
    /// Keeps the descriptor open while the op is armed, so that its number is not
    /// reused under the op (the op is cancelled when the stream is dropped).
    _fd: SharedFd,
}

impl Orphan for RecvSink {
    fn discard(&mut self, res: i32, flags: u32, woken: &mut Vec<Waker>) {
        let bid = cqueue::buffer_select(flags);
        let inbox = self.inbox.upgrade();
        if let (Some(bid), Some(inbox)) = (bid, &inbox) {
            if res > 0 {
                // SAFETY: the CQE reports `res` bytes in buffer `bid` of the
                // runtime's group, not yet given back.
                let data = unsafe { self.ring.data(bid, res as usize) };
                inbox.borrow_mut().append(data);
            }
        }
        if let Some(bid) = bid {
            self.ring.give_back(bid);
        }
        if res == -libc::ENOBUFS {
            self.ring.note_exhausted();
        }
        let Some(inbox) = inbox else { return };
        let mut inbox = inbox.borrow_mut();
        match res {
            0 => inbox.eof = true,
            n if n > 0 => {}
            // The pool ran dry or we cancelled: not an error for the reader.
            e if e == -libc::ENOBUFS || e == -libc::ECANCELED => {}
            e => inbox.error = Some(-e),
        }
        if !cqueue::more(flags)
            && inbox
                .armed
                .as_ref()
                .is_some_and(|m| m.driver.same(&self.driver))
        {
            inbox.armed = None;
            // The kernel ends a limited receive by itself in the completion
            // that reaches the limit, which carries data; every other end
            // (end of stream, `ENOBUFS`, an error, a cancellation) carries none,
            // but for a completion queue too full to keep the op armed (rare,
            // and then the loop is busy anyway).
            inbox.spent = res > 0;
        }
        woken.extend(inbox.waker.take());
    }

    fn released(&self) -> bool {
        self.inbox.strong_count() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bytes of an entry.
    fn bytes(sqe: squeue::Entry) -> [u8; SQE_SIZE] {
        // SAFETY: as in `recv_multi_limited`.
        unsafe { std::mem::transmute(sqe) }
    }

    #[test]
    fn the_limit_goes_where_the_crate_puts_optlen() {
        // `SetSockOpt` sets `optlen` through the crate's own bindings: the same
        // four bytes must hold the receive's limit.
        let optlen = 0x1122_3344;
        let setsockopt =
            bytes(opcode::SetSockOpt::new(types::Fd(7), 1, 2, std::ptr::null(), optlen).build());
        assert_eq!(setsockopt[SQE_OPTLEN..SQE_OPTLEN + 4], optlen.to_ne_bytes());
        let limited = bytes(recv_multi_limited(7, 3, optlen));
        let plain = bytes(opcode::RecvMulti::new(types::Fd(7), 3).build());
        assert_eq!(limited[SQE_OPTLEN..SQE_OPTLEN + 4], optlen.to_ne_bytes());
        // Nothing else differs from the crate's multishot receive.
        for i in (0..SQE_SIZE).filter(|i| !(SQE_OPTLEN..SQE_OPTLEN + 4).contains(i)) {
            assert_eq!(limited[i], plain[i], "byte {i}");
        }
    }
}
