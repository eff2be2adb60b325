//! [`wait_for`] / [`timeout`]: bound how long a future may take.

use std::fmt;
use std::future::{Future, IntoFuture};
use std::pin::pin;
use std::task::Poll;
use std::time::{Duration, Instant};

use super::sleep::{sleep, sleep_until};

/// The error of [`wait_for`]: the future did not finish in time (asyncio's
/// `TimeoutError`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct TimeoutError;

impl fmt::Display for TimeoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("operation timed out")
    }
}

impl std::error::Error for TimeoutError {}

impl From<TimeoutError> for std::io::Error {
    fn from(_: TimeoutError) -> std::io::Error {
        std::io::ErrorKind::TimedOut.into()
    }
}

/// Runs `future` for at most `duration`, like `asyncio.wait_for(aw, timeout)`.
///
/// Resolves to `Ok(output)` if the future finishes first, or `Err(TimeoutError)`
/// once `duration` has passed, in which case the future is dropped (cancelled). A
/// future that is ready on its first poll wins even with a zero duration. Dropping
/// the returned future drops both. The clock starts when `wait_for` is called.
///
/// Given a [`JoinHandle`](crate::JoinHandle), a timeout cancels its task, as
/// asyncio's `wait_for` cancels a task that times out; pass `&mut handle` or
/// [`shield_handle`](crate::shield_handle)`(handle)` to leave it running.
///
/// Cancel-safe if `future` is (`&mut handle` is; a handle by value is not).
///
/// ```
/// use std::time::Duration;
/// ringloop::run(async {
///     let slow = ringloop::sleep(Duration::from_secs(3600));
///     assert!(ringloop::wait_for(Duration::from_millis(10), slow).await.is_err());
///     let quick = async { 7 };
///     assert_eq!(ringloop::wait_for(Duration::from_millis(10), quick).await, Ok(7));
/// });
/// ```
pub fn wait_for<F: IntoFuture>(
    duration: Duration,
    future: F,
) -> impl Future<Output = Result<F::Output, TimeoutError>> {
    let deadline = Instant::now().checked_add(duration);
    let future = future.into_future();
    async move {
        let mut future = pin!(future);
        let mut timer = pin!(match deadline {
            Some(deadline) => sleep_until(deadline),
            None => sleep(Duration::MAX),
        });
        std::future::poll_fn(|cx| {
            if let Poll::Ready(output) = future.as_mut().poll(cx) {
                return Poll::Ready(Ok(output));
            }
            timer.as_mut().poll(cx).map(|()| Err(TimeoutError))
        })
        .await
    }
}

/// The same function as [`wait_for`], under the name of asyncio's
/// `asyncio.timeout()`.
///
/// ```
/// use std::time::Duration;
/// ringloop::run(async {
///     let r = ringloop::timeout(Duration::from_millis(5), std::future::pending::<()>()).await;
///     assert_eq!(r, Err(ringloop::TimeoutError));
/// });
/// ```
pub fn timeout<F: IntoFuture>(
    duration: Duration,
    future: F,
) -> impl Future<Output = Result<F::Output, TimeoutError>> {
    wait_for(duration, future)
}
