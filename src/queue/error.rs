//! The errors of the queues: asyncio's `QueueFull`, `QueueEmpty` and `QueueShutDown`
//! exceptions and the `ValueError` of `task_done()`, as values.
//!
//! Where asyncio raises one of two exceptions from the same call (`put_nowait` raises
//! `QueueFull` or `QueueShutDown`, `get_nowait` raises `QueueEmpty` or
//! `QueueShutDown`), the Rust call returns an enum of the two, [`TryPutError`] and
//! [`TryGetError`]. Errors of calls that were given an item hand the item back.

use std::fmt;

/// The queue is full: [`put_nowait`](super::Queue::put_nowait) could not add the
/// item, which is given back (asyncio's `QueueFull`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct QueueFull<T>(pub T);

/// The queue is empty: [`get_nowait`](super::Queue::get_nowait) has nothing to give
/// (asyncio's `QueueEmpty`).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct QueueEmpty;

/// The queue was shut down (asyncio's `QueueShutDown`): a put after
/// [`shutdown`](super::Queue::shutdown) gives its item back in `.0`; a get fails with
/// `QueueShutDown<()>` once no item is left for it.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct QueueShutDown<T = ()>(pub T);

/// `task_done()` was called more times than items were put (asyncio's
/// `ValueError('task_done() called too many times')`).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct TaskDoneError;

/// Why [`put_nowait`](super::Queue::put_nowait) failed; either way the item is given
/// back.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum TryPutError<T> {
    /// The queue is full.
    Full(QueueFull<T>),
    /// The queue was shut down.
    ShutDown(QueueShutDown<T>),
}

/// Why [`get_nowait`](super::Queue::get_nowait) failed.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum TryGetError {
    /// No item is available now.
    Empty(QueueEmpty),
    /// The queue was shut down and no item is left.
    ShutDown(QueueShutDown),
}

impl<T> QueueFull<T> {
    /// The item that was not put.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> QueueShutDown<T> {
    /// The item that was not put (`()` for a get).
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> TryPutError<T> {
    /// The item that was not put.
    pub fn into_inner(self) -> T {
        match self {
            TryPutError::Full(QueueFull(item)) | TryPutError::ShutDown(QueueShutDown(item)) => item,
        }
    }

    /// Whether the queue was full (and not shut down).
    pub fn is_full(&self) -> bool {
        matches!(self, TryPutError::Full(_))
    }

    /// Whether the queue was shut down.
    pub fn is_shut_down(&self) -> bool {
        matches!(self, TryPutError::ShutDown(_))
    }
}

impl TryGetError {
    /// Whether the queue was empty (and not shut down).
    pub fn is_empty(&self) -> bool {
        matches!(self, TryGetError::Empty(_))
    }

    /// Whether the queue was shut down and drained.
    pub fn is_shut_down(&self) -> bool {
        matches!(self, TryGetError::ShutDown(_))
    }
}

impl<T> From<QueueFull<T>> for TryPutError<T> {
    fn from(e: QueueFull<T>) -> Self {
        TryPutError::Full(e)
    }
}

impl<T> From<QueueShutDown<T>> for TryPutError<T> {
    fn from(e: QueueShutDown<T>) -> Self {
        TryPutError::ShutDown(e)
    }
}

impl From<QueueEmpty> for TryGetError {
    fn from(e: QueueEmpty) -> Self {
        TryGetError::Empty(e)
    }
}

impl From<QueueShutDown> for TryGetError {
    fn from(e: QueueShutDown) -> Self {
        TryGetError::ShutDown(e)
    }
}

impl<T> fmt::Display for QueueFull<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("queue is full")
    }
}

impl fmt::Display for QueueEmpty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("queue is empty")
    }
}

impl<T> fmt::Display for QueueShutDown<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("queue is shut down")
    }
}

impl fmt::Display for TaskDoneError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("task_done() called too many times")
    }
}

impl<T> fmt::Display for TryPutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryPutError::Full(e) => e.fmt(f),
            TryPutError::ShutDown(e) => e.fmt(f),
        }
    }
}

impl fmt::Display for TryGetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryGetError::Empty(e) => e.fmt(f),
            TryGetError::ShutDown(e) => e.fmt(f),
        }
    }
}

impl<T: fmt::Debug> std::error::Error for QueueFull<T> {}
impl std::error::Error for QueueEmpty {}
impl<T: fmt::Debug> std::error::Error for QueueShutDown<T> {}
impl std::error::Error for TaskDoneError {}
impl<T: fmt::Debug> std::error::Error for TryPutError<T> {}
impl std::error::Error for TryGetError {}
