//! The park handshake of `runtime/inbox.rs`: a wake from another thread, of a task
//! or of the main future, is never lost. The loop either sees the work before it
//! waits or is woken from its wait; a lost wake-up shows as a deadlock (the loop
//! waits for ever on the eventfd while every waker has finished), which loom
//! reports as a failure.

use ::loom::sync::{Arc, Condvar, Mutex};
use ::loom::thread;

use crate::runtime::inbox::Inbox;

/// The runtime id the models use.
const ID: u64 = 1;

/// The eventfd: a counter that wakers add to, and that the driver drains whenever
/// it reports it readable, waiting for it only in a parked turn.
#[derive(Default)]
struct EventFd {
    count: Mutex<u64>,
    readable: Condvar,
}

impl EventFd {
    /// `eventfd_signal`.
    fn signal(&self) {
        *self.count.lock().unwrap() += 1;
        self.readable.notify_one();
    }

    /// A driver turn that does not wait (its timeout is zero): drains a pending
    /// write, as both drivers do when the eventfd shows up readable.
    fn poll(&self) {
        *self.count.lock().unwrap() = 0;
    }

    /// A driver turn that waits (no timer here): until a write, then drains it.
    fn wait(&self) {
        let mut count = self.count.lock().unwrap();
        while *count == 0 {
            count = self.readable.wait(count).unwrap();
        }
        *count = 0;
    }
}

/// `runtime::Shared` without its slot pool: the inbox and the eventfd.
struct Runtime {
    inbox: Inbox<u32>,
    eventfd: EventFd,
}

impl Runtime {
    fn new() -> Arc<Runtime> {
        let rt = Runtime {
            inbox: Inbox::new(),
            eventfd: EventFd::default(),
        };
        rt.inbox.open(ID);
        Arc::new(rt)
    }

    /// A task's remote wake (`Shared::push_remote`).
    fn push(&self, item: u32) {
        if self.inbox.push(ID, item) == Ok(true) {
            self.eventfd.signal();
        }
    }

    /// The main waker (`MainWaker::wake_by_ref`).
    fn wake_main(&self) {
        if self.inbox.wake_main(ID) {
            self.eventfd.signal();
        }
    }

    /// The loop of `event_loop.rs`, reduced to what touches the inbox, until it has
    /// received `tasks` remote wakes and, if `main`, a main wake. A turn that
    /// received work runs it and is busy: its driver turn does not wait (and drains
    /// the eventfd). Otherwise the turn parks and waits unless `park` says not to.
    fn run_loop(&self, tasks: usize, main: bool) {
        let mut received = 0;
        let mut main_received = !main;
        let mut buf = Vec::new();
        loop {
            let mut busy = false;
            if self.inbox.take_main_woken() {
                main_received = true;
                busy = true;
            }
            if self.inbox.has_pending() {
                self.inbox.take(&mut buf);
                received += buf.len();
                busy |= !buf.is_empty();
                buf.clear();
            }
            if received == tasks && main_received {
                return;
            }
            if busy {
                self.eventfd.poll();
                continue;
            }
            if self.inbox.park() {
                self.eventfd.wait();
            } else {
                self.eventfd.poll();
            }
            self.inbox.unparked();
        }
    }
}

#[test]
fn a_remote_wake_is_never_lost() {
    super::check(|| {
        let rt = Runtime::new();
        let waker = {
            let rt = rt.clone();
            thread::spawn(move || rt.push(1))
        };
        rt.run_loop(1, false);
        waker.join().unwrap();
    });
}

#[test]
fn a_main_wake_is_never_lost() {
    super::check(|| {
        let rt = Runtime::new();
        let waker = {
            let rt = rt.clone();
            thread::spawn(move || rt.wake_main())
        };
        rt.run_loop(0, true);
        waker.join().unwrap();
    });
}

/// Two remote wakes and a main wake, so that the loop parks more than once while
/// wakers run: a waker's `notified` from one park must not silence the next park's
/// wakers (the lost wake-up described in `inbox.rs`).
#[test]
fn wakes_across_two_parks() {
    super::check(|| {
        let rt = Runtime::new();
        let wakers = [
            thread::spawn({
                let rt = rt.clone();
                move || rt.push(1)
            }),
            thread::spawn({
                let rt = rt.clone();
                move || rt.push(2)
            }),
            thread::spawn({
                let rt = rt.clone();
                move || rt.wake_main()
            }),
        ];
        rt.run_loop(2, true);
        for waker in wakers {
            waker.join().unwrap();
        }
    });
}

/// One thread waking twice: its second wake meets a later park than its first.
#[test]
fn one_thread_waking_twice() {
    super::check(|| {
        let rt = Runtime::new();
        let waker = {
            let rt = rt.clone();
            thread::spawn(move || {
                rt.push(1);
                rt.push(2);
            })
        };
        rt.run_loop(2, false);
        waker.join().unwrap();
    });
}
