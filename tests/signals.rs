//! Signals while parked: a SIGUSR1 handler installed without `SA_RESTART` makes the
//! loop's wait (`io_uring_enter`, or `epoll_wait`) fail with `EINTR`; sent several
//! times to the runtime thread while it sleeps, the handler must run and the sleep
//! must still end on time, never early; while it waits with no timer at all, a
//! cross-thread wake-up after the signals must still get through.

mod common;

use std::cell::Cell;
use std::future::poll_fn;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};

/// Set by the handler (in any thread of this process).
static HANDLER_RAN: AtomicBool = AtomicBool::new(false);

thread_local! {
    /// Handler runs on this thread. Const-initialised and without a destructor, so
    /// touching it from a signal handler allocates nothing and takes no lock.
    static RUNS_HERE: Cell<usize> = const { Cell::new(0) };
}

extern "C" fn on_sigusr1(_signal: libc::c_int) {
    HANDLER_RAN.store(true, Ordering::SeqCst);
    RUNS_HERE.with(|runs| runs.set(runs.get() + 1));
}

fn install_handler() {
    // No SA_RESTART: interrupted system calls fail with EINTR.
    let action = SigAction::new(
        SigHandler::Handler(on_sigusr1),
        SaFlags::empty(),
        SigSet::empty(),
    );
    // SAFETY: the handler only touches an atomic and a const-initialised thread local
    // without destructor, both async-signal-safe; every test of this binary installs
    // the same handler, so replacing a previous one changes nothing.
    unsafe { sigaction(Signal::SIGUSR1, &action) }.expect("sigaction(SIGUSR1)");
}

const SIGNALS: usize = 4;

matrix_test! {
    fn sleep_survives_signals_while_parked(mode) {
        install_handler();
        // SAFETY: pthread_self has no preconditions.
        let me = unsafe { libc::pthread_self() };
        let (tx, rx) = mpsc::channel::<libc::pthread_t>();
        let signaller = std::thread::spawn(move || {
            let target = rx
                .recv_timeout(Duration::from_secs(10))
                .expect("no thread id");
            for _ in 0..SIGNALS {
                std::thread::sleep(Duration::from_millis(50));
                // SAFETY: `target` is the test thread, which joins this thread before
                // it returns, so it is alive; SIGUSR1 has a handler installed.
                let rc = unsafe { libc::pthread_kill(target, libc::SIGUSR1) };
                assert_eq!(rc, 0, "pthread_kill failed");
            }
        });
        let runs_before = RUNS_HERE.with(Cell::get);
        let d = Duration::from_millis(300);
        let elapsed = mode.run(async move {
            tx.send(me).unwrap();
            let start = Instant::now();
            ringloop::sleep(d).await;
            let elapsed = start.elapsed();
            // The loop still works after the interruptions.
            assert_eq!(ringloop::spawn(async { 1 }).await, Ok(1));
            elapsed
        });
        signaller.join().expect("the signalling thread failed");
        let runs = RUNS_HERE.with(Cell::get) - runs_before;
        assert!(HANDLER_RAN.load(Ordering::SeqCst));
        // Two signals may merge if this thread was descheduled between them.
        assert!(
            (1..=SIGNALS).contains(&runs),
            "the handler ran {runs} times"
        );
        assert!(elapsed >= d, "the sleep ended early: {elapsed:?}");
        assert!(elapsed < d * 5 + Duration::from_millis(200), "{elapsed:?}");
    }
}

matrix_test! {
    fn a_wait_without_timers_survives_signals(mode) {
        install_handler();
        let (id_tx, id_rx) = mpsc::channel::<(libc::pthread_t, Waker)>();
        let (result_tx, result_rx) = mpsc::channel();
        let (exit_tx, exit_rx) = mpsc::channel::<()>();
        let done = Arc::new(AtomicBool::new(false));
        let d = done.clone();
        // The runtime runs on its own thread, so that a hung loop fails the test
        // instead of hanging it; the thread stays alive until told to exit, so that
        // it is never signalled after it ended.
        let runtime_thread = std::thread::spawn(move || {
            // SAFETY: pthread_self has no preconditions.
            let me = unsafe { libc::pthread_self() };
            let outcome = catch_unwind(AssertUnwindSafe(|| {
                mode.run(async move {
                    let start = Instant::now();
                    let mut sent = false;
                    // No timer anywhere: the loop waits without a timeout.
                    poll_fn(|cx| {
                        if d.load(Ordering::SeqCst) {
                            return Poll::Ready(());
                        }
                        if !sent {
                            id_tx.send((me, cx.waker().clone())).unwrap();
                            sent = true;
                        }
                        Poll::Pending
                    })
                    .await;
                    start.elapsed()
                })
            }));
            let _ = result_tx.send((outcome.is_ok(), RUNS_HERE.with(Cell::get)));
            let _ = exit_rx.recv_timeout(Duration::from_secs(60));
        });
        let (target, waker) = id_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("no waker");
        for _ in 0..SIGNALS {
            std::thread::sleep(Duration::from_millis(50));
            // SAFETY: the runtime thread only exits after `exit_tx` says so, below;
            // SIGUSR1 has a handler installed.
            let rc = unsafe { libc::pthread_kill(target, libc::SIGUSR1) };
            assert_eq!(rc, 0, "pthread_kill failed");
        }
        std::thread::sleep(Duration::from_millis(50));
        done.store(true, Ordering::SeqCst);
        waker.wake();
        let outcome = result_rx.recv_timeout(Duration::from_secs(20));
        let _ = exit_tx.send(());
        runtime_thread.join().unwrap();
        let (completed, runs) = outcome.expect("the loop missed the wake-up after the signals");
        assert!(completed, "the runtime panicked");
        assert!(
            (1..=SIGNALS).contains(&runs),
            "the handler ran {runs} times"
        );
    }
}
