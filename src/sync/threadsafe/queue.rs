//! [`Queue`]: the thread-safe FIFO [`queue::Queue`](crate::queue::Queue), a handle
//! over the shared state of `queue_futures.rs`.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::queue_futures::{Get, Join, Put, Shared};
use super::{block_on, lock};
use crate::queue::{QueueEmpty, QueueFull, QueueShutDown, TaskDoneError, TryGetError, TryPutError};

/// A first-in, first-out queue shared by tasks of any runtime and by plain threads:
/// the thread-safe [`queue::Queue`](crate::queue::Queue), with asyncio's semantics
/// (Python 3.13's `asyncio.Queue`, shutdown included) and the errors of
/// [`queue`](crate::queue).
///
/// `Queue::new(maxsize)` holds at most `maxsize` items (0: no limit). Clones are
/// handles (an `Arc`) to the same queue. [`put`](Queue::put) waits while the queue
/// is full, [`get`](Queue::get) while it is empty; the `_nowait` variants fail
/// instead, and the `_blocking` variants park a plain thread.
/// [`task_done`](Queue::task_done) and [`join`](Queue::join) count the items
/// processed, and [`shutdown`](Queue::shutdown) ends the queue's life.
///
/// **Fairness.** Waiting getters are notified in arrival order, one per item put,
/// whatever thread they wait on, and so are putters waiting on a full queue, one
/// per place freed. As in asyncio (and the local queue, see
/// [its docs](crate::queue#fairness)), the item stays in the queue until the
/// notified getter runs, and a `get_nowait` in between may take it; the getter then
/// waits again at the back of the line.
///
/// **Cancellation.** A `get` dropped before it completes took no item; if it had
/// been notified and an item is there, the next waiting getter is notified. A `put`
/// dropped before it completes did not put its item (dropped with the future), and
/// passes a notification on likewise. A `join` dropped has no effect.
///
/// ```
/// use ringloop::sync::threadsafe::Queue;
///
/// let q = Queue::new(2);
/// let worker = std::thread::spawn({
///     let q = q.clone();
///     move || {
///         let mut sum = 0;
///         while let Ok(job) = q.get_blocking() {
///             sum += job;
///             q.task_done().unwrap();
///         }
///         sum
///     }
/// });
/// ringloop::run(async {
///     for job in 1..=10 {
///         q.put(job).await.unwrap(); // waits while 2 jobs are queued
///     }
///     q.join().await; // every job taken and marked done
///     q.shutdown(false); // the worker's next get fails
/// });
/// assert_eq!(worker.join().unwrap(), 55);
/// ```
pub struct Queue<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Clone for Queue<T> {
    fn clone(&self) -> Self {
        Queue {
            shared: self.shared.clone(),
        }
    }
}

impl<T: Send> Queue<T> {
    /// A FIFO queue holding at most `maxsize` items; 0 means unbounded.
    ///
    /// ```
    /// let q = ringloop::sync::threadsafe::Queue::<u8>::new(0);
    /// assert_eq!((q.maxsize(), q.full()), (0, false));
    /// ```
    pub fn new(maxsize: usize) -> Self {
        Queue {
            shared: Arc::new(Shared::new(maxsize)),
        }
    }

    /// Puts `item` in the queue, waiting while it is full (asyncio's
    /// `await queue.put(item)`); notifies the oldest waiting getter.
    ///
    /// Fails with [`QueueShutDown`] holding the item if the queue is shut down,
    /// before or while waiting.
    ///
    /// Cancel-safe: a put dropped before it completes has not put its item, which is
    /// dropped with the future; if it had been notified of a free place, the
    /// notification passes to the next waiting putter. A completed put has put it.
    ///
    /// ```
    /// let q = ringloop::sync::threadsafe::Queue::new(1);
    /// ringloop::run(async {
    ///     q.put(7).await.unwrap();
    ///     q.shutdown(false);
    ///     assert_eq!(q.put(8).await.unwrap_err().into_inner(), 8);
    /// });
    /// ```
    pub fn put(&self, item: T) -> Put<'_, T> {
        Put::new(&self.shared, item)
    }

    /// Removes and returns an item, waiting while the queue is empty (asyncio's
    /// `await queue.get()`). After [`shutdown`](Queue::shutdown) it still returns
    /// the items left, then fails with [`QueueShutDown`]; a getter waiting at the
    /// shutdown fails at once.
    ///
    /// Cancel-safe: a get dropped before it completes has taken nothing; if it had
    /// been notified, the item stays and the next waiting getter is notified.
    ///
    /// ```
    /// let q = ringloop::sync::threadsafe::Queue::new(0);
    /// let producer = std::thread::spawn({
    ///     let q = q.clone();
    ///     move || q.put_nowait("hello").unwrap()
    /// });
    /// ringloop::run(async { assert_eq!(q.get().await, Ok("hello")) });
    /// producer.join().unwrap();
    /// ```
    pub fn get(&self) -> Get<'_, T> {
        Get::new(&self.shared)
    }

    /// Puts `item` if the queue is not [`full`](Queue::full) (asyncio's
    /// `put_nowait`); otherwise gives it back: [`TryPutError::Full`], or
    /// [`TryPutError::ShutDown`] once shut down.
    ///
    /// ```
    /// use ringloop::queue::{QueueFull, TryPutError};
    /// let q = ringloop::sync::threadsafe::Queue::new(1);
    /// assert_eq!(q.put_nowait(1), Ok(()));
    /// assert_eq!(q.put_nowait(2), Err(TryPutError::Full(QueueFull(2))));
    /// ```
    pub fn put_nowait(&self, item: T) -> Result<(), TryPutError<T>> {
        self.shared.put_nowait(item)
    }

    /// Removes and returns an item if there is one (asyncio's `get_nowait`);
    /// otherwise [`TryGetError::Empty`], or [`TryGetError::ShutDown`] once shut
    /// down and drained. Notifies the oldest waiting putter.
    ///
    /// ```
    /// use ringloop::queue::{QueueEmpty, TryGetError};
    /// let q = ringloop::sync::threadsafe::Queue::new(0);
    /// assert_eq!(q.get_nowait(), Err(TryGetError::Empty(QueueEmpty)));
    /// q.put_nowait('x').unwrap();
    /// assert_eq!(q.get_nowait(), Ok('x'));
    /// ```
    pub fn get_nowait(&self) -> Result<T, TryGetError> {
        self.shared.get_nowait()
    }

    /// [`put`](Queue::put) for a plain thread: parks it while the queue is full
    /// (`queue.Queue.put`). Called from a task, it blocks the task's runtime.
    ///
    /// ```
    /// let q = ringloop::sync::threadsafe::Queue::new(1);
    /// q.put_blocking(1).unwrap();
    /// let getter = std::thread::spawn({
    ///     let q = q.clone();
    ///     move || (q.get_blocking(), q.get_blocking())
    /// });
    /// q.put_blocking(2).unwrap(); // waits for the getter to take 1
    /// assert_eq!(getter.join().unwrap(), (Ok(1), Ok(2)));
    /// ```
    pub fn put_blocking(&self, item: T) -> Result<(), QueueShutDown<T>> {
        block_on(&mut self.put(item), None).expect("no deadline")
    }

    /// [`put_blocking`](Queue::put_blocking) for at most `timeout`; the item comes
    /// back in [`TryPutError::Full`] if no place freed up by then.
    ///
    /// ```
    /// use std::time::Duration;
    /// let q = ringloop::sync::threadsafe::Queue::new(1);
    /// q.put_nowait(1).unwrap();
    /// let e = q.put_blocking_timeout(2, Duration::from_millis(1)).unwrap_err();
    /// assert!(e.is_full());
    /// assert_eq!(e.into_inner(), 2);
    /// ```
    pub fn put_blocking_timeout(&self, item: T, timeout: Duration) -> Result<(), TryPutError<T>> {
        let mut put = self.put(item);
        match block_on(&mut put, Some(Instant::now() + timeout)) {
            Some(done) => done.map_err(TryPutError::ShutDown),
            None => {
                let item = put.cancel().expect("a pending put holds its item");
                Err(TryPutError::Full(QueueFull(item)))
            }
        }
    }

    /// [`get`](Queue::get) for a plain thread: parks it while the queue is empty
    /// (`queue.Queue.get`). Called from a task, it blocks the task's runtime.
    ///
    /// ```
    /// let q = ringloop::sync::threadsafe::Queue::new(0);
    /// let putter = std::thread::spawn({
    ///     let q = q.clone();
    ///     move || ringloop::run(async move { q.put(5).await.unwrap() })
    /// });
    /// assert_eq!(q.get_blocking(), Ok(5));
    /// putter.join().unwrap();
    /// ```
    pub fn get_blocking(&self) -> Result<T, QueueShutDown> {
        block_on(&mut self.get(), None).expect("no deadline")
    }

    /// [`get_blocking`](Queue::get_blocking) for at most `timeout`:
    /// [`TryGetError::Empty`] if no item came by then.
    ///
    /// ```
    /// use std::time::Duration;
    /// let q = ringloop::sync::threadsafe::Queue::<u8>::new(0);
    /// assert!(q.get_blocking_timeout(Duration::from_millis(1)).unwrap_err().is_empty());
    /// ```
    pub fn get_blocking_timeout(&self, timeout: Duration) -> Result<T, TryGetError> {
        match block_on(&mut self.get(), Some(Instant::now() + timeout)) {
            Some(got) => got.map_err(TryGetError::ShutDown),
            None => Err(TryGetError::Empty(QueueEmpty)),
        }
    }

    /// Marks one item taken as processed (asyncio's `task_done()`); when every item
    /// put has been, [`join`](Queue::join)s return. Fails with [`TaskDoneError`]
    /// when called more times than items were put.
    ///
    /// ```
    /// let q = ringloop::sync::threadsafe::Queue::new(0);
    /// q.put_nowait(1).unwrap();
    /// q.get_nowait().unwrap();
    /// assert_eq!(q.task_done(), Ok(()));
    /// assert!(q.task_done().is_err());
    /// ```
    pub fn task_done(&self) -> Result<(), TaskDoneError> {
        self.shared.task_done()
    }

    /// Waits until every item put has been marked done with
    /// [`task_done`](Queue::task_done) (asyncio's `await queue.join()`); at once if
    /// none is unfinished.
    ///
    /// Cancel-safe: dropping the future has no effect but leaving the line.
    ///
    /// ```
    /// let q = ringloop::sync::threadsafe::Queue::new(0);
    /// q.put_nowait(1).unwrap();
    /// let worker = std::thread::spawn({
    ///     let q = q.clone();
    ///     move || { q.get_blocking().unwrap(); q.task_done().unwrap() }
    /// });
    /// ringloop::run(async { q.join().await });
    /// worker.join().unwrap();
    /// ```
    pub fn join(&self) -> Join<'_, T> {
        Join::new(&self.shared)
    }

    /// [`join`](Queue::join) for a plain thread (`queue.Queue.join`).
    ///
    /// ```
    /// let q = ringloop::sync::threadsafe::Queue::<u8>::new(0);
    /// q.join_blocking(); // nothing unfinished
    /// ```
    pub fn join_blocking(&self) {
        block_on(&mut self.join(), None);
    }

    /// [`join_blocking`](Queue::join_blocking) for at most `timeout`; whether every
    /// item was done by then.
    ///
    /// ```
    /// use std::time::Duration;
    /// let q = ringloop::sync::threadsafe::Queue::new(0);
    /// q.put_nowait(1).unwrap();
    /// assert!(!q.join_blocking_timeout(Duration::from_millis(1)));
    /// ```
    pub fn join_blocking_timeout(&self, timeout: Duration) -> bool {
        block_on(&mut self.join(), Some(Instant::now() + timeout)).is_some()
    }

    /// Shuts the queue down (Python 3.13's `shutdown(immediate)`): puts fail from
    /// now on; gets return the items left, then fail. With `immediate`, the items
    /// left are dropped at once, each marked done for [`join`](Queue::join). Every
    /// waiting putter, and every getter with nothing left for it, on every thread,
    /// wakes up and fails.
    ///
    /// ```
    /// let q = ringloop::sync::threadsafe::Queue::new(0);
    /// q.put_nowait(1).unwrap();
    /// q.shutdown(false);
    /// assert_eq!(q.get_blocking(), Ok(1));
    /// assert!(q.get_blocking().is_err());
    /// ```
    pub fn shutdown(&self, immediate: bool) {
        self.shared.shutdown(immediate);
    }
}

impl<T> Queue<T> {
    /// How many items are in the queue.
    ///
    /// ```
    /// let q = ringloop::sync::threadsafe::Queue::new(0);
    /// q.put_nowait(()).unwrap();
    /// assert_eq!(q.qsize(), 1);
    /// ```
    pub fn qsize(&self) -> usize {
        lock(&self.shared.state).items.len()
    }

    /// Whether the queue holds no item.
    ///
    /// ```
    /// assert!(ringloop::sync::threadsafe::Queue::<u8>::new(0).empty());
    /// ```
    pub fn empty(&self) -> bool {
        self.qsize() == 0
    }

    /// Whether the queue holds `maxsize` items (never, when unbounded).
    ///
    /// ```
    /// let q = ringloop::sync::threadsafe::Queue::new(1);
    /// q.put_nowait(0).unwrap();
    /// assert!(q.full());
    /// ```
    pub fn full(&self) -> bool {
        lock(&self.shared.state).full()
    }

    /// The most items the queue holds; 0 when unbounded.
    ///
    /// ```
    /// assert_eq!(ringloop::sync::threadsafe::Queue::<u8>::new(3).maxsize(), 3);
    /// ```
    pub fn maxsize(&self) -> usize {
        lock(&self.shared.state).maxsize
    }

    /// Whether [`shutdown`](Queue::shutdown) was called.
    ///
    /// ```
    /// let q = ringloop::sync::threadsafe::Queue::<u8>::new(0);
    /// q.shutdown(true);
    /// assert!(q.is_shut_down());
    /// ```
    pub fn is_shut_down(&self) -> bool {
        lock(&self.shared.state).shut_down
    }

    /// How many gets, puts and joins hold a place in the queue's lines (waiting, or
    /// notified and not yet polled). For tests: zero once every one of them was
    /// dropped or completed.
    #[doc(hidden)]
    pub fn waiter_count(&self) -> usize {
        let s = lock(&self.shared.state);
        s.getters.registered() + s.putters.registered() + s.joiners.registered()
    }
}

impl<T> fmt::Debug for Queue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = lock(&self.shared.state);
        f.debug_struct("Queue")
            .field("qsize", &s.items.len())
            .field("maxsize", &s.maxsize)
            .field("getters", &s.getters.waiting())
            .field("putters", &s.putters.waiting())
            .field("joiners", &s.joiners.waiting())
            .field("unfinished", &s.unfinished)
            .field("shut_down", &s.shut_down)
            .finish()
    }
}
