//! `gather!` and [`gather_all`]: run futures concurrently inside the current task and
//! collect their outputs in argument order, like `asyncio.gather`.
//!
//! Unlike asyncio, the futures are not turned into separate tasks: they are polled by
//! the gathering future itself, so they may borrow from the caller, and dropping the
//! gather drops (cancels) all of them.
//!
//! [`JoinHandle`](super::JoinHandle)s can be gathered too (asyncio's
//! `gather(*tasks)`), and then, as in asyncio, cancelling (dropping) the gather
//! cancels the tasks that have not finished: each handle is awaited by value, and
//! dropping that await cancels its task. Gather
//! [`shield_handle`](crate::shield_handle)`(handle)` or `&mut handle` to leave a
//! task running when the gather is dropped.

use std::convert::Infallible;
use std::future::{Future, IntoFuture};
use std::ops::ControlFlow;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::future_set::InOrder;

/// Runs the given futures concurrently and resolves to a tuple of their outputs, in
/// argument order: asyncio's `await gather(a, b, c)` is
/// `ringloop::gather!(a, b, c).await`.
///
/// Each argument may be anything that implements `IntoFuture` (futures, join
/// handles). The arguments are evaluated in order when the macro is evaluated; the
/// futures start running when the result is first awaited. Dropping the gather before
/// it completes drops every unfinished future, which for a join handle given by value
/// cancels its task, as cancelling `asyncio.gather` cancels its children
/// ([`shield_handle`](crate::shield_handle) opts out).
///
/// ```
/// use std::time::Duration;
/// ringloop::run(async {
///     let slow = ringloop::spawn(ringloop::sleep(Duration::from_secs(3600)));
///     let id = slow.id();
///     let gathered = ringloop::gather!(slow, async { 1 });
///     assert!(ringloop::wait_for(Duration::from_millis(5), gathered).await.is_err());
///     ringloop::yield_now().await;
///     assert!(ringloop::all_tasks().iter().all(|t| t.id != id), "the task was cancelled");
/// });
/// ```
///
/// ```
/// use std::time::Duration;
/// async fn add_after(ms: u64, a: u32, b: u32) -> u32 {
///     ringloop::sleep(Duration::from_millis(ms)).await;
///     a + b
/// }
/// ringloop::run(async {
///     let (x, y, z) = ringloop::gather!(add_after(30, 1, 1), add_after(10, 2, 2), async { 9 }).await;
///     assert_eq!((x, y, z), (2, 4, 9));
/// });
/// ```
#[macro_export]
macro_rules! gather {
    ($($fut:expr),+ $(,)?) => {
        $crate::__gather_impl!(
            @acc [$crate::task::poll_gather_slot, ::core::convert::identity] () () $($fut,)+
        )
    };
}

/// Implementation detail of [`gather!`] and `try_gather!`: pairs each future with the
/// list of `_` patterns that skips the tuple fields before it, then builds the future.
///
/// `$poll` polls one slot: it stores the slot's output, or returns `Some(early)` to
/// finish the whole gather at once with `early` (`try_gather!` on an `Err`, which
/// drops the other futures); `$done` wraps the tuple of outputs.
#[doc(hidden)]
#[macro_export]
macro_rules! __gather_impl {
    (@acc [$poll:path, $done:path] ($($skip:tt)*) ($([($($s:tt)*) $f:expr])*) $next:expr, $($rest:expr,)*) => {
        $crate::__gather_impl!(
            @acc [$poll, $done] ($($skip)* _) ($([($($s)*) $f])* [($($skip)*) $next]) $($rest,)*
        )
    };
    (@acc [$poll:path, $done:path] ($($skip:tt)*) ($([($($s:tt)*) $f:expr])*)) => {{
        let futures = ($(::core::future::IntoFuture::into_future($f),)*);
        async move {
            let mut slots = ($(
                (
                    ::core::pin::pin!({
                        let ($($s,)* future, ..) = futures;
                        future
                    }),
                    ::core::option::Option::None,
                ),
            )*);
            ::core::future::poll_fn(|cx| {
                let mut pending = false;
                $(
                    let ($($s,)* (future, output), ..) = &mut slots;
                    if output.is_none() {
                        if let ::core::option::Option::Some(early) =
                            $poll(future.as_mut(), output, cx, &mut pending)
                        {
                            return ::core::task::Poll::Ready(early);
                        }
                    }
                )*
                if pending {
                    return ::core::task::Poll::Pending;
                }
                ::core::task::Poll::Ready($done(($({
                    let ($($s,)* (_, output), ..) = &mut slots;
                    output.take().expect("gather! output taken twice")
                },)*)))
            })
            .await
        }
    }};
}

/// Implementation detail of [`gather!`]: polls one slot, storing its output; never
/// finishes the gather early.
#[doc(hidden)]
pub fn poll_gather_slot<F: Future, R>(
    future: Pin<&mut F>,
    output: &mut Option<F::Output>,
    cx: &mut Context<'_>,
    pending: &mut bool,
) -> Option<R> {
    match future.poll(cx) {
        Poll::Ready(value) => *output = Some(value),
        Poll::Pending => *pending = true,
    }
    None
}

/// Runs every future of `futures` concurrently and resolves to their outputs in input
/// order, like `asyncio.gather(*aws)`.
///
/// A wake-up polls only the futures that were woken (for more than a handful of
/// futures), so gathering ten thousand futures stays linear. Dropping the returned
/// future drops every unfinished one (for join handles: cancels their tasks, see
/// [`gather!`]).
///
/// ```
/// ringloop::run(async {
///     let squares = ringloop::gather_all((1..=4u32).map(|n| async move {
///         ringloop::yield_now().await;
///         n * n
///     }))
///     .await;
///     assert_eq!(squares, [1, 4, 9, 16]);
/// });
/// ```
pub fn gather_all<I>(futures: I) -> GatherAll<<I::Item as IntoFuture>::IntoFuture>
where
    I: IntoIterator,
    I::Item: IntoFuture,
{
    GatherAll {
        inner: InOrder::new(futures.into_iter().map(IntoFuture::into_future)),
    }
}

/// The future returned by [`gather_all`].
#[must_use = "futures do nothing unless awaited"]
pub struct GatherAll<F: Future> {
    inner: InOrder<F, F::Output>,
}

// The futures are boxed and their outputs are never pinned.
impl<F: Future> Unpin for GatherAll<F> {}

impl<F: Future> Future for GatherAll<F> {
    type Output = Vec<F::Output>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.inner
            .poll_collect(cx, ControlFlow::<Infallible, _>::Continue)
            .map(|outputs| outputs.unwrap_or_else(|never| match never {}))
    }
}
