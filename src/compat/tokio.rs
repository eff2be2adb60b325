//! `tokio::io::{AsyncRead, AsyncWrite}` for [`TcpStream`], [`UnixStream`] and the
//! halves of `into_split` (cargo feature `tokio-io`).
//!
//! Reads go straight into the caller's `ReadBuf` (uninitialised memory included:
//! nothing is zeroed, nothing copied); writes return `Ready(Ok(n))` once the kernel
//! has the `n` bytes; `poll_flush` has nothing to do; `poll_shutdown` is
//! `shutdown(SHUT_WR)`, `Ok(())` when called again. See the module docs of
//! [`compat`](crate::compat) for why.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncBufRead, AsyncRead, AsyncWrite, ReadBuf};

use super::split::{ReadHalf, WriteHalf};
use super::{ReadParts, WriteParts};
use crate::net::{StreamReader, StreamWriter, TcpStream, UnixStream};

macro_rules! tokio_read {
    ($($ty:ty),*) => {$(
        impl AsyncRead for $ty {
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &mut ReadBuf<'_>,
            ) -> Poll<io::Result<()>> {
                let (fd, state) = self.get_mut().read_parts();
                // SAFETY: only bytes the kernel wrote are marked initialised below;
                // nothing de-initialises the buffer.
                let unfilled = unsafe { buf.unfilled_mut() };
                let (ptr, len) = (unfilled.as_mut_ptr().cast::<u8>(), unfilled.len());
                // SAFETY: `unfilled` is `len` writable bytes, borrowed for the call.
                let n = ready!(unsafe { state.poll_read_raw(fd, cx, ptr, len) })?;
                // SAFETY: `recv` (or the stash's copy) wrote the first `n` bytes.
                unsafe { buf.assume_init(n) };
                buf.advance(n);
                Poll::Ready(Ok(()))
            }
        }
    )*};
}

macro_rules! tokio_write {
    ($($ty:ty),*) => {$(
        impl AsyncWrite for $ty {
            fn poll_write(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &[u8],
            ) -> Poll<io::Result<usize>> {
                let (fd, state) = self.get_mut().write_parts();
                state.poll_write(fd, cx, buf)
            }

            fn poll_write_vectored(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                bufs: &[IoSlice<'_>],
            ) -> Poll<io::Result<usize>> {
                let (fd, state) = self.get_mut().write_parts();
                state.poll_write_vectored(fd, cx, bufs)
            }

            fn is_write_vectored(&self) -> bool {
                true
            }

            fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                Poll::Ready(Ok(()))
            }

            fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                let (fd, state) = self.get_mut().write_parts();
                Poll::Ready(state.shutdown(fd))
            }
        }
    )*};
}

tokio_read!(TcpStream, UnixStream, ReadHalf);
tokio_write!(TcpStream, UnixStream, WriteHalf);

impl AsyncRead for StreamReader {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        let buffered = ready!(this.poll_fill_buf_borrowed(cx))?;
        let n = buffered.len().min(buf.remaining());
        buf.put_slice(&buffered[..n]);
        this.consume_borrowed(n);
        Poll::Ready(Ok(()))
    }
}

impl AsyncBufRead for StreamReader {
    fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        self.get_mut().poll_fill_buf_borrowed(cx)
    }

    fn consume(self: Pin<&mut Self>, amt: usize) {
        self.get_mut().consume_borrowed(amt);
    }
}

impl AsyncWrite for StreamWriter {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().poll_write_borrowed(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_flush_borrowed(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_shutdown_borrowed(cx)
    }
}
