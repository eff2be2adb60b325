//! Cancellation around subprocesses, on every driver: a pipe read, a pipe write
//! and a wait dropped while in flight, a `communicate` dropped mid-way (pipes
//! closed; the child killed or left running according to `kill_on_drop`), a wait
//! picked up again after its future was dropped, and a `Child` that outlives its
//! runtime. Each test counts descriptors (pipes, pidfds) and the futures' drops, so
//! each runs alone in a child process.

mod support;

use std::os::unix::process::ExitStatusExt;
use std::time::{Duration, Instant};

use ringloop::process::{create_subprocess_shell, Child, Command, Stdio};
use ringloop::JoinError;
use support::children::reaped;
use support::net::turns;
use support::{isolated, open_fds, pattern, poll_in_task, within, Drops, Mode};

/// Whether process `pid` exists and is not a zombie.
fn running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            let state = stat[stat.rfind(')')? + 2..].chars().next()?;
            Some(state != 'Z' && state != 'X')
        })
        .unwrap_or(false)
}

async fn eventually_reaped(pids: &[u32]) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !pids.iter().all(|&p| reaped(p)) {
        assert!(Instant::now() < deadline, "children not reaped: {pids:?}");
        ringloop::sleep(Duration::from_millis(5)).await;
    }
}

/// The descriptors to compare against: the first runtime leaves its eventfd for
/// the next, and the reaper (started by the first dropped child that still runs)
/// keeps an epoll instance and an eventfd for the life of the process.
fn baseline(mode: Mode) -> usize {
    // Two at once: a runtime kept alive by an op that outlived it holds its slot
    // until the op is done, so a second slot may be made (and pooled).
    drop((mode.runtime(), mode.runtime()));
    mode.run(async {
        let child = Command::new("sleep")
            .arg("10")
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let pid = child.id();
        drop(child);
        eventually_reaped(&[pid]).await;
        // The reaper closes the child's pidfd just after reaping it: a moment
        // later, which on a slow machine (a VM under emulation) the count could
        // otherwise catch.
        let settled = support::sleep_until_cond(support::scaled(Duration::from_secs(5)), || {
            pidfds_open() == 0
        })
        .await;
        assert!(settled, "a pidfd is still open after the child was reaped");
    });
    open_fds()
}

/// Asserts that the process has `base` descriptors open again, allowing the
/// reaper thread a moment: it closes a killed child's pidfd just after reaping
/// it, which on a slow machine (5.10 under emulation, seen once) is after the
/// test has seen the child gone and dropped its runtime. A leak never settles.
fn assert_no_leak(base: usize) {
    let deadline = Instant::now() + support::scaled(Duration::from_secs(5));
    while open_fds() != base && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    if open_fds() != base {
        let fds: Vec<_> = std::fs::read_dir("/proc/self/fd")
            .expect("/proc/self/fd")
            .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
            .collect();
        panic!(
            "descriptor leak: {} open, {base} before: {fds:?}",
            open_fds()
        );
    }
}

/// How many pidfds this process has open.
fn pidfds_open() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .filter_map(|entry| std::fs::read_link(entry.ok()?.path()).ok())
        .filter(|target| target.to_string_lossy().contains("pidfd"))
        .count()
}

fn sleeper(secs: &str) -> Child {
    Command::new("sleep")
        .arg(secs)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}

matrix_test! {
    fn pipe_reads_writes_and_waits_dropped_in_flight(mode) {
        isolated(mode, module_path!(), || {
            let base = baseline(mode);
            let drops = Drops::new();
            let pids = mode.run(async {
                let mut pids = Vec::new();
                // A read of stdout in flight, its task cancelled.
                let mut child = sleeper("30");
                pids.push(child.id());
                let mut stdout = child.stdout.take().unwrap();
                let token = drops.token();
                let reader = ringloop::spawn(async move {
                    let _token = token;
                    stdout.read(100).await
                });
                turns(2).await;
                reader.cancel();
                assert_eq!(reader.await.unwrap_err(), JoinError::Cancelled);
                assert_eq!(drops.count(), 1);

                // A read dropped, then the reader used again: nothing lost.
                let mut child2 = Command::new("sh")
                    .args(["-c", "read x; echo \"got $x\""])
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .spawn()
                    .unwrap();
                pids.push(child2.id());
                let mut out = child2.stdout.take().unwrap();
                {
                    let mut read = Box::pin(out.read(100));
                    assert!(poll_in_task(&mut read).await.is_pending());
                }
                let stdin = child2.stdin.take().unwrap();
                stdin.write(b"it\n").unwrap();
                drop(stdin);
                assert_eq!(within("the read after", out.read_to_end()).await.unwrap(), b"got it\n");
                assert!(child2.wait().await.unwrap().success());

                // A write in flight (more than the pipe holds, to a child that never
                // reads), its task cancelled, then the writer dropped.
                let stdin = child.stdin.take().unwrap();
                let token = drops.token();
                let writer = ringloop::spawn(async move {
                    let _token = token;
                    stdin.write(&pattern(1 << 20, 3)).unwrap();
                    stdin.drain().await
                });
                turns(3).await;
                assert!(!writer.is_finished(), "a 1 MB write to a pipe nobody reads finished");
                writer.cancel();
                assert_eq!(writer.await.unwrap_err(), JoinError::Cancelled);
                assert_eq!(drops.count(), 2);

                // The wait in flight, its future dropped; then the child dropped
                // (killed on drop) with it still in flight.
                {
                    let mut wait = Box::pin(child.wait());
                    assert!(poll_in_task(&mut wait).await.is_pending());
                    turns(1).await;
                }
                let token = drops.token();
                let mut child3 = sleeper("30");
                pids.push(child3.id());
                let waiter = ringloop::spawn(async move {
                    let _token = token;
                    child3.wait().await
                });
                turns(2).await;
                waiter.cancel();
                assert_eq!(waiter.await.unwrap_err(), JoinError::Cancelled);
                assert_eq!(drops.count(), 3);
                drop(child);
                eventually_reaped(&pids).await;
                turns(3).await;
                pids
            });
            assert!(pids.iter().all(|&p| reaped(p)));
            assert_no_leak(base);
        });
    }
}

matrix_test! {
    fn communicate_dropped_midway(mode) {
        isolated(mode, module_path!(), || {
            let base = baseline(mode);
            mode.run(async {
                // The child prints, then waits for input that never ends (its
                // stdin stays open while communicate runs): the timeout drops
                // communicate mid-way.
                let script = "echo started; cat >/dev/null; sleep 0.5; echo never";
                for kill_on_drop in [true, false] {
                    let mut child = create_subprocess_shell(script)
                        .stdin(Stdio::piped())
                        .stdout(Stdio::piped())
                        .stderr(Stdio::piped())
                        .kill_on_drop(kill_on_drop)
                        .spawn()
                        .unwrap();
                    let pid = child.id();
                    let input = pattern(4 << 20, 9);
                    let (stdin, stdout) = {
                        // Keep handles to the pipes' far ends open? No: communicate
                        // owns the pipes; once dropped, they are closed.
                        let timed = ringloop::wait_for(Duration::from_millis(100), child.communicate(Some(&input)));
                        let done = timed.await;
                        assert!(done.is_err(), "communicate finished: {done:?}");
                        (child.stdin.is_none(), child.stdout.is_none())
                    };
                    assert!(stdin && stdout, "the pipes went with communicate");
                    // The child still runs (its stdin was closed: cat ends, sh sleeps).
                    assert!(running(pid));
                    if kill_on_drop {
                        drop(child);
                        eventually_reaped(&[pid]).await;
                    } else {
                        drop(child);
                        ringloop::sleep(Duration::from_millis(50)).await;
                        assert!(running(pid), "kill_on_drop(false) killed the child");
                        eventually_reaped(&[pid]).await;
                    }
                }
                // Python's pattern: communicate timed out, kill, then wait.
                let mut child = Command::new("sleep").arg("30").stdout(Stdio::piped()).spawn().unwrap();
                assert!(ringloop::wait_for(Duration::from_millis(50), child.communicate(None)).await.is_err());
                child.kill().unwrap();
                let status = within("wait after kill", child.wait()).await.unwrap();
                assert_eq!(status.signal(), Some(libc::SIGKILL));
                turns(3).await;
            });
            assert_no_leak(base);
        });
    }
}

matrix_test! {
    fn a_dropped_wait_is_picked_up_again(mode) {
        isolated(mode, module_path!(), || {
            let base = baseline(mode);
            mode.run(async {
                let mut child = create_subprocess_shell("sleep 0.1; exit 4").spawn().unwrap();
                {
                    let mut wait = Box::pin(child.wait());
                    assert!(poll_in_task(&mut wait).await.is_pending());
                }
                // The child exits while no future waits: try_wait sees it (the wait
                // kept in the Child may have reaped it already).
                let deadline = Instant::now() + Duration::from_secs(10);
                let status = loop {
                    if let Some(status) = child.try_wait().unwrap() {
                        break status;
                    }
                    assert!(Instant::now() < deadline);
                    ringloop::sleep(Duration::from_millis(5)).await;
                };
                assert_eq!(status.code(), Some(4));
                assert_eq!(child.wait().await.unwrap().code(), Some(4));

                // Dropped several times, then awaited to the end.
                let mut child = create_subprocess_shell("sleep 0.1; exit 6").spawn().unwrap();
                for _ in 0..3 {
                    let mut wait = Box::pin(child.wait());
                    assert!(poll_in_task(&mut wait).await.is_pending());
                    turns(1).await;
                }
                assert_eq!(within("wait", child.wait()).await.unwrap().code(), Some(6));
                turns(3).await;
            });
            assert_no_leak(base);
        });
    }
}

matrix_test! {
    fn a_child_outlives_its_runtime(mode) {
        isolated(mode, module_path!(), || {
            let base = baseline(mode);
            // Spawned and waited for (in flight) on one runtime, which is dropped;
            // waited for on the next.
            let rt = mode.runtime();
            let mut child = rt.block_on(async {
                let mut child = create_subprocess_shell("sleep 0.2; exit 9")
                    .stdout(Stdio::piped())
                    .spawn()
                    .unwrap();
                let mut wait = Box::pin(child.wait());
                assert!(poll_in_task(&mut wait).await.is_pending());
                drop(wait);
                child
            });
            drop(rt);
            let (status, out) = mode.run(async {
                let status = within("wait on the next runtime", child.wait()).await.unwrap();
                let out = child.stdout.take().unwrap().read_to_end().await.unwrap();
                (status, out)
            });
            assert_eq!(status.code(), Some(9));
            assert!(out.is_empty());
            drop(child);
            // try_wait needs no runtime.
            let mut child = Command::new("true").spawn().unwrap();
            let deadline = Instant::now() + Duration::from_secs(10);
            while child.try_wait().unwrap().is_none() {
                assert!(Instant::now() < deadline);
                std::thread::sleep(Duration::from_millis(2));
            }
            assert!(child.status().unwrap().success());
            drop(child);
            let fds: Vec<_> = std::fs::read_dir("/proc/self/fd")
                .unwrap()
                .map(|e| std::fs::read_link(e.unwrap().path()))
                .collect();
            assert_eq!(open_fds(), base, "descriptor leak: {fds:?}");
        });
    }
}

matrix_test! {
    fn try_wait_while_a_wait_is_in_flight_on_an_idle_runtime(mode) {
        isolated(mode, module_path!(), || {
            let base = baseline(mode);
            // A wait left in flight on a runtime that stays alive but does not run:
            // try_wait, outside any runtime, still sees the exit.
            let rt = mode.runtime();
            let mut child = rt.block_on(async {
                let mut child = create_subprocess_shell("sleep 0.05; exit 3").spawn().unwrap();
                let mut wait = Box::pin(child.wait());
                assert!(poll_in_task(&mut wait).await.is_pending());
                drop(wait);
                child
            });
            let deadline = Instant::now() + Duration::from_secs(10);
            let status = loop {
                if let Some(status) = child.try_wait().unwrap() {
                    break status;
                }
                assert!(Instant::now() < deadline, "try_wait never saw the exit");
                std::thread::sleep(Duration::from_millis(2));
            };
            assert_eq!(status.code(), Some(3));
            // The runtime runs again: the op it holds ends, and nothing is lost.
            rt.block_on(async {
                assert_eq!(child.wait().await.unwrap().code(), Some(3));
                turns(3).await;
            });
            drop(child);
            drop(rt);
            assert_no_leak(base);
        });
    }
}
