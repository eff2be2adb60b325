//! The kernel side of `ringloop::signal`: which signals a thread listens for, its
//! signalfd, and the process-wide forwarding that gets a process-directed signal to
//! every listening thread.
//!
//! # How a signal reaches a listener
//!
//! A thread that listens for signal `S` (has at least one `Signal` stream for it)
//! blocks `S` in its own mask and reads it from its signalfd ([`read_pending`]),
//! with a plain `read` on that thread whenever the `ringloop::signal` reader task's
//! poll of the signalfd reports it readable (never a READ op on the ring: see
//! `signal/listeners.rs`).
//! A signalfd only ever returns signals pending for the thread that reads it: sent
//! to that thread, or to the process.
//!
//! Signal masks are per thread, and a process-directed signal (`kill`, the
//! terminal's Ctrl-C) goes to *any one* thread that does not block it. Blocking `S`
//! on the runtime thread alone is therefore not enough when other threads exist
//! (the program's own threads, the test harness's, another runtime's): `S` would
//! land there and take its default action, which for most signals ends the
//! process. So, while any thread listens for `S`:
//!
//! * a small process-wide handler is installed for `S` (only if its disposition
//!   was the default or "ignore"; a handler of the program's own is left alone).
//!   It runs only on threads that do not block `S`, and forwards the signal with
//!   `tgkill` to every listening thread, where it is pending and blocked, so their
//!   signalfds read it. It is async-signal-safe: it reads a fixed table of atomics
//!   and makes `getpid`/`gettid`/`tgkill` system calls, saving `errno`;
//! * a listening thread that reads a *process-directed* `S` from its signalfd (all
//!   threads were blocking it, so the kernel left it pending for the process and
//!   one signalfd took it) forwards it the same way to the other listening threads.
//!   Forwarded copies are thread-directed (`SI_TKILL`) and are not forwarded again.
//!
//! So every listening thread sees each delivery of a process-directed signal once,
//! and a thread-directed signal (`pthread_kill`, `raise`) only on its thread.
//! When the last listener of `S` in a thread goes, `S` is unblocked there (if this
//! module blocked it); when the last listener in the process goes, the previous
//! disposition is restored: from then on `S` does what it did before.
//!
//! Masks are inherited: by the threads a thread starts, and (std's `Command` does
//! not reset it) by the processes it starts, across `exec`. So what this module
//! and `sigpipe.rs` block on a thread ([`blocked_by_ringloop`]) is unblocked again
//! in a child before `exec` (`process::Command`), and in a `to_thread` pool
//! thread as it starts ([`spawn_user_thread`]): pool jobs run user code, which may
//! start processes. The reaper of dropped children runs no user code; it starts
//! with every asynchronous signal blocked ([`spawn_thread`]), so it never takes a
//! signal meant for a listener, nor runs a handler.

use std::cell::RefCell;
use std::io;
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Mutex;

use super::fd::SharedFd;
use super::sys::{self, MaskHow, SavedAction, SigSet};

/// Signals are numbered 1..=64 on Linux.
const NSIG: usize = 65;
/// Threads that may listen for one signal at the same time.
const MAX_THREADS: usize = 64;

/// `struct signalfd_siginfo` is 128 bytes: `u32 ssi_signo; i32 ssi_errno;
/// i32 ssi_code; ...`.
const RECORD: usize = std::mem::size_of::<libc::signalfd_siginfo>();

/// Per signal, the threads listening for it (0: a free slot). Read by the handler.
static LISTENING: [[AtomicI32; MAX_THREADS]; NSIG] =
    [const { [const { AtomicI32::new(0) }; MAX_THREADS] }; NSIG];

/// Per signal: how many threads listen, and the disposition the handler replaced.
struct Process {
    threads: [u32; NSIG],
    replaced: [Option<SavedAction>; NSIG],
}

static PROCESS: Mutex<Process> = Mutex::new(Process {
    threads: [0; NSIG],
    replaced: [None; NSIG],
});

fn process() -> std::sync::MutexGuard<'static, Process> {
    // Plain counters, consistent at every unlock.
    PROCESS.lock().unwrap_or_else(|e| e.into_inner())
}

/// The forwarding handler (see the module docs). Async-signal-safe.
extern "C" fn forward_handler(signal: i32, _info: *mut libc::siginfo_t, _ctx: *mut libc::c_void) {
    let saved = sys::errno();
    forward(signal, sys::gettid());
    sys::set_errno(saved);
}

/// Sends `signal` to every thread listening for it but `except`. Async-signal-safe.
fn forward(signal: i32, except: libc::pid_t) {
    let Some(slots) = LISTENING.get(signal as usize) else {
        return;
    };
    let pid = sys::getpid();
    for slot in slots {
        let tid = slot.load(Ordering::Acquire);
        if tid != 0 && tid != except {
            // ESRCH: the thread just exited; nothing to do.
            let _ = sys::tgkill(pid, tid, signal);
        }
    }
}

/// This thread starts listening for `signal` (its first listener).
fn process_listen(signal: i32, tid: libc::pid_t) -> io::Result<()> {
    let mut p = process();
    let slots = &LISTENING[signal as usize];
    let Some(slot) = slots.iter().find(|s| s.load(Ordering::Relaxed) == 0) else {
        return Err(io::Error::other(format!(
            "more than {MAX_THREADS} threads listen for signal {signal}"
        )));
    };
    slot.store(tid, Ordering::Release);
    p.threads[signal as usize] += 1;
    if p.threads[signal as usize] == 1 {
        let installed = sys::get_sigaction(signal).and_then(|current| {
            if current.is_default() || current.is_ignore() {
                // SAFETY: `forward_handler` is async-signal-safe (see `forward`).
                let previous = unsafe { sys::install_handler(signal, forward_handler) }?;
                p.replaced[signal as usize] = Some(previous);
            }
            Ok(())
        });
        if let Err(e) = installed {
            p.threads[signal as usize] -= 1;
            slot.store(0, Ordering::Release);
            return Err(e);
        }
    }
    Ok(())
}

/// This thread stops listening for `signal` (its last listener went).
fn process_unlisten(signal: i32, tid: libc::pid_t) {
    let mut p = process();
    if let Some(slot) = LISTENING[signal as usize]
        .iter()
        .find(|s| s.load(Ordering::Relaxed) == tid)
    {
        slot.store(0, Ordering::Release);
    }
    let threads = &mut p.threads[signal as usize];
    *threads = threads.saturating_sub(1);
    if *threads == 0 {
        if let Some(previous) = p.replaced[signal as usize].take() {
            // Unless the program installed something else since.
            let ours = sys::get_sigaction(signal)
                .map(|a| a.runs(forward_handler))
                .unwrap_or(false);
            if ours {
                let _ = sys::restore_sigaction(signal, &previous);
            }
        }
    }
}

/// What this thread listens for.
struct Thread {
    tid: libc::pid_t,
    /// Listeners per signal.
    counts: [u32; NSIG],
    /// Signals this module blocked in the thread's mask (they were not blocked).
    blocked_here: SigSet,
    /// Signals with a listener: the signalfd's mask.
    mask: SigSet,
    fd: Option<SharedFd>,
}

impl Drop for Thread {
    fn drop(&mut self) {
        // The thread is exiting with listeners never dropped (leaked, or dropped
        // after this): it must not stay in the table, where its id may be reused.
        for signal in 1..NSIG {
            if self.counts[signal] > 0 {
                process_unlisten(signal as i32, self.tid);
            }
        }
    }
}

thread_local! {
    static THREAD: RefCell<Thread> = RefCell::new(Thread {
        tid: sys::gettid(),
        counts: [0; NSIG],
        blocked_here: SigSet::empty(),
        mask: SigSet::empty(),
        fd: None,
    });
}

/// Whether `signal` may be listened for: not `SIGKILL`/`SIGSTOP` (they cannot be
/// caught), not a fault (`SIGSEGV`, `SIGBUS`, `SIGFPE`, `SIGILL`: blocking them is
/// meaningless), not one the C library keeps for itself (32 ..= `SIGRTMIN` - 1).
pub(crate) fn check_signal(signal: i32) -> io::Result<()> {
    let forbidden = [
        libc::SIGKILL,
        libc::SIGSTOP,
        libc::SIGSEGV,
        libc::SIGBUS,
        libc::SIGFPE,
        libc::SIGILL,
    ];
    if signal < 1 || signal > libc::SIGRTMAX() || signal as usize >= NSIG {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{signal} is not a signal number"),
        ));
    }
    if forbidden.contains(&signal) || (32..libc::SIGRTMIN()).contains(&signal) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("signal {signal} cannot be listened for"),
        ));
    }
    Ok(())
}

/// One more listener of `signal` on this thread; returns the thread's signalfd.
/// The first one blocks the signal here, adds it to the signalfd and registers the
/// thread for forwarding. The signal is caught from the moment this returns.
pub(crate) fn listen(signal: i32) -> io::Result<SharedFd> {
    check_signal(signal)?;
    THREAD.with(|t| {
        let mut t = t.borrow_mut();
        let i = signal as usize;
        if t.counts[i] == 0 {
            let mut mask = t.mask;
            mask.add(signal);
            // Block first: from here on the signal is pending for this thread (or
            // the process) rather than delivered, until the signalfd reads it.
            let old = sys::thread_sigmask(MaskHow::Block, &SigSet::of(signal))?;
            let blocked_here = !old.contains(signal);
            let fd = match &t.fd {
                Some(fd) => sys::signalfd(Some(fd.as_fd()), &mask).map(|_| fd.clone()),
                None => {
                    sys::signalfd(None, &mask).map(|fd| SharedFd::new(fd.expect("a new signalfd")))
                }
            };
            let registered = fd.and_then(|fd| process_listen(signal, t.tid).map(|()| fd));
            match registered {
                Ok(fd) => {
                    t.fd = Some(fd);
                    t.mask = mask;
                    if blocked_here {
                        t.blocked_here.add(signal);
                    }
                }
                Err(e) => {
                    if blocked_here {
                        let _ = sys::thread_sigmask(MaskHow::Unblock, &SigSet::of(signal));
                    }
                    if let Some(fd) = &t.fd {
                        let _ = sys::signalfd(Some(fd.as_fd()), &t.mask);
                    }
                    return Err(e);
                }
            }
        }
        t.counts[i] += 1;
        Ok(t.fd.clone().expect("the signalfd exists while listening"))
    })
}

/// One listener of `signal` on this thread less; the last one undoes [`listen`].
/// When the thread listens for nothing any more, its signalfd is released.
pub(crate) fn unlisten(signal: i32) {
    let _ = THREAD.try_with(|t| {
        let mut t = t.borrow_mut();
        let i = signal as usize;
        if t.counts.get(i).is_none_or(|&n| n == 0) {
            return;
        }
        t.counts[i] -= 1;
        if t.counts[i] > 0 {
            return;
        }
        process_unlisten(signal, t.tid);
        t.mask.remove(signal);
        if let Some(fd) = &t.fd {
            // Also when the mask is now empty: the reader's read may stay in
            // flight on this descriptor a little longer (until its cancellation
            // arrives), and must not take a signal meant for a listener that
            // registers meanwhile, on a new signalfd.
            let _ = sys::signalfd(Some(fd.as_fd()), &t.mask);
        }
        if !t.mask.contains_any() {
            // Closed once the reader's op is done with it too.
            t.fd = None;
        }
        if t.blocked_here.contains(signal) {
            t.blocked_here.remove(signal);
            // A pipe write in flight here needs SIGPIPE blocked until it is done:
            // the write's guard takes the block over (and lifts it then).
            if signal == libc::SIGPIPE && super::sigpipe::take_over_block() {
                return;
            }
            // A signal still pending is delivered now, under the disposition the
            // signal has again: nobody here listens for it any more.
            let _ = sys::thread_sigmask(MaskHow::Unblock, &SigSet::of(signal));
        }
    });
}

/// Whether this thread listens for `signal` (then it is blocked here, and a
/// delivery would reach the listeners through the signalfd).
pub(crate) fn listens_here(signal: i32) -> bool {
    THREAD
        .try_with(|t| t.try_borrow().is_ok_and(|t| t.counts[signal as usize] > 0))
        .unwrap_or(false)
}

/// Called by a pipe write's guard that blocked `SIGPIPE` and is about to lift the
/// block: if this thread listens for it, the listeners take the block over (the
/// last one lifts it) and true is returned.
pub(crate) fn take_over_block(signal: i32) -> bool {
    THREAD
        .try_with(|t| match t.try_borrow_mut() {
            Ok(mut t) if t.counts[signal as usize] > 0 => {
                t.blocked_here.add(signal);
                true
            }
            _ => false,
        })
        .unwrap_or(false)
}

/// This thread's signalfd, while it listens for anything.
pub(crate) fn thread_signalfd() -> Option<SharedFd> {
    THREAD.try_with(|t| t.borrow().fd.clone()).ok().flatten()
}

/// Signals read at most per [`read_pending`].
const BATCH: usize = 16;

/// Reads the signals pending for this thread (or the process) from its signalfd
/// `fd`, in this thread: a signalfd returns the signals of the thread that reads
/// it. `WouldBlock` when none is pending (the signalfd is non-blocking).
pub(crate) fn read_pending(fd: &SharedFd) -> io::Result<Vec<i32>> {
    let mut buf = [0u8; RECORD * BATCH];
    // SAFETY: `buf` is a local array, valid for writes of its whole length for the
    // duration of the call.
    let n = unsafe { sys::read_raw(fd.as_fd(), buf.as_mut_ptr(), buf.len(), None) }?;
    Ok(take_records(&buf[..n]))
}

/// What a signalfd read delivered: the signal numbers, in order. Process-directed
/// signals are forwarded to the other listening threads first (module docs).
fn take_records(bytes: &[u8]) -> Vec<i32> {
    let me = THREAD.try_with(|t| t.borrow().tid).unwrap_or(0);
    bytes
        .chunks_exact(RECORD)
        .map(|record| {
            // The fixed layout of `struct signalfd_siginfo` (linux/signalfd.h).
            let signal = u32::from_ne_bytes(record[0..4].try_into().expect("4 bytes")) as i32;
            let code = i32::from_ne_bytes(record[8..12].try_into().expect("4 bytes"));
            if code != libc::SI_TKILL {
                forward(signal, me);
            }
            signal
        })
        .collect()
}

/// The signals ringloop itself blocks on this thread now: those it listens for
/// (and which were not blocked before), and `SIGPIPE` while a pipe write is in
/// flight (`sigpipe.rs`). A child process or a thread started from here must not
/// inherit them: the mask a thread is created with, and the mask a process keeps
/// across `exec`, are those of the thread that starts it (std's `Command` does not
/// reset it).
pub(crate) fn blocked_by_ringloop() -> SigSet {
    let mut set = THREAD
        .try_with(|t| t.borrow().blocked_here)
        .unwrap_or_else(|_| SigSet::empty());
    if super::sigpipe::blocked_here() {
        set.add(libc::SIGPIPE);
    }
    set
}

/// Starts a thread that runs user code (a `to_thread` pool worker) with the mask
/// of the calling thread minus what ringloop blocked there ([`blocked_by_ringloop`]),
/// as if ringloop had not touched the mask: a process the thread starts (say with
/// std's `Command`) must not start with listened signals blocked. (A process-
/// directed signal that lands on it is forwarded to the listeners by the handler.)
pub(crate) fn spawn_user_thread<F>(
    builder: std::thread::Builder,
    f: F,
) -> io::Result<std::thread::JoinHandle<()>>
where
    F: FnOnce() + Send + 'static,
{
    let ours = blocked_by_ringloop();
    builder.spawn(move || {
        if ours.contains_any() {
            let _ = sys::thread_sigmask(MaskHow::Unblock, &ours);
        }
        f()
    })
}

/// Starts a thread of ringloop's own with every asynchronous signal blocked, so
/// that it never takes a signal meant for a listener (see the module docs).
/// Faults (`SIGSEGV`, `SIGBUS`, `SIGFPE`, `SIGILL`, `SIGTRAP`, `SIGSYS`) stay
/// unblocked: the kernel raises them synchronously, and Rust's stack-overflow
/// report needs its `SIGSEGV` handler.
pub(crate) fn spawn_thread<F>(
    builder: std::thread::Builder,
    f: F,
) -> io::Result<std::thread::JoinHandle<()>>
where
    F: FnOnce() + Send + 'static,
{
    let mut set = SigSet::full();
    for fault in [
        libc::SIGSEGV,
        libc::SIGBUS,
        libc::SIGFPE,
        libc::SIGILL,
        libc::SIGTRAP,
        libc::SIGSYS,
    ] {
        set.remove(fault);
    }
    // The new thread inherits the mask in force when it is created, so it has no
    // moment without it.
    let old = sys::thread_sigmask(MaskHow::Block, &set)?;
    let spawned = builder.spawn(f);
    let _ = sys::thread_sigmask(MaskHow::Set, &old);
    spawned
}
