//! What the integration tests share. Every test binary includes the whole tree with
//! `mod support;` (each uses a part of it; the rest is dead code there, allowed).
//!
//! Here: [`matrix_test!`] (a test body once per driver, [`Mode`]) and
//! [`any_driver_test!`] (once, on epoll, for a body the driver does not matter to),
//! drop counts ([`Drops`]), a seeded generator ([`Rng`]), byte patterns
//! ([`pattern`]), descriptor counts ([`open_fds`]). In the submodules, the most used
//! re-exported here: `waits` (time bounds scaled for a slow machine, [`scaled`],
//! [`within`]; conditions waited for, [`eventually`]; futures polled by hand,
//! [`poll_once`]), [`children`] (a test re-run alone in a child process,
//! [`run_child`], [`isolated`]; reaped subprocesses), [`alloc`] (a counting global
//! allocator), [`seccomp`] (a filter refusing chosen system calls), [`net`]
//! (sockets, counted buffers, descriptor baselines), [`streams`] (the asyncio
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
//! `epoll`; `any_driver_test!` in its place, to `spawn_works::epoll` alone.

#![allow(dead_code, unreachable_pub)]

pub mod alloc;
pub mod children;
pub mod fs;
pub mod net;
pub mod seccomp;
pub mod streams;
mod waits;

#[allow(unused_imports)] // each test binary uses a few of them
pub use children::{
    in_child, is_child, isolated, matrix_test_name, run_child, ChildOutput, CHILD_ENV,
};
#[allow(unused_imports)]
pub use waits::{
    eventually, eventually_ok, next, poll_in_task, poll_once, scaled, sleep_until_cond, step,
    within, yield_turns, yield_until, STEP, TIME_SCALE_ENV,
};

use std::cell::Cell;
use std::future::Future;
use std::rc::Rc;

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

    /// `n` shards, each with a runtime of this mode.
    #[allow(dead_code)]
    pub fn shards(self, n: usize) -> ringloop::shard::Shards {
        ringloop::shard::Shards::new(n).configure(move |_, _| self.builder())
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

    /// Whether this mode runs on io_uring.
    pub fn is_uring(self) -> bool {
        self.driver_kind() == ringloop::DriverKind::IoUring
    }

    /// The `RINGLOOP_DRIVER` and `RINGLOOP_KERNEL_COMPAT` settings that choose this
    /// mode in a process whose builder does not (a server started as a child).
    pub fn env(self) -> [(&'static str, &'static str); 2] {
        let (driver, compat) = match self {
            Mode::Uring => ("uring", "native"),
            Mode::Uring510 => ("uring", "5.10"),
            Mode::Epoll => ("epoll", "native"),
        };
        [
            ("RINGLOOP_DRIVER", driver),
            ("RINGLOOP_KERNEL_COMPAT", compat),
        ]
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

/// Defines one test, on one driver, for a body that does not depend on the driver:
/// `fn name(mode) { body }` becomes `name::epoll`, with `mode` = [`Mode::Epoll`].
///
/// For what never reaches the driver's I/O: tasks, wakers within the loop, sync
/// primitives, queues, combinators, timers and callbacks. Their code is the same
/// whatever the driver, so running them on three drivers ran the same code three
/// times. The I/O tests (sockets, files, processes, signals, streams, the blocking
/// pool, wakes from other threads, the park) keep [`matrix_test!`]. The one driver
/// is epoll: it can be set up everywhere (io_uring is refused under Docker's
/// default seccomp profile), and valgrind understands it (`ci/valgrind.sh` selects
/// the tests named `epoll`). The test keeps the name a [`matrix_test!`] gives its
/// epoll variant, so a body that re-runs itself in a child ([`in_child`]) works
/// the same.
#[macro_export]
macro_rules! any_driver_test {
    ($(#[$attr:meta])* fn $name:ident($mode:ident) $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[allow(unused_variables)]
            fn body($mode: $crate::support::Mode) $body

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

/// A deterministic pattern of `len` bytes (not periodic in any small power of two,
/// so that a reordered or repeated chunk shows).
pub fn pattern(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}
