//! What the integration tests share. Every test binary includes the whole tree with
//! `mod support;` (each uses a part of it; the rest is dead code there, allowed).
//!
//! Here: [`matrix_test!`] (a test body once per driver, [`Mode`]), child processes
//! ([`run_child`]), time bounds scaled for a slow machine ([`scaled`]), drop counts
//! ([`Drops`]), a seeded generator ([`Rng`]), descriptor counts ([`open_fds`]).
//! In the submodules: [`alloc`] (a counting global allocator), [`children`] (reaped
//! subprocesses), [`seccomp`] (a filter refusing chosen system calls), [`net`]
//! (sockets, counted buffers, tests alone in a child), [`streams`] (the asyncio
//! stream tests), [`fs`] (the file tests).
//!
//! ```ignore
//! mod support;
//!
//! matrix_test! {
//!     fn spawn_works(mode) {
//!         mode.run(async { assert_eq!(ringloop::spawn(async { 1 }).await, Ok(1)) });
//!     }
//! }
//! ```
//! expands to a module `spawn_works` with the tests `uring`, `uring_5_10` and
//! `epoll`.

#![allow(dead_code, unreachable_pub)]

pub mod alloc;
pub mod children;
pub mod fs;
pub mod net;
pub mod seccomp;
pub mod streams;

use std::cell::Cell;
use std::future::Future;
use std::io::Read;
use std::process::{Command, Stdio};
use std::rc::Rc;
use std::time::{Duration, Instant};

use ringloop::{Builder, Driver, KernelCompat, Runtime};

/// The drivers every integration test runs on.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Mode {
    /// io_uring with every feature the kernel has.
    Uring,
    /// io_uring limited to Linux 5.10's features.
    Uring510,
    /// epoll.
    Epoll,
}

impl Mode {
    pub const ALL: [Mode; 3] = [Mode::Uring, Mode::Uring510, Mode::Epoll];

    /// A builder for this mode.
    pub fn builder(self) -> Builder {
        match self {
            Mode::Uring => Runtime::builder()
                .driver(Driver::IoUring)
                .kernel_compat(KernelCompat::Native),
            Mode::Uring510 => Runtime::builder()
                .driver(Driver::IoUring)
                .kernel_compat(KernelCompat::V5_10),
            Mode::Epoll => Runtime::builder()
                .driver(Driver::Epoll)
                .kernel_compat(KernelCompat::Native),
        }
    }

    /// A runtime for this mode.
    pub fn runtime(self) -> Runtime {
        self.builder()
            .build()
            .unwrap_or_else(|e| panic!("cannot build a {self:?} runtime: {e}"))
    }

    /// Runs `future` on a fresh runtime of this mode, like `ringloop::run`.
    pub fn run<F: Future>(self, future: F) -> F::Output {
        self.runtime().block_on(future)
    }

    /// The name of the test function `matrix_test!` generates for this mode.
    pub fn test_fn(self) -> &'static str {
        match self {
            Mode::Uring => "uring",
            Mode::Uring510 => "uring_5_10",
            Mode::Epoll => "epoll",
        }
    }

    /// The driver a runtime of this mode must report.
    pub fn driver_kind(self) -> ringloop::DriverKind {
        match self {
            Mode::Uring | Mode::Uring510 => ringloop::DriverKind::IoUring,
            Mode::Epoll => ringloop::DriverKind::Epoll,
        }
    }
}

/// Counts drops of the [`DropToken`]s it hands out.
#[derive(Clone, Default, Debug)]
pub struct Drops(Rc<Cell<usize>>);

impl Drops {
    pub fn new() -> Drops {
        Drops::default()
    }

    /// A token that counts one drop when dropped.
    pub fn token(&self) -> DropToken {
        DropToken(self.0.clone())
    }

    /// How many tokens were dropped so far.
    pub fn count(&self) -> usize {
        self.0.get()
    }
}

/// Counts one drop in its [`Drops`].
#[derive(Debug)]
pub struct DropToken(Rc<Cell<usize>>);

impl Drop for DropToken {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

/// Set in the environment of a test re-run by [`run_child`].
pub const CHILD_ENV: &str = "RINGLOOP_TEST_CHILD";

/// Whether this process is a child started by [`run_child`].
pub fn is_child() -> bool {
    std::env::var_os(CHILD_ENV).is_some()
}

/// The libtest name of the `matrix_test!` test of `mode` whose body runs in module
/// `module_path` (pass `module_path!()`).
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
/// it takes longer than 60 s ([`scaled`]).
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
    let limit = scaled(Duration::from_secs(60));
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

/// The environment variable that says how many times slower than a normal machine
/// this one runs the tests: a whole number, 1 when unset. `ci/kernels.sh` sets it
/// in a VM under emulation (TCG), where everything takes about 7 times longer.
pub const TIME_SCALE_ENV: &str = "RINGLOOP_TEST_TIME_SCALE";

/// `d` times [`TIME_SCALE_ENV`]: for a test's fixed deadline, which must not fail
/// only because the machine is slow (timing assertions that something happens
/// *late enough* stay as they are).
pub fn scaled(d: Duration) -> Duration {
    let scale = std::env::var(TIME_SCALE_ENV)
        .ok()
        .and_then(|v| v.trim().parse::<u32>().ok())
        .unwrap_or(1)
        .max(1);
    d * scale
}

/// Yields (a whole loop turn each time) until `cond` holds, at most `max_turns` times;
/// returns whether it held.
pub async fn yield_until(max_turns: usize, mut cond: impl FnMut() -> bool) -> bool {
    for _ in 0..max_turns {
        if cond() {
            return true;
        }
        ringloop::yield_now().await;
    }
    cond()
}

/// Sleeps 1 ms at a time until `cond` holds, at most `limit`; returns whether it held.
pub async fn sleep_until_cond(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        ringloop::sleep(Duration::from_millis(1)).await;
    }
    cond()
}

/// Polls `future` once with a no-op waker (no runtime needed). Pass `&mut future`
/// (or `&mut handle`: awaiting a borrowed join handle never cancels its task).
pub fn poll_once<F: Future + Unpin>(mut future: F) -> std::task::Poll<F::Output> {
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    std::pin::Pin::new(&mut future).poll(&mut cx)
}

/// Open descriptors of this process.
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .count()
        - 1
}

/// Why io_uring cannot be set up on this machine, if it cannot: `io_uring_setup`
/// fails with `EPERM` (a seccomp filter such as Docker's default profile since
/// Docker 25, or `kernel.io_uring_disabled`) or `ENOSYS` (a kernel without it).
/// Asked once per process, of the kernel directly (a raw ring, not ringloop). Any
/// other error is no refusal: the io_uring tests run and report it.
pub fn uring_refused() -> Option<&'static std::io::Error> {
    static REFUSED: std::sync::OnceLock<Option<std::io::Error>> = std::sync::OnceLock::new();
    REFUSED
        .get_or_init(|| match io_uring::IoUring::new(2) {
            Err(e) if matches!(e.raw_os_error(), Some(libc::EPERM | libc::ENOSYS)) => Some(e),
            _ => None,
        })
        .as_ref()
}

/// Whether an io_uring test (`module_path`, pass `module_path!()`) must be skipped
/// because io_uring is refused here ([`uring_refused`]). The first one skipped in a
/// test binary says so on standard error, with the reason (straight to the
/// descriptor, past libtest's capture of passing tests' output): the tests that
/// return early then are reported passed, and this line tells the two apart.
/// `tests/uring_refused.rs` proves the refusal real where it happens.
pub fn skip_uring(module_path: &str) -> bool {
    static SAID: std::sync::Once = std::sync::Once::new();
    let Some(e) = uring_refused() else {
        return false;
    };
    SAID.call_once(|| {
        use std::io::Write;
        let binary = std::env::current_exe()
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_default();
        let line = format!(
            "SKIPPED: io_uring cannot be set up here (io_uring_setup: {e}): the io_uring \
             tests of {binary} return at once (the first: {module_path})\n"
        );
        let _ = std::io::stderr().write_all(line.as_bytes());
    });
    true
}

/// Defines one test per driver: `fn name(mode) { body }` becomes
/// `name::uring`, `name::uring_5_10` and `name::epoll`. The io_uring ones are
/// skipped (and say so, [`skip_uring`]) where io_uring cannot be set up.
#[macro_export]
macro_rules! matrix_test {
    ($(#[$attr:meta])* fn $name:ident($mode:ident) $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[allow(unused_variables)]
            fn body($mode: $crate::support::Mode) $body

            $(#[$attr])*
            #[test]
            fn uring() {
                if !$crate::support::skip_uring(module_path!()) {
                    body($crate::support::Mode::Uring)
                }
            }

            $(#[$attr])*
            #[test]
            fn uring_5_10() {
                if !$crate::support::skip_uring(module_path!()) {
                    body($crate::support::Mode::Uring510)
                }
            }

            $(#[$attr])*
            #[test]
            fn epoll() {
                body($crate::support::Mode::Epoll)
            }
        }
    };
}

/// A small seeded pseudo-random generator (xorshift64*), for randomized schedules
/// that a failing seed reproduces exactly.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed` (any value, zero included).
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A value in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// `true` with probability `percent / 100`.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}
