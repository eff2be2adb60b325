//! Where io_uring cannot be set up (a container under Docker's default seccomp
//! profile, `kernel.io_uring_disabled`, a kernel built without it), the io_uring
//! tests of the matrix are skipped (`support::skip_uring`). This test, which always
//! runs, proves such a skip hides nothing of ringloop's: either io_uring works here
//! and ringloop's io_uring runtime works too, or the kernel refuses `io_uring_setup`
//! itself (`EPERM` or `ENOSYS`, asked with a raw system call), ringloop's explicit
//! `Driver::IoUring` reports that same error, and `Driver::Auto` runs on epoll.

mod support;

use ringloop::{Driver, DriverKind, Runtime};

/// `io_uring_setup(2, &params)` made directly: its errno, or `None` (the ring is
/// closed again).
fn raw_setup_error() -> Option<i32> {
    // `struct io_uring_params`, all zero: no flags asked.
    let mut params: [u8; 120] = [0; 120];
    // SAFETY: `params` is a writable buffer of the size of `struct io_uring_params`,
    // which the kernel fills in; nothing else is passed by pointer.
    let fd = unsafe { libc::syscall(libc::SYS_io_uring_setup, 2, params.as_mut_ptr()) };
    if fd < 0 {
        return std::io::Error::last_os_error().raw_os_error();
    }
    // SAFETY: the kernel just returned this descriptor, owned by nobody else.
    unsafe { libc::close(fd as i32) };
    None
}

#[test]
fn io_uring_works_here_or_the_system_refuses_it() {
    let explicit = Runtime::builder().driver(Driver::IoUring).build();
    let auto = Runtime::builder()
        .driver(Driver::Auto)
        .build()
        .expect("Auto builds");
    assert_eq!(
        auto.block_on(async { ringloop::spawn(async { 7 }).await }),
        Ok(7)
    );
    match (support::uring_refused(), raw_setup_error()) {
        (None, _) => {
            let rt = explicit.expect("io_uring can be set up here, so ringloop's must build");
            assert_eq!(rt.driver_kind(), DriverKind::IoUring);
            assert_eq!(
                rt.block_on(async { ringloop::spawn(async { 1 }).await }),
                Ok(1)
            );
        }
        (Some(refusal), raw) => {
            assert!(
                matches!(raw, Some(libc::EPERM | libc::ENOSYS)),
                "the io_uring tests are skipped ({refusal}), but io_uring_setup answers {raw:?}"
            );
            let Err(e) = explicit else {
                panic!("Driver::IoUring built where io_uring is refused");
            };
            assert_eq!(e.raw_os_error(), raw, "{e}");
            assert_eq!(auto.driver_kind(), DriverKind::Epoll);
            use std::io::Write;
            let _ = std::io::stderr().write_all(
                format!("io_uring refused here ({refusal}): checked; Auto runs on epoll\n")
                    .as_bytes(),
            );
        }
    }
}
