//! Subprocesses on every driver: spawning (and failing to), exit statuses (codes and
//! signals), the piped streams, `communicate` without deadlocks, many children at
//! once, `kill`/`try_wait`/`kill_on_drop`, and reaping: no zombie is ever left,
//! whether the `Child` is waited for, dropped, or outlives its runtime.

mod common;
mod net_common;

use std::io;
use std::os::unix::process::ExitStatusExt;
use std::time::{Duration, Instant};

use common::Mode;
use net_common::{pattern, within};
use ringloop::process::{create_subprocess_exec, create_subprocess_shell, Command, Stdio};

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

/// Whether `pid` was reaped: `waitid` on it says it is no child of ours.
fn reaped(pid: u32) -> bool {
    // SAFETY: a zeroed siginfo_t is valid; WNOHANG|WNOWAIT only looks.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: `info` is a valid, writable siginfo_t.
    let rc = unsafe {
        libc::waitid(
            libc::P_PID,
            pid as libc::id_t,
            &mut info,
            libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
        )
    };
    rc == -1 && io::Error::last_os_error().raw_os_error() == Some(libc::ECHILD)
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
            stdin.write_eof().unwrap();
            stdin.wait_closed().await.unwrap();
            assert_eq!(within("eof", stdout.read(10)).await.unwrap(), b"");
            assert!(stdout.at_eof());
            assert!(child.wait().await.unwrap().success());
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
            let tasks: Vec<_> = (0..CHILDREN)
                .map(|i| {
                    ringloop::spawn(async move {
                        let input = pattern(SIZE, i as u32 + 1);
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
            let pids = within("200 children", ringloop::gather_all(tasks)).await;
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
            let kept = create_subprocess_shell("sleep 0.3").spawn().unwrap();
            let (killed_pid, kept_pid) = (killed.id(), kept.id());
            drop(killed);
            drop(kept);
            all_reaped(&[killed_pid], Duration::from_secs(5)).await;
            // The other one runs on, and is reaped when it exits by itself.
            assert!(matches!(child_state(kept_pid), Some(s) if s != 'Z'), "{:?}", child_state(kept_pid));
            let start = Instant::now();
            all_reaped(&[kept_pid], Duration::from_secs(10)).await;
            assert!(start.elapsed() > Duration::from_millis(100), "{:?}", start.elapsed());
        });
    }
}
