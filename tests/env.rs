//! `RINGLOOP_DRIVER` and `RINGLOOP_KERNEL_COMPAT`: the environment chooses the driver
//! and the feature mask when the builder does not, the builder wins when it does, and
//! an unknown value makes `Builder::build()` fail with `InvalidInput`.
//!
//! The environment is process-wide, so this file holds a single test: no other test
//! of this binary can run while it changes the variables. Driver-independent by
//! nature (it chooses the driver itself). Where io_uring cannot be set up
//! (`support::uring_refused`), whatever chooses io_uring must report the refusal, and
//! the automatic choice is epoll.

mod support;

use std::io::ErrorKind;
use std::panic::catch_unwind;

use ringloop::{Driver, DriverKind, KernelCompat, Runtime};

const DRIVER: &str = "RINGLOOP_DRIVER";
const COMPAT: &str = "RINGLOOP_KERNEL_COMPAT";

/// Sets (or removes, for `None`) both variables.
fn set_env(driver: Option<&str>, compat: Option<&str>) {
    for (key, value) in [(DRIVER, driver), (COMPAT, compat)] {
        match value {
            Some(value) => std::env::set_var(key, value),
            None => std::env::remove_var(key),
        }
    }
}

/// Builds a runtime from the environment and checks it runs a task.
fn built(driver: Option<&str>, compat: Option<&str>) -> Runtime {
    set_env(driver, compat);
    let rt = Runtime::builder()
        .build()
        .unwrap_or_else(|e| panic!("{DRIVER}={driver:?} {COMPAT}={compat:?}: {e}"));
    assert_eq!(
        rt.block_on(async { ringloop::spawn(async { 1 }).await }),
        Ok(1)
    );
    rt
}

fn build_error(driver: Option<&str>, compat: Option<&str>) -> std::io::Error {
    set_env(driver, compat);
    Runtime::builder()
        .build()
        .err()
        .unwrap_or_else(|| panic!("{DRIVER}={driver:?} {COMPAT}={compat:?} was accepted"))
}

#[test]
fn environment_variables_choose_when_the_builder_does_not() {
    let saved = (std::env::var(DRIVER).ok(), std::env::var(COMPAT).ok());

    // The driver.
    assert_eq!(built(Some("epoll"), None).driver_kind(), DriverKind::Epoll);
    let refused = support::uring_refused().and_then(|e| e.raw_os_error());
    let auto = if refused.is_some() {
        DriverKind::Epoll
    } else {
        DriverKind::IoUring
    };
    assert_eq!(built(Some("auto"), None).driver_kind(), auto);
    assert_eq!(built(None, None).driver_kind(), auto);
    assert_eq!(built(Some(""), None).driver_kind(), auto, "empty is unset");
    let rt = built(Some("epoll"), None);
    assert_eq!(
        rt.block_on(async { ringloop::driver_kind() }),
        DriverKind::Epoll
    );
    drop(rt);
    set_env(Some("epoll"), None);
    assert_eq!(
        ringloop::run(async { ringloop::driver_kind() }),
        DriverKind::Epoll
    );

    if let Some(errno) = refused {
        // Chosen by the environment or by the builder, io_uring reports the refusal.
        for compat in [None, Some("5.10")] {
            assert_eq!(
                build_error(Some("uring"), compat).raw_os_error(),
                Some(errno)
            );
        }
        set_env(Some("epoll"), Some("5.10"));
        let e = Runtime::builder()
            .driver(Driver::IoUring)
            .build()
            .unwrap_err();
        assert_eq!(e.raw_os_error(), Some(errno));
    } else {
        assert_eq!(
            built(Some("uring"), None).driver_kind(),
            DriverKind::IoUring
        );
        // The feature mask.
        let rt = built(Some("uring"), Some("5.10"));
        assert_eq!(rt.features().kernel_compat, KernelCompat::V5_10);
        assert!(!rt.features().ext_arg);
        let rt = built(Some("uring"), None);
        assert_eq!(rt.features().kernel_compat, KernelCompat::Native);

        // The builder wins over the environment.
        set_env(Some("epoll"), Some("5.10"));
        let rt = Runtime::builder()
            .driver(Driver::IoUring)
            .kernel_compat(KernelCompat::Native)
            .build()
            .unwrap();
        assert_eq!(rt.driver_kind(), DriverKind::IoUring);
        assert_eq!(rt.features().kernel_compat, KernelCompat::Native);
    }
    set_env(Some("no-such-driver"), Some("no-such-kernel"));
    let rt = Runtime::builder()
        .driver(Driver::Epoll)
        .kernel_compat(KernelCompat::Native)
        .build()
        .expect("the builder's choices make the bad variables irrelevant");
    assert_eq!(rt.driver_kind(), DriverKind::Epoll);
    drop(rt);

    // Unknown values.
    let e = build_error(Some("no-such-driver"), None);
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert!(e.to_string().contains(DRIVER), "{e}");
    assert_eq!(Runtime::new().unwrap_err().kind(), ErrorKind::InvalidInput);
    let run = catch_unwind(|| ringloop::run(async {}));
    assert!(run.is_err(), "run() with a bad {DRIVER} must panic");
    let e = build_error(Some("uring"), Some("4.19"));
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert!(e.to_string().contains(COMPAT), "{e}");

    set_env(saved.0.as_deref(), saved.1.as_deref());
}
