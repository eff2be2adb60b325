//! [`Transport`]: the descriptor under a stream reader or writer, what the two
//! halves of one connection know about its loss, and the one receive that a
//! reader keeps in flight.
//!
//! The kernel reports a reset (`ECONNRESET`) once, to the first operation that
//! touches the socket after it. When that is the writer's send, the reader's next
//! receive only sees the end of the stream, and the other way round. So the
//! halves share the connection's fate ([`Transport::lost`]): an error that ended
//! either half is recorded here, and the reader reports it instead of a clean end
//! of stream, the writer instead of accepting more data. Before the reader calls
//! an end of stream clean, it takes in the result of a send that has completed but
//! that the writer's task has not looked at yet ([`Transport::settle_writer`]),
//! so the order in which the two tasks run cannot turn a reset into a clean end.
//!
//! A send that fails, whatever the error (but `EINTR` and `EAGAIN`, which the op
//! retries), ends the connection as asyncio's `_fatal_error` ends its transport
//! ([`Transport::fail`]): the error is the connection's loss, and the socket is
//! shut down both ways. The reader's receive in flight then ends (it delivers what
//! came before, then the reader reports the error), and the peer sees the end: a
//! reader waiting for a reply the peer will only send after ours never waits
//! forever for a send that already failed.

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::io;
use std::net::Shutdown;
use std::os::fd::AsFd;
use std::pin::Pin;
use std::rc::{Rc, Weak};
use std::task::{Context, Poll};

use super::error::SavedError;
use super::flusher;
use super::writer::WriterShared;
use crate::buf::{BufResult, Slice};
use crate::driver::fd::SharedFd;
use crate::driver::op::{send_now, Op, Read, Recv, RecvStream, Send, Write};
use crate::driver::sys;
use crate::net::socket::Socket;

/// What a stream reads from and writes to: the descriptor, and the state the
/// reader and the writer of one connection share. Clones share both.
#[derive(Clone)]
pub(crate) struct Transport {
    io: Io,
    shared: Rc<Connection>,
}

#[derive(Clone, Debug)]
enum Io {
    /// A connected stream socket (TCP or Unix).
    Socket(Socket),
    /// One end of a pipe (a child process's stdin, stdout or stderr).
    Pipe(Pipe),
}

/// What the two halves of a connection share.
#[derive(Default)]
struct Connection {
    /// The error that ended the connection, as the first half to meet it saw it.
    lost: RefCell<Option<SavedError>>,
    /// The writer half, if one was made, to take in a completed send's result.
    writer: RefCell<Weak<WriterShared>>,
}

impl fmt::Debug for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transport")
            .field("io", &self.io)
            .field("lost", &*self.shared.lost.borrow())
            .finish()
    }
}

/// Whether an error of a receive or a send means the connection is gone (a
/// reset, a broken pipe, a timeout...), rather than a passing condition (an
/// interruption, a lack of memory or buffers), or an error of ours (the runtime
/// shut down, a stream used on another runtime), which carry no errno.
fn ends_connection(e: &io::Error) -> bool {
    match e.raw_os_error() {
        Some(code) => ![
            libc::EINTR,
            libc::EAGAIN,
            libc::ENOBUFS,
            libc::ENOMEM,
            libc::ECANCELED,
        ]
        .contains(&code),
        None => false,
    }
}

/// One end of a pipe, non-blocking. Pipes have no `recv`/`send` nor `shutdown`:
/// they are read with `READ` and written with `WRITE` (never raising `SIGPIPE`,
/// see `driver/sigpipe.rs`), and shutting the writing end down closes it, which is
/// how the reader sees the end of the stream. The descriptor itself closes once
/// the ops still in flight on it are done.
#[derive(Clone, Debug)]
pub(crate) struct Pipe {
    fd: Rc<RefCell<Option<SharedFd>>>,
}

impl Pipe {
    pub(crate) fn new(fd: SharedFd) -> Pipe {
        Pipe {
            fd: Rc::new(RefCell::new(Some(fd))),
        }
    }

    fn fd(&self) -> Option<SharedFd> {
        self.fd.borrow().clone()
    }
}

fn pipe_closed() -> io::Error {
    io::Error::new(io::ErrorKind::BrokenPipe, "the pipe was closed")
}

impl Transport {
    /// A connected stream socket's transport.
    pub(crate) fn socket(socket: Socket) -> Transport {
        Transport {
            io: Io::Socket(socket),
            shared: Rc::default(),
        }
    }

    /// A pipe end's transport.
    pub(crate) fn pipe(fd: SharedFd) -> Transport {
        Transport {
            io: Io::Pipe(Pipe::new(fd)),
            shared: Rc::default(),
        }
    }

    /// Records `e`, met by either half, if it ends the connection and is the
    /// first such error. Returns whether it does.
    pub(crate) fn note_error(&self, e: &io::Error) -> bool {
        if !ends_connection(e) {
            return false;
        }
        let mut lost = self.shared.lost.borrow_mut();
        if lost.is_none() {
            *lost = Some(SavedError::new(e));
        }
        true
    }

    /// Ends the connection after the writer's send failed with `e` (asyncio's
    /// `_fatal_error`): `e` is recorded as the connection's loss, whatever it is,
    /// unless an earlier error ended it, and the transport is shut down both ways
    /// (a pipe end closed), which ends the reader's receive in flight and shows
    /// the peer the end. Whatever made the send fail, nothing more goes out: the
    /// writer dropped its buffer, and a peer left waiting for those bytes would
    /// wait forever.
    pub(crate) fn fail(&self, e: &io::Error) {
        self.shared
            .lost
            .borrow_mut()
            .get_or_insert_with(|| SavedError::new(e));
        // ENOTCONN: the connection is gone already (a reset), as wanted.
        let _ = self.shutdown(Shutdown::Both);
    }

    /// The error that ended the connection, if one did.
    pub(crate) fn lost(&self) -> Option<io::Error> {
        self.shared.lost.borrow().as_ref().map(SavedError::to_error)
    }

    /// Remembers the writer half (weakly: the writer holds the transport, and a
    /// dropped writer's flusher task still finishes on its own).
    pub(crate) fn set_writer(&self, writer: Weak<WriterShared>) {
        *self.shared.writer.borrow_mut() = writer;
    }

    /// Lets the writer half take in the result of a send that completed, as its
    /// own task would at its next poll: called by the reader before it reports a
    /// clean end of stream, so that a reset the send met is known by then.
    pub(crate) fn settle_writer(&self) {
        let writer = self.shared.writer.borrow().upgrade();
        if let Some(writer) = writer {
            flusher::settle(&writer);
        }
    }

    /// Whether the end of the stream waits in the kernel with no byte before it,
    /// asked without waiting and without taking anything (asyncio's transport
    /// would have read it by now): a `poll` that finds the input shut down
    /// (`POLLRDHUP`, or `POLLHUP`: a pipe whose writers are gone) with no error
    /// pending, then `FIONREAD` finds no byte queued. Neither call takes an error
    /// the socket holds (a reset stays for the next receive), and neither moves a
    /// peek offset. Only meaningful while no receive of the reader is in flight;
    /// `false` while the driver holds a cancelled receive's result for the
    /// descriptor.
    pub(crate) fn end_waiting(&self) -> bool {
        let fd = match &self.io {
            Io::Socket(s) => s.fd().clone(),
            Io::Pipe(p) => match p.fd() {
                Some(fd) => fd,
                None => return false,
            },
        };
        if !fd.is_settled() {
            return false;
        }
        let Ok(ready) = sys::poll_now(fd.as_fd(), libc::POLLIN | libc::POLLRDHUP) else {
            return false;
        };
        if ready & (libc::POLLERR | libc::POLLNVAL) != 0
            || ready & (libc::POLLRDHUP | libc::POLLHUP) == 0
        {
            return false;
        }
        sys::readable_bytes(fd.as_fd()).is_ok_and(|n| n == 0)
    }

    /// Whether the writer half has a send the kernel may have finished without
    /// the writer knowing yet (its result could be a reset that makes the end
    /// of the stream an unclean one).
    pub(crate) fn send_in_flight(&self) -> bool {
        let writer = self.shared.writer.borrow().upgrade();
        writer.is_some_and(|writer| flusher::send_in_flight(&writer))
    }

    /// How a reader on this transport receives, on the running driver: one
    /// multishot receive for the stream's life where the kernel has it (6.0),
    /// else one receive at a time.
    pub(crate) fn receiver(&self) -> Receiver {
        match &self.io {
            // A multishot receive reads the socket only: bytes that a cancelled
            // receive left in the driver's stash for this descriptor (a socket's
            // read dropped before its streams were made) would be skipped, so
            // such a stream receives one at a time, through the stash.
            Io::Socket(s) if RecvStream::available() && s.fd().is_settled() => {
                Receiver::Multishot(RecvStream::new(s.fd().clone()))
            }
            Io::Socket(_) | Io::Pipe(_) => Receiver::Single,
        }
    }

    /// A receive into `buf`, to be kept in the reader until it completes.
    pub(crate) fn receive(&self, buf: Vec<u8>) -> Receive {
        match &self.io {
            Io::Socket(s) => Receive::Socket(Op::new(Recv::new(s.fd().clone(), buf, false))),
            Io::Pipe(p) => match p.fd() {
                Some(fd) => Receive::Pipe(Op::new(Read::new(fd, buf, None))),
                None => Receive::Closed(Some(buf)),
            },
        }
    }

    /// One send of `buf`'s bytes (maybe fewer are sent), not yet polled. With
    /// `at_once`, a socket's send is tried as a plain system call first
    /// (`Send::at_once`): only for a writer with no send in flight.
    pub(crate) fn send_op(&self, buf: Slice<Vec<u8>>, at_once: bool) -> SendOp {
        match &self.io {
            Io::Socket(s) => SendOp::Socket(Op::new(
                Send::new(s.fd().clone(), buf, false).at_once(at_once),
            )),
            Io::Pipe(p) => match p.fd() {
                Some(fd) => SendOp::Pipe(Op::new(Write::pipe(fd, buf))),
                None => SendOp::Closed(Some(buf)),
            },
        }
    }

    /// Sends what the socket takes of `data` now, if the driver says a call is
    /// worth it (`driver::op::send_now`); `None` for a pipe, or when nothing was
    /// sent. Only for a writer with nothing buffered and no send in flight.
    pub(crate) fn send_now(&self, data: &[u8]) -> Option<io::Result<usize>> {
        match &self.io {
            Io::Socket(s) => send_now(s.fd(), data),
            Io::Pipe(_) => None,
        }
    }

    pub(crate) fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        match &self.io {
            Io::Socket(s) => s.shutdown(how),
            // A pipe end has one direction: shutting it down closes it.
            Io::Pipe(p) => {
                let fd = p.fd.borrow_mut().take();
                drop(fd);
                Ok(())
            }
        }
    }

    pub(crate) fn as_socket(&self) -> Option<&Socket> {
        match &self.io {
            Io::Socket(s) => Some(s),
            Io::Pipe(_) => None,
        }
    }
}

/// How a reader receives (see [`Transport::receiver`]).
pub(crate) enum Receiver {
    /// Not chosen yet: the first receive chooses, on the runtime that runs it.
    Unchosen,
    /// One receive at a time into an owned buffer.
    Single,
    /// The stream's multishot receive (and, during a bulk transfer, single-shot
    /// receives: `receive.rs`, "Bulk transfers").
    Multishot(RecvStream),
}

/// A receive in flight. Kept by the reader across calls, so that a read whose
/// future is dropped leaves it running: its bytes land in the reader's buffer at the
/// next call, and nothing is cancelled or lost.
pub(crate) enum Receive {
    Socket(Op<Recv<Vec<u8>>>),
    Pipe(Op<Read<Vec<u8>>>),
    /// The pipe end was closed: fails at once.
    Closed(Option<Vec<u8>>),
}

impl Receive {
    pub(crate) fn poll(&mut self, cx: &mut Context<'_>) -> Poll<BufResult<usize, Vec<u8>>> {
        match self {
            Receive::Socket(op) => Pin::new(op).poll(cx),
            Receive::Pipe(op) => Pin::new(op).poll(cx),
            Receive::Closed(buf) => {
                Poll::Ready((Err(pipe_closed()), buf.take().unwrap_or_default()))
            }
        }
    }
}

/// A send in flight: the rest of a buffer the writer took.
pub(crate) enum SendOp {
    Socket(Op<Send<Slice<Vec<u8>>>>),
    Pipe(Op<Write<Slice<Vec<u8>>>>),
    /// The pipe end was closed: fails at once.
    Closed(Option<Slice<Vec<u8>>>),
}

impl SendOp {
    pub(crate) fn poll(&mut self, cx: &mut Context<'_>) -> Poll<BufResult<usize, Slice<Vec<u8>>>> {
        match self {
            SendOp::Socket(op) => Pin::new(op).poll(cx),
            SendOp::Pipe(op) => Pin::new(op).poll(cx),
            SendOp::Closed(buf) => Poll::Ready((
                Err(pipe_closed()),
                buf.take().expect("a closed send is polled once"),
            )),
        }
    }
}
