//! [`open_connection`] and [`open_unix_connection`].

use std::io;
use std::path::Path;

use super::{StreamReader, StreamWriter};
use crate::net::addr::ToSocketAddrs;
use crate::net::{TcpStream, UnixStream};

/// Connects to `addr` and returns the connection's reader and writer, like
/// asyncio's `open_connection`. Each address `addr` resolves to is tried in turn;
/// the socket gets `TCP_NODELAY`, as in asyncio.
///
/// Cancel-safe: a dropped call closes its socket.
///
/// ```no_run
/// # ringloop::run(async {
/// let (mut reader, writer) = ringloop::net::open_connection("127.0.0.1:8888").await?;
/// writer.write(b"Hello World!")?;
/// writer.drain().await?;
/// let reply = reader.read(100).await?;
/// writer.close();
/// writer.wait_closed().await?;
/// # Ok::<(), std::io::Error>(())
/// # });
/// ```
pub async fn open_connection(addr: impl ToSocketAddrs) -> io::Result<(StreamReader, StreamWriter)> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    Ok(stream.into_streams())
}

/// Connects to the Unix socket at `path` (asyncio's `open_unix_connection`).
///
/// Cancel-safe.
pub async fn open_unix_connection(
    path: impl AsRef<Path>,
) -> io::Result<(StreamReader, StreamWriter)> {
    Ok(UnixStream::connect(path).await?.into_streams())
}
