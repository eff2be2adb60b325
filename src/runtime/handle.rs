//! [`LoopHandle`]: a `Send + Sync` way into a runtime from any thread, asyncio's
//! `loop.call_soon_threadsafe` and `asyncio.run_coroutine_threadsafe`.

use std::fmt;
use std::future::Future;

use super::calls::{CallPermit, WaiterKey};
use super::remote::{CallError, RemoteHandle};
use super::{context, Shared};

/// A handle to a running (or stopped) runtime that any thread may hold and use:
/// it queues calls on the runtime, which runs them on its own thread.
///
/// Get one with [`loop_handle`] inside a runtime, [`Runtime::handle`](crate::Runtime::handle)
/// outside, or from a sharded program ([`shards`](crate::shard)). It stays valid
/// after its runtime stops: calls then fail with [`CallError::Stopped`].
///
/// Calls are bounded: at most [`Builder::call_capacity`](crate::Builder::call_capacity)
/// of them (default 1024) may be queued or running on one runtime; past that,
/// [`run_coroutine_threadsafe`](Self::run_coroutine_threadsafe) waits and
/// [`call_soon_threadsafe`](Self::call_soon_threadsafe) fails with
/// [`CallError::Full`].
///
/// ```
/// let rt = ringloop::Runtime::new().unwrap();
/// let handle = rt.handle();
/// let answer = std::thread::spawn(move || {
///     // A plain thread asks the runtime, which answers on its own thread.
///     handle.run_coroutine_threadsafe(|| async { 6 * 7 }).wait_blocking()
/// });
/// rt.block_on(async {
///     // Run the loop until the other thread has its answer.
///     while !answer.is_finished() {
///         ringloop::sleep(std::time::Duration::from_millis(1)).await;
///     }
/// });
/// assert_eq!(answer.join().unwrap().unwrap(), 42);
/// ```
#[derive(Clone, Copy)]
pub struct LoopHandle {
    shared: &'static Shared,
    id: u64,
}

impl LoopHandle {
    pub(crate) fn new(shared: &'static Shared, id: u64) -> LoopHandle {
        LoopHandle { shared, id }
    }

    /// Runs `f` on the runtime's thread at its next turn, like asyncio's
    /// `loop.call_soon_threadsafe(f)`. A panic in `f` is reported on standard
    /// error and the loop goes on.
    ///
    /// Never blocks: fails with [`CallError::Full`] when the runtime already has
    /// its [capacity](crate::Builder::call_capacity) of calls (use
    /// [`reserve`](Self::reserve) to wait for room), and with [`CallError::Stopped`] when it has stopped (`f` is then
    /// dropped on this thread).
    ///
    /// ```
    /// use std::sync::atomic::{AtomicBool, Ordering};
    /// use std::sync::Arc;
    ///
    /// ringloop::run(async {
    ///     let handle = ringloop::loop_handle();
    ///     let ran = Arc::new(AtomicBool::new(false));
    ///     let r = ran.clone();
    ///     std::thread::spawn(move || handle.call_soon_threadsafe(move || r.store(true, Ordering::SeqCst)))
    ///         .join()
    ///         .unwrap()
    ///         .unwrap();
    ///     while !ran.load(Ordering::SeqCst) {
    ///         ringloop::sleep(std::time::Duration::from_millis(1)).await;
    ///     }
    /// });
    /// ```
    pub fn call_soon_threadsafe(&self, f: impl FnOnce() + Send + 'static) -> Result<(), CallError> {
        if self.is_closed() {
            return Err(CallError::Stopped);
        }
        let Some(permit) = self.shared.gate().try_acquire() else {
            return Err(CallError::Full);
        };
        let call = Box::new(move || {
            f();
            // The permit goes once `f` has run (or, if the runtime stopped with
            // the call queued, when the call is dropped).
            drop(permit);
        });
        self.push(call).map_err(|_| CallError::Stopped)
    }

    /// Starts the future that `make` builds as a task on the runtime, and returns
    /// a handle to its output, like `asyncio.run_coroutine_threadsafe(coro, loop)`.
    ///
    /// `make` is `Send` and runs on the runtime's thread; the future it builds need
    /// not be `Send`, only its output. The call is queued at once when the runtime
    /// has room for it, and otherwise when the handle is first awaited or waited
    /// for (back-pressure: the caller waits, the target's memory does not grow).
    /// The handle is awaitable on any runtime, and [`wait_blocking`](RemoteHandle::wait_blocking)
    /// blocks a plain thread on it. Dropping or [cancelling](RemoteHandle::cancel)
    /// it cancels the remote task.
    ///
    /// ```
    /// ringloop::run(async {
    ///     let here = ringloop::loop_handle();
    ///     // Any runtime's handle works the same; here the call comes back to this loop.
    ///     let len = here.run_coroutine_threadsafe(|| async { "hello".len() }).await;
    ///     assert_eq!(len, Ok(5));
    /// });
    /// ```
    pub fn run_coroutine_threadsafe<F, Fut>(&self, make: F) -> RemoteHandle<Fut::Output>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future + 'static,
        Fut::Output: Send + 'static,
    {
        RemoteHandle::new(*self, make)
    }

    /// Waits for room for one call on the runtime (back-pressure for
    /// fire-and-forget calls: [`call_soon_threadsafe`](Self::call_soon_threadsafe)
    /// fails with `Full` instead), and returns the slot, which the call then uses.
    /// Fails with [`CallError::Stopped`] when the runtime has stopped.
    ///
    /// Cancel-safe: dropping the future leaves the line of waiting callers (a
    /// wake it was given passes to the next).
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    /// ringloop::run(async {
    ///     let handle = ringloop::loop_handle();
    ///     let ran = Arc::new(AtomicUsize::new(0));
    ///     for _ in 0..3 {
    ///         let r = ran.clone();
    ///         handle.reserve().await.unwrap().call_soon_threadsafe(move || {
    ///             r.fetch_add(1, Ordering::SeqCst);
    ///         });
    ///     }
    ///     while ran.load(Ordering::SeqCst) < 3 {
    ///         ringloop::yield_now().await;
    ///     }
    /// });
    /// ```
    pub async fn reserve(&self) -> Result<CallSlot, CallError> {
        struct Reserve<'a> {
            handle: &'a LoopHandle,
            waiter: Option<WaiterKey>,
        }
        impl Drop for Reserve<'_> {
            fn drop(&mut self) {
                if let Some(key) = self.waiter.take() {
                    self.handle.gate().leave(key);
                }
            }
        }
        let mut reserve = Reserve {
            handle: self,
            waiter: None,
        };
        std::future::poll_fn(|cx| {
            if reserve.handle.is_closed() {
                return std::task::Poll::Ready(Err(CallError::Stopped));
            }
            let gate = reserve.handle.gate();
            match gate.acquire_or_wait(cx.waker(), &mut reserve.waiter) {
                Some(permit) => std::task::Poll::Ready(Ok(CallSlot {
                    handle: *reserve.handle,
                    permit,
                })),
                None => std::task::Poll::Pending,
            }
        })
        .await
    }

    /// Whether the runtime has stopped (calls to it fail with [`CallError::Stopped`]).
    pub fn is_closed(&self) -> bool {
        self.shared.inbox().owner() != self.id
    }

    /// Queues `call` (its permit already taken); hands it back if the runtime has
    /// stopped.
    pub(crate) fn push(&self, call: super::calls::Call) -> Result<(), super::calls::Call> {
        self.shared.push_call(self.id, call)
    }

    pub(crate) fn gate(&self) -> &'static super::calls::CallGate {
        self.shared.gate()
    }

    /// Calls queued or running on the runtime (for tests of the bound; meaningful
    /// while the runtime runs: a stopped runtime's slot may serve another).
    #[doc(hidden)]
    pub fn calls_in_flight(&self) -> usize {
        self.shared.gate().held()
    }

    /// Callers waiting for room on the runtime (for tests of dropped waits; as
    /// [`calls_in_flight`](Self::calls_in_flight), while the runtime runs).
    #[doc(hidden)]
    pub fn callers_waiting(&self) -> usize {
        self.shared.gate().waiting()
    }
}

/// Room for one call on a runtime, from [`LoopHandle::reserve`]; given back if
/// dropped unused.
#[must_use = "a CallSlot holds room on its runtime until it is used or dropped"]
pub struct CallSlot {
    handle: LoopHandle,
    permit: CallPermit,
}

impl CallSlot {
    /// Runs `f` on the runtime's thread at its next turn, as
    /// [`LoopHandle::call_soon_threadsafe`] does, in the room reserved. Fails with
    /// [`CallError::Stopped`] if the runtime stopped since the reservation.
    pub fn call_soon_threadsafe(self, f: impl FnOnce() + Send + 'static) -> Result<(), CallError> {
        let CallSlot { handle, permit } = self;
        let call = Box::new(move || {
            f();
            drop(permit);
        });
        handle.push(call).map_err(|_| CallError::Stopped)
    }
}

impl fmt::Debug for CallSlot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallSlot")
            .field("runtime", &self.handle)
            .finish()
    }
}

impl PartialEq for LoopHandle {
    /// Whether both handles are to the same runtime.
    fn eq(&self, other: &LoopHandle) -> bool {
        self.id == other.id
    }
}

impl Eq for LoopHandle {}

impl fmt::Debug for LoopHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoopHandle")
            .field("runtime", &self.id)
            .field("closed", &self.is_closed())
            .finish()
    }
}

/// The handle of the runtime running on this thread, like asyncio's
/// `get_running_loop()`: pass it to other threads so that they can call into
/// this loop.
///
/// # Panics
///
/// Outside a ringloop runtime.
///
/// ```
/// ringloop::run(async {
///     let handle = ringloop::loop_handle();
///     assert!(!handle.is_closed());
/// });
/// ```
#[track_caller]
pub fn loop_handle() -> LoopHandle {
    match context::with_core(|core| core.handle()) {
        Some(handle) => handle,
        None => panic!("ringloop::loop_handle called outside of a ringloop runtime"),
    }
}
