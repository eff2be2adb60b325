//! The listeners of this thread, and the reader task that feeds them.
//!
//! ```text
//!   signal(kind) ──▶ driver::signal::listen (mask, signalfd, forwarding) + a slot
//!   slot polled  ──▶ a reader task on the current runtime, if none runs there:
//!                      loop { wait until the signalfd is readable; read it here
//!                             ─▶ each record: mark the slots of its signal
//!                             pending, wake them }
//!   last slot dropped ──▶ the reader is cancelled, the signalfd released
//! ```
//!
//! The reader waits for the signalfd to be readable (a POLL_ADD op on the ring,
//! epoll readiness on epoll), then reads it with a plain non-blocking `read` on the
//! runtime thread. A signalfd only returns the signals of the thread that reads
//! it (and the process's), so the read itself must never leave this thread, and on
//! io_uring a READ op can. A signalfd has no `read_iter`, only `read`, and the
//! io_uring of 5.10 (also Debian's 5.10.262, which carries the 5.15 one) never
//! tries such a file without blocking (`loop_rw_iter` answers `EAGAIN` at once,
//! `O_NONBLOCK` or not; 6.1's tries an `O_NONBLOCK` one): the READ waits on its
//! internal poll, retries, gets `EAGAIN` again, and after 128 rounds is handed to
//! an io-wq worker thread, whose read of the signalfd sees only the
//! process-directed signals. A signal sent to this thread (`tgkill`, which is how
//! the forwarding handler delivers every signal) then completes the READ with
//! `EAGAIN` and stays pending. A poll of a signalfd is evaluated in the thread
//! that runs the ring's task work, the submitting thread, on every kernel.
//!
//! One reader runs at a time, on the runtime that last polled a listener without
//! finding one there: a thread that alternates between two runtimes moves its
//! reader along. The old reader is cancelled when its runtime next runs (or is
//! dropped); its poll takes nothing from the signalfd, so no signal is lost.

use std::cell::RefCell;
use std::io;
use std::task::{Context, Poll, Waker};

use slab::Slab;

use crate::driver::fd::SharedFd;
use crate::driver::op::{Op, PollAdd};
use crate::driver::signal as sig;
use crate::driver::Interest;
use crate::runtime::context;
use crate::task::JoinHandle;

struct Slot {
    signal: i32,
    /// A delivery not yet yielded.
    pending: bool,
    waker: Option<Waker>,
}

struct Reader {
    /// The runtime it runs on.
    runtime: u64,
    /// Tells this reader from a later one.
    generation: u64,
    handle: JoinHandle<()>,
}

#[derive(Default)]
struct Listeners {
    slots: Slab<Slot>,
    reader: Option<Reader>,
    generations: u64,
}

thread_local! {
    static LISTENERS: RefCell<Listeners> = RefCell::new(Listeners::default());
}

pub(super) fn register(signal: i32) -> io::Result<usize> {
    sig::listen(signal)?;
    Ok(LISTENERS.with(|l| {
        l.borrow_mut().slots.insert(Slot {
            signal,
            pending: false,
            waker: None,
        })
    }))
}

pub(super) fn unregister(key: usize, signal: i32) {
    let reader = LISTENERS
        .try_with(|l| {
            let mut l = l.borrow_mut();
            l.slots.try_remove(key);
            if l.slots.is_empty() {
                l.reader.take()
            } else {
                None
            }
        })
        .ok()
        .flatten();
    sig::unlisten(signal);
    if let Some(reader) = reader {
        // Its poll op is cancelled; the signalfd closes once the kernel is done.
        reader.handle.cancel();
    }
}

pub(super) fn poll(key: usize, cx: &mut Context<'_>) -> Poll<()> {
    let start = LISTENERS.with(|l| {
        let mut l = l.borrow_mut();
        let slot = &mut l.slots[key];
        if slot.pending {
            slot.pending = false;
            return Ok(());
        }
        if !slot.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            slot.waker = Some(cx.waker().clone());
        }
        let runtime = context::current_id();
        let running_here = l.reader.as_ref().is_some_and(|r| r.runtime == runtime);
        Err(runtime != 0 && !running_here)
    });
    match start {
        Ok(()) => Poll::Ready(()),
        Err(true) => {
            start_reader();
            Poll::Pending
        }
        Err(false) => Poll::Pending,
    }
}

/// Starts a reader on the current runtime (a reader of another runtime of this
/// thread, which is not running now, is cancelled).
fn start_reader() {
    let Some(fd) = sig::thread_signalfd() else {
        return;
    };
    let runtime = context::current_id();
    let generation = LISTENERS.with(|l| {
        let mut l = l.borrow_mut();
        l.generations += 1;
        l.generations
    });
    let handle = crate::spawn(read_signals(fd, generation));
    let old = LISTENERS.with(|l| {
        l.borrow_mut().reader.replace(Reader {
            runtime,
            generation,
            handle,
        })
    });
    if let Some(old) = old {
        old.handle.cancel();
    }
}

/// Forgets the reader when its task ends (cancelled with its runtime, or failed).
struct ReaderGone(u64);

impl Drop for ReaderGone {
    fn drop(&mut self) {
        let _ = LISTENERS.try_with(|l| {
            if let Ok(mut l) = l.try_borrow_mut() {
                if l.reader.as_ref().is_some_and(|r| r.generation == self.0) {
                    // Dropped outside the borrow: a `JoinHandle` of a finished task.
                    let reader = l.reader.take();
                    drop(l);
                    drop(reader);
                }
            }
        });
    }
}

async fn read_signals(fd: SharedFd, generation: u64) {
    let _gone = ReaderGone(generation);
    loop {
        match Op::new(PollAdd::new(fd.clone(), Interest::Read)).await {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                eprintln!("ringloop: waiting for signals failed: {e}");
                return;
            }
        }
        match sig::read_pending(&fd) {
            Ok(signals) => deliver(&signals),
            // Readable for another thread's signal: the poll saw it before that
            // thread took it. Wait again.
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                eprintln!("ringloop: reading signals failed: {e}");
                return;
            }
        }
    }
}

/// Marks the listeners of each signal pending and wakes them.
fn deliver(signals: &[i32]) {
    let woken: Vec<Waker> = LISTENERS.with(|l| {
        let mut l = l.borrow_mut();
        l.slots
            .iter_mut()
            .filter(|(_, slot)| signals.contains(&slot.signal))
            .filter_map(|(_, slot)| {
                slot.pending = true;
                slot.waker.take()
            })
            .collect()
    });
    woken.into_iter().for_each(Waker::wake);
}
