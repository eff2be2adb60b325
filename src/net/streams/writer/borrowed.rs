//! The writer as a borrowed-buffer sink (`crate::compat`): `poll_write` copies
//! into the writer's buffer, bounded by the high-water mark; `poll_flush` waits
//! until the kernel has every byte; `poll_shutdown` sends the end of stream once
//! the buffer is out. A send that fails later is the error of the next
//! `poll_write`, `poll_flush` or `poll_shutdown`: never lost.

use std::io;
use std::task::{Context, Poll};

use super::{closed_error, Ending, StreamWriter, WriterShared, WriterState};

impl StreamWriter {
    /// `Ready` with what `check` gives once it gives `Some`; listed among the
    /// writer's waiters (once, in `self.wait`) meanwhile.
    fn poll_check<R>(
        &mut self,
        cx: &mut Context<'_>,
        check: impl FnOnce(&mut WriterState, &WriterShared) -> Option<R>,
    ) -> Poll<R> {
        let shared = &*self.shared;
        let mut state = shared.state.borrow_mut();
        match check(&mut state, shared) {
            Some(value) => {
                state.waiters.leave(&mut self.wait);
                Poll::Ready(value)
            }
            None => {
                state.waiters.park(&mut self.wait, cx.waker());
                Poll::Pending
            }
        }
    }

    /// Buffers as much of `data` as fits under the high-water mark (at least one
    /// byte once the buffer is empty); waits while the buffer is full.
    pub(crate) fn poll_write_borrowed(
        &mut self,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        if data.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let room = self.poll_check(cx, |state, shared| {
            if let Some(e) = shared.failure(state) {
                return Some(Err(e));
            }
            if state.ending != Ending::Open {
                return Some(Err(closed_error()));
            }
            let cap = state.high.max(1);
            let buffered = state.buffered();
            if buffered < cap {
                return Some(Ok(cap - buffered));
            }
            // Full: woken when the flusher brings it down to the low-water mark.
            state.paused = true;
            None
        });
        let room = match room {
            Poll::Ready(Ok(room)) => room,
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => return Poll::Pending,
        };
        let n = data.len().min(room);
        Poll::Ready(self.write(&data[..n]).map(|()| n))
    }

    /// Waits until every buffered byte was handed to the kernel and its send
    /// completed; the error that ended the connection, if one did.
    pub(crate) fn poll_flush_borrowed(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_check(cx, |state, shared| {
            if let Some(e) = shared.failure(state) {
                return Some(Err(e));
            }
            (state.buffered() == 0 || state.done).then_some(Ok(()))
        })
    }

    /// Sends what is buffered, then shuts the writing half down (`write_eof`) and
    /// waits until that is done. Called again: `Ok(())`.
    pub(crate) fn poll_shutdown_borrowed(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.shared.state.borrow().ending == Ending::Open {
            if let Err(e) = self.write_eof() {
                return Poll::Ready(Err(e));
            }
        }
        self.poll_check(cx, |state, shared| {
            if let Some(e) = shared.failure(state) {
                return Some(Err(e));
            }
            state.done.then_some(Ok(()))
        })
    }
}
