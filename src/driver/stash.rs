//! What the driver remembers about one descriptor: results that cancelled operations
//! received, so that nothing the kernel already did is lost.
//!
//! On io_uring a read or accept whose future is dropped may still complete in the
//! kernel before the cancellation reaches it: the bytes are already out of the
//! socket, the connection already out of the backlog. Those results are kept here and
//! handed to the next read or accept on the same descriptor, in order:
//!
//! ```text
//!   read A in flight ──dropped──▶ pending += 1, ASYNC_CANCEL queued
//!   read B polled    ──pending > 0──▶ waits (so that B cannot overtake A's bytes)
//!   A's CQE: -ECANCELED  ──▶ pending -= 1, B woken, B submits
//!            n bytes     ──▶ bytes stashed, B woken, B takes them without a syscall
//! ```
//!
//! The multishot accept of a listener also delivers into [`FdState::accepted`].
//! epoll never needs the stash: it makes a call only when it can take the result.
//!
//! An op that has to wait (for a cancelled op's result, or for a connection) takes a
//! place in the descriptor's [`WaitList`] through its [`StashWait`], and leaves it
//! when it goes on or is dropped: a future dropped before its event leaves nothing
//! behind (O(1) either way).

use std::collections::VecDeque;
use std::io;
use std::os::fd::OwnedFd;
use std::task::{Context, Poll, Waker};

use super::fd::SharedFd;
use super::sockaddr::SockAddr;
use super::WeakHandle;
use crate::buf::IoBufMut;
use crate::wait_list::{WaitList, WaiterKey};

/// Something a cancelled receive got.
pub(crate) enum Received {
    /// Bytes from a byte stream (TCP, Unix stream, pipe).
    Bytes { data: Vec<u8>, taken: usize },
    /// One datagram, and who sent it when the op asked.
    Datagram {
        data: Vec<u8>,
        from: Option<SockAddr>,
    },
    /// An error (for example `ECONNRESET`), reported once by the kernel.
    Error(i32),
}

/// A connection accepted for somebody who was no longer waiting.
pub(crate) type Accepted = io::Result<(OwnedFd, Option<SockAddr>)>;

/// Where a multishot op of a descriptor is armed.
#[derive(Clone, Debug)]
pub(crate) struct Multishot {
    /// The driver whose ring holds it.
    pub(crate) driver: WeakHandle,
    /// Its op-table key there.
    pub(crate) key: usize,
}

impl PartialEq for Multishot {
    fn eq(&self, other: &Multishot) -> bool {
        self.key == other.key && self.driver.same(&other.driver)
    }
}

/// The driver's per-descriptor state (see the module docs).
#[derive(Default)]
pub(crate) struct FdState {
    /// Cancelled reads and accepts whose CQE has not arrived yet.
    pending: u32,
    /// What cancelled reads received, oldest first.
    received: VecDeque<Received>,
    /// Connections (or accept errors) for the next accepts, oldest first.
    pub(crate) accepted: VecDeque<Accepted>,
    /// This listener's multishot accept, while armed.
    pub(crate) multishot: Option<Multishot>,
    /// A listening socket: closed at once when released (see `release_fd`).
    pub(crate) listener: bool,
    /// The epoll driver that knows this descriptor (by its id): a driver that
    /// does not forgets what it knew about the number (a closed descriptor's).
    pub(crate) epoll: Option<u64>,
    /// Ops waiting for `pending` to drain or for `accepted` to fill (each through
    /// its [`StashWait`]); every event notifies them all.
    waiters: WaitList<()>,
}

/// An op's share in its descriptor's count of results still due (see the module
/// docs): taken when the op's future is dropped while the kernel holds it
/// (`OpKind::orphaned`), settled when its CQE reaches `OpKind::discard`.
#[derive(Default, Debug)]
pub(crate) struct Due(bool);

impl Due {
    /// The op's future was dropped in flight: its result is due on `fd`, and the
    /// descriptor's next read or accept waits for it.
    pub(crate) fn orphan(&mut self, fd: &SharedFd) {
        self.0 = true;
        fd.state().add_pending();
    }

    /// Whether the op's CQE settles a count (it was orphaned in flight).
    pub(crate) fn is_due(&self) -> bool {
        self.0
    }
}

/// The outcome of looking at the stash before submitting a read.
pub(crate) enum Take {
    /// Submit: nothing is stashed or due.
    Submit,
    /// Finished from the stash with this result (bytes copied into the buffer).
    Done(io::Result<u32>),
    /// A cancelled op's result is still due: wait for it (through a
    /// [`StashWait`]).
    Wait,
}

/// An op's place in its descriptor's list of waiters (see the module docs): taken
/// by [`wait`](Self::wait), left by [`leave`](Self::leave) or on drop.
#[derive(Default)]
pub(crate) struct StashWait {
    /// The descriptor whose list holds the place (kept open meanwhile: the op holds
    /// it anyway), and the place.
    place: Option<(SharedFd, WaiterKey)>,
}

impl StashWait {
    /// Waits for the next event of `fd`'s stash with `cx`'s waker: keeps the place
    /// taken at an earlier poll, or takes a new one at the back (none yet, or the
    /// last one was notified: that event has been looked at).
    pub(crate) fn wait(&mut self, fd: &SharedFd, cx: &mut Context<'_>) {
        if let Some((held, key)) = &mut self.place {
            if held.same(fd) {
                let mut state = fd.state();
                if state.waiters.poll(*key, cx).is_pending() {
                    return;
                }
                // Notified, so out of the list: back in, at the back.
                *key = state.waiters.push_back(Some(cx.waker().clone()));
                return;
            }
        }
        self.leave();
        let key = fd.state().waiters.push_back(Some(cx.waker().clone()));
        self.place = Some((fd.clone(), key));
    }

    /// Leaves the list, if in it: the op goes on without waiting.
    pub(crate) fn leave(&mut self) {
        if let Some((fd, key)) = self.place.take() {
            leave(&fd, key);
        }
    }
}

impl Drop for StashWait {
    fn drop(&mut self) {
        self.leave();
    }
}

/// Takes waiter `key` out of `fd`'s list (notified or not: every event notifies
/// every waiter, so a notified one leaving hands nothing on).
fn leave(fd: &SharedFd, key: WaiterKey) {
    // Never borrowed here: the driver's code that borrows the state calls no
    // future's `drop`. Were it ever, the place would stay until the next
    // notification, which frees nothing but is harmless.
    if let Ok(mut state) = fd.try_state() {
        let _ = state.waiters.remove(key);
    }
}

impl FdState {
    /// A cancelled op's CQE is now due here.
    pub(crate) fn add_pending(&mut self) {
        self.pending += 1;
    }

    /// A cancelled op's CQE arrived (its result, if any, was stashed first).
    pub(crate) fn remove_pending(&mut self, woken: &mut Vec<Waker>) {
        self.pending = self.pending.saturating_sub(1);
        if self.pending == 0 {
            self.waiters.notify_all((), woken);
        }
    }

    /// Nothing is stashed for the next read, and no cancelled op's result is due:
    /// what the kernel holds for the descriptor is all there is to read.
    pub(crate) fn is_settled(&self) -> bool {
        self.pending == 0 && self.received.is_empty()
    }

    /// Remembers what a cancelled receive got.
    pub(crate) fn stash(&mut self, received: Received) {
        self.received.push_back(received);
    }

    /// Queues a connection for the next accept; wakes the waiting accepts.
    pub(crate) fn push_accepted(&mut self, accepted: Accepted, woken: &mut Vec<Waker>) {
        self.accepted.push_back(accepted);
        self.waiters.notify_all((), woken);
    }

    /// Wakes every waiter (for example when a multishot accept ends).
    pub(crate) fn wake_all(&mut self, woken: &mut Vec<Waker>) {
        self.waiters.notify_all((), woken);
    }

    /// Ops waiting in the list (tests).
    #[cfg(test)]
    pub(crate) fn waiting(&self) -> usize {
        self.waiters.len()
    }

    /// For a stream read into `bufs` (filled in order): stashed bytes or error, a
    /// wait, or the go-ahead to submit. A stashed datagram is taken whole (what does
    /// not fit is dropped, as `recv` truncates a datagram).
    pub(crate) fn take_bytes<B: IoBufMut>(&mut self, bufs: &mut [B]) -> Take {
        match self.received.front_mut() {
            Some(Received::Bytes { data, taken }) => {
                let copied = fill(bufs, &data[*taken..]);
                *taken += copied;
                if *taken == data.len() {
                    self.received.pop_front();
                }
                Take::Done(Ok(copied as u32))
            }
            Some(Received::Datagram { data, .. }) => {
                let copied = fill(bufs, data);
                self.received.pop_front();
                Take::Done(Ok(copied as u32))
            }
            Some(Received::Error(errno)) => {
                let errno = *errno;
                self.received.pop_front();
                Take::Done(Err(io::Error::from_raw_os_error(errno)))
            }
            None if self.pending > 0 => Take::Wait,
            None => Take::Submit,
        }
    }

    /// For a datagram read into `buf`: one whole stashed datagram (truncated to the
    /// buffer, as `recv` truncates), with its sender.
    pub(crate) fn take_datagram<B: IoBufMut>(
        &mut self,
        buf: &mut B,
        from: &mut Option<SockAddr>,
    ) -> Take {
        match self.received.pop_front() {
            Some(Received::Datagram { data, from: sender }) => {
                *from = sender;
                Take::Done(Ok(copy_into(buf, &data) as u32))
            }
            Some(Received::Bytes { data, taken }) => {
                *from = None;
                Take::Done(Ok(copy_into(buf, &data[taken..]) as u32))
            }
            Some(Received::Error(errno)) => Take::Done(Err(io::Error::from_raw_os_error(errno))),
            None if self.pending > 0 => Take::Wait,
            None => Take::Submit,
        }
    }

    /// For an accept: a queued connection, or whether to wait (`Pending`, through a
    /// [`StashWait`]) for a cancelled accept.
    pub(crate) fn poll_accepted(&mut self) -> Poll<Option<Accepted>> {
        if let Some(accepted) = self.accepted.pop_front() {
            return Poll::Ready(Some(accepted));
        }
        if self.pending > 0 {
            return Poll::Pending;
        }
        Poll::Ready(None)
    }
}

/// Copies `src` into `bufs` in order, as much as fits; returns the bytes copied.
fn fill<B: IoBufMut>(bufs: &mut [B], src: &[u8]) -> usize {
    let mut copied = 0;
    for buf in bufs.iter_mut() {
        if copied == src.len() {
            break;
        }
        copied += copy_into(buf, &src[copied..]);
    }
    copied
}

/// Copies as much of `src` as fits at the start of `buf`; marks it initialised.
fn copy_into<B: IoBufMut>(buf: &mut B, src: &[u8]) -> usize {
    let n = src.len().min(buf.bytes_total());
    if n == 0 {
        // An empty buffer may have a dangling or null pointer.
        return 0;
    }
    // SAFETY: `IoBufMut` guarantees `bytes_total()` writable bytes at the pointer,
    // `n` is no more than that, and `src` is a distinct live slice (the stash owns it).
    unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), buf.stable_mut_ptr(), n) };
    // SAFETY: the first `n` bytes were just written.
    unsafe { buf.set_init(n) };
    n
}

/// The bytes a completed receive wrote at the start of `buf`.
///
/// # Safety
///
/// The kernel must have written `n` bytes at the start of `buf` (a CQE result `n`
/// of a read into it), and `n <= buf.bytes_total()`.
pub(crate) unsafe fn received_bytes<B: IoBufMut>(buf: &B, n: usize) -> Vec<u8> {
    let n = n.min(buf.bytes_total());
    if n == 0 {
        return Vec::new();
    }
    // SAFETY: the caller guarantees the first `n` bytes were written by the kernel,
    // so they are initialised, and the buffer is live and not mutated meanwhile.
    unsafe { std::slice::from_raw_parts(buf.stable_ptr(), n) }.to_vec()
}

// ----- the stash steps of the read ops ------------------------------------------

/// The stash step of a stream read (`OpKind::poll_stash`; see `stash.rs`): waits
/// through `wait` while a cancelled read's result is due.
pub(crate) fn take_stashed<B: IoBufMut>(
    fd: &SharedFd,
    bufs: &mut [B],
    wait: &mut StashWait,
    cx: &mut Context<'_>,
) -> Poll<Option<io::Result<u32>>> {
    let take = fd.state().take_bytes(bufs);
    stash_step(take, fd, wait, cx)
}

/// What an op does with the stash's answer: goes on (leaving the list of waiters
/// if it was in it), or waits for the next stash event.
pub(crate) fn stash_step(
    take: Take,
    fd: &SharedFd,
    wait: &mut StashWait,
    cx: &mut Context<'_>,
) -> Poll<Option<io::Result<u32>>> {
    match take {
        Take::Submit => {
            wait.leave();
            Poll::Ready(None)
        }
        Take::Done(result) => {
            wait.leave();
            Poll::Ready(Some(result))
        }
        Take::Wait => {
            wait.wait(fd, cx);
            Poll::Pending
        }
    }
}

/// Whether a cancelled receive's error is news for the next reader (a reset, a
/// timeout), not an artefact of the cancellation or of a non-blocking retry.
fn stashable_error(res: i32) -> bool {
    res < 0 && ![libc::ECANCELED, libc::EINTR, libc::EAGAIN].contains(&-res)
}

/// The CQE of a cancelled stream read: keep what it received (`bytes(n)` copies
/// the `n` bytes out of its buffers) for the next read, and count it done.
pub(crate) fn stash_stream_result(
    fd: &SharedFd,
    res: i32,
    bytes: impl FnOnce(usize) -> Vec<u8>,
    woken: &mut Vec<Waker>,
) {
    stash_result(
        fd,
        res,
        false,
        |n| Received::Bytes {
            data: bytes(n),
            taken: 0,
        },
        woken,
    );
}

/// The CQE of a cancelled read: keep `received(n)` (when `n > 0`, or `n == 0` for
/// a `datagram` receive, where 0 is an empty datagram rather than the end of a
/// stream) or the error for the next read, and count it done.
pub(crate) fn stash_result(
    fd: &SharedFd,
    res: i32,
    datagram: bool,
    received: impl FnOnce(usize) -> Received,
    woken: &mut Vec<Waker>,
) {
    let mut state = fd.state();
    if res > 0 || (res == 0 && datagram) {
        state.stash(received(res as usize));
    } else if stashable_error(res) {
        state.stash(Received::Error(-res));
    }
    state.remove_pending(woken);
}
