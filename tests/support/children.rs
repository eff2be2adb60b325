//! Child processes: this test binary run again for one test ([`run_child`], and the
//! two ways tests use it, [`in_child`] and [`isolated`]), and the check that a
//! subprocess was reaped ([`reaped`]).

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::{scaled, Mode};

/// Set in the environment of a test re-run by [`run_child`].
pub const CHILD_ENV: &str = "RINGLOOP_TEST_CHILD";

/// Whether this process is a child started by [`run_child`].
pub fn is_child() -> bool {
    std::env::var_os(CHILD_ENV).is_some()
}

/// The libtest name of the `matrix_test!` (or `single_test!`) test of `mode` whose
/// body runs in module `module_path` (pass `module_path!()`).
pub fn matrix_test_name(module_path: &str, mode: Mode) -> String {
    let path = module_path
        .split_once("::")
        .map_or(module_path, |(_crate, path)| path);
    format!("{path}::{}", mode.test_fn())
}

/// The output of a child process, as text.
#[derive(Debug)]
pub struct ChildOutput {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
}

/// Re-runs test `test_name` of this test binary in a child process with [`CHILD_ENV`]
/// and `envs` set, and returns its output. The child is killed (and this panics) if
/// it takes longer than 150 s ([`scaled`]): a hang, not a slow run (a debug build's
/// 1 GiB copy in `fs_copy` took over 60 s on 2 cores at a load of 7).
pub fn run_child(test_name: &str, envs: &[(&str, &str)]) -> ChildOutput {
    let exe = std::env::current_exe().expect("current_exe");
    let mut command = Command::new(exe);
    command
        .args([
            "--exact",
            test_name,
            "--nocapture",
            "--include-ignored",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, "1")
        .env("RUST_BACKTRACE", "0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (key, value) in envs {
        command.env(key, value);
    }
    let mut child = command.spawn().expect("spawn the test binary");
    let mut out = child.stdout.take().expect("piped stdout");
    let mut err = child.stderr.take().expect("piped stderr");
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let limit = scaled(Duration::from_secs(150));
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the child") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("child test {test_name} did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let output = ChildOutput {
        success: status.success(),
        stdout: out.join().expect("stdout reader"),
        stderr: err.join().expect("stderr reader"),
    };
    assert!(
        output.stdout.contains("1 passed"),
        "child test {test_name} did not run exactly one test:\n{output:#?}"
    );
    output
}

/// For a test whose body must run alone in a process (it counts the process's
/// descriptors or heap, or changes process-wide state): in the test harness's
/// process, re-runs this test (`mode`, `module_path`: pass `module_path!()`) in a
/// child with `envs` set, checks that it passed, shows on standard error the lines
/// it printed with `measured:` in them and those it began with `SKIPPED:`, and returns `true` (the test is done); in
/// that child, returns `false` (run the body).
pub fn in_child(mode: Mode, module_path: &str, envs: &[(&str, &str)]) -> bool {
    if is_child() {
        return false;
    }
    let output = run_child(&matrix_test_name(module_path, mode), envs);
    assert!(output.success, "the child failed:\n{output:#?}");
    for line in output.stdout.lines() {
        if let Some(at) = line.find("measured:") {
            eprintln!("{mode:?} {}", &line[at..]);
        }
    }
    // A child's `SKIPPED:` lines (written past its capture) go on to this process's
    // standard error the same way, where the CI's summary counts them.
    for line in output.stderr.lines().filter(|l| l.starts_with("SKIPPED:")) {
        use std::io::Write;
        let _ = std::io::stderr().write_all(format!("{line}\n").as_bytes());
    }
    true
}

/// Runs `body` alone in a child process ([`in_child`]), so that the descriptors
/// it counts are its own. Call as `isolated(mode, module_path!(), || ...)` from a
/// `matrix_test!` body.
pub fn isolated(mode: Mode, module_path: &str, body: impl FnOnce()) {
    if !in_child(mode, module_path, &[]) {
        body();
    }
}

/// Whether `pid` was reaped: `waitid` on it says it is no child of ours (it only
/// looks: `WNOWAIT`).
pub fn reaped(pid: u32) -> bool {
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
    rc == -1 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ECHILD)
}
