//! [`RemoteHandle`]: the output of a task started on another runtime by
//! [`LoopHandle::run_coroutine_threadsafe`], asyncio's `concurrent.futures.Future`.
//!
//! ```text
//!   caller (any thread)                 target runtime's thread
//!   ───────────────────                 ───────────────────────
//!   RemoteHandle::new ─ permit? ─ push ─▶ inbox ─▶ drain_remote runs the call:
//!     (no permit: queued when polled)       cancelled already? finish(Cancelled)
//!                                           else spawn the task ─▶ polls the future
//!   poll / wait_blocking ◀──── wake ────── finish(Ok | Panicked | Cancelled)
//!   cancel / drop ── cancelled = true ──▶ wake the task: it finishes Cancelled
//! ```
//!
//! The state both sides share is one mutex-protected record ([`CallState`]):
//! whichever side finishes first writes the result, later finishes are no-ops, and
//! the call's permit (`calls.rs`) is released with the first finish. Every path
//! ends in exactly one finish: the call run or dropped unrun (the target stopped:
//! `Stopped`), the task completed, panicked or dropped (its runtime shut down:
//! `Cancelled`), or the handle cancelled before the call was queued.

use std::fmt;
use std::future::{poll_fn, Future};
use std::panic::{self, AssertUnwindSafe};
use std::pin::{pin, Pin};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use super::calls::{Call, CallPermit, WaiterKey};
use super::handle::LoopHandle;
use crate::loom::{Condvar, Mutex, MutexGuard};
use crate::task::panic_message;

/// Why a call to another runtime gave no output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallError {
    /// The target runtime has stopped (or stopped before running the call).
    Stopped,
    /// The target already has its capacity of calls queued or running
    /// ([`LoopHandle::call_soon_threadsafe`] only; the others wait).
    Full,
    /// The remote task was cancelled: by [`RemoteHandle::cancel`], or because its
    /// runtime shut down while it ran.
    Cancelled,
    /// The remote task panicked; the panic message.
    Panicked(String),
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::Stopped => f.write_str("the target runtime has stopped"),
            CallError::Full => f.write_str("the target runtime has too many calls queued"),
            CallError::Cancelled => f.write_str("the remote task was cancelled"),
            CallError::Panicked(msg) => write!(f, "the remote task panicked: {msg}"),
        }
    }
}

impl std::error::Error for CallError {}

struct Inner<T> {
    result: Option<Result<T, CallError>>,
    finished: bool,
    cancelled: bool,
    /// The caller waiting for the result.
    handle_waker: Option<Waker>,
    /// The remote task, to wake on cancel.
    task_waker: Option<Waker>,
    /// The call's share of the target's gate, until the first finish.
    permit: Option<CallPermit>,
}

/// What the caller and the remote task share (see the module docs). The loom
/// model `loom::remote_call` drives it directly, without a runtime.
pub(crate) struct CallState<T> {
    inner: Mutex<Inner<T>>,
    /// Signalled at finish, for `wait_blocking`.
    done: Condvar,
}

impl<T> CallState<T> {
    pub(crate) fn new() -> CallState<T> {
        CallState {
            inner: Mutex::new(Inner {
                result: None,
                finished: false,
                cancelled: false,
                handle_waker: None,
                task_waker: None,
                permit: None,
            }),
            done: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner<T>> {
        // Plain data, consistent even if a holder panicked.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records the outcome unless one is recorded already; releases the permit,
    /// then wakes the caller (so that a caller that has the result sees the slot
    /// free).
    pub(crate) fn finish(&self, result: Result<T, CallError>) {
        let (permit, task_waker) = {
            let mut inner = self.lock();
            if inner.finished {
                drop(inner);
                drop(result);
                return;
            }
            inner.finished = true;
            (inner.permit.take(), inner.task_waker.take())
        };
        drop((permit, task_waker));
        let waker = {
            let mut inner = self.lock();
            inner.result = Some(result);
            inner.handle_waker.take()
        };
        self.done.notify_all();
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Marks the call cancelled; returns the task's waker to wake, if it runs.
    pub(crate) fn cancel(&self) -> Option<Waker> {
        let mut inner = self.lock();
        inner.cancelled = true;
        inner.task_waker.take()
    }

    /// Hands the call its permit, when it is queued.
    pub(crate) fn set_permit(&self, permit: CallPermit) {
        self.lock().permit = Some(permit);
    }

    /// Whether the call has finished (with any outcome).
    pub(crate) fn is_finished(&self) -> bool {
        self.lock().finished
    }

    /// The caller's poll once the call is queued: takes the result (`taken` then
    /// records it), or registers the caller's waker for the finish to wake.
    pub(crate) fn poll_result(
        &self,
        cx: &mut Context<'_>,
        taken: &mut bool,
    ) -> Poll<Result<T, CallError>> {
        let mut inner = self.lock();
        if let Some(result) = inner.result.take() {
            *taken = true;
            return Poll::Ready(result);
        }
        assert!(!*taken, "RemoteHandle polled after it returned its output");
        match &mut inner.handle_waker {
            Some(w) => w.clone_from(cx.waker()),
            None => inner.handle_waker = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    /// Blocks this thread until the call has a result (`wait_blocking`); may
    /// return early (a spurious wake-up): poll again.
    pub(crate) fn wait_result(&self) {
        let inner = self.lock();
        if inner.result.is_none() {
            drop(self.done.wait(inner));
        }
    }
}

/// Finishes the call with `Stopped` if the call is dropped without running (its
/// target stopped with it queued).
struct Unrun<T>(Option<Arc<CallState<T>>>);

impl<T> Drop for Unrun<T> {
    fn drop(&mut self) {
        if let Some(state) = self.0.take() {
            state.finish(Err(CallError::Stopped));
        }
    }
}

/// Finishes the call with `Cancelled` if the remote task is dropped before it
/// finished (its runtime shut down).
pub(crate) struct Running<T>(pub(crate) Arc<CallState<T>>);

impl<T> Drop for Running<T> {
    fn drop(&mut self) {
        self.0.finish(Err(CallError::Cancelled));
    }
}

/// The output of a task started on another runtime with
/// [`LoopHandle::run_coroutine_threadsafe`] (or [`submit_to`](crate::shard::submit_to)).
///
/// Await it on any runtime, or block a plain thread on it with
/// [`wait_blocking`](Self::wait_blocking). Dropping it, or calling
/// [`cancel`](Self::cancel), cancels the remote task (asyncio's
/// `future.cancel()`); the task's future is then dropped on its own thread at the
/// target's next turn.
///
/// Awaiting it is cancel-safe in the sense that dropping the `.await` cancels the
/// remote task and loses nothing else; a result it produced meanwhile is dropped.
#[must_use = "dropping a RemoteHandle cancels the remote task"]
pub struct RemoteHandle<T> {
    state: Arc<CallState<T>>,
    target: LoopHandle,
    /// The call, until it is queued (no permit was free when the handle was made).
    unsent: Option<Call>,
    /// Our place among the callers waiting for a permit.
    waiter: Option<WaiterKey>,
    /// The result was taken.
    taken: bool,
}

impl<T: Send + 'static> RemoteHandle<T> {
    pub(crate) fn new<F, Fut>(target: LoopHandle, make: F) -> RemoteHandle<T>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = T> + 'static,
    {
        let state = Arc::new(CallState::new());
        let mut unrun = Unrun(Some(state.clone()));
        let call: Call = Box::new(move || {
            let state = unrun.0.take().expect("a call runs once");
            if state.lock().cancelled {
                state.finish(Err(CallError::Cancelled));
                return;
            }
            let running = Running(state);
            // `make` may panic: that is the remote task's panic.
            match panic::catch_unwind(AssertUnwindSafe(make)) {
                Ok(future) => {
                    drop(crate::spawn(run_remote(future, running)));
                }
                Err(payload) => running
                    .0
                    .finish(Err(CallError::Panicked(panic_message(&*payload)))),
            }
        });
        let mut handle = RemoteHandle {
            state,
            target,
            unsent: Some(call),
            waiter: None,
            taken: false,
        };
        if let Some(permit) = target.gate().try_acquire() {
            handle.send(permit);
        }
        handle
    }
}

impl<T> RemoteHandle<T> {
    /// Queues the call with `permit`.
    fn send(&mut self, permit: CallPermit) {
        let call = self.unsent.take().expect("sent once");
        self.state.set_permit(permit);
        if let Err(call) = self.target.push(call) {
            // Dropping it unrun finishes the call as `Stopped` (and releases the
            // permit).
            drop(call);
        }
    }

    /// Cancels the remote task, like asyncio's `future.cancel()`: if it has not
    /// started it never will; if it runs, its future is dropped at the target's
    /// next turn. The handle then resolves to `Err(CallError::Cancelled)` unless
    /// the task had finished already. Returns whether the call was still
    /// unfinished.
    pub fn cancel(&mut self) -> bool {
        let unfinished = !self.state.is_finished();
        if let Some(waker) = self.state.cancel() {
            waker.wake();
        }
        if let Some(call) = self.unsent.take() {
            // Never queued: finished here, before the call is dropped (its drop
            // would finish it as `Stopped`).
            self.state.finish(Err(CallError::Cancelled));
            drop(call);
        }
        if let Some(key) = self.waiter.take() {
            self.target.gate().leave(key);
        }
        unfinished
    }

    /// Whether the remote task has finished (with any outcome).
    pub fn is_finished(&self) -> bool {
        self.state.is_finished()
    }

    /// Blocks this thread until the remote task has finished, and returns its
    /// output; for plain threads (asyncio's `future.result()`).
    ///
    /// # Panics
    ///
    /// Inside a running runtime, whose loop it would block (a call to that same
    /// runtime could never run): `.await` the handle there instead.
    ///
    /// ```
    /// let rt = ringloop::Runtime::new().unwrap();
    /// let handle = rt.handle();
    /// let waiter = std::thread::spawn(move || {
    ///     handle.run_coroutine_threadsafe(|| async { "done" }).wait_blocking()
    /// });
    /// rt.block_on(async {
    ///     while !waiter.is_finished() {
    ///         ringloop::sleep(std::time::Duration::from_millis(1)).await;
    ///     }
    /// });
    /// assert_eq!(waiter.join().unwrap(), Ok("done"));
    /// ```
    #[track_caller]
    pub fn wait_blocking(mut self) -> Result<T, CallError> {
        assert!(
            !super::context::is_running(),
            "RemoteHandle::wait_blocking called inside a running runtime; .await it instead"
        );
        let waker = Waker::from(Arc::new(ThreadWaker(std::thread::current())));
        let mut cx = Context::from_waker(&waker);
        loop {
            if let Poll::Ready(out) = self.poll_result(&mut cx) {
                return out;
            }
            if self.unsent.is_some() {
                // Waiting for room on the target: its release unparks us.
                std::thread::park();
            } else {
                self.state.wait_result();
            }
        }
    }

    fn poll_result(&mut self, cx: &mut Context<'_>) -> Poll<Result<T, CallError>> {
        if self.unsent.is_some() {
            if self.target.is_closed() {
                self.unsent = None;
                // Out of the line for good: a release may have woken us (the
                // permits of a stopping target are released as its calls and
                // tasks are dropped, one wake each), and the next caller must
                // hear of it too, to find the target stopped in turn.
                if let Some(key) = self.waiter.take() {
                    self.target.gate().leave(key);
                }
                self.state.finish(Err(CallError::Stopped));
            } else {
                match self
                    .target
                    .gate()
                    .acquire_or_wait(cx.waker(), &mut self.waiter)
                {
                    Some(permit) => self.send(permit),
                    None => return Poll::Pending,
                }
            }
        }
        self.state.poll_result(cx, &mut self.taken)
    }
}

impl<T> Future for RemoteHandle<T> {
    type Output = Result<T, CallError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.poll_result(cx)
    }
}

impl<T> Drop for RemoteHandle<T> {
    fn drop(&mut self) {
        if !self.taken {
            self.cancel();
        }
    }
}

impl<T> fmt::Debug for RemoteHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteHandle")
            .field("target", &self.target)
            .field("queued", &self.unsent.is_none())
            .field("finished", &self.is_finished())
            .finish()
    }
}

/// The remote task: polls `future` unless the call is cancelled, and finishes
/// the call with its output or its panic. Dropped early (its runtime shutting
/// down), `running` finishes it as cancelled.
pub(crate) async fn run_remote<Fut: Future>(future: Fut, running: Running<Fut::Output>) {
    let mut future = pin!(future);
    let out = poll_fn(|cx| {
        {
            let mut inner = running.0.lock();
            if inner.cancelled {
                return Poll::Ready(Err(CallError::Cancelled));
            }
            match &mut inner.task_waker {
                Some(w) => w.clone_from(cx.waker()),
                None => inner.task_waker = Some(cx.waker().clone()),
            }
        }
        match panic::catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(cx))) {
            Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(payload) => Poll::Ready(Err(CallError::Panicked(panic_message(&*payload)))),
        }
    })
    .await;
    running.0.finish(out);
}

/// Unparks the thread blocked in `wait_blocking`.
struct ThreadWaker(std::thread::Thread);

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}
