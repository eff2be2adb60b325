//! The accepting side of a part: its [`Listener`]s, the [`accept_loop`] that
//! serves each connection here or picks a shard for it ([`choose`]), and, in
//! `Acceptor` mode, the [`hand_off`] to that shard: one [`Attempt`] per shard
//! tried, the connection in a slot that the target's [`adopt`] empties, or that
//! comes back full (the target stopped, or has no part) for the next shard.

use std::io;
use std::os::fd::AsFd;
use std::rc::{Rc, Weak};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};

use super::part::{lookup, Busy, Conn, Part};
use super::{Balance, Distribution};
use crate::driver::op;
use crate::driver::sys;
use crate::net::socket::Socket;
use crate::net::streams::{BACKOFF_MAX, BACKOFF_MIN};
use crate::net::TcpListener;
use crate::runtime::CallError;

/// A listening socket of a part.
pub(super) enum Listener {
    Tcp(TcpListener),
    Unix(Socket),
}

impl Listener {
    pub(super) fn socket(&self) -> &Socket {
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
pub(super) async fn accept_loop(part: Weak<Part>, listener: Listener) {
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
                        let target = choose(&part, balance);
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

/// Picks the shard for a new connection on `part`'s shard (`Acceptor` mode):
/// only shards still running.
fn choose(part: &Part, balance: Balance) -> usize {
    let shared = &part.shared;
    let n = shared.handles.len();
    let start = part.next.get();
    part.next.set(start.wrapping_add(1));
    let live = |i: usize| i == part.shard || !shared.handles[i].is_closed();
    match balance {
        Balance::RoundRobin => (0..n)
            .map(|k| (start + k) % n)
            .find(|&i| live(i))
            .unwrap_or(part.shard),
        Balance::LeastLoaded => (0..n)
            .map(|k| (start + k) % n)
            .filter(|&i| live(i))
            .min_by_key(|&i| shared.connections[i].load(SeqCst) + shared.inflight[i].load(SeqCst))
            .unwrap_or(part.shard),
    }
}
