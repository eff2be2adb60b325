//! [`UdpSocket`]: datagrams with owned-buffer operations.

use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use crate::buf::{BufResult, IoBuf, IoBufMut};
use crate::driver::sockaddr::SockAddr;
use crate::net::addr::{each_addr, resolve, ToSocketAddrs};
use crate::net::socket::Socket;

/// A UDP socket.
///
/// ```
/// use ringloop::net::UdpSocket;
/// # ringloop::run(async {
/// let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
/// let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
/// let (n, _) = a.send_to(b"hi".to_vec(), b.local_addr().unwrap()).await;
/// assert_eq!(n.unwrap(), 2);
/// let (got, buf) = b.recv_from(Vec::with_capacity(16)).await;
/// let (n, from) = got.unwrap();
/// assert_eq!((&buf[..n], from), (&b"hi"[..], a.local_addr().unwrap()));
/// # });
/// ```
#[derive(Debug)]
pub struct UdpSocket {
    socket: Socket,
}

fn domain_of(addr: &SocketAddr) -> i32 {
    match addr {
        SocketAddr::V4(_) => libc::AF_INET,
        SocketAddr::V6(_) => libc::AF_INET6,
    }
}

impl UdpSocket {
    /// Binds to `addr` (the first of its addresses that works); port 0 picks one.
    pub async fn bind(addr: impl ToSocketAddrs) -> io::Result<UdpSocket> {
        each_addr(&addr, |a| async move { UdpSocket::bind_addr(a) }).await
    }

    /// Binds to `addr`; needs no runtime.
    pub fn bind_addr(addr: SocketAddr) -> io::Result<UdpSocket> {
        let socket = Socket::bind_datagram(domain_of(&addr), &SockAddr::from_std(&addr))?;
        Ok(UdpSocket { socket })
    }

    /// Takes over a std socket (made non-blocking here).
    pub fn from_std(socket: std::net::UdpSocket) -> io::Result<UdpSocket> {
        socket.set_nonblocking(true)?;
        Ok(UdpSocket {
            socket: Socket::from_fd(OwnedFd::from(socket), true),
        })
    }

    /// Sets the default destination (and the only accepted source) for
    /// [`send`](Self::send) and [`recv`](Self::recv): the first address that works.
    pub async fn connect(&self, addr: impl ToSocketAddrs) -> io::Result<()> {
        each_addr(&addr, |a| self.socket.connect(SockAddr::from_std(&a))).await
    }

    /// Sends one datagram to `target` (the first address it resolves to).
    ///
    /// Not cancel-safe: the datagram may have been sent when the future is dropped.
    pub async fn send_to<B: IoBuf>(
        &self,
        buf: B,
        target: impl ToSocketAddrs,
    ) -> BufResult<usize, B> {
        let addr = match resolve(&target).await {
            Ok(addrs) => addrs[0],
            Err(e) => return (Err(e), buf),
        };
        self.socket.send_to(buf, SockAddr::from_std(&addr)).await
    }

    /// Receives one datagram into `buf` (to its capacity; a longer datagram is
    /// truncated, as `recvfrom` does); returns its length and sender.
    ///
    /// Cancel-safe: a datagram received for a dropped call goes to the next one.
    pub async fn recv_from<B: IoBufMut>(&self, buf: B) -> BufResult<(usize, SocketAddr), B> {
        let (result, buf) = self.socket.recv_from(buf).await;
        let result = result.and_then(|(n, from)| {
            // A datagram that a dropped `recv` received comes from the stash
            // without its sender (`recv` does not ask for it); a connected socket
            // receives only from its peer, so that is the sender.
            let from = from
                .and_then(|a| a.ip())
                .or_else(|| self.socket.peer_addr().ok().and_then(|a| a.ip()));
            match from {
                Some(from) => Ok((n, from)),
                None => Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "the datagram came without a sender address",
                )),
            }
        });
        (result, buf)
    }

    /// Sends one datagram to the connected address.
    ///
    /// Not cancel-safe, like [`send_to`](Self::send_to).
    pub async fn send<B: IoBuf>(&self, buf: B) -> BufResult<usize, B> {
        self.socket.write(buf).await
    }

    /// Receives one datagram from the connected address.
    ///
    /// Cancel-safe, like [`recv_from`](Self::recv_from).
    pub async fn recv<B: IoBufMut>(&self, buf: B) -> BufResult<usize, B> {
        // With the sender's address, like `recv_from`: a datagram that a dropped
        // call received keeps its sender for whichever call comes next.
        let (result, buf) = self.socket.recv_from(buf).await;
        (result.map(|(n, _)| n), buf)
    }

    /// The address the socket is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.local_addr()?.ip_or_err()
    }

    /// The connected address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.socket.peer_addr()?.ip_or_err()
    }

    /// Allows sending to broadcast addresses (`SO_BROADCAST`).
    pub fn set_broadcast(&self, on: bool) -> io::Result<()> {
        self.socket
            .set_int_option(libc::SOL_SOCKET, libc::SO_BROADCAST, i32::from(on))
    }

    /// Sets the IP time-to-live.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.socket
            .set_int_option(libc::IPPROTO_IP, libc::IP_TTL, ttl as i32)
    }

    /// The socket's pending error (`SO_ERROR`; for example `ECONNREFUSED` after an
    /// ICMP port-unreachable), cleared by reading it.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.socket.take_error()
    }
}

impl AsRawFd for UdpSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.socket.as_raw_fd()
    }
}
