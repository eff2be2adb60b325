//! Signals while parked: a SIGUSR1 handler installed without `SA_RESTART` makes the
//! loop's wait (`io_uring_enter`, or `epoll_wait`) fail with `EINTR`; sent several
//! times to the runtime thread while it sleeps, the handler must run and the sleep
//! must still end on time, never early; while it waits with no timer at all, a
//! cross-thread wake-up after the signals must still get through.
//!
//! Then `ringloop::signal` on every driver: a signal sent to the process reaches its
//! listeners (also when another thread that does not block it exists), `ctrl_c`
//! resolves on SIGINT, two listeners of one signal (in one runtime, or in runtimes
//! on two threads) both see it, deliveries coalesce, listening for SIGCHLD coexists
//! with `Child::wait`, the last listener's drop restores the mask and the
//! disposition, pool threads and child processes do not inherit the signals
//! ringloop blocked, the reaper thread blocks every signal, and a SIGPIPE listener
//! and pipe writes in flight hand the SIGPIPE block to each other. Signals are process-wide,
//! so each of those tests runs alone in a child process.

mod support;

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

// ----- ringloop::signal ----------------------------------------------------------

use std::future::Future;
use std::pin::pin;

use ringloop::signal::{ctrl_c, signal, Signal as Listener, SignalKind};
use support::{isolated, Mode};

// Most tests below run alone in a child process (`isolated`): signals and
// dispositions are process-wide, and the handler the tests above install for
// SIGUSR1 must not be there.

/// How long a signal may take to arrive before the test fails.
const ARRIVAL: Duration = Duration::from_secs(10);

/// Sends `signal` to the whole process, as `kill -SIG <pid>` does.
fn send_to_process(signal: i32) {
    let pid = std::process::id() as libc::pid_t;
    // SAFETY: kill with our own pid and a valid signal number.
    let rc = unsafe { libc::kill(pid, signal) };
    assert_eq!(rc, 0, "kill: {}", std::io::Error::last_os_error());
}

/// Waits for the next delivery on `s`, failing the test after [`ARRIVAL`].
async fn next(s: &mut Listener, what: &str) {
    if ringloop::wait_for(ARRIVAL, s.recv()).await.is_err() {
        panic!("{what}: no signal within {ARRIVAL:?}");
    }
}

/// Whether `s` has a delivery ready now (after letting the loop turn a few times).
async fn has_delivery(s: &mut Listener) -> bool {
    for _ in 0..3 {
        ringloop::yield_now().await;
    }
    ringloop::sleep(Duration::from_millis(20)).await;
    let mut recv = pin!(s.recv());
    poll_fn(|cx| Poll::Ready(recv.as_mut().poll(cx).is_ready())).await
}

/// Whether this thread's mask blocks `signal`.
fn blocked_here(signal: i32) -> bool {
    // SAFETY: sigset_t is plain data; the call fills it in.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: a null new set only reads the current mask into `set`.
    let rc = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, std::ptr::null(), &mut set) };
    assert_eq!(rc, 0);
    // SAFETY: `set` is initialised.
    unsafe { libc::sigismember(&set, signal) == 1 }
}

/// The handler address of `signal`'s disposition (`SIG_DFL` is 0).
fn disposition(signal: i32) -> usize {
    // SAFETY: plain data, filled in by the call.
    let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: a null new action only reads the current one.
    let rc = unsafe { libc::sigaction(signal, std::ptr::null(), &mut old) };
    assert_eq!(rc, 0);
    old.sa_sigaction
}

/// The set of signals a thread of this process blocks (`SigBlk` of
/// `/proc/self/task/<tid>/status`), as a bit mask (bit n-1: signal n).
fn task_sigblk(tid: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/self/task/{tid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("SigBlk:")).unwrap();
    u64::from_str_radix(line["SigBlk:".len()..].trim(), 16).unwrap()
}

/// The thread ids of this process's threads named `name`.
fn threads_named(name: &str) -> Vec<String> {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|e| {
            let tid = e.ok()?.file_name().into_string().ok()?;
            let comm = std::fs::read_to_string(format!("/proc/self/task/{tid}/comm")).ok()?;
            (comm.trim() == name).then_some(tid)
        })
        .collect()
}

matrix_test! {
    fn a_signal_sent_to_the_process_reaches_its_listener(mode) {
        isolated(mode, module_path!(), || {
            // An idle thread that blocks nothing: the kernel may hand it the signal,
            // whose default action would end the process.
            let (stop_tx, stop_rx) = mpsc::channel::<()>();
            let bystander = std::thread::spawn(move || {
                let _ = stop_rx.recv_timeout(Duration::from_secs(60));
            });
            mode.run(async {
                let mut usr1 = signal(SignalKind::user_defined1()).unwrap();
                let mut hup = signal(SignalKind::hangup()).unwrap();
                assert_eq!(usr1.kind(), SignalKind::user_defined1());
                for round in 0..5 {
                    send_to_process(libc::SIGUSR1);
                    next(&mut usr1, &format!("SIGUSR1, round {round}")).await;
                    assert!(!has_delivery(&mut hup).await, "SIGHUP was not sent");
                }
                // A child spawned meanwhile starts with nothing blocked.
                let out = ringloop::process::Command::new("grep")
                    .args(["^SigBlk:", "/proc/self/status"])
                    .output()
                    .await
                    .unwrap();
                assert_eq!(String::from_utf8(out.stdout).unwrap(), "SigBlk:\t0000000000000000\n");
                send_to_process(libc::SIGHUP);
                next(&mut hup, "SIGHUP").await;
                assert!(!has_delivery(&mut usr1).await);
                // Sent to this thread only.
                // SAFETY: raise with a valid signal, which this thread blocks.
                assert_eq!(unsafe { libc::raise(libc::SIGUSR1) }, 0);
                next(&mut usr1, "raised SIGUSR1").await;
                // As a Stream.
                send_to_process(libc::SIGUSR1);
                let item = ringloop::wait_for(ARRIVAL, poll_fn(|cx| {
                    futures_core::Stream::poll_next(std::pin::Pin::new(&mut usr1), cx)
                }))
                .await
                .expect("the stream's item");
                assert_eq!(item, Some(()));
            });
            stop_tx.send(()).unwrap();
            bystander.join().unwrap();
        });
    }
}

matrix_test! {
    fn ctrl_c_resolves_on_sigint(mode) {
        isolated(mode, module_path!(), || {
            // A process started in the background by a non-interactive shell
            // (`cmd &`) inherits SIGINT ignored: start from the default, as at a
            // terminal.
            // SAFETY: setting a signal's disposition to SIG_DFL.
            assert_ne!(unsafe { libc::signal(libc::SIGINT, libc::SIG_DFL) }, libc::SIG_ERR);
            assert_eq!(disposition(libc::SIGINT), libc::SIG_DFL);
            mode.run(async {
                let mut interrupted = pin!(ctrl_c());
                // The first poll starts listening.
                assert!(poll_fn(|cx| Poll::Ready(interrupted.as_mut().poll(cx).is_pending())).await);
                assert!(blocked_here(libc::SIGINT));
                send_to_process(libc::SIGINT);
                match ringloop::wait_for(ARRIVAL, interrupted).await {
                    Ok(result) => result.unwrap(),
                    Err(_) => panic!("ctrl_c did not resolve on SIGINT"),
                }
                // Done listening: SIGINT is back to its default, unblocked.
                assert!(!blocked_here(libc::SIGINT));
                assert_eq!(disposition(libc::SIGINT), libc::SIG_DFL);
                // Twice in a row.
                let mut again = pin!(ctrl_c());
                assert!(poll_fn(|cx| Poll::Ready(again.as_mut().poll(cx).is_pending())).await);
                send_to_process(libc::SIGINT);
                ringloop::wait_for(ARRIVAL, again).await.expect("second ctrl_c").unwrap();
            });
        });
    }
}

matrix_test! {
    fn two_listeners_of_one_signal_both_see_it(mode) {
        isolated(mode, module_path!(), || {
            mode.run(async {
                let mut a = signal(SignalKind::user_defined2()).unwrap();
                let mut b = signal(SignalKind::user_defined2()).unwrap();
                send_to_process(libc::SIGUSR2);
                next(&mut a, "first listener").await;
                next(&mut b, "second listener").await;
                drop(a);
                send_to_process(libc::SIGUSR2);
                next(&mut b, "the listener left").await;
                // A listener created after a delivery does not see it.
                let mut late = signal(SignalKind::user_defined2()).unwrap();
                assert!(!has_delivery(&mut late).await);
            });

            // Runtimes on two threads, each listening: one signal sent to the process
            // reaches both.
            let (ready_tx, ready_rx) = mpsc::channel::<()>();
            let (got_tx, got_rx) = mpsc::channel::<usize>();
            let threads: Vec<_> = (0..2)
                .map(|i| {
                    let (ready_tx, got_tx) = (ready_tx.clone(), got_tx.clone());
                    std::thread::spawn(move || {
                        mode.run(async move {
                            let mut s = signal(SignalKind::user_defined2()).unwrap();
                            ready_tx.send(()).unwrap();
                            for _ in 0..3 {
                                next(&mut s, &format!("thread {i}")).await;
                                got_tx.send(i).unwrap();
                            }
                        })
                    })
                })
                .collect();
            for _ in 0..2 {
                ready_rx.recv_timeout(ARRIVAL).unwrap();
            }
            for round in 0..3 {
                send_to_process(libc::SIGUSR2);
                let mut got = [
                    got_rx.recv_timeout(ARRIVAL).unwrap_or_else(|_| panic!("round {round}")),
                    got_rx.recv_timeout(ARRIVAL).unwrap_or_else(|_| panic!("round {round}")),
                ];
                got.sort();
                assert_eq!(got, [0, 1], "round {round}: each thread once");
            }
            for t in threads {
                t.join().unwrap();
            }
        });
    }
}

matrix_test! {
    fn deliveries_coalesce_and_listening_ends_with_the_last_listener(mode) {
        isolated(mode, module_path!(), || {
            // The first runtime of a process leaves its wake-up eventfd for the next.
            drop(mode.runtime());
            let fds = support::open_fds();
            mode.run(async {
                let mut s = signal(SignalKind::window_change()).unwrap();
                assert!(blocked_here(libc::SIGWINCH));
                assert_ne!(disposition(libc::SIGWINCH), libc::SIG_DFL);
                // Several sends before the stream is polled: one item (the kernel
                // merges a pending signal), at most as many as sent.
                for _ in 0..3 {
                    send_to_process(libc::SIGWINCH);
                }
                next(&mut s, "coalesced").await;
                let mut extra = 0;
                while has_delivery(&mut s).await {
                    extra += 1;
                }
                assert!(extra <= 2, "{extra}");
                drop(s);
                assert!(!blocked_here(libc::SIGWINCH));
                assert_eq!(disposition(libc::SIGWINCH), libc::SIG_DFL);
                // The signalfd is closed (through the ring: a turn later).
                ringloop::sleep(Duration::from_millis(10)).await;
            });
            assert_eq!(support::open_fds(), fds, "the signalfd was not closed");

            // A listener that outlives its runtime works on the next one.
            let mut s = mode.run(async { signal(SignalKind::user_defined1()).unwrap() });
            mode.run(async {
                send_to_process(libc::SIGUSR1);
                next(&mut s, "on the second runtime").await;
            });
            drop(s);
            assert!(!blocked_here(libc::SIGUSR1));
        });
    }
}

matrix_test! {
    fn sigchld_listening_coexists_with_child_wait(mode) {
        isolated(mode, module_path!(), || {
            mode.run(async {
                let mut chld = signal(SignalKind::child()).unwrap();
                for i in 0..5 {
                    let mut child = ringloop::process::create_subprocess_shell(format!("exit {i}"))
                        .spawn()
                        .unwrap();
                    let status = ringloop::wait_for(ARRIVAL, child.wait()).await.unwrap().unwrap();
                    assert_eq!(status.code(), Some(i));
                    next(&mut chld, "SIGCHLD").await;
                }
                // Many at once: every wait completes, and SIGCHLD came (coalesced).
                let children: Vec<_> = (0..20)
                    .map(|_| ringloop::process::Command::new("true").spawn().unwrap())
                    .collect();
                let waits = children.into_iter().map(|mut c| async move { c.wait().await });
                let statuses = ringloop::wait_for(ARRIVAL, ringloop::gather_all(waits)).await.unwrap();
                assert!(statuses.into_iter().all(|s| s.unwrap().success()));
                next(&mut chld, "SIGCHLD of the batch").await;
            });
            // SIGCHLD is back to its default (not "ignore", which would reap
            // children behind Child::wait's back).
            assert_eq!(disposition(libc::SIGCHLD), libc::SIG_DFL);
        });
    }
}

matrix_test! {
    fn threads_and_children_do_not_inherit_what_ringloop_blocks(mode) {
        isolated(mode, module_path!(), || {
            let bit = |s: i32| 1u64 << (s - 1);
            mode.run(async {
                // Listening blocks SIGUSR1 on this thread; a pool thread started
                // now, and the processes its jobs start, must not have it blocked.
                let _usr1 = signal(SignalKind::user_defined1()).unwrap();
                assert!(blocked_here(libc::SIGUSR1));
                let (pool_mask, grandchild) = ringloop::to_thread(|| {
                    let tid = std::fs::read_link("/proc/thread-self").unwrap();
                    let tid = tid.file_name().unwrap().to_str().unwrap().to_owned();
                    let out = std::process::Command::new("grep")
                        .args(["^SigBlk:", "/proc/self/status"])
                        .output()
                        .unwrap();
                    (task_sigblk(&tid), String::from_utf8(out.stdout).unwrap())
                })
                .await
                .unwrap();
                assert_eq!(pool_mask, 0, "the pool thread blocks {pool_mask:#x}");
                assert_eq!(grandchild, "SigBlk:\t0000000000000000\n");
                // A process started by ringloop from this thread: nothing blocked
                // either (std's Command keeps the mask; ringloop unblocks its own).
                let out = ringloop::process::Command::new("grep")
                    .args(["^SigBlk:", "/proc/self/status"])
                    .output()
                    .await
                    .unwrap();
                assert_eq!(String::from_utf8(out.stdout).unwrap(), "SigBlk:\t0000000000000000\n");

                // The reaper (started by a dropped child that still runs) runs no
                // user code and blocks every asynchronous signal.
                let child = ringloop::process::Command::new("sleep").arg("0.2").spawn().unwrap();
                drop(child);
                // The thread names itself as it starts.
                let mut reapers = threads_named("ringloop-reaper");
                for _ in 0..200 {
                    if !reapers.is_empty() {
                        break;
                    }
                    ringloop::sleep(Duration::from_millis(5)).await;
                    reapers = threads_named("ringloop-reaper");
                }
                assert_eq!(reapers.len(), 1, "{reapers:?}");
                let reaper_mask = task_sigblk(&reapers[0]);
                for s in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGUSR1, libc::SIGCHLD, libc::SIGPIPE] {
                    assert_ne!(reaper_mask & bit(s), 0, "the reaper does not block {s}");
                }
                for s in [libc::SIGSEGV, libc::SIGBUS, libc::SIGFPE, libc::SIGILL] {
                    assert_eq!(reaper_mask & bit(s), 0, "the reaper blocks fault {s}");
                }
            });
            // Nothing listens any more: this thread's mask is as it was.
            assert!(!blocked_here(libc::SIGUSR1) && !blocked_here(libc::SIGPIPE));
        });
    }
}

#[test]
fn signals_that_cannot_be_listened_for_are_refused() {
    Mode::Epoll.run(async {
        for raw in [
            0,
            -1,
            libc::SIGKILL,
            libc::SIGSTOP,
            libc::SIGSEGV,
            libc::SIGBUS,
            libc::SIGFPE,
            libc::SIGILL,
            32,
            65,
            1000,
        ] {
            let err = signal(SignalKind::from_raw(raw)).unwrap_err();
            assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{raw}: {err}");
        }
        assert_eq!(format!("{:?}", SignalKind::interrupt()), "SIGINT");
        assert_eq!(SignalKind::terminate().as_raw(), libc::SIGTERM);
    });
}

/// A child that never reads its stdin, and that stdin filled: the next pipe write
/// of this thread stays in flight until the child is killed.
async fn stalled_writer() -> (ringloop::process::Child, ringloop::net::StreamWriter) {
    use ringloop::process::{Command, Stdio};
    let mut child = Command::new("sleep")
        .arg("30")
        .stdin(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let stdin = child.stdin.take().unwrap();
    // 1 MiB against a 64 KiB pipe: a write is in flight from here on.
    stdin.write(&vec![7u8; 1 << 20]).unwrap();
    ringloop::sleep(Duration::from_millis(50)).await;
    (child, stdin)
}

/// Kills `child`; the write in flight to its stdin then fails with EPIPE.
async fn break_pipe(mut child: ringloop::process::Child, stdin: ringloop::net::StreamWriter) {
    child.kill().unwrap();
    child.wait().await.unwrap();
    let err = ringloop::wait_for(ARRIVAL, stdin.drain())
        .await
        .expect("the write ends")
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::BrokenPipe, "{err}");
}

matrix_test! {
    fn a_sigpipe_listener_and_pipe_writes_share_the_block(mode) {
        isolated(mode, module_path!(), || {
            // SIGPIPE's default action ends the process (Rust's runtime ignores it
            // before main; a library cannot count on that).
            // SAFETY: setting a signal's disposition to SIG_DFL.
            assert_ne!(unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) }, libc::SIG_ERR);
            mode.run(async {
                // The last listener goes while a pipe write is in flight: the
                // write keeps SIGPIPE blocked, and its EPIPE kills nothing.
                let listener = signal(SignalKind::pipe()).unwrap();
                let (child, stdin) = stalled_writer().await;
                drop(listener);
                assert!(blocked_here(libc::SIGPIPE), "a pipe write is in flight");
                assert_eq!(disposition(libc::SIGPIPE), libc::SIG_DFL);
                break_pipe(child, stdin).await;
                assert!(!blocked_here(libc::SIGPIPE));

                // A listener starts while a pipe write is in flight: the write's
                // end leaves SIGPIPE blocked for the listener, which does not see
                // the SIGPIPE of our EPIPE, and still sees one sent to the process.
                let (child, stdin) = stalled_writer().await;
                let mut listener = signal(SignalKind::pipe()).unwrap();
                break_pipe(child, stdin).await;
                assert!(blocked_here(libc::SIGPIPE), "the listener keeps it blocked");
                assert!(!has_delivery(&mut listener).await, "the SIGPIPE of our own EPIPE");
                send_to_process(libc::SIGPIPE);
                next(&mut listener, "SIGPIPE sent to the process").await;
                drop(listener);
                assert!(!blocked_here(libc::SIGPIPE));
                assert_eq!(disposition(libc::SIGPIPE), libc::SIG_DFL);
            });
        });
    }
}
