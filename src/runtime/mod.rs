//! The per-thread runtime: [`Runtime`], [`run`], and the loop that drives tasks,
//! timers and the I/O driver.
//!
//! * `builder.rs`: options and environment variables.
//! * `core.rs`: the executor's state (task registry, ready queue, timers, driver)
//!   and shutdown.
//! * `event_loop.rs`: `block_on` and one turn of the loop.
//! * `shared.rs`: what other threads may touch, in a pooled slot that outlives the
//!   runtime: the eventfd that interrupts a parked loop, and
//! * `inbox.rs`: the remote-wake queue, the main future's wake flag and the park
//!   handshake, without system calls (the loom models of `src/loom/` check it).
//! * `context.rs`: the thread-local current runtime.
//! * `calls.rs`, `handle.rs`, `remote.rs`: calls from other threads: the
//!   bounded call queue, [`LoopHandle`] and the [`RemoteHandle`] of a task started
//!   from elsewhere.

mod builder;
pub(crate) mod calls;
pub(crate) mod context;
mod core;
mod event_loop;
mod handle;
pub(crate) mod inbox;
pub(crate) mod metrics;
pub(crate) mod remote;
mod shared;
mod spawn;

use std::fmt;
use std::future::{Future, IntoFuture};
use std::io;
use std::marker::PhantomData;
use std::rc::Rc;

pub(crate) use self::builder::Config;
pub use self::builder::{Builder, Driver, DEFAULT_SLOW_POLL_THRESHOLD};
pub(crate) use self::core::Core;
pub use self::handle::{loop_handle, CallSlot, LoopHandle};
pub use self::remote::{CallError, RemoteHandle};
pub(crate) use self::shared::Shared;
pub use self::spawn::{all_tasks, current_task, spawn};
use crate::driver::features::{DriverKind, Features};
use crate::task::JoinHandle;

/// An event loop on the current thread, like asyncio's `new_event_loop()`.
///
/// Most programs use [`run`]; a `Runtime` is for running several futures in turn on
/// one loop, or choosing options with [`Runtime::builder`]. Each thread may run its
/// own runtimes; a runtime stays on the thread that created it (`!Send`).
///
/// Dropping the runtime cancels the tasks still alive, cancels and completes every
/// operation in flight, and closes the driver: no descriptor, buffer or task
/// outlives it.
///
/// ```
/// let rt = ringloop::Runtime::new().unwrap();
/// let handle = rt.spawn(async { "spawned before block_on" });
/// assert_eq!(rt.block_on(handle).unwrap(), "spawned before block_on");
/// assert_eq!(rt.block_on(async { 2 + 2 }), 4);
/// ```
pub struct Runtime {
    core: Rc<Core>,
    _not_send: PhantomData<Rc<()>>,
}

impl Runtime {
    /// A runtime with default options (and the `RINGLOOP_*` environment variables).
    pub fn new() -> io::Result<Runtime> {
        Builder::new().build()
    }

    /// A builder for a runtime with options.
    pub fn builder() -> Builder {
        Builder::new()
    }

    pub(crate) fn with_config(config: &Config) -> io::Result<Runtime> {
        let core = Rc::new(Core::new(config)?);
        Ok(Runtime {
            core,
            _not_send: PhantomData,
        })
    }

    /// Runs `future` (a future, or anything `IntoFuture` such as a [`JoinHandle`]) to
    /// completion on this thread, running the runtime's tasks meanwhile, like
    /// asyncio's `run_until_complete`. Tasks still alive when it
    /// returns stay in the runtime until the next `block_on` or the runtime's drop.
    ///
    /// # Panics
    ///
    /// When called from inside a running runtime (asyncio raises `RuntimeError`);
    /// and it lets a panic of `future` itself propagate.
    pub fn block_on<F: IntoFuture>(&self, future: F) -> F::Output {
        self.core.block_on(future.into_future())
    }

    /// Spawns a task on this runtime; it starts running at the next `block_on`.
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        self.core.spawn(future)
    }

    /// A handle that other threads use to call into this runtime
    /// ([`LoopHandle::run_coroutine_threadsafe`]); the calls run while the
    /// runtime runs (`block_on`).
    pub fn handle(&self) -> LoopHandle {
        self.core.handle()
    }

    /// The driver this runtime uses.
    pub fn driver_kind(&self) -> DriverKind {
        self.core.driver.features().driver
    }

    /// What the driver's probe found.
    pub fn features(&self) -> Features {
        self.core.driver.features().clone()
    }

    /// A snapshot of this runtime's counters (tasks, polls, busy and parked
    /// time, the driver's ops and system calls...): see [`crate::metrics`].
    ///
    /// ```
    /// let rt = ringloop::Runtime::new().unwrap();
    /// rt.block_on(async { ringloop::spawn(async {}).await.unwrap() });
    /// assert_eq!(rt.metrics().tasks_spawned, 1);
    /// ```
    pub fn metrics(&self) -> metrics::RuntimeMetrics {
        self.core.metrics()
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.core.shutdown();
    }
}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runtime")
            .field("driver", &self.core.driver.features().driver)
            .finish_non_exhaustive()
    }
}

/// Runs `future` on a fresh runtime on this thread and returns its output, like
/// `asyncio.run(main())`. The driver is chosen automatically (see [`Driver::Auto`]
/// and the `RINGLOOP_*` environment variables).
///
/// When `future` completes, every task still alive is cancelled and every operation
/// in flight is completed or cancelled before `run` returns.
///
/// # Panics
///
/// When called from inside a running runtime, when no driver can be set up at all,
/// or when `future` panics.
///
/// ```
/// use std::time::Duration;
/// let answer = ringloop::run(async {
///     ringloop::sleep(Duration::from_millis(10)).await;
///     42
/// });
/// assert_eq!(answer, 42);
/// ```
#[track_caller]
pub fn run<F: Future>(future: F) -> F::Output {
    if context::is_running() {
        panic!(
            "ringloop::run cannot be called from a running runtime \
             (asyncio: \"asyncio.run() cannot be called from a running event loop\"); \
             .await the future or spawn it instead"
        );
    }
    let runtime = match Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => panic!("ringloop::run could not create a runtime: {e}"),
    };
    runtime.block_on(future)
}

/// The driver of the runtime running on this thread.
///
/// # Panics
///
/// Outside a ringloop runtime.
///
/// ```
/// ringloop::run(async {
///     let kind = ringloop::driver_kind();
///     assert!(matches!(kind, ringloop::DriverKind::IoUring | ringloop::DriverKind::Epoll));
/// });
/// ```
#[track_caller]
pub fn driver_kind() -> DriverKind {
    features().driver
}

/// `IORING_OP_MSG_RING` wakes that the runtime running on this thread has sent
/// (to parked runtimes of other threads) and received, in that order; `(0, 0)`
/// outside a runtime and on epoll. For tests that check which wake path ran.
#[doc(hidden)]
pub fn msg_ring_wake_counts() -> (u64, u64) {
    context::with_core(|core| core.driver.msg_ring_counts()).unwrap_or((0, 0))
}

/// What the probe of the runtime running on this thread found.
///
/// # Panics
///
/// Outside a ringloop runtime.
#[track_caller]
pub fn features() -> Features {
    match context::with_core(|core| core.driver.features().clone()) {
        Some(features) => features,
        None => panic!("ringloop::features called outside of a ringloop runtime"),
    }
}
