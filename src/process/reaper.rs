//! The reaper of dropped children: one thread per process, started at the first
//! [`Child`](super::Child) dropped before it was reaped.
//!
//! Why a thread, rather than a wait op left in some runtime's ring: a dropped
//! child may outlive the runtime that spawned it (and every runtime: a daemon
//! spawned by a short-lived `ringloop::run`), or be dropped outside any runtime;
//! a thread reaps it whenever it exits, for as long as the process runs, and costs
//! nothing until the first such drop. It blocks every asynchronous signal (see
//! `driver/signal.rs`) and sleeps in `epoll_wait` on the pidfds of the children
//! it adopted (level-triggered: a pidfd is readable once its process exited), so
//! it makes no system call while no adopted child exits.
//!
//! ```text
//!   Child dropped ─▶ exited already? reaped on the spot
//!        │ no
//!        ▼
//!   dup(pidfd) ──EPOLL_CTL_ADD──▶ reaper thread: epoll_wait ─▶ waitid(P_PIDFD, WNOHANG)
//!                                                          ─▶ EPOLL_CTL_DEL, close
//! ```
//!
//! Without pidfds the reaper keeps the pids and polls `waitid(P_PID, WNOHANG)`
//! every 50 ms while it has any (and the same through the pidfd for a pidfd
//! epoll refused).

use std::collections::HashMap;
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::driver::fd::SharedFd;
use crate::driver::sys::{self, WaitTarget};

/// How often pids without a pidfd are polled.
const POLL_PIDS: Duration = Duration::from_millis(50);
/// The epoll token of the wake-up eventfd (pidfds use their number).
const WAKE: u64 = u64::MAX;

struct Reaper {
    epoll: OwnedFd,
    wake: OwnedFd,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Adopted pidfds, by number.
    pidfds: HashMap<RawFd, OwnedFd>,
    /// Adopted pidfds that epoll refused (`ENOMEM`, `ENOSPC`): polled.
    polled: Vec<OwnedFd>,
    /// Adopted pids without a pidfd: polled.
    pids: Vec<libc::pid_t>,
}

impl State {
    fn polls(&self) -> bool {
        !self.pids.is_empty() || !self.polled.is_empty()
    }
}

impl Reaper {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn run(&self) {
        let mut events = Vec::with_capacity(64);
        loop {
            let timeout = self.lock().polls().then_some(POLL_PIDS);
            if let Err(e) = sys::epoll_wait(self.epoll.as_fd(), &mut events, timeout) {
                eprintln!("ringloop: the child reaper failed and stops: {e}");
                return;
            }
            let mut state = self.lock();
            for event in &events {
                if event.u64 == WAKE {
                    let _ = sys::eventfd_drain(self.wake.as_fd());
                    continue;
                }
                let Some(fd) = state.pidfds.get(&(event.u64 as RawFd)) else {
                    continue;
                };
                // Reaped, or ECHILD: reaped by an op that was cancelled too late.
                // (`None`: not exited after all; it stays registered.)
                if let Ok(None) = sys::waitid_now(WaitTarget::Pidfd(fd.as_fd())) {
                    continue;
                }
                let _ = sys::epoll_ctl(self.epoll.as_fd(), libc::EPOLL_CTL_DEL, fd.as_fd(), 0, 0);
                state.pidfds.remove(&(event.u64 as RawFd));
            }
            state
                .polled
                .retain(|fd| still_running(WaitTarget::Pidfd(fd.as_fd())));
            state
                .pids
                .retain(|&pid| still_running(WaitTarget::Pid(pid)));
        }
    }
}

/// Reaps `target` if it exited; false once it is reaped (now or before: ECHILD).
fn still_running(target: WaitTarget) -> bool {
    matches!(sys::waitid_now(target), Ok(None))
}

/// The reaper, started at the first call. A failure (no descriptors left, no
/// thread) is returned, and the next call tries again.
fn start() -> io::Result<Arc<Reaper>> {
    static REAPER: Mutex<Option<Arc<Reaper>>> = Mutex::new(None);
    let mut slot = REAPER.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(reaper) = &*slot {
        return Ok(reaper.clone());
    }
    let epoll = sys::epoll_create()?;
    let wake = sys::eventfd()?;
    sys::epoll_ctl(
        epoll.as_fd(),
        libc::EPOLL_CTL_ADD,
        wake.as_fd(),
        libc::EPOLLIN as u32,
        WAKE,
    )?;
    let reaper = Arc::new(Reaper {
        epoll,
        wake,
        state: Mutex::new(State::default()),
    });
    let runner = reaper.clone();
    let builder = std::thread::Builder::new().name("ringloop-reaper".to_owned());
    crate::driver::signal::spawn_thread(builder, move || runner.run())?;
    *slot = Some(reaper.clone());
    Ok(reaper)
}

/// Reaps the child `pidfd` refers to when it exits (it has not been reaped yet).
///
/// The reaper takes the pidfd itself when nothing else holds it, else a copy (a
/// cancelled wait op may hold it until its completion). It never falls back to
/// the pid while it has a pidfd: a cancelled `WAITID` may still reap the child,
/// after which its pid can name another process.
pub(super) fn adopt_pidfd(pidfd: SharedFd, pid: libc::pid_t) {
    let reaper = match start() {
        Ok(reaper) => reaper,
        Err(e) => return no_reaper(pid, e),
    };
    let fd = match pidfd.try_into_owned() {
        Ok(fd) => fd,
        Err(shared) => match sys::dup_cloexec(shared.as_fd()) {
            Ok(fd) => fd,
            Err(e) => {
                // No descriptor left, and the op holding the pidfd keeps it for a
                // single completion: polling the pid is all there is. (The pid
                // could only be reused if that cancelled op reaped the child and
                // the pid space wrapped around before the next poll.)
                eprintln!(
                    "ringloop: cannot keep child {pid}'s pidfd for the reaper ({e}); it is polled by pid"
                );
                return adopt_pid(pid);
            }
        },
    };
    let raw = fd.as_raw_fd();
    let mut state = reaper.lock();
    let added = sys::epoll_ctl(
        reaper.epoll.as_fd(),
        libc::EPOLL_CTL_ADD,
        fd.as_fd(),
        libc::EPOLLIN as u32,
        raw as u64,
    );
    match added {
        Ok(()) => {
            state.pidfds.insert(raw, fd);
        }
        Err(_) => {
            // Polled through the pidfd instead, every `POLL_PIDS`.
            state.polled.push(fd);
            drop(state);
            let _ = sys::eventfd_signal(reaper.wake.as_fd());
        }
    }
}

fn no_reaper(pid: libc::pid_t, e: io::Error) {
    eprintln!("ringloop: no reaper for child {pid} ({e}); it stays a zombie when it exits")
}

/// Reaps child `pid` when it exits (no pidfd: polled by pid).
pub(super) fn adopt_pid(pid: libc::pid_t) {
    match start() {
        Ok(reaper) => {
            reaper.lock().pids.push(pid);
            let _ = sys::eventfd_signal(reaper.wake.as_fd());
        }
        Err(e) => no_reaper(pid, e),
    }
}
