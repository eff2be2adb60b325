//! [`Socket`]: what every socket type is made of, a shared descriptor and the
//! operations on it. The public types (`tcp.rs`, `udp.rs`, `unix.rs`) wrap it and
//! choose which operations make sense for them.

use std::io;
use std::net::Shutdown;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};

use crate::buf::write_all_with;
use crate::buf::{BufResult, IoBuf, IoBufMut};
use crate::driver::fd::SharedFd;
use crate::driver::op::{self, Connect, Op, PollAdd, Recv, RecvMsg, Send, SendMsg};
use crate::driver::sockaddr::SockAddr;
use crate::driver::sys;
use crate::driver::Interest;

/// A socket descriptor with owned-buffer operations.
#[derive(Clone, Debug)]
pub(crate) struct Socket {
    fd: SharedFd,
    /// Datagram socket: a cancelled receive's data goes to the next as a datagram.
    datagram: bool,
}

/// Listen backlog when none is given (`somaxconn` caps it).
pub(crate) const DEFAULT_BACKLOG: i32 = 1024;

impl Socket {
    /// A new non-blocking, close-on-exec socket.
    pub(crate) fn new(domain: i32, ty: i32) -> io::Result<Socket> {
        let fd = sys::socket(domain, ty)?;
        Ok(Socket::from_fd(fd, ty == libc::SOCK_DGRAM))
    }

    /// A socket from a descriptor that is already non-blocking.
    pub(crate) fn from_fd(fd: OwnedFd, datagram: bool) -> Socket {
        Socket {
            fd: SharedFd::new(fd),
            datagram,
        }
    }

    /// A socket from a listening descriptor (closed at once when released).
    pub(crate) fn listener(fd: OwnedFd) -> Socket {
        let socket = Socket::from_fd(fd, false);
        socket.fd.state().listener = true;
        socket
    }

    pub(crate) fn fd(&self) -> &SharedFd {
        &self.fd
    }

    /// A listening socket: `SO_REUSEADDR` (so that a restarted server can bind
    /// while old connections linger in `TIME_WAIT`), optionally `SO_REUSEPORT`,
    /// then `bind` and `listen`.
    pub(crate) fn listen(
        domain: i32,
        addr: &SockAddr,
        reuse_port: bool,
        backlog: i32,
    ) -> io::Result<Socket> {
        let fd = sys::socket(domain, libc::SOCK_STREAM)?;
        if domain != libc::AF_UNIX {
            sys::setsockopt_int(fd.as_fd(), libc::SOL_SOCKET, libc::SO_REUSEADDR, 1)?;
            if reuse_port {
                sys::setsockopt_int(fd.as_fd(), libc::SOL_SOCKET, libc::SO_REUSEPORT, 1)?;
            }
        }
        sys::bind(fd.as_fd(), addr)?;
        sys::listen(fd.as_fd(), backlog)?;
        Ok(Socket::listener(fd))
    }

    /// A datagram socket bound to `addr`.
    pub(crate) fn bind_datagram(domain: i32, addr: &SockAddr) -> io::Result<Socket> {
        let fd = sys::socket(domain, libc::SOCK_DGRAM)?;
        sys::bind(fd.as_fd(), addr)?;
        Ok(Socket::from_fd(fd, true))
    }

    /// Connects, waiting for a connection that the kernel reports as under way.
    pub(crate) async fn connect(&self, addr: SockAddr) -> io::Result<()> {
        match Op::new(Connect::new(self.fd.clone(), addr)).await {
            Ok(()) => Ok(()),
            Err(e) => match e.raw_os_error() {
                Some(libc::EINPROGRESS) | Some(libc::EALREADY) => {
                    Op::new(PollAdd::new(self.fd.clone(), Interest::Write)).await?;
                    match sys::take_error(self.fd.as_fd())? {
                        Some(e) => Err(e),
                        None => Ok(()),
                    }
                }
                Some(libc::EISCONN) => Ok(()),
                _ => Err(e),
            },
        }
    }

    /// Accepts a connection (see `driver::op::accept`).
    pub(crate) async fn accept(&self) -> io::Result<(Socket, Option<SockAddr>)> {
        let (fd, addr) = op::accept(&self.fd).await?;
        Ok((Socket::from_fd(fd, false), addr))
    }

    pub(crate) async fn read<B: IoBufMut>(&self, buf: B) -> BufResult<usize, B> {
        Op::new(Recv::new(self.fd.clone(), buf, self.datagram)).await
    }

    pub(crate) async fn write<B: IoBuf>(&self, buf: B) -> BufResult<usize, B> {
        Op::new(Send::new(self.fd.clone(), buf, self.datagram)).await
    }

    /// Writes all of `buf`, in as many sends as it takes.
    pub(crate) async fn write_all<B: IoBuf>(&self, buf: B) -> BufResult<(), B> {
        write_all_with(buf, |rest, _| self.write(rest)).await
    }

    pub(crate) async fn readv<B: IoBufMut>(&self, bufs: Vec<B>) -> BufResult<usize, Vec<B>> {
        let (result, bufs) = Op::new(RecvMsg::new(self.fd.clone(), bufs, false)).await;
        (result.map(|(n, _)| n), bufs)
    }

    pub(crate) async fn writev<B: IoBuf>(&self, bufs: Vec<B>) -> BufResult<usize, Vec<B>> {
        Op::new(SendMsg::new(self.fd.clone(), bufs, None, self.datagram)).await
    }

    /// Receives one datagram and its sender.
    pub(crate) async fn recv_from<B: IoBufMut>(
        &self,
        buf: B,
    ) -> BufResult<(usize, Option<SockAddr>), B> {
        let (result, mut bufs) = Op::new(RecvMsg::new(self.fd.clone(), vec![buf], true)).await;
        let buf = bufs.pop().expect("the buffer comes back");
        (result, buf)
    }

    /// Sends one datagram to `to`.
    pub(crate) async fn send_to<B: IoBuf>(&self, buf: B, to: SockAddr) -> BufResult<usize, B> {
        let (result, mut bufs) =
            Op::new(SendMsg::new(self.fd.clone(), vec![buf], Some(to), true)).await;
        let buf = bufs.pop().expect("the buffer comes back");
        (result, buf)
    }

    pub(crate) fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        sys::shutdown(self.fd.as_fd(), how)
    }

    pub(crate) fn local_addr(&self) -> io::Result<SockAddr> {
        sys::getsockname(self.fd.as_fd())
    }

    pub(crate) fn peer_addr(&self) -> io::Result<SockAddr> {
        sys::getpeername(self.fd.as_fd())
    }

    /// The peer's address for a connection just accepted, as `accept4` would
    /// have reported it (see `sys::peername_opt`).
    pub(crate) fn accepted_peer_addr(&self) -> io::Result<SockAddr> {
        sys::peername_opt(self.fd.as_fd())
    }

    pub(crate) fn set_int_option(&self, level: i32, name: i32, value: i32) -> io::Result<()> {
        sys::setsockopt_int(self.fd.as_fd(), level, name, value)
    }

    pub(crate) fn int_option(&self, level: i32, name: i32) -> io::Result<i32> {
        sys::getsockopt_int(self.fd.as_fd(), level, name)
    }

    pub(crate) fn take_error(&self) -> io::Result<Option<io::Error>> {
        sys::take_error(self.fd.as_fd())
    }
}

impl AsRawFd for Socket {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.raw()
    }
}
