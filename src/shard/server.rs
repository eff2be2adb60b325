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

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::rc::{Rc, Weak};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use slab::Slab;

use crate::driver::fd::WeakFd;
use crate::driver::op;
use crate::driver::sockaddr::SockAddr;
use crate::driver::sys;
use crate::net::addr::{resolve, ToSocketAddrs};
use crate::net::socket::{Socket, DEFAULT_BACKLOG};
use crate::net::streams::split;
use crate::net::{ListenOptions, StreamReader, StreamWriter, TcpListener};
use crate::runtime::{CallError, LoopHandle};
use crate::sync::threadsafe;
use crate::task::JoinHandle;

const BACKOFF_MIN: Duration = Duration::from_millis(10);
const BACKOFF_MAX: Duration = Duration::from_secs(1);

/// How a shard picks the shard that serves a connection in
/// [`Distribution::Acceptor`] mode.
///
/// ```
/// use ringloop::shard::{Balance, Distribution, ShardedServerOptions};
/// let options = ShardedServerOptions::new().distribution(Distribution::Acceptor(Balance::LeastLoaded));
/// assert_eq!(options.get_distribution(), Distribution::Acceptor(Balance::LeastLoaded));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Balance {
    /// Each shard in turn (shards that have stopped are skipped).
    #[default]
    RoundRobin,
    /// The shard with the fewest live connections (those being handed to it
    /// included); ties go to each of the tied shards in turn.
    LeastLoaded,
}

/// How a sharded server spreads its connections over the shards.
///
/// ```
/// use ringloop::shard::{Balance, Distribution};
/// assert_eq!(Distribution::default(), Distribution::ReusePort);
/// let _one_acceptor = Distribution::Acceptor(Balance::RoundRobin);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Distribution {
    /// One `SO_REUSEPORT` listener per shard, all on the same address (the first,
    /// on the calling shard, picks the port for port 0; the others bind that
    /// port): the kernel spreads connections over the listeners by a hash of
    /// their addresses and ports, and each shard accepts its own. No call between
    /// shards per connection; the spread is even only on average.
    ///
    /// **Connections queued on a listener that closes are lost.** When one
    /// shard's listener closes (a [`close`](ShardedServer::close), a stop, a
    /// shard that ends) while connections the kernel assigned to it wait in its
    /// accept queue, Linux resets them (unless `net.ipv4.tcp_migrate_req` is set,
    /// Linux 5.14+, which moves them to another listener of the group): their
    /// clients see `ECONNRESET` and must retry. [`Distribution::Acceptor`] loses
    /// none: a connection accepted for a shard that stops is served by another.
    #[default]
    ReusePort,
    /// One listener, on the calling shard, which accepts every connection and
    /// hands each (its descriptor) to the shard the [`Balance`] picks, through a
    /// call to that shard. If that shard has stopped, or has no part of this
    /// server any more, the connection goes to the next shard, or is served on the
    /// accepting shard: never dropped. One call per connection, and one shard's
    /// accept rate for all.
    Acceptor(Balance),
}

/// Options of [`start_server_sharded`] and [`start_unix_server_sharded`].
///
/// ```
/// use ringloop::shard::{Balance, Distribution, ShardedServerOptions};
/// let options = ShardedServerOptions::new()
///     .distribution(Distribution::Acceptor(Balance::RoundRobin))
///     .backlog(256);
/// assert_eq!(options.get_backlog(), 256);
/// ```
#[derive(Clone, Debug)]
pub struct ShardedServerOptions {
    distribution: Distribution,
    backlog: u32,
}

impl Default for ShardedServerOptions {
    fn default() -> Self {
        ShardedServerOptions {
            distribution: Distribution::ReusePort,
            backlog: DEFAULT_BACKLOG as u32,
        }
    }
}

impl ShardedServerOptions {
    /// The defaults: [`Distribution::ReusePort`], a backlog of 1024.
    ///
    /// ```
    /// let options = ringloop::shard::ShardedServerOptions::new();
    /// assert_eq!(options.get_distribution(), ringloop::shard::Distribution::ReusePort);
    /// assert_eq!(options.get_backlog(), 1024);
    /// ```
    pub fn new() -> ShardedServerOptions {
        ShardedServerOptions::default()
    }

    /// How connections are spread over the shards.
    ///
    /// ```
    /// use ringloop::shard::{Balance, Distribution, ShardedServerOptions};
    /// let options = ShardedServerOptions::new().distribution(Distribution::Acceptor(Balance::RoundRobin));
    /// assert_eq!(options.get_distribution(), Distribution::Acceptor(Balance::RoundRobin));
    /// ```
    pub fn distribution(mut self, distribution: Distribution) -> ShardedServerOptions {
        self.distribution = distribution;
        self
    }

    /// The length of each listener's queue of connections not yet accepted (the
    /// kernel caps it at `net.core.somaxconn`).
    ///
    /// ```
    /// let options = ringloop::shard::ShardedServerOptions::new().backlog(64);
    /// assert_eq!(options.get_backlog(), 64);
    /// ```
    pub fn backlog(mut self, backlog: u32) -> ShardedServerOptions {
        self.backlog = backlog;
        self
    }

    /// The distribution set.
    ///
    /// ```
    /// let options = ringloop::shard::ShardedServerOptions::new();
    /// assert_eq!(options.get_distribution(), ringloop::shard::Distribution::ReusePort);
    /// ```
    pub fn get_distribution(&self) -> Distribution {
        self.distribution
    }

    /// The backlog set.
    ///
    /// ```
    /// assert_eq!(ringloop::shard::ShardedServerOptions::new().get_backlog(), 1024);
    /// ```
    pub fn get_backlog(&self) -> u32 {
        self.backlog
    }
}

/// What every shard's part of one server shares.
struct Shared {
    id: u64,
    handles: Arc<[LoopHandle]>,
    addrs: Vec<SocketAddr>,
    unix_path: Option<PathBuf>,
    distribution: Distribution,
    /// Live connections per shard.
    connections: Box<[AtomicUsize]>,
    /// Connections being handed to each shard (for `LeastLoaded`).
    inflight: Box<[AtomicUsize]>,
    /// Connections served per shard, in all.
    accepted: Box<[AtomicU64]>,
    /// Parts whose listeners are open.
    accepting: AtomicUsize,
    /// Connections from their accept to the end of their task.
    busy: AtomicUsize,
    /// `close` was called.
    closed: AtomicBool,
    /// Set once nothing is accepting and nothing is busy.
    done: threadsafe::Event,
}

static NEXT_SERVER_ID: AtomicU64 = AtomicU64::new(1);

impl Shared {
    fn check_done(&self) {
        if self.accepting.load(SeqCst) == 0 && self.busy.load(SeqCst) == 0 {
            self.done.set();
        }
    }

    /// Runs `f` on this thread's part of the server (if it has one), and on
    /// every shard's part through a call that bypasses the call gate (a control
    /// message, one per shard, like a stop). A shard that has stopped has no part
    /// any more: nothing to do there.
    fn on_every_part(&self, f: fn(&Rc<Part>)) {
        if let Some(part) = lookup(self.id) {
            f(&part);
        }
        let id = self.id;
        for handle in self.handles.iter() {
            let _ = handle.push(Box::new(move || {
                if let Some(part) = lookup(id) {
                    f(&part);
                }
            }));
        }
    }

    fn close(&self) {
        if !self.closed.swap(true, SeqCst) {
            self.on_every_part(|part| part.close());
        }
    }
}

/// Counts a connection in `busy` until dropped (with the connection, or with the
/// task serving it).
struct Busy(Arc<Shared>);

impl Drop for Busy {
    fn drop(&mut self) {
        if self.0.busy.fetch_sub(1, SeqCst) == 1 {
            self.0.check_done();
        }
    }
}

/// An accepted connection, on its way to the shard that serves it.
struct Conn {
    fd: OwnedFd,
    _busy: Busy,
}

thread_local! {
    /// This thread's parts of sharded servers, by server id.
    static PARTS: RefCell<HashMap<u64, Weak<Part>>> = RefCell::new(HashMap::new());
}

fn lookup(id: u64) -> Option<Rc<Part>> {
    PARTS
        .try_with(|parts| parts.borrow().get(&id).and_then(Weak::upgrade))
        .ok()
        .flatten()
}

/// Spawns the task serving a connection (made for the server's callback type).
type ServeFn = Box<dyn Fn(&Rc<Part>, Socket, Busy)>;

/// One shard's part of a server.
struct Part {
    shared: Arc<Shared>,
    shard: usize,
    serve: ServeFn,
    /// The part has listeners (and counts in `accepting` until closed).
    listening: bool,
    /// Accepted sockets get `TCP_NODELAY`.
    tcp: bool,
    accept_tasks: RefCell<Vec<JoinHandle<()>>>,
    listeners: RefCell<Vec<WeakFd>>,
    clients: RefCell<Slab<Client>>,
    closed: Cell<bool>,
    /// Set at close: the keeper task lets the part go.
    closing: crate::sync::Event,
    /// The next shard for round-robin (and the first for ties).
    next: Cell<usize>,
    /// A Unix socket file to remove at close.
    unix_path: Option<PathBuf>,
}

/// A connection being served.
struct Client {
    /// Set right after the spawn.
    task: Option<JoinHandle<()>>,
    /// Aborts the connection's writer, if it is still there.
    abort: Rc<dyn Fn()>,
}

/// Takes a finished client off its part, however its task ends.
struct ClientGuard {
    part: Rc<Part>,
    key: usize,
    busy: Option<Busy>,
}

impl Drop for ClientGuard {
    fn drop(&mut self) {
        let client = self.part.clients.borrow_mut().try_remove(self.key);
        drop(client);
        self.part.shared.connections[self.part.shard].fetch_sub(1, SeqCst);
        drop(self.busy.take());
    }
}

impl Part {
    fn close(&self) {
        if self.closed.replace(true) {
            return;
        }
        let tasks = std::mem::take(&mut *self.accept_tasks.borrow_mut());
        for task in tasks {
            task.cancel();
        }
        // Shut down at once (the accept tasks drop their listeners at their next
        // poll): no connection is accepted from now on, and the address is free.
        for listener in std::mem::take(&mut *self.listeners.borrow_mut()) {
            if let Some(fd) = listener.upgrade() {
                let _ = sys::shutdown(fd.as_fd(), std::net::Shutdown::Both);
            }
        }
        if let Some(path) = &self.unix_path {
            let _ = std::fs::remove_file(path);
        }
        self.closing.set();
        if self.listening && self.shared.accepting.fetch_sub(1, SeqCst) == 1 {
            self.shared.check_done();
        }
    }

    fn abort_clients(&self) {
        // Outside the borrow: an abort may end a task, whose guard takes its
        // client off the slab.
        let aborts: Vec<Rc<dyn Fn()>> = self
            .clients
            .borrow()
            .iter()
            .map(|(_, c)| c.abort.clone())
            .collect();
        for abort in aborts {
            abort();
        }
        // Cancelling only schedules each task; it ends at its next poll.
        for (_, client) in self.clients.borrow().iter() {
            if let Some(task) = &client.task {
                task.cancel();
            }
        }
    }

    /// Serves `conn` on this shard.
    fn serve_here(self: &Rc<Self>, conn: Conn) {
        let Conn { fd, _busy: busy } = conn;
        let socket = Socket::from_fd(fd, false);
        (self.serve)(self, socket, busy);
    }

    /// Picks the shard for a new connection (`Acceptor` mode): only shards still
    /// running.
    fn choose(&self, balance: Balance) -> usize {
        let shared = &self.shared;
        let n = shared.handles.len();
        let start = self.next.get();
        self.next.set(start.wrapping_add(1));
        let live = |i: usize| i == self.shard || !shared.handles[i].is_closed();
        match balance {
            Balance::RoundRobin => (0..n)
                .map(|k| (start + k) % n)
                .find(|&i| live(i))
                .unwrap_or(self.shard),
            Balance::LeastLoaded => (0..n)
                .map(|k| (start + k) % n)
                .filter(|&i| live(i))
                .min_by_key(|&i| {
                    shared.connections[i].load(SeqCst) + shared.inflight[i].load(SeqCst)
                })
                .unwrap_or(self.shard),
        }
    }
}

impl Drop for Part {
    fn drop(&mut self) {
        // Its shard stopped (or it was closed and every connection ended).
        self.close();
        let id = self.shared.id;
        let _ = PARTS.try_with(|parts| {
            if let Ok(mut parts) = parts.try_borrow_mut() {
                if parts.get(&id).is_some_and(|w| w.strong_count() == 0) {
                    parts.remove(&id);
                }
            }
        });
    }
}

/// A listening socket of a part.
enum Listener {
    Tcp(TcpListener),
    Unix(Socket),
}

impl Listener {
    fn socket(&self) -> &Socket {
        match self {
            Listener::Tcp(listener) => listener.socket(),
            Listener::Unix(socket) => socket,
        }
    }
}

/// Whether an accept error concerns only the connection (it went away before it
/// was accepted) or a signal: accept the next one at once.
fn is_transient(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::ECONNABORTED | libc::EINTR | libc::EPROTO | libc::EPERM)
    )
}

/// Accepts until the part closes (or goes away).
async fn accept_loop(part: Weak<Part>, listener: Listener) {
    let mut backoff = BACKOFF_MIN;
    loop {
        match op::accept(listener.socket().fd()).await {
            Ok((fd, _)) => {
                backoff = BACKOFF_MIN;
                let Some(part) = part.upgrade() else { return };
                if part.closed.get() {
                    return;
                }
                if part.tcp {
                    let _ =
                        sys::setsockopt_int(fd.as_fd(), libc::IPPROTO_TCP, libc::TCP_NODELAY, 1);
                }
                part.shared.busy.fetch_add(1, SeqCst);
                let conn = Conn {
                    fd,
                    _busy: Busy(part.shared.clone()),
                };
                match part.shared.distribution {
                    Distribution::ReusePort => part.serve_here(conn),
                    Distribution::Acceptor(balance) => {
                        let target = part.choose(balance);
                        if target == part.shard {
                            part.serve_here(conn);
                        } else {
                            drop(crate::spawn(hand_off(part, conn, target)));
                        }
                    }
                }
            }
            Err(e) if is_transient(&e) => {}
            Err(e) => {
                if part.upgrade().is_none_or(|p| p.closed.get()) {
                    return;
                }
                eprintln!("ringloop: accept failed ({e}); retrying in {backoff:?}");
                crate::sleep(backoff).await;
                backoff = (backoff * 2).min(BACKOFF_MAX);
            }
        }
    }
}

/// One attempt at handing a connection to a shard, counted in that shard's
/// `inflight` until the shard takes the connection (`adopt`) or it is taken back.
struct Attempt<'a> {
    slot: Arc<Mutex<Option<Conn>>>,
    inflight: &'a AtomicUsize,
}

impl Attempt<'_> {
    /// The connection, if the target did not take it.
    fn take_back(&self) -> Option<Conn> {
        let conn = lock(&self.slot).take();
        if conn.is_some() {
            self.inflight.fetch_sub(1, SeqCst);
        }
        conn
    }
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        // The hand-off was cancelled (its runtime is going): the connection, if
        // the target has not taken it, is closed with it.
        drop(self.take_back());
    }
}

/// Hands `conn` to shard `first`; if that shard has stopped or has no part of
/// this server, to the next, and so on; served here when it comes to this shard.
async fn hand_off(part: Rc<Part>, mut conn: Conn, first: usize) {
    let shared = part.shared.clone();
    let n = shared.handles.len();
    for k in 0..n {
        let target = (first + k) % n;
        if target == part.shard {
            break;
        }
        let handle = shared.handles[target];
        if handle.is_closed() {
            continue;
        }
        shared.inflight[target].fetch_add(1, SeqCst);
        let attempt = Attempt {
            slot: Arc::new(Mutex::new(Some(conn))),
            inflight: &shared.inflight[target],
        };
        let (id, slot) = (shared.id, attempt.slot.clone());
        // Whatever the outcome (the call ran, or never will: `Stopped`), the slot
        // says whether the target took the connection.
        let _: Result<(), CallError> = handle
            .run_coroutine_threadsafe(move || {
                adopt(id, &slot);
                std::future::ready(())
            })
            .await;
        match attempt.take_back() {
            None => return,
            Some(back) => conn = back,
        }
    }
    part.serve_here(conn);
}

fn lock(slot: &Mutex<Option<Conn>>) -> std::sync::MutexGuard<'_, Option<Conn>> {
    slot.lock().unwrap_or_else(|e| e.into_inner())
}

/// On the target shard: takes the connection out of `slot` and serves it, if
/// this shard has a part of server `id` (otherwise it stays in the slot).
fn adopt(id: u64, slot: &Mutex<Option<Conn>>) {
    let Some(part) = lookup(id) else { return };
    let conn = lock(slot).take();
    if let Some(conn) = conn {
        // Counted in `connections` first, then no longer in flight: the load
        // `LeastLoaded` sees never dips.
        part.serve_here(conn);
        part.shared.inflight[part.shard].fetch_sub(1, SeqCst);
    }
}

/// Runs `callback(reader, writer)` for `socket` in a task of its own on `part`'s
/// shard.
fn spawn_client<F, Fut>(part: &Rc<Part>, callback: &Rc<F>, socket: Socket, busy: Busy)
where
    F: Fn(StreamReader, StreamWriter) -> Fut + 'static,
    Fut: Future + 'static,
{
    let (reader, writer) = split(socket);
    let weak = writer.downgrade();
    let key = part.clients.borrow_mut().insert(Client {
        task: None,
        abort: Rc::new(move || {
            if let Some(writer) = weak.upgrade() {
                writer.abort();
            }
        }),
    });
    part.shared.connections[part.shard].fetch_add(1, SeqCst);
    part.shared.accepted[part.shard].fetch_add(1, SeqCst);
    let guard = ClientGuard {
        part: part.clone(),
        key,
        busy: Some(busy),
    };
    let callback = callback.clone();
    let task = crate::spawn(async move {
        let _guard = guard;
        callback(reader, writer).await;
    });
    if let Some(client) = part.clients.borrow_mut().get_mut(key) {
        client.task = Some(task);
    }
}

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

/// Sets up this shard's part of the server described by `shared`: its accept
/// tasks, its keeper task (which holds the part until it closes), its entry in
/// the registry and its stop hook.
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
    let callback = Rc::new(callback);
    let listening = !listeners.is_empty();
    if listening {
        shared.accepting.fetch_add(1, SeqCst);
    }
    let part = Rc::new(Part {
        shared: shared.clone(),
        shard,
        serve: Box::new(move |part, socket, busy| spawn_client(part, &callback, socket, busy)),
        listening,
        tcp,
        accept_tasks: RefCell::new(Vec::new()),
        listeners: RefCell::new(
            listeners
                .iter()
                .map(|l| l.socket().fd().downgrade())
                .collect(),
        ),
        clients: RefCell::new(Slab::new()),
        closed: Cell::new(false),
        closing: crate::sync::Event::new(),
        next: Cell::new(shard),
        unix_path,
    });
    PARTS.with(|parts| {
        let mut parts = parts.borrow_mut();
        parts.retain(|_, part| part.strong_count() > 0);
        parts.insert(shared.id, Rc::downgrade(&part));
    });
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
    let reuse_port = options.distribution == Distribution::ReusePort;
    let listen = ListenOptions::new()
        .reuse_port(reuse_port)
        .backlog(options.backlog);
    let mut listeners = Vec::new();
    let mut last_error = None;
    for addr in resolve(&addr).await? {
        match TcpListener::bind_with(addr, &listen) {
            Ok(listener) => listeners.push(listener),
            // As `start_server`: keep the addresses that bind, fail if none does.
            Err(e) => last_error = Some(e),
        }
    }
    if listeners.is_empty() {
        return Err(last_error.unwrap_or_else(|| io::Error::other("nothing to bind")));
    }
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
        options.distribution,
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
    if options.distribution == Distribution::ReusePort {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "a sharded Unix socket server needs Distribution::Acceptor: Linux refuses \
             SO_REUSEPORT on non-INET sockets (since 6.12)",
        ));
    }
    let path = path.as_ref().to_path_buf();
    remove_stale_socket(&path)?;
    let backlog = i32::try_from(options.backlog).unwrap_or(i32::MAX);
    let socket = Socket::listen(libc::AF_UNIX, &SockAddr::unix(&path)?, false, backlog)?;
    start(
        client_connected,
        Vec::new(),
        Some(path),
        options.distribution,
        vec![Listener::Unix(socket)],
        None,
    )
    .await
}

fn remove_stale_socket(path: &Path) -> io::Result<()> {
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

/// Closes the server when the last clone of a [`ShardedServer`] goes.
struct Owner(Arc<Shared>);

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
    owner: Arc<Owner>,
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
