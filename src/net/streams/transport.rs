//! [`Transport`]: the descriptor under a stream reader or writer, and the one
//! receive that a reader keeps in flight.

use std::future::Future;
use std::io;
use std::net::Shutdown;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::buf::BufResult;
use crate::driver::op::{Op, Recv, Send};
use crate::net::socket::Socket;

/// What a stream reads from and writes to.
#[derive(Clone, Debug)]
pub(crate) enum Transport {
    /// A connected stream socket (TCP or Unix).
    Socket(Socket),
}

impl Transport {
    /// A receive into `buf`, to be kept in the reader until it completes.
    pub(crate) fn receive(&self, buf: Vec<u8>) -> Receive {
        match self {
            Transport::Socket(s) => Receive::Socket(Op::new(Recv::new(s.fd().clone(), buf, false))),
        }
    }

    /// One send of `buf`'s bytes (maybe fewer are sent).
    pub(crate) async fn send(
        &self,
        buf: crate::buf::Slice<Vec<u8>>,
    ) -> BufResult<usize, crate::buf::Slice<Vec<u8>>> {
        match self {
            Transport::Socket(s) => Op::new(Send::new(s.fd().clone(), buf)).await,
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
