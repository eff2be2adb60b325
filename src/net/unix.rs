//! Unix domain stream sockets: [`UnixListener`] and [`UnixStream`].

use std::io;
use std::net::Shutdown;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::net::SocketAddr;
use std::path::Path;

use crate::buf::{BufResult, IoBuf, IoBufMut};
use crate::driver::sockaddr::SockAddr;
use crate::driver::sys;
use crate::net::socket::{Socket, DEFAULT_BACKLOG};
use crate::net::{IoState, StreamReader, StreamWriter};

/// A Unix stream socket listening for connections (see
/// [`TcpListener`](crate::net::TcpListener), which it mirrors).
///
/// ```
/// use ringloop::net::{UnixListener, UnixStream};
/// # ringloop::run(async {
/// let path = std::env::temp_dir().join(format!("ringloop-doc-{}.sock", std::process::id()));
/// let listener = UnixListener::bind(&path).unwrap();
/// let client = ringloop::spawn({
///     let path = path.clone();
///     async move { UnixStream::connect(&path).await.unwrap().write_all(b"hi").await.0 }
/// });
/// let (stream, _) = listener.accept().await.unwrap();
/// let (n, buf) = stream.read(Vec::with_capacity(8)).await;
/// assert_eq!(&buf[..n.unwrap()], b"hi");
/// client.await.unwrap().unwrap();
/// std::fs::remove_file(&path).unwrap();
/// # });
/// ```
#[derive(Debug)]
pub struct UnixListener {
    socket: Socket,
}

impl UnixListener {
    /// Binds to `path` and listens. The socket file is not removed when the
    /// listener is dropped (as with std); a path starting with a NUL byte names an
    /// address in Linux's abstract namespace instead of a file.
    pub fn bind(path: impl AsRef<Path>) -> io::Result<UnixListener> {
        let addr = SockAddr::unix(path.as_ref())?;
        let socket = Socket::listen(libc::AF_UNIX, &addr, false, DEFAULT_BACKLOG)?;
        Ok(UnixListener { socket })
    }

    /// Takes over a listening std socket (made non-blocking here).
    pub fn from_std(listener: std::os::unix::net::UnixListener) -> io::Result<UnixListener> {
        listener.set_nonblocking(true)?;
        Ok(UnixListener {
            socket: Socket::listener(OwnedFd::from(listener)),
        })
    }

    /// Waits for a connection; returns the stream and the peer's address (usually
    /// unnamed: clients rarely bind).
    ///
    /// Cancel-safe, as [`TcpListener::accept`](crate::net::TcpListener::accept).
    pub async fn accept(&self) -> io::Result<(UnixStream, SocketAddr)> {
        let (socket, _) = self.socket.accept().await?;
        let stream = UnixStream::from_socket(socket);
        let addr = stream.peer_addr()?;
        Ok((stream, addr))
    }

    /// The address the listener is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket
            .fd()
            .view::<std::os::unix::net::UnixListener>()
            .local_addr()
    }

    /// The listening socket (for servers, which accept without the address).
    pub(crate) fn socket(&self) -> &Socket {
        &self.socket
    }
}

impl AsRawFd for UnixListener {
    fn as_raw_fd(&self) -> RawFd {
        self.socket.as_raw_fd()
    }
}

/// A Unix stream connection (see [`TcpStream`](crate::net::TcpStream), which it
/// mirrors: owned-buffer reads and writes, `&self` methods, buffered halves).
#[derive(Debug)]
pub struct UnixStream {
    pub(crate) socket: Socket,
    /// The readiness state of the compat traits (a unit without their features,
    /// then never read).
    #[cfg_attr(
        not(any(feature = "tokio-io", feature = "futures-io", feature = "hyper")),
        allow(dead_code)
    )]
    pub(crate) io: IoState,
}

impl UnixStream {
    fn from_socket(socket: Socket) -> UnixStream {
        UnixStream {
            socket,
            io: IoState::new(),
        }
    }

    /// Connects to the socket at `path`.
    ///
    /// Fails with `WouldBlock` (`EAGAIN`) when the listener's backlog is full, as
    /// the kernel reports for non-blocking Unix connects. Cancel-safe.
    pub async fn connect(path: impl AsRef<Path>) -> io::Result<UnixStream> {
        let addr = SockAddr::unix(path.as_ref())?;
        let socket = Socket::new(libc::AF_UNIX, libc::SOCK_STREAM)?;
        socket.connect(addr).await?;
        Ok(UnixStream::from_socket(socket))
    }

    /// Two connected streams (`socketpair(2)`).
    pub fn pair() -> io::Result<(UnixStream, UnixStream)> {
        let (a, b) = sys::socketpair()?;
        Ok((
            UnixStream::from_socket(Socket::from_fd(a, false)),
            UnixStream::from_socket(Socket::from_fd(b, false)),
        ))
    }

    /// Takes over a connected std socket (made non-blocking here).
    pub fn from_std(stream: std::os::unix::net::UnixStream) -> io::Result<UnixStream> {
        stream.set_nonblocking(true)?;
        Ok(UnixStream::from_socket(Socket::from_fd(
            OwnedFd::from(stream),
            false,
        )))
    }

    /// Reads into `buf` from its start; 0 at end of stream. Cancel-safe (bytes a
    /// dropped read received go to the next read).
    pub async fn read<B: IoBufMut>(&self, buf: B) -> BufResult<usize, B> {
        self.socket.read(buf).await
    }

    /// Reads into several buffers in order. Cancel-safe.
    pub async fn readv<B: IoBufMut>(&self, bufs: Vec<B>) -> BufResult<usize, Vec<B>> {
        self.socket.readv(bufs).await
    }

    /// Writes `buf`'s bytes; may write fewer. Not cancel-safe.
    pub async fn write<B: IoBuf>(&self, buf: B) -> BufResult<usize, B> {
        self.socket.write(buf).await
    }

    /// Writes all of `buf`'s bytes. Not cancel-safe.
    pub async fn write_all<B: IoBuf>(&self, buf: B) -> BufResult<(), B> {
        self.socket.write_all(buf).await
    }

    /// Writes several buffers in order; may write fewer bytes. Not cancel-safe.
    pub async fn writev<B: IoBuf>(&self, bufs: Vec<B>) -> BufResult<usize, Vec<B>> {
        self.socket.writev(bufs).await
    }

    /// Shuts down the reading, writing or both halves.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.socket.shutdown(how)
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket
            .fd()
            .view::<std::os::unix::net::UnixStream>()
            .local_addr()
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.socket
            .fd()
            .view::<std::os::unix::net::UnixStream>()
            .peer_addr()
    }

    /// The socket's pending error (`SO_ERROR`), cleared by reading it.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.socket.take_error()
    }

    /// Buffered asyncio-style halves (see
    /// [`TcpStream::into_streams`](crate::net::TcpStream::into_streams)).
    pub fn into_streams(self) -> (StreamReader, StreamWriter) {
        crate::net::streams::split(self.socket)
    }
}

impl AsRawFd for UnixStream {
    fn as_raw_fd(&self) -> RawFd {
        self.socket.as_raw_fd()
    }
}
