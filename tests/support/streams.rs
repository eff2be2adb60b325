//! Helpers for the stream tests (`tests/streams_*.rs`): connected pairs with a raw
//! peer, waiting for bytes to reach a reader's buffer, resets, and byte patterns.

use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::time::{Duration, Instant};

use futures_core::Stream;
use nix::sys::socket::{setsockopt, sockopt};
use ringloop::net::{StreamReader, StreamWriter, TcpListener, TcpStream, UnixStream};

/// Generous bound for anything that should happen "soon" on a loaded machine.
pub const SOON: Duration = Duration::from_secs(10);

/// Which kind of connection a test runs over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Tcp,
    Unix,
}

impl Kind {
    pub const ALL: [Kind; 2] = [Kind::Tcp, Kind::Unix];
}

/// The raw end of a connection, written to with owned-buffer ops.
#[derive(Debug)]
pub enum Peer {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Peer {
    /// Writes all of `data`.
    pub async fn send(&self, data: &[u8]) {
        let result = match self {
            Peer::Tcp(s) => s.write_all(data.to_vec()).await.0,
            Peer::Unix(s) => s.write_all(data.to_vec()).await.0,
        };
        result.expect("the peer's write");
    }

    /// Writes all of `buf`, giving it back (to reuse one buffer).
    pub async fn send_buf(&self, buf: Vec<u8>) -> Vec<u8> {
        let (result, buf) = match self {
            Peer::Tcp(s) => s.write_all(buf).await,
            Peer::Unix(s) => s.write_all(buf).await,
        };
        result.expect("the peer's write");
        buf
    }

    /// Reads once into a fresh buffer of `cap` bytes; empty at the end of stream.
    pub async fn recv(&self, cap: usize) -> io::Result<Vec<u8>> {
        let (n, mut buf) = match self {
            Peer::Tcp(s) => s.read(Vec::with_capacity(cap)).await,
            Peer::Unix(s) => s.read(Vec::with_capacity(cap)).await,
        };
        buf.truncate(n?);
        Ok(buf)
    }

    /// Reads until the end of the stream.
    pub async fn recv_to_end(&self) -> io::Result<Vec<u8>> {
        let mut all = Vec::new();
        loop {
            let chunk = self.recv(64 * 1024).await?;
            if chunk.is_empty() {
                return Ok(all);
            }
            all.extend_from_slice(&chunk);
        }
    }

    /// Shuts down the writing half: the other end reads the end of the stream.
    pub fn shutdown_write(&self) {
        let result = match self {
            Peer::Tcp(s) => s.shutdown(std::net::Shutdown::Write),
            Peer::Unix(s) => s.shutdown(std::net::Shutdown::Write),
        };
        result.expect("shutdown");
    }
}

/// A TCP connection over loopback: (the connecting end, the accepted end).
pub async fn tcp_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (client, accepted) = ringloop::gather!(TcpStream::connect(addr), listener.accept()).await;
    (client.unwrap(), accepted.unwrap().0)
}

/// A connection of `kind`: a raw peer, and the reader and writer of the other end.
pub async fn stream_pair(kind: Kind) -> (Peer, StreamReader, StreamWriter) {
    match kind {
        Kind::Tcp => {
            let (a, b) = tcp_pair().await;
            let (reader, writer) = b.into_streams();
            (Peer::Tcp(a), reader, writer)
        }
        Kind::Unix => {
            let (a, b) = UnixStream::pair().unwrap();
            let (reader, writer) = b.into_streams();
            (Peer::Unix(a), reader, writer)
        }
    }
}

/// Two connected stream ends of `kind`: ((reader, writer), (reader, writer)).
pub async fn streams_pair(
    kind: Kind,
) -> ((StreamReader, StreamWriter), (StreamReader, StreamWriter)) {
    match kind {
        Kind::Tcp => {
            let (a, b) = tcp_pair().await;
            (a.into_streams(), b.into_streams())
        }
        Kind::Unix => {
            let (a, b) = UnixStream::pair().unwrap();
            (a.into_streams(), b.into_streams())
        }
    }
}

/// A TCP connection whose first end resets it (RST) when dropped: `SO_LINGER` with
/// a zero timeout. Returns (the resetting end, the other end).
pub async fn resetting_tcp_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    // A blocking connect completes in the kernel's backlog, before the accept.
    let std_stream = std::net::TcpStream::connect(addr).unwrap();
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    setsockopt(&std_stream, sockopt::Linger, &linger).unwrap();
    let resetting = TcpStream::from_std(std_stream).unwrap();
    let (accepted, _) = listener.accept().await.unwrap();
    (resetting, accepted)
}

/// Receives until at least `n` bytes are buffered in `reader`, consuming nothing
/// (cancelled `readexactly(usize::MAX)` calls, which only fill the buffer). The
/// stream must not end meanwhile. Panics after [`SOON`].
pub async fn fill(reader: &mut StreamReader, n: usize) {
    let deadline = Instant::now() + SOON;
    while reader.buffered() < n {
        assert!(
            Instant::now() < deadline,
            "only {} of {n} bytes arrived",
            reader.buffered()
        );
        let r = ringloop::wait_for(Duration::from_millis(5), reader.readexactly(usize::MAX)).await;
        if let Ok(done) = r {
            panic!("the stream ended before {n} bytes were buffered: {done:?}");
        }
    }
}

/// The next item of a stream.
pub async fn next<S: Stream + Unpin>(stream: &mut S) -> Option<S::Item> {
    poll_fn(|cx| Pin::new(&mut *stream).poll_next(cx)).await
}

/// `len` bytes of a pattern that shows misplaced bytes: a counter, as text-free bytes.
pub fn pattern(len: usize, salt: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add((i >> 8) as u8) ^ salt)
        .collect()
}

/// The raw OS error of `e`, for messages.
pub fn errno(e: &io::Error) -> Option<i32> {
    e.raw_os_error()
}

/// Whether `e` says the peer reset or went away (what a send to a reset TCP
/// connection gives).
pub fn is_reset(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ECONNRESET | libc::EPIPE))
}
