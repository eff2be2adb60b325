//! Sending a [`StreamWriter`](super::StreamWriter)'s buffer.
//!
//! [`poll_flush`] is the state machine; the writer's *flusher* task runs it, and
//! so does `write` itself when the flusher is parked, with the flusher's waker:
//! the send is queued at once, before whatever the writing task queues next (its
//! next receive, typically), and the flusher is woken only by the send's
//! completion.
//!
//! ```text
//!   idle (parked) ──write()──▶ send in flight ──CQE──▶ more buffered? send again
//!      │                          │                          └─ no: idle
//!      └──ending asked, nothing buffered──▶ shutdown ──▶ done, task exits
//!   send error ──▶ error saved, buffer dropped, connection shut down (the
//!                  reader reports the error), done, task exits
//! ```
//!
//! The flusher holds the descriptor open until it exits, so a writer dropped with
//! data buffered still sends it.

use std::future::{poll_fn, Future};
use std::io;
use std::net::Shutdown;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use super::error::SavedError;
pub(crate) use super::transport::SendOp;
use super::writer::{Ending, WriterShared, WriterState};
use crate::buf::{IoBuf, Slice};

/// Marks the flusher gone when its task ends, however it ends (cancelled at
/// runtime shutdown, even before its first poll), and wakes whoever waits on the
/// writer.
struct Alive(Rc<WriterShared>);

impl Drop for Alive {
    fn drop(&mut self) {
        let mut state = self.0.state.borrow_mut();
        state.flusher_alive = false;
        state.flusher_waker = None;
        // A send still in flight is cancelled by dropping it (its buffer stays
        // with the driver until the kernel is done).
        let op = state.op.take();
        if !state.done {
            // Cancelled before it could finish: what is buffered will not be sent.
            state.done = true;
            state.error.get_or_insert_with(|| {
                SavedError::new(&io::Error::other(
                    "the runtime shut down before the stream writer was flushed",
                ))
            });
            state.buf = Vec::new();
            state.in_flight = 0;
        }
        let mut waiters = Vec::new();
        state.waiters.notify_all((), &mut waiters);
        drop(state);
        drop(op);
        waiters.into_iter().for_each(Waker::wake);
    }
}

/// The flusher task.
pub(crate) fn run(shared: Rc<WriterShared>) -> impl Future<Output = ()> {
    // Made before the task first runs, so that a task dropped unpolled still
    // marks the flusher gone.
    let alive = Alive(shared);
    async move {
        let shared = &alive.0;
        poll_fn(|cx| poll_flush(shared, cx)).await;
    }
}

/// Takes in the result of a send that completed, as the flusher task would at its
/// next poll (with its waker, which the poll keeps registered): for the reader
/// half, before it reports the end of the stream (see `transport.rs`).
pub(crate) fn settle(shared: &WriterShared) {
    let waker = {
        let state = shared.state.borrow();
        if state.done || state.op.is_none() {
            return;
        }
        state.flusher_waker.clone()
    };
    if let Some(waker) = waker {
        let mut cx = Context::from_waker(&waker);
        if poll_flush(shared, &mut cx).is_ready() {
            // Done here: let the flusher task see it and exit.
            waker.wake();
        }
    }
}

/// Whether the writer has a send in flight (see `Transport::send_in_flight`).
pub(crate) fn send_in_flight(shared: &WriterShared) -> bool {
    let state = shared.state.borrow();
    !state.done && state.op.is_some()
}

/// Sends what is buffered; `Ready` once the writer is done (ended or failed).
pub(crate) fn poll_flush(shared: &WriterShared, cx: &mut Context<'_>) -> Poll<()> {
    let mut woken = Vec::new();
    let poll = flush(shared, cx, &mut woken);
    woken.into_iter().for_each(Waker::wake);
    poll
}

fn flush(shared: &WriterShared, cx: &mut Context<'_>, woken: &mut Vec<Waker>) -> Poll<()> {
    let mut state = shared.state.borrow_mut();
    // Whoever ends the writer (`abort`, the eager path of `write`) wakes the
    // flusher through this, whether it waits for a send or for data.
    if !state
        .flusher_waker
        .as_ref()
        .is_some_and(|w| w.will_wake(cx.waker()))
    {
        state.flusher_waker = Some(cx.waker().clone());
    }
    loop {
        if state.done {
            return Poll::Ready(());
        }
        if let Some(op) = state.op.as_mut() {
            let (result, slice) = match op.poll(cx) {
                Poll::Ready(done) => done,
                Poll::Pending => return Poll::Pending,
            };
            state.op = None;
            let error = match result {
                Ok(0) => io::Error::from(io::ErrorKind::WriteZero),
                Ok(n) => {
                    state.in_flight -= n;
                    state.update_paused(woken);
                    if state.buffered() == 0 {
                        // All sent: a `poll_flush` of the compat traits waits for it.
                        state.waiters.notify_all((), woken);
                    }
                    let sent = slice.begin() + n;
                    let buf = slice.into_inner();
                    // A short send: the socket's buffer is full, the rest waits
                    // in the ring; a whole one: it likely has room again.
                    state.writable = sent == buf.len();
                    if sent < buf.len() {
                        state.op = Some(send(shared, buf.slice(sent..), false));
                    } else if state.buf.is_empty() && state.buf.capacity() < buf.capacity() {
                        // Keep the larger block for the next writes.
                        let mut buf = buf;
                        buf.clear();
                        state.buf = buf;
                    }
                    continue;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                    let begin = slice.begin();
                    state.op = Some(send(shared, slice.into_inner().slice(begin..), false));
                    continue;
                }
                Err(e) => e,
            };
            send_failed(shared, &mut state, &error, woken);
            return Poll::Ready(());
        }
        if !state.buf.is_empty() {
            let buf = std::mem::take(&mut state.buf);
            state.in_flight = buf.len();
            // Nothing of ours is in flight: a send made at once cannot overtake
            // one in the ring.
            let at_once = state.writable;
            state.op = Some(send(shared, buf.slice(..), at_once));
            continue;
        }
        if state.ending != Ending::Open {
            drop(state);
            finish(shared);
            return Poll::Ready(());
        }
        return Poll::Pending;
    }
}

/// A send failed with `error`: the connection ends for both halves (the reader's
/// receive ends and it reports the error, the peer sees the end, see
/// `transport.rs`), what is buffered is dropped and the writer is done.
pub(crate) fn send_failed(
    shared: &WriterShared,
    state: &mut WriterState,
    error: &io::Error,
    woken: &mut Vec<Waker>,
) {
    shared.transport.fail(error);
    state.error = Some(SavedError::new(error));
    state.done = true;
    state.paused = false;
    state.buf = Vec::new();
    state.in_flight = 0;
    state.waiters.notify_all((), woken);
}

/// The next send; `at_once` only when no send of the writer is in flight.
fn send(shared: &WriterShared, slice: Slice<Vec<u8>>, at_once: bool) -> SendOp {
    debug_assert!(slice.bytes_init() > 0);
    shared.transport.send_op(slice, at_once)
}

/// Shuts the transport down as the writer's ending asks, and marks it done.
pub(crate) fn finish(shared: &WriterShared) {
    let mut state = shared.state.borrow_mut();
    let how = match state.ending {
        Ending::Open => return,
        Ending::Eof => Shutdown::Write,
        Ending::Close => Shutdown::Both,
    };
    // ENOTCONN: the peer is gone already, which is what shutting down wants.
    let _ = shared.transport.shutdown(how);
    state.done = true;
    let mut waiters = Vec::new();
    state.waiters.notify_all((), &mut waiters);
    drop(state);
    waiters.into_iter().for_each(Waker::wake);
}
