//! The epoll driver: the same operations as plain non-blocking system calls, made
//! when epoll says the descriptor is ready (ARCHITECTURE.md, decision 5).
//!
//! Each descriptor is registered once, edge-triggered, for both directions, at the
//! first op that has to wait on it (and removed when it is closed). The driver
//! remembers, per descriptor and direction, whether it may be ready:
//!
//! ```text
//!   unknown / may be ready ──op's call gives EAGAIN, or a short read/write──▶ not ready
//!   not ready ──epoll event──▶ may be ready (waiters woken, they retry)
//! ```
//!
//! An op makes its call only when the direction may be ready; otherwise it waits
//! at once, without a failing call first. Once the peer closed or the connection
//! failed (`EPOLLRDHUP`, `EPOLLHUP`, `EPOLLERR`), a direction stays ready: no
//! further edge would come, and the calls return at once (0 or the error). A short read or write means the kernel
//! buffer was drained or filled (stream sockets and pipes), so it counts as
//! `EAGAIN` for the next op, which saves a failing call per request. An event that
//! arrives between a failing call and the wait is not lost: edge-triggered events
//! are queued by the kernel until the next `epoll_wait`, and a first registration
//! reports readiness that is already there. A dropped op removes its waiter (in
//! O(1): waiters live in a slab, found by their [`WaitId`]); the kernel never holds
//! an op's memory, so cancellation needs nothing else.

pub(crate) mod op;

use std::collections::HashMap;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::task::Waker;
use std::time::Duration;

use std::sync::atomic::{AtomicU64, Ordering};

use slab::Slab;

use super::fd::SharedFd;
use super::{sys, Interest};

/// Token of the unpark eventfd in epoll events (descriptors use their number).
const UNPARK: u64 = u64::MAX;

/// What a descriptor is registered for.
const EVENTS: u32 =
    (libc::EPOLLIN | libc::EPOLLOUT | libc::EPOLLRDHUP | libc::EPOLLPRI | libc::EPOLLET) as u32;
/// Events that make reading worth a try (errors and hang-ups: the call reports them).
const READ_READY: u32 =
    (libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLPRI | libc::EPOLLHUP | libc::EPOLLERR) as u32;
const WRITE_READY: u32 = (libc::EPOLLOUT | libc::EPOLLHUP | libc::EPOLLERR) as u32;

/// Events after which a direction stays ready for good: the peer closed (reads
/// give 0), the connection hung up or failed (calls give the error). Edges stop
/// coming then, so a short read must not make the next read wait.
const READ_CLOSED: u32 = (libc::EPOLLRDHUP | libc::EPOLLHUP | libc::EPOLLERR) as u32;
const WRITE_CLOSED: u32 = (libc::EPOLLHUP | libc::EPOLLERR) as u32;

/// A waiter of [`Epoll::wait_ready`]: its slot in the direction's slab, and an id
/// unique in the driver, so that a slot reused by another waiter (after an event
/// woke this one) or a descriptor's entry made afresh is never taken for it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct WaitId {
    slot: usize,
    id: u64,
}

/// One direction of a descriptor.
#[derive(Default)]
struct Direction {
    /// `false` once a call reported `EAGAIN` (or drained the buffer), until the
    /// next event.
    maybe_ready: bool,
    /// Closed (see `READ_CLOSED`): ready from now on.
    closed: bool,
    /// Waiting ops, each with its id; an event wakes (and removes) them all.
    waiters: Slab<(u64, Waker)>,
}

impl Direction {
    /// The waker of waiter `w`, if it is still waiting.
    fn waiter(&mut self, w: WaitId) -> Option<&mut Waker> {
        match self.waiters.get_mut(w.slot) {
            Some((id, waker)) if *id == w.id => Some(waker),
            _ => None,
        }
    }
}

struct FdEntry {
    read: Direction,
    write: Direction,
    /// Whether the descriptor is in the epoll set.
    registered: bool,
}

impl Default for FdEntry {
    fn default() -> Self {
        FdEntry {
            read: Direction {
                maybe_ready: true,
                ..Direction::default()
            },
            write: Direction {
                maybe_ready: true,
                ..Direction::default()
            },
            registered: false,
        }
    }
}

impl FdEntry {
    fn direction(&mut self, interest: Interest) -> &mut Direction {
        match interest {
            Interest::Read => &mut self.read,
            Interest::Write => &mut self.write,
        }
    }
}

/// Ids of epoll drivers (see `FdState::epoll`).
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

pub(crate) struct Epoll {
    id: u64,
    epfd: OwnedFd,
    unpark_fd: BorrowedFd<'static>,
    fds: HashMap<RawFd, FdEntry>,
    events: Vec<libc::epoll_event>,
    next_id: u64,
    /// Registered waiters, so that a turn with nothing registered skips the syscall.
    waiting: usize,
    /// `epoll_wait` calls, for the metrics.
    waits: u64,
    /// Events of the eventfd (another thread ended a wait), for the metrics.
    eventfd_wakes: u64,
}

impl Epoll {
    pub(crate) fn new(unpark_fd: BorrowedFd<'static>) -> io::Result<Epoll> {
        let epfd = sys::epoll_create()?;
        sys::epoll_ctl(
            epfd.as_fd(),
            libc::EPOLL_CTL_ADD,
            unpark_fd,
            libc::EPOLLIN as u32,
            UNPARK,
        )?;
        Ok(Epoll {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            epfd,
            unpark_fd,
            fds: HashMap::new(),
            waits: 0,
            eventfd_wakes: 0,
            events: Vec::with_capacity(256),
            next_id: 0,
            waiting: 0,
        })
    }

    /// Makes sure what the driver knows about `fd`'s number is about this
    /// descriptor: a number seen before belonged to a descriptor since closed (one
    /// released outside this runtime, which could not tell it), whose entry is
    /// dropped so that this one is registered afresh.
    pub(crate) fn adopt(&mut self, fd: &SharedFd) {
        let mut state = fd.state();
        if state.epoll != Some(self.id) {
            state.epoll = Some(self.id);
            // An entry with waiters is this descriptor's own (nobody waits on a
            // closed one: its ops hold it open), left by another driver's turn.
            let stale = self.fds.get(&fd.raw()).is_some_and(|entry| {
                entry.read.waiters.is_empty() && entry.write.waiters.is_empty()
            });
            if stale {
                self.fds.remove(&fd.raw());
            }
        }
    }

    /// Whether an op's call on `fd` may succeed now (unknown counts as yes).
    pub(crate) fn may_be_ready(&self, fd: RawFd, interest: Interest) -> bool {
        match self.fds.get(&fd) {
            Some(entry) => {
                let d = match interest {
                    Interest::Read => &entry.read,
                    Interest::Write => &entry.write,
                };
                d.maybe_ready || d.closed
            }
            None => true,
        }
    }

    /// Records that `fd` is not ready for `interest` (a call said so, or drained
    /// the kernel's buffer), if the descriptor is registered: only then will an
    /// event say when that changes.
    pub(crate) fn not_ready(&mut self, fd: RawFd, interest: Interest) {
        if let Some(entry) = self.fds.get_mut(&fd) {
            if entry.registered {
                entry.direction(interest).maybe_ready = false;
            }
        }
    }

    /// Registers `waker` to be woken when `fd` may be ready for `interest` (after
    /// a call reported `EAGAIN`, or [`may_be_ready`](Self::may_be_ready) said no);
    /// returns the waiter's id for [`poll_wait`](Self::poll_wait) and
    /// [`cancel_wait`](Self::cancel_wait).
    pub(crate) fn wait_ready(
        &mut self,
        fd: BorrowedFd<'_>,
        interest: Interest,
        waker: &Waker,
    ) -> io::Result<WaitId> {
        let token = fd.as_raw_fd() as u64;
        let entry = self.fds.entry(fd.as_raw_fd()).or_default();
        if !entry.registered {
            let epfd = self.epfd.as_fd();
            let added = sys::epoll_ctl(epfd, libc::EPOLL_CTL_ADD, fd, EVENTS, token);
            match added {
                Ok(()) => {}
                // The number was reused without being forgotten (closed by
                // someone else): refresh the registration.
                Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {
                    sys::epoll_ctl(epfd, libc::EPOLL_CTL_MOD, fd, EVENTS, token)?;
                }
                Err(e) => return Err(e),
            }
            entry.registered = true;
        }
        let id = self.next_id;
        self.next_id += 1;
        let direction = entry.direction(interest);
        direction.maybe_ready = false;
        let slot = direction.waiters.insert((id, waker.clone()));
        self.waiting += 1;
        Ok(WaitId { slot, id })
    }

    /// Whether the waiter was woken (then it is gone); if not, its waker is updated.
    pub(crate) fn poll_wait(
        &mut self,
        fd: RawFd,
        interest: Interest,
        w: WaitId,
        waker: &Waker,
    ) -> bool {
        let Some(entry) = self.fds.get_mut(&fd) else {
            return true;
        };
        match entry.direction(interest).waiter(w) {
            Some(current) => {
                if !current.will_wake(waker) {
                    *current = waker.clone();
                }
                false
            }
            None => true,
        }
    }

    /// Removes a waiter whose op was dropped.
    pub(crate) fn cancel_wait(&mut self, fd: RawFd, interest: Interest, w: WaitId) {
        if let Some(entry) = self.fds.get_mut(&fd) {
            let direction = entry.direction(interest);
            if direction.waiter(w).is_some() {
                direction.waiters.remove(w.slot);
                self.waiting -= 1;
            }
        }
    }

    /// Forgets a descriptor that is about to be closed; nobody can be waiting on
    /// it, since every op holds it open. It is removed from the epoll set first: the
    /// kernel would drop it only once no other descriptor (a `dup`, a forked child
    /// before its `exec`) refers to the same file.
    pub(crate) fn forget(&mut self, fd: BorrowedFd<'_>) {
        if let Some(entry) = self.fds.remove(&fd.as_raw_fd()) {
            debug_assert!(entry.read.waiters.is_empty() && entry.write.waiters.is_empty());
            if entry.registered {
                let _ = sys::epoll_ctl(self.epfd.as_fd(), libc::EPOLL_CTL_DEL, fd, 0, 0);
            }
        }
    }

    /// One loop turn: wait for readiness as told, wake the waiters.
    pub(crate) fn turn(
        &mut self,
        timeout: Option<Duration>,
        woken: &mut Vec<Waker>,
    ) -> io::Result<()> {
        if timeout.is_some_and(|t| t.is_zero()) && self.waiting == 0 {
            return Ok(());
        }
        self.waits += 1;
        sys::epoll_wait(self.epfd.as_fd(), &mut self.events, timeout)?;
        for event in &self.events {
            let (token, ready) = (event.u64, event.events);
            if token == UNPARK {
                self.eventfd_wakes += 1;
                let _ = sys::eventfd_drain(self.unpark_fd);
                continue;
            }
            let Some(entry) = self.fds.get_mut(&(token as RawFd)) else {
                continue;
            };
            let directions = [
                (&mut entry.read, READ_READY, READ_CLOSED),
                (&mut entry.write, WRITE_READY, WRITE_CLOSED),
            ];
            for (direction, mask, closed) in directions {
                if ready & closed != 0 {
                    direction.closed = true;
                }
                if ready & mask != 0 {
                    direction.maybe_ready = true;
                    self.waiting -= direction.waiters.len();
                    woken.extend(direction.waiters.drain().map(|(_, w)| w));
                }
            }
        }
        Ok(())
    }

    /// What this driver counted, for a metrics snapshot: `epoll_wait` calls and
    /// eventfd wakes; the io_uring-only counts do not apply.
    pub(crate) fn kernel_counts(&self) -> crate::driver::metrics::KernelCounts {
        crate::driver::metrics::KernelCounts {
            epoll_waits: Some(self.waits),
            eventfd_wakes: self.eventfd_wakes,
            ..Default::default()
        }
    }

    /// Wakes every waiter: after shutdown their ops report that the runtime is gone.
    pub(crate) fn shutdown(self, woken: &mut Vec<Waker>) {
        for (_, entry) in self.fds {
            woken.extend(entry.read.waiters.into_iter().map(|(_, (_, w))| w));
            woken.extend(entry.write.waiters.into_iter().map(|(_, (_, w))| w));
        }
    }
}
