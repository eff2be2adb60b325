//! One shard's part of a sharded server, and what the parts share.
//!
//! * [`Shared`]: the server's counters and its `done` event, read from every
//!   thread; `on_every_part` reaches each shard's part with a control call.
//! * [`Part`]: the part on one shard (its listeners, its clients, its close), found
//!   by server id in this thread's registry (`PARTS`, [`lookup`]).
//! * [`Busy`] and [`Conn`]: a connection counted from its accept to the end of its
//!   task; [`spawn_client`] starts that task and [`ClientGuard`] ends its count.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::rc::{Rc, Weak};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;

use slab::Slab;

use super::Distribution;
use crate::driver::fd::WeakFd;
use crate::net::socket::Socket;
use crate::net::streams::{split, stop_accepting};
use crate::net::{StreamReader, StreamWriter};
use crate::runtime::LoopHandle;
use crate::sync::threadsafe;
use crate::task::JoinHandle;

/// What every shard's part of one server shares.
pub(super) struct Shared {
    pub(super) id: u64,
    pub(super) handles: Arc<[LoopHandle]>,
    pub(super) addrs: Vec<SocketAddr>,
    pub(super) unix_path: Option<PathBuf>,
    pub(super) distribution: Distribution,
    /// Live connections per shard.
    pub(super) connections: Box<[AtomicUsize]>,
    /// Connections being handed to each shard (for `LeastLoaded`).
    pub(super) inflight: Box<[AtomicUsize]>,
    /// Connections served per shard, in all.
    pub(super) accepted: Box<[AtomicU64]>,
    /// Parts whose listeners are open.
    pub(super) accepting: AtomicUsize,
    /// Connections from their accept to the end of their task.
    pub(super) busy: AtomicUsize,
    /// `close` was called.
    pub(super) closed: AtomicBool,
    /// Set once nothing is accepting and nothing is busy.
    pub(super) done: threadsafe::Event,
}

pub(super) static NEXT_SERVER_ID: AtomicU64 = AtomicU64::new(1);

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
    pub(super) fn on_every_part(&self, f: fn(&Rc<Part>)) {
        // This shard's part at once (and not again by a call, which would also
        // reach connections accepted in between).
        let here = crate::runtime::context::with_core(|core| core.handle());
        let done_here = match lookup(self.id) {
            Some(part) => {
                f(&part);
                true
            }
            None => false,
        };
        let id = self.id;
        for handle in self.handles.iter() {
            if done_here && Some(*handle) == here {
                continue;
            }
            let _ = handle.push(Box::new(move || {
                if let Some(part) = lookup(id) {
                    f(&part);
                }
            }));
        }
    }

    pub(super) fn close(&self) {
        if !self.closed.swap(true, SeqCst) {
            self.on_every_part(|part| part.close());
        }
    }
}

/// Counts a connection in `busy` until dropped (with the connection, or with the
/// task serving it).
pub(super) struct Busy(pub(super) Arc<Shared>);

impl Drop for Busy {
    fn drop(&mut self) {
        if self.0.busy.fetch_sub(1, SeqCst) == 1 {
            self.0.check_done();
        }
    }
}

/// An accepted connection, on its way to the shard that serves it.
pub(super) struct Conn {
    pub(super) fd: OwnedFd,
    pub(super) _busy: Busy,
}

thread_local! {
    /// This thread's parts of sharded servers, by server id.
    static PARTS: RefCell<HashMap<u64, Weak<Part>>> = RefCell::new(HashMap::new());
}

pub(super) fn lookup(id: u64) -> Option<Rc<Part>> {
    PARTS
        .try_with(|parts| parts.borrow().get(&id).and_then(Weak::upgrade))
        .ok()
        .flatten()
}

/// Spawns the task serving a connection (made for the server's callback type).
type ServeFn = Box<dyn Fn(&Rc<Part>, Socket, Busy)>;

/// One shard's part of a server.
pub(super) struct Part {
    pub(super) shared: Arc<Shared>,
    pub(super) shard: usize,
    serve: ServeFn,
    /// The part has listeners (and counts in `accepting` until closed).
    listening: bool,
    /// Accepted sockets get `TCP_NODELAY`.
    pub(super) tcp: bool,
    pub(super) accept_tasks: RefCell<Vec<JoinHandle<()>>>,
    listeners: RefCell<Vec<WeakFd>>,
    clients: RefCell<Slab<Client>>,
    pub(super) closed: Cell<bool>,
    /// Set at close: the keeper task lets the part go.
    pub(super) closing: crate::sync::Event,
    /// The next shard for round-robin (and the first for ties).
    pub(super) next: Cell<usize>,
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
    /// Makes this shard's part of the server described by `shared` and enters it
    /// in the registry: its connections are served by `callback`, and
    /// `listeners` (if any) are shut down at close, when the part also stops
    /// counting in `accepting`.
    pub(super) fn new<F, Fut>(
        shared: &Arc<Shared>,
        shard: usize,
        callback: F,
        listeners: Vec<WeakFd>,
        unix_path: Option<PathBuf>,
        tcp: bool,
    ) -> Rc<Part>
    where
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
            listeners: RefCell::new(listeners),
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
        part
    }

    pub(super) fn close(&self) {
        if self.closed.replace(true) {
            return;
        }
        // No connection is accepted from now on, and the address is free.
        stop_accepting(
            &self.accept_tasks,
            &self.listeners,
            self.unix_path.as_deref(),
        );
        self.closing.set();
        if self.listening && self.shared.accepting.fetch_sub(1, SeqCst) == 1 {
            self.shared.check_done();
        }
    }

    pub(super) fn abort_clients(&self) {
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
    pub(super) fn serve_here(self: &Rc<Self>, conn: Conn) {
        let Conn { fd, _busy: busy } = conn;
        let socket = Socket::from_fd(fd, false);
        (self.serve)(self, socket, busy);
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
