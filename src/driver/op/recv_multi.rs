//! A stream's multishot receive (`IORING_OP_RECV` with `IORING_RECV_MULTISHOT`,
//! 6.0) into the runtime's provided-buffer ring (`uring/buf_ring.rs`).
//!
//! One entry per connection receives for as long as it is armed: each arrival of
//! data is a CQE, whose bytes are copied into the stream's [`Inbox`] while the CQE
//! is reaped, the buffer going straight back to the ring. No receive is submitted
//! per read, and a connection that waits for data holds no buffer.
//!
//! ```text
//!   poll_fill ──inbox empty, not armed──▶ arm (one SQE)
//!   CQE n > 0 (F_MORE) ──▶ bytes appended to the inbox, reader woken
//!   CQE 0              ──▶ end of stream
//!   CQE -ENOBUFS       ──▶ ended (the pool ran dry in one reap): re-armed by the
//!                          next poll_fill; the data is still in the socket
//!   CQE error          ──▶ kept for the reader, ended
//!   inbox ≥ INBOX_MAX  ──▶ cancelled (nobody reads: back-pressure), re-armed
//!                          when the reader has taken the data
//!   stream dropped     ──▶ cancelled (at its runtime's next turn if dropped
//!                          elsewhere); what still arrives is dropped
//! ```

use std::cell::RefCell;
use std::io;
use std::rc::{Rc, Weak};
use std::task::{Context, Poll, Waker};

use io_uring::{cqueue, opcode, types};

use crate::driver::fd::SharedFd;
use crate::driver::stash::Multishot;
use crate::driver::uring::{buf_ring, BufRing, Orphan};
use crate::driver::IoDriver;
use crate::runtime::context;

/// Bytes buffered in the inbox before receiving pauses.
const INBOX_MAX: usize = 256 * 1024;

/// What the multishot receive delivered and the stream has not taken yet.
#[derive(Default)]
struct Inbox {
    data: Vec<u8>,
    eof: bool,
    error: Option<i32>,
    /// Where the op is armed, while it is.
    armed: Option<Multishot>,
    waker: Option<Waker>,
}

/// The receiving side of a stream socket on a multishot receive.
pub(crate) struct RecvStream {
    fd: SharedFd,
    inbox: Rc<RefCell<Inbox>>,
}

impl RecvStream {
    /// Whether the current runtime can receive this way: io_uring with multishot
    /// receive and buffer rings (6.0), and the runtime's buffer ring registered
    /// (registering it now if this is the first stream).
    pub(crate) fn available() -> bool {
        context::with_core(|core| {
            if !(core.features.multishot_recv && core.features.buf_ring) {
                return false;
            }
            match &mut *core.driver.borrow_mut() {
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

    /// Moves what arrived into `dst` (appended; swapped in when `dst` is empty):
    /// `Ok(n)` bytes, `Ok(0)` at the end of the stream.
    pub(crate) fn poll_fill(
        &mut self,
        dst: &mut Vec<u8>,
        cx: &Context<'_>,
    ) -> Poll<io::Result<usize>> {
        let mut inbox = self.inbox.borrow_mut();
        if !inbox.data.is_empty() {
            let n = inbox.data.len();
            if dst.is_empty() {
                std::mem::swap(dst, &mut inbox.data);
            } else {
                dst.extend_from_slice(&inbox.data);
                inbox.data.clear();
            }
            return Poll::Ready(Ok(n));
        }
        if let Some(errno) = inbox.error.take() {
            return Poll::Ready(Err(io::Error::from_raw_os_error(errno)));
        }
        if inbox.eof {
            return Poll::Ready(Ok(0));
        }
        let runtime = context::current_id();
        if inbox.armed.is_some_and(|m| m.runtime != runtime) {
            // Two rings receiving for one socket could deliver out of order.
            return Poll::Ready(Err(io::Error::other(
                "this stream is receiving on another ringloop runtime (a stream reader \
                 reads on the runtime of its first read while that one lives)",
            )));
        }
        if inbox.armed.is_none() {
            drop(inbox);
            match self.arm() {
                Ok(armed) => {
                    inbox = self.inbox.borrow_mut();
                    inbox.armed = Some(armed);
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
        Poll::Pending
    }

    fn arm(&self) -> io::Result<Multishot> {
        let armed = context::with_core(|core| {
            let mut driver = core.driver.borrow_mut();
            let IoDriver::Uring(uring) = &mut *driver else {
                return Err(io::Error::other(
                    "multishot receive needs an io_uring runtime",
                ));
            };
            let ring = uring
                .buf_ring()
                .ok_or_else(|| io::Error::other("the runtime's buffer ring is unavailable"))?;
            let sqe = opcode::RecvMulti::new(types::Fd(self.fd.raw()), buf_ring::GROUP).build();
            let sink = Box::new(RecvSink {
                inbox: Rc::downgrade(&self.inbox),
                runtime: core.id(),
                ring,
                full: false,
                cancel_sent: false,
                _fd: self.fd.clone(),
            });
            // SAFETY: the entry holds no pointer: the kernel picks its buffers
            // from the registered ring, which outlives every op of the runtime.
            let key = unsafe { uring.submit_detached(sqe, sink) }?;
            Ok(Multishot {
                runtime: core.id(),
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
        let cancelled = context::with_core(|core| {
            if core.id() != armed.runtime {
                return false;
            }
            let Ok(mut driver) = core.driver.try_borrow_mut() else {
                return false;
            };
            if let IoDriver::Uring(uring) = &mut *driver {
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
    /// The runtime whose ring holds this op.
    runtime: u64,
    ring: Rc<BufRing>,
    full: bool,
    cancel_sent: bool,
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
                inbox.borrow_mut().data.extend_from_slice(data);
            }
        }
        if let Some(bid) = bid {
            self.ring.give_back(bid);
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
        if !cqueue::more(flags) {
            if inbox.armed.is_some_and(|m| m.runtime == self.runtime) {
                inbox.armed = None;
            }
        } else if inbox.data.len() >= INBOX_MAX {
            self.full = true;
        }
        woken.extend(inbox.waker.take());
    }

    fn wants_cancel(&mut self) -> bool {
        if self.full && !self.cancel_sent {
            self.cancel_sent = true;
            return true;
        }
        false
    }

    fn released(&self) -> bool {
        self.inbox.strong_count() == 0
    }
}
