//! [`TcpStream`]: a TCP connection with owned-buffer operations.

use std::io;
use std::net::{Shutdown, SocketAddr};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use crate::buf::{BufResult, IoBuf, IoBufMut};
use crate::driver::sockaddr::SockAddr;
use crate::net::addr::{each_addr, ToSocketAddrs};
use crate::net::socket::Socket;
use crate::net::IoState;
use crate::net::{StreamReader, StreamWriter};

/// A TCP connection.
///
/// Reads and writes take the buffer by value and give it back with the result
/// ([`BufResult`]): on io_uring the kernel uses the buffer after the call is
/// submitted, so the operation must own it until the kernel is done, even if the
/// future is dropped.
///
/// Methods take `&self`; a stream can be shared between tasks of its thread (for
/// instance one reading, one writing). For asyncio-style buffered streams, see
/// [`into_streams`](Self::into_streams).
///
/// ```
/// use ringloop::net::{TcpListener, TcpStream};
/// # ringloop::run(async {
/// let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
/// let addr = listener.local_addr().unwrap();
/// let server = ringloop::spawn(async move {
///     let (stream, _) = listener.accept().await.unwrap();
///     let (n, buf) = stream.read(vec![0; 64]).await;
///     let n = n.unwrap();
///     stream.write_all(buf[..n].to_vec()).await.0.unwrap();
/// });
/// let stream = TcpStream::connect(addr).await.unwrap();
/// stream.write_all(b"echo me").await.0.unwrap();
/// let (n, buf) = stream.read(Vec::with_capacity(64)).await;
/// assert_eq!(&buf[..n.unwrap()], b"echo me");
/// server.await.unwrap();
/// # });
/// ```
#[derive(Debug)]
pub struct TcpStream {
    pub(crate) socket: Socket,
    /// The readiness state of the compat traits (a unit without their features,
    /// then never read).
    #[cfg_attr(
        not(any(feature = "tokio-io", feature = "futures-io", feature = "hyper")),
        allow(dead_code)
    )]
    pub(crate) io: IoState,
}

impl TcpStream {
    pub(crate) fn from_socket(socket: Socket) -> TcpStream {
        TcpStream {
            socket,
            io: IoState::new(),
        }
    }

    /// Connects to `addr`, trying each of its addresses until one accepts.
    ///
    /// Cancel-safe: a dropped connect closes its socket.
    pub async fn connect(addr: impl ToSocketAddrs) -> io::Result<TcpStream> {
        each_addr(&addr, TcpStream::connect_addr).await
    }

    async fn connect_addr(addr: SocketAddr) -> io::Result<TcpStream> {
        let domain = match addr {
            SocketAddr::V4(_) => libc::AF_INET,
            SocketAddr::V6(_) => libc::AF_INET6,
        };
        let socket = Socket::new(domain, libc::SOCK_STREAM)?;
        socket.connect(SockAddr::from_std(&addr)).await?;
        Ok(TcpStream::from_socket(socket))
    }

    /// Takes over a connected std socket (made non-blocking here).
    pub fn from_std(stream: std::net::TcpStream) -> io::Result<TcpStream> {
        stream.set_nonblocking(true)?;
        Ok(TcpStream::from_socket(Socket::from_fd(
            OwnedFd::from(stream),
            false,
        )))
    }

    /// Reads into `buf`'s spare room, from its start (for a `Vec`, up to its
    /// capacity); returns the number of bytes read, 0 at end of stream.
    ///
    /// Cancel-safe: if the future is dropped after the kernel already received
    /// bytes into the buffer, those bytes go to the next read on this stream.
    pub async fn read<B: IoBufMut>(&self, buf: B) -> BufResult<usize, B> {
        self.socket.read(buf).await
    }

    /// Reads into several buffers in order (`recvmsg` with an iovec each).
    ///
    /// Cancel-safe, like [`read`](Self::read).
    pub async fn readv<B: IoBufMut>(&self, bufs: Vec<B>) -> BufResult<usize, Vec<B>> {
        self.socket.readv(bufs).await
    }

    /// Writes `buf`'s bytes; may write fewer (see [`write_all`](Self::write_all)).
    ///
    /// Not cancel-safe: a write dropped in flight may have sent part of the buffer.
    pub async fn write<B: IoBuf>(&self, buf: B) -> BufResult<usize, B> {
        self.socket.write(buf).await
    }

    /// Writes all of `buf`'s bytes.
    ///
    /// Not cancel-safe: dropped midway, an unknown prefix has been sent.
    pub async fn write_all<B: IoBuf>(&self, buf: B) -> BufResult<(), B> {
        self.socket.write_all(buf).await
    }

    /// Writes several buffers in order (`sendmsg`); may write fewer bytes than all.
    ///
    /// Not cancel-safe, like [`write`](Self::write).
    pub async fn writev<B: IoBuf>(&self, bufs: Vec<B>) -> BufResult<usize, Vec<B>> {
        self.socket.writev(bufs).await
    }

    /// Shuts down the reading, writing or both halves (`shutdown(2)`); writing
    /// sends the peer an end of stream while reading goes on (half-close).
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.socket.shutdown(how)
    }

    /// The local address of the connection.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.local_addr()?.ip_or_err()
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.socket.peer_addr()?.ip_or_err()
    }

    /// Sets `TCP_NODELAY`: small writes go out at once instead of waiting to be
    /// coalesced (Nagle's algorithm). The stream helpers set it, as asyncio does.
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.socket
            .set_int_option(libc::IPPROTO_TCP, libc::TCP_NODELAY, i32::from(nodelay))
    }

    /// Whether `TCP_NODELAY` is set.
    pub fn nodelay(&self) -> io::Result<bool> {
        Ok(self
            .socket
            .int_option(libc::IPPROTO_TCP, libc::TCP_NODELAY)?
            != 0)
    }

    /// Sets the IP time-to-live.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.socket
            .set_int_option(libc::IPPROTO_IP, libc::IP_TTL, ttl as i32)
    }

    /// The socket's pending error (`SO_ERROR`), cleared by reading it.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.socket.take_error()
    }

    /// Buffered asyncio-style halves: a [`StreamReader`] and a [`StreamWriter`],
    /// usable from different tasks. The connection closes when both are dropped.
    pub fn into_streams(self) -> (StreamReader, StreamWriter) {
        crate::net::streams::split(self.socket)
    }
}

impl AsRawFd for TcpStream {
    fn as_raw_fd(&self) -> RawFd {
        self.socket.as_raw_fd()
    }
}
