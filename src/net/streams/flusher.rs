//! The task that sends a [`StreamWriter`](super::StreamWriter)'s buffer.
//!
//! ```text
//!   parked ──write()──▶ take the buffer ──send…send──▶ (buffer empty) parked
//!      └──ending asked, buffer empty──▶ shutdown ──▶ done, exit
//!   any send error ──▶ error saved, buffer dropped, done, exit
//! ```
//!
//! One flusher per writer, spawned at the first write; it holds the descriptor
//! open until it exits, so a writer dropped with data buffered still sends it.

use std::future::poll_fn;
use std::io;
use std::net::Shutdown;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use super::writer::{Ending, SavedError, WriterShared};
use crate::buf::IoBuf;

enum Job {
    Send(Vec<u8>),
    Finish,
}

/// Marks the flusher gone when its task ends, however it ends (cancelled at
/// runtime shutdown, too), and wakes whoever waits on the writer.
struct Alive<'a>(&'a WriterShared);

impl Drop for Alive<'_> {
    fn drop(&mut self) {
        let mut state = self.0.state.borrow_mut();
        state.flusher_alive = false;
        state.flusher_waker = None;
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
        let waiters = std::mem::take(&mut state.waiters);
        drop(state);
        waiters.into_iter().for_each(Waker::wake);
    }
}

/// The flusher task.
pub(crate) async fn run(shared: Rc<WriterShared>) {
    let _alive = Alive(&shared);
    loop {
        match poll_fn(|cx| next_job(&shared, cx)).await {
            Job::Send(buf) => {
                if !send_all(&shared, buf).await {
                    return;
                }
            }
            Job::Finish => {
                finish(&shared);
                return;
            }
        }
    }
}

fn next_job(shared: &WriterShared, cx: &mut Context<'_>) -> Poll<Job> {
    let mut state = shared.state.borrow_mut();
    if !state.buf.is_empty() {
        let buf = std::mem::take(&mut state.buf);
        state.in_flight = buf.len();
        return Poll::Ready(Job::Send(buf));
    }
    if state.ending != Ending::Open {
        return Poll::Ready(Job::Finish);
    }
    state.flusher_waker = Some(cx.waker().clone());
    Poll::Pending
}

/// Sends all of `buf`; false after an error (saved in the state).
async fn send_all(shared: &WriterShared, buf: Vec<u8>) -> bool {
    let total = buf.bytes_init();
    let mut sent = 0;
    let mut slice = buf.slice(..);
    while sent < total {
        let (result, s) = shared.transport.send(slice).await;
        let buf = s.into_inner();
        let error = match result {
            Ok(0) => io::Error::from(io::ErrorKind::WriteZero),
            Ok(n) => {
                sent += n;
                let mut state = shared.state.borrow_mut();
                state.in_flight -= n;
                let mut woken = Vec::new();
                state.update_paused(&mut woken);
                drop(state);
                woken.into_iter().for_each(Waker::wake);
                slice = buf.slice(sent..);
                continue;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                slice = buf.slice(sent..);
                continue;
            }
            Err(e) => e,
        };
        fail(shared, &error);
        return false;
    }
    // Keep the buffer's memory for the next writes, if none came meanwhile.
    let mut buf = slice.into_inner();
    let mut state = shared.state.borrow_mut();
    if state.buf.is_empty() && state.buf.capacity() < buf.capacity() {
        buf.clear();
        state.buf = buf;
    }
    true
}

fn fail(shared: &WriterShared, error: &io::Error) {
    let mut state = shared.state.borrow_mut();
    state.error = Some(SavedError::new(error));
    state.done = true;
    state.paused = false;
    state.buf = Vec::new();
    state.in_flight = 0;
    let waiters = std::mem::take(&mut state.waiters);
    drop(state);
    waiters.into_iter().for_each(Waker::wake);
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
    let waiters = std::mem::take(&mut state.waiters);
    drop(state);
    waiters.into_iter().for_each(Waker::wake);
}
