//! [`as_completed`]: run futures concurrently and get their outputs as they finish,
//! like `asyncio.as_completed`.
//!
//! The futures run inside the stream, as in [`gather_all`](crate::gather_all): a
//! [`FutureSet`] polls only the futures that were woken, in wake order, so ten
//! thousand futures cost ten thousand polls, not a hundred million. Outputs of
//! futures that finish in the same poll wait in a queue:
//!
//! ```text
//!   poll_next ──▶ queue empty? ── no ──▶ Ready(Some(front of the queue))
//!                      │ yes
//!                      ▼
//!               poll the woken futures, queue what they output
//!                      │
//!                      ▼
//!        queue empty? ── no ──▶ Ready(Some(front))
//!              │ yes
//!              ▼
//!   all finished? ── yes ──▶ Ready(None)   (no ──▶ Pending)
//! ```

use std::collections::VecDeque;
use std::fmt;
use std::future::{Future, IntoFuture};
use std::ops::ControlFlow;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_core::stream::{FusedStream, Stream};

use crate::task::FutureSet;
use crate::time::{Sleep, TimeoutError};

/// Runs every future of `futures` concurrently and yields their outputs in the order
/// they finish, like `asyncio.as_completed(aws)`: a [`Stream`] that ends after the
/// last output.
///
/// The futures run inside the stream (they are not spawned), only while it is
/// polled, so they may borrow from the caller; dropping the stream drops (cancels)
/// the futures that have not finished. [`JoinHandle`](crate::JoinHandle)s work too:
/// the stream then yields `Result<T, JoinError>`s in completion order. Handles given
/// by value are awaited by the stream, so dropping it cancels the unfinished tasks,
/// as dropping any `handle.await` does; pass `handles.iter_mut()` (or
/// [`shield_handle`](crate::shield_handle)s) to keep them running, as asyncio's
/// `as_completed` does, and the handles stay yours.
///
/// Differences from asyncio: the stream yields outputs, not awaitables; the timeout
/// (asyncio's `timeout=`) is set with [`AsCompleted::with_timeout`].
///
/// ```
/// use std::time::Duration;
///
/// async fn after(ms: u64) -> u64 {
///     ringloop::sleep(Duration::from_millis(ms)).await;
///     ms
/// }
///
/// ringloop::run(async {
///     let mut outputs = ringloop::as_completed([after(30), after(10), after(20)]);
///     let mut order = Vec::new();
///     while let Some(ms) = outputs.next().await {
///         order.push(ms);
///     }
///     assert_eq!(order, [10, 20, 30]);
/// });
/// ```
pub fn as_completed<I>(futures: I) -> AsCompleted<<I::Item as IntoFuture>::IntoFuture>
where
    I: IntoIterator,
    I::Item: IntoFuture,
{
    AsCompleted {
        set: FutureSet::new(futures.into_iter().map(IntoFuture::into_future)),
        ready: VecDeque::new(),
    }
}

/// The stream returned by [`as_completed`].
#[must_use = "streams do nothing unless polled"]
pub struct AsCompleted<F: Future> {
    set: FutureSet<F>,
    /// Outputs not yet yielded, in completion order.
    ready: VecDeque<F::Output>,
}

// The futures are boxed and the outputs are never pinned.
impl<F: Future> Unpin for AsCompleted<F> {}

impl<F: Future> AsCompleted<F> {
    /// The next output in completion order, or `None` once every output was yielded:
    /// `StreamExt::next` without the extension trait.
    ///
    /// Cancel-safe: dropping the returned future loses no output (one that is ready
    /// stays queued for the next call) and cancels nothing.
    ///
    /// ```
    /// ringloop::run(async {
    ///     let mut stream = ringloop::as_completed([async { 1 }]);
    ///     assert_eq!(stream.next().await, Some(1));
    ///     assert_eq!(stream.next().await, None);
    /// });
    /// ```
    // Named after `StreamExt::next`, which it stands in for.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> impl Future<Output = Option<F::Output>> + '_ {
        std::future::poll_fn(move |cx| Pin::new(&mut *self).poll_next(cx))
    }

    /// How many outputs are still to come (unfinished futures plus queued outputs).
    ///
    /// ```
    /// let stream = ringloop::as_completed((1..=2).map(|n| async move { n }));
    /// assert_eq!(stream.len(), 2);
    /// ```
    pub fn len(&self) -> usize {
        self.set.remaining() + self.ready.len()
    }

    /// Whether every output has been yielded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bounds the whole stream by `timeout`, like `as_completed(aws, timeout=t)`:
    /// outputs come as `Ok` in completion order until `timeout` has passed (counted
    /// from this call); then the futures that have not finished are dropped, and the
    /// stream yields one `Err(TimeoutError)` for each of them before it ends, as
    /// asyncio raises `TimeoutError` for each remaining awaitable.
    ///
    /// Dropping an unfinished future cancels it: join handles given by value are
    /// cancelled at the timeout (asyncio's tasks run on); pass `handles.iter_mut()` or
    /// [`shield_handle`](crate::shield_handle)s to keep them running.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// async fn after(ms: u64) -> u64 {
    ///     ringloop::sleep(Duration::from_millis(ms)).await;
    ///     ms
    /// }
    ///
    /// ringloop::run(async {
    ///     let futures = [after(3_600_000), after(1), after(3_600_000)];
    ///     let mut outputs = ringloop::as_completed(futures).with_timeout(Duration::from_millis(20));
    ///     assert_eq!(outputs.next().await, Some(Ok(1)));
    ///     assert_eq!(outputs.next().await, Some(Err(ringloop::TimeoutError)));
    ///     assert_eq!(outputs.next().await, Some(Err(ringloop::TimeoutError)));
    ///     assert_eq!(outputs.next().await, None);
    /// });
    /// ```
    pub fn with_timeout(self, timeout: Duration) -> AsCompletedTimeout<F> {
        AsCompletedTimeout {
            inner: self,
            timer: Some(crate::sleep(timeout)),
            timed_out: 0,
        }
    }
}

impl<F: Future> Stream for AsCompleted<F> {
    type Item = F::Output;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<F::Output>> {
        let this = &mut *self;
        if this.ready.is_empty() && this.set.remaining() > 0 {
            let ready = &mut this.ready;
            let _ = this.set.poll_ready(cx, |_, output| {
                ready.push_back(output);
                ControlFlow::<()>::Continue(())
            });
        }
        match this.ready.pop_front() {
            Some(output) => Poll::Ready(Some(output)),
            None if this.set.remaining() == 0 => Poll::Ready(None),
            None => Poll::Pending,
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.len(), Some(self.len()))
    }
}

impl<F: Future> FusedStream for AsCompleted<F> {
    fn is_terminated(&self) -> bool {
        self.is_empty()
    }
}

impl<F: Future> fmt::Debug for AsCompleted<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsCompleted")
            .field("running", &self.set.remaining())
            .field("queued", &self.ready.len())
            .finish()
    }
}

/// The stream of [`AsCompleted::with_timeout`]: outputs as `Ok` in completion order,
/// then, once the timeout has passed, one `Err(TimeoutError)` per future that had
/// not finished (those are dropped at the timeout).
///
/// ```text
///   poll_next ──▶ timer still running? ── no ──▶ timed-out futures left? ── yes ──▶ Err(TimeoutError)
///                        │ yes                             │ no
///                        ▼                                 ▼
///          an output of the inner stream? ── yes ──▶ Ok(output)       None
///                        │ no (pending; None: all done ──▶ None)
///                        ▼
///          timer fired? ── yes ──▶ drop the unfinished futures, count them; go on as "no" above
///                        │ no
///                        ▼
///                     Pending
/// ```
#[must_use = "streams do nothing unless polled"]
pub struct AsCompletedTimeout<F: Future> {
    inner: AsCompleted<F>,
    /// `None` once the timeout passed (or every output was yielded).
    timer: Option<Sleep>,
    /// `Err(TimeoutError)`s still to yield.
    timed_out: usize,
}

impl<F: Future> Unpin for AsCompletedTimeout<F> {}

impl<F: Future> AsCompletedTimeout<F> {
    /// The next output in completion order (`Ok`), an `Err(TimeoutError)` for a
    /// future that did not finish in time, or `None` at the end.
    ///
    /// Cancel-safe, as [`AsCompleted::next`] is.
    // Named after `StreamExt::next`, which it stands in for.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> impl Future<Output = Option<Result<F::Output, TimeoutError>>> + '_ {
        std::future::poll_fn(move |cx| Pin::new(&mut *self).poll_next(cx))
    }

    /// How many items are still to come (outputs and timeouts).
    pub fn len(&self) -> usize {
        self.inner.len() + self.timed_out
    }

    /// Whether every item has been yielded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<F: Future> Stream for AsCompletedTimeout<F> {
    type Item = Result<F::Output, TimeoutError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if let Some(timer) = &mut this.timer {
            match Pin::new(&mut this.inner).poll_next(cx) {
                Poll::Ready(Some(output)) => return Poll::Ready(Some(Ok(output))),
                Poll::Ready(None) => {
                    this.timer = None;
                    return Poll::Ready(None);
                }
                Poll::Pending => {}
            }
            if Pin::new(timer).poll(cx).is_pending() {
                return Poll::Pending;
            }
            this.timer = None;
            // The inner stream was pending, so nothing is queued: every future left
            // is unfinished.
            this.timed_out = this.inner.set.remaining();
            this.inner.set.clear();
        }
        if this.timed_out > 0 {
            this.timed_out -= 1;
            return Poll::Ready(Some(Err(TimeoutError)));
        }
        Poll::Ready(None)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.len(), Some(self.len()))
    }
}

impl<F: Future> FusedStream for AsCompletedTimeout<F> {
    fn is_terminated(&self) -> bool {
        self.is_empty()
    }
}

impl<F: Future> fmt::Debug for AsCompletedTimeout<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsCompletedTimeout")
            .field("inner", &self.inner)
            .field("timed_out", &self.timed_out)
            .finish()
    }
}
