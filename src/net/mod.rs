//! Networking: sockets with owned-buffer operations, and asyncio's streams.
//!
//! | asyncio | ringloop |
//! |---|---|
//! | `asyncio.open_connection(host, port)` | [`open_connection`]`(addr)` → `(StreamReader, StreamWriter)` |
//! | `asyncio.start_server(cb, host, port)` | [`start_server`]`(cb, addr)` → [`Server`] |
//! | `open_unix_connection`, `start_unix_server` | [`open_unix_connection`], [`start_unix_server`] |
//! | `StreamReader.read/readline/readexactly/readuntil` | [`StreamReader`] (`readuntil((a, b))`: [`StreamReader::readuntil_any`]) |
//! | `StreamReader()`, `feed_data/feed_eof/set_exception/exception` | [`StreamReader::new`], [`StreamFeeder`] |
//! | `StreamWriter.write/drain/write_eof/close/wait_closed` | [`StreamWriter`] |
//! | `loop.sock_*`, raw sockets | [`TcpListener`], [`TcpStream`], [`UdpSocket`], [`UnixListener`], [`UnixStream`] |
//!
//! The socket types hand buffers to the kernel by value and get them back with the
//! result ([`BufResult`](crate::buf::BufResult)): with io_uring the kernel fills or
//! drains a buffer after the call is submitted, so an operation owns its buffer
//! until the kernel is done, even when its future is dropped. Reads and accepts
//! are cancel-safe: what the kernel already delivered to a dropped operation goes
//! to the next one.
//!
//! ```
//! use ringloop::net::{open_connection, start_server};
//! # ringloop::run(async {
//! // An echo server, and one round trip through it.
//! let server = start_server(
//!     |mut reader, writer| async move {
//!         let line = reader.readline().await.unwrap_or_default();
//!         let _ = writer.write(&line);
//!     },
//!     "127.0.0.1:0",
//! )
//! .await
//! .unwrap();
//! let (mut reader, writer) = open_connection(server.local_addr().unwrap()).await.unwrap();
//! writer.write(b"ping\n").unwrap();
//! assert_eq!(reader.readline().await.unwrap(), b"ping\n");
//! # });
//! ```

mod addr;
mod socket;
pub(crate) mod streams;
mod tcp;
mod udp;
mod unix;

pub use addr::ToSocketAddrs;
pub use std::net::Shutdown;
pub use streams::{
    open_connection, open_unix_connection, start_server, start_unix_server, IncompleteReadError,
    Lines, ReadUntilError, Server, StreamFeeder, StreamReader, StreamWriter, DEFAULT_HIGH_WATER,
    DEFAULT_LIMIT,
};
pub use tcp::{ListenOptions, TcpListener, TcpStream};
pub use udp::UdpSocket;
pub use unix::{UnixListener, UnixStream};
