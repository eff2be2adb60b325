//! Helpers for the stream tests (`tests/streams_*.rs`): connected pairs with a raw
//! peer, waiting for bytes to reach a reader's buffer, and errors.

use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

use ringloop::net::{ReadUntilError, StreamReader, StreamWriter, TcpStream, UnixStream};

use super::net::tcp_pair;
use super::step;

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

/// Receives until at least `n` bytes are buffered in `reader`, consuming nothing
/// (cancelled `readexactly(usize::MAX)` calls, which only fill the buffer). The
/// stream must not end meanwhile. Panics after [`step`].
pub async fn fill(reader: &mut StreamReader, n: usize) {
    let deadline = Instant::now() + step();
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

/// What a `readuntil` that overran its limit consumed; panics on any other result.
#[track_caller]
pub fn overrun(r: Result<Vec<u8>, ReadUntilError>) -> usize {
    match r {
        Err(ReadUntilError::LimitOverrun { consumed }) => consumed,
        other => panic!("expected LimitOverrun, got {other:?}"),
    }
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

/// The peer's end of a connection as a blocking std socket, for a thread.
pub enum StdPeer {
    Tcp(std::net::TcpStream),
    Unix(std::os::unix::net::UnixStream),
}

impl Read for StdPeer {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            StdPeer::Tcp(s) => s.read(buf),
            StdPeer::Unix(s) => s.read(buf),
        }
    }
}

impl Write for StdPeer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            StdPeer::Tcp(s) => s.write(buf),
            StdPeer::Unix(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A connection of `kind` between the runtime's streams and a blocking std
/// peer (TCP over loopback with `TCP_NODELAY` on both ends, or a Unix pair).
pub fn std_connection(kind: Kind) -> (StreamReader, StreamWriter, StdPeer) {
    match kind {
        Kind::Tcp => {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let ours = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
            let (peer, _) = listener.accept().unwrap();
            ours.set_nodelay(true).unwrap();
            peer.set_nodelay(true).unwrap();
            let (reader, writer) = TcpStream::from_std(ours).unwrap().into_streams();
            (reader, writer, StdPeer::Tcp(peer))
        }
        Kind::Unix => {
            let (ours, peer) = std::os::unix::net::UnixStream::pair().unwrap();
            let (reader, writer) = UnixStream::from_std(ours).unwrap().into_streams();
            (reader, writer, StdPeer::Unix(peer))
        }
    }
}
