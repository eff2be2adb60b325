//! Writes to a pipe whose reader is gone fail with `EPIPE`; they never kill the
//! process with `SIGPIPE`.
//!
//! The kernel raises `SIGPIPE` on the *thread* that performs such a write (a
//! thread-directed signal, `send_sig(SIGPIPE, current)`), and its default action
//! ends the process. Rust binaries ignore `SIGPIPE` before `main`, but a library
//! cannot count on that (a C program, or a Rust one built with
//! `-Zon-broken-pipe=kill`, links it too), and ringloop does not change the
//! process-wide disposition either. Sockets avoid it with `MSG_NOSIGNAL`; pipes
//! have no such flag, so:
//!
//! * while at least one pipe write of this thread is in flight (queued on the
//!   ring, in the kernel, or being made on epoll), `SIGPIPE` is blocked in this
//!   thread's mask: a `SIGPIPE` the write raises stays pending instead of being
//!   delivered. On io_uring the write may run inside any later `io_uring_enter` or
//!   as task work when the thread returns from any system call, hence "in flight",
//!   not "around a call"; the ring's io-wq workers, where a write may also run,
//!   block every signal themselves;
//! * when the last one finishes, a `SIGPIPE` that an `EPIPE` left pending on this
//!   thread is taken (`sigtimedwait` with a zero timeout), and the mask is put
//!   back as it was.
//!
//! If the thread already blocked `SIGPIPE` itself, nothing is touched: the pending
//! signal is then the thread's own business, as for any write it makes. If a
//! `SIGPIPE` listener of ringloop's (`signal::signal(SignalKind::pipe())`) blocked
//! it, the pending signal our `EPIPE` raised is taken all the same, and the block
//! passes between the two: a listener dropped while a write is in flight leaves
//! the block to the write's guard, a guard that blocked the signal leaves it to a
//! listener that started meanwhile.
//!
//! [`SigpipeGuard`] is held by each pipe write op from its submission until the op
//! is dropped, which is after its completion even when its future was dropped
//! first (the op table keeps it until the CQE).

use std::cell::Cell;

use super::signal;
use super::sys::{self, MaskHow, SigSet};

struct State {
    /// Pipe writes in flight on this thread.
    in_flight: Cell<u32>,
    /// Whether this module blocked `SIGPIPE` (it was not blocked before).
    blocked_here: Cell<bool>,
    /// Whether a write got `EPIPE` since `SIGPIPE` was blocked.
    epipe: Cell<bool>,
}

thread_local! {
    static STATE: State = const {
        State {
            in_flight: Cell::new(0),
            blocked_here: Cell::new(false),
            epipe: Cell::new(false),
        }
    };
}

/// Keeps `SIGPIPE` blocked on this thread while it lives (see the module docs).
pub(crate) struct SigpipeGuard {
    _not_send: std::marker::PhantomData<*const ()>,
}

impl SigpipeGuard {
    pub(crate) fn new() -> SigpipeGuard {
        let _ = STATE.try_with(|s| {
            let n = s.in_flight.get();
            s.in_flight.set(n + 1);
            if n == 0 {
                let set = SigSet::of(libc::SIGPIPE);
                let was_blocked = match sys::thread_sigmask(MaskHow::Block, &set) {
                    Ok(old) => old.contains(libc::SIGPIPE),
                    // Cannot fail with a valid set; then nothing was changed.
                    Err(_) => true,
                };
                s.blocked_here.set(!was_blocked);
                s.epipe.set(false);
            }
        });
        SigpipeGuard {
            _not_send: std::marker::PhantomData,
        }
    }

    /// The write this guard covers failed with `EPIPE` (its `SIGPIPE` may be
    /// pending on this thread now).
    pub(crate) fn epipe(&self) {
        let _ = STATE.try_with(|s| s.epipe.set(true));
    }

    /// Notes `EPIPE` if `res` (a CQE result or a negated errno) is one.
    pub(crate) fn check(&self, res: i32) {
        if res == -libc::EPIPE {
            self.epipe();
        }
    }
}

impl Drop for SigpipeGuard {
    fn drop(&mut self) {
        let _ = STATE.try_with(|s| {
            let n = s.in_flight.get().saturating_sub(1);
            s.in_flight.set(n);
            if n > 0 {
                return;
            }
            // Blocked by this module, or by a SIGPIPE listener of ringloop's on
            // this thread (whose signalfd must not see our writes' SIGPIPE either).
            let listened = signal::listens_here(libc::SIGPIPE);
            if !s.blocked_here.get() && !listened {
                return;
            }
            let set = SigSet::of(libc::SIGPIPE);
            if s.epipe.replace(false) && sys::sigpending().contains(libc::SIGPIPE) {
                // The SIGPIPE of our EPIPE: take it before it can be delivered.
                let _ = sys::take_pending_signal(&set);
            }
            // A listener that started meanwhile keeps the signal blocked (its
            // last one lifts the block).
            if s.blocked_here.replace(false) && !signal::take_over_block(libc::SIGPIPE) {
                let _ = sys::thread_sigmask(MaskHow::Unblock, &set);
            }
        });
    }
}

/// Called when the last SIGPIPE listener of this thread goes while a pipe write is
/// in flight here: the write's guard takes the block over, and true is returned.
pub(crate) fn take_over_block() -> bool {
    STATE
        .try_with(|s| {
            if s.in_flight.get() == 0 {
                return false;
            }
            s.blocked_here.set(true);
            true
        })
        .unwrap_or(false)
}

/// Whether this module blocks `SIGPIPE` on this thread now (then a child process or
/// a thread started here must not inherit that).
pub(crate) fn blocked_here() -> bool {
    STATE
        .try_with(|s| s.in_flight.get() > 0 && s.blocked_here.get())
        .unwrap_or(false)
}

/// Pipe writes in flight on this thread (tests).
#[cfg(test)]
pub(crate) fn in_flight() -> u32 {
    STATE.with(|s| s.in_flight.get())
}
