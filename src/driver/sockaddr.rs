//! [`SockAddr`]: a socket address in the kernel's layout (`sockaddr_storage`), and
//! its conversions from and to the standard library's address types.
//!
//! Operations that hand an address to the kernel (`connect`, `sendmsg`, `bind`) or
//! receive one (`accept`, `recvmsg`) keep it in a `SockAddr`, boxed inside the
//! operation so that its address stays put while the kernel holds it.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// A socket address as the kernel reads and writes it.
#[derive(Clone, Copy)]
pub(crate) struct SockAddr {
    storage: libc::sockaddr_storage,
    len: libc::socklen_t,
}

const STORAGE_LEN: libc::socklen_t = std::mem::size_of::<libc::sockaddr_storage>() as _;

impl SockAddr {
    /// An empty address with room for any family, for the kernel to fill in.
    pub(crate) fn empty() -> SockAddr {
        SockAddr {
            storage: zeroed_storage(),
            len: STORAGE_LEN,
        }
    }

    /// The kernel form of an IPv4 or IPv6 address.
    pub(crate) fn from_std(addr: &SocketAddr) -> SockAddr {
        let mut storage = zeroed_storage();
        let len = match addr {
            SocketAddr::V4(v4) => {
                let sin = libc::sockaddr_in {
                    sin_family: libc::AF_INET as libc::sa_family_t,
                    sin_port: v4.port().to_be(),
                    sin_addr: libc::in_addr {
                        s_addr: u32::from_ne_bytes(v4.ip().octets()),
                    },
                    sin_zero: [0; 8],
                };
                write_into(&mut storage, sin)
            }
            SocketAddr::V6(v6) => {
                let sin6 = libc::sockaddr_in6 {
                    sin6_family: libc::AF_INET6 as libc::sa_family_t,
                    sin6_port: v6.port().to_be(),
                    sin6_flowinfo: v6.flowinfo(),
                    sin6_addr: libc::in6_addr {
                        s6_addr: v6.ip().octets(),
                    },
                    sin6_scope_id: v6.scope_id(),
                };
                write_into(&mut storage, sin6)
            }
        };
        SockAddr { storage, len }
    }

    /// The kernel form of a Unix socket path. A path starting with a NUL byte names
    /// an address in Linux's abstract namespace.
    pub(crate) fn unix(path: &Path) -> io::Result<SockAddr> {
        let bytes = path.as_os_str().as_bytes();
        let mut sun = libc::sockaddr_un {
            sun_family: libc::AF_UNIX as libc::sa_family_t,
            sun_path: [0; 108],
        };
        let abstract_name = bytes.first() == Some(&0);
        // A pathname needs room for its terminating NUL; an abstract name does not.
        let room = if abstract_name { 108 } else { 107 };
        if bytes.is_empty() || bytes.len() > room {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "a Unix socket path must have 1 to {room} bytes, not {}",
                    bytes.len()
                ),
            ));
        }
        if !abstract_name && bytes.contains(&0) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a Unix socket path cannot contain a NUL byte",
            ));
        }
        for (dst, src) in sun.sun_path.iter_mut().zip(bytes) {
            *dst = *src as libc::c_char;
        }
        let path_offset = std::mem::size_of::<libc::sa_family_t>();
        let terminator = usize::from(!abstract_name);
        let mut storage = zeroed_storage();
        write_into(&mut storage, sun);
        Ok(SockAddr {
            storage,
            len: (path_offset + bytes.len() + terminator) as libc::socklen_t,
        })
    }

    /// The address family (`AF_INET`, `AF_INET6`, `AF_UNIX`, or 0 when empty).
    pub(crate) fn family(&self) -> i32 {
        i32::from(self.storage.ss_family)
    }

    /// Pointer for the kernel to read the address from.
    pub(crate) fn as_ptr(&self) -> *const libc::sockaddr {
        (&self.storage as *const libc::sockaddr_storage).cast()
    }

    /// Pointer for the kernel to write an address into (`capacity()` bytes).
    pub(crate) fn as_mut_ptr(&mut self) -> *mut libc::sockaddr {
        (&mut self.storage as *mut libc::sockaddr_storage).cast()
    }

    /// The length the kernel reads, or (before a call that fills it) the room it may
    /// write; the kernel updates it through [`len_mut`](Self::len_mut).
    pub(crate) fn len(&self) -> libc::socklen_t {
        self.len
    }

    /// The length field, for calls that report the address's true length.
    pub(crate) fn len_mut(&mut self) -> &mut libc::socklen_t {
        &mut self.len
    }

    /// Sets the length the kernel reported (`recvmsg`'s `msg_namelen`).
    pub(crate) fn set_len(&mut self, len: libc::socklen_t) {
        self.len = len.min(STORAGE_LEN);
    }

    /// The room for an address the kernel writes.
    pub(crate) fn capacity() -> libc::socklen_t {
        STORAGE_LEN
    }

    /// The IPv4 or IPv6 address, if this is one.
    pub(crate) fn ip(&self) -> Option<SocketAddr> {
        match self.family() {
            libc::AF_INET if self.len as usize >= std::mem::size_of::<libc::sockaddr_in>() => {
                let sin: libc::sockaddr_in = read_from(&self.storage);
                let ip = Ipv4Addr::from(sin.sin_addr.s_addr.to_ne_bytes());
                Some(SocketAddr::V4(SocketAddrV4::new(
                    ip,
                    u16::from_be(sin.sin_port),
                )))
            }
            libc::AF_INET6 if self.len as usize >= std::mem::size_of::<libc::sockaddr_in6>() => {
                let sin6: libc::sockaddr_in6 = read_from(&self.storage);
                Some(SocketAddr::V6(SocketAddrV6::new(
                    Ipv6Addr::from(sin6.sin6_addr.s6_addr),
                    u16::from_be(sin6.sin6_port),
                    sin6.sin6_flowinfo,
                    sin6.sin6_scope_id,
                )))
            }
            _ => None,
        }
    }

    /// [`ip`](Self::ip), or an error naming what came instead.
    pub(crate) fn ip_or_err(&self) -> io::Result<SocketAddr> {
        self.ip().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("not an IP socket address (family {})", self.family()),
            )
        })
    }
}

impl std::fmt::Debug for SockAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.ip() {
            Some(addr) => write!(f, "SockAddr({addr})"),
            None => write!(f, "SockAddr(family {}, {} bytes)", self.family(), self.len),
        }
    }
}

fn zeroed_storage() -> libc::sockaddr_storage {
    // `sockaddr_storage` has private padding fields, so it cannot be written as a
    // literal; it is plain old data, for which all-zero bytes are valid.
    // SAFETY: every bit pattern, zero included, is a valid `sockaddr_storage`.
    unsafe { std::mem::zeroed() }
}

/// Writes a concrete `sockaddr_*` at the start of `storage`; returns its length.
fn write_into<T: Copy>(storage: &mut libc::sockaddr_storage, value: T) -> libc::socklen_t {
    const { assert!(std::mem::size_of::<T>() <= std::mem::size_of::<libc::sockaddr_storage>()) };
    // SAFETY: `sockaddr_storage` is larger than and aligned at least as strictly as
    // every `sockaddr_*` type (checked above for size; POSIX guarantees alignment),
    // and both are plain old data.
    unsafe { std::ptr::write((storage as *mut libc::sockaddr_storage).cast::<T>(), value) };
    std::mem::size_of::<T>() as libc::socklen_t
}

/// Reads a concrete `sockaddr_*` from the start of `storage`.
fn read_from<T: Copy>(storage: &libc::sockaddr_storage) -> T {
    const { assert!(std::mem::size_of::<T>() <= std::mem::size_of::<libc::sockaddr_storage>()) };
    // SAFETY: as in `write_into`; any bytes are a valid value of these POD types.
    unsafe { std::ptr::read((storage as *const libc::sockaddr_storage).cast::<T>()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_addresses_round_trip() {
        for text in ["127.0.0.1:8888", "[::1]:443", "[fe80::1%2]:80", "0.0.0.0:0"] {
            let addr: SocketAddr = text.parse().unwrap();
            let sa = SockAddr::from_std(&addr);
            assert_eq!(sa.ip(), Some(addr), "{text}");
        }
    }

    #[test]
    fn unix_paths_are_checked() {
        let sa = SockAddr::unix(Path::new("/tmp/x.sock")).unwrap();
        assert_eq!(sa.family(), libc::AF_UNIX);
        assert_eq!(sa.len() as usize, 2 + "/tmp/x.sock".len() + 1);
        assert!(SockAddr::unix(Path::new("")).is_err());
        assert!(SockAddr::unix(Path::new(&"a".repeat(108))).is_err());
        assert!(SockAddr::unix(Path::new("a\0b")).is_err());
        let abstract_name = SockAddr::unix(Path::new("\0name")).unwrap();
        assert_eq!(abstract_name.len() as usize, 2 + 5);
        assert_eq!(SockAddr::empty().ip(), None);
    }
}
