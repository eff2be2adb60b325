//! Subprocesses on every driver: spawning (and failing to), exit statuses (codes and
//! signals), the piped streams, `communicate` without deadlocks, many children at
//! once, `kill`/`try_wait`/`kill_on_drop`, and reaping: no zombie is ever left,
//! whether the `Child` is waited for, dropped, or outlives its runtime.

mod support;

use std::io;
use std::os::unix::process::ExitStatusExt;
use std::time::{Duration, Instant};

use ringloop::process::{create_subprocess_exec, create_subprocess_shell, Command, Stdio};
use support::children::reaped;
use support::{isolated, pattern, within};

/// The state letter of `/proc/<pid>/stat` if `pid` is a child of this process
/// (`Z`: a zombie), `None` if there is no such child any more.
fn child_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "pid (comm) S ppid ...": comm may contain spaces and parentheses.
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut fields = rest.split(' ');
    let state = fields.next()?.chars().next()?;
    let ppid: u32 = fields.next()?.parse().ok()?;
    (ppid == std::process::id()).then_some(state)
}

/// Waits (sleeping on the loop) until every pid in `pids` is reaped.
async fn all_reaped(pids: &[u32], limit: Duration) {
    let deadline = Instant::now() + limit;
    loop {
        let left: Vec<(u32, Option<char>)> = pids
            .iter()
            .filter(|&&pid| !reaped(pid))
            .map(|&pid| (pid, child_state(pid)))
            .collect();
        if left.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "not reaped after {limit:?}: {} children, e.g. {:?}",
            left.len(),
            &left[..left.len().min(5)]
        );
        ringloop::sleep(Duration::from_millis(5)).await;
    }
}

matrix_test! {
    fn a_program_that_does_not_exist_is_not_found(mode) {
        mode.run(async {
            let err = Command::new("/definitely/not/here").spawn().unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::NotFound, "{err}");
            let err = Command::new("ringloop-no-such-program-in-path").output().await.unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::NotFound, "{err}");
            // Not executable (even for root: no execute bit at all).
            let path = std::env::temp_dir().join(format!("ringloop-noexec-{}-{mode:?}", std::process::id()));
            std::fs::write(&path, "#!/bin/sh\n").unwrap();
            let err = Command::new(&path).spawn().unwrap_err();
            std::fs::remove_file(&path).unwrap();
            assert_eq!(err.kind(), io::ErrorKind::PermissionDenied, "{err}");
        });
    }
}

matrix_test! {
    fn exit_codes_and_signals_are_reported(mode) {
        mode.run(async {
            let status = create_subprocess_shell("exit 3").status().await.unwrap();
            assert_eq!(status.code(), Some(3));
            assert!(!status.success());
            assert!(Command::new("true").status().await.unwrap().success());

            // Killed by a signal it sent itself.
            let mut child = create_subprocess_shell("kill -TERM $$; sleep 5").spawn().unwrap();
            let status = within("wait", child.wait()).await.unwrap();
            assert_eq!(status.signal(), Some(libc::SIGTERM), "{status:?}");
            assert_eq!(status.code(), None);
            assert_eq!(child.returncode(), Some(-libc::SIGTERM));

            // Killed by us.
            let mut child = Command::new("sleep").arg("30").spawn().unwrap();
            assert_eq!(child.try_wait().unwrap(), None);
            child.kill().unwrap();
            let status = within("wait after kill", child.wait()).await.unwrap();
            assert_eq!(status.signal(), Some(libc::SIGKILL));
            assert!(!status.core_dumped());
            // Killing an exited child is fine; waiting again gives the same.
            child.kill().unwrap();
            assert_eq!(child.wait().await.unwrap(), status);
            assert_eq!(child.try_wait().unwrap(), Some(status));

            // A core dump (if the limit allows one, the status says so; either
            // way the signal is SIGABRT).
            let status = create_subprocess_shell("ulimit -c 0; kill -ABRT $$").status().await.unwrap();
            assert_eq!(status.signal(), Some(libc::SIGABRT), "{status:?}");
        });
    }
}

matrix_test! {
    fn arguments_environment_and_directory(mode) {
        mode.run(async {
            let out = create_subprocess_exec("sh", ["-c", "printf '%s|' \"$0\" \"$@\"; echo \"$A/$B\"; pwd", "zero", "one two", "three"])
                .env("A", "alpha")
                .env("B", "beta")
                .env_remove("B")
                .current_dir("/tmp")
                .output()
                .await
                .unwrap();
            assert_eq!(String::from_utf8(out.stdout).unwrap(), "zero|one two|three|alpha/\n/tmp\n");
            let out = Command::new("/usr/bin/env").env_clear().env("ONLY", "1").output().await.unwrap();
            assert_eq!(out.stdout, b"ONLY=1\n");
            // stdin defaults to null for output(): cat ends at once.
            let out = Command::new("cat").output().await.unwrap();
            assert!(out.status.success() && out.stdout.is_empty());
            // The defaults output() applied do not stick: spawn inherits again.
            let mut command = Command::new("true");
            command.output().await.unwrap();
            let mut child = command.spawn().unwrap();
            assert!(child.stdout.is_none() && child.stderr.is_none() && child.stdin.is_none());
            assert!(child.wait().await.unwrap().success());
        });
    }
}

matrix_test! {
    fn stdin_and_stdout_as_streams(mode) {
        mode.run(async {
            let mut child = Command::new("cat")
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .unwrap();
            let stdin = child.stdin.take().unwrap();
            let mut stdout = child.stdout.take().unwrap();
            for i in 0..100 {
                let line = format!("line {i}\n");
                stdin.write(line.as_bytes()).unwrap();
                stdin.drain().await.unwrap();
                assert_eq!(within("readline", stdout.readline()).await.unwrap(), line.as_bytes());
            }
            assert!(!stdout.at_eof(), "cat is still running");
            stdin.write_eof().unwrap();
            stdin.wait_closed().await.unwrap();
            // cat exits at the end of its input, and its stdout's end arrives:
            // known without a read (the pipe is polled).
            assert!(child.wait().await.unwrap().success());
            let known = support::sleep_until_cond(support::step(), || stdout.at_eof()).await;
            assert!(known, "at_eof stays false once cat has exited");
            assert_eq!(within("eof", stdout.read(10)).await.unwrap(), b"");
            assert!(stdout.at_eof());
            assert_eq!(child.returncode(), Some(0));
        });
    }
}

matrix_test! {
    fn communicate_with_more_than_a_pipe_buffer_on_every_stream(mode) {
        mode.run(async {
            // tee copies stdin to stdout and to stderr as it reads: unless the
            // input is written while both outputs are drained, everyone blocks.
            let input = pattern(3 << 20, 7);
            let mut child = Command::new("sh")
                .args(["-c", "tee /dev/stderr"])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            let out = within("communicate", child.communicate(Some(&input))).await.unwrap();
            assert!(out.status.success(), "{out:?}");
            assert!(out.stdout == input, "stdout: {} bytes", out.stdout.len());
            assert!(out.stderr == input, "stderr: {} bytes", out.stderr.len());
            assert!(child.stdin.is_none() && child.stdout.is_none() && child.stderr.is_none());

            // Output first, input after: the child writes 2 MB to each before reading.
            let mut child = create_subprocess_shell(
                "head -c 2000000 /dev/zero; head -c 2000000 /dev/zero >&2; wc -c",
            )
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
            let out = within("communicate", child.communicate(Some(&input))).await.unwrap();
            assert_eq!(out.stdout.len(), 2_000_000 + format!("{}\n", input.len()).len());
            assert!(out.stdout.ends_with(format!("{}\n", input.len()).as_bytes()));
            assert_eq!(out.stderr.len(), 2_000_000);

            // A child that exits without reading its input: not an error.
            let mut child = Command::new("true").stdin(Stdio::piped()).spawn().unwrap();
            let out = within("unread input", child.communicate(Some(&input))).await.unwrap();
            assert!(out.status.success());

            // Input without a piped stdin is refused.
            let mut child = Command::new("true").spawn().unwrap();
            let err = child.communicate(Some(b"x")).await.unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
            assert!(child.wait().await.unwrap().success());
        });
    }
}

matrix_test! {
    fn two_hundred_children_echo_a_megabyte_each(mode) {
        mode.run(async {
            const CHILDREN: usize = 200;
            const SIZE: usize = 1 << 20;
            // One pattern (generating 200 MB of it would dominate a debug build),
            // each child's copy marked with its number: a chunk of another
            // child's output, a reordered or repeated chunk all show.
            let base = std::rc::Rc::new(pattern(SIZE, 1));
            let tasks: Vec<_> = (0..CHILDREN)
                .map(|i| {
                    let base = base.clone();
                    ringloop::spawn(async move {
                        let mut input = base.to_vec();
                        for chunk in input.chunks_mut(64 << 10) {
                            chunk[..8].copy_from_slice(&(i as u64).to_le_bytes());
                        }
                        let mut child = Command::new("cat")
                            .stdin(Stdio::piped())
                            .stdout(Stdio::piped())
                            .spawn()
                            .unwrap();
                        let out = child.communicate(Some(&input)).await.unwrap();
                        assert!(out.status.success());
                        assert!(out.stdout == input, "child {i}: {} bytes back", out.stdout.len());
                        child.id()
                    })
                })
                .collect();
            // A deadlock shows as a timeout; on a busy 2-core machine (this test
            // runs beside its two other drivers) it may take several seconds.
            let pids = ringloop::wait_for(support::scaled(Duration::from_secs(120)), ringloop::gather_all(tasks))
                .await
                .expect("200 children did not finish within 120 s (scaled)");
            let pids: Vec<u32> = pids.into_iter().map(Result::unwrap).collect();
            assert!(pids.iter().all(|&pid| reaped(pid)));
        });
    }
}

matrix_test! {
    fn dropped_children_are_reaped(mode) {
        mode.run(async {
            // Exited already when dropped, still running, killed on drop.
            let mut pids = Vec::new();
            for i in 0..60 {
                let mut command = match i % 3 {
                    0 => Command::new("true"),
                    1 => create_subprocess_shell("sleep 0.2"),
                    _ => Command::new("sleep"),
                };
                if i % 3 == 2 {
                    command.arg("30").kill_on_drop(true);
                }
                let child = command.spawn().unwrap();
                pids.push(child.id());
                if i % 3 == 0 {
                    ringloop::sleep(Duration::from_millis(2)).await;
                }
                drop(child);
            }
            all_reaped(&pids, Duration::from_secs(10)).await;
        });
        // Dropped outside any runtime, and after the runtime that spawned it.
        let child = mode.run(async { create_subprocess_shell("sleep 0.1").spawn().unwrap() });
        let pid = child.id();
        drop(child);
        let other = Command::new("true").spawn().unwrap();
        let other_pid = other.id();
        drop(other);
        mode.run(async { all_reaped(&[pid, other_pid], Duration::from_secs(10)).await });
    }
}

matrix_test! {
    fn kill_on_drop_or_not(mode) {
        mode.run(async {
            let killed = Command::new("sleep").arg("30").kill_on_drop(true).spawn().unwrap();
            // Long enough to outlive the other one's kill and reaping on a loaded
            // machine (0.3 s did not, at a load of 7 on 2 cores).
            let kept = create_subprocess_shell("sleep 2").spawn().unwrap();
            let (killed_pid, kept_pid) = (killed.id(), kept.id());
            drop(killed);
            drop(kept);
            all_reaped(&[killed_pid], Duration::from_secs(5)).await;
            // The other one runs on, and is reaped when it exits by itself.
            assert!(matches!(child_state(kept_pid), Some(s) if s != 'Z'), "{:?}", child_state(kept_pid));
            let start = Instant::now();
            all_reaped(&[kept_pid], support::scaled(Duration::from_secs(20))).await;
            assert!(start.elapsed() > Duration::from_millis(100), "{:?}", start.elapsed());
        });
    }
}

matrix_test! {
    fn writing_to_a_child_that_is_gone_is_epipe_not_sigpipe(mode) {
        isolated(mode, module_path!(), || {
            // Rust's runtime ignores SIGPIPE before main; a library cannot count
            // on that: put back the default, which ends the process.
            // SAFETY: setting a signal's disposition to SIG_DFL.
            assert_ne!(unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) }, libc::SIG_ERR);
            mode.run(async {
                let mut child = Command::new("true").stdin(Stdio::piped()).spawn().unwrap();
                let stdin = child.stdin.take().unwrap();
                assert!(child.wait().await.unwrap().success());
                // The child is gone, and with it the pipe's reading end.
                stdin.write(&pattern(1 << 20, 1)).unwrap();
                let err = within("drain", async {
                    stdin.drain().await?;
                    stdin.write_eof()?;
                    stdin.wait_closed().await
                })
                .await
                .unwrap_err();
                assert_eq!(err.kind(), io::ErrorKind::BrokenPipe, "{err}");
                assert_eq!(stdin.write(b"more").unwrap_err().kind(), io::ErrorKind::BrokenPipe);

                // communicate ignores it, as asyncio does.
                let mut child = create_subprocess_shell("exec 0<&-; sleep 0.05")
                    .stdin(Stdio::piped())
                    .spawn()
                    .unwrap();
                let out = within("communicate", child.communicate(Some(&pattern(1 << 20, 2)))).await.unwrap();
                assert!(out.status.success());
            });
            // SIGPIPE is neither blocked nor pending afterwards.
            // SAFETY: plain data, filled in by the calls.
            let (mut mask, mut pending): (libc::sigset_t, libc::sigset_t) = unsafe { std::mem::zeroed() };
            // SAFETY: a null new set only reads the mask.
            unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, std::ptr::null(), &mut mask) };
            // SAFETY: `pending` is a valid sigset_t.
            unsafe { libc::sigpending(&mut pending) };
            // SAFETY: both sets are initialised.
            assert_eq!(unsafe { libc::sigismember(&mask, libc::SIGPIPE) }, 0);
            // SAFETY: as above.
            assert_eq!(unsafe { libc::sigismember(&pending, libc::SIGPIPE) }, 0);
        });
    }
}

/// Makes `pidfd_open` fail with `errno` in this thread and the threads it starts
/// (a seccomp filter, as some container profiles have), like a kernel before 5.3.
fn refuse_pidfd_open(errno: i32) {
    support::seccomp::refuse(&[libc::SYS_pidfd_open], errno);
    let pid = std::process::id() as libc::pid_t;
    // SAFETY: pidfd_open of our own pid touches no memory.
    let rc = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    assert_eq!(
        (rc, io::Error::last_os_error().raw_os_error()),
        (-1, Some(errno))
    );
}

matrix_test! {
    fn without_pidfds_children_are_polled(mode) {
        isolated(mode, module_path!(), || {
            refuse_pidfd_open(libc::ENOSYS);
            mode.run(async {
                let start = Instant::now();
                let status = create_subprocess_shell("sleep 0.1; exit 2").status().await.unwrap();
                assert_eq!(status.code(), Some(2));
                assert!(start.elapsed() < support::scaled(Duration::from_secs(2)), "{:?}", start.elapsed());
                let out = Command::new("echo").arg("polled").output().await.unwrap();
                assert_eq!(out.stdout, b"polled\n");
                let mut child = Command::new("sleep").arg("30").spawn().unwrap();
                assert_eq!(child.try_wait().unwrap(), None);
                child.kill().unwrap();
                assert_eq!(within("wait", child.wait()).await.unwrap().signal(), Some(libc::SIGKILL));
                // Dropped children are reaped by the reaper's polling.
                let pids: Vec<u32> = (0..10)
                    .map(|i| {
                        let mut c = if i % 2 == 0 {
                            Command::new("true")
                        } else {
                            let mut c = Command::new("sleep");
                            c.arg("30").kill_on_drop(true);
                            c
                        };
                        c.spawn().unwrap().id()
                    })
                    .collect();
                all_reaped(&pids, Duration::from_secs(10)).await;
            });
        });
    }
}

matrix_test! {
    fn children_do_not_inherit_sigpipe_blocked_by_a_pipe_write(mode) {
        mode.run(async {
            // A pipe write in flight: SIGPIPE is blocked on this thread meanwhile.
            let mut sink = Command::new("sleep")
                .arg("30")
                .stdin(Stdio::piped())
                .kill_on_drop(true)
                .spawn()
                .unwrap();
            let stdin = sink.stdin.take().unwrap();
            stdin.write(&pattern(1 << 20, 5)).unwrap();
            ringloop::sleep(Duration::from_millis(20)).await;
            let out = Command::new("grep")
                .args(["^SigBlk:", "/proc/self/status"])
                .output()
                .await
                .unwrap();
            assert_eq!(String::from_utf8(out.stdout).unwrap(), "SigBlk:\t0000000000000000\n");
            // And it dies of SIGPIPE when its reader goes, as `yes | head` expects.
            let mut yes = Command::new("yes").stdout(Stdio::piped()).spawn().unwrap();
            drop(yes.stdout.take());
            let status = within("yes", yes.wait()).await.unwrap();
            assert_eq!(status.signal(), Some(libc::SIGPIPE), "{status:?}");
            drop(stdin);
        });
    }
}

matrix_test! {
    fn children_inherit_only_their_standard_streams(mode) {
        let list = |out: Vec<u8>| {
            let mut fds: Vec<u32> = String::from_utf8(out)
                .unwrap()
                .split_whitespace()
                .map(|s| s.parse().unwrap())
                .collect();
            fds.sort();
            fds
        };
        // What any child inherits here, from whatever started this test (a
        // descriptor without close-on-exec given to the test binary itself).
        let inherited = list(
            std::process::Command::new("sh")
                .args(["-c", "exec ls /proc/self/fd"])
                .stdin(Stdio::null())
                .output()
                .unwrap()
                .stdout,
        );
        assert!(inherited.starts_with(&[0, 1, 2, 3]), "{inherited:?}");
        mode.run(async {
            // Descriptors of every kind about: pipes of another child, its pidfd
            // with a wait in flight, the runtime's own, a signalfd.
            let _listening = ringloop::signal::signal(ringloop::signal::SignalKind::user_defined2()).unwrap();
            let mut other = Command::new("sleep")
                .arg("30")
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .kill_on_drop(true)
                .spawn()
                .unwrap();
            let mut wait = Box::pin(other.wait());
            assert!(support::poll_in_task(&mut wait).await.is_pending());
            drop(wait);
            // `ls` lists its own descriptors: 0, 1, 2, the directory it reads, and
            // what this process inherited.
            let out = create_subprocess_shell("exec ls /proc/self/fd")
                .stdin(Stdio::null())
                .output()
                .await
                .unwrap();
            assert_eq!(list(out.stdout), inherited, "descriptors leaked into the child");
        });
    }
}
