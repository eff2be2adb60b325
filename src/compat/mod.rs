//! Compatibility with the I/O traits of the wider ecosystem, each behind a cargo
//! feature that is off by default:
//!
//! | feature | what | for |
//! |---|---|---|
//! | `tokio-io` | `tokio::io::{AsyncRead, AsyncWrite}` | `tokio_util::codec`, `tokio::io::copy`, everything on tokio's traits |
//! | `futures-io` | `futures_io::{AsyncRead, AsyncWrite}` | `futures::io`, async-std-style crates |
//! | `hyper` | `hyper::rt::{Read, Write}`, `hyper::LocalExec`, `hyper::LoopTimer` | hyper 1.x clients and servers |
//!
//! The traits are implemented for [`TcpStream`], [`UnixStream`] and the halves of
//! their `into_split` ([`ReadHalf`], [`WriteHalf`]), and for the asyncio streams
//! of `into_streams` ([`StreamReader`], [`StreamWriter`]).
//!
//! ```
//! # #[cfg(feature = "tokio-io")]
//! # ringloop::run(async {
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//! let (mut a, mut b) = ringloop::net::UnixStream::pair().unwrap();
//! // The stream's own `write_all` takes an owned buffer: name the trait's.
//! AsyncWriteExt::write_all(&mut a, b"hello").await.unwrap();
//! AsyncWriteExt::shutdown(&mut a).await.unwrap(); // SHUT_WR: b reads the end
//! let mut got = String::new();
//! b.read_to_string(&mut got).await.unwrap();
//! assert_eq!(got, "hello");
//! # });
//! ```
//!
//! The streams' inherent methods (`read`, `write`, `write_all`, `shutdown`: the
//! owned-buffer API; `read`, `read_to_end`, `write`, `close` of the asyncio
//! streams) take precedence over the extension traits' methods of the same name, so call those as `AsyncWriteExt::write_all(&mut stream, ..)`, or use
//! the halves of `into_split`, which have no such methods. Adapters that take the
//! stream (`Framed`, `BufReader`, hyper's connections) are not concerned.
//!
//! ## How the bytes move
//!
//! These traits lend a `&mut [u8]` for the length of one `poll_read` call, while an
//! io_uring receive needs memory the kernel may write until its completion, long
//! after the call returned. A ring op into the caller's slice is therefore out;
//! the choices are readiness, or the stream's receive into buffers the runtime owns
//! followed by a copy out. ringloop chooses **readiness in both directions**
//! (`src/net/ready.rs`, kept beside the streams that hold it):
//!
//! - **read**: a non-blocking `recv` straight into the caller's buffer; on `EAGAIN`
//!   a `POLL_ADD` (io_uring) or the descriptor's registration (epoll) is armed,
//!   *kept in the stream across polls* until it fires (a fresh op per poll would
//!   never complete: tokio-uring's bug), then `recv` again. No copy, no buffer of
//!   the runtime's, and the same path on every driver. A pending poll takes no
//!   bytes: a stream dropped (or a read future abandoned) with one armed loses
//!   nothing, and the op is cancelled through the driver's ordinary drop path.
//!   Bytes that a cancelled owned-buffer `read` left in the descriptor's stash are
//!   handed out first, so mixing both APIs on one stream keeps the order.
//! - **write**: a non-blocking `send` (`MSG_NOSIGNAL`) from the caller's slice, or
//!   `sendmsg` for vectored writes; `Ready(Ok(n))` means the kernel has the `n`
//!   bytes, so nothing is acknowledged before it is sent and a reset comes back
//!   as an `Err` (`EPIPE`/`ECONNRESET`) from the very write that meets it. There is
//!   no buffer of ours, so `poll_flush` has nothing to do, and `poll_shutdown`
//!   (`poll_close`) is `shutdown(SHUT_WR)`: a second call is `Ok(())` without a
//!   system call.
//!
//! The price: a read that finds the socket empty costs a `recv` that fails, a poll
//! op and a second `recv`; a busy stream (the case that matters for throughput)
//! finds bytes at the first `recv`, with no ring round trip at all. The poll is
//! one-shot (`IORING_OP_POLL_ADD`), re-armed after each `EAGAIN`, which works from
//! Linux 5.10 on.
//!
//! Measured (`cargo bench --features tokio-io --bench compat_read`: 1 GiB over
//! loopback from a plain sender thread, read with `AsyncReadExt::read` into 64 KiB;
//! Linux 6.18, 2 busy CPUs, medians of 5 and 7 rounds in two runs), in GiB/s and
//! as a ratio to tokio's own `TcpStream` in the same round:
//!
//! | reader | run 1 | run 2 |
//! |---|---:|---:|
//! | tokio `TcpStream` (epoll) | 3.04 (1.00) | 2.82 (1.00) |
//! | readiness + `recv`, io_uring | 2.36 (0.84) | 2.80 (0.96) |
//! | readiness + `recv`, epoll driver | 2.62 (0.89) | 2.71 (0.97) |
//! | provided-buffer receive + copy out, io_uring | 1.53 (0.61) | 1.92 (0.62) |
//!
//! Readiness moves the bytes 1.45–1.55 times as fast as the stream reader's
//! provided-buffer receive with its copy out (which also allocates per read), and
//! is within a few percent to 16% of tokio on this noisy machine.
//!
//! The asyncio streams keep their own buffers, and the traits use them:
//!
//! - [`StreamReader`] is `AsyncBufRead` with its buffer lent as it is (no copy),
//!   and `AsyncRead` as one copy out of it; its receive (a multishot receive into
//!   provided buffers where the kernel has it) is the reader's own.
//! - [`StreamWriter`] is `AsyncWrite` over its buffer, bounded by its high-water
//!   mark (64 KiB by default, `set_write_buffer_limits`): `poll_write` copies what
//!   fits and is `Pending` while the buffer is full; `poll_flush` is `Ready` once
//!   every byte was sent (the kernel has it); `poll_shutdown` flushes and sends
//!   the end of stream (again: `Ok(())`). A send that fails after its
//!   `poll_write` returned is the error of the next `poll_write`, `poll_flush` or
//!   `poll_shutdown`, and of every one after it: never lost.
//!
//! The readiness state lives in the stream itself (`poll_read` has
//! `Pin<&mut Self>`; the streams are `Unpin`), one per direction, so a stream
//! needs no wrapper; the halves of `into_split` have one direction each. Without
//! any compat feature a stream carries no such state.
//!
//! [`TcpStream`]: crate::net::TcpStream
//! [`UnixStream`]: crate::net::UnixStream
//! [`StreamReader`]: crate::net::StreamReader
//! [`StreamWriter`]: crate::net::StreamWriter

#[cfg(feature = "futures-io")]
mod futures;
#[cfg(feature = "hyper")]
pub mod hyper;
mod split;
#[cfg(feature = "tokio-io")]
mod tokio;

pub use split::{ReadHalf, WriteHalf};

use crate::driver::fd::SharedFd;
use crate::net::ready::{ReadState, WriteState};
use crate::net::{TcpStream, UnixStream};

/// A type with a reading direction: its descriptor and read state.
pub(crate) trait ReadParts {
    fn read_parts(&mut self) -> (&SharedFd, &mut ReadState);
}

/// A type with a writing direction: its descriptor and write state.
pub(crate) trait WriteParts {
    fn write_parts(&mut self) -> (&SharedFd, &mut WriteState);
}

macro_rules! stream_parts {
    ($($ty:ty),*) => {$(
        impl ReadParts for $ty {
            fn read_parts(&mut self) -> (&SharedFd, &mut ReadState) {
                (self.socket.fd(), &mut self.io.read)
            }
        }

        impl WriteParts for $ty {
            fn write_parts(&mut self) -> (&SharedFd, &mut WriteState) {
                (self.socket.fd(), &mut self.io.write)
            }
        }
    )*};
}

stream_parts!(TcpStream, UnixStream);

impl ReadParts for ReadHalf {
    fn read_parts(&mut self) -> (&SharedFd, &mut ReadState) {
        self.parts()
    }
}

impl WriteParts for WriteHalf {
    fn write_parts(&mut self) -> (&SharedFd, &mut WriteState) {
        self.parts()
    }
}
