//! The errors of the synchronisation primitives, named after the asyncio exceptions
//! they stand for.
//!
//! | asyncio raises | ringloop returns |
//! |---|---|
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
