//! `try_gather!` and [`try_gather_all`]: `gather!` and
//! [`gather_all`](crate::gather_all) for futures that may fail, like
//! `asyncio.gather(..., return_exceptions=False)`: the first `Err` is the result,
//! and the other futures are dropped (cancelled) then and there.
//!
//! Both reuse the gather machinery: `try_gather!` is `gather!`'s macro with a slot
//! poller that stops at an `Err` ([`poll_try_gather_slot`]), and [`try_gather_all`]
//! is the same in-order future set as `gather_all`, told to break on an `Err`.
//!
//! ```text
//!   poll ──▶ poll the (woken) futures in order ──▶ one gives Err(e)? ── yes ──▶ drop the
//!                                                     │ no                   others, Ready(Err(e))
//!                                                     ▼
//!                                all gave Ok? ── yes ──▶ Ready(Ok(outputs in argument order))
//!                                     │ no
//!                                     ▼
//!                                  Pending
//! ```
//!
//! asyncio leaves the other awaitables running after the first exception; Rust's
//! futures here are owned by the gather, so they are dropped, which is what the
//! caller of a failed gather almost always wants. Join handles given by value are
//! dropped the same way, which cancels their tasks; gather
//! [`shield_handle`](crate::shield_handle)`(handle)`s or `&mut handle`s to keep the
//! tasks running past the first error, as asyncio does.

use std::fmt;
use std::future::{Future, IntoFuture};
use std::ops::ControlFlow;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::task::InOrder;

/// Runs futures whose outputs are `Result<_, E>` (the same `E` for all) concurrently
/// and resolves to `Ok` of the tuple of their values in argument order, or to the
/// first `Err` as soon as one future returns it, dropping (cancelling) the others
/// at once: asyncio's `await gather(a, b)` with `return_exceptions=False`.
///
/// The arguments are anything that implements `IntoFuture`, evaluated in order when
/// the macro is; the futures start when the result is first awaited. Dropping the
/// result drops every unfinished future (for a join handle given by value: cancels
/// its task, see [`gather!`](crate::gather)). "First" means first seen: futures are
/// polled in argument order, so of two that fail in the same turn, the earlier
/// argument wins.
///
/// ```
/// use std::time::Duration;
///
/// async fn parse(s: &str) -> Result<u32, String> {
///     s.parse().map_err(|_| format!("not a number: {s}"))
/// }
///
/// ringloop::run(async {
///     let ok = ringloop::try_gather!(parse("1"), parse("2")).await;
///     assert_eq!(ok, Ok((1, 2)));
///
///     let slow = async {
///         ringloop::sleep(Duration::from_secs(3600)).await;
///         Ok(0)
///     };
///     // The error comes at once; the slow future is dropped.
///     let err = ringloop::try_gather!(slow, parse("x")).await;
///     assert_eq!(err, Err("not a number: x".to_owned()));
/// });
/// ```
#[macro_export]
macro_rules! try_gather {
    ($($fut:expr),+ $(,)?) => {
        $crate::__gather_impl!(
            @acc [$crate::poll_try_gather_slot, ::core::result::Result::Ok] () () $($fut,)+
        )
    };
}

/// Implementation detail of [`try_gather!`]: polls one slot, stores an `Ok` value,
/// and finishes the gather with an `Err`.
#[doc(hidden)]
pub fn poll_try_gather_slot<F, T, E, R>(
    future: Pin<&mut F>,
    output: &mut Option<T>,
    cx: &mut Context<'_>,
    pending: &mut bool,
) -> Option<Result<R, E>>
where
    F: Future<Output = Result<T, E>>,
{
    match future.poll(cx) {
        Poll::Ready(Ok(value)) => *output = Some(value),
        Poll::Ready(Err(error)) => return Some(Err(error)),
        Poll::Pending => *pending = true,
    }
    None
}

/// Runs every future of `futures` (outputs `Result<T, E>`) concurrently and resolves
/// to `Ok` of their values in input order, or to the first `Err` as soon as one
/// returns it, dropping (cancelling) the others before it resolves: `gather(*aws)`
/// with `return_exceptions=False`.
///
/// Only the futures that were woken are polled, so this scales to many thousands
/// like [`gather_all`](crate::gather_all); "first" means the first one polled to an
/// `Err`, in wake order (in input order for a handful of futures). Dropping the
/// returned future drops every unfinished one (cancelling the tasks of join handles
/// given by value), and the values gathered so far. An
/// empty input resolves to `Ok(vec![])`.
///
/// ```
/// ringloop::run(async {
///     let all = ringloop::try_gather_all((1..=3).map(|n| async move { Ok::<_, String>(n * 10) }));
///     assert_eq!(all.await, Ok(vec![10, 20, 30]));
///
///     let failing = ringloop::try_gather_all((1..=3).map(|n| async move {
///         if n == 2 { Err(format!("{n} failed")) } else { Ok(n) }
///     }));
///     assert_eq!(failing.await, Err("2 failed".to_owned()));
/// });
/// ```
pub fn try_gather_all<I, T, E>(futures: I) -> TryGatherAll<<I::Item as IntoFuture>::IntoFuture, T>
where
    I: IntoIterator,
    I::Item: IntoFuture<Output = Result<T, E>>,
{
    TryGatherAll {
        inner: InOrder::new(futures.into_iter().map(IntoFuture::into_future)),
    }
}

/// The future returned by [`try_gather_all`].
#[must_use = "futures do nothing unless awaited"]
pub struct TryGatherAll<F, T> {
    inner: InOrder<F, T>,
}

// The futures are boxed and the values are never pinned.
impl<F, T> Unpin for TryGatherAll<F, T> {}

impl<F, T, E> Future for TryGatherAll<F, T>
where
    F: Future<Output = Result<T, E>>,
{
    type Output = Result<Vec<T>, E>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.inner.poll_collect(cx, |output| match output {
            Ok(value) => ControlFlow::Continue(value),
            Err(error) => ControlFlow::Break(error),
        })
    }
}

impl<F, T> fmt::Debug for TryGatherAll<F, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TryGatherAll").finish_non_exhaustive()
    }
}
