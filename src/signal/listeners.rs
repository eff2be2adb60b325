//! The listeners of this thread, and the reader task that feeds them.
//!
//! ```text
//!   signal(kind) ──▶ driver::signal::listen (mask, signalfd, forwarding) + a slot
//!   slot polled  ──▶ a reader task on the current runtime, if none runs there:
//!                      loop { READ op on the signalfd ─▶ each record: mark the
//!                             slots of its signal pending, wake them }
//!   last slot dropped ──▶ the reader is cancelled, the signalfd released
//! ```
//!
//! The reader's READ op on io_uring runs in the runtime thread (the signalfd is
//! non-blocking, so the kernel tries it inline and, on `EAGAIN`, the op polls the
//! descriptor and retries there): a signalfd only sees the signals of the thread
//! that reads it, so the read must not move to another thread.
//!
//! One reader runs at a time, on the runtime that last polled a listener without
//! finding one there: a thread that alternates between two runtimes moves its
//! reader along. The old reader is cancelled when its runtime next runs (or is
//! dropped); a signal its read took meanwhile is not lost but late: the read's
//! bytes are kept with the descriptor (`driver/stash.rs`) for the next read.

use std::cell::RefCell;
use std::io;
use std::task::{Context, Poll, Waker};

use slab::Slab;

use crate::driver::fd::SharedFd;
use crate::driver::op::{Op, Read};
use crate::driver::signal::{self as sig, RECORD};
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

/// Signals read at most per read op.
const BATCH: usize = 16;

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
        // Its read op is cancelled; the signalfd closes once the kernel is done.
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
    let mut buf = Vec::with_capacity(RECORD * BATCH);
    loop {
        let (result, mut got) = Op::new(Read::new(fd.clone(), buf, None)).await;
        match result {
            Ok(n) if n > 0 => deliver(&sig::take_records(&got[..n])),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => {
                eprintln!("ringloop: reading signals failed: {e}");
                return;
            }
        }
        got.clear();
        buf = got;
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
