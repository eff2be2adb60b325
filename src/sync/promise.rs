//! [`Promise`]: a slot for one value that tasks await, asyncio's low-level
//! `asyncio.Future`.
//!
//! ```text
//!             set_result(v)
//!   Pending ────────────────▶ Done(v)       awaiting: Ok(v.clone())
//!      │
//!      │      cancel()
//!      └────────────────────▶ Cancelled     awaiting: Err(CancelledError)
//!
//!   leaving Pending: every awaiting task is notified (then woken), and every done
//!   callback is scheduled with call_soon, in the order they were added
//! ```
//!
//! The state never leaves `Done` or `Cancelled`, so reading it needs only shared
//! borrows: user code that runs while the state is borrowed (`T::clone` when a result
//! is read) can call back into the promise without a borrow conflict, since every
//! method finds a finished promise with a shared borrow alone. Wakers are woken, and
//! a rejected `set_result` value is dropped, after the borrows end.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use super::{CancelledError, InvalidStateError, PromiseError, WaitList, WaiterKey};
use crate::runtime::context;

enum State<T> {
    Pending,
    Done(T),
    Cancelled,
}

type DoneCallback<T> = Box<dyn FnOnce(&Promise<T>)>;

struct Inner<T> {
    state: RefCell<State<T>>,
    waiters: RefCell<WaitList<()>>,
    callbacks: RefCell<Vec<(DoneCallbackId, DoneCallback<T>)>>,
    next_callback: Cell<u64>,
}

/// A slot for one value that tasks can await, asyncio's low-level `asyncio.Future`.
///
/// One side calls [`set_result`](Promise::set_result) (or
/// [`cancel`](Promise::cancel)); any number of tasks await the promise (or
/// [`wait`](Promise::wait) on it) and each gets `Ok(value.clone())`, or
/// `Err(CancelledError)` if it was cancelled. [`add_done_callback`] registers
/// callbacks that the loop runs with [`call_soon`](crate::call_soon) once the
/// promise is done, as asyncio does. There is no `set_exception`: make the value a
/// `Result` (a `Promise<Result<T, E>>`).
///
/// `Promise<T>` is a cheap cloneable handle (an `Rc`) to one shared slot, like every
/// primitive in [`sync`](crate::sync): give a clone to the task that sets it.
/// Awaiting needs `T: Clone`, because many tasks may await the same value; `T` is
/// `'static` because done callbacks run later, on the loop.
///
/// Differences from asyncio: a task dropping (cancelling) its await does not
/// cancel the promise (in asyncio, cancelling a task cancels the future it awaits),
/// since other tasks may await it too; call [`cancel`](Promise::cancel) for that.
/// Tasks awaiting the promise are woken directly rather than through `call_soon`,
/// so they may run before the done callbacks of the same promise.
///
/// ```
/// use std::time::Duration;
/// use ringloop::sync::Promise;
///
/// ringloop::run(async {
///     let promise = Promise::new();
///     let setter = promise.clone();
///     ringloop::spawn(async move {
///         ringloop::sleep(Duration::from_millis(5)).await;
///         setter.set_result("done").unwrap();
///     });
///     assert_eq!(promise.clone().await, Ok("done"));
///     assert_eq!(promise.result(), Ok("done"));
/// });
/// ```
///
/// [`add_done_callback`]: Promise::add_done_callback
pub struct Promise<T> {
    inner: Rc<Inner<T>>,
}

/// Identifies a callback added with [`Promise::add_done_callback`], to remove it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct DoneCallbackId(u64);

impl<T: 'static> Promise<T> {
    /// A new, pending promise (asyncio's `loop.create_future()`).
    ///
    /// ```
    /// let promise = ringloop::sync::Promise::<u8>::new();
    /// assert!(!promise.done());
    /// ```
    pub fn new() -> Promise<T> {
        Promise {
            inner: Rc::new(Inner {
                state: RefCell::new(State::Pending),
                waiters: RefCell::default(),
                callbacks: RefCell::default(),
                next_callback: Cell::new(0),
            }),
        }
    }

    /// Sets the value, wakes every awaiting task and schedules the done callbacks.
    ///
    /// # Errors
    ///
    /// [`InvalidStateError`] if the promise is already done (set or cancelled); the
    /// value is dropped and nothing changes.
    ///
    /// ```
    /// let promise = ringloop::sync::Promise::new();
    /// assert!(promise.set_result(1).is_ok());
    /// assert!(promise.set_result(2).is_err());
    /// assert_eq!(promise.result(), Ok(1));
    /// ```
    pub fn set_result(&self, value: T) -> Result<(), InvalidStateError> {
        if self.done() {
            return Err(InvalidStateError);
        }
        *self.inner.state.borrow_mut() = State::Done(value);
        self.finish();
        Ok(())
    }

    /// Cancels the promise if it is pending: awaiting tasks get
    /// `Err(CancelledError)` and the done callbacks are scheduled. Returns whether it
    /// was pending (asyncio's `cancel()`; there is no cancel message).
    ///
    /// ```
    /// let promise = ringloop::sync::Promise::<u8>::new();
    /// assert!(promise.cancel());
    /// assert!(!promise.cancel());
    /// assert!(promise.cancelled());
    /// ```
    pub fn cancel(&self) -> bool {
        if self.done() {
            return false;
        }
        *self.inner.state.borrow_mut() = State::Cancelled;
        self.finish();
        true
    }

    /// Whether the promise is done: it has a value or was cancelled.
    ///
    /// ```
    /// let promise = ringloop::sync::Promise::new();
    /// promise.set_result(()).unwrap();
    /// assert!(promise.done());
    /// ```
    pub fn done(&self) -> bool {
        !matches!(*self.inner.state.borrow(), State::Pending)
    }

    /// Whether the promise was cancelled.
    ///
    /// ```
    /// let promise = ringloop::sync::Promise::<()>::new();
    /// promise.cancel();
    /// assert!(promise.cancelled());
    /// ```
    pub fn cancelled(&self) -> bool {
        matches!(*self.inner.state.borrow(), State::Cancelled)
    }

    /// A clone of the value (asyncio's `result()`).
    ///
    /// # Errors
    ///
    /// [`PromiseError::InvalidState`] while the promise is pending,
    /// [`PromiseError::Cancelled`] if it was cancelled: the two exceptions asyncio
    /// raises.
    ///
    /// ```
    /// use ringloop::sync::{Promise, PromiseError};
    /// let promise = Promise::new();
    /// assert_eq!(promise.result(), Err(PromiseError::InvalidState));
    /// promise.set_result(String::from("v")).unwrap();
    /// assert_eq!(promise.result().as_deref(), Ok("v"));
    /// ```
    pub fn result(&self) -> Result<T, PromiseError>
    where
        T: Clone,
    {
        match &*self.inner.state.borrow() {
            State::Pending => Err(PromiseError::InvalidState),
            State::Done(value) => Ok(value.clone()),
            State::Cancelled => Err(PromiseError::Cancelled),
        }
    }

    /// Waits until the promise is done: `Ok(value.clone())`, or
    /// `Err(CancelledError)` if it was cancelled. The same as `.await`ing the
    /// promise or a reference to it.
    ///
    /// Cancel-safe: dropping the future only stops this task from waiting; the
    /// promise and its other awaiters are not affected (in particular the promise is
    /// not cancelled).
    ///
    /// ```
    /// ringloop::run(async {
    ///     let promise = ringloop::sync::Promise::new();
    ///     promise.set_result(5).unwrap();
    ///     assert_eq!(promise.wait().await, Ok(5));
    ///     assert_eq!((&promise).await, Ok(5));
    /// });
    /// ```
    pub fn wait(&self) -> PromiseWait<T>
    where
        T: Clone,
    {
        PromiseWait {
            promise: self.clone(),
            waiter: None,
        }
    }

    /// Adds a callback that runs with the promise once it is done, scheduled with
    /// [`call_soon`](crate::call_soon) (asyncio's `add_done_callback`): not inline in
    /// `set_result` or `cancel`, but at the loop's next callback turn, in the order
    /// the callbacks were added. Added to a promise already done, it is scheduled at
    /// once.
    ///
    /// Outside a runtime there is no loop to schedule on, so a callback that becomes
    /// due there runs inline instead.
    ///
    /// ```
    /// use std::{cell::Cell, rc::Rc};
    /// ringloop::run(async {
    ///     let promise = ringloop::sync::Promise::new();
    ///     let seen = Rc::new(Cell::new(0));
    ///     let s = seen.clone();
    ///     promise.add_done_callback(move |p| s.set(p.result().unwrap()));
    ///     promise.set_result(7).unwrap();
    ///     assert_eq!(seen.get(), 0, "not run inline");
    ///     ringloop::yield_now().await;
    ///     assert_eq!(seen.get(), 7);
    /// });
    /// ```
    pub fn add_done_callback<F>(&self, callback: F) -> DoneCallbackId
    where
        F: FnOnce(&Promise<T>) + 'static,
    {
        let id = DoneCallbackId(self.inner.next_callback.get());
        self.inner.next_callback.set(id.0 + 1);
        if self.done() {
            self.schedule(Box::new(callback));
        } else {
            self.inner
                .callbacks
                .borrow_mut()
                .push((id, Box::new(callback)));
        }
        id
    }

    /// Removes a callback that has not been scheduled yet (asyncio's
    /// `remove_done_callback`). Returns whether it was removed; once the promise is
    /// done its callbacks are scheduled and this returns `false`.
    ///
    /// ```
    /// let promise = ringloop::sync::Promise::<()>::new();
    /// let id = promise.add_done_callback(|_| unreachable!());
    /// assert!(promise.remove_done_callback(id));
    /// assert!(!promise.remove_done_callback(id));
    /// promise.set_result(()).unwrap();
    /// ```
    pub fn remove_done_callback(&self, id: DoneCallbackId) -> bool {
        let removed = {
            let mut callbacks = self.inner.callbacks.borrow_mut();
            callbacks
                .iter()
                .position(|(i, _)| *i == id)
                .map(|at| callbacks.remove(at))
        };
        removed.is_some()
    }

    /// After the state left `Pending`: schedules the callbacks, then wakes the
    /// awaiting tasks. Callbacks first, so that a callback added re-entrantly (by a
    /// waker) is scheduled after the ones added before.
    fn finish(&self) {
        let callbacks = std::mem::take(&mut *self.inner.callbacks.borrow_mut());
        let wakers = {
            let mut waiters = self.inner.waiters.borrow_mut();
            let mut wakers: Vec<Waker> = Vec::with_capacity(waiters.len());
            waiters.notify_all((), &mut wakers);
            wakers
        };
        for (_, callback) in callbacks {
            self.schedule(callback);
        }
        for waker in wakers {
            waker.wake();
        }
    }

    fn schedule(&self, callback: DoneCallback<T>) {
        let promise = self.clone();
        if context::is_running() {
            crate::call_soon(move || callback(&promise));
        } else {
            callback(&promise);
        }
    }
}

impl<T> Clone for Promise<T> {
    fn clone(&self) -> Promise<T> {
        Promise {
            inner: self.inner.clone(),
        }
    }
}

impl<T: 'static> Default for Promise<T> {
    fn default() -> Promise<T> {
        Promise::new()
    }
}

impl<T: fmt::Debug> fmt::Debug for Promise<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("Promise");
        match self.inner.state.try_borrow().as_deref() {
            Ok(State::Pending) => s.field("state", &"pending"),
            Ok(State::Done(value)) => s.field("result", value),
            Ok(State::Cancelled) => s.field("state", &"cancelled"),
            Err(_) => s.field("state", &"being set"),
        };
        s.finish()
    }
}

impl<T: Clone + 'static> IntoFuture for Promise<T> {
    type Output = Result<T, CancelledError>;
    type IntoFuture = PromiseWait<T>;

    fn into_future(self) -> PromiseWait<T> {
        PromiseWait {
            promise: self,
            waiter: None,
        }
    }
}

impl<T: Clone + 'static> IntoFuture for &Promise<T> {
    type Output = Result<T, CancelledError>;
    type IntoFuture = PromiseWait<T>;

    fn into_future(self) -> PromiseWait<T> {
        self.wait()
    }
}

/// The future of awaiting a [`Promise`] ([`Promise::wait`]): `Ok(value.clone())`
/// or `Err(CancelledError)`. Cancel-safe.
#[must_use = "futures do nothing unless awaited"]
pub struct PromiseWait<T> {
    promise: Promise<T>,
    waiter: Option<WaiterKey>,
}

impl<T: Clone> Future for PromiseWait<T> {
    type Output = Result<T, CancelledError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let inner = &this.promise.inner;
        let output = match &*inner.state.borrow() {
            State::Pending => None,
            State::Done(value) => Some(Ok(value.clone())),
            State::Cancelled => Some(Err(CancelledError)),
        };
        let mut waiters = inner.waiters.borrow_mut();
        match output {
            Some(output) => {
                waiters.leave(&mut this.waiter);
                Poll::Ready(output)
            }
            // Only `finish` notifies, after the state left `Pending`; a waiter
            // notified anyway listens again rather than miss the wake.
            None => {
                waiters.park(&mut this.waiter, cx.waker());
                Poll::Pending
            }
        }
    }
}

impl<T> Drop for PromiseWait<T> {
    fn drop(&mut self) {
        if self.waiter.is_some() {
            let _ = self
                .promise
                .inner
                .waiters
                .borrow_mut()
                .leave(&mut self.waiter);
        }
    }
}

impl<T> fmt::Debug for PromiseWait<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PromiseWait")
            .field("waiting", &self.waiter.is_some())
            .finish_non_exhaustive()
    }
}
