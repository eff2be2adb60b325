//! The epoll driver: the same operations as plain non-blocking system calls, retried
//! when epoll says the descriptor is ready (DESIGN decision 5).
//!
//! An op first tries its system call (`OpKind::perform`). On `EAGAIN` it registers a
//! waiter for its descriptor and direction here; the registration is one-shot and
//! level-triggered, so readiness that arrives between the failed call and the
//! registration is still reported. When the event comes, every waiter of that
//! direction is woken and retries. A dropped op removes its waiter; the kernel never
//! holds an op's memory, so cancellation needs nothing else.

use std::collections::HashMap;
use std::io;
use std::os::fd::{OwnedFd, RawFd};
use std::task::Waker;
use std::time::Duration;

use super::sys;

/// The direction an op waits for.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Interest {
    Read,
    Write,
}

/// Token of the unpark eventfd in epoll events (descriptors use their number).
const UNPARK: u64 = u64::MAX;

const READ_EVENTS: u32 = (libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLPRI) as u32;
const WRITE_EVENTS: u32 = libc::EPOLLOUT as u32;
/// Events that end a read wait (errors and hang-ups are reported to both directions).
const READ_DONE: u32 = READ_EVENTS | (libc::EPOLLHUP | libc::EPOLLERR) as u32;
const WRITE_DONE: u32 = WRITE_EVENTS | (libc::EPOLLHUP | libc::EPOLLERR) as u32;

#[derive(Default)]
struct FdWaiters {
    readers: Vec<(u64, Waker)>,
    writers: Vec<(u64, Waker)>,
    /// Events armed in the kernel (0 once the one-shot fired).
    armed: u32,
    /// Whether the kernel knows this descriptor (a hint: it forgets closed ones).
    registered: bool,
}

impl FdWaiters {
    fn wanted(&self) -> u32 {
        let mut events = 0;
        if !self.readers.is_empty() {
            events |= READ_EVENTS;
        }
        if !self.writers.is_empty() {
            events |= WRITE_EVENTS;
        }
        events
    }
}

pub(crate) struct Epoll {
    epfd: OwnedFd,
    unpark_fd: RawFd,
    fds: HashMap<RawFd, FdWaiters>,
    events: Vec<libc::epoll_event>,
    next_id: u64,
    /// Registered waiters, so that a turn with nothing registered skips the syscall.
    waiting: usize,
}

impl Epoll {
    pub(crate) fn new(unpark_fd: RawFd) -> io::Result<Epoll> {
        let epfd = sys::epoll_create()?;
        sys::epoll_ctl(
            &epfd,
            libc::EPOLL_CTL_ADD,
            unpark_fd,
            libc::EPOLLIN as u32,
            UNPARK,
        )?;
        Ok(Epoll {
            epfd,
            unpark_fd,
            fds: HashMap::new(),
            events: Vec::with_capacity(256),
            next_id: 0,
            waiting: 0,
        })
    }

    /// Registers `waker` to be woken when `fd` is ready for `interest`; returns the
    /// waiter's id for [`poll_wait`](Self::poll_wait) and
    /// [`cancel_wait`](Self::cancel_wait).
    pub(crate) fn wait_ready(
        &mut self,
        fd: RawFd,
        interest: Interest,
        waker: &Waker,
    ) -> io::Result<u64> {
        let id = self.next_id;
        self.next_id += 1;
        let entry = self.fds.entry(fd).or_default();
        match interest {
            Interest::Read => entry.readers.push((id, waker.clone())),
            Interest::Write => entry.writers.push((id, waker.clone())),
        }
        self.waiting += 1;
        if let Err(e) = self.arm(fd) {
            self.cancel_wait(fd, interest, id);
            return Err(e);
        }
        Ok(id)
    }

    /// Makes the kernel watch every direction someone waits for on `fd`.
    fn arm(&mut self, fd: RawFd) -> io::Result<()> {
        let entry = self
            .fds
            .get_mut(&fd)
            .expect("armed descriptor has an entry");
        let wanted = entry.wanted();
        if wanted & !entry.armed == 0 {
            return Ok(());
        }
        let events = wanted | libc::EPOLLONESHOT as u32;
        let token = fd as u64;
        let first = if entry.registered {
            libc::EPOLL_CTL_MOD
        } else {
            libc::EPOLL_CTL_ADD
        };
        let result = match sys::epoll_ctl(&self.epfd, first, fd, events, token) {
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                sys::epoll_ctl(&self.epfd, libc::EPOLL_CTL_ADD, fd, events, token)
            }
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {
                sys::epoll_ctl(&self.epfd, libc::EPOLL_CTL_MOD, fd, events, token)
            }
            other => other,
        };
        match result {
            Ok(()) => {
                entry.registered = true;
                entry.armed = wanted;
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Whether the waiter was woken (then it is gone); if not, its waker is updated.
    pub(crate) fn poll_wait(
        &mut self,
        fd: RawFd,
        interest: Interest,
        id: u64,
        waker: &Waker,
    ) -> bool {
        let Some(entry) = self.fds.get_mut(&fd) else {
            return true;
        };
        let list = match interest {
            Interest::Read => &mut entry.readers,
            Interest::Write => &mut entry.writers,
        };
        match list.iter_mut().find(|(i, _)| *i == id) {
            Some((_, w)) => {
                if !w.will_wake(waker) {
                    *w = waker.clone();
                }
                false
            }
            None => true,
        }
    }

    /// Forgets a descriptor that is about to be closed; nobody can be waiting on
    /// it, since every op holds it open. It is removed from the epoll set first: the
    /// kernel would drop it only once no other descriptor (a `dup`, a forked child
    /// before its `exec`) refers to the same file.
    pub(crate) fn forget(&mut self, fd: RawFd) {
        if let Some(entry) = self.fds.remove(&fd) {
            debug_assert!(entry.readers.is_empty() && entry.writers.is_empty());
            if entry.registered {
                let _ = sys::epoll_ctl(&self.epfd, libc::EPOLL_CTL_DEL, fd, 0, 0);
            }
        }
    }

    /// Removes a waiter whose op was dropped.
    pub(crate) fn cancel_wait(&mut self, fd: RawFd, interest: Interest, id: u64) {
        if let Some(entry) = self.fds.get_mut(&fd) {
            let list = match interest {
                Interest::Read => &mut entry.readers,
                Interest::Write => &mut entry.writers,
            };
            if let Some(pos) = list.iter().position(|(i, _)| *i == id) {
                list.swap_remove(pos);
                self.waiting -= 1;
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
        sys::epoll_wait(&self.epfd, &mut self.events, timeout)?;
        for i in 0..self.events.len() {
            let event = self.events[i];
            let (token, ready) = (event.u64, event.events);
            if token == UNPARK {
                let _ = sys::eventfd_drain(self.unpark_fd);
                continue;
            }
            let fd = token as RawFd;
            let Some(entry) = self.fds.get_mut(&fd) else {
                continue;
            };
            entry.armed = 0;
            if ready & READ_DONE != 0 {
                self.waiting -= entry.readers.len();
                woken.extend(entry.readers.drain(..).map(|(_, w)| w));
            }
            if ready & WRITE_DONE != 0 {
                self.waiting -= entry.writers.len();
                woken.extend(entry.writers.drain(..).map(|(_, w)| w));
            }
            if entry.wanted() != 0 {
                if let Err(e) = self.arm(fd) {
                    // Wake them all: each retries its call and sees the error itself.
                    let entry = self.fds.get_mut(&fd).expect("entry exists");
                    eprintln!("ringloop: epoll re-arm of fd {fd} failed: {e}");
                    self.waiting -= entry.readers.len() + entry.writers.len();
                    woken.extend(entry.readers.drain(..).map(|(_, w)| w));
                    woken.extend(entry.writers.drain(..).map(|(_, w)| w));
                }
            }
        }
        Ok(())
    }

    /// Wakes every waiter: after shutdown their ops report that the runtime is gone.
    pub(crate) fn shutdown(self, woken: &mut Vec<Waker>) {
        for (_, entry) in self.fds {
            woken.extend(entry.readers.into_iter().map(|(_, w)| w));
            woken.extend(entry.writers.into_iter().map(|(_, w)| w));
        }
    }
}
