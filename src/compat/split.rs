//! Owned halves of a stream for the compat traits: [`ReadHalf`] and [`WriteHalf`],
//! each with its own readiness state, sharing the descriptor.

use std::fmt;
use std::os::fd::{AsRawFd, RawFd};

use crate::driver::fd::SharedFd;
use crate::net::ready::{ReadState, WriteState};
use crate::net::socket::Socket;
use crate::net::{TcpStream, UnixStream};

/// The reading half of a [`TcpStream`] or [`UnixStream`], from `into_split`; it
/// implements the reading traits of the enabled compat features.
///
/// The connection closes when both halves are dropped. Dropping the writing half
/// shuts the writing direction down (as tokio's `OwnedWriteHalf` does): the peer
/// reads an end of stream while this half can still read its replies.
pub struct ReadHalf {
    socket: Socket,
    state: ReadState,
}

/// The writing half of a [`TcpStream`] or [`UnixStream`], from `into_split`; it
/// implements the writing traits of the enabled compat features.
///
/// Dropped, it shuts the writing direction down (`shutdown(SHUT_WR)`, unless
/// `poll_shutdown`/`poll_close` did already): the peer reads an end of stream
/// even while the [`ReadHalf`] lives on, as with tokio's `OwnedWriteHalf`.
pub struct WriteHalf {
    socket: Socket,
    state: WriteState,
}

impl ReadHalf {
    pub(crate) fn parts(&mut self) -> (&SharedFd, &mut ReadState) {
        (self.socket.fd(), &mut self.state)
    }
}

impl WriteHalf {
    pub(crate) fn parts(&mut self) -> (&SharedFd, &mut WriteState) {
        (self.socket.fd(), &mut self.state)
    }
}

fn split(socket: Socket) -> (ReadHalf, WriteHalf) {
    let read = ReadHalf {
        socket: socket.clone(),
        state: ReadState::default(),
    };
    let write = WriteHalf {
        socket,
        state: WriteState::default(),
    };
    (read, write)
}

impl TcpStream {
    /// Splits the stream into a reading and a writing half, usable from different
    /// tasks of this thread, for the compat traits (`tokio::io`, `futures::io`,
    /// `hyper::rt`). A read poll armed on the stream is cancelled; no byte is lost.
    ///
    /// ```
    /// # #[cfg(feature = "tokio-io")]
    /// # ringloop::run(async {
    /// use tokio::io::{AsyncReadExt, AsyncWriteExt};
    /// let (a, b) = ringloop::net::UnixStream::pair().unwrap();
    /// let (mut read, mut write) = a.into_split();
    /// let (mut b_read, mut b_write) = b.into_split();
    /// write.write_all(b"ping").await.unwrap();
    /// let mut buf = [0; 4];
    /// b_read.read_exact(&mut buf).await.unwrap();
    /// b_write.write_all(&buf).await.unwrap();
    /// read.read_exact(&mut buf).await.unwrap();
    /// assert_eq!(&buf, b"ping");
    /// # });
    /// ```
    pub fn into_split(self) -> (ReadHalf, WriteHalf) {
        split(self.socket)
    }
}

impl UnixStream {
    /// Splits the stream into halves (see [`TcpStream::into_split`]).
    pub fn into_split(self) -> (ReadHalf, WriteHalf) {
        split(self.socket)
    }
}

impl Drop for WriteHalf {
    fn drop(&mut self) {
        // The peer may be gone already (`ENOTCONN`): nothing to tell it then.
        let _ = self.state.shutdown(self.socket.fd());
    }
}

impl AsRawFd for ReadHalf {
    fn as_raw_fd(&self) -> RawFd {
        self.socket.as_raw_fd()
    }
}

impl AsRawFd for WriteHalf {
    fn as_raw_fd(&self) -> RawFd {
        self.socket.as_raw_fd()
    }
}

impl fmt::Debug for ReadHalf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadHalf")
            .field("fd", &self.socket.as_raw_fd())
            .finish()
    }
}

impl fmt::Debug for WriteHalf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WriteHalf")
            .field("fd", &self.socket.as_raw_fd())
            .finish()
    }
}
