//! [`BoundedSemaphore`]: asyncio's `asyncio.BoundedSemaphore`, a [`Semaphore`]
//! whose count may not grow past its initial value.
//!
//! It is the semaphore's own state (`semaphore.rs`) with the bound set to the initial
//! value: acquiring, waiting, hand-off and [`Permit`]s are the same. The bound only
//! changes releasing: [`release`](BoundedSemaphore::release) checks it and refuses,
//! and a [`Permit`] dropped at the bound (it cannot refuse) is discarded.

use std::fmt;
use std::rc::Rc;

use super::semaphore::Inner;
#[cfg(doc)]
use super::Semaphore;
use super::{Permit, SemaphoreAcquire, TooManyReleasesError};

/// A [`Semaphore`] whose count may not grow past its initial value, asyncio's
/// `asyncio.BoundedSemaphore`: [`release`](BoundedSemaphore::release) beyond it is an
/// `Err` (asyncio raises `ValueError`), which catches releasing more often than
/// acquiring.
///
/// A [`Permit`] dropped when the count is already at its bound (because
/// `release()` was called for a permit that is still alive) cannot report an error
/// from `drop`; that permit is discarded and the count stays at its bound.
///
/// ```
/// use ringloop::sync::{BoundedSemaphore, TooManyReleasesError};
/// ringloop::run(async {
///     let sem = BoundedSemaphore::new(1);
///     sem.acquire().await.forget();
///     assert_eq!(sem.release(), Ok(()));
///     assert_eq!(sem.release(), Err(TooManyReleasesError));
///     assert_eq!(sem.available_permits(), 1);
/// });
/// ```
#[derive(Clone)]
pub struct BoundedSemaphore {
    inner: Rc<Inner>,
}

impl BoundedSemaphore {
    /// A bounded semaphore with `permits` permits, which is also its bound.
    ///
    /// ```
    /// let sem = ringloop::sync::BoundedSemaphore::new(2);
    /// assert_eq!(sem.available_permits(), 2);
    /// ```
    pub fn new(permits: usize) -> BoundedSemaphore {
        BoundedSemaphore {
            inner: Inner::new(permits, permits),
        }
    }

    /// Waits for a permit and takes it; as [`Semaphore::acquire`]. Cancel-safe.
    ///
    /// ```
    /// ringloop::run(async {
    ///     let sem = ringloop::sync::BoundedSemaphore::new(1);
    ///     let _permit = sem.acquire().await;
    ///     assert!(sem.locked());
    /// });
    /// ```
    pub fn acquire(&self) -> SemaphoreAcquire {
        self.inner.acquire()
    }

    /// Takes a permit if one is available now; as [`Semaphore::try_acquire`].
    ///
    /// ```
    /// let sem = ringloop::sync::BoundedSemaphore::new(1);
    /// assert!(sem.try_acquire().is_some());
    /// ```
    pub fn try_acquire(&self) -> Option<Permit> {
        self.inner.try_acquire()
    }

    /// Adds a permit, to the oldest waiter if any (asyncio's `release()`).
    ///
    /// # Errors
    ///
    /// [`TooManyReleasesError`] if the count is already at its initial value; the
    /// count does not change.
    ///
    /// ```
    /// let sem = ringloop::sync::BoundedSemaphore::new(1);
    /// sem.try_acquire().unwrap().forget();
    /// assert_eq!(sem.release(), Ok(()));
    /// assert!(sem.release().is_err());
    /// ```
    pub fn release(&self) -> Result<(), TooManyReleasesError> {
        if self.inner.permits.get() >= self.inner.bound {
            return Err(TooManyReleasesError);
        }
        self.inner.release();
        Ok(())
    }

    /// Whether [`acquire`](BoundedSemaphore::acquire) would wait; as
    /// [`Semaphore::locked`].
    ///
    /// ```
    /// assert!(ringloop::sync::BoundedSemaphore::new(0).locked());
    /// ```
    pub fn locked(&self) -> bool {
        self.inner.locked()
    }

    /// The count of permits held by nobody; as [`Semaphore::available_permits`].
    ///
    /// ```
    /// assert_eq!(ringloop::sync::BoundedSemaphore::new(3).available_permits(), 3);
    /// ```
    pub fn available_permits(&self) -> usize {
        self.inner.permits.get()
    }
}

impl fmt::Debug for BoundedSemaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.debug("BoundedSemaphore", f)
    }
}
