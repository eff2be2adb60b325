//! [`ToSocketAddrs`]: what `connect`, `bind` and the stream helpers accept as an
//! address, and how names are resolved without blocking the loop.
//!
//! Literal addresses (`"127.0.0.1:8888"`, `SocketAddr`, `(IpAddr, port)`) are parsed
//! on the spot. Host names (`"localhost:8888"`, `("example.com", 443)`) go to the
//! system resolver (`getaddrinfo`) on the blocking pool ([`to_thread`](crate::to_thread)),
//! as asyncio runs `getaddrinfo` in its executor, so the loop keeps running while a
//! DNS query waits.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

/// Addresses to connect or bind to: a [`SocketAddr`], an `(ip, port)` pair, a
/// `"host:port"` string, a `(host, port)` pair, or a slice of addresses. Sealed.
///
/// ```
/// # ringloop::run(async {
/// let listener = ringloop::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
/// let addr = listener.local_addr().unwrap();
/// let (stream, accepted) = ringloop::gather!(
///     ringloop::net::TcpStream::connect(("localhost", addr.port())),
///     listener.accept(),
/// )
/// .await;
/// assert!(stream.is_ok() && accepted.is_ok());
/// # });
/// ```
pub trait ToSocketAddrs: sealed::Sealed {}

pub(crate) mod sealed {
    use super::Resolve;

    /// How a [`ToSocketAddrs`](super::ToSocketAddrs) value turns into addresses.
    pub trait Sealed {
        #[doc(hidden)]
        fn to_resolve(&self) -> Resolve;
    }
}

/// Addresses already known, or a name for the resolver.
#[doc(hidden)]
#[derive(Debug)]
pub enum Resolve {
    Ready(Vec<SocketAddr>),
    Lookup(String, u16),
    Invalid(String),
}

/// Every address `addr` stands for, resolving names on the blocking pool.
pub(crate) async fn resolve<A: ToSocketAddrs + ?Sized>(addr: &A) -> io::Result<Vec<SocketAddr>> {
    let addrs = match addr.to_resolve() {
        Resolve::Ready(addrs) => addrs,
        Resolve::Invalid(why) => return Err(io::Error::new(io::ErrorKind::InvalidInput, why)),
        Resolve::Lookup(host, port) => {
            let looked_up = crate::to_thread(move || {
                std::net::ToSocketAddrs::to_socket_addrs(&(host.as_str(), port))
                    .map(|it| it.collect::<Vec<_>>())
            })
            .await;
            match looked_up {
                Ok(result) => result?,
                Err(e) => return Err(io::Error::other(format!("address lookup failed: {e}"))),
            }
        }
    };
    if addrs.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the address resolved to nothing",
        ));
    }
    Ok(addrs)
}

/// Tries `f` on each address in turn; the first success wins, else the last error
/// (as `std::net::TcpStream::connect` and asyncio's `open_connection` do).
pub(crate) async fn each_addr<A, T, F, Fut>(addr: &A, mut f: F) -> io::Result<T>
where
    A: ToSocketAddrs + ?Sized,
    F: FnMut(SocketAddr) -> Fut,
    Fut: std::future::Future<Output = io::Result<T>>,
{
    let mut last = None;
    for addr in resolve(addr).await? {
        match f(addr).await {
            Ok(value) => return Ok(value),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::other("no address to try")))
}

fn host_port(text: &str) -> Resolve {
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Resolve::Ready(vec![addr]);
    }
    match text.rsplit_once(':') {
        Some((host, port)) => match port.parse::<u16>() {
            Ok(port) => host_and_port(host, port),
            Err(_) => Resolve::Invalid(format!("invalid port in address {text:?}")),
        },
        None => Resolve::Invalid(format!("address {text:?} has no port (host:port)")),
    }
}

fn host_and_port(host: &str, port: u16) -> Resolve {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Resolve::Ready(vec![SocketAddr::new(ip, port)]);
    }
    if host.is_empty() {
        return Resolve::Invalid("empty host name".into());
    }
    Resolve::Lookup(host.to_owned(), port)
}

macro_rules! ready_impl {
    ($($ty:ty => |$v:ident| $e:expr;)*) => {$(
        impl sealed::Sealed for $ty {
            fn to_resolve(&self) -> Resolve {
                let $v = self;
                Resolve::Ready($e)
            }
        }
        impl ToSocketAddrs for $ty {}
    )*};
}

ready_impl! {
    SocketAddr => |a| vec![*a];
    SocketAddrV4 => |a| vec![SocketAddr::V4(*a)];
    SocketAddrV6 => |a| vec![SocketAddr::V6(*a)];
    (IpAddr, u16) => |a| vec![SocketAddr::new(a.0, a.1)];
    (Ipv4Addr, u16) => |a| vec![SocketAddr::new(IpAddr::V4(a.0), a.1)];
    (Ipv6Addr, u16) => |a| vec![SocketAddr::new(IpAddr::V6(a.0), a.1)];
    [SocketAddr] => |a| a.to_vec();
    Vec<SocketAddr> => |a| a.clone();
}

impl sealed::Sealed for str {
    fn to_resolve(&self) -> Resolve {
        host_port(self)
    }
}
impl ToSocketAddrs for str {}

impl sealed::Sealed for String {
    fn to_resolve(&self) -> Resolve {
        host_port(self)
    }
}
impl ToSocketAddrs for String {}

impl sealed::Sealed for (&str, u16) {
    fn to_resolve(&self) -> Resolve {
        host_and_port(self.0, self.1)
    }
}
impl ToSocketAddrs for (&str, u16) {}

impl sealed::Sealed for (String, u16) {
    fn to_resolve(&self) -> Resolve {
        host_and_port(&self.0, self.1)
    }
}
impl ToSocketAddrs for (String, u16) {}

impl<T: ToSocketAddrs + ?Sized> sealed::Sealed for &T {
    fn to_resolve(&self) -> Resolve {
        (**self).to_resolve()
    }
}
impl<T: ToSocketAddrs + ?Sized> ToSocketAddrs for &T {}

#[cfg(test)]
mod tests {
    use super::sealed::Sealed;
    use super::*;

    #[test]
    fn literals_need_no_lookup() {
        for text in ["127.0.0.1:80", "[::1]:80"] {
            assert!(matches!(text.to_resolve(), Resolve::Ready(v) if v.len() == 1));
        }
        assert!(matches!(("::1", 80).to_resolve(), Resolve::Ready(_)));
        assert!(matches!(("[::1]", 80).to_resolve(), Resolve::Ready(_)));
        assert!(matches!("localhost:80".to_resolve(), Resolve::Lookup(h, 80) if h == "localhost"));
        assert!(matches!("localhost".to_resolve(), Resolve::Invalid(_)));
        assert!(matches!("localhost:http".to_resolve(), Resolve::Invalid(_)));
        assert!(matches!(":80".to_resolve(), Resolve::Invalid(_)));
    }
}
