//! Thread-per-core programs, on every driver: starting all shards or none, their
//! ids and drivers, placement, a shard that panics, a shard whose io_uring is
//! refused (falls back to epoll on its own), graceful stops (asked twice, with a
//! grace period that one main uses and another outlives, by a signal), and no
//! descriptor or thread left behind.

mod support;

use std::cell::Cell;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use ringloop::shard::{self, Placement, Shards};
use ringloop::{CallError, Driver, DriverKind, JoinError};
use support::{isolated, open_fds, Mode};

/// Threads of this process whose name starts with `prefix` (tests run side by
/// side in one process, so each names its shards).
fn threads(prefix: &str) -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|comm| comm.starts_with(prefix))
        .count()
}

/// Whether no thread named `prefix…` is left, allowing a joined thread's entry a
/// moment to leave /proc (the join returns when the thread has run its last
/// code, a little before the kernel lets go of it).
fn threads_gone(prefix: &str) -> bool {
    let deadline = std::time::Instant::now() + support::step();
    while threads(prefix) != 0 {
        if std::time::Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    true
}

/// A short name for `mode`, for thread names (15 characters at most).
fn tag(mode: Mode) -> &'static str {
    match mode {
        Mode::Uring => "u",
        Mode::Uring510 => "k",
        Mode::Epoll => "e",
    }
}

/// CPUs this process may run on.
fn allowed_cpus() -> Vec<usize> {
    // SAFETY: a zeroed cpu_set_t is the empty set; the call fills it.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid, writable cpu_set_t of the size given.
    let rc = unsafe { libc::sched_getaffinity(0, std::mem::size_of_val(&set), &mut set) };
    assert_eq!(rc, 0);
    (0..libc::CPU_SETSIZE as usize)
        // SAFETY: `cpu` is below CPU_SETSIZE.
        .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) })
        .collect()
}

/// Whether the process has a handler for `signal` (`SigCgt` in /proc/self/status).
fn catches(signal: i32) -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let mask = status
        .lines()
        .find_map(|l| l.strip_prefix("SigCgt:"))
        .map(|m| u64::from_str_radix(m.trim(), 16).unwrap())
        .unwrap();
    mask & (1 << (signal - 1)) != 0
}

/// The CPU the calling thread runs on now.
fn current_cpu() -> usize {
    // SAFETY: sched_getcpu has no preconditions.
    let cpu = unsafe { libc::sched_getcpu() };
    assert!(cpu >= 0);
    cpu as usize
}

matrix_test! {
    fn shards_run_with_their_ids_and_report_their_drivers(mode) {
        let set = mode
            .shards(3)
            .name("test-shard")
            .start(|i| async move {
                let name = std::thread::current().name().map(str::to_owned);
                (i, shard::shard_id(), shard::shard_count(), name, ringloop::driver_kind())
            })
            .unwrap();
        assert_eq!(set.len(), 3);
        assert!(set.drivers().iter().all(|&d| d == mode.driver_kind()));
        assert_eq!(set.cpus(), [None, None, None]);
        let results = set.join();
        for (i, result) in results.into_iter().enumerate() {
            let (given, id, count, name, driver) = result.unwrap();
            assert_eq!((given, id, count), (i, i, 3));
            assert_eq!(name.as_deref(), Some(format!("test-shard-{i}").as_str()));
            assert_eq!(driver, mode.driver_kind());
        }
    }
}

matrix_test! {
    fn zero_means_one_shard_per_allowed_cpu_and_more_shards_than_cpus_work(mode) {
        let cpus = allowed_cpus();
        let set = mode.shards(0).start(|_| async { shard::shard_count() }).unwrap();
        assert_eq!(set.len(), cpus.len());
        assert!(set.join().into_iter().all(|r| r == Ok(cpus.len())));

        // More shards than CPUs, spread and pinned: they share CPUs, wrapping round.
        let n = cpus.len() * 2 + 1;
        for placement in [Placement::Spread, Placement::Pinned(cpus.clone())] {
            let set = mode
                .shards(n)
                .placement(placement.clone())
                .start(|_| async { current_cpu() })
                .unwrap();
            let pinned: Vec<usize> = set.cpus().iter().map(|c| c.expect("pinned")).collect();
            assert!(pinned.iter().all(|c| cpus.contains(c)), "{placement:?}: {pinned:?}");
            for (i, ran_on) in set.join().into_iter().enumerate() {
                assert_eq!(ran_on.unwrap(), pinned[i], "{placement:?}: shard {i}");
            }
        }
    }
}

matrix_test! {
    fn a_placement_with_no_allowed_cpu_starts_nothing(mode) {
        let name = format!("nocpu{}-", tag(mode));
        let err = mode
            .shards(2)
            .name(name.trim_end_matches('-'))
            .placement(Placement::Pinned(vec![100_000]))
            .start(|_| async {})
            .unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{err}");
        assert_eq!(threads(&name), 0);
    }
}

matrix_test! {
    fn a_shard_that_fails_to_start_fails_the_start_and_stops_the_others(mode) {
        isolated(mode, module_path!(), || {
            // Warm up: the runtimes' pooled slots exist, so counts compare.
            let ok = mode.shards(3).run(|_| async {}).unwrap();
            assert!(ok.iter().all(Result::is_ok));
            let fds = open_fds();
            let ran = Arc::new(AtomicUsize::new(0));
            let r = ran.clone();
            let err = mode
                .shards(3)
                .name("failing")
                .on_thread_start(|i| {
                    if i == 1 {
                        // Its runtime cannot be set up: no descriptor left to make one.
                        support::seccomp::refuse(
                            &[libc::SYS_io_uring_setup, libc::SYS_eventfd2, libc::SYS_epoll_create1],
                            libc::EMFILE,
                        );
                    }
                })
                .start(move |_| {
                    r.fetch_add(1, SeqCst);
                    async {}
                })
                .unwrap_err();
            assert!(err.to_string().contains("shard 1"), "{err}");
            assert_eq!(ran.load(SeqCst), 0, "a shard ran its main");
            assert!(threads_gone("failing"), "a shard's thread is left");
            assert_eq!(open_fds(), fds, "a shard's runtime is left");
        });
    }
}

matrix_test! {
    fn a_shard_refused_io_uring_falls_back_to_epoll_on_its_own(mode) {
        isolated(mode, module_path!(), || {
            let set = Shards::new(2)
                .configure(move |_, _| mode.builder().driver(Driver::Auto))
                .on_thread_start(|i| {
                    if i == 1 {
                        support::seccomp::refuse(
                            &[libc::SYS_io_uring_setup, libc::SYS_io_uring_enter, libc::SYS_io_uring_register],
                            libc::EPERM,
                        );
                    }
                })
                .start(|_| async {
                    // Real work on each: a timer and a call to the other shard.
                    ringloop::sleep(Duration::from_millis(1)).await;
                    let other = 1 - shard::shard_id();
                    shard::submit_to(other, || async { ringloop::driver_kind() }).await
                })
                .unwrap();
            let expected_0 = if support::uring_refused().is_some() { DriverKind::Epoll } else { DriverKind::IoUring };
            assert_eq!(set.drivers(), [expected_0, DriverKind::Epoll]);
            let results = set.join();
            assert_eq!(results[0], Ok(Ok(DriverKind::Epoll)));
            assert_eq!(results[1], Ok(Ok(expected_0)));
        });
    }
}

matrix_test! {
    fn a_panicking_shard_is_reported_and_the_others_go_on(mode) {
        let set = mode
            .shards(3)
            .start(|i| async move {
                if i == 1 {
                    ringloop::sleep(Duration::from_millis(5)).await;
                    panic!("shard one gives up");
                }
                // The others keep working, and calls to the dead shard fail.
                support::within("shard 1's end", async {
                    while !shard::handle(1).is_closed() {
                        ringloop::sleep(Duration::from_millis(1)).await;
                    }
                })
                .await;
                let call = shard::submit_to(1, || async { 1 }).await;
                let own = shard::submit_to(i, move || async move { i }).await;
                (call, own)
            })
            .unwrap();
        let results = set.join();
        assert_eq!(results[1], Err(JoinError::Panicked("shard one gives up".into())));
        for i in [0, 2] {
            assert_eq!(results[i], Ok((Err(CallError::Stopped), Ok(i))));
        }
    }
}

matrix_test! {
    fn stop_gives_mains_their_grace_then_cancels_and_leaks_nothing(mode) {
        isolated(mode, module_path!(), || {
            drop(mode.shards(2).run(|_| async {}).unwrap());
            let fds = open_fds();
            let cancelled = Arc::new(AtomicUsize::new(0));
            let c = cancelled.clone();
            let set = mode
                .shards(2)
                .grace_period(support::scaled(Duration::from_millis(300)))
                .start(move |i| {
                    let c = c.clone();
                    async move {
                        struct Count(Arc<AtomicUsize>);
                        impl Drop for Count {
                            fn drop(&mut self) {
                                self.0.fetch_add(1, SeqCst);
                            }
                        }
                        // A task that never ends, cancelled when its shard shuts down.
                        let token = Count(c.clone());
                        drop(ringloop::spawn(async move {
                            let _token = token;
                            std::future::pending::<()>().await
                        }));
                        // A socket in use, closed at the runtime's drop.
                        let listener = ringloop::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                        let accept = listener.accept();
                        shard::stop_requested().await;
                        assert!(shard::is_stop_requested());
                        if i == 0 {
                            // Finishes within the grace period.
                            ringloop::sleep(Duration::from_millis(20)).await;
                            "finished"
                        } else {
                            // Outlives it: cancelled.
                            let _ = accept.await;
                            unreachable!("nothing connects")
                        }
                    }
                })
                .unwrap();
            std::thread::sleep(Duration::from_millis(50));
            assert!(set.request_stop());
            assert!(!set.request_stop(), "a second stop request did something");
            assert!(!set.stopper().request_stop());
            let results = set.join();
            assert_eq!(results, [Ok("finished"), Err(JoinError::Cancelled)]);
            assert_eq!(cancelled.load(SeqCst), 2);
            assert_eq!(open_fds(), fds, "descriptor leak");
        });
    }
}

matrix_test! {
    fn a_stop_requested_by_a_shard_or_a_signal_reaches_every_shard(mode) {
        isolated(mode, module_path!(), || {
            // From inside: shard 1 asks.
            let results = mode
                .shards(2)
                .run(|i| async move {
                    if i == 1 {
                        shard::request_stop();
                        shard::request_stop();
                    }
                    shard::stop_requested().await;
                    i
                })
                .unwrap();
            assert_eq!(results, [Ok(0), Ok(1)]);

            // By SIGTERM, with stop_on_signals.
            let set = mode
                .shards(2)
                .stop_on_signals(true)
                .start(|i| async move {
                    shard::stop_requested().await;
                    i
                })
                .unwrap();
            // Shard 0 listens from its first turn: signal once its handler is in.
            let deadline = std::time::Instant::now() + support::step();
            while !catches(libc::SIGTERM) {
                assert!(std::time::Instant::now() < deadline, "nobody listens for SIGTERM");
                std::thread::sleep(Duration::from_millis(1));
            }
            let pid = std::process::id() as libc::pid_t;
            // SAFETY: kill with our own pid and a signal the shards listen for.
            unsafe { libc::kill(pid, libc::SIGTERM) };
            assert_eq!(set.join(), [Ok(0), Ok(1)]);
        });
    }
}

matrix_test! {
    fn a_shard_whose_main_ended_serves_calls_until_every_main_has(mode) {
        let results = mode
            .shards(2)
            .run(|i| async move {
                if i == 0 {
                    return 0;
                }
                // Shard 0's main is done; it still answers.
                ringloop::sleep(Duration::from_millis(20)).await;
                let hops = Rc::new(Cell::new(0));
                for _ in 0..10 {
                    assert_eq!(shard::submit_to(0, || async { shard::shard_id() }).await, Ok(0));
                    hops.set(hops.get() + 1);
                }
                hops.get()
            })
            .unwrap();
        assert_eq!(results, [Ok(0), Ok(10)]);
    }
}

matrix_test! {
    fn dropping_a_shard_set_stops_and_joins_its_shards(mode) {
        let name = format!("drop{}-", tag(mode));
        let set = mode
            .shards(2)
            .name(name.trim_end_matches('-'))
            .start(|_| async { shard::stop_requested().await })
            .unwrap();
        assert_eq!(threads(&name), 2);
        drop(set);
        assert!(threads_gone(&name), "a shard's thread outlived the drop");
    }
}

matrix_test! {
    fn a_main_that_panics_when_called_does_not_hang_the_program(mode) {
        let set = mode
            .shards(2)
            .start(|i| {
                if i == 1 {
                    panic!("no main for shard 1");
                }
                async move { i }
            })
            .unwrap();
        let stopper = set.stopper();
        let (tx, rx) = std::sync::mpsc::channel();
        let joiner = std::thread::spawn(move || tx.send(set.join()).unwrap());
        let results = rx.recv_timeout(support::step());
        if results.is_err() {
            stopper.request_stop();
        }
        joiner.join().unwrap();
        let results = results.expect("join did not return until a stop was requested");
        assert_eq!(results[0], Ok(0));
        assert_eq!(results[1], Err(JoinError::Panicked("no main for shard 1".into())));
    }
}
