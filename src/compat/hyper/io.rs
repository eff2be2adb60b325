//! `hyper::rt::{Read, Write}` for [`TcpStream`], [`UnixStream`] and the halves of
//! `into_split`: hyper's read buffer is filled by `recv` in place, its writes
//! (vectored: headers and body in one `sendmsg`) are done when the kernel has them.
//! [`StreamReader`] is `Read` (a copy out of its buffer) and [`StreamWriter`]
//! `Write` (into its bounded buffer), for a connection already split into the
//! asyncio streams.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use hyper::rt::{Read, ReadBufCursor, Write};

use crate::compat::split::{ReadHalf, WriteHalf};
use crate::compat::{ReadParts, WriteParts};
use crate::net::{StreamReader, StreamWriter, TcpStream, UnixStream};

macro_rules! hyper_read {
    ($($ty:ty),*) => {$(
        impl Read for $ty {
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                mut buf: ReadBufCursor<'_>,
            ) -> Poll<io::Result<()>> {
                let (fd, state) = self.get_mut().read_parts();
                // SAFETY: only bytes the kernel wrote are advanced over below;
                // nothing de-initialises the buffer.
                let unfilled = unsafe { buf.as_mut() };
                let (ptr, len) = (unfilled.as_mut_ptr().cast::<u8>(), unfilled.len());
                // SAFETY: `unfilled` is `len` writable bytes, borrowed for the call.
                let n = ready!(unsafe { state.poll_read_raw(fd, cx, ptr, len) })?;
                // SAFETY: `recv` (or the stash's copy) wrote the first `n` bytes.
                unsafe { buf.advance(n) };
                Poll::Ready(Ok(()))
            }
        }
    )*};
}

macro_rules! hyper_write {
    ($($ty:ty),*) => {$(
        impl Write for $ty {
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

hyper_read!(TcpStream, UnixStream, ReadHalf);
hyper_write!(TcpStream, UnixStream, WriteHalf);

impl Read for StreamReader {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut buf: ReadBufCursor<'_>,
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

impl Write for StreamWriter {
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
