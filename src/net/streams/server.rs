//! [`start_server`], [`start_unix_server`] and the [`Server`] they return.
//!
//! One accept-loop task per listening socket; one task per connection, running the
//! callback with the connection's reader and writer. The server keeps a handle on
//! each connection task, so that [`Server::wait_closed`] can wait for them and
//! [`Server::abort_clients`] can cancel them.
//!
//! An accept that fails for lack of resources (`EMFILE`, `ENFILE`, `ENOBUFS`,
//! `ENOMEM`) does not stop the server: the loop backs off (10 ms, doubling to 1 s)
//! and resumes, and the waiting connections stay in the kernel's backlog until
//! descriptors free up. asyncio does the same with a fixed one-second pause.

use std::cell::{Cell, RefCell};
use std::future::{poll_fn, Future};
use std::io;
use std::net::SocketAddr;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::rc::{Rc, Weak};
use std::task::Waker;
use std::time::Duration;

use slab::Slab;

use super::writer::WriterShared;
use super::{split, StreamReader, StreamWriter};
use crate::driver::fd::WeakFd;
use crate::net::addr::{resolve, ToSocketAddrs};
use crate::net::socket::Socket;
use crate::net::{ListenOptions, TcpListener, UnixListener};
use crate::task::JoinHandle;
use crate::wait_list::{ListedWait, WaitList};

/// The first pause after an accept fails for lack of resources; it doubles up to
/// [`BACKOFF_MAX`] (the sharded server's accept loops use the same).
pub(crate) const BACKOFF_MIN: Duration = Duration::from_millis(10);
pub(crate) const BACKOFF_MAX: Duration = Duration::from_secs(1);

/// A listening server, like asyncio's `Server`. Dropping it closes the listening
/// sockets (as [`close`](Self::close)); connections being served go on.
pub struct Server {
    inner: Rc<Inner>,
}

struct Inner {
    addrs: Vec<ServerAddr>,
    /// The accept loops, until `close`.
    accept_tasks: RefCell<Vec<JoinHandle<()>>>,
    /// The listening sockets, to shut down at `close` (their accept loops hold
    /// them open until those tasks are dropped, at their next poll).
    listeners: RefCell<Vec<WeakFd>>,
    /// Connection tasks still running, and their writers (for `abort_clients`).
    clients: RefCell<Slab<Client>>,
    closed: Cell<bool>,
    /// Tasks in `serve_forever` or `wait_closed`; each leaves when its future is
    /// dropped.
    waiters: RefCell<WaitList>,
    /// A Unix socket file to remove at `close`.
    unix_path: Option<PathBuf>,
}

#[derive(Clone, Debug)]
enum ServerAddr {
    Tcp(SocketAddr),
    Unix(PathBuf),
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("addrs", &self.inner.addrs)
            .field("clients", &self.inner.clients.borrow().len())
            .field("closed", &self.inner.closed.get())
            .finish()
    }
}

/// Starts a TCP server on `addr`, like asyncio's `start_server`: for each
/// connection, `client_connected(reader, writer)` runs in a task of its own. The
/// server is accepting when this returns.
///
/// A host name binds every address it resolves to (`localhost`: 127.0.0.1 and
/// ::1 where both exist). Accepted sockets get `TCP_NODELAY`, as in asyncio.
///
/// ```
/// use ringloop::net::{open_connection, start_server};
/// # ringloop::run(async {
/// let server = start_server(
///     |mut reader, writer| async move {
///         while let Ok(data) = reader.read(1024).await {
///             if data.is_empty() || writer.write(&data).is_err() {
///                 break;
///             }
///         }
///     },
///     "127.0.0.1:0",
/// )
/// .await
/// .unwrap();
/// let (mut reader, writer) = open_connection(server.local_addr().unwrap()).await.unwrap();
/// writer.write(b"hello").unwrap();
/// assert_eq!(reader.readexactly(5).await.unwrap(), b"hello");
/// server.close();
/// # });
/// ```
pub async fn start_server<F, Fut>(
    client_connected: F,
    addr: impl ToSocketAddrs,
) -> io::Result<Server>
where
    F: Fn(StreamReader, StreamWriter) -> Fut + 'static,
    Fut: Future + 'static,
{
    let listeners = bind_resolved(&addr, &ListenOptions::new()).await?;
    let addrs = listeners
        .iter()
        .map(|l| l.local_addr().map(ServerAddr::Tcp))
        .collect::<io::Result<Vec<_>>>()?;
    let inner = Inner::new(addrs, None);
    let callback = Rc::new(client_connected);
    for listener in listeners {
        inner.add_listener(listener.socket());
        let accept = accept_loop(
            Rc::downgrade(&inner),
            callback.clone(),
            Listener::Tcp(listener),
        );
        inner.accept_tasks.borrow_mut().push(crate::spawn(accept));
    }
    Ok(Server { inner })
}

/// Starts a Unix socket server at `path`, like asyncio's `start_unix_server`. A
/// stale socket file at `path` is removed first (any other kind of file is an
/// error); the socket file is removed again at [`Server::close`].
pub async fn start_unix_server<F, Fut>(
    client_connected: F,
    path: impl AsRef<Path>,
) -> io::Result<Server>
where
    F: Fn(StreamReader, StreamWriter) -> Fut + 'static,
    Fut: Future + 'static,
{
    let path = path.as_ref().to_path_buf();
    remove_stale_socket(&path)?;
    let listener = UnixListener::bind(&path)?;
    let inner = Inner::new(vec![ServerAddr::Unix(path.clone())], Some(path));
    let callback = Rc::new(client_connected);
    inner.add_listener(listener.socket());
    let accept = accept_loop(Rc::downgrade(&inner), callback, Listener::Unix(listener));
    inner.accept_tasks.borrow_mut().push(crate::spawn(accept));
    Ok(Server { inner })
}

/// Removes a socket file left at `path` by an earlier server (nothing there is
/// fine; any other kind of file is `AlreadyExists`).
/// Binds a listener with `options` on every address `addr` resolves to. asyncio
/// fails on any address; we keep the ones that bind (an IPv6 address on a host
/// without IPv6, say) and fail only if none does.
pub(crate) async fn bind_resolved(
    addr: &impl ToSocketAddrs,
    options: &ListenOptions,
) -> io::Result<Vec<TcpListener>> {
    let mut listeners = Vec::new();
    let mut last_error = None;
    for addr in resolve(addr).await? {
        match TcpListener::bind_with(addr, options) {
            Ok(listener) => listeners.push(listener),
            Err(e) => last_error = Some(e),
        }
    }
    if listeners.is_empty() {
        return Err(last_error.unwrap_or_else(|| io::Error::other("nothing to bind")));
    }
    Ok(listeners)
}

/// Stops a server's accepting at once. Cancelling the accept loops drops the
/// listeners (at their next poll), which closes them; shutting them down now
/// stops the accepting at once and frees the address for a new bind (the
/// listeners are the server's own, shared with no other process). The Unix
/// socket file, if any, is removed.
pub(crate) fn stop_accepting(
    accept_tasks: &RefCell<Vec<JoinHandle<()>>>,
    listeners: &RefCell<Vec<WeakFd>>,
    unix_path: Option<&Path>,
) {
    let tasks = std::mem::take(&mut *accept_tasks.borrow_mut());
    for task in tasks {
        task.cancel();
    }
    for listener in std::mem::take(&mut *listeners.borrow_mut()) {
        if let Some(fd) = listener.upgrade() {
            let _ = crate::driver::sys::shutdown(fd.as_fd(), std::net::Shutdown::Both);
        }
    }
    if let Some(path) = unix_path {
        let _ = std::fs::remove_file(path);
    }
}

pub(crate) fn remove_stale_socket(path: &Path) -> io::Result<()> {
    use std::os::unix::fs::FileTypeExt;
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => std::fs::remove_file(path),
        Ok(_) => Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("{} exists and is not a socket", path.display()),
        )),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Whether an accept error means "out of resources": back off and retry.
fn is_resource_error(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}

/// A server's listening socket.
enum Listener {
    Tcp(TcpListener),
    Unix(UnixListener),
}

impl Listener {
    /// The next connection; the peer's address is not asked for (the handler can
    /// ask the writer), which saves system calls per connection.
    async fn accept(&self) -> io::Result<Socket> {
        match self {
            Listener::Tcp(listener) => {
                let (socket, _) = listener.socket().accept().await?;
                let _ = socket.set_int_option(libc::IPPROTO_TCP, libc::TCP_NODELAY, 1);
                Ok(socket)
            }
            Listener::Unix(listener) => Ok(listener.socket().accept().await?.0),
        }
    }
}

/// Accepts connections until the server closes (or goes away), spawning a
/// client task for each.
async fn accept_loop<F, Fut>(inner: std::rc::Weak<Inner>, callback: Rc<F>, listener: Listener)
where
    F: Fn(StreamReader, StreamWriter) -> Fut + 'static,
    Fut: Future + 'static,
{
    let mut backoff = BACKOFF_MIN;
    loop {
        match listener.accept().await {
            Ok(socket) => {
                backoff = BACKOFF_MIN;
                let Some(inner) = inner.upgrade() else { return };
                inner.spawn_client(callback.clone(), socket);
            }
            Err(e) if is_resource_error(&e) => {
                eprintln!("ringloop: accept failed ({e}); retrying in {backoff:?}");
                crate::sleep(backoff).await;
                backoff = (backoff * 2).min(BACKOFF_MAX);
            }
            // The connection went away before it was accepted, or a signal came:
            // nothing to do but accept the next one.
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::ECONNABORTED | libc::EINTR | libc::EPROTO | libc::EPERM)
                ) => {}
            Err(e) => {
                eprintln!("ringloop: accept failed ({e}); retrying in {backoff:?}");
                crate::sleep(backoff).await;
                backoff = (backoff * 2).min(BACKOFF_MAX);
            }
        }
    }
}

/// A connection being served.
struct Client {
    /// Set right after the spawn.
    task: Option<JoinHandle<()>>,
    writer: Weak<WriterShared>,
}

/// Removes a finished client task from the server, however the task ends.
struct ClientGuard {
    inner: Rc<Inner>,
    key: usize,
}

impl Drop for ClientGuard {
    fn drop(&mut self) {
        // The task's own handle: dropped outside the borrow (a panic it reports
        // must not find the slab borrowed).
        let handle = self.inner.clients.borrow_mut().try_remove(self.key);
        drop(handle);
        self.inner.wake_if_done();
    }
}

impl Inner {
    fn new(addrs: Vec<ServerAddr>, unix_path: Option<PathBuf>) -> Rc<Inner> {
        Rc::new(Inner {
            addrs,
            accept_tasks: RefCell::new(Vec::new()),
            listeners: RefCell::new(Vec::new()),
            clients: RefCell::new(Slab::new()),
            closed: Cell::new(false),
            waiters: RefCell::new(WaitList::new()),
            unix_path,
        })
    }

    /// Runs `callback(reader, writer)` in a task of its own (the callback itself
    /// too: a panic in it ends that task only, not the accept loop).
    fn spawn_client<F, Fut>(self: &Rc<Self>, callback: Rc<F>, socket: Socket)
    where
        F: Fn(StreamReader, StreamWriter) -> Fut + 'static,
        Fut: Future + 'static,
    {
        let (reader, writer) = split(socket);
        let key = self.clients.borrow_mut().insert(Client {
            task: None,
            writer: writer.downgrade(),
        });
        let guard = ClientGuard {
            inner: self.clone(),
            key,
        };
        let handle = crate::spawn(async move {
            let _guard = guard;
            callback(reader, writer).await;
        });
        if let Some(client) = self.clients.borrow_mut().get_mut(key) {
            client.task = Some(handle);
        }
    }

    fn add_listener(&self, socket: &Socket) {
        self.listeners.borrow_mut().push(socket.fd().downgrade());
    }

    fn close(&self) {
        if self.closed.replace(true) {
            return;
        }
        stop_accepting(
            &self.accept_tasks,
            &self.listeners,
            self.unix_path.as_deref(),
        );
        self.wake_all();
    }

    fn wake_all(&self) {
        let mut woken = Vec::new();
        self.waiters.borrow_mut().notify_all((), &mut woken);
        woken.into_iter().for_each(Waker::wake);
    }

    fn wake_if_done(&self) {
        if self.closed.get() && self.clients.borrow().is_empty() {
            self.wake_all();
        }
    }

    /// A wait on this server's list of waiters.
    fn listed_wait(&self) -> ListedWait<'_, WaitList> {
        ListedWait::new(&self.waiters, |list| list)
    }
}

impl Server {
    /// The first address the server listens on (with the port the kernel chose
    /// for port 0); `Unsupported` for a Unix socket server.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        match self.inner.addrs.first() {
            Some(ServerAddr::Tcp(addr)) => Ok(*addr),
            _ => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "a Unix socket server has no IP address",
            )),
        }
    }

    /// Every address the server listens on (asyncio's `server.sockets`).
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.inner
            .addrs
            .iter()
            .filter_map(|a| match a {
                ServerAddr::Tcp(addr) => Some(*addr),
                ServerAddr::Unix(_) => None,
            })
            .collect()
    }

    /// The path of a Unix socket server.
    pub fn unix_path(&self) -> Option<&Path> {
        self.inner.addrs.iter().find_map(|a| match a {
            ServerAddr::Unix(path) => Some(path.as_path()),
            ServerAddr::Tcp(_) => None,
        })
    }

    /// Whether the server is still accepting connections (asyncio's
    /// `is_serving`).
    pub fn is_serving(&self) -> bool {
        !self.inner.closed.get()
    }

    /// Connections being served.
    pub fn clients(&self) -> usize {
        self.inner.clients.borrow().len()
    }

    /// Serves until [`close`](Self::close) is called. If this future is dropped
    /// (cancelled, as asyncio's `serve_forever` is), the server is closed.
    pub async fn serve_forever(&self) {
        struct CloseOnDrop<'a>(&'a Inner);
        impl Drop for CloseOnDrop<'_> {
            fn drop(&mut self) {
                self.0.close();
            }
        }
        let guard = CloseOnDrop(&self.inner);
        let mut wait = self.inner.listed_wait();
        poll_fn(|cx| wait.poll_until(cx, |_| self.inner.closed.get().then_some(()))).await;
        drop(wait);
        drop(guard);
    }

    /// Stops accepting and closes the listening sockets; connections being served
    /// go on (see [`abort_clients`](Self::abort_clients)). Never waits.
    pub fn close(&self) {
        self.inner.close();
    }

    /// Closes every connection at once, like asyncio's `abort_clients`: each
    /// writer is aborted (what it buffered is dropped, the connection shut down
    /// both ways) and each connection task is cancelled.
    pub fn abort_clients(&self) {
        let writers: Vec<_> = self
            .inner
            .clients
            .borrow()
            .iter()
            .map(|(_, c)| c.writer.clone())
            .collect();
        for writer in writers.iter().filter_map(Weak::upgrade) {
            writer.abort();
        }
        // Cancelling only schedules each task; it ends at its next poll.
        for (_, client) in self.inner.clients.borrow().iter() {
            if let Some(task) = &client.task {
                task.cancel();
            }
        }
    }

    /// Waits until the server is closed and every connection task has finished
    /// (asyncio 3.12's `wait_closed`).
    ///
    /// Cancel-safe.
    pub async fn wait_closed(&self) {
        let inner = &self.inner;
        let mut wait = inner.listed_wait();
        poll_fn(|cx| {
            wait.poll_until(cx, |_| {
                (inner.closed.get() && inner.clients.borrow().is_empty()).then_some(())
            })
        })
        .await
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.inner.close();
    }
}
