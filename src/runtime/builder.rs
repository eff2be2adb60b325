//! [`Builder`]: runtime options, and the environment variables that fill in what
//! the builder leaves unset.

use std::io;
use std::time::Duration;

use super::Runtime;
use crate::driver::features::KernelCompat;

pub use crate::driver::Driver;

/// Resolved options.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Config {
    pub(crate) driver: Driver,
    pub(crate) kernel_compat: KernelCompat,
    pub(crate) entries: u32,
    pub(crate) call_capacity: usize,
    pub(crate) msg_ring: bool,
    pub(crate) slow_poll: Option<Duration>,
}

/// Options for a [`Runtime`], like asyncio's loop options.
///
/// ```
/// use ringloop::{Driver, KernelCompat, Runtime};
/// let rt = Runtime::builder()
///     .driver(Driver::IoUring)
///     .entries(512)
///     .kernel_compat(KernelCompat::V5_10)
///     .build();
/// // io_uring may be unavailable where the docs are tested; then building says so.
/// if let Ok(rt) = rt {
///     assert!(!rt.features().ext_arg);
///     assert_eq!(rt.block_on(async { 1 + 1 }), 2);
/// }
/// ```
#[derive(Clone, Debug, Default)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct Builder {
    driver: Option<Driver>,
    kernel_compat: Option<KernelCompat>,
    entries: Option<u32>,
    call_capacity: Option<usize>,
    msg_ring: Option<bool>,
    slow_poll: Option<Option<Duration>>,
}

/// The slow-poll threshold that [`Builder::warn_slow_polls`] turns on (asyncio's
/// `slow_callback_duration`, 100 ms).
pub const DEFAULT_SLOW_POLL_THRESHOLD: Duration = Duration::from_millis(100);

/// Default submission queue size.
const DEFAULT_ENTRIES: u32 = 256;

/// Default bound on the calls other threads may have queued or running on a
/// runtime ([`Builder::call_capacity`]).
pub(crate) const DEFAULT_CALL_CAPACITY: usize = 1024;

impl Builder {
    /// A builder with nothing chosen: the environment, then the defaults, decide.
    pub fn new() -> Builder {
        Builder::default()
    }

    /// Chooses the driver. Without this, `RINGLOOP_DRIVER=auto|uring|epoll` decides,
    /// and without that, [`Driver::Auto`].
    pub fn driver(mut self, driver: Driver) -> Builder {
        self.driver = Some(driver);
        self
    }

    /// The io_uring submission queue size (rounded up to a power of two, clamped to
    /// what the kernel allows; the completion queue is four times larger). Default
    /// 256. Ignored by the epoll driver.
    pub fn entries(mut self, entries: u32) -> Builder {
        self.entries = Some(entries);
        self
    }

    /// Restricts io_uring to an older kernel's features. Without this,
    /// `RINGLOOP_KERNEL_COMPAT=5.10` decides, and without that, everything the
    /// kernel has is used.
    pub fn kernel_compat(mut self, compat: KernelCompat) -> Builder {
        self.kernel_compat = Some(compat);
        self
    }

    /// How many calls from other threads ([`LoopHandle`](crate::LoopHandle)) may be
    /// queued or running on this runtime at once; a caller past it waits for one to
    /// finish (back-pressure). At least 1; default 1024.
    pub fn call_capacity(mut self, capacity: usize) -> Builder {
        self.call_capacity = Some(capacity);
        self
    }

    /// Whether this runtime's parked loop may be woken, and may wake other
    /// runtimes' parked loops from its thread, with `IORING_OP_MSG_RING` (one ring
    /// posting a completion into another) instead of an eventfd write. Used only
    /// where the probe has it ([`Features::msg_ring`](crate::Features::msg_ring)):
    /// io_uring on 5.18+, not under [`KernelCompat::V5_10`]; wakes from plain
    /// threads and epoll runtimes always write the eventfd. Without this,
    /// `RINGLOOP_MSG_RING=0|1` decides, and without that, on.
    pub fn msg_ring_wakes(mut self, on: bool) -> Builder {
        self.msg_ring = Some(on);
        self
    }

    /// Warns about task polls that take `threshold` or longer, like asyncio's
    /// debug mode: such a poll keeps every other task, timer and I/O completion
    /// of the loop waiting. Each is counted in
    /// [`RuntimeMetrics::slow_polls`](crate::metrics::RuntimeMetrics::slow_polls)
    /// and reported with the task's name and id, as one line on standard error
    /// (`ringloop: Executing <Task name="worker" id=3> took 0.150 seconds`), or
    /// as a `tracing` warning with the `tracing` feature. `None` (the default)
    /// turns it off; then no poll is timed. On, each poll costs two clock reads
    /// (about 40 ns together with the vDSO clock).
    ///
    /// ```
    /// use std::time::Duration;
    /// let rt = ringloop::Runtime::builder()
    ///     .slow_poll_threshold(Some(Duration::from_millis(50)))
    ///     .build()
    ///     .unwrap();
    /// rt.block_on(async {
    ///     ringloop::spawn(async { std::thread::sleep(Duration::from_millis(60)) })
    ///         .await
    ///         .unwrap();
    /// });
    /// // The task's poll (and any other that took 50 ms or more).
    /// assert!(rt.metrics().slow_polls >= 1);
    /// ```
    pub fn slow_poll_threshold(mut self, threshold: Option<Duration>) -> Builder {
        self.slow_poll = Some(threshold);
        self
    }

    /// Turns the slow-poll warning on with the default threshold,
    /// [`DEFAULT_SLOW_POLL_THRESHOLD`](crate::metrics::DEFAULT_SLOW_POLL_THRESHOLD) (100 ms), or off; see
    /// [`slow_poll_threshold`](Self::slow_poll_threshold). Without either,
    /// `RINGLOOP_SLOW_POLL_MS=<milliseconds>` decides (`0` or unset: off).
    pub fn warn_slow_polls(self, on: bool) -> Builder {
        self.slow_poll_threshold(on.then_some(DEFAULT_SLOW_POLL_THRESHOLD))
    }

    pub(crate) fn config(&self) -> io::Result<Config> {
        let driver = match self.driver {
            Some(d) => d,
            None => driver_from_env()?,
        };
        let kernel_compat = match self.kernel_compat {
            Some(k) => k,
            None => compat_from_env()?,
        };
        Ok(Config {
            driver,
            kernel_compat,
            entries: self.entries.unwrap_or(DEFAULT_ENTRIES),
            call_capacity: self.call_capacity.unwrap_or(DEFAULT_CALL_CAPACITY).max(1),
            msg_ring: match self.msg_ring {
                Some(on) => on,
                None => msg_ring_from_env()?,
            },
            slow_poll: match self.slow_poll {
                Some(threshold) => threshold,
                None => slow_poll_from_env()?,
            },
        })
    }

    /// Creates the runtime on this thread.
    ///
    /// Fails with the kernel's error when the chosen driver cannot be set up (for
    /// `Driver::IoUring` where io_uring is unavailable, for example), or with
    /// `InvalidInput` when an environment variable has a value it does not know.
    pub fn build(self) -> io::Result<Runtime> {
        let config = self.config()?;
        Runtime::with_config(&config)
    }
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn driver_from_env() -> io::Result<Driver> {
    match env("RINGLOOP_DRIVER").as_deref().map(str::trim) {
        None | Some("auto") => Ok(Driver::Auto),
        Some("uring") | Some("io_uring") | Some("iouring") => Ok(Driver::IoUring),
        Some("epoll") => Ok(Driver::Epoll),
        Some(other) => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("RINGLOOP_DRIVER={other:?}: expected auto, uring or epoll"),
        )),
    }
}

fn compat_from_env() -> io::Result<KernelCompat> {
    match env("RINGLOOP_KERNEL_COMPAT").as_deref().map(str::trim) {
        None | Some("native") | Some("none") => Ok(KernelCompat::Native),
        Some("5.10") => Ok(KernelCompat::V5_10),
        Some(other) => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("RINGLOOP_KERNEL_COMPAT={other:?}: expected 5.10 or native"),
        )),
    }
}

fn msg_ring_from_env() -> io::Result<bool> {
    match env("RINGLOOP_MSG_RING").as_deref().map(str::trim) {
        None | Some("1") | Some("on") => Ok(true),
        Some("0") | Some("off") => Ok(false),
        Some(other) => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("RINGLOOP_MSG_RING={other:?}: expected 0 or 1"),
        )),
    }
}

fn slow_poll_from_env() -> io::Result<Option<Duration>> {
    let Some(value) = env("RINGLOOP_SLOW_POLL_MS") else {
        return Ok(None);
    };
    match value.trim().parse::<u64>() {
        Ok(0) => Ok(None),
        Ok(ms) => Ok(Some(Duration::from_millis(ms))),
        Err(_) => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("RINGLOOP_SLOW_POLL_MS={value:?}: expected a number of milliseconds"),
        )),
    }
}
