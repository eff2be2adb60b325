//! The errors of the synchronisation primitives, named after the asyncio exceptions
//! they stand for.
//!
//! | asyncio raises | ringloop returns |
//! |---|---|
//! | `CancelledError` (awaiting or reading a cancelled future) | [`CancelledError`] |
//! | `InvalidStateError` (setting a done future, reading a pending one) | [`InvalidStateError`] |
//! | either, from `Future.result()` | [`PromiseError`] |
//! | `BrokenBarrierError` | [`BrokenBarrierError`] |
//! | `RuntimeError('cannot notify on un-acquired lock')` | [`NotLockedError`] |
//! | `ValueError('BoundedSemaphore released too many times')` | [`TooManyReleasesError`] |
//!
//! All are small `Copy` values with a `Display` message and `std::error::Error`.

use std::fmt;

macro_rules! unit_error {
    ($(#[$doc:meta])* $name:ident, $message:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
        pub struct $name;

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str($message)
            }
        }

        impl std::error::Error for $name {}
    };
}

unit_error!(
    /// The [`Promise`](super::Promise) was cancelled (asyncio's `CancelledError`):
    /// what awaiting a cancelled promise gives.
    ///
    /// ```
    /// use ringloop::sync::{CancelledError, Promise};
    /// ringloop::run(async {
    ///     let promise = Promise::<u32>::new();
    ///     promise.cancel();
    ///     assert_eq!(promise.wait().await, Err(CancelledError));
    /// });
    /// ```
    CancelledError,
    "the operation was cancelled"
);

unit_error!(
    /// An operation does not fit the object's state (asyncio's `InvalidStateError`):
    /// setting the result of a [`Promise`](super::Promise) that is already done, or
    /// reading the result of one that is not done yet.
    ///
    /// ```
    /// use ringloop::sync::{InvalidStateError, Promise};
    /// let promise = Promise::new();
    /// assert_eq!(promise.set_result(1), Ok(()));
    /// assert_eq!(promise.set_result(2), Err(InvalidStateError));
    /// ```
    InvalidStateError,
    "invalid state: the promise is already done, or not done yet"
);

unit_error!(
    /// A [`Barrier`](super::Barrier) was aborted, or reset while a task waited on it
    /// (asyncio's `BrokenBarrierError`).
    ///
    /// ```
    /// use ringloop::sync::{Barrier, BrokenBarrierError};
    /// ringloop::run(async {
    ///     let barrier = Barrier::new(2);
    ///     barrier.abort();
    ///     assert_eq!(barrier.wait().await, Err(BrokenBarrierError));
    /// });
    /// ```
    BrokenBarrierError,
    "the barrier is broken (aborted, or reset while waiting)"
);

unit_error!(
    /// [`Condition::notify`](super::Condition::notify) was called while the
    /// condition's lock was not held (asyncio raises `RuntimeError`).
    ///
    /// ```
    /// use ringloop::sync::{Condition, NotLockedError};
    /// let cond = Condition::new();
    /// assert_eq!(cond.notify(1), Err(NotLockedError));
    /// ```
    NotLockedError,
    "cannot notify on un-acquired lock"
);

unit_error!(
    /// [`BoundedSemaphore::release`](super::BoundedSemaphore::release) would raise
    /// the count above its initial value (asyncio raises `ValueError`).
    ///
    /// ```
    /// use ringloop::sync::{BoundedSemaphore, TooManyReleasesError};
    /// let sem = BoundedSemaphore::new(1);
    /// assert_eq!(sem.release(), Err(TooManyReleasesError));
    /// ```
    TooManyReleasesError,
    "BoundedSemaphore released too many times"
);

/// Why [`Promise::result`](super::Promise::result) has no value, as the two
/// exceptions asyncio's `Future.result()` raises.
///
/// ```
/// use ringloop::sync::{Promise, PromiseError};
/// let promise = Promise::<u32>::new();
/// assert_eq!(promise.result(), Err(PromiseError::InvalidState));
/// promise.cancel();
/// assert_eq!(promise.result(), Err(PromiseError::Cancelled));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum PromiseError {
    /// The promise is not done yet ([`InvalidStateError`]).
    InvalidState,
    /// The promise was cancelled ([`CancelledError`]).
    Cancelled,
}

impl fmt::Display for PromiseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PromiseError::InvalidState => f.write_str("the promise has no result yet"),
            PromiseError::Cancelled => CancelledError.fmt(f),
        }
    }
}

impl std::error::Error for PromiseError {}

impl From<CancelledError> for PromiseError {
    fn from(_: CancelledError) -> PromiseError {
        PromiseError::Cancelled
    }
}

impl From<InvalidStateError> for PromiseError {
    fn from(_: InvalidStateError) -> PromiseError {
        PromiseError::InvalidState
    }
}
