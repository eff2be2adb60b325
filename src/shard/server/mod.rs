//! Sharded servers: [`start_server_sharded`], [`start_unix_server_sharded`] and the
//! [`ShardedServer`] they return.
//!
//! Each shard runs a *part* of the server: its connections' tasks, and, depending
//! on the [`Distribution`], a listener of its own.
//!
//! ```text
//!   ReusePort                              Acceptor(balance)
//!   ─────────                              ─────────────────
//!   shard i: listener i (SO_REUSEPORT) ─┐   calling shard: the one listener
//!            accept ─▶ client task i    │     accept ─▶ choose a shard t (balance)
//!   (the kernel picks the listener)     │       t == here: client task here
//!                                       │       else hand-off task: call shard t
//!                                       │         with the connection in a slot;
//!                                       │         t's part takes it ─▶ client task t;
//!                                       │         slot still full (t stopped, or
//!                                       │         has no part): next shard, ...,
//!                                       │         here at last (never dropped)
//! ```
//!
//! The parts live on their shards (their tasks hold them; a thread-local registry
//! finds them by server id for hand-offs and control calls) and share one
//! [`Shared`]: the counters every thread reads, and the `done` event that
//! [`ShardedServer::wait_closed`] awaits. `busy` counts connections from their
//! accept to the end of their task (a connection being handed off included), and
//! `accepting` the parts whose listeners are open: when both are zero nothing can
//! arrive any more and everything accepted is finished, so `done` is set for good.
//!
//! | file | what |
//! |---|---|
//! | `mod.rs` | the two start functions: bind, set up every shard's part (`install`) |
//! | `options.rs` | [`Balance`], [`Distribution`], [`ShardedServerOptions`] |
//! | `part.rs` | [`Shared`], the per-shard `Part` and its registry, client tasks, counters |
//! | `accept.rs` | the accept loops and the acceptor's hand-off to another shard |
//! | `handle.rs` | [`ShardedServer`] (and the `Owner` that closes it when dropped) |

mod accept;
mod handle;
mod options;
mod part;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;

use self::accept::{accept_loop, Listener};
use self::handle::Owner;
pub use self::handle::ShardedServer;
pub use self::options::{Balance, Distribution, ShardedServerOptions};
use self::part::{Part, Shared, NEXT_SERVER_ID};
use crate::driver::sockaddr::SockAddr;
use crate::net::addr::ToSocketAddrs;
use crate::net::socket::Socket;
use crate::net::streams::{bind_resolved, remove_stale_socket};
use crate::net::{ListenOptions, StreamReader, StreamWriter, TcpListener};
use crate::sync::threadsafe;

/// Binds one listener per address of `bind`, with its options (the shards after
/// the first, in `ReusePort` mode); none for `None`.
fn bind_all(bind: Option<(Vec<SocketAddr>, ListenOptions)>) -> io::Result<Vec<Listener>> {
    let Some((addrs, options)) = bind else {
        return Ok(Vec::new());
    };
    addrs
        .into_iter()
        .map(|addr| TcpListener::bind_with(addr, &options).map(Listener::Tcp))
        .collect()
}

/// Sets up this shard's part of the server described by `shared`: the part (in
/// the registry from [`Part::new`] on), its accept tasks, its keeper task (which
/// holds the part until it closes) and its stop hook.
fn install<F, Fut>(
    shared: &Arc<Shared>,
    shard: usize,
    callback: F,
    listeners: Vec<Listener>,
    unix_path: Option<PathBuf>,
    tcp: bool,
) where
    F: Fn(StreamReader, StreamWriter) -> Fut + 'static,
    Fut: Future + 'static,
{
    let sockets = listeners
        .iter()
        .map(|l| l.socket().fd().downgrade())
        .collect();
    let part = Part::new(shared, shard, callback, sockets, unix_path, tcp);
    for listener in listeners {
        let task = crate::spawn(accept_loop(Rc::downgrade(&part), listener));
        part.accept_tasks.borrow_mut().push(task);
    }
    let keeper = part.clone();
    drop(crate::spawn(async move {
        keeper.closing.wait().await;
        drop(keeper);
    }));
    let weak = Rc::downgrade(&part);
    super::on_stop(move || {
        if let Some(part) = weak.upgrade() {
            part.close();
        }
    });
    if shared.closed.load(SeqCst) {
        part.close();
    }
}

/// Starts the server: this shard's part with `listeners`, then every other
/// shard's (binding `bind_others` there), and returns once all are set up.
async fn start<F, Fut>(
    callback: F,
    addrs: Vec<SocketAddr>,
    unix_path: Option<PathBuf>,
    distribution: Distribution,
    listeners: Vec<Listener>,
    bind_others: Option<(Vec<SocketAddr>, ListenOptions)>,
) -> io::Result<ShardedServer>
where
    F: Fn(StreamReader, StreamWriter) -> Fut + Send + Sync + Clone + 'static,
    Fut: Future + 'static,
{
    let handles = super::handles();
    let here = super::shard_id();
    let n = handles.len();
    let tcp = unix_path.is_none();
    let shared = Arc::new(Shared {
        id: NEXT_SERVER_ID.fetch_add(1, SeqCst),
        handles: handles.clone(),
        addrs,
        unix_path: unix_path.clone(),
        distribution,
        connections: (0..n).map(|_| AtomicUsize::new(0)).collect(),
        inflight: (0..n).map(|_| AtomicUsize::new(0)).collect(),
        accepted: (0..n).map(|_| AtomicU64::new(0)).collect(),
        accepting: AtomicUsize::new(0),
        busy: AtomicUsize::new(0),
        closed: AtomicBool::new(false),
        done: threadsafe::Event::new(),
    });
    // From here on, an early return drops the server, which closes every part
    // set up so far (and those whose set-up call is queued: the close comes after).
    let server = ShardedServer {
        owner: Arc::new(Owner(shared.clone())),
    };
    install(&shared, here, callback.clone(), listeners, unix_path, tcp);
    let calls: Vec<_> = (0..n)
        .filter(|&i| i != here)
        .map(|i| {
            let (shared, callback, bind) = (shared.clone(), callback.clone(), bind_others.clone());
            let call = handles[i].run_coroutine_threadsafe(move || {
                let result = bind_all(bind)
                    .map(|listeners| install(&shared, i, callback, listeners, None, tcp));
                std::future::ready(result)
            });
            (i, call)
        })
        .collect();
    for (i, call) in calls {
        match call.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                return Err(io::Error::new(e.kind(), format!("shard {i}: {e}")));
            }
            Err(e) => {
                return Err(io::Error::other(format!(
                    "shard {i}: cannot start its part of the server: {e}"
                )))
            }
        }
    }
    Ok(server)
}

/// Starts a TCP server on `addr` served by every shard of this sharded program
/// (in a plain runtime, a program of one shard), like
/// [`start_server`](crate::net::start_server) for a thread-per-core program: for
/// each connection, `client_connected(reader, writer)` runs in a task of its own on
/// the shard that serves it. Returns once every shard is accepting (or, with
/// [`Distribution::Acceptor`], ready to take connections), with the addresses the
/// calling shard bound (a host name binds every address it resolves to; port 0
/// picks a free port, the same on every shard).
///
/// `client_connected` is cloned to every shard; the futures it makes stay on
/// their shard (they need not be `Send`). Accepted sockets get `TCP_NODELAY`.
///
/// Each shard's part stops accepting when the program's stop is requested
/// ([`Shards::grace_period`](super::Shards::grace_period)): its connections go
/// on, as long as that shard's main future runs. So a shard's main that should
/// give its connections the grace period awaits [`ShardedServer::wait_closed`]
/// after [`stop_requested`](super::stop_requested); when the runtime of a shard
/// ends, its connections are cancelled.
///
/// Cancel-safe in that dropping it before it returns closes whatever parts of the
/// server were set up (nothing keeps listening).
///
/// # Panics
///
/// Outside a runtime.
///
/// ```
/// use ringloop::net::{open_connection, StreamReader, StreamWriter};
/// use ringloop::shard::{run_sharded, start_server_sharded, ShardedServerOptions};
///
/// async fn echo(mut reader: StreamReader, writer: StreamWriter) {
///     while let Ok(data) = reader.read(1024).await {
///         if data.is_empty() || writer.write(&data).is_err() {
///             break;
///         }
///     }
/// }
///
/// run_sharded(2, |shard| async move {
///     if shard != 0 {
///         return; // shard 1 serves its part until every main has ended
///     }
///     let options = ShardedServerOptions::new();
///     let server = start_server_sharded(echo, "127.0.0.1:0", options).await.unwrap();
///     let (mut reader, writer) = open_connection(server.local_addr().unwrap()).await.unwrap();
///     writer.write(b"hello").unwrap();
///     assert_eq!(reader.readexactly(5).await.unwrap(), b"hello");
///     drop((reader, writer));
///     server.close();
///     server.wait_closed().await;
///     assert_eq!(server.accepted().iter().sum::<u64>(), 1);
/// });
/// ```
pub async fn start_server_sharded<F, Fut>(
    client_connected: F,
    addr: impl ToSocketAddrs,
    options: ShardedServerOptions,
) -> io::Result<ShardedServer>
where
    F: Fn(StreamReader, StreamWriter) -> Fut + Send + Sync + Clone + 'static,
    Fut: Future + 'static,
{
    let reuse_port = options.get_distribution() == Distribution::ReusePort;
    let listen = ListenOptions::new()
        .reuse_port(reuse_port)
        .backlog(options.get_backlog());
    // As `start_server`: keep the addresses that bind, fail if none does.
    let listeners = bind_resolved(&addr, &listen).await?;
    let addrs = listeners
        .iter()
        .map(TcpListener::local_addr)
        .collect::<io::Result<Vec<_>>>()?;
    let bind_others = reuse_port.then(|| (addrs.clone(), listen));
    let listeners = listeners.into_iter().map(Listener::Tcp).collect();
    start(
        client_connected,
        addrs,
        None,
        options.get_distribution(),
        listeners,
        bind_others,
    )
    .await
}

/// Starts a Unix socket server at `path` served by every shard, like
/// [`start_unix_server`](crate::net::start_unix_server): one listener on the
/// calling shard, which hands connections to the shards
/// ([`Distribution::Acceptor`] only). A stale socket file at `path` is removed
/// first (any other kind of file is an error); the socket file is removed when
/// the server closes.
///
/// [`Distribution::ReusePort`] fails with `InvalidInput`: Linux refuses
/// `SO_REUSEPORT` on non-INET sockets since 6.12 (and never spread Unix
/// connections by it).
///
/// Cancel-safe as [`start_server_sharded`].
///
/// # Panics
///
/// Outside a runtime.
///
/// ```
/// use ringloop::net::{open_unix_connection, StreamReader, StreamWriter};
/// use ringloop::shard::{
///     run_sharded, start_unix_server_sharded, Balance, Distribution, ShardedServerOptions,
/// };
///
/// async fn echo(mut reader: StreamReader, writer: StreamWriter) {
///     while let Ok(data) = reader.read(1024).await {
///         if data.is_empty() || writer.write(&data).is_err() {
///             break;
///         }
///     }
/// }
///
/// let path = std::env::temp_dir().join(format!("ringloop-doc-{}.sock", std::process::id()));
/// run_sharded(2, move |shard| {
///     let path = path.clone();
///     async move {
///         if shard != 0 {
///             return;
///         }
///         let options = ShardedServerOptions::new()
///             .distribution(Distribution::Acceptor(Balance::RoundRobin));
///         let server = start_unix_server_sharded(echo, &path, options).await.unwrap();
///         for _ in 0..2 {
///             let (mut reader, writer) = open_unix_connection(&path).await.unwrap();
///             writer.write(b"hi").unwrap();
///             assert_eq!(reader.readexactly(2).await.unwrap(), b"hi");
///         }
///         server.close();
///         server.wait_closed().await;
///         assert_eq!(server.accepted(), [1, 1]); // round robin
///         assert!(!path.exists());
///     }
/// });
/// ```
pub async fn start_unix_server_sharded<F, Fut>(
    client_connected: F,
    path: impl AsRef<Path>,
    options: ShardedServerOptions,
) -> io::Result<ShardedServer>
where
    F: Fn(StreamReader, StreamWriter) -> Fut + Send + Sync + Clone + 'static,
    Fut: Future + 'static,
{
    if options.get_distribution() == Distribution::ReusePort {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "a sharded Unix socket server needs Distribution::Acceptor: Linux refuses \
             SO_REUSEPORT on non-INET sockets (since 6.12)",
        ));
    }
    let path = path.as_ref().to_path_buf();
    remove_stale_socket(&path)?;
    let backlog = i32::try_from(options.get_backlog()).unwrap_or(i32::MAX);
    let socket = Socket::listen(libc::AF_UNIX, &SockAddr::unix(&path)?, false, backlog)?;
    start(
        client_connected,
        Vec::new(),
        Some(path),
        options.get_distribution(),
        vec![Listener::Unix(socket)],
        None,
    )
    .await
}
