//! Unix signals as streams: [`signal`]`(kind)` and [`ctrl_c`], like asyncio's
//! `loop.add_signal_handler` (and tokio's `signal::unix`).
//!
//! ```no_run
//! use ringloop::signal::{ctrl_c, signal, SignalKind};
//! ringloop::run(async {
//!     // A daemon: reload on SIGHUP, until Ctrl-C.
//!     let mut hangups = signal(SignalKind::hangup()).unwrap();
//!     let reloader = ringloop::spawn(async move {
//!         loop {
//!             hangups.recv().await;
//!             println!("SIGHUP: reloading the configuration");
//!         }
//!     });
//!     ctrl_c().await.unwrap();
//!     reloader.cancel();
//! });
//! ```
//!
//! # How it works, and what it means for threads
//!
//! Signals are read from a signalfd, with a plain `read` on the runtime thread each
//! time a poll of it (a POLL_ADD op on the ring, or epoll), which a reader task of
//! the runtime keeps in flight, reports it readable. For that, a thread
//! that listens for a signal blocks it in its own mask; the thread's other
//! runtimes, if any, share its listeners. Signal masks belong to threads, and the
//! kernel gives a signal sent to the process to any thread that does not block it,
//! so while a signal is listened for, ringloop also installs a tiny process-wide
//! handler for it (only where its disposition was the default or "ignore"): on
//! whichever thread the signal lands, the handler forwards it to every listening
//! thread. The reaper of dropped children (a thread of ringloop's that runs no
//! user code) blocks every asynchronous signal and never takes one.
//!
//! The semantics that follow:
//!
//! * **Every listener sees every delivery.** Each [`Signal`] stream (of any runtime
//!   on any thread) for a signal sent to the process yields an item for it; two
//!   streams of one signal both do. A signal sent to one thread (`pthread_kill`)
//!   reaches that thread's listeners only.
//! * **Deliveries coalesce.** Signals are not queued (the kernel merges a signal
//!   that is sent again before it was taken), and a stream yields one item for one
//!   or more deliveries since its last item.
//! * **From registration on.** A stream sees what is sent after [`signal`]
//!   returns, even before it is first polled; not what was sent before.
//! * **Only while listened for.** When the last stream of a signal is dropped, the
//!   signal is unblocked and its previous disposition restored: a `SIGINT` nobody
//!   listens for ends the program again. (asyncio's `remove_signal_handler`; tokio
//!   instead keeps its handler for the rest of the process.)
//! * **The program's own handlers win.** If the program installed a handler for the
//!   signal itself, ringloop leaves it: the signal then reaches ringloop's
//!   listeners only when it is sent to a listening thread or lands on one.
//! * **Child processes and pool threads do not inherit it.** A thread's mask is
//!   inherited by the threads and processes it starts, and std's `Command` keeps
//!   it across `exec`; so [`process::Command`](crate::process::Command) unblocks,
//!   in the child before `exec`, the signals ringloop blocked on the spawning
//!   thread, and [`to_thread`](crate::to_thread)'s pool threads start without them
//!   (a process a job starts is fine too). [`process`](crate::process) never uses
//!   `SIGCHLD` (it waits on pidfds), so listening for [`SignalKind::child`] takes
//!   nothing from [`Child::wait`](crate::process::Child::wait).
//! * **Threads the program starts** while a signal is listened for inherit it
//!   blocked, from the thread that starts them: they never take it, which is what
//!   listening wants; but a process they start with std's `Command` (or a raw
//!   `fork`) inherits it blocked too.

mod listeners;

use std::fmt;
use std::future::poll_fn;
use std::io;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;

/// A signal to listen for (or to send to a child,
/// [`Child::send_signal`](crate::process::Child::send_signal)).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SignalKind(i32);

impl SignalKind {
    /// Any signal by number (`libc::SIGWINCH`, a real-time signal...).
    pub const fn from_raw(signal: i32) -> SignalKind {
        SignalKind(signal)
    }

    /// The signal's number.
    pub const fn as_raw(self) -> i32 {
        self.0
    }

    /// `SIGALRM`.
    pub const fn alarm() -> SignalKind {
        SignalKind(libc::SIGALRM)
    }

    /// `SIGCHLD`: a child stopped, continued or exited.
    pub const fn child() -> SignalKind {
        SignalKind(libc::SIGCHLD)
    }

    /// `SIGHUP`: the terminal went away; daemons reload their configuration.
    pub const fn hangup() -> SignalKind {
        SignalKind(libc::SIGHUP)
    }

    /// `SIGINT`: Ctrl-C at the terminal.
    pub const fn interrupt() -> SignalKind {
        SignalKind(libc::SIGINT)
    }

    /// `SIGIO`.
    pub const fn io() -> SignalKind {
        SignalKind(libc::SIGIO)
    }

    /// `SIGPIPE`. (ringloop's own pipe writes never raise one: they fail with
    /// `EPIPE`.)
    pub const fn pipe() -> SignalKind {
        SignalKind(libc::SIGPIPE)
    }

    /// `SIGQUIT`: Ctrl-\ at the terminal.
    pub const fn quit() -> SignalKind {
        SignalKind(libc::SIGQUIT)
    }

    /// `SIGTERM`: the polite request to exit (`kill`'s default).
    pub const fn terminate() -> SignalKind {
        SignalKind(libc::SIGTERM)
    }

    /// `SIGUSR1`.
    pub const fn user_defined1() -> SignalKind {
        SignalKind(libc::SIGUSR1)
    }

    /// `SIGUSR2`.
    pub const fn user_defined2() -> SignalKind {
        SignalKind(libc::SIGUSR2)
    }

    /// `SIGWINCH`: the terminal was resized.
    pub const fn window_change() -> SignalKind {
        SignalKind(libc::SIGWINCH)
    }
}

impl fmt::Debug for SignalKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self.0 {
            libc::SIGALRM => "SIGALRM",
            libc::SIGCHLD => "SIGCHLD",
            libc::SIGHUP => "SIGHUP",
            libc::SIGINT => "SIGINT",
            libc::SIGIO => "SIGIO",
            libc::SIGKILL => "SIGKILL",
            libc::SIGPIPE => "SIGPIPE",
            libc::SIGQUIT => "SIGQUIT",
            libc::SIGTERM => "SIGTERM",
            libc::SIGUSR1 => "SIGUSR1",
            libc::SIGUSR2 => "SIGUSR2",
            libc::SIGWINCH => "SIGWINCH",
            n => return write!(f, "SignalKind({n})"),
        };
        f.write_str(name)
    }
}

impl From<SignalKind> for i32 {
    fn from(kind: SignalKind) -> i32 {
        kind.0
    }
}

/// The deliveries of one signal, as a [`Stream`] of `()` (see [`signal`]); it
/// never ends. Listening stops when it is dropped.
///
/// Not `Send`: it belongs to the thread that created it, like the signal mask it
/// set there.
pub struct Signal {
    key: usize,
    kind: SignalKind,
    _not_send: PhantomData<*const ()>,
}

/// Listens for `kind` on this thread, from now on (see the [module
/// docs](self)): the returned stream yields an item for each delivery (or group of
/// coalesced deliveries) of the signal.
///
/// Errors: `InvalidInput` for `SIGKILL`, `SIGSTOP` (which cannot be caught), the
/// faults `SIGSEGV`, `SIGBUS`, `SIGFPE`, `SIGILL`, and numbers that are no
/// signal; the signalfd's errors (`EMFILE`...). The stream must be polled on a
/// ringloop runtime, which reads the signals.
///
/// ```
/// use ringloop::signal::{signal, SignalKind};
/// ringloop::run(async {
///     let mut usr1 = signal(SignalKind::user_defined1()).unwrap();
///     // Sent to the whole process, by `kill -USR1 <pid>`.
///     let pid = std::process::id().to_string();
///     std::process::Command::new("kill").args(["-USR1", &pid]).status().unwrap();
///     usr1.recv().await;
/// });
/// ```
pub fn signal(kind: SignalKind) -> io::Result<Signal> {
    let key = listeners::register(kind.0)?;
    Ok(Signal {
        key,
        kind,
        _not_send: PhantomData,
    })
}

impl Signal {
    /// The signal listened for.
    pub fn kind(&self) -> SignalKind {
        self.kind
    }

    /// Waits for the next delivery.
    ///
    /// Cancel-safe: a delivery that arrives while nobody awaits is kept for the
    /// next call.
    pub async fn recv(&mut self) {
        poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// Polls for the next delivery (what [`recv`](Self::recv) and the [`Stream`]
    /// do).
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        listeners::poll(self.key, cx)
    }
}

impl Stream for Signal {
    type Item = ();

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<()>> {
        self.get_mut().poll_recv(cx).map(Some)
    }
}

impl Drop for Signal {
    fn drop(&mut self) {
        listeners::unregister(self.key, self.kind.0);
    }
}

impl fmt::Debug for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signal").field("kind", &self.kind).finish()
    }
}

/// Waits for `SIGINT` (Ctrl-C), like asyncio's handling of `KeyboardInterrupt` in
/// a `loop.add_signal_handler(SIGINT, ...)`. Listening starts at the first poll and
/// ends when the future completes or is dropped: a second Ctrl-C after it returned
/// ends the program (the default action), unless it listens again.
///
/// Cancel-safe, in that a dropped call leaves nothing behind; a `SIGINT` that
/// arrives between the drop and the next call takes the default action.
///
/// ```no_run
/// ringloop::run(async {
///     ringloop::signal::ctrl_c().await.unwrap();
///     println!("interrupted: shutting down");
/// });
/// ```
pub async fn ctrl_c() -> io::Result<()> {
    let mut interrupts = signal(SignalKind::interrupt())?;
    interrupts.recv().await;
    Ok(())
}
