//! Test support: run a test body once per driver.
//!
//! ```ignore
//! matrix_test! {
//!     fn spawn_works(mode) {
//!         mode.run(async { assert_eq!(ringloop::spawn(async { 1 }).await, Ok(1)) });
//!     }
//! }
//! ```
//! expands to a module `spawn_works` with the tests `uring`, `uring_5_10` and
//! `epoll`.

#![allow(dead_code)]

use std::future::Future;

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
}

/// Open descriptors of this process.
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .count()
        - 1
}

/// Defines one test per driver: `fn name(mode) { body }` becomes
/// `name::uring`, `name::uring_5_10` and `name::epoll`.
#[macro_export]
macro_rules! matrix_test {
    ($(#[$attr:meta])* fn $name:ident($mode:ident) $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[allow(unused_variables)]
            fn body($mode: $crate::common::Mode) $body

            $(#[$attr])*
            #[test]
            fn uring() {
                body($crate::common::Mode::Uring)
            }

            $(#[$attr])*
            #[test]
            fn uring_5_10() {
                body($crate::common::Mode::Uring510)
            }

            $(#[$attr])*
            #[test]
            fn epoll() {
                body($crate::common::Mode::Epoll)
            }
        }
    };
}
