//! The futures of `put`, `get` and `join`, and the [`QueueStream`] of `stream()`.
//!
//! Each holds its place in the queue as a [`Wait`](super::core::Wait) and gives it
//! back when dropped (see the diagram in `core.rs`): dropping one at any point loses
//! no item and no wake-up. The futures borrow the queue handle; the stream holds a
//! handle of its own, so it can be moved into a task.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use futures_core::stream::FusedStream;
use futures_core::Stream;

use super::core::{Shared, Wait};
use super::QueueShutDown;

/// The future of `put` (for instance [`Queue::put`](super::Queue::put)).
///
/// # Panics
///
/// If polled again after it completed.
#[must_use = "futures do nothing unless awaited"]
pub struct Put<'a, T> {
    shared: &'a Shared<T>,
    item: Option<T>,
    wait: Wait,
}

/// The future of `get` (for instance [`Queue::get`](super::Queue::get)).
///
/// # Panics
///
/// If polled again after it completed.
#[must_use = "futures do nothing unless awaited"]
pub struct Get<'a, T> {
    shared: &'a Shared<T>,
    wait: Wait,
}

/// The future of `join` (for instance [`Queue::join`](super::Queue::join)).
///
/// # Panics
///
/// If polled again after it completed.
#[must_use = "futures do nothing unless awaited"]
pub struct Join<'a, T> {
    shared: &'a Shared<T>,
    wait: Wait,
}

/// The items of a queue as a [`Stream`], from `stream()` (for instance
/// [`Queue::stream`](super::Queue::stream)).
///
/// Each item is taken as by `get().await`; the stream ends when the queue has been
/// shut down and no item is left for it. It does not call `task_done`. Dropping the
/// stream while it waits is like dropping a pending `get()`: no item is lost. It
/// holds a handle of its own to the queue.
#[must_use = "streams do nothing unless polled"]
pub struct QueueStream<T> {
    shared: Rc<Shared<T>>,
    wait: Wait,
    ended: bool,
}

impl<'a, T> Put<'a, T> {
    pub(crate) fn new(shared: &'a Shared<T>, item: T) -> Self {
        Put {
            shared,
            item: Some(item),
            wait: Wait::Idle,
        }
    }
}

impl<'a, T> Get<'a, T> {
    pub(crate) fn new(shared: &'a Shared<T>) -> Self {
        Get {
            shared,
            wait: Wait::Idle,
        }
    }
}

impl<'a, T> Join<'a, T> {
    pub(crate) fn new(shared: &'a Shared<T>) -> Self {
        Join {
            shared,
            wait: Wait::Idle,
        }
    }
}

impl<T> QueueStream<T> {
    pub(crate) fn new(shared: Rc<Shared<T>>) -> Self {
        QueueStream {
            shared,
            wait: Wait::Idle,
            ended: false,
        }
    }
}

// The item is never pinned: it is moved into the queue or back to the caller.
impl<T> Unpin for Put<'_, T> {}

impl<T> Future for Put<'_, T> {
    type Output = Result<(), QueueShutDown<T>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        this.shared.poll_put(&mut this.item, &mut this.wait, cx)
    }
}

impl<T> Future for Get<'_, T> {
    type Output = Result<T, QueueShutDown>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        this.shared.poll_get(&mut this.wait, cx)
    }
}

impl<T> Future for Join<'_, T> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        this.shared.poll_join(&mut this.wait, cx)
    }
}

impl<T> Stream for QueueStream<T> {
    type Item = T;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let this = self.get_mut();
        if this.ended {
            return Poll::Ready(None);
        }
        match this.shared.poll_get(&mut this.wait, cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Ok(item)) => {
                this.wait = Wait::Idle;
                Poll::Ready(Some(item))
            }
            Poll::Ready(Err(QueueShutDown(()))) => {
                this.ended = true;
                Poll::Ready(None)
            }
        }
    }
}

impl<T> FusedStream for QueueStream<T> {
    fn is_terminated(&self) -> bool {
        self.ended
    }
}

impl<T> Drop for Put<'_, T> {
    fn drop(&mut self) {
        self.shared.drop_put(&mut self.wait);
        // The item, if still here, is dropped with the future, after this.
    }
}

impl<T> Drop for Get<'_, T> {
    fn drop(&mut self) {
        self.shared.drop_get(&mut self.wait);
    }
}

impl<T> Drop for Join<'_, T> {
    fn drop(&mut self) {
        self.shared.drop_join(&mut self.wait);
    }
}

impl<T> Drop for QueueStream<T> {
    fn drop(&mut self) {
        self.shared.drop_get(&mut self.wait);
    }
}

impl<T> fmt::Debug for Put<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Put")
            .field("wait", &self.wait)
            .finish_non_exhaustive()
    }
}

impl<T> fmt::Debug for Get<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Get")
            .field("wait", &self.wait)
            .finish_non_exhaustive()
    }
}

impl<T> fmt::Debug for Join<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Join")
            .field("wait", &self.wait)
            .finish_non_exhaustive()
    }
}

impl<T> fmt::Debug for QueueStream<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QueueStream")
            .field("wait", &self.wait)
            .field("ended", &self.ended)
            .finish_non_exhaustive()
    }
}
