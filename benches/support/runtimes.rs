//! What every benchmark file shares: the runtimes under test and the per-operation
//! timing. Included with `#[path = "support/runtimes.rs"] mod runtimes;`.

use std::time::Duration;

/// ringloop's rows: the io_uring driver, and the same program on epoll.
pub(crate) const RINGLOOP_DRIVERS: [(&str, ringloop::Driver); 2] = [
    ("ringloop", ringloop::Driver::IoUring),
    ("ringloop-epoll", ringloop::Driver::Epoll),
];

/// A ringloop runtime on `driver`.
pub(crate) fn ringloop_rt(driver: ringloop::Driver) -> ringloop::Runtime {
    ringloop::Runtime::builder()
        .driver(driver)
        .build()
        .expect("ringloop runtime")
}

/// tokio's current-thread runtime, the peer in every group.
pub(crate) fn tokio_rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// The time of one operation when `ops` of them took `total`.
pub(crate) fn per_op(total: Duration, ops: usize) -> Duration {
    total / ops as u32
}
