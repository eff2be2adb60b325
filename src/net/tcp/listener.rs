//! [`TcpListener`] and its [`ListenOptions`].

use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use super::TcpStream;
use crate::driver::sockaddr::SockAddr;
use crate::net::addr::{each_addr, ToSocketAddrs};
use crate::net::socket::{Socket, DEFAULT_BACKLOG};

/// A TCP socket listening for connections.
///
/// `accept` uses one multishot accept entry for the listener where the kernel has
/// it (5.19), a single-shot accept per connection otherwise, and `accept4(2)` on
/// epoll. Dropping the listener stops accepting and closes it, so that its address
/// is free when the drop returns (wherever it is dropped: in a task, outside the
/// runtime, in another runtime); connections already accepted but not yet handed
/// out are closed too.
///
/// A listener may be used by several runtimes of its thread in turn: the runtime
/// that accepts takes every connection (a multishot accept another runtime armed is
/// cancelled in that runtime's ring first, and what it had accepted is handed on).
///
/// ```
/// use ringloop::net::{TcpListener, TcpStream};
/// # ringloop::run(async {
/// let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
/// let addr = listener.local_addr().unwrap();
/// let client = ringloop::spawn(async move {
///     let stream = TcpStream::connect(addr).await.unwrap();
///     let (n, _) = stream.write(b"ping".to_vec()).await;
///     n.unwrap()
/// });
/// let (stream, _peer) = listener.accept().await.unwrap();
/// let (n, buf) = stream.read(Vec::with_capacity(16)).await;
/// assert_eq!(&buf[..n.unwrap()], b"ping");
/// assert_eq!(client.await.unwrap(), 4);
/// # });
/// ```
#[derive(Debug)]
pub struct TcpListener {
    socket: Socket,
}

/// How [`TcpListener::bind_with`] sets up a listener.
///
/// `SO_REUSEADDR` is always on (a restarted server can bind its port while old
/// connections wait in `TIME_WAIT`, as std and asyncio do).
#[derive(Clone, Debug)]
pub struct ListenOptions {
    reuse_port: bool,
    backlog: i32,
}

impl Default for ListenOptions {
    fn default() -> Self {
        ListenOptions {
            reuse_port: false,
            backlog: DEFAULT_BACKLOG,
        }
    }
}

impl ListenOptions {
    /// The defaults: no `SO_REUSEPORT`, a backlog of 1024.
    pub fn new() -> ListenOptions {
        ListenOptions::default()
    }

    /// Sets `SO_REUSEPORT`, so that several listeners (one per core, say) can bind
    /// the same address and the kernel spreads connections among them.
    pub fn reuse_port(mut self, on: bool) -> ListenOptions {
        self.reuse_port = on;
        self
    }

    /// The length of the queue of connections not yet accepted (the kernel caps it
    /// at `net.core.somaxconn`).
    pub fn backlog(mut self, backlog: u32) -> ListenOptions {
        self.backlog = i32::try_from(backlog).unwrap_or(i32::MAX);
        self
    }
}

fn domain_of(addr: &SocketAddr) -> i32 {
    match addr {
        SocketAddr::V4(_) => libc::AF_INET,
        SocketAddr::V6(_) => libc::AF_INET6,
    }
}

impl TcpListener {
    /// Binds to `addr` (the first of its addresses that works) and listens, with
    /// the default [`ListenOptions`]. Port 0 picks a free port; see
    /// [`local_addr`](Self::local_addr).
    ///
    /// Cancel-safe (nothing is bound until it returns).
    pub async fn bind(addr: impl ToSocketAddrs) -> io::Result<TcpListener> {
        each_addr(&addr, |a| async move {
            TcpListener::bind_with(a, &ListenOptions::new())
        })
        .await
    }

    /// Binds to `addr` with `options` and listens; needs no runtime.
    pub fn bind_with(addr: SocketAddr, options: &ListenOptions) -> io::Result<TcpListener> {
        let socket = Socket::listen(
            domain_of(&addr),
            &SockAddr::from_std(&addr),
            options.reuse_port,
            options.backlog,
        )?;
        Ok(TcpListener { socket })
    }

    /// Takes over a listening std socket (made non-blocking here).
    pub fn from_std(listener: std::net::TcpListener) -> io::Result<TcpListener> {
        listener.set_nonblocking(true)?;
        Ok(TcpListener {
            socket: Socket::listener(OwnedFd::from(listener)),
        })
    }

    /// Waits for a connection; returns the connected stream and the peer's address.
    ///
    /// Cancel-safe: a connection accepted for a call that was dropped goes to the
    /// next call. Errors such as `EMFILE` (no descriptor left) are returned as they
    /// are; the listener stays usable, and the connection waits in the backlog for
    /// a later call (a server should back off and retry, as
    /// [`start_server`](crate::net::start_server) does).
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let (socket, addr) = self.socket.accept().await?;
        let addr = match addr.and_then(|a| a.ip()) {
            Some(addr) => addr,
            // Multishot accept does not report the address. Ask for it as
            // accept4 does, so that a connection reset while queued is handed out
            // as on the other drivers (getpeername would fail with ENOTCONN).
            None => socket.accepted_peer_addr()?.ip_or_err()?,
        };
        Ok((TcpStream::from_socket(socket), addr))
    }

    /// The address the listener is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.local_addr()?.ip_or_err()
    }

    /// The listening socket (for servers, which accept without the address).
    pub(crate) fn socket(&self) -> &Socket {
        &self.socket
    }

    /// Sets the IP time-to-live of the connections it accepts.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.socket
            .set_int_option(libc::IPPROTO_IP, libc::IP_TTL, ttl as i32)
    }
}

impl AsRawFd for TcpListener {
    fn as_raw_fd(&self) -> RawFd {
        self.socket.as_raw_fd()
    }
}
