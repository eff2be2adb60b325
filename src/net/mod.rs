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
//!
//! # Stopping a server, and restarting it on the same address
//!
//! On io_uring, the kernel holds a listening socket for as long as an accept on
//! it is in the ring, and a ring that is still open when its process exits is torn
//! down by the kernel in the background, after the process is gone. So a server
//! killed by a signal it does not handle (the default action of `SIGTERM` and
//! `SIGINT`, and always `SIGKILL`) may leave its address bound for a few more
//! milliseconds (10-20 ms here), and a replacement started at once fails with
//! `EADDRINUSE` (`AddrInUse`). A server stopped in an orderly way does not: handle
//! the signals ([`signal`](crate::signal)), close the listeners ([`Server::close`],
//! or drop the [`TcpListener`]), and return from [`run`](crate::run) (or drop the
//! [`Runtime`](crate::Runtime)), which finishes every operation and closes the
//! ring before the process exits; dropping a listener frees its address at once.
//! The example servers (`examples/echo_server.rs`, `examples/chat.rs`) stop this
//! way. For a server that may be killed hard, a restart should retry the bind on
//! `AddrInUse` for a moment. (epoll holds no socket for the process: its sockets
//! close with the process.)
//!
//! ```no_run
//! use ringloop::net::start_server;
//! use ringloop::signal::{signal, SignalKind};
//! ringloop::run(async {
//!     // Listening first, so that a SIGTERM as soon as the server is up is handled.
//!     let mut terminate = signal(SignalKind::terminate())?;
//!     let server = start_server(|_reader, _writer| async {}, "127.0.0.1:8888").await?;
//!     terminate.recv().await;
//!     server.close();
//!     std::io::Result::Ok(())
//! })?; // the runtime is gone: the address is free
//! # std::io::Result::Ok(())
//! ```

pub(crate) mod addr;
#[cfg(any(feature = "tokio-io", feature = "futures-io", feature = "hyper"))]
pub(crate) mod ready;
pub(crate) mod socket;
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

/// The readiness state the compat traits keep in a stream (`ready.rs`).
#[cfg(any(feature = "tokio-io", feature = "futures-io", feature = "hyper"))]
pub(crate) use ready::IoState;

/// Without a compat feature, streams keep no compat state.
#[cfg(not(any(feature = "tokio-io", feature = "futures-io", feature = "hyper")))]
#[derive(Debug)]
pub(crate) struct IoState;

#[cfg(not(any(feature = "tokio-io", feature = "futures-io", feature = "hyper")))]
impl IoState {
    /// The empty state.
    pub(crate) fn new() -> IoState {
        IoState
    }
}
