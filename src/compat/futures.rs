//! `futures_io::{AsyncRead, AsyncWrite}` for [`TcpStream`], [`UnixStream`] and the
//! halves of `into_split` (cargo feature `futures-io`).
//!
//! As the tokio ones: reads straight into the caller's slice, writes done when the
//! kernel has the bytes, `poll_flush` a no-op, `poll_close` = `shutdown(SHUT_WR)`
//! (`Ok(())` when called again).
//!
//! [`StreamReader`] is `AsyncRead` and `AsyncBufRead` over its own buffer,
//! [`StreamWriter`] `AsyncWrite` over its bounded one, as for tokio's traits.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_io::{AsyncBufRead, AsyncRead, AsyncWrite};

use super::split::{ReadHalf, WriteHalf};
use super::{ReadParts, WriteParts};
use crate::net::{StreamReader, StreamWriter, TcpStream, UnixStream};

macro_rules! futures_read {
    ($($ty:ty),*) => {$(
        impl AsyncRead for $ty {
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &mut [u8],
            ) -> Poll<io::Result<usize>> {
                let (fd, state) = self.get_mut().read_parts();
                state.poll_read(fd, cx, buf)
            }
        }
    )*};
}

macro_rules! futures_write {
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

            fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                Poll::Ready(Ok(()))
            }

            fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                let (fd, state) = self.get_mut().write_parts();
                Poll::Ready(state.shutdown(fd))
            }
        }
    )*};
}

futures_read!(TcpStream, UnixStream, ReadHalf);
futures_write!(TcpStream, UnixStream, WriteHalf);

impl AsyncRead for StreamReader {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().poll_read_borrowed(cx, buf)
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

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_shutdown_borrowed(cx)
    }
}
