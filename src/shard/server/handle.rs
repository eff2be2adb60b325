//! [`ShardedServer`], the `Send + Sync` handle to a server running on every
//! shard, and [`Owner`], which closes the server when the last clone goes. Its
//! queries read the [`Shared`] counters; `close` and `abort_clients` reach every
//! shard's part through `Shared::on_every_part`.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::Ordering::SeqCst;
use std::sync::Arc;

use super::part::Shared;
use super::Distribution;

#[cfg(doc)]
use super::start_server_sharded;

/// Closes the server when the last clone of a [`ShardedServer`] goes.
pub(super) struct Owner(pub(super) Arc<Shared>);

impl Drop for Owner {
    fn drop(&mut self) {
        self.0.close();
    }
}

/// A server running on every shard (see [`start_server_sharded`]).
///
/// A `Send + Sync` handle: clone it to other shards or threads; every method works
/// from anywhere. Dropping the last clone closes the server, as
/// [`close`](Self::close) does (connections being served go on).
///
/// ```
/// # use ringloop::net::{StreamReader, StreamWriter};
/// # async fn echo(mut reader: StreamReader, writer: StreamWriter) {
/// #     while let Ok(data) = reader.read(1024).await {
/// #         if data.is_empty() || writer.write(&data).is_err() { break; }
/// #     }
/// # }
/// use ringloop::shard::{run_sharded, start_server_sharded, ShardedServerOptions};
///
/// run_sharded(2, |shard| async move {
///     if shard == 0 {
///         let server = start_server_sharded(echo, "127.0.0.1:0", ShardedServerOptions::new())
///             .await
///             .unwrap();
///         assert!(server.is_serving());
///         assert_eq!(server.connections(), [0, 0]);
///         server.close();
///         server.wait_closed().await;
///     }
/// });
/// ```
#[derive(Clone)]
pub struct ShardedServer {
    pub(super) owner: Arc<Owner>,
}

impl ShardedServer {
    fn shared(&self) -> &Shared {
        &self.owner.0
    }

    /// The first address the server listens on (with the port the kernel chose
    /// for port 0); `Unsupported` for a Unix socket server.
    ///
    /// ```
    /// # use ringloop::net::{StreamReader, StreamWriter};
    /// # async fn echo(_: StreamReader, _: StreamWriter) {}
    /// # use ringloop::shard::{run_sharded, start_server_sharded, ShardedServerOptions};
    /// run_sharded(2, |shard| async move {
    ///     if shard == 0 {
    ///         let server = start_server_sharded(echo, "127.0.0.1:0", ShardedServerOptions::new())
    ///             .await
    ///             .unwrap();
    ///         assert_ne!(server.local_addr().unwrap().port(), 0);
    ///     }
    /// });
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.shared().addrs.first().copied().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::Unsupported,
                "a Unix socket server has no IP address",
            )
        })
    }

    /// Every address the server listens on (empty for a Unix socket server).
    ///
    /// ```
    /// # use ringloop::net::{StreamReader, StreamWriter};
    /// # async fn echo(_: StreamReader, _: StreamWriter) {}
    /// # use ringloop::shard::{run_sharded, start_server_sharded, ShardedServerOptions};
    /// run_sharded(2, |shard| async move {
    ///     if shard == 0 {
    ///         let server = start_server_sharded(echo, "127.0.0.1:0", ShardedServerOptions::new())
    ///             .await
    ///             .unwrap();
    ///         assert_eq!(server.local_addrs(), [server.local_addr().unwrap()]);
    ///     }
    /// });
    /// ```
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.shared().addrs.clone()
    }

    /// The path of a Unix socket server.
    ///
    /// ```
    /// # use ringloop::net::{StreamReader, StreamWriter};
    /// # async fn echo(_: StreamReader, _: StreamWriter) {}
    /// # use ringloop::shard::{run_sharded, start_server_sharded, ShardedServerOptions};
    /// run_sharded(2, |shard| async move {
    ///     if shard == 0 {
    ///         let server = start_server_sharded(echo, "127.0.0.1:0", ShardedServerOptions::new())
    ///             .await
    ///             .unwrap();
    ///         assert!(server.unix_path().is_none());
    ///     }
    /// });
    /// ```
    pub fn unix_path(&self) -> Option<&Path> {
        self.shared().unix_path.as_deref()
    }

    /// How the server spreads its connections.
    ///
    /// ```
    /// # use ringloop::net::{StreamReader, StreamWriter};
    /// # async fn echo(_: StreamReader, _: StreamWriter) {}
    /// use ringloop::shard::{run_sharded, start_server_sharded, Distribution, ShardedServerOptions};
    /// run_sharded(2, |shard| async move {
    ///     if shard == 0 {
    ///         let server = start_server_sharded(echo, "127.0.0.1:0", ShardedServerOptions::new())
    ///             .await
    ///             .unwrap();
    ///         assert_eq!(server.distribution(), Distribution::ReusePort);
    ///     }
    /// });
    /// ```
    pub fn distribution(&self) -> Distribution {
        self.shared().distribution
    }

    /// Live connections per shard, in shard order (connections whose task runs).
    ///
    /// ```
    /// # use ringloop::net::{StreamReader, StreamWriter};
    /// # async fn echo(mut reader: StreamReader, writer: StreamWriter) {
    /// #     while let Ok(data) = reader.read(1024).await {
    /// #         if data.is_empty() || writer.write(&data).is_err() { break; }
    /// #     }
    /// # }
    /// use ringloop::net::open_connection;
    /// use ringloop::shard::{run_sharded, start_server_sharded, ShardedServerOptions};
    /// run_sharded(2, |shard| async move {
    ///     if shard == 0 {
    ///         let server = start_server_sharded(echo, "127.0.0.1:0", ShardedServerOptions::new())
    ///             .await
    ///             .unwrap();
    ///         let (mut reader, writer) = open_connection(server.local_addr().unwrap()).await.unwrap();
    ///         writer.write(b"x").unwrap();
    ///         reader.readexactly(1).await.unwrap(); // it is being served
    ///         assert_eq!(server.connections().iter().sum::<usize>(), 1);
    ///     }
    /// });
    /// ```
    pub fn connections(&self) -> Vec<usize> {
        self.shared()
            .connections
            .iter()
            .map(|c| c.load(SeqCst))
            .collect()
    }

    /// Connections served per shard since the start, in shard order.
    ///
    /// ```
    /// # use ringloop::net::{StreamReader, StreamWriter};
    /// # async fn echo(_: StreamReader, _: StreamWriter) {}
    /// # use ringloop::shard::{run_sharded, start_server_sharded, ShardedServerOptions};
    /// run_sharded(2, |shard| async move {
    ///     if shard == 0 {
    ///         let server = start_server_sharded(echo, "127.0.0.1:0", ShardedServerOptions::new())
    ///             .await
    ///             .unwrap();
    ///         assert_eq!(server.accepted(), [0, 0]);
    ///     }
    /// });
    /// ```
    pub fn accepted(&self) -> Vec<u64> {
        self.shared()
            .accepted
            .iter()
            .map(|c| c.load(SeqCst))
            .collect()
    }

    /// Whether the server accepts connections: not [closed](Self::close), and
    /// some shard's listener still open (a stop closes them all).
    ///
    /// ```
    /// # use ringloop::net::{StreamReader, StreamWriter};
    /// # async fn echo(_: StreamReader, _: StreamWriter) {}
    /// # use ringloop::shard::{run_sharded, start_server_sharded, ShardedServerOptions};
    /// run_sharded(2, |shard| async move {
    ///     if shard == 0 {
    ///         let server = start_server_sharded(echo, "127.0.0.1:0", ShardedServerOptions::new())
    ///             .await
    ///             .unwrap();
    ///         assert!(server.is_serving());
    ///         server.close();
    ///         assert!(!server.is_serving());
    ///     }
    /// });
    /// ```
    pub fn is_serving(&self) -> bool {
        let shared = self.shared();
        !shared.closed.load(SeqCst) && shared.accepting.load(SeqCst) > 0
    }

    /// Stops accepting on every shard (this shard's listeners at once, the others'
    /// at their next turn) and closes the listening sockets; connections being
    /// served go on (see [`abort_clients`](Self::abort_clients)). A connection
    /// the acceptor has accepted already is still handed off and served. Never
    /// waits; a second call does nothing.
    ///
    /// ```
    /// # use ringloop::net::{StreamReader, StreamWriter};
    /// # async fn echo(_: StreamReader, _: StreamWriter) {}
    /// # use ringloop::shard::{run_sharded, start_server_sharded, ShardedServerOptions};
    /// run_sharded(2, |shard| async move {
    ///     if shard == 0 {
    ///         let server = start_server_sharded(echo, "127.0.0.1:0", ShardedServerOptions::new())
    ///             .await
    ///             .unwrap();
    ///         server.close();
    ///         server.close();
    ///         server.wait_closed().await;
    ///     }
    /// });
    /// ```
    pub fn close(&self) {
        self.shared().close();
    }

    /// Closes every connection on every shard at once, like asyncio's
    /// `abort_clients`: each writer is aborted (what it buffered is dropped, the
    /// connection shut down both ways) and each connection task is cancelled (on
    /// this shard at once, on the others at their next turn). Connections
    /// accepted afterwards (the server is not closed by this) are served.
    ///
    /// ```
    /// # use ringloop::net::{StreamReader, StreamWriter};
    /// # async fn echo(mut reader: StreamReader, writer: StreamWriter) {
    /// #     while let Ok(data) = reader.read(1024).await {
    /// #         if data.is_empty() || writer.write(&data).is_err() { break; }
    /// #     }
    /// # }
    /// use ringloop::net::open_connection;
    /// use ringloop::shard::{run_sharded, start_server_sharded, ShardedServerOptions};
    /// run_sharded(2, |shard| async move {
    ///     if shard == 0 {
    ///         let server = start_server_sharded(echo, "127.0.0.1:0", ShardedServerOptions::new())
    ///             .await
    ///             .unwrap();
    ///         let (mut reader, writer) = open_connection(server.local_addr().unwrap()).await.unwrap();
    ///         writer.write(b"x").unwrap();
    ///         reader.readexactly(1).await.unwrap();
    ///         server.close();
    ///         server.abort_clients();
    ///         server.wait_closed().await; // the client is still connected, but aborted
    ///         assert_eq!(reader.read(10).await.unwrap_or_default(), b"");
    ///     }
    /// });
    /// ```
    pub fn abort_clients(&self) {
        self.shared().on_every_part(|part| part.abort_clients());
    }

    /// Waits until the server is closed on every shard (by [`close`](Self::close),
    /// a stop, or the end of the shards) and every connection task has finished,
    /// those of connections being handed off included (asyncio 3.12's
    /// `wait_closed`). Works on any runtime.
    ///
    /// Cancel-safe: it only waits.
    ///
    /// ```
    /// # use ringloop::net::{StreamReader, StreamWriter};
    /// # async fn echo(_: StreamReader, _: StreamWriter) {}
    /// # use ringloop::shard::{run_sharded, start_server_sharded, ShardedServerOptions};
    /// run_sharded(2, |shard| async move {
    ///     if shard == 0 {
    ///         let server = start_server_sharded(echo, "127.0.0.1:0", ShardedServerOptions::new())
    ///             .await
    ///             .unwrap();
    ///         server.close();
    ///         server.wait_closed().await;
    ///         assert_eq!(server.connections(), [0, 0]);
    ///     }
    /// });
    /// ```
    pub async fn wait_closed(&self) {
        self.shared().done.wait().await;
    }
}

impl fmt::Debug for ShardedServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shared = self.shared();
        f.debug_struct("ShardedServer")
            .field("addrs", &shared.addrs)
            .field("unix_path", &shared.unix_path)
            .field("distribution", &shared.distribution)
            .field("connections", &self.connections())
            .field("serving", &self.is_serving())
            .finish()
    }
}
