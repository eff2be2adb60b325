//! [`StreamWriter`]: asyncio's buffered writer over a stream transport.
//!
//! `write` appends to a buffer; a per-writer *flusher* task (`flusher.rs`)
//! sends it. The flusher is spawned at the first write that buffers and parks when
//! the buffer is empty, so a write costs a copy and, at most, one local wake-up;
//! the send goes to the kernel in the same loop turn. With nothing buffered nor in
//! flight, `write` first sends at once what the socket takes, as asyncio's
//! transport does, where the driver says the call is worth it
//! (`driver/op/send_now.rs`; ARCHITECTURE.md, "Fast paths"), and buffers only
//! the rest.
//!
//! Flow control is asyncio's: when the buffered bytes (not yet sent, or sent but
//! not confirmed by the kernel) exceed the high-water mark, the writer is *paused*
//! and [`drain`](StreamWriter::drain) waits until they fall to the low-water mark.
//!
//! ```text
//!   Open ──write_eof()──▶ flush, shutdown(Write) ──▶ Done
//!     │──close()──────▶ flush, shutdown(Both)   ──▶ Done   (wait_closed returns)
//!     │──writer dropped─▶ flush, shutdown(Write) ──▶ Done
//!     └──send error──▶ connection shut down ─────────▶ Done   (write, drain,
//!                      (the reader reports the error)          write_eof, the
//!                                                              reader give it)
//! ```

use std::cell::RefCell;
use std::future::poll_fn;
use std::io;
use std::rc::Rc;
use std::task::{Context, Waker};

use super::error::SavedError;
use super::flusher::{self, SendOp};
use super::transport::Transport;
use crate::wait_list::{ListedWait, WaitList, WaiterKey};

#[cfg(any(feature = "tokio-io", feature = "futures-io", feature = "hyper"))]
mod borrowed;

/// asyncio's default high-water mark (64 KiB); the low mark is a quarter of it.
pub const DEFAULT_HIGH_WATER: usize = 64 * 1024;

/// What the owner asked for once the buffer is flushed.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Ending {
    /// Keep the stream open.
    Open,
    /// `write_eof`, or the writer was dropped: shut down the writing half.
    Eof,
    /// `close`: shut down both halves.
    Close,
}

/// The writer's state, shared with its flusher.
pub(crate) struct WriterState {
    /// Bytes written and not yet handed to the kernel.
    pub(crate) buf: Vec<u8>,
    /// Bytes handed to the kernel and not yet reported sent.
    pub(crate) in_flight: usize,
    /// The send in flight (its buffer is the rest of `in_flight`).
    pub(crate) op: Option<SendOp>,
    /// The last send was whole: the next one, with none in flight, is tried at
    /// once (`flusher.rs`, `Send::at_once`); after a short one it waits in the ring.
    pub(crate) writable: bool,
    pub(crate) high: usize,
    pub(crate) low: usize,
    /// Above the high-water mark, until back at the low one.
    pub(crate) paused: bool,
    pub(crate) ending: Ending,
    /// The flusher finished the ending (or failed): nothing more will be sent.
    pub(crate) done: bool,
    pub(crate) error: Option<SavedError>,
    /// Whether a flusher task is alive.
    pub(crate) flusher_alive: bool,
    /// The parked flusher's waker.
    pub(crate) flusher_waker: Option<Waker>,
    /// Tasks in `drain` or `wait_closed`; each leaves when its future is dropped.
    pub(crate) waiters: WaitList,
}

impl WriterState {
    pub(crate) fn buffered(&self) -> usize {
        self.buf.len() + self.in_flight
    }

    /// Leaves the paused state if the buffered bytes fell to the low-water mark.
    pub(crate) fn update_paused(&mut self, woken: &mut Vec<Waker>) {
        if self.paused && self.buffered() <= self.low {
            self.paused = false;
            self.waiters.notify_all((), woken);
        }
    }
}

/// What the writer and its flusher share.
pub(crate) struct WriterShared {
    pub(crate) transport: Transport,
    pub(crate) state: RefCell<WriterState>,
}

impl WriterShared {
    /// A wait on the writer's list of waiters (for `drain` and `wait_closed`).
    fn listed_wait(&self) -> ListedWait<'_, WriterState> {
        ListedWait::new(&self.state, |state| &mut state.waiters)
    }

    /// Why the writer cannot go on: the error that ended the connection (seen
    /// by either half), else the writer's own (the runtime shut down).
    pub(crate) fn failure(&self, state: &WriterState) -> Option<io::Error> {
        self.transport
            .lost()
            .or_else(|| state.error.as_ref().map(SavedError::to_error))
    }

    /// See [`StreamWriter::abort`].
    pub(crate) fn abort(&self) {
        let mut state = self.state.borrow_mut();
        state.ending = Ending::Close;
        state.buf = Vec::new();
        state.in_flight = 0;
        state.paused = false;
        state.done = true;
        // Dropped outside the borrow: the cancellation reaches the driver.
        let op = state.op.take();
        let flusher = state.flusher_waker.take();
        let mut waiters = Vec::new();
        state.waiters.notify_all((), &mut waiters);
        drop(state);
        drop(op);
        let _ = self.transport.shutdown(std::net::Shutdown::Both);
        // The flusher sees `done` and exits, releasing the descriptor.
        flusher.into_iter().chain(waiters).for_each(Waker::wake);
    }
}

/// The writing half of a stream, like asyncio's `StreamWriter`: of a connection,
/// or the stdin of a child process ([`Child::stdin`](crate::process::Child::stdin),
/// a pipe: there `write_eof`, `close` and dropping the writer close the pipe once
/// what is buffered was sent, and a child gone is a `BrokenPipe` error, never a
/// `SIGPIPE`).
///
/// ```
/// use ringloop::net::UnixStream;
/// # ringloop::run(async {
/// let (a, b) = UnixStream::pair().unwrap();
/// let (_r, writer) = a.into_streams();
/// let (mut reader, _w) = b.into_streams();
/// writer.write(b"hello ").unwrap();
/// writer.write(b"world").unwrap();
/// writer.drain().await.unwrap();
/// writer.close();
/// writer.wait_closed().await.unwrap();
/// assert_eq!(reader.read_to_end().await.unwrap(), b"hello world");
/// # });
/// ```
pub struct StreamWriter {
    shared: Rc<WriterShared>,
    /// Its place among the waiters, for the compat traits' polls (`borrowed.rs`).
    wait: Option<WaiterKey>,
}

impl std::fmt::Debug for StreamWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.shared.state.borrow();
        f.debug_struct("StreamWriter")
            .field("transport", &self.shared.transport)
            .field("buffered", &state.buffered())
            .field("ending", &state.ending)
            .field("done", &state.done)
            .finish_non_exhaustive()
    }
}

fn closed_error() -> io::Error {
    io::Error::new(io::ErrorKind::BrokenPipe, "the stream writer is closing")
}

impl StreamWriter {
    pub(crate) fn new(transport: Transport) -> StreamWriter {
        let writer = StreamWriter {
            wait: None,
            shared: Rc::new(WriterShared {
                transport,
                state: RefCell::new(WriterState {
                    buf: Vec::new(),
                    in_flight: 0,
                    op: None,
                    writable: true,
                    high: DEFAULT_HIGH_WATER,
                    low: DEFAULT_HIGH_WATER / 4,
                    paused: false,
                    ending: Ending::Open,
                    done: false,
                    error: None,
                    flusher_alive: false,
                    flusher_waker: None,
                    waiters: WaitList::new(),
                }),
            }),
        };
        writer
            .shared
            .transport
            .set_writer(Rc::downgrade(&writer.shared));
        writer
    }

    /// Sends `data`, or buffers it to be sent; never waits. With nothing buffered,
    /// what the socket takes at once may be sent during the call (as asyncio's
    /// transport does) and only the rest buffered. Call [`drain`](Self::drain) to
    /// let the buffer empty when much is written.
    ///
    /// Fails if the writer is closing (after `write_eof` or `close`), if the
    /// connection was lost (an earlier send failed, or the reader half met a
    /// reset: that error again), or outside a ringloop runtime. Nothing is
    /// buffered then.
    pub fn write(&self, data: &[u8]) -> io::Result<()> {
        let mut state = self.shared.state.borrow_mut();
        if let Some(e) = self.shared.failure(&state) {
            return Err(e);
        }
        if state.ending != Ending::Open {
            return Err(closed_error());
        }
        if data.is_empty() {
            return Ok(());
        }
        if !state.flusher_alive && !crate::runtime::context::is_running() {
            return Err(io::Error::other(
                "StreamWriter used outside of a ringloop runtime",
            ));
        }
        let data = match self.send_now(&mut state, data) {
            Ok([]) => return Ok(()),
            Ok(rest) => rest,
            Err(woken) => {
                drop(state);
                woken.into_iter().for_each(Waker::wake);
                return Ok(());
            }
        };
        state.buf.extend_from_slice(data);
        if state.buffered() > state.high {
            state.paused = true;
        }
        drop(state);
        self.kick()
    }

    /// The fast path of `write` (asyncio's transport tries the same): with nothing
    /// buffered nor in flight, and the last send whole, `data` goes to the socket
    /// at once where the driver says a call is worth it (`driver::op::send_now`),
    /// with no copy. Gives what is left to buffer (all of `data` if nothing was
    /// sent), or, if the send failed, the wakers to wake once the state is no
    /// longer borrowed: the connection is then lost as when the flusher's send
    /// fails (the error is reported by the next `write`, `drain`, and the
    /// reader), and the flusher, if parked, is woken to exit.
    fn send_now<'a>(
        &self,
        state: &mut WriterState,
        data: &'a [u8],
    ) -> Result<&'a [u8], Vec<Waker>> {
        if !(state.buf.is_empty() && state.op.is_none() && state.writable && !state.done) {
            return Ok(data);
        }
        match self.shared.transport.send_now(data) {
            None => Ok(data),
            Some(Ok(n)) => {
                state.writable = n == data.len();
                Ok(&data[n..])
            }
            Some(Err(e)) => {
                let mut woken = Vec::new();
                flusher::send_failed(&self.shared, state, &e, &mut woken);
                woken.extend(state.flusher_waker.clone());
                Err(woken)
            }
        }
    }

    /// [`write`](Self::write) of each item in turn.
    pub fn writelines<I, B>(&self, lines: I) -> io::Result<()>
    where
        I: IntoIterator<Item = B>,
        B: AsRef<[u8]>,
    {
        lines.into_iter().try_for_each(|l| self.write(l.as_ref()))
    }

    /// Gets the buffer moving: queues its send now if the flusher is parked (with
    /// the flusher's waker, which the send's completion wakes), spawns the flusher
    /// at the first write; with a send in flight, its completion sends the rest.
    fn kick(&self) -> io::Result<()> {
        let mut state = self.shared.state.borrow_mut();
        if state.flusher_alive {
            let parked = state.op.is_none().then(|| state.flusher_waker.clone());
            drop(state);
            if let Some(Some(waker)) = parked {
                let mut cx = Context::from_waker(&waker);
                if flusher::poll_flush(&self.shared, &mut cx).is_ready() {
                    // Done here (ended, or the send failed at once): let the
                    // flusher task see it and exit.
                    waker.wake();
                }
            }
            return Ok(());
        }
        if state.done {
            return Ok(());
        }
        if !crate::runtime::context::is_running() {
            // Only `end` gets here (writes check first): nothing is buffered.
            drop(state);
            flusher::finish(&self.shared);
            return Ok(());
        }
        state.flusher_alive = true;
        drop(state);
        drop(crate::spawn(flusher::run(self.shared.clone())));
        Ok(())
    }

    /// Waits until the buffer is back under the low-water mark, if the writer is
    /// paused (above the high-water mark); returns at once otherwise. Gives the
    /// error that ended the connection (a failed send, or a reset the reader half
    /// met).
    ///
    /// Cancel-safe: the data stays buffered and is sent anyway.
    pub async fn drain(&self) -> io::Result<()> {
        let mut wait = self.shared.listed_wait();
        poll_fn(|cx| {
            wait.poll_until(cx, |state| {
                if let Some(e) = self.shared.failure(state) {
                    return Some(Err(e));
                }
                (!state.paused || state.done).then_some(Ok(()))
            })
        })
        .await
    }

    /// Sends what is buffered, then shuts down the writing half: the peer reads
    /// the end of the stream, and this side can still read.
    ///
    /// Fails with the error that ended the connection, if one did (a failed send,
    /// or a reset the reader half met): the end of the stream cannot be sent
    /// then. A send that fails later is reported by
    /// [`wait_closed`](Self::wait_closed).
    pub fn write_eof(&self) -> io::Result<()> {
        self.end(Ending::Eof)
    }

    /// Whether [`write_eof`](Self::write_eof) is supported: always (a socket shuts
    /// its writing half down; a pipe, a child's stdin, is closed).
    pub fn can_write_eof(&self) -> bool {
        true
    }

    /// Sends what is buffered, then shuts the connection down in both directions
    /// (the reader half then reads the end of the stream). The descriptor itself
    /// closes when the reader half is dropped too. Never waits; see
    /// [`wait_closed`](Self::wait_closed).
    pub fn close(&self) {
        let _ = self.end(Ending::Close);
    }

    fn end(&self, ending: Ending) -> io::Result<()> {
        let failure = self.shared.failure(&self.shared.state.borrow());
        if let Some(e) = failure {
            // The connection was lost: nothing more can be sent, an end of
            // stream included. As asyncio closes a transport after a fatal
            // error: what is buffered is dropped, the connection shut down (it
            // is already when a send failed) and the flusher let go.
            self.shared.abort();
            return Err(e);
        }
        let mut state = self.shared.state.borrow_mut();
        if state.ending == Ending::Close || state.ending == ending {
            return Ok(());
        }
        state.ending = ending;
        if state.done {
            // Already shut down for writing (or failed): finish closing here.
            drop(state);
            if ending == Ending::Close {
                let _ = self.shared.transport.shutdown(std::net::Shutdown::Both);
            }
            return Ok(());
        }
        let idle = !state.flusher_alive;
        drop(state);
        if idle {
            // Nothing buffered and no flusher: shut down now, without a task.
            flusher::finish(&self.shared);
            return Ok(());
        }
        self.kick()
    }

    /// Closes at once, like asyncio's `transport.abort()`: what is buffered is
    /// dropped, a send in flight is cancelled, and the connection is shut down in
    /// both directions. For a peer that stopped reading, where `close` would wait
    /// for a flush that never ends.
    pub fn abort(&self) {
        self.shared.abort();
    }

    /// The shared state, for a server that may abort its connections.
    pub(crate) fn downgrade(&self) -> std::rc::Weak<WriterShared> {
        Rc::downgrade(&self.shared)
    }

    /// Whether `close` or `write_eof` was called, or the writer failed (or the
    /// connection was lost).
    pub fn is_closing(&self) -> bool {
        let state = self.shared.state.borrow();
        state.ending != Ending::Open || self.shared.failure(&state).is_some()
    }

    /// Waits until the writer is done: everything buffered was sent and the
    /// connection shut down after [`close`](Self::close) or
    /// [`write_eof`](Self::write_eof), or the connection was lost (its error).
    ///
    /// Cancel-safe.
    pub async fn wait_closed(&self) -> io::Result<()> {
        let mut wait = self.shared.listed_wait();
        poll_fn(|cx| {
            wait.poll_until(cx, |state| {
                if let Some(e) = self.shared.failure(state) {
                    return Some(Err(e));
                }
                state.done.then_some(Ok(()))
            })
        })
        .await
    }

    /// Bytes buffered: not yet sent, or sent but not yet confirmed by the kernel.
    pub fn buffered(&self) -> usize {
        self.shared.state.borrow().buffered()
    }

    /// Sets the high-water mark and, optionally, the low one (default: a quarter
    /// of the high one), like asyncio's `transport.set_write_buffer_limits`.
    pub fn set_write_buffer_limits(&self, high: usize, low: Option<usize>) {
        let mut state = self.shared.state.borrow_mut();
        state.high = high;
        state.low = low.unwrap_or(high / 4).min(high);
        let mut woken = Vec::new();
        if state.buffered() > state.high {
            state.paused = true;
        }
        state.update_paused(&mut woken);
        drop(state);
        woken.into_iter().for_each(Waker::wake);
    }

    /// The peer's address, for TCP (asyncio's `get_extra_info('peername')`).
    pub fn peer_addr(&self) -> io::Result<std::net::SocketAddr> {
        self.socket()?.peer_addr()?.ip_or_err()
    }

    /// The local address, for TCP (`get_extra_info('sockname')`).
    pub fn local_addr(&self) -> io::Result<std::net::SocketAddr> {
        self.socket()?.local_addr()?.ip_or_err()
    }

    fn socket(&self) -> io::Result<&crate::net::socket::Socket> {
        self.shared
            .transport
            .as_socket()
            .ok_or_else(|| io::Error::new(io::ErrorKind::Unsupported, "not a socket"))
    }
}

impl Drop for StreamWriter {
    /// What is buffered is still sent; then the writing half is shut down (the
    /// peer reads the end of the stream), unless `close` or `write_eof` said more.
    fn drop(&mut self) {
        if self.wait.is_some() {
            if let Ok(mut state) = self.shared.state.try_borrow_mut() {
                state.waiters.leave(&mut self.wait);
            }
        }
        let _ = self.end(Ending::Eof);
    }
}
