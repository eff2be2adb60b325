//! asyncio's streams: [`StreamReader`] and [`StreamWriter`] over a connection,
//! [`open_connection`], and servers ([`start_server`], [`Server`]).
//!
//! * `reader.rs`: the buffered reader, one receive kept in flight inside it;
//!   `receive.rs`: how it receives, and how much (its flow control and bound);
//!   `feed.rs`: what the program feeds it instead.
//! * `writer.rs` and `flusher.rs`: the buffered writer and the task that sends
//!   its buffer, with asyncio's high/low water marks.
//! * `server.rs`: accept loops and connection tasks (its binding, stopping and
//!   stale-socket helpers serve the sharded servers of `shard/server/` too).
//! * `transport.rs`: what they read from and write to.

mod connect;
mod error;
mod feed;
mod flusher;
mod reader;
mod receive;
mod server;
#[cfg(test)]
mod tests;
mod transport;
mod writer;

pub use connect::{open_connection, open_unix_connection};
pub use error::{IncompleteReadError, ReadUntilError};
pub use feed::StreamFeeder;
pub use reader::{Lines, StreamReader, DEFAULT_LIMIT};
pub(crate) use server::{
    bind_resolved, remove_stale_socket, stop_accepting, BACKOFF_MAX, BACKOFF_MIN,
};
pub use server::{start_server, start_unix_server, Server};
pub use writer::{StreamWriter, DEFAULT_HIGH_WATER};

use crate::driver::fd::SharedFd;
use crate::net::socket::Socket;
use transport::Transport;

/// The reader and writer of a connected stream socket.
pub(crate) fn split(socket: Socket) -> (StreamReader, StreamWriter) {
    let transport = Transport::socket(socket);
    (
        StreamReader::from_transport(transport.clone()),
        StreamWriter::new(transport),
    )
}

/// A reader of the read end of a pipe (non-blocking).
pub(crate) fn pipe_reader(fd: SharedFd) -> StreamReader {
    StreamReader::from_transport(Transport::pipe(fd))
}

/// A writer of the write end of a pipe (non-blocking).
pub(crate) fn pipe_writer(fd: SharedFd) -> StreamWriter {
    StreamWriter::new(Transport::pipe(fd))
}
