//! [`Transport`]: the descriptor under a stream reader or writer, and the one
//! receive that a reader keeps in flight.

use std::cell::RefCell;
use std::future::Future;
use std::io;
use std::net::Shutdown;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use crate::buf::{BufResult, Slice};
use crate::driver::fd::SharedFd;
use crate::driver::op::{Op, Read, Recv, RecvStream, Send, Write};
use crate::net::socket::Socket;

/// What a stream reads from and writes to.
#[derive(Clone, Debug)]
pub(crate) enum Transport {
    /// A connected stream socket (TCP or Unix).
    Socket(Socket),
    /// One end of a pipe (a child process's stdin, stdout or stderr).
    Pipe(Pipe),
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
    /// How a reader on this transport receives, on the running driver: one
    /// multishot receive for the stream's life where the kernel has it (6.0),
    /// else one receive at a time.
    pub(crate) fn receiver(&self) -> Receiver {
        match self {
            Transport::Socket(s) if RecvStream::available() => {
                Receiver::Multishot(RecvStream::new(s.fd().clone()))
            }
            Transport::Socket(_) | Transport::Pipe(_) => Receiver::Single(None),
        }
    }

    /// A receive into `buf`, to be kept in the reader until it completes.
    pub(crate) fn receive(&self, buf: Vec<u8>) -> Receive {
        match self {
            Transport::Socket(s) => Receive::Socket(Op::new(Recv::new(s.fd().clone(), buf, false))),
            Transport::Pipe(p) => match p.fd() {
                Some(fd) => Receive::Pipe(Op::new(Read::new(fd, buf, None))),
                None => Receive::Closed(Some(buf)),
            },
        }
    }

    /// One send of `buf`'s bytes (maybe fewer are sent), not yet polled.
    pub(crate) fn send_op(&self, buf: Slice<Vec<u8>>) -> SendOp {
        match self {
            Transport::Socket(s) => SendOp::Socket(Op::new(Send::new(s.fd().clone(), buf, false))),
            Transport::Pipe(p) => match p.fd() {
                Some(fd) => SendOp::Pipe(Op::new(Write::pipe(fd, buf))),
                None => SendOp::Closed(Some(buf)),
            },
        }
    }

    pub(crate) fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        match self {
            Transport::Socket(s) => s.shutdown(how),
            // A pipe end has one direction: shutting it down closes it.
            Transport::Pipe(p) => {
                let fd = p.fd.borrow_mut().take();
                drop(fd);
                Ok(())
            }
        }
    }

    pub(crate) fn socket(&self) -> Option<&Socket> {
        match self {
            Transport::Socket(s) => Some(s),
            Transport::Pipe(_) => None,
        }
    }
}

/// How a reader receives (see [`Transport::receiver`]).
pub(crate) enum Receiver {
    /// Not chosen yet: the first receive chooses, on the runtime that runs it.
    Unchosen,
    /// One receive at a time into an owned buffer; the one in flight, if any.
    Single(Option<Receive>),
    /// The stream's multishot receive.
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
