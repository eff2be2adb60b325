//! [`Transport`]: the descriptor under a stream reader or writer, and the one
//! receive that a reader keeps in flight.

use std::future::Future;
use std::io;
use std::net::Shutdown;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::buf::{BufResult, Slice};
use crate::driver::op::{Op, Recv, RecvStream, Send};
use crate::net::socket::Socket;

/// What a stream reads from and writes to.
#[derive(Clone, Debug)]
pub(crate) enum Transport {
    /// A connected stream socket (TCP or Unix).
    Socket(Socket),
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
            Transport::Socket(_) => Receiver::Single(None),
        }
    }

    /// A receive into `buf`, to be kept in the reader until it completes.
    pub(crate) fn receive(&self, buf: Vec<u8>) -> Receive {
        match self {
            Transport::Socket(s) => Receive::Socket(Op::new(Recv::new(s.fd().clone(), buf, false))),
        }
    }

    /// One send of `buf`'s bytes (maybe fewer are sent), not yet polled.
    pub(crate) fn send_op(&self, buf: Slice<Vec<u8>>) -> Op<Send<Slice<Vec<u8>>>> {
        match self {
            Transport::Socket(s) => Op::new(Send::new(s.fd().clone(), buf)),
        }
    }

    pub(crate) fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        match self {
            Transport::Socket(s) => s.shutdown(how),
        }
    }

    pub(crate) fn socket(&self) -> Option<&Socket> {
        match self {
            Transport::Socket(s) => Some(s),
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
}

impl Receive {
    pub(crate) fn poll(&mut self, cx: &mut Context<'_>) -> Poll<BufResult<usize, Vec<u8>>> {
        match self {
            Receive::Socket(op) => Pin::new(op).poll(cx),
        }
    }
}
