//! `#[ringloop::test]` and `#[ringloop::main]` (ringloop-macros, feature `macros`):
//! each option builds the runtime it names, the body's output comes back (a `Result`
//! included), the test's own attributes stay, a runtime that cannot be built panics
//! with the attribute as written, and the expansion's names neither hide nor see the
//! body's. The compile errors are ringloop-macros' UI tests (ringloop-macros/tests/ui).
//!
//! The io_uring tests are `#[ignore]`d bodies run by [`uring_options`]: where
//! io_uring is refused (a container under Docker's default seccomp profile) it
//! checks the build error instead, as `support::skip_uring` does for the matrix.

mod support;

use std::cell::Cell;

use ringloop::{DriverKind, KernelCompat};

#[ringloop::test(driver = "epoll")]
async fn driver_epoll() {
    let features = ringloop::features();
    assert_eq!(features.driver, DriverKind::Epoll);
    assert_eq!(ringloop::spawn(async { 1 + 1 }).await, Ok(2));
}

#[ringloop::test(driver = "auto")]
async fn driver_auto() {
    // Auto is io_uring, or epoll where io_uring is refused.
    let expected = match support::uring_refused() {
        None => DriverKind::IoUring,
        Some(_) => DriverKind::Epoll,
    };
    assert_eq!(ringloop::driver_kind(), expected);
}

#[ringloop::test(driver = "uring", kernel_compat = "native")]
#[ignore = "run by uring_options, which first checks that io_uring can be set up here"]
async fn driver_uring() {
    let features = ringloop::features();
    assert_eq!(features.driver, DriverKind::IoUring);
    assert_eq!(features.kernel_compat, KernelCompat::Native);
}

#[ringloop::test(driver = "uring", kernel_compat = "5.10")]
#[ignore = "run by uring_options, which first checks that io_uring can be set up here"]
async fn kernel_compat_5_10() {
    let features = ringloop::features();
    assert_eq!(features.driver, DriverKind::IoUring);
    assert_eq!(features.kernel_compat, KernelCompat::V5_10);
    // The probe is masked to what 5.10 has, whatever the kernel has.
    assert!(!features.ext_arg && !features.msg_ring && !features.multishot_recv_limit);
    assert!(!features.single_issuer && !features.defer_taskrun && !features.coop_taskrun);
    assert!(features.supports_opcode(io_uring::opcode::Tee::CODE));
    assert!(!features.supports_opcode(io_uring::opcode::MkDirAt::CODE));
}

#[ringloop::test(driver = "uring", entries = 64)]
#[ignore = "run by uring_options, which first checks that io_uring can be set up here"]
async fn entries_64() {
    assert_eq!(ringloop::features().sq_entries, 64);
}

/// The io_uring tests above, where io_uring can be set up; where it is refused, the
/// panic that the attribute makes of the build error.
#[test]
fn uring_options() {
    if !support::skip_uring(module_path!()) {
        driver_uring();
        kernel_compat_5_10();
        entries_64();
        return;
    }
    let panic = std::panic::catch_unwind(driver_uring).expect_err("io_uring built");
    let message = panic_message(&panic);
    assert!(
        message.starts_with(
            "#[ringloop::test(driver = \"uring\", kernel_compat = \"native\")]: \
             cannot build the runtime: "
        ),
        "{message}"
    );
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

/// Options the attribute leaves unset come from the environment; a runtime that
/// cannot be built panics with the attribute as written and the builder's error.
/// Run alone, in a child with `RINGLOOP_DRIVER=kqueue`, by
/// [`build_error_names_the_options`] (which also shows `#[ignore]` and
/// `#[should_panic]` kept together).
#[ringloop::test(entries = 8)]
#[ignore = "the child of build_error_names_the_options, which sets RINGLOOP_DRIVER=kqueue"]
#[should_panic(
    expected = "#[ringloop::test(entries = 8)]: cannot build the runtime: \
                           RINGLOOP_DRIVER=\"kqueue\": expected auto, uring or epoll"
)]
async fn build_error_child() {}

#[test]
fn build_error_names_the_options() {
    let out = support::run_child("build_error_child", &[("RINGLOOP_DRIVER", "kqueue")]);
    assert!(out.success, "{out:?}");
}

#[ringloop::test(driver = "epoll")]
async fn result_output() -> std::io::Result<()> {
    let path = std::env::temp_dir().join(format!("ringloop-macros-{}", std::process::id()));
    ringloop::fs::write(&path, b"ok").await?;
    let read = ringloop::fs::read(&path).await;
    ringloop::fs::remove_file(&path).await?;
    assert_eq!(read?, b"ok");
    Ok(())
}

/// A `main` with an output of its own, called as a function.
mod returns_err {
    #[ringloop::main(driver = "epoll")]
    pub(super) async fn main() -> Result<u32, String> {
        let n = ringloop::spawn(async { 2 })
            .await
            .map_err(|e| e.to_string())?;
        if n == 2 {
            return Err(format!("early return with {n}"));
        }
        Ok(n)
    }
}

#[test]
fn main_returns_the_body_output() {
    assert_eq!(returns_err::main(), Err("early return with 2".to_owned()));
}

#[ringloop::test(driver = "epoll")]
#[should_panic(expected = "the body panicked")]
async fn should_panic_is_kept() {
    ringloop::yield_now().await;
    panic!("the body panicked");
}

/// A function named like the expansion's locals: the body calls this one.
fn runtime() -> u32 {
    7
}

/// The same, under the other local's name.
fn body() -> u32 {
    6
}

#[ringloop::test(driver = "epoll")]
async fn expansion_names_are_hygienic() {
    assert_eq!(runtime() * body(), 42);
}

thread_local! {
    static FAKE_BUILDER_USED: Cell<bool> = const { Cell::new(false) };
}

/// A stand-in for ringloop under another path, whose `Runtime::builder` says it
/// was called: `crate = "fake"` must reach ringloop through it.
mod fake {
    pub(crate) use ringloop::Driver;

    pub(crate) struct Runtime;

    impl Runtime {
        pub(crate) fn builder() -> ringloop::Builder {
            super::FAKE_BUILDER_USED.with(|used| used.set(true));
            ringloop::Runtime::builder()
        }
    }
}

#[ringloop::test(crate = "fake", driver = "epoll")]
async fn crate_option_is_the_path_used() {
    assert!(FAKE_BUILDER_USED.with(Cell::get));
    assert_eq!(ringloop::driver_kind(), DriverKind::Epoll);
}
