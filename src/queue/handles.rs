//! The three queue types: [`Queue`] (FIFO), [`LifoQueue`] and [`PriorityQueue`].
//!
//! They differ only in their storage (`storage.rs`) and constructor; everything else
//! is the same core, so the methods are written once, in `queue_methods!`, and each
//! type is a cloneable handle (`Rc`) to its shared state.

use std::fmt;
use std::rc::Rc;

use super::core::Shared;
use super::error::{TaskDoneError, TryGetError, TryPutError};
use super::futures::{Get, Join, Put, QueueStream};
use super::storage::Storage;

/// A first-in, first-out queue for tasks of one runtime, like `asyncio.Queue`.
///
/// `Queue::new(maxsize)` makes a queue holding at most `maxsize` items (0: no
/// limit). Clones are handles to the same queue. [`put`](Queue::put) waits while
/// the queue is full, [`get`](Queue::get) while it is empty; the `_nowait` variants
/// fail instead. [`task_done`](Queue::task_done) and [`join`](Queue::join) count the
/// items processed, and [`shutdown`](Queue::shutdown) ends the queue's life.
///
/// Waiting getters are woken in arrival order, and so are putters waiting on a full
/// queue. As in asyncio, another task may take an item between a getter's wake-up
/// and its turn, and the getter then waits again (see the
/// [module docs](super#fairness)).
///
/// ```
/// use ringloop::queue::Queue;
///
/// ringloop::run(async {
///     let q = Queue::new(2);
///     let consumer = ringloop::spawn({
///         let q = q.clone();
///         async move {
///             let mut got = Vec::new();
///             while let Ok(item) = q.get().await {
///                 got.push(item);
///                 q.task_done().unwrap();
///             }
///             got
///         }
///     });
///     for i in 0..5 {
///         q.put(i).await.unwrap(); // waits while 2 items are queued
///     }
///     q.join().await; // every item was taken and marked done
///     q.shutdown(false); // the consumer's next get fails
///     assert_eq!(consumer.await.unwrap(), [0, 1, 2, 3, 4]);
/// });
/// ```
pub struct Queue<T> {
    shared: Rc<Shared<T>>,
}

/// A last-in, first-out queue (a stack), like `asyncio.LifoQueue`: [`get`] takes the
/// most recently put item. Otherwise the same as [`Queue`].
///
/// [`get`]: LifoQueue::get
///
/// ```
/// use ringloop::queue::LifoQueue;
///
/// ringloop::run(async {
///     let q = LifoQueue::new(0);
///     for i in 1..=3 {
///         q.put(i).await.unwrap();
///     }
///     let order: Vec<i32> = (0..3).map(|_| q.get_nowait().unwrap()).collect();
///     assert_eq!(order, [3, 2, 1]);
/// });
/// ```
pub struct LifoQueue<T> {
    shared: Rc<Shared<T>>,
}

/// A queue that hands out its smallest item first, like `asyncio.PriorityQueue`
/// (a min-heap). Otherwise the same as [`Queue`].
///
/// Items that compare equal come out in an unspecified order, as with Python's
/// `heapq`; to keep equal priorities first-in, first-out, queue
/// `(priority, sequence_number, item)` tuples. Use [`std::cmp::Reverse`] to get the
/// largest item first. The items' `Ord` runs while the queue is borrowed: it must
/// not use the queue.
///
/// ```
/// use ringloop::queue::PriorityQueue;
///
/// ringloop::run(async {
///     let q = PriorityQueue::new(0);
///     q.put((2, "write report")).await.unwrap();
///     q.put((1, "fix the build")).await.unwrap();
///     q.put((3, "lunch")).await.unwrap();
///     assert_eq!(q.get().await, Ok((1, "fix the build")));
///     assert_eq!(q.get().await, Ok((2, "write report")));
///     assert_eq!(q.get().await, Ok((3, "lunch")));
/// });
/// ```
pub struct PriorityQueue<T> {
    shared: Rc<Shared<T>>,
}

impl<T> Queue<T> {
    /// A FIFO queue holding at most `maxsize` items; 0 means unbounded.
    ///
    /// ```
    /// let q = ringloop::queue::Queue::<u8>::new(0);
    /// assert_eq!((q.maxsize(), q.full()), (0, false));
    /// ```
    pub fn new(maxsize: usize) -> Self {
        Queue {
            shared: Rc::new(Shared::new(Storage::fifo(), maxsize)),
        }
    }
}

impl<T> LifoQueue<T> {
    /// A LIFO queue holding at most `maxsize` items; 0 means unbounded.
    ///
    /// ```
    /// let q = ringloop::queue::LifoQueue::<u8>::new(3);
    /// assert_eq!(q.maxsize(), 3);
    /// ```
    pub fn new(maxsize: usize) -> Self {
        LifoQueue {
            shared: Rc::new(Shared::new(Storage::lifo(), maxsize)),
        }
    }
}

impl<T: Ord> PriorityQueue<T> {
    /// A priority queue holding at most `maxsize` items; 0 means unbounded.
    ///
    /// ```
    /// let q = ringloop::queue::PriorityQueue::<u8>::new(0);
    /// assert!(q.empty());
    /// ```
    pub fn new(maxsize: usize) -> Self {
        PriorityQueue {
            shared: Rc::new(Shared::new(Storage::priority(), maxsize)),
        }
    }
}

/// The methods the three queue types share.
macro_rules! queue_methods {
    ($name:ident) => {
        impl<T> $name<T> {
            /// Puts `item` in the queue, waiting while the queue is full (asyncio's
            /// `await queue.put(item)`). Putters waiting on a full queue are woken in
            /// arrival order, one per place freed; as in asyncio, one that finds the
            /// place filled again waits again at the back of the line.
            ///
            /// Fails with [`QueueShutDown`](super::QueueShutDown) holding the item if the queue is shut
            /// down, before or while waiting.
            ///
            /// Cancel-safe: a put dropped before it completes has not put its item,
            /// which is dropped with the future; if it had been woken, the wake-up
            /// passes to the next waiting putter. A put that completed has put its
            /// item.
            ///
            /// ```
            #[doc = concat!("let q = ringloop::queue::", stringify!($name), "::new(1);")]
            /// ringloop::run(async {
            ///     q.put(7).await.unwrap();
            ///     assert_eq!(q.qsize(), 1);
            ///     q.shutdown(false);
            ///     assert_eq!(q.put(8).await.unwrap_err().into_inner(), 8);
            /// });
            /// ```
            pub fn put(&self, item: T) -> Put<'_, T> {
                Put::new(&self.shared, item)
            }

            /// Removes and returns an item, waiting while the queue is empty
            /// (asyncio's `await queue.get()`). Waiting getters are woken in arrival
            /// order, one per item put; as in asyncio, one that finds the item
            /// already taken waits again at the back of the line.
            ///
            /// After [`shutdown`](Self::shutdown) it still returns the items left,
            /// then fails with [`QueueShutDown`](super::QueueShutDown); a getter waiting at the shutdown
            /// fails at once.
            ///
            /// Cancel-safe: a get dropped before it completes has taken nothing. If
            /// it had been woken, the item stays in the queue and the wake-up passes
            /// to the next waiting getter.
            ///
            /// ```
            #[doc = concat!("let q = ringloop::queue::", stringify!($name), "::new(0);")]
            /// ringloop::run(async {
            ///     let getter = ringloop::spawn({
            ///         let q = q.clone();
            ///         async move { q.get().await }
            ///     });
            ///     ringloop::yield_now().await; // the getter waits
            ///     q.put("hello").await.unwrap();
            ///     assert_eq!(getter.await.unwrap(), Ok("hello"));
            /// });
            /// ```
            pub fn get(&self) -> Get<'_, T> {
                Get::new(&self.shared)
            }

            /// Puts `item` in the queue if it is not [`full`](Self::full) (asyncio's
            /// `put_nowait`); otherwise gives it back in the error:
            /// [`TryPutError::Full`] if the queue is full, [`TryPutError::ShutDown`]
            /// if it is shut down. Wakes the next waiting getter.
            ///
            /// ```
            /// use ringloop::queue::{QueueFull, TryPutError};
            #[doc = concat!("let q = ringloop::queue::", stringify!($name), "::new(1);")]
            /// assert_eq!(q.put_nowait(1), Ok(()));
            /// assert_eq!(q.put_nowait(2), Err(TryPutError::Full(QueueFull(2))));
            /// ```
            pub fn put_nowait(&self, item: T) -> Result<(), TryPutError<T>> {
                self.shared.put_nowait(item)
            }

            /// Removes and returns an item if the queue holds one (asyncio's
            /// `get_nowait`); otherwise [`TryGetError::Empty`], or
            /// [`TryGetError::ShutDown`] if the queue is shut down. Wakes the next
            /// waiting putter.
            ///
            /// Like asyncio's, it takes the item even if a getter was woken for it
            /// and has not run yet; that getter then waits again.
            ///
            /// ```
            /// use ringloop::queue::{QueueEmpty, TryGetError};
            #[doc = concat!("let q = ringloop::queue::", stringify!($name), "::new(0);")]
            /// assert_eq!(q.get_nowait(), Err(TryGetError::Empty(QueueEmpty)));
            /// q.put_nowait(5).unwrap();
            /// assert_eq!(q.get_nowait(), Ok(5));
            /// ```
            pub fn get_nowait(&self) -> Result<T, TryGetError> {
                self.shared.get_nowait()
            }

            /// Marks one item as processed (asyncio's `task_done`): every `put`
            /// counts one unfinished item, every `task_done` one less, and
            /// [`join`](Self::join) waits for the count to reach zero. Calling it
            /// more times than items were put is an error ([`TaskDoneError`],
            /// asyncio's `ValueError`).
            ///
            /// ```
            #[doc = concat!("let q = ringloop::queue::", stringify!($name), "::new(0);")]
            /// q.put_nowait(1).unwrap();
            /// let _ = q.get_nowait();
            /// assert_eq!(q.task_done(), Ok(()));
            /// assert!(q.task_done().is_err());
            /// ```
            pub fn task_done(&self) -> Result<(), TaskDoneError> {
                self.shared.task_done()
            }

            /// Waits until every item put has been marked done with
            /// [`task_done`](Self::task_done) (asyncio's `await queue.join()`);
            /// returns at once if none is unfinished. A join woken when the count
            /// reached zero returns even if items were put again before it ran.
            ///
            /// [`shutdown(true)`](Self::shutdown) marks the items it removes as done;
            /// items already taken still need their `task_done`.
            ///
            /// Cancel-safe: dropping it has no effect on the queue.
            ///
            /// ```
            #[doc = concat!("let q = ringloop::queue::", stringify!($name), "::new(0);")]
            /// ringloop::run(async {
            ///     q.put(1).await.unwrap();
            ///     let worker = ringloop::spawn({
            ///         let q = q.clone();
            ///         async move {
            ///             let _item = q.get().await.unwrap();
            ///             q.task_done().unwrap();
            ///         }
            ///     });
            ///     q.join().await;
            ///     assert!(worker.is_finished() || q.qsize() == 0);
            /// });
            /// ```
            pub fn join(&self) -> Join<'_, T> {
                Join::new(&self.shared)
            }

            /// The number of items in the queue (asyncio's `qsize()`).
            pub fn qsize(&self) -> usize {
                self.shared.qsize()
            }

            /// Whether the queue holds no item (`qsize() == 0`).
            pub fn empty(&self) -> bool {
                self.qsize() == 0
            }

            /// Whether the queue holds `maxsize` items (never for an unbounded
            /// queue).
            pub fn full(&self) -> bool {
                self.shared.full()
            }

            /// The most items the queue holds; 0 means unbounded.
            pub fn maxsize(&self) -> usize {
                self.shared.maxsize()
            }

            /// Shuts the queue down, with asyncio 3.13's semantics: from now on
            /// `put` and `put_nowait` fail with [`QueueShutDown`](super::QueueShutDown) (giving the item
            /// back), and every putter waiting on a full queue fails at once.
            ///
            /// - `immediate == false`: `get` keeps returning the items left, then
            ///   fails; getters waiting now fail at once (the queue is empty for
            ///   them).
            /// - `immediate == true`: the items left are removed and dropped, each
            ///   counted as done for [`join`](Self::join) (which returns if nothing
            ///   else is unfinished), and every `get` fails from now on.
            ///
            /// Calling it again is allowed (`shutdown(true)` after `shutdown(false)`
            /// drops the items left).
            ///
            /// ```
            /// use ringloop::queue::QueueShutDown;
            #[doc = concat!("let q = ringloop::queue::", stringify!($name), "::new(0);")]
            /// ringloop::run(async {
            ///     q.put(1).await.unwrap();
            ///     q.shutdown(false);
            ///     assert_eq!(q.put(2).await, Err(QueueShutDown(2)));
            ///     assert_eq!(q.get().await, Ok(1)); // drains what is left
            ///     assert_eq!(q.get().await, Err(QueueShutDown(())));
            /// });
            /// ```
            pub fn shutdown(&self, immediate: bool) {
                self.shared.shutdown(immediate)
            }

            /// Whether [`shutdown`](Self::shutdown) was called.
            pub fn is_shut_down(&self) -> bool {
                self.shared.is_shut_down()
            }

            /// How many items were put and not yet marked done with
            /// [`task_done`](Self::task_done) (asyncio's private
            /// `_unfinished_tasks`).
            pub fn unfinished_tasks(&self) -> usize {
                self.shared.unfinished()
            }

            /// The queue's items as a [`Stream`](futures_core::Stream): each is taken
            /// as by [`get`](Self::get), and the stream ends once the queue is shut
            /// down and no item is left for it. It does not call `task_done`.
            ///
            /// ```
            /// use std::future::poll_fn;
            /// use std::pin::Pin;
            /// use futures_core::Stream;
            ///
            #[doc = concat!("let q = ringloop::queue::", stringify!($name), "::new(0);")]
            /// ringloop::run(async {
            ///     q.put(1).await.unwrap();
            ///     q.shutdown(false);
            ///     let mut items = q.stream();
            ///     assert_eq!(poll_fn(|cx| Pin::new(&mut items).poll_next(cx)).await, Some(1));
            ///     assert_eq!(poll_fn(|cx| Pin::new(&mut items).poll_next(cx)).await, None);
            /// });
            /// ```
            pub fn stream(&self) -> QueueStream<T> {
                QueueStream::new(self.shared.clone())
            }
        }

        impl<T> Clone for $name<T> {
            /// Another handle to the same queue.
            fn clone(&self) -> Self {
                $name {
                    shared: self.shared.clone(),
                }
            }
        }

        impl<T> fmt::Debug for $name<T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.shared.fmt_debug(stringify!($name), f)
            }
        }
    };
}

queue_methods!(Queue);
queue_methods!(LifoQueue);
queue_methods!(PriorityQueue);
